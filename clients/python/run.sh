#!/usr/bin/env bash
# Generates a Python client from openapi/openapi.json with openapi-python-client (pinned in
# requirements.txt), starts the server on a scratch SQLite database and runs smoke.py with
# the generated client, unmodified, against it.
#
# Usage: clients/python/run.sh [PATH_TO_AFTERCARE_BINARY]   (default: target/debug/aftercare)
# Environment: PYTHON (default python3.11, else python3), OPENAPI_DOC (default openapi/openapi.json).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-$root/target/debug/aftercare}"
doc="${OPENAPI_DOC:-$root/openapi/openapi.json}"
venv="$root/target/python-client-venv"

[[ "$bin" == /* ]] || bin="$PWD/$bin"
[[ "$doc" == /* ]] || doc="$PWD/$doc"
if [[ ! -x "$bin" ]]; then
    echo "run.sh: no server binary at $bin (cargo build first, or pass its path)" >&2
    exit 1
fi

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { printf '== %s\n' "$*"; }

# 1. The generator, in a venv kept under target/ (gitignored) between runs.
if [[ ! -x "$venv/bin/python" ]]; then
    python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
    step "creating $venv with $python"
    "$python" -m venv "$venv"
fi
step "installing $(grep -v '^#' "$here/requirements.txt" | xargs)"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

# 2. The client, generated afresh from the committed document.
step "generating the client from ${doc#"$root"/}"
"$venv/bin/openapi-python-client" generate \
    --path "$doc" \
    --output-path "$tmp/client" \
    --config "$here/generator.yaml" \
    --meta setup \
    --overwrite
# pip always reinstalls a local directory; its dependencies (httpx, attrs, python-dateutil)
# are installed once and then found satisfied.
"$venv/bin/pip" install --quiet --disable-pip-version-check "$tmp/client"

# 3. A server on a free port with a scratch database and an admin.
port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
password="$("$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(18))')"
export DATABASE_URL="sqlite://$tmp/a.db"
export BIND_ADDR="127.0.0.1:$port"
JWT_SECRET="$("$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))')"
export JWT_SECRET
export RUST_LOG="${RUST_LOG:-warn}"

step "creating the admin"
printf '%s\n' "$password" | "$bin" create-admin --email admin@example.com --password-stdin

step "starting $bin on $BIND_ADDR"
"$bin" serve >"$tmp/server.log" 2>&1 &
server_pid=$!
base_url="http://$BIND_ADDR"
healthy=""
for _ in $(seq 1 150); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "run.sh: the server exited during start-up:" >&2
        cat "$tmp/server.log" >&2
        exit 1
    fi
    if "$venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=1)' "$base_url" 2>/dev/null; then
        healthy=yes
        break
    fi
    sleep 0.2
done
if [[ -z "$healthy" ]]; then
    echo "run.sh: GET $base_url/healthz did not answer within 30 s; server log:" >&2
    cat "$tmp/server.log" >&2
    exit 1
fi

# 4. The smoke test.
step "running smoke.py against $base_url"
status=0
AFTERCARE_URL="$base_url" AFTERCARE_EMAIL=admin@example.com AFTERCARE_PASSWORD="$password" \
    "$venv/bin/python" "$here/smoke.py" || status=$?
if [[ $status -ne 0 ]]; then
    echo "run.sh: smoke.py failed ($status); server log:" >&2
    tail -n 50 "$tmp/server.log" >&2
fi
exit "$status"

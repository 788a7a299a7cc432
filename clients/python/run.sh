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
venv="$root/target/python-client-venv"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
client_setup "${1:-}"

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
start_server "sqlite://$tmp/a.db" "$tmp/server.log"

# 4. The smoke test.
step "running smoke.py against $base_url"
status=0
AFTERCARE_URL="$base_url" AFTERCARE_EMAIL=admin@example.com AFTERCARE_PASSWORD="$admin_password" \
    "$venv/bin/python" "$here/smoke.py" || status=$?
if [[ $status -ne 0 ]]; then
    echo "run.sh: smoke.py failed ($status); server log:" >&2
    tail -n 50 "$tmp/server.log" >&2
fi
exit "$status"

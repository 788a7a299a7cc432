# Shared by the client checks (clients/*/run.sh): the server binary and document to use, a
# scratch directory cleaned up on exit, and a fresh server with an admin on a free port.
# Source it after `set -euo pipefail`; the caller may define `on_cleanup` for more clean-up.

clients_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
server_pid=""

step() { printf '== %s\n' "$*"; }

# Sets `bin` (argument 1, default target/debug/aftercare) and `doc` (OPENAPI_DOC, default
# openapi/openapi.json) as absolute paths, and `tmp`, a scratch directory removed on exit.
client_setup() {
    bin="${1:-$clients_root/target/debug/aftercare}"
    doc="${OPENAPI_DOC:-$clients_root/openapi/openapi.json}"
    [[ "$bin" == /* ]] || bin="$PWD/$bin"
    [[ "$doc" == /* ]] || doc="$PWD/$doc"
    if [[ ! -x "$bin" ]]; then
        echo "run.sh: no server binary at $bin (cargo build first, or pass its path)" >&2
        exit 1
    fi
    tmp="$(mktemp -d)"
    trap client_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

stop_server() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}

client_cleanup() {
    stop_server
    if declare -F on_cleanup >/dev/null; then
        on_cleanup
    fi
    rm -rf "$tmp"
}

# A random URL-safe secret of about `$1` bytes.
random_secret() {
    head -c "$1" /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

# Starts `$bin serve` on DATABASE_URL `$1` (log in `$2`) on a free loopback port, with an
# admin (admin@example.com, password in `admin_password`), and waits for /healthz. Sets
# `base_url` and `server_pid`. Extra environment for the server may be exported before.
start_server() {
    local database_url="$1" log="$2" port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    admin_password="$(random_secret 18)"
    export DATABASE_URL="$database_url" BIND_ADDR="127.0.0.1:$port"
    JWT_SECRET="$(random_secret 48)"
    export JWT_SECRET RUST_LOG="${RUST_LOG:-warn}"
    step "creating the admin"
    printf '%s\n' "$admin_password" | "$bin" create-admin --email admin@example.com --password-stdin >/dev/null
    step "starting ${bin#"$clients_root"/} on $BIND_ADDR"
    "$bin" serve >"$log" 2>&1 &
    server_pid=$!
    base_url="http://$BIND_ADDR"
    for _ in $(seq 1 150); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "run.sh: the server exited during start-up:" >&2
            cat "$log" >&2
            return 1
        fi
        if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=1)' "$base_url" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "run.sh: GET $base_url/healthz did not answer within 30 s; server log:" >&2
    cat "$log" >&2
    return 1
}

#!/usr/bin/env bash
# Generates TypeScript types from openapi/openapi.json with openapi-typescript (pinned in
# package.json / package-lock.json), refuses them if an `any` or `unknown` stands where a
# real type should, type-checks smoke.ts strictly (tsc, `strict`, type-level assertions
# that the operations it uses are fully typed), then starts the server on a scratch SQLite
# database and runs the compiled script against it with node.
#
# Usage: clients/typescript/run.sh [PATH_TO_AFTERCARE_BINARY]   (default: target/debug/aftercare)
# Environment: OPENAPI_DOC (default openapi/openapi.json). Needs node and npm (18 or later).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-$root/target/debug/aftercare}"
doc="${OPENAPI_DOC:-$root/openapi/openapi.json}"

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
cd "$here"

# 1. The generator and the compiler, installed exactly as locked into node_modules/
#    (gitignored), again only when the lock file changed.
if ! cmp -s package-lock.json node_modules/.aftercare-installed-lock 2>/dev/null; then
    step "npm ci (openapi-typescript, openapi-fetch, typescript as locked)"
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.aftercare-installed-lock
fi

# 2. The types, generated afresh from the committed document.
step "generating types from ${doc#"$root"/}"
mkdir -p generated
rm -f generated/api.d.ts
node_modules/.bin/openapi-typescript "$doc" --output generated/api.d.ts

# 3. No `any` anywhere, and `unknown` only for the response headers' open index signature
#    (`[name: string]: unknown`, which openapi-typescript adds to every response). Comments
#    are left out first: descriptions may say "any".
loose="$(sed -e 's#/\*\*.*\*/##' -e '/^\s*\/\?\*/d' generated/api.d.ts \
    | grep -nE '\bany\b|\bunknown\b' | grep -vE '^\s*[0-9]+:\s*\[name: string\]: unknown;$' || true)"
if [[ -n "$loose" ]]; then
    echo "run.sh: the generated types have an any or unknown where a real type should be:" >&2
    echo "$loose" >&2
    exit 1
fi

# 4. Strict type-check (and compile to build/): smoke.ts asserts at the type level that
#    the operations it uses are typed all the way down.
step "tsc (strict) smoke.ts"
rm -rf build
node_modules/.bin/tsc -p tsconfig.json

# 5. A server on a free port with a scratch database and an admin.
port="$(node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
password="$(node -e 'console.log(require("crypto").randomBytes(18).toString("base64url"))')"
export DATABASE_URL="sqlite://$tmp/a.db"
export BIND_ADDR="127.0.0.1:$port"
JWT_SECRET="$(node -e 'console.log(require("crypto").randomBytes(48).toString("base64url"))')"
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
    if node -e 'fetch(process.argv[1] + "/healthz").then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$base_url" 2>/dev/null; then
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

# 6. The smoke test.
step "running smoke.ts against $base_url"
status=0
AFTERCARE_URL="$base_url" AFTERCARE_EMAIL=admin@example.com AFTERCARE_PASSWORD="$password" \
    node build/smoke.js || status=$?
if [[ $status -ne 0 ]]; then
    echo "run.sh: smoke.ts failed ($status); server log:" >&2
    tail -n 50 "$tmp/server.log" >&2
fi
exit "$status"

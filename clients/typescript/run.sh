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
# shellcheck source=../lib.sh
source "$here/../lib.sh"
client_setup "${1:-}"
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
start_server "sqlite://$tmp/a.db" "$tmp/server.log"

# 6. The smoke test.
step "running smoke.ts against $base_url"
status=0
AFTERCARE_URL="$base_url" AFTERCARE_EMAIL=admin@example.com AFTERCARE_PASSWORD="$admin_password" \
    node build/smoke.js || status=$?
if [[ $status -ne 0 ]]; then
    echo "run.sh: smoke.ts failed ($status); server log:" >&2
    tail -n 50 "$tmp/server.log" >&2
fi
exit "$status"

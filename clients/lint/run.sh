#!/usr/bin/env bash
# Checks the committed OpenAPI document with two third-party tools, pinned here:
# openapi-spec-validator (PyPI, requirements.txt) and Redocly's linter with its recommended
# rules (npm, package-lock.json). Any error from either fails the run; warnings are shown.
#
# Usage: clients/lint/run.sh   Environment: PYTHON, OPENAPI_DOC (default openapi/openapi.json).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
doc="${OPENAPI_DOC:-$root/openapi/openapi.json}"
[[ "$doc" == /* ]] || doc="$PWD/$doc"
venv="$root/target/openapi-lint-venv"

step() { printf '== %s\n' "$*"; }

if [[ ! -x "$venv/bin/openapi-spec-validator" ]]; then
    python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
    step "creating $venv with $python"
    "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
step "openapi-spec-validator ${doc#"$root"/}"
"$venv/bin/openapi-spec-validator" "$doc"

# npm ci only when the lock file changed since the last install.
stamp="$here/node_modules/.installed-lock"
if [[ ! -f "$stamp" ]] || ! cmp -s "$here/package-lock.json" "$stamp"; then
    step "npm ci (pinned @redocly/cli)"
    (cd "$here" && npm ci --silent --no-audit --no-fund)
    cp "$here/package-lock.json" "$stamp"
fi
step "redocly lint (recommended rules) ${doc#"$root"/}"
(cd "$here" && NO_UPDATE_NOTIFIER=1 REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
    ./node_modules/.bin/redocly lint --config redocly.yaml --format=summary "$doc")

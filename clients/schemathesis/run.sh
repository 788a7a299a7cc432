#!/usr/bin/env bash
# Runs schemathesis (a third-party, schema-driven fuzzer; pinned in requirements.txt) with
# every check against a live server, once on a scratch SQLite file and once on a scratch
# PostgreSQL database, from the committed openapi/openapi.json. Any server error,
# undocumented status, schema, content-type or header mismatch fails the run.
#
# Usage: clients/schemathesis/run.sh [PATH_TO_AFTERCARE_BINARY]   (default: target/debug/aftercare)
# Environment:
#   ST_BACKENDS      backends to run, default "sqlite postgres"
#   ST_MAX_EXAMPLES  test cases per operation and phase, default 25 (a few thousand requests per backend)
#   ST_SEED          the generator's seed (default 11, fixed so CI verdicts reproduce;
#                    `random` explores; the seed is printed, pass it to replay a run)
#   TEST_DATABASE_URL  the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test);
#                    the run creates its own database there and drops it afterwards
#   PYTHON, OPENAPI_DOC as in clients/python/run.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/schemathesis-venv"
backends="${ST_BACKENDS:-sqlite postgres}"
max_examples="${ST_MAX_EXAMPLES:-25}"
pg_server="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
scratch_db=""
drop_scratch_db() {
    if [[ -n "$scratch_db" ]]; then
        psql -q "$pg_server" -c "DROP DATABASE IF EXISTS $scratch_db WITH (FORCE)" >/dev/null 2>&1 || true
        scratch_db=""
    fi
}
on_cleanup() { drop_scratch_db; }
# shellcheck source=../lib.sh
source "$here/../lib.sh"
client_setup "${1:-}"

# Python 3.12 or newer where there is one: on 3.11.7 Hypothesis trips a CPython bug in `ast`
# ("SystemError: AST constructor recursion depth mismatch") during the coverage phase.
pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python3 \
        "$HOME"/.pyenv/versions/3.12*/bin/python3; do
        [[ -n "$candidate" ]] || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$candidate"
            return
        fi
    done
    command -v python3
}
if [[ -x "$venv/bin/python" ]] && ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' \
    && [[ "$(pick_python)" != "$(command -v python3)" ]]; then
    rm -rf "$venv"
fi
if [[ ! -x "$venv/bin/schemathesis" ]]; then
    python="$(pick_python)"
    step "creating $venv with $python"
    "$python" -m venv "$venv"
fi
step "installing $(grep -v '^#' "$here/requirements.txt" | xargs)"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

py() { "$venv/bin/python" "$@"; }
# A fixed seed by default, so that a CI verdict can be reproduced (and does not change from
# run to run); ST_SEED=random explores, ST_SEED=<n> replays a run.
seed="${ST_SEED:-11}"
if [[ "$seed" == random ]]; then
    seed="$(py -c 'import secrets; print(secrets.randbelow(2**63))')"
fi

run_backend() {
    local backend="$1" database_url
    case "$backend" in
    sqlite) database_url="sqlite://$tmp/$backend.db" ;;
    postgres)
        scratch_db="aftercare_st_$$_$RANDOM"
        psql -q "$pg_server" -c "CREATE DATABASE $scratch_db" >/dev/null
        database_url="${pg_server%/*}/$scratch_db"
        ;;
    *)
        echo "run.sh: unknown backend $backend" >&2
        return 1
        ;;
    esac
    # Fuzzed webhook URLs must never be looked up or called: no delivery worker, and the
    # registration check (a DNS lookup of the URL's host) is off.
    export WEBHOOK_WORKER=false WEBHOOK_ALLOW_PRIVATE=true
    start_server "$database_url" "$tmp/$backend-server.log" || return 1
    local token
    token="$(py - "$base_url" "$admin_password" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(
    sys.argv[1] + "/api/v1/auth/login",
    data=json.dumps({"email": "admin@example.com", "password": sys.argv[2]}).encode(),
    headers={"Content-Type": "application/json"},
)
print(json.load(urllib.request.urlopen(request))["access_token"])
PY
)"

    step "$backend: schemathesis, every check, $max_examples cases per operation, seed $seed"
    local status=0
    # Password changes and resets are left out: a fuzzed one would change the admin's own
    # password and revoke the very token the run authenticates with (they have their own
    # API tests, role matrix and throttling tests).
    # One check is left out, `positive_data_acceptance` (a request the schema allows must
    # succeed): the server rightly refuses schema-valid requests for reasons of state that
    # no schema can express (a customer or cursor id that does not exist, an
    # Idempotency-Key already used for another request, `from` after `to`, a ticket whose
    # state does not allow the action). Every other check runs, including the converse
    # `negative_data_rejection` (whatever the schema refuses, the server refuses).
    # And `use_after_free` (a resource answered after its DELETE): in this API a DELETE of a
    # customer archives it and a DELETE of an API key revokes it, and both stay readable on
    # purpose (the file's history, the key's audit); the archive and revocation rules have
    # their own API tests.
    # Run from the scratch directory: schemathesis keeps its example cache in the working
    # directory (.schemathesis/), which has no place in the repository.
    # hooks.py makes each well-formed Idempotency-Key unique, as the document asks of
    # clients (a reused key replays the first response, by design).
    (cd "$tmp" && PYTHONPATH="$here" SCHEMATHESIS_HOOKS=hooks "$venv/bin/schemathesis" run "$doc" \
        --url "$base_url" \
        --header "Authorization: Bearer $token" \
        --checks all \
        --exclude-checks positive_data_acceptance,use_after_free \
        --max-examples "$max_examples" \
        --seed "$seed" \
        --workers 2 \
        --exclude-path /api/v1/auth/password \
        --exclude-path-regex '^/api/v1/users/\{id\}/password$' \
        --no-color \
        --report junit --report-dir "$root/target/schemathesis-report/$backend") \
        || status=$?
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "run.sh: the server died during the run; its log:" >&2
        tail -n 50 "$tmp/$backend-server.log" >&2
        status=1
    fi
    if grep -q 'ERROR aftercare' "$tmp/$backend-server.log"; then
        echo "run.sh: the server logged errors during the run:" >&2
        grep -m 20 'ERROR aftercare' "$tmp/$backend-server.log" >&2
        status=1
    fi
    stop_server
    drop_scratch_db
    return "$status"
}

failed=""
for backend in $backends; do
    run_backend "$backend" || failed="$failed $backend"
done
if [[ -n "$failed" ]]; then
    echo "run.sh: schemathesis found problems on:$failed (seed $seed; reports in target/schemathesis-report/)" >&2
    exit 1
fi
step "schemathesis: no failures on $backends (seed $seed)"

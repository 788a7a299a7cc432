#!/usr/bin/env bash
# Installs moto's server (pinned), the S3-compatible server the attachment tests start on
# 127.0.0.1 (tests/api/moto.rs), into target/moto-venv, once; prints the server's path.
#
# Usage: clients/moto/install.sh        (PYTHON picks the interpreter, default python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/moto-venv"
server="$venv/bin/moto_server"
if [[ ! -x "$server" ]]; then
    "${PYTHON:-python3}" -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
fi
echo "$server"

#!/usr/bin/env bash
# Drives the buyer survey page in headless Chromium (survey.mjs): installs the locked
# playwright-core and axe-core into node_modules/ (gitignored) when the lock changed, then
# runs the script with the environment it was given (SURVEY_URL, EXPIRED_URL,
# SCREENSHOT_DIR, CHROMIUM). Called by tests/processes/survey_browser.rs, which starts the
# server and makes the surveys. Needs node and npm (18 or later) and, once, the npm registry.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
if ! cmp -s package-lock.json node_modules/.aftercare-installed-lock 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error >&2
    cp package-lock.json node_modules/.aftercare-installed-lock
fi
exec node survey.mjs

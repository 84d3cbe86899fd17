#!/usr/bin/env bash
# Installs the npm tools the tests use (OpenAPI linter, playwright-core for
# the dashboard's browser test, which drives Debian's chromium) into tests/node_modules,
# from the versions pinned in tests/package.json / package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/../tests"
if [[ ! -x node_modules/.bin/redocly || ! -f node_modules/playwright-core/package.json ]]; then
	npm ci --no-audit --no-fund --loglevel=error
fi

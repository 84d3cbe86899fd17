#!/usr/bin/env bash
# Installs the npm tools the tests use (OpenAPI linter) into tests/node_modules,
# from the versions pinned in tests/package.json / package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/../tests"
if [[ ! -x node_modules/.bin/redocly ]]; then
	npm ci --no-audit --no-fund --loglevel=error
fi

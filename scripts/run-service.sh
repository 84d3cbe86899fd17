#!/usr/bin/env bash
# README command one: install what is missing, build, and run netprobe on its
# defaults (HTTP on 127.0.0.1:8080, demo listeners on 8888). Extra arguments
# are passed to netprobe (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target netprobe
exec build/netprobe "$@"

#!/usr/bin/env bash
# README command two (and .ci/run): install what is missing (test peers
# included), then build and run the whole suite three ways:
#   1. gcc, -Werror: unit + integration + browser tests
#   2. clang, ASan+UBSan (no recovery): unit + integration + browser tests
#   3. clang libFuzzer: each fuzz target replays its corpus and fuzzes briefly
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/install-node-tools.sh
jobs=$(nproc)
export CTEST_OUTPUT_ON_FAILURE=1

echo "== build 1/3: gcc, warnings as errors"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest -L 'unit|integration|browser' -j"$jobs" --timeout 900)

echo "== build 2/3: clang, ASan + UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang-14 \
	-DNETPROBE_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	NETPROBE_SANITIZED=1 ctest -L 'unit|integration|browser' -j"$jobs" --timeout 900)

echo "== build 3/3: clang libFuzzer"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang-14 \
	-DNETPROBE_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$jobs"
(cd build-fuzz && ctest -L fuzz -j"$jobs" --timeout 300)
echo "== all test builds passed"

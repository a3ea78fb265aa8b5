#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. unit + end-to-end tests (ctest, Release build)
#   2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. the unit tests under ThreadSanitizer
#   4. the benchmark in smoke mode (so it never rots; no timing is asserted)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
JOBS=$(nproc)

echo "== sanitizers: unit tests under ASan + UBSan"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON -DFERRY_BENCH=OFF >/dev/null
cmake --build build-asan --target ferry_unit_tests no_io_uring ferry
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$JOBS"

echo "== ThreadSanitizer: unit tests (the pipeline is multi-threaded)"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFERRY_BENCH=OFF \
  -DCMAKE_CXX_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build build-tsan --target ferry_unit_tests
TSAN_OPTIONS=halt_on_error=1 build-tsan/ferry_unit_tests --gtest_brief=1

echo "== benchmark smoke run"
build/ferry_bench --smoke

echo "== unit + end-to-end tests"
ctest --test-dir build --output-on-failure

#!/usr/bin/env bash
# Builds and runs the manifest decoder fuzzer (libFuzzer + ASan + UBSan) for
# SECONDS (default 30), starting from the golden manifests.
# usage: tests/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${1:-30}
OUT=${FUZZ_BUILD_DIR:-build-fuzz}
mkdir -p "$OUT/corpus"
cp tests/golden/*.bin tests/fuzz/regressions/*.bin "$OUT/corpus/" 2>/dev/null || true
clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
  tests/fuzz/manifest_fuzz.cc manifest/manifest.cc util/coding.cc util/status.cc util/hex.cc \
  manifest/chunking.cc crypto/hash.cc -lcrypto -lxxhash -o "$OUT/manifest_fuzz"
"$OUT/manifest_fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -print_final_stats=1 \
  -artifact_prefix="$OUT/" "$OUT/corpus" 2>&1 | tail -n 12

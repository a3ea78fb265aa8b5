#!/usr/bin/env bash
# Micro-benchmarks (Google Benchmark, build/ferry_micro) next to the machine's
# own SHA-256 limit from `openssl speed -evp sha256`, measured in the same run.
# Every result is printed in MB/s and as a ratio of that 1-core limit.
#
#   bench/micro.sh [--smoke] [--json FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0
JSON_OUT=micro-results.json
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1 ;;
    --json) JSON_OUT=$2; shift ;;
    *) echo "usage: bench/micro.sh [--smoke] [--json FILE]" >&2; exit 2 ;;
  esac
  shift
done
[ -x build/ferry_micro ] || bash tools/setup.sh
SECS=$([ "$SMOKE" = 1 ] && echo 1 || echo 3)
MIN_TIME=$([ "$SMOKE" = 1 ] && echo 0.02 || echo 0.5)
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-micro-XXXXXX")
trap 'rm -rf "$W"' EXIT

# openssl speed prints thousands of bytes per second for 16 KiB blocks.
speed() { openssl speed "$@" -evp sha256 -bytes 16384 -seconds "$SECS" 2>/dev/null | awk '/^sha256 / { sub("k", "", $2); printf "%.0f\n", $2 * 1000 }'; }
SHA1=$(speed)
SHAN=$(speed -multi "$(nproc)")
TMPDIR=$W build/ferry_micro --benchmark_min_time="$MIN_TIME" --benchmark_format=json \
  --benchmark_out="$W/micro.json" --benchmark_out_format=json >/dev/null

echo "Micro-benchmarks ($(nproc) cores); limit = openssl speed -evp sha256, 16 KiB blocks"
printf "  %-28s %12.0f MB/s\n" "SHA-256 limit, 1 core" "$(echo "$SHA1 / 1000000" | bc -l)"
printf "  %-28s %12.0f MB/s\n" "SHA-256 limit, $(nproc) cores" "$(echo "$SHAN / 1000000" | bc -l)"
jq -r --argjson lim "$SHA1" '.benchmarks[] | [.name, .bytes_per_second / 1e6, .bytes_per_second / $lim,
    (if .ratio then "zstd ratio \(.ratio * 100 | round / 100)" else "" end)] | @tsv' "$W/micro.json" |
  awk -F'\t' 'BEGIN { printf "  %-28s %12s %18s\n", "benchmark (1 core)", "MB/s", "x SHA-256 limit" }
              { printf "  %-28s %12.0f %18.2f  %s\n", $1, $2, $3, $4 }'
jq --argjson sha1 "$SHA1" --argjson shan "$SHAN" --argjson cores "$(nproc)" \
  '{openssl_sha256_1core_Bps: $sha1, openssl_sha256_allcores_Bps: $shan, cores: $cores,
    benchmarks: [.benchmarks[] | {name, bytes_per_second, ratio_vs_sha256_limit: (.bytes_per_second / $sha1)}
                 + (if .ratio then {zstd_ratio: .ratio} else {} end)]}' "$W/micro.json" >"$JSON_OUT"
echo "JSON: $JSON_OUT"

#!/usr/bin/env bash
# Upload benchmark: Ferry (mirror layout) vs `aws s3 cp --recursive` vs
# `rclone copy`, the same tree into the same local Ceph RGW, in one run.
# Reports wall seconds, client CPU seconds per GB and peak RSS for each, and
# each peer's ratio to Ferry.
#
#   bench/upload_bench.sh [DIR]     (default: the shared npm corpus v1 if cached,
#                                    else 512 MiB of generated files)
# Starts its own RGW (tests/s3/start-rgw.sh) and stops it by PID. Needs build/ferry.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:-}
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-upload-bench-XXXXXX")
RGW_DIR=$W/rgw
trap 'bash tests/s3/stop-rgw.sh "$RGW_DIR" --purge >/dev/null 2>&1; rm -rf "$W"' EXIT

for p in awscli rclone bc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done
if [ -z "$SRC" ]; then
  if [ -d "$HOME/.cache/ferry-corpus/v1" ]; then
    SRC=$HOME/.cache/ferry-corpus/v1
  else
    SRC=$W/data
    mkdir -p "$SRC/big" "$SRC/small"
    for i in 1 2 3; do head -c $((128 << 20)) /dev/urandom >"$SRC/big/artifact$i.bin"; done
    for i in $(seq 1 2000); do head -c $((RANDOM % 60000 + 1000)) /dev/urandom >"$SRC/small/f$i"; done
  fi
fi
BYTES=$(du -sb "$SRC" | cut -f1)
FILES=$(find "$SRC" -type f | wc -l)

bash tests/s3/start-rgw.sh $((20000 + RANDOM % 20000)) "$RGW_DIR" >/dev/null
# shellcheck disable=SC1091
. "$RGW_DIR/s3.env"
export AWS_ENDPOINT_URL=$S3_ENDPOINT
AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT")
"${AWS[@]}" s3 mb s3://bench >/dev/null
find "$SRC" -type f -exec cat {} + >/dev/null  # warm the page cache for everyone

run() {  # run NAME CMD... -> "NAME wall cpu rss_kib"
  local name=$1 wall user sys rss; shift
  /usr/bin/time -f "%e %U %S %M" -o "$W/time" "$@" >/dev/null 2>"$W/$name.err" || {
    echo "$name failed: $(tail -3 "$W/$name.err")" >&2; return 1; }
  read -r wall user sys rss <"$W/time"
  echo "$name $wall $(echo "$user + $sys" | bc) $rss"
}
export RCLONE_CONFIG_RGW_TYPE=s3 RCLONE_CONFIG_RGW_PROVIDER=Ceph RCLONE_CONFIG_RGW_ENDPOINT=$S3_ENDPOINT \
  RCLONE_CONFIG_RGW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
# A fresh RGW is slow for its first writes: warm it up, unmeasured.
env -u AWS_CA_BUNDLE rclone copy "$SRC" rgw:bench/warmup/ >/dev/null 2>&1
ROUNDS=${ROUNDS:-3}
for r in $(seq 1 "$ROUNDS"); do  # rotate the order each round; every upload goes to a new prefix
  {
    run ferry build/ferry push "$SRC" --to "s3://bench/ferry$r/" --no-progress
    run aws "${AWS[@]}" s3 cp --recursive --quiet "$SRC" "s3://bench/aws$r/"
    run rclone env -u AWS_CA_BUNDLE rclone copy "$SRC" "rgw:bench/rclone$r/"
  } >>"$W/all"
done
# The median round of each tool (by wall time).
for t in ferry aws rclone; do
  grep "^$t " "$W/all" | sort -k2 -n | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2)'
done >"$W/results"

echo "upload of $SRC: $FILES files, $BYTES bytes, into Ceph RGW on 127.0.0.1 ($(nproc) cores, shared with RGW); median of $ROUNDS rounds"
awk -v bytes="$BYTES" '
  { name[NR]=$1; wall[NR]=$2; cpu[NR]=$3; rss[NR]=$4 }
  END {
    printf "%-8s %9s %10s %12s %10s %12s %12s\n", "tool", "wall s", "MB/s", "CPU-s/GB", "RSS MiB", "wall/ferry", "CPU/ferry"
    for (i = 1; i <= NR; i++)
      printf "%-8s %9.2f %10.0f %12.2f %10.0f %12.2f %12.2f\n", name[i], wall[i], bytes / wall[i] / 1e6,
             cpu[i] / (bytes / 1e9), rss[i] / 1024, wall[i] / wall[1], cpu[i] / cpu[1]
  }' "$W/results" | tee "$W/table"
awk -v bytes="$BYTES" -v files="$FILES" 'BEGIN { printf "{\"bytes\":%s,\"files\":%s,\"results\":[", bytes, files }
  { printf "%s{\"tool\":\"%s\",\"wall_s\":%s,\"cpu_s\":%s,\"peak_rss_kib\":%s}", (NR > 1 ? "," : ""), $1, $2, $3, $4 }
  END { print "]}" }' "$W/results" >"${UPLOAD_BENCH_JSON:-upload-bench.json}"
echo "JSON: ${UPLOAD_BENCH_JSON:-upload-bench.json}"

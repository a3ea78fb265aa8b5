#!/usr/bin/env bash
# ferry audit and ferry drill on real artifacts, against rclone on the same
# data in the same run: bench/audit_bench.sh [DATA_DIR] [--smoke]
#
# DATA_DIR/vN are builds (default: the npm corpus in ~/.cache/ferry-corpus,
# shared/bench/make-corpus.sh); the largest build is used. Needs S3_ENDPOINT
# and keys (tools/test.sh's RGW, or `bash tests/s3/start-rgw.sh`). Measures:
#   audit, S3 primary vs S3 DR (both filled by aws s3 sync): ferry audit --source s3://
#     vs rclone check --download
#   audit, local source vs S3 DR: ferry audit --source DIR vs rclone check --download DIR
#   drill: ferry drill of that build from an RGW mirror (restore + read-back check), RTO
# Prints wall s, MB/s (source bytes), CPU-s/GB and peak RSS; no assertions.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-$HOME/.cache/ferry-corpus}
[ -n "${S3_ENDPOINT:-}" ] || { echo "audit_bench: needs S3_ENDPOINT and keys" >&2; exit 2; }
command -v rclone >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null
FERRY=$PWD/build/ferry
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-audit-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT
export AWS_ENDPOINT_URL=$S3_ENDPOINT FERRY_CACHE_DIR=$W/cache TMPDIR=$W
AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT")
export RCLONE_CONFIG_RGW_TYPE=s3 RCLONE_CONFIG_RGW_PROVIDER=Ceph RCLONE_CONFIG_RGW_ENDPOINT=$S3_ENDPOINT \
  RCLONE_CONFIG_RGW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
BUILD=$(for v in "$DATA"/v*; do echo "$(du -sb "$v" | cut -f1) $v"; done | sort -n | tail -1 | cut -d' ' -f2)
BYTES=$(du -sb "$BUILD" | cut -f1)
FILES=$(find "$BUILD" -type f | wc -l)
B=ferry-audit-bench-$RANDOM
"${AWS[@]}" s3 mb "s3://$B-p" >/dev/null
"${AWS[@]}" s3 mb "s3://$B-d" >/dev/null
"${AWS[@]}" s3 sync --quiet "$BUILD" "s3://$B-p/app/"
"${AWS[@]}" s3 sync --quiet "$BUILD" "s3://$B-d/app/"
"$FERRY" push "$BUILD" --to "s3://$B-d/ferry/" --ref app/main -q
find "$BUILD" -type f -exec cat {} + >/dev/null  # warm the page cache for every tool

echo "data: $BUILD, $FILES files, $BYTES bytes; RGW at $S3_ENDPOINT on this machine"
printf '%-52s %8s %8s %9s %8s\n' scenario "wall s" "MB/s" "CPU-s/GB" "RSS MiB"
timed() {
  local name=$1; shift
  sync
  /usr/bin/time -f "%e %U %S %M" -o "$W/t" "$@" >"$W/out" 2>"$W/err" || {
    local rc=$?
    # audit and rclone check exit non-zero on differences; there are none here
    echo "$name failed ($rc): $(tail -2 "$W/err")" >&2
    return 1
  }
  read -r wall user sys rss <"$W/t"
  awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$BYTES" \
    'BEGIN { printf "%-52s %8.2f %8.0f %9.2f %8.0f\n", n, w, b / w / 1e6, (u + s) / (b / 1e9), r / 1024 }'
}
timed "audit S3 vs S3: ferry audit --source s3://" "$FERRY" audit --source "s3://$B-p/app/" --against "s3://$B-d/app/"
timed "audit S3 vs S3: rclone check --download" env -u AWS_CA_BUNDLE rclone check --download "rgw:$B-p/app/" "rgw:$B-d/app/"
timed "audit dir vs S3: ferry audit --source DIR" "$FERRY" audit --source "$BUILD" --against "s3://$B-d/app/"
timed "audit dir vs S3: rclone check --download" env -u AWS_CA_BUNDLE rclone check --download "$BUILD" "rgw:$B-d/app/"
timed "drill from an RGW mirror (restore + check): ferry" "$FERRY" drill app/main --from "s3://$B-d/ferry/" --json
echo "drill RTO (restore + read-back check of every file): $(jq -r .rto.achieved_seconds "$W/out") s, status $(jq -r .status "$W/out")"
"${AWS[@]}" s3 rb --force "s3://$B-p" >/dev/null 2>&1
"${AWS[@]}" s3 rb --force "s3://$B-d" >/dev/null 2>&1

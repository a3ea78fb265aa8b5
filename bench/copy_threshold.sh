#!/usr/bin/env bash
# Where a server-side copy starts to pay on this S3 endpoint: for each size,
# N files are pushed to a mirror, renamed (moved into another directory) and
# pushed again, once with --server-copy always (CopyObject each) and once with
# --server-copy never (sent again). Prints the wall of the second push.
#   bash bench/copy_threshold.sh [N] [SIZES...]    (needs S3_ENDPOINT and keys)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}; shift || true
SIZES=${*:-4096 65536 262144 1048576 4194304}
export AWS_ENDPOINT_URL=$S3_ENDPOINT
B=copy-bench-$RANDOM
aws --endpoint-url "$S3_ENDPOINT" s3 mb "s3://$B" >/dev/null
W=$(mktemp -d)
trap 'rm -rf "$W"; aws --endpoint-url "$S3_ENDPOINT" s3 rb --force "s3://$B" >/dev/null 2>&1 || true' EXIT
printf "%10s %6s %12s %12s %8s\n" size files "copy s" "send s" "send/copy"
for s in $SIZES; do
  for mode in always never; do
    rm -rf "$W/src" && mkdir -p "$W/src/a"
    for i in $(seq 1 "$N"); do head -c "$s" /dev/urandom >"$W/src/a/f$i"; done
    build/ferry push "$W/src" --to "s3://$B/$s-$mode/" --ref r --no-progress >/dev/null 2>&1
    mv "$W/src/a" "$W/src/b"
    start=$(date +%s.%N)
    build/ferry push "$W/src" --to "s3://$B/$s-$mode/" --ref r --no-progress --server-copy "$mode" --json >"$W/out" 2>/dev/null
    end=$(date +%s.%N)
    eval "t_$mode=$(echo "$end - $start" | bc)"
    [ "$mode" = always ] && test "$(jq .objects_copied "$W/out")" = "$N"
    [ "$mode" = never ] && test "$(jq .objects_copied "$W/out")" = 0
  done
  printf "%10d %6d %12.2f %12.2f %8.2f\n" "$s" "$N" "$t_always" "$t_never" "$(echo "$t_never / $t_always" | bc -l)"
done

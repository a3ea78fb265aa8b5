#!/usr/bin/env bash
# A small, bounded fault campaign (issue 8's "Done means"), in the test command
# so these faults never come back:
#   1. kill -9 of a push to the local store at random moments: the store always
#      verifies, a re-run completes, the restore is byte-identical;
#   2. pushes, verifies and restores through a proxy that injects 503s,
#      connection resets, truncated answers and flipped bytes (tests/fault_proxy.py)
#      into the test RGW, mirror and store layouts: whatever exits 0 is true
#      (checked without faults), nothing a push reported is ever lost, and a
#      verify or restore that exits 0 never passed wrong bytes.
# Crafted manifests are the fuzzer's part (tests/fuzz). Seeded: FERRY_FAULT_SEED.
# usage: fault_campaign.sh PATH/TO/ferry (the S3 half needs S3_ENDPOINT, else it is skipped)
set -uo pipefail
FERRY=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-faults-XXXXXX")
PROXY_PID=
trap '[ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null; rm -rf "$W"' EXIT
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
export FERRY_CACHE_DIR=$W/cache
SEED=${FERRY_FAULT_SEED:-$RANDOM}
RANDOM=$SEED
echo "# seed $SEED (FERRY_FAULT_SEED=$SEED reproduces the run)"

# mutate DIR: changes a few files of a build tree the way successive builds do.
mutate() {
  local d=$1 i
  mkdir -p "$d/lib"
  for i in $(seq 1 5); do echo "module $((RANDOM % 40)) $RANDOM" >"$d/lib/m$((RANDOM % 40)).js"; done
  [ -f "$d/app.bin" ] || head -c $((12 << 20)) /dev/urandom >"$d/app.bin"
  printf '%08d' $RANDOM | dd of="$d/app.bin" bs=1 seek=$((RANDOM * 300)) conv=notrunc status=none
}

echo "# kill -9 at random moments (local store)"
SRC=$W/src
mutate "$SRC"
head -c $((150 << 20)) /dev/urandom >"$SRC/big.bin"
STORE=$W/store
"$FERRY" push "$SRC" --to "$STORE" --ref camp/main -q
for round in $(seq 1 6); do
  mutate "$SRC"
  printf '%08d' $RANDOM | dd of="$SRC/big.bin" bs=1 seek=$((RANDOM * 4000)) conv=notrunc status=none
  "$FERRY" push "$SRC" --to "$STORE" --ref camp/main --rehash --compression 1 --no-progress >/dev/null 2>&1 &
  PID=$!
  sleep "0.$((RANDOM % 9))$((RANDOM % 10))"
  kill -9 $PID 2>/dev/null
  wait $PID 2>/dev/null
  expect_exit "round $round: the store verifies after kill -9" 0 "$FERRY" verify --store "$STORE" --all -q
done
expect_exit "a re-run completes" 0 "$FERRY" push "$SRC" --to "$STORE" --ref camp/main
expect_exit "and restores" 0 "$FERRY" restore camp/main --from "$STORE" --to "$W/restored" -q
check "  ... byte-identical" diff -r "$SRC" "$W/restored"
rm -rf "$SRC/big.bin" "$W/restored"

if [ -z "${S3_ENDPOINT:-}" ]; then
  echo "# S3 half skipped: S3_ENDPOINT is not set (tools/test.sh sets it)"
  finish fault-campaign
  exit
fi
export AWS_ENDPOINT_URL=$S3_ENDPOINT
AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT")
B=ferry-faults-$RANDOM$RANDOM
"${AWS[@]}" s3 mb "s3://$B" >/dev/null || { echo "cannot create bucket"; exit 1; }
"${AWS[@]}" s3api put-bucket-versioning --bucket "$B" --versioning-configuration Status=Enabled
PORT=$((20000 + RANDOM % 20000))
python3 "$HERE/fault_proxy.py" "$PORT" "$S3_ENDPOINT" 0.08 "$SEED" 2>"$W/proxy.log" &
PROXY_PID=$!
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
FAULTY=(--endpoint-url "http://127.0.0.1:$PORT")

echo "# pushes, verifies and restores through injected faults (S3, 8% of requests)"
declare -A GOOD  # ref -> the snapshot of the last build a push reported
ok_pushes=0 failed_pushes=0
for round in $(seq 1 8); do
  mutate "$SRC"
  for layout in mirror store; do
    ref=camp/$layout
    url=s3://$B/$layout/
    "$FERRY" "${FAULTY[@]}" push "$SRC" --to "$url" --layout "$layout" --ref "$ref" --no-progress --json >"$W/push.json" 2>"$W/push.err"
    rc=$?
    if [ $rc = 0 ]; then
      ok_pushes=$((ok_pushes + 1))
      rm -rf "$W/good-$layout" && cp -r "$SRC" "$W/good-$layout"
      GOOD[$ref]=$(jq -r .manifest "$W/push.json")
    else
      failed_pushes=$((failed_pushes + 1))
      echo "# round $round $layout: push exit $rc: $(grep error "$W/push.err" | head -1 | cut -c1-250)"
      case $rc in 4 | 5 | 8 | 11 | 14) ;; *) bad "round $round $layout: push failed with exit $rc: $(head -c 300 "$W/push.err")" ;; esac
    fi
    [ -n "${GOOD[$ref]:-}" ] || continue
    # Without faults: everything recorded is whole, and the ref names the last reported build.
    expect_exit "round $round $layout: verify --all without faults (push exit $rc)" 0 "$FERRY" verify --store "$url" --all -q
    expect_exit "  ... the ref restores" 0 "$FERRY" restore "$ref" --from "$url" --to "$W/r" -q --delete
    check "  ... to the last build a push reported" diff -r "$W/good-$layout" "$W/r"
    # Through faults: an exit 0 is never a lie.
    "$FERRY" "${FAULTY[@]}" restore "$ref" --from "$url" --to "$W/rf" -q --delete >/dev/null 2>&1
    rc=$?
    if [ $rc = 0 ]; then check "  ... a restore through faults that exits 0 wrote the right bytes" diff -r "$W/good-$layout" "$W/rf"; fi
    "$FERRY" "${FAULTY[@]}" verify --store "$url" --ref "$ref" -q >/dev/null 2>&1
    vrc=$?
    case $vrc in 0 | 4 | 5 | 8) ok "  ... verify through faults: exit $vrc" ;; *) bad "  ... verify through faults: exit $vrc" ;; esac
  done
done
kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
PROXY_PID=
echo "# $(cat "$W/proxy.log"); pushes: $ok_pushes exited 0, $failed_pushes failed"
check "the proxy injected faults and some pushes still got through" test "$ok_pushes" -gt 0 -a -n "$(grep -E '(503|reset|truncate|flip)=' "$W/proxy.log")"
finish fault-campaign

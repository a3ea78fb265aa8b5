#!/usr/bin/env bash
# End-to-end tests of `ferry daemon`: a watched directory replicated to a
# local store and, when S3_ENDPOINT is set (tools/test.sh starts RGW), to an
# S3 mirror through a proxy that the test stops and starts (destination down).
# usage: e2e_daemon.sh PATH/TO/ferry
set -uo pipefail
FERRY=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-daemon-XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"

# start_daemon NAME ARGS...: runs the daemon in the background; sets PID, PORT.
start_daemon() {
  local name=$1; shift
  "$FERRY" daemon --listen 127.0.0.1:0 --json --settle 1s --interval 1s "$@" >"$W/$name.out" 2>"$W/$name.err" &
  PID=$!
  PIDS+=("$PID")
  wait_ready "$W/$name.out" "$PID"
}
# health: sets CODE and writes the body to $W/health.json.
health() { CODE=$(curl -s -o "$W/health.json" -w '%{http_code}' "http://127.0.0.1:$PORT/health"); }
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {print $2; exit}'; }
# caught_up SECONDS: waits until nothing is pending and /health says 200.
caught_up() {
  for _ in $(seq 1 $(($1 * 5))); do
    health
    [ "$CODE" = 200 ] && [ "$(jq -r .pending "$W/health.json")" = 0 ] && return 0
    sleep 0.2
  done
  return 1
}
# stops_with SIGNAL CODE: sends it, waits up to 10 s, checks the exit status.
stops_with() {
  kill -"$1" "$PID"
  for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  wait "$PID"
  test "$?" = "$2"
}
same_tree() { diff -r "$1" "$2" >/dev/null; }

echo "# bad input is refused before anything starts"
mkdir -p "$W/src"
expect_exit "no --watch" 2 "$FERRY" daemon --to "$W/store" --ref ci/a --state "$W/state"
expect_exit "a --watch that does not exist" 3 "$FERRY" daemon --watch "$W/none" --to "$W/store" --ref ci/a --state "$W/state" --listen 127.0.0.1:0
expect_exit "a bad duration" 2 "$FERRY" daemon --watch "$W/src" --to "$W/store" --ref ci/a --state "$W/state" --settle soon
expect_exit "a bad ref name" 2 "$FERRY" daemon --watch "$W/src" --to "$W/store" --ref "a..b" --state "$W/state"
echo x >"$W/state-file"
expect_exit "a state directory that cannot be made" 13 "$FERRY" daemon --watch "$W/src" --to "$W/store" --ref ci/a --state "$W/state-file/sub" --listen 127.0.0.1:0
check "  ... the error names the state directory" grep -q "state-file" "$W/err"
expect_exit "--help" 0 "$FERRY" daemon --help
check "  ... lists --watch, --rpo and --listen" grep -q -- "--rpo" "$W/out"

echo "# a watched directory is replicated to a local store"
echo "v1" >"$W/src/a.txt"
check "the daemon starts and serves /health" start_daemon d1 --watch "$W/src" --to "$W/store" --ref ci/art --state "$W/state"
check "  ... and binds 127.0.0.1 only" grep -q '"port"' "$W/d1.out"
check "  ... catches up with what the tree held at start" caught_up 20
check "  ... /health/live answers 200" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health/live")" = 200
mkdir -p "$W/src/lib/deep"
head -c $((3 << 20)) /dev/urandom >"$W/src/lib/deep/big.bin"
for i in $(seq 1 20); do echo "file $i" >"$W/src/lib/f$i.txt"; done
ln -s lib/f1.txt "$W/src/link"
check "new files, a new nested directory and a symlink are replicated" caught_up 20
check "  ... lag back to 0 in /metrics" test "$(metric ferry_replication_lag_seconds)" = 0
check "  ... nothing pending in /metrics" test "$(metric ferry_pending_objects)" = 0
check "  ... builds counted" test "$(metric ferry_builds_recorded_total)" -ge 2
expect_exit "  ... the ref verifies" 0 "$FERRY" verify --store "$W/store" --ref ci/art
expect_exit "  ... and restores" 0 "$FERRY" restore ci/art --from "$W/store" --to "$W/r1"
check "  ... byte-identical to the tree" same_tree "$W/src" "$W/r1"

echo "# a file still being written is never shipped half-written"
# Written in two halves 3 s apart (settle is 1 s), the file held open between.
python3 - "$W/src/slow.bin" <<'EOF' &
import os, sys, time
with open(sys.argv[1], "wb") as f:
    f.write(os.urandom(1 << 20)); f.flush(); time.sleep(3)
    f.write(os.urandom(1 << 20))
EOF
WRITER=$!
sleep 0.5
echo "meanwhile" >"$W/src/other.txt"  # a change that settles while slow.bin is open
wait "$WRITER"
check "the slow file is replicated once closed" caught_up 20
bad_builds=0
for m in "$W"/store/manifests/*; do
  id=$(basename "$m")
  rm -rf "$W/rm"
  "$FERRY" restore "$id" --from "$W/store" --to "$W/rm" -q 2>/dev/null || { bad_builds=$((bad_builds + 1)); continue; }
  if [ -e "$W/rm/slow.bin" ] && ! cmp -s "$W/rm/slow.bin" "$W/src/slow.bin"; then bad_builds=$((bad_builds + 1)); fi
done
check "  ... no recorded build holds a partial slow.bin" test "$bad_builds" = 0
check "  ... a build was cut while it was open, holding it back" grep -Eq "[1-9][0-9]* held back" "$W/d1.err"

echo "# SIGTERM stops it cleanly; changes made while it is down are caught at start"
check "SIGTERM: exit 0 within 10 s" stops_with TERM 0
echo "written while no daemon ran" >"$W/src/while-down.txt"
rm "$W/src/lib/f2.txt"
check "the daemon starts again" start_daemon d2 --watch "$W/src" --to "$W/store" --ref ci/art --state "$W/state"
check "  ... and catches up" caught_up 20
rm -rf "$W/r2"
"$FERRY" restore ci/art --from "$W/store" --to "$W/r2" -q
check "  ... the new file is in the latest build, the deleted one is not" test -e "$W/r2/while-down.txt" -a ! -e "$W/r2/lib/f2.txt"
check "  ... byte-identical to the tree" same_tree "$W/src" "$W/r2"
check "  ... the build before it still holds the deleted file (nothing deleted in DR)" test -n "$(grep -l 'lib/f2.txt' "$W"/store/manifests/* 2>/dev/null | head -1)"

echo "# kill -9 during a large replication, then restart"
head -c $((120 << 20)) /dev/urandom >"$W/src/huge.bin"
for _ in $(seq 1 50); do [ "$(metric ferry_pending_objects)" != 0 ] && break; sleep 0.1; done
sleep 1.2  # settled: the cycle has begun
kill -9 "$PID"
wait "$PID" 2>/dev/null
check "restart after kill -9" start_daemon d3 --watch "$W/src" --to "$W/store" --ref ci/art --state "$W/state"
check "  ... catches up" caught_up 60
expect_exit "  ... every build verifies" 0 "$FERRY" verify --store "$W/store" --all
rm -rf "$W/r3"
"$FERRY" restore ci/art --from "$W/store" --to "$W/r3" -q
check "  ... the latest build is the tree" same_tree "$W/src" "$W/r3"

echo "# the watched directory vanishing is reported, never replicated as deletions"
mv "$W/src" "$W/src.away"
ok_503=1
for _ in $(seq 1 50); do health; [ "$CODE" = 503 ] && { ok_503=0; break; }; sleep 0.2; done
check "/health turns 503" test "$ok_503" = 0
check "  ... naming the missing source" grep -q "missing" "$W/health.json"
mv "$W/src.away" "$W/src"
check "  ... and recovers when it is back" caught_up 20
rm -rf "$W/r4"
"$FERRY" restore ci/art --from "$W/store" --to "$W/r4" -q
check "  ... the ref still holds the whole tree" same_tree "$W/src" "$W/r4"
check "SIGINT: exit 0" stops_with INT 0

echo "# --exclude: left out of DR and of what is pending"
mkdir -p "$W/xsrc/cache"
echo scratch >"$W/xsrc/first.tmp"
check "a daemon with --exclude '*.tmp' --exclude cache/ starts" start_daemon x1 --watch "$W/xsrc" --to "$W/xstore" --ref ci/x --state "$W/xstate" --exclude '*.tmp' --exclude cache/
sleep 1.5
check "  ... a tree of excluded files only is caught up" caught_up 20
check "  ... with no build recorded" test ! -e "$W/xstore/refs/ci%2Fx"
echo keep >"$W/xsrc/app.bin"
sleep 1.5
check "  ... a kept file is replicated" caught_up 20
echo scratch >"$W/xsrc/build.tmp"
echo blob >"$W/xsrc/cache/blob"
echo more >"$W/xsrc/more.bin"
sleep 1.5  # the watcher has seen all three (inotify), so excluded ones would be pending now
check "  ... caught up again: excluded files are not pending" caught_up 20
check "SIGTERM: exit 0" stops_with TERM 0
rm -rf "$W/xr"
"$FERRY" restore ci/x --from "$W/xstore" --to "$W/xr" -q
check "  ... the latest build holds the kept files and none of the excluded" test -e "$W/xr/app.bin" -a -e "$W/xr/more.bin" -a ! -e "$W/xr/build.tmp" -a ! -e "$W/xr/cache"

echo "# --merge on a tree: a file whose mtime goes back (cp -p, tar x, a rollback) is still replicated"
mkdir -p "$W/msrc"
echo "v2 of the artifact" >"$W/msrc/app.bin"
check "a --merge daemon starts" start_daemon m1 --watch "$W/msrc" --to "$W/mstore" --ref ci/m --state "$W/mstate" --merge
sleep 1.5
check "  ... replicates the tree" caught_up 20
echo "v1, restored with its old mtime" >"$W/msrc/app.bin"
touch -d "2020-01-01" "$W/msrc/app.bin"
sleep 1.5
check "  ... caught up after the rollback" caught_up 20
check "SIGTERM: exit 0" stops_with TERM 0
rm -rf "$W/mr"
"$FERRY" restore ci/m --from "$W/mstore" --to "$W/mr" -q
check "  ... the latest build holds the rolled-back bytes" test "$(cat "$W/mr/app.bin")" = "v1, restored with its old mtime"

echo "# --log-format json: every log line is one JSON object"
check "a daemon with JSON logs starts" start_daemon jl --log-format json --watch "$W/src" --to "$W/store" --ref ci/art --state "$W/state"
echo "one more" >"$W/src/json-log.txt"
check "  ... and catches up" caught_up 20
check "SIGTERM: exit 0" stops_with TERM 0
check "  ... every stderr line parses as JSON with time, level and msg" \
  sh -c "test -s '$W/jl.err' && jq -e -s 'all(.[]; has(\"time\") and has(\"level\") and has(\"msg\"))' '$W/jl.err' >/dev/null"
check "  ... and names the build it recorded" grep -q 'recorded' "$W/jl.err"
expect_exit "an error with --log-format json is a JSON line too" 2 "$FERRY" --log-format json daemon --watch "$W/src" --to "$W/s" --ref "a..b" --state "$W/st"
check "  ... that parses" jq -e '.level == "error"' "$W/err"

start_daemon busy --watch "$W/src" --to "$W/store2" --ref ci/a --state "$W/state2" >/dev/null
BUSY_PORT=$PORT
expect_exit "a port in use is refused (usage, naming the address)" 2 "$FERRY" daemon --watch "$W/src" --to "$W/store3" --ref ci/a --state "$W/state3" --listen "127.0.0.1:$BUSY_PORT"
check "  ... the message names the address" grep -q "127.0.0.1:$BUSY_PORT" "$W/err"
kill -TERM "$PID"; wait "$PID" 2>/dev/null

echo "# --config: two jobs in one daemon, one /health and one /metrics"
mkdir -p "$W/jobA" "$W/jobB"
echo "a" >"$W/jobA/a.txt"
echo "b" >"$W/jobB/b.txt"
cat >"$W/ferry.toml" <<EOF
state = "$W/cstate"
[[job]]
name = "alpha"
watch = "$W/jobA"
to = "$W/storeA"
ref = "ci/alpha"
settle = "1s"
[[job]]
name = "beta"
watch = "$W/jobB"
to = ["$W/storeB"]
ref = "ci/beta"
settle = 1
EOF
check "a daemon with two jobs from a TOML file starts" start_daemon cfg --config "$W/ferry.toml"
echo "later" >"$W/jobB/later.txt"
check "  ... both catch up" caught_up 20
check "  ... /health lists both jobs" test "$(jq -r '[.jobs[].job] | join(",")' "$W/health.json")" = alpha,beta
check "  ... /metrics has a series per job" sh -c "curl -s http://127.0.0.1:$PORT/metrics | grep -c '^ferry_builds_recorded_total{job=' | grep -qx 2"
rm -rf "$W/rb"
"$FERRY" restore ci/beta --from "$W/storeB" --to "$W/rb" -q
check "  ... each job's store holds its own tree" same_tree "$W/jobB" "$W/rb"
check "SIGTERM: exit 0" stops_with TERM 0
printf '[[job]]\nname = "x"\nwatch = "/w"\nto = "/d"\nref = "r"\nstate = "/s"\nrpoo = "5m"\n' >"$W/bad.toml"
expect_exit "a config with a typo is refused" 2 "$FERRY" daemon --config "$W/bad.toml"
check "  ... naming the file, the line and the key" grep -q "bad.toml:7: job: unknown key 'rpoo'" "$W/err"
expect_exit "--config and --watch together are refused" 2 "$FERRY" daemon --config "$W/ferry.toml" --watch "$W/src"

if [ -n "${S3_ENDPOINT:-}" ]; then
  echo "# an S3 mirror through a proxy: byte-identical objects; the destination down and back"
  AWS=(aws --endpoint-url "$S3_ENDPOINT")
  BUCKET=ferry-daemon-$RANDOM$RANDOM
  "${AWS[@]}" s3 mb "s3://$BUCKET" >/dev/null
  PPORT=$((20000 + RANDOM % 20000))
  python3 "$HERE/fault_proxy.py" "$PPORT" "$S3_ENDPOINT" 0 1 2>/dev/null &
  PROXY=$!
  PIDS+=("$PROXY")
  sleep 0.5
  mkdir -p "$W/s3src/dist"
  head -c $((10 << 20)) /dev/urandom >"$W/s3src/dist/app.tar"
  echo "manifest" >"$W/s3src/dist/MANIFEST"
  check "a daemon replicating to s3:// starts" start_daemon s1 --watch "$W/s3src" --to "s3://$BUCKET/dr/" --ref ci/art --state "$W/s3state" --endpoint-url "http://127.0.0.1:$PPORT" --rpo 8s
  check "  ... catches up" caught_up 30
  "${AWS[@]}" s3 cp "s3://$BUCKET/dr/dist/app.tar" "$W/app.dl" >/dev/null 2>&1
  check "  ... aws s3 cp downloads the object byte-identical" cmp -s "$W/s3src/dist/app.tar" "$W/app.dl"
  kill -9 "$PROXY"; wait "$PROXY" 2>/dev/null
  echo "after the outage began" >"$W/s3src/dist/late.txt"
  ok_503=1
  for _ in $(seq 1 100); do health; [ "$CODE" = 503 ] && { ok_503=0; break; }; sleep 0.2; done
  check "destination down: /health turns 503" test "$ok_503" = 0
  check "  ... with the reason" grep -q "last replication failed" "$W/health.json"
  check "  ... and the lag grows in /metrics" test "$(metric ferry_replication_lag_seconds | cut -d. -f1)" -ge 1
  check "  ... failures counted by reason" test -n "$(curl -s "http://127.0.0.1:$PORT/metrics" | grep '^ferry_replication_failures_total')"
  python3 "$HERE/fault_proxy.py" "$PPORT" "$S3_ENDPOINT" 0 1 2>/dev/null &
  PROXY=$!
  PIDS+=("$PROXY")
  check "destination back: caught up by itself" caught_up 90
  "${AWS[@]}" s3 cp "s3://$BUCKET/dr/dist/late.txt" "$W/late.dl" >/dev/null 2>&1
  check "  ... the change made during the outage is in the bucket" cmp -s "$W/s3src/dist/late.txt" "$W/late.dl"
  expect_exit "  ... and the mirror verifies" 0 "$FERRY" verify --store "s3://$BUCKET/dr/" --ref ci/art --endpoint-url "$S3_ENDPOINT"
  check "SIGTERM: exit 0" stops_with TERM 0

  echo "# a bucket prefix replicated by polling it (the primary region's bucket -> DR)"
  SRCB=ferry-dsrc-$RANDOM$RANDOM
  "${AWS[@]}" s3 mb "s3://$SRCB" >/dev/null
  mkdir -p "$W/btree/lib"
  head -c $((7 << 20)) /dev/urandom >"$W/btree/app.tar"
  echo "one" >"$W/btree/lib/one.txt"
  "${AWS[@]}" s3 cp --recursive --quiet "$W/btree" "s3://$SRCB/art/"
  check "a daemon with --watch s3://... starts" start_daemon b1 --watch "s3://$SRCB/art/" --to "s3://$BUCKET/fromb/" --to "$W/bstore" --ref ci/bucket --state "$W/bstate" --poll 1s --endpoint-url "$S3_ENDPOINT"
  check "  ... says it polls the prefix" grep -q "polling s3://$SRCB/art/ every 1 s" "$W/b1.err"
  check "  ... catches up with what the prefix held at start" caught_up 30
  "${AWS[@]}" s3 cp --quiet "s3://$BUCKET/fromb/app.tar" "$W/bapp.dl"
  check "  ... aws s3 cp downloads the DR copy byte-identical" cmp -s "$W/btree/app.tar" "$W/bapp.dl"
  echo "two" >"$W/btree/lib/two.txt"
  echo "one, replaced" >"$W/btree/lib/one.txt"
  "${AWS[@]}" s3 cp --quiet "$W/btree/lib/two.txt" "s3://$SRCB/art/lib/two.txt"
  "${AWS[@]}" s3 cp --quiet "$W/btree/lib/one.txt" "s3://$SRCB/art/lib/one.txt"
  sleep 1.5  # one poll
  check "a new and a replaced object are replicated" caught_up 30
  ok_b=0
  for f in lib/one.txt lib/two.txt; do
    "${AWS[@]}" s3 cp --quiet "s3://$BUCKET/fromb/$f" "$W/b.dl" && cmp -s "$W/btree/$f" "$W/b.dl" || ok_b=1
  done
  check "  ... byte-identical in the DR bucket" test "$ok_b" = 0
  check "  ... lag back to 0" test "$(metric ferry_replication_lag_seconds)" = 0
  "${AWS[@]}" s3 rm --quiet "s3://$SRCB/art/lib/two.txt"
  rm "$W/btree/lib/two.txt"
  sleep 1.5
  check "an object deleted at the source: caught up" caught_up 30
  check "  ... its DR copy is kept (deletes are not propagated)" "${AWS[@]}" s3api head-object --bucket "$BUCKET" --key fromb/lib/two.txt --query ContentLength
  expect_exit "  ... the mirror verifies" 0 "$FERRY" verify --store "s3://$BUCKET/fromb/" --ref ci/bucket --endpoint-url "$S3_ENDPOINT"
  expect_exit "  ... the latest build is the prefix as it is now" 0 "$FERRY" restore --from "$W/bstore" ci/bucket --to "$W/brestored"
  check "  ... identical, without the deleted object" diff -r "$W/btree" "$W/brestored"
  check "SIGTERM: exit 0" stops_with TERM 0
  check "a bucket source that cannot be listed: the daemon starts anyway" start_daemon b2 --watch "s3://no-such-$SRCB/art/" --to "$W/bstore2" --ref ci/b2 --state "$W/bstate2" --poll 1s --endpoint-url "$S3_ENDPOINT"
  health
  check "  ... /health 503" test "$CODE" = 503
  check "  ... saying the source cannot be listed" grep -q "cannot be listed" "$W/health.json"
  check "  ... and no store was created" test ! -e "$W/bstore2/FERRY-STORE"
  check "SIGTERM: exit 0" stops_with TERM 0
fi

finish e2e_daemon

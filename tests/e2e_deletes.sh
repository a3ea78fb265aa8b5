#!/usr/bin/env bash
# End-to-end tests of --delete (docs/deletes.md) against a real S3 server
# (Ceph RGW, started by tools/test.sh): push and the daemon delete the DR
# objects of files gone from the source once a build without them is
# recorded, never objects Ferry did not write, never files merely left out,
# and never more than --max-delete at once.
# usage: e2e_deletes.sh PATH/TO/ferry (exits 77, skipped, without S3_ENDPOINT)
set -uo pipefail
FERRY=$(realpath "$1")
if [ -z "${S3_ENDPOINT:-}" ]; then echo "S3_ENDPOINT is not set: run via tools/test.sh"; exit 77; fi
export AWS_ENDPOINT_URL=$S3_ENDPOINT
AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT")
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-e2e-del-XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export FERRY_CACHE_DIR=$W/cache

N=$RANDOM$RANDOM
B=ferry-del-$N
VB=ferry-delv-$N
"${AWS[@]}" s3 mb "s3://$B" >/dev/null && "${AWS[@]}" s3 mb "s3://$VB" >/dev/null ||
  { echo "cannot create buckets"; exit 1; }
"${AWS[@]}" s3api put-bucket-versioning --bucket "$VB" --versioning-configuration Status=Enabled
exists() { "${AWS[@]}" s3api head-object --bucket "$1" --key "$2" >/dev/null 2>&1; }
gone() { ! exists "$@"; }
ref_object() { "${AWS[@]}" s3 cp --quiet "s3://$B/app/.ferry/refs/app%2Fmain" - 2>/dev/null; }

T=$W/tree
mkdir -p "$T/sub" "$T/logs"
for f in keep gone1 gone2; do echo "$f $N" >"$T/$f.txt"; done
head -c 70000 /dev/urandom >"$T/sub/gone3.bin"
echo "log" >"$T/logs/a.log"

echo "# push --delete into a mirror on an unversioned bucket"
expect_exit "first push" 0 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --json
FIRST=$(json .manifest)
# An object of someone else's beside Ferry's (a new mirror must start empty).
echo "not Ferry's" | "${AWS[@]}" s3 cp --quiet - "s3://$B/app/foreign.txt"
rm "$T/gone1.txt"
expect_exit "--delete --dry-run" 0 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --delete --dry-run
check "  ... lists the deletion" grep -q "(dry run) delete: gone1.txt -> s3://$B/app/gone1.txt" "$W/out"
check "  ... and deletes nothing" exists "$B" app/gone1.txt
expect_exit "  ... --json" 0 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --delete --dry-run --json
check "  ... plans it as action delete" test "$(json '[.destinations[0].planned[] | select(.action == "delete") | .path] | join(",")')" = gone1.txt
expect_exit "push --delete after a file was removed" 0 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --delete --json
check "  ... reports 1 object deleted" test "$(json .objects_deleted)" = 1
check "  ... and no failure" test "$(json .delete_failures)" = 0
check "  ... gone1.txt is gone from DR" gone "$B" app/gone1.txt
"${AWS[@]}" s3 cp --quiet "s3://$B/app/keep.txt" "$W/dl"
check "  ... keep.txt still downloads byte-identical" cmp -s "$T/keep.txt" "$W/dl"
check "  ... an object Ferry did not write is untouched" exists "$B" app/foreign.txt
check "  ... the manifests and refs are untouched" test -n "$(ref_object)"
expect_exit "  ... the latest build verifies" 0 "$FERRY" verify --store "s3://$B/app/" --ref app/main
expect_exit "  ... the build that had gone1.txt is reported superseded" 5 "$FERRY" verify --store "s3://$B/app/" --ref "$FIRST"
check "  ... saying so" grep -q -i "superseded" "$W/err"

echo "# files left out of a build are not deleted"
expect_exit "push --delete --exclude '*.log'" 0 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --delete --exclude '*.log' --json
check "  ... deletes nothing" test "$(json .objects_deleted)" = 0
check "  ... logs/a.log stays in DR" exists "$B" app/logs/a.log

echo "# an object someone else wrote over one of Ferry's is not deleted"
expect_exit "push (logs/a.log in the build again)" 0 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main
echo "theirs" | "${AWS[@]}" s3 cp --quiet - "s3://$B/app/logs/a.log"
rm "$T/logs/a.log"
expect_exit "push --delete after logs/a.log was removed" 0 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --delete --json
check "  ... deletes nothing" test "$(json .objects_deleted)" = 0
check "  ... says why" grep -q "logs/a.log was written by someone else since Ferry recorded it; kept" "$W/err"
check "  ... their object is still there" test "$("${AWS[@]}" s3 cp --quiet "s3://$B/app/logs/a.log" -)" = theirs

echo "# --max-delete: a push that would delete more is refused before anything is sent"
rm "$T/gone2.txt" "$T/sub/gone3.bin"
echo "new" >"$T/new.txt"
REF_BEFORE=$(ref_object)
expect_exit "--dry-run --delete --max-delete 1 with 2 files gone" 18 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --delete --max-delete 1 --dry-run
expect_exit "push --delete --max-delete 1 with 2 files gone" 18 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --delete --max-delete 1
check "  ... the message says how many and the fix" grep -q "would delete 2 objects from s3://$B/app/.*more than --max-delete 1; nothing was uploaded, deleted or recorded.*--max-delete 2" "$W/err"
check "  ... nothing deleted" exists "$B" app/gone2.txt
check "  ... nothing sent (new.txt is not in DR)" gone "$B" app/new.txt
check "  ... the ref did not move" test "$(ref_object)" = "$REF_BEFORE"
expect_exit "  ... --json says too-many-deletes" 18 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --delete --max-delete 1 --json
check "  ... in error.code" test "$(json .error.code)" = too-many-deletes
expect_exit "  ... with --max-delete 2 it goes through" 0 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --delete --max-delete 2 --json
check "  ... 2 objects deleted" test "$(json .objects_deleted)" = 2
check "  ... sub/gone3.bin is gone" gone "$B" app/sub/gone3.bin
check "  ... new.txt was sent" exists "$B" app/new.txt
rm "$T/keep.txt"
expect_exit "push without --delete after a file was removed" 0 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --json
check "  ... its object stays in DR" exists "$B" app/keep.txt

rm "$T/new.txt"
echo "other" >"$T/other.txt"
expect_exit "--max-delete 0: no deletion at all" 18 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --delete --max-delete 0
check "  ... new.txt stays in DR" exists "$B" app/new.txt

echo "# bad values"
expect_exit "--max-delete -1" 2 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --delete --max-delete -1
check "  ... naming the option" grep -q -- "--max-delete" "$W/err"
expect_exit "--max-delete many" 2 "$FERRY" push "$T" --to "s3://$B/app/" --ref app/main --delete --max-delete many
expect_exit "--delete into a local store: nothing to delete, said" 0 "$FERRY" push "$T" --to "$W/store" --ref app/main --delete
check "  ... says why" grep -q "has nothing to delete in $W/store (store layout)" "$W/err"

echo "# two refs in one prefix: --delete keeps what the other ref's latest build names"
S=$W/shared
mkdir -p "$S"
echo "both $N" >"$S/both.txt"
echo "mine $N" >"$S/mine.txt"
expect_exit "push ref shared/a" 0 "$FERRY" push "$S" --to "s3://$B/shared/" --ref shared/a
expect_exit "push the same tree as ref shared/b" 0 "$FERRY" push "$S" --to "s3://$B/shared/" --ref shared/b
rm "$S/both.txt" "$S/mine.txt"
echo "new $N" >"$S/new.txt"
expect_exit "push shared/a --delete without both files" 0 "$FERRY" push "$S" --to "s3://$B/shared/" --ref shared/a --delete --json
check "  ... both.txt stays in DR (shared/b's latest build names it)" exists "$B" shared/both.txt
check "  ... saying why" grep -q "shared/both.txt is kept: the latest build of ref shared/b (same prefix) names it" "$W/err"
check "  ... and deletes nothing shared/b has" test "$(json .objects_deleted)" = 0
expect_exit "  ... shared/b's latest build still verifies" 0 "$FERRY" verify --store "s3://$B/shared/" --ref shared/b
expect_exit "push shared/b without them (no --delete)" 0 "$FERRY" push "$S" --to "s3://$B/shared/" --ref shared/b
echo "gone $N" >"$S/gone.txt"
expect_exit "push shared/a with gone.txt" 0 "$FERRY" push "$S" --to "s3://$B/shared/" --ref shared/a
rm "$S/gone.txt"
expect_exit "push shared/a --delete: gone.txt is shared/a's alone" 0 "$FERRY" push "$S" --to "s3://$B/shared/" --ref shared/a --delete --json
check "  ... it is deleted" gone "$B" shared/gone.txt
check "  ... 1 object deleted" test "$(json .objects_deleted)" = 1

echo "# a DELETE that fails is owed: the next push --delete makes it"
OB=ferry-delo-$N
"${AWS[@]}" s3 mb "s3://$OB" >/dev/null
O=$W/owed
mkdir -p "$O"
echo "stays $N" >"$O/stays.txt"
echo "doomed $N" >"$O/doomed.txt"
expect_exit "push into a bucket" 0 "$FERRY" push "$O" --to "s3://$OB/app/" --ref app/main
"${AWS[@]}" s3api put-bucket-policy --bucket "$OB" --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:DeleteObject\",\"Resource\":\"arn:aws:s3:::$OB/app/*\"}]}"
rm "$O/doomed.txt"
expect_exit "push --delete while the bucket refuses DELETE: the build is recorded" 0 \
  "$FERRY" push "$O" --to "s3://$OB/app/" --ref app/main --delete --json
check "  ... 1 delete failure, 0 deleted" test "$(json '"\(.delete_failures) \(.objects_deleted)"')" = "1 0"
check "  ... saying it waits for the next push --delete" grep -q "doomed.txt (it stays until the next push --delete" "$W/err"
check "  ... doomed.txt is still in DR" exists "$OB" app/doomed.txt
"${AWS[@]}" s3api delete-bucket-policy --bucket "$OB"
expect_exit "the next push --delete (nothing else changed)" 0 \
  "$FERRY" push "$O" --to "s3://$OB/app/" --ref app/main --delete --json
check "  ... deletes the owed object" test "$(json '"\(.delete_failures) \(.objects_deleted)"')" = "0 1"
check "  ... doomed.txt is gone from DR" gone "$OB" app/doomed.txt
check "  ... stays.txt stays" exists "$OB" app/stays.txt
expect_exit "a third push --delete owes and deletes nothing" 0 \
  "$FERRY" push "$O" --to "s3://$OB/app/" --ref app/main --delete --json
check "  ... 0 deleted" test "$(json .objects_deleted)" = 0

echo "# a versioned bucket keeps the deleted object as a noncurrent version"
V=$W/vtree
mkdir -p "$V"
echo "one" >"$V/one.txt"
echo "two $N" >"$V/two.txt"
expect_exit "push into the versioned bucket" 0 "$FERRY" push "$V" --to "s3://$VB/app/" --ref app/main --json
VFIRST=$(json .manifest)
rm "$V/two.txt"
expect_exit "push --delete" 0 "$FERRY" push "$V" --to "s3://$VB/app/" --ref app/main --delete --json
check "  ... two.txt is no longer current" gone "$VB" app/two.txt
expect_exit "  ... the earlier build still verifies (its versions are kept)" 0 "$FERRY" verify --store "s3://$VB/app/" --ref "$VFIRST"
expect_exit "  ... and restores" 0 "$FERRY" restore --from "s3://$VB/app/" "$VFIRST" --to "$W/vrestored"
check "  ... two.txt byte-identical" test "$(cat "$W/vrestored/two.txt")" = "two $N"

echo "# the ref moved while a push --delete ran: its deletions are skipped"
# Two data prefixes sharing one ref (--meta-prefix): A (slow, --bwlimit) plans
# against build 1; B records on top of it meanwhile; A is re-parented onto B.
R1=$W/race1
R2=$W/race2
mkdir -p "$R1" "$R2"
echo "doomed $N" >"$R1/doomed.txt"
echo "b $N" >"$R2/b.txt"
RACE=(--meta-prefix race-meta/)
expect_exit "build 1 into race/a/" 0 "$FERRY" "${RACE[@]}" push "$R1" --to "s3://$B/race/a/" --ref race/main
rm "$R1/doomed.txt"
head -c $((6 << 20)) /dev/urandom >"$R1/slow.bin"
"$FERRY" "${RACE[@]}" push "$R1" --to "s3://$B/race/a/" --ref race/main --delete --bwlimit 1M \
  --no-progress --json >"$W/race.out" 2>"$W/race.err" &
RP=$!
PIDS+=("$RP")
sleep 2  # A has planned (against build 1) and is sending slow.bin at 1 MB/s
expect_exit "B records a build on the same ref meanwhile" 0 "$FERRY" "${RACE[@]}" push "$R2" --to "s3://$B/race/b/" --ref race/main
wait "$RP"
check "A succeeds" test "$?" = 0
check "  ... re-parented onto B's build" grep -q "moved while this push ran; recording the build on top of" "$W/race.err"
check "  ... skipping its deletion, saying why" grep -q -- "--delete: the ref moved while this push ran.*1 deletions skipped" "$W/race.err"
check "  ... reports 0 objects deleted" test "$(jq -r .objects_deleted "$W/race.out")" = 0
check "  ... doomed.txt stays in DR" exists "$B" race/a/doomed.txt
check "  ... slow.bin was sent" exists "$B" race/a/slow.bin

echo "# a key the source still holds but a tree cannot (lib beside lib/x.so) is not deleted"
SB=ferry-delsrc-$N
"${AWS[@]}" s3 mb "s3://$SB" >/dev/null
echo "lib $N" | "${AWS[@]}" s3 cp --quiet - "s3://$SB/app/lib"
echo "ok $N" | "${AWS[@]}" s3 cp --quiet - "s3://$SB/app/ok"
expect_exit "push s3://$SB/app/ (lib is a file)" 0 "$FERRY" push "s3://$SB/app/" --to "s3://$B/fromsrc/" --ref src/main
check "  ... lib is in DR" exists "$B" fromsrc/lib
echo "x $N" | "${AWS[@]}" s3 cp --quiet - "s3://$SB/app/lib/x.so"
expect_exit "push --delete once lib/x.so makes lib a directory" 0 "$FERRY" push "s3://$SB/app/" --to "s3://$B/fromsrc/" --ref src/main --delete --json
check "  ... lib is reported skipped" grep -q "s3://$SB/app/lib" "$W/out" "$W/err"
check "  ... deletes nothing" test "$(json .objects_deleted)" = 0
check "  ... lib stays in DR" exists "$B" fromsrc/lib
check "  ... lib/x.so was sent" exists "$B" fromsrc/lib/x.so

echo "# ferry daemon --delete"
D=$W/dtree
mkdir -p "$D/sub"
echo "d0" >"$D/d0.txt"  # stays: a tree emptied records no build at all (so deletes nothing)
echo "d1" >"$D/d1.txt"
for i in 2 3 4; do echo "d$i" >"$D/sub/d$i.txt"; done
"$FERRY" daemon --watch "$D" --to "s3://$B/daemon/" --ref app/daemon --state "$W/dstate" --listen 127.0.0.1:0 \
  --json --settle 0s --interval 1s --delete --max-delete 2 >"$W/d.out" 2>"$W/d.err" &
DP=$!
PIDS+=("$DP")
check "the daemon starts" wait_ready "$W/d.out" "$DP"
until_true() {  # SECONDS CMD...
  local n=$(($1 * 2)); shift
  for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.5; done
  return 1
}
check "  ... replicates the tree" until_true 30 exists "$B" daemon/sub/d4.txt
rm "$D/d1.txt"
check "a removed file's object is deleted" until_true 30 gone "$B" daemon/d1.txt
check "  ... counted in ferry_deleted_objects_total" until_true 10 bash -c \
  "curl -s http://127.0.0.1:$PORT/metrics | grep -q '^ferry_deleted_objects_total{.*} 1'"
DREF_BEFORE=$("${AWS[@]}" s3 cp --quiet "s3://$B/daemon/.ferry/refs/app%2Fdaemon" -)
mv "$D/sub" "$W/moved-away"  # three files gone in one rename: one cycle sees them all
health() {
  CODE=$(curl -s -o "$W/health.json" -w '%{http_code}' "http://127.0.0.1:$PORT/health")
  grep -q "max-delete" "$W/health.json"
}
check "three gone at once (--max-delete 2): /health names the guard" until_true 30 health
check "  ... answering 503" test "$CODE" = 503
check "  ... ferry_replication_failures_total{reason=too-many-deletes}" bash -c \
  "curl -s http://127.0.0.1:$PORT/metrics | grep -q '^ferry_replication_failures_total{.*reason=\"too-many-deletes\".*} [1-9]'"
check "  ... nothing deleted" exists "$B" daemon/sub/d2.txt
check "  ... nothing recorded (the ref did not move)" test "$("${AWS[@]}" s3 cp --quiet "s3://$B/daemon/.ferry/refs/app%2Fdaemon" -)" = "$DREF_BEFORE"
kill -TERM "$DP"; wait "$DP"
check "SIGTERM: exit 0" test "$?" = 0

finish e2e_deletes

#!/usr/bin/env bash
# End-to-end tests of an S3 prefix as a push source (docs/sources.md) against
# a real S3 server (Ceph RGW, started by tools/test.sh): the primary region's
# bucket pushed to a DR bucket and a local store, byte-identical.
# usage: e2e_bucket_source.sh PATH/TO/ferry (exits 77, skipped, without S3_ENDPOINT)
set -uo pipefail
FERRY=$(realpath "$1")
if [ -z "${S3_ENDPOINT:-}" ]; then echo "S3_ENDPOINT is not set: run via tools/test.sh"; exit 77; fi
export AWS_ENDPOINT_URL=$S3_ENDPOINT
AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT")
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-e2e-src-XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export FERRY_CACHE_DIR=$W/cache

SB=ferry-src-$RANDOM$RANDOM
DB=ferry-dst-$RANDOM$RANDOM
"${AWS[@]}" s3 mb "s3://$SB" >/dev/null && "${AWS[@]}" s3 mb "s3://$DB" >/dev/null ||
  { echo "cannot create buckets"; exit 1; }
T=$W/tree
mkdir -p "$T/lib/deep" "$T/docs"
head -c $((9 << 20)) /dev/urandom >"$T/app.tar"
head -c 3000 /dev/urandom >"$T/lib/deep/x.so"
for i in $(seq 1 30); do echo "small $i" >"$T/docs/f$i.txt"; done
: >"$T/empty"
"${AWS[@]}" s3 cp --recursive --quiet "$T" "s3://$SB/app/"
"${AWS[@]}" s3api put-object --bucket "$SB" --key app/folder/ >/dev/null        # a console folder marker
"${AWS[@]}" s3api put-object --bucket "$SB" --key 'app/x/../evil' --body "$T/empty" >/dev/null
"${AWS[@]}" s3api put-object --bucket "$SB" --key 'app/lib' --body "$T/empty" >/dev/null  # a file and a directory

echo "# an S3 prefix pushed to a DR mirror and a local store in one read"
expect_exit "push s3://primary/app/ --to s3://dr/app/ --to STORE" 0 \
  "$FERRY" push "s3://$SB/app/" --to "s3://$DB/app/" --to "$W/store" --ref app/main --json
check "  ... 33 files" test "$(json .files)" = 33
check "  ... read with the threaded reader" test "$(json .io_backend)" = threads
check "  ... the unsafe key and the key that is also a directory are skipped" test "$(json '.skipped | length')" = 2
check "  ... naming them" grep -q 'evil (its key cannot be a file' "$W/err"
check "  ... (app/lib)" grep -q "app/lib (its key" "$W/err"
check "  ... app.tar (9 MiB, multipart at the source) was copied server-side into the mirror, not sent" \
  test "$(json '.destinations[0] | "\(.objects_copied) \(.bytes_copied)"')" = "1 $((9 << 20))"
check "  ... only the small objects were sent" test "$(json '.destinations[0].bytes_sent')" -lt 100000
ok_all=0
for f in app.tar lib/deep/x.so docs/f7.txt empty; do
  "${AWS[@]}" s3 cp --quiet "s3://$DB/app/$f" "$W/dl" && cmp -s "$T/$f" "$W/dl" || ok_all=1
done
check "  ... aws s3 cp downloads each DR object byte-identical" test "$ok_all" = 0
expect_exit "  ... the mirror verifies" 0 "$FERRY" verify --store "s3://$DB/app/" --ref app/main
expect_exit "  ... the store verifies" 0 "$FERRY" verify --store "$W/store" --ref app/main
expect_exit "  ... and restores the tree" 0 "$FERRY" restore --from "$W/store" app/main --to "$W/restored"
check "  ... identical to what was uploaded (directories too)" diff -r "$T" "$W/restored"
check "  ... with nothing outside the target" test ! -e "$W/evil" -a ! -e "$W/restored/evil"

echo "# same endpoint: objects are copied server-side from the version read, and checked"
C=$W/copies
mkdir -p "$C"
head -c $((3 << 20)) /dev/urandom >"$C/single.bin"  # one PUT at the source: its ETag is its MD5
head -c 200000 /dev/urandom >"$C/small.bin"        # under 1 MiB: sent (--server-copy auto)
"${AWS[@]}" s3 cp --recursive --quiet "$C" "s3://$SB/copies/"
expect_exit "push s3://primary/copies/ --to s3://dr/copies/ --dry-run" 0 \
  "$FERRY" push "s3://$SB/copies/" --to "s3://$DB/copies/" --ref copies/main --dry-run --json
check "  ... plans single.bin as a copy from the source" test \
  "$(json '.destinations[0].planned[] | select(.path == "single.bin") | "\(.action) \(.from)"')" = "copy s3://$SB/copies/single.bin"
check "  ... and small.bin as an upload" test \
  "$(json '.destinations[0].planned[] | select(.path == "small.bin") | .action')" = upload
expect_exit "push s3://primary/copies/ --to s3://dr/copies/" 0 \
  "$FERRY" push "s3://$SB/copies/" --to "s3://$DB/copies/" --ref copies/main --json
check "  ... single.bin copied, small.bin sent" test "$(json '"\(.objects_copied) \(.bytes_copied) \(.bytes_sent)"')" = "1 $((3 << 20)) 200000"
"${AWS[@]}" s3 cp --quiet "s3://$DB/copies/single.bin" "$W/dl"
check "  ... aws s3 cp downloads the copy byte-identical" cmp -s "$C/single.bin" "$W/dl"
check "  ... labelled with its SHA-256" test "$("${AWS[@]}" s3api head-object --bucket "$DB" --key copies/single.bin | jq -r '.Metadata."ferry-sha256"')" = "$(sha256sum <"$C/single.bin" | cut -d' ' -f1)"
expect_exit "  ... the mirror verifies (the copy's bytes against the manifest)" 0 \
  "$FERRY" verify --store "s3://$DB/copies/" --ref copies/main
head -c $((3 << 20)) /dev/urandom >"$C/single.bin"
"${AWS[@]}" s3 cp --quiet "$C/single.bin" "s3://$SB/copies/single.bin"
expect_exit "--server-copy never: a new version is sent, not copied" 0 \
  "$FERRY" push "s3://$SB/copies/" --to "s3://$DB/copies/" --ref copies/main --server-copy never --json
check "  ... nothing copied, 3 MiB sent" test "$(json '"\(.objects_copied) \(.bytes_sent)"')" = "0 $((3 << 20))"
"${AWS[@]}" s3 cp --quiet "s3://$DB/copies/single.bin" "$W/dl"
check "  ... byte-identical" cmp -s "$C/single.bin" "$W/dl"
# A DR bucket whose policy refuses copies from the source bucket (as when the
# destination's credentials cannot read the primary): each object is sent.
NB=ferry-nocopy-$RANDOM$RANDOM
"${AWS[@]}" s3 mb "s3://$NB" >/dev/null
"${AWS[@]}" s3api put-bucket-policy --bucket "$NB" --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:PutObject\",\"Resource\":\"arn:aws:s3:::$NB/*\",\"Condition\":{\"StringLike\":{\"s3:x-amz-copy-source\":\"*$SB/*\"}}}]}"
"${AWS[@]}" s3 cp --quiet "$T/app.tar" "s3://$SB/copies/large.tar"  # 9 MiB: read again to be sent
expect_exit "a destination that refuses the copies: push goes on" 0 \
  "$FERRY" push "s3://$SB/copies/" --to "s3://$NB/copies/" --ref copies/main --json
check "  ... nothing copied; every byte sent, large.tar read a second time (said)" \
  test "$(json '"\(.objects_copied) \(.bytes_sent) \(.bytes_read_again)"')" = "0 $(((3 << 20) + (9 << 20) + 200000)) $((9 << 20))"
check "  ... saying why" grep -q "server-side copy of s3://$SB/copies/large.tar.*reading it again to send it" "$W/err"
ok_all=0
for f in single.bin small.bin; do
  "${AWS[@]}" s3 cp --quiet "s3://$NB/copies/$f" "$W/dl" && cmp -s "$C/$f" "$W/dl" || ok_all=1
done
"${AWS[@]}" s3 cp --quiet "s3://$NB/copies/large.tar" "$W/dl" && cmp -s "$T/app.tar" "$W/dl" || ok_all=1
check "  ... aws s3 cp downloads each object byte-identical" test "$ok_all" = 0
expect_exit "  ... the mirror verifies" 0 "$FERRY" verify --store "s3://$NB/copies/" --ref copies/main
expect_exit "into a local store nothing is copied (chunks, not objects)" 0 \
  "$FERRY" push "s3://$SB/copies/" --to "$W/cstore" --ref copies/main --json
check "  ... every byte read and stored" test "$(json '"\(.objects_copied // 0) \(.bytes_read)"')" = "0 $(((3 << 20) + (9 << 20) + 200000))"

echo "# re-push: unchanged objects are not read again; a replaced one is"
expect_exit "re-push of the unchanged prefix" 0 "$FERRY" push "s3://$SB/app/" --to "$W/store" --ref app/main --json
check "  ... reads nothing (stat cache: size, ETag, LastModified)" test "$(json .bytes_read)" = 0
check "  ... 33 files taken unread" test "$(json .files_cached)" = 33
echo "replaced" >"$W/new.txt"
"${AWS[@]}" s3 cp --quiet "$W/new.txt" "s3://$SB/app/docs/f7.txt"
expect_exit "re-push after an object was replaced" 0 "$FERRY" push "s3://$SB/app/" --to "$W/store" --ref app/main --json
check "  ... reads only that object" test "$(json .bytes_read)" = 9
expect_exit "  ... and restores its new bytes" 0 "$FERRY" restore --from "$W/store" app/main --to "$W/out2"
check "  ... byte-identical" cmp -s "$W/new.txt" "$W/out2/docs/f7.txt"

echo "# bad sources record nothing and create nothing"
expect_exit "an empty prefix is refused" 3 "$FERRY" push "s3://$SB/nothing/" --to "$W/store2" --ref a/b
check "  ... and no store was created" test ! -e "$W/store2"
expect_exit "a bucket that does not exist is refused" 3 "$FERRY" push "s3://no-such-$SB/app/" --to "$W/store" --ref app/main
check "  ... naming it" grep -q "no-such-$SB" "$W/err"
expect_exit "a source that overlaps its destination (one bucket, one endpoint) is refused" 2 \
  "$FERRY" push "s3://$SB/app/" --to "s3://$SB/app/dr/" --ref app/main
check "  ... saying why" grep -q "copy the bucket onto itself" "$W/err"
expect_exit "a malformed source URL is a usage error" 2 "$FERRY" push "s3:///app/" --to "$W/store" --ref app/main
BEFORE=$("$FERRY" log --store "$W/store" app/main --json | jq -r '.builds[0].manifest')
expect_exit "wrong credentials for the source" 11 env AWS_SECRET_ACCESS_KEY=wrong "$FERRY" push "s3://$SB/app/" --to "$W/store" --ref app/main

echo "# an object replaced while it is read fails the push; nothing is recorded"
head -c $((40 << 20)) /dev/urandom >"$W/slow.bin"
"${AWS[@]}" s3 cp --quiet "$W/slow.bin" "s3://$SB/race/slow.bin"
# --bwlimit 0:4M: forty 1 MiB ranged GETs, 16 at a time, take about ten seconds; the
# object is replaced after two, so the GETs sent after that must be refused (If-Match).
"$FERRY" push "s3://$SB/race/" --to "$W/store" --ref race/main --bwlimit 0:4M >"$W/race.out" 2>"$W/race.err" &
RP=$!
PIDS+=("$RP")
sleep 2
echo "the new version" | "${AWS[@]}" s3 cp --quiet - "s3://$SB/race/slow.bin"
wait "$RP"
check "  ... exit 3" test "$?" = 3
check "  ... saying the object changed while it was read" grep -q "changed while it was being read" "$W/race.err"
expect_exit "  ... and the ref was never made" 7 "$FERRY" log --store "$W/store" race/main
AFTER=$("$FERRY" log --store "$W/store" app/main --json | jq -r '.builds[0].manifest')
check "  ... the other ref did not move either" test "$BEFORE" = "$AFTER"

finish e2e_bucket_source

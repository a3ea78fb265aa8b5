#!/usr/bin/env bash
# End-to-end data-safety checks against a real S3 server (Ceph RGW, started by
# tools/test.sh): object bytes that look like S3 errors, swapped objects,
# pushing one prefix twice (versioned and not), kill -9 in the middle of a
# push into the current build's prefix, tags, concurrent pushes to one ref,
# and an endpoint that is not S3.
# usage: e2e_s3_safety.sh PATH/TO/ferry (needs S3_ENDPOINT and keys; else exit 77)
set -uo pipefail
FERRY=$(realpath "$1")
if [ -z "${S3_ENDPOINT:-}" ]; then echo "S3_ENDPOINT is not set: run via tools/test.sh"; exit 77; fi
export AWS_ENDPOINT_URL=$S3_ENDPOINT
AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT")
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-s3-safety-XXXXXX")
HTTP_PID=
trap '[ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null; rm -rf "$W"' EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export FERRY_CACHE_DIR=$W/cache

B=ferry-safety-$RANDOM$RANDOM
BV=$B-versioned
"${AWS[@]}" s3 mb "s3://$B" >/dev/null || { echo "cannot create bucket"; exit 1; }
"${AWS[@]}" s3 mb "s3://$BV" >/dev/null || { echo "cannot create bucket"; exit 1; }
"${AWS[@]}" s3api put-bucket-versioning --bucket "$BV" --versioning-configuration Status=Enabled
tags_of() { "${AWS[@]}" s3api get-object-tagging --bucket "$1" --key "$2" --output json | jq -r '[.TagSet[] | .Key + "=" + .Value] | sort | join(",")'; }

echo "# object bytes that contain <Error> are data"
SRC=$W/web
mkdir -p "$SRC/types"
echo 'export declare function load(): Promise<Error>;' >"$SRC/types/index.d.ts"
printf '<?xml version="1.0"?><Error><Code>InternalError</Code></Error>' >"$SRC/error.xml"
expect_exit "push a .d.ts with Promise<Error> and a tag msg=<Error>" 0 "$FERRY" push "$SRC" --to "s3://$B/web/" --ref web/main --tag "msg=<Error>"
check "  ... the tag is metadata, not an S3 tag (S3 refuses < >), and push said so" grep -q "not as an S3 tag" "$W/err"
expect_exit "verify reads them back" 0 "$FERRY" verify --store "s3://$B/web/" --ref web/main
expect_exit "restore writes them back" 0 "$FERRY" restore web/main --from "s3://$B/web/" --to "$W/web-out"
check "  ... byte-identical" diff -r "$SRC" "$W/web-out"

echo "# a large object swapped behind Ferry's back for other bytes of the same size"
BIG=$W/big
mkdir -p "$BIG"
head -c $((20 << 20)) /dev/urandom >"$BIG/release.tar"
expect_exit "push a 20 MiB artifact (multipart)" 0 "$FERRY" push "$BIG" --to "s3://$B/big/" --ref big/main
head -c $((20 << 20)) /dev/urandom >"$W/impostor"
"${AWS[@]}" s3 cp "$W/impostor" "s3://$B/big/release.tar" >/dev/null
expect_exit "verify --quick notices (recorded ETag)" 5 "$FERRY" verify --store "s3://$B/big/" --ref big/main --quick
check "  ... and names the object" grep -q "release.tar has ETag" "$W/err"
expect_exit "a re-push of the unchanged source" 0 "$FERRY" push "$BIG" --to "s3://$B/big/" --ref big/main --json
check "  ... sends the file again instead of trusting the size" test "$(json .bytes_sent)" = $((20 << 20))
"${AWS[@]}" s3 cp "s3://$B/big/release.tar" "$W/big-dl" >/dev/null
check "  ... and the bucket holds the build's bytes again" cmp -s "$BIG/release.tar" "$W/big-dl"
expect_exit "verify --quick passes" 0 "$FERRY" verify --store "s3://$B/big/" --ref big/main --quick

echo "# one prefix pushed twice: an unversioned bucket"
CFG=$W/cfg
mkdir -p "$CFG/config"
echo '{"pipelines": 1}' >"$CFG/config/pipelines.json"
echo 'stable' >"$CFG/config/stable.txt"
expect_exit "push the nightly config" 0 "$FERRY" push "$CFG" --to "s3://$B/config/" --ref cfg/nightly --json
C1=$(json .manifest)
echo '{"pipelines": 2}' >"$CFG/config/pipelines.json"
expect_exit "push the next night's into the same prefix" 0 "$FERRY" push "$CFG" --to "s3://$B/config/" --ref cfg/nightly --json
C2=$(json .manifest)
check "  ... warns that the bucket is not versioned" grep -q "is not versioned" "$W/err"
expect_exit "verify --all passes: what should be whole is whole" 0 "$FERRY" verify --store "s3://$B/config/" --all --json
check "  ... and lists the first build as superseded by the second" test "$(json '.superseded[0].manifest')/$(json '.superseded[0].superseded_by')/$(json '.manifests | length')" = "$C1/$C2/1"
expect_exit "restoring the superseded build" 5 "$FERRY" restore "$C1" --from "s3://$B/config/" --to "$W/cfg-old"
check "  ... names the build that replaced it and bucket versioning" grep -q "superseded by build $C2.*versioning" "$W/err"
expect_exit "the current build restores" 0 "$FERRY" restore cfg/nightly --from "s3://$B/config/" --to "$W/cfg-new"
check "  ... byte-identical" diff -r "$CFG" "$W/cfg-new"

echo "# one prefix pushed twice: a versioned bucket keeps every build"
echo '{"pipelines": 1}' >"$CFG/config/pipelines.json"
cp -r "$CFG" "$W/cfg-v1"
expect_exit "push the nightly config" 0 "$FERRY" push "$CFG" --to "s3://$BV/config/" --ref cfg/nightly --json
V1=$(json .manifest)
echo '{"pipelines": 2}' >"$CFG/config/pipelines.json"
expect_exit "push the next night's into the same prefix" 0 "$FERRY" push "$CFG" --to "s3://$BV/config/" --ref cfg/nightly
check "  ... with no warning about versioning" test -z "$(grep 'is not versioned' "$W/err")"
expect_exit "restore the first build" 0 "$FERRY" restore "$V1" --from "s3://$BV/config/" --to "$W/cfgv-old"
check "  ... byte-identical to what was pushed first (read by version)" diff -r "$W/cfg-v1" "$W/cfgv-old"
expect_exit "verify --all checks both builds" 0 "$FERRY" verify --store "s3://$BV/config/" --all --json
check "  ... every byte of both" test "$(json '.manifests | length')/$(json '.superseded | length')" = 2/0

echo "# kill -9 in the middle of a push into the current build's prefix (versioned bucket)"
K=$W/kill
mkdir -p "$K"
echo "v1" >"$K/a-config.txt"
head -c $((6 << 20)) /dev/urandom >"$K/b-small.bin"
head -c $((400 << 20)) /dev/urandom >"$K/z-large.bin"
cp -r "$K" "$W/kill-v1"
expect_exit "push build 1" 0 "$FERRY" push "$K" --to "s3://$BV/app/" --ref app/live --json
K1=$(json .manifest)
echo "v2" >"$K/a-config.txt"
head -c $((6 << 20)) /dev/urandom >"$K/b-small.bin"
head -c $((400 << 20)) /dev/urandom >"$K/z-large.bin"
# Files go in path order: kill the push the moment a-config.txt holds v2, while
# the 400 MiB object is still on its way (polled with curl: aws is too slow).
get_object() {
  curl -s --aws-sigv4 "aws:amz:${AWS_DEFAULT_REGION:-us-east-1}:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$S3_ENDPOINT/$1"
}
"$FERRY" push "$K" --to "s3://$BV/app/" --ref app/live --no-progress >"$W/kill.out" 2>&1 &
PID=$!
for _ in $(seq 1 1200); do
  [ "$(get_object "$BV/app/a-config.txt")" = v2 ] && break
  sleep 0.05
done
kill -9 $PID 2>/dev/null
wait $PID 2>/dev/null
check "the killed push had already replaced a-config.txt in place" test "$(get_object "$BV/app/a-config.txt")" = v2
check "  ... and was killed before it moved the ref" test "$(get_object "$BV/app/.ferry/refs/app%252Flive")" = "$K1"
expect_exit "the current build (the ref did not move) restores" 0 "$FERRY" restore app/live --from "s3://$BV/app/" --to "$W/kill-restored"
check "  ... byte-identical to build 1, read by version" diff -r "$W/kill-v1" "$W/kill-restored"
expect_exit "and verifies" 0 "$FERRY" verify --store "s3://$BV/app/" --ref app/live
expect_exit "a re-run completes" 0 "$FERRY" push "$K" --to "s3://$BV/app/" --ref app/live
rm -rf "$K" "$W/kill-v1" "$W/kill-restored"

echo "# tags on S3"
T=$W/tagged
mkdir -p "$T"
echo small >"$T/small.txt"
head -c $((9 << 20)) /dev/urandom >"$T/large.bin"
expect_exit "an empty tag value (an unset CI variable)" 0 "$FERRY" push "$T" --to "s3://$B/tags/1/" --ref tags/main --tag commit= --tag pipeline=77
check "  ... is an S3 tag with an empty value" test "$(tags_of "$B" tags/1/small.txt)" = "commit=,pipeline=77"
check "  ... and the multipart object has its tags too" test "$(tags_of "$B" tags/1/large.bin)" = "commit=,pipeline=77"
expect_exit "a tag value with a newline is refused" 2 "$FERRY" push "$T" --to "s3://$B/tags/nl/" --tag "msg=a
b"
check "  ... before any request (nothing in the prefix)" test -z "$("${AWS[@]}" s3 ls --recursive "s3://$B/tags/nl/")"
MANY=()
for i in $(seq 1 12); do MANY+=(--tag "k$i=v$i"); done
expect_exit "12 tags" 0 "$FERRY" push "$T" --to "s3://$B/tags/12/" --ref tags/many "${MANY[@]}"
check "  ... S3 keeps the first 10 and push says what happened to the rest" test "$("${AWS[@]}" s3api get-object-tagging --bucket "$B" --key tags/12/small.txt | jq '.TagSet | length')" = 10 -a -n "$(grep "k11 (past S3's 10 tags" "$W/err")"
check "  ... all 12 are object metadata" test "$("${AWS[@]}" s3api head-object --bucket "$B" --key tags/12/small.txt | jq -r .Metadata.k12)" = v12
expect_exit "the same tree into a new prefix (copied server-side) with new tags" 0 "$FERRY" --meta-prefix tagmeta/ push "$T" --to "s3://$B/tags/a/" --ref tags/rel --tag commit=aaa
expect_exit "  ..." 0 "$FERRY" --meta-prefix tagmeta/ push "$T" --to "s3://$B/tags/b/" --ref tags/rel --tag commit=bbb --server-copy always --json
check "  ... the copies carry this build's tags, not the source's" test "$(json .objects_copied)" -ge 1 -a "$(tags_of "$B" tags/b/small.txt)" = commit=bbb -a "$(tags_of "$B" tags/b/large.bin)" = commit=bbb

echo "# concurrent pushes to one ref (S3 store layout, conditional writes)"
CC=$W/cc
for i in $(seq 1 6); do mkdir -p "$CC/t$i"; echo "build $i" >"$CC/t$i/build.txt"; done
for round in 1 2 3; do
  a=$((2 * round - 1)) b=$((2 * round))
  "$FERRY" push "$CC/t$a" --to "s3://$B/cc/" --layout store --ref app/cc --json >"$CC/p$a.json" 2>/dev/null &
  "$FERRY" push "$CC/t$b" --to "s3://$B/cc/" --layout store --ref app/cc --json >"$CC/p$b.json" 2>/dev/null &
  wait
done
declare -A PARENT
for i in $(seq 1 6); do PARENT[$(jq -r .manifest "$CC/p$i.json")]=$(jq -r .parent "$CC/p$i.json"); done
at=$("${AWS[@]}" s3 cp "s3://$B/cc/refs/app%2Fcc" - 2>/dev/null) n=0
while [ -n "$at" ] && [ "$at" != null ] && [ $n -lt 20 ]; do n=$((n + 1)); at=${PARENT[$at]:-}; done
check "6 pushes in 3 simultaneous pairs: all 6 builds are on the ref's chain ($n)" test "$n" = 6

echo "# --merge: three matrix jobs at once into one ref (S3 store layout)"
MJ=$W/matrix
for os in linux mac win; do mkdir -p "$MJ/$os/dist"; head -c 50000 /dev/urandom >"$MJ/$os/dist/app-$os"; done
for os in linux mac win; do
  "$FERRY" push "$MJ/$os" --to "s3://$B/matrix/" --layout store --ref app/matrix --merge --json \
    >"$MJ/$os.json" 2>"$MJ/$os.err" &
done
wait
check "each job recorded a build" bash -c "for os in linux mac win; do jq -e '.status == \"ok\"' $MJ/\$os.json >/dev/null || exit 1; done"
expect_exit "the ref's latest build restores" 0 "$FERRY" restore app/matrix --from "s3://$B/matrix/" --to "$W/matrix-restored"
check "  ... with every job's file, byte-identical" bash -c "for os in linux mac win; do cmp -s $MJ/\$os/dist/app-\$os $W/matrix-restored/dist/app-\$os || exit 1; done"
check "  ... one job's report says the build holds all 3 files" bash -c "cat $MJ/*.json | jq -s -e 'map(.build_files) | max == 3' >/dev/null"
expect_exit "--merge into a mirror" 2 "$FERRY" push "$MJ/linux" --to "s3://$B/matrix-mirror/" --ref app/matrix --merge
check "  ... says it is for the store layout" grep -q -- "--merge is for store-layout destinations" "$W/err"

echo "# an endpoint that is not an S3 server"
PORT=$((20000 + RANDOM % 20000))
mkdir -p "$W/www"
(cd "$W/www" && exec python3 -m http.server "$PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
HTTP_PID=$!
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
expect_exit "verify against a web server's 404 page" 4 "$FERRY" verify --store "s3://$B/web/" --all --endpoint-url "http://127.0.0.1:$PORT"
check "  ... says the endpoint may not be S3 (not 'ref not found')" grep -q "not an S3 error document" "$W/err"

finish e2e-s3-safety

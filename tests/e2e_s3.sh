#!/usr/bin/env bash
# End-to-end tests of `ferry` against a real S3 server (Ceph RGW, started by
# tools/test.sh). usage: e2e_s3.sh PATH/TO/ferry
# Needs S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY in the environment;
# without them it exits 77 (ctest: skipped), which only happens outside tools/test.sh.
set -uo pipefail
FERRY=$(realpath "$1")
if [ -z "${S3_ENDPOINT:-}" ]; then echo "S3_ENDPOINT is not set: run via tools/test.sh"; exit 77; fi
export AWS_ENDPOINT_URL=$S3_ENDPOINT
AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT")
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-e2e-s3-XXXXXX")
trap 'rm -rf "$W"' EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export FERRY_CACHE_DIR=$W/cache  # the stat cache (docs/stat-cache.md), not the user's

BUCKET=ferry-e2e-$RANDOM$RANDOM
"${AWS[@]}" s3 mb "s3://$BUCKET" >/dev/null || { echo "cannot create bucket"; exit 1; }
URL=s3://$BUCKET/app/1.4.2/
SRC=$W/build
mkdir -p "$SRC/bin" "$SRC/lib"
head -c $((9 << 20)) /dev/urandom >"$SRC/bin/app"
chmod 755 "$SRC/bin/app"
for i in $(seq 1 50); do echo "module $i" >"$SRC/lib/m$i.js"; done
ln -s app "$SRC/bin/current"

echo "# mirror layout (the default for s3://): each file an ordinary object"
MURL=s3://$BUCKET/mirror/1.4.2/
: >"$SRC/lib/empty.txt"
expect_exit "push mirrors the tree" 0 "$FERRY" push "$SRC" --to "$MURL" --ref app/main --tag commit=abc123 --tag pipeline=77 --json
check "  ... one object per file (a 9 MiB multipart one among them)" test "$(json '.destinations[0].layout')" = mirror -a "$(json .objects_put)" = 52 -a "$(json .bytes_sent)" = "$(json .bytes_read)"
mkdir -p "$W/dl" "$W/plain"
"${AWS[@]}" s3 cp --recursive "$MURL" "$W/dl" --exclude ".ferry/*" >/dev/null 2>&1
(cd "$SRC" && find . -type f | while read -r f; do mkdir -p "$W/plain/$(dirname "$f")"; cp "$f" "$W/plain/$f"; done)
check "aws s3 cp --recursive downloads every file byte-identical" diff -r "$W/plain" "$W/dl"
check "the commit is object metadata and an S3 tag" test "$("${AWS[@]}" s3api head-object --bucket "$BUCKET" --key mirror/1.4.2/bin/app | jq -r .Metadata.commit) $("${AWS[@]}" s3api get-object-tagging --bucket "$BUCKET" --key mirror/1.4.2/lib/m1.js | jq -r '.TagSet[] | select(.Key=="commit") | .Value')" = "abc123 abc123"
expect_exit "verify the mirror (ranged GETs, rehash)" 0 "$FERRY" verify --store "$MURL" --ref app/main --json
check "  ... every byte of every object" test "$(json .bytes_checked)" = "$(cat "$SRC"/bin/app "$SRC"/lib/* | wc -c)" -a "$(json .layout)" = mirror
expect_exit "restore from the mirror" 0 "$FERRY" restore app/main --from "$MURL" --to "$W/mrestored"
check "  ... byte-identical, symlink included" diff -r --no-dereference "$SRC" "$W/mrestored"
expect_exit "re-push of the unchanged tree" 0 "$FERRY" push "$SRC" --to "$MURL" --ref app/main --json
check "  ... sends no object bytes" test "$(json .bytes_sent)" = 0 -a "$(json .files_unchanged)" = 52
printf 'Z%.0s' $(seq 1 4096) | dd of="$SRC/bin/app" bs=1 seek=4000000 conv=notrunc status=none
expect_exit "push after a change inside the large file" 0 "$FERRY" push "$SRC" --to "$MURL" --ref app/main --json
check "  ... sends only that file" test "$(json .objects_put)" = 1 -a "$(json .bytes_sent)" = $((9 << 20))
echo "not the build" | "${AWS[@]}" s3 cp - "${MURL}lib/m7.js" >/dev/null 2>&1
expect_exit "verify finds an object changed behind Ferry's back" 5 "$FERRY" verify --store "$MURL" --ref app/main --json
check "  ... and names the file" test "$(json '.chunk_problems[0].files[0]')" = lib/m7.js
expect_exit "verify --quick (HEAD only) notices it too" 5 "$FERRY" verify --store "$MURL" --ref app/main --quick
"${AWS[@]}" s3 cp "$SRC/lib/m7.js" "${MURL}lib/m7.js" >/dev/null 2>&1
expect_exit "an object uploaded with aws s3 cp is verified by Ferry" 0 "$FERRY" verify --store "$MURL" --ref app/main
expect_exit "  ... while --quick flags it as not written by Ferry" 5 "$FERRY" verify --store "$MURL" --ref app/main --quick
check "  ... and says to run the full verify" grep -q "run verify without --quick" "$W/err"
expect_exit "a re-push puts Ferry's own copy back" 0 "$FERRY" push "$SRC" --to "$MURL" --ref app/main --json
check "  ... sending only that file" test "$(json .objects_put)" = 1
expect_exit "verify --quick on an intact mirror" 0 "$FERRY" verify --store "$MURL" --ref app/main --quick --json
check "  ... reports present, not verified, and reads no byte" test "$(json .status) $(json .bytes_checked)" = "present 0"
expect_exit "asking for the other layout on an existing mirror" 2 "$FERRY" push "$SRC" --to "$MURL" --layout store
MBEFORE=$("${AWS[@]}" s3 ls --recursive "$MURL" | md5sum)
expect_exit "a wrong secret key on the mirror" 11 env AWS_SECRET_ACCESS_KEY=wrong-secret "$FERRY" push "$SRC" --to "$MURL" --ref app/main
check "  ... leaves the mirror unchanged" test "$("${AWS[@]}" s3 ls --recursive "$MURL" | md5sum)" = "$MBEFORE"
check "no multipart upload is left behind" test -z "$("${AWS[@]}" s3api list-multipart-uploads --bucket "$BUCKET" | jq -r '.Uploads // [] | .[].Key')"
rm -f "$SRC/lib/empty.txt"

echo "# server-side copies: renamed and duplicated files are not sent again"
CURL=s3://$BUCKET/copy/
mkdir -p "$W/csrc"
head -c 300000 /dev/urandom >"$W/csrc/a.so"
head -c 200000 /dev/urandom >"$W/csrc/r.so"
expect_exit "a first build" 0 "$FERRY" push "$W/csrc" --to "$CURL" --ref app/main --json
mv "$W/csrc/r.so" "$W/csrc/renamed.so"
cp "$W/csrc/a.so" "$W/csrc/dup.so"
expect_exit "a build with a renamed and a duplicated file (--server-copy always)" 0 "$FERRY" push "$W/csrc" --to "$CURL" --ref app/main --server-copy always --json
check "  ... both are copied server-side, nothing is sent" test "$(json .objects_copied) $(json .bytes_copied) $(json .bytes_sent)" = "2 500000 0"
mv "$W/csrc/renamed.so" "$W/csrc/renamed2.so"
expect_exit "another rename, --server-copy auto (the default)" 0 "$FERRY" push "$W/csrc" --to "$CURL" --ref app/main --json
check "  ... a file under 1 MiB is sent, not copied (one PUT, no HEADs), and the PUT's ETag proves it" test "$(json .objects_copied) $(json .bytes_sent) $(json .objects_checked_by_put)" = "0 200000 1"
head -c 300000 /dev/zero | "${AWS[@]}" s3 cp - "${CURL}a.so" >/dev/null 2>&1
cp "$W/csrc/a.so" "$W/csrc/dup2.so"
expect_exit "a build after a.so was replaced in the bucket behind Ferry's back" 0 "$FERRY" push "$W/csrc" --to "$CURL" --ref app/main --json
check "  ... nothing is copied from the replaced object: a.so and dup2.so are sent" test "$(json .objects_copied) $(json .bytes_sent)" = "0 600000"
expect_exit "  ... and every object verifies" 0 "$FERRY" verify --store "$CURL" --ref app/main

echo "# a changed large file: unchanged runs are copied server-side (UploadPartCopy), only changed parts sent"
PURL=s3://$BUCKET/partcopy/
mkdir -p "$W/psrc"
head -c $((40 << 20)) /dev/urandom >"$W/psrc/big.bin"
expect_exit "a first build with a 40 MiB artifact" 0 "$FERRY" push "$W/psrc" --to "$PURL" --ref app/main
printf 'Z%.0s' $(seq 1 4096) | dd of="$W/psrc/big.bin" bs=1 seek=$((20 << 20)) conv=notrunc status=none
expect_exit "a build that changed 4 KiB in its middle" 0 "$FERRY" push "$W/psrc" --to "$PURL" --ref app/main --json
check "  ... sends at most 12 MiB and copies the rest (at least 28 MiB, 2+ parts) server-side" \
  test "$(json .bytes_sent)" -le $((12 << 20)) -a "$(json .bytes_copied)" -ge $((28 << 20)) -a "$(json .parts_copied)" -ge 2 -a "$(($(json .bytes_sent) + $(json .bytes_copied)))" = $((40 << 20))
"${AWS[@]}" s3 cp "${PURL}big.bin" "$W/pc.dl" >/dev/null 2>&1
check "  ... and aws s3 cp downloads it byte-identical" cmp -s "$W/psrc/big.bin" "$W/pc.dl"
{ head -c $((10 << 20)) "$W/psrc/big.bin"; head -c 100 /dev/urandom; tail -c +$(((10 << 20) + 1)) "$W/psrc/big.bin"; } >"$W/pc.new"
mv "$W/pc.new" "$W/psrc/big.bin"
expect_exit "a build with 100 bytes inserted (every later byte shifted)" 0 "$FERRY" push "$W/psrc" --to "$PURL" --ref app/main --json
check "  ... still copies the shifted runs (content-defined chunks): at most 12 MiB sent" \
  test "$(json .bytes_sent)" -le $((12 << 20)) -a "$(json .bytes_copied)" -ge $((28 << 20))
"${AWS[@]}" s3 cp "${PURL}big.bin" "$W/pc.dl" >/dev/null 2>&1
check "  ... byte-identical" cmp -s "$W/psrc/big.bin" "$W/pc.dl"
expect_exit "  ... and verifies (ranged GETs, rehash)" 0 "$FERRY" verify --store "$PURL" --ref app/main
head -c $(stat -c %s "$W/psrc/big.bin") /dev/zero | "${AWS[@]}" s3 cp - "${PURL}big.bin" >/dev/null 2>&1
printf 'Y%.0s' $(seq 1 4096) | dd of="$W/psrc/big.bin" bs=1 seek=$((30 << 20)) conv=notrunc status=none
expect_exit "a build after the old object was replaced behind Ferry's back" 0 "$FERRY" push "$W/psrc" --to "$PURL" --ref app/main --json
check "  ... copies nothing from it (the copied parts' MD5s differ): the file is sent whole" \
  test "$(json .bytes_copied)" = 0 -a "$(json .bytes_sent)" -ge "$(stat -c %s "$W/psrc/big.bin")"
"${AWS[@]}" s3 cp "${PURL}big.bin" "$W/pc.dl" >/dev/null 2>&1
check "  ... byte-identical" cmp -s "$W/psrc/big.bin" "$W/pc.dl"
check "  ... no multipart upload left behind" test -z "$("${AWS[@]}" s3api list-multipart-uploads --bucket "$BUCKET" --prefix partcopy/ | jq -r '.Uploads // [] | .[].Key')"

echo "# a build in a new prefix (--meta-prefix): what the previous build's prefix holds is copied, not sent"
mkdir -p "$W/vsrc/lib"
head -c $((40 << 20)) /dev/urandom >"$W/vsrc/app.bin"
for i in 1 2 3; do head -c 100000 /dev/urandom >"$W/vsrc/lib/m$i.so"; done
META=(--meta-prefix ferry-meta/)
expect_exit "push build 1.0.0 to its own prefix" 0 "$FERRY" "${META[@]}" push "$W/vsrc" --to "s3://$BUCKET/rel/app/1.0.0/" --ref app/release --json
check "  ... no .ferry/ inside the build's prefix: manifests and refs are under ferry-meta/" \
  test -z "$("${AWS[@]}" s3 ls "s3://$BUCKET/rel/app/1.0.0/.ferry/")" -a -n "$("${AWS[@]}" s3 ls "s3://$BUCKET/ferry-meta/refs/app%2Frelease")"
printf 'Z%.0s' $(seq 1 4096) | dd of="$W/vsrc/app.bin" bs=1 seek=$((20 << 20)) conv=notrunc status=none
mv "$W/vsrc/lib/m3.so" "$W/vsrc/lib/renamed.so"
expect_exit "push build 1.0.1 (4 KiB changed in app.bin, a library renamed) to a new prefix" 0 "$FERRY" "${META[@]}" push "$W/vsrc" --to "s3://$BUCKET/rel/app/1.0.1/" --ref app/release --json
check "  ... sends at most 12 MiB: the rest is part-copied from 1.0.0 (the small files are sent)" \
  test "$(json .bytes_sent)" -le $((12 << 20)) -a "$(json .objects_copied)" = 0 -a "$(json .parts_copied)" -ge 2
mkdir -p "$W/v101"
"${AWS[@]}" s3 cp --recursive "s3://$BUCKET/rel/app/1.0.1/" "$W/v101" >/dev/null 2>&1
check "  ... and aws s3 cp downloads 1.0.1 byte-identical" diff -r "$W/vsrc" "$W/v101"
expect_exit "verify --all reads both builds from their own prefixes" 0 "$FERRY" "${META[@]}" verify --store "s3://$BUCKET/rel/app/1.0.1/" --all --json
check "  ... two manifests, every byte" test "$(json '.manifests | length')" = 2 -a "$(json .bytes_checked)" = $((2 * (40 << 20) + 6 * 100000))
expect_exit "restore the release ref" 0 "$FERRY" "${META[@]}" restore app/release --from "s3://$BUCKET/rel/app/1.0.1/" --to "$W/vrestored"
check "  ... byte-identical" diff -r "$W/vsrc" "$W/vrestored"
sleep 2.2  # past the stat cache's racy margin
expect_exit "push the same tree as 1.0.2 (the stat cache knows every file)" 0 "$FERRY" "${META[@]}" push "$W/vsrc" --to "s3://$BUCKET/rel/app/1.0.2/" --ref app/release --json
check "  ... sends only the small files (under 1 MiB: sending beats a copy), the large one part-copied from its bytes" \
  test "$(json .bytes_sent) $(json .objects_copied)" = "300000 0" -a "$(json .parts_copied)" -ge 1 -a "$(json .bytes_copied)" = "$(stat -c %s "$W"/vsrc/app.bin)"
expect_exit "a --tag key starting with ferry. is refused" 2 "$FERRY" push "$W/vsrc" --to "s3://$BUCKET/rel/x/" --tag ferry.mirror=s3://elsewhere/

echo "# stat cache on a mirror: untouched files are not read, their objects still checked"
SURL=s3://$BUCKET/statcache/
mkdir -p "$W/ssrc"
head -c $((9 << 20)) /dev/urandom >"$W/ssrc/big.bin"
for i in 1 2 3; do echo "file $i" >"$W/ssrc/f$i.txt"; done
expect_exit "a first push" 0 "$FERRY" push "$W/ssrc" --to "$SURL" --ref app/main
sleep 2.2  # past the racy margin
expect_exit "a second push (fills the stat cache)" 0 "$FERRY" push "$W/ssrc" --to "$SURL" --ref app/main
expect_exit "a third push" 0 "$FERRY" push "$W/ssrc" --to "$SURL" --ref app/main --json
check "  ... reads no file, sends nothing, HEAD-checks all 4 objects" test "$(json .files_cached) $(json .bytes_read) $(json .bytes_sent) $(json .files_unchanged)" = "4 0 0 4"
"${AWS[@]}" s3 rm "${SURL}f2.txt" >/dev/null 2>&1
"${AWS[@]}" s3 rm "${SURL}big.bin" >/dev/null 2>&1
expect_exit "a push after two objects were deleted from the bucket" 0 "$FERRY" push "$W/ssrc" --to "$SURL" --ref app/main --json
check "  ... reads and sends exactly those two again" test "$(json .objects_put) $(json .bytes_sent) $(json .files_unchanged)" = "2 $(((9 << 20) + 7)) 2"
"${AWS[@]}" s3 cp "${SURL}big.bin" "$W/big.dl" >/dev/null 2>&1
check "  ... byte-identical in the bucket" cmp -s "$W/ssrc/big.bin" "$W/big.dl"
expect_exit "  ... and the mirror verifies" 0 "$FERRY" verify --store "$SURL" --ref app/main

echo "# several destinations in one run: primary bucket, DR bucket, local store"
expect_exit "push to two mirrors and a local store at once" 0 "$FERRY" push "$SRC" --to "s3://$BUCKET/primary/" --to "s3://$BUCKET/dr/" --to "$W/local-store" --ref app/main --json
check "  ... every destination recorded every file" test "$(json .files)" = 51 -a "$(json '[.destinations[] | .status] | unique | join(",")')" = ok -a "$(json '.destinations | length')" = 3
check "  ... the same build recorded everywhere" test "$(json '[.destinations[] | .manifest] | unique | length')" = 1
expect_exit "  ... the primary verifies" 0 "$FERRY" verify --store "s3://$BUCKET/primary/" --ref app/main
expect_exit "  ... the DR copy verifies" 0 "$FERRY" verify --store "s3://$BUCKET/dr/" --ref app/main
expect_exit "  ... the local store verifies" 0 "$FERRY" verify --store "$W/local-store" --ref app/main
expect_exit "one unreachable destination fails the run before anything is read" 4 "$FERRY" push "$SRC" --to "$W/local-store2" --to "s3://no-such-bucket-$RANDOM/x/" --ref app/main
check "  ... and records nothing in the others" test ! -e "$W/local-store2/refs/app%2Fmain"

echo "# a source error never replaces DR data"
mkdir -p "$W/unread/src"
echo "v1" >"$W/unread/src/ok.txt"
echo "v1" >"$W/unread/src/locked.bin"
expect_exit "a first push of the tree" 0 "$FERRY" push "$W/unread/src" --to "s3://$BUCKET/unread/" --ref app/main
echo "v2, not to be sent while the push fails" >"$W/unread/src/ok.txt"
chmod 000 "$W/unread/src/locked.bin"
chmod 755 "$W" "$W/unread" "$W/unread/src"
chmod 644 "$W/unread/src/ok.txt"
expect_exit "an unreadable file fails a mirror push" 3 setpriv --reuid=65534 --regid=65534 --clear-groups "$FERRY" push "$W/unread/src" --to "s3://$BUCKET/unread/" --ref app/main
check "  ... before any object was overwritten" test "$("${AWS[@]}" s3 cp "s3://$BUCKET/unread/ok.txt" - 2>/dev/null)" = v1
expect_exit "  ... and the mirror still verifies against its last build" 0 "$FERRY" verify --store "s3://$BUCKET/unread/" --ref app/main

echo "# a full bucket quota"
if [ -n "${RGW_CONF:-}" ]; then
  QB=ferry-quota-$RANDOM$RANDOM
  "${AWS[@]}" s3 mb "s3://$QB" >/dev/null
  radosgw-admin -c "$RGW_CONF" -n client.admin quota set --quota-scope=bucket --bucket="$QB" --max-size=1048576 >/dev/null
  radosgw-admin -c "$RGW_CONF" -n client.admin quota enable --quota-scope=bucket --bucket="$QB" >/dev/null
  expect_exit "a push that does not fit the quota" 10 "$FERRY" push "$SRC" --to "s3://$QB/app/" --ref app/main
  check "  ... says so and names the fix" grep -q "QuotaExceeded; raise the bucket quota" "$W/err"
  check "  ... and records no build" test -z "$("${AWS[@]}" s3 ls --recursive "s3://$QB/app/.ferry/refs/" 2>/dev/null)"
  "${AWS[@]}" s3 rb --force "s3://$QB" >/dev/null 2>&1
else
  bad "RGW_CONF is not set: the quota test needs tools/test.sh's RGW"
fi

echo "# kill -9 during a multipart upload, then the same command again"
mkdir -p "$W/huge"
head -c 1500000000 /dev/urandom >"$W/huge/huge.bin"
RURL=s3://$BUCKET/resume/
"$FERRY" push "$W/huge" --to "$RURL" --ref app/main --no-progress >/dev/null 2>&1 &
PID=$!
PARTS=0
for _ in $(seq 1 200); do  # up to a minute: a loaded machine starts slowly
  sleep 0.3
  UP=$("${AWS[@]}" s3api list-multipart-uploads --bucket "$BUCKET" --prefix resume/huge.bin 2>/dev/null | jq -r '.Uploads[0].UploadId // empty')
  [ -n "$UP" ] || continue
  PARTS=$("${AWS[@]}" s3api list-parts --bucket "$BUCKET" --key resume/huge.bin --upload-id "$UP" 2>/dev/null | jq '.Parts | length')
  [ "${PARTS:-0}" -ge 3 ] && break
done
kill -9 $PID 2>/dev/null
wait $PID 2>/dev/null
check "the push was killed part way ($PARTS parts uploaded)" test "${PARTS:-0}" -ge 3
expect_exit "the re-run completes" 0 "$FERRY" push "$W/huge" --to "$RURL" --ref app/main --json
check "  ... continuing the same upload: kept parts re-verified, only the rest sent" test "$(json .bytes_resumed)" -gt 0 -a "$(json .bytes_sent)" -lt 1500000000 -a "$(( $(json .bytes_resumed) + $(json .bytes_sent) ))" = 1500000000
check "  ... and says so" grep -q "resuming the interrupted upload" "$W/err"
expect_exit "the resumed object verifies byte for byte" 0 "$FERRY" verify --store "$RURL" --ref app/main
check "no multipart upload is left behind after the resume" test -z "$("${AWS[@]}" s3api list-multipart-uploads --bucket "$BUCKET" | jq -r '.Uploads // [] | .[].Key')"
rm -rf "$W/huge"

echo "# store layout in the bucket (--layout store)"
expect_exit "push to s3:// with --layout store" 0 "$FERRY" push "$SRC" --to "$URL" --layout store --ref app/main --tag commit=abc --json
check "every file was stored" test "$(json .files)" = 51 -a "$(json '.destinations[0].layout')" = store -a "$(json .bytes_new)" = "$(json .bytes_read)"
M=$(json .manifest)
expect_exit "verify on s3:// rehashes every chunk" 0 "$FERRY" verify --store "$URL" --ref app/main --json
check "  ... every byte" test "$(json .bytes_checked)" = "$(cat "$SRC"/bin/app "$SRC"/lib/* | wc -c)"
expect_exit "restore from s3://" 0 "$FERRY" restore app/main --from "$URL" --to "$W/restored"
check "restored tree is byte-identical" diff -r --no-dereference "$SRC" "$W/restored"
expect_exit "second push of the same tree" 0 "$FERRY" push "$SRC" --to "$URL" --ref app/main --json
check "sends no chunk bytes" test "$(json .bytes_new)" = 0 -a "$(json .bytes_stored)" = 0

echo "# interoperability with aws s3 cp"
"${AWS[@]}" s3 cp "${URL}manifests/$M" "$W/manifest.bin" >/dev/null 2>&1
check "the manifest downloaded with aws s3 cp hashes to its name" test "$(sha256sum "$W/manifest.bin" | cut -d' ' -f1)" = "$M"
"${AWS[@]}" s3 cp "${URL}refs/app%2Fmain" "$W/ref" >/dev/null 2>&1
check "the ref downloaded with aws s3 cp names the latest manifest" test "$(cat "$W/ref")" = "$(json .manifest)"

echo "# damage is found and named"
CHUNK=$("${AWS[@]}" s3 ls --recursive "s3://$BUCKET/app/1.4.2/chunks/" 2>/dev/null | awk '$3 > 1000 {print $4; exit}')
"${AWS[@]}" s3 cp "s3://$BUCKET/$CHUNK" "$W/chunk" >/dev/null 2>&1
printf 'XXXX' | dd of="$W/chunk" bs=1 seek=100 conv=notrunc status=none
"${AWS[@]}" s3 cp "$W/chunk" "s3://$BUCKET/$CHUNK" >/dev/null 2>&1
expect_exit "verify finds a chunk damaged in the bucket" 5 "$FERRY" verify --store "$URL" --all --json
check "  ... and names it and its file" test "$(json '.chunk_problems[0].chunk')" = "$(basename "$CHUNK")" -a "$(json '.chunk_problems[0].files[0]' | cut -d' ' -f1)" = bin/app
expect_exit "restore refuses to write the damaged file" 5 "$FERRY" restore app/main --from "$URL" --to "$W/out2"
check "  ... and leaves no bin/app behind" test ! -e "$W/out2/bin/app"
expect_exit "the damage stays reported until it is repaired" 5 "$FERRY" verify --store "$URL" --ref app/main

echo "# small files into packs in the bucket (--layout store)"
PURL=s3://$BUCKET/packs/
mkdir -p "$W/small"
for i in $(seq 1 500); do head -c $((1000 + i)) /dev/urandom >"$W/small/f$i.bin"; done
expect_exit "push 500 small files to s3:// --layout store" 0 "$FERRY" push "$W/small" --to "$PURL" --layout store --ref small/main --json
check "  ... one pack and its index: 2 chunk PUTs, not 500" test "$(json .packs_written)" = 1 -a "$(json .chunks_new)" = 500 -a "$("${AWS[@]}" s3 ls --recursive "${PURL}" | grep -c -E ' packs/(packs|index)/')" = 2 -a "$("${AWS[@]}" s3 ls --recursive "${PURL}chunks/" | wc -l)" = 0
expect_exit "  ... restore (ranged GETs of the blobs)" 0 "$FERRY" restore small/main --from "$PURL" --to "$W/small-out"
check "  ... byte-identical" diff -r "$W/small" "$W/small-out"
PK=$("${AWS[@]}" s3 ls --recursive "${PURL}packs/" | awk '{print $4; exit}')
"${AWS[@]}" s3 cp "s3://$BUCKET/$PK" "$W/pack" >/dev/null 2>&1
printf 'XX' | dd of="$W/pack" bs=1 seek=10 conv=notrunc status=none
"${AWS[@]}" s3 cp "$W/pack" "s3://$BUCKET/$PK" >/dev/null 2>&1
expect_exit "verify finds the damaged blob in the bucket" 5 "$FERRY" verify --store "$PURL" --all --json
check "  ... one chunk of one file, set aside under damaged/" test "$(json '.chunk_problems | length')" = 1 -a "$(json '.chunk_problems[0].files | length')" = 1 -a "$(json '.chunk_problems[0].moved_aside')" = true -a "$("${AWS[@]}" s3 ls --recursive "${PURL}damaged/" | wc -l)" = 1
expect_exit "push repairs it" 0 "$FERRY" push "$W/small" --to "$PURL" --ref small/main --json
check "  ... one chunk in a new pack" test "$(json .chunks_new)" = 1 -a "$(json .packs_written)" = 1
expect_exit "  ... and the bucket verifies" 0 "$FERRY" verify --store "$PURL" --all

echo "# failures are clean and change nothing"
BEFORE=$("${AWS[@]}" s3 ls --recursive "s3://$BUCKET/" | md5sum)
expect_exit "a wrong secret key" 11 env AWS_SECRET_ACCESS_KEY=wrong-secret "$FERRY" push "$SRC" --to "$URL" --ref app/main
check "  ... names the fix and shows no secret" bash -c "grep -q 'HTTP 403; check AWS_ACCESS_KEY_ID' '$W/err' && ! grep -q wrong-secret '$W/err'"
check "  ... and the bucket is unchanged" test "$("${AWS[@]}" s3 ls --recursive "s3://$BUCKET/" | md5sum)" = "$BEFORE"
expect_exit "an unknown bucket" 4 "$FERRY" push "$SRC" --to "s3://no-such-bucket-$RANDOM/x/" --ref app/main
check "  ... says to create it" grep -q "create the bucket" "$W/err"
expect_exit "an unreachable endpoint" 4 "$FERRY" verify --store "$URL" --all --endpoint-url http://127.0.0.1:1
expect_exit "no credentials at all" 11 env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$W" "$FERRY" verify --store "$URL" --all
"${AWS[@]}" s3 cp "$SRC/lib/m1.js" "s3://$BUCKET/not-a-store/file.js" >/dev/null 2>&1
expect_exit "a non-empty prefix that is not a store is refused" 4 "$FERRY" push "$SRC" --to "s3://$BUCKET/not-a-store/"
AWS_SHARED_CREDENTIALS_FILE=$W/credentials
printf '[dr]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$AWS_SHARED_CREDENTIALS_FILE"
expect_exit "credentials from a named profile (AWS_PROFILE)" 0 env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_PROFILE=dr AWS_SHARED_CREDENTIALS_FILE="$AWS_SHARED_CREDENTIALS_FILE" "$FERRY" push "$SRC/lib" --to "s3://$BUCKET/profile/" --json

echo "# Content-Type of mirror objects: from the extension, overridable"
mkdir -p "$W/site/charts"
echo "<html></html>" >"$W/site/index.html"
echo "x" >"$W/site/app.js"
echo "apiVersion: v1" >"$W/site/charts/index.yaml"
echo "tpl" >"$W/site/page.tpl"
head -c 1000 /dev/urandom >"$W/site/blob"
expect_exit "push a static site" 0 "$FERRY" push "$W/site" --to "s3://$BUCKET/site/" --content-type '*.tpl=text/plain'
ctype() { "${AWS[@]}" s3api head-object --bucket "$BUCKET" --key "site/$1" --query ContentType --output text 2>/dev/null; }
check "  ... index.html is text/html" test "$(ctype index.html)" = text/html
check "  ... charts/index.yaml is application/yaml (a Helm repo)" test "$(ctype charts/index.yaml)" = application/yaml
check "  ... page.tpl as the override says" test "$(ctype page.tpl)" = text/plain
check "  ... an unknown kind is application/octet-stream" test "$(ctype blob)" = application/octet-stream
expect_exit "--content-type without =TYPE is a usage error" 2 "$FERRY" push "$W/site" --to "s3://$BUCKET/site2/" --content-type '*.tpl'

echo "# --bwlimit: one limit over all parallel transfers (rates measured in docs/performance.md, not asserted)"
mkdir -p "$W/bw" && head -c $((12 << 20)) /dev/urandom >"$W/bw/big.bin"
expect_exit "push with --bwlimit 32M" 0 "$FERRY" --bwlimit 32M push "$W/bw" --to "s3://$BUCKET/bw/" --ref bw/main
expect_exit "  ... verify with a download limit" 0 "$FERRY" --bwlimit 0:32M verify --store "s3://$BUCKET/bw/" --ref bw/main
"${AWS[@]}" s3 cp "s3://$BUCKET/bw/big.bin" "$W/bw.dl" >/dev/null 2>&1
check "  ... byte-identical" cmp -s "$W/bw/big.bin" "$W/bw.dl"
expect_exit "a malformed --bwlimit is a usage error" 2 "$FERRY" --bwlimit fast push "$W/bw" --to "s3://$BUCKET/bw2/"

echo "# push --dry-run to a mirror: HEAD requests only, and a plan the push then follows"
mkdir -p "$W/dm/lib"
head -c $((20 << 20)) /dev/urandom >"$W/dm/big.bin"
head -c 300000 /dev/urandom >"$W/dm/lib/a.so"
echo one >"$W/dm/lib/one.txt"
listing() { "${AWS[@]}" s3api list-objects-v2 --bucket "$BUCKET" --prefix "$1" --query 'Contents[].[Key,ETag,Size]' --output text; }
expect_exit "dry run into an empty prefix" 0 "$FERRY" push "$W/dm" --to "s3://$BUCKET/dm/" --ref dm/main --dry-run --json
check "  ... would upload all three files" test "$(json .objects_put)" = 3 -a "$(json .bytes_sent)" = "$(json .bytes_read)"
check "  ... and wrote nothing, not even the store marker" test -z "$(listing dm/)" -o "$(listing dm/)" = None
expect_exit "push for real" 0 "$FERRY" push "$W/dm" --to "s3://$BUCKET/dm/" --ref dm/main
# A change near the end of the large file, a rename, a duplicate of an uploaded file.
python3 -c "import sys; f = open(sys.argv[1], 'r+b'); f.seek(19 << 20); f.write(b'x' * 4096)" "$W/dm/big.bin"
mv "$W/dm/lib/a.so" "$W/dm/lib/b.so"
cp "$W/dm/lib/one.txt" "$W/dm/lib/one-again.txt"
listing "" >"$W/dm-before"
expect_exit "dry run after the changes" 0 "$FERRY" push "$W/dm" --to "s3://$BUCKET/dm/" --ref dm/main -n --server-copy always --json
plan() { jq -r "[.destinations[0].planned[] | select(.action == \"$1\") | .path] | sort | join(\",\")" "$W/out"; }
check "  ... big.bin uploaded in part, part-copied from its earlier object" test "$(plan upload)" = big.bin -a "$(json '.destinations[0].planned[] | select(.path == "big.bin") | .bytes_copied')" -ge $((15 << 20))
check "  ... the renamed and the duplicated file copied server-side" test "$(plan copy)" = "lib/b.so,lib/one-again.txt"
check "  ... the untouched one unchanged" test "$(plan unchanged)" = lib/one.txt
dry=$(jq -c '[.objects_put, .objects_copied, .parts_copied, .bytes_sent, .bytes_copied, .files_unchanged]' "$W/out")
listing "" >"$W/dm-after"
check "  ... not one object of the bucket changed" cmp -s "$W/dm-before" "$W/dm-after"
expect_exit "the real push" 0 "$FERRY" push "$W/dm" --to "s3://$BUCKET/dm/" --ref dm/main --server-copy always --json
check "  ... did what the dry run said ($dry)" test "$(jq -c '[.objects_put, .objects_copied, .parts_copied, .bytes_sent, .bytes_copied, .files_unchanged]' "$W/out")" = "$dry"

echo "# list, don't HEAD: a re-push of many unchanged files checks them with one listing"
mkdir -p "$W/many"
for i in $(seq 1 150); do echo "file $i" >"$W/many/f$i.txt"; done
"$FERRY" push "$W/many" --to "s3://$BUCKET/many/" --ref many -q
expect_exit "re-push of 150 unchanged files" 0 "$FERRY" push "$W/many" --to "s3://$BUCKET/many/" --ref many --json
check "  ... all found by the listing, none sent" test "$(json '[.files_unchanged, .files_checked_by_listing, .objects_put] | join(",")')" = 150,150,0
echo "file 8" >"$W/other7"  # same size as "file 7", other bytes, written behind Ferry's back
"${AWS[@]}" s3 cp "$W/other7" "s3://$BUCKET/many/f7.txt" >/dev/null
expect_exit "  ... an object replaced behind Ferry's back (same size)" 0 "$FERRY" push "$W/many" --to "s3://$BUCKET/many/" --ref many --json
check "  ... is not taken from the listing (other ETag): HEADed and sent again" test "$(json '[.files_checked_by_listing, .objects_put] | join(",")')" = 149,1
"${AWS[@]}" s3 cp "s3://$BUCKET/many/f7.txt" "$W/back7" >/dev/null
check "  ... and is the file again" cmp -s "$W/many/f7.txt" "$W/back7"
expect_exit "verify --quick of the 150 objects" 0 "$FERRY" verify --store "s3://$BUCKET/many/" --ref many --quick --json
check "  ... answered by the listing, no HEAD each" test "$(json .status) $(json .checked_by_listing)" = "present 150"
echo "file 9" >"$W/other8"
"${AWS[@]}" s3 cp "$W/other8" "s3://$BUCKET/many/f8.txt" >/dev/null
expect_exit "verify --quick after an object was replaced (same size)" 5 "$FERRY" verify --store "s3://$BUCKET/many/" --ref many --quick --json
check "  ... names it (HEADed: its SHA-256 metadata is gone)" test "$(json '.chunk_problems | length') $(json '.chunk_problems[0].files[0]') $(json .checked_by_listing)" = "1 f8.txt 149"

echo "# prune --sweep-abandoned: unfinished multipart uploads under the prefix"
UP=$("${AWS[@]}" s3api create-multipart-upload --bucket "$BUCKET" --key many/left-behind.bin --query UploadId --output text)
"${AWS[@]}" s3api create-multipart-upload --bucket "$BUCKET" --key elsewhere/other.bin >/dev/null
uploads() { "${AWS[@]}" s3api list-multipart-uploads --bucket "$BUCKET" --prefix "$1" --query 'length(Uploads || `[]`)' --output text; }
expect_exit "--sweep-abandoned --dry-run (the upload is fresh: default 24h)" 0 \
  "$FERRY" prune --store "s3://$BUCKET/many/" --sweep-abandoned --dry-run --json
check "  ... finds nothing that young" test "$(json '.abandoned.found | length')" = 0
expect_exit "--sweep-abandoned --abandoned-after 0s --dry-run" 0 \
  "$FERRY" prune --store "s3://$BUCKET/many/" --sweep-abandoned --abandoned-after 0s --dry-run --json
check "  ... lists the upload under many/" test "$(json '.abandoned.found[0].what')" = "s3://$BUCKET/many/left-behind.bin (upload $UP)"
check "  ... and aborts nothing" test "$(uploads many/)" = 1
expect_exit "--sweep-abandoned --abandoned-after 0s" 0 \
  "$FERRY" prune --store "s3://$BUCKET/many/" --sweep-abandoned --abandoned-after 0s --json
check "  ... aborts it" test "$(uploads many/)" = 0
check "  ... and nothing outside the prefix" test "$(uploads elsewhere/)" = 1

"${AWS[@]}" s3 rb --force "s3://$BUCKET" >/dev/null 2>&1
finish e2e-s3

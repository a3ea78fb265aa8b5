#!/usr/bin/env bash
# End-to-end tests of `ferry audit`: a primary bucket against a DR bucket
# that Ferry did not write (filled by aws s3 sync, as CRR or rclone would),
# with planted differences; a local source; a read-only auditor (an RGW user
# whose bucket policies allow only Get and List); the DR-against-manifests
# mode. Needs S3_ENDPOINT and RGW_CONF (tools/test.sh).
# usage: e2e_audit.sh PATH/TO/ferry
set -uo pipefail
FERRY=$(realpath "$1")
if [ -z "${S3_ENDPOINT:-}" ]; then echo "e2e_audit: needs S3_ENDPOINT (run via tools/test.sh)"; exit 77; fi
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-e2e-audit-XXXXXX")
trap 'rm -rf "$W"' EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export AWS_ENDPOINT_URL=$S3_ENDPOINT FERRY_CACHE_DIR=$W/cache
AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT")
P=ferry-audit-p-$RANDOM$RANDOM
D=ferry-audit-d-$RANDOM$RANDOM
"${AWS[@]}" s3 mb "s3://$P" >/dev/null && "${AWS[@]}" s3 mb "s3://$D" >/dev/null || { echo "cannot create buckets"; exit 1; }

SRC=$W/src
mkdir -p "$SRC/lib" "$SRC/charts"
head -c $((12 << 20)) /dev/urandom >"$SRC/app.bin"
for i in 1 2 3 4 5; do echo "module $i" >"$SRC/lib/m$i.js"; done
echo "apiVersion: v1" >"$SRC/charts/index.yaml"
"${AWS[@]}" s3 sync "$SRC" "s3://$P/app/" >/dev/null
"${AWS[@]}" s3 sync "$SRC" "s3://$D/app/" >/dev/null
listing() { "${AWS[@]}" s3api list-objects-v2 --bucket "$1" --query 'Contents[].[Key,ETag,Size]' --output text; }

echo "# a replica written by aws s3 sync, identical"
expect_exit "audit primary against DR" 0 "$FERRY" audit --source "s3://$P/app/" --against "s3://$D/app/" --json
check "  ... identical, every byte hashed on both sides" test "$(json .status)" = identical -a "$(json .identical)" = 7 -a "$(json .bytes_hashed_source)" = "$(json .bytes_hashed_dr)" -a "$(json .bytes_verified)" = $(( (12 << 20) + 5 * 9 + 15 ))
expect_exit "audit a local source against DR" 0 "$FERRY" audit --source "$SRC" --against "s3://$D/app/"
expect_exit "  ... named by a relative path" 0 bash -c "cd '$W' && '$FERRY' audit --source ./src/ --against 's3://$D/app/' --json"
check "  ... the report names it absolutely" test "$(json .source)" = "$(realpath "$SRC")"

echo "# planted differences: one deleted, one changed with the same size, one extra"
"${AWS[@]}" s3 rm "s3://$D/app/lib/m1.js" >/dev/null
echo "module X" >"$W/same-size"
"${AWS[@]}" s3 cp "$W/same-size" "s3://$D/app/lib/m2.js" >/dev/null
"${AWS[@]}" s3 cp "$W/same-size" "s3://$D/app/stale.txt" >/dev/null
listing "$D" >"$W/dr-before"
expect_exit "audit finds the differences" 5 "$FERRY" audit --source "s3://$P/app/" --against "s3://$D/app/" --json --junit "$W/audit.xml"
check "  ... exactly the three planted, each named" test "$(json '[.differences[] | "\(.kind):\(.path)"] | join(",")')" = "missing:lib/m1.js,different:lib/m2.js,extra:stale.txt"
check "  ... the changed one by its hashes (same size)" test "$(json '.differences[1].source_size == .differences[1].dr_size and .differences[1].source_sha256 != .differences[1].dr_sha256')" = true
check "  ... the rest identical" test "$(json .identical)" = 5 -a "$(json .status)" = differences
check "  ... each difference on stderr" test "$(grep -c '^ferry audit: \(missing\|different\|extra\): ' "$W/err")" = 3
check "  ... a failing JUnit case" grep -q "<failure" "$W/audit.xml"
listing "$D" >"$W/dr-after"
check "  ... and nothing written" cmp -s "$W/dr-before" "$W/dr-after"
"$FERRY" push "$SRC/lib" --to "$W/evidence" --ref any -q  # a Ferry store to keep evidence in
expect_exit "--evidence-to stores the report" 5 "$FERRY" audit --source "s3://$P/app/" --against "s3://$D/app/" --evidence-to "$W/evidence" --json
check "  ... the stored report is the printed one" test "$(jq -c .differences "$W/evidence/$(json .evidence)")" = "$(jq -c .differences "$W/out")"
listing "$D" >"$W/dr-after1"
check "  ... and the DR copy is still untouched" cmp -s "$W/dr-before" "$W/dr-after1"
expect_exit "--exclude leaves paths out on both sides" 0 "$FERRY" audit --source "s3://$P/app/" --against "s3://$D/app/" --exclude 'lib/m[12].js' --exclude stale.txt

echo "# a read-only auditor: bucket policies allow it only Get and List"
if [ -n "${RGW_CONF:-}" ]; then
  radosgw-admin -c "$RGW_CONF" -n client.admin user create --uid=auditor-$P --display-name=auditor \
    --access-key=AUDITOR$RANDOM$RANDOM --secret-key=auditorSecret$RANDOM$RANDOM >"$W/auditor.json" 2>/dev/null
  AK=$(jq -r '.keys[0].access_key' "$W/auditor.json") SK=$(jq -r '.keys[0].secret_key' "$W/auditor.json")
  for b in "$P" "$D"; do
    printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/auditor-%s"]},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::%s","arn:aws:s3:::%s/*"]}]}' "$P" "$b" "$b" >"$W/policy.json"
    "${AWS[@]}" s3api put-bucket-policy --bucket "$b" --policy "file://$W/policy.json"
  done
  RO=(env AWS_ACCESS_KEY_ID="$AK" AWS_SECRET_ACCESS_KEY="$SK")
  expect_exit "the auditor's keys cannot write" 11 "${RO[@]}" "$FERRY" push "$SRC" --to "s3://$D/other/"
  expect_exit "a read-only audit completes" 5 "${RO[@]}" "$FERRY" audit --source "s3://$P/app/" --against "s3://$D/app/" --json
  check "  ... with the same findings" test "$(json '.differences | length')" = 3 -a "$(json .read_only)" = true
  expect_exit "  ... and can keep its evidence elsewhere" 5 "${RO[@]}" "$FERRY" audit --source "s3://$P/app/" --against "s3://$D/app/" --evidence-to "$W/evidence" --json
  check "  ... two reports kept" test "$(ls "$W/evidence/audits" | wc -l)" = 2
  listing "$D" >"$W/dr-after2"
  check "  ... and wrote nothing" cmp -s "$W/dr-before" "$W/dr-after2"
else
  bad "RGW_CONF is not set: the read-only auditor test needs tools/test.sh's RGW"
fi

echo "# the DR copy against its own manifests (the source is gone)"
"$FERRY" push "$SRC" --to "s3://$D/ferry/" --ref app/main -q
expect_exit "audit --against a Ferry mirror --ref" 0 "$FERRY" audit --against "s3://$D/ferry/" --ref app/main --json
check "  ... every byte rehashed" test "$(json .status)" = verified -a "$(json .bytes_checked)" = $(( (12 << 20) + 5 * 9 + 15 ))
"$FERRY" key generate --out "$W/m.key" -q
expect_exit "  ... with its evidence stored and signed" 0 "$FERRY" audit --against "s3://$D/ferry/" --ref app/main --evidence-to "$W/evidence" --sign-key "$W/m.key" --json
check "  ... the report names its mode and who ran it" test "$(json .mode)" = dr-against-manifests -a "$(json .identity.access_key_id)" = "$AWS_ACCESS_KEY_ID" -a "$(json .evidence)" != null
expect_exit "  ... and the stored report verifies" 0 "$FERRY" key verify "$W/evidence/$(json .evidence)" --trust-key "$W/m.key.pub"
"${AWS[@]}" s3 cp "$W/same-size" "s3://$D/ferry/lib/m3.js" >/dev/null
expect_exit "  ... a changed object is found" 5 "$FERRY" audit --against "s3://$D/ferry/" --ref app/main
expect_exit "--ref with --source is a usage error" 2 "$FERRY" audit --source "$SRC" --against "s3://$D/ferry/" --ref app/main
expect_exit "a DR copy that does not exist is a store error" 4 "$FERRY" audit --source "$SRC" --against "$W/nope"
expect_exit "audit with neither --source nor --ref says what it takes" 2 "$FERRY" audit --against "s3://$D/ferry/"
check "  ... naming audit" grep -q "audit takes --source" "$W/err"
mkdir -p "$W/empty"
expect_exit "an empty source is refused, not identical" 3 "$FERRY" audit --source "$W/empty" --against "s3://$D/nothing-here/"
expect_exit "  ... unless --allow-empty" 0 "$FERRY" audit --source "$W/empty" --against "s3://$D/nothing-here/" --allow-empty
expect_exit "an unreadable source cannot complete" 3 "$FERRY" audit --source "$W/nope" --against "s3://$D/app/"

echo "# a Ferry mirror as the source: its recorded SHA-256s spare reading it again"
"$FERRY" push "$SRC" --to "s3://$P/fm/" --ref fm -q
"${AWS[@]}" s3 sync "s3://$P/fm/" "s3://$D/fm/" --exclude '.ferry/*' >/dev/null
ALL=$(( (12 << 20) + 5 * 9 + 15 ))
expect_exit "audit a Ferry mirror against its CRR-style copy" 0 "$FERRY" audit --source "s3://$P/fm/" --against "s3://$D/fm/" --json
check "  ... no source byte read, every DR byte hashed" test "$(json .objects_recorded_source)" = 7 -a "$(json .bytes_hashed_source)" = 0 -a "$(json .bytes_hashed_dr)" = $ALL -a "$(json .identical)" = 7
"${AWS[@]}" s3 cp "$W/same-size" "s3://$D/fm/lib/m4.js" >/dev/null
expect_exit "  ... a DR object changed with the same size is still found" 5 "$FERRY" audit --source "s3://$P/fm/" --against "s3://$D/fm/" --json
check "  ... by its hash" test "$(json '[.differences[] | "\(.kind):\(.path)"] | join(",")')" = "different:lib/m4.js"
"${AWS[@]}" s3 cp "$W/same-size" "s3://$P/fm/lib/m4.js" >/dev/null  # the primary rewritten outside Ferry
expect_exit "  ... a source object rewritten since (new ETag) is read, not taken from the record" 0 "$FERRY" audit --source "s3://$P/fm/" --against "s3://$D/fm/" --json
check "  ... that one only" test "$(json .objects_recorded_source)" = 6 -a "$(json .bytes_hashed_source)" = 9
expect_exit "--reread-source reads every source object" 0 "$FERRY" audit --source "s3://$P/fm/" --against "s3://$D/fm/" --reread-source --json
check "  ... all of them" test "$(json .objects_recorded_source)" = 0 -a "$(json .bytes_hashed_source)" = $ALL

echo "# coverage in bounded runs: --budget and --cycle, by the read-only auditor"
mkdir -p "$W/cov"
for i in 1 2 3 4 5 6; do head -c $((1 << 20)) /dev/urandom >"$W/cov/obj$i.bin"; done
"${AWS[@]}" s3 sync "$W/cov" "s3://$P/cov/" >/dev/null
"${AWS[@]}" s3 sync "$W/cov" "s3://$D/cov/" >/dev/null
AUD=(env AWS_ACCESS_KEY_ID="${AK:-$AWS_ACCESS_KEY_ID}" AWS_SECRET_ACCESS_KEY="${SK:-$AWS_SECRET_ACCESS_KEY}" "$FERRY" audit --source "s3://$P/cov/" --against "s3://$D/cov/" --evidence-to "$W/evidence")
expect_exit "--budget without --evidence-to says where the cursor goes" 2 "$FERRY" audit --source "s3://$P/cov/" --against "s3://$D/cov/" --budget 2MiB
check "  ... naming --evidence-to" grep -q "add --evidence-to" "$W/err"
expect_exit "--budget that is neither bytes nor a duration" 2 "${AUD[@]}" --budget 2X
listing "$D" >"$W/dr-cov-before"
for run in 1 2 3; do
  expect_exit "budget run $run of 3" 0 "${AUD[@]}" --budget 2MiB --json
  check "  ... hashed 2 of the 6 objects, a third of the bytes" test "$(json .bytes_hashed_source)" = $((2 << 20)) -a "$(json .coverage.objects_verified)" = 2 -a "$(json .coverage.fraction_this_run)" = 0.3333333333333333
  check "  ... and says how many were never verified" test "$(json .coverage.never_verified_objects)" = $((6 - 2 * run))
  check "  ... 'no-differences', not 'identical': not every object was hashed" test "$(json .status)" = no-differences
done
CURSOR=$W/evidence/$(json .coverage.cursor)
check "the three runs together verified every object" test "$(jq '[.objects[] | .[1] > 0] | all and length == 6' "$CURSOR")" = true
check "  ... each by its own run (no object taken twice)" test "$(jq '[.objects[] | .[1]] | unique | length' "$CURSOR")" = 3
listing "$D" >"$W/dr-cov-after"
check "  ... and the DR copy is untouched" cmp -s "$W/dr-cov-before" "$W/dr-cov-after"
head -c $((1 << 20)) /dev/urandom >"$W/other"
"${AWS[@]}" s3 cp "$W/other" "s3://$D/cov/obj3.bin" >/dev/null  # same size, other bytes, new ETag
"${AWS[@]}" s3 rm "s3://$D/cov/obj6.bin" >/dev/null
expect_exit "a budgeted run still lists everything, and takes a rewritten object first" 5 "${AUD[@]}" --budget 1MiB --json
check "  ... the deleted one and the rewritten one" test "$(json '[.differences[] | "\(.kind):\(.path)"] | join(",")')" = "different:obj3.bin,missing:obj6.bin"
"${AWS[@]}" s3 cp "$W/cov/obj3.bin" "s3://$D/cov/obj3.bin" >/dev/null
"${AWS[@]}" s3 cp "$W/cov/obj6.bin" "s3://$D/cov/obj6.bin" >/dev/null
sleep 1
expect_exit "--cycle 1s: every object is due, taken beyond the budget" 0 "${AUD[@]}" --budget 1MiB --cycle 1s --json
check "  ... all six hashed" test "$(json .coverage.objects_verified)" = 6 -a "$(json .coverage.fraction_within_cycle)" = 1
check "  ... and the budget overrun said" test "$(json .coverage.cycle_over_budget)" = true
check "  ... on stderr too" grep -q "raise the budget or run more often" "$W/err"
"$FERRY" key generate --out "$W/audit.key" -q
expect_exit "a signed audit, its evidence stored" 0 "${AUD[@]}" --budget 1MiB --sign-key "$W/audit.key" --json
check "  ... naming the read-only auditor's key ID" test "$(json .identity.access_key_id)" = "${AK:-$AWS_ACCESS_KEY_ID}" -a "$(json .finished)" != null
EV=$W/evidence/$(json .evidence)
expect_exit "  ... the stored evidence verifies" 0 "$FERRY" key verify "$EV" --trust-key "$W/audit.key.pub"
jq -c . "$EV" >"$W/compact.json"
expect_exit "  ... and so does it re-indented (the canonical form is signed)" 0 "$FERRY" key verify "$W/compact.json" --trust-key "$W/audit.key.pub"
jq -S . "$EV" >"$W/sorted.json"
expect_exit "  ... and re-sorted (jq -S)" 0 "$FERRY" key verify "$W/sorted.json" --trust-key "$W/audit.key.pub"
sed '0,/"status": "[a-z-]*"/s//"status": "differences", &/' "$EV" >"$W/dup.json"
expect_exit "  ... a key given twice (a value the signature does not cover) is refused" 17 "$FERRY" key verify "$W/dup.json" --trust-key "$W/audit.key.pub"
check "  ... saying so" grep -q "key given twice" "$W/err"
jq '.dr_objects = 7' "$EV" >"$W/edited-audit.json"
expect_exit "  ... an edited count does not" 17 "$FERRY" key verify "$W/edited-audit.json" --trust-key "$W/audit.key.pub"
check "each run's report is kept with its coverage" test "$(jq -s 'map(select(.coverage != null)) | length' "$W"/evidence/audits/*.json)" = 6

"${AWS[@]}" s3 rb --force "s3://$P" >/dev/null 2>&1
"${AWS[@]}" s3 rb --force "s3://$D" >/dev/null 2>&1
finish e2e-audit

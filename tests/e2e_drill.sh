#!/usr/bin/env bash
# End-to-end tests of finding a build (ls, log, --tag, ID prefixes) and of
# `ferry drill`. usage: e2e_drill.sh PATH/TO/ferry
# The local-store part always runs; the S3 part needs S3_ENDPOINT and keys
# (tools/test.sh starts RGW and sets them).
set -uo pipefail
FERRY=$(realpath "$1")
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-e2e-drill-XXXXXX")
trap 'rm -rf "$W"' EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export FERRY_CACHE_DIR=$W/cache
export TMPDIR=$W/tmp  # where drills make their scratch directories
mkdir -p "$TMPDIR"

SRC=$W/build
mkdir -p "$SRC/bin" "$SRC/etc"
head -c $((5 << 20)) /dev/urandom >"$SRC/bin/app"
chmod 755 "$SRC/bin/app"
echo "port=8080" >"$SRC/etc/app.conf"
ln -s app "$SRC/bin/current"
S=$W/dr
for c in c1 c2 c3; do
  echo "$c" >"$SRC/etc/commit"
  "$FERRY" push "$SRC" --to "$S" --ref app/main --tag commit=$c --tag pipeline=${c#c} -q || echo "push $c failed"
done
echo other >"$SRC/etc/commit"
"$FERRY" push "$SRC" --to "$S" --ref app/other --tag commit=o1 -q

echo "# finding a build: ls, log, --tag, ID prefixes"
expect_exit "ls lists the refs" 0 "$FERRY" ls --store "$S"
check "  ... each with its latest build and tags" test "$(grep -c '^app/' "$W/out")" = 2 -a "$(grep '^app/main ' "$W/out" | grep -c 'commit=c3')" = 1
expect_exit "ls --json" 0 "$FERRY" ls --store "$S" --json
check "  ... refs, manifests, files and bytes" test "$(json '.refs | length')" = 2 -a "$(json '.refs[0].ref')" = app/main -a "$(json '.refs[0].files')" = 3 -a "$(json '.refs[0].signed')" = false
expect_exit "log shows a ref's history" 0 "$FERRY" log app/main --store "$S" --json
check "  ... newest first, parents chained" test "$(json '[.builds[].tags.commit] | join(",")')" = c3,c2,c1 -a "$(json '.builds[0].parent')" = "$(json '.builds[1].manifest')"
c1=$(json '.builds[2].manifest')
expect_exit "log -n 1" 0 "$FERRY" log app/main --store "$S" -n 1
check "  ... one line" test "$(wc -l <"$W/out")" = 1
expect_exit "log of a ref that does not exist" 7 "$FERRY" log app/none --store "$S"
expect_exit "restore --tag commit=c1 (an older build)" 0 "$FERRY" restore --tag commit=c1 --from "$S" --to "$W/r1" --json
check "  ... is that build" test "$(json .manifest)" = "$c1" -a "$(cat "$W/r1/etc/commit")" = c1
expect_exit "restore by the first 8 hex digits of an ID" 0 "$FERRY" restore "${c1:0:8}" --from "$S" --to "$W/r2" --json
check "  ... the same build" test "$(json .manifest)" = "$c1"
expect_exit "verify --tag" 0 "$FERRY" verify --store "$S" --tag commit=o1 --json
expect_exit "a tag no build carries" 7 "$FERRY" restore --tag commit=nope --from "$S" --to "$W/r3"
check "  ... says so" grep -q "carries tag commit=nope" "$W/err"
expect_exit "--tag without =" 2 "$FERRY" restore --tag commit --from "$S" --to "$W/r3"

echo "# ferry drill"
expect_exit "a drill that passes" 0 "$FERRY" drill app/main --from "$S" --exec 'test "$(cat etc/commit)" = c3 && test -x bin/app && test -L bin/current' --rto 15m --rpo 1d --record --json
check "  ... a report that says so" test "$(json .status)" = passed -a "$(json .check.files)" = 3 -a "$(json .check.bytes)" = $(((5 << 20) + 10 + 3)) -a "$(json .check.symlinks)" = 1 -a "$(json .smoke_test.exit_status)" = 0
check "  ... RTO and RPO measured against their targets" test "$(json .rto.target_seconds)" = 900 -a "$(json .rto.breached)" = false -a "$(json .rpo.target_seconds)" = 86400 -a "$(json '.rpo.achieved_seconds >= 0')" = true
check "  ... the scratch tree removed" test "$(json .scratch)" = true -a "$(json .target_removed)" = true -a ! -e "$(json .target)"
check "  ... recorded in the store" test -f "$S/$(json .recorded)"
expect_exit "a drill that breaches its RTO (restore fine, too slow)" 15 "$FERRY" drill app/main --from "$S" --exec 'sleep 1.2' --rto 1s --json
check "  ... target-breached, RTO above the target" test "$(json .status)" = target-breached -a "$(json .rto.breached)" = true -a "$(json '.rto.achieved_seconds > 1')" = true -a "$(json .error.exit_code)" = 15
expect_exit "a drill that breaches its RPO" 15 "$FERRY" drill app/main --from "$S" --rpo 0s --json
check "  ... says RPO" test "$(json .rpo.breached)" = true -a "$(json .rto.breached)" = false
expect_exit "a drill whose smoke test fails" 16 "$FERRY" drill app/main --from "$S" --exec 'grep -q c2 etc/commit' --record --json
check "  ... smoke-test-failed with the command's exit status" test "$(json .status)" = smoke-test-failed -a "$(json .smoke_test.exit_status)" = 1 -a "$(json .error.exit_code)" = 16
expect_exit "a drill into a given directory keeps it" 0 "$FERRY" drill --tag commit=c2 --from "$S" --to "$W/drill-here" --json
check "  ... restored, checked, kept" test "$(cat "$W/drill-here/etc/commit")" = c2 -a "$(json .scratch)" = false
cp -r "$S" "$W/damaged"
chunk=$(find "$W/damaged/chunks" -type f -size +100k | head -1)
printf 'x' | dd of="$chunk" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_exit "a drill on a damaged store fails verification" 5 "$FERRY" drill app/main --from "$W/damaged" --json
check "  ... failed, nothing left in the scratch area" test "$(json .status)" = failed -a -z "$(ls "$TMPDIR")"
expect_exit "drill --history, as text, with a failed drill among them" 0 "$FERRY" drill --history --from "$S"
check "  ... one line each" test "$(wc -l <"$W/out")" = 2 -a "$(grep -c smoke-test-failed "$W/out")" = 1
expect_exit "drill --history" 0 "$FERRY" drill --history --from "$S" --json
check "  ... lists the two recorded drills, each a full report" test "$(json '.drills | length')" = 2 -a "$(json '[.drills[].status] | join(",")')" = passed,smoke-test-failed -a "$(json '.drills[0].build.ref')" = app/main
cp -r "$S" "$W/twice"
"$FERRY" drill app/main --from "$W/twice" --record -q
"$FERRY" drill app/main --from "$W/twice" --record -q --exec 'exit 1'
check "two drills recorded at once are two records" test "$(ls "$W/twice/drills" | wc -l)" = 4
expect_exit "a drill that cannot make its scratch directory" 13 "$FERRY" drill app/main --from "$S" --scratch-dir "$W/no/such/dir" --json
check "  ... a report with real times and no made-up RPO" test "$(json .finished)" != "1970-01-01T00:00:00Z" -a "$(json .status)" = failed
expect_exit "drill --history with a build is a usage error" 2 "$FERRY" drill app/main --history --from "$S"
expect_exit "a drill of a ref that does not exist" 7 "$FERRY" drill app/none --from "$S"
expect_exit "a malformed --rto" 2 "$FERRY" drill app/main --from "$S" --rto soon
expect_exit "drill with no build named" 2 "$FERRY" drill --from "$S"

echo "# RPO against the primary: how far the DR copy lags"
"$FERRY" push "$SRC" --to "$W/prim-other" --ref some/ref -q
expect_exit "--primary whose store lacks the ref fails before restoring" 7 "$FERRY" drill app/other --from "$S" --primary "$W/prim-other"
check "  ... naming --primary, nothing restored" test -n "$(grep -- "--primary" "$W/err")" -a -z "$(ls "$TMPDIR")"
P=$W/primary
"$FERRY" push "$SRC" --to "$P" --to "$W/dr2" --ref app/main -q
expect_exit "DR holds the primary's newest build" 0 "$FERRY" drill app/main --from "$W/dr2" --primary "$P" --rpo 1h --json
check "  ... lag 0" test "$(json .rpo.achieved_seconds)" = 0 -a "$(json .rpo.measured_as)" = "lag behind the primary"
sleep 2
echo new >"$SRC/etc/commit"
"$FERRY" push "$SRC" --to "$P" --ref app/main -q  # the primary moves on, DR does not
expect_exit "DR behind the primary, target 1s" 15 "$FERRY" drill app/main --from "$W/dr2" --primary "$P" --rpo 1s --json
check "  ... lag measured from the build DR lacks" test "$(json '.rpo.achieved_seconds > 0')" = true -a "$(json .rpo.primary_latest)" != "$(json .build.manifest)"

if [ -n "${S3_ENDPOINT:-}" ]; then
  echo "# on RGW: ls, log and a drill from a mirror bucket"
  export AWS_ENDPOINT_URL=$S3_ENDPOINT
  AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT")
  BUCKET=ferry-e2e-drill-$RANDOM$RANDOM
  "${AWS[@]}" s3 mb "s3://$BUCKET" >/dev/null
  "$FERRY" push "$SRC" --to "s3://$BUCKET/app/" --ref app/main --tag commit=s1 -q
  expect_exit "ls on a mirror" 0 "$FERRY" ls --store "s3://$BUCKET/app/" --json
  check "  ... the ref" test "$(json '.refs[0].ref')" = app/main -a "$(json '.refs[0].tags.commit')" = s1
  expect_exit "drill from the mirror with a smoke test" 0 "$FERRY" drill --tag commit=s1 --from "s3://$BUCKET/app/" --exec 'test "$(cat etc/commit)" = new' --record --json
  check "  ... passed, every byte read back" test "$(json .status)" = passed -a "$(json .check.bytes)" = $(((5 << 20) + 10 + 4))
  check "  ... the report is an object in the bucket's .ferry/" "${AWS[@]}" s3api head-object --bucket "$BUCKET" --key "app/.ferry/$(json .recorded)" --query ContentLength --output text
  check "  ... naming who ran it (the access key ID, never the secret)" test "$(json .identity.access_key_id)" = "$AWS_ACCESS_KEY_ID" -a "$(json .ferry_version)" != null -a "$(json .report_format)" = 1
  check "  ... and no secret anywhere in it" test "$(grep -c -F "$AWS_SECRET_ACCESS_KEY" "$W/out")" = 0

  echo "# signed drill reports"
  "$FERRY" key generate --out "$W/evidence.key" -q
  "$FERRY" key generate --out "$W/other.key" -q
  expect_exit "a signed, recorded drill" 0 "$FERRY" drill app/main --from "s3://$BUCKET/app/" --record --sign-key "$W/evidence.key" --json
  cp "$W/out" "$W/signed.json"
  check "  ... carries its signature" test "$(json .report_signature.algorithm)" = ed25519
  REC=app/.ferry/$(json .recorded)
  "${AWS[@]}" s3 cp "s3://$BUCKET/$REC" "$W/stored.json" >/dev/null
  expect_exit "key verify: the stored report, as downloaded" 0 "$FERRY" key verify "$W/stored.json" --trust-key "$W/evidence.key.pub"
  expect_exit "key verify: the printed report" 0 "$FERRY" key verify "$W/signed.json" --trust-key "$W/evidence.key.pub"
  expect_exit "key verify: another key is not trusted" 17 "$FERRY" key verify "$W/stored.json" --trust-key "$W/other.key.pub"
  check "  ... naming the signer's key" grep -q "signed by key" "$W/err"
  expect_exit "drill --history --trust-key: the signed record is trusted, the older ones are not" 17 "$FERRY" drill --history --from "s3://$BUCKET/app/" --trust-key "$W/evidence.key.pub" --json
  check "  ... each record's state" test "$(json '[.drills[].report_signature_state | split(":")[0]] | join(",")')" = "unsigned,trusted"
  jq '.rto.achieved_seconds = 1 | .status = "passed"' "$W/stored.json" >"$W/edited.json"
  "${AWS[@]}" s3 cp "$W/edited.json" "s3://$BUCKET/$REC" >/dev/null
  expect_exit "an edited record (a better RTO) is found altered" 17 "$FERRY" key verify "$W/edited.json" --trust-key "$W/evidence.key.pub"
  check "  ... 'altered'" grep -q "altered" "$W/err"
  expect_exit "  ... and in --history" 17 "$FERRY" drill --history --from "s3://$BUCKET/app/" --trust-key "$W/evidence.key.pub" --json
  check "  ... as untrusted" test "$(json '[.drills[].report_signature_state | split(":")[0]] | join(",")')" = "unsigned,untrusted"
  expect_exit "key verify without --trust-key says what it needs" 2 "$FERRY" key verify "$W/stored.json"
  expect_exit "--sign-key that is not a key" 2 "$FERRY" drill app/main --from "s3://$BUCKET/app/" --sign-key "$W/stored.json"
  "${AWS[@]}" s3 rb --force "s3://$BUCKET" >/dev/null 2>&1
else
  echo "# (S3 part not run: S3_ENDPOINT is not set; tools/test.sh sets it)"
fi

finish e2e-drill

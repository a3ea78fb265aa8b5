#!/usr/bin/env bash
# Cancellation: SIGTERM (what a CI runner sends when a job is cancelled) and
# SIGINT (Ctrl-C) at random moments of a push, a verify and a restore. Each
# must exit with 12 (interrupted) within a bounded time, record nothing
# half-done (no ref moves, nothing is moved aside as damaged), and the next
# run must complete. With S3_ENDPOINT set (tools/test.sh), also a mirror push
# into RGW: its interrupted multipart upload is left in place and the next
# push resumes it.
# usage: e2e_cancel.sh PATH/TO/ferry    (FERRY_FAULT_SEED=N repeats a run)
set -uo pipefail
FERRY=$(realpath "$1")
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-cancel-XXXXXX")
trap 'rm -rf "$W"' EXIT
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
export FERRY_CACHE_DIR=$W/cache
SEED=${FERRY_FAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
echo "# seed $SEED (FERRY_FAULT_SEED=$SEED repeats this run)"

SRC=$W/src
mkdir -p "$SRC/lib" "$SRC/assets"
for i in 1 2 3; do head -c $((160 << 20)) /dev/urandom >"$SRC/lib/part$i.bin"; done
for i in $(seq 1 200); do echo "asset $i $RANDOM" >"$SRC/assets/a$i.txt"; done

# Whether process PID catches SIGTERM (signal 15: bit 14 of SigCgt in /proc/PID/status).
handles_term() {
  local mask
  mask=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$mask" ] && [ $(((16#$mask >> 14) & 1)) = 1 ]
}
# interrupt SIG READY CMD...: runs CMD (stdout $W/out, stderr $W/err), waits
# until the shell test READY holds (the command has visibly started work),
# then a random 0-300 ms more, then sends SIG. Waits at most 30 s for the exit
# (then kill -9). Sets RC to the exit code, or "hung". A command that ended
# before the signal reached it sets RC=early.
interrupt() {
  local sig=$1 ready=$2
  shift 2
  "$@" >"$W/out" 2>"$W/err" &
  local pid=$! n=0
  # First until ferry has its signal handlers (SigCgt has signal 15, SIGTERM):
  # before that a signal kills it as it would any process.
  while ! handles_term "$pid" && kill -0 "$pid" 2>/dev/null && [ $n -lt 3000 ]; do
    sleep 0.005
    n=$((n + 1))
  done
  n=0
  while ! eval "$ready" && kill -0 "$pid" 2>/dev/null && [ $n -lt 3000 ]; do
    sleep 0.01
    n=$((n + 1))
  done
  sleep "0.$(printf %03d $((RANDOM % 300)))"
  if ! kill -s "$sig" "$pid" 2>/dev/null; then
    wait "$pid"
    RC=early
    return
  fi
  n=0
  while kill -0 "$pid" 2>/dev/null && [ $n -lt 300 ]; do
    sleep 0.1
    n=$((n + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"
    wait "$pid"
    RC=hung
    return
  fi
  wait "$pid"
  RC=$?
}
# expect_interrupted NAME SIG READY CMD...: interrupt, retried (up to 5
# times) while the command finishes before the signal reaches it.
expect_interrupted() {
  local name=$1 sig=$2 ready=$3
  shift 3
  local try
  for try in 1 2 3 4 5; do
    interrupt "$sig" "$ready" "$@"
    [ "$RC" != early ] && [ "$RC" != 0 ] && break
    echo "#   (it finished before the signal; again)"
  done
  if [ "$RC" = 12 ]; then
    ok "$name: exit 12 after $sig"
  else
    bad "$name: exit $RC after $sig, want 12: $(tail -c 600 "$W/err")"
  fi
  check "  ... it says it was interrupted and to run it again" grep -q "interrupted.*run it again" "$W/err"
}
STORE=$W/store
ref_file() { echo "$STORE/refs/app%2Fmain"; }

echo "# push into a local store"
expect_exit "a first build" 0 "$FERRY" push "$SRC/assets" --to "$STORE" --ref app/main
REF_BEFORE=$(cat "$(ref_file)")
expect_interrupted "push (SIGTERM)" TERM '[ -n "$(ls "$STORE/chunks" 2>/dev/null)" ]' \
  "$FERRY" push "$SRC" --to "$STORE" --ref app/main --compression 19 --no-progress
check "  ... the ref did not move" [ "$(cat "$(ref_file)")" = "$REF_BEFORE" ]
expect_exit "  ... the store is consistent (verify --all)" 0 "$FERRY" verify --store "$STORE" --all
expect_interrupted "push (SIGINT, Ctrl-C)" INT 'true' \
  "$FERRY" push "$SRC" --to "$STORE" --ref app/main --compression 19 --no-progress
check "  ... the ref did not move" [ "$(cat "$(ref_file)")" = "$REF_BEFORE" ]
expect_exit "the next push completes" 0 "$FERRY" push "$SRC" --to "$STORE" --ref app/main --json
check "  ... and moved the ref" [ "$(cat "$(ref_file)")" != "$REF_BEFORE" ]

echo "# push --json, interrupted: the report is JSON with the interrupted code"
expect_interrupted "push --json (SIGTERM)" TERM 'true' \
  "$FERRY" push "$SRC" --to "$W/store2" --ref app/main --compression 19 --json
check "  ... error.code is interrupted" [ "$(json .error.code)" = interrupted ]

echo "# verify"
expect_interrupted "verify (SIGTERM)" TERM 'true' "$FERRY" verify --store "$STORE" --all --threads 1
check "  ... nothing was moved aside as damaged" [ -z "$(ls "$STORE/damaged" 2>/dev/null)" ]
expect_exit "the next verify completes" 0 "$FERRY" verify --store "$STORE" --all

echo "# restore"
OUT=$W/restored
expect_interrupted "restore (SIGTERM)" TERM '[ -n "$(ls "$OUT/lib" 2>/dev/null)" ]' \
  "$FERRY" restore app/main --from "$STORE" --to "$OUT" --threads 1
expect_exit "the next restore completes" 0 "$FERRY" restore app/main --from "$STORE" --to "$OUT"
check "  ... byte-identical, no temp files left" diff -r "$SRC" "$OUT"

echo "# a second signal ends the process at once"
"$FERRY" push "$SRC" --to "$W/store3" --compression 19 --no-progress >"$W/out" 2>"$W/err" &
PID=$!
for _ in $(seq 1 600); do handles_term "$PID" && break; sleep 0.005; done
sleep 0.3
# Both signals must reach the process while it runs, whatever the machine's
# speed (a first TERM alone may already have finished it): stopped, it gets
# an INT and a TERM (two different signals stay pending; two TERMs would
# merge into one), and both arrive when it continues.
kill -STOP "$PID"
kill -INT "$PID"
kill -TERM "$PID"
kill -CONT "$PID"
wait "$PID"
RC=$?
check "  ... killed by the second signal (exit 130 or 143, got $RC)" test "$RC" = 143 -o "$RC" = 130
expect_exit "  ... and the push after it completes" 0 "$FERRY" push "$SRC" --to "$W/store3"

if [ -n "${S3_ENDPOINT:-}" ]; then
  echo "# a mirror push into RGW, interrupted during its multipart upload"
  export AWS_ENDPOINT_URL=$S3_ENDPOINT
  AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT")
  B=ferry-cancel-$RANDOM$RANDOM
  "${AWS[@]}" s3 mb "s3://$B" >/dev/null || { echo "cannot create bucket"; exit 1; }
  uploads() {
    local n
    n=$("${AWS[@]}" s3api list-multipart-uploads --bucket "$B" --no-paginate --output json 2>/dev/null |
      jq '.Uploads // [] | length')
    echo "${n:-0}"
  }
  # At least one part of an upload has landed (so there is something to
  # resume). Polled with curl: aws takes seconds per call on a busy machine.
  s3get() {
    curl -s --aws-sigv4 "aws:amz:${AWS_DEFAULT_REGION:-us-east-1}:s3" \
      --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
      "$S3_ENDPOINT/$1"
  }
  parts_sent() {
    local xml key id
    xml=$(s3get "$B?uploads=") || return 1
    key=$(sed -n 's|.*<Upload><Key>\([^<]*\)</Key><UploadId>\([^<]*\)</UploadId>.*|\1|p' <<<"$xml")
    id=$(sed -n 's|.*<Upload><Key>\([^<]*\)</Key><UploadId>\([^<]*\)</UploadId>.*|\2|p' <<<"$xml")
    [ -n "$key" ] && s3get "$B/$key?uploadId=$id" | grep -q "<Part>"
  }
  expect_interrupted "mirror push (SIGTERM)" TERM 'parts_sent' \
    "$FERRY" push "$SRC" --to "s3://$B/app/" --ref app/main --no-progress
  check "  ... its multipart upload(s) are left to resume" [ "$(uploads)" -gt 0 ]
  expect_exit "  ... no ref was recorded" 7 "$FERRY" verify --store "s3://$B/app/" --ref app/main
  expect_exit "the next push completes" 0 "$FERRY" push "$SRC" --to "s3://$B/app/" --ref app/main --json
  check "  ... and resumed the interrupted upload (bytes_resumed > 0 or uploads resumed)" \
    [ "$(json '.bytes_resumed')" -gt 0 ]
  check "  ... no multipart upload is left" [ "$(uploads)" = 0 ]
  expect_exit "verify (deep) of the mirror" 0 "$FERRY" verify --store "s3://$B/app/" --ref app/main
  "${AWS[@]}" s3 rb "s3://$B" --force >/dev/null 2>&1
fi

finish e2e_cancel

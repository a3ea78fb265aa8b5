#!/usr/bin/env bash
# End-to-end tests of `ferry daemon --broker`: RGW bucket notifications
# published to a real RabbitMQ (both started by tools/test.sh), consumed from
# one quorum queue by two daemons; one is killed -9 during a burst of 500
# objects; a poisoned object and a junk message end in the dead-letter queue.
# usage: e2e_broker.sh PATH/TO/ferry (exits 77, skipped, without S3_ENDPOINT and AMQP_URL)
set -uo pipefail
FERRY=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${S3_ENDPOINT:-}" ] || [ -z "${AMQP_URL:-}" ] || [ -z "${RMQ_DIR:-}" ]; then
  echo "S3_ENDPOINT, AMQP_URL and RMQ_DIR are not set: run via tools/test.sh"; exit 77
fi
export AWS_ENDPOINT_URL=$S3_ENDPOINT
AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT" --region us-east-1)
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-e2e-broker-XXXXXX")
PIDS=()
TOPIC_ARN=""
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ -n "$TOPIC_ARN" ] && "${AWS[@]}" sns delete-topic --topic-arn "$TOPIC_ARN" >/dev/null 2>&1
  rm -rf "$W"
}
trap cleanup EXIT
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
export FERRY_CACHE_DIR=$W/cache

N=$RANDOM$RANDOM
SB=ferry-ev-$N
DB=ferry-evdr-$N
Q=ferry-e2e-$N
TOPIC=ferry-e2e-$N
"${AWS[@]}" s3 mb "s3://$SB" >/dev/null && "${AWS[@]}" s3 mb "s3://$DB" >/dev/null ||
  { echo "cannot create buckets"; exit 1; }
# One exchange for every topic on a broker (RGW 16 binds one connection per
# URL to the first topic's exchange); routing key = the topic's name.
# persistent=true: RGW queues each event and publishes it 10-15 s later. A
# regular topic (published before the PUT returns) crashed radosgw 16.2.15
# here under concurrent PUTs, twice (docs/performance.md).
TOPIC_ARN=$("${AWS[@]}" sns create-topic --name "$TOPIC" --attributes \
  "{\"push-endpoint\":\"$AMQP_URL\",\"amqp-exchange\":\"ferry\",\"amqp-ack-level\":\"broker\",\"persistent\":\"true\"}" \
  --query TopicArn --output text)
"${AWS[@]}" s3api put-bucket-notification-configuration --bucket "$SB" --notification-configuration \
  "{\"TopicConfigurations\":[{\"Id\":\"ferry\",\"TopicArn\":\"$TOPIC_ARN\",\"Events\":[\"s3:ObjectCreated:*\",\"s3:ObjectRemoved:*\"]}]}"

# start_daemon NAME ARGS...: in the background; sets PID and PORT.
start_daemon() {
  local name=$1; shift
  "$FERRY" daemon --listen 127.0.0.1:0 --json --settle 0s --interval 1s --watch "s3://$SB/art/" \
    --broker "$AMQP_URL" --queue "$Q" --routing-key "$TOPIC" --to "s3://$DB/store/" --layout store \
    --ref art/replica --state "$W/state-$name" "$@" >"$W/$name.out" 2>"$W/$name.err" &
  PID=$!
  PIDS+=("$PID")
  wait_ready "$W/$name.out" "$PID"
}
queue_counts() { bash "$HERE/broker/rabbitmqctl.sh" "$RMQ_DIR" list_queues name messages_ready messages_unacknowledged | awk -v q="$1" '$1 == q {print $2 + $3}'; }
# drained SECONDS: the queue empty (nothing ready, nothing unacknowledged) and /health 200.
drained() {
  for _ in $(seq 1 $(($1 * 2))); do
    if [ "$(queue_counts "$Q")" = 0 ]; then
      CODE=$(curl -s -o "$W/health.json" -w '%{http_code}' "http://127.0.0.1:$PORT/health")
      [ "$CODE" = 200 ] && [ "$(jq -r .pending "$W/health.json")" = 0 ] && return 0
    fi
    sleep 0.5
  done
  return 1
}
# queue_empty SECONDS: nothing ready or unacknowledged on the queue, nothing pending.
queue_empty() {
  for _ in $(seq 1 $(($1 * 2))); do
    if [ "$(queue_counts "$Q")" = 0 ]; then
      CODE=$(curl -s -o "$W/health.json" -w '%{http_code}' "http://127.0.0.1:$PORT/health")
      [ "$(jq -r .pending "$W/health.json")" = 0 ] && return 0
    fi
    sleep 0.5
  done
  return 1
}
# restored_until SECONDS DIR CHECK...: restores the latest build into DIR
# (afresh each time) until CHECK passes: RGW publishes a persistent topic's
# events 10-15 s after the PUT, so an empty queue is not yet "caught up".
restored_until() {
  local secs=$1 dir=$2; shift 2
  for _ in $(seq 1 "$secs"); do
    rm -rf "$dir"
    "$FERRY" restore --from "s3://$DB/store/" art/replica --to "$dir" >/dev/null 2>&1 &&
      "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {print $2; exit}'; }

echo "# bad broker options are refused before anything starts"
expect_exit "--broker without an s3:// source" 2 "$FERRY" daemon --watch "$W" --broker "$AMQP_URL" --to "$W/x" --ref a/b --state "$W/sx"
expect_exit "a malformed --broker URL" 2 "$FERRY" daemon --watch "s3://$SB/art/" --broker "http://nope" --to "$W/x" --ref a/b --state "$W/sx"
expect_exit "a broker that is not there" 4 "$FERRY" daemon --watch "s3://$SB/art/" --broker "amqp://127.0.0.1:1/" --to "$W/x" --ref a/b --state "$W/sx" --listen 127.0.0.1:0
expect_exit "a password the broker refuses" 11 "$FERRY" daemon --watch "s3://$SB/art/" --broker "amqp://guest:wrong@127.0.0.1:${AMQP_URL##*:}/" --to "$W/x" --ref a/b --state "$W/sx" --listen 127.0.0.1:0
check "  ... and the password is not in the message" bash -c "! grep -q wrong '$W/err'"

echo "# two daemons on one queue; one killed -9 holding events of a burst of 500 objects"
check "daemon A starts" start_daemon a
PA=$PID PORTA=$PORT
check "daemon B starts" start_daemon b --poison-after 3
PB=$PID PORTB=$PORT
check "  ... B says where it consumes from" grep -q "consuming bucket notifications for s3://$SB/art/ from queue $Q" "$W/b.err"
mkdir -p "$W/burst/d1" "$W/burst/d2"
for i in $(seq 1 250); do echo "object $i $N" >"$W/burst/d1/o$i.txt"; head -c $((i * 37)) /dev/urandom >"$W/burst/d2/b$i.bin"; done
"${AWS[@]}" s3 cp --recursive --quiet "$W/burst" "s3://$SB/art/" &
UP=$!
wait "$UP"
# Kill A while it holds events it has not replicated (so not acknowledged):
# RabbitMQ must hand them to B.
held=1
for _ in $(seq 1 300); do
  n=$(PORT=$PORTA metric ferry_pending_objects)
  [ -n "$n" ] && [ "${n%.*}" -gt 0 ] && { held=0; break; }
  sleep 0.2
done
kill -9 "$PA"
check "  ... A was killed -9 holding unreplicated events (ferry_pending_objects $n)" test "$held" = 0
PORT=$PORTB
check "B caught up: the latest build restores all 500 objects byte-identical" \
  restored_until 180 "$W/restored" diff -r "$W/burst" "$W/restored"
check "every event is consumed and acknowledged, nothing pending" drained 120
expect_exit "the DR store verifies every build" 0 "$FERRY" verify --store "s3://$DB/store/" --all
rm -rf "$W/restored"
expect_exit "  ... and restores the latest" 0 "$FERRY" restore --from "s3://$DB/store/" art/replica --to "$W/restored"
check "  ... all 500 objects byte-identical" diff -r "$W/burst" "$W/restored"

echo "# a poisoned object (listed, never readable) and a junk message go to the dead-letter queue"
echo "only its customer key reads this" | "${AWS[@]}" s3 cp --quiet - "s3://$SB/art/poison.bin" \
  --sse-c AES256 --sse-c-key 01234567890123456789012345678901
amqp-publish --url "$AMQP_URL" -e ferry -r "$TOPIC" -b 'this is not an S3 event'
ok_p=1
for _ in $(seq 1 120); do [ "$(metric ferry_poisoned_objects)" = 1 ] && { ok_p=0; break; }; sleep 0.5; done
check "B gives up on the object after 3 failed cycles (ferry_poisoned_objects 1)" test "$ok_p" = 0
check "  ... says so in its log" grep -q "giving up on poison.bin after 3 failed cycles" "$W/b.err"
echo "after the poison" | "${AWS[@]}" s3 cp --quiet - "s3://$SB/art/after.txt"
check "the rest still replicates: the latest build has after.txt" \
  restored_until 90 "$W/restored2" grep -qx "after the poison" "$W/restored2/after.txt"
check "  ... the queue drained, nothing pending" queue_empty 60
check "  ... /health 503: the DR copy lacks the object" test "$CODE" = 503
check "  ... naming it" grep -q "given up on after failing every attempt (first: poison.bin)" "$W/health.json"
ok_d=1
for _ in $(seq 1 20); do [ "$(queue_counts "$Q.dead")" -ge 2 ] && { ok_d=0; break; }; sleep 0.5; done
check "  ... the dead-letter queue $Q.dead holds both messages" test "$ok_d" = 0
check "  ... counted in ferry_dead_lettered_messages_total" test "$(metric ferry_dead_lettered_messages_total)" -ge 2
check "  ... the latest build lacks the poisoned object" test ! -e "$W/restored2/poison.bin"
echo "# the broker stopped and started again: /health says so, the daemon reconnects and rescans"
# (radosgw 16.2.15 crashed here once after the broker it publishes to was
# restarted: tools/test.sh restarts a dead RGW and runs the failed tests again.
# A broker of the test's own, which RGW does not publish to, did not start in
# one CI run, for a reason its deleted log did not tell.)
bash "$HERE/broker/stop-rabbitmq.sh" "$RMQ_DIR" >/dev/null 2>&1
ok_f=1
for _ in $(seq 1 40); do
  curl -s -o "$W/health.json" "http://127.0.0.1:$PORT/health"
  grep -q "the change feed is failing" "$W/health.json" && { ok_f=0; break; }
  sleep 0.5
done
check "broker down: /health names the failing feed" test "$ok_f" = 0
# Whether RGW keeps this event until the broker is back or not, the rescan
# after the reconnect must find the object.
echo "written while the broker was down" | "${AWS[@]}" s3 cp --quiet - "s3://$SB/art/while-down.txt"
AMQP_PORT=${AMQP_URL##*:}
AMQP_PORT=${AMQP_PORT%%/*}
bash "$HERE/broker/start-rabbitmq.sh" "$AMQP_PORT" "$RMQ_DIR" >/dev/null ||
  { echo "RabbitMQ did not start again:"; tail -n 20 "$RMQ_DIR/server.out"; exit 1; }
ok_r=1
for _ in $(seq 1 120); do
  curl -s -o "$W/health.json" "http://127.0.0.1:$PORT/health"
  if ! grep -q "the change feed is failing" "$W/health.json" && [ "$(jq -r .pending "$W/health.json")" = 0 ]; then
    rm -rf "$W/restored3"
    "$FERRY" restore --from "s3://$DB/store/" art/replica --to "$W/restored3" >/dev/null 2>&1 &&
      [ -f "$W/restored3/while-down.txt" ] && { ok_r=0; break; }
  fi
  sleep 1
done
check "broker back: reconnected, and the object written meanwhile is in DR" test "$ok_r" = 0
check "  ... byte-identical" test "$(cat "$W/restored3/while-down.txt" 2>/dev/null)" = "written while the broker was down"
check "  ... B says it reconnected and rescanned" grep -q "connected to ${AMQP_URL%/} again; rescanning" "$W/b.err"
kill -TERM "$PB"; wait "$PB"
check "SIGTERM: exit 0" test "$?" = 0

echo "# two --merge daemons on one queue split a burst of 300 objects"
expect_exit "--merge into a mirror is refused at start" 2 "$FERRY" daemon --watch "s3://$SB/split/" \
  --broker "$AMQP_URL" --queue "$Q" --to "s3://$DB/mirror/" --ref split/main --state "$W/sx" --merge
check "  ... naming the fix" grep -q -- "--merge is for store-layout destinations: add --layout store" "$W/err"
start_split() {  # NAME: a --merge daemon on the split/ prefix; sets PID and PORT
  "$FERRY" daemon --listen 127.0.0.1:0 --json --settle 0s --interval 1s --watch "s3://$SB/split/" \
    --broker "$AMQP_URL" --queue "$Q" --routing-key "$TOPIC" --to "s3://$DB/split/" --layout store \
    --ref split/main --merge --state "$W/state-$1" >"$W/$1.out" 2>"$W/$1.err" &
  PID=$!
  PIDS+=("$PID")
  wait_ready "$W/$1.out" "$PID"
}
check "daemon C starts" start_split c
PC=$PID PORTC=$PORT
check "daemon D starts" start_split d
PD=$PID PORTD=$PORT
mkdir -p "$W/burst2"
for i in $(seq 1 300); do head -c $((2000 + i * 50)) /dev/urandom >"$W/burst2/s$i.bin"; done
BURST2=$(du -sb "$W/burst2" | cut -f1)
"${AWS[@]}" s3 cp --recursive --quiet "$W/burst2" "s3://$SB/split/"
split_restored() {  # SECONDS: the latest split/main build holds all 300 objects
  for _ in $(seq 1 "$1"); do
    rm -rf "$W/restored4"
    "$FERRY" restore --from "s3://$DB/split/" split/main --to "$W/restored4" >/dev/null 2>&1 &&
      diff -r "$W/burst2" "$W/restored4" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
check "the latest build restores all 300 objects byte-identical" split_restored 180
READ_C=$(PORT=$PORTC metric ferry_source_bytes_read_total)
READ_D=$(PORT=$PORTD metric ferry_source_bytes_read_total)
echo "  (bytes read from the source: C ${READ_C%.*}, D ${READ_D%.*}, the burst $BURST2)"
check "  ... both daemons took a share" test "${READ_C%.*}" -gt 0 -a "${READ_D%.*}" -gt 0
check "  ... and together read the burst about once (< 1.5x its bytes)" \
  test $((${READ_C%.*} + ${READ_D%.*})) -lt $((BURST2 * 3 / 2))
expect_exit "  ... every build verifies" 0 "$FERRY" verify --store "s3://$DB/split/" --all
kill -TERM "$PC" "$PD"; wait "$PC"; RC=$?; wait "$PD"
check "SIGTERM: C and D exit 0" test "$RC" = 0 -a "$?" = 0

finish e2e_broker

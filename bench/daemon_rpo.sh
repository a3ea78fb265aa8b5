#!/usr/bin/env bash
# RPO under steady load: how long after a file is closed in a watched tree it
# is in the DR bucket, for `ferry daemon` and for what users glue together
# today (a loop of `aws s3 sync`), on the same workload in one run.
#
#   bench/daemon_rpo.sh [--smoke] [--source dir|bucket [--broker]] [--rate N] [--seconds S] [--json FILE]
#
# --source bucket: the primary region's bucket instead of a directory. Objects
# are PUT into a source bucket (bench/rpo_put.py; latency counts from the
# PUT's return) and replicated by `ferry daemon --watch s3://...` polling
# (--poll 1s), with --broker by the same fed by RGW bucket notifications
# through RabbitMQ (AMQP_URL: tools/test.sh starts one), and by a loop of
# `aws s3 sync s3://source s3://dr`. --broker is not in the test command:
# RGW 16.2.15 segfaulted under that phase in three CI runs in a row
# (docs/performance.md); tests/e2e_broker.sh tests the feed.
#
# Workload: N small files a second (1-64 KiB, random bytes) and a large one
# (32 MiB; 4 MiB with --smoke) every 10 s, for S seconds (defaults: 20/s for
# 120 s; --smoke: 5/s for 12 s). Each file is written in place (open, write,
# close), as a build step writes it. A probe lists the DR prefix every 0.5 s
# (bench/rpo_probe.py) and notes when each key first appears; latency = that
# moment - the file's close (so it includes up to one probe interval).
# Reported: p50, p99, max latency; the daemon's CPU while idle (30 s; 5 s
# with --smoke) and under load, peak RSS. Needs S3_ENDPOINT and credentials
# (tools/test.sh sets them for the test RGW). No assertion on time.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0 RATE=20 SECONDS_RUN=120 JSON_OUT=rpo-results.json SOURCE=dir BROKER=0
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1 RATE=5 SECONDS_RUN=12 ;;
    --rate) RATE=$2; shift ;;
    --source) SOURCE=$2; shift ;;
    --broker) BROKER=1 ;;
    --seconds) SECONDS_RUN=$2; shift ;;
    --json) JSON_OUT=$2; shift ;;
    *) echo "usage: bench/daemon_rpo.sh [--smoke] [--source dir|bucket [--broker]] [--rate N] [--seconds S] [--json FILE]" >&2; exit 2 ;;
  esac
  shift
done
: "${S3_ENDPOINT:?set S3_ENDPOINT (and AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): tools/test.sh does}"
FERRY=$(realpath build/ferry)
LARGE=$((SMOKE ? 4 << 20 : 32 << 20))
IDLE=$((SMOKE ? 5 : 30))
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-rpo-XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$W"' EXIT
AWS=(/usr/bin/aws --endpoint-url "$S3_ENDPOINT")  # Debian's awscli, as the tests (not a pyenv shim's)
BUCKET=ferry-rpo-$RANDOM$RANDOM
"${AWS[@]}" s3 mb "s3://$BUCKET" >/dev/null
SB=$BUCKET-src  # the broker's run has its own source bucket (its events slow every PUT)
[ "$SOURCE" = bucket ] && "${AWS[@]}" s3 mb "s3://$SB" >/dev/null && "${AWS[@]}" s3 mb "s3://$SB-ev" >/dev/null

# CPU seconds of PID, self + waited-for children; a replicator that died is
# an error that shows its stderr (the work directory is removed on exit).
cpu_seconds() {
  if [ ! -r "/proc/$1/stat" ]; then
    echo "daemon_rpo: the replicator (pid $1) exited early; its stderr:" >&2
    sed 's/^/  | /' "$W"/*/err >&2 2>/dev/null || true
    echo "  (the S3 endpoint $S3_ENDPOINT answers HTTP $(curl -s -o /dev/null -w '%{http_code}' "$S3_ENDPOINT"))" >&2
    exit 1
  fi
  awk '{print ($14 + $15 + $16 + $17) / 100}' "/proc/$1/stat"
}
peak_rss_mib() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$1/status"; }

# workload DIR CLOSES: writes the files, one "unix_seconds relpath" line each.
workload() {
  local dir=$1 closes=$2 n=0 t0 next
  t0=$(date +%s.%N)
  : >"$closes"
  while :; do
    next=$(echo "$t0 + $n / $RATE" | bc -l)
    now=$(date +%s.%N)
    [ "$(echo "$now - $t0 >= $SECONDS_RUN" | bc -l)" = 1 ] && break
    sleep "$(echo "s = $next - $now; if (s > 0) s else 0" | bc -l)"
    local rel="d$((n / 200))/f$n.bin"
    mkdir -p "$dir/d$((n / 200))"
    head -c $((1024 + (n * 7919) % 64512)) /dev/urandom >"$dir/$rel"
    echo "$(date +%s.%N) $rel" >>"$closes"
    if [ $((n % (RATE * 10))) = $((RATE * 10 - 1)) ]; then
      head -c "$LARGE" /dev/urandom >"$dir/big$n.bin"
      echo "$(date +%s.%N) big$n.bin" >>"$closes"
    fi
    n=$((n + 1))
  done
}

# latencies CLOSES SEEN PREFIX: p50 p99 max count missing
latencies() {
  python3 - "$1" "$2" "$3" <<'EOF'
import sys
closes = dict((l.split()[1], float(l.split()[0])) for l in open(sys.argv[1]))
seen = {}
for l in open(sys.argv[2]):
    t, k = l.split()
    seen.setdefault(k[len(sys.argv[3]):], float(t))
lat = sorted(seen[k] - t for k, t in closes.items() if k in seen)
missing = sum(1 for k in closes if k not in seen)
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print(f"{q(0.5):.2f} {q(0.99):.2f} {lat[-1] if lat else float('nan'):.2f} {len(lat)} {missing}")
EOF
}

source_bucket() { if [ "$1" = broker ]; then echo "$SB-ev"; else echo "$SB"; fi; }
# run NAME PREFIX START_CMD...: probe + workload with the replicator running
# (START_CMD gets the source: a directory, or s3://SOURCE-BUCKET/NAME/).
run() {
  local name=$1 prefix=$2; shift 2
  mkdir -p "$W/$name/src"
  local src=$W/$name/src
  [ "$SOURCE" = bucket ] && src=s3://$(source_bucket "$name")/$name/
  python3 bench/rpo_probe.py "$S3_ENDPOINT" "$BUCKET" "$prefix" 0.5 "$W/$name/seen" "$W/$name/stop" 2>"$W/$name/probe.err" &
  PIDS+=($!)
  "$@" "$src" >"$W/$name/out" 2>"$W/$name/err" &
  REPL=$!
  PIDS+=("$REPL")
  sleep 2
  if [ "$name" != sync ]; then
    # Idle: nothing written yet.
    c0=$(cpu_seconds "$REPL"); sleep "$IDLE"; c1=$(cpu_seconds "$REPL")
    IDLE_CPU=$(echo "($c1 - $c0) / $IDLE * 100" | bc -l)
  fi
  local c0 t0 c1 t1
  c0=$(cpu_seconds "$REPL"); t0=$(date +%s.%N)
  if [ "$SOURCE" = bucket ]; then
    python3 bench/rpo_put.py "$(source_bucket "$name")" "$name/" "$RATE" "$SECONDS_RUN" "$LARGE" "$W/$name/closes"
  else
    workload "$W/$name/src" "$W/$name/closes"
  fi
  # Drain: wait until every file has been seen, or 120 s.
  local want
  want=$(wc -l <"$W/$name/closes")
  for _ in $(seq 1 240); do
    [ "$(wc -l <"$W/$name/seen")" -ge "$want" ] && break
    sleep 0.5
  done
  c1=$(cpu_seconds "$REPL"); t1=$(date +%s.%N)
  LOAD_CPU=$(echo "($c1 - $c0) / ($t1 - $t0) * 100" | bc -l)
  RSS=$(peak_rss_mib "$REPL")
  touch "$W/$name/stop"
  kill -TERM "$REPL" 2>/dev/null || true
  wait "$REPL" 2>/dev/null || true
  read -r P50 P99 MAX COUNT MISSING < <(latencies "$W/$name/closes" "$W/$name/seen" "$prefix")
}

ferry_daemon() {
  exec "$FERRY" --endpoint-url "$S3_ENDPOINT" daemon --watch "$1" --to "s3://$BUCKET/ferry/" \
    --ref bench/rpo --state "$W/ferry/state" --listen 127.0.0.1:0 --settle 1s --interval 2s
}
ferry_poll() {
  exec "$FERRY" --endpoint-url "$S3_ENDPOINT" daemon --watch "$1" --to "s3://$BUCKET/ferry/" \
    --ref bench/rpo --state "$W/ferry/state" --listen 127.0.0.1:0 --settle 0s --interval 1s --poll 1s
}
ferry_broker() {
  exec "$FERRY" --endpoint-url "$S3_ENDPOINT" daemon --watch "$1" --to "s3://$BUCKET/broker/" \
    --ref bench/rpo --state "$W/broker/state" --listen 127.0.0.1:0 --settle 0s --interval 1s \
    --broker "$AMQP_URL" --queue "$BUCKET" --routing-key "$BUCKET"
}
sync_loop() {
  while :; do "${AWS[@]}" s3 sync "$1" "s3://$BUCKET/sync/" --only-show-errors; done
}
# The source bucket's events to RabbitMQ: one exchange (ferry) for every topic, routed by topic name.
notifications() {
  local arn
  arn=$("${AWS[@]}" --region us-east-1 sns create-topic --name "$BUCKET" --attributes \
    "{\"push-endpoint\":\"$AMQP_URL\",\"amqp-exchange\":\"ferry\",\"amqp-ack-level\":\"broker\",\"persistent\":\"true\"}" \
    --query TopicArn --output text)
  "${AWS[@]}" s3api put-bucket-notification-configuration --bucket "$SB-ev" --notification-configuration \
    "{\"TopicConfigurations\":[{\"Id\":\"rpo\",\"TopicArn\":\"$arn\",\"Events\":[\"s3:ObjectCreated:*\"]}]}"
}

row() { printf '  %-34s %8s %8s %8s %7s %7s %9s %9s %9s\n' "$@"; }
fmt() { [ "$1" = nan ] && echo - || printf '%.1f' "$1"; }
RESULTS="{}"
ROWS=()
add() {  # KEY LABEL: records the last run's figures
  RESULTS=$(python3 -c 'import json, sys
r = json.loads(sys.argv[1]); k = ["p50_s", "p99_s", "max_s", "files", "missing", "idle_cpu_pct", "load_cpu_pct", "peak_rss_mib"]
r[sys.argv[2]] = dict(zip(k, [None if v in ("nan", "") else float(v) for v in sys.argv[3:]]))
print(json.dumps(r))' "$RESULTS" "$1" "$P50" "$P99" "$MAX" "$COUNT" "$MISSING" "$IDLE_CPU" "$LOAD_CPU" "$RSS")
  ROWS+=("$2|$P50|$P99|$MAX|$COUNT|$MISSING|$(fmt "$IDLE_CPU")|$(fmt "$LOAD_CPU")|$RSS")
}

echo "RPO bench ($SOURCE source): $RATE small files/s + one of $((LARGE >> 20)) MiB every 10 s, for $SECONDS_RUN s, into RGW"
if [ "$SOURCE" = bucket ]; then
  run ferry ferry/ ferry_poll
  add ferry_daemon_poll "ferry daemon, polling (--poll 1s)"
  if [ "$BROKER" = 1 ]; then
    : "${AMQP_URL:?--broker needs AMQP_URL (amqp://127.0.0.1:PORT; tools/test.sh starts one)}"
    notifications
    run broker broker/ ferry_broker
    add ferry_daemon_broker "ferry daemon, RabbitMQ events"
  fi
else
  run ferry ferry/ ferry_daemon
  add ferry_daemon "ferry daemon"
fi
IDLE_CPU=nan
run sync sync/ sync_loop
RSS=nan  # the loop is many short aws processes
add aws_s3_sync_loop "aws s3 sync in a loop"

echo
row replicator p50_s p99_s max_s files missing idle_cpu% load_cpu% rss_MiB
for r in "${ROWS[@]}"; do IFS='|' read -r -a f <<<"$r"; row "${f[@]}"; done
echo "  (latency: file closed or object PUT -> key listed in the DR bucket, probe every 0.5 s;"
echo "   cpu in % of one core, aws: the loop with every aws process it ran)"
python3 - "$JSON_OUT" "$RESULTS" "$RATE" "$SECONDS_RUN" "$LARGE" "$SOURCE" <<'EOF'
import json, sys
out = json.loads(sys.argv[2])
out["workload"] = {"source": sys.argv[6], "small_files_per_s": float(sys.argv[3]),
                   "seconds": int(sys.argv[4]), "large_bytes": int(sys.argv[5])}
json.dump(out, open(sys.argv[1], "w"), indent=2)
EOF
echo "  results: $JSON_OUT"

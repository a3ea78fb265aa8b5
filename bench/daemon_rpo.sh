#!/usr/bin/env bash
# RPO under steady load: how long after a file is closed in a watched tree it
# is in the DR bucket, for `ferry daemon` and for what users glue together
# today (a loop of `aws s3 sync`), on the same workload in one run.
#
#   bench/daemon_rpo.sh [--smoke] [--rate N] [--seconds S] [--json FILE]
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
SMOKE=0 RATE=20 SECONDS_RUN=120 JSON_OUT=rpo-results.json
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1 RATE=5 SECONDS_RUN=12 ;;
    --rate) RATE=$2; shift ;;
    --seconds) SECONDS_RUN=$2; shift ;;
    --json) JSON_OUT=$2; shift ;;
    *) echo "usage: bench/daemon_rpo.sh [--smoke] [--rate N] [--seconds S] [--json FILE]" >&2; exit 2 ;;
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
AWS=(aws --endpoint-url "$S3_ENDPOINT")
BUCKET=ferry-rpo-$RANDOM$RANDOM
"${AWS[@]}" s3 mb "s3://$BUCKET" >/dev/null

cpu_seconds() { awk '{print ($14 + $15 + $16 + $17) / 100}' "/proc/$1/stat"; }  # self + waited-for children
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

# run NAME PREFIX START_CMD...: probe + workload with the replicator running.
run() {
  local name=$1 prefix=$2; shift 2
  mkdir -p "$W/$name/src"
  python3 bench/rpo_probe.py "$S3_ENDPOINT" "$BUCKET" "$prefix" 0.5 "$W/$name/seen" "$W/$name/stop" 2>"$W/$name/probe.err" &
  PIDS+=($!)
  "$@" "$W/$name/src" >"$W/$name/out" 2>"$W/$name/err" &
  REPL=$!
  PIDS+=("$REPL")
  sleep 2
  if [ "$name" = ferry ]; then
    # Idle: nothing written yet.
    c0=$(cpu_seconds "$REPL"); sleep "$IDLE"; c1=$(cpu_seconds "$REPL")
    IDLE_CPU=$(echo "($c1 - $c0) / $IDLE * 100" | bc -l)
  fi
  local c0 t0 c1 t1
  c0=$(cpu_seconds "$REPL"); t0=$(date +%s.%N)
  workload "$W/$name/src" "$W/$name/closes"
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
sync_loop() {
  while :; do "${AWS[@]}" s3 sync "$1" "s3://$BUCKET/sync/" --only-show-errors; done
}

echo "RPO bench: $RATE small files/s + one of $((LARGE >> 20)) MiB every 10 s, for $SECONDS_RUN s, into RGW"
run ferry ferry/ ferry_daemon
F=("$P50" "$P99" "$MAX" "$COUNT" "$MISSING" "$IDLE_CPU" "$LOAD_CPU" "$RSS")
IDLE_CPU=nan
run sync sync/ sync_loop
S=("$P50" "$P99" "$MAX" "$COUNT" "$MISSING" "nan" "$LOAD_CPU" "nan")  # RSS: the loop is many short aws processes

printf '\n  %-28s %8s %8s %8s %7s %7s %9s %9s %9s\n' replicator p50_s p99_s max_s files missing idle_cpu% load_cpu% rss_MiB
printf '  %-28s %8s %8s %8s %7s %7s %9.1f %9.1f %9s\n' "ferry daemon" "${F[0]}" "${F[1]}" "${F[2]}" "${F[3]}" "${F[4]}" "${F[5]}" "${F[6]}" "${F[7]}"
printf '  %-28s %8s %8s %8s %7s %7s %9s %9.1f %9s\n' "aws s3 sync in a loop" "${S[0]}" "${S[1]}" "${S[2]}" "${S[3]}" "${S[4]}" "-" "${S[6]}" "-"
echo "  (latency: file closed -> key listed in the bucket, probe every 0.5 s; cpu in % of one core,"
echo "   aws: the loop with every aws process it ran; ferry: --settle 1s --interval 2s)"
python3 - "$JSON_OUT" "${F[@]}" "${S[@]}" "$RATE" "$SECONDS_RUN" "$LARGE" <<'EOF'
import json, sys
a = sys.argv[2:]
keys = ["p50_s", "p99_s", "max_s", "files", "missing", "idle_cpu_pct", "load_cpu_pct", "peak_rss_mib"]
num = lambda v: None if v in ("nan", "") else float(v)
out = {"workload": {"small_files_per_s": int(a[16]), "seconds": int(a[17]), "large_bytes": int(a[18])},
       "ferry_daemon": dict(zip(keys, map(num, a[0:8]))), "aws_s3_sync_loop": dict(zip(keys, map(num, a[8:16])))}
json.dump(out, open(sys.argv[1], "w"), indent=2)
EOF
echo "  results: $JSON_OUT"

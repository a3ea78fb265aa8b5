#!/usr/bin/env bash
# A large backlog: what `ferry daemon` costs in memory and time when N files
# appear in its watched tree at once (a restore of an artifact share, a
# rsync of a build farm's output), replicated into a local store (the
# embedded default: no server needed).
#
#   bench/daemon_backlog.sh [--files N] [--merge] [--memory MIB] [--json FILE]
#
# The files (default 1,000,000, each 16-100 bytes, 1,000 per directory) are
# written by one Python process while the daemon runs (--settle 2s
# --interval 5s); the script samples /metrics every second for
# ferry_pending_objects and the lag, and reports: the peak of pending
# changes, the time from the first file to "caught up" (lag 0, nothing
# pending), the daemon's peak RSS (VmHWM), its CPU seconds, and a
# `ferry verify` of the ref's latest build (its file count must be N). No
# assertion on time.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=1000000 MERGE=() MEMORY=256 JSON_OUT=backlog-results.json
while [ $# -gt 0 ]; do
  case $1 in
    --files) FILES=$2; shift ;;
    --merge) MERGE=(--merge) ;;
    --memory) MEMORY=$2; shift ;;
    --json) JSON_OUT=$2; shift ;;
    *) echo "usage: bench/daemon_backlog.sh [--files N] [--merge] [--memory MIB] [--json FILE]" >&2; exit 2 ;;
  esac
  shift
done
FERRY=$(realpath build/ferry)
W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-backlog-XXXXXX")
DP=""
trap '[ -n "$DP" ] && kill -9 "$DP" 2>/dev/null; rm -rf "$W"' EXIT
mkdir -p "$W/tree"

"$FERRY" daemon --watch "$W/tree" --to "$W/store" --ref bench/backlog --state "$W/state" \
  --listen 127.0.0.1:0 --json --settle 2s --interval 5s --memory "$MEMORY" "${MERGE[@]}" \
  >"$W/d.out" 2>"$W/d.err" &
DP=$!
PORT=""
for _ in $(seq 1 100); do
  PORT=$(jq -r 'select(.status == "ready") | .port' "$W/d.out" 2>/dev/null | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { echo "daemon_backlog: the daemon did not start:" >&2; cat "$W/d.err" >&2; exit 1; }

metric() {  # NAME: its value (summed over labels)
  curl -s "http://127.0.0.1:$PORT/metrics" |
    awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d", s }'
}

START=$(date +%s.%N)
python3 - "$W/tree" "$FILES" <<'EOF' &
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
for i in range(n):
    d = os.path.join(root, "d%04d" % (i // 1000))
    if i % 1000 == 0:
        os.mkdir(d)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(16, 100)))
EOF
WP=$!
PEAK_PENDING=0 WRITTEN_AT="" DONE_AT=""
while :; do
  sleep 1
  kill -0 "$DP" 2>/dev/null || { echo "daemon_backlog: the daemon died:" >&2; tail -5 "$W/d.err" >&2; exit 1; }
  P=$(metric ferry_pending_objects)
  LAG=$(metric ferry_replication_lag_seconds)
  [ "$P" -gt "$PEAK_PENDING" ] && PEAK_PENDING=$P
  if [ -z "$WRITTEN_AT" ] && ! kill -0 "$WP" 2>/dev/null; then
    WRITTEN_AT=$(date +%s.%N)
    wait "$WP"
  fi
  if [ -n "$WRITTEN_AT" ] && [ "$P" = 0 ] && [ "$LAG" = 0 ] &&
    [ "$(metric ferry_builds_recorded_total)" -gt 0 ]; then
    DONE_AT=$(date +%s.%N)
    break
  fi
done
RSS_KIB=$(awk '/VmHWM/ {print $2}' "/proc/$DP/status")
read -r UT ST < <(awk '{print $14, $15}' "/proc/$DP/stat")
CPU=$(echo "($UT + $ST) / $(getconf CLK_TCK)" | bc -l)
kill -TERM "$DP"
wait "$DP" || true
DP=""
VSTATUS=$("$FERRY" verify --store "$W/store" --ref bench/backlog --json | jq -r .status)
"$FERRY" log bench/backlog --store "$W/store" --json >"$W/log.json"
VERIFIED=$(jq -r '.builds[0].files' "$W/log.json")
BUILDS=$(jq -r '.builds | length' "$W/log.json")
printf '%s\n' "files $FILES${MERGE:+ (--merge)}, --memory $MEMORY MiB:" \
  "  written in      $(printf '%.1f' "$(echo "$WRITTEN_AT - $START" | bc -l)") s" \
  "  caught up after $(printf '%.1f' "$(echo "$DONE_AT - $START" | bc -l)") s (first file to lag 0)" \
  "  peak pending    $PEAK_PENDING" \
  "  peak RSS        $((RSS_KIB / 1024)) MiB" \
  "  daemon CPU      $(printf '%.1f' "$CPU") s" \
  "  latest build    $VERIFIED files, verify: $VSTATUS ($BUILDS builds recorded)"
jq -n --argjson files "$FILES" --argjson merge "$([ ${#MERGE[@]} -gt 0 ] && echo true || echo false)" \
  --argjson memory_mib "$MEMORY" --argjson peak_pending "$PEAK_PENDING" \
  --argjson peak_rss_mib "$((RSS_KIB / 1024))" --argjson cpu_seconds "$CPU" \
  --argjson caught_up_seconds "$(echo "$DONE_AT - $START" | bc -l)" \
  --argjson build_files "$VERIFIED" --arg verify "$VSTATUS" --argjson builds "$BUILDS" \
  '{files: $files, merge: $merge, memory_mib: $memory_mib, peak_pending: $peak_pending,
    peak_rss_mib: $peak_rss_mib, cpu_seconds: $cpu_seconds, caught_up_seconds: $caught_up_seconds,
    build_files: $build_files, verify: $verify, builds: $builds}' >"$JSON_OUT"

# Shared by the end-to-end test scripts: one line per check, a closing
# "N passed, N failed" line. Expects $W (a scratch directory) to be set.
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
# expect_exit NAME CODE CMD...: runs CMD, checks its exit code; stdout in $W/out, stderr in $W/err.
expect_exit() {
  local name=$1 want=$2; shift 2
  "$@" >"$W/out" 2>"$W/err"
  local got=$?
  if [ "$got" = "$want" ]; then ok "$name (exit $got)"; else bad "$name: exit $got, want $want: $(head -c 600 "$W/err")"; fi
}
# json FILTER: jq on the last command's stdout.
json() { jq -r "$1" "$W/out"; }
# cred_server MODE EXPIRES [TOKEN]: starts tests/cred_server.py (a local
# stand-in for the container endpoint, IMDSv2 or STS) handing out
# $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY; sets SPORT, adds its PID to PIDS,
# logs each credential request to $W/MODE.log.
cred_server() {
  # Port 0: the kernel picks a free one (a random pick could be taken).
  rm -f "$W/$1.log.port"
  python3 "$(dirname "${BASH_SOURCE[0]}")/cred_server.py" "$1" 0 "$AWS_ACCESS_KEY_ID" \
    "$AWS_SECRET_ACCESS_KEY" "$2" "$W/$1.log" "${3:-}" &
  PIDS+=($!)
  SPORT=""
  for _ in $(seq 1 50); do
    [ -s "$W/$1.log.port" ] && SPORT=$(cat "$W/$1.log.port")
    [ -n "$SPORT" ] && curl -s -o /dev/null "http://127.0.0.1:$SPORT/" && return 0
    sleep 0.1
  done
}
# wait_ready OUT PID: waits up to 10 s for a daemon's '{"status":"ready","port":N}'
# line in OUT (ferry daemon --json); sets PORT. Fails if PID exits first.
wait_ready() {
  PORT=""
  for _ in $(seq 1 100); do
    PORT=$(jq -r 'select(.status == "ready") | .port' "$1" 2>/dev/null | head -1)
    [ -n "$PORT" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
# finish NAME: the closing line; exit status 1 if anything failed.
finish() {
  echo
  echo "$1: $PASS passed, $FAIL failed"
  [ "$FAIL" = 0 ]
}

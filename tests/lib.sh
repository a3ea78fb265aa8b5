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
# finish NAME: the closing line; exit status 1 if anything failed.
finish() {
  echo
  echo "$1: $PASS passed, $FAIL failed"
  [ "$FAIL" = 0 ]
}

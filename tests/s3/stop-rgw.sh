#!/usr/bin/env bash
# stop-rgw.sh [DATA_DIR] [--purge]
# Stops only the daemons start-rgw.sh started, via DATA_DIR/run/*.pid
# (rgw first, then osd, mgr, mon).  A PID is only signalled if its command line
# still references DATA_DIR/ceph.conf (guards against PID reuse).
# --purge also deletes DATA_DIR afterwards.
set -uo pipefail
DATA=${1:-${DATA_DIR:-${TMPDIR:-/tmp}/ceph-rgw-data}}
PURGE=0; [ "${2:-}" = --purge ] && PURGE=1
[ -d "$DATA" ] || { echo "no such data dir: $DATA" >&2; exit 0; }
DATA=$(cd "$DATA" && pwd)

stop_one() {
  local name=$1 pidf=$DATA/run/$1.pid pid
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf")
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$DATA/ceph.conf"; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; echo "killed $name ($pid) with SIGKILL"; else echo "stopped $name ($pid)"; fi
  fi
  rm -f "$pidf"
}
for d in rgw osd.0 mgr.x mon.a; do stop_one "$d"; done
[ "$PURGE" = 1 ] && rm -rf "${DATA:?}" && echo "purged $DATA"
exit 0

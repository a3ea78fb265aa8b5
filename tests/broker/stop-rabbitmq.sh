#!/usr/bin/env bash
# Ferry's copy of ../shared/broker/stop-rabbitmq.sh: stop the broker that start-rabbitmq.sh started in DATA_DIR, by its PID only.
set -u
DATA=${1:?data dir}; P=$(cat "$DATA/rabbitmq.pid" 2>/dev/null) || exit 0
if [ -n "$P" ] && tr '\0' ' ' <"/proc/$P/cmdline" 2>/dev/null | grep -q "$DATA"; then
  kill "$P"; for i in $(seq 1 50); do kill -0 "$P" 2>/dev/null || break; sleep 0.2; done; kill -9 "$P" 2>/dev/null
fi
rm -f "$DATA/rabbitmq.pid"
# The epmd this broker's start launched, once no Erlang node is registered with it any more.
E=$(cat "$DATA/epmd.pid" 2>/dev/null)
if [ -n "$E" ] && [ "$(cat /proc/$E/comm 2>/dev/null)" = epmd ]; then
  sleep 1; epmd -names 2>/dev/null | grep -q '^name ' || kill "$E" 2>/dev/null
fi
rm -f "$DATA/epmd.pid"

#!/usr/bin/env bash
# Ferry's copy of ../shared/broker/start-rabbitmq.sh (the tests must not need ../shared): start a throwaway RabbitMQ (Debian rabbitmq-server 3.10) on 127.0.0.1 without systemd.
# usage: start-rabbitmq.sh AMQP_PORT DATA_DIR      (stop: stop-rabbitmq.sh DATA_DIR)
# Writes DATA_DIR/rabbitmq.pid and DATA_DIR/amqp.env (AMQP_URL=amqp://127.0.0.1:PORT). Tested on Debian 12.
set -euo pipefail
PORT=${1:?amqp port}; DATA=$(mkdir -p "${2:?data dir}" && cd "$2" && pwd)
command -v rabbitmq-server >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server >/dev/null
# The Debian package may start its own broker from its postinst on a machine with an init system; we run our own.
id rabbitmq >/dev/null 2>&1 || { echo "no rabbitmq user (package not installed?)" >&2; exit 1; }
NODE=ferry$PORT
mkdir -p "$DATA/mnesia" "$DATA/log" "$DATA/home"
[ -f "$DATA/home/.erlang.cookie" ] || { head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DATA/home/.erlang.cookie"; chmod 400 "$DATA/home/.erlang.cookie"; }
chown -R rabbitmq:rabbitmq "$DATA"
ENV="HOME=$DATA/home RABBITMQ_NODENAME=$NODE@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$PORT \
 RABBITMQ_DIST_PORT=$((PORT + 20000)) ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE=$DATA/mnesia RABBITMQ_LOG_BASE=$DATA/log \
 RABBITMQ_PID_FILE=$DATA/rabbitmq.pid RABBITMQ_ENABLED_PLUGINS_FILE=$DATA/enabled_plugins"
echo "[]." >"$DATA/enabled_plugins"; chown rabbitmq "$DATA/enabled_plugins"
# Erlang starts a port-mapper daemon (epmd) on first use and leaves it running: note whether it is ours to stop.
epmd_before=$(pgrep -u rabbitmq -x epmd || true)
setsid su -s /bin/sh rabbitmq -c "env $ENV /usr/lib/rabbitmq/bin/rabbitmq-server" >"$DATA/server.out" 2>&1 < /dev/null &
for i in $(seq 1 90); do
  if su -s /bin/sh rabbitmq -c "env $ENV /usr/lib/rabbitmq/bin/rabbitmqctl -n $NODE@localhost await_startup --timeout 2" >/dev/null 2>&1; then
    echo "AMQP_URL=amqp://127.0.0.1:$PORT" >"$DATA/amqp.env"; echo "NODE=$NODE@localhost" >>"$DATA/amqp.env"
    [ -z "$epmd_before" ] && pgrep -u rabbitmq -x epmd >"$DATA/epmd.pid" || true
    echo "rabbitmq ready on 127.0.0.1:$PORT (pid $(cat "$DATA/rabbitmq.pid" 2>/dev/null))"; exit 0
  fi
  sleep 1
done
echo "rabbitmq did not start; see $DATA/server.out and $DATA/log" >&2; exit 1

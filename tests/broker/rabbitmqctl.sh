#!/usr/bin/env bash
# rabbitmqctl for the broker start-rabbitmq.sh started in DATA_DIR (its node, cookie and home).
# usage: rabbitmqctl.sh DATA_DIR ARGS...   e.g. rabbitmqctl.sh "$D" list_queues name messages
set -euo pipefail
DATA=$(cd "${1:?data dir}" && pwd); shift
# shellcheck disable=SC1091
. "$DATA/amqp.env"
ARGS=$(printf '%q ' "$@")
su -s /bin/sh rabbitmq -c "env HOME=$DATA/home /usr/lib/rabbitmq/bin/rabbitmqctl -q -n $NODE $ARGS"

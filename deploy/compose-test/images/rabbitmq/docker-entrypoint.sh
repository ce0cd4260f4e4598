#!/bin/bash
# What docker-compose.yml relies on from the official image: RABBITMQ_DEFAULT_USER and
# RABBITMQ_DEFAULT_PASS make the default user (guest/guest otherwise), logs go to the console,
# and `rabbitmq-diagnostics` (the health check) talks to the running node. Debian's wrappers in
# /usr/sbin run the server and the tools as the user rabbitmq, with one Erlang cookie.
set -euo pipefail
cat > /etc/rabbitmq/rabbitmq.conf <<CONF
listeners.tcp.default = 5672
loopback_users.guest = false
default_user = ${RABBITMQ_DEFAULT_USER:-guest}
default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}
log.console = true
log.console.level = info
log.file = false
CONF
exec "$@"

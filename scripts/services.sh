#!/usr/bin/env bash
# Starts the brokers the tests talk to, each only if it is not already up, and waits until each
# accepts work: Redis (127.0.0.1:6379) and RabbitMQ (127.0.0.1:5672, guest/guest), which this kind
# of machine ships, and a Kafka-protocol broker (scripts/kafka.sh installs and starts it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! redis-cli ping >/dev/null 2>&1; then
    echo "services.sh: starting redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 50); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli ping >/dev/null

if ! timeout 30 rabbitmqctl status >/dev/null 2>&1; then
    echo "services.sh: starting rabbitmq"
    rabbitmq-server -detached
fi
timeout 120 rabbitmqctl await_startup >/dev/null
# a stopped app (left by an interrupted restart test) is started again
timeout 60 rabbitmqctl start_app >/dev/null 2>&1 || true

if [ -x scripts/kafka.sh ]; then
    scripts/kafka.sh start
fi

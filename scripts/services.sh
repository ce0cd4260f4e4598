#!/usr/bin/env bash
# Starts the brokers the tests talk to, each only if it is not already up, and waits until each
# accepts work: Redis (127.0.0.1:6379), RabbitMQ (127.0.0.1:5672, guest/guest), NATS with
# JetStream (127.0.0.1:4222) and a Kafka-protocol broker (127.0.0.1:9092: scripts/kafka.sh
# installs and starts tansu, which then runs in the background until `scripts/kafka.sh stop`).
# Redis, RabbitMQ and NATS come from Debian's packages (scripts/prereqs.sh installs them).
#
# Redis and NATS are started by anyone (their files under /var/lib as root, under /tmp
# otherwise).
# RabbitMQ is started only as root; for anyone else, one that already listens on 5672 will do,
# and the script says how to start it when none does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PATH="$PATH:/usr/sbin:/sbin"

listening() {
    # bash's /dev/tcp: no netcat needed
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# --- Redis ---------------------------------------------------------------------------------------
if ! redis-cli ping >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        dir=/var/lib/redis
        log=/var/log/redis/ci.log
    else
        dir="${TMPDIR:-/tmp}/volley-redis-$(id -u)"
        log="$dir/redis.log"
    fi
    echo "services.sh: starting redis (files in $dir)"
    mkdir -p "$dir" "$(dirname "$log")"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir "$dir" --logfile "$log"
    for _ in $(seq 50); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
if ! redis-cli ping >/dev/null 2>&1; then
    echo "services.sh: redis does not answer on 127.0.0.1:6379" >&2
    exit 1
fi

# --- RabbitMQ ------------------------------------------------------------------------------------
# rabbitmqctl needs the broker's Erlang cookie, which only root (and the rabbitmq user) can read.
if [ "$(id -u)" = 0 ]; then
    if ! timeout 30 rabbitmqctl status >/dev/null 2>&1; then
        echo "services.sh: starting rabbitmq"
        rabbitmq-server -detached
    fi
    timeout 120 rabbitmqctl await_startup >/dev/null
    # a stopped app (left by an interrupted restart test) is started again
    timeout 60 rabbitmqctl start_app >/dev/null 2>&1 || true
elif ! listening 5672; then
    echo "services.sh: RabbitMQ does not listen on 127.0.0.1:5672; start it as root, e.g.:" >&2
    echo "    service rabbitmq-server start    (or: rabbitmq-server -detached)" >&2
    exit 1
fi

# --- NATS, with JetStream ------------------------------------------------------------------------
if ! listening 4222; then
    if [ "$(id -u)" = 0 ]; then
        dir=/var/lib/nats-server
        log=/var/log/nats-server.log
    else
        dir="${TMPDIR:-/tmp}/volley-nats-$(id -u)"
        log="$dir/nats-server.log"
    fi
    echo "services.sh: starting nats-server (files in $dir)"
    mkdir -p "$dir" "$(dirname "$log")"
    # nats-server has no daemon mode: it runs in the background, past this script
    nohup nats-server -a 127.0.0.1 -p 4222 -js -sd "$dir" -l "$log" >/dev/null 2>&1 &
    for _ in $(seq 50); do listening 4222 && break; sleep 0.1; done
fi
if ! listening 4222; then
    echo "services.sh: NATS does not listen on 127.0.0.1:4222" >&2
    exit 1
fi

# --- a Kafka-protocol broker ---------------------------------------------------------------------
if [ -x scripts/kafka.sh ]; then
    scripts/kafka.sh start
fi

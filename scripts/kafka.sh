#!/usr/bin/env bash
# The Kafka-protocol broker of the tests: tansu (crates.io), in memory, on 127.0.0.1:9092.
#
#   scripts/kafka.sh            install tansu if missing, start it unless something listens on
#                               127.0.0.1:9092, wait until it accepts connections (default)
#   scripts/kafka.sh start      the same
#   scripts/kafka.sh stop       stop the tansu this script started (pid in /tmp/tansu.pid)
#   scripts/kafka.sh restart    stop, then start: the memory storage forgets every topic
#   scripts/kafka.sh status     say whether something listens on 127.0.0.1:9092
#   scripts/kafka.sh pid        print the pid of the tansu this script started, if it runs
#
# The install (`cargo install tansu`, into ~/.cargo/bin) takes many minutes once; later runs find
# the binary and skip it. Its log is /tmp/tansu-install.log; the broker's is /tmp/tansu.log.
# Environment: TANSU_VERSION (default below), KAFKA_PORT (9092), KAFKA_WAIT (60 seconds).
set -euo pipefail

version="${TANSU_VERSION:-0.6.0}"
port="${KAFKA_PORT:-9092}"
wait_seconds="${KAFKA_WAIT:-60}"
host=127.0.0.1
pid_file=/tmp/tansu.pid
log_file=/tmp/tansu.log
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
tansu="$cargo_bin/tansu"

listening() {
    # bash's /dev/tcp: no netcat needed
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# `dynostore`: the object-store engines, memory:// included (the shared broker); `libsql`: the
# sqlite:// engine, which keeps topics across a restart (the tests' private brokers,
# tests/src/brokers/tansu.rs).
features="dynostore,libsql"

install() {
    if [ -x "$tansu" ] && cargo install --list 2>/dev/null | grep -q "^tansu v$version:" &&
        grep -q '"tansu '"$version"' [^"]*":{[^}]*"features":\["dynostore","libsql"\]' \
            "${CARGO_HOME:-$HOME/.cargo}/.crates2.json" 2>/dev/null; then
        return
    fi
    echo "kafka.sh: installing tansu $version into $cargo_bin (slow, once; log: /tmp/tansu-install.log)"
    if ! cargo install tansu --version "$version" --locked --features "$features" \
        >/tmp/tansu-install.log 2>&1; then
        tail -n 30 /tmp/tansu-install.log >&2
        echo "kafka.sh: cargo install tansu failed (see /tmp/tansu-install.log)" >&2
        exit 1
    fi
}

running_pid() {
    local pid
    pid="$(cat "$pid_file" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "$pid"
        return
    fi
    # A tansu this script started from another checkout (another CI run, say) wrote its pid to
    # a file since overwritten: known by its command line, which only this script gives it.
    pid="$(pgrep -f -o "^$tansu broker --listener-url tcp://$host:$port " || true)"
    [ -n "$pid" ] && echo "$pid"
}

start() {
    if listening; then
        echo "kafka.sh: a broker already listens on $host:$port"
        return
    fi
    install
    echo "kafka.sh: starting tansu on $host:$port (log: $log_file)"
    # setsid: the broker outlives this script and the shell that ran it.
    setsid "$tansu" broker \
        --listener-url "tcp://$host:$port" \
        --advertised-listener-url "tcp://$host:$port" \
        --storage-engine "memory://tansu/" \
        </dev/null >>"$log_file" 2>&1 &
    echo $! >"$pid_file"
    local waited=0
    until listening; do
        if ! running_pid >/dev/null; then
            tail -n 30 "$log_file" >&2
            echo "kafka.sh: tansu exited (see $log_file)" >&2
            exit 1
        fi
        if [ "$waited" -ge $((wait_seconds * 10)) ]; then
            echo "kafka.sh: tansu did not accept connections on $host:$port within ${wait_seconds}s" >&2
            exit 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "kafka.sh: tansu is up on $host:$port (pid $(cat "$pid_file"))"
}

stop() {
    local pid
    if pid="$(running_pid)"; then
        echo "kafka.sh: stopping tansu (pid $pid)"
        kill "$pid" 2>/dev/null || true
        # tansu drains its connections on SIGTERM; it keeps nothing worth waiting long for
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    elif listening; then
        echo "kafka.sh: something else listens on $host:$port (not started by this script): left alone" >&2
        exit 1
    fi
    rm -f "$pid_file"
    # wait until the port is free, so that a start right after binds it
    for _ in $(seq 1 100); do
        listening || return 0
        sleep 0.1
    done
    echo "kafka.sh: $host:$port is still in use" >&2
    exit 1
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
restart)
    stop
    start
    ;;
install) install ;;
status)
    if listening; then
        echo "kafka.sh: a broker listens on $host:$port"
    else
        echo "kafka.sh: nothing listens on $host:$port"
        exit 1
    fi
    ;;
pid) running_pid ;;
*)
    echo "usage: $0 [start|stop|restart|status|install|pid]" >&2
    exit 2
    ;;
esac

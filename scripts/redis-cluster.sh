#!/usr/bin/env bash
# A local Redis Cluster for the tests and the benchmarks: three masters (no replicas) on free
# ports of 127.0.0.1, their files in a temporary directory, nothing saved to disk.
#
#   scripts/redis-cluster.sh start   start it unless it runs (idempotent; concurrent calls wait
#                                    for each other), wait until the cluster is ok, print its URL
#   scripts/redis-cluster.sh url     print its URL (redis-cluster://127.0.0.1:P1,…) if it runs,
#                                    else fail
#   scripts/redis-cluster.sh stop    stop the servers this script started (by their recorded
#                                    pids) and remove its directory
#
# Environment: REDIS_CLUSTER_DIR (default ${TMPDIR:-/tmp}/volley-redis-cluster-<uid>).
# Needs redis-server and redis-cli 7 or later (sharded pub/sub).
set -euo pipefail

dir="${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/volley-redis-cluster-$(id -u)}"
host=127.0.0.1

ports() {
    cat "$dir/ports" 2>/dev/null || true
}

url() {
    local list=() p
    for p in $(ports); do list+=("$host:$p"); done
    [ "${#list[@]}" -eq 3 ] || return 1
    (IFS=,; echo "redis-cluster://${list[*]}")
}

# The pid a server of this cluster recorded, if that process is still a redis-server.
server_pid() {
    local pid
    pid="$(cat "$dir/$1/redis.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        grep -q redis-server "/proc/$pid/comm" 2>/dev/null; then
        echo "$pid"
    fi
}

healthy() {
    local p
    [ -n "$(ports)" ] || return 1
    for p in $(ports); do
        [ -n "$(server_pid "$p")" ] || return 1
        redis-cli -h "$host" -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' ||
            return 1
    done
}

listening() {
    (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null
}

# A port free for the server and for its cluster bus (port + 10000).
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 20000))
        if ! listening "$p" && ! listening $((p + 10000)) && ! grep -qw "$p" <<<"${taken:-}"; then
            echo "$p"
            return
        fi
    done
    echo "redis-cluster.sh: no free port found" >&2
    exit 1
}

stop() {
    local p pid
    for p in $(ports); do
        pid="$(server_pid "$p")"
        if [ -n "$pid" ]; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    done
    rm -rf "$dir"
}

start() {
    if healthy; then
        url
        return
    fi
    # whatever is left of an earlier cluster (a server died, a create failed) goes first
    stop
    mkdir -p "$dir"
    local taken="" p list=()
    for _ in 1 2 3; do
        p="$(free_port)"
        taken="$taken $p"
        list+=("$host:$p")
        mkdir -p "$dir/$p"
        redis-server --bind "$host" --port "$p" --cluster-enabled yes \
            --cluster-config-file "$dir/$p/nodes.conf" --dir "$dir/$p" \
            --save "" --appendonly no --daemonize yes \
            --pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log" >/dev/null 9>&-
    done
    echo "$taken" | xargs -n1 >"$dir/ports"
    for p in $(ports); do
        for _ in $(seq 50); do
            redis-cli -h "$host" -p "$p" ping >/dev/null 2>&1 && break
            sleep 0.1
        done
    done
    if ! redis-cli --cluster create "${list[@]}" --cluster-replicas 0 --cluster-yes \
        >"$dir/create.log" 2>&1; then
        cat "$dir/create.log" >&2
        echo "redis-cluster.sh: redis-cli --cluster create failed" >&2
        exit 1
    fi
    for _ in $(seq 100); do
        healthy && break
        sleep 0.1
    done
    if ! healthy; then
        echo "redis-cluster.sh: the cluster did not become ok (logs in $dir)" >&2
        exit 1
    fi
    url
}

command="${1:-start}"
case "$command" in
    start | stop)
        mkdir -p "$(dirname "$dir")"
        # one caller at a time: the tests of several processes may ask at once
        exec 9>"$dir.lock"
        flock 9
        "$command"
        ;;
    url)
        healthy && url
        ;;
    *)
        echo "usage: $0 start|stop|url" >&2
        exit 2
        ;;
esac

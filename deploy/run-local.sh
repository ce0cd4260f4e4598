#!/usr/bin/env bash
# The topology of docker-compose.yml as local processes, for a machine without Docker: three chat
# nodes (127.0.0.1:3101-3103) joined by an adapter, and nginx (127.0.0.1:3100) in front of them,
# configured from the same template as the compose file's balancer (deploy/nginx/).
#
#   deploy/run-local.sh [start]   starts everything; stops what it started if a step fails
#   deploy/run-local.sh stop      stops what start started (found through its pid files)
#   deploy/run-local.sh status    tells what runs
#
# Environment (the defaults suit a person; deploy_nginx.rs sets most of them):
#   VOLLEY_ADAPTER     redis (default), amqp, kafka, memory, or an adapter URL; the broker must
#                      be running (see deploy/common.sh for the URLs and the variables that
#                      change them: VOLLEY_REDIS_URL, VOLLEY_AMQP_URL, VOLLEY_KAFKA_URL)
#   CHAT_BIN           the chat server (default target/release/chat, built with cargo if missing);
#                      it takes the chat binary's flags --port, --adapter and --public
#   VOLLEY_LB_ADDR     where nginx listens (default 127.0.0.1:3100)
#   VOLLEY_NODE_PORTS  the three nodes' ports on 127.0.0.1 (default "3101 3102 3103")
#   VOLLEY_BALANCE     sticky (default): nginx pins each client to a node by its address;
#                      round-robin: nginx spreads every request over the nodes, and each node
#                      is started with --advertise 127.0.0.1:PORT, so that a node hands the
#                      requests of a session it does not hold to the node that does (no
#                      sticky sessions; needs a cluster adapter, not memory)
#   VOLLEY_RUN_DIR     pid files, logs and the rendered nginx config
#                      (default ${TMPDIR:-/tmp}/volley-deploy); stop and status read the same
#   NGINX              the nginx binary (default: nginx on PATH, else /usr/sbin/nginx; when
#                      neither exists and this runs as root, Debian's nginx package is installed)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/deploy/common.sh"

run="${VOLLEY_RUN_DIR:-${TMPDIR:-/tmp}/volley-deploy}"
lb_addr="${VOLLEY_LB_ADDR:-127.0.0.1:3100}"
read -r -a node_ports <<<"${VOLLEY_NODE_PORTS:-3101 3102 3103}"
template="$root/deploy/nginx/volley.conf.template"
balance="${VOLLEY_BALANCE:-sticky}"

say() { echo "run-local.sh: $*" >&2; }

# --- processes, through pid files ----------------------------------------------------------------

# The pid in pid file $1 if that process runs and its command line contains $2.
live_pid() {
    local file="$1" marker="$2" pid
    [ -f "$file" ] || return 1
    pid="$(head -n1 "$file" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker" || return 1
    printf '%s\n' "$pid"
}

# Whether the process of pid file $1 has ended: no such process, or one that exited and was not
# reaped yet. (Not "not live_pid": a node just started may still be this script's fork, before
# it runs the chat binary, and its command line has no marker yet.)
ended() {
    local pid state
    pid="$(head -n1 "$1" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 0
    [ -z "$state" ] || [ "$state" = Z ]
}

# Stops the process of pid file $1 (command line containing $2): TERM, then KILL after 10 s.
stop_one() {
    local file="$1" marker="$2" name="$3" pid i
    if pid="$(live_pid "$file" "$marker")"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name (pid $pid) ignored TERM: killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped $name (pid $pid)"
    fi
    rm -f "$file"
}

# What the command lines of the processes started here contain (a pid file may outlive its
# process, and the pid be reused by another one).
nginx_marker="$run/nginx.conf"
node_marker="--public $root/examples/chat"

stop_all() {
    local i
    [ -d "$run" ] || return 0
    stop_one "$run/nginx.pid" "$nginx_marker" "nginx"
    for i in 1 2 3; do
        stop_one "$run/node$i.pid" "$node_marker" "node$i"
    done
}

status() {
    local i pid any=1
    if pid="$(live_pid "$run/nginx.pid" "$nginx_marker")"; then
        echo "nginx  pid $pid  http://$(cat "$run/lb.addr" 2>/dev/null || echo "$lb_addr")"
        any=0
    else
        echo "nginx  not running"
    fi
    for i in 1 2 3; do
        if pid="$(live_pid "$run/node$i.pid" "$node_marker")"; then
            echo "node$i  pid $pid  $(cat "$run/node$i.addr" 2>/dev/null || true)"
            any=0
        else
            echo "node$i  not running"
        fi
    done
    echo "run dir: $run"
    return $any
}

# --- start ---------------------------------------------------------------------------------------

fail() {
    say "$*"
    stop_all
    exit 1
}

# The last lines of a log, indented, for error messages.
tail_of() {
    [ -f "$1" ] && tail -n 20 "$1" | sed 's/^/    /' >&2 || true
}

find_nginx() {
    if [ -n "${NGINX:-}" ]; then
        [ -x "$NGINX" ] || fail "NGINX=$NGINX is not an executable"
        printf '%s\n' "$NGINX"
        return
    fi
    if command -v nginx >/dev/null; then
        command -v nginx
        return
    fi
    if [ -x /usr/sbin/nginx ]; then
        printf '/usr/sbin/nginx\n'
        return
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing nginx (Debian package)"
        # Debian starts services on install unless policy-rc.d forbids it; the system nginx is
        # not used here either way (it would listen on port 80 with its own config).
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >&2; then
            apt-get update -qq >&2 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >&2 ||
                fail "cannot install nginx with apt-get"
        fi
        [ -x /usr/sbin/nginx ] || fail "nginx was installed but /usr/sbin/nginx is missing"
        printf '/usr/sbin/nginx\n'
        return
    fi
    fail "nginx is not installed: install Debian's nginx package (apt-get install nginx), or set NGINX"
}

# Fills the template's placeholders: exactly these, nothing else (like the nginx image's envsubst
# with only these variables set).
render_template() {
    local text name
    text="$(cat "$template")"
    for name in VOLLEY_LISTEN VOLLEY_NODE_1 VOLLEY_NODE_2 VOLLEY_NODE_3 VOLLEY_ACCESS_LOG; do
        text="${text//"\${$name}"/"${!name}"}"
    done
    if grep -n '\${VOLLEY_' <<<"$text" >&2; then
        fail "placeholders left in $template (above)"
    fi
    if [ "$balance" = round-robin ]; then
        # the one line that pins clients to nodes goes: nginx's default is round-robin
        grep -q '^ *hash \$remote_addr consistent;$' <<<"$text" ||
            fail "$template has no 'hash \$remote_addr consistent;' line to drop"
        text="$(sed 's/^\( *\)hash \$remote_addr consistent;$/\1# (run-local.sh, round-robin: no hash)/' <<<"$text")"
    fi
    printf '%s\n' "$text"
}

start() {
    local i pid url broker chat_bin nginx_bin port deadline

    if [ "${#node_ports[@]}" -ne 3 ]; then
        say "VOLLEY_NODE_PORTS must name three ports (the template has three nodes)"
        exit 2
    fi
    if status >/dev/null 2>&1; then
        say "already running (deploy/run-local.sh status); stop it first: deploy/run-local.sh stop"
        exit 1
    fi
    mkdir -p "$run"
    # nginx's workers (not root) must reach the temp dirs below
    chmod 755 "$run"
    rm -f "$run"/*.pid "$run"/*.log "$run"/*.addr "$run"/nginx.conf "$run"/volley.conf

    case "$balance" in
        sticky | round-robin) ;;
        *)
            say "VOLLEY_BALANCE must be sticky or round-robin, not $balance"
            exit 2
            ;;
    esac
    url="$(volley_adapter_url "${VOLLEY_ADAPTER:-redis}")" || exit 2
    broker="$(volley_broker_address "$url")"
    if [ -n "$broker" ] && ! volley_tcp_open "$broker"; then
        say "nothing listens at $broker, the broker of $url"
        case "$url" in
            redis://*) say "start Redis, e.g.: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no" ;;
            amqp://*) say "start RabbitMQ, e.g.: rabbitmq-server -detached" ;;
            kafka://*) say "start a Kafka broker, e.g.: tansu broker --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 --storage-engine memory://tansu/" ;;
        esac
        exit 1
    fi
    if [ "$url" = memory ]; then
        [ "$balance" = round-robin ] &&
            fail "VOLLEY_BALANCE=round-robin needs a cluster adapter: memory nodes cannot find each other's sessions"
        say "warning: with the memory adapter the nodes do not share rooms: messages stay on their node"
    fi

    if [ -n "${CHAT_BIN:-}" ]; then
        chat_bin="$CHAT_BIN"
        [ -x "$chat_bin" ] || fail "CHAT_BIN=$chat_bin is not an executable"
    else
        chat_bin="$root/target/release/chat"
        if [ ! -x "$chat_bin" ]; then
            say "building the chat binary (cargo build --release -p volley-examples --bin chat)"
            (cd "$root" && cargo build --release -p volley-examples --bin chat >&2) ||
                fail "cannot build the chat binary"
        fi
    fi

    # the page's socket.io-client, which the chat server refuses to start without
    if [ ! -f "$root/examples/chat/node_modules/socket.io-client/dist/socket.io.min.js" ]; then
        command -v npm >/dev/null ||
            fail "npm is needed to install the page's socket.io-client (Debian: apt-get install npm)"
        say "installing socket.io-client for the page (npm ci in examples/chat)"
        (cd "$root/examples/chat" && npm ci --no-audit --no-fund >&2) || fail "npm ci failed"
    fi

    nginx_bin="$(find_nginx)" || exit 1

    for i in 1 2 3; do
        port="${node_ports[$((i - 1))]}"
        volley_tcp_open "127.0.0.1:$port" && fail "port $port (node$i) is taken"
        local advertise=()
        [ "$balance" = round-robin ] && advertise=(--advertise "127.0.0.1:$port")
        # setsid: the node outlives this script and is not in its caller's process group
        NO_COLOR=1 setsid "$chat_bin" --port "$port" --adapter "$url" --public "$root/examples/chat" \
            "${advertise[@]}" </dev/null >"$run/node$i.log" 2>&1 &
        echo $! >"$run/node$i.pid"
        echo "http://127.0.0.1:$port" >"$run/node$i.addr"
    done
    for i in 1 2 3; do
        port="${node_ports[$((i - 1))]}"
        deadline=$((SECONDS + 30))
        until volley_http_ok 127.0.0.1 "$port" /; do
            if ended "$run/node$i.pid"; then
                say "node$i exited; its log ($run/node$i.log):"
                tail_of "$run/node$i.log"
                fail "node$i did not start"
            fi
            if ((SECONDS >= deadline)); then
                tail_of "$run/node$i.log"
                fail "node$i does not answer on 127.0.0.1:$port after 30 s"
            fi
            sleep 0.2
        done
    done

    mkdir -p "$run/nginx-temp"
    VOLLEY_LISTEN="$lb_addr" \
        VOLLEY_NODE_1="127.0.0.1:${node_ports[0]}" \
        VOLLEY_NODE_2="127.0.0.1:${node_ports[1]}" \
        VOLLEY_NODE_3="127.0.0.1:${node_ports[2]}" \
        VOLLEY_ACCESS_LOG="$run/nginx-access.log" \
        render_template >"$run/volley.conf"
    # What the nginx image (and Debian's nginx.conf) provide around the template: process
    # settings, all files under the run dir.
    cat >"$run/nginx.conf" <<CONF
# Written by deploy/run-local.sh around deploy/nginx/volley.conf.template.
worker_processes 1;
pid $run/nginx.pid;
error_log $run/nginx-error.log notice;
events {
    worker_connections 1024;
}
http {
    client_body_temp_path $run/nginx-temp/client_body;
    proxy_temp_path $run/nginx-temp/proxy;
    fastcgi_temp_path $run/nginx-temp/fastcgi;
    uwsgi_temp_path $run/nginx-temp/uwsgi;
    scgi_temp_path $run/nginx-temp/scgi;
    include $run/volley.conf;
}
CONF
    local nginx_args=(-p "$run/" -c "$run/nginx.conf" -e "$run/nginx-error.log")
    "$nginx_bin" -t -q "${nginx_args[@]}" 2>"$run/nginx-test.log" || {
        tail_of "$run/nginx-test.log"
        fail "nginx refuses the configuration $run/nginx.conf"
    }
    # nginx puts itself in the background and writes nginx.pid; an error (port taken, …) shows
    # here and in its exit status.
    "$nginx_bin" "${nginx_args[@]}" </dev/null >>"$run/nginx-error.log" 2>&1 || {
        tail_of "$run/nginx-error.log"
        fail "nginx did not start"
    }
    echo "$lb_addr" >"$run/lb.addr"
    deadline=$((SECONDS + 15))
    until volley_http_ok "${lb_addr%:*}" "${lb_addr##*:}" /; do
        if ((SECONDS >= deadline)); then
            tail_of "$run/nginx-error.log"
            fail "nginx does not answer at http://$lb_addr/ after 15 s"
        fi
        sleep 0.2
    done

    say "chat on http://$lb_addr/ via nginx; nodes on 127.0.0.1 ports ${node_ports[*]}; adapter $url"
    say "logs in $run (node1.log…, nginx-access.log: which node took each request); stop: $0 stop"
}

case "${1:-start}" in
    start) start ;;
    stop) stop_all ;;
    status) status ;;
    -h | --help | help) sed -n '2,23p' "$0" ;;
    *)
        say "unknown command ${1@Q}: start, stop or status"
        exit 2
        ;;
esac

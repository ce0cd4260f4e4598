# Shell functions shared by deploy/run-local.sh and the chat image's entrypoint
# (deploy/docker-entrypoint.sh), so that both read VOLLEY_ADAPTER the same way. Bash, sourced.

# The chat server's --adapter URL for an adapter name (VOLLEY_ADAPTER):
#   redis (default)  $VOLLEY_REDIS_URL, default redis://127.0.0.1:6379
#   amqp             $VOLLEY_AMQP_URL,  default amqp://guest:guest@127.0.0.1:5672/%2f
#   kafka            $VOLLEY_KAFKA_URL, default kafka://127.0.0.1:9092
#   memory           memory: every node on its own (messages do not cross nodes)
#   scheme://...     taken as the URL itself
volley_adapter_url() {
    local name="${1:-redis}"
    case "$name" in
        redis) printf '%s\n' "${VOLLEY_REDIS_URL:-redis://127.0.0.1:6379}" ;;
        amqp) printf '%s\n' "${VOLLEY_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}" ;;
        kafka) printf '%s\n' "${VOLLEY_KAFKA_URL:-kafka://127.0.0.1:9092}" ;;
        memory) printf 'memory\n' ;;
        *://*) printf '%s\n' "$name" ;;
        *)
            echo "unknown VOLLEY_ADAPTER ${name@Q}: use redis, amqp, kafka, memory or an adapter URL" >&2
            return 1
            ;;
    esac
}

# host:port of the first broker of an adapter URL (user, password, path and further brokers
# dropped; the scheme's usual port when none is given). Nothing for `memory`.
volley_broker_address() {
    local url="$1" scheme rest port
    case "$url" in
        *://*) ;;
        *) return 0 ;;
    esac
    scheme="${url%%://*}"
    rest="${url#*://}"
    rest="${rest%%/*}"
    rest="${rest%%,*}"
    rest="${rest##*@}"
    case "$scheme" in
        redis) port=6379 ;;
        amqp) port=5672 ;;
        kafka) port=9092 ;;
        *) port="" ;;
    esac
    case "$rest" in
        *:*) printf '%s\n' "$rest" ;;
        *) printf '%s:%s\n' "$rest" "$port" ;;
    esac
}

# Whether something accepts TCP connections at host:port (within 2 s).
volley_tcp_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/${1%:*}/${1##*:}" 2>/dev/null
}

# Whether GET <path> on http://host:port answers 200 (within 5 s). No curl needed.
volley_http_ok() {
    local host="$1" port="$2" path="${3:-/}"
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        printf "GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n" "$2" "$0" "$1" >&3
        IFS= read -r status <&3 || exit 1
        case "$status" in "HTTP/1."?" 200"*) exit 0 ;; *) exit 1 ;; esac
    ' "$host" "$port" "$path" 2>/dev/null
}

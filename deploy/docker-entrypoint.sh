#!/usr/bin/env bash
# Entrypoint of the chat image (Dockerfile): serves the chat example on 0.0.0.0:$VOLLEY_PORT
# (default 3000) with the adapter that VOLLEY_ADAPTER names (redis, amqp, kafka; see
# deploy/common.sh for the URLs, set by docker-compose.yml). Extra arguments go to the server.
#
#   docker-entrypoint.sh healthcheck   exits 0 when the server answers GET / with 200
set -euo pipefail
. /usr/local/lib/volley/common.sh

port="${VOLLEY_PORT:-3000}"
if [ "${1:-}" = healthcheck ]; then
    volley_http_ok 127.0.0.1 "$port" /
    exit
fi
url="$(volley_adapter_url "${VOLLEY_ADAPTER:-redis}")"
echo "volley-chat: adapter ${VOLLEY_ADAPTER:-redis} ($url), port $port" >&2
exec /usr/local/bin/chat --host 0.0.0.0 --port "$port" --adapter "$url" \
    --public /usr/local/share/volley/chat "$@"

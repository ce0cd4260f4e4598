#!/bin/sh
# What docker-compose.yml relies on from the official image's entrypoint: `redis-server ARGS`
# (or only options) runs the server as the user redis, reachable from other containers (the
# official image builds Redis with protected mode off: the container network is the boundary).
set -e
case "${1:-}" in
    -*) set -- redis-server "$@" ;;
esac
if [ "${1:-}" = redis-server ]; then
    shift
    exec setpriv --reuid=redis --regid=redis --init-groups redis-server --protected-mode no "$@"
fi
exec "$@"

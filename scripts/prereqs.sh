#!/usr/bin/env bash
# Installs, with Debian's packages, what building and testing Volley needs beyond Rust, Node.js
# and Python: a C/C++ toolchain and make (the bundled librdkafka of the Kafka adapter), Chromium
# (the browser tests), nginx (the deployment test) and redis-server (the shared Redis, and the
# private servers the restart and fault tests kill). Each only when missing; needs root.
set -euo pipefail

missing=()
command -v make >/dev/null && command -v g++ >/dev/null || missing+=(build-essential)
command -v chromium >/dev/null || missing+=(chromium)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v redis-server >/dev/null || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "prereqs.sh: missing ${missing[*]}: install them with your package manager" >&2
    exit 1
fi
echo "prereqs.sh: installing ${missing[*]}"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null

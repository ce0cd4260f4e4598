#!/usr/bin/env bash
# Runs docker-compose.yml for real and checks the cluster through nginx, once per adapter.
#
#   deploy/compose-test.sh                 redis, amqp and kafka, one deployment after the other
#   deploy/compose-test.sh amqp kafka      only those
#   deploy/compose-test.sh --quick         redis only (what CI runs)
#   deploy/compose-test.sh --source        build chat and tansu from source inside Docker, as a
#                                          user's `docker compose up --build` does (slow)
#   deploy/compose-test.sh --ci            --quick, and when no Docker engine can be had, say
#                                          "compose test skipped: <reason>" and exit 0
#
# For each adapter: `docker compose up` of the compose file as users run it (project
# volley-compose-test, nginx published on a free port of 127.0.0.1), wait until nginx is healthy,
# run deploy/compose-test/check.mjs (official clients over long-polling, WebSocket and the
# upgrade, on the three nodes, in one room; nginx's access log), then `down -v`. On failure it
# shows the services' logs and still takes everything down. Exit status 0 only if every adapter
# passed.
#
# Images. No registry is needed: the official base images are replaced by local stand-ins built
# here once and kept (deploy/compose-test/images/: Debian bookworm from debootstrap, with
# Debian's redis-server, rabbitmq-server and nginx; the host's node and, for --source, the
# host's Rust toolchain). The chat and tansu images are built from the Dockerfile with those
# bases. Without --source they take binaries built on the host (CHAT_BUILD=prebuilt,
# TANSU_BUILD=prebuilt): CHAT_BIN (default: `cargo build --release` of the chat example) and
# TANSU_BIN (default: the tansu that scripts/kafka.sh installs).
#
# The engine. As root, a Docker engine that is not running is started (dockerd, log in
# $TMPDIR/volley-compose-test-dockerd.log) and stopped at the end; with --ci, Debian's docker.io,
# docker-compose and debootstrap are installed when missing. Compose v2 (`docker compose`) or
# v1 (`docker-compose`) both work. The builds need BuildKit: a docker client with buildx, or one
# older than 23 with DOCKER_BUILDKIT=1 (Debian's).
#
# Environment: CHAT_BIN, TANSU_BIN (above), COMPOSE_TEST_PROJECT (default volley-compose-test),
# COMPOSE_TEST_TIMEOUT (seconds for the deployment to become healthy, default 240).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

quick=false
source_build=false
ci=false
adapters=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=true ;;
        --source) source_build=true ;;
        --ci)
            ci=true
            quick=true
            ;;
        redis | amqp | kafka) adapters+=("$arg") ;;
        *)
            echo "usage: $0 [--quick] [--source] [--ci] [redis|amqp|kafka ...]" >&2
            exit 2
            ;;
    esac
done
if [ ${#adapters[@]} -eq 0 ]; then
    if $quick; then adapters=(redis); else adapters=(redis amqp kafka); fi
fi

project="${COMPOSE_TEST_PROJECT:-volley-compose-test}"
timeout_s="${COMPOSE_TEST_TIMEOUT:-240}"
label="volley-compose-test=$project"
images="$root/deploy/compose-test/images"
prebuilt="$root/deploy/prebuilt"
tmp="${TMPDIR:-/tmp}"
started_engine=""
t0=$SECONDS

say() { printf '%s [%3ds] %s\n' "compose-test:" "$((SECONDS - t0))" "$*"; }
die() {
    say "FAILED: $*" >&2
    exit 1
}
# Without an engine: --ci skips, otherwise it is a failure.
unavailable() {
    if $ci; then
        echo "compose test skipped: $*"
        exit 0
    fi
    die "$*"
}
is_root() { [ "$(id -u)" -eq 0 ]; }

# One run at a time: runs share the image names (volley-chat, volley-tansu) and deploy/prebuilt.
exec 9>"$tmp/volley-compose-test.lock"
flock -n 9 || die "another deploy/compose-test.sh is running (lock: $tmp/volley-compose-test.lock)"

# Whatever happens from here on: the deployment is taken down, the client containers removed,
# and a dockerd this script started is stopped.
compose=()
made_prebuilt=false
cleanup() {
    local status=$?
    set +e
    if [ ${#compose[@]} -gt 0 ]; then
        "${compose[@]}" down -v --remove-orphans -t 3 >/dev/null 2>&1
        docker ps -aq --filter "label=$label" | xargs -r docker rm -f >/dev/null 2>&1
    fi
    if $made_prebuilt; then rm -rf "$prebuilt"; fi
    if [ -n "$started_engine" ]; then
        say "stopping the dockerd this script started (pid $started_engine)"
        kill "$started_engine" 2>/dev/null
        wait "$started_engine" 2>/dev/null
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the engine, the clients ----------------------------------------------------------------------
if $ci && is_root && command -v apt-get >/dev/null; then
    pkgs=()
    command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || pkgs+=(docker.io)
    { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; } ||
        pkgs+=(docker-compose)
    command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || pkgs+=(debootstrap)
    if [ ${#pkgs[@]} -gt 0 ]; then
        say "installing ${pkgs[*]} (apt-get)"
        apt_log="$tmp/volley-compose-test-apt.log"
        apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" >>"$apt_log" 2>&1; }
        : >"$apt_log"
        # an old package list first fails: update it then
        apt_install || { apt-get update -q >>"$apt_log" 2>&1 && apt_install; } ||
            unavailable "apt-get install ${pkgs[*]} failed (see $apt_log)"
    fi
fi
export PATH="$PATH:/usr/sbin:/sbin"

# A docker client that can build with BuildKit: one with the buildx plugin, or one older than 23
# (its built-in BuildKit client, with DOCKER_BUILDKIT=1). Compose v1 runs the first `docker` on
# PATH for its builds, so that one goes first.
docker_bin=""
while IFS= read -r candidate; do
    if "$candidate" buildx version >/dev/null 2>&1; then
        docker_bin="$candidate"
        break
    fi
    major="$("$candidate" --version 2>/dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p')"
    if [ -n "$major" ] && [ "$major" -lt 23 ]; then
        docker_bin="$candidate"
        break
    fi
done < <(type -ap docker | awk '!seen[$0]++')
[ -n "$docker_bin" ] ||
    unavailable "no docker client that builds with BuildKit (install the buildx plugin, or Debian's docker.io)"
export PATH="$(dirname "$docker_bin"):$PATH"
export DOCKER_BUILDKIT=1 COMPOSE_DOCKER_CLI_BUILD=1

if ! docker info >/dev/null 2>&1; then
    is_root || unavailable "no Docker engine answers (docker info failed), and only root may start one"
    command -v dockerd >/dev/null || unavailable "the Docker engine is not running and dockerd is not installed"
    say "starting dockerd (log: $tmp/volley-compose-test-dockerd.log)"
    dockerd >"$tmp/volley-compose-test-dockerd.log" 2>&1 9>&- &
    started_engine=$!
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$started_engine" 2>/dev/null || break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        tail -n 5 "$tmp/volley-compose-test-dockerd.log" >&2 || true
        kill "$started_engine" 2>/dev/null || true
        started_engine=""
        unavailable "dockerd did not start (see $tmp/volley-compose-test-dockerd.log)"
    fi
fi

if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
    compose_version="$(docker compose version --short)"
elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
    compose_version="$(docker-compose version --short 2>/dev/null) (docker-compose v1)"
else
    unavailable "neither \`docker compose\` (v2) nor \`docker-compose\` (v1) is installed"
fi
compose+=(-p "$project" -f "$root/docker-compose.yml")
command -v node >/dev/null || unavailable "node is not installed (the checks run the official client)"
clients="$root/tests/clients/node"
if [ ! -d "$clients/node_modules/socket.io-client" ]; then
    say "installing the Node client (npm ci in tests/clients/node)"
    (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error)
fi

say "engine $(docker version -f '{{.Server.Version}}'), compose $compose_version, client $docker_bin"

# --- local stand-ins for the base images (kept between runs) -----------------------------------
base=volley-local/debian:bookworm
exists() { docker image inspect "$1" >/dev/null 2>&1; }
build_image() { # tag, context, build args...
    local tag="$1" context="$2"
    shift 2
    local args=()
    for a in "$@"; do args+=(--build-arg "$a"); done
    docker build -q -t "$tag" "${args[@]}" "$context" >/dev/null ||
        die "building $tag from $context failed"
}

if ! exists "$base"; then
    is_root || die "$base is missing and debootstrap needs root"
    command -v debootstrap >/dev/null || die "$base is missing: install debootstrap"
    say "making $base (debootstrap, a few minutes once)"
    rootfs="$(mktemp -d "$tmp/volley-rootfs.XXXXXX")"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian \
        >"$tmp/volley-compose-test-debootstrap.log" 2>&1 ||
        die "debootstrap failed (see $tmp/volley-compose-test-debootstrap.log)"
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - "$base" >/dev/null
    rm -rf "$rootfs"
fi
say "base images: Redis, RabbitMQ and nginx stand-ins (cached layers after the first run)"
for name in redis:7 rabbitmq:4 nginx:1.27; do
    build_image "volley-local/$name" "$images/${name%%:*}" "BASE=$base"
done

# The node and rust stand-ins trust what the host trusts, so that they reach the package
# registries as the host does (through a TLS-inspecting proxy too).
host_ca=/etc/ssl/certs/ca-certificates.crt

# The host's node and npm (the page's npm ci; the clients beside nginx).
if ! exists volley-local/node:host; then
    say "making volley-local/node:host from the host's node $(node --version)"
    ctx="$(mktemp -d "$tmp/volley-node-ctx.XXXXXX")"
    cp "$images/node/Dockerfile" "$host_ca" "$ctx/"
    cp "$(readlink -f "$(command -v node)")" "$ctx/node"
    cp -r "$(dirname "$(readlink -f "$(command -v npm)")")/.." "$ctx/npm"
    build_image volley-local/node:host "$ctx" "BASE=$base"
    rm -rf "$ctx"
fi

# The host's Rust toolchain, for builds from source.
if $source_build && ! exists volley-local/rust:host; then
    say "making volley-local/rust:host from the host's $(rustc --version)"
    ctx="$(mktemp -d "$tmp/volley-rust-ctx.XXXXXX")"
    cp "$images/rust/Dockerfile" "$host_ca" "$ctx/"
    cp -a "$(rustc --print sysroot)" "$ctx/toolchain"
    rm -rf "$ctx/toolchain/share/doc"
    build_image volley-local/rust:host "$ctx" "BASE=$base"
    rm -rf "$ctx"
fi

export RUNTIME_IMAGE="$base" NODE_IMAGE=volley-local/node:host RUST_IMAGE=volley-local/rust:host
export VOLLEY_REDIS_IMAGE=volley-local/redis:7 VOLLEY_RABBITMQ_IMAGE=volley-local/rabbitmq:4
export VOLLEY_NGINX_IMAGE=volley-local/nginx:1.27

# --- the chat and tansu images, from the Dockerfile -------------------------------------------
if $source_build; then
    export CHAT_BUILD=source TANSU_BUILD=source
    say "building volley-chat and volley-tansu from source inside Docker (slow)"
else
    export CHAT_BUILD=prebuilt TANSU_BUILD=prebuilt
    chat_bin="${CHAT_BIN:-}"
    if [ -z "$chat_bin" ]; then
        say "cargo build --release -p volley-examples --bin chat (on the host)"
        cargo build --release --locked --quiet -p volley-examples --bin chat
        chat_bin="${CARGO_TARGET_DIR:-target}/release/chat"
    fi
    tansu_bin="${TANSU_BIN:-$(command -v tansu || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu")}"
    [ -x "$chat_bin" ] || die "no chat server binary at $chat_bin"
    [ -x "$tansu_bin" ] || die "no tansu at $tansu_bin: scripts/kafka.sh installs it, or use --source"
    # the directory is removed afterwards if this run made it (else only chat and tansu replaced)
    [ -d "$prebuilt" ] || made_prebuilt=true
    mkdir -p "$prebuilt"
    cp "$chat_bin" "$prebuilt/chat"
    cp "$tansu_bin" "$prebuilt/tansu"
    # a debug build's symbols would only make the build context and the image larger
    if command -v strip >/dev/null; then strip --strip-debug "$prebuilt/chat" "$prebuilt/tansu" 2>/dev/null || true; fi
    say "building volley-chat and volley-tansu with $chat_bin and $tansu_bin"
fi
build_log="$tmp/volley-compose-test-build.log"
"${compose[@]}" build >"$build_log" 2>&1 || {
    tail -n 40 "$build_log" >&2
    die "docker compose build failed (log: $build_log)"
}
if $made_prebuilt; then rm -rf "$prebuilt"; fi

# --- one deployment per adapter ---------------------------------------------------------------------
free_port() {
    node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}
container() { "${compose[@]}" ps -q "$1"; }
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$1" 2>/dev/null; }

run_adapter() {
    local adapter="$1" port lb started
    port="$(free_port)"
    started=$SECONDS
    say "[$adapter] docker compose up, nginx on 127.0.0.1:$port"
    if ! VOLLEY_ADAPTER="$adapter" VOLLEY_PUBLIC_PORT="127.0.0.1:$port" \
        "${compose[@]}" up -d --no-build >"$tmp/volley-compose-test-up.log" 2>&1; then
        cat "$tmp/volley-compose-test-up.log" >&2
        return 1
    fi
    lb="$(container lb)"
    until [ "$(health "$lb")" = healthy ]; do
        if [ $((SECONDS - started)) -ge "$timeout_s" ]; then
            say "[$adapter] nginx is not healthy after ${timeout_s}s: $(health "$lb")" >&2
            return 1
        fi
        sleep 1
    done
    say "[$adapter] healthy after $((SECONDS - started))s: three nodes, nginx, Redis, RabbitMQ, tansu"
    local nodes="" n ip
    for n in node1 node2 node3; do
        ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(container "$n")")"
        nodes+="$n=$ip "
    done
    CHECK_URL="http://127.0.0.1:$port" CHECK_LB="$lb" CHECK_NODES="$nodes" \
        CHECK_NODE_IMAGE="$NODE_IMAGE" CHECK_CLIENTS="$clients" CHECK_LABEL="$label" \
        node "$root/deploy/compose-test/check.mjs" || return 1
    local node_log
    node_log="$(docker logs "$(container node1)" 2>&1 | grep -m1 'volley-chat: adapter' || true)"
    [[ "$node_log" == *"adapter $adapter "* ]] || {
        say "[$adapter] node1 did not start with the $adapter adapter: ${node_log:-no startup line}" >&2
        return 1
    }
}

passed=()
failed=()
for adapter in "${adapters[@]}"; do
    started=$SECONDS
    if run_adapter "$adapter"; then
        passed+=("$adapter ($((SECONDS - started))s)")
        say "[$adapter] passed in $((SECONDS - started))s"
    else
        failed+=("$adapter")
        say "[$adapter] FAILED; the services' last log lines:" >&2
        "${compose[@]}" logs --no-color --tail 25 >&2 2>&1 || true
    fi
    "${compose[@]}" down -v --remove-orphans -t 3 >/dev/null 2>&1 || true
done

say "passed: ${passed[*]:-none}; failed: ${failed[*]:-none}"
echo "${#passed[@]} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]

#!/usr/bin/env bash
# Volley's test command: installs what the tests need (quickly when it is already there), then
# runs every test of the workspace and exits with cargo's status.
#
# Needs Rust, Node.js (>= 18, with npm) and Python 3 (>= 3.8). Installs:
#   - the system packages of scripts/prereqs.sh (as root; otherwise it says what to install);
#   - the official Node clients: `npm ci` in each package of tests/clients and in examples/chat
#     when its package-lock.json changed;
#   - the python-socketio client: a virtualenv at .venv with tests/clients/python/requirements.txt,
#     reinstalled when that file changed;
#   - the brokers of scripts/services.sh. The Kafka-protocol broker it starts (tansu) keeps
#     running after the tests; the last line says so, and `scripts/kafka.sh stop` stops it.
# Extra arguments go to `cargo test`: `scripts/test.sh -p volley-tests --test wire_socketio` runs
# one test file, `scripts/test.sh -p volley-protocol` one package.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

node_dir="tests/clients/node"
venv=".venv"
requirements="tests/clients/python/requirements.txt"

# --- system packages: build tools, Node.js, Python's venv, Chromium, nginx, the brokers --------
scripts/prereqs.sh

# --- npm packages: the Node client, the browser driver, the chat page's client -----------------
npm_install() {
    local dir="$1" stamp="$1/node_modules/.volley-installed-lock"
    if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
        echo "test.sh: npm ci in $dir"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        cp "$dir/package-lock.json" "$stamp"
    fi
}
for dir in "$node_dir" tests/clients/node-v2 tests/clients/node-cluster tests/clients/browser tests/clients/admin-ui examples/chat; do
    npm_install "$dir"
done

# --- the Python client -------------------------------------------------------------------------
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "" 2>/dev/null; then
    echo "test.sh: creating the Python virtualenv $venv"
    rm -rf "$venv"
    if ! python3 -m venv "$venv"; then
        rm -rf "$venv"
        echo "test.sh: cannot create a virtualenv in $venv (Debian: install python3-venv)" >&2
        exit 1
    fi
fi
py_stamp="$venv/.volley-installed-requirements"
if [ ! -f "$py_stamp" ] || ! cmp -s "$requirements" "$py_stamp"; then
    echo "test.sh: installing the Python client into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$py_stamp"
fi

# --- brokers: Redis, RabbitMQ, a Kafka-protocol broker ---------------------------------------
# Whatever happens from here on, the run ends by saying whether it leaves tansu or the tests' local
# Redis Cluster (scripts/redis-cluster.sh, started by the tests that need it) running.
leftovers_note() {
    local pid
    if pid="$(scripts/kafka.sh pid 2>/dev/null)"; then
        echo "test.sh: tansu, the tests' Kafka-protocol broker, is still running in the background" \
            "(pid $pid); stop it with: scripts/kafka.sh stop"
    fi
    local cluster
    if cluster="$(scripts/redis-cluster.sh url 2>/dev/null)"; then
        echo "test.sh: the tests' local Redis Cluster ($cluster) is still running;" \
            "stop it with: scripts/redis-cluster.sh stop"
    fi
}
trap leftovers_note EXIT
scripts/services.sh

# --- the tests -----------------------------------------------------------------------------------
# read by tests/src/clients.rs
export VOLLEY_PYTHON="$root/$venv/bin/python"
export VOLLEY_NODE_CLIENTS="$root/$node_dir"

# every package, unless the arguments name some (cargo takes `--workspace` over `-p`)
scope=(--workspace)
for arg in "$@"; do
    case "$arg" in
    -p | -p* | --package | --package=* | --workspace | --all) scope=() && break ;;
    --) break ;;
    esac
done
cargo test "${scope[@]}" "$@"

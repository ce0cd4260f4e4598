#!/usr/bin/env bash
# Volley's test command: installs what the tests need (quickly when it is already there), then
# runs every test of the workspace and exits with cargo's status.
#
# Needs Rust, Node.js (>= 18, with npm) and Python 3 (>= 3.8). Installs:
#   - the official Node client: `npm ci` in tests/clients/node when package-lock.json changed;
#   - the python-socketio client: a virtualenv at .venv with tests/clients/python/requirements.txt,
#     reinstalled when that file changed.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p volley-tests --test wire_socketio`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

node_dir="tests/clients/node"
venv=".venv"
requirements="tests/clients/python/requirements.txt"

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

# --- system packages: build tools, Chromium, nginx -------------------------------------------
scripts/prereqs.sh

# --- the Python client -------------------------------------------------------------------------
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "" 2>/dev/null; then
    echo "test.sh: creating the Python virtualenv $venv"
    rm -rf "$venv"
    if ! python3 -m venv "$venv"; then
        rm -rf "$venv"
        # Debian's own python3 keeps venv support in a separate package
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$venv"
        else
            echo "test.sh: cannot create a virtualenv: install python3-venv" >&2
            exit 1
        fi
    fi
fi
py_stamp="$venv/.volley-installed-requirements"
if [ ! -f "$py_stamp" ] || ! cmp -s "$requirements" "$py_stamp"; then
    echo "test.sh: installing the Python client into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$py_stamp"
fi

# --- brokers: Redis, RabbitMQ, a Kafka-protocol broker ---------------------------------------
scripts/services.sh

# --- the tests -----------------------------------------------------------------------------------
# read by tests/src/clients.rs
export VOLLEY_PYTHON="$root/$venv/bin/python"
export VOLLEY_NODE_CLIENTS="$root/$node_dir"

exec cargo test --workspace "$@"

#!/usr/bin/env bash
# Volley's benchmarks: installs the baselines (Node socket.io from npm, python-socketio from PyPI),
# builds the harness in release, runs every scenario against Volley and the baselines, and writes
# BENCHMARKS.md at the repository root.
#
#   bench/run.sh            # the full run: 3 runs per figure, 10k connections (about 18 minutes)
#   bench/run.sh --quick    # one run per figure, smaller sizes (about 6 minutes)
#
# Extra arguments go to `volley-bench run` (--only idle,storm,echo,fanout,rooms,cross,emitter,floods,
# --servers volley,node,python, --out FILE, --no-pin). Needs Rust, Node.js >= 18 with npm,
# Python 3 with venv, `taskset` (util-linux) and a Redis server on 127.0.0.1:6379 for the
# cross-node and emitter scenarios. Run it on an otherwise idle machine: the report says when it
# was not.
set -euo pipefail

bench="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$bench/.." && pwd)"
cd "$root"

# --- baselines, reinstalled only when their lock files change ---------------------------------
node_dir="$bench/baselines/node"
stamp="$node_dir/node_modules/.volley-bench-installed"
if [ ! -f "$stamp" ] || ! cmp -s "$node_dir/package-lock.json" "$stamp"; then
    echo "run.sh: npm ci in $node_dir"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$node_dir/package-lock.json" "$stamp"
fi

py_dir="$bench/baselines/python"
venv="$py_dir/.venv"
py_stamp="$venv/.volley-bench-installed"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$py_dir/requirements.txt" "$py_stamp"; then
    echo "run.sh: creating $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$py_dir/requirements.txt"
    cp "$py_dir/requirements.txt" "$py_stamp"
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "run.sh: warning: no Redis on 127.0.0.1:6379: the cross-node and emitter scenarios will fail" >&2
fi

# --- the harness -------------------------------------------------------------------------------
cargo build --release -p volley-bench
target_dir="${CARGO_TARGET_DIR:-$root/target}"

# tens of thousands of sockets: as many open files as this shell may have
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec "$target_dir/release/volley-bench" run "$@"

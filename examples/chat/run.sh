#!/usr/bin/env bash
# Runs the chat example on http://127.0.0.1:3000 (flags go to the server: --port N,
# --adapter URL, --public DIR). Installs the browser's socket.io-client from npm first when
# node_modules is missing or older than package-lock.json.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

installed="$here/node_modules/.package-lock.json"
if [[ ! -f "$installed" || "$here/package-lock.json" -nt "$installed" ]]; then
    if ! command -v npm >/dev/null; then
        echo "run.sh: npm is needed to install socket.io-client for the page (Debian: apt-get install npm)" >&2
        exit 1
    fi
    echo "run.sh: installing socket.io-client (npm ci in $here)" >&2
    (cd "$here" && npm ci --no-audit --no-fund)
fi

cd "$here/../.."
exec cargo run --release -p volley-examples --bin chat -- "$@"

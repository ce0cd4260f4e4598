#!/usr/bin/env bash
# What building and testing Volley needs from the system beyond Rust, by Debian package:
#
#   build-essential   a C toolchain and make: the Kafka adapter builds its bundled librdkafka
#   nodejs, npm       the official Node clients the tests drive (Node.js 18 or later)
#   python3-venv      the python-socketio client, installed into a virtualenv (Python 3.8 or later)
#   chromium          the browser test
#   nginx             the deployment test
#   redis-server      the shared Redis (with redis-cli), and the private servers the fault tests kill
#   rabbitmq-server   the shared RabbitMQ, and the private nodes the restart tests kill
#   nats-server       the shared NATS (with JetStream), and the private servers the fault test kills
#   procps            pgrep (scripts/kafka.sh finds the broker it started with it)
#
#   scripts/prereqs.sh           as root with apt-get: install what is missing; otherwise print
#                                the command that installs it and fail
#   scripts/prereqs.sh --check   only say what is missing (exit status 1 if anything is)
set -euo pipefail

check_only=false
case "${1:-}" in
    --check) check_only=true ;;
    '') ;;
    *)
        echo "usage: $0 [--check]" >&2
        exit 2
        ;;
esac

# A command on PATH, or in the sbin directories a user's PATH may lack (nginx, rabbitmqctl).
has() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

missing=() # Debian packages to install
why=()     # what each one is for, in the same order
advice=()  # what a package cannot fix
detect() {
    missing=()
    why=()
    advice=()
    need() {
        missing+=("$1")
        why+=("$2")
    }
    { has make && has cc && has g++; } || need build-essential "a C toolchain and make"
    has node || need nodejs "Node.js"
    has npm || need npm "npm"
    if has node; then
        local major
        major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
        if [ "${major:-0}" -lt 18 ] 2>/dev/null; then
            advice+=("Node.js 18 or later is needed, this is $(node --version 2>/dev/null || true): install a newer one (nodejs.org, or NodeSource's Debian packages)")
        fi
    fi
    if ! has python3; then
        need python3 "Python 3"
        need python3-venv "Python's venv module"
    else
        if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null; then
            advice+=("Python 3.8 or later is needed, this is $(python3 --version 2>&1 || true)")
        fi
        # Debian's python3 keeps ensurepip, which `python3 -m venv` needs, in python3-venv
        python3 -c 'import ensurepip, venv' 2>/dev/null || need python3-venv "Python's venv module"
    fi
    has chromium || need chromium "the browser test"
    has nginx || need nginx "the deployment test"
    { has redis-server && has redis-cli; } || need redis-server "Redis (redis-server and redis-cli)"
    { has rabbitmq-server && has rabbitmqctl; } || need rabbitmq-server "RabbitMQ"
    has nats-server || need nats-server "NATS (nats-server)"
    has pgrep || need procps "pgrep"
    return 0
}

report() {
    local i
    if [ ${#missing[@]} -gt 0 ]; then
        echo "prereqs.sh: missing:" >&2
        for i in "${!missing[@]}"; do
            printf '    %-16s %s\n' "${missing[$i]}" "${why[$i]}" >&2
        done
    fi
    for i in "${advice[@]}"; do
        echo "prereqs.sh: $i" >&2
    done
}

detect
if [ ${#missing[@]} -eq 0 ] && [ ${#advice[@]} -eq 0 ]; then
    if $check_only; then
        echo "prereqs.sh: nothing missing"
    fi
    exit 0
fi
report

if $check_only || [ ${#missing[@]} -eq 0 ]; then
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "prereqs.sh: install them with your system's package manager (the names above are Debian's)" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "prereqs.sh: install them as root, then run this again:" >&2
    echo "    apt-get install -y ${missing[*]}" >&2
    if command -v sudo >/dev/null 2>&1; then
        echo "  (or: sudo $0)" >&2
    fi
    exit 1
fi

echo "prereqs.sh: installing ${missing[*]}"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
detect
if [ ${#missing[@]} -gt 0 ] || [ ${#advice[@]} -gt 0 ]; then
    report
    exit 1
fi

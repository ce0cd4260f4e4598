#!/usr/bin/env bash
# Checks the declared minimum Rust version (the workspace's `rust-version`) against the lock file,
# without the old toolchain: fails when a workspace crate does not declare the workspace's
# rust-version, or when a package of Cargo.lock (any platform, any feature) declares a newer one,
# naming each and the true minimum. On a failure, `cargo update -p NAME` picks the newest version
# that still builds with the workspace's rust-version (the workspace uses resolver 3, which prefers
# those); raising `rust-version` instead is a decision of its own.
#
# Clippy's `incompatible_msrv` lint (on in the clippy step) covers the other half: the standard
# library APIs Volley's own code calls that are newer than `rust-version`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo metadata --format-version 1 --all-features --locked | python3 -c '
import json
import sys


def version(v):
    parts = [int(p) for p in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
own = [p for p in meta["packages"] if p["id"] in members]
deps = [p for p in meta["packages"] if p["id"] not in members]

declared = {p["rust_version"] for p in own}
if len(declared) != 1 or None in declared:
    for p in own:
        print("msrv: %s declares rust-version %s" % (p["name"], p["rust_version"]), file=sys.stderr)
    sys.exit("msrv: every workspace crate must declare the same rust-version (rust-version.workspace = true)")
msrv = declared.pop()

newer = sorted(
    (p for p in deps if p["rust_version"] and version(p["rust_version"]) > version(msrv)),
    key=lambda p: (version(p["rust_version"]), p["name"]),
)
checked = sum(1 for p in deps if p["rust_version"])
if newer:
    for p in newer:
        print("msrv: %s %s needs Rust %s" % (p["name"], p["version"], p["rust_version"]), file=sys.stderr)
    sys.exit(
        "msrv: %d of the %d locked packages need a newer Rust than the workspace rust-version %s: "
        "with this lock file the true minimum is %s" % (len(newer), len(deps), msrv, newer[-1]["rust_version"])
    )
print(
    "msrv: rust-version %s; none of the %d locked packages (%d of them declare one) needs a newer Rust"
    % (msrv, len(deps), checked)
)
'

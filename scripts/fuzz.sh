#!/usr/bin/env bash
# Builds the fuzz targets of fuzz/ and runs each one (docs/fuzzing.md).
#
#   scripts/fuzz.sh                 every target for 5 seconds
#   scripts/fuzz.sh 60              every target for 60 seconds
#   scripts/fuzz.sh --long          every target for 10 million executions (the full run)
#   scripts/fuzz.sh 30 node_bus     only these targets
#
# Installs cargo-fuzz (pinned, into ~/.cargo/bin) when it is missing. Needs no nightly toolchain:
# the build uses RUSTC_BOOTSTRAP=1 on the stable one, without a sanitizer (Volley's crates forbid
# unsafe code), with debug assertions and overflow checks on. Exits non-zero at the first target
# that finds a crash, leak of memory beyond 2 GiB or hang beyond 10 s: the input that did it is
# in fuzz/artifacts/<target>/, the corpus grown so far in fuzz/corpus/<target>/.
#
# VOLLEY_FUZZ_TARGET_DIR sets the build directory (default fuzz/target): CI keeps it outside
# its fresh clone so that the build stays warm between runs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cargo_fuzz_version="0.13.2"
limits=(-rss_limit_mb=2048 -timeout=10)

budget=(-max_total_time=5)
case "${1:-}" in
    --long) budget=(-runs=10000000); shift ;;
    '' | *[!0-9]*) ;;
    *) budget=(-max_total_time="$1"); shift ;;
esac

if ! cargo fuzz --version 2>/dev/null | grep -qF "$cargo_fuzz_version"; then
    echo "fuzz.sh: installing cargo-fuzz $cargo_fuzz_version"
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked --quiet
fi

cd "$root/fuzz"
export RUSTC_BOOTSTRAP=1
build=(--sanitizer none --debug-assertions)
if [ -n "${VOLLEY_FUZZ_TARGET_DIR:-}" ]; then
    build+=(--target-dir "$VOLLEY_FUZZ_TARGET_DIR")
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build "${build[@]}"
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "fuzz.sh: $target (${budget[*]})"
    start=$SECONDS
    log="$(mktemp)"
    if ! cargo fuzz run "${build[@]}" "$target" -- "${budget[@]}" "${limits[@]}" \
        -print_final_stats=1 >"$log" 2>&1; then
        cat "$log"
        rm -f "$log"
        echo "fuzz.sh: $target FAILED: see fuzz/artifacts/$target/" >&2
        exit 1
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    rm -f "$log"
    echo "fuzz.sh: $target ok: ${runs:-?} executions in $((SECONDS - start)) s"
done
echo "fuzz.sh: ${#targets[@]} passed, 0 failed"

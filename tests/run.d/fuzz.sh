#!/usr/bin/env bash
# Smoke-runs each cargo-fuzz target for a few seconds (coverage-guided,
# without ASan: isal-sys's C build refuses the sanitizer flags, and the
# targets exercise safe Rust). Needs a nightly
# toolchain and cargo-fuzz; without them the property-test versions of the
# same checks (cargo test) are all that ran, and this says so.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${FUZZ_SECONDS:-15}
if ! rustup toolchain list 2>/dev/null | grep '^nightly' >/dev/null || ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: no nightly toolchain or cargo-fuzz on this machine; skipped (property tests ran instead)"
    exit 0
fi
run() {
    local dir=$1 target=$2 tdir=$PWD/${3:-$1}/target
    echo "fuzz: $dir $target for ${SECONDS_PER_TARGET}s"
    (cd "$dir" && CARGO_TARGET_DIR="$tdir" cargo +nightly fuzz run --sanitizer none "$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -3)
}
# The drop-in's target dlopens the libz.so.1 the workspace build made.
export WDZ_SHIM="${WDZ_SHIM:-${CARGO_TARGET_DIR:-$PWD/target}/release/libz.so}"
[ -f "$WDZ_SHIM" ] || { echo "fuzz: $WDZ_SHIM missing (cargo build --release -p warpdrive-zlib)"; exit 1; }
run core/fuzz descriptor
run core/fuzz inflate
# The C API with hostile arguments (enum values, NULLs, lengths, overlaps,
# stream call sequences); capi/src/lib.rs is compiled into the target. It
# shares core/fuzz's target directory (and Cargo.lock versions), so only
# the core and the target itself are compiled again.
run capi/fuzz c_api core/fuzz
for t in zlib-shim/fuzz/fuzz_targets/*.rs; do
    [ -e "$t" ] && run zlib-shim/fuzz "$(basename "$t" .rs)"
done
echo "fuzz: done"

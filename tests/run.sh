#!/usr/bin/env bash
# Every test WarpDrive has, in one command: lints, unit and integration tests
# (core on the software device, the C API, the zlib drop-in and the OpenSSL
# provider with real programs), the ABI checks, and the kernel module in a
# QEMU guest. Exits non-zero on the first failing stage.
set -euo pipefail
# A failing command names itself: nothing stops this script silently.
trap 'echo "tests/run.sh: line $LINENO: \"$BASH_COMMAND\" failed (status $?)" >&2' ERR
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR

STAGES=0
stage() { STAGES=$((STAGES + 1)); printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }
SECONDS=0

stage "install dependencies"
bash .ci/install-deps

stage "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

stage "C API header is up to date"
cbindgen --quiet --config capi/cbindgen.toml --crate warpdrive-capi --output "$CARGO_TARGET_DIR/warpdrive.h" capi
diff -u include/warpdrive.h "$CARGO_TARGET_DIR/warpdrive.h"

stage "cargo tests (workspace)"
# The cdylibs (libz.so.1, warpdrive.so, libwarpdrive.so) first: their tests
# run real programs against them, and cargo test does not build a
# cdylib-only library for its own tests.
cargo build --workspace --locked --release
cargo test --workspace --locked --release

stage "C program against libwarpdrive"
cargo build --release --locked -p warpdrive-capi
# The library's SONAME is libwarpdrive.so.0 (capi/build.rs); cargo writes
# only libwarpdrive.so, so give the loader the name the program records.
ln -sf libwarpdrive.so "$CARGO_TARGET_DIR/release/libwarpdrive.so.0"
gcc -O2 -Wall -Wextra -Werror -Iinclude tests/c/capi_test.c -o "$CARGO_TARGET_DIR/capi_test" \
    -L"$CARGO_TARGET_DIR/release" -lwarpdrive -lz -lcrypto -Wl,-rpath,"$CARGO_TARGET_DIR/release"
"$CARGO_TARGET_DIR/capi_test"
WARPDRIVE_INLINE_MAX=0 "$CARGO_TARGET_DIR/capi_test"
WARPDRIVE_BACKEND=inline "$CARGO_TARGET_DIR/capi_test"
# Hostile arguments: enum values out of range, NULL with lengths, overlaps.
gcc -O2 -Wall -Wextra -Werror -Iinclude tests/c/capi_hostile.c -o "$CARGO_TARGET_DIR/capi_hostile" \
    -L"$CARGO_TARGET_DIR/release" -lwarpdrive -Wl,-rpath,"$CARGO_TARGET_DIR/release"
"$CARGO_TARGET_DIR/capi_hostile"
WARPDRIVE_INLINE_MAX=0 "$CARGO_TARGET_DIR/capi_hostile"

for extra in tests/run.d/*.sh; do
    [ -e "$extra" ] || continue
    stage "$(basename "$extra" .sh)"
    bash "$extra"
done

stage "kernel module in a QEMU guest (C suites + the Rust core's kernel backend)"
# The Rust tests are built here and run inside the guest against
# /dev/warpdrive/soft0 (SVA) and soft1 (validated, buffer mode).
extra="$CARGO_TARGET_DIR/vm-extra-tests.list"
: >"$extra"
case "$CARGO_TARGET_DIR/" in
    "$ROOT"/*) ;;
    /tmp/* | /run/*)
        echo "tests/run.sh: CARGO_TARGET_DIR=$CARGO_TARGET_DIR is under /tmp or /run, which the guest mounts a tmpfs over; use a target directory inside the project or elsewhere" >&2
        exit 1 ;;
esac
cargo test --release --locked -p warpdrive --test kernel --test fork --test kernel_removal --no-run --message-format=json 2>"$CARGO_TARGET_DIR/vm-tests-build.log" \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])' \
    | sort -k1,1 | while read -r name exe; do
        case $name in
            # Removes soft0 and reloads the module: it must run last.
            kernel_removal) last="env WD_VM_ALLOW_REMOVE=1 RUST_BACKTRACE=1 $exe --test-threads=1" ;;
            # The guest starts with a clean environment: pass the Wycheproof directory on.
            *) echo "env WARPDRIVE_REQUIRE_KERNEL=1 ${WARPDRIVE_VECTORS:+WARPDRIVE_VECTORS=$WARPDRIVE_VECTORS }RUST_BACKTRACE=1 $exe --test-threads=1" >>"$extra" ;;
        esac
        [ -z "${last:-}" ] || echo "$last" >"$extra.last"
    done
# warpdrive against the kernel devices: sysfs discovery and a known-answer test
# of every algorithm on soft0 (SVA) and soft1 (validated).
echo "$CARGO_TARGET_DIR/release/warpdrive list" >>"$extra"
echo "$CARGO_TARGET_DIR/release/warpdrive selftest --device kernel" >>"$extra"
cat "$extra.last" >>"$extra" 2>/dev/null || true
[ "$(wc -l <"$extra")" -eq 5 ] || {
    echo "could not build the kernel-backend test binaries" >&2
    cat "$extra" "$CARGO_TARGET_DIR/vm-tests-build.log" >&2
    exit 1
}
WD_VM_EXTRA_TESTS="$extra" bash tests/vm/all.sh

printf '\nall stages passed in %d s\n' "$SECONDS"
# A stage that fails stops the script (set -e), so reaching here means all passed.
printf 'stages: %d passed, 0 failed\n' "$STAGES"

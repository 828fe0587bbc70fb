#!/usr/bin/env bash
# Smoke-runs the inflate fuzz target for ~20 s (needs nightly + cargo-fuzz:
# `cargo install cargo-fuzz`). Builds the shim first. Without ASan, like the
# core's fuzz smoke: isal-sys's C build breaks under it; the target's guard
# bytes catch writes past avail_out instead.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$HERE/../..
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/shim}
(cd "$ROOT" && nice cargo build -p warpdrive-zlib --release)
export WDZ_SHIM=$CARGO_TARGET_DIR/release/libz.so
mkdir -p "$HERE/corpus/inflate_c_abi"
# Seeds: valid streams in each format.
python3 - "$HERE/corpus/inflate_c_abi" <<'PY'
import sys, zlib, gzip, os
d = sys.argv[1]; data = b''.join(b'seed %d ' % i for i in range(20000))
for i, (hdr, blob) in enumerate([(b'\x00\x10\x10', zlib.compress(data)), (b'\x01\x10\x10', zlib.compress(data)[2:-4]), (b'\x02\x03\x05', gzip.compress(data))]):
    open(os.path.join(d, 'seed%d' % i), 'wb').write(hdr + blob)
PY
cd "$HERE"
CARGO_TARGET_DIR=$HERE/target nice cargo +nightly fuzz run --sanitizer none inflate_c_abi corpus/inflate_c_abi -- -max_total_time=${FUZZ_SECONDS:-20} -rss_limit_mb=2048

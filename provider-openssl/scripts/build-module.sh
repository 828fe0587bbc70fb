#!/usr/bin/env bash
# Builds the provider (release) and installs it as an OpenSSL module named `warpdrive`:
#   $CARGO_TARGET_DIR/release/ossl-modules/warpdrive.so   (default target dir: <workspace>/target)
# Usage: provider-openssl/scripts/build-module.sh [--debug] [DESTDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
profile=release; flag=--release
if [ "${1:-}" = "--debug" ]; then profile=debug; flag=; shift; fi
target=${CARGO_TARGET_DIR:-$here/../target}
(cd "$here" && cargo build -p warpdrive-openssl-provider $flag >&2)
dest=${1:-$target/$profile/ossl-modules}
mkdir -p "$dest"
cp -f "$target/$profile/libwarpdrive_provider.so" "$dest/warpdrive.so.tmp.$$"
mv -f "$dest/warpdrive.so.tmp.$$" "$dest/warpdrive.so"
echo "$dest/warpdrive.so"

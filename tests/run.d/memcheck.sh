#!/usr/bin/env bash
# The C test programs under valgrind memcheck, errors fatal: the C API's
# (capi_test, capi_hostile), the zlib drop-in's differential program with
# libz.so.1 preloaded, and the provider's (GCM tags, fork, async jobs).
# Built the way their cargo tests build them (tests/run.sh,
# zlib-shim/tests/programs.rs, provider-openssl/tests/lifecycle.rs).
# A short smoke run: one configuration each, requests forced onto the
# software device's queues where it matters (its engine threads must be
# joined and every queue freed). Needs valgrind (.ci/install-deps).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR
REL=$CARGO_TARGET_DIR/release
if ! command -v valgrind >/dev/null 2>&1; then
    echo "memcheck: valgrind is not installed (.ci/install-deps installs it)" >&2
    exit 1
fi
# No-ops after tests/run.sh's builds. The drop-in alone: built with the
# others it would get their crypto feature (and libssl/libcrypto).
cargo build --release --locked -p warpdrive-capi -p warpdrive-openssl-provider 2>&1 | tail -1
cargo build --release --locked -p warpdrive-zlib 2>&1 | tail -1
scratch=$(mktemp -d "${TMPDIR:-/tmp}/wd-memcheck.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# Definite leaks are errors too where the program frees what it makes. A
# fork child cannot free what its parent's engine threads held (by design,
# the child leaves the parent's instance alone), and the provider's
# programs keep their EVP contexts to the end: those run without the leak
# check (provider-openssl/tests/lifecycle.rs leak-checks `openssl dgst/enc`).
VG=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite)
VG_NOLEAK=(valgrind -q --error-exitcode=1 --leak-check=no --child-silent-after-fork=no)
# One engine thread: valgrind runs one thread at a time.
export WARPDRIVE_ENGINES=1
pass=0
run() {
    local name=$1
    shift
    local t0=$SECONDS
    local log=$scratch/${name// /_}
    if ! "$@" >"$log.out" 2>"$log.err"; then
        echo "memcheck: FAILED: $name" >&2
        tail -60 "$log.err" >&2
        tail -5 "$log.out" >&2
        exit 1
    fi
    echo "memcheck: ok: $name ($((SECONDS - t0)) s)"
    pass=$((pass + 1))
}

# The C API.
for t in capi_test capi_hostile; do
    gcc -O1 -g -Wall -Wextra -Werror -Iinclude "tests/c/$t.c" -o "$scratch/$t" \
        -L"$REL" -lwarpdrive -lz -lcrypto -Wl,-rpath,"$REL"
done
run capi_test env WARPDRIVE_INLINE_MAX=0 "${VG[@]}" "$scratch/capi_test"
run capi_hostile env WARPDRIVE_INLINE_MAX=0 WD_HOSTILE_NO_FORK=1 "${VG[@]}" "$scratch/capi_hostile"
run "capi_hostile (with fork)" env WARPDRIVE_INLINE_MAX=0 "${VG_NOLEAK[@]}" "$scratch/capi_hostile"

# The zlib drop-in: the differential program against the system zlib.h,
# with our libz.so.1 preloaded, every stream offloaded.
cc -O1 -g -o "$scratch/zdiff" zlib-shim/tests/c/zdiff.c -lz
run zdiff env LD_PRELOAD="$REL/libz.so" WARPDRIVE_ZLIB_MIN=0 "${VG[@]}" "$scratch/zdiff"

# The provider, loaded from a modules directory as the lifecycle tests do.
mkdir -p "$scratch/ossl"
cp "$REL/libwarpdrive_provider.so" "$scratch/ossl/warpdrive.so"
for t in gcm_tags fork async; do
    cc -O1 -g -Wall -Werror -o "$scratch/$t" "provider-openssl/tests/c/$t.c" -lcrypto
done
run gcm_tags env -u OPENSSL_CONF WARPDRIVE_INLINE_MAX=0 "${VG_NOLEAK[@]}" "$scratch/gcm_tags" "$scratch/ossl"
run fork env -u OPENSSL_CONF WARPDRIVE_INLINE_MAX=0 "${VG_NOLEAK[@]}" "$scratch/fork" "$scratch/ossl/warpdrive.so"
run async env -u OPENSSL_CONF WARPDRIVE_INLINE_MAX=0 "${VG_NOLEAK[@]}" "$scratch/async" "$scratch/ossl/warpdrive.so"
echo "memcheck: $pass programs clean"

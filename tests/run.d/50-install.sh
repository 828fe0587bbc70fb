#!/usr/bin/env bash
# Installs WarpDrive into a scratch DESTDIR/PREFIX and uses the result: a C
# program built with `pkg-config --cflags --libs warpdrive` against the
# installed copy, the installed wdctl (list, selftest, run with the installed
# drop-in and provider), then uninstalls and checks that nothing is left.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR
scratch=$(mktemp -d "${TMPDIR:-/tmp}/wd-install.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
DESTDIR=$scratch/root
PREFIX=/opt/warpdrive
pass=0 fail=0
ok() { echo "install: ok: $*"; pass=$((pass + 1)); }
bad() { echo "install: FAILED: $*" >&2; fail=$((fail + 1)); }

make --no-print-directory install PREFIX=$PREFIX DESTDIR="$DESTDIR"
P=$DESTDIR$PREFIX

for f in bin/wdctl lib/libwarpdrive.so include/warpdrive.h include/warpdrive/uapi/warpdrive.h \
    lib/pkgconfig/warpdrive.pc lib/warpdrive/libz.so.1 lib/ossl-modules/warpdrive.so \
    etc/warpdrive/openssl.cnf etc/warpdrive/warpdrive-provider.cnf share/warpdrive/install-manifest; do
    if [ -f "$P/$f" ]; then ok "$f installed"; else bad "$f missing"; fi
done
# The drop-in never lands where the dynamic linker finds it by default.
if find "$DESTDIR" -name 'libz.so*' | grep -v "^$P/lib/warpdrive/" | grep . >/dev/null; then
    bad "a libz outside $PREFIX/lib/warpdrive"
else
    ok "libz.so.1 only in $PREFIX/lib/warpdrive"
fi

# A C program against the installed library, found through pkg-config.
export PKG_CONFIG_PATH=$P/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$DESTDIR
flags=$(pkg-config --cflags --libs warpdrive)
case $flags in *"$P/include"*"$P/lib"* | *"$P/lib"*"$P/include"*) ok "pkg-config: $flags" ;;
*) bad "pkg-config flags do not point at the install: $flags" ;; esac
# shellcheck disable=SC2086
if gcc -O2 -Wall -Wextra -Werror tests/c/capi_test.c -o "$scratch/capi_test" $flags -lz -lcrypto \
    -Wl,-rpath,"$P/lib"; then
    ok "capi_test compiled against the installed header and library"
else
    bad "capi_test did not compile"
fi
if ldd "$scratch/capi_test" | grep "$P/lib/libwarpdrive.so" >/dev/null; then
    ok "capi_test links the installed libwarpdrive.so"
else
    bad "capi_test does not use the installed library: $(ldd "$scratch/capi_test" | grep warpdrive)"
fi
if "$scratch/capi_test" >"$scratch/capi.out" 2>&1; then ok "capi_test ran"; else
    cat "$scratch/capi.out" >&2; bad "capi_test failed"; fi

# The installed wdctl, and what it finds beside itself.
if "$P/bin/wdctl" list | grep '^softdev .*aes-gcm' >/dev/null; then ok "installed wdctl list shows softdev"; else
    bad "installed wdctl list"; fi
if "$P/bin/wdctl" selftest --device softdev >"$scratch/st.out"; then ok "installed wdctl selftest"; else
    cat "$scratch/st.out" >&2; bad "installed wdctl selftest"; fi
env -u WDCTL_ZLIB_SHIM -u WDCTL_PROVIDER_MODULE "$P/bin/wdctl" run --json -- \
    python3 -c 'import zlib; zlib.compress(b"x" * 1000000)' 2>"$scratch/run.err" || true
report=$(tail -1 "$scratch/run.err")
if python3 - "$report" "$P" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); p = sys.argv[2]
assert r["offloaded_requests"] > 0, r
assert r["zlib"]["module"].startswith(p + "/lib/warpdrive/"), r["zlib"]["module"]
assert r["openssl"]["module"].startswith(p + "/lib/ossl-modules/"), r["openssl"]["module"]
PY
then ok "installed wdctl run uses the installed drop-in and provider and offloads"; else
    cat "$scratch/run.err" >&2; bad "installed wdctl run"; fi
# The installed OpenSSL config loads the installed provider.
if OPENSSL_CONF=$P/etc/warpdrive/openssl.cnf openssl list -providers 2>&1 | grep -i warpdrive >/dev/null; then
    ok "openssl.cnf loads the provider"
else
    # The config names $PREFIX paths, which only exist under DESTDIR here:
    # check with the DESTDIR path substituted.
    sed "s|$PREFIX/|$P/|g" "$P/etc/warpdrive/openssl.cnf" >"$scratch/o.cnf"
    sed "s|$PREFIX/|$P/|g" "$P/etc/warpdrive/warpdrive-provider.cnf" >"$scratch/p.cnf"
    sed -i "s|$P/etc/warpdrive/warpdrive-provider.cnf|$scratch/p.cnf|" "$scratch/o.cnf"
    if OPENSSL_CONF=$scratch/o.cnf openssl list -providers 2>&1 | grep -i warpdrive >/dev/null; then
        ok "openssl.cnf loads the provider (DESTDIR paths)"
    else
        bad "openssl.cnf does not load the provider"
    fi
fi

make --no-print-directory uninstall PREFIX=$PREFIX DESTDIR="$DESTDIR"
left=$(find "$DESTDIR" -type f | wc -l)
if [ "$left" = 0 ]; then ok "uninstall removed every file"; else
    find "$DESTDIR" -type f >&2; bad "uninstall left $left files"; fi

echo "install: $pass passed, $fail failed"
[ "$fail" = 0 ]

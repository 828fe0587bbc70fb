#!/usr/bin/env bash
# Installs WarpDrive into a scratch DESTDIR/PREFIX and uses the result: a C
# program built with `pkg-config --cflags --libs warpdrive` against the
# installed copy, the installed warpdrive (list, selftest, run with the installed
# drop-in and provider), then uninstalls and checks that nothing is left.
set -euo pipefail
trap 'echo "50-install.sh: line $LINENO: \"$BASH_COMMAND\" failed (status $?)" >&2' ERR
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

P=$DESTDIR$PREFIX
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

# A file that is not ours is never overwritten (util-linux's wdctl taught us).
mkdir -p "$P/bin"
echo "someone else's" >"$P/bin/warpdrive"
if make --no-print-directory install PREFIX=$PREFIX DESTDIR="$DESTDIR" >"$scratch/refuse.out" 2>&1; then
    bad "install overwrote a file it had not installed"
elif grep -q "refusing to overwrite $P/bin/warpdrive" "$scratch/refuse.out" &&
    [ "$(cat "$P/bin/warpdrive")" = "someone else's" ]; then
    ok "install refuses to overwrite a file it did not install"
else
    cat "$scratch/refuse.out" >&2; bad "install did not say why it stopped, or changed the file"
fi
rm -f "$P/bin/warpdrive"

# An install that fails half way can be uninstalled: the manifest grows as
# files are placed. (Only the CLI built: it stops at libwarpdrive.so.)
mkdir -p "$scratch/half/release"
cp "$CARGO_TARGET_DIR/release/warpdrive" "$scratch/half/release/"
if NO_BUILD=1 CARGO_TARGET_DIR=$scratch/half make --no-print-directory install PREFIX=$PREFIX \
    DESTDIR="$DESTDIR" >"$scratch/half.out" 2>&1; then
    bad "an install without libwarpdrive.so succeeded"
else
    make --no-print-directory uninstall PREFIX=$PREFIX DESTDIR="$DESTDIR" >/dev/null
    left=$(find "$DESTDIR" -type f | wc -l)
    if [ "$left" = 0 ]; then ok "a failed install is uninstalled completely"; else
        find "$DESTDIR" -type f >&2; bad "a failed install left $left files after uninstall"; fi
fi

make --no-print-directory install PREFIX=$PREFIX DESTDIR="$DESTDIR"
# And again: repeating an install is safe.
if NO_BUILD=1 make --no-print-directory install PREFIX=$PREFIX DESTDIR="$DESTDIR" >"$scratch/again.out" 2>&1; then
    ok "a second install over the first"
else
    cat "$scratch/again.out" >&2; bad "a second install failed"
fi

for f in bin/warpdrive lib/libwarpdrive.so.$version include/warpdrive.h include/warpdrive/uapi/warpdrive.h \
    lib/pkgconfig/warpdrive.pc lib/warpdrive/libz.so.1 lib/ossl-modules/warpdrive.so \
    etc/warpdrive/openssl.cnf etc/warpdrive/warpdrive-provider.cnf share/warpdrive/install-manifest \
    share/man/man1/warpdrive.1 share/man/man1/warpdrive-run.1 \
    share/bash-completion/completions/warpdrive share/zsh/vendor-completions/_warpdrive \
    share/fish/vendor_completions.d/warpdrive.fish; do
    if [ -f "$P/$f" ]; then ok "$f installed"; else bad "$f missing"; fi
done
if grep -qx 'd /run/warpdrive 1777 root root -' "$DESTDIR/etc/tmpfiles.d/warpdrive.conf"; then
    ok "tmpfiles.d makes /run/warpdrive for the live records"
else
    bad "no tmpfiles.d entry for /run/warpdrive"
fi
for l in lib/libwarpdrive.so.0 lib/libwarpdrive.so; do
    if [ -L "$P/$l" ] && [ -f "$P/$l" ]; then ok "$l -> $(readlink "$P/$l")"; else bad "$l is not a symlink to the library"; fi
done
if readelf -d "$P/lib/libwarpdrive.so.$version" | grep -q 'SONAME.*\[libwarpdrive\.so\.0\]'; then
    ok "libwarpdrive.so has SONAME libwarpdrive.so.0"
else
    bad "libwarpdrive.so SONAME: $(readelf -d "$P/lib/libwarpdrive.so.$version" | grep SONAME || echo none)"
fi
for b in bin/warpdrive lib/libwarpdrive.so.$version lib/warpdrive/libz.so.1 lib/ossl-modules/warpdrive.so; do
    if readelf -S "$P/$b" | grep -q '\.debug_info'; then bad "$b has debug info"; else ok "$b stripped"; fi
done
if man -l "$P/share/man/man1/warpdrive.1" 2>/dev/null | grep -q selftest ||
    grep -q selftest "$P/share/man/man1/warpdrive.1"; then
    ok "the man page names the subcommands"
else
    bad "the man page does not name selftest"
fi
# The group the udev rule names is declared (DESTDIR: for systemd-sysusers).
rule=$(ls "$DESTDIR"/etc/udev/rules.d/*warpdrive*.rules 2>/dev/null | head -1)
if [ -n "$rule" ] && grep -q 'GROUP="warpdrive"' "$rule" &&
    grep -qx 'g warpdrive - -' "$DESTDIR/etc/sysusers.d/warpdrive.conf"; then
    ok "udev rule and its group's sysusers.d entry installed"
else
    bad "udev rule ($rule) or sysusers.d entry for group warpdrive missing"
fi
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
if ldd "$scratch/capi_test" | grep "$P/lib/libwarpdrive.so.0" >/dev/null; then
    ok "capi_test links the installed libwarpdrive.so"
else
    bad "capi_test does not use the installed library: $(ldd "$scratch/capi_test" | grep warpdrive)"
fi
if "$scratch/capi_test" >"$scratch/capi.out" 2>&1; then ok "capi_test ran"; else
    cat "$scratch/capi.out" >&2; bad "capi_test failed"; fi

# The installed warpdrive, and what it finds beside itself.
if "$P/bin/warpdrive" list >"$scratch/list.out" && grep -q '^softdev ' "$scratch/list.out" &&
    grep -q aes-gcm "$scratch/list.out"; then ok "installed warpdrive list shows softdev"; else
    bad "installed warpdrive list"; fi
if "$P/bin/warpdrive" selftest --device softdev >"$scratch/st.out"; then ok "installed warpdrive selftest"; else
    cat "$scratch/st.out" >&2; bad "installed warpdrive selftest"; fi
env -u WARPDRIVE_CLI_ZLIB_SHIM -u WARPDRIVE_CLI_PROVIDER_MODULE "$P/bin/warpdrive" run --json -- \
    python3 -c 'import zlib; zlib.compress(b"x" * 1000000)' 2>"$scratch/run.err" || true
report=$(tail -1 "$scratch/run.err")
if python3 - "$report" "$P" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); p = sys.argv[2]
assert r["offloaded_requests"] > 0, r
assert r["zlib"]["module"].startswith(p + "/lib/warpdrive/"), r["zlib"]["module"]
assert r["openssl"]["module"].startswith(p + "/lib/ossl-modules/"), r["openssl"]["module"]
PY
then ok "installed warpdrive run uses the installed drop-in and provider and offloads"; else
    cat "$scratch/run.err" >&2; bad "installed warpdrive run"; fi
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

# The installed openssl.cnf (our provider preferred for every fetch) gives the answers
# of the default provider alone: HMAC over digests the engines lack (they run in the
# default implementation inside the provider) and the default provider's KDFs on top.
sed "s|$PREFIX/|$P/|g" "$P/etc/warpdrive/openssl.cnf" >"$scratch/inst.cnf"
sed "s|$PREFIX/|$P/|g" "$P/etc/warpdrive/warpdrive-provider.cnf" >"$scratch/inst-p.cnf"
sed -i "s|$P/etc/warpdrive/warpdrive-provider.cnf|$scratch/inst-p.cnf|" "$scratch/inst.cnf"
printf 'openssl_conf = openssl_init\n[openssl_init]\nproviders = p\n[p]\ndefault = d\n[d]\nactivate = 1\n' >"$scratch/def.cnf"
head -c 5000 /dev/urandom >"$scratch/hmac.in"
same=0 differ=0
compare() {
    local a b
    a=$(OPENSSL_CONF=$scratch/inst.cnf WARPDRIVE_PROVIDER_STATS=$scratch/inst.stats openssl "$@" 2>&1) || a="FAILED: $a"
    b=$(OPENSSL_CONF=$scratch/def.cnf openssl "$@" 2>&1) || b="FAILED: $b"
    if [ "$a" = "$b" ] && [ "${a#FAILED}" = "$a" ]; then same=$((same + 1)); else
        echo "installed config: openssl $*: '$a' where the default provider gives '$b'" >&2
        differ=$((differ + 1))
    fi
}
for md in md5 sha3-256 sha512-256 sha256; do
    compare dgst "-$md" -hmac "a secret key" -r "$scratch/hmac.in"
done
for md in MD5-SHA1 SHA256; do
    compare kdf -keylen 48 -kdfopt "digest:$md" -kdfopt "secret:a secret" -kdfopt "seed:a seed" TLS1-PRF
done
for md in SHA256 SHA3-256; do
    compare kdf -keylen 48 -kdfopt "digest:$md" -kdfopt "key:input key" -kdfopt salt:salt -kdfopt info:info HKDF
done
if [ "$differ" = 0 ] && grep -q '"hmac_ops":[1-9]' "$scratch/inst.stats"; then
    ok "installed openssl.cnf: $same dgst -hmac / kdf outputs equal the default provider's (our HMAC ran)"
else
    bad "installed openssl.cnf: $differ of $((same + differ)) dgst -hmac / kdf outputs differ, or our HMAC never ran"
fi

make --no-print-directory uninstall PREFIX=$PREFIX DESTDIR="$DESTDIR"
left=$(find "$DESTDIR" \( -type f -o -type l \) | wc -l)
if [ "$left" = 0 ]; then ok "uninstall removed every file"; else
    find "$DESTDIR" \( -type f -o -type l \) >&2; bad "uninstall left $left files"; fi
if make --no-print-directory uninstall PREFIX=$PREFIX DESTDIR="$DESTDIR" >/dev/null; then
    ok "a second uninstall is harmless"
else
    bad "a second uninstall failed"
fi

# PREFIX=/usr: the vendor locations udev and systemd read.
# DEBUG_INFO=1: the debug info beside, by build id, where gdb looks.
NO_BUILD=1 DEBUG_INFO=1 make --no-print-directory install PREFIX=/usr DESTDIR="$DESTDIR" MODULESDIR=/usr/lib/ossl-modules >/dev/null
id=$(readelf -n "$DESTDIR/usr/bin/warpdrive" | sed -n 's/^ *Build ID: \([0-9a-f]*\)$/\1/p')
dbg=$DESTDIR/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
if [ -n "$id" ] && readelf -S "$dbg" 2>/dev/null | grep -q '\.debug_info'; then
    ok "DEBUG_INFO=1 puts the debug info in /usr/lib/debug/.build-id"
else
    bad "DEBUG_INFO=1: no debug file $dbg"
fi
if ls "$DESTDIR"/usr/lib/udev/rules.d/*warpdrive*.rules >/dev/null 2>&1 &&
    [ -f "$DESTDIR/usr/lib/sysusers.d/warpdrive.conf" ] &&
    ! ls "$DESTDIR"/etc/udev/rules.d/*.rules >/dev/null 2>&1; then
    ok "PREFIX=/usr puts the udev rule and sysusers.d entry under /usr/lib"
else
    find "$DESTDIR" -name '*.rules' -o -name 'warpdrive.conf' >&2
    bad "PREFIX=/usr: udev rule or sysusers.d entry not under /usr/lib"
fi
make --no-print-directory uninstall PREFIX=/usr DESTDIR="$DESTDIR" MODULESDIR=/usr/lib/ossl-modules >/dev/null
left=$(find "$DESTDIR" \( -type f -o -type l \) | wc -l)
[ "$left" = 0 ] || { find "$DESTDIR" \( -type f -o -type l \) >&2; bad "PREFIX=/usr uninstall left $left files"; }

echo "install: $pass passed, $fail failed"
[ "$fail" = 0 ]

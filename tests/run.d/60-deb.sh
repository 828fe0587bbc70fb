#!/usr/bin/env bash
# `make deb`: builds the Debian packages, inspects them with dpkg-deb, installs
# them into a throw-away root (dpkg --root, maintainer scripts chrootless with
# DPKG_ROOT set), uses the installed CLI and drop-in from there, and purges
# them, checking that nothing is left.
set -euo pipefail
trap 'echo "60-deb.sh: line $LINENO: \"$BASH_COMMAND\" failed (status $?)" >&2' ERR
cd "$(dirname "$0")/../.."
ROOT=$PWD
: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR
scratch=$(mktemp -d "${TMPDIR:-/tmp}/wd-deb.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
pass=0 fail=0
ok() { echo "deb: ok: $*"; pass=$((pass + 1)); }
bad() { echo "deb: FAILED: $*" >&2; fail=$((fail + 1)); }

export DEB_OUT=$scratch/out
make --no-print-directory deb
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
mdir=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"/\1/p')

# expect PKG PATH...: the package exists and holds these paths.
expect() {
    local pkg=$1 deb=$DEB_OUT/${1}_${version}_${arch}.deb
    shift
    if [ ! -f "$deb" ]; then bad "$pkg: no $deb"; return; fi
    dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$scratch/$pkg.list"
    local p
    for p in "$@"; do
        if grep -qxF "$p" "$scratch/$pkg.list"; then ok "$pkg has $p"; else bad "$pkg lacks $p"; fi
    done
    [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || bad "$pkg: version $(dpkg-deb -f "$deb" Version)"
}
expect libwarpdrive0 "/usr/lib/libwarpdrive.so.$version" /usr/lib/libwarpdrive.so.0
expect libwarpdrive-dev /usr/lib/libwarpdrive.so /usr/include/warpdrive.h /usr/lib/pkgconfig/warpdrive.pc
expect warpdrive /usr/bin/warpdrive /usr/share/man/man1/warpdrive.1 /usr/lib/udev/rules.d/90-warpdrive.rules \
    /usr/lib/sysusers.d/warpdrive.conf /usr/lib/tmpfiles.d/warpdrive.conf \
    /usr/share/bash-completion/completions/warpdrive
expect warpdrive-zlib /usr/lib/warpdrive/libz.so.1
expect warpdrive-openssl-provider "$mdir/warpdrive.so" /etc/warpdrive/openssl.cnf
expect warpdrive-dkms "/usr/src/warpdrive-$version/dkms.conf"
if dpkg-deb -I "$DEB_OUT/warpdrive-openssl-provider_${version}_${arch}.deb" conffiles | grep -qx /etc/warpdrive/openssl.cnf; then
    ok "the provider's /etc files are conffiles"
else
    bad "the provider's /etc files are not conffiles"
fi
if dpkg-deb -f "$DEB_OUT/libwarpdrive-dev_${version}_${arch}.deb" Depends | grep -q "libwarpdrive0 (= $version)"; then
    ok "libwarpdrive-dev depends on libwarpdrive0 of its version"
else
    bad "libwarpdrive-dev Depends: $(dpkg-deb -f "$DEB_OUT/libwarpdrive-dev_${version}_${arch}.deb" Depends)"
fi
# Nothing of the drop-in package lands where the loader looks by default.
if grep -q '^/usr/lib/libz\|^/lib/' "$scratch/warpdrive-zlib.list"; then bad "warpdrive-zlib ships a system libz"; else
    ok "warpdrive-zlib leaves the system libz alone"; fi
# Every zlib user loads the drop-in: it must not bring OpenSSL along.
zdeps=$(dpkg-deb -f "$DEB_OUT/warpdrive-zlib_${version}_${arch}.deb" Depends)
case $zdeps in
    *libssl*) bad "warpdrive-zlib Depends on OpenSSL: $zdeps" ;;
    *) ok "warpdrive-zlib does not depend on OpenSSL ($zdeps)" ;;
esac

# A throw-away root with an empty dpkg database.
R=$scratch/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
: >"$R/var/lib/dpkg/status"
: >"$R/var/lib/dpkg/available"
dpkgr() { dpkg --root="$R" --log=/dev/null --force-script-chrootless --force-depends --force-not-root "$@"; }
if dpkgr -i "$DEB_OUT"/*_"${version}"_"${arch}".deb >"$scratch/install.out" 2>&1; then
    ok "all packages install"
else
    cat "$scratch/install.out" >&2; bad "dpkg -i failed"
fi
n=$(dpkg --root="$R" -l | grep -c '^ii  .*warpdrive' || true)
[ "$n" = 6 ] && ok "6 packages installed" || bad "$n packages installed"

if "$R/usr/bin/warpdrive" list >"$scratch/list.out" && grep -q '^softdev ' "$scratch/list.out"; then
    ok "the packaged warpdrive runs"
else
    bad "the packaged warpdrive list"
fi
if "$R/usr/bin/warpdrive" run --json -- python3 -c 'import zlib; zlib.compress(b"x" * 1000000)' \
    2>"$scratch/run.err" && python3 - "$(tail -1 "$scratch/run.err")" "$R" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); root = sys.argv[2]
assert r["offloaded_requests"] > 0, r
assert r["zlib"]["module"].startswith(root + "/usr/lib/warpdrive/"), r["zlib"]["module"]
assert r["openssl"]["module"].startswith(root + "/usr/lib/"), r["openssl"]["module"]
PY
then
    ok "the packaged warpdrive run uses the packaged drop-in and provider"
else
    cat "$scratch/run.err" >&2; bad "the packaged warpdrive run"
fi

if dpkgr --purge libwarpdrive-dev libwarpdrive0 warpdrive warpdrive-zlib warpdrive-openssl-provider \
    warpdrive-dkms >"$scratch/purge.out" 2>&1; then
    ok "all packages purge"
else
    cat "$scratch/purge.out" >&2; bad "dpkg --purge failed"
fi
left=$(find "$R" \( -type f -o -type l \) ! -path "$R/var/lib/dpkg/*" | wc -l)
if [ "$left" = 0 ]; then ok "purge left no file"; else
    find "$R" \( -type f -o -type l \) ! -path "$R/var/lib/dpkg/*" >&2; bad "purge left $left files"; fi

echo "deb: $pass passed, $fail failed"
[ "$fail" = 0 ]

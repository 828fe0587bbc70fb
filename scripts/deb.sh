#!/usr/bin/env bash
# make deb: Debian packages from one staged `make install PREFIX=/usr`.
#
#   scripts/deb.sh            (make deb; NO_BUILD=1 uses an existing build)
#
# Writes to $DEB_OUT (default $CARGO_TARGET_DIR/deb):
#   libwarpdrive0          the C API library (SONAME libwarpdrive.so.0)
#   libwarpdrive-dev       its headers, pkg-config file and .so link
#   warpdrive              the CLI, its man pages and completions, the udev
#                          rule and the group it names (sysusers.d entry;
#                          postinst creates the group), /run/warpdrive for
#                          the live records (tmpfiles.d)
#   warpdrive-zlib         the zlib drop-in, /usr/lib/warpdrive/libz.so.1
#                          (for LD_PRELOAD or `warpdrive run`; the system
#                          libz is not touched)
#   warpdrive-openssl-provider  the provider in OpenSSL's modules directory
#                          and /etc/warpdrive/*.cnf (conffiles)
#   warpdrive-dkms         the kernel module's sources, built by dkms
#
# Maintainer scripts act on the running system only when dpkg installs into
# it: with DPKG_ROOT set (dpkg --root ... --force-script-chrootless, as the
# test does) they leave users, udev and dkms alone.
set -euo pipefail
trap 'echo "deb.sh: line $LINENO: \"$BASH_COMMAND\" failed (status $?)" >&2' ERR

here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
out=${DEB_OUT:-$target/deb}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -1)
arch=$(dpkg --print-architecture)
modulesdir=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"/\1/p')
modulesdir=${modulesdir:-/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)/ossl-modules}
maintainer="WarpDrive developers <warpdrive@example.invalid>"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
PREFIX=/usr DESTDIR=$stage MODULESDIR=$modulesdir CARGO_TARGET_DIR=$target \
    bash "$here/scripts/install.sh" install >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; echo "deb.sh: the staged install failed" >&2; exit 1; }
# dpkg keeps its own file lists.
rm -f "$stage/usr/share/warpdrive/install-manifest"
rmdir "$stage/usr/share/warpdrive" 2>/dev/null || true

# take PKG PATH...: moves staged paths (files or directories) into a package.
take() {
    local pkg=$1
    shift
    local p
    for p in "$@"; do
        [ -e "$stage$p" ] || [ -L "$stage$p" ] || { echo "deb.sh: $p not staged" >&2; exit 1; }
        mkdir -p "$work/$pkg$(dirname "$p")"
        mv "$stage$p" "$work/$pkg$p"
    done
}

# shlibs FILE...: the Depends that dpkg-shlibdeps finds for these ELF files.
shlibs() {
    mkdir -p "$work/sl/debian"
    printf 'Source: warpdrive\n\nPackage: warpdrive\nArchitecture: any\n' >"$work/sl/debian/control"
    (cd "$work/sl" && dpkg-shlibdeps -O "$@" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}

# build PKG SECTION DESCRIPTION [DEPENDS]: control file, md5sums, .deb.
build() {
    local pkg=$1 section=$2 desc=$3 depends=${4:-}
    local d=$work/$pkg
    mkdir -p "$d/DEBIAN" "$d/usr/share/doc/$pkg"
    cp "$here/README.md" "$d/usr/share/doc/$pkg/README.md"
    {
        echo "Package: $pkg"
        echo "Version: $version"
        echo "Architecture: $arch"
        echo "Maintainer: $maintainer"
        echo "Section: $section"
        echo "Priority: optional"
        [ -z "$depends" ] || echo "Depends: $depends"
        echo "Installed-Size: $(du -sk --exclude=DEBIAN "$d" | cut -f1)"
        echo "Homepage: https://example.invalid/warpdrive"
        echo "Description: $desc"
        echo " WarpDrive offloads compression and crypto through accelerator queues"
        echo " mapped into user space (a kernel device, or an in-process software device)."
    } >"$d/DEBIAN/control"
    if [ -d "$d/etc" ]; then
        (cd "$d" && find etc -type f | sed 's|^|/|' | sort) >"$d/DEBIAN/conffiles"
    fi
    (cd "$d" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
        xargs -r md5sum) >"$d/DEBIAN/md5sums"
    dpkg-deb --root-owner-group -Zxz --build "$d" "$out/${pkg}_${version}_${arch}.deb" >/dev/null
    echo "deb.sh: $out/${pkg}_${version}_${arch}.deb"
}

# script PKG NAME < body: a maintainer script.
script() {
    mkdir -p "$work/$1/DEBIAN"
    { echo '#!/bin/sh'; echo 'set -e'; cat; } >"$work/$1/DEBIAN/$2"
    chmod 755 "$work/$1/DEBIAN/$2"
}

mkdir -p "$out"
rm -f "$out"/*_"$version"_"$arch".deb

take libwarpdrive0 "/usr/lib/libwarpdrive.so.$version" /usr/lib/libwarpdrive.so.0
script libwarpdrive0 postinst <<'EOF'
[ -n "${DPKG_ROOT:-}" ] || [ "$1" != configure ] || ldconfig
EOF
script libwarpdrive0 postrm <<'EOF'
[ -n "${DPKG_ROOT:-}" ] || [ "$1" != remove ] || ldconfig
EOF
build libwarpdrive0 libs "WarpDrive C API (shared library)" \
    "$(shlibs -e "$work/libwarpdrive0/usr/lib/libwarpdrive.so.$version")"

take libwarpdrive-dev /usr/lib/libwarpdrive.so /usr/lib/pkgconfig /usr/include
build libwarpdrive-dev libdevel "WarpDrive C API (headers, pkg-config)" "libwarpdrive0 (= $version)"

take warpdrive /usr/bin/warpdrive /usr/share/man /usr/share/bash-completion /usr/share/zsh \
    /usr/share/fish /usr/lib/udev /usr/lib/sysusers.d /usr/lib/tmpfiles.d
script warpdrive postinst <<'EOF'
if [ "$1" = configure ] && [ -z "${DPKG_ROOT:-}" ]; then
    # The group the udev rule gives /dev/warpdrive/* to.
    if ! getent group warpdrive >/dev/null; then
        if command -v systemd-sysusers >/dev/null 2>&1; then
            systemd-sysusers warpdrive.conf || groupadd --system warpdrive
        else
            groupadd --system warpdrive
        fi
    fi
    # The live records' directory (warpdrive stats).
    systemd-tmpfiles --create warpdrive.conf 2>/dev/null || mkdir -p -m 1777 /run/warpdrive
    if command -v udevadm >/dev/null 2>&1; then
        udevadm control --reload-rules 2>/dev/null || true
        udevadm trigger --subsystem-match=warpdrive 2>/dev/null || true
    fi
fi
EOF
script warpdrive postrm <<'EOF'
# The group stays on purge: files elsewhere may still name it (Debian policy).
if [ "$1" = remove ] && [ -z "${DPKG_ROOT:-}" ] && command -v udevadm >/dev/null 2>&1; then
    udevadm control --reload-rules 2>/dev/null || true
fi
EOF
build warpdrive utils "WarpDrive operator tool: devices, counters, self-test, benchmark, run" \
    "$(shlibs -e "$work/warpdrive/usr/bin/warpdrive"), passwd"

take warpdrive-zlib /usr/lib/warpdrive
build warpdrive-zlib libs "WarpDrive zlib drop-in (libz.so.1 for LD_PRELOAD)" \
    "$(shlibs -e "$work/warpdrive-zlib/usr/lib/warpdrive/libz.so.1")"

take warpdrive-openssl-provider "$modulesdir/warpdrive.so" /etc/warpdrive
build warpdrive-openssl-provider libs "WarpDrive OpenSSL 3 provider" \
    "$(shlibs -e "$work/warpdrive-openssl-provider$modulesdir/warpdrive.so")"

if [ -d "$stage/usr/src" ]; then
    take warpdrive-dkms /usr/src
    script warpdrive-dkms postinst <<EOF
if [ "\$1" = configure ] && [ -z "\${DPKG_ROOT:-}" ]; then
    dkms add -m warpdrive -v $version 2>/dev/null || true
    dkms build -m warpdrive -v $version && dkms install -m warpdrive -v $version ||
        echo "warpdrive-dkms: the module did not build for \$(uname -r) (kernel headers installed?)" >&2
fi
EOF
    script warpdrive-dkms prerm <<EOF
if [ -z "\${DPKG_ROOT:-}" ] && command -v dkms >/dev/null 2>&1; then
    dkms remove -m warpdrive -v $version --all 2>/dev/null || true
fi
EOF
    build warpdrive-dkms kernel "WarpDrive kernel module (dkms sources)" "dkms"
else
    echo "deb.sh: no module sources were staged (kmod/dkms.conf missing): no warpdrive-dkms" >&2
fi

# Everything staged went into a package.
left=$(find "$stage" \( -type f -o -type l \) | sed "s|^$stage||")
if [ -n "$left" ]; then
    echo "deb.sh: staged files in no package:" >&2
    echo "$left" >&2
    exit 1
fi

#!/usr/bin/env bash
# Installs or removes WarpDrive the way distributions lay things out.
#
#   scripts/install.sh install      (make install   PREFIX=... DESTDIR=...)
#   scripts/install.sh uninstall    (make uninstall PREFIX=... DESTDIR=...)
#
# What goes where (PREFIX defaults to /usr/local, DESTDIR to nothing):
#   $PREFIX/bin/wdctl                          the operator's tool
#   $PREFIX/lib/libwarpdrive.so                the C API
#   $PREFIX/include/warpdrive.h                its header
#   $PREFIX/include/warpdrive/uapi/warpdrive.h the kernel/user ABI header
#   $PREFIX/lib/pkgconfig/warpdrive.pc         pkg-config --cflags --libs warpdrive
#   $PREFIX/lib/warpdrive/libz.so.1            the zlib drop-in, for LD_PRELOAD or
#                                              `wdctl run`; the system libz is never
#                                              touched
#   $MODULESDIR/warpdrive.so                   the OpenSSL provider; MODULESDIR is
#                                              OpenSSL's own (`openssl version -m`)
#                                              when PREFIX=/usr, else
#                                              $PREFIX/lib/ossl-modules
#   $PREFIX/etc/warpdrive/openssl.cnf          a complete config (OPENSSL_CONF=...)
#   $PREFIX/etc/warpdrive/warpdrive-provider.cnf  the provider's section alone,
#                                              for .include in a system openssl.cnf
#   $UDEVRULESDIR/*.rules                      kmod/udev/*.rules (default
#                                              /etc/udev/rules.d), when present
#   dkms: the module (kmod/dkms.conf), when present and dkms is installed;
#         with DESTDIR the sources go to $DESTDIR/usr/src/warpdrive-VERSION and
#         registration is left to the package's postinst
#   $PREFIX/share/warpdrive/install-manifest   what was installed, for uninstall
#
# Environment: PREFIX, DESTDIR, MODULESDIR, UDEVRULESDIR, CARGO_TARGET_DIR,
# NO_BUILD=1 (use what cargo already built in $CARGO_TARGET_DIR/release).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
action=${1:-install}
PREFIX=${PREFIX:-/usr/local}
PREFIX=${PREFIX%/}
DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
target=${CARGO_TARGET_DIR:-$here/target}
rel=$target/release
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -1)

if [ -z "${MODULESDIR:-}" ]; then
    if [ "$PREFIX" = /usr ] && command -v openssl >/dev/null 2>&1; then
        MODULESDIR=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"/\1/p')
    fi
    MODULESDIR=${MODULESDIR:-$PREFIX/lib/ossl-modules}
fi
UDEVRULESDIR=${UDEVRULESDIR:-/etc/udev/rules.d}
manifest_rel=$PREFIX/share/warpdrive/install-manifest
manifest=$DESTDIR$manifest_rel

say() { printf 'warpdrive %s: %s\n' "$action" "$*"; }
die() { printf 'warpdrive %s: %s\n' "$action" "$*" >&2; exit 1; }

# put SRC DEST MODE: installs one file and records it (DEST without DESTDIR).
put() {
    local src=$1 dest=$2 mode=$3
    [ -f "$src" ] || die "missing $src (build it first, or unset NO_BUILD)"
    install -D -m "$mode" "$src" "$DESTDIR$dest"
    echo "$dest" >>"$manifest.new"
}

# write DEST MODE < content
write() {
    local dest=$1 mode=$2
    mkdir -p "$(dirname "$DESTDIR$dest")"
    cat >"$DESTDIR$dest"
    chmod "$mode" "$DESTDIR$dest"
    echo "$dest" >>"$manifest.new"
}

do_install() {
    if [ "${NO_BUILD:-0}" != 1 ]; then
        say "building (release) into $target"
        # Not with our DESTDIR/PREFIX, nor make's MAKEFLAGS (which carries
        # DESTDIR=... to every sub-make): isal-sys runs `make install` in its
        # build script and would install its library under our DESTDIR.
        (cd "$here" && env -u DESTDIR -u PREFIX -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
            CARGO_TARGET_DIR="$target" cargo build --release --locked \
            -p warpdrive-capi -p warpdrive-zlib -p warpdrive-openssl-provider -p wdctl)
    fi
    mkdir -p "$(dirname "$manifest")"
    : >"$manifest.new"

    put "$rel/wdctl" "$PREFIX/bin/wdctl" 755
    put "$rel/libwarpdrive.so" "$PREFIX/lib/libwarpdrive.so" 755
    put "$here/include/warpdrive.h" "$PREFIX/include/warpdrive.h" 644
    put "$here/include/uapi/warpdrive.h" "$PREFIX/include/warpdrive/uapi/warpdrive.h" 644
    write "$PREFIX/lib/pkgconfig/warpdrive.pc" 644 <<EOF
prefix=$PREFIX
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include
zlibdir=\${libdir}/warpdrive
modulesdir=$MODULESDIR

Name: warpdrive
Description: WarpDrive: compression and crypto through accelerator queues mapped into user space
Version: $version
Libs: -L\${libdir} -lwarpdrive
Cflags: -I\${includedir}
EOF

    # The drop-in keeps its soname (libz.so.1) but lives in a directory of
    # its own: only programs that ask for it (LD_PRELOAD, wdctl run) get it.
    put "$rel/libz.so" "$PREFIX/lib/warpdrive/libz.so.1" 755

    put "$rel/libwarpdrive_provider.so" "$MODULESDIR/warpdrive.so" 755
    write "$PREFIX/etc/warpdrive/warpdrive-provider.cnf" 644 <<EOF
# The WarpDrive provider's section. To enable it system-wide, .include this
# file from openssl.cnf and add "warpdrive = warpdrive_sect" to the
# [provider_sect] there (keep "default = default_sect" activated too).
[warpdrive_sect]
module = $MODULESDIR/warpdrive.so
activate = 1
# backend = auto        # auto | kernel | softdev | inline
# inline_max = 256k     # smaller requests stay in software
# stats_file = /run/warpdrive/openssl-stats.jsonl
EOF
    write "$PREFIX/etc/warpdrive/openssl.cnf" 644 <<EOF
# A complete OpenSSL configuration with WarpDrive preferred:
#   OPENSSL_CONF=$PREFIX/etc/warpdrive/openssl.cnf openssl speed -evp aes-256-gcm
openssl_conf = openssl_init

[openssl_init]
providers = provider_sect
alg_section = algorithm_sect

[provider_sect]
default = default_sect
warpdrive = warpdrive_sect

[default_sect]
activate = 1

.include $PREFIX/etc/warpdrive/warpdrive-provider.cnf

[algorithm_sect]
default_properties = ?provider=warpdrive
EOF

    local rules=("$here"/kmod/udev/*.rules)
    if [ -e "${rules[0]}" ]; then
        for r in "${rules[@]}"; do
            put "$r" "$UDEVRULESDIR/$(basename "$r")" 644
        done
        if [ -z "$DESTDIR" ] && command -v udevadm >/dev/null 2>&1; then
            udevadm control --reload-rules 2>/dev/null || true
        fi
    else
        say "no udev rule (kmod/udev/*.rules) yet: skipped"
    fi

    if [ -f "$here/kmod/dkms.conf" ]; then
        local src=/usr/src/warpdrive-$version
        if [ -z "$DESTDIR" ] && ! command -v dkms >/dev/null 2>&1; then
            say "dkms is not installed: the kernel module was not installed (apt-get install dkms, then make install again)"
        else
            # The module's sources (no build products), and the uapi header it includes.
            (cd "$here/kmod" && find . -maxdepth 2 -type f \( -name '*.c' -o -name '*.h' -o -name Makefile \
                -o -name Kbuild -o -name dkms.conf \) ! -name '*.mod.c' -print) | sort | while read -r f; do
                put "$here/kmod/$f" "$src/${f#./}" 644
            done
            put "$here/include/uapi/warpdrive.h" "$src/include/uapi/warpdrive.h" 644
            # dkms requires the directory's version and dkms.conf's to agree
            sed -i "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$version\"/" "$DESTDIR$src/dkms.conf"
            if [ -n "$DESTDIR" ]; then
                say "module sources in $DESTDIR$src; run 'dkms install warpdrive/$version' on the target"
            else
                dkms add -m warpdrive -v "$version" 2>/dev/null || true
                dkms build -m warpdrive -v "$version"
                dkms install -m warpdrive -v "$version"
                echo "dkms:warpdrive/$version" >>"$manifest.new"
            fi
        fi
    else
        say "no kmod/dkms.conf yet: kernel module skipped"
    fi

    echo "$manifest_rel" >>"$manifest.new"
    mv "$manifest.new" "$manifest"
    say "installed $(wc -l <"$manifest") files under ${DESTDIR:-/}${DESTDIR:+ (DESTDIR)} with PREFIX=$PREFIX"
    say "try: $PREFIX/bin/wdctl list; $PREFIX/bin/wdctl selftest"
}

do_uninstall() {
    [ -f "$manifest" ] || die "nothing to uninstall: no $manifest"
    local n
    n=$(wc -l <"$manifest")
    # Deepest paths first, so that directories empty out before removal.
    sort -r "$manifest" | while read -r f; do
        case $f in
        dkms:*)
            local mv=${f#dkms:}
            if command -v dkms >/dev/null 2>&1; then
                dkms remove "$mv" --all 2>/dev/null || true
            fi
            ;;
        */)
            rm -rf "${DESTDIR:?}$f"
            ;;
        *)
            rm -f "$DESTDIR$f"
            ;;
        esac
    done
    # Remove the directories we made, if they are now empty.
    if [ -d "$DESTDIR/usr/src/warpdrive-$version" ]; then
        find "$DESTDIR/usr/src/warpdrive-$version" -depth -type d -empty -delete 2>/dev/null || true
    fi
    for d in "$PREFIX/share/warpdrive" "$PREFIX/etc/warpdrive" "$PREFIX/lib/warpdrive" \
        "$PREFIX/include/warpdrive/uapi" "$PREFIX/include/warpdrive" "$PREFIX/lib/pkgconfig" \
        "$MODULESDIR" "$PREFIX/share" "$PREFIX/etc" "$PREFIX/include" "$PREFIX/bin" "$PREFIX/lib" \
        "$UDEVRULESDIR"; do
        rmdir "$DESTDIR$d" 2>/dev/null || true
    done
    say "removed $n files (PREFIX=$PREFIX${DESTDIR:+, DESTDIR=$DESTDIR})"
}

case $action in
install) do_install ;;
uninstall) do_uninstall ;;
*) die "usage: $0 install|uninstall" ;;
esac

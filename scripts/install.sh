#!/usr/bin/env bash
# Installs or removes WarpDrive the way distributions lay things out.
#
#   scripts/install.sh install      (make install   PREFIX=... DESTDIR=...)
#   scripts/install.sh uninstall    (make uninstall PREFIX=... DESTDIR=...)
#
# What goes where (PREFIX defaults to /usr/local, DESTDIR to nothing):
#   $PREFIX/bin/warpdrive                      the operator's tool (stripped)
#   $PREFIX/share/man/man1/warpdrive*.1        its manual pages, and its shell
#   $PREFIX/share/{bash-completion,zsh,fish}/...  completions, generated from
#                                              the CLI's own definitions
#   $PREFIX/lib/libwarpdrive.so.$VERSION       the C API (SONAME libwarpdrive.so.0),
#   $PREFIX/lib/libwarpdrive.so{.0,}           with the usual symlinks
#   $PREFIX/include/warpdrive.h                its header
#   $PREFIX/include/warpdrive/uapi/warpdrive.h the kernel/user ABI header
#   $PREFIX/lib/pkgconfig/warpdrive.pc         pkg-config --cflags --libs warpdrive
#   $PREFIX/lib/warpdrive/libz.so.1            the zlib drop-in, for LD_PRELOAD or
#                                              `warpdrive run`; the system libz is never
#                                              touched
#   $MODULESDIR/warpdrive.so                   the OpenSSL provider; MODULESDIR is
#                                              OpenSSL's own (`openssl version -m`)
#                                              when PREFIX=/usr, else
#                                              $PREFIX/lib/ossl-modules
#   $SYSCONFDIR/warpdrive/openssl.cnf          a complete config (OPENSSL_CONF=...);
#                                              SYSCONFDIR is /etc for PREFIX=/usr,
#                                              else $PREFIX/etc
#   $SYSCONFDIR/warpdrive/warpdrive-provider.cnf  the provider's section alone,
#                                              for .include in a system openssl.cnf
#   $UDEVRULESDIR/*.rules                      kmod/udev/*.rules: /usr/lib/udev/rules.d
#                                              for PREFIX=/usr, else /etc/udev/rules.d
#                                              (udev reads no rule under /usr/local)
#   group warpdrive                            the group the rule names: groupadd
#                                              --system when DESTDIR is empty, and
#   $SYSUSERSDIR/warpdrive.conf                a sysusers.d entry either way
#                                              (/usr/lib/sysusers.d or /etc/sysusers.d)
#   dkms: the module (kmod/dkms.conf), when present and dkms is installed;
#         with DESTDIR the sources go to $DESTDIR/usr/src/warpdrive-VERSION and
#         registration is left to the package's postinst
#   $TMPFILESDIR/warpdrive.conf                /run/warpdrive, mode 1777: the live
#                                              per-process records `warpdrive stats`
#                                              shows (made now too when DESTDIR is empty)
#   $PREFIX/share/warpdrive/install-manifest   what was installed, for uninstall
#
# The manifest grows as each file is placed, so an install that fails half way
# can still be uninstalled; install and uninstall are safe to repeat. A file
# that exists and is not in the manifest (another package's, or yours) is never
# overwritten: the install stops and names it.
#
# Environment: PREFIX, DESTDIR, MODULESDIR, SYSCONFDIR, UDEVRULESDIR, SYSUSERSDIR, TMPFILESDIR,
# CARGO_TARGET_DIR, NO_BUILD=1 (use what cargo already built in
# $CARGO_TARGET_DIR/release), STRIP=0 (keep debug info in the binaries),
# DEBUG_INFO=1 (install it separately, under $PREFIX/lib/debug/.build-id).
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
# udev and systemd read vendor files under /usr/lib and the administrator's
# under /etc, nothing under another prefix.
if [ "$PREFIX" = /usr ]; then
    SYSCONFDIR=${SYSCONFDIR:-/etc}
    UDEVRULESDIR=${UDEVRULESDIR:-/usr/lib/udev/rules.d}
    SYSUSERSDIR=${SYSUSERSDIR:-/usr/lib/sysusers.d}
    TMPFILESDIR=${TMPFILESDIR:-/usr/lib/tmpfiles.d}
else
    SYSCONFDIR=${SYSCONFDIR:-$PREFIX/etc}
    UDEVRULESDIR=${UDEVRULESDIR:-/etc/udev/rules.d}
    SYSUSERSDIR=${SYSUSERSDIR:-/etc/sysusers.d}
    TMPFILESDIR=${TMPFILESDIR:-/etc/tmpfiles.d}
fi
MANDIR=$PREFIX/share/man
manifest_rel=$PREFIX/share/warpdrive/install-manifest
manifest=$DESTDIR$manifest_rel
soname=libwarpdrive.so.0

say() { printf 'warpdrive %s: %s\n' "$action" "$*"; }
die() { printf 'warpdrive %s: %s\n' "$action" "$*" >&2; exit 1; }

# claim DEST: refuses a path that exists and that no earlier install of ours
# placed, then records DEST in the manifest before anything is written there.
claim() {
    local dest=$1
    if [ -e "$DESTDIR$dest" ] || [ -L "$DESTDIR$dest" ]; then
        grep -qxF -- "$dest" "$manifest" 2>/dev/null ||
            die "refusing to overwrite $DESTDIR$dest: it was not installed by warpdrive (remove it, or pick another PREFIX)"
    fi
    grep -qxF -- "$dest" "$manifest" 2>/dev/null || echo "$dest" >>"$manifest"
}

# put SRC DEST MODE: installs one file and records it (DEST without DESTDIR).
put() {
    local src=$1 dest=$2 mode=$3
    [ -f "$src" ] || die "missing $src (build it first, or unset NO_BUILD)"
    claim "$dest"
    install -D -m "$mode" "$src" "$DESTDIR$dest"
}

# put_elf SRC DEST: an executable or shared library, stripped of debug info
# and local symbols (the exported ones stay in .dynsym). With DEBUG_INFO=1
# the debug info goes to $PREFIX/lib/debug/.build-id/XX/REST.debug, where gdb
# finds it by build id (for PREFIX=/usr, in its default debug directory).
put_elf() {
    put "$1" "$2" 755
    [ "${STRIP:-1}" != 0 ] || return 0
    if [ "${DEBUG_INFO:-0}" = 1 ]; then
        local id
        id=$(readelf -n "$1" | sed -n 's/^ *Build ID: \([0-9a-f]*\)$/\1/p' | head -1)
        if [ -n "$id" ]; then
            local dbg=$PREFIX/lib/debug/.build-id/${id:0:2}/${id:2}.debug
            claim "$dbg"
            mkdir -p "$(dirname "$DESTDIR$dbg")"
            objcopy --only-keep-debug "$1" "$DESTDIR$dbg"
            chmod 644 "$DESTDIR$dbg"
        fi
    fi
    strip --strip-unneeded "$DESTDIR$2"
}

# link TARGET DEST: a symbolic link, recorded like a file.
link() {
    claim "$2"
    mkdir -p "$(dirname "$DESTDIR$2")"
    ln -sfn "$1" "$DESTDIR$2"
}

# write DEST MODE < content
write() {
    local dest=$1 mode=$2
    claim "$dest"
    mkdir -p "$(dirname "$DESTDIR$dest")"
    cat >"$DESTDIR$dest"
    chmod "$mode" "$DESTDIR$dest"
}

do_install() {
    if [ "${NO_BUILD:-0}" != 1 ]; then
        say "building (release) into $target"
        # Not with our DESTDIR/PREFIX, nor make's MAKEFLAGS (which carries
        # DESTDIR=... to every sub-make): isal-sys runs `make install` in its
        # build script and would install its library under our DESTDIR.
        (cd "$here" && env -u DESTDIR -u PREFIX -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
            CARGO_TARGET_DIR="$target" cargo build --release --locked \
            -p warpdrive-capi -p warpdrive-openssl-provider -p warpdrive-cli)
        # The drop-in on its own: built with the others, cargo would give
        # its core their crypto feature and link libssl/libcrypto into
        # every program that loads zlib.
        (cd "$here" && env -u DESTDIR -u PREFIX -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
            CARGO_TARGET_DIR="$target" cargo build --release --locked -p warpdrive-zlib)
    fi
    mkdir -p "$(dirname "$manifest")"
    # The manifest lists itself, so uninstall removes it last of all.
    touch "$manifest"
    grep -qxF -- "$manifest_rel" "$manifest" || echo "$manifest_rel" >>"$manifest"

    put_elf "$rel/warpdrive" "$PREFIX/bin/warpdrive"
    # The manual pages and completions come from the CLI's own definitions.
    local gen
    gen=$(mktemp -d)
    "$rel/warpdrive" generate "$gen" >/dev/null || { rm -rf "$gen"; die "warpdrive generate failed"; }
    local m
    for m in "$gen"/man/*.1; do
        put "$m" "$MANDIR/man1/$(basename "$m")" 644
    done
    put "$gen/completions/warpdrive.bash" "$PREFIX/share/bash-completion/completions/warpdrive" 644
    put "$gen/completions/_warpdrive" "$PREFIX/share/zsh/vendor-completions/_warpdrive" 644
    put "$gen/completions/warpdrive.fish" "$PREFIX/share/fish/vendor_completions.d/warpdrive.fish" 644
    rm -rf "$gen"

    put_elf "$rel/libwarpdrive.so" "$PREFIX/lib/libwarpdrive.so.$version"
    link "libwarpdrive.so.$version" "$PREFIX/lib/$soname"
    link "$soname" "$PREFIX/lib/libwarpdrive.so"
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
    # its own: only programs that ask for it (LD_PRELOAD, warpdrive run) get it.
    put_elf "$rel/libz.so" "$PREFIX/lib/warpdrive/libz.so.1"

    put_elf "$rel/libwarpdrive_provider.so" "$MODULESDIR/warpdrive.so"
    write "$SYSCONFDIR/warpdrive/warpdrive-provider.cnf" 644 <<EOF
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
    write "$SYSCONFDIR/warpdrive/openssl.cnf" 644 <<EOF
# A complete OpenSSL configuration with WarpDrive preferred:
#   OPENSSL_CONF=$SYSCONFDIR/warpdrive/openssl.cnf openssl speed -evp aes-256-gcm
openssl_conf = openssl_init

[openssl_init]
providers = provider_sect
alg_section = algorithm_sect

[provider_sect]
default = default_sect
warpdrive = warpdrive_sect

[default_sect]
activate = 1

.include $SYSCONFDIR/warpdrive/warpdrive-provider.cnf

[algorithm_sect]
default_properties = ?provider=warpdrive
EOF

    # Live per-process records (core/src/live.rs): every user's processes
    # write their own file, so the directory is sticky and world-writable.
    write "$TMPFILESDIR/warpdrive.conf" 644 <<EOF
# Live counters of each process that uses WarpDrive (warpdrive stats).
d /run/warpdrive 1777 root root -
EOF
    if [ -z "$DESTDIR" ] && [ ! -d /run/warpdrive ] && [ "$(id -u)" = 0 ]; then
        if mkdir -m 1777 /run/warpdrive; then
            echo "rundir:/run/warpdrive" >>"$manifest"
        fi
    fi

    local rules=("$here"/kmod/udev/*.rules)
    if [ -e "${rules[0]}" ]; then
        for r in "${rules[@]}"; do
            put "$r" "$UDEVRULESDIR/$(basename "$r")" 644
        done
        # The group the rule names: systemd-sysusers (or the package's
        # postinst) creates it from this entry; a direct install creates it now.
        write "$SYSUSERSDIR/warpdrive.conf" 644 <<EOF
# The group whose members may open /dev/warpdrive/* (see $UDEVRULESDIR).
g warpdrive - -
EOF
        if [ -z "$DESTDIR" ] && ! getent group warpdrive >/dev/null; then
            if groupadd --system warpdrive; then
                echo "group:warpdrive" >>"$manifest"
                say "created the system group warpdrive; add users with: usermod -aG warpdrive USER"
            else
                say "could not create the group warpdrive (not root?): the udev rule's GROUP will not apply"
            fi
        fi
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
                echo "dkms:warpdrive/$version" >>"$manifest"
            fi
        fi
    else
        say "no kmod/dkms.conf yet: kernel module skipped"
    fi

    say "installed $(wc -l <"$manifest") files under ${DESTDIR:-/}${DESTDIR:+ (DESTDIR)} with PREFIX=$PREFIX"
    say "try: $PREFIX/bin/warpdrive list; $PREFIX/bin/warpdrive selftest"
}

do_uninstall() {
    if [ ! -f "$manifest" ]; then
        say "nothing to uninstall: no $manifest"
        return 0
    fi
    local n
    n=$(wc -l <"$manifest")
    # Deepest paths first, so that directories empty out before removal; the
    # manifest itself goes last, so an interrupted uninstall can be repeated.
    sort -r "$manifest" | grep -vxF -- "$manifest_rel" | while read -r f; do
        case $f in
        rundir:*)
            [ -n "$DESTDIR" ] || rm -rf "${f#rundir:}"
            ;;
        group:*)
            # Only a group this script created (recorded when it did).
            if [ -z "$DESTDIR" ] && getent group "${f#group:}" >/dev/null; then
                groupdel "${f#group:}" || say "could not remove the group ${f#group:}"
            fi
            ;;
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
    rm -f "$manifest"
    # Remove the directories we made, if they are now empty.
    if [ -d "$DESTDIR/usr/src/warpdrive-$version" ]; then
        find "$DESTDIR/usr/src/warpdrive-$version" -depth -type d -empty -delete 2>/dev/null || true
    fi
    if [ -d "$DESTDIR$PREFIX/lib/debug/.build-id" ]; then
        find "$DESTDIR$PREFIX/lib/debug/.build-id" -depth -type d -empty -delete 2>/dev/null || true
        rmdir "$DESTDIR$PREFIX/lib/debug" 2>/dev/null || true
    fi
    for d in "$PREFIX/share/warpdrive" "$SYSCONFDIR/warpdrive" "$PREFIX/lib/warpdrive" \
        "$PREFIX/include/warpdrive/uapi" "$PREFIX/include/warpdrive" "$PREFIX/lib/pkgconfig" \
        "$MANDIR/man1" "$MANDIR" "$PREFIX/share/bash-completion/completions" \
        "$PREFIX/share/bash-completion" "$PREFIX/share/zsh/vendor-completions" "$PREFIX/share/zsh" \
        "$PREFIX/share/fish/vendor_completions.d" "$PREFIX/share/fish" \
        "$MODULESDIR" "$PREFIX/share" "$PREFIX/etc" "$PREFIX/include" "$PREFIX/bin" "$PREFIX/lib" \
        "$UDEVRULESDIR" "$SYSUSERSDIR" "$TMPFILESDIR"; do
        rmdir "$DESTDIR$d" 2>/dev/null || true
    done
    say "removed $n files (PREFIX=$PREFIX${DESTDIR:+, DESTDIR=$DESTDIR})"
}

case $action in
install) do_install ;;
uninstall) do_uninstall ;;
*) die "usage: $0 install|uninstall" ;;
esac

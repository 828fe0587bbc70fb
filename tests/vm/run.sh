#!/usr/bin/env bash
# Boot the installed Debian 6.12 kernel under QEMU with kmod/warpdrive.ko and
# kmod/warpdrive_soft.ko (given --params; kmod/warpdrive_test.ko is there for
# tests to load) and run
# one guest command in a chroot of the host's root (read-only 9p) with the
# project directory mounted read-write at the same path.
#
#   tests/vm/run.sh [--no-build] [--params "devices=2 ..."] [--timeout S] -- CMD ARGS...
#
# Exits non-zero on a non-zero guest status, a missing exit marker, a timeout,
# or a kernel splat in the console log. One VM at a time: a lock serialises runs.
set -euo pipefail
trap 'echo "tests/vm/run.sh: line $LINENO: \"$BASH_COMMAND\" failed (status $?)" >&2' ERR

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJ=$(cd "$HERE/../.." && pwd)
OUT="$PROJ/target/vm"
BUILD=1
PARAMS="${WD_MODPARAMS:-}"
TIMEOUT="${WD_VM_TIMEOUT:-540}"

while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0; shift ;;
        --params) PARAMS="$2"; shift 2 ;;
        --timeout) TIMEOUT="$2"; shift 2 ;;
        --) shift; break ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--no-build] [--params P] [--timeout S] -- CMD..." >&2; exit 2; }
case "$PROJ/" in
    /proc/* | /sys/* | /dev/*)
        echo "run.sh: the project is under $PROJ, which the guest mounts its own file system over; clone it elsewhere" >&2
        exit 2 ;;
esac

VMLINUZ=$(ls /boot/vmlinuz-6.12.*-amd64 2>/dev/null | sort -V | tail -1 || true)
[ -n "$VMLINUZ" ] || { echo "run.sh: no /boot/vmlinuz-6.12.*-amd64 (run .ci/install-deps)" >&2; exit 2; }
KVER=${VMLINUZ#/boot/vmlinuz-}
mkdir -p "$OUT"

if [ $BUILD -eq 1 ]; then
    nice make -s -C "$PROJ/kmod" KVER="$KVER" >"$OUT/kmod-build.log" 2>&1 \
        || { cat "$OUT/kmod-build.log"; exit 1; }
fi
KO="$PROJ/kmod/warpdrive.ko"
SOFT_KO="$PROJ/kmod/warpdrive_soft.ko"
TEST_KO="$PROJ/kmod/warpdrive_test.ko"
for k in "$KO" "$SOFT_KO" "$TEST_KO"; do
    [ -f "$k" ] || { echo "run.sh: $k missing" >&2; exit 1; }
done

# ---- initramfs, cached per kernel version and per version of this script ----
SIG=$(sha1sum "$HERE/run.sh" | cut -c1-12)
INITRD="$OUT/initramfs-$KVER-$SIG.cpio.gz"
if [ ! -f "$INITRD" ]; then
    W=$(mktemp -d)
    trap 'rm -rf "$W"' EXIT
    mkdir -p "$W"/{bin,sbin,proc,sys,dev,mnt/root,lib/modules,tmp}
    cp /bin/busybox "$W/bin/busybox"
    file "$W/bin/busybox" | grep "statically linked" >/dev/null \
        || { echo "run.sh: /bin/busybox is not static (install busybox-static)" >&2; exit 2; }
    : >"$W/lib/modules/order"
    for m in 9pnet_virtio 9p; do
        modprobe -S "$KVER" --show-depends "$m" | awk '$1=="insmod"{print $2}'
    done | awk '!seen[$0]++' | while read -r ko; do
        base=$(basename "$ko"); base=${base%.xz}; base=${base%.zst}
        case "$ko" in
            *.xz) xz -dc "$ko" >"$W/lib/modules/$base" ;;
            *.zst) zstd -dcq "$ko" >"$W/lib/modules/$base" ;;
            *) cp "$ko" "$W/lib/modules/$base" ;;
        esac
        echo "$base" >>"$W/lib/modules/order"
    done
    cat >"$W/sbin/wd-modprobe" <<'EOS'
#!/bin/busybox sh
# The kernel's module autoloader runs here, outside the chroot.
exec /bin/busybox chroot /mnt/root /sbin/modprobe "$@"
EOS
    cat >"$W/init" <<'EOS'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m || echo "init: insmod $m failed"; done
O=trans=virtio,version=9p2000.L,msize=1048576
mount -t 9p -o $O,cache=loose,ro hostroot /mnt/root || { echo "WD-VM-EXIT=201"; poweroff -f; }
mount -t proc proc /mnt/root/proc
mount -t sysfs sys /mnt/root/sys
mount -t devtmpfs dev /mnt/root/dev
mkdir -p /mnt/root/dev/shm /mnt/root/dev/pts
mount -t tmpfs shm /mnt/root/dev/shm
mount -t tmpfs tmp /mnt/root/tmp
mount -t tmpfs run /mnt/root/run
# The project last, so that a clone under /tmp or /run is not hidden by the
# tmpfs mounted there (its mount point is made in that tmpfs).
mkdir -p "/mnt/root$WD_PROJ" 2>/dev/null
mount -t 9p -o $O proj "/mnt/root$WD_PROJ" || { echo "init: cannot mount the project at $WD_PROJ"; echo "WD-VM-EXIT=202"; poweroff -f; }
echo /sbin/wd-modprobe >/proc/sys/kernel/modprobe
chroot /mnt/root /bin/sh "$WD_PROJ/tests/vm/guest.sh" "$WD_CMDFILE"
rc=$?
[ $rc -ne 127 ] || echo "init: $WD_PROJ/tests/vm/guest.sh not found in the guest"
sync
echo "WD-VM-EXIT=$rc"
poweroff -f
EOS
    chmod +x "$W/init" "$W/sbin/wd-modprobe"
    (cd "$W" && find . | cpio -o -H newc --quiet | gzip -1) >"$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    rm -rf "$W"
    trap - EXIT
fi

# ---- the guest command ----
RUN="$OUT/run"
mkdir -p "$RUN"
CMDFILE="$RUN/cmd.sh"
{
    echo "export WD_KO='$KO' WD_SOFT_KO='$SOFT_KO' WD_TEST_KO='$TEST_KO' WD_MODPARAMS='$PARAMS' WD_PROJ='$PROJ' WD_OUT='$RUN' WD_KVER='$KVER'"
    echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp"
    echo "cd '$PROJ'"
} >"$CMDFILE"
{ printf '%q ' "$@"; echo; } >"$CMDFILE.run"
LOG="$RUN/console.log"
: >"$LOG"

ACCEL="-accel kvm -cpu host"
if [ -d /sys/module/kvm_pvm ] || ! grep -qE 'vmx|svm' /proc/cpuinfo || [ ! -w /dev/kvm ]; then
    ACCEL="-accel tcg -cpu max"
fi

CMDLINE="console=ttyS0 loglevel=5 panic=-1 oops=panic slub_debug=FZPU kfence.sample_interval=10 init_on_free=1 rdinit=/init WD_PROJ=$PROJ WD_CMDFILE=$CMDFILE"

exec 9>"$OUT/vm.lock"
flock 9
start=$(date +%s)
set +e
timeout --foreground "$TIMEOUT" qemu-system-x86_64 $ACCEL -m 1G -smp 2 \
    -nographic -nodefaults -no-reboot -monitor none -serial "file:$LOG" \
    -kernel "$VMLINUZ" -initrd "$INITRD" -append "$CMDLINE" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on \
    -virtfs "local,path=$PROJ,mount_tag=proj,security_model=none" </dev/null
qrc=$?
set -e
end=$(date +%s)

# the guest's own output, without the kernel's boot chatter (there may be
# none: grep's status must not end the script silently under pipefail)
sed -n '/^WD-GUEST-BEGIN/,$p' "$LOG" | tr -d '\r' | grep -v '^WD-GUEST-BEGIN' || true
fail=""
[ $qrc -eq 124 ] && fail="timeout after ${TIMEOUT}s"
marker=$(tr -d '\r' <"$LOG" | sed -n 's/^WD-VM-EXIT=\([0-9]*\)$/\1/p' | tail -1)
if [ -z "$fail" ]; then
    if [ -z "$marker" ]; then fail="no exit marker (qemu rc $qrc)"
    elif [ "$marker" != 0 ]; then fail="guest command exited $marker"; fi
fi
SPLAT='BUG:|WARNING:|Oops|Kernel panic|kfence|general protection|RIP:'
if tr -d '\r' <"$LOG" | grep -E "$SPLAT" | grep -vE 'kfence: initialized' >"$RUN/splat.txt"; then
    fail="${fail:+$fail; }kernel splat in console log"
fi
echo "run.sh: VM time $((end - start))s, kernel $KVER, log $LOG"
if [ -n "$fail" ]; then
    echo "run.sh: FAILED: $fail" >&2
    if [ -s "$RUN/splat.txt" ]; then echo "---- splat lines ----" >&2; head -20 "$RUN/splat.txt" >&2; fi
    echo "---- console log tail ----" >&2
    tail -60 "$LOG" | tr -d '\r' >&2
    exit 1
fi
exit 0

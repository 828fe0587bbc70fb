#!/usr/bin/env bash
# The kernel-module suite: build kmod/ and the C guest tests, boot one VM,
# run every guest command below, then hot removal, an unload/reload loop and
# the module that dkms built from the installed sources (tests/vm/dkms.sh).
# Prints "N passed, M failed" over all guest checks; exits non-zero on any
# failure, a missing marker, a timeout or a kernel splat (see run.sh).
#
# Hook for more guest tests (e.g. the Rust core's kernel backend, built on
# the host with `cargo test --no-run`): add commands to GUEST_TESTS below, or
# one per line in tests/vm/extra-tests.list, or in $WD_VM_EXTRA_TESTS (a file).
# They run after the C tests with /dev/warpdrive/soft0 (SVA) and soft1
# (validated) present, from the project root, as root. A command fails the
# suite when it exits non-zero; a last line "N passed, M failed" is counted.
set -euo pipefail
trap 'echo "tests/vm/all.sh: line $LINENO: \"$BASH_COMMAND\" failed (status $?)" >&2' ERR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJ=$(cd "$HERE/../.." && pwd)
BIN="$PROJ/target/vm/bin"

GUEST_TESTS=(
    "$BIN/ops"
    "$BIN/attacks"
    "$BIN/procs"
    "$BIN/harden"
)
for f in "$HERE/extra-tests.list" "${WD_VM_EXTRA_TESTS:-}"; do
    [ -n "$f" ] && [ -f "$f" ] || continue
    while IFS= read -r line; do
        case "$line" in ''|'#'*) ;; *) GUEST_TESTS+=("$line") ;; esac
    done <"$f"
done
BENCH="$BIN/bench ${WD_BENCH_SECONDS:-0.5}"

KVER=$(ls /boot/vmlinuz-6.12.*-amd64 | sort -V | tail -1); KVER=${KVER#/boot/vmlinuz-}
echo "all.sh: building kmod for $KVER and the guest tests"
nice make -s -C "$PROJ/kmod" KVER="$KVER" W=1
nice make -s -C "$HERE/c" OUT="$BIN"
# The module as installed: make install's /usr/src tree through dkms add/build
# (tests/vm/dkms.sh); the guest loads it after the reload loop.
DKMS_KO=""
if [ "${WD_SKIP_DKMS:-0}" != 1 ]; then
    echo "all.sh: dkms add/build of what make install puts in /usr/src"
    DKMS_KO=$(nice bash "$HERE/dkms.sh" "$KVER" "$PROJ/target/vm/dkms") \
        || { echo "all.sh: the dkms build failed (WD_SKIP_DKMS=1 skips it)" >&2; exit 1; }
fi

G="$PROJ/target/vm/all-guest.sh"
{
    echo 'P=0; F=0; bad=""'
    echo 'count() { l=$(grep -E "^[0-9]+ passed, [0-9]+ failed" "$1" | tail -1); p=${l%% passed*}; f=${l#*passed, }; f=${f%% failed*}; P=$((P + ${p:-0})); F=$((F + ${f:-0})); }'
    echo 'step() { name=$1; shift; echo "== $name"; "$@" >/tmp/out 2>&1; rc=$?; cat /tmp/out; count /tmp/out; if [ $rc -ne 0 ]; then bad="$bad $name"; F=$((F + 1)); echo "== $name: exit $rc"; fi; }'
    for t in "${GUEST_TESTS[@]}"; do
        printf 'step %q sh -c %q\n' "$(basename "${t%% *}")" "$t"
    done
    printf 'echo "== bench"; %s || bad="$bad bench"\n' "$BENCH"
    # the three modules in every allowed order, and the second (async) driver
    printf 'step modules sh %q\n' "$HERE/modules.sh"
    # mmap racing hot removal, 15 removals and reloads (leaves the module fresh)
    printf 'step remove-race %q --race 15\n' "$BIN/remove"
    printf 'step remove %q\n' "$BIN/remove"
    cat <<'EOS'
echo "== unload/reload"
exec 3</dev/warpdrive/soft1
if rmmod warpdrive_soft 2>/dev/null; then echo "rmmod succeeded with an open file"; F=$((F + 1)); insmod "$WD_SOFT_KO" $WD_MODPARAMS; else P=$((P + 1)); fi
exec 3<&-
ok=0
for i in 1 2 3 4 5 6 7 8 9 10; do
    if sh "$WD_PROJ/tests/vm/reload.sh" && "$WD_PROJ/target/vm/bin/remove" --smoke >/tmp/out 2>&1; then
        ok=$((ok + 1))
    else
        cat /tmp/out; bad="$bad reload$i"
    fi
done
echo "unload/reload: $ok/10 cycles ok"
P=$((P + ok)); F=$((F + 10 - ok))
EOS
    printf 'DKMS_KO=%q\n' "$DKMS_KO"
    cat <<'EOS'
if [ -n "$DKMS_KO" ]; then
    echo "== dkms-built modules"
    DKMS_SOFT_KO=$(ls "$(dirname "$DKMS_KO")"/warpdrive_soft.ko*)
    if rmmod warpdrive_soft && rmmod warpdrive && insmod "$DKMS_KO" && insmod "$DKMS_SOFT_KO" $WD_MODPARAMS &&
       [ "$(cat /sys/module/warpdrive/srcversion)" = "$(modinfo -F srcversion "$DKMS_KO")" ] &&
       [ "$(cat /sys/module/warpdrive_soft/srcversion)" = "$(modinfo -F srcversion "$DKMS_SOFT_KO")" ] &&
       "$WD_PROJ/target/vm/bin/remove" --smoke >/tmp/out 2>&1 && rmmod warpdrive_soft && rmmod warpdrive; then
        echo "dkms-built modules: loaded, smoke test passed, unloaded"; P=$((P + 1))
    else
        cat /tmp/out; bad="$bad dkms"; F=$((F + 1))
    fi
    grep -q '^warpdrive ' /proc/modules || insmod "$WD_KO"
    grep -q '^warpdrive_soft ' /proc/modules || insmod "$WD_SOFT_KO" $WD_MODPARAMS
fi
echo "guest suite: failing steps:${bad:- none}"
echo "$P passed, $F failed"
[ -z "$bad" ] && [ $F -eq 0 ]
EOS
} >"$G"

"$HERE/run.sh" --no-build --params "${WD_MODPARAMS:-devices=2}" -- sh "$G"

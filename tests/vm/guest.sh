#!/bin/sh
# Runs inside the VM, chrooted into the host's root. Loads what the module
# and the tests need, inserts warpdrive.ko and warpdrive_soft.ko (with
# $WD_MODPARAMS), runs the command file.
. "$1"
for m in gcm ghash-generic ctr cbc chacha20poly1305 af_alg algif_hash algif_skcipher algif_aead; do
    modprobe -q "$m" 2>/dev/null || true
done
grep -q '^warpdrive ' /proc/modules || insmod "$WD_KO" || exit 90
grep -q '^warpdrive_soft ' /proc/modules || insmod "$WD_SOFT_KO" $WD_MODPARAMS || exit 91
echo WD-GUEST-BEGIN
sh "$1.run"

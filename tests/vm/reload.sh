#!/bin/sh
# In the guest: unload the WarpDrive modules and load the framework and the
# soft engine again (WD_KO, WD_SOFT_KO, WD_MODPARAMS from run.sh's command file).
# Fails when a module cannot go (a file still open) or come back.
if grep -q '^warpdrive_test ' /proc/modules; then rmmod warpdrive_test || exit 1; fi
if grep -q '^warpdrive_soft ' /proc/modules; then rmmod warpdrive_soft || exit 1; fi
if grep -q '^warpdrive ' /proc/modules; then rmmod warpdrive || exit 1; fi
insmod "$WD_KO" && insmod "$WD_SOFT_KO" $WD_MODPARAMS

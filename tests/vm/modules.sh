#!/bin/sh
# In the guest: the three modules load, unload and reload in every allowed
# order, refuse the orders that are not allowed, and the second driver
# (warpdrive_test.ko, device async0) passes its suite (tests/vm/c/async.c)
# beside the soft engine and alone. Leaves warpdrive + warpdrive_soft loaded.
P=0; F=0
ok() { P=$((P + 1)); }
no() { F=$((F + 1)); echo "FAIL modules: $*"; }
loaded() { grep -q "^$1 " /proc/modules; }
ASYNC="$WD_PROJ/target/vm/bin/async"
SMOKE="$WD_PROJ/target/vm/bin/remove --smoke"

# framework + soft loaded (guest.sh): add the test driver, run its suite
insmod "$WD_TEST_KO" && ok || no "insmod warpdrive_test beside soft"
if "$ASYNC" >/tmp/async.out 2>&1; then ok; else cat /tmp/async.out; no "async suite beside soft"; fi
tail -1 /tmp/async.out
$SMOKE >/dev/null 2>&1 && ok || no "soft smoke with the test driver loaded"

# the framework cannot go while a driver uses it; a driver cannot go while its file is open
rmmod warpdrive 2>/dev/null && no "rmmod warpdrive with drivers loaded" || ok
exec 3</dev/warpdrive/async0
rmmod warpdrive_test 2>/dev/null && no "rmmod warpdrive_test with async0 open" || ok
exec 3<&-
exec 3</dev/warpdrive/soft1
rmmod warpdrive_soft 2>/dev/null && no "rmmod warpdrive_soft with soft1 open" || ok
exec 3<&-

# drivers in either order, each alone on the framework
rmmod warpdrive_soft && ok || no "rmmod soft before test"
"$ASYNC" >/tmp/async.out 2>&1 && ok || { cat /tmp/async.out; no "async suite alone"; }
[ ! -e /dev/warpdrive/soft0 ] && ok || no "soft0 still there without warpdrive_soft"
insmod "$WD_SOFT_KO" $WD_MODPARAMS && ok || no "insmod soft after test"
rmmod warpdrive_test && ok || no "rmmod test before soft"
$SMOKE >/dev/null 2>&1 && ok || no "soft smoke alone"
rmmod warpdrive_soft && rmmod warpdrive && ok || no "rmmod soft, framework"

# a driver without the framework does not load
insmod "$WD_SOFT_KO" $WD_MODPARAMS 2>/dev/null && { no "soft loaded without the framework"; rmmod warpdrive_soft; } || ok
insmod "$WD_TEST_KO" 2>/dev/null && { no "test loaded without the framework"; rmmod warpdrive_test; } || ok

# the framework alone: no devices; then both drivers, unload in the other order
insmod "$WD_KO" && ok || no "insmod framework alone"
[ -z "$(ls /dev/warpdrive 2>/dev/null)" ] && ok || no "devices without a driver: $(ls /dev/warpdrive)"
insmod "$WD_TEST_KO" && insmod "$WD_SOFT_KO" $WD_MODPARAMS && ok || no "insmod test, soft"
"$ASYNC" >/tmp/async.out 2>&1 && $SMOKE >/dev/null 2>&1 && ok || { cat /tmp/async.out; no "both after reload"; }
# removal with a queue slow to stop: another context's close() does not wait
echo 3000 >/sys/module/warpdrive_test/parameters/stop_ms
if "$ASYNC" --remove-lock >/tmp/async.out 2>&1; then ok; else no "close during a slow removal"; fi
cat /tmp/async.out
rmmod warpdrive_test && ok || no "rmmod test last loaded first"
# sysfs remove racing rmmod of the driver (the remover holds the driver:
# rmmod either fails with EBUSY or runs after it); the console is checked
# for splats by run.sh, and the driver must load again each time
for i in 1 2 3 4 5; do
    (echo 1 >/sys/class/warpdrive/soft0/remove) 2>/dev/null &
    rmmod warpdrive_soft 2>/dev/null || { wait; rmmod warpdrive_soft; }
    wait
    loaded warpdrive_soft && { no "remove race $i: soft still loaded"; break; }
    insmod "$WD_SOFT_KO" $WD_MODPARAMS && [ -e /dev/warpdrive/soft1 ] && ok || { no "remove race $i: reload"; break; }
done
loaded warpdrive_soft && loaded warpdrive && ok || no "soft and framework must stay"
echo "modules: load/unload orders and the second driver"
echo "$P passed, $F failed"
[ $F -eq 0 ]

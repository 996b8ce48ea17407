#!/bin/busybox sh
# /init of the Linux test initramfs (tests/linux/mkinitramfs.sh). Prints
# what the test checks, one "xk: KEY VALUE" line each, on the console
# (hvc0), then powers off. xk.sh=1 on the command line gives a shell on
# the console instead (for `xenkvm console`); xk.bench=1 runs the
# benchmark's /bin/timerloop (xk.loop=N iterations) instead of the checks
# (bench/linux_boot.sh).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "xk: init $(uname -r)"
case " $(cat /proc/cmdline) " in
    *" xk.bench=1 "*) n=$(sed -n 's/.*xk\.loop=\([0-9]*\).*/\1/p' /proc/cmdline)
        echo "xk: $(timerloop $n)"; echo "xk: done"; poweroff -f;;
esac
echo "xk: cpus-online $(cat /sys/devices/system/cpu/online)"
echo "xk: clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "xk: clockevent $(cat /sys/devices/system/clockevents/clockevent0/current_device 2>/dev/null)"
t0=$(cut -d' ' -f1 /proc/uptime)
sleep 2
t1=$(cut -d' ' -f1 /proc/uptime)
echo "xk: sleep2 $t0 $t1"
grep -c . /proc/interrupts >/dev/null && grep -iE 'xen|timer|ipi|callfunc|resched' /proc/interrupts | sed 's/^/xk: irq /'
dmesg | grep -iE 'xen.*(warn|fail|error|not)' | sed 's/^/xk: dmesg-xen /'
case " $(cat /proc/cmdline) " in
    *" xk.sh=1 "*) echo "xk: shell"; setsid cttyhack sh; ;;
esac
echo "xk: done"
poweroff -f

#!/bin/busybox sh
# /init of the Linux test initramfs (tests/linux/mkinitramfs.sh). Prints
# what the test checks, one "xk: KEY VALUE" line each, on the console
# (hvc0), then powers off. xk.sh=1 on the command line gives a shell on
# the console instead (for `xenkvm console`); `poweroff` in it (SIGUSR2 to
# this init, as busybox's poweroff sends) or the kernel's orderly power-off
# (/sbin/poweroff, run by `xenkvm shutdown` through control/shutdown) powers
# off; `reboot` (SIGTERM) or `xenkvm reboot` (/sbin/reboot) reboots.
# xk.bench=1 runs the benchmark's /bin/timerloop (xk.loop=N iterations)
# instead of the checks (bench/linux_boot.sh); xk.disk=MODE[,MODE] runs
# /bin/xkdisk (disk.sh) with each instead, then powers off; xk.blkbench=MIB:SECS
# runs bench/blkbench on /dev/xvda (bench/blk.sh); xk.net=STEP[,STEP] runs
# /bin/xknet (net.sh) with each, then powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "xk: init $(uname -r)"
# Debian's modules put in by mkinitramfs.sh (XK_MODULES), in load order;
# xk.mod.NAME=a=1,b=2 on the command line gives NAME its parameters.
if [ -f /modules.list ]; then
    for m in $(cat /modules.list); do
        p=$(tr ' ' '\n' < /proc/cmdline | sed -n "s/^xk\.mod\.$m=//p" | tr ',' ' ')
        # shellcheck disable=SC2086
        insmod "/lib/modules/$m.ko" $p || echo "xk: insmod-failed $m"
    done
fi
case " $(cat /proc/cmdline) " in
    *" xk.bench=1 "*) n=$(sed -n 's/.*xk\.loop=\([0-9]*\).*/\1/p' /proc/cmdline)
        echo "xk: $(timerloop $n)"; echo "xk: done"; poweroff -f;;
esac
mib=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^xk\.blkbench=//p')
if [ -n "$mib" ]; then
    i=0
    until [ -b /dev/xvda ] || [ $i -ge 300 ]; do i=$((i + 1)); sleep 0.1; done
    blkbench /dev/xvda ${mib%%:*} ${mib#*:} 2>&1 | sed 's/^/xk: /'
    echo "xk: done"
    poweroff -f
fi
# xk.balloon=1: Linux's balloon driver under `xenkvm mem-set`: write its
# free RAM (a file in a tmpfs, removed again: those pages are then free,
# but the host's memory behind them is in use), say "xk: balloon
# ready", then say each new size the driver reaches ("xk: balloon KIB
# current, MemTotal KIB"); back at the first size after a fall, write the
# free RAM again ("xk: balloon refilled") so that the host's memory is used
# again; until the domain is shut down (control/shutdown runs
# /sbin/poweroff).
mib=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^xk\.balloon=//p')
if [ -n "$mib" ]; then
    mkdir -p /sbin
    ln -s /bin/busybox /sbin/poweroff
    trap 'echo "xk: poweroff"; poweroff -f' USR2
    info=/sys/devices/system/xen_memory/xen_memory0/info
    # fill: write all free RAM but 24 MiB (a tmpfs of that size: the
    # initramfs' own is capped at half the RAM), then free it again
    fill() {
        kb=$(($(awk '/^MemFree/ { print $2 }' /proc/meminfo) - 24576))
        mkdir -p /fill
        mount -t tmpfs -o size=${kb}k tmpfs /fill
        dd if=/dev/zero of=/fill/f bs=1M 2>/dev/null
        echo "xk: balloon wrote $(($(wc -c < /fill/f) / 1024)) KiB"
        rm -f /fill/f
        umount /fill
    }
    fill
    first=$(cat $info/current_kb)
    echo "xk: balloon ready $first current, MemTotal $(awk '/^MemTotal/ { print $2 }' /proc/meminfo)"
    last="" fell=""
    while :; do
        cur=$(cat $info/current_kb)
        now="$cur current, MemTotal $(awk '/^MemTotal/ { print $2 }' /proc/meminfo)"
        [ "$now" = "$last" ] || echo "xk: balloon $now"
        last=$now
        [ "$cur" -lt "$first" ] && fell=1
        if [ -n "$fell" ] && [ "$cur" -eq "$first" ]; then
            fill; fell=""; echo "xk: balloon refilled"
        fi
        sleep 0.5
    done
fi
net=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^xk\.net=//p')
if [ -n "$net" ]; then
    for s in $(echo "$net" | tr ',' ' '); do xknet "$s"; done
    echo "xk: done"
    poweroff -f
fi
disk=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^xk\.disk=//p')
if [ -n "$disk" ]; then
    for d in $(echo "$disk" | tr ',' ' '); do xkdisk "$d"; done
    echo "xk: done"
    poweroff -f
fi
echo "xk: cpus-online $(cat /sys/devices/system/cpu/online)"
echo "xk: cpuinfo $(grep -c '^processor' /proc/cpuinfo) $(grep -m1 -o ' hypervisor' /proc/cpuinfo)"
echo "xk: clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "xk: clockevent $(cat /sys/devices/system/clockevents/clockevent0/current_device 2>/dev/null)"
t0=$(cut -d' ' -f1 /proc/uptime)
echo "xk: sleep-begin $t0"
sleep 2
t1=$(cut -d' ' -f1 /proc/uptime)
echo "xk: sleep2 $t0 $t1"
if [ -e /sys/devices/system/cpu/cpu1/online ]; then
    # CPU hot-unplug and back (Linux: play_dead's HLT, then INIT/SIPI);
    # then work on CPU 1 (its timer, IPIs to and from it)
    echo 0 > /sys/devices/system/cpu/cpu1/online
    echo "xk: cpu1-off $(cat /sys/devices/system/cpu/online)"
    echo 1 > /sys/devices/system/cpu/cpu1/online
    echo "xk: cpu1-on $(cat /sys/devices/system/cpu/online)"
    echo "xk: on-cpu1 $(taskset 2 sh -c 'sleep 1; grep -c . /proc/uptime')"
fi
grep -iE 'xen|timer|ipi|callfunc|resched' /proc/interrupts | sed 's/^ */xk: irq /'
dmesg | grep -iE 'xen.*(warn|fail|error|not )' | sed 's/^/xk: dmesg-xen /'
case " $(cat /proc/cmdline) " in
    *" xk.sh=1 "*)
        echo "xk: shell"
        mkdir -p /sbin
        ln -s /bin/busybox /sbin/poweroff
        ln -s /bin/busybox /sbin/reboot
        trap 'echo "xk: poweroff"; poweroff -f' USR2
        trap 'echo "xk: reboot"; reboot -f' TERM
        setsid cttyhack sh &
        while :; do wait; done
        ;;
esac
echo "xk: done"
poweroff -f

#!/bin/bash
# linux_boot: Debian's own kernel (scripts/debian-kernel, unmodified) with
# the Linux test's busybox initramfs (tests/linux/mkinitramfs.sh, init.sh in
# its xk.bench=1 mode, plus bench/timerloop), booted in the same run
#   (1) under `xenkvm run` as a Xen PVH guest (console hvc0), and
#   (2) under Debian's QEMU as a plain KVM guest with -kernel (the normal,
#       non-PVH bzImage boot; console ttyS0),
# each timed from launch to the initramfs's first line ("xk: init") and to
# the end of the run; and bench/timerloop (N 1 ms sleeps) in both guests and
# on the guests' own host. Figures beside their baselines, with ratios;
# nothing is asserted.
#
# Where: always in the KVM box (like tests/linux/linux_tests.sh, for the
# same reason: a Linux boot under the nested KVM of this project's hosts
# takes over 10 minutes). Both guests use the box's KVM, so the ratio is
# one VMM against the other on the same KVM, and "host" is the box's Linux.
#
# End of the run: "to power-off" is launch to the VMM's exit after init's
# `poweroff -f`. Where xenkvm's run does not end by itself within
# BENCH_LINUX_OFF_WAIT seconds (default 5) of the last line, the run is
# ended with `xenkvm destroy` and the figure is "to last line" instead,
# labelled so. The timer loop's own time (as the guest measured it) is
# taken out of both end figures, so they are the boot's and power-off's.
#
# usage: bench/linux_boot.sh [BUILDDIR]      (default: build)
# Settings: BENCH_TIMERLOOP_N (iterations, default 2000), BENCH_LINUX_APPEND
# (more kernel arguments for both guests), BENCH_LINUX_PIO=1 (count the
# xenkvm guest's port-I/O exits per port with the box kernel's kvm_pio
# tracepoint, a histogram; slows the xenkvm boot slightly), BENCH_LINUX_KEEP=DIR
# (keep both consoles, stamped with their host arrival time, and logs there).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=$(cd "${1:-$root/build}" && pwd) || { echo "linux_boot: no build dir"; exit 1; }

if [ -z "${XENKVM_IN_BOX:-}" ]; then
    # the project tree is shared with the box read-write at the same path
    exec "$root/scripts/kvmbox" -- "$0" "$bdir"
fi

xk=$bdir/src/cli/xenkvm
loop=$bdir/bench/timerloop
n=${BENCH_TIMERLOOP_N:-2000}
append=${BENCH_LINUX_APPEND:-}
offwait=${BENCH_LINUX_OFF_WAIT:-5}
qemu=${BENCH_QEMU:-qemu-system-x86_64}
for f in "$xk" "$loop"; do
    [ -x "$f" ] || { echo "linux_boot: $f missing (ninja -C $bdir)"; exit 1; }
done
kernel=$("$root/scripts/debian-kernel") || { echo "linux_boot: no Debian kernel"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/tests/linux/mkinitramfs.sh" "$tmp/initrd.gz" "$loop" ||
    { echo "linux_boot: initramfs failed"; exit 1; }

# Each console line prefixed with the time it arrived (bash's
# EPOCHREALTIME: no process per line); a last "EOF" line when the VMM's
# output closes, i.e. the VMM exited.
stamp() {
    local l
    while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done
    printf '%s EOF\n' "$EPOCHREALTIME"
}

# The arrival time of the first console line matching the ERE $2 in $1.
when() { grep -m1 -E "^[0-9.]+ $2" "$1" | cut -d' ' -f1; }

# Seconds between two EPOCHREALTIME stamps, to 0.01 s.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# run NAME CMD...: start the VMM with its console on stdout, wait for init's
# "xk: done", then for the VMM to end. Sets t0, end_kind, and leaves
# $tmp/NAME.out and $tmp/NAME.err (console and log, stamped). A run that never
# reaches "xk: done" within 600 s is stopped.
run() {
    local name=$1 pid spid epid i=0
    shift
    rm -f "$tmp/fifo" "$tmp/efifo"; mkfifo "$tmp/fifo" "$tmp/efifo"
    stamp <"$tmp/fifo" >"$tmp/$name.out" &
    spid=$!
    stamp <"$tmp/efifo" >"$tmp/$name.err" &
    epid=$!
    t0=$EPOCHREALTIME
    "$@" <"$tmp/nul" >"$tmp/fifo" 2>"$tmp/efifo" &
    pid=$!
    until grep -q ' xk: done' "$tmp/$name.out"; do
        kill -0 $pid 2>/dev/null || break
        i=$((i + 1)); [ $i -lt 3000 ] || break
        sleep 0.2
    done
    end_kind="power-off"
    i=0
    while kill -0 $pid 2>/dev/null && [ $i -lt $((offwait * 10)) ]; do
        sleep 0.1; i=$((i + 1))
    done
    if kill -0 $pid 2>/dev/null; then
        end_kind="last line"
        if [ "$name" = xenkvm ]; then "$xk" destroy guest >/dev/null 2>&1; fi
        sleep 1
        kill $pid 2>/dev/null
    fi
    wait $pid
    wait $spid $epid
}
: >"$tmp/nul"

# figures NAME: sets init_s, end_s, loop_us, loop_s from $tmp/NAME.out.
figures() {
    local o=$tmp/$1.out ti te tl
    init_s="" end_s="" loop_us="" loop_s=0
    ti=$(when "$o" 'xk: init') || true
    [ -n "$ti" ] && init_s=$(secs "$t0" "$ti")
    tl=$(grep -m1 ' xk: timerloop ' "$o")
    if [ -n "$tl" ]; then
        loop_s=$(echo "$tl" | sed 's/.* total \([0-9.]*\) s.*/\1/')
        loop_us=$(echo "$tl" | sed 's/.* per-iter \([0-9.]*\) us.*/\1/')
    fi
    if [ "$end_kind" = "power-off" ]; then te=$(when "$o" 'EOF')
    else te=$(when "$o" 'xk: done'); fi
    [ -n "$te" ] && [ -n "$ti" ] &&
        end_s=$(awk -v a="$t0" -v b="$te" -v l="$loop_s" 'BEGIN { printf "%.2f", b - a - l }')
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2fx", a / b }'; }

# (1) xenkvm
cmdline="console=hvc0 xk.bench=1 xk.loop=$n $append"
pio=""
tr=/sys/kernel/tracing
if [ "${BENCH_LINUX_PIO:-}" = 1 ]; then
    { [ -d $tr/events ] || mount -t tracefs nodev $tr; } 2>/dev/null
    if echo 'hist:keys=port.hex,rw:size=256' > $tr/events/kvm/kvm_pio/trigger 2>/dev/null; then
        echo 'hist:keys=exit_reason:size=256' > $tr/events/kvm/kvm_exit/trigger 2>/dev/null
        pio=1
    else
        echo "linux_boot: no kvm_pio histogram (tracefs or CONFIG_HIST_TRIGGERS missing)"
    fi
fi
export XENSTORED_PATH="$tmp/xs.sock" XENKVM_CONTROL="$tmp/ctl.sock"
run xenkvm "$xk" run --kernel "$kernel" --ramdisk "$tmp/initrd.gz" --memory 256 \
    --cmdline "$cmdline"
figures xenkvm
x_init=$init_s x_end=$end_s x_kind=$end_kind x_us=$loop_us
# Where xenkvm's boot goes: launch to the domain's start (the VMM's loading,
# payload decompression included), and Linux's quick_pit_calibrate: it
# reads the PIT's port 0x42 ~100000 times when no PIT counts, one exit each
# (the gap of the guest's printk clock before its "Fast TSC calibration
# failed"; that clock is Xen's from just before).
x_load=$(when "$tmp/xenkvm.err" ".*started \\(") && x_load=$(secs "$t0" "$x_load")
x_pit=$(sed -n 's/^[0-9.]* \[ *\([0-9.]*\)\] \(.*\)/\1 \2/p' "$tmp/xenkvm.out" |
    awk '/ tsc: Fast TSC calibration failed/ { printf "%.2f", $1 - p; exit } { p = $1 }')
if [ -n "$pio" ]; then
    grep -E '^\{|Totals|Hits' $tr/events/kvm/kvm_pio/hist > "$tmp/pio"
    grep -E '^\{|Totals|Hits' $tr/events/kvm/kvm_exit/hist > "$tmp/exits"
    echo '!hist:keys=port.hex,rw:size=256' > $tr/events/kvm/kvm_pio/trigger
    echo '!hist:keys=exit_reason:size=256' > $tr/events/kvm/kvm_exit/trigger
fi

# (2) QEMU, plain KVM, the kernel's own (non-PVH) boot
run qemu "$qemu" -accel kvm -M pc -cpu host -m 256 -smp 1 -nodefaults \
    -no-user-config -display none -serial stdio -monitor none -no-reboot \
    -kernel "$kernel" -initrd "$tmp/initrd.gz" \
    -append "console=ttyS0 xk.bench=1 xk.loop=$n $append"
figures qemu
q_init=$init_s q_end=$end_s q_kind=$end_kind q_us=$loop_us

# (3) the same loop on the guests' host
h_us=$("$loop" "$n" | sed 's/.* per-iter \([0-9.]*\) us.*/\1/')

kvm="the KVM box's (Debian $(uname -r), kvm_amd under QEMU TCG)"
printf 'linux_boot: Debian %s, 256 MiB, 1 vCPU; KVM: %s; QEMU %s\n' \
    "$(basename "$(dirname "$kernel")")" "$kvm" \
    "$("$qemu" --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')"
printf '%-58s %9s %9s %8s\n' "" "xenkvm" "QEMU" "ratio"
printf '%-58s %8ss %8ss %8s\n' "boot to init's first line (PVH vs -kernel)" \
    "$x_init" "$q_init" "$(ratio "$x_init" "$q_init")"
if [ "$x_kind" = "$q_kind" ]; then endl="to $x_kind"
else endl="to end (xenkvm $x_kind, QEMU $q_kind)"; fi
printf '%-58s %8ss %8ss %8s\n' "$endl, loop taken out" \
    "$x_end" "$q_end" "$(ratio "$x_end" "$q_end")"
printf '  xenkvm: launch to domain started %ss; PIT calibration (no PIT) %ss\n' \
    "${x_load:--}" "${x_pit:--}"
printf '%-58s %9s %9s %8s\n' "timerloop: $n x 1 ms sleep, us per iteration" \
    "" "" ""
printf '%-58s %9s %9s %8s\n' "  xenkvm guest vs host" "$x_us" "$h_us" "$(ratio "$x_us" "$h_us")"
printf '%-58s %9s %9s %8s\n' "  QEMU guest vs host" "$q_us" "$h_us" "$(ratio "$q_us" "$h_us")"
printf '%-58s %9s %9s %8s\n' "  xenkvm guest vs QEMU guest" "$x_us" "$q_us" "$(ratio "$x_us" "$q_us")"
if [ -n "$pio" ]; then
    echo "xenkvm boot's port-I/O exits (kvm_pio: port, rw 0=in 1=out, hits):"
    sed 's/^/  /' "$tmp/pio"
    echo "xenkvm boot's exits by reason (kvm_exit):"
    sed 's/^/  /' "$tmp/exits"
fi
if [ -n "${BENCH_LINUX_KEEP:-}" ]; then
    mkdir -p "$BENCH_LINUX_KEEP" && cp "$tmp"/*.out "$tmp"/*.err "$BENCH_LINUX_KEEP/"
fi
for r in xenkvm qemu; do
    if ! grep -q ' xk: done' "$tmp/$r.out"; then
        echo "linux_boot: $r's guest did not finish; its console's tail and log:"
        tail -n 15 "$tmp/$r.out"; tail -n 15 "$tmp/$r.err"
    fi
done
exit 0

#!/bin/sh
# Every benchmark in bench/, each printing its figure beside its baseline.
# The guest benchmarks (bench_pingpong, bench_irq_guests) need KVM: where
# there is no /dev/kvm (or XENKVM_BOX=1) they run inside the KVM box, each
# still against its raw-KVM baseline measured in the same box and run.
# bench/linux_boot.sh (Debian's kernel under xenkvm beside QEMU) and
# bench/blk.sh (its PV disk against the host's image file) run in the
# box on every machine: a Linux boot needs it (see the script).
set -eu
bdir=${1:-build}
cd "$(dirname "$0")/.."
GUEST_BENCHES="bench_pingpong bench_irq_guests"   # need KVM

# Which KVM the guest benchmarks measure, for the output.
kvm_name() {
    if [ -n "${XENKVM_IN_BOX:-}" ]; then
        echo "the KVM box's (Debian $(uname -r), kvm_amd under QEMU TCG)"
    else
        echo "this machine's /dev/kvm (kernel $(uname -r))"
    fi
}

if [ "${1:-}" = "--guests" ]; then
    # inside the box: the guest benchmarks only. A user-space exit costs
    # ~40 us there (a few us on a KVM host), so bench_pingpong's default
    # 100000 rounds would take many minutes: 5000 give stable p50s.
    bdir=$2
    echo "== bench_pingpong (KVM: $(kvm_name))"
    "$bdir/bench/bench_pingpong" "${BOX_PINGPONG_ROUNDS:-5000}"
    echo "== bench_irq_guests (KVM: $(kvm_name))"
    "$bdir/bench/bench_irq_guests"
    echo "== linux_boot (KVM: $(kvm_name))"
    bench/linux_boot.sh "$bdir"
    echo "== blk (KVM: $(kvm_name))"
    bench/blk.sh "$bdir"
    exit 0
fi

box=""
if [ -n "${XENKVM_BOX:-}" ] || [ ! -e /dev/kvm ]; then box=1; fi
for b in "$bdir"/bench/bench_*; do
    [ -f "$b" ] && [ -x "$b" ] || continue
    name=$(basename "$b")
    case " $GUEST_BENCHES " in
        *" $name "*) [ -n "$box" ] && continue
                     echo "== $name (KVM: $(kvm_name))";;
        *) echo "== $name";;
    esac
    "$b"
done
if [ -n "$box" ]; then
    echo "== guest benchmarks inside the KVM box (no /dev/kvm here, or XENKVM_BOX is set)"
    scripts/kvmbox -- scripts/bench.sh --guests "$bdir"
else
    echo "== linux_boot (in a KVM box of its own, as on every machine)"
    bench/linux_boot.sh "$bdir"
    echo "== blk (in a KVM box of its own, as on every machine)"
    bench/blk.sh "$bdir"
fi

#!/bin/bash
# blk: PV disk throughput of Debian's Linux (xen-blkfront) on xenkvm's
# blkback against the same operations by a host process on the same image
# file, same run: bench/blkbench (O_DIRECT, queue depth 1: 1 MiB
# sequential writes and reads, 4 KiB random writes and reads) in the guest
# on /dev/xvda and on the host on the raw image behind it. Three guest runs
# show what blkfront's features buy: Linux's defaults (persistent grants,
# indirect segments), without persistent grants, without indirect segments.
# Prints each figure beside the host's and the ratio; asserts nothing.
#
# Where: in the KVM box, as every Linux test (tests/linux/lib.sh says why);
# "host" is then the box's Linux on the same virtual disk.
# usage: bench/blk.sh [BUILDDIR]      (default: build)
# Settings: BENCH_BLK_MIB (area, default 16), BENCH_BLK_SECS (random
# phases, default 2).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=$(cd "${1:-$root/build}" && pwd) || { echo "blk: no build dir"; exit 1; }
if [ -z "${XENKVM_IN_BOX:-}" ]; then
    exec "$root/scripts/kvmbox" -- "$0" "$bdir"
fi
xk=$bdir/src/cli/xenkvm
bb=$bdir/bench/blkbench
mib=${BENCH_BLK_MIB:-16}
secs=${BENCH_BLK_SECS:-2}
for f in "$xk" "$bb"; do
    [ -x "$f" ] || { echo "blk: $f missing (ninja -C $bdir)"; exit 1; }
done
kernel=$("$root/scripts/debian-kernel") || { echo "blk: no Debian kernel"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
XK_MODULES="xen-blkfront" "$root/tests/linux/mkinitramfs.sh" "$tmp/initrd.gz" "$bb" ||
    { echo "blk: initramfs failed"; exit 1; }
truncate -s $((mib + 16))M "$tmp/d.img"

# guest LABEL MODPARAMS: one boot; its lines in $tmp/LABEL
guest() {
    local p=""
    [ -n "$2" ] && p=" xk.mod.xen-blkfront=$2"
    printf 'name="blk"\nkernel="%s"\nramdisk="%s"\nmemory=256\nvcpus=1\nextra="console=hvc0 xk.blkbench=%s:%s%s"\ndisk = [ "format=raw, vdev=xvda, access=rw, target=%s" ]\n' \
        "$kernel" "$tmp/initrd.gz" "$mib" "$secs" "$p" "$tmp/d.img" > "$tmp/g.cfg"
    XENKVM_CONTROL="$tmp/ctl.sock" XENSTORED_PATH="$tmp/xs.sock" \
        timeout 600 "$xk" run "$tmp/g.cfg" >"$tmp/$1.out" 2>"$tmp/$1.err"
    grep -q 'xk: blkbench rand-read' "$tmp/$1.out" ||
        { echo "blk: guest run $1 failed"; cat "$tmp/$1.out" "$tmp/$1.err"; exit 1; }
}
# figure FILE PHASE FIELD: MB/s or iops of PHASE in FILE
figure() {
    sed -n "s/.*blkbench $2 MB\/s \([0-9.]*\) iops \([0-9]*\).*/\1 \2/p" "$1" |
        awk -v f="$3" '{ print (f == "mbs" ? $1 : $2) }'
}

"$bb" "$tmp/d.img" "$mib" "$secs" > "$tmp/host.out" || { echo "blk: host run failed"; exit 1; }
guest default ""
guest nopersist "feature_persistent=0"
guest noindirect "max_indirect_segments=0"
grep 'blkback' "$tmp/default.err" | sed 's/^/  /'
printf '%-12s %-10s %12s %12s %8s\n' run phase guest host ratio
for r in default nopersist noindirect; do
    for ph in seq-write seq-read rand-write rand-read; do
        f=mbs; case $ph in rand-*) f=iops;; esac
        g=$(figure "$tmp/$r.out" "$ph" $f); h=$(figure "$tmp/host.out" "$ph" $f)
        printf '%-12s %-10s %10s%s %10s%s %8s\n' "$r" "$ph" "$g" "$([ $f = mbs ] && echo MB || echo io)" \
            "$h" "$([ $f = mbs ] && echo MB || echo io)" \
            "$(awk -v a="$g" -v b="$h" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')"
    done
done
# per-request overhead: 4 KiB random reads, guest minus host, in us
g=$(figure "$tmp/default.out" rand-read iops); h=$(figure "$tmp/host.out" rand-read iops)
awk -v g="$g" -v h="$h" 'BEGIN { if (g > 0 && h > 0) printf "per-request overhead (4 KiB random read): %.1f us (guest %.1f us, host %.1f us)\n", 1e6/g - 1e6/h, 1e6/g, 1e6/h }'

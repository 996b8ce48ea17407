#!/bin/sh
# Build the test initramfs for Debian's Linux under xenkvm: Debian's
# busybox-static as /bin/busybox and init.sh as /init, packed with cpio
# (newc) and gzip. The kernel's hvc0 (Xen console), xenbus and event
# channels are built into Debian's kernel; its PV disk driver and ext4 are
# modules: XK_MODULES="xen-blkfront crc32c_generic ext4" puts Debian's own
# (scripts/debian-kernel --modules) in /lib/modules, which init.sh loads.
# XK_BINS="/usr/bin/iperf3" adds host programs with their libraries.
# usage: mkinitramfs.sh OUT.cpio.gz [FILE...]   (FILEs go to /bin, e.g. the
# benchmark's static timerloop)
set -eu
out=${1:?usage: mkinitramfs.sh OUT.cpio.gz [FILE...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
bb=/bin/busybox
[ -x "$bb" ] || { echo "mkinitramfs: $bb missing (Debian's busybox-static)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/proc" "$work/sys" "$work/dev" "$work/tmp"
cp "$bb" "$work/bin/busybox"
cp "$here/init.sh" "$work/init"
cp "$here/disk.sh" "$work/bin/xkdisk"
cp "$here/net.sh" "$work/bin/xknet"
# XK_BINS: dynamically linked host programs (bench/net.sh's iperf3), with
# the libraries ldd names, at the same paths
for b in ${XK_BINS:-}; do
    for f in "$b" $(ldd "$b" | grep -o '/[^ ]*'); do
        mkdir -p "$work$(dirname "$f")"
        cp -L "$f" "$work$f"
    done
done
[ $# -eq 0 ] || cp "$@" "$work/bin/"
if [ -n "${XK_MODULES:-}" ]; then
    # shellcheck disable=SC2086
    "$here/../../scripts/debian-kernel" --modules "$work" $XK_MODULES ||
        { echo "mkinitramfs: cannot get Debian's modules $XK_MODULES"; exit 1; }
fi
chmod 755 "$work/init"
(cd "$work" && find . | cpio -o -H newc --quiet) | gzip -9 > "$out"

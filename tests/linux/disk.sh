#!/bin/busybox sh
# /bin/xkdisk of the Linux test initramfs: what a disk test does inside
# the guest (tests/linux/blk_tests.sh checks it from the host), one
# "xk: KEY VALUE" line per fact. Disks are Debian's xen-blkfront on
# xenkvm's blkback; the files are ext4 made by mkfs.ext4 on the host.
#   xkdisk write     mount /dev/xvda, write files of known content, print
#                    their sha256, sync, unmount
#   xkdisk read      mount it again, print the sha256 of every file
#   xkdisk ro        xvdc is read-only: the kernel says so, a mount -o ro
#                    reads, a write to the device is refused
#   xkdisk two       write on xvda and xvdb, then wait (idle) until xvdb is
#                    hot-unplugged by the host: "xk: xvdb-gone"
#   xkdisk features  what blkfront negotiated (sysfs and dmesg)
set -u
m=${1:?usage: xkdisk write|read|ro|two|features}

# wait_dev NAME: /dev/NAME appears within 30 s
wait_dev() {
    i=0
    until [ -b "/dev/$1" ]; do
        i=$((i + 1)); [ $i -lt 300 ] || { echo "xk: no-dev $1"; return 1; }
        sleep 0.1
    done
    echo "xk: dev $1 $(cat /sys/block/$1/size) ro=$(cat /sys/block/$1/ro)"
}
sums() {
    (cd "$1" && find . -type f | sort | while read -r f; do
        echo "xk: sum $2 ${f#./} $(sha256sum "$f" | cut -d' ' -f1)"
    done)
}
# write_files DIR: a 4 MiB random file, a text file, 64 small files in a
# directory, a file written with O_DIRECT (bypassing the page cache)
write_files() {
    dd if=/dev/urandom of="$1/rand" bs=65536 count=64 2>/dev/null
    seq 1 200000 > "$1/seq"
    mkdir -p "$1/dir"
    i=0
    while [ $i -lt 64 ]; do echo "file $i of $1" > "$1/dir/f$i"; i=$((i + 1)); done
    dd if="$1/rand" of="$1/direct" bs=65536 oflag=direct 2>/dev/null ||
        echo "xk: direct-write-failed"
}
features() {
    for d in /sys/block/xvd*; do
        [ -d "$d" ] || continue
        n=${d##*/}
        echo "xk: feat $n queues=$(ls -d $d/mq/* 2>/dev/null | wc -l) max_segs=$(cat $d/queue/max_segments) max_hw_kb=$(cat $d/queue/max_hw_sectors_kb) discard_max=$(cat $d/queue/discard_max_bytes) wc=$(cat $d/queue/write_cache)"
    done
    dmesg | grep -i 'blkfront' | sed 's/^/xk: dmesg-blk /'
}

case "$m" in
write)
    wait_dev xvda || exit 1
    mkdir -p /mnt
    mount -t ext4 /dev/xvda /mnt || { echo "xk: mount-failed"; exit 1; }
    write_files /mnt
    sync
    rm -f /mnt/dir/f63                  # freed blocks for fstrim to discard
    sync
    fstrim /mnt 2>/dev/null && echo "xk: fstrim-ok"
    sums /mnt w
    umount /mnt || echo "xk: umount-failed"
    features
    echo "xk: disk-written"
    ;;
read)
    wait_dev xvda || exit 1
    mkdir -p /mnt
    mount -t ext4 -o ro /dev/xvda /mnt || { echo "xk: mount-failed"; exit 1; }
    sums /mnt r
    umount /mnt
    echo "xk: disk-read"
    ;;
ro)
    # xvdc: read-only (the three-disk run)
    wait_dev xvdc || exit 1
    mkdir -p /mnt/c
    mount -t ext4 -o ro,noload /dev/xvdc /mnt/c || { echo "xk: mount-failed"; exit 1; }
    sums /mnt/c c
    umount /mnt/c
    if dd if=/dev/zero of=/dev/xvdc bs=4096 count=1 oflag=direct 2>/dev/null; then
        echo "xk: ro-write-accepted"
    else
        echo "xk: ro-write-refused"
    fi
    echo "xk: disk-ro-done"
    ;;
two)
    wait_dev xvda && wait_dev xvdb || exit 1
    mkdir -p /mnt/a /mnt/b
    mount -t ext4 /dev/xvda /mnt/a && mount -t ext4 /dev/xvdb /mnt/b ||
        { echo "xk: mount-failed"; exit 1; }
    write_files /mnt/a
    write_files /mnt/b
    sync
    sums /mnt/a a
    sums /mnt/b b
    umount /mnt/a && umount /mnt/b || echo "xk: umount-failed"
    features
    echo "xk: two-written"
    i=0
    while [ -e /sys/block/xvdb ]; do
        i=$((i + 1)); [ $i -lt 1200 ] || { echo "xk: xvdb-stays"; exit 1; }
        sleep 0.1
    done
    echo "xk: xvdb-gone"
    [ -b /dev/xvda ] && echo "xk: xvda-stays"
    ;;
features)
    features
    ;;
*)
    echo "xk: bad-disk-mode $m"; exit 2;;
esac

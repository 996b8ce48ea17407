#!/bin/sh
# Debian's Linux on xenkvm's PV disks (issue 11): xen-blkfront (Debian's
# module) on blkback, ext4 images made here with mkfs.ext4 and checked here
# with e2fsck and debugfs. In the KVM box, as every Linux test (lib.sh).
#   disk     boot 1 (2 vCPUs: 2 queues; persistent grants and indirect
#            segments, Linux's defaults) writes files and prints their
#            sha256; the image passes e2fsck -fn and debugfs reads the same
#            sums out of it; boot 2 (a 4-page ring, 1 queue, no persistent
#            grants) reads the same sums back
#   disks    three disks: xvdc access=ro (Linux sees a read-only disk,
#            reads it, a write is refused, the image is unchanged); xvda and
#            xvdb written; `xenkvm block-detach` of xvdb while the guest is
#            idle removes it from Linux; xvda stays; both pass e2fsck
#   hostile  the hostile block frontend (guests/blkabuse) on its own image
#            beside Linux writing and reading its disk in the same run:
#            Linux's data is intact, blkabuse's checks pass, no other host
#            file is touched
# usage: blk_tests.sh TEST XENKVM BLKABUSE_GUEST
set -u
t=${1:?usage: blk_tests.sh TEST XENKVM BLKABUSE_GUEST}
xk=${2:?usage: blk_tests.sh TEST XENKVM BLKABUSE_GUEST}
abuse=${3:?usage: blk_tests.sh TEST XENKVM BLKABUSE_GUEST}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

. "$here/lib.sh"
XK_MODULES="xen-blkfront crc32c_generic ext4" "$here/mkinitramfs.sh" "$tmp/initrd.gz" ||
    { echo "FAIL: initramfs"; exit 1; }

# mkimg FILE MIB: a raw image with an empty ext4 on it (the host's mkfs)
mkimg() {
    truncate -s "${2}M" "$1" && mkfs.ext4 -q -F "$1" || fail "mkfs.ext4 $1"
}
# fsck_ok FILE: e2fsck -fn finds nothing
fsck_ok() {
    e2fsck -fn "$1" >"$tmp/fsck" 2>&1 || fail "e2fsck -fn $1: $(cat "$tmp/fsck")"
}
# sums_match OUT TAG FILE: every "xk: sum TAG PATH HASH" line of OUT has
# the same hash for PATH inside the image FILE (debugfs dump)
sums_match() {
    n=0
    grep "xk: sum $2 " "$1" | sed "s/.*xk: sum $2 //" > "$tmp/sums.$2"
    [ -s "$tmp/sums.$2" ] || fail "no sums printed ($2)"
    while read -r p h; do
        debugfs -R "dump /$p $tmp/dump" "$3" >/dev/null 2>&1 || fail "debugfs cannot dump /$p of $3"
        [ "$(sha256sum "$tmp/dump" | cut -d' ' -f1)" = "$h" ] || fail "/$p in $3 differs from what Linux wrote"
        n=$((n + 1))
    done < "$tmp/sums.$2"
    echo "$n files of $3 match"
}
# no_other_file_touched DIR STAMP: nothing in DIR but the images changed
no_other_file_touched() {
    [ -z "$(find "$1" -newer "$2" ! -name '*.img' ! -path "$1")" ] ||
        fail "files other than the images changed: $(find "$1" -newer "$2" ! -name '*.img' ! -path "$1")"
}
con="console=hvc0"

case "$t" in
disk)
    mkimg "$tmp/d.img" 64
    linux_cfg "$tmp/g.cfg" lin 256 2 "$con xk.disk=write" \
        "disk = [ 'format=raw, vdev=xvda, access=rw, target=$tmp/d.img' ]"
    run_linux "$tmp/g.cfg"
    grep -q 'xk: disk-written' "$tmp/g.out" || fail "boot 1 did not write its files"
    grep -q 'xk: direct-write-failed\|umount-failed' "$tmp/g.out" && fail "a write failed in boot 1"
    check_poweroff
    grep 'xk: feat\|blkback' "$tmp/g.out" "$tmp/err"
    fsck_ok "$tmp/d.img"
    sums_match "$tmp/g.out" w "$tmp/d.img"
    cp "$tmp/g.out" "$tmp/boot1.out"
    # the short positional form, and the other ring shape
    linux_cfg "$tmp/g.cfg" lin 256 1 \
        "$con xk.disk=read xk.mod.xen-blkfront=max_ring_page_order=2,max_queues=1,feature_persistent=0" \
        "disk = [ '$tmp/d.img,raw,xvda,rw' ]"
    run_linux "$tmp/g.cfg"
    grep -q 'blkback d1 xvda: connected: 1 queue(s) of 4 ring page(s), protocol x86_64-abi, persistent grants off' "$tmp/err" ||
        fail "boot 2 did not connect with the ring it asked for"
    grep -q 'xk: disk-read' "$tmp/g.out" || fail "boot 2 did not read the files"
    check_poweroff
    grep 'xk: sum w ' "$tmp/boot1.out" | sed 's/.*xk: sum w //' | sort > "$tmp/s1"
    grep 'xk: sum r ' "$tmp/g.out" | sed 's/.*xk: sum r //' | sort > "$tmp/s2"
    cmp -s "$tmp/s1" "$tmp/s2" || fail "boot 2 read other data: $(diff "$tmp/s1" "$tmp/s2")"
    grep 'blkback' "$tmp/err"
    fsck_ok "$tmp/d.img"
    echo "PASS: Linux's files survived power-off and a second boot ($(wc -l < "$tmp/s2") files), e2fsck -fn clean"
    ;;
disks)
    mkimg "$tmp/a.img" 32; mkimg "$tmp/b.img" 32; mkimg "$tmp/c.img" 32
    mkdir "$tmp/seed"; echo "read me" > "$tmp/seed/hello"
    debugfs -w -R "write $tmp/seed/hello hello" "$tmp/c.img" >/dev/null 2>&1 || fail "debugfs write"
    before=$(sha256sum "$tmp/c.img" | cut -d' ' -f1)
    linux_cfg "$tmp/g.cfg" lin 256 1 "$con xk.disk=ro,two" \
        "disk = [ 'format=raw, vdev=xvda, access=rw, target=$tmp/a.img'," \
        "         'format=raw, vdev=xvdb, access=rw, target=$tmp/b.img'," \
        "         'format=raw, vdev=xvdc, access=ro, target=$tmp/c.img' ]"
    run_linux "$tmp/g.cfg" &
    rpid=$!
    wait_for "$tmp/g.out" 'xk: two-written' 200 || fail "the two disks were not written"
    "$xk" block-detach lin xvdb >"$tmp/detach" 2>&1 || fail "xenkvm block-detach: $(cat "$tmp/detach")"
    wait $rpid; rc=$?
    grep -q 'xk: xvdb-gone' "$tmp/g.out" || fail "xvdb did not leave Linux"
    grep -q 'xk: xvda-stays' "$tmp/g.out" || fail "xvda left too"
    check_poweroff
    fsck_ok "$tmp/a.img"; fsck_ok "$tmp/b.img"
    sums_match "$tmp/g.out" a "$tmp/a.img"
    sums_match "$tmp/g.out" b "$tmp/b.img"
    grep -q 'xk: dev xvdc [0-9]* ro=1' "$tmp/g.out" || fail "Linux does not see xvdc read-only"
    grep -q "xk: sum c hello $(printf 'read me\n' | sha256sum | cut -d' ' -f1)" "$tmp/g.out" ||
        fail "Linux did not read xvdc's file"
    grep -q 'xk: ro-write-refused' "$tmp/g.out" || fail "a write to the read-only disk was not refused"
    [ "$(sha256sum "$tmp/c.img" | cut -d' ' -f1)" = "$before" ] || fail "the read-only image changed"
    echo "PASS: three disks: xvda and xvdb written, xvdb hot-unplugged from an idle Linux, both images clean; xvdc read-only: read, a write refused, its image unchanged"
    ;;
hostile)
    mkdir "$tmp/imgs"
    mkimg "$tmp/imgs/lin.img" 64
    truncate -s 1M "$tmp/imgs/abuse.img"
    echo "not yours" > "$tmp/imgs/neighbour"
    touch "$tmp/stamp"; sleep 1
    linux_cfg "$tmp/lin.cfg" lin 256 1 "$con xk.disk=write,read" \
        "disk = [ 'format=raw, vdev=xvda, access=rw, target=$tmp/imgs/lin.img' ]"
    # abuse is domid 1: its abuse starts when Linux has its disk
    printf 'name="abuse"\nkernel="%s"\nmemory=16\ncmdline="waitkey=/local/domain/1/data/go"\ndisk = [ "format=raw, vdev=xvda, access=rw, target=%s" ]\n' \
        "$abuse" "$tmp/imgs/abuse.img" > "$tmp/abuse.cfg"
    timeout 300 "$xk" run --console-log "$tmp/all.out" "$tmp/abuse.cfg" "$tmp/lin.cfg" \
        >/dev/null 2>"$tmp/err" &
    pid=$!
    wait_for "$tmp/all.out" '^lin: xk: dev xvda' 200 || fail "Linux has no disk"
    timeout 10 xenstore-write /local/domain/1/data/go 1 || fail "xenstore-write"
    wait $pid; rc=$?
    [ "$rc" -eq 0 ] || fail "run exit status $rc, expected 0"
    grep -q '^abuse: blkabuse: .* 0 failed' "$tmp/all.out" || fail "blkabuse's checks failed"
    # the abuse ran while Linux was writing: it ended before Linux's last line
    [ "$(grep -n '^abuse: blkabuse: done' "$tmp/all.out" | cut -d: -f1)" -lt \
      "$(grep -n '^lin: xk: disk-written' "$tmp/all.out" | cut -d: -f1)" ] ||
        echo "note: the abuse ended after Linux's writes (not overlapped this time)"
    sed -n 's/^lin: //p' "$tmp/all.out" > "$tmp/lin.out"
    grep -q 'xk: disk-written' "$tmp/lin.out" && grep -q 'xk: disk-read' "$tmp/lin.out" ||
        fail "Linux did not write and read its disk"
    grep 'xk: sum w ' "$tmp/lin.out" | sed 's/.*xk: sum w //' | sort > "$tmp/s1"
    grep 'xk: sum r ' "$tmp/lin.out" | sed 's/.*xk: sum r //' | sort > "$tmp/s2"
    cmp -s "$tmp/s1" "$tmp/s2" || fail "Linux read back other data"
    fsck_ok "$tmp/imgs/lin.img"
    sums_match "$tmp/lin.out" w "$tmp/imgs/lin.img"
    no_other_file_touched "$tmp/imgs" "$tmp/stamp"
    [ "$(cat "$tmp/imgs/neighbour")" = "not yours" ] || fail "the neighbour file changed"
    grep -Ei 'sanitizer|segfault|abort' "$tmp/err" && fail "xenkvm complained"
    echo "PASS: the hostile frontend failed its abuse; Linux's disk beside it is intact"
    ;;
*)
    echo "unknown test $t"; exit 2;;
esac

#!/bin/sh
# guests/blkabuse (a hostile PV block frontend) alone against blkback under
# `xenkvm run`, on a 1 MiB raw image made here (disk = [ ... ] in its xl.cfg).
# usage: blkabuse_tests.sh TEST XENKVM BLKABUSE_ELF
#   blkabuse     access=rw: every check of the guest passes, the sector it
#                wrote is in the image, the image keeps its size, and the
#                files next to it are untouched;
#   blkabuse_ro  access=ro: the same checks with writes refused, and the
#                image is byte for byte what it was.
# Both: `xenkvm run` exits 0 and prints no sanitizer report or crash.
set -u
t=$1 xk=$2 abuse=$3
. "$(dirname "$0")/common.sh"
: >"$tmp/out"; : >"$tmp/err"

# The image between two neighbours with known contents, in a folder of its
# own: after the run the folder must hold the same files, and the
# neighbours the same bytes.
disks=$tmp/disks
mkdir "$disks"
img=$disks/disk.img
truncate -s 1M "$img"
printf 'the first sector of the image\n' | dd of="$img" conv=notrunc status=none
yes 'neighbour before' | head -c 1048576 >"$disks/before.img"
yes 'neighbour after' | head -c 1048576 >"$disks/after.img"
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
listing() { stat -c 'folder mtime %Y' "$disks"; (cd "$disks" && ls -lA --time-style=+%s) | grep -v '^total' ; }
sum_before=$(sha_of "$disks/before.img")
sum_after=$(sha_of "$disks/after.img")
sum_img=$(sha_of "$img")
listing >"$tmp/listing0"

# run ACCESS CMDLINE
run() {
    printf 'name = "blkabuse"\nkernel = "%s"\nmemory = 16\ncmdline = "%s"\n' "$abuse" "$2" >"$tmp/blkabuse.cfg"
    printf "disk = [ 'format=raw, vdev=xvda, access=%s, target=%s' ]\n" "$1" "$img" >>"$tmp/blkabuse.cfg"
    bounded "$xk" run "$tmp/blkabuse.cfg" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    arch_ok
    if grep -Eq "Sanitizer|runtime error:|Segmentation fault|Aborted|core dumped|stack smashing" "$tmp/out" "$tmp/err"; then
        fail "a sanitizer report or a crash"
    fi
    grep "FAIL" "$tmp/out"
    grep -q "blkabuse: done" "$tmp/out" || fail "the guest did not get to the end"
    grep -q "blkabuse: [0-9]* checks, [0-9]* passed, 0 failed" "$tmp/out" || fail "blkabuse checks failed"
    grep -q "domain 'blkabuse' (domid 1): shut down (poweroff)" "$tmp/err" || fail "no poweroff"
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
    grep "^blkabuse: [0-9]* checks" "$tmp/out"
}

# The files next to the image: none added, removed or changed.
neighbours_untouched() {
    [ "$(sha_of "$disks/before.img")" = "$sum_before" ] || fail "before.img changed"
    [ "$(sha_of "$disks/after.img")" = "$sum_after" ] || fail "after.img changed"
    listing | grep -v ' disk\.img$' >"$tmp/listing1"
    grep -v ' disk\.img$' "$tmp/listing0" | diff - "$tmp/listing1" || fail "the image's folder changed"
}

case $t in
blkabuse)
    run rw ""
    neighbours_untouched
    [ "$(stat -c %s "$img")" -eq 1048576 ] || fail "the image's size changed: $(stat -c %s "$img")"
    dd if="$img" bs=512 skip=1 count=1 status=none | grep -q "blkabuse was here" ||
        fail "sector 1 of the image does not hold what the guest wrote"
    ;;
blkabuse_ro)
    run ro "ro"
    neighbours_untouched
    [ "$(sha_of "$img")" = "$sum_img" ] || fail "the read-only image changed"
    grep -q "ok: info says read-only as configured" "$tmp/out" || fail "the guest did not see a read-only disk"
    ;;
*)
    echo "unknown test $t"; exit 2 ;;
esac
echo "PASS: $t"

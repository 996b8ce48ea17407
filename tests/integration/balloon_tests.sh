#!/bin/sh
# The balloon end to end: guests/balloon (memory = 64) writes all its free
# RAM, then `xenkvm mem-set` takes it to 32 MiB and back to 64; the VMM's
# RSS (VmRSS and RssShmem of the xenkvm process, /proc/PID/status: guest
# RAM is a memfd, so its pages count as RssShmem) must fall by about
# 32 MiB and rise again by about as much.
#
# Tolerance: the guest gives back exactly 8192 frames, each written
# before (RssShmem moves by exactly 32 MiB on this kernel), but VmRSS also
# holds the VMM's own heap and stacks, which may grow or shrink a little
# between two reads (the console log, the store's nodes): a move of 28 to
# 36 MiB (32 MiB +- 4 MiB) counts as "about 32 MiB".
# usage: balloon_tests.sh TEST XENKVM BALLOON_ELF
set -u
t=$1 xk=$2 balloon=$3
. "$(dirname "$0")/common.sh"
export XENSTORED_PATH="$tmp/xs.sock"

# wait_line PATTERN COUNT: until $tmp/out has COUNT lines matching PATTERN
wait_line() {
    i=0
    until [ "$(grep -c "$1" "$tmp/out")" -ge "$2" ]; do
        i=$((i + 1)); [ $i -lt 900 ] || fail "no '$1' (x$2) within 90 s"
        kill -0 $runpid 2>/dev/null || fail "xenkvm run ended early"
        grep -q "FAIL" "$tmp/out" && fail "the guest failed"
        sleep 0.1
    done
}

. "$(dirname "$0")/../common/rss.sh"
# about32 WHAT A B: |A - B| is about 32 MiB (see the top comment)
about32() {
    moved "$1" "$2" "$3" $((28 * 1024)) $((36 * 1024))
}

case $t in
balloon)
    printf 'name = "bal"\nkernel = "%s"\nmemory = 64\n' "$balloon" > "$tmp/bal.cfg"
    XK_TIMEOUT=100 bounded "$xk" run "$tmp/bal.cfg" >"$tmp/out" 2>"$tmp/err" &
    runpid=$!
    wait_line "balloon: all RAM written" 1
    arch_ok
    wait_line "balloon: at target 65536 KiB" 1
    xkpid=$(pgrep -x -P $runpid xenkvm) || fail "no xenkvm process under the run"
    rss0=$(rss $xkpid VmRSS) shm0=$(rss $xkpid RssShmem)

    "$xk" mem-set bal 32 || fail "mem-set bal 32"
    wait_line "balloon: at target 32768 KiB" 1
    rss1=$(rss $xkpid VmRSS) shm1=$(rss $xkpid RssShmem)
    [ "$rss1" -lt "$rss0" ] || fail "VmRSS did not fall ($rss0 -> $rss1 KiB)"
    about32 "VmRSS fell" "$rss0" "$rss1"
    about32 "RssShmem fell" "$shm0" "$shm1"

    "$xk" mem-set bal 64 || fail "mem-set bal 64"
    wait_line "balloon: at target 65536 KiB" 2
    rss2=$(rss $xkpid VmRSS) shm2=$(rss $xkpid RssShmem)
    [ "$rss2" -gt "$rss1" ] || fail "VmRSS did not rise ($rss1 -> $rss2 KiB)"
    about32 "VmRSS rose" "$rss1" "$rss2"
    about32 "RssShmem rose" "$shm1" "$shm2"

    "$xk" shutdown bal || fail "shutdown bal"
    wait $runpid
    rc=$?
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
    ! grep -q "FAIL" "$tmp/out" || fail "the guest failed"
    grep -q "domain 'bal' (domid 1): shut down (poweroff)" "$tmp/err" || fail "no poweroff"
    ;;
*) echo "unknown test $t"; exit 2 ;;
esac
echo "ok: $t"

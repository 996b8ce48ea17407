# Shared by the Linux tests (linux_tests.sh, blk_tests.sh): sourced with
# $0 the test script, and xk (the xenkvm binary), here (tests/linux), root
# set. Re-runs the test inside the KVM box unless it is there already
# (linux_tests.sh says why), then sets kernel (Debian's vmlinuz), tmp (a
# scratch directory removed at exit), the XenStore and control sockets in
# tmp, and the helpers below.
if [ -z "${XENKVM_IN_BOX:-}" ]; then
    # the project tree is shared with the box read-write at the same path
    exec "$root/scripts/kvmbox" -- "$0" "$@"
fi

kernel=$("$root/scripts/debian-kernel") || {
    echo "FAIL: no Debian kernel (scripts/debian-kernel failed)"; exit 1; }
. "$root/tests/common/bounded.sh"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
export XENSTORED_PATH="$tmp/xs.sock" XENKVM_CONTROL="$tmp/ctl.sock"
fail() {
    echo "FAIL: $*"
    for f in "$tmp"/*.out "$tmp"/*.con "$tmp/err"; do
        # without the ignored-port lines, which bury the rest
        [ -f "$f" ] && { echo "--- $f"; grep -v ' port 0x[0-9a-f]* at rip ' "$f"; }
    done
    echo "FAIL: $*"     # again: meson shows a failed test's last lines
    exit 1
}
# wait_for FILE PATTERN SECONDS: until grep finds it (1) or time is up (0)
wait_for() {
    i=0
    until grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt $(($3 * 10)) ] || return 1
        sleep 0.1
    done
}
# run_linux ARGS...: `xenkvm run ARGS` (one Linux guest), its console in
# $tmp/g.out, each line prefixed with the host's time of its arrival;
# waits for the run to end by itself (bounded, XK_TIMEOUT default 400 s: a
# loaded box is several times slower than a quiet one), sets rc and returns
# it (for a run in the background: wait $! gives it)
run_linux() {
    rm -f "$tmp/con"
    mkfifo "$tmp/con"
    python3 -u -c 'import sys, time
for l in sys.stdin:
    sys.stdout.write("%.3f %s" % (time.time(), l))' <"$tmp/con" >"$tmp/g.out" &
    spid=$!
    t0=$(date +%s)
    # progress on stdout: what meson shows if it has to kill the test
    echo "run_linux: xenkvm run $* (at most ${XK_TIMEOUT:-400} s)"
    XK_TIMEOUT=${XK_TIMEOUT:-400} bounded "$xk" run "$@" >"$tmp/con" 2>"$tmp/err"
    rc=$?
    echo "run_linux: exit status $rc after $(($(date +%s) - t0)) s"
    # the reader ends with the fifo's last writer; a process left holding
    # it must not hang the test
    timeout 30 tail --pid=$spid -f /dev/null ||
        { echo "run_linux: the console reader did not end"; kill $spid; }
    return $rc
}
# linux_cfg FILE NAME MEMORY VCPUS EXTRA [LINE...]: an xl.cfg for Debian's
# kernel with the initramfs $tmp/initrd.gz; each LINE is added as is
linux_cfg() {
    f=$1 n=$2 mem=$3 v=$4 extra=$5
    shift 5
    printf 'name="%s"\nkernel="%s"\nramdisk="%s"\nmemory=%s\nvcpus=%s\nextra="%s"\n' \
        "$n" "$kernel" "$tmp/initrd.gz" "$mem" "$v" "$extra" > "$f"
    for l in "$@"; do echo "$l" >> "$f"; done
}
check_poweroff() {
    [ "$rc" -eq 0 ] || fail "run exit status $rc, expected 0"
    grep -q "all vCPUs down: powering off" "$tmp/err" || fail "no power-off by halting"
    grep -q "shut down (poweroff)" "$tmp/err" || fail "not a poweroff"
}

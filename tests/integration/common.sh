# Sourced by guest_tests.sh, blkabuse_tests.sh and netabuse_tests.sh: a scratch directory
# (removed at exit) with our own control socket, the skip without
# /dev/kvm (exit 77: meson's skip; the suite runs in the KVM box there),
# and fail MSG, which prints the run's stdout and stderr ($tmp/out, err).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XENKVM_CONTROL="$tmp/control.sock"   # ours, not the default one

if [ ! -e /dev/kvm ]; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
fail() { echo "FAIL: $*"; echo "--- stdout"; cat "$tmp/out"; echo "--- stderr"; cat "$tmp/err"; echo "FAIL: $*"; exit 1; }
# bounded CMD...: CMD (a `xenkvm run`) ended by SIGTERM after XK_TIMEOUT
# seconds (default 90; below meson's timeout), so that a hang fails with
# the run's output: meson's own kill leaves nothing to read. SIGTERM makes
# xenkvm ask its guests to power off, then destroy them. --foreground keeps
# xenkvm in the test's process group, which meson kills.
bounded() {
    timeout --foreground -k 10 "${XK_TIMEOUT:-90}" "$@"
    brc=$?
    [ $brc -ne 124 ] || echo "TIMEOUT: $1 $2 did not end within ${XK_TIMEOUT:-90} s"
    return $brc
}

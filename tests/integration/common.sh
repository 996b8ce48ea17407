# Sourced by the integration test scripts: a scratch directory
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
# arch_ok [NAME...]: with XK_ARCH set (guest32.sh: "i386, 2-level paging"
# or "i386, PAE paging"), the run's guest (or each domain NAME of several)
# said it ran so (guest/runtime.c's first line)
arch_ok() {
    [ -n "${XK_ARCH:-}" ] || return 0
    [ $# -gt 0 ] || set -- ""
    for n in "$@"; do
        grep -q "^${n:+$n: }guest: xenkvm test guest ($XK_ARCH)" "$tmp/out" ||
            fail "${n:-the guest} did not run as $XK_ARCH"
    done
}
fail() { echo "FAIL: $*"; echo "--- stdout"; cat "$tmp/out"; echo "--- stderr"; cat "$tmp/err"; echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/../common/bounded.sh"

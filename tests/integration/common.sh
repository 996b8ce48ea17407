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
fail() { echo "FAIL: $*"; echo "--- stdout"; cat "$tmp/out"; echo "--- stderr"; cat "$tmp/err"; echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/../common/bounded.sh"

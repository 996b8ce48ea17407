#!/bin/sh
# `make run`: boot two guests (guests/pingpong, seed 002) that ping-pong
# over an inter-domain event channel found through XenStore, and exit with
# their outcome (0 when both powered off). Where there is no /dev/kvm (or
# XENKVM_BOX=1) the same runs inside the KVM box (scripts/kvmbox).
set -eu
bdir=${1:-build}
xk="$bdir/src/cli/xenkvm"
pp="$bdir/guests/guest-pingpong"
for f in "$xk" "$pp"; do
    [ -x "$f" ] || { echo "make run: $f missing (build failed?)" >&2; exit 1; }
done
if [ -z "${XENKVM_IN_BOX:-}" ] && { [ -n "${XENKVM_BOX:-}" ] || [ ! -e /dev/kvm ]; }; then
    echo "make run: no /dev/kvm here: running the guests inside the KVM box (QEMU with Debian's kernel and kvm_amd; the first start fetches the 71 MB kernel package and builds the box in about 10 s)"
    exec "$(dirname "$0")/kvmbox" -- "$0" "$bdir"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# our own XenStore socket (xenstore-ls with the same XENSTORED_PATH sees it)
export XENSTORED_PATH="${XENSTORED_PATH:-$tmp/xenstored.sock}"
cat > "$tmp/alice.cfg" <<CFG
name = "alice"
type = "pvh"
kernel = "$pp"
memory = 16
cmdline = "role=alloc peer=2 rounds=${ROUNDS:-10}"
CFG
cat > "$tmp/bob.cfg" <<CFG
name = "bob"
type = "pvh"
kernel = "$pp"
memory = 16
cmdline = "role=bind peer=1"
CFG
"$xk" run "$tmp/alice.cfg" "$tmp/bob.cfg"

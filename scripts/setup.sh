#!/bin/sh
# Install the Debian packages xenkvm needs to build, test, fuzz and run.
# Only packages that are missing are installed; as root directly, otherwise
# through sudo. Nothing is fetched from anywhere but the Debian archive.
#   scripts/setup.sh        what the build and the tests need; on a host
#                           without /dev/kvm also the KVM box's packages
#   scripts/setup.sh box    only the KVM box's packages (scripts/kvmbox)
set -eu

BASE="build-essential meson ninja-build pkg-config
libxen-dev libcmocka-dev libfdt-dev device-tree-compiler libseccomp-dev
clang llvm libclang-rt-dev
xenstore-utils xen-utils-4.17 redis-server redis-tools"
# The KVM box: QEMU (TCG with SVM), a static busybox for its initramfs,
# cpio to pack it. Debian's kernel package itself is fetched by
# scripts/kvmbox with apt-get download and never installed.
BOX="qemu-system-x86 busybox-static cpio"

case "${1:-}" in
    box) PKGS=$BOX;;
    "") PKGS=$BASE; [ -e /dev/kvm ] || PKGS="$PKGS $BOX";;
    *) echo "usage: scripts/setup.sh [box]" >&2; exit 2;;
esac

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

echo "xenkvm setup: installing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "xenkvm setup: need root or sudo to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# xen-utils pulls in a hypervisor package; we only use its user-space tools
# (test-xenstore, C xenstored as a benchmark baseline), never boot it.
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

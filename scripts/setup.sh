#!/bin/sh
# Install the Debian packages xenkvm needs to build, test, fuzz and run.
# Only packages that are missing are installed; as root directly, otherwise
# through sudo. Nothing is fetched from anywhere but the Debian archive.
#   scripts/setup.sh        what the build and the tests need, the KVM box's
#                           packages included: every machine boots Debian's
#                           Linux in the box (tests/linux/linux_tests.sh)
#   scripts/setup.sh box    only the KVM box's packages (scripts/kvmbox)
set -eu

BASE="build-essential meson ninja-build pkg-config
libxen-dev libcmocka-dev libfdt-dev device-tree-compiler libseccomp-dev
liblzma-dev liblz4-dev libzstd-dev zlib1g-dev liburing-dev libslirp-dev iperf3
clang llvm libclang-rt-dev
xenstore-utils xen-utils-4.17 redis-server redis-tools
gdb"   # gdb: a hung test run's thread stacks (tests/integration/common.sh)
# The KVM box: QEMU (TCG with SVM), a static busybox for its initramfs,
# cpio to pack it. Debian's kernel package itself is fetched by
# scripts/kvmbox with apt-get download and never installed.
BOX="qemu-system-x86 busybox-static cpio"

case "${1:-}" in
    box) PKGS=$BOX;;
    "") PKGS="$BASE $BOX";;
    *) echo "usage: scripts/setup.sh [box]" >&2; exit 2;;
esac

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

# The box needs a QEMU newer than bookworm's 7.2, whose TCG emulation of
# SVM now and then leaves a nested guest halted with IF=0 right after
# STI;HLT (docs/kvmbox.md). On bookworm it comes from Debian's own
# bookworm-backports (4 packages: qemu-system-x86, -common, -data, seabios).
bpo_qemu() {
    case " $PKGS " in *" qemu-system-x86 "*) ;; *) return 1;; esac
    . /etc/os-release 2>/dev/null || return 1
    [ "${VERSION_CODENAME:-}" = bookworm ] || return 1
    v=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)
    case "$v" in 1:[89].*|1:[1-9][0-9].*) return 1;; esac
    return 0
}
if bpo_qemu; then
    missing=$(echo "$missing" | sed 's/ qemu-system-x86//')
fi

if [ -z "$missing" ] && ! bpo_qemu; then
    exit 0
fi

[ -z "$missing" ] || echo "xenkvm setup: installing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "xenkvm setup: need root or sudo to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if bpo_qemu; then
    echo "xenkvm setup: QEMU from bookworm-backports for the KVM box (bookworm's 7.2 loses interrupts of nested guests)"
    echo "deb http://deb.debian.org/debian bookworm-backports main" |
        $SUDO tee /etc/apt/sources.list.d/xenkvm-bookworm-backports.list >/dev/null
fi
$SUDO apt-get update -qq
if bpo_qemu; then
    $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86
fi
[ -n "$missing" ] || exit 0
# xen-utils pulls in a hypervisor package; we only use its user-space tools
# (test-xenstore, C xenstored as a benchmark baseline), never boot it.
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

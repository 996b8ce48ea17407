#!/bin/sh
# The 32-bit form of a guest test: runs SCRIPT ARGS (a test of
# guest_tests.sh, irq_tests.sh or balloon_tests.sh given i386 ELFs) where
# 32-bit paging runs, and says on its first line where and why:
#  - inside the KVM box (XENKVM_IN_BOX): there; the probe must pass there
#    (the box's kvm_amd runs 32-bit paging: a check of the probe itself);
#  - on this machine's /dev/kvm when kvm_paging32 (PROBE) says it runs
#    2-level and PAE paging;
#  - else in the KVM box (scripts/kvmbox), as tests/linux/lib.sh re-runs
#    itself there: this machine's KVM cannot run 32-bit paging (the nested
#    kvm_pvm triple-faults at the guest's mov to cr0), or it has no
#    /dev/kvm at all. scripts/test.sh runs the whole suite 'guest32' in
#    one box instead of a box per test.
# ARCH ("i386, 2-level paging" or "i386, PAE paging") goes to the test as
# XK_ARCH: its guests must say they ran so (common.sh's arch_ok).
# usage: guest32.sh PROBE ARCH SCRIPT ARGS...
set -u
probe=$1 arch=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)

if [ -n "${XENKVM_IN_BOX:-}" ]; then
    out=$("$probe") || { echo "FAIL: inside the KVM box, the probe says: $out"; exit 1; }
    echo "guest32: inside the KVM box (kvm_paging32: 2-level and PAE paging ran)"
    XK_ARCH=$arch exec "$@"
fi
if [ ! -e /dev/kvm ]; then
    echo "guest32: in the KVM box: this machine has no /dev/kvm"
    exec "$root/scripts/kvmbox" -- "$0" "$probe" "$arch" "$@"
fi
out=$("$probe")
case $? in
0)  echo "guest32: on this machine's KVM (kvm_paging32: 2-level and PAE paging ran)"
    XK_ARCH=$arch exec "$@" ;;
1)  echo "guest32: in the KVM box: $(echo "$out" | grep 'cannot run' | head -1)"
    exec "$root/scripts/kvmbox" -- "$0" "$probe" "$arch" "$@" ;;
*)  echo "FAIL: kvm_paging32 could not probe this machine's KVM: $out"
    exit 1 ;;
esac

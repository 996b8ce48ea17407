#!/bin/sh
# guests/netabuse (a PV network frontend, guest/netfront.c) under
# `xenkvm run`, on vifs of the in-process switch with user-mode networking
# (vif = [ 'mac=...' ], no bridge: gateway 10.0.2.2).
# usage: netabuse_tests.sh TEST XENKVM NETABUSE_ELF
#   selftest   no vif: the guest's frame builders and parsers, and
#              netfront's -ENOENT without device/vif;
#   netabuse   a hostile netabuse (domid 2) beside a healthy one (domid 1)
#              in one run: the healthy one pings the gateway until the
#              hostile one is done (data/netabuse-done), and every ping is
#              answered; both guests' checks pass;
#   pingpair   two healthy netabuse guests ping the gateway and each other
#              through the switch, and answer each other's pings;
#   pingpair_bridge  the same on a Linux bridge (TAP vif1.0 and vif2.0) in a
#              network namespace the test makes, the bridge's address the
#              gateway; the TAPs are gone after the run.
# All: `xenkvm run` exits 0 and prints no sanitizer report or crash.
set -u
t=$1 xk=$2 abuse=$3
# pingpair_bridge: the whole test in a network namespace of its own
if [ "$t" = pingpair_bridge ] && [ -z "${XK_NETNS:-}" ]; then
    XK_NETNS=1 exec unshare -n "$0" "$@"
fi
. "$(dirname "$0")/common.sh"
: >"$tmp/out"; : >"$tmp/err"

MAC1=00:16:3e:4e:41:01 MAC2=00:16:3e:4e:41:02
IP1=10.0.2.101 IP2=10.0.2.102

# cfg NAME MAC CMDLINE
cfg() {
    printf 'name = "%s"\nkernel = "%s"\nmemory = 16\ncmdline = "%s"\nvif = [ '"'"'mac=%s%s'"'"' ]\n' \
        "$1" "$abuse" "$3" "$2" "${VIF_EXTRA:-}" >"$tmp/$1.cfg"
}

# run CFG... : both guests must end with all checks passed.
run() {
    bounded "$xk" run "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    arch_ok $names
    if grep -Eq "Sanitizer|runtime error:|Segmentation fault|Aborted|core dumped|stack smashing" "$tmp/out" "$tmp/err"; then
        fail "a sanitizer report or a crash"
    fi
    grep "FAIL" "$tmp/out"
    for g in $names; do
        grep -q "^$g: netabuse: done" "$tmp/out" || fail "$g did not get to the end"
        grep -q "^$g: netabuse: [0-9]* checks, [0-9]* passed, 0 failed" "$tmp/out" || fail "$g: checks failed"
        grep "^$g: netabuse: [0-9]* checks" "$tmp/out"
    done
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
}

# pingpair: alice and bob ping the gateway and each other, 5 rounds, and
# answer each other's pings
pingpair() {
    names="alice bob"
    cfg alice $MAC1 "mode=healthy ip=$IP1 rounds=5 peer=$MAC2/$IP2 echo"
    cfg bob $MAC2 "mode=healthy ip=$IP2 rounds=5 peer=$MAC1/$IP1 echo"
    run "$tmp/alice.cfg" "$tmp/bob.cfg"
    for g in $names; do
        grep -q "^$g: ok: 5 rounds of pings (gateway and peer): all answered" "$tmp/out" || fail "$g lost pings"
        grep -q "^$g: ok: answered the peer's pings" "$tmp/out" || fail "$g did not answer its peer"
    done
}

case $t in
selftest)
    bounded "$xk" run --name netabuse --memory 16 --kernel "$abuse" --cmdline "mode=selftest" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    arch_ok
    grep "FAIL" "$tmp/out"
    grep -q "^netabuse: done" "$tmp/out" || fail "the guest did not get to the end"
    grep -q "^netabuse: [0-9]* checks, [0-9]* passed, 0 failed" "$tmp/out" || fail "checks failed"
    [ "$(grep -c '^ok:' "$tmp/out")" -ge 10 ] || fail "fewer checks than expected"
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
    ;;
netabuse)
    # ~100 s on a quiet machine (the 4000-frame flood, the reconnects)
    XK_TIMEOUT=400
    names="healthy hostile"
    cfg healthy $MAC1 "mode=healthy ip=$IP1 rounds=3 until=/local/domain/2/data/netabuse-done"
    cfg hostile $MAC2 "mode=hostile ip=$IP2 victim=1"
    run "$tmp/healthy.cfg" "$tmp/hostile.cfg"
    grep -q "^healthy: ok: the hostile guest beside us said it is done" "$tmp/out" ||
        fail "the healthy guest did not ping all through the abuse"
    grep -q "^healthy: ok: [0-9]* rounds of pings (gateway): all answered" "$tmp/out" ||
        fail "the healthy guest lost pings"
    [ "$(grep -c '^hostile: ok:' "$tmp/out")" -ge 100 ] || fail "hostile ran fewer checks than expected"
    ;;
pingpair_bridge)
    ip link set lo up
    ip link add xkbr0 type bridge || fail "cannot make a bridge"
    ip addr add 10.0.2.2/24 dev xkbr0
    ip link set xkbr0 up
    VIF_EXTRA=", bridge=xkbr0"
    pingpair
    ! ip link show vif1.0 >/dev/null 2>&1 || fail "vif1.0 is still there"
    ! ip link show vif2.0 >/dev/null 2>&1 || fail "vif2.0 is still there"
    # the gateway that answered was this namespace's kernel, on the bridge:
    # its echo replies (5 rounds of each guest; the first rounds' too)
    reps=$(awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "OutEchoReps") c = i; h = 1 }
                          else print $c }' /proc/net/snmp)
    [ "${reps:-0}" -ge 10 ] || fail "the bridge's kernel sent ${reps:-0} echo replies, expected 10 or more"
    echo "the kernel on xkbr0 answered $reps pings"
    ;;
pingpair)
    pingpair
    ;;
*)
    echo "unknown test $t"; exit 2 ;;
esac
echo "PASS: $t"

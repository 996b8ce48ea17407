#!/bin/sh
# Integration tests of guests/pingpong, hostile, selftest and smp (built on
# guest/) under `xenkvm run`.
# usage: guest_tests.sh TEST XENKVM PINGPONG_ELF HOSTILE_ELF SELFTEST_ELF SMP_ELF [BOB_ELF]
# The ELFs are 64-bit or i386 (guest32.sh); BOB_ELF, the pingpong of the
# pingpong_* tests' bob, is PINGPONG_ELF unless given (a 32-bit alice
# pinging a 64-bit bob).
set -u
t=$1 xk=$2 pp=$3 hostile=$4 selftest=$5 smp=$6 ppbob=${7:-$3}
. "$(dirname "$0")/common.sh"

# cfg NAME KERNEL CMDLINE: an xl.cfg for one domain
cfg() {
    printf 'name = "%s"\nkernel = "%s"\nmemory = 16\ncmdline = "%s"\n' "$1" "$2" "$3" > "$tmp/$1.cfg"
}

# Two guests: alice (domid 1) allocates for bob (domid 2), bob binds.
# $1: extra runtime options, $2: rounds
two_guest_pingpong() {
    cfg alice "$pp" "role=alloc peer=2 rounds=$2 $1"
    cfg bob "$ppbob" "role=bind peer=1 rounds=$2 $1"
    bounded "$xk" run "$tmp/alice.cfg" "$tmp/bob.cfg" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    arch_ok alice
    # a 64-bit bob beside a 32-bit alice: bob ran as x86_64
    [ "$ppbob" = "$pp" ] || XK_ARCH=${XK_ARCH:+x86_64} arch_ok bob
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
    # seed 002's lines, from both sides
    grep -q "^alice: DomU: Get new evtchn: [0-9]" "$tmp/out" || fail "no 'Get new evtchn'"
    grep -q "^alice: DomU: Bound local irq: [0-9]* to evtchn:[0-9]" "$tmp/out" || fail "no 'Bound local irq'"
    grep -q "^bob: Peer: bound local irq:[0-9]* to evtchn:[0-9]" "$tmp/out" || fail "bob did not bind"
    grep -q "^alice: DomU: Handled! irq: [0-9]*, evtchn:[0-9]* (round $2/$2)" "$tmp/out" || fail "alice did not answer round $2"
    grep -q "^bob: Peer: Handled! domid: 1, port: [0-9]*, local_irq:[0-9]* (round $2/$2)" "$tmp/out" || fail "bob did not see round $2"
    grep -q "^alice: pingpong: PASS $2 rounds ($3 ABI" "$tmp/out" || fail "alice did not pass on $3"
    grep -q "^bob: pingpong: PASS $2 rounds ($3 ABI" "$tmp/out" || fail "bob did not pass on $3"
    grep -q "domain 'alice' (domid 1): shut down (poweroff)" "$tmp/err" || fail "alice did not power off"
    grep -q "domain 'bob' (domid 2): shut down (poweroff)" "$tmp/err" || fail "bob did not power off"
}

# The guest with domain 0 (the VMM's ping-pong service) as its peer.
dom0_pingpong() {
    cfg alice "$pp" "role=alloc peer=0 rounds=$2 $1"
    bounded "$xk" run "$tmp/alice.cfg" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    arch_ok
    grep -q "DomU: Get new evtchn: [0-9]" "$tmp/out" || fail "no 'Get new evtchn'"
    grep -q "DomU: Bound local irq: [0-9]* to evtchn:[0-9]" "$tmp/out" || fail "no 'Bound local irq'"
    grep -q "DomU: Handled! irq: [0-9]*, evtchn:[0-9]* (round $2/$2)" "$tmp/out" || fail "no round $2"
    grep -q "pingpong: PASS $2 rounds ($3 ABI" "$tmp/out" || fail "guest did not pass on $3"
    grep -q "domain 'alice' (domid 1): shut down (poweroff)" "$tmp/err" || fail "no poweroff"
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
}

# hostile beside a ping-pong pair that must still finish; alice (victim=1)
# stays up until hostile says it is done with her (data/hostile-done).
hostile_beside_pingpong() {
    cfg alice "$pp" "role=alloc peer=2 rounds=3000 quiet waitkey=/local/domain/3/data/hostile-done $1"
    cfg bob "$pp" "role=bind peer=1 rounds=3000 quiet $1"
    cfg hostile "$hostile" "victim=1 $1"
    bounded "$xk" run "$tmp/alice.cfg" "$tmp/bob.cfg" "$tmp/hostile.cfg" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    arch_ok alice bob hostile
    grep -Eq "^alice: pingpong: /local/domain/3/data/hostile-done (appeared|came and went)" "$tmp/out" || fail "alice was not kept alive for hostile"
    grep -q "^alice: pingpong: PASS 3000 rounds" "$tmp/out" || fail "alice did not finish beside hostile"
    grep -q "^bob: pingpong: PASS 3000 rounds" "$tmp/out" || fail "bob did not finish beside hostile"
    summary=$(grep "^hostile: hostile: [0-9]* checks" "$tmp/out") || fail "hostile did not finish"
    grep "^hostile: FAIL" "$tmp/out"
    echo "$summary"
    echo "$summary" | grep -q " 0 failed$" || fail "hostile: errno checks failed (see FAIL lines above)"
    [ "$(grep -c '^hostile: ok:' "$tmp/out")" -ge 270 ] || fail "hostile ran fewer checks than expected"
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
}

# The runtime's own checks (IRQ layer rules and flows, XenStore client).
selftest() {
    bounded "$xk" run --name selftest --memory 16 --kernel "$selftest" --cmdline "$1 hostnow=$(date +%s)" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    arch_ok
    grep "FAIL" "$tmp/out"
    grep -q "^selftest: $2 ABI" "$tmp/out" || fail "not on the $2 ABI"
    grep -q "^selftest: [0-9]* checks, [0-9]* passed, 0 failed" "$tmp/out" || fail "selftest checks failed"
    [ "$(grep -c '^ok:' "$tmp/out")" -ge 60 ] || fail "fewer checks than expected"
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
}

# A second vCPU: VCPUOP_initialise/up/down/is_up and a poll woken by an IPI.
smp() {
    bounded "$xk" run --name smp --vcpus 2 --memory 16 --kernel "$smp" --cmdline "$1" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    arch_ok
    grep "FAIL" "$tmp/out"
    grep -q "^smp: [0-9]* checks, [0-9]* passed, 0 failed" "$tmp/out" || fail "smp checks failed"
    [ "$(grep -c '^ok:' "$tmp/out")" -ge 17 ] || fail "fewer checks than expected"
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
}

# Ctrl-C: xenkvm writes control/shutdown = poweroff; the runtime's watch
# sees it while the guest idles (a ping-pong peer that never comes).
shutdown_request() {
    # --foreground: only xenkvm gets the SIGINT; without it timeout also
    # signals its process group, and a xenkvm slow enough to have handled
    # the first SIGINT takes the second as a second Ctrl-C (destroy now).
    timeout --foreground --preserve-status -s INT 3 "$xk" run --name idle --memory 16 --kernel "$pp" \
        --cmdline "role=alloc peer=7 rounds=5" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    arch_ok
    grep -q "^DomU: published port" "$tmp/out" || fail "the guest did not get to idle"
    grep -q "^guest: control/shutdown: poweroff" "$tmp/out" || fail "the guest did not see control/shutdown"
    grep -q "domain 'idle' (domid 1): shut down (poweroff)" "$tmp/err" || fail "no clean poweroff"
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
}

# The VMM's XenStore socket (served on the dom0 services' event loop) as
# Debian's xenstore-utils see it while a guest idles: dom0's and the
# guest's nodes as xl writes them, and a write from the tool firing the
# guest's watch on its ring (control/shutdown), which powers it off.
store_socket() {
    command -v xenstore-read >/dev/null 2>&1 || { echo "SKIP: xenstore-utils not installed"; exit 77; }
    export XENSTORED_PATH="$tmp/xs.sock"
    "$xk" run --name idle --memory 16 --kernel "$pp" \
        --cmdline "role=alloc peer=7 rounds=5" >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    for i in $(seq 100); do
        grep -q "^DomU: published port" "$tmp/out" && break
        sleep 0.1
    done
    quit() { kill -INT $pid 2>/dev/null; wait $pid; fail "$@"; }
    grep -q "^DomU: published port" "$tmp/out" || quit "the guest did not get to idle"
    [ "$(timeout 5 xenstore-read /local/domain/0/name)" = Domain-0 ] || quit "xenstore-read /local/domain/0/name"
    [ "$(timeout 5 xenstore-read /local/domain/1/name)" = idle ] || quit "xenstore-read /local/domain/1/name"
    timeout 5 xenstore-ls /local/domain/1 >"$tmp/ls" || quit "xenstore-ls failed"
    grep -q "^ *ring-ref = " "$tmp/ls" || quit "no ring-ref in xenstore-ls: $(cat "$tmp/ls")"
    grep -q "^ *port = \"[1-9]" "$tmp/ls" || quit "no pingpong port in xenstore-ls: $(cat "$tmp/ls")"
    timeout 5 xenstore-write /local/domain/1/control/shutdown poweroff || quit "xenstore-write failed"
    for i in $(seq 100); do
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    kill -0 $pid 2>/dev/null && quit "the guest did not power off"
    wait $pid
    rc=$?
    arch_ok
    grep -q "^guest: control/shutdown: poweroff" "$tmp/out" || fail "the guest did not see control/shutdown"
    grep -q "domain 'idle' (domid 1): shut down (poweroff)" "$tmp/err" || fail "no clean poweroff"
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
}

case $t in
shutdown_request) shutdown_request ;;
store_socket)     store_socket ;;
smp_2l)           smp "evtchn=2l" ;;
smp_fifo)         smp "evtchn=fifo" ;;
selftest_2l)      selftest "evtchn=2l" 2-level ;;
selftest_fifo)    selftest "evtchn=fifo" FIFO ;;
pingpong_2l)      two_guest_pingpong "evtchn=2l" 50 2-level ;;
pingpong_fifo)    two_guest_pingpong "evtchn=fifo" 50 FIFO ;;
pingpong_legacy)  two_guest_pingpong "evtchn=fifo upcall=legacy" 20 FIFO ;;
pingpong_vcpuinfo) two_guest_pingpong "evtchn=2l vcpuinfo=register" 20 2-level ;;
pingpong_dom0_2l)   dom0_pingpong "evtchn=2l" 50 2-level ;;
pingpong_dom0_fifo) dom0_pingpong "evtchn=fifo" 50 FIFO ;;
hostile_2l)       hostile_beside_pingpong "evtchn=2l" ;;
hostile_fifo)     hostile_beside_pingpong "evtchn=fifo vcpuinfo=register" ;;
*) echo "unknown test $t"; exit 2 ;;
esac
echo "ok: $t"

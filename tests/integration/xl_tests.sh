#!/bin/sh
# The xl-style verbs against a running two-guest `xenkvm run`: list,
# console (output, detach with Ctrl-], a second attach refused), shutdown
# --wait of one while the other runs on, destroy, unknown domains and
# verbs, and the default control socket. The guests are guests/pingpong
# waiting for a peer that never comes (role=alloc peer=7/8): idle until
# asked to power off through control/shutdown. Attaching is driven through
# a pty (python3's pty module), as a terminal would.
# usage: xl_tests.sh TEST XENKVM PINGPONG_ELF
set -u
t=$1 xk=$2 pp=$3
tmp=$(mktemp -d)
pid=""
cleanup() {
    # $pid is timeout(1), which does not pass SIGKILL on: its xenkvm first
    # (a failed test left its run going)
    if [ -n "$pid" ]; then
        pkill -9 -P "$pid" 2>/dev/null
        kill -9 "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
export XENSTORED_PATH="$tmp/xs.sock"
unset XENKVM_CONTROL
ctl="$tmp/ctl.sock"

if [ ! -e /dev/kvm ]; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
fail() {
    echo "FAIL: $*"
    for f in out err cmd; do
        [ -f "$tmp/$f" ] && { echo "--- $f"; cat "$tmp/$f"; }
    done
    exit 1
}

# start [RUN OPTIONS]: alice (domid 1) and bob (domid 2), idle, in the
# background; returns once both wait for their peer.
start() {
    for g in alice:7 bob:8; do
        printf 'name = "%s"\nkernel = "%s"\nmemory = 16\ncmdline = "role=alloc peer=%s rounds=5"\n' \
            "${g%:*}" "$pp" "${g#*:}" > "$tmp/${g%:*}.cfg"
    done
    timeout 100 "$xk" run "$@" "$tmp/alice.cfg" "$tmp/bob.cfg" >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    i=0
    until [ "$(grep -c 'DomU: published port' "$tmp/out" 2>/dev/null)" = 2 ]; do
        i=$((i + 1)); [ $i -lt 600 ] || fail "the guests did not get to idle"
        kill -0 $pid 2>/dev/null || fail "xenkvm run ended early"
        sleep 0.1
    done
}

# finish: the run ends (every domain gone); $rc its exit status
finish() {
    wait $pid
    rc=$?
    pid=""
}

# cmd ARGS...: a xenkvm subcommand on our socket; $rc, output in $tmp/cmd
cmd() {
    verb=$1; shift
    "$xk" "$verb" --socket "$ctl" "$@" >"$tmp/cmd" 2>&1
    rc=$?
}

# attach DOMAIN SCRIPT: `xenkvm console DOMAIN` on a pty; SCRIPT is python
# run with `fd` (the pty's master), `out` (bytes read so far), `wait_for(s)`,
# `send(b)` and `wait_raw()`; then the console must end; prints its output.
attach() {
    python3 - "$xk" "$ctl" "$1" "$2" <<'PY'
import os, pty, select, sys, time
xk, sock, dom, script = sys.argv[1:5]
pid, fd = pty.fork()
if pid == 0:
    os.execv(xk, [xk, "console", "--socket", sock, dom])
out = bytearray()
def pump(t):
    r, _, _ = select.select([fd], [], [], t)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            return False
        if not data:
            return False
        out.extend(data)
    return True
def wait_for(s, limit=30):
    end = time.time() + limit
    while s.encode() not in out and time.time() < end:
        if not pump(0.1):
            break
    if s.encode() not in out:
        sys.exit("console never showed %r; got %r" % (s, bytes(out)))
def send(b):
    os.write(fd, b)
def wait_raw():
    # the console puts the terminal in raw mode once attached; a key sent
    # before would sit in the line discipline's cooked line
    import termios
    for i in range(300):
        if not termios.tcgetattr(fd)[3] & termios.ICANON:
            return
        time.sleep(0.1)
    sys.exit("the console never put the terminal in raw mode")
exec(script)
end = time.time() + 30
while time.time() < end:
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    pump(0.1)
else:
    sys.exit("the console did not end; got %r" % bytes(out))
sys.stdout.write(bytes(out).decode(errors="replace"))
print("\nconsole exit status:", os.waitstatus_to_exitcode(st))
PY
}

# Once the console is attached (it has put the terminal in raw mode), a
# second attach is refused.
second_refused='
import subprocess
wait_raw()
for i in range(300):
    p = subprocess.run([xk, "console", "--socket", sock, dom],
                       capture_output=True, stdin=subprocess.DEVNULL)
    if p.returncode == 1 and b"in use" in p.stderr:
        break
    time.sleep(0.1)
else:
    sys.exit("a second attach was not refused: %r" % p.stderr)
print("refused:", p.stderr.decode().strip())
'

case $t in
list)
    start --control "$ctl"
    cmd list
    [ $rc -eq 0 ] || fail "list: exit status $rc"
    head -1 "$tmp/cmd" | grep -q "^Name  *ID  *Mem VCPUs	State	Time(s)$" || fail "list: not xl's header"
    sed -n 2p "$tmp/cmd" | grep -Eq "^Domain-0 +0 +[0-9]+ +[0-9]+ +r----- +[0-9]+\.[0-9]$" || fail "list: Domain-0 not first"
    grep -Eq "^alice +1 +16 +1 +r----- +[0-9]+\.[0-9]$" "$tmp/cmd" || fail "list: alice"
    grep -Eq "^bob +2 +16 +1 +r----- +[0-9]+\.[0-9]$" "$tmp/cmd" || fail "list: bob"
    [ "$(wc -l < "$tmp/cmd")" -eq 4 ] || fail "list: not 4 lines"
    cmd list bob
    [ $rc -eq 0 ] && [ "$(wc -l < "$tmp/cmd")" -eq 2 ] && grep -q "^bob " "$tmp/cmd" || fail "list bob"
    cmd list 1
    [ $rc -eq 0 ] && grep -q "^alice " "$tmp/cmd" || fail "list 1"
    cmd shutdown alice; cmd shutdown bob
    finish
    [ $rc -eq 0 ] || fail "run: exit status $rc"
    ;;
console)
    # attach to alice, a second attach is refused; she is asked to power
    # off: her answer shows on the console, which ends with the domain
    start --control "$ctl"
    attach alice "$second_refused"'
subprocess.run([xk, "shutdown", "--socket", sock, dom], check=True)
wait_for("control/shutdown: poweroff")
' > "$tmp/cmd" 2>&1 || fail "console"
    grep -q "refused: xenkvm console: the console of alice is in use" "$tmp/cmd" || fail "no refusal"
    grep -q "guest: control/shutdown: poweroff" "$tmp/cmd" || fail "no guest output on the console"
    grep -q "^console exit status: 0$" "$tmp/cmd" || fail "console: exit status"
    # the console still logs to the run's output
    grep -q "^alice: guest: control/shutdown: poweroff" "$tmp/out" || fail "not in the log"
    cmd list
    grep -q "^bob .* r----- " "$tmp/cmd" || fail "bob is not running"
    cmd shutdown bob
    finish
    [ $rc -eq 0 ] || fail "run: exit status $rc"
    ;;
console_detach)
    # Ctrl-] detaches; the domain runs on and can be attached again
    start --control "$ctl"
    for i in 1 2; do
        attach bob "$second_refused"'
send(b"\x1d")
' > "$tmp/cmd" 2>&1 || fail "console detach $i"
        grep -q "^console exit status: 0$" "$tmp/cmd" || fail "detach $i: exit status"
        cmd list bob
        grep -q "^bob .* r----- " "$tmp/cmd" || fail "bob did not run on after detach $i"
    done
    cmd shutdown alice; cmd shutdown bob
    finish
    [ $rc -eq 0 ] || fail "run: exit status $rc"
    ;;
shutdown_wait)
    start --control "$ctl"
    cmd shutdown --wait alice
    [ $rc -eq 0 ] || fail "shutdown --wait: exit status $rc"
    grep -q "domain 'alice' (domid 1): shut down (poweroff)" "$tmp/err" || fail "alice did not end before --wait returned"
    cmd list
    ! grep -q "^alice " "$tmp/cmd" || fail "alice still listed"
    grep -Eq "^bob +2 .* r----- " "$tmp/cmd" || fail "bob is not running on"
    kill -0 $pid || fail "xenkvm run ended with bob running"
    cmd shutdown -w 2
    [ $rc -eq 0 ] || fail "shutdown -w 2: exit status $rc"
    finish
    [ $rc -eq 0 ] || fail "run: exit status $rc"
    ;;
wait_server_gone)
    # `xenkvm run` exits once its last domain has ended, possibly between
    # a --wait poll's connect and the answer: that counts as ended. A
    # stand-in server answers the shutdown, then takes each poll's
    # connection and closes it unread.
    python3 - "$ctl" > "$tmp/srv" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(8)
print("ready", flush=True)
c, _ = s.accept(); req = b""
while not req.endswith(b"\n"):
    chunk = c.recv(256)
    if not chunk:
        break
    req += chunk
c.sendall(b"ok\n"); c.close()
for _ in range(3):
    c, _ = s.accept(); c.close()
PY
    srv=$!
    i=0
    until grep -q ready "$tmp/srv" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || fail "stand-in server did not start"
        sleep 0.1
    done
    cmd shutdown --wait bob
    kill $srv 2>/dev/null
    [ $rc -eq 0 ] || fail "shutdown --wait with the server gone: exit status $rc"
    ;;
destroy)
    start --control "$ctl"
    cmd destroy bob
    [ $rc -eq 0 ] || fail "destroy: exit status $rc"
    i=0
    until grep -q "domain 'bob' (domid 2): destroyed" "$tmp/err"; do
        i=$((i + 1)); [ $i -lt 300 ] || fail "bob was not destroyed"
        sleep 0.1
    done
    cmd list
    ! grep -q "^bob " "$tmp/cmd" || fail "bob still listed"
    grep -q "^alice .* r----- " "$tmp/cmd" || fail "alice did not run on"
    cmd destroy alice
    finish       # ends when every domain has ended
    [ $rc -eq 130 ] || fail "run: exit status $rc, expected 130 (destroyed)"
    ;;
errors)
    start --control "$ctl"
    for v in "list carol" "console carol" "shutdown carol" "reboot carol" "destroy 9" "shutdown --wait 0"; do
        cmd $v
        [ $rc -eq 1 ] || fail "$v: exit status $rc, expected 1"
        grep -q "is an invalid domain identifier" "$tmp/cmd" || fail "$v: no xl error"
        [ "$(wc -l < "$tmp/cmd")" -eq 1 ] || fail "$v: not one line"
    done
    "$xk" frobnicate >"$tmp/cmd" 2>&1; rc=$?
    [ $rc -eq 2 ] && grep -q "unknown command 'frobnicate'" "$tmp/cmd" || fail "xenkvm frobnicate"
    # the server's own answer to an unknown verb lists the known ones
    python3 - "$ctl" >"$tmp/cmd" 2>&1 <<'PY' || fail "raw unknown verb"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"frobnicate now\n")
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
print(data.decode().strip())
PY
    grep -q "^error: unknown request 'frobnicate now' (known: list \[DOMAIN\], console DOMAIN, shutdown DOMAIN, reboot DOMAIN, block-detach DOMAIN VDEV, mem-set DOMAIN MIB, destroy DOMAIN, evtchn list \[DOMID\], irq list, irq raise LINE)$" "$tmp/cmd" ||
        fail "unknown verb"
    cmd list
    [ $rc -eq 0 ] || fail "the server did not go on"
    cmd shutdown alice; cmd shutdown bob
    finish
    [ $rc -eq 0 ] || fail "run: exit status $rc"
    ;;
mem_set)
    # xl mem-set's checks: the domain, the size, static-max (16 MiB here)
    start --control "$ctl"
    cmd mem-set carol 8
    [ $rc -eq 1 ] && grep -q "is an invalid domain identifier" "$tmp/cmd" || fail "mem-set carol"
    cmd mem-set alice lots
    [ $rc -eq 1 ] && grep -q "invalid memory size: lots" "$tmp/cmd" || fail "mem-set lots"
    cmd mem-set alice 17
    [ $rc -eq 1 ] && grep -q "memory_dynamic_max must be less than or equal to memory_static_max (16 MiB)" "$tmp/cmd" ||
        fail "mem-set above static-max"
    cmd mem-set alice 8
    [ $rc -eq 0 ] || fail "mem-set alice 8: exit status $rc"
    cmd shutdown alice; cmd shutdown bob
    finish
    [ $rc -eq 0 ] || fail "run: exit status $rc"
    ;;
default_socket)
    # no --control: $XDG_RUNTIME_DIR/xenkvm/control.sock, found by the
    # clients with no option; a second run finds it taken and says so
    export XDG_RUNTIME_DIR="$tmp/xdg"
    mkdir -m 700 "$XDG_RUNTIME_DIR"
    start
    [ -S "$tmp/xdg/xenkvm/control.sock" ] || fail "no socket at the default path"
    "$xk" list >"$tmp/cmd" 2>&1 || fail "list without --socket"
    grep -q "^alice " "$tmp/cmd" && grep -q "^bob " "$tmp/cmd" || fail "list without --socket"
    "$xk" run --name third --memory 16 --kernel "$pp" --cmdline "role=alloc peer=9 rounds=1" \
        >"$tmp/out3" 2>"$tmp/err3" &
    p3=$!
    i=0
    until grep -q "running without a control socket" "$tmp/err3"; do
        i=$((i + 1)); [ $i -lt 300 ] || { kill -9 $p3; fail "the second run did not say the socket is taken"; }
        sleep 0.1
    done
    "$xk" list >"$tmp/cmd" 2>&1
    ! grep -q "^third " "$tmp/cmd" || fail "the second run took the socket"
    kill -INT $p3; wait $p3
    "$xk" shutdown alice && "$xk" shutdown bob || fail "shutdown without --socket"
    finish
    [ $rc -eq 0 ] || fail "run: exit status $rc"
    [ ! -e "$tmp/xdg/xenkvm/control.sock" ] || fail "the socket was left behind"
    ;;
*) echo "unknown test $t"; exit 2 ;;
esac
echo "ok: $t"

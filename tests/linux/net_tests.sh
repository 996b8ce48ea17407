#!/bin/sh
# Debian's Linux on xenkvm's PV network (issue 12): xen-netfront (Debian's
# module) on netback. In the KVM box, as every Linux test (lib.sh). No
# traffic leaves this machine: the host side is its loopback or a network
# namespace the test makes.
#   user     a vif with no bridge (the in-process switch, user-mode
#            networking): Linux gets its address by DHCP, downloads a file
#            from an HTTP server the test runs on the host's loopback, and
#            serves one back through a port forward (hostfwd= in the
#            xl.cfg; a second forward from --hostfwd); the sums match. The
#            hostile network frontend (guests/netabuse) abuses netback in the
#            same run, and its own checks pass too.
#   pair     two Linux guests on the switch ping each other and move a
#            file each way
#   tap      a vif on a Linux bridge (TAP) in a network namespace made
#            here: Linux downloads from the bridge's address and serves
#            back to it
# usage: net_tests.sh TEST XENKVM NETABUSE_GUEST
set -u
t=${1:?usage: net_tests.sh TEST XENKVM NETABUSE_GUEST}
xk=${2:?usage: net_tests.sh TEST XENKVM NETABUSE_GUEST}
abuse=${3:?usage: net_tests.sh TEST XENKVM NETABUSE_GUEST}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

# tap: the whole test in a network namespace of its own (in the box)
if [ "$t" = tap ] && [ -n "${XENKVM_IN_BOX:-}" ] && [ -z "${XK_NETNS:-}" ]; then
    XK_NETNS=1 exec unshare -n "$0" "$@"
fi
. "$here/lib.sh"
XK_MODULES="xen-netfront" "$here/mkinitramfs.sh" "$tmp/initrd.gz" ||
    { echo "FAIL: initramfs"; exit 1; }
con="console=hvc0"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }
# free_port: a TCP port nobody listens on now
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# http_server DIR ADDR PORT: python3 -m http.server in the background
http_server() {
    (cd "$1" && exec python3 -m http.server --bind "$2" "$3") >"$tmp/http.log" 2>&1 &
    i=0
    until python3 -c "import socket,sys; socket.create_connection(('$2', $3), 1)" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 600 ] || fail "the host's HTTP server did not start"
        sleep 0.1
    done
}
# get URL FILE: fetch from the host side (python: no curl in the box)
get() {
    python3 -c "import sys, urllib.request; open(sys.argv[2], 'wb').write(urllib.request.urlopen(sys.argv[1], timeout=60).read())" "$1" "$2"
}
# from_guest OUT URLBASE FILE: wait for the guest's "serving SHA", fetch its
# /f into FILE and compare
from_guest() {
    wait_for "$1" "xk: net serving" 300 || fail "the guest never served its file"
    want=$(sed -n 's/.*xk: net serving \([0-9a-f]*\).*/\1/p' "$1" | head -n 1)
    get "$2/f" "$3" || fail "cannot fetch $2/f from the guest"
    [ "$(sha_of "$3")" = "$want" ] || fail "the file fetched from the guest at $2 differs from what it served"
    echo "fetched $(wc -c < "$3") bytes from the guest at $2, sum matches"
}
# served URLBASE: ask the guest's /done, so it goes on
served() {
    get "$1/done" "$tmp/done" 2>/dev/null || true
}
# fetched_ok OUT FILE: the guest printed FILE's sum as fetched
fetched_ok() {
    grep -q "xk: net fetched $(sha_of "$2") $(wc -c < "$2")" "$1" ||
        fail "the guest did not fetch $2 intact: $(grep 'xk: net fetch' "$1")"
}

mkdir -p "$tmp/www"
head -c 1048576 /dev/urandom > "$tmp/www/host.bin"

case "$t" in
user)
    hp=$(free_port)
    fw1=$(free_port)
    fw2=$(free_port)
    http_server "$tmp/www" 127.0.0.1 "$hp"
    linux_cfg "$tmp/lin.cfg" lin 256 2 \
        "$con xk.net=up,dhcp,fetch=http://10.0.2.2:$hp/host.bin,serve=768" \
        "vif = [ 'mac=00:16:3e:5e:00:01, hostfwd=tcp:127.0.0.1:$fw1-:80' ]"
    printf 'name = "netabuse"\nkernel = "%s"\nmemory = 16\ncmdline = "mode=hostile"\nvif = [ "mac=00:16:3e:5e:00:02" ]\n' \
        "$abuse" > "$tmp/abuse.cfg"
    run_linux "$tmp/lin.cfg" "$tmp/abuse.cfg" --hostfwd "tcp:127.0.0.1:$fw2-:80" &
    pid=$!
    wait_for "$tmp/g.out" "xk: net ip" 300 || { kill $pid; fail "no DHCP address"; }
    grep -q "xk: net ip 10.0.2.1[5-9]/24 gw 10.0.2.2 dns 10.0.2.3" "$tmp/g.out" ||
        { kill $pid; fail "unexpected DHCP lease: $(grep 'xk: net ip' "$tmp/g.out")"; }
    from_guest "$tmp/g.out" "http://127.0.0.1:$fw1" "$tmp/from-guest"
    # the --hostfwd rule reaches the same guest (its first vif)
    from_guest "$tmp/g.out" "http://127.0.0.1:$fw2" "$tmp/from-guest2"
    served "http://127.0.0.1:$fw1"
    wait $pid
    rc=$?
    fetched_ok "$tmp/g.out" "$tmp/www/host.bin"
    grep -q "netabuse: [0-9]* checks, [0-9]* passed, 0 failed" "$tmp/g.out" ||
        fail "netabuse's checks failed"
    check_poweroff
    grep "netback" "$tmp/err"
    ;;
pair)
    linux_cfg "$tmp/a.cfg" la 256 1 "$con xk.net=up,static=10.0.2.101/24,pair=10.0.2.102" \
        "vif = [ 'mac=00:16:3e:5e:00:0a' ]"
    linux_cfg "$tmp/b.cfg" lb 256 1 "$con xk.net=up,static=10.0.2.102/24,pair=10.0.2.101" \
        "vif = [ 'mac=00:16:3e:5e:00:0b' ]"
    run_linux "$tmp/a.cfg" "$tmp/b.cfg"
    for g in la lb; do
        grep -q "$g: xk: net ping 10.0.2.10[12] ok" "$tmp/g.out" || fail "$g could not ping its peer"
        grep -q "$g: xk: net served" "$tmp/g.out" || fail "$g's file was never fetched"
    done
    sa=$(sed -n 's/.*la: xk: net serving \([0-9a-f]*\).*/\1/p' "$tmp/g.out")
    sb=$(sed -n 's/.*lb: xk: net serving \([0-9a-f]*\).*/\1/p' "$tmp/g.out")
    grep -q "lb: xk: net fetched $sa 524288" "$tmp/g.out" || fail "lb did not get la's file intact"
    grep -q "la: xk: net fetched $sb 524288" "$tmp/g.out" || fail "la did not get lb's file intact"
    echo "la -> lb and lb -> la: 512 KiB each, sums match"
    check_poweroff
    grep "netback" "$tmp/err"
    ;;
tap)
    # In our own network namespace (above): a bridge with the host's
    # address, the HTTP server on it, xenkvm's TAP device attached to it.
    ip link set lo up
    ip link add xkbr0 type bridge || fail "cannot make a bridge"
    ip addr add 192.168.77.1/24 dev xkbr0
    ip link set xkbr0 up
    http_server "$tmp/www" 192.168.77.1 8000
    linux_cfg "$tmp/lin.cfg" lin 256 1 \
        "$con xk.net=up,static=192.168.77.2/24,ping=192.168.77.1,fetch=http://192.168.77.1:8000/host.bin,serve=768" \
        "vif = [ 'mac=00:16:3e:5e:00:21, bridge=xkbr0' ]"
    run_linux "$tmp/lin.cfg" &
    pid=$!
    from_guest "$tmp/g.out" "http://192.168.77.2" "$tmp/from-guest"
    served "http://192.168.77.2"
    wait $pid
    rc=$?
    grep -q "xk: net ping 192.168.77.1 ok" "$tmp/g.out" || fail "the guest could not ping the bridge"
    fetched_ok "$tmp/g.out" "$tmp/www/host.bin"
    check_poweroff
    grep "netback" "$tmp/err"
    # the TAP device went with the domain
    ! ip link show vif1.0 >/dev/null 2>&1 || fail "vif1.0 is still there"
    ;;
*)
    echo "usage: net_tests.sh user|pair|tap XENKVM NETABUSE_GUEST"; exit 2;;
esac
echo "PASS: linux_net_$t"

#!/bin/busybox sh
# /bin/xknet STEP (tests/linux/mkinitramfs.sh puts it there; init.sh runs
# each step of xk.net=STEP,STEP,... in order): one step of a network test
# (tests/linux/net_tests.sh, bench/net.sh), on eth0 (Debian's
# xen-netfront), printing "xk: net ..." lines the host checks.
#   up            wait for eth0 and bring it up ("xk: net up MAC")
#   dhcp          udhcpc on eth0 ("xk: net ip ADDR/BITS gw GW dns DNS")
#   static=A/B    address A/B on eth0, no gateway
#   fetch=URL     wget URL ("xk: net fetched SHA256 BYTES")
#   serve=KIB     a random file of KIB KiB as http://ADDR/f (busybox httpd
#                 on port 80: "xk: net serving SHA256"), until someone
#                 asks for /done ("xk: net served")
#   ping=IP       ping IP ("xk: net ping IP ok" or "... fail")
#   pair=IP       serve 512 KiB, fetch the peer IP's, ask its /done, wait
#                 for ours: both guests of a pair run it
#   iperf         iperf3 -s for one client at a time until /done is asked
#                 (bench/net.sh drives it from the host)
#   wait=SECS     sleep
# XK_BINS programs keep their host paths (/usr/bin/iperf3)
export PATH=/bin:/usr/bin
step=$1
arg=${step#*=}
say() { echo "xk: net $*"; }
# until_ok N CMD...: retry CMD once a second, at most N times
until_ok() {
    n=$1; shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt "$n" ] || return 1
        sleep 1
    done
}
serve_file() {
    mkdir -p /www
    dd if=/dev/urandom of=/www/f bs=1024 count="$1" 2>/dev/null
    say "serving $(sha256sum /www/f | cut -d' ' -f1)"
    httpd -f -vv -p 80 -h /www 2>/tmp/httpd.log &
}
wait_done() {
    until grep -q 'url:/done' /tmp/httpd.log 2>/dev/null; do sleep 0.5; done
    say served
}
fetch() {
    rm -f /tmp/fetched
    # (busybox 1.35's wget -T crashes: timeout(1) bounds it instead)
    if until_ok 60 timeout 60 wget -q -O /tmp/fetched "$1"; then
        say "fetched $(sha256sum /tmp/fetched | cut -d' ' -f1) $(wc -c < /tmp/fetched)"
    else
        say "fetch-failed $1"
    fi
}
case "$step" in
up)
    i=0
    until [ -e /sys/class/net/eth0 ]; do
        i=$((i + 1)); [ $i -lt 600 ] || { say "no eth0"; exit 1; }
        sleep 0.1
    done
    ip link set lo up
    ip link set eth0 up
    say "up $(cat /sys/class/net/eth0/address)";;
dhcp)
    cat > /tmp/udhcpc.sh <<'EOS'
#!/bin/busybox sh
case "$1" in bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    echo "xk: net ip $ip/${mask:-24} gw ${router%% *} dns $dns";;
esac
EOS
    chmod 755 /tmp/udhcpc.sh
    mkdir -p /etc
    # its script's "xk: net ip" line is what the host reads
    udhcpc -i eth0 -s /tmp/udhcpc.sh -q -n -t 20 -T 2 2>/dev/null | grep '^xk: ' ||
        say "dhcp-failed";;
static=*)
    ip addr add "$arg" dev eth0 && say "ip $arg";;
fetch=*)
    fetch "$arg";;
serve=*)
    serve_file "$arg"
    wait_done;;
ping=*)
    if until_ok 60 ping -c 1 -W 2 "$arg"; then
        say "ping $arg ok $(ping -c 3 -W 2 "$arg" | grep -c 'bytes from')"
    else
        say "ping $arg fail"
    fi;;
pair=*)
    serve_file 512
    if until_ok 120 ping -c 1 -W 2 "$arg"; then say "ping $arg ok"; else say "ping $arg fail"; fi
    fetch "http://$arg/f"
    until_ok 60 timeout 20 wget -q -O /dev/null "http://$arg/done"
    wait_done;;
iperf)
    mkdir -p /www
    httpd -f -vv -p 80 -h /www 2>/tmp/httpd.log &
    iperf3 -s -D -I /tmp/iperf.pid --logfile /tmp/iperf.log || say "iperf3-failed $(cat /tmp/iperf.log 2>/dev/null)"
    # listening on 5201 (0x1451, state 0A) before the host is told
    i=0
    until grep -q ':1451 00000000:0000 0A' /proc/net/tcp /proc/net/tcp6 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 300 ] || break
        sleep 0.1
    done
    say "iperf ready"
    wait_done;;
wait=*)
    sleep "$arg";;
*)
    say "unknown step $step"; exit 1;;
esac

#!/bin/bash
# net: TCP throughput and small-packet rate of Debian's Linux
# (xen-netfront) on xenkvm's netback, with iperf3 (Debian's, in the
# guest's initramfs), beside a veth pair between two network namespaces
# of the same machine in the same run (the ratio's baseline):
#   veth      iperf3 between two namespaces (the baseline)
#   user      the guest on the in-process switch with user-mode networking
#             (libslirp), reached through a port forward on the loopback
#   tap       the guest on a Linux bridge through a TAP device (2 vCPUs:
#             2 queues)
#   tap-1q    the same with one queue (xen-netfront max_queues=1)
#   tap-nogso the same with netback offering no GSO (XENKVM_NETBACK_NO_GSO=1)
# Each: TCP host->guest and guest->host (iperf3 -R), Gbit/s, and UDP with
# 64-byte datagrams, packets/s received. Prints each figure beside the
# baseline and the ratio; asserts nothing.
#
# Where: in the KVM box, as every Linux test (tests/linux/lib.sh says why),
# in a network namespace of its own: no traffic leaves the box.
# usage: bench/net.sh [BUILDDIR]      (default: build)
# Settings: BENCH_NET_SECS (each iperf3 run, default 3).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=$(cd "${1:-$root/build}" && pwd) || { echo "net: no build dir"; exit 1; }
if [ -z "${XENKVM_IN_BOX:-}" ]; then
    exec "$root/scripts/kvmbox" -- "$0" "$bdir"
fi
if [ -z "${XK_NETNS:-}" ]; then
    XK_NETNS=1 exec unshare -n "$0" "$bdir"
fi
xk=$bdir/src/cli/xenkvm
secs=${BENCH_NET_SECS:-3}
command -v iperf3 >/dev/null || { echo "net: iperf3 missing (scripts/setup.sh)"; exit 1; }
[ -x "$xk" ] || { echo "net: $xk missing (ninja -C $bdir)"; exit 1; }
kernel=$("$root/scripts/debian-kernel") || { echo "net: no Debian kernel"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; ip netns del xkA 2>/dev/null; ip netns del xkB 2>/dev/null; rm -rf "$tmp"' EXIT
XK_MODULES="xen-netfront" XK_BINS="$(command -v iperf3)" \
    "$root/tests/linux/mkinitramfs.sh" "$tmp/initrd.gz" || { echo "net: initramfs failed"; exit 1; }
ip link set lo up

# iperf RUN TARGET PORT: the three figures of one run into $tmp/RUN
# (TCP in, TCP out, UDP packets/s), the client here (or in $client, a
# prefix such as "ip netns exec xkA") against a server at TARGET:PORT
# shellcheck disable=SC2016
py_figure='import json, sys
try:
    j = json.load(sys.stdin)
except Exception:
    print(0); sys.exit()
if "error" in j:
    sys.stderr.write("net: iperf3 %s: %s\n" % (sys.argv[1] or "tcp", j["error"]))
    print(0); sys.exit()
e = j["end"]
if "-u" in sys.argv[1]:
    s = e["sum"]
    print("%.0f" % ((s["packets"] - s["lost_packets"]) / s["seconds"]))
else:
    print("%.3f" % (e["sum_received"]["bits_per_second"] / 1e9))'
iperf() {
    local j
    for mode in "" "-R" "-u -b 0 -l 64"; do
        # shellcheck disable=SC2086
        # bounded: a server that stops answering (a guest gone) would keep
        # the client waiting for TCP's retransmissions, many minutes
        j=$(timeout $((secs + 60)) $client iperf3 -c "$2" -p "$3" -t "$secs" -J $mode 2>/dev/null)
        echo "net: $1 iperf3 ${mode:-(TCP)}: status $? at $(date +%T)" >&2
        python3 -c "$py_figure" "$mode" <<<"$j"
    done > "$tmp/$1"
}

# The baseline: a veth pair between two namespaces.
ip netns add xkA && ip netns add xkB || { echo "net: cannot make namespaces"; exit 1; }
ip link add xkva netns xkA type veth peer name xkvb netns xkB
ip -n xkA addr add 192.168.78.1/24 dev xkva
ip -n xkB addr add 192.168.78.2/24 dev xkvb
ip -n xkA link set xkva up; ip -n xkB link set xkvb up
ip -n xkA link set lo up; ip -n xkB link set lo up
ip netns exec xkB iperf3 -s -D -p 5201
# iperf3 takes seconds to start under the box's TCG: wait until it
# listens (a probe connection would upset its one control connection)
for _ in $(seq 100); do
    ip netns exec xkB ss -ltn | grep -q ':5201 ' && break
    sleep 0.3
done
client="ip netns exec xkA"
iperf veth 192.168.78.2 5201

# guest RUN VIF EXTRA ENV: boot a guest running iperf3 -s, measure, stop it
guest() {
    local run=$1 vif=$2 extra=$3 envs=$4 target port
    printf 'name="net"\nkernel="%s"\nramdisk="%s"\nmemory=256\nvcpus=2\nextra="console=hvc0 %s"\nvif = [ "%s" ]\n' \
        "$kernel" "$tmp/initrd.gz" "$extra" "$vif" > "$tmp/g.cfg"
    # shellcheck disable=SC2086
    env $envs XENKVM_CONTROL="$tmp/ctl.sock" XENSTORED_PATH="$tmp/xs.sock" \
        timeout 900 "$xk" run "$tmp/g.cfg" >"$tmp/$run.out" 2>"$tmp/$run.err" &
    local pid=$!
    for _ in $(seq 600); do grep -q 'xk: net iperf ready' "$tmp/$run.out" && break; sleep 0.5; done
    grep -q 'xk: net iperf ready' "$tmp/$run.out" ||
        { echo "net: guest run $run failed"; cat "$tmp/$run.out" "$tmp/$run.err"; exit 1; }
    case "$vif" in *bridge=*) target=192.168.77.2 port=5201;; *) target=127.0.0.1 port=$fwd;; esac
    client="" iperf "$run" "$target" "$port"
    grep -qx '0' "$tmp/$run" && { echo "net: $run: a figure is missing; the run's log and console:"; grep -v 'port 0x' "$tmp/$run.err" | tail -n 5; tail -n 15 "$tmp/$run.out"; }
    python3 -c "import urllib.request; urllib.request.urlopen('http://$target:${web:-80}/done', timeout=30)" 2>/dev/null
    wait $pid
}

fwd=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
web=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
web=$web guest user "mac=00:16:3e:be:00:01, hostfwd=tcp:127.0.0.1:$fwd-:5201, hostfwd=udp:127.0.0.1:$fwd-:5201, hostfwd=tcp:127.0.0.1:$web-:80" \
    "xk.net=up,dhcp,iperf" ""
web=
ip link add xkbr0 type bridge && ip addr add 192.168.77.1/24 dev xkbr0 && ip link set xkbr0 up ||
    { echo "net: cannot make a bridge"; exit 1; }
tapvif="mac=00:16:3e:be:00:02, bridge=xkbr0"
tapnet="xk.net=up,static=192.168.77.2/24,iperf"
guest tap "$tapvif" "$tapnet" ""
guest tap-1q "$tapvif" "$tapnet xk.mod.xen-netfront=max_queues=1" ""
guest tap-nogso "$tapvif" "$tapnet" "XENKVM_NETBACK_NO_GSO=1"

grep 'netback' "$tmp/tap.err" | sed 's/^/  /'
printf '%-10s %-22s %10s %10s %8s\n' run figure guest veth ratio
for r in user tap tap-1q tap-nogso; do
    i=0
    for f in "TCP host->guest Gb/s" "TCP guest->host Gb/s" "UDP 64 B packets/s"; do
        i=$((i + 1))
        g=$(sed -n "${i}p" "$tmp/$r") b=$(sed -n "${i}p" "$tmp/veth")
        printf '%-10s %-22s %10s %10s %8s\n' "$r" "$f" "$g" "$b" \
            "$(python3 -c "print('%.3f' % ($g / $b) if $b else 'n/a')")"
    done
done

#!/bin/sh
# Two guests share one level-triggered host line; `xenkvm irq list` shows it
# live (README: "Host interrupts in running guests").
# usage: scripts/irq_demo.sh [BUILD_DIR]   (default: build)
set -eu
b=${1:-build}
xk=$b/src/cli/xenkvm
g=$(realpath "$b/guests/guest-pirq")
[ -x "$xk" ] && [ -f "$g" ] || { echo "build first: meson setup $b && ninja -C $b"; exit 2; }
[ -e /dev/kvm ] || { echo "SKIP: /dev/kvm not available"; exit 0; }
d=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$d"' EXIT INT TERM
export XENSTORED_PATH=$d/xenstored.sock
cat > "$d/host.cfg" <<CFG
line = [ "7=timerfd:2ms,level",   # a level line that is asserted every 2 ms
         "8=timerfd:1ms,edge" ]   # the guests' clock
CFG
# bob binds first; alice holds each EOI for 200 ticks: the line stays in flight (masked at
# the source) until she is done, whatever bob does
cat > "$d/alice.cfg" <<CFG
name = "alice"
kernel = "$g"
memory = 16
cmdline = "gsi=7 share=1 count=10 hold=200 tick=8 waitdom=2"
irqs = [ 7, 8 ]
CFG
cat > "$d/bob.cfg" <<CFG
name = "bob"
kernel = "$g"
memory = 16
cmdline = "gsi=7 share=1 count=30 tick=8 publish=1"
irqs = [ 7, 8 ]
CFG
"$xk" run --irq-config "$d/host.cfg" --control "$d/ctl.sock" \
    --console-log "$d/console.log" "$d/alice.cfg" "$d/bob.cfg" &
pid=$!
sleep 1
"$xk" evtchn list --socket "$d/ctl.sock" || true
while kill -0 $pid 2>/dev/null; do
    echo "--- $(date +%T.%N | cut -c1-12)"
    "$xk" irq list --socket "$d/ctl.sock" 2>/dev/null | awk 'NR == 1 || $1 == 7' || true
    sleep 0.5
done
wait $pid || true
echo "--- guest consoles"
grep "pirq:" "$d/console.log"

#!/bin/bash
# XenStore benchmark (issue 3 section 5): the same measurements against
#   xenkvm      `xenkvm xenstored --socket ...`             (ours)
#   C xenstored Xen's daemon from Debian xen-utils-4.17, run alone through
#               the LD_PRELOAD library bench/xs_preload.c     (baseline)
#   redis       Debian redis-server on a Unix socket, redis-benchmark -c 1
#               -P 1 GET and SET                              (baseline)
# all in this one run, then a table of ratios (xenkvm / baseline; lower is
# better). Nothing here asserts a time.
#
# Measurements:
#   test-xenstore -i 200   Xen's own test program: avg ns of each test
#   READ, WRITE            single-client round trip (bench/xs_bench.c, raw
#                          xs_wire over the socket), ns/op
#   transaction            START + READ + WRITE + END(commit), ns/tx and tx/s
#   fan-out                1000 watches on one node over 10 connections, one
#                          WRITE: time until the last event is read (median)
#
# Usage (from the source tree, after `ninja -C build`):
#   bench/xenstore.sh [--build DIR] [--xenkvm PATH] [--preload SO]
#                     [--xs-bench PATH] [--quick]
# `make bench` runs it through build/bench/bench_xenstore.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=$src/build
xenkvm= preload= xsbench= quick=0
while [ $# -gt 0 ]; do
    case "$1" in
    --build)    build=$2; shift 2 ;;
    --xenkvm)   xenkvm=$2; shift 2 ;;
    --preload)  preload=$2; shift 2 ;;
    --xs-bench) xsbench=$2; shift 2 ;;
    --quick)    quick=1; shift ;;
    -h|--help)  sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "bench/xenstore.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
xenkvm=${xenkvm:-$build/src/cli/xenkvm}
preload=${preload:-$build/tests/conformance/xs_preload.so}
xsbench=${xsbench:-$build/bench/xs_bench}
TX=/usr/lib/xen-4.17/bin/test-xenstore

if [ $quick = 1 ]; then
    N_RT=2000 N_TX=500 ITERS=20 ROUNDS=5 N_REDIS=5000
else
    N_RT=20000 N_TX=5000 ITERS=200 ROUNDS=31 N_REDIS=50000
fi

. "$src/tests/conformance/xs_daemon.sh"
[ -x "$xsbench" ] || { echo "bench/xenstore.sh: $xsbench not built (ninja -C $build)" >&2; exit 1; }

declare -A R   # R[daemon,metric] = ns

# measure DAEMON: every XenStore measurement against the running daemon.
measure() {
    local d=$1 line name v
    if [ -x "$TX" ]; then
        while IFS= read -r line; do
            # "read 1    : avg: 38170 ns (26410 ns .. 80269 ns)"
            name=${line:0:10}
            name=${name%% }
            name=$(printf '%s' "$name" | sed 's/ *$//')
            v=$(printf '%s' "$line" | sed -n 's/.*avg: \([0-9]*\) ns.*/\1/p')
            [ -n "$v" ] && R[$d,tx:$name]=$v
        done < <("$TX" -i "$ITERS" 2>&1)
    fi
    for m in read write; do
        v=$("$xsbench" $m "$N_RT" | sed -n "s/^${m}_ns //p")
        R[$d,$m]=$v
    done
    R[$d,tx]=$("$xsbench" tx "$N_TX" | sed -n 's/^tx_ns //p')
    R[$d,fanout]=$("$xsbench" fanout 1000 10 "$ROUNDS" | sed -n 's/^fanout_ns //p')
}

run_daemon() { # run_daemon NAME --xenkvm|--cxenstored ARG
    local d=$1
    XS_KIND= XS_DAEMON_ARG=
    case "$2" in
    --xenkvm)     [ -x "$3" ] || { echo "# $d: $3 not built, skipped"; return; } ;;
    --cxenstored) [ -f "$3" ] && [ -x "$XS_C_XENSTORED" ] ||
                      { echo "# $d: needs $3 and $XS_C_XENSTORED, skipped"; return; } ;;
    esac
    xs_parse_daemon_args "$2" "$3"
    (
        xs_start
        measure "$d"
        for k in "${!R[@]}"; do printf '%s=%s\n' "$k" "${R[$k]}"; done
    ) > "$tmp/$d.out" || { echo "# $d: failed"; cat "$tmp/$d.out"; return; }
    while IFS='=' read -r k v; do R[$k]=$v; done < <(grep -E '^[a-z]+,' "$tmp/$d.out")
    echo "# $d: measured"
}

run_redis() {
    command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
        { echo "# redis: redis-server/redis-benchmark not installed, skipped"; return; }
    local sock=$tmp/redis.sock pid i line
    redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no \
        --daemonize no >"$tmp/redis.log" 2>&1 &
    pid=$!
    for i in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
    while IFS= read -r line; do
        # "SET: 20304.57 requests per second, p50=0.047 msec"
        case "$line" in
        SET:*per\ second*) R[redis,write]=$(echo "$line" | awk '{printf "%d", 1e9 / $2}') ;;
        GET:*per\ second*) R[redis,read]=$(echo "$line" | awk '{printf "%d", 1e9 / $2}') ;;
        esac
    done < <(redis-benchmark -s "$sock" -c 1 -P 1 -n "$N_REDIS" -t set,get -q 2>/dev/null | tr '\r' '\n')
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "# redis: measured"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/xsbench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "XenStore benchmark: xenkvm vs Xen's C xenstored vs redis (this machine, this run)"
run_daemon xenkvm --xenkvm "$xenkvm"
run_daemon cxs --cxenstored "$preload"
run_redis

ratio() { # ratio A B -> "A/B" with 2 decimals, or "-"
    if [ -n "${1:-}" ] && [ -n "${2:-}" ] && [ "${2:-0}" != 0 ]; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
    else
        printf -- '-'
    fi
}
val() { printf '%s' "${R[$1]:--}"; }

row() { # row LABEL KEY TARGET
    local x c r
    x=$(val "xenkvm,$2"); c=$(val "cxs,$2"); r=$(val "redis,$2")
    printf '%-34s %12s %12s %8s %8s %12s %8s\n' "$1" "$x" "$c" \
        "$(ratio "${R[xenkvm,$2]:-}" "${R[cxs,$2]:-}")" "$3" "$r" \
        "$(ratio "${R[xenkvm,$2]:-}" "${R[redis,$2]:-}")"
}

echo
printf '%-34s %12s %12s %8s %8s %12s %8s\n' "ns per operation" xenkvm C-xenstored \
    "x/C" "target" redis "x/redis"
printf '%s\n' "-------------------------------------------------------------------------------------------------"
if [ -x "$TX" ]; then
    "$TX" -l | cut -c1-10 | sed 's/ *$//' | while IFS= read -r t; do
        case "$t" in
        ta*) tgt="<=0.50" ;;
        *)   tgt="<=0.80" ;;
        esac
        row "test-xenstore -i $ITERS: $t" "tx:$t" "$tgt"
    done
fi
row "READ round trip" read "-"
row "WRITE round trip" write "-"
row "transaction (START..END)" tx "<=0.50"
row "fan-out, 1000 watches" fanout "<1e7 ns"
echo
for d in xenkvm cxs; do
    if [ -n "${R[$d,tx]:-}" ]; then
        printf '%-12s transactions per second: %s\n' "$d" \
            "$(awk -v n="${R[$d,tx]}" 'BEGIN { printf "%.0f", 1e9 / n }')"
    fi
done
echo "(x/C and x/redis: xenkvm time / baseline time, lower is better; redis rows are"
echo " redis-benchmark -c 1 -P 1 GET (READ) and SET (WRITE); targets are issue 3's, not asserted)"

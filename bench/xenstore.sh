#!/bin/bash
# XenStore benchmark (issue 3 section 5): the same measurements against
#   xenkvm      `xenkvm xenstored --socket ...`             (ours)
#   C xenstored Xen's daemon from Debian xen-utils-4.17, run alone through
#               the LD_PRELOAD library bench/xs_preload.c     (baseline)
#   redis       Debian redis-server on a Unix socket, redis-benchmark -c 1
#               -P 1 GET and SET                              (baseline)
# all in this one run, then a table of ratios (xenkvm / baseline; lower is
# better). The three servers run side by side and the measurements are
# interleaved (5 rounds, each measuring every server; the table shows the
# median), so load drift on a shared machine hits all of them alike.
# Nothing here asserts a time.
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
    REPS=1 N_RT=2000 N_TX=500 ITERS=20 ROUNDS=5 N_REDIS=5000
else
    REPS=5 N_RT=5000 N_TX=1000 ITERS=200 ROUNDS=21 N_REDIS=10000
fi

XS_C_XENSTORED=${XS_C_XENSTORED:-/usr/lib/xen-4.17/bin/xenstored}
[ -x "$xsbench" ] || { echo "bench/xenstore.sh: $xsbench not built (ninja -C $build)" >&2; exit 1; }

# The machine is shared and its load drifts, so all three servers run at
# once and the measurements are interleaved: REPS rounds, each measuring
# every server in turn; the table shows the median of the rounds.
declare -A S   # S[server,metric] = "v1 v2 ..." (ns per operation)
declare -A R   # R[server,metric] = median of S
pids=()

tmp=$(mktemp -d "${TMPDIR:-/tmp}/xsbench.XXXXXX")
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_socket() { # wait_socket PATH PID
    local i
    for i in $(seq 200); do
        [ -S "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

servers=()
start_servers() {
    local pid
    if [ -x "$xenkvm" ]; then
        mkdir -p "$tmp/xenkvm"
        "$xenkvm" xenstored --socket "$tmp/xenkvm/socket" >"$tmp/xenkvm/log" 2>&1 &
        pid=$!; pids+=("$pid")
        if wait_socket "$tmp/xenkvm/socket" "$pid"; then servers+=(xenkvm)
        else echo "# xenkvm: daemon did not start:"; cat "$tmp/xenkvm/log"; fi
    else
        echo "# xenkvm: $xenkvm not built, skipped"
    fi
    if [ -f "$preload" ] && [ -x "$XS_C_XENSTORED" ]; then
        mkdir -p "$tmp/cxs"
        env XENSTORED_RUNDIR="$tmp/cxs" XS_PRELOAD_DIR="$tmp/cxs" LD_PRELOAD="$preload" \
            "$XS_C_XENSTORED" -N >"$tmp/cxs/log" 2>&1 &
        pid=$!; pids+=("$pid")
        if wait_socket "$tmp/cxs/socket" "$pid"; then servers+=(cxs)
        else echo "# C xenstored: did not start:"; cat "$tmp/cxs/log"; fi
    else
        echo "# C xenstored: needs $preload and $XS_C_XENSTORED, skipped"
    fi
    if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
        redis-server --port 0 --unixsocket "$tmp/redis.sock" --save '' --appendonly no \
            --daemonize no >"$tmp/redis.log" 2>&1 &
        pid=$!; pids+=("$pid")
        if wait_socket "$tmp/redis.sock" "$pid"; then servers+=(redis)
        else echo "# redis: did not start"; fi
    else
        echo "# redis: redis-server/redis-benchmark not installed, skipped"
    fi
}

add() { S[$1,$2]="${S[$1,$2]:-} $3"; }

# measure_xs SERVER: one round of every XenStore measurement.
measure_xs() {
    local d=$1 line name v m
    export XENSTORED_PATH=$tmp/$d/socket
    if [ -x "$TX" ]; then
        while IFS= read -r line; do
            # "read 1    : avg: 38170 ns (26410 ns .. 80269 ns)"
            name=$(printf '%s' "${line:0:10}" | sed 's/ *$//')
            v=$(printf '%s' "$line" | sed -n 's/.*avg: \([0-9]*\) ns.*/\1/p')
            [ -n "$v" ] && add "$d" "tx:$name" "$v"
        done < <("$TX" -i "$ITERS" 2>&1)
    fi
    for m in read write tx; do
        v=$("$xsbench" $m "$([ $m = tx ] && echo "$N_TX" || echo "$N_RT")" | sed -n "s/^${m}_ns //p")
        [ -n "$v" ] && add "$d" "$m" "$v"
    done
    v=$("$xsbench" fanout 1000 10 "$ROUNDS" | sed -n 's/^fanout_ns //p')
    [ -n "$v" ] && add "$d" fanout "$v"
}

measure_redis() {
    local line
    while IFS= read -r line; do
        # "SET: 20304.57 requests per second, p50=0.047 msec"
        case "$line" in
        SET:*per\ second*) add redis write "$(echo "$line" | awk '{printf "%d", 1e9 / $2}')" ;;
        GET:*per\ second*) add redis read "$(echo "$line" | awk '{printf "%d", 1e9 / $2}')" ;;
        esac
    done < <(redis-benchmark -s "$tmp/redis.sock" -c 1 -P 1 -n "$N_REDIS" -t set,get -q \
                 2>/dev/null | tr '\r' '\n')
}

median() { printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

echo "XenStore benchmark: xenkvm vs Xen's C xenstored vs redis (this machine, this run)"
start_servers
for r in $(seq "$REPS"); do
    for d in "${servers[@]}"; do
        if [ "$d" = redis ]; then measure_redis; else measure_xs "$d"; fi
    done
    echo "# round $r/$REPS done"
done
for k in "${!S[@]}"; do R[$k]=$(median "${S[$k]}"); done
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

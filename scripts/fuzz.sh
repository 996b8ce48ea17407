#!/bin/sh
# Run every libFuzzer harness in BUILDDIR for SECONDS each, on a scratch copy
# of its seed corpus (fuzz/corpus/<name>/), so the tree is never modified.
# Two harnesses run at once (FUZZ_JOBS, default: the number of CPUs, at
# most 2): each is one process on one core, and make test waits for them.
# Usage: scripts/fuzz.sh BUILDDIR SECONDS [NAME]
set -eu
cd "$(dirname "$0")/.."
bdir=$1; secs=$2; only=${3:-}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -le 2 ] || jobs=2
fails=0; ran=0
mkdir -p fuzz/artifacts
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT

# start NAME HARNESS: fuzz it in the background; its log in $runs/NAME.log,
# its status in $runs/NAME.st
start() {
    work="$runs/$1.corpus"
    mkdir -p "$work"
    [ -d "fuzz/corpus/$1" ] && cp -r "fuzz/corpus/$1/." "$work/"
    # -timeout: an input that runs this long is a hang, reported as a
    # failure with the input saved; the outer timeout keeps a fuzzer that
    # stalls in any other way from holding CI (it fails too).
    {
        st=0
        timeout -k 10 $((secs + 120)) "$2" -max_total_time="$secs" -timeout=20 \
            -print_final_stats=0 -artifact_prefix=fuzz/artifacts/ "$work" \
            > "$runs/$1.log" 2>&1 || st=$?
        echo "$st" > "$runs/$1.st"
    } &
}
# report NAME: its result, counted
report() {
    echo "fuzz $1: ${secs}s"
    st=$(cat "$runs/$1.st")
    if [ "$st" -eq 0 ]; then
        grep -E '^Done [0-9]+ runs' "$runs/$1.log" | tail -n 1
        ran=$((ran + 1))
    else
        tail -n 40 "$runs/$1.log"
        if [ "$st" -eq 124 ] || [ "$st" -eq 137 ]; then
            echo "fuzz $1: FAILED (stalled past $((secs + 120))s; log above)"
        else
            echo "fuzz $1: FAILED (input saved under fuzz/artifacts/)"
        fi
        fails=$((fails + 1))
    fi
    rm -rf "$runs/$1.corpus"
}

batch=""
for h in "$bdir"/fuzz/fuzz_*; do
    [ -f "$h" ] && [ -x "$h" ] || continue
    name=$(basename "$h"); name=${name#fuzz_}
    [ -n "$only" ] && [ "$only" != "$name" ] && continue
    start "$name" "$h"
    batch="$batch $name"
    if [ "$(echo $batch | wc -w)" -ge "$jobs" ]; then
        wait
        for n in $batch; do report "$n"; done
        batch=""
    fi
done
wait
for n in $batch; do report "$n"; done
echo "fuzz smoke: $ran passed, $fails failed"
[ "$fails" -eq 0 ]

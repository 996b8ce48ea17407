#!/bin/sh
# Run every libFuzzer harness in BUILDDIR for SECONDS each, on a scratch copy
# of its seed corpus (fuzz/corpus/<name>/), so the tree is never modified.
# Usage: scripts/fuzz.sh BUILDDIR SECONDS [NAME]
set -eu
cd "$(dirname "$0")/.."
bdir=$1; secs=$2; only=${3:-}
fails=0; ran=0
for h in "$bdir"/fuzz/fuzz_*; do
    [ -f "$h" ] && [ -x "$h" ] || continue
    name=$(basename "$h"); name=${name#fuzz_}
    [ -n "$only" ] && [ "$only" != "$name" ] && continue
    work=$(mktemp -d)
    [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/"
    mkdir -p fuzz/artifacts
    echo "fuzz $name: ${secs}s"
    # -timeout: an input that runs this long is a hang, reported as a
    # failure with the input saved; the outer timeout keeps a fuzzer that
    # stalls in any other way from holding CI (it fails too).
    st=0
    timeout -k 10 $((secs + 120)) "$h" -max_total_time="$secs" -timeout=20 \
        -print_final_stats=0 -artifact_prefix=fuzz/artifacts/ "$work" > "$work.log" 2>&1 ||
        st=$?
    if [ "$st" -eq 0 ]; then
        grep -E '^Done [0-9]+ runs' "$work.log" | tail -n 1
        ran=$((ran + 1))
    else
        tail -n 40 "$work.log"
        if [ "$st" -eq 124 ] || [ "$st" -eq 137 ]; then
            echo "fuzz $name: FAILED (stalled past $((secs + 120))s; log above)"
        else
            echo "fuzz $name: FAILED (input saved under fuzz/artifacts/)"
        fi
        fails=$((fails + 1))
    fi
    rm -rf "$work" "$work.log"
done
echo "fuzz smoke: $ran passed, $fails failed"
[ "$fails" -eq 0 ]

#!/bin/sh
# Every benchmark in bench/, each printing its figure beside its baseline.
set -eu
bdir=${1:-build}
for b in "$bdir"/bench/bench_*; do
    [ -f "$b" ] && [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b"
done

#!/bin/sh
# `make run`: the main job. Until the VMM lands, the event-channel benchmark.
set -eu
bdir=${1:-build}
exec "$bdir/bench/bench_evtchn_core"

#!/bin/sh
# `make test`: the whole test suite, as CI runs it.
#  1. normal build: every meson test (unit, integration, conformance).
#     Debian's Linux (suite 'linux') always runs in the KVM box
#     (scripts/kvmbox): on a host with /dev/kvm, two tests at a time, each
#     in a box of its own. Where there is no /dev/kvm (or XENKVM_BOX=1:
#     `make test-box`) the whole integration suite, every test that needs
#     KVM, runs in two boxes at once: one for the Linux tests, one for the
#     others. The 32-bit guests (suite guest32) run on the host's KVM when
#     it runs 32-bit paging (tests/integration/kvm_paging32), else in one
#     KVM box of their own.
#  2. ASan+UBSan build: the unit tests again
#  3. ThreadSanitizer build: the 'concurrency' suite (multi-threaded tests)
#  4. clang/libFuzzer build: each harness for FUZZ_SECONDS on its corpus
# Every sanitizer halts on its first report, so a report fails the run.
# Prints the cmocka summaries of the unit tests and ends with one line
# "test: N passed, N failed, N skipped" counting every meson test and fuzzer,
# after a line "failed: ..." naming the failed ones, if any.
set -eu
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
JOBS=$(nproc 2>/dev/null || echo 2)
PASS=0; FAIL=0; SKIP=0
FAILED=""   # the names of the failed tests, for the last lines

step() { printf '\n=== %s ===\n' "$*"; }

# meson_run LOGBASE BDIR JOBS RUNNER ARGS...: meson test, its output in
# $logs/LOGBASE.out (and on stdout too if SHOW=1), meson's logs under
# BDIR/meson-logs/LOGBASE.*; RUNNER (empty, or the KVM box) runs meson.
# Returns meson's status.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
meson_run() {
    lb=$1 bdir=$2 jobs=$3 runner=$4; shift 4
    # meson's status, not tee's: sh has no PIPESTATUS
    { $runner meson test -C "$bdir" --logbase "$lb" --print-errorlogs \
        --num-processes "$jobs" "$@" 2>&1; echo $? > "$logs/$lb.rc"; } |
        if [ "${SHOW:-0}" = 1 ]; then tee "$logs/$lb.out"; else cat > "$logs/$lb.out"; fi
    return "$(cat "$logs/$lb.rc")"
}
# meson_count LOGBASE BDIR: the cmocka summaries, and meson's counts added
# to the totals, the failed tests' names to FAILED
meson_count() {
    lb=$1 bdir=$2 log=$logs/$1.out
    grep -E '^\[ *(PASSED|FAILED) *\]|^\[=+\] .*run\.$' "$bdir/meson-logs/$lb.txt" \
        | sed 's/^/  cmocka: /' || true
    ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log"); ok=${ok:-0}
    ex=$(sed -n 's/^Expected Fail: *\([0-9]*\).*/\1/p' "$log"); ex=${ex:-0}
    fl=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$log"); fl=${fl:-0}
    up=$(sed -n 's/^Unexpected Pass: *\([0-9]*\).*/\1/p' "$log"); up=${up:-0}
    to=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$log"); to=${to:-0}
    sk=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$log"); sk=${sk:-0}
    PASS=$((PASS + ok + ex)); FAIL=$((FAIL + fl + up + to)); SKIP=$((SKIP + sk))
    # which ones (meson's JSON log: a line per test), with the build
    FAILED="$FAILED$(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    t = json.loads(l)
    if t["result"] not in ("OK", "SKIP", "EXPECTEDFAIL"):
        n = t["name"].replace("xenkvm:", "").replace(" / ", "/")
        print(" %s:%s(%s)" % (sys.argv[2], n, t["result"].lower()), end="")
' "$bdir/meson-logs/$lb.json" "$bdir" 2>/dev/null)"
}
# run_meson_tests LOGBASE BDIR ARGS...: meson_run on this machine with
# $JOBS jobs, its output shown as it comes, then meson_count
run_meson_tests() {
    lb=$1 bdir=$2; shift 2
    rc=0
    SHOW=1 meson_run "$lb" "$bdir" "$JOBS" "" "$@" || rc=$?
    meson_count "$lb" "$bdir"
    return "$rc"
}
# in_boxes_parallel BDIR NAME1 ARGS1 NAME2 ARGS2: two meson runs at once,
# each in a KVM box of its own (one vCPU each: one test at a time), then
# their outputs one after the other (ARGSn: one word list, unquoted)
in_boxes_parallel() {
    bdir=$1
    meson_run "$2" "$bdir" 1 "scripts/kvmbox --" $3 & p1=$!
    meson_run "$4" "$bdir" 1 "scripts/kvmbox --" $5 & p2=$!
    rc=0
    wait $p1 || rc=1
    wait $p2 || rc=1
    for lb in "$2" "$4"; do
        echo "--- $lb"
        cat "$logs/$lb.out"
        meson_count "$lb" "$bdir"
    done
    return "$rc"
}

status=0

step "build (gcc, -Wall -Wextra -Werror)"
[ -f build/build.ninja ] || meson setup build
ninja -C build

# Debian's Linux under xenkvm (suite 'linux', in the integration suite too)
# always runs in the KVM box (tests/linux/linux_tests.sh says why).
if [ -n "${XENKVM_BOX:-}" ] || [ ! -e /dev/kvm ]; then
    step "tests (all but the integration suite; 'box' checks the KVM box itself)"
    run_meson_tests main build --no-suite integration || status=1
    if [ -e /dev/kvm ]; then why="XENKVM_BOX is set"; else why="this machine has no /dev/kvm"; fi
    step "integration tests inside two KVM boxes at once ($why): the Linux tests but the disk ones; the others"
    t0=$(date +%s)
    if scripts/kvmbox --prepare; then
        echo "kvmbox: $(scripts/kvmbox --info) ready in $(( $(date +%s) - t0 ))s"
        # A box runs one test at a time (its one vCPU); two boxes use the
        # two cores. The binaries were built above. The Linux disk tests go
        # with the others, the rest of Linux (suite linux-box-a) has a box:
        # about half the time each.
        t0=$(date +%s)
        in_boxes_parallel build \
            box-linux "--suite linux-box-a --no-rebuild" \
            box-other "--suite integration --no-suite linux-box-a --no-rebuild" || status=1
        BOXLINE="integration suite: ran inside two KVM boxes in $(( $(date +%s) - t0 ))s"
    else
        status=1
        BOXLINE="integration suite: NOT RUN, the KVM box could not be built (see above)"
    fi
else
    step "tests (all but the Linux ones and the 32-bit guests)"
    run_meson_tests main build --no-suite linux --no-suite guest32 || status=1
    # The 32-bit guests (suite guest32): here if this KVM runs 32-bit
    # paging (kvm_paging32, tests/integration/guest32.sh), else all of
    # them in one KVM box (a box per test would cost ~10 s each to start).
    t0=$(date +%s)
    if build/tests/integration/kvm_paging32; then
        step "32-bit guest tests on this machine's KVM"
        run_meson_tests guest32 build --suite guest32 --no-rebuild || status=1
        G32LINE="the 32-bit guests here"
    else
        step "32-bit guest tests in one KVM box (this machine's KVM cannot run 32-bit paging)"
        rc=0
        SHOW=1 meson_run guest32 build 1 "scripts/kvmbox --" --suite guest32 --no-rebuild || rc=$?
        meson_count guest32 build
        [ "$rc" -eq 0 ] || status=1
        G32LINE="the 32-bit guests in a KVM box"
    fi
    G32LINE="$G32LINE in $(( $(date +%s) - t0 ))s"
    step "Linux tests, two at a time, each in a KVM box of its own"
    t0=$(date +%s)
    run_meson_tests linux build --suite linux --no-rebuild || status=1
    BOXLINE="integration suite: ran on this machine's /dev/kvm, $G32LINE, the Linux tests in KVM boxes in $(( $(date +%s) - t0 ))s"
fi

step "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
# -fno-sanitize-recover=all: a UBSan report aborts the test (gcc's default
# for -fsanitize=undefined is to print and carry on).
[ -f build-san/build.ninja ] || meson setup build-san -Db_sanitize=address,undefined \
    -Db_lundef=false
meson configure build-san -Dc_args=-fno-sanitize-recover=all   # also an older build-san/
ninja -C build-san
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    run_meson_tests san build-san --suite unit || status=1

step "concurrency tests under ThreadSanitizer"
# No suppressions: every report is a failure (halt_on_error exits non-zero).
[ -f build-tsan/build.ninja ] || meson setup build-tsan -Db_sanitize=thread -Db_lundef=false
ninja -C build-tsan
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    run_meson_tests tsan build-tsan --suite concurrency || status=1

step "fuzz smoke (${FUZZ_SECONDS}s per harness)"
if command -v clang >/dev/null 2>&1; then
    # -fno-sanitize-recover=all: a UBSan report is a crash, saved and
    # counted as a failure, not a line in a log that still passes.
    [ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true \
        -Db_sanitize=address,undefined -Db_lundef=false
    meson configure build-fuzz -Dc_args=-fno-sanitize-recover=all
    ninja -C build-fuzz
    flog=$(mktemp)
    set +e
    scripts/fuzz.sh build-fuzz "$FUZZ_SECONDS" | tee "$flog"
    [ "$?" -eq 0 ] || status=1
    set -e
    fp=$(sed -n 's/^fuzz smoke: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$flog")
    ff=$(sed -n 's/^fuzz smoke: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$flog")
    PASS=$((PASS + ${fp:-0})); FAIL=$((FAIL + ${ff:-0}))
    FAILED="$FAILED$(sed -n 's/^fuzz \([a-z0-9_]*\): FAILED.*/ fuzz:\1/p' "$flog" | tr -d '\n')"
    rm -f "$flog"
else
    echo "SKIP: clang not installed, no fuzz smoke"
    SKIP=$((SKIP + 1))
fi

echo
[ "$FAIL" -eq 0 ] || status=1   # a failed test fails the run, always
if [ "$status" -ne 0 ] && [ "$FAIL" -eq 0 ]; then
    FAIL=1     # a step failed without a test to blame (build, setup)
fi
echo "$BOXLINE"
[ -z "$FAILED" ] || echo "failed:$FAILED"
echo "test: $PASS passed, $FAIL failed, $SKIP skipped"
exit "$status"

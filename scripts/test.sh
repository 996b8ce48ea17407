#!/bin/sh
# `make test`: the whole test suite, as CI runs it.
#  1. normal build: every meson test (unit, integration, conformance);
#     where there is no /dev/kvm (or XENKVM_BOX=1: `make test-box`) the
#     integration suite, every test that needs KVM, runs inside the KVM box
#     (scripts/kvmbox), booted once for the whole suite
#  2. ASan+UBSan build: the unit tests again
#  3. ThreadSanitizer build: the 'concurrency' suite (multi-threaded tests)
#  4. clang/libFuzzer build: each harness for FUZZ_SECONDS on its corpus
# Every sanitizer halts on its first report, so a report fails the run.
# Prints the cmocka summaries of the unit tests and ends with one line
# "test: N passed, N failed, N skipped" counting every meson test and fuzzer.
set -eu
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
JOBS=$(nproc 2>/dev/null || echo 2)
PASS=0; FAIL=0; SKIP=0

step() { printf '\n=== %s ===\n' "$*"; }

# meson test with a summary; adds to the totals; returns meson's status.
# $RUNNER (empty, or the KVM box) runs meson.
RUNNER=""
run_meson_tests() {
    bdir=$1; shift
    log=$(mktemp) rcf=$(mktemp)
    set +e
    # meson's status, not tee's: sh has no PIPESTATUS
    { $RUNNER meson test -C "$bdir" --print-errorlogs --num-processes "$JOBS" "$@" 2>&1
      echo $? > "$rcf"; } | tee "$log"
    rc=$(cat "$rcf")
    set -e
    # The cmocka summaries of each test binary, from meson's log.
    grep -E '^\[ *(PASSED|FAILED) *\]|^\[=+\] .*run\.$' "$bdir/meson-logs/testlog.txt" \
        | sed 's/^/  cmocka: /' || true
    ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log"); ok=${ok:-0}
    ex=$(sed -n 's/^Expected Fail: *\([0-9]*\).*/\1/p' "$log"); ex=${ex:-0}
    fl=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$log"); fl=${fl:-0}
    up=$(sed -n 's/^Unexpected Pass: *\([0-9]*\).*/\1/p' "$log"); up=${up:-0}
    to=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$log"); to=${to:-0}
    sk=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$log"); sk=${sk:-0}
    PASS=$((PASS + ok + ex)); FAIL=$((FAIL + fl + up + to)); SKIP=$((SKIP + sk))
    rm -f "$log" "$rcf"
    return "$rc"
}

status=0

step "build (gcc, -Wall -Wextra -Werror)"
[ -f build/build.ninja ] || meson setup build
ninja -C build

if [ -n "${XENKVM_BOX:-}" ] || [ ! -e /dev/kvm ]; then
    step "tests (all but the integration suite; 'box' checks the KVM box itself)"
    run_meson_tests build --no-suite integration || status=1
    if [ -e /dev/kvm ]; then why="XENKVM_BOX is set"; else why="this machine has no /dev/kvm"; fi
    step "integration tests inside the KVM box ($why)"
    t0=$(date +%s)
    if scripts/kvmbox --prepare; then
        echo "kvmbox: $(scripts/kvmbox --info) ready in $(( $(date +%s) - t0 ))s"
        # One box for the suite; its one vCPU runs one test at a time, the
        # binaries were built above.
        t0=$(date +%s)
        RUNNER="scripts/kvmbox --"; jobs_host=$JOBS; JOBS=1
        run_meson_tests build --suite integration --no-rebuild || status=1
        RUNNER=""; JOBS=$jobs_host
        BOXLINE="integration suite: ran inside the KVM box in $(( $(date +%s) - t0 ))s"
    else
        status=1
        BOXLINE="integration suite: NOT RUN, the KVM box could not be built (see above)"
    fi
else
    step "tests"
    run_meson_tests build || status=1
    BOXLINE="integration suite: ran on this machine's /dev/kvm"
fi

step "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
# -fno-sanitize-recover=all: a UBSan report aborts the test (gcc's default
# for -fsanitize=undefined is to print and carry on).
[ -f build-san/build.ninja ] || meson setup build-san -Db_sanitize=address,undefined \
    -Db_lundef=false
meson configure build-san -Dc_args=-fno-sanitize-recover=all   # also an older build-san/
ninja -C build-san
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    run_meson_tests build-san --suite unit || status=1

step "concurrency tests under ThreadSanitizer"
# No suppressions: every report is a failure (halt_on_error exits non-zero).
[ -f build-tsan/build.ninja ] || meson setup build-tsan -Db_sanitize=thread -Db_lundef=false
ninja -C build-tsan
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    run_meson_tests build-tsan --suite concurrency || status=1

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
echo "test: $PASS passed, $FAIL failed, $SKIP skipped"
exit "$status"

#!/bin/sh
# `make test`: the whole test suite, as CI runs it.
#  1. normal build: every meson test (unit, integration, conformance)
#  2. ASan+UBSan build: the unit tests again
#  3. clang/libFuzzer build: each harness for FUZZ_SECONDS on its corpus
set -eu
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
JOBS=$(nproc 2>/dev/null || echo 2)

step() { printf '\n=== %s ===\n' "$*"; }

step "build (gcc, -Wall -Wextra -Werror)"
[ -f build/build.ninja ] || meson setup build
ninja -C build

step "tests"
meson test -C build --print-errorlogs --num-processes "$JOBS"

step "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
[ -f build-san/build.ninja ] || meson setup build-san -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-san
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    meson test -C build-san --suite unit --print-errorlogs --num-processes "$JOBS"

step "fuzz smoke (${FUZZ_SECONDS}s per harness)"
if command -v clang >/dev/null 2>&1; then
    [ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true \
        -Db_sanitize=address,undefined -Db_lundef=false
    ninja -C build-fuzz
    scripts/fuzz.sh build-fuzz "$FUZZ_SECONDS"
else
    echo "SKIP: clang not installed, no fuzz smoke"
fi
echo
echo "make test: all steps passed"

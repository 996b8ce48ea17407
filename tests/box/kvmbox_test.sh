#!/bin/sh
# The KVM box itself (scripts/kvmbox): a command's stdout and stderr come
# back apart and whole, in order with what the caller writes around it; its
# exit status is the caller's; it runs with the caller's environment and
# directory, with /dev/kvm, and what it writes in the project tree stays.
# usage: kvmbox_test.sh SOURCE_ROOT BUILD_ROOT
set -u
src=$1 bld=$2
box="$src/scripts/kvmbox"
tmp=$(mktemp -d "$bld/kvmbox-test.XXXXXX")      # in the tree: shared read-write
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; for f in out err; do [ -f "$tmp/$f" ] && { echo "--- $f"; cat "$tmp/$f"; }; done; exit 1; }

# usage error: one line, exit 125, no box started
"$box" > "$tmp/out" 2> "$tmp/err"; rc=$?
[ $rc -eq 125 ] || fail "no command: exit $rc, expected 125"
[ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q "usage" "$tmp/err" || fail "no command: not one usage line"

cd "$tmp" || exit 1
{
    echo before
    XENKVM_TEST_VAR="a b'c" "$box" -- sh -c '
        i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i + 1)); done
        echo "to stderr" >&2
        echo "pwd=$(pwd)"
        echo "var=$XENKVM_TEST_VAR"
        echo "inbox=$XENKVM_IN_BOX"
        [ -c /dev/kvm ] && echo "kvm=yes"
        echo written > written.txt
        exit 7'
    echo "rc=$?"
    echo after
} > "$tmp/out" 2> "$tmp/err"

[ "$(head -n 1 "$tmp/out")" = before ] || fail "the caller's first line is not first"
[ "$(tail -n 1 "$tmp/out")" = after ] || fail "the caller's last line is not last"
grep -qx "rc=7" "$tmp/out" || fail "exit status not passed back (want 7)"
[ "$(grep -c '^line [0-9]*$' "$tmp/out")" -eq 2000 ] || fail "stdout lines lost"
grep -qx "line 1999" "$tmp/out" || fail "last stdout line missing"
grep -qx "to stderr" "$tmp/err" || fail "stderr line missing"
! grep -q "to stderr" "$tmp/out" || fail "stderr went to stdout"
grep -qx "pwd=$tmp" "$tmp/out" || fail "not run in the caller's directory"
grep -qx "var=a b'c" "$tmp/out" || fail "environment not passed"
grep -qx "inbox=1" "$tmp/out" || fail "XENKVM_IN_BOX not set"
grep -qx "kvm=yes" "$tmp/out" || fail "no /dev/kvm in the box"
[ "$(cat "$tmp/written.txt" 2>/dev/null)" = written ] || fail "a file written in the tree did not come back"
# A cache (so the run directory) under /tmp, which the box covers with its
# own tmpfs: the command must still be found. The box built above is copied
# there, not downloaded again.
cache=${XENKVM_BOX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xenkvm/box}
tcache=$(mktemp -d /tmp/kvmbox-cache.XXXXXX)
trap 'rm -rf "$tmp" "$tcache"' EXIT
for b in "$cache"/linux-image-*; do [ -f "$b/ready" ] && cp -r "$b" "$tcache/"; done
XENKVM_BOX_CACHE=$tcache "$box" -- sh -c 'echo from-tmp-cache' > "$tmp/out" 2> "$tmp/err" ||
    fail "a cache under /tmp: exit status $?"
grep -qx from-tmp-cache "$tmp/out" || fail "a cache under /tmp: the command did not run"
echo "ok: kvmbox"

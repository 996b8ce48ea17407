# Sourced by tests/integration/balloon_tests.sh and tests/linux/linux_tests.sh:
# the host memory of a running VMM.
# rss PID FIELD: FIELD (VmRSS or RssShmem) of process PID, in KiB (guest
# RAM is a memfd: its resident pages count as RssShmem)
rss() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
# moved WHAT A B MIN MAX: says how far a KiB figure moved from A to B and
# fails (the sourcing test's fail) unless |A - B| is MIN..MAX KiB
moved() {
    d=$(( $2 > $3 ? $2 - $3 : $3 - $2 ))
    echo "$1: $2 -> $3 KiB (moved $d KiB)"
    [ $d -ge "$4" ] && [ $d -le "$5" ] ||
        fail "$1 moved by $d KiB, not within $4..$5 KiB ($2 -> $3)"
}

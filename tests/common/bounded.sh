# Sourced by tests/integration/common.sh and tests/linux/lib.sh.
# bounded CMD...: CMD (a `xenkvm run`), given XK_TIMEOUT seconds (default
# 90; below meson's timeout). A run still going then has its threads'
# stacks printed (gdb) and gets SIGTERM (xenkvm asks its guests to power
# off, then destroys them), SIGKILL 10 s later: a hang fails with the run's
# output and where it hung, where meson's own kill leaves nothing to read.
# What the watchdog says goes to CMD's stderr (the tests print it on a
# failure). Returns CMD's exit status.
bounded() {
    "$@" &
    bpid=$!
    {
        lim=${XK_TIMEOUT:-90}
        timeout "$lim" tail --pid=$bpid -f /dev/null && exit 0
        echo "TIMEOUT: $1 $2 did not end within $lim s; its threads:"
        gdb -q -batch -p $bpid -ex 'thread apply all bt' 2>&1 | grep -E '^(Thread|#)'
        kill -TERM $bpid
        timeout 10 tail --pid=$bpid -f /dev/null && exit 0
        echo "TIMEOUT: $1 $2 still there 10 s after SIGTERM: SIGKILL"
        kill -KILL $bpid
    } >&2 &
    wpid=$!
    wait $bpid
    brc=$?
    wait $wpid
    return $brc
}

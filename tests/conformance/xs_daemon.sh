# shellcheck shell=sh
# Sourced by the XenStore conformance scripts: start one XenStore daemon on a
# private Unix socket, point the Debian clients at it, stop it on exit.
#
# The daemon is chosen by the script's first two arguments:
#   --xenkvm PATH       ours:  PATH xenstored --socket DIR/socket
#   --cxenstored SO     Xen's: LD_PRELOAD=SO /usr/lib/xen-4.17/bin/xenstored -N
#                       (SO is build/.../xs_preload.so, see bench/xs_preload.c)
# After xs_start: $XENSTORED_PATH is exported, $XS_DIR is a scratch
# directory (removed on exit), $XS_KIND is "xenkvm" or "cxenstored".
#
# Exit 77 is meson's "skipped".

XS_C_XENSTORED=${XS_C_XENSTORED:-/usr/lib/xen-4.17/bin/xenstored}

xs_skip() {
    echo "SKIP: $*"
    exit 77
}

xs_need_cmd() {
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 ||
            xs_skip "$c not found (Debian xenstore-utils/xen-utils-4.17; scripts/setup.sh installs them)"
    done
}

xs_need_file() {
    [ -x "$1" ] || xs_skip "$1 not found ($2; scripts/setup.sh installs it)"
}

# xs_parse_daemon_args "$@": sets XS_KIND and XS_DAEMON_ARG; the caller then
# shifts 2.
xs_parse_daemon_args() {
    case "${1:-}" in
    --xenkvm)     XS_KIND=xenkvm ;;
    --cxenstored) XS_KIND=cxenstored ;;
    *) echo "usage: $0 --xenkvm PATH | --cxenstored XS_PRELOAD_SO [ARGS]" >&2; exit 2 ;;
    esac
    XS_DAEMON_ARG=${2:-}
    [ -n "$XS_DAEMON_ARG" ] || { echo "$0: $1 needs a path" >&2; exit 2; }
    if [ "$XS_KIND" = cxenstored ]; then
        xs_need_file "$XS_C_XENSTORED" "Debian xen-utils-4.17"
        [ -f "$XS_DAEMON_ARG" ] || { echo "$0: no preload library $XS_DAEMON_ARG" >&2; exit 2; }
    else
        [ -x "$XS_DAEMON_ARG" ] || { echo "$0: no xenkvm executable $XS_DAEMON_ARG" >&2; exit 2; }
    fi
}

XS_PID=
XS_DIR=

xs_stop() {
    if [ -n "$XS_PID" ]; then
        kill "$XS_PID" 2>/dev/null || true
        wait "$XS_PID" 2>/dev/null || true
        XS_PID=
    fi
}

xs_cleanup() {
    xs_stop
    if [ -n "${XS_REF_PID:-}" ]; then
        kill "$XS_REF_PID" 2>/dev/null || true
        wait "$XS_REF_PID" 2>/dev/null || true
        XS_REF_PID=
    fi
    [ -n "$XS_DIR" ] && rm -rf "$XS_DIR"
    XS_DIR=
}

xs_dump_log() {
    if [ -n "$XS_DIR" ] && [ -s "$XS_DIR/daemon.log" ]; then
        echo "--- $XS_KIND daemon log (last 40 lines) ---"
        tail -n 40 "$XS_DIR/daemon.log"
    fi
}

# Start the daemon chosen by xs_parse_daemon_args and wait until it answers.
xs_start() {
    XS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/xsconf.XXXXXX")
    trap 'xs_cleanup' EXIT
    trap 'exit 130' INT TERM
    XENSTORED_PATH=$XS_DIR/socket
    export XENSTORED_PATH
    if [ "$XS_KIND" = xenkvm ]; then
        "$XS_DAEMON_ARG" xenstored --socket "$XENSTORED_PATH" \
            >"$XS_DIR/daemon.log" 2>&1 &
    else
        # Memory database, no fork; the preload answers the hypervisor calls.
        # XENSTORED_PATH is the socket the daemon binds (xs_lib.c).
        env XENSTORED_RUNDIR="$XS_DIR" XS_PRELOAD_DIR="$XS_DIR" \
            LD_PRELOAD="$XS_DAEMON_ARG" "$XS_C_XENSTORED" -N \
            >"$XS_DIR/daemon.log" 2>&1 &
    fi
    XS_PID=$!
    i=0
    while [ $i -lt 200 ]; do
        if ! kill -0 "$XS_PID" 2>/dev/null; then
            echo "FAIL: $XS_KIND daemon exited at start-up"
            XS_PID=
            xs_dump_log
            exit 1
        fi
        if [ -S "$XENSTORED_PATH" ] && xs_ping; then
            return 0
        fi
        sleep 0.05
        i=$((i + 1))
    done
    echo "FAIL: $XS_KIND daemon did not answer on $XENSTORED_PATH within 10 s"
    xs_dump_log
    exit 1
}

# One request that any XenStore answers: does the root exist?
xs_ping() {
    if command -v xenstore-exists >/dev/null 2>&1; then
        timeout 2 xenstore-exists / >/dev/null 2>&1
    else
        return 0
    fi
}

# xs_start_reference SO: also start Xen's C xenstored (after xs_start) on
# $XS_DIR/ref/socket; sets XS_REF_PATH. Stopped by xs_cleanup.
XS_REF_PID=
xs_start_reference() {
    mkdir -p "$XS_DIR/ref"
    XS_REF_PATH=$XS_DIR/ref/socket
    env XENSTORED_RUNDIR="$XS_DIR/ref" XS_PRELOAD_DIR="$XS_DIR/ref" XENSTORED_PATH="$XS_REF_PATH" \
        LD_PRELOAD="$1" "$XS_C_XENSTORED" -N >"$XS_DIR/ref/daemon.log" 2>&1 &
    XS_REF_PID=$!
    i=0
    while [ $i -lt 200 ]; do
        [ -S "$XS_REF_PATH" ] && return 0
        kill -0 "$XS_REF_PID" 2>/dev/null || break
        sleep 0.05
        i=$((i + 1))
    done
    echo "FAIL: the reference C xenstored did not start"
    cat "$XS_DIR/ref/daemon.log"
    exit 1
}

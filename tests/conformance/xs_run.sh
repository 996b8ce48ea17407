#!/bin/sh
# Run one command against a XenStore daemon started on a private socket
# (XENSTORED_PATH is exported to it), then stop the daemon.
#
#   tests/conformance/xs_run.sh --xenkvm build/src/cli/xenkvm -- CMD [ARGS]
#   tests/conformance/xs_run.sh --cxenstored build/tests/conformance/xs_preload.so -- CMD
# e.g. CMD = build/tests/conformance/xs_stress -c 50 -n 100
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/xs_daemon.sh"
xs_parse_daemon_args "$@"
shift 2
[ "${1:-}" = -- ] && shift
[ $# -gt 0 ] || { echo "usage: $0 --xenkvm PATH|--cxenstored SO -- CMD [ARGS]" >&2; exit 2; }
xs_start
echo "# $* against $XS_KIND on $XENSTORED_PATH"
"$@"
rc=$?
# The daemon must have survived the run.
if ! kill -0 "$XS_PID" 2>/dev/null; then
    echo "FAIL: the $XS_KIND daemon died during the run"
    XS_PID=
    rc=1
fi
[ $rc -eq 0 ] || xs_dump_log
exit $rc

#!/bin/sh
# Differential test: `xenkvm xenstored` and Xen's C xenstored side by side,
# the same seeded random requests to both (build/tests/conformance/xs_diff),
# every reply and watch event compared.
#
#   tests/conformance/xs_diff.sh --xenkvm build/src/cli/xenkvm \
#       build/tests/conformance/xs_preload.so build/tests/conformance/xs_diff [-s SEED] [-n OPS] [-v]
# (XS_DIFF_SEED=n in the environment overrides the seed; -v logs every step)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/xs_daemon.sh"
xs_parse_daemon_args "$@"
[ "$XS_KIND" = xenkvm ] || { echo "usage: $0 --xenkvm PATH PRELOAD_SO XS_DIFF [ARGS]" >&2; exit 2; }
preload=${3:?preload library}
prog=${4:?xs_diff program}
shift 4
xs_need_file "$XS_C_XENSTORED" "Debian xen-utils-4.17"
xs_start
xs_start_reference "$preload"
if [ -n "${XS_DIFF_SEED:-}" ]; then
    "$prog" "$XENSTORED_PATH" "$XS_REF_PATH" "$@" -s "$XS_DIFF_SEED"
else
    "$prog" "$XENSTORED_PATH" "$XS_REF_PATH" "$@"
fi
rc=$?
if [ $rc -ne 0 ]; then
    xs_dump_log
    echo "--- reference C xenstored log (last 20 lines) ---"
    tail -n 20 "$XS_DIR/ref/daemon.log"
fi
exit $rc

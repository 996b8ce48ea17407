/*
 * `xenkvm evtchn list [--socket PATH] [DOMID]`: the event channels of a
 * running xenkvm (every domain, or one), one line per port, like Xen's
 * lsevtchn: port, state, notify vCPU, remote domain/port or VIRQ/PIRQ,
 * pending, masked, FIFO priority and whether a host service consumes it.
 * The answer comes from the VMM's control socket (docs/control.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <xen/xen.h>

#include "cli.h"

static void evtchn_usage(FILE *f)
{
    fprintf(f, "usage: xenkvm evtchn list [--socket PATH] [DOMID]\n"
               "  PATH: the control socket of `xenkvm run` (docs/control.md;\n"
               "  default $XENKVM_CONTROL, else $XDG_RUNTIME_DIR/xenkvm/control.sock,\n"
               "  else /run/xenkvm/control.sock)\n");
}

int cli_evtchn(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        evtchn_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "list")) {
        fprintf(stderr, "xenkvm evtchn: unknown command '%s'\n", argv[1]);
        evtchn_usage(stderr);
        return 2;
    }
    struct cli_ctl_args a;
    int rc = cli_ctl_args(argc, argv, 2, false, &a);
    if (!rc && a.arg2)
        rc = 2;     /* one DOMID at most */
    if (a.arg) {
        /* A bad DOMID is reported before a wrong word after it (the
         * parser keeps what came before the word it stopped at). */
        char *end;
        errno = 0;
        long v = strtol(a.arg, &end, 10);
        if (errno || *end || v < 0 || v >= DOMID_FIRST_RESERVED) {
            fprintf(stderr, "xenkvm evtchn list: bad domain id '%s'\n",
                    a.arg);
            return 2;
        }
    }
    if (rc) {
        evtchn_usage(stderr);
        return 2;
    }
    return cli_ctl_callf(&a, "xenkvm evtchn list", "evtchn list%s%s",
                         a.arg ? " " : "", a.arg ? a.arg : "");
}

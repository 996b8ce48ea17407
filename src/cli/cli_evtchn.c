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
    const char *sock = NULL, *dom = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
            sock = argv[++i];
        } else if (argv[i][0] != '-' && !dom) {
            char *end;
            errno = 0;
            long v = strtol(argv[i], &end, 10);
            if (errno || *end || v < 0 || v >= DOMID_FIRST_RESERVED) {
                fprintf(stderr, "xenkvm evtchn list: bad domain id '%s'\n",
                        argv[i]);
                return 2;
            }
            dom = argv[i];
        } else {
            evtchn_usage(stderr);
            return 2;
        }
    }
    char buf[108];
    if (!(sock = cli_ctl_path(sock, buf, sizeof(buf))))
        return 2;
    char req[64];
    snprintf(req, sizeof(req), "evtchn list%s%s", dom ? " " : "", dom ? dom : "");
    return cli_ctl_call("xenkvm evtchn list", sock, req);
}

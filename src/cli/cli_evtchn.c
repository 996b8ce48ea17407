/*
 * `xenkvm evtchn list [--socket PATH] [DOMID]`: the event channels of a
 * running xenkvm (every domain, or one), one line per port, like Xen's
 * lsevtchn: port, state, notify vCPU, remote domain/port or VIRQ/PIRQ,
 * pending, masked, FIFO priority and whether a host service consumes it.
 * The answer comes from the VMM's control socket (`xenkvm run --control`).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xenkvm/irq.h"

#include "cli.h"

#define EVTCHN_DEFAULT_SOCKET "/run/xenkvm/control.sock"

static void evtchn_usage(FILE *f)
{
    fprintf(f, "usage: xenkvm evtchn list [--socket PATH] [DOMID]\n"
               "  PATH defaults to $XENKVM_CONTROL, else "
               EVTCHN_DEFAULT_SOCKET "\n"
               "  (the socket of `xenkvm run --control PATH`)\n");
}

/* Send request to the control socket at path and print the answer. An
 * answer starting with "error:" goes to stderr. The exit status. */
int cli_control_request(const char *who, const char *path, const char *request)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        fprintf(stderr, "%s: out of memory\n", who);
        return 1;
    }
    int rc = irq_ctl_request(path, request, f);
    fclose(f);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot reach xenkvm at %s: %s (is `xenkvm run "
                "--control %s` running?)\n", who, path, strerror(-rc), path);
        free(text);
        return 1;
    }
    bool err = len >= 6 && !strncmp(text, "error:", 6);
    fwrite(text, 1, len, err ? stderr : stdout);
    free(text);
    return err ? 1 : 0;
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
    if (!sock)
        sock = getenv("XENKVM_CONTROL");
    if (!sock)
        sock = EVTCHN_DEFAULT_SOCKET;
    char req[64];
    snprintf(req, sizeof(req), "evtchn list%s%s", dom ? " " : "", dom ? dom : "");
    return cli_control_request("xenkvm evtchn list", sock, req);
}

/*
 * The client side every control subcommand shares (`xenkvm list`,
 * `console`, `shutdown`, `destroy`, `evtchn list`, `irq list`, `irq
 * raise`): their arguments, which socket, one request through
 * ctl_client_call, the answer on stdout, the server's error on stderr and
 * exit status 1.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "xenkvm/ctl.h"

#include "cli.h"

void cli_ctl_failed(const char *who, const char *path, int rc,
                    const char *err)
{
    if (rc == -EREMOTEIO)
        fprintf(stderr, "%s: %s\n", who, err);
    else
        fprintf(stderr, "%s: cannot reach xenkvm at %s: %s (is `xenkvm run` "
                "running? its socket: --control PATH, here --socket PATH)\n",
                who, path, strerror(-rc));
}

int cli_ctl_args(int argc, char **argv, int first, bool can_wait,
                 struct cli_ctl_args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = first; i < argc; i++) {
        if (!strcmp(argv[i], "--socket") && i + 1 < argc)
            a->sock = argv[++i];
        else if (can_wait && (!strcmp(argv[i], "-w") ||
                              !strcmp(argv[i], "--wait")))
            a->wait = true;
        else if (argv[i][0] != '-' && !a->arg)
            a->arg = argv[i];
        else if (argv[i][0] != '-' && !a->arg2)
            a->arg2 = argv[i];
        else
            return 2;
    }
    return 0;
}

const char *cli_ctl_socket(struct cli_ctl_args *a)
{
    if (a->sock)
        return a->sock;
    if (ctl_default_path(a->buf, sizeof(a->buf)) < 0) {
        fprintf(stderr, "xenkvm: the default control socket path is too "
                "long: give --socket PATH\n");
        return NULL;
    }
    return a->sock = a->buf;
}

int cli_ctl_callf(struct cli_ctl_args *a, const char *who, const char *fmt,
                  ...)
{
    char req[CTL_LINE_MAX], err[512];
    if (!cli_ctl_socket(a))
        return 2;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req, sizeof(req), fmt, ap);
    va_end(ap);
    int rc = ctl_client_call(a->sock, req, stdout, err, sizeof(err));
    fflush(stdout);
    if (rc < 0) {
        cli_ctl_failed(who, a->sock, rc, err);
        return 1;
    }
    return 0;
}

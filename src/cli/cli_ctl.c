/*
 * The client side every control subcommand shares (`xenkvm list`,
 * `console`, `shutdown`, `destroy`, `evtchn list`, `irq list`, `irq
 * raise`): which socket, one request through ctl_client_call, the answer
 * on stdout, the server's error on stderr and exit status 1.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xenkvm/ctl.h"

#include "cli.h"

const char *cli_ctl_path(const char *given, char *buf, size_t n)
{
    if (given)
        return given;
    if (ctl_default_path(buf, n) < 0) {
        fprintf(stderr, "xenkvm: the default control socket path is too "
                "long: give --socket PATH\n");
        return NULL;
    }
    return buf;
}

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

int cli_ctl_call(const char *who, const char *path, const char *request)
{
    char err[512];
    int rc = ctl_client_call(path, request, stdout, err, sizeof(err));
    fflush(stdout);
    if (rc < 0) {
        cli_ctl_failed(who, path, rc, err);
        return 1;
    }
    return 0;
}

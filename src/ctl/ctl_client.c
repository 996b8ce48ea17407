/*
 * The client side of the control protocol (docs/control.md), the one every
 * `xenkvm` subcommand uses: connect, send the request line, read the status
 * line; then the body (or, for a streaming verb, the connection itself).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xenkvm/ctl.h"

/* How long the client waits for the status line: the server answers at
 * once (handlers never wait), so this only guards against a wedged one. */
#define CLIENT_STATUS_MS 10000

int ctl_default_path(char *buf, size_t n)
{
    const char *env = getenv("XENKVM_CONTROL");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int len;
    if (env && *env)
        len = snprintf(buf, n, "%s", env);
    else if (xdg && *xdg)
        len = snprintf(buf, n, "%s/xenkvm/control.sock", xdg);
    else
        len = snprintf(buf, n, "/run/xenkvm/control.sock");
    return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

int ctl_client_open(const char *path, const char *request, int *fd_out,
                    char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (strchr(request, '\n') || strlen(request) >= CTL_LINE_MAX)
        return -EINVAL;
    int fd = util_unix_connect(path);
    if (fd < 0)
        return fd;
    char line[CTL_LINE_MAX + 1];       /* one write: the whole line */
    int n = snprintf(line, sizeof(line), "%s\n", request);
    int rc = util_write_all(fd, line, (size_t)n, CLIENT_STATUS_MS);
    char status[CTL_LINE_MAX + 512];
    if (rc == 0)
        rc = util_read_line(fd, status, sizeof(status), CLIENT_STATUS_MS);
    if (rc == 0 && strcmp(status, "ok")) {
        const char *msg = !strncmp(status, "error: ", 7) ? status + 7 : status;
        snprintf(err, errlen, "%s", *msg ? msg : "the server closed the "
                 "connection without an answer");
        rc = -EREMOTEIO;
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

int ctl_client_call(const char *path, const char *request, FILE *out,
                    char *err, size_t errlen)
{
    int fd;
    int rc = ctl_client_open(path, request, &fd, err, errlen);
    if (rc < 0)
        return rc;
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            break;
        }
        if (r == 0)
            break;
        fwrite(buf, 1, (size_t)r, out);
    }
    close(fd);
    return rc;
}

/*
 * The `xenkvm irq list` control exchange: one request line on a stream
 * socket, the answer text, then the server closes. The VMM accepts on its
 * control socket and hands each connection to irq_ctl_serve.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "xenkvm/irq.h"

int irq_ctl_read_line(int fd, char *buf, size_t n)
{
    size_t len = 0;
    while (len + 1 < n) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, 2000);
        if (r <= 0)
            return r == 0 ? -ETIMEDOUT : -errno;
        ssize_t got = read(fd, buf + len, 1);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        if (got == 0 || buf[len] == '\n')
            break;
        len++;
    }
    buf[len] = '\0';
    if (len && buf[len - 1] == '\r')
        buf[len - 1] = '\0';
    return 0;
}

/* Non-blocking sends, each waited for at most 2 s: a client that stops
 * reading (its receive queue full) costs the serving thread 2 s, never the
 * thread itself. */
int irq_ctl_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -errno;
            struct pollfd pw = { .fd = fd, .events = POLLOUT };
            int r = poll(&pw, 1, 2000);
            if (r == 0)
                return -ETIMEDOUT;
            if (r < 0 && errno != EINTR)
                return -errno;
            continue;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int irq_ctl_serve(struct irq_icu *icu, int fd)
{
    char req[128];
    int rc = irq_ctl_read_line(fd, req, sizeof(req));
    if (rc < 0)
        return rc;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return -ENOMEM;
    if (!strcmp(req, "irq list"))
        irq_icu_format(icu, f);
    else
        fprintf(f, "error: unknown request '%.64s' (known: irq list)\n", req);
    if (fclose(f) != 0) {
        free(text);
        return -ENOMEM;
    }
    rc = irq_ctl_write_all(fd, text, len);
    free(text);
    return rc;
}

int irq_ctl_request(const char *path, const char *request, FILE *out)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (!path || strlen(path) >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        goto out;
    }
    rc = irq_ctl_write_all(fd, request, strlen(request));
    if (rc == 0)
        rc = irq_ctl_write_all(fd, "\n", 1);
    if (rc < 0)
        goto out;
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (r == 0)
            break;
        fwrite(buf, 1, (size_t)r, out);
    }
out:
    close(fd);
    return rc;
}

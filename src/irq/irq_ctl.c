/*
 * The `xenkvm irq list` control exchange: one request line on a stream
 * socket, the answer text, then the server closes. The VMM accepts on its
 * control socket and hands each connection to irq_ctl_serve.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xenkvm/irq.h"
#include "xenkvm/util.h"

int irq_ctl_read_line(int fd, char *buf, size_t n)
{
    return util_read_line(fd, buf, n, 2000);
}

/* A client that stops reading costs the serving thread 2 s per send. */
int irq_ctl_write_all(int fd, const char *p, size_t n)
{
    return util_write_all(fd, p, n, 2000);
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
    int fd = util_unix_connect(path);
    if (fd < 0)
        return fd;
    int rc = irq_ctl_write_all(fd, request, strlen(request));
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

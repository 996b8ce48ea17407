/*
 * The host-interrupt verbs, registered by whoever runs an ICU on a control
 * server: the VMM (`xenkvm run`) and `xenkvm irq serve`.
 *
 *   irq list        the ICU's table (irq_icu_format)
 *   irq raise LINE  signal an eventfd-backed host line once: a test and
 *                   simulation aid standing in for a device
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xenkvm/ctl.h"
#include "xenkvm/irq.h"

static void irq_list(void *opaque, struct ctl_req *req)
{
    struct ctl_irq_verbs *ci = opaque;
    if (req->argc) {
        ctl_req_usage(req);
        return;
    }
    /* The caller's lock keeps sinks alive while they describe themselves
     * (irq_icu_format calls them after dropping the ICU's lock). */
    if (ci->lock)
        pthread_mutex_lock(ci->lock);
    irq_icu_format(ci->icu, req->out);
    if (ci->lock)
        pthread_mutex_unlock(ci->lock);
}

static void irq_raise(void *opaque, struct ctl_req *req)
{
    struct ctl_irq_verbs *ci = opaque;
    char *end;
    errno = 0;
    long line = req->argc == 1 ? strtol(req->argv[0], &end, 10) : -1;
    if (req->argc != 1 || errno || *end || line < 0 ||
        line >= (long)IRQ_MAX_LINES) {
        ctl_req_usage(req);
        return;
    }
    struct irq_line_info li;
    if (irq_icu_line_info(ci->icu, (unsigned int)line, &li) < 0 ||
        !li.has_source) {
        ctl_req_error(req, "host line %ld has no source", line);
        return;
    }
    if (strncmp(li.source, "eventfd", 7)) {
        ctl_req_error(req, "host line %ld is %s, not an eventfd line", line,
                      li.source);
        return;
    }
    int fd = irq_icu_source_fd(ci->icu, (unsigned int)line);
    uint64_t one = 1;
    if (fd < 0 || write(fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        ctl_req_error(req, "host line %ld: %s", line,
                      strerror(fd < 0 ? -fd : errno));
}

int ctl_irq_register(struct ctl_server *s, struct ctl_irq_verbs *v)
{
    int rc = ctl_register(s, "irq list", irq_list, v, "irq list");
    if (rc == 0)
        rc = ctl_register(s, "irq raise", irq_raise, v, "irq raise LINE");
    return rc;
}

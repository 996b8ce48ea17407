/*
 * Sink: a guest's virtual IOAPIC pin through KVM irqfd. Raising writes the
 * irqfd; KVM asserts the GSI. For a level line the irqfd is registered with
 * KVM_IRQFD_FLAG_RESAMPLE: KVM keeps the pin asserted until the guest EOIs
 * it, then de-asserts it and signals the resamplefd, which the ICU watches
 * and turns into irq_icu_eoi (uvmm's Irq_svr EOI path). If the source is
 * still asserted the ICU raises again.
 *
 * An ICU sink (xenkvm/irq.h) that lives with the KVM code: the interrupt
 * core has no KVM header.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "xenkvm/irq.h"
#include "vmm_int.h"

struct vmm_pin {
    struct irq_sink sink;
    struct irq_icu *icu;
    unsigned int line;
    uint32_t gsi;
    int vm_fd;
    struct vmm_pin_ops ops;
    void *opaque;
    int irqfd, resamplefd;
    int watch;
};

static int kvm_ioctl_irqfd(void *opaque, int fd, uint32_t gsi, int resamplefd,
                           bool deassign)
{
    struct vmm_pin *p = opaque;
    struct kvm_irqfd req;
    memset(&req, 0, sizeof(req));
    req.fd = (uint32_t)fd;
    req.gsi = gsi;
    if (deassign) {
        req.flags = KVM_IRQFD_FLAG_DEASSIGN;
    } else if (resamplefd >= 0) {
        req.flags = KVM_IRQFD_FLAG_RESAMPLE;
        req.resamplefd = (uint32_t)resamplefd;
    }
    return ioctl(p->vm_fd, KVM_IRQFD, &req) < 0 ? -errno : 0;
}

static void pin_raise(void *ctx, struct irq_icu *icu, unsigned int line)
{
    struct vmm_pin *p = ctx;
    uint64_t one = 1;
    if (write(p->irqfd, &one, sizeof(one)) == (ssize_t)sizeof(one))
        irq_icu_count_delivered(icu, line, 1);
    else
        irq_icu_eoi(icu, line);   /* not delivered: do not leave it stuck */
}

static int pin_describe(void *ctx, unsigned int line, char *buf, size_t n)
{
    struct vmm_pin *p = ctx;
    (void)line;
    return snprintf(buf, n, "gsi %u%s", p->gsi,
                    p->resamplefd >= 0 ? " (resample)" : "");
}

static const struct irq_sink_ops pin_sink_ops = {
    .kind = "ioapic",
    .raise = pin_raise,
    .describe = pin_describe,
};

/* The guest EOI'd the pin (KVM signalled the resamplefd). */
static void pin_resample(void *arg, int fd)
{
    struct vmm_pin *p = arg;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        irq_icu_eoi(p->icu, p->line);
}

int vmm_pin_create(struct irq_icu *icu, unsigned int line, int vm_fd,
                       const struct vmm_pin_ops *ops, void *opaque,
                       uint32_t gsi, struct vmm_pin **out)
{
    struct irq_line_info li;
    int rc = irq_icu_line_info(icu, line, &li);
    if (rc < 0)
        return rc;
    if (!li.has_source)
        return -ENODEV;
    struct vmm_pin *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->sink = (struct irq_sink){ .ops = &pin_sink_ops, .ctx = p };
    p->icu = icu;
    p->line = line;
    p->gsi = gsi;
    p->vm_fd = vm_fd;
    p->watch = -1;
    p->resamplefd = -1;
    if (ops && ops->irqfd) {
        p->ops = *ops;
        p->opaque = opaque;
    } else {
        p->ops.irqfd = kvm_ioctl_irqfd;
        p->opaque = p;
    }
    p->irqfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->irqfd < 0) {
        rc = -errno;
        goto fail;
    }
    if (li.mode.trigger == IRQ_LEVEL) {
        p->resamplefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (p->resamplefd < 0) {
            rc = -errno;
            goto fail;
        }
    }
    rc = p->ops.irqfd(p->opaque, p->irqfd, gsi, p->resamplefd, false);
    if (rc < 0)
        goto fail;
    if (p->resamplefd >= 0) {
        p->watch = irq_icu_watch_fd(icu, p->resamplefd, pin_resample, p);
        if (p->watch < 0) {
            rc = p->watch;
            goto fail_deassign;
        }
    }
    rc = irq_icu_bind(icu, line, &p->sink);
    if (rc < 0)
        goto fail_unwatch;
    *out = p;
    return 0;
fail_unwatch:
    if (p->watch >= 0)
        irq_icu_unwatch_fd(icu, p->watch);
fail_deassign:
    p->ops.irqfd(p->opaque, p->irqfd, gsi, -1, true);
fail:
    if (p->irqfd >= 0)
        close(p->irqfd);
    if (p->resamplefd >= 0)
        close(p->resamplefd);
    free(p);
    return rc;
}

void vmm_pin_destroy(struct vmm_pin *p)
{
    if (!p)
        return;
    irq_icu_unbind(p->icu, p->line, &p->sink);
    if (p->watch >= 0)
        irq_icu_unwatch_fd(p->icu, p->watch);
    irq_icu_sync(p->icu);
    p->ops.irqfd(p->opaque, p->irqfd, p->gsi, -1, true);
    close(p->irqfd);
    if (p->resamplefd >= 0)
        close(p->resamplefd);
    free(p);
}

int vmm_pin_resamplefd(const struct vmm_pin *p)
{
    return p->resamplefd;
}

int vmm_pin_irqfd(const struct vmm_pin *p)
{
    return p->irqfd;
}

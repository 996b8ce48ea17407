/*
 * Host interrupt sources: eventfd, timerfd, UIO and VFIO (INTx, MSI/MSI-X).
 * Each is a readable fd plus ack (consume), reenable (let it fire again) and
 * describe. The ICU decides when to call them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "xenkvm/irq.h"

struct src {
    struct irq_source s;
    int aux_fd;            /* eventfd: resamplefd; vfio: unmask eventfd */
    int dev_fd;            /* vfio: device fd (not owned) */
    uint64_t period_ns;    /* timerfd */
    bool periodic;
    bool msix;
    unsigned int vector, count;
    char path[64];
};

/* Read one counter word of n bytes from fd into v: 1 if read, 0 if none
 * was ready (EAGAIN, EINTR), or -errno (-EIO for a short read). */
static int read_word(int fd, void *v, size_t n)
{
    ssize_t r = read(fd, v, n);
    if (r == (ssize_t)n)
        return 1;
    if (r < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    return -EIO;
}

static int read_u64(int fd, uint64_t *count)
{
    uint64_t v;
    int rc = read_word(fd, &v, sizeof(v));
    *count = rc > 0 ? v : 0;
    return rc < 0 ? rc : 0;
}

static int signal_fd(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
        return 0;
    return errno == EAGAIN ? 0 : -errno;  /* counter full: already signalled */
}

static void src_destroy(struct irq_source *is)
{
    struct src *s = (struct src *)is;
    if (s->s.fd >= 0)
        close(s->s.fd);
    if (s->aux_fd >= 0)
        close(s->aux_fd);
    free(s);
}

void irq_source_destroy(struct irq_source *s)
{
    if (s)
        s->ops->destroy(s);
}

static struct src *src_new(const struct irq_source_ops *ops)
{
    struct src *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->s.ops = ops;
    s->s.fd = -1;
    s->aux_fd = -1;
    s->dev_fd = -1;
    return s;
}

/* The end of every constructor: hand s out in *out, or, when set-up failed
 * (rc < 0), destroy it (closing what it had opened) and return rc. */
static int src_finish(struct src *s, int rc, struct irq_source **out)
{
    if (rc < 0) {
        s->s.ops->destroy(&s->s);
        return rc;
    }
    *out = &s->s;
    return 0;
}

/* A non-blocking, close-on-exec eventfd in *fd: 0 or -errno. */
static int eventfd_open(int *fd)
{
    *fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return *fd < 0 ? -errno : 0;
}

/* eventfd */
static int efd_ack(struct irq_source *is, uint64_t *count)
{
    return read_u64(is->fd, count);
}

static int efd_reenable(struct irq_source *is)
{
    struct src *s = (struct src *)is;
    return s->aux_fd >= 0 ? signal_fd(s->aux_fd) : 0;
}

static int efd_describe(const struct irq_source *is, char *buf, size_t n)
{
    const struct src *s = (const struct src *)is;
    return snprintf(buf, n, "eventfd%s", s->aux_fd >= 0 ? "+resample" : "");
}

static const struct irq_source_ops efd_ops = {
    .kind = "eventfd",
    .ack = efd_ack,
    .reenable = efd_reenable,
    .describe = efd_describe,
    .destroy = src_destroy,
};

int irq_source_eventfd(int resamplefd, struct irq_source **out)
{
    struct src *s = src_new(&efd_ops);
    if (!s)
        return -ENOMEM;
    int rc = eventfd_open(&s->s.fd);
    if (rc == 0 && resamplefd >= 0) {
        s->aux_fd = fcntl(resamplefd, F_DUPFD_CLOEXEC, 0);
        if (s->aux_fd < 0)
            rc = -errno;
    }
    return src_finish(s, rc, out);
}

/* timerfd */
static int tfd_describe(const struct irq_source *is, char *buf, size_t n)
{
    const struct src *s = (const struct src *)is;
    return snprintf(buf, n, "timerfd:%s%lluus", s->periodic ? "" : "once:",
                    (unsigned long long)(s->period_ns / 1000));
}

static const struct irq_source_ops tfd_ops = {
    .kind = "timerfd",
    .ack = efd_ack,          /* a timerfd read is the same u64 count */
    .describe = tfd_describe,
    .destroy = src_destroy,
};

int irq_source_timerfd(uint64_t period_ns, bool periodic, struct irq_source **out)
{
    if (period_ns < 1000 || period_ns > 3600ull * 1000000000ull)
        return -EINVAL;
    struct src *s = src_new(&tfd_ops);
    if (!s)
        return -ENOMEM;
    s->period_ns = period_ns;
    s->periodic = periodic;
    struct timespec ts = { .tv_sec = (time_t)(period_ns / 1000000000ull),
                           .tv_nsec = (long)(period_ns % 1000000000ull) };
    struct itimerspec its = { .it_value = ts };
    if (periodic)
        its.it_interval = ts;
    int rc = 0;
    s->s.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->s.fd < 0 || timerfd_settime(s->s.fd, 0, &its, NULL) < 0)
        rc = -errno;
    return src_finish(s, rc, out);
}

/* UIO: read returns the 32-bit interrupt count; write 1 re-enables. */
static int uio_ack(struct irq_source *is, uint64_t *count)
{
    uint32_t v;
    int rc = read_word(is->fd, &v, sizeof(v));
    *count = rc > 0;   /* the UIO count is cumulative; one interrupt is taken */
    return rc < 0 ? rc : 0;
}

static int uio_reenable(struct irq_source *is)
{
    uint32_t one = 1;
    if (write(is->fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
        return 0;
    /* a UIO driver without irqcontrol re-enables by itself */
    return errno == ENOSYS ? 0 : -errno;
}

static int uio_describe(const struct irq_source *is, char *buf, size_t n)
{
    const struct src *s = (const struct src *)is;
    return snprintf(buf, n, "uio:%s", s->path);
}

static const struct irq_source_ops uio_ops = {
    .kind = "uio",
    .ack = uio_ack,
    .reenable = uio_reenable,
    .describe = uio_describe,
    .destroy = src_destroy,
};

int irq_source_uio(const char *path, struct irq_source **out)
{
    if (!path || strlen(path) >= sizeof(((struct src *)0)->path))
        return -EINVAL;
    struct src *s = src_new(&uio_ops);
    if (!s)
        return -ENOMEM;
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->s.fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    int rc = s->s.fd < 0 ? -errno : uio_reenable(&s->s);
    return src_finish(s, rc, out);
}

/* VFIO: VFIO_DEVICE_SET_IRQS with one eventfd (trigger or unmask). */
static int vfio_set_eventfd(int dev_fd, unsigned int index, unsigned int start,
                            unsigned int action, int fd)
{
    union {
        struct vfio_irq_set set;
        unsigned char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
    } u;
    memset(&u, 0, sizeof(u));
    u.set.argsz = sizeof(u.buf);
    u.set.flags = VFIO_IRQ_SET_DATA_EVENTFD | action;
    u.set.index = index;
    u.set.start = start;
    u.set.count = 1;
    int32_t v = fd;
    memcpy(u.set.data, &v, sizeof(v));
    return ioctl(dev_fd, VFIO_DEVICE_SET_IRQS, &u.set) < 0 ? -errno : 0;
}

static int vfio_intx_reenable(struct irq_source *is)
{
    struct src *s = (struct src *)is;
    return signal_fd(s->aux_fd);   /* the kernel unmasks INTx */
}

static int vfio_describe(const struct irq_source *is, char *buf, size_t n)
{
    const struct src *s = (const struct src *)is;
    if (s->s.ops->reenable)
        return snprintf(buf, n, "vfio-intx");
    return snprintf(buf, n, "vfio-%s:%u", s->msix ? "msix" : "msi", s->vector);
}

static int vfio_msi_info(const struct irq_source *is, struct irq_msi_info *info)
{
    const struct src *s = (const struct src *)is;
    info->vfio_index = s->msix ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX;
    info->vector = s->vector;
    info->count = s->count;
    return 0;
}

static void vfio_destroy(struct irq_source *is)
{
    struct src *s = (struct src *)is;
    /* detach our eventfds from the device before closing them */
    if (s->dev_fd >= 0) {
        struct vfio_irq_set set = {
            .argsz = sizeof(set),
            .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
            .index = s->s.ops->reenable ? VFIO_PCI_INTX_IRQ_INDEX
                     : s->msix ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX,
            .start = s->s.ops->reenable ? 0 : s->vector,
            .count = 0,
        };
        ioctl(s->dev_fd, VFIO_DEVICE_SET_IRQS, &set);
    }
    src_destroy(is);
}

static const struct irq_source_ops vfio_intx_ops = {
    .kind = "vfio-intx",
    .ack = efd_ack,
    .reenable = vfio_intx_reenable,
    .describe = vfio_describe,
    .destroy = vfio_destroy,
};

static const struct irq_source_ops vfio_msi_ops = {
    .kind = "vfio-msi",
    .ack = efd_ack,
    .describe = vfio_describe,
    .msi_info = vfio_msi_info,
    .destroy = vfio_destroy,
};

static int vfio_irq_count(int dev_fd, unsigned int index, unsigned int *count)
{
    struct vfio_irq_info info = { .argsz = sizeof(info), .index = index };
    if (ioctl(dev_fd, VFIO_DEVICE_GET_IRQ_INFO, &info) < 0)
        return -errno;
    *count = info.count;
    return 0;
}

int irq_source_vfio_intx(int device_fd, struct irq_source **out)
{
    if (device_fd < 0)
        return -EBADF;
    unsigned int count = 0;
    int rc = vfio_irq_count(device_fd, VFIO_PCI_INTX_IRQ_INDEX, &count);
    if (rc < 0)
        return rc;
    if (count == 0)
        return -ENODEV;  /* the device has no INTx pin */
    struct src *s = src_new(&vfio_intx_ops);
    if (!s)
        return -ENOMEM;
    rc = eventfd_open(&s->s.fd);
    if (rc == 0)
        rc = eventfd_open(&s->aux_fd);
    if (rc == 0)
        rc = vfio_set_eventfd(device_fd, VFIO_PCI_INTX_IRQ_INDEX, 0,
                              VFIO_IRQ_SET_ACTION_TRIGGER, s->s.fd);
    if (rc == 0)
        rc = vfio_set_eventfd(device_fd, VFIO_PCI_INTX_IRQ_INDEX, 0,
                              VFIO_IRQ_SET_ACTION_UNMASK, s->aux_fd);
    if (rc == 0) {
        s->dev_fd = device_fd;
        s->count = 1;
    }
    return src_finish(s, rc, out);
}

int irq_source_vfio_msi(int device_fd, bool msix, unsigned int vector,
                        struct irq_source **out)
{
    if (device_fd < 0)
        return -EBADF;
    unsigned int index = msix ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX;
    unsigned int count = 0;
    int rc = vfio_irq_count(device_fd, index, &count);
    if (rc < 0)
        return rc;
    if (vector >= count)
        return -EINVAL;
    struct src *s = src_new(&vfio_msi_ops);
    if (!s)
        return -ENOMEM;
    s->msix = msix;
    s->vector = vector;
    s->count = count;
    /* MSI-X vectors can be set one at a time; for plain MSI the kernel may
     * refuse a vector other than 0 while the block is off (its errno is
     * returned as is). */
    rc = eventfd_open(&s->s.fd);
    if (rc == 0)
        rc = vfio_set_eventfd(device_fd, index, vector,
                              VFIO_IRQ_SET_ACTION_TRIGGER, s->s.fd);
    if (rc == 0)
        s->dev_fd = device_fd;
    return src_finish(s, rc, out);
}

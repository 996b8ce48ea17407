/*
 * The ICU's wait: one epoll set holding the fd of every line that may
 * interrupt now (has a source and a sink, is not masked, is not a level
 * line in flight) plus the watched fds (resamplefds). Level-triggered epoll,
 * so a source left asserted is seen again the moment its line is re-armed.
 * Lines leave the set with EPOLL_CTL_DEL rather than an empty event mask:
 * epoll always reports EPOLLHUP/EPOLLERR, which would make a dead, masked
 * source spin the loop.
 */
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "irq_int.h"

int irq_loop_init(struct irq_icu *icu)
{
    icu->epfd = epoll_create1(EPOLL_CLOEXEC);
    return icu->epfd < 0 ? -errno : 0;
}

void irq_loop_fini(struct irq_icu *icu)
{
    if (icu->epfd >= 0)
        close(icu->epfd);
    icu->epfd = -1;
}

void irq_loop_rearm(struct irq_icu *icu, unsigned int line)
{
    struct irq_line *l = &icu->lines[line];
    bool want = l->src && l->bound && !l->masked &&
                !(l->mode.trigger == IRQ_LEVEL && l->in_flight);
    if (want == l->armed)
        return;
    if (want) {
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = line };
        if (epoll_ctl(icu->epfd, EPOLL_CTL_ADD, l->src->fd, &ev) < 0) {
            l->last_error = -errno;
            return;
        }
    } else if (l->src) {
        epoll_ctl(icu->epfd, EPOLL_CTL_DEL, l->src->fd, NULL);
    }
    l->armed = want;
}

bool irq_loop_fd_ready(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int irq_loop_watch_add(struct irq_icu *icu, int fd, unsigned int slot)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = IRQ_EV_WATCH | slot };
    return epoll_ctl(icu->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

void irq_loop_watch_del(struct irq_icu *icu, int fd)
{
    epoll_ctl(icu->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int irq_icu_epoll_fd(struct irq_icu *icu)
{
    return icu->epfd;
}

int irq_icu_process(struct irq_icu *icu, int timeout_ms)
{
    /* At most this many fds per call: each ready line is handled once, so a
     * source firing as fast as it can costs one raise per call and the
     * caller's other work (other guests) still gets its turn. */
    struct epoll_event ev[64];
    int n = epoll_wait(icu->epfd, ev, 64, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        uint64_t d = ev[i].data.u64;
        if (d & IRQ_EV_WATCH)
            irq_icu_fire_watch(icu, (unsigned int)(d & ~IRQ_EV_WATCH));
        else
            irq_icu_fire(icu, (unsigned int)d);
    }
    return n;
}

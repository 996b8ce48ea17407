/*
 * The event loop: one epoll set, one thread, callbacks one at a time.
 *
 * Removal is the delicate part. epoll_wait hands the loop a batch of
 * events whose data points at registrations; a registration removed from
 * the moment the dispatcher enters epoll_wait until its batch is done (by
 * a callback of that batch, or by another thread: epoll_wait may have
 * returned it already) is marked dead and freed only when the batch is
 * done, so no event of the batch ever reads freed memory. A remover in another thread
 * also waits while the loop runs that registration's callback, so that
 * after util_loop_del the caller may free what the callback uses.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xenkvm/util.h"

_Static_assert(UTIL_LOOP_IN == EPOLLIN && UTIL_LOOP_OUT == EPOLLOUT,
               "util.h's UTIL_LOOP_IN/OUT are epoll's");

struct loop_reg {
    int fd;
    uint32_t events;
    util_loop_fn fn;
    void *opaque;
    bool dead;
    struct loop_reg *next;      /* l->regs, or l->graveyard once dead */
};

struct loop_call {
    void (*fn)(void *arg);
    void *arg;
    bool done;
    struct loop_call *next;
};

struct util_loop {
    int epfd;
    int stop_fd;                /* eventfd: wakes epoll_wait to stop or
                                 * to run calls */
    struct loop_call *calls;    /* util_loop_call's, waiting */
    pthread_mutex_t lock;       /* regs, graveyard, current, in_batch */
    pthread_cond_t idle;        /* current changed */
    struct loop_reg *regs;
    struct loop_reg *graveyard; /* removed during a batch */
    struct loop_reg *current;   /* whose callback runs now */
    bool in_batch;              /* in epoll_wait or dispatching its batch */
    pthread_t dispatcher;       /* valid while in_batch */
    pthread_t thread;
    bool started;
    bool stop;
};

struct util_loop *util_loop_create(void)
{
    struct util_loop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (l->epfd < 0 || l->stop_fd < 0 ||
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->stop_fd, &ev) < 0) {
        int e = errno;
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->stop_fd >= 0)
            close(l->stop_fd);
        free(l);
        errno = e;
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->idle, NULL);
    return l;
}

void util_loop_destroy(struct util_loop *l)
{
    if (!l)
        return;
    util_loop_stop(l);
    for (struct loop_reg *r = l->regs, *n; r; r = n) {
        n = r->next;
        free(r);
    }
    for (struct loop_reg *r = l->graveyard, *n; r; r = n) {
        n = r->next;
        free(r);
    }
    close(l->epfd);
    close(l->stop_fd);
    pthread_cond_destroy(&l->idle);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static struct loop_reg **find(struct util_loop *l, int fd)
{
    for (struct loop_reg **p = &l->regs; *p; p = &(*p)->next)
        if ((*p)->fd == fd)
            return p;
    return NULL;
}

int util_loop_add(struct util_loop *l, int fd, uint32_t events,
                  util_loop_fn fn, void *opaque)
{
    if (fd < 0 || !fn)
        return -EINVAL;
    struct loop_reg *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    *r = (struct loop_reg){ .fd = fd, .events = events, .fn = fn,
                            .opaque = opaque };
    pthread_mutex_lock(&l->lock);
    int rc = 0;
    struct epoll_event ev = { .events = events, .data.ptr = r };
    if (find(l, fd))
        rc = -EEXIST;
    else if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        rc = -errno;
    if (rc == 0) {
        r->next = l->regs;
        l->regs = r;
    }
    pthread_mutex_unlock(&l->lock);
    if (rc)
        free(r);
    return rc;
}

int util_loop_mod(struct util_loop *l, int fd, uint32_t events)
{
    pthread_mutex_lock(&l->lock);
    struct loop_reg **p = find(l, fd);
    int rc = -ENOENT;
    if (p) {
        struct epoll_event ev = { .events = events, .data.ptr = *p };
        rc = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
        if (rc == 0)
            (*p)->events = events;
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

bool util_loop_in_loop(const struct util_loop *l)
{
    struct util_loop *m = (struct util_loop *)l;
    pthread_mutex_lock(&m->lock);
    bool in = m->in_batch && pthread_equal(m->dispatcher, pthread_self());
    pthread_mutex_unlock(&m->lock);
    return in;
}

int util_loop_del(struct util_loop *l, int fd)
{
    pthread_mutex_lock(&l->lock);
    struct loop_reg **p = find(l, fd);
    if (!p) {
        pthread_mutex_unlock(&l->lock);
        return -ENOENT;
    }
    struct loop_reg *r = *p;
    *p = r->next;
    r->dead = true;
    /* The fd may already be closed by a careless caller: then the kernel
     * dropped it from the set itself. */
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    bool self = l->in_batch && pthread_equal(l->dispatcher, pthread_self());
    while (!self && l->current == r)
        pthread_cond_wait(&l->idle, &l->lock);
    if (l->in_batch) {
        r->next = l->graveyard;
        l->graveyard = r;
    } else {
        free(r);
    }
    pthread_mutex_unlock(&l->lock);
    return 0;
}

/* Run the queued util_loop_call's; l->lock held (dropped around each). */
static int run_calls(struct util_loop *l)
{
    int n = 0;

    while (l->calls) {
        struct loop_call *c = l->calls;
        l->calls = c->next;
        pthread_mutex_unlock(&l->lock);
        c->fn(c->arg);
        n++;
        pthread_mutex_lock(&l->lock);
        c->done = true;
        pthread_cond_broadcast(&l->idle);
    }
    return n;
}

int util_loop_run_once(struct util_loop *l, int timeout_ms)
{
    struct epoll_event ev[32];
    /* From here on a removal defers its free to the end of the batch. */
    pthread_mutex_lock(&l->lock);
    l->in_batch = true;
    l->dispatcher = pthread_self();
    pthread_mutex_unlock(&l->lock);
    int n = epoll_wait(l->epfd, ev, 32, timeout_ms);
    int ran = 0, rc = n < 0 && errno != EINTR ? -errno : 0;
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < n; i++) {
        struct loop_reg *r = ev[i].data.ptr;
        if (!r) {               /* the stop eventfd */
            uint64_t v;
            if (read(l->stop_fd, &v, sizeof(v)) < 0) {
                /* already drained by an earlier batch */
            }
            ran += run_calls(l);
            continue;
        }
        if (r->dead)
            continue;
        l->current = r;
        pthread_mutex_unlock(&l->lock);
        r->fn(r->opaque, ev[i].events);
        ran++;
        pthread_mutex_lock(&l->lock);
        l->current = NULL;
        pthread_cond_broadcast(&l->idle);
    }
    struct loop_reg *g = l->graveyard;
    l->graveyard = NULL;
    l->in_batch = false;
    pthread_mutex_unlock(&l->lock);
    while (g) {
        struct loop_reg *n2 = g->next;
        free(g);
        g = n2;
    }
    return rc ? rc : ran;
}

void util_loop_call(struct util_loop *l, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&l->lock);
    bool direct = !l->started || l->stop ||
                  (l->in_batch && pthread_equal(l->dispatcher, pthread_self()));
    if (direct) {
        pthread_mutex_unlock(&l->lock);
        fn(arg);
        return;
    }
    struct loop_call c = { .fn = fn, .arg = arg };
    struct loop_call **tail = &l->calls;
    while (*tail)
        tail = &(*tail)->next;
    *tail = &c;
    uint64_t one = 1;
    if (write(l->stop_fd, &one, sizeof(one)) < 0) {
        /* a full counter still wakes the loop */
    }
    while (!c.done)
        pthread_cond_wait(&l->idle, &l->lock);
    pthread_mutex_unlock(&l->lock);
}

static void *loop_thread(void *arg)
{
    struct util_loop *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->lock);
        bool stop = l->stop;
        pthread_mutex_unlock(&l->lock);
        if (stop)
            break;
        if (util_loop_run_once(l, -1) < 0)
            break;
    }
    /* Calls queued after the last batch: they still run, here. */
    pthread_mutex_lock(&l->lock);
    run_calls(l);
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

int util_loop_start(struct util_loop *l, const char *name)
{
    if (l->started)
        return -EBUSY;
    l->stop = false;
    int rc = pthread_create(&l->thread, NULL, loop_thread, l);
    if (rc)
        return -rc;
    if (name) {
        char n[16];
        snprintf(n, sizeof(n), "%s", name);
        pthread_setname_np(l->thread, n);
    }
    l->started = true;
    return 0;
}

void util_loop_stop(struct util_loop *l)
{
    if (!l->started)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_mutex_unlock(&l->lock);
    uint64_t one = 1;
    if (write(l->stop_fd, &one, sizeof(one)) < 0) {
        /* the counter cannot overflow with one write per stop */
    }
    pthread_join(l->thread, NULL);
    l->started = false;
}

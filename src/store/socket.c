/*
 * The Unix socket transport: a poll() loop (POSIX; this module takes no
 * Linux-only header) serving any number of clients, all of them the
 * privileged domain 0, as with xenstored's socket.
 *
 * Each client has a read buffer; bytes go to its connection as fast as the
 * connection takes them (it refuses input while its unsent output is
 * large), and output is written without blocking, the rest when the socket
 * becomes writable. Watch events raised by other connections (possibly on
 * other threads, e.g. a guest ring) put the client on a pending list and
 * wake the loop through a pipe.
 *
 * Busy-poll (store_sock_set_busy_poll): XenStore clients are synchronous
 * (libxenstore sends a request, waits for the reply, sends the next), so
 * a request usually follows a reply within microseconds. Sleeping in
 * poll() between the two costs a wake-up each time: on another CPU an
 * inter-processor interrupt (tens of microseconds in a VM), on the same
 * CPU a preemption of the client after each of the separate writes
 * libxenstore makes per request. So after serving, the loop keeps
 * checking (poll with timeout 0) for a bounded window, yielding the CPU
 * between checks (a client on this CPU runs at once). The window adapts
 * as cpuidle's haltpoll does: it grows while the next event comes soon
 * after a sleep, shrinks when it expires unused, and is never used after
 * an idle step, so an idle daemon never spins and a busy one spends at
 * most the window per reply. On a CPU shared with other busy tasks a
 * yield hands them a whole time slice, while a sleeping daemon would be
 * woken (and preempt them) as soon as a request comes; so a yield that
 * takes far longer than a client's turnaround turns spinning off for a
 * while.
 *
 * Or the socket serves on a util_loop (store_sock_attach: the VMM's one
 * loop of dom0 services): the listening socket, the wake-up pipe and each
 * client are registrations there, each client watching what step() would
 * poll it for; the same accept, pump, flush and pending code serves them.
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <time.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "store_int.h"

#define RBUF 16384

struct sock_client {
    struct store_sock *k;
    struct sock_client *next, *prev;
    struct sock_client *pend_next;
    struct store_conn *c;
    int fd;
    bool pending;        /* on k->pend (guarded by k->pend_lock) */
    bool want_out;       /* output left: poll for POLLOUT */
    bool closing;
    bool more;           /* the last recv filled the buffer */
    uint32_t loop_events; /* registered for these on k->loop */
    uint32_t off, len;   /* unfed bytes in buf */
    char buf[RBUF];
};

struct store_sock {
    struct store *s;
    int lfd;
    int wake[2];
    char *path;
    struct sock_client *clients;
    unsigned nclients;
    pthread_mutex_t pend_lock;
    struct sock_client *pend;
    struct pollfd *pfd;
    struct sock_client **pcl;
    unsigned pcap;
    /* Busy-poll window (ns): the limit, the current adaptive value, and
     * whether the last step served anything. */
    uint32_t spin_max, spin;
    bool active;
    uint64_t spin_off_until;   /* CPU contended: no spinning until then */
    struct util_loop *loop;    /* store_sock_attach's, or NULL */
};

/* Smallest non-zero window: below this a spin rarely catches anything. */
#define SPIN_MIN_NS 4000u
/* A yield longer than this means another task had the CPU for a time
 * slice (a client's turnaround is ~10 us; a slice is ~1 ms)... */
#define SPIN_CONTENDED_NS 200000u
/* ...and then the loop sleeps instead of spinning for this long. */
#define SPIN_BACKOFF_NS 100000000u

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void client_wake(void *arg);
static const struct store_conn_ops client_ops = { client_wake };

/* Called with the store lock held, from any thread. */
static void client_wake(void *arg)
{
    struct sock_client *cl = arg;
    struct store_sock *k = cl->k;
    bool kick = false;
    pthread_mutex_lock(&k->pend_lock);
    if (!cl->pending) {
        cl->pending = true;
        kick = !k->pend;
        cl->pend_next = k->pend;
        k->pend = cl;
    }
    pthread_mutex_unlock(&k->pend_lock);
    if (kick) {
        char b = 1;
        ssize_t r = write(k->wake[1], &b, 1);
        (void)r;   /* a full pipe already wakes the loop */
    }
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* mkdir -p of the directory part of path. */
static int make_dirs(const char *path)
{
    char *d = strdup(path);
    if (!d)
        return -ENOMEM;
    for (char *p = d + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(d, 0755) && errno != EEXIST) {
            int e = errno;
            free(d);
            return -e;
        }
        *p = '/';
    }
    free(d);
    return 0;
}

struct store_sock *store_sock_open(struct store *s, const char *path, int *err)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        *err = -ENAMETOOLONG;
        return NULL;
    }
    if ((*err = make_dirs(path)))
        return NULL;
    struct store_sock *k = calloc(1, sizeof(*k));
    if (!k) {
        *err = -ENOMEM;
        return NULL;
    }
    k->s = s;
    k->wake[0] = k->wake[1] = -1;
    pthread_mutex_init(&k->pend_lock, NULL);
    k->path = strdup(path);
    /* A stale socket file is replaced, never any other kind of file nor a
     * socket a running daemon answers on. */
    k->lfd = util_unix_listen(path, 128, UTIL_NONBLOCK);
    if (k->lfd < 0) {
        errno = -k->lfd;
        goto fail;
    }
    if (!k->path || pipe(k->wake))
        goto fail;
    set_nonblock(k->wake[0]);
    set_nonblock(k->wake[1]);
    *err = 0;
    return k;
fail:
    *err = errno ? -errno : -ENOMEM;
    if (k->lfd >= 0)
        close(k->lfd);
    if (k->wake[0] >= 0) {
        close(k->wake[0]);
        close(k->wake[1]);
    }
    free(k->path);
    pthread_mutex_destroy(&k->pend_lock);
    free(k);
    return NULL;
}

static void client_free(struct sock_client *cl)
{
    struct store_sock *k = cl->k;
    /* After this no thread can wake cl (wake runs under the store lock). */
    store_conn_free(cl->c);
    pthread_mutex_lock(&k->pend_lock);
    if (cl->pending)
        for (struct sock_client **pp = &k->pend; *pp; pp = &(*pp)->pend_next)
            if (*pp == cl) {
                *pp = cl->pend_next;
                break;
            }
    pthread_mutex_unlock(&k->pend_lock);
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        k->clients = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    k->nclients--;
    if (k->loop)
        util_loop_del(k->loop, cl->fd);
    close(cl->fd);
    free(cl);
}

static void loop_client(void *arg, uint32_t events);

static void do_accept(struct store_sock *k)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept(k->lfd, NULL, NULL);
        if (fd < 0)
            return;
        set_nonblock(fd);
        struct sock_client *cl = malloc(sizeof(*cl));
        if (!cl) {
            close(fd);
            continue;
        }
        memset(cl, 0, offsetof(struct sock_client, buf));
        cl->k = k;
        cl->fd = fd;
        cl->c = store_conn_new(k->s, 0, true, &client_ops, cl);
        if (!cl->c) {
            close(fd);
            free(cl);
            continue;
        }
        cl->next = k->clients;
        if (k->clients)
            k->clients->prev = cl;
        k->clients = cl;
        k->nclients++;
        cl->loop_events = UTIL_LOOP_IN;
        if (k->loop && util_loop_add(k->loop, fd, cl->loop_events,
                                     loop_client, cl) < 0)
            client_free(cl);
    }
}

/* Messages sent per sendmsg(): a reply is one; a watch fan-out queues
 * many events on a connection, which then go out in a few calls. */
#define FLUSH_IOV 32

/* Write what the connection has queued; want_out if the socket is full. */
static void flush(struct sock_client *cl)
{
    struct iovec iov[FLUSH_IOV];
    unsigned n;
    cl->want_out = false;
    while ((n = store_conn_out_iov(cl->c, iov, FLUSH_IOV)) > 0) {
        size_t total = 0;
        for (unsigned i = 0; i < n; i++)
            total += iov[i].iov_len;
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = n };
        ssize_t w = sendmsg(cl->fd, &m, MSG_NOSIGNAL);
        if (w > 0) {
            store_conn_out_consume(cl->c, (size_t)w);
            /* All of a short queue went: done. What other threads queue
             * meanwhile wakes the loop (client_wake). */
            if ((size_t)w == total && n < FLUSH_IOV)
                return;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            cl->want_out = true;
        else if (w < 0 && errno == EINTR)
            continue;
        else
            cl->closing = true;
        return;
    }
}

/* Feed buffered input; read more while the connection takes it. */
static void pump(struct sock_client *cl)
{
    for (int rounds = 0; rounds < 8 && !cl->closing; rounds++) {
        if (cl->len > cl->off) {
            cl->off += (uint32_t)store_conn_feed(cl->c, cl->buf + cl->off,
                                                 cl->len - cl->off);
            if (cl->off == cl->len)
                cl->off = cl->len = 0;
        }
        flush(cl);
        if (store_conn_dead(cl->c)) {
            cl->closing = true;
            return;
        }
        if (cl->len > cl->off)
            return;   /* back-pressure: resume when output drains */
        /* After a short read poll says when more comes, unless half a
         * message is waiting (libxenstore writes header and body apart:
         * the body is usually there already). in_len is only changed by
         * feeding, which happens on this thread. */
        if (rounds > 0 && !cl->more && cl->c->in_len == 0)
            return;
        ssize_t n = recv(cl->fd, cl->buf, RBUF, 0);
        if (n > 0) {
            cl->off = 0;
            cl->len = (uint32_t)n;
            cl->more = n == RBUF;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
                       errno != EINTR))
            cl->closing = true;
        return;
    }
}

/* What a client waits for: what store_sock_step polls it for. */
static uint32_t client_interest(const struct sock_client *cl)
{
    uint32_t ev = 0;
    if (cl->len == cl->off)
        ev |= UTIL_LOOP_IN;
    if (cl->want_out || cl->len > cl->off)
        ev |= UTIL_LOOP_OUT;
    return ev;
}

/* On the loop, after serving cl: free it if it is closing, else watch
 * for what it waits for now. */
static void loop_settle(struct sock_client *cl)
{
    if (cl->closing) {
        client_free(cl);
        return;
    }
    uint32_t ev = client_interest(cl);
    if (ev != cl->loop_events && util_loop_mod(cl->k->loop, cl->fd, ev) == 0)
        cl->loop_events = ev;
}

static void loop_client(void *arg, uint32_t events)
{
    struct sock_client *cl = arg;
    if (events & UTIL_LOOP_OUT)
        flush(cl);
    /* Input, hang-up or error (anything but writable), as step() pumps. */
    if ((events & ~UTIL_LOOP_OUT) || cl->len > cl->off)
        pump(cl);
    loop_settle(cl);
}

static void run_pending(struct store_sock *k)
{
    char drain[64];
    while (read(k->wake[0], drain, sizeof(drain)) > 0)
        ;
    pthread_mutex_lock(&k->pend_lock);
    struct sock_client *list = k->pend;
    k->pend = NULL;
    for (struct sock_client *cl = list; cl; cl = cl->pend_next)
        cl->pending = false;
    pthread_mutex_unlock(&k->pend_lock);
    /* The list is private now; clients are only freed on this thread. */
    for (struct sock_client *cl = list, *next; cl; cl = next) {
        next = cl->pend_next;
        if (!cl->closing)
            flush(cl);
        if (k->loop)
            loop_settle(cl);
    }
}

/* The next event came t ns after the wait began: had the window been
 * longer it would have been caught without a sleep, so grow; if it came
 * later than the limit (or not at all), a spin would be waste: shrink. */
static void spin_adapt(struct store_sock *k, uint64_t now, uint64_t t,
                       bool event)
{
    if (event && t < k->spin_max && now >= k->spin_off_until) {
        uint32_t w = k->spin ? k->spin * 2 : SPIN_MIN_NS;
        k->spin = w < k->spin_max ? w : k->spin_max;
    } else {
        k->spin /= 2;
        if (k->spin < SPIN_MIN_NS)
            k->spin = 0;
    }
}

/* poll() the n prepared fds: first, after a step that served something,
 * spin for up to the busy-poll window; then sleep up to timeout_ms. */
static int sock_wait(struct store_sock *k, unsigned n, int timeout_ms)
{
    if (!k->spin_max || timeout_ms == 0)
        return poll(k->pfd, n, timeout_ms);
    uint64_t t0 = mono_ns();
    if (k->active && k->spin) {
        uint64_t end = t0 + k->spin;
        for (uint64_t now = t0; now < end;) {
            int r = poll(k->pfd, n, 0);
            if (r)
                return r;          /* caught: keep the window */
            sched_yield();         /* a client on this CPU runs now */
            uint64_t after = mono_ns();
            if (after - now > SPIN_CONTENDED_NS) {
                k->spin = 0;
                k->spin_off_until = after + SPIN_BACKOFF_NS;
                break;
            }
            now = after;
        }
    }
    int r = poll(k->pfd, n, timeout_ms);
    if (r >= 0) {
        uint64_t now = mono_ns();
        spin_adapt(k, now, now - t0, r > 0);
    }
    return r;
}

void store_sock_set_busy_poll(struct store_sock *k, unsigned usec)
{
    uint64_t ns = (uint64_t)usec * 1000u;
    k->spin_max = ns > 1000000000u ? 1000000000u : (uint32_t)ns;
    k->spin = 0;
}

int store_sock_step(struct store_sock *k, int timeout_ms)
{
    unsigned need = k->nclients + 2;
    if (need > k->pcap) {
        unsigned cap = need * 2;
        struct pollfd *p = realloc(k->pfd, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        k->pfd = p;
        struct sock_client **c = realloc(k->pcl, cap * sizeof(*c));
        if (!c)
            return -ENOMEM;
        k->pcl = c;
        k->pcap = cap;
    }
    unsigned n = 0;
    k->pfd[n++] = (struct pollfd){ .fd = k->lfd, .events = POLLIN };
    k->pfd[n++] = (struct pollfd){ .fd = k->wake[0], .events = POLLIN };
    for (struct sock_client *cl = k->clients; cl; cl = cl->next) {
        short ev = 0;
        if (cl->len == cl->off)
            ev |= POLLIN;
        if (cl->want_out || cl->len > cl->off)
            ev |= POLLOUT;
        k->pcl[n] = cl;
        k->pfd[n++] = (struct pollfd){ .fd = cl->fd, .events = ev };
    }
    int r = sock_wait(k, n, timeout_ms);
    if (r < 0)
        return errno == EINTR ? 0 : -errno;
    k->active = r > 0;
    if (k->pfd[1].revents)
        run_pending(k);
    for (unsigned i = 2; i < n; i++) {
        struct sock_client *cl = k->pcl[i];
        short re = k->pfd[i].revents;
        if (!re || cl->closing)
            continue;
        if (re & POLLOUT)
            flush(cl);
        if (re & (POLLIN | POLLHUP | POLLERR) || cl->len > cl->off)
            pump(cl);
    }
    if (k->pfd[0].revents)
        do_accept(k);
    for (struct sock_client *cl = k->clients, *next; cl; cl = next) {
        next = cl->next;
        if (cl->closing)
            client_free(cl);
    }
    return 0;
}

static void loop_listen(void *arg, uint32_t events)
{
    (void)events;
    do_accept(arg);
}

static void loop_wake(void *arg, uint32_t events)
{
    (void)events;
    run_pending(arg);
}

int store_sock_attach(struct store_sock *k, struct util_loop *loop)
{
    if (k->loop)
        return -EBUSY;
    int rc = util_loop_add(loop, k->lfd, UTIL_LOOP_IN, loop_listen, k);
    if (rc)
        return rc;
    rc = util_loop_add(loop, k->wake[0], UTIL_LOOP_IN, loop_wake, k);
    if (rc) {
        util_loop_del(loop, k->lfd);
        return rc;
    }
    k->loop = loop;
    /* Clients accepted by step() before: onto the loop too. */
    for (struct sock_client *cl = k->clients, *next; cl; cl = next) {
        next = cl->next;
        cl->loop_events = client_interest(cl);
        if (util_loop_add(loop, cl->fd, cl->loop_events, loop_client, cl))
            client_free(cl);
    }
    return 0;
}

int store_sock_run(struct store_sock *k, volatile int *stop)
{
    /* An atomic load: another thread (or a signal handler) sets it. */
    while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
        int rc = store_sock_step(k, 200);
        if (rc)
            return rc;
    }
    return 0;
}

unsigned store_sock_clients(struct store_sock *k)
{
    return k->nclients;
}

void store_sock_close(struct store_sock *k)
{
    if (!k)
        return;
    while (k->clients)
        client_free(k->clients);
    if (k->loop) {
        util_loop_del(k->loop, k->lfd);
        util_loop_del(k->loop, k->wake[0]);
    }
    close(k->lfd);
    close(k->wake[0]);
    close(k->wake[1]);
    unlink(k->path);
    free(k->path);
    free(k->pfd);
    free(k->pcl);
    pthread_mutex_destroy(&k->pend_lock);
    free(k);
}

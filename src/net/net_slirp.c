/*
 * User-mode networking: Debian's libslirp (DHCP, DNS, NAT to the host,
 * port forwards) as one port of the in-process switch, with QEMU's
 * -netdev user defaults (10.0.2.0/24, host 10.0.2.2, DNS 10.0.2.3, DHCP
 * from 10.0.2.15; IPv4 only).
 *
 * Threads. libslirp wants a poll loop of its own (slirp_pollfds_fill and
 * _poll over its sockets) and timers, and is not thread-safe: it runs on a
 * thread of its own, which alone touches the Slirp. The switch side (the
 * uplink port, the vifs' forwards) stays on the switch's loop thread. Two
 * bounded queues of frame copies cross between them, each with an eventfd
 * to wake its consumer: tx (switch -> slirp, also carrying commands: a
 * vif's forwards added, moved, removed) and rx (slirp -> switch). Their
 * mutex is the only lock; a full queue drops the frame and counts it
 * (TCP in the guest or in slirp retransmits). The tx queue is shared
 * fairly by sending port (q_push): a guest that floods slirp loses its
 * own frames, not the other guests'. The loop thread waits for
 * the slirp thread only for a command whose answer it needs (adding or
 * removing a vif's forwards); the slirp thread never waits for the loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "net_int.h"

#define SQ_LEN 256              /* frames per queue */

struct sq_ent {
    uint8_t *data;
    size_t len;
};

/* A sender's frames in a queue: its port, a key never dereferenced (a
 * port closed and another allocated at its address before the queue is
 * next taken would only inherit its count until then). */
struct sq_owner {
    const void *who;
    unsigned int n;
};

/* One direction: a ring of frame copies (under net_slirp.lock). */
struct slirp_q {
    struct sq_ent e[SQ_LEN];
    unsigned int head, count;
    struct sq_owner own[SQ_LEN]; /* the senders of what is queued */
    unsigned int nown;
    int efd;                    /* the consumer's wake-up */
    uint64_t dropped;
};

enum cmd_kind { CMD_VIF_ADD, CMD_VIF_ADDR, CMD_VIF_DEL };

/* Work for the slirp thread about a vif's forwards. */
struct slirp_cmd {
    enum cmd_kind kind;
    struct net_slirp_vif *vif;
    struct in_addr guest;       /* CMD_VIF_ADDR: the vif's new address */
    bool wait;                  /* the sender waits for done (and frees) */
    bool done;
    int failed;                 /* CMD_VIF_ADD: the rule not added, or -1 */
    int err;                    /* its errno */
    struct slirp_cmd *next;
};

struct slirp_timer {
    SlirpTimerCb cb;
    void *opaque;
    int64_t expire_ms;          /* -1: not armed */
    struct slirp_timer *next;
};

struct net_slirp {
    struct net_network *sw;
    struct net_port *up;        /* our port on the switch (loop thread) */
    pthread_t thread;
    struct in_addr vdhcp;       /* constant: the first DHCP address */
    struct util_ratelimit rl;   /* guest-caused messages */

    pthread_mutex_t lock;       /* tx, rx, cmds, stop */
    pthread_cond_t cmd_done;
    struct slirp_q tx;          /* switch -> slirp; efd also for cmds */
    struct slirp_q rx;          /* slirp -> switch; efd on the loop */
    struct slirp_cmd *cmds, **cmds_tail;
    bool stop;
    bool hold;                  /* tests: tx frames stay queued */

    /* The slirp thread's alone. */
    Slirp *slirp;
    struct pollfd *pfd;
    size_t npfd, pfd_cap;
    struct slirp_timer *timers;
};

struct net_slirp_vif {
    struct net_slirp *s;
    char name[32];
    struct net_hostfwd *fwd;    /* set at creation, then only read */
    size_t nfwd;
    bool learn;                 /* its guest-address-less rules follow the
                                 * guest's source address */
    struct in_addr guest;       /* the loop thread's: where they point */
};

static void wake(int efd)
{
    uint64_t one = 1;

    if (write(efd, &one, sizeof(one)) < 0) {
        /* the counter is saturated: the consumer is awake anyway */
    }
}

static void drain(int efd)
{
    uint64_t v;

    if (read(efd, &v, sizeof(v)) < 0) {
        /* nothing was pending */
    }
}

/* who's slot in q's senders (q->nown: none yet); lock held. */
static unsigned int q_owner(const struct slirp_q *q, const void *who)
{
    unsigned int i;

    for (i = 0; i < q->nown; i++)
        if (q->own[i].who == who)
            break;
    return i;
}

/* Queue a copy of d[0..len) from sender who (NULL: the queue is not
 * shared) on q and wake its consumer. -ENOBUFS: full, or who holds its
 * share (counted).
 *
 * The share is a dynamic threshold (Choudhury and Hahne's, for a switch's
 * shared buffer): a sender may queue a frame while it holds fewer frames
 * than the queue has free slots. One port flooding alone holds at most
 * half the queue, k flooding ports SQ_LEN/(k+1) each, and the rest stays
 * free: a port holding less than that (a healthy guest) always gets its
 * frame in, however hard the others flood (while fewer than SQ_LEN
 * senders hold frames).
 * A fixed cap per sender would have to guess how many ports flood. The
 * consumer takes the whole queue at once, which forgets every share. */
static int q_push(struct net_slirp *s, struct slirp_q *q, const uint8_t *d,
                  size_t len, const void *who)
{
    uint8_t *copy = malloc(len);
    unsigned int o = 0, held = 0;
    bool was_empty;

    if (!copy)
        return -ENOMEM;
    memcpy(copy, d, len);
    pthread_mutex_lock(&s->lock);
    if (who) {
        o = q_owner(q, who);
        held = o < q->nown ? q->own[o].n : 0;
    }
    if (held >= SQ_LEN - q->count) {        /* also: the queue is full */
        q->dropped++;
        pthread_mutex_unlock(&s->lock);
        free(copy);
        return -ENOBUFS;
    }
    if (who) {
        /* each sender listed holds a frame: never more than SQ_LEN */
        if (o == q->nown)
            q->own[q->nown++] = (struct sq_owner){ who, 0 };
        q->own[o].n++;
    }
    was_empty = q->count == 0;
    q->e[(q->head + q->count) % SQ_LEN] = (struct sq_ent){ copy, len };
    q->count++;
    pthread_mutex_unlock(&s->lock);
    /* A consumer drains its eventfd before it takes the queue: a push
     * onto a non-empty queue is still ahead of it. */
    if (was_empty)
        wake(q->efd);
    return 0;
}

/* Everything queued on q, into out[SQ_LEN]; lock held. */
static unsigned int q_take(struct slirp_q *q, struct sq_ent *out)
{
    unsigned int n = q->count;

    for (unsigned int i = 0; i < n; i++)
        out[i] = q->e[(q->head + i) % SQ_LEN];
    q->head = (q->head + n) % SQ_LEN;
    q->count = 0;
    q->nown = 0;
    return n;
}

static void q_free(struct slirp_q *q)
{
    struct sq_ent e[SQ_LEN];
    unsigned int n = q_take(q, e);

    for (unsigned int i = 0; i < n; i++)
        free(e[i].data);
    if (q->efd >= 0)
        close(q->efd);
}

/* ---- libslirp's callbacks (slirp thread) ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_slirp *s = opaque;

    if (len >= 14 && len <= NET_FRAME_MAX)
        (void)q_push(s, &s->rx, buf, len, NULL); /* full: dropped, counted */
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    struct net_slirp *s = opaque;

    util_log_ratelimited(&s->rl, stderr, "slirp: ", "%s", msg);
}

static int64_t cb_clock_ns(void *opaque)
{
    struct timespec ts;

    (void)opaque;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct net_slirp *s = opaque;
    struct slirp_timer *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->cb = cb;
    t->opaque = cb_opaque;
    t->expire_ms = -1;
    t->next = s->timers;
    s->timers = t;
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct net_slirp *s = opaque;

    for (struct slirp_timer **pp = &s->timers; *pp; pp = &(*pp)->next)
        if (*pp == timer) {
            *pp = (*pp)->next;
            free(timer);
            return;
        }
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    (void)opaque;
    if (timer)
        ((struct slirp_timer *)timer)->expire_ms = expire_ms;
}

static void cb_poll_fd(int fd, void *opaque)
{
    (void)fd;
    (void)opaque;       /* slirp_pollfds_fill names every fd each round */
}

static void cb_notify(void *opaque)
{
    (void)opaque;       /* only for guestfwd, which is not used */
}

static const SlirpCb slirp_cbs = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_poll_fd,
    .unregister_poll_fd = cb_poll_fd,
    .notify = cb_notify,
};

static int add_poll(int fd, int events, void *opaque)
{
    struct net_slirp *s = opaque;
    short ev = 0;

    if (s->npfd == s->pfd_cap) {
        size_t cap = s->pfd_cap ? s->pfd_cap * 2 : 16;
        struct pollfd *p = realloc(s->pfd, cap * sizeof(*p));
        if (!p)
            return -1;  /* not watched this round; get_revents says 0 */
        s->pfd = p;
        s->pfd_cap = cap;
    }
    if (events & SLIRP_POLL_IN)
        ev |= POLLIN;
    if (events & SLIRP_POLL_OUT)
        ev |= POLLOUT;
    if (events & SLIRP_POLL_PRI)
        ev |= POLLPRI;
    s->pfd[s->npfd] = (struct pollfd){ .fd = fd, .events = ev };
    return (int)s->npfd++;
}

static int get_revents(int idx, void *opaque)
{
    struct net_slirp *s = opaque;
    short re;
    int out = 0;

    if (idx < 0 || (size_t)idx >= s->npfd)
        return 0;
    re = s->pfd[idx].revents;
    if (re & POLLIN)
        out |= SLIRP_POLL_IN;
    if (re & POLLOUT)
        out |= SLIRP_POLL_OUT;
    if (re & POLLPRI)
        out |= SLIRP_POLL_PRI;
    if (re & (POLLERR | POLLNVAL))
        out |= SLIRP_POLL_ERR;
    if (re & POLLHUP)
        out |= SLIRP_POLL_HUP;
    return out;
}

/* ---- the slirp thread ---- */

/* timeout (ms, UINT32_MAX: none) cut to the next armed timer. */
static uint32_t timers_clip(struct net_slirp *s, uint32_t timeout)
{
    int64_t now = cb_clock_ns(s) / 1000000;

    for (struct slirp_timer *t = s->timers; t; t = t->next) {
        if (t->expire_ms < 0)
            continue;
        int64_t d = t->expire_ms > now ? t->expire_ms - now : 0;
        if ((uint64_t)d < timeout)
            timeout = (uint32_t)d;
    }
    return timeout;
}

/* Fire the timers that are due (a callback may re-arm or free any). */
static void timers_run(struct net_slirp *s)
{
    int64_t now = cb_clock_ns(s) / 1000000;
    bool again = true;

    while (again) {
        again = false;
        for (struct slirp_timer *t = s->timers; t; t = t->next)
            if (t->expire_ms >= 0 && t->expire_ms <= now) {
                t->expire_ms = -1;
                t->cb(t->opaque);
                again = true;   /* the list may have changed */
                break;
            }
    }
}

/* Point rule r of v at guest (slirp thread). 0 or -errno. */
static int fwd_add(struct net_slirp *s, const struct net_hostfwd *r,
                   struct in_addr guest)
{
    errno = 0;
    if (slirp_add_hostfwd(s->slirp, r->udp, r->host_addr, r->host_port,
                          r->guest_addr.s_addr ? r->guest_addr : guest,
                          r->guest_port) < 0)
        return errno ? -errno : -EADDRINUSE;
    return 0;
}

static void fwd_del(struct net_slirp *s, const struct net_hostfwd *r)
{
    (void)slirp_remove_hostfwd(s->slirp, r->udp, r->host_addr, r->host_port);
}

static void cmd_exec(struct net_slirp *s, struct slirp_cmd *c)
{
    struct net_slirp_vif *v = c->vif;

    switch (c->kind) {
    case CMD_VIF_ADD:
        for (size_t i = 0; i < v->nfwd; i++) {
            int rc = fwd_add(s, &v->fwd[i], c->guest);
            if (rc < 0) {
                c->failed = (int)i;
                c->err = -rc;
                while (i--)
                    fwd_del(s, &v->fwd[i]);
                break;
            }
        }
        break;
    case CMD_VIF_ADDR:
        for (size_t i = 0; i < v->nfwd; i++) {
            if (v->fwd[i].guest_addr.s_addr)
                continue;
            fwd_del(s, &v->fwd[i]);
            if (fwd_add(s, &v->fwd[i], c->guest) < 0)
                util_log_ratelimited(&s->rl, stderr, "slirp: ",
                                     "%s: %s host port %u lost: cannot "
                                     "listen again", v->name,
                                     v->fwd[i].udp ? "udp" : "tcp",
                                     v->fwd[i].host_port);
        }
        break;
    case CMD_VIF_DEL:
        for (size_t i = 0; i < v->nfwd; i++)
            fwd_del(s, &v->fwd[i]);
        break;
    }
}

/* The commands, then the frames queued for slirp. false: stop. */
static bool slirp_work(struct net_slirp *s)
{
    struct sq_ent e[SQ_LEN];
    struct slirp_cmd *c;
    unsigned int n;

    pthread_mutex_lock(&s->lock);
    if (s->stop) {
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    c = s->cmds;
    s->cmds = NULL;
    s->cmds_tail = &s->cmds;
    n = s->hold ? 0 : q_take(&s->tx, e);
    pthread_mutex_unlock(&s->lock);
    while (c) {
        struct slirp_cmd *next = c->next;
        cmd_exec(s, c);
        if (c->wait) {
            pthread_mutex_lock(&s->lock);
            c->done = true;
            pthread_cond_broadcast(&s->cmd_done);
            pthread_mutex_unlock(&s->lock);
        } else {
            free(c);
        }
        c = next;
    }
    for (unsigned int i = 0; i < n; i++) {
        slirp_input(s->slirp, e[i].data, (int)e[i].len);
        free(e[i].data);
    }
    return true;
}

static void *slirp_main(void *arg)
{
    struct net_slirp *s = arg;

    do {
        uint32_t timeout = UINT32_MAX;
        int rc;

        s->npfd = 0;
        (void)add_poll(s->tx.efd, SLIRP_POLL_IN, s);
        slirp_pollfds_fill(s->slirp, &timeout, add_poll, s);
        timeout = timers_clip(s, timeout);
        rc = poll(s->pfd, s->npfd,
                  timeout > INT_MAX ? -1 : (int)timeout);
        slirp_pollfds_poll(s->slirp, rc < 0, get_revents, s);
        timers_run(s);
        drain(s->tx.efd);
    } while (slirp_work(s));
    return NULL;
}

/* ---- the loop thread's side ---- */

/* Hand c to the slirp thread; with c->wait, return once it is done. */
static void cmd_post(struct net_slirp *s, struct slirp_cmd *c)
{
    bool wait = c->wait;    /* without it, c is the slirp thread's */

    pthread_mutex_lock(&s->lock);
    c->next = NULL;
    *s->cmds_tail = c;
    s->cmds_tail = &c->next;
    pthread_mutex_unlock(&s->lock);
    wake(s->tx.efd);
    if (!wait)
        return;
    pthread_mutex_lock(&s->lock);
    while (!c->done)
        pthread_cond_wait(&s->cmd_done, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

/* The switch hands our port a frame: to slirp, within its sender's share
 * of the queue. A frame refused is counted in our rx_dropped (as any a
 * port refuses) and in its sender's tx_dropped, which is the sender's own
 * loss (the switch had taken it: its tx_frames counts it too). */
static int up_deliver(void *opaque, const struct net_frame *f)
{
    struct net_slirp *s = opaque;
    struct net_port *from = net_switch_sender(s->sw);

    if (q_push(s, &s->tx, f->data, f->len, from) < 0) {
        if (from)
            from->st.tx_dropped++;
        return -ENOBUFS;
    }
    return 0;
}

static const struct net_port_ops up_ops = { .deliver = up_deliver };

/* slirp's frames, into the switch through our port. */
static void rx_ready(void *opaque, uint32_t events)
{
    struct net_slirp *s = opaque;
    struct sq_ent e[SQ_LEN];
    unsigned int n;

    (void)events;
    drain(s->rx.efd);
    pthread_mutex_lock(&s->lock);
    n = q_take(&s->rx, e);
    pthread_mutex_unlock(&s->lock);
    for (unsigned int i = 0; i < n; i++) {
        struct net_frame f = { .data = e[i].data, .len = e[i].len };
        (void)net_port_send(s->up, &f);
        free(e[i].data);
    }
}

struct net_slirp_vif *net_slirp_vif_add(struct net_slirp *s,
                                        const struct net_port_config *cfg,
                                        char *err, size_t errlen)
{
    struct net_slirp_vif *v = calloc(1, sizeof(*v));
    struct slirp_cmd c = { .kind = CMD_VIF_ADD, .wait = true, .failed = -1 };

    if (!v || !(v->fwd = calloc(cfg->nfwd, sizeof(*v->fwd)))) {
        free(v);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    v->s = s;
    snprintf(v->name, sizeof(v->name), "%s", cfg->name ? cfg->name : "port");
    memcpy(v->fwd, cfg->fwd, cfg->nfwd * sizeof(*v->fwd));
    v->nfwd = cfg->nfwd;
    /* Until the guest is seen, forwards go to its ip= or to the first
     * DHCP address (where a lone guest's DHCP puts it). */
    v->guest = cfg->ip.s_addr ? cfg->ip : s->vdhcp;
    for (size_t i = 0; i < v->nfwd; i++)
        if (!v->fwd[i].guest_addr.s_addr && !cfg->ip.s_addr)
            v->learn = true;
    c.vif = v;
    c.guest = v->guest;
    cmd_post(s, &c);
    if (c.failed >= 0) {
        const struct net_hostfwd *r = &v->fwd[c.failed];
        char a[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &r->host_addr, a, sizeof(a));
        snprintf(err, errlen, "%s: port forward %s %s:%u: cannot listen on "
                 "the host: %s", v->name, r->udp ? "udp" : "tcp", a,
                 r->host_port, strerror(c.err));
        free(v->fwd);
        free(v);
        return NULL;
    }
    return v;
}

void net_slirp_vif_seen(struct net_slirp_vif *v, const struct net_frame *f)
{
    const uint8_t *d = f->data;
    struct slirp_cmd *c;
    struct in_addr src;
    uint32_t h;

    if (!v->learn || f->len < 34 || d[12] != 0x08 || d[13] != 0x00 ||
        (d[14] >> 4) != 4)
        return;
    memcpy(&src.s_addr, d + 26, 4);
    h = ntohl(src.s_addr);
    if (!h || h >= 0xe0000000u || src.s_addr == v->guest.s_addr)
        return;                 /* none, multicast, broadcast, known */
    c = calloc(1, sizeof(*c));
    if (!c)
        return;                 /* the next frame tries again */
    v->guest = src;
    c->kind = CMD_VIF_ADDR;
    c->vif = v;
    c->guest = src;
    cmd_post(v->s, c);
}

void net_slirp_vif_del(struct net_slirp_vif *v)
{
    struct slirp_cmd c = { .kind = CMD_VIF_DEL, .vif = v, .wait = true };

    if (!v)
        return;
    cmd_post(v->s, &c);     /* after any CMD_VIF_ADDR of v still queued */
    free(v->fwd);
    free(v);
}

void net_slirp_hold(struct net_slirp *s, bool hold)
{
    pthread_mutex_lock(&s->lock);
    s->hold = hold;
    pthread_mutex_unlock(&s->lock);
    if (!hold)
        wake(s->tx.efd);        /* what piled up is ahead of it */
}

/* The network, its host (.2), DNS (.3) and first DHCP address (.15). */
static int slirp_addrs(const struct net_switch_config *cfg, SlirpConfig *sc,
                       char *err, size_t errlen)
{
    uint32_t net = cfg->net.s_addr ? ntohl(cfg->net.s_addr) : 0x0a000200u;
    uint32_t mask = cfg->mask.s_addr ? ntohl(cfg->mask.s_addr) : 0xffffff00u;

    /* slirp hands out 16 DHCP addresses from .15: a /26 at least. */
    if ((net & ~mask) || (mask & (~mask >> 1)) || (~mask) < 63) {
        snprintf(err, errlen, "user-mode network: %08x/%08x is not a "
                 "network of 64 addresses or more", net, mask);
        return -EINVAL;
    }
    sc->vnetwork.s_addr = htonl(net);
    sc->vnetmask.s_addr = htonl(mask);
    sc->vhost.s_addr = htonl(net | 2);
    sc->vnameserver.s_addr = htonl(net | 3);
    sc->vdhcp_start.s_addr = htonl(net | 15);
    return 0;
}

struct net_slirp *net_slirp_create(struct net_network *sw,
                                   const struct net_switch_config *cfg,
                                   char *err, size_t errlen)
{
    SlirpConfig sc = {
        .version = 4,
        .restricted = cfg->restrict_host,
        .in_enabled = true,
        .in6_enabled = false,
    };
    struct net_port_config pc = { .ops = &up_ops, .name = "slirp" };
    struct net_slirp *s;

    if (slirp_addrs(cfg, &sc, err, errlen) < 0)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->sw = sw;
    s->vdhcp = sc.vdhcp_start;
    s->cmds_tail = &s->cmds;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cmd_done, NULL);
    s->tx.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->rx.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->tx.efd < 0 || s->rx.efd < 0) {
        snprintf(err, errlen, "user-mode network: eventfd: %s",
                 strerror(errno));
        goto fail;
    }
    s->slirp = slirp_new(&sc, &slirp_cbs, s);
    if (!s->slirp) {
        snprintf(err, errlen, "user-mode network: libslirp refused it");
        goto fail;
    }
    /* slirp's own MAC, 52:55 and its host address. */
    pc.opaque = s;
    pc.mac[0] = 0x52;
    pc.mac[1] = 0x55;
    memcpy(pc.mac + 2, &sc.vhost.s_addr, 4);
    s->up = net_connect(sw, &pc, err, errlen);
    if (!s->up)
        goto fail;
    net_port_set_offloads(s->up, 0);    /* plain frames: it checks sums */
    if (util_loop_add(sw->loop, s->rx.efd, UTIL_LOOP_IN, rx_ready, s) < 0) {
        snprintf(err, errlen, "user-mode network: cannot watch its queue");
        goto fail;
    }
    if (pthread_create(&s->thread, NULL, slirp_main, s)) {
        util_loop_del(sw->loop, s->rx.efd);
        snprintf(err, errlen, "user-mode network: no thread");
        goto fail;
    }
    return s;
fail:
    net_port_close(s->up);
    if (s->slirp)
        slirp_cleanup(s->slirp);
    q_free(&s->tx);
    q_free(&s->rx);
    pthread_cond_destroy(&s->cmd_done);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

void net_slirp_destroy(struct net_slirp *s)
{
    if (!s)
        return;
    util_loop_del(s->sw->loop, s->rx.efd);
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_mutex_unlock(&s->lock);
    wake(s->tx.efd);
    pthread_join(s->thread, NULL);
    /* Only asynchronous commands can be left (their vifs are gone). */
    while (s->cmds) {
        struct slirp_cmd *c = s->cmds;
        s->cmds = c->next;
        free(c);
    }
    slirp_cleanup(s->slirp);
    while (s->timers)
        cb_timer_free(s->timers, s);
    free(s->pfd);
    net_port_close(s->up);
    q_free(&s->tx);
    q_free(&s->rx);
    pthread_cond_destroy(&s->cmd_done);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

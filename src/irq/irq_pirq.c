/*
 * Xen PIRQ event channels (seed 003): the logic of Xen's pirq_guest_bind /
 * pirq_guest_unbind / do_IRQ_guest / pirq_guest_eoi and the PHYSDEVOPs that
 * map host lines to a domain's PIRQ numbers.
 *
 * Per host line, one guest action (Xen's irq_guest_action_t): the sharing
 * domains, whether the first binder agreed to share, the ack type, and the
 * in-flight count. The action is the line's sink at the ICU; it lives as
 * long as the router, so a raise that races with the last unbind finds an
 * inactive action rather than freed memory.
 *
 * A level interrupt in flight on a shared line is bounded in time, as in
 * Xen: each raise (re)arms the action's EOI deadline, 1 ms later (Xen's
 * eoi_timer set in do_IRQ_guest); when it passes with sharers still
 * masked, they are force-EOI'd (irq_guest_eoi_timer_fn) and the line is
 * unmasked, so one sharer that never EOIs cannot starve the others. Unlike
 * Xen, a line with a single guest gets no deadline: holding it harms only
 * that guest, and forcing its EOI while its vCPU thread waits for a host
 * CPU (a millisecond is short for a thread) would only re-raise a line it
 * has not finished with. The deadlines share one timerfd, watched by the
 * ICU's loop, armed for the earliest of them.
 *
 * PIRQ -> port is the evtchn core's (Xen's pirq->evtchn): the router keeps
 * only which PIRQs are bound, and delivers with evtchn_send_pirq(dom, pirq).
 * It attaches itself to the core as its PIRQ router (evtchn_pirq_router),
 * so the core tells it of each bind, unbind and unmask directly.
 *
 * Locking: r->lock protects everything here. Delivery collects its targets
 * under the lock and calls evtchn_send_pirq after dropping it, because the
 * evtchn core calls our router hooks with its domain lock held. The ICU may be
 * called with r->lock held (it never calls a sink back synchronously).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <xen/errno.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/irq.h"
#include "irq_int.h"
#include "irq_pirq_int.h"

static const struct irq_sink_ops pirq_sink_ops;

static struct irq_sink action_sink(struct pirq_action *a)
{
    return (struct irq_sink){ .ops = &pirq_sink_ops, .ctx = a };
}

struct pirq_dom *pirq_dom_find(struct irq_pirq *r, domid_t id)
{
    for (struct pirq_dom *d = r->doms; d; d = d->next)
        if (d->id == id)
            return d;
    return NULL;
}

/* The guest's EOI bitmap: bit set while a PIRQ needs PHYSDEVOP_eoi. The
 * page is guest memory, so only atomic bit operations touch it. */
void pirq_eoi_bit(struct pirq_dom *d, uint32_t pirq, bool set)
{
    if (!d || !d->eoi_map || pirq >= PIRQ_MAX)
        return;
    uint64_t bit = 1ull << (pirq % 64);
    if (set)
        __atomic_fetch_or(&d->eoi_map[pirq / 64], bit, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_and(&d->eoi_map[pirq / 64], ~bit, __ATOMIC_SEQ_CST);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Set the timerfd for deadline (0: disarm). r->lock held. */
static void timer_set_locked(struct irq_pirq *r, uint64_t deadline)
{
    struct itimerspec its = { 0 };
    if (deadline) {
        its.it_value.tv_sec = (time_t)(deadline / 1000000000ull);
        its.it_value.tv_nsec = (long)(deadline % 1000000000ull);
    }
    if (timerfd_settime(r->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        r->timer_armed = deadline;
}

/* A level interrupt was just delivered on a: (re)start its EOI deadline,
 * as Xen's do_IRQ_guest restarts eoi_timer. Deadlines only move later, so
 * the timerfd needs setting only when nothing earlier is pending; the
 * expiry handler re-arms it for the next one. r->lock held. */
static void eoi_timer_start_locked(struct irq_pirq *r, struct pirq_action *a)
{
    a->eoi_deadline = now_ns() + r->eoi_timeout_ns;
    if (!r->timer_armed)
        timer_set_locked(r, a->eoi_deadline);
}

/* Force the EOI of every sharer still masked on a (Xen's
 * irq_guest_eoi_timer_fn) and unmask the line. r->lock held. */
static void force_eoi_locked(struct irq_pirq *r, struct pirq_action *a)
{
    if (!a->active || a->in_flight == 0)
        return;
    for (unsigned int i = 0; i < a->nr_guests; i++) {
        struct pirq_guest *g = &a->guest[i];
        if (!g->masked)
            continue;
        /* The guest's bitmap bit stays set, as Xen leaves it: the guest
         * still EOIs this one, which then only clears the bit. */
        g->masked = false;
        a->in_flight--;
        irq_log(r->icu, "line %u: dom%u pirq %u did not EOI in time; forced",
                a->line, (unsigned int)g->dom, g->pirq);
    }
    if (a->in_flight == 0)
        irq_icu_eoi(r->icu, a->line);
}

/* The timerfd fired (ICU loop thread): handle every passed deadline and
 * re-arm for the earliest one left. */
static void eoi_timer_fired(void *arg, int fd)
{
    struct irq_pirq *r = arg;
    uint64_t ticks;
    if (read(fd, &ticks, sizeof(ticks)) < 0) {
        /* EAGAIN: nothing expired (re-armed meanwhile); the scan is cheap */
    }
    pthread_mutex_lock(&r->lock);
    uint64_t now = now_ns(), next = 0;
    for (unsigned int i = 0; i < r->nr_lines; i++) {
        struct pirq_action *a = &r->actions[i];
        if (!a->eoi_deadline)
            continue;
        if (a->eoi_deadline <= now) {
            a->eoi_deadline = 0;
            force_eoi_locked(r, a);
        } else if (!next || a->eoi_deadline < next) {
            next = a->eoi_deadline;
        }
    }
    timer_set_locked(r, next);
    pthread_mutex_unlock(&r->lock);
}

void irq_pirq_set_eoi_timeout(struct irq_pirq *r, uint64_t ns)
{
    pthread_mutex_lock(&r->lock);
    r->eoi_timeout_ns = ns ? ns : PIRQ_EOI_TIMEOUT_NS;
    pthread_mutex_unlock(&r->lock);
}

static int router_bind(void *ctx, domid_t dom, uint32_t pirq, bool will_share);
static void router_unbind(void *ctx, domid_t dom, uint32_t pirq);
static void router_unmasked(void *ctx, domid_t dom, uint32_t pirq);

struct irq_pirq *irq_pirq_create(struct irq_icu *icu, struct evtchn_host *h,
                                 irq_map_gfn_fn map_gfn, void *opaque)
{
    struct irq_icu_info info;
    if (!icu || irq_icu_info(icu, &info) < 0) {
        errno = EINVAL;
        return NULL;
    }
    struct irq_pirq *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->actions = calloc(info.nr_lines, sizeof(*r->actions));
    if (!r->actions) {
        free(r);
        return NULL;
    }
    r->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    r->timer_watch = r->timer_fd < 0 ? -errno
                     : irq_icu_watch_fd(icu, r->timer_fd, eoi_timer_fired, r);
    if (r->timer_watch < 0) {
        int e = -r->timer_watch;
        if (r->timer_fd >= 0)
            close(r->timer_fd);
        free(r->actions);
        free(r);
        errno = e;
        return NULL;
    }
    r->eoi_timeout_ns = PIRQ_EOI_TIMEOUT_NS;
    pthread_mutex_init(&r->lock, NULL);
    r->icu = icu;
    r->evh = h;
    r->map_gfn = map_gfn;
    r->opaque = opaque;
    r->nr_lines = info.nr_lines;
    for (unsigned int i = 0; i < info.nr_lines; i++) {
        r->actions[i].r = r;
        r->actions[i].line = i;
    }
    r->evr = (struct evtchn_pirq_router){ .bind = router_bind,
        .unbind = router_unbind, .unmasked = router_unmasked, .ctx = r };
    if (h && evtchn_host_attach_pirq_router(h, &r->evr) < 0) {
        r->evh = NULL;        /* not ours to detach */
        irq_pirq_destroy(r);
        errno = EBUSY;
        return NULL;
    }
    return r;
}

void irq_pirq_destroy(struct irq_pirq *r)
{
    if (!r)
        return;
    if (r->evh)
        evtchn_host_detach_pirq_router(r->evh, &r->evr);
    while (r->doms)
        irq_pirq_domain_remove(r, r->doms->id);
    irq_icu_unwatch_fd(r->icu, r->timer_watch);   /* waits for the handler */
    close(r->timer_fd);
    irq_icu_sync(r->icu);
    pthread_mutex_destroy(&r->lock);
    free(r->actions);
    free(r);
}

int irq_pirq_domain_add(struct irq_pirq *r, domid_t dom, bool privileged,
                        uint32_t nr_pirqs)
{
    if (nr_pirqs == 0)
        nr_pirqs = PIRQ_DEFAULT;
    if (nr_pirqs > PIRQ_MAX || dom >= DOMID_FIRST_RESERVED)
        return -EINVAL;
    struct pirq_dom *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->pirqs = calloc(nr_pirqs, sizeof(*d->pirqs));
    d->granted = calloc(r->nr_lines, 1);
    if (!d->pirqs || !d->granted) {
        free(d->pirqs);
        free(d->granted);
        free(d);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < nr_pirqs; i++)
        d->pirqs[i].line = -1;
    d->id = dom;
    d->privileged = privileged;
    d->nr_pirqs = nr_pirqs;
    pthread_mutex_lock(&r->lock);
    if (pirq_dom_find(r, dom)) {
        pthread_mutex_unlock(&r->lock);
        free(d->pirqs);
        free(d->granted);
        free(d);
        return -EEXIST;
    }
    d->next = r->doms;
    r->doms = d;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

/* Remove dom's guest entry from line's action: Xen's pirq_guest_unbind.
 * An interrupt in flight to this guest counts as its EOI; the last guest
 * out unbinds the line at the ICU. r->lock held. */
void pirq_guest_unbind_locked(struct irq_pirq *r, struct pirq_dom *d,
                                uint32_t pirq)
{
    struct pirq_entry *pe = &d->pirqs[pirq];
    if (!pe->bound || pe->line < 0)
        return;
    pe->bound = false;
    struct pirq_action *a = &r->actions[pe->line];
    unsigned int i;
    for (i = 0; i < a->nr_guests; i++)
        if (a->guest[i].dom == d->id && a->guest[i].pirq == pirq)
            break;
    if (i == a->nr_guests)
        return;
    bool was_in_flight = a->guest[i].masked;
    pirq_eoi_bit(d, pirq, false);
    a->guest[i] = a->guest[--a->nr_guests];
    if (was_in_flight)
        a->in_flight--;
    if (a->nr_guests == 0) {
        struct irq_sink s = action_sink(a);
        irq_icu_unbind(r->icu, a->line, &s);   /* also ends the in-flight */
        a->active = false;
        a->in_flight = 0;
        a->eoi_deadline = 0;
    } else if (was_in_flight && a->in_flight == 0) {
        a->eoi_deadline = 0;
        irq_icu_eoi(r->icu, a->line);
    }
}

int irq_pirq_domain_remove(struct irq_pirq *r, domid_t dom)
{
    pthread_mutex_lock(&r->lock);
    struct pirq_dom **pp = &r->doms, *d;
    while ((d = *pp) && d->id != dom)
        pp = &d->next;
    if (!d) {
        pthread_mutex_unlock(&r->lock);
        return -ESRCH;
    }
    for (uint32_t p = 0; p < d->nr_pirqs; p++)
        pirq_guest_unbind_locked(r, d, p);
    *pp = d->next;
    pthread_mutex_unlock(&r->lock);
    free(d->pirqs);
    free(d->granted);
    free(d);
    return 0;
}

int irq_pirq_grant(struct irq_pirq *r, domid_t dom, unsigned int line,
                   bool allow)
{
    if (line >= r->nr_lines)
        return -EINVAL;
    pthread_mutex_lock(&r->lock);
    struct pirq_dom *d = pirq_dom_find(r, dom);
    if (d)
        d->granted[line] = allow;
    pthread_mutex_unlock(&r->lock);
    return d ? 0 : -ESRCH;
}

/* EVTCHNOP_bind_pirq (the core's router hook): Xen's pirq_guest_bind. */
static int router_bind(void *ctx, domid_t dom, uint32_t pirq, bool will_share)
{
    struct irq_pirq *r = ctx;
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    struct pirq_dom *d = pirq_dom_find(r, dom);
    if (!d || pirq >= d->nr_pirqs) {
        rc = d ? -XEN_EINVAL : -XEN_EPERM;
        goto out;
    }
    struct pirq_entry *pe = &d->pirqs[pirq];
    /* Xen: pirq_access_permitted — an unmapped PIRQ has no line to permit */
    if (pe->line < 0 || !d->granted[pe->line]) {
        rc = -XEN_EPERM;
        goto out;
    }
    if (pe->bound) {
        rc = -XEN_EEXIST;
        goto out;
    }
    struct pirq_action *a = &r->actions[pe->line];
    if (!a->active) {
        struct irq_line_info li;
        /* irq_icu_line_info would call our describe (r->lock): read the mode
         * before binding, when the line has no PIRQ sink yet. */
        pthread_mutex_unlock(&r->lock);
        int lrc = irq_icu_line_info(r->icu, (unsigned int)pe->line, &li);
        pthread_mutex_lock(&r->lock);
        /* re-validate: the world may have moved while unlocked */
        d = pirq_dom_find(r, dom);
        if (!d || d->pirqs[pirq].line != (int32_t)a->line || d->pirqs[pirq].bound) {
            rc = d ? -XEN_EBUSY : -XEN_EPERM;
            goto out;
        }
        pe = &d->pirqs[pirq];
        if (lrc < 0 || !li.has_source) {
            rc = -XEN_ENODEV;
            goto out;
        }
        if (!a->active) {
            struct irq_sink s = action_sink(a);
            int brc = irq_icu_bind(r->icu, a->line, &s);
            if (brc == -EEXIST) {
                /* "Cannot bind IRQ to guest. In use by <another sink>." */
                rc = -XEN_EBUSY;
                goto out;
            }
            if (brc < 0) {
                rc = brc;
                goto out;
            }
            a->active = true;
            a->shareable = will_share;
            a->ack_type = li.mode.trigger == IRQ_EDGE ? ACK_NONE
                          : li.mode.ack == IRQ_ACK_EOI ? ACK_EOI : ACK_UNMASK;
            a->nr_guests = 0;
            a->in_flight = 0;
            goto add;
        }
    }
    if (!will_share || !a->shareable) {
        rc = -XEN_EBUSY;   /* "Will not share with others." */
        goto out;
    }
    if (a->nr_guests == IRQ_MAX_GUESTS) {
        rc = -XEN_EBUSY;   /* "Already at max share." */
        goto out;
    }
add:
    a->guest[a->nr_guests++] = (struct pirq_guest){
        .dom = dom, .pirq = pirq, .masked = false };
    pe->bound = true;
out:
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* The PIRQ port was closed (the core's router hook). */
static void router_unbind(void *ctx, domid_t dom, uint32_t pirq)
{
    struct irq_pirq *r = ctx;
    pthread_mutex_lock(&r->lock);
    struct pirq_dom *d = pirq_dom_find(r, dom);
    if (d && pirq < d->nr_pirqs)
        pirq_guest_unbind_locked(r, d, pirq);
    pthread_mutex_unlock(&r->lock);
}

/* One sharer finished (Xen's pirq_guest_eoi / desc_guest_eoi). r->lock held. */
void pirq_guest_eoi_locked(struct irq_pirq *r, struct pirq_dom *d,
                             uint32_t pirq, bool by_unmask)
{
    struct pirq_entry *pe = &d->pirqs[pirq];
    if (!pe->bound || pe->line < 0)
        return;
    struct pirq_action *a = &r->actions[pe->line];
    if (a->ack_type == ACK_NONE || (by_unmask && a->ack_type != ACK_UNMASK))
        return;
    for (unsigned int i = 0; i < a->nr_guests; i++) {
        struct pirq_guest *g = &a->guest[i];
        if (g->dom != d->id || g->pirq != pirq)
            continue;
        pirq_eoi_bit(d, pirq, false);
        if (!g->masked)
            return;                         /* nothing in flight (or forced) */
        g->masked = false;
        if (--a->in_flight == 0) {
            a->eoi_deadline = 0;            /* Xen lets its timer find 0 */
            irq_icu_eoi(r->icu, a->line);   /* every sharer is done */
        }
        return;
    }
}

/* The guest unmasked the PIRQ port (the core's router hook): the EOI of
 * an ack-type UNMASK line. */
static void router_unmasked(void *ctx, domid_t dom, uint32_t pirq)
{
    struct irq_pirq *r = ctx;
    pthread_mutex_lock(&r->lock);
    struct pirq_dom *d = pirq_dom_find(r, dom);
    if (d && pirq < d->nr_pirqs)
        pirq_guest_eoi_locked(r, d, pirq, true);
    pthread_mutex_unlock(&r->lock);
}

/* The line fired: Xen's do_IRQ_guest. Each sharer gets the event; on a
 * level line each one not yet masked becomes in flight. */
static void pirq_raise(void *ctx, struct irq_icu *icu, unsigned int line)
{
    struct pirq_action *a = ctx;
    struct irq_pirq *r = a->r;
    struct { domid_t dom; uint32_t pirq; } t[IRQ_MAX_GUESTS];
    unsigned int n = 0, took = 0;
    bool level;

    pthread_mutex_lock(&r->lock);
    level = a->ack_type != ACK_NONE;
    if (!a->active || a->nr_guests == 0) {
        pthread_mutex_unlock(&r->lock);
        irq_icu_eoi(icu, line);        /* a raise racing the last unbind */
        return;
    }
    for (unsigned int i = 0; i < a->nr_guests; i++) {
        struct pirq_guest *g = &a->guest[i];
        if (level && !g->masked) {
            g->masked = true;
            a->in_flight++;
            took++;
            pirq_eoi_bit(pirq_dom_find(r, g->dom), g->pirq, true);
        }
        t[n].dom = g->dom;
        t[n].pirq = g->pirq;
        n++;
    }
    if (level && a->in_flight && a->nr_guests > 1)
        eoi_timer_start_locked(r, a);
    pthread_mutex_unlock(&r->lock);

    unsigned int delivered = 0;
    for (unsigned int i = 0; i < n; i++)
        if (r->evh && evtchn_send_pirq(r->evh, t[i].dom, t[i].pirq) == 0)
            delivered++;
    irq_icu_count_delivered(icu, line, delivered);
    /* Nobody took a level interrupt (every sharer was still masked, which
     * only a stale raise can cause): do not leave the line masked. */
    if (level && took == 0)
        irq_icu_eoi(icu, line);
}

static int pirq_describe(void *ctx, unsigned int line, char *buf, size_t n)
{
    struct pirq_action *a = ctx;
    struct irq_pirq *r = a->r;
    struct pirq_guest g[IRQ_MAX_GUESTS];
    size_t off = 0;
    (void)line;
    if (n)
        buf[0] = '\0';
    pthread_mutex_lock(&r->lock);
    static const char *const ack[] = { "none", "unmask", "eoi" };
    int w = snprintf(buf, n, "ack %s%s, in flight %u;", ack[a->ack_type],
                     a->shareable ? " shared" : "", a->in_flight);
    unsigned int ng = a->nr_guests;
    memcpy(g, a->guest, ng * sizeof(g[0]));
    pthread_mutex_unlock(&r->lock);
    /* The ports are the core's: asked for without our lock (the core calls
     * us with its locks held, never the other way round). */
    off = w > 0 ? (size_t)w : 0;
    for (unsigned int i = 0; i < ng && off < n; i++) {
        int port = r->evh ? evtchn_pirq_port(r->evh, g[i].dom, g[i].pirq) : -1;
        char ps[16] = "-";
        if (port > 0)
            snprintf(ps, sizeof(ps), "%d", port);
        w = snprintf(buf + off, n - off, " dom%u pirq %u port %s%s",
                     (unsigned int)g[i].dom, g[i].pirq, ps,
                     g[i].masked ? " (in flight)" : "");
        if (w < 0)
            break;
        off += (size_t)w;
    }
    return (int)off;
}

static const struct irq_sink_ops pirq_sink_ops = {
    .kind = "pirq",
    .raise = pirq_raise,
    .describe = pirq_describe,
};

int irq_pirq_line_of(struct irq_pirq *r, domid_t dom, uint32_t pirq)
{
    pthread_mutex_lock(&r->lock);
    struct pirq_dom *d = pirq_dom_find(r, dom);
    int rc = !d ? -ESRCH : pirq >= d->nr_pirqs ? -EINVAL
             : d->pirqs[pirq].line < 0 ? -ENOENT : d->pirqs[pirq].line;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int irq_pirq_in_flight(struct irq_pirq *r, unsigned int line)
{
    if (line >= r->nr_lines)
        return -EINVAL;
    pthread_mutex_lock(&r->lock);
    int n = (int)r->actions[line].in_flight;
    pthread_mutex_unlock(&r->lock);
    return n;
}

int irq_pirq_check(struct irq_pirq *r, char *msg, size_t n)
{
    int rc = 0;
#define CHECK_FAIL(...) do { snprintf(msg, n, __VA_ARGS__); rc = -EFAULT; \
                             goto out; } while (0)
    if (n)
        msg[0] = '\0';
    pthread_mutex_lock(&r->lock);
    for (unsigned int l = 0; l < r->nr_lines; l++) {
        const struct pirq_action *a = &r->actions[l];
        unsigned int masked = 0;
        if (!a->active && (a->nr_guests || a->in_flight))
            CHECK_FAIL("line %u: inactive with %u guests, %u in flight", l,
                       a->nr_guests, a->in_flight);
        if (a->nr_guests > IRQ_MAX_GUESTS)
            CHECK_FAIL("line %u: %u guests", l, a->nr_guests);
        for (unsigned int i = 0; i < a->nr_guests; i++) {
            const struct pirq_guest *g = &a->guest[i];
            struct pirq_dom *d = pirq_dom_find(r, g->dom);
            if (!d || g->pirq >= d->nr_pirqs)
                CHECK_FAIL("line %u: guest dom%u pirq %u has no domain", l,
                           (unsigned int)g->dom, g->pirq);
            const struct pirq_entry *pe = &d->pirqs[g->pirq];
            if (!pe->bound || pe->line != (int32_t)l)
                CHECK_FAIL("line %u: guest dom%u pirq %u not bound there", l,
                           (unsigned int)g->dom, g->pirq);
            if (g->masked && a->ack_type == ACK_NONE)
                CHECK_FAIL("line %u: edge line with a guest in flight", l);
            masked += g->masked;
        }
        if (masked != a->in_flight)
            CHECK_FAIL("line %u: in flight %u, %u guests masked", l,
                       a->in_flight, masked);
    }
    for (struct pirq_dom *d = r->doms; d; d = d->next)
        for (uint32_t p = 0; p < d->nr_pirqs; p++) {
            const struct pirq_entry *pe = &d->pirqs[p];
            if (!pe->bound)
                continue;
            if (pe->line < 0 || (unsigned int)pe->line >= r->nr_lines)
                CHECK_FAIL("dom%u pirq %u bound without a line",
                           (unsigned int)d->id, p);
            const struct pirq_action *a = &r->actions[pe->line];
            unsigned int k = 0;
            for (unsigned int i = 0; i < a->nr_guests; i++)
                k += a->guest[i].dom == d->id && a->guest[i].pirq == p;
            if (k != 1)
                CHECK_FAIL("dom%u pirq %u bound, %u times in line %d's "
                           "guests", (unsigned int)d->id, p, k, pe->line);
        }
out:
    pthread_mutex_unlock(&r->lock);
#undef CHECK_FAIL
    return rc;
}

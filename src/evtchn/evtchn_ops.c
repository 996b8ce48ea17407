/*
 * The fourteen EVTCHNOPs with the semantics and errno values of Xen's
 * xen/common/event_channel.c, their table (one row per op), the hypercall
 * entry, and the host-side API (dom0 services, VIRQs, PIRQs) built on the
 * same operations.
 *
 * Every op validates its arguments and checks permission before it changes
 * any state, so an error leaves nothing half done. See evtchn_internal.h for
 * what each lock protects and the order they are taken in.
 */
#include <stdlib.h>
#include <string.h>

#include "evtchn_internal.h"

/* ---- the operations ------------------------------------------------------ */

static int alloc_unbound(struct evtchn_dom *cur, struct evtchn_alloc_unbound *a,
                         evtchn_host_cb cb, void *cb_arg)
{
    struct evtchn_dom *d = dom_get_any(cur, a->dom);
    int rc, port;

    if (!d)
        return -XEN_ESRCH;
    rc = policy(cur, d, EVTCHN_ACT_UNBOUND);
    if (rc)
        goto out_put;
    pthread_mutex_lock(&d->lock);
    if (d->dying) {
        rc = -XEN_ESRCH;
        goto out;
    }
    struct evtchn_chn *c;
    port = evtchn_bind_free_port(d, EVTCHN_STATE_UNBOUND, 0, &c);
    if (port < 0) {
        rc = port;
        goto out;
    }
    c->u.unbound.remote_dom = a->remote_dom == DOMID_SELF ? cur->id : a->remote_dom;
    c->cb = cb;
    c->cb_arg = cb_arg;
    evtchn_write_unlock(&c->lock);
    a->port = (evtchn_port_t)port;
    rc = 0;
out:
    pthread_mutex_unlock(&d->lock);
out_put:
    dom_put(d);
    return rc;
}

static int bind_interdomain(struct evtchn_dom *ld, struct evtchn_bind_interdomain *b,
                            evtchn_host_cb cb, void *cb_arg)
{
    domid_t rdom = b->remote_dom == DOMID_SELF ? ld->id : b->remote_dom;
    uint32_t rport = b->remote_port;
    struct evtchn_dom *rd = dom_get_any(ld, rdom);
    struct evtchn_chn *lc, *rc2;
    bool notify_cb = false;
    int rc, lport;

    if (!rd)
        return -XEN_ESRCH;
    lock_pair(ld, rd);
    if (ld->dying || rd->dying) {
        rc = -XEN_ESRCH;
        goto out;
    }
    lport = evtchn_get_free_port(ld);
    if (lport < 0) {
        rc = lport;
        goto out;
    }
    if (!port_has_storage(rd, rport)) {
        rc = -XEN_EINVAL;
        goto out;
    }
    rc2 = evtchn_chn_of(rd, rport);
    if (rc2->state != EVTCHN_STATE_UNBOUND || rc2->u.unbound.remote_dom != ld->id) {
        rc = -XEN_EINVAL;
        goto out;
    }
    rc = policy(ld, rd, EVTCHN_ACT_INTERDOMAIN);
    if (rc)
        goto out;

    lc = evtchn_chn_of(ld, (uint32_t)lport);
    chn_write_lock_pair(lc, rc2);
    evtchn_port_bind(ld, lc, EVTCHN_STATE_INTERDOMAIN, 0);
    lc->u.inter.rd = rd;
    lc->u.inter.rport = rport;
    lc->cb = cb;
    lc->cb_arg = cb_arg;
    rc2->u.inter.rd = ld;
    rc2->u.inter.rport = (uint32_t)lport;
    rc2->state = EVTCHN_STATE_INTERDOMAIN;
    /* Events sent to the unbound port were dropped: conservatively mark the
     * new local port pending so nothing is missed. */
    if (cb)
        notify_cb = true;
    else
        deliver(ld, lc->notify_vcpu, lc);
    chn_write_unlock_pair(lc, rc2);
    b->local_port = (evtchn_port_t)lport;
    rc = 0;
out:
    unlock_pair(ld, rd);
    dom_put(rd);
    if (notify_cb)
        cb(cb_arg, ld->id, (evtchn_port_t)lport);
    return rc;
}

static int do_bind_virq(struct evtchn_dom *d, void *arg)
{
    struct evtchn_bind_virq *b = arg;
    uint32_t virq = b->virq, vcpu = b->vcpu;
    int port, rc = 0;

    if (virq >= NR_VIRQS)
        return -XEN_EINVAL;
    if (virq_is_global(virq) && vcpu != 0)
        return -XEN_EINVAL;
    if (vcpu >= d->max_vcpus)
        return -XEN_ENOENT;
    pthread_mutex_lock(&d->lock);
    if (atomic_load(&d->vcpus[vcpu].virq_port[virq])) {
        rc = -XEN_EEXIST;
        goto out;
    }
    struct evtchn_chn *c;
    port = evtchn_bind_free_port(d, EVTCHN_STATE_VIRQ, vcpu, &c);
    if (port < 0) {
        rc = port;
        goto out;
    }
    c->u.virq = virq;
    evtchn_write_unlock(&c->lock);
    atomic_store_explicit(&d->vcpus[vcpu].virq_port[virq], (uint32_t)port,
                          memory_order_release);
    b->port = (evtchn_port_t)port;
out:
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int do_bind_ipi(struct evtchn_dom *d, void *arg)
{
    struct evtchn_bind_ipi *b = arg;
    struct evtchn_chn *c;
    if (b->vcpu >= d->max_vcpus)
        return -XEN_ENOENT;
    pthread_mutex_lock(&d->lock);
    int port = evtchn_bind_free_port(d, EVTCHN_STATE_IPI, b->vcpu, &c);
    if (port >= 0) {
        evtchn_write_unlock(&c->lock);
        b->port = (evtchn_port_t)port;
    }
    pthread_mutex_unlock(&d->lock);
    return port < 0 ? port : 0;
}

static int do_bind_pirq(struct evtchn_dom *d, void *arg)
{
    struct evtchn_bind_pirq *b = arg;
    const struct evtchn_pirq_router *router = pirq_router(d->h);
    uint32_t pirq = b->pirq;
    atomic_uint *tab;
    int port, rc;

    if ((int32_t)pirq < 0 || pirq >= d->nr_pirqs)
        return -XEN_EINVAL;
    /* No IRQ router: the domain has no permission for any IRQ. */
    if (!router)
        return -XEN_EPERM;
    pthread_mutex_lock(&d->lock);
    tab = pirq_table(d);
    if (tab && atomic_load(&tab[pirq])) {
        rc = -XEN_EEXIST;
        goto out;
    }
    if (!tab) {
        tab = calloc(d->nr_pirqs, sizeof(*tab));
        if (!tab) {
            rc = -XEN_ENOMEM;
            goto out;
        }
        atomic_store_explicit(&d->pirq_port, tab, memory_order_release);
    }
    /* Bind first, so an interrupt the router raises from inside its bind
     * finds its port; undo if the router refuses. */
    struct evtchn_chn *c;
    port = evtchn_bind_free_port(d, EVTCHN_STATE_PIRQ, 0, &c);
    if (port < 0) {
        rc = port;
        goto out;
    }
    c->u.pirq = pirq;
    evtchn_write_unlock(&c->lock);
    atomic_store_explicit(&tab[pirq], (uint32_t)port, memory_order_release);

    rc = router->bind(router->ctx, d->id, pirq, b->flags & BIND_PIRQ__WILL_SHARE);
    if (rc) {
        atomic_store(&tab[pirq], 0);
        evtchn_write_lock(&c->lock);
        evtchn_port_free(d, c);
        evtchn_write_unlock(&c->lock);
        goto out;
    }
    b->port = (evtchn_port_t)port;
out:
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* Close port1 of d1 (Xen's evtchn_close). guest: refuse host-consumer
 * ports, as a guest may not close a Xen-attached channel. */
int evtchn_close_port(struct evtchn_dom *d1, uint32_t port1, bool guest)
{
    struct evtchn_host *h = d1->h;
    const struct evtchn_pirq_router *router;
    struct evtchn_dom *d2 = NULL;
    struct evtchn_chn *c1, *c2;
    uint32_t pirq = 0;
    bool unbind_pirq = false;
    int rc = 0;

again:
    pthread_mutex_lock(&d1->lock);
    if (guest ? !port_is_valid(d1, port1) : !port_has_storage(d1, port1)) {
        rc = -XEN_EINVAL;
        goto out;
    }
    c1 = evtchn_chn_of(d1, port1);
    if (guest && c1->cb) {
        rc = -XEN_EINVAL;
        goto out;
    }
    switch (c1->state) {
    case EVTCHN_STATE_FREE:
    case EVTCHN_STATE_RESERVED:
        rc = -XEN_EINVAL;
        goto out;
    case EVTCHN_STATE_UNBOUND:
    case EVTCHN_STATE_IPI:
        break;
    case EVTCHN_STATE_PIRQ: {
        atomic_uint *tab = pirq_table(d1);
        pirq = c1->u.pirq;
        if (tab && atomic_load(&tab[pirq]) == port1)
            atomic_store(&tab[pirq], 0);
        unbind_pirq = true;
        break;
    }
    case EVTCHN_STATE_VIRQ:
        for (uint32_t v = 0; v < d1->max_vcpus; v++) {
            unsigned int expect = port1;
            atomic_compare_exchange_strong(&d1->vcpus[v].virq_port[c1->u.virq],
                                           &expect, 0);
        }
        break;
    case EVTCHN_STATE_INTERDOMAIN:
        if (!d2) {
            d2 = c1->u.inter.rd;
            /* The peer cannot go away while this end is bound (its
             * destruction must close this channel, under our lock). */
            atomic_fetch_add(&d2->refs, 1);
            if (d1->id < d2->id) {
                pthread_mutex_lock(&d2->lock);
            } else if (d1 != d2) {
                /* Lock order is by domid: start again with d2 held. */
                pthread_mutex_unlock(&d1->lock);
                pthread_mutex_lock(&d2->lock);
                goto again;
            }
        } else if (d2 != c1->u.inter.rd) {
            /* Closed and re-bound elsewhere while we dropped the lock:
             * report it as if we had found it free. */
            rc = -XEN_EINVAL;
            goto out;
        }
        c2 = evtchn_chn_of(d2, c1->u.inter.rport);
        chn_write_lock_pair(c1, c2);
        evtchn_port_free(d1, c1);
        /* The other end returns to UNBOUND, still for d1. */
        c2->state = EVTCHN_STATE_UNBOUND;
        c2->u.unbound.remote_dom = d1->id;
        chn_write_unlock_pair(c1, c2);
        goto out;
    default:
        rc = -XEN_EINVAL;
        goto out;
    }
    /* Stop the IRQ router first; an in-flight interrupt counts as EOI'd. */
    if (unbind_pirq && (router = pirq_router(h)) != NULL)
        router->unbind(router->ctx, d1->id, pirq);
    evtchn_write_lock(&c1->lock);
    evtchn_port_free(d1, c1);
    evtchn_write_unlock(&c1->lock);
out:
    if (d2) {
        if (d1 != d2)
            pthread_mutex_unlock(&d2->lock);
        dom_put(d2);
    }
    pthread_mutex_unlock(&d1->lock);
    return rc;
}

/* Xen's evtchn_send. guest: refuse host-consumer ports. */
static int send_port(struct evtchn_dom *ld, uint32_t lport, bool guest)
{
    struct evtchn_chn *lc;
    int rc = 0;

    if (guest ? !port_is_valid(ld, lport) : !port_has_storage(ld, lport))
        return -XEN_EINVAL;
    lc = evtchn_chn_of(ld, lport);
    evtchn_read_lock(&lc->lock);
    if (guest && lc->cb) {
        rc = -XEN_EINVAL;
        goto out;
    }
    switch (lc->state) {
    case EVTCHN_STATE_INTERDOMAIN: {
        struct evtchn_dom *rd = lc->u.inter.rd;
        uint32_t rport = lc->u.inter.rport;
        struct evtchn_chn *rc2 = evtchn_chn_of(rd, rport);
        if (ld->h->ops.policy &&
            (rc = policy(ld, rd, EVTCHN_ACT_SEND)) != 0)
            goto out;
        if (rc2->cb) {
            /* Host consumer: call it without our lock (it may send back);
             * cb_busy keeps a closer waiting until we are done. */
            evtchn_host_cb cb = rc2->cb;
            void *arg = rc2->cb_arg;
            domid_t rid = rd->id;
            atomic_fetch_add(&rc2->cb_busy, 1);
            evtchn_read_unlock(&lc->lock);
            cb(arg, rid, rport);
            atomic_fetch_sub(&rc2->cb_busy, 1);
            return 0;
        }
        deliver(rd, rc2->notify_vcpu, rc2);
        break;
    }
    case EVTCHN_STATE_IPI:
        deliver(ld, lc->notify_vcpu, lc);
        break;
    case EVTCHN_STATE_UNBOUND:
        /* No one to tell: silently dropped. */
        break;
    default:
        rc = -XEN_EINVAL;
        break;
    }
out:
    evtchn_read_unlock(&lc->lock);
    return rc;
}

static int do_status(struct evtchn_dom *cur, void *arg)
{
    struct evtchn_status *s = arg;
    struct evtchn_dom *d = dom_get_any(cur, s->dom);
    int rc = 0;

    if (!d)
        return -XEN_ESRCH;
    pthread_mutex_lock(&d->lock);
    if (!port_is_valid(d, s->port)) {
        rc = -XEN_EINVAL;
        goto out;
    }
    rc = policy(cur, d, EVTCHN_ACT_STATUS);
    if (rc)
        goto out;
    struct evtchn_chn *c = evtchn_chn_of(d, s->port);
    switch (c->state) {
    case EVTCHN_STATE_FREE:
    case EVTCHN_STATE_RESERVED:
        s->status = EVTCHNSTAT_closed;
        break;
    case EVTCHN_STATE_UNBOUND:
        s->status = EVTCHNSTAT_unbound;
        s->u.unbound.dom = c->u.unbound.remote_dom;
        break;
    case EVTCHN_STATE_INTERDOMAIN:
        s->status = EVTCHNSTAT_interdomain;
        s->u.interdomain.dom = c->u.inter.rd->id;
        s->u.interdomain.port = c->u.inter.rport;
        break;
    case EVTCHN_STATE_PIRQ:
        s->status = EVTCHNSTAT_pirq;
        s->u.pirq = c->u.pirq;
        break;
    case EVTCHN_STATE_VIRQ:
        s->status = EVTCHNSTAT_virq;
        s->u.virq = c->u.virq;
        break;
    case EVTCHN_STATE_IPI:
        s->status = EVTCHNSTAT_ipi;
        break;
    }
    s->vcpu = c->notify_vcpu;
out:
    pthread_mutex_unlock(&d->lock);
    dom_put(d);
    return rc;
}

static int do_bind_vcpu(struct evtchn_dom *d, void *arg)
{
    struct evtchn_bind_vcpu *b = arg;
    uint32_t vcpu = b->vcpu;
    int rc = 0;

    if (vcpu >= d->max_vcpus)
        return -XEN_ENOENT;
    pthread_mutex_lock(&d->lock);
    if (!port_is_valid(d, b->port)) {
        rc = -XEN_EINVAL;
        goto out;
    }
    struct evtchn_chn *c = evtchn_chn_of(d, b->port);
    if (c->cb) {
        rc = -XEN_EINVAL;
        goto out;
    }
    evtchn_write_lock(&c->lock);
    switch (c->state) {
    case EVTCHN_STATE_VIRQ:
        /* A per-vCPU VIRQ (TIMER, DEBUG, ...) belongs to its vCPU. */
        if (virq_is_global(c->u.virq))
            c->notify_vcpu = vcpu;
        else
            rc = -XEN_EINVAL;
        break;
    case EVTCHN_STATE_UNBOUND:
    case EVTCHN_STATE_INTERDOMAIN:
    case EVTCHN_STATE_PIRQ:
        c->notify_vcpu = vcpu;
        break;
    default:
        /* FREE, RESERVED, and IPI (bound to its vCPU for good). */
        rc = -XEN_EINVAL;
        break;
    }
    evtchn_write_unlock(&c->lock);
out:
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* Xen's evtchn_unmask. The ABI (d->ops, the FIFO state, the port limit) is
 * only stable under d->lock, or under the read lock of a bound guest port:
 * EVTCHNOP_reset returns a FIFO domain to 2-level (freeing the FIFO state)
 * only once every guest port is closed, which takes each port's write lock.
 * So a bound port is unmasked under its own lock alone (the fast path), and
 * a free one under d->lock, where reset, init_control and expand_array
 * cannot run. Unmasking a free port only clears its mask. */
static int do_unmask(struct evtchn_dom *d, void *arg)
{
    struct evtchn_unmask *u = arg;
    uint32_t pirq = 0;
    bool is_pirq = false, locked = false;

    if (!port_is_valid(d, u->port))
        return -XEN_EINVAL;
    struct evtchn_chn *c = evtchn_chn_of(d, u->port);
    evtchn_read_lock(&c->lock);
    if (c->state == EVTCHN_STATE_FREE || c->state == EVTCHN_STATE_RESERVED) {
        evtchn_read_unlock(&c->lock);
        pthread_mutex_lock(&d->lock);
        locked = true;
        /* The ABI may have changed since the unlocked check. */
        if (!port_is_valid(d, u->port)) {
            pthread_mutex_unlock(&d->lock);
            return -XEN_EINVAL;
        }
        evtchn_read_lock(&c->lock);
    }
    if (c->cb) {
        /* A host-consumer port's events never reach the guest's ABI: as
         * Xen (evtchn_usable), unmask does nothing to it. */
    } else if (c->state == EVTCHN_STATE_FREE || c->state == EVTCHN_STATE_RESERVED) {
        dom_ops(d)->mask_clear(d, c);
    } else {
        dom_ops(d)->unmask(d, c);
        is_pirq = c->state == EVTCHN_STATE_PIRQ;
        pirq = c->u.pirq;
    }
    evtchn_read_unlock(&c->lock);
    if (locked)
        pthread_mutex_unlock(&d->lock);
    const struct evtchn_pirq_router *router = pirq_router(d->h);
    if (is_pirq && router)
        router->unmasked(router->ctx, d->id, pirq);
    return 0;
}

static int do_reset(struct evtchn_dom *cur, void *arg)
{
    struct evtchn_reset *r = arg;
    struct evtchn_dom *d = dom_get_any(cur, r->dom);
    int rc;

    if (!d)
        return -XEN_ESRCH;
    rc = policy(cur, d, EVTCHN_ACT_RESET);
    if (rc)
        goto out_put;
    pthread_mutex_lock(&d->lock);
    /* Another domain's ports only while its controller has it paused. */
    if (d != cur && !d->paused)
        rc = -XEN_EINVAL;
    else if (d->reset_next)
        rc = -XEN_EBUSY;       /* a reset is already running */
    else
        d->reset_next = 1;
    pthread_mutex_unlock(&d->lock);
    if (rc)
        goto out_put;

    /* Close as the guest would: host-consumer ports stay. */
    uint32_t valid = atomic_load(&d->valid_ports);
    for (uint32_t p = 1; p < valid; p++)
        evtchn_close_port(d, p, true);

    pthread_mutex_lock(&d->lock);
    d->reset_next = 0;
    uint32_t host_ports = 0;
    valid = atomic_load(&d->valid_ports);
    for (uint32_t p = 1; p < valid; p++) {
        struct evtchn_chn *c = evtchn_chn_of(d, p);
        host_ports += c->state != EVTCHN_STATE_FREE && c->cb;
    }
    if (d->active_ports > host_ports)
        rc = -XEN_EAGAIN;      /* something was bound again meanwhile */
    else if (d->fifo)
        evtchn_fifo_destroy(d);   /* back to 2-level */
    pthread_mutex_unlock(&d->lock);
out_put:
    dom_put(d);
    return rc;
}

static int do_init_control(struct evtchn_dom *d, void *arg)
{
    struct evtchn_init_control *a = arg;
    pthread_mutex_lock(&d->lock);
    int rc = evtchn_fifo_init_control(d, a);
    pthread_mutex_unlock(&d->lock);
    if (!rc)
        a->link_bits = EVTCHN_FIFO_LINK_BITS;
    return rc;
}

static int do_expand_array(struct evtchn_dom *d, void *arg)
{
    struct evtchn_expand_array *a = arg;
    pthread_mutex_lock(&d->lock);
    int rc = evtchn_fifo_expand_array(d, a);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int do_set_priority(struct evtchn_dom *d, void *arg)
{
    struct evtchn_set_priority *a = arg;
    int rc;
    if (!port_is_valid(d, a->port))
        return -XEN_EINVAL;
    struct evtchn_chn *c = evtchn_chn_of(d, a->port);
    /* Exclusive: senders read the priority under the shared lock. The op
     * touches no guest memory, so an ABI switch racing it is harmless. */
    evtchn_write_lock(&c->lock);
    const struct port_ops *ops = dom_ops(d);
    rc = ops->set_priority ? ops->set_priority(d, c, a->priority) : -XEN_ENOSYS;
    evtchn_write_unlock(&c->lock);
    return rc;
}

/* ---- hypercall entry ----------------------------------------------------- */

/* The ops whose handlers take more than the guest's argument. */
static int do_alloc_unbound(struct evtchn_dom *d, void *arg)
{
    return alloc_unbound(d, arg, NULL, NULL);
}

static int do_bind_interdomain(struct evtchn_dom *d, void *arg)
{
    return bind_interdomain(d, arg, NULL, NULL);
}

static int do_close(struct evtchn_dom *d, void *arg)
{
    return evtchn_close_port(d, ((struct evtchn_close *)arg)->port, true);
}

static int do_send(struct evtchn_dom *d, void *arg)
{
    return send_port(d, ((struct evtchn_send *)arg)->port, true);
}

/* One row per EVTCHNOP: its handler, the size of its argument struct
 * (struct evtchn_<op> of <xen/event_channel.h>) and whether that struct
 * goes back to the guest on success. EVTCHNOP_reset is never preempted
 * (no reset_cont). */
static const struct {
    int (*fn)(struct evtchn_dom *d, void *arg);
    size_t size;
    bool copy_back;
} op_table[] = {
#define OP(name, copy_back) \
    [EVTCHNOP_##name] = { do_##name, sizeof(struct evtchn_##name), copy_back }
    OP(bind_interdomain, true),
    OP(bind_virq, true),
    OP(bind_pirq, true),
    OP(close, false),
    OP(send, false),
    OP(status, true),
    OP(alloc_unbound, true),
    OP(bind_ipi, true),
    OP(bind_vcpu, false),
    OP(unmask, false),
    OP(reset, false),
    OP(init_control, true),
    OP(expand_array, false),
    OP(set_priority, false),
#undef OP
};

#define OP_TABLE_LEN (sizeof(op_table) / sizeof(op_table[0]))

size_t evtchn_op_arg_size(unsigned int cmd)
{
    return cmd < OP_TABLE_LEN ? op_table[cmd].size : 0;
}

bool evtchn_op_copies_back(unsigned int cmd)
{
    return cmd < OP_TABLE_LEN && op_table[cmd].copy_back;
}

int evtchn_do_op(struct evtchn_host *h, domid_t caller, uint32_t caller_vcpu,
                 unsigned int cmd, void *arg)
{
    struct evtchn_dom *d = dom_self(h, caller);
    (void)caller_vcpu;   /* Xen's ops act on the domain, not the vCPU */

    if (!d)
        return -XEN_ESRCH;
    if (cmd >= OP_TABLE_LEN || !op_table[cmd].fn)
        return -XEN_ENOSYS;
    return op_table[cmd].fn(d, arg);
}

/* ---- host side ----------------------------------------------------------- */

/* The channel of port, read-locked, if it is still bound as state (VIRQ or
 * PIRQ) to num; else NULL. The VIRQ and PIRQ tables that name the port are
 * read without d->lock, so it may have been closed or re-bound meanwhile:
 * this re-checks under the channel's lock. */
static struct evtchn_chn *chn_bound_read_lock(struct evtchn_dom *d, uint32_t port,
                                              uint8_t state, uint32_t num)
{
    if (!port || !port_is_valid(d, port))
        return NULL;
    struct evtchn_chn *c = evtchn_chn_of(d, port);
    evtchn_read_lock(&c->lock);
    if (c->state == state &&
        (state == EVTCHN_STATE_VIRQ ? c->u.virq : c->u.pirq) == num)
        return c;
    evtchn_read_unlock(&c->lock);
    return NULL;
}

void evtchn_send_virq(struct evtchn_host *h, domid_t dom, uint32_t vcpu, uint32_t virq)
{
    struct evtchn_dom *d;
    if (virq >= NR_VIRQS || !(d = evtchn_dom_get(h, dom)))
        return;
    bool global = virq_is_global(virq);
    uint32_t v = global ? 0 : vcpu;   /* global VIRQs are bound on vCPU 0 */
    if (v < d->max_vcpus) {
        uint32_t port = atomic_load_explicit(&d->vcpus[v].virq_port[virq],
                                             memory_order_acquire);
        struct evtchn_chn *c = chn_bound_read_lock(d, port, EVTCHN_STATE_VIRQ, virq);
        if (c) {
            deliver(d, global ? c->notify_vcpu : v, c);
            evtchn_read_unlock(&c->lock);
        }
    }
    dom_put(d);
}

int evtchn_send_pirq(struct evtchn_host *h, domid_t dom, uint32_t pirq)
{
    struct evtchn_dom *d = evtchn_dom_get(h, dom);
    int rc = -XEN_ENOENT;
    if (!d)
        return -XEN_ENOENT;
    atomic_uint *tab = pirq_table(d);
    if (tab && pirq < d->nr_pirqs) {
        uint32_t port = atomic_load_explicit(&tab[pirq], memory_order_acquire);
        struct evtchn_chn *c = chn_bound_read_lock(d, port, EVTCHN_STATE_PIRQ, pirq);
        if (c) {
            deliver(d, c->notify_vcpu, c);
            evtchn_read_unlock(&c->lock);
            rc = 0;
        }
    }
    dom_put(d);
    return rc;
}

int evtchn_pirq_port(struct evtchn_host *h, domid_t dom, uint32_t pirq)
{
    struct evtchn_dom *d = evtchn_dom_get(h, dom);
    if (!d)
        return -XEN_ESRCH;
    atomic_uint *tab = pirq_table(d);
    uint32_t port = tab && pirq < d->nr_pirqs
                    ? atomic_load_explicit(&tab[pirq], memory_order_acquire) : 0;
    dom_put(d);
    return port ? (int)port : -XEN_ENOENT;
}

int evtchn_host_send(struct evtchn_host *h, domid_t dom, evtchn_port_t port)
{
    struct evtchn_dom *d = evtchn_dom_get(h, dom);
    if (!d)
        return -XEN_ESRCH;
    int rc = send_port(d, port, false);
    dom_put(d);
    return rc;
}

int evtchn_host_alloc_unbound(struct evtchn_host *h, domid_t dom, domid_t remote,
                              evtchn_host_cb cb, void *arg, evtchn_port_t *port)
{
    struct evtchn_dom *d = evtchn_dom_get(h, dom);
    if (!d)
        return -XEN_ESRCH;
    struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = remote };
    int rc = alloc_unbound(d, &a, cb, arg);
    if (!rc && port)
        *port = a.port;
    dom_put(d);
    return rc;
}

int evtchn_host_offer(struct evtchn_host *h, domid_t guest, domid_t backend,
                      evtchn_port_t *guest_port)
{
    /* A port of the guest's own, so no host callback: the guest's ABI. */
    return evtchn_host_alloc_unbound(h, guest, backend, NULL, NULL, guest_port);
}

int evtchn_host_bind_interdomain(struct evtchn_host *h, domid_t local, domid_t remote,
                                 evtchn_port_t remote_port, evtchn_host_cb cb,
                                 void *arg, evtchn_port_t *port)
{
    struct evtchn_dom *d = evtchn_dom_get(h, local);
    if (!d)
        return -XEN_ESRCH;
    struct evtchn_bind_interdomain b = { .remote_dom = remote, .remote_port = remote_port };
    int rc = bind_interdomain(d, &b, cb, arg);
    if (!rc && port)
        *port = b.local_port;
    dom_put(d);
    return rc;
}

int evtchn_host_close(struct evtchn_host *h, domid_t dom, evtchn_port_t port)
{
    struct evtchn_dom *d = evtchn_dom_get(h, dom);
    unsigned int spins = 0;
    if (!d)
        return -XEN_ESRCH;
    int rc = evtchn_close_port(d, port, false);
    if (!rc) {
        /* The port's storage lives until the domain dies: safe to watch. */
        struct evtchn_chn *c = evtchn_chn_of(d, port);
        while (atomic_load(&c->cb_busy))
            evtchn_cpu_relax(&spins);
    }
    dom_put(d);
    return rc;
}


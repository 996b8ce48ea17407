/*
 * Event channels, hypervisor side: domains, vCPUs, ports and the fourteen
 * EVTCHNOPs with the semantics and errno values of Xen's
 * xen/common/event_channel.c. Delivery into the guest goes through the
 * domain's port_ops (event_2l.c or event_fifo.c).
 *
 * Every op validates its arguments and checks permission before it changes
 * any state, so an error leaves nothing half done. See evtchn_internal.h for
 * what each lock protects and the order they are taken in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evtchn_internal.h"

/* ---- host and domain table ---------------------------------------------- */

struct evtchn_host *evtchn_host_create(const struct evtchn_platform_ops *ops,
                                       void *opaque)
{
    struct evtchn_host *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    if (ops)
        h->ops = *ops;
    h->opaque = opaque;
    pthread_rwlock_init(&h->lock, NULL);
    return h;
}

void evtchn_host_destroy(struct evtchn_host *h)
{
    if (!h)
        return;
    pthread_rwlock_destroy(&h->lock);
    free(h);
}

int evtchn_host_attach_pirq_router(struct evtchn_host *h,
                                   const struct evtchn_pirq_router *r)
{
    const struct evtchn_pirq_router *none = NULL;
    return atomic_compare_exchange_strong(&h->pirq_router, &none, r) ? 0
                                                                     : -XEN_EBUSY;
}

void evtchn_host_detach_pirq_router(struct evtchn_host *h,
                                    const struct evtchn_pirq_router *r)
{
    atomic_compare_exchange_strong(&h->pirq_router, &r, NULL);
}

static const struct evtchn_pirq_router *pirq_router(struct evtchn_host *h)
{
    return atomic_load_explicit(&h->pirq_router, memory_order_acquire);
}

/* Another domain, held by a reference until dom_put (Xen's
 * rcu_lock_domain_by_id). */
static struct evtchn_dom *dom_get(struct evtchn_host *h, domid_t id)
{
    struct evtchn_dom *d = NULL;
    if (id >= DOMID_FIRST_RESERVED)
        return NULL;
    pthread_rwlock_rdlock(&h->lock);
    d = atomic_load(&h->doms[id]);
    if (d)
        atomic_fetch_add(&d->refs, 1);
    pthread_rwlock_unlock(&h->lock);
    return d;
}

static void dom_put(struct evtchn_dom *d)
{
    atomic_fetch_sub(&d->refs, 1);
}

/* DOMID_SELF or an id (Xen's rcu_lock_domain_by_any_id). */
static struct evtchn_dom *dom_get_any(struct evtchn_dom *self, domid_t id)
{
    if (id == DOMID_SELF || id == self->id) {
        atomic_fetch_add(&self->refs, 1);
        return self;
    }
    return dom_get(self->h, id);
}

/* The calling domain: alive while one of its vCPUs is in a hypercall, by
 * the contract of evtchn_domain_destroy, so no reference is taken. */
static struct evtchn_dom *dom_self(struct evtchn_host *h, domid_t id)
{
    return id < DOMID_FIRST_RESERVED ? atomic_load_explicit(&h->doms[id],
                                                            memory_order_acquire)
                                     : NULL;
}

static void lock_pair(struct evtchn_dom *a, struct evtchn_dom *b)
{
    if (a == b) {
        pthread_mutex_lock(&a->lock);
    } else if (a->id < b->id) {
        pthread_mutex_lock(&a->lock);
        pthread_mutex_lock(&b->lock);
    } else {
        pthread_mutex_lock(&b->lock);
        pthread_mutex_lock(&a->lock);
    }
}

static void unlock_pair(struct evtchn_dom *a, struct evtchn_dom *b)
{
    if (a != b)
        pthread_mutex_unlock(&b->lock);
    pthread_mutex_unlock(&a->lock);
}

/* Both ends of an interdomain channel, lower address first. */
static void chn_write_lock_pair(struct evtchn_chn *a, struct evtchn_chn *b)
{
    if (a < b) {
        evtchn_write_lock(&a->lock);
        evtchn_write_lock(&b->lock);
    } else {
        evtchn_write_lock(&b->lock);
        evtchn_write_lock(&a->lock);
    }
}

static void chn_write_unlock_pair(struct evtchn_chn *a, struct evtchn_chn *b)
{
    evtchn_write_unlock(&a->lock);
    evtchn_write_unlock(&b->lock);
}

static int policy(struct evtchn_dom *src, struct evtchn_dom *dst,
                  enum evtchn_action act)
{
    struct evtchn_host *h = src->h;
    if (h->ops.policy)
        return h->ops.policy(h->opaque, src->id, dst->id, act, src->privileged);
    switch (act) {
    case EVTCHN_ACT_UNBOUND:
    case EVTCHN_ACT_STATUS:
    case EVTCHN_ACT_RESET:
        /* XSM_TARGET: the domain itself or a privileged one. */
        return (src == dst || src->privileged) ? 0 : -XEN_EPERM;
    default:
        /* XSM_HOOK: allowed. */
        return 0;
    }
}

/* ---- platform helpers ---------------------------------------------------- */

void evtchn_mark_events_pending(struct evtchn_dom *d, uint32_t vcpu)
{
    struct vcpu_info *vi = evtchn_vi(d, vcpu);
    /* Only the 0 -> 1 transition needs an upcall: while the flag is set the
     * guest has not yet started its scan, which will find this event. */
    if (!__atomic_exchange_n(&vi->evtchn_upcall_pending, 1, __ATOMIC_SEQ_CST) &&
        d->h->ops.kick_vcpu)
        d->h->ops.kick_vcpu(d->h->opaque, d->id, vcpu);
}

void evtchn_check_pollers(struct evtchn_dom *d, uint32_t port)
{
    if (atomic_load_explicit(&d->pollers, memory_order_acquire) <= 0)
        return;
    evtchn_read_lock(&d->poll_lock);
    if (d->poll_wake)
        d->poll_wake(d->poll_arg, port);
    evtchn_read_unlock(&d->poll_lock);
}

void *evtchn_map_gfn(struct evtchn_dom *d, uint64_t gfn)
{
    if (!d->h->ops.map_gfn)
        return NULL;
    return d->h->ops.map_gfn(d->h->opaque, d->id, gfn);
}

static inline const struct port_ops *dom_ops(struct evtchn_dom *d)
{
    return atomic_load_explicit(&d->ops, memory_order_acquire);
}

static inline void deliver(struct evtchn_dom *d, uint32_t vcpu, struct evtchn_chn *c)
{
    dom_ops(d)->set_pending(d, vcpu, c);
}

/* ---- ports --------------------------------------------------------------- */

static uint32_t max_ports(struct evtchn_dom *d)
{
    uint32_t abi = dom_ops(d)->max_ports;
    return d->max_port_cfg < abi - 1 ? d->max_port_cfg + 1 : abi;
}

/* A port with storage (Xen's port_is_valid): what the host and the remote
 * end of a binding check. A host-consumer port may lie beyond the ABI's
 * limit: it survives EVTCHNOP_reset taking a FIFO domain back to 2-level. */
static bool port_has_storage(struct evtchn_dom *d, uint32_t port)
{
    return port < atomic_load_explicit(&d->valid_ports, memory_order_acquire);
}

/* A port number the domain's ABI and config allow, with storage. */
static bool port_is_valid(struct evtchn_dom *d, uint32_t port)
{
    return port < max_ports(d) && port_has_storage(d, port);
}

/* Give ports up to and including port storage. Called with d->lock held. */
static int ensure_port(struct evtchn_dom *d, uint32_t port)
{
    uint32_t valid = atomic_load_explicit(&d->valid_ports, memory_order_relaxed);

    while (port >= valid) {
        uint32_t b = valid / EVTCHN_BUCKET_PORTS;
        struct evtchn_chn **arr = atomic_load_explicit(&d->buckets, memory_order_relaxed);

        if (b >= d->buckets_cap) {
            uint32_t cap = d->buckets_cap ? d->buckets_cap * 2 : 2;
            struct evtchn_chn **n = calloc(cap, sizeof(*n));
            struct retired *r = malloc(sizeof(*r));
            if (!n || !r) {
                free(n);
                free(r);
                return -XEN_ENOMEM;
            }
            if (arr)
                memcpy(n, arr, d->buckets_cap * sizeof(*n));
            /* Lock-free readers may still hold the old array: keep it. */
            r->p = arr;
            r->next = d->retired;
            d->retired = r;
            d->buckets_cap = cap;
            atomic_store_explicit(&d->buckets, n, memory_order_release);
            arr = n;
        }
        struct evtchn_chn *bucket = calloc(EVTCHN_BUCKET_PORTS, sizeof(*bucket));
        if (!bucket)
            return -XEN_ENOMEM;
        for (uint32_t i = 0; i < EVTCHN_BUCKET_PORTS; i++) {
            bucket[i].port = valid + i;
            bucket[i].state = EVTCHN_STATE_FREE;
            bucket[i].priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
            atomic_init(&bucket[i].fifo_lastq, EVTCHN_FIFO_PRIORITY_DEFAULT);
        }
        arr[b] = bucket;
        valid += EVTCHN_BUCKET_PORTS;
        /* Publish: a reader that sees the new count sees the bucket. */
        atomic_store_explicit(&d->valid_ports, valid, memory_order_release);
    }
    return 0;
}

/* Lowest free port that is not still linked in a guest FIFO queue
 * (Xen's get_free_port). Called with d->lock held. */
static int get_free_port(struct evtchn_dom *d)
{
    const struct port_ops *ops = dom_ops(d);
    uint32_t max = max_ports(d);
    uint32_t valid = atomic_load_explicit(&d->valid_ports, memory_order_relaxed);
    uint32_t first_busy = UINT32_MAX, p;

    for (p = d->free_hint; p < valid && p < max; p++) {
        struct evtchn_chn *c = evtchn_chn_of(d, p);
        if (c->state != EVTCHN_STATE_FREE)
            continue;
        if (ops->is_busy && ops->is_busy(d, p)) {
            if (first_busy == UINT32_MAX)
                first_busy = p;
            continue;
        }
        break;
    }
    if (p >= max)
        return -XEN_ENOSPC;
    if (p >= valid) {
        int rc = ensure_port(d, p);
        if (rc)
            return rc;
    }
    d->free_hint = first_busy < p ? first_busy : p;
    return (int)p;
}

/* A free port becomes bound: state and per-ABI initialisation. Called with
 * d->lock and the channel's write lock held. */
static void port_bind(struct evtchn_dom *d, struct evtchn_chn *c, uint8_t state,
                      uint32_t vcpu)
{
    const struct port_ops *ops = dom_ops(d);
    c->state = state;
    c->notify_vcpu = vcpu;
    atomic_store(&c->fifo_pending, false);
    atomic_store(&c->fifo_lastq, (vcpu << 8) | EVTCHN_FIFO_PRIORITY_DEFAULT);
    c->priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
    if (ops->init)
        ops->init(d, c);
    d->active_ports++;
}

/* Called with d->lock and the channel's write lock held. */
static void port_free(struct evtchn_dom *d, struct evtchn_chn *c)
{
    /* A host-consumer port's events never reach the guest's ABI (and it
     * may lie beyond that ABI's limit). */
    if (!c->cb)
        dom_ops(d)->clear_pending(d, c);
    c->state = EVTCHN_STATE_FREE;
    c->notify_vcpu = 0;
    c->cb = NULL;
    c->cb_arg = NULL;
    memset(&c->u, 0, sizeof(c->u));
    d->active_ports--;
    if (c->port < d->free_hint)
        d->free_hint = c->port;
}

static bool virq_is_global(uint32_t virq)
{
    switch (virq) {
    case VIRQ_TIMER:
    case VIRQ_DEBUG:
    case VIRQ_XENOPROF:
    case VIRQ_XENPMU:
        return false;
    default:
        return true;   /* x86: the arch VIRQs are global too */
    }
}

/* ---- domains ------------------------------------------------------------- */

static void dom_free(struct evtchn_dom *d)
{
    struct evtchn_chn **arr = atomic_load(&d->buckets);
    uint32_t nb = atomic_load(&d->valid_ports) / EVTCHN_BUCKET_PORTS;
    for (uint32_t b = 0; b < nb; b++)
        free(arr[b]);
    free(arr);
    while (d->retired) {
        struct retired *r = d->retired;
        d->retired = r->next;
        free(r->p);
        free(r);
    }
    if (d->fifo)
        evtchn_fifo_destroy(d);
    free(atomic_load(&d->pirq_port));
    if (d->si_owned)
        free(d->si);
    free(d->vcpus);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

int evtchn_domain_create(struct evtchn_host *h, const struct evtchn_domain_config *cfg)
{
    struct evtchn_dom *d;
    int rc;

    if (!h || !cfg || cfg->domid >= DOMID_FIRST_RESERVED || cfg->max_vcpus == 0 ||
        cfg->max_vcpus > 4096)
        return -XEN_EINVAL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return -XEN_ENOMEM;
    d->h = h;
    d->id = cfg->domid;
    d->privileged = cfg->privileged;
    d->max_vcpus = cfg->max_vcpus;
    d->nr_pirqs = cfg->nr_pirqs ? cfg->nr_pirqs : 256;
    d->max_port_cfg = cfg->max_evtchn_port ? cfg->max_evtchn_port : UINT32_MAX - 1;
    pthread_mutex_init(&d->lock, NULL);
    atomic_init(&d->ops, &evtchn_2l_ops);
    atomic_init(&d->refs, 1);          /* the table's reference */
    d->vcpus = calloc(cfg->max_vcpus, sizeof(*d->vcpus));
    if (cfg->shared_info) {
        d->si = cfg->shared_info;
    } else {
        d->si = aligned_alloc(EVTCHN_PAGE_SIZE, EVTCHN_PAGE_SIZE);
        d->si_owned = true;
        if (d->si)
            memset(d->si, 0, EVTCHN_PAGE_SIZE);
    }
    if (!d->vcpus || !d->si) {
        rc = -XEN_ENOMEM;
        goto fail;
    }
    for (uint32_t v = 0; v < cfg->max_vcpus; v++)
        atomic_init(&d->vcpus[v].vi, v < XEN_LEGACY_MAX_VCPUS ? &d->si->vcpu_info[v]
                                                               : &d->dummy_vi);

    /* Port 0 is reserved (seed 000, evtchn_init). */
    rc = ensure_port(d, 0);
    if (rc)
        goto fail;
    evtchn_chn_of(d, 0)->state = EVTCHN_STATE_RESERVED;
    d->free_hint = 1;

    pthread_rwlock_wrlock(&h->lock);
    if (atomic_load(&h->doms[d->id])) {
        pthread_rwlock_unlock(&h->lock);
        rc = -XEN_EEXIST;
        goto fail;
    }
    atomic_store_explicit(&h->doms[d->id], d, memory_order_release);
    pthread_rwlock_unlock(&h->lock);
    return 0;

fail:
    dom_free(d);
    return rc;
}

static int close_port(struct evtchn_dom *d1, uint32_t port1, bool guest);

int evtchn_domain_destroy(struct evtchn_host *h, domid_t domid)
{
    struct evtchn_dom *d;
    unsigned int spins = 0;

    if (domid >= DOMID_FIRST_RESERVED)
        return -XEN_ESRCH;
    pthread_rwlock_wrlock(&h->lock);
    d = atomic_load(&h->doms[domid]);
    if (d)
        atomic_store(&h->doms[domid], NULL);
    pthread_rwlock_unlock(&h->lock);
    if (!d)
        return -XEN_ESRCH;

    /* No new bindings from now on; then close everything, so every peer
     * returns to UNBOUND and every PIRQ is released. */
    pthread_mutex_lock(&d->lock);
    d->dying = true;
    pthread_mutex_unlock(&d->lock);
    uint32_t valid = atomic_load(&d->valid_ports);
    for (uint32_t p = 1; p < valid; p++) {
        struct evtchn_chn *c = evtchn_chn_of(d, p);
        close_port(d, p, false);
        while (atomic_load(&c->cb_busy))
            evtchn_cpu_relax(&spins);
    }
    /* Wait for lookups by other domains' ops to finish with us. */
    while (atomic_load(&d->refs) > 1)
        evtchn_cpu_relax(&spins);
    dom_free(d);
    return 0;
}

struct shared_info *evtchn_domain_shared_info(struct evtchn_host *h, domid_t domid)
{
    struct evtchn_dom *d = dom_get(h, domid);
    struct shared_info *si = NULL;
    if (d) {
        si = d->si;
        dom_put(d);
    }
    return si;
}

int evtchn_domain_set_paused(struct evtchn_host *h, domid_t domid, bool paused)
{
    struct evtchn_dom *d = dom_get(h, domid);
    if (!d)
        return -XEN_ESRCH;
    pthread_mutex_lock(&d->lock);
    d->paused = paused;
    pthread_mutex_unlock(&d->lock);
    dom_put(d);
    return 0;
}

int evtchn_domain_pollers(struct evtchn_host *h, domid_t domid, int delta)
{
    struct evtchn_dom *d = dom_get(h, domid);
    if (!d)
        return -XEN_ESRCH;
    atomic_fetch_add_explicit(&d->pollers, delta, memory_order_acq_rel);
    dom_put(d);
    return 0;
}

int evtchn_domain_set_poll_wake(struct evtchn_host *h, domid_t domid,
                                evtchn_poll_wake_fn fn, void *arg)
{
    struct evtchn_dom *d = dom_get(h, domid);
    if (!d)
        return -XEN_ESRCH;
    /* Exclusive: waits for a waker still inside the old callback. */
    evtchn_write_lock(&d->poll_lock);
    if (fn) {
        d->poll_wake = fn;
        d->poll_arg = arg;
    } else if (d->poll_arg == arg) {
        d->poll_wake = NULL;
        d->poll_arg = NULL;
    }
    evtchn_write_unlock(&d->poll_lock);
    dom_put(d);
    return 0;
}

int evtchn_vcpu_set_info(struct evtchn_host *h, domid_t domid, uint32_t vcpu,
                         struct vcpu_info *info)
{
    struct evtchn_dom *d = dom_get(h, domid);
    if (!d)
        return -XEN_ESRCH;
    if (vcpu >= d->max_vcpus || !info) {
        dom_put(d);
        return -XEN_EINVAL;
    }
    pthread_mutex_lock(&d->lock);
    struct vcpu_info *old = evtchn_vi(d, vcpu);
    if (old != info) {
        memcpy(info, old, sizeof(*info));
        /* Mark everything pending on the new copy: an event that raced
         * with the move is then found by the guest's next scan (it copes
         * with a spurious upcall), as Xen does in map_vcpu_info. */
        __atomic_store_n(&info->evtchn_pending_sel, ~(xen_ulong_t)0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&info->evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
        atomic_store_explicit(&d->vcpus[vcpu].vi, info, memory_order_release);
    }
    pthread_mutex_unlock(&d->lock);
    evtchn_mark_events_pending(d, vcpu);
    dom_put(d);
    return 0;
}

bool evtchn_port_valid(struct evtchn_host *h, domid_t dom, evtchn_port_t port)
{
    struct evtchn_dom *d = dom_get(h, dom);
    if (!d)
        return false;
    bool ok = port_is_valid(d, port);
    dom_put(d);
    return ok;
}

int evtchn_any_pending(struct evtchn_host *h, domid_t dom,
                       const evtchn_port_t *ports, unsigned int n)
{
    struct evtchn_dom *d = dom_get(h, dom);
    int rc = 0;
    if (!d)
        return -XEN_ESRCH;
    /* d->lock: the ABI, and with it a FIFO domain's event array, stays
     * put; a port's state changes only under it too. */
    pthread_mutex_lock(&d->lock);
    const struct port_ops *ops = dom_ops(d);
    for (unsigned int i = 0; i < n && !rc; i++)
        rc = port_is_valid(d, ports[i]) &&
             evtchn_chn_of(d, ports[i])->state != EVTCHN_STATE_FREE &&
             ops->is_pending(d, ports[i]);
    pthread_mutex_unlock(&d->lock);
    dom_put(d);
    return rc;
}

long evtchn_domain_port_bytes(struct evtchn_host *h, domid_t dom)
{
    struct evtchn_dom *d = dom_get(h, dom);
    if (!d)
        return -XEN_ESRCH;
    pthread_mutex_lock(&d->lock);
    long n = (long)(atomic_load(&d->valid_ports) / EVTCHN_BUCKET_PORTS) *
                 (long)(EVTCHN_BUCKET_PORTS * sizeof(struct evtchn_chn)) +
             (long)(d->buckets_cap * sizeof(struct evtchn_chn *));
    pthread_mutex_unlock(&d->lock);
    dom_put(d);
    return n;
}

int evtchn_domain_abi(struct evtchn_host *h, domid_t dom)
{
    struct evtchn_dom *d = dom_get(h, dom);
    if (!d)
        return -XEN_ESRCH;
    int abi = dom_ops(d)->abi;
    dom_put(d);
    return abi;
}

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
    port = get_free_port(d);
    if (port < 0) {
        rc = port;
        goto out;
    }
    struct evtchn_chn *c = evtchn_chn_of(d, (uint32_t)port);
    evtchn_write_lock(&c->lock);
    port_bind(d, c, EVTCHN_STATE_UNBOUND, 0);
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
    lport = get_free_port(ld);
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
    port_bind(ld, lc, EVTCHN_STATE_INTERDOMAIN, 0);
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
    port = get_free_port(d);
    if (port < 0) {
        rc = port;
        goto out;
    }
    struct evtchn_chn *c = evtchn_chn_of(d, (uint32_t)port);
    evtchn_write_lock(&c->lock);
    port_bind(d, c, EVTCHN_STATE_VIRQ, vcpu);
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
    int port, rc = 0;
    if (b->vcpu >= d->max_vcpus)
        return -XEN_ENOENT;
    pthread_mutex_lock(&d->lock);
    port = get_free_port(d);
    if (port < 0) {
        rc = port;
        goto out;
    }
    struct evtchn_chn *c = evtchn_chn_of(d, (uint32_t)port);
    evtchn_write_lock(&c->lock);
    port_bind(d, c, EVTCHN_STATE_IPI, b->vcpu);
    evtchn_write_unlock(&c->lock);
    b->port = (evtchn_port_t)port;
out:
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static atomic_uint *pirq_table(struct evtchn_dom *d)
{
    return atomic_load_explicit(&d->pirq_port, memory_order_acquire);
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
    port = get_free_port(d);
    if (port < 0) {
        rc = port;
        goto out;
    }
    /* Bind first, so an interrupt the router raises from inside its bind
     * finds its port; undo if the router refuses. */
    struct evtchn_chn *c = evtchn_chn_of(d, (uint32_t)port);
    evtchn_write_lock(&c->lock);
    port_bind(d, c, EVTCHN_STATE_PIRQ, 0);
    c->u.pirq = pirq;
    evtchn_write_unlock(&c->lock);
    atomic_store_explicit(&tab[pirq], (uint32_t)port, memory_order_release);

    rc = router->bind(router->ctx, d->id, pirq, b->flags & BIND_PIRQ__WILL_SHARE);
    if (rc) {
        atomic_store(&tab[pirq], 0);
        evtchn_write_lock(&c->lock);
        port_free(d, c);
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
static int close_port(struct evtchn_dom *d1, uint32_t port1, bool guest)
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
        port_free(d1, c1);
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
    port_free(d1, c1);
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
        close_port(d, p, true);

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
    return close_port(d, ((struct evtchn_close *)arg)->port, true);
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

void evtchn_send_virq(struct evtchn_host *h, domid_t dom, uint32_t vcpu, uint32_t virq)
{
    struct evtchn_dom *d;
    if (virq >= NR_VIRQS || !(d = dom_get(h, dom)))
        return;
    bool global = virq_is_global(virq);
    uint32_t v = global ? 0 : vcpu;   /* global VIRQs are bound on vCPU 0 */
    if (v < d->max_vcpus) {
        uint32_t port = atomic_load_explicit(&d->vcpus[v].virq_port[virq],
                                             memory_order_acquire);
        if (port && port_is_valid(d, port)) {
            struct evtchn_chn *c = evtchn_chn_of(d, port);
            evtchn_read_lock(&c->lock);
            /* Re-check under the lock: it may have been closed meanwhile. */
            if (c->state == EVTCHN_STATE_VIRQ && c->u.virq == virq)
                deliver(d, global ? c->notify_vcpu : v, c);
            evtchn_read_unlock(&c->lock);
        }
    }
    dom_put(d);
}

int evtchn_send_pirq(struct evtchn_host *h, domid_t dom, uint32_t pirq)
{
    struct evtchn_dom *d = dom_get(h, dom);
    int rc = -XEN_ENOENT;
    if (!d)
        return -XEN_ENOENT;
    atomic_uint *tab = pirq_table(d);
    if (tab && pirq < d->nr_pirqs) {
        uint32_t port = atomic_load_explicit(&tab[pirq], memory_order_acquire);
        if (port && port_is_valid(d, port)) {
            struct evtchn_chn *c = evtchn_chn_of(d, port);
            evtchn_read_lock(&c->lock);
            if (c->state == EVTCHN_STATE_PIRQ && c->u.pirq == pirq) {
                deliver(d, c->notify_vcpu, c);
                rc = 0;
            }
            evtchn_read_unlock(&c->lock);
        }
    }
    dom_put(d);
    return rc;
}

int evtchn_pirq_port(struct evtchn_host *h, domid_t dom, uint32_t pirq)
{
    struct evtchn_dom *d = dom_get(h, dom);
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
    struct evtchn_dom *d = dom_get(h, dom);
    if (!d)
        return -XEN_ESRCH;
    int rc = send_port(d, port, false);
    dom_put(d);
    return rc;
}

int evtchn_host_alloc_unbound(struct evtchn_host *h, domid_t dom, domid_t remote,
                              evtchn_host_cb cb, void *arg, evtchn_port_t *port)
{
    struct evtchn_dom *d = dom_get(h, dom);
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
    struct evtchn_dom *d = dom_get(h, local);
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
    struct evtchn_dom *d = dom_get(h, dom);
    unsigned int spins = 0;
    if (!d)
        return -XEN_ESRCH;
    int rc = close_port(d, port, false);
    if (!rc) {
        /* The port's storage lives until the domain dies: safe to watch. */
        struct evtchn_chn *c = evtchn_chn_of(d, port);
        while (atomic_load(&c->cb_busy))
            evtchn_cpu_relax(&spins);
    }
    dom_put(d);
    return rc;
}

/* ---- introspection ------------------------------------------------------- */

int evtchn_port_foreach(struct evtchn_host *h, domid_t dom,
                        void (*fn)(void *ctx, const struct evtchn_port_info *),
                        void *ctx)
{
    struct evtchn_dom *d = dom_get(h, dom);
    int n = 0;
    if (!d)
        return -XEN_ESRCH;
    pthread_mutex_lock(&d->lock);
    const struct port_ops *ops = dom_ops(d);
    uint32_t valid = atomic_load(&d->valid_ports);
    for (uint32_t p = 0; p < valid; p++) {
        struct evtchn_chn *c = evtchn_chn_of(d, p);
        if (c->state == EVTCHN_STATE_FREE)
            continue;
        struct evtchn_port_info pi = {
            .port = p,
            .state = c->state,
            .vcpu = c->notify_vcpu,
            .host_consumer = c->cb != NULL,
            .priority = c->priority,
        };
        if (p < max_ports(d)) {
            pi.pending = ops->is_pending(d, p);
            pi.masked = ops->is_masked(d, p);
        }
        switch (c->state) {
        case EVTCHN_STATE_UNBOUND:
            pi.remote_dom = c->u.unbound.remote_dom;
            break;
        case EVTCHN_STATE_INTERDOMAIN:
            pi.remote_dom = c->u.inter.rd->id;
            pi.remote_port = c->u.inter.rport;
            break;
        case EVTCHN_STATE_VIRQ:
            pi.virq = c->u.virq;
            break;
        case EVTCHN_STATE_PIRQ:
            pi.pirq = c->u.pirq;
            break;
        default:
            break;
        }
        fn(ctx, &pi);
        n++;
    }
    pthread_mutex_unlock(&d->lock);
    dom_put(d);
    return n;
}

const char *evtchn_state_name(enum evtchn_state s)
{
    static const char *const names[] = {
        [EVTCHN_STATE_FREE] = "free",
        [EVTCHN_STATE_RESERVED] = "reserved",
        [EVTCHN_STATE_UNBOUND] = "unbound",
        [EVTCHN_STATE_INTERDOMAIN] = "interdomain",
        [EVTCHN_STATE_PIRQ] = "pirq",
        [EVTCHN_STATE_VIRQ] = "virq",
        [EVTCHN_STATE_IPI] = "ipi",
    };
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* ---- self-check (tests and fuzzing) -------------------------------------- */

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "evtchn invariant: dom %u: ", d->id);            \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            rc = -1;                                                         \
            goto out;                                                        \
        }                                                                    \
    } while (0)

int evtchn_debug_check(struct evtchn_host *h, domid_t dom)
{
    struct evtchn_dom *d = dom_get(h, dom);
    uint32_t active = 0;
    int rc = 0;
    if (!d)
        return -XEN_ESRCH;
    /* Both ends of a channel are only ever changed together under both
     * domains' locks; taking the whole host's order (by domid) would be
     * heavy, so this check is for quiescent hosts (tests, fuzzer). */
    pthread_mutex_lock(&d->lock);
    uint32_t valid = atomic_load(&d->valid_ports);
    CHECK(valid >= EVTCHN_BUCKET_PORTS, "no storage for port 0");
    CHECK(evtchn_chn_of(d, 0)->state == EVTCHN_STATE_RESERVED, "port 0 not reserved");
    for (uint32_t p = 1; p < valid; p++) {
        struct evtchn_chn *c = evtchn_chn_of(d, p);
        CHECK(c->port == p, "port %u stored as %u", p, c->port);
        CHECK(c->state <= EVTCHN_STATE_IPI && c->state != EVTCHN_STATE_RESERVED,
              "port %u bad state %u", p, c->state);
        if (c->state == EVTCHN_STATE_FREE) {
            CHECK(!c->cb, "free port %u has a host consumer", p);
            continue;
        }
        active++;
        CHECK(c->notify_vcpu < d->max_vcpus, "port %u vcpu %u", p, c->notify_vcpu);
        CHECK(p < max_ports(d) || c->cb, "bound port %u beyond the ABI limit", p);
        switch (c->state) {
        case EVTCHN_STATE_INTERDOMAIN: {
            struct evtchn_dom *rd = c->u.inter.rd;
            CHECK(rd && c->u.inter.rport < atomic_load(&rd->valid_ports),
                  "port %u: bad peer", p);
            struct evtchn_chn *r = evtchn_chn_of(rd, c->u.inter.rport);
            CHECK(r->state == EVTCHN_STATE_INTERDOMAIN && r->u.inter.rd == d &&
                      r->u.inter.rport == p,
                  "port %u: peer dom %u port %u does not point back", p, rd->id,
                  c->u.inter.rport);
            break;
        }
        case EVTCHN_STATE_VIRQ: {
            uint32_t v = virq_is_global(c->u.virq) ? 0 : c->notify_vcpu;
            CHECK(c->u.virq < NR_VIRQS &&
                      atomic_load(&d->vcpus[v].virq_port[c->u.virq]) == p,
                  "port %u: VIRQ %u not in vCPU %u's table", p, c->u.virq, v);
            break;
        }
        case EVTCHN_STATE_PIRQ: {
            atomic_uint *tab = pirq_table(d);
            CHECK(tab && c->u.pirq < d->nr_pirqs && atomic_load(&tab[c->u.pirq]) == p,
                  "port %u: PIRQ %u not in the table", p, c->u.pirq);
            break;
        }
        default:
            break;
        }
    }
    CHECK(active == d->active_ports, "active count %u, found %u", d->active_ports, active);
    for (uint32_t v = 0; v < d->max_vcpus; v++)
        for (uint32_t virq = 0; virq < NR_VIRQS; virq++) {
            uint32_t p = atomic_load(&d->vcpus[v].virq_port[virq]);
            if (!p)
                continue;
            CHECK(p < valid && evtchn_chn_of(d, p)->state == EVTCHN_STATE_VIRQ &&
                      evtchn_chn_of(d, p)->u.virq == virq,
                  "vCPU %u VIRQ %u -> port %u which is not that VIRQ", v, virq, p);
        }
    atomic_uint *tab = pirq_table(d);
    for (uint32_t i = 0; tab && i < d->nr_pirqs; i++) {
        uint32_t p = atomic_load(&tab[i]);
        CHECK(!p || (p < valid && evtchn_chn_of(d, p)->state == EVTCHN_STATE_PIRQ &&
                     evtchn_chn_of(d, p)->u.pirq == i),
              "PIRQ %u -> port %u which is not that PIRQ", i, p);
    }
    /* FIFO: the queues' private tails only name ports that have an event
     * word, and no free port is left pending. */
    if (d->fifo) {
        uint32_t words = atomic_load(&d->fifo->num_words);
        for (uint32_t v = 0; v < d->max_vcpus; v++) {
            struct fifo_vcpu *fv = d->vcpus[v].fifo;
            for (int q = 0; fv && q < EVTCHN_FIFO_MAX_QUEUES; q++)
                CHECK(fv->q[q].tail == 0 || fv->q[q].tail < words,
                      "vCPU %u queue %d tail %u without a word", v, q, fv->q[q].tail);
        }
    }
out:
    pthread_mutex_unlock(&d->lock);
    dom_put(d);
    return rc;
}

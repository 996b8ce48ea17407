/*
 * Event channels, hypervisor side: the host's domain table, domains, vCPUs
 * and port storage, introspection and the self-check. The fourteen
 * EVTCHNOPs and the host-side API are in evtchn_ops.c; delivery into the
 * guest goes through the domain's port_ops (event_2l.c or event_fifo.c).
 *
 * See evtchn_internal.h for what each lock protects and the order they
 * are taken in.
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

/* Another domain, held by a reference until dom_put (Xen's
 * rcu_lock_domain_by_id). */
struct evtchn_dom *evtchn_dom_get(struct evtchn_host *h, domid_t id)
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

/* ---- ports --------------------------------------------------------------- */

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
int evtchn_get_free_port(struct evtchn_dom *d)
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

/* get_free_port and port_bind in one, the channel left write-locked for
 * the caller (contract in evtchn_internal.h). Called with d->lock held. */
int evtchn_bind_free_port(struct evtchn_dom *d, uint8_t state, uint32_t vcpu,
                          struct evtchn_chn **cp)
{
    int port = evtchn_get_free_port(d);
    if (port < 0)
        return port;
    struct evtchn_chn *c = evtchn_chn_of(d, (uint32_t)port);
    evtchn_write_lock(&c->lock);
    evtchn_port_bind(d, c, state, vcpu);
    *cp = c;
    return port;
}

/* A free port becomes bound: state and per-ABI initialisation. Called with
 * d->lock and the channel's write lock held. */
void evtchn_port_bind(struct evtchn_dom *d, struct evtchn_chn *c, uint8_t state,
                      uint32_t vcpu)
{
    const struct port_ops *ops = dom_ops(d);
    c->state = state;
    c->notify_vcpu = vcpu;
    atomic_store(&c->fifo_pending, false);
    /* fifo_lastq stays: the port may still be the tail of the queue it
     * was last linked on, which its next link must see (Xen keeps
     * last_vcpu_id/last_priority across free and bind alike). */
    c->priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
    if (ops->init)
        ops->init(d, c);
    d->active_ports++;
}

/* Called with d->lock and the channel's write lock held. */
void evtchn_port_free(struct evtchn_dom *d, struct evtchn_chn *c)
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
    atomic_init(&d->shl, &evtchn_shl_native);   /* until a guest latches */
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
        evtchn_close_port(d, p, false);
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
    struct evtchn_dom *d = evtchn_dom_get(h, domid);
    struct shared_info *si = NULL;
    if (d) {
        si = d->si;
        dom_put(d);
    }
    return si;
}

int evtchn_domain_set_paused(struct evtchn_host *h, domid_t domid, bool paused)
{
    struct evtchn_dom *d = evtchn_dom_get(h, domid);
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
    struct evtchn_dom *d = evtchn_dom_get(h, domid);
    if (!d)
        return -XEN_ESRCH;
    atomic_fetch_add_explicit(&d->pollers, delta, memory_order_acq_rel);
    dom_put(d);
    return 0;
}

int evtchn_domain_set_poll_wake(struct evtchn_host *h, domid_t domid,
                                evtchn_poll_wake_fn fn, void *arg)
{
    struct evtchn_dom *d = evtchn_dom_get(h, domid);
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
    struct evtchn_dom *d = evtchn_dom_get(h, domid);
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
        void *sel = (uint8_t *)info + dom_shl(d)->sel;
        if (dom_shl(d)->word_bits == 64)
            __atomic_store_n((uint64_t *)sel, ~(uint64_t)0, __ATOMIC_SEQ_CST);
        else
            __atomic_store_n((uint32_t *)sel, ~(uint32_t)0, __ATOMIC_SEQ_CST);
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
    struct evtchn_dom *d = evtchn_dom_get(h, dom);
    if (!d)
        return false;
    bool ok = port_is_valid(d, port);
    dom_put(d);
    return ok;
}

int evtchn_any_pending(struct evtchn_host *h, domid_t dom,
                       const evtchn_port_t *ports, unsigned int n)
{
    struct evtchn_dom *d = evtchn_dom_get(h, dom);
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
    struct evtchn_dom *d = evtchn_dom_get(h, dom);
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
    struct evtchn_dom *d = evtchn_dom_get(h, dom);
    if (!d)
        return -XEN_ESRCH;
    int abi = dom_ops(d)->abi;
    dom_put(d);
    return abi;
}

/* ---- introspection ------------------------------------------------------- */

int evtchn_port_foreach(struct evtchn_host *h, domid_t dom,
                        void (*fn)(void *ctx, const struct evtchn_port_info *),
                        void *ctx)
{
    struct evtchn_dom *d = evtchn_dom_get(h, dom);
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
    struct evtchn_dom *d = evtchn_dom_get(h, dom);
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
        /* A port bound while 2-level had 4096 ports may outlive an i386
         * latch (Xen keeps it too); it just has no bit any more. */
        CHECK(p < max_ports(d) || c->cb ||
                  (dom_shl(d)->i386 && dom_ops(d)->abi == 2 &&
                   p < EVTCHN_2L_NR_CHANNELS && p <= d->max_port_cfg),
              "bound port %u beyond the ABI limit", p);
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

/*
 * Private structures of the event-channel core, shared by evtchn.c (domains
 * and ports), evtchn_ops.c (the ops and the host side), event_2l.c and
 * event_fifo.c (the two ABIs behind struct port_ops).
 *
 * Locking (order: host->lock, then domain locks by ascending domid, then
 * channel locks by ascending address, then FIFO queue locks by ascending
 * address):
 *  - host->lock (rwlock): the domid -> domain table. Only lookups of *other*
 *    domains take it; the caller's own domain is alive by contract.
 *  - dom->lock (mutex, Xen's event_lock): port allocation, binding, closing,
 *    ABI changes. Never taken on the send path.
 *  - chn->lock (small rwlock): the channel's state and binding. Senders take
 *    it shared; every state change takes it exclusive, for both ends of an
 *    interdomain channel, so a sender that holds its end shared sees a stable
 *    peer.
 *  - fifo queue locks: a queue's private tail and the guest-visible links.
 *  - dom->poll_lock (small rwlock, innermost): the domain's poll-wake
 *    callback; taken shared around each call, from the send path.
 * Guest memory (shared_info, vcpu_info, FIFO pages) is written by the guest
 * at any time: it is only touched with atomic operations and nothing read
 * from it is trusted.
 */
#ifndef XENKVM_EVTCHN_INTERNAL_H
#define XENKVM_EVTCHN_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include <xen/errno.h>
#include <xenkvm/evtchn.h>

/* x86 page size: the granule of guest frames (not a Xen ABI constant). */
#define EVTCHN_PAGE_SIZE 4096u

/* Ports are stored in buckets of this many, allocated on first use. */
#define EVTCHN_BUCKET_PORTS 8u

#define FIFO_WORDS_PER_PAGE (EVTCHN_PAGE_SIZE / sizeof(event_word_t))
#define FIFO_MAX_ARRAY_PAGES (EVTCHN_FIFO_NR_CHANNELS / FIFO_WORDS_PER_PAGE)

/* ---- small locks ---------------------------------------------------------
 * Critical sections are a few dozen instructions: spin briefly, then yield
 * so that a preempted holder on a 2-core host gets to run. */
static inline void evtchn_cpu_relax(unsigned int *spins)
{
    if (++*spins < 64)
        __builtin_ia32_pause();
    else
        sched_yield();
}

typedef struct { atomic_uint v; } evtchn_spinlock_t;

static inline void evtchn_spin_lock(evtchn_spinlock_t *l)
{
    unsigned int spins = 0;
    for (;;) {
        if (!atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
            return;
        while (atomic_load_explicit(&l->v, memory_order_relaxed))
            evtchn_cpu_relax(&spins);
    }
}

static inline void evtchn_spin_unlock(evtchn_spinlock_t *l)
{
    atomic_store_explicit(&l->v, 0, memory_order_release);
}

/* Reader count in the low bits, writer in the top bit. Writers are rare
 * (bind/close) and wait for readers to drain. */
#define EVTCHN_RW_WRITER 0x80000000u
typedef struct { atomic_uint v; } evtchn_rwlock_t;

static inline void evtchn_read_lock(evtchn_rwlock_t *l)
{
    unsigned int spins = 0;
    for (;;) {
        unsigned int v = atomic_load_explicit(&l->v, memory_order_relaxed);
        if (!(v & EVTCHN_RW_WRITER) &&
            atomic_compare_exchange_weak_explicit(&l->v, &v, v + 1,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        evtchn_cpu_relax(&spins);
    }
}

static inline void evtchn_read_unlock(evtchn_rwlock_t *l)
{
    atomic_fetch_sub_explicit(&l->v, 1, memory_order_release);
}

static inline void evtchn_write_lock(evtchn_rwlock_t *l)
{
    unsigned int spins = 0;
    for (;;) {
        unsigned int v = 0;
        if (atomic_compare_exchange_weak_explicit(&l->v, &v, EVTCHN_RW_WRITER,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        evtchn_cpu_relax(&spins);
    }
}

static inline void evtchn_write_unlock(evtchn_rwlock_t *l)
{
    atomic_store_explicit(&l->v, 0, memory_order_release);
}

/* ---- channels, vCPUs, domains ------------------------------------------ */

struct evtchn_dom;

struct evtchn_chn {
    evtchn_rwlock_t lock;
    uint32_t port;
    uint8_t state;          /* enum evtchn_state */
    uint8_t priority;       /* FIFO queue for future events */
    atomic_bool fifo_pending; /* FIFO: raised while its event word was missing */
    uint32_t notify_vcpu;
    /* FIFO: the queue the event was last linked on (vcpu << 8 | priority),
     * read without the queue lock, so one atomic word. */
    atomic_uint fifo_lastq;
    union {
        struct { domid_t remote_dom; } unbound;
        struct { struct evtchn_dom *rd; uint32_t rport; } inter;
        uint32_t virq;
        uint32_t pirq;
    } u;
    /* Host consumer: events go to cb(arg) instead of the guest ABI. */
    evtchn_host_cb cb;
    void *cb_arg;
    atomic_uint cb_busy;    /* callbacks running now (close waits for 0) */
};

struct fifo_queue {
    evtchn_spinlock_t lock;
    uint8_t priority;
    uint32_t tail;                /* private: last port linked (0: none) */
    uint32_t *head;               /* in the guest's control block */
};

struct fifo_vcpu {
    void *cb_page;
    evtchn_fifo_control_block_t *cb;
    struct fifo_queue q[EVTCHN_FIFO_MAX_QUEUES];
};

struct evtchn_vcpu {
    _Atomic(struct vcpu_info *) vi;
    atomic_uint virq_port[NR_VIRQS];
    struct fifo_vcpu *fifo;
};

struct fifo_dom {
    event_word_t *_Atomic array[FIFO_MAX_ARRAY_PAGES];
    atomic_uint num_words;        /* ports that have an event word */
};

struct port_ops;

/* A layout of shared_info and vcpu_info (evtchn_shinfo.c): offsets of what
 * differs between x86_64's and i386's; the rest is the same in both. */
struct evtchn_shl {
    bool i386;
    uint32_t word_bits;           /* xen_ulong_t's: 64 or 32 */
    uint32_t nr_ports;            /* the 2-level ABI's ports: word_bits^2 */
    uint16_t pending, mask;       /* the bitmaps in shared_info */
    uint16_t sel;                 /* evtchn_pending_sel in vcpu_info */
    uint16_t wc_version, wc_sec, wc_nsec, wc_sec_hi;   /* in shared_info */
};

extern const struct evtchn_shl evtchn_shl_native;
extern const struct evtchn_shl evtchn_shl_i386;

struct evtchn_dom {
    struct evtchn_host *h;
    domid_t id;
    bool privileged;
    bool paused;
    bool dying;                   /* under lock: no new bindings */
    atomic_int refs;              /* lookups of other domains in flight */
    uint32_t max_vcpus;
    uint32_t nr_pirqs;
    uint32_t max_port_cfg;        /* highest port the config allows */
    pthread_mutex_t lock;         /* Xen's event_lock */

    /* Port storage: bucket pointers in an array grown by doubling. Readers
     * index it without dom->lock after checking the port against
     * valid_ports, so old arrays are kept (on retired) until destroy. */
    _Atomic(struct evtchn_chn **) buckets;
    uint32_t buckets_cap;
    atomic_uint valid_ports;      /* ports with storage */
    struct retired { struct retired *next; void *p; } *retired;
    uint32_t free_hint;           /* no free port below this (under lock) */
    uint32_t active_ports;        /* not FREE, port 0 excluded */
    uint32_t reset_next;          /* Xen's next_evtchn: reset in progress */

    _Atomic(const struct port_ops *) ops;
    struct fifo_dom *fifo;        /* NULL while 2-level */

    struct shared_info *si;
    bool si_owned;
    /* Its layout (Xen's has_32bit_shinfo): changed under lock, read
     * without it by senders, once per operation. */
    _Atomic(const struct evtchn_shl *) shl;
    struct vcpu_info dummy_vi;    /* vCPUs >= XEN_LEGACY_MAX_VCPUS, unregistered */
    struct evtchn_vcpu *vcpus;

    _Atomic(atomic_uint *) pirq_port; /* nr_pirqs entries, on first bind */
    atomic_int pollers;
    /* SCHEDOP_poll's waker (evtchn_domain_set_poll_wake): wakers hold
     * poll_lock shared while they call it, its setter exclusive, so the
     * owner may free arg once it has unregistered. */
    evtchn_rwlock_t poll_lock;
    evtchn_poll_wake_fn poll_wake;
    void *poll_arg;
};

struct evtchn_host {
    struct evtchn_platform_ops ops;
    void *opaque;
    _Atomic(const struct evtchn_pirq_router *) pirq_router;
    pthread_rwlock_t lock;
    _Atomic(struct evtchn_dom *) doms[DOMID_FIRST_RESERVED];
};

/* The two ABIs behind one table (Xen's evtchn_port_ops). */
struct port_ops {
    int abi;                                          /* 2 or 3 */
    uint32_t max_ports;           /* 2-level: the widest layout's */
    void (*init)(struct evtchn_dom *d, struct evtchn_chn *c);
    void (*set_pending)(struct evtchn_dom *d, uint32_t vcpu, struct evtchn_chn *c);
    void (*clear_pending)(struct evtchn_dom *d, struct evtchn_chn *c);
    void (*unmask)(struct evtchn_dom *d, struct evtchn_chn *c);
    void (*mask_clear)(struct evtchn_dom *d, struct evtchn_chn *c); /* no re-raise */
    bool (*is_pending)(struct evtchn_dom *d, uint32_t port);
    bool (*is_masked)(struct evtchn_dom *d, uint32_t port);
    bool (*is_busy)(struct evtchn_dom *d, uint32_t port);   /* may be NULL */
    int (*set_priority)(struct evtchn_dom *d, struct evtchn_chn *c,
                        unsigned int prio);                  /* may be NULL */
};

extern const struct port_ops evtchn_2l_ops;
extern const struct port_ops evtchn_fifo_ops;

/* ---- shared helpers (evtchn.c) ------------------------------------------ */

/* Another domain, held by a reference until dom_put (Xen's
 * rcu_lock_domain_by_id); NULL if there is none. */
struct evtchn_dom *evtchn_dom_get(struct evtchn_host *h, domid_t id);
/* Lowest free port that is not still linked in a guest FIFO queue (Xen's
 * get_free_port), with storage; or -ENOSPC/-ENOMEM. d->lock held. */
int evtchn_get_free_port(struct evtchn_dom *d);
/* Claim d's lowest free port for a binding of state to vcpu (Xen's
 * get_free_port, then evtchn_port_init): the port, with its channel in *cp
 * bound and write-locked for the caller to fill in its side of the binding
 * and unlock; or -ENOSPC/-ENOMEM. d->lock held. */
int evtchn_bind_free_port(struct evtchn_dom *d, uint8_t state, uint32_t vcpu,
                          struct evtchn_chn **cp);
/* A free port becomes bound: state and per-ABI initialisation. Called
 * with d->lock and the channel's write lock held. */
void evtchn_port_bind(struct evtchn_dom *d, struct evtchn_chn *c, uint8_t state,
                      uint32_t vcpu);
/* A bound port becomes free. Same locks. */
void evtchn_port_free(struct evtchn_dom *d, struct evtchn_chn *c);
/* Close port1 of d1 (Xen's evtchn_close; evtchn_ops.c). guest: refuse
 * host-consumer ports, as a guest may not close a Xen-attached channel. */
int evtchn_close_port(struct evtchn_dom *d1, uint32_t port1, bool guest);

static inline const struct evtchn_pirq_router *pirq_router(struct evtchn_host *h)
{
    return atomic_load_explicit(&h->pirq_router, memory_order_acquire);
}

static inline void dom_put(struct evtchn_dom *d)
{
    atomic_fetch_sub(&d->refs, 1);
}

/* DOMID_SELF or an id (Xen's rcu_lock_domain_by_any_id). */
static inline struct evtchn_dom *dom_get_any(struct evtchn_dom *self, domid_t id)
{
    if (id == DOMID_SELF || id == self->id) {
        atomic_fetch_add(&self->refs, 1);
        return self;
    }
    return evtchn_dom_get(self->h, id);
}

/* The calling domain: alive while one of its vCPUs is in a hypercall, by
 * the contract of evtchn_domain_destroy, so no reference is taken. */
static inline struct evtchn_dom *dom_self(struct evtchn_host *h, domid_t id)
{
    return id < DOMID_FIRST_RESERVED ? atomic_load_explicit(&h->doms[id],
                                                            memory_order_acquire)
                                     : NULL;
}

static inline void lock_pair(struct evtchn_dom *a, struct evtchn_dom *b)
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

static inline void unlock_pair(struct evtchn_dom *a, struct evtchn_dom *b)
{
    if (a != b)
        pthread_mutex_unlock(&b->lock);
    pthread_mutex_unlock(&a->lock);
}

/* Both ends of an interdomain channel, lower address first. */
static inline void chn_write_lock_pair(struct evtchn_chn *a, struct evtchn_chn *b)
{
    if (a < b) {
        evtchn_write_lock(&a->lock);
        evtchn_write_lock(&b->lock);
    } else {
        evtchn_write_lock(&b->lock);
        evtchn_write_lock(&a->lock);
    }
}

static inline void chn_write_unlock_pair(struct evtchn_chn *a, struct evtchn_chn *b)
{
    evtchn_write_unlock(&a->lock);
    evtchn_write_unlock(&b->lock);
}

static inline int policy(struct evtchn_dom *src, struct evtchn_dom *dst,
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

static inline const struct port_ops *dom_ops(struct evtchn_dom *d)
{
    return atomic_load_explicit(&d->ops, memory_order_acquire);
}

static inline void deliver(struct evtchn_dom *d, uint32_t vcpu, struct evtchn_chn *c)
{
    dom_ops(d)->set_pending(d, vcpu, c);
}

static inline const struct evtchn_shl *dom_shl(struct evtchn_dom *d)
{
    return atomic_load_explicit(&d->shl, memory_order_acquire);
}

/* The ports the domain's ABI has: FIFO's, or 2-level's in its layout. */
static inline uint32_t abi_max_ports(struct evtchn_dom *d)
{
    const struct port_ops *ops = dom_ops(d);
    return ops->abi == 2 ? dom_shl(d)->nr_ports : ops->max_ports;
}

static inline uint32_t max_ports(struct evtchn_dom *d)
{
    uint32_t abi = abi_max_ports(d);
    return d->max_port_cfg < abi - 1 ? d->max_port_cfg + 1 : abi;
}

/* A port with storage (Xen's port_is_valid): what the host and the remote
 * end of a binding check. A host-consumer port may lie beyond the ABI's
 * limit: it survives EVTCHNOP_reset taking a FIFO domain back to 2-level. */
static inline bool port_has_storage(struct evtchn_dom *d, uint32_t port)
{
    return port < atomic_load_explicit(&d->valid_ports, memory_order_acquire);
}

/* A port number the domain's ABI and config allow, with storage. */
static inline bool port_is_valid(struct evtchn_dom *d, uint32_t port)
{
    return port < max_ports(d) && port_has_storage(d, port);
}

static inline bool virq_is_global(uint32_t virq)
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

static inline atomic_uint *pirq_table(struct evtchn_dom *d)
{
    return atomic_load_explicit(&d->pirq_port, memory_order_acquire);
}


/* The channel of a port known to be below valid_ports. */
static inline struct evtchn_chn *evtchn_chn_of(struct evtchn_dom *d, uint32_t port)
{
    struct evtchn_chn **b = atomic_load_explicit(&d->buckets, memory_order_acquire);
    return &b[port / EVTCHN_BUCKET_PORTS][port % EVTCHN_BUCKET_PORTS];
}

/* vCPU v's vcpu_info as the guest sees it now: in the domain's layout
 * (dom_shl), of which only evtchn_upcall_pending, evtchn_upcall_mask and
 * time may be reached through the struct's own fields. */
static inline struct vcpu_info *evtchn_vi(struct evtchn_dom *d, uint32_t v)
{
    return atomic_load_explicit(&d->vcpus[v].vi, memory_order_acquire);
}

/* Set evtchn_upcall_pending and raise the upcall if it was clear
 * (Xen's vcpu_mark_events_pending). */
void evtchn_mark_events_pending(struct evtchn_dom *d, uint32_t vcpu);
/* A port has just become pending: wake SCHEDOP_poll waiters if any. */
void evtchn_check_pollers(struct evtchn_dom *d, uint32_t port);
/* Map one guest frame through the platform; NULL if not guest RAM. */
void *evtchn_map_gfn(struct evtchn_dom *d, uint64_t gfn);

/* FIFO entry points used by the generic ops (event_fifo.c). */
int evtchn_fifo_init_control(struct evtchn_dom *d, struct evtchn_init_control *a);
int evtchn_fifo_expand_array(struct evtchn_dom *d, const struct evtchn_expand_array *a);
void evtchn_fifo_destroy(struct evtchn_dom *d);

#endif

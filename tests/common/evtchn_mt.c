/* See evtchn_mt.h. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evtchn_harness.h"
#include "evtchn_mt.h"

#define PAGE 4096u
#define LOW_PORTS 48u             /* where most random ports land */

/* Bulk allocation goes this far: past the 2-level limit, where a 2-level op
 * changes the pattern after the bitmaps (hx_si_tail_intact). */
#define BULK_TOP (EVTCHN_2L_NR_CHANNELS + 256u)
#define PORT_SPAN (BULK_TOP + 256u)

struct mt {
    struct hx *x;
    const struct hxmt_config *cfg;
    pthread_rwlock_t dom_lock[HX_MAX_DOMS]; /* write: destroy/recreate */
    pthread_barrier_t end_round, next_round;
    atomic_bool stop;
    atomic_bool has_high[HX_MAX_DOMS];      /* storage past BULK_TOP already */
    /* Set by the main thread between rounds: in a churn round every thread
     * works on one domain, switching its ABI back and forth while unmasking
     * and sending on ports only the FIFO ABI allows (issue 14, defect 1). */
    bool churn;
    domid_t focus;
    unsigned int switcher;      /* churn: the worker that switches the ABI */
    atomic_bool switcher_done;  /* churn: the others stop when it is done */
    atomic_ullong ops, recreated, fifo_resets, high_unmasks, bulk_allocs;
};

struct worker {
    struct mt *m;
    uint64_t rng;
    unsigned int index;
    pthread_t tid;
};

static uint64_t rnd(struct worker *w)
{
    /* xorshift64*: fast, and reproducible from the seed. */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 2685821657736338717ull;
}

static uint32_t rnd_below(struct worker *w, uint32_t n)
{
    return (uint32_t)(rnd(w) % n);
}

static uint32_t rnd_port(struct worker *w)
{
    return rnd_below(w, 10) < 7 ? rnd_below(w, LOW_PORTS) : rnd_below(w, PORT_SPAN);
}

static domid_t rnd_dom(struct worker *w)
{
    return (domid_t)rnd_below(w, w->m->cfg->doms);
}

static int dom_add(struct mt *m, domid_t id)
{
    return hx_dom_add(m->x, id, id == 0, HX_MAX_VCPUS, 0);
}

/* Allocate ports until one lies past the guard port (FIFO only: 2-level
 * stops at ENOSPC), then close them again: the domain keeps the storage,
 * so later ops can name ports that are valid for FIFO but not 2-level. */
static void bulk(struct worker *w, domid_t d)
{
    struct hx *x = w->m->x;
    uint32_t *got;
    uint32_t n = 0;
    /* Storage stays until the domain dies: once per domain is enough. */
    if (atomic_load(&w->m->has_high[d]) || evtchn_domain_abi(x->h, d) != 3 ||
        !(got = malloc(BULK_TOP * sizeof(*got))))
        return;
    while (n < BULK_TOP) {
        int p = hx_alloc_unbound(x, d, DOMID_SELF, 0);
        if (p <= 0)
            break;
        got[n++] = (uint32_t)p;
        if ((uint32_t)p >= BULK_TOP) {
            atomic_store(&w->m->has_high[d], true);
            break;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        hx_close(x, d, got[i]);
    atomic_fetch_add(&w->m->bulk_allocs, n);
    free(got);
}

/* What a hostile guest does to its own shared memory: flip bits in the
 * 2-level bitmaps, the FIFO control blocks and the event-array pages. */
static void guest_scribble(struct worker *w, domid_t d)
{
    struct hx_dom *hd = &w->m->x->d[d];
    uint32_t r = rnd_below(w, 4);
    if (r == 0) {
        xen_ulong_t *words = rnd_below(w, 2) ? hd->si->evtchn_pending : hd->si->evtchn_mask;
        __atomic_fetch_xor(&words[rnd_below(w, sizeof(hd->si->evtchn_mask) /
                                                   sizeof(xen_ulong_t))],
                           (xen_ulong_t)1 << rnd_below(w, 64), __ATOMIC_SEQ_CST);
    } else if (r == 1) {
        struct vcpu_info *vi = &hd->si->vcpu_info[rnd_below(w, HX_MAX_VCPUS)];
        __atomic_store_n(&vi->evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
        __atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
    } else {
        /* A random word of the pages a guest may hand over (control blocks
         * at 1.., event arrays at 16..): random bits, or a random LINK. */
        uint32_t *word = (uint32_t *)(hd->mem + (1 + rnd_below(w, HX_PAGES - 1)) * PAGE) +
                         rnd_below(w, PAGE / 4);
        if (r == 2)
            __atomic_fetch_xor(word, 1u << rnd_below(w, 32), __ATOMIC_SEQ_CST);
        else
            __atomic_store_n(word, (uint32_t)rnd(w), __ATOMIC_SEQ_CST);
    }
}

static void host_op(struct worker *w, domid_t d)
{
    struct hx *x = w->m->x;
    evtchn_port_t p;
    switch (rnd_below(w, 6)) {
    case 0:
        evtchn_host_alloc_unbound(x->h, d, rnd_dom(w), hx_host_cb, x, &p);
        break;
    case 1:
        evtchn_host_bind_interdomain(x->h, d, rnd_dom(w), rnd_port(w), hx_host_cb, x, &p);
        break;
    case 2:
        evtchn_host_close(x->h, d, rnd_port(w));
        break;
    case 3:
        evtchn_host_send(x->h, d, rnd_port(w));
        break;
    case 4:
        evtchn_send_virq(x->h, d, rnd_below(w, HX_MAX_VCPUS), rnd_below(w, NR_VIRQS));
        break;
    default:
        evtchn_send_pirq(x->h, d, rnd_below(w, 8));
        break;
    }
}

/* One random op issued by domain d's vCPU v; the caller holds d's read lock. */
static void guest_op(struct worker *w, domid_t d, uint32_t v)
{
    struct mt *m = w->m;
    struct hx *x = m->x;
    uint32_t r = rnd_below(w, 1000);

#define OP(cmd, ...)                                                         \
    do {                                                                     \
        __typeof__(__VA_ARGS__) a_ = __VA_ARGS__;                            \
        evtchn_do_op(x->h, d, v, cmd, &a_);                                  \
    } while (0)

    if (r < 5) {                                /* a latch of the layout */
        evtchn_domain_latch_shinfo(x->h, d, rnd_below(w, 2));
    } else if (r < 200) {                       /* unmask: often high */
        uint32_t port = rnd_below(w, 2) ? EVTCHN_2L_NR_CHANNELS + rnd_below(w, 256)
                                        : rnd_port(w);
        if (port >= EVTCHN_2L_NR_CHANNELS)
            atomic_fetch_add(&m->high_unmasks, 1);
        OP(EVTCHNOP_unmask, (struct evtchn_unmask){ .port = port });
    } else if (r < 260) {                       /* reset self (or, dom 0: another) */
        domid_t t = d == 0 ? rnd_dom(w) : DOMID_SELF;
        if (d == 0 && t != 0)
            evtchn_domain_set_paused(x->h, t, rnd_below(w, 2));
        bool fifo = evtchn_domain_abi(x->h, t == DOMID_SELF ? d : t) == 3;
        struct evtchn_reset a = { .dom = t };
        if (!evtchn_do_op(x->h, d, v, EVTCHNOP_reset, &a) && fifo)
            atomic_fetch_add(&m->fifo_resets, 1);
    } else if (r < 330) {
        uint32_t cv = rnd_below(w, HX_MAX_VCPUS + 1);   /* one past: ENOENT */
        OP(EVTCHNOP_init_control, (struct evtchn_init_control){
                                      .control_gfn = 1 + cv % HX_MAX_VCPUS,
                                      .offset = rnd_below(w, 8) ? 0 : rnd_below(w, PAGE),
                                      .vcpu = cv });
    } else if (r < 410) {
        OP(EVTCHNOP_expand_array,
           (struct evtchn_expand_array){ .array_gfn = rnd_below(w, 20) ? 16 + rnd_below(w, 16)
                                                                       : rnd_below(w, 2 * HX_PAGES) });
    } else if (r < 480) {
        OP(EVTCHNOP_close, (struct evtchn_close){ .port = rnd_port(w) });
    } else if (r < 580) {
        OP(EVTCHNOP_send, (struct evtchn_send){ .port = rnd_port(w) });
    } else if (r < 620) {
        OP(EVTCHNOP_bind_vcpu, (struct evtchn_bind_vcpu){ .port = rnd_port(w),
                                                          .vcpu = rnd_below(w, HX_MAX_VCPUS) });
    } else if (r < 700) {
        OP(EVTCHNOP_alloc_unbound, (struct evtchn_alloc_unbound){
                                       .dom = rnd_below(w, 4) ? DOMID_SELF : rnd_dom(w),
                                       .remote_dom = rnd_dom(w) });
    } else if (r < 780) {
        OP(EVTCHNOP_bind_interdomain, (struct evtchn_bind_interdomain){
                                          .remote_dom = rnd_dom(w),
                                          .remote_port = rnd_below(w, LOW_PORTS) });
    } else if (r < 800) {
        OP(EVTCHNOP_bind_virq, (struct evtchn_bind_virq){ .virq = rnd_below(w, NR_VIRQS),
                                                          .vcpu = rnd_below(w, 2) });
    } else if (r < 820) {
        OP(EVTCHNOP_bind_ipi, (struct evtchn_bind_ipi){ .vcpu = rnd_below(w, HX_MAX_VCPUS) });
    } else if (r < 835) {
        OP(EVTCHNOP_bind_pirq, (struct evtchn_bind_pirq){ .pirq = rnd_below(w, 8),
                                                          .flags = BIND_PIRQ__WILL_SHARE });
    } else if (r < 855) {
        OP(EVTCHNOP_status, (struct evtchn_status){ .dom = rnd_below(w, 2) ? DOMID_SELF
                                                                         : rnd_dom(w),
                                                    .port = rnd_port(w) });
    } else if (r < 875) {
        OP(EVTCHNOP_set_priority, (struct evtchn_set_priority){
                                      .port = rnd_port(w), .priority = rnd_below(w, 20) });
    } else if (r < 945) {
        guest_scribble(w, d);
    } else if (r < 995) {
        host_op(w, d);
    } else if (r < 998) {
        evtchn_domain_pollers(x->h, d, 1);
        evtchn_send_virq(x->h, d, v, VIRQ_TIMER);
        evtchn_domain_pollers(x->h, d, -1);
    } else {
        bulk(w, d);
    }
#undef OP
}

/* A churn-round op on domain d (read lock held). One worker (the switcher)
 * cycles the ABI as fast as it can: init_control, expand_array, reset (and
 * a bulk allocation when the domain has no storage past the 2-level limit
 * yet); the others unmask, send and set priorities on ports only the FIFO
 * ABI allows: issue 14's defect 1 (reset racing unmask). */
static void churn_op(struct worker *w, domid_t d, uint32_t v)
{
    struct hx *x = w->m->x;
    if (w->index == w->m->switcher) {
        struct evtchn_init_control ic = { .control_gfn = 1, .vcpu = 0 };
        struct evtchn_expand_array ea = { .array_gfn = 16 + rnd_below(w, 16) };
        struct evtchn_reset rs = { .dom = DOMID_SELF };
        evtchn_do_op(x->h, d, v, EVTCHNOP_init_control, &ic);
        evtchn_do_op(x->h, d, v, EVTCHNOP_expand_array, &ea);
        bulk(w, d);
        if (!evtchn_do_op(x->h, d, v, EVTCHNOP_reset, &rs))
            atomic_fetch_add(&w->m->fifo_resets, 1);
        return;
    }
    uint32_t port = EVTCHN_2L_NR_CHANNELS + rnd_below(w, 256), r = rnd_below(w, 8);
    atomic_fetch_add(&w->m->high_unmasks, 1);
    if (r < 6) {
        struct evtchn_unmask a = { .port = port };
        evtchn_do_op(x->h, d, v, EVTCHNOP_unmask, &a);
    } else if (r == 6) {
        struct evtchn_set_priority a = { .port = port, .priority = rnd_below(w, 16) };
        evtchn_do_op(x->h, d, v, EVTCHNOP_set_priority, &a);
    } else {
        struct evtchn_send a = { .port = port };
        evtchn_do_op(x->h, d, v, EVTCHNOP_send, &a);
    }
}

static void one_op(struct worker *w)
{
    struct mt *m = w->m;
    domid_t d = rnd_dom(w);
    if (m->churn) {
        pthread_rwlock_rdlock(&m->dom_lock[m->focus]);
        churn_op(w, m->focus, rnd_below(w, HX_MAX_VCPUS));
        pthread_rwlock_unlock(&m->dom_lock[m->focus]);
        return;
    }
    if (rnd_below(w, 5000) == 0) {
        /* Destroy and recreate d while the other domains keep going (its
         * own vCPUs are stopped first, as the VMM does). */
        pthread_rwlock_wrlock(&m->dom_lock[d]);
        hx_dom_del(m->x, d);
        atomic_store(&m->has_high[d], false);
        if (dom_add(m, d) != 0) {
            fprintf(stderr, "evtchn_mt: cannot recreate domain %u\n", d);
            abort();
        }
        pthread_rwlock_unlock(&m->dom_lock[d]);
        atomic_fetch_add(&m->recreated, 1);
        return;
    }
    pthread_rwlock_rdlock(&m->dom_lock[d]);
    guest_op(w, d, rnd_below(w, HX_MAX_VCPUS));
    pthread_rwlock_unlock(&m->dom_lock[d]);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct mt *m = w->m;
    for (;;) {
        pthread_barrier_wait(&m->next_round);
        if (atomic_load(&m->stop))
            return NULL;
        uint64_t n = 0;
        if (!m->churn) {
            for (; n < m->cfg->ops_per_round; n++)
                one_op(w);
        } else if (w->index == m->switcher) {
            /* A switch cycle is a few hundred ops' worth of work. */
            for (; n < m->cfg->ops_per_round / 50 + 1; n++)
                one_op(w);
            atomic_store(&m->switcher_done, true);
        } else {
            while (!atomic_load(&m->switcher_done)) {
                one_op(w);
                n++;
            }
        }
        atomic_fetch_add(&m->ops, n);
        pthread_barrier_wait(&m->end_round);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int hxmt_run(const struct hxmt_config *cfg_in, struct hxmt_stats *st)
{
    struct hxmt_config cfg = *cfg_in;
    struct mt m;
    struct worker *ws;
    int rc = 0;

    if (!cfg.threads)
        cfg.threads = 4;
    if (!cfg.doms || cfg.doms > HX_MAX_DOMS)
        cfg.doms = 3;
    if (!cfg.churn_every)
        cfg.churn_every = 3;
    if (!cfg.ops_per_round)
        cfg.ops_per_round = 2000;
    if (!cfg.rounds && cfg.seconds <= 0)
        cfg.rounds = 1;
    memset(&m, 0, sizeof(m));
    m.cfg = &cfg;
    m.x = hx_create_with_pirq();
    ws = calloc(cfg.threads, sizeof(*ws));
    if (!m.x || !ws)
        abort();
    m.x->guard_si = true;
    for (domid_t d = 0; d < cfg.doms; d++) {
        pthread_rwlockattr_t a;
        pthread_rwlockattr_init(&a);
        /* Writers (destroy) must not starve behind a stream of readers. */
        pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&m.dom_lock[d], &a);
        pthread_rwlockattr_destroy(&a);
        if (dom_add(&m, d) != 0)
            abort();
    }
    pthread_barrier_init(&m.end_round, NULL, cfg.threads + 1);
    pthread_barrier_init(&m.next_round, NULL, cfg.threads + 1);
    for (unsigned int i = 0; i < cfg.threads; i++) {
        ws[i].m = &m;
        ws[i].index = i;
        ws[i].rng = (cfg.seed + 1) * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull;
        if (!ws[i].rng)
            ws[i].rng = 1;
        if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]))
            abort();
    }

    double t0 = now_s();
    uint64_t round = 0;
    for (;;) {
        pthread_barrier_wait(&m.next_round);
        pthread_barrier_wait(&m.end_round);
        round++;
        /* Quiescent: every domain's invariants must hold. */
        for (domid_t d = 0; d < cfg.doms; d++) {
            if (!hx_si_tail_intact(m.x, d)) {
                fprintf(stderr, "evtchn_mt: dom %u: shared_info changed past the 2-level "
                        "bitmaps (a 2-level op on a port beyond 4095)\n", d);
                rc = -1;
            }
            if (evtchn_debug_check(m.x->h, d) != 0) {
                fprintf(stderr, "evtchn_mt: invariant broken after round %llu (seed %llu)\n",
                        (unsigned long long)round, (unsigned long long)cfg.seed);
                rc = -1;
            }
        }
        if (cfg.verbose && round % 1000 == 0)
            fprintf(stderr, "evtchn_mt: %llu rounds, %.0f s\n", (unsigned long long)round,
                    now_s() - t0);
        if (rc || (cfg.rounds && round >= cfg.rounds) ||
            (cfg.seconds > 0 && now_s() - t0 >= cfg.seconds))
            break;
        /* Workers are parked at next_round: safe to change the mode. */
        m.churn = round % cfg.churn_every == cfg.churn_every - 1;
        m.focus = (domid_t)(round / cfg.churn_every % cfg.doms);
        m.switcher = (unsigned int)(round % cfg.threads);
        atomic_store(&m.switcher_done, false);
    }
    atomic_store(&m.stop, true);
    pthread_barrier_wait(&m.next_round);
    for (unsigned int i = 0; i < cfg.threads; i++)
        pthread_join(ws[i].tid, NULL);

    if (st) {
        st->rounds = round;
        st->ops = atomic_load(&m.ops);
        st->recreated = atomic_load(&m.recreated);
        st->fifo_resets = atomic_load(&m.fifo_resets);
        st->high_unmasks = atomic_load(&m.high_unmasks);
        st->bulk_allocs = atomic_load(&m.bulk_allocs);
    }
    hx_destroy(m.x);
    for (domid_t d = 0; d < cfg.doms; d++)
        pthread_rwlock_destroy(&m.dom_lock[d]);
    pthread_barrier_destroy(&m.end_round);
    pthread_barrier_destroy(&m.next_round);
    free(ws);
    return rc;
}

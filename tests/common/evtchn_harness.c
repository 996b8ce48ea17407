/* See evtchn_harness.h. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "evtchn_harness.h"

#define PAGE 4096u
#define BITS (sizeof(xen_ulong_t) * 8)

static void *hx_map_gfn(void *opaque, domid_t dom, uint64_t gfn)
{
    struct hx *x = opaque;
    if (dom >= HX_MAX_DOMS || !x->d[dom].exists || gfn >= HX_PAGES || gfn == 0)
        return NULL;     /* gfn 0 stands for an unmapped frame */
    return x->d[dom].mem + gfn * PAGE;
}

static void hx_kick(void *opaque, domid_t dom, uint32_t vcpu)
{
    struct hx *x = opaque;
    if (dom < HX_MAX_DOMS && vcpu < HX_MAX_VCPUS)
        atomic_fetch_add(&x->d[dom].kicks[vcpu], 1);
    if (x->kick_hook)
        x->kick_hook(x->kick_hook_arg, dom, vcpu);
}

/* The domain's poll-wake callback (arg: its struct hx_dom). */
static void hx_poll_wake(void *arg, evtchn_port_t port)
{
    struct hx_dom *d = arg;
    (void)port;
    atomic_fetch_add(&d->poll_wakes, 1);
}

void hx_host_cb(void *arg, domid_t dom, evtchn_port_t port)
{
    struct hx *x = arg;
    (void)dom;
    atomic_fetch_add(&x->host_cb_calls, 1);
    atomic_store(&x->last_cb_port, port);
}

static int hx_pirq_bind(void *opaque, domid_t dom, uint32_t pirq, bool share)
{
    struct hx *x = opaque;
    (void)dom; (void)pirq; (void)share;
    if (!x->pirq_answer)
        atomic_fetch_add(&x->pirq_binds, 1);
    return x->pirq_answer;
}

static void hx_pirq_unbind(void *opaque, domid_t dom, uint32_t pirq)
{
    struct hx *x = opaque;
    (void)dom; (void)pirq;
    atomic_fetch_add(&x->pirq_unbinds, 1);
}

static void hx_pirq_unmasked(void *opaque, domid_t dom, uint32_t pirq)
{
    (void)opaque; (void)dom; (void)pirq;
}

static struct hx *create(bool pirq)
{
    struct hx *x = calloc(1, sizeof(*x));
    struct evtchn_platform_ops ops = {
        .map_gfn = hx_map_gfn,
        .kick_vcpu = hx_kick,
    };
    if (!x)
        return NULL;
    x->h = evtchn_host_create(&ops, x);
    if (!x->h) {
        free(x);
        return NULL;
    }
    if (pirq) {
        x->pirq_router = (struct evtchn_pirq_router){
            .bind = hx_pirq_bind, .unbind = hx_pirq_unbind,
            .unmasked = hx_pirq_unmasked, .ctx = x };
        evtchn_host_attach_pirq_router(x->h, &x->pirq_router);
    }
    return x;
}

struct hx *hx_create(void)
{
    return create(false);
}

struct hx *hx_create_with_pirq(void)
{
    return create(true);
}

void hx_destroy(struct hx *x)
{
    for (domid_t i = 0; i < HX_MAX_DOMS; i++)
        if (x->d[i].exists)
            hx_dom_del(x, i);
    evtchn_host_destroy(x->h);
    free(x);
}

int hx_dom_add(struct hx *x, domid_t id, bool privileged, uint32_t vcpus,
               uint32_t max_port)
{
    struct hx_dom *d = &x->d[id];
    memset(d, 0, sizeof(*d));
    d->mem = aligned_alloc(PAGE, (size_t)HX_PAGES * PAGE);
    if (!d->mem)
        return -XEN_ENOMEM;
    memset(d->mem, 0, (size_t)HX_PAGES * PAGE);
    d->exists = true;
    struct evtchn_domain_config cfg = {
        .domid = id, .privileged = privileged, .max_vcpus = vcpus,
        .max_evtchn_port = max_port,
    };
    if (x->guard_si) {
        void *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || mprotect((char *)m + PAGE, PAGE, PROT_NONE)) {
            free(d->mem);
            d->exists = false;
            return -XEN_ENOMEM;
        }
        d->si_map = m;
        cfg.shared_info = m;
        /* The core never writes past the 2-level bitmaps: a pattern there
         * shows a 2-level op on a port beyond the ABI's limit. */
        memset((char *)m + HX_SI_TAIL, 0xa5, PAGE - HX_SI_TAIL);
    }
    int rc = evtchn_domain_create(x->h, &cfg);
    if (rc) {
        free(d->mem);
        if (d->si_map)
            munmap(d->si_map, 2 * PAGE);
        d->si_map = NULL;
        d->exists = false;
        return rc;
    }
    d->si = evtchn_domain_shared_info(x->h, id);
    return evtchn_domain_set_poll_wake(x->h, id, hx_poll_wake, d);
}

bool hx_si_tail_intact(struct hx *x, domid_t id)
{
    const unsigned char *p = x->d[id].si_map;
    for (unsigned int i = HX_SI_TAIL; p && i < PAGE; i++)
        if (p[i] != 0xa5)
            return false;
    return true;
}

int hx_dom_del(struct hx *x, domid_t id)
{
    int rc = evtchn_domain_destroy(x->h, id);
    free(x->d[id].mem);
    x->d[id].mem = NULL;
    if (x->d[id].si_map)
        munmap(x->d[id].si_map, 2 * PAGE);
    x->d[id].si_map = NULL;
    x->d[id].exists = false;
    return rc;
}

int hx_op(struct hx *x, domid_t dom, unsigned int cmd, void *arg)
{
    return evtchn_do_op(x->h, dom, 0, cmd, arg);
}

int hx_alloc_unbound(struct hx *x, domid_t dom, domid_t for_dom, domid_t remote)
{
    struct evtchn_alloc_unbound a = { .dom = for_dom, .remote_dom = remote };
    int rc = hx_op(x, dom, EVTCHNOP_alloc_unbound, &a);
    return rc ? rc : (int)a.port;
}

int hx_bind_interdomain(struct hx *x, domid_t dom, domid_t rdom, uint32_t rport)
{
    struct evtchn_bind_interdomain b = { .remote_dom = rdom, .remote_port = rport };
    int rc = hx_op(x, dom, EVTCHNOP_bind_interdomain, &b);
    return rc ? rc : (int)b.local_port;
}

int hx_bind_virq(struct hx *x, domid_t dom, uint32_t virq, uint32_t vcpu)
{
    struct evtchn_bind_virq b = { .virq = virq, .vcpu = vcpu };
    int rc = hx_op(x, dom, EVTCHNOP_bind_virq, &b);
    return rc ? rc : (int)b.port;
}

int hx_bind_ipi(struct hx *x, domid_t dom, uint32_t vcpu)
{
    struct evtchn_bind_ipi b = { .vcpu = vcpu };
    int rc = hx_op(x, dom, EVTCHNOP_bind_ipi, &b);
    return rc ? rc : (int)b.port;
}

int hx_send(struct hx *x, domid_t dom, uint32_t port)
{
    struct evtchn_send s = { .port = port };
    return hx_op(x, dom, EVTCHNOP_send, &s);
}

int hx_close(struct hx *x, domid_t dom, uint32_t port)
{
    struct evtchn_close c = { .port = port };
    return hx_op(x, dom, EVTCHNOP_close, &c);
}

int hx_unmask(struct hx *x, domid_t dom, uint32_t port)
{
    struct evtchn_unmask u = { .port = port };
    return hx_op(x, dom, EVTCHNOP_unmask, &u);
}

int hx_bind_vcpu(struct hx *x, domid_t dom, uint32_t port, uint32_t vcpu)
{
    struct evtchn_bind_vcpu b = { .port = port, .vcpu = vcpu };
    return hx_op(x, dom, EVTCHNOP_bind_vcpu, &b);
}

/* ---- 2-level guest side -------------------------------------------------- */

void hx_2l_mask(struct hx *x, domid_t dom, uint32_t port, bool masked)
{
    xen_ulong_t *w = &x->d[dom].si->evtchn_mask[port / BITS];
    xen_ulong_t m = (xen_ulong_t)1 << (port % BITS);
    if (masked)
        __atomic_fetch_or(w, m, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_and(w, ~m, __ATOMIC_SEQ_CST);
}

bool hx_2l_pending(struct hx *x, domid_t dom, uint32_t port)
{
    return __atomic_load_n(&x->d[dom].si->evtchn_pending[port / BITS], __ATOMIC_SEQ_CST) &
           ((xen_ulong_t)1 << (port % BITS));
}

int hx_2l_consume(struct hx *x, domid_t dom, uint32_t v, uint32_t *out, int max)
{
    struct shared_info *si = x->d[dom].si;
    struct vcpu_info *vi = &si->vcpu_info[v];
    int n = 0;

    __atomic_store_n(&vi->evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
    xen_ulong_t sel = __atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
    while (sel) {
        unsigned int wi = (unsigned int)__builtin_ctzl(sel);
        sel &= sel - 1;
        xen_ulong_t bits = __atomic_load_n(&si->evtchn_pending[wi], __ATOMIC_SEQ_CST) &
                           ~__atomic_load_n(&si->evtchn_mask[wi], __ATOMIC_SEQ_CST);
        while (bits) {
            unsigned int b = (unsigned int)__builtin_ctzl(bits);
            bits &= bits - 1;
            __atomic_fetch_and(&si->evtchn_pending[wi], ~((xen_ulong_t)1 << b),
                               __ATOMIC_SEQ_CST);
            if (n < max)
                out[n] = wi * (uint32_t)BITS + b;
            n++;
        }
    }
    return n;
}

/* ---- FIFO guest side ----------------------------------------------------- */

int hx_fifo_init(struct hx *x, domid_t dom, uint32_t v)
{
    struct evtchn_init_control ic = { .control_gfn = 1 + v, .offset = 0, .vcpu = v };
    int rc = hx_op(x, dom, EVTCHNOP_init_control, &ic);
    if (!rc) {
        x->d[dom].v[v].cb = (evtchn_fifo_control_block_t *)(x->d[dom].mem + (1 + v) * PAGE);
        memset(x->d[dom].v[v].fifo_head, 0, sizeof(x->d[dom].v[v].fifo_head));
    }
    return rc;
}

int hx_fifo_expand(struct hx *x, domid_t dom)
{
    struct hx_dom *d = &x->d[dom];
    uint64_t gfn = 16 + d->array_pages;
    struct evtchn_expand_array ea = { .array_gfn = gfn };
    if (gfn < HX_PAGES) {
        /* The guest hands over zeroed pages with every event masked, as
         * Linux does (it masks ports before binding them). */
        event_word_t *page = (event_word_t *)(d->mem + gfn * PAGE);
        for (unsigned i = 0; i < PAGE / sizeof(event_word_t); i++)
            page[i] = (event_word_t)1 << EVTCHN_FIFO_MASKED;
    }
    int rc = hx_op(x, dom, EVTCHNOP_expand_array, &ea);
    if (!rc)
        d->array[d->array_pages++] = (event_word_t *)(d->mem + gfn * PAGE);
    return rc;
}

event_word_t *hx_fifo_word(struct hx *x, domid_t dom, uint32_t port)
{
    struct hx_dom *d = &x->d[dom];
    if (port / 1024 >= d->array_pages)
        return NULL;
    return &d->array[port / 1024][port % 1024];
}

void hx_fifo_mask(struct hx *x, domid_t dom, uint32_t port, bool masked)
{
    event_word_t *w = hx_fifo_word(x, dom, port);
    event_word_t m = (event_word_t)1 << EVTCHN_FIFO_MASKED;
    if (!w)
        return;
    if (masked) {
        __atomic_fetch_or(w, m, __ATOMIC_SEQ_CST);
        return;
    }
    /* Linux's clear_masked: never while the hypervisor holds BUSY. */
    event_word_t old = __atomic_load_n(w, __ATOMIC_SEQ_CST), exp;
    do {
        exp = old & ~((event_word_t)1 << EVTCHN_FIFO_BUSY);
        old = exp;
    } while (!__atomic_compare_exchange_n(w, &old, exp & ~m, false, __ATOMIC_SEQ_CST,
                                          __ATOMIC_SEQ_CST));
}

static uint32_t clear_linked(event_word_t *w)
{
    event_word_t old = __atomic_load_n(w, __ATOMIC_SEQ_CST), new;
    do {
        new = old & ~(((event_word_t)1 << EVTCHN_FIFO_LINKED) | EVTCHN_FIFO_LINK_MASK);
    } while (!__atomic_compare_exchange_n(w, &old, new, false, __ATOMIC_SEQ_CST,
                                          __ATOMIC_SEQ_CST));
    return old & EVTCHN_FIFO_LINK_MASK;
}

int hx_fifo_consume(struct hx *x, domid_t dom, uint32_t v, uint32_t *out, int max)
{
    struct hx_dom *d = &x->d[dom];
    struct hx_guest_vcpu *gv = &d->v[v];
    evtchn_fifo_control_block_t *cb = gv->cb;
    int n = 0, guard = 0;

    __atomic_store_n(&d->si->vcpu_info[v].evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
    /* Only the queues there are (Linux: find_first_bit over
     * EVTCHN_FIFO_MAX_QUEUES): the control block is guest memory, and the
     * fuzzer's hostile guest writes any bit of it. */
    const uint32_t queues = (1u << EVTCHN_FIFO_MAX_QUEUES) - 1;
    uint32_t ready = __atomic_exchange_n(&cb->ready, 0, __ATOMIC_SEQ_CST) & queues;
    while (ready && guard++ < (1 << 20)) {
        unsigned int q = (unsigned int)__builtin_ctz(ready);
        uint32_t head = gv->fifo_head[q];
        if (!head)
            head = __atomic_load_n(&cb->head[q], __ATOMIC_SEQ_CST);
        event_word_t *w = hx_fifo_word(x, dom, head);
        if (!w) {              /* a bogus head: give up on this queue */
            ready &= ~(1u << q);
            gv->fifo_head[q] = 0;
            continue;
        }
        uint32_t next = clear_linked(w);
        if (!next)
            ready &= ~(1u << q);
        event_word_t ww = __atomic_load_n(w, __ATOMIC_SEQ_CST);
        if ((ww & (1u << EVTCHN_FIFO_PENDING)) && !(ww & (1u << EVTCHN_FIFO_MASKED))) {
            __atomic_fetch_and(w, ~(1u << EVTCHN_FIFO_PENDING), __ATOMIC_SEQ_CST);
            if (n < max)
                out[n] = head;
            n++;
        }
        gv->fifo_head[q] = next;
        ready |= __atomic_exchange_n(&cb->ready, 0, __ATOMIC_SEQ_CST) & queues;
    }
    return n;
}

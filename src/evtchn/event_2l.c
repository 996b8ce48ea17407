/*
 * The 2-level event-channel ABI: pending and mask bitmaps in struct
 * shared_info, a per-vCPU selector word and evtchn_upcall_pending in
 * struct vcpu_info (<xen/xen.h>). Semantics of Xen's event_2l.c.
 *
 * Every access to these guest-owned words is an atomic read-modify-write:
 * the guest clears pending bits and selector bits concurrently, and the
 * order below (pending, then mask test, then selector, then upcall) is what
 * lets a guest that scans selector -> pending never miss an event. Atomic
 * RMW operations are full barriers (seq_cst), which is the ordering the
 * Xen ABI relies on.
 */
#include "evtchn_internal.h"

#define BITS_PER_XEN_ULONG (sizeof(xen_ulong_t) * 8)

static inline xen_ulong_t bitmask(uint32_t bit)
{
    return (xen_ulong_t)1 << (bit % BITS_PER_XEN_ULONG);
}

static bool test_and_set(xen_ulong_t *words, uint32_t bit)
{
    xen_ulong_t m = bitmask(bit);
    return __atomic_fetch_or(&words[bit / BITS_PER_XEN_ULONG], m, __ATOMIC_SEQ_CST) & m;
}

static bool test_and_clear(xen_ulong_t *words, uint32_t bit)
{
    xen_ulong_t m = bitmask(bit);
    return __atomic_fetch_and(&words[bit / BITS_PER_XEN_ULONG], ~m, __ATOMIC_SEQ_CST) & m;
}

static bool test_bit(xen_ulong_t *words, uint32_t bit)
{
    return __atomic_load_n(&words[bit / BITS_PER_XEN_ULONG], __ATOMIC_SEQ_CST) & bitmask(bit);
}

static void twolevel_set_pending(struct evtchn_dom *d, uint32_t vcpu, struct evtchn_chn *c)
{
    uint32_t port = c->port;
    struct vcpu_info *vi;

    /* The pending bit is a latch: a second event before the guest clears
     * it coalesces with the first. Look before the atomic RMW: a bit seen
     * set is cleared by the guest only when it handles the port, after
     * this send, and the cache line stays shared under a flood. */
    if (test_bit(d->si->evtchn_pending, port) ||
        test_and_set(d->si->evtchn_pending, port))
        return;

    /* Only an unmasked port makes the selector bit, and only a newly set
     * selector bit needs an upcall: otherwise the guest is already going
     * to scan that word. */
    vi = evtchn_vi(d, vcpu);
    if (!test_bit(d->si->evtchn_mask, port) &&
        !test_and_set(&vi->evtchn_pending_sel, port / BITS_PER_XEN_ULONG))
        evtchn_mark_events_pending(d, vcpu);

    evtchn_check_pollers(d, port);
}

static void twolevel_clear_pending(struct evtchn_dom *d, struct evtchn_chn *c)
{
    test_and_clear(d->si->evtchn_pending, c->port);
}

static void twolevel_unmask(struct evtchn_dom *d, struct evtchn_chn *c)
{
    uint32_t port = c->port, vcpu = c->notify_vcpu;

    /* Same order as set_pending: clearing the mask before testing pending
     * means an event racing with us is seen by one side or the other. */
    if (test_and_clear(d->si->evtchn_mask, port) &&
        test_bit(d->si->evtchn_pending, port) &&
        !test_and_set(&evtchn_vi(d, vcpu)->evtchn_pending_sel,
                      port / BITS_PER_XEN_ULONG))
        evtchn_mark_events_pending(d, vcpu);
}

static void twolevel_mask_clear(struct evtchn_dom *d, struct evtchn_chn *c)
{
    test_and_clear(d->si->evtchn_mask, c->port);
}

static bool twolevel_is_pending(struct evtchn_dom *d, uint32_t port)
{
    return test_bit(d->si->evtchn_pending, port);
}

static bool twolevel_is_masked(struct evtchn_dom *d, uint32_t port)
{
    return test_bit(d->si->evtchn_mask, port);
}

const struct port_ops evtchn_2l_ops = {
    .abi = 2,
    .max_ports = EVTCHN_2L_NR_CHANNELS,
    .set_pending = twolevel_set_pending,
    .clear_pending = twolevel_clear_pending,
    .unmask = twolevel_unmask,
    .mask_clear = twolevel_mask_clear,
    .is_pending = twolevel_is_pending,
    .is_masked = twolevel_is_masked,
};

/*
 * The 2-level event-channel ABI: pending and mask bitmaps in struct
 * shared_info, a per-vCPU selector word and evtchn_upcall_pending in
 * struct vcpu_info (<xen/xen.h>). Semantics of Xen's event_2l.c.
 *
 * The words are the domain's xen_ulong_t: 64 bits, or 32 in the i386
 * layout (evtchn_shinfo.c), where the bitmaps hold 1024 ports and sit at
 * other offsets; each operation reads the layout once and works in it.
 * Ports beyond the layout's bitmaps (bound before an i386 latch, or
 * host-consumer ports) have no bit: nothing is raised for them and they
 * read as not pending and masked, as Xen's is_pending/is_masked.
 *
 * Every access to these guest-owned words is an atomic read-modify-write:
 * the guest clears pending bits and selector bits concurrently, and the
 * order below (pending, then mask test, then selector, then upcall) is what
 * lets a guest that scans selector -> pending never miss an event. Atomic
 * RMW operations are full barriers (seq_cst), which is the ordering the
 * Xen ABI relies on.
 */
#include "evtchn_internal.h"

/* Bit bit of the bitmap of words of l->word_bits bits at base. */
static bool test_and_set(const struct evtchn_shl *l, void *base, uint32_t bit)
{
    if (l->word_bits == 64) {
        uint64_t m = 1ull << (bit % 64);
        return __atomic_fetch_or((uint64_t *)base + bit / 64, m, __ATOMIC_SEQ_CST) & m;
    }
    uint32_t m = 1u << (bit % 32);
    return __atomic_fetch_or((uint32_t *)base + bit / 32, m, __ATOMIC_SEQ_CST) & m;
}

static bool test_and_clear(const struct evtchn_shl *l, void *base, uint32_t bit)
{
    if (l->word_bits == 64) {
        uint64_t m = 1ull << (bit % 64);
        return __atomic_fetch_and((uint64_t *)base + bit / 64, ~m, __ATOMIC_SEQ_CST) & m;
    }
    uint32_t m = 1u << (bit % 32);
    return __atomic_fetch_and((uint32_t *)base + bit / 32, ~m, __ATOMIC_SEQ_CST) & m;
}

static bool test_bit(const struct evtchn_shl *l, void *base, uint32_t bit)
{
    if (l->word_bits == 64)
        return __atomic_load_n((uint64_t *)base + bit / 64, __ATOMIC_SEQ_CST) &
               (1ull << (bit % 64));
    return __atomic_load_n((uint32_t *)base + bit / 32, __ATOMIC_SEQ_CST) &
           (1u << (bit % 32));
}

static void *pending(struct evtchn_dom *d, const struct evtchn_shl *l)
{
    return (uint8_t *)d->si + l->pending;
}

static void *mask(struct evtchn_dom *d, const struct evtchn_shl *l)
{
    return (uint8_t *)d->si + l->mask;
}

/* vCPU vcpu's selector word. */
static void *sel(struct evtchn_dom *d, const struct evtchn_shl *l, uint32_t vcpu)
{
    return (uint8_t *)evtchn_vi(d, vcpu) + l->sel;
}

static void twolevel_set_pending(struct evtchn_dom *d, uint32_t vcpu, struct evtchn_chn *c)
{
    const struct evtchn_shl *l = dom_shl(d);
    uint32_t port = c->port;

    if (port >= l->nr_ports)
        return;
    /* The pending bit is a latch: a second event before the guest clears
     * it coalesces with the first. Look before the atomic RMW: a bit seen
     * set is cleared by the guest only when it handles the port, after
     * this send, and the cache line stays shared under a flood. */
    if (test_bit(l, pending(d, l), port) || test_and_set(l, pending(d, l), port))
        return;

    /* Only an unmasked port makes the selector bit, and only a newly set
     * selector bit needs an upcall: otherwise the guest is already going
     * to scan that word. */
    if (!test_bit(l, mask(d, l), port) &&
        !test_and_set(l, sel(d, l, vcpu), port / l->word_bits))
        evtchn_mark_events_pending(d, vcpu);

    evtchn_check_pollers(d, port);
}

static void twolevel_clear_pending(struct evtchn_dom *d, struct evtchn_chn *c)
{
    const struct evtchn_shl *l = dom_shl(d);
    if (c->port < l->nr_ports)
        test_and_clear(l, pending(d, l), c->port);
}

static void twolevel_unmask(struct evtchn_dom *d, struct evtchn_chn *c)
{
    const struct evtchn_shl *l = dom_shl(d);
    uint32_t port = c->port, vcpu = c->notify_vcpu;

    if (port >= l->nr_ports)
        return;
    /* Same order as set_pending: clearing the mask before testing pending
     * means an event racing with us is seen by one side or the other. */
    if (test_and_clear(l, mask(d, l), port) &&
        test_bit(l, pending(d, l), port) &&
        !test_and_set(l, sel(d, l, vcpu), port / l->word_bits))
        evtchn_mark_events_pending(d, vcpu);
}

static void twolevel_mask_clear(struct evtchn_dom *d, struct evtchn_chn *c)
{
    const struct evtchn_shl *l = dom_shl(d);
    if (c->port < l->nr_ports)
        test_and_clear(l, mask(d, l), c->port);
}

static bool twolevel_is_pending(struct evtchn_dom *d, uint32_t port)
{
    const struct evtchn_shl *l = dom_shl(d);
    return port < l->nr_ports && test_bit(l, pending(d, l), port);
}

static bool twolevel_is_masked(struct evtchn_dom *d, uint32_t port)
{
    const struct evtchn_shl *l = dom_shl(d);
    return port >= l->nr_ports || test_bit(l, mask(d, l), port);
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

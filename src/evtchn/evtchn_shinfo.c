/*
 * The layout of a domain's shared_info and vcpu_info: x86_64's (native) or
 * i386's (compat), chosen per domain as Xen's has_32bit_shinfo, and the
 * wallclock written at that layout's offsets.
 *
 * Xen latches the layout from the guest's mode at the points where PV
 * drivers start (hvm_latch_shinfo_size: HVM_PARAM_CALLBACK_IRQ set by the
 * domain itself, the hypercall page's MSR); the hypercall layer tells us
 * through evtchn_domain_latch_shinfo. What differs (the i386 offsets come
 * from the -m32 probe, evtchn_abi32.h): xen_ulong_t is 4 bytes, so the
 * 2-level bitmaps are 32 words of 32 bits (1024 ports) and
 * evtchn_pending_sel is 32 bits at another offset; the wallclock sits
 * after the shorter bitmaps, wc_sec_hi inside arch_shared_info. What does
 * not (asserted below): vcpu_info is 64 bytes in both, so the slots of
 * shared_info are at the same places, with evtchn_upcall_pending,
 * evtchn_upcall_mask and the vcpu_time_info at the same offsets, and the
 * FIFO ABI's control block is laid out alike.
 */
#include <stddef.h>
#include <stdint.h>

#include "evtchn_abi32.h"
#include "evtchn_internal.h"

#define SAME_OFF(s, f) \
    _Static_assert(EVTCHN32_OFF_##s##_##f == offsetof(struct s, f), \
                   #s "." #f " moves in the i386 layout")

_Static_assert(EVTCHN32_SIZEOF_vcpu_info == sizeof(struct vcpu_info),
               "vcpu_info slots differ in the i386 layout");
SAME_OFF(shared_info, vcpu_info);
SAME_OFF(vcpu_info, evtchn_upcall_pending);
SAME_OFF(vcpu_info, evtchn_upcall_mask);
SAME_OFF(vcpu_info, time);
_Static_assert(EVTCHN32_SIZEOF_vcpu_time_info == sizeof(struct vcpu_time_info),
               "vcpu_time_info differs in the i386 layout");
SAME_OFF(vcpu_time_info, version);
SAME_OFF(vcpu_time_info, tsc_timestamp);
SAME_OFF(vcpu_time_info, system_time);
SAME_OFF(vcpu_time_info, tsc_to_system_mul);
SAME_OFF(vcpu_time_info, tsc_shift);
SAME_OFF(vcpu_time_info, flags);
_Static_assert(EVTCHN32_SIZEOF_evtchn_fifo_control_block ==
                   sizeof(struct evtchn_fifo_control_block),
               "the FIFO control block differs in the i386 layout");
SAME_OFF(evtchn_fifo_control_block, ready);
SAME_OFF(evtchn_fifo_control_block, head);
_Static_assert(EVTCHN32_EVTCHN_2L_NR_CHANNELS ==
                   8 * EVTCHN32_XEN_ULONG_BYTES * 8 * EVTCHN32_XEN_ULONG_BYTES,
               "2-level: one selector bit per word, one word per bit");

const struct evtchn_shl evtchn_shl_native = {
    .i386 = false,
    .word_bits = 8 * sizeof(xen_ulong_t),
    .nr_ports = EVTCHN_2L_NR_CHANNELS,
    .pending = offsetof(struct shared_info, evtchn_pending),
    .mask = offsetof(struct shared_info, evtchn_mask),
    .sel = offsetof(struct vcpu_info, evtchn_pending_sel),
    .wc_version = offsetof(struct shared_info, wc_version),
    .wc_sec = offsetof(struct shared_info, wc_sec),
    .wc_nsec = offsetof(struct shared_info, wc_nsec),
    .wc_sec_hi = offsetof(struct shared_info, xen_wc_sec_hi),
};

const struct evtchn_shl evtchn_shl_i386 = {
    .i386 = true,
    .word_bits = 8 * EVTCHN32_XEN_ULONG_BYTES,
    .nr_ports = EVTCHN32_EVTCHN_2L_NR_CHANNELS,
    .pending = EVTCHN32_OFF_shared_info_evtchn_pending,
    .mask = EVTCHN32_OFF_shared_info_evtchn_mask,
    .sel = EVTCHN32_OFF_vcpu_info_evtchn_pending_sel,
    .wc_version = EVTCHN32_OFF_shared_info_wc_version,
    .wc_sec = EVTCHN32_OFF_shared_info_wc_sec,
    .wc_nsec = EVTCHN32_OFF_shared_info_wc_nsec,
    .wc_sec_hi = EVTCHN32_OFF_shared_info_wc_sec_hi,
};

int evtchn_domain_latch_shinfo(struct evtchn_host *h, domid_t domid, bool i386)
{
    struct evtchn_dom *d = evtchn_dom_get(h, domid);
    if (!d)
        return -XEN_ESRCH;
    /* d->lock: the ABI and the ports allocated against max_ports stay put
     * (as for an ABI change). Bits already in the page are not moved to
     * the new layout, as in Xen: a guest latches before its first event. */
    pthread_mutex_lock(&d->lock);
    atomic_store_explicit(&d->shl, i386 ? &evtchn_shl_i386 : &evtchn_shl_native,
                          memory_order_release);
    pthread_mutex_unlock(&d->lock);
    dom_put(d);
    return 0;
}

int evtchn_domain_shinfo_i386(struct evtchn_host *h, domid_t domid)
{
    struct evtchn_dom *d = evtchn_dom_get(h, domid);
    if (!d)
        return -XEN_ESRCH;
    int i386 = dom_shl(d)->i386;
    dom_put(d);
    return i386;
}

static uint32_t *si_u32(struct evtchn_dom *d, uint16_t off)
{
    return (uint32_t *)((uint8_t *)d->si + off);
}

int evtchn_domain_set_wallclock(struct evtchn_host *h, domid_t domid,
                                uint64_t sec, uint32_t nsec)
{
    struct evtchn_dom *d = evtchn_dom_get(h, domid);
    if (!d)
        return -XEN_ESRCH;
    /* d->lock: one writer at a time (Xen's wc_lock), and the layout stays
     * put. The guest retries while wc_version is odd or has moved. */
    pthread_mutex_lock(&d->lock);
    const struct evtchn_shl *l = dom_shl(d);
    uint32_t *ver = si_u32(d, l->wc_version);
    uint32_t v = (__atomic_load_n(ver, __ATOMIC_RELAXED) + 1) | 1;
    __atomic_store_n(ver, v, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(si_u32(d, l->wc_sec), (uint32_t)sec, __ATOMIC_RELAXED);
    __atomic_store_n(si_u32(d, l->wc_nsec), nsec, __ATOMIC_RELAXED);
    __atomic_store_n(si_u32(d, l->wc_sec_hi), (uint32_t)(sec >> 32),
                     __ATOMIC_RELAXED);
    __atomic_store_n(ver, v + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&d->lock);
    dom_put(d);
    return 0;
}

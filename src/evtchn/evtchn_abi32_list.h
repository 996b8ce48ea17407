/*
 * What the event-channel core needs of the i386 (compat) layout of
 * shared_info and vcpu_info, which a domain whose guest runs in 32-bit mode
 * sees (Xen's has_32bit_shinfo): included by evtchn_abi32_probe.c, compiled
 * with -m32 -S at build time, whose assembly src/hv/gen_abi32.py turns into
 * the generated evtchn_abi32.h (EVTCHN32_SIZEOF_<struct>,
 * EVTCHN32_OFF_<struct>_<name>, EVTCHN32_<name>). Nothing here is retyped:
 * the layouts are those of Debian's <xen/...> headers under __i386__.
 *
 * EVTCHN32_SHINFO(S, F, V): S(s) for struct s, F(s, name, path) for its
 * field at path, V(name, expr) for a constant expression.
 */
#ifndef XENKVM_EVTCHN_ABI32_LIST_H
#define XENKVM_EVTCHN_ABI32_LIST_H

#define EVTCHN32_SHINFO(S, F, V) \
    V(XEN_ULONG_BYTES, sizeof(xen_ulong_t)) \
    V(EVTCHN_2L_NR_CHANNELS, EVTCHN_2L_NR_CHANNELS) \
    V(ALIGNOF_vcpu_info, _Alignof(struct vcpu_info)) \
    S(shared_info) F(shared_info, vcpu_info, vcpu_info) \
    F(shared_info, evtchn_pending, evtchn_pending) \
    F(shared_info, evtchn_mask, evtchn_mask) \
    F(shared_info, wc_version, wc_version) F(shared_info, wc_sec, wc_sec) \
    F(shared_info, wc_nsec, wc_nsec) \
    F(shared_info, wc_sec_hi, xen_wc_sec_hi) \
    S(vcpu_info) \
    F(vcpu_info, evtchn_upcall_pending, evtchn_upcall_pending) \
    F(vcpu_info, evtchn_upcall_mask, evtchn_upcall_mask) \
    F(vcpu_info, evtchn_pending_sel, evtchn_pending_sel) \
    F(vcpu_info, time, time) \
    S(vcpu_time_info) F(vcpu_time_info, version, version) \
    F(vcpu_time_info, tsc_timestamp, tsc_timestamp) \
    F(vcpu_time_info, system_time, system_time) \
    F(vcpu_time_info, tsc_to_system_mul, tsc_to_system_mul) \
    F(vcpu_time_info, tsc_shift, tsc_shift) F(vcpu_time_info, flags, flags) \
    S(evtchn_fifo_control_block) \
    F(evtchn_fifo_control_block, ready, ready) \
    F(evtchn_fifo_control_block, head, head)

#endif

/*
 * The argument structs a 32-bit (i386) caller passes to sub-ops that
 * xenkvm serves to it unchanged, field by field. Included twice: by
 * hv_abi32_probe.c, compiled with -m32 at build time, which emits each
 * size and offset as the i386 ABI lays it out (hv_abi32.h, generated), and
 * by hv_compat.c, which asserts at compile time that the x86_64 layout is
 * the same. A struct whose i386 layout differs fails the build here and
 * needs a translation instead (docs/abi.md, "32-bit callers").
 *
 * HV32_STRUCTS(S, F): S(s) for struct s, F(s, name, path) for its field
 * at path (name: path as one token).
 */
#ifndef XENKVM_HV_ABI32_LIST_H
#define XENKVM_HV_ABI32_LIST_H

#define HV32_STRUCTS(S, F) \
    /* hvm_op */ \
    S(xen_hvm_param) F(xen_hvm_param, domid, domid) \
    F(xen_hvm_param, index, index) F(xen_hvm_param, value, value) \
    S(xen_hvm_pagetable_dying) F(xen_hvm_pagetable_dying, domid, domid) \
    F(xen_hvm_pagetable_dying, gpa, gpa) \
    S(xen_hvm_get_time) F(xen_hvm_get_time, now, now) \
    S(xen_hvm_xentrace) F(xen_hvm_xentrace, event, event) \
    F(xen_hvm_xentrace, extra_bytes, extra_bytes) \
    F(xen_hvm_xentrace, extra, extra) \
    S(xen_hvm_get_mem_type) F(xen_hvm_get_mem_type, domid, domid) \
    F(xen_hvm_get_mem_type, mem_type, mem_type) \
    F(xen_hvm_get_mem_type, pfn, pfn) \
    S(xen_hvm_evtchn_upcall_vector) \
    F(xen_hvm_evtchn_upcall_vector, vcpu, vcpu) \
    F(xen_hvm_evtchn_upcall_vector, vector, vector) \
    /* event_channel_op: every command */ \
    S(evtchn_alloc_unbound) F(evtchn_alloc_unbound, dom, dom) \
    F(evtchn_alloc_unbound, remote_dom, remote_dom) \
    F(evtchn_alloc_unbound, port, port) \
    S(evtchn_bind_interdomain) \
    F(evtchn_bind_interdomain, remote_dom, remote_dom) \
    F(evtchn_bind_interdomain, remote_port, remote_port) \
    F(evtchn_bind_interdomain, local_port, local_port) \
    S(evtchn_bind_virq) F(evtchn_bind_virq, virq, virq) \
    F(evtchn_bind_virq, vcpu, vcpu) F(evtchn_bind_virq, port, port) \
    S(evtchn_bind_pirq) F(evtchn_bind_pirq, pirq, pirq) \
    F(evtchn_bind_pirq, flags, flags) F(evtchn_bind_pirq, port, port) \
    S(evtchn_bind_ipi) F(evtchn_bind_ipi, vcpu, vcpu) \
    F(evtchn_bind_ipi, port, port) \
    S(evtchn_close) F(evtchn_close, port, port) \
    S(evtchn_send) F(evtchn_send, port, port) \
    S(evtchn_status) F(evtchn_status, dom, dom) F(evtchn_status, port, port) \
    F(evtchn_status, status, status) F(evtchn_status, vcpu, vcpu) \
    F(evtchn_status, unbound_dom, u.unbound.dom) \
    F(evtchn_status, interdomain_dom, u.interdomain.dom) \
    F(evtchn_status, interdomain_port, u.interdomain.port) \
    F(evtchn_status, pirq, u.pirq) F(evtchn_status, virq, u.virq) \
    S(evtchn_bind_vcpu) F(evtchn_bind_vcpu, port, port) \
    F(evtchn_bind_vcpu, vcpu, vcpu) \
    S(evtchn_unmask) F(evtchn_unmask, port, port) \
    S(evtchn_reset) F(evtchn_reset, dom, dom) \
    S(evtchn_init_control) F(evtchn_init_control, control_gfn, control_gfn) \
    F(evtchn_init_control, offset, offset) F(evtchn_init_control, vcpu, vcpu) \
    F(evtchn_init_control, link_bits, link_bits) \
    S(evtchn_expand_array) F(evtchn_expand_array, array_gfn, array_gfn) \
    S(evtchn_set_priority) F(evtchn_set_priority, port, port) \
    F(evtchn_set_priority, priority, priority) \
    /* vcpu_op */ \
    S(vcpu_register_vcpu_info) F(vcpu_register_vcpu_info, mfn, mfn) \
    F(vcpu_register_vcpu_info, offset, offset) \
    F(vcpu_register_vcpu_info, rsvd, rsvd) \
    /* grant_table_op */ \
    S(gnttab_query_size) F(gnttab_query_size, dom, dom) \
    F(gnttab_query_size, nr_frames, nr_frames) \
    F(gnttab_query_size, max_nr_frames, max_nr_frames) \
    F(gnttab_query_size, status, status) \
    S(gnttab_set_version) F(gnttab_set_version, version, version) \
    S(gnttab_get_version) F(gnttab_get_version, dom, dom) \
    F(gnttab_get_version, pad, pad) F(gnttab_get_version, version, version) \
    S(gnttab_map_grant_ref) F(gnttab_map_grant_ref, host_addr, host_addr) \
    F(gnttab_map_grant_ref, flags, flags) F(gnttab_map_grant_ref, ref, ref) \
    F(gnttab_map_grant_ref, dom, dom) F(gnttab_map_grant_ref, status, status) \
    F(gnttab_map_grant_ref, handle, handle) \
    F(gnttab_map_grant_ref, dev_bus_addr, dev_bus_addr) \
    S(gnttab_unmap_grant_ref) \
    F(gnttab_unmap_grant_ref, host_addr, host_addr) \
    F(gnttab_unmap_grant_ref, dev_bus_addr, dev_bus_addr) \
    F(gnttab_unmap_grant_ref, handle, handle) \
    F(gnttab_unmap_grant_ref, status, status) \
    /* sched_op (already served: these confirm it) */ \
    S(sched_shutdown) F(sched_shutdown, reason, reason) \
    S(sched_remote_shutdown) F(sched_remote_shutdown, domain_id, domain_id) \
    F(sched_remote_shutdown, reason, reason)

#endif

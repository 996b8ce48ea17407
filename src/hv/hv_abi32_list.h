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
 *
 * HV32_XLATE(S, F), same form: the structs whose i386 layout differs
 * (xen_ulong_t, xen_pfn_t and guest handles of 4 bytes, uint64_t aligned
 * to 4). The probe emits each size, offset and field size; hv_compat.c
 * builds one field table per struct from them, which the one translator
 * (hv_arg_in/hv_arg_out) reads and writes a 32-bit caller's bytes with.
 * Every field a handler reads or writes must be listed (a field left out
 * reads as zero). A field inside a union is listed by its widest member.
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
    F(sched_remote_shutdown, reason, reason) \
    /* memory_op current/maximum_reservation, maximum_gpfn */ \
    S(xen_memory_domain) F(xen_memory_domain, domid, domid) \
    /* vcpu_op */ \
    S(vcpu_set_periodic_timer) F(vcpu_set_periodic_timer, period_ns, period_ns) \
    S(vcpu_hvm_context) F(vcpu_hvm_context, mode, mode) \
    F(vcpu_hvm_context, cpu_regs, cpu_regs) \
    F(vcpu_hvm_context, efer32, cpu_regs.x86_32.efer) \
    F(vcpu_hvm_context, cs_base32, cpu_regs.x86_32.cs_base) \
    F(vcpu_hvm_context, tr_ar32, cpu_regs.x86_32.tr_ar) \
    F(vcpu_hvm_context, rip64, cpu_regs.x86_64.rip) \
    F(vcpu_hvm_context, efer64, cpu_regs.x86_64.efer) \
    /* grant_table_op */ \
    S(gnttab_swap_grant_ref) F(gnttab_swap_grant_ref, ref_a, ref_a) \
    F(gnttab_swap_grant_ref, ref_b, ref_b) \
    F(gnttab_swap_grant_ref, status, status) \
    S(gnttab_dump_table) F(gnttab_dump_table, dom, dom) \
    F(gnttab_dump_table, status, status) \
    S(gnttab_unmap_and_replace) \
    F(gnttab_unmap_and_replace, host_addr, host_addr) \
    F(gnttab_unmap_and_replace, new_addr, new_addr) \
    F(gnttab_unmap_and_replace, handle, handle) \
    F(gnttab_unmap_and_replace, status, status) \
    /* physdev_op: the PIRQ commands of the same layout */ \
    S(physdev_unmap_pirq) F(physdev_unmap_pirq, domid, domid) \
    F(physdev_unmap_pirq, pirq, pirq) \
    S(physdev_get_free_pirq) F(physdev_get_free_pirq, type, type) \
    F(physdev_get_free_pirq, pirq, pirq) \
    S(physdev_irq_status_query) F(physdev_irq_status_query, irq, irq) \
    F(physdev_irq_status_query, flags, flags) \
    S(physdev_eoi) F(physdev_eoi, irq, irq) \
    /* the refusals of hv_priv.c and platform_op: what they read */ \
    S(xen_domctl) F(xen_domctl, cmd, cmd) \
    F(xen_domctl, interface_version, interface_version) \
    F(xen_domctl, domain, domain) \
    S(xen_sysctl) F(xen_sysctl, cmd, cmd) \
    F(xen_sysctl, interface_version, interface_version) \
    S(xen_platform_op) F(xen_platform_op, cmd, cmd) \
    F(xen_platform_op, interface_version, interface_version)

#define HV32_XLATE(S, F) \
    /* xen_version */ \
    S(xen_platform_parameters) \
    F(xen_platform_parameters, virt_start, virt_start) \
    /* memory_op */ \
    S(xen_add_to_physmap) F(xen_add_to_physmap, domid, domid) \
    F(xen_add_to_physmap, size, size) F(xen_add_to_physmap, space, space) \
    F(xen_add_to_physmap, idx, idx) F(xen_add_to_physmap, gpfn, gpfn) \
    S(xen_add_to_physmap_batch) F(xen_add_to_physmap_batch, domid, domid) \
    F(xen_add_to_physmap_batch, space, space) \
    F(xen_add_to_physmap_batch, size, size) \
    F(xen_add_to_physmap_batch, foreign_domid, u.foreign_domid) \
    F(xen_add_to_physmap_batch, idxs, idxs) \
    F(xen_add_to_physmap_batch, gpfns, gpfns) \
    F(xen_add_to_physmap_batch, errs, errs) \
    S(xen_memory_reservation) \
    F(xen_memory_reservation, extent_start, extent_start) \
    F(xen_memory_reservation, nr_extents, nr_extents) \
    F(xen_memory_reservation, extent_order, extent_order) \
    F(xen_memory_reservation, mem_flags, mem_flags) \
    F(xen_memory_reservation, domid, domid) \
    S(xen_memory_map) F(xen_memory_map, nr_entries, nr_entries) \
    F(xen_memory_map, buffer, buffer) \
    S(xen_remove_from_physmap) F(xen_remove_from_physmap, domid, domid) \
    F(xen_remove_from_physmap, gpfn, gpfn) \
    /* vcpu_op */ \
    S(vcpu_set_singleshot_timer) \
    F(vcpu_set_singleshot_timer, timeout_abs_ns, timeout_abs_ns) \
    F(vcpu_set_singleshot_timer, flags, flags) \
    S(vcpu_runstate_info) F(vcpu_runstate_info, state, state) \
    F(vcpu_runstate_info, state_entry_time, state_entry_time) \
    F(vcpu_runstate_info, time0, time[0]) F(vcpu_runstate_info, time1, time[1]) \
    F(vcpu_runstate_info, time2, time[2]) F(vcpu_runstate_info, time3, time[3]) \
    S(vcpu_register_runstate_memory_area) \
    F(vcpu_register_runstate_memory_area, addr, addr.h) \
    S(vcpu_register_time_memory_area) \
    F(vcpu_register_time_memory_area, addr, addr.h) \
    /* sched_op */ \
    S(sched_poll) F(sched_poll, ports, ports) \
    F(sched_poll, nr_ports, nr_ports) F(sched_poll, timeout, timeout) \
    /* grant_table_op */ \
    S(gnttab_setup_table) F(gnttab_setup_table, dom, dom) \
    F(gnttab_setup_table, nr_frames, nr_frames) \
    F(gnttab_setup_table, status, status) \
    F(gnttab_setup_table, frame_list, frame_list) \
    S(gnttab_get_status_frames) \
    F(gnttab_get_status_frames, nr_frames, nr_frames) \
    F(gnttab_get_status_frames, dom, dom) \
    F(gnttab_get_status_frames, status, status) \
    F(gnttab_get_status_frames, frame_list, frame_list) \
    S(gnttab_copy) F(gnttab_copy, src_u, source.u.gmfn) \
    F(gnttab_copy, src_domid, source.domid) \
    F(gnttab_copy, src_offset, source.offset) \
    F(gnttab_copy, dst_u, dest.u.gmfn) F(gnttab_copy, dst_domid, dest.domid) \
    F(gnttab_copy, dst_offset, dest.offset) F(gnttab_copy, len, len) \
    F(gnttab_copy, flags, flags) F(gnttab_copy, status, status) \
    S(gnttab_transfer) F(gnttab_transfer, mfn, mfn) \
    F(gnttab_transfer, domid, domid) F(gnttab_transfer, ref, ref) \
    F(gnttab_transfer, status, status) \
    /* multicall */ \
    S(multicall_entry) F(multicall_entry, op, op) \
    F(multicall_entry, result, result) \
    F(multicall_entry, args0, args[0]) F(multicall_entry, args1, args[1]) \
    F(multicall_entry, args2, args[2]) F(multicall_entry, args3, args[3]) \
    F(multicall_entry, args4, args[4]) F(multicall_entry, args5, args[5]) \
    /* physdev_op */ \
    S(physdev_map_pirq) F(physdev_map_pirq, domid, domid) \
    F(physdev_map_pirq, type, type) F(physdev_map_pirq, index, index) \
    F(physdev_map_pirq, pirq, pirq) F(physdev_map_pirq, bus, bus) \
    F(physdev_map_pirq, devfn, devfn) \
    F(physdev_map_pirq, entry_nr, entry_nr) \
    F(physdev_map_pirq, table_base, table_base) \
    S(physdev_pirq_eoi_gmfn) F(physdev_pirq_eoi_gmfn, gmfn, gmfn) \
    /* dm_op's buffer list */ \
    S(xen_dm_op_buf) F(xen_dm_op_buf, h, h) F(xen_dm_op_buf, size, size)

#endif

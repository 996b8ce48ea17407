/*
 * 32-bit (i386) callers: which sub-ops xenkvm serves them. Xen serves a
 * 32-bit HVM/PVH guest with the compat layouts of its public structs; a
 * sub-op whose argument struct has the same i386 and x86_64 layout is
 * served by the 64-bit handler unchanged. That sameness is not assumed:
 * hv_abi32.h is generated at build time from Debian's <xen/...> headers
 * compiled with -m32 (hv_abi32_probe.c), and every size and offset of
 * hv_abi32_list.h is asserted equal here, so a header whose layout
 * differs fails the build instead of misreading a guest's struct.
 * Sub-ops whose layouts differ (xen_ulong_t, xen_pfn_t, guest handles,
 * uint64_t aligned to 4) stay -ENOSYS to 32-bit callers until they get a
 * translation.
 */
#include <stddef.h>
#include <stdint.h>

#include "hv_int.h"

#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/hvm/hvm_op.h>

#include "hv_abi32.h"
#include "hv_abi32_list.h"

#define S(s) _Static_assert(sizeof(struct s) == HV32_SIZEOF_##s, \
                            "i386 size of struct " #s " differs");
#define F(s, name, path) _Static_assert(offsetof(struct s, path) == \
                                        HV32_OFF_##s##_##name, \
                                        "i386 offset of " #s "." #path \
                                        " differs");
HV32_STRUCTS(S, F)
#undef S
#undef F

/* The sub-ops served to a 32-bit caller by the 64-bit handler: each takes
 * no struct, or only structs of hv_abi32_list.h. */
static const struct {
    uint32_t nr, op;
} hv_compat_same[] = {
    { __HYPERVISOR_hvm_op, HVMOP_set_param },
    { __HYPERVISOR_hvm_op, HVMOP_get_param },
    { __HYPERVISOR_hvm_op, HVMOP_pagetable_dying },
    { __HYPERVISOR_hvm_op, HVMOP_get_time },
    { __HYPERVISOR_hvm_op, HVMOP_xentrace },
    { __HYPERVISOR_hvm_op, HVMOP_guest_request_vm_event },
    { __HYPERVISOR_hvm_op, HVMOP_altp2m },       /* refused unread */
    { __HYPERVISOR_hvm_op, HVMOP_get_mem_type },
    { __HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_bind_virq },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_bind_pirq },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_close },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_send },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_status },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_bind_vcpu },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_unmask },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_reset },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_init_control },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_expand_array },
    { __HYPERVISOR_event_channel_op, EVTCHNOP_set_priority },
    { __HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info },
    { __HYPERVISOR_vcpu_op, VCPUOP_up },
    { __HYPERVISOR_vcpu_op, VCPUOP_down },
    { __HYPERVISOR_vcpu_op, VCPUOP_is_up },
    { __HYPERVISOR_grant_table_op, GNTTABOP_query_size },
    { __HYPERVISOR_grant_table_op, GNTTABOP_set_version },
    { __HYPERVISOR_grant_table_op, GNTTABOP_get_version },
    { __HYPERVISOR_grant_table_op, GNTTABOP_map_grant_ref },
    { __HYPERVISOR_grant_table_op, GNTTABOP_unmap_grant_ref },
};

bool hv_compat_same_layout(uint64_t nr, uint64_t op)
{
    for (size_t i = 0; i < sizeof(hv_compat_same) / sizeof(hv_compat_same[0]);
         i++)
        if (hv_compat_same[i].nr == nr && hv_compat_same[i].op == op)
            return true;
    return false;
}

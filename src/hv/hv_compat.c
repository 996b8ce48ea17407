/*
 * 32-bit (i386) callers. Xen serves a 32-bit HVM/PVH guest every call it
 * serves a 64-bit one, with the compat layouts of its public structs; a
 * sub-op whose argument struct has the same i386 and x86_64 layout is
 * served by the 64-bit handler unchanged. That sameness is not assumed:
 * hv_abi32.h is generated at build time from Debian's <xen/...> headers
 * compiled with -m32 (hv_abi32_probe.c), and every size and offset of
 * hv_abi32_list.h is asserted equal here, so a header whose layout
 * differs fails the build instead of misreading a guest's struct.
 * Structs whose layouts differ (xen_ulong_t, xen_pfn_t, guest handles,
 * uint64_t aligned to 4) are translated (hv_compat_xlate.c, HV32_XLATE);
 * every struct a handler reads is in one of the two lists. Here also the
 * return value of a 32-bit caller's call (hv_compat_result).
 */
/* domctl, sysctl: tool headers (as hv_priv.c); before <xen/xen.h>. */
#define __XEN_TOOLS__ 1
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "hv_int.h"

#include <xen/event_channel.h>
#include <xen/domctl.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/physdev.h>
#include <xen/platform.h>
#include <xen/sched.h>
#include <xen/sysctl.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/hvm_vcpu.h>

#include "hv_abi32.h"

#define S(s) _Static_assert(sizeof(struct s) == HV32_SIZEOF_##s, \
                            "i386 size of struct " #s " differs");
#define F(s, name, path) _Static_assert(offsetof(struct s, path) == \
                                        HV32_OFF_##s##_##name, \
                                        "i386 offset of " #s "." #path \
                                        " differs");
HV32_STRUCTS(S, F)
#undef S
#undef F

long hv_compat_result(uint64_t nr, long rc)
{
    /* compat_memory_op returns an int: a count or frame number beyond it
     * saturates (xen/common/compat/memory.c, its last lines), e.g.
     * maximum_gpfn of a frame above 2^31. The others return what they
     * return; the VMM keeps the low 32 bits for the guest's eax. */
    if (nr == __HYPERVISOR_memory_op) {
        if (rc > INT_MAX)
            return INT_MAX;
        if (rc < INT_MIN)
            return INT_MIN;
    }
    return rc;
}

/*
 * Hypercall page installation (Xen HVM/PVH): find Xen's CPUID leaves, read
 * the MSR index from leaf base+2 and write the page's guest-physical address
 * to it. The hypervisor then fills the page with one 32-byte stub per
 * hypercall number.
 */
#include <guest/hypercall.h>
#include <xen/arch-x86/cpuid.h>

struct hypervisor_info hypervisor_info;

int hypercall_init(void)
{
    uint32_t a, b, c, d, base;

    /* Xen's leaves move in steps of 0x100 when another hypervisor's
     * (Viridian) leaves occupy 0x40000000 (Linux does the same scan). */
    for (base = XEN_CPUID_FIRST_LEAF; base < XEN_CPUID_FIRST_LEAF + 0x10000;
         base += 0x100) {
        cpu_cpuid(base, 0, &a, &b, &c, &d);
        if (b == XEN_CPUID_SIGNATURE_EBX && c == XEN_CPUID_SIGNATURE_ECX &&
            d == XEN_CPUID_SIGNATURE_EDX && a - base >= 2)
            break;
    }
    if (base >= XEN_CPUID_FIRST_LEAF + 0x10000)
        return -1;

    uint32_t max = a;
    hypervisor_info.base = base;
    cpu_cpuid(base + 1, 0, &a, &b, &c, &d);
    hypervisor_info.version = a;
    cpu_cpuid(base + 2, 0, &a, &b, &c, &d);
    if (a < 1)
        return -1;
    hypervisor_info.msr = b;
    hypervisor_info.domid = -1;
    if (max >= base + 4) {
        cpu_cpuid(base + 4, 0, &a, &b, &c, &d);
        hypervisor_info.hvm_features = a;
        if (a & XEN_HVM_CPUID_DOMID_PRESENT)
            hypervisor_info.domid = (int32_t)(c & 0xffff);
    }
    /* Page 0 of the hypercall area: the MSR value is gpa | page index. */
    cpu_wrmsr(hypervisor_info.msr, (uint64_t)(uintptr_t)hypercall_page);
    return 0;
}

int hvm_get_param(uint32_t idx, uint64_t *val)
{
    struct xen_hvm_param p = { .domid = DOMID_SELF, .index = idx };
    long rc = HYPERVISOR_hvm_op(HVMOP_get_param, &p);

    if (rc == 0)
        *val = p.value;
    return (int)rc;
}

int hvm_set_param(uint32_t idx, uint64_t val)
{
    struct xen_hvm_param p = { .domid = DOMID_SELF, .index = idx, .value = val };

    return (int)HYPERVISOR_hvm_op(HVMOP_set_param, &p);
}

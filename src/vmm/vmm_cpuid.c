/*
 * CPUID: what the host's KVM supports, with KVM's own paravirt leaves at
 * 0x40000000-0x400000ff replaced by Xen's (xen/arch/x86/traps.c
 * cpuid_hypervisor_leaves; <xen/arch-x86/cpuid.h>).
 */
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <xen/arch-x86/cpuid.h>

#include "vmm_int.h"

/* MSR whose write installs the hypercall page (leaf 0x40000002 EBX). */

static void put(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, uint32_t a,
                uint32_t b, uint32_t cx, uint32_t dx)
{
    struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
    memset(e, 0, sizeof(*e));
    e->function = fn;
    e->index = idx;
    e->eax = a;
    e->ebx = b;
    e->ecx = cx;
    e->edx = dx;
}

/* Set the CPUID of vCPU v (per vCPU: the APIC id and Xen's vcpu id leaf). */
int vmm_cpuid_setup(struct vmm_vcpu *v)
{
    const struct kvm_cpuid2 *sup = v->d->h->supported_cpuid;
    size_t n = sup->nent + 8;
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
    if (!c)
        return -ENOMEM;
    for (uint32_t i = 0; i < sup->nent; i++) {
        const struct kvm_cpuid_entry2 *s = &sup->entries[i];
        if (s->function >= 0x40000000u && s->function <= 0x400000ffu)
            continue;                       /* KVM's leaves: not ours */
        struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
        *e = *s;
        if (e->function == 1) {
            /* initial APIC id = vCPU id; the hypervisor bit, which Xen
             * sets for its HVM guests (KVM's supported list leaves it
             * to the VMM) */
            e->ebx = (e->ebx & 0x00ffffffu) | (v->id << 24);
            e->ecx |= 1u << 31;
        } else if (e->function == 0xb || e->function == 0x1f) {
            e->edx = v->id;                 /* x2APIC id */
        }
    }
    put(c, XEN_CPUID_LEAF(0), 0, XEN_CPUID_LEAF(4), XEN_CPUID_SIGNATURE_EBX,
        XEN_CPUID_SIGNATURE_ECX, XEN_CPUID_SIGNATURE_EDX);
    put(c, XEN_CPUID_LEAF(1), 0, (HV_XEN_MAJOR << 16) | HV_XEN_MINOR, 0, 0, 0);
    /* one hypercall page, installed through VMM_HYPERCALL_MSR */
    put(c, XEN_CPUID_LEAF(2), 0, 1, VMM_HYPERCALL_MSR, 0, 0);
    /* leaf 3 (time): no TSC-mode information offered */
    put(c, XEN_CPUID_LEAF(3), 0, 0, 0, 0, 0);
    put(c, XEN_CPUID_LEAF(4), 0,
        XEN_HVM_CPUID_VCPU_ID_PRESENT | XEN_HVM_CPUID_DOMID_PRESENT |
        XEN_HVM_CPUID_UPCALL_VECTOR,
        v->id, v->d->domid, 0);
    int rc = ioctl(v->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
    free(c);
    return rc;
}

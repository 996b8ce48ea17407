/*
 * Hypercalls through the hypercall page (Xen x86 HVM ABI): call
 * hypercall_page + nr * 32 with arguments in rdi, rsi, rdx, r10, r8 (x86_64)
 * or ebx, ecx, edx, esi, edi (i386); the result comes back in rax/eax
 * (negative Xen errno on failure).
 */
#ifndef GUEST_HYPERCALL_H
#define GUEST_HYPERCALL_H

#include <guest/arch.h>
#include <xen/xen.h>
#include <xen/errno.h>
#include <xen/event_channel.h>
#include <xen/sched.h>
#include <xen/memory.h>
#include <xen/version.h>
#include <xen/vcpu.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>

extern char hypercall_page[PAGE_SIZE];

/* Number of stubs one hypercall page holds. */
#define HYPERCALL_PAGE_ENTRIES (PAGE_SIZE / 32)

/*
 * Raw hypercall by number, for callers that choose nr at run time (the
 * hostile guest). nr must be < HYPERCALL_PAGE_ENTRIES.
 */
#ifdef __x86_64__
static inline long hypercall_raw(unsigned int nr, unsigned long a1,
                                 unsigned long a2, unsigned long a3,
                                 unsigned long a4, unsigned long a5)
{
    register unsigned long r_a1 __asm__("rdi") = a1;
    register unsigned long r_a2 __asm__("rsi") = a2;
    register unsigned long r_a3 __asm__("rdx") = a3;
    register unsigned long r_a4 __asm__("r10") = a4;
    register unsigned long r_a5 __asm__("r8") = a5;
    register long res __asm__("rax");
    unsigned long fn = (unsigned long)hypercall_page + (nr % HYPERCALL_PAGE_ENTRIES) * 32;

    __asm__ __volatile__("call *%[fn]"
                         : "=r"(res), "+r"(r_a1), "+r"(r_a2), "+r"(r_a3),
                           "+r"(r_a4), "+r"(r_a5)
                         : [fn] "r"(fn)
                         : "rcx", "r9", "r11", "memory", "cc");
    return res;
}
#else
/* Xen's i386 ABI: arguments in ebx, ecx, edx, esi, edi (ebx is free:
 * guests are built -fno-pic); the stub's address goes in eax, which the
 * result comes back in. */
static inline long hypercall_raw(unsigned int nr, unsigned long a1,
                                 unsigned long a2, unsigned long a3,
                                 unsigned long a4, unsigned long a5)
{
    long res;
    unsigned long fn = (unsigned long)hypercall_page + (nr % HYPERCALL_PAGE_ENTRIES) * 32;

    __asm__ __volatile__("call *%%eax"
                         : "=a"(res), "+b"(a1), "+c"(a2), "+d"(a3), "+S"(a4),
                           "+D"(a5)
                         : "0"(fn)
                         : "memory", "cc");
    return res;
}
#endif

#define _HC(nr, a1, a2, a3, a4, a5) \
    hypercall_raw((nr), (unsigned long)(a1), (unsigned long)(a2), \
                  (unsigned long)(a3), (unsigned long)(a4), (unsigned long)(a5))

static inline int HYPERVISOR_event_channel_op(int cmd, void *arg)
{
    return (int)_HC(__HYPERVISOR_event_channel_op, cmd, arg, 0, 0, 0);
}

static inline int HYPERVISOR_sched_op(int cmd, void *arg)
{
    return (int)_HC(__HYPERVISOR_sched_op, cmd, arg, 0, 0, 0);
}

static inline long HYPERVISOR_hvm_op(int op, void *arg)
{
    return _HC(__HYPERVISOR_hvm_op, op, arg, 0, 0, 0);
}

static inline long HYPERVISOR_memory_op(unsigned int cmd, void *arg)
{
    return _HC(__HYPERVISOR_memory_op, cmd, arg, 0, 0, 0);
}

static inline long HYPERVISOR_xen_version(int cmd, void *arg)
{
    return _HC(__HYPERVISOR_xen_version, cmd, arg, 0, 0, 0);
}

static inline int HYPERVISOR_console_io(int cmd, unsigned int count, const char *buf)
{
    return (int)_HC(__HYPERVISOR_console_io, cmd, count, buf, 0, 0);
}

static inline int HYPERVISOR_vcpu_op(int cmd, unsigned int vcpuid, void *extra)
{
    return (int)_HC(__HYPERVISOR_vcpu_op, cmd, vcpuid, extra, 0, 0);
}

/* Contract: find Xen's CPUID leaves, install the hypercall page through the
 * MSR they name. Returns 0, or -1 when no Xen interface is present (the
 * caller cannot print anything then). Fills the fields below. */
int hypercall_init(void);

/* What CPUID leaves 0x40000000.. told us. */
struct hypervisor_info {
    uint32_t base;          /* leaf base where "XenVMMXenVMM" was found */
    uint32_t version;       /* leaf base+1 eax: major << 16 | minor */
    uint32_t msr;           /* leaf base+2 ebx */
    uint32_t hvm_features;  /* leaf base+4 eax (0 if absent) */
    int32_t  domid;         /* leaf base+4 ecx when DOMID_PRESENT, else -1 */
};
extern struct hypervisor_info hypervisor_info;

/* HVMOP_get_param / set_param on DOMID_SELF. */
int hvm_get_param(uint32_t idx, uint64_t *val);
int hvm_set_param(uint32_t idx, uint64_t val);

#endif

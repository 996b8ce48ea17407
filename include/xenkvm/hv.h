/*
 * xenkvm hypercall layer: decode-independent dispatch of Xen hypercalls.
 *
 * An entry point (the VMM's hypercall-page I/O exit today; a patched or
 * breakpointed VMCALL site later) turns a trapped guest instruction into a
 * struct hv_call and hands it to hv_hypercall(). Everything after that is
 * here: the table (number -> handler), guest-memory copies checked against
 * the domain's memory, and the handlers themselves. KVM specifics stay in
 * src/vmm behind struct hv_platform_ops.
 *
 * The hypercall page (one 4 KiB page, written by hv_fill_hypercall_page
 * when the guest writes the MSR of CPUID leaf 0x40000002) holds 128 stubs
 * of 32 bytes; stub i (at offset 32*i) is
 *
 *     b8 ii ii ii ii     mov  $i, %eax
 *     e6 HV_HCALL_PORT   out  %al, $HV_HCALL_PORT   <- exits to user space
 *     c3                 ret
 *     cc ...             int3 padding up to 32 bytes
 *
 * so a guest calls `call hypercall_page + 32*nr` exactly as on Xen. The OUT
 * exits to the VMM (KVM_EXIT_IO), which reads the registers from kvm_run's
 * sync-regs area (no KVM_GET_REGS), dispatches, writes the result to %rax
 * and resumes after the OUT. Argument registers follow Xen: 64-bit guests
 * %rdi %rsi %rdx %r10 %r8; 32-bit guests %ebx %ecx %edx %esi %edi.
 * Hypercalls from CPL > 0 return -EPERM as on Xen.
 */
#ifndef XENKVM_HV_H
#define XENKVM_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>

#include "xenkvm/evtchn.h"

/* I/O port the hypercall stubs write to (a legacy port nothing else uses:
 * 0xf0-0xff belonged to the x87 coprocessor, which no 64-bit OS drives). */
#define HV_HCALL_PORT 0xf5
/* Size of one stub in the hypercall page, as on Xen. */
#define HV_STUB_SIZE 32
/* Hypercall numbers the table covers (Xen defines fewer than 64). */
#define HV_NR_HYPERCALLS 64
/* Xen version we report through xen_version and CPUID leaf 0x40000001. */
#define HV_XEN_MAJOR 4
#define HV_XEN_MINOR 17

struct hv_domain;
struct irq_pirq;
struct gnttab;
struct gnttab_host;

/* One trapped hypercall, as decoded by an entry point. */
struct hv_call {
    uint64_t nr;        /* %rax / %eax */
    uint64_t arg[5];    /* in ABI order */
    bool long_mode;     /* 64-bit caller (else 32-bit: compat layouts) */
    unsigned int cpl;   /* current privilege level of the caller */
};

/* Up to this many e820 entries describe a domain's memory. */
#define HV_MAX_E820 8

struct hv_e820 {
    uint64_t addr, size;
    uint32_t type;     /* E820 type: 1 RAM, 2 reserved */
};

/*
 * What the hypercall layer asks of the VMM. dom is hv_domain_config.opaque;
 * vcpu is the vcpu_opaque handed to hv_hypercall (the calling vCPU).
 * Every hook must tolerate any guest-supplied value.
 */
struct hv_platform_ops {
    /* Host pointer for guest linear address gva as seen by the calling
     * vCPU (its page tables), valid up to the end of that 4 KiB guest page;
     * NULL when unmapped or not RAM. */
    void *(*gva_map)(void *vcpu, uint64_t gva, bool write);
    /* Host pointer to guest frame gfn (4 KiB) or NULL when not guest RAM. */
    void *(*gfn_map)(void *dom, uint64_t gfn);
    /* Put the domain's shared_info page at guest frame gfn (and remove it
     * from where it was). 0 or negative errno. */
    int (*map_shared_info)(void *dom, uint64_t gfn);
    /* VCPUOP_initialise/up/down/is_up on vCPU id (already range-checked).
     * initialise gets the struct vcpu_hvm_context copied from the guest. */
    int (*vcpu_initialise)(void *dom, uint32_t id, const void *hvm_ctx);
    int (*vcpu_up)(void *dom, uint32_t id);
    int (*vcpu_down)(void *dom, uint32_t id);
    int (*vcpu_is_up)(void *dom, uint32_t id);
    /* SCHEDOP_shutdown: the domain stops with this SHUTDOWN_* reason;
     * the calling vCPU must not run guest code again. */
    void (*shutdown)(void *dom, unsigned int reason);
    /* Guest console output (already rate-limited, may contain any byte). */
    void (*console_write)(void *dom, const char *buf, size_t len);
    /* Raise the upcall on vCPU id now (inject its vector, wake it), as Xen's
     * hvm_assert_evtchn_irq does when a callback vector is registered: an
     * event that became pending before registration is not lost. */
    void (*assert_upcall)(void *dom, uint32_t id);
    /* The guest's TSC, for pvclock: its rate in kHz (KVM_GET_TSC_KHZ) and
     * its offset from the host's (guest TSC = host RDTSC + *offset, the
     * same for every vCPU of the domain). Called at most once per domain,
     * from a hypercall of vcpu (the calling vCPU's thread: the VMM may ask
     * KVM about that vCPU). 0 or negative errno. NULL or an error: no
     * pvclock (vcpu_time_info stays zero, XENFEAT_hvm_safe_pvclock is not
     * offered) and system time is CLOCK_MONOTONIC since creation. */
    int (*tsc_info)(void *dom, void *vcpu, uint32_t *khz, int64_t *offset);
    /* The guest's physmap, for the reservation calls (hv_memory.c); the
     * VMM owns which frames hold host memory, hv owns the counts.
     * physmap_remove takes what the guest sees at frame gfn out of it:
     * ram_only (decrease_reservation) only a populated RAM frame, whose
     * host memory is released; else (remove_from_physmap) also one of
     * Xen's pages shown there. 1: a RAM frame was released; 0: a Xen page
     * was taken away; -ENOENT: nothing there (a hole, beyond RAM, released
     * before); -EPERM: a frame the guest may not remove (the special
     * pages; a Xen page when ram_only). NULL: every frame is -ENOENT. */
    int (*physmap_remove)(void *dom, uint64_t gfn, bool ram_only);
    /* Give RAM frame gfn a fresh zeroed page (populate_physmap). 1: it
     * held none (host memory is taken again); 0: it held one, now zero;
     * -EINVAL: not a RAM frame (special pages, holes, beyond RAM, a Xen
     * page shown there). NULL: every frame is -EINVAL. */
    int (*physmap_populate)(void *dom, uint64_t gfn);
};

struct hv_domain_config {
    domid_t domid;
    uint32_t max_vcpus;
    uint64_t ram_pages;            /* pages populated at creation */
    /* The reservation's limit (Xen's max_pages: maxmem plus libxl's
     * LIBXL_MAXMEM_CONSTANT); below ram_pages: ram_pages. */
    uint64_t max_pages;
    const struct hv_e820 *e820;    /* XENMEM_memory_map */
    unsigned int nr_e820;
    struct evtchn_host *evtchn;    /* the domain exists there already */
    const struct hv_platform_ops *ops;  /* copied */
    void *opaque;
    /* The IRQ router serving __HYPERVISOR_physdev_op (xenkvm/irq.h); the
     * domain must have been added to it. NULL: physdev_op is -ENOSYS. */
    struct irq_pirq *pirq;
    /* The domain's grant table (xenkvm/gnttab.h) serving
     * __HYPERVISOR_grant_table_op and XENMAPSPACE_grant_table, and the
     * registry its GNTTABOP_copy looks other domains up in. NULL:
     * grant_table_op is -ENOSYS. */
    struct gnttab *gnttab;
    struct gnttab_host *gnttab_host;
};

/* Create the hypercall-layer state of a domain, and register it with the
 * event-channel core as the one woken for the domain's SCHEDOP_poll.
 * NULL on ENOMEM/EINVAL, or if cfg->evtchn has no domain cfg->domid. */
struct hv_domain *hv_domain_create(const struct hv_domain_config *cfg);
/* Unregister from the core and free it; no vCPU may be inside
 * hv_hypercall any more. */
void hv_domain_destroy(struct hv_domain *d);

/* Serve one hypercall of vCPU vcpu_id (vcpu is that vCPU's opaque for the
 * ops). Returns the value for the guest's %rax (0 or a negative errno, or
 * a positive value where Xen returns one). Thread-safe across vCPUs. */
long hv_hypercall(struct hv_domain *d, uint32_t vcpu_id, void *vcpu,
                  const struct hv_call *call);

/* The domain's guest-console budget, shared by console_io and the VMM's PV
 * console ring: a token bucket of 64 KiB refilled at 32 KiB/s. Returns how
 * many of want bytes may be shown now; the rest is counted as dropped
 * (hv_stats.console_dropped). Thread-safe. */
size_t hv_console_allow(struct hv_domain *d, size_t want);

/* The domain's reservation (Xen's tot_pages and max_pages): pages it
 * holds (populated RAM frames, and increase_reservation's unmapped pages)
 * and the most it may hold. Either pointer may be NULL. Thread-safe. */
void hv_mem_get(struct hv_domain *d, uint64_t *tot_pages, uint64_t *max_pages);
/* Set max_pages (XEN_DOMCTL_max_mem, as `xl mem-set` does with the new
 * target plus LIBXL_MAXMEM_CONSTANT). Below tot_pages is allowed, as in
 * Xen: nothing is taken away, the guest only cannot grow. Thread-safe. */
void hv_mem_set_max(struct hv_domain *d, uint64_t max_pages);

/* Write the 128 stubs described above into page (4 KiB host memory). */
void hv_fill_hypercall_page(void *page);
/* The guest called in this mode at one of Xen's latch points of the
 * shared_info layout (hvm_latch_shinfo_size: the hypercall page's MSR,
 * HVM_PARAM_CALLBACK_IRQ): long_mode false latches the i386 layout of
 * shared_info and vcpu_info (evtchn_domain_latch_shinfo), true x86_64's;
 * the wallclock is rewritten in it. Call it from the writing vCPU. */
void hv_latch_shinfo(struct hv_domain *d, bool long_mode);

/* HVM params the VMM sets (STORE_PFN, CONSOLE_EVTCHN, ...) and reads.
 * Out-of-range idx: -EINVAL. */
int hv_set_param(struct hv_domain *d, uint32_t idx, uint64_t val);
int hv_get_param(struct hv_domain *d, uint32_t idx, uint64_t *val);

/* The vector to inject for an event upcall on vCPU vcpu_id: the per-vCPU
 * HVMOP_set_evtchn_upcall_vector one, else HVM_PARAM_CALLBACK_IRQ's vector
 * (type VECTOR), else 0 (nothing registered: no interrupt). *legacy (if
 * not NULL) tells which: the per-vCPU vector is a LAPIC interrupt the
 * guest EOIs; the CALLBACK_IRQ vector is injected by the hypervisor
 * directly whenever evtchn_upcall_pending is set and the guest can take
 * interrupts, never through the LAPIC, and the guest does not EOI it
 * (Xen's hvm_vcpu_has_pending_irq; Linux sends no EOI for it). */
uint8_t hv_upcall_vector(struct hv_domain *d, uint32_t vcpu_id, bool *legacy);

/* An upcall interrupt of vcpu_id has been raised and not yet taken: a
 * vector is registered and the vCPU's evtchn_upcall_pending is set (the
 * guest's handler clears it first thing). Lock-free; for the VMM's check
 * at every exit that the interrupt is taken as soon as the guest can. */
bool hv_upcall_outstanding(struct hv_domain *d, uint32_t vcpu_id);

/* Delivery hook, called by the VMM's evtchn platform ops from any thread:
 * an upcall was raised for vcpu_id (wakes it from SCHEDOP_block/poll).
 * SCHEDOP_poll's wake-ups need no hook: hv_domain_create registers the
 * domain with the core (evtchn_domain_set_poll_wake). */
void hv_vcpu_kick(struct hv_domain *d, uint32_t vcpu_id);
/* The domain is stopping: every vCPU sleeping in block/poll returns and
 * later hypercalls that would sleep return at once. */
void hv_domain_stop(struct hv_domain *d);

/* Guest-memory copies for handlers and entry points: every byte goes
 * through ops->gva_map, so a bad pointer gives -EFAULT and nothing else.
 * 0 or -EFAULT. */
int hv_copy_from_guest(struct hv_domain *d, void *vcpu, void *dst,
                       uint64_t gva, size_t len);
int hv_copy_to_guest(struct hv_domain *d, void *vcpu, uint64_t gva,
                     const void *src, size_t len);

/* Counters for tests and `xenkvm list`. */
struct hv_stats {
    uint64_t hypercalls;
    uint64_t enosys;
    uint64_t console_dropped;   /* bytes dropped by the rate limit */
    uint64_t timer_virqs;       /* timer expiries (each sends VIRQ_TIMER) */
};
void hv_get_stats(struct hv_domain *d, struct hv_stats *out);

/* Every hypercall d made so far, by number and sub-op (its first
 * argument; for set_timer_op, whose first argument is a time, and for
 * first arguments >= HV_STAT_SUBOPS - 1, subop is HV_STAT_SUBOPS - 1):
 * fn(arg, name, nr, subop, count) once per pair with a non-zero count, in
 * order; name is the hypercall's (NULL for one xenkvm does not have). */
#define HV_STAT_SUBOPS 64
void hv_call_stats(struct hv_domain *d,
                   void (*fn)(void *arg, const char *name, unsigned int nr,
                              unsigned int subop, uint64_t count),
                   void *arg);

#endif /* XENKVM_HV_H */

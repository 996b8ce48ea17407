/* Private state of the VMM, shared by the .c files of src/vmm. */
#ifndef XENKVM_VMM_INT_H
#define XENKVM_VMM_INT_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "xenkvm/backends.h"
#include "xenkvm/gnttab.h"
#include "xenkvm/hv.h"
#include "xenkvm/store.h"
#include "xenkvm/util.h"
#include "xenkvm/vmm.h"

#define VMM_PAGE 4096ull
/* Xen's HVM debug port: a guest writes bytes, the log shows its lines
 * ("(dN) text"); a line is cut at VMM_DBG_LINE - 1 bytes, as Xen's
 * DOMAIN_PBUF_SIZE does. */
#define VMM_DBG_PORT 0xe9
#define VMM_DBG_LINE 200
/* The MSR of CPUID leaf 0x40000002 through which the guest asks for the
 * hypercall page (vmm_cpuid.c advertises it, vmm_vcpu.c serves it). */
#define VMM_HYPERCALL_MSR 0x40000000u

struct vmm_vcpu {
    struct vmm_domain *d;
    uint32_t id;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool thread_started;
    _Atomic bool in_thread;       /* its thread is running */
    /* Requests from other threads, acted on between KVM_RUN calls. */
    _Atomic unsigned int req;
    /* A per-vCPU upcall its LAPIC refused (software-disabled): signalled
     * again at each exit until taken (vmm_irqwin.c signal_vector). */
    _Atomic bool upcall_owed;
    /* VCPUOP_initialise context waiting to be loaded, VCPUOP_up */
    bool ctx_valid;               /* under d->lock */
    bool initialised;             /* under d->lock */
    bool up;                      /* under d->lock */
    uint8_t ctx[256];             /* struct vcpu_hvm_context */
    /* Interrupt window kept by single-stepping and re-kicks
     * (vmm_irqwin.c); its own thread only. */
    bool irqwin_stepping;         /* KVM_GUESTDBG_SINGLESTEP is on */
    bool irqwin_gave_up;          /* stepping stopped short: re-kicks */
    unsigned int irqwin_steps;    /* steps in this episode */
    bool irqwin_rekick;           /* irqwin_timer is armed */
    long irqwin_rekick_ns;        /* its period */
    bool irqwin_timer_made;
    timer_t irqwin_timer;         /* periodic VMM_KICK_SIGNAL to us */
    /* Xen's _VPF_down (vmm_down.c): written by its own thread, by
     * VCPUOP_up/down and at creation; read by any. */
    _Atomic bool down;
    bool down_timer_made;         /* own thread only, as the two below */
    timer_t down_timer;           /* its periodic look at the MP state */
    uint64_t down_looked_ns;
};

#define VMM_REQ_STOP  1u          /* leave the guest, end the thread */
#define VMM_REQ_LOAD  2u          /* load ctx and make runnable */
#define VMM_REQ_PARK  4u          /* VCPUOP_down: wait until up or stop */
#define VMM_REQ_UPCALL 8u         /* a legacy-vector upcall to inject */

/* Makes KVM_RUN return -EINTR; blocked in vCPU threads outside KVM_RUN. */
#define VMM_KICK_SIGNAL SIGUSR1

/* vmm_vcpu.c. From any thread: set req bits of v and get it out of
 * KVM_RUN. */
void vmm_vcpu_request(struct vmm_vcpu *v, unsigned int req);
/* Start v's thread (it runs the guest from its loaded state). 0 or -errno;
 * no-op if started. Under d->lock or before the domain is published. */
int vmm_vcpu_start_thread(struct vmm_vcpu *v);
/* KVM_CREATE_VCPU, its kvm_run mapping, CPUID. 0 or -errno (err says). */
int vmm_vcpu_setup(struct vmm_vcpu *v, char *err, size_t errlen);
/* Undo vmm_vcpu_setup (whatever part of it was done). */
void vmm_vcpu_teardown(struct vmm_vcpu *v);
/* Install the kick signal's handler (once per process is enough). */
void vmm_vcpu_signals_init(void);
/* In v's own thread: a timer that sends VMM_KICK_SIGNAL to this thread
 * (timer_delete it before the thread ends). 0 or -errno (logged). */
int vmm_kick_timer_make(struct vmm_vcpu *v, timer_t *t);
/* Fire t every period_ns from now; 0 disarms it. 0 or -errno. */
int vmm_kick_timer_arm(timer_t t, long period_ns);

/* vmm_down.c: Xen's _VPF_down (see its top comment). _set: any thread,
 * v is down or up now; the last vCPU going down powers the domain off.
 * The rest in v's own thread: _thread_init/_fini around its loop, _look
 * after KVM_RUN returned -EINTR/-EAGAIN (reads its MP state), _ran after a
 * real exit (it runs, so it is up). */
void vmm_down_set(struct vmm_vcpu *v, bool down);
void vmm_down_thread_init(struct vmm_vcpu *v);
void vmm_down_thread_fini(struct vmm_vcpu *v);
void vmm_down_look(struct vmm_vcpu *v);
static inline void vmm_down_ran(struct vmm_vcpu *v)
{
    if (atomic_load_explicit(&v->down, memory_order_relaxed))
        vmm_down_set(v, false);
}

/* Where one of Xen's pages is shown to the guest (vmm_mem.c). */
struct vmm_xenpage {
    uint64_t gfn;                 /* ~0: nowhere (atomic: vmm_gfn_map) */
    int slot;                     /* memslot when outside RAM, or -1 */
};
#define VMM_XP_SHINFO 0u
#define VMM_XP_GNTTAB 1u

struct vmm_domain {
    struct vmm_host *h;
    domid_t domid;
    char name[64];
    int vmfd;
    int memfd;
    uint8_t *ram;                 /* [0, ram_size) guest physical */
    uint64_t ram_size;
    uint8_t *special;             /* VMM_SPECIAL_PAGES pages */
    /* Xen's own pages the guest maps with add_to_physmap: shared_info
     * (VMM_XP_SHINFO) then the grant table's pages (VMM_XP_GNTTAB + i,
     * gnttab_config.pages), nr_xp of them, contiguous in the memfd after
     * the special pages and in this host mapping. */
    uint8_t *shinfo;              /* = the first of them */
    struct vmm_xenpage *xp;       /* where each is shown, under lock */
    uint32_t nr_xp;
    /* RAM frames whose host memory the guest gave back (a bit per frame,
     * set by decrease_reservation, cleared by populate_physmap; atomic).
     * The frame stays in its memslot: see vmm_mem_physmap_remove. */
    uint64_t *ram_absent;
    uint64_t max_mem_bytes;       /* xl.cfg maxmem (>= ram_size) */
    uint32_t next_slot;
    uint32_t nr_vcpus;
    struct vmm_vcpu *vcpus;
    /* xl.cfg's grant-table limits, and the table (src/gnttab). */
    uint32_t max_grant_frames, max_maptrack_frames;
    struct gnttab *gnttab;
    struct hv_domain *hv;
    struct hv_e820 e820[HV_MAX_E820];
    unsigned int nr_e820;
    enum vmm_action on_poweroff, on_reboot, on_crash, on_watchdog;

    uint64_t entry;               /* PVH entry point */
    /* KVM_XEN_HVM_CONFIG's INTERCEPT_HCALL is on: VMCALL/VMMCALL exit as
     * KVM_EXIT_XEN (set in the "KVM VM" step, read-only after it). */
    bool xen_hcall;
    /* VMCALL/VMMCALL sites the loader patched (vmm_hcall_patch.c). */
    unsigned int hcall_sites;
    /* Port 0xe9 (Xen's HVM debug port): the line being written. */
    pthread_mutex_t dbg_lock;
    char dbg_line[VMM_DBG_LINE];
    size_t dbg_len;               /* under dbg_lock */
    struct util_ratelimit log_rl; /* vmm_log_guest's budget */
    /* "xenkvm: domain 'NAME' (domid N): ", set once the domid is known */
    char log_prefix[128];

    unsigned int steps_done;      /* vmm_domain.c's set-up steps done */
    pthread_mutex_t lock;         /* vCPU up/init state, memslots, outcome */
    pthread_cond_t vcpu_cv;       /* a parked vCPU's up flag or stopping changed */
    _Atomic int outcome;          /* enum vmm_outcome */
    unsigned int shutdown_reason;
    _Atomic bool stopping;
    _Atomic unsigned int threads_running;
    bool started, ended_reported;
    _Atomic uint64_t start_ns, end_ns; /* vmm_now_ns(): started, ended */

    struct {                          /* src/backends/console.c */
        struct be_console *be;
        evtchn_port_t guest_port;     /* HVM_PARAM_CONSOLE_EVTCHN */
    } con;

    /* Host interrupts (vmm_irq.c) */
    bool pirq_added;                  /* known to the PIRQ router */
    struct vmm_pin **pins;            /* IOAPIC pins, nr_pins of them */
    unsigned int nr_pins;
    struct vmm_iomem_map *iomem;      /* host MMIO mapped into the guest */
    unsigned int nr_iomem;
    _Atomic bool irq_released;        /* lines released at death */

    /* XenStore (vmm_backends.c): what the service serves for it */
    struct be_xenstore_dom *xs;       /* atomic: removed once, at death */

    /* Its disks (vmm_backends.c), in xl.cfg's order, under disk_lock; be is
     * removed once (death, teardown), hot-unplugged or not, so an unplug
     * the guest never answers still ends before its memory goes. */
    struct vmm_disk {
        struct be_blk_disk *be;
        char vdev[16];
        bool detached;                /* block-detach was asked */
    } *disks;
    unsigned int nr_disks;
    /* A detach (control thread) and the release at death (any thread)
     * of the same disk one after the other. */
    pthread_mutex_t disk_lock;

    /* Its vifs (vmm_net.c), in xl.cfg's order, under vif_lock; each be
     * removed once (death, teardown). */
    struct vmm_vif {
        struct be_net_vif *be;
        char name[16];                /* "vif<domid>.<devid>" or vifname */
    } *vifs;
    unsigned int nr_vifs;
    pthread_mutex_t vif_lock;
};

struct vmm_host {
    unsigned int steps_done;      /* vmm_host.c's set-up steps done */
    int kvmfd;
    /* The host's KVM does not open an interrupt window by itself (see
     * vmm_probe.c): keep it ourselves (vmm_irqwin.c). */
    bool irqwin_assist;
    int vcpu_mmap_size;
    /* KVM_CAP_XEN_HVM offers INTERCEPT_HCALL (and XENKVM_HCALL_ENTRY is not
     * "patch"): domains get VMCALL/VMMCALL as KVM_EXIT_XEN. */
    bool xen_hcall;
    struct kvm_cpuid2 *supported_cpuid;
    struct evtchn_host *evtchn;
    struct gnttab_host *gnttab;   /* every table; domain 0's maps only */
    struct gnttab *gnttab0;
    struct vmm_host_config cfg;
    FILE *console;

    pthread_mutex_t lock;         /* domains[] */
    struct vmm_domain *domains[VMM_MAX_DOMAINS];
    int wake_pipe[2];             /* domain ended / interrupted */
    _Atomic bool interrupted;

    /* The dom0 services (src/backends, vmm_backends.c) and the one
     * event loop they, the host interrupts and the control server run on. */
    struct util_loop *loop;
    struct be_xenstore *xs;
    struct be_pingpong *pingpong;     /* or NULL */
    struct be_blkback *blk;
    struct be_netback *netback;
    /* The networks vifs plug into (vmm_net.c), made at first use. */
    pthread_mutex_t net_lock;
    struct vmm_net *nets;

    /* Host interrupts (vmm_irq.c) and the control socket (vmm_ctl.c) */
    struct irq_icu *icu;
    struct irq_pirq *pirq;
    struct config_host_mmio *mmio;    /* copy of the host file's mmio= */
    unsigned int nr_mmio;
    struct vmm_ctl *ctl;
    /* Held by the control thread while it prints (irq_icu_format calls a
     * sink's describe after dropping the ICU lock) and while a domain's
     * IOAPIC pins are freed, so a listing never reads a freed pin. */
    pthread_mutex_t sink_lock;
};

struct vmm_iomem_map {
    void *base;                       /* mmap of the backing */
    size_t len;
    uint32_t slot;
    uint64_t gfn, nr;
};

/* vmm_host.c: may domains get VMCALL/VMMCALL as KVM_EXIT_XEN, given
 * KVM_CHECK_EXTENSION(KVM_CAP_XEN_HVM)'s answer (its flags, or <= 0)? */
bool vmm_xen_hcall_usable(int cap_xen_hvm);

/* vmm_domain.c */
/* The published domain dom (never freed before the host), or NULL. */
struct vmm_domain *vmm_domain_find(struct vmm_host *h, domid_t dom);
/* Is d still a domain for the tools: live, or ended and preserved? */
bool vmm_domain_visible(const struct vmm_domain *d);
/* Make every vCPU of d leave the guest (idempotent, any thread). */
void vmm_domain_stop(struct vmm_domain *d);
/* Record how d ended (the first outcome wins), log it, stop it. */
void vmm_domain_end(struct vmm_domain *d, enum vmm_outcome o,
                    unsigned int reason);
/* The last vCPU thread of d has left: release what it held, wake
 * vmm_host_wait. */
void vmm_domain_dead(struct vmm_domain *d);
/* vmm_host_destroy: stop every domain and join its vCPU threads; then,
 * once the host's services are quiet, undo every domain's set-up. */
void vmm_domains_stop_all(struct vmm_host *h);
void vmm_domains_free_all(struct vmm_host *h);

/* vmm_platform.c: the hooks of the event-channel core and of hv. */
void vmm_evtchn_ops(struct evtchn_platform_ops *ops);
extern const struct hv_platform_ops vmm_hv_ops;
extern const struct gnttab_ops vmm_gnttab_ops;

/* `xl mem-set`: the reservation's limit to kib + 1 MiB, memory/target
 * to kib (the caller checked kib against static-max). 0 or -errno. */
int vmm_domain_set_target(struct vmm_domain *d, uint64_t kib);

/* vmm_mem.c */
int vmm_mem_init(struct vmm_domain *d, char *err, size_t errlen);
/* A new memslot: size bytes at guest-physical gpa backed by host memory
 * at host. 0 and *slot, or -errno (KVM_SET_USER_MEMORY_REGION's). */
int vmm_mem_slot_add(struct vmm_domain *d, uint64_t gpa, uint64_t size,
                     void *host, uint32_t *slot);
void vmm_mem_fini(struct vmm_domain *d);
/* d has ended for good (not preserved): give its guest memory back to the
 * host now (a domain slot lives until the host ends; a guest that reboots
 * in a loop would keep every old RAM otherwise). */
void vmm_mem_release(struct vmm_domain *d);
void *vmm_gfn_map(struct vmm_domain *d, uint64_t gfn);
void *vmm_gpa_map(struct vmm_domain *d, uint64_t gpa, size_t len);
/* Translate a linear address with the paging state in sregs. */
void *vmm_gva_map(struct vmm_domain *d, const struct kvm_sregs *sregs,
                  uint64_t gva, bool write);
/* XENMAPSPACE_shared_info / _grant_table: show Xen page idx (VMM_XP_*)
 * at guest frame gfn, and no longer where it was; a page of another kind
 * already at gfn is removed from it, as Xen's physmap replace does. 0, or
 * -EINVAL for a frame the guest may not use (special pages, the APIC
 * window, beyond 2^40), or -errno. */
int vmm_map_xenpage(struct vmm_domain *d, uint32_t idx, uint64_t gfn);
/* hv_platform_ops.physmap_remove and physmap_populate (xenkvm/hv.h) on
 * d's memfd. A released frame stays in the RAM memslot (unmapping one
 * page of a slot would split it): its memfd range is a hole, so a guest
 * that touches it before populating it again reads zeros and costs the
 * host a page again, at most its RAM size in all (the memfd never grows);
 * the reservation (hv's tot_pages) does not count such a page, and
 * populate_physmap punches it out again so the new page reads zero. */
int vmm_mem_physmap_remove(struct vmm_domain *d, uint64_t gfn, bool ram_only);
int vmm_mem_physmap_populate(struct vmm_domain *d, uint64_t gfn);

/* vmm_vcpu.c. The KVM_EXIT_XEN_HCALL in run (a vCPU's kvm_run, registers as KVM
 * reported them) served by hv_hypercall of hv for vCPU vcpu_id (vcpu: its
 * opaque for the hv ops); the result is put in run->xen.u.hcall.result,
 * which KVM loads into %rax at the next KVM_RUN. 0, or -EINVAL for a
 * KVM_EXIT_XEN of another type (nothing served). */
int vmm_xen_hcall(struct hv_domain *hv, uint32_t vcpu_id, void *vcpu,
                  struct kvm_run *run);
/* One byte written by the guest to VMM_DBG_PORT: ends or extends d's
 * current line; a complete line goes to d's console log as "(dN) line",
 * within the guest's console budget. Any thread. */
void vmm_dbg_port_putc(struct vmm_domain *d, uint8_t ch);

/* vmm_hcall_patch.c: VMCALL/VMMCALL hypercall functions of a loaded
 * kernel rewritten to the I/O-port entry (the file's top comment says
 * what is matched and why). */
struct vmm_hcall_seg {
    uint8_t *mem;                 /* the segment's bytes as loaded */
    uint64_t vaddr;               /* link address of mem[0] */
    uint64_t len;
};
/* Is there a hypercall function at segs[s].mem + off? The offset of its
 * VMCALL/VMMCALL instruction (off, or off + 4 after an ENDBR64), or -1.
 * segs are all the image's executable segments (jump targets). */
long vmm_hcall_site_at(const struct vmm_hcall_seg *segs, unsigned int nseg,
                       unsigned int s, uint64_t off);
/* Rewrite every site of segs to e6 f5 90; how many. */
unsigned int vmm_hcall_patch_segs(const struct vmm_hcall_seg *segs,
                                  unsigned int nseg);
/* The ELF elf (len bytes, untrusted) has been loaded into ram (ram_size
 * bytes, at its p_paddr): patch the sites in its executable PT_LOAD
 * segments. The count, or -ENOEXEC (malformed, a segment outside ram),
 * -E2BIG (more than 16 executable segments); nothing patched then. */
int vmm_hcall_patch_elf(uint8_t *ram, uint64_t ram_size, const uint8_t *elf,
                        size_t len);
/* The loader's call, once per domain: unless d gets KVM_EXIT_XEN, patch
 * the kernel just loaded into d's RAM and log how many sites. */
void vmm_hcall_patch(struct vmm_domain *d, const uint8_t *elf, size_t len);

/* vmm_cpuid.c */
int vmm_cpuid_setup(struct vmm_vcpu *v);

/* vmm_elf.c: an untrusted ELF image's headers, whatever its class. */
struct vmm_elf {
    const uint8_t *f;
    size_t len;
    bool is64;
    uint16_t machine;
    uint64_t phoff;
    uint32_t phnum, phentsize;
};
struct vmm_elf_phdr {
    uint32_t type, flags;
    uint64_t offset, vaddr, paddr, filesz, memsz;
};
/* Read f's ELF header into e. 0, -ENOEXEC (no ELF magic),
 * -EPROTONOSUPPORT (not a little-endian ELF32/ELF64), -EBADMSG
 * (truncated). */
int vmm_elf_open(const uint8_t *f, size_t len, struct vmm_elf *e);
/* Program header i of e into out; false if it lies outside the image or
 * is not there. The segment it describes is not checked. */
bool vmm_elf_phdr(const struct vmm_elf *e, uint32_t i,
                  struct vmm_elf_phdr *out);

/* vmm_loader.c */
int vmm_load_pvh(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                 char *err, size_t errlen);
int vmm_load_pvh_image(struct vmm_domain *d,
                       const struct vmm_domain_config *cfg,
                       const uint8_t *image, size_t len, char *err,
                       size_t errlen);
int vmm_setup_boot_vcpu(struct vmm_vcpu *v, uint64_t entry, uint64_t ebx);

/* vmm_bzimage.c: the kernel inside a Linux bzImage. */
#define VMM_BZIMAGE_MAX_OUT (512ull << 20)  /* cap on the unpacked size */
/* f has a bzImage setup header ("HdrS" at 0x202). */
bool vmm_bzimage_is(const uint8_t *f, size_t len);
/* The payload of bzImage f (len bytes, untrusted), decompressed (XZ, LZ4
 * legacy, ZSTD, GZIP, or stored) into a new buffer *out of *outlen bytes
 * (free() it), at most VMM_BZIMAGE_MAX_OUT; *format names the compression.
 * 0, or -ENOEXEC (bad header, payload out of range, unknown compression,
 * corrupt stream), -EFBIG (states or produces more than allowed or
 * stated), -ENOMEM; err says which in one line. */
int vmm_bzimage_unpack(const uint8_t *f, size_t len, uint8_t **out,
                       size_t *outlen, const char **format, char *err,
                       size_t errlen);

/* vmm_acpi.c: the domain's ACPI tables (RSDP, XSDT, FADT, DSDT, MADT) in
 * the reserved page VMM_ACPI_GPA (e820 ACPI), pointed to by
 * hvm_start_info.rsdp_paddr. */
#define VMM_ACPI_GPA  0x8000ull     /* right after the start_info area */
#define VMM_ACPI_SIZE 0x1000ull
/* Write the tables for nr_vcpus vCPUs (1..VMM_MAX_VCPUS) into buf (len
 * bytes, seen by the guest at gpa, below 4 GiB); *rsdp_gpa is the RSDP's
 * address. 0, -EINVAL (vCPU count), -ENOSPC (len too small). */
int vmm_acpi_build(uint8_t *buf, size_t len, uint64_t gpa, uint32_t nr_vcpus,
                   uint64_t *rsdp_gpa);
/* The byte sum of p[0..len) (0 for a table with a right checksum). */
uint8_t vmm_acpi_sum(const uint8_t *p, size_t len);
int vmm_load_hvm_context(struct vmm_vcpu *v, const void *ctx);

/* vmm_backends.c: the dom0 services' host and domain steps. */
int vmm_store_init(struct vmm_host *h, char *err, size_t errlen);
void vmm_store_fini(struct vmm_host *h);
int vmm_store_domain_setup(struct vmm_domain *d);
/* Idempotent, any thread (the domain's death, its teardown). */
void vmm_store_domain_release(struct vmm_domain *d);
int vmm_dom0pp_start(struct vmm_host *h);
void vmm_dom0pp_stop(struct vmm_host *h);
int vmm_blk_init(struct vmm_host *h, char *err, size_t errlen);
void vmm_blk_fini(struct vmm_host *h);
/* Serve the domain's disk = [ ... ] (after its XenStore step). */
int vmm_disks_setup(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                    char *err, size_t errlen);
/* Every disk gone (I/O finished, grants unmapped, directories removed);
 * idempotent, any thread but the loop's (the domain's death, its
 * teardown). Before its memory is released. */
void vmm_disks_release(struct vmm_domain *d);
/* Hot-unplug the disk named vdev, as `xl block-detach`: 0, -ENOENT. */
int vmm_disk_detach(struct vmm_domain *d, const char *vdev);
/* What every dom0 service is handed (the loop, the cores, the store). */
struct be_env vmm_be_env(struct vmm_host *h);

/* ---- vmm_net.c: networks and vifs ---- */
/* The host step "network backend": netback; networks come at first use. */
int vmm_net_init(struct vmm_host *h, char *err, size_t errlen);
/* Its down: netback and every network (every vif removed first). */
void vmm_net_fini(struct vmm_host *h);
/* Serve the domain's vif = [ ... ] (after its XenStore step). */
int vmm_vifs_setup(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                   char *err, size_t errlen);
/* Every vif gone (nothing of the guest mapped, directories removed), with
 * its report line; idempotent, any thread. */
void vmm_vifs_release(struct vmm_domain *d);

/* vmm_irq.c */
int vmm_irq_init(struct vmm_host *h, char *err, size_t errlen);
void vmm_irq_stop(struct vmm_host *h);
void vmm_irq_fini(struct vmm_host *h);
int vmm_irq_domain_setup(struct vmm_domain *d,
                         const struct vmm_domain_irq *cfg, char *err,
                         size_t errlen);
/* The domain has ended (last vCPU out): release its lines (XSA-360). */
void vmm_irq_domain_dead(struct vmm_domain *d);
void vmm_irq_domain_free(struct vmm_domain *d);

/* vmm_pin.c: a guest's virtual IOAPIC pin as a sink of the ICU, through
 * KVM irqfd (+ resamplefd for level lines: the guest's EOI of the pin
 * reaches irq_icu_eoi). */
struct vmm_pin;
/* How the pin is registered with KVM. NULL ops: ioctl(vm_fd, KVM_IRQFD). */
struct vmm_pin_ops {
    /* Assign (deassign=false) or deassign the irqfd fd on gsi, with
     * resamplefd (or -1). 0 or -errno. */
    int (*irqfd)(void *opaque, int fd, uint32_t gsi, int resamplefd,
                 bool deassign);
};
/* Create the pin sink for gsi of the VM and bind line to it. 0 or -errno
 * (-ENODEV: the line has no source, -EEXIST: line bound elsewhere). */
int vmm_pin_create(struct irq_icu *icu, unsigned int line, int vm_fd,
                   const struct vmm_pin_ops *ops, void *opaque, uint32_t gsi,
                   struct vmm_pin **out);
/* Unbind, deassign and free. */
void vmm_pin_destroy(struct vmm_pin *p);
/* The resample fd of a level pin (KVM writes it at the guest's EOI), -1
 * for edge pins. */
int vmm_pin_resamplefd(const struct vmm_pin *p);
/* The irqfd the pin writes to raise the guest's GSI. */
int vmm_pin_irqfd(const struct vmm_pin *p);

/* vmm_ctl.c: the control verbs (list, console, shutdown, destroy, evtchn
 * list, irq list/raise) on a control server at path, on h->loop. */
int vmm_ctl_start(struct vmm_host *h, const char *path, char *err,
                  size_t errlen);
void vmm_ctl_stop(struct vmm_host *h);
/* CLOCK_MONOTONIC in ns. */
uint64_t vmm_now_ns(void);

/* Build d->log_prefix (after d->domid is set, before d is shared). */
void vmm_log_prefix_set(struct vmm_domain *d);
void vmm_log(struct vmm_domain *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Guest-caused messages: vmm_log within the domain's log budget. */
void vmm_log_guest(struct vmm_domain *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* vmm_irqwin.c: event upcalls into the guest (see its top comment).
 * vmm_upcall_raise: any thread, an upcall for vCPU vcpu was raised.
 * The rest run in the vCPU's own thread: _thread_init at its start (the
 * kick signal blocked but inside KVM_RUN), _eat_kicks after KVM_RUN
 * returned -EINTR, _exit between two KVM_RUNs (registers synced), _fini at
 * its end. */
void vmm_upcall_raise(struct vmm_domain *d, uint32_t vcpu);
void vmm_irqwin_thread_init(struct vmm_vcpu *v);
void vmm_irqwin_eat_kicks(void);
void vmm_irqwin_exit(struct vmm_vcpu *v);
void vmm_irqwin_fini(struct vmm_vcpu *v);

/* vmm_rawvm.c: a bare VM (irqchip, memsz bytes of RAM at 0 in slot 0, one
 * vCPU with the supported CPUID, its kvm_run mapped), for probes and
 * baselines. 0 or -errno; _destroy undoes any part of it. */
struct vmm_raw_vm {
    int vm, vcpu;
    uint8_t *mem;
    size_t memsz;
    struct kvm_run *run;
    size_t run_size;
};
int vmm_raw_vm_create(int kvm_fd, size_t memsz, struct vmm_raw_vm *r);
void vmm_raw_vm_destroy(struct vmm_raw_vm *r);

/* vmm_probe.c: run the interrupt-window probe of the host's KVM in a
 * throw-away VM for rounds rounds; the count of late interrupts, or
 * -errno. */
enum vmm_probe_mode { VMM_PROBE_IF1, VMM_PROBE_IF0, VMM_PROBE_IF0_WIN,
                      VMM_PROBE_IF0_STEP };
int vmm_probe_irq_window(int kvm_fd, enum vmm_probe_mode mode, int rounds,
                         int *exits);

#endif

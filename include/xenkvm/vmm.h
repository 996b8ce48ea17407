/*
 * xenkvm VMM: Xen PVH domains as KVM VMs, all in one process.
 *
 * The process is domain 0. Each guest domain is a KVM VM with the in-kernel
 * irqchip, guest RAM from a memfd, one thread per vCPU, Xen's CPUID leaves,
 * the hypercall page (see xenkvm/hv.h for the stub shape), the event-channel
 * core (xenkvm/evtchn.h) and the domain-0 services (console ring, XenStore
 * ring when a store is attached).
 *
 * Guest physical layout:
 *   [0, mem)                  RAM (e820 RAM, 0xA0000-0x100000 reserved)
 *   VMM_SPECIAL_GPA + n*4K     special pages (console, store, ...): e820
 *                             reserved, like Xen's "special pfns"
 *   start_info, its memmap and the command line at VMM_START_INFO_GPA;
 *   modules (ramdisk) at the top of RAM.
 */
#ifndef XENKVM_VMM_H
#define XENKVM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <xen/xen.h>

#include "xenkvm/config.h"
#include "xenkvm/evtchn.h"
#include "xenkvm/gnttab.h"
#include "xenkvm/irq.h"

#define VMM_SPECIAL_GPA     0xfeff0000ull
#define VMM_SPECIAL_PAGES   16
#define VMM_SPECIAL_CONSOLE 0      /* index of the console ring page */
#define VMM_SPECIAL_STORE   1      /* index of the XenStore ring page */
#define VMM_START_INFO_GPA  0x1000ull
#define VMM_MAX_DOMAINS     64
#define VMM_MAX_VCPUS       64

struct vmm_host;
struct vmm_domain;

enum vmm_action {               /* xl.cfg on_poweroff/reboot/crash/watchdog */
    VMM_ACTION_DESTROY,
    VMM_ACTION_PRESERVE,        /* keep it (state visible) until exit */
    VMM_ACTION_RESTART,         /* the caller builds it again (as xl) */
};

/* How a domain ended. */
enum vmm_outcome {
    VMM_RUNNING,
    VMM_SHUTDOWN,      /* SCHEDOP_shutdown: see shutdown_reason */
    VMM_CRASHED,       /* triple fault, internal error, unhandled exit */
    VMM_KILLED,        /* destroyed by the host (Ctrl-C, host error) */
};

/* Host interrupts and MMIO given to one domain (docs/irq.md, "In the
 * VMM"): xl.cfg irqs= / iomem= / irq_pins=, or the device tree. */
struct vmm_domain_irq {
    const uint32_t *grants;    /* host lines it may map as PIRQs */
    unsigned int nr_grants;
    const struct config_iomem *iomem;  /* host frames -> guest frames */
    unsigned int nr_iomem;
    const struct config_pin *pins;     /* host line -> IOAPIC pin */
    unsigned int nr_pins;
};

struct vmm_domain_config {
    const char *name;          /* required, unique */
    uint64_t mem_bytes;        /* RAM; 0: 64 MiB */
    /* xl.cfg maxmem: the reservation's limit (XENMEM_maximum_reservation
     * is this plus libxl's 1 MiB). 0: mem_bytes. Above mem_bytes libxl
     * builds a PVH guest with populate-on-demand, which xenkvm does not
     * have; below it libxl's build fails: both refused. */
    uint64_t max_mem_bytes;
    uint32_t vcpus;            /* 0: 1 */
    const char *kernel;        /* PVH ELF (XEN_ELFNOTE_PHYS32_ENTRY) */
    const char *ramdisk;       /* optional: start_info module 0 */
    const char *cmdline;       /* optional */
    enum vmm_action on_poweroff, on_reboot, on_crash, on_watchdog;
    struct vmm_domain_irq irq; /* all empty: no host interrupts, no MMIO */
    /* xl.cfg's per-domain limits; 0: libxl's default (VMM_DEFAULT_*). */
    uint32_t max_event_channels;  /* highest event-channel port the guest gets */
    uint32_t max_grant_frames;    /* the guest's grant table's size limit */
    uint32_t max_maptrack_frames; /* its mappings of others' grants;
                                   * xl.cfg's 0 is VMM_NO_MAPTRACK */
    /* disk = [ ... ]: served by blkback from the start (copied). */
    const struct config_disk *disks;
    unsigned int nr_disks;
    /* vif = [ ... ]: served by netback from the start (copied). */
    const struct config_vif *vifs;
    unsigned int nr_vifs;
};

/* libxl's defaults and Xen's bounds for those limits (xl.cfg(5)): ports
 * 1..131071 (the FIFO ABI's last port), grant frames 1..64 and maptrack
 * frames 0..1024 (Xen's default gnttab_max_frames / max_maptrack_frames). */
#define VMM_DEFAULT_MAX_EVENT_CHANNELS 1023u
#define VMM_MAX_EVENT_CHANNELS (EVTCHN_FIFO_NR_CHANNELS - 1u)
#define VMM_DEFAULT_MAX_GRANT_FRAMES GNTTAB_DEFAULT_MAX_FRAMES
#define VMM_MAX_GRANT_FRAMES 64u
#define VMM_DEFAULT_MAX_MAPTRACK_FRAMES GNTTAB_DEFAULT_MAX_MAPTRACK_FRAMES
#define VMM_MAX_MAPTRACK_FRAMES 1024u
#define VMM_NO_MAPTRACK UINT32_MAX      /* max_maptrack_frames = 0 */

struct vmm_host_config {
    FILE *console;             /* guest output; NULL: stdout */
    bool prefix_console;       /* prefix lines with "name: " */
    bool quiet;                /* no lifecycle messages on stderr */
    /* The XenStore's Unix socket for tools (xenstore-ls ...); NULL or "":
     * none. The store itself always serves the guests' rings. */
    const char *store_socket;
    /* Domain 0 answers seed 002's ping-pong (guests/pingpong role=alloc
     * peer=0): see src/backends/pingpong.c. */
    bool dom0_pingpong;
    /* Host interrupt lines and the host MMIO behind iomem= (the host file
     * of docs/irq.md, parsed by config_host_parse; copied). NULL: an ICU
     * with 16 lines and no source, so PHYSDEVOPs answer EPERM/EINVAL. */
    const struct config_host *irq_host;
    /* Or an ICU the caller built (its own sources, e.g. eventfds with
     * resample fds); the host owns it from then on, also on failure.
     * Takes precedence over irq_host (whose mmio= is still used). */
    struct irq_icu *icu;
    /* Unix socket of the control protocol (docs/control.md: `xenkvm
     * list`, `console`, `shutdown`, `destroy`, `evtchn list`, `irq
     * list`); NULL or "": none. */
    const char *control_socket;
    /* control_socket is a default, not asked for: if it cannot be served
     * (another xenkvm has it), say so and run without one. */
    bool control_optional;
};

/* Open /dev/kvm and create the host (domain 0, the event-channel core).
 * On failure NULL, with one line describing why in err. */
struct vmm_host *vmm_host_create(const struct vmm_host_config *cfg,
                                 char *err, size_t errlen);
/* Stop every domain and free everything. */
void vmm_host_destroy(struct vmm_host *h);
/* The event-channel core of the host (domain 0 is domid 0 there). */
struct evtchn_host *vmm_host_evtchn(struct vmm_host *h);

/* Build a domain (VM, memory, kernel loaded, vCPUs created) without
 * running it. 0 or negative errno, with one clear line in err. */
int vmm_domain_create(struct vmm_host *h, const struct vmm_domain_config *cfg,
                      struct vmm_domain **out, char *err, size_t errlen);
/* Start its vCPU 0 thread. 0 or negative errno. */
int vmm_domain_start(struct vmm_domain *d);
/* Ask a domain to stop now (as `xl destroy`): its vCPUs leave the guest. */
void vmm_domain_kill(struct vmm_domain *d);
domid_t vmm_domain_id(const struct vmm_domain *d);
const char *vmm_domain_name(const struct vmm_domain *d);
/* The outcome so far; reason is the SHUTDOWN_* code for VMM_SHUTDOWN. */
enum vmm_outcome vmm_domain_outcome(const struct vmm_domain *d,
                                    unsigned int *reason);
/* SHUTDOWN_* code -> "poweroff", "reboot", ..., "watchdog" ("unknown"). */
const char *vmm_shutdown_name(unsigned int reason);

/* The host's interrupt controller (every host line) and PIRQ router. */
struct irq_icu *vmm_host_icu(struct vmm_host *h);
struct irq_pirq *vmm_host_pirq(struct vmm_host *h);

/* Block until every started domain has ended (all its vCPU threads left)
 * or vmm_host_interrupt was called. Returns the number still running. */
int vmm_host_wait(struct vmm_host *h);
/* Async-signal-safe: make vmm_host_wait return (Ctrl-C). */
void vmm_host_interrupt(struct vmm_host *h);
/* Like vmm_host_wait, for at most timeout_ms; also returns on interrupt. */
int vmm_host_wait_timeout(struct vmm_host *h, int timeout_ms);
/* Ask a guest to power off (reboot false) or reboot as `xl shutdown` and
 * `xl reboot` do: write "poweroff" or "reboot" to its control/shutdown
 * node. 0 or negative errno (no store). */
int vmm_domain_request_shutdown(struct vmm_domain *d, bool reboot);
/* For a domain that has ended: what its config says to do now
 * (on_poweroff, on_reboot, on_crash or on_watchdog by how it ended; a
 * destroyed one is destroyed). VMM_ACTION_RESTART is the caller's to carry out: a new
 * domain from the same config (the name is free again once this one has
 * ended). */
enum vmm_action vmm_domain_end_action(const struct vmm_domain *d);
/* Has d ended and have all its vCPU threads left (what it held is
 * released, its name free unless it is preserved)? */
bool vmm_domain_gone(const struct vmm_domain *d);
/* Block until some domain ends (or vmm_host_interrupt), at most
 * timeout_ms (-1: no limit). Returns the number of domains running. */
int vmm_host_wait_event(struct vmm_host *h, int timeout_ms);

#endif /* XENKVM_VMM_H */

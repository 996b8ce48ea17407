/*
 * xenkvm configuration: a domain's xl.cfg (read once, with Debian's
 * libxlutil, the parser of xl itself), xenkvm's host interrupt file (same
 * syntax) and a domain's device tree (libfdt), with the tree merged into the
 * domain's interrupt configuration.
 *
 * Layer: above irq (it uses irq's types and builds the ICU of the host
 * file), below hv and the VMM, which take the parsed structs. Nothing here
 * touches KVM.
 *
 * Every input is untrusted: a bad value is one message on the caller's
 * report stream naming the file, the key (and entry) and what was expected,
 * and -EINVAL. Errors are negative errno values.
 */
#ifndef XENKVM_CONFIG_H
#define XENKVM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/irq.h"
#include "xenkvm/net.h"

/*
 * A domain's host interrupts and MMIO: xl.cfg
 *   irqs     = [ 7, 9 ]                      host lines it may map as PIRQs
 *   iomem    = [ "fe001,1@9000", "fe100,4" ] host MMIO pages (hex PFN,count)
 *                                            and the guest frame they appear
 *                                            at (default: the same PFN)
 *   irq_pins = [ "LINE@PIN" ]                host line LINE drives pin PIN
 *                                            of the virtual IOAPIC (KVM
 *                                            irqfd, resamplefd if level)
 * plus, after config_irq_merge_dt, what the domain's device tree binds.
 */
struct config_iomem {
    uint64_t pfn, nr, gfn;        /* host frame, page count, guest frame */
};
struct config_pin {
    uint32_t line, pin;
};
struct config_irq {
    uint32_t *grants;             /* host lines granted as PIRQs */
    unsigned int nr_grants;
    struct config_iomem *iomem;
    unsigned int nr_iomem;
    struct config_pin *pins;
    unsigned int nr_pins;
};
void config_irq_free(struct config_irq *c);
/* Grant the lines of c to dom through the PIRQ router: -EINVAL (a line the
 * host does not have, named on report) before any grant is made. */
int config_irq_grant(const struct config_irq *c, struct irq_pirq *r,
                     domid_t dom, unsigned int nr_lines, FILE *report);

/*
 * Device-tree form (seed 004's Io_proxy), parsed with libfdt. One tree per
 * guest:
 *   - interrupt controllers: compatible "xenkvm,ioapic" (a guest IOAPIC
 *     pin, #interrupt-cells = <2>: pin, IRQ_TYPE_* flags) or "xenkvm,pirq"
 *     (the line is granted as a PIRQ; cells: GSI, flags; GSI = host line);
 *   - /xenkvm-io: the host devices, like L4Re io's vbus: each child has a
 *     compatible and resources irqX = <host line>, regX = <addr-hi addr-lo
 *     size-hi size-lo>, X in [0-9A-Z] the index into the guest node's
 *     interrupts / reg;
 *   - pass-through nodes: any other node whose compatible matches an
 *     unassigned host device, with interrupts (and interrupt-parent) and reg.
 * A resource with a wrong name or an index out of range is a warning naming
 * the node and the resource (uvmm's); a line bound twice differently is an
 * error naming both bindings.
 */
enum config_dt_sink { CONFIG_DT_IOAPIC, CONFIG_DT_PIRQ };
struct config_dt_irq {
    char node[96];                /* guest node path */
    unsigned int index;           /* into its interrupts */
    unsigned int host_line;
    enum config_dt_sink sink;
    uint32_t guest_irq;           /* IOAPIC pin / GSI */
    struct irq_mode mode;
};
struct config_dt_mmio {
    char node[96];
    unsigned int index;           /* into its reg */
    uint64_t host_addr, size, guest_addr;
};
struct config_dt {
    bool has_domid;
    uint32_t domid;               /* root property xenkvm,domid */
    unsigned int nr_irqs, nr_mmio, warnings;
    struct config_dt_irq *irqs;
    struct config_dt_mmio *mmio;
};
/* Parse a flattened device tree blob of len bytes (untrusted: checked
 * first). 0 (warnings counted), -EINVAL (errors on report), -ENOMEM. */
int config_dt_parse(const void *blob, size_t len, FILE *report,
                    struct config_dt *out);
/* Read and parse the blob at path; every report line is prefixed with
 * "PATH: " (a tree belongs to one domain). 0 or -errno. */
int config_dt_load(const char *path, FILE *report, struct config_dt *out);
void config_dt_free(struct config_dt *c);
/* Append the tree's bindings to c: xenkvm,pirq entries become grants,
 * xenkvm,ioapic entries pins, regX resources iomem ranges. 0 or -ENOMEM
 * (c unchanged then). */
int config_irq_merge_dt(struct config_irq *c, const struct config_dt *dt);

/*
 * A domain's xl.cfg, every key xenkvm reads, in one pass: type (only
 * "pvh"), name, kernel, ramdisk, cmdline (or extra), memory (MiB), maxmem
 * (MiB: only equal to memory, xenkvm has no populate-on-demand), vcpus,
 * on_poweroff / on_reboot / on_crash / on_watchdog, max_event_channels,
 * max_grant_frames, max_maptrack_frames (xl.cfg(5)'s bounds), irqs / iomem / irq_pins and
 * device_tree. Keys xenkvm does not know are ignored, as xl ignores them.
 */
#define CONFIG_MIN_MEMORY_MIB        2u
#define CONFIG_MAX_MEMORY_MIB        3072u
#define CONFIG_MAX_VCPUS             64u
#define CONFIG_MAX_EVENT_CHANNELS    (EVTCHN_FIFO_NR_CHANNELS - 1u)
#define CONFIG_MAX_GRANT_FRAMES      64u
#define CONFIG_MAX_MAPTRACK_FRAMES   1024u
#define CONFIG_NO_MAPTRACK           UINT32_MAX  /* max_maptrack_frames = 0 */

enum config_action {              /* on_poweroff/reboot/crash/watchdog */
    CONFIG_ACTION_DESTROY,
    CONFIG_ACTION_PRESERVE,       /* keep it (state visible) until exit */
    CONFIG_ACTION_RESTART,        /* a new domain from the same config */
};

/* One disk = [ ... ] entry, as libxlutil's xlu_disk_parse reads it
 * (xl-disk-configuration: "format=raw, vdev=xvda, access=rw,
 * target=/path" or the positional "/path,raw,xvda,rw"). */
struct config_disk {
    char *target;                 /* the image file (owned) */
    char *vdev;                   /* "xvda", "xvdb1", "hda", "sdb" (owned) */
    uint32_t devid;               /* Xen's device number of vdev: xvd
                                   * 202<<8 | disk<<4 | part (disk < 16),
                                   * else 1<<28 | disk<<8 | part; hd, sd as
                                   * Linux's majors 3/22, 8 */
    bool readonly;                /* access=ro (or a cdrom) */
    bool cdrom;                   /* devtype=cdrom */
};

/* One vif = [ ... ] entry: xl's "key=value, key=value" (xl-network-
 * configuration(5)): mac, bridge, ip, type (vif or ioemu: both are a PV
 * vif for a PVH guest), backend (only domain 0), rate (libxlutil's
 * xlu_vif_parse_rate), vifname, script (no hotplug scripts run: a
 * warning), model (ignored); and xenkvm's own hostfwd=RULE (repeatable;
 * QEMU's hostfwd syntax, user-mode networking only). Unknown keys are a
 * warning, as in xl. */
#define CONFIG_MAX_HOSTFWD 16u
struct config_vif {
    uint32_t devid;               /* its place in the list, as xl */
    uint8_t mac[6];
    bool has_mac;                 /* false: the VMM makes one (00:16:3e:..) */
    char *bridge;                 /* owned; NULL: the in-process switch */
    char *vifname;                /* owned; NULL: "vif<domid>.<devid>" */
    struct in_addr ip;            /* the first IPv4 of ip=; INADDR_ANY: none */
    uint64_t rate_bytes;          /* bytes per interval; 0: unlimited */
    uint32_t rate_usecs;
    struct net_hostfwd fwd[CONFIG_MAX_HOSTFWD];
    unsigned int nfwd;
};

struct config_domain {
    /* Strings are owned (NULL: not given). */
    char *name, *kernel, *ramdisk, *cmdline;
    char *device_tree;            /* path of the blob, see has_dt */
    uint64_t mem_bytes;           /* 0: not given */
    uint64_t max_mem_bytes;       /* maxmem; 0: not given (= memory) */
    uint32_t vcpus;               /* 0: not given */
    /* xl's defaults: destroy, restart, destroy */
    enum config_action on_poweroff, on_reboot, on_crash, on_watchdog;
    /* 0: not given (libxl's default applies); CONFIG_NO_MAPTRACK for
     * max_maptrack_frames = 0 */
    uint32_t max_event_channels, max_grant_frames, max_maptrack_frames;
    struct config_irq irq;        /* irqs= iomem= irq_pins= (+ the tree) */
    bool has_dt;                  /* dt was loaded and merged into irq */
    struct config_dt dt;
    struct config_disk *disks;    /* disk = [ ... ], in order (owned) */
    unsigned int nr_disks;
    struct config_vif *vifs;      /* vif = [ ... ], in order (owned) */
    unsigned int nr_vifs;
};

/* config_domain_parse flags */
#define CONFIG_DOMAIN_RUNNABLE (1u << 0)  /* name and kernel must be given */

/* Parse an xl.cfg text (source names it in messages). Actions xenkvm does
 * not have (rename-restart, coredump-*, soft-reset) are a warning on
 * report, and the nearest one it has is taken. device_tree is only recorded. 0, -EINVAL (one
 * message on report), -ENOMEM. */
int config_domain_parse(const char *data, size_t len, const char *source,
                        unsigned int flags, FILE *report,
                        struct config_domain *out);
/* Read the xl.cfg at path and parse it, then load its device_tree (a
 * relative path is taken as given, from the working directory, as before)
 * and merge it into out->irq. 0 or -errno, after one message. */
int config_domain_load(const char *path, unsigned int flags, FILE *report,
                       struct config_domain *out);
void config_domain_free(struct config_domain *c);

/*
 * xenkvm's host interrupt file (same syntax), which source backs a line
 * and which host MMIO iomem= may map:
 *   nr_lines = 32
 *   line = [ "7=eventfd,level", "8=timerfd:1000us,edge",
 *            "9=uio:/dev/uio0,level,low,ack=eoi", "10=timerfd:once:5ms" ]
 *   mmio = [ "PFN,NR=file:PATH", "PFN,NR=uio:/dev/uioN[:MAP]" ]
 * mmio: hex PFN and page count; which file or UIO map stands for host
 * frames PFN..PFN+NR-1. A plain file is mapped from offset 0 (frame PFN)
 * on; a UIO map is mmap'd at offset MAP * page size of the device, as UIO
 * defines it.
 */
enum config_src_kind { CONFIG_SRC_EVENTFD, CONFIG_SRC_TIMERFD, CONFIG_SRC_UIO };
struct config_host_line {
    unsigned int line;
    enum config_src_kind kind;
    struct irq_mode mode;
    uint64_t period_ns;           /* timerfd */
    bool periodic;                /* timerfd */
    char path[64];                /* uio */
};
struct config_host_mmio {
    uint64_t pfn, nr;
    bool uio;
    unsigned int uio_map;
    char path[128];
};
struct config_host {
    unsigned int nr_lines;
    unsigned int n;
    struct config_host_line *lines;
    unsigned int nr_mmio;
    struct config_host_mmio *mmio;
};
/* Parse the host file's text. 0, -EINVAL (message on report), -ENOMEM. */
int config_host_parse(const char *data, size_t len, const char *source,
                      FILE *report, struct config_host *out);
/* Read the file at path and parse it. 0 or -errno, after one message. */
int config_host_load(const char *path, FILE *report, struct config_host *out);
void config_host_free(struct config_host *c);
/* Create the ICU and a source for every configured line (the sources are
 * opened here: UIO devices, timers). 0 or -errno (named on report). */
int config_host_apply(const struct config_host *c, struct irq_icu **out,
                      FILE *report);

#endif /* XENKVM_CONFIG_H */

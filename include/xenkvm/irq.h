/*
 * xenkvm host interrupts: host lines, their sources, an ICU that binds each
 * line to one sink, and the sinks that carry an interrupt to a guest.
 *
 *   source (eventfd, timerfd, UIO, VFIO)  -> line (mode, mask, in flight)
 *        -> ICU binding -> sink: Xen PIRQ event channels (shared, with EOI),
 *                                a KVM irqfd on a virtual IOAPIC pin
 *                                (src/vmm/vmm_pin.c, beside the KVM code),
 *                                a domain-0 callback.
 *
 * This module is the interrupt core only: the configuration that says
 * which source backs a line and what a domain gets (xl.cfg, the host file,
 * the device tree) is parsed by src/config (xenkvm/config.h).
 *
 * The ICU follows seed 004 (Fiasco's Icu: bind, unbind, mask, unmask,
 * set_mode, info, msi_info), with an explicit unbind. Level lines are masked
 * at the source while in flight and re-checked after EOI (KVM's irqfd
 * resample pattern): a still-asserted source raises again, nothing is lost,
 * nothing loops (one raise per EOI).
 *
 * Errors are negative errno values. Every function is thread-safe.
 * Locks: a sink's raise is called with no ICU lock held; the ICU never calls
 * back into a sink from irq_icu_eoi/mask/unmask/bind/unbind, so sinks may call
 * those while holding their own lock (lock order: sink -> ICU).
 */
#ifndef XENKVM_IRQ_H
#define XENKVM_IRQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/physdev.h>

#define IRQ_MAX_LINES  1024u  /* host lines one ICU may have */
#define IRQ_MAX_GUESTS 32u    /* domains sharing one line (Xen's IRQ_MAX_GUESTS) */

enum irq_trigger { IRQ_EDGE = 0, IRQ_LEVEL = 1 };
enum irq_polarity { IRQ_ACTIVE_HIGH = 0, IRQ_ACTIVE_LOW = 1 };
/* How a PIRQ sharer of a level line acknowledges (Xen's ACK_TYPE_*; edge
 * lines are always ACK_TYPE_NONE). */
enum irq_ack { IRQ_ACK_UNMASK = 0, IRQ_ACK_EOI = 1 };

struct irq_mode {
    enum irq_trigger trigger;
    enum irq_polarity polarity;
    enum irq_ack ack;          /* level lines only */
};

struct irq_msi_info {
    unsigned int vfio_index;   /* VFIO_PCI_MSI_IRQ_INDEX or ..._MSIX_... */
    unsigned int vector;       /* vector within that index */
    unsigned int count;        /* vectors the device offers at that index */
};

/*
 * Sources. A source is a pollable fd plus three operations; the ICU owns it
 * once it is attached to a line.
 */
struct irq_source;
struct irq_source_ops {
    const char *kind;  /* "eventfd", "timerfd", "uio", "vfio-intx", "vfio-msi" */
    /* The fd is readable: consume the interrupt. Sets *count to the number
     * of events the source reports (0: spurious). 0 or -errno. */
    int (*ack)(struct irq_source *s, uint64_t *count);
    /* Let the source interrupt again: after the line's EOI (level) or right
     * after ack (edge). UIO: write 1; VFIO INTx: unmask; eventfd: signal its
     * resample fd. NULL: nothing to do. */
    int (*reenable)(struct irq_source *s);
    /* Print "kind:detail" into buf (snprintf semantics). */
    int (*describe)(const struct irq_source *s, char *buf, size_t n);
    /* MSI details or -EINVAL if the source is not a message interrupt. */
    int (*msi_info)(const struct irq_source *s, struct irq_msi_info *info);
    void (*destroy)(struct irq_source *s);
};
struct irq_source {
    const struct irq_source_ops *ops;
    int fd;                    /* readable when the source interrupts */
};

/* An eventfd that anything may write (tests, another process, a device
 * model). resamplefd (or -1) is duplicated; it is signalled at each EOI of a
 * level line so the writer can re-assert if its device still needs service
 * (KVM's irqfd resample contract). 0 or -errno. */
int irq_source_eventfd(int resamplefd, struct irq_source **out);
/* A CLOCK_MONOTONIC timerfd firing every period_ns (periodic) or once after
 * period_ns (one-shot), armed now. period_ns >= 1000. */
int irq_source_timerfd(uint64_t period_ns, bool periodic, struct irq_source **out);
/* A UIO device (/dev/uioN): read waits for the interrupt, write 1 re-enables
 * it. The interrupt is enabled on open. */
int irq_source_uio(const char *path, struct irq_source **out);
/* VFIO device interrupts, device_fd from VFIO_GROUP_GET_DEVICE_FD (not
 * owned). INTx: trigger eventfd + unmask eventfd, the line is auto-masked by
 * the kernel on each interrupt. MSI/MSI-X (msix=false/true): one vector. */
int irq_source_vfio_intx(int device_fd, struct irq_source **out);
int irq_source_vfio_msi(int device_fd, bool msix, unsigned int vector,
                        struct irq_source **out);
/* Destroy a source that was never attached to a line. */
void irq_source_destroy(struct irq_source *s);

/*
 * Sinks. The ICU calls raise when the line fires; a level line stays masked
 * until someone calls irq_icu_eoi(icu, line).
 */
struct irq_icu;
struct irq_sink_ops {
    const char *kind;   /* "pirq", "ioapic", "callback" */
    /* Called from the thread running irq_icu_process, no ICU lock held. */
    void (*raise)(void *ctx, struct irq_icu *icu, unsigned int line);
    /* Print the bindings (e.g. "dom1 pirq 7 port 5"), snprintf semantics. */
    int (*describe)(void *ctx, unsigned int line, char *buf, size_t n);
};
/* A sink is identified by (ops, ctx): the same pair again is the same sink. */
struct irq_sink {
    const struct irq_sink_ops *ops;
    void *ctx;
};

/* Create an ICU with nr_lines lines (1..IRQ_MAX_LINES), none with a source.
 * NULL with errno set on failure. */
struct irq_icu *irq_icu_create(unsigned int nr_lines);
/* Destroy: every line is unbound, every source destroyed. No thread may be
 * in irq_icu_process; IOAPIC pin sinks and the PIRQ router go first. */
void irq_icu_destroy(struct irq_icu *icu);

/* Attach src (ownership passes to the ICU, also on error) as the source of
 * line with mode. -EINVAL bad line/mode, -EBUSY line has a source. */
int irq_icu_set_source(struct irq_icu *icu, unsigned int line,
                       struct irq_source *src, struct irq_mode mode);

/* Bind line to sink. 0 (also when already bound to this sink), -EEXIST
 * bound to a different sink, -EINVAL bad line, -ENODEV no source. */
int irq_icu_bind(struct irq_icu *icu, unsigned int line,
                 const struct irq_sink *sink);
/* Unbind line from sink, completely: its in-flight state is dropped, the
 * source is re-enabled and left unwatched. -ENOENT if not bound to sink.
 * A raise already running may still reach the old sink once: call
 * irq_icu_sync before freeing the sink's context. */
int irq_icu_unbind(struct irq_icu *icu, unsigned int line,
                   const struct irq_sink *sink);
/* Mask / unmask line: while masked nothing is consumed from the source, so
 * an interrupt arriving meanwhile is delivered at unmask. 0, -EINVAL. */
int irq_icu_mask(struct irq_icu *icu, unsigned int line);
int irq_icu_unmask(struct irq_icu *icu, unsigned int line);
/* Change the mode. Leaving level while in flight counts as the EOI. */
int irq_icu_set_mode(struct irq_icu *icu, unsigned int line,
                     struct irq_mode mode);
/* The sink finished with a level interrupt: re-enable the source and
 * re-check it (resample). No-op (0) when nothing is in flight. */
int irq_icu_eoi(struct irq_icu *icu, unsigned int line);
/* Sinks report how many guests they notified (for the counters). */
void irq_icu_count_delivered(struct irq_icu *icu, unsigned int line,
                             unsigned int n);

#define IRQ_ICU_F_LEVEL   (1u << 0)  /* level lines with resample */
#define IRQ_ICU_F_MSI     (1u << 1)  /* message-signalled sources supported */
#define IRQ_ICU_F_UNBIND  (1u << 2)  /* explicit unbind */
struct irq_icu_info {
    unsigned int nr_lines;
    unsigned int features;  /* IRQ_ICU_F_* */
    unsigned int nr_msi;    /* lines whose source is MSI/MSI-X */
};
int irq_icu_info(struct irq_icu *icu, struct irq_icu_info *info);
/* MSI details of line's source: -EINVAL bad line or not an MSI source. */
int irq_icu_msi_info(struct irq_icu *icu, unsigned int line,
                     struct irq_msi_info *info);

/* Snapshot of a line for introspection. */
struct irq_line_info {
    unsigned int line;
    bool has_source, bound, masked, in_flight;
    struct irq_mode mode;
    char source[96];          /* source describe(), "" if none */
    char sink_kind[16];       /* "" if unbound */
    char bindings[512];       /* sink describe() */
    uint64_t raised;          /* interrupts taken from the source */
    uint64_t events;          /* source events (coalesced into raises) */
    uint64_t delivered;       /* guest notifications */
    uint64_t eoied;           /* EOIs completing an in-flight interrupt */
    uint64_t resampled;       /* EOIs that found the source still asserted */
    int last_error;           /* last source error (-errno) or 0 */
};
int irq_icu_line_info(struct irq_icu *icu, unsigned int line,
                      struct irq_line_info *info);
/* Print the `xenkvm irq list` table: every line with a source or binding. */
int irq_icu_format(struct irq_icu *icu, FILE *out);

/*
 * Event loop. The ICU keeps an epoll fd; the VMM either calls
 * irq_icu_process from its own thread, or adds irq_icu_epoll_fd to its
 * epoll and calls irq_icu_process(icu, 0) when it is readable.
 */
int irq_icu_epoll_fd(struct irq_icu *icu);
/* Wait up to timeout_ms (-1: forever) and handle what is ready: at most one
 * raise per line per call (bounded work). Returns events handled or -errno. */
int irq_icu_process(struct irq_icu *icu, int timeout_ms);
/* Watch an extra fd (a resamplefd): cb runs from irq_icu_process when fd is
 * readable. Returns a watch id >= 0 or -errno. */
int irq_icu_watch_fd(struct irq_icu *icu, int fd,
                     void (*cb)(void *arg, int fd), void *arg);
/* Stop watching; when it returns cb is not running (unless called from cb). */
int irq_icu_unwatch_fd(struct irq_icu *icu, int id);
/* Wait until no sink raise or watch callback is running (other than one on
 * the calling thread). */
void irq_icu_sync(struct irq_icu *icu);

/* The fd a line's source interrupts on (an eventfd source's fd is where
 * writers signal it). -EINVAL / -ENODEV. */
int irq_icu_source_fd(struct irq_icu *icu, unsigned int line);

/*
 * A domain-0 callback sink: services inside the VMM take a line. The
 * callback must call irq_icu_eoi for level lines when done.
 */
struct irq_cb_sink {
    struct irq_sink sink;
    void (*fn)(void *arg, struct irq_icu *icu, unsigned int line);
    void *arg;
    char name[32];
};
void irq_cb_sink_init(struct irq_cb_sink *cs, const char *name,
                      void (*fn)(void *arg, struct irq_icu *icu,
                                 unsigned int line),
                      void *arg);

/*
 * Sink: Xen PIRQ event channels (seed 003). One router per host; it keeps,
 * per domain, the lines the domain was granted, its PIRQ -> line map and its
 * EOI bitmap page, and per line Xen's irq_guest_action: up to IRQ_MAX_GUESTS
 * sharing domains, the ack type (NONE for edge lines, UNMASK or EOI for level
 * lines) and the in-flight count. A level line is unmasked at its source
 * only when every sharer has EOI'd (or unmasked, for ack type UNMASK).
 * Errors are Xen's (negative XEN_E*, the Linux numbers on x86).
 *
 * PIRQ -> port is the evtchn core's (as Xen's pirq->evtchn); the router
 * keeps which PIRQs are bound and delivers with evtchn_send_pirq.
 *
 * Wiring: irq_pirq_create attaches the router to the evtchn host
 * (evtchn_host_attach_pirq_router), so EVTCHNOP_bind_pirq, the close of a
 * PIRQ port (also at reset and domain destroy) and EVTCHNOP_unmask of one
 * reach it directly; the hypercall layer's PHYSDEVOP dispatch calls
 * irq_pirq_physdev_op.
 */
struct evtchn_host;
struct irq_pirq;

/* Map guest frame gfn of dom (4 KiB, valid until the domain is removed),
 * NULL if it is not guest RAM. */
typedef void *(*irq_map_gfn_fn)(void *opaque, domid_t dom, uint64_t gfn);

/* Create the router over icu, delivering through evtchn host h and
 * attached to it as its PIRQ router (h NULL: no event channels, for
 * parser tests). NULL with errno: EINVAL, ENOMEM, EBUSY (h has a router). */
struct irq_pirq *irq_pirq_create(struct irq_icu *icu, struct evtchn_host *h,
                                 irq_map_gfn_fn map_gfn, void *opaque);
/* Detach from the evtchn host and destroy, removing any domain left; no
 * domain of the host may have a PIRQ port any more. */
void irq_pirq_destroy(struct irq_pirq *r);
/* How long a level interrupt on a shared line (two guests or more) may
 * stay in flight before the sharers that
 * have not EOI'd are force-EOI'd and the line unmasked (Xen's eoi_timer in
 * do_IRQ_guest / irq_guest_eoi_timer_fn). ns = 0: Xen's 1 ms, the default.
 * Handled by the ICU's loop (irq_icu_process). Tests lengthen it to watch
 * the in-flight state. */
void irq_pirq_set_eoi_timeout(struct irq_pirq *r, uint64_t ns);

/* Add a domain with PIRQ numbers 0..nr_pirqs-1 (0: 256, max 32768, the bits
 * of one EOI page). privileged: may map PIRQs for other domains.
 * 0, -EEXIST, -EINVAL, -ENOMEM. */
int irq_pirq_domain_add(struct irq_pirq *r, domid_t dom, bool privileged,
                        uint32_t nr_pirqs);
/* Domain death (also after a crash): every binding of the domain is
 * released, an in-flight interrupt counting as EOI'd, so no line it shared
 * stays masked (XSA-360 class). Call after evtchn_domain_destroy. */
int irq_pirq_domain_remove(struct irq_pirq *r, domid_t dom);
/* Grant (allow=true) or revoke host line to dom (xl.cfg irqs=). */
int irq_pirq_grant(struct irq_pirq *r, domid_t dom, unsigned int line,
                   bool allow);

/* PHYSDEVOP cmd from domain caller, arg the <xen/physdev.h> struct already
 * copied in (updated with outputs): map_pirq (GSI type), unmap_pirq,
 * get_free_pirq, irq_status_query, eoi, pirq_eoi_gmfn_v2. Others: -ENOSYS. */
int irq_pirq_physdev_op(struct irq_pirq *r, domid_t caller, unsigned int cmd,
                        void *arg);
/* Argument size of PHYSDEVOP cmd (0: not handled here), and whether it is
 * copied back to the guest on success. */
size_t irq_pirq_physdev_arg_size(unsigned int cmd);
bool irq_pirq_physdev_copies_back(unsigned int cmd);

/* Introspection of a PIRQ mapping: the line or -ENOENT / -ESRCH / -EINVAL. */
int irq_pirq_line_of(struct irq_pirq *r, domid_t dom, uint32_t pirq);
/* In-flight count of line's guest action (sharers yet to EOI), or -errno. */
int irq_pirq_in_flight(struct irq_pirq *r, unsigned int line);
/* Invariant check (tests, stress harnesses), one consistent snapshot: each
 * line's in-flight count equals its sharers marked in flight, an unbound
 * line has no guests, every guest is a live domain's bound PIRQ on that
 * line, and every bound PIRQ appears exactly once among its line's guests.
 * 0, or -EFAULT with the first violation described in msg. */
int irq_pirq_check(struct irq_pirq *r, char *msg, size_t n);

#endif /* XENKVM_IRQ_H */

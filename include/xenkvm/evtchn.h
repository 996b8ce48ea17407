/*
 * xenkvm event channels: the hypervisor side of Xen's event-channel ABI.
 *
 * This module knows nothing of KVM or Linux: it keeps domains, vCPUs and
 * ports, implements every EVTCHNOP (0-13) with Xen's semantics and errno
 * values, and delivers events through the 2-level or FIFO ABI into guest
 * memory. Everything platform-specific (mapping a guest frame, kicking a
 * vCPU, IRQ permissions) goes through struct evtchn_platform_ops.
 *
 * Errors are negative Xen errno values (XEN_E* of <xen/errno.h>, the same
 * numbers as Linux on x86), exactly what Xen returns to the guest.
 * All functions are thread-safe unless stated otherwise.
 */
#ifndef XENKVM_EVTCHN_H
#define XENKVM_EVTCHN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/errno.h>

struct evtchn_host;
struct evtchn_domain;

/* What a caller asks the policy hook about (Xen's XSM hooks, dummy module). */
enum evtchn_action {
    EVTCHN_ACT_UNBOUND,     /* alloc_unbound in dom (XSM_TARGET) */
    EVTCHN_ACT_INTERDOMAIN, /* bind an interdomain channel (XSM_HOOK) */
    EVTCHN_ACT_STATUS,      /* query a port of dom (XSM_TARGET) */
    EVTCHN_ACT_RESET,       /* reset dom's ports (XSM_TARGET) */
    EVTCHN_ACT_SEND,        /* send on a port (XSM_HOOK) */
};

/* Called, with no evtchn lock held, when an event reaches a host-consumer
 * port (a service in the VMM, like Xen's consumer ports). Must be quick and
 * must not close that same port; it may send events. */
typedef void (*evtchn_host_cb)(void *arg, domid_t dom, evtchn_port_t port);

/*
 * The platform: how the core reaches guest memory, vCPUs and policy.
 * Any hook may be NULL, which gives the documented default.
 */
struct evtchn_platform_ops {
    /* Host pointer to the whole 4 KiB guest frame gfn of dom, or NULL when
     * the frame is not guest RAM. The mapping must stay valid until the
     * domain is destroyed. NULL hook: every frame is unmapped. */
    void *(*map_gfn)(void *opaque, domid_t dom, uint64_t gfn);
    /* Raise the event upcall on vCPU vcpu of dom (inject the callback vector,
     * wake it if halted). Called from any thread, often with locks held:
     * must not call back into the core. */
    void (*kick_vcpu)(void *opaque, domid_t dom, uint32_t vcpu);
    /* May src do act to dst? 0 or a negative errno. NULL: Xen's dummy XSM
     * with one privileged domain (the target itself, or a privileged src). */
    int (*policy)(void *opaque, domid_t src, domid_t dst,
                  enum evtchn_action act, bool src_privileged);
};

/*
 * PIRQ ports and the IRQ router. As in Xen (struct pirq's evtchn, written by
 * evtchn_bind_pirq and read by send_guest_pirq), the core owns each
 * domain's PIRQ -> port map; the router (src/irq) owns the host lines and
 * is told of each binding through these calls, as Xen's event_channel.c
 * calls pirq_guest_bind / pirq_guest_unbind. The router attaches itself to
 * the host (irq_pirq_create); ctx is its own. bind and unbind are called
 * with the domain's evtchn lock held, unmasked with no lock held; none may
 * call the core back except evtchn_send_pirq and evtchn_pirq_port.
 */
struct evtchn_pirq_router {
    /* EVTCHNOP_bind_pirq, after the range check and with the port already
     * bound (an interrupt raised from inside finds it): 0, -EPERM (not
     * granted), -EBUSY (a sharer refuses to share), ...; non-zero undoes
     * the binding. No router attached: -EPERM, as Xen gives a domain
     * without IRQ permission. */
    int (*bind)(void *ctx, domid_t dom, uint32_t pirq, bool will_share);
    /* The PIRQ port was closed (also at reset and domain destroy): release
     * the line, counting an in-flight interrupt as EOI'd. */
    void (*unbind)(void *ctx, domid_t dom, uint32_t pirq);
    /* The guest unmasked a PIRQ port through EVTCHNOP_unmask (ack type
     * UNMASK lines are re-enabled here). */
    void (*unmasked)(void *ctx, domid_t dom, uint32_t pirq);
    void *ctx;
};

/* Create the host-wide state. ops is copied. Returns NULL on ENOMEM. */
struct evtchn_host *evtchn_host_create(const struct evtchn_platform_ops *ops,
                                       void *opaque);
/* Destroy the host; every domain must already be destroyed. */
void evtchn_host_destroy(struct evtchn_host *h);
/* Attach the IRQ router r (not copied: it must stay valid until detached).
 * One per host: 0 or -EBUSY. Attach before any domain binds a PIRQ. */
int evtchn_host_attach_pirq_router(struct evtchn_host *h,
                                   const struct evtchn_pirq_router *r);
/* Detach r if it is the attached router (else nothing), once no domain has
 * a PIRQ port any more. */
void evtchn_host_detach_pirq_router(struct evtchn_host *h,
                                    const struct evtchn_pirq_router *r);

struct evtchn_domain_config {
    domid_t domid;            /* < DOMID_FIRST_RESERVED */
    bool privileged;          /* may act for other domains (domain 0) */
    uint32_t max_vcpus;       /* >= 1 */
    uint32_t max_evtchn_port; /* 0: ABI maximum (xl's evtchn_max_port) */
    uint32_t nr_pirqs;        /* PIRQ numbers valid for bind_pirq; 0: 256 */
    /* The page holding struct shared_info, which the VMM also maps into
     * the guest at XENMAPSPACE_shared_info. NULL: the core allocates one
     * (domain 0 and tests). Must be 4 KiB, stay valid until destroy. */
    struct shared_info *shared_info;
};

/* Create a domain with port 0 reserved (seed 000's evtchn_init).
 * 0, -EINVAL (bad config), -EEXIST (domid taken), -ENOMEM. */
int evtchn_domain_create(struct evtchn_host *h,
                         const struct evtchn_domain_config *cfg);
/* Destroy a domain: every port is closed (peers return to UNBOUND, PIRQs are
 * unbound), then its state is freed. 0 or -ESRCH. Call it only once none of
 * the domain's vCPUs can enter evtchn_do_op any more (the VMM stops them
 * first): the caller's own domain is looked up without a reference. */
int evtchn_domain_destroy(struct evtchn_host *h, domid_t domid);
/* The shared_info page of a domain, or NULL if there is no such domain.
 * It is in the domain's layout (evtchn_domain_latch_shinfo): the
 * vcpu_info slots, their evtchn_upcall_pending, evtchn_upcall_mask and
 * time are where struct shared_info says in both layouts; the bitmaps,
 * evtchn_pending_sel and the wallclock are not, so leave those to the
 * core (evtchn_domain_set_wallclock). */
struct shared_info *evtchn_domain_shared_info(struct evtchn_host *h,
                                              domid_t domid);
/* Latch the layout of dom's shared_info and vcpu_info (Xen's
 * has_32bit_shinfo, set by hvm_latch_shinfo_size): i386 when the guest
 * called in 32-bit mode at one of Xen's latch points (HVM_PARAM_CALLBACK_IRQ
 * set by the domain itself, the hypercall page's MSR), else x86_64's, the
 * layout of a new domain. In the i386 layout xen_ulong_t is 32 bits: the
 * 2-level ABI has 1024 ports (EVTCHN_2L_NR_CHANNELS under __i386__) and its
 * bitmaps, evtchn_pending_sel and the wallclock move; FIFO is unaffected.
 * Bits already set are not converted, as in Xen (whose caller rewrites the
 * wallclock: call evtchn_domain_set_wallclock after). 0 or -ESRCH. */
int evtchn_domain_latch_shinfo(struct evtchn_host *h, domid_t dom, bool i386);
/* 1 if dom's shared_info is in the i386 layout, 0 if in x86_64's, -ESRCH. */
int evtchn_domain_shinfo_i386(struct evtchn_host *h, domid_t dom);
/* Write the wallclock of dom's shared_info (wc_sec, wc_nsec, wc_sec_hi:
 * the UTC time at system time 0) at its layout's offsets, under the
 * wc_version protocol (odd while it changes), one writer at a time.
 * 0 or -ESRCH. */
int evtchn_domain_set_wallclock(struct evtchn_host *h, domid_t dom,
                                uint64_t sec, uint32_t nsec);
/* Mark a domain paused by its controller: Xen lets a privileged domain
 * reset another domain's ports only while it is paused. */
int evtchn_domain_set_paused(struct evtchn_host *h, domid_t domid, bool paused);
/* SCHEDOP_poll's wake-up test: 1 if one of the n ports of dom is bound (not
 * FREE) and pending, masked or not, in dom's current ABI; 0 if none is;
 * -ESRCH. Ports beyond the ABI's limit count as not pending. Looks at
 * those ports alone, under dom's lock (the ABI cannot change meanwhile). */
int evtchn_any_pending(struct evtchn_host *h, domid_t dom,
                       const evtchn_port_t *ports, unsigned int n);
/* Adjust the count of vCPUs blocked in SCHEDOP_poll (+1/-1); while non-zero,
 * newly pending ports call the domain's poll-wake callback. */
int evtchn_domain_pollers(struct evtchn_host *h, domid_t domid, int delta);

/* Called when a port of the domain has just become pending (even while
 * masked) and the domain has pollers: SCHEDOP_poll's sleepers re-check.
 * Called from any thread with evtchn locks held: must be quick and must
 * not call back into the core. */
typedef void (*evtchn_poll_wake_fn)(void *arg, evtchn_port_t port);
/* Register who sleeps in dom's SCHEDOP_poll (the hypercall layer does, in
 * hv_domain_create), replacing any earlier registration. fn NULL removes
 * arg's registration (a stale arg changes nothing); once that returns, the
 * callback is not running and will not be called with arg again.
 * 0 or -ESRCH. */
int evtchn_domain_set_poll_wake(struct evtchn_host *h, domid_t domid,
                                evtchn_poll_wake_fn fn, void *arg);

/* Where vCPU vcpu's struct vcpu_info lives from now on
 * (VCPUOP_register_vcpu_info, after the VMM validated and mapped it), in
 * the domain's layout (64 bytes in both). The current pending state is
 * carried over as Xen does. 0, -ESRCH, -EINVAL. */
int evtchn_vcpu_set_info(struct evtchn_host *h, domid_t domid, uint32_t vcpu,
                         struct vcpu_info *info);

/*
 * Guest hypercalls. caller is the calling domain, caller_vcpu the calling
 * vCPU; arg points to the argument struct of <xen/event_channel.h>, already
 * copied out of guest memory, and is updated with the outputs.
 * Returns 0 or a negative errno, exactly what Xen returns to the guest.
 */
int evtchn_do_op(struct evtchn_host *h, domid_t caller, uint32_t caller_vcpu,
                 unsigned int cmd, void *arg);
/* Size of the argument struct of EVTCHNOP cmd, or 0 if cmd is unknown (the
 * hypercall layer then returns -ENOSYS without touching guest memory). */
size_t evtchn_op_arg_size(unsigned int cmd);
/* Whether EVTCHNOP cmd writes its argument back to the guest on success. */
bool evtchn_op_copies_back(unsigned int cmd);

/*
 * Host (domain 0 services, VMM, IRQ router) side. These act as the host
 * itself: no hypercall struct, no "caller is domain 0" round trip through
 * evtchn_do_op.
 */

/* Raise VIRQ virq for dom: per-vCPU VIRQs go to vcpu, global ones to the
 * vCPU their port is bound to. Unbound VIRQs are dropped. */
void evtchn_send_virq(struct evtchn_host *h, domid_t dom, uint32_t vcpu,
                      uint32_t virq);
/* Raise PIRQ pirq for dom (send_guest_pirq). Returns 0 if a port is bound
 * and was notified, -ENOENT if no port is bound to it. */
int evtchn_send_pirq(struct evtchn_host *h, domid_t dom, uint32_t pirq);
/* The port bound to PIRQ pirq of dom (Xen's pirq->evtchn), -ENOENT if none,
 * -ESRCH if no such domain. Lock-free; for the router's listings. */
int evtchn_pirq_port(struct evtchn_host *h, domid_t dom, uint32_t pirq);

/*
 * Dom0 services (console, XenStore, backends). A service connects to a
 * guest the way xl and a Xen backend do:
 *   1. evtchn_host_offer: the toolstack's alloc_unbound -- a port of the
 *      guest, unbound, for the backend domain; the guest learns its number
 *      (HVM_PARAM_CONSOLE_EVTCHN, HVM_PARAM_STORE_EVTCHN, xenstore);
 *   2. evtchn_host_bind_interdomain: the backend's end, bound to that port,
 *      whose events go to a callback (a host-consumer port);
 *   3. evtchn_host_send: notify the guest through the backend's end;
 *   4. evtchn_host_close: disconnect (the guest's end returns to UNBOUND).
 */

/* Offer a port of guest to backend: allocate an unbound port in guest whose
 * remote end may be bound by backend only (EVTCHNOP_alloc_unbound as xl
 * issues it for a guest). The port is an ordinary guest port: the guest
 * may send on it and close it. 0 with *guest_port set, -ESRCH (no such
 * guest, or it is being destroyed), -ENOSPC, -ENOMEM. */
int evtchn_host_offer(struct evtchn_host *h, domid_t guest, domid_t backend,
                      evtchn_port_t *guest_port);
/* Bind a new port of local (usually domain 0) to remote's unbound port
 * remote_port, events to cb (xenstored binding a guest's store port; the
 * console binding the port it offered). The new port is notified once, as
 * any fresh interdomain binding. 0, -ESRCH, -EINVAL (remote_port is not
 * unbound for local), -ENOSPC, -ENOMEM. */
int evtchn_host_bind_interdomain(struct evtchn_host *h, domid_t local,
                                 domid_t remote, evtchn_port_t remote_port,
                                 evtchn_host_cb cb, void *arg,
                                 evtchn_port_t *port);
/* Send on port of dom as the host would (like EVTCHNOP_send, but allowed on
 * host-consumer ports; 0 or -EINVAL). */
int evtchn_host_send(struct evtchn_host *h, domid_t dom, evtchn_port_t port);
/* Close a port as the host: also closes host-consumer ports, and waits until
 * no callback on it is running. 0 or -EINVAL/-ESRCH. */
int evtchn_host_close(struct evtchn_host *h, domid_t dom, evtchn_port_t port);
/* Allocate an unbound port in dom for remote whose events go to cb instead
 * of the guest ABI (Xen's alloc_unbound_xen_event_channel: a service
 * listening in the guest's own domain). cb NULL: an ordinary port, as
 * evtchn_host_offer. */
int evtchn_host_alloc_unbound(struct evtchn_host *h, domid_t dom, domid_t remote,
                              evtchn_host_cb cb, void *arg,
                              evtchn_port_t *port);

/*
 * Introspection (what Xen's lsevtchn prints).
 */
enum evtchn_state {
    EVTCHN_STATE_FREE,
    EVTCHN_STATE_RESERVED,
    EVTCHN_STATE_UNBOUND,
    EVTCHN_STATE_INTERDOMAIN,
    EVTCHN_STATE_PIRQ,
    EVTCHN_STATE_VIRQ,
    EVTCHN_STATE_IPI,
};

struct evtchn_port_info {
    evtchn_port_t port;
    enum evtchn_state state;
    uint32_t vcpu;        /* notify vCPU */
    domid_t remote_dom;   /* UNBOUND, INTERDOMAIN */
    evtchn_port_t remote_port; /* INTERDOMAIN */
    uint32_t virq;        /* VIRQ */
    uint32_t pirq;        /* PIRQ */
    bool host_consumer;   /* events go to a host callback */
    bool pending, masked;
    uint8_t priority;     /* FIFO priority (2-level: default) */
};

/* Call fn for each port of dom that is not FREE, in port order, with a
 * snapshot of its state. Returns the count of ports visited or -ESRCH. */
int evtchn_port_foreach(struct evtchn_host *h, domid_t dom,
                        void (*fn)(void *ctx, const struct evtchn_port_info *),
                        void *ctx);
/* Whether port is a valid port number of dom now (below the ABI's and the
 * config's limit, and within allocated storage: Xen's port_is_valid), as
 * SCHEDOP_poll checks its ports. */
bool evtchn_port_valid(struct evtchn_host *h, domid_t dom, evtchn_port_t port);
/* Bytes of host memory that dom's port storage takes now (buckets and the
 * bucket table, not the domain struct): ports cost memory in proportion to
 * the highest port used, not to the ABI's limit. -ESRCH for no domain. */
long evtchn_domain_port_bytes(struct evtchn_host *h, domid_t dom);
/* Which ABI dom uses: 2 (2-level) or 3 (FIFO, "v3"), or -ESRCH. */
int evtchn_domain_abi(struct evtchn_host *h, domid_t dom);
/* Check the internal invariants of dom (both ends of every interdomain
 * channel agree, VIRQ/PIRQ tables match their ports, counts match, FIFO
 * tails are sane). 0, -1 (described on stderr) or -ESRCH. For tests and
 * fuzzing on a quiescent host. */
int evtchn_debug_check(struct evtchn_host *h, domid_t dom);
/* Name of a state, for printing. */
const char *evtchn_state_name(enum evtchn_state s);

#endif /* XENKVM_EVTCHN_H */

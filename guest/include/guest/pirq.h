/*
 * Physical interrupts as Xen PIRQ event channels, guest side (seed 003's
 * startup_pirq / end_pirq, Linux's pirq_eoi): map a host line (GSI) to a
 * PIRQ, bind it to an event channel (BIND_PIRQ__WILL_SHARE when the
 * handler agrees to share), learn from PHYSDEVOP_irq_status_query whether
 * the line needs an EOI, and run the level flow: handlers, then
 * PHYSDEVOP_eoi when the host set our bit in the EOI bitmap page
 * (PHYSDEVOP_pirq_eoi_gmfn_v2) or, without the page, when needs_eoi.
 *
 * Several handlers may share one PIRQ inside the guest (each with
 * IRQF_SHARED and its own dev_id, seed 003's rule); the guest's IRQ layer
 * sees one action, the dispatcher here, which runs them all and then EOIs
 * once. One vCPU; the IRQ layer's locking (interrupts off) applies.
 */
#ifndef GUEST_PIRQ_H
#define GUEST_PIRQ_H

#include <guest/irq.h>

#define PIRQ_MAX_BOUND   8       /* PIRQs bound at once */
#define PIRQ_MAX_SHARERS 4       /* handlers on one PIRQ */

/* Register a zeroed page of ours as the EOI bitmap. 0, -EBUSY (already
 * registered, by us or before), other -errno. */
int pirq_eoi_map_init(void);
/* Whether the EOI bitmap page is in use. */
bool pirq_eoi_map_active(void);

/* PHYSDEVOP_map_pirq, type GSI, for DOMID_SELF: pirq < 0 lets the host
 * choose. Returns the PIRQ or -errno (EPERM: line not granted). */
int pirq_map_gsi(unsigned int gsi, int pirq);
/* PHYSDEVOP_unmap_pirq. 0 or -errno. */
int pirq_unmap(unsigned int pirq);

/* Attach handler to pirq. The first one starts the PIRQ up (startup_pirq:
 * EVTCHNOP_bind_pirq, irq_status_query, bind the port to an IRQ with the
 * edge or level flow, unmask, EOI a stale in-flight interrupt); later ones
 * share it when both set IRQF_SHARED (else -EBUSY). Returns the IRQ or
 * -errno (the host's EPERM / EBUSY / EEXIST / EINVAL). */
int bind_pirq_to_irqhandler(unsigned int pirq, irq_handler_t handler,
                            unsigned int flags, const char *name, void *dev_id);
/* Detach dev_id's handler; the last one shuts the PIRQ down
 * (EVTCHNOP_close: the host counts an in-flight interrupt as EOI'd).
 * 0 or -ENOENT. */
int unbind_pirq_irqhandler(int irq, void *dev_id);

/* EOI irq now if the host is waiting for it (bitmap bit or needs_eoi):
 * called by the flow, or by a program that deferred its EOI. Returns 1 if
 * PHYSDEVOP_eoi was issued, 0 if not needed, -errno. */
int pirq_eoi(int irq);
/* While deferred, the flow does not EOI irq: the program calls pirq_eoi
 * later (to hold a shared line in flight). */
void pirq_defer_eoi(int irq, bool defer);
/* What irq_status_query said at startup. */
bool pirq_needs_eoi(int irq);
bool pirq_shared(int irq);
/* PIRQ number and port of a PIRQ IRQ (0 if none). */
unsigned int pirq_from_irq(int irq);

struct pirq_stats {
    unsigned long interrupts;   /* dispatcher runs */
    unsigned long eois;         /* PHYSDEVOP_eoi issued */
    unsigned long eoi_skipped;  /* flow EOI not needed (bit clear / edge) */
};
extern struct pirq_stats pirq_stats;

#endif

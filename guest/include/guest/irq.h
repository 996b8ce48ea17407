/*
 * The guest IRQ layer of seed 003 (xenolinux drivers/xen/core/evtchn.c):
 * dynamic IRQs bound to event channels, the irqaction chain with its
 * sharing rules, the edge and level flows, and the bind_* helpers.
 */
#ifndef GUEST_IRQ_H
#define GUEST_IRQ_H

#include <guest/arch.h>
#include <xen/event_channel.h>

#define NR_IRQS      64
#define DYNIRQ_BASE  16      /* below: never handed out (ISA range) */
#define NR_IPIS      4

typedef enum { IRQ_NONE = 0, IRQ_HANDLED = 1 } irqreturn_t;
typedef irqreturn_t (*irq_handler_t)(int irq, void *dev_id);

/* request_irq flags. */
#define IRQF_SHARED    0x0080u   /* share with others who also set it */
#define IRQF_DISABLED  0x0020u   /* run the handler with interrupts off */

/* irq_desc status bits. */
#define IRQ_INPROGRESS 0x01u     /* a handler is running */
#define IRQ_DISABLED   0x02u     /* no action, or disable_irq() */
#define IRQ_PENDING    0x04u     /* arrived while INPROGRESS/DISABLED */

enum irq_flow { IRQ_FLOW_EDGE, IRQ_FLOW_LEVEL };

struct irqaction {
    irq_handler_t handler;
    unsigned int flags;
    const char *name;
    void *dev_id;
    struct irqaction *next;
};

struct irq_desc {
    unsigned int status;
    unsigned int depth;          /* disable_irq nesting */
    enum irq_flow flow;
    struct irqaction *action;
    unsigned long count;         /* do_IRQ calls */
    unsigned long replays;       /* edge flow: handler re-run for PENDING */
    unsigned long deferred;      /* arrived while INPROGRESS or DISABLED */
};

/* Contract: all maps empty (-1), every IRQ disabled. */
void irq_init(void);

/* Handlers running with interrupts enabled right now (nesting depth); an
 * upcall that finds it non-zero is a nested one (evtchn_stats.nested).
 * Written by the IRQ layer only. */
extern unsigned int irq_open_handlers;

/* Contract (seed 003 request_irq/setup_irq): attach handler. -EINVAL for a
 * bad irq, NULL handler, or IRQF_SHARED without dev_id; -ENOSYS if the IRQ
 * is not bound to an event channel; -EBUSY unless both the installed and
 * the new action set IRQF_SHARED; -ENOMEM when the action pool is empty.
 * The first action unmasks the event channel. */
int request_irq(int irq, irq_handler_t handler, unsigned int flags,
                const char *name, void *dev_id);
/* Detach the action registered with dev_id; the last one masks the
 * channel. -EINVAL/-ENOENT when there is no such action. */
int free_irq(int irq, void *dev_id);

void disable_irq(int irq);
void enable_irq(int irq);
int irq_set_flow(int irq, enum irq_flow flow);
const struct irq_desc *irq_get_desc(int irq);

/* Map a port to a (new or existing) IRQ. The caller keeps ownership of the
 * port: unbinding does not close it (seed 001's bind_caller_port_to_irq).
 * -EBUSY for a port on the direct fast path (evtchn_bind_direct). */
int bind_evtchn_to_irq(evtchn_port_t port);
int bind_evtchn_to_irqhandler(evtchn_port_t port, irq_handler_t handler,
                              unsigned int flags, const char *name, void *dev_id);
/* EVTCHNOP_bind_interdomain, then bind; the port is closed on unbind. */
int bind_interdomain_evtchn_to_irqhandler(domid_t remote_dom, evtchn_port_t remote_port,
                                          irq_handler_t handler, unsigned int flags,
                                          const char *name, void *dev_id);
/* EVTCHNOP_bind_virq on vcpu cpu, then bind. */
int bind_virq_to_irqhandler(unsigned int virq, unsigned int cpu, irq_handler_t handler,
                            unsigned int flags, const char *name, void *dev_id);
/* EVTCHNOP_bind_ipi on vcpu cpu for IPI number ipi (< NR_IPIS), then bind. */
int bind_ipi_to_irqhandler(unsigned int ipi, unsigned int cpu, irq_handler_t handler,
                           unsigned int flags, const char *name, void *dev_id);
/* free_irq(irq, dev_id) and drop the binding (closing ports we opened). */
void unbind_from_irqhandler(int irq, void *dev_id);

/* EVTCHNOP_send on the IRQ's port. 0 or -errno. */
int notify_remote_via_irq(int irq);
/* Send IPI ipi to vcpu cpu. */
int send_ipi(unsigned int cpu, unsigned int ipi);

int irq_from_evtchn(evtchn_port_t port);   /* -1 if none */
evtchn_port_t evtchn_from_irq(int irq);     /* 0 if none */

/* Called by the upcall for a pending port with an IRQ (interrupts off). */
void do_IRQ(int irq);

#endif

/*
 * Guest IRQ layer (seed 003 and Linux's generic flows).
 *
 * Concurrency: one vCPU. The upcall runs with IF=0; a handler runs with
 * IF=1 unless its action asked for IRQF_DISABLED, so an upcall may nest
 * inside a handler. Binding-table updates happen with interrupts saved and
 * disabled, which is the whole locking story on one CPU.
 */
#include <guest/guest.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <guest/irq.h>

enum irq_type { IRQT_UNBOUND, IRQT_CALLER_PORT, IRQT_LOCAL_PORT, IRQT_VIRQ, IRQT_IPI };

struct irq_info {
    enum irq_type type;
    evtchn_port_t port;
    unsigned int index;        /* VIRQ or IPI number */
    unsigned int cpu;
    unsigned int bindcount;    /* seed 001's irq_bindcount */
};

unsigned int irq_open_handlers;
static struct irq_desc irq_desc[NR_IRQS];
static struct irq_info irq_info[NR_IRQS];
static int16_t evtchn_to_irq[GUEST_NR_EVTCHNS];
/* One vCPU: per-cpu tables with one row. */
static int16_t virq_to_irq[NR_VIRQS];
static int16_t ipi_to_irq[NR_IPIS];

#define NR_ACTIONS 64
static struct irqaction action_pool[NR_ACTIONS];
static struct irqaction *action_free;

void irq_init(void)
{
    for (unsigned int i = 0; i < GUEST_NR_EVTCHNS; i++)
        evtchn_to_irq[i] = -1;
    for (unsigned int i = 0; i < NR_VIRQS; i++)
        virq_to_irq[i] = -1;
    for (unsigned int i = 0; i < NR_IPIS; i++)
        ipi_to_irq[i] = -1;
    for (unsigned int i = 0; i < NR_IRQS; i++) {
        irq_desc[i].status = IRQ_DISABLED;
        irq_desc[i].depth = 1;
        irq_desc[i].flow = IRQ_FLOW_EDGE;
        irq_info[i].type = IRQT_UNBOUND;
    }
    action_free = NULL;
    for (unsigned int i = 0; i < NR_ACTIONS; i++) {
        action_pool[i].next = action_free;
        action_free = &action_pool[i];
    }
}

static bool valid_irq(int irq)
{
    return irq >= 0 && irq < NR_IRQS;
}

int irq_from_evtchn(evtchn_port_t port)
{
    return port < GUEST_NR_EVTCHNS ? evtchn_to_irq[port] : -1;
}

evtchn_port_t evtchn_from_irq(int irq)
{
    return valid_irq(irq) && irq_info[irq].type != IRQT_UNBOUND ? irq_info[irq].port : 0;
}

const struct irq_desc *irq_get_desc(int irq)
{
    return valid_irq(irq) ? &irq_desc[irq] : NULL;
}

int irq_set_flow(int irq, enum irq_flow flow)
{
    if (!valid_irq(irq))
        return -XEN_EINVAL;
    irq_desc[irq].flow = flow;
    return 0;
}

/* ---- chip operations on the IRQ's event channel ---- */

static void chip_mask(int irq)
{
    evtchn_port_t p = evtchn_from_irq(irq);
    if (p)
        mask_evtchn(p);
}

static void chip_unmask(int irq)
{
    evtchn_port_t p = evtchn_from_irq(irq);
    if (p)
        unmask_evtchn(p);
}

static void chip_ack(int irq)
{
    evtchn_port_t p = evtchn_from_irq(irq);
    if (p)
        clear_evtchn(p);
}

static void chip_mask_ack(int irq)
{
    evtchn_port_t p = evtchn_from_irq(irq);
    if (p) {
        mask_evtchn(p);
        clear_evtchn(p);
    }
}

/* Re-raise an event we swallowed (PENDING seen while disabled): with the
 * port masked, mark it pending, then unmask, which delivers it. */
static void chip_retrigger(int irq)
{
    evtchn_port_t p = evtchn_from_irq(irq);
    if (p) {
        mask_evtchn(p);
        set_evtchn(p);
        unmask_evtchn(p);
    }
}

/* ---- request_irq / free_irq (seed 003) ---- */

static struct irqaction *action_alloc(void)
{
    struct irqaction *a = action_free;
    if (a)
        action_free = a->next;
    return a;
}

static void action_release(struct irqaction *a)
{
    a->next = action_free;
    action_free = a;
}

static int setup_irq(int irq, struct irqaction *new)
{
    struct irq_desc *desc = &irq_desc[irq];
    struct irqaction **p = &desc->action, *old;
    int shared = 0;

    if (irq_info[irq].type == IRQT_UNBOUND)
        return -XEN_ENOSYS;

    unsigned long flags = cpu_irq_save();
    if ((old = *p) != NULL) {
        /* Can't share interrupts unless both agree to. */
        if (!(old->flags & new->flags & IRQF_SHARED)) {
            cpu_irq_restore(flags);
            return -XEN_EBUSY;
        }
        do {
            p = &old->next;
            old = *p;
        } while (old);
        shared = 1;
    }
    new->next = NULL;
    *p = new;
    if (!shared) {
        desc->depth = 0;
        desc->status &= ~(IRQ_DISABLED | IRQ_INPROGRESS | IRQ_PENDING);
        chip_unmask(irq);   /* startup */
    }
    cpu_irq_restore(flags);
    return 0;
}

int request_irq(int irq, irq_handler_t handler, unsigned int flags,
                const char *name, void *dev_id)
{
    /* Shared interrupts must pass a real dev_id, or free_irq could not
     * tell which action to remove. */
    if ((flags & IRQF_SHARED) && !dev_id)
        return -XEN_EINVAL;
    if (!valid_irq(irq) || !handler)
        return -XEN_EINVAL;

    unsigned long f = cpu_irq_save();
    struct irqaction *a = action_alloc();
    cpu_irq_restore(f);
    if (!a)
        return -XEN_ENOMEM;
    a->handler = handler;
    a->flags = flags;
    a->name = name;
    a->dev_id = dev_id;
    a->next = NULL;

    int rc = setup_irq(irq, a);
    if (rc) {
        f = cpu_irq_save();
        action_release(a);
        cpu_irq_restore(f);
    }
    return rc;
}

int free_irq(int irq, void *dev_id)
{
    if (!valid_irq(irq))
        return -XEN_EINVAL;

    struct irq_desc *desc = &irq_desc[irq];
    unsigned long flags = cpu_irq_save();
    struct irqaction **p = &desc->action, *a;

    while ((a = *p) != NULL && a->dev_id != dev_id)
        p = &a->next;
    if (!a) {
        cpu_irq_restore(flags);
        printk("irq: trying to free already-free IRQ %d\n", irq);
        return -XEN_ENOENT;
    }
    *p = a->next;
    if (!desc->action) {
        desc->status |= IRQ_DISABLED;
        desc->depth = 1;
        chip_mask(irq);     /* shutdown */
    }
    /* The edge loop in do_IRQ read a->next before calling a->handler, so
     * recycling the action is safe even from inside a handler. */
    action_release(a);
    cpu_irq_restore(flags);
    return 0;
}

void disable_irq(int irq)
{
    if (!valid_irq(irq))
        return;
    unsigned long flags = cpu_irq_save();
    if (irq_desc[irq].depth++ == 0) {
        irq_desc[irq].status |= IRQ_DISABLED;
        chip_mask(irq);
    }
    cpu_irq_restore(flags);
}

void enable_irq(int irq)
{
    if (!valid_irq(irq))
        return;
    struct irq_desc *desc = &irq_desc[irq];
    unsigned long flags = cpu_irq_save();
    if (desc->depth == 0) {
        printk("irq: unbalanced enable_irq(%d)\n", irq);
    } else if (--desc->depth == 0 && desc->action) {
        desc->status &= ~IRQ_DISABLED;
        if (desc->status & IRQ_PENDING) {
            desc->status &= ~IRQ_PENDING;
            chip_retrigger(irq);
        } else {
            chip_unmask(irq);
        }
    }
    cpu_irq_restore(flags);
}

/* ---- flows ---- */

static void handle_irq_event(int irq, struct irq_desc *desc)
{
    struct irqaction *a = desc->action;

    /* Seed 003: handlers run with interrupts enabled unless they asked
     * otherwise (SA_INTERRUPT, here IRQF_DISABLED). */
    bool enable = a && !(a->flags & IRQF_DISABLED);
    if (enable) {
        guest_upcall_eoi();        /* the vector out of the ISR: may nest */
        irq_open_handlers++;
        cpu_sti();
    }
    while (a) {
        struct irqaction *next = a->next;
        a->handler(irq, a->dev_id);
        a = next;
    }
    if (enable) {
        cpu_cli();
        irq_open_handlers--;
    }
}

/*
 * Edge flow: ack (clear pending) first, so an event arriving while the
 * handler runs is seen. If it arrives in a nested upcall while the handler
 * is INPROGRESS, that invocation only records IRQ_PENDING and masks; the
 * running invocation unmasks and calls the handlers again (the replay of
 * seed 003's do_IRQ).
 */
static void handle_edge_irq(int irq, struct irq_desc *desc)
{
    if ((desc->status & (IRQ_INPROGRESS | IRQ_DISABLED)) || !desc->action) {
        desc->status |= IRQ_PENDING;
        desc->deferred++;
        chip_mask_ack(irq);
        return;
    }
    chip_ack(irq);
    desc->status |= IRQ_INPROGRESS;
    for (;;) {
        if (!desc->action) {
            chip_mask(irq);
            break;
        }
        if ((desc->status & (IRQ_PENDING | IRQ_DISABLED)) == IRQ_PENDING) {
            /* Replaying: the deferring invocation masked the port. */
            desc->replays++;
            chip_unmask(irq);
        }
        desc->status &= ~IRQ_PENDING;
        handle_irq_event(irq, desc);
        if ((desc->status & (IRQ_PENDING | IRQ_DISABLED)) != IRQ_PENDING)
            break;
    }
    desc->status &= ~IRQ_INPROGRESS;
}

/*
 * Level flow (seed 003's level_irq_handler): mask and ack on entry, run,
 * unmask at the end. An event raised meanwhile stays pending behind the
 * mask and is re-delivered by the unmask.
 */
static void handle_level_irq(int irq, struct irq_desc *desc)
{
    chip_mask_ack(irq);
    if (desc->status & IRQ_INPROGRESS) {
        desc->deferred++;
        return;
    }
    if (!desc->action || (desc->status & IRQ_DISABLED)) {
        desc->status |= IRQ_PENDING;
        desc->deferred++;
        return;
    }
    desc->status |= IRQ_INPROGRESS;
    desc->status &= ~IRQ_PENDING;
    handle_irq_event(irq, desc);
    desc->status &= ~IRQ_INPROGRESS;
    if (!(desc->status & IRQ_DISABLED) && desc->action)
        chip_unmask(irq);
}

void do_IRQ(int irq)
{
    if (!valid_irq(irq))
        return;
    struct irq_desc *desc = &irq_desc[irq];
    desc->count++;
    if (desc->flow == IRQ_FLOW_LEVEL)
        handle_level_irq(irq, desc);
    else
        handle_edge_irq(irq, desc);
}

/* ---- bindings ---- */

static int find_unbound_irq(void)
{
    for (int irq = DYNIRQ_BASE; irq < NR_IRQS; irq++)
        if (irq_info[irq].bindcount == 0 && irq_info[irq].type == IRQT_UNBOUND)
            return irq;
    printk("irq: no available IRQ to bind to: increase NR_IRQS\n");
    return -XEN_ENOSPC;
}

static int bind_port(evtchn_port_t port, enum irq_type type, unsigned int index,
                     unsigned int cpu)
{
    if (port == 0 || port >= GUEST_NR_EVTCHNS)
        return -XEN_EINVAL;
    /* A port is either the fast path's (evtchn_bind_direct) or ours. */
    if (evtchn_is_direct(port))
        return -XEN_EBUSY;
    int rc = evtchn_setup_port(port);
    if (rc)
        return rc;

    unsigned long flags = cpu_irq_save();
    int irq = evtchn_to_irq[port];
    if (irq < 0) {
        irq = find_unbound_irq();
        if (irq >= 0) {
            evtchn_to_irq[port] = (int16_t)irq;
            irq_info[irq] = (struct irq_info){ .type = type, .port = port,
                                               .index = index, .cpu = cpu };
            irq_desc[irq].flow = IRQ_FLOW_EDGE;
            irq_desc[irq].count = irq_desc[irq].replays = irq_desc[irq].deferred = 0;
        }
    }
    if (irq >= 0)
        irq_info[irq].bindcount++;
    cpu_irq_restore(flags);
    return irq;
}

int bind_evtchn_to_irq(evtchn_port_t port)
{
    return bind_port(port, IRQT_CALLER_PORT, 0, 0);
}

static void close_port(evtchn_port_t port)
{
    struct evtchn_close close = { .port = port };

    HYPERVISOR_event_channel_op(EVTCHNOP_close, &close);
}

static void unbind_from_irq(int irq)
{
    unsigned long flags = cpu_irq_save();
    struct irq_info *info = &irq_info[irq];

    if (info->type == IRQT_UNBOUND || info->bindcount == 0) {
        cpu_irq_restore(flags);
        return;
    }
    if (--info->bindcount == 0) {
        evtchn_port_t port = info->port;
        mask_evtchn(port);
        clear_evtchn(port);
        if (info->type == IRQT_VIRQ && info->index < NR_VIRQS)
            virq_to_irq[info->index] = -1;
        if (info->type == IRQT_IPI && info->index < NR_IPIS)
            ipi_to_irq[info->index] = -1;
        if (info->type != IRQT_CALLER_PORT)
            close_port(port);
        evtchn_to_irq[port] = -1;
        *info = (struct irq_info){ .type = IRQT_UNBOUND };
        irq_desc[irq].status = IRQ_DISABLED;
        irq_desc[irq].depth = 1;
    }
    cpu_irq_restore(flags);
}

static int bind_and_request(int irq, irq_handler_t handler, unsigned int flags,
                            const char *name, void *dev_id)
{
    if (irq < 0)
        return irq;
    int rc = request_irq(irq, handler, flags, name, dev_id);
    if (rc) {
        unbind_from_irq(irq);
        return rc;
    }
    return irq;
}

int bind_evtchn_to_irqhandler(evtchn_port_t port, irq_handler_t handler,
                              unsigned int flags, const char *name, void *dev_id)
{
    return bind_and_request(bind_evtchn_to_irq(port), handler, flags, name, dev_id);
}

int bind_interdomain_evtchn_to_irqhandler(domid_t remote_dom, evtchn_port_t remote_port,
                                          irq_handler_t handler, unsigned int flags,
                                          const char *name, void *dev_id)
{
    struct evtchn_bind_interdomain bi = { .remote_dom = remote_dom,
                                          .remote_port = remote_port };
    int rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &bi);

    if (rc)
        return rc;
    int irq = bind_port(bi.local_port, IRQT_LOCAL_PORT, 0, 0);
    if (irq < 0) {
        close_port(bi.local_port);
        return irq;
    }
    return bind_and_request(irq, handler, flags, name, dev_id);
}

int bind_virq_to_irqhandler(unsigned int virq, unsigned int cpu, irq_handler_t handler,
                            unsigned int flags, const char *name, void *dev_id)
{
    if (virq >= NR_VIRQS || cpu != 0)
        return -XEN_EINVAL;

    int irq = virq_to_irq[virq];
    if (irq < 0) {
        struct evtchn_bind_virq bv = { .virq = virq, .vcpu = cpu };
        int rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &bv);
        if (rc)
            return rc;
        irq = bind_port(bv.port, IRQT_VIRQ, virq, cpu);
        if (irq < 0) {
            close_port(bv.port);
            return irq;
        }
        virq_to_irq[virq] = (int16_t)irq;
    } else {
        irq_info[irq].bindcount++;
    }
    return bind_and_request(irq, handler, flags, name, dev_id);
}

int bind_ipi_to_irqhandler(unsigned int ipi, unsigned int cpu, irq_handler_t handler,
                           unsigned int flags, const char *name, void *dev_id)
{
    if (ipi >= NR_IPIS || cpu != 0)
        return -XEN_EINVAL;

    int irq = ipi_to_irq[ipi];
    if (irq < 0) {
        struct evtchn_bind_ipi bi = { .vcpu = cpu };
        int rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &bi);
        if (rc)
            return rc;
        irq = bind_port(bi.port, IRQT_IPI, ipi, cpu);
        if (irq < 0) {
            close_port(bi.port);
            return irq;
        }
        ipi_to_irq[ipi] = (int16_t)irq;
    } else {
        irq_info[irq].bindcount++;
    }
    return bind_and_request(irq, handler, flags, name, dev_id);
}

void unbind_from_irqhandler(int irq, void *dev_id)
{
    if (!valid_irq(irq))
        return;
    free_irq(irq, dev_id);
    unbind_from_irq(irq);
}

int notify_remote_via_irq(int irq)
{
    evtchn_port_t port = evtchn_from_irq(irq);

    if (!port)
        return -XEN_EINVAL;
    return notify_remote_via_evtchn(port);
}

int send_ipi(unsigned int cpu, unsigned int ipi)
{
    if (cpu != 0 || ipi >= NR_IPIS || ipi_to_irq[ipi] < 0)
        return -XEN_EINVAL;
    return notify_remote_via_irq(ipi_to_irq[ipi]);
}

/*
 * Guest PIRQs (see include/guest/pirq.h): seed 003's startup_pirq and the
 * level flow with EOI, over the runtime's IRQ layer (guest/irq.c). The IRQ
 * layer binds the port as a caller-owned port (bind_evtchn_to_irq) and
 * runs our dispatcher as the IRQ's one action; this file owns the PIRQ
 * port (closes it at shutdown) and the sharing among its handlers.
 */
#include <guest/guest.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <guest/irq.h>
#include <guest/pirq.h>
#include <xen/physdev.h>

static inline int HYPERVISOR_physdev_op(int cmd, void *arg)
{
    return (int)_HC(__HYPERVISOR_physdev_op, cmd, arg, 0, 0, 0);
}

struct pirq_slot {
    bool used;
    unsigned int pirq;
    int irq;
    evtchn_port_t port;
    bool needs_eoi, shared, defer;
    struct irqaction act[PIRQ_MAX_SHARERS];
    unsigned int nr_act;
};

static struct pirq_slot slots[PIRQ_MAX_BOUND];
/* The EOI bitmap: the host sets bit P while PIRQ P waits for our EOI. */
static uint64_t eoi_page[PAGE_SIZE / 8] __attribute__((aligned(PAGE_SIZE)));
static bool eoi_map_on;
struct pirq_stats pirq_stats;

int pirq_eoi_map_init(void)
{
    struct physdev_pirq_eoi_gmfn g = { .gmfn = virt_to_gfn(eoi_page) };
    int rc = HYPERVISOR_physdev_op(PHYSDEVOP_pirq_eoi_gmfn_v2, &g);
    if (rc == 0)
        eoi_map_on = true;
    return rc;
}

bool pirq_eoi_map_active(void)
{
    return eoi_map_on;
}

int pirq_map_gsi(unsigned int gsi, int pirq)
{
    struct physdev_map_pirq m = {
        .domid = DOMID_SELF, .type = MAP_PIRQ_TYPE_GSI, .index = (int)gsi,
        .pirq = pirq,
    };
    int rc = HYPERVISOR_physdev_op(PHYSDEVOP_map_pirq, &m);
    return rc ? rc : m.pirq;
}

int pirq_unmap(unsigned int pirq)
{
    struct physdev_unmap_pirq u = { .domid = DOMID_SELF, .pirq = (int)pirq };
    return HYPERVISOR_physdev_op(PHYSDEVOP_unmap_pirq, &u);
}

static struct pirq_slot *slot_of_irq(int irq)
{
    for (unsigned int i = 0; i < PIRQ_MAX_BOUND; i++)
        if (slots[i].used && slots[i].irq == irq)
            return &slots[i];
    return NULL;
}

static struct pirq_slot *slot_of_pirq(unsigned int pirq)
{
    for (unsigned int i = 0; i < PIRQ_MAX_BOUND; i++)
        if (slots[i].used && slots[i].pirq == pirq)
            return &slots[i];
    return NULL;
}

static int slot_eoi(struct pirq_slot *s)
{
    /* With the bitmap, the host says exactly when it waits for us; a
     * cleared bit (edge line, or already EOI'd) costs no hypercall. */
    bool need = eoi_map_on ? sync_test_bit(s->pirq, eoi_page) : s->needs_eoi;
    if (!need)
        return 0;
    struct physdev_eoi e = { .irq = s->pirq };
    int rc = HYPERVISOR_physdev_op(PHYSDEVOP_eoi, &e);
    if (rc == 0) {
        pirq_stats.eois++;
        return 1;
    }
    return rc;
}

int pirq_eoi(int irq)
{
    struct pirq_slot *s = slot_of_irq(irq);
    return s ? slot_eoi(s) : -XEN_EINVAL;
}

/* The IRQ's one action: every sharer's handler, then the EOI (the level
 * flow of guest/irq.c masked the port before and unmasks it after us, so
 * the host's next interrupt waits behind the mask, not lost). */
static irqreturn_t pirq_dispatch(int irq, void *dev_id)
{
    struct pirq_slot *s = dev_id;
    irqreturn_t any = IRQ_NONE;
    (void)irq;
    pirq_stats.interrupts++;
    for (unsigned int i = 0; i < s->nr_act; i++)
        if (s->act[i].handler(s->irq, s->act[i].dev_id) == IRQ_HANDLED)
            any = IRQ_HANDLED;
    if (s->defer)
        return any;
    if (slot_eoi(s) == 0)
        pirq_stats.eoi_skipped++;
    return any;
}

static void close_port(evtchn_port_t port)
{
    struct evtchn_close c = { .port = port };
    HYPERVISOR_event_channel_op(EVTCHNOP_close, &c);
}

/* seed 003's startup_pirq */
static int startup_pirq(struct pirq_slot *s, unsigned int flags)
{
    struct evtchn_bind_pirq bp = {
        .pirq = s->pirq,
        .flags = (flags & IRQF_SHARED) ? BIND_PIRQ__WILL_SHARE : 0,
    };
    int rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_pirq, &bp);
    if (rc)
        return rc;
    s->port = bp.port;
    struct physdev_irq_status_query q = { .irq = s->pirq };
    rc = HYPERVISOR_physdev_op(PHYSDEVOP_irq_status_query, &q);
    if (rc) {
        close_port(bp.port);
        return rc;
    }
    s->needs_eoi = (q.flags & XENIRQSTAT_needs_eoi) != 0;
    s->shared = (q.flags & XENIRQSTAT_shared) != 0;
    int irq = bind_evtchn_to_irq(bp.port);
    if (irq < 0) {
        close_port(bp.port);
        return irq;
    }
    s->irq = irq;
    irq_set_flow(irq, s->needs_eoi ? IRQ_FLOW_LEVEL : IRQ_FLOW_EDGE);
    /* request_irq unmasks the port (the IRQ layer's startup) */
    rc = request_irq(irq, pirq_dispatch, flags & IRQF_SHARED, "pirq", s);
    if (rc) {
        unbind_from_irqhandler(irq, s);
        close_port(bp.port);
        return rc;
    }
    /* seed 003's pirq_unmask_notify: an interrupt that was in flight for
     * this PIRQ before we bound would otherwise hold the line */
    slot_eoi(s);
    return irq;
}

int bind_pirq_to_irqhandler(unsigned int pirq, irq_handler_t handler,
                            unsigned int flags, const char *name, void *dev_id)
{
    if (!handler || ((flags & IRQF_SHARED) && !dev_id))
        return -XEN_EINVAL;
    unsigned long f = cpu_irq_save();
    struct pirq_slot *s = slot_of_pirq(pirq);
    int rc;
    if (s) {
        /* both the installed and the new handler must agree to share */
        if (!(s->act[0].flags & flags & IRQF_SHARED)) {
            rc = -XEN_EBUSY;
        } else if (s->nr_act == PIRQ_MAX_SHARERS) {
            rc = -XEN_ENOSPC;
        } else {
            s->act[s->nr_act++] = (struct irqaction){
                .handler = handler, .flags = flags, .name = name,
                .dev_id = dev_id };
            rc = s->irq;
        }
        cpu_irq_restore(f);
        return rc;
    }
    for (unsigned int i = 0; i < PIRQ_MAX_BOUND && !s; i++)
        if (!slots[i].used)
            s = &slots[i];
    if (!s) {
        cpu_irq_restore(f);
        return -XEN_ENOSPC;
    }
    *s = (struct pirq_slot){ .used = true, .pirq = pirq, .irq = -1, .nr_act = 1 };
    s->act[0] = (struct irqaction){ .handler = handler, .flags = flags,
                                    .name = name, .dev_id = dev_id };
    cpu_irq_restore(f);
    rc = startup_pirq(s, flags);
    if (rc < 0)
        s->used = false;
    return rc;
}

int unbind_pirq_irqhandler(int irq, void *dev_id)
{
    unsigned long f = cpu_irq_save();
    struct pirq_slot *s = slot_of_irq(irq);
    unsigned int i = 0;
    while (s && i < s->nr_act && s->act[i].dev_id != dev_id)
        i++;
    if (!s || i == s->nr_act) {
        cpu_irq_restore(f);
        return -XEN_ENOENT;
    }
    for (; i + 1 < s->nr_act; i++)
        s->act[i] = s->act[i + 1];
    s->nr_act--;
    bool last = s->nr_act == 0;
    cpu_irq_restore(f);
    if (last) {
        /* shutdown_pirq: the IRQ layer masks the port, we close it */
        evtchn_port_t port = s->port;
        unbind_from_irqhandler(s->irq, s);
        close_port(port);
        s->used = false;
    }
    return 0;
}

void pirq_defer_eoi(int irq, bool defer)
{
    struct pirq_slot *s = slot_of_irq(irq);
    if (s)
        s->defer = defer;
}

bool pirq_needs_eoi(int irq)
{
    struct pirq_slot *s = slot_of_irq(irq);
    return s && s->needs_eoi;
}

bool pirq_shared(int irq)
{
    struct pirq_slot *s = slot_of_irq(irq);
    return s && s->shared;
}

unsigned int pirq_from_irq(int irq)
{
    struct pirq_slot *s = slot_of_irq(irq);
    return s ? s->pirq : 0;
}

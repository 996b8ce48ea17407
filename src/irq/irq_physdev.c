/*
 * The PHYSDEVOPs of Xen's physdev.c that concern PIRQs: map_pirq,
 * unmap_pirq, get_free_pirq, eoi, irq_status_query, pirq_eoi_gmfn, with
 * Xen's checks and errno; the binding and delivery they lead to are
 * irq_pirq.c's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xen/errno.h>

#include "irq_pirq_int.h"

/*
 * PHYSDEVOPs.
 */

/* The domain an op names (DOMID_SELF or an id): only a privileged caller
 * may act for another domain. r->lock held. */
static int target_dom(struct irq_pirq *r, struct pirq_dom *c, domid_t domid,
                      struct pirq_dom **out)
{
    if (domid == DOMID_SELF || domid == c->id) {
        *out = c;
        return 0;
    }
    if (!c->privileged)
        return -XEN_EPERM;
    *out = pirq_dom_find(r, domid);
    return *out ? 0 : -XEN_ESRCH;
}

/* Lowest free PIRQ from 16 up, then below 16 (Xen keeps 0-15 for the
 * legacy identity map); MSI-type from the top down, as Xen does. */
static int free_pirq_locked(struct pirq_dom *d, int type)
{
    if (type == MAP_PIRQ_TYPE_MSI) {
        for (uint32_t p = d->nr_pirqs; p-- > 16;)
            if (d->pirqs[p].line < 0 && !d->pirqs[p].reserved)
                return (int)p;
        return -XEN_ENOSPC;
    }
    for (uint32_t p = 16; p < d->nr_pirqs; p++)
        if (d->pirqs[p].line < 0 && !d->pirqs[p].reserved)
            return (int)p;
    for (uint32_t p = 0; p < 16 && p < d->nr_pirqs; p++)
        if (d->pirqs[p].line < 0 && !d->pirqs[p].reserved)
            return (int)p;
    return -XEN_ENOSPC;
}

/* Each op: the router r (locked), the calling domain c, the guest's struct. */

static int op_map_pirq(struct irq_pirq *r, struct pirq_dom *c, void *arg)
{
    struct physdev_map_pirq *m = arg;
    struct pirq_dom *d;
    int rc = target_dom(r, c, m->domid, &d);
    if (rc)
        return rc;
    if (m->type != MAP_PIRQ_TYPE_GSI)
        return -XEN_EINVAL;   /* message interrupts are not mapped this way */
    if (m->index < 0 || (unsigned int)m->index >= r->nr_lines)
        return -XEN_EINVAL;
    unsigned int line = (unsigned int)m->index;
    if (!d->granted[line])
        return -XEN_EPERM;
    /* the PIRQ this domain already has for the line, if any */
    int have = -1;
    for (uint32_t p = 0; p < d->nr_pirqs; p++)
        if (d->pirqs[p].line == (int32_t)line) {
            have = (int)p;
            break;
        }
    int pirq = m->pirq;
    if (pirq < 0) {
        pirq = have >= 0 ? have : free_pirq_locked(d, MAP_PIRQ_TYPE_GSI);
        if (pirq < 0)
            return pirq;
    } else if ((uint32_t)pirq >= d->nr_pirqs) {
        return -XEN_EINVAL;
    }
    struct pirq_entry *pe = &d->pirqs[pirq];
    if (pe->line == (int32_t)line) {
        m->pirq = pirq;       /* the same mapping again */
        return 0;
    }
    if (pe->line >= 0 || have >= 0)
        return -XEN_EEXIST;   /* PIRQ or line already mapped differently */
    pe->line = (int32_t)line;
    pe->reserved = false;
    m->pirq = pirq;
    return 0;
}

static int op_unmap_pirq(struct irq_pirq *r, struct pirq_dom *c, void *arg)
{
    struct physdev_unmap_pirq *u = arg;
    struct pirq_dom *d;
    int rc = target_dom(r, c, u->domid, &d);
    if (rc)
        return rc;
    if (u->pirq < 0 || (uint32_t)u->pirq >= d->nr_pirqs)
        return -XEN_EINVAL;
    struct pirq_entry *pe = &d->pirqs[u->pirq];
    if (pe->line < 0 && !pe->reserved)
        return -XEN_EINVAL;
    /* Xen force-unbinds a still-bound PIRQ; its port stays in state PIRQ
     * and delivers nothing until closed. */
    pirq_guest_unbind_locked(r, d, (uint32_t)u->pirq);
    pe->line = -1;
    pe->reserved = false;
    return 0;
}

static int op_get_free_pirq(struct irq_pirq *r, struct pirq_dom *d, void *arg)
{
    struct physdev_get_free_pirq *f = arg;
    (void)r;
    if (f->type != MAP_PIRQ_TYPE_GSI && f->type != MAP_PIRQ_TYPE_MSI)
        return -XEN_EINVAL;
    int rc = free_pirq_locked(d, f->type);
    if (rc < 0)
        return rc;
    d->pirqs[rc].reserved = true;
    f->pirq = (uint32_t)rc;
    return 0;
}

static int op_irq_status_query(struct irq_pirq *r, struct pirq_dom *d, void *arg)
{
    struct physdev_irq_status_query *q = arg;
    if (q->irq >= d->nr_pirqs || d->pirqs[q->irq].line < 0)
        return -XEN_EINVAL;
    struct pirq_action *a = &r->actions[d->pirqs[q->irq].line];
    q->flags = 0;
    /* An edge line never waits for the guest; a level one (or one not yet
     * bound, whose ack type is not known) does. */
    if (!a->active || a->ack_type != ACK_NONE)
        q->flags |= XENIRQSTAT_needs_eoi;
    if (a->active && a->nr_guests > 1)
        q->flags |= XENIRQSTAT_shared;
    return 0;
}

static int op_eoi(struct irq_pirq *r, struct pirq_dom *d, void *arg)
{
    struct physdev_eoi *e = arg;
    if (e->irq >= d->nr_pirqs || d->pirqs[e->irq].line < 0)
        return -XEN_EINVAL;
    pirq_guest_eoi_locked(r, d, e->irq, false);
    return 0;
}

static int op_pirq_eoi_gmfn_v2(struct irq_pirq *r, struct pirq_dom *d, void *arg)
{
    struct physdev_pirq_eoi_gmfn *g = arg;
    /* Xen looks the frame up first (EINVAL), then lets a domain register
     * the page only once (EBUSY). */
    void *page = r->map_gfn ? r->map_gfn(r->opaque, d->id, g->gmfn) : NULL;
    if (!page)
        return -XEN_EINVAL;
    if (d->eoi_map)
        return -XEN_EBUSY;
    d->eoi_map = page;
    /* PIRQs already in flight need their bit now. */
    for (uint32_t p = 0; p < d->nr_pirqs; p++) {
        struct pirq_entry *pe = &d->pirqs[p];
        if (!pe->bound || pe->line < 0)
            continue;
        struct pirq_action *a = &r->actions[pe->line];
        for (unsigned int i = 0; i < a->nr_guests; i++)
            if (a->guest[i].dom == d->id && a->guest[i].pirq == p)
                pirq_eoi_bit(d, p, a->guest[i].masked);
    }
    return 0;
}

/* One row per PHYSDEVOP the router takes: its handler, the size of its
 * argument struct (struct physdev_<op> of <xen/physdev.h>) and whether that
 * struct goes back to the guest on success. */
static const struct {
    int (*fn)(struct irq_pirq *r, struct pirq_dom *caller, void *arg);
    size_t size;
    bool copy_back;
} op_table[] = {
#define OP(name, type, copy_back) \
    [PHYSDEVOP_##name] = { op_##name, sizeof(struct physdev_##type), copy_back }
    OP(map_pirq, map_pirq, true),
    OP(unmap_pirq, unmap_pirq, false),
    OP(get_free_pirq, get_free_pirq, true),
    OP(irq_status_query, irq_status_query, true),
    OP(eoi, eoi, false),
    OP(pirq_eoi_gmfn_v2, pirq_eoi_gmfn, false),
#undef OP
};

#define OP_TABLE_LEN (sizeof(op_table) / sizeof(op_table[0]))

int irq_pirq_physdev_op(struct irq_pirq *r, domid_t caller, unsigned int cmd,
                        void *arg)
{
    if (!arg)
        return -XEN_EFAULT;
    if (cmd >= OP_TABLE_LEN || !op_table[cmd].fn)
        return -XEN_ENOSYS;
    pthread_mutex_lock(&r->lock);
    struct pirq_dom *c = pirq_dom_find(r, caller);
    int rc = c ? op_table[cmd].fn(r, c, arg) : -XEN_ESRCH;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

size_t irq_pirq_physdev_arg_size(unsigned int cmd)
{
    return cmd < OP_TABLE_LEN ? op_table[cmd].size : 0;
}

bool irq_pirq_physdev_copies_back(unsigned int cmd)
{
    return cmd < OP_TABLE_LEN && op_table[cmd].copy_back;
}

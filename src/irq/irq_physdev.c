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
static int target_dom(struct irq_pirq *r, domid_t caller, domid_t domid,
                      struct pirq_dom **out)
{
    struct pirq_dom *c = pirq_dom_find(r, caller);
    if (!c)
        return -XEN_ESRCH;
    if (domid == DOMID_SELF || domid == caller) {
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

static int op_map_pirq(struct irq_pirq *r, domid_t caller,
                       struct physdev_map_pirq *m)
{
    struct pirq_dom *d;
    int rc = target_dom(r, caller, m->domid, &d);
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

static int op_unmap_pirq(struct irq_pirq *r, domid_t caller,
                         struct physdev_unmap_pirq *u)
{
    struct pirq_dom *d;
    int rc = target_dom(r, caller, u->domid, &d);
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

static int op_status_query(struct irq_pirq *r, domid_t caller,
                           struct physdev_irq_status_query *q)
{
    struct pirq_dom *d = pirq_dom_find(r, caller);
    if (!d)
        return -XEN_ESRCH;
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

static int op_eoi_gmfn(struct irq_pirq *r, domid_t caller,
                       struct physdev_pirq_eoi_gmfn *g)
{
    struct pirq_dom *d = pirq_dom_find(r, caller);
    if (!d)
        return -XEN_ESRCH;
    /* Xen looks the frame up first (EINVAL), then lets a domain register
     * the page only once (EBUSY). */
    void *page = r->map_gfn ? r->map_gfn(r->opaque, caller, g->gmfn) : NULL;
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

int irq_pirq_physdev_op(struct irq_pirq *r, domid_t caller, unsigned int cmd,
                        void *arg)
{
    if (!arg)
        return -XEN_EFAULT;
    int rc;
    pthread_mutex_lock(&r->lock);
    switch (cmd) {
    case PHYSDEVOP_map_pirq:
        rc = op_map_pirq(r, caller, arg);
        break;
    case PHYSDEVOP_unmap_pirq:
        rc = op_unmap_pirq(r, caller, arg);
        break;
    case PHYSDEVOP_get_free_pirq: {
        struct physdev_get_free_pirq *f = arg;
        struct pirq_dom *d = pirq_dom_find(r, caller);
        if (!d) {
            rc = -XEN_ESRCH;
        } else if (f->type != MAP_PIRQ_TYPE_GSI && f->type != MAP_PIRQ_TYPE_MSI) {
            rc = -XEN_EINVAL;
        } else {
            rc = free_pirq_locked(d, f->type);
            if (rc >= 0) {
                d->pirqs[rc].reserved = true;
                f->pirq = (uint32_t)rc;
                rc = 0;
            }
        }
        break;
    }
    case PHYSDEVOP_irq_status_query:
        rc = op_status_query(r, caller, arg);
        break;
    case PHYSDEVOP_eoi: {
        struct physdev_eoi *e = arg;
        struct pirq_dom *d = pirq_dom_find(r, caller);
        if (!d)
            rc = -XEN_ESRCH;
        else if (e->irq >= d->nr_pirqs || d->pirqs[e->irq].line < 0)
            rc = -XEN_EINVAL;
        else {
            pirq_guest_eoi_locked(r, d, e->irq, false);
            rc = 0;
        }
        break;
    }
    case PHYSDEVOP_pirq_eoi_gmfn_v2:
        rc = op_eoi_gmfn(r, caller, arg);
        break;
    default:
        rc = -XEN_ENOSYS;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

size_t irq_pirq_physdev_arg_size(unsigned int cmd)
{
    switch (cmd) {
    case PHYSDEVOP_map_pirq: return sizeof(struct physdev_map_pirq);
    case PHYSDEVOP_unmap_pirq: return sizeof(struct physdev_unmap_pirq);
    case PHYSDEVOP_get_free_pirq: return sizeof(struct physdev_get_free_pirq);
    case PHYSDEVOP_irq_status_query: return sizeof(struct physdev_irq_status_query);
    case PHYSDEVOP_eoi: return sizeof(struct physdev_eoi);
    case PHYSDEVOP_pirq_eoi_gmfn_v2: return sizeof(struct physdev_pirq_eoi_gmfn);
    default: return 0;
    }
}

bool irq_pirq_physdev_copies_back(unsigned int cmd)
{
    return cmd == PHYSDEVOP_map_pirq || cmd == PHYSDEVOP_get_free_pirq ||
           cmd == PHYSDEVOP_irq_status_query;
}


/*
 * Grant tables: GNTTABOP_copy, one segment at a time, with Xen's checks
 * and statuses in Xen's order: a gmfn operand only with DOMID_SELF
 * (permission_denied), the domains (bad_domain), the source then the
 * destination claimed (a grant pinned through the flag protocol, read-only
 * for the source; a gmfn resolved through the caller's gfn_map: bad_page),
 * then offset + len within the page (bad_copy_arg) and within a sub-page
 * grant's range (general_error). The copy runs with the grants' tables
 * locked, so their pins last exactly as long as the memmove.
 * Transitive grants are refused (GNTST_general_error, logged).
 */
#include <string.h>

#include "gnttab_int.h"

struct copy_buf {
    struct gnttab *gt;      /* the operand's domain */
    bool pinned;            /* a grant pinned in gt */
    grant_ref_t ref;
    uint8_t *addr;
    uint16_t start, len;    /* the range the operand allows */
};

static int16_t lock_domain(struct gnttab_host *h, domid_t caller,
                           const struct gnttab_copy_ptr *p, bool is_gref,
                           struct copy_buf *b)
{
    /* Only DOMID_SELF may name a frame. */
    if (!is_gref && p->domid != DOMID_SELF)
        return GNTST_permission_denied;
    b->gt = gnttab_lookup(h, p->domid == DOMID_SELF ? caller : p->domid);
    return b->gt ? GNTST_okay : GNTST_bad_domain;
}

static int16_t claim(domid_t caller, const struct gnttab_copy_ptr *p,
                     bool is_gref, bool readonly, struct copy_buf *b)
{
    if (is_gref) {
        struct gnttab_active *act;
        int16_t rc = gnttab_pin(b->gt, p->u.ref, caller, readonly, false, &act);
        if (rc != GNTST_okay)
            return rc;
        b->pinned = true;
        b->ref = p->u.ref;
        b->addr = act->addr;
        b->start = act->start;
        b->len = act->length;
        return GNTST_okay;
    }
    b->addr = b->gt->ops.gfn_map ? b->gt->ops.gfn_map(b->gt->opaque, p->u.gmfn)
                                 : NULL;
    if (!b->addr)
        return GNTST_bad_page;
    b->start = 0;
    b->len = GT_PAGE;
    return GNTST_okay;
}

static void release(struct copy_buf *b, bool readonly)
{
    if (b->pinned)
        gnttab_unpin(b->gt, b->ref, readonly);
    b->pinned = false;
}

int16_t gnttab_copy(struct gnttab_host *h, domid_t caller,
                    struct gnttab_copy *op)
{
    bool sg = op->flags & GNTCOPY_source_gref;
    bool dg = op->flags & GNTCOPY_dest_gref;
    struct copy_buf src = { 0 }, dst = { 0 };
    int16_t rc;

    pthread_rwlock_rdlock(&h->lock);
    rc = lock_domain(h, caller, &op->source, sg, &src);
    if (rc == GNTST_okay)
        rc = lock_domain(h, caller, &op->dest, dg, &dst);
    if (rc != GNTST_okay)
        goto out;
    /* Only a grant's table state is touched; a gmfn needs no lock. */
    struct gnttab *ls = sg ? src.gt : NULL, *ld = dg ? dst.gt : NULL;
    gnttab_lock2(ls, ld);
    rc = claim(caller, &op->source, sg, true, &src);
    if (rc == GNTST_okay)
        rc = claim(caller, &op->dest, dg, false, &dst);
    if (rc == GNTST_okay) {
        uint32_t so = op->source.offset, d_o = op->dest.offset, len = op->len;
        if (so + len > GT_PAGE || d_o + len > GT_PAGE)
            rc = GNTST_bad_copy_arg;
        else if (so < src.start || so + len > (uint32_t)src.start + src.len ||
                 d_o < dst.start || d_o + len > (uint32_t)dst.start + dst.len)
            rc = GNTST_general_error;
        else
            memmove(dst.addr + d_o, src.addr + so, len);
    }
    release(&dst, false);
    release(&src, true);
    gnttab_unlock2(ls, ld);
out:
    pthread_rwlock_unlock(&h->lock);
    op->status = rc;
    return rc;
}

/*
 * Grant tables: the flag protocol and active entries (Xen's _set_status_v1
 * and _v2, pins), the maptrack of a mapping domain, and
 * GNTTABOP_map_grant_ref / unmap_grant_ref for a backend in dom0.
 *
 * The guest may rewrite its entry at any time. Each read of it is one
 * atomic load into a local; v1 sets GTF_reading/GTF_writing by
 * compare-and-swap on flags+domid together (five tries, then the entry is
 * "unstable": GNTST_general_error, as Xen), v2 sets them in the status word
 * and then re-reads the entry to see it still grants what was checked.
 * Once pinned, the frame the entry named is kept in the active entry: the
 * mapper's pointer does not change with later rewrites or a revocation.
 */
#include <stdlib.h>

#include "gnttab_int.h"

#define GT_TRIES 5

/* v1: set the busy flags in the entry itself. *flags: the flags seen. */
static int16_t set_status_v1(struct gnttab *rgt, grant_ref_t ref, bool pinned,
                             bool readonly, bool map, domid_t ld,
                             uint16_t *flags)
{
    uint32_t *hdr = gt_hdr(rgt, ref);
    uint16_t mask = GTF_type_mask | (map ? GTF_sub_page : 0);
    union gt_combo cur = { .raw = __atomic_load_n(hdr, __ATOMIC_ACQUIRE) };

    for (int tries = 1;; tries++) {
        if (!pinned && ((cur.flags & mask) != GTF_permit_access ||
                        cur.domid != ld))
            return GNTST_general_error;
        union gt_combo new = cur;
        new.flags |= GTF_reading;
        if (!readonly) {
            if (cur.flags & GTF_readonly)
                return GNTST_general_error;
            new.flags |= GTF_writing;
        }
        if (__atomic_compare_exchange_n(hdr, &cur.raw, new.raw, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
            *flags = cur.flags;
            return GNTST_okay;
        }
        if (tries == GT_TRIES) {
            gnttab_log("d%u ref %u: entry unstable", rgt->domid, ref);
            return GNTST_general_error;
        }
    }
}

/* v2: the busy flags live in the status word; the entry is read again
 * after they are visible, so a concurrent revocation is seen by one side. */
static int16_t set_status_v2(struct gnttab *rgt, grant_ref_t ref, bool pinned,
                             bool readonly, bool map, domid_t ld,
                             uint16_t *flags)
{
    uint32_t *hdr = gt_hdr(rgt, ref);
    uint16_t *st = gt_status(rgt, ref);
    uint16_t mask = GTF_type_mask | (map ? GTF_sub_page : 0);
    union gt_combo c = { .raw = __atomic_load_n(hdr, __ATOMIC_ACQUIRE) };

    if (!pinned && (c.flags & GTF_type_mask) == GTF_transitive) {
        gnttab_log("d%u ref %u: transitive grants are not supported",
                   rgt->domid, ref);
        return GNTST_general_error;
    }
    if (!pinned && ((c.flags & mask) != GTF_permit_access || c.domid != ld))
        return GNTST_general_error;
    if (!readonly && (c.flags & GTF_readonly))
        return GNTST_general_error;
    __atomic_fetch_or(st, (uint16_t)(readonly ? GTF_reading
                                              : GTF_reading | GTF_writing),
                      __ATOMIC_SEQ_CST);
    c.raw = __atomic_load_n(hdr, __ATOMIC_SEQ_CST);
    if (!pinned) {
        if ((c.flags & mask) != GTF_permit_access || c.domid != ld ||
            (!readonly && (c.flags & GTF_readonly))) {
            gt_clear_flags(rgt, ref, GTF_reading | GTF_writing);
            return GNTST_general_error;
        }
    } else if (c.flags & GTF_readonly) {
        /* A writer joining readers: the guest made it read-only. */
        gt_clear_flags(rgt, ref, GTF_writing);
        return GNTST_general_error;
    }
    *flags = c.flags;
    return GNTST_okay;
}

int16_t gnttab_pin(struct gnttab *rgt, grant_ref_t ref, domid_t ld,
                   bool readonly, bool map, struct gnttab_active **out)
{
    if (ref >= gt_nr_entries(rgt))
        return GNTST_bad_gntref;
    struct gnttab_active *act = gt_act(rgt, ref);
    bool pinned = act->pin_r || act->pin_w;
    if (pinned && (act->domid != ld || act->pin_r >= GT_PIN_MAX ||
                   act->pin_w >= GT_PIN_MAX || (map && act->sub_page)))
        return GNTST_general_error;

    if (!pinned || (!readonly && !act->pin_w)) {
        uint16_t flags = 0;
        int16_t rc = rgt->version == 1
            ? set_status_v1(rgt, ref, pinned, readonly, map, ld, &flags)
            : set_status_v2(rgt, ref, pinned, readonly, map, ld, &flags);
        if (rc != GNTST_okay)
            return rc;
        if (!pinned) {
            /* The frame, read once, now that the guest sees us busy. */
            const uint8_t *e = gt_entry(rgt, ref);
            uint64_t gfn;
            uint16_t start = 0, length = GT_PAGE;
            bool sub = rgt->version == 2 && (flags & GTF_sub_page);
            if (rgt->version == 1) {
                gfn = __atomic_load_n((const uint32_t *)(e + 4), __ATOMIC_ACQUIRE);
            } else {
                gfn = __atomic_load_n((const uint64_t *)(e + 8), __ATOMIC_ACQUIRE);
                if (sub) {
                    uint32_t r = __atomic_load_n((const uint32_t *)(e + 4),
                                                 __ATOMIC_ACQUIRE);
                    start = (uint16_t)r;
                    length = (uint16_t)(r >> 16);
                }
            }
            void *addr = rgt->ops.gfn_map(rgt->opaque, gfn);
            if (!addr) {
                gt_clear_flags(rgt, ref, (uint16_t)(GTF_reading |
                               (readonly ? 0 : GTF_writing)));
                return GNTST_bad_page;
            }
            *act = (struct gnttab_active){
                .addr = addr, .gfn = gfn, .domid = ld,
                .start = start, .length = length, .sub_page = sub,
            };
            rgt->nr_pinned++;
        }
    }
    if (readonly)
        act->pin_r++;
    else
        act->pin_w++;
    *out = act;
    return GNTST_okay;
}

void gnttab_unpin(struct gnttab *rgt, grant_ref_t ref, bool readonly)
{
    struct gnttab_active *act = gt_act(rgt, ref);
    uint16_t clear = 0;
    if (readonly) {
        act->pin_r--;
    } else {
        act->pin_w--;
        if (!act->pin_w)
            clear |= GTF_writing;
    }
    if (!act->pin_r && !act->pin_w) {
        clear |= GTF_reading;
        act->addr = NULL;
        rgt->nr_pinned--;
    }
    gt_clear_flags(rgt, ref, clear);
}

/* ---- maptrack (the mapper's table locked) ---- */

static struct gnttab_mt *mt_entry(struct gnttab *lgt, grant_handle_t h)
{
    return &lgt->mt[h / GNTTAB_MAPTRACK_PER_FRAME][h % GNTTAB_MAPTRACK_PER_FRAME];
}

/* A free handle, growing the maptrack one frame when none is free. */
static grant_handle_t mt_get(struct gnttab *lgt)
{
    if (lgt->mt_free == GT_MT_NONE) {
        uint32_t f = lgt->mt_limit / GNTTAB_MAPTRACK_PER_FRAME;
        if (f >= lgt->max_mt_frames)
            return GT_MT_NONE;
        struct gnttab_mt *m = calloc(GNTTAB_MAPTRACK_PER_FRAME, sizeof(*m));
        if (!m)
            return GT_MT_NONE;
        uint32_t base = lgt->mt_limit;
        for (uint32_t i = 0; i < GNTTAB_MAPTRACK_PER_FRAME; i++)
            m[i].next = i + 1 < GNTTAB_MAPTRACK_PER_FRAME ? base + i + 1
                                                          : GT_MT_NONE;
        lgt->mt[f] = m;
        lgt->mt_limit += GNTTAB_MAPTRACK_PER_FRAME;
        lgt->mt_free = base;
    }
    grant_handle_t h = lgt->mt_free;
    lgt->mt_free = mt_entry(lgt, h)->next;
    lgt->mt_used++;
    return h;
}

static void mt_put(struct gnttab *lgt, grant_handle_t h)
{
    struct gnttab_mt *m = mt_entry(lgt, h);
    m->flags = 0;
    m->next = lgt->mt_free;
    lgt->mt_free = h;
    lgt->mt_used--;
}

/* The granter a live maptrack entry still refers to, or NULL when that
 * table was destroyed (a reused domid has another serial). */
static struct gnttab *mt_granter(struct gnttab_host *h, const struct gnttab_mt *m)
{
    struct gnttab *rgt = gnttab_lookup(h, m->dom);
    return rgt && rgt->serial == m->serial ? rgt : NULL;
}

/* ---- map and unmap ---- */

int16_t gnttab_map(struct gnttab_host *h, domid_t mapper, domid_t granter,
                   grant_ref_t ref, uint32_t flags,
                   struct gnttab_mapping *out)
{
    if (!(flags & (GNTMAP_device_map | GNTMAP_host_map)))
        return GNTST_bad_gntref;
    /* In-process mappings have no bus address and no guest page tables,
     * as an HVM mapper in Xen. */
    if (flags & (GNTMAP_device_map | GNTMAP_application_map |
                 GNTMAP_contains_pte))
        return GNTST_general_error;
    bool ro = flags & GNTMAP_readonly;
    int16_t rc;

    pthread_rwlock_rdlock(&h->lock);
    struct gnttab *lgt = gnttab_lookup(h, mapper);
    struct gnttab *rgt = gnttab_lookup(h, granter);
    if (!lgt) {
        rc = GNTST_general_error;
        goto out;
    }
    if (!rgt) {
        rc = GNTST_bad_domain;
        goto out;
    }
    gnttab_lock2(lgt, rgt);
    grant_handle_t handle = mt_get(lgt);
    if (handle == GT_MT_NONE) {
        rc = GNTST_no_device_space;
    } else {
        struct gnttab_active *act;
        rc = gnttab_pin(rgt, ref, mapper, ro, true, &act);
        if (rc != GNTST_okay) {
            mt_put(lgt, handle);
        } else {
            struct gnttab_mt *m = mt_entry(lgt, handle);
            m->ref = ref;
            m->dom = granter;
            m->serial = rgt->serial;
            m->flags = (uint16_t)(GNTMAP_host_map | (ro ? GNTMAP_readonly : 0));
            out->addr = act->addr;
            out->handle = handle;
            out->readonly = ro;
        }
    }
    gnttab_unlock2(lgt, rgt);
out:
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

int16_t gnttab_unmap(struct gnttab_host *h, domid_t mapper,
                     grant_handle_t handle)
{
    int16_t rc = GNTST_okay;
    pthread_rwlock_rdlock(&h->lock);
    struct gnttab *lgt = gnttab_lookup(h, mapper);
    if (!lgt) {
        pthread_rwlock_unlock(&h->lock);
        return GNTST_bad_handle;
    }
    pthread_mutex_lock(&lgt->lock);
    if (handle >= lgt->mt_limit || !mt_entry(lgt, handle)->flags) {
        rc = GNTST_bad_handle;
        goto out_l;
    }
    struct gnttab_mt m = *mt_entry(lgt, handle);
    struct gnttab *rgt = mt_granter(h, &m);
    if (!rgt) {                 /* its granter is gone: nothing to unpin */
        mt_put(lgt, handle);
        goto out_l;
    }
    if (rgt != lgt) {
        if (rgt->domid > lgt->domid) {
            pthread_mutex_lock(&rgt->lock);     /* in order already */
        } else {
            pthread_mutex_unlock(&lgt->lock);
            gnttab_lock2(lgt, rgt);
            struct gnttab_mt *now = mt_entry(lgt, handle);
            if (!now->flags || now->dom != m.dom || now->ref != m.ref ||
                now->serial != m.serial) {
                rc = GNTST_bad_handle;          /* unmapped meanwhile */
                gnttab_unlock2(lgt, rgt);
                goto out;
            }
        }
    }
    gnttab_unpin(rgt, m.ref, m.flags & GNTMAP_readonly);
    mt_put(lgt, handle);
    if (rgt != lgt)
        pthread_mutex_unlock(&rgt->lock);
out_l:
    pthread_mutex_unlock(&lgt->lock);
out:
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

void gnttab_drop_mappings(struct gnttab *gt)
{
    for (grant_handle_t i = 0; i < gt->mt_limit; i++) {
        struct gnttab_mt *m = mt_entry(gt, i);
        if (!m->flags)
            continue;
        struct gnttab *rgt = mt_granter(gt->host, m);
        if (rgt && rgt != gt) {
            pthread_mutex_lock(&rgt->lock);
            gnttab_unpin(rgt, m->ref, m->flags & GNTMAP_readonly);
            pthread_mutex_unlock(&rgt->lock);
        } else if (rgt == gt) {
            gnttab_unpin(gt, m->ref, m->flags & GNTMAP_readonly);
        }
        mt_put(gt, i);
    }
}

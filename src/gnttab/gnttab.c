/*
 * Grant tables: the registry of tables by domid, a table's frames (growth,
 * where the guest mapped each one), its version (v1 <-> v2 with the
 * reserved entries carried over), and the guest's own table operations
 * (query_size, setup_table, get_status_frames, swap, add_to_physmap).
 * Xen 4.17's xen/common/grant_table.c is the reference for every status.
 * Mapping and the flag protocol are in gnttab_map.c, GNTTABOP_copy in
 * gnttab_copy.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xenkvm/util.h"
#include "gnttab_int.h"

#include <xen/memory.h>     /* XENMAPIDX_grant_table_status */

/* Xen's INITIAL_NR_GRANT_FRAMES. */
#define GT_INITIAL_FRAMES 1u
/* Bounds on a config, so entry offsets and handles fit 32 bits. */
#define GT_MAX_FRAMES_CAP 65536u
#define GT_MAX_MT_FRAMES_CAP (UINT32_MAX / GNTTAB_MAPTRACK_PER_FRAME - 1)

static struct util_ratelimit gnttab_rl = UTIL_RATELIMIT_INIT;

void gnttab_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    util_vlog_ratelimited(&gnttab_rl, stderr, "gnttab: ", fmt, ap);
    va_end(ap);
}

uint32_t gnttab_status_pages(uint32_t max_frames)
{
    return gt_status_frames(max_frames);
}

/* ---- registry ---- */

struct gnttab_host *gnttab_host_create(void)
{
    struct gnttab_host *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->tab = calloc(DOMID_FIRST_RESERVED, sizeof(*h->tab));
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
#ifdef PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
    /* A stream of maps from the backends must not starve a destroy. */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    int rc = pthread_rwlock_init(&h->lock, &a);
    pthread_rwlockattr_destroy(&a);
    if (!h->tab || rc) {
        free(h->tab);
        free(h);
        return NULL;
    }
    return h;
}

void gnttab_host_destroy(struct gnttab_host *h)
{
    if (!h)
        return;
    pthread_rwlock_destroy(&h->lock);
    free(h->tab);
    free(h);
}

struct gnttab *gnttab_lookup(struct gnttab_host *h, domid_t domid)
{
    return domid < DOMID_FIRST_RESERVED ? h->tab[domid] : NULL;
}

void gnttab_lock2(struct gnttab *a, struct gnttab *b)
{
    if (a && b && a != b && b->domid < a->domid) {
        struct gnttab *t = a;
        a = b;
        b = t;
    }
    if (a)
        pthread_mutex_lock(&a->lock);
    if (b && b != a)
        pthread_mutex_lock(&b->lock);
}

void gnttab_unlock2(struct gnttab *a, struct gnttab *b)
{
    if (b && b != a)
        pthread_mutex_unlock(&b->lock);
    if (a)
        pthread_mutex_unlock(&a->lock);
}

/* ---- a table ---- */

/* Grow to n shared frames (n <= max_frames): their active entries, and in
 * v2 the status frames that go with them. Table locked. 0 or -ENOMEM. */
static int grow(struct gnttab *gt, uint32_t n)
{
    for (uint32_t i = gt->nr_frames; i < n; i++) {
        gt->active[i] = calloc(GT_ACT_PER_FRAME, sizeof(struct gnttab_active));
        if (!gt->active[i])
            return -ENOMEM;     /* frames below i stay grown, as counted */
        gt->nr_frames = i + 1;
    }
    if (gt->version == 2)
        gt->nr_status = gt_status_frames(gt->nr_frames);
    return 0;
}

static void table_free(struct gnttab *gt)
{
    if (gt->active)
        for (uint32_t i = 0; i < gt->nr_frames; i++)
            free(gt->active[i]);
    if (gt->mt)
        for (uint32_t i = 0; i < gt->mt_limit / GNTTAB_MAPTRACK_PER_FRAME; i++)
            free(gt->mt[i]);
    free(gt->active);
    free(gt->mt);
    free(gt->gfn);
    pthread_mutex_destroy(&gt->lock);
    free(gt);
}

static bool config_ok(const struct gnttab_config *cfg)
{
    if (cfg->domid >= DOMID_FIRST_RESERVED ||
        cfg->max_maptrack_frames > GT_MAX_MT_FRAMES_CAP)
        return false;
    if (!cfg->pages)
        return true;
    return cfg->max_frames >= GT_INITIAL_FRAMES &&
           cfg->max_frames <= GT_MAX_FRAMES_CAP && cfg->ops &&
           cfg->ops->gfn_map && cfg->ops->map_frame;
}

struct gnttab *gnttab_create(struct gnttab_host *h,
                             const struct gnttab_config *cfg)
{
    if (!h || !cfg || !config_ok(cfg)) {
        errno = EINVAL;
        return NULL;
    }
    struct gnttab *gt = calloc(1, sizeof(*gt));
    if (!gt)
        return NULL;
    pthread_mutex_init(&gt->lock, NULL);
    gt->host = h;
    gt->domid = cfg->domid;
    gt->version = 1;
    gt->mt_free = GT_MT_NONE;
    gt->max_mt_frames = cfg->max_maptrack_frames;
    if (cfg->pages) {
        gt->pages = cfg->pages;
        gt->ops = *cfg->ops;
        gt->opaque = cfg->opaque;
        gt->max_frames = cfg->max_frames;
    }
    uint32_t npages = gt->max_frames + gnttab_status_pages(gt->max_frames);
    gt->gfn = malloc((npages ? npages : 1) * sizeof(*gt->gfn));
    gt->active = calloc(gt->max_frames ? gt->max_frames : 1, sizeof(*gt->active));
    gt->mt = calloc(gt->max_mt_frames ? gt->max_mt_frames : 1, sizeof(*gt->mt));
    if (!gt->gfn || !gt->active || !gt->mt)
        goto nomem;
    for (uint32_t i = 0; i < npages; i++)
        gt->gfn[i] = GT_INVALID_GFN;
    if (gt->pages && grow(gt, GT_INITIAL_FRAMES))
        goto nomem;

    pthread_rwlock_wrlock(&h->lock);
    if (h->tab[cfg->domid]) {
        pthread_rwlock_unlock(&h->lock);
        table_free(gt);
        errno = EINVAL;
        return NULL;
    }
    gt->serial = ++h->next_serial;
    h->tab[cfg->domid] = gt;
    pthread_rwlock_unlock(&h->lock);
    return gt;
nomem:
    table_free(gt);
    errno = ENOMEM;
    return NULL;
}

void gnttab_destroy(struct gnttab *gt)
{
    if (!gt)
        return;
    struct gnttab_host *h = gt->host;
    pthread_rwlock_wrlock(&h->lock);
    gnttab_drop_mappings(gt);
    h->tab[gt->domid] = NULL;
    /* No operation runs now (the registry is held exclusive); what is
     * still pinned was mapped by a mapper that did not unmap first. */
    if (gt->nr_pinned)
        gnttab_log("d%u destroyed with %u grants still mapped; their "
                   "handles are orphaned", gt->domid, gt->nr_pinned);
    pthread_rwlock_unlock(&h->lock);
    table_free(gt);
}

/* ---- the guest's own operations ---- */

int16_t gnttab_op_query_size(struct gnttab *gt, uint32_t *nr_frames,
                             uint32_t *max_frames)
{
    pthread_mutex_lock(&gt->lock);
    *nr_frames = gt->nr_frames;
    *max_frames = gt->max_frames;
    pthread_mutex_unlock(&gt->lock);
    return GNTST_okay;
}

uint32_t gnttab_op_get_version(struct gnttab *gt)
{
    pthread_mutex_lock(&gt->lock);
    uint32_t v = gt->version;
    pthread_mutex_unlock(&gt->lock);
    return v;
}

int16_t gnttab_op_setup_table(struct gnttab *gt, uint32_t nr_frames,
                              uint64_t *frames)
{
    int16_t rc = GNTST_okay;
    pthread_mutex_lock(&gt->lock);
    if (nr_frames > gt->max_frames) {
        gnttab_log("d%u is limited to %u grant-table frames", gt->domid,
                   gt->max_frames);
        rc = GNTST_general_error;
    } else if (nr_frames > gt->nr_frames && grow(gt, nr_frames)) {
        rc = GNTST_general_error;
    } else {
        for (uint32_t i = 0; i < nr_frames; i++)
            frames[i] = gt->gfn[i];
    }
    pthread_mutex_unlock(&gt->lock);
    return rc;
}

int16_t gnttab_op_get_status_frames(struct gnttab *gt, uint32_t nr_frames,
                                    uint64_t *frames)
{
    int16_t rc = GNTST_okay;
    pthread_mutex_lock(&gt->lock);
    if (nr_frames > gt->nr_status)
        rc = GNTST_general_error;
    else
        for (uint32_t i = 0; i < nr_frames; i++)
            frames[i] = gt->gfn[gt->max_frames + i];
    pthread_mutex_unlock(&gt->lock);
    return rc;
}

int gnttab_op_add_to_physmap(struct gnttab *gt, uint64_t idx, uint64_t gfn)
{
    int rc = -EINVAL;
    uint32_t page;
    pthread_mutex_lock(&gt->lock);
    if (gt->version == 2 && (idx & XENMAPIDX_grant_table_status)) {
        idx &= ~(uint64_t)XENMAPIDX_grant_table_status;
        if (idx >= gt->nr_status) {
            /* Enough shared frames for status frame idx to exist. */
            uint64_t want = ((idx + 1) * GT_ST_PER_PAGE + GT_V2_PER_PAGE - 1)
                            / GT_V2_PER_PAGE;
            if (idx < gt_status_frames(gt->max_frames) && want <= gt->max_frames)
                grow(gt, (uint32_t)want);
            if (idx >= gt->nr_status)
                goto out;
        }
        page = gt->max_frames + (uint32_t)idx;
    } else {
        if (idx >= gt->max_frames)
            goto out;
        if (idx >= gt->nr_frames && grow(gt, (uint32_t)idx + 1))
            goto out;
        page = (uint32_t)idx;
    }
    rc = gt->ops.map_frame(gt->opaque, page, gfn);
    if (rc == 0) {
        /* The frame that was at gfn before is not there any more. */
        uint32_t npages = gt->max_frames + gnttab_status_pages(gt->max_frames);
        for (uint32_t i = 0; i < npages; i++)
            if (gt->gfn[i] == gfn)
                gt->gfn[i] = GT_INVALID_GFN;
        gt->gfn[page] = gfn;
    }
out:
    pthread_mutex_unlock(&gt->lock);
    return rc;
}

int16_t gnttab_op_swap(struct gnttab *gt, grant_ref_t a, grant_ref_t b)
{
    int16_t rc = GNTST_okay;
    pthread_mutex_lock(&gt->lock);
    uint32_t n = gt_nr_entries(gt);
    if (a >= n || b >= n) {
        rc = GNTST_bad_gntref;
    } else if (a != b) {
        struct gnttab_active *aa = gt_act(gt, a), *ab = gt_act(gt, b);
        if (aa->pin_r || aa->pin_w || ab->pin_r || ab->pin_w) {
            rc = GNTST_eagain;
        } else {
            /* Entries are 8 (v1) or 16 (v2) bytes: whole words. */
            unsigned words = gt->version == 1 ? 1 : 2;
            uint64_t *pa = (uint64_t *)gt_entry(gt, a);
            uint64_t *pb = (uint64_t *)gt_entry(gt, b);
            for (unsigned i = 0; i < words; i++) {
                uint64_t t = __atomic_load_n(&pa[i], __ATOMIC_RELAXED);
                __atomic_store_n(&pa[i], __atomic_load_n(&pb[i], __ATOMIC_RELAXED),
                                 __ATOMIC_RELAXED);
                __atomic_store_n(&pb[i], t, __ATOMIC_RELAXED);
            }
            if (gt->version == 2) {
                uint16_t *sa = gt_status(gt, a), *sb = gt_status(gt, b);
                uint16_t t = __atomic_load_n(sa, __ATOMIC_RELAXED);
                __atomic_store_n(sa, __atomic_load_n(sb, __ATOMIC_RELAXED),
                                 __ATOMIC_RELAXED);
                __atomic_store_n(sb, t, __ATOMIC_RELAXED);
            }
        }
    }
    pthread_mutex_unlock(&gt->lock);
    return rc;
}

/* ---- set_version ---- */

/* Zero guest-visible memory the guest may be writing at the same time. */
static void guest_zero(void *p, size_t n)
{
    uint64_t *w = p;
    for (size_t i = 0; i < n / 8; i++)
        __atomic_store_n(&w[i], 0, __ATOMIC_RELAXED);
}

/* A reserved entry, as v1 holds it (flags with the status bits). */
struct gt_saved {
    uint16_t flags;
    domid_t domid;
    uint64_t frame;
};

/* Read the reserved entries of the version in force; -ERANGE (v2) if one
 * does not fit v1 and v1 is asked for. */
static int save_reserved(struct gnttab *gt, uint32_t to,
                         struct gt_saved s[GNTTAB_NR_RESERVED_ENTRIES])
{
    uint32_t n = gt_nr_entries(gt);
    for (grant_ref_t i = 0; i < GNTTAB_NR_RESERVED_ENTRIES; i++) {
        memset(&s[i], 0, sizeof(s[i]));
        if (i >= n)
            continue;
        union gt_combo c = { .raw = __atomic_load_n(gt_hdr(gt, i), __ATOMIC_ACQUIRE) };
        if (gt->version == 1) {
            s[i].flags = c.flags;
            s[i].domid = c.domid;
            s[i].frame = __atomic_load_n((uint32_t *)(gt_entry(gt, i) + 4),
                                         __ATOMIC_RELAXED);
            continue;
        }
        uint64_t frame = __atomic_load_n((uint64_t *)(gt_entry(gt, i) + 8),
                                         __ATOMIC_RELAXED);
        uint16_t type = c.flags & GTF_type_mask;
        if (to == 1 && (type == GTF_transitive ||
                        (type == GTF_permit_access && (frame >> 32))))
            return -ERANGE;
        if (type == GTF_permit_access) {
            s[i].flags = c.flags | __atomic_load_n(gt_status(gt, i), __ATOMIC_RELAXED);
            s[i].domid = c.domid;
            s[i].frame = frame;
        }
    }
    return 0;
}

static void restore_reserved(struct gnttab *gt,
                             const struct gt_saved s[GNTTAB_NR_RESERVED_ENTRIES])
{
    uint32_t n = gt_nr_entries(gt);
    const uint16_t busy = GTF_reading | GTF_writing;
    for (grant_ref_t i = 0; i < GNTTAB_NR_RESERVED_ENTRIES && i < n; i++) {
        union gt_combo c = { .flags = s[i].flags, .domid = s[i].domid };
        if (gt->version == 1) {
            __atomic_store_n((uint32_t *)(gt_entry(gt, i) + 4),
                             (uint32_t)s[i].frame, __ATOMIC_RELAXED);
        } else {
            c.flags &= (uint16_t)~busy;
            __atomic_store_n((uint64_t *)(gt_entry(gt, i) + 8), s[i].frame,
                             __ATOMIC_RELAXED);
            __atomic_store_n(gt_status(gt, i), (uint16_t)(s[i].flags & busy),
                             __ATOMIC_RELAXED);
        }
        __atomic_store_n(gt_hdr(gt, i), c.raw, __ATOMIC_RELEASE);
    }
}

int gnttab_op_set_version(struct gnttab *gt, uint32_t version, uint32_t *now)
{
    int rc = 0;
    pthread_mutex_lock(&gt->lock);
    if (version != 1 && version != 2) {
        rc = -EINVAL;
        goto out;
    }
    if (version == gt->version)
        goto out;
    /* Not while a grant is in use, except the reserved entries (the
     * console's and the store's stay mapped). */
    uint32_t n = gt_nr_entries(gt);
    for (grant_ref_t i = GNTTAB_NR_RESERVED_ENTRIES; i < n; i++) {
        const struct gnttab_active *a = gt_act(gt, i);
        if (a->pin_r || a->pin_w) {
            gnttab_log("d%u: set_version %u -> %u with grants in use",
                       gt->domid, gt->version, version);
            rc = -EBUSY;
            goto out;
        }
    }
    if (!gt->pages) {           /* a table without frames: nothing to carry */
        gt->version = version;
        goto out;
    }
    struct gt_saved saved[GNTTAB_NR_RESERVED_ENTRIES];
    rc = save_reserved(gt, version, saved);
    if (rc)
        goto out;
    guest_zero(gt->pages, (size_t)gt->nr_frames * GT_PAGE);
    if (version == 2) {
        guest_zero(gt->pages + (size_t)gt->max_frames * GT_PAGE,
                   (size_t)gnttab_status_pages(gt->max_frames) * GT_PAGE);
        gt->nr_status = gt_status_frames(gt->nr_frames);
    } else {
        /* The status frames stay where the guest mapped them (there is no
         * hook to unmap a frame); they are simply not used in v1. */
        gt->nr_status = 0;
    }
    gt->version = version;
    restore_reserved(gt, saved);
out:
    *now = gt->version;
    pthread_mutex_unlock(&gt->lock);
    return rc;
}

void gnttab_get_stats(struct gnttab *gt, struct gnttab_stats *out)
{
    pthread_mutex_lock(&gt->lock);
    out->version = gt->version;
    out->nr_frames = gt->nr_frames;
    out->max_frames = gt->max_frames;
    out->active = gt->nr_pinned;
    out->maptrack = gt->mt_used;
    pthread_mutex_unlock(&gt->lock);
}

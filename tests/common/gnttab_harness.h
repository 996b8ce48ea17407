/*
 * A small platform for the grant-table core without KVM: a domain's RAM
 * and its table are plain page-aligned host memory; gfn_map answers for
 * gfn 0..nr_ram-1, map_frame records where the guest put each table page
 * (gfn GX_BAD_GFN is refused). The guest side writes its entries with
 * atomics, as a guest vCPU does. Header-only: used by the unit tests, the
 * stress test, the fuzzer and the benchmark.
 */
#ifndef XENKVM_TESTS_GNTTAB_HARNESS_H
#define XENKVM_TESTS_GNTTAB_HARNESS_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xenkvm/gnttab.h>

#define GX_PAGE 4096u
#define GX_BAD_GFN 0xdeadull        /* map_frame refuses it */

struct gx_dom {
    struct gnttab *gt;
    uint8_t *table;                 /* max_frames + status pages */
    uint8_t *ram;
    uint32_t nr_ram, max_frames;
    unsigned map_frame_calls;
    uint32_t last_page;
    uint64_t last_gfn;
};

static inline void *gx_gfn_map(void *dom, uint64_t gfn)
{
    struct gx_dom *d = dom;
    return gfn < d->nr_ram ? d->ram + gfn * GX_PAGE : NULL;
}

static inline int gx_map_frame(void *dom, uint32_t page, uint64_t gfn)
{
    struct gx_dom *d = dom;
    if (gfn == GX_BAD_GFN)
        return -EINVAL;
    d->map_frame_calls++;
    d->last_page = page;
    d->last_gfn = gfn;
    return 0;
}

static const struct gnttab_ops gx_ops = { gx_gfn_map, gx_map_frame };

static inline void *gx_pages(size_t n)
{
    void *p = aligned_alloc(GX_PAGE, n * GX_PAGE);
    if (p)
        memset(p, 0, n * GX_PAGE);
    return p;
}

/* A guest with a table of max_frames and nr_ram pages of RAM; max_frames
 * 0: a mapping-only domain (dom0) without a table. 0 or -1. */
static inline int gx_dom_init(struct gnttab_host *h, struct gx_dom *d,
                              domid_t domid, uint32_t max_frames,
                              uint32_t mt_frames, uint32_t nr_ram)
{
    memset(d, 0, sizeof(*d));
    d->max_frames = max_frames;
    d->nr_ram = nr_ram;
    if (max_frames) {
        d->table = gx_pages(max_frames + gnttab_status_pages(max_frames));
        d->ram = gx_pages(nr_ram ? nr_ram : 1);
        if (!d->table || !d->ram)
            return -1;
    }
    struct gnttab_config cfg = {
        .domid = domid, .max_frames = max_frames,
        .max_maptrack_frames = mt_frames, .pages = d->table,
        .ops = max_frames ? &gx_ops : NULL, .opaque = d,
    };
    d->gt = gnttab_create(h, &cfg);
    return d->gt ? 0 : -1;
}

static inline void gx_dom_fini(struct gx_dom *d)
{
    gnttab_destroy(d->gt);
    free(d->table);
    free(d->ram);
    memset(d, 0, sizeof(*d));
}

/* ---- the guest's side of its entries ---- */

static inline uint32_t gx_combo(uint16_t flags, domid_t domid)
{
    union { uint32_t raw; struct { uint16_t f; domid_t d; }; } c;
    c.f = flags;
    c.d = domid;
    return c.raw;
}

/* v1: frame first, then flags+domid (what Linux's gnttab_update_entry_v1
 * does, with a write barrier between). */
static inline void gx_grant_v1(struct gx_dom *d, grant_ref_t ref,
                               uint16_t flags, domid_t domid, uint32_t frame)
{
    uint8_t *e = d->table + (size_t)ref * 8;
    __atomic_store_n((uint32_t *)(e + 4), frame, __ATOMIC_RELAXED);
    __atomic_store_n((uint32_t *)e, gx_combo(flags, domid), __ATOMIC_RELEASE);
}

static inline void gx_grant_v2(struct gx_dom *d, grant_ref_t ref,
                               uint16_t flags, domid_t domid, uint64_t frame)
{
    uint8_t *e = d->table + (size_t)ref * 16;
    __atomic_store_n((uint64_t *)(e + 8), frame, __ATOMIC_RELAXED);
    __atomic_store_n((uint32_t *)e, gx_combo(flags, domid), __ATOMIC_RELEASE);
}

static inline void gx_grant_v2_sub(struct gx_dom *d, grant_ref_t ref,
                                   uint16_t flags, domid_t domid,
                                   uint64_t frame, uint16_t off, uint16_t len)
{
    uint8_t *e = d->table + (size_t)ref * 16;
    __atomic_store_n((uint64_t *)(e + 8), frame, __ATOMIC_RELAXED);
    __atomic_store_n((uint32_t *)(e + 4), (uint32_t)off | (uint32_t)len << 16,
                     __ATOMIC_RELAXED);
    __atomic_store_n((uint32_t *)e, gx_combo(flags | GTF_sub_page, domid),
                     __ATOMIC_RELEASE);
}

/* v2 transitive: trans_domid at 4, gref at 8. */
static inline void gx_grant_v2_trans(struct gx_dom *d, grant_ref_t ref,
                                     domid_t domid, domid_t tdom, grant_ref_t tref)
{
    uint8_t *e = d->table + (size_t)ref * 16;
    __atomic_store_n((uint32_t *)(e + 4), (uint32_t)tdom, __ATOMIC_RELAXED);
    __atomic_store_n((uint32_t *)(e + 8), tref, __ATOMIC_RELAXED);
    __atomic_store_n((uint32_t *)e, gx_combo(GTF_transitive, domid),
                     __ATOMIC_RELEASE);
}

/* The flags an entry shows now (v1: the entry's; v2: with the status
 * word's busy bits or-ed in). */
static inline uint16_t gx_flags(const struct gx_dom *d, uint32_t version,
                                grant_ref_t ref)
{
    if (version == 1)
        return __atomic_load_n((uint16_t *)(d->table + (size_t)ref * 8),
                               __ATOMIC_ACQUIRE);
    uint16_t f = __atomic_load_n((uint16_t *)(d->table + (size_t)ref * 16),
                                 __ATOMIC_ACQUIRE);
    uint16_t s = __atomic_load_n((uint16_t *)(d->table + (size_t)d->max_frames
                                              * GX_PAGE) + ref, __ATOMIC_ACQUIRE);
    return f | s;
}

static inline uint16_t gx_busy(const struct gx_dom *d, uint32_t version,
                               grant_ref_t ref)
{
    return gx_flags(d, version, ref) & (GTF_reading | GTF_writing);
}

#endif /* XENKVM_TESTS_GNTTAB_HARNESS_H */

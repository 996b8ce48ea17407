/*
 * Grant tables, private to src/gnttab: the table and registry structs, the
 * guest-entry accessors (every read and write of guest memory is an
 * __atomic op: the guest writes its entries from its vCPUs at any time),
 * and the pin/unpin of the flag protocol shared by map and copy.
 *
 * Locks: the registry's rwlock (shared by every cross-domain operation,
 * exclusive for create/destroy), then tables' mutexes in domid order.
 * A table's version, frames, active entries and maptrack are read and
 * written under its mutex only.
 */
#ifndef GNTTAB_INT_H
#define GNTTAB_INT_H

#include <pthread.h>

#include "xenkvm/gnttab.h"

#define GT_PAGE 4096u
#define GT_V1_PER_PAGE (GT_PAGE / sizeof(grant_entry_v1_t))    /* 512 */
#define GT_V2_PER_PAGE (GT_PAGE / sizeof(grant_entry_v2_t))    /* 256 */
#define GT_ST_PER_PAGE (GT_PAGE / sizeof(grant_status_t))      /* 2048 */
/* Active entries are allocated per shared frame at v1's count, so they
 * do not move when the version changes. */
#define GT_ACT_PER_FRAME GT_V1_PER_PAGE
/* Xen refuses any new pin of an entry one of whose counts reached 0x80
 * (its 8-bit counters' overflow guard): 128 users of each kind. */
#define GT_PIN_MAX 0x80u
#define GT_MT_NONE UINT32_MAX
#define GT_INVALID_GFN (~(uint64_t)0)

/* One pinned grant: what the mapper sees until the last user is gone,
 * whatever the guest writes into its entry meanwhile. */
struct gnttab_active {
    void *addr;             /* host pointer of the granted frame */
    uint64_t gfn;           /* the frame the entry named when pinned */
    domid_t domid;          /* the grantee that pinned it */
    uint8_t pin_w, pin_r;   /* writable and read-only users */
    uint16_t start, length; /* sub-page range (0, 4096: the whole page) */
    bool sub_page;
};

/* One mapping a domain holds (Xen's struct grant_mapping). */
struct gnttab_mt {
    grant_ref_t ref;
    domid_t dom;            /* the granter */
    uint16_t flags;         /* GNTMAP_* of a live mapping; 0: free */
    uint32_t serial;        /* the granter table's serial when mapped */
    uint32_t next;          /* free list */
};

struct gnttab {
    struct gnttab_host *host;
    pthread_mutex_t lock;
    domid_t domid;
    uint32_t serial;        /* unique per table: a reused domid differs */
    uint32_t max_frames, max_mt_frames;
    uint8_t *pages;         /* cfg->pages: shared frames, then status */
    struct gnttab_ops ops;
    void *opaque;

    uint32_t version;
    uint32_t nr_frames, nr_status;
    uint64_t *gfn;          /* per page: where the guest sees it */
    struct gnttab_active **active;  /* per shared frame, at growth */
    uint32_t nr_pinned;     /* active entries with a user */

    struct gnttab_mt **mt;  /* maptrack frames */
    uint32_t mt_limit;      /* entries allocated */
    uint32_t mt_free;       /* free-list head */
    uint32_t mt_used;
};

struct gnttab_host {
    pthread_rwlock_t lock;
    uint32_t next_serial;
    struct gnttab **tab;    /* DOMID_FIRST_RESERVED slots */
};

/* ---- guest entries (caller holds the table's lock) ---- */

/* The first 32 bits of an entry, flags and domid, as Xen's grant_combo. */
union gt_combo {
    uint32_t raw;
    struct {
        uint16_t flags;
        domid_t domid;
    };
};

static inline uint32_t gt_nr_entries(const struct gnttab *gt)
{
    return gt->nr_frames * (uint32_t)(gt->version == 1 ? GT_V1_PER_PAGE
                                                       : GT_V2_PER_PAGE);
}

static inline uint8_t *gt_entry(const struct gnttab *gt, grant_ref_t ref)
{
    return gt->pages + (size_t)ref * (gt->version == 1 ? 8u : 16u);
}

static inline uint32_t *gt_hdr(const struct gnttab *gt, grant_ref_t ref)
{
    return (uint32_t *)gt_entry(gt, ref);
}

/* The word GTF_reading/GTF_writing live in: the entry's flags (v1) or the
 * status frames' word (v2). */
static inline uint16_t *gt_status(const struct gnttab *gt, grant_ref_t ref)
{
    if (gt->version == 1)
        return (uint16_t *)gt_entry(gt, ref);
    return (uint16_t *)(gt->pages + (size_t)gt->max_frames * GT_PAGE) + ref;
}

static inline struct gnttab_active *gt_act(const struct gnttab *gt,
                                           grant_ref_t ref)
{
    return &gt->active[ref / GT_ACT_PER_FRAME][ref % GT_ACT_PER_FRAME];
}

static inline void gt_clear_flags(const struct gnttab *gt, grant_ref_t ref,
                                  uint16_t clear)
{
    if (clear)
        __atomic_fetch_and(gt_status(gt, ref), (uint16_t)~clear,
                           __ATOMIC_SEQ_CST);
}

static inline uint32_t gt_status_frames(uint32_t frames)
{
    return (uint32_t)(((uint64_t)frames * GT_V2_PER_PAGE + GT_ST_PER_PAGE - 1)
                      / GT_ST_PER_PAGE);
}

/* ---- gnttab.c ---- */

/* The table registered under domid (NULL: none); registry lock held. */
struct gnttab *gnttab_lookup(struct gnttab_host *h, domid_t domid);
/* Lock one or two tables (either may be NULL or both the same) in domid
 * order, and unlock them. */
void gnttab_lock2(struct gnttab *a, struct gnttab *b);
void gnttab_unlock2(struct gnttab *a, struct gnttab *b);
/* A message a guest can trigger, on the module's rate limit. */
void gnttab_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- gnttab_map.c: the flag protocol (table locked) ---- */

/* Pin ref of rgt for grantee ld (Xen's _set_status + the active entry):
 * for a mapping (map: sub-page and transitive refused) or a copy;
 * readonly or not. GNTST_okay and *out, or the status; on failure
 * nothing is left set. */
int16_t gnttab_pin(struct gnttab *rgt, grant_ref_t ref, domid_t ld,
                   bool readonly, bool map, struct gnttab_active **out);
/* Drop one user of a pinned entry; the guest's flags are cleared when the
 * last (writable) user is gone. */
void gnttab_unpin(struct gnttab *rgt, grant_ref_t ref, bool readonly);
/* Drop every mapping gt holds (its destroy; registry lock exclusive). */
void gnttab_drop_mappings(struct gnttab *gt);

#endif /* GNTTAB_INT_H */

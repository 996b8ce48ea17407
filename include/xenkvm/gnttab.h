/*
 * Grant tables, the hypervisor side (src/gnttab): one table per domain, in
 * pages the VMM owns and the guest maps (XENMAPSPACE_grant_table), and the
 * operations of <xen/grant_table.h> on them. No KVM or Linux header: the
 * core reaches guest memory only through struct gnttab_ops, so it builds
 * and is tested (unit, fuzz, TSan) with plain memory.
 *
 * Who uses it:
 *   - src/hv decodes GNTTABOP_* and XENMEM_add_to_physmap(grant_table) of
 *     a guest, copies the arguments in and out, and calls the gnttab_op_*
 *     functions below on native structs;
 *   - the dom0 services (blkback, netback) map a guest's grants in-process
 *     with gnttab_map / gnttab_unmap (domain 0 is the mapper) and copy with
 *     gnttab_copy, as a backend in dom0 does through /dev/xen/gntdev.
 *
 * Xen's semantics kept here (xen/common/grant_table.c, 4.17):
 *   - v1 and v2 layouts; v2's separate status frames; set_version only
 *     while no grant is in use (the reserved entries 0..7 are carried over);
 *   - the flag protocol: a map or copy sets GTF_reading / GTF_writing in the
 *     guest's entry (v1) or status word (v2) with compare-and-swap against
 *     a guest that rewrites the entry at the same time, checks
 *     GTF_permit_access, the grantee domid, GTF_readonly, GTF_sub_page
 *     ranges; the flags are cleared when the last user is gone;
 *   - a mapping pins the frame the entry named when it was mapped (an
 *     "active entry"): later rewrites or revocation by the guest do not
 *     change what the mapper sees, and the host pointer stays valid until
 *     gnttab_unmap, whatever the guest does;
 *   - limits: a table grows one frame at a time up to max_frames
 *     (xl.cfg max_grant_frames); each mapping domain has at most
 *     max_maptrack_frames * GNTTAB_MAPTRACK_PER_FRAME mappings;
 *   - status codes are Xen's GNTST_*, per operation.
 *
 * Threads: every function may be called from any thread (vCPU threads,
 * the loop, a backend's I/O threads); a table's state has one lock, and a
 * cross-domain operation takes the tables' locks in domid order, under the
 * registry's shared lock (gnttab_create/gnttab_destroy take it exclusive).
 * The gnttab_op_* of a table must not run during its gnttab_destroy (the
 * domain's vCPUs are stopped first).
 */
#ifndef XENKVM_GNTTAB_H
#define XENKVM_GNTTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>

/* Mappings per maptrack frame, as Xen counts them (8-byte entries). */
#define GNTTAB_MAPTRACK_PER_FRAME 512
/* libxl's defaults when xl.cfg gives none (Xen 4.17). */
#define GNTTAB_DEFAULT_MAX_FRAMES 64
#define GNTTAB_DEFAULT_MAX_MAPTRACK_FRAMES 1024

struct gnttab_host;     /* every domain's table, by domid */
struct gnttab;          /* one domain's table */

/* What the core asks of the VMM for one domain; dom is the config's
 * opaque. Both hooks tolerate any guest-supplied value. */
struct gnttab_ops {
    /* Host pointer to the domain's guest frame gfn (one 4 KiB page, RAM
     * only), valid for the domain's whole life; NULL when gfn is not RAM.
     * Used for the frames grant entries name and for GNTTABOP_copy's
     * gmfn operands. */
    void *(*gfn_map)(void *dom, uint64_t gfn);
    /* Make guest frame gfn show table page `page` (0..max_frames-1: the
     * shared frames; max_frames..: the status frames, v2), removing it
     * from where it was; the host copy at gnttab_config.pages is what the
     * guest sees. 0 or negative errno (-EINVAL: gfn not usable). */
    int (*map_frame)(void *dom, uint32_t page, uint64_t gfn);
};

struct gnttab_config {
    domid_t domid;
    uint32_t max_frames;            /* 1..; xl.cfg max_grant_frames */
    uint32_t max_maptrack_frames;   /* 0: this domain maps no grant */
    /* Host memory for the table: max_frames shared pages followed by
     * gnttab_status_pages(max_frames) status pages, zeroed, page-aligned,
     * owned by the caller and alive until gnttab_destroy (the VMM carves
     * it from the domain's memfd so map_frame can show it to the guest).
     * NULL for a domain that only maps (domain 0): it has no table. */
    void *pages;
    const struct gnttab_ops *ops;   /* copied; NULL only with pages NULL */
    void *opaque;
};

/* Status pages v2 needs for max_frames shared frames (2 bytes per entry,
 * 256 v2 entries per shared frame). */
uint32_t gnttab_status_pages(uint32_t max_frames);

/* The registry. NULL on ENOMEM. Destroy it after every table. */
struct gnttab_host *gnttab_host_create(void);
void gnttab_host_destroy(struct gnttab_host *h);

/* A domain's table (version 1, one frame: Xen's INITIAL_NR_GRANT_FRAMES,
 * so the toolstack's reserved entries 0..7 have a home before the guest
 * runs; a table without pages has none), registered under its domid.
 * NULL on EINVAL (bad config, domid taken) or ENOMEM. */
struct gnttab *gnttab_create(struct gnttab_host *h,
                             const struct gnttab_config *cfg);
/* Unregister and free. Every mapping of its grants must be gone
 * (the backends unmapped them; that is what a domain's teardown order
 * ensures); mappings it holds of others' grants are dropped. NULL: no-op.
 * If a mapper still holds one of its grants, nothing crashes: a
 * rate-limited line is logged, the mapper's handle stays allocated until
 * gnttab_unmap frees it (GNTST_okay, nothing left to unpin), but its addr
 * is only as valid as the memory the VMM freed with the domain. */
void gnttab_destroy(struct gnttab *gt);

/* ---- the guest's own operations (hv decodes and copies) ---- */

/* GNTTABOP_query_size: frames in use and the limit. GNTST_okay. */
int16_t gnttab_op_query_size(struct gnttab *gt, uint32_t *nr_frames,
                             uint32_t *max_frames);
/* GNTTABOP_set_version: 1 or 2; same version: okay; a grant in use (other
 * than the reserved entries): -EBUSY as Xen; bad version: -EINVAL; v2 to
 * v1 with a reserved entry v1 cannot hold (transitive, frame >= 2^32):
 * -ERANGE as Xen. The reserved entries 0..7 are converted. Returns 0 or -errno (the op's
 * return value; Xen reports version errors that way), *version the
 * version now in force. */
int gnttab_op_set_version(struct gnttab *gt, uint32_t version,
                          uint32_t *now);
uint32_t gnttab_op_get_version(struct gnttab *gt);
/* GNTTABOP_setup_table: grow to nr_frames and give each shared frame's
 * gfn (where the guest mapped it; INVALID_GFN, ~0, if nowhere yet).
 * GNTST_general_error past max_frames, as Xen. frames[] has nr_frames. */
int16_t gnttab_op_setup_table(struct gnttab *gt, uint32_t nr_frames,
                              uint64_t *frames);
/* GNTTABOP_get_status_frames: the gfn of each status frame (INVALID_GFN
 * if not mapped yet). nr_frames past the status frames in use (all of
 * them in v1, which has none): GNTST_general_error, as Xen 4.17, which
 * has no version check here (GNTST_bad_version is not used). */
int16_t gnttab_op_get_status_frames(struct gnttab *gt, uint32_t nr_frames,
                                    uint64_t *frames);
/* XENMEM_add_to_physmap(XENMAPSPACE_grant_table): idx, with
 * XENMAPIDX_grant_table_status for a status frame (v2 only), grows the
 * table to idx+1 frames and shows the frame at gfn (ops->map_frame).
 * 0 or -EINVAL (idx past the limit, status frame in v1) or the hook's. */
int gnttab_op_add_to_physmap(struct gnttab *gt, uint64_t idx, uint64_t gfn);
/* GNTTABOP_swap_grant_ref: swap two entries of the caller's table. */
int16_t gnttab_op_swap(struct gnttab *gt, grant_ref_t a, grant_ref_t b);

/* GNTTABOP_copy of domain caller (its table's host): one segment, Xen's
 * rules (GNTCOPY_source_gref / dest_gref, DOMID_SELF, offsets and lengths
 * within a page or a sub-page grant); sets and returns op->status. */
int16_t gnttab_copy(struct gnttab_host *h, domid_t caller,
                    struct gnttab_copy *op);

/* ---- mapping a grant (a dom0 backend, in-process) ---- */

struct gnttab_mapping {
    void *addr;          /* host pointer to the granted page (4 KiB) */
    grant_handle_t handle;
    bool readonly;
};
/* GNTTABOP_map_grant_ref for mapper (domain 0 for our backends): grant
 * ref of domain granter, GNTMAP_host_map plus GNTMAP_readonly or not.
 * GNTST_okay and *out, or Xen's status: bad_gntref (no host_map flag, ref
 * out of range), bad_domain, no_device_space when the maptrack is full,
 * bad_page (frame not RAM), general_error (device/application map, wrong
 * grantee, not GTF_permit_access, sub-page or transitive grant, a
 * GTF_readonly grant mapped writable, entry unstable, pin overflow).
 * Handles index the mapper's maptrack and are reused after unmap. */
int16_t gnttab_map(struct gnttab_host *h, domid_t mapper, domid_t granter,
                   grant_ref_t ref, uint32_t flags,
                   struct gnttab_mapping *out);
/* GNTTABOP_unmap_grant_ref of one of mapper's handles. GNTST_okay or
 * GNTST_bad_handle (never issued, or already unmapped). A handle whose
 * granter was destroyed meanwhile is freed with GNTST_okay. */
int16_t gnttab_unmap(struct gnttab_host *h, domid_t mapper,
                     grant_handle_t handle);

/* Counters for tests and the note. */
struct gnttab_stats {
    uint32_t version, nr_frames, max_frames;
    uint32_t active;      /* entries pinned by a map (any mapper) */
    uint32_t maptrack;    /* mappings this domain holds of others' grants */
};
void gnttab_get_stats(struct gnttab *gt, struct gnttab_stats *out);

#endif /* XENKVM_GNTTAB_H */

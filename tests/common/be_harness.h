/*
 * A dom0 backend's world against plain memory, without KVM: the guest
 * (one frontend domain) is shared anonymous RAM with a grant table in
 * shared pages (the real core, src/gnttab, through gnttab_harness.h's
 * gx_dom), beside the real XenStore service, event-channel core
 * (evtchn_harness.h) and a loop. What blkback_harness.h and
 * netback_harness.h have in common: each adds its service and plays its
 * frontend with the helpers below (its keys, grants, pages). Guest RAM
 * and table pages are MAP_SHARED because blkback makes multi-page rings
 * contiguous with mremap (as on the VMM's memfd). Header-only.
 *
 * No cmocka here: every helper returns 0 / a value, or -1 / -errno, and
 * the caller asserts.
 */
#ifndef XENKVM_TESTS_BE_HARNESS_H
#define XENKVM_TESTS_BE_HARNESS_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xen/io/xenbus.h>

#include "xenkvm/backends.h"
#include "evtchn_harness.h"
#include "gnttab_harness.h"

#define BEH_PAGE 4096u

struct beh {
    struct hx *x;                   /* event channels: domains 0 and fe */
    struct util_loop *loop;
    bool loop_thread;               /* started in a thread of its own */
    struct be_xenstore *xs;
    struct be_env env;              /* for the service under test */
    struct store_client *c0;        /* the toolstack's view (domain 0) */
    struct store_client *fe;        /* the frontend's client */
    struct gnttab_host *gh;
    struct gnttab *gt0;             /* domain 0: the mapper */
    struct gx_dom g;                /* the frontend's table and RAM */
    domid_t fe_domid;
    grant_ref_t next_ref;           /* beh_grant's allocator */
    uint32_t next_gfn;              /* beh_page_alloc's */
};

/* Domain 0 and the frontend fe_domid (< 4) in the event-channel core, a
 * loop (its own thread if loop_thread, else the caller runs
 * util_loop_run_once), the XenStore service with the frontend's home, the
 * grant tables (the frontend's of gt_frames frames, all set up, v1) and
 * ram_pages of RAM; h->env is ready for the service's create. 0, or -1
 * with a line in err (what is built is left for beh_fini). */
static inline int beh_init(struct beh *h, domid_t fe_domid,
                           uint32_t ram_pages, uint32_t gt_frames,
                           bool loop_thread, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    h->fe_domid = fe_domid;
    h->next_ref = 8;                /* past the reserved entries */
    h->next_gfn = 1;
#define BEH_FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)
    if (!(h->x = hx_create()) || hx_dom_add(h->x, 0, true, 1, 0) ||
        hx_dom_add(h->x, fe_domid, false, 1, 0))
        BEH_FAIL("event-channel host");
    if (!(h->loop = util_loop_create()))
        BEH_FAIL("loop");
    if (loop_thread) {
        if (util_loop_start(h->loop, "beh-loop"))
            BEH_FAIL("loop thread");
        h->loop_thread = true;
    }
    struct gx_dom *g = &h->g;
    size_t tn = gt_frames + gnttab_status_pages(gt_frames);
    g->max_frames = gt_frames;
    g->nr_ram = ram_pages;
    g->ram = mmap(NULL, (size_t)ram_pages * BEH_PAGE, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    g->table = mmap(NULL, tn * BEH_PAGE, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g->ram == MAP_FAILED || g->table == MAP_FAILED) {
        if (g->ram == MAP_FAILED)
            g->ram = NULL;
        if (g->table == MAP_FAILED)
            g->table = NULL;
        BEH_FAIL("guest memory");
    }
    if (!(h->gh = gnttab_host_create()))
        BEH_FAIL("grant-table host");
    const struct gnttab_config dom0 = { .domid = 0, .max_frames = 1,
        .max_maptrack_frames = GNTTAB_DEFAULT_MAX_MAPTRACK_FRAMES };
    const struct gnttab_config gc = { .domid = fe_domid,
        .max_frames = gt_frames, .pages = g->table, .ops = &gx_ops,
        .opaque = g };
    uint64_t frames[64];
    if (gt_frames > 64 || !(h->gt0 = gnttab_create(h->gh, &dom0)) ||
        !(g->gt = gnttab_create(h->gh, &gc)) ||
        gnttab_op_setup_table(g->gt, gt_frames, frames) != GNTST_okay)
        BEH_FAIL("grant tables");
    h->env = (struct be_env){ .loop = h->loop, .evtchn = h->x->h,
                              .gnttab = h->gh, .out = stdout, .quiet = true };
    if (!(h->xs = be_xenstore_create(&h->env, NULL, err, errlen)))
        return -1;
    h->env.store = be_xenstore_store(h->xs);
    char home[32];
    snprintf(home, sizeof(home), "/local/domain/%u", fe_domid);
    const struct xs_permissions perm[] = { { fe_domid, XS_PERM_NONE } };
    if (store_client_new(h->env.store, 0, NULL, &h->c0) ||
        store_client_mkdir(h->c0, home) ||
        store_client_set_perms(h->c0, home, perm, 1) ||
        store_client_new(h->env.store, fe_domid, NULL, &h->fe))
        BEH_FAIL("store clients");
#undef BEH_FAIL
    return 0;
}

/* Tear down what beh_init built (the service destroyed first). Returns
 * the frontend's grant entries still pinned by a mapping just before its
 * table goes (0: the service unmapped everything). */
static inline uint32_t beh_fini(struct beh *h)
{
    struct gnttab_stats st = { 0 };
    store_client_free(h->fe);
    store_client_free(h->c0);
    if (h->loop)
        util_loop_stop(h->loop);
    be_xenstore_destroy(h->xs);
    util_loop_destroy(h->loop);
    if (h->g.gt)
        gnttab_get_stats(h->g.gt, &st);
    gnttab_destroy(h->g.gt);
    gnttab_destroy(h->gt0);
    gnttab_host_destroy(h->gh);
    if (h->x)
        hx_destroy(h->x);
    if (h->g.ram)
        munmap(h->g.ram, (size_t)h->g.nr_ram * BEH_PAGE);
    if (h->g.table)
        munmap(h->g.table, (h->g.max_frames +
                            gnttab_status_pages(h->g.max_frames)) * BEH_PAGE);
    memset(h, 0, sizeof(*h));
    return st.active;
}

/* A page of the guest's RAM for the caller (gfn 1..): UINT32_MAX when
 * all are taken. */
static inline uint32_t beh_page_alloc(struct beh *h)
{
    return h->next_gfn < h->g.nr_ram ? h->next_gfn++ : UINT32_MAX;
}

static inline uint8_t *beh_page(struct beh *h, uint32_t gfn)
{
    return h->g.ram + (size_t)gfn * BEH_PAGE;
}

/* Grant page gfn to domain 0 in the next free entry (a v1 entry, as a
 * frontend does): the ref, or UINT32_MAX when the table is full. */
static inline grant_ref_t beh_grant(struct beh *h, uint32_t gfn, bool ro)
{
    if (h->next_ref >= h->g.max_frames * (BEH_PAGE / sizeof(grant_entry_v1_t)))
        return UINT32_MAX;
    grant_ref_t ref = h->next_ref++;
    gx_grant_v1(&h->g, ref, GTF_permit_access | (ro ? GTF_readonly : 0), 0,
                gfn);
    return ref;
}

/* The frontend writes key (under device/<type>/<devid>/) = the formatted
 * value. 0 or -errno. */
static inline int beh_fe_write(struct beh *h, const char *type,
                               uint32_t devid, const char *key,
                               const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static inline int beh_fe_write(struct beh *h, const char *type,
                               uint32_t devid, const char *key,
                               const char *fmt, ...)
{
    char path[160], val[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "/local/domain/%u/device/%s/%u/%s",
             h->fe_domid, type, devid, key);
    return store_client_write(h->fe, path, val, strlen(val));
}

/* A key of the backend's directory as a number; -1 if absent. */
static inline long beh_be_long(struct beh *h, const char *type,
                               uint32_t devid, const char *key)
{
    char path[160], *v;
    snprintf(path, sizeof(path), "/local/domain/0/backend/%s/%u/%u/%s",
             type, h->fe_domid, devid, key);
    if (store_client_read(h->c0, path, &v, NULL))
        return -1;
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

/* Run the loop's callbacks in this thread: at most n batches, each
 * waiting up to timeout_ms, stopping at the first that finds nothing. */
static inline void beh_pump(struct beh *h, unsigned int n, int timeout_ms)
{
    for (unsigned int i = 0; i < n; i++)
        if (util_loop_run_once(h->loop, timeout_ms) <= 0)
            break;
}

#endif /* XENKVM_TESTS_BE_HARNESS_H */

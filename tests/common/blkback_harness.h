/*
 * blkback against plain memory, without KVM: the guest (one frontend
 * domain) is shared anonymous RAM with a grant table in shared pages (the
 * real core, src/gnttab, through tests/common/gnttab_harness.h's gx_dom),
 * beside the real XenStore service, event-channel core (evtchn_harness.h)
 * and blkback with its loop; the image is a memfd, opened by path
 * (/proc/self/fd/N) as a disk = [ ... ] target is. The caller plays
 * Linux's blkfront with the helpers below (its keys, rings, grants,
 * notifications). Guest RAM and table pages are MAP_SHARED because
 * blkback makes multi-page rings contiguous with mremap (as on the VMM's
 * memfd). Header-only: used by tests/unit/test_blkback.c, the fuzzer
 * fuzz/blkback.c and the stress test tests/stress/blkback_mt.c.
 *
 * No cmocka here: every helper returns 0 / a value, or -1 / -errno, and
 * the caller asserts.
 */
#ifndef XENKVM_TESTS_BLKBACK_HARNESS_H
#define XENKVM_TESTS_BLKBACK_HARNESS_H

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
#include "../../src/backends/blkback_abi.h"

#define BX_PAGE 4096u
#define BX_MAX_QUEUES 4u
#define BX_MAX_RING_PAGES 16u

/* One frontend connection's rings, as blkfront keeps them. */
struct bx_front {
    unsigned int nq, order;
    bool x86_32;
    evtchn_port_t port[BX_MAX_QUEUES];
    uint32_t ring_gfn[BX_MAX_QUEUES];         /* first of 1 << order */
    blkif_front_ring_t fr[BX_MAX_QUEUES];     /* native layout */
    blkif_x86_32_front_ring_t fr32[BX_MAX_QUEUES];
    grant_ref_t ring_refs[BX_MAX_QUEUES][BX_MAX_RING_PAGES];
};

struct bx {
    struct hx *x;                   /* event channels: domains 0 and fe */
    struct util_loop *loop;
    bool loop_thread;               /* started in a thread of its own */
    struct be_xenstore *xs;
    struct store_client *c0;        /* the toolstack's view (domain 0) */
    struct store_client *fe;        /* the frontend's client */
    struct gnttab_host *gh;
    struct gnttab *gt0;             /* domain 0: the mapper */
    struct gx_dom g;                /* the frontend's table and RAM */
    struct be_blkback *bb;
    domid_t fe_domid;
    grant_ref_t next_ref;           /* bx_grant's allocator */
    uint32_t next_gfn;              /* bx_page_alloc's */
    char img[40];                   /* /proc/self/fd/N */
    int imgfd;
    uint64_t img_bytes;
};

/* Everything but the disks: domain 0 and the frontend fe_domid (< 4) in
 * the event-channel core, a loop (its own thread if loop_thread, else the
 * caller runs util_loop_run_once), the XenStore service with the
 * frontend's home, the grant tables (the frontend's of gt_frames frames,
 * all set up, v1) and ram_pages of RAM, blkback, an image of img_bytes.
 * 0, or -1 with a line in err (what is built is left for bx_fini). */
static inline int bx_init(struct bx *b, domid_t fe_domid, uint32_t ram_pages,
                          uint32_t gt_frames, uint64_t img_bytes,
                          bool loop_thread, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    b->imgfd = -1;
    b->fe_domid = fe_domid;
    b->next_ref = 8;                /* past the reserved entries */
    b->next_gfn = 1;
#define BX_FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)
    if (!(b->x = hx_create()) || hx_dom_add(b->x, 0, true, 1, 0) ||
        hx_dom_add(b->x, fe_domid, false, 1, 0))
        BX_FAIL("event-channel host");
    if (!(b->loop = util_loop_create()))
        BX_FAIL("loop");
    if (loop_thread) {
        if (util_loop_start(b->loop, "bx-loop"))
            BX_FAIL("loop thread");
        b->loop_thread = true;
    }
    struct gx_dom *g = &b->g;
    size_t tn = gt_frames + gnttab_status_pages(gt_frames);
    g->max_frames = gt_frames;
    g->nr_ram = ram_pages;
    g->ram = mmap(NULL, (size_t)ram_pages * BX_PAGE, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    g->table = mmap(NULL, tn * BX_PAGE, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g->ram == MAP_FAILED || g->table == MAP_FAILED) {
        if (g->ram == MAP_FAILED)
            g->ram = NULL;
        if (g->table == MAP_FAILED)
            g->table = NULL;
        BX_FAIL("guest memory");
    }
    if (!(b->gh = gnttab_host_create()))
        BX_FAIL("grant-table host");
    const struct gnttab_config dom0 = { .domid = 0, .max_frames = 1,
        .max_maptrack_frames = GNTTAB_DEFAULT_MAX_MAPTRACK_FRAMES };
    const struct gnttab_config gc = { .domid = fe_domid,
        .max_frames = gt_frames, .pages = g->table, .ops = &gx_ops,
        .opaque = g };
    uint64_t frames[64];
    if (gt_frames > 64 || !(b->gt0 = gnttab_create(b->gh, &dom0)) ||
        !(g->gt = gnttab_create(b->gh, &gc)) ||
        gnttab_op_setup_table(g->gt, gt_frames, frames) != GNTST_okay)
        BX_FAIL("grant tables");
    struct be_env env = { .loop = b->loop, .evtchn = b->x->h,
                          .gnttab = b->gh, .out = stdout, .quiet = true };
    if (!(b->xs = be_xenstore_create(&env, NULL, err, errlen)))
        return -1;
    env.store = be_xenstore_store(b->xs);
    char home[32];
    snprintf(home, sizeof(home), "/local/domain/%u", fe_domid);
    const struct xs_permissions perm[] = { { fe_domid, XS_PERM_NONE } };
    if (store_client_new(env.store, 0, NULL, &b->c0) ||
        store_client_mkdir(b->c0, home) ||
        store_client_set_perms(b->c0, home, perm, 1) ||
        store_client_new(env.store, fe_domid, NULL, &b->fe))
        BX_FAIL("store clients");
    if (!(b->bb = be_blkback_create(&env, err, errlen)))
        return -1;
    b->imgfd = memfd_create("bx-image", MFD_CLOEXEC);
    if (b->imgfd < 0 || ftruncate(b->imgfd, (off_t)img_bytes))
        BX_FAIL("image: %s", strerror(errno));
    b->img_bytes = img_bytes;
    snprintf(b->img, sizeof(b->img), "/proc/self/fd/%d", b->imgfd);
#undef BX_FAIL
    return 0;
}

/* Tear down what bx_init built (every disk removed first). Returns the
 * frontend's grant entries still pinned by a mapping just before its
 * table goes (0: blkback unmapped everything). */
static inline uint32_t bx_fini(struct bx *b)
{
    struct gnttab_stats st = { 0 };
    be_blkback_destroy(b->bb);
    store_client_free(b->fe);
    store_client_free(b->c0);
    if (b->loop)
        util_loop_stop(b->loop);
    be_xenstore_destroy(b->xs);
    util_loop_destroy(b->loop);
    if (b->g.gt)
        gnttab_get_stats(b->g.gt, &st);
    gnttab_destroy(b->g.gt);
    gnttab_destroy(b->gt0);
    gnttab_host_destroy(b->gh);
    if (b->x)
        hx_destroy(b->x);
    if (b->g.ram)
        munmap(b->g.ram, (size_t)b->g.nr_ram * BX_PAGE);
    if (b->g.table)
        munmap(b->g.table, (b->g.max_frames +
                            gnttab_status_pages(b->g.max_frames)) * BX_PAGE);
    if (b->imgfd >= 0)
        close(b->imgfd);
    memset(b, 0, sizeof(*b));
    return st.active;
}

/* A page of the guest's RAM for the caller (gfn 1..): UINT32_MAX when
 * all are taken. */
static inline uint32_t bx_page_alloc(struct bx *b)
{
    return b->next_gfn < b->g.nr_ram ? b->next_gfn++ : UINT32_MAX;
}

static inline uint8_t *bx_page(struct bx *b, uint32_t gfn)
{
    return b->g.ram + (size_t)gfn * BX_PAGE;
}

/* Grant page gfn to domain 0 in the next free entry (a v1 entry, as
 * blkfront does): the ref, or UINT32_MAX when the table is full. */
static inline grant_ref_t bx_grant(struct bx *b, uint32_t gfn, bool ro)
{
    if (b->next_ref >= b->g.max_frames * (BX_PAGE / sizeof(grant_entry_v1_t)))
        return UINT32_MAX;
    grant_ref_t ref = b->next_ref++;
    gx_grant_v1(&b->g, ref, GTF_permit_access | (ro ? GTF_readonly : 0), 0,
                gfn);
    return ref;
}

/* The frontend writes key (under device/vbd/<devid>/) = the formatted
 * value. 0 or -errno. */
static inline int bx_fe_write(struct bx *b, uint32_t devid, const char *key,
                              const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline int bx_fe_write(struct bx *b, uint32_t devid, const char *key,
                              const char *fmt, ...)
{
    char path[160], val[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "/local/domain/%u/device/vbd/%u/%s",
             b->fe_domid, devid, key);
    return store_client_write(b->fe, path, val, strlen(val));
}

/* A key of the backend's directory as a number; -1 if absent. */
static inline long bx_be_long(struct bx *b, uint32_t devid, const char *key)
{
    char path[160], *v;
    snprintf(path, sizeof(path), "/local/domain/0/backend/vbd/%u/%u/%s",
             b->fe_domid, devid, key);
    if (store_client_read(b->c0, path, &v, NULL))
        return -1;
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

/* blkfront's talk_to_blkback up to (not including) its state change: nq
 * queues of 1 << order ring pages each (granted, initialised in the
 * protocol's layout), an unbound port for domain 0 per queue, and the
 * keys: ring-ref (order 0) or ring-page-order and ring-refN, under
 * queue-N/ with several queues, event-channel, multi-queue-num-queues,
 * protocol, feature-persistent. 0, or -1 (RAM, table or ports ran out)
 * or a store error. */
static inline int bx_fe_rings(struct bx *b, uint32_t devid,
                              struct bx_front *f, unsigned int nq,
                              unsigned int order, bool persistent,
                              bool x86_32)
{
    if (nq == 0 || nq > BX_MAX_QUEUES || (1u << order) > BX_MAX_RING_PAGES)
        return -1;
    memset(f, 0, sizeof(*f));
    f->nq = nq;
    f->order = order;
    f->x86_32 = x86_32;
    unsigned int pages = 1u << order;
    int rc;
    for (unsigned int q = 0; q < nq; q++) {
        char dir[16] = "", key[48];
        if (nq > 1)
            snprintf(dir, sizeof(dir), "queue-%u/", q);
        /* contiguous guest pages for the ring (the frontend's view) */
        f->ring_gfn[q] = b->next_gfn;
        for (unsigned int i = 0; i < pages; i++) {
            uint32_t gfn = bx_page_alloc(b);
            if (gfn == UINT32_MAX)
                return -1;
            memset(bx_page(b, gfn), 0, BX_PAGE);
            if ((f->ring_refs[q][i] = bx_grant(b, gfn, false)) == UINT32_MAX)
                return -1;
            if (order)
                snprintf(key, sizeof(key), "%sring-ref%u", dir, i);
            else
                snprintf(key, sizeof(key), "%sring-ref", dir);
            if ((rc = bx_fe_write(b, devid, key, "%u", f->ring_refs[q][i])))
                return rc;
        }
        void *ring = bx_page(b, f->ring_gfn[q]);
        if (x86_32) {
            blkif_x86_32_sring_t *s = ring;
            SHARED_RING_INIT(s);
            FRONT_RING_INIT(&f->fr32[q], s, pages * BX_PAGE);
        } else {
            blkif_sring_t *s = ring;
            SHARED_RING_INIT(s);
            FRONT_RING_INIT(&f->fr[q], s, pages * BX_PAGE);
        }
        if (order) {
            snprintf(key, sizeof(key), "%sring-page-order", dir);
            if ((rc = bx_fe_write(b, devid, key, "%u", order)))
                return rc;
        }
        int p = hx_alloc_unbound(b->x, b->fe_domid, DOMID_SELF, 0);
        if (p <= 0)
            return -1;
        f->port[q] = (evtchn_port_t)p;
        snprintf(key, sizeof(key), "%sevent-channel", dir);
        if ((rc = bx_fe_write(b, devid, key, "%d", p)))
            return rc;
    }
    if (nq > 1 && (rc = bx_fe_write(b, devid, "multi-queue-num-queues",
                                    "%u", nq)))
        return rc;
    if ((rc = bx_fe_write(b, devid, "protocol", "%s",
                          x86_32 ? XEN_IO_PROTO_ABI_X86_32
                                 : XEN_IO_PROTO_ABI_X86_64)))
        return rc;
    return bx_fe_write(b, devid, "feature-persistent", "%u",
                       persistent ? 1 : 0);
}

/* Publish queue q's requests up to its req_prod_pvt: what
 * RING_PUSH_REQUESTS_AND_CHECK_NOTIFY does, with __atomic accesses to the
 * shared indexes instead of plain ones and fences (so that the tests'
 * side is no data race and TSan, which cannot see fences, judges the
 * backend's). Whether the backend asked for an event. */
static inline bool bx_push(struct bx_front *f, unsigned int q)
{
    RING_IDX *prod, *event, now;
    if (f->x86_32) {
        prod = &f->fr32[q].sring->req_prod;
        event = &f->fr32[q].sring->req_event;
        now = f->fr32[q].req_prod_pvt;
    } else {
        prod = &f->fr[q].sring->req_prod;
        event = &f->fr[q].sring->req_event;
        now = f->fr[q].req_prod_pvt;
    }
    RING_IDX old = __atomic_load_n(prod, __ATOMIC_RELAXED);
    __atomic_store_n(prod, now, __ATOMIC_SEQ_CST);
    RING_IDX ev = __atomic_load_n(event, __ATOMIC_SEQ_CST);
    return (RING_IDX)(now - ev) < (RING_IDX)(now - old);
}

/* The frontend notifies queue q's channel (EVTCHNOP_send). 0 or -errno. */
static inline int bx_notify(struct bx *b, const struct bx_front *f,
                            unsigned int q)
{
    struct evtchn_send s = { .port = f->port[q] };
    return hx_op(b->x, b->fe_domid, EVTCHNOP_send, &s);
}

#endif /* XENKVM_TESTS_BLKBACK_HARNESS_H */

/*
 * blkback against plain memory, on tests/common/be_harness.h (the guest's
 * RAM and grant table, the XenStore service, the event-channel core, the
 * loop), with blkback and an image: a memfd, opened by path
 * (/proc/self/fd/N) as a disk = [ ... ] target is. The caller plays
 * Linux's blkfront with the helpers below (its keys, rings, grants,
 * notifications). Header-only: used by tests/unit/test_blkback.c, the
 * fuzzer fuzz/blkback.c and the stress test tests/stress/blkback_mt.c.
 *
 * No cmocka here: every helper returns 0 / a value, or -1 / -errno, and
 * the caller asserts.
 */
#ifndef XENKVM_TESTS_BLKBACK_HARNESS_H
#define XENKVM_TESTS_BLKBACK_HARNESS_H

#include "be_harness.h"
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
    struct beh h;                   /* the guest, store, grant tables, loop */
    struct be_blkback *bb;
    char img[40];                   /* /proc/self/fd/N */
    int imgfd;
    uint64_t img_bytes;
};

/* Everything but the disks (beh_init with fe_domid, ram_pages,
 * gt_frames, loop_thread), blkback, an image of img_bytes. 0, or -1 with
 * a line in err (what is built is left for bx_fini). */
static inline int bx_init(struct bx *b, domid_t fe_domid, uint32_t ram_pages,
                          uint32_t gt_frames, uint64_t img_bytes,
                          bool loop_thread, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    b->imgfd = -1;
    if (beh_init(&b->h, fe_domid, ram_pages, gt_frames, loop_thread, err,
                 errlen))
        return -1;
    if (!(b->bb = be_blkback_create(&b->h.env, err, errlen)))
        return -1;
    b->imgfd = memfd_create("bx-image", MFD_CLOEXEC);
    if (b->imgfd < 0 || ftruncate(b->imgfd, (off_t)img_bytes)) {
        snprintf(err, errlen, "image: %s", strerror(errno));
        return -1;
    }
    b->img_bytes = img_bytes;
    snprintf(b->img, sizeof(b->img), "/proc/self/fd/%d", b->imgfd);
    return 0;
}

/* Tear down what bx_init built (every disk removed first). Returns the
 * frontend's grant entries still pinned by a mapping just before its
 * table goes (0: blkback unmapped everything). */
static inline uint32_t bx_fini(struct bx *b)
{
    be_blkback_destroy(b->bb);
    uint32_t active = beh_fini(&b->h);
    if (b->imgfd >= 0)
        close(b->imgfd);
    memset(b, 0, sizeof(*b));
    return active;
}

static inline uint32_t bx_page_alloc(struct bx *b)
{
    return beh_page_alloc(&b->h);
}

static inline uint8_t *bx_page(struct bx *b, uint32_t gfn)
{
    return beh_page(&b->h, gfn);
}

static inline grant_ref_t bx_grant(struct bx *b, uint32_t gfn, bool ro)
{
    return beh_grant(&b->h, gfn, ro);
}

/* The frontend writes key (under device/vbd/<devid>/). 0 or -errno. */
#define bx_fe_write(b, devid, key, ...) \
    beh_fe_write(&(b)->h, "vbd", devid, key, __VA_ARGS__)

/* A key of the backend's directory as a number; -1 if absent. */
static inline long bx_be_long(struct bx *b, uint32_t devid, const char *key)
{
    return beh_be_long(&b->h, "vbd", devid, key);
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
        f->ring_gfn[q] = b->h.next_gfn;
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
        int p = hx_alloc_unbound(b->h.x, b->h.fe_domid, DOMID_SELF, 0);
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
    return hx_op(b->h.x, b->h.fe_domid, EVTCHNOP_send, &s);
}

#endif /* XENKVM_TESTS_BLKBACK_HARNESS_H */

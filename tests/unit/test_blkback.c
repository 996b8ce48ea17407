/*
 * blkback against plain memory: the "guest" is shared anonymous RAM with a
 * grant table (the real core, src/gnttab), the real XenStore service and
 * event-channel core; the test plays Linux's blkfront (its keys, its
 * states, requests on the ring with granted pages, notifications) while
 * the service runs on a loop thread, and checks the data in the image.
 * The set-up is tests/common/blkback_harness.h (shared with the fuzzer and
 * the stress test).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "blkback_harness.h"

#define PG 4096u
#define RAM_PAGES 256u
#define GT_FRAMES 4u
#define FE 1
#define DEVID 51712u
#define IMG_SECTORS 2048u           /* 1 MiB */

struct fx {
    struct bx b;                    /* guest, store, grant tables, blkback */
    struct be_blk_disk *disk;
    struct bx_front c;              /* the frontend's rings */
};

/* Grant the guest page gfn to domain 0 (v1 entry, as a frontend does). */
static grant_ref_t grant(struct fx *f, uint32_t gfn, bool ro)
{
    grant_ref_t ref = bx_grant(&f->b, gfn, ro);
    assert_true(ref != UINT32_MAX);
    return ref;
}

static uint32_t page_alloc(struct fx *f)
{
    uint32_t gfn = bx_page_alloc(&f->b);
    assert_true(gfn != UINT32_MAX);
    return gfn;
}

static void fe_write(struct fx *f, const char *key, const char *fmt, ...)
{
    char val[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    assert_int_equal(bx_fe_write(&f->b, DEVID, key, "%s", val), 0);
}

static long be_long(struct fx *f, const char *key)
{
    return bx_be_long(&f->b, DEVID, key);
}

static void nap(void)
{
    nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
}

/* Wait (up to 20 s: a hang is a failure, not a timing check) for the
 * backend's state. */
static void wait_be_state(struct fx *f, long want)
{
    for (int i = 0; i < 10000; i++) {
        if (be_long(f, "state") == want)
            return;
        nap();
    }
    fail_msg("backend state %ld, wanted %ld", be_long(f, "state"), want);
}

static void setup_common(struct fx *f, bool readonly)
{
    memset(f, 0, sizeof(*f));
    char err[128];
    if (bx_init(&f->b, FE, RAM_PAGES, GT_FRAMES, IMG_SECTORS * 512ull, true,
                err, sizeof(err)))
        fail_msg("%s", err);
    const struct be_blk_config bc = { .domid = FE, .target = f->b.img,
        .vdev = "xvda", .devid = DEVID, .readonly = readonly };
    assert_int_equal(be_blkback_disk_add(f->b.bb, &bc, &f->disk), 0);
}

static void teardown_common(struct fx *f)
{
    be_blkback_disk_remove(f->disk);
    assert_int_equal(bx_fini(&f->b), 0);    /* every grant unmapped */
    free(f);
}

/* blkfront's talk_to_blkback: rings (order 0: ring-ref), channels,
 * protocol, then Initialised; waits for Connected. */
static void fe_connect(struct fx *f, unsigned int nq, unsigned int order,
                       bool persistent, bool x86_32)
{
    assert_int_equal(bx_fe_rings(&f->b, DEVID, &f->c, nq, order, persistent,
                                 x86_32), 0);
    fe_write(f, "state", "%d", XenbusStateInitialised);
    wait_be_state(f, XenbusStateConnected);
    fe_write(f, "state", "%d", XenbusStateConnected);
}

static void notify(struct fx *f, unsigned int q)
{
    assert_int_equal(bx_notify(&f->b, &f->c, q), 0);
}

/* Put one native request on queue q and wait for its response status. */
static int16_t do_req(struct fx *f, unsigned int q, const void *req)
{
    blkif_front_ring_t *r = &f->c.fr[q];
    memcpy(RING_GET_REQUEST(r, r->req_prod_pvt), req,
           sizeof(struct blkif_request));
    r->req_prod_pvt++;
    if (bx_push(&f->c, q))
        notify(f, q);
    for (int i = 0; i < 10000; i++) {
        if (RING_HAS_UNCONSUMED_RESPONSES(r)) {
            struct blkif_response rsp;
            RING_COPY_RESPONSE(r, r->rsp_cons, &rsp);
            r->rsp_cons++;
            assert_int_equal(rsp.id, ((const struct blkif_request *)req)->id);
            return rsp.status;
        }
        nap();
    }
    fail_msg("no response on queue %u", q);
    return 99;
}

/* A read or write of nseg whole pages at sector; pages[] get the data. */
static int16_t rw(struct fx *f, unsigned int q, uint8_t op, uint64_t sector,
                  unsigned int nseg, const uint32_t *pages)
{
    struct blkif_request req = { .operation = op, .nr_segments = nseg,
                                 .handle = 0, .id = 0x1000 + sector,
                                 .sector_number = sector };
    for (unsigned int i = 0; i < nseg; i++) {
        req.seg[i].gref = grant(f, pages[i], op == BLKIF_OP_WRITE);
        req.seg[i].first_sect = 0;
        req.seg[i].last_sect = 7;
    }
    return do_req(f, q, &req);
}

static void fill(struct fx *f, uint32_t gfn, uint8_t v)
{
    memset(f->b.h.g.ram + gfn * PG, v, PG);
}

static void check_img(struct fx *f, uint64_t off, size_t len, uint8_t v)
{
    uint8_t *b = malloc(len);
    assert_int_equal(pread(f->b.imgfd, b, len, (off_t)off), (ssize_t)len);
    for (size_t i = 0; i < len; i++)
        if (b[i] != v)
            fail_msg("image byte %zu: %#x, wanted %#x", (size_t)off + i, b[i],
                     v);
    free(b);
}

/* ---- tests ---- */

static void test_keys_rw_flush_discard(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    /* xl's directories: the frontend may not write the backend's */
    assert_int_equal(be_long(f, "state"), XenbusStateInitWait);
    assert_int_equal(be_long(f, "frontend-id"), FE);
    assert_int_equal(be_long(f, "max-ring-page-order"), 4);
    assert_int_equal(be_long(f, "feature-max-indirect-segments"), 256);
    char *v;
    assert_int_equal(store_client_read(f->b.h.fe,
        "/local/domain/1/device/vbd/51712/backend", &v, NULL), 0);
    assert_string_equal(v, "/local/domain/0/backend/vbd/1/51712");
    free(v);
    assert_int_equal(store_client_write(f->b.h.fe,
        "/local/domain/0/backend/vbd/1/51712/state", "4", 1), -EACCES);
    fe_connect(f, 1, 0, false, false);
    assert_int_equal(be_long(f, "sectors"), IMG_SECTORS);
    assert_int_equal(be_long(f, "info"), 0);
    assert_int_equal(be_long(f, "sector-size"), 512);
    assert_int_equal(be_long(f, "feature-flush-cache"), 1);
    assert_int_equal(be_long(f, "feature-discard"), 1);

    uint32_t pg[2] = { page_alloc(f), page_alloc(f) };
    fill(f, pg[0], 0xa1);
    fill(f, pg[1], 0xb2);
    assert_int_equal(rw(f, 0, BLKIF_OP_WRITE, 16, 2, pg), BLKIF_RSP_OKAY);
    check_img(f, 16 * 512, PG, 0xa1);
    check_img(f, 16 * 512 + PG, PG, 0xb2);
    fill(f, pg[0], 0);
    fill(f, pg[1], 0);
    assert_int_equal(rw(f, 0, BLKIF_OP_READ, 24, 1, pg), BLKIF_RSP_OKAY);
    assert_int_equal(f->b.h.g.ram[pg[0] * PG + 100], 0xb2);
    /* a partial segment: sectors 2..3 of a page */
    struct blkif_request req = { .operation = BLKIF_OP_READ,
        .nr_segments = 1, .id = 7, .sector_number = 16 };
    req.seg[0].gref = grant(f, pg[1], false);
    req.seg[0].first_sect = 2;
    req.seg[0].last_sect = 3;
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_OKAY);
    assert_int_equal(f->b.h.g.ram[pg[1] * PG + 1024], 0xa1);
    assert_int_equal(f->b.h.g.ram[pg[1] * PG + 2048], 0);
    /* flush without data, flush with data, barrier */
    struct blkif_request fl = { .operation = BLKIF_OP_FLUSH_DISKCACHE,
                                .id = 8 };
    assert_int_equal(do_req(f, 0, &fl), BLKIF_RSP_OKAY);
    fill(f, pg[0], 0xc3);
    fl.nr_segments = 1;
    fl.sector_number = 64;
    fl.seg[0].gref = grant(f, pg[0], true);
    fl.seg[0].last_sect = 7;
    assert_int_equal(do_req(f, 0, &fl), BLKIF_RSP_OKAY);
    check_img(f, 64 * 512, PG, 0xc3);
    fl.operation = BLKIF_OP_WRITE_BARRIER;
    fl.sector_number = 72;
    assert_int_equal(do_req(f, 0, &fl), BLKIF_RSP_OKAY);
    check_img(f, 72 * 512, PG, 0xc3);
    /* discard: a hole reads back as zeros */
    struct blkif_request_discard dc = { .operation = BLKIF_OP_DISCARD,
        .id = 9, .sector_number = 64, .nr_sectors = 16 };
    union { struct blkif_request r; struct blkif_request_discard d; } u;
    memset(&u, 0, sizeof(u));
    u.d = dc;
    assert_int_equal(do_req(f, 0, &u.r), BLKIF_RSP_OKAY);
    check_img(f, 64 * 512, 2 * PG, 0);
    struct be_blk_stats st;
    be_blkback_disk_stats(f->disk, &st);
    assert_int_equal(st.be_state, XenbusStateConnected);
    assert_int_equal(st.nr_rings, 1);
    assert_int_equal(st.writes, 3);
    assert_int_equal(st.reads, 2);
    assert_int_equal(st.flushes, 3);
    assert_int_equal(st.discards, 1);
    assert_int_equal(st.errors, 0);
    assert_false(st.persistent);
    teardown_common(f);
}

static void test_indirect_multipage_queues_persistent(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    fe_connect(f, 2, 2, true, false);
    struct be_blk_stats st;
    be_blkback_disk_stats(f->disk, &st);
    assert_int_equal(st.nr_rings, 2);
    assert_int_equal(st.ring_pages, 4);
    assert_true(st.persistent);
    assert_int_equal(RING_SIZE(&f->c.fr[0]), 128);   /* 4 pages */
    /* an indirect write of 40 pages on queue 1, read back on queue 0 */
    enum { N = 40 };
    uint32_t ind = page_alloc(f);
    struct blkif_request_segment *segs =
        (void *)(f->b.h.g.ram + ind * PG);
    uint32_t data[N];
    for (unsigned int i = 0; i < N; i++) {
        data[i] = page_alloc(f);
        fill(f, data[i], (uint8_t)(0x40 + i));
        segs[i].gref = grant(f, data[i], false);
        segs[i].first_sect = 0;
        segs[i].last_sect = 7;
    }
    union { struct blkif_request r; struct blkif_request_indirect i; } u;
    memset(&u, 0, sizeof(u));
    u.i.operation = BLKIF_OP_INDIRECT;
    u.i.indirect_op = BLKIF_OP_WRITE;
    u.i.nr_segments = N;
    u.i.id = 77;
    u.i.sector_number = 256;
    u.i.indirect_grefs[0] = grant(f, ind, true);
    assert_int_equal(do_req(f, 1, &u.r), BLKIF_RSP_OKAY);
    for (unsigned int i = 0; i < N; i++)
        check_img(f, (256 + i * 8) * 512ull, PG, (uint8_t)(0x40 + i));
    for (unsigned int i = 0; i < N; i++)
        fill(f, data[i], 0);
    u.i.indirect_op = BLKIF_OP_READ;
    u.i.id = 78;
    assert_int_equal(do_req(f, 0, &u.r), BLKIF_RSP_OKAY);
    for (unsigned int i = 0; i < N; i++)
        assert_int_equal(f->b.h.g.ram[data[i] * PG + 4095], 0x40 + i);
    /* the same grants again: persistent, still mapped between requests */
    u.i.id = 79;
    assert_int_equal(do_req(f, 0, &u.r), BLKIF_RSP_OKAY);
    struct gnttab_stats gs;
    gnttab_get_stats(f->b.h.g.gt, &gs);
    assert_true(gs.active >= N);    /* + the 8 ring pages */
    /* the frontend closes (module unload): everything unmapped */
    fe_write(f, "state", "%d", XenbusStateClosing);
    wait_be_state(f, XenbusStateClosing);
    fe_write(f, "state", "%d", XenbusStateClosed);
    wait_be_state(f, XenbusStateClosed);
    gnttab_get_stats(f->b.h.g.gt, &gs);
    assert_int_equal(gs.active, 0);
    teardown_common(f);
}

static void test_x86_32_layout(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    fe_connect(f, 1, 0, false, true);
    uint32_t pg = page_alloc(f);
    fill(f, pg, 0x5a);
    blkif_x86_32_front_ring_t *r = &f->c.fr32[0];
    struct blkif_x86_32_request *q = RING_GET_REQUEST(r, r->req_prod_pvt);
    memset(q, 0, sizeof(*q));
    q->operation = BLKIF_OP_WRITE;
    q->nr_segments = 1;
    q->id = 0x1122334455667788ull;
    q->sector_number = 8;
    q->seg[0].gref = grant(f, pg, true);
    q->seg[0].last_sect = 7;
    r->req_prod_pvt++;
    bx_push(&f->c, 0);
    notify(f, 0);
    int i;
    for (i = 0; i < 10000 && !RING_HAS_UNCONSUMED_RESPONSES(r); i++)
        nap();
    assert_true(RING_HAS_UNCONSUMED_RESPONSES(r));
    struct blkif_x86_32_response *p = RING_GET_RESPONSE(r, r->rsp_cons);
    assert_true(p->id == 0x1122334455667788ull);
    assert_int_equal(p->status, BLKIF_RSP_OKAY);
    check_img(f, 8 * 512, PG, 0x5a);
    teardown_common(f);
}

static void test_readonly(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, true);
    fe_connect(f, 1, 0, false, false);
    assert_int_equal(be_long(f, "info"), VDISK_READONLY);
    assert_int_equal(be_long(f, "feature-discard"), -1);
    uint32_t pg = page_alloc(f);
    fill(f, pg, 0xee);
    assert_int_equal(rw(f, 0, BLKIF_OP_WRITE, 0, 1, &pg), BLKIF_RSP_ERROR);
    check_img(f, 0, PG, 0);
    union { struct blkif_request r; struct blkif_request_discard d; } u;
    memset(&u, 0, sizeof(u));
    u.d.operation = BLKIF_OP_DISCARD;
    u.d.nr_sectors = 8;
    assert_int_equal(do_req(f, 0, &u.r), BLKIF_RSP_ERROR);
    assert_int_equal(rw(f, 0, BLKIF_OP_READ, 0, 1, &pg), BLKIF_RSP_OKAY);
    assert_int_equal(f->b.h.g.ram[pg * PG], 0);
    teardown_common(f);
}

static void test_bad_requests(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    fe_connect(f, 1, 0, false, false);
    uint32_t pg = page_alloc(f);
    struct blkif_request req = { .operation = BLKIF_OP_READ,
        .nr_segments = 1, .id = 1, .sector_number = IMG_SECTORS - 4 };
    req.seg[0].gref = grant(f, pg, false);
    req.seg[0].last_sect = 7;
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_ERROR);   /* past end */
    req.sector_number = ~0ull - 2;
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_ERROR);   /* wraps */
    req.sector_number = 0;
    req.seg[0].first_sect = 5;
    req.seg[0].last_sect = 4;
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_ERROR);   /* first>last */
    req.seg[0].first_sect = 0;
    req.seg[0].last_sect = 8;
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_ERROR);   /* past page */
    req.seg[0].last_sect = 7;
    req.nr_segments = 0;
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_ERROR);   /* no segment */
    req.nr_segments = BLKIF_MAX_SEGMENTS_PER_REQUEST + 1;
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_ERROR);   /* too many */
    req.nr_segments = 1;
    req.seg[0].gref = 3000;                                   /* not granted */
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_ERROR);
    req.seg[0].gref = 100000;                                 /* no entry */
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_ERROR);
    req.operation = 42;
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_EOPNOTSUPP);
    union { struct blkif_request r; struct blkif_request_indirect i; } u;
    memset(&u, 0, sizeof(u));
    u.i.operation = BLKIF_OP_INDIRECT;
    u.i.indirect_op = BLKIF_OP_WRITE;
    u.i.nr_segments = 257;                                    /* > offered */
    assert_int_equal(do_req(f, 0, &u.r), BLKIF_RSP_ERROR);
    u.i.nr_segments = 1;
    u.i.indirect_op = BLKIF_OP_DISCARD;
    assert_int_equal(do_req(f, 0, &u.r), BLKIF_RSP_ERROR);
    /* a good one still works */
    req.operation = BLKIF_OP_READ;
    req.seg[0].gref = grant(f, pg, false);
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_OKAY);
    struct be_blk_stats st;
    be_blkback_disk_stats(f->disk, &st);
    assert_int_equal(st.errors, 11);
    assert_int_equal(st.reads, 1);
    teardown_common(f);
}

static void test_corrupt_ring_contained(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    fe_connect(f, 2, 0, false, false);
    /* queue 0: a producer two rings ahead */
    blkif_front_ring_t *r0 = &f->c.fr[0];
    __atomic_store_n(&r0->sring->req_prod, 2 * RING_SIZE(r0) + 3,
                     __ATOMIC_RELEASE);
    notify(f, 0);
    uint32_t pg = page_alloc(f);
    fill(f, pg, 0x77);
    /* queue 1 is served */
    assert_int_equal(rw(f, 1, BLKIF_OP_WRITE, 40, 1, &pg), BLKIF_RSP_OKAY);
    check_img(f, 40 * 512, PG, 0x77);
    /* and queue 0 answered nothing */
    assert_int_equal(r0->sring->rsp_prod, 0);
    teardown_common(f);
}

static void test_flood_bounded(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    fe_connect(f, 1, 0, false, false);
    /* a full ring of reads, twice: every one answered once */
    blkif_front_ring_t *r = &f->c.fr[0];
    uint32_t pg = page_alloc(f);
    grant_ref_t g = grant(f, pg, false);
    unsigned int got = 0, sent = 0, size = RING_SIZE(r);
    while (got < 2 * size) {
        while (sent < 2 * size && !RING_FULL(r)) {
            struct blkif_request *q = RING_GET_REQUEST(r, r->req_prod_pvt++);
            memset(q, 0, sizeof(*q));
            q->operation = BLKIF_OP_READ;
            q->nr_segments = 1;
            q->id = sent++;
            q->sector_number = 8;
            q->seg[0].gref = g;
            q->seg[0].last_sect = 7;
        }
        if (bx_push(&f->c, 0))
            notify(f, 0);
        int i;
        for (i = 0; i < 10000 && !RING_HAS_UNCONSUMED_RESPONSES(r); i++)
            nap();
        assert_true(RING_HAS_UNCONSUMED_RESPONSES(r));
        while (RING_HAS_UNCONSUMED_RESPONSES(r)) {
            struct blkif_response *p = RING_GET_RESPONSE(r, r->rsp_cons++);
            assert_int_equal(p->status, BLKIF_RSP_OKAY);
            got++;
        }
    }
    assert_int_equal(got, 2 * size);
    teardown_common(f);
}

static void test_reconnect(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    fe_connect(f, 1, 0, true, false);
    fe_write(f, "state", "%d", XenbusStateClosing);
    wait_be_state(f, XenbusStateClosing);
    fe_write(f, "state", "%d", XenbusStateClosed);
    wait_be_state(f, XenbusStateClosed);
    /* the module is loaded again */
    fe_write(f, "state", "%d", XenbusStateInitialising);
    wait_be_state(f, XenbusStateInitWait);
    fe_connect(f, 1, 1, false, false);
    uint32_t pg = page_alloc(f);
    fill(f, pg, 0x99);
    assert_int_equal(rw(f, 0, BLKIF_OP_WRITE, 128, 1, &pg), BLKIF_RSP_OKAY);
    check_img(f, 128 * 512, PG, 0x99);
    struct be_blk_stats st;
    be_blkback_disk_stats(f->disk, &st);
    assert_int_equal(st.ring_pages, 2);
    assert_false(st.persistent);
    teardown_common(f);
}

static atomic_int unplugged;

static void unplug_done(void *arg)
{
    (void)arg;
    atomic_store(&unplugged, 1);
}

static void test_unplug(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    fe_connect(f, 1, 0, false, false);
    atomic_store(&unplugged, 0);
    be_blkback_disk_unplug(f->disk, unplug_done, NULL);
    wait_be_state(f, XenbusStateClosing);
    assert_int_equal(atomic_load(&unplugged), 0);
    fe_write(f, "state", "%d", XenbusStateClosing);
    fe_write(f, "state", "%d", XenbusStateClosed);
    for (int i = 0; i < 10000 && !atomic_load(&unplugged); i++)
        nap();
    assert_int_equal(atomic_load(&unplugged), 1);
    char *v;
    assert_int_equal(store_client_read(f->b.h.c0,
        "/local/domain/0/backend/vbd/1/51712", &v, NULL), -ENOENT);
    assert_int_equal(store_client_read(f->b.h.c0,
        "/local/domain/1/device/vbd/51712", &v, NULL), -ENOENT);
    be_blkback_disk_remove(f->disk);   /* the handle outlives the unplug */
    f->disk = NULL;
    /* a disk never connected goes at once */
    const struct be_blk_config bc = { .domid = FE, .target = f->b.img,
        .vdev = "xvdb", .devid = 51728 };
    struct be_blk_disk *d2;
    assert_int_equal(be_blkback_disk_add(f->b.bb, &bc, &d2), 0);
    atomic_store(&unplugged, 0);
    be_blkback_disk_unplug(d2, unplug_done, NULL);
    for (int i = 0; i < 10000 && !atomic_load(&unplugged); i++)
        nap();
    assert_int_equal(atomic_load(&unplugged), 1);
    be_blkback_disk_remove(d2);
    teardown_common(f);
}

/* An unplug the frontend never answers (a guest that ignores Closing) is
 * ended by the domain's end: the remove unmaps everything, removes both
 * directories and frees the disk (it leaked, or was skipped, before). */
static void test_unplug_unanswered(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    fe_connect(f, 1, 0, true, false);
    atomic_store(&unplugged, 0);
    be_blkback_disk_unplug(f->disk, unplug_done, NULL);
    wait_be_state(f, XenbusStateClosing);
    assert_int_equal(atomic_load(&unplugged), 0);
    be_blkback_disk_remove(f->disk);        /* the domain dies meanwhile */
    f->disk = NULL;
    assert_int_equal(atomic_load(&unplugged), 0);
    char *v;
    assert_int_equal(store_client_read(f->b.h.c0,
        "/local/domain/0/backend/vbd/1/51712", &v, NULL), -ENOENT);
    assert_int_equal(store_client_read(f->b.h.c0,
        "/local/domain/1/device/vbd/51712", &v, NULL), -ENOENT);
    teardown_common(f);                     /* nothing left mapped */
}

static void test_remove_in_flight(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    fe_connect(f, 1, 2, true, false);
    blkif_front_ring_t *r = &f->c.fr[0];
    for (unsigned int k = 0; k < 64; k++) {
        uint32_t pg = page_alloc(f);
        struct blkif_request *q = RING_GET_REQUEST(r, r->req_prod_pvt++);
        memset(q, 0, sizeof(*q));
        q->operation = k & 1 ? BLKIF_OP_READ : BLKIF_OP_WRITE;
        q->nr_segments = 1;
        q->id = k;
        q->sector_number = k * 8;
        q->seg[0].gref = grant(f, pg, false);
        q->seg[0].last_sect = 7;
    }
    bx_push(&f->c, 0);
    notify(f, 0);
    /* the domain dies now: whatever is in flight is finished, every grant
     * unmapped (teardown_common checks), the directories gone */
    be_blkback_disk_remove(f->disk);
    f->disk = NULL;
    char *v;
    assert_int_equal(store_client_read(f->b.h.c0,
        "/local/domain/0/backend/vbd/1/51712", &v, NULL), -ENOENT);
    teardown_common(f);
}

/* The grants of a request are unmapped before its answer is published
 * (Linux's blkback unmaps, then responds: blkfront ends its grants on the
 * answer and calls a grant still in use a broken backend). Looked at the
 * moment the frontend is told: the kick of its vCPU, in the loop's
 * thread. */
static atomic_int kick_busy = -1;
static grant_ref_t kick_ref;

static void busy_at_kick(void *arg, domid_t dom, uint32_t vcpu)
{
    struct fx *f = arg;
    (void)dom, (void)vcpu;
    atomic_store(&kick_busy, gx_busy(&f->b.h.g, 1, kick_ref));
}

static void test_unmapped_before_answer(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    fe_connect(f, 1, 0, false, false);
    uint32_t pg = page_alloc(f);
    fill(f, pg, 0x3c);
    struct blkif_request req = { .operation = BLKIF_OP_WRITE,
        .nr_segments = 1, .id = 5, .sector_number = 24 };
    req.seg[0].gref = kick_ref = grant(f, pg, true);
    req.seg[0].last_sect = 7;
    f->b.h.x->kick_hook_arg = f;
    f->b.h.x->kick_hook = busy_at_kick;
    /* the first answer: rsp_event is 1, so the frontend is notified */
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_OKAY);
    assert_int_equal(atomic_load(&kick_busy), 0);
    f->b.h.x->kick_hook = NULL;
    check_img(f, 24 * 512, PG, 0x3c);
    teardown_common(f);
}

static void test_bad_image(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    const struct be_blk_config bc = { .domid = FE,
        .target = "/nonexistent/xenkvm.img", .vdev = "xvdc", .devid = 51744 };
    struct be_blk_disk *d;
    assert_int_equal(be_blkback_disk_add(f->b.bb, &bc, &d), -ENOENT);
    char *v;
    assert_int_equal(store_client_read(f->b.h.c0,
        "/local/domain/0/backend/vbd/1/51744", &v, NULL), -ENOENT);
    teardown_common(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_rw_flush_discard),
        cmocka_unit_test(test_indirect_multipage_queues_persistent),
        cmocka_unit_test(test_x86_32_layout),
        cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_corrupt_ring_contained),
        cmocka_unit_test(test_flood_bounded),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_unplug),
        cmocka_unit_test(test_unplug_unanswered),
        cmocka_unit_test(test_remove_in_flight),
        cmocka_unit_test(test_unmapped_before_answer),
        cmocka_unit_test(test_bad_image),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

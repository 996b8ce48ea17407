/*
 * blkback against plain memory: the "guest" is shared anonymous RAM with a
 * grant table (the real core, src/gnttab), the real XenStore service and
 * event-channel core; the test plays Linux's blkfront (its keys, its
 * states, requests on the ring with granted pages, notifications) while
 * the service runs on a loop thread, and checks the data in a temp image.
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

#include <xen/io/xenbus.h>

#include "xenkvm/backends.h"
#include "evtchn_harness.h"
#include "../../src/backends/blkback_abi.h"

#define PG 4096u
#define RAM_PAGES 256u
#define GT_FRAMES 4u
#define FE 1
#define DEVID 51712u
#define IMG_SECTORS 2048u           /* 1 MiB */

struct fx {
    struct hx *x;
    struct util_loop *loop;
    struct be_xenstore *xs;
    struct store_client *c0;        /* the toolstack's view (domain 0) */
    struct store_client *fe;        /* the frontend (domain 1) */
    struct gnttab_host *gh;
    struct gnttab *gt, *gt0;
    uint8_t *gtpages, *ram;
    grant_ref_t next_ref;
    uint32_t next_gfn;
    struct be_blkback *bb;
    struct be_blk_disk *disk;
    char img[64];
    int imgfd;
    /* the frontend's rings */
    unsigned int nq;
    bool x86_32;
    evtchn_port_t port[4];
    blkif_front_ring_t fr[4];
    blkif_x86_32_front_ring_t fr32;
    grant_ref_t ring_refs[4][16];
};

static void *gfn_map(void *dom, uint64_t gfn)
{
    struct fx *f = dom;
    return gfn < RAM_PAGES ? f->ram + gfn * PG : NULL;
}

static int map_frame(void *dom, uint32_t page, uint64_t gfn)
{
    (void)dom, (void)page, (void)gfn;
    return 0;
}

static const struct gnttab_ops gt_ops = { gfn_map, map_frame };

/* Grant the guest page gfn to domain 0 (v1 entry, as a frontend does). */
static grant_ref_t grant(struct fx *f, uint32_t gfn, bool ro)
{
    grant_ref_t ref = f->next_ref++;
    assert_true(ref < GT_FRAMES * (PG / sizeof(grant_entry_v1_t)));
    grant_entry_v1_t *e = (grant_entry_v1_t *)f->gtpages + ref;
    e->domid = 0;
    e->frame = gfn;
    __atomic_store_n(&e->flags, GTF_permit_access | (ro ? GTF_readonly : 0),
                     __ATOMIC_RELEASE);
    return ref;
}

static uint32_t page_alloc(struct fx *f)
{
    assert_true(f->next_gfn < RAM_PAGES);
    return f->next_gfn++;
}

static void fe_write(struct fx *f, const char *key, const char *fmt, ...)
{
    char path[160], val[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "/local/domain/%u/device/vbd/%u/%s", FE,
             DEVID, key);
    assert_int_equal(store_client_write(f->fe, path, val, strlen(val)), 0);
}

static int be_read(struct fx *f, const char *key, char **val)
{
    char path[160];
    snprintf(path, sizeof(path), "/local/domain/0/backend/vbd/%u/%u/%s", FE,
             DEVID, key);
    return store_client_read(f->c0, path, val, NULL);
}

static long be_long(struct fx *f, const char *key)
{
    char *v;
    if (be_read(f, key, &v))
        return -1;
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
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
    f->x = hx_create();
    assert_non_null(f->x);
    assert_int_equal(hx_dom_add(f->x, 0, true, 1, 0), 0);
    assert_int_equal(hx_dom_add(f->x, FE, false, 1, 0), 0);
    f->loop = util_loop_create();
    assert_non_null(f->loop);
    assert_int_equal(util_loop_start(f->loop, "blk-test"), 0);
    f->ram = mmap(NULL, RAM_PAGES * PG, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(f->ram != MAP_FAILED);
    size_t gtn = GT_FRAMES + gnttab_status_pages(GT_FRAMES);
    f->gtpages = mmap(NULL, gtn * PG, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(f->gtpages != MAP_FAILED);
    f->gh = gnttab_host_create();
    assert_non_null(f->gh);
    const struct gnttab_config dom0 = { .domid = 0, .max_frames = 1,
        .max_maptrack_frames = GNTTAB_DEFAULT_MAX_MAPTRACK_FRAMES };
    f->gt0 = gnttab_create(f->gh, &dom0);
    assert_non_null(f->gt0);
    const struct gnttab_config gc = { .domid = FE, .max_frames = GT_FRAMES,
        .max_maptrack_frames = 0, .pages = f->gtpages, .ops = &gt_ops,
        .opaque = f };
    f->gt = gnttab_create(f->gh, &gc);
    assert_non_null(f->gt);
    uint64_t frames[GT_FRAMES];
    assert_int_equal(gnttab_op_setup_table(f->gt, GT_FRAMES, frames),
                     GNTST_okay);
    f->next_ref = 8;                 /* past the reserved entries */
    f->next_gfn = 1;
    struct be_env env = { .loop = f->loop, .evtchn = f->x->h,
                          .gnttab = f->gh, .out = stdout, .quiet = true };
    char err[128];
    f->xs = be_xenstore_create(&env, NULL, err, sizeof(err));
    assert_non_null(f->xs);
    env.store = be_xenstore_store(f->xs);
    assert_int_equal(store_client_new(env.store, 0, NULL, &f->c0), 0);
    assert_int_equal(store_client_mkdir(f->c0, "/local/domain/1"), 0);
    const struct xs_permissions home[] = { { FE, XS_PERM_NONE } };
    assert_int_equal(store_client_set_perms(f->c0, "/local/domain/1", home,
                                            1), 0);
    assert_int_equal(store_client_new(env.store, FE, NULL, &f->fe), 0);
    f->bb = be_blkback_create(&env, err, sizeof(err));
    if (!f->bb)
        fail_msg("%s", err);
    strcpy(f->img, "/tmp/xenkvm-blk-XXXXXX");
    f->imgfd = mkstemp(f->img);
    assert_true(f->imgfd >= 0);
    assert_int_equal(ftruncate(f->imgfd, IMG_SECTORS * 512ull), 0);
    const struct be_blk_config bc = { .domid = FE, .target = f->img,
        .vdev = "xvda", .devid = DEVID, .readonly = readonly };
    assert_int_equal(be_blkback_disk_add(f->bb, &bc, &f->disk), 0);
}

static void teardown_common(struct fx *f)
{
    be_blkback_disk_remove(f->disk);
    be_blkback_destroy(f->bb);
    store_client_free(f->fe);
    store_client_free(f->c0);
    util_loop_stop(f->loop);
    be_xenstore_destroy(f->xs);
    util_loop_destroy(f->loop);
    struct gnttab_stats st;
    gnttab_get_stats(f->gt, &st);
    assert_int_equal(st.active, 0);  /* every grant unmapped */
    gnttab_destroy(f->gt);
    gnttab_destroy(f->gt0);
    gnttab_host_destroy(f->gh);
    hx_destroy(f->x);
    munmap(f->ram, RAM_PAGES * PG);
    munmap(f->gtpages, (GT_FRAMES + gnttab_status_pages(GT_FRAMES)) * PG);
    close(f->imgfd);
    unlink(f->img);
    free(f);
}

/* blkfront's talk_to_blkback: rings (order 0: ring-ref), channels,
 * protocol, then Initialised; waits for Connected. */
static void fe_connect(struct fx *f, unsigned int nq, unsigned int order,
                       bool persistent, bool x86_32)
{
    f->nq = nq;
    f->x86_32 = x86_32;
    unsigned int pages = 1u << order;
    for (unsigned int q = 0; q < nq; q++) {
        char dir[16] = "";
        if (nq > 1)
            snprintf(dir, sizeof(dir), "queue-%u/", q);
        /* contiguous guest pages for the ring (the frontend's view) */
        uint32_t gfn0 = f->next_gfn;
        for (unsigned int i = 0; i < pages; i++) {
            uint32_t gfn = page_alloc(f);
            memset(f->ram + gfn * PG, 0, PG);
            f->ring_refs[q][i] = grant(f, gfn, false);
            char key[48];
            if (order) {
                snprintf(key, sizeof(key), "%sring-ref%u", dir, i);
            } else {
                snprintf(key, sizeof(key), "%sring-ref", dir);
            }
            fe_write(f, key, "%u", f->ring_refs[q][i]);
        }
        void *ring = f->ram + gfn0 * PG;
        if (x86_32) {
            blkif_x86_32_sring_t *s = ring;
            SHARED_RING_INIT(s);
            FRONT_RING_INIT(&f->fr32, s, pages * PG);
        } else {
            blkif_sring_t *s = ring;
            SHARED_RING_INIT(s);
            FRONT_RING_INIT(&f->fr[q], s, pages * PG);
        }
        if (order) {
            char key[48];
            snprintf(key, sizeof(key), "%sring-page-order", dir);
            fe_write(f, key, "%u", order);
        }
        int p = hx_alloc_unbound(f->x, FE, DOMID_SELF, 0);
        assert_true(p > 0);
        f->port[q] = (evtchn_port_t)p;
        char key[48];
        snprintf(key, sizeof(key), "%sevent-channel", dir);
        fe_write(f, key, "%d", p);
    }
    if (nq > 1)
        fe_write(f, "multi-queue-num-queues", "%u", nq);
    fe_write(f, "protocol", "%s",
             x86_32 ? XEN_IO_PROTO_ABI_X86_32 : XEN_IO_PROTO_ABI_X86_64);
    fe_write(f, "feature-persistent", "%u", persistent ? 1 : 0);
    fe_write(f, "state", "%d", XenbusStateInitialised);
    wait_be_state(f, XenbusStateConnected);
    fe_write(f, "state", "%d", XenbusStateConnected);
}

static void notify(struct fx *f, unsigned int q)
{
    struct evtchn_send s = { .port = f->port[q] };
    assert_int_equal(hx_op(f->x, FE, EVTCHNOP_send, &s), 0);
}

/* Put one native request on queue q and wait for its response status. */
static int16_t do_req(struct fx *f, unsigned int q, const void *req)
{
    blkif_front_ring_t *r = &f->fr[q];
    memcpy(RING_GET_REQUEST(r, r->req_prod_pvt), req,
           sizeof(struct blkif_request));
    r->req_prod_pvt++;
    int n;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(r, n);
    if (n)
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
    memset(f->ram + gfn * PG, v, PG);
}

static void check_img(struct fx *f, uint64_t off, size_t len, uint8_t v)
{
    uint8_t *b = malloc(len);
    assert_int_equal(pread(f->imgfd, b, len, (off_t)off), (ssize_t)len);
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
    assert_int_equal(store_client_read(f->fe,
        "/local/domain/1/device/vbd/51712/backend", &v, NULL), 0);
    assert_string_equal(v, "/local/domain/0/backend/vbd/1/51712");
    free(v);
    assert_int_equal(store_client_write(f->fe,
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
    assert_int_equal(f->ram[pg[0] * PG + 100], 0xb2);
    /* a partial segment: sectors 2..3 of a page */
    struct blkif_request req = { .operation = BLKIF_OP_READ,
        .nr_segments = 1, .id = 7, .sector_number = 16 };
    req.seg[0].gref = grant(f, pg[1], false);
    req.seg[0].first_sect = 2;
    req.seg[0].last_sect = 3;
    assert_int_equal(do_req(f, 0, &req), BLKIF_RSP_OKAY);
    assert_int_equal(f->ram[pg[1] * PG + 1024], 0xa1);
    assert_int_equal(f->ram[pg[1] * PG + 2048], 0);
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
    assert_int_equal(RING_SIZE(&f->fr[0]), 128);   /* 4 pages */
    /* an indirect write of 40 pages on queue 1, read back on queue 0 */
    enum { N = 40 };
    uint32_t ind = page_alloc(f);
    struct blkif_request_segment *segs =
        (void *)(f->ram + ind * PG);
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
        assert_int_equal(f->ram[data[i] * PG + 4095], 0x40 + i);
    /* the same grants again: persistent, still mapped between requests */
    u.i.id = 79;
    assert_int_equal(do_req(f, 0, &u.r), BLKIF_RSP_OKAY);
    struct gnttab_stats gs;
    gnttab_get_stats(f->gt, &gs);
    assert_true(gs.active >= N);    /* + the 8 ring pages */
    /* the frontend closes (module unload): everything unmapped */
    fe_write(f, "state", "%d", XenbusStateClosing);
    wait_be_state(f, XenbusStateClosing);
    fe_write(f, "state", "%d", XenbusStateClosed);
    wait_be_state(f, XenbusStateClosed);
    gnttab_get_stats(f->gt, &gs);
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
    blkif_x86_32_front_ring_t *r = &f->fr32;
    struct blkif_x86_32_request *q = RING_GET_REQUEST(r, r->req_prod_pvt);
    memset(q, 0, sizeof(*q));
    q->operation = BLKIF_OP_WRITE;
    q->nr_segments = 1;
    q->id = 0x1122334455667788ull;
    q->sector_number = 8;
    q->seg[0].gref = grant(f, pg, true);
    q->seg[0].last_sect = 7;
    r->req_prod_pvt++;
    RING_PUSH_REQUESTS(r);
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
    assert_int_equal(f->ram[pg * PG], 0);
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
    blkif_front_ring_t *r0 = &f->fr[0];
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
    blkif_front_ring_t *r = &f->fr[0];
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
        int n;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(r, n);
        if (n)
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
    assert_int_equal(store_client_read(f->c0,
        "/local/domain/0/backend/vbd/1/51712", &v, NULL), -ENOENT);
    assert_int_equal(store_client_read(f->c0,
        "/local/domain/1/device/vbd/51712", &v, NULL), -ENOENT);
    f->disk = NULL;                 /* freed by the unplug */
    /* a disk never connected goes at once */
    const struct be_blk_config bc = { .domid = FE, .target = f->img,
        .vdev = "xvdb", .devid = 51728 };
    struct be_blk_disk *d2;
    assert_int_equal(be_blkback_disk_add(f->bb, &bc, &d2), 0);
    atomic_store(&unplugged, 0);
    be_blkback_disk_unplug(d2, unplug_done, NULL);
    for (int i = 0; i < 10000 && !atomic_load(&unplugged); i++)
        nap();
    assert_int_equal(atomic_load(&unplugged), 1);
    teardown_common(f);
}

static void test_remove_in_flight(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    setup_common(f, false);
    fe_connect(f, 1, 2, true, false);
    blkif_front_ring_t *r = &f->fr[0];
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
    RING_PUSH_REQUESTS(r);
    notify(f, 0);
    /* the domain dies now: whatever is in flight is finished, every grant
     * unmapped (teardown_common checks), the directories gone */
    be_blkback_disk_remove(f->disk);
    f->disk = NULL;
    char *v;
    assert_int_equal(store_client_read(f->c0,
        "/local/domain/0/backend/vbd/1/51712", &v, NULL), -ENOENT);
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
    assert_int_equal(be_blkback_disk_add(f->bb, &bc, &d), -ENOENT);
    char *v;
    assert_int_equal(store_client_read(f->c0,
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
        cmocka_unit_test(test_remove_in_flight),
        cmocka_unit_test(test_bad_image),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

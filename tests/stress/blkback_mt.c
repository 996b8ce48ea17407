/*
 * blkback under threads (the ThreadSanitizer step of `make test` runs
 * suite 'concurrency'), on tests/common/blkback_harness.h with blkback's
 * loop in its own thread:
 *   - three "vCPU" threads, each the only user of one ring: disk xvda's
 *     (persistent grants, one page) and the two queues of xvdb (4-page
 *     rings), write pages of a pattern of their own to their own sectors,
 *     read them back into other pages and compare, with flushes and
 *     indirect requests between, notifying after each batch;
 *   - the loop thread serves them and completes the I/O;
 *   - a "toolstack" thread adds disk xvdc, connects its frontend, does a
 *     little I/O on it and then unplugs it (the frontend closes) or
 *     removes it (domain death), over and over;
 *   - a "backend" thread maps and unmaps, as domain 0, grants of the same
 *     guest (the rings' and the data pages' included), so the grant
 *     table's lock is taken from four threads.
 * The test's side of every ring index is an __atomic access (the request
 * and response slots are ordered by them), so TSan judges blkback's side
 * only. Checked: every response is OKAY and answers a request once, data
 * reads back as written, and at the end nothing is mapped.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "blkback_harness.h"

#if defined(__SANITIZE_THREAD__)
#define ROUNDS 200
#define TOOL_ROUNDS 30
#else
#define ROUNDS 600
#define TOOL_ROUNDS 60
#endif
#define FE 1
#define RAM 256u
#define GT_FRAMES 4u
#define IMG (4u << 20)
#define VCPUS 3
#define BATCH 4                 /* requests in flight per vCPU */
#define SEGS 3                  /* pages per direct request */
#define IND_SEGS 24             /* pages per indirect request */
#define DEVID_A 51712u          /* xvda */
#define DEVID_B 51728u          /* xvdb */
#define DEVID_C 51744u          /* xvdc, the toolstack's */

static struct bx b;
static int failed;

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, \
                      __LINE__, #c); __atomic_store_n(&failed, 1, __ATOMIC_SEQ_CST); } } while (0)

static void nap(void)
{
    nanosleep(&(struct timespec){ 0, 200000 }, NULL);
}

/* Wait (bounded: a hang is a failure) for the backend's state. */
static bool wait_be_state(uint32_t devid, long want)
{
    for (int i = 0; i < 100000; i++) {
        if (bx_be_long(&b, devid, "state") == want)
            return true;
        nap();
    }
    return false;
}

/* One ring of the frontend, used by one thread only. */
struct vcpu {
    struct bx_front *c;
    unsigned int q;
    uint32_t first_sector;          /* its own part of the image */
    /* pages: BATCH slots of SEGS write pages and SEGS read pages, and
     * IND_SEGS pages for the indirect request with its segment page */
    uint32_t wr[BATCH][SEGS], rd[BATCH][SEGS];
    grant_ref_t wr_ref[BATCH][SEGS], rd_ref[BATCH][SEGS];
    uint32_t ind[IND_SEGS], ind_page;
    grant_ref_t ind_ref[IND_SEGS], ind_page_ref;
    unsigned long done;
};

/* Pages and grants, made before any thread runs (the harness's
 * allocators are not for threads). */
static void vcpu_init(struct vcpu *v, struct bx_front *c,
                      unsigned int q, uint32_t first_sector)
{
    v->c = c;
    v->q = q;
    v->first_sector = first_sector;
    for (int k = 0; k < BATCH; k++)
        for (int i = 0; i < SEGS; i++) {
            v->wr[k][i] = bx_page_alloc(&b);
            v->rd[k][i] = bx_page_alloc(&b);
            CHECK(v->rd[k][i] != UINT32_MAX);
            v->wr_ref[k][i] = bx_grant(&b, v->wr[k][i], true);
            v->rd_ref[k][i] = bx_grant(&b, v->rd[k][i], false);
        }
    for (int i = 0; i < IND_SEGS; i++) {
        v->ind[i] = bx_page_alloc(&b);
        CHECK(v->ind[i] != UINT32_MAX);
        v->ind_ref[i] = bx_grant(&b, v->ind[i], false);
    }
    v->ind_page = bx_page_alloc(&b);
    CHECK(v->ind_page != UINT32_MAX);
    v->ind_page_ref = bx_grant(&b, v->ind_page, true);
}

/* The guest's side of a ring: requests written in their slots, then the
 * producer index published (release); responses read after an acquire
 * of rsp_prod. */
static void put(struct vcpu *v, const void *req)
{
    blkif_front_ring_t *f = &v->c->fr[v->q];
    memcpy(RING_GET_REQUEST(f, f->req_prod_pvt), req,
           sizeof(struct blkif_request));
    f->req_prod_pvt++;
    bx_push(v->c, v->q);        /* notified after each batch in any case */
}

/* Wait for n responses; each must be OKAY and one of ids[0..n-1]. */
static void collect(struct vcpu *v, const uint64_t *ids, unsigned int n)
{
    blkif_front_ring_t *f = &v->c->fr[v->q];
    bool seen[BATCH * 2] = { false };
    unsigned int got = 0;
    for (int spin = 0; got < n && spin < 100000; spin++) {
        RING_IDX rp = __atomic_load_n(&f->sring->rsp_prod, __ATOMIC_ACQUIRE);
        if (f->rsp_cons == rp) {
            /* ask for an event at the next response, as blkfront does */
            __atomic_store_n(&f->sring->rsp_event, f->rsp_cons + 1,
                             __ATOMIC_SEQ_CST);
            nap();
            continue;
        }
        while (f->rsp_cons != rp) {
            struct blkif_response r = *RING_GET_RESPONSE(f, f->rsp_cons);
            f->rsp_cons++;
            CHECK(r.status == BLKIF_RSP_OKAY);
            unsigned int k;
            for (k = 0; k < n && (ids[k] != r.id || seen[k]); k++)
                ;
            CHECK(k < n);
            if (k < n)
                seen[k] = true;
            got++;
        }
    }
    CHECK(got == n);
}

static void fill(uint32_t gfn, uint32_t tag)
{
    uint32_t *p = (uint32_t *)bx_page(&b, gfn);
    for (unsigned int i = 0; i < BX_PAGE / 4; i++)
        p[i] = tag ^ i;
}

static bool same(uint32_t gfn, uint32_t tag)
{
    const uint32_t *p = (const uint32_t *)bx_page(&b, gfn);
    for (unsigned int i = 0; i < BX_PAGE / 4; i++)
        if (p[i] != (tag ^ i))
            return false;
    return true;
}

static void rw_batch(struct vcpu *v, uint8_t op, unsigned long round)
{
    uint64_t ids[BATCH];
    for (unsigned int k = 0; k < BATCH; k++) {
        struct blkif_request req = { .operation = op, .nr_segments = SEGS,
            .id = (round << 8) | (op << 4) | k,
            .sector_number = v->first_sector + k * SEGS * 8 };
        for (unsigned int i = 0; i < SEGS; i++) {
            req.seg[i].gref = op == BLKIF_OP_WRITE ? v->wr_ref[k][i]
                                                   : v->rd_ref[k][i];
            req.seg[i].last_sect = 7;
        }
        ids[k] = req.id;
        put(v, &req);
    }
    CHECK(bx_notify(&b, v->c, v->q) == 0);
    collect(v, ids, BATCH);
}

/* An indirect write of IND_SEGS pages, then a flush, then an indirect
 * read back into the same pages (cleared between). */
static void indirect(struct vcpu *v, unsigned long round)
{
    uint32_t sector = v->first_sector + BATCH * SEGS * 8;
    struct blkif_request_segment *s = (void *)bx_page(&b, v->ind_page);
    for (unsigned int i = 0; i < IND_SEGS; i++) {
        s[i] = (struct blkif_request_segment){ .gref = v->ind_ref[i],
                                               .first_sect = 0,
                                               .last_sect = 7 };
        fill(v->ind[i], (uint32_t)(round * 977 + i) ^ v->first_sector);
    }
    union { struct blkif_request r; struct blkif_request_indirect i; } u;
    memset(&u, 0, sizeof(u));
    u.i.operation = BLKIF_OP_INDIRECT;
    u.i.indirect_op = BLKIF_OP_WRITE;
    u.i.nr_segments = IND_SEGS;
    u.i.id = round << 8 | 0xe0;
    u.i.sector_number = sector;
    u.i.indirect_grefs[0] = v->ind_page_ref;
    uint64_t id = u.i.id;
    put(v, &u.r);
    struct blkif_request fl = { .operation = BLKIF_OP_FLUSH_DISKCACHE,
                                .id = round << 8 | 0xe1 };
    put(v, &fl);
    uint64_t ids[2] = { id, fl.id };
    CHECK(bx_notify(&b, v->c, v->q) == 0);
    collect(v, ids, 2);
    for (unsigned int i = 0; i < IND_SEGS; i++)
        memset(bx_page(&b, v->ind[i]), 0, BX_PAGE);
    u.i.indirect_op = BLKIF_OP_READ;
    u.i.id = round << 8 | 0xe2;
    put(v, &u.r);
    CHECK(bx_notify(&b, v->c, v->q) == 0);
    collect(v, &u.i.id, 1);
    for (unsigned int i = 0; i < IND_SEGS; i++)
        CHECK(same(v->ind[i], (uint32_t)(round * 977 + i) ^ v->first_sector));
}

static void *vcpu_main(void *arg)
{
    struct vcpu *v = arg;
    for (unsigned long round = 1; round <= ROUNDS; round++) {
        for (unsigned int k = 0; k < BATCH; k++)
            for (unsigned int i = 0; i < SEGS; i++) {
                fill(v->wr[k][i], (uint32_t)(round << 12 | k << 4 | i) ^
                                  v->first_sector);
                memset(bx_page(&b, v->rd[k][i]), 0, BX_PAGE);
            }
        rw_batch(v, BLKIF_OP_WRITE, round);
        rw_batch(v, BLKIF_OP_READ, round);
        for (unsigned int k = 0; k < BATCH; k++)
            for (unsigned int i = 0; i < SEGS; i++)
                CHECK(same(v->rd[k][i], (uint32_t)(round << 12 | k << 4 | i) ^
                                        v->first_sector));
        if (round % 8 == 0)
            indirect(v, round);
        v->done = round;
        if (__atomic_load_n(&failed, __ATOMIC_SEQ_CST))
            break;
    }
    return NULL;
}

/* The toolstack: disk xvdc comes and goes, its frontend connecting each
 * time on the same pages and grants (the allocators are this thread's
 * now). */
static atomic_int unplugged;

static void unplug_done(void *arg)
{
    (void)arg;
    atomic_store(&unplugged, 1);
}

static void *tool_main(void *arg)
{
    (void)arg;
    uint32_t gfn0 = b.h.next_gfn;
    grant_ref_t ref0 = b.h.next_ref;
    for (int round = 0; round < TOOL_ROUNDS; round++) {
        const struct be_blk_config bc = { .domid = FE, .target = b.img,
            .vdev = "xvdc", .devid = DEVID_C };
        struct be_blk_disk *d;
        if (__atomic_load_n(&failed, __ATOMIC_SEQ_CST) ||
            be_blkback_disk_add(b.bb, &bc, &d)) {
            CHECK(!"disk xvdc added");
            break;
        }
        b.h.next_gfn = gfn0;
        b.h.next_ref = ref0;
        struct bx_front c;
        CHECK(bx_fe_rings(&b, DEVID_C, &c, 1, round % 3, round & 1,
                          false) == 0);
        CHECK(bx_fe_write(&b, DEVID_C, "state", "%d",
                          XenbusStateInitialised) == 0);
        CHECK(wait_be_state(DEVID_C, XenbusStateConnected));
        struct vcpu v = { .c = &c, .q = 0, .first_sector = 6000 };
        uint32_t pg = bx_page_alloc(&b);
        grant_ref_t ref = bx_grant(&b, pg, false);
        for (int k = 0; k < 2; k++) {
            struct blkif_request req = { .operation = BLKIF_OP_READ,
                .nr_segments = 1, .id = (uint64_t)round << 8 | k,
                .sector_number = 6000 };
            req.seg[0].gref = ref;
            req.seg[0].last_sect = 7;
            put(&v, &req);
        }
        CHECK(bx_notify(&b, &c, 0) == 0);
        if (round % 2) {
            /* hot-unplug, with the two reads perhaps in flight */
            atomic_store(&unplugged, 0);
            be_blkback_disk_unplug(d, unplug_done, NULL);
            CHECK(wait_be_state(DEVID_C, XenbusStateClosing));
            CHECK(bx_fe_write(&b, DEVID_C, "state", "%d",
                              XenbusStateClosed) == 0);
            for (int i = 0; i < 100000 && !atomic_load(&unplugged); i++)
                nap();
            CHECK(atomic_load(&unplugged));
            be_blkback_disk_remove(d);
        } else {
            be_blkback_disk_remove(d);  /* the domain dies */
        }
        for (unsigned int q = 0; q < c.nq; q++) {
            struct evtchn_close cl = { .port = c.port[q] };
            hx_op(b.h.x, FE, EVTCHNOP_close, &cl);
        }
    }
    return NULL;
}

/* Domain 0 maps and unmaps the guest's grants (in use by blkback or
 * not), reading the first byte of each mapping. */
static int tool_stop;

static void *mapper_main(void *arg)
{
    grant_ref_t hi = *(const grant_ref_t *)arg;   /* refs granted so far */
    unsigned long maps = 0;
    for (grant_ref_t ref = 8; !__atomic_load_n(&tool_stop, __ATOMIC_ACQUIRE);
         ref = ref + 1 < hi ? ref + 1 : 8) {
        struct gnttab_mapping m;
        if (gnttab_map(b.h.gh, 0, FE, ref, GNTMAP_host_map | GNTMAP_readonly,
                       &m) == GNTST_okay) {
            CHECK(m.addr >= (void *)b.h.g.ram &&
                  m.addr < (void *)(b.h.g.ram + (size_t)RAM * BX_PAGE));
            CHECK(gnttab_unmap(b.h.gh, 0, m.handle) == GNTST_okay);
            maps++;
        }
        if (maps % 64 == 0)
            sched_yield();
    }
    CHECK(maps > 0);
    return NULL;
}

int main(void)
{
    char err[160];
    if (bx_init(&b, FE, RAM, GT_FRAMES, IMG, true, err, sizeof(err))) {
        fprintf(stderr, "blkback_mt: %s\n", err);
        return 1;
    }
    struct be_blk_disk *da, *db;
    const struct be_blk_config ca = { .domid = FE, .target = b.img,
        .vdev = "xvda", .devid = DEVID_A };
    const struct be_blk_config cb = { .domid = FE, .target = b.img,
        .vdev = "xvdb", .devid = DEVID_B };
    static struct bx_front fa, fb;
    if (be_blkback_disk_add(b.bb, &ca, &da) ||
        be_blkback_disk_add(b.bb, &cb, &db) ||
        bx_fe_rings(&b, DEVID_A, &fa, 1, 0, true, false) ||
        bx_fe_rings(&b, DEVID_B, &fb, 2, 2, false, false) ||
        bx_fe_write(&b, DEVID_A, "state", "%d", XenbusStateInitialised) ||
        bx_fe_write(&b, DEVID_B, "state", "%d", XenbusStateInitialised) ||
        !wait_be_state(DEVID_A, XenbusStateConnected) ||
        !wait_be_state(DEVID_B, XenbusStateConnected)) {
        fprintf(stderr, "blkback_mt: set-up failed\n");
        return 1;
    }
    static struct vcpu v[VCPUS];
    vcpu_init(&v[0], &fa, 0, 0);
    vcpu_init(&v[1], &fb, 0, 2048);
    vcpu_init(&v[2], &fb, 1, 4096);
    if (__atomic_load_n(&failed, __ATOMIC_SEQ_CST))
        return 1;
    pthread_t tv[VCPUS], tt, tm;
    grant_ref_t refs = b.h.next_ref;
    pthread_create(&tm, NULL, mapper_main, &refs);
    for (int i = 0; i < VCPUS; i++)
        pthread_create(&tv[i], NULL, vcpu_main, &v[i]);
    pthread_create(&tt, NULL, tool_main, NULL);
    for (int i = 0; i < VCPUS; i++)
        pthread_join(tv[i], NULL);
    pthread_join(tt, NULL);
    __atomic_store_n(&tool_stop, 1, __ATOMIC_RELEASE);
    pthread_join(tm, NULL);
    be_blkback_disk_remove(da);
    be_blkback_disk_remove(db);
    uint32_t left = bx_fini(&b);
    CHECK(left == 0);
    printf("blkback_mt: %d vCPU threads x %lu rounds, %d unplug/remove "
           "rounds: %s\n", VCPUS, v[0].done, TOOL_ROUNDS,
           failed ? "FAILED" : "ok");
    return failed;
}

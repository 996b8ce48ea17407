/*
 * The grant-table core under threads (run by the ThreadSanitizer step of
 * `make test`, suite 'concurrency'): three mapper threads (two as domain
 * 0, one as domain 3, so both lock orders of unmap run) map, touch, unmap
 * and copy grants of guest 1, while a "guest" thread rewrites those
 * entries and their flags at random and now and then switches the table's
 * version. Each mapper thread has its own refs and frames, so the only
 * shared memory is the table, as between a guest and its backends.
 * Checked: every status is one the contract allows, a mapping's page is
 * the frame the entry named at map time (never another thread's), and at
 * the end nothing is pinned or tracked.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "gnttab_harness.h"

#if defined(__SANITIZE_THREAD__)
#define OPS 20000
#else
#define OPS 60000
#endif
#define THREADS 3
#define REFS 64             /* per thread (v2: 256 entries per frame) */
#define FRAMES 16           /* per thread */
#define HELD 8

static struct gnttab_host *host;
static struct gx_dom g, d0, d3;
static int stop;
static int failed;
static unsigned long guest_writes, maps_ok, copies_ok;

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, \
                      __LINE__, #c); __atomic_store_n(&failed, 1, __ATOMIC_SEQ_CST); } } while (0)

static uint32_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)*s;
}

static domid_t mapper_of(int t) { return t == 2 ? 3 : 0; }

static void *guest(void *arg)
{
    (void)arg;
    uint64_t s = 0x9e3779b97f4a7c15ull;
    static const uint16_t fl[] = {
        GTF_permit_access, GTF_permit_access, GTF_permit_access | GTF_readonly,
        GTF_invalid, GTF_permit_access | GTF_sub_page, GTF_accept_transfer,
        GTF_permit_access | GTF_reading | GTF_writing, GTF_transitive,
    };
    unsigned long n = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&guest_writes, n, __ATOMIC_RELEASE);
        int t = rnd(&s) % THREADS;
        grant_ref_t ref = (grant_ref_t)(t * REFS + rnd(&s) % REFS);
        uint32_t frame = (uint32_t)(t * FRAMES + rnd(&s) % FRAMES);
        if (rnd(&s) % 16 == 0)
            frame = 1000;               /* not RAM */
        domid_t to = rnd(&s) % 8 ? mapper_of(t) : 2;
        uint16_t flags = fl[rnd(&s) % 8];
        uint32_t v = gnttab_op_get_version(g.gt);
        if (v == 1)
            gx_grant_v1(&g, ref, flags, to, frame);
        else if (flags & GTF_sub_page)
            gx_grant_v2_sub(&g, ref, flags, to, frame, rnd(&s) % 4096,
                            rnd(&s) % 4097);
        else
            gx_grant_v2(&g, ref, flags, to, frame);
        if (rnd(&s) % 4 == 0) {
            /* Revoke as Linux does: clear flags if not busy, or anyway. */
            uint16_t *f = (uint16_t *)(g.table + (size_t)ref * (v == 1 ? 8 : 16));
            __atomic_fetch_and(f, (uint16_t)~GTF_type_mask, __ATOMIC_SEQ_CST);
        }
        if (++n % 2048 == 0) {
            uint32_t now;
            int rc = gnttab_op_set_version(g.gt, 3 - v, &now);
            CHECK(rc == 0 || rc == -EBUSY || rc == -ERANGE);
        }
    }
    return NULL;
}

struct held {
    struct gnttab_mapping m;
    uint32_t frame_lo;
    bool live;
};

static void *mapper(void *arg)
{
    int t = (int)(intptr_t)arg;
    domid_t me = mapper_of(t);
    uint64_t s = 0x1234567ull * (uint64_t)(t + 1);
    struct held h[HELD] = { 0 };
    uint8_t *lo = g.ram + (size_t)t * FRAMES * GX_PAGE;
    uint8_t *hi = lo + (size_t)FRAMES * GX_PAGE;
    /* Start once the guest is scribbling. */
    while (__atomic_load_n(&guest_writes, __ATOMIC_ACQUIRE) < 100)
        sched_yield();

    for (int i = 0; i < OPS; i++) {
        struct held *x = &h[rnd(&s) % HELD];
        grant_ref_t ref = (grant_ref_t)(t * REFS + rnd(&s) % REFS);
        uint32_t op = rnd(&s) % 8;
        if (x->live && op < 4) {
            CHECK(gnttab_unmap(host, me, x->m.handle) == GNTST_okay);
            x->live = false;
        } else if (!x->live && op < 6) {
            uint32_t fl = GNTMAP_host_map | (rnd(&s) % 2 ? GNTMAP_readonly : 0);
            int16_t rc = gnttab_map(host, me, 1, ref, fl, &x->m);
            CHECK(rc == GNTST_okay || rc == GNTST_general_error ||
                  rc == GNTST_bad_page || rc == GNTST_bad_gntref);
            if (rc == GNTST_okay) {
                uint8_t *p = x->m.addr;
                CHECK(p >= lo && p < hi && (p - lo) % GX_PAGE == 0);
                /* Touch it as a backend would (atomically: the mapper's
                 * other mappings may be of the same frame). */
                if (!x->m.readonly)
                    __atomic_fetch_add((uint64_t *)p + (i % 512), 1,
                                       __ATOMIC_RELAXED);
                else
                    (void)__atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
                x->live = true;
                __atomic_fetch_add(&maps_ok, 1, __ATOMIC_RELAXED);
            }
        } else if (me == 0) {
            /* dom0 copies between two of its grants, under d1's lock. The
             * frames are this thread's own: no other thread touches them. */
            struct gnttab_copy c = { 0 };
            c.flags = GNTCOPY_source_gref | GNTCOPY_dest_gref;
            c.source.domid = c.dest.domid = 1;
            c.source.u.ref = ref;
            c.dest.u.ref = (grant_ref_t)(t * REFS + rnd(&s) % REFS);
            c.dest.offset = (uint16_t)(rnd(&s) % 4096);
            c.len = (uint16_t)(rnd(&s) % 128);
            int16_t rc = gnttab_copy(host, 0, &c);
            CHECK(rc == GNTST_okay || rc == GNTST_general_error ||
                  rc == GNTST_bad_page || rc == GNTST_bad_gntref ||
                  rc == GNTST_bad_copy_arg);
            if (rc == GNTST_okay)
                __atomic_fetch_add(&copies_ok, 1, __ATOMIC_RELAXED);
        }
    }
    for (int k = 0; k < HELD; k++)
        if (h[k].live)
            CHECK(gnttab_unmap(host, me, h[k].m.handle) == GNTST_okay);
    return NULL;
}

int main(void)
{
    host = gnttab_host_create();
    if (!host || gx_dom_init(host, &g, 1, 1, 0, THREADS * FRAMES) ||
        gx_dom_init(host, &d0, 0, 0, 4, 0) || gx_dom_init(host, &d3, 3, 1, 4, 1))
        return 1;
    pthread_t gt, mt[THREADS];
    pthread_create(&gt, NULL, guest, NULL);
    for (int t = 0; t < THREADS; t++)
        pthread_create(&mt[t], NULL, mapper, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(mt[t], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(gt, NULL);

    struct gnttab_stats st;
    gnttab_get_stats(g.gt, &st);
    CHECK(st.active == 0);
    gnttab_get_stats(d0.gt, &st);
    CHECK(st.maptrack == 0);
    gnttab_get_stats(d3.gt, &st);
    CHECK(st.maptrack == 0);
    /* The races were run: maps and copies succeeded beside the guest. */
    CHECK(maps_ok > OPS / 20 && copies_ok > OPS / 100);
    gx_dom_fini(&d3);
    gx_dom_fini(&d0);
    gx_dom_fini(&g);
    gnttab_host_destroy(host);
    printf("gnttab_mt: %d mapper threads x %d ops (%lu maps, %lu copies) beside "
           "a guest's %lu writes: %s\n", THREADS, OPS, maps_ok, copies_ok,
           guest_writes, failed ? "FAILED" : "ok");
    return failed;
}

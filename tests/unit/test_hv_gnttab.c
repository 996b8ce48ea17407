/*
 * Unit tests of grant_table_op and XENMAPSPACE_grant_table in the hypercall
 * layer (src/hv/hv_gnttab.c) against the real grant-table core: what each
 * sub-op returns, where its status goes, what it copies back, and the
 * frames the guest asks for reaching the platform's map_frame.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/memory.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/gnttab.h"
#include "xenkvm/hv.h"

#define HV_TEST_PAGES 32
#include "hv_test_platform.h"

#define MAX_FRAMES 4
#define ARG 0x1000ull          /* the argument structs live in page 1 */
#define LIST 0x2000ull         /* frame lists in page 2 */

static uint8_t table[(MAX_FRAMES + 1) * 4096] __attribute__((aligned(4096)));
static uint64_t frame_gfn[MAX_FRAMES + 1];

static int t_map_frame(void *dom, uint32_t page, uint64_t gfn)
{
    (void)dom;
    if (page > MAX_FRAMES || gfn == 31)     /* 31: a frame it refuses */
        return -EINVAL;
    frame_gfn[page] = gfn;
    return 0;
}

static const struct gnttab_ops gops = {
    .gfn_map = t_gfn_map, .map_frame = t_map_frame,
};
static const struct hv_platform_ops ops = {
    .gva_map = t_gva_map, .gfn_map = t_gfn_map,
};

struct fx {
    struct evtchn_host *h;
    struct gnttab_host *gh;
    struct gnttab *g0, *g1;
    struct hv_domain *d;
};

static int setup(void **state)
{
    static struct fx f;
    assert_int_equal(gnttab_status_pages(MAX_FRAMES), 1);
    f.h = hv_test_host(1, false);
    struct evtchn_domain_config c7 = { .domid = 7, .max_vcpus = 1 };
    assert_int_equal(evtchn_domain_create(f.h, &c7), 0);
    memset(table, 0, sizeof(table));
    memset(frame_gfn, 0xff, sizeof(frame_gfn));
    f.gh = gnttab_host_create();
    struct gnttab_config c0 = { .domid = 0, .max_maptrack_frames = 1 };
    struct gnttab_config c1 = { .domid = 1, .max_frames = MAX_FRAMES,
                                .pages = table, .ops = &gops };
    f.g0 = gnttab_create(f.gh, &c0);
    f.g1 = gnttab_create(f.gh, &c1);
    assert_non_null(f.g0);
    assert_non_null(f.g1);
    struct hv_domain_config hc = { .domid = 1, .max_vcpus = 1,
        .ram_pages = HV_TEST_PAGES, .evtchn = f.h, .ops = &ops,
        .gnttab = f.g1, .gnttab_host = f.gh };
    f.d = hv_domain_create(&hc);
    assert_non_null(f.d);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hv_domain_destroy(f->d);
    gnttab_destroy(f->g1);
    gnttab_destroy(f->g0);
    gnttab_host_destroy(f->gh);
    evtchn_domain_destroy(f->h, 7);
    hv_test_host_destroy(f->h);
    return 0;
}

static long gnt(struct fx *f, unsigned int cmd, const void *op, size_t len,
                uint32_t count, bool long_mode)
{
    memcpy(mem + ARG, op, len);
    struct hv_call c = { .nr = __HYPERVISOR_grant_table_op,
                         .arg = { cmd, ARG, count }, .long_mode = long_mode };
    return hv_hypercall(f->d, 0, NULL, &c);
}

static long add_frame(struct fx *f, uint64_t idx, uint64_t gpfn)
{
    struct xen_add_to_physmap x = { .domid = DOMID_SELF,
        .space = XENMAPSPACE_grant_table, .idx = idx, .gpfn = gpfn };
    memcpy(mem + ARG, &x, sizeof(x));
    struct hv_call c = { .nr = __HYPERVISOR_memory_op,
                         .arg = { XENMEM_add_to_physmap, ARG }, .long_mode = true };
    return hv_hypercall(f->d, 0, NULL, &c);
}

static void test_query_and_version(void **state)
{
    struct fx *f = *state;
    struct gnttab_query_size q = { .dom = DOMID_SELF, .status = 99 };
    assert_int_equal(gnt(f, GNTTABOP_query_size, &q, sizeof(q), 1, true), 0);
    memcpy(&q, mem + ARG, sizeof(q));
    assert_int_equal(q.status, GNTST_okay);
    assert_int_equal(q.nr_frames, 1);          /* Xen's initial frame */
    assert_int_equal(q.max_nr_frames, MAX_FRAMES);
    q.dom = 7;                                 /* another domain */
    gnt(f, GNTTABOP_query_size, &q, sizeof(q), 1, true);
    assert_int_equal(((struct gnttab_query_size *)(mem + ARG))->status,
                     GNTST_permission_denied);
    q.dom = 99;                                /* none */
    gnt(f, GNTTABOP_query_size, &q, sizeof(q), 1, true);
    assert_int_equal(((struct gnttab_query_size *)(mem + ARG))->status,
                     GNTST_bad_domain);
    /* single-struct ops take count 1 only */
    assert_int_equal(gnt(f, GNTTABOP_query_size, &q, sizeof(q), 2, true), -EINVAL);

    struct gnttab_set_version v = { .version = 2 };
    assert_int_equal(gnt(f, GNTTABOP_set_version, &v, sizeof(v), 1, true), 0);
    v.version = 3;
    assert_int_equal(gnt(f, GNTTABOP_set_version, &v, sizeof(v), 1, true), -EINVAL);
    /* the version in force is written back even on failure */
    assert_int_equal(((struct gnttab_set_version *)(mem + ARG))->version, 2);
    struct gnttab_get_version g = { .dom = DOMID_SELF };
    assert_int_equal(gnt(f, GNTTABOP_get_version, &g, sizeof(g), 1, true), 0);
    assert_int_equal(((struct gnttab_get_version *)(mem + ARG))->version, 2);
    g.dom = 99;
    assert_int_equal(gnt(f, GNTTABOP_get_version, &g, sizeof(g), 1, true), -ESRCH);
    g.dom = 7;
    assert_int_equal(gnt(f, GNTTABOP_get_version, &g, sizeof(g), 1, true), -EPERM);
}

static void test_frames(void **state)
{
    struct fx *f = *state;
    /* v1: shared frames only; the idx grows the table */
    assert_int_equal(add_frame(f, 0, 20), 0);
    assert_int_equal(frame_gfn[0], 20);
    assert_int_equal(add_frame(f, 2, 22), 0);
    assert_int_equal(frame_gfn[2], 22);
    assert_int_equal(add_frame(f, MAX_FRAMES, 23), -EINVAL);
    assert_int_equal(add_frame(f, XENMAPIDX_grant_table_status | 0, 24), -EINVAL);
    assert_int_not_equal(add_frame(f, 3, 31), 0);   /* the platform refuses */

    struct gnttab_setup_table st = { .dom = DOMID_SELF, .nr_frames = 3,
                                     .frame_list = { (xen_pfn_t *)LIST } };
    memset(mem + LIST, 0, 4096);
    assert_int_equal(gnt(f, GNTTABOP_setup_table, &st, sizeof(st), 1, true), 0);
    assert_int_equal(((struct gnttab_setup_table *)(mem + ARG))->status, GNTST_okay);
    uint64_t *fl = (uint64_t *)(mem + LIST);
    assert_int_equal(fl[0], 20);
    assert_int_equal(fl[2], 22);
    st.nr_frames = MAX_FRAMES + 1;
    gnt(f, GNTTABOP_setup_table, &st, sizeof(st), 1, true);
    assert_int_equal(((struct gnttab_setup_table *)(mem + ARG))->status,
                     GNTST_general_error);
    /* a frame list the guest cannot reach */
    st.nr_frames = 1;
    st.frame_list.p = (xen_pfn_t *)(5ull * 4096);
    unmapped_gfn = 5;
    gnt(f, GNTTABOP_setup_table, &st, sizeof(st), 1, true);
    unmapped_gfn = ~0ull;
    assert_int_equal(((struct gnttab_setup_table *)(mem + ARG))->status,
                     GNTST_bad_virt_addr);

    /* v2: the status frame exists once asked for */
    struct gnttab_set_version v = { .version = 2 };
    assert_int_equal(gnt(f, GNTTABOP_set_version, &v, sizeof(v), 1, true), 0);
    assert_int_equal(add_frame(f, XENMAPIDX_grant_table_status | 0, 25), 0);
    assert_int_equal(frame_gfn[MAX_FRAMES], 25);
    struct gnttab_get_status_frames gs = { .nr_frames = 1, .dom = DOMID_SELF,
                                           .frame_list = { (uint64_t *)LIST } };
    assert_int_equal(gnt(f, GNTTABOP_get_status_frames, &gs, sizeof(gs), 1, true), 0);
    assert_int_equal(((struct gnttab_get_status_frames *)(mem + ARG))->status,
                     GNTST_okay);
    assert_int_equal(fl[0], 25);
}

/* GNTTABOP_copy of the guest from one of its frames into a grant it gave
 * itself, one good segment and two bad ones in one call, each with its
 * own status. */
static void test_copy_and_unsupported(void **state)
{
    struct fx *f = *state;
    grant_entry_v1_t *e = (grant_entry_v1_t *)table;
    e[9].domid = 1;
    e[9].frame = 3;
    __atomic_store_n(&e[9].flags, GTF_permit_access, __ATOMIC_RELEASE);
    memcpy(mem + 2 * 4096, "granted bytes!", 15);
    struct gnttab_copy c[3] = {
        { .source = { .u.gmfn = 2, .domid = DOMID_SELF },
          .dest = { .u.ref = 9, .domid = DOMID_SELF, .offset = 100 },
          .len = 15, .flags = GNTCOPY_dest_gref, .status = 99 },
        { .source = { .u.gmfn = 2, .domid = DOMID_SELF },
          .dest = { .u.ref = 100000, .domid = DOMID_SELF },
          .len = 15, .flags = GNTCOPY_dest_gref, .status = 99 },
        { .source = { .u.gmfn = 2, .domid = DOMID_SELF, .offset = 4000 },
          .dest = { .u.ref = 9, .domid = DOMID_SELF },
          .len = 200, .flags = GNTCOPY_dest_gref, .status = 99 },
    };
    assert_int_equal(gnt(f, GNTTABOP_copy, c, sizeof(c), 3, true), 0);
    memcpy(c, mem + ARG, sizeof(c));
    assert_int_equal(c[0].status, GNTST_okay);
    assert_memory_equal(mem + 3 * 4096 + 100, "granted bytes!", 15);
    assert_int_equal(c[1].status, GNTST_bad_gntref);
    assert_int_equal(c[2].status, GNTST_bad_copy_arg);   /* crosses the page */
    assert_int_equal(e[9].flags, GTF_permit_access);      /* nothing left set */

    /* what a PVH domU cannot do here: each element's status says so */
    struct gnttab_map_grant_ref m = { .flags = GNTMAP_host_map, .ref = 9,
                                      .dom = 0, .status = 99 };
    assert_int_equal(gnt(f, GNTTABOP_map_grant_ref, &m, sizeof(m), 1, true), 0);
    assert_int_equal(((struct gnttab_map_grant_ref *)(mem + ARG))->status,
                     GNTST_general_error);
    struct gnttab_unmap_grant_ref u = { .handle = 0, .status = 99 };
    assert_int_equal(gnt(f, GNTTABOP_unmap_grant_ref, &u, sizeof(u), 1, true), 0);
    assert_int_equal(((struct gnttab_unmap_grant_ref *)(mem + ARG))->status,
                     GNTST_bad_handle);
    /* unknown sub-op, negative count, a 32-bit caller (issue 13) */
    assert_int_equal(gnt(f, 99, &u, sizeof(u), 1, true), -ENOSYS);
    assert_int_equal(gnt(f, GNTTABOP_copy, c, sizeof(c), 0x80000000u, true), -EINVAL);
    /* a 32-bit caller's unknown sub-op: the same -ENOSYS */
    assert_int_equal(gnt(f, 99, &u, sizeof(u), 1, false), -ENOSYS);
    /* an argument the guest cannot reach */
    unmapped_gfn = 1;
    assert_int_equal(gnt(f, GNTTABOP_copy, c, sizeof(c), 1, true), -EFAULT);
    unmapped_gfn = ~0ull;
}

static void put16(uint64_t at, uint16_t v) { memcpy(mem + at, &v, 2); }
static void put32(uint64_t at, uint32_t v) { memcpy(mem + at, &v, 4); }

/* A 32-bit caller (Xen's compat_grant_table_op), the i386 offsets written
 * out: setup_table's frame_list holds 4-byte xen_pfn_t, copy's elements
 * are 24 bytes. */
static void test_compat32(void **state)
{
    struct fx *f = *state;
    assert_int_equal(add_frame(f, 0, 20), 0);
    assert_int_equal(add_frame(f, 1, 21), 0);
    /* setup_table: dom @0, nr_frames @4, status @8, frame_list @12 */
    uint8_t st[16];
    memset(st, 0xee, sizeof(st));
    memcpy(st, &(uint16_t){ DOMID_SELF }, 2);
    memcpy(st + 4, &(uint32_t){ 2 }, 4);
    memcpy(st + 12, &(uint32_t){ LIST }, 4);
    memset(mem + LIST, 0xee, 16);
    assert_int_equal(gnt(f, GNTTABOP_setup_table, st, sizeof(st), 1, false), 0);
    int16_t status;
    memcpy(&status, mem + ARG + 8, 2);
    assert_int_equal(status, GNTST_okay);
    uint32_t fl[3];
    memcpy(fl, mem + LIST, sizeof(fl));
    assert_int_equal(fl[0], 20);
    assert_int_equal(fl[1], 21);
    assert_int_equal(fl[2], 0xeeeeeeee);         /* 2 frames of 4 bytes */
    /* a frame list the guest cannot reach: bad_virt_addr, as Xen */
    unmapped_gfn = 5;
    memcpy(mem + ARG + 12, &(uint32_t){ 5 * 4096 }, 4);
    assert_int_equal(gnt(f, GNTTABOP_setup_table, mem + ARG, 16, 1, false), 0);
    unmapped_gfn = ~0ull;
    memcpy(&status, mem + ARG + 8, 2);
    assert_int_equal(status, GNTST_bad_virt_addr);

    /* copy: source {u @0, domid @4, offset @6}, dest {u @8, domid @12,
     * offset @14}, len @16, flags @18, status @20; two elements */
    grant_entry_v1_t *e = (grant_entry_v1_t *)table;
    e[9].domid = 1;
    e[9].frame = 3;
    __atomic_store_n(&e[9].flags, GTF_permit_access, __ATOMIC_RELEASE);
    memcpy(mem + 2 * 4096, "from i386", 10);
    memset(mem + ARG, 0xee, 64);
    for (int i = 0; i < 2; i++) {
        uint64_t at = ARG + 24 * i;
        put32(at, 2);
        put16(at + 4, DOMID_SELF);
        put16(at + 6, 0);
        put32(at + 8, i ? 100000 : 9);         /* the second: bad ref */
        put16(at + 12, DOMID_SELF);
        put16(at + 14, 50);
        put16(at + 16, 10);
        put16(at + 18, GNTCOPY_dest_gref);
        put16(at + 20, 99);
    }
    struct hv_call c = { .nr = __HYPERVISOR_grant_table_op,
                         .arg = { GNTTABOP_copy, ARG, 2 } };
    assert_int_equal(hv_hypercall(f->d, 0, NULL, &c), 0);
    assert_memory_equal(mem + 3 * 4096 + 50, "from i386", 10);
    memcpy(&status, mem + ARG + 20, 2);
    assert_int_equal(status, GNTST_okay);
    memcpy(&status, mem + ARG + 24 + 20, 2);
    assert_int_equal(status, GNTST_bad_gntref);
    assert_int_equal(mem[ARG + 22], 0xee);       /* only status written */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compat32, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_and_unsupported, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The grant-table core: tables, frames and versions (create, query_size,
 * setup_table, add_to_physmap, get_status_frames, set_version with the
 * reserved entries, get_version, swap) and the destroy order with mappings
 * outstanding. Mapping is in test_gnttab_map.c, copy in test_gnttab_copy.c.
 */
#include "gnttab_fixture.h"

#include <xen/memory.h>     /* XENMAPIDX_grant_table_status */

static void test_create_config(void **state)
{
    struct fx *f = *state;
    struct gx_dom d;
    /* domid taken, reserved domid, a table of 0 frames, no ops. */
    assert_int_equal(gx_dom_init(f->h, &d, 1, 4, 1, 4), -1);
    gx_dom_fini(&d);
    assert_int_equal(gx_dom_init(f->h, &d, DOMID_SELF, 4, 1, 4), -1);
    gx_dom_fini(&d);
    uint8_t *pages = gx_pages(2);
    struct gnttab_config cfg = { .domid = 5, .max_frames = 0, .pages = pages,
                                 .ops = &gx_ops };
    assert_null(gnttab_create(f->h, &cfg));
    cfg.max_frames = 1;
    cfg.ops = NULL;
    assert_null(gnttab_create(f->h, &cfg));
    free(pages);
    gnttab_destroy(NULL);
    assert_int_equal(gnttab_status_pages(1), 1);
    assert_int_equal(gnttab_status_pages(8), 1);
    assert_int_equal(gnttab_status_pages(9), 2);
    assert_int_equal(gnttab_status_pages(64), 8);
}

static void test_query_size_setup_table(void **state)
{
    struct fx *f = *state;
    uint32_t nr, max;
    assert_int_equal(gnttab_op_query_size(f->d1.gt, &nr, &max), GNTST_okay);
    assert_int_equal(nr, 1);            /* Xen's INITIAL_NR_GRANT_FRAMES */
    assert_int_equal(max, 4);
    uint64_t frames[5];
    assert_int_equal(gnttab_op_setup_table(f->d1.gt, 3, frames), GNTST_okay);
    for (int i = 0; i < 3; i++)
        assert_true(frames[i] == ~0ull);
    assert_int_equal(gnttab_op_query_size(f->d1.gt, &nr, &max), GNTST_okay);
    assert_int_equal(nr, 3);
    assert_int_equal(gnttab_op_setup_table(f->d1.gt, 5, frames),
                     GNTST_general_error);
    assert_int_equal(gnttab_op_query_size(f->d1.gt, &nr, &max), GNTST_okay);
    assert_int_equal(nr, 3);
    /* A frame mapped is reported where it is; a smaller ask shrinks nothing. */
    assert_int_equal(gnttab_op_add_to_physmap(f->d1.gt, 1, 0x1000), 0);
    assert_int_equal(gnttab_op_setup_table(f->d1.gt, 2, frames), GNTST_okay);
    assert_true(frames[0] == ~0ull);
    assert_true(frames[1] == 0x1000);
    /* dom0 has no table: no frame to set up. */
    assert_int_equal(gnttab_op_query_size(f->d0.gt, &nr, &max), GNTST_okay);
    assert_int_equal(nr, 0);
    assert_int_equal(gnttab_op_setup_table(f->d0.gt, 1, frames),
                     GNTST_general_error);
}

static void test_add_to_physmap(void **state)
{
    struct fx *f = *state;
    struct gnttab_stats st;
    assert_int_equal(gnttab_op_add_to_physmap(f->d1.gt, 2, 0x2000), 0);
    assert_int_equal(f->d1.map_frame_calls, 1);
    assert_int_equal(f->d1.last_page, 2);
    assert_true(f->d1.last_gfn == 0x2000);
    gnttab_get_stats(f->d1.gt, &st);
    assert_int_equal(st.nr_frames, 3);  /* grown to idx + 1 */
    /* Past the limit, a status frame in v1, the hook's refusal. */
    assert_int_equal(gnttab_op_add_to_physmap(f->d1.gt, 4, 0x3000), -EINVAL);
    assert_int_equal(gnttab_op_add_to_physmap(f->d1.gt, ~0ull, 0x3000), -EINVAL);
    assert_int_equal(gnttab_op_add_to_physmap(
        f->d1.gt, XENMAPIDX_grant_table_status | 0, 0x3000), -EINVAL);
    assert_int_equal(gnttab_op_add_to_physmap(f->d1.gt, 0, GX_BAD_GFN), -EINVAL);
    uint64_t frames[4];
    assert_int_equal(gnttab_op_setup_table(f->d1.gt, 1, frames), GNTST_okay);
    assert_true(frames[0] == ~0ull);    /* the failed map left no record */
    /* Another frame moved onto gfn 0x2000: frame 2 is no longer there. */
    assert_int_equal(gnttab_op_add_to_physmap(f->d1.gt, 0, 0x2000), 0);
    assert_int_equal(gnttab_op_setup_table(f->d1.gt, 3, frames), GNTST_okay);
    assert_true(frames[0] == 0x2000);
    assert_true(frames[2] == ~0ull);
    assert_int_equal(gnttab_op_add_to_physmap(f->d0.gt, 0, 0x10), -EINVAL);
}

static void test_status_frames(void **state)
{
    struct fx *f = *state;
    uint64_t frames[2];
    /* v1 has no status frame: Xen answers general_error, not bad_version. */
    assert_int_equal(gnttab_op_get_status_frames(f->d1.gt, 1, frames),
                     GNTST_general_error);
    assert_int_equal(gnttab_op_get_status_frames(f->d1.gt, 0, frames),
                     GNTST_okay);
    fx_version(&f->d1, 2);
    assert_int_equal(gnttab_op_get_status_frames(f->d1.gt, 1, frames), GNTST_okay);
    assert_true(frames[0] == ~0ull);
    assert_int_equal(gnttab_op_get_status_frames(f->d1.gt, 2, frames),
                     GNTST_general_error);
    /* Status frame 0 is table page max_frames + 0. */
    assert_int_equal(gnttab_op_add_to_physmap(
        f->d1.gt, XENMAPIDX_grant_table_status | 0, 0x4000), 0);
    assert_int_equal(f->d1.last_page, 4);
    assert_int_equal(gnttab_op_get_status_frames(f->d1.gt, 1, frames), GNTST_okay);
    assert_true(frames[0] == 0x4000);
    /* 4 frames need one status frame only. */
    assert_int_equal(gnttab_op_add_to_physmap(
        f->d1.gt, XENMAPIDX_grant_table_status | 1, 0x4001), -EINVAL);
}

static void test_set_version_reserved(void **state)
{
    struct fx *f = *state;
    uint32_t now = 0;
    assert_int_equal(gnttab_op_get_version(f->d1.gt), 1);
    assert_int_equal(gnttab_op_set_version(f->d1.gt, 3, &now), -EINVAL);
    assert_int_equal(now, 1);
    assert_int_equal(gnttab_op_set_version(f->d1.gt, 0, &now), -EINVAL);
    assert_int_equal(gnttab_op_set_version(f->d1.gt, 1, &now), 0);
    /* Entry 1 (the store's) carried over, entry 9 not. */
    gx_grant_v1(&f->d1, 1, GTF_permit_access, 0, 7);
    gx_grant_v1(&f->d1, 9, GTF_permit_access, 0, 8);
    struct gnttab_mapping m;
    assert_int_equal(gnttab_map(f->h, 0, 1, 1, GNTMAP_host_map, &m), GNTST_okay);
    fx_version(&f->d1, 2);
    assert_int_equal(gnttab_op_get_version(f->d1.gt), 2);
    assert_int_equal(gx_flags(&f->d1, 2, 1),
                     GTF_permit_access | GTF_reading | GTF_writing);
    assert_int_equal(*(domid_t *)(f->d1.table + 16 + 2), 0);
    assert_true(*(uint64_t *)(f->d1.table + 16 + 8) == 7);
    assert_int_equal(gx_flags(&f->d1, 2, 9), 0);
    /* The mapping still holds; its unmap clears the status word. */
    assert_ptr_equal(m.addr, f->d1.ram + 7 * GX_PAGE);
    assert_int_equal(gnttab_unmap(f->h, 0, m.handle), GNTST_okay);
    assert_int_equal(gx_flags(&f->d1, 2, 1), GTF_permit_access);
    /* And back. */
    gx_grant_v2(&f->d1, 2, GTF_permit_access | GTF_readonly, 0, 9);
    gx_grant_v2(&f->d1, 12, GTF_permit_access, 0, 9);
    fx_version(&f->d1, 1);
    assert_int_equal(gx_flags(&f->d1, 1, 2), GTF_permit_access | GTF_readonly);
    assert_int_equal(*(uint32_t *)(f->d1.table + 2 * 8 + 4), 9);
    assert_int_equal(gx_flags(&f->d1, 1, 12), 0);
    /* A reserved entry v1 cannot hold: -ERANGE, still v2. */
    fx_version(&f->d1, 2);
    gx_grant_v2(&f->d1, 3, GTF_permit_access, 0, 1ull << 32);
    assert_int_equal(gnttab_op_set_version(f->d1.gt, 1, &now), -ERANGE);
    assert_int_equal(now, 2);
    gx_grant_v2_trans(&f->d1, 3, 0, 2, 5);
    assert_int_equal(gnttab_op_set_version(f->d1.gt, 1, &now), -ERANGE);
    gx_grant_v2(&f->d1, 3, 0, 0, 0);
    fx_version(&f->d1, 1);
}

static void test_set_version_busy(void **state)
{
    struct fx *f = *state;
    uint32_t now = 0;
    struct gnttab_mapping m;
    gx_grant_v1(&f->d1, 8, GTF_permit_access, 0, 3);
    assert_int_equal(gnttab_map(f->h, 0, 1, 8, GNTMAP_host_map | GNTMAP_readonly,
                                &m), GNTST_okay);
    assert_int_equal(gnttab_op_set_version(f->d1.gt, 2, &now), -EBUSY);
    assert_int_equal(now, 1);
    assert_int_equal(gnttab_unmap(f->h, 0, m.handle), GNTST_okay);
    assert_int_equal(gnttab_op_set_version(f->d1.gt, 2, &now), 0);
    assert_int_equal(now, 2);
    /* No crud left from v1. */
    assert_int_equal(gx_flags(&f->d1, 2, 8), 0);
}

static void test_swap(void **state)
{
    struct fx *f = *state;
    for (uint32_t v = 1; v <= 2; v++) {
        fx_version(&f->d1, v);
        if (v == 1) {
            gx_grant_v1(&f->d1, 10, GTF_permit_access, 2, 4);
            gx_grant_v1(&f->d1, 11, GTF_permit_access | GTF_readonly, 3, 5);
        } else {
            gx_grant_v2(&f->d1, 10, GTF_permit_access, 2, 4);
            gx_grant_v2(&f->d1, 11, GTF_permit_access | GTF_readonly, 3, 5);
        }
        assert_int_equal(gnttab_op_swap(f->d1.gt, 10, 11), GNTST_okay);
        assert_int_equal(gx_flags(&f->d1, v, 10), GTF_permit_access | GTF_readonly);
        assert_int_equal(gx_flags(&f->d1, v, 11), GTF_permit_access);
        assert_int_equal(gnttab_op_swap(f->d1.gt, 10, 10), GNTST_okay);
        assert_int_equal(gnttab_op_swap(f->d1.gt, 10, 512 / v), GNTST_bad_gntref);
        assert_int_equal(gnttab_op_swap(f->d1.gt, 99999, 10), GNTST_bad_gntref);
        /* A grant in use is not moved. */
        struct gnttab_mapping m;
        assert_int_equal(gnttab_map(f->h, 0, 1, 11, GNTMAP_host_map, &m),
                         GNTST_general_error);     /* granted to d2 */
        if (v == 1)
            gx_grant_v1(&f->d1, 11, GTF_permit_access, 0, 5);
        else
            gx_grant_v2(&f->d1, 11, GTF_permit_access, 0, 5);
        assert_int_equal(gnttab_map(f->h, 0, 1, 11, GNTMAP_host_map, &m), GNTST_okay);
        assert_int_equal(gnttab_op_swap(f->d1.gt, 10, 11), GNTST_eagain);
        assert_int_equal(gnttab_unmap(f->h, 0, m.handle), GNTST_okay);
    }
}

/* The lead's teardown unmaps first; a granter destroyed under a mapping
 * must still not crash, and the handle is freed by the unmap. */
static void test_destroy_granter_mapped(void **state)
{
    struct fx *f = *state;
    struct gnttab_mapping m;
    struct gnttab_stats st;
    gx_grant_v1(&f->d2, 20, GTF_permit_access, 0, 6);
    assert_int_equal(gnttab_map(f->h, 0, 2, 20, GNTMAP_host_map, &m), GNTST_okay);
    gx_dom_fini(&f->d2);
    /* A new domain 2 reuses the domid: the old handle does not touch it. */
    assert_int_equal(gx_dom_init(f->h, &f->d2, 2, 4, 1, 16), 0);
    gx_grant_v1(&f->d2, 20, GTF_permit_access, 0, 6);
    struct gnttab_mapping m2;
    assert_int_equal(gnttab_map(f->h, 0, 2, 20, GNTMAP_host_map | GNTMAP_readonly,
                                &m2), GNTST_okay);
    assert_int_not_equal(m2.handle, m.handle);
    assert_int_equal(gnttab_unmap(f->h, 0, m.handle), GNTST_okay);
    assert_int_equal(gx_busy(&f->d2, 1, 20), GTF_reading);  /* m2 intact */
    assert_int_equal(gnttab_unmap(f->h, 0, m.handle), GNTST_bad_handle);
    assert_int_equal(gnttab_unmap(f->h, 0, m2.handle), GNTST_okay);
    gnttab_get_stats(f->d0.gt, &st);
    assert_int_equal(st.maptrack, 0);
}

/* A mapper destroyed with mappings: they are dropped, the granter's
 * entries are free again. */
static void test_destroy_mapper(void **state)
{
    struct fx *f = *state;
    struct gnttab_mapping m;
    struct gnttab_stats st;
    gx_grant_v1(&f->d1, 30, GTF_permit_access, 2, 6);
    gx_grant_v1(&f->d1, 31, GTF_permit_access, 2, 7);
    assert_int_equal(gnttab_map(f->h, 2, 1, 30, GNTMAP_host_map, &m), GNTST_okay);
    assert_int_equal(gnttab_map(f->h, 2, 1, 31, GNTMAP_host_map | GNTMAP_readonly,
                                &m), GNTST_okay);
    gnttab_get_stats(f->d1.gt, &st);
    assert_int_equal(st.active, 2);
    gnttab_get_stats(f->d2.gt, &st);
    assert_int_equal(st.maptrack, 2);
    gx_dom_fini(&f->d2);
    gnttab_get_stats(f->d1.gt, &st);
    assert_int_equal(st.active, 0);
    assert_int_equal(gx_busy(&f->d1, 1, 30), 0);
    assert_int_equal(gx_busy(&f->d1, 1, 31), 0);
    assert_int_equal(gx_dom_init(f->h, &f->d2, 2, 4, 1, 16), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
        T(test_create_config),
        T(test_query_size_setup_table),
        T(test_add_to_physmap),
        T(test_status_frames),
        T(test_set_version_reserved),
        T(test_set_version_busy),
        T(test_swap),
        T(test_destroy_granter_mapped),
        T(test_destroy_mapper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

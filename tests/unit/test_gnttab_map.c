/*
 * The grant-table core: gnttab_map / gnttab_unmap and the flag protocol,
 * in v1 and v2 (each test runs for both), every status they return, and
 * a hostile guest that rewrites or clears its entry while it is mapped.
 */
#include "gnttab_fixture.h"

static void test_map_unmap(void **state)
{
    struct fx *f = *state;
    struct gnttab_mapping m, r;
    struct gnttab_stats st;
    grant(f, 5, GTF_permit_access, 0, 3);
    assert_int_equal(gnttab_map(f->h, 0, 1, 5, GNTMAP_host_map, &m), GNTST_okay);
    assert_ptr_equal(m.addr, f->d1.ram + 3 * GX_PAGE);
    assert_false(m.readonly);
    assert_int_equal(gx_busy(&f->d1, ver, 5), GTF_reading | GTF_writing);
    /* The mapper writes, the guest sees it. */
    ((uint8_t *)m.addr)[100] = 0x5a;
    assert_int_equal(f->d1.ram[3 * GX_PAGE + 100], 0x5a);
    /* A second, read-only mapping of the same grant. */
    assert_int_equal(gnttab_map(f->h, 0, 1, 5, GNTMAP_host_map | GNTMAP_readonly,
                                &r), GNTST_okay);
    assert_ptr_equal(r.addr, m.addr);
    assert_true(r.readonly);
    assert_int_not_equal(r.handle, m.handle);
    gnttab_get_stats(f->d1.gt, &st);
    assert_int_equal(st.active, 1);
    gnttab_get_stats(f->d0.gt, &st);
    assert_int_equal(st.maptrack, 2);
    /* The writer gone: GTF_writing cleared, GTF_reading kept. */
    assert_int_equal(gnttab_unmap(f->h, 0, m.handle), GNTST_okay);
    assert_int_equal(gx_busy(&f->d1, ver, 5), GTF_reading);
    assert_int_equal(gnttab_unmap(f->h, 0, r.handle), GNTST_okay);
    assert_int_equal(gx_busy(&f->d1, ver, 5), 0);
    gnttab_get_stats(f->d1.gt, &st);
    assert_int_equal(st.active, 0);
    /* Unmapped twice, never issued, out of range. */
    assert_int_equal(gnttab_unmap(f->h, 0, r.handle), GNTST_bad_handle);
    assert_int_equal(gnttab_unmap(f->h, 0, 100), GNTST_bad_handle);
    assert_int_equal(gnttab_unmap(f->h, 0, 1u << 30), GNTST_bad_handle);
    assert_int_equal(gnttab_unmap(f->h, 7, 0), GNTST_bad_handle);
    /* A handle is reused after its unmap. */
    assert_int_equal(gnttab_map(f->h, 0, 1, 5, GNTMAP_host_map | GNTMAP_readonly,
                                &m), GNTST_okay);
    assert_int_equal(m.handle, r.handle);   /* the last one freed */
    assert_int_equal(gx_busy(&f->d1, ver, 5), GTF_reading);
    assert_int_equal(gnttab_unmap(f->h, 0, m.handle), GNTST_okay);
}

static void test_map_errors(void **state)
{
    struct fx *f = *state;
    struct gnttab_mapping m;
    grant(f, 6, GTF_permit_access, 0, 3);
    assert_int_equal(gnttab_map(f->h, 0, 1, 6, 0, &m), GNTST_bad_gntref);
    assert_int_equal(gnttab_map(f->h, 0, 1, 6, GNTMAP_readonly, &m),
                     GNTST_bad_gntref);
    assert_int_equal(gnttab_map(f->h, 0, 1, 6, GNTMAP_host_map | GNTMAP_device_map,
                                &m), GNTST_general_error);
    assert_int_equal(gnttab_map(f->h, 0, 1, 6, GNTMAP_host_map |
                                GNTMAP_application_map, &m), GNTST_general_error);
    assert_int_equal(gnttab_map(f->h, 0, 9, 6, GNTMAP_host_map, &m),
                     GNTST_bad_domain);
    assert_int_equal(gnttab_map(f->h, 0, DOMID_SELF, 6, GNTMAP_host_map, &m),
                     GNTST_bad_domain);
    assert_int_equal(gnttab_map(f->h, 9, 1, 6, GNTMAP_host_map, &m),
                     GNTST_general_error);       /* no such mapper */
    /* Ref out of range: one frame is 512 (v1) or 256 (v2) entries. */
    assert_int_equal(gnttab_map(f->h, 0, 1, ver == 1 ? 512 : 256,
                                GNTMAP_host_map, &m), GNTST_bad_gntref);
    assert_int_equal(gnttab_map(f->h, 0, 1, ~0u, GNTMAP_host_map, &m),
                     GNTST_bad_gntref);
    /* A grant of domain 0 itself (no table). */
    assert_int_equal(gnttab_map(f->h, 1, 0, 0, GNTMAP_host_map, &m),
                     GNTST_bad_gntref);
    assert_int_equal(gx_busy(&f->d1, ver, 6), 0);
}

static void test_map_denied(void **state)
{
    struct fx *f = *state;
    struct gnttab_mapping m;
    /* Wrong grantee, invalid entry, a transfer slot. */
    grant(f, 7, GTF_permit_access, 2, 3);
    assert_int_equal(gnttab_map(f->h, 0, 1, 7, GNTMAP_host_map, &m),
                     GNTST_general_error);
    grant(f, 7, GTF_invalid, 0, 3);
    assert_int_equal(gnttab_map(f->h, 0, 1, 7, GNTMAP_host_map, &m),
                     GNTST_general_error);
    grant(f, 7, GTF_accept_transfer, 0, 3);
    assert_int_equal(gnttab_map(f->h, 0, 1, 7, GNTMAP_host_map, &m),
                     GNTST_general_error);
    /* Read-only grant: writable map denied (Xen: general_error), the
     * entry untouched; read-only map fine. */
    grant(f, 7, GTF_permit_access | GTF_readonly, 0, 3);
    assert_int_equal(gnttab_map(f->h, 0, 1, 7, GNTMAP_host_map, &m),
                     GNTST_general_error);
    assert_int_equal(gx_busy(&f->d1, ver, 7), 0);
    assert_int_equal(gnttab_map(f->h, 0, 1, 7, GNTMAP_host_map | GNTMAP_readonly,
                                &m), GNTST_okay);
    assert_int_equal(gx_busy(&f->d1, ver, 7), GTF_reading);
    /* Pinned read-only: a writable map is still denied, the reader kept. */
    struct gnttab_mapping w;
    assert_int_equal(gnttab_map(f->h, 0, 1, 7, GNTMAP_host_map, &w),
                     GNTST_general_error);
    assert_int_equal(gx_busy(&f->d1, ver, 7), GTF_reading);
    /* Pinned by domain 0: domain 2 cannot join. */
    assert_int_equal(gnttab_map(f->h, 2, 1, 7, GNTMAP_host_map | GNTMAP_readonly,
                                &w), GNTST_general_error);
    assert_int_equal(gnttab_unmap(f->h, 0, m.handle), GNTST_okay);
    assert_int_equal(gx_busy(&f->d1, ver, 7), 0);
    /* Sub-page flag: never mapped. */
    grant(f, 7, GTF_permit_access | GTF_sub_page, 0, 3);
    assert_int_equal(gnttab_map(f->h, 0, 1, 7, GNTMAP_host_map, &m),
                     GNTST_general_error);
    assert_int_equal(gx_busy(&f->d1, ver, 7), 0);
}

static void test_map_bad_page(void **state)
{
    struct fx *f = *state;
    struct gnttab_mapping m;
    struct gnttab_stats st;
    grant(f, 8, GTF_permit_access, 0, 16);     /* RAM is gfn 0..15 */
    assert_int_equal(gnttab_map(f->h, 0, 1, 8, GNTMAP_host_map, &m),
                     GNTST_bad_page);
    assert_int_equal(gx_busy(&f->d1, ver, 8), 0);
    grant(f, 8, GTF_permit_access, 0, ver == 1 ? 0xffffffffull : ~0ull);
    assert_int_equal(gnttab_map(f->h, 0, 1, 8, GNTMAP_host_map | GNTMAP_readonly,
                                &m), GNTST_bad_page);
    assert_int_equal(gx_busy(&f->d1, ver, 8), 0);
    gnttab_get_stats(f->d1.gt, &st);
    assert_int_equal(st.active, 0);
    gnttab_get_stats(f->d0.gt, &st);
    assert_int_equal(st.maptrack, 0);       /* the handle went back */
}

static void test_maptrack_limit(void **state)
{
    struct fx *f = *state;
    struct gnttab_mapping m;
    struct gnttab_stats st;
    /* d2 has one maptrack frame: 512 mappings (127 per ref here). */
    for (grant_ref_t r = 0; r < 5; r++)
        grant(f, 100 + r, GTF_permit_access, 2, r);
    grant_handle_t first = 0;
    for (unsigned i = 0; i < GNTTAB_MAPTRACK_PER_FRAME; i++) {
        int16_t rc = gnttab_map(f->h, 2, 1, 100 + i / 127,
                                GNTMAP_host_map | GNTMAP_readonly, &m);
        assert_int_equal(rc, GNTST_okay);
        if (i == 0)
            first = m.handle;
    }
    gnttab_get_stats(f->d2.gt, &st);
    assert_int_equal(st.maptrack, GNTTAB_MAPTRACK_PER_FRAME);
    assert_int_equal(gnttab_map(f->h, 2, 1, 104, GNTMAP_host_map, &m),
                     GNTST_no_device_space);
    /* One unmapped: its handle is the next one given. */
    assert_int_equal(gnttab_unmap(f->h, 2, first), GNTST_okay);
    assert_int_equal(gnttab_map(f->h, 2, 1, 100, GNTMAP_host_map | GNTMAP_readonly,
                                &m), GNTST_okay);
    assert_int_equal(m.handle, first);
    /* A domain with 0 maptrack frames maps nothing. */
    struct gx_dom d3;
    assert_int_equal(gx_dom_init(f->h, &d3, 3, 1, 0, 1), 0);
    assert_int_equal(gnttab_map(f->h, 3, 1, 104, GNTMAP_host_map, &m),
                     GNTST_no_device_space);
    gx_dom_fini(&d3);
}

static void test_pin_overflow(void **state)
{
    struct fx *f = *state;
    struct gnttab_mapping m;
    grant(f, 40, GTF_permit_access, 0, 1);
    grant_handle_t h[128];
    for (int i = 0; i < 128; i++) {
        assert_int_equal(gnttab_map(f->h, 0, 1, 40, GNTMAP_host_map, &m),
                         GNTST_okay);
        h[i] = m.handle;
    }
    /* A count at 0x80 refuses every new user, read-only ones too (Xen). */
    assert_int_equal(gnttab_map(f->h, 0, 1, 40, GNTMAP_host_map, &m),
                     GNTST_general_error);
    assert_int_equal(gnttab_map(f->h, 0, 1, 40, GNTMAP_host_map | GNTMAP_readonly,
                                &m), GNTST_general_error);
    assert_int_equal(gnttab_unmap(f->h, 0, h[127]), GNTST_okay);
    assert_int_equal(gnttab_map(f->h, 0, 1, 40, GNTMAP_host_map | GNTMAP_readonly,
                                &m), GNTST_okay);
    assert_int_equal(gnttab_unmap(f->h, 0, m.handle), GNTST_okay);
    for (int i = 0; i < 127; i++)
        assert_int_equal(gnttab_unmap(f->h, 0, h[i]), GNTST_okay);
    assert_int_equal(gx_busy(&f->d1, ver, 40), 0);
}

/* The guest rewrites the entry (another frame, another grantee) and then
 * revokes it while mapped: the mapper keeps the frame it mapped, the
 * flags go when the mapping does. */
static void test_hostile_rewrite(void **state)
{
    struct fx *f = *state;
    struct gnttab_mapping m, m2;
    grant(f, 9, GTF_permit_access, 0, 4);
    assert_int_equal(gnttab_map(f->h, 0, 1, 9, GNTMAP_host_map, &m), GNTST_okay);
    grant(f, 9, GTF_permit_access | GTF_readonly, 2, 11);
    /* A second map by the same mapper joins the pin: same frame. */
    assert_int_equal(gnttab_map(f->h, 0, 1, 9, GNTMAP_host_map | GNTMAP_readonly,
                                &m2), GNTST_okay);
    assert_ptr_equal(m2.addr, f->d1.ram + 4 * GX_PAGE);
    /* The guest clears everything, flags included. */
    grant(f, 9, GTF_invalid, 0, 0);
    if (ver == 2)
        __atomic_store_n((uint16_t *)(f->d1.table + 4 * GX_PAGE) + 9, 0,
                         __ATOMIC_RELAXED);
    assert_ptr_equal(m.addr, f->d1.ram + 4 * GX_PAGE);
    ((uint8_t *)m.addr)[0] = 1;             /* still the guest's page 4 */
    assert_int_equal(f->d1.ram[4 * GX_PAGE], 1);
    assert_int_equal(gnttab_unmap(f->h, 0, m.handle), GNTST_okay);
    assert_int_equal(gnttab_unmap(f->h, 0, m2.handle), GNTST_okay);
    assert_int_equal(gx_busy(&f->d1, ver, 9), 0);
    /* Unpinned, the entry as it is now counts: invalid. */
    assert_int_equal(gnttab_map(f->h, 0, 1, 9, GNTMAP_host_map, &m),
                     GNTST_general_error);
    /* The guest sets busy flags itself: harmless, they are cleared at
     * the unmap (v1) or left alone (v2's status word is ours). */
    grant(f, 9, GTF_permit_access | GTF_reading | GTF_writing, 0, 4);
    assert_int_equal(gnttab_map(f->h, 0, 1, 9, GNTMAP_host_map, &m), GNTST_okay);
    assert_int_equal(gnttab_unmap(f->h, 0, m.handle), GNTST_okay);
    if (ver == 1)
        assert_int_equal(gx_busy(&f->d1, 1, 9), 0);
    else
        assert_int_equal(*((uint16_t *)(f->d1.table + 4 * GX_PAGE) + 9), 0);
}

/* Transitive grants are refused for a mapping (Xen never maps them). */
static void test_map_transitive(void **state)
{
    struct fx *f = *state;
    struct gnttab_mapping m;
    if (ver == 1)
        skip();
    gx_grant_v2_trans(&f->d1, 12, 0, 2, 5);
    assert_int_equal(gnttab_map(f->h, 0, 1, 12, GNTMAP_host_map, &m),
                     GNTST_general_error);
    assert_int_equal(gx_busy(&f->d1, 2, 12), 0);
}

/* A domain maps its own grant (Xen allows it): one lock, not two. */
static void test_map_self(void **state)
{
    struct fx *f = *state;
    struct gnttab_mapping m;
    struct gx_dom d3;
    assert_int_equal(gx_dom_init(f->h, &d3, 3, 1, 1, 4), 0);
    if (ver == 2) {
        uint32_t now;
        assert_int_equal(gnttab_op_set_version(d3.gt, 2, &now), 0);
        gx_grant_v2(&d3, 10, GTF_permit_access, 3, 2);
    } else {
        gx_grant_v1(&d3, 10, GTF_permit_access, 3, 2);
    }
    assert_int_equal(gnttab_map(f->h, 3, 3, 10, GNTMAP_host_map, &m), GNTST_okay);
    assert_ptr_equal(m.addr, d3.ram + 2 * GX_PAGE);
    assert_int_equal(gnttab_unmap(f->h, 3, m.handle), GNTST_okay);
    assert_int_equal(gx_busy(&d3, ver, 10), 0);
    assert_int_equal(gnttab_map(f->h, 3, 3, 10, GNTMAP_host_map, &m), GNTST_okay);
    gx_dom_fini(&d3);                   /* destroyed with its own mapping */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_v1, fx_teardown), \
              cmocka_unit_test_setup_teardown(fn, setup_v2, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_map_unmap),
        T(test_map_errors),
        T(test_map_denied),
        T(test_map_bad_page),
        T(test_maptrack_limit),
        T(test_pin_overflow),
        T(test_hostile_rewrite),
        T(test_map_transitive),
        T(test_map_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

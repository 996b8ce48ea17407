/*
 * The grant-table core: GNTTABOP_copy, one segment at a time, in v1 and
 * v2: grant to frame, frame to grant, grant to grant (one domain or two),
 * and every per-segment status in Xen's order; v2's sub-page ranges;
 * transitive grants refused.
 */
#include "gnttab_fixture.h"

/* d2 copies: source/dest a gref of d1 or a frame of its own. */
static struct gnttab_copy seg(bool sgref, uint64_t s, domid_t sdom, uint16_t soff,
                              bool dgref, uint64_t d, domid_t ddom, uint16_t doff,
                              uint16_t len)
{
    struct gnttab_copy op = { 0 };
    op.flags = (sgref ? GNTCOPY_source_gref : 0) | (dgref ? GNTCOPY_dest_gref : 0);
    if (sgref)
        op.source.u.ref = (grant_ref_t)s;
    else
        op.source.u.gmfn = s;
    if (dgref)
        op.dest.u.ref = (grant_ref_t)d;
    else
        op.dest.u.gmfn = d;
    op.source.domid = sdom;
    op.dest.domid = ddom;
    op.source.offset = soff;
    op.dest.offset = doff;
    op.len = len;
    op.status = 99;
    return op;
}

static void test_copy_both_ways(void **state)
{
    struct fx *f = *state;
    grant(f, 5, GTF_permit_access, 2, 3);
    memset(f->d1.ram + 3 * GX_PAGE, 0xab, GX_PAGE);
    /* Grant -> own frame (blkfront's read: backend copies into a grant is
     * the other way; both are used). */
    struct gnttab_copy op = seg(true, 5, 1, 16, false, 7, DOMID_SELF, 32, 100);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_okay);
    assert_int_equal(op.status, GNTST_okay);
    assert_int_equal(f->d2.ram[7 * GX_PAGE + 31], 0);
    assert_int_equal(f->d2.ram[7 * GX_PAGE + 32], 0xab);
    assert_int_equal(f->d2.ram[7 * GX_PAGE + 131], 0xab);
    assert_int_equal(f->d2.ram[7 * GX_PAGE + 132], 0);
    assert_int_equal(gx_busy(&f->d1, ver, 5), 0);    /* released */
    /* Own frame -> grant, a whole page. */
    memset(f->d2.ram + 8 * GX_PAGE, 0x11, GX_PAGE);
    op = seg(false, 8, DOMID_SELF, 0, true, 5, 1, 0, GX_PAGE);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_okay);
    assert_int_equal(f->d1.ram[3 * GX_PAGE + 4095], 0x11);
    assert_int_equal(gx_busy(&f->d1, ver, 5), 0);
    /* Zero length: fine. */
    op = seg(false, 8, DOMID_SELF, 4096, true, 5, 1, 4096, 0);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_okay);
}

static void test_copy_grant_to_grant(void **state)
{
    struct fx *f = *state;
    /* Two grants of d1 to d2, one read-only source. */
    grant(f, 20, GTF_permit_access | GTF_readonly, 2, 1);
    grant(f, 21, GTF_permit_access, 2, 2);
    f->d1.ram[1 * GX_PAGE + 5] = 0x77;
    struct gnttab_copy op = seg(true, 20, 1, 0, true, 21, 1, 0, 64);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_okay);
    assert_int_equal(f->d1.ram[2 * GX_PAGE + 5], 0x77);
    /* The same grant as source and dest (overlapping ranges). */
    op = seg(true, 21, 1, 0, true, 21, 1, 1, 64);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_okay);
    assert_int_equal(f->d1.ram[2 * GX_PAGE + 6], 0x77);
    assert_int_equal(gx_busy(&f->d1, ver, 21), 0);
    /* A grant of d2 to itself (DOMID_SELF with a gref) into d1's grant. */
    gx_grant_v1(&f->d2, 3, GTF_permit_access, 2, 9);
    f->d2.ram[9 * GX_PAGE] = 0x42;
    op = seg(true, 3, DOMID_SELF, 0, true, 21, 1, 0, 1);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_okay);
    assert_int_equal(f->d1.ram[2 * GX_PAGE], 0x42);
    /* A copy from a grant the copier also has mapped. */
    struct gnttab_mapping m;
    grant(f, 22, GTF_permit_access, 0, 4);
    assert_int_equal(gnttab_map(f->h, 0, 1, 22, GNTMAP_host_map, &m), GNTST_okay);
    gx_grant_v1(&f->d2, 4, GTF_permit_access, 0, 10);
    op = seg(true, 22, 1, 0, true, 4, 2, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 0, &op), GNTST_okay);
    assert_int_equal(gx_busy(&f->d1, ver, 22), GTF_reading | GTF_writing);
    assert_int_equal(gnttab_unmap(f->h, 0, m.handle), GNTST_okay);
    assert_int_equal(gx_busy(&f->d1, ver, 22), 0);
}

static void test_copy_errors(void **state)
{
    struct fx *f = *state;
    grant(f, 5, GTF_permit_access, 2, 3);
    grant(f, 6, GTF_permit_access | GTF_readonly, 2, 3);
    grant(f, 7, GTF_permit_access, 0, 3);
    struct gnttab_copy op;
    /* A frame operand of another domain. */
    op = seg(false, 3, 1, 0, false, 7, DOMID_SELF, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_permission_denied);
    assert_int_equal(op.status, GNTST_permission_denied);
    op = seg(false, 3, DOMID_SELF, 0, false, 7, 2, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_permission_denied);
    /* No such domain (either side), no such caller for DOMID_SELF. */
    op = seg(true, 5, 9, 0, false, 7, DOMID_SELF, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_bad_domain);
    op = seg(false, 7, DOMID_SELF, 0, true, 5, 9, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_bad_domain);
    op = seg(false, 7, DOMID_SELF, 0, false, 8, DOMID_SELF, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 9, &op), GNTST_bad_domain);
    /* Ref out of range, wrong grantee, read-only grant as dest. */
    op = seg(true, 100000, 1, 0, false, 7, DOMID_SELF, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_bad_gntref);
    op = seg(true, 7, 1, 0, false, 7, DOMID_SELF, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_general_error);
    op = seg(false, 7, DOMID_SELF, 0, true, 6, 1, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_general_error);
    assert_int_equal(gx_busy(&f->d1, ver, 6), 0);
    /* The read-only grant as source is fine. */
    op = seg(true, 6, 1, 0, false, 7, DOMID_SELF, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_okay);
    /* Frames not RAM: own frame, granted frame. */
    op = seg(false, 16, DOMID_SELF, 0, true, 5, 1, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_bad_page);
    assert_int_equal(gx_busy(&f->d1, ver, 5), 0);
    grant(f, 8, GTF_permit_access, 2, 99);
    op = seg(true, 8, 1, 0, false, 7, DOMID_SELF, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_bad_page);
    assert_int_equal(gx_busy(&f->d1, ver, 8), 0);
    /* dom0 has no frames to name. */
    op = seg(false, 1, DOMID_SELF, 0, true, 7, 1, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 0, &op), GNTST_bad_page);
    /* Beyond the page: bad_copy_arg, checked after both are claimed. */
    op = seg(true, 5, 1, 4000, false, 7, DOMID_SELF, 0, 100);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_bad_copy_arg);
    op = seg(true, 5, 1, 0, false, 7, DOMID_SELF, 65535, 2);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_bad_copy_arg);
    op = seg(true, 100000, 1, 4000, false, 7, DOMID_SELF, 0, 100);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_bad_gntref);
    assert_int_equal(gx_busy(&f->d1, ver, 5), 0);
}

static void test_copy_sub_page(void **state)
{
    struct fx *f = *state;
    if (ver == 1)
        skip();
    gx_grant_v2_sub(&f->d1, 30, GTF_permit_access, 2, 3, 512, 256);
    struct gnttab_copy op;
    op = seg(true, 30, 1, 512, false, 7, DOMID_SELF, 0, 256);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_okay);
    op = seg(true, 30, 1, 511, false, 7, DOMID_SELF, 0, 2);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_general_error);
    op = seg(false, 7, DOMID_SELF, 0, true, 30, 1, 700, 69);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_general_error);
    op = seg(false, 7, DOMID_SELF, 0, true, 30, 1, 700, 68);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_okay);
    assert_int_equal(gx_busy(&f->d1, 2, 30), 0);
    /* A sub-page range past the page (the guest's to get wrong): the
     * page bound still holds. */
    gx_grant_v2_sub(&f->d1, 31, GTF_permit_access, 2, 3, 4000, 4000);
    op = seg(true, 31, 1, 4000, false, 7, DOMID_SELF, 0, 200);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_bad_copy_arg);
    /* Transitive: refused. */
    gx_grant_v2_trans(&f->d1, 32, 2, 0, 1);
    op = seg(true, 32, 1, 0, false, 7, DOMID_SELF, 0, 8);
    assert_int_equal(gnttab_copy(f->h, 2, &op), GNTST_general_error);
    assert_int_equal(gx_busy(&f->d1, 2, 32), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_v1, fx_teardown), \
              cmocka_unit_test_setup_teardown(fn, setup_v2, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_copy_both_ways),
        T(test_copy_grant_to_grant),
        T(test_copy_errors),
        T(test_copy_sub_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The cmocka fixture of the grant-table unit tests: a registry with dom0
 * (mapper only: no table, 4 maptrack frames) and guests 1 and 2 (tables
 * of 4 frames, 16 pages of RAM each).
 */
#ifndef XENKVM_TESTS_GNTTAB_FIXTURE_H
#define XENKVM_TESTS_GNTTAB_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gnttab_harness.h"

struct fx {
    struct gnttab_host *h;
    struct gx_dom d0, d1, d2;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->h = gnttab_host_create();
    if (!f->h || gx_dom_init(f->h, &f->d0, 0, 0, 4, 0) ||
        gx_dom_init(f->h, &f->d1, 1, 4, 1, 16) ||
        gx_dom_init(f->h, &f->d2, 2, 4, 1, 16))
        return -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    gx_dom_fini(&f->d0);
    gx_dom_fini(&f->d1);
    gx_dom_fini(&f->d2);
    gnttab_host_destroy(f->h);
    free(f);
    return 0;
}

/* Switch d's table to version v (no grant in use). */
static inline void fx_version(struct gx_dom *d, uint32_t v)
{
    uint32_t now = 0;
    assert_int_equal(gnttab_op_set_version(d->gt, v, &now), 0);
    assert_int_equal(now, v);
}

/* Tests run under both versions: setup_v1 / setup_v2 set ver, and grant()
 * writes an entry in the layout of ver. */
static uint32_t ver;    /* the version the test runs under */

static __attribute__((unused)) int setup_v1(void **state)
{
    ver = 1;
    return fx_setup(state);
}
static __attribute__((unused)) int setup_v2(void **state)
{
    ver = 2;
    if (fx_setup(state))
        return -1;
    struct fx *f = *state;
    uint32_t now;
    return gnttab_op_set_version(f->d1.gt, 2, &now);
}

static __attribute__((unused)) void grant(struct fx *f, grant_ref_t ref,
                                          uint16_t flags, domid_t to,
                                          uint64_t frame)
{
    if (ver == 1)
        gx_grant_v1(&f->d1, ref, flags, to, (uint32_t)frame);
    else
        gx_grant_v2(&f->d1, ref, flags, to, frame);
}

#endif

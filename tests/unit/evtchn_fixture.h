/*
 * The cmocka fixture of the event-channel unit tests: domain 0 privileged,
 * domains 1 and 2 ordinary guests with two vCPUs; at teardown the core's
 * invariants must hold for every domain, whatever the test did.
 */
#ifndef XENKVM_TESTS_EVTCHN_FIXTURE_H
#define XENKVM_TESTS_EVTCHN_FIXTURE_H

#include "evtchn_harness.h"

static int setup(void **state)
{
    struct hx *x = hx_create();
    assert_non_null(x);
    assert_int_equal(hx_dom_add(x, 0, true, 1, 0), 0);
    assert_int_equal(hx_dom_add(x, 1, false, 2, 0), 0);
    assert_int_equal(hx_dom_add(x, 2, false, 2, 0), 0);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct hx *x = *state;
    for (domid_t d = 0; d < HX_MAX_DOMS; d++)
        if (x->d[d].exists)
            assert_int_equal(evtchn_debug_check(x->h, d), 0);
    hx_destroy(x);
    return 0;
}

#endif

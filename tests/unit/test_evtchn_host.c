/*
 * Unit tests of the event-channel core's host-side API for dom0 services:
 * offering a guest port to a backend (evtchn_host_offer) and the
 * connection a console or store service builds on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "evtchn_fixture.h"

static struct evtchn_status status(struct hx *x, domid_t caller, domid_t dom,
                                   uint32_t port)
{
    struct evtchn_status s = { .dom = dom, .port = port };
    assert_int_equal(hx_op(x, caller, EVTCHNOP_status, &s), 0);
    return s;
}

/* ---- evtchn_host_offer ---- */

/* The console's and the store's connection: offer, bind, notify both ways,
 * close. */
static void test_offer_connect(void **state)
{
    struct hx *x = *state;
    evtchn_port_t gp = 0, bp = 0;
    assert_int_equal(evtchn_host_offer(x->h, 1, 0, &gp), 0);
    assert_int_equal(gp, 1);    /* the guest's first port */
    /* The guest sees an ordinary unbound port for domain 0. */
    struct evtchn_status s = status(x, 1, DOMID_SELF, gp);
    assert_int_equal(s.status, EVTCHNSTAT_unbound);
    assert_int_equal(s.u.unbound.dom, 0);
    /* Only the backend it was offered to may bind it. */
    assert_int_equal(hx_bind_interdomain(x, 2, 1, gp), -XEN_EINVAL);
    assert_int_equal(evtchn_host_bind_interdomain(x->h, 0, 1, gp, hx_host_cb, x,
                                                  &bp), 0);
    assert_int_equal(atomic_load(&x->host_cb_calls), 1);  /* fresh binding */
    s = status(x, 1, DOMID_SELF, gp);
    assert_int_equal(s.status, EVTCHNSTAT_interdomain);
    assert_int_equal(s.u.interdomain.dom, 0);
    assert_int_equal(s.u.interdomain.port, bp);
    /* guest -> service: the callback, with the backend's port. */
    assert_int_equal(hx_send(x, 1, gp), 0);
    assert_int_equal(atomic_load(&x->host_cb_calls), 2);
    assert_int_equal(atomic_load(&x->last_cb_port), bp);
    /* service -> guest: the guest's port is pending. */
    uint32_t got[2];
    assert_int_equal(evtchn_host_send(x->h, 0, bp), 0);
    assert_int_equal(hx_2l_consume(x, 1, 0, got, 2), 1);
    assert_int_equal(got[0], gp);
    /* The service disconnects: the guest's end is offered again. */
    assert_int_equal(evtchn_host_close(x->h, 0, bp), 0);
    s = status(x, 1, DOMID_SELF, gp);
    assert_int_equal(s.status, EVTCHNSTAT_unbound);
    assert_int_equal(s.u.unbound.dom, 0);
}

/* The offered port is the guest's own: not a host consumer, the guest may
 * close it, and a second offer gets the next port. */
static void test_offer_is_guest_port(void **state)
{
    struct hx *x = *state;
    evtchn_port_t a = 0, b = 0;
    assert_int_equal(evtchn_host_offer(x->h, 2, 0, &a), 0);
    assert_int_equal(evtchn_host_offer(x->h, 2, 1, &b), 0);
    assert_int_equal(b, a + 1);
    assert_int_equal(status(x, 2, DOMID_SELF, b).u.unbound.dom, 1);
    /* Another guest may be the backend (a driver domain). */
    assert_true(hx_bind_interdomain(x, 1, 2, b) > 0);
    assert_int_equal(hx_close(x, 2, a), 0);
    assert_int_equal(status(x, 2, DOMID_SELF, a).status, EVTCHNSTAT_closed);
}

static void test_offer_errors(void **state)
{
    struct hx *x = *state;
    evtchn_port_t p = 77;
    assert_int_equal(evtchn_host_offer(x->h, 9, 0, &p), -XEN_ESRCH);
    assert_int_equal(evtchn_host_offer(x->h, DOMID_SELF, 0, &p), -XEN_ESRCH);
    assert_int_equal(p, 77);
    /* A full port space: as EVTCHNOP_alloc_unbound. */
    assert_int_equal(hx_dom_add(x, 3, false, 1, 2), 0);
    assert_int_equal(evtchn_host_offer(x->h, 3, 0, &p), 0);
    assert_int_equal(evtchn_host_offer(x->h, 3, 0, &p), 0);
    assert_int_equal(evtchn_host_offer(x->h, 3, 0, &p), -XEN_ENOSPC);
    assert_int_equal(p, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_offer_connect),
        T(test_offer_is_guest_port),
        T(test_offer_errors),
#undef T
    };
    return cmocka_run_group_tests_name("evtchn_host", tests, NULL, NULL);
}

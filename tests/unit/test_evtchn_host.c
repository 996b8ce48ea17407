/*
 * Unit tests of the event-channel core's host-side API for dom0 services:
 * offering a guest port to a backend (evtchn_host_offer) and the
 * connection a console or store service builds on it; SCHEDOP_poll's
 * pending-port query (evtchn_any_pending) and its wake-up
 * (evtchn_domain_set_poll_wake).
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

/* ---- evtchn_any_pending ---- */

static void test_any_pending_2l(void **state)
{
    struct hx *x = *state;
    uint32_t got[4];
    evtchn_port_t p[3];
    for (int i = 0; i < 3; i++) {
        int r = hx_bind_ipi(x, 1, 0);
        assert_true(r > 0);
        p[i] = (evtchn_port_t)r;
    }
    hx_2l_consume(x, 1, 0, got, 4);
    assert_int_equal(evtchn_any_pending(x->h, 1, p, 3), 0);
    assert_int_equal(evtchn_any_pending(x->h, 1, p, 0), 0);
    /* Masked and pending counts (a poller waits on masked ports). */
    hx_2l_mask(x, 1, p[2], true);
    assert_int_equal(hx_send(x, 1, p[2]), 0);
    assert_int_equal(evtchn_any_pending(x->h, 1, p, 3), 1);
    /* Only the ports asked about. */
    assert_int_equal(evtchn_any_pending(x->h, 1, p, 2), 0);
    assert_int_equal(evtchn_any_pending(x->h, 1, &p[2], 1), 1);
    /* Another domain's same port number is another port. */
    assert_int_equal(evtchn_any_pending(x->h, 2, &p[2], 1), 0);
    /* A pending bit the guest set on a free port, and a port beyond the
     * 2-level limit, are not pending ports. */
    evtchn_port_t free_port = p[2] + 1, big = 5000;
    x->d[1].si->evtchn_pending[0] |= (xen_ulong_t)1 << free_port;
    assert_int_equal(evtchn_any_pending(x->h, 1, &free_port, 1), 0);
    assert_int_equal(evtchn_any_pending(x->h, 1, &big, 1), 0);
    /* Closing a pending port clears it. */
    assert_int_equal(hx_close(x, 1, p[2]), 0);
    assert_int_equal(evtchn_any_pending(x->h, 1, p, 3), 0);
    assert_int_equal(evtchn_any_pending(x->h, 9, p, 3), -XEN_ESRCH);
}

static void test_any_pending_fifo(void **state)
{
    struct hx *x = *state;
    uint32_t got[4];
    assert_int_equal(hx_fifo_init(x, 1, 0), 0);
    assert_int_equal(hx_fifo_expand(x, 1), 0);
    int r = hx_bind_ipi(x, 1, 0);
    assert_true(r > 0);
    evtchn_port_t p = (evtchn_port_t)r;
    hx_fifo_mask(x, 1, p, true);
    assert_int_equal(evtchn_any_pending(x->h, 1, &p, 1), 0);
    assert_int_equal(hx_send(x, 1, p), 0);
    assert_int_equal(evtchn_any_pending(x->h, 1, &p, 1), 1);
    hx_fifo_mask(x, 1, p, false);
    assert_int_equal(hx_unmask(x, 1, p), 0);
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 4), 1);
    assert_int_equal(evtchn_any_pending(x->h, 1, &p, 1), 0);
    /* FIFO's limit is higher than 2-level's, but a port without an event
     * word is not pending. */
    evtchn_port_t big = 5000;
    assert_int_equal(evtchn_any_pending(x->h, 1, &big, 1), 0);
}

/* ---- evtchn_domain_set_poll_wake ---- */

struct waker {
    unsigned int calls;
    evtchn_port_t last;
};

static void count_wake(void *arg, evtchn_port_t port)
{
    struct waker *w = arg;
    w->calls++;
    w->last = port;
}

/* A send that makes a port newly pending, while dom 1 has a poller. */
static void raise_fresh(struct hx *x, uint32_t port)
{
    uint32_t got[4];
    hx_2l_consume(x, 1, 0, got, 4);
    x->d[1].si->evtchn_pending[0] &= ~((xen_ulong_t)1 << port);
    assert_int_equal(hx_send(x, 1, port), 0);
}

static void test_poll_wake_registration(void **state)
{
    struct hx *x = *state;
    struct waker a = { 0 }, b = { 0 };
    int r = hx_bind_ipi(x, 1, 0);
    assert_true(r > 0);
    uint32_t p = (uint32_t)r;
    hx_2l_mask(x, 1, p, true);
    assert_int_equal(evtchn_domain_pollers(x->h, 1, 1), 0);
    /* Replacing the harness's callback: only the new one is called, with
     * the port. */
    unsigned int harness = atomic_load(&x->d[1].poll_wakes);
    assert_int_equal(evtchn_domain_set_poll_wake(x->h, 1, count_wake, &a), 0);
    raise_fresh(x, p);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.last, p);
    assert_int_equal(atomic_load(&x->d[1].poll_wakes), harness);
    /* A stale owner's removal leaves the current one registered. */
    assert_int_equal(evtchn_domain_set_poll_wake(x->h, 1, count_wake, &b), 0);
    assert_int_equal(evtchn_domain_set_poll_wake(x->h, 1, NULL, &a), 0);
    raise_fresh(x, p);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    /* The owner's removal: no more calls. */
    assert_int_equal(evtchn_domain_set_poll_wake(x->h, 1, NULL, &b), 0);
    raise_fresh(x, p);
    assert_int_equal(b.calls, 1);
    /* Without pollers nobody is called. */
    assert_int_equal(evtchn_domain_set_poll_wake(x->h, 1, count_wake, &a), 0);
    assert_int_equal(evtchn_domain_pollers(x->h, 1, -1), 0);
    raise_fresh(x, p);
    assert_int_equal(a.calls, 1);
    /* Pollers again: called again. */
    assert_int_equal(evtchn_domain_pollers(x->h, 1, 1), 0);
    raise_fresh(x, p);
    assert_int_equal(a.calls, 2);
    assert_int_equal(evtchn_domain_pollers(x->h, 1, -1), 0);
    assert_int_equal(evtchn_domain_set_poll_wake(x->h, 9, count_wake, &a),
                     -XEN_ESRCH);
}

/* ---- the PIRQ router and PIRQ -> port ---- */

static int r_bind(void *ctx, domid_t dom, uint32_t pirq, bool share)
{
    (void)dom; (void)pirq; (void)share;
    ++*(unsigned int *)ctx;
    return 0;
}

static void r_unbind(void *ctx, domid_t dom, uint32_t pirq)
{
    (void)ctx; (void)dom; (void)pirq;
}

static void r_unmasked(void *ctx, domid_t dom, uint32_t pirq)
{
    (void)ctx; (void)dom; (void)pirq;
}

static void test_pirq_router(void **state)
{
    struct hx *x = *state;
    unsigned int na = 0, nb = 0;
    const struct evtchn_pirq_router a = { r_bind, r_unbind, r_unmasked, &na };
    const struct evtchn_pirq_router b = { r_bind, r_unbind, r_unmasked, &nb };
    struct evtchn_bind_pirq bp = { .pirq = 7 };
    /* None: EPERM. One: it is told; a second is refused. */
    assert_int_equal(hx_op(x, 1, EVTCHNOP_bind_pirq, &bp), -XEN_EPERM);
    assert_int_equal(evtchn_host_attach_pirq_router(x->h, &a), 0);
    assert_int_equal(evtchn_host_attach_pirq_router(x->h, &b), -XEN_EBUSY);
    assert_int_equal(hx_op(x, 1, EVTCHNOP_bind_pirq, &bp), 0);
    assert_int_equal(na, 1);
    assert_int_equal(nb, 0);
    /* The core answers PIRQ -> port. */
    assert_int_equal(evtchn_pirq_port(x->h, 1, 7), (int)bp.port);
    assert_int_equal(evtchn_pirq_port(x->h, 1, 8), -XEN_ENOENT);
    assert_int_equal(evtchn_pirq_port(x->h, 2, 7), -XEN_ENOENT);
    assert_int_equal(evtchn_pirq_port(x->h, 1, 1u << 30), -XEN_ENOENT);
    assert_int_equal(evtchn_pirq_port(x->h, 9, 7), -XEN_ESRCH);
    assert_int_equal(hx_close(x, 1, bp.port), 0);
    assert_int_equal(evtchn_pirq_port(x->h, 1, 7), -XEN_ENOENT);
    /* A stale detach changes nothing; the owner's detaches. */
    evtchn_host_detach_pirq_router(x->h, &b);
    assert_int_equal(hx_op(x, 1, EVTCHNOP_bind_pirq, &bp), 0);
    assert_int_equal(na, 2);
    assert_int_equal(hx_close(x, 1, bp.port), 0);
    evtchn_host_detach_pirq_router(x->h, &a);
    assert_int_equal(hx_op(x, 1, EVTCHNOP_bind_pirq, &bp), -XEN_EPERM);
    assert_int_equal(evtchn_host_attach_pirq_router(x->h, &b), 0);
    assert_int_equal(hx_op(x, 1, EVTCHNOP_bind_pirq, &bp), 0);
    assert_int_equal(nb, 1);
    /* Domain death closes it through b, which must outlive it. */
    assert_int_equal(hx_dom_del(x, 1), 0);
    evtchn_host_detach_pirq_router(x->h, &b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_offer_connect),
        T(test_offer_is_guest_port),
        T(test_offer_errors),
        T(test_any_pending_2l),
        T(test_any_pending_fifo),
        T(test_poll_wake_registration),
        T(test_pirq_router),
#undef T
    };
    return cmocka_run_group_tests_name("evtchn_host", tests, NULL, NULL);
}

/*
 * Unit tests of the event-channel core: every EVTCHNOP's success and error
 * paths (errno values of Xen's event_channel.c), 2-level delivery, host
 * consumer ports, domain life cycle.
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
                                   uint32_t port, int *rc)
{
    struct evtchn_status s = { .dom = dom, .port = port };
    *rc = hx_op(x, caller, EVTCHNOP_status, &s);
    return s;
}

/* ---- domains ---- */

static void test_domain_port0_reserved(void **state)
{
    struct hx *x = *state;
    int rc;
    struct evtchn_status s = status(x, 1, DOMID_SELF, 0, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(s.status, EVTCHNSTAT_closed);
    assert_int_equal(hx_close(x, 1, 0), -XEN_EINVAL);
    assert_int_equal(hx_send(x, 1, 0), -XEN_EINVAL);
    /* The first allocation is port 1. */
    assert_int_equal(hx_alloc_unbound(x, 1, DOMID_SELF, 0), 1);
}

static void test_domain_create_errors(void **state)
{
    struct hx *x = *state;
    struct evtchn_domain_config cfg = { .domid = 1, .max_vcpus = 1 };
    assert_int_equal(evtchn_domain_create(x->h, &cfg), -XEN_EEXIST);
    cfg.domid = DOMID_SELF;
    assert_int_equal(evtchn_domain_create(x->h, &cfg), -XEN_EINVAL);
    cfg.domid = 3;
    cfg.max_vcpus = 0;
    assert_int_equal(evtchn_domain_create(x->h, &cfg), -XEN_EINVAL);
    assert_int_equal(evtchn_domain_destroy(x->h, 3), -XEN_ESRCH);
    assert_int_equal(evtchn_domain_abi(x->h, 3), -XEN_ESRCH);
    assert_int_equal(evtchn_domain_abi(x->h, 1), 2);
    assert_true(evtchn_port_valid(x->h, 1, 0));
    assert_false(evtchn_port_valid(x->h, 1, 4096));
    assert_false(evtchn_port_valid(x->h, 7, 1));
    /* Unknown caller. */
    struct evtchn_send s = { .port = 1 };
    assert_int_equal(evtchn_do_op(x->h, 3, 0, EVTCHNOP_send, &s), -XEN_ESRCH);
}

static void test_port_memory(void **state)
{
    struct hx *x = *state;
    /* Three ports cost a few hundred bytes, not an array of 131072. */
    for (int i = 0; i < 3; i++)
        assert_true(hx_alloc_unbound(x, 1, DOMID_SELF, 0) > 0);
    long small = evtchn_domain_port_bytes(x->h, 1);
    print_message("3 ports: %ld bytes of port storage\n", small);
    assert_true(small > 0 && small < 1024);
    /* It grows with the ports used. */
    for (int i = 0; i < 1000; i++)
        assert_true(hx_bind_ipi(x, 2, 0) > 0);
    long big = evtchn_domain_port_bytes(x->h, 2);
    print_message("1000 ports: %ld bytes\n", big);
    assert_true(big > 50 * small && big < 1001 * 128);
    assert_int_equal(evtchn_domain_port_bytes(x->h, 9), -XEN_ESRCH);
}

static void test_unknown_op(void **state)
{
    struct hx *x = *state;
    char buf[64] = { 0 };
    assert_int_equal(evtchn_op_arg_size(14), 0);
    assert_int_equal(evtchn_op_arg_size(99), 0);
    assert_int_equal(hx_op(x, 1, 99, buf), -XEN_ENOSYS);
    assert_int_equal(evtchn_op_arg_size(EVTCHNOP_send), sizeof(struct evtchn_send));
    assert_true(evtchn_op_copies_back(EVTCHNOP_alloc_unbound));
    assert_false(evtchn_op_copies_back(EVTCHNOP_send));
}

/* ---- alloc_unbound ---- */

static void test_alloc_unbound(void **state)
{
    struct hx *x = *state;
    int rc;
    int p = hx_alloc_unbound(x, 1, DOMID_SELF, 2);
    assert_true(p > 0);
    struct evtchn_status s = status(x, 1, DOMID_SELF, (uint32_t)p, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(s.status, EVTCHNSTAT_unbound);
    assert_int_equal(s.u.unbound.dom, 2);
    /* remote DOMID_SELF resolves to the caller. */
    p = hx_alloc_unbound(x, 1, 1, DOMID_SELF);
    s = status(x, 1, 1, (uint32_t)p, &rc);
    assert_int_equal(s.u.unbound.dom, 1);
}

static void test_alloc_unbound_errors(void **state)
{
    struct hx *x = *state;
    /* Only a privileged domain acts for another. */
    assert_int_equal(hx_alloc_unbound(x, 1, 2, 1), -XEN_EPERM);
    assert_true(hx_alloc_unbound(x, 0, 2, 1) > 0);
    assert_int_equal(hx_alloc_unbound(x, 0, 7, 1), -XEN_ESRCH);
    assert_int_equal(hx_alloc_unbound(x, 1, 7, 1), -XEN_ESRCH);
}

static void test_enospc(void **state)
{
    struct hx *x = *state;
    assert_int_equal(hx_dom_add(x, 3, false, 1, 7), 0);
    for (int i = 1; i <= 7; i++)
        assert_int_equal(hx_alloc_unbound(x, 3, DOMID_SELF, 0), i);
    assert_int_equal(hx_alloc_unbound(x, 3, DOMID_SELF, 0), -XEN_ENOSPC);
    assert_int_equal(hx_bind_ipi(x, 3, 0), -XEN_ENOSPC);
    assert_int_equal(hx_bind_virq(x, 3, VIRQ_TIMER, 0), -XEN_ENOSPC);
    /* Closing one frees exactly that port for reuse. */
    assert_int_equal(hx_close(x, 3, 4), 0);
    assert_int_equal(hx_bind_ipi(x, 3, 0), 4);
}

static void test_2l_port_limit(void **state)
{
    struct hx *x = *state;
    int last = 0;
    for (;;) {
        int p = hx_alloc_unbound(x, 2, DOMID_SELF, 0);
        if (p < 0) {
            assert_int_equal(p, -XEN_ENOSPC);
            break;
        }
        last = p;
    }
    assert_int_equal(last, (int)EVTCHN_2L_NR_CHANNELS - 1);
}

/* ---- bind_interdomain ---- */

static void test_bind_interdomain(void **state)
{
    struct hx *x = *state;
    int rc;
    int rp = hx_alloc_unbound(x, 1, DOMID_SELF, 2);
    x->d[2].si->vcpu_info[0].evtchn_upcall_pending = 0;
    unsigned kicks = atomic_load(&x->d[2].kicks[0]);
    int lp = hx_bind_interdomain(x, 2, 1, (uint32_t)rp);
    assert_true(lp > 0);
    /* The new local port is set pending (notifications may have been lost). */
    assert_true(hx_2l_pending(x, 2, (uint32_t)lp));
    assert_int_equal(atomic_load(&x->d[2].kicks[0]), kicks + 1);
    /* Both ends agree. */
    struct evtchn_status s = status(x, 1, DOMID_SELF, (uint32_t)rp, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_interdomain);
    assert_int_equal(s.u.interdomain.dom, 2);
    assert_int_equal(s.u.interdomain.port, lp);
    s = status(x, 2, DOMID_SELF, (uint32_t)lp, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_interdomain);
    assert_int_equal(s.u.interdomain.dom, 1);
    assert_int_equal(s.u.interdomain.port, rp);
    /* Already bound: no longer unbound. */
    assert_int_equal(hx_bind_interdomain(x, 2, 1, (uint32_t)rp), -XEN_EINVAL);
}

static void test_bind_interdomain_errors(void **state)
{
    struct hx *x = *state;
    int for0 = hx_alloc_unbound(x, 1, DOMID_SELF, 0);
    /* Unbound for another domain. */
    assert_int_equal(hx_bind_interdomain(x, 2, 1, (uint32_t)for0), -XEN_EINVAL);
    /* Invalid, reserved and free remote ports. */
    assert_int_equal(hx_bind_interdomain(x, 2, 1, 100000), -XEN_EINVAL);
    assert_int_equal(hx_bind_interdomain(x, 2, 1, 0), -XEN_EINVAL);
    assert_int_equal(hx_bind_interdomain(x, 2, 1, 5), -XEN_EINVAL);
    /* Unknown domain. */
    assert_int_equal(hx_bind_interdomain(x, 2, 9, 1), -XEN_ESRCH);
    /* A failed bind leaves no port behind. */
    int p = hx_bind_ipi(x, 2, 0);
    assert_int_equal(p, 1);
}

static void test_bind_interdomain_self(void **state)
{
    struct hx *x = *state;
    int a = hx_alloc_unbound(x, 1, DOMID_SELF, DOMID_SELF);
    int b = hx_bind_interdomain(x, 1, DOMID_SELF, (uint32_t)a);
    assert_true(b > 0 && b != a);
    uint32_t got[8];
    hx_2l_consume(x, 1, 0, got, 8);
    assert_int_equal(hx_send(x, 1, (uint32_t)b), 0);
    assert_true(hx_2l_pending(x, 1, (uint32_t)a));
    assert_int_equal(hx_close(x, 1, (uint32_t)a), 0);
    int rc;
    struct evtchn_status s = status(x, 1, 1, (uint32_t)b, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_unbound);
    assert_int_equal(s.u.unbound.dom, 1);
}

/* ---- bind_virq ---- */

static void test_bind_virq(void **state)
{
    struct hx *x = *state;
    int rc;
    int p = hx_bind_virq(x, 1, VIRQ_TIMER, 1);
    assert_true(p > 0);
    struct evtchn_status s = status(x, 1, DOMID_SELF, (uint32_t)p, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_virq);
    assert_int_equal(s.u.virq, VIRQ_TIMER);
    assert_int_equal(s.vcpu, 1);
    /* Per-vCPU: the same VIRQ on another vCPU is another binding. */
    int p0 = hx_bind_virq(x, 1, VIRQ_TIMER, 0);
    assert_true(p0 > 0 && p0 != p);
    assert_int_equal(hx_bind_virq(x, 1, VIRQ_TIMER, 1), -XEN_EEXIST);

    /* Delivery: per-vCPU VIRQ to its vCPU. */
    evtchn_send_virq(x->h, 1, 1, VIRQ_TIMER);
    assert_true(hx_2l_pending(x, 1, (uint32_t)p));
    assert_false(hx_2l_pending(x, 1, (uint32_t)p0));
    uint32_t got[4];
    assert_int_equal(hx_2l_consume(x, 1, 1, got, 4), 1);
    assert_int_equal(got[0], p);

    /* A global VIRQ is bound on vCPU 0 only. */
    int g = hx_bind_virq(x, 1, VIRQ_CONSOLE, 0);
    assert_true(g > 0);
    assert_int_equal(hx_bind_virq(x, 1, VIRQ_CONSOLE, 0), -XEN_EEXIST);
    evtchn_send_virq(x->h, 1, 1, VIRQ_CONSOLE);  /* vcpu argument ignored */
    assert_true(hx_2l_pending(x, 1, (uint32_t)g));
    /* Unbound VIRQs are dropped quietly. */
    evtchn_send_virq(x->h, 1, 0, VIRQ_DEBUG);
    evtchn_send_virq(x->h, 1, 0, NR_VIRQS + 5);
    evtchn_send_virq(x->h, 9, 0, VIRQ_TIMER);
}

static void test_bind_virq_errors(void **state)
{
    struct hx *x = *state;
    assert_int_equal(hx_bind_virq(x, 1, NR_VIRQS, 0), -XEN_EINVAL);
    assert_int_equal(hx_bind_virq(x, 1, 0xffffffffu, 0), -XEN_EINVAL);
    /* Global VIRQs only on vCPU 0. */
    assert_int_equal(hx_bind_virq(x, 1, VIRQ_CONSOLE, 1), -XEN_EINVAL);
    /* No such vCPU. */
    assert_int_equal(hx_bind_virq(x, 1, VIRQ_TIMER, 2), -XEN_ENOENT);
    assert_int_equal(hx_bind_virq(x, 1, VIRQ_TIMER, 0xffffffffu), -XEN_ENOENT);
    /* Close frees the VIRQ for a new binding. */
    int p = hx_bind_virq(x, 1, VIRQ_DEBUG, 0);
    assert_int_equal(hx_close(x, 1, (uint32_t)p), 0);
    assert_int_equal(hx_bind_virq(x, 1, VIRQ_DEBUG, 0), p);
}

/* ---- bind_ipi ---- */

static void test_bind_ipi(void **state)
{
    struct hx *x = *state;
    int rc;
    int p = hx_bind_ipi(x, 1, 1);
    assert_true(p > 0);
    struct evtchn_status s = status(x, 1, DOMID_SELF, (uint32_t)p, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_ipi);
    assert_int_equal(s.vcpu, 1);
    unsigned k1 = atomic_load(&x->d[1].kicks[1]), k0 = atomic_load(&x->d[1].kicks[0]);
    assert_int_equal(hx_send(x, 1, (uint32_t)p), 0);
    /* Delivered to the bound vCPU only. */
    assert_int_equal(atomic_load(&x->d[1].kicks[1]), k1 + 1);
    assert_int_equal(atomic_load(&x->d[1].kicks[0]), k0);
    uint32_t got[2];
    assert_int_equal(hx_2l_consume(x, 1, 1, got, 2), 1);
    assert_int_equal(got[0], p);
    assert_int_equal(hx_bind_ipi(x, 1, 2), -XEN_ENOENT);
}

/* ---- close ---- */

static void test_close(void **state)
{
    struct hx *x = *state;
    int rc;
    int a = hx_alloc_unbound(x, 1, DOMID_SELF, 2);
    int b = hx_bind_interdomain(x, 2, 1, (uint32_t)a);
    /* Closing one end returns the other to UNBOUND, remote domain kept. */
    assert_int_equal(hx_close(x, 2, (uint32_t)b), 0);
    struct evtchn_status s = status(x, 1, DOMID_SELF, (uint32_t)a, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_unbound);
    assert_int_equal(s.u.unbound.dom, 2);
    s = status(x, 2, DOMID_SELF, (uint32_t)b, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_closed);
    /* ... and 2 can bind to it again. */
    int b2 = hx_bind_interdomain(x, 2, 1, (uint32_t)a);
    assert_true(b2 > 0);
    /* Closing from the other side too. */
    assert_int_equal(hx_close(x, 1, (uint32_t)a), 0);
    s = status(x, 2, DOMID_SELF, (uint32_t)b2, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_unbound);
    assert_int_equal(s.u.unbound.dom, 1);
    /* Errors. */
    assert_int_equal(hx_close(x, 1, (uint32_t)a), -XEN_EINVAL);   /* free now */
    assert_int_equal(hx_close(x, 1, 0), -XEN_EINVAL);             /* reserved */
    assert_int_equal(hx_close(x, 1, 1u << 20), -XEN_EINVAL);      /* out of range */
    /* Closing clears the pending bit. */
    int i = hx_bind_ipi(x, 1, 0);
    hx_send(x, 1, (uint32_t)i);
    assert_true(hx_2l_pending(x, 1, (uint32_t)i));
    assert_int_equal(hx_close(x, 1, (uint32_t)i), 0);
    assert_false(hx_2l_pending(x, 1, (uint32_t)i));
}

/* ---- send ---- */

static void test_send(void **state)
{
    struct hx *x = *state;
    uint32_t got[8];
    int u = hx_alloc_unbound(x, 1, DOMID_SELF, 2);
    /* Unbound: dropped, success. */
    assert_int_equal(hx_send(x, 1, (uint32_t)u), 0);
    assert_false(hx_2l_pending(x, 1, (uint32_t)u));
    int b = hx_bind_interdomain(x, 2, 1, (uint32_t)u);
    hx_2l_consume(x, 2, 0, got, 8);
    assert_int_equal(hx_send(x, 1, (uint32_t)u), 0);
    assert_true(hx_2l_pending(x, 2, (uint32_t)b));
    assert_false(hx_2l_pending(x, 1, (uint32_t)u));
    assert_int_equal(hx_2l_consume(x, 2, 0, got, 8), 1);
    assert_int_equal(got[0], b);
    /* VIRQ ports cannot be sent on; nor free/invalid ones. */
    int v = hx_bind_virq(x, 1, VIRQ_DEBUG, 0);
    assert_int_equal(hx_send(x, 1, (uint32_t)v), -XEN_EINVAL);
    assert_int_equal(hx_send(x, 1, 77), -XEN_EINVAL);
    assert_int_equal(hx_send(x, 1, 0xffffffffu), -XEN_EINVAL);
}

/* ---- status ---- */

static void test_status_errors(void **state)
{
    struct hx *x = *state;
    int rc;
    int p = hx_alloc_unbound(x, 2, DOMID_SELF, 1);
    status(x, 1, 2, (uint32_t)p, &rc);
    assert_int_equal(rc, -XEN_EPERM);        /* not privileged */
    struct evtchn_status s = status(x, 0, 2, (uint32_t)p, &rc);
    assert_int_equal(rc, 0);                 /* dom0 may look */
    assert_int_equal(s.status, EVTCHNSTAT_unbound);
    status(x, 1, 9, 1, &rc);
    assert_int_equal(rc, -XEN_ESRCH);
    status(x, 1, DOMID_SELF, 5000, &rc);
    assert_int_equal(rc, -XEN_EINVAL);
    s = status(x, 1, DOMID_SELF, 3, &rc);    /* in a bucket, but free */
    assert_int_equal(rc, 0);
    assert_int_equal(s.status, EVTCHNSTAT_closed);
}

/* ---- bind_vcpu ---- */

static void test_bind_vcpu(void **state)
{
    struct hx *x = *state;
    int rc;
    uint32_t got[4];
    int a = hx_alloc_unbound(x, 1, DOMID_SELF, 2);
    int b = hx_bind_interdomain(x, 2, 1, (uint32_t)a);
    hx_2l_consume(x, 2, 0, got, 4);
    assert_int_equal(hx_bind_vcpu(x, 2, (uint32_t)b, 1), 0);
    struct evtchn_status s = status(x, 2, DOMID_SELF, (uint32_t)b, &rc);
    assert_int_equal(s.vcpu, 1);
    unsigned k1 = atomic_load(&x->d[2].kicks[1]);
    hx_send(x, 1, (uint32_t)a);
    assert_int_equal(atomic_load(&x->d[2].kicks[1]), k1 + 1);
    assert_int_equal(hx_2l_consume(x, 2, 0, got, 4), 0);
    assert_int_equal(hx_2l_consume(x, 2, 1, got, 4), 1);
    /* Unbound ports may move too. */
    int u = hx_alloc_unbound(x, 1, DOMID_SELF, 0);
    assert_int_equal(hx_bind_vcpu(x, 1, (uint32_t)u, 1), 0);
    /* Global VIRQ may move, per-vCPU VIRQ may not, IPI may not. */
    int g = hx_bind_virq(x, 1, VIRQ_CONSOLE, 0);
    assert_int_equal(hx_bind_vcpu(x, 1, (uint32_t)g, 1), 0);
    evtchn_send_virq(x->h, 1, 0, VIRQ_CONSOLE);
    assert_int_equal(hx_2l_consume(x, 1, 1, got, 4), 1);
    assert_int_equal(got[0], g);
    int t = hx_bind_virq(x, 1, VIRQ_TIMER, 0);
    assert_int_equal(hx_bind_vcpu(x, 1, (uint32_t)t, 1), -XEN_EINVAL);
    int i = hx_bind_ipi(x, 1, 0);
    assert_int_equal(hx_bind_vcpu(x, 1, (uint32_t)i, 1), -XEN_EINVAL);
    /* Bad vCPU, bad port, free port. */
    assert_int_equal(hx_bind_vcpu(x, 1, (uint32_t)u, 2), -XEN_ENOENT);
    assert_int_equal(hx_bind_vcpu(x, 1, 99999, 0), -XEN_EINVAL);
    assert_int_equal(hx_bind_vcpu(x, 1, 0, 0), -XEN_EINVAL);
}

/* ---- 2-level delivery, mask, unmask ---- */

static void test_2l_latch_and_selector(void **state)
{
    struct hx *x = *state;
    uint32_t got[4];
    int p = hx_bind_ipi(x, 1, 0);
    struct vcpu_info *vi = &x->d[1].si->vcpu_info[0];
    hx_2l_consume(x, 1, 0, got, 4);
    unsigned k = atomic_load(&x->d[1].kicks[0]);
    hx_send(x, 1, (uint32_t)p);
    hx_send(x, 1, (uint32_t)p);       /* coalesces with the first */
    assert_int_equal(atomic_load(&x->d[1].kicks[0]), k + 1);
    assert_int_equal(vi->evtchn_upcall_pending, 1);
    assert_true(vi->evtchn_pending_sel & 1);
    assert_int_equal(hx_2l_consume(x, 1, 0, got, 4), 1);
    /* A second port in the same selector word while the guest has not yet
     * scanned: no second upcall (selector bit already set). */
    int q = hx_bind_ipi(x, 1, 0);
    hx_send(x, 1, (uint32_t)p);
    k = atomic_load(&x->d[1].kicks[0]);
    vi->evtchn_upcall_pending = 0;    /* guest cleared it, has not scanned */
    hx_send(x, 1, (uint32_t)q);
    assert_int_equal(atomic_load(&x->d[1].kicks[0]), k);
    assert_int_equal(hx_2l_consume(x, 1, 0, got, 4), 2);
}

static void test_2l_mask_unmask(void **state)
{
    struct hx *x = *state;
    uint32_t got[4];
    int p = hx_bind_ipi(x, 1, 0);
    hx_2l_consume(x, 1, 0, got, 4);
    hx_2l_mask(x, 1, (uint32_t)p, true);
    unsigned k = atomic_load(&x->d[1].kicks[0]);
    hx_send(x, 1, (uint32_t)p);
    /* Masked: latched pending, but no selector and no upcall. */
    assert_true(hx_2l_pending(x, 1, (uint32_t)p));
    assert_int_equal(atomic_load(&x->d[1].kicks[0]), k);
    assert_int_equal(x->d[1].si->vcpu_info[0].evtchn_pending_sel, 0);
    assert_int_equal(hx_2l_consume(x, 1, 0, got, 4), 0);
    /* Unmask re-delivers the pending event. */
    assert_int_equal(hx_unmask(x, 1, (uint32_t)p), 0);
    assert_int_equal(atomic_load(&x->d[1].kicks[0]), k + 1);
    assert_int_equal(hx_2l_consume(x, 1, 0, got, 4), 1);
    assert_int_equal(got[0], p);
    /* Unmask with nothing pending: nothing. */
    hx_2l_mask(x, 1, (uint32_t)p, true);
    assert_int_equal(hx_unmask(x, 1, (uint32_t)p), 0);
    assert_int_equal(atomic_load(&x->d[1].kicks[0]), k + 1);
    assert_int_equal(hx_unmask(x, 1, 1u << 20), -XEN_EINVAL);
}

static void test_poll_wake(void **state)
{
    struct hx *x = *state;
    int p = hx_bind_ipi(x, 1, 0);
    hx_2l_mask(x, 1, (uint32_t)p, true);
    hx_send(x, 1, (uint32_t)p);
    assert_int_equal(atomic_load(&x->d[1].poll_wakes), 0);  /* no pollers */
    uint32_t got[2];
    x->d[1].si->evtchn_pending[0] = 0;
    hx_2l_consume(x, 1, 0, got, 2);
    assert_int_equal(evtchn_domain_pollers(x->h, 1, 1), 0);
    hx_send(x, 1, (uint32_t)p);   /* masked, but a poller wants to know */
    assert_int_equal(atomic_load(&x->d[1].poll_wakes), 1);
    hx_send(x, 1, (uint32_t)p);   /* already pending: not newly */
    assert_int_equal(atomic_load(&x->d[1].poll_wakes), 1);
    assert_int_equal(evtchn_domain_pollers(x->h, 1, -1), 0);
    assert_int_equal(evtchn_domain_pollers(x->h, 9, 1), -XEN_ESRCH);
}

static void test_vcpu_info_move(void **state)
{
    struct hx *x = *state;
    uint32_t got[2];
    int p = hx_bind_ipi(x, 1, 1);
    hx_2l_consume(x, 1, 1, got, 2);
    /* Register vcpu_info for vCPU 1 in a guest page. */
    struct vcpu_info *nvi = (struct vcpu_info *)(x->d[1].mem + 40 * 4096 + 64);
    assert_int_equal(evtchn_vcpu_set_info(x->h, 1, 1, nvi), 0);
    assert_int_equal(nvi->evtchn_upcall_pending, 1);   /* spurious, to be safe */
    nvi->evtchn_upcall_pending = 0;
    nvi->evtchn_pending_sel = 0;
    hx_send(x, 1, (uint32_t)p);
    assert_int_equal(nvi->evtchn_upcall_pending, 1);
    assert_true(nvi->evtchn_pending_sel & 1);
    assert_int_equal(x->d[1].si->vcpu_info[1].evtchn_pending_sel, 0);
    assert_int_equal(evtchn_vcpu_set_info(x->h, 1, 2, nvi), -XEN_EINVAL);
    assert_int_equal(evtchn_vcpu_set_info(x->h, 9, 0, nvi), -XEN_ESRCH);
}

/* ---- reset ---- */

static void test_reset(void **state)
{
    struct hx *x = *state;
    int rc;
    int a = hx_alloc_unbound(x, 1, DOMID_SELF, 2);
    int b = hx_bind_interdomain(x, 2, 1, (uint32_t)a);
    hx_bind_virq(x, 1, VIRQ_TIMER, 0);
    hx_bind_ipi(x, 1, 1);
    struct evtchn_reset r = { .dom = DOMID_SELF };
    assert_int_equal(hx_op(x, 1, EVTCHNOP_reset, &r), 0);
    struct evtchn_status s = status(x, 2, DOMID_SELF, (uint32_t)b, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_unbound);
    for (uint32_t p = 1; p < 8; p++) {
        s = status(x, 1, DOMID_SELF, p, &rc);
        assert_int_equal(s.status, EVTCHNSTAT_closed);
    }
    /* VIRQ free again. */
    assert_true(hx_bind_virq(x, 1, VIRQ_TIMER, 0) > 0);
    assert_int_equal(hx_alloc_unbound(x, 1, DOMID_SELF, 0), 2);
}

static void test_reset_errors(void **state)
{
    struct hx *x = *state;
    struct evtchn_reset r = { .dom = 2 };
    assert_int_equal(hx_op(x, 1, EVTCHNOP_reset, &r), -XEN_EPERM);
    /* Privileged, but the target is running. */
    assert_int_equal(hx_op(x, 0, EVTCHNOP_reset, &r), -XEN_EINVAL);
    assert_int_equal(evtchn_domain_set_paused(x->h, 2, true), 0);
    hx_bind_ipi(x, 2, 0);
    assert_int_equal(hx_op(x, 0, EVTCHNOP_reset, &r), 0);
    r.dom = 9;
    assert_int_equal(hx_op(x, 0, EVTCHNOP_reset, &r), -XEN_ESRCH);
}

/* ---- bind_pirq ---- */

static int pirq_rc;
static uint32_t pirq_bound, pirq_unbound, pirq_unmasked_n;
static bool pirq_share;

static int t_pirq_bind(void *o, domid_t dom, uint32_t pirq, bool share)
{
    (void)o; (void)dom;
    pirq_bound = pirq;
    pirq_share = share;
    return pirq_rc;
}
static void t_pirq_unbind(void *o, domid_t dom, uint32_t pirq)
{
    (void)o; (void)dom;
    pirq_unbound = pirq;
}
static void t_pirq_unmasked(void *o, domid_t dom, uint32_t pirq)
{
    (void)o; (void)dom; (void)pirq;
    pirq_unmasked_n++;
}

static void test_bind_pirq_no_router(void **state)
{
    struct hx *x = *state;
    struct evtchn_bind_pirq b = { .pirq = 5 };
    assert_int_equal(hx_op(x, 1, EVTCHNOP_bind_pirq, &b), -XEN_EPERM);
    b.pirq = 100000;
    assert_int_equal(hx_op(x, 1, EVTCHNOP_bind_pirq, &b), -XEN_EINVAL);
}

static void test_bind_pirq(void **state)
{
    (void)state;
    static const struct evtchn_pirq_router router = {
        .bind = t_pirq_bind, .unbind = t_pirq_unbind,
        .unmasked = t_pirq_unmasked,
    };
    struct evtchn_platform_ops ops = { 0 };
    struct evtchn_host *h = evtchn_host_create(&ops, NULL);
    assert_int_equal(evtchn_host_attach_pirq_router(h, &router), 0);
    struct evtchn_domain_config cfg = { .domid = 1, .max_vcpus = 1, .nr_pirqs = 32 };
    assert_int_equal(evtchn_domain_create(h, &cfg), 0);
    struct shared_info *si = evtchn_domain_shared_info(h, 1);

    pirq_rc = 0;
    struct evtchn_bind_pirq b = { .pirq = 9, .flags = BIND_PIRQ__WILL_SHARE };
    assert_int_equal(evtchn_do_op(h, 1, 0, EVTCHNOP_bind_pirq, &b), 0);
    assert_int_equal(pirq_bound, 9);
    assert_true(pirq_share);
    uint32_t port = b.port;
    struct evtchn_status s = { .dom = DOMID_SELF, .port = port };
    assert_int_equal(evtchn_do_op(h, 1, 0, EVTCHNOP_status, &s), 0);
    assert_int_equal(s.status, EVTCHNSTAT_pirq);
    assert_int_equal(s.u.pirq, 9);
    /* Already bound. */
    assert_int_equal(evtchn_do_op(h, 1, 0, EVTCHNOP_bind_pirq, &b), -XEN_EEXIST);
    /* Out of range (nr_pirqs 32), negative. */
    b.pirq = 32;
    assert_int_equal(evtchn_do_op(h, 1, 0, EVTCHNOP_bind_pirq, &b), -XEN_EINVAL);
    b.pirq = 0x80000000u;
    assert_int_equal(evtchn_do_op(h, 1, 0, EVTCHNOP_bind_pirq, &b), -XEN_EINVAL);
    /* The router refuses: no port left behind. */
    pirq_rc = -XEN_EBUSY;
    b.pirq = 10;
    b.flags = 0;
    assert_int_equal(evtchn_do_op(h, 1, 0, EVTCHNOP_bind_pirq, &b), -XEN_EBUSY);
    assert_false(pirq_share);
    assert_int_equal(evtchn_send_pirq(h, 1, 10), -XEN_ENOENT);
    struct evtchn_bind_ipi bi = { .vcpu = 0 };
    assert_int_equal(evtchn_do_op(h, 1, 0, EVTCHNOP_bind_ipi, &bi), 0);
    assert_int_equal(bi.port, port + 1);
    /* Delivery, unmask hook, close hook. */
    assert_int_equal(evtchn_send_pirq(h, 1, 9), 0);
    assert_true(si->evtchn_pending[0] & (1ul << port));
    struct evtchn_unmask u = { .port = port };
    assert_int_equal(evtchn_do_op(h, 1, 0, EVTCHNOP_unmask, &u), 0);
    assert_int_equal(pirq_unmasked_n, 1);
    struct evtchn_close c = { .port = port };
    assert_int_equal(evtchn_do_op(h, 1, 0, EVTCHNOP_close, &c), 0);
    assert_int_equal(pirq_unbound, 9);
    assert_int_equal(evtchn_send_pirq(h, 1, 9), -XEN_ENOENT);
    /* Domain death unbinds too. */
    pirq_rc = 0;
    b.pirq = 3;
    assert_int_equal(evtchn_do_op(h, 1, 0, EVTCHNOP_bind_pirq, &b), 0);
    assert_int_equal(evtchn_domain_destroy(h, 1), 0);
    assert_int_equal(pirq_unbound, 3);
    evtchn_host_destroy(h);
}

/* ---- host consumer ports ---- */

static void test_host_consumer(void **state)
{
    struct hx *x = *state;
    int rc;
    /* A guest allocates its store port for dom0; dom0's service binds it. */
    int gp = hx_alloc_unbound(x, 1, DOMID_SELF, 0);
    evtchn_port_t hp;
    assert_int_equal(evtchn_host_bind_interdomain(x->h, 0, 1, (uint32_t)gp, hx_host_cb, x,
                                                  &hp), 0);
    /* Conservative notification of the new (host) port: the callback. */
    assert_int_equal(atomic_load(&x->host_cb_calls), 1);
    assert_int_equal(atomic_load(&x->last_cb_port), hp);
    assert_int_equal(hx_send(x, 1, (uint32_t)gp), 0);
    assert_int_equal(atomic_load(&x->host_cb_calls), 2);
    /* The host notifies the guest. */
    uint32_t got[2];
    hx_2l_consume(x, 1, 0, got, 2);
    assert_int_equal(evtchn_host_send(x->h, 0, hp), 0);
    assert_int_equal(hx_2l_consume(x, 1, 0, got, 2), 1);
    assert_int_equal(got[0], gp);
    /* dom0 guest code may not send, close or move the host port. */
    assert_int_equal(hx_send(x, 0, hp), -XEN_EINVAL);
    assert_int_equal(hx_close(x, 0, hp), -XEN_EINVAL);
    assert_int_equal(hx_bind_vcpu(x, 0, hp, 0), -XEN_EINVAL);
    /* Listed as host consumer. */
    struct evtchn_status s = status(x, 0, 1, (uint32_t)gp, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_interdomain);
    assert_int_equal(s.u.interdomain.port, hp);
    /* Host close returns the guest's end to unbound. */
    assert_int_equal(evtchn_host_close(x->h, 0, hp), 0);
    s = status(x, 1, 1, (uint32_t)gp, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_unbound);
    /* Xen-style: a host-consumer unbound port in a guest's domain, bound by
     * another guest; events from it go to the callback. */
    evtchn_port_t xp;
    assert_int_equal(evtchn_host_alloc_unbound(x->h, 1, 2, hx_host_cb, x, &xp), 0);
    int p2 = hx_bind_interdomain(x, 2, 1, xp);
    unsigned calls = atomic_load(&x->host_cb_calls);
    assert_int_equal(hx_send(x, 2, (uint32_t)p2), 0);
    assert_int_equal(atomic_load(&x->host_cb_calls), calls + 1);
    /* It survives the guest's reset (Xen's xen_evtchns). */
    struct evtchn_reset r = { .dom = DOMID_SELF };
    assert_int_equal(hx_op(x, 1, EVTCHNOP_reset, &r), 0);
    s = status(x, 1, 1, xp, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_interdomain);
    assert_int_equal(evtchn_host_close(x->h, 1, xp), 0);
    assert_int_equal(evtchn_host_close(x->h, 1, xp), -XEN_EINVAL);
    assert_int_equal(evtchn_host_send(x->h, 9, 1), -XEN_ESRCH);
}

/* ---- domain destruction ---- */

static void test_domain_destroy_closes_peers(void **state)
{
    struct hx *x = *state;
    int rc;
    int a = hx_alloc_unbound(x, 1, DOMID_SELF, 2);
    int b = hx_bind_interdomain(x, 2, 1, (uint32_t)a);
    int c = hx_alloc_unbound(x, 2, DOMID_SELF, 1);
    int d = hx_bind_interdomain(x, 1, 2, (uint32_t)c);
    assert_true(b > 0 && d > 0);
    assert_int_equal(hx_dom_del(x, 1), 0);
    struct evtchn_status s = status(x, 2, DOMID_SELF, (uint32_t)b, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_unbound);
    assert_int_equal(s.u.unbound.dom, 1);
    s = status(x, 2, DOMID_SELF, (uint32_t)c, &rc);
    assert_int_equal(s.status, EVTCHNSTAT_unbound);
    /* Sending to the dead domain's old peer: dropped. */
    assert_int_equal(hx_send(x, 2, (uint32_t)b), 0);
    /* A reused domid inherits nothing. */
    assert_int_equal(hx_dom_add(x, 1, false, 1, 0), 0);
    s = status(x, 1, DOMID_SELF, (uint32_t)a, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(s.status, EVTCHNSTAT_closed);
    assert_int_equal(hx_alloc_unbound(x, 1, DOMID_SELF, 0), 1);
}

/* ---- introspection ---- */

struct listing { int n; struct evtchn_port_info pi[16]; };
static void collect(void *ctx, const struct evtchn_port_info *pi)
{
    struct listing *l = ctx;
    if (l->n < 16)
        l->pi[l->n] = *pi;
    l->n++;
}

static void test_foreach(void **state)
{
    struct hx *x = *state;
    int a = hx_alloc_unbound(x, 1, DOMID_SELF, 2);
    int b = hx_bind_interdomain(x, 2, 1, (uint32_t)a);
    int v = hx_bind_virq(x, 1, VIRQ_TIMER, 1);
    struct listing l = { 0 };
    assert_int_equal(evtchn_port_foreach(x->h, 1, collect, &l), 3);
    assert_int_equal(l.pi[0].state, EVTCHN_STATE_RESERVED);
    assert_int_equal(l.pi[1].state, EVTCHN_STATE_INTERDOMAIN);
    assert_int_equal(l.pi[1].remote_dom, 2);
    assert_int_equal(l.pi[1].remote_port, b);
    assert_int_equal(l.pi[2].port, v);
    assert_int_equal(l.pi[2].virq, VIRQ_TIMER);
    assert_int_equal(l.pi[2].vcpu, 1);
    assert_string_equal(evtchn_state_name(l.pi[2].state), "virq");
    memset(&l, 0, sizeof(l));
    assert_int_equal(evtchn_port_foreach(x->h, 2, collect, &l), 2);
    assert_true(l.pi[1].pending);      /* bind_interdomain set it pending */
    assert_int_equal(evtchn_port_foreach(x->h, 9, collect, &l), -XEN_ESRCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_domain_port0_reserved),
        T(test_domain_create_errors),
        T(test_unknown_op),
        T(test_port_memory),
        T(test_alloc_unbound),
        T(test_alloc_unbound_errors),
        T(test_enospc),
        T(test_2l_port_limit),
        T(test_bind_interdomain),
        T(test_bind_interdomain_errors),
        T(test_bind_interdomain_self),
        T(test_bind_virq),
        T(test_bind_virq_errors),
        T(test_bind_ipi),
        T(test_close),
        T(test_send),
        T(test_status_errors),
        T(test_bind_vcpu),
        T(test_2l_latch_and_selector),
        T(test_2l_mask_unmask),
        T(test_poll_wake),
        T(test_vcpu_info_move),
        T(test_reset),
        T(test_reset_errors),
        T(test_bind_pirq_no_router),
        T(test_bind_pirq),
        T(test_host_consumer),
        T(test_domain_destroy_closes_peers),
        T(test_foreach),
#undef T
    };
    return cmocka_run_group_tests_name("evtchn", tests, NULL, NULL);
}

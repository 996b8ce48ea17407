/*
 * Two-thread stress of the core, on both ABIs: one thread sends on a port
 * that stays bound (and on one that another thread keeps closing and
 * re-binding), a consumer thread drains like a guest would. Checks that no
 * event on the stable port is lost: after the last send, the consumer must
 * have handled the port at a point where it saw the final sequence number.
 * Under ASan/UBSan it also checks nothing crashes.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "evtchn_harness.h"

#define ROUNDS 40000

struct ctx {
    struct hx *x;
    bool fifo;
    uint32_t stable_sender;     /* dom 1 port -> dom 2 port stable_recv */
    uint32_t stable_recv;
    atomic_uint seq;            /* last sequence number sent */
    atomic_uint seen;           /* seq read right after handling stable_recv */
    atomic_bool stop;
    atomic_uint churn_port;     /* dom 1's port of the churned channel */
    atomic_uint handled;
};

static int consume(struct ctx *c, uint32_t *out, int max)
{
    return c->fifo ? hx_fifo_consume(c->x, 2, 0, out, max)
                   : hx_2l_consume(c->x, 2, 0, out, max);
}

static void *consumer(void *arg)
{
    struct ctx *c = arg;
    uint32_t got[64];
    while (!atomic_load(&c->stop)) {
        int n = consume(c, got, 64);
        for (int i = 0; i < n && i < 64; i++) {
            if (got[i] == c->stable_recv) {
                /* The pending bit was cleared before this load: any send
                 * that this handling did not cover raises it again. */
                atomic_store(&c->seen, atomic_load(&c->seq));
                atomic_fetch_add(&c->handled, 1);
            }
        }
    }
    return NULL;
}

/* Closes and re-binds dom 2's end of the churn channel, and binds/closes
 * IPIs in dom 2, so ports are freed and reused under the sender's feet. */
static void *churner(void *arg)
{
    struct ctx *c = arg;
    while (!atomic_load(&c->stop)) {
        uint32_t up = atomic_load(&c->churn_port);
        int p = hx_bind_interdomain(c->x, 2, 1, up);
        int i = hx_bind_ipi(c->x, 2, 0);
        if (c->fifo && p > 0)
            hx_fifo_mask(c->x, 2, (uint32_t)p, false);
        if (p > 0)
            hx_close(c->x, 2, (uint32_t)p);
        if (i > 0)
            hx_close(c->x, 2, (uint32_t)i);
    }
    return NULL;
}

static void run(bool fifo)
{
    struct ctx c = { .fifo = fifo };
    c.x = hx_create();
    assert_int_equal(hx_dom_add(c.x, 1, false, 1, 0), 0);
    assert_int_equal(hx_dom_add(c.x, 2, false, 1, 0), 0);
    if (fifo) {
        assert_int_equal(hx_fifo_init(c.x, 2, 0), 0);
        assert_int_equal(hx_fifo_expand(c.x, 2), 0);
    }
    int u = hx_alloc_unbound(c.x, 1, DOMID_SELF, 2);
    int r = hx_bind_interdomain(c.x, 2, 1, (uint32_t)u);
    assert_true(u > 0 && r > 0);
    if (fifo)
        hx_fifo_mask(c.x, 2, (uint32_t)r, false);
    c.stable_sender = (uint32_t)u;
    c.stable_recv = (uint32_t)r;
    int cu = hx_alloc_unbound(c.x, 1, DOMID_SELF, 2);
    atomic_store(&c.churn_port, (uint32_t)cu);

    pthread_t tc, tch;
    pthread_create(&tc, NULL, consumer, &c);
    pthread_create(&tch, NULL, churner, &c);
    for (unsigned i = 1; i <= ROUNDS; i++) {
        atomic_store(&c.seq, i);
        assert_int_equal(hx_send(c.x, 1, c.stable_sender), 0);
        int rc = hx_send(c.x, 1, (uint32_t)cu);   /* bound or unbound: both fine */
        assert_int_equal(rc, 0);
        /* Every 128 sends, give the consumer a chance to run concurrently,
         * so sends really race with its clearing of the pending state. */
        if (!(i % 128)) {
            unsigned h = atomic_load(&c.handled);
            for (int spin = 0; spin < 200 && atomic_load(&c.handled) == h; spin++)
                sched_yield();
        }
    }
    /* Let the consumer catch up with the final send, bounded in time. */
    for (int spin = 0; spin < 20000000 && atomic_load(&c.seen) != ROUNDS; spin++)
        sched_yield();
    atomic_store(&c.stop, true);
    pthread_join(tc, NULL);
    pthread_join(tch, NULL);
    assert_int_equal(atomic_load(&c.seen), ROUNDS);
    assert_true(atomic_load(&c.handled) >= 1);
    print_message("%s: %u handled for %u sends (coalesced)\n", fifo ? "fifo" : "2l",
                  atomic_load(&c.handled), ROUNDS);
    hx_destroy(c.x);
}

static void test_stress_2l(void **state)
{
    (void)state;
    run(false);
}

static void test_stress_fifo(void **state)
{
    (void)state;
    run(true);
}

/* Domain destruction racing with a sender on its peer. */
static void *destroyer(void *arg)
{
    struct hx *x = arg;
    for (int i = 0; i < 200; i++) {
        hx_dom_add(x, 3, false, 1, 0);
        int u = hx_alloc_unbound(x, 3, DOMID_SELF, 1);
        if (u > 0)
            hx_bind_interdomain(x, 1, 3, (uint32_t)u);
        hx_dom_del(x, 3);
    }
    return NULL;
}

static void test_stress_destroy(void **state)
{
    (void)state;
    struct hx *x = hx_create();
    assert_int_equal(hx_dom_add(x, 1, false, 1, 0), 0);
    pthread_t t;
    pthread_create(&t, NULL, destroyer, x);
    /* Send on every low port of dom 1 while its peers come and go. */
    for (int i = 0; i < 200000; i++) {
        int rc = hx_send(x, 1, (uint32_t)(1 + i % 8));
        assert_true(rc == 0 || rc == -XEN_EINVAL);
    }
    pthread_join(t, NULL);
    hx_destroy(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress_2l),
        cmocka_unit_test(test_stress_fifo),
        cmocka_unit_test(test_stress_destroy),
    };
    return cmocka_run_group_tests_name("evtchn_stress", tests, NULL, NULL);
}

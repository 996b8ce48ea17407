/*
 * FIFO ABI: init_control, expand_array, set_priority, queue order, READY,
 * the event-word protocol, per-vCPU queues, unmask re-linking, reset back
 * to 2-level, and hostile control blocks / event words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "evtchn_fixture.h"

#define WP(b) ((event_word_t)1 << EVTCHN_FIFO_##b)

/* Domain 1 on FIFO with both vCPUs' control blocks and one array page. */
static void fifo_on(struct hx *x, domid_t d)
{
    assert_int_equal(hx_fifo_init(x, d, 0), 0);
    assert_int_equal(hx_fifo_init(x, d, 1), 0);
    assert_int_equal(hx_fifo_expand(x, d), 0);
    assert_int_equal(evtchn_domain_abi(x->h, d), 3);
}

/* An IPI port on vCPU v, unmasked as a guest does after binding. */
static uint32_t ipi(struct hx *x, domid_t d, uint32_t v)
{
    int p = hx_bind_ipi(x, d, v);
    assert_true(p > 0);
    hx_fifo_mask(x, d, (uint32_t)p, false);
    return (uint32_t)p;
}

static void test_init_control(void **state)
{
    struct hx *x = *state;
    struct evtchn_init_control ic = { .control_gfn = 1, .offset = 0, .vcpu = 0 };
    assert_int_equal(hx_op(x, 1, EVTCHNOP_init_control, &ic), 0);
    assert_int_equal(ic.link_bits, EVTCHN_FIFO_LINK_BITS);
    assert_int_equal(evtchn_domain_abi(x->h, 1), 3);
    /* Same vCPU again. */
    assert_int_equal(hx_op(x, 1, EVTCHNOP_init_control, &ic), -XEN_EINVAL);
    /* Misaligned, past the page, no such vCPU, unmapped frame. */
    ic.vcpu = 1;
    ic.offset = 4;
    assert_int_equal(hx_op(x, 1, EVTCHNOP_init_control, &ic), -XEN_EINVAL);
    ic.offset = 4096 - sizeof(evtchn_fifo_control_block_t) + 8;
    assert_int_equal(hx_op(x, 1, EVTCHNOP_init_control, &ic), -XEN_EINVAL);
    ic.offset = 0xfffffff8u;
    assert_int_equal(hx_op(x, 1, EVTCHNOP_init_control, &ic), -XEN_EINVAL);
    ic.offset = 4096 - sizeof(evtchn_fifo_control_block_t);
    ic.vcpu = 2;
    assert_int_equal(hx_op(x, 1, EVTCHNOP_init_control, &ic), -XEN_ENOENT);
    ic.vcpu = 1;
    ic.control_gfn = 0;               /* maps to nothing */
    assert_int_equal(hx_op(x, 1, EVTCHNOP_init_control, &ic), -XEN_EINVAL);
    ic.control_gfn = 1ull << 40;
    assert_int_equal(hx_op(x, 1, EVTCHNOP_init_control, &ic), -XEN_EINVAL);
    /* The last valid offset works. */
    ic.control_gfn = 2;
    assert_int_equal(hx_op(x, 1, EVTCHNOP_init_control, &ic), 0);
    /* An unmapped frame on a 2-level domain leaves it 2-level. */
    struct evtchn_init_control bad = { .control_gfn = 0, .vcpu = 0 };
    assert_int_equal(hx_op(x, 2, EVTCHNOP_init_control, &bad), -XEN_EINVAL);
    assert_int_equal(evtchn_domain_abi(x->h, 2), 2);
}

static void test_expand_array(void **state)
{
    struct hx *x = *state;
    struct evtchn_expand_array ea = { .array_gfn = 16 };
    /* 2-level domain. */
    assert_int_equal(hx_op(x, 1, EVTCHNOP_expand_array, &ea), -XEN_EOPNOTSUPP);
    assert_int_equal(hx_fifo_init(x, 1, 0), 0);
    ea.array_gfn = 0;
    assert_int_equal(hx_op(x, 1, EVTCHNOP_expand_array, &ea), -XEN_EINVAL);
    /* Up to the ABI limit: 131072 ports in 128 pages. */
    for (int i = 0; i < 128; i++)
        assert_int_equal(hx_fifo_expand(x, 1), 0);
    assert_int_equal(hx_fifo_expand(x, 1), -XEN_ENOSPC);
}

static void test_fifo_131072_ports(void **state)
{
    struct hx *x = *state;
    assert_int_equal(hx_fifo_init(x, 1, 0), 0);
    for (int i = 0; i < 128; i++)
        assert_int_equal(hx_fifo_expand(x, 1), 0);
    int last = 0;
    for (;;) {
        int p = hx_bind_ipi(x, 1, 0);
        if (p < 0) {
            assert_int_equal(p, -XEN_ENOSPC);
            break;
        }
        last = p;
    }
    assert_int_equal(last, EVTCHN_FIFO_NR_CHANNELS - 1);
    /* The highest port delivers. */
    hx_fifo_mask(x, 1, (uint32_t)last, false);
    assert_int_equal(hx_send(x, 1, (uint32_t)last), 0);
    uint32_t got[2];
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 2), 1);
    assert_int_equal(got[0], last);
}

static void test_fifo_delivery_order(void **state)
{
    struct hx *x = *state;
    uint32_t got[8];
    fifo_on(x, 1);
    uint32_t a = ipi(x, 1, 0), b = ipi(x, 1, 0), c = ipi(x, 1, 0);
    unsigned k = atomic_load(&x->d[1].kicks[0]);
    hx_send(x, 1, c);
    hx_send(x, 1, a);
    hx_send(x, 1, b);
    hx_send(x, 1, a);     /* already linked: coalesces */
    /* One upcall: the queue became ready once. */
    assert_int_equal(atomic_load(&x->d[1].kicks[0]), k + 1);
    evtchn_fifo_control_block_t *cb = x->d[1].v[0].cb;
    assert_int_equal(cb->ready, 1u << EVTCHN_FIFO_PRIORITY_DEFAULT);
    assert_int_equal(cb->head[EVTCHN_FIFO_PRIORITY_DEFAULT], c);
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 8), 3);
    assert_int_equal(got[0], c);
    assert_int_equal(got[1], a);
    assert_int_equal(got[2], b);
    /* The queue drained: the next event is a new head. */
    hx_send(x, 1, b);
    assert_int_equal(cb->head[EVTCHN_FIFO_PRIORITY_DEFAULT], b);
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 8), 1);
    assert_int_equal(got[0], b);
}

static void test_fifo_priority(void **state)
{
    struct hx *x = *state;
    uint32_t got[8];
    fifo_on(x, 1);
    uint32_t lo = ipi(x, 1, 0), hi = ipi(x, 1, 0), mid = ipi(x, 1, 0);
    struct evtchn_set_priority sp = { .port = hi, .priority = 1 };
    assert_int_equal(hx_op(x, 1, EVTCHNOP_set_priority, &sp), 0);
    sp.port = lo;
    sp.priority = EVTCHN_FIFO_PRIORITY_MIN;
    assert_int_equal(hx_op(x, 1, EVTCHNOP_set_priority, &sp), 0);
    sp.priority = EVTCHN_FIFO_PRIORITY_MIN + 1;
    assert_int_equal(hx_op(x, 1, EVTCHNOP_set_priority, &sp), -XEN_EINVAL);
    sp.port = 99999;
    sp.priority = 1;
    assert_int_equal(hx_op(x, 1, EVTCHNOP_set_priority, &sp), -XEN_EINVAL);
    hx_send(x, 1, lo);
    hx_send(x, 1, mid);
    hx_send(x, 1, hi);
    assert_int_equal(x->d[1].v[0].cb->ready,
                     (1u << 1) | (1u << 7) | (1u << EVTCHN_FIFO_PRIORITY_MIN));
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 8), 3);
    assert_int_equal(got[0], hi);
    assert_int_equal(got[1], mid);
    assert_int_equal(got[2], lo);
}

static void test_set_priority_2l(void **state)
{
    struct hx *x = *state;
    int p = hx_bind_ipi(x, 1, 0);
    struct evtchn_set_priority sp = { .port = (uint32_t)p, .priority = 3 };
    assert_int_equal(hx_op(x, 1, EVTCHNOP_set_priority, &sp), -XEN_ENOSYS);
}

static void test_fifo_mask_unmask(void **state)
{
    struct hx *x = *state;
    uint32_t got[4];
    fifo_on(x, 1);
    uint32_t p = ipi(x, 1, 0);
    hx_fifo_mask(x, 1, p, true);
    unsigned k = atomic_load(&x->d[1].kicks[0]);
    hx_send(x, 1, p);
    event_word_t *w = hx_fifo_word(x, 1, p);
    /* Pending but not linked while masked; no upcall. */
    assert_true(*w & WP(PENDING));
    assert_false(*w & WP(LINKED));
    assert_int_equal(atomic_load(&x->d[1].kicks[0]), k);
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 4), 0);
    /* EVTCHNOP_unmask clears MASKED and re-links. */
    assert_int_equal(hx_unmask(x, 1, p), 0);
    assert_false(*w & WP(MASKED));
    assert_true(*w & WP(LINKED));
    assert_int_equal(atomic_load(&x->d[1].kicks[0]), k + 1);
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 4), 1);
    assert_int_equal(got[0], p);
    assert_false(*w & WP(PENDING));
}

static void test_fifo_per_vcpu_and_bind_vcpu(void **state)
{
    struct hx *x = *state;
    uint32_t got[4];
    fifo_on(x, 2);
    int a = hx_alloc_unbound(x, 1, DOMID_SELF, 2);
    int b = hx_bind_interdomain(x, 2, 1, (uint32_t)a);
    hx_fifo_mask(x, 2, (uint32_t)b, false);
    hx_send(x, 1, (uint32_t)a);
    assert_int_equal(hx_fifo_consume(x, 2, 0, got, 4), 1);
    assert_int_equal(hx_bind_vcpu(x, 2, (uint32_t)b, 1), 0);
    unsigned k1 = atomic_load(&x->d[2].kicks[1]);
    hx_send(x, 1, (uint32_t)a);
    assert_int_equal(atomic_load(&x->d[2].kicks[1]), k1 + 1);
    assert_int_equal(hx_fifo_consume(x, 2, 0, got, 4), 0);
    assert_int_equal(hx_fifo_consume(x, 2, 1, got, 4), 1);
    assert_int_equal(got[0], b);
    /* Moved while linked: it stays on the old queue until consumed, then
     * the next event goes to the new vCPU's queue. */
    hx_send(x, 1, (uint32_t)a);
    assert_int_equal(hx_bind_vcpu(x, 2, (uint32_t)b, 0), 0);
    assert_int_equal(hx_fifo_consume(x, 2, 1, got, 4), 1);
    hx_send(x, 1, (uint32_t)a);
    assert_int_equal(hx_fifo_consume(x, 2, 0, got, 4), 1);
    assert_int_equal(got[0], b);
}

static void test_fifo_pending_before_page(void **state)
{
    struct hx *x = *state;
    uint32_t got[4];
    assert_int_equal(hx_fifo_init(x, 1, 0), 0);
    /* Port bound, event sent, but no event-array page yet. */
    int p = hx_bind_ipi(x, 1, 0);
    assert_int_equal(hx_send(x, 1, (uint32_t)p), 0);
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 4), 0);
    /* The page arrives with the word masked; pending is raised into it. */
    assert_int_equal(hx_fifo_expand(x, 1), 0);
    event_word_t *w = hx_fifo_word(x, 1, (uint32_t)p);
    assert_true(*w & WP(PENDING));
    assert_int_equal(hx_unmask(x, 1, (uint32_t)p), 0);
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 4), 1);
    assert_int_equal(got[0], p);
}

static void test_fifo_init_keeps_2l_pending(void **state)
{
    struct hx *x = *state;
    uint32_t got[4];
    /* Xen's setup_ports: a port pending under 2-level stays pending. */
    int p = hx_bind_ipi(x, 1, 0);
    hx_send(x, 1, (uint32_t)p);
    fifo_on(x, 1);
    event_word_t *w = hx_fifo_word(x, 1, (uint32_t)p);
    assert_true(*w & WP(PENDING));
    hx_unmask(x, 1, (uint32_t)p);
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 4), 1);
}

static void test_fifo_busy_port_not_reused(void **state)
{
    struct hx *x = *state;
    uint32_t got[4];
    fifo_on(x, 1);
    uint32_t p = ipi(x, 1, 0);
    hx_send(x, 1, p);              /* linked in the queue */
    assert_int_equal(hx_close(x, 1, p), 0);
    /* Still LINKED in the guest's queue: the next port is another one. */
    int q = hx_bind_ipi(x, 1, 0);
    assert_true((uint32_t)q != p);
    /* The guest consumes the stale entry (not pending: skipped). */
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 4), 0);
    int r = hx_bind_ipi(x, 1, 0);
    assert_int_equal((uint32_t)r, p);
}

static void test_fifo_reset_to_2l(void **state)
{
    struct hx *x = *state;
    fifo_on(x, 1);
    ipi(x, 1, 0);
    struct evtchn_reset r = { .dom = DOMID_SELF };
    assert_int_equal(hx_op(x, 1, EVTCHNOP_reset, &r), 0);
    assert_int_equal(evtchn_domain_abi(x->h, 1), 2);
    /* 2-level works again, and FIFO can be set up afresh. */
    uint32_t got[2];
    int p = hx_bind_ipi(x, 1, 0);
    hx_send(x, 1, (uint32_t)p);
    assert_int_equal(hx_2l_consume(x, 1, 0, got, 2), 1);
    assert_int_equal(hx_close(x, 1, (uint32_t)p), 0);
    memset(x->d[1].mem + 4096, 0, 2 * 4096);
    x->d[1].array_pages = 0;
    fifo_on(x, 1);
}

/* A host-consumer port survives EVTCHNOP_reset (as Xen's Xen-attached
 * ports do), even one the FIFO ABI placed beyond the 2-level limit: it stays
 * consistent, bindable and closable by the host, and the domain can die. */
static void test_fifo_reset_keeps_high_host_port(void **state)
{
    struct hx *x = *state;
    evtchn_port_t hp;
    fifo_on(x, 1);
    for (uint32_t p = 1; p <= EVTCHN_2L_NR_CHANNELS; p++)
        assert_int_equal(hx_alloc_unbound(x, 1, DOMID_SELF, 0), (int)p);
    assert_int_equal(evtchn_host_alloc_unbound(x->h, 1, 0, hx_host_cb, x, &hp), 0);
    assert_true(hp >= EVTCHN_2L_NR_CHANNELS);
    for (uint32_t p = 1; p <= EVTCHN_2L_NR_CHANNELS; p++)
        assert_int_equal(hx_close(x, 1, p), 0);
    struct evtchn_reset r = { .dom = DOMID_SELF };
    assert_int_equal(hx_op(x, 1, EVTCHNOP_reset, &r), 0);
    assert_int_equal(evtchn_domain_abi(x->h, 1), 2);
    assert_int_equal(evtchn_debug_check(x->h, 1), 0);
    /* The guest cannot touch it; dom 0 binds it and its events reach the
     * host callback, not the guest's 2-level bitmaps. */
    assert_int_equal(hx_unmask(x, 1, hp), -XEN_EINVAL);
    assert_int_equal(hx_close(x, 1, hp), -XEN_EINVAL);
    int lp = hx_bind_interdomain(x, 0, 1, hp);
    assert_true(lp > 0);
    unsigned int calls = atomic_load(&x->host_cb_calls);
    assert_int_equal(hx_send(x, 0, (uint32_t)lp), 0);
    assert_int_equal(atomic_load(&x->host_cb_calls), calls + 1);
    assert_int_equal(evtchn_host_close(x->h, 1, hp), 0);
    assert_int_equal(evtchn_debug_check(x->h, 1), 0);
    assert_int_equal(evtchn_debug_check(x->h, 0), 0);
}

static void test_fifo_hostile_words(void **state)
{
    struct hx *x = *state;
    uint32_t got[8];
    fifo_on(x, 1);
    uint32_t a = ipi(x, 1, 0), b = ipi(x, 1, 0);
    hx_send(x, 1, a);
    /* The guest scribbles a bogus LINK and BUSY into the linked tail word;
     * we only ever write links, never follow them. */
    event_word_t *wa = hx_fifo_word(x, 1, a);
    __atomic_fetch_or(wa, EVTCHN_FIFO_LINK_MASK | WP(BUSY), __ATOMIC_SEQ_CST);
    hx_send(x, 1, b);
    assert_int_equal(*wa & EVTCHN_FIFO_LINK_MASK, b);
    assert_false(*wa & WP(BUSY));
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 8), 2);
    /* Garbage in the control block's head: the host does not care. */
    x->d[1].v[0].cb->head[EVTCHN_FIFO_PRIORITY_DEFAULT] = 0xdeadbeef;
    hx_send(x, 1, a);
    assert_int_equal(x->d[1].v[0].cb->head[EVTCHN_FIFO_PRIORITY_DEFAULT], a);
    /* Whole array page garbage: sends still succeed. */
    memset(x->d[1].array[0], 0xff, 4096);
    for (uint32_t p = 1; p < 8; p++)
        hx_send(x, 1, p);
    memset(x->d[1].array[0], 0, 4096);
    x->d[1].v[0].fifo_head[EVTCHN_FIFO_PRIORITY_DEFAULT] = 0;
}

static void test_fifo_unconsumed_tail_relink(void **state)
{
    struct hx *x = *state;
    uint32_t got[8];
    fifo_on(x, 1);
    uint32_t a = ipi(x, 1, 0), b = ipi(x, 1, 0);
    hx_send(x, 1, a);
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 8), 1);
    /* The tail (a) was consumed: b becomes a new head, not a's link. */
    hx_send(x, 1, b);
    assert_int_equal(x->d[1].v[0].cb->head[EVTCHN_FIFO_PRIORITY_DEFAULT], b);
    hx_send(x, 1, a);
    assert_int_equal(*hx_fifo_word(x, 1, b) & EVTCHN_FIFO_LINK_MASK, a);
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 8), 2);
    assert_int_equal(got[0], b);
    assert_int_equal(got[1], a);
}

/* Linux's CPU hot-unplug and back: VIRQ_TIMER of vCPU 1 at priority 0,
 * its last event consumed by the drain of the dead CPU's queues, the port
 * closed, then bound again (the same port number) and set to priority 0.
 * The queue's private tail still names that port; as in Xen (whose
 * channel keeps last_vcpu_id/last_priority across free and bind) the
 * first new event must see that and become the queue's head, not be
 * linked to itself and lost. */
static void test_fifo_rebound_tail_port(void **state)
{
    struct hx *x = *state;
    uint32_t got[4];
    fifo_on(x, 1);
    int p = hx_bind_virq(x, 1, VIRQ_TIMER, 1);
    assert_true(p > 0);
    hx_fifo_mask(x, 1, (uint32_t)p, false);
    struct evtchn_set_priority sp = { .port = (uint32_t)p, .priority = 0 };
    assert_int_equal(hx_op(x, 1, EVTCHNOP_set_priority, &sp), 0);
    evtchn_send_virq(x->h, 1, 1, VIRQ_TIMER);
    assert_int_equal(hx_fifo_consume(x, 1, 1, got, 4), 1);
    assert_int_equal(hx_close(x, 1, (uint32_t)p), 0);
    assert_int_equal(hx_bind_virq(x, 1, VIRQ_TIMER, 1), p);
    hx_fifo_mask(x, 1, (uint32_t)p, false);
    assert_int_equal(hx_op(x, 1, EVTCHNOP_set_priority, &sp), 0);
    evtchn_send_virq(x->h, 1, 1, VIRQ_TIMER);
    assert_int_equal(x->d[1].v[1].cb->head[0], p);
    assert_int_equal(hx_fifo_consume(x, 1, 1, got, 4), 1);
    assert_int_equal(got[0], p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_init_control),
        T(test_expand_array),
        T(test_fifo_131072_ports),
        T(test_fifo_delivery_order),
        T(test_fifo_priority),
        T(test_set_priority_2l),
        T(test_fifo_mask_unmask),
        T(test_fifo_per_vcpu_and_bind_vcpu),
        T(test_fifo_pending_before_page),
        T(test_fifo_init_keeps_2l_pending),
        T(test_fifo_busy_port_not_reused),
        T(test_fifo_reset_to_2l),
        T(test_fifo_reset_keeps_high_host_port),
        T(test_fifo_hostile_words),
        T(test_fifo_unconsumed_tail_relink),
        T(test_fifo_rebound_tail_port),
#undef T
    };
    return cmocka_run_group_tests_name("evtchn_fifo", tests, NULL, NULL);
}

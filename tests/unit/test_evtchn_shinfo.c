/*
 * Unit tests of the shared_info layouts (evtchn_shinfo.c): a domain latched
 * i386 gets its 2-level pending/mask bits, selector, upcall flag and
 * wallclock at the i386 offsets of the -m32 probe (evtchn_abi32.h) and
 * nowhere else, has 1024 2-level ports (FIFO keeps its own limit); a
 * domain that never latched, or latched x86_64, is as before. Then a
 * multi-threaded run (suite concurrency: TSan) of senders against a 32-bit
 * vCPU that masks, unmasks and scans in the i386 layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "evtchn_abi32.h"
#include "evtchn_fixture.h"

/* ---- the guest's view in the i386 layout (a 32-bit Linux's evtchn_2l) ---- */

static uint8_t *si_bytes(struct hx *x, domid_t dom)
{
    return (uint8_t *)x->d[dom].si;
}

static uint32_t *i386_word(struct hx *x, domid_t dom, size_t off, uint32_t port)
{
    return (uint32_t *)(si_bytes(x, dom) + off) + port / 32;
}

static bool i386_pending(struct hx *x, domid_t dom, uint32_t port)
{
    return __atomic_load_n(i386_word(x, dom, EVTCHN32_OFF_shared_info_evtchn_pending,
                                     port), __ATOMIC_SEQ_CST) & (1u << (port % 32));
}

static void i386_mask(struct hx *x, domid_t dom, uint32_t port, bool masked)
{
    uint32_t *w = i386_word(x, dom, EVTCHN32_OFF_shared_info_evtchn_mask, port);
    if (masked)
        __atomic_fetch_or(w, 1u << (port % 32), __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_and(w, ~(1u << (port % 32)), __ATOMIC_SEQ_CST);
}

static uint32_t *i386_sel(struct hx *x, domid_t dom, uint32_t vcpu)
{
    return (uint32_t *)(si_bytes(x, dom) +
                        EVTCHN32_OFF_shared_info_vcpu_info +
                        vcpu * EVTCHN32_SIZEOF_vcpu_info +
                        EVTCHN32_OFF_vcpu_info_evtchn_pending_sel);
}

static uint8_t upcall_pending(struct hx *x, domid_t dom, uint32_t vcpu)
{
    return __atomic_load_n(si_bytes(x, dom) + EVTCHN32_OFF_shared_info_vcpu_info +
                           vcpu * EVTCHN32_SIZEOF_vcpu_info +
                           EVTCHN32_OFF_vcpu_info_evtchn_upcall_pending,
                           __ATOMIC_SEQ_CST);
}

/* Scan as a 32-bit guest: clear the upcall flag and the selector, then
 * collect and clear the pending unmasked ports of each selected word. */
static int i386_consume(struct hx *x, domid_t dom, uint32_t v, uint32_t *out, int max)
{
    uint8_t *up = si_bytes(x, dom) + v * EVTCHN32_SIZEOF_vcpu_info;
    __atomic_store_n(up, 0, __ATOMIC_SEQ_CST);
    uint32_t sel = __atomic_exchange_n(i386_sel(x, dom, v), 0, __ATOMIC_SEQ_CST);
    int n = 0;
    while (sel) {
        uint32_t wi = (uint32_t)__builtin_ctz(sel);
        sel &= sel - 1;
        uint32_t *pw = i386_word(x, dom, EVTCHN32_OFF_shared_info_evtchn_pending, wi * 32);
        uint32_t *mw = i386_word(x, dom, EVTCHN32_OFF_shared_info_evtchn_mask, wi * 32);
        uint32_t bits = __atomic_load_n(pw, __ATOMIC_SEQ_CST) &
                        ~__atomic_load_n(mw, __ATOMIC_SEQ_CST);
        while (bits) {
            uint32_t b = (uint32_t)__builtin_ctz(bits);
            bits &= bits - 1;
            __atomic_fetch_and(pw, ~(1u << b), __ATOMIC_SEQ_CST);
            if (n < max)
                out[n] = wi * 32 + b;
            n++;
        }
    }
    return n;
}

/* Dom 1's next free port is want: fill the ports before it. */
static void fill_to(struct hx *x, domid_t dom, uint32_t want)
{
    for (;;) {
        int p = hx_alloc_unbound(x, dom, DOMID_SELF, 0);
        assert_true(p > 0);
        if ((uint32_t)p + 1 == want)
            return;
        assert_true((uint32_t)p + 1 < want);
    }
}

/* Dom 1 port 40 bound to a port of dom 2 (returned). Port 40: word 1 bit
 * 8 in the i386 layout, word 0 bit 40 in x86_64's. */
static int bind_port40(struct hx *x)
{
    fill_to(x, 1, 40);
    int p2 = hx_alloc_unbound(x, 2, DOMID_SELF, 1);
    assert_true(p2 > 0);
    assert_int_equal(hx_bind_interdomain(x, 1, 2, (uint32_t)p2), 40);
    /* The binding notified port 40 once: start from clean words. */
    memset(si_bytes(x, 1) + EVTCHN32_OFF_shared_info_evtchn_pending, 0,
           sizeof(struct shared_info) - EVTCHN32_OFF_shared_info_evtchn_pending);
    memset(x->d[1].si->vcpu_info, 0, sizeof(x->d[1].si->vcpu_info));
    return p2;
}

/* ---- the layout ---- */

static void test_latch_query(void **state)
{
    struct hx *x = *state;
    assert_int_equal(evtchn_domain_shinfo_i386(x->h, 1), 0);   /* new: x86_64 */
    assert_int_equal(evtchn_domain_latch_shinfo(x->h, 1, true), 0);
    assert_int_equal(evtchn_domain_shinfo_i386(x->h, 1), 1);
    assert_int_equal(evtchn_domain_shinfo_i386(x->h, 2), 0);   /* per domain */
    assert_int_equal(evtchn_domain_latch_shinfo(x->h, 1, false), 0);
    assert_int_equal(evtchn_domain_shinfo_i386(x->h, 1), 0);
    assert_int_equal(evtchn_domain_latch_shinfo(x->h, 3, true), -XEN_ESRCH);
    assert_int_equal(evtchn_domain_shinfo_i386(x->h, 3), -XEN_ESRCH);
    assert_int_equal(evtchn_domain_set_wallclock(x->h, 3, 1, 2), -XEN_ESRCH);
}

static void test_i386_send_offsets(void **state)
{
    struct hx *x = *state;
    assert_int_equal(evtchn_domain_latch_shinfo(x->h, 1, true), 0);
    int p2 = bind_port40(x);
    unsigned int kicks = atomic_load(&x->d[1].kicks[0]);

    assert_int_equal(hx_send(x, 2, (uint32_t)p2), 0);
    assert_true(i386_pending(x, 1, 40));
    assert_int_equal(*i386_sel(x, 1, 0), 1u << 1);           /* word 1 */
    assert_int_equal(upcall_pending(x, 1, 0), 1);
    assert_int_equal(atomic_load(&x->d[1].kicks[0]), kicks + 1);
    /* Not in x86_64's selector (a 64-bit word at another offset). */
    xen_ulong_t native_sel;
    memcpy(&native_sel, (uint8_t *)&x->d[1].si->vcpu_info[0] +
                            offsetof(struct vcpu_info, evtchn_pending_sel),
           sizeof(native_sel));
    assert_int_equal(native_sel, 0);
    assert_true(evtchn_any_pending(x->h, 1, (evtchn_port_t[]){ 40 }, 1) == 1);

    uint32_t got[4];
    assert_int_equal(i386_consume(x, 1, 0, got, 4), 1);
    assert_int_equal(got[0], 40);
    assert_false(i386_pending(x, 1, 40));
}

static void test_i386_mask_unmask(void **state)
{
    struct hx *x = *state;
    assert_int_equal(evtchn_domain_latch_shinfo(x->h, 1, true), 0);
    int p2 = bind_port40(x);
    unsigned int kicks = atomic_load(&x->d[1].kicks[0]);

    /* Masked at the i386 offset (inside x86_64's pending bitmap): the
     * event stays pending, no selector, no upcall. */
    i386_mask(x, 1, 40, true);
    assert_int_equal(hx_send(x, 2, (uint32_t)p2), 0);
    assert_true(i386_pending(x, 1, 40));
    assert_int_equal(*i386_sel(x, 1, 0), 0);
    assert_int_equal(upcall_pending(x, 1, 0), 0);
    assert_int_equal(atomic_load(&x->d[1].kicks[0]), kicks);
    struct evtchn_status s = { .dom = DOMID_SELF, .port = 40 };
    assert_int_equal(hx_op(x, 1, EVTCHNOP_status, &s), 0);

    /* EVTCHNOP_unmask clears the i386 mask bit and raises the upcall. */
    assert_int_equal(hx_unmask(x, 1, 40), 0);
    assert_false(*i386_word(x, 1, EVTCHN32_OFF_shared_info_evtchn_mask, 40) &
                 (1u << 8));
    assert_int_equal(*i386_sel(x, 1, 0), 1u << 1);
    assert_int_equal(upcall_pending(x, 1, 0), 1);
    assert_int_equal(atomic_load(&x->d[1].kicks[0]), kicks + 1);
    uint32_t got[4];
    assert_int_equal(i386_consume(x, 1, 0, got, 4), 1);
    assert_int_equal(got[0], 40);
}

static void test_i386_port_limit(void **state)
{
    struct hx *x = *state;
    assert_int_equal(evtchn_domain_latch_shinfo(x->h, 1, true), 0);
    assert_false(evtchn_port_valid(x->h, 1, 1024));
    /* Ports 1..1023, then Xen's get_free_port: -ENOSPC. */
    int last = 0, p;
    while ((p = hx_alloc_unbound(x, 1, DOMID_SELF, 0)) > 0)
        last = p;
    assert_int_equal(p, -XEN_ENOSPC);
    assert_int_equal(last, EVTCHN32_EVTCHN_2L_NR_CHANNELS - 1);
    assert_true(evtchn_port_valid(x->h, 1, 1023));
    /* Port 1024 is no port of the domain (Xen's port_is_valid): -EINVAL. */
    assert_int_equal(hx_send(x, 1, 1024), -XEN_EINVAL);
    assert_int_equal(hx_unmask(x, 1, 1024), -XEN_EINVAL);
    assert_int_equal(hx_close(x, 1, 1024), -XEN_EINVAL);
    struct evtchn_status s = { .dom = DOMID_SELF, .port = 1024 };
    assert_int_equal(hx_op(x, 1, EVTCHNOP_status, &s), -XEN_EINVAL);
    /* Binding another domain's end to it: -EINVAL too. */
    assert_int_equal(hx_bind_interdomain(x, 2, 1, 1024), -XEN_EINVAL);
    /* The x86_64 domain keeps its 4096. */
    assert_true(hx_bind_ipi(x, 2, 0) > 0);
    for (int i = 0; i < 1100; i++)
        assert_true(hx_bind_ipi(x, 2, 0) > 0);
}

static void test_i386_fifo_unaffected(void **state)
{
    struct hx *x = *state;
    assert_int_equal(evtchn_domain_latch_shinfo(x->h, 1, true), 0);
    assert_int_equal(hx_fifo_init(x, 1, 0), 0);
    assert_int_equal(hx_fifo_init(x, 1, 1), 0);
    assert_int_equal(hx_fifo_expand(x, 1), 0);
    assert_int_equal(hx_fifo_expand(x, 1), 0);
    int p = 0;
    for (int i = 0; i < 1100; i++)
        p = hx_bind_ipi(x, 1, 0);
    assert_int_equal(p, 1100);
    hx_fifo_mask(x, 1, 1100, false);
    assert_int_equal(hx_send(x, 1, (uint32_t)p), 0);
    uint32_t got[4];
    assert_int_equal(hx_fifo_consume(x, 1, 0, got, 4), 1);
    assert_int_equal(got[0], 1100);
}

static void test_i386_pending_before_latch(void **state)
{
    struct hx *x = *state;
    /* A bit set in the x86_64 layout is not moved (Xen converts nothing);
     * a port beyond 1023, bound before the latch, gets no bit at all. */
    for (int i = 0; i < 1030; i++)
        assert_true(hx_bind_ipi(x, 1, 0) > 0);
    assert_int_equal(evtchn_domain_latch_shinfo(x->h, 1, true), 0);
    memset(si_bytes(x, 1) + EVTCHN32_OFF_shared_info_evtchn_pending, 0,
           sizeof(struct shared_info) - EVTCHN32_OFF_shared_info_evtchn_pending);
    memset(x->d[1].si->vcpu_info, 0, sizeof(x->d[1].si->vcpu_info));
    assert_int_equal(evtchn_host_send(x->h, 1, 1025), 0);
    for (size_t i = EVTCHN32_OFF_shared_info_evtchn_pending; i < sizeof(struct shared_info); i++)
        assert_int_equal(si_bytes(x, 1)[i], 0);
    assert_int_equal(upcall_pending(x, 1, 0), 0);
    /* It stays a port of the domain, closable by the host. */
    assert_int_equal(evtchn_host_close(x->h, 1, 1025), 0);
}

static void test_i386_vcpu_info_move(void **state)
{
    struct hx *x = *state;
    assert_int_equal(evtchn_domain_latch_shinfo(x->h, 1, true), 0);
    static _Alignas(64) uint8_t page[64];
    memset(page, 0xaa, sizeof(page));    /* all of it comes from the slot */
    assert_int_equal(evtchn_vcpu_set_info(x->h, 1, 1, (struct vcpu_info *)page), 0);
    /* Everything marked pending in the 32-bit selector, the rest kept. */
    uint32_t sel;
    memcpy(&sel, page + EVTCHN32_OFF_vcpu_info_evtchn_pending_sel, 4);
    assert_int_equal(sel, 0xffffffffu);
    /* Not x86_64's 64-bit selector (i386's arch.cr2 and pad there). */
    assert_memory_equal(page + 8, "\0\0\0\0\0\0\0\0", 8);
    assert_int_equal(page[EVTCHN32_OFF_vcpu_info_evtchn_upcall_pending], 1);
    /* Put it back in shared_info before teardown frees page's neighbours. */
    assert_int_equal(evtchn_vcpu_set_info(x->h, 1, 1, &x->d[1].si->vcpu_info[1]), 0);
}

static void test_native_unchanged(void **state)
{
    struct hx *x = *state;
    /* Latched x86_64 explicitly (a 64-bit guest's CALLBACK_IRQ): as never. */
    assert_int_equal(evtchn_domain_latch_shinfo(x->h, 1, false), 0);
    int p2 = bind_port40(x);
    assert_int_equal(hx_send(x, 2, (uint32_t)p2), 0);
    assert_int_equal(x->d[1].si->vcpu_info[0].evtchn_pending_sel, 1);  /* word 0 */
    assert_int_equal(*i386_sel(x, 1, 0), 0);
    uint32_t got[4];
    assert_int_equal(hx_2l_consume(x, 1, 0, got, 4), 1);
    assert_int_equal(got[0], 40);
    /* The native mask works at its own offset. */
    hx_2l_mask(x, 1, 40, true);
    assert_int_equal(hx_send(x, 2, (uint32_t)p2), 0);
    assert_int_equal(x->d[1].si->vcpu_info[0].evtchn_pending_sel, 0);
    assert_int_equal(hx_unmask(x, 1, 40), 0);
    assert_int_equal(x->d[1].si->vcpu_info[0].evtchn_pending_sel, 1);
}

static void test_wallclock(void **state)
{
    struct hx *x = *state;
    uint64_t sec = 0x123456789ull;
    assert_int_equal(evtchn_domain_latch_shinfo(x->h, 1, true), 0);
    assert_int_equal(evtchn_domain_set_wallclock(x->h, 1, sec, 42), 0);
    assert_int_equal(evtchn_domain_set_wallclock(x->h, 2, sec, 42), 0);
    uint32_t v;
#define U32(dom, off) (memcpy(&v, si_bytes(x, dom) + (off), 4), v)
    assert_int_equal(U32(1, EVTCHN32_OFF_shared_info_wc_sec), 0x23456789u);
    assert_int_equal(U32(1, EVTCHN32_OFF_shared_info_wc_nsec), 42);
    assert_int_equal(U32(1, EVTCHN32_OFF_shared_info_wc_sec_hi), 1);
    assert_int_equal(U32(1, EVTCHN32_OFF_shared_info_wc_version), 2);
    /* Nothing at x86_64's offsets. */
    assert_int_equal(x->d[1].si->wc_sec, 0);
    assert_int_equal(x->d[1].si->wc_nsec, 0);
    assert_int_equal(x->d[1].si->wc_version, 0);
    /* The x86_64 domain: its own fields, nothing at the i386 offsets. */
    assert_int_equal(x->d[2].si->wc_sec, 0x23456789u);
    assert_int_equal(x->d[2].si->wc_nsec, 42);
    assert_int_equal(x->d[2].si->xen_wc_sec_hi, 1);
    assert_int_equal(x->d[2].si->wc_version, 2);
    assert_int_equal(U32(2, EVTCHN32_OFF_shared_info_wc_sec), 0);
    assert_int_equal(U32(2, EVTCHN32_OFF_shared_info_wc_version), 0);
    /* Each write moves the version by 2 (odd while it changes). */
    assert_int_equal(evtchn_domain_set_wallclock(x->h, 1, 7, 8), 0);
    assert_int_equal(U32(1, EVTCHN32_OFF_shared_info_wc_version), 4);
    assert_int_equal(U32(1, EVTCHN32_OFF_shared_info_wc_sec_hi), 0);
#undef U32
}

/* ---- senders against a 32-bit vCPU that masks, unmasks and scans ---- */

#define MT_PORTS 48
#define MT_SENDERS 3
#define MT_SENDS 10000

struct mt {
    struct hx *x;
    int remote[MT_PORTS];     /* dom 2's end of dom 1's port MT_FIRST + i */
    atomic_bool stop;
    atomic_uint seen;
    atomic_uint errors;       /* a failed call in a thread (no cmocka there) */
    atomic_uint next_seed;
};

#define MT_FIRST 2            /* ports 2.. of dom 1 (1 is a filler) */

static void *mt_sender(void *arg)
{
    struct mt *m = arg;
    unsigned int seed = atomic_fetch_add(&m->next_seed, 1);
    for (int i = 0; i < MT_SENDS; i++)
        if (hx_send(m->x, 2, (uint32_t)m->remote[rand_r(&seed) % MT_PORTS]))
            atomic_fetch_add(&m->errors, 1);
    return NULL;
}

static void *mt_vcpu(void *arg)
{
    struct mt *m = arg;
    uint32_t got[MT_PORTS * 2];
    unsigned int seed = atomic_fetch_add(&m->next_seed, 1);
    while (!atomic_load(&m->stop)) {
        uint32_t port = MT_FIRST + (uint32_t)(rand_r(&seed) % MT_PORTS);
        i386_mask(m->x, 1, port, true);
        if (upcall_pending(m->x, 1, 0))
            atomic_fetch_add(&m->seen, (unsigned int)i386_consume(m->x, 1, 0, got,
                                                                   MT_PORTS * 2));
        if (hx_unmask(m->x, 1, port))
            atomic_fetch_add(&m->errors, 1);
    }
    return NULL;
}

static void test_i386_mt_mask_unmask(void **state)
{
    struct hx *x = *state;
    struct mt m = { .x = x, .next_seed = 1 };
    assert_int_equal(evtchn_domain_latch_shinfo(x->h, 1, true), 0);
    assert_int_equal(hx_alloc_unbound(x, 1, DOMID_SELF, 0), 1);
    for (int i = 0; i < MT_PORTS; i++) {
        m.remote[i] = hx_alloc_unbound(x, 2, DOMID_SELF, 1);
        assert_true(m.remote[i] > 0);
        assert_int_equal(hx_bind_interdomain(x, 1, 2, (uint32_t)m.remote[i]),
                         MT_FIRST + i);
    }
    pthread_t vt, st[MT_SENDERS];
    assert_int_equal(pthread_create(&vt, NULL, mt_vcpu, &m), 0);
    for (int i = 0; i < MT_SENDERS; i++)
        assert_int_equal(pthread_create(&st[i], NULL, mt_sender, &m), 0);
    for (int i = 0; i < MT_SENDERS; i++)
        pthread_join(st[i], NULL);
    atomic_store(&m.stop, true);
    pthread_join(vt, NULL);
    assert_int_equal(atomic_load(&m.errors), 0);

    /* Every port is unmasked again (each mask was followed by its unmask).
     * A pending port then has its selector bit set and the upcall raised
     * (else an event was lost): the last scan finds every pending one. */
    uint32_t got[MT_PORTS * 2];
    if (upcall_pending(x, 1, 0))
        atomic_fetch_add(&m.seen, (unsigned int)i386_consume(x, 1, 0, got, MT_PORTS * 2));
    for (uint32_t p = 0; p < EVTCHN32_EVTCHN_2L_NR_CHANNELS; p++)
        assert_false(i386_pending(x, 1, p));
    assert_true(atomic_load(&m.seen) > 0);
    print_message("%u events seen by the 32-bit vCPU\n", atomic_load(&m.seen));
    /* Nothing beyond the i386 structs: the x86_64 selector's upper half
     * (i386's arch.cr2) and the bytes after the i386 wallclock. */
    for (uint32_t v = 0; v < XEN_LEGACY_MAX_VCPUS; v++)
        for (size_t b = 8; b < EVTCHN32_OFF_vcpu_info_time; b++)
            assert_int_equal(si_bytes(x, 1)[v * EVTCHN32_SIZEOF_vcpu_info + b], 0);
    for (size_t i = EVTCHN32_OFF_shared_info_wc_version; i < sizeof(struct shared_info); i++)
        assert_int_equal(si_bytes(x, 1)[i], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_latch_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_i386_send_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_i386_mask_unmask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_i386_port_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_i386_fifo_unaffected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_i386_pending_before_latch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_i386_vcpu_info_move, setup, teardown),
        cmocka_unit_test_setup_teardown(test_native_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wallclock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_i386_mt_mask_unmask, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

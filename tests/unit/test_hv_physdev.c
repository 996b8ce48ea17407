/*
 * __HYPERVISOR_physdev_op through the hypercall layer (src/hv/hv_physdev.c)
 * to the real PIRQ router and event-channel core: arguments copied in and
 * back, bad pointers, unknown commands, no router, and EVTCHNOP_bind_pirq
 * reaching the router through the core's PIRQ hooks. Guest memory is a
 * plain buffer (linear == physical).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/physdev.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/hv.h"
#include "xenkvm/irq.h"

#define HV_TEST_PAGES 8
#define PAGES HV_TEST_PAGES

#include "hv_test_platform.h"

static struct irq_pirq *router;

static const struct hv_platform_ops ops = {
    .gva_map = t_gva_map, .gfn_map = t_gfn_map,
};

struct fx {
    struct evtchn_host *h;
    struct irq_icu *icu;
    struct hv_domain *d, *bare;
};

static int setup(void **state)
{
    static struct fx f;
    f.h = hv_test_host(1, true);
    f.icu = irq_icu_create(8);
    struct irq_source *s;
    assert_int_equal(irq_source_eventfd(-1, &s), 0);
    struct irq_mode level = { .trigger = IRQ_LEVEL };
    assert_int_equal(irq_icu_set_source(f.icu, 5, s, level), 0);
    router = irq_pirq_create(f.icu, f.h, ec_map, NULL);
    assert_non_null(router);
    assert_int_equal(irq_pirq_domain_add(router, 1, false, 0), 0);
    assert_int_equal(irq_pirq_grant(router, 1, 5, true), 0);
    struct hv_domain_config hc = { .domid = 1, .max_vcpus = 1,
        .ram_pages = PAGES, .evtchn = f.h, .ops = &ops, .pirq = router };
    f.d = hv_domain_create(&hc);
    hc.pirq = NULL;
    f.bare = hv_domain_create(&hc);
    assert_non_null(f.d);
    assert_non_null(f.bare);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hv_domain_destroy(f->d);
    hv_domain_destroy(f->bare);
    irq_pirq_domain_remove(router, 1);
    irq_pirq_destroy(router);
    router = NULL;
    irq_icu_destroy(f->icu);
    hv_test_host_destroy(f->h);
    return 0;
}

static long physdev(struct hv_domain *d, unsigned int cmd, uint64_t arg,
                    bool long_mode)
{
    struct hv_call c = { .nr = __HYPERVISOR_physdev_op, .arg = { cmd, arg },
                         .long_mode = long_mode };
    return hv_hypercall(d, 0, NULL, &c);
}

static void test_map_status_eoi(void **state)
{
    struct fx *f = *state;
    struct physdev_map_pirq *m = (void *)(mem + 0x100);
    *m = (struct physdev_map_pirq){ .domid = DOMID_SELF,
        .type = MAP_PIRQ_TYPE_GSI, .index = 5, .pirq = -1 };
    assert_int_equal(physdev(f->d, PHYSDEVOP_map_pirq, 0x100, true), 0);
    assert_true(m->pirq >= 16);          /* copied back: the chosen PIRQ */
    int pirq = m->pirq;
    /* not granted: EPERM, and nothing written back */
    *m = (struct physdev_map_pirq){ .domid = DOMID_SELF,
        .type = MAP_PIRQ_TYPE_GSI, .index = 6, .pirq = -1 };
    assert_int_equal(physdev(f->d, PHYSDEVOP_map_pirq, 0x100, true), -EPERM);
    assert_int_equal(m->pirq, -1);
    struct physdev_irq_status_query *q = (void *)(mem + 0x200);
    *q = (struct physdev_irq_status_query){ .irq = (uint32_t)pirq };
    assert_int_equal(physdev(f->d, PHYSDEVOP_irq_status_query, 0x200, true), 0);
    assert_true(q->flags & XENIRQSTAT_needs_eoi);   /* a level line */
    struct physdev_eoi *e = (void *)(mem + 0x300);
    e->irq = 200;
    assert_int_equal(physdev(f->d, PHYSDEVOP_eoi, 0x300, true), -EINVAL);
    e->irq = (uint32_t)pirq;
    assert_int_equal(physdev(f->d, PHYSDEVOP_eoi, 0x300, true), 0);
    /* the EOI page: a RAM frame once, then EBUSY */
    struct physdev_pirq_eoi_gmfn *g = (void *)(mem + 0x400);
    g->gmfn = 3;
    assert_int_equal(physdev(f->d, PHYSDEVOP_pirq_eoi_gmfn_v2, 0x400, true), 0);
    assert_int_equal(physdev(f->d, PHYSDEVOP_pirq_eoi_gmfn_v2, 0x400, true),
                     -EBUSY);
    /* EVTCHNOP_bind_pirq reaches the router through the core's hook */
    struct evtchn_bind_pirq *bp = (void *)(mem + 0x500);
    *bp = (struct evtchn_bind_pirq){ .pirq = (uint32_t)pirq,
                                     .flags = BIND_PIRQ__WILL_SHARE };
    struct hv_call c = { .nr = __HYPERVISOR_event_channel_op,
                         .arg = { EVTCHNOP_bind_pirq, 0x500 }, .long_mode = true };
    assert_int_equal(hv_hypercall(f->d, 0, NULL, &c), 0);
    assert_true(bp->port > 0);
    assert_int_equal(hv_hypercall(f->d, 0, NULL, &c), -EEXIST);
    bp->pirq = 30;                              /* not mapped */
    assert_int_equal(hv_hypercall(f->d, 0, NULL, &c), -EPERM);
}

/* A 32-bit caller: physdev_map_pirq is 36 bytes on i386 (table_base, a
 * uint64_t, @28), physdev_pirq_eoi_gmfn a 4-byte xen_pfn_t; the others
 * have x86_64's layout. The i386 offsets are written out. */
static void test_compat32(void **state)
{
    struct fx *f = *state;
    memset(mem + 0x100, 0xee, 64);
    int32_t v[7] = { DOMID_SELF, MAP_PIRQ_TYPE_GSI, 5, -1, 0, 0, 0 };
    memcpy(mem + 0x100, v, sizeof(v));          /* domid @0 .. entry_nr @24 */
    memset(mem + 0x100 + 28, 0, 8);             /* table_base @28 */
    assert_int_equal(physdev(f->d, PHYSDEVOP_map_pirq, 0x100, false), 0);
    int32_t pirq;
    memcpy(&pirq, mem + 0x100 + 12, 4);         /* pirq @12, written back */
    assert_true(pirq >= 16);
    assert_int_equal(mem[0x100 + 36], 0xee);    /* nothing past 36 bytes */
    memset(mem + 0x400, 0xee, 16);
    memcpy(mem + 0x400, &(uint32_t){ 3 }, 4);   /* gmfn @0, 4 bytes */
    assert_int_equal(physdev(f->d, PHYSDEVOP_pirq_eoi_gmfn_v2, 0x400, false), 0);
    struct physdev_eoi *e = (void *)(mem + 0x300);
    e->irq = (uint32_t)pirq;
    assert_int_equal(physdev(f->d, PHYSDEVOP_eoi, 0x300, false), 0);
}

static void test_errors(void **state)
{
    struct fx *f = *state;
    /* bad pointer: EFAULT before the router sees anything */
    assert_int_equal(physdev(f->d, PHYSDEVOP_map_pirq, MEM - 4, true), -EFAULT);
    /* commands the router does not serve, 32-bit callers, no router */
    assert_int_equal(physdev(f->d, PHYSDEVOP_set_iopl, 0x100, true), -ENOSYS);
    assert_int_equal(physdev(f->d, PHYSDEVOP_set_iopl, 0x100, false), -ENOSYS);
    assert_int_equal(physdev(f->bare, PHYSDEVOP_eoi, 0x100, true), -ENOSYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_map_status_eoi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compat32, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

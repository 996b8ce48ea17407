/*
 * ICU with real sources (eventfd, timerfd) and the domain-0 callback sink:
 * edge, level with EOI and resample, mask/unmask losing nothing, bind rules,
 * unbind, info, the list format (served as `irq list`: test_ctl.c). (The
 * KVM irqfd pin sink is the VMM's: test_vmm_pin.c.)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "xenkvm/irq.h"
#include "icu_test_util.h"


struct rec {
    unsigned int calls;
    unsigned int last_line;
    bool auto_eoi;
};

static void rec_fn(void *arg, struct irq_icu *icu, unsigned int line)
{
    struct rec *r = arg;
    r->calls++;
    r->last_line = line;
    if (r->auto_eoi)
        irq_icu_eoi(icu, line);
}

static void test_edge_delivery(void **state)
{
    (void)state;
    struct irq_icu *icu = icu_with_eventfd(3, EDGE);
    struct rec r = { 0 };
    struct irq_cb_sink cs;
    irq_cb_sink_init(&cs, "rec", rec_fn, &r);
    assert_int_equal(irq_icu_bind(icu, 3, &cs.sink), 0);

    signal_line(icu, 3);
    drain(icu);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.last_line, 3);
    signal_line(icu, 3);
    drain(icu);
    assert_int_equal(r.calls, 2);

    struct irq_line_info li;
    assert_int_equal(irq_icu_line_info(icu, 3, &li), 0);
    assert_int_equal(li.raised, 2);
    assert_int_equal(li.delivered, 2);
    assert_false(li.in_flight);   /* edge lines never wait for EOI */
    irq_icu_destroy(icu);
}

static void test_mask_loses_nothing(void **state)
{
    (void)state;
    struct irq_icu *icu = icu_with_eventfd(1, EDGE);
    struct rec r = { 0 };
    struct irq_cb_sink cs;
    irq_cb_sink_init(&cs, "rec", rec_fn, &r);
    assert_int_equal(irq_icu_bind(icu, 1, &cs.sink), 0);
    assert_int_equal(irq_icu_mask(icu, 1), 0);
    signal_line(icu, 1);
    signal_line(icu, 1);
    signal_line(icu, 1);
    drain(icu);
    assert_int_equal(r.calls, 0);
    assert_int_equal(irq_icu_unmask(icu, 1), 0);
    drain(icu);
    /* an edge line latches: three signals while masked are one interrupt */
    assert_int_equal(r.calls, 1);
    struct irq_line_info li;
    irq_icu_line_info(icu, 1, &li);
    assert_int_equal(li.events, 3);
    irq_icu_destroy(icu);
}

static void test_level_eoi(void **state)
{
    (void)state;
    struct irq_icu *icu = icu_with_eventfd(2, LEVEL);
    struct rec r = { 0 };
    struct irq_cb_sink cs;
    irq_cb_sink_init(&cs, "rec", rec_fn, &r);
    assert_int_equal(irq_icu_bind(icu, 2, &cs.sink), 0);

    signal_line(icu, 2);
    drain(icu);
    assert_int_equal(r.calls, 1);
    struct irq_line_info li;
    irq_icu_line_info(icu, 2, &li);
    assert_true(li.in_flight);

    /* asserted again while in flight: held at the source until EOI */
    signal_line(icu, 2);
    drain(icu);
    assert_int_equal(r.calls, 1);
    assert_int_equal(irq_icu_eoi(icu, 2), 0);
    irq_icu_line_info(icu, 2, &li);
    assert_int_equal(li.resampled, 1);   /* the re-check saw it asserted */
    assert_int_equal(li.eoied, 1);
    drain(icu);
    assert_int_equal(r.calls, 2);

    /* EOI with the source quiet: nothing more */
    assert_int_equal(irq_icu_eoi(icu, 2), 0);
    drain(icu);
    assert_int_equal(r.calls, 2);
    irq_icu_line_info(icu, 2, &li);
    assert_int_equal(li.resampled, 1);
    assert_false(li.in_flight);
    /* EOI when nothing is in flight is a no-op */
    assert_int_equal(irq_icu_eoi(icu, 2), 0);
    irq_icu_line_info(icu, 2, &li);
    assert_int_equal(li.eoied, 2);
    irq_icu_destroy(icu);
}

/* KVM's resample contract: a device model that still needs service
 * re-asserts when told about the EOI. Three pending requests give exactly
 * three interrupts, then the line goes quiet. */
struct devmodel {
    int resamplefd;
    int irqfd;
    unsigned int pending;
};

static void devmodel_resample(void *arg, int fd)
{
    struct devmodel *dm = arg;
    uint64_t v;
    assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
    if (dm->pending) {
        uint64_t one = 1;
        assert_int_equal(write(dm->irqfd, &one, sizeof(one)), sizeof(one));
    }
}

static void devmodel_handler(void *arg, struct irq_icu *icu, unsigned int line)
{
    struct devmodel *dm = arg;
    assert_true(dm->pending > 0);
    dm->pending--;          /* the guest serviced one request */
    irq_icu_eoi(icu, line);
}

static void test_level_resamplefd(void **state)
{
    (void)state;
    struct irq_icu *icu = irq_icu_create(4);
    struct devmodel dm = { .pending = 3 };
    dm.resamplefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct irq_source *s;
    assert_int_equal(irq_source_eventfd(dm.resamplefd, &s), 0);
    assert_int_equal(irq_icu_set_source(icu, 0, s, LEVEL), 0);
    dm.irqfd = irq_icu_source_fd(icu, 0);
    int w = irq_icu_watch_fd(icu, dm.resamplefd, devmodel_resample, &dm);
    assert_true(w >= 0);
    struct irq_cb_sink cs;
    irq_cb_sink_init(&cs, "devmodel", devmodel_handler, &dm);
    assert_int_equal(irq_icu_bind(icu, 0, &cs.sink), 0);

    signal_line(icu, 0);
    drain(icu);
    assert_int_equal(dm.pending, 0);
    struct irq_line_info li;
    irq_icu_line_info(icu, 0, &li);
    assert_int_equal(li.raised, 3);
    assert_int_equal(li.eoied, 3);
    assert_int_equal(irq_icu_unwatch_fd(icu, w), 0);
    irq_icu_destroy(icu);
    close(dm.resamplefd);
}

/* A source that never stops: each loop iteration takes one raise per line,
 * and a level line takes none until EOI. The other line keeps being served. */
static void test_flood_bounded(void **state)
{
    (void)state;
    struct irq_icu *icu = irq_icu_create(4);
    struct irq_source *s;
    assert_int_equal(irq_source_eventfd(-1, &s), 0);
    assert_int_equal(irq_icu_set_source(icu, 0, s, LEVEL), 0);
    assert_int_equal(irq_source_eventfd(-1, &s), 0);
    assert_int_equal(irq_icu_set_source(icu, 1, s, EDGE), 0);
    struct rec flood = { 0 }, other = { 0 };
    struct irq_cb_sink c0, c1;
    irq_cb_sink_init(&c0, "flood", rec_fn, &flood);
    irq_cb_sink_init(&c1, "other", rec_fn, &other);
    assert_int_equal(irq_icu_bind(icu, 0, &c0.sink), 0);
    assert_int_equal(irq_icu_bind(icu, 1, &c1.sink), 0);
    for (int i = 0; i < 50; i++) {
        signal_line(icu, 0);
        signal_line(icu, 1);
        int n = irq_icu_process(icu, 50);
        assert_true(n >= 1 && n <= 2);
    }
    assert_int_equal(flood.calls, 1);   /* held until EOI */
    assert_int_equal(other.calls, 50);
    flood.auto_eoi = true;
    assert_int_equal(irq_icu_eoi(icu, 0), 0);
    drain(icu);
    assert_int_equal(flood.calls, 2);   /* 49 coalesced signals = one raise */
    irq_icu_destroy(icu);
}

static void test_bind_rules(void **state)
{
    (void)state;
    struct irq_icu *icu = icu_with_eventfd(5, LEVEL);
    struct rec r1 = { 0 }, r2 = { 0 };
    struct irq_cb_sink a, b;
    irq_cb_sink_init(&a, "a", rec_fn, &r1);
    irq_cb_sink_init(&b, "b", rec_fn, &r2);
    assert_int_equal(irq_icu_bind(icu, 16, &a.sink), -EINVAL);
    assert_int_equal(irq_icu_bind(icu, 4, &a.sink), -ENODEV);
    assert_int_equal(irq_icu_bind(icu, 5, &a.sink), 0);
    assert_int_equal(irq_icu_bind(icu, 5, &a.sink), 0);      /* same: no-op */
    assert_int_equal(irq_icu_bind(icu, 5, &b.sink), -EEXIST);
    assert_int_equal(irq_icu_unbind(icu, 5, &b.sink), -ENOENT);

    struct irq_source *s;
    assert_int_equal(irq_source_eventfd(-1, &s), 0);
    assert_int_equal(irq_icu_set_source(icu, 5, s, LEVEL), -EBUSY);
    assert_int_equal(irq_source_eventfd(-1, &s), 0);
    struct irq_mode bad = { 7, IRQ_ACTIVE_HIGH, IRQ_ACK_UNMASK };
    assert_int_equal(irq_icu_set_source(icu, 6, s, bad), -EINVAL);
    assert_int_equal(irq_icu_set_mode(icu, 5, bad), -EINVAL);
    assert_int_equal(irq_icu_mask(icu, 99), -EINVAL);
    assert_int_equal(irq_icu_eoi(icu, 99), -EINVAL);

    /* unbind while in flight is complete: the next binding starts clean */
    signal_line(icu, 5);
    drain(icu);
    assert_int_equal(r1.calls, 1);
    assert_int_equal(irq_icu_unbind(icu, 5, &a.sink), 0);
    struct irq_line_info li;
    irq_icu_line_info(icu, 5, &li);
    assert_false(li.in_flight);
    assert_false(li.bound);
    signal_line(icu, 5);            /* arrives with nobody bound: kept */
    drain(icu);
    assert_int_equal(irq_icu_bind(icu, 5, &b.sink), 0);
    drain(icu);
    assert_int_equal(r1.calls, 1);
    assert_int_equal(r2.calls, 1);

    /* leaving level while in flight counts as the EOI */
    assert_int_equal(irq_icu_set_mode(icu, 5, EDGE), 0);
    irq_icu_line_info(icu, 5, &li);
    assert_false(li.in_flight);
    assert_int_equal(li.eoied, 1);
    irq_icu_destroy(icu);
}

static void test_timerfd(void **state)
{
    (void)state;
    struct irq_icu *icu = irq_icu_create(8);
    struct irq_source *s;
    assert_int_equal(irq_source_timerfd(500, true, &s), -EINVAL);
    assert_int_equal(irq_source_timerfd(1000000, true, &s), 0);   /* 1 ms */
    assert_int_equal(irq_icu_set_source(icu, 0, s, EDGE), 0);
    assert_int_equal(irq_source_timerfd(5000000, false, &s), 0);  /* once */
    assert_int_equal(irq_icu_set_source(icu, 1, s, LEVEL), 0);
    struct rec per = { 0 }, once = { .auto_eoi = true };
    struct irq_cb_sink c0, c1;
    irq_cb_sink_init(&c0, "periodic", rec_fn, &per);
    irq_cb_sink_init(&c1, "oneshot", rec_fn, &once);
    assert_int_equal(irq_icu_bind(icu, 0, &c0.sink), 0);
    assert_int_equal(irq_icu_bind(icu, 1, &c1.sink), 0);
    for (int i = 0; i < 40; i++)
        irq_icu_process(icu, 10);
    assert_true(per.calls >= 3);
    assert_int_equal(once.calls, 1);
    struct irq_line_info li;
    irq_icu_line_info(icu, 0, &li);
    assert_true(li.events >= li.raised);
    assert_string_equal(li.source, "timerfd:1000us");
    irq_icu_line_info(icu, 1, &li);
    assert_string_equal(li.source, "timerfd:once:5000us");
    irq_icu_destroy(icu);
}

static void test_uio_vfio_errors(void **state)
{
    (void)state;
    struct irq_source *s = NULL;
    assert_int_equal(irq_source_uio("/nonexistent/uio0", &s), -ENOENT);
    assert_int_equal(irq_source_vfio_intx(-1, &s), -EBADF);
    int efd = eventfd(0, EFD_CLOEXEC);
    /* not a VFIO device: the kernel refuses the ioctl */
    assert_int_equal(irq_source_vfio_intx(efd, &s), -ENOTTY);
    assert_int_equal(irq_source_vfio_msi(efd, true, 0, &s), -ENOTTY);
    close(efd);
    assert_null(s);
}

static void test_info(void **state)
{
    (void)state;
    struct irq_icu *icu = icu_with_eventfd(0, EDGE);
    struct irq_icu_info info;
    assert_int_equal(irq_icu_info(icu, &info), 0);
    assert_int_equal(info.nr_lines, 16);
    assert_true(info.features & IRQ_ICU_F_UNBIND);
    assert_true(info.features & IRQ_ICU_F_LEVEL);
    assert_int_equal(info.nr_msi, 0);
    struct irq_msi_info mi;
    assert_int_equal(irq_icu_msi_info(icu, 0, &mi), -EINVAL);
    assert_int_equal(irq_icu_msi_info(icu, 1, &mi), -EINVAL);
    assert_int_equal(irq_icu_msi_info(icu, 100, &mi), -EINVAL);
    assert_null(irq_icu_create(0));
    assert_null(irq_icu_create(IRQ_MAX_LINES + 1));
    irq_icu_destroy(icu);
}

static char *format_to_string(struct irq_icu *icu)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(irq_icu_format(icu, f), 0);
    fclose(f);
    return text;
}

static void test_format(void **state)
{
    (void)state;
    struct irq_icu *icu = icu_with_eventfd(7, LEVEL);
    struct irq_source *s;
    assert_int_equal(irq_source_timerfd(1000000000, true, &s), 0);
    assert_int_equal(irq_icu_set_source(icu, 9, s, EDGE), 0);
    struct rec r = { 0 };
    struct irq_cb_sink cs;
    irq_cb_sink_init(&cs, "console", rec_fn, &r);
    assert_int_equal(irq_icu_bind(icu, 7, &cs.sink), 0);
    signal_line(icu, 7);
    drain(icu);
    assert_int_equal(irq_icu_mask(icu, 9), 0);

    char *t = format_to_string(icu);
    /* header, line 7 (bound, in flight), line 9 (masked, unbound) */
    assert_non_null(strstr(t, "LINE"));
    assert_non_null(strstr(t, "BINDINGS"));
    char want7[256];
    snprintf(want7, sizeof(want7), "%-5u %-24s %-17s %-6s %-6s %10u %10u %10u %8u  %s",
             7u, "eventfd", "level-high/unmask", "no", "yes", 1u, 1u, 0u, 0u,
             "callback: dom0 console");
    assert_non_null(strstr(t, want7));
    char *l9 = strstr(t, "\n9 ");
    assert_non_null(l9);
    assert_non_null(strstr(l9, "timerfd:1000000us"));
    assert_non_null(strstr(l9, "masked"));
    assert_non_null(strstr(l9, "(unbound)"));
    assert_null(strstr(t, "\n8 "));     /* lines with nothing are left out */
    free(t);

    irq_icu_eoi(icu, 7);
    t = format_to_string(icu);
    snprintf(want7, sizeof(want7), "%-5u %-24s %-17s %-6s %-6s %10u %10u %10u",
             7u, "eventfd", "level-high/unmask", "no", "no", 1u, 1u, 1u);
    assert_non_null(strstr(t, want7));
    free(t);
    irq_icu_destroy(icu);

    icu = irq_icu_create(2);
    t = format_to_string(icu);
    assert_non_null(strstr(t, "(no host lines configured)"));
    free(t);
    irq_icu_destroy(icu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_delivery),
        cmocka_unit_test(test_mask_loses_nothing),
        cmocka_unit_test(test_level_eoi),
        cmocka_unit_test(test_level_resamplefd),
        cmocka_unit_test(test_flood_bounded),
        cmocka_unit_test(test_bind_rules),
        cmocka_unit_test(test_timerfd),
        cmocka_unit_test(test_uio_vfio_errors),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

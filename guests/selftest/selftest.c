/*
 * Self-test of the guest runtime against the real hypervisor: the IRQ
 * layer's rules and flows (seed 003) on real event channels (IPIs to
 * ourselves, loopback inter-domain channels), the XenStore client and Xen
 * time (pvclock, a singleshot timer's VIRQ_TIMER waking SCHEDOP_block, the
 * wallclock). One line per check; exit 0 only if all pass.
 *
 * Command line (besides the runtime's): only=time runs the time checks
 * alone; hostnow=SECONDS (the host's clock at launch) makes the wallclock
 * check compare with the host's.
 */
#include <guest/guest.h>
#include <guest/check.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <guest/irq.h>
#include <guest/xenbus.h>

#define E(x) (-(long)XEN_##x)

struct counter {
    volatile int hits;
    volatile int irqs_on;     /* interrupts were enabled in the handler */
    volatile int resend;      /* send to ourselves this many more times */
    int irq;
};

static irqreturn_t count_handler(int irq, void *dev_id)
{
    struct counter *c = dev_id;

    c->hits++;
    c->irqs_on = cpu_irqs_enabled();
    if (c->resend > 0) {
        c->resend--;
        /* Stay in the handler until the event we send ourselves has come
         * back (edge: a nested upcall defers it) or a while has passed
         * (level: it stays masked until we return). */
        unsigned long before = irq_get_desc(irq)->deferred;
        notify_remote_via_irq(irq);
        for (int i = 0; i < 300 && irq_get_desc(irq)->deferred == before; i++)
            HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    }
    return IRQ_HANDLED;
}

static int want_hits;
static struct counter *want_c;

static bool reached(void *arg)
{
    (void)arg;
    return want_c->hits >= want_hits;
}

/* Wait until c->hits >= n, bounded by a number of yields so a lost event
 * is a FAIL instead of a hang. */
static void wait_hits(struct counter *c, int n)
{
    want_c = c;
    want_hits = n;
    for (int i = 0; i < 20000 && !reached(NULL); i++)
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
}

/* Let pending upcalls run: a few yields with interrupts enabled. */
static void settle(void)
{
    for (int i = 0; i < 50; i++)
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
}

static long port_status(evtchn_port_t port)
{
    struct evtchn_status st = { .dom = DOMID_SELF, .port = port };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_status, &st);
    return rc ? rc : (long)st.status;
}

static void test_request_rules(void)
{
    static struct counter a, b;
    int irq;

    check_eq("request_irq on an unbound IRQ", request_irq(DYNIRQ_BASE + 5, count_handler, 0, "x", &a),
             E(ENOSYS));
    check_eq("request_irq out of range", request_irq(NR_IRQS, count_handler, 0, "x", &a), E(EINVAL));

    irq = bind_ipi_to_irqhandler(0, 0, count_handler, 0, "ipi-a", &a);
    check_eq("bind_ipi_to_irqhandler", irq >= 0, 1);
    a.irq = irq;
    check_eq("IRQF_SHARED without dev_id", request_irq(irq, count_handler, IRQF_SHARED, "x", NULL),
             E(EINVAL));
    check_eq("NULL handler", request_irq(irq, NULL, 0, "x", &b), E(EINVAL));
    check_eq("second handler, neither shared", request_irq(irq, count_handler, 0, "b", &b), E(EBUSY));
    check_eq("second handler, only the new one shared",
             request_irq(irq, count_handler, IRQF_SHARED, "b", &b), E(EBUSY));
    unbind_from_irqhandler(irq, &a);

    a.hits = b.hits = 0;
    irq = bind_ipi_to_irqhandler(1, 0, count_handler, IRQF_SHARED, "ipi-a", &a);
    check_eq("bind shared handler a", irq >= 0, 1);
    check_eq("share with handler b (both IRQF_SHARED)",
             request_irq(irq, count_handler, IRQF_SHARED, "b", &b), 0);
    check_eq("send_ipi", send_ipi(0, 1), 0);
    wait_hits(&b, 1);
    check_eq("shared IRQ: handler a ran", a.hits, 1);
    check_eq("shared IRQ: handler b ran", b.hits, 1);
    check_eq("free_irq with an unknown dev_id", free_irq(irq, (void *)&test_request_rules), E(ENOENT));
    check_eq("free_irq(a)", free_irq(irq, &a), 0);
    check_eq("send_ipi after freeing a", send_ipi(0, 1), 0);
    wait_hits(&b, 2);
    check_eq("only b ran", a.hits * 10 + b.hits, 12);
    evtchn_port_t port = evtchn_from_irq(irq);
    unbind_from_irqhandler(irq, &b);
    check_eq("IPI port closed by unbind", port_status(port), EVTCHNSTAT_closed);
}

static void test_flows(void)
{
    static struct counter e, l, d, q;
    int irq;

    /* Edge: the handler (interrupts on) sends to itself; the nested upcall
     * finds the IRQ in progress and the running instance replays it. */
    irq = bind_ipi_to_irqhandler(2, 0, count_handler, 0, "edge", &e);
    e.resend = 1;
    send_ipi(0, 2);
    wait_hits(&e, 2);
    settle();
    const struct irq_desc *desc = irq_get_desc(irq);
    check_eq("edge: handler ran twice", e.hits, 2);
    check_eq("edge: handler ran with interrupts enabled", e.irqs_on, 1);
    check_eq("edge: second event replayed while in progress", (long)desc->replays, 1);
    unbind_from_irqhandler(irq, &e);

    /* Level: the handler's own send stays pending behind the mask and is
     * delivered again by the unmask at the end, not nested. */
    irq = bind_ipi_to_irqhandler(2, 0, count_handler, 0, "level", &l);
    check_eq("irq_set_flow(level)", irq_set_flow(irq, IRQ_FLOW_LEVEL), 0);
    l.resend = 1;
    send_ipi(0, 2);
    wait_hits(&l, 2);
    settle();
    desc = irq_get_desc(irq);
    check_eq("level: handler ran twice", l.hits, 2);
    check_eq("level: no replay (masked while running)", (long)desc->replays, 0);
    unbind_from_irqhandler(irq, &l);

    /* IRQF_DISABLED: handler runs with interrupts off. */
    irq = bind_ipi_to_irqhandler(3, 0, count_handler, IRQF_DISABLED, "quiet", &q);
    send_ipi(0, 3);
    wait_hits(&q, 1);
    check_eq("IRQF_DISABLED: handler ran", q.hits, 1);
    check_eq("IRQF_DISABLED: interrupts were off", q.irqs_on, 0);
    unbind_from_irqhandler(irq, &q);

    /* disable_irq: an event is held (PENDING) and replayed by enable_irq. */
    irq = bind_ipi_to_irqhandler(3, 0, count_handler, 0, "disabled", &d);
    disable_irq(irq);
    send_ipi(0, 3);
    settle();
    check_eq("disabled IRQ: handler did not run", d.hits, 0);
    enable_irq(irq);
    wait_hits(&d, 1);
    check_eq("enable_irq delivered the held event", d.hits, 1);
    unbind_from_irqhandler(irq, &d);
}

static void test_bindings(void)
{
    static struct counter v, i1, i2;

    /* VIRQ: bind, and the port is a VIRQ port; unbind closes it. */
    int irq = bind_virq_to_irqhandler(VIRQ_DEBUG, 0, count_handler, 0, "virq", &v);
    check_eq("bind_virq_to_irqhandler(VIRQ_DEBUG)", irq >= 0, 1);
    evtchn_port_t port = evtchn_from_irq(irq);
    check_eq("VIRQ port status", port_status(port), EVTCHNSTAT_virq);
    unbind_from_irqhandler(irq, &v);
    check_eq("VIRQ port closed by unbind", port_status(port), EVTCHNSTAT_closed);

    /* Loopback inter-domain channel through the IRQ layer both ways. */
    struct evtchn_alloc_unbound au = { .dom = DOMID_SELF, .remote_dom = DOMID_SELF };
    check_eq("alloc_unbound(self)", HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &au), 0);
    int irq1 = bind_evtchn_to_irqhandler(au.port, count_handler, 0, "lo-a", &i1);
    int irq2 = bind_interdomain_evtchn_to_irqhandler(DOMID_SELF, au.port, count_handler, 0,
                                                     "lo-b", &i2);
    check_eq("bind_interdomain_evtchn_to_irqhandler(self)", irq2 >= 0, 1);
    wait_hits(&i2, 1);    /* the notification bind_interdomain leaves */
    check_eq("bind_interdomain left the local port pending", i2.hits, 1);
    check_eq("notify_remote_via_irq", notify_remote_via_irq(irq2), 0);
    wait_hits(&i1, 1);
    check_eq("the other end's handler ran", i1.hits, 1);
    check_eq("notify back", notify_remote_via_irq(irq1), 0);
    wait_hits(&i2, 2);
    check_eq("and back", i2.hits, 2);
    evtchn_port_t p2 = evtchn_from_irq(irq2);
    unbind_from_irqhandler(irq2, &i2);
    check_eq("interdomain port closed by unbind", port_status(p2), EVTCHNSTAT_closed);
    check_eq("the peer went back to unbound", port_status(au.port), EVTCHNSTAT_unbound);
    unbind_from_irqhandler(irq1, &i1);
    check_eq("caller's port left open by unbind", port_status(au.port), EVTCHNSTAT_unbound);
    struct evtchn_close cl = { .port = au.port };
    HYPERVISOR_event_channel_op(EVTCHNOP_close, &cl);
}

/* FIFO: events are taken from the highest-priority ready queue first. */
static int order[4], norder;

static irqreturn_t order_handler(int irq, void *dev_id)
{
    (void)irq;
    if (norder < 4)
        order[norder++] = (int)(uintptr_t)dev_id;
    return IRQ_HANDLED;
}

static void test_fifo_priority(void)
{
    if (evtchn_abi() != EVTCHN_ABI_FIFO)
        return;
    int lo = bind_ipi_to_irqhandler(0, 0, order_handler, 0, "low", (void *)1);
    int hi = bind_ipi_to_irqhandler(1, 0, order_handler, 0, "high", (void *)2);
    struct evtchn_set_priority sp = { .port = evtchn_from_irq(lo),
                                      .priority = EVTCHN_FIFO_PRIORITY_MIN };
    check_eq("set_priority(low port, 15)", HYPERVISOR_event_channel_op(EVTCHNOP_set_priority, &sp), 0);
    sp = (struct evtchn_set_priority){ .port = evtchn_from_irq(hi),
                                       .priority = EVTCHN_FIFO_PRIORITY_MAX };
    check_eq("set_priority(high port, 0)", HYPERVISOR_event_channel_op(EVTCHNOP_set_priority, &sp), 0);
    /* Raise low, then high, with interrupts off: one upcall sees both. */
    cpu_cli();
    send_ipi(0, 0);
    send_ipi(0, 1);
    cpu_sti();
    settle();
    check_eq("FIFO: two events handled", norder, 2);
    check_eq("FIFO: the priority-0 queue went first", order[0] * 10 + order[1], 21);
    unbind_from_irqhandler(lo, (void *)1);
    unbind_from_irqhandler(hi, (void *)2);
}

static void test_xenstore(void)
{
    char buf[256], path[96], token[16];
    int rc;

    if (!xs_available()) {
        check_eq("XenStore available", 0, 1);
        return;
    }
    check_eq("write data/selftest/a", xs_write(XBT_NIL, "data/selftest/a", "1"), 0);
    check_eq("write data/selftest/b", xs_write(XBT_NIL, "data/selftest/b", "hello"), 0);
    check_eq("read data/selftest/b", xs_read(XBT_NIL, "data/selftest/b", buf, sizeof(buf)), 5);
    check_eq("value", strcmp(buf, "hello"), 0);
    rc = xs_directory(XBT_NIL, "data/selftest", buf, sizeof(buf));
    check_eq("directory data/selftest has 2 entries", rc, 2);
    check_eq("directory names", rc == 2 && ((strcmp(buf, "a") == 0 && strcmp(buf + 2, "b") == 0) ||
                                         (strcmp(buf, "b") == 0 && strcmp(buf + 2, "a") == 0)), 1);
    check_eq("read a missing node", xs_read(XBT_NIL, "data/selftest/none", buf, sizeof(buf)),
             -2 /* ENOENT */);

    /* Watch: the registration event, then one for our write. */
    check_eq("watch data/selftest", xs_watch("data/selftest", "tok"), 0);
    check_eq("initial watch event", xs_read_watch(path, sizeof(path), token, sizeof(token)), 0);
    check_eq("initial event token", strcmp(token, "tok"), 0);
    check_eq("write data/selftest/c", xs_write(XBT_NIL, "data/selftest/c", "x"), 0);
    check_eq("watch event for the write", xs_read_watch(path, sizeof(path), token, sizeof(token)), 0);
    /* A relative watch reports relative paths (docs/misc/xenstore.txt). */
    check_eq("event path is data/selftest/c", strcmp(path, "data/selftest/c"), 0);
    check_eq("unwatch", xs_unwatch("data/selftest", "tok"), 0);

    /* Transactions: a conflicting commit makes the other one EAGAIN. */
    xs_transaction_t t1, t2;
    check_eq("transaction_start t1", xs_transaction_start(&t1), 0);
    check_eq("t1 reads a", xs_read(t1, "data/selftest/a", buf, sizeof(buf)), 1);
    check_eq("t1 writes a", xs_write(t1, "data/selftest/a", "t1"), 0);
    check_eq("transaction_start t2", xs_transaction_start(&t2), 0);
    check_eq("t2 writes a", xs_write(t2, "data/selftest/a", "t2"), 0);
    check_eq("commit t2", xs_transaction_end(t2, 0), 0);
    check_eq("commit t1 conflicts", xs_transaction_end(t1, 0), -11 /* EAGAIN */);
    xs_read(XBT_NIL, "data/selftest/a", buf, sizeof(buf));
    check_eq("a holds t2's value", strcmp(buf, "t2"), 0);
    check_eq("transaction_start t3", xs_transaction_start(&t1), 0);
    check_eq("t3 writes a", xs_write(t1, "data/selftest/a", "t3"), 0);
    check_eq("abort t3", xs_transaction_end(t1, 1), 0);
    xs_read(XBT_NIL, "data/selftest/a", buf, sizeof(buf));
    check_eq("abort left a alone", strcmp(buf, "t2"), 0);
    check_eq("rm data/selftest", xs_rm(XBT_NIL, "data/selftest"), 0);
    check_eq("gone", xs_read(XBT_NIL, "data/selftest/a", buf, sizeof(buf)), -2);
}

/* Xen system time from a vcpu_time_info, as Linux's pvclock reads it. */
static uint64_t pvclock_read(const volatile struct vcpu_time_info *t)
{
    uint32_t v;
    uint64_t ns;

    do {
        v = t->version;
        __asm__ __volatile__("" ::: "memory");
        uint64_t delta = cpu_rdtsc() - t->tsc_timestamp;
        int8_t shift = t->tsc_shift;
        if (shift < 0)
            delta >>= -shift;
        else
            delta <<= shift;
        /* (delta * mul) >> 32 without a 128-bit type (i386 has none) */
        ns = t->system_time + (delta >> 32) * t->tsc_to_system_mul +
             (((delta & 0xffffffffu) * t->tsc_to_system_mul) >> 32);
        __asm__ __volatile__("" ::: "memory");
    } while ((v & 1) || v != t->version);
    return ns;
}

static irqreturn_t timer_handler(int irq, void *dev_id)
{
    (void)irq;
    ((struct counter *)dev_id)->hits++;
    return IRQ_HANDLED;
}

static void test_time(void)
{
    static struct counter t;
    struct xen_feature_info fi = { .submap_idx = 0 };
    const volatile struct vcpu_time_info *ti = &evtchn_vcpu_info()->time;

    check_eq("get_features", HYPERVISOR_xen_version(XENVER_get_features, &fi), 0);
    check_eq("XENFEAT_hvm_safe_pvclock offered", !!(fi.submap & (1u << XENFEAT_hvm_safe_pvclock)), 1);
    check_eq("pvclock: tsc_to_system_mul set", ti->tsc_to_system_mul != 0, 1);
    check_eq("pvclock: TSC stable", !!(ti->flags & XEN_PVCLOCK_TSC_STABLE_BIT), 1);
    if (!ti->tsc_to_system_mul)
        return;
    int irq = bind_virq_to_irqhandler(VIRQ_TIMER, 0, timer_handler, 0, "timer", &t);
    check_eq("bind VIRQ_TIMER", irq >= 0, 1);
    check_eq("stop_periodic_timer", HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL), 0);
    uint64_t t0 = pvclock_read(ti);
    struct vcpu_set_singleshot_timer past = { .timeout_abs_ns = t0 / 2,
                                              .flags = VCPU_SSHOTTMR_future };
    check_eq("singleshot in the past, future flag", HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &past),
             E(ETIME));
    /* A loaded host may deschedule this vCPU for longer than 20 ms
     * between the clock read and the call: then the deadline has passed
     * and Xen answers -ETIME, rightly. Take a fresh deadline then, a few
     * times; without a timer set, blocking would never end. */
    struct vcpu_set_singleshot_timer st = { .flags = VCPU_SSHOTTMR_future };
    long rc;
    int tries = 0;
    do {
        t0 = pvclock_read(ti);
        st.timeout_abs_ns = t0 + 20000000ull;
        rc = HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &st);
    } while (rc == E(ETIME) && ++tries < 10);
    check_eq("set_singleshot_timer(+20 ms)", rc, 0);
    if (rc != 0) {
        unbind_from_irqhandler(irq, &t);
        return;
    }
    /* Block with interrupts off until the handler has run: each
     * SCHEDOP_block returns when an upcall is pending, the sti;nop;cli
     * window takes it. */
    cpu_cli();
    while (!t.hits) {
        HYPERVISOR_sched_op(SCHEDOP_block, NULL);
        __asm__ __volatile__("sti; nop; cli" ::: "memory");
    }
    cpu_sti();
    uint64_t t1 = pvclock_read(ti);
    check_eq("VIRQ_TIMER handled once", t.hits, 1);
    check_eq("system time advanced by at least 20 ms", t1 - t0 >= 20000000ull, 1);
    check_eq("stop_singleshot_timer", HYPERVISOR_vcpu_op(VCPUOP_stop_singleshot_timer, 0, NULL), 0);
    unbind_from_irqhandler(irq, &t);

    /* The wallclock: wc_* is the time at system time 0. */
    volatile struct shared_info *si = HYPERVISOR_shared_info;
    uint32_t v;
    uint64_t sec;
    do {
        v = si->wc_version;
        __asm__ __volatile__("" ::: "memory");
        sec = ((uint64_t)si->xen_wc_sec_hi << 32 | si->wc_sec) + pvclock_read(ti) / 1000000000ull;
        __asm__ __volatile__("" ::: "memory");
    } while ((v & 1) || v != si->wc_version);
    long host = guest_cmdline_int("hostnow", 0);
    if (host > 0)
        check_eq("wallclock within a day of the host's",
                 sec + 86400 > (uint64_t)host && sec < (uint64_t)host + 86400, 1);
    else
        check_eq("wallclock after 2020", sec > 1577836800ull, 1);
}

int guest_main(const char *cmdline)
{
    char only[16];
    (void)cmdline;
    printk("selftest: %s ABI\n", evtchn_abi() == EVTCHN_ABI_FIFO ? "FIFO" : "2-level");
    if (guest_cmdline_get("only", only, sizeof(only)) && strcmp(only, "time") == 0) {
        test_time();
        return check_summary("selftest");
    }
    test_time();
    test_request_rules();
    test_flows();
    test_bindings();
    test_fifo_priority();
    test_xenstore();
    return check_summary("selftest");
}

/*
 * guests/pirq: a host interrupt line as a Xen PIRQ event channel (seed 003),
 * through guest/pirq.c. Command line:
 *
 *   mode=count    (default) map gsi=N, bind (share=1: IRQF_SHARED, i.e.
 *                 BIND_PIRQ__WILL_SHARE), count count=K interrupts, EOI each
 *                 (hold=M: keep each EOI back for M ticks, so a shared level
 *                 line stays in flight), report; publish=1 writes
 *                 data/pirq-bound (readable by all) once bound;
 *                 crash_inflight=1 dies (SHUTDOWN_crash) with the first
 *                 interrupt still in flight; waitdom=D binds only once
 *                 domain D published data/pirq-bound; after=D counts only
 *                 the interrupts that come once D has; second=1 adds a
 *                 second (shared) handler inside the guest; exact=1: the
 *                 line has ack type EOI, so EOIs must equal interrupts.
 *   mode=mask     a masked port loses nothing: mask, wait until the host
 *                 marked it pending, check no handler ran, unmask, check the
 *                 handler ran (for the edge line gsi= and the level line
 *                 level=).
 *   mode=close    close the port, then unmap the PIRQ, each while an
 *                 interrupt is in flight; the line must come back both times.
 *   mode=errors   every errno of docs/irq.md as seen by a guest; gsi= is a
 *                 granted line, ungranted= one that is not, busy= a line
 *                 another domain (busydom=) bound without sharing.
 *   mode=iomem    read the host MMIO page mapped at gfn= (hex), write the
 *                 complement of its first word into the second.
 *   mode=ioapic   the irqfd path: pin=P of the virtual IOAPIC, vector 0x40,
 *                 level-triggered; count=K interrupts, LAPIC EOI each.
 *
 * tick=T is a granted edge line (a periodic timerfd) used as the clock for
 * hold= and for the time limits (limit=, in ticks, default 5000).
 * Output: "ok: ..." / "FAIL: ..." lines (guest/check.h), the summary
 * "pirq: N checks, P passed, F failed" and exit code 0/1.
 */
#include <guest/guest.h>
#include <guest/check.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <guest/irq.h>
#include <guest/pirq.h>
#include <guest/ioapic.h>
#include <guest/xenbus.h>
#include <xen/physdev.h>

static inline int physdev_op(int cmd, void *arg)
{
    return (int)_HC(__HYPERVISOR_physdev_op, cmd, arg, 0, 0, 0);
}

static volatile unsigned long ticks;
static volatile unsigned long count;
static int tick_irq = -1;
static long limit;

static irqreturn_t tick_handler(int irq, void *dev)
{
    (void)irq;
    (void)dev;
    ticks++;
    return IRQ_HANDLED;
}

static irqreturn_t count_handler(int irq, void *dev)
{
    (void)irq;
    (void)dev;
    count++;
    return IRQ_HANDLED;
}

/* A second handler on the same PIRQ (shared inside the guest too). */
static volatile unsigned long count2;
static irqreturn_t count2_handler(int irq, void *dev)
{
    (void)irq;
    (void)dev;
    count2++;
    return IRQ_NONE;     /* "not my device": the others still run */
}

struct wait_arg {
    const volatile unsigned long *v;
    unsigned long target;
    unsigned long deadline;
};

static bool reached(void *p)
{
    struct wait_arg *w = p;
    return *w->v >= w->target || ticks >= w->deadline;
}

/* Wait until *v >= target or `lim` ticks pass (no ticks: no limit). */
static bool wait_for(const volatile unsigned long *v, unsigned long target,
                     long lim)
{
    struct wait_arg w = { v, target, tick_irq >= 0 ? ticks + (unsigned long)lim
                                                   : ~0ul };
    guest_wait_until(reached, &w);
    return *v >= target;
}

static int start_tick(void)
{
    long t = guest_cmdline_int("tick", -1);
    if (t < 0)
        return 0;
    int p = pirq_map_gsi((unsigned int)t, -1);
    if (p < 0) {
        printk("pirq: FAIL cannot map tick line %ld: %d\n", t, p);
        return -1;
    }
    tick_irq = bind_pirq_to_irqhandler((unsigned int)p, tick_handler,
                                       IRQF_SHARED, "tick", (void *)&ticks);
    if (tick_irq < 0) {
        printk("pirq: FAIL cannot bind tick line %ld: %d\n", t, tick_irq);
        return -1;
    }
    return 0;
}

/* Map gsi and bind count_handler; returns the IRQ or -1 (reported). */
static int bind_line(long gsi, unsigned int flags, int *pirq_out)
{
    int p = pirq_map_gsi((unsigned int)gsi, -1);
    if (p < 0) {
        printk("pirq: FAIL map_pirq gsi %ld: %d\n", gsi, p);
        return -1;
    }
    int irq = bind_pirq_to_irqhandler((unsigned int)p, count_handler, flags,
                                      "line", (void *)&count);
    if (irq < 0) {
        printk("pirq: FAIL bind_pirq pirq %d (gsi %ld): %d\n", p, gsi, irq);
        return -1;
    }
    if (pirq_out)
        *pirq_out = p;
    return irq;
}

/* Wait until key exists, or existed: the watch's first event is its
 * registration, a second one on the key means it was written since (its
 * domain may be gone again by the time we read). */
static bool key_wait(const char *key)
{
    char val[8], ev[128], tok[16];
    bool ok = false;
    int events = 0;
    for (int n = 0; n < 256; n++) {
        if (xs_read(XBT_NIL, key, val, sizeof(val)) >= 0 || events >= 2) {
            ok = true;
            break;
        }
        if (xs_read_watch(ev, sizeof(ev), tok, sizeof(tok)))
            break;
        if (!strcmp(tok, "k") && !strcmp(ev, key))
            events++;
    }
    xs_unwatch(key, "k");
    return ok;
}

/* Watch first when the key may come and go before we look. */
static bool key_seen(const char *key)
{
    return xs_watch(key, "k") == 0 && key_wait(key);
}

static int mode_count(void)
{
    long gsi = guest_cmdline_int("gsi", -1);
    long want = guest_cmdline_int("count", 10);
    long hold = guest_cmdline_int("hold", 0);
    bool share = guest_cmdline_int("share", 0) != 0;
    bool crash = guest_cmdline_int("crash_inflight", 0) != 0;
    bool second = guest_cmdline_int("second", 0) != 0;
    /* the line's ack type is EOI (host file ack=eoi): EOIs must match */
    bool exact = guest_cmdline_int("exact", 0) != 0;
    long waitdom = guest_cmdline_int("waitdom", -1);
    if (waitdom >= 0) {
        /* bind only after that domain has (its data/pirq-bound) */
        char key[64];
        snprintf(key, sizeof(key), "/local/domain/%ld/data/pirq-bound", waitdom);
        check_got(key_seen(key), "the other sharer bound first", 0, 1);
    }
    int pirq;
    /* from before the bind: the first interrupt may be handled inside it */
    unsigned long eois = pirq_stats.eois;
    int irq = bind_line(gsi, share ? IRQF_SHARED : 0, &pirq);
    if (irq < 0)
        return 1;
    unsigned long before_second = 0;
    if (second) {
        /* with IF=0: no interrupt between the snapshot and the attach */
        cpu_cli();
        before_second = count;
        int r2 = bind_pirq_to_irqhandler((unsigned int)pirq, count2_handler,
                                         IRQF_SHARED, "line2", (void *)&count2);
        cpu_sti();
        if (r2 != irq) {
            printk("pirq: FAIL second handler on pirq %d: %d\n", pirq, r2);
            return 1;
        }
    }
    bool level = pirq_needs_eoi(irq);
    printk("pirq: bound gsi %ld pirq %d port %u irq %d (%s%s, EOI bitmap %s)\n",
           gsi, pirq, evtchn_from_irq(irq), irq, level ? "level" : "edge",
           share ? ", will share" : "", pirq_eoi_map_active() ? "on" : "off");
    long after = guest_cmdline_int("after", -1);
    char after_key[64];
    bool after_watch = false;
    if (after >= 0) {
        /* watch before we publish: the other one binds (and may die) as
         * soon as it sees our key */
        snprintf(after_key, sizeof(after_key),
                 "/local/domain/%ld/data/pirq-bound", after);
        after_watch = xs_watch(after_key, "k") == 0;
    }
    if (guest_cmdline_int("publish", 0) && xs_available()) {
        /* owner: us; everybody else may read (the errors guest waits) */
        char owner[16];
        snprintf(owner, sizeof(owner), "r%d", guest_domid());
        const char *pv[1] = { owner };
        if (xs_write(XBT_NIL, "data/pirq-bound", "1") ||
            xs_set_perms(XBT_NIL, "data/pirq-bound", pv, 1))
            printk("pirq: cannot publish data/pirq-bound\n");
    }
    if (crash || hold)
        pirq_defer_eoi(irq, true);
    unsigned long base = 0;
    if (after >= 0) {
        /* count only what comes once domain `after` has bound too */
        check_got(after_watch && key_wait(after_key), "the other sharer bound", 0, 1);
        base = count;
        printk("pirq: domain %ld bound; counting from interrupt %lu\n", after,
               base);
    }
    /* served: interrupts this loop has finished with (held and EOI'd);
     * the next one may already have arrived while we held the last one */
    for (unsigned long served = base; (long)(served - base) < want; served++) {
        if (!wait_for(&count, served + 1, limit)) {
            const struct irq_desc *dd = irq_get_desc(irq);
            printk("pirq: FAIL gsi %ld: %lu of %ld interrupts within %ld "
                   "ticks (irq %d: do_IRQ %lu, deferred %lu, status %#x; port "
                   "%u pending %d masked %d; EOI bit %d)\n", gsi, count - base, want,
                   limit, irq, dd->count, dd->deferred, dd->status,
                   evtchn_from_irq(irq), evtchn_is_pending(evtchn_from_irq(irq)),
                   evtchn_is_masked(evtchn_from_irq(irq)), pirq_eoi(irq));
            return 1;
        }
        if (crash) {
            printk("pirq: dying with gsi %ld in flight\n", gsi);
            guest_exit(3);
        }
        if (hold) {
            unsigned long t = ticks;
            wait_for(&ticks, t + (unsigned long)hold, hold + 1);
            int e = pirq_eoi(irq);
            if (e <= 0)
                printk("pirq: held interrupt %lu: EOI %s (%d)\n", count,
                       e == 0 ? "not needed" : "failed", e);
        }
    }
    /* One snapshot: no handler is half-way while we run with IF=0. */
    cpu_cli();
    unsigned long n = count, n2 = count2;
    eois = pirq_stats.eois - eois;
    cpu_sti();
    printk("pirq: gsi %ld pirq %d port %u %s: %lu interrupts, %lu EOIs%s\n",
           gsi, pirq, evtchn_from_irq(irq), level ? "level" : "edge", n,
           eois, pirq_shared(irq) ? " (shared)" : "");
    check_got((long)(n - base) >= want, "interrupts counted", (long)(n - base), want);
    /* Level: each interrupt EOI'd exactly once (held ones: the latest may
     * still wait for its EOI); edge: never. */
    if (level && !pirq_eoi_map_active())
        /* needs_eoi alone: every interrupt, plus startup's one */
        check_got(eois >= n && eois <= n + 1, "PHYSDEVOP_eoi for every level "
                  "interrupt", (long)eois, (long)n);
    else if (level && exact && !hold)
        /* +1: startup EOIs an interrupt that arrived during the bind, and
         * the next one may then coalesce with its still pending event */
        check_got(eois >= n && eois <= n + 1, "one EOI per level interrupt",
                  (long)eois, (long)n);
    else if (level && exact)
        check_got(eois + 1 >= n && eois <= n, "one EOI per level interrupt "
                  "(the last may be held)", (long)eois, (long)n);
    else if (level)
        /* ack type UNMASK: the unmask of a port with a new interrupt
         * pending already counts as its EOI, and the host clears our bit */
        check_got(eois <= n, "no EOI the host did not ask for", (long)eois,
                  (long)n);
    else
        check_got(eois == 0, "edge line needs no EOI", (long)eois, 0);
    if (second)
        check_got(n2 == n - before_second, "second handler ran for every "
                  "interrupt since it was attached", (long)n2,
                  (long)(n - before_second));
    unbind_pirq_irqhandler(irq, (void *)&count);
    return 0;
}

/* Masked port: the host's interrupt waits as a pending bit. */
static void mask_one(long gsi, const char *what)
{
    int irq = bind_line(gsi, 0, NULL);
    if (!check_got(irq >= 0, "bind the line to mask", irq, 0))
        return;
    evtchn_port_t port = evtchn_from_irq(irq);
    wait_for(&count, 1, limit);
    disable_irq(irq);
    unsigned long c0 = count, t0 = ticks;
    /* the line fires again while we are masked */
    while (!evtchn_is_pending(port) && ticks < t0 + (unsigned long)limit)
        cpu_safe_halt();
    char msg[96];
    snprintf(msg, sizeof(msg), "%s: host marked the masked port pending", what);
    check_got(evtchn_is_pending(port), msg, 0, 1);
    snprintf(msg, sizeof(msg), "%s: no handler ran while masked", what);
    check_got(count == c0, msg, (long)count, (long)c0);
    enable_irq(irq);
    snprintf(msg, sizeof(msg), "%s: the interrupt arrived after unmask", what);
    /* EVTCHNOP_unmask re-delivers the pending event; the upcall may take
     * an instant (a tick at most). On a level line with ack=eoi nothing
     * else can explain it: we have not EOI'd, so the host sent nothing new. */
    check_got(wait_for(&count, c0 + 1, 5), msg, (long)count, (long)c0 + 1);
    unbind_pirq_irqhandler(irq, (void *)&count);
    count = 0;
}

static int mode_mask(void)
{
    mask_one(guest_cmdline_int("gsi", -1), "edge");
    long lv = guest_cmdline_int("level", -1);
    if (lv >= 0)
        mask_one(lv, "level");
    return 0;
}

static int mode_close(void)
{
    long gsi = guest_cmdline_int("gsi", -1);
    int pirq;
    int irq = bind_line(gsi, 0, &pirq);
    if (irq < 0)
        return 1;
    pirq_defer_eoi(irq, true);
    check_got(wait_for(&count, 1, limit), "first interrupt (held in flight)",
              (long)count, 1);
    /* close while in flight: the host counts it as our EOI */
    unbind_pirq_irqhandler(irq, (void *)&count);
    irq = bind_pirq_to_irqhandler((unsigned int)pirq, count_handler, 0, "line",
                                  (void *)&count);
    check_got(irq >= 0, "rebind after close", irq, 0);
    if (irq < 0)
        return 1;
    pirq_defer_eoi(irq, true);
    check_got(wait_for(&count, 2, limit), "line came back after close in flight",
              (long)count, 2);
    /* unmap while in flight: Xen force-unbinds, the line is released */
    int rc = pirq_unmap((unsigned int)pirq);
    check_got(rc == 0, "unmap_pirq while bound and in flight", rc, 0);
    unbind_pirq_irqhandler(irq, (void *)&count);   /* closes the dead port */
    irq = bind_line(gsi, 0, &pirq);
    check_got(irq >= 0, "map and bind again after unmap", irq, 0);
    if (irq < 0)
        return 1;
    check_got(wait_for(&count, 3, limit), "line came back after unmap in flight",
              (long)count, 3);
    unbind_pirq_irqhandler(irq, (void *)&count);
    return 0;
}

static int mode_errors(void)
{
    long gsi = guest_cmdline_int("gsi", -1);
    long ungranted = guest_cmdline_int("ungranted", -1);
    long busy = guest_cmdline_int("busy", -1);
    long busydom = guest_cmdline_int("busydom", -1);
    int rc;

    rc = pirq_map_gsi((unsigned int)ungranted, -1);
    check_got(rc == -XEN_EPERM, "map_pirq of a line not granted: EPERM", rc, -XEN_EPERM);
    rc = pirq_map_gsi(5000, -1);
    check_got(rc == -XEN_EINVAL, "map_pirq of a line the host lacks: EINVAL", rc, -XEN_EINVAL);
    rc = pirq_map_gsi((unsigned int)gsi, 100000);
    check_got(rc == -XEN_EINVAL, "map_pirq to PIRQ 100000: EINVAL", rc, -XEN_EINVAL);
    struct physdev_map_pirq m = { .domid = DOMID_SELF, .type = MAP_PIRQ_TYPE_MSI,
                                  .index = (int)gsi, .pirq = -1 };
    rc = physdev_op(PHYSDEVOP_map_pirq, &m);
    check_got(rc == -XEN_EINVAL, "map_pirq type MSI: EINVAL", rc, -XEN_EINVAL);
    m = (struct physdev_map_pirq){ .domid = 0, .type = MAP_PIRQ_TYPE_GSI,
                                   .index = (int)gsi, .pirq = -1 };
    rc = physdev_op(PHYSDEVOP_map_pirq, &m);
    check_got(rc == -XEN_EPERM, "map_pirq for domain 0 (not privileged): EPERM", rc, -XEN_EPERM);

    struct evtchn_bind_pirq bp = { .pirq = 200, .flags = BIND_PIRQ__WILL_SHARE };
    rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_pirq, &bp);
    check_got(rc == -XEN_EPERM, "bind_pirq of an unmapped PIRQ: EPERM", rc, -XEN_EPERM);
    bp.pirq = 100000;
    rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_pirq, &bp);
    check_got(rc == -XEN_EINVAL, "bind_pirq of PIRQ 100000: EINVAL", rc, -XEN_EINVAL);

    int p = pirq_map_gsi((unsigned int)gsi, -1);
    check_got(p >= 16, "map_pirq of a granted line", p, 16);
    rc = pirq_map_gsi((unsigned int)gsi, p);
    check_got(rc == p, "the same mapping again: same PIRQ", rc, p);
    rc = pirq_map_gsi((unsigned int)gsi, p + 1);
    check_got(rc == -XEN_EEXIST, "the line mapped to another PIRQ: EEXIST", rc, -XEN_EEXIST);
    bp = (struct evtchn_bind_pirq){ .pirq = (uint32_t)p, .flags = BIND_PIRQ__WILL_SHARE };
    rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_pirq, &bp);
    check_got(rc == 0, "bind_pirq of the mapped PIRQ", rc, 0);
    evtchn_port_t port = bp.port;
    rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_pirq, &bp);
    check_got(rc == -XEN_EEXIST, "bind_pirq again: EEXIST", rc, -XEN_EEXIST);
    struct evtchn_close cl = { .port = port };
    HYPERVISOR_event_channel_op(EVTCHNOP_close, &cl);

    struct physdev_eoi e = { .irq = 201 };
    rc = physdev_op(PHYSDEVOP_eoi, &e);
    check_got(rc == -XEN_EINVAL, "eoi of an unmapped PIRQ: EINVAL", rc, -XEN_EINVAL);
    struct physdev_irq_status_query q = { .irq = 201 };
    rc = physdev_op(PHYSDEVOP_irq_status_query, &q);
    check_got(rc == -XEN_EINVAL, "irq_status_query of an unmapped PIRQ: EINVAL", rc, -XEN_EINVAL);
    rc = pirq_unmap(201);
    check_got(rc == -XEN_EINVAL, "unmap_pirq of an unmapped PIRQ: EINVAL", rc, -XEN_EINVAL);
    /* far beyond RAM: 2^40 frames, or 2^28 (1 TiB) in i386's 32-bit xen_pfn_t */
    struct physdev_pirq_eoi_gmfn g = { .gmfn = (xen_pfn_t)1 << (BITS_PER_LONG == 64 ? 40 : 28) };
    rc = physdev_op(PHYSDEVOP_pirq_eoi_gmfn_v2, &g);
    check_got(rc == -XEN_EINVAL, "pirq_eoi_gmfn_v2 of a frame that is not RAM: EINVAL", rc, -XEN_EINVAL);
    check_got(pirq_eoi_map_active(), "pirq_eoi_gmfn_v2 of a RAM page", 0, 1);
    rc = pirq_eoi_map_init();
    check_got(rc == -XEN_EBUSY, "pirq_eoi_gmfn_v2 a second time: EBUSY", rc, -XEN_EBUSY);
    rc = physdev_op(PHYSDEVOP_set_iopl, &e);
    check_got(rc == -XEN_ENOSYS, "a PHYSDEVOP the router does not serve: ENOSYS", rc, -XEN_ENOSYS);

    if (busy >= 0 && busydom >= 0) {
        char key[64];
        snprintf(key, sizeof(key), "/local/domain/%ld/data/pirq-bound", busydom);
        check_got(key_seen(key), "the other domain bound its line", 0, 1);
        int bpq = pirq_map_gsi((unsigned int)busy, -1);
        check_got(bpq >= 0, "map_pirq of the other domain's line", bpq, 0);
        bp = (struct evtchn_bind_pirq){ .pirq = (uint32_t)bpq,
                                        .flags = BIND_PIRQ__WILL_SHARE };
        rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_pirq, &bp);
        check_got(rc == -XEN_EBUSY, "bind_pirq where the first binder refused to share: EBUSY",
                  rc, -XEN_EBUSY);
        bp.flags = 0;
        rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_pirq, &bp);
        check_got(rc == -XEN_EBUSY, "bind_pirq without sharing on a bound line: EBUSY",
                  rc, -XEN_EBUSY);
    }
    return 0;
}

/* The irqfd -> virtual IOAPIC path: the host line drives pin P. */
static volatile unsigned long ioapic_count;
static void ioapic_handler(void)
{
    ioapic_count++;
}

static int mode_ioapic(void)
{
    long pin = guest_cmdline_int("pin", -1);
    long want = guest_cmdline_int("count", 10);
    bool level = guest_cmdline_int("edge", 0) == 0;
    int rc = ioapic_route((unsigned int)pin, 0x40, level, ioapic_handler);
    if (rc) {
        printk("pirq: FAIL ioapic pin %ld: %d\n", pin, rc);
        return 1;
    }
    printk("pirq: IOAPIC pin %ld -> vector 0x40 (%s)\n", pin,
           level ? "level" : "edge");
    bool ok = wait_for(&ioapic_count, (unsigned long)want, limit);
    printk("pirq: ioapic pin %ld: %lu interrupts\n", pin, ioapic_count);
    check_got(ok, "IOAPIC pin interrupts counted", (long)ioapic_count, want);
    ioapic_mask((unsigned int)pin);
    return 0;
}

/* iomem=: host MMIO mapped at guest frame gfn= (hex); read the word the
 * host put at offset 0, answer at offset 4 with its complement. */
static int mode_iomem(void)
{
    char buf[24];
    uint64_t gfn = 0;
    if (!guest_cmdline_get("gfn", buf, sizeof(buf)))
        return 1;
    for (const char *p = buf; *p; p++)
        gfn = gfn * 16 + (uint64_t)(*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
    volatile uint32_t *w = (volatile uint32_t *)(uintptr_t)(gfn << 12);
    uint32_t v = w[0];
    printk("pirq: iomem frame %lx word 0 = %#x\n", (unsigned long)gfn, v);
    w[1] = ~v;
    check_got(v != 0 && v != 0xffffffffu, "host MMIO page readable", (long)v, 1);
    return 0;
}

int guest_main(const char *cmdline)
{
    char mode[16] = "count";
    (void)cmdline;
    guest_cmdline_get("mode", mode, sizeof(mode));
    limit = guest_cmdline_int("limit", 5000);
    /* noeoimap=1: EOI by irq_status_query's needs_eoi alone */
    if (!guest_cmdline_int("noeoimap", 0)) {
        int rc = pirq_eoi_map_init();
        if (rc)
            printk("pirq: FAIL EOI bitmap not registered: %d\n", rc);
    }
    if (start_tick())
        return 1;
    int rc;
    if (!strcmp(mode, "count"))
        rc = mode_count();
    else if (!strcmp(mode, "mask"))
        rc = mode_mask();
    else if (!strcmp(mode, "close"))
        rc = mode_close();
    else if (!strcmp(mode, "errors"))
        rc = mode_errors();
    else if (!strcmp(mode, "ioapic"))
        rc = mode_ioapic();
    else if (!strcmp(mode, "iomem"))
        rc = mode_iomem();
    else {
        printk("pirq: FAIL unknown mode '%s'\n", mode);
        return 1;
    }
    int failed = check_summary("pirq");
    return rc || failed ? 1 : 0;
}

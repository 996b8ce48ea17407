/*
 * bench_irq_guests: host interrupts into real KVM guests (guests/pirq),
 * all measured in one run:
 *
 *   baseline  eventfd -> ICU -> domain-0 callback sink -> EOI (no guest)
 *   pirq      eventfd -> ICU -> Xen PIRQ event channel -> guest handler ->
 *             PHYSDEVOP_eoi (EOI bitmap) -> ICU EOI
 *   ioapic    eventfd -> ICU -> KVM irqfd -> virtual IOAPIC pin (level) ->
 *             guest handler -> LAPIC EOI -> KVM resamplefd -> ICU EOI
 *
 * Each round writes the line's eventfd and waits until the line's EOI
 * reaches the source (the eventfd source's resample fd, which the ICU
 * signals at every EOI of a level line): source -> handler -> EOI and back.
 * Then two guests share one level line that is always asserted (a 1 us
 * timerfd): sustained interrupts per second, each one EOI'd by both.
 *
 * usage: bench_irq_guests [ROUNDS]  (default 2000). Prints p50/p99 and
 * ratios to the baseline; asserts nothing about time.
 */
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xenkvm/irq.h"
#include "xenkvm/vmm.h"

#ifndef PIRQ_GUEST
#error "PIRQ_GUEST: path of guests/pirq"
#endif

enum { L_BASE = 1, L_PIRQ = 2, L_IOAPIC = 3, L_SHARED = 4, NR_LINES = 8 };

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void base_eoi(void *arg, struct irq_icu *icu, unsigned int line)
{
    (void)arg;
    irq_icu_eoi(icu, line);
}

struct fig {
    double p50, p99;  /* us */
    unsigned int lost;
};

/* rounds of: write the source, wait for its resample fd. */
static struct fig measure(struct irq_icu *icu, unsigned int line, int resample,
                          unsigned int rounds)
{
    struct fig f = { 0, 0, 0 };
    int fd = irq_icu_source_fd(icu, line);
    uint64_t *t = calloc(rounds, sizeof(*t));
    unsigned int n = 0;
    for (unsigned int i = 0; t && i < rounds; i++) {
        uint64_t v = 1;
        uint64_t t0 = now_ns();
        if (write(fd, &v, sizeof(v)) != sizeof(v))
            break;
        struct pollfd p = { .fd = resample, .events = POLLIN };
        if (poll(&p, 1, 2000) != 1) {
            f.lost++;        /* no EOI within 2 s: counted, not timed */
            continue;
        }
        t[n++] = now_ns() - t0;
        if (read(resample, &v, sizeof(v)) < 0) {
            /* the next poll would just return at once */
        }
    }
    if (n) {
        qsort(t, n, sizeof(*t), cmp_u64);
        f.p50 = (double)t[n / 2] / 1000.0;
        f.p99 = (double)t[(size_t)((double)n * 0.99)] / 1000.0;
    }
    free(t);
    return f;
}

static bool line_bound(struct irq_icu *icu, unsigned int line)
{
    struct irq_line_info li;
    return irq_icu_line_info(icu, line, &li) == 0 && li.bound;
}

int main(int argc, char **argv)
{
    unsigned int rounds = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 10) : 2000;
    if (rounds < 10)
        rounds = 10;
    struct irq_icu *icu = irq_icu_create(NR_LINES);
    int rs[4] = { -1, -1, -1, -1 };
    struct irq_mode level = { .trigger = IRQ_LEVEL, .ack = IRQ_ACK_EOI };
    for (unsigned int l = L_BASE; l <= L_IOAPIC; l++) {
        struct irq_source *s;
        rs[l] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (!icu || rs[l] < 0 || irq_source_eventfd(rs[l], &s) ||
            irq_icu_set_source(icu, l, s, level)) {
            fprintf(stderr, "bench_irq_guests: cannot set up line %u\n", l);
            return 1;
        }
    }
    struct irq_source *ts;
    if (irq_source_timerfd(1000, true, &ts) ||
        irq_icu_set_source(icu, L_SHARED, ts, level)) {
        fprintf(stderr, "bench_irq_guests: cannot set up the shared line\n");
        return 1;
    }
    struct irq_cb_sink cb;
    irq_cb_sink_init(&cb, "bench", base_eoi, NULL);
    irq_icu_bind(icu, L_BASE, &cb.sink);

    FILE *con = fopen("/dev/null", "w");
    char err[512];
    char sock[64];
    snprintf(sock, sizeof(sock), "/tmp/xenkvm-bench-irq-%d.sock", (int)getpid());
    struct vmm_host_config hc = { .console = con, .quiet = true, .icu = icu,
                                  .store_socket = sock };
    struct vmm_host *h = vmm_host_create(&hc, err, sizeof(err));
    if (!h) {
        if (strstr(err, "/dev/kvm") || strstr(err, "KVM")) {
            printf("SKIP: /dev/kvm not available (%s)\n", err);
            return 77;
        }
        fprintf(stderr, "bench_irq_guests: %s\n", err);
        return 1;
    }
    uint32_t g_pirq[] = { L_PIRQ }, g_shared[] = { L_SHARED };
    struct config_pin pin = { .line = L_IOAPIC, .pin = 17 };
    struct vmm_domain_config dc[4] = {
        { .name = "pirq", .mem_bytes = 16 << 20, .kernel = PIRQ_GUEST,
          .cmdline = "gsi=2 count=1000000000 exact=1",
          .irq = { .grants = g_pirq, .nr_grants = 1 } },
        { .name = "ioapic", .mem_bytes = 16 << 20, .kernel = PIRQ_GUEST,
          .cmdline = "mode=ioapic pin=17 count=1000000000",
          .irq = { .pins = &pin, .nr_pins = 1 } },
        { .name = "shareA", .mem_bytes = 16 << 20, .kernel = PIRQ_GUEST,
          .cmdline = "gsi=4 share=1 count=1000000000",
          .irq = { .grants = g_shared, .nr_grants = 1 } },
        { .name = "shareB", .mem_bytes = 16 << 20, .kernel = PIRQ_GUEST,
          .cmdline = "gsi=4 share=1 count=1000000000",
          .irq = { .grants = g_shared, .nr_grants = 1 } },
    };
    struct vmm_domain *d[4];
    for (int i = 0; i < 2; i++)
        if (vmm_domain_create(h, &dc[i], &d[i], err, sizeof(err)) ||
            vmm_domain_start(d[i])) {
            fprintf(stderr, "bench_irq_guests: %s\n", err);
            vmm_host_destroy(h);
            return 1;
        }
    /* the guests bind their line (PIRQ) / program the pin at boot */
    uint64_t until = now_ns() + 10000000000ull;
    while (!line_bound(icu, L_PIRQ) && now_ns() < until)
        usleep(1000);
    usleep(200000);     /* the IOAPIC pin: the guest programs it after boot */

    printf("host interrupt -> guest handler -> EOI -> host, %u rounds each "
           "(us, CLOCK_MONOTONIC)\n", rounds);
    struct fig base = measure(icu, L_BASE, rs[L_BASE], rounds);
    struct fig pirq = measure(icu, L_PIRQ, rs[L_PIRQ], rounds);
    struct fig ioapic = measure(icu, L_IOAPIC, rs[L_IOAPIC], rounds);
    printf("  %-38s p50 %9.1f  p99 %9.1f%s\n", "baseline: ICU + dom0 callback",
           base.p50, base.p99, base.lost ? "  (rounds without EOI!)" : "");
    printf("  %-38s p50 %9.1f  p99 %9.1f   x%.1f baseline  (%u lost)\n",
           "PIRQ event channel (EOI bitmap)", pirq.p50, pirq.p99,
           base.p50 > 0 ? pirq.p50 / base.p50 : 0, pirq.lost);
    printf("  %-38s p50 %9.1f  p99 %9.1f   x%.1f baseline  (%u lost)\n",
           "irqfd -> IOAPIC pin (resamplefd)", ioapic.p50, ioapic.p99,
           base.p50 > 0 ? ioapic.p50 / base.p50 : 0, ioapic.lost);
    if (ioapic.p50 > 0)
        printf("  PIRQ / IOAPIC p50 ratio: %.2f\n", pirq.p50 / ioapic.p50);

    /* sustained: two guests share the always-asserted level line */
    for (int i = 2; i < 4; i++)
        if (vmm_domain_create(h, &dc[i], &d[i], err, sizeof(err)) ||
            vmm_domain_start(d[i])) {
            fprintf(stderr, "bench_irq_guests: %s\n", err);
            vmm_host_destroy(h);
            return 1;
        }
    until = now_ns() + 10000000000ull;
    for (;;) {
        struct irq_line_info li;
        irq_icu_line_info(icu, L_SHARED, &li);
        if ((li.bound && strstr(li.bindings, "dom3") && strstr(li.bindings, "dom4"))
            || now_ns() > until)
            break;
        usleep(1000);
    }
    usleep(100000);
    struct irq_line_info a, b;
    irq_icu_line_info(icu, L_SHARED, &a);
    uint64_t t0 = now_ns();
    sleep(2);
    irq_icu_line_info(icu, L_SHARED, &b);
    double s = (double)(now_ns() - t0) / 1e9;
    double rate = (double)(b.eoied - a.eoied) / s;
    printf("shared level line, 2 guests, source always asserted (%.1f s):\n", s);
    printf("  %.0f interrupts/s completed (both EOI'd), %.0f guest "
           "notifications/s, %.0f source events/s coalesced\n", rate,
           (double)(b.delivered - a.delivered) / s,
           (double)(b.events - a.events) / s);
    if (pirq.p50 > 0)
        printf("  x%.2f of one guest's serial PIRQ round-trip rate (%.0f/s)\n",
               rate / (1e6 / pirq.p50), 1e6 / pirq.p50);
    for (int i = 0; i < 4; i++)
        vmm_domain_kill(d[i]);
    vmm_host_wait_timeout(h, 2000);
    vmm_host_destroy(h);
    for (int l = L_BASE; l <= L_IOAPIC; l++)
        close(rs[l]);
    fclose(con);
    return 0;
}

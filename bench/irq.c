/*
 * bench/irq: the host side of the PIRQ path, without a VMM yet.
 *
 * A "guest" is a thread that blocks on its vCPU kick (the evtchn core's
 * kick_vcpu hook writes an eventfd, as the VMM would inject the upcall),
 * finds its PIRQ port pending in the real 2-level shared_info, clears it
 * and issues PHYSDEVOP_eoi. The source is a real eventfd line; the ICU loop
 * runs on its own thread. Figures:
 *   1. latency source -> guest handler and source -> EOI done (p50, p99),
 *      level line, one guest;
 *   2. sustained interrupts per second on a level line shared by two
 *      guests, the device model re-asserting at each EOI (resamplefd);
 * each next to a baseline measured in the same run: a plain eventfd
 * round trip between two threads (the floor of any cross-thread wakeup).
 * The irqfd -> IOAPIC path needs a running guest to EOI and is left for
 * when the VMM lands (see docs/irq.md).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/irq.h"

#define LINE 3
#define ROUNDS 3000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void efd_write(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof(one)) != sizeof(one))
        abort();
}

static void efd_read(int fd)
{
    uint64_t v;
    if (read(fd, &v, sizeof(v)) != sizeof(v))
        abort();
}

struct guest {
    domid_t dom;
    uint32_t pirq;
    evtchn_port_t port;
    int kickfd;               /* blocking eventfd: the vCPU's upcall */
    int donefd;               /* tells the device the EOI is done (or -1) */
    uint64_t t_handler;       /* when the handler saw the event */
    atomic_ulong handled;
    atomic_bool stop;
    pthread_t th;
};

struct bench {
    struct irq_icu *icu;
    struct irq_pirq *r;
    struct evtchn_host *h;
    struct guest g[3];
    atomic_bool stop_loop;
    int resamplefd, srcfd;
};

static struct bench B;

static void hook_kick(void *o, domid_t d, uint32_t v)
{
    (void)o;
    (void)v;
    efd_write(B.g[d].kickfd);
}

static bool take_pending(domid_t d, evtchn_port_t port)
{
    struct shared_info *si = evtchn_domain_shared_info(B.h, d);
    const unsigned int bits = sizeof(xen_ulong_t) * 8;
    xen_ulong_t bit = (xen_ulong_t)1 << (port % bits);
    return __atomic_fetch_and(&si->evtchn_pending[port / bits], ~bit,
                              __ATOMIC_SEQ_CST) & bit;
}

static void *guest_main(void *arg)
{
    struct guest *g = arg;
    for (;;) {
        efd_read(g->kickfd);
        if (atomic_load(&g->stop))
            return NULL;
        /* the upcall: clear the selector, scan our port */
        struct shared_info *si = evtchn_domain_shared_info(B.h, g->dom);
        __atomic_store_n(&si->vcpu_info[0].evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&si->vcpu_info[0].evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
        if (!take_pending(g->dom, g->port))
            continue;
        g->t_handler = now_ns();
        atomic_fetch_add(&g->handled, 1);
        struct physdev_eoi e = { .irq = g->pirq };
        irq_pirq_physdev_op(B.r, g->dom, PHYSDEVOP_eoi, &e);
        if (g->donefd >= 0)
            efd_write(g->donefd);
    }
}

static void *loop_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&B.stop_loop))
        irq_icu_process(B.icu, 50);
    return NULL;
}

/* The device model of the sustained run: re-assert at every EOI. */
static void devmodel_resample(void *arg, int fd)
{
    (void)arg;
    efd_read(fd);
    efd_write(B.srcfd);
}

static void setup(bool resample)
{
    memset(&B, 0, sizeof(B));
    B.icu = irq_icu_create(8);
    B.resamplefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct irq_source *s;
    irq_source_eventfd(resample ? B.resamplefd : -1, &s);
    struct irq_mode m = { IRQ_LEVEL, IRQ_ACTIVE_HIGH, IRQ_ACK_EOI };
    irq_icu_set_source(B.icu, LINE, s, m);
    B.srcfd = irq_icu_source_fd(B.icu, LINE);
    struct evtchn_platform_ops ops = {
        .kick_vcpu = hook_kick,
    };
    B.h = evtchn_host_create(&ops, NULL);
    B.r = irq_pirq_create(B.icu, B.h, NULL, NULL);
    for (domid_t d = 1; d <= 2; d++) {
        struct evtchn_domain_config c = { .domid = d, .max_vcpus = 1 };
        evtchn_domain_create(B.h, &c);
        irq_pirq_domain_add(B.r, d, false, 0);
        irq_pirq_grant(B.r, d, LINE, true);
        struct guest *g = &B.g[d];
        g->dom = d;
        g->kickfd = eventfd(0, EFD_CLOEXEC);
        g->donefd = -1;
        struct physdev_map_pirq mp = { .domid = DOMID_SELF,
            .type = MAP_PIRQ_TYPE_GSI, .index = LINE, .pirq = -1 };
        irq_pirq_physdev_op(B.r, d, PHYSDEVOP_map_pirq, &mp);
        g->pirq = (uint32_t)mp.pirq;
        struct evtchn_bind_pirq bp = { .pirq = g->pirq, .flags = BIND_PIRQ__WILL_SHARE };
        if (evtchn_do_op(B.h, d, 0, EVTCHNOP_bind_pirq, &bp) != 0) {
            fprintf(stderr, "bench irq: bind_pirq failed\n");
            exit(1);
        }
        g->port = bp.port;
    }
    if (resample)
        irq_icu_watch_fd(B.icu, B.resamplefd, devmodel_resample, NULL);
}

static void start(int nguests, pthread_t *loop)
{
    for (int d = 1; d <= nguests; d++)
        pthread_create(&B.g[d].th, NULL, guest_main, &B.g[d]);
    pthread_create(loop, NULL, loop_main, NULL);
}

static void teardown(int nguests, pthread_t loop)
{
    atomic_store(&B.stop_loop, true);
    pthread_join(loop, NULL);
    for (int d = 1; d <= nguests; d++) {
        atomic_store(&B.g[d].stop, true);
        efd_write(B.g[d].kickfd);
        pthread_join(B.g[d].th, NULL);
    }
    for (domid_t d = 1; d <= 2; d++) {
        evtchn_domain_destroy(B.h, d);
        irq_pirq_domain_remove(B.r, d);
        close(B.g[d].kickfd);
        if (B.g[d].donefd >= 0)
            close(B.g[d].donefd);
    }
    irq_pirq_destroy(B.r);
    evtchn_host_destroy(B.h);
    irq_icu_destroy(B.icu);
    close(B.resamplefd);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, int n, int p)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_u64);
    return v[(n - 1) * p / 100];
}

/* Baseline: eventfd round trip between two threads. */
static int pp_a, pp_b;
static pthread_t pp_th;

static void *pong_main(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t v;
        if (read(pp_a, &v, sizeof(v)) != sizeof(v) || v > 1)
            return NULL;
        efd_write(pp_b);
    }
}

static void pong_start(void)
{
    pp_a = eventfd(0, EFD_CLOEXEC);
    pp_b = eventfd(0, EFD_CLOEXEC);
    pthread_create(&pp_th, NULL, pong_main, NULL);
}

static uint64_t pong_round(void)
{
    uint64_t t0 = now_ns();
    efd_write(pp_a);
    efd_read(pp_b);
    return now_ns() - t0;
}

static double pong_rate(double seconds)
{
    uint64_t t0 = now_ns(), count = 0;
    while (now_ns() - t0 < (uint64_t)(seconds * 1e9)) {
        pong_round();
        count++;
    }
    return (double)count * 1e9 / (double)(now_ns() - t0);
}

static void pong_stop(void)
{
    uint64_t stop = 2;                    /* > 1 tells pong to quit */
    if (write(pp_a, &stop, sizeof(stop)) != sizeof(stop))
        abort();
    pthread_join(pp_th, NULL);
    close(pp_a);
    close(pp_b);
}

int main(void)
{
    static uint64_t base[ROUNDS], handler[ROUNDS], eoi[ROUNDS];
    /* The machine is shared: baseline and measured rounds are interleaved
     * so both see the same load. */
    pong_start();

    /* 1. latency, one guest on a level line */
    pthread_t loop;
    setup(false);
    B.g[1].donefd = eventfd(0, EFD_CLOEXEC);
    start(1, &loop);
    /* dom2 is bound too but has no thread: take it off the line */
    struct evtchn_close cl = { .port = B.g[2].port };
    evtchn_do_op(B.h, 2, 0, EVTCHNOP_close, &cl);
    for (int i = 0; i < ROUNDS; i++) {
        base[i] = pong_round();
        uint64_t t0 = now_ns();
        efd_write(B.srcfd);
        efd_read(B.g[1].donefd);
        eoi[i] = now_ns() - t0;
        handler[i] = B.g[1].t_handler - t0;
    }
    teardown(1, loop);

    /* 2. sustained, two guests sharing, device re-asserting at each EOI;
     * the baseline rate is taken just before and just after */
    double base_rate = pong_rate(0.5);
    setup(true);
    start(2, &loop);
    efd_write(B.srcfd);
    usleep(100000);
    struct irq_line_info a, z;
    irq_icu_line_info(B.icu, LINE, &a);
    uint64_t t0 = now_ns();
    usleep(1000000);
    irq_icu_line_info(B.icu, LINE, &z);
    double secs = (double)(now_ns() - t0) / 1e9;
    unsigned long h1 = atomic_load(&B.g[1].handled), h2 = atomic_load(&B.g[2].handled);
    teardown(2, loop);
    base_rate = (base_rate + pong_rate(0.5)) / 2;
    pong_stop();
    double rate = (double)(z.raised - a.raised) / secs;

    uint64_t b50 = pct(base, ROUNDS, 50), b99 = pct(base, ROUNDS, 99);
    uint64_t h50 = pct(handler, ROUNDS, 50), h99 = pct(handler, ROUNDS, 99);
    uint64_t e50 = pct(eoi, ROUNDS, 50), e99 = pct(eoi, ROUNDS, 99);
    printf("baseline eventfd round trip (2 threads): p50 %.1f us  p99 %.1f us  %.0f/s\n",
           b50 / 1e3, b99 / 1e3, base_rate);
    printf("pirq level, source -> handler:            p50 %.1f us  p99 %.1f us  (%.2fx / %.2fx baseline)\n",
           h50 / 1e3, h99 / 1e3, (double)h50 / (double)b50, (double)h99 / (double)b99);
    printf("pirq level, source -> EOI done:           p50 %.1f us  p99 %.1f us  (%.2fx / %.2fx baseline)\n",
           e50 / 1e3, e99 / 1e3, (double)e50 / (double)b50, (double)e99 / (double)b99);
    printf("pirq level shared by 2 guests, sustained: %.0f interrupts/s (%.2fx baseline round trips/s); "
           "handled %lu + %lu\n", rate, rate / base_rate, h1, h2);
    return 0;
}

/*
 * Interrupt-driven parts of the VMM's test guest: IDT, LAPIC, shared_info
 * and the 2-level upcall scan, the "events" self-checks and the two halves
 * of a guest-to-guest event ping-pong used by tests and bench/pingpong.
 */
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>

#include "tg.h"

#define UPCALL_VECTOR 0xf3
#define LAPIC_SVR 0xfee000f0ull
#define LAPIC_EOI 0xfee000b0ull
#define LAPIC_ISR0 0xfee00100ull

struct idt_gate {
    uint16_t off0, sel;
    uint8_t ist, type;
    uint16_t off1;
    uint32_t off2, zero;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));
static uint8_t shinfo_page[4096] __attribute__((aligned(4096)));
static struct shared_info *const shinfo = (struct shared_info *)shinfo_page;

extern void tg_isr_stub(void);
void tg_isr(void);

static volatile uint64_t upcalls, port_hits[64];
static void (*volatile on_port)(evtchn_port_t port);
/* The per-vCPU upcall vector goes through the LAPIC and is EOI'd; the
 * legacy HVM_PARAM_CALLBACK_IRQ vector is not (Xen injects it directly,
 * Linux sends no EOI for it). */
static volatile int upcall_eoi = 1;

/* histogram of round trips: 64-cycle buckets */
#define HBUCKETS TG_HBUCKETS
uint32_t tg_hist[TG_HBUCKETS + 1];
uint64_t tg_hist_total;
#define hist tg_hist
#define hist_total tg_hist_total

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static void mmio_write32(uint64_t addr, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)addr = v;
}

static uint32_t mmio_read32(uint64_t addr)
{
    return *(volatile uint32_t *)(uintptr_t)addr;
}

void tg_isr(void)
{
    struct vcpu_info *vi = &shinfo->vcpu_info[0];
    vi->evtchn_upcall_pending = 0;
    uint64_t sel = __atomic_exchange_n(&vi->evtchn_pending_sel, 0,
                                       __ATOMIC_SEQ_CST);
    while (sel) {
        unsigned int w = (unsigned int)__builtin_ctzll(sel);
        sel &= sel - 1;
        uint64_t pend = shinfo->evtchn_pending[w] & ~shinfo->evtchn_mask[w];
        while (pend) {
            unsigned int b = (unsigned int)__builtin_ctzll(pend);
            pend &= pend - 1;
            __atomic_fetch_and(&shinfo->evtchn_pending[w], ~(1ull << b),
                               __ATOMIC_SEQ_CST);
            evtchn_port_t port = w * 64 + b;
            if (port < 64)
                port_hits[port]++;
            if (on_port)
                on_port(port);
        }
    }
    upcalls++;
    if (upcall_eoi)
        mmio_write32(LAPIC_EOI, 0);
}

static long evtchn_op(unsigned int cmd, void *arg)
{
    return tg_hcall(__HYPERVISOR_event_channel_op, cmd,
                    (uint64_t)(uintptr_t)arg, 0);
}

static long send(evtchn_port_t p)
{
    struct evtchn_send s = { .port = p };
    return evtchn_op(EVTCHNOP_send, &s);
}

/* IDT gate for the upcall, LAPIC on, shared_info mapped, vector set
 * (per-vCPU vector, or the legacy CALLBACK_IRQ one). */
static void setup_events_via(int legacy)
{
    uint64_t a = (uint64_t)(uintptr_t)tg_isr_stub;
    idt[UPCALL_VECTOR] = (struct idt_gate){ (uint16_t)a, 0x08, 0, 0x8e,
                                            (uint16_t)(a >> 16),
                                            (uint32_t)(a >> 32), 0 };
    struct { uint16_t lim; uint64_t base; } __attribute__((packed)) d =
        { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" :: "m"(d));
    mmio_write32(LAPIC_SVR, 0x1ff);            /* software-enable the LAPIC */

    struct xen_add_to_physmap x = { .domid = DOMID_SELF,
        .space = XENMAPSPACE_shared_info, .idx = 0,
        .gpfn = (uint64_t)(uintptr_t)shinfo_page >> 12 };
    tg_check(tg_hcall(__HYPERVISOR_memory_op, XENMEM_add_to_physmap,
                      (uint64_t)(uintptr_t)&x, 0) == 0,
             "add_to_physmap(shared_info)");
    if (legacy) {
        upcall_eoi = 0;
        struct xen_hvm_param p = { .domid = DOMID_SELF,
            .index = HVM_PARAM_CALLBACK_IRQ,
            .value = ((uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56) |
                     UPCALL_VECTOR };
        tg_check(tg_hcall(__HYPERVISOR_hvm_op, HVMOP_set_param,
                          (uint64_t)(uintptr_t)&p, 0) == 0,
                 "set_param(CALLBACK_IRQ, vector)");
        return;
    }
    struct xen_hvm_evtchn_upcall_vector u = { .vcpu = 0,
                                              .vector = UPCALL_VECTOR };
    tg_check(tg_hcall(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector,
                      (uint64_t)(uintptr_t)&u, 0) == 0,
             "set_evtchn_upcall_vector");
}

static void setup_events(void)
{
    setup_events_via(0);
}

/*
 * "unmask [legacy] [cli] N": N times mask an IPI port, send to it, and
 * unmask it with EVTCHNOP_unmask, with interrupts enabled (or disabled
 * around the call and enabled by STI after it). Xen re-raises the pending
 * event inside the hypercall and the vCPU takes the upcall before its next
 * instruction with IF=1, so the handler must have run when the call (or
 * the STI and the one instruction in its shadow) is done: the volatile
 * counter is read right there. "late" counts rounds where it
 * had not (the upcall came later), "lost" rounds where it never came.
 */
void tg_unmask_now(int legacy, int irqs_off, uint64_t rounds)
{
    setup_events_via(legacy);
    struct evtchn_bind_ipi ipi = { .vcpu = 0 };
    tg_check(evtchn_op(EVTCHNOP_bind_ipi, &ipi) == 0, "unmask: bind_ipi");
    evtchn_port_t port = ipi.port;
    uint64_t bit = 1ull << (port % 64);
    uint64_t *mask = (uint64_t *)&shinfo->evtchn_mask[port / 64];
    struct evtchn_unmask um = { .port = port };
    uint64_t late = 0, lost = 0, early = 0, bad_rc = 0;
    __asm__ volatile("sti");
    for (uint64_t i = 0; i < rounds; i++) {
        __atomic_fetch_or(mask, bit, __ATOMIC_SEQ_CST);
        uint64_t before = port_hits[port % 64];
        send(port);
        if (port_hits[port % 64] != before)
            early++;                   /* delivered through the mask */
        before = port_hits[port % 64];
        long rc;
        uint64_t after;
        if (irqs_off) {
            /* Unmasked with IF=0 (as under a spin_lock_irqsave): the
             * upcall is due as soon as STI's one-instruction shadow ends. */
            __asm__ volatile("cli");
            rc = evtchn_op(EVTCHNOP_unmask, &um);
            __asm__ volatile("sti; nop" ::: "memory");
        } else {
            rc = evtchn_op(EVTCHNOP_unmask, &um);
        }
        after = port_hits[port % 64];            /* the very next read */
        if (rc)
            bad_rc++;
        if (after == before) {
            late++;
            for (int j = 0; j < 100000 && port_hits[port % 64] == before; j++)
                __asm__ volatile("pause");
            if (port_hits[port % 64] == before)
                lost++;
        }
        if (lost > 3)
            break;                      /* delivery is stuck: stop early */
    }
    tg_put_dec("unmask: rounds ", rounds);
    tg_put_dec("unmask: late ", late);
    tg_put_dec("unmask: lost ", lost);
    tg_check(bad_rc == 0, "unmask: EVTCHNOP_unmask returns 0");
    tg_check(early == 0, "unmask: no upcall while masked");
    tg_check(late == 0, "unmask: upcall taken before the next instruction");
    tg_check(lost == 0, "unmask: every re-raised event delivered");
    if (legacy) {
        /* Xen injects the CALLBACK_IRQ vector itself, never through the
         * LAPIC, and we send it no EOI: it must not sit in the ISR, where
         * it would hold back every later interrupt of its class. */
        uint32_t isr = mmio_read32(LAPIC_ISR0 + (UPCALL_VECTOR / 32) * 0x10);
        tg_check(!(isr & (1u << (UPCALL_VECTOR % 32))),
                 "unmask: legacy vector not in the LAPIC's ISR");
    }
}

void tg_events(void)
{
    setup_events();
    struct xen_hvm_evtchn_upcall_vector bad = { .vcpu = 0, .vector = 5 };
    tg_check(tg_hcall(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector,
                      (uint64_t)(uintptr_t)&bad, 0) == -22,
             "upcall vector < 0x10: -EINVAL");
    bad = (struct xen_hvm_evtchn_upcall_vector){ .vcpu = 9, .vector = 0x40 };
    tg_check(tg_hcall(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector,
                      (uint64_t)(uintptr_t)&bad, 0) == -2,
             "upcall vector of a missing vCPU: -ENOENT");

    struct evtchn_bind_ipi ipi = { .vcpu = 0 };
    tg_check(evtchn_op(EVTCHNOP_bind_ipi, &ipi) == 0, "bind_ipi");
    __asm__ volatile("sti");
    tg_check(send(ipi.port) == 0, "send to own IPI port");
    for (int i = 0; i < 1000 && !port_hits[ipi.port]; i++)
        __asm__ volatile("pause");
    tg_check(port_hits[ipi.port] == 1, "IPI upcall delivered once");

    /* masked: no upcall; unmask re-delivers */
    struct evtchn_unmask um = { .port = ipi.port };
    __atomic_fetch_or(&shinfo->evtchn_mask[0], 1ull << ipi.port,
                      __ATOMIC_SEQ_CST);
    send(ipi.port);
    for (int i = 0; i < 1000; i++)
        __asm__ volatile("pause");
    tg_check(port_hits[ipi.port] == 1, "masked port: no upcall");
    tg_check(evtchn_op(EVTCHNOP_unmask, &um) == 0, "unmask");
    for (int i = 0; i < 1000 && port_hits[ipi.port] < 2; i++)
        __asm__ volatile("pause");
    tg_check(port_hits[ipi.port] == 2, "unmask re-delivers the pending event");

    /* SCHEDOP_block with events disabled returns once one is pending */
    __asm__ volatile("cli");
    send(ipi.port);
    tg_check(tg_hcall(__HYPERVISOR_sched_op, SCHEDOP_block, 0, 0) == 0,
             "block returns with an event pending");
    __asm__ volatile("sti; nop");
    for (int i = 0; i < 1000 && port_hits[ipi.port] < 3; i++)
        __asm__ volatile("pause");
    tg_check(port_hits[ipi.port] == 3, "event after block delivered");

    /* SCHEDOP_poll: a pending port returns at once; bad input errors */
    evtchn_port_t pp = ipi.port;
    __atomic_fetch_or(&shinfo->evtchn_mask[0], 1ull << pp, __ATOMIC_SEQ_CST);
    send(pp);
    struct sched_poll sp = { .nr_ports = 1, .timeout = 0 };
    set_xen_guest_handle(sp.ports, &pp);
    tg_check(tg_hcall(__HYPERVISOR_sched_op, SCHEDOP_poll,
                      (uint64_t)(uintptr_t)&sp, 0) == 0,
             "poll on a pending port");
    sp.nr_ports = 129;
    tg_check(tg_hcall(__HYPERVISOR_sched_op, SCHEDOP_poll,
                      (uint64_t)(uintptr_t)&sp, 0) == -22,
             "poll with 129 ports: -EINVAL");
    sp.nr_ports = 1;
    set_xen_guest_handle(sp.ports, (evtchn_port_t *)0x7ff000000000ull);
    tg_check(tg_hcall(__HYPERVISOR_sched_op, SCHEDOP_poll,
                      (uint64_t)(uintptr_t)&sp, 0) == -14,
             "poll with a bad pointer: -EFAULT");
    struct evtchn_close cl = { .port = pp };
    tg_check(evtchn_op(EVTCHNOP_close, &cl) == 0, "close the IPI port");
}

/* ---- ping-pong between two domains ---- */

static volatile evtchn_port_t pp_port;
static volatile uint64_t pp_got;

static void pong_on_port(evtchn_port_t port)
{
    if (port == pp_port) {
        pp_got++;
        send(port);              /* answer from the handler, as seed 002 */
    }
}

static void ping_on_port(evtchn_port_t port)
{
    if (port == pp_port)
        pp_got++;
}

/* Domain A: offer a port to domain `peer`, answer every event on it. */
void tg_pong(domid_t peer, uint64_t rounds)
{
    setup_events();
    struct evtchn_alloc_unbound au = { .dom = DOMID_SELF, .remote_dom = peer };
    tg_check(evtchn_op(EVTCHNOP_alloc_unbound, &au) == 0, "pong: alloc_unbound");
    tg_put_dec("pong: port ", au.port);
    pp_port = au.port;
    on_port = pong_on_port;
    __asm__ volatile("sti");
    while (pp_got < rounds)
        __asm__ volatile("hlt");
    tg_put_dec("pong: answered ", pp_got);
}

/* Domain B: bind to (peer, port) and time `rounds` round trips. */
void tg_ping(domid_t peer, evtchn_port_t port, uint64_t rounds)
{
    setup_events();
    struct evtchn_bind_interdomain bi = { .remote_dom = peer,
                                          .remote_port = port };
    long rc;
    /* the peer may not have offered its port yet */
    for (int tries = 0; (rc = evtchn_op(EVTCHNOP_bind_interdomain, &bi)) != 0
         && tries < 100000; tries++)
        tg_hcall(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
    tg_check(rc == 0, "ping: bind_interdomain");
    if (rc)
        return;
    pp_port = bi.local_port;
    on_port = ping_on_port;
    /* bind_interdomain leaves the new port pending: consume that first */
    __asm__ volatile("sti");
    for (int i = 0; i < 1000 && !pp_got; i++)
        __asm__ volatile("pause");
    pp_got = 0;
    for (uint64_t i = 0; i < rounds; i++) {
        uint64_t t0 = rdtsc();
        __asm__ volatile("cli");
        send(pp_port);
        while (pp_got <= i)
            __asm__ volatile("sti; hlt; cli");
        __asm__ volatile("sti");
        tg_hist_add(rdtsc() - t0);
    }
    tg_put_dec("ping: rounds ", rounds);
    tg_hist_print("ping: ", rounds);
}


/* Upper edge of the buckets holding the 50th and 99th percentiles. */
void tg_hist_print(const char *prefix, uint64_t rounds)
{
    uint64_t p50 = 0, p99 = 0, seen = 0;
    for (uint64_t b = 0; b <= HBUCKETS; b++) {
        seen += hist[b];
        if (!p50 && seen * 2 >= rounds)
            p50 = (b + 1) << 6;
        if (!p99 && seen * 100 >= rounds * 99) {
            p99 = (b + 1) << 6;
            break;
        }
    }
    char l[3][48];
    const char *names[3] = { "mean_cycles ", "p50_cycles ", "p99_cycles " };
    for (int i = 0; i < 3; i++) {
        size_t n = 0;
        for (const char *q = prefix; *q && n < 30; q++)
            l[i][n++] = *q;
        for (const char *q = names[i]; *q; q++)
            l[i][n++] = *q;
        l[i][n] = 0;
    }
    tg_put_dec(l[0], rounds ? hist_total / rounds : 0);
    tg_put_dec(l[1], p50);
    tg_put_dec(l[2], p99);
}

uint64_t tg_rdtsc(void)
{
    return rdtsc();
}

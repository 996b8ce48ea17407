/* Shared helpers of the VMM's test guest. */
#ifndef TG_H
#define TG_H
#include <stdint.h>
long tg_hcall(unsigned int nr, uint64_t a1, uint64_t a2, uint64_t a3);
void tg_check(int cond, const char *what);
void tg_put_dec(const char *label, uint64_t v);
void tg_events(void);
void tg_unmask_now(int legacy, int irqs_off, uint64_t rounds);
void tg_pong(domid_t peer, uint64_t rounds);
void tg_ping(domid_t peer, evtchn_port_t port, uint64_t rounds);
/* Inline, so a timed loop costs the same instructions as bench/pingpong's
 * raw guest loop (guest code is emulated at ~1 us per instruction here). */
#define TG_HBUCKETS 65536
extern uint32_t tg_hist[TG_HBUCKETS + 1];
extern uint64_t tg_hist_total;
static inline void tg_hist_add(uint64_t dt)
{
    uint64_t b = dt >> 6;
    tg_hist[b < TG_HBUCKETS ? b : TG_HBUCKETS]++;
    tg_hist_total += dt;
}
static inline uint64_t tg_rdtsc_inline(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
void tg_hist_print(const char *prefix, uint64_t rounds);
uint64_t tg_rdtsc(void);
#endif

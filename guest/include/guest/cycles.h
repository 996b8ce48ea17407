/*
 * Round-trip timing for benchmark guests: rdtsc deltas (guest/arch.h's
 * cpu_rdtsc) counted into 64-cycle buckets. Plain C, no runtime calls: the
 * raw-KVM bench guest fills one in memory that bench/pingpong's host side
 * reads with the same percentile code, and a timed loop costs the same
 * instructions in the raw guest and in guests/vmmtest.
 */
#ifndef GUEST_CYCLES_H
#define GUEST_CYCLES_H

#include <stdint.h>

#define CYCLE_HIST_SHIFT   6
#define CYCLE_HIST_BUCKETS 65536

struct cycle_hist {
    uint64_t total;                            /* sum of the deltas */
    uint32_t bucket[CYCLE_HIST_BUCKETS + 1];   /* the last one: overflow */
};

static inline void cycle_hist_add(struct cycle_hist *h, uint64_t dt)
{
    uint64_t b = dt >> CYCLE_HIST_SHIFT;

    h->bucket[b < CYCLE_HIST_BUCKETS ? b : CYCLE_HIST_BUCKETS]++;
    h->total += dt;
}

/* Upper edge (in cycles) of the bucket that holds the pct-th percentile of
 * rounds samples; 0 if there are none. */
static inline uint64_t cycle_hist_percentile(const struct cycle_hist *h,
                                             uint64_t rounds, unsigned int pct)
{
    uint64_t seen = 0;

    for (uint64_t b = 0; rounds && b <= CYCLE_HIST_BUCKETS; b++) {
        seen += h->bucket[b];
        if (seen * 100 >= rounds * pct)
            return (b + 1) << CYCLE_HIST_SHIFT;
    }
    return 0;
}

#endif

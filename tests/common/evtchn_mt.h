/*
 * Multi-threaded random-op harness for the event-channel core: several
 * "vCPU" threads issue random EVTCHNOPs (reset, init_control, expand_array,
 * close, unmask, send, bind_*, alloc_unbound, status, set_priority),
 * latches of the shared_info layout (x86_64's or i386's), host calls and
 * hostile writes to guest memory, all at once against several domains,
 * and destroy/recreate domains under the others' feet. After each round
 * the threads stop and evtchn_debug_check runs on every domain.
 *
 * Used by the bounded unit test (tests/unit/test_evtchn_mt.c, suite
 * concurrency) and the standalone soak (tests/stress/evtchn_mt_soak.c).
 * A memory-safety bug shows as a crash (shared_info pages are followed by
 * a guard page, so even a plain -O2 build faults on an overrun) or as a
 * sanitizer report; a broken invariant, or a 2-level op on a port beyond
 * 4095 (it changes a pattern after the bitmaps), as a non-zero return.
 */
#ifndef XENKVM_TESTS_EVTCHN_MT_H
#define XENKVM_TESTS_EVTCHN_MT_H

#include <stdint.h>

struct hxmt_config {
    unsigned int threads;       /* vCPU threads; 0: 4 */
    unsigned int doms;          /* domains 0..doms-1 (0 privileged); 0: 3 */
    unsigned int rounds;        /* stop after this many rounds (0: no limit) */
    double seconds;             /* stop after this long (0: no limit) */
    unsigned int ops_per_round; /* per thread; 0: 2000 */
    unsigned int churn_every;   /* every Nth round is a churn round; 0: 3 */
    uint64_t seed;
    int verbose;                /* print a line per 1000 rounds */
};

struct hxmt_stats {
    uint64_t rounds, ops;
    uint64_t recreated;         /* domains destroyed and created again */
    uint64_t fifo_resets;       /* resets that returned a FIFO domain to 2-level */
    uint64_t high_unmasks;      /* unmask of a port beyond the 2-level limit */
    uint64_t bulk_allocs;       /* ports allocated by bulk rounds */
};

/* Run until rounds or seconds is reached (whichever first; at least one
 * must be set). 0 when every invariant held after every round, -1 (with
 * the seed and round on stderr) otherwise. */
int hxmt_run(const struct hxmt_config *cfg, struct hxmt_stats *st);

#endif

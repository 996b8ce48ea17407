/*
 * evtchn_mt_soak: the multi-threaded event-channel harness
 * (tests/common/evtchn_mt.c) for as long as asked.
 *   evtchn_mt_soak [SECONDS [SEED [THREADS]]]   (default 60 s, seed from time)
 * Exit status 0 when every invariant held after every round; a crash or a
 * sanitizer report is a failure too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "evtchn_mt.h"

int main(int argc, char **argv)
{
    struct hxmt_config cfg = { .seconds = 60, .verbose = 1 };
    struct hxmt_stats st = { 0 };

    if (argc > 1)
        cfg.seconds = atof(argv[1]);
    cfg.seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL);
    if (argc > 3)
        cfg.threads = (unsigned int)atoi(argv[3]);
    if (cfg.seconds <= 0) {
        fprintf(stderr, "usage: evtchn_mt_soak [SECONDS [SEED [THREADS]]]\n");
        return 2;
    }
    fprintf(stderr, "evtchn_mt_soak: %.0f s, seed %llu\n", cfg.seconds,
            (unsigned long long)cfg.seed);
    int rc = hxmt_run(&cfg, &st);
    printf("evtchn_mt_soak: %s: %llu rounds, %llu ops, %llu FIFO resets, %llu high unmasks, "
           "%llu bulk ports, %llu domains recreated (seed %llu)\n",
           rc ? "FAILED" : "clean", (unsigned long long)st.rounds,
           (unsigned long long)st.ops, (unsigned long long)st.fifo_resets,
           (unsigned long long)st.high_unmasks, (unsigned long long)st.bulk_allocs,
           (unsigned long long)st.recreated, (unsigned long long)cfg.seed);
    return rc ? 1 : 0;
}

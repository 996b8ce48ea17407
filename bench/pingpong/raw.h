/* Shared between the raw baseline guest and bench_pingpong. */
#ifndef BENCH_RAW_H
#define BENCH_RAW_H
#include <stdint.h>

#define RAW_PARAMS_GPA   0x8000
#define RAW_PORT_EXIT    0xe0
#define RAW_PORT_DONE    0xe1
#define RAW_PORT_KICK    0xe2
#define RAW_VECTOR       0xf3
#define RAW_HIST_SHIFT   6          /* 64-cycle buckets */
#define RAW_HIST_BUCKETS 65536

struct raw_params {
    uint32_t mode, done;
    uint64_t rounds;
    uint64_t total_cycles;
    uint32_t hist[RAW_HIST_BUCKETS + 1];
};
#endif

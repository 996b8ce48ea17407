/* Shared between the raw baseline guest and bench_pingpong. */
#ifndef BENCH_RAW_H
#define BENCH_RAW_H
#include <stdint.h>

#include <guest/cycles.h>
#include <guest/entry.h>

#define RAW_PARAMS_GPA   0x8000
#define RAW_PORT_EXIT    0xe0
#define RAW_PORT_DONE    0xe1
#define RAW_PORT_KICK    0xe2
/* The MSI vector of the raw pair: the IDT of guest/entry.c has a stub
 * there (the one the Xen guests take their upcalls on). */
#define RAW_VECTOR       GUEST_UPCALL_VECTOR

struct raw_params {
    uint32_t mode, done;
    uint64_t rounds;
    struct cycle_hist hist;     /* the round trips, filled by the guest */
};
#endif

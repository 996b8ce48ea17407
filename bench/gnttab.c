/*
 * Grant-table core benchmark: per 4 KiB page, what a backend pays to reach
 * a guest's granted page, beside a memcpy of 4 KiB measured in the same
 * run (the floor: the data has to move once anyway):
 *   - GNTTABOP_copy of a whole page from a grant into a frame (the
 *     copying backend's way, and a guest's GNTTABOP_copy);
 *   - map + touch (one 8-byte write) + unmap (a non-persistent blkback
 *     segment);
 *   - map + memcpy 4 KiB + unmap (a non-persistent segment whose data is
 *     copied out);
 * v1 and v2 tables. Prints ratios; asserts nothing about time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gnttab_harness.h"

#define RAM 256             /* guest pages granted round-robin */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint8_t *sink;

static double base_memcpy(const uint8_t *ram, long iters)
{
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        memcpy(sink, ram + (size_t)(i % RAM) * GX_PAGE, GX_PAGE);
        __asm__ volatile("" : : "r"(sink) : "memory");
    }
    return (now_ns() - t0) / iters;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    struct gnttab_host *h = gnttab_host_create();
    struct gx_dom d0, g;
    if (!h || gx_dom_init(h, &d0, 0, 0, 4, 0) || gx_dom_init(h, &g, 1, 1, 0, RAM + 1))
        return 1;
    sink = gx_pages(1);
    memset(g.ram, 0x5a, (size_t)RAM * GX_PAGE);
    double base = base_memcpy(g.ram, iters);

    printf("xenkvm grant-table core benchmark (%ld pages per row)\n", iters);
    printf("baseline: memcpy 4 KiB  %8.1f ns/page\n\n", base);
    printf("%-3s %-30s %10s %10s\n", "v", "operation", "ns/page", "x memcpy");
    for (uint32_t v = 1; v <= 2; v++) {
        uint32_t now;
        gnttab_op_set_version(g.gt, v, &now);
        for (grant_ref_t r = 0; r < RAM; r++) {
            if (v == 1)
                gx_grant_v1(&g, r, GTF_permit_access, 0, r);
            else
                gx_grant_v2(&g, r, GTF_permit_access, 0, r);
        }
        /* dom0 has no frames of its own: it copies grant to grant. */
        struct gnttab_copy c = { 0 };
        c.flags = GNTCOPY_source_gref | GNTCOPY_dest_gref;
        c.source.domid = c.dest.domid = 1;
        c.len = GX_PAGE;
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            c.source.u.ref = (grant_ref_t)(i % RAM);
            c.dest.u.ref = (grant_ref_t)(RAM - 1 - i % RAM);
            if (c.source.u.ref == c.dest.u.ref)
                c.dest.u.ref = 0;
            if (gnttab_copy(h, 0, &c) != GNTST_okay)
                return 1;
        }
        double copy = (now_ns() - t0) / iters;

        struct gnttab_mapping m;
        t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            if (gnttab_map(h, 0, 1, (grant_ref_t)(i % RAM), GNTMAP_host_map, &m))
                return 1;
            ((volatile uint64_t *)m.addr)[i % 512] = (uint64_t)i;
            gnttab_unmap(h, 0, m.handle);
        }
        double touch = (now_ns() - t0) / iters;

        t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            if (gnttab_map(h, 0, 1, (grant_ref_t)(i % RAM),
                           GNTMAP_host_map | GNTMAP_readonly, &m))
                return 1;
            memcpy(sink, m.addr, GX_PAGE);
            __asm__ volatile("" : : "r"(sink) : "memory");
            gnttab_unmap(h, 0, m.handle);
        }
        double mapcpy = (now_ns() - t0) / iters;

        printf("%-3u %-30s %10.1f %9.2fx\n", v, "copy (grant -> grant)", copy,
               copy / base);
        printf("%-3u %-30s %10.1f %9.2fx\n", v, "map + touch + unmap", touch,
               touch / base);
        printf("%-3u %-30s %10.1f %9.2fx\n", v, "map + memcpy + unmap", mapcpy,
               mapcpy / base);
    }
    printf("\nmap + touch + unmap is the per-segment cost a backend pays without\n"
           "persistent grants, beside moving the page once (memcpy).\n");
    gx_dom_fini(&g);
    gx_dom_fini(&d0);
    gnttab_host_destroy(h);
    free(sink);
    return 0;
}

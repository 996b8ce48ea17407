/*
 * A small balloon, as Linux's balloon driver behaves (drivers/xen/
 * balloon.c, xen-balloon.c): the toolstack writes memory/target (KiB);
 * the balloon compares it with the pages the guest holds, gives pages
 * back with XENMEM_decrease_reservation and takes them back with
 * XENMEM_populate_physmap, in batches of up to 512 frames. It writes
 * nothing to XenStore.
 *
 * The runtime has no page allocator: the balloon owns the pool, the
 * free RAM above the image (__image_end, page-aligned) up to the end of
 * the RAM region holding it (capped at the 4 GiB identity map, below any
 * start_info module). Frames leave the pool from its top down: the top
 * nr_out frames are given back; the rest hold host memory, and a program
 * may use them (guests/balloon writes them all) as long as the balloon
 * holds them. A frame taken back (populated again) reads zero.
 *
 * Process context on vCPU 0 only (XenStore client rules), after xs_init.
 */
#ifndef GUEST_BALLOON_H
#define GUEST_BALLOON_H

#include <stdint.h>

struct balloon_pool {
    uint64_t first_gfn;     /* the pool is frames [first_gfn, first_gfn + nr) */
    uint64_t nr;
    uint64_t nr_out;        /* the top nr_out of them are given back */
};

/* Contract: find the pool, read the reservation (XENMEM_current_reservation)
 * and memory/static-max, whose difference Linux keeps as the pages the
 * guest does not see (target_diff, HVM rule). 0, or -errno (-ENOENT: no
 * memory map or no free RAM above the image; the reservation call's
 * error). */
int balloon_init(void);

/* The pool (valid after balloon_init). */
const struct balloon_pool *balloon_pool(void);

/* Pages the guest holds now, as the balloon counts them (the reservation
 * at balloon_init, less the frames out). */
uint64_t balloon_current_pages(void);

/* Contract: move the reservation to target_kib (a memory/target value)
 * less the pages the guest does not see. 0: there; -ENOSPC: the pool
 * cannot give more (or take more back than it gave); -ENOMEM: Xen
 * populated fewer frames than asked (beyond max_pages); -EIO: Xen
 * released fewer than asked (Linux BUG()s). On an error the balloon stays
 * where it got to, its counts exact. */
int balloon_set_target(uint64_t target_kib);

/* Contract: watch memory/target (the first event comes at once, as Xen's
 * watches fire on registration). 0 or -errno. */
int balloon_watch(void);

/* Contract: block until the next memory/target event (others are
 * dropped; a toolstack shutdown request is carried out meanwhile, see
 * guest_wait_until) and read the target into *target_kib. 0 or -errno. */
int balloon_wait_target(uint64_t *target_kib);

#endif

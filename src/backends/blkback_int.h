/*
 * blkback's private state, shared by blkback.c (the service, disks, the
 * xenbus side, connecting rings) and blkback_io.c (requests: checks,
 * grant mappings, io_uring, responses).
 *
 * Threads and ownership: everything below that changes while a disk is
 * served (rings, requests, the persistent-grant caches, the io_uring) is
 * used under bb->lock only. The loop holds it in its callbacks (a ring's
 * kick eventfd, the io_uring's completion eventfd); a disconnect from
 * another thread takes it too. The event-channel callback (a vCPU thread)
 * takes no lock: it only writes the ring's kick eventfd.
 */
#ifndef XENKVM_BLKBACK_INT_H
#define XENKVM_BLKBACK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <liburing.h>

#include "xenkvm/backends.h"
#include "blkback_abi.h"
#include "xenbus_be.h"

#define BLK_SECTOR 512u
#define BLK_PAGE 4096u
#define BLK_SECTORS_PER_PAGE (BLK_PAGE / BLK_SECTOR)
/* What we offer; Linux's blkback defaults (xen-blkback/common.h, xenbus.c) */
#define BLK_MAX_RING_ORDER 4u            /* max-ring-page-order */
#define BLK_MAX_RING_PAGES (1u << BLK_MAX_RING_ORDER)
#define BLK_MAX_QUEUES 4u                /* multi-queue-max-queues */
#define BLK_MAX_INDIRECT_SEGS 256u       /* feature-max-indirect-segments */
#define BLK_SEGS_PER_INDIRECT_PAGE \
    (BLK_PAGE / sizeof(struct blkif_request_segment))
#define BLK_MAX_PGRANTS 1056u            /* persistent grants per ring */
#define BLK_PGRANT_SLOTS 2048u           /* hash slots (power of two) */
#define BLK_URING_ENTRIES 256u

struct be_blkback {
    struct be_env env;
    struct store_client *client;    /* domain 0, watches on env.loop */
    pthread_mutex_t lock;           /* see the top */
    struct io_uring uring;
    int cq_fd;                      /* eventfd: completions (on the loop) */
    struct util_ratelimit rl;       /* guest-caused messages */
};

struct blk_pgrant {                 /* one persistent grant */
    grant_ref_t gref;
    bool used;
    struct gnttab_mapping map;
};

struct blk_ring {
    struct be_blk_disk *d;
    unsigned int idx;
    int kick_fd;                    /* eventfd: the frontend notified */
    bool kick_registered;
    evtchn_port_t port;             /* our end of its event channel */
    bool port_bound;
    unsigned int nr_pages;
    struct gnttab_mapping ring_maps[BLK_MAX_RING_PAGES];
    unsigned int nr_ring_maps;
    void *alias;                    /* the pages made contiguous (or NULL) */
    bool x86_32;
    union {
        blkif_back_ring_t native;
        blkif_x86_32_back_ring_t x32;
    } br;
    unsigned int inflight;          /* requests taken, not answered */
    bool stopped;                   /* corrupt ring, or disconnecting */
    bool draining;                  /* a barrier waits for inflight == 0 */
    struct blk_req *barrier;        /* that barrier, parsed */
    struct blk_pgrant *pgrants;     /* BLK_PGRANT_SLOTS, when persistent */
    unsigned int nr_pgrants;
};

struct be_blk_disk {
    struct be_blkback *bb;
    struct be_blk_config cfg;       /* strings owned (target, vdev) */
    int fd;
    uint64_t sectors;
    uint32_t discard_granularity;
    struct xenbus_be *xb;
    void (*unplug_done)(void *arg);
    void *unplug_arg;
    /* negotiated at connect (under bb->lock) */
    struct blk_ring *rings;
    unsigned int nr_rings, ring_pages;
    unsigned int last_rings;      /* nr_rings of the last connection */
    bool persistent, indirect;
    _Atomic bool indirect_used;   /* an indirect request has come */
    _Atomic uint64_t reads, writes, flushes, discards, errors;
    _Atomic uint64_t bytes_read, bytes_written;
};

/* blkback_io.c */
/* Serve ring r's new requests (bb->lock held). */
void blk_ring_serve(struct blk_ring *r);
/* Reap the io_uring's completions and answer them (bb->lock held). */
void blk_reap(struct be_blkback *bb);
/* Wait (reaping) until r has no request in flight, then drop its
 * persistent grants (bb->lock held). */
void blk_ring_quiesce(struct blk_ring *r);
/* A guest-caused message, rate-limited. */
void blk_log(struct be_blk_disk *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif

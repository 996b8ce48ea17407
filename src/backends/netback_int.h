/*
 * netback's private state, shared by netback.c (the service, vifs, the
 * xenbus side, connecting queues), netback_tx.c (the guest's frames out
 * to the network) and netback_rx.c (the network's frames into the
 * guest).
 *
 * Threads and ownership: everything below belongs to the loop thread
 * (env.loop): ring work, the port (src/net runs there too), the rx
 * queues, the credit, the counters. The event-channel callbacks (vCPU
 * threads) only write a queue's kick eventfd; other threads reach a vif
 * through util_loop_call (add, remove, stats). So nothing here takes a
 * lock. The shared ring pages are the guest's too, which may write them
 * at any time: every access there is atomic (indexes as blkback's, slots
 * read and written with relaxed atomic loads and stores), and what is
 * checked and used is our copy.
 */
#ifndef XENKVM_NETBACK_INT_H
#define XENKVM_NETBACK_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <xen/io/netif.h>

#include "xenkvm/backends.h"
#include "xenkvm/net.h"
#include "xenbus_be.h"

#define NB_PAGE 4096u
#define NB_DEFAULT_QUEUES 4u         /* multi-queue-max-queues (Linux's
                                      * default is the host's CPUs) */
#define NB_QUEUES_LIMIT 16u          /* the most a config may offer */
/* Linux's XEN_NETBK_LEGACY_SLOTS_MAX: a frame with more slots after its
 * first is dropped; with more than NB_FATAL_SLOTS after it (Linux's
 * fatal_skb_slots default) the frontend is taken for hostile and the vif
 * is stopped */
#define NB_SLOTS_MAX XEN_NETIF_NR_SLOTS_MIN
#define NB_FATAL_SLOTS 20u
#define NB_TX_BUDGET 64u             /* frames per queue per loop turn */
#define NB_RXQ_FRAMES 256u           /* a queue's frames waiting for the */
#define NB_RXQ_BYTES (2u << 20)      /* guest's rx requests, at most */
#define NB_MAX_BURST 131072u         /* Linux's tx_add_credit: a 128 KiB
                                      * burst, so a 64 KiB frame can pass */

/* What the ring code reads and writes in one atomic access. */
_Static_assert(sizeof(netif_tx_response_t) == 4, "tx response");
_Static_assert(sizeof(netif_rx_request_t) == 8 &&
               sizeof(netif_rx_response_t) == 8 &&
               sizeof(netif_extra_info_t) == 8, "rx slots");

struct nb_rxf {                      /* a frame waiting for the guest */
    uint8_t *data;
    uint32_t len;
    struct net_meta meta;
};

struct nb_queue {
    struct be_net_vif *v;
    unsigned int idx;
    int kick_fd;                     /* eventfd: either channel fired */
    bool kick_registered;
    int timer_fd;                    /* timerfd: the credit's refill */
    bool timer_registered, timer_armed;
    evtchn_port_t tx_port, rx_port;  /* ours; the same without split */
    bool tx_bound, rx_bound;
    struct gnttab_mapping tx_map, rx_map;
    bool tx_mapped, rx_mapped;
    netif_tx_back_ring_t tx;
    netif_rx_back_ring_t rx;
    /* Linux's credit scheme (netback.c tx_credit_exceeded) */
    uint64_t remaining_credit;
    uint64_t window_start_ns;
    /* frames for the guest, a ring of NB_RXQ_FRAMES */
    struct nb_rxf rxq[NB_RXQ_FRAMES];
    unsigned int rxq_head, rxq_len;
    size_t rxq_bytes;
};

struct be_netback {
    struct be_env env;
    struct store_client *client;     /* domain 0, watches on env.loop */
    uint8_t *txbuf;                  /* NET_FRAME_MAX: the frame being sent */
    struct util_ratelimit rl;        /* guest-caused messages */
};

struct be_net_vif {
    struct be_netback *nb;
    struct be_vif_config cfg;        /* bridge, fwd: owned copies */
    char name[24];                   /* "vif<domid>.<devid>", Xen's */
    struct net_port *port;           /* from vif_add to vif_remove */
    struct xenbus_be *xb;
    void (*unplug_done)(void *arg);
    void *unplug_arg;
    /* the connection (negotiated in connect) */
    struct nb_queue *queues;
    unsigned int nr_queues;
    bool connected;
    bool disabled;                   /* a fatal error: nothing is served */
    struct be_vif_stats st;          /* negotiated flags and counters */
};

/* netback_tx.c */
/* Serve queue q's tx requests, at most NB_TX_BUDGET frames (then the
 * queue kicks itself for another turn). */
void nb_tx_serve(struct nb_queue *q);
/* The credit's timer fired: refill and serve. */
void nb_tx_credit_timer(struct nb_queue *q);
/* The credit of a new connection (Linux: a full window at once). */
void nb_tx_credit_init(struct nb_queue *q);

/* netback_rx.c */
/* The port's ops->deliver (opaque: the vif). */
int nb_rx_deliver(void *opaque, const struct net_frame *f);
/* Move queued frames into the guest's posted rx requests. */
void nb_rx_serve(struct nb_queue *q);
/* Drop every queued frame (disconnect). */
void nb_rx_purge(struct nb_queue *q);

/* netback.c */
/* A guest-caused message, rate-limited. */
void nb_log(struct be_net_vif *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Linux's xenvif_fatal_tx_err: the frontend broke the protocol; the vif
 * stops (every queue, both directions) until it connects again. */
void nb_fatal(struct be_net_vif *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Have the loop come back to q soon (after the other fds). */
void nb_queue_kick(struct nb_queue *q);

/* The shared ring indexes: the frontend's vCPU uses them at any time,
 * so every access is an __atomic one, as blkback's (docs/blkback.md). Tx
 * and rx shared rings have the same header. Each returns what the
 * matching ring macro means. */
struct nb_idx {
    RING_IDX *req_prod, *req_event, *rsp_prod, *rsp_event;
};
#define NB_IDX(sring) ((struct nb_idx){ &(sring)->req_prod, \
    &(sring)->req_event, &(sring)->rsp_prod, &(sring)->rsp_event })

/* RING_PUSH_RESPONSES_AND_CHECK_NOTIFY from old (what was published) to
 * new: whether to notify. */
static inline bool nb_push(struct nb_idx x, RING_IDX old, RING_IDX new)
{
    __atomic_store_n(x.rsp_prod, new, __ATOMIC_SEQ_CST);
    RING_IDX ev = __atomic_load_n(x.rsp_event, __ATOMIC_SEQ_CST);
    return (RING_IDX)(new - ev) < (RING_IDX)(new - old);
}

static inline RING_IDX nb_req_prod(struct nb_idx x)
{
    return __atomic_load_n(x.req_prod, __ATOMIC_ACQUIRE);
}

/* Ask for an event when req_prod passes want - 1 (req_event = want),
 * then read req_prod again: RING_FINAL_CHECK_FOR_REQUESTS's order. */
static inline RING_IDX nb_req_event(struct nb_idx x, RING_IDX want)
{
    __atomic_store_n(x.req_event, want, __ATOMIC_SEQ_CST);
    return __atomic_load_n(x.req_prod, __ATOMIC_SEQ_CST);
}

/* A ring slot of n bytes (a multiple of 4) read into dst, or written
 * from src, one relaxed atomic access per 32-bit word: the guest may
 * write the slot at the same time (it is its page); what we check and use
 * is our copy, and the guest reads our answers only after the release of
 * rsp_prod. */
static inline void nb_slot_read(void *dst, const void *slot, size_t n)
{
    for (size_t i = 0; i < n; i += 4) {
        uint32_t w = __atomic_load_n((const uint32_t *)slot + i / 4,
                                     __ATOMIC_RELAXED);
        memcpy((uint8_t *)dst + i, &w, 4);
    }
}

static inline void nb_slot_write(void *slot, const void *src, size_t n)
{
    for (size_t i = 0; i < n; i += 4) {
        uint32_t w;
        memcpy(&w, (const uint8_t *)src + i, 4);
        __atomic_store_n((uint32_t *)slot + i / 4, w, __ATOMIC_RELAXED);
    }
}

#endif

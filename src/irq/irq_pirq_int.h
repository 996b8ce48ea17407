/*
 * Private to the PIRQ router: its state (irq_pirq.c: binding, delivery,
 * EOI; irq_physdev.c: the PHYSDEVOPs that map host lines to PIRQs) and the
 * helpers both halves use. Everything here is under r->lock.
 */
#ifndef XENKVM_IRQ_PIRQ_INT_H
#define XENKVM_IRQ_PIRQ_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/irq.h"
#include "irq_int.h"

enum { ACK_NONE, ACK_UNMASK, ACK_EOI };   /* Xen's ACK_TYPE_* */

#define PIRQ_MAX      32768u   /* bits in the 4 KiB EOI page */
#define PIRQ_DEFAULT  256u
#define PIRQ_EOI_TIMEOUT_NS 1000000ull   /* Xen: MILLISECS(1) */

struct pirq_guest {
    domid_t dom;
    uint32_t pirq;
    bool masked;          /* delivered, not yet EOI'd (Xen's pirq->masked) */
};

struct pirq_action {
    struct irq_pirq *r;
    unsigned int line;
    bool active;          /* bound at the ICU, has guests */
    bool shareable;
    int ack_type;
    unsigned int nr_guests;
    unsigned int in_flight;
    uint64_t eoi_deadline;   /* CLOCK_MONOTONIC ns; 0: no timer pending */
    struct pirq_guest guest[IRQ_MAX_GUESTS];
};

struct pirq_entry {
    int32_t line;         /* -1: not mapped */
    bool reserved;        /* handed out by get_free_pirq, not yet mapped */
    bool bound;           /* an event channel is bound (in the action);
                           * which port is the evtchn core's to know */
};

struct pirq_dom {
    struct pirq_dom *next;
    domid_t id;
    bool privileged;
    uint32_t nr_pirqs;
    struct pirq_entry *pirqs;
    uint8_t *granted;     /* one byte per host line */
    uint64_t *eoi_map;    /* guest page (PHYSDEVOP_pirq_eoi_gmfn_v2) */
};

struct irq_pirq {
    pthread_mutex_t lock;
    struct irq_icu *icu;
    struct evtchn_host *evh;
    struct evtchn_pirq_router evr;   /* attached to evh: its calls to us */
    irq_map_gfn_fn map_gfn;
    void *opaque;
    unsigned int nr_lines;
    struct pirq_action *actions;
    struct pirq_dom *doms;
    int timer_fd;            /* EOI deadlines (timerfd), watched by the ICU */
    int timer_watch;
    uint64_t timer_armed;    /* deadline the timerfd is set for, 0: none */
    uint64_t eoi_timeout_ns;
};

/* The router's record of domain id, or NULL. */
struct pirq_dom *pirq_dom_find(struct irq_pirq *r, domid_t id);
/* Set or clear pirq's bit of d's EOI page (atomically: guest memory). */
void pirq_eoi_bit(struct pirq_dom *d, uint32_t pirq, bool set);
/* pirq of d stops receiving its line (Xen's pirq_guest_unbind). */
void pirq_guest_unbind_locked(struct irq_pirq *r, struct pirq_dom *d,
                              uint32_t pirq);
/* One sharer finished (Xen's pirq_guest_eoi / desc_guest_eoi). */
void pirq_guest_eoi_locked(struct irq_pirq *r, struct pirq_dom *d,
                           uint32_t pirq, bool by_unmask);

#endif

/*
 * A small "platform" for exercising the event-channel core without KVM:
 * guest memory is plain host pages, kicks are counted, and the guest side
 * of both ABIs (the scan of Linux's evtchn_2l / evtchn_fifo) is emulated
 * here. Used by the unit tests, the fuzzer and the benchmark.
 */
#ifndef XENKVM_TESTS_EVTCHN_HARNESS_H
#define XENKVM_TESTS_EVTCHN_HARNESS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <xenkvm/evtchn.h>

#define HX_MAX_DOMS 4
#define HX_MAX_VCPUS 4
#define HX_PAGES 160            /* guest frames per domain: gfn 0..159 */

struct hx_guest_vcpu {
    uint32_t fifo_head[EVTCHN_FIFO_MAX_QUEUES]; /* guest's local heads */
    evtchn_fifo_control_block_t *cb;
};

struct hx_dom {
    uint8_t *mem;                        /* HX_PAGES pages */
    struct shared_info *si;
    event_word_t *array[EVTCHN_FIFO_NR_CHANNELS / 1024];
    uint32_t array_pages;
    struct hx_guest_vcpu v[HX_MAX_VCPUS];
    atomic_uint kicks[HX_MAX_VCPUS];
    atomic_uint poll_wakes;
    bool exists;
    void *si_map;                        /* guarded shared_info (guard_si) */
};

struct hx {
    struct evtchn_host *h;
    struct hx_dom d[HX_MAX_DOMS];
    int pirq_answer;                     /* what the fake IRQ router says */
    struct evtchn_pirq_router pirq_router;
    atomic_uint pirq_binds, pirq_unbinds;
    atomic_uint host_cb_calls;
    /* Called (in the sender's thread) at each kick after counting it, to
     * look at guest memory at the moment a guest is told of an event.
     * Set before the events it is for. */
    void (*kick_hook)(void *arg, domid_t dom, uint32_t vcpu);
    void *kick_hook_arg;
    atomic_uint last_cb_port;
    /* Give each new domain a shared_info page followed by an inaccessible
     * page, so a write past it faults in any build (not only under ASan),
     * and a known pattern after the 2-level bitmaps (hx_si_tail_intact). */
    bool guard_si;
};

/* Offset of what follows the 2-level mask bitmap in struct shared_info. */
#define HX_SI_TAIL (offsetof(struct shared_info, evtchn_mask) + \
                    sizeof(((struct shared_info *)0)->evtchn_mask))

/* Host with the harness platform ops; domains are added with hx_dom_add. */
struct hx *hx_create(void);
/* The same with a fake IRQ router attached, answering x->pirq_answer. */
struct hx *hx_create_with_pirq(void);
void hx_destroy(struct hx *x);
/* Create domain id (< HX_MAX_DOMS) with vcpus vCPUs; 0 or -errno. */
int hx_dom_add(struct hx *x, domid_t id, bool privileged, uint32_t vcpus,
               uint32_t max_port);
int hx_dom_del(struct hx *x, domid_t id);
/* guard_si: whether the bytes after the 2-level bitmaps are untouched (a
 * 2-level op on a port beyond 4095 changes them). */
bool hx_si_tail_intact(struct hx *x, domid_t id);
/* EVTCHNOP cmd as domain dom (vCPU 0) would issue it. */
int hx_op(struct hx *x, domid_t dom, unsigned int cmd, void *arg);

/* Convenience wrappers: the port (>0) or -errno. */
int hx_alloc_unbound(struct hx *x, domid_t dom, domid_t for_dom, domid_t remote);
int hx_bind_interdomain(struct hx *x, domid_t dom, domid_t rdom, uint32_t rport);
int hx_bind_virq(struct hx *x, domid_t dom, uint32_t virq, uint32_t vcpu);
int hx_bind_ipi(struct hx *x, domid_t dom, uint32_t vcpu);
int hx_send(struct hx *x, domid_t dom, uint32_t port);
int hx_close(struct hx *x, domid_t dom, uint32_t port);
int hx_unmask(struct hx *x, domid_t dom, uint32_t port);
int hx_bind_vcpu(struct hx *x, domid_t dom, uint32_t port, uint32_t vcpu);

/* Guest-side 2-level helpers on the domain's shared_info. */
void hx_2l_mask(struct hx *x, domid_t dom, uint32_t port, bool masked);
bool hx_2l_pending(struct hx *x, domid_t dom, uint32_t port);
/* Scan like Linux's evtchn_2l_handle_events on vCPU v: collect and clear
 * pending unmasked ports into out (at most max); returns how many. */
int hx_2l_consume(struct hx *x, domid_t dom, uint32_t v, uint32_t *out, int max);

/* FIFO guest side: control block for vCPU v at gfn 1+v, offset 0. */
int hx_fifo_init(struct hx *x, domid_t dom, uint32_t v);
/* Add one event-array page (gfn 16 + page index). */
int hx_fifo_expand(struct hx *x, domid_t dom);
event_word_t *hx_fifo_word(struct hx *x, domid_t dom, uint32_t port);
void hx_fifo_mask(struct hx *x, domid_t dom, uint32_t port, bool masked);
/* Consume like Linux's __evtchn_fifo_handle_events on vCPU v: highest
 * priority first; clears PENDING of each handled port. */
int hx_fifo_consume(struct hx *x, domid_t dom, uint32_t v, uint32_t *out, int max);

/* Host-consumer callback that counts calls (arg = struct hx *). */
void hx_host_cb(void *arg, domid_t dom, evtchn_port_t port);

#endif

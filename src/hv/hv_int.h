/* Private state of the hypercall layer, shared by hv.c and hv_calls.c. */
#ifndef XENKVM_HV_INT_H
#define XENKVM_HV_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "xenkvm/hv.h"
#include "xenkvm/util.h"

#include <xen/hvm/params.h>

struct hv_vcpu_state {
    struct vcpu_info *info;    /* where its vcpu_info lives (may be NULL) */
    bool info_registered;      /* VCPUOP_register_vcpu_info done */
    uint8_t upcall_vector;     /* HVMOP_set_evtchn_upcall_vector, 0: none */
    bool kicked;               /* an upcall arrived since block began */
};

struct hv_domain {
    domid_t domid;
    uint32_t max_vcpus;
    uint64_t ram_pages;
    struct hv_e820 e820[HV_MAX_E820];
    unsigned int nr_e820;
    struct evtchn_host *evtchn;
    struct hv_platform_ops ops;
    void *opaque;
    struct irq_pirq *pirq;     /* PHYSDEVOP router, or NULL: -ENOSYS */
    struct util_ratelimit log_rl;  /* hv_log's budget */
    char log_prefix[24];           /* hv_log's "xenkvm: dom<id>: " */

    /* lock protects params, vcpu states, the wait state and the limiter.
     * Lock order: evtchn core locks, then this one (the core calls
     * hv_vcpu_kick and our poll wake-up with its locks held), so nothing here
     * calls into the core while holding it. */
    pthread_mutex_t lock;
    pthread_cond_t wake;       /* broadcast on kick, poll wake, stop */
    uint64_t wake_gen;         /* bumped with every broadcast */
    bool stopping;
    uint64_t params[HVM_NR_PARAMS];
    struct hv_vcpu_state *vcpus;

    /* console_io token bucket (bytes) */
    double con_tokens;
    uint64_t con_last_ns;

    /* -ENOSYS is logged once per hypercall number / per sub-op family */
    _Atomic uint64_t enosys_logged;
    _Atomic uint64_t subop_logged;

    _Atomic uint64_t n_hypercalls, n_enosys, n_con_dropped;
};

/* Context of the hypercall being served. */
struct hv_ctx {
    struct hv_domain *d;
    uint32_t vcpu_id;
    void *vcpu;
    const struct hv_call *call;
};

typedef long (*hv_handler_fn)(struct hv_ctx *c, const uint64_t *a);

/* Handlers (hv_calls.c). */
long hv_do_xen_version(struct hv_ctx *c, const uint64_t *a);
long hv_do_memory_op(struct hv_ctx *c, const uint64_t *a);
long hv_do_hvm_op(struct hv_ctx *c, const uint64_t *a);
long hv_do_vcpu_op(struct hv_ctx *c, const uint64_t *a);
long hv_do_event_channel_op(struct hv_ctx *c, const uint64_t *a);
long hv_do_sched_op(struct hv_ctx *c, const uint64_t *a);
long hv_do_console_io(struct hv_ctx *c, const uint64_t *a);
/* hv_physdev.c: PHYSDEVOPs of the IRQ router (d->pirq). */
long hv_do_physdev_op(struct hv_ctx *c, const uint64_t *a);

/* hv.c helpers for handlers */
int hv_block(struct hv_ctx *c);
int hv_poll(struct hv_ctx *c, const evtchn_port_t *ports, unsigned int n,
            uint64_t timeout_ns);
/* Log that sub-op cmd of hypercall nr is not implemented (once). */
void hv_log_subop_enosys(struct hv_ctx *c, unsigned int cmd);
/* A core's handler of sub-op cmd, given the guest's argument struct. */
typedef int (*hv_struct_fn)(struct hv_ctx *c, unsigned int cmd, void *buf);
/* A sub-op whose argument is one struct of len bytes at guest address arg
 * (EVTCHNOPs, PHYSDEVOPs): copy it in, call fn, copy it back when fn
 * returned 0 and copy_back. len 0: the sub-op is unknown (-ENOSYS, logged
 * once). fn's return, or -EFAULT when the struct cannot be copied. */
long hv_struct_op(struct hv_ctx *c, unsigned int cmd, uint64_t arg, size_t len,
                  bool copy_back, hv_struct_fn fn);
uint64_t hv_now_ns(void);

/* Guest-triggered messages: util_log_ratelimited's budget per domain, so
 * a guest cannot flood the host's log. */
#define hv_log(d, ...) \
    util_log_ratelimited(&(d)->log_rl, stderr, (d)->log_prefix, __VA_ARGS__)

#endif

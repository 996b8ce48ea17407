/* Private state of the hypercall layer, shared by hv.c and hv_calls.c. */
#ifndef XENKVM_HV_INT_H
#define XENKVM_HV_INT_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "xenkvm/hv.h"
#include "xenkvm/util.h"
#include "hv_abi32_list.h"

#include <xen/hvm/params.h>
#include <xen/vcpu.h>

struct hv_vcpu_state {
    struct vcpu_info *info;    /* where its vcpu_info lives (may be NULL) */
    bool info_registered;      /* VCPUOP_register_vcpu_info done */
    uint8_t upcall_vector;     /* HVMOP_set_evtchn_upcall_vector, 0: none */
    bool kicked;               /* an upcall arrived since block began */
    /* Time (hv_time.c), under the domain's lock. */
    bool sshot_armed;          /* singleshot timer, due at sshot_at */
    uint64_t sshot_at;         /* system time, ns */
    uint64_t period;           /* periodic timer, ns; 0: off */
    uint64_t period_last;      /* its last tick */
    struct vcpu_runstate_info rs;
    uint64_t rs_gva;           /* registered runstate area, 0: none */
    bool rs_compat;            /* ... registered by a 32-bit caller: its
                                * layout is i386's (Xen's compat area) */
};

/* The domain's clock (hv_time.c): set once, then read without the lock
 * after an acquire load of ready. */
struct hv_clock {
    bool ready, failed;        /* failed: the platform gave no TSC */
    uint32_t khz;
    int64_t offset;            /* guest TSC = host RDTSC + offset */
    uint64_t tsc0, sys0;       /* S(tsc) = sys0 + scale(tsc - tsc0) */
    uint32_t mul;
    int8_t shift;
};

struct hv_domain {
    domid_t domid;
    uint32_t max_vcpus;
    /* The reservation (hv_memory.c): mem_lock serialises the reservation
     * calls and guards the counts; the platform's physmap hooks are
     * called under it, nothing else is taken inside it. */
    pthread_mutex_t mem_lock;
    uint64_t tot_pages, max_pages;
    uint64_t max_gpfn;         /* highest frame ever mapped (Xen's p2m) */
    struct hv_e820 e820[HV_MAX_E820];
    unsigned int nr_e820;
    struct evtchn_host *evtchn;
    struct hv_platform_ops ops;
    void *opaque;
    struct irq_pirq *pirq;     /* PHYSDEVOP router, or NULL: -ENOSYS */
    struct gnttab *gnttab;     /* its grant table, or NULL: -ENOSYS */
    struct gnttab_host *gnttab_host;   /* every table (GNTTABOP_copy) */
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

    /* Time (hv_time.c). The timer thread sleeps on timer_cv under lock. */
    uint64_t start_ns;         /* hv_now_ns() at creation */
    struct hv_clock clk;
    _Atomic uint64_t vm_assist;    /* VMASST_TYPE_* bits turned on */
    pthread_cond_t timer_cv;
    pthread_t timer_thread;
    bool timer_started, timer_quit;
    bool *timer_fire;          /* the timer thread's scratch, max_vcpus */

    /* console_io token bucket (bytes) */
    double con_tokens;
    uint64_t con_last_ns;

    /* Refusals are logged once per call and sub-op (hv_log_refusal): row
     * nr (HV_NR_HYPERCALLS: numbers beyond the table), bit sub-op. */
    _Atomic uint64_t refusal_logged[HV_NR_HYPERCALLS + 1];
    /* SCHEDOP_shutdown_code's reason for the next shutdown, or -1 */
    _Atomic int shutdown_code;

    _Atomic uint64_t n_enosys, n_con_dropped, n_timer_virqs;
    /* Calls by number and first argument (the sub-op of the multiplexed
     * ones; HV_STAT_SUBOPS - 1 collects the rest), for hv_call_stats. */
    _Atomic uint64_t n_calls[HV_NR_HYPERCALLS][HV_STAT_SUBOPS];
    _Atomic uint64_t n_calls_beyond;  /* numbers >= HV_NR_HYPERCALLS */
};

/* Context of the hypercall being served. */
struct hv_ctx {
    struct hv_domain *d;
    uint32_t vcpu_id;
    void *vcpu;
    const struct hv_call *call;
    bool in_multicall;         /* an entry of __HYPERVISOR_multicall */
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
/* hv.c: __HYPERVISOR_multicall. */
long hv_do_multicall(struct hv_ctx *c, const uint64_t *a);
/* hv_priv.c: the calls Xen serves only to privileged domains (or not at
 * all with its default build): each returns Xen's refusal to a domU. */
long hv_do_mmuext_op(struct hv_ctx *c, const uint64_t *a);
long hv_do_xsm_op(struct hv_ctx *c, const uint64_t *a);
long hv_do_sysctl(struct hv_ctx *c, const uint64_t *a);
long hv_do_domctl(struct hv_ctx *c, const uint64_t *a);
long hv_do_xenpmu_op(struct hv_ctx *c, const uint64_t *a);
long hv_do_dm_op(struct hv_ctx *c, const uint64_t *a);
long hv_do_hypfs_op(struct hv_ctx *c, const uint64_t *a);
long hv_do_paging_domctl_cont(struct hv_ctx *c, const uint64_t *a);
/* Domain domid exists in d's event-channel host (it is how the layer
 * knows the other domains): Xen's rcu_lock_domain_by_id succeeding. */
bool hv_domain_exists(struct hv_domain *d, domid_t domid);
/* hv_physdev.c: PHYSDEVOPs of the IRQ router (d->pirq). */
long hv_do_physdev_op(struct hv_ctx *c, const uint64_t *a);
/* hv_gnttab.c: GNTTABOPs of the grant-table core (d->gnttab). */
long hv_do_grant_table_op(struct hv_ctx *c, const uint64_t *a);
/* hv_memory.c: the reservation's state at creation (mem_lock, counts,
 * max_gpfn from the e820 already copied in). */
void hv_mem_init(struct hv_domain *d, uint64_t ram_pages, uint64_t max_pages);

/* A guest handle's address, and the handlers' guest copies (the caller's
 * vCPU's view): 0 or -EFAULT. */
#define GUEST_PTR(h) ((uint64_t)(uintptr_t)(h).p)
static inline int copy_in(struct hv_ctx *c, void *dst, uint64_t gva, size_t len)
{
    return hv_copy_from_guest(c->d, c->vcpu, dst, gva, len);
}
static inline int copy_out(struct hv_ctx *c, uint64_t gva, const void *src,
                           size_t len)
{
    return hv_copy_to_guest(c->d, c->vcpu, gva, src, len);
}

/* A domU may only name itself (DOMID_SELF or its id). Otherwise Xen looks
 * the domain up first (-ESRCH when absent: rcu_lock_domain_by_any_id),
 * then asks XSM (dummy policy, XSM_TARGET: -EPERM). */
static inline int self_domid(struct hv_ctx *c, domid_t domid)
{
    if (domid == DOMID_SELF || domid == c->d->domid)
        return 0;
    if (domid >= DOMID_FIRST_RESERVED ||
        !evtchn_domain_shared_info(c->d->evtchn, domid))
        return -ESRCH;
    return -EPERM;
}

/* hv.c helpers for handlers */
int hv_block(struct hv_ctx *c);
/* hv_domain_stop has been called (a long loop of a guest's call ends). */
bool hv_stopping(struct hv_domain *d);
int hv_poll(struct hv_ctx *c, const evtchn_port_t *ports, unsigned int n,
            uint64_t timeout_ns);
/* Log that the current call refused sub-op cmd with rc, once per domain,
 * call and sub-op (cmd HV_LOG_WHOLE_CALL: the call as a whole); -ENOSYS
 * refusals are counted in hv_stats.enosys. */
#define HV_LOG_WHOLE_CALL (~0u)
void hv_log_refusal(struct hv_ctx *c, unsigned int cmd, long rc);
/* hv_log_refusal(c, cmd, -ENOSYS): sub-op cmd is unknown. */
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
/* hv_compat_xlate.c: 32-bit (i386) callers' argument structs. Each struct
 * of HV32_XLATE (hv_abi32_list.h) has a descriptor, HV_XL(name): its
 * native and i386 sizes and its field table (native offset and size,
 * i386 offset and size), all from the headers, none retyped. */
struct hv_xlate_field {
    uint16_t off, size, off32, size32;
};
struct hv_xlate {
    size_t size, size32;
    unsigned int nr;
    const struct hv_xlate_field *f;
};
#define HV_XLATE_MAX 64            /* the largest i386 struct, bytes */
#define HV32_DECL_S(s) extern const struct hv_xlate hv32_##s;
#define HV32_DECL_F(s, name, path)
HV32_XLATE(HV32_DECL_S, HV32_DECL_F)
#undef HV32_DECL_S
#undef HV32_DECL_F
#define HV_XL(s) (&hv32_##s)
/* i386 bytes b32 to the native struct nat: every field zero-extended,
 * the rest zero. */
void hv_xlate_in(const struct hv_xlate *x, void *nat, const void *b32);
/* The fields of nat whose native offset is in [off, off + len) into b32
 * at their i386 offsets, truncated to their i386 size. */
void hv_xlate_out(const struct hv_xlate *x, void *b32, const void *nat,
                  size_t off, size_t len);
/* The struct's size in the caller's layout (an array's stride). */
size_t hv_arg_size(const struct hv_ctx *c, const struct hv_xlate *x);
/* Copy struct x in from gva in the caller's layout (a 64-bit caller's
 * bytes as they are, a 32-bit caller's translated): 0 or -EFAULT. */
int hv_arg_in(struct hv_ctx *c, const struct hv_xlate *x, void *nat,
              uint64_t gva);
/* Copy nat's fields back to gva in the caller's layout (all of them, or
 * those at native offsets [off, off + len)): 0 or -EFAULT. */
int hv_arg_out(struct hv_ctx *c, const struct hv_xlate *x, uint64_t gva,
               const void *nat);
int hv_arg_out_part(struct hv_ctx *c, const struct hv_xlate *x, uint64_t gva,
                    const void *nat, size_t off, size_t len);
/* hv_arg_out_part in the layout of a 64-bit (long_mode) or 32-bit guest
 * whatever the current caller is (an area registered earlier). */
int hv_arg_out_as(struct hv_ctx *c, bool long_mode, const struct hv_xlate *x,
                  uint64_t gva, const void *nat, size_t off, size_t len);
/* Element i of a guest array of xen_ulong_t / xen_pfn_t at gva, 8 bytes
 * each to a 64-bit caller, 4 to a 32-bit one (zero-extended in,
 * truncated out): 0 or -EFAULT. */
int hv_ulong_in(struct hv_ctx *c, uint64_t gva, uint64_t i, uint64_t *v);
int hv_ulong_out(struct hv_ctx *c, uint64_t gva, uint64_t i, uint64_t v);
/* hv_struct_op's layout for sub-op cmd of the current call when the
 * caller is 32-bit and the struct differs on i386, else NULL. */
const struct hv_xlate *hv_compat_struct_layout(const struct hv_ctx *c,
                                               unsigned int cmd);
/* hv_compat.c: a 32-bit caller's return value as Xen's compat path
 * gives it (memory_op saturates at INT_MAX/INT_MIN). */
long hv_compat_result(uint64_t nr, long rc);

/* hv_time.c: Xen time (see its top comment). */
/* tsc_to_system_mul/shift for a TSC of khz kHz (Xen's set_time_scale).
 * 0, or -EINVAL for khz 0. */
int hv_time_scale(uint32_t khz, uint32_t *mul, int8_t *shift);
/* ns for delta TSC ticks, exactly as the guest computes it. */
uint64_t hv_time_scale_delta(uint64_t delta, uint32_t mul, int8_t shift);
/* Write src's fields into dst under the version protocol (dst's version
 * odd while they change, even after, with release ordering). */
void hv_time_write(struct vcpu_time_info *dst, const struct vcpu_time_info *src);
/* The domain's system time now, ns (lock-free). */
uint64_t hv_time_now(struct hv_domain *d);
/* System time s as an absolute CLOCK_MONOTONIC ns (at least 1). */
uint64_t hv_time_to_mono(struct hv_domain *d, uint64_t s);
/* Learn the guest TSC from the platform (once; c->vcpu is the caller).
 * True when pvclock is available. */
bool hv_time_pvclock(struct hv_ctx *c);
/* Fill vi's vcpu_time_info / every shared_info slot and the wallclock. */
void hv_time_fill_info(struct hv_ctx *c, struct vcpu_info *vi);
void hv_time_fill_shared(struct hv_ctx *c);
/* The calling vCPU enters runstate state (RUNSTATE_*); under d->lock. */
void hv_time_runstate_locked(struct hv_ctx *c, int state);
/* VCPUOP_up/down of vCPU id succeeded: running / offline. */
void hv_time_vcpu_online(struct hv_domain *d, uint32_t id, bool up);
/* The time VCPUOPs (timers, runstate, time area): Xen's errno. */
long hv_time_vcpu_op(struct hv_ctx *c, unsigned int cmd, uint32_t id,
                     uint64_t arg);
long hv_do_set_timer_op(struct hv_ctx *c, const uint64_t *a);
long hv_do_vm_assist(struct hv_ctx *c, const uint64_t *a);
long hv_do_platform_op(struct hv_ctx *c, const uint64_t *a);
/* Set up / tear down (joins the timer thread). init: 0 or -ENOMEM. */
int hv_time_init(struct hv_domain *d);
void hv_time_fini(struct hv_domain *d);

/* Guest-triggered messages: util_log_ratelimited's budget per domain, so
 * a guest cannot flood the host's log. */
#define hv_log(d, ...) \
    util_log_ratelimited(&(d)->log_rl, stderr, (d)->log_prefix, __VA_ARGS__)

#endif

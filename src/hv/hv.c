/*
 * Hypercall layer core: the dispatch table, multicall, the guest-memory
 * copy helpers and the sleeping hypercalls (block, poll). Handlers live in
 * hv_calls.c, time (pvclock, timers, runstate) in hv_time.c, the calls an
 * unprivileged domain is only refused in hv_priv.c. The table holds every
 * number of Xen 4.17's HVM table (xen/include/hypercall-defs.c, hvm64
 * column); the others are -ENOSYS there and here. docs/abi.md lists each
 * call and sub-op with Xen's answer and ours.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hv_int.h"

/* The table: one row per hypercall number. A 32-bit caller reaches the
 * same handlers: its registers count by their low 32 bits, its structs
 * are read in its layout (hv_compat.c, hv_compat_xlate.c). */
static const struct {
    hv_handler_fn fn;
    const char *name;
} hv_table[HV_NR_HYPERCALLS] = {
    [__HYPERVISOR_console_io]       = { hv_do_console_io, "console_io" },
    [__HYPERVISOR_xen_version]      = { hv_do_xen_version, "xen_version" },
    [__HYPERVISOR_sched_op]         = { hv_do_sched_op, "sched_op" },
    [__HYPERVISOR_memory_op]        = { hv_do_memory_op, "memory_op" },
    [__HYPERVISOR_hvm_op]           = { hv_do_hvm_op, "hvm_op" },
    [__HYPERVISOR_vcpu_op]          = { hv_do_vcpu_op, "vcpu_op" },
    [__HYPERVISOR_event_channel_op] = { hv_do_event_channel_op,
                                        "event_channel_op" },
    [__HYPERVISOR_physdev_op]       = { hv_do_physdev_op, "physdev_op" },
    [__HYPERVISOR_set_timer_op]     = { hv_do_set_timer_op, "set_timer_op" },
    [__HYPERVISOR_vm_assist]        = { hv_do_vm_assist, "vm_assist" },
    [__HYPERVISOR_platform_op]      = { hv_do_platform_op, "platform_op" },
    [__HYPERVISOR_grant_table_op]   = { hv_do_grant_table_op,
                                        "grant_table_op" },
    [__HYPERVISOR_multicall]        = { hv_do_multicall, "multicall" },
    [__HYPERVISOR_mmuext_op]        = { hv_do_mmuext_op, "mmuext_op" },
    [__HYPERVISOR_xsm_op]           = { hv_do_xsm_op, "xsm_op" },
    [__HYPERVISOR_sysctl]           = { hv_do_sysctl, "sysctl" },
    [__HYPERVISOR_domctl]           = { hv_do_domctl, "domctl" },
    [__HYPERVISOR_xenpmu_op]        = { hv_do_xenpmu_op, "xenpmu_op" },
    [__HYPERVISOR_dm_op]            = { hv_do_dm_op, "dm_op" },
    [__HYPERVISOR_hypfs_op]         = { hv_do_hypfs_op, "hypfs_op" },
    [__HYPERVISOR_arch_1]           = { hv_do_paging_domctl_cont,
                                        "paging_domctl_cont" },
};

uint64_t hv_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void hv_poll_wake_cb(void *arg, evtchn_port_t port);

struct hv_domain *hv_domain_create(const struct hv_domain_config *cfg)
{
    if (!cfg || !cfg->ops || !cfg->evtchn || cfg->max_vcpus == 0 ||
        cfg->nr_e820 > HV_MAX_E820)
        return NULL;
    struct hv_domain *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->vcpus = calloc(cfg->max_vcpus, sizeof(*d->vcpus));
    if (!d->vcpus) {
        free(d);
        return NULL;
    }
    d->domid = cfg->domid;
    snprintf(d->log_prefix, sizeof(d->log_prefix), "xenkvm: dom%u: ", d->domid);
    d->max_vcpus = cfg->max_vcpus;
    if (cfg->nr_e820)
        memcpy(d->e820, cfg->e820, cfg->nr_e820 * sizeof(d->e820[0]));
    d->nr_e820 = cfg->nr_e820;
    hv_mem_init(d, cfg->ram_pages, cfg->max_pages);
    d->evtchn = cfg->evtchn;
    d->ops = *cfg->ops;
    d->opaque = cfg->opaque;
    d->pirq = cfg->pirq;
    d->gnttab = cfg->gnttab;
    d->gnttab_host = cfg->gnttab_host;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->wake, &ca);
    pthread_condattr_destroy(&ca);
    d->shutdown_code = -1;
    d->con_tokens = 65536;
    d->con_last_ns = hv_now_ns();
    if (hv_time_init(d) < 0) {
        hv_domain_destroy(d);
        return NULL;
    }

    /* SCHEDOP_poll's sleepers are ours: the core wakes them directly. */
    if (evtchn_domain_set_poll_wake(d->evtchn, d->domid, hv_poll_wake_cb,
                                    d) < 0) {
        hv_domain_destroy(d);
        return NULL;
    }
    /* Until the guest registers its own, vCPU i's vcpu_info is slot i of
     * shared_info (only the first XEN_LEGACY_MAX_VCPUS have one). */
    struct shared_info *si = evtchn_domain_shared_info(d->evtchn, d->domid);
    for (uint32_t i = 0; i < d->max_vcpus; i++)
        d->vcpus[i].info = (si && i < XEN_LEGACY_MAX_VCPUS) ?
                           &si->vcpu_info[i] : NULL;
    return d;
}

void hv_domain_destroy(struct hv_domain *d)
{
    if (!d)
        return;
    /* After this no poll wake-up can reach d (the core waits for one in
     * flight); the evtchn domain may already be gone. */
    evtchn_domain_set_poll_wake(d->evtchn, d->domid, NULL, d);
    hv_time_fini(d);           /* no timer fires after this */
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->mem_lock);
    free(d->vcpus);
    free(d);
}

/* The refusal of sub-op cmd of call nr (or of the whole call: cmd
 * HV_LOG_WHOLE_CALL) is logged once per domain: one bit per (call, sub-op)
 * in refusal_logged, sub-ops from HV_STAT_SUBOPS - 1 up sharing the last
 * bit, numbers beyond the table sharing the last row. */
static void hv_log_refusal_nr(struct hv_domain *d, uint64_t nr,
                              unsigned int cmd, long rc)
{
    unsigned int row = nr < HV_NR_HYPERCALLS ? (unsigned int)nr
                                             : HV_NR_HYPERCALLS;
    unsigned int col = cmd < HV_STAT_SUBOPS - 1 ? cmd : HV_STAT_SUBOPS - 1;
    uint64_t bit = 1ull << col;
    uint64_t old = atomic_fetch_or(&d->refusal_logged[row], bit);
    if (rc == -ENOSYS)
        atomic_fetch_add(&d->n_enosys, 1);
    if (old & bit)
        return;
    const char *name = nr < HV_NR_HYPERCALLS ? hv_table[nr].name : NULL;
    char call[48];
    if (name)
        snprintf(call, sizeof(call), "%s", name);
    else
        snprintf(call, sizeof(call), "hypercall %llu", (unsigned long long)nr);
    if (cmd == HV_LOG_WHOLE_CALL)
        fprintf(stderr, "xenkvm: dom%u: %s refused (%ld, as Xen; logged "
                "once)\n", d->domid, call, rc);
    else
        fprintf(stderr, "xenkvm: dom%u: %s sub-op %u refused (%ld, as Xen; "
                "logged once per sub-op)\n", d->domid, call, cmd, rc);
}

void hv_log_refusal(struct hv_ctx *c, unsigned int cmd, long rc)
{
    hv_log_refusal_nr(c->d, c->call->nr, cmd, rc);
}

void hv_log_subop_enosys(struct hv_ctx *c, unsigned int cmd)
{
    hv_log_refusal(c, cmd, -ENOSYS);
}

/* One call, counted, checked and served; in_multicall: it is an entry of
 * a multicall. */
static long hv_dispatch(struct hv_domain *d, uint32_t vcpu_id, void *vcpu,
                        const struct hv_call *call, bool in_multicall)
{
    struct hv_ctx c = { .d = d, .vcpu_id = vcpu_id, .vcpu = vcpu,
                        .call = call, .in_multicall = in_multicall };
    /* One count per call (the total is their sum, hv_get_stats). */
    if (call->nr < HV_NR_HYPERCALLS) {
        uint64_t op = call->nr == __HYPERVISOR_set_timer_op ? UINT64_MAX
                                                            : call->arg[0];
        atomic_fetch_add_explicit(
            &d->n_calls[call->nr][op < HV_STAT_SUBOPS - 1 ? op : HV_STAT_SUBOPS - 1],
            1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&d->n_calls_beyond, 1, memory_order_relaxed);
    }
    /* Xen refuses hypercalls from guest user space. */
    if (call->cpl != 0)
        return -EPERM;
    uint64_t a[5];
    for (int i = 0; i < 5; i++)
        a[i] = call->long_mode ? call->arg[i] : (uint32_t)call->arg[i];
    if (call->nr >= HV_NR_HYPERCALLS || !hv_table[call->nr].fn) {
        hv_log_refusal_nr(d, call->nr, HV_LOG_WHOLE_CALL, -ENOSYS);
        return -ENOSYS;
    }
    long rc = hv_table[call->nr].fn(&c, a);
    return call->long_mode ? rc : hv_compat_result(call->nr, rc);
}

long hv_hypercall(struct hv_domain *d, uint32_t vcpu_id, void *vcpu,
                  const struct hv_call *call)
{
    return hv_dispatch(d, vcpu_id, vcpu, call, false);
}

/* __HYPERVISOR_multicall (Xen's do_multicall): each entry's call is
 * served as if made alone and its return stored in the entry's result; the
 * call itself returns 0, or -EFAULT when an entry cannot be read or its
 * result written (the entries before it were served). A multicall inside
 * a multicall gets -EINVAL in its result (Xen: reentry is disallowed). A
 * 32-bit caller's entries are in its layout (op, result, args of 4 bytes:
 * 32 bytes each) and each is served as a 32-bit call (Xen's
 * compat_multicall), its result truncated to 32 bits. */
long hv_do_multicall(struct hv_ctx *c, const uint64_t *a)
{
    uint64_t list = a[0], n = (uint32_t)a[1];
    if (c->in_multicall)
        return -EINVAL;
    const struct hv_xlate *x = HV_XL(multicall_entry);
    for (uint64_t i = 0; i < n; i++) {
        struct multicall_entry e;
        uint64_t at = list + i * hv_arg_size(c, x);
        if (hv_arg_in(c, x, &e, at))
            return -EFAULT;
        struct hv_call sub = { .nr = e.op, .long_mode = c->call->long_mode,
                               .cpl = c->call->cpl };
        memcpy(sub.arg, e.args, sizeof(sub.arg));
        e.result = (xen_ulong_t)hv_dispatch(c->d, c->vcpu_id, c->vcpu, &sub,
                                            true);
        if (hv_arg_out_part(c, x, at, &e,
                            offsetof(struct multicall_entry, result),
                            sizeof(e.result)))
            return -EFAULT;
        if (hv_stopping(c->d))
            break;          /* e.g. one of them shut the domain down */
    }
    return 0;
}

void hv_fill_hypercall_page(void *page)
{
    uint8_t *p = page;
    memset(p, 0xcc, 4096);
    for (uint32_t i = 0; i < 4096 / HV_STUB_SIZE; i++) {
        uint8_t *s = p + i * HV_STUB_SIZE;
        s[0] = 0xb8;                       /* mov $i, %eax */
        memcpy(s + 1, &i, 4);
        s[5] = 0xe6;                       /* out %al, $HV_HCALL_PORT */
        s[6] = HV_HCALL_PORT;
        s[7] = 0xc3;                       /* ret */
    }
}

/* Copy loop shared by both directions: one guest page at a time, each
 * translated separately (a buffer may straddle unrelated frames). */
static int hv_copy(struct hv_domain *d, void *vcpu, uint64_t gva, void *host,
                   size_t len, bool to_guest)
{
    uint8_t *h = host;
    while (len) {
        size_t chunk = 4096 - (gva & 4095);
        if (chunk > len)
            chunk = len;
        uint8_t *g = d->ops.gva_map(vcpu, gva, to_guest);
        if (!g)
            return -EFAULT;
        if (to_guest)
            memcpy(g, h, chunk);
        else
            memcpy(h, g, chunk);
        h += chunk;
        gva += chunk;
        len -= chunk;
        if (gva < chunk && len)      /* wrapped around the address space */
            return -EFAULT;
    }
    return 0;
}

int hv_copy_from_guest(struct hv_domain *d, void *vcpu, void *dst,
                       uint64_t gva, size_t len)
{
    return hv_copy(d, vcpu, gva, dst, len, false);
}

int hv_copy_to_guest(struct hv_domain *d, void *vcpu, uint64_t gva,
                     const void *src, size_t len)
{
    return hv_copy(d, vcpu, gva, (void *)src, len, true);
}

long hv_struct_op(struct hv_ctx *c, unsigned int cmd, uint64_t arg, size_t len,
                  bool copy_back, hv_struct_fn fn)
{
    /* Large enough for every struct of <xen/event_channel.h> and for the
     * PHYSDEVOPs the IRQ router takes. */
    union {
        uint64_t align;
        uint8_t bytes[128];
    } buf;
    if (len == 0) {
        hv_log_subop_enosys(c, cmd);
        return -ENOSYS;
    }
    if (len > sizeof(buf))
        return -ENOSYS;    /* cannot happen with Xen's structs */
    memset(&buf, 0, sizeof(buf));
    /* A 32-bit caller's struct in its layout where it differs. */
    const struct hv_xlate *x = hv_compat_struct_layout(c, cmd);
    if (x ? hv_arg_in(c, x, buf.bytes, arg) :
        hv_copy_from_guest(c->d, c->vcpu, buf.bytes, arg, len))
        return -EFAULT;
    int rc = fn(c, cmd, buf.bytes);
    if (rc == 0 && copy_back &&
        (x ? hv_arg_out(c, x, arg, buf.bytes) :
         hv_copy_to_guest(c->d, c->vcpu, arg, buf.bytes, len)))
        return -EFAULT;
    return rc;
}

int hv_set_param(struct hv_domain *d, uint32_t idx, uint64_t val)
{
    if (idx >= HVM_NR_PARAMS)
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    d->params[idx] = val;
    pthread_mutex_unlock(&d->lock);
    return 0;
}

int hv_get_param(struct hv_domain *d, uint32_t idx, uint64_t *val)
{
    if (idx >= HVM_NR_PARAMS)
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    *val = d->params[idx];
    pthread_mutex_unlock(&d->lock);
    return 0;
}

uint8_t hv_upcall_vector(struct hv_domain *d, uint32_t vcpu_id, bool *legacy)
{
    if (legacy)
        *legacy = false;
    if (vcpu_id >= d->max_vcpus)
        return 0;
    /* Read without the lock: a byte and a word, each written atomically
     * enough on x86; a racing registration only changes which vector the
     * next upcall uses, as on Xen. */
    uint8_t v = __atomic_load_n(&d->vcpus[vcpu_id].upcall_vector,
                                __ATOMIC_RELAXED);
    if (v)
        return v;
    uint64_t cb = __atomic_load_n(&d->params[HVM_PARAM_CALLBACK_IRQ],
                                  __ATOMIC_RELAXED);
    if ((cb >> 56) == HVM_PARAM_CALLBACK_TYPE_VECTOR && (uint8_t)cb) {
        if (legacy)
            *legacy = true;
        return (uint8_t)cb;
    }
    return 0;
}

bool hv_upcall_outstanding(struct hv_domain *d, uint32_t vcpu_id)
{
    if (vcpu_id >= d->max_vcpus || !hv_upcall_vector(d, vcpu_id, NULL))
        return false;
    /* No lock: called at every vCPU exit. The pointer is published with a
     * release store and vcpu_info pages stay mapped for the domain's life. */
    struct vcpu_info *vi = __atomic_load_n(&d->vcpus[vcpu_id].info,
                                           __ATOMIC_ACQUIRE);
    return vi && __atomic_load_n(&vi->evtchn_upcall_pending, __ATOMIC_ACQUIRE);
}

void hv_vcpu_kick(struct hv_domain *d, uint32_t vcpu_id)
{
    if (vcpu_id >= d->max_vcpus)
        return;
    pthread_mutex_lock(&d->lock);
    d->vcpus[vcpu_id].kicked = true;
    d->wake_gen++;
    pthread_cond_broadcast(&d->wake);
    pthread_mutex_unlock(&d->lock);
}

/* The core's poll wake-up for this domain (evtchn_domain_set_poll_wake):
 * a port became pending while a vCPU polls. Bumping the generation makes
 * hv_poll re-check even if it has not started waiting yet. */
static void hv_poll_wake_cb(void *arg, evtchn_port_t port)
{
    struct hv_domain *d = arg;
    (void)port;
    pthread_mutex_lock(&d->lock);
    d->wake_gen++;
    pthread_cond_broadcast(&d->wake);
    pthread_mutex_unlock(&d->lock);
}

bool hv_stopping(struct hv_domain *d)
{
    pthread_mutex_lock(&d->lock);
    bool s = d->stopping;
    pthread_mutex_unlock(&d->lock);
    return s;
}

void hv_domain_stop(struct hv_domain *d)
{
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    d->wake_gen++;
    pthread_cond_broadcast(&d->wake);
    pthread_cond_signal(&d->timer_cv);     /* its thread ends, sends no more */
    pthread_mutex_unlock(&d->lock);
}

/* SCHEDOP_block: enable event delivery and sleep until an upcall is
 * pending for this vCPU (or one was kicked in, or the domain stops). */
int hv_block(struct hv_ctx *c)
{
    struct hv_domain *d = c->d;
    struct hv_vcpu_state *v = &d->vcpus[c->vcpu_id];
    pthread_mutex_lock(&d->lock);
    v->kicked = false;
    if (v->info)
        __atomic_store_n(&v->info->evtchn_upcall_mask, 0, __ATOMIC_SEQ_CST);
    hv_time_runstate_locked(c, RUNSTATE_blocked);
    while (!d->stopping && !v->kicked &&
           !(v->info && __atomic_load_n(&v->info->evtchn_upcall_pending,
                                        __ATOMIC_SEQ_CST)))
        pthread_cond_wait(&d->wake, &d->lock);
    hv_time_runstate_locked(c, RUNSTATE_running);
    pthread_mutex_unlock(&d->lock);
    return 0;
}

/* SCHEDOP_poll: sleep until one of ports is pending or the absolute
 * deadline (CLOCK_MONOTONIC ns, 0: none) passes. The pending check goes
 * through the core (it knows both ABIs; it looks at these ports only)
 * without our lock held. The race with poll_wake is closed by the wake
 * generation: it is read before the check, and we sleep only while it is
 * unchanged, so a port that became pending after the check has bumped it
 * and we check again. */
int hv_poll(struct hv_ctx *c, const evtchn_port_t *ports, unsigned int n,
            uint64_t timeout_ns)
{
    struct hv_domain *d = c->d;
    int rc = evtchn_domain_pollers(d->evtchn, d->domid, 1);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&d->lock);
    hv_time_runstate_locked(c, RUNSTATE_blocked);    /* Xen: poll blocks */
    pthread_mutex_unlock(&d->lock);
    for (;;) {
        pthread_mutex_lock(&d->lock);
        uint64_t gen = d->wake_gen;
        bool stop = d->stopping;
        pthread_mutex_unlock(&d->lock);
        if (stop)
            break;
        if (evtchn_any_pending(d->evtchn, d->domid, ports, n) != 0)
            break;
        if (timeout_ns && hv_now_ns() >= timeout_ns)
            break;
        pthread_mutex_lock(&d->lock);
        while (d->wake_gen == gen && !d->stopping) {
            if (timeout_ns) {
                struct timespec ts = { .tv_sec = timeout_ns / 1000000000ull,
                                       .tv_nsec = timeout_ns % 1000000000ull };
                if (pthread_cond_timedwait(&d->wake, &d->lock, &ts) ==
                    ETIMEDOUT)
                    break;
            } else {
                pthread_cond_wait(&d->wake, &d->lock);
            }
        }
        pthread_mutex_unlock(&d->lock);
    }
    pthread_mutex_lock(&d->lock);
    hv_time_runstate_locked(c, RUNSTATE_running);
    pthread_mutex_unlock(&d->lock);
    evtchn_domain_pollers(d->evtchn, d->domid, -1);
    return 0;
}

void hv_call_stats(struct hv_domain *d,
                   void (*fn)(void *arg, const char *name, unsigned int nr,
                              unsigned int subop, uint64_t count),
                   void *arg)
{
    for (unsigned int nr = 0; nr < HV_NR_HYPERCALLS; nr++)
        for (unsigned int op = 0; op < HV_STAT_SUBOPS; op++) {
            uint64_t n = atomic_load_explicit(&d->n_calls[nr][op],
                                              memory_order_relaxed);
            if (n)
                fn(arg, hv_table[nr].name, nr, op, n);
        }
}

void hv_get_stats(struct hv_domain *d, struct hv_stats *out)
{
    out->hypercalls = atomic_load(&d->n_calls_beyond);
    for (unsigned int nr = 0; nr < HV_NR_HYPERCALLS; nr++)
        for (unsigned int op = 0; op < HV_STAT_SUBOPS; op++)
            out->hypercalls += atomic_load_explicit(&d->n_calls[nr][op],
                                                    memory_order_relaxed);
    out->enosys = atomic_load(&d->n_enosys);
    out->console_dropped = atomic_load(&d->n_con_dropped);
    out->timer_virqs = atomic_load(&d->n_timer_virqs);
}

/*
 * Xen time for the domain: system time, pvclock (struct vcpu_time_info),
 * the wallclock in shared_info, the per-vCPU timers that raise VIRQ_TIMER
 * (VCPUOP_set_singleshot_timer, set_periodic_timer, set_timer_op), the
 * runstate areas and vm_assist's runstate_update_flag.
 *
 * The clock. Once the platform has told us the guest's TSC (tsc_info hook:
 * its rate and its offset from the host's RDTSC), the domain's system time
 * is one linear function of the guest TSC for the rest of its life:
 *
 *     S(tsc) = sys0 + scale(tsc - tsc0)
 *
 * with (tsc0, sys0) taken once (sys0: CLOCK_MONOTONIC since hv_domain_create,
 * so S is "ns since the domain started", as before the TSC was known) and
 * scale() exactly the guest's pvclock arithmetic (tsc_to_system_mul/shift).
 * Every vcpu_time_info we write holds the same (tsc0, sys0, mul, shift) with
 * XEN_PVCLOCK_TSC_STABLE_BIT, so a guest reading any of them on any vCPU
 * computes the same S we use for its timers: a timer never fires before its
 * deadline in the guest's own time, and rewriting a vcpu_time_info never
 * moves the guest's clock (no re-anchoring, no rounding step backwards).
 * Without the hook (tests, or a platform that cannot say) S is
 * CLOCK_MONOTONIC since creation and no pvclock is offered.
 *
 * Timers run on one thread per domain (started by the first timer set),
 * sleeping on CLOCK_MONOTONIC until the earliest deadline and re-checking
 * against S before firing: hv stays free of any event loop, a guest's tick
 * does not wait behind a dom0 service's work on the VMM's loop, and Xen too
 * runs guest timers in its own context, not the vCPU's. A fired timer sends
 * VIRQ_TIMER through the event-channel core and wakes SCHEDOP_block/poll.
 *
 * Runstate: running / blocked are exact at every SCHEDOP_block and
 * SCHEDOP_poll entry and exit (the guest area is rewritten there and on
 * registration); offline between VCPUOP_down and VCPUOP_up (vCPU 0 starts
 * running, the others offline). Time the host spends not running a vCPU
 * thread is counted as running (no steal time): KVM does not tell us.
 */
#include <stdint.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HV_HAVE_TSC 1
#endif

#include <xen/platform.h>
#include <xen/vcpu.h>

#include "hv_int.h"

/* Xen's set_time_scale: the TSC rate scaled by 2^shift into (1e9, 2e9] Hz,
 * then mul = 1e9 * 2^32 / that, which is below 2^32. */
int hv_time_scale(uint32_t khz, uint32_t *mul, int8_t *shift)
{
    if (khz == 0)
        return -EINVAL;
    uint64_t hz = (uint64_t)khz * 1000;
    int s = 0;
    while (hz > 2000000000ull) {
        hz >>= 1;
        s--;
    }
    while (hz <= 1000000000ull) {
        hz <<= 1;
        s++;
    }
    *mul = (uint32_t)((1000000000ull << 32) / hz);
    *shift = (int8_t)s;
    return 0;
}

/* The guest's computation (Linux's pvclock_scale_delta). */
uint64_t hv_time_scale_delta(uint64_t delta, uint32_t mul, int8_t shift)
{
    if (shift < 0)
        delta >>= -shift;
    else
        delta <<= shift;
    return (uint64_t)(((unsigned __int128)delta * mul) >> 32);
}

void hv_time_write(struct vcpu_time_info *dst, const struct vcpu_time_info *src)
{
    /* Xen's version_update_begin/end: odd while the fields change, even
     * after. Each field store is a release, so it cannot be seen before
     * the odd version; the even version is a release after them all (no
     * standalone fence: ThreadSanitizer does not model those). */
    uint32_t v = __atomic_load_n(&dst->version, __ATOMIC_RELAXED);
    __atomic_store_n(&dst->version, (v + 1) | 1, __ATOMIC_RELAXED);
    __atomic_store_n(&dst->tsc_timestamp, src->tsc_timestamp, __ATOMIC_RELEASE);
    __atomic_store_n(&dst->system_time, src->system_time, __ATOMIC_RELEASE);
    __atomic_store_n(&dst->tsc_to_system_mul, src->tsc_to_system_mul,
                     __ATOMIC_RELEASE);
    __atomic_store_n(&dst->tsc_shift, src->tsc_shift, __ATOMIC_RELEASE);
    __atomic_store_n(&dst->flags, src->flags, __ATOMIC_RELEASE);
    __atomic_store_n(&dst->version, ((v + 1) | 1) + 1, __ATOMIC_RELEASE);
}

/* Between two copies into guest memory (hv_copy_to_guest: memcpy through
 * gva_map), stores stay in program order on x86 (TSO); the compiler must
 * not merge or move them. */
#define HV_GUEST_STORE_ORDER() __asm__ __volatile__("" ::: "memory")

static uint64_t host_tsc(void)
{
#ifdef HV_HAVE_TSC
    return __rdtsc();
#else
    return 0;
#endif
}

static bool clock_ready(struct hv_domain *d)
{
    return __atomic_load_n(&d->clk.ready, __ATOMIC_ACQUIRE);
}

uint64_t hv_time_now(struct hv_domain *d)
{
    if (!clock_ready(d))
        return hv_now_ns() - d->start_ns;
    uint64_t tsc = host_tsc() + (uint64_t)d->clk.offset;
    uint64_t delta = tsc > d->clk.tsc0 ? tsc - d->clk.tsc0 : 0;
    return d->clk.sys0 + hv_time_scale_delta(delta, d->clk.mul, d->clk.shift);
}

uint64_t hv_time_to_mono(struct hv_domain *d, uint64_t s)
{
    uint64_t now = hv_time_now(d), mono = hv_now_ns();
    return s <= now ? 1 : mono + (s - now);     /* past: any past instant */
}

/* Ask the platform for the guest TSC once (from a hypercall: c->vcpu is
 * the caller, which the platform may query). True when pvclock is on. */
bool hv_time_pvclock(struct hv_ctx *c)
{
    struct hv_domain *d = c->d;
    if (clock_ready(d))
        return true;
#ifndef HV_HAVE_TSC
    return false;
#else
    if (!d->ops.tsc_info)
        return false;
    pthread_mutex_lock(&d->lock);
    if (!d->clk.ready && !d->clk.failed) {
        uint32_t khz = 0;
        int64_t off = 0;
        if (d->ops.tsc_info(d->opaque, c->vcpu, &khz, &off) < 0 ||
            hv_time_scale(khz, &d->clk.mul, &d->clk.shift) < 0) {
            d->clk.failed = true;
            hv_log(d, "no guest TSC rate: no pvclock");
        } else {
            d->clk.khz = khz;
            d->clk.offset = off;
            /* sys0 and tsc0 at the same instant: S stays continuous. */
            d->clk.sys0 = hv_now_ns() - d->start_ns;
            d->clk.tsc0 = host_tsc() + (uint64_t)off;
            __atomic_store_n(&d->clk.ready, true, __ATOMIC_RELEASE);
        }
    }
    bool ok = d->clk.ready;
    pthread_mutex_unlock(&d->lock);
    return ok;
#endif
}

static void time_info(struct hv_domain *d, struct vcpu_time_info *t)
{
    memset(t, 0, sizeof(*t));
    t->tsc_timestamp = d->clk.tsc0;
    t->system_time = d->clk.sys0;
    t->tsc_to_system_mul = d->clk.mul;
    t->tsc_shift = d->clk.shift;
    t->flags = XEN_PVCLOCK_TSC_STABLE_BIT;
}

void hv_time_fill_info(struct hv_ctx *c, struct vcpu_info *vi)
{
    if (!vi || !hv_time_pvclock(c))
        return;
    struct vcpu_time_info t;
    time_info(c->d, &t);
    hv_time_write(&vi->time, &t);
}

/* The wallclock at system time 0 (Xen's wc_*), in the layout the domain
 * latched: the core owns shared_info's layout and writes it. */
static void wallclock_write(struct hv_domain *d)
{
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t wc = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec -
                  hv_time_now(d);
    evtchn_domain_set_wallclock(d->evtchn, d->domid, wc / 1000000000ull,
                                (uint32_t)(wc % 1000000000ull));
}

void hv_time_fill_shared(struct hv_ctx *c)
{
    struct hv_domain *d = c->d;
    struct shared_info *si = evtchn_domain_shared_info(d->evtchn, d->domid);
    if (!si || !hv_time_pvclock(c))
        return;
    /* vcpu_info's slots and their time are where struct shared_info says
     * in both layouts (evtchn.h). */
    for (uint32_t i = 0; i < d->max_vcpus && i < XEN_LEGACY_MAX_VCPUS; i++)
        hv_time_fill_info(c, &si->vcpu_info[i]);
    wallclock_write(d);
}

void hv_latch_shinfo(struct hv_domain *d, bool long_mode)
{
    if (evtchn_domain_latch_shinfo(d->evtchn, d->domid, !long_mode) < 0)
        return;
    /* Xen's hvm_latch_shinfo_size rewrites the wallclock in the layout
     * just latched (the only field it converts); ours is written once the
     * clock is known (hv_time_fill_shared), so only then. */
    if (clock_ready(d))
        wallclock_write(d);
}

/* ---- runstate ---- */

/* Under d->lock. Write vCPU id's runstate to its guest area (if any)
 * through c's page tables; with runstate_update_flag, the entry time
 * carries XEN_RUNSTATE_UPDATE while the rest changes. Failures are
 * ignored, as Xen ignores them. */
static void runstate_publish(struct hv_ctx *c, uint32_t id)
{
    struct hv_vcpu_state *v = &c->d->vcpus[id];
    if (!v->rs_gva)
        return;
    struct vcpu_runstate_info rs = v->rs;
    /* In the layout of the guest that registered it (i386: 44 bytes). */
    const struct hv_xlate *x = HV_XL(vcpu_runstate_info);
    size_t at = offsetof(struct vcpu_runstate_info, state_entry_time);
    bool lm = !v->rs_compat;
    bool flag = atomic_load(&c->d->vm_assist) &
                (1ull << VMASST_TYPE_runstate_update_flag);
    if (flag) {
        rs.state_entry_time |= XEN_RUNSTATE_UPDATE;
        hv_arg_out_as(c, lm, x, v->rs_gva, &rs, at, 8);
        HV_GUEST_STORE_ORDER();
    }
    hv_arg_out_as(c, lm, x, v->rs_gva, &rs, 0, sizeof(rs));
    if (flag) {
        HV_GUEST_STORE_ORDER();
        rs.state_entry_time &= ~XEN_RUNSTATE_UPDATE;
        hv_arg_out_as(c, lm, x, v->rs_gva, &rs, at, 8);
    }
}

static void runstate_account(struct hv_vcpu_state *v, int state, uint64_t now)
{
    struct vcpu_runstate_info *rs = &v->rs;
    if (now > rs->state_entry_time && rs->state >= 0 && rs->state < 4)
        rs->time[rs->state] += now - rs->state_entry_time;
    if (now > rs->state_entry_time)
        rs->state_entry_time = now;
    rs->state = state;
}

void hv_time_runstate_locked(struct hv_ctx *c, int state)
{
    runstate_account(&c->d->vcpus[c->vcpu_id], state, hv_time_now(c->d));
    runstate_publish(c, c->vcpu_id);
}

void hv_time_vcpu_online(struct hv_domain *d, uint32_t id, bool up)
{
    pthread_mutex_lock(&d->lock);
    struct hv_vcpu_state *v = &d->vcpus[id];
    int want = up ? RUNSTATE_running : RUNSTATE_offline;
    if ((v->rs.state == RUNSTATE_offline) != !up)
        runstate_account(v, want, hv_time_now(d));
    pthread_mutex_unlock(&d->lock);
}

/* ---- timers ---- */

static void *timer_thread(void *arg);

/* Under d->lock: make sure the timer thread runs, and tell it the
 * deadlines changed. */
static int timers_changed(struct hv_domain *d)
{
    if (!d->timer_started) {
        if (pthread_create(&d->timer_thread, NULL, timer_thread, d) != 0)
            return -ENOMEM;
        d->timer_started = true;
    }
    pthread_cond_signal(&d->timer_cv);
    return 0;
}

static int singleshot_set(struct hv_domain *d, uint32_t id, uint64_t at)
{
    pthread_mutex_lock(&d->lock);
    d->vcpus[id].sshot_armed = true;
    d->vcpus[id].sshot_at = at;
    int rc = timers_changed(d);
    if (rc)
        d->vcpus[id].sshot_armed = false;
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static void singleshot_stop(struct hv_domain *d, uint32_t id)
{
    pthread_mutex_lock(&d->lock);
    d->vcpus[id].sshot_armed = false;
    pthread_mutex_unlock(&d->lock);
}

/* Under d->lock: which timers are due at now (fire[i] set, singleshots
 * disarmed, periodic ones moved on as Xen's vcpu_periodic_timer_work: the
 * next tick one period after this one, no catch-up); the earliest deadline
 * still armed, or UINT64_MAX. */
static uint64_t timers_due(struct hv_domain *d, uint64_t now, bool *any)
{
    uint64_t next = UINT64_MAX;
    *any = false;
    for (uint32_t i = 0; i < d->max_vcpus; i++) {
        struct hv_vcpu_state *v = &d->vcpus[i];
        d->timer_fire[i] = false;
        if (v->sshot_armed && v->sshot_at <= now) {
            v->sshot_armed = false;
            d->timer_fire[i] = true;
        } else if (v->sshot_armed && v->sshot_at < next) {
            next = v->sshot_at;
        }
        if (v->period) {
            if (now >= v->period_last + v->period) {
                d->timer_fire[i] = true;
                v->period_last = now;
            }
            if (v->period_last + v->period < next)
                next = v->period_last + v->period;
        }
        *any |= d->timer_fire[i];
        /* Counted in the same lock hold as the claim: once a stop returns,
         * the count of that timer's ticks is final. */
        if (d->timer_fire[i])
            atomic_fetch_add(&d->n_timer_virqs, 1);
    }
    return next;
}

static void *timer_thread(void *arg)
{
    struct hv_domain *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!d->stopping && !d->timer_quit) {
        bool any;
        uint64_t now = hv_time_now(d);
        uint64_t next = timers_due(d, now, &any);
        if (any) {
            /* The core's locks come before ours (hv_int.h). */
            pthread_mutex_unlock(&d->lock);
            for (uint32_t i = 0; i < d->max_vcpus; i++)
                if (d->timer_fire[i])
                    evtchn_send_virq(d->evtchn, d->domid, i, VIRQ_TIMER);
            pthread_mutex_lock(&d->lock);
            /* A vCPU in SCHEDOP_block/poll re-checks its upcall flag even
             * where the platform's kick does not reach hv_vcpu_kick. */
            d->wake_gen++;
            pthread_cond_broadcast(&d->wake);
            continue;
        }
        if (next == UINT64_MAX) {
            pthread_cond_wait(&d->timer_cv, &d->lock);
            continue;
        }
        /* S runs at CLOCK_MONOTONIC's rate (within the TSC's ppm); the
         * deadline is checked against S again when we wake. */
        uint64_t at = hv_time_to_mono(d, next);
        struct timespec ts = { .tv_sec = (time_t)(at / 1000000000ull),
                               .tv_nsec = (long)(at % 1000000000ull) };
        pthread_cond_timedwait(&d->timer_cv, &d->lock, &ts);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* ---- the hypercalls ---- */

static long periodic_op(struct hv_ctx *c, uint32_t id, uint64_t arg, bool set)
{
    struct hv_domain *d = c->d;
    uint64_t period = 0;
    if (set) {
        struct vcpu_set_periodic_timer p;
        if (hv_copy_from_guest(d, c->vcpu, &p, arg, sizeof(p)))
            return -EFAULT;
        /* Xen: at least 1 ms, at most STIME_DELTA_MAX */
        if (p.period_ns < 1000000ull || p.period_ns > (uint64_t)INT64_MAX)
            return -EINVAL;
        period = p.period_ns;
    }
    pthread_mutex_lock(&d->lock);
    d->vcpus[id].period = period;
    int rc = period ? timers_changed(d) : 0;
    if (rc)
        d->vcpus[id].period = 0;
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static long runstate_register(struct hv_ctx *c, uint32_t id, uint64_t arg)
{
    struct vcpu_register_runstate_memory_area a;
    if (hv_arg_in(c, HV_XL(vcpu_register_runstate_memory_area), &a, arg))
        return -EFAULT;
    /* Xen takes any address of an HVM guest and writes it as it can. */
    pthread_mutex_lock(&c->d->lock);
    c->d->vcpus[id].rs_gva = a.addr.p;
    c->d->vcpus[id].rs_compat = !c->call->long_mode;
    runstate_account(&c->d->vcpus[id], c->d->vcpus[id].rs.state,
                     hv_time_now(c->d));
    runstate_publish(c, id);
    pthread_mutex_unlock(&c->d->lock);
    return 0;
}

static long runstate_get(struct hv_ctx *c, uint32_t id, uint64_t arg)
{
    pthread_mutex_lock(&c->d->lock);
    struct vcpu_runstate_info rs = c->d->vcpus[id].rs;
    pthread_mutex_unlock(&c->d->lock);
    /* Xen's vcpu_runstate_get: the current state's time up to now */
    uint64_t now = hv_time_now(c->d);
    if (now > rs.state_entry_time && rs.state >= 0 && rs.state < 4)
        rs.time[rs.state] += now - rs.state_entry_time;
    return hv_arg_out(c, HV_XL(vcpu_runstate_info), arg, &rs);
}

/* VCPUOP_register_vcpu_time_memory_area: a second copy of the vCPU's
 * vcpu_time_info at a guest virtual address (Linux's vDSO clock). Ours
 * never changes, so one versioned write at registration keeps it current. */
static long time_area_register(struct hv_ctx *c, uint64_t arg)
{
    struct vcpu_register_time_memory_area a;
    if (hv_arg_in(c, HV_XL(vcpu_register_time_memory_area), &a, arg))
        return -EFAULT;
    if (!a.addr.p || !hv_time_pvclock(c))
        return 0;
    struct vcpu_time_info t;
    time_info(c->d, &t);
    /* The version protocol through guest copies: odd, the fields, even. */
    t.version = 1;
    hv_copy_to_guest(c->d, c->vcpu, a.addr.p, &t.version, sizeof(t.version));
    HV_GUEST_STORE_ORDER();
    hv_copy_to_guest(c->d, c->vcpu, a.addr.p, &t, sizeof(t));
    HV_GUEST_STORE_ORDER();
    t.version = 2;
    hv_copy_to_guest(c->d, c->vcpu, a.addr.p, &t.version, sizeof(t.version));
    return 0;
}

long hv_time_vcpu_op(struct hv_ctx *c, unsigned int cmd, uint32_t id,
                     uint64_t arg)
{
    struct hv_domain *d = c->d;
    switch (cmd) {
    case VCPUOP_set_singleshot_timer: {
        if (id != c->vcpu_id)
            return -EINVAL;          /* Xen: only on yourself */
        struct vcpu_set_singleshot_timer s;
        if (hv_arg_in(c, HV_XL(vcpu_set_singleshot_timer), &s, arg))
            return -EFAULT;
        if ((s.flags & VCPU_SSHOTTMR_future) &&
            s.timeout_abs_ns < hv_time_now(d))
            return -ETIME;
        return singleshot_set(d, id, s.timeout_abs_ns);
    }
    case VCPUOP_stop_singleshot_timer:
        if (id != c->vcpu_id)
            return -EINVAL;
        singleshot_stop(d, id);
        return 0;
    case VCPUOP_set_periodic_timer:
        return periodic_op(c, id, arg, true);
    case VCPUOP_stop_periodic_timer:
        return periodic_op(c, id, arg, false);
    case VCPUOP_register_runstate_memory_area:
        return runstate_register(c, id, arg);
    case VCPUOP_get_runstate_info:
        return runstate_get(c, id, arg);
    case VCPUOP_register_vcpu_time_memory_area:
        return time_area_register(c, arg);
    default:
        return -ENOSYS;
    }
}

/* __HYPERVISOR_set_timer_op: the calling vCPU's singleshot timer (Xen's
 * do_set_timer_op): 0 stops it; a deadline that wrapped negative or lies
 * more than 2^50 ns ahead (a Linux jiffies wrap) fires in 100 ms instead. */
long hv_do_set_timer_op(struct hv_ctx *c, const uint64_t *a)
{
    uint64_t t = c->call->long_mode ? a[0] : (a[0] | a[1] << 32);
    if (t == 0) {
        singleshot_stop(c->d, c->vcpu_id);
        return 0;
    }
    uint64_t now = hv_time_now(c->d);
    if ((int64_t)t < 0 || (t > now && ((t - now) >> 50) != 0))
        t = now + 100000000ull;
    return singleshot_set(c->d, c->vcpu_id, t);
}

/* Which VMASST types an HVM guest may turn on (Xen's HVM_VM_ASSIST_MASK). */
#define HV_VM_ASSIST_VALID (1ull << VMASST_TYPE_runstate_update_flag)

long hv_do_vm_assist(struct hv_ctx *c, const uint64_t *a)
{
    unsigned int cmd = (unsigned int)a[0];
    uint64_t type = a[1];
    if (type >= 64 || !((1ull << type) & HV_VM_ASSIST_VALID))
        return -EINVAL;
    if (cmd == VMASST_CMD_enable)
        atomic_fetch_or(&c->d->vm_assist, 1ull << type);
    else if (cmd == VMASST_CMD_disable)
        atomic_fetch_and(&c->d->vm_assist, ~(1ull << type));
    else
        return -ENOSYS;
    return 0;
}

/* __HYPERVISOR_platform_op (XENPF_settime and the rest): the hardware
 * domain's alone. Xen reads the struct and checks its version first. */
long hv_do_platform_op(struct hv_ctx *c, const uint64_t *a)
{
    struct xen_platform_op op;
    if (hv_copy_from_guest(c->d, c->vcpu, &op, a[0], sizeof(op)))
        return -EFAULT;
    if (op.interface_version != XENPF_INTERFACE_VERSION)
        return -EACCES;
    return -EPERM;
}

int hv_time_init(struct hv_domain *d)
{
    d->start_ns = hv_now_ns();
    d->timer_fire = calloc(d->max_vcpus, sizeof(*d->timer_fire));
    if (!d->timer_fire)
        return -ENOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->timer_cv, &ca);
    pthread_condattr_destroy(&ca);
    for (uint32_t i = 0; i < d->max_vcpus; i++)
        d->vcpus[i].rs.state = i == 0 ? RUNSTATE_running : RUNSTATE_offline;
    return 0;
}

void hv_time_fini(struct hv_domain *d)
{
    if (!d->timer_fire)
        return;            /* hv_time_init did not run */
    pthread_mutex_lock(&d->lock);
    d->timer_quit = true;
    pthread_cond_signal(&d->timer_cv);
    bool started = d->timer_started;
    pthread_mutex_unlock(&d->lock);
    if (started)
        pthread_join(d->timer_thread, NULL);
    pthread_cond_destroy(&d->timer_cv);
    free(d->timer_fire);
    d->timer_fire = NULL;
}

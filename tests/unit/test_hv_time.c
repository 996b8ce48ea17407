/*
 * Unit tests of Xen time in the hypercall layer (src/hv/hv_time.c) against
 * the real event-channel core: the pvclock arithmetic and version protocol
 * (a reader thread beside the writer: suite 'concurrency', TSan), the time
 * info and wallclock written when shared_info is mapped, every timer op's
 * errno, VIRQ_TIMER from a singleshot timer waking SCHEDOP_block, periodic
 * ticks, stops that stop, runstate areas. Guest memory is a plain buffer
 * (linear == physical); the guest TSC is the host's (offset 0).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include <cmocka.h>

#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/features.h>
#include <xen/memory.h>
#include <xen/platform.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/hv.h"
#include "hv_int.h"
#include "evtchn_abi32.h"

#define HV_TEST_PAGES 16
#define PAGES HV_TEST_PAGES

#include "hv_test_platform.h"

static uint32_t tsc_khz;
static int tsc_calls;

static int t_map_shinfo(void *dom, uint64_t gfn)
{
    (void)dom;
    (void)gfn;
    return 0;
}

static int t_is_up(void *dom, uint32_t id)
{
    (void)dom;
    return id == 0;
}

static int t_tsc_info(void *dom, void *vcpu, uint32_t *khz, int64_t *offset)
{
    (void)dom;
    (void)vcpu;
    tsc_calls++;
    *khz = tsc_khz;
    *offset = 0;
    return 0;
}

static const struct hv_platform_ops ops = {
    .gva_map = t_gva_map, .gfn_map = t_gfn_map, .vcpu_is_up = t_is_up,
    .map_shared_info = t_map_shinfo, .tsc_info = t_tsc_info,
};
static const struct hv_platform_ops ops_no_tsc = {
    .gva_map = t_gva_map, .gfn_map = t_gfn_map, .vcpu_is_up = t_is_up,
    .map_shared_info = t_map_shinfo,
};

struct fx {
    struct evtchn_host *h;
    struct hv_domain *d;
};

static struct hv_domain *make_domain(struct evtchn_host *h,
                                     const struct hv_platform_ops *o)
{
    struct hv_domain_config hc = { .domid = 1, .max_vcpus = 2,
        .ram_pages = PAGES, .evtchn = h, .ops = o };
    return hv_domain_create(&hc);
}

/* The host TSC's rate, roughly (the tests need no more). */
static uint32_t calibrate_khz(void)
{
    struct timespec a, b, ts = { 0, 20 * 1000 * 1000 };
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint64_t t0 = __rdtsc();
    nanosleep(&ts, NULL);
    uint64_t t1 = __rdtsc();
    clock_gettime(CLOCK_MONOTONIC, &b);
    uint64_t ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull +
                  (uint64_t)b.tv_nsec - (uint64_t)a.tv_nsec;
    return (uint32_t)((t1 - t0) * 1000000ull / ns);
}

static int setup(void **state)
{
    static struct fx f;
    if (!tsc_khz)
        tsc_khz = calibrate_khz();
    memset(&shinfo, 0, sizeof(shinfo));
    unmapped_gfn = 5;                  /* a hole in the guest's memory */
    f.h = hv_test_host(2, false);
    f.d = make_domain(f.h, &ops);
    assert_non_null(f.d);
    tsc_calls = 0;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hv_domain_destroy(f->d);
    hv_test_host_destroy(f->h);
    return 0;
}

static long call_as(struct fx *f, uint32_t vcpu, unsigned int nr, uint64_t a0,
                    uint64_t a1, uint64_t a2)
{
    struct hv_call c = { .nr = nr, .arg = { a0, a1, a2 }, .long_mode = true };
    return hv_hypercall(f->d, vcpu, NULL, &c);
}

static long call(struct fx *f, unsigned int nr, uint64_t a0, uint64_t a1,
                 uint64_t a2)
{
    return call_as(f, 0, nr, a0, a1, a2);
}

static uint32_t features(struct fx *f)
{
    struct xen_feature_info fi = { .submap_idx = 0 };
    memcpy(mem + 0x100, &fi, sizeof(fi));
    assert_int_equal(call(f, __HYPERVISOR_xen_version, XENVER_get_features,
                          0x100, 0), 0);
    memcpy(&fi, mem + 0x100, sizeof(fi));
    return fi.submap;
}

static void map_shinfo(struct fx *f)
{
    struct xen_add_to_physmap x = { .domid = DOMID_SELF,
        .space = XENMAPSPACE_shared_info, .idx = 0, .gpfn = 9 };
    memcpy(mem + 0x180, &x, sizeof(x));
    assert_int_equal(call(f, __HYPERVISOR_memory_op, XENMEM_add_to_physmap,
                          0x180, 0), 0);
}

/* The guest's reading of a vcpu_time_info: the version protocol and
 * Linux's pvclock arithmetic. */
static uint64_t guest_read(const struct vcpu_time_info *t)
{
    for (;;) {
        uint32_t v1 = __atomic_load_n(&t->version, __ATOMIC_ACQUIRE);
        /* acquire loads: the second version read comes after them all */
        uint64_t ts = __atomic_load_n(&t->tsc_timestamp, __ATOMIC_ACQUIRE);
        uint64_t st = __atomic_load_n(&t->system_time, __ATOMIC_ACQUIRE);
        uint32_t mul = __atomic_load_n(&t->tsc_to_system_mul, __ATOMIC_ACQUIRE);
        int8_t sh = __atomic_load_n(&t->tsc_shift, __ATOMIC_ACQUIRE);
        uint64_t now = __rdtsc();
        if ((v1 & 1) || v1 != __atomic_load_n(&t->version, __ATOMIC_RELAXED))
            continue;
        return st + hv_time_scale_delta(now - ts, mul, sh);
    }
}

/* mul/shift against ns computed directly, over a second and over a day. */
static void test_scale(void **state)
{
    (void)state;
    static const uint32_t khz[] = { 100000, 999999, 1000000, 1000001,
        2400000, 2893212, 3700001, 4294967, 5000000 };
    for (size_t i = 0; i < sizeof(khz) / sizeof(khz[0]); i++) {
        uint32_t mul;
        int8_t shift;
        assert_int_equal(hv_time_scale(khz[i], &mul, &shift), 0);
        assert_true(mul >= 1u << 31);     /* full precision in the fraction */
        uint64_t ticks[] = { 1, 12345, (uint64_t)khz[i] * 1000,
                             (uint64_t)khz[i] * 1000 * 86400 };
        for (size_t k = 0; k < 4; k++) {
            unsigned __int128 exact = (unsigned __int128)ticks[k] * 1000000;
            uint64_t want = (uint64_t)(exact / khz[i]);
            uint64_t got = hv_time_scale_delta(ticks[k], mul, shift);
            uint64_t diff = got > want ? got - want : want - got;
            /* mul truncated to 32 fraction bits, delta shifted right by
             * up to 2 bits: a few ns, and under 2^-29 of the value. */
            assert_true(diff <= 4 + (want >> 29));
        }
    }
    uint32_t mul;
    int8_t shift;
    assert_int_equal(hv_time_scale(0, &mul, &shift), -EINVAL);
}

/* ---- the version protocol, seen from a reader thread ---- */

static struct vcpu_time_info shared_ti;
static _Atomic bool writer_done;

/* Content k is self-consistent: every field derives from k. */
static void content(struct vcpu_time_info *t, uint32_t k)
{
    t->tsc_timestamp = k;
    t->system_time = (uint64_t)k * 3 + 1;
    t->tsc_to_system_mul = k * 7 + 2;
    t->tsc_shift = (int8_t)(k & 7);
    t->flags = (uint8_t)(k & 1);
}

static void *writer(void *arg)
{
    (void)arg;
    struct vcpu_time_info t;
    for (uint32_t k = 1; k <= 200000; k++) {
        content(&t, k);
        hv_time_write(&shared_ti, &t);
    }
    atomic_store(&writer_done, true);
    return NULL;
}

static void test_version_reader(void **state)
{
    (void)state;
    memset(&shared_ti, 0, sizeof(shared_ti));
    struct vcpu_time_info first;
    content(&first, 0);
    hv_time_write(&shared_ti, &first);
    atomic_store(&writer_done, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer, NULL), 0);
    unsigned long good = 0, torn = 0;
    bool last = false;
    while (!last) {
        last = atomic_load(&writer_done);
        uint32_t v1 = __atomic_load_n(&shared_ti.version, __ATOMIC_ACQUIRE);
        struct vcpu_time_info r;
        /* acquire loads: the second version read comes after them all */
        r.tsc_timestamp = __atomic_load_n(&shared_ti.tsc_timestamp, __ATOMIC_ACQUIRE);
        r.system_time = __atomic_load_n(&shared_ti.system_time, __ATOMIC_ACQUIRE);
        r.tsc_to_system_mul = __atomic_load_n(&shared_ti.tsc_to_system_mul,
                                              __ATOMIC_ACQUIRE);
        r.tsc_shift = __atomic_load_n(&shared_ti.tsc_shift, __ATOMIC_ACQUIRE);
        r.flags = __atomic_load_n(&shared_ti.flags, __ATOMIC_ACQUIRE);
        uint32_t v2 = __atomic_load_n(&shared_ti.version, __ATOMIC_RELAXED);
        if ((v1 & 1) || v1 != v2) {
            torn++;
            continue;
        }
        struct vcpu_time_info want;
        content(&want, (uint32_t)r.tsc_timestamp);
        /* A copy the protocol accepts is one writer's content, whole. */
        assert_int_equal(r.system_time, want.system_time);
        assert_int_equal(r.tsc_to_system_mul, want.tsc_to_system_mul);
        assert_int_equal(r.tsc_shift, want.tsc_shift);
        assert_int_equal(r.flags, want.flags);
        good++;
    }
    pthread_join(t, NULL);
    assert_true(good >= 1);
    /* 200000 writes, each bumping the version by two */
    assert_int_equal(shared_ti.version, 2 * 200001);
    assert_int_equal(shared_ti.tsc_timestamp, 200000);
    (void)torn;
}

/* ---- what mapping shared_info fills ---- */

static void test_pvclock_on_map(void **state)
{
    struct fx *f = *state;
    assert_true(features(f) & (1u << XENFEAT_hvm_safe_pvclock));
    assert_int_equal(tsc_calls, 1);
    map_shinfo(f);
    for (int i = 0; i < 2; i++) {
        const struct vcpu_time_info *t = &shinfo.vcpu_info[i].time;
        assert_true(t->tsc_to_system_mul != 0);
        assert_int_equal(t->version & 1, 0);
        assert_true(t->version >= 2);
        assert_true(t->flags & XEN_PVCLOCK_TSC_STABLE_BIT);
    }
    assert_int_equal(tsc_calls, 1);      /* asked once per domain */
    /* The guest's clock and ours are the same function of the TSC. */
    uint64_t g = guest_read(&shinfo.vcpu_info[0].time);
    uint64_t h = hv_time_now(f->d);
    uint64_t g2 = guest_read(&shinfo.vcpu_info[1].time);
    assert_true(g <= h && h <= g2);
    /* Wallclock: even version, within a day of the host's. */
    assert_int_equal(shinfo.wc_version & 1, 0);
    assert_true(shinfo.wc_version >= 2);
    uint64_t sec = ((uint64_t)shinfo.wc_sec_hi << 32 | shinfo.wc_sec) +
                   g2 / 1000000000ull;
    time_t now = time(NULL);
    assert_true(sec + 86400 > (uint64_t)now && sec < (uint64_t)now + 86400);
    /* A registered vcpu_info gets the same time info. */
    struct vcpu_register_vcpu_info r = { .mfn = 3, .offset = 0x40 };
    memcpy(mem + 0x200, &r, sizeof(r));
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info,
                          0, 0x200), 0);
    const struct vcpu_info *vi = (const void *)(mem + 3 * 4096 + 0x40);
    assert_int_equal(vi->time.tsc_to_system_mul,
                     shinfo.vcpu_info[0].time.tsc_to_system_mul);
    assert_int_equal(vi->time.tsc_timestamp,
                     shinfo.vcpu_info[0].time.tsc_timestamp);
    assert_int_equal(vi->time.version & 1, 0);
    /* And the vDSO's time area (guest virtual), likewise. */
    struct vcpu_register_time_memory_area ta = { .addr.p = 0x2000 };
    memcpy(mem + 0x240, &ta, sizeof(ta));
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op,
                          VCPUOP_register_vcpu_time_memory_area, 0, 0x240), 0);
    const struct vcpu_time_info *t2 = (const void *)(mem + 0x2000);
    assert_int_equal(t2->version, 2);
    assert_int_equal(t2->tsc_to_system_mul, vi->time.tsc_to_system_mul);
    assert_true(t2->flags & XEN_PVCLOCK_TSC_STABLE_BIT);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op,
                          VCPUOP_register_vcpu_time_memory_area, 0, 5 * 4096),
                     -EFAULT);
}

/* No tsc_info hook: no pvclock offered, nothing written, timers still run
 * on CLOCK_MONOTONIC. */
static void test_no_tsc_hook(void **state)
{
    struct fx *f = *state;
    hv_domain_destroy(f->d);
    f->d = make_domain(f->h, &ops_no_tsc);
    assert_non_null(f->d);
    assert_false(features(f) & (1u << XENFEAT_hvm_safe_pvclock));
    map_shinfo(f);
    assert_int_equal(shinfo.vcpu_info[0].time.tsc_to_system_mul, 0);
    assert_int_equal(shinfo.vcpu_info[0].time.version, 0);
}

/* ---- timer ops: Xen's errno ---- */

static void test_timer_errno(void **state)
{
    struct fx *f = *state;
    struct vcpu_set_singleshot_timer s = { .timeout_abs_ns = 1,
                                           .flags = VCPU_SSHOTTMR_future };
    memcpy(mem + 0x300, &s, sizeof(s));
    /* Only on yourself (before the struct is read). */
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer,
                          1, 5 * 4096), -EINVAL);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_stop_singleshot_timer,
                          1, 0), -EINVAL);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer,
                          0, 5 * 4096), -EFAULT);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer,
                          2, 0x300), -ENOENT);
    /* In the past with VCPU_SSHOTTMR_future. */
    features(f);                        /* the clock: from the TSC */
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer,
                          0, 0x300), -ETIME);
    /* Far in the future: accepted, then stopped. */
    s = (struct vcpu_set_singleshot_timer){ .timeout_abs_ns = UINT64_MAX / 2,
                                            .flags = VCPU_SSHOTTMR_future };
    memcpy(mem + 0x300, &s, sizeof(s));
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer,
                          0, 0x300), 0);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_stop_singleshot_timer,
                          0, 0), 0);
    /* Periodic: any vCPU of ours, 1 ms up to INT64_MAX ns. */
    struct vcpu_set_periodic_timer p = { .period_ns = 999999 };
    memcpy(mem + 0x340, &p, sizeof(p));
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_periodic_timer,
                          1, 0x340), -EINVAL);
    p.period_ns = (uint64_t)INT64_MAX + 1;
    memcpy(mem + 0x340, &p, sizeof(p));
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_periodic_timer,
                          1, 0x340), -EINVAL);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_periodic_timer,
                          1, 5 * 4096), -EFAULT);
    p.period_ns = 3600ull * 1000000000ull;
    memcpy(mem + 0x340, &p, sizeof(p));
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_periodic_timer,
                          1, 0x340), 0);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_stop_periodic_timer,
                          1, 0), 0);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_stop_periodic_timer,
                          2, 0), -ENOENT);
    /* set_timer_op: 0 stops. */
    assert_int_equal(call(f, __HYPERVISOR_set_timer_op, 0, 0, 0), 0);
    /* vm_assist: only runstate_update_flag for HVM; unknown command. */
    assert_int_equal(call(f, __HYPERVISOR_vm_assist, VMASST_CMD_enable,
                          VMASST_TYPE_writable_pagetables, 0), -EINVAL);
    assert_int_equal(call(f, __HYPERVISOR_vm_assist, VMASST_CMD_enable, 64, 0),
                     -EINVAL);
    assert_int_equal(call(f, __HYPERVISOR_vm_assist, 7,
                          VMASST_TYPE_runstate_update_flag, 0), -ENOSYS);
    assert_int_equal(call(f, __HYPERVISOR_vm_assist, VMASST_CMD_enable,
                          VMASST_TYPE_runstate_update_flag, 0), 0);
    /* platform_op (XENPF_settime ...): the hardware domain's. */
    struct xen_platform_op op = { .cmd = XENPF_settime64,
                                  .interface_version = 1 };
    memcpy(mem + 0x400, &op, sizeof(op));
    assert_int_equal(call(f, __HYPERVISOR_platform_op, 0x400, 0, 0), -EACCES);
    op.interface_version = XENPF_INTERFACE_VERSION;
    memcpy(mem + 0x400, &op, sizeof(op));
    assert_int_equal(call(f, __HYPERVISOR_platform_op, 0x400, 0, 0), -EPERM);
    assert_int_equal(call(f, __HYPERVISOR_platform_op, 5 * 4096, 0, 0),
                     -EFAULT);
    struct hv_stats st;
    hv_get_stats(f->d, &st);
    assert_int_equal(st.timer_virqs, 0);
}

/* ---- delivery ---- */

/* VIRQ_TIMER bound to vCPU 0, unmasked; its port. */
static evtchn_port_t bind_timer(struct fx *f)
{
    struct evtchn_bind_virq bv = { .virq = VIRQ_TIMER, .vcpu = 0 };
    assert_int_equal(evtchn_do_op(f->h, 1, 0, EVTCHNOP_bind_virq, &bv), 0);
    return bv.port;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

static uint64_t timer_virqs(struct fx *f)
{
    struct hv_stats st;
    hv_get_stats(f->d, &st);
    return st.timer_virqs;
}

/* A 20 ms singleshot timer ends SCHEDOP_block with VIRQ_TIMER pending, not
 * before its deadline in the guest's clock. A lost wake-up hangs the test. */
static void test_singleshot_wakes_block(void **state)
{
    struct fx *f = *state;
    features(f);
    map_shinfo(f);
    evtchn_port_t port = bind_timer(f);
    struct vcpu_register_runstate_memory_area ra = { .addr.p = 0x3000 };
    memcpy(mem + 0x500, &ra, sizeof(ra));
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op,
                          VCPUOP_register_runstate_memory_area, 0, 0x500), 0);
    const struct vcpu_runstate_info *rs = (const void *)(mem + 0x3000);
    assert_int_equal(rs->state, RUNSTATE_running);
    uint64_t blocked_before = rs->time[RUNSTATE_blocked];

    uint64_t deadline = guest_read(&shinfo.vcpu_info[0].time) + 20000000ull;
    struct vcpu_set_singleshot_timer s = { .timeout_abs_ns = deadline,
                                           .flags = VCPU_SSHOTTMR_future };
    memcpy(mem + 0x300, &s, sizeof(s));
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer,
                          0, 0x300), 0);
    shinfo.vcpu_info[0].evtchn_upcall_pending = 0;
    assert_int_equal(call(f, __HYPERVISOR_sched_op, SCHEDOP_block, 0, 0), 0);
    assert_true(guest_read(&shinfo.vcpu_info[0].time) >= deadline);
    assert_true(shinfo.evtchn_pending[0] & ((xen_ulong_t)1 << port));
    assert_int_equal(shinfo.vcpu_info[0].evtchn_upcall_pending, 1);
    assert_int_equal(timer_virqs(f), 1);
    /* The block was accounted and published: running again, blocked time
     * grew, the entry time is the guest clock's. */
    assert_int_equal(rs->state, RUNSTATE_running);
    assert_true(rs->time[RUNSTATE_blocked] > blocked_before);
    assert_true(rs->state_entry_time >= deadline);
    /* A singleshot fires once. */
    sleep_ms(30);
    assert_int_equal(timer_virqs(f), 1);
    /* In the past without the future flag: fires at once (Linux's use). */
    s.flags = 0;
    s.timeout_abs_ns = 1;
    memcpy(mem + 0x300, &s, sizeof(s));
    /* What the guest's upcall does: port, selector, flag. */
    shinfo.evtchn_pending[0] = 0;
    shinfo.vcpu_info[0].evtchn_pending_sel = 0;
    shinfo.vcpu_info[0].evtchn_upcall_pending = 0;
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer,
                          0, 0x300), 0);
    assert_int_equal(call(f, __HYPERVISOR_sched_op, SCHEDOP_block, 0, 0), 0);
    assert_int_equal(timer_virqs(f), 2);
}

/* Periodic ticks keep coming until stopped; after the stop returns, none. */
static void test_periodic_and_stops(void **state)
{
    struct fx *f = *state;
    features(f);
    map_shinfo(f);
    bind_timer(f);
    struct vcpu_set_periodic_timer p = { .period_ns = 1000000 };
    memcpy(mem + 0x340, &p, sizeof(p));
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_periodic_timer,
                          0, 0x340), 0);
    while (timer_virqs(f) < 5)
        sleep_ms(1);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_stop_periodic_timer,
                          0, 0), 0);
    uint64_t n = timer_virqs(f);
    sleep_ms(30);
    assert_int_equal(timer_virqs(f), n);
    /* A singleshot stopped before its deadline never fires. */
    struct vcpu_set_singleshot_timer s = {
        .timeout_abs_ns = hv_time_now(f->d) + 10000000ull };
    memcpy(mem + 0x300, &s, sizeof(s));
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_set_singleshot_timer,
                          0, 0x300), 0);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_stop_singleshot_timer,
                          0, 0), 0);
    /* set_timer_op: same timer; 0 stops it too. */
    assert_int_equal(call(f, __HYPERVISOR_set_timer_op,
                          hv_time_now(f->d) + 10000000ull, 0, 0), 0);
    assert_int_equal(call(f, __HYPERVISOR_set_timer_op, 0, 0, 0), 0);
    sleep_ms(30);
    assert_int_equal(timer_virqs(f), n);
    /* set_timer_op fires too. */
    assert_int_equal(call(f, __HYPERVISOR_set_timer_op, 1, 0, 0), 0);
    while (timer_virqs(f) == n)
        sleep_ms(1);
    assert_int_equal(timer_virqs(f), n + 1);
}

/* Runstate: another vCPU's area, get_runstate_info, offline/running with
 * VCPUOP_up/down, the update flag cleared after a write. */
static void test_runstate(void **state)
{
    struct fx *f = *state;
    struct vcpu_runstate_info rs;
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_get_runstate_info,
                          1, 0x600), 0);
    memcpy(&rs, mem + 0x600, sizeof(rs));
    assert_int_equal(rs.state, RUNSTATE_offline);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_get_runstate_info,
                          0, 0x600), 0);
    memcpy(&rs, mem + 0x600, sizeof(rs));
    assert_int_equal(rs.state, RUNSTATE_running);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_get_runstate_info,
                          0, 5 * 4096), -EFAULT);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_get_runstate_info,
                          2, 0x600), -ENOENT);
    assert_int_equal(call(f, __HYPERVISOR_vm_assist, VMASST_CMD_enable,
                          VMASST_TYPE_runstate_update_flag, 0), 0);
    /* vCPU 0 registers vCPU 1's area: written at once. */
    struct vcpu_register_runstate_memory_area ra = { .addr.p = 0x3100 };
    memcpy(mem + 0x500, &ra, sizeof(ra));
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op,
                          VCPUOP_register_runstate_memory_area, 1, 0x500), 0);
    const struct vcpu_runstate_info *g = (const void *)(mem + 0x3100);
    assert_int_equal(g->state, RUNSTATE_offline);
    assert_int_equal(g->state_entry_time & XEN_RUNSTATE_UPDATE, 0);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op,
                          VCPUOP_register_runstate_memory_area, 1, 5 * 4096),
                     -EFAULT);
    /* An unmapped area is accepted, as Xen accepts any HVM address. */
    ra.addr.p = 5 * 4096;
    memcpy(mem + 0x500, &ra, sizeof(ra));
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op,
                          VCPUOP_register_runstate_memory_area, 0, 0x500), 0);
    /* vCPU 1's own block (a poll that times out) publishes its area. */
    ra.addr.p = 0x3200;
    memcpy(mem + 0x500, &ra, sizeof(ra));
    assert_int_equal(call_as(f, 1, __HYPERVISOR_vcpu_op,
                             VCPUOP_register_runstate_memory_area, 1, 0x500), 0);
    struct sched_poll sp = { .nr_ports = 0, .timeout = 1 };
    memcpy(mem + 0x700, &sp, sizeof(sp));
    assert_int_equal(call_as(f, 1, __HYPERVISOR_sched_op, SCHEDOP_poll, 0x700,
                             0), 0);
    g = (const void *)(mem + 0x3200);
    assert_int_equal(g->state, RUNSTATE_running);
    assert_int_equal(g->state_entry_time & XEN_RUNSTATE_UPDATE, 0);
    assert_true(g->time[RUNSTATE_offline] > 0);
    uint64_t sum = 0;
    for (int i = 0; i < 4; i++)
        sum += g->time[i];
    assert_true(sum <= g->state_entry_time);
}

/* Xen's hvm_latch_shinfo_size: HVM_PARAM_CALLBACK_IRQ latches the
 * caller's mode as the shared_info layout and rewrites the wallclock in
 * it; the hypercall page's MSR (hv_latch_shinfo from the VMM) too. */
static void test_shinfo_latch(void **state)
{
    struct fx *f = *state;
    map_shinfo(f);
    assert_int_equal(evtchn_domain_shinfo_i386(f->h, 1), 0);
    uint32_t v64 = shinfo.wc_version;
    assert_true(v64 >= 2);
    struct xen_hvm_param p = { .domid = DOMID_SELF,
        .index = HVM_PARAM_CALLBACK_IRQ,
        .value = (uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56 | 0xf3 };
    memcpy(mem + 0x300, &p, sizeof(p));
    struct hv_call c32 = { .nr = __HYPERVISOR_hvm_op,
                           .arg = { HVMOP_set_param, 0x300 }, .long_mode = false };
    assert_int_equal(hv_hypercall(f->d, 0, NULL, &c32), 0);
    assert_int_equal(evtchn_domain_shinfo_i386(f->h, 1), 1);
    /* The wallclock at the i386 offsets: even version, within a day. */
    const uint8_t *si = (const uint8_t *)&shinfo;
    uint32_t ver, lo, hi;
    memcpy(&ver, si + EVTCHN32_OFF_shared_info_wc_version, 4);
    memcpy(&lo, si + EVTCHN32_OFF_shared_info_wc_sec, 4);
    memcpy(&hi, si + EVTCHN32_OFF_shared_info_wc_sec_hi, 4);
    assert_int_equal(ver & 1, 0);
    assert_true(ver >= 2);
    uint64_t sec = ((uint64_t)hi << 32 | lo) + hv_time_now(f->d) / 1000000000ull;
    time_t now = time(NULL);
    assert_true(sec + 86400 > (uint64_t)now && sec < (uint64_t)now + 86400);
    assert_int_equal(shinfo.wc_version, v64);    /* x86_64's left alone */
    /* A 64-bit caller latches x86_64's again. */
    assert_int_equal(call(f, __HYPERVISOR_hvm_op, HVMOP_set_param, 0x300, 0), 0);
    assert_int_equal(evtchn_domain_shinfo_i386(f->h, 1), 0);
    assert_int_equal(shinfo.wc_version, v64 + 2);
    /* The hypercall page's MSR, written in 32-bit mode. */
    hv_latch_shinfo(f->d, false);
    assert_int_equal(evtchn_domain_shinfo_i386(f->h, 1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale),
        cmocka_unit_test(test_version_reader),
        cmocka_unit_test_setup_teardown(test_pvclock_on_map, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_tsc_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_errno, setup, teardown),
        cmocka_unit_test_setup_teardown(test_singleshot_wakes_block, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_periodic_and_stops, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_runstate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shinfo_latch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

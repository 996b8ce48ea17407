/*
 * Unit tests of Xen's answers to the calls docs/abi.md lists beyond the
 * everyday ones: the privileged hypercalls (src/hv/hv_priv.c), multicall,
 * the hvm_op / vcpu_op / sched_op sub-ops added for the table, and the
 * once-per-call-and-sub-op refusal log. Domain 1 (us, 2 vCPUs) beside
 * domain 0 and domain 7.
 */
#define __XEN_TOOLS__ 1        /* domctl/sysctl structs, as a guest fills */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <xen/xen.h>
#include <xen/domctl.h>
#include <xen/hvm/dm_op.h>
#include <xen/hvm/hvm_op.h>
#include <xen/platform.h>
#include <xen/sched.h>
#include <xen/sysctl.h>
#include <xen/vcpu.h>
#include <xen/version.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/hv.h"

#define HV_TEST_PAGES 16
#include "hv_test_platform.h"

static unsigned int shut_reason = ~0u;

static void t_shutdown(void *dom, unsigned int reason)
{
    (void)dom;
    shut_reason = reason;
}

static const struct hv_platform_ops ops = {
    .gva_map = t_gva_map, .gfn_map = t_gfn_map, .shutdown = t_shutdown,
};

static int setup(void **state)
{
    static struct hv_test_fx f;
    unmapped_gfn = 5;
    f.h = hv_test_host(2, false);
    struct evtchn_domain_config c7 = { .domid = 7, .max_vcpus = 1 };
    assert_int_equal(evtchn_domain_create(f.h, &c7), 0);
    struct hv_domain_config hc = { .domid = 1, .max_vcpus = 2,
        .ram_pages = HV_TEST_PAGES, .evtchn = f.h, .ops = &ops };
    f.d = hv_domain_create(&hc);
    assert_non_null(f.d);
    shut_reason = ~0u;
    *state = &f;
    return 0;
}

static long call(struct hv_test_fx *f, unsigned int nr, uint64_t a0, uint64_t a1,
                 uint64_t a2, uint64_t a3)
{
    struct hv_call c = { .nr = nr, .arg = { a0, a1, a2, a3 },
                         .long_mode = true };
    return hv_hypercall(f->d, 0, NULL, &c);
}

#define AT 0x2000                /* where the tests put argument structs */
#define BAD (5 * 4096)           /* the unmapped frame */

static long with(struct hv_test_fx *f, unsigned int nr, uint64_t a0, const void *s,
                 size_t len)
{
    memcpy(mem + AT, s, len);
    return call(f, nr, a0, AT, 0, 0);
}

static void test_sysctl(void **state)
{
    struct hv_test_fx *f = *state;
    struct xen_sysctl op = { .cmd = XEN_SYSCTL_physinfo,
                             .interface_version = XEN_SYSCTL_INTERFACE_VERSION };
    memcpy(mem + AT, &op, sizeof(op));
    assert_int_equal(call(f, __HYPERVISOR_sysctl, AT, 0, 0, 0), -EPERM);
    op.interface_version = 1;
    memcpy(mem + AT, &op, sizeof(op));
    assert_int_equal(call(f, __HYPERVISOR_sysctl, AT, 0, 0, 0), -EACCES);
    assert_int_equal(call(f, __HYPERVISOR_sysctl, BAD, 0, 0, 0), -EFAULT);
}

static long domctl(struct hv_test_fx *f, uint32_t cmd, domid_t dom, uint32_t ver)
{
    struct xen_domctl op = { .cmd = cmd, .domain = dom,
                             .interface_version = ver };
    memcpy(mem + AT, &op, sizeof(op));
    return call(f, __HYPERVISOR_domctl, AT, 0, 0, 0);
}

static void test_domctl(void **state)
{
    struct hv_test_fx *f = *state;
    const uint32_t v = XEN_DOMCTL_INTERFACE_VERSION;
    assert_int_equal(domctl(f, XEN_DOMCTL_pausedomain, 1, v), -EPERM);
    assert_int_equal(domctl(f, XEN_DOMCTL_pausedomain, 7, v), -EPERM);
    assert_int_equal(domctl(f, XEN_DOMCTL_pausedomain, 9, v), -ESRCH);
    /* DOMID_SELF names no domain for domctl */
    assert_int_equal(domctl(f, XEN_DOMCTL_pausedomain, DOMID_SELF, v), -ESRCH);
    assert_int_equal(domctl(f, XEN_DOMCTL_pausedomain, 1, v - 1), -EACCES);
    assert_int_equal(domctl(f, XEN_DOMCTL_createdomain, 9, v), -EPERM);
    assert_int_equal(domctl(f, XEN_DOMCTL_assign_device, DOMID_IO, v), -EPERM);
    assert_int_equal(domctl(f, XEN_DOMCTL_assign_device, DOMID_INVALID, v),
                     -ESRCH);
    assert_int_equal(domctl(f, XEN_DOMCTL_test_assign_device, DOMID_INVALID,
                            v), -EPERM);
    /* getdomaininfo: the next domain above an absent id */
    assert_int_equal(domctl(f, XEN_DOMCTL_getdomaininfo, 3, v), -EPERM);
    assert_int_equal(domctl(f, XEN_DOMCTL_getdomaininfo, 8, v), -ESRCH);
    assert_int_equal(domctl(f, XEN_DOMCTL_getdomaininfo, DOMID_SELF, v),
                     -EINVAL);
    assert_int_equal(call(f, __HYPERVISOR_domctl, BAD, 0, 0, 0), -EFAULT);
    /* paging_domctl_cont: a shadow_op continuation only */
    struct xen_domctl op = { .cmd = XEN_DOMCTL_shadow_op, .domain = 1,
                             .interface_version = v };
    memcpy(mem + AT, &op, sizeof(op));
    assert_int_equal(call(f, __HYPERVISOR_arch_1, AT, 0, 0, 0), -EPERM);
    op.domain = 9;
    memcpy(mem + AT, &op, sizeof(op));
    assert_int_equal(call(f, __HYPERVISOR_arch_1, AT, 0, 0, 0), -ESRCH);
    op.cmd = XEN_DOMCTL_pausedomain;
    memcpy(mem + AT, &op, sizeof(op));
    assert_int_equal(call(f, __HYPERVISOR_arch_1, AT, 0, 0, 0), -EOPNOTSUPP);
}

static void test_other_privileged(void **state)
{
    struct hv_test_fx *f = *state;
    assert_int_equal(call(f, __HYPERVISOR_xsm_op, AT, 0, 0, 0), -ENOSYS);
    assert_int_equal(call(f, __HYPERVISOR_hypfs_op, 0, 0, 0, 0), -EPERM);
    assert_int_equal(call(f, __HYPERVISOR_xenpmu_op, 0, AT, 0, 0),
                     -EOPNOTSUPP);
    /* dm_op(domid, nr_bufs, bufs) */
    assert_int_equal(call(f, __HYPERVISOR_dm_op, 7, 0, AT, 0), -ENODATA);
    assert_int_equal(call(f, __HYPERVISOR_dm_op, 7, 3, AT, 0), -E2BIG);
    assert_int_equal(call(f, __HYPERVISOR_dm_op, 7, 1, BAD, 0), -EFAULT);
    assert_int_equal(call(f, __HYPERVISOR_dm_op, 9, 1, AT, 0), -ESRCH);
    assert_int_equal(call(f, __HYPERVISOR_dm_op, 7, 2, AT, 0), -EPERM);
    assert_int_equal(call(f, __HYPERVISOR_dm_op, 1, 1, AT, 0), -EPERM);
    /* mmuext_op(uops, count, pdone, foreigndom) */
    assert_int_equal(call(f, __HYPERVISOR_mmuext_op, AT, 1, 0, DOMID_SELF),
                     -EINVAL);
    assert_int_equal(call(f, __HYPERVISOR_mmuext_op, AT, 1, 0, 7), -EINVAL);
    assert_int_equal(call(f, __HYPERVISOR_mmuext_op, AT, 1, 0, 1), -ESRCH);
    assert_int_equal(call(f, __HYPERVISOR_mmuext_op, AT, 1, 0, 9), -ESRCH);
    assert_int_equal(call(f, __HYPERVISOR_mmuext_op, AT, 1, 0, DOMID_XEN),
                     -EPERM);
    /* platform_op: the version, then the hardware domain's alone */
    struct xen_platform_op pf = { .cmd = XENPF_settime64,
                                  .interface_version = XENPF_INTERFACE_VERSION };
    memcpy(mem + AT, &pf, sizeof(pf));
    assert_int_equal(call(f, __HYPERVISOR_platform_op, AT, 0, 0, 0), -EPERM);
    /* outside Xen's HVM table */
    static const unsigned int not_hvm[] = {
        __HYPERVISOR_set_trap_table, __HYPERVISOR_mmu_update,
        __HYPERVISOR_sched_op_compat, __HYPERVISOR_iret,
        __HYPERVISOR_callback_op, __HYPERVISOR_nmi_op, __HYPERVISOR_kexec_op,
        __HYPERVISOR_tmem_op, __HYPERVISOR_argo_op, __HYPERVISOR_arch_0,
        __HYPERVISOR_event_channel_op_compat, __HYPERVISOR_physdev_op_compat,
    };
    for (size_t i = 0; i < sizeof(not_hvm) / sizeof(not_hvm[0]); i++)
        assert_int_equal(call(f, not_hvm[i], AT, 0, 0, 0), -ENOSYS);
}

static void test_multicall(void **state)
{
    struct hv_test_fx *f = *state;
    struct multicall_entry e[3] = {
        { .op = __HYPERVISOR_xen_version, .args = { XENVER_version } },
        { .op = __HYPERVISOR_sysctl, .args = { BAD } },
        { .op = __HYPERVISOR_multicall, .args = { AT + 0x400, 0 } },
    };
    memcpy(mem + AT, e, sizeof(e));
    assert_int_equal(call(f, __HYPERVISOR_multicall, AT, 3, 0, 0), 0);
    memcpy(e, mem + AT, sizeof(e));
    assert_int_equal((long)e[0].result, (HV_XEN_MAJOR << 16) | HV_XEN_MINOR);
    assert_int_equal((long)e[1].result, -EFAULT);
    assert_int_equal((long)e[2].result, -EINVAL);     /* no nesting */
    assert_int_equal(call(f, __HYPERVISOR_multicall, BAD, 1, 0, 0), -EFAULT);
    assert_int_equal(call(f, __HYPERVISOR_multicall, AT, 0, 0, 0), 0);
}

static void test_hvm_subops(void **state)
{
    struct hv_test_fx *f = *state;
    struct xen_hvm_get_time t = { 0 };
    assert_int_equal(with(f, __HYPERVISOR_hvm_op, HVMOP_get_time, &t,
                          sizeof(t)), 0);
    memcpy(&t, mem + AT, sizeof(t));
    assert_true(t.now > 0);
    assert_int_equal(call(f, __HYPERVISOR_hvm_op, HVMOP_get_time, BAD, 0, 0),
                     -EFAULT);
    struct xen_hvm_xentrace tr = { .event = 1, .extra_bytes = 4 };
    assert_int_equal(with(f, __HYPERVISOR_hvm_op, HVMOP_xentrace, &tr,
                          sizeof(tr)), 0);
    tr.extra_bytes = sizeof(tr.extra) + 1;
    assert_int_equal(with(f, __HYPERVISOR_hvm_op, HVMOP_xentrace, &tr,
                          sizeof(tr)), -EINVAL);
    tr = (struct xen_hvm_xentrace){ .event = 1u << 12 };
    assert_int_equal(with(f, __HYPERVISOR_hvm_op, HVMOP_xentrace, &tr,
                          sizeof(tr)), -EINVAL);
    assert_int_equal(call(f, __HYPERVISOR_hvm_op, HVMOP_guest_request_vm_event,
                          0, 0, 0), 0);
    assert_int_equal(call(f, __HYPERVISOR_hvm_op, HVMOP_guest_request_vm_event,
                          AT, 0, 0), -EINVAL);
    assert_int_equal(call(f, __HYPERVISOR_hvm_op, HVMOP_altp2m, AT, 0, 0),
                     -EOPNOTSUPP);
    struct xen_hvm_get_mem_type m = { .domid = DOMID_SELF, .pfn = 2 };
    assert_int_equal(with(f, __HYPERVISOR_hvm_op, HVMOP_get_mem_type, &m,
                          sizeof(m)), 0);
    memcpy(&m, mem + AT, sizeof(m));
    assert_int_equal(m.mem_type, HVMMEM_ram_rw);
    m = (struct xen_hvm_get_mem_type){ .domid = 1, .pfn = 0xfee00 };
    assert_int_equal(with(f, __HYPERVISOR_hvm_op, HVMOP_get_mem_type, &m,
                          sizeof(m)), 0);
    memcpy(&m, mem + AT, sizeof(m));
    assert_int_equal(m.mem_type, HVMMEM_mmio_dm);
    m.domid = 7;
    assert_int_equal(with(f, __HYPERVISOR_hvm_op, HVMOP_get_mem_type, &m,
                          sizeof(m)), -EPERM);
    m.domid = 9;
    assert_int_equal(with(f, __HYPERVISOR_hvm_op, HVMOP_get_mem_type, &m,
                          sizeof(m)), -ESRCH);
    /* flush_tlbs is documented as not served */
    assert_int_equal(call(f, __HYPERVISOR_hvm_op, HVMOP_flush_tlbs, 0, 0, 0),
                     -ENOSYS);
}

static void test_vcpu_sched_subops(void **state)
{
    struct hv_test_fx *f = *state;
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_get_physid, 0, AT,
                          0), -EINVAL);
    assert_int_equal(call(f, __HYPERVISOR_vcpu_op, VCPUOP_get_physid, 2, AT,
                          0), -ENOENT);
    assert_int_equal(call(f, __HYPERVISOR_sched_op, SCHEDOP_pin_override, BAD,
                          0, 0), -EPERM);
    /* shutdown_code: the first one set is what the shutdown reports */
    struct sched_shutdown s = { .reason = SHUTDOWN_crash };
    assert_int_equal(with(f, __HYPERVISOR_sched_op, SCHEDOP_shutdown_code,
                          &s, sizeof(s)), 0);
    s.reason = SHUTDOWN_reboot;
    assert_int_equal(with(f, __HYPERVISOR_sched_op, SCHEDOP_shutdown_code,
                          &s, sizeof(s)), 0);
    assert_int_equal(call(f, __HYPERVISOR_sched_op, SCHEDOP_shutdown_code,
                          BAD, 0, 0), -EFAULT);
    assert_int_equal(shut_reason, ~0u);          /* nothing shut down yet */
    s.reason = SHUTDOWN_poweroff;
    assert_int_equal(with(f, __HYPERVISOR_sched_op, SCHEDOP_shutdown, &s,
                          sizeof(s)), 0);
    assert_int_equal(shut_reason, SHUTDOWN_crash);
}

/* Each refusal is logged once per call and sub-op: a second identical one
 * is silent, another sub-op of the same call is logged. stderr goes to a
 * pipe for the duration. */
/* nr(a0..a3) answers want to a 64-bit caller and to a 32-bit one (its
 * registers' low halves, the same memory). */
static void both(struct hv_test_fx *f, unsigned int nr, uint64_t a0,
                 uint64_t a1, uint64_t a2, uint64_t a3, long want)
{
    struct hv_call c = { .nr = nr, .arg = { a0, a1, a2, a3 },
                         .long_mode = true };
    assert_int_equal(hv_hypercall(f->d, 0, NULL, &c), want);
    c.long_mode = false;
    assert_int_equal(hv_hypercall(f->d, 0, NULL, &c), want);
}

/* What Xen refuses is refused to a 32-bit caller with the same errno
 * (docs/abi.md: nothing is refused to 32-bit callers only). */
static void test_refusals_both_widths(void **state)
{
    struct hv_test_fx *f = *state;
    memset(mem + AT, 0, 256);
    struct xen_sysctl sc = { .cmd = XEN_SYSCTL_physinfo,
                             .interface_version = XEN_SYSCTL_INTERFACE_VERSION };
    memcpy(mem + AT, &sc, sizeof(sc));
    both(f, __HYPERVISOR_sysctl, AT, 0, 0, 0, -EPERM);
    struct xen_domctl dc = { .cmd = XEN_DOMCTL_pausedomain, .domain = 7,
                             .interface_version = XEN_DOMCTL_INTERFACE_VERSION };
    memcpy(mem + AT, &dc, sizeof(dc));
    both(f, __HYPERVISOR_domctl, AT, 0, 0, 0, -EPERM);
    both(f, __HYPERVISOR_arch_1, AT, 0, 0, 0, -EOPNOTSUPP);
    both(f, __HYPERVISOR_xsm_op, AT, 0, 0, 0, -ENOSYS);
    both(f, __HYPERVISOR_hypfs_op, 0, 0, 0, 0, -EPERM);
    both(f, __HYPERVISOR_xenpmu_op, 0, AT, 0, 0, -EOPNOTSUPP);
    both(f, __HYPERVISOR_mmuext_op, AT, 1, 0, DOMID_IO, -EPERM);
    memset(mem + AT, 0, 256);
    both(f, __HYPERVISOR_platform_op, AT, 0, 0, 0, -EACCES);
    /* dm_op: count, buffer list (16 or 8 bytes a buffer), then domain */
    both(f, __HYPERVISOR_dm_op, 1, 0, AT, 0, -ENODATA);
    both(f, __HYPERVISOR_dm_op, 1, 3, AT, 0, -E2BIG);
    both(f, __HYPERVISOR_dm_op, 1, 2, BAD - 8, 0, -EFAULT);
    both(f, __HYPERVISOR_dm_op, 1, 2, AT, 0, -EPERM);
    both(f, __HYPERVISOR_dm_op, 9, 1, AT, 0, -ESRCH);
    /* sub-ops xenkvm does not serve, or that Xen refuses */
    both(f, __HYPERVISOR_memory_op, XENMEM_exchange, AT, 0, 0, -ENOSYS);
    both(f, __HYPERVISOR_memory_op, XENMEM_machphys_mfn_list, AT, 0, 0, -ENOSYS);
    both(f, __HYPERVISOR_memory_op, XENMEM_machine_memory_map, AT, 0, 0,
         -ENOSYS);
    both(f, __HYPERVISOR_memory_op, 63, AT, 0, 0, -ENOSYS);
    both(f, __HYPERVISOR_hvm_op, HVMOP_altp2m, AT, 0, 0, -EOPNOTSUPP);
    both(f, __HYPERVISOR_vcpu_op, VCPUOP_get_physid, 0, AT, 0, -EINVAL);
    both(f, __HYPERVISOR_vcpu_op, VCPUOP_get_physid, 5, AT, 0, -ENOENT);
    both(f, __HYPERVISOR_sched_op, SCHEDOP_pin_override, AT, 0, 0, -EPERM);
    struct sched_remote_shutdown rs = { .domain_id = 9 };
    memcpy(mem + AT, &rs, sizeof(rs));
    both(f, __HYPERVISOR_sched_op, SCHEDOP_remote_shutdown, AT, 0, 0, -ESRCH);
    both(f, __HYPERVISOR_grant_table_op, GNTTABOP_setup_table, AT, 1, 0,
         -ENOSYS);                            /* no grant table here */
    both(f, __HYPERVISOR_set_trap_table, AT, 0, 0, 0, -ENOSYS);
    both(f, 63, 0, 0, 0, 0, -ENOSYS);
    /* a bad pointer: -EFAULT in both */
    both(f, __HYPERVISOR_sysctl, BAD, 0, 0, 0, -EFAULT);
    both(f, __HYPERVISOR_memory_op, XENMEM_add_to_physmap, BAD, 0, 0, -EFAULT);
    both(f, __HYPERVISOR_sched_op, SCHEDOP_poll, BAD, 0, 0, -EFAULT);
}

/* memory_op(cmd, arg) from a 64-bit (lm) or 32-bit caller */
static long call_w(struct hv_test_fx *f, bool lm, uint64_t cmd, uint64_t arg)
{
    struct hv_call c = { .nr = __HYPERVISOR_memory_op, .arg = { cmd, arg },
                         .long_mode = lm };
    return hv_hypercall(f->d, 0, NULL, &c);
}

/* put16/put32/put64 LE at mem + AT + off */
static void put16(size_t off, uint16_t v) { memcpy(mem + AT + off, &v, 2); }
static void put32(size_t off, uint32_t v) { memcpy(mem + AT + off, &v, 4); }
static void put64(size_t off, uint64_t v) { memcpy(mem + AT + off, &v, 8); }

/* memory_op sub-ops a domU only gets refused or empty answers from
 * (hv_priv_memory_op), in both widths; offsets are those of <xen/memory.h>
 * (x86_64 / i386) */
static void test_memory_refusals(void **state)
{
    struct hv_test_fx *f = *state;
    const uint64_t at_start = 1u << 6;            /* start extent 1 */
    /* pod targets: domid at 32 in both widths; then XSM_PRIV */
    memset(mem + AT, 0, 64);
    put16(32, DOMID_SELF);
    both(f, __HYPERVISOR_memory_op, XENMEM_set_pod_target, AT, 0, 0, -EPERM);
    both(f, __HYPERVISOR_memory_op, XENMEM_get_pod_target, AT, 0, 0, -EPERM);
    put16(32, 7);
    both(f, __HYPERVISOR_memory_op, XENMEM_get_pod_target, AT, 0, 0, -EPERM);
    put16(32, 9);
    both(f, __HYPERVISOR_memory_op, XENMEM_set_pod_target, AT, 0, 0, -ESRCH);
    both(f, __HYPERVISOR_memory_op, XENMEM_set_pod_target, BAD, 0, 0, -EFAULT);
    both(f, __HYPERVISOR_memory_op, XENMEM_get_pod_target | at_start, AT, 0,
         0, -ENOSYS);
    /* mem_sharing's counts: 0 */
    both(f, __HYPERVISOR_memory_op, XENMEM_get_sharing_freed_pages, 0, 0, 0, 0);
    both(f, __HYPERVISOR_memory_op, XENMEM_get_sharing_shared_pages, 0, 0, 0, 0);
    both(f, __HYPERVISOR_memory_op, XENMEM_get_sharing_shared_pages | at_start,
         0, 0, 0, -ENOSYS);
    /* paging and sharing ops: not built into Xen's default build */
    both(f, __HYPERVISOR_memory_op, XENMEM_paging_op, AT, 0, 0, -ENOSYS);
    both(f, __HYPERVISOR_memory_op, XENMEM_sharing_op, AT, 0, 0, -ENOSYS);
    /* access_op: domid at 2; a live remote domain, then XSM_DM_PRIV */
    memset(mem + AT, 0, 64);
    put16(2, DOMID_SELF);
    both(f, __HYPERVISOR_memory_op, XENMEM_access_op, AT, 0, 0, -ESRCH);
    put16(2, 1);
    both(f, __HYPERVISOR_memory_op, XENMEM_access_op, AT, 0, 0, -EPERM);
    put16(2, 7);
    both(f, __HYPERVISOR_memory_op, XENMEM_access_op, AT, 0, 0, -EPERM);
    put16(2, 9);
    both(f, __HYPERVISOR_memory_op, XENMEM_access_op, AT, 0, 0, -ESRCH);
    both(f, __HYPERVISOR_memory_op, XENMEM_access_op, BAD, 0, 0, -EFAULT);
    /* claim_pages: the reservation (domid at 24 / 16) by id, then
     * XSM_PRIV; the two layouts overlap, so one width at a time */
    for (int w = 0; w < 2; w++) {
        bool lm = w == 0;
        size_t dom = lm ? 24 : 16;
        memset(mem + AT, 0, 64);
        put16(dom, 1);
        assert_int_equal(call_w(f, lm, XENMEM_claim_pages, AT), -EPERM);
        assert_int_equal(call_w(f, lm, XENMEM_claim_pages | at_start, AT),
                         -EINVAL);
        put16(dom, DOMID_SELF);
        assert_int_equal(call_w(f, lm, XENMEM_claim_pages, AT), -EINVAL);
        put16(dom, 1);
        put32(0, 0x1000);               /* an extent list: none allowed */
        assert_int_equal(call_w(f, lm, XENMEM_claim_pages, AT), -EINVAL);
        assert_int_equal(call_w(f, lm, XENMEM_claim_pages, BAD), -EFAULT);
    }
    /* get_vnumainfo: same layout in both; no vNUMA */
    memset(mem + AT, 0, 64);
    put16(0, DOMID_SELF);
    both(f, __HYPERVISOR_memory_op, XENMEM_get_vnumainfo, AT, 0, 0,
         -EOPNOTSUPP);
    put16(0, 7);
    both(f, __HYPERVISOR_memory_op, XENMEM_get_vnumainfo, AT, 0, 0, -EPERM);
    put16(0, 9);
    both(f, __HYPERVISOR_memory_op, XENMEM_get_vnumainfo, AT, 0, 0, -ESRCH);
    put16(0, 1);
    put16(2, 1);                        /* pad */
    both(f, __HYPERVISOR_memory_op, XENMEM_get_vnumainfo, AT, 0, 0, -EINVAL);
    both(f, __HYPERVISOR_memory_op, XENMEM_get_vnumainfo, BAD, 0, 0, -EFAULT);
    /* reserved_device_memory_map: served, none (nr_entries at 4 set 0) */
    memset(mem + AT, 0, 64);
    put32(4, 5);
    put64(8, 0x3000);
    assert_int_equal(call(f, __HYPERVISOR_memory_op,
                          XENMEM_reserved_device_memory_map, AT, 0, 0), 0);
    uint32_t n;
    memcpy(&n, mem + AT + 4, 4);
    assert_int_equal(n, 0);
    put32(4, 5);
    both(f, __HYPERVISOR_memory_op, XENMEM_reserved_device_memory_map, AT, 0,
         0, 0);
    memcpy(&n, mem + AT + 4, 4);
    assert_int_equal(n, 0);
    put32(0, 2);                        /* flags beyond XENMEM_RDM_ALL */
    both(f, __HYPERVISOR_memory_op, XENMEM_reserved_device_memory_map, AT, 0,
         0, -EINVAL);
    /* acquire_resource: a translated domU maps none, whatever it passes */
    both(f, __HYPERVISOR_memory_op, XENMEM_acquire_resource, BAD, 0, 0,
         -EACCES);
}

static void test_refusal_logged_once(void **state)
{
    struct hv_test_fx *f = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(p[1], 2);
    call(f, __HYPERVISOR_hypfs_op, 0, 0, 0, 0);
    call(f, __HYPERVISOR_hypfs_op, 1, 0, 0, 0);
    call(f, __HYPERVISOR_hvm_op, 0x7777, 0, 0, 0);
    call(f, __HYPERVISOR_hvm_op, 0x7777, 0, 0, 0);
    call(f, __HYPERVISOR_hvm_op, 0x7778, 0, 0, 0);     /* same bucket */
    call(f, __HYPERVISOR_hvm_op, HVMOP_altp2m, 0, 0, 0);
    call(f, __HYPERVISOR_hvm_op, HVMOP_altp2m, 0, 0, 0);
    call(f, 55, 0, 0, 0, 0);
    call(f, 55, 1, 0, 0, 0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    char buf[2048];
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    assert_true(n > 0);
    buf[n] = 0;
    int lines = 0;
    for (char *q = buf; (q = strchr(q, '\n')); q++)
        lines++;
    assert_int_equal(lines, 4);  /* hypfs_op, hvm_op 0x77xx, altp2m, 55 */
    assert_non_null(strstr(buf, "hypfs_op refused (-1,"));
    assert_non_null(strstr(buf, "hvm_op sub-op 30583 refused (-38,"));
    assert_non_null(strstr(buf, "hvm_op sub-op 25 refused (-95,"));
    assert_non_null(strstr(buf, "hypercall 55 refused (-38,"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sysctl, setup, hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_domctl, setup, hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_other_privileged, setup, hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_multicall, setup, hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_hvm_subops, setup, hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_vcpu_sched_subops, setup,
                                        hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_both_widths, setup,
                                        hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_memory_refusals, setup,
                                        hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_refusal_logged_once, setup,
                                        hv_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Secondary vCPU bring-up and cross-vCPU wake-up, the Xen way (run with
 * --vcpus 2):
 *   vcpu 0: VCPUOP_is_up(1) == 0, EVTCHNOP_bind_ipi(vcpu 1) (left masked),
 *           VCPUOP_initialise(1, 64-bit context; i386: 32-bit, flat
 *           segments), VCPUOP_up(1)
 *   vcpu 1: reports in, SCHEDOP_poll on the masked IPI port (a masked port
 *           still wakes a poller, as Linux's PV spinlock kick relies on)
 *   vcpu 0: EVTCHNOP_send on the IPI port -> vcpu 1 wakes, reports,
 *           VCPUOP_down on itself -> VCPUOP_is_up(1) == 0
 *   vcpu 0: VCPUOP_up(1) again -> vcpu 1 resumes after its VCPUOP_down
 * Every wait is bounded (yields), so a lost wake-up is a FAIL, not a hang.
 */
#include <guest/guest.h>
#include <guest/check.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <xen/hvm/hvm_vcpu.h>

static unsigned char ap_stack[8192] __attribute__((aligned(16)));
static volatile int ap_stage;           /* written by vcpu 1 only */
static volatile long ap_poll_rc = -1;
static volatile long ap_down_rc = -1;
static evtchn_port_t ap_port;

/* vcpu 1: hypercalls and these variables only (see guest.h). */
void guest_ap_main(void)
{
    struct sched_poll sp = { .nr_ports = 1, .timeout = 0 };

    guest_load_idt();
    ap_stage = 1;
    set_xen_guest_handle(sp.ports, &ap_port);
    ap_poll_rc = HYPERVISOR_sched_op(SCHEDOP_poll, &sp);
    ap_stage = 2;
    ap_down_rc = HYPERVISOR_vcpu_op(VCPUOP_down, 1, NULL);
    ap_stage = 3;
    for (;;)
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
}

static int wait_stage(int stage)
{
    for (long i = 0; i < 200000 && ap_stage < stage; i++)
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    return ap_stage;
}

static long wait_is_up(int want)
{
    long rc = -1;
    for (long i = 0; i < 200000; i++) {
        rc = HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL);
        if (rc == want)
            break;
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    }
    return rc;
}

int guest_main(const char *cmdline)
{
    (void)cmdline;

    check_eq("is_up(vcpu 1) before VCPUOP_up", HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL), 0);
    check_eq("up(vcpu 1) before VCPUOP_initialise",
             HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL), -(long)XEN_EINVAL);

    struct evtchn_bind_ipi bi = { .vcpu = 1 };
    check_eq("bind_ipi(vcpu 1)", HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &bi), 0);
    ap_port = bi.port;
    evtchn_setup_port(ap_port);   /* FIFO: its word exists, and is MASKED */
    check_eq("the IPI port is masked", evtchn_is_masked(ap_port), 1);

#ifdef __i386__
    /* Flat 4 GiB segments (the _ar layout of <xen/hvm/hvm_vcpu.h>): code
     * type 0xb, data type 3, S, P, D/B, G. */
    struct vcpu_hvm_context ctx = { .mode = VCPU_HVM_MODE_32B };
    struct vcpu_hvm_x86_32 *r = &ctx.cpu_regs.x86_32;
    r->eip = (uint32_t)(uintptr_t)guest_ap_entry32;
    r->esp = (uint32_t)(uintptr_t)(ap_stack + sizeof(ap_stack));
    r->eflags = 0x2;
    r->cr0 = (uint32_t)cpu_read_cr0();
    r->cr3 = (uint32_t)cpu_read_cr3();
    r->cr4 = (uint32_t)cpu_read_cr4();
    r->cs_limit = r->ds_limit = r->ss_limit = r->es_limit = 0xffffffff;
    r->cs_ar = 0xc9b;
    r->ds_ar = r->ss_ar = r->es_ar = 0xc93;
    check_eq("VCPUOP_initialise(vcpu 1, 32-bit context)",
             HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &ctx), 0);
#else
    struct vcpu_hvm_context ctx = { .mode = VCPU_HVM_MODE_64B };
    ctx.cpu_regs.x86_64.rip = (uint64_t)(uintptr_t)guest_ap_entry64;
    ctx.cpu_regs.x86_64.rsp = (uint64_t)(uintptr_t)(ap_stack + sizeof(ap_stack));
    ctx.cpu_regs.x86_64.rflags = 0x2;
    ctx.cpu_regs.x86_64.cr0 = cpu_read_cr0();
    ctx.cpu_regs.x86_64.cr3 = cpu_read_cr3();
    ctx.cpu_regs.x86_64.cr4 = cpu_read_cr4();
    ctx.cpu_regs.x86_64.efer = cpu_rdmsr(0xc0000080);
    check_eq("VCPUOP_initialise(vcpu 1, 64-bit context)",
             HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &ctx), 0);
#endif
    check_eq("VCPUOP_up(vcpu 1)", HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL), 0);
    check_eq("is_up(vcpu 1)", HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL), 1);
    check_eq("vcpu 1 runs our code", wait_stage(1), 1);

    /* Give vcpu 1 time to block in poll, then wake it. */
    for (int i = 0; i < 100; i++)
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    check_eq("vcpu 1 still polling", ap_stage, 1);
    check_eq("send the IPI to vcpu 1", notify_remote_via_evtchn(ap_port), 0);
    check_eq("vcpu 1 woke from SCHEDOP_poll", wait_stage(2) >= 2, 1);
    check_eq("its poll returned", ap_poll_rc, 0);
    check_eq("vcpu 1 took itself down", wait_is_up(0), 0);
    check_eq("vcpu 1 stopped before finishing", ap_stage, 2);

    check_eq("VCPUOP_up(vcpu 1) again", HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL), 0);
    check_eq("vcpu 1 resumed after its VCPUOP_down", wait_stage(3), 3);
    check_eq("its VCPUOP_down returned", ap_down_rc, 0);

    return check_summary("smp");
}

/*
 * The hostile guest: every implemented hypercall with garbage, each result
 * checked against the errno Xen gives (xen/common/event_channel.c,
 * event_fifo.c, kernel.c, memory.c, domain.c, sched/core.c,
 * arch/x86/hvm/hvm.c, drivers/char/console.c with the dummy XSM policy).
 * Prints one ok/FAIL line per check (guest/check.h; the expected value is
 * the errno Xen gives) and exits 0 only if all passed.
 *
 * Command line:
 *   victim=<domid>   another running domain to aim foreign-domain calls at
 *   evtchn=fifo      also runs the FIFO-only checks (runtime option)
 *   norings          skip the XenStore/console ring garbage at the end
 *
 * test_abi walks docs/abi.md: one row per call or sub-op with good and bad
 * arguments (the table abi_rows; adding a row is one line).
 *
 * The guest must stay alive and useful: nothing here may succeed in
 * changing our upcall vector, vcpu_info, event ABI or shutting us down;
 * the last checks prove that event delivery still works.
 */
/* domctl/sysctl structs are in Xen's tools-only headers; a guest fills
 * them all the same. Must come before the first <xen/...>. */
#define __XEN_TOOLS__ 1
#include <guest/guest.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <guest/check.h>
#include <guest/irq.h>
#include <guest/xenbus.h>
#include <xen/io/xs_wire.h>
#include <xen/io/console.h>
#include <xen/domctl.h>
#include <xen/sysctl.h>
#include <xen/platform.h>
#include <xen/hvm/dm_op.h>
#include <xen/hypfs.h>

#define E(x) (-(long)XEN_##x)

/* Garbage addresses. */
#ifdef __i386__
/* i386: the identity map covers all 4 GiB and every address is
 * "canonical": "unmapped" is an address with no RAM behind it, and
 * "non-canonical" one whose struct would wrap past 4 GiB. */
#define BAD_UNMAPPED 0xe0000000UL
#define BAD_NONCANON 0xfffffffcUL
#else
#define BAD_UNMAPPED 0x0000700000000000UL   /* canonical, not in our page tables */
#define BAD_NONCANON 0x8000000000000000UL
#endif
static unsigned long bad_beyond_ram;         /* mapped by us, no RAM behind it */
static unsigned long bad_straddle;           /* last bytes of RAM, then nothing */

#define NOBODY   ((domid_t)0x7fef)           /* a domid no domain has */
static int victim = -1;

static long evtchn_op(int cmd, void *arg)
{
    return HYPERVISOR_event_channel_op(cmd, arg);
}

static long ev_alloc_self(domid_t remote, evtchn_port_t *port)
{
    struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = remote };
    long rc = evtchn_op(EVTCHNOP_alloc_unbound, &a);
    *port = a.port;
    return rc;
}

static long ev_close(evtchn_port_t port)
{
    struct evtchn_close c = { .port = port };
    return evtchn_op(EVTCHNOP_close, &c);
}

static long ev_send(evtchn_port_t port)
{
    struct evtchn_send s = { .port = port };
    return evtchn_op(EVTCHNOP_send, &s);
}

static void test_pointers(void)
{
    char what[96];
    static const char *const names[] = {
        "bind_interdomain", "bind_virq", "bind_pirq", "close", "send", "status",
        "alloc_unbound", "bind_ipi", "bind_vcpu", "unmask", "reset", "init_control",
        "expand_array", "set_priority",
    };

    for (int cmd = 0; cmd < (int)ARRAY_SIZE(names); cmd++) {
        snprintf(what, sizeof(what), "event_channel_op(%s, unmapped pointer)", names[cmd]);
        check_eq(what, evtchn_op(cmd, (void *)BAD_UNMAPPED), E(EFAULT));
    }
    check_eq("event_channel_op(alloc_unbound, non-canonical pointer)",
             evtchn_op(EVTCHNOP_alloc_unbound, (void *)BAD_NONCANON), E(EFAULT));
    if (bad_beyond_ram) {
        check_eq("event_channel_op(status, pointer past the end of RAM)",
                 evtchn_op(EVTCHNOP_status, (void *)bad_beyond_ram), E(EFAULT));
        check_eq("event_channel_op(send, struct straddling the end of RAM)",
                 evtchn_op(EVTCHNOP_send, (void *)bad_straddle), E(EFAULT));
    }
    check_eq("event_channel_op(status, pointer into the LAPIC's MMIO page)",
             evtchn_op(EVTCHNOP_status, (void *)0xfee00000UL), E(EFAULT));
    if (bad_beyond_ram)
        check_eq("console_io(write, buffer running past the end of RAM)",
                 HYPERVISOR_console_io(CONSOLEIO_write, 0x1000, (const char *)(bad_straddle - 0x10)),
                 E(EFAULT));
    check_eq("sched_op(shutdown, unmapped pointer)",
             HYPERVISOR_sched_op(SCHEDOP_shutdown, (void *)BAD_UNMAPPED), E(EFAULT));
    check_eq("sched_op(poll, unmapped pointer)",
             HYPERVISOR_sched_op(SCHEDOP_poll, (void *)BAD_UNMAPPED), E(EFAULT));
    check_eq("hvm_op(get_param, unmapped pointer)",
             HYPERVISOR_hvm_op(HVMOP_get_param, (void *)BAD_UNMAPPED), E(EFAULT));
    check_eq("hvm_op(set_param, unmapped pointer)",
             HYPERVISOR_hvm_op(HVMOP_set_param, (void *)BAD_UNMAPPED), E(EFAULT));
    check_eq("hvm_op(set_evtchn_upcall_vector, unmapped pointer)",
             HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, (void *)BAD_UNMAPPED), E(EFAULT));
    check_eq("memory_op(add_to_physmap, unmapped pointer)",
             HYPERVISOR_memory_op(XENMEM_add_to_physmap, (void *)BAD_UNMAPPED), E(EFAULT));
    check_eq("memory_op(memory_map, unmapped pointer)",
             HYPERVISOR_memory_op(XENMEM_memory_map, (void *)BAD_UNMAPPED), E(EFAULT));
    check_eq("xen_version(extraversion, unmapped pointer)",
             HYPERVISOR_xen_version(XENVER_extraversion, (void *)BAD_UNMAPPED), E(EFAULT));
    check_eq("xen_version(get_features, non-canonical pointer)",
             HYPERVISOR_xen_version(XENVER_get_features, (void *)BAD_NONCANON), E(EFAULT));
    check_eq("vcpu_op(register_vcpu_info, unmapped pointer)",
             HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, (void *)BAD_UNMAPPED), E(EFAULT));
    check_eq("console_io(write, unmapped buffer)",
             HYPERVISOR_console_io(CONSOLEIO_write, 16, (const char *)BAD_UNMAPPED), E(EFAULT));
}

static void test_evtchn(void)
{
    static uint8_t zero[64];
    evtchn_port_t p1 = 0, p2 = 0;

    check_eq("event_channel_op(cmd 14)", evtchn_op(14, zero), E(ENOSYS));
    check_eq("event_channel_op(cmd 0x7fffffff)", evtchn_op(0x7fffffff, zero), E(ENOSYS));

    /* alloc_unbound: the allocating domain is looked up first (ESRCH),
     * then XSM refuses a domU allocating in another domain (EPERM). */
    struct evtchn_alloc_unbound au = { .dom = NOBODY, .remote_dom = DOMID_SELF };
    check_eq("alloc_unbound(dom=nonexistent)", evtchn_op(EVTCHNOP_alloc_unbound, &au), E(ESRCH));
    au = (struct evtchn_alloc_unbound){ .dom = DOMID_INVALID, .remote_dom = DOMID_SELF };
    check_eq("alloc_unbound(dom=DOMID_INVALID)", evtchn_op(EVTCHNOP_alloc_unbound, &au), E(ESRCH));
    au = (struct evtchn_alloc_unbound){ .dom = 0, .remote_dom = DOMID_SELF };
    check_eq("alloc_unbound(dom=0, foreign)", evtchn_op(EVTCHNOP_alloc_unbound, &au), E(EPERM));
    if (victim > 0) {
        au = (struct evtchn_alloc_unbound){ .dom = (domid_t)victim, .remote_dom = DOMID_SELF };
        check_eq("alloc_unbound(dom=victim, foreign)", evtchn_op(EVTCHNOP_alloc_unbound, &au),
                 E(EPERM));
    }

    /* A port of our own, unbound for ourselves. */
    check_eq("alloc_unbound(self, remote=self)", ev_alloc_self(DOMID_SELF, &p1), 0);
    check(p1 != 0, "alloc_unbound returned a non-zero port");

    struct evtchn_status st = { .dom = DOMID_SELF, .port = p1 };
    check_eq("status(self, unbound port)", evtchn_op(EVTCHNOP_status, &st), 0);
    check(st.status == EVTCHNSTAT_unbound && (int)st.u.unbound.dom == guest_domid(),
          "status reports unbound for our own domain");
    st = (struct evtchn_status){ .dom = NOBODY, .port = 1 };
    check_eq("status(dom=nonexistent)", evtchn_op(EVTCHNOP_status, &st), E(ESRCH));
    st = (struct evtchn_status){ .dom = DOMID_SELF, .port = 0x7fffffff };
    check_eq("status(self, huge port)", evtchn_op(EVTCHNOP_status, &st), E(EINVAL));
    st = (struct evtchn_status){ .dom = 0, .port = 0 };
    check_eq("status(dom=0, port 0: foreign)", evtchn_op(EVTCHNOP_status, &st), E(EPERM));

    /* send: dropped on an unbound port, refused on reserved and huge ports. */
    check_eq("send(unbound port) is dropped", ev_send(p1), 0);
    check_eq("send(port 0, reserved)", ev_send(0), E(EINVAL));
    check_eq("send(huge port)", ev_send(0x7fffffff), E(EINVAL));
    check_eq("send(port 0xffffffff)", ev_send(0xffffffffu), E(EINVAL));

    /* bind_interdomain garbage. */
    struct evtchn_bind_interdomain bi = { .remote_dom = NOBODY, .remote_port = 1 };
    check_eq("bind_interdomain(remote=nonexistent)", evtchn_op(EVTCHNOP_bind_interdomain, &bi),
             E(ESRCH));
    bi = (struct evtchn_bind_interdomain){ .remote_dom = DOMID_SELF, .remote_port = 0x7fffffff };
    check_eq("bind_interdomain(self, huge port)", evtchn_op(EVTCHNOP_bind_interdomain, &bi),
             E(EINVAL));
    bi = (struct evtchn_bind_interdomain){ .remote_dom = DOMID_SELF, .remote_port = 0 };
    check_eq("bind_interdomain(self, reserved port 0)", evtchn_op(EVTCHNOP_bind_interdomain, &bi),
             E(EINVAL));
    evtchn_port_t p0;
    check_eq("alloc_unbound(self, remote=0)", ev_alloc_self(0, &p0), 0);
    bi = (struct evtchn_bind_interdomain){ .remote_dom = DOMID_SELF, .remote_port = p0 };
    check_eq("bind_interdomain(port unbound for dom0, not us)",
             evtchn_op(EVTCHNOP_bind_interdomain, &bi), E(EINVAL));
    check_eq("close(port unbound for dom0)", ev_close(p0), 0);
    if (victim > 0) {
        bi = (struct evtchn_bind_interdomain){ .remote_dom = (domid_t)victim, .remote_port = 1 };
        check_eq("bind_interdomain(victim's port 1, not offered to us)",
                 evtchn_op(EVTCHNOP_bind_interdomain, &bi), E(EINVAL));
    }

    /* A real loopback channel: bind sets the new local port pending. */
    bi = (struct evtchn_bind_interdomain){ .remote_dom = DOMID_SELF, .remote_port = p1 };
    check_eq("bind_interdomain(self, our unbound port)", evtchn_op(EVTCHNOP_bind_interdomain, &bi), 0);
    p2 = bi.local_port;
    if (p2 && p2 < GUEST_NR_EVTCHNS) {
        evtchn_setup_port(p2);
        check(evtchn_is_pending(p2), "bind_interdomain left the new local port pending");
        clear_evtchn(p2);
        clear_evtchn(p1);
        check_eq("send(interdomain loopback)", ev_send(p2), 0);
        check(evtchn_is_pending(p1), "send set the peer port pending");
        clear_evtchn(p1);
    }
    bi = (struct evtchn_bind_interdomain){ .remote_dom = DOMID_SELF, .remote_port = p1 };
    check_eq("bind_interdomain(port already bound)", evtchn_op(EVTCHNOP_bind_interdomain, &bi),
             E(EINVAL));
    check_eq("close(one end of the loopback)", ev_close(p1), 0);
    st = (struct evtchn_status){ .dom = DOMID_SELF, .port = p2 };
    check_eq("status(other end)", evtchn_op(EVTCHNOP_status, &st), 0);
    check(st.status == EVTCHNSTAT_unbound && (int)st.u.unbound.dom == guest_domid(),
          "closing one end returns the peer to unbound");
    st = (struct evtchn_status){ .dom = DOMID_SELF, .port = p1 };
    check_eq("status(closed port)", evtchn_op(EVTCHNOP_status, &st), 0);
    check(st.status == EVTCHNSTAT_closed, "a closed port reports closed");
    check_eq("send(closed port)", ev_send(p1), E(EINVAL));
    check_eq("close(closed port)", ev_close(p1), E(EINVAL));
    check_eq("close(port 0, reserved)", ev_close(0), E(EINVAL));
    check_eq("close(huge port)", ev_close(0x7fffffff), E(EINVAL));
    check_eq("close(other end)", ev_close(p2), 0);

    /* bind_virq. */
    struct evtchn_bind_virq bv = { .virq = NR_VIRQS, .vcpu = 0 };
    check_eq("bind_virq(virq NR_VIRQS)", evtchn_op(EVTCHNOP_bind_virq, &bv), E(EINVAL));
    bv = (struct evtchn_bind_virq){ .virq = 0xffffffffu, .vcpu = 0 };
    check_eq("bind_virq(virq -1)", evtchn_op(EVTCHNOP_bind_virq, &bv), E(EINVAL));
    bv = (struct evtchn_bind_virq){ .virq = VIRQ_CONSOLE, .vcpu = 1 };
    check_eq("bind_virq(global VIRQ_CONSOLE on vcpu 1)", evtchn_op(EVTCHNOP_bind_virq, &bv), E(EINVAL));
    bv = (struct evtchn_bind_virq){ .virq = VIRQ_DEBUG, .vcpu = 1 };
    check_eq("bind_virq(VIRQ_DEBUG, vcpu 1 of 1)", evtchn_op(EVTCHNOP_bind_virq, &bv), E(ENOENT));
    bv = (struct evtchn_bind_virq){ .virq = VIRQ_DEBUG, .vcpu = 0xffffffffu };
    check_eq("bind_virq(VIRQ_DEBUG, vcpu -1)", evtchn_op(EVTCHNOP_bind_virq, &bv), E(ENOENT));
    bv = (struct evtchn_bind_virq){ .virq = VIRQ_DEBUG, .vcpu = 0 };
    check_eq("bind_virq(VIRQ_DEBUG, vcpu 0)", evtchn_op(EVTCHNOP_bind_virq, &bv), 0);
    evtchn_port_t pv = bv.port;
    bv = (struct evtchn_bind_virq){ .virq = VIRQ_DEBUG, .vcpu = 0 };
    check_eq("bind_virq(VIRQ_DEBUG again)", evtchn_op(EVTCHNOP_bind_virq, &bv), E(EEXIST));
    struct evtchn_bind_vcpu bvc = { .port = pv, .vcpu = 0 };
    check_eq("bind_vcpu(per-vCPU VIRQ port)", evtchn_op(EVTCHNOP_bind_vcpu, &bvc), E(EINVAL));
    check_eq("close(VIRQ port)", ev_close(pv), 0);

    /* bind_ipi and the things an IPI port cannot do. */
    struct evtchn_bind_ipi bip = { .vcpu = 1 };
    check_eq("bind_ipi(vcpu 1 of 1)", evtchn_op(EVTCHNOP_bind_ipi, &bip), E(ENOENT));
    bip = (struct evtchn_bind_ipi){ .vcpu = 0xffffffffu };
    check_eq("bind_ipi(vcpu -1)", evtchn_op(EVTCHNOP_bind_ipi, &bip), E(ENOENT));
    bip = (struct evtchn_bind_ipi){ .vcpu = 0 };
    check_eq("bind_ipi(vcpu 0)", evtchn_op(EVTCHNOP_bind_ipi, &bip), 0);
    evtchn_port_t pi = bip.port;
    bvc = (struct evtchn_bind_vcpu){ .port = pi, .vcpu = 0 };
    check_eq("bind_vcpu(IPI port)", evtchn_op(EVTCHNOP_bind_vcpu, &bvc), E(EINVAL));
    evtchn_setup_port(pi);
    clear_evtchn(pi);
    check_eq("send(IPI to ourselves)", ev_send(pi), 0);
    check(evtchn_is_pending(pi), "IPI send set our port pending");

    /* poll: returns at once because pi is pending (it stays masked). */
    struct sched_poll sp = { .nr_ports = 1, .timeout = 0 };
    set_xen_guest_handle(sp.ports, &pi);
    check_eq("sched_op(poll, one pending port)", HYPERVISOR_sched_op(SCHEDOP_poll, &sp), 0);
    sp.nr_ports = 129;
    check_eq("sched_op(poll, 129 ports)", HYPERVISOR_sched_op(SCHEDOP_poll, &sp), E(EINVAL));
    evtchn_port_t huge = 0xfffffff0u;
    set_xen_guest_handle(sp.ports, &huge);
    sp.nr_ports = 1;
    check_eq("sched_op(poll, huge port)", HYPERVISOR_sched_op(SCHEDOP_poll, &sp), E(EINVAL));
    set_xen_guest_handle(sp.ports, (evtchn_port_t *)BAD_UNMAPPED);
    check_eq("sched_op(poll, unmapped port list)", HYPERVISOR_sched_op(SCHEDOP_poll, &sp), E(EFAULT));
    clear_evtchn(pi);
    check_eq("close(IPI port)", ev_close(pi), 0);

    /* poll with a timeout already in the past on a quiet port: returns. */
    evtchn_port_t quiet;
    check_eq("alloc_unbound(self) for poll", ev_alloc_self(DOMID_SELF, &quiet), 0);
    set_xen_guest_handle(sp.ports, &quiet);
    sp.nr_ports = 1;
    sp.timeout = 1;
    check_eq("sched_op(poll, quiet port, timeout in the past)",
             HYPERVISOR_sched_op(SCHEDOP_poll, &sp), 0);
    check_eq("close(poll port)", ev_close(quiet), 0);
    if (evtchn_abi() == EVTCHN_ABI_2L) {
        /* 2-level: 64 x 64 ports (i386: 32 x 32); 4096 (1024) is beyond
         * max_evtchns. */
        evtchn_port_t beyond = BITS_PER_LONG * BITS_PER_LONG;
        set_xen_guest_handle(sp.ports, &beyond);
        /* Timeout in the past: a hypervisor that wrongly accepts the port
         * returns 0 (a FAIL line) instead of blocking us forever. */
        sp.timeout = 1;
        check_eq(BITS_PER_LONG == 64 ? "sched_op(poll, port 4096 on the 2-level ABI)"
                                     : "sched_op(poll, port 1024 on the 2-level ABI)",
                 HYPERVISOR_sched_op(SCHEDOP_poll, &sp), E(EINVAL));
    }

    /* bind_pirq: out of range either way. */
    struct evtchn_bind_pirq bp = { .pirq = 0xffffffffu };
    check_eq("bind_pirq(pirq -1)", evtchn_op(EVTCHNOP_bind_pirq, &bp), E(EINVAL));
    bp = (struct evtchn_bind_pirq){ .pirq = 1000000 };
    check_eq("bind_pirq(pirq 1000000)", evtchn_op(EVTCHNOP_bind_pirq, &bp), E(EINVAL));

    /* bind_vcpu: vcpu first (ENOENT), then port (EINVAL). */
    check_eq("alloc_unbound(self, remote=self) #2", ev_alloc_self(DOMID_SELF, &p1), 0);
    bvc = (struct evtchn_bind_vcpu){ .port = p1, .vcpu = 1 };
    check_eq("bind_vcpu(vcpu 1 of 1)", evtchn_op(EVTCHNOP_bind_vcpu, &bvc), E(ENOENT));
    bvc = (struct evtchn_bind_vcpu){ .port = 0x7fffffff, .vcpu = 0 };
    check_eq("bind_vcpu(huge port)", evtchn_op(EVTCHNOP_bind_vcpu, &bvc), E(EINVAL));
    bvc = (struct evtchn_bind_vcpu){ .port = 0, .vcpu = 0 };
    check_eq("bind_vcpu(reserved port 0)", evtchn_op(EVTCHNOP_bind_vcpu, &bvc), E(EINVAL));
    bvc = (struct evtchn_bind_vcpu){ .port = p1, .vcpu = 0 };
    check_eq("bind_vcpu(unbound port, vcpu 0)", evtchn_op(EVTCHNOP_bind_vcpu, &bvc), 0);

    /* unmask. */
    struct evtchn_unmask um = { .port = 0x7fffffff };
    check_eq("unmask(huge port)", evtchn_op(EVTCHNOP_unmask, &um), E(EINVAL));
    check_eq("close(unbound port #2)", ev_close(p1), 0);

    /* reset of other domains. */
    struct evtchn_reset rs = { .dom = NOBODY };
    check_eq("reset(dom=nonexistent)", evtchn_op(EVTCHNOP_reset, &rs), E(ESRCH));
    rs = (struct evtchn_reset){ .dom = 0 };
    check_eq("reset(dom=0, foreign)", evtchn_op(EVTCHNOP_reset, &rs), E(EPERM));
    if (victim > 0) {
        rs = (struct evtchn_reset){ .dom = (domid_t)victim };
        check_eq("reset(dom=victim, foreign)", evtchn_op(EVTCHNOP_reset, &rs), E(EPERM));
    }
}

static unsigned char spare_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

static void test_fifo(void)
{
    struct evtchn_init_control ic;
    struct evtchn_expand_array ex;
    struct evtchn_set_priority sp;
    uint64_t beyond = bad_beyond_ram ? bad_beyond_ram >> PAGE_SHIFT : (1ULL << 40);

    /* Checked in Xen's order: vcpu, offset range, offset alignment, frame. */
    ic = (struct evtchn_init_control){ .control_gfn = virt_to_gfn(spare_page), .vcpu = 1 };
    check_eq("init_control(vcpu 1 of 1)", evtchn_op(EVTCHNOP_init_control, &ic), E(ENOENT));
    ic = (struct evtchn_init_control){ .control_gfn = virt_to_gfn(spare_page), .offset = 4 };
    check_eq("init_control(offset 4, not 8-aligned)", evtchn_op(EVTCHNOP_init_control, &ic), E(EINVAL));
    ic = (struct evtchn_init_control){ .control_gfn = virt_to_gfn(spare_page),
                                       .offset = PAGE_SIZE - 8 };
    check_eq("init_control(control block crossing the page)", evtchn_op(EVTCHNOP_init_control, &ic),
             E(EINVAL));

    if (evtchn_abi() == EVTCHN_ABI_2L) {
        ic = (struct evtchn_init_control){ .control_gfn = 1ULL << 40 };
        check_eq("init_control(gfn 2^40, unmapped)", evtchn_op(EVTCHNOP_init_control, &ic), E(EINVAL));
        ic = (struct evtchn_init_control){ .control_gfn = 0xfee00 };
        check_eq("init_control(gfn of the LAPIC MMIO page)", evtchn_op(EVTCHNOP_init_control, &ic),
                 E(EINVAL));
        ic = (struct evtchn_init_control){ .control_gfn = beyond };
        check_eq("init_control(gfn past the end of RAM)", evtchn_op(EVTCHNOP_init_control, &ic),
                 E(EINVAL));
        /* The failures must not have switched us to FIFO half-way. */
        ex = (struct evtchn_expand_array){ .array_gfn = virt_to_gfn(spare_page) };
        check_eq("expand_array before init_control", evtchn_op(EVTCHNOP_expand_array, &ex),
                 E(EOPNOTSUPP));
        sp = (struct evtchn_set_priority){ .port = 1, .priority = 0 };
        check_eq("set_priority on the 2-level ABI", evtchn_op(EVTCHNOP_set_priority, &sp), E(ENOSYS));
        return;
    }

    ic = (struct evtchn_init_control){ .control_gfn = virt_to_gfn(spare_page) };
    check_eq("init_control(vcpu 0 again)", evtchn_op(EVTCHNOP_init_control, &ic), E(EINVAL));
    ex = (struct evtchn_expand_array){ .array_gfn = 1ULL << 40 };
    check_eq("expand_array(gfn 2^40, unmapped)", evtchn_op(EVTCHNOP_expand_array, &ex), E(EINVAL));
    ex = (struct evtchn_expand_array){ .array_gfn = 0xfee00 };
    check_eq("expand_array(gfn of the LAPIC MMIO page)", evtchn_op(EVTCHNOP_expand_array, &ex),
             E(EINVAL));
    ex = (struct evtchn_expand_array){ .array_gfn = beyond };
    check_eq("expand_array(gfn past the end of RAM)", evtchn_op(EVTCHNOP_expand_array, &ex), E(EINVAL));
    sp = (struct evtchn_set_priority){ .port = 0x7fffffff, .priority = 0 };
    check_eq("set_priority(huge port)", evtchn_op(EVTCHNOP_set_priority, &sp), E(EINVAL));
    evtchn_port_t p;
    check_eq("alloc_unbound(self) for set_priority", ev_alloc_self(DOMID_SELF, &p), 0);
    sp = (struct evtchn_set_priority){ .port = p, .priority = EVTCHN_FIFO_PRIORITY_MIN + 1 };
    check_eq("set_priority(priority 16)", evtchn_op(EVTCHNOP_set_priority, &sp), E(EINVAL));
    sp = (struct evtchn_set_priority){ .port = p, .priority = EVTCHN_FIFO_PRIORITY_MAX };
    check_eq("set_priority(priority 0)", evtchn_op(EVTCHNOP_set_priority, &sp), 0);
    check_eq("close(port)", ev_close(p), 0);
}

static void test_other_hypercalls(void)
{
    static uint8_t buf[256];

    /* xen_version */
    long v = HYPERVISOR_xen_version(XENVER_version, NULL);
    check(v >= 0x30000, "xen_version(version) reports 3.0 or later");
    struct xen_feature_info fi = { .submap_idx = XENFEAT_NR_SUBMAPS };
    check_eq("xen_version(get_features, submap XENFEAT_NR_SUBMAPS)",
             HYPERVISOR_xen_version(XENVER_get_features, &fi), E(EINVAL));
    check_eq("xen_version(cmd 0x7fff)", HYPERVISOR_xen_version(0x7fff, buf), E(ENOSYS));

    /* memory_op */
    struct xen_add_to_physmap xatp = { .domid = DOMID_SELF, .space = XENMAPSPACE_shared_info,
                                       .idx = 1, .gpfn = virt_to_gfn(spare_page) };
    check_eq("memory_op(add_to_physmap shared_info idx 1)",
             HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp), E(EINVAL));
    xatp = (struct xen_add_to_physmap){ .domid = NOBODY, .space = XENMAPSPACE_shared_info,
                                        .gpfn = virt_to_gfn(spare_page) };
    check_eq("memory_op(add_to_physmap dom=nonexistent)",
             HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp), E(ESRCH));
    xatp.domid = 0;
    check_eq("memory_op(add_to_physmap dom=0, foreign)",
             HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp), E(EPERM));
    struct xen_memory_map mm = { .nr_entries = 4 };
    set_xen_guest_handle(mm.buffer, (void *)BAD_UNMAPPED);
    check_eq("memory_op(memory_map into an unmapped buffer)",
             HYPERVISOR_memory_op(XENMEM_memory_map, &mm), E(EFAULT));
    /* Room for all 1000 BIOS-format (20-byte) entries, so a hypervisor that
     * does not clamp cannot scribble over the rest of the guest. */
    static uint8_t e820[1000 * 20];
    mm = (struct xen_memory_map){ .nr_entries = 1000 };
    set_xen_guest_handle(mm.buffer, e820);
    long mrc = HYPERVISOR_memory_op(XENMEM_memory_map, &mm);
    check_eq("memory_op(memory_map, nr_entries 1000)", mrc, 0);
    check(mrc == 0 && mm.nr_entries >= 1 && mm.nr_entries <= 64,
          "memory_map clamps nr_entries to the real map");
    check_eq("memory_op(cmd 63)", HYPERVISOR_memory_op(63, buf), E(ENOSYS));

    /* hvm_op */
    struct xen_hvm_param hp = { .domid = DOMID_SELF, .index = HVM_NR_PARAMS };
    check_eq("hvm_op(get_param index HVM_NR_PARAMS)", HYPERVISOR_hvm_op(HVMOP_get_param, &hp), E(EINVAL));
    hp = (struct xen_hvm_param){ .domid = DOMID_SELF, .index = 0xffffffffu };
    check_eq("hvm_op(set_param index -1)", HYPERVISOR_hvm_op(HVMOP_set_param, &hp), E(EINVAL));
    /* Xen checks the index before it looks the domain up. */
    hp = (struct xen_hvm_param){ .domid = NOBODY, .index = HVM_NR_PARAMS };
    check_eq("hvm_op(get_param dom=nonexistent, index HVM_NR_PARAMS)",
             HYPERVISOR_hvm_op(HVMOP_get_param, &hp), E(EINVAL));
    hp = (struct xen_hvm_param){ .domid = NOBODY, .index = HVM_PARAM_STORE_PFN };
    check_eq("hvm_op(get_param dom=nonexistent)", HYPERVISOR_hvm_op(HVMOP_get_param, &hp), E(ESRCH));
    if (victim > 0) {
        hp = (struct xen_hvm_param){ .domid = (domid_t)victim, .index = HVM_PARAM_STORE_PFN };
        check_eq("hvm_op(get_param dom=victim, foreign)", HYPERVISOR_hvm_op(HVMOP_get_param, &hp),
                 E(EPERM));
        hp = (struct xen_hvm_param){ .domid = (domid_t)victim, .index = HVM_PARAM_CALLBACK_IRQ,
                                     .value = 0 };
        check_eq("hvm_op(set_param dom=victim CALLBACK_IRQ, foreign)",
                 HYPERVISOR_hvm_op(HVMOP_set_param, &hp), E(EPERM));
    }
    hp = (struct xen_hvm_param){ .domid = DOMID_SELF, .index = HVM_PARAM_STORE_PFN, .value = 1 };
    check_eq("hvm_op(set_param STORE_PFN on ourselves: toolstack only)",
             HYPERVISOR_hvm_op(HVMOP_set_param, &hp), E(EPERM));
    struct xen_hvm_evtchn_upcall_vector uv = { .vcpu = 0, .vector = 0x0f };
    check_eq("hvm_op(set_evtchn_upcall_vector vector 0x0f)",
             HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &uv), E(EINVAL));
    uv = (struct xen_hvm_evtchn_upcall_vector){ .vcpu = 1, .vector = GUEST_UPCALL_VECTOR };
    check_eq("hvm_op(set_evtchn_upcall_vector vcpu 1 of 1)",
             HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &uv), E(ENOENT));
    check_eq("hvm_op(op 0x7777)", HYPERVISOR_hvm_op(0x7777, buf), E(ENOSYS));

    /* vcpu_op */
    check_eq("vcpu_op(is_up, vcpu 0)", HYPERVISOR_vcpu_op(VCPUOP_is_up, 0, NULL), 1);
    check_eq("vcpu_op(is_up, vcpu 1 of 1)", HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL), E(ENOENT));
    check_eq("vcpu_op(up, vcpu 0xffff)", HYPERVISOR_vcpu_op(VCPUOP_up, 0xffff, NULL), E(ENOENT));
    struct vcpu_register_vcpu_info ri = { .mfn = virt_to_gfn(spare_page), .offset = PAGE_SIZE };
    /* Newer Xen's map_vcpu_info: ENXIO for an offset that leaves no room
     * for the struct or is misaligned (older releases gave EINVAL). */
    check_eq("vcpu_op(register_vcpu_info offset PAGE_SIZE)",
             HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, &ri), E(ENXIO));
    ri.offset = 3;
    check_eq("vcpu_op(register_vcpu_info offset 3, misaligned)",
             HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, &ri), E(ENXIO));
    ri = (struct vcpu_register_vcpu_info){ .mfn = 1ULL << 40, .offset = 0 };
    check_eq("vcpu_op(register_vcpu_info gfn 2^40)",
             HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, &ri), E(EINVAL));
    if (evtchn_vcpu_info() != &HYPERVISOR_shared_info->vcpu_info[0]) {
        /* The runtime registered one (vcpuinfo=register): only once. */
        ri = (struct vcpu_register_vcpu_info){ .mfn = virt_to_gfn(spare_page), .offset = 0 };
        check_eq("vcpu_op(register_vcpu_info a second time)",
                 HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, &ri), E(EINVAL));
    }
    check_eq("vcpu_op(cmd 99)", HYPERVISOR_vcpu_op(99, 0, buf), E(ENOSYS));

    /* sched_op */
    check_eq("sched_op(yield)", HYPERVISOR_sched_op(SCHEDOP_yield, NULL), 0);
    check_eq("sched_op(cmd 99)", HYPERVISOR_sched_op(99, buf), E(ENOSYS));
    struct sched_remote_shutdown rsd = { .domain_id = NOBODY, .reason = SHUTDOWN_poweroff };
    check_eq("sched_op(remote_shutdown dom=nonexistent)",
             HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, &rsd), E(ESRCH));
    if (victim > 0) {
        rsd = (struct sched_remote_shutdown){ .domain_id = (domid_t)victim,
                                              .reason = SHUTDOWN_crash };
        check_eq("sched_op(remote_shutdown dom=victim, foreign)",
                 HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, &rsd), E(EPERM));
    }

    /* console_io: a domU may write (debug-build Xen), nothing else. */
    check_eq("console_io(write, 0 bytes)", HYPERVISOR_console_io(CONSOLEIO_write, 0, (char *)buf), 0);
    check_eq("console_io(read)", HYPERVISOR_console_io(CONSOLEIO_read, sizeof(buf), (char *)buf),
             E(EPERM));

    /* Hypercalls Xen does not offer HVM guests. */
    static const unsigned int pv_only[] = {
        __HYPERVISOR_set_trap_table, __HYPERVISOR_mmu_update, __HYPERVISOR_set_gdt,
        __HYPERVISOR_stack_switch, __HYPERVISOR_set_callbacks, __HYPERVISOR_fpu_taskswitch,
        __HYPERVISOR_set_debugreg, __HYPERVISOR_update_descriptor,
        __HYPERVISOR_update_va_mapping, 100, 127,
    };
    for (unsigned int i = 0; i < ARRAY_SIZE(pv_only); i++) {
        char what[64];
        snprintf(what, sizeof(what), "hypercall %u (not for HVM guests)", pv_only[i]);
        check_eq(what, hypercall_raw(pv_only[i], 0, 0, 0, 0, 0), E(ENOSYS));
    }
}

/* ---- docs/abi.md, row by row ---- */

struct abi_row {
    const char *what;
    unsigned int nr;
    unsigned long a[5];
    long want;
};
#define ROW(what, nr, a0, a1, a2, a3, want) \
    { what, nr, { (unsigned long)(a0), (unsigned long)(a1), \
                  (unsigned long)(a2), (unsigned long)(a3), 0 }, want }

static struct xen_sysctl abi_sysctl, abi_sysctl_oldver;
static struct xen_domctl abi_dc_self, abi_dc_nobody, abi_dc_domself, abi_dc_oldver,
    abi_dc_info_nobody, abi_dc_shadow, abi_dc_cont_bad;
static struct xen_platform_op abi_pf, abi_pf_oldver;
static struct xen_dm_op_buf abi_dmbuf[2];
static struct xen_hvm_get_time abi_time;
static struct xen_hvm_xentrace abi_tr, abi_tr_bad;
static struct xen_hvm_get_mem_type abi_mt_self, abi_mt_nobody;
static struct xen_hvm_pagetable_dying abi_ptd_self, abi_ptd_nobody;
static struct vcpu_runstate_info abi_rs;
static struct vcpu_set_periodic_timer abi_period_short;
static struct sched_shutdown abi_code_poweroff;
static struct xen_pod_target abi_pod_self, abi_pod_nobody;
static struct xen_mem_access_op abi_access_self, abi_access_me;
static struct xen_memory_reservation abi_claim_me, abi_claim_domself;
static struct xen_vnuma_topology_info abi_vnuma_self, abi_vnuma_pad;
static struct xen_reserved_device_memory_map abi_rdm, abi_rdm_badflags;
/* Large enough for every xen_version answer (capabilities: 1 KiB). */
static uint8_t abi_buf[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

static void abi_fill(void)
{
    domid_t me = (domid_t)guest_domid();
    abi_sysctl = (struct xen_sysctl){ .cmd = XEN_SYSCTL_physinfo,
                                      .interface_version = XEN_SYSCTL_INTERFACE_VERSION };
    abi_sysctl_oldver = abi_sysctl;
    abi_sysctl_oldver.interface_version = 1;
    abi_dc_self = (struct xen_domctl){ .cmd = XEN_DOMCTL_pausedomain, .domain = me,
                                       .interface_version = XEN_DOMCTL_INTERFACE_VERSION };
    abi_dc_nobody = abi_dc_self;
    abi_dc_nobody.domain = NOBODY;
    abi_dc_domself = abi_dc_self;
    abi_dc_domself.domain = DOMID_SELF;
    abi_dc_oldver = abi_dc_self;
    abi_dc_oldver.interface_version = 1;
    abi_dc_info_nobody = abi_dc_nobody;
    abi_dc_info_nobody.cmd = XEN_DOMCTL_getdomaininfo;
    abi_dc_shadow = abi_dc_self;
    abi_dc_shadow.cmd = XEN_DOMCTL_shadow_op;
    abi_dc_cont_bad = abi_dc_self;          /* not a shadow_op continuation */
    abi_pf = (struct xen_platform_op){ .cmd = XENPF_settime64,
                                       .interface_version = XENPF_INTERFACE_VERSION };
    abi_pf_oldver = abi_pf;
    abi_pf_oldver.interface_version = 1;
    abi_tr = (struct xen_hvm_xentrace){ .event = 1, .extra_bytes = 4 };
    abi_tr_bad = (struct xen_hvm_xentrace){ .event = 1, .extra_bytes = sizeof(abi_tr.extra) + 1 };
    abi_mt_self = (struct xen_hvm_get_mem_type){ .domid = DOMID_SELF,
                                                 .pfn = virt_to_gfn(abi_buf) };
    abi_mt_nobody = (struct xen_hvm_get_mem_type){ .domid = NOBODY };
    abi_ptd_self = (struct xen_hvm_pagetable_dying){ .domid = DOMID_SELF };
    abi_ptd_nobody = (struct xen_hvm_pagetable_dying){ .domid = NOBODY };
    abi_period_short = (struct vcpu_set_periodic_timer){ .period_ns = 1000 };
    abi_code_poweroff = (struct sched_shutdown){ .reason = SHUTDOWN_poweroff };
    abi_pod_self = (struct xen_pod_target){ .domid = DOMID_SELF };
    abi_pod_nobody = (struct xen_pod_target){ .domid = NOBODY };
    abi_access_self = (struct xen_mem_access_op){ .domid = DOMID_SELF };
    abi_access_me = (struct xen_mem_access_op){ .domid = me };
    abi_claim_me = (struct xen_memory_reservation){ .nr_extents = 1, .domid = me };
    abi_claim_domself = abi_claim_me;
    abi_claim_domself.domid = DOMID_SELF;
    abi_vnuma_self = (struct xen_vnuma_topology_info){ .domid = DOMID_SELF };
    abi_vnuma_pad = abi_vnuma_self;
    abi_vnuma_pad.pad = 1;
    abi_rdm = (struct xen_reserved_device_memory_map){ .flags = XENMEM_RDM_ALL,
                                                       .nr_entries = 4 };
    set_xen_guest_handle(abi_rdm.buffer, (void *)abi_buf);
    abi_rdm_badflags = abi_rdm;
    abi_rdm_badflags.flags = 2;
}

static void test_abi(void)
{
    abi_fill();
    domid_t me = (domid_t)guest_domid();
    const struct abi_row rows[] = {
        /* xen_version: every sub-op */
        ROW("xen_version(extraversion)", __HYPERVISOR_xen_version, XENVER_extraversion, abi_buf, 0, 0, 0),
        ROW("xen_version(compile_info)", __HYPERVISOR_xen_version, XENVER_compile_info, abi_buf, 0, 0, 0),
        ROW("xen_version(capabilities)", __HYPERVISOR_xen_version, XENVER_capabilities, abi_buf, 0, 0, 0),
        ROW("xen_version(changeset)", __HYPERVISOR_xen_version, XENVER_changeset, abi_buf, 0, 0, 0),
        ROW("xen_version(platform_parameters)", __HYPERVISOR_xen_version, XENVER_platform_parameters, abi_buf, 0, 0, 0),
        ROW("xen_version(pagesize)", __HYPERVISOR_xen_version, XENVER_pagesize, 0, 0, 0, PAGE_SIZE),
        ROW("xen_version(guest_handle)", __HYPERVISOR_xen_version, XENVER_guest_handle, abi_buf, 0, 0, 0),
        ROW("xen_version(guest_handle, unmapped)", __HYPERVISOR_xen_version, XENVER_guest_handle, BAD_UNMAPPED, 0, 0, E(EFAULT)),
        ROW("xen_version(commandline): privileged", __HYPERVISOR_xen_version, XENVER_commandline, abi_buf, 0, 0, E(EPERM)),
        ROW("xen_version(build_id): privileged", __HYPERVISOR_xen_version, XENVER_build_id, abi_buf, 0, 0, E(EPERM)),
        ROW("xen_version(cmd 11)", __HYPERVISOR_xen_version, 11, abi_buf, 0, 0, E(ENOSYS)),
        /* hvm_op */
        ROW("hvm_op(get_time)", __HYPERVISOR_hvm_op, HVMOP_get_time, &abi_time, 0, 0, 0),
        ROW("hvm_op(get_time, unmapped)", __HYPERVISOR_hvm_op, HVMOP_get_time, BAD_UNMAPPED, 0, 0, E(EFAULT)),
        ROW("hvm_op(xentrace)", __HYPERVISOR_hvm_op, HVMOP_xentrace, &abi_tr, 0, 0, 0),
        ROW("hvm_op(xentrace, extra_bytes too big)", __HYPERVISOR_hvm_op, HVMOP_xentrace, &abi_tr_bad, 0, 0, E(EINVAL)),
        ROW("hvm_op(guest_request_vm_event, NULL)", __HYPERVISOR_hvm_op, HVMOP_guest_request_vm_event, 0, 0, 0, 0),
        ROW("hvm_op(guest_request_vm_event, non-NULL)", __HYPERVISOR_hvm_op, HVMOP_guest_request_vm_event, abi_buf, 0, 0, E(EINVAL)),
        ROW("hvm_op(altp2m): altp2m off", __HYPERVISOR_hvm_op, HVMOP_altp2m, abi_buf, 0, 0, E(EOPNOTSUPP)),
        ROW("hvm_op(get_mem_type, our RAM)", __HYPERVISOR_hvm_op, HVMOP_get_mem_type, &abi_mt_self, 0, 0, 0),
        ROW("hvm_op(get_mem_type, dom=nonexistent)", __HYPERVISOR_hvm_op, HVMOP_get_mem_type, &abi_mt_nobody, 0, 0, E(ESRCH)),
        ROW("hvm_op(pagetable_dying, self: HAP)", __HYPERVISOR_hvm_op, HVMOP_pagetable_dying, &abi_ptd_self, 0, 0, E(EINVAL)),
        ROW("hvm_op(pagetable_dying, dom=nonexistent)", __HYPERVISOR_hvm_op, HVMOP_pagetable_dying, &abi_ptd_nobody, 0, 0, E(ESRCH)),
        ROW("hvm_op(op 2, set_pci_intx_level until 4.9: now a dm_op)", __HYPERVISOR_hvm_op, 2, abi_buf, 0, 0, E(ENOSYS)),
        /* vcpu_op */
        ROW("vcpu_op(get_runstate_info)", __HYPERVISOR_vcpu_op, VCPUOP_get_runstate_info, 0, &abi_rs, 0, 0),
        ROW("vcpu_op(get_runstate_info, unmapped)", __HYPERVISOR_vcpu_op, VCPUOP_get_runstate_info, 0, BAD_UNMAPPED, 0, E(EFAULT)),
        ROW("vcpu_op(set_periodic_timer, 1 us)", __HYPERVISOR_vcpu_op, VCPUOP_set_periodic_timer, 0, &abi_period_short, 0, E(EINVAL)),
        ROW("vcpu_op(set_periodic_timer, unmapped)", __HYPERVISOR_vcpu_op, VCPUOP_set_periodic_timer, 0, BAD_UNMAPPED, 0, E(EFAULT)),
        ROW("vcpu_op(get_physid): hardware domain's", __HYPERVISOR_vcpu_op, VCPUOP_get_physid, 0, abi_buf, 0, E(EINVAL)),
        ROW("vcpu_op(get_physid, vcpu 1 of 1)", __HYPERVISOR_vcpu_op, VCPUOP_get_physid, 1, abi_buf, 0, E(ENOENT)),
        ROW("vcpu_op(register_vcpu_time_memory_area, unmapped)", __HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_time_memory_area, 0, BAD_UNMAPPED, 0, E(EFAULT)),
        /* sched_op */
        ROW("sched_op(shutdown_code poweroff)", __HYPERVISOR_sched_op, SCHEDOP_shutdown_code, &abi_code_poweroff, 0, 0, 0),
        ROW("sched_op(shutdown_code, unmapped)", __HYPERVISOR_sched_op, SCHEDOP_shutdown_code, BAD_UNMAPPED, 0, 0, E(EFAULT)),
        ROW("sched_op(pin_override): hardware domain's", __HYPERVISOR_sched_op, SCHEDOP_pin_override, abi_buf, 0, 0, E(EPERM)),
        /* memory_op sub-ops HVM guests may not make */
        ROW("memory_op(machine_memory_map): not for HVM", __HYPERVISOR_memory_op, XENMEM_machine_memory_map, abi_buf, 0, 0, E(ENOSYS)),
        ROW("memory_op(machphys_mapping): not for HVM", __HYPERVISOR_memory_op, XENMEM_machphys_mapping, abi_buf, 0, 0, E(ENOSYS)),
        /* memory_op sub-ops a domU gets refused or empty answers from */
        ROW("memory_op(set_pod_target self): privileged", __HYPERVISOR_memory_op, XENMEM_set_pod_target, &abi_pod_self, 0, 0, E(EPERM)),
        ROW("memory_op(get_pod_target self): privileged", __HYPERVISOR_memory_op, XENMEM_get_pod_target, &abi_pod_self, 0, 0, E(EPERM)),
        ROW("memory_op(get_pod_target dom=nonexistent)", __HYPERVISOR_memory_op, XENMEM_get_pod_target, &abi_pod_nobody, 0, 0, E(ESRCH)),
        ROW("memory_op(get_sharing_freed_pages): no sharing", __HYPERVISOR_memory_op, XENMEM_get_sharing_freed_pages, 0, 0, 0, 0),
        ROW("memory_op(get_sharing_shared_pages): no sharing", __HYPERVISOR_memory_op, XENMEM_get_sharing_shared_pages, 0, 0, 0, 0),
        ROW("memory_op(paging_op): not built", __HYPERVISOR_memory_op, XENMEM_paging_op, abi_buf, 0, 0, E(ENOSYS)),
        ROW("memory_op(sharing_op): not built", __HYPERVISOR_memory_op, XENMEM_sharing_op, abi_buf, 0, 0, E(ENOSYS)),
        ROW("memory_op(access_op DOMID_SELF): no such id", __HYPERVISOR_memory_op, XENMEM_access_op, &abi_access_self, 0, 0, E(ESRCH)),
        ROW("memory_op(access_op self): remote only", __HYPERVISOR_memory_op, XENMEM_access_op, &abi_access_me, 0, 0, E(EPERM)),
        ROW("memory_op(claim_pages self): privileged", __HYPERVISOR_memory_op, XENMEM_claim_pages, &abi_claim_me, 0, 0, E(EPERM)),
        ROW("memory_op(claim_pages DOMID_SELF): no such id", __HYPERVISOR_memory_op, XENMEM_claim_pages, &abi_claim_domself, 0, 0, E(EINVAL)),
        ROW("memory_op(get_vnumainfo self): no vNUMA", __HYPERVISOR_memory_op, XENMEM_get_vnumainfo, &abi_vnuma_self, 0, 0, E(EOPNOTSUPP)),
        ROW("memory_op(get_vnumainfo, pad set)", __HYPERVISOR_memory_op, XENMEM_get_vnumainfo, &abi_vnuma_pad, 0, 0, E(EINVAL)),
        ROW("memory_op(reserved_device_memory_map all)", __HYPERVISOR_memory_op, XENMEM_reserved_device_memory_map, &abi_rdm, 0, 0, 0),
        ROW("memory_op(reserved_device_memory_map, bad flags)", __HYPERVISOR_memory_op, XENMEM_reserved_device_memory_map, &abi_rdm_badflags, 0, 0, E(EINVAL)),
        ROW("memory_op(acquire_resource): not for a translated domU", __HYPERVISOR_memory_op, XENMEM_acquire_resource, BAD_UNMAPPED, 0, 0, E(EACCES)),
        /* vm_assist */
        ROW("vm_assist(enable, 4gb_segments): PV only", __HYPERVISOR_vm_assist, VMASST_CMD_enable, VMASST_TYPE_4gb_segments, 0, 0, E(EINVAL)),
        ROW("vm_assist(cmd 7, runstate_update_flag)", __HYPERVISOR_vm_assist, 7, VMASST_TYPE_runstate_update_flag, 0, 0, E(ENOSYS)),
        /* console_io */
        ROW("console_io(cmd 99)", __HYPERVISOR_console_io, 99, 0, abi_buf, 0, E(ENOSYS)),
        /* platform_op */
        ROW("platform_op(settime64): hardware domain's", __HYPERVISOR_platform_op, &abi_pf, 0, 0, 0, E(EPERM)),
        ROW("platform_op(old interface version)", __HYPERVISOR_platform_op, &abi_pf_oldver, 0, 0, 0, E(EACCES)),
        ROW("platform_op(unmapped)", __HYPERVISOR_platform_op, BAD_UNMAPPED, 0, 0, 0, E(EFAULT)),
        /* sysctl */
        ROW("sysctl(physinfo): privileged", __HYPERVISOR_sysctl, &abi_sysctl, 0, 0, 0, E(EPERM)),
        ROW("sysctl(old interface version)", __HYPERVISOR_sysctl, &abi_sysctl_oldver, 0, 0, 0, E(EACCES)),
        ROW("sysctl(unmapped)", __HYPERVISOR_sysctl, BAD_UNMAPPED, 0, 0, 0, E(EFAULT)),
        /* domctl and its continuation */
        ROW("domctl(pausedomain self): privileged", __HYPERVISOR_domctl, &abi_dc_self, 0, 0, 0, E(EPERM)),
        ROW("domctl(pausedomain dom=nonexistent)", __HYPERVISOR_domctl, &abi_dc_nobody, 0, 0, 0, E(ESRCH)),
        ROW("domctl(pausedomain DOMID_SELF: no such id)", __HYPERVISOR_domctl, &abi_dc_domself, 0, 0, 0, E(ESRCH)),
        ROW("domctl(getdomaininfo above every domain)", __HYPERVISOR_domctl, &abi_dc_info_nobody, 0, 0, 0, E(ESRCH)),
        ROW("domctl(old interface version)", __HYPERVISOR_domctl, &abi_dc_oldver, 0, 0, 0, E(EACCES)),
        ROW("domctl(unmapped)", __HYPERVISOR_domctl, BAD_UNMAPPED, 0, 0, 0, E(EFAULT)),
        ROW("paging_domctl_cont(shadow_op self)", __HYPERVISOR_arch_1, &abi_dc_shadow, 0, 0, 0, E(EPERM)),
        ROW("paging_domctl_cont(not a shadow_op)", __HYPERVISOR_arch_1, &abi_dc_cont_bad, 0, 0, 0, E(EOPNOTSUPP)),
        /* the rest of the privileged or absent ones */
        ROW("xsm_op: dummy policy", __HYPERVISOR_xsm_op, abi_buf, 0, 0, 0, E(ENOSYS)),
        ROW("hypfs_op(get_version): privileged", __HYPERVISOR_hypfs_op, XEN_HYPFS_OP_get_version, 0, 0, 0, E(EPERM)),
        ROW("xenpmu_op(get_version): not with a LAPIC", __HYPERVISOR_xenpmu_op, 5, abi_buf, 0, 0, E(EOPNOTSUPP)),
        ROW("dm_op(self, 0 buffers)", __HYPERVISOR_dm_op, me, 0, abi_dmbuf, 0, E(ENODATA)),
        ROW("dm_op(self, 3 buffers)", __HYPERVISOR_dm_op, me, 3, abi_dmbuf, 0, E(E2BIG)),
        ROW("dm_op(self, unmapped buffer list)", __HYPERVISOR_dm_op, me, 1, BAD_UNMAPPED, 0, E(EFAULT)),
        ROW("dm_op(dom=nonexistent)", __HYPERVISOR_dm_op, NOBODY, 1, abi_dmbuf, 0, E(ESRCH)),
        ROW("dm_op(self): not our own device model", __HYPERVISOR_dm_op, me, 1, abi_dmbuf, 0, E(EPERM)),
        ROW("mmuext_op(DOMID_SELF): HVM", __HYPERVISOR_mmuext_op, abi_buf, 1, 0, DOMID_SELF, E(EINVAL)),
        ROW("mmuext_op(own id as foreign)", __HYPERVISOR_mmuext_op, abi_buf, 1, 0, me, E(ESRCH)),
        ROW("mmuext_op(dom=nonexistent)", __HYPERVISOR_mmuext_op, abi_buf, 1, 0, NOBODY, E(ESRCH)),
        ROW("mmuext_op(DOMID_XEN)", __HYPERVISOR_mmuext_op, abi_buf, 1, 0, DOMID_XEN, E(EPERM)),
        ROW("multicall(unmapped list)", __HYPERVISOR_multicall, BAD_UNMAPPED, 1, 0, 0, E(EFAULT)),
        ROW("multicall(0 entries)", __HYPERVISOR_multicall, abi_buf, 0, 0, 0, 0),
    };
    for (unsigned int i = 0; i < ARRAY_SIZE(rows); i++) {
        const struct abi_row *r = &rows[i];
        check_eq(r->what, hypercall_raw(r->nr, r->a[0], r->a[1], r->a[2], r->a[3], r->a[4]),
                 r->want);
    }

    /* Numbers outside Xen's HVM table (hypercall-defs.c, hvm64 column). */
    static const unsigned int not_hvm[] = {
        __HYPERVISOR_get_debugreg, __HYPERVISOR_sched_op_compat,
        __HYPERVISOR_event_channel_op_compat, __HYPERVISOR_physdev_op_compat,
        __HYPERVISOR_update_va_mapping_otherdomain, __HYPERVISOR_iret,
        __HYPERVISOR_set_segment_base, __HYPERVISOR_nmi_op, __HYPERVISOR_callback_op,
        __HYPERVISOR_xenoprof_op, __HYPERVISOR_kexec_op, __HYPERVISOR_tmem_op,
        __HYPERVISOR_argo_op, 11, 43, __HYPERVISOR_arch_0, 50, 55, 56, 63,
    };
    for (unsigned int i = 0; i < ARRAY_SIZE(not_hvm); i++) {
        char what[64];
        snprintf(what, sizeof(what), "hypercall %u (not in Xen's HVM table)", not_hvm[i]);
        check_eq(what, hypercall_raw(not_hvm[i], 0, 0, 0, 0, 0), E(ENOSYS));
    }

    /* multicall: each entry's own answer in its result; no nesting. */
    static struct multicall_entry mc[3];
    mc[0] = (struct multicall_entry){ .op = __HYPERVISOR_xen_version,
                                      .args = { XENVER_version } };
    mc[1] = (struct multicall_entry){ .op = __HYPERVISOR_sysctl, .args = { BAD_UNMAPPED } };
    mc[2] = (struct multicall_entry){ .op = __HYPERVISOR_multicall,
                                      .args = { (unsigned long)abi_buf, 0 } };
    check_eq("multicall(version, bad sysctl, nested multicall)",
             hypercall_raw(__HYPERVISOR_multicall, (unsigned long)mc, 3, 0, 0, 0), 0);
    check_eq("multicall entry 0: xen_version",
             (long)mc[0].result, HYPERVISOR_xen_version(XENVER_version, NULL));
    check_eq("multicall entry 1: sysctl(unmapped)", (long)mc[1].result, E(EFAULT));
    check_eq("multicall entry 2: nested multicall", (long)mc[2].result, E(EINVAL));
    check_eq("reserved_device_memory_map: no region", abi_rdm.nr_entries, 0);
}

/* After all that: events must still reach us through the IRQ layer. */
static volatile int ipi_seen;

static irqreturn_t ipi_handler(int irq, void *dev_id)
{
    (void)irq;
    (void)dev_id;
    ipi_seen++;
    return IRQ_HANDLED;
}

static bool ipi_arrived(void *arg)
{
    (void)arg;
    return ipi_seen > 0;
}

static void test_still_alive(void)
{
    int irq = bind_ipi_to_irqhandler(0, 0, ipi_handler, 0, "hostile-ipi", (void *)&ipi_seen);
    check(irq >= 0, "bind_ipi_to_irqhandler after the garbage");
    if (irq < 0)
        return;
    check_eq("send_ipi to ourselves", send_ipi(0, 0), 0);
    guest_wait_until(ipi_arrived, NULL);
    check(ipi_seen == 1, "the IPI reached its handler");
    unbind_from_irqhandler(irq, (void *)&ipi_seen);

    if (xs_available()) {
        char val[16];
        check_eq("xenstore write data/hostile", xs_write(XBT_NIL, "data/hostile", "alive"), 0);
        check_eq("xenstore read data/hostile", xs_read(XBT_NIL, "data/hostile", val, sizeof(val)), 5);
    }
}

/* XenStore requests a guest may not make (xenstored's permission model and
 * request checks, docs/misc/xenstore.txt). Errors are Linux/Xen errno. */
static void test_xenstore(void)
{
    char path[96], buf[64];

    if (!xs_available())
        return;
    check_eq("xs: write to /local/domain/0 (dom0's)", xs_write(XBT_NIL, "/local/domain/0/evil", "x"),
             E(EACCES));
    check_eq("xs: node name with a space", xs_write(XBT_NIL, "data/bad name", "x"), E(EINVAL));
    check_eq("xs: read in transaction 0xdeadbeef (not ours)",
             xs_read(0xdeadbeefu, "data", buf, sizeof(buf)), E(ENOENT));
    check_eq("xs: commit transaction 0xdeadbeef", xs_transaction_end(0xdeadbeefu, 0), E(ENOENT));
    if (victim <= 0)
        return;
    snprintf(path, sizeof(path), "/local/domain/%d/name", victim);
    check_eq("xs: read the victim's name", xs_read(XBT_NIL, path, buf, sizeof(buf)), E(EACCES));
    snprintf(path, sizeof(path), "/local/domain/%d/data/evil", victim);
    check_eq("xs: write into the victim's data", xs_write(XBT_NIL, path, "x"), E(EACCES));
    snprintf(path, sizeof(path), "/local/domain/%d/data", victim);
    char owner[16];
    const char *perms[1] = { owner };
    snprintf(owner, sizeof(owner), "n%d", guest_domid());
    check_eq("xs: take ownership of the victim's data", xs_set_perms(XBT_NIL, path, perms, 1),
             E(EACCES));
    snprintf(path, sizeof(path), "/local/domain/%d", victim);
    check_eq("xs: remove the victim's home", xs_rm(XBT_NIL, path), E(EACCES));
    /* Ports: none of the victim's first ports is offered to us. */
    for (evtchn_port_t p = 1; p <= 8; p++) {
        char what[64];
        struct evtchn_bind_interdomain bi = { .remote_dom = (domid_t)victim, .remote_port = p };
        snprintf(what, sizeof(what), "bind_interdomain(victim's port %u)", p);
        check_eq(what, evtchn_op(EVTCHNOP_bind_interdomain, &bi), E(EINVAL));
    }
    struct evtchn_status st = { .dom = (domid_t)victim, .port = 0 };
    check_eq("status(victim's port 0)", evtchn_op(EVTCHNOP_status, &st), E(EPERM));
}

/*
 * Garbage on the shared rings, last (our XenStore connection may be closed
 * for it, and the console falls back to console_io): a request whose
 * header claims a payload over XENSTORE_PAYLOAD_MAX, and console indexes
 * that claim more data than the ring holds. The VMM must drop or close
 * just this connection; the test script checks that the other guests still
 * finish. Here we check that the hypervisor still answers us.
 */
static void test_rings(void)
{
    uint64_t pfn = 0, port = 0;

    if (hvm_get_param(HVM_PARAM_STORE_PFN, &pfn) == 0 && pfn &&
        hvm_get_param(HVM_PARAM_STORE_EVTCHN, &port) == 0 && port) {
        volatile struct xenstore_domain_interface *xs =
            (volatile struct xenstore_domain_interface *)(uintptr_t)(pfn << PAGE_SHIFT);
        struct xsd_sockmsg bad = { .type = XS_READ, .req_id = 0xbad, .tx_id = 0,
                                   .len = 0xffffffffu };
        XENSTORE_RING_IDX prod = xs->req_prod;
        const unsigned char *b = (const unsigned char *)&bad;
        for (unsigned int i = 0; i < sizeof(bad); i++)
            xs->req[MASK_XENSTORE_IDX(prod + i)] = b[i];
        wmb();
        xs->req_prod = prod + sizeof(bad);
        check_eq("XenStore: header with a 4 GiB payload sent", notify_remote_via_evtchn(port), 0);
        /* And indexes that cannot be: more unconsumed than the ring holds. */
        xs->req_prod = xs->req_cons + 3 * XENSTORE_RING_SIZE;
        check_eq("XenStore: impossible request indexes sent", notify_remote_via_evtchn(port), 0);
    }
    if (hvm_get_param(HVM_PARAM_CONSOLE_PFN, &pfn) == 0 && pfn &&
        hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN, &port) == 0 && port) {
        console_flush();
        volatile struct xencons_interface *con =
            (volatile struct xencons_interface *)(uintptr_t)(pfn << PAGE_SHIFT);
        con->out_prod = con->out_cons + 0x10000;
        check_eq("console: impossible output indexes sent", notify_remote_via_evtchn(port), 0);
    }
    check_eq("sched_op(yield) still answered after the ring garbage",
             HYPERVISOR_sched_op(SCHEDOP_yield, NULL), 0);
}

int guest_main(const char *cmdline)
{
    (void)cmdline;
    victim = (int)guest_cmdline_int("victim", -1);

    uint64_t ram_end = guest_ram_end();
    if (ram_end && ram_end + 0x200000 < 0xfec00000ULL) {
        bad_beyond_ram = (unsigned long)ram_end + 0x100000;
        bad_straddle = (unsigned long)ram_end - 2;
    }
    printk("hostile: domid %d, victim %d, RAM ends at %#lx\n", guest_domid(), victim,
           (unsigned long)ram_end);

    test_pointers();
    test_evtchn();
    test_fifo();
    test_other_hypercalls();
    test_abi();
    test_xenstore();
    test_still_alive();
    /* Done with the victim: tell it (tests keep it alive until then). */
    if (victim > 0 && xs_available() && guest_domid() >= 0) {
        char owner[16], reader[16];
        const char *perms[2] = { owner, reader };
        snprintf(owner, sizeof(owner), "n%d", guest_domid());
        snprintf(reader, sizeof(reader), "r%d", victim);
        int rc = xs_write(XBT_NIL, "data/hostile-done", "1");
        if (rc == 0)
            rc = xs_set_perms(XBT_NIL, "data/hostile-done", perms, 2);
        check_eq("tell the victim we are done (data/hostile-done)", rc, 0);
    }
    if (!guest_cmdline_get("norings", NULL, 0))
        test_rings();

    return check_summary("hostile");
}

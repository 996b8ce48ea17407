/*
 * guests/vmmtest: the VMM's own checks of the hypercall path
 * (tests/integration/vmm_tests.sh) and the Xen side of bench/pingpong.
 * The first word of the command line chooses the mode; numbers after it
 * are its arguments (runtime options such as upcall=legacy may stand
 * anywhere):
 *   (none)  hello on console_io, on the PV console ring and on Xen's debug
 *           port 0xe9, checks, poweroff
 *   crash   SCHEDOP_shutdown(SHUTDOWN_crash)
 *   reboot [N]  SCHEDOP_shutdown(SHUTDOWN_reboot) (then on_reboot applies)
 *           while its domid (XenStore "domid") is below N; poweroff then
 *   fault   triple fault (the VMM must stop this domain only)
 *   spin    loop forever, deaf to control/shutdown (for Ctrl-C tests)
 *   watchdog S N  while its domid is below N: a domain watchdog of S
 *           seconds (SCHEDOP_watchdog), then spin until it fires; poweroff
 *           once the domid is N or more
 *   null N  N null hypercalls (xen_version) timed with rdtsc, then poweroff
 *   vmcall [N]  hypercalls through two functions shaped like Linux's
 *           xen_hypercall_intel/amd (VMCALL/VMMCALL, then ret), with the
 *           hypercall page unusable meanwhile: they work only if the VMM
 *           patched them or KVM hands them over (KVM_EXIT_XEN); then N null
 *           hypercalls timed through such a function and N through the page
 *   smp     a second vCPU through VCPUOP_initialise/up/down (2 vCPUs)
 *   downself  VCPUOP_down of the only vCPU: the domain powers off
 *   haltoff  vCPU 1 and then vCPU 0 halt with interrupts off: down, then
 *           the domain powers off (Xen's hvm_hlt; 2 vCPUs)
 *   events  upcall, mask/unmask, block and poll checks; the runtime's
 *           direct fast path (evtchn_bind_direct)
 *   unmask [cli] N  EVTCHNOP_unmask of a pending port delivers before the
 *           next instruction (with IF=0 around the call: right after STI),
 *           N rounds; with upcall=legacy through the CALLBACK_IRQ vector
 *   evtchnlimit  allocate ports until refused; print the last and the errno
 *   pong PEER N / ping PEER PORT N  the two halves of a timed ping-pong,
 *           on the direct fast path
 * Checks print "ok: ..." / "FAIL: ..." (guest/check.h); a failure makes
 * the exit code 1 (SHUTDOWN_crash).
 */
#include <guest/guest.h>
#include <guest/check.h>
#include <guest/cycles.h>
#include <guest/evtchn.h>
#include <guest/hypercall.h>
#include <guest/irq.h>
#include <guest/xenbus.h>
#include <xen/arch-x86/cpuid.h>
#include <xen/hvm/hvm_vcpu.h>

#define E(x) (-(long)XEN_##x)

/* ---- command line: "MODE [NUMBER|WORD|key=value]..." ---- */

static bool word_eq(const char *w, const char *s)
{
    while (*s && *w == *s) {
        w++;
        s++;
    }
    return !*s && (*w == '\0' || *w == ' ');
}

static const char *next_word(const char *w)
{
    while (*w && *w != ' ')
        w++;
    while (*w == ' ')
        w++;
    return w;
}

/* Does word w follow the mode? */
static bool has_word(const char *cmd, const char *w)
{
    for (const char *p = next_word(cmd); *p; p = next_word(p))
        if (word_eq(p, w))
            return true;
    return false;
}

/* The idx-th number (from 0) after the mode; 0 if there is none. */
static uint64_t arg_num(const char *cmd, int idx)
{
    for (const char *p = next_word(cmd); *p; p = next_word(p)) {
        if (*p < '0' || *p > '9')
            continue;
        if (idx-- == 0)
            return (uint64_t)strtol_simple(p, NULL);
    }
    return 0;
}

static void pause_n(long n)
{
    for (long i = 0; i < n; i++)
        __asm__ __volatile__("pause");
}

static long evtchn_op(int cmd, void *arg)
{
    return HYPERVISOR_event_channel_op(cmd, arg);
}

/* ---- timing (bench/pingpong reads these lines) ---- */

static struct cycle_hist hist;

static void hist_print(const char *prefix, uint64_t rounds)
{
    printk("%smean_cycles %lu\n", prefix,
           (unsigned long)(rounds ? hist.total / rounds : 0));
    printk("%sp50_cycles %lu\n", prefix,
           (unsigned long)cycle_hist_percentile(&hist, rounds, 50));
    printk("%sp99_cycles %lu\n", prefix,
           (unsigned long)cycle_hist_percentile(&hist, rounds, 99));
}

/* The same instructions per round as bench/pingpong/raw_guest.c's exit
 * loop; IF=0 as there, so no upcall lands inside a round. */
static int mode_null(uint64_t n)
{
    cpu_cli();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = cpu_rdtsc();
        HYPERVISOR_xen_version(XENVER_version, NULL);
        cycle_hist_add(&hist, cpu_rdtsc() - t0);
    }
    cpu_sti();
    printk("null: rounds %lu\n", (unsigned long)n);
    hist_print("null: ", n);
    return 0;
}

/* ---- vmcall: hypercalls without the hypercall page ---- */

/* Shaped exactly like Linux's xen_hypercall_intel/amd (arch/x86/xen/
 * xen-head.S): function-aligned, the instruction, a return; the assembler
 * pads to the next function with NOPs. */
__asm__(".pushsection .text.vmcall, \"ax\", @progbits\n"
        ".balign 16\n"
        "vmmtest_hypercall_intel:\n"
        "vmcall\n"
        "ret\n"
        ".balign 16\n"
        "vmmtest_hypercall_amd:\n"
        "vmmcall\n"
        "ret\n"
        ".balign 16\n"
        ".popsection\n");
extern const char vmmtest_hypercall_intel[], vmmtest_hypercall_amd[];

/* Xen's 64-bit hypercall ABI, through fn instead of the page. */
static long via(const char *fn, unsigned int nr, unsigned long a1,
                unsigned long a2, unsigned long a3)
{
    register unsigned long r_a1 __asm__("rdi") = a1;
    register unsigned long r_a2 __asm__("rsi") = a2;
    register unsigned long r_a3 __asm__("rdx") = a3;
    register unsigned long r_a4 __asm__("r10") = 0;
    register unsigned long r_a5 __asm__("r8") = 0;
    register long res __asm__("rax") = nr;

    __asm__ __volatile__("call *%[fn]"
                         : "+r"(res), "+r"(r_a1), "+r"(r_a2), "+r"(r_a3),
                           "+r"(r_a4), "+r"(r_a5)
                         : [fn] "r"(fn)
                         : "rcx", "r9", "r11", "memory", "cc");
    return res;
}

static char saved_page[PAGE_SIZE];

/* What a call through the poisoned hypercall page returns. */
#define PAGE_USED (-9999L)

/* Every stub of the page: mov $PAGE_USED, %rax; ret. */
static void poison_page(void)
{
    static const unsigned char stub[8] = { 0x48, 0xc7, 0xc0, 0xf1, 0xd8, 0xff, 0xff, 0xc3 };

    for (unsigned int i = 0; i < HYPERCALL_PAGE_ENTRIES; i++)
        memcpy(hypercall_page + i * 32, stub, sizeof(stub));
}

static int mode_vmcall(uint64_t n)
{
    const char *intel = vmmtest_hypercall_intel, *amd = vmmtest_hypercall_amd;
    static const char msg[] = "hello through vmmcall\n";
    xen_feature_info_t ref = { .submap_idx = 0 }, fi = { .submap_idx = 0 };
    long ver_i, ver_a, feat, alloc, close_rc, enosys, con;

    check(HYPERVISOR_xen_version(XENVER_get_features, &ref) == 0,
          "vmcall: features through the page");
    /* From here until the page is back, a call through it returns
     * PAGE_USED (no printk meanwhile: its notify would be one; IF=0: no
     * upcall handler). */
    cpu_cli();
    memcpy(saved_page, hypercall_page, PAGE_SIZE);
    poison_page();
    ver_i = via(intel, __HYPERVISOR_xen_version, XENVER_version, 0, 0);
    ver_a = via(amd, __HYPERVISOR_xen_version, XENVER_version, 0, 0);
    feat = via(intel, __HYPERVISOR_xen_version, XENVER_get_features,
               (unsigned long)&fi, 0);
    struct evtchn_alloc_unbound au = { .dom = DOMID_SELF, .remote_dom = 0 };
    alloc = via(amd, __HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound,
                (unsigned long)&au, 0);
    struct evtchn_close cl = { .port = au.port };
    close_rc = via(intel, __HYPERVISOR_event_channel_op, EVTCHNOP_close,
                   (unsigned long)&cl, 0);
    enosys = via(amd, 63, 0, 0, 0);
    con = via(amd, __HYPERVISOR_console_io, CONSOLEIO_write, sizeof(msg) - 1,
              (unsigned long)msg);
    memcpy(hypercall_page, saved_page, PAGE_SIZE);
    cpu_sti();

    check(ver_i == ((4 << 16) | 17), "vmcall: xen_version through VMCALL");
    check(ver_a == ((4 << 16) | 17), "vmcall: xen_version through VMMCALL");
    check(feat == 0 && fi.submap == ref.submap,
          "vmcall: get_features (a pointer argument) as through the page");
    check(alloc == 0 && au.port > 0, "vmcall: EVTCHNOP_alloc_unbound gives a port");
    check(close_rc == 0, "vmcall: EVTCHNOP_close of it");
    check(enosys == E(ENOSYS), "vmcall: unknown hypercall: -ENOSYS");
    check(con == 0, "vmcall: console_io");
    if (n) {
        /* Warm both paths up first: the first thousands of exits of a
         * fresh guest cost more on the nested KVM, whichever path. */
        cpu_cli();
        for (uint64_t i = 0; i < n; i++) {
            via(intel, __HYPERVISOR_xen_version, XENVER_version, 0, 0);
            HYPERVISOR_xen_version(XENVER_version, NULL);
        }
        for (uint64_t i = 0; i < n; i++) {
            uint64_t t0 = cpu_rdtsc();
            via(intel, __HYPERVISOR_xen_version, XENVER_version, 0, 0);
            cycle_hist_add(&hist, cpu_rdtsc() - t0);
        }
        cpu_sti();
        printk("vmcall: rounds %lu\n", (unsigned long)n);
        hist_print("vmcall: site ", n);
        memset(&hist, 0, sizeof(hist));
        mode_null(n);                   /* the same through the page */
    }
    return check_summary("vmmtest");
}

/* ---- hello ---- */

static int mode_hello(void)
{
    const struct hvm_start_info *si = guest_start_info();
    check(si->magic == XEN_HVM_START_MAGIC_VALUE && si->version >= 1,
          "start_info magic and version");
    check(si->memmap_entries > 0, "start_info has a memory map");
    check(HYPERVISOR_xen_version(XENVER_version, NULL) == ((4 << 16) | 17),
          "xen_version is 4.17");
    uint32_t a, b, c, d;
    cpu_cpuid(hypervisor_info.base + 4, 0, &a, &b, &c, &d);
    check((a & XEN_HVM_CPUID_UPCALL_VECTOR) && b == 0,
          "leaf 4: upcall vector flag, vcpu 0");
    cpu_cpuid(1, 0, &a, &b, &c, &d);
    check(c & (1u << 31), "leaf 1: the hypervisor bit, as Xen sets it");
    check(HYPERVISOR_console_io(CONSOLEIO_write, 16,
                                (const char *)0x7ff00000000ull) == E(EFAULT),
          "console_io bad pointer: -EFAULT");
    check(hypercall_raw(63, 0, 0, 0, 0, 0) == E(ENOSYS), "unknown hypercall: -ENOSYS");
    struct evtchn_alloc_unbound au = { .dom = DOMID_SELF, .remote_dom = 0 };
    check(evtchn_op(EVTCHNOP_alloc_unbound, &au) == 0 && au.port > 0,
          "alloc_unbound gives a port");
    struct evtchn_send snd = { .port = 4000 };
    check(evtchn_op(EVTCHNOP_send, &snd) == E(EINVAL), "send on a bad port: -EINVAL");
    check(console_uses_ring(), "console output goes through the PV console ring");
    printk("hello on the console ring\n");
    for (const char *p = "hello on port 0xe9\n"; *p; p++)
        cpu_outb(0xe9, (uint8_t)*p);      /* Linux's earlyprintk=xen */
    return check_summary("vmmtest");
}

/* ---- smp: a second vCPU brought up with VCPUOP_initialise + VCPUOP_up ---- */

static volatile int ap_alive;
static volatile uint64_t ap_count;
static volatile uint32_t ap_cpuid_vcpu = ~0u;
static unsigned char ap_stack[8192] __attribute__((aligned(16)));

/* vCPU 1: hypercalls and the variables above only (guest/entry.h). */
static volatile int ap_halt;        /* haltoff: vCPU 1 halts with IF=0 */

void guest_ap_main(void)
{
    static const char hello[] = "hello from vCPU 1\n";
    uint32_t a, b, c, d;

    cpu_cpuid(hypervisor_info.base + 4, 0, &a, &b, &c, &d);
    ap_cpuid_vcpu = b;
    HYPERVISOR_console_io(CONSOLEIO_write, sizeof(hello) - 1, hello);
    ap_alive = 1;
    if (ap_halt)
        for (;;)
            __asm__ __volatile__("cli; hlt");   /* down, as Xen's hvm_hlt */
    for (;;)
        ap_count++;          /* visibly running, until VCPUOP_down parks it */
}

/* vCPU 1's context: our page tables, guest_ap_entry64 on ap_stack. */
static struct vcpu_hvm_context *ap_context(void)
{
    static struct vcpu_hvm_context ctx = { .mode = VCPU_HVM_MODE_64B };
    ctx.cpu_regs.x86_64.rip = (uint64_t)(uintptr_t)guest_ap_entry64;
    ctx.cpu_regs.x86_64.rsp = (uint64_t)(uintptr_t)(ap_stack + sizeof(ap_stack));
    ctx.cpu_regs.x86_64.rflags = 2;
    ctx.cpu_regs.x86_64.cr0 = cpu_read_cr0();
    ctx.cpu_regs.x86_64.cr3 = cpu_read_cr3();
    ctx.cpu_regs.x86_64.cr4 = cpu_read_cr4();
    ctx.cpu_regs.x86_64.efer = cpu_rdmsr(0xc0000080);
    return &ctx;
}

/* Xen's hvm_hlt: a vCPU halted with interrupts off is down (VCPUOP_is_up
 * says 0), the domain runs on while one is up, and the last one halting
 * so powers it off (2 vCPUs). */
static int mode_haltoff(void)
{
    ap_halt = 1;
    check(HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, ap_context()) == 0,
          "VCPUOP_initialise");
    check(HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL) == 0, "VCPUOP_up");
    for (long i = 0; i < 2000000 && !ap_alive; i++)
        __asm__ __volatile__("pause");
    check(ap_alive, "vCPU 1 runs its entry");
    long spins = 0;
    while (HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL) == 1 && spins++ < 100000)
        pause_n(1000);
    check(HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL) == 0,
          "vCPU 1 halted with interrupts off is down");
    check(HYPERVISOR_vcpu_op(VCPUOP_is_up, 0, NULL) == 1, "vCPU 0 is up");
    printk("vmmtest: halting vCPU 0 with interrupts off\n");
    console_flush();
    for (;;)
        __asm__ __volatile__("cli; hlt");
    return 1;                       /* not reached: powered off */
}

static int mode_smp(void)
{
    check(HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL) == 0, "vCPU 1 is down at boot");
    check(HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL) == E(EINVAL),
          "VCPUOP_up before initialise: -EINVAL");
    check(HYPERVISOR_vcpu_op(VCPUOP_is_up, 7, NULL) == E(ENOENT),
          "VCPUOP_is_up of a missing vCPU: -ENOENT");
    check(HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, ap_context()) == 0,
          "VCPUOP_initialise");
    check(HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, ap_context()) == E(EEXIST),
          "second VCPUOP_initialise: -EEXIST");
    check(HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL) == 0, "VCPUOP_up");
    for (long i = 0; i < 2000000 && !ap_alive; i++)
        __asm__ __volatile__("pause");
    check(ap_alive, "vCPU 1 runs its entry");
    check(ap_cpuid_vcpu == 1, "vCPU 1 sees vcpu id 1 in CPUID leaf 4");
    check(HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL) == 1, "vCPU 1 is up");

    /* VCPUOP_down parks it where it is; VCPUOP_up lets it go on. */
    check(HYPERVISOR_vcpu_op(VCPUOP_down, 1, NULL) == 0, "VCPUOP_down");
    check(HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL) == 0,
          "vCPU 1 is down after VCPUOP_down");
    check(HYPERVISOR_vcpu_op(VCPUOP_down, 7, NULL) == E(ENOENT),
          "VCPUOP_down of a missing vCPU: -ENOENT");
    pause_n(2000);                  /* let the park take effect */
    uint64_t c1 = ap_count;
    pause_n(20000);
    uint64_t c2 = ap_count;
    check(c1 == c2, "a down vCPU does not run");
    check(HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL) == 0, "VCPUOP_up again");
    for (long i = 0; i < 2000000 && ap_count == c2; i++)
        __asm__ __volatile__("pause");
    check(ap_count != c2, "vCPU 1 resumes where it stopped");
    return check_summary("vmmtest");
}

/* ---- events on an IPI port of our own ---- */

static volatile unsigned long hits;
static int ipi_irq = -1;

static irqreturn_t count_hit(int irq, void *dev_id)
{
    (void)irq;
    (void)dev_id;
    hits++;
    return IRQ_HANDLED;
}

static void wait_hits(unsigned long n)
{
    for (int i = 0; i < 1000 && hits < n; i++)
        __asm__ __volatile__("pause");
}

/* EVTCHNOP_bind_ipi on vCPU 0 (the check `what`), its events counted in
 * `hits` by a handler that runs with interrupts off. Returns the port. */
static evtchn_port_t own_ipi(const char *what)
{
    struct evtchn_bind_ipi ipi = { .vcpu = 0 };

    if (!check(evtchn_op(EVTCHNOP_bind_ipi, &ipi) == 0, what))
        return 0;
    ipi_irq = bind_evtchn_to_irqhandler(ipi.port, count_hit, IRQF_DISABLED, "ipi", NULL);
    if (ipi_irq < 0)
        printk("vmmtest: no IRQ for port %u: %d\n", ipi.port, ipi_irq);
    return ipi.port;
}

/* The runtime registered shared_info and the upcall at start-up; the same
 * registration again must be accepted, and the upcall must be the kind
 * the command line asked for (upcall=legacy: the CALLBACK_IRQ vector). */
static bool check_registration(void)
{
    char opt[16] = "";
    bool legacy = guest_cmdline_get("upcall", opt, sizeof(opt)) && !strcmp(opt, "legacy");
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_shared_info, .idx = 0,
        .gpfn = virt_to_gfn(HYPERVISOR_shared_info),
    };

    check(HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp) == 0,
          "add_to_physmap(shared_info)");
    if (legacy) {
        uint64_t via = ((uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56) | GUEST_UPCALL_VECTOR;
        check(hvm_set_param(HVM_PARAM_CALLBACK_IRQ, via) == 0 && !guest_upcall_percpu(),
              "set_param(CALLBACK_IRQ, vector)");
    } else {
        struct xen_hvm_evtchn_upcall_vector uv = { .vcpu = 0, .vector = GUEST_UPCALL_VECTOR };
        check(HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &uv) == 0 &&
              guest_upcall_percpu(), "set_evtchn_upcall_vector");
    }
    return legacy;
}

/* The runtime's direct fast path (evtchn_bind_direct) on our IPI port,
 * which the IRQ layer has let go of (masked). */
static volatile unsigned long direct_hits;
static volatile evtchn_port_t direct_port;

static void count_direct(evtchn_port_t port)
{
    direct_hits++;
    direct_port = port;
}

static void wait_direct(unsigned long n)
{
    for (int i = 0; i < 1000 && direct_hits < n; i++)
        __asm__ __volatile__("pause");
}

static void check_direct(evtchn_port_t port)
{
    unsigned long irq_hits = hits, unbound = evtchn_stats.unbound;

    notify_remote_via_evtchn(port);             /* pending while masked */
    check(evtchn_bind_direct(port, count_direct) == 0, "direct: bind");
    wait_direct(1);
    check(direct_hits == 1 && hits == irq_hits,
          "direct: bind unmasks; the pending event goes to the handler, not the IRQ layer");
    notify_remote_via_evtchn(port);
    wait_direct(2);
    check(direct_hits == 2 && direct_port == port && !evtchn_is_pending(port),
          "direct: one call per event, with its port, pending bit cleared");
    check(bind_evtchn_to_irq(port) == -XEN_EBUSY &&
          evtchn_bind_direct(port, count_direct) == -XEN_EBUSY,
          "direct: the port is taken: IRQ layer and a second bind get -EBUSY");
    evtchn_unbind_direct(port);
    notify_remote_via_evtchn(port);
    pause_n(1000);
    check(direct_hits == 2 && evtchn_is_pending(port) && !evtchn_is_direct(port) &&
          evtchn_stats.unbound == unbound,
          "direct: unbind masks the port; the next event stays pending");
}

static int mode_events(void)
{
    check_registration();
    struct xen_hvm_evtchn_upcall_vector bad = { .vcpu = 0, .vector = 5 };
    check(HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &bad) == E(EINVAL),
          "upcall vector < 0x10: -EINVAL");
    bad = (struct xen_hvm_evtchn_upcall_vector){ .vcpu = 9, .vector = 0x40 };
    check(HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &bad) == E(ENOENT),
          "upcall vector of a missing vCPU: -ENOENT");

    evtchn_port_t port = own_ipi("bind_ipi");
    check(notify_remote_via_evtchn(port) == 0, "send to own IPI port");
    wait_hits(1);
    check(hits == 1, "IPI upcall delivered once");

    /* masked: no upcall; unmask re-delivers */
    struct evtchn_unmask um = { .port = port };
    mask_evtchn(port);
    notify_remote_via_evtchn(port);
    pause_n(1000);
    check(hits == 1, "masked port: no upcall");
    check(evtchn_op(EVTCHNOP_unmask, &um) == 0, "unmask");
    wait_hits(2);
    check(hits == 2, "unmask re-delivers the pending event");

    /* SCHEDOP_block with events disabled returns once one is pending */
    cpu_cli();
    notify_remote_via_evtchn(port);
    check(HYPERVISOR_sched_op(SCHEDOP_block, NULL) == 0,
          "block returns with an event pending");
    __asm__ __volatile__("sti; nop" ::: "memory");
    wait_hits(3);
    check(hits == 3, "event after block delivered");

    /* SCHEDOP_poll: a pending port returns at once; bad input errors */
    evtchn_port_t pp = port;
    mask_evtchn(pp);
    notify_remote_via_evtchn(pp);
    struct sched_poll sp = { .nr_ports = 1, .timeout = 0 };
    set_xen_guest_handle(sp.ports, &pp);
    check(HYPERVISOR_sched_op(SCHEDOP_poll, &sp) == 0, "poll on a pending port");
    sp.nr_ports = 129;
    check(HYPERVISOR_sched_op(SCHEDOP_poll, &sp) == E(EINVAL), "poll with 129 ports: -EINVAL");
    sp.nr_ports = 1;
    set_xen_guest_handle(sp.ports, (evtchn_port_t *)0x7ff000000000ull);
    check(HYPERVISOR_sched_op(SCHEDOP_poll, &sp) == E(EFAULT), "poll with a bad pointer: -EFAULT");
    check(evtchn_bind_direct(pp, count_direct) == -XEN_EBUSY,
          "direct: a port of the IRQ layer: -EBUSY");
    if (ipi_irq >= 0)
        unbind_from_irqhandler(ipi_irq, NULL);     /* our port stays open */
    check_direct(pp);
    struct evtchn_close cl = { .port = pp };
    check(evtchn_op(EVTCHNOP_close, &cl) == 0, "close the IPI port");
    return check_summary("vmmtest");
}

/*
 * "unmask [cli] N": N times mask an IPI port, send to it, and unmask it
 * with EVTCHNOP_unmask, with interrupts enabled (or disabled around the
 * call and enabled by STI after it). Xen re-raises the pending event
 * inside the hypercall and the vCPU takes the upcall before its next
 * instruction with IF=1, so the handler must have run when the call (or
 * the STI and the one instruction in its shadow) is done: the volatile
 * counter is read right there. "late" counts rounds where it had not (the
 * upcall came later), "lost" rounds where it never came.
 */
static int mode_unmask(bool irqs_off, uint64_t rounds)
{
    bool legacy = check_registration();
    evtchn_port_t port = own_ipi("unmask: bind_ipi");
    struct evtchn_unmask um = { .port = port };
    uint64_t late = 0, lost = 0, early = 0, bad_rc = 0;

    for (uint64_t i = 0; i < rounds; i++) {
        mask_evtchn(port);
        unsigned long before = hits;
        notify_remote_via_evtchn(port);
        if (hits != before)
            early++;                   /* delivered through the mask */
        before = hits;
        long rc;
        if (irqs_off) {
            /* Unmasked with IF=0 (as under a spin_lock_irqsave): the
             * upcall is due as soon as STI's one-instruction shadow ends. */
            cpu_cli();
            rc = evtchn_op(EVTCHNOP_unmask, &um);
            __asm__ __volatile__("sti; nop" ::: "memory");
        } else {
            rc = evtchn_op(EVTCHNOP_unmask, &um);
        }
        unsigned long after = hits;              /* the very next read */
        if (rc)
            bad_rc++;
        if (after == before) {
            late++;
            for (int j = 0; j < 100000 && hits == before; j++)
                __asm__ __volatile__("pause");
            if (hits == before)
                lost++;
        }
        if (lost > 3)
            break;                      /* delivery is stuck: stop early */
    }
    printk("unmask: rounds %lu\n", (unsigned long)rounds);
    printk("unmask: late %lu\n", (unsigned long)late);
    printk("unmask: lost %lu\n", (unsigned long)lost);
    check(bad_rc == 0, "unmask: EVTCHNOP_unmask returns 0");
    check(early == 0, "unmask: no upcall while masked");
    check(late == 0, "unmask: upcall taken before the next instruction");
    check(lost == 0, "unmask: every re-raised event delivered");
    if (legacy) {
        /* Xen injects the CALLBACK_IRQ vector itself, never through the
         * LAPIC, and we send it no EOI: it must not sit in the ISR, where
         * it would hold back every later interrupt of its class. */
        check(!lapic_in_service(GUEST_UPCALL_VECTOR),
              "unmask: legacy vector not in the LAPIC's ISR");
    }
    return check_summary("vmmtest");
}

/* ---- ping-pong between two domains (bench/pingpong times it) ---- */

/* Both halves take their port on the runtime's direct fast path
 * (evtchn_bind_direct): the scan calls these with interrupts off and no
 * IRQ layer in between, so a timed event costs the upcall stub, the scan
 * and this function, as in the raw pair's guest_upcall. */
static volatile uint64_t pp_got;

/* Answer from the handler, as seed 002 does. */
static void pong_event(evtchn_port_t port)
{
    pp_got++;
    notify_remote_via_evtchn(port);
}

static void ping_event(evtchn_port_t port)
{
    (void)port;
    pp_got++;
}

static bool pong_done(void *rounds)
{
    return pp_got >= *(uint64_t *)rounds;
}

/* Offer a port to domain `peer`, answer every event on it. */
static int mode_pong(domid_t peer, uint64_t rounds)
{
    struct evtchn_alloc_unbound au = { .dom = DOMID_SELF, .remote_dom = peer };

    if (!check(evtchn_op(EVTCHNOP_alloc_unbound, &au) == 0, "pong: alloc_unbound"))
        return check_summary("vmmtest");
    printk("pong: port %u\n", au.port);
    check(evtchn_bind_direct(au.port, pong_event) == 0, "pong: handler bound");
    guest_wait_until(pong_done, &rounds);
    printk("pong: answered %lu\n", (unsigned long)pp_got);
    return check_summary("vmmtest");
}

/* Bind to (peer, port) and time `rounds` round trips: the same
 * instructions per round as bench/pingpong/raw_guest.c's pair loop. */
static int mode_ping(domid_t peer, evtchn_port_t port, uint64_t rounds)
{
    struct evtchn_bind_interdomain bi = { .remote_dom = peer, .remote_port = port };
    long rc;

    /* the peer may not have offered its port yet */
    for (int tries = 0; (rc = evtchn_op(EVTCHNOP_bind_interdomain, &bi)) != 0 &&
         tries < 100000; tries++)
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    if (!check(rc == 0, "ping: bind_interdomain") ||
        !check(evtchn_bind_direct(bi.local_port, ping_event) == 0, "ping: handler bound"))
        return check_summary("vmmtest");
    evtchn_port_t pp_port = bi.local_port;
    /* bind_interdomain leaves the new port pending: consume that first */
    for (int i = 0; i < 1000 && !pp_got; i++)
        __asm__ __volatile__("pause");
    pp_got = 0;
    for (uint64_t i = 0; i < rounds; i++) {
        uint64_t t0 = cpu_rdtsc();
        cpu_cli();
        notify_remote_via_evtchn(pp_port);
        while (pp_got <= i) {
            cpu_safe_halt();
            cpu_cli();
        }
        cpu_sti();
        cycle_hist_add(&hist, cpu_rdtsc() - t0);
    }
    printk("ping: rounds %lu\n", (unsigned long)rounds);
    hist_print("ping: ", rounds);
    return check_summary("vmmtest");
}

/* ---- the rest ---- */

/* Allocate ports until the hypervisor refuses (max_event_channels). */
static int mode_evtchnlimit(void)
{
    long rc;
    unsigned long last = 0;

    for (;;) {
        struct evtchn_alloc_unbound au = { .dom = DOMID_SELF, .remote_dom = 0 };
        rc = evtchn_op(EVTCHNOP_alloc_unbound, &au);
        if (rc || au.port > 200000)
            break;
        last = au.port;
    }
    printk("evtchnlimit: last port %lu\n", last);
    printk("evtchnlimit: errno %ld\n", -rc);
    return 0;
}

int guest_main(const char *cmd)
{
    static const char hello[] = "hello from the xenkvm test guest\n";

    if (word_eq(cmd, "null"))
        return mode_null(arg_num(cmd, 0));
    HYPERVISOR_console_io(CONSOLEIO_write, sizeof(hello) - 1, hello);
    printk("xen cpuid base: %#x\n", hypervisor_info.base);
    if (word_eq(cmd, "crash"))
        guest_shutdown_reason(SHUTDOWN_crash);
    if (word_eq(cmd, "reboot")) {
        long domid = 0;
        if (arg_num(cmd, 0) &&
            !check(xs_available() && xs_read_int(XBT_NIL, "domid", &domid) == 0,
                   "our domid from XenStore"))
            return 1;
        printk("vmmtest: domid %ld\n", domid);
        if (domid < (long)arg_num(cmd, 0) || !arg_num(cmd, 0))
            guest_shutdown_reason(SHUTDOWN_reboot);
        return 0;
    }
    if (word_eq(cmd, "watchdog")) {
        long domid = 0;
        if (!check(xs_available() && xs_read_int(XBT_NIL, "domid", &domid) == 0,
                   "our domid from XenStore"))
            return 1;
        if (domid >= (long)arg_num(cmd, 1))
            return 0;
        struct sched_watchdog w = { .id = 0, .timeout = (uint32_t)arg_num(cmd, 0) };
        int id = HYPERVISOR_sched_op(SCHEDOP_watchdog, &w);
        printk("vmmtest: domid %ld: watchdog %d of %u s\n", domid, id, w.timeout);
        if (!check(id == 1, "SCHEDOP_watchdog gives the first timer"))
            return 1;
        console_flush();
        for (;;)
            __asm__ __volatile__("pause");
    }
    if (word_eq(cmd, "fault"))
        guest_triple_fault();
    if (word_eq(cmd, "spin"))
        for (;;)
            __asm__ __volatile__("pause");
    if (word_eq(cmd, "downself")) {
        /* Xen: taking down the last running vCPU powers the domain off. */
        console_flush();
        HYPERVISOR_vcpu_op(VCPUOP_down, 0, NULL);
        check(false, "still running after VCPUOP_down of the last vCPU");
        guest_shutdown_reason(SHUTDOWN_crash);
    }
    if (word_eq(cmd, "smp"))
        return mode_smp();
    if (word_eq(cmd, "haltoff"))
        return mode_haltoff();
    if (word_eq(cmd, "events"))
        return mode_events();
    if (word_eq(cmd, "unmask"))
        return mode_unmask(has_word(cmd, "cli"), arg_num(cmd, 0));
    if (word_eq(cmd, "vmcall"))
        return mode_vmcall(arg_num(cmd, 0));
    if (word_eq(cmd, "evtchnlimit"))
        return mode_evtchnlimit();
    if (word_eq(cmd, "pong"))
        return mode_pong((domid_t)arg_num(cmd, 0), arg_num(cmd, 1));
    if (word_eq(cmd, "ping"))
        return mode_ping((domid_t)arg_num(cmd, 0), (evtchn_port_t)arg_num(cmd, 1),
                         arg_num(cmd, 2));
    return mode_hello();
}

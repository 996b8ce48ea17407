/*
 * The VMM's own freestanding test guest (not the guest/ runtime): finds
 * Xen's CPUID leaves, installs the hypercall page through the MSR they
 * name, and exercises the hypercall path. What it does is chosen by the
 * first word of the command line:
 *   (none)  hello on console_io and on the PV console ring, checks, poweroff
 *   crash   SCHEDOP_shutdown(SHUTDOWN_crash)
 *   fault   triple fault (the VMM must stop this domain only)
 *   spin    loop forever (for Ctrl-C tests)
 *   null N  N null hypercalls, then poweroff (timing by the caller)
 *   smp     a second vCPU through VCPUOP_initialise/up (run with 2 vCPUs)
 *   downself  VCPUOP_down of the only vCPU: the domain powers off
 *   events  upcall, mask/unmask, block and poll checks (events.c)
 *   unmask [legacy] [cli] N  EVTCHNOP_unmask of a pending port delivers
 *           before the next instruction (with IF=0 around the call: right
 *           after STI), N rounds, per-vCPU or legacy CALLBACK_IRQ vector
 *   pong PEER N / ping PEER PORT N  the two halves of a ping-pong
 * Every check prints "ok: ..." or "FAIL: ..."; failures end in a crash.
 */
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/sched.h>
#include <xen/version.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xen/io/console.h>
#include <xen/arch-x86/cpuid.h>
#include <xen/arch-x86/hvm/start_info.h>
#include <xen/hvm/hvm_vcpu.h>
#include <xen/vcpu.h>

#include "tg.h"

static uint8_t hypercall_page[4096] __attribute__((aligned(4096)));
static int failures;

long tg_hcall(unsigned int nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
    long ret;
    void *stub = hypercall_page + nr * 32;
    __asm__ volatile("call *%[stub]"
                     : "=a"(ret), "+D"(a1), "+S"(a2), "+d"(a3)
                     : [stub] "r"(stub)
                     : "memory", "cc");
    return ret;
}

static size_t tg_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static void puts_io(const char *s)
{
    tg_hcall(__HYPERVISOR_console_io, CONSOLEIO_write, tg_strlen(s),
          (uint64_t)(uintptr_t)s);
}

static void put_hex(const char *label, uint64_t v)
{
    char buf[64];
    size_t n = 0;
    while (*label && n < 40)
        buf[n++] = *label++;
    buf[n++] = '0';
    buf[n++] = 'x';
    int started = 0;
    for (int i = 60; i >= 0; i -= 4) {
        unsigned d = (v >> i) & 0xf;
        if (d || started || i == 0) {
            buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
            started = 1;
        }
    }
    buf[n++] = '\n';
    buf[n] = 0;
    puts_io(buf);
}

void tg_check(int cond, const char *what)
{
    puts_io(cond ? "ok: " : "FAIL: ");
    puts_io(what);
    puts_io("\n");
    if (!cond)
        failures++;
}

static void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c,
                  uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
                     : "a"(leaf), "c"(0));
}

static void shutdown(unsigned int reason)
{
    struct sched_shutdown s = { .reason = reason };
    tg_hcall(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (uint64_t)(uintptr_t)&s, 0);
    for (;;)
        __asm__ volatile("hlt");
}

void tg_put_dec(const char *label, uint64_t v)
{
    char buf[80];
    size_t n = 0;
    while (*label && n < 50)
        buf[n++] = *label++;
    char digits[24];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (nd)
        buf[n++] = digits[--nd];
    buf[n++] = '\n';
    buf[n] = 0;
    puts_io(buf);
}

static int word_is(const char *s, const char *w)
{
    while (*w && *s == *w) {
        s++;
        w++;
    }
    return !*w && (*s == 0 || *s == ' ');
}

/* The idx-th number after the first word (idx from 0). */
static uint64_t parse_num_at(const char *s, int idx)
{
    for (int i = 0; i <= idx; i++) {
        while (*s && *s != ' ')
            s++;
        while (*s == ' ')
            s++;
    }
    uint64_t n = 0;
    while (*s >= '0' && *s <= '9')
        n = n * 10 + (uint64_t)(*s++ - '0');
    return n;
}
#define parse_num(s) parse_num_at((s), 0)

static long get_param(uint32_t idx, uint64_t *val)
{
    struct xen_hvm_param p = { .domid = DOMID_SELF, .index = idx };
    long rc = tg_hcall(__HYPERVISOR_hvm_op, HVMOP_get_param,
                    (uint64_t)(uintptr_t)&p, 0);
    *val = p.value;
    return rc;
}

/* Write to the PV console ring and notify domain 0. */
static void ring_write(const char *s)
{
    uint64_t pfn, port;
    if (get_param(HVM_PARAM_CONSOLE_PFN, &pfn) ||
        get_param(HVM_PARAM_CONSOLE_EVTCHN, &port))
        return;
    /* the ring is a special page near 4 GiB, mapped 1:1 by tg_main */
    struct xencons_interface *r = (void *)(uintptr_t)(pfn << 12);
    size_t n = tg_strlen(s);
    uint32_t prod = r->out_prod;
    for (size_t i = 0; i < n; i++)
        r->out[MASK_XENCONS_IDX(prod++, r->out)] = s[i];
    __asm__ volatile("" ::: "memory");
    r->out_prod = prod;
    struct evtchn_send snd = { .port = (evtchn_port_t)port };
    tg_hcall(__HYPERVISOR_event_channel_op, EVTCHNOP_send,
          (uint64_t)(uintptr_t)&snd, 0);
}

/* ---- SMP: a second vCPU brought up with VCPUOP_initialise + VCPUOP_up ---- */

static volatile int ap_alive;
static volatile uint64_t ap_count;
static volatile uint32_t ap_cpuid_vcpu = ~0u;
static uint8_t ap_stack[8192] __attribute__((aligned(16)));

static void ap_main(void)
{
    uint32_t a, b, c, d;
    cpuid(XEN_CPUID_LEAF(4), &a, &b, &c, &d);
    ap_cpuid_vcpu = b;
    puts_io("hello from vCPU 1\n");
    ap_alive = 1;
    for (;;)
        ap_count++;          /* visibly running, until VCPUOP_down parks it */
}

static void spin(long n)
{
    for (long i = 0; i < n; i++)
        __asm__ volatile("pause");
}

static void smp_checks(void)
{
    long rc = tg_hcall(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 1, 0);
    tg_check(rc == 0, "vCPU 1 is down at boot");
    tg_check(tg_hcall(__HYPERVISOR_vcpu_op, VCPUOP_up, 1, 0) == -22,
             "VCPUOP_up before initialise: -EINVAL");
    tg_check(tg_hcall(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 7, 0) == -2,
             "VCPUOP_is_up of a missing vCPU: -ENOENT");
    static struct vcpu_hvm_context ctx;
    uint64_t cr0, cr3, cr4;
    uint32_t lo, hi;
    __asm__ volatile("mov %%cr0, %0; mov %%cr3, %1; mov %%cr4, %2"
                     : "=r"(cr0), "=r"(cr3), "=r"(cr4));
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000080));
    ctx.mode = VCPU_HVM_MODE_64B;
    ctx.cpu_regs.x86_64.rip = (uint64_t)(uintptr_t)ap_main;
    ctx.cpu_regs.x86_64.rsp = (uint64_t)(uintptr_t)(ap_stack + sizeof(ap_stack) - 8);
    ctx.cpu_regs.x86_64.rflags = 2;
    ctx.cpu_regs.x86_64.cr0 = cr0;
    ctx.cpu_regs.x86_64.cr3 = cr3;
    ctx.cpu_regs.x86_64.cr4 = cr4;
    ctx.cpu_regs.x86_64.efer = ((uint64_t)hi << 32) | lo;
    tg_check(tg_hcall(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1,
                      (uint64_t)(uintptr_t)&ctx) == 0, "VCPUOP_initialise");
    tg_check(tg_hcall(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1,
                      (uint64_t)(uintptr_t)&ctx) == -17,
             "second VCPUOP_initialise: -EEXIST");
    tg_check(tg_hcall(__HYPERVISOR_vcpu_op, VCPUOP_up, 1, 0) == 0, "VCPUOP_up");
    for (long i = 0; i < 2000000 && !ap_alive; i++)
        __asm__ volatile("pause");
    tg_check(ap_alive, "vCPU 1 runs its entry");
    tg_check(ap_cpuid_vcpu == 1, "vCPU 1 sees vcpu id 1 in CPUID leaf 4");
    tg_check(tg_hcall(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 1, 0) == 1,
             "vCPU 1 is up");

    /* VCPUOP_down parks it where it is; VCPUOP_up lets it go on. */
    tg_check(tg_hcall(__HYPERVISOR_vcpu_op, VCPUOP_down, 1, 0) == 0, "VCPUOP_down");
    tg_check(tg_hcall(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 1, 0) == 0,
             "vCPU 1 is down after VCPUOP_down");
    tg_check(tg_hcall(__HYPERVISOR_vcpu_op, VCPUOP_down, 7, 0) == -2,
             "VCPUOP_down of a missing vCPU: -ENOENT");
    spin(2000);                     /* let the park take effect */
    uint64_t c1 = ap_count;
    spin(20000);
    uint64_t c2 = ap_count;
    tg_check(c1 == c2, "a down vCPU does not run");
    tg_check(tg_hcall(__HYPERVISOR_vcpu_op, VCPUOP_up, 1, 0) == 0, "VCPUOP_up again");
    for (long i = 0; i < 2000000 && ap_count == c2; i++)
        __asm__ volatile("pause");
    tg_check(ap_count != c2, "vCPU 1 resumes where it stopped");
}

void tg_main(const struct hvm_start_info *si);
void tg_main(const struct hvm_start_info *si)
{
    uint32_t base, a, b, c, d;
    for (base = XEN_CPUID_FIRST_LEAF; base < XEN_CPUID_FIRST_LEAF + 0x10000;
         base += 0x100) {
        cpuid(base, &a, &b, &c, &d);
        if (b == XEN_CPUID_SIGNATURE_EBX && c == XEN_CPUID_SIGNATURE_ECX &&
            d == XEN_CPUID_SIGNATURE_EDX)
            break;
    }
    if (base >= XEN_CPUID_FIRST_LEAF + 0x10000)
        for (;;)
            __asm__ volatile("hlt");       /* no Xen: nothing to talk to */
    cpuid(base + 2, &a, &b, &c, &d);
    uint64_t page = (uint64_t)(uintptr_t)hypercall_page;
    __asm__ volatile("wrmsr" :: "c"(b), "a"((uint32_t)page),
                     "d"((uint32_t)(page >> 32)));

    const char *cmd = si->cmdline_paddr ?
                      (const char *)(uintptr_t)si->cmdline_paddr : "";
    if (word_is(cmd, "null")) {
        uint64_t n = parse_num(cmd);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t t0 = tg_rdtsc_inline();
            tg_hcall(__HYPERVISOR_xen_version, XENVER_version, 0, 0);
            tg_hist_add(tg_rdtsc_inline() - t0);
        }
        tg_put_dec("null: rounds ", n);
        tg_hist_print("null: ", n);
        shutdown(SHUTDOWN_poweroff);
    }
    puts_io("hello from the xenkvm test guest\n");
    put_hex("xen cpuid base: ", base);
    if (word_is(cmd, "pong")) {
        tg_pong((domid_t)parse_num_at(cmd, 0), parse_num_at(cmd, 1));
        shutdown(failures ? SHUTDOWN_crash : SHUTDOWN_poweroff);
    }
    if (word_is(cmd, "ping")) {
        tg_ping((domid_t)parse_num_at(cmd, 0),
                (evtchn_port_t)parse_num_at(cmd, 1), parse_num_at(cmd, 2));
        shutdown(failures ? SHUTDOWN_crash : SHUTDOWN_poweroff);
    }
    if (word_is(cmd, "evtchnlimit")) {
        /* Allocate ports until the hypervisor refuses (issue 14 defect 9:
         * max_event_channels). Prints the last port and the errno. */
        long rc;
        uint64_t last = 0;
        for (;;) {
            struct evtchn_alloc_unbound au = { .dom = DOMID_SELF, .remote_dom = 0 };
            rc = tg_hcall(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound,
                          (uint64_t)(uintptr_t)&au, 0);
            if (rc || au.port > 200000)
                break;
            last = au.port;
        }
        tg_put_dec("evtchnlimit: last port ", last);
        tg_put_dec("evtchnlimit: errno ", (uint64_t)-rc);
        shutdown(SHUTDOWN_poweroff);
    }
    if (word_is(cmd, "downself")) {
        /* Xen: taking down the last running vCPU powers the domain off. */
        tg_hcall(__HYPERVISOR_vcpu_op, VCPUOP_down, 0, 0);
        puts_io("FAIL: still running after VCPUOP_down of the last vCPU\n");
        shutdown(SHUTDOWN_crash);
    }
    if (word_is(cmd, "smp")) {
        smp_checks();
        shutdown(failures ? SHUTDOWN_crash : SHUTDOWN_poweroff);
    }
    if (word_is(cmd, "events")) {
        tg_events();
        shutdown(failures ? SHUTDOWN_crash : SHUTDOWN_poweroff);
    }
    if (word_is(cmd, "unmask")) {
        int legacy = 0, irqs_off = 0, words = 0;
        const char *arg = cmd + 6;
        for (;;) {
            while (*arg == ' ')
                arg++;
            if (word_is(arg, "legacy"))
                legacy = 1;
            else if (word_is(arg, "cli"))
                irqs_off = 1;
            else
                break;
            words++;
            while (*arg && *arg != ' ')
                arg++;
        }
        tg_unmask_now(legacy, irqs_off, parse_num_at(cmd, words));
        shutdown(failures ? SHUTDOWN_crash : SHUTDOWN_poweroff);
    }
    if (word_is(cmd, "crash"))
        shutdown(SHUTDOWN_crash);
    if (word_is(cmd, "spin"))
        for (;;)
            __asm__ volatile("pause");
    if (word_is(cmd, "fault")) {
        struct { uint16_t lim; uint64_t base; } __attribute__((packed))
            idt = { 0, 0 };
        __asm__ volatile("lidt %0; int3" :: "m"(idt));
    }

    tg_check(si->magic == XEN_HVM_START_MAGIC_VALUE && si->version >= 1,
          "start_info magic and version");
    tg_check(si->memmap_entries > 0, "start_info has a memory map");
    long v = tg_hcall(__HYPERVISOR_xen_version, XENVER_version, 0, 0);
    tg_check(v == ((4 << 16) | 17), "xen_version is 4.17");
    cpuid(base + 4, &a, &b, &c, &d);
    tg_check((a & XEN_HVM_CPUID_UPCALL_VECTOR) && b == 0,
          "leaf 4: upcall vector flag, vcpu 0");
    tg_check(tg_hcall(__HYPERVISOR_console_io, CONSOLEIO_write, 16,
                0x7ff00000000ull) == -14, "console_io bad pointer: -EFAULT");
    tg_check(tg_hcall(63, 0, 0, 0) == -38, "unknown hypercall: -ENOSYS");
    struct evtchn_alloc_unbound au = { .dom = DOMID_SELF, .remote_dom = 0 };
    tg_check(tg_hcall(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound,
                (uint64_t)(uintptr_t)&au, 0) == 0 && au.port > 0,
          "alloc_unbound gives a port");
    struct evtchn_send snd = { .port = 4000 };
    tg_check(tg_hcall(__HYPERVISOR_event_channel_op, EVTCHNOP_send,
                (uint64_t)(uintptr_t)&snd, 0) == -22, "send on a bad port: -EINVAL");

    ring_write("hello on the console ring\n");

    if (failures)
        shutdown(SHUTDOWN_crash);
    shutdown(SHUTDOWN_poweroff);
}

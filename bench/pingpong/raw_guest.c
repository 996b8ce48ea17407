/*
 * The raw-KVM baseline guest of bench/pingpong: no Xen layer at all. It is
 * built on guest/'s entry alone (guest/entry.h: PVH entry, long mode, IDT
 * and stubs, the hypercall page) and supplies guest_start, guest_trap and
 * guest_upcall; it reads its job from RAW_PARAMS:
 *   mode 1  exit loop: N times xen_version through the hypercall page,
 *           whose stub here is `out %al, $RAW_PORT_EXIT` (a user-space I/O
 *           exit round trip, the floor of a hypercall served in user space)
 *   mode 2  side A: N times write RAW_PORT_KICK (an ioeventfd that is VM
 *           B's irqfd) and wait for B's interrupt (A's irqfd)
 *   mode 3  side B: on each interrupt write RAW_PORT_KICK back
 * Round trips are timed with rdtsc into the histogram in RAW_PARAMS, which
 * the bench reads from guest memory; RAW_PORT_DONE ends the run. The timed
 * loops are guests/vmmtest's null and ping loops instruction for
 * instruction, the transport aside, so the ratios show what the VMM adds.
 */
#include <guest/arch.h>
#include <guest/cycles.h>
#include <guest/entry.h>
#include <guest/hypercall.h>
#include <guest/lapic.h>

#include "raw.h"

static volatile uint64_t irqs;
static volatile uint32_t mode;

/* RAW_VECTOR is GUEST_UPCALL_VECTOR: the MSI comes in through the same
 * lean stub (guest/entry.h) as the Xen guests' upcall, so both sides of
 * the bench pay the same entry and exit. */
void guest_upcall(void)
{
    irqs++;
    if (mode == 3)
        cpu_outb(RAW_PORT_KICK, 1);     /* answer from the handler */
    lapic_eoi();                        /* last, as the runtime's upcall */
}

/* An exception: nothing to report on (no console); stop here. */
void guest_trap(struct trap_frame *f)
{
    (void)f;
    for (;;)
        __asm__ __volatile__("cli; hlt");
}

/* The stub a hypervisor would write for xen_version (see xenkvm/hv.h),
 * with our exit port: mov $17, %eax; out %al, $RAW_PORT_EXIT; ret. */
static void install_stub(void)
{
    static const uint8_t stub[] = { 0xb8, __HYPERVISOR_xen_version, 0, 0, 0,
                                    0xe6, RAW_PORT_EXIT, 0xc3 };
    char *p = hypercall_page + __HYPERVISOR_xen_version * 32;

    for (unsigned int i = 0; i < sizeof(stub); i++)
        p[i] = (char)stub[i];
}

void guest_start(uint32_t start_info_pa)
{
    struct raw_params *p = (struct raw_params *)(uintptr_t)RAW_PARAMS_GPA;

    (void)start_info_pa;
    mode = p->mode;
    guest_idt_init();
    lapic_enable();
    install_stub();

    if (mode == 1) {
        for (uint64_t i = 0; i < p->rounds; i++) {
            uint64_t t0 = cpu_rdtsc();
            HYPERVISOR_xen_version(XENVER_version, NULL);
            cycle_hist_add(&p->hist, cpu_rdtsc() - t0);
        }
    } else if (mode == 2) {
        cpu_sti();
        for (uint64_t i = 0; i < p->rounds; i++) {
            uint64_t t0 = cpu_rdtsc();
            cpu_cli();
            cpu_outb(RAW_PORT_KICK, 1);
            while (irqs <= i) {
                cpu_safe_halt();
                cpu_cli();
            }
            cpu_sti();
            cycle_hist_add(&p->hist, cpu_rdtsc() - t0);
        }
    } else if (mode == 3) {
        cpu_sti();
        for (;;)
            __asm__ __volatile__("hlt");
    }
    /* The host reads the figures once we are out: every store before the
     * exit loop must be done (nothing after it reads them back). */
    WRITE_ONCE(p->done, 1);
    barrier();
    for (;;)
        cpu_outb(RAW_PORT_DONE, 1);
}

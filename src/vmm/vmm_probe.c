/*
 * A probe of the host's KVM: is an interrupt that became pending while the
 * guest had IF=0 taken as soon as the guest sets IF (STI)?
 *
 * On hardware KVM (and on Xen) it always is: KVM opens an interrupt window
 * itself. The nested, software-assisted kvm_pvm of some hosts does not, so
 * an upcall raised by a hypercall made under cli (EVTCHNOP_unmask inside
 * irqsave, as Linux does) waits for some later exit, ticks late. The VMM
 * runs this once at start-up and keeps the window itself only where the
 * host needs it (vmm_irqwin.c), so hosts that do it right pay nothing.
 *
 * A 64-bit guest with the in-kernel irqchip loops over
 *     [cli]; out 0x10; [sti; nop]; read flag; out 0x11
 * At the exit on port 0x10 a fixed MSI (vector 0x40) is signalled from the
 * vCPU's own thread, as the VMM does for an upcall raised by a hypercall.
 * The handler sets the flag; port 0x11 reports whether it had run.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm_int.h"

/* The guest: position-independent, copied to guest physical 0x1000. */
__asm__(".pushsection .rodata\n"
        ".globl kiw_guest_start, kiw_guest_end, kiw_guest_if1, kiw_guest_handler\n"
        "kiw_guest_start:\n"
        "    .code64\n"
        "    cli\n"
        "    movb $0, kiw_flag(%rip)\n"
        "    out %al, $0x10\n"
        "    sti\n"
        "    nop\n"
        "    movb kiw_flag(%rip), %al\n"
        "    out %al, $0x11\n"
        "    jmp kiw_guest_start\n"
        "kiw_guest_if1:\n"
        "    sti\n"
        "    movb $0, kiw_flag(%rip)\n"
        "    out %al, $0x10\n"
        "    movb kiw_flag(%rip), %al\n"
        "    out %al, $0x11\n"
        "    jmp kiw_guest_if1\n"
        "kiw_guest_handler:\n"
        "    movb $1, kiw_flag(%rip)\n"
        "    push %rax\n"
        "    mov $0xfee000b0, %rax\n"
        "    movl $0, (%rax)\n"          /* EOI */
        "    pop %rax\n"
        "    iretq\n"
        "kiw_flag: .byte 0\n"
        "kiw_guest_end:\n"
        ".popsection\n");
extern const uint8_t kiw_guest_start[], kiw_guest_end[], kiw_guest_if1[],
    kiw_guest_handler[];

#define CODE   0x1000ull
#define IDT    0x3000ull
#define GDT    0x4000ull
#define PML4   0x10000ull
#define VEC    0x40

#define FAIL(what)                                                          \
    do {                                                                    \
        rc = -errno;                                                        \
        (void)(what);                                                       \
        goto out;                                                           \
    } while (0)

/* The probe's guest in r: its code, long mode over 0-1 GiB and the LAPIC's
 * 3-4 GiB, a gate for VEC, the LAPIC software-enabled. 0 or -errno. */
static int probe_setup(struct vmm_raw_vm *r, bool if1)
{
    uint8_t *mem = r->mem;
    memcpy(mem + CODE, kiw_guest_start,
           (size_t)(kiw_guest_end - kiw_guest_start));
    /* Long mode: 0-1 GiB and 3-4 GiB (the LAPIC) in 2 MiB pages. */
    uint64_t *pml4 = (uint64_t *)(mem + PML4), *pdpt = pml4 + 512,
             *pd0 = pml4 + 1024, *pd3 = pml4 + 1536;
    pml4[0] = (PML4 + 0x1000) | 3;
    pdpt[0] = (PML4 + 0x2000) | 3;
    pdpt[3] = (PML4 + 0x3000) | 3;
    for (uint64_t i = 0; i < 512; i++) {
        pd0[i] = (i << 21) | 0x83;
        pd3[i] = (0xc0000000ull + (i << 21)) | 0x9b;    /* PCD|PWT */
    }
    uint64_t gdt[3] = { 0, 0x00af9a000000ffffull, 0x00cf92000000ffffull };
    memcpy(mem + GDT, gdt, sizeof(gdt));
    uint64_t h = CODE + (uint64_t)(kiw_guest_handler - kiw_guest_start);
    uint64_t gate[2] = {
        (h & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
        ((h >> 16 & 0xffff) << 48),
        h >> 32 };
    memcpy(mem + IDT + VEC * 16, gate, sizeof(gate));

    struct kvm_sregs s;
    if (ioctl(r->vcpu, KVM_GET_SREGS, &s) < 0)
        return -errno;
    struct kvm_segment cs = { .limit = 0xffffffff, .selector = 8, .type = 0xb,
                              .present = 1, .l = 1, .s = 1, .g = 1 };
    struct kvm_segment ds = cs;
    ds.selector = 0x10;
    ds.type = 3;
    ds.l = 0;
    ds.db = 1;
    s.cs = cs;
    s.ds = s.es = s.ss = s.fs = s.gs = ds;
    s.gdt.base = GDT;
    s.gdt.limit = sizeof(gdt) - 1;
    s.idt.base = IDT;
    s.idt.limit = 256 * 16 - 1;
    s.cr3 = PML4;
    s.cr4 = 0x20;                         /* PAE */
    s.efer = 0x500;                       /* LME | LMA */
    s.cr0 = 0x80000011;                   /* PG | ET | PE */
    if (ioctl(r->vcpu, KVM_SET_SREGS, &s) < 0)
        return -errno;
    struct kvm_regs rg = {
        .rip = CODE + (if1 ? (uint64_t)(kiw_guest_if1 - kiw_guest_start) : 0),
        .rflags = 2, .rsp = 0x8000 };
    if (ioctl(r->vcpu, KVM_SET_REGS, &rg) < 0)
        return -errno;
    /* Software-enable the LAPIC (SVR bit 8), spurious vector 0xff. */
    struct kvm_lapic_state la;
    if (ioctl(r->vcpu, KVM_GET_LAPIC, &la) < 0)
        return -errno;
    *(uint32_t *)(la.regs + 0xf0) = 0x1ff;
    if (ioctl(r->vcpu, KVM_SET_LAPIC, &la) < 0)
        return -errno;
    return 0;
}

int vmm_probe_irq_window(int kfd, enum vmm_probe_mode mode, int rounds,
                         int *exits_out)
{
    bool if1 = mode == VMM_PROBE_IF1, win = mode == VMM_PROBE_IF0_WIN,
         step = mode == VMM_PROBE_IF0_STEP;
    struct vmm_raw_vm r;
    int rc = vmm_raw_vm_create(kfd, 1 << 20, &r);
    if (rc)
        return rc;
    rc = probe_setup(&r, if1);
    if (rc)
        goto out;
    int vm = r.vm, vfd = r.vcpu;
    struct kvm_run *run = r.run;
    int late = 0, done = 0, exits = 0;
    while (done < rounds) {
        if (ioctl(vfd, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                continue;
            FAIL("KVM_RUN");
        }
        exits++;
        if (run->exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN) {
            run->request_interrupt_window = 0;
            continue;
        }
        if (run->exit_reason == KVM_EXIT_DEBUG) {
            struct kvm_regs q;
            struct kvm_vcpu_events ev;
            if (ioctl(vfd, KVM_GET_REGS, &q) < 0 ||
                ioctl(vfd, KVM_GET_VCPU_EVENTS, &ev) < 0)
                FAIL("KVM_GET_REGS/EVENTS");
            if ((q.rflags & 0x200) && !ev.interrupt.shadow) {
                struct kvm_guest_debug off = { .control = 0 };
                ioctl(vfd, KVM_SET_GUEST_DEBUG, &off);
            }
            continue;
        }
        if (run->exit_reason != KVM_EXIT_IO) {
            errno = EPROTO;
            FAIL("unexpected exit");
        }
        if (run->io.port == 0x10) {
            struct kvm_msi msi = { .address_lo = 0xfee00000u, .data = VEC };
            if (ioctl(vm, KVM_SIGNAL_MSI, &msi) < 0)
                FAIL("KVM_SIGNAL_MSI");
            if (win)
                run->request_interrupt_window = 1;
            if (step) {
                struct kvm_guest_debug on = {
                    .control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP };
                if (ioctl(vfd, KVM_SET_GUEST_DEBUG, &on) < 0)
                    FAIL("KVM_SET_GUEST_DEBUG");
            }
        } else if (run->io.port == 0x11) {
            if (!*((uint8_t *)run + run->io.data_offset))
                late++;
            done++;
        }
    }
    rc = late;
    if (exits_out)
        *exits_out = exits;
out:
    vmm_raw_vm_destroy(&r);
    return rc;
}

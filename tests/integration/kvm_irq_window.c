/*
 * kvm_irq_window: does this host's KVM take an interrupt that became
 * pending while the guest had IF=0 as soon as the guest sets IF (STI)?
 *
 * Raw KVM only (no xenkvm code): a 64-bit guest with the in-kernel
 * irqchip loops over
 *     [cli]; out 0x10; [sti; nop]; read flag; out 0x11
 * At the exit on port 0x10 we signal a fixed MSI (KVM_SIGNAL_MSI, vector
 * 0x40) from the vCPU's own thread, as the VMM does for an upcall raised by
 * a hypercall. The handler sets the flag; port 0x11 reports whether it had
 * run by the instruction after STI's shadow (IF=0 mode) or right after the
 * OUT (IF=1 mode). On hardware KVM, and on Xen, it always has.
 *
 * Modes (argv[1]): if1      IF=1 around the exit (baseline)
 *                  if0      IF=0, STI after the exit
 *                  if0-win  IF=0, plus kvm_run.request_interrupt_window
 *                  if0-step IF=0, plus single-stepping until IF=1 with no
 *                           interrupt shadow (what the VMM does, vmm.c
 *                           irq_window)
 * Prints "MODE: rounds N late L exits E"; exit status 0 (a probe of the
 * host, not a test), 77 when /dev/kvm is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

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
#define ROUNDS 200

static int die(const char *what)
{
    fprintf(stderr, "kvm_irq_window: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "if0";
    int if1 = !strcmp(mode, "if1"), win = !strcmp(mode, "if0-win"),
        step = !strcmp(mode, "if0-step");
    if (!if1 && !win && !step && strcmp(mode, "if0")) {
        fprintf(stderr, "usage: kvm_irq_window if1|if0|if0-win|if0-step\n");
        return 2;
    }
    int kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kfd < 0) {
        puts("SKIP: /dev/kvm not available");
        return 77;
    }
    int vm = ioctl(kfd, KVM_CREATE_VM, 0);
    if (vm < 0)
        return die("KVM_CREATE_VM");
    ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul);
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
        return die("KVM_CREATE_IRQCHIP");
    size_t memsz = 1 << 20;
    uint8_t *mem = mmap(NULL, memsz, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return die("mmap");
    memcpy(mem + CODE, kiw_guest_start,
           (size_t)(kiw_guest_end - kiw_guest_start));
    struct kvm_userspace_memory_region r = {
        .slot = 0, .memory_size = memsz,
        .userspace_addr = (uint64_t)(uintptr_t)mem };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        return die("KVM_SET_USER_MEMORY_REGION");
    int vfd = ioctl(vm, KVM_CREATE_VCPU, 0);
    int msz = ioctl(kfd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vfd < 0 || msz <= 0)
        return die("KVM_CREATE_VCPU");
    struct kvm_run *run = mmap(NULL, (size_t)msz, PROT_READ | PROT_WRITE,
                               MAP_SHARED, vfd, 0);
    if (run == MAP_FAILED)
        return die("mmap kvm_run");
    static struct {
        struct kvm_cpuid2 c;
        struct kvm_cpuid_entry2 e[128];
    } cp = { .c.nent = 128 };
    if (ioctl(kfd, KVM_GET_SUPPORTED_CPUID, &cp) < 0 ||
        ioctl(vfd, KVM_SET_CPUID2, &cp) < 0)
        return die("CPUID");

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
    if (ioctl(vfd, KVM_GET_SREGS, &s) < 0)
        return die("KVM_GET_SREGS");
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
    if (ioctl(vfd, KVM_SET_SREGS, &s) < 0)
        return die("KVM_SET_SREGS");
    struct kvm_regs rg = {
        .rip = CODE + (if1 ? (uint64_t)(kiw_guest_if1 - kiw_guest_start) : 0),
        .rflags = 2, .rsp = 0x8000 };
    if (ioctl(vfd, KVM_SET_REGS, &rg) < 0)
        return die("KVM_SET_REGS");
    /* Software-enable the LAPIC (SVR bit 8), spurious vector 0xff. */
    struct kvm_lapic_state la;
    if (ioctl(vfd, KVM_GET_LAPIC, &la) < 0)
        return die("KVM_GET_LAPIC");
    *(uint32_t *)(la.regs + 0xf0) = 0x1ff;
    if (ioctl(vfd, KVM_SET_LAPIC, &la) < 0)
        return die("KVM_SET_LAPIC");

    int late = 0, done = 0, exits = 0;
    while (done < ROUNDS) {
        if (ioctl(vfd, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                continue;
            return die("KVM_RUN");
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
                return die("KVM_GET_REGS/EVENTS");
            if ((q.rflags & 0x200) && !ev.interrupt.shadow) {
                struct kvm_guest_debug off = { .control = 0 };
                ioctl(vfd, KVM_SET_GUEST_DEBUG, &off);
            }
            continue;
        }
        if (run->exit_reason != KVM_EXIT_IO) {
            fprintf(stderr, "kvm_irq_window: unexpected exit %u\n",
                    run->exit_reason);
            return 1;
        }
        if (run->io.port == 0x10) {
            struct kvm_msi msi = { .address_lo = 0xfee00000u, .data = VEC };
            if (ioctl(vm, KVM_SIGNAL_MSI, &msi) < 0)
                return die("KVM_SIGNAL_MSI");
            if (win)
                run->request_interrupt_window = 1;
            if (step) {
                struct kvm_guest_debug on = {
                    .control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP };
                if (ioctl(vfd, KVM_SET_GUEST_DEBUG, &on) < 0)
                    return die("KVM_SET_GUEST_DEBUG");
            }
        } else if (run->io.port == 0x11) {
            if (!*((uint8_t *)run + run->io.data_offset))
                late++;
            done++;
        }
    }
    printf("%s: rounds %d late %d exits %d\n", mode, ROUNDS, late, exits);
    return 0;
}

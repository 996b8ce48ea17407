/*
 * The entry's contract (entry.c), the smallest piece of the runtime: a
 * program linked with entry.c alone (bench/pingpong's raw-KVM guest) gets
 * long mode (entry32.c: i386 protected mode, PAE or not), the identity map, the GDT, the IDT stubs and the hypercall
 * page, and supplies guest_start, guest_trap and guest_upcall itself; the
 * runtime (runtime.c) supplies them for every program in guests/.
 */
#ifndef GUEST_ENTRY_H
#define GUEST_ENTRY_H

#include <stdint.h>

/* Vector used for event-channel upcalls (Linux uses the same number). */
#define GUEST_UPCALL_VECTOR 0xf3

/* What an interrupt stub saved, lowest address first. */
#ifdef __x86_64__
struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};
#else
/* i386 (entry32.c): pushal's registers (esp is the one before pushal), the
 * CPU's frame without esp/ss (no privilege change in the guest kernel). */
struct trap_frame {
    uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;
    uint32_t vector, error;
    uint32_t eip, cs, eflags;
};
#endif

/* Called once in 64-bit mode on the boot stack, IF=0, .bss zeroed, with
 * the physical address of struct hvm_start_info (%ebx at entry). */
void guest_start(uint32_t start_info_pa);

/* Called by the exception stubs (vectors 0-31) with the full frame and
 * IF=0; the stub returns with iretq. */
void guest_trap(struct trap_frame *f);

/* Called by GUEST_UPCALL_VECTOR's lean stub (GUEST_LEAN_STUB below) with
 * IF=0: no frame, no vector, only the caller-saved registers saved (the
 * way Linux enters Xen's upcall vector), so an event costs the fewest
 * guest instructions. It sends the EOI if its vector needs one. */
void guest_upcall(void);

/*
 * The text of a lean interrupt stub `name`, for __asm__() at file scope:
 * save the nine registers the C ABI lets fn clobber, clear DF as the ABI
 * wants, call fn(void), restore, iretq. For vectors without an error
 * code: the CPU aligned %rsp to 16 before pushing its 40-byte frame, so
 * nine pushes leave the call 16-byte aligned. An interrupt may nest on the
 * same stack (fn may enable interrupts).
 */
#ifdef __x86_64__
#define GUEST_LEAN_STUB(name, fn)                                       \
    ".pushsection .text, \"ax\", @progbits\n"                          \
    ".globl " #name "\n"                                                \
    #name ":\n"                                                         \
    "pushq %rax\n pushq %rcx\n pushq %rdx\n pushq %rsi\n pushq %rdi\n"     \
    "pushq %r8\n pushq %r9\n pushq %r10\n pushq %r11\n"                  \
    "cld\n"                                                            \
    "call " #fn "\n"                                                    \
    "popq %r11\n popq %r10\n popq %r9\n popq %r8\n"                      \
    "popq %rdi\n popq %rsi\n popq %rdx\n popq %rcx\n popq %rax\n"        \
    "iretq\n"                                                          \
    ".popsection\n"
#else
/* i386: the C ABI lets fn clobber eax, ecx and edx only. */
#define GUEST_LEAN_STUB(name, fn)                                       \
    ".pushsection .text, \"ax\", @progbits\n"                          \
    ".globl " #name "\n"                                                \
    #name ":\n"                                                         \
    "pushl %eax\n pushl %ecx\n pushl %edx\n"                            \
    "cld\n"                                                            \
    "call " #fn "\n"                                                    \
    "popl %edx\n popl %ecx\n popl %eax\n"                               \
    "iretl\n"                                                          \
    ".popsection\n"
#endif

/* Contract: fill the IDT (exceptions to guest_trap, GUEST_UPCALL_VECTOR's
 * lean stub to guest_upcall, a spurious vector 0xff that returns without
 * EOI) and load it on this vCPU. */
void guest_idt_init(void);
/* Load the same IDT on another vCPU. */
void guest_load_idt(void);
/* Point vector vec of the IDT (shared by every vCPU) at stub fn: a ring-0
 * interrupt gate of the width the guest runs in. */
void guest_idt_set_gate(unsigned int vec, const void *fn);

/* Load an empty IDT and trap: a triple fault, which the VMM reports as
 * this domain's crash (with rip and instruction bytes). */
void guest_triple_fault(void) __attribute__((noreturn));

/* Secondary vCPUs: a guest that starts another vCPU with VCPUOP_initialise
 * (VCPU_HVM_MODE_64B, rip = guest_ap_entry64, cr3/cr0/cr4/efer of vcpu 0,
 * its own rsp) gets it in guest_ap_main() with interrupts off and the GDT
 * loaded (the IDT is the caller's to load); guest_ap_main must only use
 * hypercalls and its own memory. */
extern char guest_ap_entry64[];
/* i386 (entry32.c): the same with VCPU_HVM_MODE_32B, eip = guest_ap_entry32,
 * the cr3/cr0/cr4 of vcpu 0 and its own esp. */
extern char guest_ap_entry32[];
void guest_ap_main(void);

#endif

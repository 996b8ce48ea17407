/*
 * PVH entry: the ELF note that names the 32-bit entry point, the switch
 * from 32-bit flat protected mode to 64-bit long mode, and the interrupt
 * stubs.
 *
 * PVH contract (Xen docs/misc/pvh.pandoc): %ebx = physical address of
 * struct hvm_start_info, CR0.PE=1 PG=0, flat 32-bit CS/DS/ES/SS, IF=0.
 * We build identity page tables for the low 4 GiB with 2 MiB pages (the
 * LAPIC at 0xfee00000 and Xen's special pages just below 4 GiB included),
 * enable PAE + EFER.LME + paging, and far-jump into a 64-bit code segment.
 *
 * Also the IDT and its stubs (the exceptions' common stub calls guest_trap,
 * the upcall vector's lean stub guest_upcall), and the secondary-vCPU
 * entry. The contract: include/guest/entry.h.
 */
#include <xen/elfnote.h>
#include <guest/arch.h>
#include <guest/entry.h>
#include <guest/lapic.h>

#include "entry_notes.h"

/* Page tables, boot stack: page aligned, zeroed by the entry code. */
uint64_t boot_pml4[512] __attribute__((aligned(4096), section(".bss.pt")));
uint64_t boot_pdpt[512] __attribute__((aligned(4096), section(".bss.pt")));
uint64_t boot_pd[4][512] __attribute__((aligned(4096), section(".bss.pt")));
unsigned char boot_stack[16384] __attribute__((aligned(16), section(".bss.stack")));
uint32_t boot_start_info_pa;

__asm__(
    GUEST_ENTRY_NOTES_ASM

    /* ---- GDT: null, 64-bit code (0x08), flat data (0x10) ---- */
    ".pushsection .rodata.boot, \"a\", @progbits\n"
    ".balign 16\n"
    "boot_gdt:\n"
    ".quad 0\n"
    ".quad 0x00af9a000000ffff\n"
    ".quad 0x00cf92000000ffff\n"
    "boot_gdt_end:\n"
    ".balign 8\n"
    "boot_gdt_desc:\n"
    ".word boot_gdt_end - boot_gdt - 1\n"
    ".long boot_gdt, 0\n"
    ".popsection\n"

    /* ---- 32-bit entry ---- */
    ".pushsection .text.boot, \"ax\", @progbits\n"
    ".code32\n"
    GUEST_ENTRY_START_ASM
    /* PML4[0] -> PDPT; PDPT[0..3] -> the four page directories. */
    "movl $boot_pdpt + 3, boot_pml4\n"
    "movl $boot_pd + 3, boot_pdpt\n"
    "movl $boot_pd + 0x1003, boot_pdpt + 8\n"
    "movl $boot_pd + 0x2003, boot_pdpt + 16\n"
    "movl $boot_pd + 0x3003, boot_pdpt + 24\n"
    GUEST_PAE_IDENTITY_ASM
    "movl $boot_pml4, %eax\n"
    "movl %eax, %cr3\n"
    "movl $0xc0000080, %ecx\n"          /* EFER */
    "rdmsr\n"
    "orl $0x100, %eax\n"                /* LME */
    "wrmsr\n"
    "lgdt boot_gdt_desc\n"
    "movl %cr0, %eax\n"
    "orl $0x80000001, %eax\n"           /* PG | PE */
    "movl %eax, %cr0\n"
    "ljmp $0x08, $start64\n"

    ".code64\n"
    "start64:\n"
    GUEST_DATA_SEGS_ASM
    "movq $boot_stack + 16384, %rsp\n"
    "xorl %ebp, %ebp\n"
    "movl boot_start_info_pa, %edi\n"
    "call guest_start\n"
    "6: cli\n"
    "hlt\n"
    "jmp 6b\n"
    ".popsection\n"

    /* ---- secondary vCPU entry (VCPUOP_initialise, 64-bit mode) ----
     * Started by the hypervisor in long mode with flat segment caches, our
     * CR3 and the RSP/RIP of the context: load our GDT and data segments,
     * then the guest's guest_ap_main(). */
    ".pushsection .text, \"ax\", @progbits\n"
    ".globl guest_ap_entry64\n"
    "guest_ap_entry64:\n"
    "cli\n"
    "lgdt boot_gdt_desc\n"
    "movl $0x10, %eax\n"
    "movl %eax, %ds\n"
    "movl %eax, %es\n"
    "movl %eax, %ss\n"
    "movl %eax, %fs\n"
    "movl %eax, %gs\n"
    "andq $-16, %rsp\n"
    "xorl %ebp, %ebp\n"
    "call guest_ap_main\n"
    "7: cli\n"
    "hlt\n"
    "jmp 7b\n"
    ".popsection\n"

    /* ---- interrupt stubs: push (error code), vector; common frame ---- */
    ".pushsection .text, \"ax\", @progbits\n"
    ".macro TRAP_NOERR vec\n"
    ".globl trap_stub_\\vec\n"
    "trap_stub_\\vec:\n"
    "pushq $0\n"
    "pushq $\\vec\n"
    "jmp trap_common\n"
    ".endm\n"
    ".macro TRAP_ERR vec\n"
    ".globl trap_stub_\\vec\n"
    "trap_stub_\\vec:\n"
    "pushq $\\vec\n"
    "jmp trap_common\n"
    ".endm\n"
    "TRAP_NOERR 0\n TRAP_NOERR 1\n TRAP_NOERR 2\n TRAP_NOERR 3\n"
    "TRAP_NOERR 4\n TRAP_NOERR 5\n TRAP_NOERR 6\n TRAP_NOERR 7\n"
    "TRAP_ERR 8\n TRAP_NOERR 9\n TRAP_ERR 10\n TRAP_ERR 11\n"
    "TRAP_ERR 12\n TRAP_ERR 13\n TRAP_ERR 14\n TRAP_NOERR 15\n"
    "TRAP_NOERR 16\n TRAP_ERR 17\n TRAP_NOERR 18\n TRAP_NOERR 19\n"
    "TRAP_NOERR 20\n TRAP_ERR 21\n TRAP_NOERR 22\n TRAP_NOERR 23\n"
    "TRAP_NOERR 24\n TRAP_NOERR 25\n TRAP_NOERR 26\n TRAP_NOERR 27\n"
    "TRAP_NOERR 28\n TRAP_ERR 29\n TRAP_ERR 30\n TRAP_NOERR 31\n"
    ".globl trap_stub_spurious\n"
    "trap_stub_spurious:\n"             /* 0xff: spurious, no EOI */
    "iretq\n"
    "trap_common:\n"
    "pushq %rax\n pushq %rbx\n pushq %rcx\n pushq %rdx\n"
    "pushq %rsi\n pushq %rdi\n pushq %rbp\n pushq %r8\n"
    "pushq %r9\n pushq %r10\n pushq %r11\n pushq %r12\n"
    "pushq %r13\n pushq %r14\n pushq %r15\n"
    "movq %rsp, %rdi\n"
    "movq %rsp, %rbx\n"
    "andq $-16, %rsp\n"
    "call guest_trap\n"
    "movq %rbx, %rsp\n"
    "popq %r15\n popq %r14\n popq %r13\n popq %r12\n"
    "popq %r11\n popq %r10\n popq %r9\n popq %r8\n"
    "popq %rbp\n popq %rdi\n popq %rsi\n popq %rdx\n"
    "popq %rcx\n popq %rbx\n popq %rax\n"
    "addq $16, %rsp\n"
    "iretq\n"
    ".popsection\n");

/* 0xf3, the event-channel upcall: every event comes this way, and guest
 * code may run at about 1 us per instruction (nested KVM), so no common
 * frame and no dispatch on the vector: the lean stub calls guest_upcall. */
__asm__(GUEST_LEAN_STUB(guest_upcall_stub, guest_upcall));

/* ---- IDT ---- */

struct idt_entry {
    uint16_t off0;
    uint16_t sel;
    uint8_t ist;
    uint8_t type;
    uint16_t off1;
    uint32_t off2;
    uint32_t rsvd;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));

void guest_idt_set_gate(unsigned int vec, const void *fn)
{
    uint64_t a = (uint64_t)(uintptr_t)fn;

    idt[vec] = (struct idt_entry){
        .off0 = (uint16_t)a, .sel = 0x08, .ist = 0, .type = 0x8e,
        .off1 = (uint16_t)(a >> 16), .off2 = (uint32_t)(a >> 32),
    };
}

void guest_load_idt(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) desc = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

    __asm__ __volatile__("lidt %0" :: "m"(desc) : "memory");
}


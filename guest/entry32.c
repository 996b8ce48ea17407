/*
 * i386 PVH entry: the guest stays in 32-bit protected mode. The PVH
 * contract (Xen docs/misc/pvh.pandoc): %ebx = physical address of struct
 * hvm_start_info, CR0.PE=1 PG=0, flat 32-bit CS/DS/ES/SS, IF=0. We load
 * our own flat GDT and turn paging on with an identity map of the whole
 * 4 GiB, as the 64-bit entry (entry.c) maps it:
 *   GUEST_PAE=0: 2-level paging, one page directory of 1024 4 MiB pages
 *                (CR4.PSE);
 *   GUEST_PAE=1: PAE paging, a 4-entry PDPT and four page directories of
 *                512 2 MiB pages.
 * The LAPIC's page is uncached. Also the IDT (8-byte gates) and its stubs
 * (exceptions to guest_trap with the frame of include/guest/entry.h, the
 * upcall vector's lean stub to guest_upcall) and the secondary-vCPU entry
 * guest_ap_entry32. The contract: include/guest/entry.h.
 */
#include <guest/arch.h>
#include <guest/entry.h>
#include <guest/lapic.h>

#include "entry_notes.h"

#ifndef GUEST_PAE
#error "GUEST_PAE must be 0 or 1 (guest/meson.build)"
#endif

#if GUEST_PAE
uint64_t boot_pdpt32[4] __attribute__((aligned(32), section(".bss.pt")));
uint64_t boot_pd[4][512] __attribute__((aligned(4096), section(".bss.pt")));
#else
uint32_t boot_pd[1024] __attribute__((aligned(4096), section(".bss.pt")));
#endif
unsigned char boot_stack[16384] __attribute__((aligned(16), section(".bss.stack")));
uint32_t boot_start_info_pa;

__asm__(
    GUEST_ENTRY_NOTES_ASM

    /* ---- GDT: null, flat 32-bit code (0x08), flat data (0x10) ---- */
    ".pushsection .rodata.boot, \"a\", @progbits\n"
    ".balign 16\n"
    "boot_gdt:\n"
    ".quad 0\n"
    ".quad 0x00cf9a000000ffff\n"
    ".quad 0x00cf92000000ffff\n"
    "boot_gdt_end:\n"
    ".balign 8\n"
    "boot_gdt_desc:\n"
    ".word boot_gdt_end - boot_gdt - 1\n"
    ".long boot_gdt\n"
    ".popsection\n"

    /* ---- 32-bit entry ---- */
    ".pushsection .text.boot, \"ax\", @progbits\n"
    GUEST_ENTRY_START_ASM
#if GUEST_PAE
    /* PDPT[0..3] -> the four page directories (PDPTEs: present only). */
    "movl $boot_pd + 1, boot_pdpt32\n"
    "movl $boot_pd + 0x1001, boot_pdpt32 + 8\n"
    "movl $boot_pd + 0x2001, boot_pdpt32 + 16\n"
    "movl $boot_pd + 0x3001, boot_pdpt32 + 24\n"
    GUEST_PAE_IDENTITY_ASM
    "movl $boot_pdpt32, %eax\n"
#else
    /* 1024 x 4 MiB identity entries: present, writable, PS. */
    "movl $boot_pd, %edi\n"
    "movl $0x83, %eax\n"
    "movl $1024, %ecx\n"
    "1: movl %eax, (%edi)\n"
    "addl $0x400000, %eax\n"
    "addl $4, %edi\n"
    "decl %ecx\n"
    "jnz 1b\n"
    /* The LAPIC's 4 MiB page uncached (PCD|PWT). */
    "orl $0x18, boot_pd + (0xfee00000 >> 22) * 4\n"
    "movl %cr4, %eax\n"
    "orl $0x10, %eax\n"                 /* PSE */
    "movl %eax, %cr4\n"
    "movl $boot_pd, %eax\n"
#endif
    "movl %eax, %cr3\n"
    "lgdt boot_gdt_desc\n"
    "movl %cr0, %eax\n"
    "orl $0x80000001, %eax\n"           /* PG | PE */
    "movl %eax, %cr0\n"
    "ljmp $0x08, $start32\n"
    "start32:\n"
    GUEST_DATA_SEGS_ASM
    "movl $boot_stack + 16384 - 12, %esp\n"  /* 16-byte aligned at the call */
    "xorl %ebp, %ebp\n"
    "pushl boot_start_info_pa\n"
    "call guest_start\n"
    "6: cli\n"
    "hlt\n"
    "jmp 6b\n"
    ".popsection\n"

    /* ---- secondary vCPU entry (VCPUOP_initialise, VCPU_HVM_MODE_32B) ----
     * Started by the hypervisor in protected mode with flat segment
     * caches, our CR3/CR0/CR4 and the ESP/EIP of the context: load our GDT
     * and segments, then the guest's guest_ap_main(). */
    ".pushsection .text, \"ax\", @progbits\n"
    ".globl guest_ap_entry32\n"
    "guest_ap_entry32:\n"
    "cli\n"
    "lgdt boot_gdt_desc\n"
    "ljmp $0x08, $7f\n"
    "7: movl $0x10, %eax\n"
    "movl %eax, %ds\n"
    "movl %eax, %es\n"
    "movl %eax, %ss\n"
    "movl %eax, %fs\n"
    "movl %eax, %gs\n"
    "andl $-16, %esp\n"
    "xorl %ebp, %ebp\n"
    "call guest_ap_main\n"
    "8: cli\n"
    "hlt\n"
    "jmp 8b\n"
    ".popsection\n"

    /* ---- interrupt stubs: push (error code), vector; common frame ---- */
    ".pushsection .text, \"ax\", @progbits\n"
    ".macro TRAP_NOERR vec\n"
    ".globl trap_stub_\\vec\n"
    "trap_stub_\\vec:\n"
    "pushl $0\n"
    "pushl $\\vec\n"
    "jmp trap_common\n"
    ".endm\n"
    ".macro TRAP_ERR vec\n"
    ".globl trap_stub_\\vec\n"
    "trap_stub_\\vec:\n"
    "pushl $\\vec\n"
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
    "iretl\n"
    "trap_common:\n"
    "pushal\n"
    "cld\n"
    "movl %esp, %ebx\n"
    "pushl %esp\n"                      /* struct trap_frame * */
    "call guest_trap\n"
    "movl %ebx, %esp\n"
    "popal\n"
    "addl $8, %esp\n"
    "iretl\n"
    ".popsection\n");

/* 0xf3, the event-channel upcall: the lean stub calls guest_upcall. */
__asm__(GUEST_LEAN_STUB(guest_upcall_stub, guest_upcall));

/* ---- IDT ---- */

struct idt_entry {
    uint16_t off0;
    uint16_t sel;
    uint8_t zero;
    uint8_t type;
    uint16_t off1;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));

void guest_idt_set_gate(unsigned int vec, const void *fn)
{
    uint32_t a = (uint32_t)(uintptr_t)fn;

    idt[vec] = (struct idt_entry){
        .off0 = (uint16_t)a, .sel = 0x08, .type = 0x8e,
        .off1 = (uint16_t)(a >> 16),
    };
}

void guest_load_idt(void)
{
    struct {
        uint16_t limit;
        uint32_t base;
    } __attribute__((packed)) desc = { sizeof(idt) - 1, (uint32_t)(uintptr_t)idt };

    __asm__ __volatile__("lidt %0" :: "m"(desc) : "memory");
}


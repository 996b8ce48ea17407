/*
 * What both entries (entry.c for x86_64, entry32.c for i386) have alike:
 * the Xen ELF notes the PVH loader reads (the 32-bit entry point
 * pvh_start32 among them), the hypercall page, filled by the hypervisor on
 * the MSR write (its stubs work in either width), and the 32-bit steps
 * of the entry both take. For __asm__() at file scope.
 */
#ifndef GUEST_ENTRY_NOTES_H
#define GUEST_ENTRY_NOTES_H

#include <xen/elfnote.h>

#define STR_(x) #x
#define STR(x) STR_(x)

#define GUEST_ENTRY_NOTES_ASM \
    /* ---- ELF notes read by the PVH loader ---- */ \
    ".pushsection .note.Xen, \"a\", @note\n" \
    ".balign 4\n" \
    ".long 4, 4, " STR(XEN_ELFNOTE_PHYS32_ENTRY) "\n" \
    ".asciz \"Xen\"\n" \
    ".balign 4\n" \
    ".long pvh_start32\n" \
    ".balign 4\n" \
    ".long 4, 3f - 2f, " STR(XEN_ELFNOTE_GUEST_OS) "\n" \
    ".asciz \"Xen\"\n" \
    ".balign 4\n" \
    "2: .asciz \"xenkvm-guest\"\n" \
    "3: .balign 4\n" \
    ".long 4, 5f - 4f, " STR(XEN_ELFNOTE_XEN_VERSION) "\n" \
    ".asciz \"Xen\"\n" \
    ".balign 4\n" \
    "4: .asciz \"xen-3.0\"\n" \
    "5: .balign 4\n" \
    ".popsection\n" \
    /* ---- the hypercall page: filled by the hypervisor on the MSR write ---- */ \
    ".pushsection .text.hypercall, \"ax\", @progbits\n" \
    ".balign 4096\n" \
    ".globl hypercall_page\n" \
    "hypercall_page:\n" \
    ".skip 4096, 0xcc\n"       /* int3 until installed */ \
    ".popsection\n"

/* pvh_start32, the PVH entry's first steps in both widths: interrupts
 * off, %ebx (hvm_start_info's address) kept in boot_start_info_pa after
 * .bss is zeroed (the page tables and the stack live there). */
#define GUEST_ENTRY_START_ASM \
    ".globl pvh_start32\n" \
    "pvh_start32:\n" \
    "cli\n" \
    "cld\n" \
    "movl %ebx, %esi\n" \
    /* Zero .bss with one rep stosl (page tables and stack live there). */ \
    "movl $__bss_start, %edi\n" \
    "movl $__bss_end, %ecx\n" \
    "subl %edi, %ecx\n" \
    "shrl $2, %ecx\n" \
    "xorl %eax, %eax\n" \
    "rep stosl\n" \
    "movl %esi, boot_start_info_pa\n"

/* The four page directories of boot_pd as 2048 2 MiB identity entries
 * (the low 4 GiB, the LAPIC's page uncached) and CR4.PAE: long mode's
 * tables below its PDPT, and i386 PAE's. */
#define GUEST_PAE_IDENTITY_ASM \
    /* 2048 x 2 MiB identity entries: present, writable, PS. */ \
    "movl $boot_pd, %edi\n" \
    "movl $0x83, %eax\n" \
    "movl $2048, %ecx\n" \
    "1: movl %eax, (%edi)\n" \
    "addl $0x200000, %eax\n" \
    "addl $8, %edi\n" \
    "decl %ecx\n" \
    "jnz 1b\n" \
    /* The LAPIC's 2 MiB page uncached (PCD|PWT). */ \
    "orl $0x18, boot_pd + (0xfee00000 >> 21) * 8\n" \
    "movl %cr4, %eax\n" \
    "orl $0x20, %eax\n"                 /* PAE */ \
    "movl %eax, %cr4\n"

/* The flat data segment (GDT selector 0x10) in every data register. */
#define GUEST_DATA_SEGS_ASM \
    "movl $0x10, %eax\n" \
    "movl %eax, %ds\n" \
    "movl %eax, %es\n" \
    "movl %eax, %ss\n" \
    "movl %eax, %fs\n" \
    "movl %eax, %gs\n"

#endif

/*
 * What both entries (entry.c for x86_64, entry32.c for i386) put in the
 * image alike: the Xen ELF notes the PVH loader reads (the 32-bit entry
 * point pvh_start32 among them) and the hypercall page, filled by the
 * hypervisor on the MSR write (its stubs work in either width). For
 * __asm__() at file scope.
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

#endif

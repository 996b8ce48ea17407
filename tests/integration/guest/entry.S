/*
 * PVH entry of the VMM's own test guest: 32-bit flat protected mode with
 * %ebx = struct hvm_start_info. Switches to long mode over identity-mapped
 * 2 MiB pages (first 1 GiB) and calls tg_main(start_info).
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

    .section .note.Xen, "a"
    .p2align 2
    .long 4, 4, XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .long tg_pvh_start

    .section .text.entry, "ax"
    .code32
    .globl tg_pvh_start
tg_pvh_start:
    cli
    mov %ebx, %esi                  /* keep start_info */
    /* page directory: 512 x 2 MiB, present|write|PS */
    mov $tg_pd, %edi
    xor %eax, %eax
    mov $0x83, %edx
1:  mov %edx, (%edi,%eax,8)
    movl $0, 4(%edi,%eax,8)
    add $0x200000, %edx
    inc %eax
    cmp $512, %eax
    jne 1b
    /* and 3-4 GiB (the special pages near 0xfeff0000) in tg_pd3 */
    mov $tg_pd3, %edi
    xor %eax, %eax
    mov $0xc0000083, %edx
1:  mov %edx, (%edi,%eax,8)
    movl $0, 4(%edi,%eax,8)
    add $0x200000, %edx
    inc %eax
    cmp $512, %eax
    jne 1b
    mov $tg_pd, %eax
    or $3, %eax
    mov %eax, tg_pdpt
    mov $tg_pd3, %eax
    or $3, %eax
    mov %eax, tg_pdpt + 24
    mov $tg_pdpt, %eax
    or $3, %eax
    mov %eax, tg_pml4
    mov $tg_pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax                  /* PAE */
    mov %eax, %cr4
    mov $0xc0000080, %ecx           /* EFER.LME */
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax            /* PG | PE */
    mov %eax, %cr0
    lgdt tg_gdt_desc
    ljmp $0x08, $tg_long

    .code64
tg_long:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    lea tg_stack_top(%rip), %rsp
    mov %esi, %edi                  /* zero-extends: start_info */
    call tg_main
2:  hlt
    jmp 2b

    /* Interrupt stub: save the caller-saved registers, call tg_isr(). The
     * CPU aligned %rsp to 16 before pushing its 40-byte frame; 9 pushes
     * more keep the call site 16-byte aligned. */
    .globl tg_isr_stub
tg_isr_stub:
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    call tg_isr
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    iretq

    .section .rodata
    .p2align 3
tg_gdt:
    .quad 0
    .quad 0x00af9a000000ffff        /* 64-bit code */
    .quad 0x00cf92000000ffff        /* data */
tg_gdt_desc:
    .word tg_gdt_desc - tg_gdt - 1
    .long tg_gdt

    .section .bss
    .p2align 12
tg_pml4: .skip 4096
    .globl tg_pdpt
tg_pdpt: .skip 4096
tg_pd:   .skip 4096
tg_pd3:  .skip 4096
    .p2align 4
    .skip 16384
tg_stack_top:

    .section .note.GNU-stack, "", @progbits

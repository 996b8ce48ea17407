/*
 * The IDT's contents and the entry's width-neutral helpers, for both
 * widths (entry.c: x86_64, entry32.c: i386): the exception stubs, the
 * upcall's lean stub and the spurious vector go into the IDT through each
 * entry's guest_idt_set_gate (whose gate format is its width's); contracts
 * in include/guest/entry.h.
 */
#include <stdint.h>

#include <guest/entry.h>
#include <guest/lapic.h>

/* The stubs, defined in each entry file's assembly. */
#define TRAP_STUB(n) extern char trap_stub_##n[];
TRAP_STUB(0) TRAP_STUB(1) TRAP_STUB(2) TRAP_STUB(3) TRAP_STUB(4) TRAP_STUB(5)
TRAP_STUB(6) TRAP_STUB(7) TRAP_STUB(8) TRAP_STUB(9) TRAP_STUB(10) TRAP_STUB(11)
TRAP_STUB(12) TRAP_STUB(13) TRAP_STUB(14) TRAP_STUB(15) TRAP_STUB(16) TRAP_STUB(17)
TRAP_STUB(18) TRAP_STUB(19) TRAP_STUB(20) TRAP_STUB(21) TRAP_STUB(22) TRAP_STUB(23)
TRAP_STUB(24) TRAP_STUB(25) TRAP_STUB(26) TRAP_STUB(27) TRAP_STUB(28) TRAP_STUB(29)
TRAP_STUB(30) TRAP_STUB(31)
extern char trap_stub_spurious[];
extern char guest_upcall_stub[];

static char *const exception_stubs[32] = {
    trap_stub_0, trap_stub_1, trap_stub_2, trap_stub_3, trap_stub_4, trap_stub_5,
    trap_stub_6, trap_stub_7, trap_stub_8, trap_stub_9, trap_stub_10, trap_stub_11,
    trap_stub_12, trap_stub_13, trap_stub_14, trap_stub_15, trap_stub_16, trap_stub_17,
    trap_stub_18, trap_stub_19, trap_stub_20, trap_stub_21, trap_stub_22, trap_stub_23,
    trap_stub_24, trap_stub_25, trap_stub_26, trap_stub_27, trap_stub_28, trap_stub_29,
    trap_stub_30, trap_stub_31,
};

void guest_idt_init(void)
{
    for (unsigned int i = 0; i < 32; i++)
        guest_idt_set_gate(i, exception_stubs[i]);
    guest_idt_set_gate(GUEST_UPCALL_VECTOR, guest_upcall_stub);
    guest_idt_set_gate(LAPIC_SPURIOUS_VECTOR, trap_stub_spurious);
    guest_load_idt();
}

/* Guests without secondary vCPUs need not define it. */
__attribute__((weak)) void guest_ap_main(void)
{
}

void guest_triple_fault(void)
{
    /* an empty IDT (limit 0, in either width's descriptor), then a trap */
    struct {
        uint16_t limit;
        uintptr_t base;
    } __attribute__((packed)) none = { 0, 0 };

    __asm__ __volatile__("lidt %0; int3" :: "m"(none));
    for (;;)
        __asm__ __volatile__("cli; hlt");
}

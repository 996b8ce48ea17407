/*
 * Virtual IOAPIC pins for the guest runtime (include/guest/ioapic.h). The
 * runtime's IDT is private to entry.c, so the gate is written through
 * the IDTR (sidt): the table is ours, identity-mapped and writable.
 */
#include <guest/guest.h>
#include <guest/ioapic.h>
#include <xen/errno.h>

#define IOAPIC_BASE   0xfec00000ul
#define IOAPIC_PINS   24
#define RTE_MASKED    (1u << 16)
#define RTE_LEVEL     (1u << 15)

static void (*vec_handler)(void);
static uint8_t vec_number;

static void ioapic_write(unsigned int reg, uint32_t v)
{
    *(volatile uint32_t *)IOAPIC_BASE = reg;
    *(volatile uint32_t *)(IOAPIC_BASE + 0x10) = v;
}

void ioapic_isr(void);
void ioapic_isr(void)
{
    if (vec_handler)
        vec_handler();
    lapic_eoi();
}

/* Caller-saved registers around the C part (guest/entry.h). */
__asm__(GUEST_LEAN_STUB(ioapic_stub, ioapic_isr));
extern char ioapic_stub[];

int ioapic_route(unsigned int pin, uint8_t vector, bool level,
                 void (*handler)(void))
{
    if (pin >= IOAPIC_PINS || vector < 0x30 || vector >= 0xf0 || !handler ||
        (vec_handler && vector != vec_number))
        return -XEN_EINVAL;
    unsigned long f = cpu_irq_save();
    vec_handler = handler;
    vec_number = vector;
    guest_idt_set_gate(vector, ioapic_stub);
    ioapic_write(0x11 + 2 * pin, 0);                 /* destination LAPIC 0 */
    ioapic_write(0x10 + 2 * pin, vector | (level ? RTE_LEVEL : 0));
    cpu_irq_restore(f);
    return 0;
}

void ioapic_mask(unsigned int pin)
{
    if (pin < IOAPIC_PINS)
        ioapic_write(0x10 + 2 * pin, RTE_MASKED);
}

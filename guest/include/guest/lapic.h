/*
 * The local APIC's registers (xAPIC MMIO at its reset base, identity
 * mapped uncached by entry.c). Header-only: the raw-KVM bench guest uses
 * it without the rest of the runtime.
 */
#ifndef GUEST_LAPIC_H
#define GUEST_LAPIC_H

#include <stdint.h>

#define LAPIC_BASE 0xfee00000UL
#define LAPIC_EOI  0xb0
#define LAPIC_SVR  0xf0
#define LAPIC_ISR0 0x100          /* ISR bits 0-31; bits 32n.. at + n*0x10 */
#define LAPIC_SPURIOUS_VECTOR 0xff

static inline uint32_t lapic_read(unsigned int reg)
{
    return *(volatile uint32_t *)(LAPIC_BASE + reg);
}

static inline void lapic_write(unsigned int reg, uint32_t v)
{
    *(volatile uint32_t *)(LAPIC_BASE + reg) = v;
}

/* Software-enable the LAPIC (it drops fixed interrupts while disabled),
 * spurious vector 0xff. */
static inline void lapic_enable(void)
{
    lapic_write(LAPIC_SVR, 0x100 | LAPIC_SPURIOUS_VECTOR);
}

static inline void lapic_eoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}

/* Is vector in service (its ISR bit set, no EOI yet)? */
static inline int lapic_in_service(unsigned int vector)
{
    return (lapic_read(LAPIC_ISR0 + (vector / 32) * 0x10) >> (vector % 32)) & 1;
}

#endif

/*
 * The virtual IOAPIC at 0xFEC00000 (KVM's in-kernel one): route a pin to a
 * vector with a handler of ours, for devices that arrive as GSIs (the
 * irqfd pin path of xenkvm's host interrupts) rather than as PIRQ event
 * channels. One vCPU (LAPIC id 0). Use pins 16..23: 0..15 are also wired
 * to the legacy PIC.
 */
#ifndef GUEST_IOAPIC_H
#define GUEST_IOAPIC_H

#include <guest/arch.h>

/* Install handler for vector (0x30..0xef, not the upcall's) and program
 * pin: fixed delivery to LAPIC 0, active high, level or edge, unmasked.
 * The handler runs with interrupts off; the LAPIC EOI is ours (for a level
 * pin it reaches the IOAPIC, and through KVM's resamplefd the host line).
 * 0 or -EINVAL. */
int ioapic_route(unsigned int pin, uint8_t vector, bool level,
                 void (*handler)(void));
/* Mask pin. */
void ioapic_mask(unsigned int pin);

#endif

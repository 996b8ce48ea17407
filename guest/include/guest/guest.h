/*
 * The guest runtime's entry contract and services for test guests.
 *
 * A guest program links against libguest and defines guest_main(). The
 * runtime has then: entered long mode, installed the hypercall page, mapped
 * shared_info, set up the console, the IDT, the LAPIC, the event-channel
 * ABI (2-level or FIFO), the upcall vector, the IRQ layer and (when the
 * domain has one) the XenStore connection.
 *
 * Command-line options the runtime itself understands (from start_info):
 *   evtchn=fifo|2l        event-channel ABI (default 2l)
 *   upcall=percpu|legacy  HVMOP_set_evtchn_upcall_vector or
 *                         HVM_PARAM_CALLBACK_IRQ vector type (default:
 *                         percpu when CPUID advertises it)
 *   console=ring|io       PV console ring or HYPERVISOR_console_io
 *                         (default ring when HVM_PARAM_CONSOLE_PFN is set)
 *   vcpuinfo=register     move vcpu_info out of shared_info with
 *                         VCPUOP_register_vcpu_info
 */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include <guest/arch.h>
#include <guest/entry.h>
#include <guest/lapic.h>
#include <guest/lib.h>
#include <xen/arch-x86/hvm/start_info.h>

/* Provided by each guest program. Its return value is the exit code. */
int guest_main(const char *cmdline);

/* Shut the domain down: code 0 -> SHUTDOWN_poweroff, else SHUTDOWN_crash
 * (after printing the code). Flushes the console first. Never returns. */
void guest_exit(int code) __attribute__((noreturn));

/* SCHEDOP_shutdown with a SHUTDOWN_* reason, console flushed. */
void guest_shutdown_reason(unsigned int reason) __attribute__((noreturn));

/* The command line ("" if none). */
const char *guest_cmdline(void);

/* Value of key=value on the command line copied into buf; returns 1 if the
 * key is present (a bare "key" gives ""), 0 if not. */
int guest_cmdline_get(const char *key, char *buf, size_t len);
long guest_cmdline_int(const char *key, long dflt);

/* Our domain id (CPUID leaf 4 or XenStore "domid"), -1 if unknown. */
int guest_domid(void);

/* Guest-physical end of the RAM described by start_info's memory map. */
uint64_t guest_ram_end(void);

const struct hvm_start_info *guest_start_info(void);

/* Sleep (sti;hlt) until cond(arg) is true. Must be called with interrupts
 * enabled, outside interrupt context; cond is evaluated with IF=0. A
 * shutdown requested through XenStore control/shutdown is carried out
 * here. */
void guest_wait_until(bool (*cond)(void *), void *arg);

/* Virtual == physical: the runtime identity-maps the low 4 GiB. */
static inline uint64_t virt_to_gfn(const void *p)
{
    return (uint64_t)(uintptr_t)p >> PAGE_SHIFT;
}

/* Secondary vCPUs (guest/entry.h's guest_ap_entry64, guests/smp): the
 * runtime itself is single-vCPU (IRQ layer, console and XenStore belong
 * to vcpu 0). */

/* Console (console.c). */
void console_init(void);
void console_write(const char *s, size_t len);
void console_flush(void);
/* Does output go to the PV console ring (else HYPERVISOR_console_io)? */
bool console_uses_ring(void);

/* Was the upcall registered as a per-vCPU LAPIC vector (1), or as the
 * legacy HVM_PARAM_CALLBACK_IRQ vector (0)? */
int guest_upcall_percpu(void);

/* Send the running upcall's EOI now if it is still owed (per-vCPU vector
 * only). The upcall owes it until it returns, so that a handler that
 * answers an event (the direct path, raw_guest.c alike) does so before
 * the EOI's exit; whatever enables interrupts inside an upcall calls this
 * first, as a nested upcall needs the vector out of the LAPIC's ISR. */
void guest_upcall_eoi(void);

/* Early failure before the console works: port 0xe9 then triple fault. */
void guest_early_panic(const char *msg) __attribute__((noreturn));

#endif

/*
 * Event channels, guest side: shared_info mapping, the two ABIs (2-level
 * bitmaps in shared_info, FIFO queues in guest pages), per-port mask /
 * unmask / pending operations, the direct per-port fast path and the
 * upcall.
 */
#ifndef GUEST_EVTCHN_H
#define GUEST_EVTCHN_H

#include <guest/arch.h>
#include <xen/xen.h>
#include <xen/event_channel.h>

/* Ports the runtime can handle (2-level: 64 x 64 on x86-64; FIFO: limited
 * to the event-array pages we keep, 4 x 1024). */
#define GUEST_NR_EVTCHNS 4096

enum evtchn_abi { EVTCHN_ABI_2L, EVTCHN_ABI_FIFO };

extern shared_info_t *HYPERVISOR_shared_info;

/* Contract: map shared_info at a free page of ours with
 * XENMEM_add_to_physmap(XENMAPSPACE_shared_info). 0 or -Xen errno. */
int evtchn_map_shared_info(void);

/* Contract: set up the requested ABI and mask every port. FIFO falls back to
 * 2-level (with a message) if EVTCHNOP_init_control fails. Returns the ABI
 * in use. */
enum evtchn_abi evtchn_init(enum evtchn_abi want);
enum evtchn_abi evtchn_abi(void);

/* Contract: move vcpu 0's vcpu_info out of shared_info into a page of ours
 * (VCPUOP_register_vcpu_info, at a non-zero offset). 0 or -Xen errno; on
 * failure the shared_info copy stays in use. */
int evtchn_register_vcpu_info(void);
/* The vcpu_info in use for vcpu 0. */
volatile vcpu_info_t *evtchn_vcpu_info(void);

/* Make sure the ABI can deliver `port` (FIFO: expand the event array).
 * 0 or -Xen errno. */
int evtchn_setup_port(evtchn_port_t port);

void mask_evtchn(evtchn_port_t port);
/* Unmask; an event pending while masked is delivered (via EVTCHNOP_unmask
 * when the hypervisor must re-raise it). */
void unmask_evtchn(evtchn_port_t port);
void clear_evtchn(evtchn_port_t port);
bool evtchn_is_pending(evtchn_port_t port);
bool evtchn_is_masked(evtchn_port_t port);
/* Mark pending locally (used to replay an event: mask, set, unmask). */
void set_evtchn(evtchn_port_t port);

/* EVTCHNOP_send. */
int notify_remote_via_evtchn(evtchn_port_t port);

/*
 * The fast path: a port bound here bypasses seed 003's IRQ layer (no IRQ,
 * no irqaction, no edge flow, no replay). The upcall's scan looks the port
 * up in this table first, clears its pending bit and calls fn(port) with
 * interrupts off; fn must not enable them. For benchmarks and programs
 * that want the raw event (guests/vmmtest's timed ping/pong).
 */
typedef void (*evtchn_direct_fn)(evtchn_port_t port);
/* Contract: set up the port (FIFO: expand the array), record fn and unmask
 * (an event pending meanwhile is delivered). 0; -EINVAL for port 0, a port
 * out of range or a NULL fn; -EBUSY if the port already has a direct
 * handler or an IRQ; -Xen errno of the FIFO expansion. */
int evtchn_bind_direct(evtchn_port_t port, evtchn_direct_fn fn);
/* Contract: mask the port and forget its handler (the port stays open;
 * later events stay pending). No-op for a port without one. */
void evtchn_unbind_direct(evtchn_port_t port);
/* Has the port a direct handler? (the IRQ layer refuses such ports) */
bool evtchn_is_direct(evtchn_port_t port);

/*
 * The upcall (seeds 000/003): scan the pending ports (2-level bitmap or
 * FIFO queues) and hand each to its direct handler (above), else to the
 * IRQ layer (do_IRQ), else to evtchn_device_upcall. Called with interrupts
 * disabled; may nest when an IRQ handler re-enables interrupts.
 */
void evtchn_do_upcall(void);

/* Statistics for tests. */
struct evtchn_stats {
    unsigned long upcalls;        /* evtchn_do_upcall invocations */
    unsigned long nested;         /* ... that ran inside another one */
    unsigned long unbound;        /* events on ports without an IRQ */
};
extern struct evtchn_stats evtchn_stats;

#endif

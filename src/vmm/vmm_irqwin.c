/* Getting an event upcall into the guest as soon as it can take it: the
 * raise (any thread) and the interrupt window (the vCPU's own thread,
 * between two KVM_RUNs).
 *
 * Two kinds of upcall vector, delivered two ways (hv_upcall_vector):
 *  - the per-vCPU vector (HVMOP_set_evtchn_upcall_vector) is a LAPIC
 *    interrupt: a fixed MSI, taken and EOI'd like any other; KVM's LAPIC
 *    queues it and injects it when the guest can take it;
 *  - the legacy HVM_PARAM_CALLBACK_IRQ vector never goes through the LAPIC:
 *    Xen injects it whenever the vCPU's evtchn_upcall_pending is set and
 *    the guest can take an interrupt (hvm_vcpu_has_pending_irq), and
 *    guests do not EOI it (Linux sends none). Sent as an MSI it would stay
 *    in the LAPIC's ISR, blocking the next one of its priority class until
 *    some other interrupt's EOI cleared it: upcalls were late and lost on
 *    a KVM whose LAPIC is exact (kvm_amd), while another (this project's
 *    nested kvm_pvm hosts) let them through. KVM without its in-kernel Xen
 *    support has no way to inject outside the LAPIC but the "interrupt
 *    already being injected" state of KVM_SET_VCPU_EVENTS, which it puts
 *    into the next entry as is; so the vCPU's own thread injects it there,
 *    when IF=1 and no STI/MOV SS shadow, and another thread that raises it
 *    only brings the vCPU out of KVM_RUN.
 *
 * The window. An upcall raised while the guest has IF=0 (EVTCHNOP_unmask
 * or a send to oneself under irqsave, the usual pattern of Linux and of
 * our guest runtime) must be taken right after the instruction that sets
 * IF, as on Xen. For the LAPIC vector KVM does that by itself, with an
 * interrupt-window exit, except on hosts whose KVM has none (the nested
 * kvm_pvm of some of our machines: vmm_probe.c decides, h->irqwin_assist).
 * For the legacy vector KVM knows nothing of the interrupt, so we always
 * keep the window ourselves:
 *   IF=1: LAPIC vector: written registers make KVM look at its LAPIC at
 *         this entry; legacy vector: inject it now;
 *   IF=0: single-step the guest until IF=1 and no shadow, at most
 *         VMM_IRQWIN_MAX_STEPS steps, or until the guest consumed the
 *         events another way (upcall_pending cleared). Never over HLT or
 *         IRET: the in-kernel HLT wakes for a pending LAPIC interrupt by
 *         itself (STI;HLT with the legacy vector is taken here as the
 *         wake-up of that HLT), and the nested kvm_pvm, single-stepping a
 *         HLT or the IRET of a handler that woke a HLT, puts the vCPU back
 *         to sleep inside the next interrupt handler, where nothing wakes
 *         it. When stepping stops short (budget, IRET), a periodic
 *         re-kick (VMM_IRQWIN_REKICK_NS) brings the vCPU out of KVM_RUN
 *         again until the upcall is taken: without it a legacy upcall
 *         would wait for an exit that a guest idling in the in-kernel HLT
 *         never makes.
 * Costs nothing unless an upcall is outstanding. */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "vmm_int.h"

#define VMM_RFLAGS_TF (1ull << 8)
#define VMM_RFLAGS_IF (1ull << 9)
/* Single steps one interrupt window may take. Eight cover a hypercall
 * inside irqsave/irqrestore (the STI or POPF comes a few instructions
 * after the stub's RET). Longer IF=0 stretches are handlers running to
 * their IRET, which cannot be stepped anyway: stepping them cost every
 * PIRQ round trip ~0.7 ms with a budget of 4096 (bench_irq_guests: 1013 us
 * p50 against 311 us without the assist; 372 us with 8). */
#define VMM_IRQWIN_MAX_STEPS 8u
/* Re-kick period while an outstanding upcall waits for IF=1 after the
 * stepping stopped short: a user-space exit costs 14-40 us on our hosts.
 * It doubles at each look that finds IF still 0, up to the maximum, so a
 * guest that sits with interrupts off (or dead in CLI;HLT) costs at most
 * one exit per VMM_IRQWIN_REKICK_MAX_NS. */
#define VMM_IRQWIN_REKICK_NS 200000L
#define VMM_IRQWIN_REKICK_MAX_NS 12800000L

/* The vCPU whose thread this is, if any. */
static _Thread_local struct vmm_vcpu *this_vcpu;

void vmm_irqwin_thread_init(struct vmm_vcpu *v)
{
    this_vcpu = v;
    /* The kick signal reaches this thread only inside KVM_RUN: there it
     * makes KVM_RUN return -EINTR, and it can never interrupt another
     * system call of ours (a console write, a futex), which it would fail
     * with EINTR. A kick that comes while we are out of KVM_RUN stays
     * pending and ends the next KVM_RUN at once. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, VMM_KICK_SIGNAL);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    sigset_t during;
    pthread_sigmask(SIG_SETMASK, NULL, &during);
    sigdelset(&during, VMM_KICK_SIGNAL);
    /* The kernel's sigset_t on x86-64 is 8 bytes, after the length. */
    struct kvm_signal_mask *km = malloc(sizeof(*km) + 8);
    int rc = -1;
    if (km) {
        km->len = 8;
        memcpy(km->sigset, &during, 8);
        rc = ioctl(v->fd, KVM_SET_SIGNAL_MASK, km);
        free(km);
    }
    if (rc < 0) {
        /* Then the signal must stay unblocked for kicks to work at all. */
        vmm_log(v->d, "vCPU %u: KVM_SET_SIGNAL_MASK: %s", v->id,
                strerror(errno));
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    }
}

void vmm_irqwin_eat_kicks(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, VMM_KICK_SIGNAL);
    const struct timespec zero = { 0, 0 };
    while (sigtimedwait(&set, NULL, &zero) > 0) {
    }
}

/* Signal the per-vCPU vector vec to vCPU vcpu's LAPIC. KVM drops a fixed
 * interrupt for a software-disabled LAPIC (KVM_SIGNAL_MSI returns 0),
 * where Xen's vLAPIC keeps it in the IRR: Linux sets its upcall vector
 * (and Xen asserts it once, pending events in hand) before it enables its
 * LAPIC, and the evtchn core raises an upcall only when
 * evtchn_upcall_pending goes from 0 to 1, so a dropped one would leave the
 * guest without events for good. It is owed instead, and signalled again
 * at the vCPU's next exits (vmm_irqwin_exit) until the LAPIC takes it. */
static void signal_vector(struct vmm_domain *d, uint32_t vcpu, uint8_t vec)
{
    struct kvm_msi msi = {
        .address_lo = 0xfee00000u | (vcpu << 12),  /* physical dest */
        .data = vec,                               /* fixed, edge */
    };
    int rc = ioctl(d->vmfd, KVM_SIGNAL_MSI, &msi);
    if (rc < 0 && errno != EINTR)
        vmm_log_guest(d, "KVM_SIGNAL_MSI vector %u: %s", vec, strerror(errno));
    /* Not kicked for it: a guest runs with its LAPIC off only early in its
     * boot, making exits (hypercalls, I/O) all along, and a kick loop would
     * cost it an exit per round until it enables the LAPIC. */
    atomic_store(&d->vcpus[vcpu].upcall_owed, rc == 0);
}

void vmm_upcall_raise(struct vmm_domain *d, uint32_t vcpu)
{
    bool legacy;
    uint8_t vec = hv_upcall_vector(d->hv, vcpu, &legacy);
    if (vec && !legacy) {
        /* The in-kernel LAPIC wakes a halted vCPU by itself. A
         * KVM_SIGNAL_MSI rather than a per-vCPU irqfd with an MSI route:
         * on the nested KVM an EVTCHNOP_send took ~16k cycles with the
         * ioctl and ~76k with the eventfd write, and it needs no routing
         * table. */
        signal_vector(d, vcpu, vec);
    } else if (vec) {
        struct vmm_vcpu *v = &d->vcpus[vcpu];
        /* Raised by the vCPU itself (its own hypercall): its thread looks
         * at the window right after this exit anyway. */
        if (v != this_vcpu)
            vmm_vcpu_request(v, VMM_REQ_UPCALL);
    }
    /* and out of SCHEDOP_block/poll, if it sleeps there */
    hv_vcpu_kick(d->hv, vcpu);
}

static void irqwin_step(struct vmm_vcpu *v, bool on)
{
    if (v->irqwin_stepping == on)
        return;
    struct kvm_guest_debug dbg = {
        .control = on ? KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP : 0,
    };
    if (ioctl(v->fd, KVM_SET_GUEST_DEBUG, &dbg) < 0) {
        vmm_log_guest(v->d, "vCPU %u: KVM_SET_GUEST_DEBUG: %s", v->id,
                      strerror(errno));
        on = false;
        v->irqwin_gave_up = true;
    }
    v->irqwin_stepping = on;
    v->irqwin_steps = 0;
}

/* Periodic VMM_KICK_SIGNAL to this vCPU's own thread while on (see the top
 * comment), every period_ns (0: VMM_IRQWIN_REKICK_NS). Created on first
 * use, in the vCPU's thread. */
static void irqwin_rekick_every(struct vmm_vcpu *v, bool on, long period_ns)
{
    if (!period_ns)
        period_ns = VMM_IRQWIN_REKICK_NS;
    if (v->irqwin_rekick == on && (!on || v->irqwin_rekick_ns == period_ns))
        return;
    if (!v->irqwin_timer_made) {
        if (!on || vmm_kick_timer_make(v, &v->irqwin_timer) < 0)
            return;
        v->irqwin_timer_made = true;
    }
    if (vmm_kick_timer_arm(v->irqwin_timer, on ? period_ns : 0) == 0) {
        v->irqwin_rekick = on;
        v->irqwin_rekick_ns = on ? period_ns : 0;
    }
}

static void irqwin_rekick(struct vmm_vcpu *v, bool on)
{
    /* a new episode starts at the shortest period */
    irqwin_rekick_every(v, on, v->irqwin_rekick ? v->irqwin_rekick_ns : 0);
}

void vmm_irqwin_fini(struct vmm_vcpu *v)
{
    if (v->irqwin_timer_made)
        timer_delete(v->irqwin_timer);
    v->irqwin_timer_made = false;
    v->irqwin_rekick = false;
}

/* The guest's next instruction, if its first byte can be read: 0xf4 HLT,
 * 0xcf IRET (also with a REX prefix on the same page: IRETQ). */
static int next_insn(struct vmm_vcpu *v)
{
    const struct kvm_sregs *sr = &v->run->s.regs.sregs;
    uint64_t lin = sr->cs.base + v->run->s.regs.regs.rip;
    const uint8_t *p = vmm_gva_map(v->d, sr, lin, false);
    if (!p)
        return -1;
    if ((*p & 0xf0) == 0x40 && ((lin + 1) & 4095) && p[1] == 0xcf)
        return 0xcf;
    return *p;
}

static bool unsteppable(struct vmm_vcpu *v)
{
    int op = next_insn(v);
    return op == 0xf4 || op == 0xcf;
}

/* What legacy_inject did. */
enum inject_result {
    INJECTED,   /* the vector goes in at this entry */
    BUSY,       /* another event is being delivered: look again later */
    SHADOW,     /* the STI/MOV SS shadow covers the next instruction */
};

/* Inject the legacy callback vector at this entry (IF=1). */
static enum inject_result legacy_inject(struct vmm_vcpu *v, uint8_t vec)
{
    struct kvm_vcpu_events ev;
    if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
        return BUSY;
    /* Ours from an earlier exit still waiting for its entry (KVM_RUN was
     * interrupted before it): it goes in as it is. */
    if (ev.interrupt.injected && ev.interrupt.nr == vec && !ev.interrupt.soft)
        return INJECTED;
    /* Something else is being delivered. Not a single step now: the frame
     * it pushes would carry our TF (see below). */
    if (ev.exception.injected || ev.exception.pending ||
        ev.interrupt.injected || ev.nmi.injected)
        return BUSY;
    if (ev.interrupt.shadow) {
        /* STI;HLT (the idle loop): on hardware the HLT is entered and
         * left at once by the interrupt, whose frame returns after it.
         * Do that here: past the HLT, no shadow, interrupt. */
        if (next_insn(v) != 0xf4)
            return SHADOW;
        v->run->s.regs.regs.rip += 1;
        v->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
        ev.interrupt.shadow = 0;
    }
    /* Stepping off first: the frame the interrupt pushes must not carry
     * the TF of our single-stepping (the guest's IRET would restore it and
     * take a #DB of ours as its own). */
    irqwin_step(v, false);
    ev.interrupt.injected = 1;
    ev.interrupt.nr = vec;
    ev.interrupt.soft = 0;
    ev.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW |
                KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SMM;
    ev.flags |= KVM_VCPUEVENT_VALID_SHADOW;
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
        vmm_log_guest(v->d, "vCPU %u: KVM_SET_VCPU_EVENTS: %s", v->id,
                      strerror(errno));
        return BUSY;
    }
    /* Out of an in-kernel HLT (the re-kick or a raise found it there):
     * the HLT is done, the interrupt wakes it. */
    struct kvm_mp_state mp;
    if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) == 0 &&
        mp.mp_state == KVM_MP_STATE_HALTED) {
        mp.mp_state = KVM_MP_STATE_RUNNABLE;
        ioctl(v->fd, KVM_SET_MP_STATE, &mp);
    }
    return INJECTED;
}

static void irqwin_done(struct vmm_vcpu *v)
{
    irqwin_step(v, false);
    irqwin_rekick(v, false);
    v->irqwin_gave_up = false;
}

void vmm_irqwin_exit(struct vmm_vcpu *v)
{
    bool legacy;
    uint8_t vec = hv_upcall_vector(v->d->hv, v->id, &legacy);
    if (vec && !legacy && atomic_load(&v->upcall_owed)) {
        if (hv_upcall_outstanding(v->d->hv, v->id))
            signal_vector(v->d, v->id, vec);    /* the LAPIC refused it */
        else
            atomic_store(&v->upcall_owed, false);
    }
    if (!legacy && !v->d->h->irqwin_assist) {
        /* KVM keeps the LAPIC's window itself (a guest may have moved from
         * the legacy vector to a per-vCPU one in mid-episode) */
        if (v->irqwin_stepping || v->irqwin_rekick || v->irqwin_gave_up)
            irqwin_done(v);
        return;
    }
    struct kvm_run *run = v->run;
    uint64_t rflags = run->s.regs.regs.rflags;
    if (!vec || !hv_upcall_outstanding(v->d->hv, v->id)) {
        if (v->irqwin_stepping || v->irqwin_rekick || v->irqwin_gave_up)
            irqwin_done(v);
        return;
    }
    if (rflags & VMM_RFLAGS_IF) {
        if (legacy) {
            switch (legacy_inject(v, vec)) {
            case INJECTED:
                irqwin_done(v);
                return;
            case SHADOW:
                /* one more step, unless the guest's own single-stepping
                 * owns TF or the next one cannot be stepped */
                if (!(rflags & VMM_RFLAGS_TF) && !unsteppable(v)) {
                    irqwin_step(v, true);
                    return;
                }
                break;
            case BUSY:
                break;
            }
            irqwin_step(v, false);
            v->irqwin_gave_up = true;
            irqwin_rekick(v, true);
            return;
        }
        if (v->irqwin_stepping) {
            struct kvm_vcpu_events ev;
            if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) == 0 &&
                ev.interrupt.shadow && !unsteppable(v))
                return;            /* one more instruction first */
        }
        irqwin_done(v);
        run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
        return;
    }
    /* IF=0 */
    if (v->irqwin_stepping) {
        if (unsteppable(v) || ++v->irqwin_steps >= VMM_IRQWIN_MAX_STEPS) {
            irqwin_step(v, false);
            v->irqwin_gave_up = true;
            irqwin_rekick(v, true);
        }
        return;
    }
    if (v->irqwin_gave_up) {
        /* the re-kick looks again, less often while IF stays 0 */
        long next = v->irqwin_rekick_ns * 2;
        irqwin_rekick_every(v, true, next > VMM_IRQWIN_REKICK_MAX_NS ?
                                     VMM_IRQWIN_REKICK_MAX_NS : next);
        return;
    }
    /* The guest's own single-stepping owns TF. */
    if (!(rflags & VMM_RFLAGS_TF) && !unsteppable(v))
        irqwin_step(v, true);
    else {
        v->irqwin_gave_up = true;
        irqwin_rekick(v, true);
    }
}

/*
 * Which vCPUs are down (Xen's _VPF_down), and the power-off that follows
 * when none is left up.
 *
 * Xen's rule for HVM and PVH guests (hvm_hlt, hvm_vcpu_down): a vCPU that
 * halts with interrupts disabled is down (only an NMI or INIT could wake
 * it); when every vCPU of the domain is down, the domain shuts down with
 * SHUTDOWN_poweroff. That is how a Linux PVH guest powers off on Xen: its
 * FADT has no sleep registers, so `poweroff` becomes halt, and
 * stop_this_cpu() halts every CPU with interrupts off. A vCPU is also down
 * before it first runs (an AP waiting for INIT/SIPI or VCPUOP_up) and while
 * VCPUOP_down parks it.
 *
 * With the in-kernel LAPIC, KVM keeps HLT to itself: the vCPU sleeps in
 * KVM_RUN and user space is not told. So each vCPU thread has a periodic
 * kick (VMM_DOWN_CHECK_NS) and, out of KVM_RUN, looks at its own MP state:
 * HALTED with IF=0, UNINITIALIZED or INIT_RECEIVED is down; anything else,
 * and any real exit, is up. Only the vCPU's own thread asks KVM (a vCPU
 * ioctl from another thread would wait for KVM_RUN to return); the result
 * is published in v->down for the others.
 */
#include <stdint.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <time.h>

#include <xen/sched.h>

#include "vmm_int.h"

/* How often a vCPU looks at its MP state: the power-off comes at most this
 * late, and an idle vCPU pays one exit per period. */
#define VMM_DOWN_CHECK_NS 100000000L

void vmm_down_set(struct vmm_vcpu *v, bool down)
{
    struct vmm_domain *d = v->d;
    if (atomic_exchange(&v->down, down) == down || !down)
        return;
    /* Went down: was it the last one up? A vCPU that comes up meanwhile
     * (INIT/SIPI from one that is still up) is seen at its next look, and
     * a guest whose every vCPU is down cannot send one. */
    for (uint32_t i = 0; i < d->nr_vcpus; i++)
        if (!atomic_load(&d->vcpus[i].down))
            return;
    vmm_log(d, "all vCPUs down: powering off");
    vmm_domain_end(d, VMM_SHUTDOWN, SHUTDOWN_poweroff);
}

void vmm_down_thread_init(struct vmm_vcpu *v)
{
    if (vmm_kick_timer_make(v, &v->down_timer) < 0)
        return;
    v->down_timer_made = true;
    vmm_kick_timer_arm(v->down_timer, VMM_DOWN_CHECK_NS);
}

void vmm_down_thread_fini(struct vmm_vcpu *v)
{
    if (v->down_timer_made)
        timer_delete(v->down_timer);
    v->down_timer_made = false;
}

/* Down by its MP state: 2 halted with IF=0, 1 not started (waiting for
 * INIT/SIPI), 0 up, -1 unknown (the ioctl failed). */
static int mp_down(struct vmm_vcpu *v)
{
    struct kvm_mp_state mp;
    if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0)
        return -1;
    switch (mp.mp_state) {
    case KVM_MP_STATE_UNINITIALIZED:
    case KVM_MP_STATE_INIT_RECEIVED:
        return 1;
    case KVM_MP_STATE_HALTED: {
        struct kvm_regs r;
        if (ioctl(v->fd, KVM_GET_REGS, &r) < 0)
            return -1;
        return r.rflags & (1u << 9) ? 0 : 2;     /* IF */
    }
    default:
        return 0;
    }
}

void vmm_down_look(struct vmm_vcpu *v)
{
    uint64_t now = vmm_now_ns();
    /* Other kicks (requests, irqwin) come far more often than the check.
     * A request waiting (VCPUOP_up's context) changes the state first. */
    if (now - v->down_looked_ns < VMM_DOWN_CHECK_NS / 2 ||
        atomic_load(&v->req))
        return;
    v->down_looked_ns = now;
    int down = mp_down(v);
    if (down < 0)
        return;
    if (down == 2 && !atomic_load(&v->down)) {
        vmm_log_guest(v->d, "vCPU %u halted with interrupts off: down",
                      v->id);
    } else if (!down && atomic_load(&v->down)) {
        /* Came up by INIT/SIPI: as in Xen, it is initialised now. */
        pthread_mutex_lock(&v->d->lock);
        v->initialised = true;
        pthread_mutex_unlock(&v->d->lock);
    }
    vmm_down_set(v, down);
}

/*
 * vCPUs: their KVM file descriptors, their threads and what those do with
 * each exit (hypercalls through the I/O port of the hypercall page and of
 * patched call sites, or as KVM_EXIT_XEN; the hypercall-page MSR; Xen's
 * debug port 0xe9; crashes).
 *
 * Threads: one per vCPU (runs the guest and serves its hypercalls, as Xen
 * runs a hypercall on the calling vCPU). Other threads reach a vCPU thread
 * through v->req plus a SIGUSR1 that makes KVM_RUN return -EINTR
 * (vmm_vcpu_request; the signal is blocked in the vCPU thread but inside
 * KVM_RUN, vmm_irqwin.c). The thread's own timers send it the same signal
 * (vmm_kick_timer_*: irqwin's re-kicks, vmm_down.c's look at its MP state).
 */
#include <stdint.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xen/hvm/hvm_vcpu.h>
#include <xen/sched.h>

#include "vmm_int.h"

void vmm_vcpu_request(struct vmm_vcpu *v, unsigned int req)
{
    atomic_fetch_or(&v->req, req);
    /* After req is visible: the next KVM_RUN returns at once, and the
     * signal gets a running KVM_RUN out (see vcpu_thread). */
    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (atomic_load(&v->in_thread))
        pthread_kill(v->thread, VMM_KICK_SIGNAL);
}

static void *vcpu_thread(void *arg);

int vmm_vcpu_start_thread(struct vmm_vcpu *v)
{
    if (v->thread_started)
        return 0;
    atomic_fetch_add(&v->d->threads_running, 1);
    atomic_store(&v->in_thread, true);
    int rc = pthread_create(&v->thread, NULL, vcpu_thread, v);
    if (rc) {
        atomic_store(&v->in_thread, false);
        atomic_fetch_sub(&v->d->threads_running, 1);
        return -rc;
    }
    v->thread_started = true;
    return 0;
}

/* In the vCPU's own thread: wait while it is down. */
static void vcpu_park(struct vmm_vcpu *v)
{
    struct vmm_domain *d = v->d;
    pthread_mutex_lock(&d->lock);
    while (!v->up && !atomic_load(&d->stopping))
        pthread_cond_wait(&d->vcpu_cv, &d->lock);
    pthread_mutex_unlock(&d->lock);
}

/* Report an internal error: guest RIP and the instruction bytes there. */
static void report_crash(struct vmm_vcpu *v, const char *what)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    char bytes[64] = "?";
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 ||
        ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
        vmm_log(v->d, "vCPU %u: %s (registers unavailable)", v->id, what);
        return;
    }
    uint64_t lin = r.rip + s.cs.base;
    size_t off = 0;
    for (int i = 0; i < 15; i++) {
        uint8_t *p = vmm_gva_map(v->d, &s, lin + (uint64_t)i, false);
        if (!p)
            break;
        off += (size_t)snprintf(bytes + off, sizeof(bytes) - off, "%s%02x",
                                i ? " " : "", *p);
    }
    vmm_log(v->d, "vCPU %u: %s at rip 0x%llx (cs.l=%u cr0=0x%llx), "
            "bytes: %s; stopping this domain", v->id, what,
            (unsigned long long)r.rip, s.cs.l, (unsigned long long)s.cr0,
            bytes);
}

/* The hypercall entry of the hypercall page and of patched VMCALL/VMMCALL
 * sites (vmm_hcall_patch.c): registers come from the sync-regs area KVM
 * filled at the exit; the result goes back the same way. */
static void do_hypercall(struct vmm_vcpu *v)
{
    struct kvm_regs *r = &v->run->s.regs.regs;
    const struct kvm_sregs *s = &v->run->s.regs.sregs;
    struct hv_call c;
    c.long_mode = (s->efer & (1ull << 10)) && s->cs.l;
    c.cpl = s->ss.dpl;
    c.nr = c.long_mode ? r->rax : (uint32_t)r->rax;
    if (c.long_mode) {
        c.arg[0] = r->rdi; c.arg[1] = r->rsi; c.arg[2] = r->rdx;
        c.arg[3] = r->r10; c.arg[4] = r->r8;
    } else {
        c.arg[0] = r->rbx; c.arg[1] = r->rcx; c.arg[2] = r->rdx;
        c.arg[3] = r->rsi; c.arg[4] = r->rdi;
    }
    long ret = hv_hypercall(v->d->hv, v->id, v, &c);
    r->rax = c.long_mode ? (uint64_t)ret : (uint32_t)ret;
    v->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
}

/* The entry where KVM intercepts VMCALL/VMMCALL for us (KVM_XEN_HVM_CONFIG
 * with INTERCEPT_HCALL): KVM decoded the registers already (64-bit: %rdi
 * %rsi %rdx %r10 %r8; 32-bit: %ebx %ecx %edx %esi %edi, as Xen), and loads
 * the result into %rax and steps over the instruction at the next
 * KVM_RUN. */
int vmm_xen_hcall(struct hv_domain *hv, uint32_t vcpu_id, void *vcpu,
                  struct kvm_run *run)
{
    struct kvm_xen_exit *x = &run->xen;
    if (x->type != KVM_EXIT_XEN_HCALL)
        return -EINVAL;
    struct hv_call c;
    c.long_mode = x->u.hcall.longmode != 0;
    c.cpl = x->u.hcall.cpl;
    c.nr = c.long_mode ? x->u.hcall.input : (uint32_t)x->u.hcall.input;
    for (int i = 0; i < 5; i++)
        c.arg[i] = x->u.hcall.params[i];
    long ret = hv_hypercall(hv, vcpu_id, vcpu, &c);
    x->u.hcall.result = c.long_mode ? (uint64_t)ret : (uint32_t)ret;
    return 0;
}

/* Xen's hvm_print_line: a line per domain, shown whole (Linux's
 * earlyprintk=xen writes one byte per OUT). */
void vmm_dbg_port_putc(struct vmm_domain *d, uint8_t ch)
{
    char out[VMM_DBG_LINE + 16];
    size_t n = 0;
    pthread_mutex_lock(&d->dbg_lock);
    if (ch != '\n')
        d->dbg_line[d->dbg_len++] = (char)ch;
    if (ch == '\n' || d->dbg_len == VMM_DBG_LINE - 1) {
        /* Xen's guest_printk prefix; the console's sanitiser and the
         * console budget apply as to console_io. */
        n = (size_t)snprintf(out, sizeof(out), "(d%u) %.*s\n", d->domid,
                             (int)d->dbg_len, d->dbg_line);
        d->dbg_len = 0;
    }
    pthread_mutex_unlock(&d->dbg_lock);
    if (!n)
        return;
    size_t ok = hv_console_allow(d->hv, n);
    if (!ok)
        return;
    out[ok - 1] = '\n';      /* over the budget: the line's tail is dropped */
    be_console_write(d->con.be, out, ok);
}

static void do_dbg_port(struct vmm_vcpu *v)
{
    const struct kvm_run *run = v->run;
    const uint8_t *data = (const uint8_t *)run + run->io.data_offset;
    /* Xen takes the low byte of each write; a REP OUTS brings several. */
    for (uint32_t i = 0; i < run->io.count; i++)
        vmm_dbg_port_putc(v->d, data[(size_t)i * run->io.size]);
}

static void do_wrmsr(struct vmm_vcpu *v)
{
    struct kvm_run *run = v->run;
    run->msr.error = 1;          /* #GP unless we accept it */
    if (run->msr.index != VMM_HYPERCALL_MSR) {
        vmm_log_guest(v->d, "vCPU %u: wrmsr 0x%x at rip 0x%llx unhandled: #GP",
                      v->id, run->msr.index,
                      (unsigned long long)run->s.regs.regs.rip);
        return;
    }
    uint64_t val = run->msr.data;
    if (val & 0xfff)             /* page index: we have exactly one page */
        return;
    void *page = vmm_gpa_map(v->d, val, VMM_PAGE);
    if (!page || (val >> 12) >= v->d->ram_size / VMM_PAGE)
        return;
    hv_fill_hypercall_page(page);
    /* Xen latches the shared_info layout here too (its guest_wrmsr_xen). */
    const struct kvm_sregs *sr = &run->s.regs.sregs;
    hv_latch_shinfo(v->d->hv, (sr->efer & (1ull << 10)) && sr->cs.l);
    run->msr.error = 0;
}

/* 1: keep running, 0: leave the thread. */
static int handle_exit(struct vmm_vcpu *v)
{
    struct kvm_run *run = v->run;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        if (run->io.port == HV_HCALL_PORT &&
            run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 1 &&
            run->io.count == 1) {
            do_hypercall(v);
            return 1;
        }
        if (run->io.port == VMM_DBG_PORT &&
            run->io.direction == KVM_EXIT_IO_OUT) {
            do_dbg_port(v);
            return 1;
        }
        /* No device lives there: reads see a floating bus. */
        if (run->io.direction == KVM_EXIT_IO_IN)
            memset((uint8_t *)run + run->io.data_offset, 0xff,
                   (size_t)run->io.size * run->io.count);
        vmm_log_guest(v->d, "vCPU %u: %s port 0x%x at rip 0x%llx ignored",
                      v->id, run->io.direction == KVM_EXIT_IO_IN ? "in" : "out",
                      run->io.port,
                      (unsigned long long)run->s.regs.regs.rip);
        return 1;
    case KVM_EXIT_MMIO:
        if (!run->mmio.is_write)
            memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
        vmm_log_guest(v->d, "vCPU %u: MMIO %s 0x%llx at rip 0x%llx ignored",
                      v->id, run->mmio.is_write ? "write" : "read",
                      (unsigned long long)run->mmio.phys_addr,
                      (unsigned long long)run->s.regs.regs.rip);
        return 1;
    case KVM_EXIT_X86_WRMSR:
        do_wrmsr(v);
        return 1;
    case KVM_EXIT_X86_RDMSR:
        vmm_log_guest(v->d, "vCPU %u: rdmsr 0x%x at rip 0x%llx unhandled: #GP",
                      v->id, run->msr.index,
                      (unsigned long long)run->s.regs.regs.rip);
        run->msr.error = 1;
        return 1;
    case KVM_EXIT_XEN:
        if (vmm_xen_hcall(v->d->hv, v->id, v, run) == 0)
            return 1;
        report_crash(v, "KVM_EXIT_XEN of an unknown type");
        vmm_domain_end(v->d, VMM_CRASHED, SHUTDOWN_crash);
        return 0;
    case KVM_EXIT_INTR:
        return 1;
    case KVM_EXIT_DEBUG:
        if (v->irqwin_stepping)
            return 1;           /* a step of irq_window's; it looks next */
        report_crash(v, "unexpected debug exit");
        vmm_domain_end(v->d, VMM_CRASHED, SHUTDOWN_crash);
        return 0;
    case KVM_EXIT_HLT:
        /* Only without the in-kernel LAPIC; treat as a pause. */
        return 1;
    case KVM_EXIT_SHUTDOWN:
        report_crash(v, "triple fault");
        vmm_domain_end(v->d, VMM_CRASHED, SHUTDOWN_crash);
        return 0;
    case KVM_EXIT_SYSTEM_EVENT:
        vmm_domain_end(v->d, VMM_SHUTDOWN,
                   run->system_event.type == KVM_SYSTEM_EVENT_RESET ?
                   SHUTDOWN_reboot : SHUTDOWN_poweroff);
        return 0;
    case KVM_EXIT_INTERNAL_ERROR: {
        char what[96];
        snprintf(what, sizeof(what), "KVM internal error (suberror %u)",
                 run->internal.suberror);
        report_crash(v, what);
        vmm_domain_end(v->d, VMM_CRASHED, SHUTDOWN_crash);
        return 0;
    }
    case KVM_EXIT_FAIL_ENTRY: {
        char what[96];
        snprintf(what, sizeof(what), "VM entry failed (reason 0x%llx)",
                 (unsigned long long)
                 run->fail_entry.hardware_entry_failure_reason);
        report_crash(v, what);
        vmm_domain_end(v->d, VMM_CRASHED, SHUTDOWN_crash);
        return 0;
    }
    default: {
        char what[64];
        snprintf(what, sizeof(what), "unexpected exit %u", run->exit_reason);
        report_crash(v, what);
        vmm_domain_end(v->d, VMM_CRASHED, SHUTDOWN_crash);
        return 0;
    }
    }
}

/* Load a VCPUOP_initialise context and make the vCPU runnable. */
static void load_pending_context(struct vmm_vcpu *v)
{
    struct vmm_domain *d = v->d;
    uint8_t ctx[sizeof(v->ctx)];
    pthread_mutex_lock(&d->lock);
    bool have = v->ctx_valid;
    if (have)
        memcpy(ctx, v->ctx, sizeof(ctx));
    v->ctx_valid = false;
    pthread_mutex_unlock(&d->lock);
    if (!have)
        return;
    int rc = vmm_load_hvm_context(v, ctx);
    struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
    if (rc == 0 && ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
        rc = -errno;
    if (rc)
        vmm_log(d, "vCPU %u: cannot load its VCPUOP_initialise context: %s",
                v->id, strerror(-rc));
}

/* XENKVM_DEBUG_STATE: where a vCPU stood when its domain was stopped
 * (a guest that hangs): registers, the MP state, the LAPIC's ISR and IRR. */
static void dump_state(struct vmm_vcpu *v)
{
    struct kvm_regs r;
    struct kvm_mp_state mp = { 0 };
    struct kvm_lapic_state la;
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0)
        return;
    ioctl(v->fd, KVM_GET_MP_STATE, &mp);
    char isr[80] = "", irr[80] = "";
    if (ioctl(v->fd, KVM_GET_LAPIC, &la) == 0)
        for (int i = 7; i >= 0; i--) {
            uint32_t a, b;
            memcpy(&a, la.regs + 0x100 + i * 0x10, 4);
            memcpy(&b, la.regs + 0x200 + i * 0x10, 4);
            size_t n = strlen(isr), m = strlen(irr);
            snprintf(isr + n, sizeof(isr) - n, "%08x", a);
            snprintf(irr + m, sizeof(irr) - m, "%08x", b);
        }
    bool legacy;
    uint8_t vec = hv_upcall_vector(v->d->hv, v->id, &legacy);
    vmm_log(v->d, "vCPU %u at stop: rip 0x%llx rflags 0x%llx mp_state %u "
            "isr %s irr %s upcall %d (vector 0x%x%s)", v->id,
            (unsigned long long)r.rip, (unsigned long long)r.rflags,
            mp.mp_state, isr, irr, hv_upcall_outstanding(v->d->hv, v->id),
            vec, legacy ? ", legacy" : "");
}

static void *vcpu_thread(void *arg)
{
    struct vmm_vcpu *v = arg;
    struct vmm_domain *d = v->d;
    vmm_irqwin_thread_init(v);
    char tname[16];
    snprintf(tname, sizeof(tname), "d%uv%u", d->domid, v->id);
    pthread_setname_np(pthread_self(), tname);

    vmm_down_thread_init(v);
    if (v->id != 0)
        load_pending_context(v);
    for (;;) {
        unsigned int req = atomic_exchange(&v->req, 0);
        if ((req & VMM_REQ_STOP) || atomic_load(&d->stopping)) {
            if (getenv("XENKVM_DEBUG_STATE"))
                dump_state(v);
            break;
        }
        if (req & VMM_REQ_PARK) {
            vcpu_park(v);
            /* Keep what came with it (VCPUOP_up's LOAD, a STOP). */
            atomic_fetch_or(&v->req, req & ~VMM_REQ_PARK);
            continue;
        }
        if (req & VMM_REQ_LOAD)
            load_pending_context(v);
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                vmm_irqwin_eat_kicks();
                vmm_down_look(v);
                vmm_irqwin_exit(v);
                continue;
            }
            char what[96];
            snprintf(what, sizeof(what), "KVM_RUN failed: %s", strerror(errno));
            report_crash(v, what);
            vmm_domain_end(d, VMM_CRASHED, SHUTDOWN_crash);
            break;
        }
        /* A kick may also come back as KVM_EXIT_INTR: that says nothing
         * about the guest having run. */
        if (v->run->exit_reason == KVM_EXIT_INTR)
            vmm_down_look(v);
        else
            vmm_down_ran(v);
        if (!handle_exit(v))
            break;
        vmm_irqwin_exit(v);
    }
    vmm_down_thread_fini(v);
    vmm_irqwin_fini(v);
    atomic_store(&v->in_thread, false);
    if (atomic_fetch_sub(&d->threads_running, 1) == 1)
        vmm_domain_dead(d);     /* last vCPU out */
    return NULL;
}

int vmm_vcpu_setup(struct vmm_vcpu *v, char *err, size_t errlen)
{
    struct vmm_domain *d = v->d;
    v->fd = ioctl(d->vmfd, KVM_CREATE_VCPU, (unsigned long)v->id);
    if (v->fd < 0) {
        snprintf(err, errlen, "KVM_CREATE_VCPU %u: %s", v->id, strerror(errno));
        return -errno;
    }
    v->run = mmap(NULL, (size_t)d->h->vcpu_mmap_size, PROT_READ | PROT_WRITE,
                  MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        snprintf(err, errlen, "mmap kvm_run: %s", strerror(errno));
        return -errno;
    }
    int rc = vmm_cpuid_setup(v);
    if (rc) {
        snprintf(err, errlen, "KVM_SET_CPUID2: %s", strerror(-rc));
        return rc;
    }
    /* Every exit brings the registers along: hypercalls need no
     * KVM_GET_REGS/KVM_GET_SREGS round trips. */
    v->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
    return 0;
}

void vmm_vcpu_teardown(struct vmm_vcpu *v)
{
    if (v->run && v->run != MAP_FAILED)
        munmap(v->run, (size_t)v->d->h->vcpu_mmap_size);
    v->run = NULL;
    if (v->fd >= 0)
        close(v->fd);
    v->fd = -1;
}

int vmm_kick_timer_make(struct vmm_vcpu *v, timer_t *t)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = VMM_KICK_SIGNAL;
    sev._sigev_un._tid = gettid();   /* glibc 2.36 names no macro for it */
    if (timer_create(CLOCK_MONOTONIC, &sev, t) < 0) {
        int e = errno;
        vmm_log_guest(v->d, "vCPU %u: timer_create: %s", v->id, strerror(e));
        return -e;
    }
    return 0;
}

int vmm_kick_timer_arm(timer_t t, long period_ns)
{
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = period_ns / 1000000000L;
    its.it_value.tv_nsec = period_ns % 1000000000L;
    its.it_interval = its.it_value;
    return timer_settime(t, 0, &its, NULL) < 0 ? -errno : 0;
}

static void kick_handler(int sig)
{
    (void)sig;   /* only there to make KVM_RUN return -EINTR */
}

void vmm_vcpu_signals_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;     /* no SA_RESTART: KVM_RUN must fail */
    sigemptyset(&sa.sa_mask);
    sigaction(VMM_KICK_SIGNAL, &sa, NULL);
}

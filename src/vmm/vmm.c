/*
 * The VMM: host and domain lifecycle, vCPU threads and their exits, and
 * the platform hooks the event-channel core and the hypercall layer call.
 *
 * Threads: one per vCPU (runs the guest and serves its hypercalls, as Xen
 * runs a hypercall on the calling vCPU); the caller of vmm_host_wait (main)
 * just waits. Other threads reach a vCPU thread through v->req plus a
 * SIGUSR1 that makes KVM_RUN return -EINTR (vmm_vcpu_request; the signal
 * is blocked in the vCPU thread but inside KVM_RUN, vmm_irqwin.c).
 */
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <xen/hvm/params.h>
#include <xen/hvm/hvm_vcpu.h>
#include <xen/sched.h>

#include "vmm_int.h"

#define VMM_HYPERCALL_MSR 0x40000000u

void vmm_log(struct vmm_domain *d, const char *fmt, ...)
{
    if (d->h->cfg.quiet)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "xenkvm: domain '%s' (domid %u): %s\n", d->name, d->domid,
            buf);
}

/* Guest-caused messages, at most 20 per 5 s per process thread. */
void vmm_log_guest(struct vmm_domain *d, const char *fmt, ...)
{
    static _Thread_local time_t window;
    static _Thread_local unsigned int n;
    time_t now = time(NULL);
    if (now - window >= 5) {
        window = now;
        n = 0;
    }
    if (++n > 20)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    vmm_log(d, "%s", buf);
}

static struct vmm_domain *find_domain(struct vmm_host *h, domid_t dom)
{
    if (dom == 0 || dom >= VMM_MAX_DOMAINS)
        return NULL;
    /* Entries are published once and never freed before the host. */
    return __atomic_load_n(&h->domains[dom], __ATOMIC_ACQUIRE);
}

/* ---- event-channel platform ops ---- */

static void *ec_map_gfn(void *opaque, domid_t dom, uint64_t gfn)
{
    struct vmm_domain *d = find_domain(opaque, dom);
    return d ? vmm_gfn_map(d, gfn) : NULL;
}

/* An upcall for vCPU vcpu was raised (vmm_irqwin.c delivers it). */
static void ec_kick_vcpu(void *opaque, domid_t dom, uint32_t vcpu)
{
    struct vmm_domain *d = find_domain(opaque, dom);
    if (d && vcpu < d->nr_vcpus)
        vmm_upcall_raise(d, vcpu);
}

/* ---- hypercall-layer platform ops ---- */

static void *hvo_gva_map(void *vcpu, uint64_t gva, bool write)
{
    struct vmm_vcpu *v = vcpu;
    return vmm_gva_map(v->d, &v->run->s.regs.sregs, gva, write);
}

static void *hvo_gfn_map(void *dom, uint64_t gfn)
{
    return vmm_gfn_map(dom, gfn);
}

static int hvo_map_shared_info(void *dom, uint64_t gfn)
{
    return vmm_map_shared_info(dom, gfn);
}

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

static int start_vcpu_thread(struct vmm_vcpu *v)
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

static int hvo_vcpu_initialise(void *dom, uint32_t id, const void *ctx)
{
    struct vmm_domain *d = dom;
    if (id >= d->nr_vcpus)
        return -ENOENT;
    pthread_mutex_lock(&d->lock);
    int rc = 0;
    if (d->vcpus[id].initialised)
        rc = -EEXIST;
    else {
        memcpy(d->vcpus[id].ctx, ctx, sizeof(struct vcpu_hvm_context));
        d->vcpus[id].ctx_valid = true;
        d->vcpus[id].initialised = true;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int hvo_vcpu_up(void *dom, uint32_t id)
{
    struct vmm_domain *d = dom;
    if (id >= d->nr_vcpus)
        return -ENOENT;
    struct vmm_vcpu *v = &d->vcpus[id];
    pthread_mutex_lock(&d->lock);
    int rc = 0;
    if (!v->initialised)
        rc = -EINVAL;               /* Xen: VCPUOP_up needs a context */
    else if (!v->up) {
        v->up = true;
        if (!v->thread_started) {
            rc = start_vcpu_thread(v);
        } else {
            /* A parked vCPU resumes where it stopped (Xen clears
             * _VPF_down); a new VCPUOP_initialise context is loaded. */
            vmm_vcpu_request(v, VMM_REQ_LOAD);
            pthread_cond_broadcast(&d->vcpu_cv);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static void domain_end(struct vmm_domain *d, enum vmm_outcome o,
                       unsigned int reason);

/* VCPUOP_down: the vCPU stops running until VCPUOP_up (Xen sets
 * _VPF_down). A vCPU may take itself down; its thread parks after the
 * hypercall returns. Events meanwhile stay pending in its LAPIC. */
static int hvo_vcpu_down(void *dom, uint32_t id)
{
    struct vmm_domain *d = dom;
    if (id >= d->nr_vcpus)
        return -ENOENT;
    struct vmm_vcpu *v = &d->vcpus[id];
    pthread_mutex_lock(&d->lock);
    if (v->up) {
        v->up = false;
        if (v->thread_started)
            vmm_vcpu_request(v, VMM_REQ_PARK);
    }
    bool any_up = false;
    for (uint32_t i = 0; i < d->nr_vcpus; i++)
        any_up |= d->vcpus[i].up;
    pthread_mutex_unlock(&d->lock);
    /* Xen: taking down the last running vCPU powers the domain off. */
    if (!any_up)
        domain_end(d, VMM_SHUTDOWN, SHUTDOWN_poweroff);
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

static int hvo_vcpu_is_up(void *dom, uint32_t id)
{
    struct vmm_domain *d = dom;
    pthread_mutex_lock(&d->lock);
    int up = d->vcpus[id].up;
    pthread_mutex_unlock(&d->lock);
    return up;
}

static const char *shutdown_name(unsigned int r)
{
    static const char *const n[] = { "poweroff", "reboot", "suspend", "crash",
                                     "watchdog", "soft_reset" };
    return r < sizeof(n) / sizeof(n[0]) ? n[r] : "unknown";
}

static void domain_stop(struct vmm_domain *d)
{
    if (atomic_exchange(&d->stopping, true))
        return;
    hv_domain_stop(d->hv);
    for (uint32_t i = 0; i < d->nr_vcpus; i++)
        if (d->vcpus[i].thread_started)
            vmm_vcpu_request(&d->vcpus[i], VMM_REQ_STOP);
    /* Parked vCPUs see stopping (vcpu_park). */
    pthread_mutex_lock(&d->lock);
    pthread_cond_broadcast(&d->vcpu_cv);
    pthread_mutex_unlock(&d->lock);
}

/* Record how the domain ended (the first reason wins) and stop it. */
static void domain_end(struct vmm_domain *d, enum vmm_outcome o,
                       unsigned int reason)
{
    int expect = VMM_RUNNING;
    if (atomic_compare_exchange_strong(&d->outcome, &expect, (int)o)) {
        d->shutdown_reason = reason;
        if (o == VMM_SHUTDOWN || o == VMM_CRASHED)
            vmm_log(d, "%s (%s)", o == VMM_SHUTDOWN ? "shut down" : "crashed",
                    shutdown_name(reason));
        else
            vmm_log(d, "destroyed");
    }
    domain_stop(d);
}

static void hvo_shutdown(void *dom, unsigned int reason)
{
    struct vmm_domain *d = dom;
    /* The guest's own SCHEDOP_shutdown: a crash reason counts as a crash
     * for the exit status, but it is reported as a shutdown. */
    int expect = VMM_RUNNING;
    if (atomic_compare_exchange_strong(&d->outcome, &expect,
            (int)(reason == SHUTDOWN_crash ? VMM_CRASHED : VMM_SHUTDOWN))) {
        d->shutdown_reason = reason;
        vmm_log(d, "shut down (%s)", shutdown_name(reason));
    }
    domain_stop(d);
}

static void hvo_assert_upcall(void *dom, uint32_t vcpu)
{
    struct vmm_domain *d = dom;
    if (vcpu < d->nr_vcpus)
        vmm_upcall_raise(d, vcpu);
}

static void hvo_console_write(void *dom, const char *buf, size_t len)
{
    vmm_console_write(dom, buf, len);
}

static const struct hv_platform_ops vmm_hv_ops = {
    .gva_map = hvo_gva_map,
    .gfn_map = hvo_gfn_map,
    .map_shared_info = hvo_map_shared_info,
    .vcpu_initialise = hvo_vcpu_initialise,
    .vcpu_up = hvo_vcpu_up,
    .vcpu_down = hvo_vcpu_down,
    .vcpu_is_up = hvo_vcpu_is_up,
    .shutdown = hvo_shutdown,
    .console_write = hvo_console_write,
    .assert_upcall = hvo_assert_upcall,
};

/* ---- vCPU exits ---- */

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

/* The hypercall entry of the hypercall page: registers come from the
 * sync-regs area KVM filled at the exit; the result goes back the same
 * way. A second entry point (a patched call site) would build the same
 * struct hv_call and call hv_hypercall too. */
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
    case KVM_EXIT_INTR:
        return 1;
    case KVM_EXIT_DEBUG:
        if (v->irqwin_stepping)
            return 1;           /* a step of irq_window's; it looks next */
        report_crash(v, "unexpected debug exit");
        domain_end(v->d, VMM_CRASHED, SHUTDOWN_crash);
        return 0;
    case KVM_EXIT_HLT:
        /* Only without the in-kernel LAPIC; treat as a pause. */
        return 1;
    case KVM_EXIT_SHUTDOWN:
        report_crash(v, "triple fault");
        domain_end(v->d, VMM_CRASHED, SHUTDOWN_crash);
        return 0;
    case KVM_EXIT_SYSTEM_EVENT:
        domain_end(v->d, VMM_SHUTDOWN,
                   run->system_event.type == KVM_SYSTEM_EVENT_RESET ?
                   SHUTDOWN_reboot : SHUTDOWN_poweroff);
        return 0;
    case KVM_EXIT_INTERNAL_ERROR: {
        char what[96];
        snprintf(what, sizeof(what), "KVM internal error (suberror %u)",
                 run->internal.suberror);
        report_crash(v, what);
        domain_end(v->d, VMM_CRASHED, SHUTDOWN_crash);
        return 0;
    }
    case KVM_EXIT_FAIL_ENTRY: {
        char what[96];
        snprintf(what, sizeof(what), "VM entry failed (reason 0x%llx)",
                 (unsigned long long)
                 run->fail_entry.hardware_entry_failure_reason);
        report_crash(v, what);
        domain_end(v->d, VMM_CRASHED, SHUTDOWN_crash);
        return 0;
    }
    default: {
        char what[64];
        snprintf(what, sizeof(what), "unexpected exit %u", run->exit_reason);
        report_crash(v, what);
        domain_end(v->d, VMM_CRASHED, SHUTDOWN_crash);
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

static void *vcpu_thread(void *arg)
{
    struct vmm_vcpu *v = arg;
    struct vmm_domain *d = v->d;
    vmm_irqwin_thread_init(v);
    char tname[16];
    snprintf(tname, sizeof(tname), "d%uv%u", d->domid, v->id);
    pthread_setname_np(pthread_self(), tname);

    if (v->id != 0)
        load_pending_context(v);
    for (;;) {
        unsigned int req = atomic_exchange(&v->req, 0);
        if ((req & VMM_REQ_STOP) || atomic_load(&d->stopping))
            break;
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
                vmm_irqwin_exit(v);
                continue;
            }
            char what[96];
            snprintf(what, sizeof(what), "KVM_RUN failed: %s", strerror(errno));
            report_crash(v, what);
            domain_end(d, VMM_CRASHED, SHUTDOWN_crash);
            break;
        }
        if (!handle_exit(v))
            break;
        vmm_irqwin_exit(v);
    }
    vmm_irqwin_fini(v);
    atomic_store(&v->in_thread, false);
    if (atomic_fetch_sub(&d->threads_running, 1) == 1) {
        /* Last vCPU out: the domain has ended. Its host lines go first:
         * a line it left in flight must not stay masked for the others. */
        vmm_irq_domain_dead(d);
        vmm_console_flush(d);
        vmm_store_domain_release(d);
        char c = 1;
        if (write(d->h->wake_pipe[1], &c, 1) < 0) {
            /* the waiter re-counts anyway */
        }
    }
    return NULL;
}

/* ---- host ---- */

static void kick_handler(int sig)
{
    (void)sig;   /* only there to make KVM_RUN return -EINTR */
}

/* vmm_host_create owns a caller's ICU from the start: failing before the
 * host exists, it frees it here. */
static struct vmm_host *drop_icu(struct irq_icu *icu)
{
    if (icu)
        irq_icu_destroy(icu);
    return NULL;
}

struct vmm_host *vmm_host_create(const struct vmm_host_config *cfg,
                                 char *err, size_t errlen)
{
    struct irq_icu *given = cfg ? cfg->icu : NULL;
    /* XENKVM_DEV_KVM names another KVM device node (containers, tests). */
    const char *dev = getenv("XENKVM_DEV_KVM");
    if (!dev || !*dev)
        dev = "/dev/kvm";
    int kfd = open(dev, O_RDWR | O_CLOEXEC);
    if (kfd < 0) {
        if (errno == ENOENT)
            snprintf(err, errlen, "%s not found: this host has no KVM "
                     "(enable virtualization / load the kvm module)", dev);
        else
            snprintf(err, errlen, "cannot open %s: %s%s", dev, strerror(errno),
                     errno == EACCES ? " (join group 'kvm')" : "");
        return drop_icu(given);
    }
    if (ioctl(kfd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        snprintf(err, errlen, "/dev/kvm: unsupported KVM API version");
        close(kfd);
        return drop_icu(given);
    }
    static const struct { int cap; const char *name; } need[] = {
        { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
        { KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI" },
        { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
        { KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR" },
        { KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER" },
        { KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
        /* the legacy callback vector and the interrupt window
         * (vmm_irqwin.c) */
        { KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS" },
        { KVM_CAP_SET_GUEST_DEBUG, "KVM_CAP_SET_GUEST_DEBUG" },
    };
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
        if (ioctl(kfd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
            snprintf(err, errlen, "/dev/kvm lacks %s (host kernel too old)",
                     need[i].name);
            close(kfd);
            return drop_icu(given);
        }
    int sync = ioctl(kfd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
    if ((sync & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) !=
        (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) {
        snprintf(err, errlen, "/dev/kvm lacks KVM_CAP_SYNC_REGS for regs and "
                 "sregs (host kernel too old)");
        close(kfd);
        return drop_icu(given);
    }
    struct vmm_host *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        close(kfd);
        return drop_icu(given);
    }
    h->kvmfd = kfd;
    /* Does this KVM take an interrupt raised under IF=0 at the guest's STI?
     * XENKVM_IRQ_WINDOW=assist|native overrides the probe (tests). */
    const char *iw = getenv("XENKVM_IRQ_WINDOW");
    if (iw && !strcmp(iw, "assist")) {
        h->irqwin_assist = true;
    } else if (iw && !strcmp(iw, "native")) {
        h->irqwin_assist = false;
    } else {
        int late = vmm_probe_irq_window(kfd, VMM_PROBE_IF0, 4, NULL);
        h->irqwin_assist = late != 0;   /* late, or the probe itself failed */
    }
    if (cfg)
        h->cfg = *cfg;
    h->console = h->cfg.console ? h->cfg.console : stdout;
    h->wake_pipe[0] = h->wake_pipe[1] = -1;
    h->irq_stop_fd = h->irq_stop_watch = -1;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->sink_lock, NULL);
    h->vcpu_mmap_size = ioctl(kfd, KVM_GET_VCPU_MMAP_SIZE, 0);
    for (int n = 64; n <= 4096; n *= 2) {
        h->supported_cpuid = calloc(1, sizeof(struct kvm_cpuid2) +
                                    n * sizeof(struct kvm_cpuid_entry2));
        if (!h->supported_cpuid)
            break;
        h->supported_cpuid->nent = (uint32_t)n;
        if (ioctl(kfd, KVM_GET_SUPPORTED_CPUID, h->supported_cpuid) == 0)
            break;
        free(h->supported_cpuid);
        h->supported_cpuid = NULL;
        if (errno != E2BIG)
            break;
    }
    if (!h->supported_cpuid || h->vcpu_mmap_size <= 0 ||
        pipe2(h->wake_pipe, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
        vmm_host_destroy(h);
        return NULL;
    }
    struct evtchn_platform_ops ops = {
        .map_gfn = ec_map_gfn,
        .kick_vcpu = ec_kick_vcpu,
    };
    h->evtchn = evtchn_host_create(&ops, h);
    struct evtchn_domain_config d0 = { .domid = 0, .privileged = true,
                                       .max_vcpus = 1 };
    if (!h->evtchn || evtchn_domain_create(h->evtchn, &d0) < 0) {
        snprintf(err, errlen, "cannot create the event-channel core");
        vmm_host_destroy(h);
        return NULL;
    }
    if (vmm_irq_init(h, err, errlen)) {
        vmm_host_destroy(h);
        return NULL;
    }
    if (vmm_store_init(h, err, errlen)) {
        vmm_host_destroy(h);
        return NULL;
    }
    if (h->cfg.dom0_pingpong && vmm_dom0pp_start(h)) {
        snprintf(err, errlen, "cannot start the domain-0 ping-pong service");
        vmm_host_destroy(h);
        return NULL;
    }
    if (h->cfg.control_socket && *h->cfg.control_socket &&
        vmm_ctl_start(h, h->cfg.control_socket, err, errlen)) {
        vmm_host_destroy(h);
        return NULL;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;     /* no SA_RESTART: KVM_RUN must fail */
    sigemptyset(&sa.sa_mask);
    sigaction(VMM_KICK_SIGNAL, &sa, NULL);
    return h;
}

struct evtchn_host *vmm_host_evtchn(struct vmm_host *h)
{
    return h->evtchn;
}

static void domain_free(struct vmm_domain *d)
{
    vmm_store_domain_release(d);       /* no-op once released */
    vmm_irq_domain_dead(d);            /* pins go before the VM fd */
    for (uint32_t i = 0; d->vcpus && i < d->nr_vcpus; i++) {
        struct vmm_vcpu *v = &d->vcpus[i];
        if (v->run && v->run != MAP_FAILED)
            munmap(v->run, (size_t)d->h->vcpu_mmap_size);
        if (v->fd >= 0)
            close(v->fd);
    }
    vmm_console_fini(d);
    if (d->hv)
        hv_domain_destroy(d->hv);
    if (d->h->evtchn && evtchn_domain_shared_info(d->h->evtchn, d->domid))
        evtchn_domain_destroy(d->h->evtchn, d->domid);
    vmm_mem_fini(d);
    if (d->vmfd >= 0)
        close(d->vmfd);
    vmm_irq_domain_free(d);            /* iomem mappings, after the VM */
    free(d->vcpus);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->vcpu_cv);
    free(d);
}

void vmm_host_destroy(struct vmm_host *h)
{
    if (!h)
        return;
    for (int i = 1; i < VMM_MAX_DOMAINS; i++)
        if (h->domains[i])
            domain_stop(h->domains[i]);
    for (int i = 1; i < VMM_MAX_DOMAINS; i++) {
        struct vmm_domain *d = h->domains[i];
        if (!d)
            continue;
        for (uint32_t j = 0; j < d->nr_vcpus; j++)
            if (d->vcpus[j].thread_started)
                pthread_join(d->vcpus[j].thread, NULL);
        vmm_store_domain_release(d);
    }
    vmm_dom0pp_stop(h);
    vmm_ctl_stop(h);
    vmm_irq_stop(h);
    for (int i = 1; i < VMM_MAX_DOMAINS; i++) {
        if (h->domains[i])
            domain_free(h->domains[i]);
        h->domains[i] = NULL;
    }
    vmm_store_fini(h);
    if (h->evtchn)
        evtchn_domain_destroy(h->evtchn, 0);
    vmm_irq_fini(h);
    if (h->evtchn)
        evtchn_host_destroy(h->evtchn);
    free(h->supported_cpuid);
    if (h->wake_pipe[0] >= 0) {
        close(h->wake_pipe[0]);
        close(h->wake_pipe[1]);
    }
    close(h->kvmfd);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->sink_lock);
    free(h);
}

/* ---- domains ---- */

static int vm_setup(struct vmm_domain *d, char *err, size_t errlen)
{
    d->vmfd = ioctl(d->h->kvmfd, KVM_CREATE_VM, 0);
    if (d->vmfd < 0) {
        snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
        return -errno;
    }
    /* Intel needs these two pages for real-mode emulation; they sit in
     * the reserved window below the special pages. */
    ioctl(d->vmfd, KVM_SET_TSS_ADDR, 0xfeffc000ul - 0x4000);
    uint64_t idmap = 0xfeffc000ull - 0x5000;
    ioctl(d->vmfd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
    if (ioctl(d->vmfd, KVM_CREATE_IRQCHIP, 0) < 0) {
        snprintf(err, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
        return -errno;
    }
    struct kvm_enable_cap cap = {
        .cap = KVM_CAP_X86_USER_SPACE_MSR,
        .args = { KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN },
    };
    if (ioctl(d->vmfd, KVM_ENABLE_CAP, &cap) < 0) {
        snprintf(err, errlen, "KVM_CAP_X86_USER_SPACE_MSR: %s", strerror(errno));
        return -errno;
    }
    /* Trap only the hypercall-page MSR; a clear bit denies (and so exits
     * to us), everything else keeps KVM's handling. */
    static uint8_t deny = 0;
    struct kvm_msr_filter f = {
        .flags = KVM_MSR_FILTER_DEFAULT_ALLOW,
        .ranges[0] = { .flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
                       .nmsrs = 1, .base = VMM_HYPERCALL_MSR, .bitmap = &deny },
    };
    if (ioctl(d->vmfd, KVM_X86_SET_MSR_FILTER, &f) < 0) {
        snprintf(err, errlen, "KVM_X86_SET_MSR_FILTER: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

static int vcpu_setup(struct vmm_vcpu *v, char *err, size_t errlen)
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

int vmm_domain_create(struct vmm_host *h, const struct vmm_domain_config *cfg,
                      struct vmm_domain **out, char *err, size_t errlen)
{
    if (!cfg->name || !*cfg->name || strlen(cfg->name) >= 64) {
        snprintf(err, errlen, "domain name missing or longer than 63 bytes");
        return -EINVAL;
    }
    if (!cfg->kernel) {
        snprintf(err, errlen, "domain '%s': no kernel given", cfg->name);
        return -EINVAL;
    }
    uint64_t mem = cfg->mem_bytes ? cfg->mem_bytes : (64ull << 20);
    if (mem < (2ull << 20) || mem > (3ull << 30) || (mem & (VMM_PAGE - 1))) {
        snprintf(err, errlen, "domain '%s': memory must be 2 MiB..3 GiB "
                 "(page multiple)", cfg->name);
        return -EINVAL;
    }
    uint32_t nv = cfg->vcpus ? cfg->vcpus : 1;
    if (nv > VMM_MAX_VCPUS) {
        snprintf(err, errlen, "domain '%s': at most %d vCPUs", cfg->name,
                 VMM_MAX_VCPUS);
        return -EINVAL;
    }
    struct vmm_domain *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->h = h;
    d->vmfd = d->memfd = -1;
    snprintf(d->name, sizeof(d->name), "%s", cfg->name);
    d->ram_size = mem;
    d->nr_vcpus = nv;
    d->on_poweroff = cfg->on_poweroff;
    d->on_crash = cfg->on_crash;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->vcpu_cv, NULL);
    atomic_store(&d->outcome, VMM_RUNNING);
    d->vcpus = calloc(nv, sizeof(*d->vcpus));
    if (!d->vcpus) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < nv; i++) {
        d->vcpus[i].d = d;
        d->vcpus[i].id = i;
        d->vcpus[i].fd = -1;
    }

    /* Reserve a domid and check the name is unique. */
    pthread_mutex_lock(&h->lock);
    int id = 0;
    for (int i = 1; i < VMM_MAX_DOMAINS; i++) {
        if (h->domains[i] && !strcmp(h->domains[i]->name, cfg->name)) {
            pthread_mutex_unlock(&h->lock);
            snprintf(err, errlen, "a domain named '%s' already exists",
                     cfg->name);
            free(d->vcpus);
            free(d);
            return -EEXIST;
        }
        if (!h->domains[i] && !id)
            id = i;
    }
    if (!id) {
        pthread_mutex_unlock(&h->lock);
        snprintf(err, errlen, "too many domains (at most %d)",
                 VMM_MAX_DOMAINS - 1);
        free(d->vcpus);
        free(d);
        return -ENOSPC;
    }
    d->domid = (domid_t)id;
    pthread_mutex_unlock(&h->lock);

    int rc = vm_setup(d, err, errlen);
    if (!rc)
        rc = vmm_mem_init(d, err, errlen);
    if (!rc)
        rc = vmm_load_pvh(d, cfg, err, errlen);
    if (rc)
        goto fail;
    /* xl.cfg's max_event_channels (libxl's default 1023): the highest port
     * the guest may allocate, so a guest cannot fill the host's memory
     * with ports (issue 14 defect 9). */
    struct evtchn_domain_config ec = {
        .domid = d->domid, .max_vcpus = nv,
        .max_evtchn_port = cfg->max_event_channels ? cfg->max_event_channels
                                                   : VMM_DEFAULT_MAX_EVENT_CHANNELS,
        .shared_info = (struct shared_info *)d->shinfo,
    };
    d->max_grant_frames = cfg->max_grant_frames ? cfg->max_grant_frames
                                                : VMM_DEFAULT_MAX_GRANT_FRAMES;
    d->max_maptrack_frames = !cfg->max_maptrack_frames ? VMM_DEFAULT_MAX_MAPTRACK_FRAMES
                             : cfg->max_maptrack_frames == VMM_NO_MAPTRACK
                                 ? 0 : cfg->max_maptrack_frames;
    rc = evtchn_domain_create(h->evtchn, &ec);
    if (rc) {
        snprintf(err, errlen, "event channels for '%s': %s", cfg->name,
                 strerror(-rc));
        goto fail;
    }
    rc = vmm_irq_domain_setup(d, &cfg->irq, err, errlen);
    if (rc)
        goto fail;
    struct hv_domain_config hc = {
        .domid = d->domid, .max_vcpus = nv, .ram_pages = mem / VMM_PAGE,
        .e820 = d->e820, .nr_e820 = d->nr_e820, .evtchn = h->evtchn,
        .ops = &vmm_hv_ops, .opaque = d, .pirq = h->pirq,
    };
    d->hv = hv_domain_create(&hc);
    if (!d->hv) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < nv && !rc; i++)
        rc = vcpu_setup(&d->vcpus[i], err, errlen);
    if (!rc) {
        rc = vmm_setup_boot_vcpu(&d->vcpus[0], d->entry, VMM_START_INFO_GPA);
        if (rc)
            snprintf(err, errlen, "cannot set the boot vCPU state: %s",
                     strerror(-rc));
    }
    if (!rc) {
        rc = vmm_console_init(d);
        if (rc)
            snprintf(err, errlen, "cannot set up the console: %s",
                     strerror(-rc));
    }
    if (!rc) {
        rc = vmm_store_domain_setup(d);
        if (rc)
            snprintf(err, errlen, "cannot set up XenStore for '%s': %s",
                     d->name, strerror(-rc));
    }
    if (rc)
        goto fail;
    d->vcpus[0].up = d->vcpus[0].initialised = true;
    pthread_mutex_lock(&h->lock);
    __atomic_store_n(&h->domains[d->domid], d, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&h->lock);
    *out = d;
    return 0;
fail:
    domain_free(d);
    return rc;
}

int vmm_domain_start(struct vmm_domain *d)
{
    pthread_mutex_lock(&d->lock);
    int rc = d->started ? -EALREADY : start_vcpu_thread(&d->vcpus[0]);
    if (!rc)
        d->started = true;
    pthread_mutex_unlock(&d->lock);
    if (!rc)
        vmm_log(d, "started (%u vCPU%s, %llu MiB)", d->nr_vcpus,
                d->nr_vcpus > 1 ? "s" : "",
                (unsigned long long)(d->ram_size >> 20));
    return rc;
}

void vmm_domain_kill(struct vmm_domain *d)
{
    domain_end(d, VMM_KILLED, SHUTDOWN_poweroff);
}

domid_t vmm_domain_id(const struct vmm_domain *d)
{
    return d->domid;
}

const char *vmm_domain_name(const struct vmm_domain *d)
{
    return d->name;
}

enum vmm_outcome vmm_domain_outcome(const struct vmm_domain *d,
                                    unsigned int *reason)
{
    enum vmm_outcome o = (enum vmm_outcome)atomic_load(&d->outcome);
    if (reason)
        *reason = d->shutdown_reason;
    return o;
}

int vmm_host_wait(struct vmm_host *h)
{
    return vmm_host_wait_timeout(h, -1);
}

int vmm_host_wait_timeout(struct vmm_host *h, int timeout_ms)
{
    uint64_t deadline = 0;
    if (timeout_ms >= 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        deadline = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 +
                   (uint64_t)timeout_ms;
    }
    atomic_store(&h->interrupted, false);
    for (;;) {
        int running = 0;
        for (int i = 1; i < VMM_MAX_DOMAINS; i++) {
            struct vmm_domain *d = find_domain(h, (domid_t)i);
            if (d && d->started && atomic_load(&d->threads_running) > 0)
                running++;
        }
        if (running == 0 || atomic_load(&h->interrupted))
            return running;
        int wait_ms = -1;
        if (deadline) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t now = (uint64_t)ts.tv_sec * 1000 +
                           (uint64_t)ts.tv_nsec / 1000000;
            if (now >= deadline)
                return running;
            wait_ms = (int)(deadline - now);
        }
        struct pollfd pfd = { .fd = h->wake_pipe[0], .events = POLLIN };
        int n = poll(&pfd, 1, wait_ms);
        char c;
        if (n > 0 && read(h->wake_pipe[0], &c, 1) < 0 && errno != EINTR)
            return running;
    }
}

void vmm_host_interrupt(struct vmm_host *h)
{
    atomic_store(&h->interrupted, true);
    char c = 2;
    if (write(h->wake_pipe[1], &c, 1) < 0) {
        /* nothing more an async-signal handler can do */
    }
}

/*
 * The host: /dev/kvm and what it must offer, the services every domain
 * shares (the event-channel core, the event loop of the dom0 services,
 * host interrupts, XenStore, the control socket), set up by an ordered
 * list of steps and torn down in reverse;
 * waiting for the domains to end; logging.
 */
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "vmm_int.h"

void vmm_log_prefix_set(struct vmm_domain *d)
{
    snprintf(d->log_prefix, sizeof(d->log_prefix),
             "xenkvm: domain '%s' (domid %u): ", d->name, d->domid);
}

void vmm_log(struct vmm_domain *d, const char *fmt, ...)
{
    if (d->h->cfg.quiet)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s%s\n", d->log_prefix, buf);
}

/* Guest-caused messages: within the domain's budget (util_ratelimit). */
void vmm_log_guest(struct vmm_domain *d, const char *fmt, ...)
{
    if (d->h->cfg.quiet)
        return;
    /* A guest may flood (Linux reads an absent PIT 100000 times): nothing
     * is formatted for a message the budget drops. */
    va_list ap;
    va_start(ap, fmt);
    util_vlog_ratelimited(&d->log_rl, stderr, d->log_prefix, fmt, ap);
    va_end(ap);
}

/* ---- set-up steps ---- */

/* The KVM capabilities every domain needs; a host without one cannot run
 * any guest, so it is refused here with the capability's name. */
static int kvm_check(int kfd, char *err, size_t errlen)
{
    if (ioctl(kfd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        snprintf(err, errlen, "/dev/kvm: unsupported KVM API version");
        return -ENODEV;
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
            return -ENODEV;
        }
    int sync = ioctl(kfd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
    if ((sync & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) !=
        (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) {
        snprintf(err, errlen, "/dev/kvm lacks KVM_CAP_SYNC_REGS for regs and "
                 "sregs (host kernel too old)");
        return -ENODEV;
    }
    return 0;
}

bool vmm_xen_hcall_usable(int cap_xen_hvm)
{
    return cap_xen_hvm > 0 &&
           (cap_xen_hvm & KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL);
}

/* KVM_GET_SUPPORTED_CPUID, growing the buffer until it fits. */
static struct kvm_cpuid2 *kvm_supported_cpuid(int kfd)
{
    for (int n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(struct kvm_cpuid2) +
                                      n * sizeof(struct kvm_cpuid_entry2));
        if (!c)
            return NULL;
        c->nent = (uint32_t)n;
        if (ioctl(kfd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            return c;
        free(c);
        if (errno != E2BIG)
            return NULL;
    }
    return NULL;
}

static int kvm_up(struct vmm_host *h, char *err, size_t errlen)
{
    /* XENKVM_DEV_KVM names another KVM device node (containers, tests). */
    const char *dev = getenv("XENKVM_DEV_KVM");
    if (!dev || !*dev)
        dev = "/dev/kvm";
    h->kvmfd = open(dev, O_RDWR | O_CLOEXEC);
    if (h->kvmfd < 0) {
        int e = errno;
        if (e == ENOENT)
            snprintf(err, errlen, "%s not found: this host has no KVM "
                     "(enable virtualization / load the kvm module)", dev);
        else
            snprintf(err, errlen, "cannot open %s: %s%s", dev, strerror(e),
                     e == EACCES ? " (join group 'kvm')" : "");
        return -e;
    }
    int rc = kvm_check(h->kvmfd, err, errlen);
    if (rc)
        return rc;
    h->vcpu_mmap_size = ioctl(h->kvmfd, KVM_GET_VCPU_MMAP_SIZE, 0);
    h->supported_cpuid = kvm_supported_cpuid(h->kvmfd);
    if (!h->supported_cpuid || h->vcpu_mmap_size <= 0) {
        snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
        return -ENODEV;
    }
    /* Does this KVM take an interrupt raised under IF=0 at the guest's STI?
     * XENKVM_IRQ_WINDOW=assist|native overrides the probe (tests). */
    const char *iw = getenv("XENKVM_IRQ_WINDOW");
    if (iw && !strcmp(iw, "assist")) {
        h->irqwin_assist = true;
    } else if (iw && !strcmp(iw, "native")) {
        h->irqwin_assist = false;
    } else {
        int late = vmm_probe_irq_window(h->kvmfd, VMM_PROBE_IF0, 4, NULL);
        h->irqwin_assist = late != 0;   /* late, or the probe itself failed */
    }
    /* VMCALL/VMMCALL of guests without a hypercall page: KVM_EXIT_XEN
     * where KVM offers it (CONFIG_KVM_XEN), else patched call sites
     * (vmm_hcall_patch.c). XENKVM_HCALL_ENTRY=patch forces the latter
     * (tests of the patching on any host). */
    const char *he = getenv("XENKVM_HCALL_ENTRY");
    h->xen_hcall = vmm_xen_hcall_usable(
        ioctl(h->kvmfd, KVM_CHECK_EXTENSION, KVM_CAP_XEN_HVM)) &&
        !(he && !strcmp(he, "patch"));
    vmm_vcpu_signals_init();
    return 0;
}

static void kvm_down(struct vmm_host *h)
{
    free(h->supported_cpuid);
    h->supported_cpuid = NULL;
    if (h->kvmfd >= 0)
        close(h->kvmfd);
    h->kvmfd = -1;
}

static int wake_up(struct vmm_host *h, char *err, size_t errlen)
{
    if (pipe2(h->wake_pipe, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

static void wake_down(struct vmm_host *h)
{
    if (h->wake_pipe[0] >= 0) {
        close(h->wake_pipe[0]);
        close(h->wake_pipe[1]);
    }
    h->wake_pipe[0] = h->wake_pipe[1] = -1;
}

static int evtchn_up(struct vmm_host *h, char *err, size_t errlen)
{
    struct evtchn_platform_ops ops;
    vmm_evtchn_ops(&ops);
    h->evtchn = evtchn_host_create(&ops, h);
    struct evtchn_domain_config d0 = { .domid = 0, .privileged = true,
                                       .max_vcpus = 1 };
    if (!h->evtchn || evtchn_domain_create(h->evtchn, &d0) < 0) {
        snprintf(err, errlen, "cannot create the event-channel core");
        return -ENOMEM;
    }
    return 0;
}

static void evtchn_down(struct vmm_host *h)
{
    if (!h->evtchn)
        return;
    evtchn_domain_destroy(h->evtchn, 0);
    evtchn_host_destroy(h->evtchn);
    h->evtchn = NULL;
}

/* The grant-table registry, and domain 0 in it: it has no table of its
 * own, only the maptrack its backends map the guests' grants with. */
static int gnttab_up(struct vmm_host *h, char *err, size_t errlen)
{
    h->gnttab = gnttab_host_create();
    struct gnttab_config c0 = {
        .domid = 0, .max_maptrack_frames = GNTTAB_DEFAULT_MAX_MAPTRACK_FRAMES,
    };
    if (!h->gnttab || !(h->gnttab0 = gnttab_create(h->gnttab, &c0))) {
        snprintf(err, errlen, "cannot create the grant tables");
        return -ENOMEM;
    }
    return 0;
}

static void gnttab_down(struct vmm_host *h)
{
    gnttab_destroy(h->gnttab0);
    h->gnttab0 = NULL;
    if (h->gnttab)
        gnttab_host_destroy(h->gnttab);
    h->gnttab = NULL;
}

/* The one event loop of the dom0 services, the host interrupts and the
 * control server. */
static int loop_up(struct vmm_host *h, char *err, size_t errlen)
{
    h->loop = util_loop_create();
    int rc = h->loop ? util_loop_start(h->loop, "xenkvm-dom0") : -errno;
    if (rc)
        snprintf(err, errlen, "cannot start the event loop: %s", strerror(-rc));
    return rc;
}

static void loop_stop(struct vmm_host *h)
{
    if (h->loop)
        util_loop_stop(h->loop);
}

static void loop_down(struct vmm_host *h)
{
    util_loop_destroy(h->loop);
    h->loop = NULL;
}

static int dom0pp_up(struct vmm_host *h, char *err, size_t errlen)
{
    if (h->cfg.dom0_pingpong && vmm_dom0pp_start(h)) {
        snprintf(err, errlen, "cannot start the domain-0 ping-pong service");
        return -ENOMEM;
    }
    return 0;
}

static int ctl_up(struct vmm_host *h, char *err, size_t errlen)
{
    if (!h->cfg.control_socket || !*h->cfg.control_socket)
        return 0;
    int rc = vmm_ctl_start(h, h->cfg.control_socket, err, errlen);
    if (rc && h->cfg.control_optional) {
        /* The default path: a second xenkvm runs without one. */
        if (!h->cfg.quiet)
            fprintf(stderr, "xenkvm: %s; running without a control socket\n",
                    err);
        err[0] = '\0';
        rc = 0;
    }
    return rc;
}

/* Set-up in this order; vmm_host_destroy first runs the stops of the
 * steps done, last first (no service thread touches a domain after
 * that), frees the domains, then runs the downs, last first. A failed
 * step's own stop and down run too: they undo whatever part was done. */
static const struct vmm_host_step {
    const char *what;
    int (*up)(struct vmm_host *h, char *err, size_t errlen);
    void (*stop)(struct vmm_host *h);    /* quiesce, before domains go */
    void (*down)(struct vmm_host *h);    /* free, after the domains */
} host_steps[] = {
    { "KVM", kvm_up, NULL, kvm_down },
    { "wake pipe", wake_up, NULL, wake_down },
    { "event channels", evtchn_up, NULL, evtchn_down },
    { "grant tables", gnttab_up, NULL, gnttab_down },
    { "event loop", loop_up, loop_stop, loop_down },
    { "host interrupts", vmm_irq_init, vmm_irq_stop, vmm_irq_fini },
    { "XenStore", vmm_store_init, NULL, vmm_store_fini },
    { "block backend", vmm_blk_init, NULL, vmm_blk_fini },
    { "network backend", vmm_net_init, NULL, vmm_net_fini },
    { "dom0 ping-pong", dom0pp_up, vmm_dom0pp_stop, NULL },
    { "control socket", ctl_up, vmm_ctl_stop, NULL },
};
#define NR_HOST_STEPS (sizeof(host_steps) / sizeof(host_steps[0]))

struct vmm_host *vmm_host_create(const struct vmm_host_config *cfg,
                                 char *err, size_t errlen)
{
    struct vmm_host *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        /* The host owns a caller's ICU from the start. */
        if (cfg && cfg->icu)
            irq_icu_destroy(cfg->icu);
        return NULL;
    }
    if (cfg)
        h->cfg = *cfg;
    h->console = h->cfg.console ? h->cfg.console : stdout;
    h->kvmfd = -1;
    h->wake_pipe[0] = h->wake_pipe[1] = -1;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->net_lock, NULL);
    pthread_mutex_init(&h->sink_lock, NULL);
    while (h->steps_done < NR_HOST_STEPS) {
        if (host_steps[h->steps_done++].up(h, err, errlen)) {
            vmm_host_destroy(h);
            return NULL;
        }
    }
    return h;
}

struct evtchn_host *vmm_host_evtchn(struct vmm_host *h)
{
    return h->evtchn;
}

void vmm_host_destroy(struct vmm_host *h)
{
    if (!h)
        return;
    vmm_domains_stop_all(h);
    for (size_t i = h->steps_done; i-- > 0;)
        if (host_steps[i].stop)
            host_steps[i].stop(h);
    vmm_domains_free_all(h);
    while (h->steps_done > 0) {
        const struct vmm_host_step *s = &host_steps[--h->steps_done];
        if (s->down)
            s->down(h);
    }
    /* A caller's ICU not taken over (a step before "host interrupts"
     * failed) is still ours to free. */
    if (h->cfg.icu)
        irq_icu_destroy(h->cfg.icu);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->sink_lock);
    pthread_mutex_destroy(&h->net_lock);
    free(h);
}

/* ---- waiting ---- */

int vmm_host_wait(struct vmm_host *h)
{
    return vmm_host_wait_timeout(h, -1);
}

/* Started domains that still have vCPU threads. */
static int running_domains(struct vmm_host *h)
{
    int running = 0;
    for (int i = 1; i < VMM_MAX_DOMAINS; i++) {
        struct vmm_domain *d = vmm_domain_find(h, (domid_t)i);
        if (d && d->started && atomic_load(&d->threads_running) > 0)
            running++;
    }
    return running;
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
        int running = running_domains(h);
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

int vmm_host_wait_event(struct vmm_host *h, int timeout_ms)
{
    /* A domain that ended since the last call left its byte in the pipe:
     * poll returns at once then. */
    struct pollfd pfd = { .fd = h->wake_pipe[0], .events = POLLIN };
    if (poll(&pfd, 1, timeout_ms) > 0) {
        char c;
        if (read(h->wake_pipe[0], &c, 1) < 0) {
            /* EINTR/EAGAIN: the caller looks again either way */
        }
    }
    return running_domains(h);
}

void vmm_host_interrupt(struct vmm_host *h)
{
    atomic_store(&h->interrupted, true);
    char c = 2;
    if (write(h->wake_pipe[1], &c, 1) < 0) {
        /* nothing more an async-signal handler can do */
    }
}

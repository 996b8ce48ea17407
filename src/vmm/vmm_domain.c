/*
 * Domains: building one (an ordered list of set-up steps whose teardowns
 * run in reverse, on failure and at the end), starting, stopping and
 * ending it, and finding it by domid.
 */
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <xen/hvm/params.h>
#include <xen/sched.h>

#include "vmm_int.h"

struct vmm_domain *vmm_domain_find(struct vmm_host *h, domid_t dom)
{
    if (dom == 0 || dom >= VMM_MAX_DOMAINS)
        return NULL;
    /* Entries are published once and never freed before the host. */
    return __atomic_load_n(&h->domains[dom], __ATOMIC_ACQUIRE);
}

const char *vmm_shutdown_name(unsigned int r)
{
    static const char *const n[] = { "poweroff", "reboot", "suspend", "crash",
                                     "watchdog", "soft_reset" };
    return r < sizeof(n) / sizeof(n[0]) ? n[r] : "unknown";
}

void vmm_domain_stop(struct vmm_domain *d)
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
void vmm_domain_end(struct vmm_domain *d, enum vmm_outcome o,
                       unsigned int reason)
{
    int expect = VMM_RUNNING;
    if (atomic_compare_exchange_strong(&d->outcome, &expect, (int)o)) {
        d->shutdown_reason = reason;
        if (o == VMM_SHUTDOWN || o == VMM_CRASHED)
            vmm_log(d, "%s (%s)", o == VMM_SHUTDOWN ? "shut down" : "crashed",
                    vmm_shutdown_name(reason));
        else
            vmm_log(d, "destroyed");
    }
    vmm_domain_stop(d);
}

/* ---- set-up steps ---- */

static int vm_up(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                 char *err, size_t errlen)
{
    (void)cfg;
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
    if (d->h->xen_hcall) {
        /* VMCALL/VMMCALL exit to us as KVM_EXIT_XEN (vmm_vcpu.c). msr 0:
         * the hypercall-page MSR stays ours, through the filter above. */
        struct kvm_xen_hvm_config xc = {
            .flags = KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL,
        };
        if (ioctl(d->vmfd, KVM_XEN_HVM_CONFIG, &xc) < 0) {
            snprintf(err, errlen, "KVM_XEN_HVM_CONFIG: %s", strerror(errno));
            return -errno;
        }
        d->xen_hcall = true;
    }
    return 0;
}

static void vm_down(struct vmm_domain *d)
{
    if (d->vmfd >= 0)
        close(d->vmfd);
    d->vmfd = -1;
}

static int mem_up(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                  char *err, size_t errlen)
{
    (void)cfg;
    return vmm_mem_init(d, err, errlen);
}

static int evtchn_up(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                     char *err, size_t errlen)
{
    /* xl.cfg's max_event_channels (libxl's default 1023): the highest port
     * the guest may allocate, so a guest cannot fill the host's memory
     * with ports (issue 14 defect 9). */
    struct evtchn_domain_config ec = {
        .domid = d->domid, .max_vcpus = d->nr_vcpus,
        .max_evtchn_port = cfg->max_event_channels ? cfg->max_event_channels
                                                   : VMM_DEFAULT_MAX_EVENT_CHANNELS,
        .shared_info = (struct shared_info *)d->shinfo,
    };
    int rc = evtchn_domain_create(d->h->evtchn, &ec);
    if (rc)
        snprintf(err, errlen, "event channels for '%s': %s", d->name,
                 strerror(-rc));
    return rc;
}

static void evtchn_down(struct vmm_domain *d)
{
    if (evtchn_domain_shared_info(d->h->evtchn, d->domid))  /* was made */
        evtchn_domain_destroy(d->h->evtchn, d->domid);
}

static int gnttab_up(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                     char *err, size_t errlen)
{
    (void)cfg;
    struct gnttab_config gc = {
        .domid = d->domid, .max_frames = d->max_grant_frames,
        .max_maptrack_frames = d->max_maptrack_frames,
        .pages = d->shinfo + VMM_XP_GNTTAB * VMM_PAGE,
        .ops = &vmm_gnttab_ops, .opaque = d,
    };
    d->gnttab = gnttab_create(d->h->gnttab, &gc);
    if (!d->gnttab) {
        snprintf(err, errlen, "cannot create the grant table of '%s'", d->name);
        return -ENOMEM;
    }
    return 0;
}

static void gnttab_down(struct vmm_domain *d)
{
    gnttab_destroy(d->gnttab);
    d->gnttab = NULL;
}

static int irq_up(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                  char *err, size_t errlen)
{
    return vmm_irq_domain_setup(d, &cfg->irq, err, errlen);
}

static int hv_up(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                 char *err, size_t errlen)
{
    (void)cfg;
    struct hv_domain_config hc = {
        .domid = d->domid, .max_vcpus = d->nr_vcpus,
        .ram_pages = d->ram_size / VMM_PAGE,
        /* libxl: maxmem plus LIBXL_MAXMEM_CONSTANT (1 MiB) */
        .max_pages = (d->max_mem_bytes + (1ull << 20)) / VMM_PAGE,
        .e820 = d->e820, .nr_e820 = d->nr_e820, .evtchn = d->h->evtchn,
        .ops = &vmm_hv_ops, .opaque = d, .pirq = d->h->pirq,
        .gnttab = d->gnttab, .gnttab_host = d->h->gnttab,
    };
    d->hv = hv_domain_create(&hc);
    if (!d->hv) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

static void hv_down(struct vmm_domain *d)
{
    if (d->hv)
        hv_domain_destroy(d->hv);
    d->hv = NULL;
}

static int vcpus_up(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                    char *err, size_t errlen)
{
    (void)cfg;
    int rc = 0;
    for (uint32_t i = 0; i < d->nr_vcpus && !rc; i++)
        rc = vmm_vcpu_setup(&d->vcpus[i], err, errlen);
    if (!rc) {
        rc = vmm_setup_boot_vcpu(&d->vcpus[0], d->entry, VMM_START_INFO_GPA);
        if (rc)
            snprintf(err, errlen, "cannot set the boot vCPU state: %s",
                     strerror(-rc));
    }
    return rc;
}

static void vcpus_down(struct vmm_domain *d)
{
    for (uint32_t i = 0; i < d->nr_vcpus; i++)
        vmm_vcpu_teardown(&d->vcpus[i]);
}

/* The console's guest-caused messages go through the domain's log budget. */
static void console_log(void *opaque, const char *msg)
{
    vmm_log_guest(opaque, "%s", msg);
}

static int console_up(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                      char *err, size_t errlen)
{
    (void)cfg;
    struct be_console_config cc = {
        .evtchn = d->h->evtchn, .domid = d->domid, .name = d->name,
        .ring = d->special + VMM_SPECIAL_CONSOLE * VMM_PAGE, .hv = d->hv,
        .out = d->h->console, .prefix = d->h->cfg.prefix_console,
        .loop = d->h->loop, .log = console_log, .log_opaque = d,
    };
    int rc = be_console_create(&cc, &d->con.be, &d->con.guest_port);
    if (rc) {
        snprintf(err, errlen, "cannot set up the console: %s", strerror(-rc));
        return rc;
    }
    hv_set_param(d->hv, HVM_PARAM_CONSOLE_PFN,
                 VMM_SPECIAL_GPA / VMM_PAGE + VMM_SPECIAL_CONSOLE);
    hv_set_param(d->hv, HVM_PARAM_CONSOLE_EVTCHN, d->con.guest_port);
    return 0;
}

static void console_down(struct vmm_domain *d)
{
    be_console_destroy(d->con.be);
    d->con.be = NULL;
}

static int store_up(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                    char *err, size_t errlen)
{
    (void)cfg;
    int rc = vmm_store_domain_setup(d);
    if (rc)
        snprintf(err, errlen, "cannot set up XenStore for '%s': %s", d->name,
                 strerror(-rc));
    return rc;
}

static void vifs_down(struct vmm_domain *d)
{
    vmm_vifs_release(d);
    free(d->vifs);
    d->vifs = NULL;
    d->nr_vifs = 0;
}

static void disks_down(struct vmm_domain *d)
{
    vmm_disks_release(d);
    free(d->disks);
    d->disks = NULL;
    d->nr_disks = 0;
}

/* Set-up in this order; teardown (a failed create, the host's end) runs
 * the downs of the steps done, last first, the failed one included: a
 * down undoes whatever part of its step was done. Why this order: memory before
 * the loader and before evtchn (shared_info); host lines after the VM
 * (IOAPIC pins are irqfds of the VM, so they go before the VM fd closes);
 * hypercalls once evtchn and the PIRQ router know the domain; the console
 * and XenStore late, as they offer ports to a guest that must exist;
 * disks and vifs after XenStore (their directories live there), and
 * removed before it. */
static const struct vmm_domain_step {
    const char *what;
    int (*up)(struct vmm_domain *d, const struct vmm_domain_config *cfg,
              char *err, size_t errlen);
    void (*down)(struct vmm_domain *d);      /* NULL: nothing to undo */
} domain_steps[] = {
    { "KVM VM", vm_up, vm_down },
    { "memory", mem_up, vmm_mem_fini },
    { "kernel", vmm_load_pvh, NULL },
    { "event channels", evtchn_up, evtchn_down },
    { "grant table", gnttab_up, gnttab_down },
    { "host interrupts", irq_up, vmm_irq_domain_free },
    { "hypercalls", hv_up, hv_down },
    { "vCPUs", vcpus_up, vcpus_down },
    { "console", console_up, console_down },
    { "XenStore", store_up, vmm_store_domain_release },
    { "disks", vmm_disks_setup, disks_down },
    { "vifs", vmm_vifs_setup, vifs_down },
};
#define NR_DOMAIN_STEPS (sizeof(domain_steps) / sizeof(domain_steps[0]))

/* Undo every step done, last first, and free d. */
static void domain_free(struct vmm_domain *d)
{
    while (d->steps_done > 0) {
        const struct vmm_domain_step *s = &domain_steps[--d->steps_done];
        if (s->down)
            s->down(d);
    }
    free(d->vcpus);
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->dbg_lock);
    pthread_mutex_destroy(&d->disk_lock);
    pthread_mutex_destroy(&d->vif_lock);
    pthread_cond_destroy(&d->vcpu_cv);
    free(d);
}

/* Check cfg and allocate the domain (not yet set up): 0 or -errno with
 * the reason in err. */
static int domain_alloc(const struct vmm_domain_config *cfg,
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
    uint64_t maxmem = cfg->max_mem_bytes ? cfg->max_mem_bytes : mem;
    if (maxmem > mem) {
        snprintf(err, errlen, "domain '%s': maxmem (%llu MiB) above memory "
                 "(%llu MiB) needs populate-on-demand, which xenkvm does not "
                 "have", cfg->name, (unsigned long long)(maxmem >> 20),
                 (unsigned long long)(mem >> 20));
        return -EINVAL;
    }
    if (maxmem < mem) {
        /* libxl's build would fail to populate memory beyond maxmem */
        snprintf(err, errlen, "domain '%s': maxmem (%llu MiB) below memory "
                 "(%llu MiB)", cfg->name, (unsigned long long)(maxmem >> 20),
                 (unsigned long long)(mem >> 20));
        return -EINVAL;
    }
    uint32_t nv = cfg->vcpus ? cfg->vcpus : 1;
    if (nv > VMM_MAX_VCPUS) {
        snprintf(err, errlen, "domain '%s': at most %d vCPUs", cfg->name,
                 VMM_MAX_VCPUS);
        return -EINVAL;
    }
    struct vmm_domain *d = calloc(1, sizeof(*d));
    struct vmm_vcpu *vcpus = calloc(nv, sizeof(*vcpus));
    if (!d || !vcpus) {
        free(d);
        free(vcpus);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->vcpus = vcpus;
    d->vmfd = d->memfd = -1;
    snprintf(d->name, sizeof(d->name), "%s", cfg->name);
    d->ram_size = mem;
    d->max_mem_bytes = maxmem;
    d->nr_vcpus = nv;
    d->on_poweroff = cfg->on_poweroff;
    d->on_reboot = cfg->on_reboot;
    d->on_crash = cfg->on_crash;
    d->on_watchdog = cfg->on_watchdog;
    d->max_grant_frames = cfg->max_grant_frames ? cfg->max_grant_frames
                                                : VMM_DEFAULT_MAX_GRANT_FRAMES;
    d->max_maptrack_frames = !cfg->max_maptrack_frames ? VMM_DEFAULT_MAX_MAPTRACK_FRAMES
                             : cfg->max_maptrack_frames == VMM_NO_MAPTRACK
                                 ? 0 : cfg->max_maptrack_frames;
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->dbg_lock, NULL);
    pthread_mutex_init(&d->disk_lock, NULL);
    pthread_mutex_init(&d->vif_lock, NULL);
    pthread_cond_init(&d->vcpu_cv, NULL);
    atomic_store(&d->outcome, VMM_RUNNING);
    for (uint32_t i = 0; i < nv; i++) {
        d->vcpus[i].d = d;
        d->vcpus[i].id = i;
        d->vcpus[i].fd = -1;
    }
    *out = d;
    return 0;
}

/* A free domid for a domain named name (unique): > 0, or -errno. */
enum vmm_action vmm_domain_end_action(const struct vmm_domain *d)
{
    unsigned int reason;
    switch (vmm_domain_outcome(d, &reason)) {
    case VMM_SHUTDOWN:
        return reason == SHUTDOWN_reboot ? d->on_reboot :
               reason == SHUTDOWN_crash ? d->on_crash :
               reason == SHUTDOWN_watchdog ? d->on_watchdog : d->on_poweroff;
    case VMM_CRASHED:
        return d->on_crash;
    default:
        return VMM_ACTION_DESTROY;
    }
}

bool vmm_domain_gone(const struct vmm_domain *d)
{
    return d->started && vmm_domain_outcome(d, NULL) != VMM_RUNNING &&
           atomic_load(&d->threads_running) == 0;
}

bool vmm_domain_visible(const struct vmm_domain *d)
{
    if (vmm_domain_outcome(d, NULL) == VMM_RUNNING ||
        atomic_load(&d->threads_running) > 0)
        return true;
    return vmm_domain_end_action(d) == VMM_ACTION_PRESERVE;
}

static int domid_pick(struct vmm_host *h, const char *name, char *err,
                      size_t errlen)
{
    pthread_mutex_lock(&h->lock);
    int id = 0;
    for (int i = 1; i < VMM_MAX_DOMAINS; i++) {
        /* An ended domain that is gone for the tools leaves its name free
         * (a restart builds the domain again under it). */
        if (h->domains[i] && !strcmp(h->domains[i]->name, name) &&
            vmm_domain_visible(h->domains[i])) {
            pthread_mutex_unlock(&h->lock);
            snprintf(err, errlen, "a domain named '%s' already exists", name);
            return -EEXIST;
        }
        if (!h->domains[i] && !id)
            id = i;
    }
    pthread_mutex_unlock(&h->lock);
    if (!id) {
        snprintf(err, errlen, "too many domains (at most %d)",
                 VMM_MAX_DOMAINS - 1);
        return -ENOSPC;
    }
    return id;
}

int vmm_domain_create(struct vmm_host *h, const struct vmm_domain_config *cfg,
                      struct vmm_domain **out, char *err, size_t errlen)
{
    struct vmm_domain *d;
    int rc = domain_alloc(cfg, &d, err, errlen);
    if (rc)
        return rc;
    d->h = h;
    rc = domid_pick(h, cfg->name, err, errlen);
    if (rc < 0) {
        domain_free(d);
        return rc;
    }
    d->domid = (domid_t)rc;
    vmm_log_prefix_set(d);
    for (rc = 0; d->steps_done < NR_DOMAIN_STEPS; d->steps_done++) {
        rc = domain_steps[d->steps_done].up(d, cfg, err, errlen);
        if (rc) {
            d->steps_done++;        /* its down undoes what it did */
            domain_free(d);
            return rc;
        }
    }
    d->vcpus[0].up = d->vcpus[0].initialised = true;
    /* The APs are down until INIT/SIPI or VCPUOP_up (Xen's _VPF_down). */
    for (uint32_t i = 1; i < d->nr_vcpus; i++)
        atomic_store(&d->vcpus[i].down, true);
    pthread_mutex_lock(&h->lock);
    __atomic_store_n(&h->domains[d->domid], d, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&h->lock);
    *out = d;
    return 0;
}

/* XENKVM_HCALL_STATS: the hypercalls a domain made, "name/subop xN", a
 * few to a line (what a guest needs of us, e.g. a Linux boot's list). */
struct stats_line {
    struct vmm_domain *d;
    char buf[160];
    size_t len;
};

static void stats_flush(struct stats_line *l)
{
    if (l->len)
        vmm_log(l->d, "hypercalls made:%s", l->buf);
    l->len = 0;
    l->buf[0] = '\0';
}

static void stats_one(void *arg, const char *name, unsigned int nr,
                      unsigned int subop, uint64_t count)
{
    struct stats_line *l = arg;
    char item[64], nm[16];
    if (!name)
        snprintf(nm, sizeof(nm), "#%u", nr);
    if (subop == HV_STAT_SUBOPS - 1)
        snprintf(item, sizeof(item), " %s/* x%llu", name ? name : nm,
                 (unsigned long long)count);
    else
        snprintf(item, sizeof(item), " %s/%u x%llu", name ? name : nm, subop,
                 (unsigned long long)count);
    if (l->len + strlen(item) >= 100)
        stats_flush(l);
    l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%s", item);
}

void vmm_domain_dead(struct vmm_domain *d)
{
    atomic_store(&d->end_ns, vmm_now_ns());
    if (getenv("XENKVM_HCALL_STATS")) {
        struct stats_line l = { .d = d };
        hv_call_stats(d->hv, stats_one, &l);
        stats_flush(&l);
    }
    /* Its host lines go first: a line it left in flight must not stay
     * masked for the others. */
    vmm_irq_domain_dead(d);
    be_console_flush(d->con.be);
    be_console_hangup(d->con.be);    /* an attached `xenkvm console` ends */
    /* Its backends let its pages go before the memory is released. */
    vmm_disks_release(d);
    vmm_vifs_release(d);
    vmm_store_domain_release(d);
    if (vmm_domain_end_action(d) != VMM_ACTION_PRESERVE)
        vmm_mem_release(d);
    char c = 1;
    if (write(d->h->wake_pipe[1], &c, 1) < 0) {
        /* the waiter re-counts anyway */
    }
}

void vmm_domains_stop_all(struct vmm_host *h)
{
    for (int i = 1; i < VMM_MAX_DOMAINS; i++)
        if (h->domains[i])
            vmm_domain_stop(h->domains[i]);
    for (int i = 1; i < VMM_MAX_DOMAINS; i++) {
        struct vmm_domain *d = h->domains[i];
        if (!d)
            continue;
        for (uint32_t j = 0; j < d->nr_vcpus; j++)
            if (d->vcpus[j].thread_started)
                pthread_join(d->vcpus[j].thread, NULL);
        vmm_disks_release(d);
        vmm_vifs_release(d);
        vmm_store_domain_release(d);
    }
}

void vmm_domains_free_all(struct vmm_host *h)
{
    for (int i = 1; i < VMM_MAX_DOMAINS; i++) {
        if (h->domains[i])
            domain_free(h->domains[i]);
        h->domains[i] = NULL;
    }
}

int vmm_domain_start(struct vmm_domain *d)
{
    pthread_mutex_lock(&d->lock);
    /* Every vCPU's thread: the APs wait in KVM_RUN (KVM holds them until
     * INIT/SIPI from the guest's LAPIC) or for VCPUOP_up's context. */
    int rc = d->started ? -EALREADY : 0;
    for (uint32_t i = 0; !rc && i < d->nr_vcpus; i++)
        rc = vmm_vcpu_start_thread(&d->vcpus[i]);
    if (rc && !d->started)
        vmm_domain_stop(d);     /* the started ones leave again */
    if (!rc) {
        d->started = true;
        atomic_store(&d->start_ns, vmm_now_ns());
    }
    pthread_mutex_unlock(&d->lock);
    if (!rc)
        vmm_log(d, "started (%u vCPU%s, %llu MiB)", d->nr_vcpus,
                d->nr_vcpus > 1 ? "s" : "",
                (unsigned long long)(d->ram_size >> 20));
    return rc;
}

void vmm_domain_kill(struct vmm_domain *d)
{
    vmm_domain_end(d, VMM_KILLED, SHUTDOWN_poweroff);
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


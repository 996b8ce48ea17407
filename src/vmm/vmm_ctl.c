/*
 * The VMM's control verbs, on the one control server (src/ctl,
 * docs/control.md) that `xenkvm run --control PATH` (or the default path)
 * serves on the host's event loop:
 *
 *   list [DOMAIN]        xl list: Name, ID, Mem, VCPUs, State, Time(s)
 *   console DOMAIN       attach to the guest's console (streaming)
 *   shutdown DOMAIN      write "poweroff" to its control/shutdown, as xl
 *   destroy DOMAIN       stop it now; the other domains go on
 *   mem-set DOMAIN MIB   balloon target: memory/target, max_pages, as xl
 *   evtchn list [DOMID]  every port of every domain (or one), like lsevtchn
 *   irq list, irq raise LINE   (src/ctl/ctl_irq.c)
 *
 * Handlers run in the loop's thread and never wait: they read domain state
 * (atomics, or d->lock for a moment), ask a domain to stop, or write one
 * store node. A DOMAIN is a name or a domid, as xl takes it.
 */
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "xenkvm/ctl.h"

#include "vmm_int.h"

struct vmm_ctl {
    struct ctl_server *srv;
    struct ctl_irq_verbs irq;
    uint64_t start_ns;            /* Domain-0's uptime starts here */
};

uint64_t vmm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- domains as xl sees them ---- */

/* The domain a request names (a domid or a name), or NULL after
 * answering xl's error. */
static struct vmm_domain *find(struct vmm_host *h, struct ctl_req *req,
                               const char *arg)
{
    char *end;
    errno = 0;
    long id = strtol(arg, &end, 10);
    struct vmm_domain *d = NULL;
    if (!errno && !*end && end != arg) {
        d = id > 0 && id < VMM_MAX_DOMAINS ? vmm_domain_find(h, (domid_t)id)
                                           : NULL;
    } else {
        for (int i = 1; i < VMM_MAX_DOMAINS && !d; i++) {
            struct vmm_domain *c = vmm_domain_find(h, (domid_t)i);
            if (c && vmm_domain_visible(c) && !strcmp(c->name, arg))
                d = c;
        }
    }
    if (!d || !vmm_domain_visible(d)) {
        ctl_req_error(req, "%.64s is an invalid domain identifier", arg);
        return NULL;
    }
    return d;
}

static bool running(const struct vmm_domain *d)
{
    return d->started && vmm_domain_outcome(d, NULL) == VMM_RUNNING &&
           atomic_load(&d->threads_running) > 0;
}

/* xl's six state flags: r(unning) b(locked) p(aused) s(hutdown), the
 * shutdown reason (-rscwS: poweroff shows '-', crash 'c'), d(ying). We
 * cannot tell a vCPU halted inside KVM from a running one, so a live
 * domain is 'r', never 'b'; a domain built but not started is 'p'. */
static void state_flags(const struct vmm_domain *d, char out[7])
{
    static const char reasons[] = "-rscwS";
    unsigned int reason;
    enum vmm_outcome o = vmm_domain_outcome(d, &reason);
    bool live = atomic_load(&d->threads_running) > 0;
    bool shut = o == VMM_SHUTDOWN || o == VMM_CRASHED;
    if (o == VMM_CRASHED)
        reason = 3;                 /* SHUTDOWN_crash */
    out[0] = d->started && o == VMM_RUNNING && live ? 'r' : '-';
    out[1] = '-';
    out[2] = !d->started && o == VMM_RUNNING ? 'p' : '-';
    out[3] = shut ? 's' : '-';
    out[4] = shut && reason < sizeof(reasons) - 1 ? reasons[reason] : '-';
    out[5] = o != VMM_RUNNING && live ? 'd' : '-';
    out[6] = '\0';
}

static unsigned int vcpus_online(struct vmm_domain *d)
{
    unsigned int n = 0;
    for (uint32_t i = 0; i < d->nr_vcpus; i++)
        n += !atomic_load(&d->vcpus[i].down);
    return n;
}

/* Time(s): seconds since the domain started (frozen at its end). */
static double uptime_s(const struct vmm_domain *d)
{
    uint64_t start = atomic_load(&d->start_ns);
    uint64_t end = atomic_load(&d->end_ns);
    if (!start)
        return 0;
    return (double)((end ? end : vmm_now_ns()) - start) / 1e9;
}

#define LIST_ROW "%-40s %5u %5lu %5u     %s  %8.1f\n"

static void list(void *opaque, struct ctl_req *req)
{
    struct vmm_host *h = opaque;
    if (req->argc > 1) {
        ctl_req_usage(req);
        return;
    }
    struct vmm_domain *only = req->argc ? find(h, req, req->argv[0]) : NULL;
    if (req->argc && !only)
        return;
    fprintf(req->out, "Name                                        ID   Mem "
            "VCPUs\tState\tTime(s)\n");
    if (!only) {
        /* Domain 0 is this process on the host: the host's memory and
         * CPUs, up since the VMM started. */
        struct sysinfo si;
        unsigned long mem = sysinfo(&si) ? 0 :
            (unsigned long)((uint64_t)si.totalram * si.mem_unit >> 20);
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        fprintf(req->out, LIST_ROW, "Domain-0", 0u, mem,
                cpus > 0 ? (unsigned int)cpus : 1u, "r-----",
                (double)(vmm_now_ns() - h->ctl->start_ns) / 1e9);
    }
    for (int i = 1; i < VMM_MAX_DOMAINS; i++) {
        struct vmm_domain *d = vmm_domain_find(h, (domid_t)i);
        if (!d || !vmm_domain_visible(d) || (only && d != only))
            continue;
        char st[7];
        state_flags(d, st);
        fprintf(req->out, LIST_ROW, d->name, (unsigned int)d->domid,
                (unsigned long)(d->ram_size >> 20), vcpus_online(d), st,
                uptime_s(d));
    }
}

/* ---- console, shutdown, destroy ---- */

/* The DOMAIN argument (the first of argc) of a verb, or NULL after
 * answering: the usage, xl's unknown-domain error, or (must_run) that the
 * domain is not running. */
static struct vmm_domain *verb_domain(struct vmm_host *h, struct ctl_req *req,
                                      int argc, bool must_run)
{
    if (req->argc != argc) {
        ctl_req_usage(req);
        return NULL;
    }
    struct vmm_domain *d = find(h, req, req->argv[0]);
    if (d && must_run && !running(d)) {
        ctl_req_error(req, "domain %s is not running", d->name);
        return NULL;
    }
    return d;
}

static void console(void *opaque, struct ctl_req *req)
{
    struct vmm_domain *d = verb_domain(opaque, req, 1, true);
    if (!d)
        return;
    /* One client at a time, as xenconsoled: two keyboards typing into one
     * ring would interleave, and a second reader would take output from
     * the first. Only this thread attaches, so the check holds. */
    if (be_console_attached(d->con.be)) {
        ctl_req_error(req, "the console of %s is in use by another "
                      "client (one `xenkvm console` at a time)", d->name);
        return;
    }
    int fd = ctl_req_take(req);
    if (fd < 0)
        return;
    /* Fails only if the domain ended meanwhile: the client sees EOF. */
    if (be_console_attach(d->con.be, fd) < 0)
        close(fd);
}

static void request(void *opaque, struct ctl_req *req, bool reboot)
{
    struct vmm_domain *d = verb_domain(opaque, req, 1, true);
    if (!d)
        return;
    int rc = vmm_domain_request_shutdown(d, reboot);
    if (rc)
        ctl_req_error(req, "cannot ask %s to %s: %s", d->name,
                      reboot ? "reboot" : "shut down", strerror(-rc));
}

static void shutdown_verb(void *opaque, struct ctl_req *req)
{
    request(opaque, req, false);
}

static void reboot_verb(void *opaque, struct ctl_req *req)
{
    request(opaque, req, true);
}

/* mem-set DOMAIN MIB: the balloon target, as `xl mem-set` (libxl has no
 * floor for a domU; above static-max its error). */
static void mem_set(void *opaque, struct ctl_req *req)
{
    struct vmm_domain *d = verb_domain(opaque, req, 2, true);
    if (!d)
        return;
    char *end;
    errno = 0;
    unsigned long long mib = strtoull(req->argv[1], &end, 10);
    if (errno || end == req->argv[1] || *end || req->argv[1][0] == '-' ||
        mib > (1ull << 32)) {
        ctl_req_error(req, "invalid memory size: %s", req->argv[1]);
        return;
    }
    if ((mib << 20) > d->max_mem_bytes) {
        ctl_req_error(req, "memory_dynamic_max must be less than or equal "
                      "to memory_static_max (%llu MiB)",
                      (unsigned long long)(d->max_mem_bytes >> 20));
        return;
    }
    int rc = vmm_domain_set_target(d, mib << 10);
    if (rc)
        ctl_req_error(req, "cannot set the memory target of %s: %s", d->name,
                      strerror(-rc));
}

/* block-detach DOMAIN VDEV: the disk leaves as with `xl block-detach`
 * (the frontend is asked to close; the answer does not wait for it). */
static void block_detach(void *opaque, struct ctl_req *req)
{
    struct vmm_domain *d = verb_domain(opaque, req, 2, true);
    if (!d)
        return;
    if (vmm_disk_detach(d, req->argv[1]))
        ctl_req_error(req, "domain %s has no disk %s", d->name, req->argv[1]);
}

static void destroy(void *opaque, struct ctl_req *req)
{
    struct vmm_domain *d = verb_domain(opaque, req, 1, false);
    if (d)
        vmm_domain_kill(d);
}

/* ---- evtchn list ---- */

struct evl_ctx {
    FILE *out;
    domid_t dom;
};

static void evtchn_row(void *arg, const struct evtchn_port_info *pi)
{
    struct evl_ctx *c = arg;
    char peer[48];
    switch (pi->state) {
    case EVTCHN_STATE_UNBOUND:
        snprintf(peer, sizeof(peer), "dom%u", (unsigned int)pi->remote_dom);
        break;
    case EVTCHN_STATE_INTERDOMAIN:
        snprintf(peer, sizeof(peer), "dom%u port %u",
                 (unsigned int)pi->remote_dom, pi->remote_port);
        break;
    case EVTCHN_STATE_VIRQ:
        snprintf(peer, sizeof(peer), "virq %u", pi->virq);
        break;
    case EVTCHN_STATE_PIRQ:
        snprintf(peer, sizeof(peer), "pirq %u", pi->pirq);
        break;
    default:
        snprintf(peer, sizeof(peer), "-");
    }
    fprintf(c->out, "%-4u %-6u %-12s %-5u %-16s %-5s %-5s %-5u %s\n",
            (unsigned int)c->dom, pi->port, evtchn_state_name(pi->state),
            pi->vcpu, peer, pi->pending ? "yes" : "no",
            pi->masked ? "yes" : "no", (unsigned int)pi->priority,
            pi->host_consumer ? "host" : "-");
}

static void evtchn_list_dom(struct vmm_host *h, struct ctl_req *req,
                            domid_t dom)
{
    struct vmm_domain *d = vmm_domain_find(h, dom);
    int abi = evtchn_domain_abi(h->evtchn, dom);
    const char *state = "";
    if (d)
        switch (vmm_domain_outcome(d, NULL)) {
        case VMM_RUNNING: state = d->started ? "running" : "created"; break;
        case VMM_SHUTDOWN: state = "shut down"; break;
        case VMM_CRASHED: state = "crashed"; break;
        case VMM_KILLED: state = "destroyed"; break;
        }
    fprintf(req->out, "# dom%u %s: %s ABI%s%s\n", (unsigned int)dom,
            d ? d->name : dom == 0 ? "Domain-0" : "(being built)",
            abi == 3 ? "FIFO" : "2-level", *state ? ", " : "", state);
    struct evl_ctx c = { .out = req->out, .dom = dom };
    evtchn_port_foreach(h->evtchn, dom, evtchn_row, &c);
}

static void evtchn_list(void *opaque, struct ctl_req *req)
{
    struct vmm_host *h = opaque;
    long only = -1;
    if (req->argc > 1) {
        ctl_req_usage(req);
        return;
    }
    if (req->argc) {
        char *end;
        errno = 0;
        only = strtol(req->argv[0], &end, 10);
        if (errno || *end || only < 0 || only >= VMM_MAX_DOMAINS) {
            ctl_req_error(req, "bad domain id '%.16s'", req->argv[0]);
            return;
        }
        if (evtchn_domain_abi(h->evtchn, (domid_t)only) < 0) {
            ctl_req_error(req, "no domain %ld", only);
            return;
        }
    }
    fprintf(req->out, "%-4s %-6s %-12s %-5s %-16s %-5s %-5s %-5s %s\n", "DOM",
            "PORT", "STATE", "VCPU", "REMOTE", "PEND", "MASK", "PRIO",
            "CONSUMER");
    for (int i = 0; i < VMM_MAX_DOMAINS; i++) {
        if ((only >= 0 && i != only) ||
            evtchn_domain_abi(h->evtchn, (domid_t)i) < 0)
            continue;
        evtchn_list_dom(h, req, (domid_t)i);
    }
}

/* ---- the host step ---- */

static const struct {
    const char *verb, *usage;
    ctl_verb_fn fn;
} verbs[] = {
    { "list", "list [DOMAIN]", list },
    { "console", "console DOMAIN", console },
    { "shutdown", "shutdown DOMAIN", shutdown_verb },
    { "reboot", "reboot DOMAIN", reboot_verb },
    { "block-detach", "block-detach DOMAIN VDEV", block_detach },
    { "mem-set", "mem-set DOMAIN MIB", mem_set },
    { "destroy", "destroy DOMAIN", destroy },
    { "evtchn list", "evtchn list [DOMID]", evtchn_list },
};

int vmm_ctl_start(struct vmm_host *h, const char *path, char *err,
                  size_t errlen)
{
    struct vmm_ctl *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->start_ns = vmm_now_ns();
    c->irq.icu = h->icu;
    c->irq.lock = &h->sink_lock;
    int rc = ctl_server_create(h->loop, path, &c->srv);
    if (rc) {
        if (rc == -EADDRINUSE)
            snprintf(err, errlen, "control socket %s is in use by another "
                     "xenkvm (give --control PATH)", path);
        else
            snprintf(err, errlen, "control socket %s: %s", path,
                     strerror(-rc));
        free(c);
        return rc;
    }
    h->ctl = c;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]) && !rc; i++)
        rc = ctl_register(c->srv, verbs[i].verb, verbs[i].fn, h,
                          verbs[i].usage);
    if (!rc)
        rc = ctl_irq_register(c->srv, &c->irq);
    if (rc) {
        snprintf(err, errlen, "control verbs: %s", strerror(-rc));
        vmm_ctl_stop(h);
    }
    return rc;
}

void vmm_ctl_stop(struct vmm_host *h)
{
    struct vmm_ctl *c = h->ctl;
    if (!c)
        return;
    ctl_server_destroy(c->srv);
    free(c);
    h->ctl = NULL;
}

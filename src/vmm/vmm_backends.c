/*
 * The VMM's side of the dom0 services (src/backends): each service's host
 * step and domain step, which hand it what it needs from the host and the
 * domain (the loop, the event-channel core, the store, ring pages, frame
 * numbers), and the VMM's own XenStore writes.
 */
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xen/hvm/params.h>

#include "vmm_int.h"

struct be_env vmm_be_env(struct vmm_host *h)
{
    return (struct be_env){
        .loop = h->loop, .evtchn = h->evtchn,
        .store = h->xs ? be_xenstore_store(h->xs) : NULL, .gnttab = h->gnttab,
        .out = h->console, .quiet = h->cfg.quiet,
    };
}

/* ---- XenStore ---- */

int vmm_store_init(struct vmm_host *h, char *err, size_t errlen)
{
    struct be_env env = vmm_be_env(h);
    h->xs = be_xenstore_create(&env, h->cfg.store_socket, err, errlen);
    return h->xs ? 0 : -ENOMEM;
}

void vmm_store_fini(struct vmm_host *h)
{
    be_xenstore_destroy(h->xs);
    h->xs = NULL;
}

int vmm_store_domain_setup(struct vmm_domain *d)
{
    const uint64_t special = VMM_SPECIAL_GPA / VMM_PAGE;
    struct be_xenstore_domain cfg = {
        .domid = d->domid, .name = d->name, .mem_kib = d->ram_size >> 10,
        .vcpus = d->nr_vcpus,
        .ring = d->special + VMM_SPECIAL_STORE * VMM_PAGE,
        .ring_gfn = special + VMM_SPECIAL_STORE,
        .console_port = d->con.guest_port,
        .console_gfn = special + VMM_SPECIAL_CONSOLE,
    };
    struct be_xenstore_dom *xd;
    evtchn_port_t port;
    int rc = be_xenstore_domain_add(d->h->xs, &cfg, &xd, &port);
    if (rc)
        return rc;
    hv_set_param(d->hv, HVM_PARAM_STORE_PFN, cfg.ring_gfn);
    hv_set_param(d->hv, HVM_PARAM_STORE_EVTCHN, port);
    __atomic_store_n(&d->xs, xd, __ATOMIC_RELEASE);
    return 0;
}

void vmm_store_domain_release(struct vmm_domain *d)
{
    be_xenstore_domain_remove(__atomic_exchange_n(&d->xs, NULL,
                                                  __ATOMIC_ACQ_REL));
}

int vmm_domain_request_shutdown(struct vmm_domain *d, bool reboot)
{
    if (!d->h->xs)
        return -ENOSYS;
    char p[96];
    snprintf(p, sizeof(p), "/local/domain/%u/control/shutdown", d->domid);
    return store_client_printf(be_xenstore_client(d->h->xs), p,
                               reboot ? "reboot" : "poweroff");
}

int vmm_domain_set_target(struct vmm_domain *d, uint64_t kib)
{
    if (!d->h->xs)
        return -ENOSYS;
    /* As `xl mem-set` (libxl_set_memory_target, enforce): max_pages
     * becomes the target plus LIBXL_MAXMEM_CONSTANT, then the guest's
     * balloon is told the target. */
    hv_mem_set_max(d->hv, ((kib << 10) + (1ull << 20)) / VMM_PAGE);
    char p[96];
    snprintf(p, sizeof(p), "/local/domain/%u/memory/target", d->domid);
    return store_client_printf(be_xenstore_client(d->h->xs), p, "%llu",
                               (unsigned long long)kib);
}

/* ---- the dom0 ping-pong peer ---- */

int vmm_dom0pp_start(struct vmm_host *h)
{
    struct be_env env = vmm_be_env(h);
    h->pingpong = be_pingpong_create(&env);
    return h->pingpong ? 0 : -ENOMEM;
}

void vmm_dom0pp_stop(struct vmm_host *h)
{
    be_pingpong_destroy(h->pingpong);
    h->pingpong = NULL;
}

/* ---- blkback: disk = [ ... ] ---- */

int vmm_blk_init(struct vmm_host *h, char *err, size_t errlen)
{
    struct be_env env = vmm_be_env(h);
    h->blk = be_blkback_create(&env, err, errlen);
    return h->blk ? 0 : -ENOMEM;
}

void vmm_blk_fini(struct vmm_host *h)
{
    be_blkback_destroy(h->blk);
    h->blk = NULL;
}

/* What blkback did with a disk, at its end: the note's "which features
 * Linux negotiated" and the tests read it. */
static void disk_report(struct vmm_domain *d, struct vmm_disk *k,
                        struct be_blk_disk *be)
{
    if (d->h->cfg.quiet)
        return;
    struct be_blk_stats s;
    be_blkback_disk_stats(be, &s);
    fprintf(stderr, "%sblkback %s: %u queue(s) of %u ring page(s), persistent "
            "grants %s, indirect requests %s; %llu reads (%llu KiB), %llu writes "
            "(%llu KiB), %llu flushes, %llu discards, %llu errors\n",
            d->log_prefix, k->vdev, s.nr_rings, s.ring_pages,
            s.persistent ? "on" : "off", s.indirect ? "yes" : "none",
            (unsigned long long)s.reads,
            (unsigned long long)(s.bytes_read >> 10),
            (unsigned long long)s.writes,
            (unsigned long long)(s.bytes_written >> 10),
            (unsigned long long)s.flushes, (unsigned long long)s.discards,
            (unsigned long long)s.errors);
}

int vmm_disks_setup(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                    char *err, size_t errlen)
{
    if (cfg->nr_disks == 0)
        return 0;
    d->disks = calloc(cfg->nr_disks, sizeof(*d->disks));
    if (!d->disks) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (unsigned int i = 0; i < cfg->nr_disks; i++) {
        const struct config_disk *c = &cfg->disks[i];
        struct be_blk_config bc = {
            .domid = d->domid, .target = c->target, .vdev = c->vdev,
            .devid = c->devid, .readonly = c->readonly, .cdrom = c->cdrom,
        };
        struct be_blk_disk *be;
        int rc = be_blkback_disk_add(d->h->blk, &bc, &be);
        if (rc) {
            snprintf(err, errlen, "disk %s (%s): %s", c->vdev, c->target,
                     strerror(-rc));
            return rc;
        }
        pthread_mutex_lock(&d->disk_lock);
        snprintf(d->disks[i].vdev, sizeof(d->disks[i].vdev), "%s", c->vdev);
        d->disks[i].be = be;
        d->nr_disks = i + 1;
        pthread_mutex_unlock(&d->disk_lock);
    }
    return 0;
}

void vmm_disks_release(struct vmm_domain *d)
{
    pthread_mutex_lock(&d->disk_lock);
    for (unsigned int i = 0; i < d->nr_disks; i++) {
        struct vmm_disk *k = &d->disks[i];
        if (!k->be)
            continue;
        disk_report(d, k, k->be);
        be_blkback_disk_remove(k->be);
        k->be = NULL;
    }
    pthread_mutex_unlock(&d->disk_lock);
}

int vmm_disk_detach(struct vmm_domain *d, const char *vdev)
{
    for (unsigned int i = 0; i < d->nr_disks; i++) {
        struct vmm_disk *k = &d->disks[i];
        if (strcmp(k->vdev, vdev))
            continue;
        /* The handle stays in k->be: the domain's end removes it. */
        pthread_mutex_lock(&d->disk_lock);
        int rc = k->be && !k->detached ? 0 : -ENOENT;
        if (rc == 0) {
            k->detached = true;
            be_blkback_disk_unplug(k->be, NULL, NULL);
        }
        pthread_mutex_unlock(&d->disk_lock);
        return rc;
    }
    return -ENOENT;
}

/*
 * The VMM's side of the dom0 services (src/backends): each service's host
 * step and domain step, which hand it what it needs from the host and the
 * domain (the loop, the event-channel core, the store, ring pages, frame
 * numbers), and the VMM's own XenStore writes.
 */
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <xen/hvm/params.h>

#include "vmm_int.h"

static struct be_env env_of(struct vmm_host *h)
{
    return (struct be_env){
        .loop = h->loop, .evtchn = h->evtchn,
        .store = h->xs ? be_xenstore_store(h->xs) : NULL,
        .out = h->console, .quiet = h->cfg.quiet,
    };
}

/* ---- XenStore ---- */

int vmm_store_init(struct vmm_host *h, char *err, size_t errlen)
{
    struct be_env env = env_of(h);
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

/* ---- the dom0 ping-pong peer ---- */

int vmm_dom0pp_start(struct vmm_host *h)
{
    struct be_env env = env_of(h);
    h->pingpong = be_pingpong_create(&env);
    return h->pingpong ? 0 : -ENOMEM;
}

void vmm_dom0pp_stop(struct vmm_host *h)
{
    be_pingpong_destroy(h->pingpong);
    h->pingpong = NULL;
}

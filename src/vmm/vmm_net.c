/*
 * The VMM's side of guest networking: the host's networks (the in-process
 * switch with user-mode networking, created at the first vif that names
 * no bridge; one TAP network per Linux bridge named), the netback
 * service, and each domain's vif = [ ... ] plugged into them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vmm_int.h"

struct vmm_net {
    char *bridge;                 /* NULL: the in-process switch */
    struct net_network *net;
    struct vmm_net *next;
};

int vmm_net_init(struct vmm_host *h, char *err, size_t errlen)
{
    struct be_env env = vmm_be_env(h);
    h->netback = be_netback_create(&env, err, errlen);
    return h->netback ? 0 : -ENOMEM;
}

void vmm_net_fini(struct vmm_host *h)
{
    be_netback_destroy(h->netback);
    h->netback = NULL;
    for (struct vmm_net *n = h->nets, *next; n; n = next) {
        next = n->next;
        net_network_destroy(n->net);
        free(n->bridge);
        free(n);
    }
    h->nets = NULL;
}

/* The network of a vif: bridge's, or the switch; made at first use. */
static struct net_network *net_for(struct vmm_host *h, const char *bridge,
                                   char *err, size_t errlen)
{
    struct net_network *net = NULL;
    pthread_mutex_lock(&h->net_lock);
    for (struct vmm_net *n = h->nets; n && !net; n = n->next)
        if (bridge ? n->bridge && !strcmp(n->bridge, bridge) : !n->bridge)
            net = n->net;
    if (!net) {
        struct vmm_net *n = calloc(1, sizeof(*n));
        if (n && (!bridge || (n->bridge = strdup(bridge)))) {
            struct net_switch_config sc = { .slirp = true };
            n->net = bridge ? net_bridge_create(h->loop, bridge, err, errlen)
                            : net_switch_create(h->loop, &sc, err, errlen);
        } else {
            snprintf(err, errlen, "out of memory");
        }
        if (n && n->net) {
            n->next = h->nets;
            h->nets = n;
            net = n->net;
        } else if (n) {
            free(n->bridge);
            free(n);
        }
    }
    pthread_mutex_unlock(&h->net_lock);
    return net;
}

/* What netback did with a vif, at its end (the note and the tests read
 * it). */
static void vif_report(struct vmm_domain *d, struct vmm_vif *k)
{
    if (d->h->cfg.quiet)
        return;
    struct be_vif_stats s;
    be_netback_vif_stats(k->be, &s);
    fprintf(stderr, "%snetback %s: %u queue(s), %s event channels, "
            "sg %s, gso-tcpv4 %s, gso-tcpv6 %s, csum %s, ipv6-csum %s; tx "
            "%llu frames (%llu KiB), %llu errors, %llu dropped; rx %llu "
            "frames (%llu KiB), %llu dropped\n", d->log_prefix, k->name,
            s.nr_queues, s.split_evtchn ? "split" : "shared",
            s.sg ? "on" : "off", s.gso4 ? "on" : "off", s.gso6 ? "on" : "off",
            s.csum ? "on" : "off", s.ipv6_csum ? "on" : "off",
            (unsigned long long)s.tx_frames,
            (unsigned long long)(s.tx_bytes >> 10),
            (unsigned long long)s.tx_errors,
            (unsigned long long)s.tx_dropped,
            (unsigned long long)s.rx_frames,
            (unsigned long long)(s.rx_bytes >> 10),
            (unsigned long long)s.rx_dropped);
}

int vmm_vifs_setup(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                   char *err, size_t errlen)
{
    if (cfg->nr_vifs == 0)
        return 0;
    d->vifs = calloc(cfg->nr_vifs, sizeof(*d->vifs));
    if (!d->vifs) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (unsigned int i = 0; i < cfg->nr_vifs; i++) {
        const struct config_vif *c = &cfg->vifs[i];
        struct vmm_vif *k = &d->vifs[i];
        char nerr[256] = "";
        if (c->vifname)
            snprintf(k->name, sizeof(k->name), "%s", c->vifname);
        else
            snprintf(k->name, sizeof(k->name), "vif%u.%u",
                     (unsigned int)d->domid, c->devid);
        struct net_network *net = net_for(d->h, c->bridge, nerr, sizeof(nerr));
        if (!net) {
            snprintf(err, errlen, "vif %u: %s", c->devid, nerr);
            return -EINVAL;
        }
        struct be_vif_config vc = {
            .domid = d->domid, .devid = c->devid, .bridge = c->bridge,
            .net = net, .ip = c->ip, .fwd = c->fwd, .nfwd = c->nfwd,
            .rate_bytes = c->rate_bytes, .rate_usecs = c->rate_usecs,
            .name = k->name,
            /* bench/net.sh's "what GSO buys": netback offers no TSO */
            .no_gso = getenv("XENKVM_NETBACK_NO_GSO") != NULL,
        };
        if (c->has_mac) {
            memcpy(vc.mac, c->mac, 6);
        } else {
            /* xl's choice: Xen's OUI and three random bytes */
            vc.mac[0] = 0x00, vc.mac[1] = 0x16, vc.mac[2] = 0x3e;
            if (getrandom(vc.mac + 3, 3, 0) != 3) {
                snprintf(err, errlen, "vif %u: no random bytes for a MAC",
                         c->devid);
                return -EIO;
            }
            vc.mac[3] &= 0x7f;
        }
        struct be_net_vif *be;
        int rc = be_netback_vif_add(d->h->netback, &vc, &be, nerr,
                                    sizeof(nerr));
        if (rc) {
            snprintf(err, errlen, "vif %u (%s): %s", c->devid, k->name, nerr);
            return rc;
        }
        pthread_mutex_lock(&d->vif_lock);
        k->be = be;
        d->nr_vifs = i + 1;
        pthread_mutex_unlock(&d->vif_lock);
    }
    return 0;
}

void vmm_vifs_release(struct vmm_domain *d)
{
    pthread_mutex_lock(&d->vif_lock);
    for (unsigned int i = 0; i < d->nr_vifs; i++) {
        struct vmm_vif *k = &d->vifs[i];
        if (!k->be)
            continue;
        vif_report(d, k);
        be_netback_vif_remove(k->be);
        k->be = NULL;
    }
    pthread_mutex_unlock(&d->vif_lock);
}

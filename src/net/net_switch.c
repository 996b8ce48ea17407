/*
 * The in-process switch: a learning Ethernet switch between the vifs that
 * name no bridge (and the user-mode uplink, net_slirp.c, which is one of
 * its ports; a port's forwards are the uplink's, told where its guest
 * is from what it sends). A frame goes to the port its destination MAC was last seen
 * behind, or to every other port when that is unknown, broadcast or
 * multicast. Everything runs on the loop thread: no lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_int.h"

#define SW_MACS 256             /* learnt addresses, open hashing */

struct sw_port {
    struct net_port port;       /* first: net_port * is sw_port * */
    struct net_slirp_vif *vif;  /* its port forwards, if any */
    struct sw_port *next;
};

struct sw_mac {
    uint8_t mac[NET_MAC_LEN];
    struct sw_port *port;       /* NULL: free slot */
};

struct net_switch {
    struct net_network net;     /* first */
    struct net_switch_config cfg;
    struct net_slirp *slirp;    /* the uplink, if any */
    struct sw_port *ports;
    struct net_port *sending;   /* net_switch_sender */
    struct sw_mac macs[SW_MACS];
};

static unsigned int sw_hash(const uint8_t *mac)
{
    unsigned int h = 0;

    for (int i = 0; i < NET_MAC_LEN; i++)
        h = h * 31 + mac[i];
    return h % SW_MACS;
}

/* Where mac was seen; NULL if nowhere. */
static struct sw_port *sw_lookup(struct net_switch *sw, const uint8_t *mac)
{
    unsigned int h = sw_hash(mac);

    for (unsigned int i = 0; i < SW_MACS; i++) {
        struct sw_mac *m = &sw->macs[(h + i) % SW_MACS];
        if (!m->port)
            return NULL;
        if (!memcmp(m->mac, mac, NET_MAC_LEN))
            return m->port;
    }
    return NULL;
}

/* mac is behind port from now on. A full table learns nothing more: the
 * frames still reach their port by flooding. */
static void sw_learn(struct net_switch *sw, const uint8_t *mac,
                     struct sw_port *port)
{
    unsigned int h = sw_hash(mac);

    for (unsigned int i = 0; i < SW_MACS; i++) {
        struct sw_mac *m = &sw->macs[(h + i) % SW_MACS];
        if (!m->port || !memcmp(m->mac, mac, NET_MAC_LEN)) {
            memcpy(m->mac, mac, NET_MAC_LEN);
            m->port = port;
            return;
        }
    }
}

/* Forget every address behind port: rebuild the table without them (open
 * hashing cannot just clear a slot). */
static void sw_forget(struct net_switch *sw, struct sw_port *port)
{
    struct sw_mac old[SW_MACS];

    memcpy(old, sw->macs, sizeof(old));
    memset(sw->macs, 0, sizeof(sw->macs));
    for (unsigned int i = 0; i < SW_MACS; i++)
        if (old[i].port && old[i].port != port)
            sw_learn(sw, old[i].mac, old[i].port);
}

static struct net_port *sw_connect(struct net_network *n,
                                   const struct net_port_config *cfg,
                                   char *err, size_t errlen)
{
    struct net_switch *sw = (struct net_switch *)n;
    struct sw_port *p;

    if (cfg->nfwd && !sw->cfg.slirp) {
        snprintf(err, errlen, "%s: port forwards need user-mode networking",
                 cfg->name ? cfg->name : "port");
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    net_port_init(&p->port, n, cfg);
    if (cfg->nfwd) {
        p->vif = net_slirp_vif_add(sw->slirp, cfg, err, errlen);
        if (!p->vif) {
            free(p);
            return NULL;
        }
    }
    p->next = sw->ports;
    sw->ports = p;
    return &p->port;
}

static int sw_forward(struct net_port *np, struct net_frame *f)
{
    struct net_switch *sw = (struct net_switch *)np->net;
    struct sw_port *src = (struct sw_port *)np, *dst;
    const uint8_t *dmac = f->data, *smac = f->data + NET_MAC_LEN;

    if (smac[0] & 1)            /* a multicast source is never valid */
        return -EINVAL;
    sw_learn(sw, smac, src);
    if (src->vif)
        net_slirp_vif_seen(src->vif, f);
    dst = (dmac[0] & 1) ? NULL : sw_lookup(sw, dmac);
    if (dst == src)             /* it is on the sender's side */
        return 0;
    if (dst) {
        net_port_deliver(&dst->port, f);
        return 0;
    }
    /* Flood. net_port_deliver may change the bytes in place (a checksum
     * finished), which every later receiver may also be given: that is
     * the same frame, still correct. */
    for (struct sw_port *p = sw->ports; p; p = p->next)
        if (p != src)
            net_port_deliver(&p->port, f);
    return 0;
}

/* sw_forward, with the sender known to the receivers' deliver (a deliver
 * could send again: the outer sender is put back). */
static int sw_send(struct net_port *np, struct net_frame *f)
{
    struct net_switch *sw = (struct net_switch *)np->net;
    struct net_port *outer = sw->sending;
    int rc;

    sw->sending = np;
    rc = sw_forward(np, f);
    sw->sending = outer;
    return rc;
}

struct net_port *net_switch_sender(struct net_network *n)
{
    return ((struct net_switch *)n)->sending;
}

void net_switch_uplink_hold(struct net_network *n, bool hold)
{
    struct net_switch *sw = (struct net_switch *)n;

    if (sw->slirp)
        net_slirp_hold(sw->slirp, hold);
}

static void sw_close(struct net_port *np)
{
    struct net_switch *sw = (struct net_switch *)np->net;
    struct sw_port **pp;

    for (pp = &sw->ports; *pp; pp = &(*pp)->next)
        if (*pp == (struct sw_port *)np) {
            *pp = (*pp)->next;
            break;
        }
    sw_forget(sw, (struct sw_port *)np);
    net_slirp_vif_del(((struct sw_port *)np)->vif);
    free(np);
}

static void sw_destroy(struct net_network *n)
{
    net_slirp_destroy(((struct net_switch *)n)->slirp);
    free(n);
}

static const struct net_network_ops sw_ops = {
    .connect = sw_connect,
    .send = sw_send,
    .close = sw_close,
    .destroy = sw_destroy,
};

struct net_network *net_switch_create(struct util_loop *loop,
                                      const struct net_switch_config *cfg,
                                      char *err, size_t errlen)
{
    struct net_switch *sw;

    sw = calloc(1, sizeof(*sw));
    if (!sw) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sw->net.ops = &sw_ops;
    sw->net.loop = loop;
    sw->cfg = *cfg;
    if (cfg->slirp) {
        sw->slirp = net_slirp_create(&sw->net, cfg, err, errlen);
        if (!sw->slirp) {
            free(sw);
            return NULL;
        }
    }
    return &sw->net;
}

/*
 * The network-independent half of a port: checks on what an owner sends,
 * the offload state it takes, delivery with adaptation, stats; the rest
 * is the network kind's (net_int.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net_int.h"

void net_port_init(struct net_port *p, struct net_network *n,
                   const struct net_port_config *cfg)
{
    p->net = n;
    p->ops = cfg->ops;
    p->opaque = cfg->opaque;
    memcpy(p->mac, cfg->mac, NET_MAC_LEN);
    snprintf(p->name, sizeof(p->name), "%s", cfg->name ? cfg->name : "port");
    p->ip = cfg->ip;
}

struct net_port *net_connect(struct net_network *n,
                             const struct net_port_config *cfg, char *err,
                             size_t errlen)
{
    if (!cfg->ops || !cfg->ops->deliver) {
        snprintf(err, errlen, "a port needs a deliver callback");
        return NULL;
    }
    return n->ops->connect(n, cfg, err, errlen);
}

void net_port_set_offloads(struct net_port *p, unsigned int offloads)
{
    p->offloads = offloads & (NET_OFF_CSUM | NET_OFF_CSUM6 | NET_OFF_TSO4 |
                           NET_OFF_TSO6);
    p->ready = true;
    if (p->net->ops->offloads_changed)
        p->net->ops->offloads_changed(p);
}

int net_port_send(struct net_port *p, struct net_frame *f)
{
    int rc;

    if (f->len < 14 || f->len > NET_FRAME_MAX || !net_offload_meta_ok(f)) {
        p->st.tx_dropped++;
        return -EINVAL;
    }
    rc = p->net->ops->send(p, f);
    if (rc < 0) {
        p->st.tx_dropped++;
        return rc;
    }
    p->st.tx_frames++;
    p->st.tx_bytes += f->len;
    return 0;
}

static int port_emit(void *arg, const struct net_frame *seg)
{
    struct net_port *p = arg;

    if (p->ops->deliver(p->opaque, seg) < 0) {
        p->st.rx_dropped++;
        return 0;
    }
    p->st.rx_frames++;
    p->st.rx_bytes += seg->len;
    return 0;
}

void net_port_deliver(struct net_port *p, struct net_frame *f)
{
    if (!p->ready || net_offload_adapt(p->offloads, f, port_emit, p) < 0)
        p->st.rx_dropped++;
}

void net_port_close(struct net_port *p)
{
    if (p)
        p->net->ops->close(p);
}

void net_port_stats(const struct net_port *p, struct net_port_stats *out)
{
    *out = p->st;
}

void net_network_destroy(struct net_network *n)
{
    if (n)
        n->ops->destroy(n);
}

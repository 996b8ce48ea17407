/*
 * Private to src/net: what every network and port has, and the hooks a
 * network kind (the switch, a bridge's TAPs) fills in. A network kind
 * embeds struct net_network first and allocates its ports (embedding
 * struct net_port first) in its connect.
 */
#ifndef XENKVM_NET_INT_H
#define XENKVM_NET_INT_H

#include "xenkvm/net.h"

struct net_network_ops {
    /* A new port, its common part filled in by net_port_init. */
    struct net_port *(*connect)(struct net_network *n,
                                const struct net_port_config *cfg,
                                char *err, size_t errlen);
    /* A frame from the port's owner, already checked by net_port_send. */
    int (*send)(struct net_port *p, struct net_frame *f);
    /* The owner said what it takes (may be NULL). */
    void (*offloads_changed)(struct net_port *p);
    /* Unplug and free p. */
    void (*close)(struct net_port *p);
    /* Free the network (every port closed). */
    void (*destroy)(struct net_network *n);
};

struct net_network {
    const struct net_network_ops *ops;
    struct util_loop *loop;
};

struct net_port {
    struct net_network *net;
    const struct net_port_ops *ops;
    void *opaque;
    uint8_t mac[NET_MAC_LEN];
    char name[32];
    struct in_addr ip;
    unsigned int offloads;        /* NET_OFF_* */
    bool ready;                   /* net_port_set_offloads has run */
    struct net_port_stats st;
};

/* The common part of a new port from cfg. */
void net_port_init(struct net_port *p, struct net_network *n,
                   const struct net_port_config *cfg);
/* Hand f to p's owner, made into what p takes (net_offload_adapt): one
 * frame, or its segments. Counted in p's rx stats; dropped (counted) if p
 * is not ready or its owner refuses. f->data may be changed in place. */
void net_port_deliver(struct net_port *p, struct net_frame *f);

/* ---- net_offload.c ---- */

/* Is f's meta consistent with its bytes (net_port_send's check)? */
bool net_offload_meta_ok(const struct net_frame *f);
/* Call emit once per frame that a port taking `offloads` gets for f: f
 * itself when it takes what f needs; otherwise f's checksum finished in
 * place and, for a GSO frame, its segments (each with complete
 * checksums). The number of frames emitted, or -errno (f cannot be
 * made into what the port takes: it is dropped). */
int net_offload_adapt(unsigned int offloads, struct net_frame *f,
                      int (*emit)(void *arg, const struct net_frame *seg),
                      void *arg);

/* ---- net_switch.c ---- */

/* The port whose frame switch sw is handing out now: set on the loop
 * thread for the time of its send, so a receiving port's deliver knows
 * the sender (the slirp port shares its queue by sender). NULL outside. */
struct net_port *net_switch_sender(struct net_network *sw);
/* Tests only: while held, sw's slirp thread leaves the frames queued for
 * it where they are (as a slirp slower than the guests would), so a test
 * fills that queue deterministically. No uplink: no-op. */
void net_switch_uplink_hold(struct net_network *sw, bool hold);

/* ---- net_slirp.c: user-mode networking, the switch's uplink ---- */

struct net_slirp;
struct net_slirp_vif;

/* libslirp on a thread of its own, plugged into switch sw (on sw's loop)
 * as a port. NULL with one line in err. */
struct net_slirp *net_slirp_create(struct net_network *sw,
                                   const struct net_switch_config *cfg,
                                   char *err, size_t errlen);
/* Stop its thread, unplug it, free it. NULL: no-op. */
void net_slirp_destroy(struct net_slirp *s);
/* net_switch_uplink_hold's work (tests only). */
void net_slirp_hold(struct net_slirp *s, bool hold);
/* A vif's port forwards (cfg->fwd), listening on the host when it
 * returns. NULL with one line in err (a host port that cannot be bound). */
struct net_slirp_vif *net_slirp_vif_add(struct net_slirp *s,
                                        const struct net_port_config *cfg,
                                        char *err, size_t errlen);
/* A frame the vif sent: its IPv4 source is where forwards without a guest
 * address go (when the vif has no ip=). */
void net_slirp_vif_seen(struct net_slirp_vif *v, const struct net_frame *f);
/* Remove the vif's forwards (closed on the host when it returns) and free
 * it. NULL: no-op. */
void net_slirp_vif_del(struct net_slirp_vif *v);

#endif

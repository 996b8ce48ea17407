/*
 * Host networks for guests' vifs (src/net): Ethernet frames between the
 * PV network backend (netback, in src/backends) and the networks a vif
 * plugs into, with no Xen or KVM header:
 *
 *   net_switch   the in-process switch, one per host process: a learning
 *                Ethernet switch between the vifs that name no bridge,
 *                with user-mode networking (libslirp: DHCP, DNS, NAT to
 *                the host, port forwards) as its uplink (net_slirp.c)
 *   net_bridge   a named Linux bridge: each vif gets a TAP device
 *                attached to it (net_tap.c; needs CAP_NET_ADMIN)
 *
 * A vif's owner connects to a network and gets a port: it sends frames
 * with net_port_send and receives them through its ops->deliver. Frames
 * carry their offload state (struct net_meta, the virtio-net header's
 * meaning, which TAP's IFF_VNET_HDR speaks and netif's flags map onto); a
 * network hands a port only what the port said it takes
 * (net_port_set_offloads): a large (GSO) frame is cut into segments and a
 * partial checksum finished first (net_offload.c) when it does not.
 *
 * Threads: every function here, and every ops callback, runs on the loop
 * thread given at creation (the dom0 services' loop), except where it
 * says otherwise; nothing here takes a lock on that path (another thread
 * goes through util_loop_call). Every int-returning function returns 0
 * or a negative errno.
 */
#ifndef XENKVM_NET_H
#define XENKVM_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xenkvm/util.h"

/* The largest frame: an Ethernet header, a VLAN tag and a 64 KiB IP
 * packet (a GSO frame). */
#define NET_FRAME_MAX (14 + 4 + 65535)
#define NET_MAC_LEN 6

/* net_meta.flags */
/* The L4 checksum at csum_start + csum_offset holds only the
 * pseudo-header sum: the checksum over [csum_start, len) is still to be
 * folded in (virtio's NEEDS_CSUM, netif's NETTXF_csum_blank). */
#define NET_META_CSUM_PARTIAL 0x1u
/* The checksums were checked or made by someone trusted (netif's
 * NETRXF_data_validated, virtio's DATA_VALID). */
#define NET_META_CSUM_VALID   0x2u

/* net_meta.gso_type */
#define NET_GSO_NONE  0
#define NET_GSO_TCPV4 1
#define NET_GSO_TCPV6 2

/* What travels with a frame besides its bytes. */
struct net_meta {
    uint16_t flags;        /* NET_META_* */
    uint16_t gso_type;     /* NET_GSO_*; not NONE: cut into segments of */
    uint16_t gso_size;     /* gso_size TCP payload bytes (the MSS) */
    uint16_t csum_start;   /* with CSUM_PARTIAL (always with GSO) */
    uint16_t csum_offset;
};

/* One Ethernet frame (no FCS), data[0..len). */
struct net_frame {
    uint8_t *data;
    size_t len;
    struct net_meta meta;
};

/* net_port_set_offloads: what a port takes besides plain, complete
 * frames of at most its MTU. */
#define NET_OFF_CSUM  0x1u   /* CSUM_PARTIAL frames over IPv4 */
#define NET_OFF_TSO4  0x2u   /* GSO_TCPV4 frames (with CSUM) */
#define NET_OFF_TSO6  0x4u   /* GSO_TCPV6 frames (with CSUM6) */
#define NET_OFF_CSUM6 0x8u   /* CSUM_PARTIAL frames over IPv6 */

struct net_port;
struct net_network;

struct net_port_ops {
    /* A frame for the port's owner (loop thread). The bytes are the
     * caller's until it returns: copy what is kept. 0: taken; -ENOBUFS:
     * dropped (the owner's queue is full; the network counts it). */
    int (*deliver)(void *opaque, const struct net_frame *f);
};

/* A port forward, QEMU's hostfwd: connections to host_addr:host_port on
 * the host reach guest_port of the vif's guest. */
struct net_hostfwd {
    bool udp;
    struct in_addr host_addr;   /* INADDR_ANY: every host address */
    uint16_t host_port;
    /* INADDR_ANY: the address the vif's guest uses (its vif ip= or,
     * without one, learnt from its first IPv4 frame). */
    struct in_addr guest_addr;
    uint16_t guest_port;
};

/* Parse QEMU's hostfwd syntax "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport"
 * into *out. -EINVAL (with a reason in err) when it is not one. */
int net_hostfwd_parse(const char *s, struct net_hostfwd *out, char *err,
                      size_t errlen);

struct net_port_config {
    const struct net_port_ops *ops;
    void *opaque;
    uint8_t mac[NET_MAC_LEN];     /* the guest's MAC */
    const char *name;             /* for logs and stats: "d1.vif0" */
    struct in_addr ip;            /* vif ip=; INADDR_ANY: none */
    const struct net_hostfwd *fwd;  /* port forwards (switch only) */
    size_t nfwd;
};

/* Find the L4 header of f (Ethernet, optional VLAN tag, IPv4 or IPv6 with
 * its extension headers, TCP or UDP) and set f->meta.csum_start and
 * csum_offset for CSUM_PARTIAL: what netif's NETTXF_csum_blank leaves to
 * the backend. -EINVAL: not TCP/UDP over IP, or truncated. Any thread. */
int net_frame_csum_setup(struct net_frame *f);

/* ---- networks ---- */

struct net_switch_config {
    bool slirp;                   /* user-mode networking as the uplink */
    /* slirp's network (default 10.0.2.0/24: host 10.0.2.2, DNS 10.0.2.3,
     * DHCP from 10.0.2.15), as QEMU's -netdev user. */
    struct in_addr net, mask;     /* INADDR_ANY: the default */
    bool restrict_host;           /* slirp's restrict=on: no NAT out */
};

/* The in-process switch on loop. NULL with one line in err. */
struct net_network *net_switch_create(struct util_loop *loop,
                                      const struct net_switch_config *cfg,
                                      char *err, size_t errlen);
/* A Linux bridge by name: each port is a TAP device attached to it. NULL
 * with one line in err (no such bridge, no CAP_NET_ADMIN: "...: needs
 * CAP_NET_ADMIN (run as root)"). */
struct net_network *net_bridge_create(struct util_loop *loop,
                                      const char *bridge, char *err,
                                      size_t errlen);
/* Every port closed first. NULL: no-op. */
void net_network_destroy(struct net_network *n);

/* Plug a vif in. NULL with one line in err. The port delivers nothing
 * until its owner calls net_port_set_offloads (the frontend has said what
 * it takes): before that, frames for it are dropped. */
struct net_port *net_connect(struct net_network *n,
                             const struct net_port_config *cfg, char *err,
                             size_t errlen);
/* What the port's owner takes (NET_OFF_*), and that it is ready for
 * frames; again at each reconnection of the frontend. */
void net_port_set_offloads(struct net_port *p, unsigned int offloads);
/* A frame from the port's owner into the network. The network may change
 * f->data in place (finishing a checksum); it copies what it keeps. 0, or
 * -EINVAL (malformed: shorter than an Ethernet header, longer than
 * NET_FRAME_MAX, inconsistent meta) or -ENOBUFS (dropped); either way the
 * frame is the caller's again when it returns. */
int net_port_send(struct net_port *p, struct net_frame *f);
/* Unplug: no deliver runs after it returns. NULL: no-op. */
void net_port_close(struct net_port *p);

struct net_port_stats {
    uint64_t tx_frames, tx_bytes, tx_dropped;   /* owner -> network */
    uint64_t rx_frames, rx_bytes, rx_dropped;   /* network -> owner */
};
void net_port_stats(const struct net_port *p, struct net_port_stats *out);

#endif /* XENKVM_NET_H */

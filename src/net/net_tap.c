/*
 * A named Linux bridge: each port is a TAP device (named after the vif,
 * "vif1.0", as Xen's vif devices are) attached to the bridge and brought
 * up; frames cross it with a virtio-net header (IFF_VNET_HDR), which
 * carries struct net_meta both ways. The kernel hands the TAP only the
 * offloads its owner takes (TUNSETOFFLOAD, from net_port_set_offloads)
 * and segments or finishes the rest itself. The TAP's fd is on the
 * network's loop; a TAP whose queue is full drops the frame (counted).
 * Creating a TAP and attaching it need CAP_NET_ADMIN.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net_int.h"

#define TAP_READ_BUDGET 64      /* frames per wake-up, then others' turn */

struct tap_port {
    struct net_port port;       /* first */
    int fd;
    bool dead;                  /* the device went away: no longer read */
};

struct net_bridge {
    struct net_network net;     /* first */
    char name[IFNAMSIZ];
    int ctl;                    /* AF_INET socket for the interface ioctls */
    uint8_t *buf;               /* a read: header + largest frame */
    struct util_ratelimit rl;
};

typedef struct virtio_net_hdr tap_hdr;

/* Is interface name a Linux bridge? Its driver says so (sysfs would
 * show the network namespace /sys was mounted in, not ours). */
static bool is_bridge(int ctl, const char *name)
{
    struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    ifr.ifr_data = (void *)&info;
    return ioctl(ctl, SIOCETHTOOL, &ifr) == 0 &&
           !strcmp(info.driver, "bridge");
}

/* Has this process CAP_NET_ADMIN (effective)? */
static bool has_net_admin(void)
{
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct d[2];

    if (syscall(SYS_capget, &h, d) < 0)
        return true;            /* cannot tell: let the kernel say */
    return d[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32));
}

static void tap_log(struct net_bridge *br, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tap_log(struct net_bridge *br, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    util_vlog_ratelimited(&br->rl, stderr, "net tap: ", fmt, ap);
    va_end(ap);
}

/* ---- frames ---- */

static int tap_send(struct net_port *np, struct net_frame *f)
{
    struct tap_port *p = (struct tap_port *)np;
    const struct net_meta *m = &f->meta;
    tap_hdr h;
    struct iovec iov[2] = { { &h, sizeof(h) }, { f->data, f->len } };

    memset(&h, 0, sizeof(h));
    if (m->flags & NET_META_CSUM_PARTIAL) {
        h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h.csum_start = htole16(m->csum_start);
        h.csum_offset = htole16(m->csum_offset);
        h.hdr_len = htole16((uint16_t)(m->csum_start + m->csum_offset + 2));
    } else if (m->flags & NET_META_CSUM_VALID) {
        h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    }
    if (m->gso_type != NET_GSO_NONE) {
        size_t doff = (size_t)m->csum_start + 12;

        h.gso_type = m->gso_type == NET_GSO_TCPV4 ? VIRTIO_NET_HDR_GSO_TCPV4
                                                  : VIRTIO_NET_HDR_GSO_TCPV6;
        h.gso_size = htole16(m->gso_size);
        /* The whole header, up to the TCP payload, when it is there. */
        if (doff < f->len)
            h.hdr_len = htole16((uint16_t)(m->csum_start +
                                           (f->data[doff] >> 4) * 4));
    }
    if (p->dead)
        return -ENOBUFS;
    if (writev(p->fd, iov, 2) < 0) {
        if (errno == EAGAIN || errno == ENOBUFS)
            return -ENOBUFS;
        tap_log((struct net_bridge *)np->net, "%s: a frame refused: %s",
                np->name, strerror(errno));
        return -EINVAL;
    }
    return 0;
}

/* The kernel's header as our meta; false: an offload we do not speak. */
static bool hdr_meta(const tap_hdr *h, struct net_meta *m)
{
    memset(m, 0, sizeof(*m));
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        m->flags |= NET_META_CSUM_PARTIAL;
        m->csum_start = le16toh(h->csum_start);
        m->csum_offset = le16toh(h->csum_offset);
    }
    if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID)
        m->flags |= NET_META_CSUM_VALID;
    switch (h->gso_type) {
    case VIRTIO_NET_HDR_GSO_NONE:
        return true;
    case VIRTIO_NET_HDR_GSO_TCPV4:
        m->gso_type = NET_GSO_TCPV4;
        break;
    case VIRTIO_NET_HDR_GSO_TCPV6:
        m->gso_type = NET_GSO_TCPV6;
        break;
    default:                    /* UDP, ECN: never asked for */
        return false;
    }
    m->gso_size = le16toh(h->gso_size);
    return true;
}

static void tap_readable(void *opaque, uint32_t events)
{
    struct tap_port *p = opaque;
    struct net_bridge *br = (struct net_bridge *)p->port.net;

    (void)events;
    for (int i = 0; i < TAP_READ_BUDGET; i++) {
        ssize_t n = read(p->fd, br->buf, sizeof(tap_hdr) + NET_FRAME_MAX);
        struct net_frame f;

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            /* The device is gone (deleted by hand): stop reading. */
            tap_log(br, "%s: %s; its frames are dropped from now on",
                    p->port.name, strerror(errno));
            p->dead = true;
            util_loop_del(br->net.loop, p->fd);
            return;
        }
        if ((size_t)n < sizeof(tap_hdr) + 14)
            continue;
        f.data = br->buf + sizeof(tap_hdr);
        f.len = (size_t)n - sizeof(tap_hdr);
        if (!hdr_meta((const tap_hdr *)br->buf, &f.meta) ||
            !net_offload_meta_ok(&f)) {
            p->port.st.rx_dropped++;
            continue;
        }
        net_port_deliver(&p->port, &f);
    }
}

static void tap_offloads_changed(struct net_port *np)
{
    struct tap_port *p = (struct tap_port *)np;
    unsigned int off = np->offloads, tun = 0;

    /* TUN_F_CSUM is both IP versions; what a port does not take of it is
     * finished by net_port_deliver. */
    if (off & (NET_OFF_CSUM | NET_OFF_CSUM6)) {
        tun |= TUN_F_CSUM;
        if (off & NET_OFF_TSO4)
            tun |= TUN_F_TSO4;
        if (off & NET_OFF_TSO6)
            tun |= TUN_F_TSO6;
    }
    if (ioctl(p->fd, TUNSETOFFLOAD, tun) < 0)
        tap_log((struct net_bridge *)np->net, "%s: TUNSETOFFLOAD: %s",
                np->name, strerror(errno));
}

/* ---- ports ---- */

/* ifr's interface flags |= IFF_UP. */
static int if_up(int ctl, const char *name)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(ctl, SIOCGIFFLAGS, &ifr) < 0)
        return -errno;
    ifr.ifr_flags |= IFF_UP;
    return ioctl(ctl, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/* The TAP device of fd, named name, set up and on the bridge. */
static int tap_setup(struct net_bridge *br, int fd, const char *name,
                     const char **what)
{
    struct ifreq ifr;
    int sz = sizeof(tap_hdr), le = 1;

    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    *what = "cannot create a TAP device";
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        return -errno;
    *what = "TAP set-up";
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0 ||
        ioctl(fd, TUNSETOFFLOAD, 0) < 0)
        return -errno;
    (void)ioctl(fd, TUNSETVNETLE, &le);     /* x86 is already */
    /* The host side's MAC, as Xen's vifs: never the bridge's own. */
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memset(ifr.ifr_hwaddr.sa_data, 0xff, 6);
    ifr.ifr_hwaddr.sa_data[0] = (char)0xfe;
    if (ioctl(br->ctl, SIOCSIFHWADDR, &ifr) < 0)
        return -errno;
    *what = "cannot attach it to the bridge";
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", br->name);
    ifr.ifr_ifindex = (int)if_nametoindex(name);
    if (!ifr.ifr_ifindex || ioctl(br->ctl, SIOCBRADDIF, &ifr) < 0)
        return -errno;
    *what = "cannot bring it up";
    return if_up(br->ctl, name);
}

static struct net_port *tap_connect(struct net_network *n,
                                    const struct net_port_config *cfg,
                                    char *err, size_t errlen)
{
    struct net_bridge *br = (struct net_bridge *)n;
    const char *name = cfg->name ? cfg->name : "", *what = "";
    struct tap_port *p;
    int rc;

    if (!*name || strlen(name) >= IFNAMSIZ || strchr(name, '/')) {
        snprintf(err, errlen, "'%s': not a network interface name (1 to %d "
                 "characters)", name, IFNAMSIZ - 1);
        return NULL;
    }
    if (cfg->nfwd) {
        snprintf(err, errlen, "%s: port forwards need user-mode networking, "
                 "not bridge '%s'", name, br->name);
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    net_port_init(&p->port, n, cfg);
    p->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    rc = p->fd < 0 ? -errno : tap_setup(br, p->fd, name, &what);
    if (p->fd < 0)
        what = "cannot create a TAP device: /dev/net/tun";
    if (rc == 0)
        rc = util_loop_add(n->loop, p->fd, UTIL_LOOP_IN, tap_readable, p);
    if (rc < 0) {
        if (rc == -EPERM || rc == -EACCES)
            snprintf(err, errlen, "%s: %s: needs CAP_NET_ADMIN (run as root)",
                     name, what);
        else
            snprintf(err, errlen, "%s: %s: %s", name, what, strerror(-rc));
        if (p->fd >= 0)
            close(p->fd);       /* the TAP goes with it */
        free(p);
        return NULL;
    }
    return &p->port;
}

static void tap_close(struct net_port *np)
{
    struct tap_port *p = (struct tap_port *)np;

    if (!p->dead)
        util_loop_del(np->net->loop, p->fd);
    close(p->fd);               /* not persistent: the device goes */
    free(p);
}

static void bridge_destroy(struct net_network *n)
{
    struct net_bridge *br = (struct net_bridge *)n;

    close(br->ctl);
    free(br->buf);
    free(br);
}

static const struct net_network_ops bridge_ops = {
    .connect = tap_connect,
    .send = tap_send,
    .offloads_changed = tap_offloads_changed,
    .close = tap_close,
    .destroy = bridge_destroy,
};

struct net_network *net_bridge_create(struct util_loop *loop,
                                      const char *bridge, char *err,
                                      size_t errlen)
{
    struct net_bridge *br;
    int ctl;

    if (!*bridge || strlen(bridge) >= IFNAMSIZ || strchr(bridge, '/')) {
        snprintf(err, errlen, "'%s': not a bridge name", bridge);
        return NULL;
    }
    if (!if_nametoindex(bridge)) {
        snprintf(err, errlen, "no bridge '%s'", bridge);
        return NULL;
    }
    ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (ctl < 0) {
        snprintf(err, errlen, "bridge '%s': socket: %s", bridge,
                 strerror(errno));
        return NULL;
    }
    if (!is_bridge(ctl, bridge)) {
        snprintf(err, errlen, "'%s' is not a bridge", bridge);
        close(ctl);
        return NULL;
    }
    if (!has_net_admin()) {
        snprintf(err, errlen, "bridge '%s': needs CAP_NET_ADMIN (run as "
                 "root)", bridge);
        close(ctl);
        return NULL;
    }
    br = calloc(1, sizeof(*br));
    if (!br || !(br->buf = malloc(sizeof(tap_hdr) + NET_FRAME_MAX))) {
        free(br);
        close(ctl);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    br->ctl = ctl;
    br->net.ops = &bridge_ops;
    br->net.loop = loop;
    snprintf(br->name, sizeof(br->name), "%s", bridge);
    return &br->net;
}

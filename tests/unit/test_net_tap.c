/* src/net/net_tap.c in a network namespace of its own (a forked child
 * unshares one; this needs root, which the CI machine is, and fails
 * loudly without it): a bridge the test creates, a vif's TAP on it, frames
 * from the port seen by a packet socket on the bridge and frames sent
 * there reaching the port, a GSO frame's meta both ways (the kernel
 * segments it for a port that does not take TSO), and the one-line
 * errors: no such bridge, not a bridge, no CAP_NET_ADMIN. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "net_frames.h"
#include "xenkvm/net.h"

#define BR "xkbr0"
#define VIF "vif1.0"

static struct util_loop *loop;
static struct net_network *net;

/* What the port was given. */
static struct {
    int n;
    uint8_t last[NET_FRAME_MAX];
    size_t len;
    struct net_meta meta;
    int match_type;             /* ethertype counted (0: any) */
    int any_type;               /* the last frame's, counted or not */
} got;

static int deliver(void *opaque, const struct net_frame *f)
{
    (void)opaque;
    got.any_type = f->len >= 14 ? f->data[12] << 8 | f->data[13] : -1;
    if (got.match_type && (f->data[12] << 8 | f->data[13]) != got.match_type)
        return 0;
    /* The test's IPv4 frames are TCP: the kernel's own (an IGMP report
     * when the bridge comes up) are not counted. */
    if (got.match_type == 0x0800 && (f->len < 24 || f->data[23] != 6))
        return 0;
    got.n++;
    memcpy(got.last, f->data, f->len);
    got.len = f->len;
    got.meta = f->meta;
    return 0;
}

static const struct net_port_ops ops = { .deliver = deliver };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The kernel's count of frames sent out of dev (it is the TAP: the frames
 * our port reads), from this network namespace's /proc/net/dev. */
static unsigned long long dev_tx_packets(const char *dev)
{
    char line[512];
    unsigned long long v[10] = { 0 };
    FILE *f = fopen("/proc/net/dev", "r");
    while (f && fgets(line, sizeof(line), f)) {
        char *c = strchr(line, ':');
        if (!c)
            continue;
        *c = 0;
        if (strcmp(line + strspn(line, " "), dev) == 0 &&
            sscanf(c + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
                   &v[8], &v[9]) == 10)
            break;
    }
    if (f)
        fclose(f);
    return v[9];
}

/* Run the loop until port p has n frames; fail after 10 s, saying what
 * the port and the kernel's side of the TAP counted. Until then, resend()
 * (the frame sent from the bridge) every half second: a bridge port that
 * was just added forwards nothing until the kernel has enabled it (seen:
 * the kernel's IGMP report reached the TAP, the test's broadcast sent
 * before it did not, 1 run in about 15). */
static void wait_got(struct net_port *p, int n, void (*resend)(int), int fd)
{
    double end = now() + 10, again = now() + 0.5;
    while (got.n < n) {
        if (now() > end) {
            struct net_port_stats st;
            net_port_stats(p, &st);
            fail_msg("the port got %d frames of %d in 10 s (port: rx %llu, "
                     "rx_dropped %llu, last ethertype %04x; " VIF ": tx %llu)",
                     got.n, n, (unsigned long long)st.rx_frames,
                     (unsigned long long)st.rx_dropped, got.any_type,
                     dev_tx_packets(VIF));
        }
        if (got.n == 0 && now() > again) {
            fprintf(stderr, "note: nothing from the bridge in 0.5 s; "
                    "sending again\n");
            resend(fd);
            again = now() + 0.5;
        }
        util_loop_run_once(loop, 50);
    }
}

static void set_cap_net_admin(bool on)
{
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct d[2];
    assert_int_equal(syscall(SYS_capget, &h, d), 0);
    if (on)
        d[0].effective |= 1u << CAP_NET_ADMIN;
    else
        d[0].effective &= ~(1u << CAP_NET_ADMIN);
    assert_int_equal(syscall(SYS_capset, &h, d), 0);
}

/* A packet socket on the bridge; with vnet: PACKET_VNET_HDR. */
static int packet_sock(bool vnet)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    struct sockaddr_ll a = { .sll_family = AF_PACKET,
                             .sll_protocol = htons(ETH_P_ALL),
                             .sll_ifindex = (int)if_nametoindex(BR) };
    int one = 1;
    assert_true(fd >= 0);
    if (vnet)
        assert_int_equal(setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one,
                                    sizeof(one)), 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Receive on fd until a frame of ethertype type arrives that is not our
 * own outgoing one; its length (with a vnet header, if fd has one). */
static size_t packet_wait(int fd, uint16_t type, size_t hdr, uint8_t *buf,
                          size_t n)
{
    double end = now() + 10;
    while (now() < end) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0)
            continue;
        struct sockaddr_ll from;
        socklen_t fl = sizeof(from);
        ssize_t r = recvfrom(fd, buf, n, 0, (struct sockaddr *)&from, &fl);
        assert_true(r >= 0);
        if (from.sll_pkttype == PACKET_OUTGOING || (size_t)r < hdr + 14)
            continue;
        if ((buf[hdr + 12] << 8 | buf[hdr + 13]) == type)
            return (size_t)r;
    }
    fail_msg("no frame of type %04x on the bridge in 10 s", type);
    return 0;
}

static struct net_port *plug(unsigned int offloads)
{
    char err[256] = "";
    struct net_port_config cfg = { .ops = &ops, .name = VIF,
                                   .mac = { 0x00, 0x16, 0x3e, 0, 0, 1 } };
    struct net_port *p = net_connect(net, &cfg, err, sizeof(err));
    if (!p)
        fail_msg("net_connect: %s", err);
    net_port_set_offloads(p, offloads);
    return p;
}

static int setup(void **state)
{
    (void)state;
    char err[256] = "";
    loop = util_loop_create();
    net = net_bridge_create(loop, BR, err, sizeof(err));
    if (!net)
        fprintf(stderr, "net_bridge_create: %s\n", err);
    memset(&got, 0, sizeof(got));
    return net ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    net_network_destroy(net);
    util_loop_destroy(loop);
    return 0;
}

/* ---- tests ---- */

static void test_errors(void **state)
{
    (void)state;
    char err[256] = "";
    struct util_loop *l = util_loop_create();
    assert_null(net_bridge_create(l, "br9", err, sizeof(err)));
    assert_string_equal(err, "no bridge 'br9'");
    assert_null(net_bridge_create(l, "lo", err, sizeof(err)));
    assert_string_equal(err, "'lo' is not a bridge");
    /* Without CAP_NET_ADMIN: the bridge, then a port. */
    set_cap_net_admin(false);
    assert_null(net_bridge_create(l, BR, err, sizeof(err)));
    assert_string_equal(err, "bridge '" BR "': needs CAP_NET_ADMIN (run as root)");
    set_cap_net_admin(true);
    struct net_network *n = net_bridge_create(l, BR, err, sizeof(err));
    assert_non_null(n);
    set_cap_net_admin(false);
    struct net_port_config cfg = { .ops = &ops, .name = VIF };
    assert_null(net_connect(n, &cfg, err, sizeof(err)));
    set_cap_net_admin(true);
    assert_string_equal(err, VIF ": cannot create a TAP device: needs "
                        "CAP_NET_ADMIN (run as root)");
    assert_int_equal(if_nametoindex(VIF), 0);
    /* A name no interface can have. */
    cfg.name = "a-name-far-too-long";
    assert_null(net_connect(n, &cfg, err, sizeof(err)));
    net_network_destroy(n);
    util_loop_destroy(l);
}

/* The frame test_frames sends from the bridge to the port. */
static uint8_t bframe[60];

static void send_bframe(int ps)
{
    assert_int_equal(send(ps, bframe, sizeof(bframe), 0), (ssize_t)sizeof(bframe));
}

static void test_frames(void **state)
{
    (void)state;
    uint8_t b[64] = { 0 }, r[2048];
    int ps = packet_sock(false);
    struct net_port *p = plug(0);
    /* The TAP is up, with Xen's host-side MAC (that it is on the bridge,
     * the frames below show). */
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, IFNAMSIZ, VIF);
    int ctl = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(ioctl(ctl, SIOCGIFFLAGS, &ifr), 0);
    assert_true(ifr.ifr_flags & IFF_UP);
    assert_int_equal(ioctl(ctl, SIOCGIFHWADDR, &ifr), 0);
    assert_memory_equal(ifr.ifr_hwaddr.sa_data, "\xfe\xff\xff\xff\xff\xff", 6);
    close(ctl);

    /* Port -> bridge. */
    memset(b, 0xff, 6);
    memcpy(b + 6, "\x00\x16\x3e\x00\x00\x01", 6);
    b[12] = 0x88; b[13] = 0xb5;
    memcpy(b + 14, "hello", 5);
    struct net_frame f = { .data = b, .len = 60 };
    assert_int_equal(net_port_send(p, &f), 0);
    size_t n = packet_wait(ps, 0x88b5, 0, r, sizeof(r));
    assert_int_equal(n, 60);
    assert_memory_equal(r, b, 60);

    /* Bridge -> port. */
    got.match_type = 0x88b6;
    memcpy(bframe, b, 60);
    memcpy(bframe + 6, "\x02\x00\x00\x00\x00\x09", 6);
    bframe[13] = 0xb6;
    memcpy(bframe + 14, "world", 5);
    send_bframe(ps);
    wait_got(p, 1, send_bframe, ps);
    assert_int_equal(got.len, 60);
    assert_memory_equal(got.last, bframe, 60);
    struct net_port_stats st;
    net_port_stats(p, &st);
    assert_int_equal(st.tx_frames, 1);
    assert_true(st.rx_frames >= 1);
    net_port_close(p);
    /* Closed: the TAP is gone. */
    assert_int_equal(if_nametoindex(VIF), 0);
    close(ps);
}

/* A TCPv4 GSO frame of 4000 payload bytes, MSS 1000, broadcast. */
static struct net_frame gso_frame(struct nt_frame *t)
{
    nt_mk(t, 4, false, 6, 4000, 0, 0x18);
    memset(t->b, 0xff, 6);
    struct net_frame f = { .data = t->b, .len = t->len };
    f.meta.flags = NET_META_CSUM_PARTIAL;
    f.meta.gso_type = NET_GSO_TCPV4;
    f.meta.gso_size = 1000;
    assert_int_equal(net_frame_csum_setup(&f), 0);
    return f;
}

static void test_gso_port_to_bridge(void **state)
{
    (void)state;
    static struct nt_frame t;
    static uint8_t r[sizeof(struct virtio_net_hdr) + NET_FRAME_MAX];
    int ps = packet_sock(true);
    struct net_port *p = plug(NET_OFF_CSUM | NET_OFF_TSO4);
    struct net_frame f = gso_frame(&t);
    assert_int_equal(net_port_send(p, &f), 0);
    /* The bridge is given the frame whole, still a GSO one. */
    size_t hl = sizeof(struct virtio_net_hdr);
    size_t n = packet_wait(ps, 0x0800, hl, r, sizeof(r));
    const struct virtio_net_hdr *h = (const void *)r;
    assert_int_equal(n - hl, t.len);
    assert_int_equal(h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN,
                     VIRTIO_NET_HDR_GSO_TCPV4);
    assert_int_equal(h->gso_size, 1000);
    assert_memory_equal(r + hl + 54, t.b + 54, 4000);
    net_port_close(p);
    close(ps);
}

/* The same frame sent on the bridge with its vnet header. */
static void inject_gso(int ps)
{
    static struct nt_frame t;
    static uint8_t b[sizeof(struct virtio_net_hdr) + NET_FRAME_MAX];
    struct net_frame f = gso_frame(&t);
    struct virtio_net_hdr h = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
        .hdr_len = 54, .gso_size = 1000,
        .csum_start = f.meta.csum_start, .csum_offset = f.meta.csum_offset,
    };
    memcpy(t.b + 6, "\x02\x00\x00\x00\x00\x09", 6);
    memcpy(b, &h, sizeof(h));
    memcpy(b + sizeof(h), t.b, t.len);
    assert_int_equal(send(ps, b, sizeof(h) + t.len, 0),
                     (ssize_t)(sizeof(h) + t.len));
}

static void test_gso_bridge_to_port(void **state)
{
    (void)state;
    int ps = packet_sock(true);
    struct net_port *p = plug(NET_OFF_CSUM | NET_OFF_TSO4);
    got.match_type = 0x0800;
    inject_gso(ps);
    wait_got(p, 1, inject_gso, ps);
    /* It arrives whole, with its meta. */
    assert_int_equal(got.len, 14 + 20 + 20 + 4000);
    assert_int_equal(got.meta.gso_type, NET_GSO_TCPV4);
    assert_int_equal(got.meta.gso_size, 1000);
    assert_true(got.meta.flags & NET_META_CSUM_PARTIAL);
    assert_int_equal(got.meta.csum_start, 34);
    assert_int_equal(got.meta.csum_offset, 16);

    /* A port that takes no offload: the kernel cut it into segments
     * with complete checksums (TUNSETOFFLOAD followed the owner). */
    net_port_set_offloads(p, 0);
    memset(&got, 0, sizeof(got));
    got.match_type = 0x0800;
    inject_gso(ps);
    wait_got(p, 4, inject_gso, ps);
    assert_int_equal(got.len, 14 + 20 + 20 + 1000);
    assert_int_equal(got.meta.gso_type, NET_GSO_NONE);
    assert_false(got.meta.flags & NET_META_CSUM_PARTIAL);
    assert_true(nt_l4_ok(got.last + 14, 4, got.last + 34, 1020, 6));
    net_port_close(p);
    close(ps);
}

/* ---- the namespace ---- */

static void write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, s, strlen(s)) < 0) {
            /* IPv6 may not be built: nothing to quiet then */
        }
        close(fd);
    }
}

/* In the child: a network namespace of its own with bridge BR, up. */
static int make_netns(void)
{
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "test_net_tap: cannot create a network namespace "
                "(unshare: %s): this test needs root\n", strerror(errno));
        return -1;
    }
    /* No IPv6 chatter (router solicitations, MLD) on the new devices. */
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = { 0 };
    if (ctl < 0 || ioctl(ctl, SIOCBRADDBR, BR) < 0) {
        fprintf(stderr, "test_net_tap: cannot create bridge " BR ": %s\n",
                strerror(errno));
        return -1;
    }
    snprintf(ifr.ifr_name, IFNAMSIZ, BR);
    if (ioctl(ctl, SIOCGIFFLAGS, &ifr) < 0)
        return -1;
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(ctl, SIOCSIFFLAGS, &ifr) < 0)
        return -1;
    close(ctl);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test_setup_teardown(test_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gso_port_to_bridge, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gso_bridge_to_port, setup,
                                        teardown),
    };
    int status;
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        if (make_netns() < 0)
            _exit(1);           /* a failure, never a skip */
        _exit(cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0);
    }
    if (waitpid(pid, &status, 0) < 0)
        return 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

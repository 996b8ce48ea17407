/* src/net/net_slirp.c with the real libslirp and real host sockets: ports
 * on a switch with user-mode networking, played frame by frame by the
 * test: DHCP offers per MAC, ARP for the host, UDP to the host's loopback
 * and back, a TCP port forward whose SYN reaches the guest at the address
 * it was learnt at, a host port that cannot be bound, QEMU's hostfwd
 * syntax, a flooding port that cannot take a healthy one's share of the
 * queue to slirp. The loop is not started: the test thread runs it (it is the
 * loop thread); slirp runs on its own thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "net_frames.h"
#include "net_int.h"            /* net_switch_uplink_hold */

#define MAXQ 64

/* A guest: its port and the frames it was given, oldest first. */
struct guest {
    struct net_port *port;
    uint8_t mac[6];
    uint8_t ip[4];
    uint8_t *q[MAXQ];
    size_t qlen[MAXQ];
    int n;
};

static int deliver(void *opaque, const struct net_frame *f)
{
    struct guest *g = opaque;
    if (g->n == MAXQ)
        return -ENOBUFS;
    g->q[g->n] = malloc(f->len);
    memcpy(g->q[g->n], f->data, f->len);
    g->qlen[g->n++] = f->len;
    return 0;
}

static const struct net_port_ops ops = { .deliver = deliver };

static void drop_frame(struct guest *g, int i)
{
    free(g->q[i]);
    memmove(g->q + i, g->q + i + 1, (size_t)(g->n - i - 1) * sizeof(g->q[0]));
    memmove(g->qlen + i, g->qlen + i + 1,
            (size_t)(g->n - i - 1) * sizeof(g->qlen[0]));
    g->n--;
}

static struct util_loop *loop;
static struct net_network *net;
static struct guest g1, g2;
static const uint8_t slirp_mac[6] = { 0x52, 0x55, 10, 0, 2, 2 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef bool (*match_fn)(const uint8_t *f, size_t len, const void *arg);

/* Run the loop until g was given a frame match() accepts (frames it does
 * not accept are kept), and copy it out; fail after 10 s (a bound on a
 * hang, not a timing assertion). */
static size_t wait_frame(struct guest *g, match_fn match, const void *arg,
                         uint8_t *out)
{
    double end = now() + 10;
    while (now() < end) {
        for (int i = 0; i < g->n; i++)
            if (match(g->q[i], g->qlen[i], arg)) {
                size_t len = g->qlen[i];
                memcpy(out, g->q[i], len);
                drop_frame(g, i);
                return len;
            }
        util_loop_run_once(loop, 50);
    }
    fail_msg("no such frame arrived within 10 s");
    return 0;
}

static void send_frame(struct guest *g, uint8_t *b, size_t len)
{
    struct net_frame f = { .data = b, .len = len };
    assert_int_equal(net_port_send(g->port, &f), 0);
}

/* ---- building frames ---- */

static const uint8_t any4[4] = { 0, 0, 0, 0 }, bcast4[4] = { 255, 255, 255, 255 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t host4[4] = { 10, 0, 2, 2 };

struct dhcp_m { const uint8_t *mac; uint32_t xid; };

static bool is_offer(const uint8_t *f, size_t len, const void *arg)
{
    const struct dhcp_m *m = arg;
    const uint8_t *bp = f + 42;
    if (len < 42 + 240 || f[12] != 0x08 || f[13] != 0 || f[23] != 17 ||
        f[36] != 0 || f[37] != 68)
        return false;
    uint32_t xid = (uint32_t)bp[4] << 24 | (uint32_t)bp[5] << 16 |
                   (uint32_t)bp[6] << 8 | bp[7];
    return bp[0] == 2 && xid == m->xid && !memcmp(bp + 28, m->mac, 6);
}

/* DHCPDISCOVER from g: the address slirp offers it, in g->ip. */
static void dhcp(struct guest *g)
{
    uint8_t b[600], r[2048];
    uint8_t bp[300];
    memset(bp, 0, sizeof(bp));
    bp[0] = 1; bp[1] = 1; bp[2] = 6;
    uint32_t xid = 0x1000u + g->mac[5];
    bp[4] = (uint8_t)(xid >> 24); bp[5] = (uint8_t)(xid >> 16);
    bp[6] = (uint8_t)(xid >> 8); bp[7] = (uint8_t)xid;
    memcpy(bp + 28, g->mac, 6);
    memcpy(bp + 236, "\x63\x82\x53\x63", 4);
    memcpy(bp + 240, "\x35\x01\x01\xff", 4);        /* DISCOVER, end */
    size_t len = nt_eth(b, bcast, g->mac, 0x0800);
    len = nt_udp4(b, any4, 68, bcast4, 67, bp, sizeof(bp));
    send_frame(g, b, len);
    struct dhcp_m m = { g->mac, xid };
    wait_frame(g, is_offer, &m, r);
    const uint8_t *rbp = r + 42;
    /* Option 53 says OFFER. */
    bool offer = false;
    for (size_t o = 240; o + 2 < 300 && rbp[o] != 0xff; o += 2u + rbp[o + 1])
        if (rbp[o] == 53)
            offer = rbp[o + 2] == 2;
    assert_true(offer);
    memcpy(g->ip, rbp + 16, 4);                     /* yiaddr */
}

static bool is_arp_reply(const uint8_t *f, size_t len, const void *arg)
{
    return len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2 &&
           !memcmp(f + 28, arg, 4);
}

/* ARP for 10.0.2.2 from g: slirp's MAC answers. */
static void arp_host(struct guest *g)
{
    uint8_t b[60], r[2048];
    nt_arp(b, 1, bcast, g->mac, g->ip, host4);
    send_frame(g, b, sizeof(b));
    wait_frame(g, is_arp_reply, host4, r);
    assert_memory_equal(r + 22, slirp_mac, 6);      /* sender hw */
    assert_memory_equal(r, g->mac, 6);              /* to g */
}

/* ---- the fixture ---- */

static void plug(struct guest *g, uint8_t last, const struct net_hostfwd *fwd,
                 size_t nfwd)
{
    char err[256] = "";
    memset(g, 0, sizeof(*g));
    g->mac[0] = 0x00; g->mac[1] = 0x16; g->mac[2] = 0x3e;
    g->mac[5] = last;
    struct net_port_config cfg = { .ops = &ops, .opaque = g, .name = "d1.vif0",
                                   .fwd = fwd, .nfwd = nfwd };
    memcpy(cfg.mac, g->mac, 6);
    g->port = net_connect(net, &cfg, err, sizeof(err));
    if (!g->port)
        fail_msg("net_connect: %s", err);
    net_port_set_offloads(g->port, NET_OFF_CSUM | NET_OFF_TSO4);
}

static void unplug(struct guest *g)
{
    net_port_close(g->port);
    while (g->n)
        drop_frame(g, 0);
    g->port = NULL;
}

static int setup_cfg(const struct net_switch_config *sc)
{
    char err[256] = "";
    struct net_switch_config cfg = *sc;
    loop = util_loop_create();
    net = net_switch_create(loop, &cfg, err, sizeof(err));
    if (!net) {
        fprintf(stderr, "net_switch_create: %s\n", err);
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_cfg(&(struct net_switch_config){ .slirp = true });
}

static int setup_restricted(void **state)
{
    (void)state;
    return setup_cfg(&(struct net_switch_config){ .slirp = true,
                                                  .restrict_host = true });
}

static int teardown(void **state)
{
    (void)state;
    if (g1.port)
        unplug(&g1);
    if (g2.port)
        unplug(&g2);
    net_network_destroy(net);
    util_loop_destroy(loop);
    return 0;
}

/* A socket of type on 127.0.0.1, port 0 (any) or port; its port in *port. */
static int host_sock(int type, uint16_t *port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons(*port) };
    socklen_t al = sizeof(a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- tests ---- */

static void test_dhcp_arp(void **state)
{
    (void)state;
    plug(&g1, 1, NULL, 0);
    plug(&g2, 2, NULL, 0);
    dhcp(&g1);
    assert_memory_equal(g1.ip, "\x0a\x00\x02\x0f", 4);     /* 10.0.2.15 */
    arp_host(&g1);
    /* A second MAC gets an address of its own. */
    dhcp(&g2);
    assert_memory_equal(g2.ip, "\x0a\x00\x02\x10", 4);     /* 10.0.2.16 */
    arp_host(&g2);
    /* And the first one's is still its own. */
    dhcp(&g1);
    assert_memory_equal(g1.ip, "\x0a\x00\x02\x0f", 4);
}

struct udp_m { const uint8_t *ip; uint16_t dport; };

static bool is_udp_to(const uint8_t *f, size_t len, const void *arg)
{
    const struct udp_m *m = arg;
    return len >= 42 && f[12] == 0x08 && f[13] == 0 && f[23] == 17 &&
           !memcmp(f + 30, m->ip, 4) && (f[36] << 8 | f[37]) == m->dport;
}

static void test_udp_to_host(void **state)
{
    (void)state;
    uint8_t b[256], r[2048], buf[64];
    uint16_t hp = 0;
    int us = host_sock(SOCK_DGRAM, &hp);
    plug(&g1, 1, NULL, 0);
    dhcp(&g1);
    arp_host(&g1);
    nt_eth(b, slirp_mac, g1.mac, 0x0800);
    size_t len = nt_udp4(b, g1.ip, 40000, host4, hp, "ping", 4);
    send_frame(&g1, b, len);
    /* It reaches the host's loopback socket (slirp's 10.0.2.2). */
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(us, buf, sizeof(buf), 0, (struct sockaddr *)&from,
                         &fl);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "ping", 4);
    /* The answer comes back to the guest, from 10.0.2.2:hp. */
    assert_int_equal(sendto(us, "pong!", 5, 0, (struct sockaddr *)&from, fl),
                     5);
    struct udp_m m = { g1.ip, 40000 };
    len = wait_frame(&g1, is_udp_to, &m, r);
    assert_int_equal(len, 14 + 20 + 8 + 5);
    assert_memory_equal(r + 26, host4, 4);
    assert_int_equal(r[34] << 8 | r[35], hp);
    assert_memory_equal(r + 42, "pong!", 5);
    assert_true(nt_l4_ok(r + 14, 4, r + 34, 13, 17));
    close(us);
}

/* restrict_host: the guest's UDP to the host goes nowhere, though DHCP
 * and ARP still answer. slirp handles frames in order on its thread, and
 * loopback delivery is done within sendto: once the ARP sent after the
 * UDP frame is answered, the datagram would be in the socket. */
static void test_restrict_host(void **state)
{
    (void)state;
    uint8_t b[256], buf[64];
    uint16_t hp = 0;
    int us = host_sock(SOCK_DGRAM, &hp);
    plug(&g1, 1, NULL, 0);
    dhcp(&g1);
    arp_host(&g1);
    nt_eth(b, slirp_mac, g1.mac, 0x0800);
    size_t len = nt_udp4(b, g1.ip, 40000, host4, hp, "ping", 4);
    send_frame(&g1, b, len);
    arp_host(&g1);
    assert_int_equal(recv(us, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    close(us);
}

struct syn_m { const uint8_t *ip; uint16_t dport; };

static bool is_syn_to(const uint8_t *f, size_t len, const void *arg)
{
    const struct syn_m *m = arg;
    return len >= 54 && f[12] == 0x08 && f[13] == 0 && f[23] == 6 &&
           !memcmp(f + 30, m->ip, 4) && (f[36] << 8 | f[37]) == m->dport &&
           (f[47] & 0x12) == 0x02;
}

static bool is_arp_request(const uint8_t *f, size_t len, const void *arg)
{
    return len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 1 &&
           !memcmp(f + 38, arg, 4);
}

static void test_hostfwd(void **state)
{
    (void)state;
    uint8_t b[256], r[2048];
    char err[256];
    uint16_t hp = 0;
    /* A free host port: bound, then let go. */
    int tmp = host_sock(SOCK_STREAM, &hp);
    close(tmp);
    char rule[64];
    snprintf(rule, sizeof(rule), "tcp:127.0.0.1:%u-:22", hp);
    struct net_hostfwd fwd;
    assert_int_equal(net_hostfwd_parse(rule, &fwd, err, sizeof(err)), 0);

    /* g1 takes the first DHCP address; g2, with the forward, the second:
     * the forward follows g2's own address once g2 is seen using it. */
    plug(&g1, 1, NULL, 0);
    plug(&g2, 2, &fwd, 1);
    dhcp(&g1);
    dhcp(&g2);
    assert_memory_equal(g2.ip, "\x0a\x00\x02\x10", 4);
    nt_eth(b, slirp_mac, g2.mac, 0x0800);
    size_t len = nt_udp4(b, g2.ip, 40000, host4, 9, "x", 1);
    send_frame(&g2, b, len);
    /* slirp took that frame (and the forward's move, queued before it)
     * once it answers an ARP sent after it. */
    arp_host(&g2);

    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons(hp) };
    int rc = connect(c, (struct sockaddr *)&a, sizeof(a));
    assert_true(rc == 0 || errno == EINPROGRESS);
    /* slirp may ask who 10.0.2.16 is first: g2 answers. */
    struct syn_m m = { g2.ip, 22 };
    double end = now() + 10;
    for (;;) {
        assert_true(now() < end);
        bool got = false;
        for (int i = 0; i < g2.n && !got; i++) {
            if (is_arp_request(g2.q[i], g2.qlen[i], g2.ip)) {
                uint8_t q[60];
                memcpy(q, g2.q[i], 60 < g2.qlen[i] ? 60 : g2.qlen[i]);
                drop_frame(&g2, i);
                uint8_t rep[60];
                nt_arp(rep, 2, q + 6, g2.mac, g2.ip, q + 28);
                memcpy(rep + 32, q + 22, 6);        /* their MAC */
                send_frame(&g2, rep, sizeof(rep));
                got = true;
            } else if (is_syn_to(g2.q[i], g2.qlen[i], &m)) {
                got = true;
                memcpy(r, g2.q[i], g2.qlen[i]);
                len = g2.qlen[i];
                drop_frame(&g2, i);
                goto syn;
            }
        }
        if (!got)
            util_loop_run_once(loop, 50);
    }
syn:
    /* The SYN is for g2's address and the guest port, from slirp's host,
     * with complete checksums; g1 was given none. */
    assert_memory_equal(r, g2.mac, 6);
    assert_memory_equal(r + 26, host4, 4);
    assert_true(nt_l4_ok(r + 14, 4, r + 34, len - 34, 6));
    for (int i = 0; i < g1.n; i++)
        assert_false(is_syn_to(g1.q[i], g1.qlen[i], &m));
    close(c);

    /* Closing the port closes the host's port. */
    unplug(&g2);
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), -1);
    assert_int_equal(errno, ECONNREFUSED);
    close(c);
}

static void test_hostfwd_port_taken(void **state)
{
    (void)state;
    char err[256] = "", rule[64], rule2[64];
    uint16_t hp = 0;
    int busy = host_sock(SOCK_STREAM, &hp);
    assert_int_equal(listen(busy, 1), 0);
    snprintf(rule, sizeof(rule), "tcp:127.0.0.1:%u-:80", hp);
    struct net_hostfwd fwd[2];
    assert_int_equal(net_hostfwd_parse("udp::0-:1", &fwd[0], err,
                                       sizeof(err)), -EINVAL);
    uint16_t up = 0;
    int tmp = host_sock(SOCK_DGRAM, &up);
    close(tmp);
    snprintf(rule2, sizeof(rule2), "udp:127.0.0.1:%u-:53", up);
    assert_int_equal(net_hostfwd_parse(rule2, &fwd[0], err, sizeof(err)), 0);
    assert_int_equal(net_hostfwd_parse(rule, &fwd[1], err, sizeof(err)), 0);
    struct net_port_config cfg = { .ops = &ops, .opaque = &g1,
                                   .name = "d3.vif1", .fwd = fwd, .nfwd = 2 };
    assert_null(net_connect(net, &cfg, err, sizeof(err)));
    /* One line naming the vif and the port. */
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, "d3.vif1"));
    char hps[16];
    snprintf(hps, sizeof(hps), ":%u", hp);
    assert_non_null(strstr(err, hps));
    /* The rule added before it was taken back: its port is free again. */
    int again = host_sock(SOCK_DGRAM, &up);
    close(again);
    close(busy);
}

/* Every datagram waiting on fd (none left when it returns). */
static int drain_count(int fd)
{
    char buf[64];
    int n = 0;
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
        n++;
    assert_int_equal(errno, EAGAIN);
    return n;
}

/* g1 floods slirp with 1000 datagrams while slirp's thread is held (its
 * queue fills in one go, as under a guest faster than slirp), then g2
 * sends a few: every one of g2's reaches the host, g1 loses only its own
 * (counted in its tx_dropped), and what it did not lose reaches the host
 * too. */
static void test_flood_fair_share(void **state)
{
    (void)state;
    enum { FLOOD = 1000, FEW = 5 };
    uint8_t b[256];
    uint16_t pa = 0, pb = 0;
    int ha = host_sock(SOCK_DGRAM, &pa), hb = host_sock(SOCK_DGRAM, &pb);
    int big = 1 << 20;
    (void)setsockopt(ha, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    plug(&g1, 1, NULL, 0);
    plug(&g2, 2, NULL, 0);
    dhcp(&g1);                  /* the switch learns slirp's MAC */
    dhcp(&g2);
    arp_host(&g1);
    arp_host(&g2);

    net_switch_uplink_hold(net, true);
    for (int i = 0; i < FLOOD; i++) {
        nt_eth(b, slirp_mac, g1.mac, 0x0800);
        size_t len = nt_udp4(b, g1.ip, 40000, host4, pa, "flood", 5);
        send_frame(&g1, b, len);
    }
    for (int i = 0; i < FEW; i++) {
        char msg[8];
        snprintf(msg, sizeof(msg), "b%d", i);
        nt_eth(b, slirp_mac, g2.mac, 0x0800);
        size_t len = nt_udp4(b, g2.ip, 40001, host4, pb, msg, 2);
        send_frame(&g2, b, len);
    }
    net_switch_uplink_hold(net, false);
    /* slirp takes frames in order: once an ARP sent after them is
     * answered, every datagram it took is in its socket. */
    arp_host(&g2);

    struct net_port_stats sa, sb;
    net_port_stats(g1.port, &sa);
    net_port_stats(g2.port, &sb);
    char buf[64];
    for (int i = 0; i < FEW; i++) {
        char msg[8];
        snprintf(msg, sizeof(msg), "b%d", i);
        ssize_t n = recv(hb, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0)
            fail_msg("g2's datagram %d was dropped (g1 dropped %llu)", i,
                     (unsigned long long)sa.tx_dropped);
        assert_int_equal(n, 2);
        assert_memory_equal(buf, msg, 2);
    }
    assert_int_equal(drain_count(hb), 0);
    assert_int_equal(sb.tx_dropped, 0);
    /* The queue holds 256 frames: most of the flood is g1's loss, and
     * every frame of it not counted as lost reached the host. */
    assert_true(sa.tx_dropped >= FLOOD - 256);
    assert_int_equal(drain_count(ha), FLOOD - (int)sa.tx_dropped);
    close(ha);
    close(hb);
}

static void test_hostfwd_parse(void **state)
{
    (void)state;
    char err[256];
    struct net_hostfwd f;
    assert_int_equal(net_hostfwd_parse("tcp::2222-:22", &f, err, sizeof(err)), 0);
    assert_false(f.udp);
    assert_int_equal(f.host_addr.s_addr, htonl(INADDR_ANY));
    assert_int_equal(f.host_port, 2222);
    assert_int_equal(f.guest_addr.s_addr, htonl(INADDR_ANY));
    assert_int_equal(f.guest_port, 22);
    assert_int_equal(net_hostfwd_parse("udp:127.0.0.1:5353-10.0.2.15:53", &f,
                                       err, sizeof(err)), 0);
    assert_true(f.udp);
    assert_int_equal(f.host_addr.s_addr, htonl(INADDR_LOOPBACK));
    assert_int_equal(f.guest_addr.s_addr, htonl(0x0a00020f));
    assert_int_equal(f.host_port, 5353);
    assert_int_equal(f.guest_port, 53);
    assert_int_equal(net_hostfwd_parse("::8080-:80", &f, err, sizeof(err)), 0);
    assert_false(f.udp);
    static const char *bad[] = {
        "", "tcp", "tcp::2222", "tcp::2222-22", "sctp::1-:2", "tcp::0-:22",
        "tcp::65536-:22", "tcp::22-:x", "tcp:1.2.3:22-:22", "tcp::22-:22 ",
        "tcp::-1-:22", "tcp::22-1.2.3.4.5:22", "tcp::+22-:22",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(net_hostfwd_parse(bad[i], &f, err, sizeof(err)),
                         -EINVAL);
        assert_true(err[0] != '\0');
        assert_null(strchr(err, '\n'));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostfwd_parse),
        cmocka_unit_test_setup_teardown(test_dhcp_arp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp_to_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restrict_host, setup_restricted,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hostfwd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostfwd_port_taken, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_flood_fair_share, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

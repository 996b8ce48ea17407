/*
 * src/net across threads (run under ThreadSanitizer by `make test`): a
 * switch with user-mode networking on a started loop; several guest
 * threads, each with its own port, reach the loop only through
 * util_loop_call (as netback's vCPU-side work does) and send UDP through
 * slirp's thread to an echo socket on the host's loopback, whose answers
 * come back through slirp's thread and the loop to their ports; beside
 * them a churn thread connects and closes ports with port forwards (the
 * loop waits for slirp's thread to bind and unbind host ports) while the
 * traffic flows. Every guest must get answers; all is torn down cleanly.
 * Bounded: a few hundred frames per guest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "net_frames.h"
#include "xenkvm/net.h"

#define GUESTS 3
#define FRAMES 300
#define CHURN 40

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "net_mt: %s:%d: %s\n", \
    __FILE__, __LINE__, #c); exit(1); } } while (0)

static struct util_loop *loop;
static struct net_network *net;
static uint16_t echo_port;
static atomic_bool stop;
static const uint8_t slirp_mac[6] = { 0x52, 0x55, 10, 0, 2, 2 };
static const uint8_t host4[4] = { 10, 0, 2, 2 };

struct guest {
    int i;
    struct net_port *port;
    uint8_t mac[6], ip[4];
    int answers;                /* the loop thread's */
    struct net_port_config cfg;
    char err[256];
};

static int deliver(void *opaque, const struct net_frame *f)
{
    struct guest *g = opaque;
    if (f->len >= 42 && f->data[23] == 17 && !memcmp(f->data + 30, g->ip, 4))
        g->answers++;
    return 0;
}

static const struct net_port_ops ops = { .deliver = deliver };

/* ---- on the loop thread, through util_loop_call ---- */

static void do_connect(void *arg)
{
    struct guest *g = arg;
    g->port = net_connect(net, &g->cfg, g->err, sizeof(g->err));
    if (g->port)
        net_port_set_offloads(g->port, NET_OFF_CSUM);
}

static void do_close(void *arg)
{
    struct guest *g = arg;
    net_port_close(g->port);
    g->port = NULL;
}

struct send_arg {
    struct guest *g;
    uint8_t b[128];
    size_t len;
};

static void do_send(void *arg)
{
    struct send_arg *a = arg;
    struct net_frame f = { .data = a->b, .len = a->len };
    (void)net_port_send(a->g->port, &f);    /* -ENOBUFS: a full queue */
}

struct read_arg {
    struct guest *g;
    int answers;                /* a copy, for the caller's thread */
};

static void do_read_answers(void *arg)
{
    struct read_arg *r = arg;
    r->answers = r->g->answers;
}

/* ---- threads ---- */

static void *guest_main(void *arg)
{
    struct guest *g = arg;
    struct send_arg a = { .g = g };
    int got = 0;

    util_loop_call(loop, do_connect, g);
    CHECK(g->port);
    /* slirp learns where the guest is from its ARP. */
    nt_arp(a.b, 1, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", g->mac,
           g->ip, host4);
    a.len = 60;
    util_loop_call(loop, do_send, &a);
    for (int n = 0; n < FRAMES; n++) {
        char msg[16];
        snprintf(msg, sizeof(msg), "g%d.%d", g->i, n);
        nt_eth(a.b, slirp_mac, g->mac, 0x0800);
        a.len = nt_udp4(a.b, g->ip, (uint16_t)(40000 + g->i), host4,
                        echo_port, msg, strlen(msg));
        util_loop_call(loop, do_send, &a);
        if (n % 50 == 0)
            usleep(1000);
    }
    /* Wait (bounded) for answers: each is counted on the loop thread. */
    for (int w = 0; w < 1000 && got == 0; w++) {
        struct read_arg r = { .g = g };
        util_loop_call(loop, do_read_answers, &r);
        got = r.answers;
        if (!got)
            usleep(10000);
    }
    CHECK(got > 0);
    /* A last ARP so the queues still move, then unplug. */
    util_loop_call(loop, do_send, &a);
    util_loop_call(loop, do_close, g);
    return NULL;
}

static void *churn_main(void *arg)
{
    (void)arg;
    for (int n = 0; n < CHURN; n++) {
        struct guest g = { .i = 100 + n };
        struct net_hostfwd fwd = { .host_addr.s_addr = htonl(INADDR_LOOPBACK),
                                   .guest_port = 22 };
        /* A port the kernel picks for us now, then let go. */
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
              getsockname(s, (struct sockaddr *)&sa, &sl) == 0);
        fwd.host_port = ntohs(sa.sin_port);
        close(s);
        g.cfg = (struct net_port_config){ .ops = &ops, .opaque = &g,
                                          .name = "churn", .fwd = &fwd,
                                          .nfwd = 1 };
        g.cfg.mac[0] = 0x02;
        g.cfg.mac[5] = (uint8_t)n;
        util_loop_call(loop, do_connect, &g);
        if (g.port)             /* someone may have taken the port since */
            util_loop_call(loop, do_close, &g);
    }
    return NULL;
}

static void *echo_main(void *arg)
{
    int fd = *(int *)arg;
    char buf[256];
    while (!atomic_load(&stop)) {
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
                             &fl);
        if (n > 0)
            (void)sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}

int main(void)
{
    char err[256] = "";
    struct net_switch_config cfg = { .slirp = true };
    static struct guest g[GUESTS];
    pthread_t gt[GUESTS], ct, et;
    struct timeval tv = { .tv_usec = 100000 };

    int es = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof(sa);
    CHECK(es >= 0 && bind(es, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
          getsockname(es, (struct sockaddr *)&sa, &sl) == 0);
    CHECK(setsockopt(es, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
    echo_port = ntohs(sa.sin_port);

    loop = util_loop_create();
    CHECK(loop);
    net = net_switch_create(loop, &cfg, err, sizeof(err));
    if (!net) {
        fprintf(stderr, "net_mt: %s\n", err);
        return 1;
    }
    CHECK(util_loop_start(loop, "net-loop") == 0);
    CHECK(pthread_create(&et, NULL, echo_main, &es) == 0);
    for (int i = 0; i < GUESTS; i++) {
        g[i].i = i;
        memcpy(g[i].mac, "\x00\x16\x3e\x00\x00", 5);
        g[i].mac[5] = (uint8_t)(i + 1);
        memcpy(g[i].ip, "\x0a\x00\x02", 3);
        g[i].ip[3] = (uint8_t)(100 + i);
        g[i].cfg = (struct net_port_config){ .ops = &ops, .opaque = &g[i],
                                             .name = "guest" };
        memcpy(g[i].cfg.mac, g[i].mac, 6);
        CHECK(pthread_create(&gt[i], NULL, guest_main, &g[i]) == 0);
    }
    CHECK(pthread_create(&ct, NULL, churn_main, NULL) == 0);
    for (int i = 0; i < GUESTS; i++)
        pthread_join(gt[i], NULL);
    pthread_join(ct, NULL);
    atomic_store(&stop, true);
    pthread_join(et, NULL);
    util_loop_stop(loop);
    net_network_destroy(net);
    util_loop_destroy(loop);
    close(es);
    printf("net_mt: %d guests x %d frames through slirp, %d port churns: ok\n",
           GUESTS, FRAMES, CHURN);
    return 0;
}

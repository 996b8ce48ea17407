/* src/net/net_switch.c without an uplink: learning, flooding of unknown
 * and broadcast destinations, a closed port's addresses forgotten, a port
 * not yet ready given nothing, each port given what it takes (a GSO frame
 * as segments to a port without TSO), malformed frames refused, stats. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net_frames.h"
#include "xenkvm/net.h"

#define NP 4

/* One port's owner: how many frames it got, the last one. */
struct owner {
    struct net_port *port;
    int n;
    uint8_t last[NET_FRAME_MAX];
    size_t last_len;
    struct net_meta last_meta;
    int refuse;                 /* deliver answers -ENOBUFS */
};

static int deliver(void *opaque, const struct net_frame *f)
{
    struct owner *o = opaque;
    if (o->refuse)
        return -ENOBUFS;
    o->n++;
    memcpy(o->last, f->data, f->len);
    o->last_len = f->len;
    o->last_meta = f->meta;
    return 0;
}

static const struct net_port_ops ops = { .deliver = deliver };

struct sw {
    struct util_loop *loop;
    struct net_network *net;
    struct owner o[NP];
};

static uint8_t mac_of(int i)
{
    return (uint8_t)(0x10 + i);
}

static struct net_port *plug(struct sw *s, int i, bool ready)
{
    char err[128] = "";
    struct net_port_config cfg = { .ops = &ops, .opaque = &s->o[i],
                                   .name = "port" };
    cfg.mac[0] = 0x02;
    cfg.mac[5] = mac_of(i);
    memset(&s->o[i], 0, sizeof(s->o[i]));
    s->o[i].port = net_connect(s->net, &cfg, err, sizeof(err));
    assert_non_null(s->o[i].port);
    if (ready)
        net_port_set_offloads(s->o[i].port, 0);
    return s->o[i].port;
}

static int setup(void **state)
{
    static struct sw s;
    char err[128] = "";
    struct net_switch_config cfg = { .slirp = false };
    memset(&s, 0, sizeof(s));
    s.loop = util_loop_create();
    s.net = net_switch_create(s.loop, &cfg, err, sizeof(err));
    if (!s.loop || !s.net)
        return -1;
    for (int i = 0; i < NP; i++)
        plug(&s, i, true);
    *state = &s;
    return 0;
}

static int teardown(void **state)
{
    struct sw *s = *state;
    for (int i = 0; i < NP; i++)
        net_port_close(s->o[i].port);
    net_network_destroy(s->net);
    util_loop_destroy(s->loop);
    return 0;
}

/* A small frame from port i to MAC dst (ethertype 0x88b5, local use). */
static int send_from(struct sw *s, int i, const uint8_t *dst, uint8_t tag)
{
    uint8_t b[60] = { 0 };
    memcpy(b, dst, 6);
    b[6] = 0x02;
    b[11] = mac_of(i);
    b[12] = 0x88; b[13] = 0xb5;
    b[14] = tag;
    struct net_frame f = { .data = b, .len = sizeof(b) };
    return net_port_send(s->o[i].port, &f);
}

static const uint8_t *mac(int i)
{
    static uint8_t m[NP][6];
    memset(m[i], 0, 6);
    m[i][0] = 0x02;
    m[i][5] = mac_of(i);
    return m[i];
}

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void counts(struct sw *s, int a, int b, int c, int d)
{
    assert_int_equal(s->o[0].n, a);
    assert_int_equal(s->o[1].n, b);
    assert_int_equal(s->o[2].n, c);
    assert_int_equal(s->o[3].n, d);
}

static void test_learning(void **state)
{
    struct sw *s = *state;
    /* Nobody has been seen: flooded to every other port. */
    assert_int_equal(send_from(s, 0, mac(1), 1), 0);
    counts(s, 0, 1, 1, 1);
    assert_int_equal(s->o[1].last[14], 1);
    /* Port 0 was learnt: only it gets the answer. */
    assert_int_equal(send_from(s, 1, mac(0), 2), 0);
    counts(s, 1, 1, 1, 1);
    assert_int_equal(s->o[0].last[14], 2);
    /* And port 1 was learnt too. */
    assert_int_equal(send_from(s, 0, mac(1), 3), 0);
    counts(s, 1, 2, 1, 1);
    /* A frame for the sender's own side goes nowhere. */
    assert_int_equal(send_from(s, 0, mac(0), 4), 0);
    counts(s, 1, 2, 1, 1);
    /* A MAC that moves is learnt behind its new port. */
    uint8_t b[60] = { 0 };
    memcpy(b, mac(2), 6);
    memcpy(b + 6, mac(0), 6);           /* port 3 now says it is mac 0 */
    b[12] = 0x88; b[13] = 0xb5;
    struct net_frame f = { .data = b, .len = sizeof(b) };
    assert_int_equal(net_port_send(s->o[3].port, &f), 0);
    counts(s, 2, 3, 2, 1);              /* flooded: 2 unknown; not to 3 */
    assert_int_equal(send_from(s, 1, mac(0), 5), 0);
    counts(s, 2, 3, 2, 2);
}

static void test_broadcast(void **state)
{
    struct sw *s = *state;
    assert_int_equal(send_from(s, 1, mac(0), 0), 0);    /* learn 1 */
    counts(s, 1, 0, 1, 1);
    assert_int_equal(send_from(s, 2, bcast, 7), 0);
    counts(s, 2, 1, 1, 2);
    /* Multicast is flooded too. */
    uint8_t mc[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };
    assert_int_equal(send_from(s, 0, mc, 8), 0);
    counts(s, 2, 2, 2, 3);
}

static void test_close_forgets(void **state)
{
    struct sw *s = *state;
    assert_int_equal(send_from(s, 3, bcast, 0), 0);     /* learn 3 */
    counts(s, 1, 1, 1, 0);
    net_port_close(s->o[3].port);
    /* Its MAC is unknown again: flooded to the three left. */
    assert_int_equal(send_from(s, 0, mac(3), 1), 0);
    counts(s, 1, 2, 2, 0);
    /* A new port under the same MAC is learnt afresh. */
    plug(s, 3, true);
    assert_int_equal(send_from(s, 3, mac(0), 2), 0);
    assert_int_equal(send_from(s, 0, mac(3), 3), 0);
    counts(s, 2, 2, 2, 1);
    assert_int_equal(s->o[3].last[14], 3);
}

static void test_not_ready(void **state)
{
    struct sw *s = *state;
    struct net_port_stats st;
    net_port_close(s->o[3].port);
    plug(s, 3, false);
    assert_int_equal(send_from(s, 0, bcast, 1), 0);
    assert_int_equal(send_from(s, 0, mac(3), 2), 0);
    counts(s, 0, 2, 2, 0);
    net_port_stats(s->o[3].port, &st);
    assert_int_equal(st.rx_frames, 0);
    assert_int_equal(st.rx_dropped, 2);
    /* Once its owner says what it takes, it gets frames. */
    net_port_set_offloads(s->o[3].port, 0);
    assert_int_equal(send_from(s, 0, mac(3), 3), 0);
    counts(s, 0, 3, 3, 1);
}

static void test_adaptation(void **state)
{
    struct sw *s = *state;
    static struct nt_frame f;
    struct net_port_stats st;

    /* Port 1 takes TSO4, port 2 nothing, port 3 refuses everything. */
    net_port_set_offloads(s->o[1].port, NET_OFF_CSUM | NET_OFF_TSO4);
    s->o[3].refuse = 1;
    nt_mk(&f, 4, false, 6, 4000, 0, 0x18);
    f.b[11] = mac_of(0);
    memset(f.b, 0xff, 6);               /* broadcast: every port gets it */
    struct net_frame nf = { .data = f.b, .len = f.len };
    nf.meta.flags = NET_META_CSUM_PARTIAL;
    nf.meta.gso_type = NET_GSO_TCPV4;
    nf.meta.gso_size = 1448;
    assert_int_equal(net_frame_csum_setup(&nf), 0);
    assert_int_equal(net_port_send(s->o[0].port, &nf), 0);
    assert_int_equal(s->o[1].n, 1);
    assert_int_equal(s->o[1].last_len, f.len);
    assert_int_equal(s->o[1].last_meta.gso_type, NET_GSO_TCPV4);
    assert_int_equal(s->o[2].n, 3);     /* 1448 + 1448 + 1104 */
    assert_int_equal(s->o[2].last_meta.gso_type, NET_GSO_NONE);
    assert_int_equal(s->o[2].last_len, 14 + 20 + 20 + 1104);
    assert_true(nt_l4_ok(s->o[2].last + 14, 4, s->o[2].last + 34,
                         20 + 1104, 6));
    net_port_stats(s->o[2].port, &st);
    assert_int_equal(st.rx_frames, 3);
    assert_int_equal(st.rx_bytes, 3 * 54 + 4000);
    net_port_stats(s->o[3].port, &st);
    assert_int_equal(st.rx_frames, 0);
    assert_int_equal(st.rx_dropped, 3);
    net_port_stats(s->o[0].port, &st);
    assert_int_equal(st.tx_frames, 1);
    assert_int_equal(st.tx_bytes, f.len);
}

static void test_malformed(void **state)
{
    struct sw *s = *state;
    struct net_port_stats st;
    uint8_t b[60] = { 0 };
    struct net_frame f = { .data = b, .len = 13 };
    assert_int_equal(net_port_send(s->o[0].port, &f), -EINVAL);
    f.len = NET_FRAME_MAX + 1;
    assert_int_equal(net_port_send(s->o[0].port, &f), -EINVAL);
    f.len = 60;
    f.meta.flags = NET_META_CSUM_PARTIAL;
    f.meta.csum_start = 58;
    f.meta.csum_offset = 1;             /* past the end */
    assert_int_equal(net_port_send(s->o[0].port, &f), -EINVAL);
    memset(&f.meta, 0, sizeof(f.meta));
    b[6] = 0x01;                        /* a multicast source */
    assert_int_equal(net_port_send(s->o[0].port, &f), -EINVAL);
    counts(s, 0, 0, 0, 0);
    net_port_stats(s->o[0].port, &st);
    assert_int_equal(st.tx_dropped, 4);
    assert_int_equal(st.tx_frames, 0);
}

static void test_fwd_needs_slirp(void **state)
{
    struct sw *s = *state;
    char err[128] = "";
    struct net_hostfwd fwd = { .host_port = 2222, .guest_port = 22 };
    struct net_port_config cfg = { .ops = &ops, .name = "d1.vif0",
                                   .fwd = &fwd, .nfwd = 1 };
    assert_null(net_connect(s->net, &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "user-mode networking"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_learning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broadcast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_forgets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adaptation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fwd_needs_slirp, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

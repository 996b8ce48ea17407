/*
 * netback against plain memory: the "guest" is shared anonymous RAM with
 * a grant table (the real core), the real XenStore service and
 * event-channel core, netback on a loop thread, plugged into the real
 * in-process switch (src/net) beside a test port that records frames and
 * sends them; the test plays Linux's xen-netfront (keys, states, tx and rx
 * rings with granted pages, notifications). The set-up is
 * tests/common/netback_harness.h (shared with the fuzzer and the stress
 * test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "netback_harness.h"

#define PG 4096u
#define RAM_PAGES 512u
#define GT_FRAMES 4u
#define FE 1
#define DEVID 0u
#define DEVID2 1u

static const uint8_t MAC1[6] = { 0x00, 0x16, 0x3e, 0, 0, 1 };
static const uint8_t MAC2[6] = { 0x00, 0x16, 0x3e, 0, 0, 2 };

struct fx {
    struct nx n;
    struct be_net_vif *vif;
    struct nx_front c;
    uint16_t next_id;
};

static void nap(void)
{
    nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
}

/* Wait (up to 20 s: a hang is a failure, not a timing check) for cond. */
#define WAIT_FOR(cond) do { \
        int i_; \
        for (i_ = 0; i_ < 20000 && !(cond); i_++) \
            nap(); \
        if (!(cond)) \
            fail_msg("timed out waiting for %s", #cond); \
    } while (0)

static uint32_t page_alloc(struct fx *f)
{
    uint32_t gfn = beh_page_alloc(&f->n.h);
    assert_true(gfn != UINT32_MAX);
    return gfn;
}

static grant_ref_t grant(struct fx *f, uint32_t gfn, bool ro)
{
    grant_ref_t ref = beh_grant(&f->n.h, gfn, ro);
    assert_true(ref != UINT32_MAX);
    return ref;
}

static uint8_t *page(struct fx *f, uint32_t gfn)
{
    return beh_page(&f->n.h, gfn);
}

static long be_long(struct fx *f, uint32_t devid, const char *key)
{
    return nx_be_long(&f->n, devid, key);
}

static void wait_be_state(struct fx *f, uint32_t devid, long want)
{
    WAIT_FOR(be_long(f, devid, "state") == want);
}

static struct be_net_vif *vif_add(struct fx *f, uint32_t devid,
                                  const uint8_t *mac, uint64_t rate_bytes,
                                  uint64_t rate_usecs)
{
    struct be_vif_config vc = { .domid = FE, .devid = devid,
        .net = f->n.sw, .rate_bytes = rate_bytes, .rate_usecs = rate_usecs };
    memcpy(vc.mac, mac, 6);
    struct be_net_vif *v;
    char err[160];
    if (be_netback_vif_add(f->n.nb, &vc, &v, err, sizeof(err)))
        fail_msg("vif_add: %s", err);
    return v;
}

static struct fx *setup(void)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[160];
    if (nx_init(&f->n, FE, RAM_PAGES, GT_FRAMES, true, err, sizeof(err)))
        fail_msg("%s", err);
    f->vif = vif_add(f, DEVID, MAC1, 0, 0);
    return f;
}

static void teardown(struct fx *f)
{
    be_netback_vif_remove(f->vif);
    assert_int_equal(nx_fini(&f->n), 0);    /* every grant unmapped */
    free(f);
}

/* netfront's talk_to_netback, then Connected both ways. */
static void fe_connect_dev(struct fx *f, uint32_t devid, struct nx_front *c,
                           unsigned int nq, bool split, unsigned int feats)
{
    assert_int_equal(nx_fe_rings(&f->n, devid, c, nq, split, feats), 0);
    assert_int_equal(nx_fe_write(&f->n, devid, "state", "%d",
                                 XenbusStateInitialised), 0);
    wait_be_state(f, devid, XenbusStateConnected);
    assert_int_equal(nx_fe_write(&f->n, devid, "state", "%d",
                                 XenbusStateConnected), 0);
}

static void fe_connect(struct fx *f, unsigned int nq, bool split,
                       unsigned int feats)
{
    fe_connect_dev(f, DEVID, &f->c, nq, split, feats);
}

/* ---- frames ---- */

/* An Ethernet frame of len bytes from src to dst: IPv4 (or IPv6) with
 * TCP (or UDP) and a payload of a pattern seeded by seed. */
static void make_frame(uint8_t *b, size_t len, const uint8_t *dst,
                       const uint8_t *src, bool v6, bool udp, uint8_t seed)
{
    memset(b, 0, len);
    memcpy(b, dst, 6);
    memcpy(b + 6, src, 6);
    size_t l4;
    if (v6) {
        b[12] = 0x86;
        b[13] = 0xdd;
        b[14] = 0x60;
        b[20] = udp ? 17 : 6;
        b[21] = 64;
        b[22 + 15] = 1;         /* addresses ...::1 -> ...::2 */
        b[38 + 15] = 2;
        b[18] = (uint8_t)((len - 54) >> 8);   /* payload length */
        b[19] = (uint8_t)(len - 54);
        l4 = 54;
    } else {
        b[12] = 0x08;
        b[14] = 0x45;
        b[22] = 64;
        b[23] = udp ? 17 : 6;
        b[26] = 10; b[29] = 1;  /* 10.0.0.1 -> 10.0.0.2 */
        b[30] = 10; b[33] = 2;
        b[16] = (uint8_t)((len - 14) >> 8);   /* total length */
        b[17] = (uint8_t)(len - 14);
        l4 = 34;
    }
    b[l4] = seed;               /* source port: the flow */
    b[l4 + 3] = 80;
    if (!udp)
        b[l4 + 12] = 0x50;
    for (size_t i = l4 + 20; i < len; i++)
        b[i] = (uint8_t)(seed + i * 7);
}

/* Put the tx request (or extra) at queue q's req_prod_pvt. */
static void tx_put(struct fx *f, unsigned int q, const void *slot,
                   size_t size)
{
    netif_tx_front_ring_t *r = &f->c.q[q].tx;
    memcpy(RING_GET_REQUEST(r, r->req_prod_pvt), slot, size);
    r->req_prod_pvt++;
}

static void tx_push(struct fx *f, struct nx_front *c, unsigned int q)
{
    if (NX_PUSH(&c->q[q].tx))
        assert_int_equal(nx_notify(&f->n, c->q[q].txp), 0);
}

/* Wait for the next tx response of queue q: its status, its id in *id. */
static int16_t tx_rsp(struct fx *f, struct nx_front *c, unsigned int q,
                      uint16_t *id)
{
    (void)f;
    netif_tx_front_ring_t *r = &c->q[q].tx;
    WAIT_FOR(__atomic_load_n(&r->sring->rsp_prod, __ATOMIC_ACQUIRE) !=
             r->rsp_cons);
    netif_tx_response_t rsp;
    RING_COPY_RESPONSE(r, r->rsp_cons, &rsp);
    r->rsp_cons++;
    if (id)
        *id = rsp.id;
    return rsp.status;
}

/* A frame of len bytes in slots of at most `per` bytes, each in a page of
 * its own granted read-only (at offset off), with flags on the first and
 * an optional GSO extra. The ids are next_id.. */
static void tx_frame(struct fx *f, unsigned int q, const uint8_t *data,
                     size_t len, size_t per, uint16_t off, uint16_t flags,
                     const netif_extra_info_t *extra)
{
    size_t done = 0;
    bool first = true;
    do {
        size_t n = len - done < per ? len - done : per;
        uint32_t gfn = page_alloc(f);
        memcpy(page(f, gfn) + off, data + done, n);
        netif_tx_request_t req = { .gref = grant(f, gfn, true),
            .offset = off, .id = f->next_id++,
            .size = (uint16_t)(first ? len : n) };
        if (first)
            req.flags = flags | (extra ? NETTXF_extra_info : 0);
        if (done + n < len)
            req.flags |= NETTXF_more_data;
        tx_put(f, q, &req, sizeof(req));
        if (first && extra)
            tx_put(f, q, extra, sizeof(*extra));
        first = false;
        done += n;
    } while (done < len);
}

/* Post n rx requests on queue q, each a fresh writable page; their gfns
 * in gfns[] (ids 0..). */
static void rx_post(struct fx *f, struct nx_front *c, unsigned int q,
                    unsigned int n, uint32_t *gfns)
{
    netif_rx_front_ring_t *r = &c->q[q].rx;
    for (unsigned int i = 0; i < n; i++) {
        uint32_t gfn = page_alloc(f);
        netif_rx_request_t *req = RING_GET_REQUEST(r, r->req_prod_pvt);
        req->id = (uint16_t)(r->req_prod_pvt & 0xff);
        req->gref = grant(f, gfn, false);
        if (gfns)
            gfns[r->req_prod_pvt & 0xff] = gfn;
        r->req_prod_pvt++;
    }
    if (NX_PUSH(r))
        assert_int_equal(nx_notify(&f->n, c->q[q].rxp), 0);
}

static netif_rx_response_t rx_rsp(struct fx *f, struct nx_front *c,
                                  unsigned int q)
{
    (void)f;
    netif_rx_front_ring_t *r = &c->q[q].rx;
    WAIT_FOR(__atomic_load_n(&r->sring->rsp_prod, __ATOMIC_ACQUIRE) !=
             r->rsp_cons);
    netif_rx_response_t rsp;
    RING_COPY_RESPONSE(r, r->rsp_cons, &rsp);
    r->rsp_cons++;
    return rsp;
}

static struct be_vif_stats stats(struct be_net_vif *v)
{
    struct be_vif_stats s;
    be_netback_vif_stats(v, &s);
    return s;
}

/* The test port's frame i (it must have arrived). */
static struct nx_frame got(struct fx *f, unsigned int i)
{
    WAIT_FOR(nx_ngot(&f->n) > i);
    pthread_mutex_lock(&f->n.lock);
    struct nx_frame g = f->n.got[i];
    pthread_mutex_unlock(&f->n.lock);
    return g;
}

/* ---- tests ---- */

static void test_keys(void **state)
{
    (void)state;
    struct fx *f = setup();
    assert_int_equal(be_long(f, DEVID, "state"), XenbusStateInitWait);
    assert_int_equal(be_long(f, DEVID, "frontend-id"), FE);
    assert_int_equal(be_long(f, DEVID, "handle"), DEVID);
    static const char *const one[] = { "feature-sg", "feature-gso-tcpv4",
        "feature-gso-tcpv6", "feature-ipv6-csum-offload", "feature-rx-copy",
        "feature-split-event-channels", "online" };
    for (size_t i = 0; i < sizeof(one) / sizeof(*one); i++)
        assert_int_equal(be_long(f, DEVID, one[i]), 1);
    assert_int_equal(be_long(f, DEVID, "feature-rx-flip"), 0);
    assert_int_equal(be_long(f, DEVID, "multi-queue-max-queues"), 4);
    char *v;
    assert_int_equal(store_client_read(f->n.h.c0,
        "/local/domain/0/backend/vif/1/0/type", &v, NULL), 0);
    assert_string_equal(v, "vif");
    free(v);
    assert_int_equal(store_client_read(f->n.h.fe,
        "/local/domain/1/device/vif/0/mac", &v, NULL), 0);
    assert_string_equal(v, "00:16:3e:00:00:01");
    free(v);
    assert_int_equal(store_client_read(f->n.h.fe,
        "/local/domain/1/device/vif/0/backend", &v, NULL), 0);
    assert_string_equal(v, "/local/domain/0/backend/vif/1/0");
    free(v);
    assert_int_equal(store_client_read(f->n.h.fe,
        "/local/domain/0/backend/vif/1/0/mac", &v, NULL), 0);
    assert_string_equal(v, "00:16:3e:00:00:01");
    free(v);
    assert_int_equal(store_client_write(f->n.h.fe,
        "/local/domain/0/backend/vif/1/0/state", "4", 1), -EACCES);
    teardown(f);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct fx *f = setup();
    fe_connect(f, 1, false, NX_ALL);
    struct be_vif_stats s = stats(f->vif);
    assert_int_equal(s.nr_queues, 1);
    assert_false(s.split_evtchn);
    assert_true(s.sg && s.gso4 && s.gso6 && s.csum && s.ipv6_csum &&
                s.rx_notify);
    /* guest -> network: one slot, data validated */
    uint8_t fr[1514];
    make_frame(fr, 200, f->n.tp_mac, MAC1, false, true, 1);
    tx_frame(f, 0, fr, 200, PG, 100, NETTXF_data_validated, NULL);
    tx_push(f, &f->c, 0);
    uint16_t id;
    assert_int_equal(tx_rsp(f, &f->c, 0, &id), NETIF_RSP_OKAY);
    assert_int_equal(id, 0);
    struct nx_frame g = got(f, 0);
    assert_int_equal(g.len, 200);
    assert_memory_equal(g.data, fr, 200);
    assert_int_equal(g.meta.flags, NET_META_CSUM_VALID);
    /* network -> guest: a frame for the guest's MAC */
    uint32_t gfns[256];
    rx_post(f, &f->c, 0, 8, gfns);
    make_frame(fr, 1514, MAC1, f->n.tp_mac, false, false, 2);
    struct net_frame nf = { .data = fr, .len = 1514 };
    assert_int_equal(nx_tp_send(&f->n, &nf), 0);
    netif_rx_response_t r = rx_rsp(f, &f->c, 0);
    assert_int_equal(r.status, 1514);
    assert_int_equal(r.offset, 0);
    assert_int_equal(r.flags, 0);
    assert_memory_equal(page(f, gfns[r.id]), fr, 1514);
    s = stats(f->vif);
    assert_int_equal(s.tx_frames, 1);
    assert_int_equal(s.tx_bytes, 200);
    assert_int_equal(s.rx_frames, 1);
    assert_int_equal(s.rx_bytes, 1514);
    assert_int_equal(s.tx_errors + s.rx_dropped + s.rx_errors, 0);
    teardown(f);
}

/* A multi-slot GSO frame with a blank checksum both ways. */
static void test_sg_gso_csum(void **state)
{
    (void)state;
    struct fx *f = setup();
    fe_connect(f, 1, false, NX_ALL);
    static uint8_t fr[9000];
    make_frame(fr, 9000, f->n.tp_mac, MAC1, false, false, 3);
    netif_extra_info_t gso = { .type = XEN_NETIF_EXTRA_TYPE_GSO };
    gso.u.gso.size = 1448;
    gso.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
    tx_frame(f, 0, fr, 9000, 4000, 0, NETTXF_csum_blank, &gso);
    tx_push(f, &f->c, 0);
    /* 3 data slots and the extra: OKAY, NULL, OKAY, OKAY */
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_OKAY);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_NULL);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_OKAY);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_OKAY);
    struct nx_frame g = got(f, 0);
    assert_int_equal(g.len, 9000);
    assert_memory_equal(g.data, fr, 9000);
    assert_int_equal(g.meta.gso_type, NET_GSO_TCPV4);
    assert_int_equal(g.meta.gso_size, 1448);
    assert_true(g.meta.flags & NET_META_CSUM_PARTIAL);
    assert_int_equal(g.meta.csum_start, 34);
    assert_int_equal(g.meta.csum_offset, 16);
    /* an IPv6 UDP frame with a blank checksum: partial, offset 6 */
    make_frame(fr, 300, f->n.tp_mac, MAC1, true, true, 4);
    tx_frame(f, 0, fr, 300, PG, 0, NETTXF_csum_blank, NULL);
    tx_push(f, &f->c, 0);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_OKAY);
    g = got(f, 1);
    assert_int_equal(g.meta.flags, NET_META_CSUM_PARTIAL);
    assert_int_equal(g.meta.csum_start, 54);
    assert_int_equal(g.meta.csum_offset, 6);
    struct be_vif_stats s = stats(f->vif);
    assert_int_equal(s.tx_gso, 1);
    assert_int_equal(s.tx_csum_blank, 2);

    /* network -> guest: a 9000-byte GSO TCPv6 frame, partial checksum */
    uint32_t gfns[256];
    rx_post(f, &f->c, 0, 8, gfns);
    make_frame(fr, 9000, MAC1, f->n.tp_mac, true, false, 5);
    struct net_frame nf = { .data = fr, .len = 9000, .meta = {
        .flags = NET_META_CSUM_PARTIAL, .gso_type = NET_GSO_TCPV6,
        .gso_size = 1428, .csum_start = 54, .csum_offset = 16 } };
    assert_int_equal(nx_tp_send(&f->n, &nf), 0);
    netif_rx_response_t r = rx_rsp(f, &f->c, 0);
    assert_int_equal(r.status, 4096);
    assert_int_equal(r.flags, NETRXF_csum_blank | NETRXF_data_validated |
                              NETRXF_extra_info | NETRXF_more_data);
    assert_memory_equal(page(f, gfns[r.id]), fr, 4096);
    netif_rx_response_t ex = rx_rsp(f, &f->c, 0);
    netif_extra_info_t e;
    memcpy(&e, &ex, sizeof(e));
    assert_int_equal(e.type, XEN_NETIF_EXTRA_TYPE_GSO);
    assert_int_equal(e.u.gso.type, XEN_NETIF_GSO_TYPE_TCPV6);
    assert_int_equal(e.u.gso.size, 1428);
    r = rx_rsp(f, &f->c, 0);
    assert_int_equal(r.status, 4096);
    assert_int_equal(r.flags, NETRXF_more_data);
    assert_memory_equal(page(f, gfns[r.id]), fr + 4096, 4096);
    r = rx_rsp(f, &f->c, 0);
    assert_int_equal(r.status, 9000 - 8192);
    assert_int_equal(r.flags, 0);
    assert_memory_equal(page(f, gfns[r.id]), fr + 8192, 9000 - 8192);
    /* a checked frame: data_validated alone */
    make_frame(fr, 100, MAC1, f->n.tp_mac, false, true, 6);
    struct net_frame vf = { .data = fr, .len = 100,
                            .meta = { .flags = NET_META_CSUM_VALID } };
    assert_int_equal(nx_tp_send(&f->n, &vf), 0);
    r = rx_rsp(f, &f->c, 0);
    assert_int_equal(r.status, 100);
    assert_int_equal(r.flags, NETRXF_data_validated);
    teardown(f);
}

/* Two queues with split channels: tx on each, rx spread over both. */
static void test_split_queues(void **state)
{
    (void)state;
    struct fx *f = setup();
    fe_connect(f, 2, true, NX_ALL);
    struct be_vif_stats s = stats(f->vif);
    assert_int_equal(s.nr_queues, 2);
    assert_true(s.split_evtchn);
    uint8_t fr[600];
    for (unsigned int q = 0; q < 2; q++) {
        make_frame(fr, 600, f->n.tp_mac, MAC1, false, true, (uint8_t)q);
        tx_frame(f, q, fr, 600, PG, 0, 0, NULL);
        tx_push(f, &f->c, q);
        assert_int_equal(tx_rsp(f, &f->c, q, NULL), NETIF_RSP_OKAY);
        struct nx_frame g = got(f, q);
        assert_memory_equal(g.data, fr, 600);
    }
    for (unsigned int q = 0; q < 2; q++)
        rx_post(f, &f->c, q, 32, NULL);
    /* 32 flows: each lands on one queue or the other, none lost */
    for (unsigned int i = 0; i < 32; i++) {
        make_frame(fr, 600, MAC1, f->n.tp_mac, false, true, (uint8_t)i);
        struct net_frame nf = { .data = fr, .len = 600 };
        assert_int_equal(nx_tp_send(&f->n, &nf), 0);
    }
    WAIT_FOR(stats(f->vif).rx_frames == 32);
    unsigned int per[2];
    for (unsigned int q = 0; q < 2; q++)
        per[q] = __atomic_load_n(&f->c.q[q].rx.sring->rsp_prod,
                                 __ATOMIC_ACQUIRE);
    assert_int_equal(per[0] + per[1], 32);
    assert_true(per[0] > 0 && per[1] > 0);  /* the hash spreads them */
    teardown(f);
}

/* Each malformed but non-fatal input is answered as Linux answers it;
 * the vif goes on working. */
static void test_malformed(void **state)
{
    (void)state;
    struct fx *f = setup();
    fe_connect(f, 1, false, NX_ALL);
    uint8_t fr[2000];
    make_frame(fr, 2000, f->n.tp_mac, MAC1, false, true, 7);
    uint16_t id;
    /* the first slot shorter than an Ethernet header */
    tx_frame(f, 0, fr, 10, PG, 0, 0, NULL);
    tx_push(f, &f->c, 0);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_ERROR);
    /* a second slot larger than what the first's size leaves */
    uint32_t gfn = page_alloc(f);
    netif_tx_request_t a = { .gref = grant(f, gfn, true), .id = 100,
                             .size = 100, .flags = NETTXF_more_data };
    netif_tx_request_t b = { .gref = a.gref, .id = 101, .size = 200 };
    tx_put(f, 0, &a, sizeof(a));
    tx_put(f, 0, &b, sizeof(b));
    tx_push(f, &f->c, 0);
    assert_int_equal(tx_rsp(f, &f->c, 0, &id), NETIF_RSP_ERROR);
    assert_int_equal(id, 100);
    assert_int_equal(tx_rsp(f, &f->c, 0, &id), NETIF_RSP_ERROR);
    assert_int_equal(id, 101);
    /* 19 slots after the first (XEN_NETBK_LEGACY_SLOTS_MAX is 18, the
     * first not counted; 20 would be fatal): all ERROR */
    tx_frame(f, 0, fr, 20 * 95, 95, 0, 0, NULL);
    tx_push(f, &f->c, 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_ERROR);
    /* a multicast extra (not offered): ERROR and NULL */
    netif_extra_info_t mc = { .type = XEN_NETIF_EXTRA_TYPE_MCAST_ADD };
    tx_frame(f, 0, fr, 60, PG, 0, 0, &mc);
    tx_push(f, &f->c, 0);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_ERROR);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_NULL);
    /* a grant that is not one */
    netif_tx_request_t bad = { .gref = 4000, .id = 102, .size = 60 };
    tx_put(f, 0, &bad, sizeof(bad));
    tx_push(f, &f->c, 0);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_ERROR);
    /* csum_blank on a frame with no TCP/UDP: nowhere to put it */
    uint8_t arp[60] = { 0 };
    memcpy(arp, f->n.tp_mac, 6);
    memcpy(arp + 6, MAC1, 6);
    arp[12] = 0x08;
    arp[13] = 0x06;
    /* Linux answers OKAY once the data is copied, and drops the frame
     * after (checksum_setup, the stack): so do we, counting it */
    uint64_t errs = stats(f->vif).tx_errors;
    tx_frame(f, 0, arp, 60, PG, 0, NETTXF_csum_blank, NULL);
    tx_push(f, &f->c, 0);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_OKAY);
    assert_int_equal(stats(f->vif).tx_errors, errs + 1);
    /* a multicast source address: the network refuses it (OKAY, dropped) */
    uint8_t mcs[60];
    memcpy(mcs, arp, 60);
    mcs[6] = 1;
    tx_frame(f, 0, mcs, 60, PG, 0, 0, NULL);
    tx_push(f, &f->c, 0);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_OKAY);
    assert_int_equal(stats(f->vif).tx_errors, errs + 2);
    /* and a good frame still goes */
    tx_frame(f, 0, fr, 2000, 1000, 0, 0, NULL);
    tx_push(f, &f->c, 0);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_OKAY);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_OKAY);
    struct nx_frame g = got(f, 0);
    assert_memory_equal(g.data, fr, 2000);
    struct be_vif_stats s = stats(f->vif);
    assert_int_equal(s.tx_errors, 7);
    assert_int_equal(s.tx_frames, 1);
    assert_int_equal(s.tx_fatal, 0);
    assert_false(s.disabled);
    assert_int_equal(nx_ngot(&f->n), 1);
    teardown(f);
}

/* A protocol violation stops that vif (every queue, both ways) and no
 * other: a second vif on the same switch keeps working. */
enum fatal_kind { F_CROSS_PAGE, F_SLOT_CROSS, F_20_SLOTS, F_EXTRA_TYPE,
                  F_GSO_SIZE, F_GSO_TYPE, F_MISSING_SLOT, F_PROD_AHEAD,
                  F_KINDS };

static void put_fatal(struct fx *f, struct nx_front *c, enum fatal_kind k)
{
    uint32_t gfn = page_alloc(f);
    grant_ref_t ref = grant(f, gfn, true);
    netif_tx_front_ring_t *r = &c->q[0].tx;
    netif_tx_request_t t = { .gref = ref, .id = 1, .size = 100 };
    netif_extra_info_t e = { .type = XEN_NETIF_EXTRA_TYPE_GSO };
    e.u.gso.size = 1000;
    e.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
    switch (k) {
    case F_CROSS_PAGE:
        t.offset = 4000;
        break;
    case F_SLOT_CROSS:
        t.flags = NETTXF_more_data;
        *RING_GET_REQUEST(r, r->req_prod_pvt++) = t;
        t.offset = 4090;
        t.size = 50;
        t.flags = 0;
        break;
    case F_20_SLOTS:
        t.size = 2000;
        for (int i = 0; i < 21; i++) {  /* the first and 20 more */
            t.flags = NETTXF_more_data;
            *RING_GET_REQUEST(r, r->req_prod_pvt++) = t;
            t.size = 10;
        }
        t.flags = 0;
        break;
    case F_EXTRA_TYPE:
    case F_GSO_SIZE:
    case F_GSO_TYPE:
        if (k == F_EXTRA_TYPE)
            e.type = XEN_NETIF_EXTRA_TYPE_MAX;
        else if (k == F_GSO_SIZE)
            e.u.gso.size = 0;
        else
            e.u.gso.type = 9;
        t.flags = NETTXF_extra_info;
        *RING_GET_REQUEST(r, r->req_prod_pvt++) = t;
        memcpy(RING_GET_REQUEST(r, r->req_prod_pvt), &e, sizeof(e));
        r->req_prod_pvt++;
        tx_push(f, c, 0);
        return;
    case F_MISSING_SLOT:
        t.flags = NETTXF_more_data;
        break;
    case F_PROD_AHEAD:
        __atomic_store_n(&r->sring->req_prod, r->req_prod_pvt + 1000,
                         __ATOMIC_SEQ_CST);
        assert_int_equal(nx_notify(&f->n, c->q[0].txp), 0);
        return;
    default:
        return;
    }
    *RING_GET_REQUEST(r, r->req_prod_pvt++) = t;
    tx_push(f, c, 0);
}

static void test_fatal_contained(void **state)
{
    (void)state;
    struct fx *f = setup();
    fe_connect(f, 1, false, NX_ALL);         /* the healthy vif */
    uint8_t fr[300];
    for (int k = 0; k < F_KINDS; k++) {
        struct be_net_vif *bad = vif_add(f, DEVID2, MAC2, 0, 0);
        struct nx_front c2;
        fe_connect_dev(f, DEVID2, &c2, 2, false, NX_ALL);
        uint32_t gfns[256];
        rx_post(f, &c2, 0, 4, gfns);
        put_fatal(f, &c2, (enum fatal_kind)k);
        WAIT_FOR(stats(bad).tx_fatal == 1);
        struct be_vif_stats s = stats(bad);
        assert_true(s.disabled);
        assert_int_equal(s.tx_frames, 0);
        /* it gets nothing from the network any more */
        make_frame(fr, 300, MAC2, f->n.tp_mac, false, true, 1);
        struct net_frame nf = { .data = fr, .len = 300 };
        assert_int_equal(nx_tp_send(&f->n, &nf), 0);
        WAIT_FOR(stats(bad).rx_dropped == 1);
        /* the healthy one goes on, both ways */
        unsigned int before = nx_ngot(&f->n);
        make_frame(fr, 300, f->n.tp_mac, MAC1, false, true, 9);
        tx_frame(f, 0, fr, 300, PG, 0, 0, NULL);
        tx_push(f, &f->c, 0);
        assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_OKAY);
        WAIT_FOR(nx_ngot(&f->n) == before + 1);
        rx_post(f, &f->c, 0, 1, NULL);
        make_frame(fr, 300, MAC1, f->n.tp_mac, false, true, 10);
        assert_int_equal(nx_tp_send(&f->n, &nf), 0);
        assert_int_equal(rx_rsp(f, &f->c, 0).status, 300);
        be_netback_vif_remove(bad);
        nx_got_clear(&f->n);
    }
    teardown(f);
}

/* Linux's credit: a frame over the credit waits for the refill; none is
 * lost, and no more is sent than was granted. */
static void test_rate_limit(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    char err[160];
    if (nx_init(&f->n, FE, RAM_PAGES, GT_FRAMES, true, err, sizeof(err)))
        fail_msg("%s", err);
    f->vif = vif_add(f, DEVID, MAC1, 1000, 50000);  /* 1000 B per 50 ms */
    fe_connect(f, 1, false, NX_ALL);
    uint8_t fr[600];
    for (int i = 0; i < 5; i++) {
        make_frame(fr, 600, f->n.tp_mac, MAC1, false, true, (uint8_t)i);
        tx_frame(f, 0, fr, 600, PG, 0, 0, NULL);
    }
    tx_push(f, &f->c, 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_OKAY);
    WAIT_FOR(nx_ngot(&f->n) == 5);
    for (unsigned int i = 0; i < 5; i++)
        assert_int_equal(got(f, i).data[34], i);   /* in order */
    struct be_vif_stats s = stats(f->vif);
    assert_int_equal(s.tx_frames, 5);
    assert_int_equal(s.tx_bytes, 3000);
    /* 3000 bytes went out of a first window of 1000: refilled, and
     * never more sent than granted */
    assert_true(s.credit_granted >= s.tx_bytes);
    assert_true(s.credit_granted > 1000);
    assert_int_equal(be_long(f, DEVID, "rate"), 1000);   /* "1000,50000" */
    teardown(f);
}

/* Frames wait for the guest's rx requests; a full queue drops (counted);
 * a bad rx grant fails that response only. */
static void test_rx_queue_and_bad_gref(void **state)
{
    (void)state;
    struct fx *f = setup();
    fe_connect(f, 1, false, NX_ALL);
    uint8_t fr[300];
    for (unsigned int i = 0; i < 300; i++) {
        make_frame(fr, 300, MAC1, f->n.tp_mac, false, true, 1);
        fr[60] = (uint8_t)i;
        struct net_frame nf = { .data = fr, .len = 300 };
        assert_int_equal(nx_tp_send(&f->n, &nf), 0);
    }
    struct be_vif_stats s = stats(f->vif);
    assert_int_equal(s.rx_frames, 0);
    assert_int_equal(s.rx_dropped, 300 - 256);       /* NB_RXQ_FRAMES */
    /* a bad grant first, then good ones: they drain in order */
    netif_rx_front_ring_t *r = &f->c.q[0].rx;
    netif_rx_request_t *req = RING_GET_REQUEST(r, r->req_prod_pvt++);
    req->id = 77;
    req->gref = 4000;
    uint32_t gfns[256];
    rx_post(f, &f->c, 0, 4, gfns);
    netif_rx_response_t rsp = rx_rsp(f, &f->c, 0);
    assert_int_equal(rsp.id, 77);
    assert_true(rsp.status < 0);
    for (unsigned int i = 1; i < 5; i++) {
        rsp = rx_rsp(f, &f->c, 0);
        assert_int_equal(rsp.status, 300);
        assert_int_equal(page(f, gfns[rsp.id])[60], i);
    }
    s = stats(f->vif);
    assert_int_equal(s.rx_errors, 1);
    assert_int_equal(s.rx_frames, 4);
    teardown(f);
}

/* A frontend without scatter-gather: a frame over a page is dropped; one
 * without rx-copy or rx-notify is refused. */
static void test_non_sg_and_refusals(void **state)
{
    (void)state;
    struct fx *f = setup();
    fe_connect(f, 1, false, 0);
    struct be_vif_stats s = stats(f->vif);
    assert_false(s.sg || s.gso4 || s.gso6 || s.ipv6_csum);
    assert_true(s.csum);
    uint32_t gfns[256];
    rx_post(f, &f->c, 0, 4, gfns);
    static uint8_t fr[5000];
    make_frame(fr, 5000, MAC1, f->n.tp_mac, false, true, 1);
    struct net_frame big = { .data = fr, .len = 5000 };
    assert_int_equal(nx_tp_send(&f->n, &big), 0);
    struct net_frame small = { .data = fr, .len = 4000 };
    assert_int_equal(nx_tp_send(&f->n, &small), 0);
    netif_rx_response_t r = rx_rsp(f, &f->c, 0);
    assert_int_equal(r.status, 4000);
    s = stats(f->vif);
    assert_int_equal(s.rx_dropped, 1);
    be_netback_vif_remove(f->vif);

    /* request-rx-copy=0: an error node, Closing */
    f->vif = vif_add(f, DEVID, MAC1, 0, 0);
    assert_int_equal(nx_fe_rings(&f->n, DEVID, &f->c, 1, false, NX_ALL), 0);
    assert_int_equal(nx_fe_write(&f->n, DEVID, "request-rx-copy", "0"), 0);
    assert_int_equal(nx_fe_write(&f->n, DEVID, "state", "%d",
                                 XenbusStateInitialised), 0);
    wait_be_state(f, DEVID, XenbusStateClosing);
    assert_int_equal(be_long(f, DEVID, "error"), EOPNOTSUPP);
    be_netback_vif_remove(f->vif);
    /* no feature-rx-notify */
    f->vif = vif_add(f, DEVID, MAC1, 0, 0);
    assert_int_equal(nx_fe_rings(&f->n, DEVID, &f->c, 1, false, NX_ALL), 0);
    char path[80];
    snprintf(path, sizeof(path), "/local/domain/%u/device/vif/%u/"
             "feature-rx-notify", FE, DEVID);
    assert_int_equal(store_client_rm(f->n.h.fe, path), 0);
    assert_int_equal(nx_fe_write(&f->n, DEVID, "state", "%d",
                                 XenbusStateInitialised), 0);
    wait_be_state(f, DEVID, XenbusStateClosing);
    assert_int_equal(be_long(f, DEVID, "error"), EINVAL);
    /* too many queues */
    be_netback_vif_remove(f->vif);
    f->vif = vif_add(f, DEVID, MAC1, 0, 0);
    assert_int_equal(nx_fe_rings(&f->n, DEVID, &f->c, 1, false, NX_ALL), 0);
    assert_int_equal(nx_fe_write(&f->n, DEVID, "multi-queue-num-queues",
                                 "5"), 0);
    assert_int_equal(nx_fe_write(&f->n, DEVID, "state", "%d",
                                 XenbusStateInitialised), 0);
    wait_be_state(f, DEVID, XenbusStateClosing);
    teardown(f);
}

static void unplug_done(void *arg)
{
    __atomic_store_n((int *)arg, 1, __ATOMIC_SEQ_CST);
}

/* The frontend closes and comes back (a module reload), then the vif is
 * hot-unplugged. */
static void test_reconnect_unplug(void **state)
{
    (void)state;
    struct fx *f = setup();
    fe_connect(f, 2, true, NX_ALL);
    assert_int_equal(nx_fe_write(&f->n, DEVID, "state", "%d",
                                 XenbusStateClosing), 0);
    wait_be_state(f, DEVID, XenbusStateClosing);
    assert_int_equal(nx_fe_write(&f->n, DEVID, "state", "%d",
                                 XenbusStateClosed), 0);
    wait_be_state(f, DEVID, XenbusStateClosed);
    struct gnttab_stats gs;
    gnttab_get_stats(f->n.h.g.gt, &gs);
    assert_int_equal(gs.active, 0);          /* the rings are let go */
    assert_int_equal(nx_fe_write(&f->n, DEVID, "state", "%d",
                                 XenbusStateInitialising), 0);
    wait_be_state(f, DEVID, XenbusStateInitWait);
    fe_connect(f, 1, false, NX_ALL);
    struct be_vif_stats s = stats(f->vif);
    assert_int_equal(s.connects, 2);
    assert_int_equal(s.nr_queues, 1);
    assert_false(s.split_evtchn);
    uint8_t fr[100];
    make_frame(fr, 100, f->n.tp_mac, MAC1, false, true, 1);
    tx_frame(f, 0, fr, 100, PG, 0, 0, NULL);
    tx_push(f, &f->c, 0);
    assert_int_equal(tx_rsp(f, &f->c, 0, NULL), NETIF_RSP_OKAY);
    assert_memory_equal(got(f, 0).data, fr, 100);
    /* unplug: Closing asked, the frontend closes, the device goes */
    int done = 0;
    be_netback_vif_unplug(f->vif, unplug_done, &done);
    wait_be_state(f, DEVID, XenbusStateClosing);
    assert_int_equal(nx_fe_write(&f->n, DEVID, "state", "%d",
                                 XenbusStateClosed), 0);
    WAIT_FOR(__atomic_load_n(&done, __ATOMIC_SEQ_CST));
    char *v;
    assert_int_equal(store_client_read(f->n.h.c0,
        "/local/domain/0/backend/vif/1/0", &v, NULL), -ENOENT);
    teardown(f);
}

/* no_gso (bench/net.sh's "what GSO buys"): TSO is not offered, and a
 * frontend that asks for it anyway does not get it. */
static void test_no_gso(void **state)
{
    (void)state;
    struct fx *f = setup();
    struct be_vif_config vc = { .domid = FE, .devid = DEVID2, .net = f->n.sw,
                                .no_gso = true };
    memcpy(vc.mac, MAC2, 6);
    struct be_net_vif *v;
    char err[160];
    assert_int_equal(be_netback_vif_add(f->n.nb, &vc, &v, err, sizeof(err)), 0);
    assert_int_equal(be_long(f, DEVID2, "feature-gso-tcpv4"), 0);
    assert_int_equal(be_long(f, DEVID2, "feature-gso-tcpv6"), 0);
    assert_int_equal(be_long(f, DEVID2, "feature-sg"), 1);
    struct nx_front c2;
    fe_connect_dev(f, DEVID2, &c2, 1, false, NX_ALL);
    struct be_vif_stats s = stats(v);
    assert_true(s.sg && s.csum);
    assert_false(s.gso4 || s.gso6);
    be_netback_vif_remove(v);
    teardown(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_sg_gso_csum),
        cmocka_unit_test(test_split_queues),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_fatal_contained),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_rx_queue_and_bad_gref),
        cmocka_unit_test(test_non_sg_and_refusals),
        cmocka_unit_test(test_reconnect_unplug),
        cmocka_unit_test(test_no_gso),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * netback against plain memory, on tests/common/be_harness.h (the guest's
 * RAM and grant table, the XenStore service, the event-channel core, the
 * loop), with netback, the real in-process switch (src/net, no slirp) and
 * a test port on it that records what it is given and sends what the test
 * asks. The caller plays Linux's xen-netfront with the helpers below (its
 * keys, rings, grants, notifications). Header-only: used by
 * tests/unit/test_netback.c, the fuzzer fuzz/netback.c and the stress
 * test tests/stress/netback_mt.c.
 *
 * No cmocka here: every helper returns 0 / a value, or -1 / -errno, and
 * the caller asserts.
 */
#ifndef XENKVM_TESTS_NETBACK_HARNESS_H
#define XENKVM_TESTS_NETBACK_HARNESS_H

#include <pthread.h>
#include <stdint.h>

#include <xen/io/netif.h>

#include "be_harness.h"
#include "xenkvm/net.h"

#define NX_PAGE 4096u
#define NX_MAX_QUEUES 4u
#define NX_CAPTURE 64u                  /* frames the test port keeps */

/* A frame the test port was given. */
struct nx_frame {
    uint8_t *data;
    size_t len;
    struct net_meta meta;
};

struct nx {
    struct beh h;                       /* guest, store, grant tables, loop */
    struct be_netback *nb;
    struct net_network *sw;             /* the in-process switch */
    struct net_port *tp;                /* the test's port on it */
    uint8_t tp_mac[6];
    pthread_mutex_t lock;               /* what the test port got: */
    struct nx_frame got[NX_CAPTURE];    /* the first NX_CAPTURE frames */
    unsigned int ngot;                  /* frames given in all */
    uint8_t count_mac[6];               /* frames from this source MAC */
    unsigned int ncount;                /* are counted here */
};

/* One vif's frontend, as netfront keeps it. */
struct nx_front {
    uint32_t devid;
    unsigned int nq;
    bool split;
    struct {
        netif_tx_front_ring_t tx;
        netif_rx_front_ring_t rx;
        evtchn_port_t txp, rxp;         /* the same without split */
        uint32_t tx_gfn, rx_gfn;
    } q[NX_MAX_QUEUES];
};

static inline int nx_tp_deliver(void *opaque, const struct net_frame *f)
{
    struct nx *n = opaque;
    pthread_mutex_lock(&n->lock);
    if (n->ngot < NX_CAPTURE) {
        struct nx_frame *g = &n->got[n->ngot];
        g->data = malloc(f->len ? f->len : 1);
        if (g->data)
            memcpy(g->data, f->data, f->len);
        g->len = f->len;
        g->meta = f->meta;
    }
    n->ngot++;
    if (f->len >= 12 && !memcmp(f->data + 6, n->count_mac, 6))
        n->ncount++;
    pthread_mutex_unlock(&n->lock);
    return 0;
}

static const struct net_port_ops nx_tp_ops = { .deliver = nx_tp_deliver };

struct nx_call {
    struct nx *n;
    struct net_frame *f;
    int rc;
    char err[128];
};

static inline void nx_tp_open(void *arg)
{
    struct nx_call *c = arg;
    struct net_port_config pc = { .ops = &nx_tp_ops, .opaque = c->n,
                                  .name = "test" };
    memcpy(pc.mac, c->n->tp_mac, 6);
    c->n->tp = net_connect(c->n->sw, &pc, c->err, sizeof(c->err));
    if (c->n->tp)       /* takes everything: sees frames as netback sent */
        net_port_set_offloads(c->n->tp, NET_OFF_CSUM | NET_OFF_CSUM6 |
                                        NET_OFF_TSO4 | NET_OFF_TSO6);
    c->rc = c->n->tp ? 0 : -1;
}

static inline void nx_tp_send_call(void *arg)
{
    struct nx_call *c = arg;
    c->rc = net_port_send(c->n->tp, c->f);
}

static inline void nx_tp_close(void *arg)
{
    struct nx *n = arg;
    net_port_close(n->tp);
    n->tp = NULL;
}

/* beh_init, netback, the switch and the test port (MAC 02:00:00:00:00:fe).
 * 0, or -1 with a line in err (what is built is left for nx_fini). */
static inline int nx_init(struct nx *n, domid_t fe_domid, uint32_t ram_pages,
                          uint32_t gt_frames, bool loop_thread, char *err,
                          size_t errlen)
{
    memset(n, 0, sizeof(*n));
    pthread_mutex_init(&n->lock, NULL);
    if (beh_init(&n->h, fe_domid, ram_pages, gt_frames, loop_thread, err,
                 errlen))
        return -1;
    if (!(n->nb = be_netback_create(&n->h.env, err, errlen)))
        return -1;
    const struct net_switch_config sc = { .slirp = false };
    if (!(n->sw = net_switch_create(n->h.loop, &sc, err, errlen)))
        return -1;
    static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 0xfe };
    memcpy(n->tp_mac, mac, 6);
    struct nx_call c = { .n = n };
    util_loop_call(n->h.loop, nx_tp_open, &c);
    if (c.rc) {
        snprintf(err, errlen, "test port: %s", c.err);
        return -1;
    }
    return 0;
}

/* Forget the frames the test port got. */
static inline void nx_got_clear(struct nx *n)
{
    pthread_mutex_lock(&n->lock);
    for (unsigned int i = 0; i < NX_CAPTURE; i++) {
        free(n->got[i].data);
        n->got[i].data = NULL;
    }
    n->ngot = 0;
    pthread_mutex_unlock(&n->lock);
}

static inline unsigned int nx_ngot(struct nx *n)
{
    pthread_mutex_lock(&n->lock);
    unsigned int k = n->ngot;
    pthread_mutex_unlock(&n->lock);
    return k;
}

/* Tear down what nx_init built (every vif removed first). Returns the
 * frontend's grant entries still mapped (0: netback unmapped all). */
static inline uint32_t nx_fini(struct nx *n)
{
    if (n->tp)
        util_loop_call(n->h.loop, nx_tp_close, n);
    net_network_destroy(n->sw);
    be_netback_destroy(n->nb);
    uint32_t active = beh_fini(&n->h);
    nx_got_clear(n);
    pthread_mutex_destroy(&n->lock);
    return active;
}

/* The test port sends f (on the loop): net_port_send's result. */
static inline int nx_tp_send(struct nx *n, struct net_frame *f)
{
    struct nx_call c = { .n = n, .f = f };
    util_loop_call(n->h.loop, nx_tp_send_call, &c);
    return c.rc;
}

/* The frontend writes key (under device/vif/<devid>/). 0 or -errno. */
#define nx_fe_write(n, devid, key, ...) \
    beh_fe_write(&(n)->h, "vif", devid, key, __VA_ARGS__)

static inline long nx_be_long(struct nx *n, uint32_t devid, const char *key)
{
    return beh_be_long(&n->h, "vif", devid, key);
}

/* A ring page: allocated, zeroed, granted. UINT32_MAX when out of RAM or
 * grants; else the gfn, its ref in *ref. */
static inline uint32_t nx_ring_page(struct nx *n, grant_ref_t *ref)
{
    uint32_t gfn = beh_page_alloc(&n->h);
    if (gfn == UINT32_MAX)
        return gfn;
    memset(beh_page(&n->h, gfn), 0, NX_PAGE);
    *ref = beh_grant(&n->h, gfn, false);
    return *ref == UINT32_MAX ? UINT32_MAX : gfn;
}

/* netfront's talk_to_netback up to (not including) its state change: nq
 * queues (keys flat with one, under queue-N/ with more, and
 * multi-queue-num-queues as Linux writes it), each with a tx and an rx
 * ring and one channel or two (split), request-rx-copy=1,
 * feature-rx-notify=1, and the features: feature-sg, feature-gso-tcpv4,
 * feature-gso-tcpv6, feature-ipv6-csum-offload each = 1 when its bit
 * (1, 2, 4, 8) is in feats; bit 16: feature-no-csum-offload=1. 0, -1
 * (RAM, grants or ports ran out) or a store error. */
#define NX_SG 1u
#define NX_GSO4 2u
#define NX_GSO6 4u
#define NX_CSUM6 8u
#define NX_NO_CSUM 16u
#define NX_ALL (NX_SG | NX_GSO4 | NX_GSO6 | NX_CSUM6)
static inline int nx_fe_rings(struct nx *n, uint32_t devid,
                              struct nx_front *f, unsigned int nq, bool split,
                              unsigned int feats)
{
    if (nq == 0 || nq > NX_MAX_QUEUES)
        return -1;
    memset(f, 0, sizeof(*f));
    f->devid = devid;
    f->nq = nq;
    f->split = split;
    int rc;
    for (unsigned int i = 0; i < nq; i++) {
        char dir[16] = "", key[48];
        grant_ref_t txr, rxr;
        if (nq > 1)
            snprintf(dir, sizeof(dir), "queue-%u/", i);
        if ((f->q[i].tx_gfn = nx_ring_page(n, &txr)) == UINT32_MAX ||
            (f->q[i].rx_gfn = nx_ring_page(n, &rxr)) == UINT32_MAX)
            return -1;
        netif_tx_sring_t *ts = (void *)beh_page(&n->h, f->q[i].tx_gfn);
        netif_rx_sring_t *rs = (void *)beh_page(&n->h, f->q[i].rx_gfn);
        SHARED_RING_INIT(ts);
        SHARED_RING_INIT(rs);
        FRONT_RING_INIT(&f->q[i].tx, ts, NX_PAGE);
        FRONT_RING_INIT(&f->q[i].rx, rs, NX_PAGE);
        snprintf(key, sizeof(key), "%stx-ring-ref", dir);
        if ((rc = nx_fe_write(n, devid, key, "%u", txr)))
            return rc;
        snprintf(key, sizeof(key), "%srx-ring-ref", dir);
        if ((rc = nx_fe_write(n, devid, key, "%u", rxr)))
            return rc;
        int p = hx_alloc_unbound(n->h.x, n->h.fe_domid, DOMID_SELF, 0);
        if (p <= 0)
            return -1;
        f->q[i].txp = f->q[i].rxp = (evtchn_port_t)p;
        if (split) {
            int p2 = hx_alloc_unbound(n->h.x, n->h.fe_domid, DOMID_SELF, 0);
            if (p2 <= 0)
                return -1;
            f->q[i].rxp = (evtchn_port_t)p2;
            snprintf(key, sizeof(key), "%sevent-channel-tx", dir);
            if ((rc = nx_fe_write(n, devid, key, "%d", p)))
                return rc;
            snprintf(key, sizeof(key), "%sevent-channel-rx", dir);
            rc = nx_fe_write(n, devid, key, "%d", p2);
        } else {
            snprintf(key, sizeof(key), "%sevent-channel", dir);
            rc = nx_fe_write(n, devid, key, "%d", p);
        }
        if (rc)
            return rc;
    }
    static const struct { unsigned int bit; const char *key; } fk[] = {
        { NX_SG, "feature-sg" }, { NX_GSO4, "feature-gso-tcpv4" },
        { NX_GSO6, "feature-gso-tcpv6" },
        { NX_CSUM6, "feature-ipv6-csum-offload" },
        { NX_NO_CSUM, "feature-no-csum-offload" },
    };
    if ((rc = nx_fe_write(n, devid, "multi-queue-num-queues", "%u", nq)) ||
        (rc = nx_fe_write(n, devid, "request-rx-copy", "1")) ||
        (rc = nx_fe_write(n, devid, "feature-rx-notify", "1")))
        return rc;
    for (size_t i = 0; i < sizeof(fk) / sizeof(*fk); i++)
        if ((feats & fk[i].bit) &&
            (rc = nx_fe_write(n, devid, fk[i].key, "1")))
            return rc;
    return 0;
}

/* Publish a front ring's requests up to its req_prod_pvt
 * (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY with __atomic indexes, as
 * bx_push). Whether the backend asked for an event. */
#define NX_PUSH(fr) nx_push(&(fr)->sring->req_prod, &(fr)->sring->req_event, \
                            (fr)->req_prod_pvt)
static inline bool nx_push(RING_IDX *prod, RING_IDX *event, RING_IDX now)
{
    RING_IDX old = __atomic_load_n(prod, __ATOMIC_RELAXED);
    __atomic_store_n(prod, now, __ATOMIC_SEQ_CST);
    RING_IDX ev = __atomic_load_n(event, __ATOMIC_SEQ_CST);
    return (RING_IDX)(now - ev) < (RING_IDX)(now - old);
}

/* The frontend notifies a channel (EVTCHNOP_send). 0 or -errno. */
static inline int nx_notify(struct nx *n, evtchn_port_t port)
{
    struct evtchn_send s = { .port = port };
    return hx_op(n->h.x, n->h.fe_domid, EVTCHNOP_send, &s);
}

#endif /* XENKVM_TESTS_NETBACK_HARNESS_H */

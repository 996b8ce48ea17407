/*
 * netback under threads (the ThreadSanitizer step of `make test` runs
 * suite 'concurrency'), on tests/common/netback_harness.h with the loop
 * in its own thread:
 *   - two "vCPU" threads, each the only user of one queue of a healthy
 *     vif (two queues, split channels): they send frames of one and two
 *     slots to the test port, post rx requests and take what arrives,
 *     notifying as netfront does;
 *   - a "network" thread sends frames to the healthy vif, and
 *     broadcasts, which the hostile one gets too, through the test port
 *     (util_loop_call onto the loop);
 *   - a "hostile guest" thread adds a second vif, connects it, then
 *     scribbles its rings (words anywhere in both ring pages, the
 *     producer index anywhere, plausible requests with random fields,
 *     its grant entries) and notifies, then unplugs or removes it, over
 *     and over (a toolstack's calls from another thread too);
 *   - the loop thread serves all of it.
 * The test's side of every shared access is an __atomic one, and so is
 * netback's (indexes and slots), so TSan judges netback's own state.
 * Checked: every frame of the healthy vif is answered OKAY once and
 * reaches the test port, every frame sent to it is put in its ring or
 * counted as dropped, and at the end nothing is mapped.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "netback_harness.h"

#if defined(__SANITIZE_THREAD__)
#define ROUNDS 150
#define TOOL_ROUNDS 20
#else
#define ROUNDS 500
#define TOOL_ROUNDS 50
#endif
#define FE 1
#define RAM 512u
#define GT_FRAMES 4u
#define BATCH 8                 /* frames in flight per vCPU */
#define RXQ 64                  /* rx requests each vCPU keeps posted */
#define NET_FRAMES (ROUNDS * 4)

static struct nx n;
static struct nx_front fa;      /* the healthy vif's frontend */
static struct be_net_vif *va;
static int failed;
static int stop;
static int hostile_rounds, hostile_fatal;   /* the hostile thread's */
static const uint8_t MAC_A[6] = { 0x00, 0x16, 0x3e, 0, 0, 0xa };
static const uint8_t MAC_B[6] = { 0x00, 0x16, 0x3e, 0, 0, 0xb };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, \
                      __LINE__, #c); __atomic_store_n(&failed, 1, __ATOMIC_SEQ_CST); } } while (0)

static void nap(void)
{
    nanosleep(&(struct timespec){ 0, 200000 }, NULL);
}

static bool wait_be_state(uint32_t devid, long want)
{
    for (int i = 0; i < 50000; i++) {
        if (nx_be_long(&n, devid, "state") == want)
            return true;
        nap();
    }
    return false;
}

static void frame(uint8_t *b, size_t len, const uint8_t *dst,
                  const uint8_t *src, uint8_t flow)
{
    memset(b, 0, 60);
    memcpy(b, dst, 6);
    memcpy(b + 6, src, 6);
    b[12] = 0x08;               /* IPv4, UDP, ports by flow */
    b[14] = 0x45;
    b[23] = 17;
    b[34] = flow;
    for (size_t i = 42; i < len; i++)
        b[i] = (uint8_t)(i + flow);
}

/* One queue of the healthy vif, used by one thread only. */
struct vcpu {
    unsigned int q;
    uint32_t tx_gfn[BATCH][2];
    grant_ref_t tx_ref[BATCH][2];
    uint32_t rx_gfn[RXQ];
    grant_ref_t rx_ref[RXQ];
    unsigned int rx_got, rx_bad;
};

static struct vcpu vc[2];

/* Take the rx responses there are, and post their requests again. */
static void rx_take(struct vcpu *c)
{
    netif_rx_front_ring_t *r = &fa.q[c->q].rx;
    RING_IDX rp = __atomic_load_n(&r->sring->rsp_prod, __ATOMIC_ACQUIRE);
    while (r->rsp_cons != rp) {
        netif_rx_response_t rsp;
        RING_COPY_RESPONSE(r, r->rsp_cons, &rsp);
        r->rsp_cons++;
        if (rsp.id >= RXQ || rsp.status < 60 ||
            (memcmp(beh_page(&n.h, c->rx_gfn[rsp.id]), MAC_A, 6) &&
             memcmp(beh_page(&n.h, c->rx_gfn[rsp.id]), BCAST, 6)))
            c->rx_bad++;
        c->rx_got++;
        netif_rx_request_t *req = RING_GET_REQUEST(r, r->req_prod_pvt);
        req->id = rsp.id;
        req->gref = c->rx_ref[rsp.id];
        r->req_prod_pvt++;
    }
    if (NX_PUSH(r))
        nx_notify(&n, fa.q[c->q].rxp);
}

static void *vcpu_main(void *arg)
{
    struct vcpu *c = arg;
    netif_tx_front_ring_t *t = &fa.q[c->q].tx;
    netif_rx_front_ring_t *r = &fa.q[c->q].rx;
    for (unsigned int i = 0; i < RXQ; i++) {
        netif_rx_request_t *req = RING_GET_REQUEST(r, r->req_prod_pvt);
        req->id = (uint16_t)i;
        req->gref = c->rx_ref[i];
        r->req_prod_pvt++;
    }
    if (NX_PUSH(r))
        nx_notify(&n, fa.q[c->q].rxp);
    for (int round = 0; round < ROUNDS; round++) {
        unsigned int slots = 0;
        for (unsigned int k = 0; k < BATCH; k++) {
            bool two = (round + k) & 1;
            size_t len = two ? 6000 : 1000;
            static _Thread_local uint8_t buf[6000];
            frame(buf, len, n.tp_mac, MAC_A, (uint8_t)(c->q * 64 + k));
            size_t first = two ? 4000 : len;
            memcpy(beh_page(&n.h, c->tx_gfn[k][0]), buf, first);
            netif_tx_request_t req = { .gref = c->tx_ref[k][0],
                .id = (uint16_t)(k * 2), .size = (uint16_t)len,
                .flags = two ? NETTXF_more_data : 0 };
            *RING_GET_REQUEST(t, t->req_prod_pvt++) = req;
            slots++;
            if (two) {
                memcpy(beh_page(&n.h, c->tx_gfn[k][1]), buf + first,
                       len - first);
                netif_tx_request_t r2 = { .gref = c->tx_ref[k][1],
                    .id = (uint16_t)(k * 2 + 1),
                    .size = (uint16_t)(len - first) };
                *RING_GET_REQUEST(t, t->req_prod_pvt++) = r2;
                slots++;
            }
        }
        if (NX_PUSH(t))
            nx_notify(&n, fa.q[c->q].txp);
        /* every slot answered OKAY once (in order: one queue) */
        for (unsigned int got = 0, spins = 0; got < slots; spins++) {
            RING_IDX rp = __atomic_load_n(&t->sring->rsp_prod,
                                          __ATOMIC_ACQUIRE);
            while (t->rsp_cons != rp) {
                netif_tx_response_t rsp;
                RING_COPY_RESPONSE(t, t->rsp_cons, &rsp);
                t->rsp_cons++;
                CHECK(rsp.status == NETIF_RSP_OKAY);
                got++;
            }
            rx_take(c);
            if (got < slots) {
                if (spins > 200000) {
                    CHECK(!"tx responses missing");
                    return NULL;
                }
                sched_yield();
            }
        }
        if (__atomic_load_n(&failed, __ATOMIC_SEQ_CST))
            break;
    }
    return NULL;
}

static void *net_main(void *arg)
{
    (void)arg;
    static uint8_t buf[1500];
    for (int i = 0; i < NET_FRAMES; i++) {
        /* every fourth a broadcast: the hostile vif gets it too */
        frame(buf, 600 + i % 800, i % 4 == 3 ? BCAST : MAC_A, n.tp_mac,
              (uint8_t)i);
        struct net_frame f = { .data = buf, .len = 600 + (size_t)(i % 800) };
        CHECK(nx_tp_send(&n, &f) == 0);
        if (i % 16 == 0)
            nap();
    }
    return NULL;
}

static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void unplugged(void *arg)
{
    __atomic_store_n((int *)arg, 1, __ATOMIC_SEQ_CST);
}

/* One life of the hostile vif: add, connect, scribble, go. */
static void hostile_round(uint32_t *seed, int round)
{
    char err[160];
    struct be_vif_config cfg = { .domid = FE, .devid = 1, .net = n.sw };
    memcpy(cfg.mac, MAC_B, 6);
    struct be_net_vif *vb;
    if (be_netback_vif_add(n.nb, &cfg, &vb, err, sizeof(err))) {
        fprintf(stderr, "vif_add: %s\n", err);
        CHECK(0);
        return;
    }
    struct nx_front fb;
    grant_ref_t ref0 = n.h.next_ref;
    CHECK(nx_fe_rings(&n, 1, &fb, 1, round & 1, NX_ALL) == 0);
    uint32_t data = beh_page_alloc(&n.h);
    grant_ref_t dref = beh_grant(&n.h, data, true);
    /* whatever frame it makes of this has multicast addresses: the
     * switch refuses it, so the healthy vif sees only the test's frames */
    memset(beh_page(&n.h, data), 1, NX_PAGE);
    CHECK(nx_fe_write(&n, 1, "state", "%d", XenbusStateInitialised) == 0);
    CHECK(wait_be_state(1, XenbusStateConnected));
    uint8_t *pages[2] = { beh_page(&n.h, fb.q[0].tx_gfn),
                          beh_page(&n.h, fb.q[0].rx_gfn) };
    for (int i = 0; i < 300; i++) {
        uint32_t x = rnd(seed);
        netif_tx_front_ring_t *t = &fb.q[0].tx;
        switch (x % 6) {
        case 0:                 /* a word anywhere in a ring page */
            __atomic_store_n((uint32_t *)(pages[x >> 31] +
                                          (rnd(seed) % (NX_PAGE / 4)) * 4),
                             rnd(seed), __ATOMIC_RELAXED);
            break;
        case 1:                 /* the producer index anywhere near */
            __atomic_store_n(&t->sring->req_prod,
                             t->req_prod_pvt + rnd(seed) % 300,
                             __ATOMIC_SEQ_CST);
            break;
        case 2: {               /* a plausible request, random fields */
            netif_tx_request_t req = { .gref = rnd(seed) & 1 ? dref
                                                             : rnd(seed) % 64,
                .offset = (uint16_t)(rnd(seed) % 4096),
                .flags = (uint16_t)(rnd(seed) & 0xf),
                .id = (uint16_t)rnd(seed), .size = (uint16_t)rnd(seed) };
            uint32_t w[3];
            memcpy(w, &req, sizeof(w));
            uint32_t *slot = (uint32_t *)RING_GET_REQUEST(t, t->req_prod_pvt);
            for (int k = 0; k < 3; k++)
                __atomic_store_n(slot + k, w[k], __ATOMIC_RELAXED);
            t->req_prod_pvt++;
            __atomic_store_n(&t->sring->req_prod, t->req_prod_pvt,
                             __ATOMIC_SEQ_CST);
            break;
        }
        case 3:                 /* its grant entries */
            gx_grant_v1(&n.h.g, ref0 + rnd(seed) % 3,
                        (uint16_t)(rnd(seed) & 0x1f), 0, rnd(seed) % RAM);
            break;
        default:                /* notify either channel */
            nx_notify(&n, x & 8 ? fb.q[0].txp : fb.q[0].rxp);
            break;
        }
    }
    struct be_vif_stats st;
    be_netback_vif_stats(vb, &st);
    hostile_rounds++;
    hostile_fatal += st.disabled;
    if (round % 3 == 0) {       /* an unplug the frontend answers */
        int done = 0;
        be_netback_vif_unplug(vb, unplugged, &done);
        wait_be_state(1, XenbusStateClosing);
        nx_fe_write(&n, 1, "state", "%d", XenbusStateClosed);
        for (int i = 0; i < 50000 && !__atomic_load_n(&done,
                                                      __ATOMIC_SEQ_CST); i++)
            nap();
        CHECK(__atomic_load_n(&done, __ATOMIC_SEQ_CST));
    }
    be_netback_vif_remove(vb);
    /* the frontend's home is the toolstack's again (nothing the backend
     * left there): its old grant entries are dropped */
    for (grant_ref_t r = ref0; r < n.h.next_ref; r++)
        gx_grant_v1(&n.h.g, r, 0, 0, 0);
}

static void *hostile_main(void *arg)
{
    (void)arg;
    uint32_t seed = 0x9e3779b9u;
    uint32_t gfn0 = n.h.next_gfn;
    grant_ref_t ref0 = n.h.next_ref;
    for (int round = 0; round < TOOL_ROUNDS &&
                        !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); round++) {
        n.h.next_gfn = gfn0;    /* this thread's pages and grants only */
        n.h.next_ref = ref0;
        hostile_round(&seed, round);
        if (__atomic_load_n(&failed, __ATOMIC_SEQ_CST))
            break;
    }
    return NULL;
}

int main(void)
{
    char err[160];
    if (nx_init(&n, FE, RAM, GT_FRAMES, true, err, sizeof(err))) {
        fprintf(stderr, "netback_mt: %s\n", err);
        return 1;
    }
    memcpy(n.count_mac, MAC_A, 6);
    struct be_vif_config cfg = { .domid = FE, .devid = 0, .net = n.sw };
    memcpy(cfg.mac, MAC_A, 6);
    if (be_netback_vif_add(n.nb, &cfg, &va, err, sizeof(err)) ||
        nx_fe_rings(&n, 0, &fa, 2, true, NX_ALL) ||
        nx_fe_write(&n, 0, "state", "%d", XenbusStateInitialised) ||
        !wait_be_state(0, XenbusStateConnected)) {
        fprintf(stderr, "netback_mt: healthy vif: %s\n", err);
        return 1;
    }
    for (unsigned int q = 0; q < 2; q++) {
        struct vcpu *c = &vc[q];
        c->q = q;
        for (unsigned int k = 0; k < BATCH; k++)
            for (unsigned int s = 0; s < 2; s++) {
                c->tx_gfn[k][s] = beh_page_alloc(&n.h);
                c->tx_ref[k][s] = beh_grant(&n.h, c->tx_gfn[k][s], true);
            }
        for (unsigned int i = 0; i < RXQ; i++) {
            c->rx_gfn[i] = beh_page_alloc(&n.h);
            c->rx_ref[i] = beh_grant(&n.h, c->rx_gfn[i], false);
        }
    }
    pthread_t th[4];
    pthread_create(&th[0], NULL, vcpu_main, &vc[0]);
    pthread_create(&th[1], NULL, vcpu_main, &vc[1]);
    pthread_create(&th[2], NULL, net_main, NULL);
    pthread_create(&th[3], NULL, hostile_main, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(th[3], NULL);
    /* what the network sent the healthy vif: in its ring or dropped */
    struct be_vif_stats s;
    unsigned int to_a = NET_FRAMES;
    for (int i = 0; i < 50000; i++) {
        be_netback_vif_stats(va, &s);
        rx_take(&vc[0]);
        rx_take(&vc[1]);
        if (s.rx_frames + s.rx_dropped >= to_a &&
            vc[0].rx_got + vc[1].rx_got == s.rx_frames)
            break;
        nap();
    }
    be_netback_vif_stats(va, &s);
    CHECK(s.rx_frames + s.rx_dropped == to_a);
    CHECK(vc[0].rx_got + vc[1].rx_got == s.rx_frames);
    CHECK(vc[0].rx_bad + vc[1].rx_bad == 0);
    CHECK(s.tx_frames == 2u * ROUNDS * BATCH || failed);
    CHECK(s.tx_errors == 0 && s.tx_fatal == 0 && !s.disabled);
    pthread_mutex_lock(&n.lock);
    unsigned int at_port = n.ncount;
    pthread_mutex_unlock(&n.lock);
    CHECK(at_port == s.tx_frames);
    be_netback_vif_remove(va);
    uint32_t left = nx_fini(&n);
    CHECK(left == 0);
    if (failed)
        return 1;
    printf("netback_mt: %u frames out, %llu in (%llu dropped); hostile "
           "vif: %d lives, %d ended by a fatal error\n", at_port,
           (unsigned long long)s.rx_frames,
           (unsigned long long)s.rx_dropped, hostile_rounds, hostile_fatal);
    return 0;
}

/*
 * libFuzzer harness for netback (src/backends/netback*.c, xenbus_be.c)
 * against plain memory and the real in-process switch, as
 * tests/unit/test_netback.c sets it up (tests/common/netback_harness.h),
 * with the loop run here, in the fuzzer's thread, so that the input orders
 * every step. The input is a sequence of a hostile frontend's actions:
 *   - its XenStore keys: netfront's whole set-up (queues, split channels,
 *     features), or any one key (tx-ring-ref, rx-ring-ref, the channels,
 *     queue-N/..., request-rx-copy, feature-*, multi-queue-num-queues)
 *     set to a number or bytes, or removed; its state;
 *   - its grant entries: plausible grants or raw words in the table, its
 *     table's version and size;
 *   - its rings: tx requests with any fields, extras of any type, rx
 *     requests, raw words anywhere in the ring pages (the indexes too),
 *     responses consumed;
 *   - notifications (and closing its end of a channel);
 *   - frames the network sends it (any length and offload state);
 *   - when the loop runs, and the toolstack: hot-unplug, domain death
 *     (remove) and a new vif, with a rate limit or not.
 * Each run tears everything down: every grant must be unmapped by then
 * (abort if not), and LeakSanitizer sees the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netback_harness.h"
#include "fuzz_input.h"

#define FE 1
#define DEVID 0u
#define RAM 64u                 /* guest pages: data, then rings */
#define DATA 16u                /* gfn 1..DATA: data pages */
#define GT_FRAMES 2u            /* 1024 v1 entries */

static const uint8_t MAC[6] = { 0x00, 0x16, 0x3e, 0, 0, 1 };

static uint32_t num(struct in *in)
{
    static const uint32_t edge[8] = { 255, 256, 4095, 4096, 65535, 1023,
                                      0x7fffffffu, 0xffffffffu };
    return fuzz_num(in, edge);
}

struct run {
    struct nx n;
    struct nx_front c;
    bool rings;
    struct be_net_vif *vif;
    bool unplugging, unplugged;
};

static void unplug_done(void *arg)
{
    ((struct run *)arg)->unplugged = true;
}

static void pump(struct run *r, unsigned int n, int timeout_ms)
{
    beh_pump(&r->n.h, n, timeout_ms);
}

static void vif_add(struct run *r, uint8_t how)
{
    struct be_vif_config vc = { .domid = FE, .devid = DEVID,
        .net = r->n.sw, .max_queues = 1 + how % 4 };
    memcpy(vc.mac, MAC, 6);
    if (how & 0x10) {
        vc.rate_bytes = 1 + how * 100u;
        vc.rate_usecs = 1000;
    }
    char err[160];
    if (be_netback_vif_add(r->n.nb, &vc, &r->vif, err, sizeof(err)))
        abort();
    r->unplugging = r->unplugged = false;
}

static void fe_key(struct run *r, struct in *in)
{
    static const char *const names[] = {
        "tx-ring-ref", "rx-ring-ref", "event-channel", "event-channel-tx",
        "event-channel-rx", "request-rx-copy", "feature-rx-notify",
        "feature-sg", "feature-gso-tcpv4", "feature-gso-tcpv6",
        "feature-no-csum-offload", "feature-ipv6-csum-offload",
        "multi-queue-num-queues", "queue-%u/tx-ring-ref",
        "queue-%u/rx-ring-ref", "queue-%u/event-channel",
    };
    char key[48], path[128];
    snprintf(key, sizeof(key), names[u8(in) % 16], u8(in) % 5);
    uint8_t how = u8(in) % 4;
    if (how == 0) {
        snprintf(path, sizeof(path), "/local/domain/%u/device/vif/%u/%s",
                 FE, DEVID, key);
        store_client_rm(r->n.h.fe, path);
    } else if (how == 1) {
        char val[17];
        size_t len = u8(in) % 17;
        for (size_t i = 0; i < len; i++)
            val[i] = (char)(u8(in) | 1);
        val[len] = 0;
        nx_fe_write(&r->n, DEVID, key, "%s", val);
    } else {
        nx_fe_write(&r->n, DEVID, key, "%u", num(in));
    }
}

static void fe_rings(struct run *r, struct in *in)
{
    unsigned int nq = 1 + u8(in) % NX_MAX_QUEUES;
    bool split = u8(in) & 1;
    unsigned int feats = u8(in) & 0x1f;
    if (r->n.h.next_gfn + 2 * nq >= RAM)
        r->n.h.next_gfn = DATA + 1;
    if (r->n.h.next_ref + 2 * nq >= GT_FRAMES * 512)
        r->n.h.next_ref = 8;
    r->rings = nx_fe_rings(&r->n, DEVID, &r->c, nq, split, feats) == 0;
}

/* A data grant: a fresh grant of a data page, or any number. */
static grant_ref_t data_ref(struct run *r, struct in *in, bool ro)
{
    uint8_t how = u8(in);
    if (how & 0x80)
        return num(in);
    if (r->n.h.next_ref >= GT_FRAMES * 512)
        r->n.h.next_ref = 8;
    return beh_grant(&r->n.h, 1 + how % DATA, ro);
}

/* A frame of tx requests: slots (some with more_data), extras. */
static void tx_reqs(struct run *r, struct in *in, unsigned int q)
{
    netif_tx_front_ring_t *t = &r->c.q[q].tx;
    unsigned int n = 1 + u8(in) % 24;
    for (unsigned int i = 0; i < n; i++) {
        uint8_t kind = u8(in);
        void *slot = RING_GET_REQUEST(t, t->req_prod_pvt++);
        if (kind < 32) {        /* an extra */
            netif_extra_info_t e = { .type = (uint8_t)(u8(in) % 6),
                                     .flags = (uint8_t)(u8(in) & 1) };
            e.u.gso.size = (uint16_t)num(in);
            e.u.gso.type = (uint8_t)(u8(in) % 4);
            memcpy(slot, &e, sizeof(e));
            continue;
        }
        netif_tx_request_t req = { .gref = data_ref(r, in, true),
            .offset = (uint16_t)(kind & 1 ? num(in) : 0),
            .flags = (uint16_t)(u8(in) & 0xf), .id = (uint16_t)u32(in),
            .size = (uint16_t)(kind & 2 ? num(in) : 14 + u8(in) * 8) };
        if (i + 1 < n && (kind & 4))
            req.flags |= NETTXF_more_data;
        memcpy(slot, &req, sizeof(req));
    }
    NX_PUSH(t);
}

static void rx_reqs(struct run *r, struct in *in, unsigned int q)
{
    netif_rx_front_ring_t *x = &r->c.q[q].rx;
    unsigned int n = 1 + u8(in) % 20;
    for (unsigned int i = 0; i < n; i++) {
        netif_rx_request_t *req = RING_GET_REQUEST(x, x->req_prod_pvt++);
        req->id = (uint16_t)u32(in);
        req->gref = data_ref(r, in, false);
    }
    NX_PUSH(x);
}

/* The network sends the guest a frame of any length and offload state
 * (the switch checks the state; what it passes, netback must take). */
static void net_frame(struct run *r, struct in *in)
{
    static uint8_t buf[NET_FRAME_MAX];
    size_t len = u8(in) & 0x80 ? u32(in) % (NET_FRAME_MAX + 1)
                               : 14 + u8(in) * 6;
    memset(buf, u8(in), len < 64 ? len : 64);
    if (len >= 12) {
        memcpy(buf, u8(in) & 1 ? MAC : (const uint8_t *)"\xff\xff\xff\xff"
                                                           "\xff\xff", 6);
        memcpy(buf + 6, r->n.tp_mac, 6);
    }
    struct net_frame f = { .data = buf, .len = len, .meta = {
        .flags = (uint16_t)(u8(in) & 3), .gso_type = (uint16_t)(u8(in) % 3),
        .gso_size = (uint16_t)num(in), .csum_start = (uint16_t)num(in),
        .csum_offset = (uint16_t)(u8(in) % 20) } };
    nx_tp_send(&r->n, &f);
}

static void consume(struct run *r, unsigned int q)
{
    netif_tx_front_ring_t *t = &r->c.q[q].tx;
    netif_rx_front_ring_t *x = &r->c.q[q].rx;
    t->rsp_cons = __atomic_load_n(&t->sring->rsp_prod, __ATOMIC_ACQUIRE);
    __atomic_store_n(&t->sring->rsp_event, t->rsp_cons + 1, __ATOMIC_SEQ_CST);
    x->rsp_cons = __atomic_load_n(&x->sring->rsp_prod, __ATOMIC_ACQUIRE);
    __atomic_store_n(&x->sring->rsp_event, x->rsp_cons + 1, __ATOMIC_SEQ_CST);
}

static void toolstack(struct run *r, uint8_t t)
{
    if (r->unplugging && r->unplugged) {
        be_netback_vif_remove(r->vif);
        r->vif = NULL;
        r->unplugging = false;
    }
    if (!r->vif)
        vif_add(r, t);
    else if (r->unplugging)
        return;
    else if (t & 0x80) {
        be_netback_vif_unplug(r->vif, unplug_done, r);
        r->unplugging = true;
    } else {
        be_netback_vif_remove(r->vif);
        r->vif = NULL;
    }
}

static void step(struct run *r, struct in *in)
{
    unsigned int q = r->rings ? u8(in) % r->c.nq : 0;
    switch (u8(in) % 16) {
    case 0:
        fe_rings(r, in);
        break;
    case 1:
        nx_fe_write(&r->n, DEVID, "state", "%u", u8(in) % 8);
        break;
    case 2:
        fe_key(r, in);
        break;
    case 3: {                   /* a raw word in the table */
        size_t off = (num(in) * 8u + (u8(in) & 7)) %
                     ((GT_FRAMES + gnttab_status_pages(GT_FRAMES)) *
                      NX_PAGE - 4);
        __atomic_store_n((uint32_t *)(r->n.h.g.table + (off & ~(size_t)3)),
                         u32(in), __ATOMIC_RELAXED);
        break;
    }
    case 4: {                   /* a plausible entry, anywhere */
        grant_ref_t ref = num(in) % (GT_FRAMES * 512);
        uint16_t flags = (uint16_t)(u8(in) | (u8(in) & 1) << 8);
        gx_grant_v1(&r->n.h.g, ref, flags, (domid_t)(u8(in) % 3),
                    num(in) % (RAM + 2));
        break;
    }
    case 5 ... 6:
        if (r->rings) {
            tx_reqs(r, in, q);
            if (u8(in) & 1)
                nx_notify(&r->n, r->c.q[q].txp);
        }
        break;
    case 7:
        if (r->rings) {
            rx_reqs(r, in, q);
            if (u8(in) & 1)
                nx_notify(&r->n, r->c.q[q].rxp);
        }
        break;
    case 8:                     /* a raw word in a ring page */
        if (r->rings) {
            uint32_t gfn = u8(in) & 1 ? r->c.q[q].tx_gfn : r->c.q[q].rx_gfn;
            uint8_t sel = u8(in);
            size_t off = sel < 128 ? (sel & 3) * 4 : (num(in) * 4u) % NX_PAGE;
            __atomic_store_n((uint32_t *)(beh_page(&r->n.h, gfn) + off),
                             u32(in), __ATOMIC_RELEASE);
        }
        break;
    case 9:
        if (r->rings && u8(in) < 200)
            nx_notify(&r->n, u8(in) & 1 ? r->c.q[q].txp : r->c.q[q].rxp);
        else
            nx_notify(&r->n, num(in));
        break;
    case 10: {
        uint8_t p = u8(in);
        pump(r, 1 + (p & 7), p & 0x80 ? 1 : 0);
        break;
    }
    case 11:
        net_frame(r, in);
        break;
    case 12:
        if (r->rings)
            consume(r, q);
        break;
    case 13:
        toolstack(r, u8(in));
        break;
    case 14:
        if (r->rings) {
            struct evtchn_close c = { .port = r->c.q[q].txp };
            hx_op(r->n.h.x, FE, EVTCHNOP_close, &c);
        }
        break;
    case 15: {
        uint32_t now;
        if (u8(in) & 1)
            gnttab_op_set_version(r->n.h.g.gt, 1 + (u8(in) & 1), &now);
        else {
            uint64_t frames[GT_FRAMES];
            gnttab_op_setup_table(r->n.h.g.gt, 1 + u8(in) % GT_FRAMES,
                                  frames);
        }
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run r;
    struct in in = { data, size };
    char err[160];
    memset(&r, 0, sizeof(r));
    if (nx_init(&r.n, FE, RAM, GT_FRAMES, false, err, sizeof(err))) {
        fprintf(stderr, "fuzz_netback: %s\n", err);
        abort();
    }
    r.n.h.next_gfn = DATA + 1;
    vif_add(&r, u8(&in));
    pump(&r, 4, 0);
    for (int i = 0; i < 256 && in.n; i++)
        step(&r, &in);
    be_netback_vif_remove(r.vif);
    pump(&r, 4, 0);
    if (nx_fini(&r.n))
        abort();                /* a grant still mapped */
    return 0;
}

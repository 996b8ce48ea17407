/*
 * netback's receive side: frames the network delivers to the vif's port
 * go into a bounded queue (one per netif queue, chosen by a flow hash,
 * as any queue is fine for the frontend), and from there into the rx
 * requests the guest posts, copied (rx-copy: each request's granted page
 * mapped writable for the copy) as Linux 6.1's xen-netback rx.c lays
 * them out:
 *
 *   one page per slot, from offset 0; a frame over a page continues in
 *   the next slots (NETRXF_more_data; only a scatter-gather frontend
 *   gets such frames, a larger one is dropped for the others);
 *   the first response carries the checksum state (NETRXF_csum_blank |
 *   NETRXF_data_validated for a partial checksum, as Linux sets both;
 *   data_validated for a checked one) and, for a GSO frame,
 *   NETRXF_extra_info: the next slot holds a XEN_NETIF_EXTRA_TYPE_GSO
 *   extra (its request consumed, as Linux);
 *   a request whose grant does not map gets the grant status as its
 *   response status (negative: netfront drops that frame).
 *
 * A frame waits until the ring has the slots it needs; we ask for an
 * event at the guest's next request (req_event = req_prod + 1, Linux's
 * xenvif_rx_ring_slots_available) and serve the queue again then.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netback_int.h"

/* A flow hash over the IP addresses and TCP/UDP ports (Ethernet, one
 * optional VLAN tag, IPv4 without fragments or IPv6 without extension
 * headers; anything else hashes by its addresses or to 0). */
static uint32_t flow_hash(const uint8_t *d, size_t len)
{
    size_t l3 = 14;
    if (len < 14)
        return 0;
    unsigned int type = (unsigned int)d[12] << 8 | d[13];
    if (type == 0x8100 && len >= 18) {
        type = (unsigned int)d[16] << 8 | d[17];
        l3 = 18;
    }
    size_t addr, alen, l4 = 0;
    unsigned int proto;
    if (type == 0x0800 && len >= l3 + 20) {
        addr = l3 + 12;
        alen = 8;
        proto = d[l3 + 9];
        bool frag = ((d[l3 + 6] & 0x3f) | d[l3 + 7]) != 0;
        if (!frag)
            l4 = l3 + (size_t)(d[l3] & 0xf) * 4;
    } else if (type == 0x86dd && len >= l3 + 40) {
        addr = l3 + 8;
        alen = 32;
        proto = d[l3 + 6];
        l4 = l3 + 40;
    } else {
        return 0;
    }
    uint32_t h = 2166136261u;           /* FNV-1a */
    for (size_t i = 0; i < alen; i++)
        h = (h ^ d[addr + i]) * 16777619u;
    if (l4 && (proto == 6 || proto == 17) && len >= l4 + 4)
        for (size_t i = 0; i < 4; i++)
            h = (h ^ d[l4 + i]) * 16777619u;
    return h ^ (h >> 16);
}

/* The guest's slots a frame takes. */
static unsigned int slots_needed(const struct nb_rxf *f)
{
    unsigned int n = (f->len + NB_PAGE - 1) / NB_PAGE;
    return (n ? n : 1) + (f->meta.gso_type != NET_GSO_NONE);
}

int nb_rx_deliver(void *opaque, const struct net_frame *f)
{
    struct be_net_vif *v = opaque;
    if (!v->connected || v->disabled || !v->nr_queues ||
        (f->len > NB_PAGE && !v->st.sg) ||
        (f->meta.gso_type != NET_GSO_NONE && !v->st.sg)) {
        v->st.rx_dropped++;
        return -ENOBUFS;
    }
    struct nb_queue *q =
        &v->queues[flow_hash(f->data, f->len) % v->nr_queues];
    if (q->rxq_len == NB_RXQ_FRAMES || f->len > NB_RXQ_BYTES - q->rxq_bytes) {
        v->st.rx_dropped++;
        return -ENOBUFS;
    }
    uint8_t *copy = malloc(f->len ? f->len : 1);
    if (!copy) {
        v->st.rx_dropped++;
        return -ENOBUFS;
    }
    memcpy(copy, f->data, f->len);
    struct nb_rxf *e = &q->rxq[(q->rxq_head + q->rxq_len) % NB_RXQ_FRAMES];
    e->data = copy;
    e->len = (uint32_t)f->len;
    e->meta = f->meta;
    q->rxq_len++;
    q->rxq_bytes += f->len;
    if (q->rxq_len == 1)
        nb_queue_kick(q);       /* served after this delivery's batch */
    return 0;
}

static void pop(struct nb_queue *q)
{
    struct nb_rxf *f = &q->rxq[q->rxq_head];
    q->rxq_bytes -= f->len;
    free(f->data);
    f->data = NULL;
    q->rxq_head = (q->rxq_head + 1) % NB_RXQ_FRAMES;
    q->rxq_len--;
}

void nb_rx_purge(struct nb_queue *q)
{
    while (q->rxq_len)
        pop(q);
}

static void put_rsp(struct nb_queue *q, const void *rsp)
{
    nb_slot_write(RING_GET_RESPONSE(&q->rx, q->rx.rsp_prod_pvt), rsp, 8);
    q->rx.rsp_prod_pvt++;
}

/* Copy len bytes into the page of the guest's grant: len, or the grant
 * status (negative) when it does not map. */
static int16_t copy_to_grant(struct be_net_vif *v, grant_ref_t ref,
                             const uint8_t *src, uint16_t len)
{
    struct gnttab_host *h = v->nb->env.gnttab;
    struct gnttab_mapping m;
    int16_t st = gnttab_map(h, 0, v->cfg.domid, ref, GNTMAP_host_map, &m);
    if (st != GNTST_okay)
        return st;
    memcpy(m.addr, src, len);
    gnttab_unmap(h, 0, m.handle);
    return (int16_t)len;
}

static uint16_t first_flags(const struct nb_rxf *f)
{
    uint16_t fl = 0;
    if (f->meta.flags & NET_META_CSUM_PARTIAL)
        fl = NETRXF_csum_blank | NETRXF_data_validated;
    else if (f->meta.flags & NET_META_CSUM_VALID)
        fl = NETRXF_data_validated;
    if (f->meta.gso_type != NET_GSO_NONE)
        fl |= NETRXF_extra_info;
    return fl;
}

/* The GSO extra in the response slot after the first (its request is
 * consumed unread, as Linux's xenvif_rx_extra_slot). */
static void put_gso_extra(struct nb_queue *q, const struct nb_rxf *f)
{
    netif_extra_info_t e;
    memset(&e, 0, sizeof(e));
    e.type = XEN_NETIF_EXTRA_TYPE_GSO;
    e.u.gso.size = f->meta.gso_size;
    e.u.gso.type = f->meta.gso_type == NET_GSO_TCPV4
                       ? XEN_NETIF_GSO_TYPE_TCPV4 : XEN_NETIF_GSO_TYPE_TCPV6;
    put_rsp(q, &e);
    q->rx.req_cons++;
}

/* One frame into the guest's requests (there are enough of them). */
static void put_frame(struct nb_queue *q, const struct nb_rxf *f)
{
    struct be_net_vif *v = q->v;
    uint32_t off = 0;
    bool bad = false;
    do {
        netif_rx_request_t req;
        nb_slot_read(&req, RING_GET_REQUEST(&q->rx, q->rx.req_cons),
                     sizeof(req));
        q->rx.req_cons++;
        uint32_t chunk = f->len - off < NB_PAGE ? f->len - off : NB_PAGE;
        int16_t st = copy_to_grant(v, req.gref, f->data + off,
                                   (uint16_t)chunk);
        if (st < 0) {
            v->st.rx_errors++;
            bad = true;
        }
        uint16_t flags = off == 0 ? first_flags(f) : 0;
        if (off + chunk < f->len)
            flags |= NETRXF_more_data;
        const netif_rx_response_t r = { .id = req.id, .offset = 0,
                                        .flags = flags, .status = st };
        put_rsp(q, &r);
        if (off == 0 && f->meta.gso_type != NET_GSO_NONE)
            put_gso_extra(q, f);
        off += chunk;
    } while (off < f->len);
    if (!bad) {
        v->st.rx_frames++;
        v->st.rx_bytes += f->len;
    }
}

void nb_rx_serve(struct nb_queue *q)
{
    struct nb_idx x = NB_IDX(q->rx.sring);
    RING_IDX old = __atomic_load_n(x.rsp_prod, __ATOMIC_RELAXED);
    while (q->rxq_len) {
        const struct nb_rxf *f = &q->rxq[q->rxq_head];
        unsigned int need = slots_needed(f);
        RING_IDX prod = nb_req_prod(x);
        if (prod - q->rx.req_cons > RING_SIZE(&q->rx)) {
            nb_fatal(q->v, "queue %u: impossible number of rx requests",
                     q->idx);
            return;
        }
        if (prod - q->rx.req_cons < need) {
            /* an event at the guest's next request, then look again */
            prod = nb_req_event(x, prod + 1);
            if (prod - q->rx.req_cons < need)
                break;
            continue;
        }
        put_frame(q, f);
        pop(q);
    }
    if (old != q->rx.rsp_prod_pvt && nb_push(x, old, q->rx.rsp_prod_pvt))
        evtchn_host_send(q->v->nb->env.evtchn, 0, q->rx_port);
}

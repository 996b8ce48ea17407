/*
 * Offload state of a frame (struct net_meta): its consistency, finding
 * its L4 checksum, and making a frame into what a port takes: a partial
 * checksum finished in place, a GSO (TSO) frame cut into segments of
 * gso_size payload bytes with every header and checksum of a real TCP
 * segment (what Linux's tcp_gso_segment makes).
 *
 * The bytes and the meta come from guests: every offset is checked
 * against the frame's length before it is read, and the IP and TCP
 * headers are parsed here rather than trusted from the meta.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net_int.h"

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

/* A segment's payload is at least this (Linux's TCP_MIN_MSS is 88): a
 * smaller gso_size from a guest would turn one frame into thousands. */
#define OFF_MIN_GSO 64

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

/* The one's complement sum of n bytes (big-endian 16-bit words, an odd
 * last byte padded with zero), added to sum; not folded. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    uint64_t s = sum;

    for (; n >= 2; p += 2, n -= 2)
        s += rd16(p);
    if (n)
        s += (uint32_t)p[0] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Where a frame's headers are. */
struct off_hdrs {
    size_t l3;          /* IP header */
    size_t l4;          /* TCP/UDP header */
    size_t end;         /* end of the IP packet (<= frame length) */
    int ipv;            /* 4 or 6 */
    uint8_t proto;      /* IPPROTO_TCP_ or IPPROTO_UDP_ */
};

static int parse_ipv6(const uint8_t *d, size_t len, struct off_hdrs *h)
{
    size_t off = h->l3 + 40;
    uint8_t nh;

    if (off > len || (d[h->l3] >> 4) != 6)
        return -EINVAL;
    h->end = off + rd16(d + h->l3 + 4);
    if (h->end > len)
        return -EINVAL;
    nh = d[h->l3 + 6];
    /* Extension headers: hop-by-hop, routing, destination options, AH;
     * a fragment (44) has no whole L4 header to offload. At most 8. */
    for (int i = 0; i < 8; i++) {
        size_t hl;

        if (nh == IPPROTO_TCP_ || nh == IPPROTO_UDP_)
            break;
        if (off + 2 > h->end)
            return -EINVAL;
        if (nh == 0 || nh == 43 || nh == 60)
            hl = ((size_t)d[off + 1] + 1) * 8;
        else if (nh == 51)
            hl = ((size_t)d[off + 1] + 2) * 4;
        else
            return -EINVAL;
        nh = d[off];
        off += hl;
    }
    if (nh != IPPROTO_TCP_ && nh != IPPROTO_UDP_)
        return -EINVAL;
    h->l4 = off;
    h->proto = nh;
    return 0;
}

/* Parse the Ethernet (one optional VLAN tag), IP and TCP/UDP headers of
 * d[0..len): 0 with *h filled, or -EINVAL (not TCP/UDP over IP, an IPv4
 * fragment, truncated). The L4 header is whole before h->end. */
static int parse_hdrs(const uint8_t *d, size_t len, struct off_hdrs *h)
{
    uint16_t type;
    int rc;

    if (len < 14)
        return -EINVAL;
    h->l3 = 14;
    type = rd16(d + 12);
    if (type == ETH_VLAN) {
        if (len < 18)
            return -EINVAL;
        type = rd16(d + 16);
        h->l3 = 18;
    }
    if (type == ETH_IPV4) {
        size_t ihl;

        if (h->l3 + 20 > len || (d[h->l3] >> 4) != 4)
            return -EINVAL;
        ihl = (size_t)(d[h->l3] & 0xf) * 4;
        h->end = h->l3 + rd16(d + h->l3 + 2);
        if (ihl < 20 || h->end > len || h->end < h->l3 + ihl)
            return -EINVAL;
        if (rd16(d + h->l3 + 6) & 0x3fff)    /* MF or an offset */
            return -EINVAL;
        h->proto = d[h->l3 + 9];
        h->l4 = h->l3 + ihl;
        h->ipv = 4;
    } else if (type == ETH_IPV6) {
        h->ipv = 6;
        rc = parse_ipv6(d, len, h);
        if (rc < 0)
            return rc;
    } else {
        return -EINVAL;
    }
    if (h->proto == IPPROTO_TCP_) {
        size_t doff;

        if (h->l4 + 20 > h->end)
            return -EINVAL;
        doff = (size_t)(d[h->l4 + 12] >> 4) * 4;
        if (doff < 20 || h->l4 + doff > h->end)
            return -EINVAL;
    } else if (h->proto != IPPROTO_UDP_ || h->l4 + 8 > h->end) {
        return -EINVAL;
    }
    return 0;
}

int net_frame_csum_setup(struct net_frame *f)
{
    struct off_hdrs h;
    int rc = parse_hdrs(f->data, f->len, &h);

    if (rc < 0)
        return rc;
    if (h.l4 > UINT16_MAX)
        return -EINVAL;
    f->meta.csum_start = (uint16_t)h.l4;
    f->meta.csum_offset = h.proto == IPPROTO_TCP_ ? 16 : 6;
    return 0;
}

bool net_offload_meta_ok(const struct net_frame *f)
{
    const struct net_meta *m = &f->meta;

    if (m->flags & ~(NET_META_CSUM_PARTIAL | NET_META_CSUM_VALID))
        return false;
    if (m->gso_type > NET_GSO_TCPV6)
        return false;
    if (m->gso_type != NET_GSO_NONE &&
        (!(m->flags & NET_META_CSUM_PARTIAL) || m->gso_size == 0))
        return false;
    if ((m->flags & NET_META_CSUM_PARTIAL) &&
        (m->csum_start < 14 ||
         (size_t)m->csum_start + m->csum_offset + 2 > f->len))
        return false;
    return true;
}

/* Finish f's partial checksum in place: fold the sum of [csum_start, len)
 * (the field holds the pseudo-header's sum) into the field, as Linux's
 * skb_checksum_help; the frame is complete afterwards. */
static void csum_finish(struct net_frame *f)
{
    uint8_t *field = f->data + f->meta.csum_start + f->meta.csum_offset;
    uint16_t c = csum_fold(csum_add(0, f->data + f->meta.csum_start,
                                    f->len - f->meta.csum_start));

    wr16(field, c ? c : 0xffff);    /* 0 means "none" to UDP */
    f->meta.flags = (uint16_t)((f->meta.flags & ~NET_META_CSUM_PARTIAL) |
                               NET_META_CSUM_VALID);
}

/* The TCP checksum of seg's TCP header and payload [h->l4, end), with the
 * pseudo-header of its IP header, stored in place. */
static void tcp_csum(uint8_t *seg, const struct off_hdrs *h, size_t end)
{
    size_t tl = end - h->l4;
    uint8_t ph[8] = { 0, 0, (uint8_t)(tl >> 24), (uint8_t)(tl >> 16),
                      (uint8_t)(tl >> 8), (uint8_t)tl, 0, IPPROTO_TCP_ };
    uint32_t s;

    if (h->ipv == 4)
        s = csum_add(0, seg + h->l3 + 12, 8);       /* saddr, daddr */
    else
        s = csum_add(0, seg + h->l3 + 8, 32);
    s = csum_add(s, ph, 8);
    wr16(seg + h->l4 + 16, 0);
    wr16(seg + h->l4 + 16, csum_fold(csum_add(s, seg + h->l4, tl)));
}

/* Cut GSO frame f (headers h) into segments of gso_size payload bytes,
 * each with complete headers and checksums, and emit each. */
static int gso_segment(struct net_frame *f, const struct off_hdrs *h,
                       int (*emit)(void *arg, const struct net_frame *seg),
                       void *arg)
{
    const uint8_t *d = f->data;
    size_t hl = h->l4 + (size_t)(d[h->l4 + 12] >> 4) * 4;
    size_t payload = h->end - hl, mss = f->meta.gso_size, off = 0;
    uint32_t seq = rd32(d + h->l4 + 4);
    uint16_t id = h->ipv == 4 ? rd16(d + h->l3 + 4) : 0;
    uint8_t flags = d[h->l4 + 13];
    int n = 0, rc = 0;
    uint8_t *seg;

    if (mss < OFF_MIN_GSO)
        return -EINVAL;
    seg = malloc(hl + (payload < mss ? payload : mss));
    if (!seg)
        return -ENOMEM;
    memcpy(seg, d, hl);
    do {
        size_t chunk = payload - off < mss ? payload - off : mss;
        bool first = off == 0, last = off + chunk == payload;
        struct net_frame sf = {
            .data = seg, .len = hl + chunk,
            .meta = { .flags = NET_META_CSUM_VALID },
        };

        memcpy(seg + hl, d + hl + off, chunk);
        if (h->ipv == 4) {
            wr16(seg + h->l3 + 2, (uint16_t)(sf.len - h->l3));
            wr16(seg + h->l3 + 4, (uint16_t)(id + n));
            wr16(seg + h->l3 + 10, 0);
            wr16(seg + h->l3 + 10,
                 csum_fold(csum_add(0, seg + h->l3, h->l4 - h->l3)));
        } else {
            wr16(seg + h->l3 + 4, (uint16_t)(sf.len - h->l3 - 40));
        }
        wr32(seg + h->l4 + 4, seq + (uint32_t)off);
        seg[h->l4 + 13] = (uint8_t)(flags & ~(last ? 0 : TCP_FIN | TCP_PSH)
                                    & ~(first ? 0 : TCP_CWR));
        tcp_csum(seg, h, sf.len);
        rc = emit(arg, &sf);
        if (rc < 0)
            break;
        n++;
        off += chunk;
    } while (off < payload);
    free(seg);
    return rc < 0 ? rc : n;
}

/* The IP version of f's payload (4, 6, or 0: neither), past one VLAN tag. */
static int frame_ipv(const struct net_frame *f)
{
    uint16_t type = rd16(f->data + 12);

    if (type == ETH_VLAN)
        type = f->len >= 18 ? rd16(f->data + 16) : 0;
    return type == ETH_IPV4 ? 4 : type == ETH_IPV6 ? 6 : 0;
}

int net_offload_adapt(unsigned int offloads, struct net_frame *f,
                      int (*emit)(void *arg, const struct net_frame *seg),
                      void *arg)
{
    const struct net_meta *m = &f->meta;
    struct off_hdrs h;
    int rc;

    if (f->len < 14 || !net_offload_meta_ok(f))
        return -EINVAL;
    if (m->gso_type != NET_GSO_NONE) {
        int want = m->gso_type == NET_GSO_TCPV4 ? 4 : 6;

        if (offloads & (want == 4 ? NET_OFF_TSO4 : NET_OFF_TSO6))
            goto pass;
        rc = parse_hdrs(f->data, f->len, &h);
        if (rc < 0)
            return rc;
        /* An IPv6 extension header could be a routing header, whose
         * final destination the pseudo-header would need: none taken. */
        if (h.ipv != want || h.proto != IPPROTO_TCP_ ||
            (h.ipv == 6 && h.l4 != h.l3 + 40))
            return -EINVAL;
        return gso_segment(f, &h, emit, arg);
    }
    if (m->flags & NET_META_CSUM_PARTIAL) {
        int ipv = frame_ipv(f);

        if (!((ipv == 4 && (offloads & NET_OFF_CSUM)) ||
              (ipv == 6 && (offloads & NET_OFF_CSUM6))))
            csum_finish(f);
    }
pass:
    rc = emit(arg, f);
    return rc < 0 ? rc : 1;
}

/*
 * Test frames for src/net's tests: Ethernet (+ one VLAN tag), IPv4 or
 * IPv6, TCP or UDP with a known payload, the L4 checksum left partial (the
 * pseudo-header's sum, as Linux hands a CHECKSUM_PARTIAL frame), and an
 * independent checksum (RFC 1071, word by word) to judge what src/net
 * makes of them. Header-only.
 */
#ifndef XENKVM_TESTS_NET_FRAMES_H
#define XENKVM_TESTS_NET_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "xenkvm/net.h"

/* ---- an independent checksum: RFC 1071, word by word ---- */

static inline uint16_t nt_sum(const uint8_t *p, size_t n, uint32_t start)
{
    uint32_t s = start;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    while (s > 0xffff)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* Does the L4 checksum of the IP packet at ip (version v, L4 at l4, L4
 * length l4len, protocol proto) verify? */
static inline bool nt_l4_ok(const uint8_t *ip, int v, const uint8_t *l4,
                            size_t l4len, uint8_t proto)
{
    uint32_t s = 0;
    if (v == 4)
        s = nt_sum(ip + 12, 8, 0);
    else
        s = nt_sum(ip + 8, 32, 0);
    s += (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff) + proto;
    return nt_sum(l4, l4len, s) == 0xffff;
}

/* ---- frames ---- */

struct nt_frame {
    uint8_t b[NET_FRAME_MAX];
    size_t len, l3, l4;
    int v;
};

static inline uint8_t nt_pay(size_t i)
{
    return (uint8_t)(i * 7 + (i >> 8) + 3);
}

/* Source MAC 02:00:00:00:00:01 to 02:00:00:00:00:02, 10.0.2.15 to
 * 10.0.2.2 (IPv6: fd.. to 20..), ports 40000 to 80, TCP sequence
 * 0xfffffc00 (it wraps within a large frame), IPv4 id 0x1234.
 * Ethernet (+ VLAN), IPv4 or IPv6, TCP (doff 5 + opt words) or UDP, with
 * pay payload bytes; the L4 checksum left as the pseudo-header's sum
 * (CSUM_PARTIAL, as Linux hands it). */
static inline void nt_mk(struct nt_frame *f, int v, bool vlan, uint8_t proto,
                         size_t pay, int optwords, uint8_t tcpflags)
{
    uint8_t *d = f->b;
    size_t o = 12;
    memset(f, 0, sizeof(*f));
    memcpy(d, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
    if (vlan) {
        d[o] = 0x81; d[o + 1] = 0x00; d[o + 2] = 0; d[o + 3] = 5;
        o += 4;
    }
    d[o] = v == 4 ? 0x08 : 0x86;
    d[o + 1] = v == 4 ? 0x00 : 0xdd;
    f->l3 = o + 2;
    f->v = v;
    uint8_t *ip = d + f->l3;
    size_t l4len = (proto == 6 ? 20 + 4 * (size_t)optwords : 8) + pay;
    if (v == 4) {
        f->l4 = f->l3 + 20;
        ip[0] = 0x45;
        ip[2] = (uint8_t)((20 + l4len) >> 8); ip[3] = (uint8_t)(20 + l4len);
        ip[4] = 0x12; ip[5] = 0x34;             /* id */
        ip[6] = 0x40;                           /* DF */
        ip[8] = 64; ip[9] = proto;
        memcpy(ip + 12, "\x0a\x00\x02\x0f\x0a\x00\x02\x02", 8);
        uint16_t c = (uint16_t)~nt_sum(ip, 20, 0);
        ip[10] = (uint8_t)(c >> 8); ip[11] = (uint8_t)c;
    } else {
        f->l4 = f->l3 + 40;
        ip[0] = 0x60;
        ip[4] = (uint8_t)(l4len >> 8); ip[5] = (uint8_t)l4len;
        ip[6] = proto; ip[7] = 64;
        for (int i = 0; i < 16; i++) {
            ip[8 + i] = (uint8_t)(0xfd + i);
            ip[24 + i] = (uint8_t)(0x20 + i);
        }
    }
    uint8_t *l4 = d + f->l4;
    l4[0] = 0x9c; l4[1] = 0x40; l4[2] = 0x00; l4[3] = 0x50;    /* ports */
    if (proto == 6) {
        l4[4] = 0xff; l4[5] = 0xff; l4[6] = 0xfc; l4[7] = 0x00;  /* seq wraps */
        l4[8] = 0; l4[9] = 0; l4[10] = 0x10; l4[11] = 0x01;
        l4[12] = (uint8_t)((5 + optwords) << 4);
        l4[13] = tcpflags;
        l4[14] = 0xff; l4[15] = 0xff;
        for (int i = 0; i < 4 * optwords; i++)
            l4[20 + i] = 1;                     /* NOPs */
    } else {
        l4[4] = (uint8_t)(l4len >> 8); l4[5] = (uint8_t)l4len;
    }
    size_t ph = f->l4 + (proto == 6 ? 20 + 4 * (size_t)optwords : 8);
    for (size_t i = 0; i < pay; i++)
        d[ph + i] = nt_pay(i);
    f->len = ph + pay;
    /* The pseudo-header's sum, not complemented, in the checksum field. */
    uint32_t s = v == 4 ? nt_sum(ip + 12, 8, 0) : nt_sum(ip + 8, 32, 0);
    s += (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff) + proto;
    uint16_t psum = nt_sum(NULL, 0, s);
    size_t co = proto == 6 ? 16 : 6;
    l4[co] = (uint8_t)(psum >> 8); l4[co + 1] = (uint8_t)psum;
}

/* ---- frames a guest sends ---- */

static inline size_t nt_eth(uint8_t *b, const uint8_t *dst,
                            const uint8_t *src, uint16_t type)
{
    memcpy(b, dst, 6);
    memcpy(b + 6, src, 6);
    b[12] = (uint8_t)(type >> 8);
    b[13] = (uint8_t)type;
    return 14;
}

/* IPv4 + UDP from src:sp to dst:dp with payload p[0..n), at b + 14;
 * complete checksums. The frame's length. */
static inline size_t nt_udp4(uint8_t *b, const uint8_t *src, uint16_t sp,
                             const uint8_t *dst, uint16_t dp, const void *p,
                             size_t n)
{
    uint8_t *ip = b + 14, *u = ip + 20;
    size_t ul = 8 + n;
    memset(ip, 0, 28);
    ip[0] = 0x45;
    ip[2] = (uint8_t)((20 + ul) >> 8); ip[3] = (uint8_t)(20 + ul);
    ip[8] = 64; ip[9] = 17;
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    uint16_t c = (uint16_t)~nt_sum(ip, 20, 0);
    ip[10] = (uint8_t)(c >> 8); ip[11] = (uint8_t)c;
    u[0] = (uint8_t)(sp >> 8); u[1] = (uint8_t)sp;
    u[2] = (uint8_t)(dp >> 8); u[3] = (uint8_t)dp;
    u[4] = (uint8_t)(ul >> 8); u[5] = (uint8_t)ul;
    memcpy(u + 8, p, n);
    uint32_t s = nt_sum(ip + 12, 8, 0) + 17 + (uint32_t)ul;
    c = (uint16_t)~nt_sum(u, ul, s);
    u[6] = (uint8_t)(c >> 8); u[7] = (uint8_t)c;
    return 14 + 20 + ul;
}

/* A 60-byte ARP frame at b: op 1 (request) or 2 (reply), from MAC smac
 * and IPv4 sip, for tip (the target MAC left zero), to dst. */
static inline void nt_arp(uint8_t *b, int op, const uint8_t *dst,
                          const uint8_t *smac, const uint8_t *sip,
                          const uint8_t *tip)
{
    memset(b, 0, 60);
    nt_eth(b, dst, smac, 0x0806);
    memcpy(b + 14, "\x00\x01\x08\x00\x06\x04\x00", 7);
    b[21] = (uint8_t)op;
    memcpy(b + 22, smac, 6);
    memcpy(b + 28, sip, 4);
    memcpy(b + 38, tip, 4);
}

#endif /* XENKVM_TESTS_NET_FRAMES_H */

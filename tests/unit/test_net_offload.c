/* src/net/net_offload.c: net_frame_csum_setup, partial checksums finished
 * for a port that does not take them, TCPv4/v6 GSO frames cut into
 * segments (checked against a plain one's complement sum written here, and
 * reassembled), and any bytes with any meta not crashing it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net_frames.h"
#include "net_int.h"

static struct net_frame as_frame(struct nt_frame *f, uint16_t flags, uint16_t gso,
                                 uint16_t mss, uint8_t proto)
{
    struct net_frame nf = { .data = f->b, .len = f->len };
    nf.meta.flags = flags;
    nf.meta.gso_type = gso;
    nf.meta.gso_size = mss;
    nf.meta.csum_start = (uint16_t)f->l4;
    nf.meta.csum_offset = proto == 6 ? 16 : 6;
    return nf;
}

/* ---- what a port is given ---- */

#define MAXSEG 64
static struct {
    uint8_t *data[MAXSEG];
    size_t len[MAXSEG];
    struct net_meta meta[MAXSEG];
    int n;
} got;

static void got_reset(void)
{
    for (int i = 0; i < got.n; i++)
        free(got.data[i]);
    memset(&got, 0, sizeof(got));
}

static int collect(void *arg, const struct net_frame *seg)
{
    (void)arg;
    assert_true(got.n < MAXSEG);
    got.data[got.n] = malloc(seg->len);
    memcpy(got.data[got.n], seg->data, seg->len);
    got.len[got.n] = seg->len;
    got.meta[got.n] = seg->meta;
    got.n++;
    return 0;
}

/* ---- tests ---- */

static void test_csum_setup(void **state)
{
    (void)state;
    static struct nt_frame f;
    struct net_frame nf;

    nt_mk(&f, 4, false, 6, 100, 0, 0x18);
    nf = (struct net_frame){ .data = f.b, .len = f.len };
    assert_int_equal(net_frame_csum_setup(&nf), 0);
    assert_int_equal(nf.meta.csum_start, 34);
    assert_int_equal(nf.meta.csum_offset, 16);

    nt_mk(&f, 4, true, 17, 10, 0, 0);
    nf = (struct net_frame){ .data = f.b, .len = f.len };
    assert_int_equal(net_frame_csum_setup(&nf), 0);
    assert_int_equal(nf.meta.csum_start, 38);
    assert_int_equal(nf.meta.csum_offset, 6);

    nt_mk(&f, 6, false, 6, 0, 3, 0x10);
    nf = (struct net_frame){ .data = f.b, .len = f.len };
    assert_int_equal(net_frame_csum_setup(&nf), 0);
    assert_int_equal(nf.meta.csum_start, 54);

    /* IPv6 with a hop-by-hop header (8 bytes) before UDP. */
    nt_mk(&f, 6, false, 17, 4, 0, 0);
    memmove(f.b + 62, f.b + 54, f.len - 54);
    memset(f.b + 54, 0, 8);
    f.b[54] = 17;                       /* its next header: UDP */
    f.b[20] = 0;                        /* IPv6 next header: hop-by-hop */
    f.b[19] = (uint8_t)(f.b[19] + 8);   /* payload length */
    nf = (struct net_frame){ .data = f.b, .len = f.len + 8 };
    assert_int_equal(net_frame_csum_setup(&nf), 0);
    assert_int_equal(nf.meta.csum_start, 62);
    assert_int_equal(nf.meta.csum_offset, 6);

    /* Not TCP/UDP over IP, or cut short. */
    nt_mk(&f, 4, false, 6, 100, 0, 0);
    f.b[12] = 0x08; f.b[13] = 0x06;                     /* ARP */
    nf = (struct net_frame){ .data = f.b, .len = f.len };
    assert_int_equal(net_frame_csum_setup(&nf), -EINVAL);
    nt_mk(&f, 4, false, 6, 100, 0, 0);
    nf = (struct net_frame){ .data = f.b, .len = 40 };  /* TCP cut */
    assert_int_equal(net_frame_csum_setup(&nf), -EINVAL);
    f.b[14 + 9] = 1;                                    /* ICMP */
    nf = (struct net_frame){ .data = f.b, .len = f.len };
    assert_int_equal(net_frame_csum_setup(&nf), -EINVAL);
    nt_mk(&f, 4, false, 17, 100, 0, 0);
    f.b[14 + 6] = 0x20;                                 /* MF: a fragment */
    nf = (struct net_frame){ .data = f.b, .len = f.len };
    assert_int_equal(net_frame_csum_setup(&nf), -EINVAL);
    nf = (struct net_frame){ .data = f.b, .len = 13 };
    assert_int_equal(net_frame_csum_setup(&nf), -EINVAL);
}

static void check_finished(int v, bool vlan, uint8_t proto, unsigned int takes,
                           bool expect_finished)
{
    static struct nt_frame f, orig;
    nt_mk(&f, v, vlan, proto, 333, 0, 0x18);
    orig = f;
    struct net_frame nf = as_frame(&f, NET_META_CSUM_PARTIAL, NET_GSO_NONE, 0,
                                   proto);
    got_reset();
    assert_int_equal(net_offload_adapt(takes, &nf, collect, NULL), 1);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.len[0], orig.len);
    size_t l4len = orig.len - orig.l4;
    bool ok = nt_l4_ok(got.data[0] + orig.l3, v, got.data[0] + orig.l4, l4len,
                    proto);
    if (expect_finished) {
        assert_true(ok);
        assert_false(got.meta[0].flags & NET_META_CSUM_PARTIAL);
        assert_true(got.meta[0].flags & NET_META_CSUM_VALID);
        /* Only the checksum field changed. */
        size_t co = orig.l4 + (proto == 6 ? 16 : 6);
        assert_memory_equal(got.data[0], orig.b, co);
        assert_memory_equal(got.data[0] + co + 2, orig.b + co + 2,
                            orig.len - co - 2);
    } else {
        assert_false(ok);
        assert_true(got.meta[0].flags & NET_META_CSUM_PARTIAL);
        assert_memory_equal(got.data[0], orig.b, orig.len);
    }
    got_reset();
}

static void test_csum_finish(void **state)
{
    (void)state;
    check_finished(4, false, 6, 0, true);
    check_finished(4, true, 17, 0, true);
    check_finished(6, false, 6, 0, true);
    check_finished(6, false, 17, NET_OFF_CSUM, true);    /* v4 only */
    check_finished(4, false, 6, NET_OFF_CSUM6, true);
    check_finished(4, false, 6, NET_OFF_CSUM, false);    /* it takes it */
    check_finished(6, true, 17, NET_OFF_CSUM6, false);
}

/* A GSO frame of pay bytes cut at mss for a port without TSO. */
static void check_gso(int v, bool vlan, size_t pay, uint16_t mss, int optw)
{
    static struct nt_frame f, orig;
    static uint8_t re[65536];
    uint8_t fl = 0x80 | 0x18 | 0x01;        /* CWR, ACK|PSH, FIN */
    nt_mk(&f, v, vlan, 6, pay, optw, fl);
    orig = f;
    struct net_frame nf = as_frame(&f, NET_META_CSUM_PARTIAL,
                                   v == 4 ? NET_GSO_TCPV4 : NET_GSO_TCPV6,
                                   mss, 6);
    size_t hl = orig.l4 + 20 + 4 * (size_t)optw;
    int nseg = pay ? (int)((pay + mss - 1) / mss) : 1;
    got_reset();
    assert_int_equal(net_offload_adapt(NET_OFF_CSUM | NET_OFF_CSUM6, &nf,
                                       collect, NULL), nseg);
    assert_int_equal(got.n, nseg);
    size_t off = 0;
    uint32_t seq0 = 0xfffffc00u;
    for (int i = 0; i < nseg; i++) {
        const uint8_t *s = got.data[i], *ip = s + orig.l3, *th = s + orig.l4;
        size_t chunk = pay - off < mss ? pay - off : mss;
        assert_int_equal(got.len[i], hl + chunk);
        assert_int_equal(got.meta[i].gso_type, NET_GSO_NONE);
        assert_false(got.meta[i].flags & NET_META_CSUM_PARTIAL);
        /* Ethernet header as it was. */
        assert_memory_equal(s, orig.b, orig.l3);
        if (v == 4) {
            assert_int_equal(ip[2] << 8 | ip[3], got.len[i] - orig.l3);
            assert_int_equal(ip[4] << 8 | ip[5], 0x1234 + i);
            assert_int_equal(nt_sum(ip, 20, 0), 0xffff);
        } else {
            assert_int_equal(ip[4] << 8 | ip[5], got.len[i] - orig.l3 - 40);
        }
        uint32_t seq = (uint32_t)th[4] << 24 | (uint32_t)th[5] << 16 |
                       (uint32_t)th[6] << 8 | th[7];
        assert_int_equal(seq, (uint32_t)(seq0 + off));
        bool first = i == 0, last = i == nseg - 1;
        assert_int_equal(th[13], 0x10 | (first ? 0x80 : 0) |
                                 (last ? 0x08 | 0x01 : 0));
        /* Options and the rest of the TCP header as they were. */
        assert_memory_equal(th + 8, orig.b + orig.l4 + 8, 5);
        assert_memory_equal(th + 18, orig.b + orig.l4 + 18, hl - orig.l4 - 18);
        assert_true(nt_l4_ok(ip, v, th, got.len[i] - orig.l4, 6));
        memcpy(re + off, s + hl, chunk);
        off += chunk;
    }
    assert_int_equal(off, pay);
    assert_memory_equal(re, orig.b + hl, pay);
    got_reset();
}

static void test_gso_segments(void **state)
{
    (void)state;
    check_gso(4, false, 3500, 1000, 0);     /* 4 segments, a short last */
    check_gso(4, true, 3000, 1000, 3);      /* VLAN, TCP options, even cut */
    check_gso(6, false, 2900, 1440, 0);
    check_gso(6, true, 64000, 1400, 1);     /* the largest: 46 segments */
    check_gso(4, false, 500, 1448, 0);      /* fits: one segment */
    check_gso(4, false, 0, 1448, 0);        /* no payload: the header alone */
}

static void test_gso_passed_to_tso_port(void **state)
{
    (void)state;
    static struct nt_frame f, orig;
    nt_mk(&f, 4, false, 6, 5000, 0, 0x10);
    orig = f;
    struct net_frame nf = as_frame(&f, NET_META_CSUM_PARTIAL, NET_GSO_TCPV4,
                                   1448, 6);
    got_reset();
    assert_int_equal(net_offload_adapt(NET_OFF_CSUM | NET_OFF_TSO4, &nf,
                                       collect, NULL), 1);
    assert_int_equal(got.len[0], orig.len);
    assert_memory_equal(got.data[0], orig.b, orig.len);
    assert_int_equal(got.meta[0].gso_type, NET_GSO_TCPV4);
    assert_int_equal(got.meta[0].gso_size, 1448);
    /* TSO6 is not TSO4. */
    got_reset();
    assert_int_equal(net_offload_adapt(NET_OFF_CSUM | NET_OFF_TSO6, &nf,
                                       collect, NULL), 4);
    got_reset();
}

static void test_gso_refused(void **state)
{
    (void)state;
    static struct nt_frame f;
    struct net_frame nf;

    /* A TCPv4 GSO frame that is IPv6, or UDP; a tiny MSS; bad meta. */
    nt_mk(&f, 6, false, 6, 3000, 0, 0x10);
    nf = as_frame(&f, NET_META_CSUM_PARTIAL, NET_GSO_TCPV4, 1000, 6);
    assert_int_equal(net_offload_adapt(0, &nf, collect, NULL), -EINVAL);
    nt_mk(&f, 4, false, 17, 3000, 0, 0);
    nf = as_frame(&f, NET_META_CSUM_PARTIAL, NET_GSO_TCPV4, 1000, 17);
    assert_int_equal(net_offload_adapt(0, &nf, collect, NULL), -EINVAL);
    nt_mk(&f, 4, false, 6, 3000, 0, 0x10);
    nf = as_frame(&f, NET_META_CSUM_PARTIAL, NET_GSO_TCPV4, 8, 6);
    assert_int_equal(net_offload_adapt(0, &nf, collect, NULL), -EINVAL);
    nf = as_frame(&f, 0, NET_GSO_TCPV4, 1000, 6);     /* GSO without CSUM */
    assert_int_equal(net_offload_adapt(0, &nf, collect, NULL), -EINVAL);
    nf = as_frame(&f, NET_META_CSUM_PARTIAL, 0, 0, 6);
    nf.meta.csum_offset = 60000;                        /* past the end */
    assert_int_equal(net_offload_adapt(0, &nf, collect, NULL), -EINVAL);
    /* An IP total length past the frame. */
    nt_mk(&f, 4, false, 6, 3000, 0, 0x10);
    nf = as_frame(&f, NET_META_CSUM_PARTIAL, NET_GSO_TCPV4, 1000, 6);
    nf.len -= 1;
    assert_int_equal(net_offload_adapt(0, &nf, collect, NULL), -EINVAL);
    assert_int_equal(got.n, 0);
}

/* Random bytes, random meta, every offload set: no crash, no read past a
 * frame (ASan), and what is emitted is never longer than its source. */
static int bounded(void *arg, const struct net_frame *seg)
{
    size_t max = *(size_t *)arg;
    assert_true(seg->len <= max);
    assert_true(seg->len >= 14);
    return 0;
}

static void test_any_bytes(void **state)
{
    (void)state;
    static struct nt_frame f;
    uint32_t x = 12345;
    for (int it = 0; it < 20000; it++) {
        x = x * 1103515245u + 12345u;
        int v = (x >> 8) & 1 ? 4 : 6;
        nt_mk(&f, v, (x >> 9) & 1, (x >> 10) & 1 ? 6 : 17, (x >> 11) % 3000,
           (int)((x >> 20) % 4), (uint8_t)x);
        size_t n = f.len;
        /* Scribble a few bytes of the headers, or cut the frame. */
        for (int k = 0; k < 4; k++) {
            x = x * 1103515245u + 12345u;
            f.b[(x >> 8) % (f.l4 + 24)] = (uint8_t)(x >> 24);
        }
        x = x * 1103515245u + 12345u;
        if ((x >> 5) & 1)
            n = 14 + (x >> 8) % (n - 13);
        struct net_frame nf = { .data = f.b, .len = n };
        x = x * 1103515245u + 12345u;
        nf.meta.flags = (uint16_t)(x & 3);
        nf.meta.gso_type = (uint16_t)((x >> 2) % 4);
        nf.meta.gso_size = (uint16_t)((x >> 4) % 2000);
        nf.meta.csum_start = (uint16_t)((x >> 12) % 80);
        nf.meta.csum_offset = (uint16_t)((x >> 20) % 24);
        size_t max = n;
        int rc = net_offload_adapt((x >> 28) & 0xf, &nf, bounded, &max);
        assert_true(rc == -EINVAL || (rc >= 1 && rc <= 1024));
        if (nf.meta.gso_type == NET_GSO_NONE)
            (void)net_frame_csum_setup(&nf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csum_setup),
        cmocka_unit_test(test_csum_finish),
        cmocka_unit_test(test_gso_segments),
        cmocka_unit_test(test_gso_passed_to_tso_port),
        cmocka_unit_test(test_gso_refused),
        cmocka_unit_test(test_any_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

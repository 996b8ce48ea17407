/*
 * libFuzzer harness for src/net/net_offload.c: a guest's frame with any
 * meta, as netback hands it after net_offload_meta_ok, made into what a
 * port with any offload set takes (checksums finished, GSO segments), and
 * net_frame_csum_setup on it. Input: offloads, flags, gso_type, gso_size
 * (2), csum_start (2), csum_offset (2), then the frame's bytes.
 * Every emitted frame must lie within the source's length, and a port
 * that does not take a frame's offload must never be given it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "net_int.h"

struct port {
    unsigned int takes;
    size_t max;
};

static int emit(void *arg, const struct net_frame *seg)
{
    const struct port *p = arg;

    if (seg->len < 14 || seg->len > p->max)
        abort();
    if (seg->meta.gso_type == NET_GSO_TCPV4 && !(p->takes & NET_OFF_TSO4))
        abort();
    if (seg->meta.gso_type == NET_GSO_TCPV6 && !(p->takes & NET_OFF_TSO6))
        abort();
    if (seg->meta.gso_type == NET_GSO_NONE &&
        (seg->meta.flags & NET_META_CSUM_PARTIAL) &&
        !(p->takes & (NET_OFF_CSUM | NET_OFF_CSUM6)))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = { data, size };
    struct port p;
    struct net_frame f;
    uint8_t *buf;

    p.takes = u8(&in) & 0xf;
    memset(&f, 0, sizeof(f));
    f.meta.flags = u8(&in) & 3;
    f.meta.gso_type = u8(&in) % 4;
    f.meta.gso_size = (uint16_t)(u8(&in) | u8(&in) << 8);
    f.meta.csum_start = (uint16_t)(u8(&in) | u8(&in) << 8);
    f.meta.csum_offset = (uint16_t)(u8(&in) | u8(&in) << 8);
    if (in.n > NET_FRAME_MAX)
        in.n = NET_FRAME_MAX;
    /* A copy of exactly the frame's length: ASan sees any read past it. */
    buf = malloc(in.n ? in.n : 1);
    memcpy(buf, in.p, in.n);
    f.data = buf;
    f.len = in.n;
    p.max = f.len;
    if (f.len >= 14 && net_offload_meta_ok(&f))
        (void)net_offload_adapt(p.takes, &f, emit, &p);
    (void)net_frame_csum_setup(&f);
    free(buf);
    return 0;
}

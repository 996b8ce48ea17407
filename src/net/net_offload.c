/*
 * Offload state of a frame (struct net_meta): its consistency, and making
 * a frame into what a port takes.
 */
#include <errno.h>

#include "net_int.h"

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

int net_offload_adapt(unsigned int offloads, struct net_frame *f,
                      int (*emit)(void *arg, const struct net_frame *seg),
                      void *arg)
{
    const struct net_meta *m = &f->meta;

    if ((m->gso_type == NET_GSO_TCPV4 && !(offloads & NET_OFF_TSO4)) ||
        (m->gso_type == NET_GSO_TCPV6 && !(offloads & NET_OFF_TSO6)) ||
        ((m->flags & NET_META_CSUM_PARTIAL) && !(offloads & NET_OFF_CSUM)))
        return -EOPNOTSUPP;     /* segmentation and checksums: to come */
    emit(arg, f);
    return 1;
}

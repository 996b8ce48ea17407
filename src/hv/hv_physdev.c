/*
 * __HYPERVISOR_physdev_op: the PIRQ commands (map_pirq, unmap_pirq,
 * get_free_pirq, irq_status_query, eoi, pirq_eoi_gmfn_v2) go to the IRQ
 * router (src/irq/irq_pirq.c), which owns their semantics and Xen's errno
 * values; this file only moves the argument struct across the guest
 * boundary. Commands the router does not know are -ENOSYS, logged once.
 */
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <xen/physdev.h>

#include "xenkvm/irq.h"
#include "hv_int.h"

long hv_do_physdev_op(struct hv_ctx *c, const uint64_t *a)
{
    unsigned int cmd = (unsigned int)a[0];
    uint64_t arg = a[1];
    size_t len = irq_pirq_physdev_arg_size(cmd);
    if (len == 0 || !c->d->pirq) {
        hv_log_subop_enosys(c, cmd);
        return -ENOSYS;
    }
    /* The largest PHYSDEVOP struct the router takes is a few dozen bytes. */
    union {
        struct physdev_map_pirq map;
        struct physdev_unmap_pirq unmap;
        struct physdev_get_free_pirq get_free;
        struct physdev_irq_status_query query;
        struct physdev_eoi eoi;
        struct physdev_pirq_eoi_gmfn gmfn;
        uint8_t raw[64];
    } buf;
    if (len > sizeof(buf))
        return -ENOSYS;
    memset(&buf, 0, sizeof(buf));
    if (hv_copy_from_guest(c->d, c->vcpu, &buf, arg, len))
        return -EFAULT;
    int rc = irq_pirq_physdev_op(c->d->pirq, c->d->domid, cmd, &buf);
    if (rc == 0 && irq_pirq_physdev_copies_back(cmd) &&
        hv_copy_to_guest(c->d, c->vcpu, arg, &buf, len))
        return -EFAULT;
    return rc;
}

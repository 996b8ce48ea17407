/*
 * __HYPERVISOR_physdev_op: the PIRQ commands (map_pirq, unmap_pirq,
 * get_free_pirq, irq_status_query, eoi, pirq_eoi_gmfn_v2) go to the IRQ
 * router (src/irq/irq_physdev.c), which owns their semantics and Xen's
 * errno values; hv_struct_op moves the argument struct across the guest
 * boundary. Commands the router does not know are -ENOSYS, logged once.
 */
#include <stdint.h>

#include "xenkvm/irq.h"
#include "hv_int.h"

static int physdev_op(struct hv_ctx *c, unsigned int cmd, void *buf)
{
    return irq_pirq_physdev_op(c->d->pirq, c->d->domid, cmd, buf);
}

long hv_do_physdev_op(struct hv_ctx *c, const uint64_t *a)
{
    unsigned int cmd = (unsigned int)a[0];
    /* Without a router every PHYSDEVOP is unknown. */
    size_t len = c->d->pirq ? irq_pirq_physdev_arg_size(cmd) : 0;
    return hv_struct_op(c, cmd, a[1], len, irq_pirq_physdev_copies_back(cmd),
                        physdev_op);
}

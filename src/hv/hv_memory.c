/*
 * memory_op: the guest's physmap (add_to_physmap, the memory map) and its
 * reservation, with Xen's semantics (xen/common/memory.c).
 */
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <xen/memory.h>

#include "hv_int.h"
#include "xenkvm/gnttab.h"

/* memory_op's low 6 bits are the command; Xen keeps a continuation's start
 * extent above them (xen/include/xen/hypercall.h, not a public header). */
#define HV_MEMOP_CMD_BITS 6

/* ---- memory_op ---- */

long hv_do_memory_op(struct hv_ctx *c, const uint64_t *a)
{
    unsigned int cmd = (unsigned int)a[0] & ((1u << HV_MEMOP_CMD_BITS) - 1);
    uint64_t arg = a[1];
    switch (cmd) {
    case XENMEM_add_to_physmap: {
        struct xen_add_to_physmap x;
        if (copy_in(c, &x, arg, sizeof(x)))
            return -EFAULT;
        int rc = self_domid(c, x.domid);
        if (rc)
            return rc;
        if (x.space == XENMAPSPACE_grant_table)
            return c->d->gnttab ?
                   gnttab_op_add_to_physmap(c->d->gnttab, x.idx, x.gpfn) :
                   -ENOSYS;
        if (x.space != XENMAPSPACE_shared_info) {
            hv_log(c->d, "add_to_physmap space %u not supported", x.space);
            return -ENOSYS;
        }
        if (x.idx != 0)
            return -EINVAL;
        rc = c->d->ops.map_shared_info ?
             c->d->ops.map_shared_info(c->d->opaque, x.gpfn) : -ENOSYS;
        /* Linux divides by vcpu_info[0].time.tsc_to_system_mul as soon
         * as shared_info is mapped. */
        if (rc == 0)
            hv_time_fill_shared(c);
        return rc;
    }
    case XENMEM_memory_map: {
        struct xen_memory_map m;
        if (copy_in(c, &m, arg, sizeof(m)))
            return -EFAULT;
        if (c->d->nr_e820 == 0)
            return -ENOSYS;
        unsigned int n = m.nr_entries < c->d->nr_e820 ? m.nr_entries :
                         c->d->nr_e820;
        /* The BIOS e820 layout: packed 8+8+4 bytes per entry. */
        uint64_t buf = GUEST_PTR(m.buffer);
        for (unsigned int i = 0; i < n; i++) {
            uint8_t e[20];
            memcpy(e, &c->d->e820[i].addr, 8);
            memcpy(e + 8, &c->d->e820[i].size, 8);
            memcpy(e + 16, &c->d->e820[i].type, 4);
            if (copy_out(c, buf + 20ull * i, e, sizeof(e)))
                return -EFAULT;
        }
        m.nr_entries = n;
        if (copy_out(c, arg, &m, sizeof(m)))
            return -EFAULT;
        return 0;
    }
    case XENMEM_current_reservation:
    case XENMEM_maximum_reservation: {
        domid_t domid;
        if (copy_in(c, &domid, arg, sizeof(domid)))
            return -EFAULT;
        int rc = self_domid(c, domid);
        if (rc)
            return rc;
        return (long)c->d->ram_pages;
    }
    default:
        hv_log_subop_enosys(c, cmd);
        return -ENOSYS;
    }
}

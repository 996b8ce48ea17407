/*
 * grant_table_op: decode a guest's GNTTABOP_*, copy its argument structs in
 * and out, and hand them to the grant-table core (src/gnttab). What each
 * sub-op returns and where its status goes follows Xen 4.17's
 * do_grant_table_op (xen/common/grant_table.c): the hypercall's value is
 * 0 or a negative errno; per-operation results are GNTST_* codes written
 * into each struct's status field.
 */
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <xen/grant_table.h>

#include "hv_int.h"
#include "xenkvm/gnttab.h"

/* Array ops check for a stopping domain this often (a guest may pass any
 * count; its own vCPU pays for it, but destroy must not wait on it). */
#define HV_GNT_STOP_CHECK 256
/* setup_table / get_status_frames answer at most this many frames at a
 * time from one stack buffer (the table limit is far below). */
#define HV_GNT_FRAMES_MAX 1024

/* A single-struct op names a domain: itself, or Xen looks it up
 * (bad_domain when absent) and its dummy XSM refuses a domU access to
 * another (permission_denied). */
static int16_t dom_status(struct hv_ctx *c, domid_t dom)
{
    if (dom == DOMID_SELF || dom == c->d->domid)
        return GNTST_okay;
    if (dom >= DOMID_FIRST_RESERVED ||
        !evtchn_domain_shared_info(c->d->evtchn, dom))
        return GNTST_bad_domain;
    return GNTST_permission_denied;
}

/* Write the frames of a setup_table / get_status_frames answer: each one
 * copied separately, as Xen does, so a bad handle gives bad_virt_addr. */
static int16_t frames_out(struct hv_ctx *c, uint64_t list, const uint64_t *f,
                          uint32_t n, size_t width)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v = f[i];
        if (copy_out(c, list + (uint64_t)i * width, &v, width))
            return GNTST_bad_virt_addr;
    }
    return GNTST_okay;
}

/* The frames of setup_table or get_status_frames (which of the core's
 * answers fill): nr of them to the guest's list of width-byte items. */
static int16_t frames_op(struct hv_ctx *c, struct gnttab *gt, domid_t dom,
                         uint32_t nr, uint64_t list, size_t width,
                         int16_t (*fill)(struct gnttab *, uint32_t, uint64_t *))
{
    int16_t st = dom_status(c, dom);
    if (st != GNTST_okay)
        return st;
    if (nr > HV_GNT_FRAMES_MAX)
        return GNTST_general_error;
    uint64_t f[HV_GNT_FRAMES_MAX];
    st = fill(gt, nr, f);
    return st == GNTST_okay ? frames_out(c, list, f, nr, width) : st;
}

/* frame_list holds xen_pfn_t: 4 bytes each to a 32-bit caller. */
static long op_setup_table(struct hv_ctx *c, struct gnttab *gt, uint64_t uop)
{
    struct gnttab_setup_table op;
    const struct hv_xlate *x = HV_XL(gnttab_setup_table);
    if (hv_arg_in(c, x, &op, uop))
        return -EFAULT;
    op.status = frames_op(c, gt, op.dom, op.nr_frames, GUEST_PTR(op.frame_list),
                          c->call->long_mode ? sizeof(xen_pfn_t) : 4,
                          gnttab_op_setup_table);
    return hv_arg_out(c, x, uop, &op) ? -EFAULT : 0;
}

static long op_get_status_frames(struct hv_ctx *c, struct gnttab *gt,
                                 uint64_t uop)
{
    struct gnttab_get_status_frames op;
    const struct hv_xlate *x = HV_XL(gnttab_get_status_frames);
    if (hv_arg_in(c, x, &op, uop))
        return -EFAULT;
    op.status = frames_op(c, gt, op.dom, op.nr_frames, GUEST_PTR(op.frame_list),
                          sizeof(uint64_t), gnttab_op_get_status_frames);
    return hv_arg_out(c, x, uop, &op) ? -EFAULT : 0;
}

static long op_query_size(struct hv_ctx *c, struct gnttab *gt, uint64_t uop)
{
    struct gnttab_query_size op;
    if (copy_in(c, &op, uop, sizeof(op)))
        return -EFAULT;
    op.status = dom_status(c, op.dom);
    if (op.status == GNTST_okay)
        op.status = gnttab_op_query_size(gt, &op.nr_frames, &op.max_nr_frames);
    return copy_out(c, uop, &op, sizeof(op)) ? -EFAULT : 0;
}

static long op_set_version(struct hv_ctx *c, struct gnttab *gt, uint64_t uop)
{
    struct gnttab_set_version op;
    if (copy_in(c, &op, uop, sizeof(op)))
        return -EFAULT;
    uint32_t now;
    int rc = gnttab_op_set_version(gt, op.version, &now);
    op.version = now;     /* Xen writes the version in force back always */
    return copy_out(c, uop, &op, sizeof(op)) ? -EFAULT : rc;
}

static long op_get_version(struct hv_ctx *c, struct gnttab *gt, uint64_t uop)
{
    struct gnttab_get_version op;
    if (copy_in(c, &op, uop, sizeof(op)))
        return -EFAULT;
    switch (dom_status(c, op.dom)) {
    case GNTST_okay: break;
    case GNTST_bad_domain: return -ESRCH;
    default: return -EPERM;
    }
    op.version = gnttab_op_get_version(gt);
    return copy_out(c, uop, &op, sizeof(op)) ? -EFAULT : 0;
}

/* The array ops: each element copied in, served, its status copied back.
 * A 32-bit caller's copy and transfer elements are in its layout (Xen's
 * compat_grant_table_op); the others are the same on i386 (hv_compat.c). */
static long op_array(struct hv_ctx *c, unsigned int cmd, uint64_t uop,
                     uint32_t count)
{
    union {
        struct gnttab_copy copy;
        struct gnttab_swap_grant_ref swap;
        struct gnttab_map_grant_ref map;
        struct gnttab_unmap_grant_ref unmap;
        struct gnttab_transfer xfer;
        struct gnttab_unmap_and_replace repl;
    } u;
    size_t len;
    const struct hv_xlate *x = NULL;
    switch (cmd) {
    case GNTTABOP_copy:
        x = HV_XL(gnttab_copy);
        len = hv_arg_size(c, x);
        break;
    case GNTTABOP_swap_grant_ref: len = sizeof(u.swap); break;
    case GNTTABOP_map_grant_ref: len = sizeof(u.map); break;
    case GNTTABOP_unmap_grant_ref: len = sizeof(u.unmap); break;
    case GNTTABOP_transfer:
        x = HV_XL(gnttab_transfer);
        len = hv_arg_size(c, x);
        break;
    default: len = sizeof(u.repl); break;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (i % HV_GNT_STOP_CHECK == HV_GNT_STOP_CHECK - 1 && hv_stopping(c->d))
            return -EINTR;
        uint64_t at = uop + (uint64_t)i * len;
        if (x ? hv_arg_in(c, x, &u, at) : copy_in(c, &u, at, len))
            return -EFAULT;
        int16_t *status;
        switch (cmd) {
        case GNTTABOP_copy:
            gnttab_copy(c->d->gnttab_host, c->d->domid, &u.copy);
            status = &u.copy.status;
            break;
        case GNTTABOP_swap_grant_ref:
            u.swap.status = gnttab_op_swap(c->d->gnttab, u.swap.ref_a,
                                           u.swap.ref_b);
            status = &u.swap.status;
            break;
        case GNTTABOP_map_grant_ref:
            /* A domU mapping another's grant into its own physmap (a
             * driver domain) is not offered: dom0's backends are
             * in-process. Xen's answer to a mapping it cannot make. */
            hv_log(c->d, "GNTTABOP_map_grant_ref from a guest is not "
                   "supported (GNTST_general_error)");
            u.map.status = GNTST_general_error;
            status = &u.map.status;
            break;
        case GNTTABOP_unmap_grant_ref:
            u.unmap.status = GNTST_bad_handle;   /* it cannot hold one */
            status = &u.unmap.status;
            break;
        case GNTTABOP_transfer:
            /* Xen: "cannot transfer from a translated domain". */
            u.xfer.status = GNTST_general_error;
            status = &u.xfer.status;
            break;
        default:   /* unmap_and_replace: PV page tables only */
            u.repl.status = GNTST_general_error;
            status = &u.repl.status;
            break;
        }
        size_t off = (size_t)((uint8_t *)status - (uint8_t *)&u);
        if (x ? hv_arg_out_part(c, x, at, &u, off, sizeof(*status)) :
            copy_out(c, at + off, status, sizeof(*status)))
            return -EFAULT;
    }
    return 0;
}

long hv_do_grant_table_op(struct hv_ctx *c, const uint64_t *a)
{
    unsigned int cmd = (unsigned int)a[0];
    uint64_t uop = a[1];
    uint32_t count = (uint32_t)a[2];
    struct gnttab *gt = c->d->gnttab;
    if (!gt) {
        hv_log_subop_enosys(c, cmd);
        return -ENOSYS;
    }
    if ((int32_t)count < 0)
        return -EINVAL;
    switch (cmd) {
    case GNTTABOP_setup_table:
    case GNTTABOP_query_size:
    case GNTTABOP_set_version:
    case GNTTABOP_get_status_frames:
    case GNTTABOP_get_version:
    case GNTTABOP_dump_table:
        if (count != 1)
            return -EINVAL;
        break;
    default:
        break;
    }
    switch (cmd) {
    case GNTTABOP_setup_table: return op_setup_table(c, gt, uop);
    case GNTTABOP_query_size: return op_query_size(c, gt, uop);
    case GNTTABOP_set_version: return op_set_version(c, gt, uop);
    case GNTTABOP_get_version: return op_get_version(c, gt, uop);
    case GNTTABOP_get_status_frames: return op_get_status_frames(c, gt, uop);
    case GNTTABOP_dump_table: {
        struct gnttab_dump_table op;
        if (copy_in(c, &op, uop, sizeof(op)))
            return -EFAULT;
        op.status = dom_status(c, op.dom);
        return copy_out(c, uop, &op, sizeof(op)) ? -EFAULT : 0;
    }
    case GNTTABOP_copy:
    case GNTTABOP_swap_grant_ref:
    case GNTTABOP_map_grant_ref:
    case GNTTABOP_unmap_grant_ref:
    case GNTTABOP_transfer:
    case GNTTABOP_unmap_and_replace:
        return op_array(c, cmd, uop, count);
    default:
        hv_log_subop_enosys(c, cmd);
        return -ENOSYS;
    }
}

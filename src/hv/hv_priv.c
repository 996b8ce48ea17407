/*
 * The hypercalls in Xen 4.17's HVM table that an unprivileged HVM/PVH
 * domain may make only to be refused: sysctl, domctl, paging_domctl_cont,
 * xsm_op, hypfs_op, dm_op, xenpmu_op and mmuext_op. Each returns what Xen
 * returns to a domU under its default build (dummy XSM policy,
 * xen/include/xsm/dummy.h: XSM_PRIV, XSM_DM_PRIV and a foreign XSM_TARGET
 * are -EPERM), checking the arguments in Xen's order so a guest probing
 * with garbage reads the same errno. Each refusal is logged once per domain
 * and call (hv_log_refusal). The sources are cited per function;
 * docs/abi.md has the table.
 */
/* Xen's tool-only headers (domctl, sysctl): their structs are what a
 * guest passes; the define must come before <xen/xen.h>. */
#define __XEN_TOOLS__ 1
#include <stdint.h>
#include <errno.h>

#include <xen/xen.h>
#include <xen/hypfs.h>
#include <xen/hvm/dm_op.h>
#include <xen/domctl.h>
#include <xen/sysctl.h>

#include "hv_int.h"

static long refuse(struct hv_ctx *c, long rc)
{
    hv_log_refusal(c, HV_LOG_WHOLE_CALL, rc);
    return rc;
}

bool hv_domain_exists(struct hv_domain *d, domid_t domid)
{
    return domid < DOMID_FIRST_RESERVED &&
           evtchn_domain_abi(d->evtchn, domid) >= 0;
}

/* xen/common/sysctl.c do_sysctl: the struct, its version, then XSM_PRIV
 * (or XSM_XS_PRIV, the XenStore domain's, for a few commands). */
long hv_do_sysctl(struct hv_ctx *c, const uint64_t *a)
{
    struct xen_sysctl op;
    if (copy_in(c, &op, a[0], sizeof(op)))
        return refuse(c, -EFAULT);
    if (op.interface_version != XEN_SYSCTL_INTERFACE_VERSION)
        return refuse(c, -EACCES);
    return refuse(c, -EPERM);
}

/* xen/common/domctl.c do_domctl: the struct, its version, the target
 * domain (by id only: DOMID_SELF is no domain there), then XSM. */
long hv_do_domctl(struct hv_ctx *c, const uint64_t *a)
{
    struct xen_domctl op;
    if (copy_in(c, &op, a[0], sizeof(op)))
        return refuse(c, -EFAULT);
    if (op.interface_version != XEN_DOMCTL_INTERFACE_VERSION)
        return refuse(c, -EACCES);
    switch (op.cmd) {
    case XEN_DOMCTL_createdomain:
        return refuse(c, -EPERM);               /* no target domain */
    case XEN_DOMCTL_assign_device:
    case XEN_DOMCTL_deassign_device:
        if (op.domain == DOMID_IO)
            return refuse(c, -EPERM);
        if (op.domain == DOMID_INVALID)
            return refuse(c, -ESRCH);
        break;
    case XEN_DOMCTL_test_assign_device:
    case XEN_DOMCTL_vm_event_op:
        if (op.domain == DOMID_INVALID)
            return refuse(c, -EPERM);
        break;
    case XEN_DOMCTL_getdomaininfo:
        /* An absent id means the next domain above it (XSM_XS_PRIV
         * refuses that one too); past the last one, -ESRCH. */
        if (op.domain >= DOMID_FIRST_RESERVED)
            return refuse(c, -EINVAL);
        for (uint32_t id = op.domain; id < DOMID_FIRST_RESERVED; id++)
            if (hv_domain_exists(c->d, (domid_t)id))
                return refuse(c, -EPERM);
        return refuse(c, -ESRCH);
    default:
        break;
    }
    return refuse(c, hv_domain_exists(c->d, op.domain) ? -EPERM : -ESRCH);
}

/* xen/arch/x86/mm/paging.c do_paging_domctl_cont (__HYPERVISOR_arch_1):
 * the continuation of a shadow_op domctl; the domain, then XSM. */
long hv_do_paging_domctl_cont(struct hv_ctx *c, const uint64_t *a)
{
    struct xen_domctl op;
    if (copy_in(c, &op, a[0], sizeof(op)))
        return refuse(c, -EFAULT);
    if (op.interface_version != XEN_DOMCTL_INTERFACE_VERSION ||
        op.cmd != XEN_DOMCTL_shadow_op)
        return refuse(c, -EOPNOTSUPP);
    return refuse(c, hv_domain_exists(c->d, op.domain) ? -EPERM : -ESRCH);
}

/* xen/include/xsm/dummy.h xsm_do_xsm_op: without FLASK there is no
 * security server to talk to. */
long hv_do_xsm_op(struct hv_ctx *c, const uint64_t *a)
{
    (void)a;
    return refuse(c, -ENOSYS);
}

/* xen/common/hypfs.c do_hypfs_op: XSM_PRIV before anything is read. */
long hv_do_hypfs_op(struct hv_ctx *c, const uint64_t *a)
{
    (void)a;
    return refuse(c, -EPERM);
}

/* xen/common/dm.c do_dm_op and xen/arch/x86/hvm/dm.c dm_op: the buffer
 * count (1..2), the buffer list, then the target domain, which must be
 * another one (rcu_lock_remote_domain_by_id: -EPERM for oneself), then
 * XSM_DM_PRIV: a domU is nobody's device model. */
#define HV_DMOP_MAX_BUFS 2          /* struct dmop_args' buf[] */
long hv_do_dm_op(struct hv_ctx *c, const uint64_t *a)
{
    domid_t domid = (domid_t)a[0];
    uint32_t nr_bufs = (uint32_t)a[1];
    if (nr_bufs == 0)
        return refuse(c, -ENODATA);
    if (nr_bufs > HV_DMOP_MAX_BUFS)
        return refuse(c, -E2BIG);
    /* In the caller's layout (i386: a 4-byte handle and size). */
    const struct hv_xlate *x = HV_XL(xen_dm_op_buf);
    struct xen_dm_op_buf bufs[HV_DMOP_MAX_BUFS];
    for (uint32_t i = 0; i < nr_bufs; i++)
        if (hv_arg_in(c, x, &bufs[i], a[2] + i * hv_arg_size(c, x)))
            return refuse(c, -EFAULT);
    if (!hv_domain_exists(c->d, domid))
        return refuse(c, -ESRCH);
    return refuse(c, -EPERM);   /* oneself, or XSM_DM_PRIV on another */
}

/* xen/arch/x86/cpu/vpmu.c do_xenpmu_op: the PV PMU interface is for PV
 * guests; an HVM/PVH domain has a virtual LAPIC (and vPMU is off by
 * default): -EOPNOTSUPP before anything is read. */
long hv_do_xenpmu_op(struct hv_ctx *c, const uint64_t *a)
{
    (void)a;
    return refuse(c, -EOPNOTSUPP);
}

/* xen/arch/x86/mm.c do_mmuext_op (in the HVM table for PV shims): the
 * page owner (common/page_alloc.c get_pg_owner) must not be given as our
 * own id (-ESRCH) and must exist (-ESRCH); an HVM owner is refused with
 * -EINVAL, DOMID_IO/DOMID_XEN by XSM_TARGET (-EPERM). Nothing is read
 * before: for a translated guest every handle is "okay". */
long hv_do_mmuext_op(struct hv_ctx *c, const uint64_t *a)
{
    domid_t fd = (domid_t)a[3];
    if (fd == c->d->domid)
        return refuse(c, -ESRCH);
    if (fd == DOMID_IO || fd == DOMID_XEN)
        return refuse(c, -EPERM);
    if (fd != DOMID_SELF && !hv_domain_exists(c->d, fd))
        return refuse(c, -ESRCH);
    return refuse(c, -EINVAL);  /* every domain here is HVM/PVH */
}

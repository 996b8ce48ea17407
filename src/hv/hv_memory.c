/*
 * memory_op: the guest's physmap (add_to_physmap, the memory map) and its
 * reservation, with Xen 4.17's semantics for an HVM/PVH domU
 * (xen/common/memory.c).
 *
 * The reservation calls (increase/decrease_reservation, populate_physmap)
 * return the number of extents done, never an errno: a bad argument, a
 * foreign domain, a too-large order or refused flags give the start
 * extent (0), an unreadable extent or one that fails ends the call with
 * the count so far. Guest handles of a translated guest are not checked
 * up front (Xen's guest_handle_subrange_okay is true for HVM), so a bad
 * extent_start shows as a short count, as on Xen. A 32-bit caller's
 * structs and lists are in its layout (hv_arg_in, hv_ulong_in: xen_pfn_t
 * and xen_ulong_t of 4 bytes), as Xen's compat_memory_op translates
 * them; its results saturate at INT_MAX (hv_compat_result). Extents are at most
 * order 9 (Xen's x86 CONFIG_DOMU_MAX_ORDER). Beyond max_pages an extent
 * fails (Xen's assign_pages).
 *
 * Frames: the VMM's physmap hooks (xenkvm/hv.h) release a decreased
 * frame's host memory and give a populated one a zeroed page. Frames
 * outside the guest's RAM (holes, beyond its top) hold nothing: a
 * decrease there fails its extent as on Xen (p2m_invalid: -ENOENT), a
 * populate there fails too (Xen would allocate and map a page anywhere;
 * xenkvm has no memory slot there). The special pages are the VMM's and
 * cannot be removed or replaced (Xen would let the guest free them).
 * increase_reservation, as on Xen for a translated guest, only counts
 * pages that appear nowhere in the physmap.
 */
#include <stdint.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <xen/memory.h>

#include "hv_int.h"
#include "xenkvm/gnttab.h"

/* memory_op's low 6 bits are the command; Xen keeps a continuation's start
 * extent above them (xen/include/xen/hypercall.h, not a public header). */
#define HV_MEMOP_CMD_BITS 6
/* Xen's limits: a domU's extent order (x86 CONFIG_DOMU_MAX_ORDER =
 * PAGETABLE_ORDER) and the allocator's (PoD requests are checked
 * against it). */
#define HV_DOMU_MAX_ORDER 9
#define HV_MAX_ORDER 18
#define HV_PAGE_SHIFT 12

void hv_mem_init(struct hv_domain *d, uint64_t ram_pages, uint64_t max_pages)
{
    pthread_mutex_init(&d->mem_lock, NULL);
    d->tot_pages = ram_pages;
    d->max_pages = max_pages > ram_pages ? max_pages : ram_pages;
    for (unsigned int i = 0; i < d->nr_e820; i++) {
        uint64_t end = (d->e820[i].addr + d->e820[i].size) >> HV_PAGE_SHIFT;
        if (end && end - 1 > d->max_gpfn)
            d->max_gpfn = end - 1;
    }
}

void hv_mem_get(struct hv_domain *d, uint64_t *tot_pages, uint64_t *max_pages)
{
    pthread_mutex_lock(&d->mem_lock);
    if (tot_pages)
        *tot_pages = d->tot_pages;
    if (max_pages)
        *max_pages = d->max_pages;
    pthread_mutex_unlock(&d->mem_lock);
}

void hv_mem_set_max(struct hv_domain *d, uint64_t max_pages)
{
    pthread_mutex_lock(&d->mem_lock);
    d->max_pages = max_pages;
    pthread_mutex_unlock(&d->mem_lock);
}

/* A frame now mapped: Xen's max_mapped_pfn only grows. Under mem_lock. */
static void mapped(struct hv_domain *d, uint64_t gfn)
{
    if (gfn > d->max_gpfn)
        d->max_gpfn = gfn;
}

/* Read extent i (a xen_pfn_t, 4 bytes to a 32-bit caller) of the list at
 * handle h. 0 or -EFAULT. */
static int extent_get(struct hv_ctx *c, uint64_t h, uint64_t i, xen_pfn_t *pfn)
{
    uint64_t v;
    int rc = hv_ulong_in(c, h, i, &v);
    *pfn = v;
    return rc;
}

/* One extent of populate_physmap at gfn: every frame gets a zeroed page.
 * Under mem_lock. 0, or negative when a frame could not be populated
 * (the frames before it stay populated, as Xen leaves a failed extent). */
static int populate_extent(struct hv_domain *d, uint64_t gfn, unsigned int order)
{
    uint64_t n = 1ull << order;
    if (d->tot_pages + n > d->max_pages)
        return -ENOMEM;                     /* Xen: assign_pages refuses */
    if (gfn + n < gfn || gfn + n > (1ull << (52 - HV_PAGE_SHIFT)))
        return -EINVAL;
    for (uint64_t j = 0; j < n; j++) {
        int rc = d->ops.physmap_populate ?
                 d->ops.physmap_populate(d->opaque, gfn + j) : -EINVAL;
        if (rc < 0)
            return rc;
        d->tot_pages += (uint64_t)rc;
        mapped(d, gfn + j);
    }
    return 0;
}

/* One extent of decrease_reservation at gfn: every frame's page goes back.
 * Under mem_lock. 0, or negative at the first frame holding nothing. */
static int decrease_extent(struct hv_domain *d, uint64_t gfn, unsigned int order)
{
    uint64_t n = 1ull << order;
    for (uint64_t j = 0; j < n; j++) {
        if (gfn + j < gfn)
            return -ENOENT;
        int rc = d->ops.physmap_remove ?
                 d->ops.physmap_remove(d->opaque, gfn + j, true) : -ENOENT;
        if (rc < 0)
            return rc;
        if (rc == 1 && d->tot_pages)
            d->tot_pages--;
    }
    return 0;
}

/* XENMEM_increase_reservation, decrease_reservation, populate_physmap:
 * the number of extents done (see the top comment). */
static long reservation_op(struct hv_ctx *c, unsigned int cmd, uint64_t start,
                           uint64_t arg)
{
    struct xen_memory_reservation r;
    if (hv_arg_in(c, HV_XL(xen_memory_reservation), &r, arg))
        return (long)start;
    /* Too many to encode a continuation; nothing left to do. */
    if (r.nr_extents > (UINT_MAX >> HV_MEMOP_CMD_BITS) ||
        start >= r.nr_extents)
        return (long)start;
    if (self_domid(c, r.domid))
        return (long)start;                 /* lookup or XSM: no errno */
    /* construct_memop_from_reservation: an address width that leaves no
     * page, a NUMA node required exactly (a domU names none) are refused;
     * a node hint, a vnode on a domain without vNUMA, are ignored. */
    unsigned int bits = XENMEMF_get_address_bits(r.mem_flags);
    if (bits && bits <= HV_PAGE_SHIFT)
        return (long)start;
    if (!(r.mem_flags & XENMEMF_vnode) &&
        XENMEMF_get_node(r.mem_flags) != 0xff &&
        (r.mem_flags & XENMEMF_exact_node_request))
        return (long)start;
    bool pod = cmd == XENMEM_populate_physmap &&
               (r.mem_flags & XENMEMF_populate_on_demand);
    if (r.extent_order > (pod ? HV_MAX_ORDER : HV_DOMU_MAX_ORDER) || pod)
        return (long)start;     /* PoD on oneself: Xen stops at once */

    struct hv_domain *d = c->d;
    uint64_t list = GUEST_PTR(r.extent_start), i;
    pthread_mutex_lock(&d->mem_lock);
    for (i = start; i < r.nr_extents; i++) {
        /* Xen checks for preemption from the second extent on (i !=
         * nr_done): each call makes progress; a stopping domain's call
         * ends there. */
        if (i != start && hv_stopping(d))
            break;
        if (cmd == XENMEM_increase_reservation) {
            /* A translated guest's pages go nowhere in its physmap. */
            uint64_t n = 1ull << r.extent_order;
            if (d->tot_pages + n > d->max_pages)
                break;
            d->tot_pages += n;
            continue;
        }
        xen_pfn_t pfn;
        if (extent_get(c, list, i, &pfn))
            break;
        int rc = cmd == XENMEM_populate_physmap ?
                 populate_extent(d, pfn, r.extent_order) :
                 decrease_extent(d, pfn, r.extent_order);
        if (rc)
            break;
    }
    pthread_mutex_unlock(&d->mem_lock);
    return (long)i;
}

/* Put Xen's page idx of space at frame gpfn (xenmem_add_to_physmap_one
 * for the spaces a domU has). 0 or negative errno. */
static int add_one(struct hv_ctx *c, unsigned int space, uint64_t idx,
                   uint64_t gpfn, domid_t foreign)
{
    struct hv_domain *d = c->d;
    int rc;
    switch (space) {
    case XENMAPSPACE_shared_info:
        if (idx != 0)
            return -EINVAL;
        rc = d->ops.map_shared_info ?
             d->ops.map_shared_info(d->opaque, gpfn) : -ENOSYS;
        /* Linux divides by vcpu_info[0].time.tsc_to_system_mul as soon
         * as shared_info is mapped. */
        if (rc == 0)
            hv_time_fill_shared(c);
        break;
    case XENMAPSPACE_grant_table:
        rc = d->gnttab ? gnttab_op_add_to_physmap(d->gnttab, idx, gpfn) :
             -ENOSYS;
        break;
    case XENMAPSPACE_gmfn_foreign:
        /* p2m_add_foreign: not oneself (-EINVAL), the owner looked up
         * (-ESRCH), then XSM's map_gmfn_foreign (-EPERM for a domU). */
        rc = self_domid(c, foreign);
        return rc ? rc : -EINVAL;
    case XENMAPSPACE_gmfn:
    case XENMAPSPACE_gmfn_range:
        hv_log(d, "add_to_physmap space %u not supported", space);
        return -ENOSYS;
    default:
        return -EINVAL;         /* Xen: no frame for the space: INVALID_MFN */
    }
    if (rc == 0) {
        pthread_mutex_lock(&d->mem_lock);
        mapped(d, gpfn);
        pthread_mutex_unlock(&d->mem_lock);
    }
    return rc;
}

/* XENMEM_add_to_physmap_batch: 0 (each entry's result in errs[]), or the
 * errno of the call (Xen's xenmem_add_to_physmap_batch). The whole batch
 * is done in one go (size is 16 bits: no continuation needed). */
static long add_batch(struct hv_ctx *c, uint64_t start, uint64_t arg)
{
    struct xen_add_to_physmap_batch b;
    if (start != (uint16_t)start)
        return -EDOM;
    if (hv_arg_in(c, HV_XL(xen_add_to_physmap_batch), &b, arg))
        return -EFAULT;
    if (b.space == XENMAPSPACE_gmfn_range)
        return -EOPNOTSUPP;
    int rc = self_domid(c, b.domid);
    if (rc)
        return rc;
    if (b.space == XENMAPSPACE_dev_mmio)
        return -EACCES;            /* the hardware domain's, on itself */
    if (b.size < start)
        return -EILSEQ;
    if (b.size == start)
        return start ? -EILSEQ : 0;
    for (uint64_t i = start; i < b.size; i++) {
        uint64_t idx;
        xen_pfn_t gpfn;
        if (hv_ulong_in(c, GUEST_PTR(b.idxs), i, &idx) ||
            extent_get(c, GUEST_PTR(b.gpfns), i, &gpfn))
            return -EFAULT;
        if (gpfn == ~(xen_pfn_t)0)
            return -EINVAL;                 /* INVALID_GFN */
        int err = add_one(c, b.space, idx, gpfn, b.u.foreign_domid);
        if (copy_out(c, GUEST_PTR(b.errs) + i * sizeof(err), &err,
                     sizeof(err)))
            return -EFAULT;
    }
    return 0;
}

/* XENMEM_remove_from_physmap: 0, -ENOENT (nothing there), or the
 * lookup's and the platform's refusals. */
static long remove_from_physmap(struct hv_ctx *c, uint64_t arg)
{
    struct xen_remove_from_physmap x;
    if (hv_arg_in(c, HV_XL(xen_remove_from_physmap), &x, arg))
        return -EFAULT;
    int rc = self_domid(c, x.domid);
    if (rc)
        return rc;
    struct hv_domain *d = c->d;
    pthread_mutex_lock(&d->mem_lock);
    /* A RAM page taken out stays the domain's on Xen (tot_pages keeps
     * it) until populate_physmap puts a new one there. */
    rc = d->ops.physmap_remove ?
         d->ops.physmap_remove(d->opaque, x.gpfn, false) : -ENOENT;
    pthread_mutex_unlock(&d->mem_lock);
    return rc < 0 ? rc : 0;
}

/* XENMEM_current_reservation, maximum_reservation, maximum_gpfn. */
static long domain_query(struct hv_ctx *c, unsigned int cmd, uint64_t arg)
{
    struct xen_memory_domain m;
    if (copy_in(c, &m, arg, sizeof(m)))
        return -EFAULT;
    int rc = self_domid(c, m.domid);
    if (rc)
        return rc;
    struct hv_domain *d = c->d;
    pthread_mutex_lock(&d->mem_lock);
    uint64_t v = cmd == XENMEM_current_reservation ? d->tot_pages :
                 cmd == XENMEM_maximum_reservation ? d->max_pages :
                 d->max_gpfn;
    pthread_mutex_unlock(&d->mem_lock);
    return (long)v;
}

/* ---- memory_op ---- */

long hv_do_memory_op(struct hv_ctx *c, const uint64_t *a)
{
    unsigned int cmd = (unsigned int)a[0] & ((1u << HV_MEMOP_CMD_BITS) - 1);
    uint64_t start = a[0] >> HV_MEMOP_CMD_BITS;
    uint64_t arg = a[1];
    switch (cmd) {
    case XENMEM_increase_reservation:
    case XENMEM_decrease_reservation:
    case XENMEM_populate_physmap:
        return reservation_op(c, cmd, start, arg);
    case XENMEM_maximum_ram_page: {
        if (start)
            return -EINVAL;
        /* Xen's max_page: the host's highest frame, +1. */
        long pages = sysconf(_SC_PHYS_PAGES);
        return pages > 0 ? pages : 0;
    }
    case XENMEM_current_reservation:
    case XENMEM_maximum_reservation:
    case XENMEM_maximum_gpfn:
        return start ? -EINVAL : domain_query(c, cmd, arg);
    case XENMEM_add_to_physmap: {
        struct xen_add_to_physmap x;
        if (start != (uint16_t)start)
            return -EDOM;
        if (hv_arg_in(c, HV_XL(xen_add_to_physmap), &x, arg))
            return -EFAULT;
        /* Foreign mapping is only possible with add_to_physmap_batch. */
        if (x.space == XENMAPSPACE_gmfn_foreign)
            return -ENOSYS;
        int rc = self_domid(c, x.domid);
        if (rc)
            return rc;
        if (x.space == XENMAPSPACE_dev_mmio)
            return -EACCES;
        return add_one(c, x.space, x.idx, x.gpfn, 0);
    }
    case XENMEM_add_to_physmap_batch:
        return add_batch(c, start, arg);
    case XENMEM_remove_from_physmap:
        return start ? -EINVAL : remove_from_physmap(c, arg);
    case XENMEM_memory_map: {
        struct xen_memory_map m;
        if (hv_arg_in(c, HV_XL(xen_memory_map), &m, arg))
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
        if (hv_arg_out(c, HV_XL(xen_memory_map), arg, &m))
            return -EFAULT;
        return 0;
    }
    default:
        hv_log_subop_enosys(c, cmd);
        return -ENOSYS;
    }
}

/*
 * The guest's balloon (contract in include/guest/balloon.h): a pool of
 * free RAM above the image, given back to Xen and taken back in batches
 * as memory/target says, the way Linux's balloon driver does it.
 */
#include <asm-generic/errno.h>  /* the x86 values (as xenbus.c says) */
#include <guest/guest.h>
#include <guest/hypercall.h>
#include <guest/xenbus.h>
#include <guest/balloon.h>

/* Linux's frame_list: one page of frame numbers per hypercall. */
#define BALLOON_BATCH (PAGE_SIZE / sizeof(xen_pfn_t))
#define BALLOON_TOKEN "xenkvm-balloon"

extern char __image_end[];

static struct balloon_pool pool;
static uint64_t current_pages;  /* the reservation as the balloon counts it */
static int64_t target_diff;     /* static-max less the reservation at init */
static xen_pfn_t frame_list[BALLOON_BATCH];

/* The end of the RAM region of the memory map holding gfn first, capped
 * by any start_info module above first (the ramdisk sits at the top of
 * RAM) and by the identity map. 0 if no RAM region holds it. */
static uint64_t pool_end(uint64_t first)
{
    const struct hvm_start_info *si = guest_start_info();
    uint64_t addr = first << PAGE_SHIFT, end = 0;

    if (!si || si->version < 1 || !si->memmap_paddr)
        return 0;
    const struct hvm_memmap_table_entry *m = (const void *)(uintptr_t)si->memmap_paddr;
    for (uint32_t i = 0; i < si->memmap_entries && i < 128; i++)
        if (m[i].type == XEN_HVM_MEMMAP_TYPE_RAM && m[i].addr <= addr &&
            addr < m[i].addr + m[i].size)
            end = m[i].addr + m[i].size;
    const struct hvm_modlist_entry *mod = (const void *)(uintptr_t)si->modlist_paddr;
    for (uint32_t i = 0; mod && i < si->nr_modules && i < 16; i++)
        if (mod[i].size && mod[i].paddr >= addr && mod[i].paddr < end)
            end = mod[i].paddr;
    if (end > (1ULL << 32))
        end = 1ULL << 32;
    return end >> PAGE_SHIFT;
}

int balloon_init(void)
{
    uint64_t first = ((uint64_t)(uintptr_t)__image_end + PAGE_SIZE - 1) >> PAGE_SHIFT;
    uint64_t end = pool_end(first);
    if (end <= first)
        return -ENOENT;
    pool = (struct balloon_pool){ .first_gfn = first, .nr = end - first };

    struct xen_memory_domain self = { .domid = DOMID_SELF };
    long cur = HYPERVISOR_memory_op(XENMEM_current_reservation, &self);
    if (cur < 0)
        return (int)cur;
    current_pages = (uint64_t)cur;
    /* xen-balloon.c's watch_target for an HVM guest: memory/target counts
     * from static-max, of which the guest sees static-max less
     * target_diff. */
    long smax_kib;
    target_diff = 0;
    if (xs_read_int(XBT_NIL, "memory/static-max", &smax_kib) == 0)
        target_diff = (int64_t)((uint64_t)smax_kib >> (PAGE_SHIFT - 10)) - (int64_t)cur;
    return 0;
}

const struct balloon_pool *balloon_pool(void)
{
    return &pool;
}

uint64_t balloon_current_pages(void)
{
    return current_pages;
}

/* decrease_reservation_frames: up to a batch of the pool's held frames,
 * from the top down. The number given back, or -errno. */
static long give_back(uint64_t want)
{
    uint64_t held = pool.nr - pool.nr_out;
    uint64_t n = want < BALLOON_BATCH ? want : BALLOON_BATCH;
    if (n > held)
        n = held;
    if (!n)
        return -ENOSPC;
    uint64_t top = pool.first_gfn + held;       /* first frame out */
    for (uint64_t i = 0; i < n; i++)
        frame_list[i] = top - 1 - i;
    struct xen_memory_reservation r = { .nr_extents = n, .extent_order = 0,
                                        .domid = DOMID_SELF };
    set_xen_guest_handle(r.extent_start, frame_list);
    long rc = HYPERVISOR_memory_op(XENMEM_decrease_reservation, &r);
    if (rc < 0)
        return rc;
    /* Xen released frame_list[0 .. rc): the top rc of the held frames. */
    pool.nr_out += (uint64_t)rc;
    current_pages -= (uint64_t)rc;
    return (uint64_t)rc == n ? rc : -EIO;
}

/* increase_reservation: up to a batch of the frames out, the lowest
 * first. The number taken back, or -errno. */
static long take_back(uint64_t want)
{
    uint64_t n = want < BALLOON_BATCH ? want : BALLOON_BATCH;
    if (n > pool.nr_out)
        n = pool.nr_out;
    if (!n)
        return -ENOSPC;
    uint64_t low = pool.first_gfn + pool.nr - pool.nr_out;
    for (uint64_t i = 0; i < n; i++)
        frame_list[i] = low + i;
    struct xen_memory_reservation r = { .nr_extents = n, .extent_order = 0,
                                        .domid = DOMID_SELF };
    set_xen_guest_handle(r.extent_start, frame_list);
    long rc = HYPERVISOR_memory_op(XENMEM_populate_physmap, &r);
    if (rc < 0)
        return rc;
    pool.nr_out -= (uint64_t)rc;
    current_pages += (uint64_t)rc;
    return (uint64_t)rc == n ? rc : -ENOMEM;
}

int balloon_set_target(uint64_t target_kib)
{
    int64_t target = (int64_t)(target_kib >> (PAGE_SHIFT - 10)) - target_diff;
    if (target < 0)
        target = 0;
    while ((uint64_t)target != current_pages) {
        long rc = (uint64_t)target < current_pages ?
                  give_back(current_pages - (uint64_t)target) :
                  take_back((uint64_t)target - current_pages);
        if (rc < 0)
            return (int)rc;
    }
    return 0;
}

int balloon_watch(void)
{
    return xs_watch("memory/target", BALLOON_TOKEN);
}

int balloon_wait_target(uint64_t *target_kib)
{
    char path[64], token[32];

    for (;;) {
        int rc = xs_read_watch(path, sizeof(path), token, sizeof(token));
        if (rc)
            return rc;
        if (strcmp(token, BALLOON_TOKEN) != 0)
            continue;
        long kib;
        rc = xs_read_int(XBT_NIL, "memory/target", &kib);
        if (rc == -ENOENT)
            continue;               /* Linux: fine, nothing to follow */
        if (rc)
            return rc;
        *target_kib = kib < 0 ? 0 : (uint64_t)kib;
        return 0;
    }
}

/*
 * The guest's grant table (guest/gnttab.h): set-up as Linux's PVH path
 * (query_size, set_version, XENMAPSPACE_grant_table per frame), grant and
 * end with Xen's flag protocol, and a bitmap allocator of refs.
 */
#include <guest/guest.h>
#include <guest/hypercall.h>
#include <guest/gnttab.h>

#define V1_PER_FRAME (PAGE_SIZE / sizeof(grant_entry_v1_t))
#define V2_PER_FRAME (PAGE_SIZE / sizeof(grant_entry_v2_t))
#define MAX_REFS (GNTTAB_GUEST_MAX_FRAMES * V1_PER_FRAME)
/* v2: one 16-bit status word per entry, at most MAX_FRAMES * 256 of them. */
#define STATUS_PAGES \
    ((GNTTAB_GUEST_MAX_FRAMES * V2_PER_FRAME * sizeof(grant_status_t) + PAGE_SIZE - 1) / PAGE_SIZE)

/* The gfns the table's frames are shown at: pages of our image that
 * nothing else uses (Linux PVH takes them from its own memory too). */
static unsigned char table_pages[GNTTAB_GUEST_MAX_FRAMES][PAGE_SIZE]
    __attribute__((aligned(PAGE_SIZE), section(".bss.pages")));
static unsigned char status_pages[STATUS_PAGES][PAGE_SIZE]
    __attribute__((aligned(PAGE_SIZE), section(".bss.pages")));

static unsigned int version;
static unsigned int nr_frames;
static unsigned int nr_refs;
static uint64_t used[MAX_REFS / 64];

static volatile grant_entry_v1_t *v1(grant_ref_t ref)
{
    return &((volatile grant_entry_v1_t *)table_pages)[ref];
}

static volatile grant_entry_v2_t *v2(grant_ref_t ref)
{
    return &((volatile grant_entry_v2_t *)table_pages)[ref];
}

static volatile grant_status_t *v2_status(grant_ref_t ref)
{
    return &((volatile grant_status_t *)status_pages)[ref];
}

static long map_frame(uint64_t idx, void *page)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF,
        .space = XENMAPSPACE_grant_table,
        .idx = idx,
        .gpfn = virt_to_gfn(page),
    };
    return HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp);
}

int gnttab_init(unsigned int want)
{
    struct gnttab_query_size qs = { .dom = DOMID_SELF };
    uint32_t max = 4;          /* Linux's fallback when query_size fails */
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_query_size, &qs, 1);

    if (rc == 0 && qs.status == GNTST_okay)
        max = qs.max_nr_frames;
    unsigned int frames = max < GNTTAB_GUEST_MAX_FRAMES ? max : GNTTAB_GUEST_MAX_FRAMES;
    if (frames == 0)
        return -XEN_ENOSPC;

    struct gnttab_set_version sv = { .version = want };
    rc = HYPERVISOR_grant_table_op(GNTTABOP_set_version, &sv, 1);
    if (rc != 0)
        return (int)rc;
    if (sv.version != 1 && sv.version != 2)
        return -XEN_EIO;

    for (unsigned int i = 0; i < frames; i++) {
        rc = map_frame(i, table_pages[i]);
        if (rc != 0)
            return (int)rc;
    }
    unsigned int per = sv.version == 2 ? V2_PER_FRAME : V1_PER_FRAME;
    if (sv.version == 2) {
        unsigned int st = (frames * per * sizeof(grant_status_t) + PAGE_SIZE - 1) / PAGE_SIZE;
        for (unsigned int i = 0; i < st; i++) {
            rc = map_frame(XENMAPIDX_grant_table_status | i, status_pages[i]);
            if (rc != 0)
                return (int)rc;
        }
    }
    version = sv.version;
    nr_frames = frames;
    nr_refs = frames * per;
    return 0;
}

unsigned int gnttab_version(void)
{
    return version;
}

unsigned int gnttab_nr_frames(void)
{
    return nr_frames;
}

unsigned int gnttab_nr_refs(void)
{
    return nr_refs;
}

int gnttab_alloc_ref(void)
{
    for (unsigned int r = GNTTAB_NR_RESERVED_ENTRIES; r < nr_refs; r++) {
        if (!(used[r / 64] & (1ULL << (r % 64)))) {
            used[r / 64] |= 1ULL << (r % 64);
            return (int)r;
        }
    }
    return -XEN_ENOSPC;
}

void gnttab_free_ref(grant_ref_t ref)
{
    if (ref >= GNTTAB_NR_RESERVED_ENTRIES && ref < nr_refs)
        used[ref / 64] &= ~(1ULL << (ref % 64));
}

void gnttab_grant(grant_ref_t ref, domid_t domid, uint64_t frame, bool readonly)
{
    uint16_t flags = GTF_permit_access | (readonly ? GTF_readonly : 0);

    if (ref >= nr_refs)
        return;
    if (version == 2) {
        v2(ref)->full_page.frame = frame;
        v2(ref)->hdr.domid = domid;
        wmb();
        v2(ref)->hdr.flags = flags;
    } else {
        v1(ref)->frame = (uint32_t)frame;
        v1(ref)->domid = domid;
        wmb();
        v1(ref)->flags = flags;
    }
}

bool gnttab_end(grant_ref_t ref)
{
    if (ref >= nr_refs)
        return false;
    if (version == 2) {
        v2(ref)->hdr.flags = 0;
        mb();   /* the hypervisor's GTF_reading/writing after our revoke */
        return !(*v2_status(ref) & (GTF_reading | GTF_writing));
    }
    /* flags and domid share the entry's first 32-bit word: clear flags
     * only if the word still holds what we saw, with no use flag in it. */
    volatile uint32_t *word = (volatile uint32_t *)v1(ref);
    uint32_t seen = *word, prev;
    for (;;) {
        if (seen & (GTF_reading | GTF_writing))
            return false;
        prev = cmpxchg_u32(word, seen, seen & 0xffff0000u);
        if (prev == seen)
            return true;
        seen = prev;
    }
}

uint16_t gnttab_query_flags(grant_ref_t ref)
{
    if (ref >= nr_refs)
        return 0;
    if (version == 2)
        return (uint16_t)(v2(ref)->hdr.flags | (*v2_status(ref) & (GTF_reading | GTF_writing)));
    return v1(ref)->flags;
}

void gnttab_rewrite(grant_ref_t ref, domid_t domid, uint64_t frame, uint16_t flags)
{
    if (ref >= nr_refs)
        return;
    if (version == 2) {
        v2(ref)->hdr.domid = domid;
        v2(ref)->full_page.frame = frame;
        v2(ref)->hdr.flags = flags;
    } else {
        v1(ref)->domid = domid;
        v1(ref)->frame = (uint32_t)frame;
        v1(ref)->flags = flags;
    }
}

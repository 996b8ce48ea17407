/*
 * fuzz_hv_calls: hypercalls from a hostile guest. The input is guest memory
 * plus a list of hypercalls (number, five arguments); each goes through
 * hv_hypercall() exactly as the VMM's exit path sends it, with two domains
 * in the event-channel core. Arguments are mostly small offsets into the
 * 64 KiB guest memory (so structs get parsed), sometimes raw 64-bit values.
 * Sleeping calls (block, poll) return at once: the domain is "stopping".
 *
 * Each domain has a grant table (the real core, src/gnttab) in its own
 * memory: its last GT_PAGES pages are the table (GT_FRAMES shared frames
 * and the status page), so grant_table_op (every sub-op, counts, copy
 * arrays) and XENMEM_add_to_physmap(XENMAPSPACE_grant_table) act on
 * entries the input wrote (its first 4 KiB go into the first table frame
 * too) and the calls themselves can rewrite. Domain 0 is in the registry
 * as the mapper: a record with bit 3 of its first byte set is not a
 * hypercall but domain 0 (a backend) mapping the domain's grant arg[0],
 * or unmapping one of its mappings, so the guest's table operations meet
 * grants in use. Every mapping is unmapped at the end, and nothing may
 * stay pinned.
 *
 * memory_op's reservation calls meet a physmap of the domain's 16 frames
 * (fz_physmap_*, as the VMM's: a frame given back reads zero and holds
 * nothing until populated again); seed memory-reservation puts a
 * reservation, its extent list and the other memory_op structs in memory.
 *
 * Bit 1 of a record's first byte makes it a 32-bit caller's call: its
 * registers count by their low 32 bits and its structs are read in the
 * i386 layout (src/hv/hv_compat_xlate.c); seed compat32 puts i386 structs
 * of memory_op, multicall, sched_op poll, vcpu_op's runstate and timer,
 * setup_table and map_pirq in memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/gnttab.h"
#include "xenkvm/hv.h"
#include "xenkvm/irq.h"

#define MEM (64 * 1024)
#define GT_FRAMES 2u
#define GT_PAGES 3u             /* GT_FRAMES + gnttab_status_pages(2) */
#define GT_GFN (MEM / 4096 - GT_PAGES)
#define MAXMAP 32

static uint8_t mem[2][MEM] __attribute__((aligned(4096)));
static struct shared_info shinfo[2] __attribute__((aligned(4096)));

static void *fz_gva_map(void *vcpu, uint64_t gva, bool write)
{
    (void)write;
    uint8_t *m = vcpu;
    return gva < MEM ? m + gva : NULL;
}

static void *fz_gfn_map(void *dom, uint64_t gfn)
{
    uint8_t *m = dom;
    return gfn < MEM / 4096 ? m + gfn * 4096 : NULL;
}

static int fz_map_shinfo(void *dom, uint64_t gfn)
{
    (void)dom;
    return gfn < MEM / 4096 ? 0 : -22;
}

/* The guest's gfn now shows table page `page`: the table already lies in
 * its memory, so only the gfn is checked. */
static int fz_map_frame(void *dom, uint32_t page, uint64_t gfn)
{
    (void)dom;
    (void)page;
    return gfn < MEM / 4096 ? 0 : -22;
}

/* Frames each domain gave back (decrease_reservation), a bit per frame. */
static uint32_t absent[2];

static int fz_dom(void *dom)
{
    return (uint8_t *)dom == mem[0] ? 0 : 1;
}

static int fz_physmap_remove(void *dom, uint64_t gfn, bool ram_only)
{
    (void)ram_only;
    if (gfn >= MEM / 4096 || (absent[fz_dom(dom)] & (1u << gfn)))
        return -2;                              /* -ENOENT */
    absent[fz_dom(dom)] |= 1u << gfn;
    memset((uint8_t *)dom + gfn * 4096, 0, 4096);
    return 1;
}

static int fz_physmap_populate(void *dom, uint64_t gfn)
{
    if (gfn >= MEM / 4096)
        return -22;                             /* -EINVAL */
    uint32_t bit = 1u << gfn, was = absent[fz_dom(dom)] & bit;
    absent[fz_dom(dom)] &= ~bit;
    memset((uint8_t *)dom + gfn * 4096, 0, 4096);
    return was ? 1 : 0;
}

static const struct gnttab_ops fz_gt_ops = { fz_gfn_map, fz_map_frame };

static int fz_vcpu_init(void *dom, uint32_t id, const void *ctx)
{
    (void)dom; (void)id; (void)ctx;
    return 0;
}

static int fz_vcpu(void *dom, uint32_t id)
{
    (void)dom; (void)id;
    return 0;
}

static void fz_shutdown(void *dom, unsigned int reason)
{
    (void)dom; (void)reason;
}

static void fz_console(void *dom, const char *buf, size_t len)
{
    (void)dom; (void)buf; (void)len;
}

static void fz_assert(void *dom, uint32_t id)
{
    (void)dom; (void)id;
}

static const struct hv_platform_ops fz_ops = {
    .gva_map = fz_gva_map, .gfn_map = fz_gfn_map,
    .map_shared_info = fz_map_shinfo, .vcpu_initialise = fz_vcpu_init,
    .vcpu_up = fz_vcpu, .vcpu_down = fz_vcpu, .vcpu_is_up = fz_vcpu,
    .shutdown = fz_shutdown, .console_write = fz_console,
    .assert_upcall = fz_assert,
    .physmap_remove = fz_physmap_remove,
    .physmap_populate = fz_physmap_populate,
};

static void *ec_map(void *opaque, domid_t dom, uint64_t gfn)
{
    (void)opaque;
    if (dom < 1 || dom > 2 || gfn >= MEM / 4096)
        return NULL;
    return mem[dom - 1] + gfn * 4096;
}

/* The IRQ router behind PHYSDEVOP and PIRQ ports (it attaches itself to the
 * evtchn host): two level eventfd lines and one edge line, lines 1 and 2
 * granted to both domains. */
static struct irq_pirq *fz_pirq;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct evtchn_platform_ops eops = { .map_gfn = ec_map };
    struct evtchn_host *h = evtchn_host_create(&eops, NULL);
    struct irq_icu *icu = irq_icu_create(4);
    for (unsigned int l = 0; icu && l < 3; l++) {
        struct irq_source *src;
        struct irq_mode md = { .trigger = l == 2 ? IRQ_EDGE : IRQ_LEVEL };
        if (irq_source_eventfd(-1, &src) == 0)
            irq_icu_set_source(icu, l, src, md);
    }
    fz_pirq = icu ? irq_pirq_create(icu, h, ec_map, NULL) : NULL;
    struct hv_domain *d[2] = { NULL, NULL };
    struct gnttab_host *gh = gnttab_host_create();
    struct gnttab *gt[2] = { NULL, NULL }, *gt0 = NULL;
    grant_handle_t maps[MAXMAP];       /* dom0's mappings */
    unsigned int nmaps = 0;
    if (gh) {
        struct gnttab_config g0 = { .domid = 0, .max_maptrack_frames = 1 };
        gt0 = gnttab_create(gh, &g0);
    }
    struct hv_e820 e820[1] = { { 0, MEM, 1 } };
    struct evtchn_domain_config d0 = { .domid = 0, .privileged = true,
                                       .max_vcpus = 1 };
    evtchn_domain_create(h, &d0);
    for (int i = 0; i < 2; i++) {
        memset(mem[i], 0, MEM);
        absent[i] = 0;
        memset(&shinfo[i], 0, sizeof(shinfo[i]));
        struct evtchn_domain_config c = { .domid = (domid_t)(i + 1),
            .max_vcpus = 2, .shared_info = &shinfo[i] };
        evtchn_domain_create(h, &c);
        if (fz_pirq) {
            irq_pirq_domain_add(fz_pirq, (domid_t)(i + 1), false, 0);
            irq_pirq_grant(fz_pirq, (domid_t)(i + 1), 1, true);
            irq_pirq_grant(fz_pirq, (domid_t)(i + 1), 2, true);
        }
        struct gnttab_config gc = { .domid = (domid_t)(i + 1),
            .max_frames = GT_FRAMES, .max_maptrack_frames = 1,
            .pages = mem[i] + GT_GFN * 4096, .ops = &fz_gt_ops,
            .opaque = mem[i] };
        if (gh && !(gt[i] = gnttab_create(gh, &gc)))
            abort();
        struct hv_domain_config hc = { .domid = (domid_t)(i + 1),
            .max_vcpus = 2, .ram_pages = MEM / 4096, .e820 = e820,
            .nr_e820 = 1, .evtchn = h, .ops = &fz_ops, .opaque = mem[i],
            .pirq = fz_pirq, .gnttab = gt[i], .gnttab_host = gh };
        d[i] = hv_domain_create(&hc);
        hv_domain_stop(d[i]);
    }
    /* first 4 KiB of input: guest memory of both domains */
    size_t m = size < 4096 ? size : 4096;
    memcpy(mem[0], data, m);
    memcpy(mem[1] + 4096, data, m);
    for (int i = 0; i < 2; i++)         /* the guests' grant entries */
        memcpy(mem[i] + GT_GFN * 4096, data, m);
    data += m;
    size -= m;
    /* then records: dom(1) nr(1) 5 x arg(4) */
    while (size >= 22) {
        int dom = data[0] & 1;
        struct hv_call c = { .nr = data[1] & 63, .long_mode = !(data[0] & 2),
                             .cpl = (data[0] & 4) ? 3 : 0 };
        for (int i = 0; i < 5; i++) {
            uint32_t v;
            memcpy(&v, data + 2 + 4 * i, 4);
            /* top bit: a raw wide value; otherwise an offset in memory */
            c.arg[i] = (v & 0x80000000u) ? ((uint64_t)v << 20) ^ v :
                                           (v & 0x1ffff);
        }
        if (!(data[0] & 8)) {
            hv_hypercall(d[dom], data[0] >> 7, mem[dom], &c);
        } else if (nmaps && (data[1] & 64)) {   /* dom0 unmaps one */
            unsigned int k = (unsigned int)c.arg[0] % nmaps;
            if (gnttab_unmap(gh, 0, maps[k]) != GNTST_okay)
                abort();
            maps[k] = maps[--nmaps];
        } else if (gh && nmaps < MAXMAP) {      /* dom0 maps a grant */
            struct gnttab_mapping gm;
            uint32_t flags = GNTMAP_host_map |
                             (c.arg[1] & 1 ? GNTMAP_readonly : 0);
            if (gnttab_map(gh, 0, (domid_t)(dom + 1),
                           (grant_ref_t)(c.arg[0] % 1024), flags, &gm) ==
                GNTST_okay) {
                uint8_t *a = gm.addr;   /* the granter's RAM, whole page */
                if (a < mem[dom] || a + 4096 > mem[dom] + MEM)
                    abort();
                if (!gm.readonly)
                    a[4095] ^= 1;
                maps[nmaps++] = gm.handle;
            }
        }
        data += 22;
        size -= 22;
    }
    /* a raise now exercises delivery to whatever got bound */
    for (unsigned int l = 0; icu && l < 3; l++) {
        uint64_t one = 1;
        if (write(irq_icu_source_fd(icu, l), &one, sizeof(one)) < 0) {
            /* unbound lines have a source all the same */
        }
    }
    if (icu)
        irq_icu_process(icu, 0);
    /* the backend lets go of every grant: nothing stays pinned */
    for (unsigned int k = 0; k < nmaps; k++)
        if (gnttab_unmap(gh, 0, maps[k]) != GNTST_okay)
            abort();
    for (int i = 0; i < 2; i++) {
        struct gnttab_stats st;
        if (gt[i]) {
            gnttab_get_stats(gt[i], &st);
            if (st.active)
                abort();
        }
        hv_domain_destroy(d[i]);
        gnttab_destroy(gt[i]);
        evtchn_domain_destroy(h, (domid_t)(i + 1));
        if (fz_pirq)
            irq_pirq_domain_remove(fz_pirq, (domid_t)(i + 1));
    }
    evtchn_domain_destroy(h, 0);
    irq_pirq_destroy(fz_pirq);
    fz_pirq = NULL;
    if (icu)
        irq_icu_destroy(icu);
    evtchn_host_destroy(h);
    gnttab_destroy(gt0);
    gnttab_host_destroy(gh);
    return 0;
}

/*
 * libFuzzer harness for the grant-table core: the input is a sequence of
 * operations (map, unmap, copy, set_version, setup_table, add_to_physmap,
 * get_status_frames, swap, query_size, destroy and re-create a domain)
 * with arbitrary arguments, over guests 1 and 2 and mapper domain 0,
 * interleaved with writes of arbitrary bytes into the guests' tables
 * (entries and status words) as a hostile guest makes them. Checked after
 * every step: a mapping's pointer lies in its granter's RAM, the stats
 * agree with the handles the harness holds; at the end every handle
 * unmaps and nothing stays pinned. ASan catches any access outside the
 * pages.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gnttab_harness.h"
#include "fuzz_input.h"

#include <xen/memory.h>

/* Mostly small (real refs, frames, domids), sometimes anything. */
static uint32_t num(struct in *in)
{
    uint8_t sel = u8(in);
    if (sel < 200)
        return sel % 40;
    if (sel < 230)
        return u32(in);
    static const uint32_t edge[] = { 255, 256, 511, 512, 2047, 4096,
                                     0xffffffffu, DOMID_SELF };
    return edge[sel % 8];
}

#define MAXH 64
#define FRAMES 2
#define RAM 8

struct held {
    grant_handle_t h;
    domid_t granter;
    bool orphan;            /* its granter was destroyed */
    uint8_t *addr;
};

static struct gx_dom dom[3];
static struct held held[MAXH];
static unsigned nheld;

static void check_held(void)
{
    for (unsigned i = 0; i < nheld; i++) {
        struct gx_dom *g = &dom[held[i].granter];
        if (held[i].orphan)
            continue;
        uint8_t *a = held[i].addr;
        if (a < g->ram || a >= g->ram + RAM * GX_PAGE ||
            (a - g->ram) % GX_PAGE)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = { data, size };
    struct gnttab_host *h = gnttab_host_create();
    if (!h)
        return 0;
    nheld = 0;
    if (gx_dom_init(h, &dom[0], 0, 0, 1, 0) ||
        gx_dom_init(h, &dom[1], 1, FRAMES, 1, RAM) ||
        gx_dom_init(h, &dom[2], 2, FRAMES, 1, RAM))
        abort();
    uint64_t frames[FRAMES + 1];

    for (int step = 0; step < 512 && in.n; step++) {
        uint8_t op = u8(&in);
        struct gx_dom *g = &dom[1 + (u8(&in) & 1)];
        switch (op % 12) {
        case 0 ... 2: {         /* the guest scribbles its table */
            if (!g->gt)
                break;
            size_t len = (FRAMES + gnttab_status_pages(FRAMES)) * GX_PAGE;
            size_t off = (num(&in) * 8u + (u8(&in) & 7)) % (len - 4);
            __atomic_store_n((uint32_t *)(g->table + (off & ~(size_t)3)),
                             u32(&in), __ATOMIC_RELAXED);
            break;
        }
        case 3: {               /* a plausible grant */
            if (!g->gt)
                break;
            grant_ref_t ref = num(&in) % 256;
            uint16_t flags = (uint16_t)(u8(&in) | (u8(&in) & 1) << 8);
            domid_t to = (domid_t)(u8(&in) % 4);
            uint32_t frame = num(&in) % (RAM + 2);
            if (gnttab_op_get_version(g->gt) == 1)
                gx_grant_v1(g, ref, flags, to, frame);
            else
                gx_grant_v2(g, ref, flags, to, frame);
            break;
        }
        case 4: {               /* map */
            domid_t mapper = (domid_t)(u8(&in) % 3);
            domid_t granter = (domid_t)(u8(&in) % 4);
            grant_ref_t ref = num(&in);
            uint32_t flags = u8(&in) & 0x1f;
            struct gnttab_mapping m;
            if (gnttab_map(h, mapper, granter, ref, flags, &m) == GNTST_okay) {
                if (granter == 0 || granter > 2)
                    abort();    /* dom0 has no grants */
                held[nheld++] = (struct held){ m.handle, granter, false, m.addr };
                /* Touch the mapped page: it must be the granter's RAM. */
                if (!m.readonly)
                    ((volatile uint8_t *)m.addr)[4095] ^= 1;
                /* Keep dom0's handles only, at most MAXH. */
                if (mapper != 0 || nheld == MAXH) {
                    nheld--;
                    if (gnttab_unmap(h, mapper, m.handle) != GNTST_okay)
                        abort();
                }
            }
            break;
        }
        case 5: {               /* unmap: held, or any number */
            if (nheld && (u8(&in) & 1)) {
                unsigned i = u8(&in) % nheld;
                if (gnttab_unmap(h, 0, held[i].h) != GNTST_okay)
                    abort();
                held[i] = held[--nheld];
            } else {
                /* A handle nobody holds: always bad_handle. */
                grant_handle_t x = num(&in);
                bool mine = false;
                for (unsigned i = 0; i < nheld; i++)
                    mine |= held[i].h == x;
                if (!mine && gnttab_unmap(h, 0, x) != GNTST_bad_handle)
                    abort();
            }
            break;
        }
        case 6: {               /* copy */
            struct gnttab_copy c;
            memset(&c, 0, sizeof(c));
            c.flags = u8(&in) & 3;
            c.source.u.gmfn = num(&in);
            c.dest.u.gmfn = num(&in);
            c.source.domid = (domid_t)num(&in);
            c.dest.domid = (domid_t)num(&in);
            c.source.offset = (uint16_t)num(&in);
            c.dest.offset = (uint16_t)num(&in);
            c.len = (uint16_t)(u8(&in) & 1 ? num(&in) : u8(&in));
            gnttab_copy(h, (domid_t)(u8(&in) % 4), &c);
            break;
        }
        case 7: {
            if (!g->gt)
                break;
            uint32_t now;
            int rc = gnttab_op_set_version(g->gt, num(&in), &now);
            if (rc && rc != -EINVAL && rc != -EBUSY && rc != -ERANGE)
                abort();
            break;
        }
        case 8:
            if (g->gt) {
                uint32_t n = num(&in) % (FRAMES + 2);
                if (u8(&in) & 1)
                    gnttab_op_setup_table(g->gt, n, frames);
                else
                    gnttab_op_get_status_frames(g->gt, n, frames);
            }
            break;
        case 9:
            if (g->gt) {
                uint64_t idx = num(&in);
                if (u8(&in) & 1)
                    idx |= XENMAPIDX_grant_table_status;
                gnttab_op_add_to_physmap(g->gt, idx, num(&in));
            }
            break;
        case 10:
            if (g->gt) {
                uint32_t nr, max;
                gnttab_op_swap(g->gt, num(&in), num(&in));
                gnttab_op_query_size(g->gt, &nr, &max);
                if (nr > max)
                    abort();
            }
            break;
        case 11: {              /* the guest dies (or comes back) */
            domid_t id = (domid_t)(g - dom);
            if (g->gt) {
                for (unsigned i = 0; i < nheld; i++)
                    if (held[i].granter == id)
                        held[i].orphan = true;
                gx_dom_fini(g);
            }
            else if (gx_dom_init(h, g, id, FRAMES, 1, RAM))
                abort();
            break;
        }
        }
        check_held();
    }
    /* Every held handle unmaps (orphaned ones too); nothing stays. */
    for (unsigned i = 0; i < nheld; i++)
        if (gnttab_unmap(h, 0, held[i].h) != GNTST_okay)
            abort();
    struct gnttab_stats st;
    gnttab_get_stats(dom[0].gt, &st);
    if (st.maptrack)
        abort();
    for (int i = 1; i < 3; i++)
        if (dom[i].gt) {
            gnttab_get_stats(dom[i].gt, &st);
            if (st.active)
                abort();
        }
    for (int i = 0; i < 3; i++)
        gx_dom_fini(&dom[i]);
    gnttab_host_destroy(h);
    return 0;
}

/*
 * libFuzzer harness for blkback (src/backends/blkback*.c, xenbus_be.c)
 * against plain memory, as tests/unit/test_blkback.c sets it up
 * (tests/common/blkback_harness.h), with the loop run here, in the
 * fuzzer's thread, so that the input orders every step. The input is a
 * sequence of a hostile frontend's actions:
 *   - its XenStore keys: blkfront's whole ring set-up (queues, ring page
 *     order, protocol x86_32/x86_64, persistent grants), or any one key
 *     (ring-ref(N), queue-N/..., event-channel, protocol,
 *     multi-queue-num-queues, ring-page-order, feature-persistent) set to
 *     a number or bytes, or removed; its state, Closed and back included;
 *   - its grant entries: plausible grants or raw words scribbled into the
 *     table at any time, and its table's version;
 *   - its rings: requests of every operation in the protocol's layout
 *     (indirect pages too) or the other one, raw words anywhere in the
 *     ring pages, req_prod set anywhere, responses consumed;
 *   - notifications (and closing its end of a channel);
 *   - when the loop runs (XenStore watches, kicks, I/O completions) and
 *     how the image changes size under the I/O (short reads and writes);
 *   - the toolstack: hot-unplug, domain death (remove) and a new disk.
 * Each run tears everything down: the disk (an unplug still waiting for
 * the frontend completes when its directory goes, as at domain death),
 * then the service; every grant must be unmapped by then (abort if not),
 * and LeakSanitizer sees the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blkback_harness.h"
#include "fuzz_input.h"

#define FE 1
#define DEVID 51712u
#define RAM 96u                 /* guest pages: data, indirect, rings */
#define DATA 16u                /* gfn 1..DATA: data and indirect pages */
#define GT_FRAMES 4u            /* 2048 v1 entries */
#define IMG (64u * 1024)        /* 128 sectors */

/* Mostly small (refs, ports, sectors near the disk), sometimes anything. */
static uint32_t num(struct in *in)
{
    static const uint32_t edge[8] = { 127, 128, 255, 256, 2047, 2048,
                                      0x7fffffffu, 0xffffffffu };
    return fuzz_num(in, edge);
}

struct run {
    struct bx b;
    struct bx_front c;
    bool rings;                 /* c is set up */
    struct be_blk_disk *disk;   /* NULL: none (removed or unplugged) */
    bool unplugging;
    bool unplugged;             /* the unplug's done ran */
};

static void unplug_done(void *arg)
{
    ((struct run *)arg)->unplugged = true;
}

static void pump(struct run *r, unsigned int n, int timeout_ms)
{
    beh_pump(&r->b.h, n, timeout_ms);
}

static void disk_add(struct run *r, bool ro)
{
    const struct be_blk_config bc = { .domid = FE, .target = r->b.img,
        .vdev = "xvda", .devid = DEVID, .readonly = ro };
    if (be_blkback_disk_add(r->b.bb, &bc, &r->disk))
        abort();                /* the image is there: it must open */
    r->unplugging = r->unplugged = false;
}

/* A frontend's key: its name, from a list or with an index. */
static void key_name(struct in *in, char *key, size_t n)
{
    static const char *const names[] = {
        "ring-ref", "ring-ref%u", "event-channel", "protocol",
        "multi-queue-num-queues", "ring-page-order", "feature-persistent",
        "state", "queue-%u/ring-ref", "queue-%u/ring-ref%u",
        "queue-%u/event-channel", "queue-%u/ring-page-order",
    };
    uint8_t k = u8(in) % 12;
    unsigned int a = u8(in) % 18, c = u8(in) % 18;
    if (k >= 8)
        snprintf(key, n, names[k], a % 5, c);
    else
        snprintf(key, n, names[k], a);
}

static void fe_key(struct run *r, struct in *in)
{
    char key[48], path[128];
    key_name(in, key, sizeof(key));
    uint8_t how = u8(in) % 5;
    if (how == 0) {
        snprintf(path, sizeof(path), "/local/domain/%u/device/vbd/%u/%s",
                 FE, DEVID, key);
        store_client_rm(r->b.h.fe, path);
    } else if (how == 1) {        /* bytes */
        char val[17];
        size_t len = u8(in) % 17;
        for (size_t i = 0; i < len; i++)
            val[i] = (char)(u8(in) | 1);    /* no NUL inside */
        val[len] = 0;
        bx_fe_write(&r->b, DEVID, key, "%s", val);
    } else if (how == 2) {
        static const char *const protos[] = { XEN_IO_PROTO_ABI_X86_32,
            XEN_IO_PROTO_ABI_X86_64, "x86_64-ab", "", "-1", " 1" };
        bx_fe_write(&r->b, DEVID, key, "%s", protos[u8(in) % 6]);
    } else {
        bx_fe_write(&r->b, DEVID, key, "%u", num(in));
    }
}

/* blkfront's set-up of its rings, in pages and refs that start over when
 * they run out (the old ones are simply reused: a guest may). */
static void fe_rings(struct run *r, struct in *in)
{
    unsigned int nq = 1 + u8(in) % BX_MAX_QUEUES, order = u8(in) % 5;
    bool pers = u8(in) & 1, x32 = u8(in) & 1;
    if (r->b.h.next_gfn + nq * (1u << order) >= RAM)
        r->b.h.next_gfn = DATA + 1;
    if (r->b.h.next_ref + nq * (1u << order) >= GT_FRAMES * 512)
        r->b.h.next_ref = 8;
    r->rings = bx_fe_rings(&r->b, DEVID, &r->c, nq, order, pers, x32) == 0;
}

/* A grant of page gfn to domain 0 in the next entry, the entries starting
 * over when they run out. */
static grant_ref_t fz_grant(struct run *r, uint32_t gfn, bool ro)
{
    if (r->b.h.next_ref >= GT_FRAMES * 512)
        r->b.h.next_ref = 8;
    return bx_grant(&r->b, gfn, ro);
}

/* A segment's grant: a fresh grant of a data page (read-only or not, to
 * domain 0 or not), or any number. */
static grant_ref_t seg_ref(struct run *r, struct in *in)
{
    uint8_t how = u8(in);
    if (how & 0x80)
        return num(in);
    grant_ref_t ref = fz_grant(r, 1 + u8(in) % DATA, how & 1);
    if (how & 2)                  /* granted to somebody else */
        gx_grant_v1(&r->b.h.g, ref, GTF_permit_access, 2, 1 + how % DATA);
    return ref;
}

static void segs(struct run *r, struct in *in, struct blkif_request_segment *s,
                 unsigned int n)
{
    for (unsigned int i = 0; i < n; i++) {
        uint8_t f = u8(in);
        s[i].gref = seg_ref(r, in);
        s[i].first_sect = f & 0x80 ? f & 0xf : 0;
        s[i].last_sect = f & 0x40 ? (f >> 2) & 0xf : 7;
    }
}

/* Any request, in native layout. */
union req {
    struct blkif_request rw;
    struct blkif_request_discard discard;
    struct blkif_request_indirect indirect;
};

/* One request from the input. */
static void make_req(struct run *r, struct in *in, union req *u)
{
    static const uint8_t ops[] = { BLKIF_OP_READ, BLKIF_OP_WRITE,
        BLKIF_OP_WRITE_BARRIER, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_DISCARD,
        BLKIF_OP_INDIRECT, BLKIF_OP_RESERVED_1, 0xff };
    memset(u, 0, sizeof(*u));
    uint8_t op = ops[u8(in) % 8];
    u->rw.operation = op;
    u->rw.id = u32(in);
    uint64_t sector = num(in);
    if (op == BLKIF_OP_DISCARD) {
        u->discard.sector_number = sector;
        u->discard.nr_sectors = num(in);
        u->discard.flag = u8(in);
    } else if (op == BLKIF_OP_INDIRECT) {
        u->indirect.indirect_op = u8(in) % 4;
        unsigned int n = u8(in) & 0x80 ? num(in) % 300 : 1 + u8(in) % 40;
        u->indirect.nr_segments = (uint16_t)n;
        u->indirect.sector_number = sector;
        /* the segments in indirect pages (the first few from the input,
         * the rest copies of them) */
        unsigned int pages = (n + 511) / 512;
        for (unsigned int p = 0; p < pages && p < 8; p++) {
            uint32_t gfn = 1 + u8(in) % DATA;
            struct blkif_request_segment *s = (void *)bx_page(&r->b, gfn);
            unsigned int k = n - p * 512 < 512 ? n - p * 512 : 512;
            unsigned int own = k < 4 ? k : 4;
            segs(r, in, s, own);
            for (unsigned int i = own; i < k; i++)
                s[i] = s[i % own];
            u->indirect.indirect_grefs[p] = u8(in) & 0x80
                ? num(in) : fz_grant(r, gfn, true);
        }
    } else {
        uint8_t n = u8(in) % 14;
        u->rw.nr_segments = n;
        u->rw.sector_number = sector;
        segs(r, in, u->rw.seg, n < 11 ? n : 11);
    }
}

/* Put it in the next slot of queue q's ring, in the layout of protocol
 * x32 (the ring's own, or the other one: the slots differ in size), and
 * publish it. */
static void put_req(struct run *r, unsigned int q, bool x32,
                    const union req *u)
{
    void *slot;
    if (r->c.x86_32) {
        blkif_x86_32_front_ring_t *f = &r->c.fr32[q];
        slot = RING_GET_REQUEST(f, f->req_prod_pvt++);
    } else {
        blkif_front_ring_t *f = &r->c.fr[q];
        slot = RING_GET_REQUEST(f, f->req_prod_pvt++);
    }
    if (!x32) {
        memcpy(slot, &u->rw, sizeof(u->rw));
    } else {
        union {
            struct blkif_x86_32_request rw;
            struct blkif_x86_32_request_discard discard;
            struct blkif_x86_32_request_indirect indirect;
        } s;
        memset(&s, 0, sizeof(s));
        s.rw.operation = u->rw.operation;
        if (u->rw.operation == BLKIF_OP_DISCARD) {
            s.discard.flag = u->discard.flag;
            s.discard.id = u->discard.id;
            s.discard.sector_number = u->discard.sector_number;
            s.discard.nr_sectors = u->discard.nr_sectors;
        } else if (u->rw.operation == BLKIF_OP_INDIRECT) {
            s.indirect.indirect_op = u->indirect.indirect_op;
            s.indirect.nr_segments = u->indirect.nr_segments;
            s.indirect.id = u->indirect.id;
            s.indirect.sector_number = u->indirect.sector_number;
            memcpy(s.indirect.indirect_grefs, u->indirect.indirect_grefs,
                   sizeof(s.indirect.indirect_grefs));
        } else {
            s.rw.nr_segments = u->rw.nr_segments;
            s.rw.id = u->rw.id;
            s.rw.sector_number = u->rw.sector_number;
            memcpy(s.rw.seg, u->rw.seg, sizeof(s.rw.seg));
        }
        memcpy(slot, &s, sizeof(s.rw));
    }
    bx_push(&r->c, q);
}

/* The ring's shared page(s) of queue q, and their size. */
static uint8_t *ring_mem(struct run *r, unsigned int q, size_t *len)
{
    *len = (size_t)BX_PAGE << r->c.order;
    return bx_page(&r->b, r->c.ring_gfn[q]);
}

static void step(struct run *r, struct in *in)
{
    unsigned int q = r->rings ? u8(in) % r->c.nq : 0;
    switch (u8(in) % 16) {
    case 0:
        fe_rings(r, in);
        break;
    case 1: {                   /* the frontend's state */
        uint8_t s = u8(in);
        if (s < 240)
            bx_fe_write(&r->b, DEVID, "state", "%u", s % 8);
        else
            bx_fe_write(&r->b, DEVID, "state", "%s", s & 1 ? "x" : "4 ");
        break;
    }
    case 2:
        fe_key(r, in);
        break;
    case 3: {                   /* a raw word in the table */
        size_t off = (num(in) * 8u + (u8(in) & 7)) %
                     ((GT_FRAMES + gnttab_status_pages(GT_FRAMES)) * BX_PAGE - 4);
        __atomic_store_n((uint32_t *)(r->b.h.g.table + (off & ~(size_t)3)),
                         u32(in), __ATOMIC_RELAXED);
        break;
    }
    case 4: {                   /* a plausible entry, anywhere */
        grant_ref_t ref = num(in) % (GT_FRAMES * 512);
        uint16_t flags = (uint16_t)(u8(in) | (u8(in) & 1) << 8);
        gx_grant_v1(&r->b.h.g, ref, flags, (domid_t)(u8(in) % 3),
                    num(in) % (RAM + 2));
        break;
    }
    case 5 ... 7: {             /* requests on a ring */
        if (!r->rings)
            break;
        bool x32 = r->c.x86_32 ^ (u8(in) == 0xff);
        unsigned int n = 1 + u8(in) % 4;
        for (unsigned int i = 0; i < n; i++) {
            union req u;
            make_req(r, in, &u);
            put_req(r, q, x32, &u);
        }
        if (u8(in) & 1)
            bx_notify(&r->b, &r->c, q);
        break;
    }
    case 8: {                   /* a raw word in the ring, req_prod first */
        if (!r->rings)
            break;
        size_t len;
        uint8_t *m = ring_mem(r, q, &len);
        uint8_t sel = u8(in);
        size_t off = sel < 128 ? (sel & 3) * 4 : (num(in) * 4u) % len;
        __atomic_store_n((uint32_t *)(m + off), u32(in), __ATOMIC_RELEASE);
        break;
    }
    case 9:                     /* notify */
        if (r->rings && u8(in) < 200)
            bx_notify(&r->b, &r->c, q);
        else {
            struct evtchn_send s = { .port = num(in) };
            hx_op(r->b.h.x, FE, EVTCHNOP_send, &s);
        }
        break;
    case 10: {                  /* the loop runs: watches, kicks, I/O */
        uint8_t p = u8(in);
        pump(r, 1 + (p & 7), p & 0x80 ? 1 : 0);
        break;
    }
    case 11:                    /* the image changes size under the I/O */
        if (ftruncate(r->b.imgfd, (off_t)(u8(in) % 32) * 4096) < 0)
            abort();
        break;
    case 12:                    /* responses consumed (blkfront) */
        if (r->rings) {
            if (r->c.x86_32) {
                blkif_x86_32_front_ring_t *f = &r->c.fr32[q];
                f->rsp_cons = __atomic_load_n(&f->sring->rsp_prod,
                                              __ATOMIC_ACQUIRE);
                f->sring->rsp_event = f->rsp_cons + 1;
            } else {
                blkif_front_ring_t *f = &r->c.fr[q];
                f->rsp_cons = __atomic_load_n(&f->sring->rsp_prod,
                                              __ATOMIC_ACQUIRE);
                f->sring->rsp_event = f->rsp_cons + 1;
            }
        }
        break;
    case 13: {                  /* the toolstack */
        uint8_t t = u8(in);
        if (r->unplugging && r->unplugged) {
            be_blkback_disk_remove(r->disk);   /* outlives its unplug */
            r->disk = NULL;
            r->unplugging = false;
        }
        if (!r->disk)
            disk_add(r, t & 1);
        else if (r->unplugging)
            break;
        else if (t & 2) {
            be_blkback_disk_unplug(r->disk, unplug_done, r);
            r->unplugging = true;
        } else {
            be_blkback_disk_remove(r->disk);
            r->disk = NULL;
        }
        break;
    }
    case 14:                    /* the guest closes its end of a channel */
        if (r->rings) {
            struct evtchn_close c = { .port = r->c.port[q] };
            hx_op(r->b.h.x, FE, EVTCHNOP_close, &c);
        }
        break;
    case 15: {                  /* its table's version, its size */
        uint32_t now;
        if (u8(in) & 1)
            gnttab_op_set_version(r->b.h.g.gt, 1 + (u8(in) & 1), &now);
        else {
            uint64_t frames[GT_FRAMES];
            gnttab_op_setup_table(r->b.h.g.gt, 1 + u8(in) % GT_FRAMES, frames);
        }
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run r;
    struct in in = { data, size };
    char err[160];
    memset(&r, 0, sizeof(r));
    if (bx_init(&r.b, FE, RAM, GT_FRAMES, IMG, false, err, sizeof(err))) {
        fprintf(stderr, "fuzz_blkback: %s\n", err);
        abort();
    }
    r.b.h.next_gfn = DATA + 1;        /* 1..DATA: data pages */
    disk_add(&r, u8(&in) & 1);
    pump(&r, 4, 0);
    for (int i = 0; i < 256 && in.n; i++)
        step(&r, &in);
    /* The end of the domain: the disk is removed, whether attached, its
     * unplug done, or its unplug still waiting for the frontend (the
     * remove ends it). */
    be_blkback_disk_remove(r.disk);
    pump(&r, 4, 0);
    if (bx_fini(&r.b))
        abort();                /* a grant still mapped */
    return 0;
}

/*
 * blkback's requests (see blkback_int.h for who owns what): a request is
 * copied off the shared ring once, converted to the native layout, checked
 * field by field (operation, segment count, each segment's sectors, the
 * range against the disk, the disk's mode), its grants mapped as domain 0,
 * and handed to the io_uring as one readv/writev straight on the guest's
 * pages (no copy), a fallocate(PUNCH_HOLE) or an fdatasync. A request that
 * fails a check is answered BLKIF_RSP_ERROR (or EOPNOTSUPP for an unknown
 * operation) at once and nothing else happens; a ring whose producer runs
 * more than a ring ahead is stopped (its frontend is broken or hostile),
 * other rings and disks are not. Completions are answered in any order.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>

#include "blkback_int.h"

/* user_data of an fdatasync that follows a write in the same request */
#define BLK_UD_FSYNC 1u

struct blk_req {
    struct blk_ring *r;
    uint64_t id;
    uint8_t op;                 /* echoed in the response */
    bool write, flush, discard;
    uint64_t off, len;          /* bytes on the disk */
    unsigned int niov, ntemp;
    struct iovec *iov;
    grant_handle_t *temp;       /* mappings to drop when done */
    int pending;                /* SQEs not completed yet */
    int16_t status;
};

/* Every request in native layout. */
union blk_any {
    struct blkif_request rw;
    struct blkif_request_discard discard;
    struct blkif_request_indirect indirect;
};

void blk_log(struct be_blk_disk *d, const char *fmt, ...)
{
    if (d->bb->env.quiet)
        return;
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "blkback d%u %s: ", d->cfg.domid,
             d->cfg.vdev);
    va_list ap;
    va_start(ap, fmt);
    util_vlog_ratelimited(&d->bb->rl, stderr, prefix, fmt, ap);
    va_end(ap);
}

/* ---- the ring ---- */

/* The shared indexes of a ring: the frontend's vCPU reads and writes them
 * at any time, so each access is an __atomic one (the ring macros' plain
 * accesses and fences are a data race in C11's model, and TSan cannot see
 * fences). Both layouts put them at the same place. */
struct blk_idx {
    RING_IDX *req_prod, *req_event, *rsp_prod, *rsp_event;
};

static struct blk_idx ring_idx(struct blk_ring *r)
{
    if (r->x86_32) {
        blkif_x86_32_sring_t *s = r->br.x32.sring;
        return (struct blk_idx){ &s->req_prod, &s->req_event, &s->rsp_prod,
                                 &s->rsp_event };
    }
    blkif_sring_t *s = r->br.native.sring;
    return (struct blk_idx){ &s->req_prod, &s->req_event, &s->rsp_prod,
                             &s->rsp_event };
}

/* RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publish the responses before
 * rsp_prod (release), and read rsp_event only after (the seq_cst store and
 * load are the macro's full barrier). old: what we published last (the
 * macro reads it back from the shared page). Whether to notify. */
static bool push_responses(struct blk_ring *r, RING_IDX old, RING_IDX new)
{
    struct blk_idx x = ring_idx(r);
    __atomic_store_n(x.rsp_prod, new, __ATOMIC_SEQ_CST);
    RING_IDX ev = __atomic_load_n(x.rsp_event, __ATOMIC_SEQ_CST);
    return (RING_IDX)(new - ev) < (RING_IDX)(new - old);
}

/* RING_FINAL_CHECK_FOR_REQUESTS once cons has caught up with req_prod:
 * ask for an event at the next request, then look again (the frontend may
 * have produced one before it saw req_event). */
static bool final_check(struct blk_ring *r, RING_IDX cons)
{
    struct blk_idx x = ring_idx(r);
    if (__atomic_load_n(x.req_prod, __ATOMIC_ACQUIRE) != cons)
        return true;
    __atomic_store_n(x.req_event, cons + 1, __ATOMIC_SEQ_CST);
    return __atomic_load_n(x.req_prod, __ATOMIC_SEQ_CST) != cons;
}

static void respond(struct blk_ring *r, uint64_t id, uint8_t op,
                    int16_t status)
{
    RING_IDX old;
    if (r->x86_32) {
        blkif_x86_32_back_ring_t *b = &r->br.x32;
        struct blkif_x86_32_response *p = RING_GET_RESPONSE(b,
                                                            b->rsp_prod_pvt);
        p->id = id;
        p->operation = op;
        p->status = status;
        old = b->rsp_prod_pvt++;
    } else {
        blkif_back_ring_t *b = &r->br.native;
        struct blkif_response *p = RING_GET_RESPONSE(b, b->rsp_prod_pvt);
        p->id = id;
        p->operation = op;
        p->status = status;
        old = b->rsp_prod_pvt++;
    }
    if (status != BLKIF_RSP_OKAY)
        atomic_fetch_add(&r->d->errors, 1);
    if (push_responses(r, old, old + 1))
        evtchn_host_send(r->d->bb->env.evtchn, 0, r->port);
}

/* The request at cons, copied once (the guest may rewrite the slot) and
 * in native layout. */
static void copy_request(struct blk_ring *r, RING_IDX cons, union blk_any *u)
{
    if (!r->x86_32) {
        RING_COPY_REQUEST(&r->br.native, cons, &u->rw);
        return;
    }
    union {
        struct blkif_x86_32_request rw;
        struct blkif_x86_32_request_discard discard;
        struct blkif_x86_32_request_indirect indirect;
    } s;
    RING_COPY_REQUEST(&r->br.x32, cons, &s.rw);
    memset(u, 0, sizeof(*u));
    u->rw.operation = s.rw.operation;
    switch (s.rw.operation) {
    case BLKIF_OP_DISCARD:
        u->discard.flag = s.discard.flag;
        u->discard.handle = s.discard.handle;
        u->discard.id = s.discard.id;
        u->discard.sector_number = s.discard.sector_number;
        u->discard.nr_sectors = s.discard.nr_sectors;
        break;
    case BLKIF_OP_INDIRECT:
        u->indirect.indirect_op = s.indirect.indirect_op;
        u->indirect.nr_segments = s.indirect.nr_segments;
        u->indirect.id = s.indirect.id;
        u->indirect.sector_number = s.indirect.sector_number;
        u->indirect.handle = s.indirect.handle;
        memcpy(u->indirect.indirect_grefs, s.indirect.indirect_grefs,
               sizeof(u->indirect.indirect_grefs));
        break;
    default:
        u->rw.nr_segments = s.rw.nr_segments;
        u->rw.handle = s.rw.handle;
        u->rw.id = s.rw.id;
        u->rw.sector_number = s.rw.sector_number;
        memcpy(u->rw.seg, s.rw.seg, sizeof(u->rw.seg));
        break;
    }
}

/* ---- grants ---- */

static struct blk_pgrant *pgrant_slot(struct blk_ring *r, grant_ref_t gref)
{
    uint32_t i = (gref * 2654435761u) & (BLK_PGRANT_SLOTS - 1);
    while (r->pgrants[i].used && r->pgrants[i].gref != gref)
        i = (i + 1) & (BLK_PGRANT_SLOTS - 1);   /* never full: see max */
    return &r->pgrants[i];
}

/* A host pointer to the page of gref for q: a persistent grant (mapped
 * writable once, kept until disconnect, up to BLK_MAX_PGRANTS per ring),
 * or a mapping of its own dropped when q is done. NULL: the guest's grant
 * is bad (answered with an error). */
static void *seg_map(struct blk_ring *r, grant_ref_t gref, bool writable,
                     struct blk_req *q)
{
    struct be_blk_disk *d = r->d;
    struct gnttab_host *h = d->bb->env.gnttab;
    struct gnttab_mapping m;
    if (r->pgrants) {
        struct blk_pgrant *p = pgrant_slot(r, gref);
        if (p->used)
            return p->map.addr;
        if (r->nr_pgrants < BLK_MAX_PGRANTS &&
            gnttab_map(h, 0, d->cfg.domid, gref, GNTMAP_host_map, &m) ==
                GNTST_okay) {
            p->used = true;
            p->gref = gref;
            p->map = m;
            r->nr_pgrants++;
            return m.addr;
        }
    }
    uint32_t flags = GNTMAP_host_map | (writable ? 0 : GNTMAP_readonly);
    if (gnttab_map(h, 0, d->cfg.domid, gref, flags, &m) != GNTST_okay)
        return NULL;
    q->temp[q->ntemp++] = m.handle;
    return m.addr;
}

static void req_free(struct blk_req *q)
{
    struct gnttab_host *h = q->r->d->bb->env.gnttab;
    for (unsigned int i = 0; i < q->ntemp; i++)
        gnttab_unmap(h, 0, q->temp[i]);
    free(q->iov);
    free(q->temp);
    free(q);
}

/* Segments of a read or write (the guest's pages, checked): q's iovecs. */
static int16_t build_rw(struct blk_ring *r, uint64_t sector, unsigned int n,
                        const struct blkif_request_segment *seg,
                        struct blk_req *q)
{
    struct be_blk_disk *d = r->d;
    uint64_t sectors = 0;
    if (n == 0)
        return BLKIF_RSP_ERROR;
    for (unsigned int i = 0; i < n; i++) {
        if (seg[i].first_sect > seg[i].last_sect ||
            seg[i].last_sect >= BLK_SECTORS_PER_PAGE)
            return BLKIF_RSP_ERROR;
        sectors += seg[i].last_sect - seg[i].first_sect + 1u;
    }
    if (sector > d->sectors || sectors > d->sectors - sector)
        return BLKIF_RSP_ERROR;
    if (q->write && d->cfg.readonly)
        return BLKIF_RSP_ERROR;
    q->iov = calloc(n, sizeof(*q->iov));
    q->temp = calloc(n, sizeof(*q->temp));
    if (!q->iov || !q->temp)
        return BLKIF_RSP_ERROR;
    for (unsigned int i = 0; i < n; i++) {
        char *page = seg_map(r, seg[i].gref, !q->write, q);
        if (!page)
            return BLKIF_RSP_ERROR;
        q->iov[i].iov_base = page + seg[i].first_sect * BLK_SECTOR;
        q->iov[i].iov_len =
            (seg[i].last_sect - seg[i].first_sect + 1u) * BLK_SECTOR;
    }
    q->niov = n;
    q->off = sector * BLK_SECTOR;
    q->len = sectors * BLK_SECTOR;
    return BLKIF_RSP_OKAY;
}

/* BLKIF_OP_INDIRECT: the segments are in granted pages of their own. */
static int16_t build_indirect(struct blk_ring *r,
                              const struct blkif_request_indirect *in,
                              struct blk_req *q)
{
    static _Thread_local struct blkif_request_segment seg[
        BLK_MAX_INDIRECT_SEGS];
    unsigned int n = in->nr_segments;
    if (!r->d->indirect || n == 0 || n > BLK_MAX_INDIRECT_SEGS ||
        (in->indirect_op != BLKIF_OP_READ && in->indirect_op != BLKIF_OP_WRITE))
        return BLKIF_RSP_ERROR;
    q->op = in->indirect_op;
    q->write = in->indirect_op == BLKIF_OP_WRITE;
    struct gnttab_host *h = r->d->bb->env.gnttab;
    unsigned int pages = (n + BLK_SEGS_PER_INDIRECT_PAGE - 1) /
                         BLK_SEGS_PER_INDIRECT_PAGE;
    for (unsigned int p = 0; p < pages; p++) {
        struct gnttab_mapping m;
        if (gnttab_map(h, 0, r->d->cfg.domid, in->indirect_grefs[p],
                       GNTMAP_host_map | GNTMAP_readonly, &m) != GNTST_okay)
            return BLKIF_RSP_ERROR;
        unsigned int k = n - p * BLK_SEGS_PER_INDIRECT_PAGE;
        if (k > BLK_SEGS_PER_INDIRECT_PAGE)
            k = BLK_SEGS_PER_INDIRECT_PAGE;
        memcpy(&seg[p * BLK_SEGS_PER_INDIRECT_PAGE], m.addr,
               k * sizeof(*seg));       /* checked after the copy */
        gnttab_unmap(h, 0, m.handle);
    }
    return build_rw(r, in->sector_number, n, seg, q);
}

static int16_t build_discard(struct blk_ring *r,
                             const struct blkif_request_discard *in,
                             struct blk_req *q)
{
    struct be_blk_disk *d = r->d;
    if (d->cfg.readonly || in->sector_number > d->sectors ||
        in->nr_sectors > d->sectors - in->sector_number)
        return BLKIF_RSP_ERROR;
    q->discard = true;
    q->off = in->sector_number * BLK_SECTOR;
    q->len = in->nr_sectors * BLK_SECTOR;
    return BLKIF_RSP_OKAY;
}

/* ---- the io_uring ---- */

static struct io_uring_sqe *sqe_get(struct be_blkback *bb)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&bb->uring);
    if (!sqe) {
        io_uring_submit(&bb->uring);
        sqe = io_uring_get_sqe(&bb->uring);
    }
    return sqe;                 /* not NULL: a submit empties the SQ */
}

static void submit(struct blk_req *q)
{
    struct be_blkback *bb = q->r->d->bb;
    int fd = q->r->d->fd;
    /* a write and its fdatasync are linked: both in one submission */
    if (io_uring_sq_space_left(&bb->uring) < 2)
        io_uring_submit(&bb->uring);
    struct io_uring_sqe *sqe;
    if (q->discard && q->len) {
        sqe = sqe_get(bb);
        io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE |
                                FALLOC_FL_KEEP_SIZE, (off_t)q->off,
                                (off_t)q->len);
        io_uring_sqe_set_data64(sqe, (uintptr_t)q);
        q->pending++;
    } else if (q->niov) {
        sqe = sqe_get(bb);
        if (q->write)
            io_uring_prep_writev(sqe, fd, q->iov, q->niov, q->off);
        else
            io_uring_prep_readv(sqe, fd, q->iov, q->niov, q->off);
        io_uring_sqe_set_data64(sqe, (uintptr_t)q);
        if (q->flush)
            sqe->flags |= IOSQE_IO_LINK;
        q->pending++;
    }
    if (q->flush) {
        sqe = sqe_get(bb);
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data64(sqe, (uintptr_t)q | BLK_UD_FSYNC);
        q->pending++;
    }
}

static void finish(struct blk_req *q);

/* A request taken off the ring: check it, then submit or answer. */
static void handle(struct blk_ring *r, const union blk_any *u)
{
    struct blk_req *q = calloc(1, sizeof(*q));
    if (!q) {
        respond(r, u->rw.id, u->rw.operation, BLKIF_RSP_ERROR);
        r->inflight--;
        return;
    }
    q->r = r;
    q->id = u->rw.id;
    q->op = u->rw.operation;
    int16_t st;
    switch (u->rw.operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
        q->write = u->rw.operation == BLKIF_OP_WRITE;
        st = u->rw.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST
                 ? BLKIF_RSP_ERROR
                 : build_rw(r, u->rw.sector_number, u->rw.nr_segments,
                            u->rw.seg, q);
        break;
    case BLKIF_OP_INDIRECT:
        st = build_indirect(r, &u->indirect, q);
        if (st == BLKIF_RSP_OKAY)     /* the stats: indirect I/O was done */
            atomic_store_explicit(&r->d->indirect_used, true,
                                  memory_order_relaxed);
        break;
    case BLKIF_OP_FLUSH_DISKCACHE:
    case BLKIF_OP_WRITE_BARRIER:
        /* data (if any) written, then fdatasync; a barrier first waits
         * for every earlier request, as Linux's blkback drains */
        q->write = true;
        q->flush = true;
        st = BLKIF_RSP_OKAY;
        if (u->rw.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST)
            st = BLKIF_RSP_ERROR;
        else if (u->rw.nr_segments)
            st = build_rw(r, u->rw.sector_number, u->rw.nr_segments,
                          u->rw.seg, q);
        break;
    case BLKIF_OP_DISCARD:
        st = build_discard(r, &u->discard, q);
        break;
    default:
        st = BLKIF_RSP_EOPNOTSUPP;
        break;
    }
    if (st != BLKIF_RSP_OKAY) {
        q->status = st;
        finish(q);
        return;
    }
    if (u->rw.operation == BLKIF_OP_WRITE_BARRIER && r->inflight > 1) {
        r->barrier = q;
        r->draining = true;
        return;
    }
    submit(q);
    if (q->pending == 0)        /* a discard of nothing */
        finish(q);
}

/* q is done: count it, drop its mappings, answer, maybe go on. */
static void finish(struct blk_req *q)
{
    struct blk_ring *r = q->r;
    struct be_blk_disk *d = r->d;
    if (q->status == BLKIF_RSP_OKAY) {
        if (q->discard)
            atomic_fetch_add(&d->discards, 1);
        else if (q->flush)
            atomic_fetch_add(&d->flushes, 1);
        if (!q->discard && q->niov && q->write) {
            atomic_fetch_add(&d->writes, 1);
            atomic_fetch_add(&d->bytes_written, q->len);
        } else if (!q->discard && q->niov) {
            atomic_fetch_add(&d->reads, 1);
            atomic_fetch_add(&d->bytes_read, q->len);
        }
    }
    /* its own mappings dropped before the answer is published, as Linux's
     * blkback (xen_blkbk_unmap_and_respond): the frontend ends its grants
     * when it sees the answer, and a grant still in use is a leak there */
    uint64_t id = q->id;
    uint8_t op = q->op;
    int16_t status = q->status;
    req_free(q);
    respond(r, id, op, status);
    r->inflight--;
    if (r->barrier && r->inflight == 1) {
        struct blk_req *b = r->barrier;
        r->barrier = NULL;
        r->draining = false;
        submit(b);
        if (b->pending == 0)
            finish(b);
    }
}

void blk_ring_serve(struct blk_ring *r)
{
    bool more = false;
    do {
        if (r->stopped || r->draining)
            break;
        RING_IDX rp, cons;
        rp = __atomic_load_n(ring_idx(r).req_prod, __ATOMIC_ACQUIRE);
        if (r->x86_32 ? RING_REQUEST_PROD_OVERFLOW(&r->br.x32, rp)
                      : RING_REQUEST_PROD_OVERFLOW(&r->br.native, rp))
            goto corrupt;
        for (;;) {
            cons = r->x86_32 ? r->br.x32.req_cons : r->br.native.req_cons;
            /* at most a ring of requests in flight: the rest waits */
            if (cons == rp || r->stopped || r->draining ||
                (r->x86_32 ? RING_REQUEST_CONS_OVERFLOW(&r->br.x32, cons)
                           : RING_REQUEST_CONS_OVERFLOW(&r->br.native, cons)))
                break;
            union blk_any u;
            copy_request(r, cons, &u);
            if (r->x86_32)
                r->br.x32.req_cons++;
            else
                r->br.native.req_cons++;
            r->inflight++;
            handle(r, &u);
        }
        if (cons != rp)
            break;              /* a completion serves us again */
        more = final_check(r, cons);
    } while (more);
    io_uring_submit(&r->d->bb->uring);
    return;
corrupt:
    r->stopped = true;
    blk_log(r->d, "ring %u: request producer is more than a ring ahead; "
            "ring no longer served", r->idx);
    io_uring_submit(&r->d->bb->uring);
}

/* One completion: user_data is the request (| BLK_UD_FSYNC). */
static void complete(struct io_uring_cqe *cqe)
{
    uintptr_t ud = (uintptr_t)io_uring_cqe_get_data64(cqe);
    struct blk_req *q = (struct blk_req *)(ud & ~(uintptr_t)BLK_UD_FSYNC);
    int res = cqe->res;
    bool ok = (ud & BLK_UD_FSYNC) || q->discard ? res == 0
                                                : (uint64_t)res == q->len;
    if (!ok && q->status == BLKIF_RSP_OKAY)
        q->status = res == -EOPNOTSUPP && q->discard ? BLKIF_RSP_EOPNOTSUPP
                                                      : BLKIF_RSP_ERROR;
    if (--q->pending)
        return;
    struct blk_ring *r = q->r;
    finish(q);
    blk_ring_serve(r);
}

void blk_reap(struct be_blkback *bb)
{
    struct io_uring_cqe *cqe;
    unsigned int head, n = 0;
    io_uring_for_each_cqe(&bb->uring, head, cqe) {
        /* complete() may serve a ring, which submits, not reaps: the CQ
         * head we walk stays ours */
        complete(cqe);
        n++;
    }
    io_uring_cq_advance(&bb->uring, n);
}

void blk_ring_quiesce(struct blk_ring *r)
{
    struct be_blkback *bb = r->d->bb;
    r->stopped = true;
    io_uring_submit(&bb->uring);
    while (r->inflight) {
        if (r->barrier && r->inflight == 1) {   /* parked: never submitted */
            struct blk_req *b = r->barrier;
            r->barrier = NULL;
            r->draining = false;
            b->status = BLKIF_RSP_ERROR;
            finish(b);
            continue;
        }
        struct io_uring_cqe *cqe;
        /* the disk I/O already submitted for this ring (at most a ring
         * of requests): waited for, as the guest's pages stay mapped
         * until it is done */
        if (io_uring_wait_cqe(&bb->uring, &cqe) == 0)
            blk_reap(bb);
    }
    if (r->pgrants) {
        struct gnttab_host *h = bb->env.gnttab;
        for (unsigned int i = 0; i < BLK_PGRANT_SLOTS; i++)
            if (r->pgrants[i].used)
                gnttab_unmap(h, 0, r->pgrants[i].map.handle);
        free(r->pgrants);
        r->pgrants = NULL;
        r->nr_pgrants = 0;
    }
}

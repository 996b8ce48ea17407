/*
 * guests/blkabuse: a PV block frontend (<xen/io/blkif.h>) written to abuse
 * the backend serving the disk of its xl.cfg (disk = [ ... ]).
 *
 * It connects as blkfront does (device/vbd/<id>: backend state InitWait,
 * a granted ring page, an unbound port for the backend domain, ring-ref,
 * event-channel, protocol, state Initialised; backend Connected; sectors,
 * info, sector-size), then:
 *   1. good requests: one sector written and read back (rw), or read and a
 *      write refused (ro);
 *   2. malformed requests, each answered BLKIF_RSP_ERROR (EOPNOTSUPP where
 *      an operation is unknown) on its own id and nothing else, with every
 *      grant unmapped by the time of the response (Linux's blkfront calls a
 *      backend that keeps one broken);
 *   3. grants revoked or rewritten with plain stores right after a
 *      request went out: the request completes, a later good one works,
 *      and no page next to the granted ones changed (canaries);
 *   4. the corrupt ring: every slot garbage and req_prod far ahead of
 *      rsp_prod: no more responses than the ring holds, and we and our
 *      XenStore connection live on;
 *   5. "blkabuse: done" and data/blkabuse-done = 1 in our home.
 * Before all that (and without a disk), GNTTABOP_copy of our own grants
 * checks our grant table. One ok/FAIL line per check; the exit code is
 * check_summary's.
 *
 * Last, the frontend closes and connects again (a reload): the backend
 * follows, lets the old ring go, and serves the new one.
 *
 * Command line (besides the runtime's): ro (the disk is read-only: writes
 * must fail, reads work), vbd=<devid> (default: the first entry of
 * device/vbd), gnttab=2 (ask for a v2 grant table), waitkey=<path>
 * (once connected, wait until that XenStore node exists before the abuse:
 * tests/linux/blk_tests.sh starts it while Linux beside it does I/O).
 *
 * Waits are bounded in TSC cycles (no clock needed): a backend that never
 * answers makes a FAIL line, not a hang.
 */
#include <guest/guest.h>
#include <guest/check.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <guest/irq.h>
#include <guest/xenbus.h>
#include <guest/gnttab.h>

/* ring.h leaves its barriers to the includer at the newest interface. */
#define xen_mb()  mb()
#define xen_rmb() rmb()
#define xen_wmb() wmb()
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>
#include <xen/io/xenbus.h>

/* 20e9 cycles: 5 to 20 s on 1 to 4 GHz TSCs, for one answer; the flood is
 * watched for a tenth of that. */
#define WAIT_CYCLES  20000000000ull
#define QUIET_CYCLES  2000000000ull
#define SECTOR 512u
#define NO_ANSWER ((int)0x7fff)     /* run_req: no response with our id */
#define OTHER_DOMID 5               /* a domain that is not the backend */
#define DATA_SECTOR 1               /* the round trip; the test reads it */
static const char pattern[] = "blkabuse was here\n";

/* Every page a request may name, each between canary pages that no grant
 * ever names: BUF and BUF2 carry data, DECOY is what a rewritten grant
 * points at, INDIRECT holds indirect segments. */
enum { PG_C0, PG_BUF, PG_C1, PG_DECOY, PG_C2, PG_BUF2, PG_C3, PG_INDIRECT, PG_C4, NR_PAGES };
static unsigned char pages[NR_PAGES][PAGE_SIZE]
    __attribute__((aligned(PAGE_SIZE), section(".bss.pages")));
static unsigned char ring_page[PAGE_SIZE]
    __attribute__((aligned(PAGE_SIZE), section(".bss.pages")));

static struct {
    char fe[48], be[128];
    unsigned long devid;
    domid_t be_id;
    bool ro;
    uint64_t sectors;
    long max_indirect, discard;
    evtchn_port_t port;
    int irq;
    grant_ref_t ring_ref;
    blkif_front_ring_t ring;
    uint64_t next_id;
    unsigned long sent, answered;   /* requests pushed, responses consumed */
    bool ring_broken;               /* the backend's rsp_prod ran ahead */
    unsigned int lost;              /* requests never answered */
} blk;
static volatile unsigned long blk_events;

static bool is_canary(unsigned int pg)
{
    return pg != PG_BUF && pg != PG_DECOY && pg != PG_BUF2 && pg != PG_INDIRECT;
}

static unsigned char canary_byte(unsigned int pg, unsigned int i)
{
    return (unsigned char)(0xc5 ^ pg ^ (i * 7));
}

static void canaries_fill(void)
{
    for (unsigned int pg = 0; pg < NR_PAGES; pg++)
        if (is_canary(pg))
            for (unsigned int i = 0; i < PAGE_SIZE; i++)
                pages[pg][i] = canary_byte(pg, i);
}

static bool canaries_intact(void)
{
    for (unsigned int pg = 0; pg < NR_PAGES; pg++)
        if (is_canary(pg))
            for (unsigned int i = 0; i < PAGE_SIZE; i++)
                if (pages[pg][i] != canary_byte(pg, i))
                    return false;
    return true;
}

static uint64_t gfn(unsigned int pg)
{
    return virt_to_gfn(pages[pg]);
}

static irqreturn_t blk_interrupt(int irq, void *dev_id)
{
    (void)irq;
    (void)dev_id;
    blk_events++;
    return IRQ_HANDLED;
}

static void relax(void)
{
    HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
}

/* ---- XenStore ---- */

static int be_state(void)
{
    char path[160];
    long v;

    snprintf(path, sizeof(path), "%s/state", blk.be);
    return xs_read_int(XBT_NIL, path, &v) == 0 ? (int)v : -1;
}

/* Poll the backend's state until it is `want`; false if it never is, or
 * goes to Closing or beyond. */
static bool wait_be_state(int want)
{
    uint64_t end = cpu_rdtsc() + WAIT_CYCLES;
    int st;

    while ((st = be_state()) != want && cpu_rdtsc() < end) {
        if (st >= XenbusStateClosing && want < XenbusStateClosing)
            break;
        for (int i = 0; i < 20; i++)
            relax();
    }
    if (st != want)
        printk("blkabuse: backend state %d, waited for %d\n", st, want);
    return st == want;
}

static long be_int(const char *key, long dflt)
{
    char path[160];
    long v;

    snprintf(path, sizeof(path), "%s/%s", blk.be, key);
    return xs_read_int(XBT_NIL, path, &v) == 0 ? v : dflt;
}

static int fe_write(const char *key, const char *fmt, unsigned long v)
{
    char path[96], val[32];

    snprintf(path, sizeof(path), "%s/%s", blk.fe, key);
    snprintf(val, sizeof(val), fmt, v);
    return xs_write(XBT_NIL, path, val);
}

/* Find our vbd and its backend. False (with a FAIL line) if there is none. */
static bool find_vbd(void)
{
    char names[256], buf[128];
    long v;

    if (!check(xs_available(), "the domain has a XenStore connection"))
        return false;
    if (guest_cmdline_get("vbd", buf, sizeof(buf))) {
        blk.devid = (unsigned long)strtol_simple(buf, NULL);
    } else {
        int n = xs_directory(XBT_NIL, "device/vbd", names, sizeof(names));
        if (n <= 0) {
            check(false, "no vbd: device/vbd is missing or empty (give the domain a disk = [ ... ])");
            return false;
        }
        blk.devid = (unsigned long)strtol_simple(names, NULL);
    }
    snprintf(blk.fe, sizeof(blk.fe), "device/vbd/%lu", blk.devid);
    snprintf(buf, sizeof(buf), "%s/backend", blk.fe);
    int rc = xs_read(XBT_NIL, buf, blk.be, sizeof(blk.be));
    if (!check_got(rc > 0, "read device/vbd/<id>/backend (none: no vbd)", rc, 1))
        return false;
    snprintf(buf, sizeof(buf), "%s/backend-id", blk.fe);
    rc = xs_read_int(XBT_NIL, buf, &v);
    if (!check_eq("read device/vbd/<id>/backend-id", rc, 0))
        return false;
    blk.be_id = (domid_t)v;
    printk("blkabuse: vbd %lu, backend %s (domain %u)%s\n", blk.devid, blk.be,
           blk.be_id, blk.ro ? ", read-only" : "");
    return true;
}

/* blkfront's side of the handshake, up to backend Connected. */
static bool connect(void)
{
    if (!check(wait_be_state(XenbusStateInitWait), "backend state InitWait (2)"))
        return false;

    int ref = gnttab_alloc_ref();
    if (!check_got(ref >= 0, "a ref for the ring", ref, 8))
        return false;
    blkif_sring_t *sring = (blkif_sring_t *)ring_page;
    SHARED_RING_INIT(sring);
    FRONT_RING_INIT(&blk.ring, sring, PAGE_SIZE);
    gnttab_grant((grant_ref_t)ref, blk.be_id, virt_to_gfn(ring_page), false);
    blk.ring_ref = (grant_ref_t)ref;

    struct evtchn_alloc_unbound au = { .dom = DOMID_SELF, .remote_dom = blk.be_id };
    if (!check_eq("alloc_unbound for the backend",
                  HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &au), 0))
        return false;
    blk.port = au.port;
    int irq = bind_evtchn_to_irqhandler(blk.port, blk_interrupt, 0, "blkif", NULL);
    check_got(irq >= 0, "bind the ring's port", irq, 0);
    blk.irq = irq;

    int rc = fe_write("ring-ref", "%lu", (unsigned long)ref);
    if (rc == 0)
        rc = fe_write("event-channel", "%lu", blk.port);
    if (rc == 0) {
        char path[96];
        snprintf(path, sizeof(path), "%s/protocol", blk.fe);
        rc = xs_write(XBT_NIL, path, XEN_IO_PROTO_ABI_NATIVE);   /* x86_32-abi on i386 */
    }
    if (rc == 0)
        rc = fe_write("state", "%lu", XenbusStateInitialised);
    if (!check_eq("write ring-ref, event-channel, protocol, state 3", rc, 0))
        return false;
    if (!check(wait_be_state(XenbusStateConnected), "backend state Connected (4)"))
        return false;

    blk.sectors = (uint64_t)be_int("sectors", 0);
    long ssize = be_int("sector-size", -1), info = be_int("info", -1);
    blk.max_indirect = be_int("feature-max-indirect-segments", 0);
    blk.discard = be_int("feature-discard", 0);
    printk("blkabuse: sectors %lu, sector-size %ld, info %ld, indirect %ld, discard %ld, "
           "flush %ld, persistent %ld, ring %u slots\n", (unsigned long)blk.sectors, ssize,
           info, blk.max_indirect, blk.discard, be_int("feature-flush-cache", 0),
           be_int("feature-persistent", 0), RING_SIZE(&blk.ring));
    check(blk.sectors > 8, "backend wrote sectors (more than 8)");
    check_eq("backend wrote sector-size", ssize, SECTOR);
    check_eq("info says read-only as configured", !!(info & VDISK_READONLY), blk.ro);
    check_eq("write state 4 (Connected)", fe_write("state", "%lu", XenbusStateConnected), 0);
    return true;
}

/* ---- the ring ---- */

/* A request of any layout; id sits at the same offset in each. */
union blkreq {
    blkif_request_t rw;
    blkif_request_indirect_t ind;
    blkif_request_discard_t discard;
};
_Static_assert(__builtin_offsetof(blkif_request_indirect_t, id) ==
               __builtin_offsetof(blkif_request_t, id), "id offsets");
_Static_assert(__builtin_offsetof(blkif_request_discard_t, id) ==
               __builtin_offsetof(blkif_request_t, id), "id offsets");

/* Push one request (copied whole into the next slot) and notify. */
static void push(const union blkreq *req)
{
    memcpy(RING_GET_REQUEST(&blk.ring, blk.ring.req_prod_pvt), &req->rw, sizeof(blkif_request_t));
    blk.ring.req_prod_pvt++;
    int notify;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&blk.ring, notify);
    (void)notify;           /* always: a lost event must not hide a bug */
    notify_remote_via_evtchn(blk.port);
    blk.sent++;
}

/* Consume responses until one has `id` or the wait ends. Returns its
 * status (NO_ANSWER if none); *others counts responses with other ids. */
static int collect(uint64_t id, unsigned int *others)
{
    /* Once one answer was lost, wait less for the next ones: a backend
     * that stopped serving us must make FAIL lines, not a test timeout. */
    uint64_t end = cpu_rdtsc() + (blk.lost ? QUIET_CYCLES : WAIT_CYCLES);
    int status = NO_ANSWER;

    *others = 0;
    while (status == NO_ANSWER && cpu_rdtsc() < end) {
        RING_IDX rp = READ_ONCE(blk.ring.sring->rsp_prod);
        rmb();
        if (rp - blk.ring.rsp_cons > RING_SIZE(&blk.ring)) {
            blk.ring_broken = true;     /* never trust such an index */
            break;
        }
        for (; blk.ring.rsp_cons != rp; blk.ring.rsp_cons++) {
            blkif_response_t *r = RING_GET_RESPONSE(&blk.ring, blk.ring.rsp_cons);
            blk.answered++;
            if (r->id == id && status == NO_ANSWER) {
                status = r->status;
            } else {
                (*others)++;
                printk("blkabuse: stray response id %lu status %d\n",
                       (unsigned long)r->id, r->status);
            }
        }
        blk.ring.sring->rsp_event = blk.ring.rsp_cons + 1;
        mb();
        if (status == NO_ANSWER && READ_ONCE(blk.ring.sring->rsp_prod) == blk.ring.rsp_cons)
            relax();
    }
    if (status == NO_ANSWER)
        blk.lost++;
    return status;
}

/* One request, answered once on its own id: its status. */
static uint64_t new_id(union blkreq *req)
{
    req->rw.id = 0xb1a0000000000000ull | blk.next_id++;
    if (req->rw.operation == BLKIF_OP_INDIRECT)
        req->ind.handle = (blkif_vdev_t)blk.devid;
    else
        req->rw.handle = (blkif_vdev_t)blk.devid;
    return req->rw.id;
}

static int run_req(union blkreq *req, const char *what)
{
    char line[160];
    unsigned int others;
    uint64_t id = new_id(req);

    push(req);
    int status = collect(id, &others);
    snprintf(line, sizeof(line), "%s: answered once, on its own id", what);
    check_got(status != NO_ANSWER && others == 0, line, others, 0);
    return status;
}

static union blkreq rw_req(uint8_t op, uint64_t sector, grant_ref_t ref,
                           uint8_t first, uint8_t last)
{
    union blkreq r = { .rw = { .operation = op, .nr_segments = 1, .sector_number = sector } };

    r.rw.seg[0].gref = ref;
    r.rw.seg[0].first_sect = first;
    r.rw.seg[0].last_sect = last;
    return r;
}

static void expect(const char *what, int status, int want, int alt)
{
    char line[160];

    snprintf(line, sizeof(line), "%s: status %d", what, status);
    check_got(status == want || status == alt, line, status, want);
}

/* A ref granting page pg to domid. */
static grant_ref_t grant(unsigned int pg, domid_t domid, bool readonly)
{
    int ref = gnttab_alloc_ref();

    if (ref < 0) {
        check(false, "out of grant refs");
        guest_exit(check_summary("blkabuse"));
    }
    gnttab_grant((grant_ref_t)ref, domid, gfn(pg), readonly);
    return (grant_ref_t)ref;
}

/* End and free a ref: the backend must have unmapped it when it answered. */
static void ungrant(grant_ref_t ref, const char *what)
{
    char line[160];
    uint16_t flags = gnttab_query_flags(ref);

    snprintf(line, sizeof(line), "%s: grant %u unmapped by the time of the answer", what, ref);
    if (check_got(gnttab_end(ref), line, flags, GTF_permit_access))
        gnttab_free_ref(ref);
}

/* ---- 1. the backend works for us ---- */

/* Write `sector` from BUF (not in ro) and read it back into BUF2. */
static void round_trip(uint64_t sector, const char *what)
{
    char line[128];

    for (unsigned int i = 0; i < SECTOR; i++)
        pages[PG_BUF][i] = (unsigned char)pattern[i % (sizeof(pattern) - 1)];
    snprintf((char *)pages[PG_BUF] + SECTOR - 24, 24, "sector %lu\n", (unsigned long)sector);
    memset(pages[PG_BUF2], 0xee, PAGE_SIZE);

    grant_ref_t src = grant(PG_BUF, blk.be_id, true);
    union blkreq r = rw_req(BLKIF_OP_WRITE, sector, src, 0, 0);
    snprintf(line, sizeof(line), "%s: write one sector", what);
    expect(line, run_req(&r, line), blk.ro ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY,
           blk.ro ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_OKAY);
    ungrant(src, line);

    grant_ref_t dst = grant(PG_BUF2, blk.be_id, false);
    r = rw_req(BLKIF_OP_READ, sector, dst, 0, 0);
    snprintf(line, sizeof(line), "%s: read it back", what);
    expect(line, run_req(&r, line), BLKIF_RSP_OKAY, BLKIF_RSP_OKAY);
    ungrant(dst, line);
    if (!blk.ro) {
        snprintf(line, sizeof(line), "%s: the data read back is what was written", what);
        check(memcmp(pages[PG_BUF], pages[PG_BUF2], SECTOR) == 0, line);
    }
    snprintf(line, sizeof(line), "%s: the read filled one sector only", what);
    check(pages[PG_BUF2][SECTOR] == 0xee && pages[PG_BUF2][PAGE_SIZE - 1] == 0xee, line);
}

/* ---- 2. malformed requests ---- */

/* A one-segment read (or `op`) with the fields given: BLKIF_RSP_ERROR. */
static void bad_rw(const char *what, uint8_t op, uint64_t sector, grant_ref_t ref,
                   uint8_t first, uint8_t last, uint8_t nseg)
{
    union blkreq r = rw_req(op, sector, ref, first, last);

    r.rw.nr_segments = nseg;
    expect(what, run_req(&r, what), BLKIF_RSP_ERROR, BLKIF_RSP_ERROR);
}

static void bad_indirect(const char *what, uint16_t nseg, grant_ref_t ind)
{
    union blkreq r = { .ind = {
        .operation = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_READ,
        .nr_segments = nseg, .sector_number = 0,
    } };
    for (unsigned int i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++)
        r.ind.indirect_grefs[i] = ind + i * 0x01010101u;
    /* A backend without indirect descriptors may call the op unknown. */
    expect(what, run_req(&r, what), BLKIF_RSP_ERROR,
           blk.max_indirect > 0 ? BLKIF_RSP_ERROR : BLKIF_RSP_EOPNOTSUPP);
}

static void bad_discard(const char *what, uint64_t sector, uint64_t nr)
{
    union blkreq r = { .discard = {
        .operation = BLKIF_OP_DISCARD, .sector_number = sector, .nr_sectors = nr,
    } };
    expect(what, run_req(&r, what), BLKIF_RSP_ERROR, BLKIF_RSP_EOPNOTSUPP);
}

static void test_malformed(void)
{
    grant_ref_t buf = grant(PG_BUF, blk.be_id, false);
    grant_ref_t ro = grant(PG_BUF2, blk.be_id, true);
    grant_ref_t other = grant(PG_DECOY, OTHER_DOMID, false);
    int far = gnttab_alloc_ref();       /* a frame beyond our RAM */
    uint64_t beyond = (guest_ram_end() >> PAGE_SHIFT) + 0x10000;
    gnttab_grant((grant_ref_t)far, blk.be_id, beyond, false);

    bad_rw("read at sector = sectors", BLKIF_OP_READ, blk.sectors, buf, 0, 0, 1);
    bad_rw("read of 8 sectors from the last one", BLKIF_OP_READ, blk.sectors - 1, buf, 0, 7, 1);
    bad_rw("read at a sector that wraps (2^64 - 4, 8 sectors)", BLKIF_OP_READ, ~0ull - 3, buf,
           0, 7, 1);
    bad_rw("read with nr_segments 0", BLKIF_OP_READ, 0, buf, 0, 0, 0);
    bad_rw("read with nr_segments 12", BLKIF_OP_READ, 0, buf, 0, 0, 12);
    bad_rw("read with nr_segments 255", BLKIF_OP_READ, 0, buf, 0, 0, 255);
    bad_rw("read with first_sect 3 > last_sect 2", BLKIF_OP_READ, 0, buf, 3, 2, 1);
    bad_rw("read with last_sect 8", BLKIF_OP_READ, 0, buf, 0, 8, 1);
    bad_rw("read with first_sect 255, last_sect 255", BLKIF_OP_READ, 0, buf, 255, 255, 1);
    bad_rw("read into a gref past the table (nr_refs)", BLKIF_OP_READ, 0,
           (grant_ref_t)gnttab_nr_refs(), 0, 0, 1);
    bad_rw("read into gref 0xffffffff", BLKIF_OP_READ, 0, 0xffffffffu, 0, 0, 1);
    bad_rw("read into a gref never granted", BLKIF_OP_READ, 0, gnttab_nr_refs() - 1, 0, 0, 1);
    bad_rw("read into a grant to domain 5", BLKIF_OP_READ, 0, other, 0, 0, 1);
    bad_rw("write from a grant to domain 5", BLKIF_OP_WRITE, 0, other, 0, 0, 1);
    bad_rw("read into a grant of a frame beyond our RAM", BLKIF_OP_READ, 0, (grant_ref_t)far,
           0, 0, 1);
    bad_rw("read into a read-only grant", BLKIF_OP_READ, 0, ro, 0, 0, 1);
    if (blk.ro)
        bad_rw("write to the read-only disk", BLKIF_OP_WRITE, 0, buf, 0, 0, 1);

    union blkreq unknown = rw_req(99, 0, buf, 0, 0);
    expect("unknown operation 99", run_req(&unknown, "unknown operation 99"),
           BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR);

    bad_indirect("indirect read with garbage indirect grefs", 4, 0xdead0000u);
    /* A real indirect page full of garbage segments. */
    grant_ref_t ind = grant(PG_INDIRECT, blk.be_id, true);
    struct blkif_request_segment *seg = (void *)pages[PG_INDIRECT];
    for (unsigned int i = 0; i < PAGE_SIZE / sizeof(*seg); i++) {
        seg[i].gref = 0xfff00000u + i * 977u;
        seg[i].first_sect = (uint8_t)(i * 13);
        seg[i].last_sect = (uint8_t)(i * 7);
    }
    bad_indirect("indirect read whose segments are garbage", 16, ind);
    if (blk.max_indirect > 0) {
        /* Only the first indirect gref is real; the backend must not
         * read more segments than it offered. */
        bad_indirect("indirect read with nr_segments 0", 0, ind);
        bad_indirect("indirect read beyond feature-max-indirect-segments",
                     (uint16_t)(blk.max_indirect + 1), ind);
    }
    bad_discard("discard from sector = sectors", blk.sectors, 8);
    bad_discard("discard that wraps (2^64 - 4, 8 sectors)", ~0ull - 3, 8);
    if (blk.ro)
        bad_discard("discard on the read-only disk", 0, 8);

    ungrant(buf, "malformed requests");
    ungrant(ro, "malformed requests (read-only grant)");
    ungrant(other, "malformed requests (grant to domain 5)");
    ungrant((grant_ref_t)far, "malformed requests (frame beyond RAM)");
    ungrant(ind, "malformed requests (indirect page)");
    check(canaries_intact(), "malformed requests: the canary pages are unchanged");
}

/* ---- 3. grants revoked or rewritten while in flight ---- */

static void revoke_case(uint8_t op, bool rewrite, const char *what)
{
    char line[128];
    grant_ref_t ref = grant(PG_BUF, blk.be_id, false);
    union blkreq r = rw_req(op, 2, ref, 0, 7);
    uint64_t id = new_id(&r);

    push(&r);
    if (rewrite)        /* another domain, another frame, still permitted */
        gnttab_rewrite(ref, OTHER_DOMID, gfn(PG_DECOY), GTF_permit_access);
    else                /* revoked without looking at GTF_reading/writing */
        gnttab_rewrite(ref, blk.be_id, gfn(PG_BUF), 0);

    unsigned int others;
    int status = collect(id, &others);
    snprintf(line, sizeof(line), "%s: answered once, on its own id (status %d)", what, status);
    check_got(status != NO_ANSWER && others == 0, line, others, 0);
    snprintf(line, sizeof(line), "%s: answered OKAY or ERROR", what);
    check_got(status == BLKIF_RSP_OKAY || status == BLKIF_RSP_ERROR, line, status, 0);
    snprintf(line, sizeof(line), "%s: nothing mapped after the answer", what);
    check_got(!(gnttab_query_flags(ref) & (GTF_reading | GTF_writing)), line,
              gnttab_query_flags(ref), 0);
    gnttab_rewrite(ref, 0, 0, 0);
    gnttab_free_ref(ref);
    snprintf(line, sizeof(line), "%s: the canary pages are unchanged", what);
    check(canaries_intact(), line);
}

static void test_revoke(void)
{
    revoke_case(BLKIF_OP_WRITE, false, "write, grant revoked at once");
    revoke_case(BLKIF_OP_WRITE, true, "write, grant rewritten at once");
    revoke_case(BLKIF_OP_READ, false, "read, grant revoked at once");
    revoke_case(BLKIF_OP_READ, true, "read, grant rewritten at once");
    round_trip(3, "after the revoked grants");
}

/* ---- 4. the corrupt ring ---- */

static void test_flood(void)
{
    char name[64];
    unsigned int size = RING_SIZE(&blk.ring);
    RING_IDX rsp0 = READ_ONCE(blk.ring.sring->rsp_prod);
    uint32_t x = 0x12345678;

    /* Every slot garbage (a fixed LCG stream), then req_prod far ahead. */
    for (unsigned int i = 0; i < size; i++) {
        uint32_t *w = (uint32_t *)&blk.ring.sring->ring[i];
        for (unsigned int j = 0; j < sizeof(blk.ring.sring->ring[i]) / 4; j++) {
            x = x * 1103515245u + 12345u;
            w[j] = x;
        }
    }
    wmb();
    blk.ring.sring->req_prod = blk.ring.req_prod_pvt + 4 * size + 3;
    for (int i = 0; i < 4; i++)
        notify_remote_via_evtchn(blk.port);

    /* Watch the responses for a while: no more than the ring holds. */
    uint64_t end = cpu_rdtsc() + QUIET_CYCLES;
    RING_IDX most = rsp0;
    while (cpu_rdtsc() < end) {
        RING_IDX rp = READ_ONCE(blk.ring.sring->rsp_prod);
        if (rp - rsp0 > most - rsp0)
            most = rp;
        relax();
    }
    printk("blkabuse: %u responses to the corrupt ring (%u slots)\n", most - rsp0, size);
    check_got(most - rsp0 <= size, "corrupt ring: no response beyond the ring's size",
              most - rsp0, size);
    check(canaries_intact(), "corrupt ring: the canary pages are unchanged");
    check(true, "corrupt ring: we are still alive");
    check_got(xs_read(XBT_NIL, "name", name, sizeof(name)) > 0,
              "corrupt ring: XenStore still answers (read of our name)", 0, 1);
    check_got(be_state() == XenbusStateConnected || be_state() >= XenbusStateClosing,
              "corrupt ring: the backend's state is still readable", be_state(),
              XenbusStateConnected);
}

/* ---- 0. our grant table, before any backend ---- */

static int16_t self_copy(grant_ref_t src, bool dst_gref, uint64_t dst)
{
    struct gnttab_copy op = {
        .source = { .u.ref = src, .domid = DOMID_SELF },
        .dest = { .domid = DOMID_SELF },
        .len = SECTOR,
        .flags = GNTCOPY_source_gref | (dst_gref ? GNTCOPY_dest_gref : 0),
    };

    if (dst_gref)
        op.dest.u.ref = (grant_ref_t)dst;
    else
        op.dest.u.gmfn = dst;
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_copy, &op, 1);
    return rc ? (int16_t)rc : op.status;
}

/* GNTTABOP_copy of our own grants: what gnttab_grant writes is what the
 * hypervisor reads, and gnttab_end finds the entry free afterwards. */
static void test_gnttab_self(void)
{
    domid_t self = (domid_t)guest_domid();

    memset(pages[PG_BUF], 0x5a, PAGE_SIZE);
    memset(pages[PG_BUF2], 0, PAGE_SIZE);
    grant_ref_t mine = grant(PG_BUF, self, true);
    grant_ref_t theirs = grant(PG_DECOY, OTHER_DOMID, false);
    check_eq("GNTTABOP_copy from our own read-only grant", self_copy(mine, false, gfn(PG_BUF2)),
             GNTST_okay);
    check(pages[PG_BUF2][0] == 0x5a && pages[PG_BUF2][SECTOR - 1] == 0x5a &&
          pages[PG_BUF2][SECTOR] == 0, "the copy moved exactly its bytes");
    /* Xen's _set_status: a write pin of a read-only entry and an entry
     * for another domain are both GNTST_general_error. */
    check_eq("GNTTABOP_copy into a read-only grant", self_copy(mine, true, mine),
             GNTST_general_error);
    check_eq("GNTTABOP_copy from a grant to domain 5", self_copy(theirs, false, gfn(PG_BUF2)),
             GNTST_general_error);
    check(gnttab_end(mine), "gnttab_end after the copies");
    check(gnttab_end(theirs), "gnttab_end of a grant nobody used");
    gnttab_free_ref(mine);
    gnttab_free_ref(theirs);
    check(canaries_intact(), "grant table: the canary pages are unchanged");
}

/*
 * The frontend closes and comes back, as a driver unbound and probed again
 * does (a module reload): Closing, Closed, then Initialising. The backend
 * must follow (Closing, Closed, InitWait), let go of the old ring (its
 * grant ends cleanly: nobody maps it any more), and serve a new one.
 */
static void test_reconnect(void)
{
    check_eq("write state 5 (Closing)", fe_write("state", "%lu", XenbusStateClosing), 0);
    check(wait_be_state(XenbusStateClosing) || be_state() == XenbusStateClosed,
          "reconnect: backend Closing after ours");
    check_eq("write state 6 (Closed)", fe_write("state", "%lu", XenbusStateClosed), 0);
    check(wait_be_state(XenbusStateClosed), "reconnect: backend Closed after ours");
    check(gnttab_end(blk.ring_ref), "reconnect: the old ring's grant is no longer mapped");
    gnttab_free_ref(blk.ring_ref);
    if (blk.irq >= 0)
        unbind_from_irqhandler(blk.irq, NULL);
    struct evtchn_close cl = { .port = blk.port };
    check_eq("reconnect: close the old port",
             HYPERVISOR_event_channel_op(EVTCHNOP_close, &cl), 0);
    check_eq("write state 1 (Initialising)",
             fe_write("state", "%lu", XenbusStateInitialising), 0);
    /* The backend answers by going from Closed to InitWait; until it has,
     * connect()'s wait for InitWait would take the Closed it still reads
     * for a backend that gave up (seen once in 36 runs in the KVM box). */
    uint64_t end = cpu_rdtsc() + WAIT_CYCLES;
    while (be_state() == XenbusStateClosed && cpu_rdtsc() < end)
        relax();
    blk.sent = blk.answered = 0;
    blk.ring_broken = false;
    if (!connect())
        return;
    round_trip(DATA_SECTOR, "after reconnecting");
    check_eq("reconnect: one response per request", (long)blk.answered, (long)blk.sent);
}

int guest_main(const char *cmdline)
{
    (void)cmdline;
    blk.ro = guest_cmdline_get("ro", NULL, 0);
    canaries_fill();

    int rc = gnttab_init((unsigned int)guest_cmdline_int("gnttab", 1));
    printk("blkabuse: grant table v%u, %u frames, %u refs\n", gnttab_version(),
           gnttab_nr_frames(), gnttab_nr_refs());
    bool table = check_eq("grant table set up (query_size, set_version, add_to_physmap)", rc, 0);
    if (table)
        test_gnttab_self();
    char key[96];
    bool wait = guest_cmdline_get("waitkey", key, sizeof(key)) && key[0] &&
                xs_watch(key, "waitkey") == 0;
    if (!find_vbd() || !table || !connect())
        return check_summary("blkabuse");
    /* The test starts the abuse when a healthy guest beside us does I/O. */
    if (wait)
        check_eq("waitkey appeared", xs_wait_key(key, "waitkey"), 1);

    round_trip(DATA_SECTOR, "good request");
    test_malformed();
    test_revoke();
    check(!blk.ring_broken, "the backend's rsp_prod never ran ahead of our requests");
    check_eq("one response per request", (long)blk.answered, (long)blk.sent);
    test_flood();
    test_reconnect();

    printk("blkabuse: done\n");
    check_eq("write data/blkabuse-done", xs_write(XBT_NIL, "data/blkabuse-done", "1"), 0);
    return check_summary("blkabuse");
}

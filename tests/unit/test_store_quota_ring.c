/* Every quota exhausted by a hostile guest over its ring (the transport a
 * guest really has): the guest gets Xen's errno, is never charged above
 * its quota, another guest on its own ring is unaffected, and nothing the
 * hostile guest had is lost. Invariants (store_check) after each test. */
#include "store_test_util.h"
#include "store_ring_guest.h"

static struct store *s;
static struct store_conn *d0;
static struct gring *ga, *gb;     /* hostile A (dom 7), bystander B (8) */


static size_t ring_put(struct gring *g, const char *p, size_t len)
{
    return gring_put(g, p, len);
}

static void pump(struct gring *g)
{
    gring_pump(g);
}

static uint32_t send_req(struct gring *g, uint32_t type, uint32_t tx,
                         const void *payload, uint32_t len)
{
    uint32_t id = 0;
    assert_int_equal(gring_send(g, type, tx, payload, len, &id), 0);
    return id;
}

static struct rep take(struct gring *g, uint32_t req_id)
{
    struct rep r;
    assert_int_equal(gring_take(g, req_id, &r.type, &r.d, &r.len), 0);
    return r;
}

static struct rep grq(struct gring *g, uint32_t type, uint32_t tx, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, tx);
    size_t off = pack_strings(buf, sizeof(buf), ap);
    va_end(ap);
    return take(g, send_req(g, type, tx, buf, (uint32_t)off));
}

static struct rep gwr(struct gring *g, uint32_t tx, const char *path,
                      const char *val)
{
    char buf[8192];
    size_t pl = strlen(path) + 1, vl = strlen(val);
    memcpy(buf, path, pl);
    memcpy(buf + pl, val, vl);
    return take(g, send_req(g, XS_WRITE, tx, buf, (uint32_t)(pl + vl)));
}

static uint32_t gtxn(struct gring *g)
{
    struct rep r = grq(g, XS_TRANSACTION_START, 0, "", NULL);
    assert_int_equal(r.type, XS_TRANSACTION_START);
    uint32_t id = (uint32_t)strtoul(r.d, NULL, 10);
    rep_free(r);
    return id;
}

static struct gring *gring_new(domid_t id)
{
    struct gring *g = calloc(1, sizeof(*g));
    g->id = id;
    g->intf = calloc(1, 4096);
    char p[32], o[8];
    snprintf(p, sizeof(p), "/local/domain/%u", id);
    snprintf(o, sizeof(o), "n%u", id);
    EXPECT_OK(rqv(d0, XS_MKDIR, 0, p, NULL), XS_MKDIR);
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, p, o, NULL), XS_SET_PERMS);
    assert_int_equal(store_domain_introduce(s, id, g->intf, gring_no_notify, NULL,
                                            &g->c), 0);
    return g;
}

static void gring_free(struct gring *g)
{
    store_domain_release(s, g->id);
    store_ring_detach(g->c);
    free(g->intf);
    free(g);
}

static struct store_usage usage(domid_t id)
{
    struct store_usage u;
    assert_int_equal(store_domain_usage(s, id, &u), 0);
    return u;
}

static uint64_t total(struct store_usage u)
{
    return u.memory + u.txn_memory + u.watch_memory + u.out_memory;
}

static unsigned quota(domid_t id, enum store_quota q)
{
    unsigned v;
    assert_int_equal(store_quota_get(s, id, q, &v), 0);
    return v;
}

/* The bystander still does everything normally. */
static void bystander_ok(void)
{
    EXPECT_OK(gwr(gb, 0, "ok/a", "1"), XS_WRITE);
    uint32_t t = gtxn(gb);
    EXPECT_OK(gwr(gb, t, "ok/b", "2"), XS_WRITE);
    EXPECT_OK(grq(gb, XS_TRANSACTION_END, t, "T", NULL), XS_TRANSACTION_END);
    EXPECT_OK(grq(gb, XS_WATCH, 0, "ok", "tok", NULL), XS_WATCH);
    struct rep r = grq(gb, XS_READ, 0, "ok/b", NULL);
    assert_string_equal(r.d, "2");
    rep_free(r);
    EXPECT_OK(grq(gb, XS_UNWATCH, 0, "ok", "tok", NULL), XS_UNWATCH);
    EXPECT_OK(grq(gb, XS_RM, 0, "ok", NULL), XS_RM);
}

static int setup(void **state)
{
    (void)state;
    s = store_create(&gring_quiet_ops, NULL);
    d0 = store_conn_new(s, 0, true, NULL, NULL);
    ga = gring_new(7);
    gb = gring_new(8);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    check_store(s);
    gring_free(ga);
    gring_free(gb);
    check_store(s);
    store_conn_free(d0);
    store_destroy(s);
    return 0;
}

static void test_nodes(void **state)
{
    (void)state;
    assert_int_equal(store_quota_set(s, 7, STORE_Q_NODES, 50), 0);
    int ok = 0;
    for (int i = 0; i < 100; i++) {
        char p[32];
        snprintf(p, sizeof(p), "n%d", i);
        struct rep r = gwr(ga, 0, p, p);
        if (r.type == XS_ERROR)
            assert_string_equal(r.d, "ENOSPC");
        else
            ok++;
        rep_free(r);
        assert_true(usage(7).nodes <= 50);
    }
    assert_int_equal(ok, 49);            /* with /local/domain/7 */
    bystander_ok();
    for (int i = 0; i < ok; i++) {      /* nothing lost */
        char p[32];
        snprintf(p, sizeof(p), "n%d", i);
        struct rep r = grq(ga, XS_READ, 0, p, NULL);
        assert_string_equal(r.d, p);
        rep_free(r);
    }
    EXPECT_OK(grq(ga, XS_RM, 0, "n0", NULL), XS_RM);
    EXPECT_OK(gwr(ga, 0, "again", "1"), XS_WRITE);
}

static void test_memory_and_node_size(void **state)
{
    (void)state;
    const unsigned q = 100000;
    assert_int_equal(store_quota_set(s, 7, STORE_Q_MEMORY, q), 0);
    static char big[2101];     /* NUL-terminated */
    memset(big, 'v', 2100);
    EXPECT_ERR(gwr(ga, 0, "huge", big), "ENOSPC");      /* node-size */
    big[1900] = 0;
    int ok = 0, refused = 0;
    for (int i = 0; i < 100; i++) {
        char p[32];
        snprintf(p, sizeof(p), "m/%d", i);
        struct rep r = gwr(ga, 0, p, big);
        if (r.type == XS_ERROR) {
            assert_string_equal(r.d, "ENOSPC");
            refused++;
        } else {
            ok++;
        }
        rep_free(r);
        assert_true(total(usage(7)) <= q);
    }
    assert_true(ok > 10 && refused > 0);
    /* Children list: the parent m's record is the limit now, not memory
     * (memory is raised out of the way). */
    assert_int_equal(store_quota_set(s, 7, STORE_Q_MEMORY, 1u << 30), 0);
    for (int i = 0; i < 400; i++) {
        char p[64];
        snprintf(p, sizeof(p), "k/a-rather-long-child-name-%04d", i);
        struct rep r = gwr(ga, 0, p, "");
        if (r.type == XS_ERROR)
            assert_string_equal(r.d, "ENOSPC");
        rep_free(r);
    }
    struct rep r = rqv(d0, XS_DIRECTORY, 0, "/local/domain/7/k", NULL);
    assert_int_equal(r.type, XS_DIRECTORY);
    assert_true(r.len < 2048);
    rep_free(r);
    bystander_ok();
    r = grq(ga, XS_READ, 0, "m/0", NULL);
    assert_string_equal(r.d, big);
    rep_free(r);
}

static void test_watches(void **state)
{
    (void)state;
    unsigned max = quota(7, STORE_Q_WATCHES);
    for (unsigned i = 0; i < max; i++) {
        char t[16];
        snprintf(t, sizeof(t), "t%u", i);
        EXPECT_OK(grq(ga, XS_WATCH, 0, "w", t, NULL), XS_WATCH);
    }
    EXPECT_ERR(grq(ga, XS_WATCH, 0, "w", "one-more", NULL), "E2BIG");
    assert_int_equal(usage(7).watches, max);
    bystander_ok();
    /* Every one of A's watches still fires. */
    ga->events = 0;
    EXPECT_OK(wr(d0, 0, "/local/domain/7/w", "x"), XS_WRITE);
    EXPECT_OK(grq(ga, XS_GET_DOMAIN_PATH, 0, "7", NULL), XS_GET_DOMAIN_PATH);
    assert_true(ga->events >= max);
    /* Watch memory: long tokens until the memory quota says no. */
    assert_int_equal(store_quota_set(s, 7, STORE_Q_WATCHES, 100000), 0);
    const unsigned q = (unsigned)total(usage(7)) + 50000;
    assert_int_equal(store_quota_set(s, 7, STORE_Q_MEMORY, q), 0);
    static char tok[2001];
    memset(tok, 'k', 2000);
    int refused = 0;
    for (int i = 0; i < 100 && !refused; i++) {
        snprintf(tok, 12, "%011d", i);
        tok[11] = 'k';
        struct rep r = grq(ga, XS_WATCH, 0, "/nowhere", tok, NULL);
        if (r.type == XS_ERROR) {
            assert_string_equal(r.d, "ENOMEM");
            refused = i;
        }
        rep_free(r);
        assert_true(total(usage(7)) <= q);
    }
    assert_true(refused > 5);
    bystander_ok();
}

static void test_transactions(void **state)
{
    (void)state;
    unsigned max = quota(7, STORE_Q_TRANSACTIONS);
    uint32_t t[64];
    assert_true(max < 64);
    for (unsigned i = 0; i < max; i++) {
        t[i] = gtxn(ga);
        EXPECT_OK(gwr(ga, t[i], "tx", "v"), XS_WRITE);
    }
    EXPECT_ERR(grq(ga, XS_TRANSACTION_START, 0, "", NULL), "ENOSPC");
    bystander_ok();
    /* Nothing lost: each open transaction still works; ending one makes
     * room for another. */
    EXPECT_OK(grq(ga, XS_TRANSACTION_END, t[0], "T", NULL),
              XS_TRANSACTION_END);
    for (unsigned i = 1; i < max; i++)
        EXPECT_OK(grq(ga, XS_TRANSACTION_END, t[i], "F", NULL),
                  XS_TRANSACTION_END);
    t[0] = gtxn(ga);
    EXPECT_OK(grq(ga, XS_TRANSACTION_END, t[0], "F", NULL),
              XS_TRANSACTION_END);
    assert_int_equal(usage(7).txns, 0);
    assert_int_equal(usage(7).txn_memory, 0);
}

static void test_transaction_nodes(void **state)
{
    (void)state;
    unsigned max = quota(7, STORE_Q_TXN_NODES);
    EXPECT_OK(gwr(ga, 0, "keep", "me"), XS_WRITE);
    uint32_t t = gtxn(ga);
    unsigned ok = 0;
    for (unsigned i = 0; i < max + 10; i++) {
        char p[32];
        snprintf(p, sizeof(p), "nothing/%u", i);
        struct rep r = grq(ga, XS_READ, t, p, NULL);
        if (!strcmp(rep_err(r), "ENOSPC")) {
            rep_free(r);
            break;
        }
        assert_string_equal(rep_err(r), "ENOENT");
        rep_free(r);
        ok++;
    }
    assert_true(ok < max && ok > max / 2);
    assert_true(total(usage(7)) <= quota(7, STORE_Q_MEMORY));
    bystander_ok();
    EXPECT_ERR(grq(ga, XS_TRANSACTION_END, t, "T", NULL), "ENOMEM");
    struct rep r = grq(ga, XS_READ, 0, "keep", NULL);
    assert_string_equal(r.d, "me");
    rep_free(r);
    assert_int_equal(usage(7).txn_memory, 0);
}

static void test_outstanding_and_unread_events(void **state)
{
    (void)state;
    /* A watches a busy node of B and never reads: events are dropped at
     * A's memory quota; B, who reads, gets every one of them. */
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, "/local/domain/8", "n8", "r7", NULL),
              XS_SET_PERMS);
    EXPECT_OK(grq(ga, XS_WATCH, 0, "/local/domain/8/busy", "tok", NULL),
              XS_WATCH);
    EXPECT_OK(grq(gb, XS_WATCH, 0, "busy", "tok", NULL), XS_WATCH);
    const unsigned q = (unsigned)total(usage(7)) + 20000;
    assert_int_equal(store_quota_set(s, 7, STORE_Q_MEMORY, q), 0);
    ga->events = gb->events = 0;
    for (int i = 0; i < 2000; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        EXPECT_OK(wr(d0, 0, "/local/domain/8/busy", v), XS_WRITE);
        assert_true(total(usage(7)) <= q);
    }
    EXPECT_OK(grq(gb, XS_GET_DOMAIN_PATH, 0, "8", NULL), XS_GET_DOMAIN_PATH);
    assert_int_equal(gb->events, 2000 + 1);   /* + the one at WATCH */
    /* A pipelines requests, still not reading: the store stops consuming
     * them at the outstanding quota (or a full ring); never above quota. */
    char msg[64];
    struct xsd_sockmsg h = { XS_GET_DOMAIN_PATH, 1, 0, 2 };
    memcpy(msg, &h, sizeof(h));
    memcpy(msg + sizeof(h), "7", 2);
    size_t one = sizeof(h) + 2;
    unsigned sent = 0;
    for (int i = 0; i < 500; i++) {
        size_t n = ring_put(ga, msg, one);
        if (n < one) {
            ga->intf->req_prod -= (XENSTORE_RING_IDX)n;   /* whole ones */
            break;
        }
        sent++;
        store_ring_kick(ga->c);
        assert_true(total(usage(7)) <= q);
    }
    assert_true(sent < 500);
    assert_true(store_conn_blocked(ga->c));
    bystander_ok();
    /* A reads at last: every request it sent is answered, none lost. */
    unsigned replies = 0;
    for (int spins = 0; spins < 100000 && replies < sent; spins++) {
        pump(ga);
        while (ga->have >= sizeof(h)) {
            struct xsd_sockmsg rh;
            memcpy(&rh, ga->in, sizeof(rh));
            if (ga->have < sizeof(rh) + rh.len)
                break;
            if (rh.type == XS_GET_DOMAIN_PATH)
                replies++;
            else
                ga->events++;
            memmove(ga->in, ga->in + sizeof(rh) + rh.len,
                    ga->have - sizeof(rh) - rh.len);
            ga->have -= sizeof(rh) + rh.len;
        }
    }
    assert_int_equal(replies, sent);
    assert_true(ga->events > 0 && ga->events < 2000);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_nodes), T(test_memory_and_node_size), T(test_watches),
        T(test_transactions), T(test_transaction_nodes),
        T(test_outstanding_and_unread_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

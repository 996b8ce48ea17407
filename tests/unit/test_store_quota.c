/* Quotas: the table, run-time get/set over the wire and the API, each
 * refusal logged with what to do, release resetting a domain's counters. */
#include "store_test_util.h"

static struct store *s;
static struct store_conn *d0;
static char lastlog[1024];
static int nlogs;

static void logfn(void *opaque, enum store_log_level lvl, const char *msg)
{
    (void)opaque;
    (void)lvl;
    snprintf(lastlog, sizeof(lastlog), "%s", msg);
    nlogs++;
}

static const struct store_ops ops = { .log = logfn };

static struct store_conn *guest(domid_t id)
{
    char d[8], p[32], o[8];
    snprintf(d, sizeof(d), "%u", id);
    snprintf(p, sizeof(p), "/local/domain/%u", id);
    snprintf(o, sizeof(o), "n%u", id);
    EXPECT_OK(rqv(d0, XS_INTRODUCE, 0, d, "0", "0", NULL), XS_INTRODUCE);
    EXPECT_OK(rqv(d0, XS_MKDIR, 0, p, NULL), XS_MKDIR);
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, p, o, NULL), XS_SET_PERMS);
    return store_conn_new(s, id, false, NULL, NULL);
}

static int setup(void **state)
{
    (void)state;
    s = store_create(&ops, NULL);
    d0 = store_conn_new(s, 0, true, NULL, NULL);
    nlogs = 0;
    lastlog[0] = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_conn_free(d0);
    check_store(s);
    store_destroy(s);
    return 0;
}

static void test_table_defaults(void **state)
{
    (void)state;
    static const struct { const char *name; unsigned def; } want[] = {
        { "nodes", 1000 }, { "watches", 128 }, { "outstanding", 20 },
        { "memory", 2621440 }, { "transactions", 10 },
        { "transaction-nodes", 1024 }, { "node-permissions", 5 },
        { "path-max", 2048 }, { "node-size", 2048 },
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int q = store_quota_by_name(want[i].name);
        assert_true(q >= 0);
        unsigned v;
        assert_int_equal(store_quota_get(s, -1, q, &v), 0);
        assert_int_equal(v, want[i].def);
        struct rep r = rqv(d0, STORE_XS_GET_QUOTA, 0, want[i].name, NULL);
        assert_int_equal(r.type, STORE_XS_GET_QUOTA);
        assert_int_equal(strtoul(r.d, NULL, 10), want[i].def);
        rep_free(r);
    }
    struct rep r = rqv(d0, STORE_XS_GET_QUOTA, 0, NULL);
    assert_non_null(strstr(r.d, "transaction-nodes"));
    rep_free(r);
    r = rqv(d0, XS_CONTROL, 0, "quota", NULL);
    assert_non_null(strstr(r.d, "nodes"));
    assert_non_null(strstr(r.d, "1000"));
    rep_free(r);
    EXPECT_ERR(rqv(d0, STORE_XS_GET_QUOTA, 0, "bogus", NULL), "EINVAL");
}

static void test_nodes_quota_logged(void **state)
{
    (void)state;
    struct store_conn *g = guest(3);
    EXPECT_OK(rqv(d0, XS_CONTROL, 0, "quota", "nodes", "4", NULL),
              XS_CONTROL);
    EXPECT_OK(wr(g, 0, "a", "1"), XS_WRITE);      /* 2 (with its dir) */
    EXPECT_OK(wr(g, 0, "b", "1"), XS_WRITE);      /* 3 */
    EXPECT_OK(wr(g, 0, "c", "1"), XS_WRITE);      /* 4 */
    nlogs = 0;
    EXPECT_ERR(wr(g, 0, "d", "1"), "ENOSPC");
    assert_int_equal(nlogs, 1);
    assert_non_null(strstr(lastlog, "domain 3"));
    assert_non_null(strstr(lastlog, "'nodes'"));
    assert_non_null(strstr(lastlog, "limit 4"));
    assert_non_null(strstr(lastlog, "quota nodes"));   /* how to raise */
    /* Several missing parents count too. */
    EXPECT_ERR(wr(g, 0, "x/y/z", "1"), "ENOSPC");
    /* Removing frees quota. */
    EXPECT_OK(rqv(g, XS_RM, 0, "a", NULL), XS_RM);
    EXPECT_OK(wr(g, 0, "d", "1"), XS_WRITE);
    /* Per-domain override through SET_QUOTA. */
    EXPECT_OK(rqv(d0, STORE_XS_SET_QUOTA, 0, "3", "nodes", "10", NULL),
              STORE_XS_SET_QUOTA);
    EXPECT_OK(wr(g, 0, "x/y/z", "1"), XS_WRITE);
    struct rep r = rqv(d0, STORE_XS_GET_QUOTA, 0, "3", "nodes", NULL);
    assert_string_equal(r.d, "10");
    rep_free(r);
    /* dom0 is not limited. */
    for (int i = 0; i < 20; i++) {
        char p[32];
        snprintf(p, sizeof(p), "/dom0/%d", i);
        EXPECT_OK(wr(d0, 0, p, "1"), XS_WRITE);
    }
    store_conn_free(g);
}

static void test_release_resets_counters(void **state)
{
    (void)state;
    struct store_conn *g = guest(3);
    EXPECT_OK(rqv(d0, STORE_XS_SET_QUOTA, 0, "3", "nodes", "3", NULL),
              STORE_XS_SET_QUOTA);
    EXPECT_OK(wr(g, 0, "a", "1"), XS_WRITE);
    EXPECT_OK(wr(g, 0, "b", "1"), XS_WRITE);
    EXPECT_ERR(wr(g, 0, "c", "1"), "ENOSPC");
    EXPECT_OK(rqv(g, XS_WATCH, 0, "a", "t", NULL), XS_WATCH);
    store_conn_free(g);
    /* Toolstack: release, remove the directory, start a new domain 3. */
    EXPECT_OK(rqv(d0, XS_RELEASE, 0, "3", NULL), XS_RELEASE);
    EXPECT_ERR(rqv(d0, STORE_XS_GET_QUOTA, 0, "3", "nodes", NULL), "ENOENT");
    EXPECT_OK(rqv(d0, XS_RM, 0, "/local/domain/3", NULL), XS_RM);
    g = guest(3);
    /* Global default again (no override), and nothing counted. */
    struct rep r = rqv(d0, STORE_XS_GET_QUOTA, 0, "3", "nodes", NULL);
    assert_string_equal(r.d, "1000");
    rep_free(r);
    r = rqv(d0, XS_CONTROL, 0, "quota", "3", NULL);
    assert_non_null(strstr(r.d, "nodes"));
    assert_non_null(strstr(r.d, "       1 (limit 1000)"));
    assert_non_null(strstr(r.d, "       0 (limit 128)"));   /* watches */
    rep_free(r);
    EXPECT_OK(wr(g, 0, "c", "1"), XS_WRITE);
    store_conn_free(g);
}

static void test_size_perm_path_quotas(void **state)
{
    (void)state;
    struct store_conn *g = guest(4);
    static char big[3000];
    memset(big, 'x', 2100);
    EXPECT_ERR(wr(g, 0, "big", big), "ENOSPC");          /* node-size */
    big[1000] = 0;
    EXPECT_OK(wr(g, 0, "big", big), XS_WRITE);
    EXPECT_ERR(rqv(g, XS_SET_PERMS, 0, "big", "n4", "r1", "r2", "r3", "r5",
                   "r6", NULL), "ENOSPC");                 /* 6 entries */
    EXPECT_OK(rqv(g, XS_SET_PERMS, 0, "big", "n4", "r1", "r2", "r3", "r5",
                  NULL), XS_SET_PERMS);
    /* path-max counts after /local/domain/4/. Components of 63 bytes:
     * one 2048-byte name would not fit its parent's record (node-size
     * counts the children list, as in xenstored). */
    static char path[2100];
    memset(path, 'p', 2049);
    for (int i = 63; i < 2040; i += 64)
        path[i] = '/';
    path[2049] = 0;
    EXPECT_ERR(wr(g, 0, path, "1"), "EINVAL");
    path[2048] = 0;
    EXPECT_OK(wr(g, 0, path, "1"), XS_WRITE);
    /* API get/set. */
    assert_int_equal(store_quota_set(s, 4, STORE_Q_NODE_SIZE, 5000), 0);
    unsigned v;
    assert_int_equal(store_quota_get(s, 4, STORE_Q_NODE_SIZE, &v), 0);
    assert_int_equal(v, 5000);
    assert_int_equal(store_quota_get(s, 77, STORE_Q_NODE_SIZE, &v), -ENOENT);
    big[1000] = 'x';
    EXPECT_OK(wr(g, 0, "big", big), XS_WRITE);
    store_conn_free(g);
}

static void test_outstanding_backpressure(void **state)
{
    (void)state;
    /* A guest that pipelines requests without reading replies: after
     * "outstanding" queued replies the connection takes no more input. */
    struct store_conn *g = guest(6);
    char msg[64];
    struct xsd_sockmsg h = { XS_GET_DOMAIN_PATH, 1, 0, 2 };
    memcpy(msg, &h, sizeof(h));
    memcpy(msg + sizeof(h), "6", 2);
    size_t total = 0, one = sizeof(h) + 2;
    for (int i = 0; i < 100; i++)
        total += store_conn_feed(g, msg, one);
    assert_int_equal(total, 20 * one);
    assert_true(store_conn_blocked(g));
    /* Reading one reply lets one more request in. */
    const void *p;
    size_t n = store_conn_out_peek(g, &p);
    store_conn_out_consume(g, n);
    assert_int_equal(store_conn_feed(g, msg, one), one);
    assert_int_equal(store_conn_feed(g, msg, one), 0);
    store_conn_free(g);
}

static void test_control(void **state)
{
    (void)state;
    struct rep r = rqv(d0, XS_CONTROL, 0, "help", NULL);
    assert_non_null(strstr(r.d, "quota"));
    rep_free(r);
    EXPECT_OK(rqv(d0, XS_CONTROL, 0, "print", "hello from test", NULL),
              XS_CONTROL);
    assert_non_null(strstr(lastlog, "hello from test"));
    EXPECT_OK(rqv(d0, XS_CONTROL, 0, "log", "on", NULL), XS_CONTROL);
    EXPECT_OK(rqv(d0, XS_CONTROL, 0, "log", "off", NULL), XS_CONTROL);
    EXPECT_ERR(rqv(d0, XS_CONTROL, 0, "nonsense", NULL), "EINVAL");
    EXPECT_ERR(rqv(d0, XS_CONTROL, 0, "quota", "nodes", "-1", NULL), "EINVAL");
    EXPECT_OK(rqv(d0, XS_CONTROL, 0, "quota-soft", "memory", "1000", NULL),
              XS_CONTROL);
    r = rqv(d0, XS_CONTROL, 0, "quota-soft", NULL);
    assert_non_null(strstr(r.d, "1000"));
    rep_free(r);
    r = rqv(d0, STORE_XS_GET_FEATURE, 0, NULL);
    assert_int_equal(r.type, STORE_XS_GET_FEATURE);
    assert_int_equal(strtoul(r.d, NULL, 10),
                     XENSTORE_SERVER_FEATURE_RECONNECTION |
                     XENSTORE_SERVER_FEATURE_ERROR);
    rep_free(r);
}

/* The introduce hook of test_api_errno: refuses domain 9 with -EACCES. */
static int refuse_introduce(void *opaque, struct store *st, domid_t domid,
                            uint64_t mfn, uint32_t port)
{
    (void)opaque;
    (void)st;
    (void)mfn;
    (void)port;
    return domid == 9 ? -EACCES : 0;
}

/* store.h's one errno sign: every failing call says -errno, and the
 * introduce hook's -errno reaches the wire as the errno's name. */
static void test_api_errno(void **state)
{
    (void)state;
    unsigned v;
    struct store_usage u;
    assert_int_equal(store_quota_by_name("no-such-quota"), -ENOENT);
    assert_int_equal(store_quota_get(s, -1, STORE_Q_NR, &v), -EINVAL);
    assert_int_equal(store_quota_set(s, -1, STORE_Q_NODES, UINT32_MAX), -EINVAL);
    assert_int_equal(store_quota_set(s, 77, STORE_Q_NODES, 5), -ENOENT);
    assert_int_equal(store_domain_usage(s, 77, &u), -ENOENT);
    assert_int_equal(store_domain_release(s, 77), -ENOENT);
    struct xenstore_domain_interface *intf = calloc(1, 4096);
    assert_non_null(intf);
    assert_int_equal(store_domain_introduce(s, 0, intf, NULL, NULL, NULL),
                     -EINVAL);
    struct store_conn *ring = NULL;
    assert_int_equal(store_domain_introduce(s, 5, intf, NULL, NULL, &ring), 0);
    assert_int_equal(store_domain_introduce(s, 5, intf, NULL, NULL, NULL),
                     -EEXIST);
    assert_int_equal(store_domain_release(s, 5), 0);
    store_ring_detach(ring);
    char why[128];
    assert_int_equal(store_check(s, why, sizeof(why)), 0);
    int err = 0;
    char path[200];
    memset(path, 'x', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    assert_null(store_sock_open(s, path, &err));
    assert_int_equal(err, -ENAMETOOLONG);

    struct store_ops hook = { .log = logfn, .introduce = refuse_introduce };
    struct store *s2 = store_create(&hook, NULL);
    struct store_conn *c0 = store_conn_new(s2, 0, true, NULL, NULL);
    EXPECT_ERR(rqv(c0, XS_INTRODUCE, 0, "9", "1", "1", NULL), "EACCES");
    EXPECT_OK(rqv(c0, XS_INTRODUCE, 0, "8", "1", "1", NULL), XS_INTRODUCE);
    store_conn_free(c0);
    store_destroy(s2);
    free(intf);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_table_defaults), T(test_nodes_quota_logged),
        T(test_release_resets_counters), T(test_size_perm_path_quotas),
        T(test_outstanding_backpressure), T(test_control),
        T(test_api_errno),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Hostile guests against the store (issue 14): each test drives a guest
 * connection the way a malicious guest would and checks Xen's answer, the
 * store's own accounting and its invariants (store_check). */
#include "store_test_util.h"

static struct store *s;
static struct store_conn *d0;

static void quiet(void *opaque, enum store_log_level lvl, const char *msg)
{
    (void)opaque;
    (void)lvl;
    (void)msg;
}

static const struct store_ops ops = { .log = quiet };

/* Introduce domid (no ring), give it its home directory, connect it. */
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

static struct store_usage usage(domid_t id)
{
    struct store_usage u;
    assert_int_equal(store_domain_usage(s, id, &u), 0);
    return u;
}

/* Nodes at and below path, as dom0 sees them (recursive DIRECTORY). */
static unsigned count_tree(const char *path)
{
    struct rep r = rqv(d0, XS_DIRECTORY, 0, path, NULL);
    if (r.type != XS_DIRECTORY) {
        rep_free(r);
        return 0;
    }
    unsigned n = 1;
    for (uint32_t off = 0; off < r.len; off += (uint32_t)strlen(r.d + off) + 1) {
        char child[1024];
        snprintf(child, sizeof(child), "%s/%s", path, r.d + off);
        n += count_tree(child);
    }
    rep_free(r);
    return n;
}

static int setup(void **state)
{
    (void)state;
    s = store_create(&ops, NULL);
    d0 = store_conn_new(s, 0, true, NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    check_store(s);
    store_conn_free(d0);
    store_destroy(s);
    return 0;
}

/*
 * Defect 2: RM inside a transaction that runs out of transaction-nodes
 * quota half-way. Xen fails the RM (ENOSPC), marks the transaction failed
 * (its commit returns ENOMEM) and changes nothing; the old code skipped the
 * failed lookups, unlinked the subtree and left 208 orphans.
 */
static void test_rm_in_txn_over_quota_changes_nothing(void **state)
{
    (void)state;
    struct store_conn *g = guest(5);
    /* 931 nodes: sub, 30 dirs, 900 leaves. */
    for (int i = 0; i < 30; i++)
        for (int j = 0; j < 30; j++) {
            char p[64];
            snprintf(p, sizeof(p), "sub/d%02d/l%02d", i, j);
            EXPECT_OK(wr(g, 0, p, "v"), XS_WRITE);
        }
    assert_int_equal(count_tree("/local/domain/5/sub"), 931);
    struct store_usage before = usage(5);
    assert_int_equal(before.nodes, 932);   /* with /local/domain/5 */

    uint32_t t = txn_start(g);
    for (int i = 0; i < 300; i++) {
        char p[64];
        snprintf(p, sizeof(p), "other/%d", i);
        EXPECT_ERR(rqv(g, XS_READ, t, p, NULL), "ENOENT");
    }
    EXPECT_ERR(rqv(g, XS_RM, t, "sub", NULL), "ENOSPC");
    EXPECT_ERR(rqv(g, XS_TRANSACTION_END, t, "T", NULL), "ENOMEM");
    check_store(s);

    /* Nothing changed, nothing orphaned, accounting as before. */
    assert_int_equal(count_tree("/local/domain/5/sub"), 931);
    struct store_usage after = usage(5);
    assert_int_equal(after.nodes, before.nodes);
    assert_int_equal(after.memory, before.memory);
    assert_int_equal(after.txn_memory, 0);
    /* And the subtree still goes away whole, outside a transaction. */
    EXPECT_OK(rqv(g, XS_RM, 0, "sub", NULL), XS_RM);
    assert_int_equal(usage(5).nodes, 1);
    check_store(s);
    store_conn_free(g);
}

/*
 * Defect 4 (XSA-326 class): a transaction copied a node before checking
 * permission, charged to no one. B has no access to A's big directory and
 * reads it in 10 transactions: every read is EACCES and costs B (and the
 * store) nothing.
 */
static void test_denied_txn_reads_copy_nothing(void **state)
{
    (void)state;
    struct store_conn *a = guest(1), *b = guest(2);
    static char val[1001];
    memset(val, 'a', 1000);
    for (int i = 0; i < 200; i++) {
        char p[64];
        snprintf(p, sizeof(p), "big/c%03d", i);
        EXPECT_OK(wr(a, 0, p, val), XS_WRITE);
    }
    uint32_t t[10];
    for (int k = 0; k < 10; k++) {
        t[k] = txn_start(b);
        EXPECT_ERR(rqv(b, XS_DIRECTORY, t[k], "/local/domain/1/big", NULL),
                   "EACCES");
        for (int i = 0; i < 200; i++) {
            char p[64];
            snprintf(p, sizeof(p), "/local/domain/1/big/c%03d", i);
            EXPECT_ERR(rqv(b, XS_READ, t[k], p, NULL), "EACCES");
            snprintf(p, sizeof(p), "/local/domain/1/big/c%03d/none", i);
            EXPECT_ERR(rqv(b, XS_READ, t[k], p, NULL), "EACCES");
            EXPECT_ERR(wr(b, t[k], p, "x"), "EACCES");
        }
    }
    /* All 10 still open: what they hold is what was charged to B, and no
     * copy of A's nodes is among it. */
    struct store_usage ub = usage(2), ua = usage(1), u0 = usage(0);
    assert_int_equal(ub.txns, 10);
    assert_true(ub.txn_memory < 10 * 1024);
    assert_int_equal(ua.txn_memory, 0);
    assert_int_equal(u0.txn_memory, 0);
    check_store(s);
    for (int k = 0; k < 10; k++)
        EXPECT_OK(rqv(b, XS_TRANSACTION_END, t[k], "F", NULL),
                  XS_TRANSACTION_END);
    assert_int_equal(usage(2).txn_memory, 0);
    store_conn_free(a);
    store_conn_free(b);
}

/*
 * Defect 4, the other half: what a transaction does copy (nodes the
 * reader may read) is charged to the reader before it is made, against
 * its memory quota; over it the read is ENOSPC and the transaction fails.
 * The owner of the nodes is unaffected.
 */
static void test_txn_copies_charged_to_reader(void **state)
{
    (void)state;
    struct store_conn *a = guest(1), *b = guest(2);
    static char val[1001];
    memset(val, 'a', 1000);
    for (int i = 0; i < 100; i++) {
        char p[64];
        snprintf(p, sizeof(p), "pub/c%03d", i);
        EXPECT_OK(wr(a, 0, p, val), XS_WRITE);
    }
    for (int i = 0; i < 100; i++) {
        char p[64];
        snprintf(p, sizeof(p), "/local/domain/1/pub/c%03d", i);
        EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, p, "n1", "r2", NULL),
                  XS_SET_PERMS);
    }
    struct store_usage b0 = usage(2), a0 = usage(1);
    const unsigned quota = (unsigned)b0.memory + 50 * 1024;
    assert_int_equal(store_quota_set(s, 2, STORE_Q_MEMORY, quota), 0);
    uint32_t t = txn_start(b);
    char *v = rd(b, t, "/local/domain/1/pub/c000");
    assert_non_null(v);
    free(v);
    struct store_usage b1 = usage(2);
    assert_true(b1.txn_memory > 1000);     /* the copy is B's */
    int refused = -1;
    for (int i = 1; i < 100 && refused < 0; i++) {
        char p[64];
        snprintf(p, sizeof(p), "/local/domain/1/pub/c%03d", i);
        struct rep r = rqv(b, XS_READ, t, p, NULL);
        if (r.type == XS_ERROR) {
            assert_string_equal(r.d, "ENOSPC");
            refused = i;
        }
        rep_free(r);
        struct store_usage u = usage(2);
        assert_true(u.memory + u.txn_memory <= quota);
    }
    assert_true(refused > 10 && refused < 99);
    EXPECT_ERR(rqv(b, XS_TRANSACTION_END, t, "T", NULL), "ENOMEM");
    assert_int_equal(usage(2).txn_memory, 0);
    /* A lost nothing and is not charged. */
    struct store_usage a1 = usage(1);
    assert_int_equal(a1.memory, a0.memory);
    assert_int_equal(a1.txn_memory, 0);
    EXPECT_OK(wr(a, 0, "pub/c000", "new"), XS_WRITE);
    store_conn_free(a);
    store_conn_free(b);
}

/* Xen's node size: header (16), permissions (8 each), value, children. */
static unsigned xen_node_size(unsigned nperms, unsigned vlen, unsigned klen)
{
    return 16 + 8 * nperms + vlen + klen;
}

/*
 * Defect 5: the node-size quota applies to the parent's record with its
 * children list. 300 children of 29 bytes each against 2048: Xen refuses
 * the child that would make the parent's record reach the quota with
 * ENOSPC, so the directory stays readable by everyone.
 */
static void test_children_list_counts_in_node_size(void **state)
{
    (void)state;
    struct store_conn *g = guest(3);
    EXPECT_OK(rqv(g, XS_MKDIR, 0, "d", NULL), XS_MKDIR);
    unsigned accepted = 0, klen = 0;
    for (int i = 0; i < 300; i++) {
        char p[64];
        snprintf(p, sizeof(p), "d/child-%03d-xxxxxxxxxxxxxxxxxx", i);
        unsigned nlen = (unsigned)strlen(p) - 2;     /* 28 */
        assert_int_equal(nlen, 28);
        bool fits = xen_node_size(1, 0, klen + nlen + 1) < 2048;
        struct rep r = wr(g, 0, p, "");
        if (fits) {
            assert_string_equal(rep_err(r), "");
            accepted++;
            klen += nlen + 1;
        } else {
            assert_string_equal(rep_err(r), "ENOSPC");
        }
        rep_free(r);
    }
    assert_true(accepted > 0 && accepted < 300);
    /* The directory is small enough for one reply, for dom0 and guest. */
    struct rep r = rqv(d0, XS_DIRECTORY, 0, "/local/domain/3/d", NULL);
    assert_int_equal(r.type, XS_DIRECTORY);
    assert_int_equal(r.len, klen);
    rep_free(r);
    EXPECT_OK(rqv(g, XS_DIRECTORY, 0, "d", NULL), XS_DIRECTORY);
    /* The same rule inside a transaction (refused before anything is
     * written, so the transaction itself stays good), and for implicit
     * parents. */
    uint32_t t = txn_start(g);
    EXPECT_ERR(wr(g, t, "d/child-999-xxxxxxxxxxxxxxxxxx", ""), "ENOSPC");
    EXPECT_OK(rqv(g, XS_TRANSACTION_END, t, "T", NULL), XS_TRANSACTION_END);
    EXPECT_ERR(wr(g, 0, "d/child-999-xxxxxxxxxxxxxxxxxx/deeper", ""),
               "ENOSPC");
    assert_int_equal(count_tree("/local/domain/3/d"), 1 + accepted);
    struct store_usage u = usage(3);
    assert_true(u.memory <= 2621440);
    store_conn_free(g);
}

/*
 * Defect 5, memory: a child also grows its parent's record, which is
 * charged too; the memory quota counts it before the write, so the domain
 * never ends above its quota.
 */
static void test_memory_quota_counts_parent_growth(void **state)
{
    (void)state;
    struct store_conn *g = guest(4);
    assert_int_equal(store_quota_set(s, 4, STORE_Q_NODE_SIZE, 1u << 20), 0);
    static char name[300];
    EXPECT_OK(rqv(g, XS_MKDIR, 0, "d", NULL), XS_MKDIR);
    memset(name, 'n', 200);
    memcpy(name, "d/000", 5);
    struct store_usage u0 = usage(4);
    EXPECT_OK(wr(g, 0, name, ""), XS_WRITE);
    uint64_t delta = usage(4).memory - u0.memory;   /* child + list */
    /* One byte short of another such child: refused, nothing charged. */
    unsigned quota = (unsigned)(usage(4).memory + delta - 1);
    assert_int_equal(store_quota_set(s, 4, STORE_Q_MEMORY, quota), 0);
    memcpy(name, "d/001", 5);
    EXPECT_ERR(wr(g, 0, name, ""), "ENOSPC");
    assert_true(usage(4).memory <= quota);
    /* Exactly enough: accepted, and the domain is at (not above) it. */
    assert_int_equal(store_quota_set(s, 4, STORE_Q_MEMORY, quota + 1), 0);
    EXPECT_OK(wr(g, 0, name, ""), XS_WRITE);
    assert_int_equal(usage(4).memory, quota + 1);
    store_conn_free(g);
}

/*
 * A guest's SET_PERMS naming domains the store does not know made it
 * allocate a domain record for each (32752 possible, charged to no one).
 * Now such an entry is stale from birth, as xenstored's XS_PERM_IGNORE:
 * no record, and no access for a domain introduced later with that id.
 */
static void test_guest_perms_allocate_no_domains(void **state)
{
    (void)state;
    struct store_conn *g = guest(6);
    EXPECT_OK(wr(g, 0, "p", "secret"), XS_WRITE);
    for (int i = 100; i < 1100; i += 4) {
        char a[8], b[8], c[8], d[8];
        snprintf(a, sizeof(a), "r%d", i);
        snprintf(b, sizeof(b), "r%d", i + 1);
        snprintf(c, sizeof(c), "r%d", i + 2);
        snprintf(d, sizeof(d), "r%d", i + 3);
        EXPECT_OK(rqv(g, XS_SET_PERMS, 0, "p", "n6", a, b, c, d, NULL),
                  XS_SET_PERMS);
    }
    struct store_usage u;
    for (domid_t i = 100; i < 1100; i++)
        assert_int_equal(store_domain_usage(s, i, &u), -ENOENT);
    /* Domain 1099 comes to be later: the old entry gives it nothing. */
    struct store_conn *late = guest(1099);
    EXPECT_ERR(rqv(late, XS_READ, 0, "/local/domain/6/p", NULL), "EACCES");
    /* dom0 (the toolstack) may still name a domain before introducing
     * it, and that entry is live. */
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, "/local/domain/6/p", "n6", "r1200",
                  NULL), XS_SET_PERMS);
    struct store_conn *next = guest(1200);
    char *v = rd(next, 0, "/local/domain/6/p");
    assert_string_equal(v, "secret");
    free(v);
    store_conn_free(late);
    store_conn_free(next);
    store_conn_free(g);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_rm_in_txn_over_quota_changes_nothing),
        T(test_denied_txn_reads_copy_nothing),
        T(test_txn_copies_charged_to_reader),
        T(test_children_list_counts_in_node_size),
        T(test_memory_quota_counts_parent_growth),
        T(test_guest_perms_allocate_no_domains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

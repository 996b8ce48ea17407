/* Transactions: isolation, per-node conflicts, all-or-nothing commits
 * (including quota accounting), watches at commit, id handling. */
#include "store_test_util.h"

static struct store *s;
static struct store_conn *a, *b;

static int setup(void **state)
{
    (void)state;
    s = store_create(NULL, NULL);
    a = store_conn_new(s, 0, true, NULL, NULL);
    b = store_conn_new(s, 0, true, NULL, NULL);
    EXPECT_OK(wr(a, 0, "/t/x", "0"), XS_WRITE);
    EXPECT_OK(wr(a, 0, "/t/y", "0"), XS_WRITE);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_conn_free(a);
    store_conn_free(b);
    check_store(s);
    store_destroy(s);
    return 0;
}

static void end_ok(struct store_conn *c, uint32_t t)
{
    EXPECT_OK(rqv(c, XS_TRANSACTION_END, t, "T", NULL), XS_TRANSACTION_END);
}

static void test_isolation_and_commit(void **state)
{
    (void)state;
    uint32_t t = txn_start(a);
    EXPECT_OK(wr(a, t, "/t/x", "1"), XS_WRITE);
    EXPECT_OK(wr(a, t, "/t/new/deep", "n"), XS_WRITE);
    /* Invisible outside until commit. */
    char *v = rd(b, 0, "/t/x");
    assert_string_equal(v, "0");
    free(v);
    EXPECT_ERR(rqv(b, XS_READ, 0, "/t/new", NULL), "ENOENT");
    v = rd(a, t, "/t/new/deep");
    assert_string_equal(v, "n");
    free(v);
    end_ok(a, t);
    v = rd(b, 0, "/t/new/deep");
    assert_string_equal(v, "n");
    free(v);
    v = rd(b, 0, "/t/x");
    assert_string_equal(v, "1");
    free(v);
    struct rep r = rqv(b, XS_DIRECTORY, 0, "/t", NULL);
    assert_int_equal(r.len, 8);
    assert_memory_equal(r.d, "x\0y\0new\0", 8);
    rep_free(r);
}

static void test_abort(void **state)
{
    (void)state;
    uint32_t t = txn_start(a);
    EXPECT_OK(wr(a, t, "/t/x", "1"), XS_WRITE);
    EXPECT_OK(rqv(a, XS_RM, t, "/t/y", NULL), XS_RM);
    EXPECT_OK(rqv(a, XS_TRANSACTION_END, t, "F", NULL), XS_TRANSACTION_END);
    char *v = rd(a, 0, "/t/x");
    assert_string_equal(v, "0");
    free(v);
    v = rd(a, 0, "/t/y");
    assert_string_equal(v, "0");
    free(v);
    /* The transaction is gone. */
    EXPECT_ERR(rqv(a, XS_READ, t, "/t/x", NULL), "ENOENT");
}

static void test_conflict_on_read_node(void **state)
{
    (void)state;
    uint32_t t = txn_start(a);
    char *v = rd(a, t, "/t/x");
    free(v);
    EXPECT_OK(wr(a, t, "/t/y", "from-txn"), XS_WRITE);
    /* Someone else changes the node the transaction read. */
    EXPECT_OK(wr(b, 0, "/t/x", "other"), XS_WRITE);
    /* The transaction still sees its snapshot... */
    v = rd(a, t, "/t/x");
    assert_string_equal(v, "0");
    free(v);
    /* ...and cannot commit; nothing of it is applied. */
    EXPECT_ERR(rqv(a, XS_TRANSACTION_END, t, "T", NULL), "EAGAIN");
    v = rd(a, 0, "/t/y");
    assert_string_equal(v, "0");
    free(v);
}

static void test_no_conflict_on_other_nodes(void **state)
{
    (void)state;
    /* Writes by others to nodes this transaction did not touch do not
     * conflict (unlike a whole-store generation check). */
    uint32_t t = txn_start(a);
    char *v = rd(a, t, "/t/x");
    free(v);
    EXPECT_OK(wr(a, t, "/t/x", "mine"), XS_WRITE);
    EXPECT_OK(wr(b, 0, "/t/y", "theirs"), XS_WRITE);
    EXPECT_OK(wr(b, 0, "/elsewhere/z", "theirs"), XS_WRITE);
    end_ok(a, t);
    v = rd(a, 0, "/t/x");
    assert_string_equal(v, "mine");
    free(v);
    v = rd(a, 0, "/t/y");
    assert_string_equal(v, "theirs");
    free(v);
}

static void test_conflict_on_deleted_node(void **state)
{
    (void)state;
    uint32_t t = txn_start(a);
    char *v = rd(a, t, "/t/y");
    free(v);
    EXPECT_OK(rqv(b, XS_RM, 0, "/t/y", NULL), XS_RM);
    EXPECT_ERR(rqv(a, XS_TRANSACTION_END, t, "T", NULL), "EAGAIN");
    /* Absent when read, created meanwhile: also a conflict. */
    t = txn_start(a);
    EXPECT_ERR(rqv(a, XS_READ, t, "/t/later", NULL), "ENOENT");
    EXPECT_OK(wr(b, 0, "/t/later", "1"), XS_WRITE);
    EXPECT_ERR(rqv(a, XS_TRANSACTION_END, t, "T", NULL), "EAGAIN");
}

static void test_two_txns_disjoint(void **state)
{
    (void)state;
    uint32_t t1 = txn_start(a), t2 = txn_start(b);
    char *v = rd(a, t1, "/t/x");
    free(v);
    v = rd(b, t2, "/t/y");
    free(v);
    EXPECT_OK(wr(a, t1, "/t/x", "a"), XS_WRITE);
    EXPECT_OK(wr(b, t2, "/t/y", "b"), XS_WRITE);
    end_ok(a, t1);
    end_ok(b, t2);
    v = rd(a, 0, "/t/x");
    assert_string_equal(v, "a");
    free(v);
    v = rd(a, 0, "/t/y");
    assert_string_equal(v, "b");
    free(v);
}

static void test_rm_in_txn(void **state)
{
    (void)state;
    EXPECT_OK(wr(a, 0, "/t/sub/1", "1"), XS_WRITE);
    EXPECT_OK(wr(a, 0, "/t/sub/2/3", "3"), XS_WRITE);
    uint32_t t = txn_start(a);
    EXPECT_OK(rqv(a, XS_RM, t, "/t/sub", NULL), XS_RM);
    EXPECT_ERR(rqv(a, XS_READ, t, "/t/sub/2/3", NULL), "ENOENT");
    char *v = rd(b, 0, "/t/sub/2/3");
    assert_string_equal(v, "3");
    free(v);
    end_ok(a, t);
    EXPECT_ERR(rqv(b, XS_READ, 0, "/t/sub/2/3", NULL), "ENOENT");
    EXPECT_ERR(rqv(b, XS_READ, 0, "/t/sub", NULL), "ENOENT");
}

static void test_watches_fire_at_commit(void **state)
{
    (void)state;
    char p[256], tok[64];
    EXPECT_OK(rqv(b, XS_WATCH, 0, "/t", "tk", NULL), XS_WATCH);
    assert_int_equal(count_events(b), 1);   /* the initial event */
    uint32_t t = txn_start(a);
    EXPECT_OK(wr(a, t, "/t/x", "1"), XS_WRITE);
    assert_int_equal(count_events(b), 0);
    end_ok(a, t);
    assert_int_equal(next_event(b, p, sizeof(p), tok, sizeof(tok)), 1);
    assert_string_equal(p, "/t/x");
    assert_string_equal(tok, "tk");
    assert_int_equal(count_events(b), 0);
    /* Aborted or failed transactions fire nothing. */
    t = txn_start(a);
    EXPECT_OK(wr(a, t, "/t/x", "2"), XS_WRITE);
    EXPECT_OK(rqv(a, XS_TRANSACTION_END, t, "F", NULL), XS_TRANSACTION_END);
    assert_int_equal(count_events(b), 0);
}

static void test_ids_and_flags(void **state)
{
    (void)state;
    uint32_t t1 = txn_start(a), t2 = txn_start(a);
    assert_int_not_equal(t1, t2);
    /* TRANSACTION_START inside a transaction. */
    EXPECT_ERR(rqv(a, XS_TRANSACTION_START, t1, "", NULL), "EBUSY");
    /* Another connection's id is unknown here. */
    EXPECT_ERR(rqv(b, XS_READ, t1, "/t/x", NULL), "ENOENT");
    EXPECT_ERR(rqv(a, XS_TRANSACTION_END, t1, "X", NULL), "EINVAL");
    EXPECT_ERR(rqv(a, XS_TRANSACTION_END, 0, "T", NULL), "ENOENT");
    /* WATCH ignores the transaction id (xenstored XS_FLAG_NOTID). */
    EXPECT_OK(rqv(a, XS_WATCH, 999, "/t", "w", NULL), XS_WATCH);
    end_ok(a, t1);
    end_ok(a, t2);
}

static void test_quota_all_or_nothing(void **state)
{
    (void)state;
    /* A guest with a nodes quota of 5 (it owns its directory already). */
    EXPECT_OK(rqv(a, XS_INTRODUCE, 0, "3", "0", "0", NULL), XS_INTRODUCE);
    EXPECT_OK(rqv(a, XS_MKDIR, 0, "/local/domain/3", NULL), XS_MKDIR);
    EXPECT_OK(rqv(a, XS_SET_PERMS, 0, "/local/domain/3", "n3", NULL),
              XS_SET_PERMS);
    EXPECT_OK(rqv(a, STORE_XS_SET_QUOTA, 0, "3", "nodes", "6", NULL),
              STORE_XS_SET_QUOTA);
    struct store_conn *g = store_conn_new(s, 3, false, NULL, NULL);
    EXPECT_OK(rqv(g, XS_MKDIR, 0, "t", NULL), XS_MKDIR);   /* 2 nodes */
    EXPECT_OK(rqv(g, XS_MKDIR, 0, "o", NULL), XS_MKDIR);   /* 3 nodes */
    uint32_t t = txn_start(g);
    EXPECT_OK(wr(g, t, "t/b", "1"), XS_WRITE);   /* 4 */
    EXPECT_OK(wr(g, t, "t/c", "1"), XS_WRITE);   /* 5 */
    EXPECT_OK(wr(g, t, "t/d", "1"), XS_WRITE);   /* 6 */
    EXPECT_ERR(wr(g, t, "t/e", "1"), "ENOSPC");  /* 7: refused in the txn */
    /* Meanwhile the domain uses its quota outside the transaction, on
     * nodes the transaction did not touch (so no conflict). */
    EXPECT_OK(wr(g, 0, "o/z", "1"), XS_WRITE);   /* 4 outside */
    /* Commit would make 7: nothing of it is applied. */
    EXPECT_ERR(rqv(g, XS_TRANSACTION_END, t, "T", NULL), "ENOSPC");
    EXPECT_ERR(rqv(a, XS_READ, 0, "/local/domain/3/t/b", NULL), "ENOENT");
    EXPECT_ERR(rqv(a, XS_READ, 0, "/local/domain/3/t/c", NULL), "ENOENT");
    /* Within the quota the same commit works. */
    t = txn_start(g);
    EXPECT_OK(wr(g, t, "t/b", "1"), XS_WRITE);
    EXPECT_OK(wr(g, t, "t/c", "1"), XS_WRITE);
    EXPECT_OK(rqv(g, XS_TRANSACTION_END, t, "T", NULL), XS_TRANSACTION_END);
    char *v = rd(a, 0, "/local/domain/3/t/c");
    assert_string_equal(v, "1");
    free(v);
    EXPECT_ERR(wr(g, 0, "o/y", "1"), "ENOSPC");
    store_conn_free(g);
}

static void test_txn_nodes_quota(void **state)
{
    (void)state;
    EXPECT_OK(rqv(a, STORE_XS_SET_QUOTA, 0, "transaction-nodes", "3", NULL),
              STORE_XS_SET_QUOTA);
    EXPECT_OK(rqv(a, XS_INTRODUCE, 0, "4", "0", "0", NULL), XS_INTRODUCE);
    EXPECT_OK(rqv(a, XS_MKDIR, 0, "/local/domain/4", NULL), XS_MKDIR);
    EXPECT_OK(rqv(a, XS_SET_PERMS, 0, "/local/domain/4", "n4", NULL),
              XS_SET_PERMS);
    struct store_conn *g = store_conn_new(s, 4, false, NULL, NULL);
    uint32_t t = txn_start(g);
    EXPECT_OK(wr(g, t, "a", "1"), XS_WRITE);   /* touches a and parent */
    EXPECT_OK(wr(g, t, "a", "2"), XS_WRITE);
    EXPECT_OK(wr(g, t, "b", "1"), XS_WRITE);   /* 3 nodes touched */
    EXPECT_ERR(wr(g, t, "c", "1"), "ENOSPC");
    store_conn_free(g);   /* closing aborts the transaction */
    EXPECT_ERR(rqv(a, XS_READ, 0, "/local/domain/4/a", NULL), "ENOENT");
}

static void test_txn_count_quota(void **state)
{
    (void)state;
    EXPECT_OK(rqv(a, XS_INTRODUCE, 0, "6", "0", "0", NULL), XS_INTRODUCE);
    struct store_conn *g = store_conn_new(s, 6, false, NULL, NULL);
    for (int i = 0; i < 10; i++)
        txn_start(g);
    EXPECT_ERR(rqv(g, XS_TRANSACTION_START, 0, "", NULL), "ENOSPC");
    /* RESET_WATCHES drops the transactions too. */
    EXPECT_OK(rqv(g, XS_RESET_WATCHES, 0, "", NULL), XS_RESET_WATCHES);
    txn_start(g);
    store_conn_free(g);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_isolation_and_commit), T(test_abort),
        T(test_conflict_on_read_node), T(test_no_conflict_on_other_nodes),
        T(test_conflict_on_deleted_node), T(test_two_txns_disjoint),
        T(test_rm_in_txn), T(test_watches_fire_at_commit),
        T(test_ids_and_flags), T(test_quota_all_or_nothing),
        T(test_txn_nodes_quota), T(test_txn_count_quota),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

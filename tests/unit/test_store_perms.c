/* Permissions: owner, dom0, entries, SET_TARGET, privileged-only messages,
 * stale entries after a domain is released and its number reused. */
#include "store_test_util.h"

static struct store *s;
static struct store_conn *d0, *g5, *g7;

static int setup(void **state)
{
    (void)state;
    s = store_create(NULL, NULL);
    d0 = store_conn_new(s, 0, true, NULL, NULL);
    EXPECT_OK(rqv(d0, XS_INTRODUCE, 0, "5", "0", "0", NULL), XS_INTRODUCE);
    EXPECT_OK(rqv(d0, XS_INTRODUCE, 0, "7", "0", "0", NULL), XS_INTRODUCE);
    g5 = store_conn_new(s, 5, false, NULL, NULL);
    g7 = store_conn_new(s, 7, false, NULL, NULL);
    /* The toolstack's usual layout: /local/domain/5 owned by 5. */
    EXPECT_OK(rqv(d0, XS_MKDIR, 0, "/local/domain/5", NULL), XS_MKDIR);
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, "/local/domain/5", "n5", NULL),
              XS_SET_PERMS);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_conn_free(g7);
    store_conn_free(g5);
    store_conn_free(d0);
    check_store(s);
    store_destroy(s);
    return 0;
}

static void test_owner_and_others(void **state)
{
    (void)state;
    /* 5 owns its directory; relative paths land there. */
    EXPECT_OK(wr(g5, 0, "data/x", "v"), XS_WRITE);
    char *v = rd(g5, 0, "/local/domain/5/data/x");
    assert_string_equal(v, "v");
    free(v);
    /* The new node is owned by 5 and inherits the rest. */
    struct rep r = rqv(g5, XS_GET_PERMS, 0, "data/x", NULL);
    assert_int_equal(r.len, 3);
    assert_memory_equal(r.d, "n5\0", 3);
    rep_free(r);
    /* 7 can neither read nor write there, and is not told what exists. */
    EXPECT_ERR(rqv(g7, XS_READ, 0, "/local/domain/5/data/x", NULL), "EACCES");
    EXPECT_ERR(rqv(g7, XS_READ, 0, "/local/domain/5/nothing", NULL), "EACCES");
    EXPECT_ERR(wr(g7, 0, "/local/domain/5/data/x", "evil"), "EACCES");
    EXPECT_ERR(wr(g7, 0, "/local/domain/5/new", "evil"), "EACCES");
    EXPECT_ERR(rqv(g7, XS_RM, 0, "/local/domain/5/data", NULL), "EACCES");
    /* Guests cannot touch dom0's nodes (root is n0). */
    EXPECT_ERR(wr(g5, 0, "/evil", "x"), "EACCES");
    EXPECT_ERR(rqv(g5, XS_READ, 0, "/tool", NULL), "EACCES");
    /* Grant 7 read access. */
    EXPECT_OK(rqv(g5, XS_SET_PERMS, 0, "data/x", "n5", "r7", NULL),
              XS_SET_PERMS);
    v = rd(g7, 0, "/local/domain/5/data/x");
    assert_string_equal(v, "v");
    free(v);
    EXPECT_ERR(wr(g7, 0, "/local/domain/5/data/x", "evil"), "EACCES");
    EXPECT_OK(rqv(g5, XS_SET_PERMS, 0, "data/x", "n5", "b7", NULL),
              XS_SET_PERMS);
    EXPECT_OK(wr(g7, 0, "/local/domain/5/data/x", "ok"), XS_WRITE);
    /* Everyone-else permission comes from the owner entry. */
    EXPECT_OK(rqv(g5, XS_SET_PERMS, 0, "data/x", "r5", NULL), XS_SET_PERMS);
    v = rd(g7, 0, "/local/domain/5/data/x");
    assert_string_equal(v, "ok");
    free(v);
    /* Only the privileged domain may give a node away. */
    EXPECT_ERR(rqv(g5, XS_SET_PERMS, 0, "data/x", "n7", NULL), "EPERM");
    EXPECT_ERR(rqv(g7, XS_SET_PERMS, 0, "/local/domain/5/data/x", "n7", NULL),
               "EACCES");
    /* dom0 can do anything. */
    v = rd(d0, 0, "/local/domain/5/data/x");
    assert_string_equal(v, "ok");
    free(v);
}

static void test_privileged_messages(void **state)
{
    (void)state;
    EXPECT_ERR(rqv(g5, XS_INTRODUCE, 0, "9", "0", "0", NULL), "EACCES");
    EXPECT_ERR(rqv(g5, XS_RELEASE, 0, "7", NULL), "EACCES");
    EXPECT_ERR(rqv(g5, XS_SET_TARGET, 0, "5", "7", NULL), "EACCES");
    EXPECT_ERR(rqv(g5, XS_CONTROL, 0, "help", NULL), "EACCES");
    EXPECT_ERR(rqv(g5, XS_IS_DOMAIN_INTRODUCED, 0, "7", NULL), "EACCES");
    EXPECT_ERR(rqv(g5, STORE_XS_SET_QUOTA, 0, "nodes", "99999", NULL),
               "EACCES");
    EXPECT_ERR(rqv(g5, XS_RESUME, 0, "5", NULL), "EACCES");
    /* Allowed to everyone. */
    EXPECT_OK(rqv(g5, XS_GET_DOMAIN_PATH, 0, "5", NULL), XS_GET_DOMAIN_PATH);
    struct rep r = rqv(d0, XS_IS_DOMAIN_INTRODUCED, 0, "7", NULL);
    assert_string_equal(r.d, "T");
    rep_free(r);
    r = rqv(d0, XS_IS_DOMAIN_INTRODUCED, 0, "8", NULL);
    assert_string_equal(r.d, "F");
    rep_free(r);
}

static void test_set_target(void **state)
{
    (void)state;
    /* 7 becomes a device model of 5: it acts as 5 on 5's nodes. */
    EXPECT_OK(wr(g5, 0, "dm", "x"), XS_WRITE);
    EXPECT_ERR(rqv(g7, XS_READ, 0, "/local/domain/5/dm", NULL), "EACCES");
    EXPECT_OK(rqv(d0, XS_SET_TARGET, 0, "7", "5", NULL), XS_SET_TARGET);
    char *v = rd(g7, 0, "/local/domain/5/dm");
    assert_string_equal(v, "x");
    free(v);
    EXPECT_OK(wr(g7, 0, "/local/domain/5/dm", "y"), XS_WRITE);
    EXPECT_ERR(rqv(d0, XS_SET_TARGET, 0, "42", "5", NULL), "ENOENT");
}

static void test_reused_domid_inherits_nothing(void **state)
{
    (void)state;
    EXPECT_OK(wr(d0, 0, "/shared", "secret"), XS_WRITE);
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, "/shared", "n0", "r7", NULL),
              XS_SET_PERMS);
    char *v = rd(g7, 0, "/shared");
    assert_string_equal(v, "secret");
    free(v);
    /* Domain 7 goes away; a new domain 7 appears. */
    EXPECT_OK(rqv(d0, XS_RELEASE, 0, "7", NULL), XS_RELEASE);
    assert_true(store_conn_dead(g7));
    store_conn_free(g7);
    EXPECT_OK(rqv(d0, XS_INTRODUCE, 0, "7", "0", "0", NULL), XS_INTRODUCE);
    g7 = store_conn_new(s, 7, false, NULL, NULL);
    EXPECT_ERR(rqv(g7, XS_READ, 0, "/shared", NULL), "EACCES");
    /* Setting the entry again (now) grants it. */
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, "/shared", "n0", "r7", NULL),
              XS_SET_PERMS);
    v = rd(g7, 0, "/shared");
    assert_string_equal(v, "secret");
    free(v);
}

static void test_release_unknown(void **state)
{
    (void)state;
    EXPECT_ERR(rqv(d0, XS_RELEASE, 0, "42", NULL), "ENOENT");
    /* xenstored's onearg_domain: domain 0 is EINVAL, checked first. */
    EXPECT_ERR(rqv(d0, XS_RELEASE, 0, "0", NULL), "EINVAL");
    EXPECT_ERR(rqv(d0, XS_RESUME, 0, "0", NULL), "EINVAL");
    EXPECT_ERR(rqv(d0, XS_RELEASE, 0, "abc", NULL), "EINVAL");
}

static void test_special_perms(void **state)
{
    (void)state;
    char path[64], tok[16];
    /* Default "n0": a guest's @releaseDomain watch gets nothing. */
    EXPECT_OK(rqv(g5, XS_WATCH, 0, "@releaseDomain", "tok", NULL), XS_WATCH);
    count_events(g5);       /* the registration event */
    struct rep r = rqv(d0, XS_GET_PERMS, 0, "@releaseDomain", NULL);
    assert_string_equal(rep_err(r), "");
    assert_int_equal(r.type, XS_GET_PERMS);
    assert_memory_equal(r.d, "n0", 3);
    rep_free(r);
    /* A guest may not change them; dom0 may, and then domain 5 hears. */
    EXPECT_ERR(rqv(g5, XS_SET_PERMS, 0, "@releaseDomain", "n5", NULL), "EACCES");
    EXPECT_ERR(rqv(d0, XS_SET_PERMS, 0, "@nosuch", "n0", NULL), "EINVAL");
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, "@releaseDomain", "n0", "r5", NULL),
              XS_SET_PERMS);
    EXPECT_OK(rqv(d0, XS_RELEASE, 0, "7", NULL), XS_RELEASE);
    assert_int_equal(next_event(g5, path, sizeof(path), tok, sizeof(tok)), 1);
    assert_string_equal(path, "@releaseDomain");
    /* UNWATCH of a path that cannot be a watch: not found (xenstored). */
    EXPECT_ERR(rqv(g5, XS_UNWATCH, 0, "/wc//w", "tok", NULL), "ENOENT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_owner_and_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_privileged_messages, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_set_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reused_domid_inherits_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_special_perms, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Watches: initial event, node and descendants, removal of children,
 * relative reporting, read permission, special watches, limits. */
#include "store_test_util.h"

static struct store *s;
static struct store_conn *d0, *w0, *g5;

static int setup(void **state)
{
    (void)state;
    s = store_create(NULL, NULL);
    d0 = store_conn_new(s, 0, true, NULL, NULL);
    w0 = store_conn_new(s, 0, true, NULL, NULL);
    EXPECT_OK(rqv(d0, XS_INTRODUCE, 0, "5", "0", "0", NULL), XS_INTRODUCE);
    EXPECT_OK(rqv(d0, XS_MKDIR, 0, "/local/domain/5", NULL), XS_MKDIR);
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, "/local/domain/5", "n5", NULL),
              XS_SET_PERMS);
    g5 = store_conn_new(s, 5, false, NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_conn_free(g5);
    store_conn_free(w0);
    store_conn_free(d0);
    check_store(s);
    store_destroy(s);
    return 0;
}

static void expect_event(struct store_conn *c, const char *path,
                         const char *token)
{
    char p[4096], t[256];
    assert_int_equal(next_event(c, p, sizeof(p), t, sizeof(t)), 1);
    assert_string_equal(p, path);
    assert_string_equal(t, token);
}

static void test_initial_and_tree(void **state)
{
    (void)state;
    EXPECT_OK(rqv(w0, XS_WATCH, 0, "/w", "tok", NULL), XS_WATCH);
    expect_event(w0, "/w", "tok");      /* fires once on registration */
    assert_int_equal(count_events(w0), 0);
    EXPECT_OK(wr(d0, 0, "/w", "1"), XS_WRITE);
    expect_event(w0, "/w", "tok");
    EXPECT_OK(wr(d0, 0, "/w/a/b", "1"), XS_WRITE);
    expect_event(w0, "/w/a/b", "tok");  /* descendants; implicit parent
                                           /w/a is not reported apart */
    assert_int_equal(count_events(w0), 0);
    EXPECT_OK(wr(d0, 0, "/wx", "1"), XS_WRITE);   /* not a child of /w */
    EXPECT_OK(wr(d0, 0, "/other", "1"), XS_WRITE);
    assert_int_equal(count_events(w0), 0);
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, "/w/a", "n0", NULL), XS_SET_PERMS);
    expect_event(w0, "/w/a", "tok");
    /* MKDIR of an existing node changes nothing and fires nothing. */
    EXPECT_OK(rqv(d0, XS_MKDIR, 0, "/w/a", NULL), XS_MKDIR);
    assert_int_equal(count_events(w0), 0);
    /* Two watches on one connection, same path, other token. */
    EXPECT_OK(rqv(w0, XS_WATCH, 0, "/w", "tok2", NULL), XS_WATCH);
    expect_event(w0, "/w", "tok2");
    EXPECT_ERR(rqv(w0, XS_WATCH, 0, "/w", "tok2", NULL), "EEXIST");
    EXPECT_OK(wr(d0, 0, "/w", "2"), XS_WRITE);
    assert_int_equal(count_events(w0), 2);
    EXPECT_OK(rqv(w0, XS_UNWATCH, 0, "/w", "tok2", NULL), XS_UNWATCH);
    EXPECT_ERR(rqv(w0, XS_UNWATCH, 0, "/w", "tok2", NULL), "ENOENT");
    EXPECT_OK(wr(d0, 0, "/w", "3"), XS_WRITE);
    assert_int_equal(count_events(w0), 1);
}

static void test_rm_fires_children(void **state)
{
    (void)state;
    EXPECT_OK(wr(d0, 0, "/r/a/b/c", "1"), XS_WRITE);
    EXPECT_OK(rqv(w0, XS_WATCH, 0, "/r/a/b/c", "deep", NULL), XS_WATCH);
    EXPECT_OK(rqv(w0, XS_WATCH, 0, "/r", "top", NULL), XS_WATCH);
    EXPECT_OK(rqv(w0, XS_WATCH, 0, "/r/a/b/c/none", "never", NULL), XS_WATCH);
    assert_int_equal(count_events(w0), 3);
    EXPECT_OK(rqv(d0, XS_RM, 0, "/r/a", NULL), XS_RM);
    /* A watch on a removed child fires (exact); the one above fires once
     * for the removed node; one below a removed node that never existed
     * does not. */
    char p[256], t[64];
    int deep = 0, top = 0, never = 0;
    while (next_event(w0, p, sizeof(p), t, sizeof(t))) {
        if (!strcmp(t, "deep")) {
            assert_string_equal(p, "/r/a/b/c");
            deep++;
        } else if (!strcmp(t, "top")) {
            assert_string_equal(p, "/r/a");
            top++;
        } else {
            never++;
        }
    }
    assert_int_equal(deep, 1);
    assert_int_equal(top, 1);
    assert_int_equal(never, 0);
}

static void test_relative(void **state)
{
    (void)state;
    EXPECT_OK(rqv(g5, XS_WATCH, 0, "device", "rel", NULL), XS_WATCH);
    expect_event(g5, "device", "rel");
    EXPECT_OK(wr(g5, 0, "device/vif/0", "x"), XS_WRITE);
    expect_event(g5, "device/vif/0", "rel");
    EXPECT_OK(rqv(g5, XS_WATCH, 0, "/local/domain/5/device", "abs", NULL),
              XS_WATCH);
    expect_event(g5, "/local/domain/5/device", "abs");
    EXPECT_OK(wr(g5, 0, "device/x", "1"), XS_WRITE);
    char p[256], t[64];
    int n = 0;
    while (next_event(g5, p, sizeof(p), t, sizeof(t))) {
        n++;
        assert_string_equal(p, !strcmp(t, "rel") ? "device/x"
                                                  : "/local/domain/5/device/x");
    }
    assert_int_equal(n, 2);
}

static void test_never_report_unreadable(void **state)
{
    (void)state;
    /* Domain 5 watches the root: it must not learn of dom0's nodes. */
    EXPECT_OK(rqv(g5, XS_WATCH, 0, "/", "root", NULL), XS_WATCH);
    expect_event(g5, "/", "root");
    EXPECT_OK(wr(d0, 0, "/secret/key", "x"), XS_WRITE);
    assert_int_equal(count_events(g5), 0);
    EXPECT_OK(rqv(d0, XS_RM, 0, "/secret", NULL), XS_RM);
    assert_int_equal(count_events(g5), 0);
    /* Its own nodes it hears about. */
    EXPECT_OK(wr(g5, 0, "mine", "x"), XS_WRITE);
    expect_event(g5, "/local/domain/5/mine", "root");
    /* A node readable by 5 is reported. */
    EXPECT_OK(wr(d0, 0, "/pub", "x"), XS_WRITE);
    assert_int_equal(count_events(g5), 0);
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, "/pub", "r0", NULL), XS_SET_PERMS);
    expect_event(g5, "/pub", "root");
}

static void test_special(void **state)
{
    (void)state;
    EXPECT_OK(rqv(w0, XS_WATCH, 0, "@introduceDomain", "i", NULL), XS_WATCH);
    EXPECT_OK(rqv(w0, XS_WATCH, 0, "@releaseDomain", "r", NULL), XS_WATCH);
    EXPECT_OK(rqv(g5, XS_WATCH, 0, "@releaseDomain", "g", NULL), XS_WATCH);
    assert_int_equal(count_events(w0), 2);
    assert_int_equal(count_events(g5), 1);
    EXPECT_OK(rqv(d0, XS_INTRODUCE, 0, "9", "0", "0", NULL), XS_INTRODUCE);
    expect_event(w0, "@introduceDomain", "i");
    EXPECT_OK(rqv(d0, XS_RELEASE, 0, "9", NULL), XS_RELEASE);
    expect_event(w0, "@releaseDomain", "r");
    assert_int_equal(count_events(w0), 0);
    /* Guests are not told about other domains coming and going. */
    assert_int_equal(count_events(g5), 0);
}

static void test_release_drops_watches(void **state)
{
    (void)state;
    EXPECT_OK(rqv(g5, XS_WATCH, 0, "device", "x", NULL), XS_WATCH);
    assert_int_equal(count_events(g5), 1);
    EXPECT_OK(rqv(d0, XS_RELEASE, 0, "5", NULL), XS_RELEASE);
    EXPECT_OK(wr(d0, 0, "/local/domain/5/device/y", "1"), XS_WRITE);
    assert_int_equal(count_events(g5), 0);
}

static void test_watch_quota_and_bad(void **state)
{
    (void)state;
    char tok[16];
    for (int i = 0; i < 128; i++) {
        snprintf(tok, sizeof(tok), "t%d", i);
        EXPECT_OK(rqv(g5, XS_WATCH, 0, "device", tok, NULL), XS_WATCH);
        count_events(g5);
    }
    EXPECT_ERR(rqv(g5, XS_WATCH, 0, "device", "one-more", NULL), "E2BIG");
    EXPECT_OK(rqv(g5, XS_RESET_WATCHES, 0, "", NULL), XS_RESET_WATCHES);
    EXPECT_OK(rqv(g5, XS_WATCH, 0, "device", "again", NULL), XS_WATCH);
    EXPECT_ERR(rqv(w0, XS_WATCH, 0, "/a//b", "x", NULL), "EINVAL");
    EXPECT_ERR(rqv(w0, XS_WATCH, 0, "/a", NULL), "EINVAL");
}

static void test_unread_events_bounded(void **state)
{
    (void)state;
    /* A watcher that never reads: its queue stops growing; the writer and
     * other clients keep working. */
    EXPECT_OK(rqv(w0, XS_WATCH, 0, "/flood", "f", NULL), XS_WATCH);
    static char path[3001];
    memset(path, 'p', sizeof(path) - 1);
    memcpy(path, "/flood/", 7);
    path[sizeof(path) - 1] = 0;
    for (int i = 0; i < 2000; i++)   /* 2000 events of 3 KiB: 6 MiB */
        EXPECT_OK(wr(d0, 0, path, "v"), XS_WRITE);
    int n = count_events(w0);
    assert_true(n > 100);
    assert_true(n < 2000);
    char *v = rd(d0, 0, path);
    assert_non_null(v);
    free(v);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_initial_and_tree), T(test_rm_fires_children), T(test_relative),
        T(test_never_report_unreadable), T(test_special),
        T(test_release_drops_watches), T(test_watch_quota_and_bad),
        T(test_unread_events_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* XenStore tree operations through the wire handlers (domain 0). */
#include "store_test_util.h"

static struct store *s;
static struct store_conn *c;

static int setup(void **state)
{
    (void)state;
    s = store_create(NULL, NULL);
    c = store_conn_new(s, 0, true, NULL, NULL);
    return s && c ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    store_conn_free(c);
    check_store(s);
    store_destroy(s);
    return 0;
}

static void test_write_read(void **state)
{
    (void)state;
    EXPECT_OK(wr(c, 0, "/a/b/c", "hello"), XS_WRITE);
    char *v = rd(c, 0, "/a/b/c");
    assert_non_null(v);
    assert_string_equal(v, "hello");
    free(v);
    /* Implicit parents exist with empty values. */
    v = rd(c, 0, "/a/b");
    assert_non_null(v);
    assert_string_equal(v, "");
    free(v);
    /* Overwrite. */
    EXPECT_OK(wr(c, 0, "/a/b/c", "x"), XS_WRITE);
    v = rd(c, 0, "/a/b/c");
    assert_string_equal(v, "x");
    free(v);
    EXPECT_ERR(rqv(c, XS_READ, 0, "/nope", NULL), "ENOENT");
}

static void test_binary_value(void **state)
{
    (void)state;
    const char msg[] = "/bin\0a\0b\0c";   /* value "a\0b\0c" (5 bytes) */
    EXPECT_OK(rq(c, XS_WRITE, 0, msg, sizeof(msg) - 1), XS_WRITE);
    struct rep r = rqv(c, XS_READ, 0, "/bin", NULL);
    assert_int_equal(r.type, XS_READ);
    assert_int_equal(r.len, 5);
    assert_memory_equal(r.d, "a\0b\0c", 5);
    rep_free(r);
}

static void test_directory(void **state)
{
    (void)state;
    EXPECT_OK(wr(c, 0, "/d/x", "1"), XS_WRITE);
    EXPECT_OK(wr(c, 0, "/d/y", "2"), XS_WRITE);
    EXPECT_OK(rqv(c, XS_MKDIR, 0, "/d/z", NULL), XS_MKDIR);
    struct rep r = rqv(c, XS_DIRECTORY, 0, "/d", NULL);
    assert_int_equal(r.type, XS_DIRECTORY);
    assert_int_equal(r.len, 6);
    assert_memory_equal(r.d, "x\0y\0z\0", 6);
    rep_free(r);
    /* DIRECTORY_PART: generation, names, then an empty string at the end. */
    r = rqv(c, XS_DIRECTORY_PART, 0, "/d", "0", NULL);
    assert_int_equal(r.type, XS_DIRECTORY_PART);
    size_t gl = strlen(r.d) + 1;
    assert_true(gl > 1);
    assert_int_equal(r.len, gl + 7);
    assert_memory_equal(r.d + gl, "x\0y\0z\0\0", 7);
    rep_free(r);
    r = rqv(c, XS_DIRECTORY_PART, 0, "/d", "4", NULL);
    gl = strlen(r.d) + 1;
    assert_int_equal(r.len, gl + 3);
    assert_memory_equal(r.d + gl, "z\0\0", 3);
    rep_free(r);
    r = rqv(c, XS_DIRECTORY_PART, 0, "/d", "100", NULL);
    gl = strlen(r.d) + 1;
    assert_int_equal(r.len, gl + 1);
    rep_free(r);
    /* MKDIR of an existing node keeps its value. */
    EXPECT_OK(rqv(c, XS_MKDIR, 0, "/d/x", NULL), XS_MKDIR);
    char *v = rd(c, 0, "/d/x");
    assert_string_equal(v, "1");
    free(v);
}

static void test_directory_part_many(void **state)
{
    (void)state;
    /* More names than fit one reply: the client pages with offsets. */
    char path[64], name[40];
    for (int i = 0; i < 300; i++) {
        snprintf(path, sizeof(path), "/big/child-with-a-long-name-%04d", i);
        EXPECT_OK(rqv(c, XS_MKDIR, 0, path, NULL), XS_MKDIR);
    }
    EXPECT_ERR(rqv(c, XS_DIRECTORY, 0, "/big", NULL), "E2BIG");
    unsigned off = 0, seen = 0;
    char gen0[32] = "";
    for (;;) {
        char o[16];
        snprintf(o, sizeof(o), "%u", off);
        struct rep r = rqv(c, XS_DIRECTORY_PART, 0, "/big", o, NULL);
        assert_int_equal(r.type, XS_DIRECTORY_PART);
        assert_true(r.len <= 4096);
        if (!gen0[0])
            snprintf(gen0, sizeof(gen0), "%s", r.d);
        assert_string_equal(r.d, gen0);   /* unchanged while paging */
        size_t p = strlen(r.d) + 1;
        bool end = false;
        while (p < r.len) {
            size_t l = strlen(r.d + p);
            if (l == 0) {
                end = true;
                break;
            }
            snprintf(name, sizeof(name), "child-with-a-long-name-%04u", seen);
            assert_string_equal(r.d + p, name);
            seen++;
            off += (unsigned)l + 1;
            p += l + 1;
        }
        rep_free(r);
        if (end)
            break;
    }
    assert_int_equal(seen, 300);
}

static void test_rm(void **state)
{
    (void)state;
    EXPECT_OK(wr(c, 0, "/r/a/b/c", "1"), XS_WRITE);
    EXPECT_OK(wr(c, 0, "/r/a/d", "2"), XS_WRITE);
    EXPECT_OK(wr(c, 0, "/r/keep", "3"), XS_WRITE);
    EXPECT_OK(rqv(c, XS_RM, 0, "/r/a", NULL), XS_RM);
    EXPECT_ERR(rqv(c, XS_READ, 0, "/r/a/b/c", NULL), "ENOENT");
    EXPECT_ERR(rqv(c, XS_READ, 0, "/r/a", NULL), "ENOENT");
    struct rep r = rqv(c, XS_DIRECTORY, 0, "/r", NULL);
    assert_int_equal(r.len, 5);
    assert_memory_equal(r.d, "keep\0", 5);
    rep_free(r);
    /* Removing what is gone is fine if the parent exists, else ENOENT. */
    EXPECT_OK(rqv(c, XS_RM, 0, "/r/a", NULL), XS_RM);
    EXPECT_ERR(rqv(c, XS_RM, 0, "/r/x/y", NULL), "ENOENT");
    EXPECT_ERR(rqv(c, XS_RM, 0, "/", NULL), "EINVAL");
}

static void test_deep_tree_no_recursion(void **state)
{
    (void)state;
    /* A 1500-level path: creation and removal walk it without recursion. */
    static char path[3100];
    size_t off = 0;
    path[off++] = '/';
    path[off++] = 'q';
    while (off + 2 < 3000) {
        path[off++] = '/';
        path[off++] = 'x';
    }
    path[off] = 0;
    EXPECT_OK(wr(c, 0, path, "deep"), XS_WRITE);
    char *v = rd(c, 0, path);
    assert_string_equal(v, "deep");
    free(v);
    EXPECT_OK(rqv(c, XS_RM, 0, "/q", NULL), XS_RM);
    EXPECT_ERR(rqv(c, XS_READ, 0, path, NULL), "ENOENT");
}

static void test_relative_paths(void **state)
{
    (void)state;
    EXPECT_OK(wr(c, 0, "rel/x", "1"), XS_WRITE);
    char *v = rd(c, 0, "/local/domain/0/rel/x");
    assert_string_equal(v, "1");
    free(v);
    /* One digit, several, and the largest domid (formatted by hand). */
    static const char *const ids[][2] = {
        { "7", "/local/domain/7" }, { "0", "/local/domain/0" },
        { "10", "/local/domain/10" }, { "32751", "/local/domain/32751" },
    };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct rep r = rqv(c, XS_GET_DOMAIN_PATH, 0, ids[i][0], NULL);
        assert_string_equal(r.d, ids[i][1]);
        rep_free(r);
    }
    EXPECT_ERR(rqv(c, XS_GET_DOMAIN_PATH, 0, "x7", NULL), "EINVAL");
}

static void test_bad_input(void **state)
{
    (void)state;
    EXPECT_ERR(rqv(c, XS_READ, 0, "/a/", NULL), "EINVAL");
    EXPECT_ERR(rqv(c, XS_READ, 0, "/a//b", NULL), "EINVAL");
    EXPECT_ERR(rqv(c, XS_READ, 0, "/a b", NULL), "EINVAL");
    EXPECT_ERR(rqv(c, XS_READ, 0, "@x", NULL), "EINVAL");
    EXPECT_ERR(rqv(c, XS_READ, 0, "", NULL), "EINVAL");
    /* Missing NUL, or more than one string where one is expected. */
    EXPECT_ERR(rq(c, XS_READ, 0, "/a", 2), "EINVAL");
    EXPECT_ERR(rq(c, XS_READ, 0, "/a\0/b", 6), "EINVAL");
    EXPECT_ERR(rq(c, XS_WRITE, 0, "/nonul", 6), "EINVAL");
    EXPECT_ERR(rq(c, XS_READ, 0, "", 0), "EINVAL");
    /* A path too long. */
    static char path[3200];
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    EXPECT_ERR(rqv(c, XS_READ, 0, path, NULL), "EINVAL");
    /* Unknown and server-to-client types. */
    EXPECT_ERR(rqv(c, 999, 0, "/a", NULL), "ENOSYS");
    EXPECT_ERR(rqv(c, XS_WATCH_EVENT, 0, "/a", NULL), "ENOSYS");
    EXPECT_ERR(rqv(c, XS_ERROR, 0, "/a", NULL), "ENOSYS");
    /* Unknown transaction. */
    EXPECT_ERR(rqv(c, XS_READ, 12345, "/tool", NULL), "ENOENT");
    /* Bad permissions. */
    EXPECT_OK(wr(c, 0, "/p", ""), XS_WRITE);
    EXPECT_ERR(rqv(c, XS_SET_PERMS, 0, "/p", "x1", NULL), "EINVAL");
    EXPECT_ERR(rqv(c, XS_SET_PERMS, 0, "/p", "r", NULL), "EINVAL");
    EXPECT_ERR(rqv(c, XS_SET_PERMS, 0, "/p", "r1x", NULL), "EINVAL");
    EXPECT_ERR(rqv(c, XS_SET_PERMS, 0, "/p", "r99999", NULL), "EINVAL");
    EXPECT_ERR(rqv(c, XS_SET_PERMS, 0, "/p", NULL), "EINVAL");
}

static void test_oversize_kills_connection(void **state)
{
    (void)state;
    struct store_conn *c2 = store_conn_new(s, 0, true, NULL, NULL);
    struct xsd_sockmsg h = { XS_READ, 1, 0, XENSTORE_PAYLOAD_MAX + 1 };
    assert_int_equal(store_conn_feed(c2, &h, sizeof(h)), sizeof(h));
    assert_true(store_conn_dead(c2));
    store_conn_free(c2);
    /* The other connection is unaffected. */
    char *v = rd(c, 0, "/tool");
    assert_non_null(v);
    free(v);
}

static void test_split_feed(void **state)
{
    (void)state;
    /* A request arriving one byte at a time. */
    struct store_conn *c2 = store_conn_new(s, 0, true, NULL, NULL);
    char msg[64];
    struct xsd_sockmsg h = { XS_READ, 77, 0, 6 };
    memcpy(msg, &h, sizeof(h));
    memcpy(msg + sizeof(h), "/tool", 6);
    for (size_t i = 0; i < sizeof(h) + 6; i++)
        assert_int_equal(store_conn_feed(c2, msg + i, 1), 1);
    const void *p;
    size_t n = store_conn_out_peek(c2, &p);
    assert_int_equal(n, sizeof(h));
    struct xsd_sockmsg rh;
    memcpy(&rh, p, sizeof(rh));
    assert_int_equal(rh.type, XS_READ);
    assert_int_equal(rh.req_id, 77);
    assert_int_equal(rh.len, 0);
    store_conn_out_consume(c2, n);
    store_conn_free(c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_part_many, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_tree_no_recursion, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_kills_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_split_feed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

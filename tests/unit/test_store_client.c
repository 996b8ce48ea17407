/*
 * The store's in-process API (store_client_*): each call and its errors
 * (-ENOENT, -EACCES, -EPERM, -EINVAL on malformed paths and arguments,
 * -E2BIG, quotas, -ESRCH after release), watches with callbacks delivered
 * on a util_loop, and a multi-threaded test: several threads call the API
 * on one client while a guest ring is served and watch callbacks run on
 * the loop's thread (suite 'concurrency': run under ThreadSanitizer).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "store_test_util.h"
#include "store_ring_guest.h"
#include "xenkvm/util.h"

static struct store *s;
static struct store_client *d0;          /* domain 0, with a loop */
static struct util_loop *loop;

static int setup(void **state)
{
    (void)state;
    s = store_create(&gring_quiet_ops, NULL);
    loop = util_loop_create();
    assert_non_null(s);
    assert_non_null(loop);
    assert_int_equal(store_client_new(s, 0, loop, &d0), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_client_free(d0);
    util_loop_destroy(loop);
    char why[256];
    int bad = store_check(s, why, sizeof(why));
    store_destroy(s);
    if (bad)
        fail_msg("store_check: %s", why);
    return 0;
}

/* Give domain dom a home it owns; a client acting as it. */
static struct store_client *guest_client(domid_t dom)
{
    char p[32];
    snprintf(p, sizeof(p), "/local/domain/%u", dom);
    struct xs_permissions own = { .id = dom, .perms = XS_PERM_NONE };
    assert_int_equal(store_client_mkdir(d0, p), 0);
    assert_int_equal(store_client_set_perms(d0, p, &own, 1), 0);
    struct store_client *c;
    assert_int_equal(store_client_new(s, dom, loop, &c), 0);
    return c;
}

static void check_value(struct store_client *c, const char *path,
                         const char *want)
{
    char *v = NULL;
    size_t len = 99;
    assert_int_equal(store_client_read(c, path, &v, &len), 0);
    assert_int_equal(len, strlen(want));
    assert_string_equal(v, want);
    free(v);
}

static void test_read_write(void **state)
{
    (void)state;
    char *v;
    size_t len;
    assert_int_equal(store_client_read(d0, "/a/b", &v, &len), -ENOENT);
    assert_int_equal(store_client_write(d0, "/a/b", "hello", 5), 0);
    check_value(d0, "/a/b", "hello");
    check_value(d0, "/a", "");             /* the parent came to be */
    /* Bytes, not strings: a NUL inside is kept, len says how many. */
    assert_int_equal(store_client_write(d0, "/a/bin", "x\0y", 3), 0);
    assert_int_equal(store_client_read(d0, "/a/bin", &v, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "x\0y", 4);
    free(v);
    assert_int_equal(store_client_printf(d0, "/a/n", "%d-%s", 42, "x"), 0);
    check_value(d0, "/a/n", "42-x");
    assert_int_equal(store_client_write(d0, "/a/empty", NULL, 0), 0);
    check_value(d0, "/a/empty", "");
    /* The same node through the wire sees what the API wrote. */
    struct store_conn *w = store_conn_new(s, 0, true, NULL, NULL);
    char *r = rd(w, 0, "/a/b");
    assert_string_equal(r, "hello");
    free(r);
    store_conn_free(w);
}

static void test_mkdir_rm(void **state)
{
    (void)state;
    assert_int_equal(store_client_mkdir(d0, "/m/x/y"), 0);
    check_value(d0, "/m/x/y", "");
    assert_int_equal(store_client_write(d0, "/m/x/y", "v", 1), 0);
    assert_int_equal(store_client_mkdir(d0, "/m/x/y"), 0);   /* kept */
    check_value(d0, "/m/x/y", "v");
    assert_int_equal(store_client_rm(d0, "/m/x"), 0);        /* subtree */
    char *v;
    assert_int_equal(store_client_read(d0, "/m/x/y", &v, NULL), -ENOENT);
    assert_int_equal(store_client_read(d0, "/m/x", &v, NULL), -ENOENT);
    assert_int_equal(store_client_rm(d0, "/m/x"), 0);   /* gone, parent there */
    assert_int_equal(store_client_rm(d0, "/m/nope/z"), -ENOENT);
    assert_int_equal(store_client_rm(d0, "/"), -EINVAL);
}

static void test_bad_paths(void **state)
{
    (void)state;
    static const char *const bad[] = { "", "/a/", "/a//b", "/a b", "/a\n",
                                       "/a*", "@introduceDomain" };
    char *v;
    struct xs_permissions own = { .id = 0, .perms = XS_PERM_NONE };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(store_client_read(d0, bad[i], &v, NULL), -EINVAL);
        assert_int_equal(store_client_write(d0, bad[i], "x", 1), -EINVAL);
        assert_int_equal(store_client_mkdir(d0, bad[i]), -EINVAL);
        assert_int_equal(store_client_rm(d0, bad[i]), -EINVAL);
        assert_int_equal(store_client_set_perms(d0, bad[i], &own, 1), -EINVAL);
    }
    assert_int_equal(store_client_write(d0, NULL, "x", 1), -EINVAL);
    /* Longer than XENSTORE_ABS_PATH_MAX. */
    char longp[XENSTORE_ABS_PATH_MAX + 8];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = 0;
    assert_int_equal(store_client_mkdir(d0, longp), -EINVAL);
    /* More than one XS_WRITE could carry. */
    static char big[XENSTORE_PAYLOAD_MAX];
    assert_int_equal(store_client_write(d0, "/big", big, sizeof(big)), -E2BIG);
    assert_int_equal(store_client_write(d0, "/big", big, sizeof(big) - 6), 0);
    /* Bad permission entries. */
    assert_int_equal(store_client_mkdir(d0, "/p"), 0);
    struct xs_permissions p = { .id = DOMID_FIRST_RESERVED, .perms = 0 };
    assert_int_equal(store_client_set_perms(d0, "/p", &p, 1), -EINVAL);
    p = (struct xs_permissions){ .id = 1, .perms = XS_PERM_OWNER };
    assert_int_equal(store_client_set_perms(d0, "/p", &p, 1), -EINVAL);
    assert_int_equal(store_client_set_perms(d0, "/p", &own, 0), -EINVAL);
    /* A client for a domid no domain can have. */
    struct store_client *c;
    assert_int_equal(store_client_new(s, DOMID_FIRST_RESERVED, NULL, &c),
                     -EINVAL);
}

static void test_perms(void **state)
{
    (void)state;
    assert_int_equal(store_client_write(d0, "/local/domain/0/name", "D0", 2),
                     0);
    struct store_client *g = guest_client(5);
    char *v;
    /* Relative paths are under its home; it owns what it creates. */
    assert_int_equal(store_client_write(g, "data/x", "1", 1), 0);
    check_value(d0, "/local/domain/5/data/x", "1");
    check_value(g, "/local/domain/5/data/x", "1");
    /* dom0's nodes are not its to read or write. */
    assert_int_equal(store_client_read(g, "/local/domain/0/name", &v, NULL),
                     -EACCES);
    assert_int_equal(store_client_write(g, "/local/domain/0/name", "x", 1),
                     -EACCES);
    assert_int_equal(store_client_rm(g, "/local/domain/0/name"), -EACCES);
    /* Until dom0 lets it read. */
    struct xs_permissions rd5[2] = { { .id = 0, .perms = XS_PERM_NONE },
                                     { .id = 5, .perms = XS_PERM_READ } };
    assert_int_equal(store_client_set_perms(d0, "/local/domain/0/name", rd5, 2),
                     0);
    check_value(g, "/local/domain/0/name", "D0");
    assert_int_equal(store_client_write(g, "/local/domain/0/name", "x", 1),
                     -EACCES);
    /* It may not change permissions of what it does not own, nor give
     * away what it owns. */
    assert_int_equal(store_client_set_perms(g, "/local/domain/0/name", rd5, 2),
                     -EACCES);
    struct xs_permissions to0 = { .id = 0, .perms = XS_PERM_READ };
    assert_int_equal(store_client_set_perms(g, "data/x", &to0, 1), -EPERM);
    struct xs_permissions mine = { .id = 5, .perms = XS_PERM_READ };
    assert_int_equal(store_client_set_perms(g, "data/x", &mine, 1), 0);
    store_client_free(g);
}

static void ignore(void *opaque, const char *path)
{
    (void)opaque;
    (void)path;
}

static void test_quota(void **state)
{
    (void)state;
    struct store_client *g = guest_client(6);
    /* Its home and three more (store_quota_set's sign is being changed:
     * 0 either way). */
    assert_int_equal(store_quota_set(s, 6, STORE_Q_NODES, 4), 0);
    assert_int_equal(store_client_write(g, "q1", "a", 1), 0);
    assert_int_equal(store_client_write(g, "q2", "a", 1), 0);
    assert_int_equal(store_client_write(g, "q3", "a", 1), 0);
    assert_int_equal(store_client_write(g, "q4", "a", 1), -ENOSPC);
    assert_int_equal(store_client_rm(g, "q3"), 0);
    assert_int_equal(store_client_write(g, "q4", "a", 1), 0);
    /* Watches count against its watch quota. */
    assert_int_equal(store_quota_set(s, 6, STORE_Q_WATCHES, 1), 0);
    assert_int_equal(store_client_watch(g, "q1", ignore, NULL), 0);
    assert_int_equal(store_client_watch(g, "q2", ignore, NULL),
                     -E2BIG);
    /* Path length counts from its home for guests (path-max quota). */
    assert_int_equal(store_quota_set(s, 6, STORE_Q_PATH, 8), 0);
    char *v;
    assert_int_equal(store_client_read(g, "abcdefgh", &v, NULL), -ENOENT);
    assert_int_equal(store_client_read(g, "abcdefghi", &v, NULL), -EINVAL);
    store_client_free(g);
    util_loop_run_once(loop, 0);
}

/* ---- watches ---- */

struct seen {
    char path[8][128];
    unsigned n;
    struct store_client *c;     /* read the value back from the callback */
    char value[64];
};

static void record(void *opaque, const char *path)
{
    struct seen *w = opaque;
    if (w->n < 8)
        snprintf(w->path[w->n], sizeof(w->path[0]), "%s", path);
    w->n++;
    if (w->c) {
        char *v;
        if (store_client_read(w->c, path, &v, NULL) == 0) {
            snprintf(w->value, sizeof(w->value), "%s", v);
            free(v);
        }
    }
}

/* Run the loop until nothing more is delivered. */
static void drain(void)
{
    while (util_loop_run_once(loop, 0) > 0)
        ;
}

static void test_watch(void **state)
{
    (void)state;
    struct seen w = { .c = d0 };
    assert_int_equal(store_client_watch(d0, "/w", record, &w), 0);
    drain();
    assert_int_equal(w.n, 1);                 /* the first, at once */
    assert_string_equal(w.path[0], "/w");
    assert_int_equal(store_client_write(d0, "/w/a", "va", 2), 0);
    drain();
    assert_int_equal(w.n, 2);
    assert_string_equal(w.path[1], "/w/a");
    assert_string_equal(w.value, "va");       /* the callback read it */
    assert_int_equal(store_client_write(d0, "/other", "x", 1), 0);
    drain();
    assert_int_equal(w.n, 2);
    /* Unwatched: nothing more, and a second unwatch finds nothing. */
    assert_int_equal(store_client_unwatch(d0, "/w", record, &w), 0);
    assert_int_equal(store_client_write(d0, "/w/b", "x", 1), 0);
    drain();
    assert_int_equal(w.n, 2);
    assert_int_equal(store_client_unwatch(d0, "/w", record, &w), -ENOENT);
    assert_int_equal(store_client_unwatch(d0, "/w//", record, &w), -ENOENT);
    /* A client without a loop has no watches. */
    struct store_client *nl;
    assert_int_equal(store_client_new(s, 0, NULL, &nl), 0);
    assert_int_equal(store_client_watch(nl, "/w", record, &w), -EINVAL);
    store_client_free(nl);
    assert_int_equal(store_client_watch(d0, "/bad/", record, &w), -EINVAL);
}

static void test_watch_relative_and_guest(void **state)
{
    (void)state;
    struct store_client *g = guest_client(8);
    assert_int_equal(store_client_mkdir(d0, "/local/domain/8/data"), 0);
    struct seen w = { 0 };
    assert_int_equal(store_client_watch(g, "data", record, &w), 0);
    assert_int_equal(store_client_write(d0, "/local/domain/8/data/k", "1", 1),
                     0);
    drain();
    assert_int_equal(w.n, 2);
    assert_string_equal(w.path[0], "data");     /* relative, as asked */
    assert_string_equal(w.path[1], "data/k");
    /* A change it may not read is not reported to it. */
    struct seen w0 = { 0 };
    assert_int_equal(store_client_mkdir(d0, "/secret"), 0);
    assert_int_equal(store_client_watch(g, "/secret", record, &w0), 0);
    drain();
    unsigned before = w0.n;
    assert_int_equal(store_client_write(d0, "/secret/x", "1", 1), 0);
    drain();
    assert_int_equal(w0.n, before);
    store_client_free(g);
    drain();
}

static void unwatch_self(void *opaque, const char *path)
{
    struct seen *w = opaque;
    (void)path;
    w->n++;
    assert_int_equal(store_client_unwatch(d0, "/self", unwatch_self, w), 0);
}

static void test_unwatch_from_callback(void **state)
{
    (void)state;
    struct seen w = { 0 };
    assert_int_equal(store_client_watch(d0, "/self", unwatch_self, &w), 0);
    assert_int_equal(store_client_write(d0, "/self/a", "1", 1), 0);
    drain();
    assert_int_equal(w.n, 1);     /* the second event found no watch */
}

static void test_special_and_release(void **state)
{
    (void)state;
    struct seen intro = { 0 }, rel = { 0 };
    assert_int_equal(store_client_watch(d0, "@introduceDomain", record,
                                        &intro), 0);
    assert_int_equal(store_client_watch(d0, "@releaseDomain", record, &rel),
                     0);
    drain();
    struct xenstore_domain_interface *intf = calloc(1, 4096);
    struct store_conn *ring;
    assert_int_equal(store_domain_introduce(s, 9, intf, gring_no_notify, NULL,
                                            &ring), 0);
    struct store_client *g = guest_client(9);
    assert_int_equal(store_client_write(g, "x", "1", 1), 0);
    drain();
    assert_int_equal(intro.n, 2);
    assert_string_equal(intro.path[1], "@introduceDomain");
    assert_int_equal(store_domain_release(s, 9), 0);
    drain();
    assert_int_equal(rel.n, 2);
    assert_string_equal(rel.path[1], "@releaseDomain");
    /* The domain it acted as is gone. */
    char *v;
    assert_int_equal(store_client_read(g, "x", &v, NULL), -ESRCH);
    assert_int_equal(store_client_write(g, "x", "1", 1), -ESRCH);
    store_client_free(g);
    store_ring_detach(ring);
    free(intf);
}

/* ---- several threads while a guest ring is served ---- */

#define MT_THREADS 3
#define MT_OPS 300
#define MT_DOM 4

static atomic_int mt_fail;
static atomic_uint mt_events;
static struct gring mt_guest;

/* The watch callback: the guest's data watch (opaque NULL) counts. */
static void mt_count(void *opaque, const char *path)
{
    char *v;
    /* The callback calls the store while the writers do. */
    if (store_client_read(d0, path, &v, NULL) == 0)
        free(v);
    if (!opaque)
        atomic_fetch_add(&mt_events, 1);
}

static void *mt_api(void *arg)
{
    long t = (long)arg;
    char p[64], want[32];
    for (int i = 0; i < MT_OPS; i++) {
        snprintf(p, sizeof(p), "/mt/t%ld/n%d", t, i % 7);
        snprintf(want, sizeof(want), "%ld:%d", t, i);
        char *v = NULL;
        if (store_client_printf(d0, p, "%s", want) ||
            store_client_read(d0, p, &v, NULL) || strcmp(v, want))
            atomic_fetch_add(&mt_fail, 1);
        free(v);
        /* The guest's home too: its watch and ours fire. */
        snprintf(p, sizeof(p), "/local/domain/%d/data/t%ld", MT_DOM, t);
        if (store_client_write(d0, p, want, strlen(want)))
            atomic_fetch_add(&mt_fail, 1);
        if (i % 50 == 49) {
            snprintf(p, sizeof(p), "/mt/t%ld", t);
            if (store_client_rm(d0, p))
                atomic_fetch_add(&mt_fail, 1);
        }
        /* Watches come and go while callbacks run on the loop. */
        if (i % 10 == 0) {
            snprintf(p, sizeof(p), "/mt/t%ld", t);
            if (store_client_watch(d0, p, mt_count, (void *)t) ||
                store_client_unwatch(d0, p, mt_count, (void *)t))
                atomic_fetch_add(&mt_fail, 1);
        }
    }
    return NULL;
}

/* The guest: requests on its ring (writes, reads, a watch of its own). */
static void *mt_ring(void *arg)
{
    (void)arg;
    struct gring *g = &mt_guest;
    uint32_t id, type, len;
    char *d;
    static const char w[] = "data\0tok";
    if (gring_send(g, XS_WATCH, 0, w, sizeof(w), &id) ||
        gring_take(g, id, &type, &d, &len) || type != XS_WATCH)
        atomic_fetch_add(&mt_fail, 1);
    else
        free(d);
    for (int i = 0; i < MT_OPS; i++) {
        char msg[64];
        int n = snprintf(msg, sizeof(msg), "data/g%d", i % 5);
        uint32_t want = i % 2 ? XS_READ : XS_WRITE;
        size_t l = (size_t)n + 1;
        if (want == XS_WRITE) {
            memcpy(msg + l, "v", 1);
            l++;
        }
        if (gring_send(g, want, 0, msg, (uint32_t)l, &id) ||
            gring_take(g, id, &type, &d, &len)) {
            atomic_fetch_add(&mt_fail, 1);
            break;
        }
        /* A read may come before the first write of that node. */
        if (type != want && !(want == XS_READ && type == XS_ERROR))
            atomic_fetch_add(&mt_fail, 1);
        free(d);
    }
    return NULL;
}

static void test_threads_and_ring(void **state)
{
    (void)state;
    struct store_client *gc = guest_client(MT_DOM);   /* its home */
    store_client_free(gc);
    mt_guest.id = MT_DOM;
    mt_guest.intf = calloc(1, 4096);
    assert_int_equal(store_domain_introduce(s, MT_DOM, mt_guest.intf,
                                            gring_no_notify, NULL,
                                            &mt_guest.c), 0);
    char p[64];
    snprintf(p, sizeof(p), "/local/domain/%d/data", MT_DOM);
    assert_int_equal(store_client_watch(d0, p, mt_count, NULL), 0);
    assert_int_equal(util_loop_start(loop, "test-loop"), 0);
    pthread_t th[MT_THREADS], ring;
    assert_int_equal(pthread_create(&ring, NULL, mt_ring, NULL), 0);
    for (long t = 0; t < MT_THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, mt_api, (void *)t), 0);
    for (int t = 0; t < MT_THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_join(ring, NULL);
    /* The loop delivers on its own time: wait (bounded) for the first of
     * this watch's events before dropping it. */
    for (int i = 0; i < 10000 && !atomic_load(&mt_events); i++)
        usleep(1000);
    assert_int_equal(store_client_unwatch(d0, p, mt_count, NULL), 0);
    util_loop_stop(loop);
    assert_int_equal(atomic_load(&mt_fail), 0);
    assert_true(atomic_load(&mt_events) > 0);
    assert_true(mt_guest.events > 0);      /* the guest's watch fired too */
    char why[256];
    if (store_check(s, why, sizeof(why)))
        fail_msg("store_check: %s", why);
    assert_int_equal(store_domain_release(s, MT_DOM), 0);
    store_ring_detach(mt_guest.c);
    free(mt_guest.intf);
    drain();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_rm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_perms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_relative_and_guest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unwatch_from_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_special_and_release, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_threads_and_ring, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

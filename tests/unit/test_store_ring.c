/* The guest ring transport with a ring page in plain memory and a
 * simulated guest on the other side (the Linux xenbus client's rules:
 * write what fits, publish the producer index, notify; read, publish the
 * consumer index, notify). */

#include "store_test_util.h"

static struct store *s;
static struct store_conn *d0, *ring, *first;
static struct xenstore_domain_interface *intf;
static int notified;

static void notify(void *arg)
{
    (void)arg;
    notified++;
}

/* Guest side: put up to len bytes into the request ring. (Acquire and
 * release on the indexes rather than fences: the same order, and the
 * ThreadSanitizer build accepts it.) */
static size_t g_write(const void *data, size_t len)
{
    XENSTORE_RING_IDX cons = __atomic_load_n(&intf->req_cons, __ATOMIC_ACQUIRE);
    XENSTORE_RING_IDX prod = intf->req_prod;
    size_t space = XENSTORE_RING_SIZE - (XENSTORE_RING_IDX)(prod - cons);
    size_t n = 0;
    const char *p = data;
    while (n < len && n < space) {
        intf->req[MASK_XENSTORE_IDX(prod + n)] = p[n];
        n++;
    }
    __atomic_store_n(&intf->req_prod, prod + (XENSTORE_RING_IDX)n,
                     __ATOMIC_RELEASE);
    return n;
}

static size_t g_read(void *buf, size_t max)
{
    XENSTORE_RING_IDX cons = intf->rsp_cons;
    XENSTORE_RING_IDX prod = __atomic_load_n(&intf->rsp_prod, __ATOMIC_ACQUIRE);
    size_t n = 0;
    char *p = buf;
    while (n < max && (XENSTORE_RING_IDX)(cons + n) != prod) {
        p[n] = intf->rsp[MASK_XENSTORE_IDX(cons + n)];
        n++;
    }
    __atomic_store_n(&intf->rsp_cons, cons + (XENSTORE_RING_IDX)n,
                     __ATOMIC_RELEASE);
    return n;
}

/* Send a whole message, kicking whenever the ring is full; gather the
 * replies' bytes meanwhile into out (so big replies can flow). */
static size_t g_send(uint32_t type, uint32_t req, const void *payload,
                     uint32_t len, char *out, size_t outmax)
{
    static char msg[XENSTORE_PAYLOAD_MAX + 64];
    struct xsd_sockmsg h = { type, req, 0, len };
    memcpy(msg, &h, sizeof(h));
    memcpy(msg + sizeof(h), payload, len);
    size_t total = sizeof(h) + len, sent = 0, got = 0;
    int spins = 0;
    while (sent < total) {
        sent += g_write(msg + sent, total - sent);
        store_ring_kick(ring);
        got += g_read(out + got, outmax - got);
        assert_true(++spins < 1000);
    }
    return got;
}

/* Read one whole message (kicking so the store can push more). */
static size_t g_recv(char *out, size_t have, size_t max, struct xsd_sockmsg *h)
{
    int spins = 0;
    for (;;) {
        if (have >= sizeof(*h)) {
            memcpy(h, out, sizeof(*h));
            if (have >= sizeof(*h) + h->len)
                return have;
        }
        have += g_read(out + have, max - have);
        store_ring_kick(ring);
        assert_true(++spins < 1000);
    }
}

static int setup(void **state)
{
    (void)state;
    s = store_create(NULL, NULL);
    d0 = store_conn_new(s, 0, true, NULL, NULL);
    intf = calloc(1, 4096);
    notified = 0;
    EXPECT_OK(rqv(d0, XS_MKDIR, 0, "/local/domain/2", NULL), XS_MKDIR);
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, "/local/domain/2", "n2", NULL),
              XS_SET_PERMS);
    assert_int_equal(store_domain_introduce(s, 2, intf, notify, NULL,
                                            &first), 0);
    assert_non_null(first);
    ring = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_domain_release(s, 2);
    store_ring_detach(first);
    store_conn_free(d0);
    check_store(s);
    store_destroy(s);
    free(intf);
    return 0;
}

/* The connection store_domain_introduce made: found through a kick-free
 * path, attaching again must fail (one ring per domain). */
static void find_ring(void)
{
    assert_null(store_ring_attach(s, 2, intf, notify, NULL));
}

static struct store_conn *attach_fresh(void)
{
    /* Re-attach under our control: release, introduce with a new page. */
    store_domain_release(s, 2);
    memset(intf, 0, 4096);
    struct store_conn *c = store_ring_attach(s, 2, intf, notify, NULL);
    assert_non_null(c);
    /* A new domain 2 inherits nothing: the toolstack sets perms again. */
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, "/local/domain/2", "n2", NULL),
              XS_SET_PERMS);
    return c;
}

static void test_features_and_simple(void **state)
{
    (void)state;
    find_ring();
    ring = attach_fresh();
    assert_int_equal(intf->server_features,
                     XENSTORE_SERVER_FEATURE_RECONNECTION |
                     XENSTORE_SERVER_FEATURE_ERROR);
    char out[8192];
    const char w[] = "data\0hello";
    size_t got = g_send(XS_WRITE, 1, w, sizeof(w) - 1, out, sizeof(out));
    struct xsd_sockmsg h;
    got = g_recv(out, got, sizeof(out), &h);
    assert_int_equal(h.type, XS_WRITE);
    assert_int_equal(h.req_id, 1);
    assert_string_equal(out + sizeof(h), "OK");
    assert_true(notified > 0);
    char *v = rd(d0, 0, "/local/domain/2/data");
    assert_string_equal(v, "hello");
    free(v);
    store_ring_detach(ring);
}

static void test_pieces_and_wrap(void **state)
{
    (void)state;
    ring = attach_fresh();
    /* Indexes near the 32-bit wrap and mid-ring. */
    XENSTORE_RING_IDX start = 0xFFFFFFFFu - 700;
    intf->req_cons = intf->req_prod = start;
    intf->rsp_cons = intf->rsp_prod = start + 13;
    /* A 3000-byte write arrives in many pieces and wraps several times
     * (above the default node-size quota of a guest: raise it). */
    assert_int_equal(store_quota_set(s, 2, STORE_Q_NODE_SIZE, 4096), 0);
    static char payload[3100], out[16384];
    memcpy(payload, "big", 4);
    memset(payload + 4, 'z', 3000);
    size_t got = 0;
    struct xsd_sockmsg h = { XS_WRITE, 9, 0, 3004 };
    static char msg[4000];
    memcpy(msg, &h, sizeof(h));
    memcpy(msg + sizeof(h), payload, 3004);
    size_t total = sizeof(h) + 3004, sent = 0;
    while (sent < total) {
        size_t chunk = total - sent < 37 ? total - sent : 37;
        sent += g_write(msg + sent, chunk);
        store_ring_kick(ring);
        got += g_read(out + got, sizeof(out) - got);
    }
    got = g_recv(out, got, sizeof(out), &h);
    assert_int_equal(h.type, XS_WRITE);
    assert_int_equal(h.req_id, 9);
    /* The 3000-byte reply is bigger than the ring: it flows as the guest
     * reads. */
    got = g_send(XS_READ, 10, "big", 4, out, sizeof(out));
    got = g_recv(out, got, sizeof(out), &h);
    assert_int_equal(h.type, XS_READ);
    assert_int_equal(h.len, 3000);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(out[sizeof(h) + i], 'z');
    /* Several requests in one go; replies in order. */
    char two[64];
    struct xsd_sockmsg a = { XS_GET_DOMAIN_PATH, 21, 0, 2 };
    struct xsd_sockmsg b = { XS_GET_DOMAIN_PATH, 22, 0, 2 };
    memcpy(two, &a, sizeof(a));
    memcpy(two + sizeof(a), "2", 2);
    memcpy(two + sizeof(a) + 2, &b, sizeof(b));
    memcpy(two + 2 * sizeof(a) + 2, "3", 2);
    assert_int_equal(g_write(two, 2 * sizeof(a) + 4), 2 * sizeof(a) + 4);
    store_ring_kick(ring);
    got = g_recv(out, 0, sizeof(out), &h);
    assert_int_equal(h.req_id, 21);
    assert_string_equal(out + sizeof(h), "/local/domain/2");
    size_t first = sizeof(h) + h.len;
    memmove(out, out + first, got - first);
    got = g_recv(out, got - first, sizeof(out), &h);
    assert_int_equal(h.req_id, 22);
    assert_string_equal(out + sizeof(h), "/local/domain/3");
    store_ring_detach(ring);
}

static void test_hostile_indexes(void **state)
{
    (void)state;
    ring = attach_fresh();
    intf->req_cons = 0;
    intf->req_prod = XENSTORE_RING_SIZE + 1;   /* claims more than a ring */
    store_ring_kick(ring);
    assert_int_equal(intf->error, XENSTORE_ERROR_RINGIDX);
    assert_true(store_conn_dead(ring));
    /* The store goes on serving others. */
    char *v = rd(d0, 0, "/tool");
    assert_non_null(v);
    free(v);
    /* Bad response indexes too. */
    store_ring_detach(ring);
    ring = attach_fresh();
    intf->rsp_cons = 5000;
    intf->rsp_prod = 0;
    char out[256];
    g_send(XS_GET_DOMAIN_PATH, 1, "2", 2, out, 0);
    assert_int_equal(intf->error, XENSTORE_ERROR_RINGIDX);
    store_ring_detach(ring);
}

/* A fresh ring for domain 2 whose guest watches "w" (relative: its
 * /local/domain/2/w) and has read the watch's reply. */
static void attach_with_watch(void)
{
    ring = attach_fresh();
    EXPECT_OK(rqv(d0, XS_MKDIR, 0, "/local/domain/2/w", NULL), XS_MKDIR);
    char out[8192];
    struct xsd_sockmsg h;
    size_t got = g_send(XS_WATCH, 1, "w\0tok", 6, out, sizeof(out));
    g_recv(out, got, sizeof(out), &h);
    assert_int_equal(h.type, XS_WATCH);
}

static void test_oversize_and_reconnect(void **state)
{
    (void)state;
    attach_with_watch();
    char out[8192];
    struct xsd_sockmsg h;
    size_t got;
    /* A header announcing more than XENSTORE_PAYLOAD_MAX. */
    struct xsd_sockmsg bad = { XS_READ, 2, 0, XENSTORE_PAYLOAD_MAX + 1 };
    g_write(&bad, sizeof(bad));
    store_ring_kick(ring);
    assert_int_equal(intf->error, XENSTORE_ERROR_PROTO);
    assert_true(store_conn_dead(ring));
    /* The guest asks to reconnect (XENSTORE_RECONNECT): fresh state. */
    intf->connection = XENSTORE_RECONNECT;
    store_ring_kick(ring);
    assert_int_equal(intf->connection, XENSTORE_CONNECTED);
    assert_int_equal(intf->error, XENSTORE_ERROR_NONE);
    assert_int_equal(intf->req_prod, 0);
    assert_int_equal(intf->rsp_prod, 0);
    assert_false(store_conn_dead(ring));
    /* Its old watch is gone: a write fires nothing into the ring. */
    EXPECT_OK(wr(d0, 0, "/local/domain/2/w/x", "1"), XS_WRITE);
    assert_int_equal(intf->rsp_prod, 0);
    got = g_send(XS_GET_DOMAIN_PATH, 3, "2", 2, out, sizeof(out));
    got = g_recv(out, got, sizeof(out), &h);
    assert_int_equal(h.req_id, 3);
    store_ring_detach(ring);
}

/*
 * SET_FEATURE can take the reconnection and error features away from a
 * domain's ring. Then the connection-state field carries no valid data
 * (docs/misc/xenstore-ring.txt): a guest writing XENSTORE_RECONNECT there
 * must not get its watches and transactions reset, and the store must
 * not write the error field.
 */
static void test_features_withdrawn(void **state)
{
    (void)state;
    attach_with_watch();
    char out[8192];
    struct xsd_sockmsg h;
    size_t got;
    EXPECT_OK(rqv(d0, STORE_XS_SET_FEATURE, 0, "2", "0", NULL),
              STORE_XS_SET_FEATURE);
    assert_int_equal(intf->server_features, 0);
    intf->connection = XENSTORE_RECONNECT;
    store_ring_kick(ring);
    assert_int_equal(intf->connection, XENSTORE_RECONNECT);   /* ignored */
    struct store_usage u;
    assert_int_equal(store_domain_usage(s, 2, &u), 0);
    assert_int_equal(u.watches, 1);
    /* Still served; then a protocol error: given up, error not written. */
    got = g_send(XS_GET_DOMAIN_PATH, 3, "2", 2, out, sizeof(out));
    got = g_recv(out, got, sizeof(out), &h);
    assert_int_equal(h.req_id, 3);
    intf->req_cons = 0;
    intf->req_prod = XENSTORE_RING_SIZE + 1;
    store_ring_kick(ring);
    assert_true(store_conn_dead(ring));
    assert_int_equal(intf->error, XENSTORE_ERROR_NONE);
    store_ring_detach(ring);
}

static void test_guest_not_reading(void **state)
{
    (void)state;
    ring = attach_fresh();
    /* The guest sends requests but never reads a reply: the store stops
     * taking requests (response ring full, then the outstanding quota). */
    char msg[64];
    struct xsd_sockmsg h = { XS_GET_DOMAIN_PATH, 1, 0, 2 };
    memcpy(msg, &h, sizeof(h));
    memcpy(msg + sizeof(h), "2", 2);
    size_t one = sizeof(h) + 2, accepted = 0;
    for (int i = 0; i < 500; i++) {
        size_t n = g_write(msg, one);
        if (n < one) {
            /* Undo a partial message so the test stays byte-exact. */
            intf->req_prod -= (XENSTORE_RING_IDX)n;
            break;
        }
        accepted++;
        store_ring_kick(ring);
    }
    assert_true(accepted < 500);
    assert_true(intf->rsp_prod - intf->rsp_cons <= XENSTORE_RING_SIZE);
    /* The store itself is fine. */
    char *v = rd(d0, 0, "/tool");
    assert_non_null(v);
    free(v);
    store_ring_detach(ring);
}

static void test_watch_event_via_ring(void **state)
{
    (void)state;
    ring = attach_fresh();
    char out[8192];
    struct xsd_sockmsg h;
    size_t got = g_send(XS_WATCH, 1, "dev\0T", 6, out, sizeof(out));
    got = g_recv(out, got, sizeof(out), &h);
    assert_int_equal(h.type, XS_WATCH);
    size_t l = sizeof(h) + h.len;
    memmove(out, out + l, got - l);
    got = g_recv(out, got - l, sizeof(out), &h);
    assert_int_equal(h.type, XS_WATCH_EVENT);
    assert_memory_equal(out + sizeof(h), "dev\0T\0", 6);
    l = sizeof(h) + h.len;
    memmove(out, out + l, got - l);
    got -= l;
    /* A write by dom0 reaches the guest with no kick from it. */
    int before = notified;
    EXPECT_OK(wr(d0, 0, "/local/domain/2/dev/x", "1"), XS_WRITE);
    assert_true(notified > before);
    got = g_recv(out, got, sizeof(out), &h);
    assert_int_equal(h.type, XS_WATCH_EVENT);
    assert_memory_equal(out + sizeof(h), "dev/x\0T\0", 8);
    store_ring_detach(ring);
}

static void test_release_makes_ring_inert(void **state)
{
    (void)state;
    /* After release the page is not touched and kicks are harmless, even
     * though the VMM still holds the connection. */
    assert_int_equal(store_domain_release(s, 2), 0);
    struct xsd_sockmsg h = { XS_GET_DOMAIN_PATH, 1, 0, 2 };
    g_write(&h, sizeof(h));
    g_write("2", 2);
    XENSTORE_RING_IDX before = intf->req_cons;
    store_ring_kick(first);
    assert_int_equal(intf->req_cons, before);
    assert_int_equal(intf->rsp_prod, 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_features_and_simple), T(test_pieces_and_wrap),
        T(test_hostile_indexes), T(test_oversize_and_reconnect),
        T(test_features_withdrawn),
        T(test_guest_not_reading), T(test_watch_event_via_ring),
        T(test_release_makes_ring_inert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Concurrency harness for the store: in each round, one thread per guest
 * drives that guest's ring with random requests (writes, reads, mkdir, rm
 * of subtrees, directory, set-perms, transactions, watches), a toolstack
 * thread on a dom0 connection writes and removes in a dom0-owned, guest-
 * readable directory of each guest's home (firing the guests' watches)
 * and releases a random guest mid-round, and a checker thread runs the
 * invariant checker while all of that goes on. After each round (threads
 * joined) the invariants are checked again and each guest must be within
 * every quota; released guests are detached and introduced afresh with a
 * new ring, as the VMM does. Small quotas put the quota paths under load.
 *
 * Bounded: XENKVM_STORE_STRESS_ROUNDS rounds (default 12) of
 * XENKVM_STORE_STRESS_OPS requests per guest (default 400). Run it under
 * ThreadSanitizer (suite 'concurrency').
 */
#include <pthread.h>
#include <stdatomic.h>

#include "store_test_util.h"
#include "store_ring_guest.h"

#define NGUESTS 3
#define FIRST_DOM 11

static struct store *s;
static struct gring *guests[NGUESTS];
static unsigned nops = 400;
static atomic_int failures;
static atomic_int round_over;
static atomic_uint replies_ok, replies_err, events_seen;
static char failmsg[512];
static pthread_mutex_t failmsg_lock = PTHREAD_MUTEX_INITIALIZER;


static void failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failed(const char *fmt, ...)
{
    pthread_mutex_lock(&failmsg_lock);
    if (!atomic_load(&failures)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(failmsg, sizeof(failmsg), fmt, ap);
        va_end(ap);
    }
    atomic_fetch_add(&failures, 1);
    pthread_mutex_unlock(&failmsg_lock);
}

static uint32_t rnd(uint64_t *st)
{
    *st ^= *st << 13;
    *st ^= *st >> 7;
    *st ^= *st << 17;
    return (uint32_t)(*st >> 16);
}

/* One request on g: 0 with the reply (type, payload freed), -1 if the
 * connection is gone (released) -- the worker then stops. */
static int greq(struct gring *g, uint32_t type, uint32_t tx, const char *a,
                size_t alen, uint32_t *rtype, char *out, size_t outlen)
{
    uint32_t id, t, len;
    char *d;
    if (gring_send(g, type, tx, a, (uint32_t)alen, &id) ||
        gring_take(g, id, &t, &d, &len)) {
        if (!store_conn_dead(g->c))
            failed("domain %u: no reply to type %u", g->id, type);
        return -1;
    }
    if (t != type && t != XS_ERROR)
        failed("domain %u: reply type %u to %u", g->id, t, type);
    atomic_fetch_add(t == XS_ERROR ? &replies_err : &replies_ok, 1);
    if (out)
        snprintf(out, outlen, "%s", d);
    free(d);
    *rtype = t;
    return 0;
}

static size_t args2(char *buf, const char *a, const char *b, size_t blen)
{
    size_t al = strlen(a) + 1;
    memcpy(buf, a, al);
    memcpy(buf + al, b, blen);
    return al + blen;
}

static void *guest_thread(void *arg)
{
    struct gring *g = arg;
    uint64_t st = 0x9e3779b97f4a7c15ull ^ ((uint64_t)g->id << 32) ^
                  (uint64_t)g->next_req;
    uint32_t txs[4] = { 0 };
    char buf[4096], p[128], out[64];
    static const char *const dirs[] = { "a", "a/b", "a/b/c", "d", "ts/a",
                                        "/local/domain/11/a",
                                        "/local/domain/12/d" };
    for (unsigned i = 0; i < nops; i++) {
        uint32_t r = rnd(&st), rt = 0;
        uint32_t tx = txs[r % 4];
        snprintf(p, sizeof(p), "%s/n%u", dirs[(r >> 3) % 7], (r >> 8) % 12);
        size_t n;
        int rc = 0;
        switch ((r >> 12) % 12) {
        case 0: case 1: case 2:
            n = args2(buf, p, "value-value-value", 1 + (r >> 20) % 16);
            rc = greq(g, XS_WRITE, tx, buf, n, &rt, NULL, 0);
            break;
        case 3:
            rc = greq(g, XS_READ, tx, p, strlen(p) + 1, &rt, NULL, 0);
            break;
        case 4:
            rc = greq(g, XS_RM, tx, dirs[(r >> 3) % 7],
                      strlen(dirs[(r >> 3) % 7]) + 1, &rt, NULL, 0);
            break;
        case 5:
            rc = greq(g, XS_DIRECTORY, tx, dirs[(r >> 3) % 7],
                      strlen(dirs[(r >> 3) % 7]) + 1, &rt, NULL, 0);
            break;
        case 6:
            rc = greq(g, XS_MKDIR, tx, p, strlen(p) + 1, &rt, NULL, 0);
            break;
        case 7: {
            char own[8], other[8];
            snprintf(own, sizeof(own), "n%u", g->id);
            snprintf(other, sizeof(other), "r%u",
                     FIRST_DOM + (r >> 20) % NGUESTS);
            n = args2(buf, p, own, strlen(own) + 1);
            memcpy(buf + n, other, strlen(other) + 1);
            n += strlen(other) + 1;
            rc = greq(g, XS_SET_PERMS, tx, buf, n, &rt, NULL, 0);
            break;
        }
        case 8:
            if (txs[r % 4]) {
                rc = greq(g, XS_TRANSACTION_END, txs[r % 4],
                          (r >> 20) & 1 ? "T" : "F", 2, &rt, NULL, 0);
                txs[r % 4] = 0;
            } else {
                rc = greq(g, XS_TRANSACTION_START, 0, "", 1, &rt, out,
                          sizeof(out));
                if (!rc && rt == XS_TRANSACTION_START)
                    txs[r % 4] = (uint32_t)strtoul(out, NULL, 10);
            }
            break;
        case 9: case 10: {
            char tok[24];
            snprintf(tok, sizeof(tok), "t%u", (r >> 20) % 6);
            n = args2(buf, dirs[(r >> 3) % 7], tok, strlen(tok) + 1);
            rc = greq(g, (r >> 24) & 1 ? XS_WATCH : XS_UNWATCH, 0, buf, n,
                      &rt, NULL, 0);
            break;
        }
        default:
            rc = greq(g, XS_GET_PERMS, tx, p, strlen(p) + 1, &rt, NULL, 0);
            break;
        }
        if (rc)
            break;       /* released under us: the connection is inert */
    }
    atomic_fetch_add(&events_seen, g->events);
    g->events = 0;
    return NULL;
}

static void *toolstack_thread(void *arg)
{
    uint64_t st = (uint64_t)(uintptr_t)arg * 2654435761u + 1;
    struct store_conn *d0 = store_conn_new(s, 0, true, NULL, NULL);
    unsigned victim = rnd(&st) % (NGUESTS + 1);   /* NGUESTS: none */
    unsigned at = rnd(&st) % nops;
    for (unsigned i = 0; i < nops; i++) {
        uint32_t r = rnd(&st), rt, rl;
        char p[96], *d;
        /* Under the guest's "ts", which dom0 owns: what dom0 creates in
         * a guest-owned directory is the guest's (charged without a
         * check, as in xenstored), which would blur the quota check. */
        snprintf(p, sizeof(p), "/local/domain/%u/ts/%s/n%u",
                 FIRST_DOM + r % NGUESTS, (r >> 4) & 1 ? "a" : "d",
                 (r >> 8) % 12);
        char buf[160];
        size_t pl = strlen(p) + 1;
        memcpy(buf, p, pl);
        memcpy(buf + pl, "dom0", 4);
        if (store_conn_request(d0, (r >> 16) % 5 ? XS_WRITE : XS_RM, 0, buf,
                               (uint32_t)((r >> 16) % 5 ? pl + 4 : pl),
                               &rt, &d, &rl) == 0)
            free(d);
        if (i == at && victim < NGUESTS)
            store_domain_release(s, guests[victim]->id);
        /* Drain the dom0 connection's events (it watches nothing, but
         * keep the queue honest). */
        const void *q;
        size_t n = store_conn_out_peek(d0, &q);
        if (n)
            store_conn_out_consume(d0, n);
    }
    store_conn_free(d0);
    return NULL;
}

static void *checker_thread(void *arg)
{
    (void)arg;
    char why[256];
    while (!atomic_load(&round_over)) {
        if (store_check(s, why, sizeof(why)))
            failed("invariant during the round: %s", why);
        sched_yield();
    }
    return NULL;
}

/* Give domain id a home and a fresh ring. */
static void introduce(unsigned i, struct store_conn *d0)
{
    struct gring *g = guests[i];
    domid_t id = (domid_t)(FIRST_DOM + i);
    char p[32], o[8];
    if (!g) {
        g = guests[i] = calloc(1, sizeof(*g));
        g->intf = calloc(1, 4096);
    }
    memset(g->intf, 0, 4096);
    g->have = 0;
    g->id = id;
    snprintf(p, sizeof(p), "/local/domain/%u", id);
    snprintf(o, sizeof(o), "n%u", id);
    EXPECT_OK(rqv(d0, XS_MKDIR, 0, p, NULL), XS_MKDIR);
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, p, o, NULL), XS_SET_PERMS);
    char ts[40], rd_[8];
    snprintf(ts, sizeof(ts), "%s/ts", p);
    snprintf(rd_, sizeof(rd_), "r%u", id);
    EXPECT_OK(rqv(d0, XS_MKDIR, 0, ts, NULL), XS_MKDIR);
    EXPECT_OK(rqv(d0, XS_SET_PERMS, 0, ts, "n0", rd_, NULL), XS_SET_PERMS);
    assert_int_equal(store_domain_introduce(s, id, g->intf, gring_no_notify, NULL,
                                            &g->c), 0);
    /* Small quotas: the quota paths run all the time. */
    assert_int_equal(store_quota_set(s, id, STORE_Q_NODES, 40), 0);
    assert_int_equal(store_quota_set(s, id, STORE_Q_MEMORY, 24000), 0);
    assert_int_equal(store_quota_set(s, id, STORE_Q_WATCHES, 8), 0);
    assert_int_equal(store_quota_set(s, id, STORE_Q_TRANSACTIONS, 3), 0);
    assert_int_equal(store_quota_set(s, id, STORE_Q_TXN_NODES, 30), 0);
}

static void within_quotas(domid_t id)
{
    struct store_usage u;
    unsigned q[STORE_Q_NR];
    if (store_domain_usage(s, id, &u))
        return;
    for (unsigned k = 0; k < STORE_Q_NR; k++)
        assert_int_equal(store_quota_get(s, id, k, &q[k]), 0);
    assert_true(u.nodes <= q[STORE_Q_NODES]);
    assert_true(u.watches <= q[STORE_Q_WATCHES]);
    assert_true(u.txns <= q[STORE_Q_TRANSACTIONS]);
    assert_true(u.memory + u.txn_memory + u.watch_memory + u.out_memory <=
                q[STORE_Q_MEMORY]);
}

static unsigned env_or(const char *name, unsigned def)
{
    const char *v = getenv(name);
    return v && *v ? (unsigned)strtoul(v, NULL, 10) : def;
}

static void test_store_stress(void **state)
{
    (void)state;
    unsigned rounds = env_or("XENKVM_STORE_STRESS_ROUNDS", 12);
    nops = env_or("XENKVM_STORE_STRESS_OPS", 400);
    s = store_create(&gring_quiet_ops, NULL);
    struct store_conn *d0 = store_conn_new(s, 0, true, NULL, NULL);
    for (unsigned i = 0; i < NGUESTS; i++)
        introduce(i, d0);
    unsigned releases = 0;
    for (unsigned round = 0; round < rounds; round++) {
        pthread_t th[NGUESTS + 2];
        atomic_store(&round_over, 0);
        for (unsigned i = 0; i < NGUESTS; i++) {
            guests[i]->next_req = round * 100000;
            assert_int_equal(pthread_create(&th[i], NULL, guest_thread,
                                            guests[i]), 0);
        }
        assert_int_equal(pthread_create(&th[NGUESTS], NULL, toolstack_thread,
                                        (void *)(uintptr_t)(round + 1)), 0);
        assert_int_equal(pthread_create(&th[NGUESTS + 1], NULL,
                                        checker_thread, NULL), 0);
        for (unsigned i = 0; i <= NGUESTS; i++)
            pthread_join(th[i], NULL);
        atomic_store(&round_over, 1);
        pthread_join(th[NGUESTS + 1], NULL);
        if (atomic_load(&failures))
            fail_msg("round %u: %s", round, failmsg);
        check_store(s);
        for (unsigned i = 0; i < NGUESTS; i++) {
            within_quotas(guests[i]->id);
            if (store_conn_dead(guests[i]->c)) {
                /* Released (or given up): free the inert ring, remove
                 * the home as xl does, introduce a new domain. */
                struct store_usage u;
                if (store_domain_usage(s, guests[i]->id, &u) == 0)
                    store_domain_release(s, guests[i]->id);
                store_ring_detach(guests[i]->c);
                char p[32];
                snprintf(p, sizeof(p), "/local/domain/%u", guests[i]->id);
                EXPECT_OK(rqv(d0, XS_RM, 0, p, NULL), XS_RM);
                introduce(i, d0);
                releases++;
            }
        }
        check_store(s);
    }
    print_message("%u rounds, %u requests per guest per round, %u releases; "
                  "replies %u ok, %u errors; %u watch events\n", rounds, nops,
                  releases, atomic_load(&replies_ok),
                  atomic_load(&replies_err), atomic_load(&events_seen));
    /* The load was real: most requests did something, watches fired. */
    assert_true(atomic_load(&replies_ok) * 3 > atomic_load(&replies_err));
    assert_true(atomic_load(&events_seen) > 0);
    for (unsigned i = 0; i < NGUESTS; i++) {
        store_domain_release(s, guests[i]->id);
        store_ring_detach(guests[i]->c);
        free(guests[i]->intf);
        free(guests[i]);
    }
    check_store(s);
    store_conn_free(d0);
    store_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * xs_stress: many concurrent libxenstore clients doing read-modify-write
 * transactions, then proof that no update was lost.
 *
 * Each client is a thread with its own xs_open() connection (so the daemon
 * sees N independent clients). Two phases:
 *  1. mixed: every transaction reads and increments one of K shared counters
 *     (chosen round-robin) and the client's own counter. Conflicting
 *     transactions fail with EAGAIN and are retried.
 *  2. disjoint: every transaction reads and increments only the client's
 *     own counter in a second subtree. Xen's per-node conflict detection
 *     (xenstore.txt TRANSACTION_END; tools/xenstored transaction.c) says no
 *     transaction may fail here: nothing it read was changed by another.
 * Afterwards every counter must equal the number of committed increments
 * computed from the schedule: a lost update (a commit that should have
 * failed) shows as a smaller value, a double commit as a larger one.
 *
 * Usage: XENSTORED_PATH=sock xs_stress [-c CLIENTS] [-n ITERS] [-k SHARED]
 * Exit 0 when every check holds, 1 otherwise; prints conflict rates.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xenstore.h>

#define STRESS_ROOT "/xs-stress"
#define STRESS_MAX_RETRIES 100000 /* per transaction: a livelock is a failure */

struct stress_client {
    pthread_t thread;
    unsigned int id;
    uint64_t commits[2];
    uint64_t conflicts[2];
    char error[256];
};

static unsigned int nclients = 50, niters = 100, nshared = 4;
static pthread_barrier_t start_line[2];

static double now_sec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read a decimal counter inside transaction t; false with errno on error. */
static bool read_counter(struct xs_handle *h, xs_transaction_t t,
                         const char *path, unsigned long *val)
{
    unsigned int len;
    char *s = xs_read(h, t, path, &len), *end;

    if (!s)
        return false;
    *val = strtoul(s, &end, 10);
    if (end == s || *end) {
        free(s);
        errno = EPROTO;
        return false;
    }
    free(s);
    return true;
}

static bool write_counter(struct xs_handle *h, xs_transaction_t t,
                          const char *path, unsigned long val)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%lu", val);
    return xs_write(h, t, path, buf, strlen(buf));
}

/*
 * One read-modify-write transaction over @npaths counters, retried on
 * EAGAIN (counted in *conflicts). Any other failure: false, message in c.
 */
static bool rmw(struct xs_handle *h, struct stress_client *c,
                const char *const *paths, unsigned int npaths,
                uint64_t *conflicts)
{
    for (unsigned int attempt = 0; attempt < STRESS_MAX_RETRIES; attempt++) {
        xs_transaction_t t = xs_transaction_start(h);
        unsigned long v[2];
        unsigned int i;

        if (t == XBT_NULL) {
            snprintf(c->error, sizeof(c->error), "transaction_start: %s",
                     strerror(errno));
            return false;
        }
        for (i = 0; i < npaths; i++) {
            if (!read_counter(h, t, paths[i], &v[i]))
                break;
            if (!write_counter(h, t, paths[i], v[i] + 1))
                break;
        }
        if (i < npaths) {
            int err = errno;

            xs_transaction_end(h, t, true);
            /* C xenstored may also report a conflict on an access. */
            if (err == EAGAIN) {
                (*conflicts)++;
                continue;
            }
            snprintf(c->error, sizeof(c->error), "read/write %s: %s",
                     paths[i], strerror(err));
            return false;
        }
        if (xs_transaction_end(h, t, false))
            return true;
        if (errno != EAGAIN) {
            snprintf(c->error, sizeof(c->error), "transaction_end: %s",
                     strerror(errno));
            return false;
        }
        (*conflicts)++;
    }
    snprintf(c->error, sizeof(c->error), "no commit after %d retries",
             STRESS_MAX_RETRIES);
    return false;
}

static void *client_main(void *arg)
{
    struct stress_client *c = arg;
    struct xs_handle *h = xs_open(0);
    char shared[64], own[64], own2[64];
    const char *paths[2];

    if (!h)
        snprintf(c->error, sizeof(c->error), "xs_open: %s", strerror(errno));
    snprintf(own, sizeof(own), STRESS_ROOT "/own/%u", c->id);
    snprintf(own2, sizeof(own2), STRESS_ROOT "/disjoint/%u", c->id);

    /* Phase 1: shared + own. Every client reaches each barrier, even after
     * an error, so the others are not left waiting. */
    pthread_barrier_wait(&start_line[0]);
    for (unsigned int j = 0; h && !c->error[0] && j < niters; j++) {
        snprintf(shared, sizeof(shared), STRESS_ROOT "/shared/%u",
                 (c->id + j) % nshared);
        paths[0] = shared;
        paths[1] = own;
        if (rmw(h, c, paths, 2, &c->conflicts[0]))
            c->commits[0]++;
    }

    /* Phase 2: disjoint nodes only. */
    pthread_barrier_wait(&start_line[1]);
    for (unsigned int j = 0; h && !c->error[0] && j < niters; j++) {
        paths[0] = own2;
        if (rmw(h, c, paths, 1, &c->conflicts[1]))
            c->commits[1]++;
    }
    if (h)
        xs_close(h);
    return NULL;
}

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: XENSTORED_PATH=SOCKET %s [-c CLIENTS] [-n ITERS] [-k SHARED]\n",
            argv0);
    return 2;
}

int main(int argc, char **argv)
{
    struct stress_client *clients;
    struct xs_handle *h;
    unsigned long v, *expect_shared;
    int opt, fails = 0;
    double t0, t1, t2;
    char path[64];

    while ((opt = getopt(argc, argv, "c:n:k:")) != -1) {
        switch (opt) {
        case 'c': nclients = (unsigned int)strtoul(optarg, NULL, 0); break;
        case 'n': niters = (unsigned int)strtoul(optarg, NULL, 0); break;
        case 'k': nshared = (unsigned int)strtoul(optarg, NULL, 0); break;
        default: return usage(argv[0]);
        }
    }
    if (optind != argc || !nclients || !niters || !nshared)
        return usage(argv[0]);

    h = xs_open(0);
    if (!h) {
        perror("xs_open");
        return 1;
    }
    /* A fresh tree of zeroed counters. */
    xs_rm(h, XBT_NULL, STRESS_ROOT);
    for (unsigned int s = 0; s < nshared; s++) {
        snprintf(path, sizeof(path), STRESS_ROOT "/shared/%u", s);
        if (!xs_write(h, XBT_NULL, path, "0", 1)) {
            perror("xs_write");
            return 1;
        }
    }
    for (unsigned int i = 0; i < nclients; i++) {
        snprintf(path, sizeof(path), STRESS_ROOT "/own/%u", i);
        if (!xs_write(h, XBT_NULL, path, "0", 1))
            return perror("xs_write"), 1;
        snprintf(path, sizeof(path), STRESS_ROOT "/disjoint/%u", i);
        if (!xs_write(h, XBT_NULL, path, "0", 1))
            return perror("xs_write"), 1;
    }

    clients = calloc(nclients, sizeof(*clients));
    expect_shared = calloc(nshared, sizeof(*expect_shared));
    if (!clients || !expect_shared)
        return perror("calloc"), 1;
    pthread_barrier_init(&start_line[0], NULL, nclients + 1);
    pthread_barrier_init(&start_line[1], NULL, nclients + 1);
    for (unsigned int i = 0; i < nclients; i++) {
        clients[i].id = i;
        if (pthread_create(&clients[i].thread, NULL, client_main, &clients[i])) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    pthread_barrier_wait(&start_line[0]);
    t0 = now_sec();
    pthread_barrier_wait(&start_line[1]);
    t1 = now_sec();
    for (unsigned int i = 0; i < nclients; i++)
        pthread_join(clients[i].thread, NULL);
    t2 = now_sec();

    uint64_t commits[2] = { 0, 0 }, conflicts[2] = { 0, 0 };
    for (unsigned int i = 0; i < nclients; i++) {
        struct stress_client *c = &clients[i];

        if (c->error[0]) {
            printf("FAIL: client %u: %s\n", i, c->error);
            fails++;
        }
        for (int p = 0; p < 2; p++) {
            commits[p] += c->commits[p];
            conflicts[p] += c->conflicts[p];
        }
        /* Its own counters: one increment per committed transaction. */
        snprintf(path, sizeof(path), STRESS_ROOT "/own/%u", i);
        if (!read_counter(h, XBT_NULL, path, &v) || v != c->commits[0]) {
            printf("FAIL: %s = %lu, expected %" PRIu64 "\n", path, v, c->commits[0]);
            fails++;
        }
        snprintf(path, sizeof(path), STRESS_ROOT "/disjoint/%u", i);
        if (!read_counter(h, XBT_NULL, path, &v) || v != c->commits[1]) {
            printf("FAIL: %s = %lu, expected %" PRIu64 "\n", path, v, c->commits[1]);
            fails++;
        }
        /* Client i's j-th committed transaction incremented (i+j)%K. */
        for (uint64_t j = 0; j < c->commits[0]; j++)
            expect_shared[(i + j) % nshared]++;
    }
    for (unsigned int s = 0; s < nshared; s++) {
        snprintf(path, sizeof(path), STRESS_ROOT "/shared/%u", s);
        if (!read_counter(h, XBT_NULL, path, &v) || v != expect_shared[s]) {
            printf("FAIL: %s = %lu, expected %lu (%s)\n", path, v, expect_shared[s],
                   v < expect_shared[s] ? "updates lost" : "updates applied twice");
            fails++;
        }
    }
    if (commits[0] != (uint64_t)nclients * niters || commits[1] != (uint64_t)nclients * niters) {
        printf("FAIL: %" PRIu64 "+%" PRIu64 " transactions committed, expected %u each\n",
               commits[0], commits[1], nclients * niters);
        fails++;
    }

    printf("clients %u, transactions per client per phase %u, shared counters %u\n",
           nclients, niters, nshared);
    printf("mixed (shared+own):  %" PRIu64 " commits, %" PRIu64 " conflicts, "
           "conflict rate %.1f%% of attempts, %.0f commits/s\n",
           commits[0], conflicts[0],
           100.0 * conflicts[0] / (double)(commits[0] + conflicts[0] ? commits[0] + conflicts[0] : 1),
           commits[0] / (t1 - t0));
    printf("disjoint (own only): %" PRIu64 " commits, %" PRIu64 " conflicts, "
           "conflict rate %.1f%% of attempts, %.0f commits/s\n",
           commits[1], conflicts[1],
           100.0 * conflicts[1] / (double)(commits[1] + conflicts[1] ? commits[1] + conflicts[1] : 1),
           commits[1] / (t2 - t1));
    if (conflicts[1]) {
        printf("FAIL: %" PRIu64 " conflicts between transactions on disjoint nodes "
               "(per-node conflict detection allows none)\n", conflicts[1]);
        fails++;
    }
    if (!fails)
        printf("PASS: every counter holds exactly its committed increments; no update lost\n");
    xs_rm(h, XBT_NULL, STRESS_ROOT);
    xs_close(h);
    free(clients);
    free(expect_shared);
    return fails ? 1 : 0;
}

/* The path hash table (store_hash.c): every entry found again, none found
 * that is absent, deletion, and the spread of store-shaped keys (paths that
 * differ only in a digit or two, short and long, tails of 0..7 bytes) over
 * the buckets: a weak hash would pile them into few chains; several
 * entries under one key, each found once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "../../src/store/store_int.h"

enum { N = 20000 };

struct ent {
    struct store_hent h;
    char key[64];
};

static struct ent *make(unsigned i)
{
    struct ent *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    /* Like a toolstack's tree: many domains, a few devices each. */
    snprintf(e->key, sizeof(e->key), "/local/domain/%u/device/vif/%u/state%.*s",
             i / 8, i % 8, (int)(i % 8), "xxxxxxx");
    e->h.key = e->key;
    e->h.klen = (uint32_t)strlen(e->key);
    return e;
}

static void test_find_spread_delete(void **state)
{
    (void)state;
    struct store_htab t;
    uint64_t seed;
    assert_int_equal(store_hash_seed(&seed), 0);
    assert_int_equal(store_htab_init(&t, 16, seed), 0);
    struct ent **all = calloc(N, sizeof(*all));
    assert_non_null(all);
    for (unsigned i = 0; i < N; i++) {
        all[i] = make(i);
        store_htab_add(&t, &all[i]->h);
    }
    assert_int_equal(t.count, N);
    for (unsigned i = 0; i < N; i++)
        assert_ptr_equal(store_htab_find(&t, all[i]->key, all[i]->h.klen),
                         &all[i]->h);
    assert_null(store_htab_find(&t, "/local/domain/0/device/vif/9/state", 34));
    assert_null(store_htab_find(&t, "", 0));

    /* Spread: with load <= 1 a uniform hash gives chains of a handful;
     * allow generous slack, far below what clustering produces. */
    unsigned longest = 0, used = 0;
    for (uint32_t b = 0; b <= t.mask; b++) {
        unsigned len = 0;
        for (struct store_hent *e = t.b[b]; e; e = e->next)
            len++;
        used += len > 0;
        if (len > longest)
            longest = len;
    }
    assert_true(longest <= 12);
    assert_true(used >= N / 2);

    /* Equal keys hash equally whatever their address and alignment. */
    char buf[80];
    for (unsigned off = 0; off < 8; off++) {
        memcpy(buf + off, all[5]->key, all[5]->h.klen);
        assert_int_equal(store_hash(buf + off, all[5]->h.klen, seed),
                         store_hash(all[5]->key, all[5]->h.klen, seed));
    }

    for (unsigned i = 0; i < N; i += 2)
        store_htab_del(&t, &all[i]->h);
    assert_int_equal(t.count, N / 2);
    for (unsigned i = 0; i < N; i++)
        assert_true((store_htab_find(&t, all[i]->key, all[i]->h.klen) ==
                     NULL) == (i % 2 == 0));
    for (unsigned i = 0; i < N; i++)
        free(all[i]);
    free(all);
    store_htab_fini(&t);
}

/* Longest chain of t. */
static unsigned longest_chain(const struct store_htab *t)
{
    unsigned longest = 0;
    for (uint32_t b = 0; b <= t->mask; b++) {
        unsigned len = 0;
        for (struct store_hent *e = t->b[b]; e; e = e->next)
            len++;
        if (len > longest)
            longest = len;
    }
    return longest;
}

/*
 * Hash flooding: a guest picks the names of its nodes. Knowing the hash
 * function, it computes offline 200 paths that share a bucket of a
 * 1024-bucket table and every lookup walks a chain of 200. With the
 * store's secret seed the same paths spread like any others.
 */
static void test_crafted_collisions_spread(void **state)
{
    (void)state;
    enum { K = 200 };
    static struct ent keys[K];
    unsigned n = 0;
    for (unsigned i = 0; n < K; i++) {
        struct ent *e = &keys[n];
        snprintf(e->key, sizeof(e->key), "/local/domain/5/data/k%u", i);
        e->h.klen = (uint32_t)strlen(e->key);
        e->h.key = e->key;
        /* The attacker's guess at the seed: anything fixed. */
        if ((store_hash(e->key, e->h.klen, 0) & 1023) == 0)
            n++;
    }
    struct store_htab t;
    uint64_t seed;
    assert_int_equal(store_hash_seed(&seed), 0);    /* as store_create */
    assert_int_equal(store_htab_init(&t, 1024, seed), 0);
    for (unsigned i = 0; i < K; i++)
        store_htab_add(&t, &keys[i].h);
    assert_int_equal(t.mask, 1023);
    assert_true(longest_chain(&t) <= 12);
    store_htab_fini(&t);
    /* Two seeds drawn apart differ (a constant seed is the bug). */
    uint64_t again;
    assert_int_equal(store_hash_seed(&again), 0);
    assert_true(again != seed);
}

/*
 * Several entries under one key (the watches table: one per watch, many
 * watches on a path): store_htab_find and store_htab_find_next give each
 * of them once, and no entry of another key in the same table, also one
 * whose key is a prefix of it.
 */
static void test_find_next_same_key(void **state)
{
    (void)state;
    enum { SAME = 5, OTHER = 300 };
    static struct ent same[SAME], other[OTHER];
    struct store_htab t;
    uint64_t seed;
    assert_int_equal(store_hash_seed(&seed), 0);
    assert_int_equal(store_htab_init(&t, 4, seed), 0);
    for (unsigned i = 0; i < OTHER; i++) {
        snprintf(other[i].key, sizeof(other[i].key), "/local/domain/%u", i);
        other[i].h.key = other[i].key;
        other[i].h.klen = (uint32_t)strlen(other[i].key);
        store_htab_add(&t, &other[i].h);
        if (i % 60 == 0) {
            unsigned k = i / 60;
            strcpy(same[k].key, "/local/domain/7/control");
            same[k].h.key = same[k].key;
            same[k].h.klen = (uint32_t)strlen(same[k].key);
            store_htab_add(&t, &same[k].h);
        }
    }
    const char *key = "/local/domain/7/control";
    uint32_t klen = (uint32_t)strlen(key);
    unsigned seen[SAME] = { 0 }, found = 0;
    for (struct store_hent *e = store_htab_find(&t, key, klen); e;
         e = store_htab_find_next(e, key, klen)) {
        struct ent *x = (struct ent *)e;
        assert_true(x >= same && x < same + SAME);
        seen[x - same]++;
        found++;
    }
    assert_int_equal(found, SAME);
    for (unsigned k = 0; k < SAME; k++)
        assert_int_equal(seen[k], 1);
    /* Alone under its key: find gives it, find_next nothing after it. */
    struct store_hent *e = store_htab_find(&t, "/local/domain/7", 15);
    assert_ptr_equal(e, &other[7].h);
    assert_null(store_htab_find_next(e, "/local/domain/7", 15));
    store_htab_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_spread_delete),
        cmocka_unit_test(test_crafted_collisions_spread),
        cmocka_unit_test(test_find_next_same_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

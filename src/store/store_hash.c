/*
 * A chained hash table of byte-string keys with intrusive entries: nodes,
 * watches and transaction shadows embed a struct store_hent, so a lookup
 * costs one hash of the path and no allocation.
 */
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "store_int.h"

/* Eight bytes per step (multiply and xor-shift per word, then the
 * MurmurHash3 finaliser so the low bits that pick a bucket depend on every
 * byte). Paths are hashed ~3 times per request; byte-wise FNV-1a was a
 * sixth of a request's user-space instructions. */
static inline uint64_t mix_word(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0xbf58476d1ce4e5b9u;
    return h ^ (h >> 31);
}

int store_hash_seed(uint64_t *seed)
{
    if (getrandom(seed, sizeof(*seed), GRND_NONBLOCK) == sizeof(*seed))
        return 0;
    /* No getrandom (or no entropy yet): not secret, but not constant. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    *seed = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
            (uint64_t)(uintptr_t)seed;
    return -1;
}

/* The seed enters the initial state and the finaliser, so no bucket a key
 * lands in can be predicted without it. (Not a keyed PRF like SipHash;
 * enough that collisions cannot be computed offline.) */
uint32_t store_hash(const char *key, uint32_t klen, uint64_t seed)
{
    uint64_t h = (0x9e3779b97f4a7c15u ^ seed) ^ klen;
    for (; klen >= 8; key += 8, klen -= 8) {
        uint64_t w;
        memcpy(&w, key, 8);
        h = mix_word(h, w);
    }
    if (klen) {
        uint64_t w = 0;
        for (uint32_t i = 0; i < klen; i++)
            w |= (uint64_t)(unsigned char)key[i] << (8 * i);
        h = mix_word(h, w);
    }
    h ^= seed >> 7;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return (uint32_t)h;
}

int store_htab_init(struct store_htab *t, uint32_t buckets, uint64_t seed)
{
    t->seed = seed;
    uint32_t n = 16;
    while (n < buckets)
        n <<= 1;
    t->b = calloc(n, sizeof(*t->b));
    if (!t->b)
        return ENOMEM;
    t->mask = n - 1;
    t->count = 0;
    return 0;
}

void store_htab_fini(struct store_htab *t)
{
    free(t->b);
    t->b = NULL;
    t->count = 0;
}

struct store_hent *store_htab_find(const struct store_htab *t,
                                   const char *key, uint32_t klen)
{
    uint32_t h = store_hash(key, klen, t->seed);
    for (struct store_hent *e = t->b[h & t->mask]; e; e = e->next)
        if (e->hash == h && e->klen == klen && !memcmp(e->key, key, klen))
            return e;
    return NULL;
}

struct store_hent *store_htab_find_next(struct store_hent *e,
                                        const char *key, uint32_t klen)
{
    uint32_t h = e->hash;      /* the key's: e has it */
    for (e = e->next; e; e = e->next)
        if (e->hash == h && e->klen == klen && !memcmp(e->key, key, klen))
            return e;
    return NULL;
}

/* Double the buckets when the load passes 1; on ENOMEM keep the old size
 * (lookups get slower, nothing breaks). */
static void grow(struct store_htab *t)
{
    uint32_t n = (t->mask + 1) * 2;
    struct store_hent **nb = calloc(n, sizeof(*nb));
    if (!nb)
        return;
    for (uint32_t i = 0; i <= t->mask; i++) {
        struct store_hent *e = t->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
        }
    }
    free(t->b);
    t->b = nb;
    t->mask = n - 1;
}

void store_htab_add(struct store_htab *t, struct store_hent *e)
{
    if (t->count >= t->mask + 1 && t->mask < (1u << 30))
        grow(t);
    e->hash = store_hash(e->key, e->klen, t->seed);
    e->next = t->b[e->hash & t->mask];
    t->b[e->hash & t->mask] = e;
    t->count++;
}

void store_htab_del(struct store_htab *t, struct store_hent *e)
{
    struct store_hent **pp = &t->b[e->hash & t->mask];
    for (; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            t->count--;
            return;
        }
}

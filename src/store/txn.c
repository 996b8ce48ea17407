/*
 * Transactions with per-node conflict detection.
 *
 * A transaction records every node it touches (read or written) with the
 * generation the committed node had when first touched (STORE_NO_GEN if
 * absent). Writes go to a copy-on-write shadow of just that node. At commit
 * each recorded node's current generation is compared with the recorded
 * one: only a change to a node this transaction looked at is a conflict
 * (EAGAIN); commits to other nodes meanwhile are not (unlike a whole-store
 * generation). The commit then applies every shadow and fires the watches
 * of the changed nodes, all under the store lock, so it is atomic.
 *
 * Cost: O(nodes touched) per transaction; nothing copies the store.
 */
#include <stdlib.h>

#include "store_int.h"

struct store_tnode {
    struct store_hent h;       /* key = path */
    struct store_tnode *next;  /* first-touch order */
    char *path;
    uint32_t plen;
    uint64_t base_gen;
    bool copied;               /* always, after touch(): the snapshot */
    bool deleted;              /* absent in this transaction's view */
    bool modified;             /* written here: applied at commit */
    int fire;
    char *val, *kids;
    struct store_perm *perms;
    uint32_t vlen, klen, nperms;
    uint64_t permgen;
    uint64_t cost;             /* charged to the transaction's domain */
};

struct store_txn {
    struct store_txn *next;
    uint32_t id;
    struct store_htab map;
    struct store_tnode *head, *tail;
    unsigned count;
    int64_t nodes_delta, mem_delta;
    uint64_t charged;          /* sum of the records' cost */
    /* An operation failed half-way (quota or memory): its view may hold
     * part of a change, so the commit must fail (xenstored's
     * trans->fail; TRANSACTION_END T then answers ENOMEM). */
    bool fail;
};

/* The transaction itself and its first buckets. */
#define TXN_BASE_COST (sizeof(struct store_txn) + 16 * sizeof(void *))

/* What one record costs: the record, its path, and copies of the
 * value, children and permissions (each buffer with its NUL). */
static uint64_t tnode_cost(uint32_t plen, uint32_t vlen, uint32_t klen,
                           uint32_t nperms)
{
    return sizeof(struct store_tnode) + sizeof(struct store_hent *) +
           (uint64_t)plen + 1 + vlen + 1 + klen + 1 +
           (uint64_t)nperms * sizeof(struct store_perm) + 1;
}

/* Move t's charge by delta bytes (the record at e changed cost). */
static void charge(struct store_conn *c, struct store_txn *t,
                   struct store_tnode *e, uint64_t cost)
{
    if (c->dom)
        c->dom->txn_mem = c->dom->txn_mem - e->cost + cost;
    t->charged = t->charged - e->cost + cost;
    e->cost = cost;
}

uint64_t store_txn_charged(const struct store_txn *t)
{
    return t->charged;
}

struct store_txn *store_txn_next(const struct store_txn *t)
{
    return t->next;
}

bool store_txn_consistent(const struct store_txn *t)
{
    uint64_t sum = 0;
    unsigned n = 0;
    for (const struct store_tnode *e = t->head; e; e = e->next) {
        sum += e->cost;
        n++;
    }
    return sum + TXN_BASE_COST == t->charged && n == t->count && n == t->map.count;
}

/* May c's domain be charged add more bytes of transaction copies? */
static bool mem_ok(struct store *s, struct store_conn *c, uint64_t add)
{
    return store_quota_ok(s, c, STORE_Q_MEMORY, store_dom_mem(c->dom), add);
}

struct store_txn *store_txn_find(struct store_conn *c, uint32_t id)
{
    for (struct store_txn *t = c->txns; t; t = t->next)
        if (t->id == id)
            return t;
    return NULL;
}

int store_txn_start(struct store_conn *c, uint32_t *id)
{
    struct store *s = c->s;
    if (!store_quota_ok(s, c, STORE_Q_TRANSACTIONS, c->dom ? c->dom->txns : 0,
                        1))
        return ENOSPC;
    if (!mem_ok(s, c, TXN_BASE_COST))
        return ENOSPC;
    struct store_txn *t = calloc(1, sizeof(*t));
    if (!t || store_htab_init(&t->map, 16, s->hash_seed)) {
        free(t);
        return ENOMEM;
    }
    t->charged = TXN_BASE_COST;
    if (c->dom)
        c->dom->txn_mem += TXN_BASE_COST;
    /* A fresh non-zero id not used by this connection. */
    do {
        t->id = ++c->next_txid;
    } while (t->id == 0 || store_txn_find(c, t->id));
    t->next = c->txns;
    c->txns = t;
    c->ntxns++;
    if (c->dom)
        c->dom->txns++;
    *id = t->id;
    return 0;
}

static void tnode_free_state(struct store_tnode *e)
{
    free(e->val);
    free(e->kids);
    free(e->perms);
    e->val = e->kids = NULL;
    e->perms = NULL;
}

static void txn_free(struct store_conn *c, struct store_txn *t)
{
    struct store_txn **pp = &c->txns;
    while (*pp && *pp != t)
        pp = &(*pp)->next;
    if (*pp)
        *pp = t->next;
    c->ntxns--;
    if (c->dom && c->dom->txns)
        c->dom->txns--;
    if (c->dom)
        c->dom->txn_mem -= t->charged;
    struct store_tnode *e = t->head, *next;
    for (; e; e = next) {
        next = e->next;
        tnode_free_state(e);
        free(e->path);
        free(e);
    }
    store_htab_fini(&t->map);
    free(t);
}

void store_txn_free_all(struct store_conn *c)
{
    while (c->txns)
        txn_free(c, c->txns);
}

int64_t store_txn_nodes_delta(struct store_txn *t)
{
    return t->nodes_delta;
}

int64_t store_txn_memory_delta(struct store_txn *t)
{
    return t->mem_delta;
}

void store_txn_account(struct store_txn *t, int64_t nodes, int64_t memory)
{
    t->nodes_delta += nodes;
    t->mem_delta += memory;
}

static void *dup_or_null(const void *p, size_t len, int *fail)
{
    void *q = malloc(len + 1);
    if (!q) {
        *fail = 1;
        return NULL;
    }
    if (len)
        memcpy(q, p, len);
    ((char *)q)[len] = 0;
    return q;
}

/* The record of path in t, created (with the committed generation) on
 * first touch. NULL with *err set: ENOSPC (transaction-nodes or memory
 * quota), EACCES (c lacks perm on the committed node: nothing copied). */
static struct store_tnode *touch(struct store *s, struct store_conn *c,
                                 struct store_txn *t, const char *path,
                                 uint32_t plen, unsigned perm, int *err)
{
    struct store_hent *h = store_htab_find(&t->map, path, plen);
    if (h)
        return container_of(h, struct store_tnode, h);
    struct store_node *n = store_tree_get(s, path, plen);
    /* Permission first: a node the caller may not see costs nothing
     * (XSA-326: reads that fail must not pin memory). */
    if (n && perm && (store_perm_for(s, c, n->perms, n->nperms,
                                     n->permgen) & perm) != perm) {
        *err = EACCES;
        return NULL;
    }
    if (!store_quota_ok(s, c, STORE_Q_TXN_NODES, t->count, 1) ||
        !mem_ok(s, c, n ? tnode_cost(plen, n->vlen, n->klen, n->nperms)
                        : tnode_cost(plen, 0, 0, 0))) {
        *err = ENOSPC;
        return NULL;
    }
    struct store_tnode *e = calloc(1, sizeof(*e));
    if (!e || !(e->path = malloc(plen + 1))) {
        free(e);
        *err = ENOMEM;
        return NULL;
    }
    memcpy(e->path, path, plen);
    e->path[plen] = 0;
    e->plen = plen;
    e->base_gen = n ? n->gen : STORE_NO_GEN;
    /* Snapshot on first touch: the transaction keeps seeing the node as
     * it was then, whatever others commit meanwhile (test-xenstore's
     * "ta err" checks this); a change there fails the commit. */
    e->copied = true;
    e->deleted = !n;
    if (n) {
        int fail = 0;
        e->val = dup_or_null(n->val, n->vlen, &fail);
        e->kids = dup_or_null(n->kids, n->klen, &fail);
        e->perms = dup_or_null(n->perms, n->nperms * sizeof(*n->perms), &fail);
        if (fail) {
            tnode_free_state(e);
            free(e->path);
            free(e);
            *err = ENOMEM;
            return NULL;
        }
        e->vlen = n->vlen;
        e->klen = n->klen;
        e->nperms = n->nperms;
        e->permgen = n->permgen;
    }
    charge(c, t, e, tnode_cost(plen, e->vlen, e->klen, e->nperms));
    e->h.key = e->path;
    e->h.klen = plen;
    store_htab_add(&t->map, &e->h);
    if (t->tail)
        t->tail->next = e;
    else
        t->head = e;
    t->tail = e;
    t->count++;
    return e;
}

bool store_txn_has(struct store_txn *t, const char *path, uint32_t plen)
{
    return store_htab_find(&t->map, path, plen) != NULL;
}

int store_txn_get(struct store *s, struct store_conn *c, struct store_txn *t,
                  const char *path, uint32_t plen, unsigned perm,
                  struct store_nodev *out)
{
    int err = 0;
    struct store_tnode *e = touch(s, c, t, path, plen, perm, &err);
    if (!e) {
        if (err != EACCES)
            t->fail = true;
        return err;
    }
    if (e->deleted)
        return ENOENT;
    if (perm && (store_perm_for(s, c, e->perms, e->nperms, e->permgen) &
                 perm) != perm)
        return EACCES;
    *out = (struct store_nodev){ e->val, e->kids, e->perms, e->vlen,
                                 e->klen, e->nperms, e->base_gen,
                                 e->permgen };
    return 0;
}

int store_txn_put(struct store *s, struct store_conn *c, struct store_txn *t,
                  const char *path, uint32_t plen, const struct store_nodev *nv,
                  bool deleted, int fire)
{
    int err = 0, fail = 0;
    struct store_tnode *e = touch(s, c, t, path, plen, 0, &err);
    if (!e) {
        t->fail = true;
        return err;
    }
    uint64_t cost = tnode_cost(plen, deleted ? 0 : nv->vlen,
                               deleted ? 0 : nv->klen, nv->nperms);
    if (cost > e->cost && !mem_ok(s, c, cost - e->cost)) {
        t->fail = true;
        return ENOSPC;
    }
    /* nv may point into e's own buffers: copy before freeing. */
    char *val = deleted ? NULL : dup_or_null(nv->val, nv->vlen, &fail);
    char *kids = deleted ? NULL : dup_or_null(nv->kids, nv->klen, &fail);
    struct store_perm *perms = dup_or_null(nv->perms,
                                           nv->nperms * sizeof(*nv->perms),
                                           &fail);
    if (fail) {
        free(val);
        free(kids);
        free(perms);
        t->fail = true;
        return ENOMEM;
    }
    tnode_free_state(e);
    e->modified = true;
    e->deleted = deleted;
    e->val = val;
    e->kids = kids;
    e->perms = perms;    /* kept when deleted: the watch read check */
    e->vlen = deleted ? 0 : nv->vlen;
    e->klen = deleted ? 0 : nv->klen;
    e->nperms = nv->nperms;
    e->permgen = nv->permgen;
    charge(c, t, e, cost);
    if (fire == STORE_FIRE_TREE || e->fire == STORE_FIRE_TREE)
        e->fire = STORE_FIRE_TREE;
    else if (fire != STORE_FIRE_NONE)
        e->fire = fire;
    return 0;
}

/* Whether the committed node at e (current state n) is owned by dom. */
static bool owned_by(struct store *s, const struct store_node *n, domid_t dom)
{
    return n && n->perms[0].id == dom &&
           !store_perm_stale(s, n, &n->perms[0], n->permgen);
}

static int commit(struct store_conn *c, struct store_txn *t)
{
    struct store *s = c->s;
    struct store_tnode *e;

    if (t->fail)
        return ENOMEM;
    /* 1. Conflicts: any touched node changed since first touched. */
    for (e = t->head; e; e = e->next) {
        struct store_node *n = store_tree_get(s, e->path, e->plen);
        if ((n ? n->gen : STORE_NO_GEN) != e->base_gen)
            return EAGAIN;
    }
    /* 2. Quotas, recomputed from the final state (all or nothing). */
    if (store_conn_unpriv(c) && c->dom) {
        int64_t nodes = 0, mem = 0;
        for (e = t->head; e; e = e->next) {
            if (!e->modified)
                continue;
            struct store_node *n = store_tree_get(s, e->path, e->plen);
            if (owned_by(s, n, c->id)) {
                nodes--;
                mem -= (int64_t)store_node_cost(n->plen, n->vlen, n->klen,
                                                n->nperms);
            }
            if (!e->deleted && e->perms[0].id == c->id) {
                nodes++;
                mem += (int64_t)store_node_cost(e->plen, e->vlen, e->klen,
                                                e->nperms);
            }
        }
        if (nodes > 0 && !store_quota_ok(s, c, STORE_Q_NODES, c->dom->nodes,
                                         (uint64_t)nodes))
            return ENOSPC;
        /* This transaction's copies go away with it: not counted. */
        if (mem > 0 && !store_quota_ok(s, c, STORE_Q_MEMORY,
                                       store_dom_mem(c->dom) - t->charged,
                                       (uint64_t)mem))
            return ENOSPC;
    }
    /* 3. Apply: creations and updates, then removals. */
    for (e = t->head; e; e = e->next) {
        if (!e->modified || e->deleted)
            continue;
        if (store_tree_put(s, e->path, e->plen, e->val, e->vlen, e->kids,
                           e->klen, e->perms, e->nperms, e->permgen)) {
            /* Only ENOMEM gets here; the store stays consistent node by
             * node but the transaction is partly applied. */
            store_log(s, STORE_LOG_ERR, "out of memory committing a "
                      "transaction of domain %u", c->id);
            return ENOMEM;
        }
    }
    for (e = t->head; e; e = e->next) {
        if (!e->modified || !e->deleted)
            continue;
        struct store_node *n = store_tree_get(s, e->path, e->plen);
        if (n)
            store_tree_del(s, n);
    }
    /* 4. Watches, in the order the nodes were first touched. */
    for (e = t->head; e; e = e->next)
        if (e->fire != STORE_FIRE_NONE)
            store_watch_fire(s, e->path, e->plen, e->fire == STORE_FIRE_TREE,
                             e->perms, e->nperms, e->permgen);
    return 0;
}

int store_txn_end(struct store_conn *c, struct store_txn *t, bool do_commit)
{
    int rc = do_commit ? commit(c, t) : 0;
    txn_free(c, t);
    return rc;
}

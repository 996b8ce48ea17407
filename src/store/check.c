/*
 * The store's invariants, checked from scratch (tests, the concurrency
 * harness and the fuzzer call store_check after each round): the tree is
 * connected both ways, and every per-domain counter equals the sum of what
 * is charged to that domain. The counters are kept incrementally by
 * tree.c, txn.c and watch.c; this recomputes them, so drift or an orphan
 * is found the round it appears.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "store_int.h"

struct expect {
    uint64_t nodes, memory, watches, txns, txn_mem, watch_mem, out_mem;
};

static int fail(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t len, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return -EFAULT;
}

/* Does the children list of par name the last component of n once? */
static unsigned listed(const struct store_node *par, const struct store_node *n)
{
    uint32_t i = n->plen;
    while (i > 0 && n->path[i - 1] != '/')
        i--;
    const char *name = n->path + i;
    uint32_t nlen = n->plen - i, hits = 0;
    for (uint32_t off = 0; off < par->klen;) {
        uint32_t l = (uint32_t)strnlen(par->kids + off, par->klen - off);
        if (l == nlen && !memcmp(par->kids + off, name, nlen))
            hits++;
        off += l + 1;
    }
    return hits;
}

static int check_nodes(struct store *s, struct expect *exp, char *why,
                       size_t len)
{
    uint32_t count = 0;
    char child[XENSTORE_ABS_PATH_MAX + 2];
    for (uint32_t b = 0; b <= s->nodes.mask; b++) {
        for (struct store_hent *h = s->nodes.b[b]; h; h = h->next) {
            struct store_node *n = container_of(h, struct store_node, h);
            count++;
            if (!n->nperms)
                return fail(why, len, "%s has no owner", n->path);
            if (n->plen > 1) {
                uint32_t i = n->plen;
                while (i > 0 && n->path[i - 1] != '/')
                    i--;
                uint32_t pl = i > 1 ? i - 1 : 1;
                struct store_node *par = store_tree_get(s, n->path, pl);
                if (!par)
                    return fail(why, len, "orphan %s (no parent)", n->path);
                if (listed(par, n) != 1)
                    return fail(why, len, "orphan %s (parent lists it %u "
                                "times)", n->path, listed(par, n));
            }
            for (uint32_t off = 0; off < n->klen;) {
                uint32_t l = (uint32_t)strnlen(n->kids + off, n->klen - off);
                int cl = snprintf(child, sizeof(child), "%s%s%.*s",
                                  n->path, n->plen == 1 ? "" : "/", (int)l,
                                  n->kids + off);
                if (cl < 0 || (size_t)cl >= sizeof(child) ||
                    !store_tree_get(s, child, (uint32_t)cl))
                    return fail(why, len, "%s lists a missing child %.*s",
                                n->path, (int)l, n->kids + off);
                off += l + 1;
            }
            struct store_domain *d = store_node_charged(s, n);
            if (d) {
                exp[d->id].nodes++;
                exp[d->id].memory += store_node_cost(n->plen, n->vlen,
                                                     n->klen, n->nperms);
            }
        }
    }
    if (count != s->nodes.count)
        return fail(why, len, "node table counts %u, holds %u",
                    s->nodes.count, count);
    if (!store_tree_get(s, "/", 1))
        return fail(why, len, "no root");
    return 0;
}

static int check_conns(struct store *s, struct expect *exp, char *why,
                       size_t len)
{
    uint32_t watches = 0;
    for (struct store_conn *c = s->conns; c; c = c->next) {
        unsigned nw = 0, nt = 0;
        uint64_t wm = 0, om = 0;
        for (struct store_watch *w = c->watches; w; w = w->conn_next) {
            nw++;
            wm += STORE_WATCH_COST(w->plen, w->tlen);
        }
        uint64_t queued = 0;
        for (struct store_out *o = c->out_head; o; o = o->next) {
            queued += o->len;
            om += o->event ? o->len : 0;
        }
        if (queued != c->out_bytes)
            return fail(why, len, "connection of domain %u: %" PRIu64
                        " bytes queued, counted %" PRIu64, c->id, queued,
                        c->out_bytes);
        if (nw != c->nwatches)
            return fail(why, len, "connection of domain %u: %u watches, "
                        "counted %u", c->id, nw, c->nwatches);
        watches += nw;
        uint64_t tm = 0;
        for (struct store_txn *t = c->txns; t; t = store_txn_next(t)) {
            if (!store_txn_consistent(t))
                return fail(why, len, "transaction of domain %u: records "
                            "and charge disagree", c->id);
            nt++;
            tm += store_txn_charged(t);
        }
        if (nt != c->ntxns)
            return fail(why, len, "connection of domain %u: %u "
                        "transactions, counted %u", c->id, nt, c->ntxns);
        if (!c->dom) {
            if (nw || nt)
                return fail(why, len, "released connection of domain %u "
                            "keeps state", c->id);
            continue;
        }
        if (store_domain_get(s, c->id) != c->dom)
            return fail(why, len, "connection of domain %u points to a "
                        "stale domain", c->id);
        exp[c->id].watches += nw;
        exp[c->id].txns += nt;
        exp[c->id].txn_mem += tm;
        exp[c->id].watch_mem += wm;
        exp[c->id].out_mem += om;
    }
    if (watches != s->watches.count)
        return fail(why, len, "watch table counts %u, connections hold %u",
                    s->watches.count, watches);
    return 0;
}

int store_check(struct store *s, char *why, size_t len)
{
    struct expect *exp = calloc(STORE_DOMID_MAX, sizeof(*exp));
    if (!exp) {
        fail(why, len, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_lock(&s->lock);
    int rc = check_nodes(s, exp, why, len);
    if (!rc)
        rc = check_conns(s, exp, why, len);
    for (unsigned i = 0; !rc && i < STORE_DOMID_MAX; i++) {
        struct store_domain *d = s->doms[i];
        const struct expect *e = &exp[i];
        if (!d) {
            if (e->nodes || e->watches || e->txns)
                rc = fail(why, len, "domain %u is gone but charged", i);
            continue;
        }
        if (d->nodes != e->nodes || d->memory != e->memory)
            rc = fail(why, len, "domain %u: nodes %u memory %" PRIu64
                      ", charged nodes sum to %" PRIu64 " and %" PRIu64,
                      i, d->nodes, d->memory, e->nodes, e->memory);
        else if (d->watches != e->watches || d->txns != e->txns)
            rc = fail(why, len, "domain %u: watches %u txns %u, "
                      "connections hold %" PRIu64 " and %" PRIu64, i,
                      d->watches, d->txns, e->watches, e->txns);
        else if (d->txn_mem != e->txn_mem)
            rc = fail(why, len, "domain %u: transaction memory %" PRIu64
                      ", transactions hold %" PRIu64, i, d->txn_mem,
                      e->txn_mem);
        else if (d->watch_mem != e->watch_mem || d->out_mem != e->out_mem)
            rc = fail(why, len, "domain %u: watch memory %" PRIu64
                      " output %" PRIu64 ", connections hold %" PRIu64
                      " and %" PRIu64, i, d->watch_mem, d->out_mem,
                      e->watch_mem, e->out_mem);
    }
    pthread_mutex_unlock(&s->lock);
    free(exp);
    return rc;
}

int store_domain_usage(struct store *s, domid_t domid, struct store_usage *u)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&s->lock);
    struct store_domain *d = store_domain_get(s, domid);
    if (d) {
        *u = (struct store_usage){ d->nodes, d->watches, d->txns, d->memory,
                                   d->txn_mem, d->watch_mem, d->out_mem };
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

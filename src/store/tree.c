/*
 * The committed tree: a hash from absolute path to node. Each node holds
 * its value, its permissions (owner first), the names of its children and
 * a generation that changes whenever the node does. Lookups never walk the
 * tree, so the cost of a request does not grow with the store or the depth.
 *
 * Accounting (nodes and memory per owning domain) happens here, in the two
 * primitives every change goes through, so the counters cannot drift.
 */
#include <stdlib.h>

#include "store_int.h"

struct store_node *store_tree_get(struct store *s, const char *path,
                                  uint32_t plen)
{
    struct store_hent *e = store_htab_find(&s->nodes, path, plen);
    return e ? container_of(e, struct store_node, h) : NULL;
}

uint64_t store_node_cost(uint32_t plen, uint32_t vlen, uint32_t klen,
                         uint32_t nperms)
{
    return (uint64_t)plen + vlen + klen + nperms * sizeof(struct store_perm) +
           sizeof(struct store_node);
}

struct store_domain *store_node_charged(struct store *s,
                                       const struct store_node *n)
{
    struct store_domain *d = store_domain_get(s, n->perms[0].id);
    if (!d || d->gen > n->permgen)
        return NULL;
    return d;
}

static void charge(struct store *s, const struct store_node *n, int sign)
{
    struct store_domain *d = store_node_charged(s, n);
    if (!d)
        return;
    uint64_t cost = store_node_cost(n->plen, n->vlen, n->klen, n->nperms);
    if (sign > 0) {
        d->nodes++;
        d->memory += cost;
    } else {
        if (d->nodes)
            d->nodes--;
        d->memory = d->memory > cost ? d->memory - cost : 0;
    }
}

static void *dup_bytes(const void *p, uint32_t len, bool nul)
{
    char *q = malloc(len + (nul ? 1 : 0) + 1);
    if (!q)
        return NULL;
    if (len)
        memcpy(q, p, len);
    if (nul)
        q[len] = 0;
    return q;
}

int store_tree_put(struct store *s, const char *path, uint32_t plen,
                   const char *val, uint32_t vlen, const char *kids,
                   uint32_t klen, const struct store_perm *perms,
                   uint32_t nperms, uint64_t permgen)
{
    struct store_node *n = store_tree_get(s, path, plen);
    char *nval = NULL, *nkids = NULL;
    struct store_perm *nperm = NULL;

    /* Allocate everything first: on ENOMEM nothing has changed. */
    if (!n || val != n->val) {
        if (!(nval = dup_bytes(val, vlen, true)))
            goto nomem;
    }
    if (!n || kids != n->kids) {
        if (!(nkids = dup_bytes(kids, klen, false)))
            goto nomem;
    }
    if (!n || perms != n->perms) {
        if (!(nperm = dup_bytes(perms, nperms * sizeof(*perms), false)))
            goto nomem;
    }
    if (!n) {
        n = calloc(1, sizeof(*n));
        if (!n || !(n->path = dup_bytes(path, plen, true))) {
            free(n);
            goto nomem;
        }
        n->plen = plen;
        n->h.key = n->path;
        n->h.klen = plen;
        store_htab_add(&s->nodes, &n->h);
    } else {
        charge(s, n, -1);
    }
    if (nval) {
        free(n->val);
        n->val = nval;
    }
    if (nkids) {
        free(n->kids);
        n->kids = nkids;
    }
    if (nperm) {
        free(n->perms);
        n->perms = nperm;
    }
    n->vlen = vlen;
    n->klen = klen;
    n->nperms = nperms;
    n->permgen = permgen;
    n->gen = store_next_gen(s);
    charge(s, n, +1);
    return 0;
nomem:
    free(nval);
    free(nkids);
    free(nperm);
    return ENOMEM;
}

void store_tree_del(struct store *s, struct store_node *n)
{
    charge(s, n, -1);
    store_htab_del(&s->nodes, &n->h);
    free(n->path);
    free(n->val);
    free(n->kids);
    free(n->perms);
    free(n);
}

int store_kids_add(const char *kids, uint32_t klen, const char *name,
                   uint32_t nlen, char **out, uint32_t *olen)
{
    char *k = malloc(klen + nlen + 2);
    if (!k)
        return ENOMEM;
    if (klen)
        memcpy(k, kids, klen);
    memcpy(k + klen, name, nlen);
    k[klen + nlen] = 0;
    *out = k;
    *olen = klen + nlen + 1;
    return 0;
}

int store_kids_del(const char *kids, uint32_t klen, const char *name,
                   uint32_t nlen, char **out, uint32_t *olen)
{
    uint32_t off = 0;
    while (off < klen) {
        uint32_t l = strnlen(kids + off, klen - off);
        if (l == nlen && !memcmp(kids + off, name, nlen)) {
            char *k = malloc(klen + 1);
            if (!k)
                return ENOMEM;
            memcpy(k, kids, off);
            uint32_t rest = klen - off - l - 1;
            memcpy(k + off, kids + off + l + 1, rest);
            *out = k;
            *olen = klen - l - 1;
            return 0;
        }
        off += l + 1;
    }
    return ENOENT;
}

/* The fixed start of every store, as C xenstored sets it up. */
int store_tree_init(struct store *s)
{
    static const struct store_perm root = { 0, XS_PERM_NONE };
    uint64_t pg = store_next_gen(s);
    if (store_tree_put(s, "/", 1, "", 0, "tool", 5, &root, 1, pg) ||
        store_tree_put(s, "/tool", 5, "", 0, "xenstored", 10, &root, 1, pg) ||
        store_tree_put(s, "/tool/xenstored", 15, "", 0, "", 0, &root, 1, pg))
        return ENOMEM;
    return 0;
}

void store_tree_fini(struct store *s)
{
    for (uint32_t i = 0; i <= s->nodes.mask; i++) {
        while (s->nodes.b[i])
            store_tree_del(s, container_of(s->nodes.b[i], struct store_node,
                                           h));
    }
}

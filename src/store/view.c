/*
 * The node operations of the requests (read, write with implicit parents,
 * mkdir, rm of a subtree, set-perms), written once over two primitives,
 * get and put, that act on the committed tree or on a transaction's
 * copy-on-write view. Permission checks and quota checks live here.
 *
 * No recursion: parents are found by walking the path string, subtrees
 * are removed with an explicit work list.
 */
#include <stdlib.h>

#include "store_int.h"

int store_view_get_perm(struct store_view *v, const char *path,
                        uint32_t plen, unsigned perm, struct store_nodev *out)
{
    if (v->t)
        return store_txn_get(v->s, v->c, v->t, path, plen, perm, out);
    struct store_node *n = store_tree_get(v->s, path, plen);
    if (!n)
        return ENOENT;
    *out = (struct store_nodev){ n->val, n->kids, n->perms, n->vlen, n->klen,
                                 n->nperms, n->gen, n->permgen };
    if (perm && (store_perm_for(v->s, v->c, n->perms, n->nperms,
                                n->permgen) & perm) != perm)
        return EACCES;
    return 0;
}

int store_view_get(struct store_view *v, const char *path, uint32_t plen,
                   struct store_nodev *out)
{
    return store_view_get_perm(v, path, plen, 0, out);
}

/* Like store_view_get_perm, but a node that is absent and not yet in the
 * transaction is reported ENOENT without being recorded: whether the
 * caller may even learn that is decided by an ancestor, checked next.
 * (A refused request must leave nothing behind in the transaction.) */
static int get_lazy(struct store_view *v, const char *path, uint32_t plen,
                    unsigned perm, struct store_nodev *out)
{
    if (v->t && !store_txn_has(v->t, path, plen) &&
        !store_tree_get(v->s, path, plen))
        return ENOENT;
    return store_view_get_perm(v, path, plen, perm, out);
}

/* Store nv at path (or remove the node when deleted) and fire or record
 * its watches. The caller keeps the parent's children list right. */
static int view_put(struct store_view *v, const char *path, uint32_t plen,
                    const struct store_nodev *nv, bool deleted, int fire)
{
    struct store *s = v->s;
    if (v->t)
        return store_txn_put(s, v->c, v->t, path, plen, nv, deleted, fire);
    if (deleted) {
        struct store_node *n = store_tree_get(s, path, plen);
        if (fire != STORE_FIRE_NONE)
            store_watch_fire(s, path, plen, fire == STORE_FIRE_TREE,
                             nv->perms, nv->nperms, nv->permgen);
        if (n)
            store_tree_del(s, n);
        return 0;
    }
    int rc = store_tree_put(s, path, plen, nv->val, nv->vlen, nv->kids,
                            nv->klen, nv->perms, nv->nperms, nv->permgen);
    if (!rc && fire != STORE_FIRE_NONE)
        store_watch_fire(s, path, plen, fire == STORE_FIRE_TREE, nv->perms,
                         nv->nperms, nv->permgen);
    return rc;
}

int store_view_read(struct store_view *v, const char *path, uint32_t plen,
                    unsigned perm, struct store_nodev *out)
{
    /* The permission is checked before a transaction copies the node. */
    int rc = get_lazy(v, path, plen, perm, out);
    if (rc != ENOENT)
        return rc;
    /* Absent: say EACCES instead if the caller may not read the nearest
     * existing ancestor (it must not learn what is below). */
    uint32_t l = plen;
    while (l > 1) {
        struct store_nodev a;
        l = store_path_parent_len(path, l);
        int r = get_lazy(v, path, l, XS_PERM_READ, &a);
        if (r == ENOENT)
            continue;
        if (r)
            return r;
        break;
    }
    /* The caller learns the node is absent: a transaction records that
     * (its creation by someone else is then a conflict). */
    if (v->t) {
        struct store_nodev a;
        rc = store_view_get(v, path, plen, &a);
        return rc ? rc : EIO;   /* it was absent a moment ago */
    }
    return ENOENT;
}

/* Does this connection's domain own a node with these perms? (Memory and
 * node accounting in transactions.) */
static bool owns(struct store_view *v, const struct store_perm *p)
{
    return store_conn_unpriv(v->c) && p[0].id == v->c->id;
}

/* view_put, and in a transaction the caller's gain or loss in nodes and
 * memory when it owns the node (the committed tree charges owners itself).
 * Ownership is decided before the put: in a transaction the put frees the
 * old copy's buffers, which nv->perms may point into. */
static int view_put_charged(struct store_view *v, const char *path,
                            uint32_t plen, const struct store_nodev *nv,
                            bool deleted, int fire, int64_t nodes,
                            int64_t memory)
{
    bool own = v->t && owns(v, nv->perms);
    int rc = view_put(v, path, plen, nv, deleted, fire);
    if (!rc && own)
        store_txn_account(v->t, nodes, memory);
    return rc;
}

/* The node-size quota, xenstored's rule (write_node_raw): the node's
 * record -- a 16-byte header, 8 bytes per permission, the value and the
 * children list -- must stay below the quota. It applies to every node a
 * request writes, parents whose children list grows included. */
static bool fits(struct store_view *v, uint32_t vlen, uint32_t klen,
                 uint32_t nperms)
{
    uint64_t size = 16 + 8 * (uint64_t)nperms + vlen + klen;
    return store_quota_ok(v->s, v->c, STORE_Q_NODE_SIZE, size, 1);
}

/* The domain charged for a node the view sees (its owner unless that
 * entry is stale), as tree.c charges it. */
static struct store_domain *charged_dom(struct store_view *v,
                                        const struct store_nodev *nv)
{
    if (store_perm_stale(v->s, NULL, &nv->perms[0], nv->permgen))
        return NULL;
    return store_domain_get(v->s, nv->perms[0].id);
}

/* The permissions a node created under par gets: count only. */
static uint32_t inherited_nperms(struct store_view *v,
                                 const struct store_nodev *par)
{
    uint32_t np = 1;
    for (uint32_t i = 1; i < par->nperms; i++)
        if (!store_perm_stale(v->s, NULL, &par->perms[i], par->permgen))
            np++;
    return np;
}

/* Create path (whose parent exists in the view) with value val. */
static int create_one(struct store_view *v, const char *path, uint32_t plen,
                      const char *val, uint32_t vlen, int fire)
{
    struct store *s = v->s;
    struct store_nodev par, nv;
    uint32_t pl = store_path_parent_len(path, plen);
    int rc = store_view_get(v, path, pl, &par);
    if (rc)
        return rc;
    /* Children of the parent: one more name. */
    const char *name = path + (pl == 1 ? 1 : pl + 1);
    uint32_t nlen = plen - (uint32_t)(name - path);
    char *kids;
    uint32_t klen;
    if ((rc = store_kids_add(par.kids, par.klen, name, nlen, &kids, &klen)))
        return rc;
    /* Permissions: the parent's, without stale entries; an unprivileged
     * creator owns what it creates. */
    struct store_perm *perms = malloc((par.nperms + 1) * sizeof(*perms));
    if (!perms) {
        free(kids);
        return ENOMEM;
    }
    uint32_t np = 0;
    perms[np] = par.perms[0];
    if (store_perm_stale(s, NULL, &par.perms[0], par.permgen))
        perms[np].id = 0;
    if (store_conn_unpriv(v->c))
        perms[np].id = v->c->id;
    np++;
    for (uint32_t i = 1; i < par.nperms; i++)
        if (!store_perm_stale(s, NULL, &par.perms[i], par.permgen))
            perms[np++] = par.perms[i];

    struct store_nodev newpar = par;
    newpar.kids = kids;
    newpar.klen = klen;
    rc = view_put_charged(v, path, pl, &newpar, false, STORE_FIRE_NONE, 0,
                          (int64_t)nlen + 1);
    if (!rc) {
        nv = (struct store_nodev){ val, "", perms, vlen, 0, np, 0,
                                   store_next_gen(s) };
        rc = view_put_charged(v, path, plen, &nv, false, fire, 1,
                              (int64_t)store_node_cost(plen, vlen, 0, np));
    }
    free(kids);
    free(perms);
    return rc;
}

static uint64_t dom_nodes(struct store_view *v)
{
    uint64_t n = v->c->dom ? v->c->dom->nodes : 0;
    if (v->t) {
        int64_t d = store_txn_nodes_delta(v->t);
        n = d < 0 && (uint64_t)-d > n ? 0 : n + (uint64_t)d;
    }
    return n;
}

static uint64_t dom_memory(struct store_view *v)
{
    uint64_t n = store_dom_mem(v->c->dom);
    if (v->t) {
        int64_t d = store_txn_memory_delta(v->t);
        n = d < 0 && (uint64_t)-d > n ? 0 : n + (uint64_t)d;
    }
    return n;
}

int store_view_write(struct store_view *v, const char *path, uint32_t plen,
                     const char *val, uint32_t vlen, bool mkdir_only)
{
    struct store_nodev nv;
    int rc = get_lazy(v, path, plen, XS_PERM_WRITE, &nv);
    if (rc == 0) {
        if (mkdir_only)
            return 0;
        if (!fits(v, vlen, nv.klen, nv.nperms))
            return ENOSPC;
        if (vlen > nv.vlen &&
            !store_quota_ok(v->s, v->c, STORE_Q_MEMORY, dom_memory(v),
                            vlen - nv.vlen))
            return ENOSPC;
        struct store_nodev w = nv;
        w.val = val;
        w.vlen = vlen;
        return view_put_charged(v, path, plen, &w, false, STORE_FIRE_TREE, 0,
                                (int64_t)vlen - (int64_t)nv.vlen);
    }
    if (rc != ENOENT)
        return rc;

    /* Find the nearest existing ancestor; count the missing levels. */
    uint32_t l = plen, missing = 1;
    struct store_nodev anc;
    for (;;) {
        l = store_path_parent_len(path, l);
        rc = get_lazy(v, path, l, XS_PERM_WRITE, &anc);
        if (rc == 0)
            break;
        if (rc != ENOENT || l == 1)
            return rc;
        missing++;
    }
    /* Every quota is checked for every node the request will write,
     * before the first one is written: the ancestor whose children list
     * gains a name, each missing level (one child), the node itself.
     * Memory is charged to each node's owner: the new nodes are the
     * caller's, the ancestor's growth is its owner's. */
    uint32_t np = inherited_nperms(v, &anc);
    uint32_t first = l == 1 ? 1 : l + 1;   /* the first missing name */
    uint32_t fend = first;
    while (fend < plen && path[fend] != '/')
        fend++;
    if (!fits(v, anc.vlen, anc.klen + (fend - first) + 1, anc.nperms))
        return ENOSPC;
    uint64_t mem = 0;
    for (uint32_t i = fend; i <= plen; i++) {
        if (i < plen && path[i] != '/')
            continue;
        /* Level path[0..i): its child is the next component, if any. */
        uint32_t kid = 0;
        if (i < plen) {
            uint32_t e = i + 1;
            while (e < plen && path[e] != '/')
                e++;
            kid = e - (i + 1) + 1;
        }
        uint32_t lv = i == plen ? vlen : 0;
        if (!fits(v, lv, kid, np))
            return ENOSPC;
        mem += store_node_cost(i, lv, kid, np);
    }
    if (!store_quota_ok(v->s, v->c, STORE_Q_NODES, dom_nodes(v), missing))
        return ENOSPC;
    struct store_domain *ad = charged_dom(v, &anc);
    uint64_t growth = (uint64_t)(fend - first) + 1;
    if (ad && ad == v->c->dom)
        mem += growth;
    else if (ad && store_conn_unpriv(v->c) && ad->id != 0 &&
             !store_quota_dom_ok(v->s, ad, STORE_Q_MEMORY, store_dom_mem(ad),
                                 growth))
        return ENOSPC;
    if (!store_quota_ok(v->s, v->c, STORE_Q_MEMORY, dom_memory(v), mem))
        return ENOSPC;
    /* Create top-down: each level's parent exists when it is made. */
    for (uint32_t i = l + 1; i <= plen; i++) {
        if (i < plen && path[i] != '/')
            continue;
        bool last = i == plen;
        rc = create_one(v, path, i, last ? val : "", last ? vlen : 0,
                        last ? STORE_FIRE_TREE : STORE_FIRE_NONE);
        if (rc)
            return rc;
    }
    return 0;
}

int store_view_mkdir(struct store_view *v, const char *path, uint32_t plen)
{
    return store_view_write(v, path, plen, "", 0, true);
}

/* The nodes of a subtree, parents before children: an explicit list,
 * not recursion. The strings are separate allocations, so a path stays
 * where it is when the list grows. */
struct rm_list {
    struct {
        char *path;
        uint32_t plen;
    } *item;
    size_t n, cap;
};

/* Append path p (pl bytes), followed by "/name" if name is given, to l.
 * 0 or ENOMEM. */
static int rm_add(struct rm_list *l, const char *p, uint32_t pl,
                  const char *name, uint32_t nlen)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *ni = realloc(l->item, sizeof(*l->item) * cap);
        if (!ni)
            return ENOMEM;
        l->item = ni;
        l->cap = cap;
    }
    uint32_t base = name && pl == 1 ? 0 : pl;   /* "/" + "/name" is "/name" */
    uint32_t len = name ? base + 1 + nlen : pl;
    char *cp = malloc(len + 1);
    if (!cp)
        return ENOMEM;
    memcpy(cp, p, base);
    if (name) {
        cp[base] = '/';
        memcpy(cp + base + 1, name, nlen);
    }
    cp[len] = 0;
    l->item[l->n].path = cp;
    l->item[l->n++].plen = len;
    return 0;
}

/* Every node of the subtree at path into l, parents first. */
static int rm_collect(struct store_view *v, const char *path, uint32_t plen,
                      struct rm_list *l)
{
    int rc = rm_add(l, path, plen, NULL, 0);
    for (size_t i = 0; !rc && i < l->n; i++) {
        const char *p = l->item[i].path;
        uint32_t pl = l->item[i].plen;
        struct store_nodev cur;
        /* Every node of the subtree exists (it is listed by its parent):
         * any error here (ENOSPC from the transaction-nodes quota, ENOMEM)
         * fails the whole RM before anything has changed. Skipping the
         * node would unlink the subtree and leave its descendants behind,
         * orphaned. */
        rc = store_view_get(v, p, pl, &cur);
        for (uint32_t off = 0; !rc && off < cur.klen;) {
            uint32_t kl = (uint32_t)strnlen(cur.kids + off, cur.klen - off);
            rc = rm_add(l, p, pl, cur.kids + off, kl);
            off += kl + 1;
        }
    }
    return rc;
}

int store_view_rm(struct store_view *v, const char *path, uint32_t plen)
{
    struct store_nodev nv;
    if (plen == 1)
        return EINVAL;   /* "/" cannot go */
    int rc = store_view_read(v, path, plen, XS_PERM_WRITE, &nv);
    if (rc == ENOENT) {
        /* Gone already: fine if the parent exists (xenstored). */
        struct store_nodev par;
        return store_view_get(v, path, store_path_parent_len(path, plen),
                              &par);
    }
    if (rc)
        return rc;

    struct rm_list list = { 0 };
    if ((rc = rm_collect(v, path, plen, &list)))
        goto out;
    /* Unlink from the parent first, then remove children before parents
     * so the tree is consistent after every step. */
    struct store_nodev par;
    uint32_t pl = store_path_parent_len(path, plen);
    if ((rc = store_view_get(v, path, pl, &par)))
        goto out;
    char *kids;
    uint32_t klen;
    const char *name = path + (pl == 1 ? 1 : pl + 1);
    rc = store_kids_del(par.kids, par.klen, name,
                        plen - (uint32_t)(name - path), &kids, &klen);
    if (rc == ENOENT)
        rc = 0, kids = NULL;
    if (rc)
        goto out;
    if (kids) {
        struct store_nodev np = par;
        np.kids = kids;
        np.klen = klen;
        rc = view_put(v, path, pl, &np, false, STORE_FIRE_NONE);
        free(kids);
        if (rc)
            goto out;
    }
    for (size_t i = list.n; i-- > 0;) {
        const char *p = list.item[i].path;
        uint32_t l = list.item[i].plen;
        struct store_nodev cur;
        /* Already looked up above, so this cannot fail on a quota; an
         * error (none expected) still stops and fails the transaction. */
        if ((rc = store_view_get(v, p, l, &cur)))
            goto out;
        int64_t cost = (int64_t)store_node_cost(l, cur.vlen, cur.klen,
                                                cur.nperms);
        rc = view_put_charged(v, p, l, &cur, true,
                              i == 0 ? STORE_FIRE_TREE : STORE_FIRE_EXACT,
                              -1, -cost);
        if (rc)
            goto out;
    }
out:
    for (size_t i = 0; i < list.n; i++)
        free(list.item[i].path);
    free(list.item);
    return rc;
}

int store_view_set_perms(struct store_view *v, const char *path,
                         uint32_t plen, const struct store_perm *p,
                         uint32_t n)
{
    struct store *s = v->s;
    struct store_nodev nv;
    int rc = store_view_read(v, path, plen, XS_PERM_WRITE | XS_PERM_OWNER,
                             &nv);
    if (rc)
        return rc;
    if (store_conn_unpriv(v->c)) {
        domid_t owner = store_perm_stale(s, NULL, &nv.perms[0], nv.permgen) ?
                        0 : nv.perms[0].id;
        if (p[0].id != owner)
            return EPERM;
    }
    if (!store_quota_ok(s, v->c, STORE_Q_PERMS, 0, n))
        return ENOSPC;
    if (!fits(v, nv.vlen, nv.klen, n))
        return ENOSPC;
    if (n > nv.nperms && owns(v, nv.perms) &&
        !store_quota_ok(s, v->c, STORE_Q_MEMORY, dom_memory(v),
                        (n - nv.nperms) * sizeof(struct store_perm)))
        return ENOSPC;
    /* Entries name domains as they are now: the privileged toolstack may
     * name a domain before introducing it, so make sure each is known and
     * the entry is not stale from birth. A guest may not make the store
     * allocate a domain record per number it names (32752 of them): an
     * entry naming a domain the store does not know is stale from birth,
     * as xenstored marks it XS_PERM_IGNORE; the owner entry is the
     * caller's own domain. */
    for (uint32_t i = 0; i < n && !store_conn_unpriv(v->c); i++)
        if (!store_domain_get_or_add(s, p[i].id))
            return ENOMEM;
    struct store_nodev w = nv;
    w.perms = p;
    w.nperms = n;
    w.permgen = store_next_gen(s);
    return view_put(v, path, plen, &w, false, STORE_FIRE_TREE);
}

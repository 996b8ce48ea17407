/*
 * Watches. Every watch is in one hash keyed by its absolute path, so a
 * change to /a/b/c looks up "/a/b/c", "/a/b", "/a" and "/" (a handful of
 * lookups) instead of scanning every watch of every connection: a write
 * costs the same with 10 or 10000 watches registered elsewhere.
 */
#include <stdlib.h>

#include "store_int.h"

static void watch_free(struct store_conn *c, struct store_watch *w)
{
    store_htab_del(&c->s->watches, &w->h);
    c->nwatches--;
    if (c->dom && c->dom->watches)
        c->dom->watches--;
    if (c->dom)
        c->dom->watch_mem -= STORE_WATCH_COST(w->plen, w->tlen);
    free(w->path);
    free(w->token);
    free(w);
}

int store_watch_add(struct store_conn *c, const char *path, const char *token,
                    bool relative)
{
    struct store *s = c->s;
    uint32_t plen = (uint32_t)strlen(path), tlen = (uint32_t)strlen(token);
    for (struct store_watch *w = c->watches; w; w = w->conn_next)
        if (w->plen == plen && !strcmp(w->path, path) && !strcmp(w->token, token))
            return EEXIST;
    if (!store_quota_ok(s, c, STORE_Q_WATCHES, c->dom ? c->dom->watches : 0, 1))
        return E2BIG;    /* xenstored 4.17's errno for this quota */
    /* Its memory is the domain's, charged before it is allocated
     * (xenstored's add_watch: ENOMEM over the memory quota). */
    if (!store_quota_ok(s, c, STORE_Q_MEMORY, store_dom_mem(c->dom),
                        STORE_WATCH_COST(plen, tlen)))
        return ENOMEM;
    struct store_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return ENOMEM;
    w->path = strdup(path);
    w->token = strdup(token);
    if (!w->path || !w->token) {
        free(w->path);
        free(w->token);
        free(w);
        return ENOMEM;
    }
    w->plen = plen;
    w->tlen = tlen;
    w->conn = c;
    if (relative) {
        char dp[32];
        w->rel_off = (uint32_t)store_domain_path(c->id, dp, sizeof(dp)) + 1;
    }
    w->h.key = w->path;
    w->h.klen = plen;
    store_htab_add(&s->watches, &w->h);
    w->conn_next = c->watches;
    c->watches = w;
    c->nwatches++;
    if (c->dom) {
        c->dom->watches++;
        c->dom->watch_mem += STORE_WATCH_COST(plen, tlen);
    }
    return 0;
}

int store_watch_del(struct store_conn *c, const char *path, const char *token)
{
    for (struct store_watch **pp = &c->watches; *pp; pp = &(*pp)->conn_next) {
        struct store_watch *w = *pp;
        if (!strcmp(w->path, path) && !strcmp(w->token, token)) {
            *pp = w->conn_next;
            watch_free(c, w);
            return 0;
        }
    }
    return ENOENT;
}

void store_watch_del_all(struct store_conn *c)
{
    while (c->watches) {
        struct store_watch *w = c->watches;
        c->watches = w->conn_next;
        watch_free(c, w);
    }
}

/* Queue "path\0token\0" to the watcher, path made relative if the watch
 * was registered relative. */
void store_watch_event(struct store_watch *w, const char *path, uint32_t plen)
{
    struct store_conn *c = w->conn;
    if (c->dead)
        return;
    if (w->rel_off && plen >= w->rel_off) {
        path += w->rel_off;
        plen -= w->rel_off;
    }
    uint32_t len = plen + 1 + w->tlen + 1;
    if (len > XENSTORE_PAYLOAD_MAX)
        return;   /* over-long events are not sent (xenstored) */
    char stackbuf[512];
    char *buf = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
    if (!buf)
        return;
    memcpy(buf, path, plen);
    buf[plen] = 0;
    memcpy(buf + plen + 1, w->token, w->tlen + 1);
    store_conn_send(c, XS_WATCH_EVENT, 0, 0, buf, len, true);
    if (buf != stackbuf)
        free(buf);
}

/* xenstored's watch_permitted(): the watcher may read the node, or its
 * parent (whose directory lists the node anyway; backends watch frontend
 * directories they cannot read). */
static bool permitted(struct store *s, struct store_conn *c, const char *path,
                      uint32_t plen, const struct store_perm *perms,
                      uint32_t nperms, uint64_t permgen)
{
    if (!store_conn_unpriv(c))
        return true;
    if (store_perm_for(s, c, perms, nperms, permgen) & XS_PERM_READ)
        return true;
    struct store_node *par = store_tree_get(s, path,
                                            store_path_parent_len(path, plen));
    return par && (store_perm_for(s, c, par->perms, par->nperms,
                                  par->permgen) & XS_PERM_READ);
}

void store_watch_fire(struct store *s, const char *path, uint32_t plen,
                      bool tree, const struct store_perm *perms,
                      uint32_t nperms, uint64_t permgen)
{
    if (!s->watches.count)
        return;
    uint32_t ql = plen;
    for (;;) {
        for (struct store_hent *e = store_htab_find(&s->watches, path, ql);
             e; e = store_htab_find_next(e, path, ql)) {
            struct store_watch *w = container_of(e, struct store_watch, h);
            if (permitted(s, w->conn, path, plen, perms, nperms, permgen))
                store_watch_event(w, path, plen);
        }
        if (!tree || ql == 1)
            break;
        /* Next ancestor: "/a/b" -> "/a" -> "/". */
        ql = store_path_parent_len(path, ql);
    }
}

void store_watch_fire_special(struct store *s, const char *name)
{
    uint32_t nl = (uint32_t)strlen(name);
    if (!s->watches.count)
        return;
    for (struct store_hent *e = store_htab_find(&s->watches, name, nl); e;
         e = store_htab_find_next(e, name, nl)) {
        struct store_watch *w = container_of(e, struct store_watch, h);
        int idx = store_special_index(name);
        if (!store_conn_unpriv(w->conn) ||
            (idx >= 0 && (store_perm_for(s, w->conn, s->special_perms[idx],
                                         s->special_nperms[idx],
                                         s->special_permgen[idx]) & XS_PERM_READ)))
            store_watch_event(w, name, nl);
    }
}

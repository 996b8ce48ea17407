/*
 * Domains as the store sees them: introduced or not, their ring, their
 * SET_TARGET, their server features and their quota counters. Releasing a
 * domain frees all of it, so a domain that later reuses the number starts
 * from nothing (its generation also makes old permission entries stale).
 */
#include <stdlib.h>

#include "store_int.h"

struct store_domain *store_domain_get(struct store *s, domid_t id)
{
    return id < STORE_DOMID_MAX ? s->doms[id] : NULL;
}

struct store_domain *store_domain_get_or_add(struct store *s, domid_t id)
{
    if (id >= STORE_DOMID_MAX)
        return NULL;
    if (s->doms[id])
        return s->doms[id];
    struct store_domain *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->id = id;
    /* Strictly newer than every permission entry written so far. */
    d->gen = id == 0 ? 0 : store_next_gen(s);
    d->target = DOMID_INVALID;
    for (unsigned q = 0; q < STORE_Q_NR; q++)
        d->q[q] = UINT32_MAX;
    s->doms[id] = d;
    return d;
}

void store_domain_free(struct store *s, domid_t id)
{
    free(s->doms[id]);
    s->doms[id] = NULL;
}

int store_do_introduce(struct store *s, domid_t domid, uint64_t mfn,
                       uint32_t port, bool from_wire)
{
    if (domid == 0 || domid >= DOMID_FIRST_RESERVED)
        return EINVAL;
    struct store_domain *d = store_domain_get_or_add(s, domid);
    if (!d)
        return ENOMEM;
    if (d->introduced) {
        /* xenstored: a second INTRODUCE rebinds the event channel and
         * resets the connection; we reset the ring's state. */
        if (d->ring) {
            store_txn_free_all(d->ring);
            store_watch_del_all(d->ring);
        }
        return 0;
    }
    if (from_wire && s->ops.introduce) {
        /* the hook says -errno; the wire (and this function) positive */
        int rc = s->ops.introduce(s->opaque, s, domid, mfn, port);
        if (rc)
            return -rc;
    }
    d->introduced = true;
    store_log(s, STORE_LOG_INFO, "domain %u introduced", domid);
    store_watch_fire_special(s, "@introduceDomain");
    return 0;
}

int store_do_release(struct store *s, domid_t domid)
{
    struct store_domain *d = store_domain_get(s, domid);
    if (domid == 0 || !d || !d->introduced)
        return ENOENT;
    if (d->ring) {
        /* The ring connection is emptied and detached but not freed: the
         * VMM may still hold it (a kick in flight on another thread); it
         * frees it with store_ring_detach() once the event channel is
         * gone. Kicks on it do nothing from now on. */
        struct store_conn *rc = d->ring;
        store_txn_free_all(rc);
        store_watch_del_all(rc);
        store_conn_out_consume_locked(rc, rc->out_bytes);
        rc->intf = NULL;
        rc->dom = NULL;
        rc->dead = true;
        d->ring = NULL;
    }
    /* Any other connection of the domain loses its state and is closed
     * by its transport. */
    for (struct store_conn *c = s->conns; c; c = c->next) {
        if (c->id != domid)
            continue;
        store_txn_free_all(c);
        store_watch_del_all(c);
        c->dom = NULL;
        c->dead = true;
    }
    /* Domains that had this one as target lose it. */
    for (unsigned i = 0; i < STORE_DOMID_MAX; i++)
        if (s->doms[i] && s->doms[i]->target == domid)
            s->doms[i]->target = DOMID_INVALID;
    if (s->ops.release)
        s->ops.release(s->opaque, domid);
    store_domain_free(s, domid);
    store_log(s, STORE_LOG_INFO, "domain %u released", domid);
    store_watch_fire_special(s, "@releaseDomain");
    return 0;
}

int store_domain_introduce(struct store *s, domid_t domid,
                           struct xenstore_domain_interface *intf,
                           void (*notify)(void *arg), void *arg,
                           struct store_conn **conn)
{
    int rc = 0;
    struct store_conn *c = NULL;
    pthread_mutex_lock(&s->lock);
    struct store_domain *d = store_domain_get(s, domid);
    if (domid == 0 || domid >= DOMID_FIRST_RESERVED || !intf) {
        rc = EINVAL;
    } else if (d && d->introduced) {
        rc = EEXIST;
    } else if (!(c = store_ring_attach_locked(s, domid, intf, notify,
                                              arg))) {
        rc = ENOMEM;
    } else {
        rc = store_do_introduce(s, domid, 0, 0, false);
    }
    if (conn)
        *conn = rc ? NULL : c;
    pthread_mutex_unlock(&s->lock);
    return -rc;
}

int store_domain_release(struct store *s, domid_t domid)
{
    pthread_mutex_lock(&s->lock);
    int rc = store_do_release(s, domid);
    pthread_mutex_unlock(&s->lock);
    return -rc;
}

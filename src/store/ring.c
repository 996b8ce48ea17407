/*
 * The guest ring transport: struct xenstore_domain_interface in a page
 * shared with the guest, plus an event channel in each direction (here a
 * notify callback out, store_ring_kick() in).
 *
 * The page is guest memory: the guest may change anything at any time.
 * So the indexes are read once per pass, checked (prod - cons must not
 * exceed the ring size, else the connection is given up with
 * XENSTORE_ERROR_RINGIDX in the error field), every offset is masked, and
 * request bytes are copied out of the ring before they are parsed.
 *
 * Barriers follow xenstored and the Linux front end (seed 001's
 * xb_init_comms side): read the producer index, full barrier, then read
 * the data; copy data, full barrier, then publish the new index; notify
 * after publishing.
 */
#include <stdlib.h>

#include "store_int.h"

#if defined(__SANITIZE_THREAD__)
#define RING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RING_TSAN 1
#endif
#endif

#ifdef RING_TSAN
/* ThreadSanitizer does not model fences (GCC refuses to build them): a
 * seq_cst read-modify-write is a full barrier too, and the acquire and
 * release on the indexes below carry the ordering TSan checks. */
static int ring_mb_word;
#define RING_MB() ((void)__atomic_fetch_add(&ring_mb_word, 0, __ATOMIC_SEQ_CST))
#else
#define RING_MB() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

/* Index loads acquire and stores release (besides the full barriers the
 * protocol asks for), so a reader on another thread -- a vCPU polling
 * the page -- sees the data that a published index covers. */
static uint32_t ld(const XENSTORE_RING_IDX *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void st(XENSTORE_RING_IDX *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Give up on the ring (the guest can ask for a reconnect). */
static void ring_fail(struct store_conn *c, uint32_t err, const char *why)
{
    struct xenstore_domain_interface *intf = c->intf;
    store_log_rl(c->s, STORE_LOG_WARN, "domain %u: xenstore ring %s: "
                 "connection ignored until the guest reconnects", c->id, why);
    c->dead = true;
    /* The field is the guest's to read only if the feature is offered
     * (SET_FEATURE may have withdrawn it): xenstored's ignore_connection. */
    if (c->dom && (c->dom->features & XENSTORE_SERVER_FEATURE_ERROR))
        __atomic_store_n(&intf->error, err, __ATOMIC_RELAXED);
    RING_MB();
    if (c->notify)
        c->notify(c->notify_arg);
}

/* Copy queued output into the response ring; true if anything went. */
static bool flush_out(struct store_conn *c)
{
    struct xenstore_domain_interface *intf = c->intf;
    bool moved = false;
    while (c->out_head && !c->dead) {
        uint32_t cons = ld(&intf->rsp_cons), prod = ld(&intf->rsp_prod);
        RING_MB();
        if (prod - cons > XENSTORE_RING_SIZE) {
            ring_fail(c, XENSTORE_ERROR_RINGIDX, "response indexes invalid");
            return moved;
        }
        uint32_t space = XENSTORE_RING_SIZE - (prod - cons);
        if (!space)
            break;
        struct store_out *o = c->out_head;
        uint32_t n = o->len - c->out_off;
        if (n > space)
            n = space;
        const char *src = o->data + c->out_off;
        uint32_t at = MASK_XENSTORE_IDX(prod);
        uint32_t first = XENSTORE_RING_SIZE - at < n ?
                         XENSTORE_RING_SIZE - at : n;
        memcpy(intf->rsp + at, src, first);
        memcpy(intf->rsp, src + first, n - first);
        RING_MB();   /* data visible before the index */
        st(&intf->rsp_prod, prod + n);
        store_conn_out_consume_locked(c, n);
        moved = true;
    }
    return moved;
}

void store_ring_flush(struct store_conn *c)
{
    if (!c->intf || c->dead)
        return;
    if (flush_out(c) && c->notify)
        c->notify(c->notify_arg);
}

/* The guest set connection = XENSTORE_RECONNECT: drop everything of the
 * old connection, zero the indexes, then say CONNECTED. */
static void reconnect(struct store_conn *c)
{
    struct xenstore_domain_interface *intf = c->intf;
    store_txn_free_all(c);
    store_watch_del_all(c);
    while (c->out_head)
        store_conn_out_consume_locked(c, c->out_head->len - c->out_off);
    c->in_len = 0;
    c->dead = false;
    st(&intf->req_cons, 0);
    st(&intf->req_prod, 0);
    st(&intf->rsp_cons, 0);
    st(&intf->rsp_prod, 0);
    __atomic_store_n(&intf->error, XENSTORE_ERROR_NONE, __ATOMIC_RELAXED);
    RING_MB();
    __atomic_store_n(&intf->connection, XENSTORE_CONNECTED, __ATOMIC_RELAXED);
    RING_MB();
}

static void service(struct store_conn *c)
{
    struct xenstore_domain_interface *intf = c->intf;
    bool notify = false;
    if (!intf)
        return;
    /* The connection state holds valid data only while the reconnection
     * feature is advertised (xenstore-ring.txt); after SET_FEATURE took
     * it away, whatever the guest writes there is ignored. */
    if (c->dom && (c->dom->features & XENSTORE_SERVER_FEATURE_RECONNECTION) &&
        __atomic_load_n(&intf->connection, __ATOMIC_RELAXED) ==
        XENSTORE_RECONNECT) {
        RING_MB();
        reconnect(c);
        notify = true;
    }
    /* Bounded: at most a few ring-fulls per kick; the guest kicks again. */
    for (int pass = 0; pass < 16 && !c->dead; pass++) {
        notify |= flush_out(c);
        uint32_t cons = ld(&intf->req_cons), prod = ld(&intf->req_prod);
        RING_MB();   /* indexes before data */
        if (prod - cons > XENSTORE_RING_SIZE) {
            ring_fail(c, XENSTORE_ERROR_RINGIDX, "request indexes invalid");
            return;
        }
        uint32_t avail = prod - cons;
        if (!avail)
            break;
        /* Copy out first: the guest may rewrite the ring under us. */
        char buf[XENSTORE_RING_SIZE];
        uint32_t at = MASK_XENSTORE_IDX(cons);
        uint32_t first = XENSTORE_RING_SIZE - at < avail ?
                         XENSTORE_RING_SIZE - at : avail;
        memcpy(buf, intf->req + at, first);
        memcpy(buf + first, intf->req, avail - first);
        size_t used = store_conn_feed_locked(c, buf, avail);
        if (c->dead) {   /* the feed found an oversized message */
            ring_fail(c, XENSTORE_ERROR_PROTO, "message too long");
            return;
        }
        if (used) {
            RING_MB();   /* done with the data before freeing the space */
            st(&intf->req_cons, cons + (uint32_t)used);
            notify = true;
        }
        notify |= flush_out(c);
        if (used < avail)
            break;   /* back-pressure: continue when the guest reads */
    }
    if (notify && c->notify && !c->dead)
        c->notify(c->notify_arg);
}

void store_ring_kick(struct store_conn *c)
{
    struct store *s = c->s;
    pthread_mutex_lock(&s->lock);
    service(c);
    pthread_mutex_unlock(&s->lock);
}

struct store_conn *store_ring_attach_locked(struct store *s, domid_t domid,
                                       struct xenstore_domain_interface *intf,
                                       void (*notify)(void *arg), void *arg)
{
    if (!intf || domid == 0 || domid >= DOMID_FIRST_RESERVED)
        return NULL;
    struct store_domain *d = store_domain_get_or_add(s, domid);
    if (!d || d->ring)
        return NULL;
    struct store_conn *c = store_conn_new_locked(s, domid, false, NULL, NULL);
    if (!c)
        return NULL;
    c->is_ring = true;
    c->intf = intf;
    c->notify = notify;
    c->notify_arg = arg;
    d->ring = c;
    d->features = XENSTORE_SERVER_FEATURE_RECONNECTION |
                  XENSTORE_SERVER_FEATURE_ERROR;
    __atomic_store_n(&intf->server_features, d->features, __ATOMIC_RELAXED);
    RING_MB();
    return c;
}

struct store_conn *store_ring_attach(struct store *s, domid_t domid,
                                     struct xenstore_domain_interface *intf,
                                     void (*notify)(void *arg), void *arg)
{
    pthread_mutex_lock(&s->lock);
    struct store_conn *c = store_ring_attach_locked(s, domid, intf, notify,
                                                    arg);
    pthread_mutex_unlock(&s->lock);
    return c;
}

void store_ring_detach(struct store_conn *c)
{
    store_conn_free(c);        /* a ring's connection is closed as any */
}

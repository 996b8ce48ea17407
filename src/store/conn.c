/*
 * Connections: message framing on input, the output queue, and the
 * bounds that keep one client from hurting the others:
 *  - a header announcing more than XENSTORE_PAYLOAD_MAX kills the
 *    connection (xenstored does the same: the stream cannot be resynced);
 *  - input is taken only while unsent output is under STORE_OUT_SOFT and,
 *    for guests, while fewer than the "outstanding" quota of replies wait;
 *  - watch events beyond STORE_OUT_HARD of unsent output are dropped
 *    (and logged), so a client that never reads costs bounded memory.
 */
#include <stdlib.h>

#include "store_int.h"

struct store_conn *store_conn_new_locked(struct store *s, domid_t domid,
                                         bool priv,
                                         const struct store_conn_ops *ops,
                                         void *arg)
{
    if (domid >= DOMID_FIRST_RESERVED)
        return NULL;
    struct store_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->dom = store_domain_get_or_add(s, domid);
    if (!c->dom) {
        free(c);
        return NULL;
    }
    c->s = s;
    c->id = domid;
    c->priv = priv;
    c->ops = ops;
    c->arg = arg;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    return c;
}

struct store_conn *store_conn_new(struct store *s, domid_t domid,
                                  bool privileged,
                                  const struct store_conn_ops *ops, void *arg)
{
    pthread_mutex_lock(&s->lock);
    struct store_conn *c = store_conn_new_locked(s, domid, privileged, ops,
                                                 arg);
    pthread_mutex_unlock(&s->lock);
    return c;
}

void store_conn_close_locked(struct store_conn *c)
{
    struct store *s = c->s;
    store_txn_free_all(c);
    store_watch_del_all(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    while (c->out_head) {
        struct store_out *o = c->out_head;
        c->out_head = o->next;
        if (c->dom && o->event)
            c->dom->out_mem -= o->len;
        free(o);
    }
    if (c->is_ring && c->dom && c->dom->ring == c)
        c->dom->ring = NULL;
    free(c);
}

void store_conn_free(struct store_conn *c)
{
    if (!c)
        return;
    struct store *s = c->s;
    pthread_mutex_lock(&s->lock);
    store_conn_close_locked(c);
    pthread_mutex_unlock(&s->lock);
}

bool store_conn_dead(struct store_conn *c)
{
    pthread_mutex_lock(&c->s->lock);
    bool d = c->dead;
    pthread_mutex_unlock(&c->s->lock);
    return d;
}

static bool blocked(struct store_conn *c)
{
    if (c->out_bytes >= STORE_OUT_SOFT)
        return true;
    return store_conn_unpriv(c) &&
           c->out_replies >= store_quota_of(c->s, c->dom,
                                            STORE_Q_OUTSTANDING);
}

bool store_conn_blocked(struct store_conn *c)
{
    pthread_mutex_lock(&c->s->lock);
    bool b = blocked(c);
    pthread_mutex_unlock(&c->s->lock);
    return b;
}

int store_conn_send(struct store_conn *c, uint32_t type, uint32_t req_id,
                    uint32_t tx_id, const void *data, uint32_t len,
                    bool event)
{
    struct store *s = c->s;
    if (c->dead)
        return 0;
    /* Events are charged to the domain's memory quota and dropped over it
     * (xenstored's send_event) or over the connection's bound. Replies
     * are always queued: the "outstanding" quota bounds them (input stops
     * while that many wait), so they are not charged as memory. */
    if (event && (c->out_bytes + len > STORE_OUT_HARD ||
                  (store_conn_unpriv(c) &&
                   !store_quota_dom_ok(s, c->dom, STORE_Q_MEMORY,
                                       store_dom_mem(c->dom),
                                       STORE_HDR_SIZE + len)))) {
        c->events_dropped++;
        store_log_rl(s, STORE_LOG_WARN,
                     "domain %u: connection does not read its watch events; "
                     "%u dropped so far (%llu bytes unsent)", c->id,
                     c->events_dropped, (unsigned long long)c->out_bytes);
        return 0;
    }
    struct store_out *o = malloc(sizeof(*o) + STORE_HDR_SIZE + len);
    if (!o)
        return ENOMEM;
    struct xsd_sockmsg h = { type, req_id, tx_id, len };
    memcpy(o->data, &h, sizeof(h));
    if (len)
        memcpy(o->data + STORE_HDR_SIZE, data, len);
    o->len = (uint32_t)STORE_HDR_SIZE + len;
    o->event = event;
    o->next = NULL;
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->out_bytes += o->len;
    if (c->dom && event)
        c->dom->out_mem += o->len;
    c->out_msgs++;
    if (!event)
        c->out_replies++;
    if (c->is_ring) {
        if (!c->in_feed)
            store_ring_flush(c);   /* else the ring service flushes */
    }
    else if (!c->in_feed && c->ops && c->ops->wake)
        c->ops->wake(c->arg);
    return 0;
}

void store_conn_send_error(struct store_conn *c, const struct xsd_sockmsg *h,
                           int err)
{
    const char *name = store_errname(err);
    store_conn_send(c, XS_ERROR, h->req_id, h->tx_id, name,
                    (uint32_t)strlen(name) + 1, false);
}

size_t store_conn_feed_locked(struct store_conn *c, const void *buf,
                              size_t len)
{
    const char *p = buf;
    size_t used = 0;
    c->in_feed = true;
    while (used < len && !c->dead) {
        if (c->in_len == 0 && blocked(c))
            break;
        struct xsd_sockmsg h;
        size_t want;
        if (c->in_len < STORE_HDR_SIZE) {
            want = STORE_HDR_SIZE - c->in_len;
        } else {
            memcpy(&h, c->in, sizeof(h));
            want = STORE_HDR_SIZE + h.len - c->in_len;
        }
        size_t n = len - used < want ? len - used : want;
        memcpy(c->in + c->in_len, p + used, n);
        c->in_len += (uint32_t)n;
        used += n;
        if (c->in_len < STORE_HDR_SIZE)
            continue;
        memcpy(&h, c->in, sizeof(h));
        if (h.len > XENSTORE_PAYLOAD_MAX) {
            store_log_rl(c->s, STORE_LOG_WARN,
                         "domain %u: message of %u bytes (max %u): closing "
                         "the connection", c->id, h.len, XENSTORE_PAYLOAD_MAX);
            c->dead = true;
            break;
        }
        if (c->in_len < STORE_HDR_SIZE + h.len)
            continue;
        /* A whole message. The guard byte after it lets handlers treat a
         * final unterminated string safely; they still check for NULs. */
        char *data = c->in + STORE_HDR_SIZE;
        data[h.len] = 0;
        store_dispatch(c, &h, data);
        c->in_len = 0;
    }
    c->in_feed = false;
    return used;
}

size_t store_conn_feed(struct store_conn *c, const void *buf, size_t len)
{
    pthread_mutex_lock(&c->s->lock);
    size_t n = store_conn_feed_locked(c, buf, len);
    pthread_mutex_unlock(&c->s->lock);
    return n;
}

size_t store_conn_out_peek(struct store_conn *c, const void **data)
{
    pthread_mutex_lock(&c->s->lock);
    size_t n = 0;
    if (c->out_head) {
        *data = c->out_head->data + c->out_off;
        n = c->out_head->len - c->out_off;
    }
    pthread_mutex_unlock(&c->s->lock);
    return n;
}

unsigned store_conn_out_iov(struct store_conn *c, struct iovec *iov,
                            unsigned max)
{
    pthread_mutex_lock(&c->s->lock);
    unsigned n = 0;
    uint32_t off = c->out_off;
    for (struct store_out *o = c->out_head; o && n < max; o = o->next) {
        iov[n].iov_base = o->data + off;
        iov[n].iov_len = o->len - off;
        n++;
        off = 0;
    }
    pthread_mutex_unlock(&c->s->lock);
    return n;
}

void store_conn_out_consume_locked(struct store_conn *c, size_t n)
{
    while (n && c->out_head) {
        struct store_out *o = c->out_head;
        size_t left = o->len - c->out_off;
        size_t k = n < left ? n : left;
        c->out_off += (uint32_t)k;
        n -= k;
        if (c->out_off == o->len) {
            c->out_head = o->next;
            if (!c->out_head)
                c->out_tail = NULL;
            c->out_off = 0;
            c->out_bytes -= o->len;
            if (c->dom && o->event)
                c->dom->out_mem -= o->len;
            c->out_msgs--;
            if (!o->event)
                c->out_replies--;
            free(o);
        }
    }
}

void store_conn_out_consume(struct store_conn *c, size_t n)
{
    pthread_mutex_lock(&c->s->lock);
    store_conn_out_consume_locked(c, n);
    pthread_mutex_unlock(&c->s->lock);
}

int store_conn_request(struct store_conn *c, uint32_t type, uint32_t tx_id,
                       const void *payload, uint32_t len, uint32_t *rtype,
                       char **reply, uint32_t *rlen)
{
    static uint32_t next_req = 0x40000000;
    struct store *s = c->s;
    if (len > XENSTORE_PAYLOAD_MAX + 64)
        return -EINVAL;
    char *msg = malloc(STORE_HDR_SIZE + len);
    if (!msg)
        return -ENOMEM;
    pthread_mutex_lock(&s->lock);
    /* Shared by every store in the process: atomic, not the store lock. */
    uint32_t req = __atomic_fetch_add(&next_req, 1, __ATOMIC_RELAXED);
    struct xsd_sockmsg h = { type, req, tx_id, len };
    memcpy(msg, &h, sizeof(h));
    if (len)
        memcpy(msg + STORE_HDR_SIZE, payload, len);
    struct store_out *before = c->out_tail;
    /* Bypass back-pressure: the caller waits for this very reply. */
    uint64_t saved = c->out_bytes;
    uint32_t saved_r = c->out_replies;
    c->out_bytes = 0;
    c->out_replies = 0;
    size_t used = store_conn_feed_locked(c, msg, STORE_HDR_SIZE + len);
    c->out_bytes += saved;
    c->out_replies += saved_r;
    free(msg);
    int rc = -EPROTO;
    if (used == STORE_HDR_SIZE + len && !c->dead) {
        struct store_out **pp = before ? &before->next : &c->out_head;
        for (; *pp; pp = &(*pp)->next) {
            struct store_out *o = *pp;
            struct xsd_sockmsg rh;
            memcpy(&rh, o->data, sizeof(rh));
            if (o->event || rh.req_id != req)
                continue;
            if (o == c->out_head && c->out_off)
                break;   /* partly sent: cannot happen for a new reply */
            char *r = malloc(rh.len + 1);
            if (!r) {
                rc = -ENOMEM;
                break;
            }
            memcpy(r, o->data + STORE_HDR_SIZE, rh.len);
            r[rh.len] = 0;
            *rtype = rh.type;
            *reply = r;
            *rlen = rh.len;
            *pp = o->next;
            if (c->out_tail == o) {
                /* Find the new tail. */
                struct store_out *t = c->out_head;
                while (t && t->next)
                    t = t->next;
                c->out_tail = t;
            }
            c->out_bytes -= o->len;
            c->out_msgs--;
            c->out_replies--;
            free(o);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

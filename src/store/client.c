/*
 * In-process clients: the store's API for host code (the VMM and its dom0
 * services). Each call works on the tree directly under the store lock,
 * through the same view operations, permission checks and quotas as a
 * request on the wire, so a client acting as a guest domain is held to
 * exactly what that guest's ring is held to; nothing is encoded and errors
 * come back as negative errno, not as error strings.
 *
 * A client is a store connection that never receives bytes: the calls
 * below act on it directly. Its watches are ordinary watches of that
 * connection (fired, quota-checked and permission-checked like any), with
 * a token naming the client's record of the watch; the events are queued
 * to the connection like any, and the connection's wake (store lock held)
 * only writes a byte to a pipe registered on the client's util_loop. The loop's
 * callback takes the events off the queue and calls the watch callbacks
 * with no lock held, so a callback may call the store again.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "store_int.h"

/* Events delivered per loop callback: bounded work, the loop's other
 * registrations get their turn; the eventfd is re-armed for the rest. */
#define CLIENT_EVENT_BATCH 64

struct client_watch {
    struct client_watch *next;
    uint64_t id;
    char *path;                /* absolute (canonical) */
    char token[20];            /* id in hex: what the store sends back */
    store_watch_fn fn;
    void *opaque;
};

struct store_client {
    struct store *s;
    struct store_conn *conn;   /* acts as the client's domain */
    struct util_loop *loop;    /* NULL: no watches */
    int wake[2];               /* pipe: watch events queued; -1 if none */
    bool woken;                /* (atomic) a byte is on its way already */
    pthread_mutex_t lock;      /* watches, next_id, running, runner */
    pthread_cond_t idle;       /* running changed */
    struct client_watch *watches;
    struct client_watch *running;   /* whose callback runs now */
    pthread_t runner;               /* valid while running */
    uint64_t next_id;
};

/* The connection's wake: store lock held, any thread. */
static void client_wake(void *arg)
{
    struct store_client *c = arg;
    char b = 1;
    /* One byte per batch, not per event: a vCPU thread serving a ring
     * calls this for every event it queues to us. */
    if (__atomic_exchange_n(&c->woken, true, __ATOMIC_ACQ_REL))
        return;
    if (write(c->wake[1], &b, 1) < 0) {
        /* EAGAIN: the pipe is full, so the loop is woken anyway */
    }
}

static const struct store_conn_ops client_conn_ops = { .wake = client_wake };

/* Call the callback of the watch named by token, if it still exists. */
static void deliver(struct store_client *c, const char *path,
                    const char *token)
{
    char *end;
    uint64_t id = strtoull(token, &end, 16);
    pthread_mutex_lock(&c->lock);
    struct client_watch *w = c->watches;
    while (w && w->id != id)
        w = w->next;
    if (!w || *end) {          /* unwatched since the event was queued */
        pthread_mutex_unlock(&c->lock);
        return;
    }
    c->running = w;
    c->runner = pthread_self();
    store_watch_fn fn = w->fn;
    void *opaque = w->opaque;
    pthread_mutex_unlock(&c->lock);
    fn(opaque, path);          /* may unwatch w: fn and opaque are copies */
    pthread_mutex_lock(&c->lock);
    c->running = NULL;
    pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->lock);
}

/* The loop's callback: take queued watch events and deliver them. */
static void client_events(void *arg, uint32_t events)
{
    (void)events;
    struct store_client *c = arg;
    char drain[64];
    while (read(c->wake[0], drain, sizeof(drain)) > 0)
        ;                      /* the queue below is what counts */
    /* Before looking at the queue: an event queued from now on writes a
     * byte again, and this callback runs again for it. */
    __atomic_store_n(&c->woken, false, __ATOMIC_SEQ_CST);
    char buf[STORE_HDR_SIZE + XENSTORE_PAYLOAD_MAX + 1];
    for (int i = 0; i < CLIENT_EVENT_BATCH; i++) {
        pthread_mutex_lock(&c->s->lock);
        struct store_out *o = c->conn->out_head;
        uint32_t n = o ? o->len : 0;
        if (o) {
            /* Only events are queued here (nothing is ever fed), each
             * taken whole, so out_off is 0. */
            memcpy(buf, o->data, n);
            store_conn_out_consume_locked(c->conn, n);
        }
        pthread_mutex_unlock(&c->s->lock);
        if (!o)
            return;
        struct xsd_sockmsg h;
        memcpy(&h, buf, sizeof(h));
        buf[n] = 0;
        char *path = buf + STORE_HDR_SIZE;
        size_t pl = strnlen(path, h.len);
        if (h.type != XS_WATCH_EVENT || pl + 1 >= h.len)
            continue;
        deliver(c, path, path + pl + 1);
    }
    client_wake(c);            /* more may wait: come back after the others */
}

int store_client_new(struct store *s, domid_t domid, struct util_loop *loop,
                     struct store_client **out)
{
    struct store_client *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->s = s;
    c->loop = loop;
    c->wake[0] = c->wake[1] = -1;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->idle, NULL);
    int rc = 0;
    if (loop) {
        if (pipe(c->wake) < 0) {
            rc = -errno;
            c->wake[0] = c->wake[1] = -1;
        }
        for (int i = 0; i < 2 && !rc; i++)
            if (fcntl(c->wake[i], F_SETFL, O_NONBLOCK) < 0 ||
                fcntl(c->wake[i], F_SETFD, FD_CLOEXEC) < 0)
                rc = -errno;
        if (!rc && (rc = util_loop_add(loop, c->wake[0], UTIL_LOOP_IN,
                                       client_events, c)))
            c->loop = NULL;
    }
    if (!rc) {
        c->conn = store_conn_new(s, domid, domid == 0,
                                 loop ? &client_conn_ops : NULL, c);
        if (!c->conn)
            rc = domid >= DOMID_FIRST_RESERVED ? -EINVAL : -ENOMEM;
    }
    if (rc) {
        store_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void store_client_free(struct store_client *c)
{
    if (!c)
        return;
    if (c->loop)
        util_loop_del(c->loop, c->wake[0]);  /* no delivery after this */
    store_conn_free(c->conn);                /* its watches go with it */
    for (int i = 0; i < 2; i++)
        if (c->wake[i] >= 0)
            close(c->wake[i]);
    while (c->watches) {
        struct client_watch *w = c->watches;
        c->watches = w->next;
        free(w->path);
        free(w);
    }
    pthread_cond_destroy(&c->idle);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

#define ABS_BUF (XENSTORE_ABS_PATH_MAX + 2)

/* Take the store lock and canonicalise path as c's domain sees it. The
 * lock is held on return, whatever the result. 0 or a positive errno. */
static int op_begin(struct store_client *c, const char *path,
                    bool allow_special, char *abs, uint32_t *plen,
                    bool *relative)
{
    pthread_mutex_lock(&c->s->lock);
    if (c->conn->dead)
        return ESRCH;          /* the domain it acted as was released */
    return store_path_canon(c->conn, path, allow_special, abs, plen,
                            relative);
}

static struct store_view client_view(struct store_client *c)
{
    return (struct store_view){ c->s, c->conn, NULL };
}

/* Unlock and turn a store errno (positive) into the API's (negative). */
static int op_end(struct store_client *c, int rc)
{
    pthread_mutex_unlock(&c->s->lock);
    return -rc;
}

int store_client_read(struct store_client *c, const char *path, char **val,
                      size_t *len)
{
    char abs[ABS_BUF];
    uint32_t plen;
    struct store_nodev nv;
    struct store_view v = client_view(c);
    int rc = op_begin(c, path, false, abs, &plen, NULL);
    if (!rc)
        rc = store_view_read(&v, abs, plen, XS_PERM_READ, &nv);
    if (!rc) {
        char *copy = malloc(nv.vlen + 1);
        if (!copy) {
            rc = ENOMEM;
        } else {
            memcpy(copy, nv.val, nv.vlen);
            copy[nv.vlen] = 0;
            *val = copy;
            if (len)
                *len = nv.vlen;
        }
    }
    return op_end(c, rc);
}

/* Would path and len bytes of value fit one XS_WRITE message? */
static bool fits_wire(const char *path, size_t len)
{
    return path && strlen(path) + 1 + len <= XENSTORE_PAYLOAD_MAX;
}

int store_client_write(struct store_client *c, const char *path,
                       const void *val, size_t len)
{
    if (!fits_wire(path, len))
        return path ? -E2BIG : -EINVAL;
    char abs[ABS_BUF];
    uint32_t plen;
    struct store_view v = client_view(c);
    int rc = op_begin(c, path, false, abs, &plen, NULL);
    if (!rc)
        rc = store_view_write(&v, abs, plen, len ? val : "", (uint32_t)len,
                              false);
    return op_end(c, rc);
}

int store_client_printf(struct store_client *c, const char *path,
                        const char *fmt, ...)
{
    char val[XENSTORE_PAYLOAD_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n >= sizeof(val))
        return -E2BIG;
    return store_client_write(c, path, val, (size_t)n);
}

/* Canonicalise path as c's domain sees it and apply op (mkdir, rm). */
static int path_op(struct store_client *c, const char *path,
                   store_view_path_fn *op)
{
    char abs[ABS_BUF];
    uint32_t plen;
    struct store_view v = client_view(c);
    int rc = op_begin(c, path, false, abs, &plen, NULL);
    if (!rc)
        rc = op(&v, abs, plen);
    return op_end(c, rc);
}

int store_client_mkdir(struct store_client *c, const char *path)
{
    return path_op(c, path, store_view_mkdir);
}

int store_client_rm(struct store_client *c, const char *path)
{
    return path_op(c, path, store_view_rm);
}

int store_client_set_perms(struct store_client *c, const char *path,
                           const struct xs_permissions *perms, unsigned int n)
{
    /* As many entries as one SET_PERMS message could carry. */
    struct store_perm p[XENSTORE_PAYLOAD_MAX / 3];
    if (!perms || n == 0 || n > sizeof(p) / sizeof(p[0]))
        return -EINVAL;
    for (unsigned int i = 0; i < n; i++) {
        if (perms[i].id >= DOMID_FIRST_RESERVED ||
            (perms[i].perms & ~(unsigned)(XS_PERM_READ | XS_PERM_WRITE)))
            return -EINVAL;
        p[i] = (struct store_perm){ (domid_t)perms[i].id,
                                    (uint8_t)perms[i].perms };
    }
    char abs[ABS_BUF];
    uint32_t plen;
    struct store_view v = client_view(c);
    int rc = op_begin(c, path, false, abs, &plen, NULL);
    if (!rc)
        rc = store_view_set_perms(&v, abs, plen, p, n);
    return op_end(c, rc);
}

int store_client_watch(struct store_client *c, const char *path,
                       store_watch_fn fn, void *opaque)
{
    if (!c->loop || !fn)
        return -EINVAL;
    char abs[ABS_BUF];
    uint32_t plen;
    bool rel;
    int rc = op_begin(c, path, true, abs, &plen, &rel);
    rc = op_end(c, rc);
    if (rc)
        return rc;
    struct client_watch *w = calloc(1, sizeof(*w));
    if (!w || !(w->path = strdup(abs))) {
        free(w);
        return -ENOMEM;
    }
    w->fn = fn;
    w->opaque = opaque;
    /* On the list (complete) before the store knows it: the first event
     * may be delivered on the loop before this function returns. */
    pthread_mutex_lock(&c->lock);
    w->id = ++c->next_id;
    snprintf(w->token, sizeof(w->token), "%" PRIx64, w->id);
    w->next = c->watches;
    c->watches = w;
    pthread_mutex_unlock(&c->lock);

    pthread_mutex_lock(&c->s->lock);
    rc = c->conn->dead ? ESRCH : store_watch_add(c->conn, abs, w->token, rel);
    /* Fire once up front, as XS_WATCH does. */
    if (!rc)
        store_watch_event(c->conn->watches, abs, plen);
    rc = op_end(c, rc);
    if (rc) {
        pthread_mutex_lock(&c->lock);
        for (struct client_watch **pp = &c->watches; *pp; pp = &(*pp)->next)
            if (*pp == w) {
                *pp = w->next;
                break;
            }
        pthread_mutex_unlock(&c->lock);
        free(w->path);
        free(w);
    }
    return rc;
}

int store_client_unwatch(struct store_client *c, const char *path,
                         store_watch_fn fn, void *opaque)
{
    char abs[ABS_BUF];
    uint32_t plen;
    int rc = op_begin(c, path, true, abs, &plen, NULL);
    pthread_mutex_unlock(&c->s->lock);
    if (rc == ESRCH)
        rc = 0;                /* the store dropped its watches already */
    if (rc)
        return rc == EINVAL ? -ENOENT : -rc;   /* names no watch (XS_UNWATCH) */
    pthread_mutex_lock(&c->lock);
    struct client_watch **pp = &c->watches;
    while (*pp && ((*pp)->fn != fn || (*pp)->opaque != opaque ||
                   strcmp((*pp)->path, abs)))
        pp = &(*pp)->next;
    struct client_watch *w = *pp;
    if (!w) {
        pthread_mutex_unlock(&c->lock);
        return -ENOENT;
    }
    *pp = w->next;             /* no delivery finds it from now on */
    while (c->running == w && !pthread_equal(c->runner, pthread_self()))
        pthread_cond_wait(&c->idle, &c->lock);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_lock(&c->s->lock);
    store_watch_del(c->conn, w->path, w->token);   /* ENOENT if released */
    pthread_mutex_unlock(&c->s->lock);
    free(w->path);
    free(w);
    return 0;
}

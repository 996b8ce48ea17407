/*
 * Domain 0 as the ping-pong peer of seed 002 (its "Dom0" kernel module),
 * as a service inside the VMM: it watches /local/domain for a guest that
 * published data/pingpong/port (and rounds), binds that inter-domain
 * channel to a host-consumer port, notifies, and answers every event until
 * the rounds are done. Protocol: guests/pingpong (role=alloc peer=0).
 */
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm_int.h"

struct dom0pp_peer {
    struct vmm_host *h;
    domid_t dom;
    evtchn_port_t remote_port, local_port;
    long rounds;
    _Atomic long count;
    bool served;
};

struct vmm_dom0pp {
    struct vmm_host *h;
    struct store_conn *conn;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool wake, stop;
    char buf[8192];
    size_t len;
    struct dom0pp_peer *peers[VMM_MAX_DOMAINS];
};

static void pp_event(void *arg, domid_t dom, evtchn_port_t port)
{
    (void)dom;
    (void)port;
    struct dom0pp_peer *p = arg;
    FILE *out = p->h->console;
    if (!p->served) {
        /* bind_interdomain leaves our new port pending: Xen does, and the
         * seed's dom0 module saw this interrupt at once */
        fprintf(out, "Dom0: Handled! domid: %u, port: %u (notification left "
                "by bind_interdomain)\n", p->dom, p->local_port);
        return;
    }
    long n = atomic_fetch_add(&p->count, 1) + 1;
    if (n <= 3 || n >= p->rounds - 1 || n % 1000 == 0)
        fprintf(out, "Dom0: Handled! domid: %u, port: %u, local_irq:%u "
                "(round %ld/%ld)\n", p->dom, p->remote_port, p->local_port, n,
                p->rounds);
    if (n < p->rounds)
        evtchn_host_send(p->h->evtchn, 0, p->local_port);
    else
        fprintf(out, "Dom0: PASS %ld rounds with domain %u\n", n, p->dom);
    fflush(out);
}

static int read_long(struct vmm_dom0pp *s, const char *path, long *val)
{
    uint32_t rtype, rlen;
    char *reply = NULL;
    pthread_mutex_lock(&s->h->store_lock);
    int rc = store_conn_request(s->h->store_dom0, XS_READ, 0, path,
                                (uint32_t)strlen(path) + 1, &rtype, &reply,
                                &rlen);
    pthread_mutex_unlock(&s->h->store_lock);
    if (rc == 0 && rtype == XS_READ) {
        char *end;
        *val = strtol(reply, &end, 10);
        rc = (end == reply) ? EINVAL : 0;
    } else if (rc == 0) {
        rc = ENOENT;
    }
    free(reply);
    return rc;
}

/* A watch fired on path: is it a pingpong offer for domain 0? */
static void consider(struct vmm_dom0pp *s, const char *path)
{
    unsigned int dom;
    char tail[64];
    if (sscanf(path, "/local/domain/%u/%63s", &dom, tail) != 2 ||
        strcmp(tail, "data/pingpong/port") || dom == 0 ||
        dom >= VMM_MAX_DOMAINS || s->peers[dom])
        return;
    char p[96];
    long port, rounds = 10;
    if (read_long(s, path, &port) || port <= 0)
        return;
    snprintf(p, sizeof(p), "/local/domain/%u/data/pingpong/rounds", dom);
    read_long(s, p, &rounds);
    struct dom0pp_peer *peer = calloc(1, sizeof(*peer));
    if (!peer)
        return;
    peer->h = s->h;
    peer->dom = (domid_t)dom;
    peer->remote_port = (evtchn_port_t)port;
    peer->rounds = rounds > 0 ? rounds : 1;
    int rc = evtchn_host_bind_interdomain(s->h->evtchn, 0, peer->dom,
                                          peer->remote_port, pp_event, peer,
                                          &peer->local_port);
    if (rc) {
        /* -EINVAL: the port was offered to another domain (a guest-to-guest
         * ping-pong): not ours, say nothing. Anything else is reported. */
        if (rc != -EINVAL)
            fprintf(s->h->console, "Dom0: bind_interdomain to domain %u port "
                    "%ld failed: %d\n", dom, port, rc);
        free(peer);
        return;
    }
    s->peers[dom] = peer;
    fprintf(s->h->console, "Dom0: init info with remoteDomID:%u, port:%ld\n",
            dom, port);
    /* no IRQ layer in domain 0: the local port stands in for the irq */
    fprintf(s->h->console, "Dom0: bound local irq:%u to evtchn:%u\n",
            peer->local_port, peer->local_port);
    fflush(s->h->console);
    peer->served = true;
    evtchn_host_send(s->h->evtchn, 0, peer->local_port);
}

static void conn_wake(void *arg)
{
    struct vmm_dom0pp *s = arg;
    /* store lock held: only signal */
    pthread_mutex_lock(&s->lock);
    s->wake = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void *pp_thread(void *arg)
{
    struct vmm_dom0pp *s = arg;
    pthread_setname_np(pthread_self(), "dom0-pingpong");
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->wake && !s->stop)
            pthread_cond_wait(&s->cond, &s->lock);
        bool stop = s->stop;
        s->wake = false;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        /* Drain queued output: watch events (and nothing else: this
         * connection only ever sent XS_WATCH, answered before we start). */
        for (;;) {
            const void *data;
            pthread_mutex_lock(&s->h->store_lock);
            size_t n = store_conn_out_peek(s->conn, &data);
            if (n > sizeof(s->buf) - s->len)
                n = sizeof(s->buf) - s->len;
            memcpy(s->buf + s->len, data, n);
            store_conn_out_consume(s->conn, n);
            pthread_mutex_unlock(&s->h->store_lock);
            s->len += n;
            if (n == 0)
                break;
        }
        /* Whole messages only; a message never exceeds the buffer
         * (XENSTORE_PAYLOAD_MAX is 4096). */
        size_t off = 0;
        while (s->len - off >= sizeof(struct xsd_sockmsg)) {
            struct xsd_sockmsg m;
            memcpy(&m, s->buf + off, sizeof(m));
            if (s->len - off < sizeof(m) + m.len)
                break;
            char *pl = s->buf + off + sizeof(m);
            if (m.type == XS_WATCH_EVENT && m.len > 0) {
                pl[m.len - 1] = 0;
                consider(s, pl);
            }
            off += sizeof(m) + m.len;
        }
        memmove(s->buf, s->buf + off, s->len - off);
        s->len -= off;
    }
    return NULL;
}

int vmm_dom0pp_start(struct vmm_host *h)
{
    struct vmm_dom0pp *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->h = h;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    static const struct store_conn_ops ops = { .wake = conn_wake };
    s->conn = store_conn_new(h->store, 0, true, &ops, s);
    if (!s->conn) {
        free(s);
        return -ENOMEM;
    }
    static const char watch[] = "/local/domain\0dom0pp";
    uint32_t rtype, rlen;
    char *reply = NULL;
    pthread_mutex_lock(&h->store_lock);
    int rc = store_conn_request(s->conn, XS_WATCH, 0, watch, sizeof(watch),
                                &rtype, &reply, &rlen);
    pthread_mutex_unlock(&h->store_lock);
    free(reply);
    if (rc || rtype != XS_WATCH ||
        pthread_create(&s->thread, NULL, pp_thread, s)) {
        store_conn_free(s->conn);
        free(s);
        return -EIO;
    }
    h->dom0pp = s;
    conn_wake(s);    /* the registration's own event is already queued */
    return 0;
}

void vmm_dom0pp_stop(struct vmm_host *h)
{
    struct vmm_dom0pp *s = h->dom0pp;
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < VMM_MAX_DOMAINS; i++)
        if (s->peers[i]) {
            evtchn_host_close(h->evtchn, 0, s->peers[i]->local_port);
            free(s->peers[i]);
        }
    store_conn_free(s->conn);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
    h->dom0pp = NULL;
}

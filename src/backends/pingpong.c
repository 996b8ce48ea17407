/*
 * Domain 0 as the ping-pong peer of seed 002 (its "Dom0" kernel module),
 * as a dom0 service: a store watch on /local/domain (on the loop) finds a
 * guest that published data/pingpong/port (and rounds); the service binds
 * that inter-domain channel to a host-consumer port, notifies, and answers
 * every event until the rounds are done. When the guest's home goes (the
 * domain was removed) its channel is closed. Protocol:
 * docs/pingpong-protocol.md (guests/pingpong role=alloc peer=0).
 */
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xenkvm/backends.h"

struct pp_peer {
    struct pp_peer *next;
    struct be_pingpong *pp;
    domid_t dom;
    evtchn_port_t remote_port, local_port;
    long rounds;
    _Atomic long count;
    _Atomic bool served;          /* set once the binding is announced */
};

struct be_pingpong {
    struct be_env env;
    struct store_client *client;  /* domain 0, watching on env.loop */
    struct pp_peer *peers;        /* the loop's thread only (then destroy) */
};

/*
 * An event from the guest: answer it here, in the guest's vCPU thread.
 * That is cheap and never blocks: a count and an event-channel send (the
 * core's short locks); the lines on the console are only for the first and
 * last rounds and every 1000th, on the FILE that the guests' console_io
 * output reaches from their vCPU threads too.
 */
static void pp_event(void *arg, domid_t dom, evtchn_port_t port)
{
    (void)dom;
    (void)port;
    struct pp_peer *p = arg;
    FILE *out = p->pp->env.out;
    if (!atomic_load(&p->served)) {
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
        evtchn_host_send(p->pp->env.evtchn, 0, p->local_port);
    else
        fprintf(out, "Dom0: PASS %ld rounds with domain %u\n", n, p->dom);
    fflush(out);
}

static int read_long(struct be_pingpong *pp, const char *path, long *val)
{
    char *s, *end;
    int rc = store_client_read(pp->client, path, &s, NULL);
    if (rc)
        return rc;
    *val = strtol(s, &end, 10);
    rc = end == s ? -EINVAL : 0;
    free(s);
    return rc;
}

static struct pp_peer **peer_find(struct be_pingpong *pp, unsigned int dom)
{
    struct pp_peer **pp_ = &pp->peers;
    while (*pp_ && (*pp_)->dom != dom)
        pp_ = &(*pp_)->next;
    return pp_;
}

/* Close the channel of a peer and forget it. */
static void peer_free(struct be_pingpong *pp, struct pp_peer *p)
{
    /* waits for a pp_event in flight on the port */
    evtchn_host_close(pp->env.evtchn, 0, p->local_port);
    free(p);
}

/* Bind the channel guest dom offered at port and start the rounds. */
static void peer_bind(struct be_pingpong *pp, unsigned int dom, long port)
{
    char path[96];
    long rounds = 10;
    snprintf(path, sizeof(path), "/local/domain/%u/data/pingpong/rounds", dom);
    read_long(pp, path, &rounds);
    struct pp_peer *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    p->pp = pp;
    p->dom = (domid_t)dom;
    p->remote_port = (evtchn_port_t)port;
    p->rounds = rounds > 0 ? rounds : 1;
    FILE *out = pp->env.out;
    int rc = evtchn_host_bind_interdomain(pp->env.evtchn, 0, p->dom,
                                          p->remote_port, pp_event, p,
                                          &p->local_port);
    if (rc) {
        /* -EINVAL: the port was offered to another domain (a guest-to-guest
         * ping-pong): not ours, say nothing. Anything else is reported. */
        if (rc != -EINVAL)
            fprintf(out, "Dom0: bind_interdomain to domain %u port %ld "
                    "failed: %d\n", dom, port, rc);
        free(p);
        return;
    }
    p->next = pp->peers;
    pp->peers = p;
    fprintf(out, "Dom0: init info with remoteDomID:%u, port:%ld\n", dom, port);
    /* no IRQ layer in domain 0: the local port stands in for the irq */
    fprintf(out, "Dom0: bound local irq:%u to evtchn:%u\n", p->local_port,
            p->local_port);
    fflush(out);
    atomic_store(&p->served, true);
    evtchn_host_send(pp->env.evtchn, 0, p->local_port);
}

/* The watch on /local/domain fired on path (on the loop). */
static void on_change(void *opaque, const char *path)
{
    struct be_pingpong *pp = opaque;
    unsigned int dom;
    int n = 0;
    if (sscanf(path, "/local/domain/%u%n", &dom, &n) != 1 || dom == 0 ||
        dom >= DOMID_FIRST_RESERVED)
        return;
    struct pp_peer **p = peer_find(pp, dom);
    long port;
    if (path[n] == '\0') {
        /* The home itself changed: removed with the domain? */
        char *v = NULL;
        if (*p && store_client_read(pp->client, path, &v, NULL) == -ENOENT) {
            struct pp_peer *gone = *p;
            *p = gone->next;
            peer_free(pp, gone);
        }
        free(v);
        return;
    }
    if (*p || strcmp(path + n, "/data/pingpong/port") ||
        read_long(pp, path, &port) || port <= 0)
        return;
    peer_bind(pp, dom, port);
}

struct be_pingpong *be_pingpong_create(const struct be_env *env)
{
    struct be_pingpong *pp = calloc(1, sizeof(*pp));
    if (!pp)
        return NULL;
    pp->env = *env;
    if (store_client_new(env->store, 0, env->loop, &pp->client) ||
        store_client_watch(pp->client, "/local/domain", on_change, pp)) {
        be_pingpong_destroy(pp);
        return NULL;
    }
    return pp;
}

void be_pingpong_destroy(struct be_pingpong *pp)
{
    if (!pp)
        return;
    store_client_free(pp->client);     /* no on_change runs after this */
    while (pp->peers) {
        struct pp_peer *p = pp->peers;
        pp->peers = p->next;
        peer_free(pp, p);
    }
    free(pp);
}

/* A simulated guest on a XenStore ring page (the Linux xenbus client's
 * rules: write what fits, publish, kick; read, publish, kick), for tests
 * that drive the store through the transport a guest really has. No
 * cmocka assertions here: the functions report failure, so threads of the
 * concurrency harness can use them too. */
#ifndef STORE_RING_GUEST_H
#define STORE_RING_GUEST_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xenkvm/store.h"

#define GRING_SPINS 200000

struct gring {
    domid_t id;
    struct xenstore_domain_interface *intf;
    struct store_conn *c;
    char in[1 << 18];
    size_t have;
    uint32_t next_req;
    unsigned events;
};

/* Store callbacks for ring tests: no log lines, no event channel (the
 * simulated guest polls its ring). */
static inline void gring_quiet_log(void *opaque, enum store_log_level lvl,
                                   const char *msg)
{
    (void)opaque;
    (void)lvl;
    (void)msg;
}

static const struct store_ops gring_quiet_ops = { .log = gring_quiet_log };

static inline void gring_no_notify(void *arg)
{
    (void)arg;
}

/* Put up to len request bytes into the ring; returns how many went. */
static inline size_t gring_put(struct gring *g, const char *p, size_t len)
{
    struct xenstore_domain_interface *in = g->intf;
    XENSTORE_RING_IDX cons = __atomic_load_n(&in->req_cons, __ATOMIC_ACQUIRE);
    XENSTORE_RING_IDX prod = in->req_prod;
    size_t n = 0;
    while (n < len &&
           (XENSTORE_RING_IDX)(prod + n - cons) < XENSTORE_RING_SIZE) {
        in->req[MASK_XENSTORE_IDX(prod + n)] = p[n];
        n++;
    }
    __atomic_store_n(&in->req_prod, prod + (XENSTORE_RING_IDX)n,
                     __ATOMIC_RELEASE);
    return n;
}

/* Kick, move what the store answered into g->in, kick again. */
static inline void gring_pump(struct gring *g)
{
    struct xenstore_domain_interface *in = g->intf;
    store_ring_kick(g->c);
    XENSTORE_RING_IDX prod = __atomic_load_n(&in->rsp_prod, __ATOMIC_ACQUIRE);
    XENSTORE_RING_IDX cons = in->rsp_cons;
    while (cons != prod && g->have < sizeof(g->in))
        g->in[g->have++] = in->rsp[MASK_XENSTORE_IDX(cons++)];
    __atomic_store_n(&in->rsp_cons, cons, __ATOMIC_RELEASE);
    store_ring_kick(g->c);
}

/* Send one request, reading replies meanwhile. 0, or -1 if the store
 * stopped taking it (connection dead or no progress). */
static inline int gring_send(struct gring *g, uint32_t type, uint32_t tx,
                             const void *payload, uint32_t len,
                             uint32_t *req_id)
{
    char msg[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX];
    struct xsd_sockmsg h = { type, ++g->next_req, tx, len };
    if (len > XENSTORE_PAYLOAD_MAX)
        return -1;
    memcpy(msg, &h, sizeof(h));
    memcpy(msg + sizeof(h), payload, len);
    size_t total = sizeof(h) + len, sent = 0;
    for (int spins = 0; sent < total; spins++) {
        if (spins > GRING_SPINS || store_conn_dead(g->c))
            return -1;
        size_t n = gring_put(g, msg + sent, total - sent);
        sent += n;
        gring_pump(g);
        if (!n)
            sched_yield();
    }
    *req_id = h.req_id;
    return 0;
}

/* The reply to req_id (payload malloc'd, NUL-terminated, into *data);
 * watch events before it are counted and dropped. 0, or -1 (connection
 * dead, no progress, or a reply to something else). */
static inline int gring_take(struct gring *g, uint32_t req_id,
                             uint32_t *type, char **data, uint32_t *len)
{
    for (int spins = 0;; spins++) {
        if (spins > GRING_SPINS || store_conn_dead(g->c))
            return -1;
        gring_pump(g);
        while (g->have >= sizeof(struct xsd_sockmsg)) {
            struct xsd_sockmsg h;
            memcpy(&h, g->in, sizeof(h));
            size_t whole = sizeof(h) + h.len;
            if (g->have < whole)
                break;
            bool mine = h.type != XS_WATCH_EVENT;
            if (mine) {
                if (h.req_id != req_id)
                    return -1;
                *type = h.type;
                *len = h.len;
                *data = malloc(h.len + 1);
                if (!*data)
                    return -1;
                memcpy(*data, g->in + sizeof(h), h.len);
                (*data)[h.len] = 0;
            } else {
                g->events++;
            }
            memmove(g->in, g->in + whole, g->have - whole);
            g->have -= whole;
            if (mine)
                return 0;
        }
        sched_yield();
    }
}

#endif

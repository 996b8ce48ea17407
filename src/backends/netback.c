/*
 * The PV network backend (include/xenkvm/backends.h): the host-wide
 * service, one vif per vif = [ ... ] entry with its xenbus device
 * (xenbus_be.c) and its port on a host network (src/net), and connecting
 * a frontend: the keys it wrote (Linux 6.1's xen-netback connect and
 * connect_data_rings: request-rx-copy, feature-rx-notify, feature-sg,
 * feature-gso-tcpv4/6, feature-no-csum-offload,
 * feature-ipv6-csum-offload, multi-queue-num-queues, queue-N/,
 * tx-ring-ref, rx-ring-ref, event-channel or event-channel-tx/-rx), its
 * rings mapped through the grant tables, its channels bound. Frames
 * themselves are netback_tx.c's and netback_rx.c's.
 *
 * Everything runs on the loop (netback_int.h): the xenbus callbacks do
 * (store watches), and the calls from other threads (add, remove, stats)
 * go there through util_loop_call, so the port, the rings and the
 * counters have one owner and no lock.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "netback_int.h"

/* ---- logging and small helpers ---- */

void nb_log(struct be_net_vif *v, const char *fmt, ...)
{
    if (v->nb->env.quiet)
        return;
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "netback d%u %s: ", v->cfg.domid,
             v->name);
    va_list ap;
    va_start(ap, fmt);
    util_vlog_ratelimited(&v->nb->rl, stderr, prefix, fmt, ap);
    va_end(ap);
}

void nb_fatal(struct be_net_vif *v, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    v->st.tx_fatal++;
    if (!v->disabled)
        nb_log(v, "%s; fatal error, vif disabled", msg);
    v->disabled = true;
    for (unsigned int i = 0; i < v->nr_queues; i++)
        nb_rx_purge(&v->queues[i]);
}

void nb_queue_kick(struct nb_queue *q)
{
    eventfd_write(q->kick_fd, 1);
}

/* ---- loop and event-channel callbacks ---- */

/* The frontend notified (its vCPU thread): wake the loop, nothing more. */
static void on_event(void *arg, domid_t dom, evtchn_port_t port)
{
    (void)dom;
    (void)port;
    struct nb_queue *q = arg;
    eventfd_write(q->kick_fd, 1);
}

/* Either direction's event, or our own kick: serve both halves. */
static void on_kick(void *opaque, uint32_t events)
{
    (void)events;
    struct nb_queue *q = opaque;
    eventfd_t n;
    eventfd_read(q->kick_fd, &n);
    if (q->v->disabled)
        return;
    nb_tx_serve(q);
    if (!q->v->disabled)
        nb_rx_serve(q);
}

static void on_timer(void *opaque, uint32_t events)
{
    (void)events;
    struct nb_queue *q = opaque;
    uint64_t n;
    if (read(q->timer_fd, &n, sizeof(n)) < 0)
        return;                 /* spurious: EAGAIN */
    q->timer_armed = false;
    if (!q->v->disabled)
        nb_tx_credit_timer(q);
}

/* ---- queues ---- */

static int map_ring(struct nb_queue *q, const char *key, unsigned long ref,
                    struct gnttab_mapping *m, bool *mapped, char *err,
                    size_t errlen)
{
    struct be_net_vif *v = q->v;
    int16_t st = gnttab_map(v->nb->env.gnttab, 0, v->cfg.domid,
                            (grant_ref_t)ref, GNTMAP_host_map, m);
    if (st != GNTST_okay) {
        snprintf(err, errlen, "mapping %s (gref %lu): grant status %d", key,
                 ref, st);
        return -EINVAL;
    }
    *mapped = true;
    return 0;
}

/* A key of dir as a number, with a message when it is missing or bad. */
static int read_key(struct be_net_vif *v, const char *dir, const char *key,
                    unsigned long max, unsigned long *val, char *err,
                    size_t errlen)
{
    char path[64];
    snprintf(path, sizeof(path), "%s%s", dir, key);
    int rc = xenbus_be_fe_read_uint(v->xb, path, max, val);
    if (rc)
        snprintf(err, errlen, "reading %s", path);
    return rc;
}

static int bind_port(struct nb_queue *q, unsigned long port,
                     evtchn_port_t *ours, bool *bound, char *err,
                     size_t errlen)
{
    struct be_net_vif *v = q->v;
    int rc = evtchn_host_bind_interdomain(v->nb->env.evtchn, 0, v->cfg.domid,
                                          (evtchn_port_t)port, on_event, q,
                                          ours);
    if (rc) {
        snprintf(err, errlen, "binding event channel %lu: %d", port, rc);
        return rc;
    }
    *bound = true;
    return 0;
}

/* Queue q's keys in dir ("" or "queue-N/"), as Linux's
 * connect_data_rings: both rings, then the channels (split if both
 * event-channel-tx and -rx are there, else event-channel). */
static int queue_connect(struct nb_queue *q, const char *dir, bool *split,
                         char *err, size_t errlen)
{
    struct be_net_vif *v = q->v;
    struct be_netback *nb = v->nb;
    unsigned long txref, rxref, txp, rxp;
    int rc;
    if ((rc = read_key(v, dir, "tx-ring-ref", UINT32_MAX, &txref, err,
                       errlen)) ||
        (rc = read_key(v, dir, "rx-ring-ref", UINT32_MAX, &rxref, err,
                       errlen)))
        return rc;
    char k1[64], k2[64];
    snprintf(k1, sizeof(k1), "%sevent-channel-tx", dir);
    snprintf(k2, sizeof(k2), "%sevent-channel-rx", dir);
    *split = xenbus_be_fe_read_uint(v->xb, k1, UINT32_MAX, &txp) == 0 &&
             xenbus_be_fe_read_uint(v->xb, k2, UINT32_MAX, &rxp) == 0;
    if (!*split) {
        if ((rc = read_key(v, dir, "event-channel", UINT32_MAX, &txp, err,
                           errlen)))
            return rc;
        rxp = txp;
    }
    if ((rc = map_ring(q, "tx-ring-ref", txref, &q->tx_map, &q->tx_mapped,
                       err, errlen)) ||
        (rc = map_ring(q, "rx-ring-ref", rxref, &q->rx_map, &q->rx_mapped,
                       err, errlen)))
        return rc;
    BACK_RING_INIT(&q->tx, (netif_tx_sring_t *)q->tx_map.addr, NB_PAGE);
    BACK_RING_INIT(&q->rx, (netif_rx_sring_t *)q->rx_map.addr, NB_PAGE);
    q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    q->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (q->kick_fd < 0 || q->timer_fd < 0) {
        int e = errno;
        snprintf(err, errlen, "eventfd/timerfd: %s", strerror(e));
        return -e;
    }
    if ((rc = util_loop_add(nb->env.loop, q->kick_fd, UTIL_LOOP_IN, on_kick,
                            q)))
        goto loop_err;
    q->kick_registered = true;
    if ((rc = util_loop_add(nb->env.loop, q->timer_fd, UTIL_LOOP_IN,
                            on_timer, q)))
        goto loop_err;
    q->timer_registered = true;
    nb_tx_credit_init(q);
    if ((rc = bind_port(q, txp, &q->tx_port, &q->tx_bound, err, errlen)))
        return rc;
    if (!*split) {
        q->rx_port = q->tx_port;
        return 0;
    }
    return bind_port(q, rxp, &q->rx_port, &q->rx_bound, err, errlen);
loop_err:
    snprintf(err, errlen, "loop: %s", strerror(-rc));
    return rc;
}

/* Stop queue q and free what it holds (loop thread). */
static void queue_disconnect(struct nb_queue *q)
{
    struct be_netback *nb = q->v->nb;
    if (q->tx_bound)            /* waits for an on_event in flight */
        evtchn_host_close(nb->env.evtchn, 0, q->tx_port);
    if (q->rx_bound)
        evtchn_host_close(nb->env.evtchn, 0, q->rx_port);
    if (q->kick_registered)
        util_loop_del(nb->env.loop, q->kick_fd);
    if (q->timer_registered)
        util_loop_del(nb->env.loop, q->timer_fd);
    if (q->kick_fd >= 0)
        close(q->kick_fd);
    if (q->timer_fd >= 0)
        close(q->timer_fd);
    nb_rx_purge(q);
    if (q->tx_mapped)
        gnttab_unmap(nb->env.gnttab, 0, q->tx_map.handle);
    if (q->rx_mapped)
        gnttab_unmap(nb->env.gnttab, 0, q->rx_map.handle);
}

static void vif_disconnect(void *opaque)
{
    struct be_net_vif *v = opaque;
    for (unsigned int i = 0; i < v->nr_queues; i++)
        queue_disconnect(&v->queues[i]);
    free(v->queues);
    v->queues = NULL;
    v->nr_queues = 0;
    v->connected = false;
}

/* A flag the frontend wrote (0 when absent or not a number). */
static bool fe_flag(struct be_net_vif *v, const char *key)
{
    unsigned long val = 0;
    return xenbus_be_fe_read_uint(v->xb, key, UINT32_MAX, &val) == 0 && val;
}

/* What the frontend takes and asks for (Linux's read_xenbus_vif_flags). */
static int read_flags(struct be_net_vif *v, char *err, size_t errlen)
{
    unsigned long rx_copy = 0;
    int rc = xenbus_be_fe_read_uint(v->xb, "request-rx-copy", UINT32_MAX,
                                    &rx_copy);
    if (rc && rc != -ENOENT) {
        snprintf(err, errlen, "reading request-rx-copy");
        return rc;
    }
    if (!rx_copy) {             /* rx-flip is not offered */
        snprintf(err, errlen, "request-rx-copy: only rx-copy is supported");
        return -EOPNOTSUPP;
    }
    if (!fe_flag(v, "feature-rx-notify")) {
        snprintf(err, errlen, "feature-rx-notify is mandatory");
        return -EINVAL;
    }
    struct be_vif_stats *s = &v->st;
    s->rx_notify = true;
    s->sg = fe_flag(v, "feature-sg");
    /* TSO only where offered (Linux's netfront drops it when not) */
    s->gso4 = !v->cfg.no_gso && fe_flag(v, "feature-gso-tcpv4");
    s->gso6 = !v->cfg.no_gso && fe_flag(v, "feature-gso-tcpv6");
    s->csum = !fe_flag(v, "feature-no-csum-offload");
    s->ipv6_csum = fe_flag(v, "feature-ipv6-csum-offload");
    return 0;
}

/* What the port takes: what the frontend said (TSO needs scatter-gather
 * for the frame's slots and the checksum offload of its IP version). */
static unsigned int port_offloads(const struct be_vif_stats *s)
{
    unsigned int off = 0;
    if (s->csum)
        off |= NET_OFF_CSUM;
    if (s->ipv6_csum)
        off |= NET_OFF_CSUM6;
    if (s->sg && s->gso4 && s->csum)
        off |= NET_OFF_TSO4;
    if (s->sg && s->gso6 && s->ipv6_csum)
        off |= NET_OFF_TSO6;
    return off;
}

static void log_connected(struct be_net_vif *v)
{
    const struct be_vif_stats *s = &v->st;
    if (v->nb->env.quiet)      /* once per connection, as Linux's */
        return;
    fprintf(stderr, "xenkvm: netback d%u %s: connected: %u queue(s), %s "
            "event channels%s%s%s%s%s\n", v->cfg.domid, v->name,
            s->nr_queues, s->split_evtchn ? "split" : "shared",
            s->sg ? ", sg" : "", s->gso4 ? ", gso-tcpv4" : "",
            s->gso6 ? ", gso-tcpv6" : "", s->csum ? ", csum" : "",
            s->ipv6_csum ? ", ipv6-csum" : "");
}

/* The frontend is Initialised or Connected (loop thread). */
static int vif_connect(void *opaque, char *err, size_t errlen)
{
    struct be_net_vif *v = opaque;
    unsigned int maxq = v->cfg.max_queues;
    unsigned long nq = 1;
    int rc = xenbus_be_fe_read_uint(v->xb, "multi-queue-num-queues", maxq,
                                    &nq);
    if ((rc && rc != -ENOENT) || nq == 0) {
        snprintf(err, errlen, "guest requested an invalid number of queues "
                 "(1..%u)", maxq);
        return -EINVAL;
    }
    struct be_vif_stats *s = &v->st;
    s->nr_queues = 0;
    s->split_evtchn = false;
    if ((rc = read_flags(v, err, errlen)))
        return rc;
    if (!(v->queues = calloc(nq, sizeof(*v->queues))))
        return -ENOMEM;
    v->disabled = false;
    for (unsigned int i = 0; i < nq && rc == 0; i++) {
        struct nb_queue *q = &v->queues[i];
        q->v = v;
        q->idx = i;
        q->kick_fd = q->timer_fd = -1;
        v->nr_queues = i + 1;
        char dir[24] = "";
        if (nq > 1)
            snprintf(dir, sizeof(dir), "queue-%u/", i);
        bool split = false;
        rc = queue_connect(q, dir, &split, err, errlen);
        s->split_evtchn = i ? s->split_evtchn && split : split;
    }
    if (rc) {
        vif_disconnect(v);
        return rc;
    }
    s->nr_queues = (uint32_t)nq;
    s->connects++;
    v->connected = true;
    net_port_set_offloads(v->port, port_offloads(s));
    log_connected(v);
    /* frames the guest may have posted already */
    for (unsigned int i = 0; i < v->nr_queues; i++)
        nb_queue_kick(&v->queues[i]);
    return 0;
}

static void vif_gone(void *opaque)
{
    struct be_net_vif *v = opaque;
    if (v->unplug_done)
        v->unplug_done(v->unplug_arg);
}

static const struct xenbus_be_ops vif_ops = {
    .connect = vif_connect,
    .disconnect = vif_disconnect,
    .gone = vif_gone,
};

static const struct net_port_ops vif_port_ops = {
    .deliver = nb_rx_deliver,
};

/* ---- the public side ---- */

struct be_netback *be_netback_create(const struct be_env *env, char *err,
                                     size_t errlen)
{
    struct be_netback *nb = calloc(1, sizeof(*nb));
    if (!nb || !(nb->txbuf = malloc(NET_FRAME_MAX))) {
        snprintf(err, errlen, "netback: out of memory");
        free(nb);
        return NULL;
    }
    nb->env = *env;
    int rc = store_client_new(env->store, 0, env->loop, &nb->client);
    if (rc) {
        snprintf(err, errlen, "netback: store client: %s", strerror(-rc));
        free(nb->txbuf);
        free(nb);
        return NULL;
    }
    return nb;
}

void be_netback_destroy(struct be_netback *nb)
{
    if (!nb)
        return;
    store_client_free(nb->client);
    free(nb->txbuf);
    free(nb);
}

static void vif_free(struct be_net_vif *v)
{
    free((char *)v->cfg.bridge);
    free((void *)v->cfg.fwd);
    free(v);
}

/* What vif_add does on the loop. */
struct add_call {
    struct be_net_vif *v;
    char *err;
    size_t errlen;
    int rc;
};

static void port_open(void *arg)
{
    struct add_call *c = arg;
    struct be_net_vif *v = c->v;
    struct net_port_config pc = {
        .ops = &vif_port_ops, .opaque = v, .name = v->name, .ip = v->cfg.ip,
        .fwd = v->cfg.fwd, .nfwd = v->cfg.nfwd,
    };
    memcpy(pc.mac, v->cfg.mac, NET_MAC_LEN);
    v->port = net_connect(v->cfg.net, &pc, c->err, c->errlen);
    c->rc = v->port ? 0 : -EINVAL;
}

static void port_close(void *arg)
{
    struct be_net_vif *v = arg;
    net_port_close(v->port);
    v->port = NULL;
}

/* The device's keys and features, then InitWait (Linux's netback_probe). */
static int vif_device(struct be_net_vif *v)
{
    struct be_netback *nb = v->nb;
    const struct be_vif_config *cfg = &v->cfg;
    char handle[16], mac[24], rate[48], ip[INET_ADDRSTRLEN] = "";
    snprintf(handle, sizeof(handle), "%u", cfg->devid);
    snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", cfg->mac[0],
             cfg->mac[1], cfg->mac[2], cfg->mac[3], cfg->mac[4], cfg->mac[5]);
    snprintf(rate, sizeof(rate), "%llu,%llu",
             (unsigned long long)cfg->rate_bytes,
             (unsigned long long)cfg->rate_usecs);
    if (cfg->ip.s_addr != INADDR_ANY)
        inet_ntop(AF_INET, &cfg->ip, ip, sizeof(ip));
    const char *fe_keys[] = { "handle", handle, "mac", mac, NULL };
    const char *be_keys[12] = { "handle", handle, "mac", mac, "type", "vif" };
    size_t n = 6;
    if (cfg->bridge) {
        be_keys[n++] = "bridge";
        be_keys[n++] = cfg->bridge;
    }
    if (ip[0]) {
        be_keys[n++] = "ip";
        be_keys[n++] = ip;
    }
    if (cfg->rate_bytes) {      /* what Linux's xen_net_read_rate reads */
        be_keys[n++] = "rate";
        be_keys[n++] = rate;
    }
    be_keys[n] = NULL;
    const struct xenbus_be_config xc = {
        .client = nb->client, .type = "vif", .fe_domid = cfg->domid,
        .devid = cfg->devid, .fe_keys = fe_keys, .be_keys = be_keys,
        .ops = &vif_ops, .opaque = v,
    };
    int rc = xenbus_be_create(&xc, &v->xb);
    if (rc)
        return rc;
    const char *gso = cfg->no_gso ? "0" : "1";
    const char *const features[][2] = {
        { "feature-sg", "1" }, { "feature-gso-tcpv4", gso },
        { "feature-gso-tcpv6", gso }, { "feature-ipv6-csum-offload", "1" },
        { "feature-rx-copy", "1" }, { "feature-rx-flip", "0" },
        { "feature-split-event-channels", "1" },
    };
    for (size_t i = 0; rc == 0 && i < sizeof(features) / sizeof(*features);
         i++)
        rc = xenbus_be_printf(v->xb, features[i][0], "%s", features[i][1]);
    if (rc == 0)
        rc = xenbus_be_printf(v->xb, "multi-queue-max-queues", "%u",
                              cfg->max_queues);
    if (rc == 0)
        rc = xenbus_be_start(v->xb);
    if (rc) {
        xenbus_be_destroy(v->xb);
        v->xb = NULL;
    }
    return rc;
}

int be_netback_vif_add(struct be_netback *nb, const struct be_vif_config *cfg,
                       struct be_net_vif **out, char *err, size_t errlen)
{
    if (!cfg->net || cfg->max_queues > NB_QUEUES_LIMIT ||
        (cfg->rate_bytes && !cfg->rate_usecs)) {
        snprintf(err, errlen, "netback: bad vif config (network, queues "
                 "1..%u, rate interval)", NB_QUEUES_LIMIT);
        return -EINVAL;
    }
    struct be_net_vif *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "netback: out of memory");
        return -ENOMEM;
    }
    v->nb = nb;
    v->cfg = *cfg;
    v->cfg.bridge = NULL;
    v->cfg.fwd = NULL;
    if (!v->cfg.max_queues)
        v->cfg.max_queues = NB_DEFAULT_QUEUES;
    if (cfg->name)
        snprintf(v->name, sizeof(v->name), "%s", cfg->name);
    else
        snprintf(v->name, sizeof(v->name), "vif%u.%u", cfg->domid, cfg->devid);
    v->cfg.name = NULL;
    struct net_hostfwd *fwd = NULL;
    if ((cfg->bridge && !(v->cfg.bridge = strdup(cfg->bridge))) ||
        (cfg->nfwd && !(fwd = calloc(cfg->nfwd, sizeof(*fwd))))) {
        snprintf(err, errlen, "netback: out of memory");
        vif_free(v);
        return -ENOMEM;
    }
    if (fwd)
        memcpy(fwd, cfg->fwd, cfg->nfwd * sizeof(*fwd));
    v->cfg.fwd = fwd;
    struct add_call c = { .v = v, .err = err, .errlen = errlen };
    util_loop_call(nb->env.loop, port_open, &c);
    if (c.rc) {
        vif_free(v);
        return c.rc;
    }
    int rc = vif_device(v);
    if (rc) {
        snprintf(err, errlen, "netback: %s: xenstore: %s", v->name,
                 strerror(-rc));
        util_loop_call(nb->env.loop, port_close, v);
        vif_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

void be_netback_vif_unplug(struct be_net_vif *v, void (*done)(void *arg),
                           void *arg)
{
    v->unplug_done = done;
    v->unplug_arg = arg;
    xenbus_be_unplug(v->xb);
}

/* On the loop: the device (disconnecting: every queue and mapping) and
 * the port. */
static void vif_stop(void *arg)
{
    struct be_net_vif *v = arg;
    xenbus_be_destroy(v->xb);
    port_close(v);
}

void be_netback_vif_remove(struct be_net_vif *v)
{
    if (!v)
        return;
    util_loop_call(v->nb->env.loop, vif_stop, v);
    vif_free(v);
}

struct stats_call {
    struct be_net_vif *v;
    struct be_vif_stats *out;
};

static void stats_read(void *arg)
{
    struct stats_call *c = arg;
    *c->out = c->v->st;
    c->out->disabled = c->v->disabled;
}

void be_netback_vif_stats(struct be_net_vif *v, struct be_vif_stats *out)
{
    struct stats_call c = { v, out };
    util_loop_call(v->nb->env.loop, stats_read, &c);
    xenbus_be_states(v->xb, &out->be_state, &out->fe_state);
}

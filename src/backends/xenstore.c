/*
 * Domain 0's XenStore service: the embedded store (src/store) serving each
 * guest's ring through an event channel whose dom0 end is a host-consumer
 * port, the per-domain layout `xl` writes, and the store's Unix socket (so
 * Debian's xenstore-ls sees the live store), served on the dom0 services'
 * loop.
 *
 * Domains are introduced by the service itself (store_domain_introduce,
 * in process): it binds the guest's store channel and attaches its ring.
 * An XS_INTRODUCE from a tool on the socket is refused: only the VMM knows
 * which pages are rings.
 *
 * Lock order: the store lock before event-channel locks (the store calls
 * ring_notify with its lock held, which sends an event); event callbacks
 * run without evtchn locks and take the store lock.
 */
#include <stdint.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <xen/event_channel.h>

#include "xenkvm/backends.h"

struct be_xenstore {
    struct be_env env;
    struct store *store;
    struct store_client *dom0;    /* layouts, removals, the VMM's writes */
    struct store_sock *sock;      /* on env.loop, or NULL */
};

struct be_xenstore_dom {
    struct be_xenstore *xs;
    domid_t domid;
    char uuid[40];
    evtchn_port_t guest_port;
    evtchn_port_t port;           /* dom0 end, host-consumer; 0: none */
    struct store_conn *ring;      /* atomic: vCPU threads read it */
    bool introduced, layout;
};

/*
 * The guest notified its store channel: serve its ring here, in the
 * notifying vCPU thread. That is cheap and never blocks: a pass handles
 * at most one ring's worth of requests, in memory, under the store lock
 * (which no holder keeps across I/O), and the reply's notification is an
 * event-channel send. Posting it to the loop would add two thread
 * switches to every guest request.
 */
static void ring_event(void *arg, domid_t dom, evtchn_port_t port)
{
    (void)dom;
    (void)port;
    struct be_xenstore_dom *xd = arg;
    struct store_conn *c = __atomic_load_n(&xd->ring, __ATOMIC_ACQUIRE);
    if (c)
        store_ring_kick(c);
}

/* Store lock held, any thread that queued output for this ring. */
static void ring_notify(void *arg)
{
    struct be_xenstore_dom *xd = arg;
    evtchn_host_send(xd->xs->env.evtchn, 0, xd->port);
}

/* XS_INTRODUCE from a tool on the socket (store lock held): refused,
 * only be_xenstore_domain_add introduces (with the guest's ring). */
static int introduce_refused(void *opaque, struct store *s, domid_t domid,
                             uint64_t mfn, uint32_t port)
{
    (void)opaque;
    (void)s;
    (void)domid;
    (void)mfn;
    (void)port;
    return -EINVAL;
}

static void store_log_cb(void *opaque, enum store_log_level lvl,
                         const char *msg)
{
    struct be_xenstore *xs = opaque;
    if (lvl <= STORE_LOG_WARN && !xs->env.quiet)
        fprintf(stderr, "xenkvm: xenstore: %s\n", msg);
}

/* The Unix socket on the loop. Failing is not fatal: guests use their
 * rings; only tools lose access. */
static void socket_open(struct be_xenstore *xs, const char *path)
{
    if (util_unix_in_use(path)) {
        /* Another store (a real xenstored, another xenkvm) owns it: leave
         * it alone rather than steal its clients. */
        if (!xs->env.quiet)
            fprintf(stderr, "xenkvm: warning: XenStore socket %s is in use "
                    "by another daemon; set XENSTORED_PATH to serve this "
                    "store elsewhere\n", path);
        return;
    }
    int e = 0;
    xs->sock = store_sock_open(xs->store, path, &e);
    if (xs->sock) {
        e = store_sock_attach(xs->sock, xs->env.loop);
        if (e) {
            store_sock_close(xs->sock);
            xs->sock = NULL;
        }
    }
    if (!xs->sock && !xs->env.quiet)
        fprintf(stderr, "xenkvm: warning: XenStore socket %s: %s (xenstore-* "
                "tools will not see this store)\n", path, strerror(-e));
}

struct be_xenstore *be_xenstore_create(const struct be_env *env,
                                       const char *socket_path, char *err,
                                       size_t errlen)
{
    struct be_xenstore *xs = calloc(1, sizeof(*xs));
    if (!xs) {
        snprintf(err, errlen, "cannot create the XenStore: out of memory");
        return NULL;
    }
    xs->env = *env;
    struct store_ops ops = { .log = store_log_cb,
                             .introduce = introduce_refused };
    xs->store = store_create(&ops, xs);
    int rc = xs->store ? store_client_new(xs->store, 0, NULL, &xs->dom0)
                       : -ENOMEM;
    /* Domain 0's own entries, as xl's toolstack start writes them. */
    if (!rc)
        rc = store_client_printf(xs->dom0, "/local/domain/0/name", "Domain-0");
    if (!rc)
        rc = store_client_printf(xs->dom0, "/local/domain/0/domid", "0");
    if (rc) {
        snprintf(err, errlen, "cannot create the XenStore: %s", strerror(-rc));
        be_xenstore_destroy(xs);
        return NULL;
    }
    if (socket_path && *socket_path)
        socket_open(xs, socket_path);
    return xs;
}

void be_xenstore_destroy(struct be_xenstore *xs)
{
    if (!xs)
        return;
    if (xs->sock)
        store_sock_close(xs->sock);
    store_client_free(xs->dom0);
    if (xs->store)
        store_destroy(xs->store);
    free(xs);
}

struct store *be_xenstore_store(struct be_xenstore *xs)
{
    return xs->store;
}

struct store_client *be_xenstore_client(struct be_xenstore *xs)
{
    return xs->dom0;
}

/* Owner `owner`, and read access for `reader` (-1: none). */
static int set_perms(struct store_client *c, const char *path, domid_t owner,
                     int reader)
{
    struct xs_permissions p[2] = {
        { .id = owner, .perms = XS_PERM_NONE },
        { .id = (unsigned int)reader, .perms = XS_PERM_READ },
    };
    return store_client_set_perms(c, path, p, reader >= 0 ? 2 : 1);
}

/* Keep the first error of a run of calls. */
static void first_err(int *rc, int r)
{
    if (!*rc)
        *rc = r;
}

/*
 * The layout libxl writes for a new domain (libxl_create.c
 * libxl__domain_make / libxl__build_post), restricted to what we have:
 * the domain's home readable by it, the writable subtrees it owns, its
 * store and console channels, and /vm/<uuid>.
 */
static int write_layout(struct be_xenstore_dom *xd,
                        const struct be_xenstore_domain *cfg)
{
    struct store_client *c = xd->xs->dom0;
    char home[64], p[160];
    int id = xd->domid, rc = 0;
    snprintf(home, sizeof(home), "/local/domain/%d", id);
    first_err(&rc, store_client_write(c, home, "", 0));
    first_err(&rc, set_perms(c, home, 0, id));
    snprintf(p, sizeof(p), "/vm/%s", xd->uuid);
    first_err(&rc, store_client_write(c, p, "", 0));
    first_err(&rc, set_perms(c, p, 0, id));
    snprintf(p, sizeof(p), "/vm/%s/name", xd->uuid);
    first_err(&rc, store_client_printf(c, p, "%s", cfg->name));
    snprintf(p, sizeof(p), "/vm/%s/uuid", xd->uuid);
    first_err(&rc, store_client_printf(c, p, "%s", xd->uuid));
    snprintf(p, sizeof(p), "/vm/%s/image/ostype", xd->uuid);
    first_err(&rc, store_client_printf(c, p, "pvh"));

    snprintf(p, sizeof(p), "%s/name", home);
    first_err(&rc, store_client_printf(c, p, "%s", cfg->name));
    snprintf(p, sizeof(p), "%s/domid", home);
    first_err(&rc, store_client_printf(c, p, "%d", id));
    snprintf(p, sizeof(p), "%s/vm", home);
    first_err(&rc, store_client_printf(c, p, "/vm/%s", xd->uuid));
    snprintf(p, sizeof(p), "%s/memory/static-max", home);
    first_err(&rc, store_client_printf(c, p, "%" PRIu64, cfg->mem_kib));
    snprintf(p, sizeof(p), "%s/memory/target", home);
    first_err(&rc, store_client_printf(c, p, "%" PRIu64, cfg->mem_kib));
    for (uint32_t i = 0; i < cfg->vcpus; i++) {
        snprintf(p, sizeof(p), "%s/cpu/%u/availability", home, i);
        first_err(&rc, store_client_printf(c, p, "online"));
    }
    /* Subtrees the guest owns (libxl's rwperm list). */
    static const char *const rw[] = { "device", "control/shutdown",
        "control/feature-poweroff", "control/feature-reboot",
        "control/feature-suspend", "control/sysrq", "data", "drivers",
        "feature", "attr", "error", "messages" };
    for (size_t i = 0; i < sizeof(rw) / sizeof(rw[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", home, rw[i]);
        first_err(&rc, store_client_write(c, p, "", 0));
        first_err(&rc, set_perms(c, p, (domid_t)id, -1));
    }
    snprintf(p, sizeof(p), "%s/control", home);
    first_err(&rc, set_perms(c, p, 0, id));
    snprintf(p, sizeof(p), "%s/store/port", home);
    first_err(&rc, store_client_printf(c, p, "%u", xd->guest_port));
    snprintf(p, sizeof(p), "%s/store/ring-ref", home);
    first_err(&rc, store_client_printf(c, p, "%" PRIu64, cfg->ring_gfn));
    snprintf(p, sizeof(p), "%s/console/port", home);
    first_err(&rc, store_client_printf(c, p, "%u", cfg->console_port));
    snprintf(p, sizeof(p), "%s/console/ring-ref", home);
    first_err(&rc, store_client_printf(c, p, "%" PRIu64, cfg->console_gfn));
    snprintf(p, sizeof(p), "%s/console/type", home);
    first_err(&rc, store_client_printf(c, p, "xenconsoled"));
    return rc;
}

/* A random (version 4) UUID for /vm/<uuid>. */
static void make_uuid(struct be_xenstore_dom *xd)
{
    uint8_t u[16];
    if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u))
        for (int i = 0; i < 16; i++)
            u[i] = (uint8_t)(rand() ^ xd->domid);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);   /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    snprintf(xd->uuid, sizeof(xd->uuid),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5],
             u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

/* Offer the guest a port for its store channel (its end unbound, for
 * domain 0 to bind). */
static int offer_port(struct be_xenstore_dom *xd)
{
    return evtchn_host_offer(xd->xs->env.evtchn, xd->domid, 0,
                             &xd->guest_port);
}

/* Bind our end of the guest's store channel and attach its ring. */
static int introduce(struct be_xenstore_dom *xd, void *ring)
{
    struct be_xenstore *xs = xd->xs;
    int rc = evtchn_host_bind_interdomain(xs->env.evtchn, 0, xd->domid,
                                          xd->guest_port, ring_event, xd,
                                          &xd->port);
    if (rc)
        return rc;
    struct store_conn *c = NULL;
    rc = store_domain_introduce(xs->store, xd->domid, ring, ring_notify, xd,
                                &c);
    if (rc)
        return rc;
    xd->introduced = true;
    __atomic_store_n(&xd->ring, c, __ATOMIC_RELEASE);
    return 0;
}

int be_xenstore_domain_add(struct be_xenstore *xs,
                           const struct be_xenstore_domain *cfg,
                           struct be_xenstore_dom **out,
                           evtchn_port_t *guest_port)
{
    struct be_xenstore_dom *xd = calloc(1, sizeof(*xd));
    if (!xd)
        return -ENOMEM;
    xd->xs = xs;
    xd->domid = cfg->domid;
    make_uuid(xd);
    memset(cfg->ring, 0, sizeof(struct xenstore_domain_interface));
    int rc = offer_port(xd);
    if (!rc) {
        xd->layout = true;
        rc = write_layout(xd, cfg);
    }
    if (!rc)
        rc = introduce(xd, cfg->ring);
    if (rc) {
        be_xenstore_domain_remove(xd);
        return rc;
    }
    *guest_port = xd->guest_port;
    *out = xd;
    return 0;
}

/* In this order: ring_notify() sends on the port from any thread that
 * queues output to this ring (a dom0 write firing the guest's watch), with
 * the store lock held. Closing the port first left a window in which such
 * a send used the closed port's number -- which the next host binding in
 * dom0 (another domain's store or console) may already have been given --
 * and raised that other channel. store_domain_release() makes the ring
 * inert under the store lock, so once it returns no notify can come; only
 * then is the port closed (which waits for a ring_event callback in
 * flight: it finds the inert ring and does nothing) and the connection
 * freed. */
void be_xenstore_domain_remove(struct be_xenstore_dom *xd)
{
    if (!xd)
        return;
    struct be_xenstore *xs = xd->xs;
    if (xd->introduced)
        store_domain_release(xs->store, xd->domid);
    if (xd->port)
        evtchn_host_close(xs->env.evtchn, 0, xd->port);
    struct store_conn *c = __atomic_exchange_n(&xd->ring, NULL,
                                               __ATOMIC_ACQ_REL);
    /* released rings are inert; freeing one is ours to do */
    if (c)
        store_ring_detach(c);
    if (xd->layout) {
        char p[96];
        snprintf(p, sizeof(p), "/local/domain/%u", xd->domid);
        store_client_rm(xs->dom0, p);
        snprintf(p, sizeof(p), "/vm/%s", xd->uuid);
        store_client_rm(xs->dom0, p);
    }
    free(xd);
}

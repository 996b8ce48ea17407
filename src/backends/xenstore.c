/*
 * Domain 0's XenStore service: the embedded store (src/store) serving each
 * guest's ring at HVM_PARAM_STORE_PFN through an event channel whose dom0
 * end is a host-consumer port, the per-domain layout `xl` writes, and the
 * store's Unix socket (so Debian's xenstore-ls sees the live store).
 *
 * Domains are introduced the way a toolstack does it: the VMM's own
 * privileged connection sends XS_INTRODUCE, and the store calls back
 * store_introduce() below to map the ring and bind the channel.
 *
 * Lock order: the store lock before event-channel locks (the store calls
 * store_notify with its lock held, which sends an event); event callbacks
 * run without evtchn locks and take the store lock.
 */
#include <stdint.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <xen/event_channel.h>
#include <xen/hvm/params.h>

#include "xenkvm/store.h"
#include "vmm_int.h"

static int xs_write(struct vmm_host *h, const char *path, const char *val);

static void store_event(void *arg, domid_t dom, evtchn_port_t port)
{
    (void)dom;
    (void)port;
    struct vmm_domain *d = arg;
    struct store_conn *c = __atomic_load_n(&d->store_ring, __ATOMIC_ACQUIRE);
    if (c)
        store_ring_kick(c);
}

static void store_notify(void *arg)
{
    struct vmm_domain *d = arg;
    evtchn_host_send(d->h->evtchn, 0, d->store_port);
}

/* XS_INTRODUCE from our own connection (store lock held). */
static int store_introduce(void *opaque, struct store *s, domid_t domid,
                           uint64_t mfn, uint32_t port)
{
    struct vmm_host *h = opaque;
    struct vmm_domain *d = h->introducing;
    if (!d || d->domid != domid ||
        mfn != VMM_SPECIAL_GPA / VMM_PAGE + VMM_SPECIAL_STORE)
        return EINVAL;   /* only the VMM introduces, and only its pages */
    int rc = evtchn_host_bind_interdomain(h->evtchn, 0, domid, port,
                                          store_event, d, &d->store_port);
    if (rc)
        return -rc;
    struct store_conn *c = store_ring_attach_locked(s, domid,
        (struct xenstore_domain_interface *)(d->special +
                                             VMM_SPECIAL_STORE * VMM_PAGE),
        store_notify, d);
    if (!c) {
        evtchn_host_close(h->evtchn, 0, d->store_port);
        d->store_port = 0;
        return ENOMEM;
    }
    __atomic_store_n(&d->store_ring, c, __ATOMIC_RELEASE);
    return 0;
}

static void store_log_cb(void *opaque, enum store_log_level lvl,
                         const char *msg)
{
    struct vmm_host *h = opaque;
    if (lvl <= STORE_LOG_WARN && !h->cfg.quiet)
        fprintf(stderr, "xenkvm: xenstore: %s\n", msg);
}

static void *sock_thread(void *arg)
{
    struct vmm_host *h = arg;
    pthread_setname_np(pthread_self(), "xenstore-sock");
    store_sock_run(h->store_sock, &h->store_stop);
    return NULL;
}

int vmm_store_init(struct vmm_host *h, char *err, size_t errlen)
{
    struct store_ops ops = { .log = store_log_cb, .introduce = store_introduce };
    h->store = store_create(&ops, h);
    if (!h->store) {
        snprintf(err, errlen, "cannot create the XenStore: out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&h->store_lock, NULL);
    h->store_dom0 = store_conn_new(h->store, 0, true, NULL, NULL);
    if (!h->store_dom0) {
        snprintf(err, errlen, "cannot create the XenStore: out of memory");
        return -ENOMEM;
    }
    /* Domain 0's own entries, as xl's toolstack start writes them. */
    xs_write(h, "/local/domain/0/name", "Domain-0");
    xs_write(h, "/local/domain/0/domid", "0");
    const char *path = h->cfg.store_socket;
    if (path && *path && util_unix_in_use(path)) {
        /* Another store (a real xenstored, another xenkvm) owns it: leave
         * it alone rather than steal its clients. */
        if (!h->cfg.quiet)
            fprintf(stderr, "xenkvm: warning: XenStore socket %s is in use "
                    "by another daemon; set XENSTORED_PATH to serve this "
                    "store elsewhere\n", path);
        path = NULL;
    }
    if (path && *path) {
        int e = 0;
        h->store_sock = store_sock_open(h->store, path, &e);
        if (!h->store_sock) {
            /* Not fatal: guests use their rings; only tools lose access. */
            if (!h->cfg.quiet)
                fprintf(stderr, "xenkvm: warning: XenStore socket %s: %s "
                        "(xenstore-* tools will not see this store)\n", path,
                        strerror(e));
        } else if (pthread_create(&h->store_thread, NULL, sock_thread, h) == 0) {
            h->store_thread_started = true;
        }
    }
    return 0;
}

void vmm_store_fini(struct vmm_host *h)
{
    if (h->store_thread_started) {
        __atomic_store_n(&h->store_stop, 1, __ATOMIC_RELEASE);
        pthread_join(h->store_thread, NULL);
    }
    if (h->store_sock)
        store_sock_close(h->store_sock);
    if (h->store_dom0)
        store_conn_free(h->store_dom0);
    if (h->store) {
        store_destroy(h->store);
        pthread_mutex_destroy(&h->store_lock);
    }
}

/* One request on our privileged connection; 0 or a positive errno. */
static int xs_req(struct vmm_host *h, uint32_t type, const char *payload,
                  uint32_t len)
{
    uint32_t rtype, rlen;
    char *reply = NULL;
    pthread_mutex_lock(&h->store_lock);
    int rc = store_conn_request(h->store_dom0, type, 0, payload, len, &rtype,
                                &reply, &rlen);
    pthread_mutex_unlock(&h->store_lock);
    if (rc)
        return rc < 0 ? -rc : rc;
    if (rtype == XS_ERROR) {
        rc = EIO;
        for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
            if (!strcmp(reply, xsd_errors[i].errstring))
                rc = xsd_errors[i].errnum;
    }
    free(reply);
    return rc;
}

static int xs_write(struct vmm_host *h, const char *path, const char *val)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%s%c%s", path, 0, val);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return E2BIG;
    return xs_req(h, XS_WRITE, buf, (uint32_t)n);
}

static int xs_writef(struct vmm_host *h, const char *path, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));
static int xs_writef(struct vmm_host *h, const char *path, const char *fmt, ...)
{
    char val[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    return xs_write(h, path, val);
}

/* Owner `owner`, and read access for `reader` (-1: none). */
static int xs_perms(struct vmm_host *h, const char *path, int owner, int reader)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "%s%cn%d%c", path, 0, owner, 0);
    if (reader >= 0)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "r%d%c", reader, 0);
    return xs_req(h, XS_SET_PERMS, buf, (uint32_t)n);
}

static int xs_rm(struct vmm_host *h, const char *path)
{
    return xs_req(h, XS_RM, path, (uint32_t)strlen(path) + 1);
}

/*
 * The layout libxl writes for a new domain (libxl_create.c
 * libxl__domain_make / libxl__build_post), restricted to what we have:
 * the domain's home readable by it, the writable subtrees it owns, its
 * store and console channels, and /vm/<uuid>.
 */
static int write_layout(struct vmm_domain *d)
{
    struct vmm_host *h = d->h;
    char home[64], p[160];
    int id = d->domid, rc = 0;
    snprintf(home, sizeof(home), "/local/domain/%d", id);
    rc |= xs_write(h, home, "");
    rc |= xs_perms(h, home, 0, id);
    snprintf(p, sizeof(p), "/vm/%s", d->uuid);
    rc |= xs_write(h, p, "");
    rc |= xs_perms(h, p, 0, id);
    snprintf(p, sizeof(p), "/vm/%s/name", d->uuid);
    rc |= xs_write(h, p, d->name);
    snprintf(p, sizeof(p), "/vm/%s/uuid", d->uuid);
    rc |= xs_write(h, p, d->uuid);
    snprintf(p, sizeof(p), "/vm/%s/image/ostype", d->uuid);
    rc |= xs_write(h, p, "pvh");

    snprintf(p, sizeof(p), "%s/name", home);
    rc |= xs_write(h, p, d->name);
    snprintf(p, sizeof(p), "%s/domid", home);
    rc |= xs_writef(h, p, "%d", id);
    snprintf(p, sizeof(p), "%s/vm", home);
    rc |= xs_writef(h, p, "/vm/%s", d->uuid);
    snprintf(p, sizeof(p), "%s/memory/static-max", home);
    rc |= xs_writef(h, p, "%" PRIu64, d->ram_size >> 10);
    snprintf(p, sizeof(p), "%s/memory/target", home);
    rc |= xs_writef(h, p, "%" PRIu64, d->ram_size >> 10);
    for (uint32_t i = 0; i < d->nr_vcpus; i++) {
        snprintf(p, sizeof(p), "%s/cpu/%u/availability", home, i);
        rc |= xs_write(h, p, "online");
    }
    /* Subtrees the guest owns (libxl's rwperm list). */
    static const char *const rw[] = { "device", "control/shutdown",
        "control/feature-poweroff", "control/feature-reboot",
        "control/feature-suspend", "control/sysrq", "data", "drivers",
        "feature", "attr", "error", "messages" };
    for (size_t i = 0; i < sizeof(rw) / sizeof(rw[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", home, rw[i]);
        rc |= xs_write(h, p, "");
        rc |= xs_perms(h, p, id, -1);
    }
    snprintf(p, sizeof(p), "%s/control", home);
    rc |= xs_perms(h, p, 0, id);
    snprintf(p, sizeof(p), "%s/store/port", home);
    rc |= xs_writef(h, p, "%u", d->store_guest_port);
    snprintf(p, sizeof(p), "%s/store/ring-ref", home);
    rc |= xs_writef(h, p, "%llu", VMM_SPECIAL_GPA / VMM_PAGE + VMM_SPECIAL_STORE);
    snprintf(p, sizeof(p), "%s/console/port", home);
    rc |= xs_writef(h, p, "%u", d->con.guest_port);
    snprintf(p, sizeof(p), "%s/console/ring-ref", home);
    rc |= xs_writef(h, p, "%llu",
                    VMM_SPECIAL_GPA / VMM_PAGE + VMM_SPECIAL_CONSOLE);
    snprintf(p, sizeof(p), "%s/console/type", home);
    rc |= xs_write(h, p, "xenconsoled");
    return rc ? EIO : 0;
}

int vmm_store_domain_setup(struct vmm_domain *d)
{
    struct vmm_host *h = d->h;
    if (!h->store)
        return 0;
    uint8_t u[16];
    if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u))
        for (int i = 0; i < 16; i++)
            u[i] = (uint8_t)(rand() ^ d->domid);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);   /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    snprintf(d->uuid, sizeof(d->uuid),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5],
             u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);

    memset(d->special + VMM_SPECIAL_STORE * VMM_PAGE, 0, VMM_PAGE);
    struct evtchn_alloc_unbound au = { .dom = d->domid, .remote_dom = 0 };
    int rc = evtchn_do_op(h->evtchn, 0, 0, EVTCHNOP_alloc_unbound, &au);
    if (rc)
        return rc;
    d->store_guest_port = au.port;
    hv_set_param(d->hv, HVM_PARAM_STORE_PFN,
                 VMM_SPECIAL_GPA / VMM_PAGE + VMM_SPECIAL_STORE);
    hv_set_param(d->hv, HVM_PARAM_STORE_EVTCHN, au.port);
    rc = write_layout(d);
    if (rc)
        return -rc;
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%u%c%llu%c%u", d->domid, 0,
                     VMM_SPECIAL_GPA / VMM_PAGE + VMM_SPECIAL_STORE, 0, au.port);
    pthread_mutex_lock(&h->lock);
    h->introducing = d;
    pthread_mutex_unlock(&h->lock);
    rc = xs_req(h, XS_INTRODUCE, buf, (uint32_t)n + 1);
    pthread_mutex_lock(&h->lock);
    h->introducing = NULL;
    pthread_mutex_unlock(&h->lock);
    return rc ? -rc : 0;
}

/* The domain has ended: release it in the store (@releaseDomain), unbind
 * its channel, free the ring connection and remove its nodes, as xl does
 * on destroy.
 *
 * In that order: store_notify() sends on store_port from any thread that
 * queues output to this ring (a dom0 write firing the guest's watch), with
 * the store lock held. Closing the port first left a window in which such
 * a send used the closed port's number -- which the next host binding in
 * dom0 (another domain's store or console) may already have been given --
 * and raised that other channel. store_domain_release() makes the ring
 * inert under the store lock, so once it returns no notify can come; only
 * then is the port closed (which waits for a store_event callback in
 * flight: it finds the inert ring and does nothing) and the connection
 * freed. */
void vmm_store_domain_release(struct vmm_domain *d)
{
    struct vmm_host *h = d->h;
    if (!h->store || !d->store_port)
        return;
    store_domain_release(h->store, d->domid);
    evtchn_host_close(h->evtchn, 0, d->store_port);
    d->store_port = 0;
    struct store_conn *c = __atomic_exchange_n(&d->store_ring, NULL,
                                               __ATOMIC_ACQ_REL);
    /* released rings are inert; freeing one is ours to do */
    if (c)
        store_ring_detach(c);
    char p[96];
    snprintf(p, sizeof(p), "/local/domain/%u", d->domid);
    xs_rm(h, p);
    snprintf(p, sizeof(p), "/vm/%s", d->uuid);
    xs_rm(h, p);
}

int vmm_domain_request_shutdown(struct vmm_domain *d)
{
    if (!d->h->store)
        return -ENOSYS;
    char p[96];
    snprintf(p, sizeof(p), "/local/domain/%u/control/shutdown", d->domid);
    int rc = xs_write(d->h, p, "poweroff");
    return rc ? -rc : 0;
}

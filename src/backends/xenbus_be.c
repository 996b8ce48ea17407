/*
 * The backend side of a xenbus device: directories, permissions and the
 * state machine (see xenbus_be.h). The state is owned by the store
 * client's loop: step() runs there from the two watches, and
 * xenbus_be_destroy only touches it once both watches are gone.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xenbus_be.h"

struct xenbus_be {
    struct store_client *client;
    const struct xenbus_be_ops *ops;
    void *opaque;
    domid_t fe_domid;
    char fe_path[96], be_path[96];
    char fe_state_path[112], online_path[112];
    bool watching, connected;
    _Atomic bool done;            /* unplugged and removed (teardown) */
    _Atomic int be_state, fe_state;
};

const char *xenbus_be_path(struct xenbus_be *b)
{
    return b->be_path;
}

static int write_key(struct xenbus_be *b, const char *dir, const char *key,
                     const char *val)
{
    char path[256];
    if (snprintf(path, sizeof(path), "%s/%s", dir, key) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    return store_client_write(b->client, path, val, strlen(val));
}

int xenbus_be_printf(struct xenbus_be *b, const char *key, const char *fmt,
                     ...)
{
    char val[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof(val))
        return -EINVAL;
    return write_key(b, b->be_path, key, val);
}

int xenbus_be_fe_read(struct xenbus_be *b, const char *key, char **val)
{
    char path[256];
    if (snprintf(path, sizeof(path), "%s/%s", b->fe_path, key) >=
        (int)sizeof(path))
        return -ENAMETOOLONG;
    return store_client_read(b->client, path, val, NULL);
}

int xenbus_be_fe_read_uint(struct xenbus_be *b, const char *key,
                           unsigned long max, unsigned long *val)
{
    char *s, *end;
    int rc = xenbus_be_fe_read(b, key, &s);
    if (rc)
        return rc;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    rc = (end == s || *end || errno || v > max || s[0] == '-') ? -EINVAL : 0;
    free(s);
    if (rc == 0)
        *val = v;
    return rc;
}

static int set_state(struct xenbus_be *b, int state)
{
    atomic_store(&b->be_state, state);
    return xenbus_be_printf(b, "state", "%d", state);
}

/* A directory with xl's two permission entries: owner (all rights), and
 * the other side, which may read. */
static int make_dir(struct xenbus_be *b, const char *path, unsigned owner,
                    unsigned reader, const char *const *keys,
                    const char *const fixed[][2], size_t nfixed)
{
    const struct xs_permissions perms[2] = {
        { .id = owner, .perms = XS_PERM_NONE },
        { .id = reader, .perms = XS_PERM_READ },
    };
    store_client_rm(b->client, path);       /* xl starts afresh too */
    int rc = store_client_mkdir(b->client, path);
    if (rc == 0)
        rc = store_client_set_perms(b->client, path, perms, 2);
    for (size_t i = 0; rc == 0 && i < nfixed; i++)
        rc = write_key(b, path, fixed[i][0], fixed[i][1]);
    for (size_t i = 0; rc == 0 && keys && keys[i] && keys[i + 1]; i += 2)
        rc = write_key(b, path, keys[i], keys[i + 1]);
    return rc;
}

int xenbus_be_create(const struct xenbus_be_config *cfg,
                     struct xenbus_be **out)
{
    struct xenbus_be *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->client = cfg->client;
    b->ops = cfg->ops;
    b->opaque = cfg->opaque;
    b->fe_domid = cfg->fe_domid;
    snprintf(b->fe_path, sizeof(b->fe_path), "/local/domain/%u/device/%s/%u",
             cfg->fe_domid, cfg->type, cfg->devid);
    snprintf(b->be_path, sizeof(b->be_path),
             "/local/domain/0/backend/%s/%u/%u", cfg->type, cfg->fe_domid,
             cfg->devid);
    snprintf(b->fe_state_path, sizeof(b->fe_state_path), "%s/state",
             b->fe_path);
    snprintf(b->online_path, sizeof(b->online_path), "%s/online", b->be_path);
    char fe_id[16];
    snprintf(fe_id, sizeof(fe_id), "%u", cfg->fe_domid);
    const char *const be_fixed[][2] = {
        { "frontend", b->fe_path }, { "frontend-id", fe_id },
        { "online", "1" }, { "state", "1" },
    };
    const char *const fe_fixed[][2] = {
        { "backend", b->be_path }, { "backend-id", "0" }, { "state", "1" },
    };
    int rc = make_dir(b, b->be_path, 0, cfg->fe_domid, cfg->be_keys, be_fixed,
                      4);
    if (rc == 0)
        rc = make_dir(b, b->fe_path, cfg->fe_domid, 0, cfg->fe_keys, fe_fixed,
                      3);
    if (rc) {
        store_client_rm(b->client, b->fe_path);
        store_client_rm(b->client, b->be_path);
        free(b);
        return rc;
    }
    b->be_state = XenbusStateInitialising;
    b->fe_state = XenbusStateInitialising;
    *out = b;
    return 0;
}

static void disconnect(struct xenbus_be *b)
{
    if (b->connected) {
        b->connected = false;
        b->ops->disconnect(b->opaque);
    }
}

/* The frontend is ready: connect, or say why not as Linux's
 * xenbus_dev_fatal does (an "error" node, then Closing). */
static void try_connect(struct xenbus_be *b)
{
    char err[160] = "";
    int rc = b->ops->connect(b->opaque, err, sizeof(err));
    if (rc == 0) {
        b->connected = true;
        set_state(b, XenbusStateConnected);
        return;
    }
    xenbus_be_printf(b, "error", "%d %s", -rc, err[0] ? err : strerror(-rc));
    set_state(b, XenbusStateClosing);
}

static void step(void *opaque, const char *path);

/* Unplugged and closed: remove everything, then tell the owner. The
 * watches stay (step() returns at once from now on): xenbus_be_destroy's
 * unwatch is what waits for this callback to finish, from any thread. */
static void teardown(struct xenbus_be *b)
{
    atomic_store(&b->done, true);
    disconnect(b);
    store_client_rm(b->client, b->fe_path);
    store_client_rm(b->client, b->be_path);
    b->ops->gone(b->opaque);
}

/* One evaluation of both sides, after any change of the frontend's state
 * or of our online node (loop thread). */
static void step(void *opaque, const char *path)
{
    (void)path;
    struct xenbus_be *b = opaque;
    if (atomic_load(&b->done))
        return;
    unsigned long fe = XenbusStateUnknown, online = 1;
    int rc = xenbus_be_fe_read_uint(b, "state", 255, &fe);
    if (rc == -EINVAL)
        return;                 /* garbage from the guest: no change */
    char *v;
    if (store_client_read(b->client, b->online_path, &v, NULL) == 0) {
        online = strcmp(v, "0") != 0;
        free(v);
    }
    atomic_store(&b->fe_state, (int)fe);
    int be = atomic_load(&b->be_state);
    switch (fe) {
    case XenbusStateInitialising:
        if (be == XenbusStateClosed && online)
            set_state(b, XenbusStateInitWait);    /* module reload */
        break;
    case XenbusStateInitialised:
    case XenbusStateConnected:
        if (!online || be == XenbusStateConnected || be == XenbusStateClosing)
            break;
        if (be == XenbusStateClosed)
            set_state(b, XenbusStateInitWait);
        try_connect(b);
        break;
    case XenbusStateClosing:
        if (be != XenbusStateClosed)
            set_state(b, XenbusStateClosing);
        break;
    case XenbusStateClosed:
    case XenbusStateUnknown:
        disconnect(b);
        if (be != XenbusStateClosed)
            set_state(b, XenbusStateClosed);
        break;
    default:
        break;
    }
    if (online)
        return;
    /* Unplugged: remove once the frontend is not using the device, else
     * ask it to close */
    if (!b->connected &&
        (fe <= XenbusStateInitWait || fe == XenbusStateClosed))
        teardown(b);
    else if (atomic_load(&b->be_state) < XenbusStateClosing)
        set_state(b, XenbusStateClosing);
}

int xenbus_be_start(struct xenbus_be *b)
{
    int rc = set_state(b, XenbusStateInitWait);
    if (rc)
        return rc;
    /* fires once at once, then on each change */
    rc = store_client_watch(b->client, b->fe_state_path, step, b);
    if (rc == 0) {
        rc = store_client_watch(b->client, b->online_path, step, b);
        if (rc)
            store_client_unwatch(b->client, b->fe_state_path, step, b);
    }
    b->watching = rc == 0;
    return rc;
}

int xenbus_be_unplug(struct xenbus_be *b)
{
    /* the online watch runs step(), which asks the frontend to close or
     * removes the device at once */
    return store_client_write(b->client, b->online_path, "0", 1);
}

void xenbus_be_destroy(struct xenbus_be *b)
{
    if (!b)
        return;
    if (b->watching) {
        store_client_unwatch(b->client, b->fe_state_path, step, b);
        store_client_unwatch(b->client, b->online_path, step, b);
    }
    if (!atomic_load(&b->done)) {     /* an unplug did not finish it */
        disconnect(b);
        store_client_rm(b->client, b->fe_path);
        store_client_rm(b->client, b->be_path);
    }
    free(b);
}

void xenbus_be_states(struct xenbus_be *b, int *be_state, int *fe_state)
{
    *be_state = atomic_load(&b->be_state);
    *fe_state = atomic_load(&b->fe_state);
}

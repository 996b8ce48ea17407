/*
 * The backend side of one xenbus device (private to src/backends; blkback
 * uses it, netback will): the toolstack's writes of the frontend directory
 * /local/domain/<fe>/device/<type>/<devid> and the backend directory
 * /local/domain/0/backend/<type>/<fe>/<devid> with the permissions xl
 * gives them (libxl__device_generic_add), and the backend's half of the
 * xenbus state machine (Linux's xen-blkback frontend_changed):
 *
 *   frontend              backend
 *   Initialising          Initialising -> InitWait (xenbus_be_start)
 *   Initialised/Connected ops->connect, then Connected (or Closing and an
 *                         "error" node when it fails)
 *   Closing               Closing
 *   Closed / Unknown      ops->disconnect, Closed
 *   Initialising again    InitWait (a module reload: served again)
 *
 * Unplug (xl block-detach) writes online=0 and Closing; once the frontend
 * has closed (or at once if it never connected) both directories are
 * removed and ops->gone runs. Everything state-related runs on the store
 * client's loop (watch callbacks on the frontend's state and the
 * backend's online node); int functions return 0 or a negative errno.
 */
#ifndef XENKVM_XENBUS_BE_H
#define XENKVM_XENBUS_BE_H

#include <stdint.h>

#include <xen/io/xenbus.h>

#include "xenkvm/store.h"

struct xenbus_be;

struct xenbus_be_ops {
    /* The frontend says it is ready: read its keys (xenbus_be_fe_read*)
     * and start serving. 0: the backend goes Connected; -errno: its
     * message goes into the backend's "error" node and it goes Closing. */
    int (*connect)(void *opaque, char *err, size_t errlen);
    /* Stop serving: when it returns nothing of the frontend's is used or
     * mapped. Only called after a successful connect. */
    void (*disconnect)(void *opaque);
    /* Unplugged: the directories are gone and no other callback runs
     * after this one; the device is still freed by xenbus_be_destroy. */
    void (*gone)(void *opaque);
};

struct xenbus_be_config {
    struct store_client *client;  /* domain 0, with a loop (watches) */
    const char *type;             /* "vbd" */
    domid_t fe_domid;
    uint32_t devid;
    /* Extra keys, NULL-terminated key, value, key, value ... lists: for
     * the frontend's directory (besides backend, backend-id, state) and
     * the backend's (besides frontend, frontend-id, online, state). */
    const char *const *fe_keys, *const *be_keys;
    const struct xenbus_be_ops *ops;
    void *opaque;
};

/* Write the backend directory, then the frontend one (the frontend sees
 * a complete backend), both in state Initialising. 0 and *out, or -errno
 * with nothing left behind. */
int xenbus_be_create(const struct xenbus_be_config *cfg,
                     struct xenbus_be **out);
/* A key of the backend's directory (the device's own features). */
int xenbus_be_printf(struct xenbus_be *b, const char *key, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));
/* A key of the frontend's directory: *val malloc'd, free() it. */
int xenbus_be_fe_read(struct xenbus_be *b, const char *key, char **val);
/* The same as an unsigned number (decimal); -ENOENT absent, -EINVAL not a
 * number or above max. */
int xenbus_be_fe_read_uint(struct xenbus_be *b, const char *key,
                           unsigned long max, unsigned long *val);
/* Go InitWait and follow the frontend from now on. */
int xenbus_be_start(struct xenbus_be *b);
/* Ask the frontend to close and remove the device once it has (see the
 * top); any thread. */
int xenbus_be_unplug(struct xenbus_be *b);
/* Stop at once: no callback runs after this; ops->disconnect if
 * connected; both directories removed (unless an unplug did it); freed.
 * Also ends an unplug still waiting for the frontend. Once per device,
 * any thread but its own callbacks (ops->*). NULL: no-op. */
void xenbus_be_destroy(struct xenbus_be *b);
/* Both sides' XenbusState now (for stats). */
void xenbus_be_states(struct xenbus_be *b, int *be_state, int *fe_state);
/* "/local/domain/0/backend/<type>/<fe>/<devid>" */
const char *xenbus_be_path(struct xenbus_be *b);

#endif

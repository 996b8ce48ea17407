/*
 * xenkvm XenStore: a wire-compatible store daemon as a library.
 *
 * The store keeps the tree (values, permissions, generations), transactions
 * with per-node conflict detection, watches and per-domain quotas, and speaks
 * the protocol of <xen/io/xs_wire.h> to connections. A connection is fed raw
 * bytes by a transport and hands back raw bytes to send; two transports come
 * with the library: a Unix socket server (clients are privileged domain 0)
 * and the guest ring (struct xenstore_domain_interface in a shared page,
 * notified through a callback the VMM wires to an event channel).
 *
 * Semantics follow Xen's docs/misc/xenstore.txt and tools/xenstored. The
 * module is POSIX only: no KVM or Linux-specific header.
 *
 * Errors: every int-returning function (and the introduce hook) says 0 (or
 * a count or index) on success and a negative errno on failure, as the
 * other xenkvm headers do.
 *
 * Locking: every public function takes the store's lock itself, so the
 * functions may be called from any thread (a vCPU thread kicking a ring, the
 * event loop serving sockets). Callbacks (wake, notify, log) are called with
 * the lock held and must not call back into the store.
 */
#ifndef XENKVM_STORE_H
#define XENKVM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <xen/xen.h>
#include <xen/io/xs_wire.h>
#include <xenstore_lib.h>   /* struct xs_permissions, XS_PERM_* */

/*
 * Message types that Xen added to xs_wire.h after the 4.17 headers Debian
 * ships (they directly follow XS_DIRECTORY_PART upstream). Defined relative
 * to the header's own enum so the numbering stays the header's.
 */
#define STORE_XS_GET_FEATURE  (XS_DIRECTORY_PART + 1)
#define STORE_XS_SET_FEATURE  (XS_DIRECTORY_PART + 2)
#define STORE_XS_GET_QUOTA    (XS_DIRECTORY_PART + 3)
#define STORE_XS_SET_QUOTA    (XS_DIRECTORY_PART + 4)
#define STORE_XS_TYPE_COUNT   (XS_DIRECTORY_PART + 5)

/* Xen's default Unix socket of xenstored. */
#define STORE_DEFAULT_SOCKET "/run/xenstored/socket"

struct store;
struct store_conn;
struct xenstore_domain_interface;
struct util_loop;

/* The quota table (xenstored domain.c names and defaults). */
enum store_quota {
    STORE_Q_NODES,        /* "nodes": nodes owned per domain, 1000 */
    STORE_Q_WATCHES,      /* "watches": watches per domain, 128 */
    STORE_Q_OUTSTANDING,  /* "outstanding": queued replies per domain, 20 */
    STORE_Q_MEMORY,       /* "memory": bytes of nodes per domain, 2.5 MiB */
    STORE_Q_TRANSACTIONS, /* "transactions": open per domain, 10 */
    STORE_Q_TXN_NODES,    /* "transaction-nodes": nodes touched per txn, 1024 */
    STORE_Q_PERMS,        /* "node-permissions": entries per node, 5 */
    STORE_Q_PATH,         /* "path-max": relative path length, 2048 */
    STORE_Q_NODE_SIZE,    /* "node-size": bytes of one node, 2048 */
    STORE_Q_NR
};

enum store_log_level { STORE_LOG_ERR, STORE_LOG_WARN, STORE_LOG_INFO,
                       STORE_LOG_DEBUG };

/* The platform around the store. Every hook may be NULL. */
struct store_ops {
    /* One finished log line (no newline). NULL: stderr. */
    void (*log)(void *opaque, enum store_log_level lvl, const char *msg);
    /*
     * XS_INTRODUCE from the privileged domain: map frame mfn of domid and
     * bind its event channel port, then attach the ring with
     * store_ring_attach() (the store's lock is held: use the *_locked
     * variant, store_ring_attach_locked). Return 0 or a negative errno,
     * whose name (-EINVAL: "EINVAL") is sent back. NULL: the domain is
     * marked introduced without a ring (enough for toolstack tests on the
     * socket).
     */
    int (*introduce)(void *opaque, struct store *s, domid_t domid,
                     uint64_t mfn, uint32_t port);
    /* The domain was released (XS_RELEASE or store_domain_release): unbind
     * its event channel, then store_ring_detach() its ring connection
     * (already inert: it no longer touches the page). */
    void (*release)(void *opaque, domid_t domid);
};

/* Create an empty store ("/", "/tool", "/tool/xenstored", owned by dom0).
 * ops is copied; NULL ops allowed. Returns NULL on ENOMEM. */
struct store *store_create(const struct store_ops *ops, void *opaque);
/* Destroy the store and every connection still attached. */
void store_destroy(struct store *s);
/* Log requests and replies (xenstored --verbose / CONTROL log on). */
void store_set_verbose(struct store *s, bool verbose);

/*
 * Generic connections. A transport creates one per client, feeds it the
 * bytes it receives and sends the bytes it hands back.
 */
struct store_conn_ops {
    /* Output has become available (a reply or a watch event was queued);
     * called with the store lock held. May be NULL (the transport polls). */
    void (*wake)(void *arg);
};

/* New connection for domain domid; privileged connections act as domain 0
 * (the socket). Returns NULL on ENOMEM. */
struct store_conn *store_conn_new(struct store *s, domid_t domid,
                                  bool privileged,
                                  const struct store_conn_ops *ops, void *arg);
/* Close: aborts its transactions, drops its watches, frees it. */
void store_conn_free(struct store_conn *c);
/*
 * Give the connection up to len received bytes. Complete requests are
 * processed at once. Returns how many bytes were taken: fewer than len when
 * the connection applies back-pressure (too much unsent output); feed the
 * rest after draining output. A protocol violation (oversized message)
 * marks the connection dead: see store_conn_dead().
 */
size_t store_conn_feed(struct store_conn *c, const void *buf, size_t len);
/* True once the connection must be closed by its transport. */
bool store_conn_dead(struct store_conn *c);
/* The next bytes to send (0 if none); valid until the next call into the
 * store for this connection. */
size_t store_conn_out_peek(struct store_conn *c, const void **data);
/* Up to max queued messages as iovecs (the first one less what was sent
 * of it), to send with one sendmsg(); returns how many were filled. Valid
 * as store_conn_out_peek()'s bytes are; report what went with
 * store_conn_out_consume(). */
unsigned store_conn_out_iov(struct store_conn *c, struct iovec *iov,
                            unsigned max);
/* n bytes of what store_conn_out_peek()/_out_iov() gave were sent. */
void store_conn_out_consume(struct store_conn *c, size_t n);
/* Whether the connection refuses input until output is drained. */
bool store_conn_blocked(struct store_conn *c);

/*
 * Synchronous request for in-process users (VMM backends, tests): sends one
 * message, returns the reply's type and payload (malloc'd into *reply, NUL
 * appended beyond *rlen). Watch events queued meanwhile stay queued.
 * 0, or -EPROTO if the request killed the connection, -ENOMEM.
 */
int store_conn_request(struct store_conn *c, uint32_t type, uint32_t tx_id,
                       const void *payload, uint32_t len, uint32_t *rtype,
                       char **reply, uint32_t *rlen);

/*
 * In-process clients, for host code (the VMM and its dom0 services): the
 * calls act on the tree directly (no wire encoding), with the permission
 * checks and quotas of the domain the client acts as. Every function of
 * this section returns 0 or a NEGATIVE errno: -EINVAL (malformed path or
 * argument), -ENOENT, -EACCES, -EPERM (a guest giving a node away),
 * -ENOSPC (node, memory or permission-entry quota), -E2BIG (more than one
 * wire message could carry; the watch quota), -ESRCH (the domain the
 * client acts as was released), -ENOMEM.
 * Paths are as on the wire: absolute, or relative to the client's
 * domain's home. Any thread; never with the store lock held (from a store
 * callback).
 */
struct store_client;
/* A watch fired: path is the node that changed (relative if the watch
 * was given a relative path). Runs on the client's loop, no lock held:
 * it may call the store. */
typedef void (*store_watch_fn)(void *opaque, const char *path);

/* A client acting as domid: 0 is domain 0, which may do anything; any
 * other domid is held to that domain's permissions and quotas. Watch
 * callbacks run on loop (registered there now); loop NULL: a client
 * without watches. 0 and *out, or -errno. */
int store_client_new(struct store *s, domid_t domid, struct util_loop *loop,
                     struct store_client **out);
/* Drop its watches and free it; when it returns, none of its callbacks
 * runs or will run. Not from one of its own watch callbacks. NULL: no-op. */
void store_client_free(struct store_client *c);
/* The value at path: *val malloc'd with a NUL after its *len bytes (len
 * may be NULL); free() it. */
int store_client_read(struct store_client *c, const char *path, char **val,
                      size_t *len);
/* Write len bytes at path, creating it and missing parents (XS_WRITE). */
int store_client_write(struct store_client *c, const char *path,
                       const void *val, size_t len);
/* store_client_write of a printf-formatted value. */
int store_client_printf(struct store_client *c, const char *path,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Create path (and parents) with an empty value if absent (XS_MKDIR). */
int store_client_mkdir(struct store_client *c, const char *path);
/* Remove path and everything below it (XS_RM); "/" is -EINVAL. */
int store_client_rm(struct store_client *c, const char *path);
/* Set path's permissions (XS_SET_PERMS): perms[0] is the owner and what
 * every domain not listed gets; perms are XS_PERM_NONE/READ/WRITE. */
int store_client_set_perms(struct store_client *c, const char *path,
                           const struct xs_permissions *perms, unsigned int n);
/* Watch path and below (XS_WATCH; "@introduceDomain" and "@releaseDomain"
 * too): fn(opaque, path) on the client's loop for each change, and once
 * at once for path itself, as xenstored does. -EINVAL without a loop. */
int store_client_watch(struct store_client *c, const char *path,
                       store_watch_fn fn, void *opaque);
/* Remove the watch of path with fn and opaque; when it returns, fn is not
 * running for it (unless called from that very callback) and will not
 * run for it again. -ENOENT if there is none. */
int store_client_unwatch(struct store_client *c, const char *path,
                         store_watch_fn fn, void *opaque);

/*
 * Domains.
 */
/* Introduce domid with its ring (XS_INTRODUCE done by the host itself):
 * attaches the ring and fires @introduceDomain; *conn (if not NULL) gets
 * the ring connection, for store_ring_kick(). 0, -EEXIST, -EINVAL,
 * -ENOMEM. */
int store_domain_introduce(struct store *s, domid_t domid,
                           struct xenstore_domain_interface *intf,
                           void (*notify)(void *arg), void *arg,
                           struct store_conn **conn);
/* Release domid: drops its watches, transactions and quota counters, fires
 * @releaseDomain. Its ring connection stops touching the page at once and
 * ignores kicks; the VMM frees it with store_ring_detach() after closing
 * the event channel (store_destroy frees what is left). 0 or -ENOENT. */
int store_domain_release(struct store *s, domid_t domid);

/*
 * Ring transport.
 */
/* Attach the ring page of domid (host pointer, stays valid until detach);
 * notify(arg) raises the guest's store event channel. The domain gets
 * XENSTORE_SERVER_FEATURE_RECONNECTION|ERROR. Returns the connection or
 * NULL (ENOMEM, or the domain already has a ring). */
struct store_conn *store_ring_attach(struct store *s, domid_t domid,
                                     struct xenstore_domain_interface *intf,
                                     void (*notify)(void *arg), void *arg);
/* Same, for use from store_ops.introduce (lock already held). */
struct store_conn *store_ring_attach_locked(struct store *s, domid_t domid,
                                       struct xenstore_domain_interface *intf,
                                       void (*notify)(void *arg), void *arg);
/* The guest notified its store event channel: consume requests, answer,
 * handle a reconnect request. Safe from any thread. */
void store_ring_kick(struct store_conn *c);
/* Detach and free a ring connection (the page is no longer touched). */
void store_ring_detach(struct store_conn *c);

/*
 * Unix socket transport: a poll() server whose clients are domain 0.
 */
struct store_sock;
/* Listen on path (an existing socket file is replaced; its directory is
 * created). NULL with *err = -errno on failure (0 on success). */
struct store_sock *store_sock_open(struct store *s, const char *path, int *err);
/* Serve for up to timeout_ms (-1: until an event); returns 0 or -errno. */
int store_sock_step(struct store_sock *k, int timeout_ms);
/* Busy-poll: after serving a request, keep checking for the next one for
 * up to usec microseconds (an adaptive window, yielding the CPU between
 * checks) before sleeping; saves a wake-up per request for synchronous
 * clients at the cost of that much CPU per reply. 0 (the default of a new
 * store_sock): always sleep. */
#define STORE_SOCK_BUSY_POLL_DEFAULT 50
void store_sock_set_busy_poll(struct store_sock *k, unsigned usec);
/* Serve until *stop becomes non-zero (checked at least every 200 ms; set
 * it with __atomic_store_n from another thread, or from a signal
 * handler). */
int store_sock_run(struct store_sock *k, volatile int *stop);
/* Serve on loop instead of store_sock_step/_run: the listening socket,
 * the wake-up pipe and each client are registered there, and served by
 * its callbacks (no busy-poll: the loop is shared). Call step/run no more
 * once attached; store_sock_close removes the registrations: call it
 * once the loop has stopped, or from one of its callbacks. 0 or -errno. */
int store_sock_attach(struct store_sock *k, struct util_loop *loop);
/* Number of connected clients. */
unsigned store_sock_clients(struct store_sock *k);
/* Close every client and the listening socket, unlink the path. */
void store_sock_close(struct store_sock *k);

/*
 * Quotas. domid < 0 means the global default every domain gets.
 */
const char *store_quota_name(enum store_quota q);
/* Index of a quota by name, or -ENOENT. */
int store_quota_by_name(const char *name);
/* 0 or -ENOENT (no such domain) / -EINVAL. */
int store_quota_get(struct store *s, int domid, enum store_quota q,
                    unsigned *val);
int store_quota_set(struct store *s, int domid, enum store_quota q,
                    unsigned val);

/*
 * Introspection for tests and harnesses.
 */
/* What domain domid is charged for (its quota usage). */
struct store_usage {
    uint32_t nodes;        /* committed nodes it owns */
    uint32_t watches;      /* watches of its connections */
    uint32_t txns;         /* open transactions */
    uint64_t memory;       /* bytes of the nodes it owns */
    uint64_t txn_memory;   /* bytes of copies its transactions hold */
    uint64_t watch_memory; /* bytes of its watches */
    uint64_t out_memory;   /* watch events queued to its connections */
};
/* All of it counts against the domain's "memory" quota. */
/* 0 and *u filled, or -ENOENT (the store has no such domain). */
int store_domain_usage(struct store *s, domid_t domid, struct store_usage *u);
/*
 * Check the store's invariants: every node but "/" has its parent, which
 * lists it once; every listed child exists; each domain's counters equal
 * the sum over what is charged to it (nodes, memory, watches,
 * transactions, transaction copies). 0, or -EFAULT with the first violation
 * described in why (if not NULL), -ENOMEM. Cost: O(nodes + watches +
 * touched).
 */
int store_check(struct store *s, char *why, size_t len);

#endif

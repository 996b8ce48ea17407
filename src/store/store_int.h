/*
 * Private state of the XenStore module, shared by its .c files only.
 *
 * Layout: tree.c keeps the committed tree (a hash of absolute paths to
 * nodes; each node lists its children's names). txn.c keeps, per
 * transaction, copy-on-write shadows of the nodes it touched with the
 * generation each had when first touched. view.c offers the operations the
 * handlers use (get, create, write, delete) on either the tree or a
 * transaction's view of it. dispatch.c is the message table; path.c makes
 * a request's path absolute and checks it.
 */
#ifndef XENKVM_STORE_INT_H
#define XENKVM_STORE_INT_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <xen/io/xs_wire.h>
#include <xenstore_lib.h>   /* XS_PERM_* */

#include "xenkvm/store.h"
#include "xenkvm/util.h"

#define STORE_HDR_SIZE sizeof(struct xsd_sockmsg)
#define STORE_NO_GEN 0            /* generation of an absent node */
#define STORE_DOMID_MAX DOMID_FIRST_RESERVED
/* What a watch costs its domain's memory quota. */
#define STORE_WATCH_COST(plen, tlen) \
    (sizeof(struct store_watch) + (uint64_t)(plen) + 1 + (tlen) + 1)
/* Unsent output above which a connection stops taking input and further
 * watch events are dropped (memory stays bounded per connection). */
#define STORE_OUT_SOFT (64u * 1024)
#define STORE_OUT_HARD (1024u * 1024)

#define container_of(p, type, member) \
    ((type *)((char *)(p) - offsetof(type, member)))

/* --- store_hash.c: chained hash of byte-string keys, intrusive -------- */
struct store_hent {
    struct store_hent *next;
    const char *key;
    uint32_t klen;
    uint32_t hash;
};
struct store_htab {
    struct store_hent **b;
    uint32_t mask;     /* buckets - 1 */
    uint32_t count;
    uint64_t seed;     /* the store's secret: see store_hash_seed() */
};
/* The hash of a key under seed. Guests choose their paths: without a
 * secret seed they could compute offline paths that share one bucket
 * (hash flooding) and make every lookup walk a long chain. */
uint32_t store_hash(const char *key, uint32_t klen, uint64_t seed);
/* A fresh secret seed from getrandom() (a clock-based one, logged by the
 * caller, only if the kernel has no getrandom). 0 if it fell back. */
int store_hash_seed(uint64_t *seed);
int store_htab_init(struct store_htab *t, uint32_t buckets, uint64_t seed);
void store_htab_fini(struct store_htab *t);
struct store_hent *store_htab_find(const struct store_htab *t,
                                   const char *key, uint32_t klen);
/* The next entry after e with the same key (several watches share a
 * path): for (e = find(t, k, l); e; e = store_htab_find_next(e, k, l)). */
struct store_hent *store_htab_find_next(struct store_hent *e,
                                        const char *key, uint32_t klen);
/* e->key/klen set by the caller. The nodes table has one entry per key;
 * the watches table one per watch, so several under one path. */
void store_htab_add(struct store_htab *t, struct store_hent *e);
void store_htab_del(struct store_htab *t, struct store_hent *e);

/* --- perms.c ------------------------------------------------------------ */
struct store_perm {
    domid_t id;
    uint8_t perms;    /* XS_PERM_READ|WRITE (NONE = 0) */
};
/* Parse n NUL-terminated strings "r5","w0","b1","n0" into out (n entries).
 * 0 or EINVAL. */
int store_perms_parse(const char *s, uint32_t len, unsigned n,
                      struct store_perm *out);
/* Text form: "r5\0n0\0"; returns bytes written (buf must be 8*n). */
uint32_t store_perms_format(const struct store_perm *p, uint32_t n, char *buf);

/* --- tree.c: nodes -------------------------------------------------------- */
struct store_node {
    struct store_hent h;       /* key = path */
    char *path;
    char *val;
    char *kids;                /* children names, each NUL-terminated */
    struct store_perm *perms;  /* [0] is the owner */
    uint32_t plen, vlen, klen, nperms;
    uint64_t gen;              /* changed on every modification */
    uint64_t permgen;          /* when the perms were last set */
};

/* --- quota / domains (domain.c, quota.c) ---------------------------------- */
struct store_domain {
    domid_t id;
    bool introduced;
    bool shutdown;
    uint64_t gen;              /* store generation when it came to be */
    uint32_t features;         /* server features of its ring */
    domid_t target;            /* SET_TARGET, or DOMID_INVALID */
    struct store_conn *ring;   /* its ring connection, if any */
    /* Accounting. memory: committed nodes it owns; txn_mem: the copies
     * its open transactions hold. Both count against the "memory" quota
     * (store_dom_mem), and are charged before the allocation is made. */
    uint32_t nodes, watches, txns;
    uint64_t memory;
    uint64_t txn_mem;
    uint64_t watch_mem;        /* its watches (struct, path, token) */
    uint64_t out_mem;          /* watch events queued to it */
    unsigned q[STORE_Q_NR];    /* per-domain override, UINT32_MAX: global */
};

/* --- conn.c ---------------------------------------------------------------- */
struct store_out {
    struct store_out *next;
    uint32_t len;              /* header + payload */
    bool event;
    char data[];
};

struct store_watch {
    struct store_hent h;       /* key = absolute path (or @special) */
    struct store_watch *conn_next;
    struct store_conn *conn;
    char *path;
    char *token;
    uint32_t plen, tlen;
    uint32_t rel_off;          /* bytes to strip when reporting (relative) */
};

struct store_txn;

struct store_conn {
    struct store *s;
    struct store_conn *next, *prev;   /* s->conns */
    domid_t id;
    bool priv;                 /* the socket's domain 0 */
    bool dead;
    bool is_ring;
    const struct store_conn_ops *ops;
    void *arg;
    struct store_domain *dom;
    /* Input: at most one message, assembled here. */
    uint32_t in_len;
    char in[STORE_HDR_SIZE + XENSTORE_PAYLOAD_MAX + 1];
    /* Output queue. */
    struct store_out *out_head, *out_tail;
    uint32_t out_off;          /* bytes of out_head already sent */
    uint64_t out_bytes;
    uint32_t out_msgs;
    uint32_t out_replies;      /* queued replies (not events) */
    bool in_feed;              /* inside feed: the transport flushes */
    uint32_t events_dropped;
    /* Watches and transactions. */
    struct store_watch *watches;
    unsigned nwatches;
    struct store_txn *txns;
    unsigned ntxns;
    uint32_t next_txid;
    /* Ring transport state. */
    struct xenstore_domain_interface *intf;
    void (*notify)(void *arg);
    void *notify_arg;
};

/* --- the store --------------------------------------------------------------- */
struct store {
    pthread_mutex_t lock;
    struct store_ops ops;
    void *opaque;
    bool verbose;
    uint64_t gen;              /* global generation counter */
    uint64_t hash_seed;        /* secret, per store (every htab of it) */
    struct store_htab nodes;
    struct store_htab watches;
    struct store_conn *conns;
    struct store_domain *doms[STORE_DOMID_MAX];
    unsigned quota[STORE_Q_NR];
    unsigned quota_soft_memory;
    /* Log rate limit. */
    struct util_ratelimit log_rl;   /* store_log_rl's budget */
    /* Permissions of the special watch paths @introduceDomain (0) and
     * @releaseDomain (1): who besides dom0 receives their events
     * (xenstored's set_perms_special). Default "n0". */
    struct store_perm *special_perms[2];
    uint32_t special_nperms[2];
    uint64_t special_permgen[2];
    /* Scratch for building replies. */
    char *scratch;
    size_t scratch_size;
};

/* store.c */
void store_log(struct store *s, enum store_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Rate-limited: for anything a client can trigger. */
void store_log_rl(struct store *s, enum store_log_level lvl,
                  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
uint64_t store_next_gen(struct store *s);

/* tree.c */
struct store_node *store_tree_get(struct store *s, const char *path,
                                  uint32_t plen);
/* Replace or create the node at path with a copy of the given contents
 * (the caller keeps parents consistent). Accounting follows the owner.
 * 0 or ENOMEM. */
int store_tree_put(struct store *s, const char *path, uint32_t plen,
                   const char *val, uint32_t vlen, const char *kids,
                   uint32_t klen, const struct store_perm *perms,
                   uint32_t nperms, uint64_t permgen);
void store_tree_del(struct store *s, struct store_node *n);
int store_tree_init(struct store *s);
void store_tree_fini(struct store *s);
/* The domain charged for n: its owner, unless that entry is stale. */
struct store_domain *store_node_charged(struct store *s,
                                       const struct store_node *n);
/* The bytes a node costs its owner's memory quota. */
uint64_t store_node_cost(uint32_t plen, uint32_t vlen, uint32_t klen,
                         uint32_t nperms);
/* Add/remove one name to/from a children list: new malloc'd list. */
int store_kids_add(const char *kids, uint32_t klen, const char *name,
                   uint32_t nlen, char **out, uint32_t *olen);
int store_kids_del(const char *kids, uint32_t klen, const char *name,
                   uint32_t nlen, char **out, uint32_t *olen);

/* domain.c */
struct store_domain *store_domain_get(struct store *s, domid_t id);
struct store_domain *store_domain_get_or_add(struct store *s, domid_t id);
void store_domain_free(struct store *s, domid_t id);
/* The effective owner of n (a stale owner counts as dom0), and whether
 * perm entry p of n is stale (domain gone or newer than the entry). */
bool store_perm_stale(struct store *s, const struct store_node *n,
                      const struct store_perm *p, uint64_t permgen);
int store_do_introduce(struct store *s, domid_t domid, uint64_t mfn,
                       uint32_t port, bool from_wire);
int store_do_release(struct store *s, domid_t domid);

/* perms.c: the permission c has on a node with these perms (mask of
 * XS_PERM_READ|WRITE|OWNER). */
unsigned store_perm_for(struct store *s, const struct store_conn *c,
                        const struct store_perm *p, uint32_t n,
                        uint64_t permgen);
bool store_conn_unpriv(const struct store_conn *c);

/* Index of a special watch path (0, 1) or -1. */
int store_special_index(const char *path);

/* quota.c */
unsigned store_quota_of(struct store *s, const struct store_domain *d,
                        enum store_quota q);
/* Everything charged to d's "memory" quota: its nodes, the copies its
 * transactions hold, its watches and the watch events queued to it (as
 * xenstored counts them; replies are bounded by "outstanding"). */
uint64_t store_dom_mem(const struct store_domain *d);
/* Check used + add against the quota of c's domain (privileged: no limit);
 * logs a refusal. true when within. */
bool store_quota_ok(struct store *s, const struct store_conn *c,
                    enum store_quota q, uint64_t used, uint64_t add);
/* The same against domain d's quota (d: who is charged; no privilege
 * check: the caller decides whether the quota applies). */
bool store_quota_dom_ok(struct store *s, const struct store_domain *d,
                        enum store_quota q, uint64_t used, uint64_t add);
void store_quota_defaults(struct store *s);
/* store_quota_get/_set (store.h) with the store lock held, for GET_QUOTA
 * and SET_QUOTA: q valid (and val not UINT32_MAX); 0 or ENOENT. */
int store_quota_get_locked(struct store *s, int domid, enum store_quota q,
                           unsigned *val);
int store_quota_set_locked(struct store *s, int domid, enum store_quota q,
                           unsigned val);
/* CONTROL quota / quota-soft text. */
int store_control_quota(struct store *s, struct store_conn *c, bool soft,
                        const char **argv, unsigned argc, char **out);

/* txn.c */
struct store_txn *store_txn_find(struct store_conn *c, uint32_t id);
int store_txn_start(struct store_conn *c, uint32_t *id);
/* End: commit (true) or abort. 0, EAGAIN (conflict), ENOSPC (quota). The
 * transaction is gone afterwards in every case. */
int store_txn_end(struct store_conn *c, struct store_txn *t, bool commit);
void store_txn_free_all(struct store_conn *c);

/* view.c: operations on the tree or a transaction's view of it. */
struct store_view {
    struct store *s;
    struct store_conn *c;
    struct store_txn *t;       /* NULL: the committed tree */
};
/* A snapshot of a node as the view sees it. */
struct store_nodev {
    const char *val, *kids;
    const struct store_perm *perms;
    uint32_t vlen, klen, nperms;
    uint64_t gen, permgen;
};
/* 0 and *out filled, ENOENT, or ENOSPC (transaction-nodes quota). */
int store_view_get(struct store_view *v, const char *path, uint32_t plen,
                   struct store_nodev *out);
/* Same, and c must have perm on the node: EACCES otherwise (checked before
 * a transaction copies anything). */
int store_view_get_perm(struct store_view *v, const char *path,
                        uint32_t plen, unsigned perm,
                        struct store_nodev *out);
/* Write (creating the node and missing parents) with permission checks. */
int store_view_write(struct store_view *v, const char *path, uint32_t plen,
                     const char *val, uint32_t vlen, bool mkdir_only);
/* The operations that take a path only (a request's or a client call's
 * MKDIR and RM), so that each caller writes "canonicalise, apply" once. */
typedef int store_view_path_fn(struct store_view *v, const char *path,
                               uint32_t plen);
/* MKDIR: write with mkdir_only (an existing node is left as it is). */
store_view_path_fn store_view_mkdir;
store_view_path_fn store_view_rm;
int store_view_set_perms(struct store_view *v, const char *path,
                         uint32_t plen, const struct store_perm *p,
                         uint32_t n);
/* Read with permission checks: 0, ENOENT, EACCES. */
int store_view_read(struct store_view *v, const char *path, uint32_t plen,
                    unsigned perm, struct store_nodev *out);

/* Shadow-level primitives used by view.c (txn.c). */
struct store_tnode;
/* Whether t has a record of path (read or written). */
bool store_txn_has(struct store_txn *t, const char *path, uint32_t plen);
/* The node as t sees it. perm (XS_PERM_* mask, 0: none) is checked
 * before a node is first copied into t: EACCES then, and nothing copied.
 * Copies are charged to c's domain first (ENOSPC over its memory quota;
 * ENOSPC also over the transaction-nodes quota). */
int store_txn_get(struct store *s, struct store_conn *c, struct store_txn *t,
                  const char *path, uint32_t plen, unsigned perm,
                  struct store_nodev *out);
int store_txn_put(struct store *s, struct store_conn *c, struct store_txn *t,
                  const char *path, uint32_t plen, const struct store_nodev *nv,
                  bool deleted, int fire);
/* Fire kinds for recorded changes. */
enum { STORE_FIRE_NONE, STORE_FIRE_TREE, STORE_FIRE_EXACT };
/* Bytes of transaction copies t holds (charged to its domain). */
uint64_t store_txn_charged(const struct store_txn *t);
/* t's own bookkeeping adds up (store_check). */
bool store_txn_consistent(const struct store_txn *t);
struct store_txn *store_txn_next(const struct store_txn *t);
/* Extra node delta of the txn for c's domain (quota checks). */
int64_t store_txn_nodes_delta(struct store_txn *t);
void store_txn_account(struct store_txn *t, int64_t nodes, int64_t memory);
int64_t store_txn_memory_delta(struct store_txn *t);

/* watch.c */
int store_watch_add(struct store_conn *c, const char *path, const char *token,
                    bool relative);
int store_watch_del(struct store_conn *c, const char *path, const char *token);
void store_watch_del_all(struct store_conn *c);
/* A node changed: tree=true fires watches on path and its ancestors
 * (a write), false only watches on exactly path (a removed child). perms
 * are the node's (pre-removal) permissions, for the read check. */
void store_watch_fire(struct store *s, const char *path, uint32_t plen,
                      bool tree, const struct store_perm *perms,
                      uint32_t nperms, uint64_t permgen);
/* Special watches (@introduceDomain, @releaseDomain): privileged callers,
 * and domains their SET_PERMS list lets read. */
void store_watch_fire_special(struct store *s, const char *name);
void store_watch_event(struct store_watch *w, const char *path, uint32_t plen);

/* conn.c */
/* Queue a message to c. 0 or ENOMEM; events over the bound are dropped. */
int store_conn_send(struct store_conn *c, uint32_t type, uint32_t req_id,
                    uint32_t tx_id, const void *data, uint32_t len,
                    bool event);
void store_conn_send_error(struct store_conn *c, const struct xsd_sockmsg *h,
                           int err);
void store_conn_close_locked(struct store_conn *c);
struct store_conn *store_conn_new_locked(struct store *s, domid_t domid,
                                         bool priv,
                                         const struct store_conn_ops *ops,
                                         void *arg);
size_t store_conn_feed_locked(struct store_conn *c, const void *buf,
                              size_t len);
void store_conn_out_consume_locked(struct store_conn *c, size_t n);

/* dispatch.c */
void store_dispatch(struct store_conn *c, struct xsd_sockmsg *h, char *data);
/* The xs_wire error name of err (EIO if the header has none). */
const char *store_errname(int err);

/* path.c */
/* The implicit path of domain domid: "/local/domain/<domid>". */
int store_domain_path(domid_t domid, char *buf, size_t size);
/* xenstored's canonicalize() of path in as connection c sees it (relative
 * paths under its home, allowed characters, the path-max quota; '@'
 * names only if allow_special): the absolute path into buf (at least
 * XENSTORE_ABS_PATH_MAX + 2 bytes), its length into *plen, whether it was
 * relative into *relative (if not NULL). 0 or EINVAL. */
int store_path_canon(struct store_conn *c, const char *in, bool allow_special,
                     char *buf, uint32_t *plen, bool *relative);
/* The length of the parent of the canonical path path (plen bytes, not
 * "/"): "/a/b" -> 2 ("/a"), "/a" -> 1 ("/"). */
uint32_t store_path_parent_len(const char *path, uint32_t plen);

/* ring.c */
void store_ring_flush(struct store_conn *c);

#endif

/*
 * Domain 0's services (backends), src/backends: each one file with the
 * small interface below, all run by the VMM's one event loop (util_loop).
 *
 * The VMM creates them and hands them what they need in struct be_env
 * (the loop, the event-channel core, the store, the output FILE) and, per
 * domain, plain values (domid, host pointers to ring pages, frame
 * numbers): this layer sits below the VMM and never includes its headers.
 * Every service has the same shape, which blkback and netback will follow:
 *
 *   be_<svc>_create(env, ...)          the host-wide service, registered
 *                                      on env->loop
 *   be_<svc>_destroy(svc)              its registrations gone when it
 *                                      returns
 *   be_<svc>_domain_add(svc, cfg, ...) serve one guest (per-domain state
 *                                      returned as a handle)
 *   be_<svc>_domain_remove(handle)     stop serving it (domain death)
 *
 * Guest notifications reach a service through host-consumer event-channel
 * ports, whose callbacks run in the notifying guest's vCPU thread: a
 * service serves them there when that is cheap and never blocks (each
 * says why where it does), and otherwise posts the work to the loop.
 * Every int-returning function returns 0 or a negative errno.
 */
#ifndef XENKVM_BACKENDS_H
#define XENKVM_BACKENDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/gnttab.h"
#include "xenkvm/hv.h"
#include "xenkvm/net.h"
#include "xenkvm/store.h"
#include "xenkvm/util.h"

/* What the VMM gives every service; copied by each create. */
struct be_env {
    struct util_loop *loop;       /* the dom0 services' loop, running */
    struct evtchn_host *evtchn;   /* domain 0 is domid 0 there */
    struct store *store;          /* the XenStore (be_xenstore_store) */
    struct gnttab_host *gnttab;   /* every domain's grant table; domain 0
                                   * is registered there as a mapper */
    FILE *out;                    /* what the user sees (guest consoles) */
    bool quiet;                   /* no warnings on stderr */
};

/* ---- the XenStore service (xenstore.c) ---- */

struct be_xenstore;
struct be_xenstore_dom;

/* The store with domain 0's entries, and, if socket_path is not NULL or
 * "", its Unix socket for tools (xenstore-ls ...) served on env->loop (a
 * socket another daemon answers on, or one that cannot be opened, is a
 * warning: guests still have their rings). env->store is not used. NULL
 * with one line in err on failure. */
struct be_xenstore *be_xenstore_create(const struct be_env *env,
                                       const char *socket_path, char *err,
                                       size_t errlen);
/* Close the socket and free the store. Every domain removed first, and
 * the loop stopped (or from one of its callbacks). NULL: no-op. */
void be_xenstore_destroy(struct be_xenstore *xs);
/* The store, for the other services' clients. */
struct store *be_xenstore_store(struct be_xenstore *xs);
/* Domain 0's in-process client of the service (no watches). */
struct store_client *be_xenstore_client(struct be_xenstore *xs);

/* One guest, as the VMM built it. */
struct be_xenstore_domain {
    domid_t domid;
    const char *name;
    uint64_t mem_kib;               /* memory/static-max and target */
    uint32_t vcpus;
    void *ring;                     /* host pointer to its store ring page */
    uint64_t ring_gfn;              /* that page's frame in the guest */
    evtchn_port_t console_port;     /* the console's guest port, gfn and */
    uint64_t console_gfn;           /* ring for console/ in its home */
};
/* Serve a guest: offer it a store port (*guest_port, for the VMM's
 * HVM_PARAM_STORE_EVTCHN), write the directories `xl` writes for a new
 * domain (its home, /vm/<uuid>) and introduce it with its ring (the ring
 * page is cleared). Guest notifications are served in the notifying vCPU
 * thread. 0 and *out, or -errno with nothing left behind. */
int be_xenstore_domain_add(struct be_xenstore *xs,
                           const struct be_xenstore_domain *cfg,
                           struct be_xenstore_dom **out,
                           evtchn_port_t *guest_port);
/* The domain is gone: release it in the store (@releaseDomain), close its
 * port, free its ring connection and remove its directories, as `xl
 * destroy` does. Once per handle, not while a domain_add runs for the same
 * domid; NULL: no-op. */
void be_xenstore_domain_remove(struct be_xenstore_dom *xd);

/* ---- the dom0 ping-pong peer (pingpong.c) ---- */

struct be_pingpong;

/* Domain 0 as the ping-pong peer of docs/pingpong-protocol.md: it watches
 * the store (env->store) for a guest's data/pingpong/port, binds that
 * channel and answers every event until the guest's rounds are done,
 * reporting on env->out. No per-domain calls: the store tells it about
 * guests, and a guest whose home is removed is let go. NULL on failure. */
struct be_pingpong *be_pingpong_create(const struct be_env *env);
/* Stop watching, close every channel, free it. NULL: no-op. */
void be_pingpong_destroy(struct be_pingpong *pp);

/* ---- the console (console.c) ----
 *
 * The PV console ring (<xen/io/console.h>) of one guest and its console_io
 * output, both to a host FILE, line by line and sanitised (be_console_
 * sanitize), prefixed with the domain's name when several guests share the
 * FILE. One client at a time may attach (`xenkvm console`): it gets the
 * guest's output as is, and what it sends goes into the ring's `in` half.
 */
struct be_console;

struct be_console_config {
    struct evtchn_host *evtchn;
    domid_t domid;
    const char *name;            /* the log prefix ("name: ") */
    void *ring;                  /* the guest's console page, zeroed here */
    struct hv_domain *hv;        /* its console budget (hv_console_allow),
                                  * shared with console_io; NULL: none */
    FILE *out;                   /* the log */
    bool prefix;                 /* prefix each line with "name: " */
    /* Where the ring is drained and an attached client is served. NULL:
     * the ring is drained in the event-channel callback, and nobody can
     * attach. */
    struct util_loop *loop;
    /* Guest-caused messages (a bad ring index, bytes over the budget);
     * the caller rate-limits them. NULL: stderr, not rate-limited. */
    void (*log)(void *opaque, const char *msg);
    void *log_opaque;
};

/* Offer the guest an unbound port for domain 0 (as xl does), bind our end,
 * zero the ring and, with a loop, register the drain on it. *guest_port is
 * what the guest learns through HVM_PARAM_CONSOLE_EVTCHN. 0 and *out, or
 * -errno (nothing left behind). */
int be_console_create(const struct be_console_config *cfg,
                      struct be_console **out, evtchn_port_t *guest_port);
/* Close our port, detach a client, free. NULL is a no-op. */
void be_console_destroy(struct be_console *c);
/* console_io output of the guest (any thread). */
void be_console_write(struct be_console *c, const char *buf, size_t len);
/* Drain the ring now and end a partial line (the domain has ended). */
void be_console_flush(struct be_console *c);
/* Attach a client on the connected stream socket fd (non-blocking from
 * now on). Guest output is sent to it as is, never waiting: what does not
 * fit in the socket's buffer is dropped (the log keeps all of it). Its
 * bytes go into the ring's `in` half with back-pressure: when the ring is
 * full we stop reading fd until the guest has consumed some. On success
 * the console owns fd (closed at detach: the client hung up, the domain
 * ended, be_console_destroy). -EBUSY: a client is attached already;
 * -EPIPE: the console has hung up (be_console_hangup); -ENOTSUP: no loop.
 * From the loop's thread only. */
int be_console_attach(struct be_console *c, int fd);
/* Is a client attached? */
bool be_console_attached(struct be_console *c);
/* The domain has ended: disconnect a client (it sees EOF) and refuse new
 * ones. Any thread but the loop's own callbacks of this console. */
void be_console_hangup(struct be_console *c);

/* A UTF-8 sequence the sanitiser has seen the start of. */
struct be_console_utf8 {
    unsigned char seq[4];
    unsigned int have, need;
};
/* The one filter between guest console bytes (console_io and the ring) and
 * the host's log: UTF-8 and printable ASCII, '\n' and '\t' pass; '\r' is
 * dropped; every other C0 control (ESC included), DEL, every C1 control
 * (raw 0x80-0x9f and U+0080-U+009F encoded, e.g. C2 9B = CSI, C2 9D = OSC)
 * and every byte of malformed UTF-8 becomes '?'. A sequence split across
 * calls is completed from st. Writes at most n + 3 bytes to out; returns
 * how many. Pure: no lock, no I/O. */
size_t be_console_sanitize(struct be_console_utf8 *st, const char *in,
                           size_t n, char *out);

/* ---- the PV block backend (blkback.c, with xenbus_be.c) ----
 *
 * Domain 0's side of <xen/io/blkif.h> for each disk = [ ... ] entry: it
 * writes the frontend and backend directories as `xl` does, follows the
 * xenbus state machine on both sides (a frontend that closes and comes
 * back, as on a module reload, is served again), maps the guest's grants
 * through env->gnttab as domain 0, and does the I/O on the image file
 * without ever blocking the loop or a vCPU thread.
 */
struct be_blkback;
struct be_blk_disk;

/* The host-wide service (its I/O engine). NULL with one line in err. */
struct be_blkback *be_blkback_create(const struct be_env *env, char *err,
                                     size_t errlen);
/* Every disk removed first. NULL: no-op. */
void be_blkback_destroy(struct be_blkback *bb);

struct be_blk_config {
    domid_t domid;                /* the frontend's domain */
    const char *target;           /* the image file */
    const char *vdev;             /* its name in the guest ("xvda") */
    uint32_t devid;               /* device/vbd/<devid> (config_disk) */
    bool readonly;
    bool cdrom;
};
/* Open the image (read-only when cfg->readonly: writes are refused with
 * BLKIF_RSP_ERROR and the file is never opened for writing), write
 * /local/domain/<domid>/device/vbd/<devid> and
 * /local/domain/0/backend/vbd/<domid>/<devid> with xl's permissions, and
 * serve the frontend from then on. 0 and *out, or -errno (nothing left
 * behind; -ENOENT etc. from opening the image). */
int be_blkback_disk_add(struct be_blkback *bb, const struct be_blk_config *cfg,
                        struct be_blk_disk **out);
/* Hot-unplug, as `xl block-detach`: ask the frontend to close (backend
 * state Closing); once it has (or at once if it never connected) the
 * disk stops serving, its directories are removed and *done (if not NULL)
 * is called on the loop thread. The handle stays valid: it is still
 * removed once with be_blkback_disk_remove (the domain's end), which
 * also ends an unplug the frontend never answered. */
void be_blkback_disk_unplug(struct be_blk_disk *d,
                            void (*done)(void *arg), void *arg);
/* The domain is gone: stop at once (requests in flight are completed or
 * cancelled, every grant unmapped), remove the directories, free. Once per
 * handle, unplugged or not; any thread but the loop's callbacks of this
 * disk. NULL: no-op. */
void be_blkback_disk_remove(struct be_blk_disk *d);

/* What a disk has done, for tests and `xenkvm list`. */
struct be_blk_stats {
    int be_state, fe_state;       /* XenbusState* */
    /* What the frontend negotiated, now or (closed) in its last connection;
     * all zero if it never connected. */
    uint32_t nr_rings, ring_pages;
    bool persistent;
    bool indirect;                /* it has sent an indirect request */
    uint64_t reads, writes, flushes, discards, errors;
    uint64_t bytes_read, bytes_written;
};
void be_blkback_disk_stats(struct be_blk_disk *d, struct be_blk_stats *out);

/* ---- the PV network backend (netback.c, netback_tx.c, netback_rx.c,
 * with xenbus_be.c) ----
 *
 * Domain 0's side of <xen/io/netif.h> for each vif = [ ... ] entry: it
 * writes the frontend and backend directories as `xl` does, offers what
 * Linux's xen-netback offers (scatter-gather, TSO for TCPv4/v6, checksum
 * offload, split event channels, several queues, rx-copy only), and moves
 * frames between the guest's rings and a host network port (src/net,
 * include/xenkvm/net.h): the guest's tx requests become net_port_send,
 * the port's deliveries fill the guest's rx requests. All ring and port
 * work runs on env->loop; a guest that breaks the protocol loses its own
 * vif only (docs/netback.md).
 */
struct be_netback;
struct be_net_vif;

/* The host-wide service. NULL with one line in err. */
struct be_netback *be_netback_create(const struct be_env *env, char *err,
                                     size_t errlen);
/* Every vif removed first. NULL: no-op. */
void be_netback_destroy(struct be_netback *nb);

struct be_vif_config {
    domid_t domid;                /* the frontend's domain */
    uint32_t devid;               /* device/vif/<devid> */
    uint8_t mac[6];               /* the guest's MAC */
    const char *bridge;           /* the backend's "bridge" key; NULL: none */
    /* Its host-side name (a TAP device's, xl's vifname=); NULL:
     * "vif<domid>.<devid>", as Xen names them. */
    const char *name;
    struct net_network *net;      /* where it plugs in (switch or bridge) */
    struct in_addr ip;            /* vif ip=; INADDR_ANY: none */
    const struct net_hostfwd *fwd;  /* port forwards (copied) */
    size_t nfwd;
    /* tx credit per interval (xl rate=, Linux's credit scheme, per
     * queue as Linux); rate_bytes 0: unlimited */
    uint64_t rate_bytes;
    uint64_t rate_usecs;
    unsigned int max_queues;      /* multi-queue-max-queues; 0: 4 */
    bool no_gso;                  /* offer no TSO (what GSO buys: bench) */
};
/* Plug a port into cfg->net (net_connect, on the loop), write
 * /local/domain/<domid>/device/vif/<devid> and
 * /local/domain/0/backend/vif/<domid>/<devid> with xl's permissions and
 * the features, and serve the frontend from then on. Any thread but the
 * loop's callbacks of this service. 0 and *out, or -errno with one line
 * in err (nothing left behind). */
int be_netback_vif_add(struct be_netback *nb, const struct be_vif_config *cfg,
                       struct be_net_vif **out, char *err, size_t errlen);
/* Hot-unplug, as `xl network-detach`: ask the frontend to close; once it
 * has (or at once if it never connected) the vif stops serving, its
 * directories are removed and *done (if not NULL) runs on the loop. The
 * handle stays valid until be_netback_vif_remove (the port too). */
void be_netback_vif_unplug(struct be_net_vif *v, void (*done)(void *arg),
                           void *arg);
/* The domain is gone: stop at once (every grant unmapped, queued frames
 * dropped), close the port, remove the directories, free. Once per
 * handle; any thread but the loop's callbacks of this vif. NULL: no-op. */
void be_netback_vif_remove(struct be_net_vif *v);

/* What a vif has done, for tests and `xenkvm list`. */
struct be_vif_stats {
    int be_state, fe_state;       /* XenbusState* */
    /* What the frontend negotiated, now or in its last connection; all
     * zero if it never connected. */
    uint32_t nr_queues;
    bool split_evtchn, sg, gso4, gso6, csum, ipv6_csum, rx_notify;
    bool disabled;                /* stopped by a fatal error (until the
                                   * frontend connects again) */
    uint64_t connects;            /* successful connections */
    /* guest -> network: frames sent; requests answered ERROR (malformed,
     * bad grant, refused by the network as malformed); frames the
     * network dropped (answered NETIF_RSP_DROPPED); fatal errors */
    uint64_t tx_frames, tx_bytes, tx_errors, tx_dropped, tx_fatal;
    uint64_t tx_gso, tx_csum_blank;  /* frames with a GSO extra, csum_blank */
    /* the rate limit: credit granted in total (the first window's and
     * every refill), and how often a frame waited for more */
    uint64_t credit_granted, credit_waits;
    /* network -> guest: frames put in the guest's ring; frames dropped
     * (queue full, not connected, too large for a non-sg frontend); rx
     * responses with an error status (a bad rx grant) */
    uint64_t rx_frames, rx_bytes, rx_dropped, rx_errors;
};
/* Any thread (the loop owns the counters: they are read there, through
 * util_loop_call). */
void be_netback_vif_stats(struct be_net_vif *v, struct be_vif_stats *out);

#endif /* XENKVM_BACKENDS_H */

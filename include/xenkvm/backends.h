/*
 * Domain-0 services ("backends"), one file each in src/backends, run on the
 * VMM's one event loop (util_loop). A backend knows no KVM: the VMM hands
 * it the loop, the event-channel host, a domid and host pointers to the
 * guest's ring pages. Every int-returning function returns 0 or a
 * negative errno.
 */
#ifndef XENKVM_BACKENDS_H
#define XENKVM_BACKENDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/hv.h"
#include "xenkvm/util.h"

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

#endif /* XENKVM_BACKENDS_H */

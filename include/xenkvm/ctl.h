/*
 * The control server and its client (docs/control.md).
 *
 * One Unix stream socket, one request per connection: the client sends
 * one line of words ("evtchn list 1\n"); the server answers with a status
 * line, "ok" or "error: MESSAGE", then the body, and closes. A streaming
 * verb (`console`) keeps the connection after its "ok" line: from then on
 * it carries raw bytes both ways.
 *
 * Subsystems register verbs (one or more words, matched word-wise, the
 * longest wins); a verb's handler runs in the event loop's thread, gets the
 * words after the verb, and writes its answer to a memory FILE (sent
 * without ever blocking the loop), or takes the connection over.
 * Every int-returning function returns 0 (or an fd) or a negative errno.
 */
#ifndef XENKVM_CTL_H
#define XENKVM_CTL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "xenkvm/util.h"

#define CTL_LINE_MAX      256   /* a request line, '\n' included */
#define CTL_MAX_WORDS     16    /* words of a request */
#define CTL_MAX_CONNS     16    /* connections served at once */
#define CTL_REQUEST_MS    2000  /* a request line must arrive within this */
#define CTL_SEND_MS       2000  /* an answer may stall this long */
#define CTL_ANSWER_MAX    (16u << 20)   /* bytes of one answer */

/* ---- server (ctl_server.c) ---- */

struct ctl_server;

/* One request, as a verb handler sees it. */
struct ctl_req {
    int argc;                   /* words after the verb */
    char **argv;
    FILE *out;                  /* the answer's body */
    struct ctl_conn *conn;      /* private */
};

/* A verb's handler, in the loop's thread: write the answer to req->out, or
 * call ctl_req_error, or take the connection (ctl_req_take). */
typedef void (*ctl_verb_fn)(void *opaque, struct ctl_req *req);

/* Listen on path (mode 0600; its directory is made, 0700, if missing; a
 * stale socket is replaced; -EADDRINUSE when a server answers there) and
 * serve connections on loop. 0 and *out, or -errno. */
int ctl_server_create(struct util_loop *loop, const char *path,
                      struct ctl_server **out);
/* Stop listening, drop every connection, unlink the socket, free. NULL is
 * a no-op. Not from the loop's own callbacks. */
void ctl_server_destroy(struct ctl_server *s);
/* Register verb ("irq list": one or more words separated by one space)
 * with fn(opaque, req) and its usage line ("irq raise LINE"), shown in
 * the list of known requests and by ctl_req_usage. Any thread. 0,
 * -EEXIST (that verb is taken), -EINVAL, -ENOMEM. */
int ctl_register(struct ctl_server *s, const char *verb, ctl_verb_fn fn,
                 void *opaque, const char *usage);
/* The answer is an error: "error: MESSAGE" and nothing else (what was
 * written to req->out is dropped). The first call wins. */
void ctl_req_error(struct ctl_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The answer is "error: usage: " and the verb's usage line. */
void ctl_req_usage(struct ctl_req *req);
/* Take the connection over (a streaming verb): the server sends the "ok"
 * status line, forgets the connection and returns its fd (blocking mode,
 * CLOEXEC), now the caller's to serve and close. -errno if it cannot. */
int ctl_req_take(struct ctl_req *req);

/* ---- the host-interrupt verbs (ctl_irq.c) ---- */

struct irq_icu;
/* What `irq list` and `irq raise LINE` serve; the caller keeps it alive as
 * long as the server. lock (may be NULL) is held while the table is
 * printed: the VMM's sink_lock, which keeps IOAPIC pins alive. */
struct ctl_irq_verbs {
    struct irq_icu *icu;
    pthread_mutex_t *lock;
};
/* Register `irq list` (irq_icu_format) and `irq raise LINE` (signal an
 * eventfd-backed line once: a test and simulation aid) on s. */
int ctl_irq_register(struct ctl_server *s, struct ctl_irq_verbs *v);

/* ---- client (ctl_client.c) ---- */

/* The socket `xenkvm run` serves by default and every client uses when
 * given no path: $XENKVM_CONTROL, else $XDG_RUNTIME_DIR/xenkvm/control.sock,
 * else /run/xenkvm/control.sock. Writes it to buf; -ENAMETOOLONG. */
int ctl_default_path(char *buf, size_t n);
/* Connect to the server at path, send request (one line, no '\n') and
 * read the status line. 0 and *fd (the connection, positioned at the
 * answer's body: read it to EOF, or for a streaming verb talk on it); or
 * -errno when the server cannot be reached, or -EREMOTEIO with the
 * server's message (without "error: ") in err. */
int ctl_client_open(const char *path, const char *request, int *fd,
                    char *err, size_t errlen);
/* ctl_client_open, then copy the body to out until the server closes. */
int ctl_client_call(const char *path, const char *request, FILE *out,
                    char *err, size_t errlen);

#endif /* XENKVM_CTL_H */

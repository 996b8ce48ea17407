/*
 * Small host-side helpers every part of xenkvm needs once: Unix stream
 * sockets and line I/O on them, whole-file reads, rate limiting and
 * rate-limited logging of messages a hostile party can trigger. POSIX only, no other xenkvm module.
 * Every int-returning function returns 0 (or an fd) or a negative errno.
 */
#ifndef XENKVM_UTIL_H
#define XENKVM_UTIL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- Unix stream sockets (util_sock.c) ---- */

#define UTIL_NONBLOCK 1u       /* util_unix_listen: O_NONBLOCK listener */

/* Listen on a Unix stream socket at path, CLOEXEC. The socket file is
 * 0600 from the start. A socket file nobody accepts on (left by an
 * earlier run) is replaced; -EADDRINUSE if a server answers there,
 * -EEXIST if a file of another kind is there, -ENAMETOOLONG if path does
 * not fit sockaddr_un. Returns the listening fd. */
int util_unix_listen(const char *path, int backlog, unsigned int flags);
/* Connect to the Unix stream socket at path (CLOEXEC). fd or -errno. */
int util_unix_connect(const char *path);
/* Does a server accept connections on the Unix socket at path? */
bool util_unix_in_use(const char *path);
/* Read one '\n'-terminated line (the '\n' and a '\r' before it dropped,
 * NUL-terminated, at most n - 1 bytes: the rest of a longer line stays
 * unread), waiting at most timeout_ms for each byte (-ETIMEDOUT). EOF
 * ends the line. */
int util_read_line(int fd, char *buf, size_t n, int timeout_ms);
/* Write all n bytes to a socket without SIGPIPE, waiting at most
 * timeout_ms whenever the peer's queue is full (-ETIMEDOUT): a client
 * that stops reading costs its server timeout_ms, never a hang. */
int util_write_all(int fd, const void *p, size_t n, int timeout_ms);

/* ---- files (util_file.c) ---- */

/* Read the whole regular file at path, at most max bytes (-EFBIG beyond,
 * -EISDIR or -EINVAL for a directory or other non-regular file). *out is
 * malloc'ed with one NUL byte after the *len bytes (text parsers may use
 * it as a string); free() it. */
int util_read_file(const char *path, size_t max, char **out, size_t *len);

/* ---- rate limiting (util_ratelimit.c) ---- */

#define UTIL_RL_BURST 20u           /* messages per window */
#define UTIL_RL_WINDOW_NS 5000000000ull

/* One message budget (UTIL_RL_BURST per UTIL_RL_WINDOW_NS), safe to share
 * between threads; zero-initialise it (UTIL_RATELIMIT_INIT). */
struct util_ratelimit {
    _Atomic uint64_t state;         /* window number << 32 | count */
    _Atomic uint32_t suppressed;    /* over budget since last reported */
};
#define UTIL_RATELIMIT_INIT { 0, 0 }

/* May one more message go out now? When it opens a new window and
 * messages were suppressed in the last one, *suppressed (if not NULL) gets
 * their count so the caller can say so; otherwise 0. */
bool util_ratelimit_ok(struct util_ratelimit *rl, unsigned int *suppressed);

#define UTIL_LOG_LINE_MAX 512u      /* a logged message is cut to 511 bytes */

/* A message a guest or a client can trigger, on rl's budget: if
 * util_ratelimit_ok allows it, "<prefix><message>\n" goes to out (stderr
 * for the host's log) in one call, so lines of several threads do not mix;
 * when it opens a new window after some were suppressed,
 * "<prefix><N> messages suppressed\n" goes first. The message is fmt
 * formatted, cut at UTIL_LOG_LINE_MAX - 1 bytes. Returns whether it went
 * out. */
bool util_log_ratelimited(struct util_ratelimit *rl, FILE *out,
                          const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same with a va_list, for a module's own logging function. */
bool util_vlog_ratelimited(struct util_ratelimit *rl, FILE *out,
                           const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* ---- the event loop (util_loop.c) ---- */

/* One epoll loop and its thread: the VMM's dom0 services, the control
 * server and the host-interrupt dispatch all register their fds on one.
 * Callbacks run in the loop's thread, one at a time, with no lock held. */
struct util_loop;
/* epoll's EPOLLIN and EPOLLOUT (the same values as poll's POLLIN and
 * POLLOUT), for modules that register on a loop without Linux's headers
 * (util_loop.c checks they match). */
#define UTIL_LOOP_IN  0x001u
#define UTIL_LOOP_OUT 0x004u
/* events: the epoll events that fired (EPOLLIN, EPOLLHUP, ...). */
typedef void (*util_loop_fn)(void *opaque, uint32_t events);

/* A loop with no fd; NULL on failure (errno set). */
struct util_loop *util_loop_create(void);
/* Stop it (if started) and free it; every fd must have been removed. */
void util_loop_destroy(struct util_loop *l);
/* Watch fd for events (EPOLLIN/EPOLLOUT..., level-triggered unless
 * EPOLLET is given) and call fn(opaque, events) when they fire. One
 * registration per fd (-EEXIST). Any thread, also from a callback. */
int util_loop_add(struct util_loop *l, int fd, uint32_t events,
                  util_loop_fn fn, void *opaque);
/* Change the events watched on a registered fd (-ENOENT if not). */
int util_loop_mod(struct util_loop *l, int fd, uint32_t events);
/* Stop watching fd. When it returns, fd's callback is not running and
 * will not run again (from another thread it waits for a running one to
 * return; from the fd's own callback it returns at once), so the caller
 * may close fd and free opaque. -ENOENT if not registered. */
int util_loop_del(struct util_loop *l, int fd);
/* Dispatch what is ready, waiting at most timeout_ms (-1: forever), in the
 * calling thread (for a loop that has no thread of its own). The number
 * of callbacks run, or -errno. */
int util_loop_run_once(struct util_loop *l, int timeout_ms);
/* Run the loop in a thread of its own called name, until util_loop_stop. */
int util_loop_start(struct util_loop *l, const char *name);
/* End the loop's thread (after the callback running now) and join it.
 * Idempotent; not from a callback. */
void util_loop_stop(struct util_loop *l);
/* Run fn(arg) on the loop's thread, between callbacks, and return when it
 * has: how another thread touches state that only the loop's thread owns.
 * From the loop's own thread, or when the loop has no thread of its own
 * (not started, or stopping), fn runs at once in the caller. Not while
 * holding a lock a callback of this loop takes. */
void util_loop_call(struct util_loop *l, void (*fn)(void *arg), void *arg);
/* Is the caller the loop's own thread (in one of its callbacks)? */
bool util_loop_in_loop(const struct util_loop *l);

#endif /* XENKVM_UTIL_H */

/*
 * Small host-side helpers every part of xenkvm needs once: Unix stream
 * sockets and line I/O on them, whole-file reads, rate limiting of
 * messages a hostile party can trigger. POSIX only, no other xenkvm module.
 * Every int-returning function returns 0 (or an fd) or a negative errno.
 */
#ifndef XENKVM_UTIL_H
#define XENKVM_UTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif /* XENKVM_UTIL_H */

/*
 * XenStore client over the shared ring at HVM_PARAM_STORE_PFN (seed 001).
 * Synchronous: one request in flight; watch events that arrive while we
 * wait for a reply are queued for xs_read_watch(). Process context only
 * (interrupts enabled), never from an IRQ handler.
 *
 * Errors are negative errno values (the XS_ERROR strings of xs_wire.h).
 */
#ifndef GUEST_XENBUS_H
#define GUEST_XENBUS_H

#include <stddef.h>
#include <stdint.h>

typedef uint32_t xs_transaction_t;
#define XBT_NIL ((xs_transaction_t)0)

/* Contract: xb_init_comms of seed 001 (ring quiescence check, store port
 * bound to an IRQ). 0, or -errno when the domain has no store ring. */
int xs_init(void);
int xs_available(void);

/* Read the value into buf (NUL-terminated, truncated to len-1). Returns the
 * value's full length or -errno. */
int xs_read(xs_transaction_t t, const char *path, char *buf, size_t len);
int xs_write(xs_transaction_t t, const char *path, const char *value);
int xs_mkdir(xs_transaction_t t, const char *path);
int xs_rm(xs_transaction_t t, const char *path);
/* Children names, NUL-separated, into buf; returns the number of names or
 * -errno (-E2BIG if they do not fit). */
int xs_directory(xs_transaction_t t, const char *path, char *buf, size_t len);
/* perms: strings like "n1", "r2" (xenstore.txt); the first is the owner. */
int xs_set_perms(xs_transaction_t t, const char *path, const char *const *perms,
                 unsigned int n);

int xs_transaction_start(xs_transaction_t *t);
/* abort != 0 discards. -EAGAIN means a conflicting commit: retry. */
int xs_transaction_end(xs_transaction_t t, int abort);

int xs_watch(const char *path, const char *token);
int xs_unwatch(const char *path, const char *token);
/* Block until a watch event is queued; copy its path and token. */
int xs_read_watch(char *path, size_t plen, char *token, size_t tlen);
/* Wait until node key exists, on the watch (key, token) the caller set
 * earlier (xs_watch), which is removed here: 1 it is there, 2 it came and
 * went (its writer's domain is gone), or -errno. Other watches' events
 * that arrive meanwhile are dropped. */
int xs_wait_key(const char *key, const char *token);

/* If the toolstack asked for a shutdown through control/shutdown (seen by
 * the runtime's own watch), acknowledge it and return the SHUTDOWN_* reason
 * plus one; 0 when there is nothing to do. Process context. */
int xs_poll_shutdown(void);

/* Read an integer value; -errno on failure. */
int xs_read_int(xs_transaction_t t, const char *path, long *val);

#endif

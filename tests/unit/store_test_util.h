/* Helpers for the XenStore unit tests: requests and watch events through a
 * real connection of the library (no transport needed). */
#ifndef STORE_TEST_UTIL_H
#define STORE_TEST_UTIL_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "xenkvm/store.h"

struct rep {
    uint32_t type;
    uint32_t len;
    char *d;      /* NUL-terminated copy (extra NUL past len) */
};

static inline struct rep rq(struct store_conn *c, uint32_t type, uint32_t tx,
                            const void *p, size_t len)
{
    struct rep r = { 0, 0, NULL };
    int rc = store_conn_request(c, type, tx, p, (uint32_t)len, &r.type, &r.d,
                                &r.len);
    assert_int_equal(rc, 0);
    return r;
}

/* Pack a NULL-terminated list of strings into buf as a XenStore payload
 * (each with its NUL); returns its length. */
static inline size_t pack_strings(char *buf, size_t cap, va_list ap)
{
    size_t off = 0;
    const char *s;
    while ((s = va_arg(ap, const char *))) {
        size_t l = strlen(s) + 1;
        assert_true(off + l <= cap);
        memcpy(buf + off, s, l);
        off += l;
    }
    return off;
}

/* Payload of NUL-terminated strings, NULL-terminated arg list. */
static inline struct rep rqv(struct store_conn *c, uint32_t type, uint32_t tx,
                             ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, tx);
    size_t off = pack_strings(buf, sizeof(buf), ap);
    va_end(ap);
    return rq(c, type, tx, buf, off);
}

/* WRITE path value (value without trailing NUL, as libxenstore sends). */
static inline struct rep wr(struct store_conn *c, uint32_t tx, const char *path,
                            const char *val)
{
    char buf[8192];
    size_t pl = strlen(path) + 1, vl = strlen(val);
    memcpy(buf, path, pl);
    memcpy(buf + pl, val, vl);
    return rq(c, XS_WRITE, tx, buf, pl + vl);
}

/* The error name of a reply, or "" if it is not an error. */
static inline const char *rep_err(struct rep r)
{
    return r.type == XS_ERROR ? r.d : "";
}

static inline void rep_free(struct rep r)
{
    free(r.d);
}

/* Assert a reply is an error named e, and free it. */
#define EXPECT_ERR(rexpr, e) do { struct rep r_ = (rexpr); \
    assert_string_equal(rep_err(r_), (e)); rep_free(r_); } while (0)
/* Assert a reply is of type t (not an error), and free it. */
#define EXPECT_OK(rexpr, t) do { struct rep r_ = (rexpr); \
    assert_string_equal(rep_err(r_), ""); assert_int_equal(r_.type, (t)); \
    rep_free(r_); } while (0)

static inline char *rd(struct store_conn *c, uint32_t tx, const char *path)
{
    struct rep r = rqv(c, XS_READ, tx, path, NULL);
    if (r.type != XS_READ) {
        rep_free(r);
        return NULL;
    }
    return r.d;
}

/* Pop the next queued message; 1 if it was a watch event (path/token
 * copied), 0 if the queue is empty. Other messages fail the test. */
static inline int next_event(struct store_conn *c, char *path, size_t plen,
                             char *token, size_t tlen)
{
    const void *p;
    size_t n = store_conn_out_peek(c, &p);
    if (!n)
        return 0;
    struct xsd_sockmsg h;
    assert_true(n >= sizeof(h));
    memcpy(&h, p, sizeof(h));
    assert_int_equal(h.type, XS_WATCH_EVENT);
    assert_true(n == sizeof(h) + h.len);
    const char *d = (const char *)p + sizeof(h);
    snprintf(path, plen, "%s", d);
    snprintf(token, tlen, "%s", d + strlen(d) + 1);
    store_conn_out_consume(c, n);
    return 1;
}

static inline int count_events(struct store_conn *c)
{
    char p[4096], t[256];
    int n = 0;
    while (next_event(c, p, sizeof(p), t, sizeof(t)))
        n++;
    return n;
}

/* Start a transaction, returning its id. */
static inline uint32_t txn_start(struct store_conn *c)
{
    struct rep r = rqv(c, XS_TRANSACTION_START, 0, "", NULL);
    assert_int_equal(r.type, XS_TRANSACTION_START);
    uint32_t id = (uint32_t)strtoul(r.d, NULL, 10);
    assert_true(id != 0);
    rep_free(r);
    return id;
}

/* Fail the test if the store's invariants do not hold (store_check). */
static inline void check_store(struct store *st)
{
    char why[256] = "";
    int rc = store_check(st, why, sizeof(why));
    if (rc)
        fail_msg("store invariant: %s", why);
}

#endif

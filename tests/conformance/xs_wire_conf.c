/*
 * xs_wire_conf: wire-level conformance of a XenStore daemon's replies, byte
 * for byte, over its Unix socket: the error strings of <xen/io/xs_wire.h>
 * for bad requests, reply payload formats, and that a bad request costs only
 * that request (or, for a message no daemon may accept, that connection).
 *
 * Every expectation below is Xen's (docs/misc/xenstore.txt, tools/xenstored
 * of 4.17); meson runs this program against Xen's own C xenstored too (the
 * -xen-reference test), which is where each case was checked. Only message
 * types Xen 4.17 knows are used.
 *
 * Usage: XENSTORED_PATH=SOCK xs_wire_conf    (exit 0: all cases passed)
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <xen/io/xs_wire.h>

/* A byte string literal with embedded NULs: pointer and length. */
#define B(s) s, sizeof(s) - 1
#define NONE NULL, 0

enum {
    F_USE_TX = 1 << 0,   /* request carries the transaction id saved last */
    F_TX_START = 1 << 1, /* reply is "<decimal>\0": save it as the tx id */
    F_EVENT = 1 << 2,    /* send nothing: the next message is a WATCH_EVENT */
    F_ANY_ORDER = 1 << 3,/* reply and the following F_EVENT step may swap */
    F_CLOSED = 1 << 4,   /* the daemon must close this connection (then a
                            new one is opened for the following steps) */
    F_RAW_LEN = 1 << 5,  /* header length field is rawlen, payload not sent */
    F_BAD_TX = 1 << 6,   /* request carries a transaction id never started */
    F_GEN = 1 << 7,      /* reply is "<decimal generation>\0" + rep */
};

struct step {
    const char *name;
    uint32_t type;
    const char *req;
    size_t req_len;
    uint32_t rtype;
    const char *rep;
    size_t rep_len;
    unsigned int flags;
    uint32_t rawlen;
};

static const struct step steps[] = {
    /* Basic replies. */
    { "WRITE a node", XS_WRITE, B("/wc/n\0val"), XS_WRITE, B("OK\0"), 0, 0 },
    { "READ: value without NUL", XS_READ, B("/wc/n\0"), XS_READ, B("val"), 0, 0 },
    { "READ implicit parent: empty", XS_READ, B("/wc\0"), XS_READ, B(""), 0, 0 },
    { "WRITE empty value", XS_WRITE, B("/wc/e\0"), XS_WRITE, B("OK\0"), 0, 0 },
    { "READ empty value", XS_READ, B("/wc/e\0"), XS_READ, B(""), 0, 0 },
    { "WRITE value with NULs", XS_WRITE, B("/wc/z\0a\0b\0"), XS_WRITE, B("OK\0"), 0, 0 },
    { "READ value with NULs", XS_READ, B("/wc/z\0"), XS_READ, B("a\0b\0"), 0, 0 },
    /* Children are created in sorted order: Xen leaves their order open. */
    { "WRITE /wd/a", XS_WRITE, B("/wd/a\0"), XS_WRITE, B("OK\0"), 0, 0 },
    { "WRITE /wd/b", XS_WRITE, B("/wd/b\0"), XS_WRITE, B("OK\0"), 0, 0 },
    { "WRITE /wd/c", XS_WRITE, B("/wd/c\0"), XS_WRITE, B("OK\0"), 0, 0 },
    { "DIRECTORY: children NUL-separated", XS_DIRECTORY, B("/wd\0"),
      XS_DIRECTORY, B("a\0b\0c\0"), 0, 0 },
    /* DIRECTORY_PART: "<generation>\0" then the children from a byte
     * offset, ending with an extra NUL (xenstore.txt; libxenstore uses it
     * when DIRECTORY is E2BIG). */
    { "DIRECTORY_PART from 0", XS_DIRECTORY_PART, B("/wd\0" "0\0"), XS_DIRECTORY_PART,
      B("a\0b\0c\0\0"), F_GEN, 0 },
    { "DIRECTORY_PART from byte 2", XS_DIRECTORY_PART, B("/wd\0" "2\0"), XS_DIRECTORY_PART,
      B("b\0c\0\0"), F_GEN, 0 },
    { "DIRECTORY_PART past the end", XS_DIRECTORY_PART, B("/wd\0" "99\0"), XS_DIRECTORY_PART,
      B("\0"), F_GEN, 0 },
    { "DIRECTORY_PART without offset: EINVAL", XS_DIRECTORY_PART, B("/wd\0"), XS_ERROR,
      B("EINVAL\0"), 0, 0 },
    { "DIRECTORY_PART absent: ENOENT", XS_DIRECTORY_PART, B("/wc/none\0" "0\0"), XS_ERROR,
      B("ENOENT\0"), 0, 0 },
    { "DIRECTORY of a leaf: empty", XS_DIRECTORY, B("/wc/n\0"), XS_DIRECTORY, B(""), 0, 0 },
    { "MKDIR new", XS_MKDIR, B("/wc/m\0"), XS_MKDIR, B("OK\0"), 0, 0 },
    { "MKDIR existing: OK, value kept", XS_MKDIR, B("/wc/n\0"), XS_MKDIR, B("OK\0"), 0, 0 },
    { "READ after MKDIR existing", XS_READ, B("/wc/n\0"), XS_READ, B("val"), 0, 0 },
    { "GET_PERMS default", XS_GET_PERMS, B("/wc/n\0"), XS_GET_PERMS, B("n0\0"), 0, 0 },
    { "SET_PERMS", XS_SET_PERMS, B("/wc/n\0n0\0r3\0b4\0"), XS_SET_PERMS, B("OK\0"), 0, 0 },
    { "GET_PERMS as set", XS_GET_PERMS, B("/wc/n\0"), XS_GET_PERMS, B("n0\0r3\0b4\0"), 0, 0 },
    { "WRITE relative", XS_WRITE, B("relc\0r"), XS_WRITE, B("OK\0"), 0, 0 },
    { "READ relative as absolute", XS_READ, B("/local/domain/0/relc\0"), XS_READ, B("r"), 0, 0 },
    { "GET_DOMAIN_PATH", XS_GET_DOMAIN_PATH, B("5\0"), XS_GET_DOMAIN_PATH,
      B("/local/domain/5\0"), 0, 0 },
    { "IS_DOMAIN_INTRODUCED dom0", XS_IS_DOMAIN_INTRODUCED, B("0\0"),
      XS_IS_DOMAIN_INTRODUCED, B("T\0"), 0, 0 },
    { "IS_DOMAIN_INTRODUCED unknown domain", XS_IS_DOMAIN_INTRODUCED, B("77\0"),
      XS_IS_DOMAIN_INTRODUCED, B("F\0"), 0, 0 },

    /* Errors: the request fails, the connection stays usable. */
    { "READ absent: ENOENT", XS_READ, B("/wc/none\0"), XS_ERROR, B("ENOENT\0"), 0, 0 },
    { "READ '//' path: EINVAL", XS_READ, B("/wc//n\0"), XS_ERROR, B("EINVAL\0"), 0, 0 },
    { "READ trailing '/': EINVAL", XS_READ, B("/wc/\0"), XS_ERROR, B("EINVAL\0"), 0, 0 },
    { "READ bad character: EINVAL", XS_READ, B("/wc/a*b\0"), XS_ERROR, B("EINVAL\0"), 0, 0 },
    { "READ without NUL: EINVAL", XS_READ, B("/wc/n"), XS_ERROR, B("EINVAL\0"), 0, 0 },
    { "WRITE without value separator: EINVAL", XS_WRITE, B("/wc/n"), XS_ERROR,
      B("EINVAL\0"), 0, 0 },
    { "WRITE bad path: EINVAL", XS_WRITE, B("/wc/a b\0v"), XS_ERROR, B("EINVAL\0"), 0, 0 },
    { "DIRECTORY absent: ENOENT", XS_DIRECTORY, B("/wc/none\0"), XS_ERROR, B("ENOENT\0"), 0, 0 },
    { "GET_PERMS absent: ENOENT", XS_GET_PERMS, B("/wc/none\0"), XS_ERROR, B("ENOENT\0"), 0, 0 },
    { "SET_PERMS malformed perm: EINVAL", XS_SET_PERMS, B("/wc/n\0x0\0"), XS_ERROR,
      B("EINVAL\0"), 0, 0 },
    { "SET_PERMS no perms: EINVAL", XS_SET_PERMS, B("/wc/n\0"), XS_ERROR, B("EINVAL\0"), 0, 0 },
    { "SET_PERMS absent node: ENOENT", XS_SET_PERMS, B("/wc/none\0n0\0"), XS_ERROR,
      B("ENOENT\0"), 0, 0 },
    /* The special watch paths have permissions of their own, settable by
     * the privileged domain ("<wspecial> events are sent to privileged
     * callers or explicitly via SET_PERMS enabled domains only"). */
    { "SET_PERMS @releaseDomain", XS_SET_PERMS, B("@releaseDomain\0n0\0r5\0"),
      XS_SET_PERMS, B("OK\0"), 0, 0 },
    { "SET_PERMS @introduceDomain", XS_SET_PERMS, B("@introduceDomain\0n0\0r5\0"),
      XS_SET_PERMS, B("OK\0"), 0, 0 },
    { "perms unchanged by failed SET_PERMS", XS_GET_PERMS, B("/wc/n\0"), XS_GET_PERMS,
      B("n0\0r3\0b4\0"), 0, 0 },
    { "RM /: EINVAL", XS_RM, B("/\0"), XS_ERROR, B("EINVAL\0"), 0, 0 },
    { "RM absent, parent present: OK", XS_RM, B("/wc/none\0"), XS_RM, B("OK\0"), 0, 0 },
    { "RM absent, parent absent: ENOENT", XS_RM, B("/wc/none/x\0"), XS_ERROR,
      B("ENOENT\0"), 0, 0 },
    /* xenstored process_message: no handler -> ENOSYS. */
    { "unknown message type: ENOSYS", 9999, B("x\0"), XS_ERROR, B("ENOSYS\0"), 0, 0 },
    { "WATCH_EVENT as a request: ENOSYS", XS_WATCH_EVENT, B("/wc\0t\0"), XS_ERROR,
      B("ENOSYS\0"), 0, 0 },
    { "connection still serves", XS_READ, B("/wc/n\0"), XS_READ, B("val"), 0, 0 },
    { "READ in unknown transaction: ENOENT", XS_READ, B("/wc/n\0"), XS_ERROR,
      B("ENOENT\0"), F_BAD_TX, 0 },
    { "RELEASE dom0: EINVAL", XS_RELEASE, B("0\0"), XS_ERROR, B("EINVAL\0"), 0, 0 },
    { "RELEASE unknown domain: ENOENT", XS_RELEASE, B("77\0"), XS_ERROR, B("ENOENT\0"), 0, 0 },
    { "INTRODUCE missing args: EINVAL", XS_INTRODUCE, B("1\0"), XS_ERROR, B("EINVAL\0"), 0, 0 },

    /* Transactions. */
    { "TRANSACTION_START: id", XS_TRANSACTION_START, B("\0"), XS_TRANSACTION_START, NONE,
      F_TX_START, 0 },
    { "WRITE in transaction", XS_WRITE, B("/wc/t\0tv"), XS_WRITE, B("OK\0"), F_USE_TX, 0 },
    { "READ own write in transaction", XS_READ, B("/wc/t\0"), XS_READ, B("tv"), F_USE_TX, 0 },
    { "not visible outside before commit", XS_READ, B("/wc/t\0"), XS_ERROR, B("ENOENT\0"), 0, 0 },
    { "TRANSACTION_END bad argument: EINVAL", XS_TRANSACTION_END, B("X\0"), XS_ERROR,
      B("EINVAL\0"), F_USE_TX, 0 },
    { "TRANSACTION_END commit", XS_TRANSACTION_END, B("T\0"), XS_TRANSACTION_END,
      B("OK\0"), F_USE_TX, 0 },
    { "visible after commit", XS_READ, B("/wc/t\0"), XS_READ, B("tv"), 0, 0 },
    { "ended transaction is gone: ENOENT", XS_READ, B("/wc/t\0"), XS_ERROR, B("ENOENT\0"),
      F_USE_TX, 0 },
    { "TRANSACTION_START again", XS_TRANSACTION_START, B("\0"), XS_TRANSACTION_START, NONE,
      F_TX_START, 0 },
    { "RM in transaction", XS_RM, B("/wc/t\0"), XS_RM, B("OK\0"), F_USE_TX, 0 },
    { "TRANSACTION_END abort", XS_TRANSACTION_END, B("F\0"), XS_TRANSACTION_END,
      B("OK\0"), F_USE_TX, 0 },
    { "aborted RM left the node", XS_READ, B("/wc/t\0"), XS_READ, B("tv"), 0, 0 },
    /* A node read in a transaction keeps the value the transaction saw,
     * even after another connection changed it; the commit then fails with
     * EAGAIN (test-xenstore "ta err"; xenstored transaction.c). */
    { "WRITE /wc/rr", XS_WRITE, B("/wc/rr\0one"), XS_WRITE, B("OK\0"), 0, 0 },
    { "TRANSACTION_START (conflict)", XS_TRANSACTION_START, B("\0"), XS_TRANSACTION_START,
      NONE, F_TX_START, 0 },
    { "READ in transaction", XS_READ, B("/wc/rr\0"), XS_READ, B("one"), F_USE_TX, 0 },
    { "WRITE outside the transaction", XS_WRITE, B("/wc/rr\0two"), XS_WRITE, B("OK\0"), 0, 0 },
    { "re-READ in transaction: the value it read", XS_READ, B("/wc/rr\0"), XS_READ, B("one"),
      F_USE_TX, 0 },
    { "TRANSACTION_END commit: EAGAIN", XS_TRANSACTION_END, B("T\0"), XS_ERROR,
      B("EAGAIN\0"), F_USE_TX, 0 },
    { "outside write survives", XS_READ, B("/wc/rr\0"), XS_READ, B("two"), 0, 0 },

    /* Watches. */
    { "WATCH", XS_WATCH, B("/wc/w\0tok\0"), XS_WATCH, B("OK\0"), F_ANY_ORDER, 0 },
    { "fires once on registration", 0, NONE, XS_WATCH_EVENT, B("/wc/w\0tok\0"), F_EVENT, 0 },
    { "WATCH same path+token: EEXIST", XS_WATCH, B("/wc/w\0tok\0"), XS_ERROR,
      B("EEXIST\0"), 0, 0 },
    { "write below the watch", XS_WRITE, B("/wc/w/c\0v"), XS_WRITE, B("OK\0"), F_ANY_ORDER, 0 },
    { "event for the child", 0, NONE, XS_WATCH_EVENT, B("/wc/w/c\0tok\0"), F_EVENT, 0 },
    { "UNWATCH unknown token: ENOENT", XS_UNWATCH, B("/wc/w\0nope\0"), XS_ERROR,
      B("ENOENT\0"), 0, 0 },
    /* xenstored do_unwatch looks the (canonicalised) path up among the
     * connection's watches without validating it: not found -> ENOENT. */
    { "UNWATCH malformed path: ENOENT", XS_UNWATCH, B("/wc//w\0tok\0"), XS_ERROR,
      B("ENOENT\0"), 0, 0 },
    { "UNWATCH", XS_UNWATCH, B("/wc/w\0tok\0"), XS_UNWATCH, B("OK\0"), 0, 0 },
    { "no event after UNWATCH", XS_WRITE, B("/wc/w/c\0v2"), XS_WRITE, B("OK\0"), 0, 0 },
    { "WATCH relative", XS_WATCH, B("relw\0rt\0"), XS_WATCH, B("OK\0"), F_ANY_ORDER, 0 },
    { "relative registration event", 0, NONE, XS_WATCH_EVENT, B("relw\0rt\0"), F_EVENT, 0 },
    { "absolute write below it", XS_WRITE, B("/local/domain/0/relw/k\0v"), XS_WRITE,
      B("OK\0"), F_ANY_ORDER, 0 },
    { "event path is relative", 0, NONE, XS_WATCH_EVENT, B("relw/k\0rt\0"), F_EVENT, 0 },
    { "RESET_WATCHES", XS_RESET_WATCHES, B(""), XS_RESET_WATCHES, B("OK\0"), 0, 0 },
    { "no event after RESET_WATCHES", XS_WRITE, B("relw/k\0v2"), XS_WRITE, B("OK\0"), 0, 0 },

    /* Domain life cycle as the toolstack drives it: INTRODUCE fires
     * @introduceDomain, RELEASE fires @releaseDomain (xenstore.txt). */
    { "WATCH @introduceDomain", XS_WATCH, B("@introduceDomain\0i\0"), XS_WATCH, B("OK\0"),
      F_ANY_ORDER, 0 },
    { "its registration event", 0, NONE, XS_WATCH_EVENT, B("@introduceDomain\0i\0"), F_EVENT, 0 },
    { "WATCH @releaseDomain", XS_WATCH, B("@releaseDomain\0r\0"), XS_WATCH, B("OK\0"),
      F_ANY_ORDER, 0 },
    { "its registration event", 0, NONE, XS_WATCH_EVENT, B("@releaseDomain\0r\0"), F_EVENT, 0 },
    { "INTRODUCE domain 3 (gfn 123, port 5)", XS_INTRODUCE, B("3\0" "123\0" "5\0"),
      XS_INTRODUCE, B("OK\0"), F_ANY_ORDER, 0 },
    { "@introduceDomain fires", 0, NONE, XS_WATCH_EVENT, B("@introduceDomain\0i\0"), F_EVENT, 0 },
    { "IS_DOMAIN_INTRODUCED 3", XS_IS_DOMAIN_INTRODUCED, B("3\0"), XS_IS_DOMAIN_INTRODUCED,
      B("T\0"), 0, 0 },
    { "RESUME 3", XS_RESUME, B("3\0"), XS_RESUME, B("OK\0"), 0, 0 },
    { "RELEASE 3", XS_RELEASE, B("3\0"), XS_RELEASE, B("OK\0"), F_ANY_ORDER, 0 },
    { "@releaseDomain fires", 0, NONE, XS_WATCH_EVENT, B("@releaseDomain\0r\0"), F_EVENT, 0 },
    { "released: not introduced", XS_IS_DOMAIN_INTRODUCED, B("3\0"), XS_IS_DOMAIN_INTRODUCED,
      B("F\0"), 0, 0 },
    { "RELEASE 3 again: ENOENT", XS_RELEASE, B("3\0"), XS_ERROR, B("ENOENT\0"), 0, 0 },
    { "RESUME released domain: ENOENT", XS_RESUME, B("3\0"), XS_ERROR, B("ENOENT\0"), 0, 0 },

    /* A message longer than XENSTORE_PAYLOAD_MAX: that connection only. */
    { "oversized message closes the connection", XS_READ, NONE, 0, NONE, F_CLOSED | F_RAW_LEN,
      XENSTORE_PAYLOAD_MAX + 1 },
    { "a new connection works", XS_READ, B("/wc/n\0"), XS_READ, B("val"), 0, 0 },
};

struct msg {
    struct xsd_sockmsg hdr;
    char body[XENSTORE_PAYLOAD_MAX + 1];
};

static int conn_open(void)
{
    const char *path = getenv("XENSTORED_PATH");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (!path || strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "xs_wire_conf: set XENSTORED_PATH to the daemon's socket\n");
        exit(2);
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror(path);
        exit(1);
    }
    return fd;
}

/* Read exactly n bytes within 5 s; 0 on EOF/reset, -1 on timeout. */
static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t r;

        if (poll(&p, 1, 5000) <= 0)
            return -1;
        r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        got += (size_t)r;
    }
    return 1;
}

/* 1: a message; 0: connection closed; -1: nothing within 5 s. */
static int read_msg(int fd, struct msg *m)
{
    int r = read_full(fd, &m->hdr, sizeof(m->hdr));

    if (r <= 0)
        return r;
    if (m->hdr.len > XENSTORE_PAYLOAD_MAX) {
        fprintf(stderr, "xs_wire_conf: reply of %u bytes\n", m->hdr.len);
        return 0;
    }
    r = read_full(fd, m->body, m->hdr.len);
    if (r <= 0)
        return r;
    m->body[m->hdr.len] = '\0';
    return 1;
}

static void show(const char *p, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n && i < 200; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == '\0')
            fputs("\\0", stdout);
        else if (c < ' ' || c > '~' || c == '"' || c == '\\')
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static bool match(const struct step *s, const struct msg *m, uint32_t *tx)
{
    if (m->hdr.type != s->rtype)
        return false;
    if (s->flags & F_TX_START) {
        char *end;
        unsigned long v;

        if (m->hdr.len < 2 || m->body[m->hdr.len - 1] != '\0')
            return false;
        v = strtoul(m->body, &end, 10);
        if (end != m->body + m->hdr.len - 1 || end == m->body || v == 0)
            return false;
        *tx = (uint32_t)v;
        return true;
    }
    if (s->flags & F_GEN) {
        const char *nul = memchr(m->body, '\0', m->hdr.len);
        size_t skip;

        if (!nul || nul == m->body || strspn(m->body, "0123456789") != (size_t)(nul - m->body))
            return false;
        skip = (size_t)(nul - m->body) + 1;
        return m->hdr.len - skip == s->rep_len && !memcmp(m->body + skip, s->rep, s->rep_len);
    }
    return m->hdr.len == s->rep_len && !memcmp(m->body, s->rep, s->rep_len);
}

int main(void)
{
    int fd = conn_open(), fails = 0;
    uint32_t tx = 0, req_id = 100;
    unsigned int nsteps = sizeof(steps) / sizeof(steps[0]);
    struct msg m, pending;
    bool have_pending = false;

    for (unsigned int i = 0; i < nsteps; i++) {
        const struct step *s = &steps[i];
        bool ok;
        int r;

        if (!(s->flags & F_EVENT)) {
            char out[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX];
            struct xsd_sockmsg hdr = {
                .type = s->type, .req_id = ++req_id,
                .tx_id = (s->flags & F_USE_TX) ? tx : (s->flags & F_BAD_TX) ? 0x7ffffff0u : 0u,
                .len = (s->flags & F_RAW_LEN) ? s->rawlen : (uint32_t)s->req_len,
            };
            size_t len = sizeof(hdr) + ((s->flags & F_RAW_LEN) ? 0 : s->req_len);

            memcpy(out, &hdr, sizeof(hdr));
            memcpy(out + sizeof(hdr), s->req, s->req_len);
            if (write(fd, out, len) != (ssize_t)len) {
                perror("write");
                return 1;
            }
        }

        if (s->flags & F_CLOSED) {
            /* Anything but EOF within 5 s is a failure. */
            do {
                r = read_msg(fd, &m);
            } while (r == 1);
            ok = r == 0;
            printf("%s %u - %s\n", ok ? "ok" : "not ok", i + 1, s->name);
            if (!ok) {
                printf("#   expected the daemon to close the connection; it stayed open\n");
                fails++;
            }
            close(fd);
            fd = conn_open();
            continue;
        }

        if (have_pending) {
            m = pending;
            have_pending = false;
            r = 1;
        } else {
            r = read_msg(fd, &m);
        }
        ok = r == 1 && match(s, &m, &tx);
        /* A reply and its watch event may come in either order. */
        if (!ok && r == 1 && (s->flags & F_ANY_ORDER) && i + 1 < nsteps &&
            (steps[i + 1].flags & F_EVENT) && m.hdr.type == XS_WATCH_EVENT) {
            pending = m;
            have_pending = true;
            r = read_msg(fd, &m);
            ok = r == 1 && match(s, &m, &tx);
        }
        if (s->flags & F_EVENT)
            ok = ok && m.hdr.req_id == 0 && m.hdr.tx_id == 0;
        else if (ok && m.hdr.req_id != req_id) {
            ok = false;
        }
        printf("%s %u - %s\n", ok ? "ok" : "not ok", i + 1, s->name);
        if (!ok) {
            fails++;
            printf("#   expected type %u payload ", s->rtype);
            if (s->flags & F_TX_START)
                fputs("\"<decimal id>\\0\"", stdout);
            else if (s->flags & F_GEN)
                fputs("\"<decimal generation>\\0\" + ", stdout);
            if (!(s->flags & F_TX_START))
                show(s->rep, s->rep_len);
            if (r == 1) {
                printf("\n#   got      type %u payload ", m.hdr.type);
                show(m.body, m.hdr.len);
                printf(" (req_id %u, sent %u)\n", m.hdr.req_id, req_id);
            } else {
                printf("\n#   got %s\n", r == 0 ? "connection closed" : "nothing within 5 s");
                close(fd);
                fd = conn_open();
            }
        }
    }
    /* Nothing may be left over: e.g. events after UNWATCH/RESET_WATCHES. */
    {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        if (have_pending || poll(&p, 1, 200) > 0) {
            int r = have_pending ? 1 : read_msg(fd, &m);

            if (have_pending)
                m = pending;
            if (r == 1) {
                printf("not ok %u - no unexpected message at the end\n#   got type %u payload ",
                       nsteps + 1, m.hdr.type);
                show(m.body, m.hdr.len);
                putchar('\n');
                fails++;
            }
        }
    }
    close(fd);
    printf("# %u wire cases, %d failed\n", nsteps, fails);
    return fails ? 1 : 0;
}

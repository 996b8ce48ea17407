/*
 * xs_diff: differential test of two XenStore daemons. The same seeded
 * random sequence of requests goes to both over several connections each
 * (the i-th connection of A mirrors the i-th of B); every reply and every
 * watch event must be the same, byte for byte, apart from what Xen leaves
 * open: the order of a node's children, transaction id values, and the
 * order of the events one request fires. At the end the whole tree (values
 * and permissions) is compared too.
 *
 * A is the daemon under test, B the reference (Xen's C xenstored, run alone
 * through bench/xs_preload.c). The first difference stops the run and is
 * printed with the seed and the last requests, so it can be replayed.
 *
 * Usage: xs_diff SOCKET_A SOCKET_B [-s SEED] [-n OPS] [-c CONNS] [-v]
 * (-v prints every request and its reply as it goes)
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

#define DIFF_MAX_CONNS 8
#define DIFF_LOG 48

struct dconn {
    int fd;
    uint32_t tx;          /* open transaction id on this daemon, 0 if none */
};

struct dmsg {
    uint32_t type, len;
    char body[XENSTORE_PAYLOAD_MAX + 1];
};

/* The requests of one step, as sent (for the failure report). */
static char oplog[DIFF_LOG][300];
static unsigned long nsteps_done, tolerated;

static const char *const paths[] = {
    "/d", "/d/a", "/d/b", "/d/a/x", "/d/a/y", "/d/b/x", "/d/b/x/deep",
    "/e", "/e/a", "r", "r/a", "/d//a", "/d/a/", "/local/domain/0/r/b",
};
#define NPATHS (sizeof(paths) / sizeof(paths[0]))
static const char *const perms[] = {
    "n0", "r0", "b0", "n0\0r1", "n0\0b2\0w3", "b1", "r2\0n0", "n0\0x1",
};
static const size_t perms_len[] = { 3, 3, 3, 6, 9, 3, 6, 6 };

static int dial(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "xs_diff: socket path too long: %s\n", path);
        exit(2);
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "xs_diff: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    return fd;
}

static bool read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t r;

        if (poll(&p, 1, 5000) <= 0)
            return false;
        r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static bool get_msg(int fd, struct dmsg *m)
{
    struct xsd_sockmsg h;

    if (!read_full(fd, &h, sizeof(h)) || h.len > XENSTORE_PAYLOAD_MAX)
        return false;
    if (!read_full(fd, m->body, h.len))
        return false;
    m->type = h.type;
    m->len = h.len;
    m->body[h.len] = '\0';
    return true;
}

static void put_msg(int fd, uint32_t type, uint32_t tx, const char *p, size_t len)
{
    char out[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX];
    struct xsd_sockmsg h = { .type = type, .req_id = 7, .tx_id = tx, .len = (uint32_t)len };

    memcpy(out, &h, sizeof(h));
    memcpy(out + sizeof(h), p, len);
    if (write(fd, out, sizeof(h) + len) != (ssize_t)(sizeof(h) + len)) {
        perror("xs_diff: write");
        exit(2);
    }
}

/* Event texts collected on one connection, sorted for comparison. */
struct evset {
    unsigned int n;
    char ev[64][160];
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void ev_add(struct evset *e, const struct dmsg *m)
{
    if (e->n < 64) {
        size_t k = 0;

        for (uint32_t i = 0; i < m->len && k < 158; i++)
            e->ev[e->n][k++] = m->body[i] ? m->body[i] : '|';
        e->ev[e->n][k] = '\0';
        e->n++;
    }
}

/*
 * Sort one step's events and drop repeats: xenstore.txt allows spurious
 * events, and C xenstored drops an event identical to one still queued
 * (send_event) while other daemons may send it twice, e.g. for watches on
 * /a (token t) and /a/b (token t) when /a/b changes.
 */
static void ev_canon(struct evset *e)
{
    unsigned int k = 0;

    qsort(e->ev, e->n, sizeof(e->ev[0]), cmp_str);
    for (unsigned int i = 0; i < e->n; i++)
        if (!k || strcmp(e->ev[k - 1], e->ev[i]))
            memmove(e->ev[k++], e->ev[i], sizeof(e->ev[0]));
    e->n = k;
}

/*
 * Send one request on @c and return its reply in @r; watch events that
 * arrive meanwhile are added to @ev. false if the daemon closed or hung.
 */
static bool call(struct dconn *c, uint32_t type, uint32_t tx, const char *p, size_t len,
                 struct dmsg *r, struct evset *ev)
{
    put_msg(c->fd, type, tx, p, len);
    for (;;) {
        if (!get_msg(c->fd, r))
            return false;
        if (r->type != XS_WATCH_EVENT)
            return true;
        ev_add(ev, r);
    }
}

/* Canonical text of a reply: children sorted, transaction ids elided. */
static void canon(uint32_t type, const struct dmsg *m, char *out, size_t outsz)
{
    char items[256][64];
    unsigned int n = 0;
    size_t k = 0;

    if (m->type == XS_DIRECTORY) {
        for (uint32_t i = 0; i < m->len && n < 256;) {
            size_t l = strnlen(m->body + i, m->len - i);

            snprintf(items[n++], sizeof(items[0]), "%.*s", (int)l, m->body + i);
            i += (uint32_t)l + 1;
        }
        qsort(items, n, sizeof(items[0]), cmp_str);
        k += (size_t)snprintf(out, outsz, "DIRECTORY[");
        for (unsigned int i = 0; i < n && k < outsz; i++)
            k += (size_t)snprintf(out + k, outsz - k, "%s%s", i ? "," : "", items[i]);
        if (k < outsz)
            snprintf(out + k, outsz - k, "]");
        return;
    }
    if (m->type == XS_TRANSACTION_START && type == XS_TRANSACTION_START) {
        snprintf(out, outsz, "TRANSACTION_START[<id>]");
        return;
    }
    k = (size_t)snprintf(out, outsz, "type %u [", m->type);
    for (uint32_t i = 0; i < m->len && k + 5 < outsz; i++) {
        unsigned char ch = (unsigned char)m->body[i];

        if (ch >= ' ' && ch <= '~')
            out[k++] = (char)ch;
        else
            k += (size_t)snprintf(out + k, outsz - k, "\\%02x", ch);
    }
    snprintf(out + k, outsz - k, "]");
}

static void fail(unsigned long seed, const char *what, const char *a, const char *b)
{
    printf("DIFFERENCE after %lu steps (seed %lu): %s\n", nsteps_done, seed, what);
    printf("  under test: %s\n  reference:  %s\n", a, b);
    printf("  last requests (oldest first):\n");
    for (unsigned int i = 0; i < DIFF_LOG; i++) {
        const char *l = oplog[(nsteps_done + 1 + i) % DIFF_LOG];

        if (l[0])
            printf("    %s\n", l);
    }
    exit(1);
}

static const char *type_name(uint32_t t)
{
    static const char *const n[] = {
        [XS_DIRECTORY] = "DIRECTORY", [XS_READ] = "READ", [XS_GET_PERMS] = "GET_PERMS",
        [XS_WATCH] = "WATCH", [XS_UNWATCH] = "UNWATCH",
        [XS_TRANSACTION_START] = "TRANSACTION_START", [XS_TRANSACTION_END] = "TRANSACTION_END",
        [XS_WRITE] = "WRITE", [XS_MKDIR] = "MKDIR", [XS_RM] = "RM", [XS_SET_PERMS] = "SET_PERMS",
    };

    return t < sizeof(n) / sizeof(n[0]) && n[t] ? n[t] : "?";
}

static unsigned long rng_state;

static unsigned int rnd(unsigned int n)
{
    /* xorshift64*: reproducible from the seed on any libc. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (unsigned int)(((rng_state * 2685821657736338717ull) >> 33) % n);
}

/*
 * After a reply differed inside a transaction: commit it on both daemons.
 * True (and the transaction gone) if both refuse with EAGAIN.
 */
static bool doomed_transaction(struct dconn *a, struct dconn *b, struct evset *eva,
                               struct evset *evb)
{
    static const char commit[] = "T";
    struct dmsg ra, rb;
    bool ok;

    if (!call(a, XS_TRANSACTION_END, a->tx, commit, sizeof(commit), &ra, eva) ||
        !call(b, XS_TRANSACTION_END, b->tx, commit, sizeof(commit), &rb, evb))
        return false;
    ok = ra.type == XS_ERROR && rb.type == XS_ERROR && !strcmp(ra.body, "EAGAIN") &&
         !strcmp(rb.body, "EAGAIN");
    a->tx = b->tx = 0;
    return ok;
}

/* Walk the tree below / (iteratively, bounded) and compare every node. */
static void compare_trees(unsigned long seed, struct dconn *a, struct dconn *b)
{
    static char queue[512][128];
    unsigned int head = 0, tail = 0;
    struct dmsg ra, rb;
    struct evset ev = { 0 };
    char ca[4096], cb[4096];
    static const uint32_t kinds[] = { XS_READ, XS_GET_PERMS, XS_DIRECTORY };

    snprintf(queue[tail++], sizeof(queue[0]), "/d");
    snprintf(queue[tail++], sizeof(queue[0]), "/e");
    snprintf(queue[tail++], sizeof(queue[0]), "/local/domain/0/r");
    while (head < tail) {
        const char *p = queue[head++];

        for (unsigned int k = 0; k < 3; k++) {
            if (!call(a, kinds[k], 0, p, strlen(p) + 1, &ra, &ev) ||
                !call(b, kinds[k], 0, p, strlen(p) + 1, &rb, &ev))
                fail(seed, "final tree walk: a daemon stopped answering", p, p);
            canon(kinds[k], &ra, ca, sizeof(ca));
            canon(kinds[k], &rb, cb, sizeof(cb));
            if (strcmp(ca, cb)) {
                char what[200];

                snprintf(what, sizeof(what), "final tree: %s %s", type_name(kinds[k]), p);
                fail(seed, what, ca, cb);
            }
        }
        if (ra.type != XS_DIRECTORY)
            continue;
        for (uint32_t i = 0; i < ra.len && tail < 512;) {
            size_t l = strnlen(ra.body + i, ra.len - i);

            snprintf(queue[tail++], sizeof(queue[0]), "%s/%.*s", p, (int)l, ra.body + i);
            i += (uint32_t)l + 1;
        }
    }
}

int main(int argc, char **argv)
{
    unsigned long seed = 1, nops = 2000;
    unsigned int nconns = 3;
    bool verbose = false;
    struct dconn a[DIFF_MAX_CONNS], b[DIFF_MAX_CONNS];
    int opt;

    if (argc < 3) {
        fprintf(stderr, "usage: %s SOCKET_UNDER_TEST SOCKET_REFERENCE [-s SEED] [-n OPS] [-c CONNS]\n",
                argv[0]);
        return 2;
    }
    optind = 3;
    while ((opt = getopt(argc, argv, "s:n:c:v")) != -1) {
        switch (opt) {
        case 'v': verbose = true; break;
        case 's': seed = strtoul(optarg, NULL, 0); break;
        case 'n': nops = strtoul(optarg, NULL, 0); break;
        case 'c': nconns = (unsigned int)strtoul(optarg, NULL, 0); break;
        default: return 2;
        }
    }
    if (!nconns || nconns > DIFF_MAX_CONNS)
        return 2;
    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
    for (unsigned int i = 0; i < nconns; i++) {
        a[i] = (struct dconn){ dial(argv[1]), 0 };
        b[i] = (struct dconn){ dial(argv[2]), 0 };
    }

    for (nsteps_done = 0; nsteps_done < nops; nsteps_done++) {
        unsigned int ci = rnd(nconns), what = rnd(100), pi = rnd(NPATHS);
        struct dconn *ca = &a[ci], *cb = &b[ci];
        const char *path = paths[pi];
        char req[512], sa[4096], sb[4096];
        size_t len = strlen(path) + 1;
        uint32_t type;
        bool in_tx = ca->tx && rnd(3) != 0;
        struct dmsg ra, rb;
        struct evset eva[DIFF_MAX_CONNS], evb[DIFF_MAX_CONNS];

        memcpy(req, path, len);
        if (what < 20) {
            type = XS_WRITE;
            len += (size_t)snprintf(req + len, sizeof(req) - len, "v%u", rnd(1000));
        } else if (what < 38) {
            type = XS_READ;
        } else if (what < 45) {
            type = XS_MKDIR;
        } else if (what < 53) {
            type = XS_RM;
        } else if (what < 62) {
            type = XS_DIRECTORY;
        } else if (what < 67) {
            type = XS_GET_PERMS;
        } else if (what < 73) {
            unsigned int k = rnd(sizeof(perms) / sizeof(perms[0]));

            type = XS_SET_PERMS;
            memcpy(req + len, perms[k], perms_len[k]);
            len += perms_len[k];
        } else if (what < 80) {
            type = XS_WATCH;
            len += (size_t)snprintf(req + len, sizeof(req) - len, "t%u", rnd(3)) + 1;
            in_tx = false;
        } else if (what < 84) {
            type = XS_UNWATCH;
            len += (size_t)snprintf(req + len, sizeof(req) - len, "t%u", rnd(3)) + 1;
            in_tx = false;
        } else if (what < 92 && !ca->tx) {
            type = XS_TRANSACTION_START;
            req[0] = '\0';
            len = 1;
            in_tx = false;
        } else if (ca->tx) {
            type = XS_TRANSACTION_END;
            req[0] = rnd(4) ? 'T' : 'F';
            req[1] = '\0';
            len = 2;
            in_tx = true;
        } else {
            type = XS_READ;
        }

        snprintf(oplog[nsteps_done % DIFF_LOG], sizeof(oplog[0]), "#%lu conn %u %s%s %.*s",
                 nsteps_done, ci, type_name(type), in_tx ? " (in tx)" : "",
                 (int)(type == XS_TRANSACTION_START ? 0 : strlen(req)), req);
        if (type == XS_WATCH || type == XS_UNWATCH || type == XS_SET_PERMS || type == XS_WRITE) {
            size_t l = strlen(oplog[nsteps_done % DIFF_LOG]), off = strlen(req) + 1;

            snprintf(oplog[nsteps_done % DIFF_LOG] + l, sizeof(oplog[0]) - l, " | %.*s",
                     (int)(len - off), req + off);
        }

        memset(eva, 0, sizeof(eva));
        memset(evb, 0, sizeof(evb));
        if (!call(ca, type, in_tx ? ca->tx : 0, req, len, &ra, &eva[ci]))
            fail(seed, "the daemon under test stopped answering", "-", "-");
        if (!call(cb, type, in_tx ? cb->tx : 0, req, len, &rb, &evb[ci]))
            fail(seed, "the reference stopped answering", "-", "-");
        canon(type, &ra, sa, sizeof(sa));
        canon(type, &rb, sb, sizeof(sb));
        {
            size_t l = strlen(oplog[nsteps_done % DIFF_LOG]);

            snprintf(oplog[nsteps_done % DIFF_LOG] + l, sizeof(oplog[0]) - l, " -> %.100s", sa);
        }
        if (verbose)
            printf("%s\n", oplog[nsteps_done % DIFF_LOG]);
        if (strcmp(sa, sb) && in_tx && type != XS_TRANSACTION_END &&
            doomed_transaction(ca, cb, &eva[ci], &evb[ci])) {
            /* Both daemons then failed the commit with EAGAIN: what
             * happened inside is discarded. C xenstored answers some
             * requests of such a doomed transaction with EINVAL or EIO
             * where others say ENOENT or OK; noted, not a failure. */
            tolerated++;
            if (tolerated <= 5)
                printf("# note: step %lu: inside a transaction both then failed with "
                       "EAGAIN: under test %s, reference %s\n", nsteps_done, sa, sb);
        } else if (strcmp(sa, sb)) {
            fail(seed, "different replies", sa, sb);
        }
        if (type == XS_TRANSACTION_START && ra.type == XS_TRANSACTION_START) {
            ca->tx = (uint32_t)strtoul(ra.body, NULL, 10);
            cb->tx = (uint32_t)strtoul(rb.body, NULL, 10);
        }
        if (type == XS_TRANSACTION_END)
            ca->tx = cb->tx = 0;   /* ended, committed or not */

        /* Sync every connection with a cheap request: events this step
         * fired were queued before its reply. */
        for (unsigned int i = 0; i < nconns; i++) {
            static const char probe[] = "/nonexistent-sync";

            if (!call(&a[i], XS_READ, 0, probe, sizeof(probe), &ra, &eva[i]) ||
                !call(&b[i], XS_READ, 0, probe, sizeof(probe), &rb, &evb[i]))
                fail(seed, "a daemon stopped answering a sync read", "-", "-");
            ev_canon(&eva[i]);
            ev_canon(&evb[i]);
            for (unsigned int k = 0; k < eva[i].n || k < evb[i].n; k++) {
                const char *x = k < eva[i].n ? eva[i].ev[k] : "(none)";
                const char *y = k < evb[i].n ? evb[i].ev[k] : "(none)";

                if (strcmp(x, y)) {
                    char w[64], la[2048] = "", lb[2048] = "";

                    for (unsigned int j = 0; j < eva[i].n; j++)
                        snprintf(la + strlen(la), sizeof(la) - strlen(la), "%s ", eva[i].ev[j]);
                    for (unsigned int j = 0; j < evb[i].n; j++)
                        snprintf(lb + strlen(lb), sizeof(lb) - strlen(lb), "%s ", evb[i].ev[j]);
                    snprintf(w, sizeof(w), "different watch events on connection %u", i);
                    fail(seed, w, la[0] ? la : "(none)", lb[0] ? lb : "(none)");
                }
            }
        }
    }
    compare_trees(seed, &a[0], &b[0]);
    printf("PASS: %lu random requests over %u connections (seed %lu): same replies, "
           "same watch events, same final tree (%lu differences inside transactions "
           "that both then failed with EAGAIN)\n", nops, nconns, seed, tolerated);
    return 0;
}

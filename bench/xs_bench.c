/*
 * xs_bench: XenStore round-trip figures over the Unix socket, speaking
 * <xen/io/xs_wire.h> directly (no libxenstore reader thread in the way), so
 * the same client measures any daemon: ours, Xen's C xenstored.
 *
 *   XENSTORED_PATH=SOCK xs_bench read N      ns per READ round trip
 *   XENSTORED_PATH=SOCK xs_bench write N     ns per WRITE round trip
 *   XENSTORED_PATH=SOCK xs_bench tx N        transactions: START, READ,
 *                                            WRITE, END(commit); ns per tx
 *   XENSTORED_PATH=SOCK xs_bench fanout W C R
 *       W watches on one node spread over C connections; R times: one
 *       WRITE below the node, time until the last of the W events is read.
 *       Prints the median and the best of R, in ns.
 * Output: "<name>_ns <value>" lines, for bench/xenstore.sh to parse.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <xen/io/xs_wire.h>

struct xsb_conn {
    int fd;
    uint32_t next_req;
    /* Receive buffer: one header plus the largest payload, plus slack. */
    char buf[2 * (sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX)];
    size_t have;
};

struct xsb_msg {
    struct xsd_sockmsg hdr;
    char body[XENSTORE_PAYLOAD_MAX + 1];
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "xs_bench: %s: %s\n", what, errno ? strerror(errno) : "protocol error");
    exit(1);
}

static void xsb_connect(struct xsb_conn *c)
{
    const char *path = getenv("XENSTORED_PATH");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    if (!path)
        path = "/run/xenstored/socket";
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        die(path);
    }
    strcpy(sa.sun_path, path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die(path);
    c->next_req = 1;
    c->have = 0;
}

/* Send one request: payload is @n strings joined by NULs; the last one
 * keeps its NUL only if @last_nul (WRITE values have none). */
static void xsb_send(struct xsb_conn *c, uint32_t type, uint32_t tx,
                     const char *const *parts, int n, bool last_nul)
{
    char out[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX];
    struct xsd_sockmsg hdr = { .type = type, .req_id = c->next_req++, .tx_id = tx };
    size_t len = 0, off = 0;

    for (int i = 0; i < n; i++) {
        size_t l = strlen(parts[i]) + (i < n - 1 || last_nul);

        if (len + l > XENSTORE_PAYLOAD_MAX) {
            errno = E2BIG;
            die("request");
        }
        memcpy(out + sizeof(hdr) + len, parts[i], l);
        len += l;
    }
    hdr.len = (uint32_t)len;
    memcpy(out, &hdr, sizeof(hdr));
    len += sizeof(hdr);
    while (off < len) {
        ssize_t w = write(c->fd, out + off, len - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write");
        off += (size_t)w;
    }
}

/* Take one complete message out of the buffer, if there is one. */
static bool xsb_take(struct xsb_conn *c, struct xsb_msg *m)
{
    struct xsd_sockmsg hdr;

    if (c->have < sizeof(hdr))
        return false;
    memcpy(&hdr, c->buf, sizeof(hdr));
    if (hdr.len > XENSTORE_PAYLOAD_MAX) {
        errno = 0;
        die("reply longer than XENSTORE_PAYLOAD_MAX");
    }
    if (c->have < sizeof(hdr) + hdr.len)
        return false;
    m->hdr = hdr;
    memcpy(m->body, c->buf + sizeof(hdr), hdr.len);
    m->body[hdr.len] = '\0';
    c->have -= sizeof(hdr) + hdr.len;
    memmove(c->buf, c->buf + sizeof(hdr) + hdr.len, c->have);
    return true;
}

/* Read more bytes (blocking). */
static void xsb_fill(struct xsb_conn *c)
{
    ssize_t r = read(c->fd, c->buf + c->have, sizeof(c->buf) - c->have);

    if (r < 0 && errno == EINTR)
        return;
    if (r <= 0) {
        if (r == 0)
            errno = ECONNRESET;
        die("read");
    }
    c->have += (size_t)r;
}

/* The next message that is not a watch event (events are counted). */
static void xsb_reply(struct xsb_conn *c, struct xsb_msg *m, unsigned int *events)
{
    for (;;) {
        while (!xsb_take(c, m))
            xsb_fill(c);
        if (m->hdr.type != XS_WATCH_EVENT)
            return;
        if (events)
            (*events)++;
    }
}

static void xsb_expect(struct xsb_conn *c, uint32_t type, struct xsb_msg *m)
{
    xsb_reply(c, m, NULL);
    if (m->hdr.type != type) {
        fprintf(stderr, "xs_bench: expected reply type %u, got %u (%s)\n",
                type, m->hdr.type, m->hdr.type == XS_ERROR ? m->body : "");
        exit(1);
    }
}

static void xsb_write(struct xsb_conn *c, uint32_t tx, const char *path, const char *val)
{
    static struct xsb_msg m;
    const char *parts[] = { path, val };

    xsb_send(c, XS_WRITE, tx, parts, 2, false);
    xsb_expect(c, XS_WRITE, &m);
}

static void xsb_read(struct xsb_conn *c, uint32_t tx, const char *path)
{
    static struct xsb_msg m;
    const char *parts[] = { path };

    xsb_send(c, XS_READ, tx, parts, 1, true);
    xsb_expect(c, XS_READ, &m);
}

#define XSB_ROOT "/xs-bench"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void bench_fanout(unsigned int nwatch, unsigned int nconn, unsigned int rounds)
{
    struct xsb_conn *conns = calloc(nconn + 1, sizeof(*conns)), *writer;
    struct pollfd *pfd = calloc(nconn, sizeof(*pfd));
    uint64_t *samples = calloc(rounds, sizeof(*samples));
    static struct xsb_msg m;
    char token[32];

    if (!conns || !pfd || !samples)
        die("calloc");
    writer = &conns[nconn];
    xsb_connect(writer);
    xsb_write(writer, 0, XSB_ROOT "/fan", "");
    for (unsigned int i = 0; i < nconn; i++)
        xsb_connect(&conns[i]);
    /* Register; each registration fires once: drain those events. */
    for (unsigned int w = 0; w < nwatch; w++) {
        struct xsb_conn *c = &conns[w % nconn];
        const char *parts[] = { XSB_ROOT "/fan", token };

        snprintf(token, sizeof(token), "t%u", w);
        xsb_send(c, XS_WATCH, 0, parts, 2, true);
    }
    for (unsigned int i = 0; i < nconn; i++) {
        unsigned int want = nwatch / nconn + (i < nwatch % nconn), acks = 0, evs = 0;

        while (acks < want || evs < want) {
            while (!xsb_take(&conns[i], &m))
                xsb_fill(&conns[i]);
            if (m.hdr.type == XS_WATCH_EVENT)
                evs++;
            else if (m.hdr.type == XS_WATCH)
                acks++;
            else {
                fprintf(stderr, "xs_bench: WATCH failed: %s\n", m.body);
                exit(1);
            }
        }
        pfd[i].fd = conns[i].fd;
        pfd[i].events = POLLIN;
    }
    for (unsigned int r = 0; r < rounds; r++) {
        unsigned int got = 0;
        char val[16];
        const char *parts[] = { XSB_ROOT "/fan/x", val };
        uint64_t t0;

        snprintf(val, sizeof(val), "%u", r);
        t0 = now_ns();
        xsb_send(writer, XS_WRITE, 0, parts, 2, false);
        while (got < nwatch) {
            if (poll(pfd, nconn, 10000) <= 0)
                die("poll: watch events missing after 10 s");
            for (unsigned int i = 0; i < nconn; i++) {
                if (!(pfd[i].revents & POLLIN))
                    continue;
                xsb_fill(&conns[i]);
                while (xsb_take(&conns[i], &m)) {
                    if (m.hdr.type == XS_WATCH_EVENT)
                        got++;
                }
            }
        }
        samples[r] = now_ns() - t0;
        xsb_expect(writer, XS_WRITE, &m);
        /* Consume any event the other connections still hold (none). */
    }
    qsort(samples, rounds, sizeof(*samples), cmp_u64);
    printf("fanout_ns %" PRIu64 "\n", samples[rounds / 2]);
    printf("fanout_best_ns %" PRIu64 "\n", samples[0]);
    for (unsigned int i = 0; i <= nconn; i++)
        close(conns[i].fd);
    free(conns);
    free(pfd);
    free(samples);
}

int main(int argc, char **argv)
{
    static struct xsb_conn conn;
    static struct xsb_msg m;
    struct xsb_conn *c = &conn;
    unsigned long n;
    uint64_t t0, t1;

    if (argc < 3) {
        fprintf(stderr, "usage: XENSTORED_PATH=SOCK %s read|write|tx N | fanout W C R\n",
                argv[0]);
        return 2;
    }
    n = strtoul(argv[2], NULL, 0);
    if (!n)
        return 2;
    if (!strcmp(argv[1], "fanout")) {
        if (argc < 5)
            return 2;
        unsigned long nc = strtoul(argv[3], NULL, 0), r = strtoul(argv[4], NULL, 0);

        if (!nc || !r)
            return 2;
        bench_fanout((unsigned int)n, (unsigned int)nc, (unsigned int)r);
        return 0;
    }

    xsb_connect(c);
    xsb_write(c, 0, XSB_ROOT "/node", "x");
    if (!strcmp(argv[1], "read")) {
        t0 = now_ns();
        for (unsigned long i = 0; i < n; i++)
            xsb_read(c, 0, XSB_ROOT "/node");
        t1 = now_ns();
        printf("read_ns %" PRIu64 "\n", (t1 - t0) / n);
    } else if (!strcmp(argv[1], "write")) {
        t0 = now_ns();
        for (unsigned long i = 0; i < n; i++)
            xsb_write(c, 0, XSB_ROOT "/node", "y");
        t1 = now_ns();
        printf("write_ns %" PRIu64 "\n", (t1 - t0) / n);
    } else if (!strcmp(argv[1], "tx")) {
        const char *empty[] = { "" }, *commit[] = { "T" };

        t0 = now_ns();
        for (unsigned long i = 0; i < n; i++) {
            uint32_t tx;

            xsb_send(c, XS_TRANSACTION_START, 0, empty, 1, true);
            xsb_expect(c, XS_TRANSACTION_START, &m);
            tx = (uint32_t)strtoul(m.body, NULL, 10);
            xsb_read(c, tx, XSB_ROOT "/node");
            xsb_write(c, tx, XSB_ROOT "/node", "z");
            xsb_send(c, XS_TRANSACTION_END, tx, commit, 1, true);
            xsb_expect(c, XS_TRANSACTION_END, &m);
        }
        t1 = now_ns();
        printf("tx_ns %" PRIu64 "\n", (t1 - t0) / n);
    } else {
        fprintf(stderr, "xs_bench: unknown measurement '%s'\n", argv[1]);
        return 2;
    }
    close(c->fd);
    return 0;
}

/*
 * The guest console, a domain-0 service: the PV console ring at
 * HVM_PARAM_CONSOLE_PFN (<xen/io/console.h>) with its event channel, and
 * the console_io hypercall's output. Both end on the host's log FILE, line
 * by line and sanitised, prefixed with the domain name when several guests
 * share it; and, as they are, on the one client attached (`xenkvm
 * console`), whose keystrokes go into the ring's `in` half.
 *
 * Threads: console_io output comes from a vCPU thread; the ring is drained
 * on the event loop (the event-channel callback, in the notifying vCPU's
 * thread, only wakes it), as is the attached client. One mutex, c->lock,
 * covers the log line, the ring's out_cons and in_prod, and the client fd;
 * no I/O under it ever waits (the client socket is non-blocking; the log
 * FILE is the host's terminal or file, as before).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xen/io/console.h>

#include "xenkvm/backends.h"

struct be_console {
    struct be_console_config cfg;
    char name[64];
    struct xencons_interface *ring;
    pthread_mutex_t lock;
    char line[256];              /* partial line (prefix mode) */
    size_t line_len;
    uint32_t ring_cons;          /* our copy of out_cons */
    struct be_console_utf8 utf8; /* sequence split across writes */
    bool bad_index_logged;       /* said once per bad stretch */
    struct util_ratelimit log_rl;/* the default log's budget */
    evtchn_port_t port;          /* dom0 side */
    int wake_fd;                 /* eventfd: the ring has news (loop) */
    /* The attached client: its socket, or -1. */
    int client_fd;
    bool client_paused;          /* `in` was full: EPOLLIN off */
    bool hung_up;                /* the domain ended: no more clients */
    uint64_t client_dropped;     /* output bytes the client did not take */
};

/* Length of the UTF-8 sequence lead byte c starts (0: not a lead byte),
 * and whether c2 may follow it as the second byte (no overlong form, no
 * surrogate, nothing above U+10FFFF). */
static unsigned int utf8_len(unsigned char c)
{
    return c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
           : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
}

static bool utf8_second_ok(unsigned char lead, unsigned char c2)
{
    unsigned char lo = 0x80, hi = 0xbf;
    if (lead == 0xe0)
        lo = 0xa0;
    else if (lead == 0xed)
        hi = 0x9f;
    else if (lead == 0xf0)
        lo = 0x90;
    else if (lead == 0xf4)
        hi = 0x8f;
    return c2 >= lo && c2 <= hi;
}

size_t be_console_sanitize(struct be_console_utf8 *st, const char *in,
                           size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (st->need) {
            bool ok = st->have == 1 ? utf8_second_ok(st->seq[0], c)
                                    : c >= 0x80 && c <= 0xbf;
            if (!ok) {
                /* malformed: the bytes so far are shown as '?' and c
                 * starts afresh */
                for (unsigned int k = 0; k < st->have; k++)
                    out[o++] = '?';
                st->need = st->have = 0;
            } else {
                st->seq[st->have++] = c;
                if (st->have < st->need)
                    continue;
                /* complete; U+0080-U+009F (C2 80-C2 9F) are the C1
                 * controls (CSI, OSC, ...): not for the terminal */
                if (st->need == 2 && st->seq[0] == 0xc2 && st->seq[1] <= 0x9f)
                    out[o++] = '?';
                else
                    for (unsigned int k = 0; k < st->need; k++)
                        out[o++] = (char)st->seq[k];
                st->need = st->have = 0;
                continue;
            }
        }
        if (c == '\r')
            continue;
        if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) {
            out[o++] = (char)c;
        } else if (utf8_len(c)) {
            st->seq[0] = c;
            st->have = 1;
            st->need = utf8_len(c);
        } else {
            out[o++] = '?';    /* C0 (ESC...), DEL, raw C1, stray bytes */
        }
    }
    return o;
}

/* A guest-caused message, through the caller's log or our own budget. */
static void con_log(struct be_console *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void con_log(struct be_console *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->cfg.log) {
        c->cfg.log(c->cfg.log_opaque, msg);
        return;
    }
    unsigned int dropped;
    bool ok = util_ratelimit_ok(&c->log_rl, &dropped);
    if (dropped)
        fprintf(stderr, "xenkvm: console of '%s': %u messages suppressed\n",
                c->name, dropped);
    if (ok)
        fprintf(stderr, "xenkvm: console of '%s': %s\n", c->name, msg);
}

/* Send output to the attached client as it is, never waiting: a client
 * slower than the guest loses what does not fit in its socket buffer (the
 * log has it all). A failed send leaves the hang-up to the loop, which
 * sees it on the fd. Caller holds c->lock. */
static void to_client(struct be_console *c, const char *buf, size_t len)
{
    if (c->client_fd < 0)
        return;
    while (len) {
        ssize_t w = send(c->client_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            c->client_dropped += len;
            return;
        }
        buf += w;
        len -= (size_t)w;
    }
}

/* Emit bytes to the log; caller holds c->lock. Everything goes through
 * be_console_sanitize, so a guest cannot drive the host terminal. A full
 * line buffer is flushed only between characters, never inside a UTF-8
 * sequence. */
static void emit(struct be_console *c, const char *buf, size_t len)
{
    char clean[512 + 3];
    while (len) {
        size_t chunk = len < 512 ? len : 512;
        size_t n = be_console_sanitize(&c->utf8, buf, chunk, clean);
        buf += chunk;
        len -= chunk;
        for (size_t i = 0; i < n; i++) {
            char ch = clean[i];
            bool starts_char = ((unsigned char)ch & 0xc0) != 0x80;
            if (ch == '\n' ||
                (starts_char && c->line_len >= sizeof(c->line) - 4)) {
                if (c->cfg.prefix)
                    fprintf(c->cfg.out, "%s: %.*s\n", c->name,
                            (int)c->line_len, c->line);
                else
                    fprintf(c->cfg.out, "%.*s\n", (int)c->line_len, c->line);
                c->line_len = 0;
                if (ch == '\n')
                    continue;
            }
            c->line[c->line_len++] = ch;
        }
    }
    fflush(c->cfg.out);
}

void be_console_write(struct be_console *c, const char *buf, size_t len)
{
    pthread_mutex_lock(&c->lock);
    emit(c, buf, len);
    to_client(c, buf, len);
    pthread_mutex_unlock(&c->lock);
}

/* Drain the output ring; caller holds c->lock. Indices are free-running; a
 * producer index more than a ring ahead is a guest bug: like xenconsoled,
 * consume nothing (re-reading the ring would replay stale text into the
 * log) and say so (rate-limited: a guest toggling a bad and a sane index
 * must not flood the host's log), until the guest puts a sane index there
 * again.
 *
 * The ring is always consumed in full, and what is shown draws on the
 * domain's console_io budget (hv_console_allow: 32 KiB/s, 64 KiB burst):
 * bytes over it are dropped, counted, and announced rate-limited. Dropping
 * rather than deferring (leaving them in the ring, as xenconsoled's
 * throttle does) because nothing here would wake us to drain later: a
 * Linux guest (hvc_xen) notifies only when it wrote something, so a ring
 * left full could wedge its console for good. What is shown keeps the
 * guest's order; only the tail of a burst goes missing. */
static void drain(struct be_console *c)
{
    struct xencons_interface *r = c->ring;
    uint32_t prod = __atomic_load_n(&r->out_prod, __ATOMIC_ACQUIRE);
    uint32_t cons = c->ring_cons;
    if (prod - cons > sizeof(r->out)) {
        if (!c->bad_index_logged)
            con_log(c, "console ring: producer index %u is %u bytes past "
                    "ours (ring is %zu): ignoring the ring until it is sane",
                    prod, prod - cons, sizeof(r->out));
        c->bad_index_logged = true;
        return;
    }
    c->bad_index_logged = false;
    char tmp[sizeof(r->out)];
    size_t n = 0;
    while (cons != prod)
        tmp[n++] = r->out[MASK_XENCONS_IDX(cons++, r->out)];
    c->ring_cons = cons;
    __atomic_store_n(&r->out_cons, cons, __ATOMIC_RELEASE);
    if (!n)
        return;
    size_t ok = c->cfg.hv ? hv_console_allow(c->cfg.hv, n) : n;
    emit(c, tmp, ok);
    to_client(c, tmp, ok);
    if (ok < n)
        con_log(c, "console ring: %zu bytes dropped (over the 32 KiB/s "
                "console rate)", n - ok);
}

/* Room in the guest's `in` ring; caller holds c->lock. A guest that
 * corrupted in_cons gets no input (and no negative room). */
static uint32_t in_room(struct be_console *c)
{
    struct xencons_interface *r = c->ring;
    uint32_t used = r->in_prod - __atomic_load_n(&r->in_cons, __ATOMIC_ACQUIRE);
    return used > sizeof(r->in) ? 0 : (uint32_t)sizeof(r->in) - used;
}

/* Drain, and let a paused client go on if the guest made room in `in`.
 * Caller holds c->lock; the loop's thread or before the loop exists. */
static void service(struct be_console *c)
{
    drain(c);
    if (c->client_fd >= 0 && c->client_paused && in_room(c)) {
        c->client_paused = false;
        util_loop_mod(c->cfg.loop, c->client_fd, EPOLLIN | EPOLLRDHUP);
    }
}

/* Notify the guest through our end (room in `out`, or news in `in`).
 * Not under c->lock: the event-channel core calls console_event with its
 * own locks held, which then takes c->lock. */
static void notify_guest(struct be_console *c)
{
    pthread_mutex_lock(&c->lock);
    evtchn_port_t port = c->port;
    pthread_mutex_unlock(&c->lock);
    if (port)
        evtchn_host_send(c->cfg.evtchn, 0, port);
}

/* Loop: the ring has news (wake_fd). */
static void on_wake(void *opaque, uint32_t events)
{
    (void)events;
    struct be_console *c = opaque;
    uint64_t v;
    if (read(c->wake_fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: a spurious wake-up */
    }
    pthread_mutex_lock(&c->lock);
    service(c);
    pthread_mutex_unlock(&c->lock);
    /* Tell the guest there is room again. */
    notify_guest(c);
}

/* The guest notified its console port (its vCPU's thread): wake the loop,
 * or, without one, drain here. */
static void console_event(void *arg, domid_t dom, evtchn_port_t port)
{
    (void)dom;
    (void)port;
    struct be_console *c = arg;
    if (c->wake_fd >= 0) {
        uint64_t one = 1;
        if (write(c->wake_fd, &one, sizeof(one)) < 0) {
            /* the counter is saturated: a wake-up is pending anyway */
        }
        return;
    }
    pthread_mutex_lock(&c->lock);
    drain(c);
    pthread_mutex_unlock(&c->lock);
    notify_guest(c);
}

/* Take the client off: caller holds c->lock and is the loop's thread (the
 * fd's own callback or another one of the loop). */
static void client_drop_locked(struct be_console *c)
{
    int fd = c->client_fd;
    c->client_fd = -1;
    c->client_paused = false;
    util_loop_del(c->cfg.loop, fd);
    close(fd);
}

/* Loop: the client sent keystrokes, or hung up. Its bytes go into `in`,
 * as many as there is room for; the rest stays in the socket until the
 * guest consumed some (service), which is the client's back-pressure. */
static void on_client(void *opaque, uint32_t events)
{
    struct be_console *c = opaque;
    pthread_mutex_lock(&c->lock);
    if (c->client_fd < 0) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    struct xencons_interface *r = c->ring;
    bool sent = false, gone = false;
    uint32_t room = in_room(c);
    if (room && (events & EPOLLIN)) {
        char buf[sizeof(r->in)];
        ssize_t n = read(c->client_fd, buf, room);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            gone = true;
        } else if (n > 0) {
            uint32_t prod = r->in_prod;
            for (ssize_t i = 0; i < n; i++)
                r->in[MASK_XENCONS_IDX(prod++, r->in)] = buf[i];
            __atomic_store_n(&r->in_prod, prod, __ATOMIC_RELEASE);
            sent = true;
        }
    } else if (!room && !c->client_paused) {
        c->client_paused = true;
        util_loop_mod(c->cfg.loop, c->client_fd, EPOLLRDHUP);
    }
    if (!sent && (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) &&
        !(events & EPOLLIN))
        gone = true;
    if (gone)
        client_drop_locked(c);
    pthread_mutex_unlock(&c->lock);
    if (sent)
        notify_guest(c);
}

int be_console_attach(struct be_console *c, int fd)
{
    if (!c->cfg.loop)
        return -ENOTSUP;
    pthread_mutex_lock(&c->lock);
    int rc = c->hung_up ? -EPIPE : c->client_fd >= 0 ? -EBUSY : 0;
    if (!rc) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
            rc = -errno;
    }
    if (!rc)
        rc = util_loop_add(c->cfg.loop, fd, EPOLLIN | EPOLLRDHUP, on_client, c);
    if (!rc) {
        c->client_fd = fd;
        c->client_paused = false;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

bool be_console_attached(struct be_console *c)
{
    pthread_mutex_lock(&c->lock);
    bool a = c->client_fd >= 0;
    pthread_mutex_unlock(&c->lock);
    return a;
}

void be_console_hangup(struct be_console *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->hung_up = true;
    int fd = c->client_fd;
    c->client_fd = -1;
    pthread_mutex_unlock(&c->lock);
    if (fd < 0)
        return;
    /* Not under c->lock: util_loop_del waits for an on_client in flight,
     * which takes the lock (and then finds no client). */
    util_loop_del(c->cfg.loop, fd);
    close(fd);
}

int be_console_create(const struct be_console_config *cfg,
                      struct be_console **out, evtchn_port_t *guest_port)
{
    struct be_console *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->cfg = *cfg;
    snprintf(c->name, sizeof(c->name), "%s", cfg->name ? cfg->name : "");
    c->cfg.name = c->name;
    c->ring = cfg->ring;
    c->client_fd = c->wake_fd = -1;
    pthread_mutex_init(&c->lock, NULL);
    memset(c->ring, 0, 4096);    /* the whole page, as the guest sees it */
    int rc = 0;
    if (cfg->loop) {
        c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        rc = c->wake_fd < 0 ? -errno
                            : util_loop_add(cfg->loop, c->wake_fd, EPOLLIN,
                                            on_wake, c);
        if (rc) {
            if (c->wake_fd >= 0)
                close(c->wake_fd);
            c->wake_fd = -1;
            be_console_destroy(c);
            return rc;
        }
    }
    /* As xl does: an unbound port of the guest for domain 0, which the
     * console daemon (here: us) then binds. */
    evtchn_port_t port = 0, gport = 0;
    rc = evtchn_host_offer(cfg->evtchn, cfg->domid, 0, &gport);
    if (!rc)
        rc = evtchn_host_bind_interdomain(cfg->evtchn, 0, cfg->domid, gport,
                                          console_event, c, &port);
    /* The fresh binding's first event may already run on the loop. */
    pthread_mutex_lock(&c->lock);
    c->port = port;
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        be_console_destroy(c);
        return rc;
    }
    *guest_port = gport;
    *out = c;
    return 0;
}

void be_console_flush(struct be_console *c)
{
    pthread_mutex_lock(&c->lock);
    drain(c);
    if (c->line_len)
        emit(c, "\n", 1);
    pthread_mutex_unlock(&c->lock);
}

void be_console_destroy(struct be_console *c)
{
    if (!c)
        return;
    /* The loop's callbacks first (util_loop_del waits for one in flight),
     * so none sends on our port after it is closed; an event meanwhile
     * only writes wake_fd. Then the port: no console_event after it. */
    if (c->wake_fd >= 0)
        util_loop_del(c->cfg.loop, c->wake_fd);
    be_console_hangup(c);
    if (c->port)
        evtchn_host_close(c->cfg.evtchn, 0, c->port);
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

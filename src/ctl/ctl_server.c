/*
 * The control server: a listening Unix socket on an event loop, a table of
 * verbs, and the connections in between (protocol: docs/control.md).
 *
 * Everything runs in the loop's thread and never waits: the socket is
 * non-blocking, a request line is gathered across wake-ups, the answer is
 * built in memory by the verb's handler and sent as the client takes it.
 * So a hostile client can neither stall the loop (and with it the dom0
 * services that share it) nor hold a connection long: a request must be
 * complete within CTL_REQUEST_MS of the connection (slowloris), an answer
 * may stall CTL_SEND_MS at a time and the whole connection lasts at most
 * CONN_MAX_MS; lines longer than CTL_LINE_MAX and bytes that are not text
 * are refused; beyond CTL_MAX_CONNS connections a newcomer gets one error
 * line and is closed. A periodic timer, armed while connections are open,
 * enforces the deadlines.
 *
 * Lifetimes: the connection table is under s->lock. A connection's own
 * callback frees it only while it is still in the table; ctl_server_destroy
 * takes connections out of the table first, then waits for their callback
 * (util_loop_del) and frees them itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "xenkvm/ctl.h"

#define CONN_MAX_MS 30000       /* a connection's whole life */
#define TICK_MS     250         /* deadline checks while connections live */
#define VERB_WORDS  4           /* words of a verb */

struct ctl_verb {
    char *words[VERB_WORDS];
    int nwords;
    ctl_verb_fn fn;
    void *opaque;
    char *usage;
    struct ctl_verb *next;
};

struct ctl_conn {
    struct ctl_server *s;
    int fd;
    char line[CTL_LINE_MAX];
    size_t len;
    bool writing;               /* the answer is being sent */
    char *ans;
    size_t ans_len, ans_off;
    uint64_t deadline_ms;       /* of the request, or of the next progress */
    uint64_t end_ms;            /* CONN_MAX_MS after accept */
    char *err;                  /* ctl_req_error's message */
    bool taken;                 /* ctl_req_take: the fd is not ours */
    bool orphan;                /* ctl_server_destroy owns c (frees it) */
    struct ctl_verb *verb;      /* the one being served */
};

struct ctl_server {
    struct util_loop *loop;
    int lfd, tfd;
    char path[108];
    pthread_mutex_t lock;       /* verbs, conns[], nconns, timer_on */
    struct ctl_verb *verbs, **verbs_tail;
    struct ctl_conn *conns[CTL_MAX_CONNS];
    unsigned int nconns;
    bool timer_on;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Arm the tick while connections are open, disarm it when none is (an idle
 * server costs no wake-ups). Caller holds s->lock. */
static void timer_update(struct ctl_server *s)
{
    bool want = s->nconns > 0;
    if (want == s->timer_on)
        return;
    struct itimerspec its = { 0 };
    if (want) {
        its.it_value.tv_nsec = TICK_MS * 1000000L;
        its.it_interval.tv_nsec = TICK_MS * 1000000L;
    }
    if (timerfd_settime(s->tfd, 0, &its, NULL) == 0)
        s->timer_on = want;
}

/* Remove c from the table if it is there; true if it was (the caller then
 * owns c). Caller holds s->lock. */
static bool conn_unlink(struct ctl_conn *c)
{
    struct ctl_server *s = c->s;
    for (unsigned int i = 0; i < CTL_MAX_CONNS; i++)
        if (s->conns[i] == c) {
            s->conns[i] = NULL;
            s->nconns--;
            timer_update(s);
            return true;
        }
    return false;
}

static void conn_free(struct ctl_conn *c)
{
    if (!c->taken)
        close(c->fd);
    free(c->ans);
    free(c->err);
    free(c);
}

/* From c's own callback or the loop's timer: end c, unless
 * ctl_server_destroy took it already (and frees it after this callback). */
static void conn_end(struct ctl_conn *c)
{
    struct ctl_server *s = c->s;
    pthread_mutex_lock(&s->lock);
    bool mine = conn_unlink(c);
    pthread_mutex_unlock(&s->lock);
    if (!mine)
        return;
    util_loop_del(s->loop, c->fd);
    conn_free(c);
}

/* Send what the client takes now; end c when all is sent or the client is
 * gone. */
static void conn_send(struct ctl_conn *c)
{
    while (c->ans_off < c->ans_len) {
        ssize_t w = send(c->fd, c->ans + c->ans_off, c->ans_len - c->ans_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;                         /* EPOLLOUT brings us back */
        if (w <= 0)
            break;                          /* the client is gone */
        c->ans_off += (size_t)w;
        c->deadline_ms = now_ms() + CTL_SEND_MS;
    }
    conn_end(c);
}

/* Make ans the whole answer and start sending it. */
static void conn_answer(struct ctl_conn *c, char *ans, size_t len)
{
    free(c->ans);
    c->ans = ans;
    c->ans_len = len;
    c->ans_off = 0;
    c->writing = true;
    c->deadline_ms = now_ms() + CTL_SEND_MS;
    util_loop_mod(c->s->loop, c->fd, EPOLLOUT);
    conn_send(c);
}

static void conn_error(struct ctl_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void conn_error(struct ctl_conn *c, const char *fmt, ...)
{
    char msg[CTL_LINE_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *ans = NULL;
    int n = asprintf(&ans, "error: %s\n", msg);
    if (n < 0) {
        conn_end(c);
        return;
    }
    conn_answer(c, ans, (size_t)n);
}

/* The longest verb whose words begin words[0..n). Caller holds s->lock. */
static struct ctl_verb *verb_match(struct ctl_server *s, char **words, int n)
{
    struct ctl_verb *best = NULL;
    for (struct ctl_verb *v = s->verbs; v; v = v->next) {
        if (v->nwords > n || (best && v->nwords <= best->nwords))
            continue;
        int k = 0;
        while (k < v->nwords && !strcmp(v->words[k], words[k]))
            k++;
        if (k == v->nwords)
            best = v;
    }
    return best;
}

/* "error: unknown request 'REQ' (known: USAGE, USAGE, ...)". */
static void unknown_verb(struct ctl_conn *c, const char *req)
{
    char *known = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&known, &len);
    if (!f) {
        conn_end(c);
        return;
    }
    pthread_mutex_lock(&c->s->lock);
    for (struct ctl_verb *v = c->s->verbs; v; v = v->next)
        fprintf(f, "%s%s", v == c->s->verbs ? "" : ", ", v->usage);
    pthread_mutex_unlock(&c->s->lock);
    fclose(f);
    conn_error(c, "unknown request '%.64s' (known: %s)", req,
               known && *known ? known : "none");
    free(known);
}

/* A whole request line is in c->line: find its verb, run it, answer. */
static void conn_request(struct ctl_conn *c)
{
    char req[CTL_LINE_MAX];
    snprintf(req, sizeof(req), "%s", c->line);
    char *words[CTL_MAX_WORDS + 1];
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(c->line, " \t", &save); w;
         w = strtok_r(NULL, " \t", &save)) {
        if (n == CTL_MAX_WORDS) {
            conn_error(c, "more than %d words", CTL_MAX_WORDS);
            return;
        }
        words[n++] = w;
    }
    words[n] = NULL;
    if (n == 0) {
        conn_error(c, "empty request");
        return;
    }
    pthread_mutex_lock(&c->s->lock);
    struct ctl_verb *v = verb_match(c->s, words, n);
    pthread_mutex_unlock(&c->s->lock);
    if (!v) {
        unknown_verb(c, req);
        return;
    }
    char *body = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&body, &len);
    if (!out) {
        conn_error(c, "out of memory");
        return;
    }
    fputs("ok\n", out);
    struct ctl_req r = { .argc = n - v->nwords, .argv = words + v->nwords,
                         .out = out, .conn = c };
    c->verb = v;
    v->fn(v->opaque, &r);
    fclose(out);
    if (c->taken) {
        free(body);
        if (!c->orphan)
            conn_free(c);
        return;
    }
    if (c->err)
        conn_error(c, "%s", c->err);
    else if (len > CTL_ANSWER_MAX)
        conn_error(c, "answer longer than %u bytes", CTL_ANSWER_MAX);
    else {
        conn_answer(c, body, len);
        body = NULL;
    }
    free(body);
}

/* Gather the request line: refuse what is not text or too long. */
static void conn_read(struct ctl_conn *c)
{
    ssize_t r = read(c->fd, c->line + c->len, sizeof(c->line) - 1 - c->len);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        conn_end(c);           /* hung up before a whole request */
        return;
    }
    for (size_t i = c->len; i < c->len + (size_t)r; i++) {
        unsigned char ch = (unsigned char)c->line[i];
        if (ch == '\n') {
            c->line[i] = '\0';
            if (i && c->line[i - 1] == '\r')
                c->line[i - 1] = '\0';
            c->len = i;
            conn_request(c);
            return;
        }
        if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch == 0x7f) {
            conn_error(c, "the request is not a line of text");
            return;
        }
    }
    c->len += (size_t)r;
    if (c->len == sizeof(c->line) - 1)
        conn_error(c, "request longer than %d bytes", CTL_LINE_MAX - 1);
}

static void on_conn(void *opaque, uint32_t events)
{
    struct ctl_conn *c = opaque;
    if (c->writing) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            conn_send(c);
        return;
    }
    conn_read(c);
}

/* A newcomer beyond CTL_MAX_CONNS: one line, best effort, and close. */
static void refuse(int fd)
{
    static const char msg[] = "error: busy: too many control connections "
                              "open, try again\n";
    ssize_t w = send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w;
    close(fd);
}

static void on_accept(void *opaque, uint32_t events)
{
    (void)events;
    struct ctl_server *s = opaque;
    for (int i = 0; i < CTL_MAX_CONNS; i++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct ctl_conn *c = calloc(1, sizeof(*c));
        pthread_mutex_lock(&s->lock);
        int slot = -1;
        for (int k = 0; c && k < CTL_MAX_CONNS && slot < 0; k++)
            if (!s->conns[k])
                slot = k;
        if (slot < 0) {
            pthread_mutex_unlock(&s->lock);
            free(c);
            refuse(fd);
            continue;
        }
        c->s = s;
        c->fd = fd;
        uint64_t t = now_ms();
        c->deadline_ms = t + CTL_REQUEST_MS;
        c->end_ms = t + CONN_MAX_MS;
        s->conns[slot] = c;
        s->nconns++;
        timer_update(s);
        pthread_mutex_unlock(&s->lock);
        if (util_loop_add(s->loop, fd, EPOLLIN, on_conn, c) < 0)
            conn_end(c);
    }
}

/* The tick: end every connection past a deadline. */
static void on_tick(void *opaque, uint32_t events)
{
    (void)events;
    struct ctl_server *s = opaque;
    uint64_t ticks;
    if (read(s->tfd, &ticks, sizeof(ticks)) < 0) {
        /* EAGAIN: nothing to do */
    }
    uint64_t t = now_ms();
    for (unsigned int i = 0; i < CTL_MAX_CONNS; i++) {
        pthread_mutex_lock(&s->lock);
        struct ctl_conn *c = s->conns[i];
        bool late = c && (t >= c->deadline_ms || t >= c->end_ms);
        pthread_mutex_unlock(&s->lock);
        /* We are the loop's thread: no callback of c runs now. */
        if (late)
            conn_end(c);
    }
}

int ctl_server_create(struct util_loop *loop, const char *path,
                      struct ctl_server **out)
{
    struct ctl_server *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (strlen(path) >= sizeof(s->path)) {
        free(s);
        return -ENAMETOOLONG;
    }
    s->loop = loop;
    s->lfd = s->tfd = -1;
    s->verbs_tail = &s->verbs;
    snprintf(s->path, sizeof(s->path), "%s", path);
    pthread_mutex_init(&s->lock, NULL);
    /* Its directory (e.g. $XDG_RUNTIME_DIR/xenkvm), private to us. */
    char dir[sizeof(s->path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        (void)mkdir(dir, 0700);
    }
    int rc = util_unix_listen(path, 64, UTIL_NONBLOCK);
    if (rc < 0)
        goto fail;
    s->lfd = rc;
    s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->tfd < 0) {
        rc = -errno;
        goto fail;
    }
    rc = util_loop_add(loop, s->tfd, EPOLLIN, on_tick, s);
    if (rc == 0) {
        rc = util_loop_add(loop, s->lfd, EPOLLIN, on_accept, s);
        if (rc)
            util_loop_del(loop, s->tfd);
    }
    if (rc)
        goto fail;
    *out = s;
    return 0;
fail:
    if (s->lfd >= 0) {
        close(s->lfd);
        unlink(path);
    }
    if (s->tfd >= 0)
        close(s->tfd);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return rc;
}

void ctl_server_destroy(struct ctl_server *s)
{
    if (!s)
        return;
    util_loop_del(s->loop, s->lfd);
    util_loop_del(s->loop, s->tfd);
    close(s->lfd);
    close(s->tfd);
    unlink(s->path);
    for (unsigned int i = 0; i < CTL_MAX_CONNS; i++) {
        pthread_mutex_lock(&s->lock);
        struct ctl_conn *c = s->conns[i];
        if (c)
            conn_unlink(c);
        pthread_mutex_unlock(&s->lock);
        if (!c)
            continue;
        util_loop_del(s->loop, c->fd);  /* waits for its callback */
        conn_free(c);
    }
    for (struct ctl_verb *v = s->verbs, *n; v; v = n) {
        n = v->next;
        free(v->words[0]);
        free(v->usage);
        free(v);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int ctl_register(struct ctl_server *s, const char *verb, ctl_verb_fn fn,
                 void *opaque, const char *usage)
{
    if (!verb || !*verb || !fn || strlen(verb) >= CTL_LINE_MAX)
        return -EINVAL;
    struct ctl_verb *v = calloc(1, sizeof(*v));
    char *copy = strdup(verb);
    char *use = strdup(usage && *usage ? usage : verb);
    if (!v || !copy || !use) {
        free(v);
        free(copy);
        free(use);
        return -ENOMEM;
    }
    char *save = NULL;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (v->nwords == VERB_WORDS) {
            v->nwords = 0;
            break;
        }
        v->words[v->nwords++] = w;
    }
    if (v->nwords == 0 || v->words[0] != copy) {
        free(v);
        free(copy);
        free(use);
        return -EINVAL;
    }
    v->fn = fn;
    v->opaque = opaque;
    v->usage = use;
    pthread_mutex_lock(&s->lock);
    struct ctl_verb *same = NULL;
    for (struct ctl_verb *o = s->verbs; o && !same; o = o->next) {
        bool eq = o->nwords == v->nwords;
        for (int k = 0; eq && k < v->nwords; k++)
            eq = !strcmp(o->words[k], v->words[k]);
        if (eq)
            same = o;
    }
    if (!same) {
        *s->verbs_tail = v;
        s->verbs_tail = &v->next;
    }
    pthread_mutex_unlock(&s->lock);
    if (same) {
        free(v);
        free(copy);
        free(use);
        return -EEXIST;
    }
    return 0;
}

void ctl_req_error(struct ctl_req *req, const char *fmt, ...)
{
    struct ctl_conn *c = req->conn;
    if (c->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&c->err, fmt, ap) < 0)
        c->err = NULL;
    va_end(ap);
    if (!c->err)
        c->err = strdup("out of memory");
}

void ctl_req_usage(struct ctl_req *req)
{
    ctl_req_error(req, "usage: %s", req->conn->verb->usage);
}

int ctl_req_take(struct ctl_req *req)
{
    struct ctl_conn *c = req->conn;
    struct ctl_server *s = c->s;
    if (c->taken || c->err)
        return -EINVAL;
    /* Nothing was sent on this connection yet: the line fits its queue. */
    static const char ok[] = "ok\n";
    if (send(c->fd, ok, sizeof(ok) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) !=
        (ssize_t)sizeof(ok) - 1)
        return -errno ? -errno : -EIO;
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return -errno;
    pthread_mutex_lock(&s->lock);
    c->orphan = !conn_unlink(c);
    pthread_mutex_unlock(&s->lock);
    util_loop_del(s->loop, c->fd);      /* our own callback: at once */
    c->taken = true;
    return c->fd;
}

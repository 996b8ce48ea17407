/* src/util: Unix-socket listen rules, line I/O, whole-file reads, the
 * shared rate limiter (also from several threads) and rate-limited logging. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "xenkvm/util.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/xenkvm-util-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void test_listen_rules(void **state)
{
    (void)state;
    char p[128];
    path_in(p, sizeof(p), "s");
    int fd = util_unix_listen(p, 4, 0);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* A live server is left alone. */
    assert_true(util_unix_in_use(p));
    assert_int_equal(util_unix_listen(p, 4, 0), -EADDRINUSE);
    int c = util_unix_connect(p);
    assert_true(c >= 0);
    close(c);
    /* Its socket file once it is gone is stale and replaced. */
    close(fd);
    assert_false(util_unix_in_use(p));
    fd = util_unix_listen(p, 4, UTIL_NONBLOCK);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    /* Never a file of another kind. */
    char f[128];
    path_in(f, sizeof(f), "file");
    FILE *fp = fopen(f, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(util_unix_listen(f, 4, 0), -EEXIST);
    assert_int_equal(access(f, F_OK), 0);
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = 0;
    assert_int_equal(util_unix_listen(longp, 4, 0), -ENAMETOOLONG);
    assert_int_equal(util_unix_connect(longp), -ENAMETOOLONG);
    assert_int_equal(util_unix_listen("", 4, 0), -EINVAL);
    char none[128];
    path_in(none, sizeof(none), "nobody");
    assert_int_equal(util_unix_connect(none), -ENOENT);
}

static void test_lines(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    const char *in = "list\r\nabcdefghij\nlast";
    assert_int_equal(util_write_all(sv[0], in, strlen(in), 1000), 0);
    char buf[6], line[8];
    assert_int_equal(util_read_line(sv[1], line, sizeof(line), 1000), 0);
    assert_string_equal(line, "list");
    /* A longer line: n - 1 bytes, the rest stays for the next read. */
    assert_int_equal(util_read_line(sv[1], buf, sizeof(buf), 1000), 0);
    assert_string_equal(buf, "abcde");
    assert_int_equal(util_read_line(sv[1], buf, sizeof(buf), 1000), 0);
    assert_string_equal(buf, "fghij");
    assert_int_equal(util_read_line(sv[1], buf, sizeof(buf), 1000), 0);
    assert_string_equal(buf, "");        /* what was left: its '\n' */
    /* Nothing more yet: a bounded wait. */
    char big[64];
    assert_int_equal(util_read_line(sv[1], big, sizeof(big), 1), -ETIMEDOUT);
    /* The partial line was consumed up to the timeout; EOF ends a line. */
    shutdown(sv[0], SHUT_WR);
    assert_int_equal(util_read_line(sv[1], big, sizeof(big), 1000), 0);
    close(sv[1]);
    /* A peer that is gone: an error, never SIGPIPE. */
    assert_int_equal(util_write_all(sv[0], "x", 1, 10), -EPIPE);
    close(sv[0]);
}

static void test_write_full_peer_times_out(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    static char chunk[1 << 20];
    /* The peer never reads: its queue fills, the write gives up. */
    assert_int_equal(util_write_all(sv[0], chunk, sizeof(chunk), 20),
                     -ETIMEDOUT);
    close(sv[0]);
    close(sv[1]);
}

static void test_read_file(void **state)
{
    (void)state;
    char p[128];
    path_in(p, sizeof(p), "f.txt");
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("hello", fp);
    fclose(fp);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(p, 5, &buf, &len), 0);
    assert_int_equal(len, 5);
    assert_string_equal(buf, "hello");   /* NUL after the bytes */
    free(buf);
    assert_int_equal(util_read_file(p, 4, &buf, &len), -EFBIG);
    assert_int_equal(util_read_file(dir, 1 << 20, &buf, &len), -EISDIR);
    assert_int_equal(util_read_file("/dev/null", 1 << 20, &buf, &len), -EINVAL);
    path_in(p, sizeof(p), "missing");
    assert_int_equal(util_read_file(p, 1 << 20, &buf, &len), -ENOENT);
    path_in(p, sizeof(p), "empty");
    fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(util_read_file(p, 0, &buf, &len), 0);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    free(buf);
}

static void test_ratelimit_burst_and_report(void **state)
{
    (void)state;
    struct util_ratelimit rl = UTIL_RATELIMIT_INIT;
    unsigned int dropped = 99, ok = 0;
    for (unsigned int i = 0; i < 3 * UTIL_RL_BURST; i++) {
        if (util_ratelimit_ok(&rl, &dropped))
            ok++;
    }
    /* One window (5 s) holds all 60 calls unless it rolled over in
     * between: then at most one more burst. */
    assert_true(ok >= UTIL_RL_BURST && ok <= 2 * UTIL_RL_BURST);
    /* A window long past, full, with suppressed messages: the next call
     * opens a new window and reports them. */
    atomic_store(&rl.state, (uint64_t)1 << 32 | UTIL_RL_BURST);
    atomic_store(&rl.suppressed, 7);
    assert_true(util_ratelimit_ok(&rl, &dropped));
    assert_int_equal(dropped, 7);
    assert_true(util_ratelimit_ok(&rl, &dropped));
    assert_int_equal(dropped, 0);
}

/* What util_log_ratelimited wrote to a memory stream. */
struct logbuf {
    char *text;
    size_t len;
    FILE *f;
};

static void log_open(struct logbuf *b)
{
    b->text = NULL;
    b->f = open_memstream(&b->text, &b->len);
    assert_non_null(b->f);
}

static void log_close(struct logbuf *b)
{
    fclose(b->f);
    free(b->text);
}

static void test_log_ratelimited(void **state)
{
    (void)state;
    struct util_ratelimit rl = UTIL_RATELIMIT_INIT;
    struct logbuf b;
    log_open(&b);
    /* One line, prefix and message, in a fresh window. */
    assert_true(util_log_ratelimited(&rl, b.f, "p: ", "hello %d", 1));
    fflush(b.f);
    assert_string_equal(b.text, "p: hello 1\n");
    /* A full window: the next message is suppressed and writes nothing,
     * unless the window rolled over in between (then it is the first of
     * the next window's burst). */
    uint64_t win = atomic_load(&rl.state) >> 32;
    atomic_store(&rl.state, win << 32 | UTIL_RL_BURST);
    bool went = util_log_ratelimited(&rl, b.f, "p: ", "dropped");
    fflush(b.f);
    if (atomic_load(&rl.state) >> 32 == win) {
        assert_false(went);
        assert_string_equal(b.text, "p: hello 1\n");
        assert_int_equal(atomic_load(&rl.suppressed), 1);
    }
    log_close(&b);

    /* A window long past with 7 suppressed: the next message says so
     * first, with the same prefix. */
    log_open(&b);
    atomic_store(&rl.state, (uint64_t)1 << 32 | UTIL_RL_BURST);
    atomic_store(&rl.suppressed, 7);
    assert_true(util_log_ratelimited(&rl, b.f, "xenkvm: dom3: ", "x=%s", "y"));
    fflush(b.f);
    assert_string_equal(b.text, "xenkvm: dom3: 7 messages suppressed\n"
                                "xenkvm: dom3: x=y\n");
    log_close(&b);

    /* A long message is cut at UTIL_LOG_LINE_MAX - 1 bytes. */
    log_open(&b);
    char big[2 * UTIL_LOG_LINE_MAX];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    atomic_store(&rl.state, 0);
    assert_true(util_log_ratelimited(&rl, b.f, "p: ", "%s", big));
    fflush(b.f);
    assert_int_equal(b.len, 3 + (UTIL_LOG_LINE_MAX - 1) + 1);
    assert_int_equal(b.text[b.len - 1], '\n');
    assert_int_equal(b.text[b.len - 2], 'a');
    log_close(&b);
}

#define RL_THREADS 4
#define RL_CALLS 20000

static struct util_ratelimit shared_rl;
static _Atomic unsigned int shared_ok;

static void *rl_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < RL_CALLS; i++)
        if (util_ratelimit_ok(&shared_rl, NULL))
            atomic_fetch_add(&shared_ok, 1);
    return NULL;
}

static void test_ratelimit_threads(void **state)
{
    (void)state;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t t[RL_THREADS];
    for (int i = 0; i < RL_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, rl_worker, NULL), 0);
    for (int i = 0; i < RL_THREADS; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t w0 = ((uint64_t)t0.tv_sec * 1000000000ull + t0.tv_nsec) /
                  UTIL_RL_WINDOW_NS;
    uint64_t w1 = ((uint64_t)t1.tv_sec * 1000000000ull + t1.tv_nsec) /
                  UTIL_RL_WINDOW_NS;
    unsigned int ok = atomic_load(&shared_ok);
    /* Exactly one burst per window touched, never more (a lost update of
     * the counter would let more through). */
    assert_true(ok >= UTIL_RL_BURST);
    assert_true(ok <= UTIL_RL_BURST * (w1 - w0 + 1));
    assert_int_equal(atomic_load(&shared_rl.suppressed) + ok,
                     (unsigned)RL_THREADS * RL_CALLS);
}

/* ---- the event loop ---- */

struct counter {
    int fd;
    _Atomic int calls;
    struct util_loop *l;
    struct counter *victim;    /* removed by this one's callback */
};

static void count_cb(void *opaque, uint32_t events)
{
    struct counter *c = opaque;
    assert_true(events & EPOLLIN);
    uint64_t v;
    assert_int_equal(read(c->fd, &v, sizeof(v)), sizeof(v));
    c->calls++;
    if (c->victim) {
        assert_int_equal(util_loop_del(c->l, c->victim->fd), 0);
        c->victim->fd = -1;     /* "freed": its callback must not run */
    }
}

static void poke(int fd)
{
    uint64_t one = 1;
    assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static void test_loop_basics(void **state)
{
    (void)state;
    struct util_loop *l = util_loop_create();
    assert_non_null(l);
    struct counter a = { .fd = eventfd(0, EFD_NONBLOCK), .l = l };
    assert_int_equal(util_loop_add(l, a.fd, EPOLLIN, count_cb, &a), 0);
    assert_int_equal(util_loop_add(l, a.fd, EPOLLIN, count_cb, &a), -EEXIST);
    assert_int_equal(util_loop_add(l, -1, EPOLLIN, count_cb, &a), -EINVAL);
    assert_int_equal(util_loop_run_once(l, 0), 0);
    poke(a.fd);
    assert_int_equal(util_loop_run_once(l, 1000), 1);
    assert_int_equal(a.calls, 1);
    assert_int_equal(util_loop_mod(l, a.fd, 0), 0);
    poke(a.fd);
    assert_int_equal(util_loop_run_once(l, 0), 0);   /* not watched */
    assert_int_equal(util_loop_mod(l, a.fd, EPOLLIN), 0);
    assert_int_equal(util_loop_run_once(l, 1000), 1);
    assert_int_equal(util_loop_del(l, a.fd), 0);
    assert_int_equal(util_loop_del(l, a.fd), -ENOENT);
    assert_int_equal(util_loop_mod(l, a.fd, EPOLLIN), -ENOENT);
    poke(a.fd);
    assert_int_equal(util_loop_run_once(l, 0), 0);
    assert_int_equal(a.calls, 2);
    close(a.fd);
    util_loop_destroy(l);
}

/* Both fds are ready in one batch; whichever runs first removes the
 * other, whose callback must then not run in that batch. */
static void test_loop_del_in_batch(void **state)
{
    (void)state;
    struct util_loop *l = util_loop_create();
    struct counter a = { .fd = eventfd(0, EFD_NONBLOCK), .l = l };
    struct counter b = { .fd = eventfd(0, EFD_NONBLOCK), .l = l };
    a.victim = &b;
    b.victim = &a;
    int fa = a.fd, fb = b.fd;
    assert_int_equal(util_loop_add(l, fa, EPOLLIN, count_cb, &a), 0);
    assert_int_equal(util_loop_add(l, fb, EPOLLIN, count_cb, &b), 0);
    poke(fa);
    poke(fb);
    assert_int_equal(util_loop_run_once(l, 1000), 1);
    assert_int_equal(a.calls + b.calls, 1);
    struct counter *left = a.calls ? &a : &b;
    left->victim = NULL;
    assert_int_equal(util_loop_del(l, left->fd), 0);
    close(fa);
    close(fb);
    util_loop_destroy(l);
}

struct slow {
    int fd;
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool in_cb, release, done;
};

static void slow_cb(void *opaque, uint32_t events)
{
    (void)events;
    struct slow *s = opaque;
    uint64_t v;
    if (read(s->fd, &v, sizeof(v)) < 0)
        return;
    pthread_mutex_lock(&s->m);
    s->in_cb = true;
    pthread_cond_broadcast(&s->cv);
    while (!s->release)
        pthread_cond_wait(&s->cv, &s->m);
    s->done = true;
    pthread_mutex_unlock(&s->m);
}

struct del_arg {
    struct util_loop *l;
    struct slow *s;
    _Atomic bool returned;
    bool done_at_return;
};

static void *del_thread(void *arg)
{
    struct del_arg *d = arg;
    assert_int_equal(util_loop_del(d->l, d->s->fd), 0);
    pthread_mutex_lock(&d->s->m);
    d->done_at_return = d->s->done;
    pthread_mutex_unlock(&d->s->m);
    d->returned = true;
    return NULL;
}

/* From another thread, util_loop_del returns only after the running
 * callback has: the caller may then free what it uses. */
static void test_loop_del_waits_for_callback(void **state)
{
    (void)state;
    struct util_loop *l = util_loop_create();
    struct slow s = { .fd = eventfd(0, EFD_NONBLOCK),
                      .m = PTHREAD_MUTEX_INITIALIZER,
                      .cv = PTHREAD_COND_INITIALIZER };
    assert_int_equal(util_loop_add(l, s.fd, EPOLLIN, slow_cb, &s), 0);
    assert_int_equal(util_loop_start(l, "test-loop"), 0);
    poke(s.fd);
    pthread_mutex_lock(&s.m);
    while (!s.in_cb)
        pthread_cond_wait(&s.cv, &s.m);
    pthread_mutex_unlock(&s.m);
    struct del_arg d = { .l = l, .s = &s };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, del_thread, &d), 0);
    usleep(50000);      /* give a broken del the chance to return early */
    pthread_mutex_lock(&s.m);
    s.release = true;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.m);
    pthread_join(t, NULL);
    assert_true(d.returned);
    assert_true(d.done_at_return);
    util_loop_stop(l);
    util_loop_stop(l);      /* idempotent */
    close(s.fd);
    util_loop_destroy(l);
}

/* Another thread removes a registration whose fd is ready while the loop
 * runs: the loop may already hold it from epoll_wait when the removal
 * happens, so it must not be freed under the loop (ASan reports the read
 * of a freed registration; found by test_ctl under TSan). */
static void noop_cb(void *opaque, uint32_t events)
{
    (void)opaque;
    (void)events;
}

static void test_loop_del_while_waiting(void **state)
{
    (void)state;
    struct util_loop *l = util_loop_create();
    assert_non_null(l);
    assert_int_equal(util_loop_start(l, "test-race"), 0);
    for (int i = 0; i < 20000; i++) {
        int fd = eventfd(1, EFD_NONBLOCK);     /* readable at once */
        assert_true(fd >= 0);
        assert_int_equal(util_loop_add(l, fd, EPOLLIN, noop_cb, NULL), 0);
        assert_int_equal(util_loop_del(l, fd), 0);
        close(fd);
    }
    util_loop_destroy(l);
}

/* util_loop_call runs its function on the loop's thread and returns only
 * after it has; from the loop's own thread, and on a loop with no thread,
 * it runs at once. */
struct call_rec {
    struct util_loop *l;
    pthread_t ran_on;
    bool in_loop;
    int n;
    int fd;
};

static void call_fn(void *arg)
{
    struct call_rec *c = arg;
    c->ran_on = pthread_self();
    c->in_loop = util_loop_in_loop(c->l);
    /* atomic: the test polls it while the loop's own call runs */
    __atomic_add_fetch(&c->n, 1, __ATOMIC_RELEASE);
}

static void nested_cb(void *opaque, uint32_t ev)
{
    struct call_rec *c = opaque;
    uint64_t v;
    (void)ev;
    assert_int_equal(read(c->fd, &v, sizeof(v)), 8);
    util_loop_call(c->l, call_fn, c);   /* from the loop: at once */
}

static void test_loop_call(void **state)
{
    (void)state;
    struct util_loop *l = util_loop_create();
    assert_non_null(l);
    struct call_rec c = { .l = l };

    util_loop_call(l, call_fn, &c);           /* no thread: here */
    assert_int_equal(c.n, 1);
    assert_true(pthread_equal(c.ran_on, pthread_self()));
    assert_false(c.in_loop);

    assert_int_equal(util_loop_start(l, "test-call"), 0);
    for (int i = 0; i < 100; i++)
        util_loop_call(l, call_fn, &c);
    assert_int_equal(c.n, 101);               /* each ran before return */
    assert_false(pthread_equal(c.ran_on, pthread_self()));
    assert_true(c.in_loop);

    c.fd = eventfd(1, EFD_NONBLOCK);
    assert_true(c.fd >= 0);
    assert_int_equal(util_loop_add(l, c.fd, EPOLLIN, nested_cb, &c), 0);
    for (int i = 0; i < 1000 && __atomic_load_n(&c.n, __ATOMIC_ACQUIRE) < 102; i++)
        usleep(1000);
    assert_int_equal(util_loop_del(l, c.fd), 0);
    assert_int_equal(c.n, 102);
    close(c.fd);
    util_loop_stop(l);
    util_loop_call(l, call_fn, &c);           /* stopped: here again */
    assert_int_equal(c.n, 103);
    util_loop_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_rules),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_write_full_peer_times_out),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_ratelimit_burst_and_report),
        cmocka_unit_test(test_ratelimit_threads),
        cmocka_unit_test(test_log_ratelimited),
        cmocka_unit_test(test_loop_basics),
        cmocka_unit_test(test_loop_del_in_batch),
        cmocka_unit_test(test_loop_del_waits_for_callback),
        cmocka_unit_test(test_loop_del_while_waiting),
        cmocka_unit_test(test_loop_call),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

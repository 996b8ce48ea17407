/*
 * The control server and client (src/ctl): verbs matched word-wise, the
 * status line of every answer, a streaming verb taking its connection,
 * the host-interrupt verbs (`irq list`, `irq raise`, moved here with the
 * irq_ctl.c they tested), and hostile clients: garbage, huge lines,
 * slowloris, a client that never reads, more connections than served.
 * None of them may stop the server or the other work on its loop (an
 * eventfd on the same loop stands for the guests' dom0 services).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "xenkvm/ctl.h"
#include "xenkvm/irq.h"

struct fx {
    struct util_loop *loop;
    struct ctl_server *srv;
    char path[108];
    struct irq_icu *icu;
    struct ctl_irq_verbs irq;
    /* the loop's other work: an eventfd and how often it was served */
    int work_fd;
    _Atomic unsigned int work_done;
};

static void on_work(void *opaque, uint32_t events)
{
    (void)events;
    struct fx *f = opaque;
    uint64_t v;
    if (read(f->work_fd, &v, sizeof(v)) == sizeof(v))
        atomic_fetch_add(&f->work_done, 1);
}

static struct irq_icu *icu_with_eventfd(unsigned int nr, unsigned int line)
{
    struct irq_icu *icu = irq_icu_create(nr);
    assert_non_null(icu);
    struct irq_source *s;
    assert_int_equal(irq_source_eventfd(-1, &s), 0);
    struct irq_mode m = { IRQ_EDGE, IRQ_ACTIVE_HIGH, IRQ_ACK_UNMASK };
    assert_int_equal(irq_icu_set_source(icu, line, s, m), 0);
    return icu;
}

/* ---- verbs of the test ---- */

/* "echo ...": the verb's words, then each argument on a line. */
static void echo(void *opaque, struct ctl_req *req)
{
    fprintf(req->out, "%s:", (const char *)opaque);
    for (int i = 0; i < req->argc; i++)
        fprintf(req->out, " %s", req->argv[i]);
    fputc('\n', req->out);
}

/* "fail": writes a body, then an error: only the error goes out. */
static void failing(void *opaque, struct ctl_req *req)
{
    (void)opaque;
    fputs("not this\n", req->out);
    if (req->argc)
        ctl_req_usage(req);
    else
        ctl_req_error(req, "it failed: %d", 42);
}

/* "big": a 4 MiB answer, more than any socket buffer holds. */
#define BIG (4u << 20)
static void big(void *opaque, struct ctl_req *req)
{
    (void)opaque;
    for (unsigned int i = 0; i < BIG / 64; i++)
        fprintf(req->out, "%063u\n", i);
}

/* "stream": takes the connection, greets, echoes one line back. */
static void *stream_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[64];
    if (write(fd, "hello\n", 6) == 6 && util_read_line(fd, buf, sizeof(buf), 10000) == 0) {
        char out[80];
        int n = snprintf(out, sizeof(out), "got %s\n", buf);
        util_write_all(fd, out, (size_t)n, 10000);
    }
    close(fd);
    return NULL;
}

static void stream(void *opaque, struct ctl_req *req)
{
    (void)opaque;
    int fd = ctl_req_take(req);
    assert_true(fd >= 0);
    pthread_t t;
    pthread_create(&t, NULL, stream_thread, (void *)(intptr_t)fd);
    pthread_detach(t);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "/tmp/xenkvm-ctl-test-%d/ctl.sock",
             (int)getpid());
    f->loop = util_loop_create();
    assert_non_null(f->loop);
    assert_int_equal(util_loop_start(f->loop, "test-loop"), 0);
    assert_int_equal(ctl_server_create(f->loop, f->path, &f->srv), 0);
    f->icu = icu_with_eventfd(16, 4);
    f->irq.icu = f->icu;
    assert_int_equal(ctl_irq_register(f->srv, &f->irq), 0);
    assert_int_equal(ctl_register(f->srv, "echo", echo, "echo", "echo [WORDS]"), 0);
    assert_int_equal(ctl_register(f->srv, "echo two", echo, "echo two", NULL), 0);
    assert_int_equal(ctl_register(f->srv, "fail", failing, NULL, "fail [X]"), 0);
    assert_int_equal(ctl_register(f->srv, "stream", stream, NULL, "stream"), 0);
    assert_int_equal(ctl_register(f->srv, "big", big, NULL, "big"), 0);
    f->work_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_int_equal(util_loop_add(f->loop, f->work_fd, EPOLLIN, on_work, f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ctl_server_destroy(f->srv);
    util_loop_del(f->loop, f->work_fd);
    close(f->work_fd);
    util_loop_stop(f->loop);
    util_loop_destroy(f->loop);
    irq_icu_destroy(f->icu);
    char dir[108];
    snprintf(dir, sizeof(dir), "%s", f->path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(access(f->path, F_OK), -1);   /* the socket is gone */
    rmdir(dir);
    free(f);
    return 0;
}

/* Ask and return the body (malloc'ed) or NULL with *rc and err. */
static char *call(struct fx *f, const char *req, int *rc, char *err, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    *rc = ctl_client_call(f->path, req, out, err, n);
    fclose(out);
    if (*rc) {
        free(text);
        return NULL;
    }
    return text;
}

/* The loop's other work goes on: poke it and wait (10 s hang guard). */
static void work_goes_on(struct fx *f)
{
    unsigned int before = atomic_load(&f->work_done);
    uint64_t one = 1;
    assert_int_equal(write(f->work_fd, &one, sizeof(one)), sizeof(one));
    for (int i = 0; i < 10000 && atomic_load(&f->work_done) == before; i++)
        usleep(1000);
    assert_true(atomic_load(&f->work_done) > before);
}

/* Raw connection: send bytes as they are (a server that refused us may
 * have closed already: its answer is still there to read). */
static int raw(struct fx *f, const void *p, size_t n)
{
    int fd = util_unix_connect(f->path);
    assert_true(fd >= 0);
    if (n)
        (void)send(fd, p, n, MSG_NOSIGNAL);
    return fd;
}

/* Read to EOF (10 s hang guard per read); the text, malloc'ed. */
static char *read_all(int fd)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    char buf[4096];
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 10000), 1);
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r <= 0)
            break;
        fwrite(buf, 1, (size_t)r, out);
    }
    fclose(out);
    return text;
}

/* ---- tests ---- */

static void test_irq_verbs(void **state)
{
    struct fx *f = *state;
    char err[512];
    int rc;
    char *t = call(f, "irq list", &rc, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(t, "\n4 "));
    assert_non_null(strstr(t, "eventfd"));
    free(t);
    assert_null(call(f, "irq frobnicate", &rc, err, sizeof(err)));
    assert_int_equal(rc, -EREMOTEIO);
    assert_non_null(strstr(err, "unknown request 'irq frobnicate'"));
    assert_non_null(strstr(err, "known: irq list, irq raise LINE, echo"));
    /* irq raise: an eventfd line is signalled once */
    t = call(f, "irq raise 4", &rc, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_string_equal(t, "");
    free(t);
    uint64_t v = 0;
    assert_int_equal(read(irq_icu_source_fd(f->icu, 4), &v, sizeof(v)), sizeof(v));
    assert_int_equal(v, 1);
    assert_null(call(f, "irq raise 5", &rc, err, sizeof(err)));
    assert_string_equal(err, "host line 5 has no source");
    assert_null(call(f, "irq raise x", &rc, err, sizeof(err)));
    assert_string_equal(err, "usage: irq raise LINE");
    assert_null(call(f, "irq list 3", &rc, err, sizeof(err)));
    assert_string_equal(err, "usage: irq list");
    FILE *out = fopen("/dev/null", "w");
    assert_int_equal(ctl_client_call("/nonexistent/sock", "irq list", out,
                                     err, sizeof(err)), -ENOENT);
    fclose(out);
}

/* Word-wise, the longest verb wins; the rest are its arguments. */
static void test_verb_match(void **state)
{
    struct fx *f = *state;
    char err[512];
    int rc;
    char *t = call(f, "echo two three", &rc, err, sizeof(err));
    assert_string_equal(t, "echo two: three\n");
    free(t);
    t = call(f, "  echo\ttwofold  x ", &rc, err, sizeof(err));
    assert_string_equal(t, "echo: twofold x\n");
    free(t);
    t = call(f, "echo", &rc, err, sizeof(err));
    assert_string_equal(t, "echo:\n");
    free(t);
    assert_null(call(f, "ech", &rc, err, sizeof(err)));
    assert_non_null(strstr(err, "unknown request 'ech'"));
    assert_null(call(f, "", &rc, err, sizeof(err)));
    assert_string_equal(err, "empty request");
    /* an error drops the body; the usage line */
    assert_null(call(f, "fail", &rc, err, sizeof(err)));
    assert_int_equal(rc, -EREMOTEIO);
    assert_string_equal(err, "it failed: 42");
    assert_null(call(f, "fail x", &rc, err, sizeof(err)));
    assert_string_equal(err, "usage: fail [X]");
    /* registration rules */
    assert_int_equal(ctl_register(f->srv, "echo  two", echo, NULL, NULL), 0 - EEXIST);
    assert_int_equal(ctl_register(f->srv, "", echo, NULL, NULL), -EINVAL);
    assert_int_equal(ctl_register(f->srv, " x", echo, NULL, NULL), -EINVAL);
    assert_int_equal(ctl_register(f->srv, "a b c d e", echo, NULL, NULL), -EINVAL);
}

/* A streaming verb: "ok", then the connection is the verb's. */
static void test_stream(void **state)
{
    struct fx *f = *state;
    char err[256], line[64];
    int fd = -1;
    assert_int_equal(ctl_client_open(f->path, "stream", &fd, err, sizeof(err)), 0);
    assert_int_equal(util_read_line(fd, line, sizeof(line), 10000), 0);
    assert_string_equal(line, "hello");
    assert_int_equal(util_write_all(fd, "ping\n", 5, 10000), 0);
    assert_int_equal(util_read_line(fd, line, sizeof(line), 10000), 0);
    assert_string_equal(line, "got ping");
    close(fd);
    work_goes_on(f);
}

/* Garbage and huge lines get their error; the server goes on. */
static void test_garbage_and_huge(void **state)
{
    struct fx *f = *state;
    static const char bin[] = "irq\0list\x01\xff\n";
    int fd = raw(f, bin, sizeof(bin) - 1);
    char *t = read_all(fd);
    assert_string_equal(t, "error: the request is not a line of text\n");
    free(t);
    close(fd);
    char big[10000];
    memset(big, 'a', sizeof(big));
    fd = util_unix_connect(f->path);
    assert_true(fd >= 0);
    ssize_t w = send(fd, big, sizeof(big), MSG_NOSIGNAL);   /* may be cut */
    assert_true(w > 0);
    t = read_all(fd);
    assert_string_equal(t, "error: request longer than 255 bytes\n");
    free(t);
    close(fd);
    work_goes_on(f);
    char err[256];
    int rc;
    t = call(f, "echo still here", &rc, err, sizeof(err));
    assert_string_equal(t, "echo: still here\n");
    free(t);
}

/* Slowloris: a request that never ends is cut off; other clients and the
 * loop's other work are served meanwhile. */
static void test_slowloris(void **state)
{
    struct fx *f = *state;
    int slow = raw(f, "irq l", 5);
    char err[256];
    int rc;
    char *t = call(f, "echo meanwhile", &rc, err, sizeof(err));
    assert_string_equal(t, "echo: meanwhile\n");
    free(t);
    work_goes_on(f);
    t = read_all(slow);                 /* EOF once the deadline passed */
    assert_string_equal(t, "");
    free(t);
    close(slow);
}

/* More connections than served at once: the newcomer is told so; the
 * loop's other work goes on; once the squatters' deadline passed, clients
 * are served again. */
static void test_many_connections(void **state)
{
    struct fx *f = *state;
    int fds[CTL_MAX_CONNS];
    for (int i = 0; i < CTL_MAX_CONNS; i++)
        fds[i] = raw(f, "", 0);
    /* each was accepted: a request line on the first is answered */
    char err[256];
    int late = raw(f, "echo late\n", 10);
    char *t = read_all(late);
    assert_non_null(strstr(t, "error: busy"));
    free(t);
    close(late);
    work_goes_on(f);
    for (int i = 0; i < CTL_MAX_CONNS; i++) {
        t = read_all(fds[i]);           /* cut off at the deadline */
        assert_string_equal(t, "");
        free(t);
        close(fds[i]);
    }
    int rc = -1;
    for (int i = 0; i < 100 && rc; i++) {   /* the server may still be closing them */
        t = call(f, "echo again", &rc, err, sizeof(err));
        if (rc)
            usleep(10000);
        else
            assert_string_equal(t, "echo: again\n");
        free(t);
    }
    assert_int_equal(rc, 0);
}

/* A client that asks for a big answer and never reads cannot wedge the
 * server (issue 14: the old serving thread blocked in send() for good):
 * the next client is served in full meanwhile, and the reader that never
 * reads is cut off after CTL_SEND_MS without progress. */
static void test_client_never_reads(void **state)
{
    struct fx *f = *state;
    struct irq_icu *icu = irq_icu_create(IRQ_MAX_LINES);
    assert_non_null(icu);
    for (unsigned int l = 0; l < IRQ_MAX_LINES; l++) {
        struct irq_source *s;
        assert_int_equal(irq_source_eventfd(-1, &s), 0);
        struct irq_mode m = { IRQ_LEVEL, IRQ_ACTIVE_HIGH, IRQ_ACK_UNMASK };
        assert_int_equal(irq_icu_set_source(icu, l, s, m), 0);
    }
    f->irq.icu = icu;                  /* `irq list` now has 1024 lines */
    int fd = util_unix_connect(f->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "big\n", 4), 4);   /* and never reads */
    char err[256];
    int rc;
    char *t = call(f, "irq list", &rc, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_true(strlen(t) > 64 * 1024);
    free(t);
    work_goes_on(f);
    /* now read: it got less than the whole answer, then EOF */
    struct pollfd p = { .fd = fd, .events = POLLRDHUP };
    for (int i = 0; i < 100 && !(p.revents & (POLLRDHUP | POLLHUP)); i++)
        assert_true(poll(&p, 1, 100) >= 0);   /* the server hangs up */
    assert_true(p.revents & (POLLRDHUP | POLLHUP));
    t = read_all(fd);
    assert_true(strlen(t) < BIG);
    free(t);
    close(fd);
    f->irq.icu = f->icu;
    irq_icu_destroy(icu);
}

static void test_default_path(void **state)
{
    (void)state;
    char p[108];
    setenv("XENKVM_CONTROL", "/x/y.sock", 1);
    assert_int_equal(ctl_default_path(p, sizeof(p)), 0);
    assert_string_equal(p, "/x/y.sock");
    unsetenv("XENKVM_CONTROL");
    setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
    assert_int_equal(ctl_default_path(p, sizeof(p)), 0);
    assert_string_equal(p, "/run/user/7/xenkvm/control.sock");
    unsetenv("XDG_RUNTIME_DIR");
    assert_int_equal(ctl_default_path(p, sizeof(p)), 0);
    assert_string_equal(p, "/run/xenkvm/control.sock");
    assert_int_equal(ctl_default_path(p, 8), -ENAMETOOLONG);
}

/* A second server on a live socket is refused; a stale one replaced. */
static void test_socket_in_use(void **state)
{
    struct fx *f = *state;
    struct ctl_server *s2 = NULL;
    assert_int_equal(ctl_server_create(f->loop, f->path, &s2), -EADDRINUSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_irq_verbs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verb_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_and_huge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slowloris, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_never_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_in_use, setup, teardown),
        cmocka_unit_test(test_default_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The console backend (src/backends/console.c), driven as the guest drives
 * it: console_io output (be_console_write), the PV console ring drained by
 * be_console_flush or, with an event loop, by a notification on the
 * guest's port; and an attached client (`xenkvm console`) on a socket
 * pair. A real ring page and a real event-channel host; the hypercall
 * domain gives the 32 KiB/s budget both output paths share. Issue 14
 * defect 7: C1 controls (raw 0x80-0x9f, U+009B / U+009D in UTF-8) and ESC
 * must not reach the host's log, the ring path is rate-limited like
 * console_io, and a guest toggling a bad producer index cannot flood the
 * host's log.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <xen/event_channel.h>
#include <xen/io/console.h>

#include "xenkvm/backends.h"

struct fx {
    struct evtchn_host *evh;
    struct hv_domain *hv;
    struct util_loop *loop;      /* NULL: drained by be_console_flush */
    struct be_console *con;
    evtchn_port_t guest_port;
    void *page;                  /* the guest's console ring page */
    char *text;
    size_t len;
    FILE *out;
};

static int setup_with(void **state, bool loop)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct evtchn_platform_ops eops = { 0 };
    f->evh = evtchn_host_create(&eops, NULL);
    assert_non_null(f->evh);
    struct evtchn_domain_config d0 = { .domid = 0, .privileged = true,
                                       .max_vcpus = 1 };
    assert_int_equal(evtchn_domain_create(f->evh, &d0), 0);
    struct evtchn_domain_config ec = { .domid = 1, .max_vcpus = 1 };
    assert_int_equal(evtchn_domain_create(f->evh, &ec), 0);
    static const struct hv_platform_ops ops = { 0 };
    struct hv_domain_config hc = { .domid = 1, .max_vcpus = 1,
                                   .evtchn = f->evh, .ops = &ops };
    f->hv = hv_domain_create(&hc);
    assert_non_null(f->hv);
    f->page = aligned_alloc(4096, 4096);
    memset(f->page, 0xaa, 4096);         /* be_console_create zeroes it */
    f->out = open_memstream(&f->text, &f->len);
    if (loop) {
        f->loop = util_loop_create();
        assert_non_null(f->loop);
        assert_int_equal(util_loop_start(f->loop, "test-loop"), 0);
    }
    struct be_console_config cc = {
        .evtchn = f->evh, .domid = 1, .name = "g", .ring = f->page,
        .hv = f->hv, .out = f->out, .loop = f->loop,
    };
    assert_int_equal(be_console_create(&cc, &f->con, &f->guest_port), 0);
    assert_true(f->guest_port > 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, false);
}

static int setup_loop(void **state)
{
    return setup_with(state, true);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    be_console_destroy(f->con);
    if (f->loop) {
        util_loop_stop(f->loop);
        util_loop_destroy(f->loop);
    }
    fclose(f->out);
    free(f->text);
    free(f->page);
    hv_domain_destroy(f->hv);
    evtchn_domain_destroy(f->evh, 1);
    evtchn_domain_destroy(f->evh, 0);
    evtchn_host_destroy(f->evh);
    free(f);
    return 0;
}

static struct xencons_interface *ring(struct fx *f)
{
    return f->page;
}

/* The guest writes n bytes into the ring and moves out_prod. */
static void ring_put(struct fx *f, const char *p, size_t n)
{
    struct xencons_interface *r = ring(f);
    for (size_t i = 0; i < n; i++)
        r->out[MASK_XENCONS_IDX(r->out_prod + i, r->out)] = p[i];
    __atomic_store_n(&r->out_prod, r->out_prod + (uint32_t)n, __ATOMIC_RELEASE);
}

/* What reached the host terminal so far. */
static const char *shown(struct fx *f)
{
    fflush(f->out);
    return f->text ? f->text : "";
}

static bool has_c1_or_esc(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0x1b || (c >= 0x80 && c <= 0x9f && (i == 0 ||
            (unsigned char)s[i - 1] == 0xc2)))
            return true;
    }
    return false;
}

static void test_controls_filtered(void **state)
{
    struct fx *f = *state;
    /* console_io path */
    static const char io[] = "a\x9b" "31mb\xc2\x9b" "2Jc\xc2\x9d" "0;t\x07"
                             "d\x1b[1me\x90x\x9cy";
    be_console_write(f->con, io, sizeof(io) - 1);
    be_console_write(f->con, "\n", 1);
    /* ring path, with UTF-8 C1s split across two guest writes (and across
     * the ring's wrap, 2048 bytes on) */
    char fill[2046];
    memset(fill, '.', sizeof(fill));
    ring_put(f, fill, sizeof(fill));
    be_console_flush(f->con);
    assert_int_equal(ring(f)->out_cons, 2046);
    ring_put(f, "r\xc2", 2);
    ring_put(f, "\x9b" "1m\xc2\x9dz\n", 7);
    be_console_flush(f->con);
    const char *s = shown(f);
    size_t n = strlen(s);
    assert_false(has_c1_or_esc(s, n));
    for (size_t i = 0; i < n; i++)
        assert_true((unsigned char)s[i] != 0x9b && (unsigned char)s[i] != 0x9d);
    /* the printable text survives, in order */
    assert_non_null(strstr(s, "a?31mb?2Jc?0;t?d?[1me?x?y\n"));
    assert_non_null(strstr(s, "r?1m?z\n"));
}

static void test_utf8_kept(void **state)
{
    struct fx *f = *state;
    /* é, €, U+1F600, U+00A0 (C2 A0, not C1) pass; the € split across calls */
    static const char a[] = "caf\xc3\xa9 \xe2\x82";
    static const char b[] = "\xac \xf0\x9f\x98\x80 \xc2\xa0!\n";
    be_console_write(f->con, a, sizeof(a) - 1);
    be_console_write(f->con, b, sizeof(b) - 1);
    assert_string_equal(shown(f), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0!\n");
    /* invalid UTF-8 (lone continuation, overlong, surrogate, F5) is '?' */
    static const char bad[] = "\x80\xc0\xaf\xed\xa0\x80\xf5|\n";
    be_console_write(f->con, bad, sizeof(bad) - 1);
    assert_non_null(strstr(shown(f), "\n??????" "?|\n"));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The ring path shares console_io's per-domain budget: 64 KiB burst, then
 * 32 KiB/s. The bound below is computed from the elapsed time measured
 * around the flood (not a timing assertion: a slower run only loosens it). */
static void test_ring_rate_limited(void **state)
{
    struct fx *f = *state;
    char chunk[2048];
    memset(chunk, 'x', sizeof(chunk));
    chunk[sizeof(chunk) - 1] = '\n';
    int quiet = open("/dev/null", O_WRONLY);
    int saved = dup(2);
    dup2(quiet, 2);                      /* the drop notice goes to stderr */
    double t0 = now_s();
    size_t fed = 0;
    for (int i = 0; i < 512; i++) {      /* 1 MiB */
        ring_put(f, chunk, sizeof(chunk));
        be_console_flush(f->con);
        fed += sizeof(chunk);
    }
    double dt = now_s() - t0;
    dup2(saved, 2);
    close(saved);
    close(quiet);
    size_t out = strlen(shown(f));
    double bound = 65536.0 + 32768.0 * dt + sizeof(chunk);
    print_message("fed %zu bytes in %.3f s, shown %zu (bound %.0f)\n", fed, dt,
                  out, bound);
    assert_true((double)out <= bound);
    assert_true(out > 0);
    /* the ring was consumed: the guest is never stuck on a full ring */
    assert_int_equal(ring(f)->out_cons, ring(f)->out_prod);
    struct hv_stats st;
    hv_get_stats(f->hv, &st);
    assert_true(st.console_dropped >= fed - out - sizeof(chunk));
}

/* Count the lines the console writes to stderr while fn runs. */
static unsigned int stderr_lines(void (*fn)(struct fx *), struct fx *f)
{
    char path[] = "/tmp/xenkvm-con-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn(f);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    unsigned int n = 0;
    char buf[4096];
    ssize_t r;
    lseek(fd, 0, SEEK_SET);
    while ((r = read(fd, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < r; i++)
            n += buf[i] == '\n';
    close(fd);
    unlink(path);
    return n;
}

static void toggle_bad_index(struct fx *f)
{
    struct xencons_interface *r = ring(f);
    for (int i = 0; i < 10000; i++) {
        uint32_t cons = r->out_cons;
        r->out_prod = cons + 100000;     /* bad: far more than a ring ahead */
        be_console_flush(f->con);
        r->out_prod = cons;              /* sane again */
        be_console_flush(f->con);
    }
}

static void test_bad_index_log_rate_limited(void **state)
{
    struct fx *f = *state;
    unsigned int n = stderr_lines(toggle_bad_index, f);
    print_message("10000 bad/sane toggles: %u log lines\n", n);
    assert_true(n >= 1);                 /* it is still reported */
    assert_true(n <= 40);                /* 10000 before the fix */
}

/* ---- an attached client (`xenkvm console`), on the event loop ---- */

/* The guest notifies its console port (EVTCHNOP_send as domain 1). */
static void guest_notify(struct fx *f)
{
    struct evtchn_send send = { .port = f->guest_port };
    assert_int_equal(evtchn_do_op(f->evh, 1, 0, EVTCHNOP_send, &send), 0);
}

/* Read exactly n bytes from fd (a hang guard of 10 s, not a timing
 * assertion: the loop answers in microseconds). */
static void read_exact(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 10000), 1);
        ssize_t r = read(fd, buf + got, n - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

/* Wait (10 s hang guard) until cond(f) holds. */
static void wait_for(bool (*cond)(struct fx *), struct fx *f)
{
    for (int i = 0; i < 10000 && !cond(f); i++)
        usleep(1000);
    assert_true(cond(f));
}

static bool detached(struct fx *f)
{
    return !be_console_attached(f->con);
}

/* Guest output reaches the client as the guest wrote it (a console is a
 * terminal: line editing needs its escapes) and the log sanitised. */
static void test_attach_output(void **state)
{
    struct fx *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(be_console_attach(f->con, sv[0]), 0);
    assert_true(be_console_attached(f->con));
    static const char out[] = "login: \x1b[1mroot\x1b[0m\n";
    ring_put(f, out, sizeof(out) - 1);
    guest_notify(f);                     /* the loop drains */
    char buf[sizeof(out) - 1];
    read_exact(sv[1], buf, sizeof(buf));
    assert_memory_equal(buf, out, sizeof(buf));
    be_console_write(f->con, "io\n", 3); /* console_io: the same way */
    read_exact(sv[1], buf, 3);
    assert_memory_equal(buf, "io\n", 3);
    assert_int_equal(ring(f)->out_cons, ring(f)->out_prod);
    assert_non_null(strstr(shown(f), "login: ?[1mroot?[0m\nio\n"));
    /* the client hangs up: the console is free again */
    close(sv[1]);
    wait_for(detached, f);
}

/* One client at a time; after the domain ended (hangup) none, and the
 * attached one sees EOF. */
static void test_attach_busy_and_hangup(void **state)
{
    struct fx *f = *state;
    int a[2], b[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
    assert_int_equal(be_console_attach(f->con, a[0]), 0);
    assert_int_equal(be_console_attach(f->con, b[0]), -EBUSY);
    be_console_hangup(f->con);
    assert_false(be_console_attached(f->con));
    char c;
    struct pollfd p = { .fd = a[1], .events = POLLIN };
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(read(a[1], &c, 1), 0);       /* EOF */
    assert_int_equal(be_console_attach(f->con, b[0]), -EPIPE);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

static uint32_t in_used(struct fx *f)
{
    return __atomic_load_n(&ring(f)->in_prod, __ATOMIC_ACQUIRE) -
           ring(f)->in_cons;
}

static bool in_has_3(struct fx *f) { return in_used(f) == 3; }
static bool in_full(struct fx *f) { return in_used(f) == sizeof(ring(f)->in); }
static bool in_has_rest(struct fx *f) { return in_used(f) == 100; }

/* Keystrokes go into the ring's `in` half and the guest is notified; a
 * guest that does not read gets no more than the ring holds, the rest
 * waits in the socket (back-pressure: nothing dropped) until the guest has
 * consumed and notified. */
static void test_attach_input(void **state)
{
    struct fx *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(be_console_attach(f->con, sv[0]), 0);
    struct xencons_interface *r = ring(f);
    struct shared_info *si = evtchn_domain_shared_info(f->evh, 1);
    __atomic_store_n(&si->evtchn_pending[0], 0, __ATOMIC_SEQ_CST);
    assert_int_equal(write(sv[1], "ls\n", 3), 3);
    wait_for(in_has_3, f);
    assert_memory_equal((const char *)r->in, "ls\n", 3);
    /* the guest's port was notified */
    assert_true(__atomic_load_n(&si->evtchn_pending[0], __ATOMIC_SEQ_CST) &
                (1ul << f->guest_port));
    /* the guest reads it */
    __atomic_store_n(&r->in_cons, 3, __ATOMIC_RELEASE);
    /* more than the ring holds */
    size_t big = sizeof(r->in) + 100;
    char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + i % 26);
    assert_int_equal(write(sv[1], data, big), (ssize_t)big);
    wait_for(in_full, f);
    for (size_t i = 0; i < sizeof(r->in); i++)
        assert_int_equal(r->in[MASK_XENCONS_IDX(3 + i, r->in)], data[i]);
    /* the guest consumes it all and notifies: the last 100 bytes follow */
    __atomic_store_n(&r->in_cons, 3 + (uint32_t)sizeof(r->in), __ATOMIC_RELEASE);
    guest_notify(f);
    wait_for(in_has_rest, f);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(r->in[MASK_XENCONS_IDX(3 + sizeof(r->in) + i, r->in)],
                         data[sizeof(r->in) + i]);
    free(data);
    close(sv[1]);
    wait_for(detached, f);
}

/* A client that never reads cannot hold up the guest: output it does not
 * take is dropped for it, the ring is consumed and the log gets all. */
static void test_attach_slow_client(void **state)
{
    struct fx *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    assert_int_equal(be_console_attach(f->con, sv[0]), 0);
    char line[64];
    memset(line, 'y', sizeof(line));
    line[sizeof(line) - 1] = '\n';
    for (int i = 0; i < 1000; i++)       /* 64 KB, within the burst */
        be_console_write(f->con, line, sizeof(line));
    assert_int_equal(strlen(shown(f)), 1000 * sizeof(line));
    assert_true(be_console_attached(f->con));
    close(sv[1]);
    wait_for(detached, f);
}

/* Without a loop nobody can attach. */
static void test_attach_needs_loop(void **state)
{
    struct fx *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(be_console_attach(f->con, sv[0]), -ENOTSUP);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_controls_filtered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf8_kept, setup, teardown),
        /* before the flood: both log through the console's log budget
         * (20 lines per 5 s) */
        cmocka_unit_test_setup_teardown(test_bad_index_log_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attach_output, setup_loop, teardown),
        cmocka_unit_test_setup_teardown(test_attach_busy_and_hangup, setup_loop, teardown),
        cmocka_unit_test_setup_teardown(test_attach_input, setup_loop, teardown),
        cmocka_unit_test_setup_teardown(test_attach_slow_client, setup_loop, teardown),
        cmocka_unit_test_setup_teardown(test_attach_needs_loop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

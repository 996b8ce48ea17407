/* The Unix socket transport with real sockets: framing over partial reads
 * and writes, many clients, a bad client closed alone, a client that never
 * reads its watch events, a watch event raised by another thread; each
 * with and without busy-poll and on a util_loop (store_sock_attach), and
 * an idle busy-polling server that must sleep, not spin. */
#include <pthread.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "store_test_util.h"
#include "xenkvm/util.h"

static struct store *s;
static struct store_sock *k;
static pthread_t thr;
static volatile int stop;
static char path[108];

static void *serve(void *arg)
{
    (void)arg;
    store_sock_run(k, &stop);
    return NULL;
}

static int setup_with(unsigned busy_poll_us)
{
    snprintf(path, sizeof(path), "/tmp/xenkvm-test-%d/sock", (int)getpid());
    s = store_create(NULL, NULL);
    int err;
    k = store_sock_open(s, path, &err);
    if (!k)
        return -1;
    store_sock_set_busy_poll(k, busy_poll_us);
    __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
    pthread_create(&thr, NULL, serve, NULL);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(0);
}

/* A long window, so the spin path runs through every test. */
static int setup_bp(void **state)
{
    (void)state;
    return setup_with(2000);
}

/* The same socket served on a util_loop's thread (store_sock_attach). */
static struct util_loop *loop;

static int setup_loop(void **state)
{
    (void)state;
    snprintf(path, sizeof(path), "/tmp/xenkvm-test-%d/sock", (int)getpid());
    s = store_create(NULL, NULL);
    int err;
    k = store_sock_open(s, path, &err);
    loop = util_loop_create();
    if (!k || !loop || store_sock_attach(k, loop) ||
        store_sock_attach(k, loop) != -EBUSY ||
        util_loop_start(loop, "test-loop"))
        return -1;
    return 0;
}

/* The end of both teardowns, once the socket is closed: the store's
 * invariants still hold, it is freed, the socket's directory removed. */
static int free_store(void)
{
    check_store(s);
    store_destroy(s);
    char dir[120];
    snprintf(dir, sizeof(dir), "/tmp/xenkvm-test-%d", (int)getpid());
    rmdir(dir);
    return 0;
}

static int teardown_loop(void **state)
{
    (void)state;
    util_loop_stop(loop);
    store_sock_close(k);
    util_loop_destroy(loop);     /* every registration is gone */
    return free_store();
}

static int teardown(void **state)
{
    (void)state;
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(thr, NULL);
    store_sock_close(k);
    return free_store();
}

static int cli(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p = (const char *)p + w;
        n -= (size_t)w;
    }
}

static void send_msg(int fd, uint32_t type, uint32_t req, const void *pl,
                     uint32_t len)
{
    struct xsd_sockmsg h = { type, req, 0, len };
    send_all(fd, &h, sizeof(h));
    if (len)
        send_all(fd, pl, len);
}

/* Receive one message; -1 on EOF/timeout. */
static int recv_msg(int fd, struct xsd_sockmsg *h, char *buf, size_t max)
{
    size_t got = 0;
    while (got < sizeof(*h)) {
        ssize_t r = recv(fd, (char *)h + got, sizeof(*h) - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    assert_true(h->len < max);
    got = 0;
    while (got < h->len) {
        ssize_t r = recv(fd, buf + got, h->len - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    buf[h->len] = 0;
    return 0;
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    int fd = cli();
    char msg[64];
    struct xsd_sockmsg h = { XS_WRITE, 5, 0, 7 };
    memcpy(msg, &h, sizeof(h));
    memcpy(msg + sizeof(h), "/a\0xyz", 6);
    msg[sizeof(h) + 6] = 'w';
    for (size_t i = 0; i < sizeof(h) + 7; i++) {
        send_all(fd, msg + i, 1);
        usleep(200);
    }
    char buf[4200];
    assert_int_equal(recv_msg(fd, &h, buf, sizeof(buf)), 0);
    assert_int_equal(h.type, XS_WRITE);
    assert_int_equal(h.req_id, 5);
    assert_string_equal(buf, "OK");
    send_msg(fd, XS_READ, 6, "/a", 3);
    assert_int_equal(recv_msg(fd, &h, buf, sizeof(buf)), 0);
    assert_int_equal(h.len, 4);
    assert_memory_equal(buf, "xyzw", 4);
    /* Missing NUL: an error reply, the connection stays. */
    send_msg(fd, XS_READ, 7, "/a", 2);
    assert_int_equal(recv_msg(fd, &h, buf, sizeof(buf)), 0);
    assert_int_equal(h.type, XS_ERROR);
    assert_string_equal(buf, "EINVAL");
    close(fd);
}

static void test_oversize_closes_only_that_client(void **state)
{
    (void)state;
    int good = cli(), bad = cli();
    struct xsd_sockmsg h = { XS_READ, 1, 0, XENSTORE_PAYLOAD_MAX + 1 };
    send_all(bad, &h, sizeof(h));
    char buf[4200];
    assert_int_equal(recv_msg(bad, &h, buf, sizeof(buf)), -1);   /* closed */
    send_msg(good, XS_READ, 2, "/tool", 6);
    assert_int_equal(recv_msg(good, &h, buf, sizeof(buf)), 0);
    assert_int_equal(h.type, XS_READ);
    close(bad);
    close(good);
}

static void test_many_clients_pipelined(void **state)
{
    (void)state;
    enum { N = 40, REQS = 50 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = cli();
    char buf[4200], p[64];
    /* Each client pipelines all its writes, then reads all replies. */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < REQS; j++) {
            int n = snprintf(p, sizeof(p), "/m/%d", i) + 1;
            n += snprintf(p + n, sizeof(p) - (size_t)n, "%d", j);
            send_msg(fds[i], XS_WRITE, (uint32_t)j, p, (uint32_t)n);
        }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < REQS; j++) {
            struct xsd_sockmsg h;
            assert_int_equal(recv_msg(fds[i], &h, buf, sizeof(buf)), 0);
            assert_int_equal(h.type, XS_WRITE);
            assert_int_equal(h.req_id, j);
        }
    for (int i = 0; i < N; i++) {
        struct xsd_sockmsg h;
        snprintf(p, sizeof(p), "/m/%d", i);
        send_msg(fds[i], XS_READ, 1, p, (uint32_t)strlen(p) + 1);
        assert_int_equal(recv_msg(fds[i], &h, buf, sizeof(buf)), 0);
        char want[8];
        snprintf(want, sizeof(want), "%d", REQS - 1);
        assert_string_equal(buf, want);
        close(fds[i]);
    }
}

static void test_client_never_reads_events(void **state)
{
    (void)state;
    int lazy = cli(), writer = cli();
    struct xsd_sockmsg h;
    char buf[4200];
    /* A long watch path makes each event ~3 KiB. */
    static char wp[3000];
    memset(wp, 'w', sizeof(wp) - 1);
    memcpy(wp, "/lazy/", 6);
    wp[sizeof(wp) - 1] = 0;
    char m[3100];
    size_t l = strlen(wp) + 1;
    memcpy(m, wp, l);
    memcpy(m + l, "t", 2);
    send_msg(lazy, XS_WATCH, 1, m, (uint32_t)(l + 2));
    /* lazy never reads again. The writer does 3000 writes (9 MiB of
     * events for lazy) and every one is answered. */
    memcpy(m + l, "v", 1);
    for (int i = 0; i < 3000; i++) {
        send_msg(writer, XS_WRITE, (uint32_t)i, m, (uint32_t)(l + 1));
        assert_int_equal(recv_msg(writer, &h, buf, sizeof(buf)), 0);
        assert_int_equal(h.type, XS_WRITE);
    }
    /* lazy got a bounded backlog, not all 3000 events. */
    int events = 0;
    struct timeval tv = { 0, 300000 };
    setsockopt(lazy, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (recv_msg(lazy, &h, buf, sizeof(buf)) == 0)
        events += h.type == XS_WATCH_EVENT;
    assert_true(events > 10);
    assert_true(events < 3000);
    close(lazy);
    close(writer);
}

/* A write by another thread (an in-process client here) fires a socket
 * client's watch: the event reaches it through the wake-up pipe. */
static void test_event_from_another_thread(void **state)
{
    (void)state;
    int fd = cli();
    struct xsd_sockmsg h;
    char buf[4200];
    send_msg(fd, XS_WATCH, 1, "/ev\0tok", 8);
    assert_int_equal(recv_msg(fd, &h, buf, sizeof(buf)), 0);
    assert_int_equal(h.type, XS_WATCH);
    assert_int_equal(recv_msg(fd, &h, buf, sizeof(buf)), 0);
    assert_int_equal(h.type, XS_WATCH_EVENT);           /* the first one */
    struct store_client *c;
    assert_int_equal(store_client_new(s, 0, NULL, &c), 0);
    assert_int_equal(store_client_write(c, "/ev/x", "1", 1), 0);
    store_client_free(c);
    assert_int_equal(recv_msg(fd, &h, buf, sizeof(buf)), 0);
    assert_int_equal(h.type, XS_WATCH_EVENT);
    assert_string_equal(buf, "/ev/x");
    assert_string_equal(buf + 6, "tok");
    close(fd);
}

static uint64_t thread_cpu_ns(pthread_t t)
{
    clockid_t cid;
    struct timespec ts;
    assert_int_equal(pthread_getcpuclockid(t, &cid), 0);
    assert_int_equal(clock_gettime(cid, &ts), 0);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Busy-poll spends CPU only right after serving: a burst of round trips,
 * then 400 ms without requests, during which the server thread must use
 * far less CPU than a spinning one would (all of it). */
static void test_busy_poll_idle_sleeps(void **state)
{
    (void)state;
    int fd = cli();
    struct xsd_sockmsg h;
    char buf[4200];
    for (int i = 0; i < 200; i++) {
        send_msg(fd, XS_WRITE, (uint32_t)i, "/bp\0x", 5);
        assert_int_equal(recv_msg(fd, &h, buf, sizeof(buf)), 0);
        assert_int_equal(h.type, XS_WRITE);
    }
    uint64_t before = thread_cpu_ns(thr);
    usleep(400000);
    uint64_t used = thread_cpu_ns(thr) - before;
    /* A spinning thread would use ~400 ms; one window is 2 ms. */
    assert_true(used < 40000000u);
    /* And it still answers after the idle time. */
    send_msg(fd, XS_READ, 7, "/bp", 4);
    assert_int_equal(recv_msg(fd, &h, buf, sizeof(buf)), 0);
    assert_int_equal(h.req_id, 7);
    assert_string_equal(buf, "x");
    close(fd);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TB(f) cmocka_unit_test_setup_teardown(f, setup_bp, teardown)
#define TL(f) cmocka_unit_test_setup_teardown(f, setup_loop, teardown_loop)
    const struct CMUnitTest tests[] = {
        T(test_byte_by_byte), T(test_oversize_closes_only_that_client),
        T(test_many_clients_pipelined), T(test_client_never_reads_events),
        TB(test_byte_by_byte), TB(test_oversize_closes_only_that_client),
        TB(test_many_clients_pipelined), TB(test_client_never_reads_events),
        TB(test_busy_poll_idle_sleeps),
        T(test_event_from_another_thread), TB(test_event_from_another_thread),
        TL(test_byte_by_byte), TL(test_oversize_closes_only_that_client),
        TL(test_many_clients_pipelined), TL(test_client_never_reads_events),
        TL(test_event_from_another_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

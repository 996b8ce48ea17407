/*
 * The guest console (src/vmm/vmm_console.c), driven as the guest drives it:
 * console_io output (vmm_console_write) and the PV console ring drained by
 * vmm_console_flush. A hand-built vmm_domain holds just what the console
 * uses (name, console state, special pages, the hypercall domain whose
 * 32 KiB/s budget both paths share). Issue 14 defect 7: C1 controls (raw
 * 0x80-0x9f, U+009B / U+009D in UTF-8) and ESC must not reach the host
 * terminal, the ring path is rate-limited like console_io, and a guest
 * toggling a bad producer index cannot flood the host's log.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <xen/io/console.h>

#include "vmm_int.h"

struct fx {
    struct evtchn_host *evh;
    struct hv_domain *hv;
    struct vmm_host host;
    struct vmm_domain d;
    char *text;
    size_t len;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct evtchn_platform_ops eops = { 0 };
    f->evh = evtchn_host_create(&eops, NULL);
    assert_non_null(f->evh);
    struct evtchn_domain_config ec = { .domid = 1, .max_vcpus = 1 };
    assert_int_equal(evtchn_domain_create(f->evh, &ec), 0);
    static const struct hv_platform_ops ops = { 0 };
    struct hv_domain_config hc = { .domid = 1, .max_vcpus = 1,
                                   .evtchn = f->evh, .ops = &ops };
    f->hv = hv_domain_create(&hc);
    assert_non_null(f->hv);
    f->d.h = &f->host;
    f->d.domid = 1;
    f->d.hv = f->hv;
    snprintf(f->d.name, sizeof(f->d.name), "g");
    f->d.special = aligned_alloc(VMM_PAGE, VMM_SPECIAL_PAGES * VMM_PAGE);
    memset(f->d.special, 0, VMM_SPECIAL_PAGES * VMM_PAGE);
    pthread_mutex_init(&f->d.con.lock, NULL);
    f->d.con.out = open_memstream(&f->text, &f->len);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fclose(f->d.con.out);
    free(f->text);
    pthread_mutex_destroy(&f->d.con.lock);
    free(f->d.special);
    hv_domain_destroy(f->hv);
    evtchn_domain_destroy(f->evh, 1);
    evtchn_host_destroy(f->evh);
    free(f);
    return 0;
}

static struct xencons_interface *ring(struct fx *f)
{
    return (struct xencons_interface *)(f->d.special +
                                        VMM_SPECIAL_CONSOLE * VMM_PAGE);
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
    fflush(f->d.con.out);
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
    vmm_console_write(&f->d, io, sizeof(io) - 1);
    vmm_console_write(&f->d, "\n", 1);
    /* ring path, with UTF-8 C1s split across two guest writes (and across
     * the ring's wrap, 2048 bytes on) */
    ring(f)->out_prod = ring(f)->out_cons = f->d.con.ring_cons = 2046;
    ring_put(f, "r\xc2", 2);
    ring_put(f, "\x9b" "1m\xc2\x9dz\n", 7);
    vmm_console_flush(&f->d);
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
    vmm_console_write(&f->d, a, sizeof(a) - 1);
    vmm_console_write(&f->d, b, sizeof(b) - 1);
    assert_string_equal(shown(f), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0!\n");
    /* invalid UTF-8 (lone continuation, overlong, surrogate, F5) is '?' */
    static const char bad[] = "\x80\xc0\xaf\xed\xa0\x80\xf5|\n";
    vmm_console_write(&f->d, bad, sizeof(bad) - 1);
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
        vmm_console_flush(&f->d);
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
        vmm_console_flush(&f->d);
        r->out_prod = cons;              /* sane again */
        vmm_console_flush(&f->d);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_controls_filtered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf8_kept, setup, teardown),
        /* before the flood: both log through vmm_log_guest, whose budget
         * (20 lines per 5 s) is per thread */
        cmocka_unit_test_setup_teardown(test_bad_index_log_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_rate_limited, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * `xenkvm irq`: host interrupt lines.
 *
 *   xenkvm irq list  [--socket PATH]     live table from a running xenkvm
 *   xenkvm irq raise [--socket PATH] LINE  signal an eventfd line of a
 *        running xenkvm once (a test / simulation aid)
 *   xenkvm irq list  --config HOST.cfg   the configured lines (not live)
 *   xenkvm irq serve --config HOST.cfg --socket PATH [--seconds N]
 *        run the lines of HOST.cfg with domain-0 counting sinks and serve
 *        `irq list` and `irq raise` on PATH: the same control server and
 *        verbs as a VMM, on an event loop of its own
 *   xenkvm irq check (--host HOST.cfg | --domain XL.cfg | --dt FILE.dtb)
 *        parse a configuration with src/config's parsers (the ones `run`
 *        uses) and print what it grants / binds
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "xenkvm/config.h"
#include "xenkvm/ctl.h"
#include "xenkvm/irq.h"
#include "xenkvm/util.h"

#include "cli.h"

static void irq_usage(FILE *f)
{
    fprintf(f,
        "usage: xenkvm irq list  [--socket PATH]       (default: docs/control.md)\n"
        "       xenkvm irq list  --config HOST.cfg\n"
        "       xenkvm irq raise [--socket PATH] LINE   (test aid: signal an eventfd line)\n"
        "       xenkvm irq serve --config HOST.cfg --socket PATH [--seconds N]\n"
        "       xenkvm irq check (--host HOST.cfg | --domain XL.cfg | --dt FILE.dtb)\n");
}

static struct irq_icu *icu_from_config(const char *path)
{
    struct config_host hc;
    if (config_host_load(path, stderr, &hc) < 0)
        return NULL;
    struct irq_icu *icu = NULL;
    int rc = config_host_apply(&hc, &icu, stderr);
    config_host_free(&hc);
    return rc < 0 ? NULL : icu;
}

static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static int irq_list(int argc, char **argv)
{
    const char *cfg = opt(argc, argv, "--config");
    if (cfg) {
        struct irq_icu *icu = icu_from_config(cfg);
        if (!icu)
            return 1;
        irq_icu_format(icu, stdout);
        irq_icu_destroy(icu);
        return 0;
    }
    struct cli_ctl_args a = { .sock = opt(argc, argv, "--socket") };
    return cli_ctl_callf(&a, "xenkvm irq list", "irq list");
}

/* Test / simulation aid: a running xenkvm signals the eventfd of LINE. */
static int irq_raise(int argc, char **argv)
{
    struct cli_ctl_args a;
    if (cli_ctl_args(argc, argv, 1, false, &a) || !a.arg || a.arg2) {
        irq_usage(stderr);
        return 2;
    }
    return cli_ctl_callf(&a, "xenkvm irq raise", "irq raise %.20s", a.arg);
}

static volatile sig_atomic_t irq_stop;

static void on_signal(int sig)
{
    (void)sig;
    irq_stop = 1;
}

/* The domain-0 sink of `irq serve`: count and EOI at once. */
static void serve_sink(void *arg, struct irq_icu *icu, unsigned int line)
{
    (void)arg;
    irq_icu_eoi(icu, line);
}

/* The ICU's events, on the loop. */
static void serve_icu(void *opaque, uint32_t events)
{
    (void)events;
    irq_icu_process(opaque, 0);
}

static int irq_serve(int argc, char **argv)
{
    const char *cfg = opt(argc, argv, "--config");
    const char *sock = opt(argc, argv, "--socket");
    const char *secs = opt(argc, argv, "--seconds");
    if (!cfg || !sock) {
        irq_usage(stderr);
        return 2;
    }
    struct irq_icu *icu = icu_from_config(cfg);
    if (!icu)
        return 1;
    struct irq_icu_info info;
    irq_icu_info(icu, &info);
    struct irq_cb_sink *sinks = calloc(info.nr_lines, sizeof(*sinks));
    for (unsigned int i = 0; sinks && i < info.nr_lines; i++) {
        irq_cb_sink_init(&sinks[i], "irq-serve", serve_sink, NULL);
        irq_icu_bind(icu, i, &sinks[i].sink);   /* -ENODEV for empty lines */
    }
    /* The VMM's shape: one loop for the ICU and the control server. */
    struct util_loop *loop = sinks ? util_loop_create() : NULL;
    struct ctl_server *srv = NULL;
    struct ctl_irq_verbs verbs = { .icu = icu };
    int rc = loop ? 0 : -ENOMEM;
    if (!rc)
        rc = util_loop_add(loop, irq_icu_epoll_fd(icu), EPOLLIN, serve_icu, icu);
    if (!rc)
        rc = ctl_server_create(loop, sock, &srv);
    if (!rc)
        rc = ctl_irq_register(srv, &verbs);
    if (!rc)
        rc = util_loop_start(loop, "xenkvm-irq");
    if (rc) {
        fprintf(stderr, "xenkvm irq serve: cannot serve on %s: %s\n", sock,
                strerror(-rc));
    } else {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        fprintf(stderr, "xenkvm irq serve: %u lines, `xenkvm irq list "
                "--socket %s`\n", info.nr_lines, sock);
        double limit = secs ? atof(secs) : 0;
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
            usleep(100000);
            clock_gettime(CLOCK_MONOTONIC, &t);
        } while (!irq_stop &&
                 !(limit > 0 && (double)(t.tv_sec - t0.tv_sec) +
                   (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= limit));
    }
    ctl_server_destroy(srv);
    if (loop) {
        util_loop_stop(loop);
        util_loop_del(loop, irq_icu_epoll_fd(icu));
        util_loop_destroy(loop);
    }
    irq_icu_destroy(icu);
    free(sinks);
    return rc ? 1 : 0;
}

static int irq_check(int argc, char **argv)
{
    const char *host = opt(argc, argv, "--host");
    const char *dom = opt(argc, argv, "--domain");
    const char *dt = opt(argc, argv, "--dt");
    const char *path = host ? host : dom ? dom : dt;
    if (!path) {
        irq_usage(stderr);
        return 2;
    }
    int rc;
    if (host) {
        struct config_host c;
        rc = config_host_load(path, stderr, &c);
        if (rc == 0) {
            printf("%u host lines\n", c.nr_lines);
            static const char *const kind[] = { "eventfd", "timerfd", "uio" };
            for (unsigned int i = 0; i < c.n; i++)
                printf("line %u: %s%s%s %s\n", c.lines[i].line,
                       kind[c.lines[i].kind],
                       c.lines[i].kind == CONFIG_SRC_UIO ? ":" : "",
                       c.lines[i].path,
                       c.lines[i].mode.trigger == IRQ_LEVEL ? "level" : "edge");
            config_host_free(&c);
        }
    } else if (dom) {
        /* the whole domain file, its device_tree merged, as `run` reads it */
        struct config_domain c;
        rc = config_domain_load(path, 0, stderr, &c);
        if (rc == 0) {
            for (unsigned int i = 0; i < c.irq.nr_grants; i++)
                printf("irq %u granted\n", c.irq.grants[i]);
            for (unsigned int i = 0; i < c.irq.nr_iomem; i++)
                printf("iomem host pfn 0x%llx, %llu pages at guest pfn 0x%llx\n",
                       (unsigned long long)c.irq.iomem[i].pfn,
                       (unsigned long long)c.irq.iomem[i].nr,
                       (unsigned long long)c.irq.iomem[i].gfn);
            config_domain_free(&c);
        }
    } else {
        struct config_dt c;
        rc = config_dt_load(path, stderr, &c);
        if (rc == 0) {
            if (c.has_domid)
                printf("domain %u\n", c.domid);
            for (unsigned int i = 0; i < c.nr_irqs; i++)
                printf("%s interrupts[%u]: host line %u -> %s %u (%s)\n",
                       c.irqs[i].node, c.irqs[i].index, c.irqs[i].host_line,
                       c.irqs[i].sink == CONFIG_DT_IOAPIC ? "ioapic pin" : "pirq gsi",
                       c.irqs[i].guest_irq,
                       c.irqs[i].mode.trigger == IRQ_LEVEL ? "level" : "edge");
            for (unsigned int i = 0; i < c.nr_mmio; i++)
                printf("%s reg[%u]: host 0x%llx +0x%llx -> guest 0x%llx\n",
                       c.mmio[i].node, c.mmio[i].index,
                       (unsigned long long)c.mmio[i].host_addr,
                       (unsigned long long)c.mmio[i].size,
                       (unsigned long long)c.mmio[i].guest_addr);
            printf("%u warning(s)\n", c.warnings);
            config_dt_free(&c);
        }
    }
    return rc < 0 ? 1 : 0;
}

int cli_irq(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        irq_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "list"))
        return irq_list(argc - 1, argv + 1);
    if (!strcmp(argv[1], "raise"))
        return irq_raise(argc - 1, argv + 1);
    if (!strcmp(argv[1], "serve"))
        return irq_serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check"))
        return irq_check(argc - 1, argv + 1);
    fprintf(stderr, "xenkvm irq: unknown command '%s'\n", argv[1]);
    irq_usage(stderr);
    return 2;
}

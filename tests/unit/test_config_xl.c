/*
 * A domain's xl.cfg in one pass (every key `xenkvm run` reads: good values,
 * bad values with their one message, unknown keys ignored), its irqs= /
 * iomem= / irq_pins= entries, and the host line file, through libxlutil;
 * applying both (real sources, real grants checked through
 * PHYSDEVOP_map_pirq).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/config.h"
#include "xenkvm/irq.h"

/* Parse text as a domain config; the report text goes to *msg. */
static int dom(const char *text, struct config_domain *c, char **msg)
{
    size_t len;
    FILE *f = open_memstream(msg, &len);
    int rc = config_domain_parse(text, strlen(text), "dom.cfg", 0, f, c);
    fclose(f);
    return rc;
}

static int host(const char *text, struct config_host *c, char **msg)
{
    size_t len;
    FILE *f = open_memstream(msg, &len);
    int rc = config_host_parse(text, strlen(text), "irq.cfg", f, c);
    fclose(f);
    return rc;
}

static void test_domain_ok(void **state)
{
    (void)state;
    struct config_domain c;
    char *msg;
    assert_int_equal(dom("name = \"g1\"\n# a comment\nirqs = [ 7, \"9\" ]\n"
                         "iomem = [ \"fe001,1@9000\", \"0xfe100,4\" ]\n",
                         &c, &msg), 0);
    assert_string_equal(msg, "");
    free(msg);
    assert_int_equal(c.irq.nr_grants, 2);
    assert_int_equal(c.irq.grants[0], 7);
    assert_int_equal(c.irq.grants[1], 9);
    assert_int_equal(c.irq.nr_iomem, 2);
    assert_int_equal(c.irq.iomem[0].pfn, 0xfe001);
    assert_int_equal(c.irq.iomem[0].nr, 1);
    assert_int_equal(c.irq.iomem[0].gfn, 0x9000);
    assert_int_equal(c.irq.iomem[1].pfn, 0xfe100);
    assert_int_equal(c.irq.iomem[1].gfn, 0xfe100);   /* default: same frame */
    config_domain_free(&c);

    assert_int_equal(dom("memory = 128\n", &c, &msg), 0);   /* none set */
    assert_int_equal(c.irq.nr_grants + c.irq.nr_iomem, 0);
    free(msg);
    config_domain_free(&c);
}

static void test_domain_bad(void **state)
{
    (void)state;
    static const struct { const char *text, *want; } cases[] = {
        { "irqs = [ 7, x ]\n", "dom.cfg:1:" },           /* libxlutil syntax */
        { "irqs = [ 7, \"x\" ]\n", "irqs entry 2 ('x'): expected a line number" },
        { "irqs = [ \"-1\" ]\n", "irqs entry 1 ('-1')" },
        { "irqs = [ 1024 ]\n", "irqs entry 1 ('1024')" },
        { "irqs = [ \"7 \" ]\n", "irqs entry 1 ('7 ')" },
        { "irqs = [ 99999999999999999999999 ]\n", "irqs entry 1" },
        { "irqs = 7\n", "irqs must be a list" },
        { "iomem = [ \"fe001\" ]\n", "iomem entry 1 ('fe001'): expected \"PFN,NR[@GFN]\"" },
        { "iomem = [ \"fe001,0\" ]\n", "iomem entry 1 ('fe001,0')" },
        { "iomem = [ \"fe001,1@\" ]\n", "iomem entry 1" },
        { "iomem = [ \"zz,1\" ]\n", "iomem entry 1" },
        { "iomem = [ \"fffffffffffff,2\" ]\n", "iomem entry 1" },  /* beyond 2^52 */
        { "iomem = [ \"1,1\", [ \"nested\" ] ]\n", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config_domain c;
        char *msg;
        int rc = dom(cases[i].text, &c, &msg);
        if (rc != -EINVAL)
            fail_msg("case %zu (%s): rc %d, report '%s'", i, cases[i].text, rc, msg);
        assert_non_null(strstr(msg, cases[i].want));
        assert_null(c.irq.grants);
        free(msg);
    }
}

/* Parse with the flags of `xenkvm run`; the report to *msg. */
static int run_dom(const char *text, struct config_domain *c, char **msg)
{
    size_t len;
    FILE *f = open_memstream(msg, &len);
    int rc = config_domain_parse(text, strlen(text), "g.cfg",
                                 CONFIG_DOMAIN_RUNNABLE, f, c);
    fclose(f);
    return rc;
}

static unsigned int lines_in(const char *msg)
{
    unsigned int n = 0;
    for (; *msg; msg++)
        n += *msg == '\n';
    return n;
}

/* Every key `xenkvm run` reads, in one pass; unknown keys are ignored. */
static void test_domain_all_keys(void **state)
{
    (void)state;
    struct config_domain c;
    char *msg;
    int rc = run_dom("type = \"pvh\"\nname = \"web\"\nkernel = \"/k.elf\"\n"
                     "ramdisk = \"/r.img\"\nextra = \"from extra\"\n"
                     "cmdline = \"console=hvc0\"\nmemory = 256\nmaxmem = 256\n"
                     "vcpus = 4\n"
                     "on_poweroff = \"preserve\"\non_crash = \"restart\"\n"
                     "on_reboot = \"destroy\"\non_watchdog = \"restart\"\n"
                     "max_event_channels = 100\nmax_grant_frames = 32\n"
                     "max_maptrack_frames = 0\nirqs = [ 7 ]\n"
                     "iomem = [ \"fe001,1\" ]\nirq_pins = [ \"8@17\" ]\n"
                     "device_tree = \"g.dtb\"\n"
                     "vif = [ \"bridge=xenbr0\" ]\nbuilder = \"generic\"\n",
                     &c, &msg);
    if (rc)
        fail_msg("rc %d: %s", rc, msg);
    assert_string_equal(msg, "");
    free(msg);
    assert_string_equal(c.name, "web");
    assert_string_equal(c.kernel, "/k.elf");
    assert_string_equal(c.ramdisk, "/r.img");
    assert_string_equal(c.cmdline, "console=hvc0");   /* cmdline over extra */
    assert_int_equal(c.mem_bytes, 256ull << 20);
    assert_int_equal(c.max_mem_bytes, 256ull << 20);
    assert_int_equal(c.vcpus, 4);
    assert_int_equal(c.on_poweroff, CONFIG_ACTION_PRESERVE);
    assert_int_equal(c.on_crash, CONFIG_ACTION_RESTART);
    assert_int_equal(c.on_reboot, CONFIG_ACTION_DESTROY);
    assert_int_equal(c.on_watchdog, CONFIG_ACTION_RESTART);
    assert_int_equal(c.max_event_channels, 100);
    assert_int_equal(c.max_grant_frames, 32);
    assert_int_equal(c.max_maptrack_frames, CONFIG_NO_MAPTRACK);
    assert_int_equal(c.irq.nr_grants, 1);
    assert_int_equal(c.irq.grants[0], 7);
    assert_int_equal(c.irq.nr_iomem, 1);
    assert_int_equal(c.irq.nr_pins, 1);
    assert_int_equal(c.irq.pins[0].line, 8);
    assert_int_equal(c.irq.pins[0].pin, 17);
    assert_string_equal(c.device_tree, "g.dtb");
    assert_false(c.has_dt);                 /* parse only records the path */
    config_domain_free(&c);

    /* the minimum: defaults are 0 / NULL (the VMM's defaults apply) */
    assert_int_equal(run_dom("name = \"m\"\nkernel = \"k\"\nextra = \"x\"\n",
                             &c, &msg), 0);
    free(msg);
    assert_string_equal(c.cmdline, "x");
    assert_null(c.ramdisk);
    assert_null(c.device_tree);
    assert_int_equal(c.mem_bytes, 0);
    assert_int_equal(c.max_mem_bytes, 0);
    assert_int_equal(c.vcpus, 0);
    assert_int_equal(c.max_event_channels, 0);
    assert_int_equal(c.max_grant_frames, 0);
    assert_int_equal(c.max_maptrack_frames, 0);
    assert_int_equal(c.on_poweroff, CONFIG_ACTION_DESTROY);
    assert_int_equal(c.on_reboot, CONFIG_ACTION_RESTART);  /* xl's default */
    assert_int_equal(c.on_crash, CONFIG_ACTION_DESTROY);
    assert_int_equal(c.on_watchdog, CONFIG_ACTION_DESTROY);  /* xl's */
    config_domain_free(&c);

    /* actions we cannot honour yet: a warning, and the nearest one */
    assert_int_equal(run_dom("name = \"m\"\nkernel = \"k\"\n"
                             "on_crash = \"coredump-destroy\"\n"
                             "on_reboot = \"rename-restart\"\n", &c, &msg), 0);
    assert_non_null(strstr(msg, "g.cfg: on_crash = \"coredump-destroy\" not "
                           "supported yet; the domain is destroyed instead"));
    assert_non_null(strstr(msg, "g.cfg: on_reboot = \"rename-restart\" not "
                           "supported yet; the domain is restarted instead"));
    free(msg);
    assert_int_equal(c.on_crash, CONFIG_ACTION_DESTROY);
    assert_int_equal(c.on_reboot, CONFIG_ACTION_RESTART);
    config_domain_free(&c);
}

/* Each bad value: -EINVAL and exactly one line naming file, key, bound. */
static void test_domain_bad_values(void **state)
{
    (void)state;
    static const struct { const char *text, *want; } cases[] = {
        { "type = \"hvm\"\n", "g.cfg: type = \"hvm\": only \"pvh\" guests" },
        { "memory = 1\n", "g.cfg: memory = 1: must be 2..3072 (MiB)" },
        { "memory = 3073\n", "g.cfg: memory = 3073: must be 2..3072" },
        { "memory = \"lots\"\n", "g.cfg: memory must be a number (MiB)" },
        { "maxmem = 1\n", "g.cfg: maxmem = 1: must be 2..3072 (MiB)" },
        { "maxmem = \"lots\"\n", "g.cfg: maxmem must be a number (MiB)" },
        { "memory = 64\nmaxmem = 128\n", "g.cfg: maxmem = 128: above memory "
          "= 64; maxmem above memory needs populate-on-demand" },
        { "memory = 64\nmaxmem = 32\n", "g.cfg: maxmem = 32: below memory = 64" },
        { "vcpus = 0\n", "g.cfg: vcpus = 0: must be 1..64" },
        { "vcpus = 65\n", "g.cfg: vcpus = 65: must be 1..64" },
        { "vcpus = \"x\"\n", "g.cfg: vcpus must be a number" },
        { "max_event_channels = 0\n", "max_event_channels must be a number 1..131071" },
        { "max_event_channels = 131072\n", "max_event_channels must be a number" },
        { "max_event_channels = \"many\"\n", "max_event_channels must be a number" },
        { "max_grant_frames = 0\n", "max_grant_frames must be a number 1..64" },
        { "max_grant_frames = 65\n", "max_grant_frames must be a number 1..64" },
        { "max_maptrack_frames = 1025\n", "max_maptrack_frames must be a number 0..1024" },
        { "on_poweroff = \"explode\"\n", "g.cfg: on_poweroff = \"explode\": unknown action" },
        { "on_crash = \"explode\"\n", "g.cfg: on_crash = \"explode\": unknown action" },
        { "on_reboot = \"explode\"\n", "g.cfg: on_reboot = \"explode\": unknown action" },
        { "irqs = [ \"x\" ]\n", "g.cfg: irqs entry 1 ('x')" },
        { "irq_pins = [ \"7-17\" ]\n", "g.cfg: irq_pins entry 1 ('7-17')" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "name = \"x\"\nkernel = \"k\"\n%s",
                 cases[i].text);
        struct config_domain c;
        char *msg;
        int rc = run_dom(text, &c, &msg);
        if (rc != -EINVAL || !strstr(msg, cases[i].want) || lines_in(msg) != 1)
            fail_msg("case %zu (%s): rc %d, report '%s'", i, cases[i].text, rc,
                     msg);
        assert_null(c.name);                /* nothing left allocated */
        free(msg);
    }
}

/* name and kernel are required to run, not to check the interrupt keys. */
static void test_domain_required(void **state)
{
    (void)state;
    struct config_domain c;
    char *msg;
    assert_int_equal(run_dom("kernel = \"k\"\n", &c, &msg), -EINVAL);
    assert_string_equal(msg, "g.cfg: no name = \"...\" given\n");
    free(msg);
    assert_int_equal(run_dom("name = \"x\"\n", &c, &msg), -EINVAL);
    assert_string_equal(msg, "g.cfg: no kernel = \"...\" given\n");
    free(msg);
    assert_int_equal(dom("irqs = [ 7 ]\n", &c, &msg), 0);
    assert_null(c.name);
    free(msg);
    config_domain_free(&c);
}

static void test_host_ok(void **state)
{
    (void)state;
    struct config_host c;
    char *msg;
    assert_int_equal(host("nr_lines = 32\n"
                          "line = [ \"7=eventfd,level\", \"8=timerfd:1000us,edge\",\n"
                          "  \"9=uio:/dev/uio0,low,ack=eoi\", \"10=timerfd:once:5ms\",\n"
                          "  \"11=eventfd,edge,falling\" ]\n", &c, &msg), 0);
    free(msg);
    assert_int_equal(c.nr_lines, 32);
    assert_int_equal(c.n, 5);
    assert_int_equal(c.lines[0].line, 7);
    assert_int_equal(c.lines[0].kind, CONFIG_SRC_EVENTFD);
    assert_int_equal(c.lines[0].mode.trigger, IRQ_LEVEL);
    assert_int_equal(c.lines[1].kind, CONFIG_SRC_TIMERFD);
    assert_int_equal(c.lines[1].period_ns, 1000000);
    assert_true(c.lines[1].periodic);
    assert_int_equal(c.lines[2].kind, CONFIG_SRC_UIO);
    assert_string_equal(c.lines[2].path, "/dev/uio0");
    assert_int_equal(c.lines[2].mode.trigger, IRQ_LEVEL);   /* uio default */
    assert_int_equal(c.lines[2].mode.polarity, IRQ_ACTIVE_LOW);
    assert_int_equal(c.lines[2].mode.ack, IRQ_ACK_EOI);
    assert_false(c.lines[3].periodic);
    assert_int_equal(c.lines[3].period_ns, 5000000);
    assert_int_equal(c.lines[4].mode.polarity, IRQ_ACTIVE_LOW);
    assert_int_equal(c.lines[4].mode.trigger, IRQ_EDGE);
    config_host_free(&c);

    /* without nr_lines the ICU is as large as the highest line needs */
    assert_int_equal(host("line = [ \"3=eventfd\" ]\n", &c, &msg), 0);
    free(msg);
    assert_int_equal(c.nr_lines, 4);
    config_host_free(&c);
}

static void test_host_bad(void **state)
{
    (void)state;
    static const struct { const char *text, *want; } cases[] = {
        { "line = [ \"7\" ]\n", "line entry 1 ('7'): expected \"LINE=SOURCE" },
        { "line = [ \"x=eventfd\" ]\n", "line number must be 0..1023" },
        { "line = [ \"1024=eventfd\" ]\n", "line number must be 0..1023" },
        { "line = [ \"7=\" ]\n", "missing source" },
        { "line = [ \"7=bogus\" ]\n", "unknown source" },
        { "line = [ \"7=timerfd:10\" ]\n", "timer period" },
        { "line = [ \"7=timerfd:10us\" ]\n", "" },   /* fine, see below */
        { "line = [ \"7=timerfd:999ns\" ]\n", "timer period" },
        { "line = [ \"7=timerfd:2h\" ]\n", "timer period" },
        { "line = [ \"7=timerfd:99999999999999999999s\" ]\n", "timer period" },
        { "line = [ \"7=uio:dev/uio0\" ]\n", "absolute device path" },
        { "line = [ \"7=eventfd,sideways\" ]\n", "unknown option" },
        { "line = [ \"7=eventfd,edge,level\" ]\n", "edge/level given twice" },
        { "line = [ \"7=eventfd\", \"7=timerfd:1ms\" ]\n",
          "line 7 is configured twice (entries 1 and 2)" },
        { "nr_lines = 4\nline = [ \"7=eventfd\" ]\n", "line 7 is beyond nr_lines = 4" },
        { "nr_lines = 0\n", "nr_lines must be a number 1..1024" },
        { "nr_lines = \"many\"\n", "nr_lines must be a number" },
        { "line = \"7=eventfd\"\n", "line must be a list" },
        { "line = [ \"7=eventfd\" \n", "irq.cfg:" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config_host c;
        char *msg;
        int rc = host(cases[i].text, &c, &msg);
        if (!cases[i].want[0]) {
            assert_int_equal(rc, 0);
            config_host_free(&c);
        } else if (rc != -EINVAL || !strstr(msg, cases[i].want)) {
            fail_msg("case %zu (%s): rc %d, report '%s'", i, cases[i].text, rc, msg);
        }
        free(msg);
    }
}

/* fuzz/config_xl.c found libxlutil aborting on a NUL inside a string */
static void test_nul_byte(void **state)
{
    (void)state;
    static const char text[] = "line = [ \"7=eventfd\0\0evel\" ]\n";
    struct config_host c;
    char *msg;
    size_t len;
    FILE *f = open_memstream(&msg, &len);
    assert_int_equal(config_host_parse(text, sizeof(text) - 1, "irq.cfg", f, &c),
                     -EINVAL);
    struct config_domain d;
    assert_int_equal(config_domain_parse(text, sizeof(text) - 1, "dom.cfg", 0, f, &d),
                     -EINVAL);
    fclose(f);
    assert_non_null(strstr(msg, "irq.cfg: contains a NUL byte, not a text file"));
    assert_non_null(strstr(msg, "dom.cfg: contains a NUL byte"));
    free(msg);
}

static void test_apply(void **state)
{
    (void)state;
    struct config_host hc;
    char *msg;
    assert_int_equal(host("nr_lines = 16\nline = [ \"7=eventfd,level\", "
                          "\"8=timerfd:1ms\" ]\n", &hc, &msg), 0);
    free(msg);
    struct irq_icu *icu;
    assert_int_equal(config_host_apply(&hc, &icu, stderr), 0);
    struct irq_line_info li;
    irq_icu_line_info(icu, 7, &li);
    assert_true(li.has_source);
    assert_string_equal(li.source, "eventfd");
    assert_int_equal(li.mode.trigger, IRQ_LEVEL);
    irq_icu_line_info(icu, 8, &li);
    assert_string_equal(li.source, "timerfd:1000us");
    irq_icu_line_info(icu, 9, &li);
    assert_false(li.has_source);

    struct evtchn_platform_ops ops = { 0 };
    struct evtchn_host *h = evtchn_host_create(&ops, NULL);
    struct irq_pirq *r = irq_pirq_create(icu, h, NULL, NULL);
    assert_int_equal(irq_pirq_domain_add(r, 1, false, 0), 0);

    struct config_domain dc;
    assert_int_equal(dom("irqs = [ 7, 20 ]\n", &dc, &msg), 0);
    free(msg);
    size_t len;
    FILE *f = open_memstream(&msg, &len);
    assert_int_equal(config_irq_grant(&dc.irq, r, 1, 16, f), -EINVAL);
    fclose(f);
    assert_non_null(strstr(msg, "host line 20 does not exist"));
    free(msg);
    config_domain_free(&dc);
    struct physdev_map_pirq m = { .domid = DOMID_SELF, .type = MAP_PIRQ_TYPE_GSI,
                                  .index = 7, .pirq = -1 };
    /* nothing was granted by the failed apply */
    assert_int_equal(irq_pirq_physdev_op(r, 1, PHYSDEVOP_map_pirq, &m), -EPERM);
    assert_int_equal(dom("irqs = [ 7 ]\n", &dc, &msg), 0);
    free(msg);
    assert_int_equal(config_irq_grant(&dc.irq, r, 1, 16, stderr), 0);
    config_domain_free(&dc);
    assert_int_equal(irq_pirq_physdev_op(r, 1, PHYSDEVOP_map_pirq, &m), 0);
    m.index = 8;
    assert_int_equal(irq_pirq_physdev_op(r, 1, PHYSDEVOP_map_pirq, &m), -EPERM);

    irq_pirq_domain_remove(r, 1);
    irq_pirq_destroy(r);
    evtchn_host_destroy(h);
    irq_icu_destroy(icu);
    config_host_free(&hc);

    /* a UIO device that is not there: one message naming it */
    assert_int_equal(host("line = [ \"2=uio:/dev/uio-none\" ]\n", &hc, &msg), 0);
    free(msg);
    f = open_memstream(&msg, &len);
    assert_int_equal(config_host_apply(&hc, &icu, f), -ENOENT);
    fclose(f);
    assert_non_null(strstr(msg, "host line 2: cannot set up its source /dev/uio-none"));
    free(msg);
    config_host_free(&hc);
}

/* disk = [ ... ]: both forms, the device numbers of libxl's rules, the
 * access and cdrom flags, and each refusal with its message. */
static void test_disks(void **state)
{
    (void)state;
    struct config_domain c;
    char *msg;
    assert_int_equal(dom("disk = [ 'format=raw, vdev=xvda, access=rw, "
                         "target=/img/a.img',\n"
                         "  '/img/b.img,raw,xvdb,ro',\n"
                         "  'vdev=xvdc1, target=/img/c' ,\n"
                         "  'vdev=xvdq, target=/img/q', 'vdev=xvdaa, "
                         "target=/img/aa',\n"
                         "  'vdev=hdc, devtype=cdrom, target=/img/cd.iso',\n"
                         "  'vdev=sdb2, target=/img/s' ]\n", &c, &msg), 0);
    assert_string_equal(msg, "");
    free(msg);
    assert_int_equal(c.nr_disks, 7);
    assert_string_equal(c.disks[0].target, "/img/a.img");
    assert_string_equal(c.disks[0].vdev, "xvda");
    assert_int_equal(c.disks[0].devid, 51712);            /* 202 << 8 */
    assert_false(c.disks[0].readonly);
    assert_false(c.disks[0].cdrom);
    assert_string_equal(c.disks[1].target, "/img/b.img");
    assert_int_equal(c.disks[1].devid, 51728);            /* xvdb */
    assert_true(c.disks[1].readonly);
    assert_int_equal(c.disks[2].devid, (202 << 8) | (2 << 4) | 1);
    assert_false(c.disks[2].readonly);                    /* default rw */
    assert_int_equal(c.disks[3].devid, (1 << 28) | (16 << 8)); /* xvdq */
    assert_int_equal(c.disks[4].devid, (1 << 28) | (26 << 8)); /* xvdaa */
    assert_int_equal(c.disks[5].devid, (22 << 8) | 0);    /* hdc */
    assert_true(c.disks[5].cdrom);
    assert_true(c.disks[5].readonly);                     /* cdrom: ro */
    assert_int_equal(c.disks[6].devid, (8 << 8) | (1 << 4) | 2); /* sdb2 */
    config_domain_free(&c);
    assert_null(c.disks);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        { "disk = [ 'format=qcow2, vdev=xvda, target=/a' ]\n",
          "only raw images" },
        { "disk = [ 'format=raw, vdev=vda, target=/a' ]\n",
          "vdev=vda: expected" },
        { "disk = [ 'vdev=xvda0, target=/a' ]\n", "vdev=xvda0" },
        { "disk = [ 'vdev=hde, target=/a' ]\n", "vdev=hde" },
        { "disk = [ 'vdev=xvda, target=/a', '/b,raw,xvda,rw' ]\n",
          "the same vdev" },
        { "disk = [ 'vdev=xvda, bogus=1, target=/a' ]\n",
          "not a disk specification" },
        { "disk = \"/a,raw,xvda\"\n", "must be a list" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(dom(bad[i].text, &c, &msg), -EINVAL);
        if (!strstr(msg, bad[i].msg))
            fail_msg("%s: got '%s'", bad[i].text, msg);
        free(msg);
        assert_null(c.disks);
    }
}

/* vif = [ ... ]: xl's keys, libxlutil's rate, xenkvm's hostfwd. */
static void test_vifs(void **state)
{
    (void)state;
    struct config_domain c;
    char *msg;
    assert_int_equal(dom("vif = [ 'mac=00:16:3e:01:02:03, ip=10.0.2.20 "
                         "10.0.2.21, hostfwd=tcp::8080-:80, "
                         "hostfwd=udp:127.0.0.1:5353-10.0.2.9:53',\n"
                         "  ' bridge = xenbr0 , type=vif, rate=10Mb/s@20ms, "
                         "vifname=web0, backend=0, model=e1000',\n"
                         "  '' ]\n", &c, &msg), 0);
    assert_string_equal(msg, "");
    free(msg);
    assert_int_equal(c.nr_vifs, 3);
    struct config_vif *v = &c.vifs[0];
    assert_int_equal(v->devid, 0);
    assert_true(v->has_mac);
    assert_memory_equal(v->mac, "\x00\x16\x3e\x01\x02\x03", 6);
    assert_null(v->bridge);
    assert_int_equal(ntohl(v->ip.s_addr), 0x0a000214);
    assert_int_equal(v->nfwd, 2);
    assert_false(v->fwd[0].udp);
    assert_int_equal(v->fwd[0].host_port, 8080);
    assert_int_equal(v->fwd[0].host_addr.s_addr, htonl(INADDR_ANY));
    assert_int_equal(v->fwd[0].guest_addr.s_addr, htonl(INADDR_ANY));
    assert_int_equal(v->fwd[0].guest_port, 80);
    assert_true(v->fwd[1].udp);
    assert_int_equal(ntohl(v->fwd[1].host_addr.s_addr), 0x7f000001);
    assert_int_equal(ntohl(v->fwd[1].guest_addr.s_addr), 0x0a000209);
    assert_int_equal(v->fwd[1].guest_port, 53);
    assert_int_equal(v->rate_bytes, 0);
    v = &c.vifs[1];
    assert_int_equal(v->devid, 1);
    assert_false(v->has_mac);
    assert_string_equal(v->bridge, "xenbr0");
    assert_string_equal(v->vifname, "web0");
    /* 10 Mbit/s at 20 ms: 25000 bytes per 20000 us (libxlutil's sums) */
    assert_int_equal(v->rate_bytes, 25000);
    assert_int_equal(v->rate_usecs, 20000);
    assert_int_equal(c.vifs[2].devid, 2);               /* all defaults */
    assert_false(c.vifs[2].has_mac);
    config_domain_free(&c);
    assert_null(c.vifs);

    assert_int_equal(dom("vif = [ 'script=vif-bridge, colo=1' ]\n", &c, &msg),
                     0);
    assert_non_null(strstr(msg, "script=vif-bridge ignored"));
    assert_non_null(strstr(msg, "unknown option colo ignored"));
    free(msg);
    config_domain_free(&c);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        { "vif = [ 'mac=01:16:3e:00:00:01' ]\n", "mac=01:16:3e:00:00:01" },
        { "vif = [ 'mac=00:16:3e:00:00' ]\n", "expected a unicast" },
        { "vif = [ 'mac=00:16:3e:00:00:0g' ]\n", "expected a unicast" },
        { "vif = [ 'ip=fe80::1' ]\n", "no IPv4 address" },
        { "vif = [ 'type=tap' ]\n", "type=tap" },
        { "vif = [ 'backend=drv' ]\n", "only domain 0" },
        { "vif = [ 'rate=fast' ]\n", "rate=fast" },
        { "vif = [ 'bridge=a/b' ]\n", "not an interface name" },
        { "vif = [ 'vifname=abcdefghijklmnop' ]\n", "at most 15" },
        { "vif = [ 'hostfwd=sctp::1-:2' ]\n", "hostfwd=sctp::1-:2" },
        { "vif = [ 'hostfwd=tcp::1-:0' ]\n", "is not 1-65535" },
        { "vif = [ 'hostfwd=tcp::70000-:80' ]\n", "hostfwd=" },
        { "vif = [ 'hostfwd=tcp:1.2.3:80-:80' ]\n", "hostfwd=" },
        { "vif = [ 'bridge=br0, hostfwd=tcp::80-:80' ]\n",
          "not bridge=br0" },
        { "vif = [ 'mac=00:16:3e:00:00:01', 'mac=00:16:3e:00:00:01' ]\n",
          "the same mac" },
        { "vif = [ 'mac' ]\n", "expected key=value" },
        { "vif = [ 'mac=00:16:3e:00:00:01' ] vif = 3\n", "" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(dom(bad[i].text, &c, &msg), -EINVAL);
        if (!strstr(msg, bad[i].msg))
            fail_msg("%s: got '%s'", bad[i].text, msg);
        free(msg);
        assert_null(c.vifs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domain_ok),
        cmocka_unit_test(test_domain_bad),
        cmocka_unit_test(test_domain_all_keys),
        cmocka_unit_test(test_domain_bad_values),
        cmocka_unit_test(test_domain_required),
        cmocka_unit_test(test_host_ok),
        cmocka_unit_test(test_host_bad),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_disks),
        cmocka_unit_test(test_vifs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

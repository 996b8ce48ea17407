/*
 * The device-tree form, from .dts text compiled by the real dtc (Debian's
 * device-tree-compiler; meson passes its path in XENKVM_DTC): pass-through
 * nodes, uvmm's warnings for wrongly named and out-of-range resources, the
 * errors for a line or pin bound twice, and blobs that are not trees; a
 * domain's xl.cfg loaded with its device_tree merged.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "xenkvm/config.h"

/* Compile dts with dtc into a malloc'd blob. */
static void *compile(const char *dts, size_t *len)
{
    const char *dtc = getenv("XENKVM_DTC");
    char src[] = "/tmp/xenkvm-dt-XXXXXX";
    int fd = mkstemp(src);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, dts, strlen(dts)), (ssize_t)strlen(dts));
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s -q -I dts -O dtb %s", dtc ? dtc : "dtc", src);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    *len = fread(buf, 1, cap, p);
    int st = pclose(p);
    unlink(src);
    if (st != 0 || *len == 0)
        fail_msg("dtc failed on:\n%s", dts);
    return buf;
}

static int parse(const char *dts, struct config_dt *c, char **msg)
{
    size_t len, mlen;
    void *blob = compile(dts, &len);
    FILE *f = open_memstream(msg, &mlen);
    int rc = config_dt_parse(blob, len, f, c);
    fclose(f);
    free(blob);
    return rc;
}

#define HEAD \
    "/dts-v1/;\n/ {\n #address-cells = <2>; #size-cells = <2>;\n" \
    " xenkvm,domid = <3>;\n" \
    " ioapic: ioapic { compatible = \"xenkvm,ioapic\"; interrupt-controller;" \
    " #interrupt-cells = <2>; };\n" \
    " pirq: pirq { compatible = \"xenkvm,pirq\"; interrupt-controller;" \
    " #interrupt-cells = <2>; };\n" \
    " gic: gic { compatible = \"arm,gic-400\"; interrupt-controller;" \
    " #interrupt-cells = <3>; };\n"

static void test_passthrough(void **state)
{
    (void)state;
    struct config_dt c;
    char *msg;
    int rc = parse(HEAD
        " xenkvm-io {\n"
        "  uart0 { compatible = \"ns16550a\"; irq0 = <7>;"
        "   reg0 = <0x0 0xfe001000 0x0 0x1000>; };\n"
        "  nic0 { compatible = \"acme,nic\"; irq0 = <9>; irq1 = <10>; };\n"
        " };\n"
        " serial@9000000 { compatible = \"ns16550a\"; interrupt-parent = <&ioapic>;"
        "  interrupts = <4 4>; reg = <0x0 0x9000000 0x0 0x1000>; };\n"
        " nic { compatible = \"acme,nic\", \"generic\"; interrupt-parent = <&pirq>;"
        "  interrupts = <9 1>, <10 8>; };\n"
        "};\n", &c, &msg);
    if (rc)
        fail_msg("rc %d: %s", rc, msg);
    assert_string_equal(msg, "");
    free(msg);
    assert_true(c.has_domid);
    assert_int_equal(c.domid, 3);
    assert_int_equal(c.nr_irqs, 3);
    assert_string_equal(c.irqs[0].node, "/serial@9000000");
    assert_int_equal(c.irqs[0].host_line, 7);
    assert_int_equal(c.irqs[0].sink, CONFIG_DT_IOAPIC);
    assert_int_equal(c.irqs[0].guest_irq, 4);
    assert_int_equal(c.irqs[0].mode.trigger, IRQ_LEVEL);
    assert_int_equal(c.irqs[1].host_line, 9);
    assert_int_equal(c.irqs[1].sink, CONFIG_DT_PIRQ);
    assert_int_equal(c.irqs[1].mode.trigger, IRQ_EDGE);
    assert_int_equal(c.irqs[2].host_line, 10);
    assert_int_equal(c.irqs[2].index, 1);
    assert_int_equal(c.irqs[2].mode.trigger, IRQ_LEVEL);
    assert_int_equal(c.irqs[2].mode.polarity, IRQ_ACTIVE_LOW);
    assert_int_equal(c.nr_mmio, 1);
    assert_int_equal(c.mmio[0].host_addr, 0xfe001000);
    assert_int_equal(c.mmio[0].guest_addr, 0x9000000);
    assert_int_equal(c.mmio[0].size, 0x1000);
    assert_int_equal(c.warnings, 0);
    config_dt_free(&c);
}

static void test_warnings(void **state)
{
    (void)state;
    struct config_dt c;
    char *msg;
    int rc = parse(HEAD
        " xenkvm-io {\n"
        "  uart0 { compatible = \"ns16550a\"; intr0 = <7>; irq3 = <8>; irq0 = <6>;"
        "   mem0 = <0x0 0xfe001000 0x0 0x1000>; reg2 = <0x0 0xfe002000 0x0 0x1000>;"
        "   clock = <1 2>; };\n"
        "  spare { compatible = \"nobody\"; irq0 = <1>; };\n"
        "  nameless { irq0 = <2>; };\n"
        " };\n"
        " serial { compatible = \"ns16550a\"; interrupt-parent = <&ioapic>;"
        "  interrupts = <4 4>; reg = <0x0 0x9000000 0x0 0x1000>; };\n"
        " gicdev { compatible = \"foo\"; interrupt-parent = <&gic>; interrupts = <0 1 4>; };\n"
        "};\n", &c, &msg);
    if (rc)
        fail_msg("rc %d: %s", rc, msg);
    /* uvmm's wording, naming the node and the resource */
    assert_non_null(strstr(msg, "warning: IRQ resource 'intr0' of device 'uart0' "
                                "ignored. Should be named 'irq[0-9A-Z]'."));
    assert_non_null(strstr(msg, "warning: /serial: IO IRQ resource 'irq3' of "
                                "device 'uart0' is out of bounds: the node has 1 "
                                "interrupts"));
    assert_non_null(strstr(msg, "warning: MMIO resource 'mem0' of device 'uart0' "
                                "ignored. Should be named 'reg[0-9A-Z]'."));
    assert_non_null(strstr(msg, "warning: /serial: IO MMIO resource 'reg2' of "
                                "device 'uart0' is out of bounds"));
    assert_non_null(strstr(msg, "warning: resource 'clock' of device 'uart0' ignored"));
    assert_non_null(strstr(msg, "warning: /xenkvm-io/nameless: no compatible"));
    assert_int_equal(c.warnings, 6);
    assert_int_equal(c.nr_irqs, 1);          /* only irq0 = 6 survives */
    assert_int_equal(c.irqs[0].host_line, 6);
    assert_int_equal(c.nr_mmio, 0);
    free(msg);
    config_dt_free(&c);

    /* a node under a foreign controller: its irqs are not ours */
    rc = parse(HEAD
        " xenkvm-io { d { compatible = \"foo\"; irq0 = <5>; }; };\n"
        " gicdev { compatible = \"foo\"; interrupt-parent = <&gic>; interrupts = <0 1 4>; };\n"
        "};\n", &c, &msg);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(msg, "/gicdev: irqs are handled by 'gic', ignoring irq assignments"));
    assert_int_equal(c.nr_irqs, 0);
    free(msg);
    config_dt_free(&c);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct { const char *body, *want; } cases[] = {
        /* one host line bound to two different guest pins */
        { " xenkvm-io { a { compatible = \"a\"; irq0 = <7>; };"
          " b { compatible = \"b\"; irq0 = <7>; }; };\n"
          " na { compatible = \"a\"; interrupt-parent = <&ioapic>; interrupts = <4 4>; };\n"
          " nb { compatible = \"b\"; interrupt-parent = <&ioapic>; interrupts = <5 4>; };\n",
          "error: host line 7: /nb interrupts[0] -> ioapic pin 5 conflicts with "
          "/na interrupts[0] -> ioapic pin 4 (the line is already bound)" },
        /* one guest pin fed by two host lines (uvmm: "irq already bound to
         * different io irq") */
        { " xenkvm-io { a { compatible = \"a\"; irq0 = <7>; };"
          " b { compatible = \"b\"; irq0 = <8>; }; };\n"
          " na { compatible = \"a\"; interrupt-parent = <&ioapic>; interrupts = <4 4>; };\n"
          " nb { compatible = \"b\"; interrupt-parent = <&ioapic>; interrupts = <4 4>; };\n",
          "error: ioapic pin 4: /nb irq0 = host line 8 (device 'b'): pin already "
          "bound to different host line 7 by /na interrupts[0]" },
        { " xenkvm-io { a { compatible = \"a\"; irq# = <7>; }; };\n"
          " na { compatible = \"a\"; interrupt-parent = <&ioapic>; interrupts = <4 4>; };\n",
          "error: IO device 'a' has invalid irq resource id. Expected 'irq[0-9A-Z]', got 'irq#'" },
        { " xenkvm-io { a { compatible = \"a\"; irq00 = <7>; }; };\n"
          " na { compatible = \"a\"; interrupt-parent = <&ioapic>; interrupts = <4 4>; };\n",
          "invalid irq resource id" },
        { " xenkvm-io { a { compatible = \"a\"; regx = <0 0x1000 0 0x1000>; }; };\n"
          " na { compatible = \"a\"; reg = <0 0x1000 0 0x1000>; };\n",
          "error: IO device 'a' has invalid mmio resource id" },
        { " xenkvm-io { a { compatible = \"a\"; reg0 = <0 0x1001 0 0x1000>; }; };\n"
          " na { compatible = \"a\"; reg = <0 0x1000 0 0x1000>; };\n",
          "MMIO must be whole 4 KiB pages" },
        { " xenkvm-io { a { compatible = \"a\"; irq0 = <5000>; }; };\n"
          " na { compatible = \"a\"; interrupt-parent = <&ioapic>; interrupts = <4 4>; };\n",
          "host line 5000 beyond 1023" },
        { " xenkvm-io { a { compatible = \"a\"; irq0 = <7>; }; };\n"
          " na { compatible = \"a\"; interrupt-parent = <&ioapic>; interrupts = <4 3>; };\n",
          "/na interrupts[0]: flags 3 is not one of 1, 2, 4, 8" },
        { " xenkvm-io { a { compatible = \"a\"; irq0 = <7>; }; };\n"
          " na { compatible = \"a\"; interrupt-parent = <&pirq>; interrupts = <6 4>; };\n",
          "a PIRQ's GSI is the host line: GSI 6 but irq0 = host line 7" },
        { " xenkvm-io { a { compatible = \"a\"; irq0 = <7>; }; };\n"
          " na { compatible = \"a\"; interrupt-parent = <77>; interrupts = <6 4>; };\n",
          "/na: interrupt parent not found" },
        { " noc: noc { interrupt-controller; };\n"
          " xenkvm-io { a { compatible = \"a\"; irq0 = <7>; }; };\n"
          " na { compatible = \"a\"; interrupt-parent = <&noc>; interrupts = <6 4>; };\n",
          "interrupt parent 'noc' needs #interrupt-cells 1..4" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dts[2048];
        snprintf(dts, sizeof(dts), "%s%s};\n", HEAD, cases[i].body);
        struct config_dt c;
        char *msg;
        int rc = parse(dts, &c, &msg);
        if (rc != -EINVAL || !strstr(msg, cases[i].want))
            fail_msg("case %zu: rc %d, report:\n%s", i, rc, msg);
        assert_null(c.irqs);
        free(msg);
    }
}

static void test_not_a_tree(void **state)
{
    (void)state;
    struct config_dt c;
    char *msg;
    size_t mlen;
    FILE *f = open_memstream(&msg, &mlen);
    static const char junk[128] = "this is not a flattened device tree";
    assert_int_equal(config_dt_parse(junk, sizeof(junk), f, &c), -EINVAL);
    assert_int_equal(config_dt_parse(junk, 4, f, &c), -EINVAL);
    assert_int_equal(config_dt_parse(NULL, 0, f, &c), -EINVAL);
    /* a real tree, truncated */
    size_t len;
    void *blob = compile("/dts-v1/;\n/ { a { b = <1>; }; };\n", &len);
    assert_int_equal(config_dt_parse(blob, len - 8, f, &c), -EINVAL);
    assert_int_equal(config_dt_parse(blob, len, f, &c), 0);   /* whole: fine */
    config_dt_free(&c);
    /* fuzz/config_dt.c: a header claiming version 7 made libfdt 1.6.1's
     * fdt_check_full dereference NULL; such trees are refused first */
    unsigned char *h = blob;
    h[20] = h[21] = h[22] = 0;
    h[23] = 7;                                  /* version */
    h[27] = 3;                                  /* last_comp_version */
    assert_int_equal(config_dt_parse(blob, len, f, &c), -EINVAL);
    free(blob);
    fclose(f);
    assert_non_null(strstr(msg, "error: not a valid device tree blob"));
    assert_non_null(strstr(msg, "error: not a device tree blob (size 4)"));
    assert_non_null(strstr(msg, "error: not a device tree blob of version 16 or later"));
    free(msg);
}

/* The 88-byte tree of issue 14 (found by fuzz/config_dt.c after ~297 s): a
 * root node with one property whose length is 0xfffffff4. libfdt 1.6.1's
 * fdt_next_tag adds 8 + len to an int offset, i.e. steps back 4 bytes onto
 * the same tag, so fdt_check_full never ends. Big-endian header: magic,
 * totalsize 88, struct at 56 (28 bytes), strings at 84 (4), reservation
 * map at 40 (one empty entry), version 17, last compatible 16. */
static const unsigned char dt_loop88[88] = {
    0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 88, 0, 0, 0, 56, 0, 0, 0, 84,
    0, 0, 0, 40, 0, 0, 0, 17, 0, 0, 0, 16, 0, 0, 0, 0,
    0, 0, 0, 4, 0, 0, 0, 28,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* rsvmap end */
    0, 0, 0, 1, 0, 0, 0, 0,                            /* BEGIN_NODE "" */
    0, 0, 0, 3, 0xff, 0xff, 0xff, 0xf4, 0, 0, 0, 0,    /* PROP len, name */
    0, 0, 0, 2, 0, 0, 0, 9,                            /* END_NODE, END */
    'a', 0, 0, 0,                                      /* strings */
};

static int parse_raw(const void *blob, size_t len, char **msg)
{
    struct config_dt c;
    size_t mlen;
    FILE *f = open_memstream(msg, &mlen);
    int rc = config_dt_parse(blob, len, f, &c);
    fclose(f);
    if (rc == 0)
        config_dt_free(&c);
    return rc;
}

static void test_prop_len_loop(void **state)
{
    (void)state;
    char *msg;
    assert_int_equal(parse_raw(dt_loop88, sizeof(dt_loop88), &msg), -EINVAL);
    assert_non_null(strstr(msg, "property length"));
    free(msg);
    /* the same tree with a sane length (0) is fine */
    unsigned char ok[sizeof(dt_loop88)];
    memcpy(ok, dt_loop88, sizeof(ok));
    memset(ok + 68, 0, 4);
    assert_int_equal(parse_raw(ok, sizeof(ok), &msg), 0);
    free(msg);
    /* lengths that run past the block, by one byte or by wrapping */
    static const uint32_t bad[] = { 1, 9, 0x7fffffff, 0x80000000, 0xfffffffc,
                                    0xffffffff };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok[68] = (unsigned char)(bad[i] >> 24);
        ok[69] = (unsigned char)(bad[i] >> 16);
        ok[70] = (unsigned char)(bad[i] >> 8);
        ok[71] = (unsigned char)bad[i];
        assert_int_equal(parse_raw(ok, sizeof(ok), &msg), -EINVAL);
        free(msg);
    }
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* config_domain_load: the xl.cfg's device_tree is read, parsed and merged
 * into the domain's interrupt config after its own irqs= / iomem= /
 * irq_pins=; a tree's messages name the tree's file. */
static void test_domain_load_merge(void **state)
{
    (void)state;
    char dir[] = "/tmp/xenkvm-cfg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[128], dtb[128];
    snprintf(cfg, sizeof(cfg), "%s/g.cfg", dir);
    snprintf(dtb, sizeof(dtb), "%s/g.dtb", dir);
    size_t len;
    void *blob = compile(HEAD
        " xenkvm-io {\n"
        "  uart0 { compatible = \"ns16550a\"; irq0 = <7>;"
        "   reg0 = <0x0 0xfe001000 0x0 0x2000>; };\n"
        "  nic0 { compatible = \"acme,nic\"; irq0 = <9>; };\n"
        " };\n"
        " serial@9000000 { compatible = \"ns16550a\"; interrupt-parent = <&ioapic>;"
        "  interrupts = <4 4>; reg = <0x0 0x9000000 0x0 0x2000>; };\n"
        " nic { compatible = \"acme,nic\"; interrupt-parent = <&pirq>;"
        "  interrupts = <9 1>; };\n"
        "};\n", &len);
    write_file(dtb, blob, len);
    free(blob);
    char text[512];
    int n = snprintf(text, sizeof(text), "name = \"g\"\nkernel = \"k\"\n"
                     "irqs = [ 3 ]\niomem = [ \"fe100,1@a000\" ]\n"
                     "irq_pins = [ \"5@6\" ]\ndevice_tree = \"%s\"\n", dtb);
    write_file(cfg, text, (size_t)n);

    struct config_domain c;
    char *msg;
    size_t mlen;
    FILE *f = open_memstream(&msg, &mlen);
    int rc = config_domain_load(cfg, CONFIG_DOMAIN_RUNNABLE, f, &c);
    fclose(f);
    if (rc)
        fail_msg("rc %d: %s", rc, msg);
    free(msg);
    assert_true(c.has_dt);
    assert_int_equal(c.dt.domid, 3);
    assert_int_equal(c.irq.nr_grants, 2);      /* irqs= first, then the tree */
    assert_int_equal(c.irq.grants[0], 3);
    assert_int_equal(c.irq.grants[1], 9);
    assert_int_equal(c.irq.nr_pins, 2);
    assert_int_equal(c.irq.pins[0].line, 5);
    assert_int_equal(c.irq.pins[0].pin, 6);
    assert_int_equal(c.irq.pins[1].line, 7);
    assert_int_equal(c.irq.pins[1].pin, 4);
    assert_int_equal(c.irq.nr_iomem, 2);
    assert_int_equal(c.irq.iomem[0].gfn, 0xa000);
    assert_int_equal(c.irq.iomem[1].pfn, 0xfe001);
    assert_int_equal(c.irq.iomem[1].nr, 2);
    assert_int_equal(c.irq.iomem[1].gfn, 0x9000);
    config_domain_free(&c);

    /* a tree that is not one: the message names the tree's file */
    write_file(dtb, "not a dtb", 9);
    f = open_memstream(&msg, &mlen);
    assert_int_equal(config_domain_load(cfg, 0, f, &c), -EINVAL);
    fclose(f);
    char want[192];
    snprintf(want, sizeof(want), "%s: error: not a device tree blob", dtb);
    assert_non_null(strstr(msg, want));
    free(msg);
    assert_null(c.name);
    /* no tree file, no config file: one message naming it */
    unlink(dtb);
    f = open_memstream(&msg, &mlen);
    assert_int_equal(config_domain_load(cfg, 0, f, &c), -ENOENT);
    fclose(f);
    snprintf(want, sizeof(want), "cannot read device tree '%s'", dtb);
    assert_non_null(strstr(msg, want));
    free(msg);
    unlink(cfg);
    f = open_memstream(&msg, &mlen);
    assert_int_equal(config_domain_load(cfg, 0, f, &c), -ENOENT);
    fclose(f);
    snprintf(want, sizeof(want), "cannot read config '%s'", cfg);
    assert_non_null(strstr(msg, want));
    free(msg);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_not_a_tree),
        cmocka_unit_test(test_prop_len_loop),
        cmocka_unit_test(test_domain_load_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

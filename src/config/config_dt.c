/*
 * The device-tree form of pass-through (seed 004's Io_proxy), read with
 * libfdt. /xenkvm-io holds the host devices with their resources named
 * irqX / regX (L4Re io's vbus); a guest node whose compatible matches an
 * unassigned host device (uvmm's find_unassigned_dev) gets the host line of
 * resource irqX as its interrupts[X] and the host MMIO of regX as its
 * reg[X]. Messages follow uvmm's: a resource with a wrong name or an
 * out-of-range index is a warning naming node and resource; a host line or
 * guest pin bound twice differently is an error naming both bindings.
 *
 * The blob is untrusted. check_blob walks its structure block first, with
 * bounds of its own (libfdt 1.6.1's fdt_check_full loops forever on a
 * property length that wraps its int offset); fdt_check_full then adds its
 * own checks, and the walk is iterative (fdt_next_node), never recursive.
 *
 * config_irq_merge_dt then adds what the tree binds to the domain's
 * interrupt configuration (the xl.cfg keys' struct config_irq).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "xenkvm/config.h"
#include "config_int.h"

#define DT_MAX_BLOB (1u << 24)   /* the largest blob config_dt_parse takes */
#define DT_MAX_HOSTDEV 256
#define DT_MAX_BINDINGS 1024

/* IRQ_TYPE_* of the Linux dt-bindings (interrupt-controller/irq.h) */
enum { DT_EDGE_RISING = 1, DT_EDGE_FALLING = 2, DT_LEVEL_HIGH = 4,
       DT_LEVEL_LOW = 8 };

struct hostdev {
    int off;
    bool assigned;
};

struct dt_ctx {
    const void *fdt;
    FILE *report;
    struct config_dt *out;
    unsigned int errors;
    unsigned int cap_irqs, cap_mmio;
};

/* One line on the report: "warning: ..." (counted in out->warnings) or
 * "error: ..." (counted in c->errors: the parse fails). */
static void note(struct dt_ctx *c, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(struct dt_ctx *c, bool error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(error ? "error: " : "warning: ", c->report);
    vfprintf(c->report, fmt, ap);
    fputc('\n', c->report);
    va_end(ap);
    if (error)
        c->errors++;
    else
        c->out->warnings++;
}
#define warn(c, ...) note((c), false, __VA_ARGS__)
#define err(c, ...) note((c), true, __VA_ARGS__)

/* uvmm's decode_resource_id: '0'-'9' then 'A'-'Z'. */
static int decode_id(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A' + 10;
    return -1;
}

static void node_path(const void *fdt, int off, char *buf, size_t n)
{
    if (fdt_get_path(fdt, off, buf, (int)n) < 0)
        snprintf(buf, n, "%s", "(path too long)");
}

static const char *node_name(const void *fdt, int off)
{
    const char *s = fdt_get_name(fdt, off, NULL);
    return s ? s : "?";
}

/* Cell i of a property; memcpy because a blob handed to us need not be
 * 4-byte aligned in memory. */
static uint32_t cell(const void *p, int i)
{
    fdt32_t v;
    memcpy(&v, (const char *)p + 4 * i, sizeof(v));
    return fdt32_to_cpu(v);
}

static uint64_t cells64(const void *p, int i, int n)
{
    uint64_t v = 0;
    for (int k = 0; k < n; k++)
        v = (v << 32) | cell(p, i + k);
    return v;
}

/* The interrupt parent of off: interrupt-parent on the node or the nearest
 * ancestor that has one (bounded by the tree depth, iterative). */
static int irq_parent(const void *fdt, int off)
{
    for (int depth = 0; off >= 0 && depth < 64; depth++) {
        int len;
        const void *p = fdt_getprop(fdt, off, "interrupt-parent", &len);
        if (p && len == 4)
            return fdt_node_offset_by_phandle(fdt, cell(p, 0));
        off = fdt_parent_offset(fdt, off);
    }
    return -FDT_ERR_NOTFOUND;
}

static const char *sink_name(enum config_dt_sink s)
{
    return s == CONFIG_DT_IOAPIC ? "ioapic pin" : "pirq gsi";
}

/* The array arr of n bindings (elements of size bytes) with room for one
 * more: arr, or arr grown (its capacity *cap doubling from 8). NULL (arr
 * left as it was) with *rc = 0 after an error when it holds DT_MAX_BINDINGS
 * (what: their name in it), or *rc = -ENOMEM. */
static void *grow(struct dt_ctx *c, void *arr, unsigned int n, unsigned int *cap,
                  size_t size, const char *what, int *rc)
{
    *rc = 0;
    if (n == DT_MAX_BINDINGS) {
        err(c, "more than %u %s", DT_MAX_BINDINGS, what);
        return NULL;
    }
    if (n < *cap)
        return arr;
    unsigned int m = *cap ? *cap * 2 : 8;
    void *p = realloc(arr, m * size);
    if (p)
        *cap = m;
    else
        *rc = -ENOMEM;
    return p;
}

static int add_irq(struct dt_ctx *c, const struct config_dt_irq *b,
                   const char *hostdev)
{
    struct config_dt *o = c->out;
    for (unsigned int i = 0; i < o->nr_irqs; i++) {
        const struct config_dt_irq *x = &o->irqs[i];
        if (x->host_line == b->host_line) {
            if (x->sink == b->sink && x->guest_irq == b->guest_irq) {
                warn(c, "%s interrupts[%u]: host line %u -> %s %u already "
                     "registered by %s interrupts[%u]", b->node, b->index,
                     b->host_line, sink_name(b->sink), b->guest_irq, x->node,
                     x->index);
                return 0;
            }
            err(c, "host line %u: %s interrupts[%u] -> %s %u conflicts with "
                "%s interrupts[%u] -> %s %u (the line is already bound)",
                b->host_line, b->node, b->index, sink_name(b->sink),
                b->guest_irq, x->node, x->index, sink_name(x->sink),
                x->guest_irq);
            return 0;
        }
        if (x->sink == CONFIG_DT_IOAPIC && b->sink == CONFIG_DT_IOAPIC &&
            x->guest_irq == b->guest_irq) {
            err(c, "ioapic pin %u: %s irq%u = host line %u (device '%s'): "
                "pin already bound to different host line %u by %s "
                "interrupts[%u]", b->guest_irq, b->node, b->index,
                b->host_line, hostdev, x->host_line, x->node, x->index);
            return 0;
        }
    }
    int rc;
    struct config_dt_irq *irqs = grow(c, o->irqs, o->nr_irqs, &c->cap_irqs,
                                      sizeof(*irqs), "interrupt bindings", &rc);
    if (!irqs)
        return rc;
    o->irqs = irqs;
    o->irqs[o->nr_irqs++] = *b;
    return 0;
}

static int add_mmio(struct dt_ctx *c, const struct config_dt_mmio *m)
{
    struct config_dt *o = c->out;
    int rc;
    struct config_dt_mmio *mmio = grow(c, o->mmio, o->nr_mmio, &c->cap_mmio,
                                       sizeof(*mmio), "MMIO regions", &rc);
    if (!mmio)
        return rc;
    o->mmio = mmio;
    o->mmio[o->nr_mmio++] = *m;
    return 0;
}

/* The guest node of a pass-through and the host device it takes. */
struct guest_node {
    char path[96];
    const char *dev;              /* host device name */
    const void *ints;             /* its interrupts, numint of cells each */
    int cells, numint;
    enum config_dt_sink sink;
    bool have_ic;                 /* its interrupt parent is one of ours */
    const void *reg;              /* its reg, numreg of ac + sc cells */
    int ac, sc, numreg;
};

/* The guest side: interrupts and their controller, reg and its cells. */
static void guest_side(struct dt_ctx *c, int gnode, struct guest_node *g)
{
    const void *fdt = c->fdt;
    int ilen = 0;
    g->ints = fdt_getprop(fdt, gnode, "interrupts", &ilen);
    g->sink = CONFIG_DT_IOAPIC;
    if (g->ints) {
        int ic = irq_parent(fdt, gnode);
        int clen;
        const void *cp = ic >= 0 ? fdt_getprop(fdt, ic, "#interrupt-cells", &clen)
                                 : NULL;
        if (ic < 0) {
            err(c, "%s: interrupt parent not found", g->path);
        } else if (!cp || clen != 4 || (g->cells = (int)cell(cp, 0)) < 1 ||
                   g->cells > 4) {
            err(c, "%s: interrupt parent '%s' needs #interrupt-cells 1..4",
                g->path, node_name(fdt, ic));
        } else if (fdt_node_check_compatible(fdt, ic, "xenkvm,ioapic") == 0) {
            g->have_ic = true;
        } else if (fdt_node_check_compatible(fdt, ic, "xenkvm,pirq") == 0) {
            g->have_ic = true;
            g->sink = CONFIG_DT_PIRQ;
        } else {
            warn(c, "%s: irqs are handled by '%s', ignoring irq assignments",
                 g->path, node_name(fdt, ic));
        }
        if (g->have_ic)
            g->numint = ilen / (4 * g->cells);
    }
    int parent = fdt_parent_offset(fdt, gnode);
    g->ac = parent >= 0 ? fdt_address_cells(fdt, parent) : 2;
    g->sc = parent >= 0 ? fdt_size_cells(fdt, parent) : 1;
    if (g->ac < 1 || g->ac > 2 || g->sc < 0 || g->sc > 2) {
        err(c, "%s: #address-cells/#size-cells of its parent must be 1..2/0..2",
            g->path);
        g->ac = g->sc = -1;
    }
    int rlen = 0;
    g->reg = fdt_getprop(fdt, gnode, "reg", &rlen);
    g->numreg = (g->reg && g->ac > 0) ? rlen / (4 * (g->ac + g->sc)) : 0;
}

/* X of the host resource name of device dev, which should be prefix X
 * (prefix "irq" or "reg", X one of 0-9A-Z; kind and lower name it in
 * messages): X, or -1 after uvmm's warning (another name: the resource is
 * ignored) or error (a bad X). */
static int resource_id(struct dt_ctx *c, const char *dev, const char *name,
                       const char *prefix, const char *kind, const char *lower)
{
    if (strncmp(name, prefix, 3)) {
        warn(c, "%s resource '%.32s' of device '%s' ignored. Should "
             "be named '%s[0-9A-Z]'.", kind, name, dev, prefix);
        return -1;
    }
    int id = strlen(name) == 4 ? decode_id(name[3]) : -1;
    if (id < 0)
        err(c, "IO device '%s' has invalid %s resource id. Expected "
            "'%s[0-9A-Z]', got '%.8s'", dev, lower, prefix, name);
    return id;
}

/* Host resource irqX = <line>: the guest's interrupts[X]. 0 or -ENOMEM. */
static int irq_resource(struct dt_ctx *c, const struct guest_node *g,
                        const char *name, const void *val)
{
    const char *dev = g->dev;
    int id = resource_id(c, dev, name, "irq", "IRQ", "irq");
    if (id < 0)
        return 0;
    if (!g->have_ic)
        return 0;
    if (id >= g->numint) {
        warn(c, "%s: IO IRQ resource '%s' of device '%s' is out of "
             "bounds: the node has %d interrupts", g->path, name, dev,
             g->numint);
        return 0;
    }
    struct config_dt_irq b = { .index = (unsigned int)id, .sink = g->sink };
    snprintf(b.node, sizeof(b.node), "%s", g->path);
    uint32_t line = cell(val, 0);
    if (line >= IRQ_MAX_LINES) {
        err(c, "IO device '%s' resource %s: host line %u beyond %u",
            dev, name, line, IRQ_MAX_LINES - 1);
        return 0;
    }
    b.host_line = line;
    b.guest_irq = cell(g->ints, id * g->cells);
    uint32_t flags = g->cells >= 2 ? cell(g->ints, id * g->cells + 1)
                                   : DT_LEVEL_HIGH;
    switch (flags) {
    case DT_EDGE_RISING: b.mode.trigger = IRQ_EDGE; break;
    case DT_EDGE_FALLING:
        b.mode.trigger = IRQ_EDGE;
        b.mode.polarity = IRQ_ACTIVE_LOW;
        break;
    case DT_LEVEL_HIGH: b.mode.trigger = IRQ_LEVEL; break;
    case DT_LEVEL_LOW:
        b.mode.trigger = IRQ_LEVEL;
        b.mode.polarity = IRQ_ACTIVE_LOW;
        break;
    default:
        err(c, "%s interrupts[%d]: flags %u is not one of 1, 2, 4, 8 "
            "(IRQ_TYPE_*)", g->path, id, flags);
        return 0;
    }
    if (g->sink == CONFIG_DT_PIRQ && b.guest_irq != line) {
        err(c, "%s interrupts[%d]: a PIRQ's GSI is the host line: "
            "GSI %u but %s = host line %u", g->path, id, b.guest_irq,
            name, line);
        return 0;
    }
    return add_irq(c, &b, dev) < 0 ? -ENOMEM : 0;
}

/* Host resource regX = <addr-hi addr-lo size-hi size-lo>: the guest's
 * reg[X]. 0 or -ENOMEM. */
static int mmio_resource(struct dt_ctx *c, const struct guest_node *g,
                         const char *name, const void *val)
{
    const char *dev = g->dev;
    int id = resource_id(c, dev, name, "reg", "MMIO", "mmio");
    if (id < 0)
        return 0;
    if (id >= g->numreg) {
        warn(c, "%s: IO MMIO resource '%s' of device '%s' is out of "
             "bounds: the node has %d reg entries", g->path, name, dev,
             g->numreg);
        return 0;
    }
    int ac = g->ac, sc = g->sc;
    struct config_dt_mmio m = { .index = (unsigned int)id };
    snprintf(m.node, sizeof(m.node), "%s", g->path);
    m.host_addr = cells64(val, 0, 2);
    m.size = cells64(val, 2, 2);
    m.guest_addr = cells64(g->reg, id * (ac + sc), ac);
    uint64_t gsize = sc ? cells64(g->reg, id * (ac + sc) + ac, sc) : 0;
    if (m.size == 0 || (m.host_addr | m.size | m.guest_addr) & 0xfff ||
        m.host_addr + m.size < m.host_addr) {
        err(c, "IO device '%s' %s: MMIO must be whole 4 KiB pages",
            dev, name);
        return 0;
    }
    if (gsize != m.size)
        warn(c, "%s reg[%d]: size 0x%llx differs from %s of device "
             "'%s' (0x%llx); the host size is used", g->path, id,
             (unsigned long long)gsize, name, dev,
             (unsigned long long)m.size);
    return add_mmio(c, &m) < 0 ? -ENOMEM : 0;
}

/* Pass guest node gnode through with host device hdev's resources. */
static int passthrough(struct dt_ctx *c, int gnode, int hdev)
{
    const void *fdt = c->fdt;
    struct guest_node g = { .dev = node_name(fdt, hdev) };
    node_path(fdt, gnode, g.path, sizeof(g.path));
    guest_side(c, gnode, &g);

    /* the host side: every property of the device is a resource */
    int prop;
    fdt_for_each_property_offset(prop, fdt, hdev) {
        const char *name;
        int len, rc = 0;
        const void *val = fdt_getprop_by_offset(fdt, prop, &name, &len);
        if (!val || !name)
            continue;
        if (!strcmp(name, "compatible") || !strcmp(name, "phandle") ||
            !strcmp(name, "linux,phandle") || !strcmp(name, "name"))
            continue;
        if (len == 4)
            rc = irq_resource(c, &g, name, val);
        else if (len == 16)
            rc = mmio_resource(c, &g, name, val);
        else
            warn(c, "resource '%.32s' of device '%s' ignored: expected irqX = "
                 "<line> or regX = <addr-hi addr-lo size-hi size-lo>", name,
                 g.dev);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void config_dt_free(struct config_dt *c)
{
    if (!c)
        return;
    free(c->irqs);
    free(c->mmio);
    memset(c, 0, sizeof(*c));
}

static uint32_t be32_at(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Validate the header's blocks and walk the structure block once, in 64-bit
 * arithmetic: every tag inside the block, every node name terminated inside
 * it, every property's value inside it and its name offset inside the
 * strings block, nodes balanced, FDT_END last. Each step moves forward, so
 * the walk ends after at most size/4 tags. 0, or -1 with the reason on
 * report. After this, libfdt's own offset arithmetic cannot wrap. */
static int check_blob(const void *blob, size_t len, FILE *report)
{
    const unsigned char *b = blob;
    int hrc = fdt_check_header(blob);
    if (hrc) {
        fprintf(report, "error: not a valid device tree blob: %s\n",
                fdt_strerror(hrc));
        return -1;
    }
    uint64_t total = fdt_totalsize(blob);
    uint64_t so = fdt_off_dt_struct(blob), ssz;
    uint64_t stro = fdt_off_dt_strings(blob), strsz = fdt_size_dt_strings(blob);
    /* version 16 headers have no size_dt_struct: the block may run to the
     * end of the blob */
    ssz = fdt_version(blob) >= 17 ? fdt_size_dt_struct(blob) : total - so;
    if (total > len || so > total || ssz > total - so || stro > total ||
        strsz > total - stro || (so & 3)) {
        fprintf(report, "error: not a valid device tree blob: blocks outside "
                "its %zu bytes\n", len);
        return -1;
    }
    const unsigned char *s = b + so;
    uint64_t off = 0;
    long depth = 0;
    bool seen_root = false;
    for (;;) {
        if (ssz - off < 4)
            goto trunc;
        uint32_t tag = be32_at(s + off);
        uint64_t at = off;
        off += 4;
        switch (tag) {
        case FDT_BEGIN_NODE: {
            if (depth == 0 && seen_root) {
                fprintf(report, "error: not a valid device tree blob: a "
                        "second root node at struct offset %llu\n",
                        (unsigned long long)at);
                return -1;
            }
            const unsigned char *nul = memchr(s + off, 0, ssz - off);
            if (!nul)
                goto trunc;
            off = ((uint64_t)(nul - s) + 1 + 3) & ~3ull;
            depth++;
            seen_root = true;
            break;
        }
        case FDT_END_NODE:
            if (depth-- == 0) {
                fprintf(report, "error: not a valid device tree blob: "
                        "unbalanced end of node at struct offset %llu\n",
                        (unsigned long long)at);
                return -1;
            }
            break;
        case FDT_PROP: {
            if (ssz - off < 8)
                goto trunc;
            uint64_t plen = be32_at(s + off), nameoff = be32_at(s + off + 4);
            off += 8;
            if (depth == 0 || plen > ssz - off || nameoff >= strsz) {
                fprintf(report, "error: not a valid device tree blob: property "
                        "at struct offset %llu (property length %llu, name "
                        "offset %llu) outside its node or block\n",
                        (unsigned long long)at, (unsigned long long)plen,
                        (unsigned long long)nameoff);
                return -1;
            }
            off = (off + plen + 3) & ~3ull;
            break;
        }
        case FDT_NOP:
            break;
        case FDT_END:
            if (depth != 0 || !seen_root) {
                fprintf(report, "error: not a valid device tree blob: end "
                        "inside a node or before the root\n");
                return -1;
            }
            return 0;
        default:
            fprintf(report, "error: not a valid device tree blob: tag 0x%x at "
                    "struct offset %llu\n", tag, (unsigned long long)at);
            return -1;
        }
        if (off > ssz)
            goto trunc;
    }
trunc:
    fprintf(report, "error: not a valid device tree blob: structure block "
            "truncated\n");
    return -1;
}

int config_dt_parse(const void *blob, size_t len, FILE *report,
                 struct config_dt *out)
{
    memset(out, 0, sizeof(*out));
    if (!blob || len < sizeof(struct fdt_header) || len > DT_MAX_BLOB) {
        fprintf(report, "error: not a device tree blob (size %zu)\n", len);
        return -EINVAL;
    }
    /* libfdt 1.6.1's fdt_check_full dereferences NULL on a tree older than
     * version 16 (fdt_get_name fails on the old name format; found by
     * fuzz/config_dt.c). dtc has written version 17 since 2007: refuse older. */
    if (fdt_magic(blob) != FDT_MAGIC || fdt_version(blob) < 16) {
        fprintf(report, "error: not a device tree blob of version 16 or later\n");
        return -EINVAL;
    }
    if (check_blob(blob, len, report) < 0)
        return -EINVAL;
    int frc = fdt_check_full(blob, len);
    if (frc) {
        fprintf(report, "error: not a valid device tree blob: %s\n",
                fdt_strerror(frc));
        return -EINVAL;
    }
    struct dt_ctx c = { .fdt = blob, .report = report, .out = out };
    int plen;
    const void *p = fdt_getprop(blob, 0, "xenkvm,domid", &plen);
    if (p && plen == 4) {
        out->has_domid = true;
        out->domid = cell(p, 0);
    }

    struct hostdev *hd = NULL;
    int nhd = 0, rc = 0;
    int io = fdt_path_offset(blob, "/xenkvm-io");
    if (io >= 0) {
        hd = calloc(DT_MAX_HOSTDEV, sizeof(*hd));
        if (!hd)
            return -ENOMEM;
        int sub;
        fdt_for_each_subnode(sub, blob, io) {
            if (nhd == DT_MAX_HOSTDEV) {
                err(&c, "/xenkvm-io: more than %d devices", DT_MAX_HOSTDEV);
                break;
            }
            if (!fdt_getprop(blob, sub, "compatible", NULL)) {
                warn(&c, "/xenkvm-io/%s: no compatible, never assigned",
                     node_name(blob, sub));
                continue;
            }
            hd[nhd++] = (struct hostdev){ .off = sub };
        }
    }

    /* every node outside /xenkvm-io, in tree order */
    int depth = 0, skip_below = -1;
    for (int off = fdt_next_node(blob, -1, &depth); off >= 0;
         off = fdt_next_node(blob, off, &depth)) {
        if (skip_below >= 0) {
            if (depth > skip_below)
                continue;
            skip_below = -1;
        }
        if (off == io) {
            skip_below = depth;
            continue;
        }
        int ncompat = fdt_stringlist_count(blob, off, "compatible");
        for (int k = 0; k < ncompat; k++) {
            const char *compat = fdt_stringlist_get(blob, off, "compatible", k,
                                                    NULL);
            int match = -1;
            for (int h = 0; compat && h < nhd && match < 0; h++)
                if (!hd[h].assigned &&
                    fdt_node_check_compatible(blob, hd[h].off, compat) == 0)
                    match = h;
            if (match < 0)
                continue;
            hd[match].assigned = true;
            rc = passthrough(&c, off, hd[match].off);
            break;
        }
        if (rc < 0)
            break;
    }
    free(hd);
    if (rc == 0 && c.errors)
        rc = -EINVAL;
    if (rc < 0)
        config_dt_free(out);
    return rc;
}

int config_dt_load(const char *path, FILE *report, struct config_dt *out)
{
    char *blob;
    size_t len;
    memset(out, 0, sizeof(*out));
    int rc = config_read(path, "device tree", DT_MAX_BLOB, report, &blob, &len);
    if (rc < 0)
        return rc;
    char *msg = NULL;
    size_t mlen = 0;
    FILE *rep = open_memstream(&msg, &mlen);
    rc = rep ? config_dt_parse(blob, len, rep, out) : -ENOMEM;
    if (rep)
        fclose(rep);
    free(blob);
    /* every report line names the file: the tree is per domain */
    for (char *line = msg, *nl; line && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        fprintf(report, "%s: %s\n", path, line);
        if (!nl)
            break;
    }
    free(msg);
    if (rc < 0 && rc != -EINVAL)
        fprintf(report, "%s: %s\n", path, strerror(-rc));
    return rc;
}

int config_irq_merge_dt(struct config_irq *c, const struct config_dt *dt)
{
    size_t ng = c->nr_grants + dt->nr_irqs, nm = c->nr_iomem + dt->nr_mmio,
           np = c->nr_pins + dt->nr_irqs;
    uint32_t *g = realloc(c->grants, (ng + 1) * sizeof(*g));
    if (!g)
        return -ENOMEM;
    c->grants = g;
    struct config_iomem *m = realloc(c->iomem, (nm + 1) * sizeof(*m));
    if (!m)
        return -ENOMEM;
    c->iomem = m;
    struct config_pin *p = realloc(c->pins, (np + 1) * sizeof(*p));
    if (!p)
        return -ENOMEM;
    c->pins = p;
    for (unsigned int i = 0; i < dt->nr_irqs; i++) {
        const struct config_dt_irq *q = &dt->irqs[i];
        if (q->sink == CONFIG_DT_PIRQ)
            c->grants[c->nr_grants++] = q->host_line;
        else
            c->pins[c->nr_pins++] = (struct config_pin){
                .line = q->host_line, .pin = q->guest_irq };
    }
    for (unsigned int i = 0; i < dt->nr_mmio; i++) {
        const struct config_dt_mmio *r = &dt->mmio[i];
        c->iomem[c->nr_iomem++] = (struct config_iomem){
            .pfn = r->host_addr >> 12, .nr = r->size >> 12,
            .gfn = r->guest_addr >> 12 };
    }
    return 0;
}

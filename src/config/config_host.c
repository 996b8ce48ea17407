/*
 * xenkvm's host interrupt file: which source backs each host line and which
 * host MMIO a domain's iomem= may map (syntax in config.h). Read with
 * libxlutil like an xl.cfg; this file checks the values and, in
 * config_host_apply, builds the ICU with a source per line. Every value is
 * untrusted: a bad one is one message naming the file, the setting and the
 * entry, and -EINVAL.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

void config_host_free(struct config_host *c)
{
    if (!c)
        return;
    free(c->lines);
    free(c->mmio);
    memset(c, 0, sizeof(*c));
}

/* "PFN,NR=file:PATH" or "PFN,NR=uio:PATH[:MAP]" (see config.h). */
static bool parse_mmio(const char *s, struct config_host_mmio *m,
                       const char **why)
{
    char buf[256];
    *why = "expected \"PFN,NR=file:PATH\" or \"PFN,NR=uio:/dev/uioN[:MAP]\"";
    if (!s || strlen(s) >= sizeof(buf))
        return false;
    strcpy(buf, s);
    char *eq = strchr(buf, '=');
    char *comma = strchr(buf, ',');
    if (!eq || !comma || comma > eq)
        return false;
    *comma = '\0';
    *eq = '\0';
    memset(m, 0, sizeof(*m));
    if (!config_parse_u64(buf, 16, &m->pfn) || !config_parse_u64(comma + 1, 16, &m->nr))
        return false;
    const uint64_t max = 1ull << 52;
    if (m->nr == 0 || m->pfn >= max || m->nr > max - m->pfn) {
        *why = "frame range empty or beyond 2^52";
        return false;
    }
    char *what = eq + 1, *path;
    if (!strncmp(what, "file:", 5)) {
        path = what + 5;
    } else if (!strncmp(what, "uio:", 4)) {
        m->uio = true;
        path = what + 4;
        char *colon = strchr(path, ':');
        if (colon) {
            uint64_t map;
            *colon = '\0';
            if (!config_parse_u64(colon + 1, 10, &map) || map > 4) {
                *why = "UIO map index must be 0..4";
                return false;
            }
            m->uio_map = (unsigned int)map;
        }
    } else {
        return false;
    }
    if (!*path || path[0] != '/' || strlen(path) >= sizeof(m->path)) {
        *why = "the path must be absolute and shorter than 128 bytes";
        return false;
    }
    strcpy(m->path, path);
    return true;
}

static int parse_mmio_list(XLU_Config *c, const char *name, FILE *report,
                           struct config_host *out)
{
    XLU_ConfigList *l;
    int n = 0;
    int rc = config_get_list(c, "mmio", name, report, &l, &n);
    if (rc || n == 0)
        return rc;
    out->mmio = calloc((size_t)n, sizeof(*out->mmio));
    if (!out->mmio)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        const char *s = xlu_cfg_get_listitem(l, i);
        const char *why;
        struct config_host_mmio *m = &out->mmio[out->nr_mmio];
        if (!parse_mmio(s, m, &why)) {
            fprintf(report, "%s: mmio entry %d ('%.60s'): %s\n", name, i + 1,
                    s ? s : "(a list)", why);
            return -EINVAL;
        }
        for (unsigned int j = 0; j < out->nr_mmio; j++) {
            const struct config_host_mmio *o = &out->mmio[j];
            if (m->pfn < o->pfn + o->nr && o->pfn < m->pfn + m->nr) {
                fprintf(report, "%s: mmio entries %u and %d overlap\n", name,
                        j + 1, i + 1);
                return -EINVAL;
            }
        }
        out->nr_mmio++;
    }
    return 0;
}

/* "1000us", "5ms", "2s", "250000ns" */
static bool parse_duration(const char *s, uint64_t *ns)
{
    static const struct { const char *unit; uint64_t mul; } units[] = {
        { "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000 },
    };
    char num[24];
    size_t digits = strspn(s, "0123456789");
    if (digits == 0 || digits >= sizeof(num))
        return false;
    memcpy(num, s, digits);
    num[digits] = '\0';
    uint64_t v;
    if (!config_parse_u64(num, 10, &v))
        return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(s + digits, units[i].unit)) {
            if (v > UINT64_MAX / units[i].mul)
                return false;
            *ns = v * units[i].mul;
            return *ns >= 1000 && *ns <= 3600ull * 1000000000ull;
        }
    return false;
}

/* One "N=SOURCE[,option...]" entry; *why says what is wrong. */
static bool parse_line(const char *s, struct config_host_line *lc,
                       const char **why)
{
    char buf[160];
    memset(lc, 0, sizeof(*lc));
    if (!s || strlen(s) >= sizeof(buf)) {
        *why = "expected \"LINE=SOURCE[,OPTION...]\" (at most 159 characters)";
        return false;
    }
    strcpy(buf, s);
    char *eq = strchr(buf, '=');
    if (!eq) {
        *why = "expected \"LINE=SOURCE[,OPTION...]\"";
        return false;
    }
    *eq = '\0';
    uint64_t line;
    if (!config_parse_u64(buf, 10, &line) || line >= IRQ_MAX_LINES) {
        *why = "the line number must be 0..1023";
        return false;
    }
    lc->line = (unsigned int)line;
    char *save = NULL;
    char *src = strtok_r(eq + 1, ",", &save);
    if (!src) {
        *why = "missing source (eventfd, timerfd:PERIOD, timerfd:once:DELAY, uio:PATH)";
        return false;
    }
    bool trigger_set = false;
    if (!strcmp(src, "eventfd")) {
        lc->kind = CONFIG_SRC_EVENTFD;
    } else if (!strncmp(src, "timerfd:", 8)) {
        lc->kind = CONFIG_SRC_TIMERFD;
        const char *d = src + 8;
        lc->periodic = strncmp(d, "once:", 5) != 0;
        if (!lc->periodic)
            d += 5;
        if (!parse_duration(d, &lc->period_ns)) {
            *why = "timer period must be a number with ns/us/ms/s, 1us..1h";
            return false;
        }
    } else if (!strncmp(src, "uio:", 4)) {
        lc->kind = CONFIG_SRC_UIO;
        if (src[4] != '/' || strlen(src + 4) >= sizeof(lc->path)) {
            *why = "uio needs an absolute device path (uio:/dev/uioN)";
            return false;
        }
        strcpy(lc->path, src + 4);
        lc->mode.trigger = IRQ_LEVEL;   /* UIO lines are usually level */
    } else {
        *why = "unknown source (eventfd, timerfd:PERIOD, timerfd:once:DELAY, uio:PATH)";
        return false;
    }
    for (char *o; (o = strtok_r(NULL, ",", &save));) {
        if (!strcmp(o, "edge") || !strcmp(o, "level")) {
            if (trigger_set) {
                *why = "edge/level given twice";
                return false;
            }
            trigger_set = true;
            lc->mode.trigger = o[0] == 'e' ? IRQ_EDGE : IRQ_LEVEL;
        } else if (!strcmp(o, "high") || !strcmp(o, "rising")) {
            lc->mode.polarity = IRQ_ACTIVE_HIGH;
        } else if (!strcmp(o, "low") || !strcmp(o, "falling")) {
            lc->mode.polarity = IRQ_ACTIVE_LOW;
        } else if (!strcmp(o, "ack=unmask")) {
            lc->mode.ack = IRQ_ACK_UNMASK;
        } else if (!strcmp(o, "ack=eoi")) {
            lc->mode.ack = IRQ_ACK_EOI;
        } else {
            *why = "unknown option (edge, level, high, low, ack=unmask, ack=eoi)";
            return false;
        }
    }
    return true;
}

int config_host_parse(const char *data, size_t len, const char *name,
                       FILE *report, struct config_host *out)
{
    int rc;
    memset(out, 0, sizeof(*out));
    name = name ? name : "host irq config";
    XLU_Config *c = config_xlu_open(data, len, name, report, &rc);
    if (!c)
        return rc;
    long nr = 0;
    int e = xlu_cfg_get_bounded_long(c, "nr_lines", 1, IRQ_MAX_LINES, &nr, 1);
    if (e && e != ESRCH) {
        fprintf(report, "%s: nr_lines must be a number 1..%u\n", name,
                IRQ_MAX_LINES);
        rc = -EINVAL;
    }
    XLU_ConfigList *l;
    int n = 0;
    if (rc == 0)
        rc = config_get_list(c, "line", name, report, &l, &n);
    if (rc == 0 && n > 0) {
        out->lines = calloc((size_t)n, sizeof(*out->lines));
        if (!out->lines)
            rc = -ENOMEM;
    }
    unsigned int max_line = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        const char *s = xlu_cfg_get_listitem(l, i);
        const char *why = NULL;
        struct config_host_line *lc = &out->lines[out->n];
        if (!parse_line(s, lc, &why)) {
            fprintf(report, "%s: line entry %d ('%.40s'): %s\n", name, i + 1,
                    s ? s : "(a list)", why);
            rc = -EINVAL;
            break;
        }
        for (unsigned int j = 0; j < out->n; j++)
            if (out->lines[j].line == lc->line) {
                fprintf(report, "%s: line %u is configured twice (entries %u "
                        "and %d)\n", name, lc->line, j + 1, i + 1);
                rc = -EINVAL;
            }
        if (lc->line + 1 > max_line)
            max_line = lc->line + 1;
        out->n++;
    }
    if (rc == 0) {
        if (nr && max_line > (unsigned long)nr) {
            fprintf(report, "%s: line %u is beyond nr_lines = %ld\n", name,
                    max_line - 1, nr);
            rc = -EINVAL;
        }
        out->nr_lines = nr ? (unsigned int)nr : (max_line ? max_line : 1);
    }
    if (rc == 0)
        rc = parse_mmio_list(c, name, report, out);
    xlu_cfg_destroy(c);
    if (rc)
        config_host_free(out);
    return rc;
}

int config_host_load(const char *path, FILE *report, struct config_host *out)
{
    char *text;
    size_t len;
    memset(out, 0, sizeof(*out));
    int rc = config_read(path, "host interrupt config", CONFIG_MAX_TEXT,
                         report, &text, &len);
    if (rc < 0)
        return rc;
    rc = config_host_parse(text, len, path, report, out);
    free(text);
    return rc;
}

int config_host_apply(const struct config_host *c, struct irq_icu **out,
                       FILE *report)
{
    struct irq_icu *icu = irq_icu_create(c->nr_lines);
    if (!icu)
        return -errno;
    for (unsigned int i = 0; i < c->n; i++) {
        const struct config_host_line *lc = &c->lines[i];
        struct irq_source *s = NULL;
        int rc;
        switch (lc->kind) {
        case CONFIG_SRC_EVENTFD:
            rc = irq_source_eventfd(-1, &s);
            break;
        case CONFIG_SRC_TIMERFD:
            rc = irq_source_timerfd(lc->period_ns, lc->periodic, &s);
            break;
        case CONFIG_SRC_UIO:
            rc = irq_source_uio(lc->path, &s);
            break;
        default:
            rc = -EINVAL;
        }
        if (rc == 0)
            rc = irq_icu_set_source(icu, lc->line, s, lc->mode);
        if (rc < 0) {
            fprintf(report, "host line %u: cannot set up its source%s%s: %s\n",
                    lc->line, lc->kind == CONFIG_SRC_UIO ? " " : "",
                    lc->kind == CONFIG_SRC_UIO ? lc->path : "", strerror(-rc));
            irq_icu_destroy(icu);
            return rc;
        }
    }
    *out = icu;
    return 0;
}

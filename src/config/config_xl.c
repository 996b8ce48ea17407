/*
 * A domain's xl.cfg, read once with libxlutil (the parser xl itself uses),
 * so quoting, comments and lists behave as in xl; this file only checks the
 * values of the keys xenkvm reads (see config.h) and fills one struct
 * config_domain. Every value is untrusted: a bad one is one message naming
 * the file, the key and the entry, and -EINVAL. Also the libxlutil helpers
 * the host file's parser shares (config_int.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libxl.h>

#include "xenkvm/util.h"
#include "config_int.h"

XLU_Config *config_xlu_open(const char *data, size_t len, const char *name,
                            FILE *report, int *rc)
{
    if (len > CONFIG_MAX_TEXT) {
        fprintf(report, "%s: larger than 1 MiB\n", name);
        *rc = -EINVAL;
        return NULL;
    }
    /* libxlutil 4.17 asserts (aborts) on a NUL byte inside a quoted string
     * (found by fuzz/config_xl.c); a text file has none, so refuse it here. */
    if (memchr(data, '\0', len)) {
        fprintf(report, "%s: contains a NUL byte, not a text file\n", name);
        *rc = -EINVAL;
        return NULL;
    }
    XLU_Config *c = xlu_cfg_init(report, name);
    if (!c) {
        *rc = -ENOMEM;
        return NULL;
    }
    /* libxlutil prints the syntax error (file:line: ...) itself */
    int e = xlu_cfg_readdata(c, data, (int)len);
    if (e) {
        xlu_cfg_destroy(c);
        *rc = e == ENOMEM ? -ENOMEM : -EINVAL;
        return NULL;
    }
    *rc = 0;
    return c;
}

bool config_parse_u64(const char *s, int base, uint64_t *v)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return false;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, base);
    if (errno || *end)
        return false;
    *v = x;
    return true;
}

int config_get_list(XLU_Config *c, const char *n, const char *file,
                    FILE *report, XLU_ConfigList **list, int *count)
{
    *list = NULL;
    *count = 0;
    int e = xlu_cfg_get_list(c, n, list, count, 0);
    if (e == ESRCH)
        return 0;
    if (e) {
        fprintf(report, "%s: %s must be a list [ ... ]\n", file, n);
        return -EINVAL;
    }
    if ((unsigned int)*count > CONFIG_MAX_ENTRIES) {
        fprintf(report, "%s: %s has %d entries, at most %u\n", file, n, *count,
                CONFIG_MAX_ENTRIES);
        return -EINVAL;
    }
    return 0;
}

int config_read(const char *path, const char *what, size_t max, FILE *report,
                char **text, size_t *len)
{
    int rc = util_read_file(path, max, text, len);
    if (rc == -EFBIG)
        fprintf(report, "cannot read %s '%s': larger than %zu KiB\n", what,
                path, max >> 10);
    else if (rc < 0)
        fprintf(report, "cannot read %s '%s': %s\n", what, path,
                strerror(-rc));
    return rc;
}

void config_irq_free(struct config_irq *c)
{
    if (!c)
        return;
    free(c->grants);
    free(c->iomem);
    free(c->pins);
    memset(c, 0, sizeof(*c));
}

/* irqs= entry: a host line, decimal; into a uint32_t. */
static bool parse_line(const char *s, void *out)
{
    uint64_t v;
    if (!config_parse_u64(s, 10, &v) || v >= IRQ_MAX_LINES)
        return false;
    *(uint32_t *)out = (uint32_t)v;
    return true;
}

/* iomem= entry: "PFN,NR[@GFN]", hex as in xl.cfg(5); into a config_iomem. */
static bool parse_iomem(const char *s, void *out)
{
    struct config_iomem *m = out;
    char buf[64];
    if (!s || strlen(s) >= sizeof(buf))
        return false;
    strcpy(buf, s);
    char *comma = strchr(buf, ',');
    if (!comma)
        return false;
    *comma = '\0';
    char *at = strchr(comma + 1, '@');
    if (at)
        *at = '\0';
    if (!config_parse_u64(buf, 16, &m->pfn) ||
        !config_parse_u64(comma + 1, 16, &m->nr))
        return false;
    m->gfn = m->pfn;
    if (at && !config_parse_u64(at + 1, 16, &m->gfn))
        return false;
    /* a page count of 0 maps nothing; frames beyond 2^52 do not exist */
    const uint64_t max = 1ull << 52;
    return m->nr > 0 && m->pfn < max && m->nr <= max - m->pfn &&
           m->gfn < max && m->nr <= max - m->gfn;
}

/* irq_pins= entry: "LINE@PIN", decimal; into a config_pin. */
static bool parse_pin(const char *s, void *out)
{
    struct config_pin *p = out;
    char buf[32];
    uint64_t line, pin;
    if (!s || strlen(s) >= sizeof(buf))
        return false;
    strcpy(buf, s);
    char *at = strchr(buf, '@');
    if (!at)
        return false;
    *at = '\0';
    if (!config_parse_u64(buf, 10, &line) || !config_parse_u64(at + 1, 10, &pin) ||
        line >= IRQ_MAX_LINES || pin > 255)
        return false;
    *p = (struct config_pin){ .line = (uint32_t)line, .pin = (uint32_t)pin };
    return true;
}

/* A list key whose entries each parse into one element of an array. */
struct list_key {
    const char *key;
    size_t size;                                  /* of one element */
    bool (*parse)(const char *s, void *elem);     /* false: a bad entry */
    int quote;                                    /* bytes of it quoted */
    /* What was expected instead: a format taking the highest host line. */
    const char *expected;
};

/* List key k as a new array (NULL when absent or empty) of *nr elements:
 * 0, -ENOMEM, or -EINVAL after one message naming the first bad entry. */
static void *parse_list(XLU_Config *c, const char *name, FILE *report,
                        const struct list_key *k, unsigned int *nr, int *rc)
{
    XLU_ConfigList *l;
    int n;
    unsigned char *arr = NULL;
    *nr = 0;
    *rc = config_get_list(c, k->key, name, report, &l, &n);
    if (*rc == 0 && n > 0 && !(arr = calloc((size_t)n, k->size)))
        *rc = -ENOMEM;
    for (int i = 0; *rc == 0 && i < n; i++) {
        const char *s = xlu_cfg_get_listitem(l, i);
        if (!k->parse(s, arr + (size_t)i * k->size)) {
            fprintf(report, "%s: %s entry %d ('%.*s'): expected ", name,
                    k->key, i + 1, k->quote, s ? s : "(a list)");
            fprintf(report, k->expected, IRQ_MAX_LINES - 1);
            fputc('\n', report);
            *rc = -EINVAL;
        }
    }
    if (*rc) {
        free(arr);
        return NULL;
    }
    *nr = (unsigned int)n;
    return arr;
}

/* irqs= iomem= irq_pins= into out (empty on entry). */
static int parse_irq_keys(XLU_Config *c, const char *name, FILE *report,
                          struct config_irq *out)
{
    static const struct list_key grants = {
        "irqs", sizeof(*out->grants), parse_line, 32,
        "a line number 0..%u" };
    static const struct list_key iomem = {
        "iomem", sizeof(*out->iomem), parse_iomem, 40,
        "\"PFN,NR[@GFN]\" in hex, NR > 0" };
    static const struct list_key pins = {
        "irq_pins", sizeof(*out->pins), parse_pin, 32,
        "\"LINE@PIN\" (host line 0..%u, IOAPIC pin)" };
    int rc;
    out->grants = parse_list(c, name, report, &grants, &out->nr_grants, &rc);
    if (rc == 0)
        out->iomem = parse_list(c, name, report, &iomem, &out->nr_iomem, &rc);
    if (rc == 0)
        out->pins = parse_list(c, name, report, &pins, &out->nr_pins, &rc);
    return rc;
}

/* An optional string key, copied into *out. 0 (absent: *out untouched),
 * -ENOMEM. */
static int get_str(XLU_Config *c, const char *key, char **out)
{
    const char *s;
    if (xlu_cfg_get_string(c, key, &s, 1))
        return 0;
    char *d = strdup(s);
    if (!d)
        return -ENOMEM;
    free(*out);
    *out = d;
    return 0;
}

/* A required string key (libxlutil warns if it is a list). */
static int need_str(XLU_Config *c, const char *name, const char *key,
                    FILE *report, char **out)
{
    const char *s;
    if (xlu_cfg_get_string(c, key, &s, 0)) {
        fprintf(report, "%s: no %s = \"...\" given\n", name, key);
        return -EINVAL;
    }
    return (*out = strdup(s)) ? 0 : -ENOMEM;
}

/* An optional numeric key in lo..hi: 1 (set in *out), 0 (absent) or
 * -EINVAL (not a number, out of range). */
static int get_u32(XLU_Config *c, const char *key, long lo, long hi,
                   uint32_t *out)
{
    long l;
    int e = xlu_cfg_get_long(c, key, &l, 1);
    if (e == ESRCH)
        return 0;
    if (e || l < lo || l > hi)
        return -EINVAL;
    *out = (uint32_t)l;
    return 1;
}

/* type, name, kernel, ramdisk, cmdline/extra, memory, maxmem, vcpus. */
static int parse_basics(XLU_Config *c, const char *name, unsigned int flags,
                        FILE *report, struct config_domain *out)
{
    const char *s;
    long l;
    int rc;
    if (!xlu_cfg_get_string(c, "type", &s, 1) && strcmp(s, "pvh")) {
        fprintf(report, "%s: type = \"%s\": only \"pvh\" guests are "
                "supported\n", name, s);
        return -EINVAL;
    }
    if (flags & CONFIG_DOMAIN_RUNNABLE) {
        if ((rc = need_str(c, name, "name", report, &out->name)) ||
            (rc = need_str(c, name, "kernel", report, &out->kernel)))
            return rc;
    } else if ((rc = get_str(c, "name", &out->name)) ||
               (rc = get_str(c, "kernel", &out->kernel))) {
        return rc;
    }
    /* cmdline wins over extra, as in xl */
    if ((rc = get_str(c, "ramdisk", &out->ramdisk)) ||
        (rc = get_str(c, "extra", &out->cmdline)) ||
        (rc = get_str(c, "cmdline", &out->cmdline)))
        return rc;
    int e = xlu_cfg_get_long(c, "memory", &l, 1);
    if (e == 0 && (l < CONFIG_MIN_MEMORY_MIB || l > CONFIG_MAX_MEMORY_MIB)) {
        fprintf(report, "%s: memory = %ld: must be %u..%u (MiB)\n", name, l,
                CONFIG_MIN_MEMORY_MIB, CONFIG_MAX_MEMORY_MIB);
        return -EINVAL;
    } else if (e == 0) {
        out->mem_bytes = (uint64_t)l << 20;
    } else if (e != ESRCH) {
        fprintf(report, "%s: memory must be a number (MiB)\n", name);
        return -EINVAL;
    }
    /* maxmem: libxl builds a PVH guest whose maxmem is above its memory
     * with populate-on-demand (xenkvm has none); below it, libxl's build
     * cannot populate the memory. */
    e = xlu_cfg_get_long(c, "maxmem", &l, 1);
    if (e == 0 && (l < CONFIG_MIN_MEMORY_MIB || l > CONFIG_MAX_MEMORY_MIB)) {
        fprintf(report, "%s: maxmem = %ld: must be %u..%u (MiB)\n", name, l,
                CONFIG_MIN_MEMORY_MIB, CONFIG_MAX_MEMORY_MIB);
        return -EINVAL;
    } else if (e == 0 && out->mem_bytes && ((uint64_t)l << 20) != out->mem_bytes) {
        fprintf(report, "%s: maxmem = %ld: %s memory = %llu; maxmem above "
                "memory needs populate-on-demand, which xenkvm does not "
                "have\n", name, l,
                ((uint64_t)l << 20) > out->mem_bytes ? "above" : "below",
                (unsigned long long)(out->mem_bytes >> 20));
        return -EINVAL;
    } else if (e == 0) {
        out->max_mem_bytes = (uint64_t)l << 20;
    } else if (e != ESRCH) {
        fprintf(report, "%s: maxmem must be a number (MiB)\n", name);
        return -EINVAL;
    }
    e = xlu_cfg_get_long(c, "vcpus", &l, 1);
    if (e == 0 && (l < 1 || l > CONFIG_MAX_VCPUS)) {
        fprintf(report, "%s: vcpus = %ld: must be 1..%u\n", name, l,
                CONFIG_MAX_VCPUS);
        return -EINVAL;
    } else if (e == 0) {
        out->vcpus = (uint32_t)l;
    } else if (e != ESRCH) {
        fprintf(report, "%s: vcpus must be a number\n", name);
        return -EINVAL;
    }
    return 0;
}

/* Per-domain limits, as xl.cfg(5) (libxl's defaults when absent). The
 * grant limits are kept for the grant tables to come. */
static int parse_limits(XLU_Config *c, const char *name, FILE *report,
                        struct config_domain *out)
{
    static const struct {
        const char *key;
        long lo, hi;
        size_t off;
    } keys[] = {
        { "max_event_channels", 1, CONFIG_MAX_EVENT_CHANNELS,
          offsetof(struct config_domain, max_event_channels) },
        { "max_grant_frames", 1, CONFIG_MAX_GRANT_FRAMES,
          offsetof(struct config_domain, max_grant_frames) },
        { "max_maptrack_frames", 0, CONFIG_MAX_MAPTRACK_FRAMES,
          offsetof(struct config_domain, max_maptrack_frames) },
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        uint32_t *v = (uint32_t *)((char *)out + keys[i].off);
        int set = get_u32(c, keys[i].key, keys[i].lo, keys[i].hi, v);
        if (set < 0) {
            fprintf(report, "%s: %s must be a number %ld..%ld\n", name,
                    keys[i].key, keys[i].lo, keys[i].hi);
            return -EINVAL;
        }
        if (set && *v == 0)     /* max_maptrack_frames = 0: none at all */
            *v = CONFIG_NO_MAPTRACK;
    }
    return 0;
}

/* on_poweroff / on_reboot / on_crash / on_watchdog (xl.cfg(5)); def when
 * not given. */
static int parse_action(XLU_Config *c, const char *name, const char *key,
                        FILE *report, enum config_action def,
                        enum config_action *out)
{
    static const struct {
        const char *word;
        enum config_action action;
        bool exact;               /* false: the nearest we have (warning) */
    } known[] = {
        { "destroy", CONFIG_ACTION_DESTROY, true },
        { "preserve", CONFIG_ACTION_PRESERVE, true },
        { "restart", CONFIG_ACTION_RESTART, true },
        { "rename-restart", CONFIG_ACTION_RESTART, false },
        { "coredump-restart", CONFIG_ACTION_RESTART, false },
        { "coredump-destroy", CONFIG_ACTION_DESTROY, false },
        { "soft-reset", CONFIG_ACTION_DESTROY, false },
    };
    const char *v = NULL;
    xlu_cfg_get_string(c, key, &v, 1);
    *out = def;
    if (!v)
        return 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(v, known[i].word))
            continue;
        *out = known[i].action;
        if (!known[i].exact)
            fprintf(report, "%s: %s = \"%s\" not supported yet; the domain "
                    "is %s instead\n", name, key, v,
                    known[i].action == CONFIG_ACTION_RESTART ? "restarted"
                                                             : "destroyed");
        return 0;
    }
    fprintf(report, "%s: %s = \"%s\": unknown action\n", name, key, v);
    return -EINVAL;
}

/* A name a..z, aa..zz, ... in bijective base 26 (xvda = 0, xvdz = 25,
 * xvdaa = 26), then an optional partition number without a leading 0, as
 * libxl's device_virtdisk_matches reads it. */
static bool vdev_split(const char *v, const char *prefix, unsigned long dmax,
                       unsigned long pmax, unsigned long *disk,
                       unsigned long *part)
{
    size_t n = strlen(prefix);
    if (strncmp(v, prefix, n))
        return false;
    v += n;
    unsigned long d = 0;
    const char *p = v;
    for (; *p >= 'a' && *p <= 'z'; p++) {
        d = d * 26 + (unsigned long)(*p - 'a') + 1;
        if (d > dmax + 1)
            return false;
    }
    if (p == v)
        return false;
    *disk = d - 1;
    *part = 0;
    if (*p == '\0')
        return true;
    if (*p == '0')
        return false;
    uint64_t x;
    if (!config_parse_u64(p, 10, &x) || x > pmax)
        return false;
    *part = (unsigned long)x;
    return true;
}

/* Xen's device number of vdev, libxl__device_disk_dev_number's rules
 * (config.h, struct config_disk). 0 or -EINVAL. */
static int disk_devid(const char *vdev, uint32_t *devid)
{
    unsigned long d, p;
    if (!vdev)
        return -EINVAL;
    if (vdev_split(vdev, "xvd", (1ul << 20) - 1, 255, &d, &p)) {
        *devid = d <= 15 && p <= 15 ? (202u << 8) | (uint32_t)(d << 4 | p)
                                    : (1u << 28) | (uint32_t)(d << 8 | p);
        return 0;
    }
    if (vdev_split(vdev, "hd", 3, 63, &d, &p)) {
        *devid = ((d < 2 ? 3u : 22u) << 8) | (uint32_t)((d & 1) << 6 | p);
        return 0;
    }
    if (vdev_split(vdev, "sd", 15, 15, &d, &p)) {
        *devid = (8u << 8) | (uint32_t)(d << 4 | p);
        return 0;
    }
    return -EINVAL;
}

/* One disk = [ ... ] entry (libxlutil's xl-disk-configuration parser,
 * which prints its own syntax errors) into d. */
static int parse_disk(XLU_Config *c, const char *name, FILE *report, int i,
                      const char *spec, struct config_disk *d)
{
    libxl_device_disk ld;
    libxl_device_disk_init(&ld);
    int rc = 0;
    if (!spec) {
        fprintf(report, "%s: disk entry %d: expected a string\n", name, i);
        rc = -EINVAL;
    } else if (xlu_disk_parse(c, 1, &spec, &ld)) {
        fprintf(report, "%s: disk entry %d ('%.64s'): not a disk "
                "specification\n", name, i, spec);
        rc = -EINVAL;
    } else if (ld.format != LIBXL_DISK_FORMAT_RAW &&
               ld.format != LIBXL_DISK_FORMAT_UNKNOWN) {
        /* libxl takes an unspecified format for raw */
        fprintf(report, "%s: disk entry %d: format=%s: only raw images are "
                "supported\n", name, i,
                ld.format == LIBXL_DISK_FORMAT_EMPTY
                    ? "empty (no target)"
                    : libxl_disk_format_to_string(ld.format));
        rc = -EINVAL;
    } else if (!ld.pdev_path || !*ld.pdev_path) {
        fprintf(report, "%s: disk entry %d: no target given\n", name, i);
        rc = -EINVAL;
    } else if (disk_devid(ld.vdev, &d->devid)) {
        fprintf(report, "%s: disk entry %d: vdev=%s: expected xvdX, xvdXN, "
                "hdX, sdX\n", name, i, ld.vdev ? ld.vdev : "(none)");
        rc = -EINVAL;
    } else {
        d->cdrom = ld.is_cdrom != 0;
        d->readonly = !ld.readwrite || d->cdrom;
        d->target = strdup(ld.pdev_path);
        d->vdev = strdup(ld.vdev);
        if (!d->target || !d->vdev)
            rc = -ENOMEM;
    }
    libxl_device_disk_dispose(&ld);
    return rc;
}

static void disks_free(struct config_domain *c)
{
    for (unsigned int i = 0; i < c->nr_disks; i++) {
        free(c->disks[i].target);
        free(c->disks[i].vdev);
    }
    free(c->disks);
    c->disks = NULL;
    c->nr_disks = 0;
}

/* disk = [ ... ]: every entry, two with the same vdev refused. */
static int parse_disks(XLU_Config *c, const char *name, FILE *report,
                       struct config_domain *out)
{
    XLU_ConfigList *l;
    int n;
    int rc = config_get_list(c, "disk", name, report, &l, &n);
    if (rc || n == 0)
        return rc;
    if (!(out->disks = calloc((size_t)n, sizeof(*out->disks))))
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        struct config_disk *d = &out->disks[i];
        rc = parse_disk(c, name, report, i + 1, xlu_cfg_get_listitem(l, i), d);
        out->nr_disks++;        /* what parse_disk set is freed with it */
        if (rc)
            return rc;
        for (int j = 0; j < i; j++)
            if (out->disks[j].devid == d->devid) {
                fprintf(report, "%s: disk entries %d and %d: the same vdev "
                        "(%s)\n", name, j + 1, i + 1, d->vdev);
                return -EINVAL;
            }
    }
    return 0;
}

void config_domain_free(struct config_domain *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->kernel);
    free(c->ramdisk);
    free(c->cmdline);
    free(c->device_tree);
    config_irq_free(&c->irq);
    config_dt_free(&c->dt);
    disks_free(c);
    config_vifs_free(c);
    memset(c, 0, sizeof(*c));
}

int config_domain_parse(const char *data, size_t len, const char *source,
                        unsigned int flags, FILE *report,
                        struct config_domain *out)
{
    int rc;
    memset(out, 0, sizeof(*out));
    const char *name = source ? source : "domain config";
    XLU_Config *c = config_xlu_open(data, len, name, report, &rc);
    if (!c)
        return rc;
    rc = parse_basics(c, name, flags, report, out);
    if (rc == 0)
        rc = parse_limits(c, name, report, out);
    if (rc == 0)
        rc = parse_action(c, name, "on_poweroff", report,
                          CONFIG_ACTION_DESTROY, &out->on_poweroff);
    if (rc == 0)
        rc = parse_action(c, name, "on_reboot", report,
                          CONFIG_ACTION_RESTART, &out->on_reboot);
    if (rc == 0)
        rc = parse_action(c, name, "on_crash", report,
                          CONFIG_ACTION_DESTROY, &out->on_crash);
    if (rc == 0)
        rc = parse_action(c, name, "on_watchdog", report,
                          CONFIG_ACTION_DESTROY, &out->on_watchdog);
    if (rc == 0)
        rc = parse_irq_keys(c, name, report, &out->irq);
    if (rc == 0)
        rc = get_str(c, "device_tree", &out->device_tree);
    if (rc == 0)
        rc = parse_disks(c, name, report, out);
    if (rc == 0)
        rc = config_parse_vifs(c, name, report, out);
    xlu_cfg_destroy(c);
    if (rc)
        config_domain_free(out);
    return rc;
}

int config_domain_load(const char *path, unsigned int flags, FILE *report,
                       struct config_domain *out)
{
    char *text;
    size_t len;
    memset(out, 0, sizeof(*out));
    int rc = config_read(path, "config", CONFIG_MAX_TEXT, report, &text, &len);
    if (rc < 0)
        return rc;
    rc = config_domain_parse(text, len, path, flags, report, out);
    free(text);
    if (rc == 0 && out->device_tree) {
        rc = config_dt_load(out->device_tree, report, &out->dt);
        if (rc == 0)
            rc = config_irq_merge_dt(&out->irq, &out->dt);
        if (rc == 0)
            out->has_dt = true;
        else
            config_domain_free(out);
    }
    return rc;
}

int config_irq_grant(const struct config_irq *c, struct irq_pirq *r,
                     domid_t dom, unsigned int nr_lines, FILE *report)
{
    for (unsigned int i = 0; i < c->nr_grants; i++)
        if (c->grants[i] >= nr_lines) {
            fprintf(report, "domain %u: irqs: host line %u does not exist "
                    "(the host has %u)\n", (unsigned int)dom, c->grants[i],
                    nr_lines);
            return -EINVAL;
        }
    for (unsigned int i = 0; i < c->nr_grants; i++) {
        int rc = irq_pirq_grant(r, dom, c->grants[i], true);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/*
 * `xenkvm run`: run one or more PVH domains in this process (domain 0),
 * from xl.cfg files (parsed with Debian's libxlutil) and/or flags.
 *
 * Exit status: 0 when every guest powered off (or rebooted/suspended, which
 * we report but do not act on), 1 when any guest crashed or hit an internal
 * error, 2 for usage, config or host errors, 130 after Ctrl-C.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxlutil.h>

#include "xenkvm/ctl.h"
#include "xenkvm/irq.h"
#include "xenkvm/store.h"
#include "xenkvm/vmm.h"
#include "xenkvm/util.h"
#include "cli.h"

#define MAX_DOMS 32

struct run_dom {
    struct vmm_domain_config cfg;
    XLU_Config *xlu;            /* owns the strings of a config file */
    const char *source;         /* file name or "command line" */
    struct irq_domain_cfg irq;  /* irqs= iomem= irq_pins= */
    struct irq_dt_cfg dt;       /* device_tree= / --dt */
    bool has_dt;
    /* what the domain gets: both sources merged */
    uint32_t *grants;
    struct irq_iomem *iomem;
    struct irq_pin_cfg *pins;
};

static struct vmm_host *run_host;

static void on_sigint(int sig)
{
    (void)sig;
    if (run_host)
        vmm_host_interrupt(run_host);
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: xenkvm run [OPTIONS] [CONFIG.cfg ...]\n"
        "Run Xen PVH guests under KVM, one domain per xl.cfg file, plus one\n"
        "from the flags when --kernel is given.\n\n"
        "  --kernel FILE     PVH ELF kernel (XEN_ELFNOTE_PHYS32_ENTRY)\n"
        "  --ramdisk FILE    initial ramdisk (start_info module)\n"
        "  --memory MIB      guest memory in MiB (default 64)\n"
        "  --vcpus N         number of vCPUs (default 1)\n"
        "  --cmdline STR     kernel command line\n"
        "  --name NAME       domain name (default: guest)\n"
        "  --console-log F   write guest consoles to F instead of stdout\n"
        "  --quiet           no lifecycle messages\n"
        "  --no-dom0-pingpong  domain 0 does not answer guests/pingpong\n"
        "                    (role=alloc peer=0); it does by default\n"
        "  --dt FILE.dtb     device tree of the --kernel domain's pass-through\n"
        "                    (docs/irq.md; xl.cfg: device_tree = \"FILE.dtb\")\n"
        "  --irq-config FILE host interrupt lines and MMIO (docs/irq.md):\n"
        "                    line = [ \"7=eventfd,level\", ... ], mmio = [...]\n"
        "  --control PATH    serve the control socket (xenkvm list, console,\n"
        "                    shutdown, destroy, ...; docs/control.md) at PATH;\n"
        "                    default $XENKVM_CONTROL, else\n"
        "                    $XDG_RUNTIME_DIR/xenkvm/control.sock, else\n"
        "                    /run/xenkvm/control.sock when free; '' for none\n"
        "xl.cfg keys for host interrupts: irqs = [ 7 ], iomem = [ \"PFN,NR@GFN\" ],\n"
        "irq_pins = [ \"LINE@PIN\" ], device_tree = \"FILE.dtb\".\n");
}

/* on_poweroff / on_crash: what we can honour. */
static int parse_action(const char *src, const char *key, const char *v,
                        enum vmm_action *out)
{
    if (!v || !strcmp(v, "destroy")) {
        *out = VMM_ACTION_DESTROY;
        return 0;
    }
    if (!strcmp(v, "preserve")) {
        *out = VMM_ACTION_PRESERVE;
        return 0;
    }
    if (!strcmp(v, "restart") || !strcmp(v, "rename-restart") ||
        !strcmp(v, "coredump-destroy") || !strcmp(v, "coredump-restart") ||
        !strcmp(v, "soft-reset")) {
        fprintf(stderr, "xenkvm run: %s: %s = \"%s\" not supported yet; "
                "the domain is destroyed instead\n", src, key, v);
        *out = VMM_ACTION_DESTROY;
        return 0;
    }
    fprintf(stderr, "xenkvm run: %s: %s = \"%s\": unknown action\n", src, key, v);
    return -1;
}

/* Read a whole (small) file; NULL after one message. */
static char *slurp(const char *path, const char *what, size_t *len)
{
    char *buf;
    int rc = util_read_file(path, 4u << 20, &buf, len);
    if (rc < 0) {
        fprintf(stderr, "xenkvm run: cannot read %s '%s': %s\n", what, path,
                rc == -EFBIG ? "larger than 4 MiB" : strerror(-rc));
        return NULL;
    }
    return buf;
}

/* The device tree of a domain (libfdt, docs/irq.md). Warnings (uvmm's
 * wording) go to stderr; errors are fatal. 0 or -1. */
static int load_dt(struct run_dom *rd, const char *path)
{
    size_t len;
    char *blob = slurp(path, "device tree", &len);
    if (!blob)
        return -1;
    char *msg = NULL;
    size_t mlen = 0;
    FILE *rep = open_memstream(&msg, &mlen);
    int rc = rep ? irq_dt_parse(blob, len, rep, &rd->dt) : -ENOMEM;
    if (rep)
        fclose(rep);
    free(blob);
    if (msg && *msg) {
        /* every report line names the file: the tree is per domain */
        for (char *line = msg, *nl; *line; line = nl + 1) {
            nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            fprintf(stderr, "xenkvm run: %s: %s\n", path, line);
            if (!nl)
                break;
        }
    }
    free(msg);
    if (rc < 0) {
        if (rc != -EINVAL)
            fprintf(stderr, "xenkvm run: %s: %s\n", path, strerror(-rc));
        return -1;
    }
    rd->has_dt = true;
    return 0;
}

/* Merge irqs=/iomem=/irq_pins= and the device tree into cfg.irq. */
static int merge_irq(struct run_dom *rd)
{
    const struct irq_domain_cfg *x = &rd->irq;
    const struct irq_dt_cfg *t = &rd->dt;
    size_t ng = x->nr_irqs + t->nr_irqs, nm = x->nr_iomem + t->nr_mmio,
           np = x->nr_pins + t->nr_irqs;
    rd->grants = calloc(ng + 1, sizeof(*rd->grants));
    rd->iomem = calloc(nm + 1, sizeof(*rd->iomem));
    rd->pins = calloc(np + 1, sizeof(*rd->pins));
    if (!rd->grants || !rd->iomem || !rd->pins) {
        fprintf(stderr, "xenkvm run: out of memory\n");
        return -1;
    }
    struct vmm_domain_irq *o = &rd->cfg.irq;
    for (unsigned int i = 0; i < x->nr_irqs; i++)
        rd->grants[o->nr_grants++] = x->irqs[i];
    for (unsigned int i = 0; i < x->nr_iomem; i++)
        rd->iomem[o->nr_iomem++] = x->iomem[i];
    for (unsigned int i = 0; i < x->nr_pins; i++)
        rd->pins[o->nr_pins++] = x->pins[i];
    for (unsigned int i = 0; i < t->nr_irqs; i++) {
        const struct irq_dt_irq *q = &t->irqs[i];
        if (q->sink == IRQ_DT_PIRQ)
            rd->grants[o->nr_grants++] = q->host_line;
        else
            rd->pins[o->nr_pins++] = (struct irq_pin_cfg){
                .line = q->host_line, .pin = q->guest_irq };
    }
    for (unsigned int i = 0; i < t->nr_mmio; i++) {
        const struct irq_dt_mmio *m = &t->mmio[i];
        rd->iomem[o->nr_iomem++] = (struct irq_iomem){
            .pfn = m->host_addr >> 12, .nr = m->size >> 12,
            .gfn = m->guest_addr >> 12 };
    }
    o->grants = rd->grants;
    o->iomem = rd->iomem;
    o->pins = rd->pins;
    return 0;
}

/* Parse one xl.cfg. 0, or -1 after printing one line. */
/* An optional numeric xl.cfg key in lo..hi: 0 (absent: *out untouched) or
 * -1 after one line on stderr. */
static int cfg_u32(struct run_dom *rd, const char *path, const char *key,
                   long lo, long hi, uint32_t *out)
{
    long l;
    int e = xlu_cfg_get_long(rd->xlu, key, &l, 1);
    if (e == ESRCH)
        return 0;
    if (e || l < lo || l > hi) {
        fprintf(stderr, "xenkvm run: %s: %s must be a number %ld..%ld\n", path, key,
                lo, hi);
        return -1;
    }
    *out = (uint32_t)l;
    return 0;
}

static int parse_xl_cfg(const char *path, struct run_dom *rd)
{
    memset(rd, 0, sizeof(*rd));
    rd->source = path;
    FILE *probe = fopen(path, "r");
    if (!probe) {
        fprintf(stderr, "xenkvm run: cannot open config '%s': %s\n", path,
                strerror(errno));
        return -1;
    }
    fclose(probe);
    /* libxlutil reports syntax errors itself, one line on stderr. */
    rd->xlu = xlu_cfg_init(stderr, path);
    if (!rd->xlu) {
        fprintf(stderr, "xenkvm run: out of memory\n");
        return -1;
    }
    int e = xlu_cfg_readfile(rd->xlu, path);
    if (e) {
        fprintf(stderr, "xenkvm run: config '%s' has errors (%s)\n", path,
                strerror(e));
        return -1;
    }
    const char *s;
    long l;
    if (!xlu_cfg_get_string(rd->xlu, "type", &s, 1) && strcmp(s, "pvh")) {
        fprintf(stderr, "xenkvm run: %s: type = \"%s\": only \"pvh\" guests "
                "are supported\n", path, s);
        return -1;
    }
    if (xlu_cfg_get_string(rd->xlu, "name", &rd->cfg.name, 0)) {
        fprintf(stderr, "xenkvm run: %s: no name = \"...\" given\n", path);
        return -1;
    }
    if (xlu_cfg_get_string(rd->xlu, "kernel", &rd->cfg.kernel, 0)) {
        fprintf(stderr, "xenkvm run: %s: no kernel = \"...\" given\n", path);
        return -1;
    }
    if (!xlu_cfg_get_string(rd->xlu, "ramdisk", &s, 1))
        rd->cfg.ramdisk = s;
    if (!xlu_cfg_get_string(rd->xlu, "cmdline", &s, 1) ||
        !xlu_cfg_get_string(rd->xlu, "extra", &s, 1))
        rd->cfg.cmdline = s;
    e = xlu_cfg_get_long(rd->xlu, "memory", &l, 1);
    if (e == 0) {
        if (l < 2 || l > 3072) {
            fprintf(stderr, "xenkvm run: %s: memory = %ld: must be 2..3072 "
                    "(MiB)\n", path, l);
            return -1;
        }
        rd->cfg.mem_bytes = (uint64_t)l << 20;
    } else if (e != ESRCH) {
        fprintf(stderr, "xenkvm run: %s: memory must be a number (MiB)\n",
                path);
        return -1;
    }
    e = xlu_cfg_get_long(rd->xlu, "vcpus", &l, 1);
    if (e == 0) {
        if (l < 1 || l > VMM_MAX_VCPUS) {
            fprintf(stderr, "xenkvm run: %s: vcpus = %ld: must be 1..%d\n",
                    path, l, VMM_MAX_VCPUS);
            return -1;
        }
        rd->cfg.vcpus = (uint32_t)l;
    } else if (e != ESRCH) {
        fprintf(stderr, "xenkvm run: %s: vcpus must be a number\n", path);
        return -1;
    }
    /* Per-domain limits, as xl.cfg(5) (libxl's defaults when absent). The
     * grant limits are kept for the grant tables to come. */
    if (cfg_u32(rd, path, "max_event_channels", 1, VMM_MAX_EVENT_CHANNELS,
                &rd->cfg.max_event_channels) ||
        cfg_u32(rd, path, "max_grant_frames", 1, VMM_MAX_GRANT_FRAMES,
                &rd->cfg.max_grant_frames) ||
        cfg_u32(rd, path, "max_maptrack_frames", 0, VMM_MAX_MAPTRACK_FRAMES,
                &rd->cfg.max_maptrack_frames))
        return -1;
    if (!xlu_cfg_get_long(rd->xlu, "max_maptrack_frames", &l, 1) && l == 0)
        rd->cfg.max_maptrack_frames = VMM_NO_MAPTRACK;
    const char *a = NULL;
    xlu_cfg_get_string(rd->xlu, "on_poweroff", &a, 1);
    if (parse_action(path, "on_poweroff", a, &rd->cfg.on_poweroff))
        return -1;
    a = NULL;
    xlu_cfg_get_string(rd->xlu, "on_crash", &a, 1);
    if (parse_action(path, "on_crash", a, &rd->cfg.on_crash))
        return -1;
    /* irqs= iomem= irq_pins=: the IRQ module's parser, on the same text */
    size_t len;
    char *text = slurp(path, "config", &len);
    if (!text)
        return -1;
    int rc = irq_cfg_parse_domain(text, len, path, stderr, &rd->irq);
    free(text);
    if (rc)
        return -1;
    if (!xlu_cfg_get_string(rd->xlu, "device_tree", &s, 1) && load_dt(rd, s))
        return -1;
    return 0;
}

static int parse_u32(const char *opt, const char *v, uint32_t lo, uint32_t hi,
                     uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (errno || *end || !*v || x < lo || x > hi) {
        fprintf(stderr, "xenkvm run: %s %s: expected a number %u..%u\n", opt,
                v, lo, hi);
        return -1;
    }
    *out = (uint32_t)x;
    return 0;
}

int cli_run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "kernel", required_argument, NULL, 'k' },
        { "ramdisk", required_argument, NULL, 'r' },
        { "memory", required_argument, NULL, 'm' },
        { "vcpus", required_argument, NULL, 'v' },
        { "cmdline", required_argument, NULL, 'c' },
        { "name", required_argument, NULL, 'n' },
        { "console-log", required_argument, NULL, 'l' },
        { "quiet", no_argument, NULL, 'q' },
        { "dom0-pingpong", no_argument, NULL, 'P' },
        { "no-dom0-pingpong", no_argument, NULL, 'N' },
        { "dt", required_argument, NULL, 'D' },
        { "irq-config", required_argument, NULL, 'I' },
        { "control", required_argument, NULL, 'C' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct vmm_domain_config flag = { .name = "guest" };
    const char *console_log = NULL, *dt_path = NULL, *irq_path = NULL;
    const char *control = getenv("XENKVM_CONTROL");
    /* Domain 0 plays seed 002's peer by default: it only binds ports a
     * guest offered to domain 0 (bind_interdomain refuses the others). */
    bool quiet = false, dom0_pp = true;
    uint32_t mem_mib = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "k:r:m:v:c:n:l:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'k': flag.kernel = optarg; break;
        case 'r': flag.ramdisk = optarg; break;
        case 'c': flag.cmdline = optarg; break;
        case 'n': flag.name = optarg; break;
        case 'l': console_log = optarg; break;
        case 'q': quiet = true; break;
        case 'P': dom0_pp = true; break;
        case 'N': dom0_pp = false; break;
        case 'D': dt_path = optarg; break;
        case 'I': irq_path = optarg; break;
        case 'C': control = optarg; break;
        case 'm':
            if (parse_u32("--memory", optarg, 2, 3072, &mem_mib))
                return 2;
            flag.mem_bytes = (uint64_t)mem_mib << 20;
            break;
        case 'v':
            if (parse_u32("--vcpus", optarg, 1, VMM_MAX_VCPUS, &flag.vcpus))
                return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    struct run_dom doms[MAX_DOMS];
    int ndoms = 0, status = 2;
    struct irq_host_cfg irq_host;
    bool have_irq_host = false;
    memset(doms, 0, sizeof(doms));
    if (irq_path) {
        size_t len;
        char *text = slurp(irq_path, "host interrupt config", &len);
        if (!text || irq_cfg_parse_host(text, len, irq_path, stderr, &irq_host)) {
            free(text);
            return 2;
        }
        free(text);
        have_irq_host = true;
    }
    for (int i = optind; i < argc; i++) {
        if (ndoms == MAX_DOMS) {
            fprintf(stderr, "xenkvm run: at most %d domains\n", MAX_DOMS);
            goto out;
        }
        if (parse_xl_cfg(argv[i], &doms[ndoms++]))
            goto out;
    }
    if (flag.kernel) {
        if (ndoms == MAX_DOMS) {
            fprintf(stderr, "xenkvm run: at most %d domains\n", MAX_DOMS);
            goto out;
        }
        doms[ndoms++] = (struct run_dom){ .cfg = flag,
                                          .source = "command line" };
        if (dt_path && load_dt(&doms[ndoms - 1], dt_path))
            goto out;
    } else if (dt_path) {
        fprintf(stderr, "xenkvm run: --dt applies to the --kernel domain; "
                "use device_tree = \"...\" in an xl.cfg\n");
        goto out;
    }
    for (int i = 0; i < ndoms; i++) {
        /* Domains get ids 1, 2, ... in order on a fresh host. */
        if (doms[i].has_dt && doms[i].dt.has_domid &&
            doms[i].dt.domid != (uint32_t)(i + 1)) {
            fprintf(stderr, "xenkvm run: %s: device tree says xenkvm,domid = "
                    "<%u> but the domain gets domid %d\n", doms[i].source,
                    doms[i].dt.domid, i + 1);
            goto out;
        }
        if (merge_irq(&doms[i]))
            goto out;
    }
    if (ndoms == 0) {
        fprintf(stderr, "xenkvm run: nothing to run: give --kernel FILE or "
                "an xl.cfg file (see xenkvm run --help)\n");
        goto out;
    }

    FILE *con = NULL;
    if (console_log && !(con = fopen(console_log, "a"))) {
        fprintf(stderr, "xenkvm run: cannot open console log '%s': %s\n",
                console_log, strerror(errno));
        goto out;
    }
    char err[512] = "";
    /* The store's socket where xenstore-utils look for it. */
    const char *sock = getenv("XENSTORED_PATH");
    /* No --control: the default path, if no other xenkvm serves it. */
    char control_def[108];
    bool control_optional = !control &&
        ctl_default_path(control_def, sizeof(control_def)) == 0;
    if (control_optional)
        control = control_def;
    struct vmm_host_config hc = { .console = con, .prefix_console = ndoms > 1,
                                  .quiet = quiet, .dom0_pingpong = dom0_pp,
                                  .store_socket = sock && *sock ? sock :
                                                  STORE_DEFAULT_SOCKET,
                                  .irq_host = have_irq_host ? &irq_host : NULL,
                                  .control_socket = control,
                                  .control_optional = control_optional };
    run_host = vmm_host_create(&hc, err, sizeof(err));
    if (!run_host) {
        fprintf(stderr, "xenkvm run: %s\n", err);
        if (con)
            fclose(con);
        goto out;
    }
    struct vmm_domain *vd[MAX_DOMS];
    for (int i = 0; i < ndoms; i++) {
        if (vmm_domain_create(run_host, &doms[i].cfg, &vd[i], err,
                              sizeof(err))) {
            fprintf(stderr, "xenkvm run: %s\n", err);
            vmm_host_destroy(run_host);
            run_host = NULL;
            if (con)
                fclose(con);
            goto out;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (int i = 0; i < ndoms; i++)
        vmm_domain_start(vd[i]);

    bool interrupted = vmm_host_wait(run_host) > 0;
    if (interrupted) {
        /* As `xl shutdown`: ask through control/shutdown, give the guests
         * a moment, then destroy what is left (at once on a 2nd Ctrl-C). */
        if (!quiet)
            fprintf(stderr, "xenkvm run: interrupted: asking the guests to "
                    "power off (Ctrl-C again to destroy them now)\n");
        for (int i = 0; i < ndoms; i++)
            if (vmm_domain_outcome(vd[i], NULL) == VMM_RUNNING)
                vmm_domain_request_shutdown(vd[i]);
        if (vmm_host_wait_timeout(run_host, 2000) > 0) {
            if (!quiet)
                fprintf(stderr, "xenkvm run: destroying the guests still "
                        "running\n");
            for (int i = 0; i < ndoms; i++)
                vmm_domain_kill(vd[i]);
        }
    }
    status = 0;
    for (int i = 0; i < ndoms; i++) {
        enum vmm_outcome o = vmm_domain_outcome(vd[i], NULL);
        if (o == VMM_CRASHED)
            status = status == 130 ? 130 : 1;
        else if (o == VMM_KILLED || o == VMM_RUNNING)
            status = 130;
    }
    vmm_host_destroy(run_host);
    run_host = NULL;
    if (con)
        fclose(con);
out:
    for (int i = 0; i < ndoms; i++) {
        if (doms[i].xlu)
            xlu_cfg_destroy(doms[i].xlu);
        irq_domain_cfg_free(&doms[i].irq);
        irq_dt_cfg_free(&doms[i].dt);
        free(doms[i].grants);
        free(doms[i].iomem);
        free(doms[i].pins);
    }
    if (have_irq_host)
        irq_host_cfg_free(&irq_host);
    return status;
}

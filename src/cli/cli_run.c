/*
 * `xenkvm run`: run one or more PVH domains in this process (domain 0),
 * from xl.cfg files (parsed by src/config, xenkvm/config.h) and/or flags.
 * This file handles the options and turns the parsed configuration into
 * the VMM's vmm_domain_config.
 *
 * A domain that ends is destroyed, preserved or restarted as its
 * on_poweroff / on_reboot / on_crash / on_watchdog says (xl's defaults:
 * destroy, restart, destroy, destroy); a restart builds it again from its config, as xl does (a new
 * domid, the same name). The run ends when no domain is left running.
 *
 * Exit status: 0 when every guest powered off (or rebooted/suspended
 * without a restart), 1 when any guest crashed or hit an internal error, 2
 * for usage, config or host errors, 130 after Ctrl-C.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <xen/xen.h>
#include <xen/sched.h>

#include "xenkvm/config.h"
#include "xenkvm/ctl.h"
#include "xenkvm/store.h"
#include "xenkvm/vmm.h"
#include "cli.h"

#define MAX_DOMS 32

/* The config module checks values against these; they must be the VMM's. */
_Static_assert(CONFIG_MAX_VCPUS == VMM_MAX_VCPUS, "vcpus bound");
_Static_assert(CONFIG_MAX_EVENT_CHANNELS == VMM_MAX_EVENT_CHANNELS,
               "max_event_channels bound");
_Static_assert(CONFIG_MAX_GRANT_FRAMES == VMM_MAX_GRANT_FRAMES,
               "max_grant_frames bound");
_Static_assert(CONFIG_MAX_MAPTRACK_FRAMES == VMM_MAX_MAPTRACK_FRAMES,
               "max_maptrack_frames bound");
_Static_assert(CONFIG_NO_MAPTRACK == VMM_NO_MAPTRACK, "no maptrack");

struct run_dom {
    struct vmm_domain_config cfg;
    const char *source;         /* file name or "command line" */
    struct config_domain c;     /* the parsed xl.cfg (or --dt alone) */
};

static struct vmm_host *run_host;
static volatile sig_atomic_t run_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    run_interrupted = 1;
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
        "  --hostfwd RULE    a port forward into the first guest with a vif on\n"
        "                    user-mode networking (repeatable; QEMU's syntax\n"
        "                    [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport,\n"
        "                    e.g. tcp:127.0.0.1:8080-:80); in xl.cfg:\n"
        "                    vif = [ 'hostfwd=tcp::8080-:80' ]\n"
        "  --control PATH    serve the control socket (xenkvm list, console,\n"
        "                    shutdown, destroy, ...; docs/control.md) at PATH;\n"
        "                    default $XENKVM_CONTROL, else\n"
        "                    $XDG_RUNTIME_DIR/xenkvm/control.sock, else\n"
        "                    /run/xenkvm/control.sock when free; '' for none\n"
        "xl.cfg keys for host interrupts: irqs = [ 7 ], iomem = [ \"PFN,NR@GFN\" ],\n"
        "irq_pins = [ \"LINE@PIN\" ], device_tree = \"FILE.dtb\".\n"
        "Networks: vif = [ 'mac=00:16:3e:00:00:01' ] plugs a PV NIC into the\n"
        "in-process switch with user-mode networking (DHCP, DNS, NAT to the\n"
        "host); 'bridge=NAME' into a Linux bridge through a TAP device.\n");
}

/* The VMM's view of a parsed domain (strings stay owned by c). */
static void to_vmm_config(const struct config_domain *c,
                          struct vmm_domain_config *v)
{
    static const enum vmm_action action[] = {
        [CONFIG_ACTION_DESTROY] = VMM_ACTION_DESTROY,
        [CONFIG_ACTION_PRESERVE] = VMM_ACTION_PRESERVE,
        [CONFIG_ACTION_RESTART] = VMM_ACTION_RESTART,
    };
    v->name = c->name;
    v->kernel = c->kernel;
    v->ramdisk = c->ramdisk;
    v->cmdline = c->cmdline;
    v->mem_bytes = c->mem_bytes;
    v->max_mem_bytes = c->max_mem_bytes;
    v->vcpus = c->vcpus;
    v->on_poweroff = action[c->on_poweroff];
    v->on_reboot = action[c->on_reboot];
    v->on_crash = action[c->on_crash];
    v->on_watchdog = action[c->on_watchdog];
    v->max_event_channels = c->max_event_channels;
    v->max_grant_frames = c->max_grant_frames;
    v->max_maptrack_frames = c->max_maptrack_frames;
    v->disks = c->disks;
    v->nr_disks = c->nr_disks;
    v->vifs = c->vifs;
    v->nr_vifs = c->nr_vifs;
}

/* Host interrupts of the domain: the xl.cfg keys and its tree, merged. */
static void to_vmm_irq(const struct config_irq *c, struct vmm_domain_irq *v)
{
    *v = (struct vmm_domain_irq){
        .grants = c->grants, .nr_grants = c->nr_grants,
        .iomem = c->iomem, .nr_iomem = c->nr_iomem,
        .pins = c->pins, .nr_pins = c->nr_pins };
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

/* Until no domain runs: each one that ends with VMM_ACTION_RESTART is
 * built again from its config and started (as xl's reboot loop). True
 * when interrupted (Ctrl-C) first. A restart that fails is reported and
 * leaves the old domain's outcome. */
static bool wait_and_restart(struct run_dom *doms, struct vmm_domain **vd,
                             int ndoms, bool quiet)
{
    bool failed[MAX_DOMS] = { false };
    for (;;) {
        int running = vmm_host_wait_event(run_host, -1);
        if (run_interrupted)
            return true;
        bool restarted = false;
        for (int i = 0; i < ndoms; i++) {
            if (failed[i] || !vmm_domain_gone(vd[i]) ||
                vmm_domain_end_action(vd[i]) != VMM_ACTION_RESTART)
                continue;
            char err[256];
            struct vmm_domain *nd;
            if (vmm_domain_create(run_host, &doms[i].cfg, &nd, err, sizeof(err))) {
                fprintf(stderr, "xenkvm run: cannot restart '%s': %s\n",
                        doms[i].cfg.name, err);
                failed[i] = true;
                continue;
            }
            unsigned int reason = 0;
            enum vmm_outcome how = vmm_domain_outcome(vd[i], &reason);
            if (!quiet)
                fprintf(stderr, "xenkvm run: restarting '%s' as domid %u "
                        "(domid %u %s)\n", doms[i].cfg.name,
                        (unsigned int)vmm_domain_id(nd),
                        (unsigned int)vmm_domain_id(vd[i]),
                        how == VMM_CRASHED ? "crashed" :
                        reason == SHUTDOWN_reboot ? "rebooted" :
                        vmm_shutdown_name(reason));
            vd[i] = nd;
            vmm_domain_start(nd);
            restarted = true;
        }
        if (running == 0 && !restarted)
            return false;
    }
}

/* What the options say. */
struct run_opts {
    struct vmm_domain_config flag;  /* the --kernel domain */
    const char *console_log, *dt_path, *irq_path, *control;
    const char *hostfwd[CONFIG_MAX_HOSTFWD];  /* --hostfwd, in order */
    unsigned int nr_hostfwd;
    /* Domain 0 plays seed 002's peer by default: it only binds ports a
     * guest offered to domain 0 (bind_interdomain refuses the others). */
    bool quiet, dom0_pp;
};

/* -1: go on; otherwise the exit status (--help, a bad option). */
static int parse_opts(int argc, char **argv, struct run_opts *o)
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
        { "hostfwd", required_argument, NULL, 'F' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    /* The --kernel domain takes xl's default actions: on_reboot restart,
     * on_poweroff and on_crash destroy. */
    *o = (struct run_opts){ .flag = { .name = "guest",
                                      .on_reboot = VMM_ACTION_RESTART },
                            .control = getenv("XENKVM_CONTROL"),
                            .dom0_pp = true };
    uint32_t mem_mib = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "k:r:m:v:c:n:l:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'k': o->flag.kernel = optarg; break;
        case 'r': o->flag.ramdisk = optarg; break;
        case 'c': o->flag.cmdline = optarg; break;
        case 'n': o->flag.name = optarg; break;
        case 'l': o->console_log = optarg; break;
        case 'q': o->quiet = true; break;
        case 'P': o->dom0_pp = true; break;
        case 'N': o->dom0_pp = false; break;
        case 'D': o->dt_path = optarg; break;
        case 'I': o->irq_path = optarg; break;
        case 'C': o->control = optarg; break;
        case 'F':
            if (o->nr_hostfwd == CONFIG_MAX_HOSTFWD) {
                fprintf(stderr, "xenkvm run: at most %u --hostfwd rules\n",
                        CONFIG_MAX_HOSTFWD);
                return 2;
            }
            o->hostfwd[o->nr_hostfwd++] = optarg;
            break;
        case 'm':
            if (parse_u32("--memory", optarg, CONFIG_MIN_MEMORY_MIB,
                          CONFIG_MAX_MEMORY_MIB, &mem_mib))
                return 2;
            o->flag.mem_bytes = (uint64_t)mem_mib << 20;
            break;
        case 'v':
            if (parse_u32("--vcpus", optarg, 1, VMM_MAX_VCPUS, &o->flag.vcpus))
                return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    return -1;
}

/* --hostfwd rules into the first vif on user-mode networking. 0, or -1
 * after one message. */
static int add_hostfwd(const struct run_opts *o, struct run_dom *doms,
                       int ndoms)
{
    if (o->nr_hostfwd == 0)
        return 0;
    struct config_vif *v = NULL;
    for (int i = 0; i < ndoms && !v; i++)
        for (unsigned int j = 0; j < doms[i].c.nr_vifs && !v; j++)
            if (!doms[i].c.vifs[j].bridge)
                v = &doms[i].c.vifs[j];
    if (!v) {
        fprintf(stderr, "xenkvm run: --hostfwd needs a guest with a vif on "
                "user-mode networking (vif = [ '' ] in its xl.cfg)\n");
        return -1;
    }
    for (unsigned int i = 0; i < o->nr_hostfwd; i++) {
        char err[160];
        if (v->nfwd == CONFIG_MAX_HOSTFWD) {
            fprintf(stderr, "xenkvm run: more than %u port forwards on one "
                    "vif\n", CONFIG_MAX_HOSTFWD);
            return -1;
        }
        if (net_hostfwd_parse(o->hostfwd[i], &v->fwd[v->nfwd], err,
                              sizeof(err))) {
            fprintf(stderr, "xenkvm run: --hostfwd %s: %s\n", o->hostfwd[i],
                    err);
            return -1;
        }
        v->nfwd++;
    }
    return 0;
}

/* Every xl.cfg on the command line, then the --kernel domain with its
 * --dt; each domain's interrupt config handed to its vmm_domain_config.
 * 0, or -1 after one message. */
static int load_domains(int argc, char **argv, const struct run_opts *o,
                        struct run_dom *doms, int *ndoms)
{
    for (int i = optind; i < argc; i++) {
        if (*ndoms == MAX_DOMS) {
            fprintf(stderr, "xenkvm run: at most %d domains\n", MAX_DOMS);
            return -1;
        }
        struct run_dom *rd = &doms[(*ndoms)++];
        rd->source = argv[i];
        if (config_domain_load(argv[i], CONFIG_DOMAIN_RUNNABLE, stderr, &rd->c))
            return -1;
        to_vmm_config(&rd->c, &rd->cfg);
    }
    if (o->flag.kernel) {
        if (*ndoms == MAX_DOMS) {
            fprintf(stderr, "xenkvm run: at most %d domains\n", MAX_DOMS);
            return -1;
        }
        doms[(*ndoms)++] = (struct run_dom){ .cfg = o->flag,
                                             .source = "command line" };
        struct config_domain *c = &doms[*ndoms - 1].c;
        if (o->dt_path) {
            if (config_dt_load(o->dt_path, stderr, &c->dt))
                return -1;
            c->has_dt = true;
            if (config_irq_merge_dt(&c->irq, &c->dt)) {
                fprintf(stderr, "xenkvm run: out of memory\n");
                return -1;
            }
        }
    } else if (o->dt_path) {
        fprintf(stderr, "xenkvm run: --dt applies to the --kernel domain; "
                "use device_tree = \"...\" in an xl.cfg\n");
        return -1;
    }
    for (int i = 0; i < *ndoms; i++) {
        /* Domains get ids 1, 2, ... in order on a fresh host. */
        const struct config_domain *c = &doms[i].c;
        if (c->has_dt && c->dt.has_domid && c->dt.domid != (uint32_t)(i + 1)) {
            fprintf(stderr, "xenkvm run: %s: device tree says xenkvm,domid = "
                    "<%u> but the domain gets domid %d\n", doms[i].source,
                    c->dt.domid, i + 1);
            return -1;
        }
        to_vmm_irq(&c->irq, &doms[i].cfg.irq);
    }
    if (add_hostfwd(o, doms, *ndoms))
        return -1;
    if (*ndoms == 0) {
        fprintf(stderr, "xenkvm run: nothing to run: give --kernel FILE or "
                "an xl.cfg file (see xenkvm run --help)\n");
        return -1;
    }

    return 0;
}

/* Build the host and the domains, run them until they end (or Ctrl-C).
 * Returns the exit status. */
static int run_domains(const struct run_opts *o, struct run_dom *doms,
                       int ndoms, const struct config_host *irq_host)
{
    FILE *con = NULL;
    if (o->console_log && !(con = fopen(o->console_log, "a"))) {
        fprintf(stderr, "xenkvm run: cannot open console log '%s': %s\n",
                o->console_log, strerror(errno));
        return 2;
    }
    char err[512] = "";
    /* The store's socket where xenstore-utils look for it. */
    const char *sock = getenv("XENSTORED_PATH");
    /* No --control: the default path, if no other xenkvm serves it. */
    const char *control = o->control;
    char control_def[108];
    bool control_optional = !control &&
        ctl_default_path(control_def, sizeof(control_def)) == 0;
    if (control_optional)
        control = control_def;
    struct vmm_host_config hc = { .console = con, .prefix_console = ndoms > 1,
                                  .quiet = o->quiet, .dom0_pingpong = o->dom0_pp,
                                  .store_socket = sock && *sock ? sock :
                                                  STORE_DEFAULT_SOCKET,
                                  .irq_host = irq_host,
                                  .control_socket = control,
                                  .control_optional = control_optional };
    run_host = vmm_host_create(&hc, err, sizeof(err));
    if (!run_host) {
        fprintf(stderr, "xenkvm run: %s\n", err);
        if (con)
            fclose(con);
        return 2;
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
            return 2;
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

    bool interrupted = wait_and_restart(doms, vd, ndoms, o->quiet);
    if (interrupted) {
        /* As `xl shutdown`: ask through control/shutdown, give the guests
         * a moment, then destroy what is left (at once on a 2nd Ctrl-C). */
        if (!o->quiet)
            fprintf(stderr, "xenkvm run: interrupted: asking the guests to "
                    "power off (Ctrl-C again to destroy them now)\n");
        for (int i = 0; i < ndoms; i++)
            if (vmm_domain_outcome(vd[i], NULL) == VMM_RUNNING)
                vmm_domain_request_shutdown(vd[i], false);
        if (vmm_host_wait_timeout(run_host, 2000) > 0) {
            if (!o->quiet)
                fprintf(stderr, "xenkvm run: destroying the guests still "
                        "running\n");
            for (int i = 0; i < ndoms; i++)
                vmm_domain_kill(vd[i]);
        }
    }
    int status = 0;
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
    return status;
}

int cli_run(int argc, char **argv)
{
    struct run_opts o;
    int status = parse_opts(argc, argv, &o);
    if (status >= 0)
        return status;
    struct run_dom doms[MAX_DOMS];
    int ndoms = 0;
    struct config_host irq_host;
    memset(doms, 0, sizeof(doms));
    if (o.irq_path && config_host_load(o.irq_path, stderr, &irq_host))
        return 2;
    status = 2;
    if (load_domains(argc, argv, &o, doms, &ndoms) == 0)
        status = run_domains(&o, doms, ndoms, o.irq_path ? &irq_host : NULL);
    for (int i = 0; i < ndoms; i++)
        config_domain_free(&doms[i].c);
    if (o.irq_path)
        config_host_free(&irq_host);
    return status;
}

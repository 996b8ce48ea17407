/*
 * xenkvm: entry point. Dispatches to a subcommand through one table.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct cli_cmd cli_cmds[] = {
    { "console", cli_console, "attach to a guest's console (Ctrl-] detaches)" },
    { "destroy", cli_destroy, "stop a domain of a running xenkvm now" },
    { "evtchn", cli_evtchn, "event channels of a running xenkvm (evtchn list)" },
    { "irq", cli_irq, "host interrupt lines (irq list, raise, serve, check)" },
    { "list", cli_list, "the domains of a running xenkvm, as xl list" },
    { "run", cli_run, "run Xen PVH guests (xl.cfg files or --kernel)" },
    { "shutdown", cli_shutdown, "ask a domain to power off ([-w|--wait])" },
    { "reboot", cli_reboot, "ask a domain to reboot (then its on_reboot)" },
    { "block-detach", cli_block_detach, "hot-unplug a domain's disk (DOMAIN VDEV)" },
    { "mem-set", cli_mem_set, "set a domain's balloon target (DOMAIN MIB)" },
    { "xenstored", cli_xenstored, "run the XenStore daemon on a Unix socket" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: xenkvm COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
        fprintf(f, "  %-10s %s\n", cli_cmds[i].name, cli_cmds[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
        if (!strcmp(argv[1], cli_cmds[i].name))
            return cli_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "xenkvm: unknown command '%s' (try: xenkvm --help)\n", argv[1]);
    return 2;
}

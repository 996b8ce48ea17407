/*
 * The xl-style management verbs against a running `xenkvm run`, through
 * its control socket (docs/control.md):
 *
 *   xenkvm list [--socket PATH] [DOMAIN]
 *   xenkvm shutdown [--socket PATH] [-w|--wait] DOMAIN
 *   xenkvm reboot [--socket PATH] DOMAIN
 *   xenkvm destroy [--socket PATH] DOMAIN
 *
 * DOMAIN is a name or a domid, as with xl. The answer's shape is xl's:
 * `list` prints xl list's columns, the others print nothing. reboot asks
 * the guest through control/shutdown as xl reboot; what follows is the
 * domain's on_reboot (restart by default: `xenkvm run` builds it again).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xenkvm/ctl.h"

#include "cli.h"

int cli_list(int argc, char **argv)
{
    struct cli_ctl_args a;
    if (cli_ctl_args(argc, argv, 1, false, &a) || a.arg2) {
        fprintf(stderr, "usage: xenkvm list [--socket PATH] [DOMAIN]\n");
        return 2;
    }
    return cli_ctl_callf(&a, "xenkvm list", "list%s%.200s",
                         a.arg ? " " : "", a.arg ? a.arg : "");
}

/* Has the domain ended? Asked as `list DOMAIN`: gone (xl's invalid
 * domain identifier), or kept after its end with State "s" and not dying;
 * or the server is gone: `xenkvm run` exits once its last domain ended.
 * 1 yes, 0 no, -1 after a message. */
static int domain_ended(const char *sock, const char *dom)
{
    char req[CTL_LINE_MAX], err[512];
    snprintf(req, sizeof(req), "list %.200s", dom);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return -1;
    int rc = ctl_client_call(sock, req, f, err, sizeof(err));
    fclose(f);
    int ended = -1;
    /* The server may go in mid-request too: the run ended between our
     * connect and its answer (EPIPE, ECONNRESET, or no answer at all). */
    if ((rc == -EREMOTEIO && (strstr(err, "invalid domain identifier") ||
                              strstr(err, "without an answer"))) ||
        rc == -ENOENT || rc == -ECONNREFUSED || rc == -EPIPE ||
        rc == -ECONNRESET) {
        ended = 1;
    } else if (rc < 0) {
        cli_ctl_failed("xenkvm shutdown", sock, rc, err);
    } else {
        /* The row's State is its second-to-last field. */
        char *row = strchr(text, '\n');
        char *field[16];
        int n = 0;
        char *save = NULL;
        for (char *w = row ? strtok_r(row, " \t\n", &save) : NULL; w && n < 16;
             w = strtok_r(NULL, " \t\n", &save))
            field[n++] = w;
        ended = n >= 2 && strlen(field[n - 2]) == 6 &&
                field[n - 2][3] == 's' && field[n - 2][5] != 'd';
    }
    free(text);
    return ended;
}

int cli_shutdown(int argc, char **argv)
{
    struct cli_ctl_args a;
    if (cli_ctl_args(argc, argv, 1, true, &a) || !a.arg || a.arg2) {
        fprintf(stderr, "usage: xenkvm shutdown [--socket PATH] [-w|--wait] "
                "DOMAIN\n");
        return 2;
    }
    int st = cli_ctl_callf(&a, "xenkvm shutdown", "shutdown %.200s", a.arg);
    if (st || !a.wait)
        return st;
    /* As xl shutdown -w: until the domain has ended, however long. */
    int ended;
    while ((ended = domain_ended(a.sock, a.arg)) == 0)
        usleep(100000);
    return ended == 1 ? 0 : 1;
}

/* `xenkvm VERB [--socket PATH] DOMAIN`, whose answer is empty. */
static int domain_verb(int argc, char **argv, const char *verb)
{
    struct cli_ctl_args a;
    char who[32];
    snprintf(who, sizeof(who), "xenkvm %s", verb);
    if (cli_ctl_args(argc, argv, 1, false, &a) || !a.arg || a.arg2) {
        fprintf(stderr, "usage: %s [--socket PATH] DOMAIN\n", who);
        return 2;
    }
    return cli_ctl_callf(&a, who, "%s %.200s", verb, a.arg);
}

int cli_block_detach(int argc, char **argv)
{
    struct cli_ctl_args a;
    if (cli_ctl_args(argc, argv, 1, false, &a) || !a.arg2) {
        fprintf(stderr, "usage: xenkvm block-detach [--socket PATH] DOMAIN VDEV\n");
        return 2;
    }
    return cli_ctl_callf(&a, "xenkvm block-detach", "block-detach %.100s %.100s",
                         a.arg, a.arg2);
}

int cli_mem_set(int argc, char **argv)
{
    struct cli_ctl_args a;
    if (cli_ctl_args(argc, argv, 1, false, &a) || !a.arg2) {
        fprintf(stderr, "usage: xenkvm mem-set [--socket PATH] DOMAIN MIB\n");
        return 2;
    }
    return cli_ctl_callf(&a, "xenkvm mem-set", "mem-set %.100s %.100s",
                         a.arg, a.arg2);
}

int cli_reboot(int argc, char **argv)
{
    return domain_verb(argc, argv, "reboot");
}

int cli_destroy(int argc, char **argv)
{
    return domain_verb(argc, argv, "destroy");
}

/*
 * The xl-style management verbs against a running `xenkvm run`, through
 * its control socket (docs/control.md):
 *
 *   xenkvm list [--socket PATH] [DOMAIN]
 *   xenkvm shutdown [--socket PATH] [-w|--wait] DOMAIN
 *   xenkvm destroy [--socket PATH] DOMAIN
 *
 * DOMAIN is a name or a domid, as with xl. The answer's shape is xl's:
 * `list` prints xl list's columns, shutdown and destroy print nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xenkvm/ctl.h"

#include "cli.h"

/* Options shared by the three: --socket PATH, --wait (shutdown only); at
 * most one DOMAIN. 0, or the usage's exit status 2. */
struct xl_args {
    const char *sock;
    const char *dom;
    bool wait;
};

static int xl_parse(int argc, char **argv, bool can_wait, struct xl_args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--socket") && i + 1 < argc)
            a->sock = argv[++i];
        else if (can_wait && (!strcmp(argv[i], "-w") ||
                              !strcmp(argv[i], "--wait")))
            a->wait = true;
        else if (argv[i][0] != '-' && !a->dom)
            a->dom = argv[i];
        else
            return 2;
    }
    return 0;
}

int cli_list(int argc, char **argv)
{
    struct xl_args a;
    if (xl_parse(argc, argv, false, &a)) {
        fprintf(stderr, "usage: xenkvm list [--socket PATH] [DOMAIN]\n");
        return 2;
    }
    char buf[108], req[CTL_LINE_MAX];
    const char *sock = cli_ctl_path(a.sock, buf, sizeof(buf));
    if (!sock)
        return 2;
    snprintf(req, sizeof(req), "list%s%.200s", a.dom ? " " : "",
             a.dom ? a.dom : "");
    return cli_ctl_call("xenkvm list", sock, req);
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
    if ((rc == -EREMOTEIO && strstr(err, "invalid domain identifier")) ||
        rc == -ENOENT || rc == -ECONNREFUSED) {
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
    struct xl_args a;
    if (xl_parse(argc, argv, true, &a) || !a.dom) {
        fprintf(stderr, "usage: xenkvm shutdown [--socket PATH] [-w|--wait] "
                "DOMAIN\n");
        return 2;
    }
    char buf[108], req[CTL_LINE_MAX];
    const char *sock = cli_ctl_path(a.sock, buf, sizeof(buf));
    if (!sock)
        return 2;
    snprintf(req, sizeof(req), "shutdown %.200s", a.dom);
    int st = cli_ctl_call("xenkvm shutdown", sock, req);
    if (st || !a.wait)
        return st;
    /* As xl shutdown -w: until the domain has ended, however long. */
    int ended;
    while ((ended = domain_ended(sock, a.dom)) == 0)
        usleep(100000);
    return ended == 1 ? 0 : 1;
}

int cli_destroy(int argc, char **argv)
{
    struct xl_args a;
    if (xl_parse(argc, argv, false, &a) || !a.dom) {
        fprintf(stderr, "usage: xenkvm destroy [--socket PATH] DOMAIN\n");
        return 2;
    }
    char buf[108], req[CTL_LINE_MAX];
    const char *sock = cli_ctl_path(a.sock, buf, sizeof(buf));
    if (!sock)
        return 2;
    snprintf(req, sizeof(req), "destroy %.200s", a.dom);
    return cli_ctl_call("xenkvm destroy", sock, req);
}

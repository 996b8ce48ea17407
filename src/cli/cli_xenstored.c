/*
 * `xenkvm xenstored [--socket PATH] [--verbose]`: the XenStore daemon
 * alone, serving domain 0's clients (xenstore-utils, libxenstore with
 * XENSTORED_PATH) on a Unix socket until SIGINT/SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "xenkvm/store.h"

static volatile int stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xenkvm xenstored [--socket PATH] [--busy-poll USEC] "
            "[--verbose]\n"
            "  --socket PATH     listen on PATH (default %s)\n"
            "  --busy-poll USEC  after a reply, check for the next request\n"
            "                    for up to USEC us before sleeping (adaptive;\n"
            "                    default %u, 0: always sleep)\n"
            "  --verbose         log every request\n"
            "Clients: XENSTORED_PATH=PATH xenstore-ls /\n",
            STORE_DEFAULT_SOCKET, STORE_SOCK_BUSY_POLL_DEFAULT);
}

int cli_xenstored(int argc, char **argv)
{
    static const struct option opts[] = {
        { "socket", required_argument, NULL, 's' },
        { "busy-poll", required_argument, NULL, 'b' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = STORE_DEFAULT_SOCKET;
    bool verbose = false;
    unsigned busy_poll = STORE_SOCK_BUSY_POLL_DEFAULT;
    char *end;
    unsigned long v;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "s:b:vh", opts, NULL)) != -1) {
        switch (o) {
        case 's': path = optarg; break;
        case 'b':
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (!*optarg || *end || errno || v > 1000000) {
                fprintf(stderr, "xenkvm xenstored: --busy-poll takes "
                        "microseconds, 0..1000000\n");
                return 2;
            }
            busy_poll = (unsigned)v;
            break;
        case 'v': verbose = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    struct store *s = store_create(NULL, NULL);
    if (!s) {
        fprintf(stderr, "xenkvm xenstored: out of memory\n");
        return 1;
    }
    store_set_verbose(s, verbose);
    int err;
    struct store_sock *k = store_sock_open(s, path, &err);
    if (!k) {
        fprintf(stderr, "xenkvm xenstored: cannot listen on %s: %s%s\n", path,
                strerror(-err),
                err == -EACCES ? " (use --socket PATH in a writable directory)"
                : err == -EEXIST ? " (a file that is not a socket is there)"
                : "");
        store_destroy(s);
        return 1;
    }
    store_sock_set_busy_poll(k, busy_poll);
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (verbose)
        fprintf(stderr, "xenkvm xenstored: listening on %s\n", path);
    int rc = store_sock_run(k, &stop);
    store_sock_close(k);
    store_destroy(s);
    if (rc) {
        fprintf(stderr, "xenkvm xenstored: %s\n", strerror(-rc));
        return 1;
    }
    return 0;
}

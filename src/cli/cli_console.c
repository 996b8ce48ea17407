/*
 * `xenkvm console [--socket PATH] DOMAIN`: attach to a guest's console, as
 * `xl console`: the guest's output on the terminal, the keyboard into its
 * console ring; Ctrl-] (0x1d) detaches. The terminal is in raw mode while
 * attached (when stdin is one), so keys go to the guest as typed. It also
 * ends when the domain ends or stdin reaches EOF.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "xenkvm/ctl.h"
#include "xenkvm/util.h"

#include "cli.h"

#define DETACH_KEY 0x1d         /* Ctrl-], as xl's xenconsole */

/* Copy what the guest sent to stdout. false: the server hung up. */
static bool from_guest(int fd)
{
    char buf[4096];
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR)
        return true;
    if (r <= 0)
        return false;
    for (ssize_t o = 0; o < r;) {
        ssize_t w = write(STDOUT_FILENO, buf + o, (size_t)(r - o));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        o += w;
    }
    return true;
}

/* Send the keyboard to the guest up to a Ctrl-]. false: detach. */
static bool to_guest(int fd)
{
    char buf[1024];
    ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
    if (r < 0 && errno == EINTR)
        return true;
    if (r <= 0)
        return false;
    char *stop = memchr(buf, DETACH_KEY, (size_t)r);
    size_t n = stop ? (size_t)(stop - buf) : (size_t)r;
    /* A guest that does not read its input makes this wait (the
     * backend's back-pressure): typing just queues up. */
    if (n && util_write_all(fd, buf, n, -1) < 0)
        return false;
    return !stop;
}

int cli_console(int argc, char **argv)
{
    struct cli_ctl_args a;
    if (cli_ctl_args(argc, argv, 1, false, &a) || !a.arg || a.arg2) {
        fprintf(stderr, "usage: xenkvm console [--socket PATH] DOMAIN\n"
                "  detach with Ctrl-]\n");
        return 2;
    }
    char req[CTL_LINE_MAX], err[512];
    const char *sock = cli_ctl_socket(&a);
    if (!sock)
        return 2;
    snprintf(req, sizeof(req), "console %.200s", a.arg);
    int fd;
    int rc = ctl_client_open(sock, req, &fd, err, sizeof(err));
    if (rc < 0) {
        cli_ctl_failed("xenkvm console", sock, rc, err);
        return 1;
    }
    struct termios saved, raw;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
    }
    bool in_open = true;
    for (;;) {
        struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
                               { .fd = in_open ? STDIN_FILENO : -1,
                                 .events = POLLIN } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents && !from_guest(fd))
            break;                      /* the domain ended */
        if (p[1].revents && !to_guest(fd))
            break;                      /* Ctrl-] or EOF: detach */
    }
    if (tty)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    close(fd);
    return 0;
}

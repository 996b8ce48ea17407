/*
 * libFuzzer harness for the control server's request parsing
 * (src/ctl/ctl_server.c): each input is what a local client sends on the
 * real Unix socket, served by the real server on a util_loop run in this
 * thread. Verbs of one, two and three words are registered; a handler
 * echoes its words, so the answer's body shows what the parser split.
 * Every answer must start with "ok\n" or "error: " and end; the server must
 * close every connection by itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xenkvm/ctl.h"
#include "xenkvm/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void echo_verb(void *opaque, struct ctl_req *req)
{
    (void)opaque;
    if (req->argc > CTL_MAX_WORDS)
        __builtin_trap();
    for (int i = 0; i < req->argc; i++) {
        if (!req->argv[i] || !*req->argv[i] || strchr(req->argv[i], ' ') ||
            strchr(req->argv[i], '\n'))
            __builtin_trap();       /* the parser split words wrong */
        fprintf(req->out, "%s\n", req->argv[i]);
    }
}

static void fail_verb(void *opaque, struct ctl_req *req)
{
    (void)opaque;
    fprintf(req->out, "dropped body");
    if (req->argc)
        ctl_req_usage(req);
    else
        ctl_req_error(req, "failed %d", 42);
}

static struct util_loop *loop;
static struct ctl_server *srv;
static char path[108];

static void setup(void)
{
    snprintf(path, sizeof(path), "/tmp/xenkvm-fuzz-ctl-%d.sock", (int)getpid());
    loop = util_loop_create();
    if (!loop || ctl_server_create(loop, path, &srv) < 0)
        abort();
    ctl_register(srv, "list", echo_verb, NULL, "list");
    ctl_register(srv, "irq list", echo_verb, NULL, "irq list");
    ctl_register(srv, "irq raise", fail_verb, NULL, "irq raise LINE");
    ctl_register(srv, "a b c", echo_verb, NULL, "a b c ...");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop)
        setup();
    int fd = util_unix_connect(path);
    if (fd < 0)
        abort();
    /* The request and whatever follows it; a client that sends more than
     * the socket takes at once is cut short, as a real one would be. */
    if (size && send(fd, data, size > 65536 ? 65536 : size,
                     MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
        abort();
    shutdown(fd, SHUT_WR);
    char ans[4096], head[8] = "";
    size_t got = 0, total = 0;
    for (int spins = 0; spins < 10000; spins++) {
        util_loop_run_once(loop, 0);
        ssize_t r = recv(fd, ans + got, sizeof(ans) - 1 - got, MSG_DONTWAIT);
        if (r == 0)
            break;                          /* the server closed: done */
        if (r > 0) {
            for (ssize_t i = 0; i < r && total + (size_t)i < sizeof(head) - 1; i++)
                head[total + (size_t)i] = ans[got + (size_t)i];
            total += (size_t)r;
            got += (size_t)r;
            if (got == sizeof(ans) - 1)
                got = 0;                    /* keep reading, keep the tail */
        }
        if (spins == 9999)
            __builtin_trap();               /* never answered and closed */
    }
    ans[got] = '\0';
    /* Anything said starts with the status line. */
    if (total && strncmp(head, "ok\n", total < 3 ? total : 3) &&
        strncmp(head, "error: ", total < 7 ? total : 7))
        __builtin_trap();
    close(fd);
    return 0;
}

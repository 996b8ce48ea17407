/* The `xenkvm` command: one function per subcommand, each in its own file. */
#ifndef XENKVM_CLI_H
#define XENKVM_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* Each returns the process exit status. argv[0] is the subcommand name. */
int cli_console(int argc, char **argv);   /* cli_console.c */
int cli_evtchn(int argc, char **argv);    /* cli_evtchn.c */
int cli_irq(int argc, char **argv);       /* cli_irq.c */
int cli_run(int argc, char **argv);       /* cli_run.c */
int cli_xenstored(int argc, char **argv); /* cli_xenstored.c */
int cli_list(int argc, char **argv);      /* cli_xl.c: list, shutdown, */
int cli_shutdown(int argc, char **argv);  /* reboot, destroy */
int cli_reboot(int argc, char **argv);
int cli_destroy(int argc, char **argv);
int cli_block_detach(int argc, char **argv);
int cli_mem_set(int argc, char **argv);

/* cli_ctl.c: the control socket's client side for every subcommand. */
/* The message for a failed ctl_client_open/call (rc, err). */
void cli_ctl_failed(const char *who, const char *path, int rc,
                    const char *err);

/* What a control subcommand is given: --socket PATH, -w or --wait (where
 * the subcommand takes it), at most two ARGs (a domain, a line, a domid;
 * a domain's device). */
struct cli_ctl_args {
    const char *sock;          /* --socket's PATH; then the one used */
    const char *arg, *arg2;
    bool wait;
    char buf[108];             /* the default path, when it is used */
};
/* Parse argv[first..argc) into a: 0, or 2 (the usage's exit status) at
 * the first word that is none of these; what came before it stays in a. */
int cli_ctl_args(int argc, char **argv, int first, bool can_wait,
                 struct cli_ctl_args *a);
/* a's socket: --socket's PATH, else ctl_default_path into a->buf; NULL
 * after a message. */
const char *cli_ctl_socket(struct cli_ctl_args *a);
/* Send the request formatted from fmt to a's socket, print the answer's
 * body on stdout; the server's error (or why it cannot be reached) on
 * stderr as "who: ...". The exit status: 0, 1, or 2 when there is no
 * socket path. */
int cli_ctl_callf(struct cli_ctl_args *a, const char *who, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));

#endif

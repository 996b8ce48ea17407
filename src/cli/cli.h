/* The `xenkvm` command: one function per subcommand, each in its own file. */
#ifndef XENKVM_CLI_H
#define XENKVM_CLI_H

#include <stddef.h>

/* Each returns the process exit status. argv[0] is the subcommand name. */
int cli_console(int argc, char **argv);   /* cli_console.c */
int cli_evtchn(int argc, char **argv);    /* cli_evtchn.c */
int cli_irq(int argc, char **argv);       /* cli_irq.c */
int cli_run(int argc, char **argv);       /* cli_run.c */
int cli_xenstored(int argc, char **argv); /* cli_xenstored.c */
int cli_list(int argc, char **argv);      /* cli_xl.c: list, shutdown, */
int cli_shutdown(int argc, char **argv);  /* destroy */
int cli_destroy(int argc, char **argv);

/* cli_ctl.c: the control socket's client side for every subcommand.
 * The socket: given (--socket PATH), else ctl_default_path into buf;
 * NULL after a message. */
const char *cli_ctl_path(const char *given, char *buf, size_t n);
/* Send request to path, print the answer's body on stdout; the server's
 * error (or why it cannot be reached) on stderr as "who: ...". The exit
 * status: 0, or 1. */
int cli_ctl_call(const char *who, const char *path, const char *request);
/* The message for a failed ctl_client_open/call (rc, err). */
void cli_ctl_failed(const char *who, const char *path, int rc,
                    const char *err);

#endif

/* The `xenkvm` command: one function per subcommand, each in its own file. */
#ifndef XENKVM_CLI_H
#define XENKVM_CLI_H

/* Each returns the process exit status. argv[0] is the subcommand name. */
int cli_evtchn(int argc, char **argv);    /* cli_evtchn.c */
int cli_irq(int argc, char **argv);       /* cli_irq.c */
int cli_run(int argc, char **argv);       /* cli_run.c */
int cli_xenstored(int argc, char **argv); /* cli_xenstored.c */

/* Send one control-socket request, print the answer (cli_evtchn.c). */
int cli_control_request(const char *who, const char *path,
                        const char *request);

#endif

/*
 * Private helpers of src/config shared by config_xl.c (a domain's xl.cfg)
 * and config_host.c (the host interrupt file): both are libxlutil texts.
 */
#ifndef XENKVM_CONFIG_INT_H
#define XENKVM_CONFIG_INT_H

#include <libxlutil.h>

#include "xenkvm/config.h"

/* Largest xl.cfg text and list accepted (configs are small; the caps keep
 * a hostile file from costing much). */
#define CONFIG_MAX_TEXT    (1u << 20)
#define CONFIG_MAX_ENTRIES 1024u

/* Open len bytes of text named name with libxlutil, which prints a syntax
 * error (file:line: ...) itself. NULL with *rc = -EINVAL / -ENOMEM. */
XLU_Config *config_xlu_open(const char *data, size_t len, const char *name,
                            FILE *report, int *rc);
/* The whole string is one number in base (no sign, no junk, no overflow). */
bool config_parse_u64(const char *s, int base, uint64_t *v);
/* List key n; *list NULL with *count 0 when it is not set. 0 or -EINVAL
 * (not a list, too long: named on report). */
int config_get_list(XLU_Config *c, const char *n, const char *file,
                    FILE *report, XLU_ConfigList **list, int *count);
/* Read the file at path, at most max bytes (what: its kind, for the
 * message). 0 or -errno after one message naming it. */
int config_read(const char *path, const char *what, size_t max, FILE *report,
                char **text, size_t *len);

/* vif = [ ... ] into out->vifs (config_vif.c); config_vifs_free frees
 * them. 0, -EINVAL (one message on report), -ENOMEM. */
int config_parse_vifs(XLU_Config *c, const char *name, FILE *report,
                      struct config_domain *out);
void config_vifs_free(struct config_domain *c);

#endif

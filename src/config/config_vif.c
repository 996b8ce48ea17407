/*
 * vif = [ ... ] of a domain's xl.cfg: each entry is xl's comma-separated
 * key=value list (xl-network-configuration(5)), read here; its rate= goes
 * through libxlutil's own xlu_vif_parse_rate. A bad entry is one message
 * naming the file, the entry and the key.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxl.h>

#include "config_int.h"

#define VIF_MAX_SPEC 1024u

/* "xx:xx:xx:xx:xx:xx", a unicast address. */
static bool parse_mac(const char *s, uint8_t mac[6])
{
    for (int i = 0; i < 6; i++) {
        if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
            return false;
        char hex[3] = { s[0], s[1], 0 };
        mac[i] = (uint8_t)strtoul(hex, NULL, 16);
        s += 2;
        if (i < 5 && *s++ != ':')
            return false;
    }
    return *s == 0 && !(mac[0] & 1);
}

/* ip=: xl takes a space-separated list; the first IPv4 one is the
 * guest's address for port forwards. */
static bool parse_ip(const char *s, struct in_addr *ip)
{
    char buf[64];
    while (*s) {
        size_t n = strcspn(s, " ");
        if (n && n < sizeof(buf)) {
            memcpy(buf, s, n);
            buf[n] = 0;
            if (inet_pton(AF_INET, buf, ip) == 1)
                return true;
        }
        s += n;
        s += strspn(s, " ");
    }
    return false;
}

static int vif_set_str(char **dst, const char *v)
{
    free(*dst);
    return (*dst = strdup(v)) ? 0 : -ENOMEM;
}

/* One key=value of entry i into v. */
static int vif_key(XLU_Config *c, const char *name, FILE *report, int i,
                   const char *k, const char *val, struct config_vif *v)
{
    char err[128];
    if (!strcmp(k, "mac")) {
        if (parse_mac(val, v->mac)) {
            v->has_mac = true;
            return 0;
        }
        fprintf(report, "%s: vif entry %d: mac=%s: expected a unicast "
                "xx:xx:xx:xx:xx:xx\n", name, i, val);
    } else if (!strcmp(k, "bridge")) {
        if (*val && strlen(val) < 16 && !strchr(val, '/'))
            return vif_set_str(&v->bridge, val);
        fprintf(report, "%s: vif entry %d: bridge=%s: not an interface "
                "name\n", name, i, val);
    } else if (!strcmp(k, "vifname")) {
        if (*val && strlen(val) < 16 && !strchr(val, '/'))
            return vif_set_str(&v->vifname, val);
        fprintf(report, "%s: vif entry %d: vifname=%s: not an interface "
                "name (at most 15 characters)\n", name, i, val);
    } else if (!strcmp(k, "ip")) {
        if (parse_ip(val, &v->ip))
            return 0;
        fprintf(report, "%s: vif entry %d: ip=%s: no IPv4 address\n", name,
                i, val);
    } else if (!strcmp(k, "type")) {
        if (!strcmp(val, "vif") || !strcmp(val, "ioemu"))
            return 0;
        fprintf(report, "%s: vif entry %d: type=%s: expected vif or ioemu\n",
                name, i, val);
    } else if (!strcmp(k, "backend")) {
        if (!strcmp(val, "0") || !strcmp(val, "Domain-0"))
            return 0;
        fprintf(report, "%s: vif entry %d: backend=%s: only domain 0 runs "
                "backends here\n", name, i, val);
    } else if (!strcmp(k, "rate")) {
        libxl_device_nic nic;
        libxl_device_nic_init(&nic);
        int bad = xlu_vif_parse_rate(c, val, &nic);
        v->rate_bytes = nic.rate_bytes_per_interval;
        v->rate_usecs = nic.rate_interval_usecs;
        libxl_device_nic_dispose(&nic);
        if (!bad)
            return 0;
        fprintf(report, "%s: vif entry %d: rate=%s: expected RATE[@INTERVAL], "
                "e.g. 10Mb/s@20ms\n", name, i, val);
    } else if (!strcmp(k, "hostfwd")) {
        if (v->nfwd == CONFIG_MAX_HOSTFWD) {
            fprintf(report, "%s: vif entry %d: more than %u hostfwd rules\n",
                    name, i, CONFIG_MAX_HOSTFWD);
        } else if (net_hostfwd_parse(val, &v->fwd[v->nfwd], err,
                                     sizeof(err)) == 0) {
            v->nfwd++;
            return 0;
        } else {
            fprintf(report, "%s: vif entry %d: hostfwd=%s: %s\n", name, i,
                    val, err);
        }
    } else if (!strcmp(k, "script")) {
        fprintf(report, "%s: vif entry %d: script=%s ignored: xenkvm runs "
                "no hotplug scripts\n", name, i, val);
        return 0;
    } else if (!strcmp(k, "model")) {
        return 0;               /* an emulated NIC's: a PVH guest has none */
    } else {
        fprintf(report, "%s: vif entry %d: unknown option %s ignored\n",
                name, i, k);
        return 0;
    }
    return -EINVAL;
}

/* One entry, "key=value, key=value". */
static int parse_vif(XLU_Config *c, const char *name, FILE *report, int i,
                     const char *spec, struct config_vif *v)
{
    if (!spec) {
        fprintf(report, "%s: vif entry %d: expected a string\n", name, i);
        return -EINVAL;
    }
    if (strlen(spec) > VIF_MAX_SPEC) {
        fprintf(report, "%s: vif entry %d: longer than %u characters\n",
                name, i, VIF_MAX_SPEC);
        return -EINVAL;
    }
    char *copy = strdup(spec), *save = NULL;
    if (!copy)
        return -ENOMEM;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc;
         tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok))
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && isspace((unsigned char)end[-1]))
            *--end = 0;
        if (!*tok)
            continue;
        char *eq = strchr(tok, '=');
        if (!eq) {
            fprintf(report, "%s: vif entry %d: '%.32s': expected key=value\n",
                    name, i, tok);
            rc = -EINVAL;
            break;
        }
        char *val = eq + 1;
        while (eq > tok && isspace((unsigned char)eq[-1]))
            eq--;
        *eq = 0;
        while (isspace((unsigned char)*val))
            val++;
        rc = vif_key(c, name, report, i, tok, val, v);
    }
    free(copy);
    return rc;
}

void config_vifs_free(struct config_domain *c)
{
    for (unsigned int i = 0; i < c->nr_vifs; i++) {
        free(c->vifs[i].bridge);
        free(c->vifs[i].vifname);
    }
    free(c->vifs);
    c->vifs = NULL;
    c->nr_vifs = 0;
}

int config_parse_vifs(XLU_Config *c, const char *name, FILE *report,
                      struct config_domain *out)
{
    XLU_ConfigList *l;
    int n;
    int rc = config_get_list(c, "vif", name, report, &l, &n);
    if (rc || n == 0)
        return rc;
    if (!(out->vifs = calloc((size_t)n, sizeof(*out->vifs))))
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        struct config_vif *v = &out->vifs[i];
        v->devid = (uint32_t)i;
        out->nr_vifs++;         /* what parse_vif set is freed with it */
        rc = parse_vif(c, name, report, i + 1, xlu_cfg_get_listitem(l, i), v);
        if (rc)
            return rc;
        if (v->nfwd && v->bridge) {
            fprintf(report, "%s: vif entry %d: hostfwd is for user-mode "
                    "networking, not bridge=%s\n", name, i + 1, v->bridge);
            return -EINVAL;
        }
        for (int j = 0; j < i; j++)
            if (v->has_mac && out->vifs[j].has_mac &&
                !memcmp(out->vifs[j].mac, v->mac, 6)) {
                fprintf(report, "%s: vif entries %d and %d: the same mac\n",
                        name, j + 1, i + 1);
                return -EINVAL;
            }
    }
    return 0;
}

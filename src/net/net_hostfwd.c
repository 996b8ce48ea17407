/*
 * QEMU's hostfwd syntax, "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport",
 * as xl.cfg and the command line give port forwards of user-mode
 * networking (net_slirp.c adds them).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_int.h"

/* The field of s up to the first sep (or its end if sep is 0) into buf:
 * the rest after sep, or NULL if there is no sep or the field is too
 * long. */
static const char *field(const char *s, char sep, char *buf, size_t n)
{
    const char *e = sep ? strchr(s, sep) : s + strlen(s);

    if (!e || (size_t)(e - s) >= n)
        return NULL;
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    return sep ? e + 1 : e;
}

/* A port 1..65535 in decimal, or -1. */
static int port_num(const char *s)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9')
        return -1;
    v = strtoul(s, &end, 10);
    return *end || v < 1 || v > 65535 ? -1 : (int)v;
}

/* An IPv4 address, or INADDR_ANY for "". */
static bool addr(const char *s, struct in_addr *out)
{
    out->s_addr = htonl(INADDR_ANY);
    return !*s || inet_pton(AF_INET, s, out) == 1;
}

int net_hostfwd_parse(const char *s, struct net_hostfwd *out, char *err,
                      size_t errlen)
{
    char proto[8], haddr[32], hport[8], gaddr[32], gport[8];
    const char *p = s;
    int hp, gp;

    memset(out, 0, sizeof(*out));
    if (!(p = field(p, ':', proto, sizeof(proto))) ||
        !(p = field(p, ':', haddr, sizeof(haddr))) ||
        !(p = field(p, '-', hport, sizeof(hport))) ||
        !(p = field(p, ':', gaddr, sizeof(gaddr))) ||
        !field(p, 0, gport, sizeof(gport))) {
        snprintf(err, errlen, "port forward '%s': not "
                 "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport", s);
        return -EINVAL;
    }
    if (strcmp(proto, "") && strcmp(proto, "tcp") && strcmp(proto, "udp")) {
        snprintf(err, errlen, "port forward '%s': protocol '%s' is not tcp "
                 "or udp", s, proto);
        return -EINVAL;
    }
    if (!addr(haddr, &out->host_addr) || !addr(gaddr, &out->guest_addr)) {
        snprintf(err, errlen, "port forward '%s': '%s' is not an IPv4 "
                 "address", s, addr(haddr, &out->host_addr) ? gaddr : haddr);
        return -EINVAL;
    }
    hp = port_num(hport);
    gp = port_num(gport);
    if (hp < 0 || gp < 0) {
        snprintf(err, errlen, "port forward '%s': port '%s' is not 1-65535",
                 s, hp < 0 ? hport : gport);
        return -EINVAL;
    }
    out->udp = !strcmp(proto, "udp");
    out->host_port = (uint16_t)hp;
    out->guest_port = (uint16_t)gp;
    return 0;
}

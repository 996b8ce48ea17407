/*
 * QEMU's hostfwd rule syntax, "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport",
 * for xl.cfg's vif hostfwd= and `xenkvm run --hostfwd`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xenkvm/net.h"

/* "[addr]:port" up to end; port 1..65535 (0 too when zero_ok). */
static int hostfwd_addr_port(const char *s, const char *end,
                             struct in_addr *addr, uint16_t *port,
                             bool zero_ok)
{
    const char *colon = memchr(s, ':', (size_t)(end - s));
    char buf[32];
    if (!colon)
        return -EINVAL;
    size_t alen = (size_t)(colon - s);
    if (alen >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, alen);
    buf[alen] = 0;
    addr->s_addr = htonl(INADDR_ANY);
    if (alen && inet_pton(AF_INET, buf, addr) != 1)
        return -EINVAL;
    size_t plen = (size_t)(end - colon - 1);
    if (plen == 0 || plen > 5)
        return -EINVAL;
    unsigned long p = 0;
    for (const char *c = colon + 1; c < end; c++) {
        if (*c < '0' || *c > '9')
            return -EINVAL;
        p = p * 10 + (unsigned long)(*c - '0');
    }
    if (p > 65535 || (p == 0 && !zero_ok))
        return -EINVAL;
    *port = (uint16_t)p;
    return 0;
}

int net_hostfwd_parse(const char *s, struct net_hostfwd *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof(*out));
    /* As QEMU: the protocol field up to the first ':' may be empty (tcp). */
    const char *colon = strchr(s, ':');
    size_t plen = colon ? (size_t)(colon - s) : 0;
    if (!colon || !(plen == 0 || (plen == 3 && (!strncmp(s, "tcp", 3) ||
                                               !strncmp(s, "udp", 3))))) {
        snprintf(err, errlen, "expected tcp: or udp: (or : for tcp) first");
        return -EINVAL;
    }
    out->udp = plen == 3 && !strncmp(s, "udp", 3);
    s = colon + 1;
    const char *dash = strchr(s, '-');
    if (!dash || hostfwd_addr_port(s, dash, &out->host_addr,
                                   &out->host_port, true)) {
        snprintf(err, errlen, "expected [tcp|udp]:[hostaddr]:hostport-"
                 "[guestaddr]:guestport");
        return -EINVAL;
    }
    if (hostfwd_addr_port(dash + 1, dash + 1 + strlen(dash + 1),
                          &out->guest_addr, &out->guest_port, false)) {
        snprintf(err, errlen, "expected [tcp|udp]:[hostaddr]:hostport-"
                 "[guestaddr]:guestport (guest port 1-65535)");
        return -EINVAL;
    }
    return 0;
}

/*
 * Paths as the wire names them: a domain's home /local/domain/<id>, a
 * request's path made absolute and checked (xenstored's canonicalize()),
 * and the parent of a canonical path. Every request and every in-process
 * client call goes through store_path_canon; view.c and watch.c walk up
 * the tree with store_path_parent_len.
 */
#include "store_int.h"

int store_domain_path(domid_t domid, char *buf, size_t size)
{
    /* Every relative path of every request comes through here: format by
     * hand (snprintf was ~15% of a request's user-space instructions). */
    static const char pre[] = "/local/domain/";
    char tmp[sizeof(pre) + 5];
    char dig[5];
    unsigned n = 0, v = domid;
    do {
        dig[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(tmp, pre, sizeof(pre) - 1);
    size_t l = sizeof(pre) - 1;
    while (n)
        tmp[l++] = dig[--n];
    if (size) {
        size_t c = l < size - 1 ? l : size - 1;
        memcpy(buf, tmp, c);
        buf[c] = 0;
    }
    return (int)l;
}

static bool valid_chars(const char *p)
{
    for (; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '/' ||
              ch == '_' || ch == '@'))
            return false;
    }
    return true;
}

/*
 * xenstored's canonicalize(): relative paths are under the connection's
 * /local/domain/<id>; then no trailing '/', no "//", only [A-Za-z0-9-/_@],
 * and the path length quota (without the /local/domain/<id>/ part) for
 * guests. The absolute path goes into buf. 0 or EINVAL.
 */
int store_path_canon(struct store_conn *c, const char *in, bool allow_special,
                     char *buf, uint32_t *plen, bool *relative)
{
    if (!in || !valid_chars(in) || (in[0] == '@' && !allow_special))
        return EINVAL;
    size_t l;
    bool rel = in[0] != '/' && in[0] != '@';
    if (rel) {
        int n = store_domain_path(c->id, buf, 64);
        l = strlen(in);
        if (l + (size_t)n + 2 > XENSTORE_ABS_PATH_MAX + 1)
            return EINVAL;
        buf[n] = '/';
        memcpy(buf + n + 1, in, l + 1);
        l += (size_t)n + 1;
    } else {
        l = strlen(in);
        if (l > XENSTORE_ABS_PATH_MAX)
            return EINVAL;
        memcpy(buf, in, l + 1);
    }
    if (relative)
        *relative = rel;
    if (buf[0] == '@') {
        *plen = (uint32_t)l;
        return l > XENSTORE_REL_PATH_MAX ? EINVAL : 0;
    }
    if ((l > 1 && buf[l - 1] == '/') || strstr(buf, "//"))
        return EINVAL;
    /* Length quota counts from after /local/domain/<id>/ (xenstored). */
    size_t local_off = 0;
    if (!strncmp(buf, "/local/domain/", 14)) {
        size_t i = 14;
        while (i < l && i < 19 && buf[i] >= '0' && buf[i] <= '9')
            i++;
        if (i > 14 && buf[i] == '/')
            local_off = i + 1;
    }
    if (!store_quota_ok(c->s, c, STORE_Q_PATH, 0, l - local_off))
        return EINVAL;
    *plen = (uint32_t)l;
    return 0;
}

uint32_t store_path_parent_len(const char *path, uint32_t plen)
{
    uint32_t i = plen;
    while (i > 0 && path[i - 1] != '/')
        i--;
    return i > 1 ? i - 1 : 1;
}

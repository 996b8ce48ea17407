/*
 * Node permissions: the text form of the wire ("r5", "w0", "b1", "n0";
 * the first entry names the owner and what everyone else gets) and the
 * check xenstored's perm_for_conn() makes.
 */
#include <stdlib.h>

#include "store_int.h"

bool store_conn_unpriv(const struct store_conn *c)
{
    return !c->priv && c->id != 0;
}

int store_perms_parse(const char *s, uint32_t len, unsigned n,
                      struct store_perm *out)
{
    uint32_t off = 0;
    for (unsigned i = 0; i < n; i++) {
        const char *p = s + off;
        uint32_t l = strnlen(p, len - off);
        if (off + l >= len || l < 2 || l > 6)
            return EINVAL;
        switch (p[0]) {
        case 'n': out[i].perms = XS_PERM_NONE; break;
        case 'r': out[i].perms = XS_PERM_READ; break;
        case 'w': out[i].perms = XS_PERM_WRITE; break;
        case 'b': out[i].perms = XS_PERM_READ | XS_PERM_WRITE; break;
        default: return EINVAL;
        }
        unsigned long id = 0;
        for (uint32_t k = 1; k < l; k++) {
            if (p[k] < '0' || p[k] > '9')
                return EINVAL;
            id = id * 10 + (unsigned)(p[k] - '0');
        }
        if (id >= DOMID_FIRST_RESERVED)
            return EINVAL;
        out[i].id = (domid_t)id;
        off += l + 1;
    }
    return 0;
}

uint32_t store_perms_format(const struct store_perm *p, uint32_t n, char *buf)
{
    static const char letter[4] = { 'n', 'r', 'w', 'b' };
    uint32_t off = 0;
    for (uint32_t i = 0; i < n; i++)
        off += (uint32_t)sprintf(buf + off, "%c%u",
                                 letter[p[i].perms & 3], p[i].id) + 1;
    return off;
}

/*
 * An entry naming a domain that is gone, or that came to be after the
 * entry was written (a reused domid), is ignored (XS_PERM_IGNORE in
 * xenstored): a new domain with an old number inherits no access.
 */
bool store_perm_stale(struct store *s, const struct store_node *n,
                      const struct store_perm *p, uint64_t permgen)
{
    (void)n;
    if (p->id == 0)
        return false;
    struct store_domain *d = store_domain_get(s, p->id);
    return !d || d->gen > permgen;
}

unsigned store_perm_for(struct store *s, const struct store_conn *c,
                        const struct store_perm *p, uint32_t n,
                        uint64_t permgen)
{
    const unsigned all = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
    if (!store_conn_unpriv(c))
        return all;
    domid_t target = c->dom ? c->dom->target : DOMID_INVALID;
    domid_t owner = store_perm_stale(s, NULL, &p[0], permgen) ? 0 : p[0].id;
    if (owner == c->id || (target != DOMID_INVALID && owner == target))
        return all;
    for (uint32_t i = 1; i < n; i++) {
        if (store_perm_stale(s, NULL, &p[i], permgen))
            continue;
        if (p[i].id == c->id || (target != DOMID_INVALID && p[i].id == target))
            return p[i].perms & (XS_PERM_READ | XS_PERM_WRITE);
    }
    return p[0].perms & (XS_PERM_READ | XS_PERM_WRITE);
}

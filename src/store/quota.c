/*
 * The quota table: one row per guest-controllable resource with Xen's name,
 * default and meaning; global values with per-domain overrides, read and
 * changed at run time (CONTROL quota, GET_QUOTA/SET_QUOTA, the C API).
 * Domain 0 and the socket are not limited, as in xenstored. Every refusal
 * is logged (rate-limited) with what to do about it, because silent quota
 * refusals are what users of C xenstored keep tripping over.
 */
#include <stdlib.h>

#include "store_int.h"

static const struct {
    const char *name;
    const char *descr;
    unsigned def;
} quota_tab[STORE_Q_NR] = {
    [STORE_Q_NODES] = { "nodes", "Nodes per domain", 1000 },
    [STORE_Q_WATCHES] = { "watches", "Watches per domain", 128 },
    [STORE_Q_OUTSTANDING] = { "outstanding",
                              "Outstanding requests per domain", 20 },
    [STORE_Q_MEMORY] = { "memory", "Total Xenstore memory per domain",
                         2 * 1024 * 1024 + 512 * 1024 },
    [STORE_Q_TRANSACTIONS] = { "transactions",
                               "Active transactions per domain", 10 },
    [STORE_Q_TXN_NODES] = { "transaction-nodes",
                            "Max. number of accessed nodes per transaction",
                            1024 },
    [STORE_Q_PERMS] = { "node-permissions",
                        "Max. number of permissions per node", 5 },
    [STORE_Q_PATH] = { "path-max", "Max. length of a node path",
                       XENSTORE_REL_PATH_MAX },
    [STORE_Q_NODE_SIZE] = { "node-size", "Max. size of a node", 2048 },
};
#define SOFT_MEMORY_DEFAULT (2u * 1024 * 1024)

const char *store_quota_name(enum store_quota q)
{
    return (unsigned)q < STORE_Q_NR ? quota_tab[q].name : NULL;
}

int store_quota_by_name(const char *name)
{
    for (unsigned q = 0; q < STORE_Q_NR; q++)
        if (!strcmp(name, quota_tab[q].name))
            return (int)q;
    return -ENOENT;
}

void store_quota_defaults(struct store *s)
{
    for (unsigned q = 0; q < STORE_Q_NR; q++)
        s->quota[q] = quota_tab[q].def;
    s->quota_soft_memory = SOFT_MEMORY_DEFAULT;
}

unsigned store_quota_of(struct store *s, const struct store_domain *d,
                        enum store_quota q)
{
    if (d && d->q[q] != UINT32_MAX)
        return d->q[q];
    return s->quota[q];
}

uint64_t store_dom_mem(const struct store_domain *d)
{
    return d ? d->memory + d->txn_mem + d->watch_mem + d->out_mem : 0;
}

bool store_quota_ok(struct store *s, const struct store_conn *c,
                    enum store_quota q, uint64_t used, uint64_t add)
{
    if (!store_conn_unpriv(c))
        return true;
    return store_quota_dom_ok(s, c->dom, q, used, add);
}

bool store_quota_dom_ok(struct store *s, const struct store_domain *d,
                        enum store_quota q, uint64_t used, uint64_t add)
{
    domid_t id = d ? d->id : DOMID_INVALID;
    unsigned limit = store_quota_of(s, d, q);
    if (used + add <= limit) {
        if (q == STORE_Q_MEMORY && used + add > s->quota_soft_memory &&
            used <= s->quota_soft_memory)
            store_log_rl(s, STORE_LOG_WARN,
                         "domain %u: xenstore memory %llu bytes is above the "
                         "soft quota 'memory' %u (raise: xenstore-control "
                         "quota-soft memory VALUE)", id,
                         (unsigned long long)(used + add),
                         s->quota_soft_memory);
        return true;
    }
    store_log_rl(s, STORE_LOG_WARN,
                 "domain %u: request refused by quota '%s' (limit %u, "
                 "would be %llu); raise it with `xenstore-control quota %s "
                 "VALUE` (all domains) or SET_QUOTA %u %s VALUE",
                 id, quota_tab[q].name, limit,
                 (unsigned long long)(used + add), quota_tab[q].name, id,
                 quota_tab[q].name);
    return false;
}

/* The domain whose quotas domid names, into *d; NULL for domid < 0 (the
 * global values). 0 or ENOENT. */
static int quota_domain(struct store *s, int domid, struct store_domain **d)
{
    *d = NULL;
    if (domid < 0)
        return 0;
    if (domid < (int)STORE_DOMID_MAX)
        *d = store_domain_get(s, (domid_t)domid);
    return *d ? 0 : ENOENT;
}

int store_quota_get_locked(struct store *s, int domid, enum store_quota q,
                           unsigned *val)
{
    struct store_domain *d;
    int rc = quota_domain(s, domid, &d);
    if (!rc)
        *val = store_quota_of(s, d, q);   /* d NULL: the global value */
    return rc;
}

int store_quota_set_locked(struct store *s, int domid, enum store_quota q,
                           unsigned val)
{
    struct store_domain *d;
    int rc = quota_domain(s, domid, &d);
    if (!rc)
        *(d ? &d->q[q] : &s->quota[q]) = val;
    return rc;
}

int store_quota_get(struct store *s, int domid, enum store_quota q,
                    unsigned *val)
{
    if ((unsigned)q >= STORE_Q_NR)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    int rc = store_quota_get_locked(s, domid, q, val);
    pthread_mutex_unlock(&s->lock);
    return -rc;
}

int store_quota_set(struct store *s, int domid, enum store_quota q,
                    unsigned val)
{
    if ((unsigned)q >= STORE_Q_NR || val == UINT32_MAX)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    int rc = store_quota_set_locked(s, domid, q, val);
    pthread_mutex_unlock(&s->lock);
    return -rc;
}

static char *append(char *buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *append(char *buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (!buf || n < 0) {
        free(buf);
        return NULL;
    }
    char *nb = realloc(buf, *len + (size_t)n + 1);
    if (!nb) {
        free(buf);
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(nb + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
    return nb;
}

static bool parse_uint(const char *p, unsigned long max, unsigned long *out)
{
    char *end;
    if (!*p || *p == '-' || *p == '+')
        return false;
    errno = 0;
    unsigned long v = strtoul(p, &end, 10);
    if (*end || errno || v > max)
        return false;
    *out = v;
    return true;
}

/*
 * CONTROL quota                  list the global quotas
 * CONTROL quota NAME VALUE       set a global quota
 * CONTROL quota DOMID            a domain's usage and limits
 * CONTROL quota-soft [memory V]  the soft memory quota (a warning level)
 */
int store_control_quota(struct store *s, struct store_conn *c, bool soft,
                        const char **argv, unsigned argc, char **out)
{
    size_t len = 0;
    char *r = calloc(1, 1);
    unsigned long v, dom;
    (void)c;
    if (soft) {
        if (argc == 0) {
            r = append(r, &len, "Soft quota settings:\n%-17s: %8u %s\n",
                       "memory", s->quota_soft_memory,
                       "Total Xenstore memory per domain (warning level)");
        } else if (argc == 2 && !strcmp(argv[0], "memory") &&
                   parse_uint(argv[1], UINT32_MAX - 1, &v)) {
            s->quota_soft_memory = (unsigned)v;
            r = append(r, &len, "OK");
        } else {
            free(r);
            return EINVAL;
        }
    } else if (argc == 0) {
        r = append(r, &len, "Quota settings:\n");
        for (unsigned q = 0; q < STORE_Q_NR; q++)
            r = append(r, &len, "%-17s: %8u %s\n", quota_tab[q].name,
                       s->quota[q], quota_tab[q].descr);
    } else if (argc == 2) {
        int q = store_quota_by_name(argv[0]);
        if (q < 0 || !parse_uint(argv[1], UINT32_MAX - 1, &v)) {
            free(r);
            return EINVAL;
        }
        s->quota[q] = (unsigned)v;
        r = append(r, &len, "OK");
    } else if (argc == 1 && parse_uint(argv[0], STORE_DOMID_MAX - 1, &dom)) {
        struct store_domain *d = store_domain_get(s, (domid_t)dom);
        if (!d) {
            free(r);
            return ENOENT;
        }
        r = append(r, &len, "Domain %lu:\n", dom);
        const uint64_t used[STORE_Q_NR] = {
            [STORE_Q_NODES] = d->nodes, [STORE_Q_WATCHES] = d->watches,
            [STORE_Q_MEMORY] = d->memory, [STORE_Q_TRANSACTIONS] = d->txns,
        };
        for (unsigned q = 0; q < STORE_Q_NR; q++)
            if (q == STORE_Q_NODES || q == STORE_Q_WATCHES ||
                q == STORE_Q_MEMORY || q == STORE_Q_TRANSACTIONS)
                r = append(r, &len, "%-17s: %8llu (limit %u)\n",
                           quota_tab[q].name,
                           (unsigned long long)used[q],
                           store_quota_of(s, d, q));
    } else {
        free(r);
        return EINVAL;
    }
    if (!r)
        return ENOMEM;
    *out = r;
    return 0;
}

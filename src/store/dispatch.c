/*
 * The request table: every message type the store serves, with flags
 * checked here and nowhere else (xenstored core.c's wire_funcs):
 *   F_PRIV   privileged connections only (EACCES otherwise)
 *   F_NOTID  the transaction id is ignored (WATCH, UNWATCH)
 *   F_TXN    runs inside the transaction named by tx_id
 *   F_NOTXN  refused inside a transaction (EBUSY: TRANSACTION_START)
 * Anything else gets ENOSYS, as from xenstored. A non-zero tx_id that names
 * no transaction of the connection gets ENOENT (unless F_NOTID).
 */
#include <inttypes.h>
#include <stdlib.h>

#include "store_int.h"

#define F_PRIV  (1u << 0)
#define F_NOTID (1u << 1)
#define F_TXN   (1u << 2)
#define F_NOTXN (1u << 3)

struct req {
    struct store_conn *c;
    struct xsd_sockmsg *h;
    char *data;                /* h->len bytes, NUL guard after */
    struct store_txn *t;
};

const char *store_errname(int err)
{
    for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
        if (xsd_errors[i].errnum == err)
            return xsd_errors[i].errstring;
    return "EINVAL";   /* xenstored: untranslatable errors become EINVAL */
}

/* xenstored's get_strings(): the number of NUL-terminated strings. */
static unsigned get_strings(const struct req *r, const char **vec,
                            unsigned max)
{
    unsigned n = 0;
    uint32_t off = 0;
    while (off < r->h->len) {
        const char *p = r->data + off;
        const char *nul = memchr(p, 0, r->h->len - off);
        if (!nul)
            break;
        if (n < max)
            vec[n] = p;
        n++;
        off += (uint32_t)(nul - p) + 1;
    }
    return n;
}

/* Exactly one string, NUL-terminated at the very end (onearg). */
static const char *onearg(const struct req *r)
{
    if (!r->h->len || memchr(r->data, 0, r->h->len) !=
                      r->data + r->h->len - 1)
        return NULL;
    return r->data;
}

static int reply(struct req *r, const void *data, uint32_t len)
{
    if (len > XENSTORE_PAYLOAD_MAX)
        return E2BIG;
    return store_conn_send(r->c, r->h->type, r->h->req_id, r->h->tx_id, data,
                           len, false);
}

static int ack(struct req *r)
{
    return reply(r, "OK", 3);
}

static int reply_str(struct req *r, const char *s)
{
    return reply(r, s, (uint32_t)strlen(s) + 1);
}

/* Reply OK to a request that succeeded; otherwise its error. */
static int acked(struct req *r, int rc)
{
    return rc ? rc : ack(r);
}

/* A path argument, made absolute and checked as r's connection sees it. */
struct rpath {
    char buf[XENSTORE_ABS_PATH_MAX + 2];
    uint32_t len;
};

static int canon(struct req *r, const char *in, bool allow_special,
                 struct rpath *p, bool *relative)
{
    return store_path_canon(r->c, in, allow_special, p->buf, &p->len,
                            relative);
}

static struct store_view view(struct req *r)
{
    return (struct store_view){ r->c->s, r->c, r->t };
}

/* The node at p, which r's connection must be allowed to read, as r's
 * view (the tree, or its transaction) sees it. */
static int read_at(struct req *r, const struct rpath *p,
                   struct store_nodev *nv)
{
    struct store_view v = view(r);
    return store_view_read(&v, p->buf, p->len, XS_PERM_READ, nv);
}

/* The same for the path argument in (no '@' names). */
static int read_arg(struct req *r, const char *in, struct store_nodev *nv)
{
    struct rpath p;
    int rc = canon(r, in, false, &p, NULL);
    return rc ? rc : read_at(r, &p, nv);
}

/* Apply op (store_view_mkdir, store_view_rm) to the one path argument on
 * r's view, and acknowledge. */
static int change_onearg(struct req *r, store_view_path_fn *op)
{
    struct rpath p;
    struct store_view v = view(r);
    int rc = canon(r, onearg(r), false, &p, NULL);
    return acked(r, rc ? rc : op(&v, p.buf, p.len));
}

static int do_read(struct req *r)
{
    struct store_nodev nv;
    int rc = read_arg(r, onearg(r), &nv);
    return rc ? rc : reply(r, nv.val, nv.vlen);
}

static int do_directory(struct req *r)
{
    struct store_nodev nv;
    int rc = read_arg(r, onearg(r), &nv);
    return rc ? rc : reply(r, nv.kids, nv.klen);
}

static int do_directory_part(struct req *r)
{
    const char *vec[2];
    if (get_strings(r, vec, 2) != 2)
        return EINVAL;
    struct store_nodev nv;
    int rc = read_arg(r, vec[0], &nv);
    if (rc)
        return rc;
    unsigned long off = strtoul(vec[1], NULL, 10);
    char buf[XENSTORE_PAYLOAD_MAX + 1];
    uint32_t genlen = (uint32_t)snprintf(buf, 24, "%" PRIu64, nv.gen) + 1;
    if (off >= nv.klen) {
        buf[genlen] = 0;
        return reply(r, buf, genlen + 1);
    }
    /* Whole names only, as many as fit; an extra empty string marks the
     * end of the list. */
    uint32_t len = 0, maxlen = XENSTORE_PAYLOAD_MAX - genlen - 1;
    const char *kid = nv.kids + off;
    for (;;) {
        uint32_t kl = (uint32_t)strnlen(kid, nv.klen - off - len);
        if (len + kl >= maxlen)
            break;
        len += kl + 1;
        kid += kl + 1;
        if (off + len >= nv.klen)
            break;
    }
    memcpy(buf + genlen, nv.kids + off, len);
    if (off + len >= nv.klen) {
        buf[genlen + len] = 0;
        len++;
    }
    return reply(r, buf, genlen + len);
}

static int do_write(struct req *r)
{
    const char *vec[1];
    if (get_strings(r, vec, 1) < 1)
        return EINVAL;
    uint32_t off = (uint32_t)strlen(vec[0]) + 1;
    struct rpath p;
    struct store_view v = view(r);
    int rc = canon(r, vec[0], false, &p, NULL);
    if (!rc)
        rc = store_view_write(&v, p.buf, p.len, r->data + off,
                              r->h->len - off, false);
    return acked(r, rc);
}

static int do_mkdir(struct req *r)
{
    return change_onearg(r, store_view_mkdir);
}

static int do_rm(struct req *r)
{
    return change_onearg(r, store_view_rm);
}

static int do_get_perms(struct req *r)
{
    struct rpath p;
    int rc = canon(r, onearg(r), true, &p, NULL);
    if (rc)
        return rc;
    struct store *s = r->c->s;
    struct store_nodev nv;
    if (p.buf[0] == '@') {
        int idx = store_special_index(p.buf);
        if (idx < 0)
            return ENOENT;
        nv.perms = s->special_perms[idx];
        nv.nperms = s->special_nperms[idx];
    } else if ((rc = read_at(r, &p, &nv))) {
        return rc;
    }
    char buf[XENSTORE_PAYLOAD_MAX];
    if (nv.nperms * 8 > sizeof(buf))
        return E2BIG;
    return reply(r, buf, store_perms_format(nv.perms, nv.nperms, buf));
}

static int do_set_perms(struct req *r)
{
    struct rpath p;
    const char *vec[1];
    unsigned n = get_strings(r, vec, 1);
    if (n < 2)
        return EINVAL;
    int rc = canon(r, vec[0], true, &p, NULL);
    if (rc)
        return rc;
    uint32_t off = (uint32_t)strlen(vec[0]) + 1;
    struct store_perm perms[XENSTORE_PAYLOAD_MAX / 3];
    n--;
    if (n > sizeof(perms) / sizeof(perms[0]))
        return EINVAL;
    if ((rc = store_perms_parse(r->data + off, r->h->len - off, n, perms)))
        return rc;
    if (p.buf[0] == '@') {
        /* The special watch paths keep their own list: who may watch
         * them besides dom0 (xenstored's set_perms_special). */
        struct store *s = r->c->s;
        int idx = store_special_index(p.buf);
        if (idx < 0)
            return EINVAL;
        unsigned want = XS_PERM_WRITE | XS_PERM_OWNER;
        if ((store_perm_for(s, r->c, s->special_perms[idx], s->special_nperms[idx],
                            s->special_permgen[idx]) & want) != want)
            return EACCES;
        struct store_perm *copy = malloc(n * sizeof(*copy));
        if (!copy)
            return ENOMEM;
        memcpy(copy, perms, n * sizeof(*copy));
        free(s->special_perms[idx]);
        s->special_perms[idx] = copy;
        s->special_nperms[idx] = n;
        s->special_permgen[idx] = store_next_gen(s);
        return ack(r);
    }
    struct store_view v = view(r);
    return acked(r, store_view_set_perms(&v, p.buf, p.len, perms, n));
}

static int do_watch(struct req *r)
{
    struct rpath p;
    const char *vec[2];
    bool rel;
    if (get_strings(r, vec, 2) != 2)
        return EINVAL;
    int rc = canon(r, vec[0], true, &p, &rel);
    if (rc)
        return rc;
    if ((rc = store_watch_add(r->c, p.buf, vec[1], rel)))
        return rc;
    if ((rc = ack(r)))
        return rc;
    /* Fire once up front: simplifies clients (xenstored does this). */
    store_watch_event(r->c->watches, p.buf, p.len);
    return 0;
}

static int do_unwatch(struct req *r)
{
    struct rpath p;
    const char *vec[2];
    if (get_strings(r, vec, 2) != 2)
        return EINVAL;
    /* xenstored looks the path up among the watches without validating
     * it: a malformed path names no watch (ENOENT, not EINVAL). */
    if (canon(r, vec[0], true, &p, NULL))
        return ENOENT;
    return acked(r, store_watch_del(r->c, p.buf, vec[1]));
}

static int do_reset_watches(struct req *r)
{
    store_watch_del_all(r->c);
    store_txn_free_all(r->c);
    return ack(r);
}

static int do_txn_start(struct req *r)
{
    uint32_t id;
    int rc = store_txn_start(r->c, &id);
    if (rc)
        return rc;
    char buf[16];
    snprintf(buf, sizeof(buf), "%u", id);
    /* The reply names the new transaction in its payload; the header
     * echoes the request's tx_id (0). */
    return reply_str(r, buf);
}

static int do_txn_end(struct req *r)
{
    const char *arg = onearg(r);
    if (!arg || (strcmp(arg, "T") && strcmp(arg, "F")))
        return EINVAL;
    if (!r->t)
        return ENOENT;
    int rc = store_txn_end(r->c, r->t, arg[0] == 'T');
    r->t = NULL;
    if (rc)
        return rc;
    return ack(r);
}

static bool parse_domid(const char *s, domid_t *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return false;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || errno || v >= DOMID_FIRST_RESERVED)
        return false;
    *out = (domid_t)v;
    return true;
}

/* Which domains a request may name: any the store knows, an introduced
 * one, or an introduced one other than domain 0 (RELEASE, RESUME). */
enum dom_need { DOM_KNOWN, DOM_INTRODUCED, DOM_GUEST };

/* The domain the argument s names, into *out: EINVAL if s is no domid
 * (or names domain 0 for DOM_GUEST), ENOENT if the store does not know
 * it (or it is not introduced, unless DOM_KNOWN). */
static int arg_domain(struct req *r, const char *s, enum dom_need need,
                      struct store_domain **out)
{
    domid_t d;
    if (!parse_domid(s, &d) || (need == DOM_GUEST && d == 0))
        return EINVAL;   /* xenstored's onearg_domain refuses dom0 */
    struct store_domain *dom = store_domain_get(r->c->s, d);
    if (!dom || (need != DOM_KNOWN && !dom->introduced))
        return ENOENT;
    *out = dom;
    return 0;
}

/* The optional domid argument s of GET_QUOTA/SET_QUOTA as the quota
 * functions take it: -1 (the global values) when not given. */
static bool quota_domid(const char *s, bool given, int *domid)
{
    domid_t d;
    *domid = -1;
    if (!given)
        return true;
    if (!parse_domid(s, &d))
        return false;
    *domid = d;
    return true;
}

static int do_get_domain_path(struct req *r)
{
    domid_t d;
    if (!parse_domid(onearg(r), &d))
        return EINVAL;
    char buf[32];
    store_domain_path(d, buf, sizeof(buf));
    return reply_str(r, buf);
}

static int do_introduce(struct req *r)
{
    const char *vec[3];
    domid_t d;
    if (get_strings(r, vec, 3) < 3 || !parse_domid(vec[0], &d))
        return EINVAL;
    char *end;
    errno = 0;
    unsigned long long mfn = strtoull(vec[1], &end, 0);
    if (*end || errno)
        return EINVAL;
    unsigned long port = strtoul(vec[2], &end, 0);
    if (*end || port > UINT32_MAX)
        return EINVAL;
    int rc = store_do_introduce(r->c->s, d, mfn, (uint32_t)port, true);
    if (rc)
        return rc;
    return ack(r);
}

static int do_release(struct req *r)
{
    struct store_domain *dom;
    int rc = arg_domain(r, onearg(r), DOM_GUEST, &dom);
    if (rc)
        return rc;
    /* Reply before: the releasing connection may be the released one. */
    rc = ack(r);
    store_do_release(r->c->s, dom->id);
    return rc;
}

static int do_is_introduced(struct req *r)
{
    domid_t d;
    if (!parse_domid(onearg(r), &d))
        return EINVAL;
    struct store_domain *dom = store_domain_get(r->c->s, d);
    return reply_str(r, d == 0 || (dom && dom->introduced) ? "T" : "F");
}

static int do_resume(struct req *r)
{
    struct store_domain *dom;
    int rc = arg_domain(r, onearg(r), DOM_GUEST, &dom);
    if (!rc)
        dom->shutdown = false;
    return acked(r, rc);
}

static int do_set_target(struct req *r)
{
    const char *vec[2];
    domid_t t;
    struct store_domain *dom;
    if (get_strings(r, vec, 2) < 2 || !parse_domid(vec[1], &t))
        return EINVAL;
    int rc = arg_domain(r, vec[0], DOM_INTRODUCED, &dom);
    if (rc)
        return rc;
    if (!store_domain_get_or_add(r->c->s, t))
        return ENOMEM;
    dom->target = t;
    return ack(r);
}

static int do_control(struct req *r)
{
    const char *vec[8];
    unsigned n = get_strings(r, vec, 8);
    struct store *s = r->c->s;
    if (n == 0)
        return EINVAL;
    if (n > 8)
        return E2BIG;
    const char *cmd = vec[0];
    if (!strcmp(cmd, "help")) {
        return reply_str(r, "Available commands:\n"
                            "help\n"
                            "log [on|off]\n"
                            "print <string>\n"
                            "quota [[<domid>]|[<quota> <val>]]\n"
                            "quota-soft [memory <val>]\n");
    }
    if (!strcmp(cmd, "log")) {
        if (n == 1)
            return reply_str(r, s->verbose ? "on" : "off");
        if (n == 2 && !strcmp(vec[1], "on"))
            s->verbose = true;
        else if (n == 2 && !strcmp(vec[1], "off"))
            s->verbose = false;
        else
            return EINVAL;
        return ack(r);
    }
    if (!strcmp(cmd, "print")) {
        if (n != 2)
            return EINVAL;
        store_log(s, STORE_LOG_INFO, "control: %s", vec[1]);
        return ack(r);
    }
    if (!strcmp(cmd, "quota") || !strcmp(cmd, "quota-soft")) {
        char *out;
        int rc = store_control_quota(s, r->c, cmd[5] == '-', vec + 1, n - 1,
                                     &out);
        if (rc)
            return rc;
        rc = reply_str(r, out);
        free(out);
        return rc;
    }
    return EINVAL;
}

/* GET_FEATURE [domid]: the server features (of a domain's ring). */
static int do_get_feature(struct req *r)
{
    const char *vec[1];
    unsigned n = get_strings(r, vec, 1);
    uint32_t f = XENSTORE_SERVER_FEATURE_RECONNECTION |
                 XENSTORE_SERVER_FEATURE_ERROR;
    if (n > 1)
        return EINVAL;
    if (n == 1) {
        struct store_domain *dom;
        int rc = arg_domain(r, vec[0], DOM_KNOWN, &dom);
        if (rc)
            return rc;
        f = dom->features;
    }
    char buf[16];
    snprintf(buf, sizeof(buf), "%u", f);
    return reply_str(r, buf);
}

/* SET_FEATURE domid value: restrict the features a domain's ring shows. */
static int do_set_feature(struct req *r)
{
    const char *vec[2];
    if (get_strings(r, vec, 2) != 2)
        return EINVAL;
    char *end;
    unsigned long f = strtoul(vec[1], &end, 10);
    if (*end || !*vec[1] ||
        (f & ~(unsigned long)(XENSTORE_SERVER_FEATURE_RECONNECTION |
                              XENSTORE_SERVER_FEATURE_ERROR)))
        return EINVAL;
    struct store_domain *dom;
    int rc = arg_domain(r, vec[0], DOM_KNOWN, &dom);
    if (rc)
        return rc;
    dom->features = (uint32_t)f;
    if (dom->ring && dom->ring->intf)
        __atomic_store_n(&dom->ring->intf->server_features, (uint32_t)f,
                         __ATOMIC_RELEASE);
    return ack(r);
}

/* GET_QUOTA: [] lists names, [name] global value, [domid name] domain's. */
static int do_get_quota(struct req *r)
{
    const char *vec[2];
    unsigned n = get_strings(r, vec, 2);
    char buf[512];
    if (n > 2)
        return EINVAL;
    if (n == 0) {
        size_t off = 0;
        buf[0] = 0;
        for (unsigned q = 0; q < STORE_Q_NR; q++)
            off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
                                    off ? " " : "", store_quota_name(q));
        return reply_str(r, buf);
    }
    int q = store_quota_by_name(vec[n - 1]);
    int domid;
    unsigned val;
    if (q < 0 || !quota_domid(vec[0], n == 2, &domid))
        return EINVAL;
    int rc = store_quota_get_locked(r->c->s, domid, (enum store_quota)q,
                                    &val);
    if (rc)
        return rc;
    snprintf(buf, sizeof(buf), "%u", val);
    return reply_str(r, buf);
}

static int do_set_quota(struct req *r)
{
    const char *vec[3];
    unsigned n = get_strings(r, vec, 3);
    if (n < 2 || n > 3)
        return EINVAL;
    int q = store_quota_by_name(vec[n - 2]);
    char *end;
    unsigned long val = strtoul(vec[n - 1], &end, 10);
    int domid;
    if (q < 0 || *end || !*vec[n - 1] || val >= UINT32_MAX ||
        !quota_domid(vec[0], n == 3, &domid))
        return EINVAL;
    return acked(r, store_quota_set_locked(r->c->s, domid,
                                           (enum store_quota)q,
                                           (unsigned)val));
}

static const struct {
    const char *name;
    int (*fn)(struct req *r);
    unsigned flags;
} handlers[STORE_XS_TYPE_COUNT] = {
    [XS_CONTROL] = { "CONTROL", do_control, F_PRIV },
    [XS_DIRECTORY] = { "DIRECTORY", do_directory, F_TXN },
    [XS_READ] = { "READ", do_read, F_TXN },
    [XS_GET_PERMS] = { "GET_PERMS", do_get_perms, F_TXN },
    [XS_WATCH] = { "WATCH", do_watch, F_NOTID },
    [XS_UNWATCH] = { "UNWATCH", do_unwatch, F_NOTID },
    [XS_TRANSACTION_START] = { "TRANSACTION_START", do_txn_start, F_NOTXN },
    [XS_TRANSACTION_END] = { "TRANSACTION_END", do_txn_end, F_TXN },
    [XS_INTRODUCE] = { "INTRODUCE", do_introduce, F_PRIV },
    [XS_RELEASE] = { "RELEASE", do_release, F_PRIV },
    [XS_GET_DOMAIN_PATH] = { "GET_DOMAIN_PATH", do_get_domain_path, 0 },
    [XS_WRITE] = { "WRITE", do_write, F_TXN },
    [XS_MKDIR] = { "MKDIR", do_mkdir, F_TXN },
    [XS_RM] = { "RM", do_rm, F_TXN },
    [XS_SET_PERMS] = { "SET_PERMS", do_set_perms, F_TXN },
    [XS_IS_DOMAIN_INTRODUCED] = { "IS_DOMAIN_INTRODUCED", do_is_introduced,
                                  F_PRIV },
    [XS_RESUME] = { "RESUME", do_resume, F_PRIV },
    [XS_SET_TARGET] = { "SET_TARGET", do_set_target, F_PRIV },
    [XS_RESET_WATCHES] = { "RESET_WATCHES", do_reset_watches, 0 },
    [XS_DIRECTORY_PART] = { "DIRECTORY_PART", do_directory_part, F_TXN },
    [STORE_XS_GET_FEATURE] = { "GET_FEATURE", do_get_feature, F_PRIV },
    [STORE_XS_SET_FEATURE] = { "SET_FEATURE", do_set_feature, F_PRIV },
    [STORE_XS_GET_QUOTA] = { "GET_QUOTA", do_get_quota, F_PRIV },
    [STORE_XS_SET_QUOTA] = { "SET_QUOTA", do_set_quota, F_PRIV },
};

void store_dispatch(struct store_conn *c, struct xsd_sockmsg *h, char *data)
{
    struct store *s = c->s;
    struct req r = { c, h, data, NULL };
    uint32_t type = h->type;
    int rc;

    if (s->verbose)
        store_log(s, STORE_LOG_DEBUG, "domain %u: %s req %u tx %u len %u",
                  c->id, type < STORE_XS_TYPE_COUNT && handlers[type].name ?
                  handlers[type].name : "?", h->req_id, h->tx_id, h->len);
    if (type >= STORE_XS_TYPE_COUNT || !handlers[type].fn) {
        store_log_rl(s, STORE_LOG_INFO, "domain %u: unknown message type %u",
                     c->id, type);
        rc = ENOSYS;
        goto err;
    }
    unsigned fl = handlers[type].flags;
    if ((fl & F_PRIV) && store_conn_unpriv(c)) {
        rc = EACCES;
        goto err;
    }
    if (!(fl & F_NOTID) && h->tx_id) {
        r.t = store_txn_find(c, h->tx_id);
        if (!r.t) {
            rc = ENOENT;
            goto err;
        }
        if (fl & F_NOTXN) {
            rc = EBUSY;
            goto err;
        }
        if (!(fl & F_TXN))
            r.t = NULL;   /* validated, then ignored (xenstored) */
    }
    rc = handlers[type].fn(&r);
    if (!rc)
        return;
err:
    store_conn_send_error(c, h, rc);
}

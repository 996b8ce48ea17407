/*
 * The store object: creation, destruction, the lock, the generation
 * counter and logging (with a rate limit for anything clients trigger).
 */
#include <stdlib.h>
#include <time.h>

#include "store_int.h"

struct store *store_create(const struct store_ops *ops, void *opaque)
{
    struct store *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (ops)
        s->ops = *ops;
    s->opaque = opaque;
    s->gen = 1;
    pthread_mutex_init(&s->lock, NULL);
    store_quota_defaults(s);
    if (store_hash_seed(&s->hash_seed))
        store_log(s, STORE_LOG_WARN, "getrandom() failed: the path hash "
                  "seed is not secret (hash flooding by guests possible)");
    if (store_htab_init(&s->nodes, 1024, s->hash_seed) ||
        store_htab_init(&s->watches, 256, s->hash_seed))
        goto fail;
    if (!store_domain_get_or_add(s, 0))
        goto fail;
    s->doms[0]->introduced = true;
    for (int i = 0; i < 2; i++) {
        s->special_perms[i] = calloc(1, sizeof(struct store_perm));
        if (!s->special_perms[i])
            goto fail;
        s->special_perms[i][0] = (struct store_perm){ .id = 0, .perms = XS_PERM_NONE };
        s->special_nperms[i] = 1;
    }
    if (store_tree_init(s))
        goto fail;
    return s;
fail:
    store_destroy(s);
    return NULL;
}

int store_special_index(const char *path)
{
    if (!strcmp(path, "@introduceDomain"))
        return 0;
    if (!strcmp(path, "@releaseDomain"))
        return 1;
    return -1;
}

void store_destroy(struct store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    while (s->conns)
        store_conn_close_locked(s->conns);
    store_tree_fini(s);
    for (unsigned i = 0; i < STORE_DOMID_MAX; i++)
        if (s->doms[i])
            store_domain_free(s, i);
    store_htab_fini(&s->nodes);
    store_htab_fini(&s->watches);
    free(s->scratch);
    free(s->special_perms[0]);
    free(s->special_perms[1]);
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void store_set_verbose(struct store *s, bool verbose)
{
    pthread_mutex_lock(&s->lock);
    s->verbose = verbose;
    pthread_mutex_unlock(&s->lock);
}

uint64_t store_next_gen(struct store *s)
{
    return ++s->gen;
}

static void vlog(struct store *s, enum store_log_level lvl, const char *fmt,
                 va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    if (s->ops.log) {
        s->ops.log(s->opaque, lvl, buf);
    } else {
        static const char *const names[] = { "error", "warning", "info",
                                              "debug" };
        fprintf(stderr, "xenstored: %s: %s\n", names[lvl], buf);
    }
}

void store_log(struct store *s, enum store_log_level lvl, const char *fmt, ...)
{
    if (lvl == STORE_LOG_DEBUG && !s->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(s, lvl, fmt, ap);
    va_end(ap);
}

/* At most UTIL_RL_BURST client-triggered lines per window; the count of
 * the suppressed ones is reported when the next window opens. */
void store_log_rl(struct store *s, enum store_log_level lvl,
                  const char *fmt, ...)
{
    unsigned int dropped;
    bool ok = util_ratelimit_ok(&s->log_rl, &dropped);
    if (dropped)
        store_log(s, STORE_LOG_WARN, "%u log messages suppressed", dropped);
    if (!ok)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(s, lvl, fmt, ap);
    va_end(ap);
}

/*
 * The ICU: host lines, their mode, mask and in-flight state, and the one
 * sink each line is bound to (seed 004's Icu: bind, unbind, mask, unmask,
 * set_mode, info, msi_info). The waiting on source fds lives in irq_loop.c;
 * this file has no Linux-specific header.
 *
 * Level lines: when the source fires, the line is marked in flight and the
 * source fd leaves the epoll set, so a source that stays asserted cannot
 * make the loop spin. irq_icu_eoi re-enables the source and puts the fd
 * back; if the source is still asserted, epoll reports it at once and the
 * line is raised again (KVM's irqfd resample pattern): one raise per EOI.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "irq_int.h"

static bool mode_valid(struct irq_mode m)
{
    return (m.trigger == IRQ_EDGE || m.trigger == IRQ_LEVEL) &&
           (m.polarity == IRQ_ACTIVE_HIGH || m.polarity == IRQ_ACTIVE_LOW) &&
           (m.ack == IRQ_ACK_UNMASK || m.ack == IRQ_ACK_EOI);
}

struct irq_icu *irq_icu_create(unsigned int nr_lines)
{
    if (nr_lines == 0 || nr_lines > IRQ_MAX_LINES) {
        errno = EINVAL;
        return NULL;
    }
    struct irq_icu *icu = calloc(1, sizeof(*icu));
    if (!icu)
        return NULL;
    icu->lines = calloc(nr_lines, sizeof(*icu->lines));
    if (!icu->lines) {
        free(icu);
        return NULL;
    }
    icu->nr_lines = nr_lines;
    pthread_mutex_init(&icu->lock, NULL);
    pthread_cond_init(&icu->idle, NULL);
    int rc = irq_loop_init(icu);
    if (rc < 0) {
        pthread_cond_destroy(&icu->idle);
        pthread_mutex_destroy(&icu->lock);
        free(icu->lines);
        free(icu);
        errno = -rc;
        return NULL;
    }
    return icu;
}

void irq_icu_destroy(struct irq_icu *icu)
{
    if (!icu)
        return;
    for (unsigned int i = 0; i < icu->nr_lines; i++) {
        struct irq_line *l = &icu->lines[i];
        if (l->src) {
            pthread_mutex_lock(&icu->lock);
            l->bound = false;
            irq_loop_rearm(icu, i);
            pthread_mutex_unlock(&icu->lock);
            l->src->ops->destroy(l->src);
            l->src = NULL;
        }
    }
    irq_loop_fini(icu);
    free(icu->watches);
    pthread_cond_destroy(&icu->idle);
    pthread_mutex_destroy(&icu->lock);
    free(icu->lines);
    free(icu);
}

int irq_icu_set_source(struct irq_icu *icu, unsigned int line,
                       struct irq_source *src, struct irq_mode mode)
{
    if (!src)
        return -EINVAL;
    if (line >= icu->nr_lines || !mode_valid(mode) || src->fd < 0) {
        src->ops->destroy(src);
        return -EINVAL;
    }
    pthread_mutex_lock(&icu->lock);
    struct irq_line *l = &icu->lines[line];
    if (l->src) {
        pthread_mutex_unlock(&icu->lock);
        src->ops->destroy(src);
        return -EBUSY;
    }
    l->src = src;
    l->mode = mode;
    l->in_flight = false;
    l->armed = false;
    irq_loop_rearm(icu, line);
    pthread_mutex_unlock(&icu->lock);
    return 0;
}

static bool same_sink(const struct irq_sink *a, const struct irq_sink *b)
{
    return a->ops == b->ops && a->ctx == b->ctx;
}

int irq_icu_bind(struct irq_icu *icu, unsigned int line,
                 const struct irq_sink *sink)
{
    if (line >= icu->nr_lines || !sink || !sink->ops || !sink->ops->raise)
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&icu->lock);
    struct irq_line *l = &icu->lines[line];
    if (!l->src) {
        rc = -ENODEV;
    } else if (l->bound) {
        /* seed 004: the same Irq_svr again is fine, another one is EEXIST */
        rc = same_sink(&l->sink, sink) ? 0 : -EEXIST;
    } else {
        l->sink = *sink;
        l->bound = true;
        l->in_flight = false;
        irq_loop_rearm(icu, line);
    }
    pthread_mutex_unlock(&icu->lock);
    return rc;
}

/* Re-enable the source after an in-flight level interrupt ends. lock held. */
static void line_reenable(struct irq_icu *icu, unsigned int line)
{
    struct irq_line *l = &icu->lines[line];
    if (l->src->ops->reenable) {
        int rc = l->src->ops->reenable(l->src);
        if (rc < 0)
            l->last_error = rc;
    }
    l->in_flight = false;
    (void)icu;
}

int irq_icu_unbind(struct irq_icu *icu, unsigned int line,
                   const struct irq_sink *sink)
{
    if (line >= icu->nr_lines || !sink)
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&icu->lock);
    struct irq_line *l = &icu->lines[line];
    if (!l->bound || !same_sink(&l->sink, sink)) {
        rc = -ENOENT;
    } else {
        /* Complete: nothing of this binding survives. An in-flight level
         * interrupt is ended so the next binding starts from a clean line
         * (its source is re-checked as soon as someone binds again). */
        if (l->in_flight)
            line_reenable(icu, line);
        l->bound = false;
        memset(&l->sink, 0, sizeof(l->sink));
        irq_loop_rearm(icu, line);
    }
    pthread_mutex_unlock(&icu->lock);
    return rc;
}

static int set_masked(struct irq_icu *icu, unsigned int line, bool masked)
{
    if (line >= icu->nr_lines)
        return -EINVAL;
    pthread_mutex_lock(&icu->lock);
    icu->lines[line].masked = masked;
    irq_loop_rearm(icu, line);
    pthread_mutex_unlock(&icu->lock);
    return 0;
}

int irq_icu_mask(struct irq_icu *icu, unsigned int line)
{
    return set_masked(icu, line, true);
}

int irq_icu_unmask(struct irq_icu *icu, unsigned int line)
{
    return set_masked(icu, line, false);
}

int irq_icu_set_mode(struct irq_icu *icu, unsigned int line,
                     struct irq_mode mode)
{
    if (line >= icu->nr_lines || !mode_valid(mode))
        return -EINVAL;
    pthread_mutex_lock(&icu->lock);
    struct irq_line *l = &icu->lines[line];
    if (l->in_flight && mode.trigger == IRQ_EDGE) {
        l->eoied++;
        line_reenable(icu, line);
    }
    l->mode = mode;
    irq_loop_rearm(icu, line);
    pthread_mutex_unlock(&icu->lock);
    return 0;
}

int irq_icu_eoi(struct irq_icu *icu, unsigned int line)
{
    if (line >= icu->nr_lines)
        return -EINVAL;
    pthread_mutex_lock(&icu->lock);
    struct irq_line *l = &icu->lines[line];
    if (l->src && l->in_flight) {
        l->eoied++;
        line_reenable(icu, line);
        /* The resample: if the source is still asserted it is raised again
         * from the loop (the fd is back in the level-triggered epoll set),
         * never from here, so an EOI from inside a hypercall cannot recurse
         * into delivery. */
        if (irq_loop_fd_ready(l->src->fd))
            l->resampled++;
        irq_loop_rearm(icu, line);
    }
    pthread_mutex_unlock(&icu->lock);
    return 0;
}

void irq_icu_count_delivered(struct irq_icu *icu, unsigned int line,
                             unsigned int n)
{
    if (line >= icu->nr_lines)
        return;
    pthread_mutex_lock(&icu->lock);
    icu->lines[line].delivered += n;
    pthread_mutex_unlock(&icu->lock);
}

int irq_icu_info(struct irq_icu *icu, struct irq_icu_info *info)
{
    if (!info)
        return -EINVAL;
    memset(info, 0, sizeof(*info));
    info->nr_lines = icu->nr_lines;
    info->features = IRQ_ICU_F_LEVEL | IRQ_ICU_F_MSI | IRQ_ICU_F_UNBIND;
    pthread_mutex_lock(&icu->lock);
    for (unsigned int i = 0; i < icu->nr_lines; i++) {
        struct irq_line *l = &icu->lines[i];
        struct irq_msi_info mi;
        if (l->src && l->src->ops->msi_info &&
            l->src->ops->msi_info(l->src, &mi) == 0)
            info->nr_msi++;
    }
    pthread_mutex_unlock(&icu->lock);
    return 0;
}

int irq_icu_msi_info(struct irq_icu *icu, unsigned int line,
                     struct irq_msi_info *info)
{
    if (line >= icu->nr_lines || !info)
        return -EINVAL;
    int rc = -EINVAL;
    pthread_mutex_lock(&icu->lock);
    struct irq_line *l = &icu->lines[line];
    if (l->src && l->src->ops->msi_info)
        rc = l->src->ops->msi_info(l->src, info);
    pthread_mutex_unlock(&icu->lock);
    return rc;
}

int irq_icu_source_fd(struct irq_icu *icu, unsigned int line)
{
    if (line >= icu->nr_lines)
        return -EINVAL;
    pthread_mutex_lock(&icu->lock);
    int fd = icu->lines[line].src ? icu->lines[line].src->fd : -ENODEV;
    pthread_mutex_unlock(&icu->lock);
    return fd;
}

int irq_icu_line_info(struct irq_icu *icu, unsigned int line,
                      struct irq_line_info *info)
{
    if (line >= icu->nr_lines || !info)
        return -EINVAL;
    memset(info, 0, sizeof(*info));
    info->line = line;
    pthread_mutex_lock(&icu->lock);
    struct irq_line *l = &icu->lines[line];
    info->has_source = l->src != NULL;
    info->bound = l->bound;
    info->masked = l->masked;
    info->in_flight = l->in_flight;
    info->mode = l->mode;
    info->raised = l->raised;
    info->events = l->events;
    info->delivered = l->delivered;
    info->eoied = l->eoied;
    info->resampled = l->resampled;
    info->last_error = l->last_error;
    if (l->src)
        l->src->ops->describe(l->src, info->source, sizeof(info->source));
    struct irq_sink sink = l->sink;
    bool bound = l->bound;
    pthread_mutex_unlock(&icu->lock);
    /* The sink prints its own bindings under its own lock; calling it with
     * the ICU lock held would invert the sink -> ICU lock order. */
    if (bound) {
        snprintf(info->sink_kind, sizeof(info->sink_kind), "%s",
                 sink.ops->kind);
        if (sink.ops->describe)
            sink.ops->describe(sink.ctx, line, info->bindings,
                               sizeof(info->bindings));
    }
    return 0;
}

/* Enter / leave a callback: irq_icu_sync waits for busy == 0. */
static void busy_enter(struct irq_icu *icu)
{
    icu->busy++;
    icu->busy_thread = pthread_self();
}

static void busy_leave(struct irq_icu *icu)
{
    pthread_mutex_lock(&icu->lock);
    if (--icu->busy == 0)
        pthread_cond_broadcast(&icu->idle);
    pthread_mutex_unlock(&icu->lock);
}

void irq_icu_sync(struct irq_icu *icu)
{
    pthread_mutex_lock(&icu->lock);
    while (icu->busy && !pthread_equal(icu->busy_thread, pthread_self()))
        pthread_cond_wait(&icu->idle, &icu->lock);
    pthread_mutex_unlock(&icu->lock);
}

void irq_icu_fire(struct irq_icu *icu, unsigned int line)
{
    if (line >= icu->nr_lines)
        return;
    pthread_mutex_lock(&icu->lock);
    struct irq_line *l = &icu->lines[line];
    /* The event may predate a mask/unbind/EOI done since epoll_wait. */
    if (!l->armed || !l->src) {
        pthread_mutex_unlock(&icu->lock);
        return;
    }
    uint64_t count = 0;
    int rc = l->src->ops->ack(l->src, &count);
    if (rc < 0 && rc != -EAGAIN) {
        /* A broken source (device gone, EIO): stop watching it rather than
         * spin on an fd that stays readable. */
        l->last_error = rc;
        l->masked = true;
        irq_loop_rearm(icu, line);
        pthread_mutex_unlock(&icu->lock);
        irq_log(icu, "line %u: source failed (%s), line masked", line,
                strerror(-rc));
        return;
    }
    if (count == 0) {
        pthread_mutex_unlock(&icu->lock);
        return;
    }
    l->events += count;
    l->raised++;
    if (l->mode.trigger == IRQ_LEVEL) {
        l->in_flight = true;
        irq_loop_rearm(icu, line);
    } else if (l->src->ops->reenable) {
        rc = l->src->ops->reenable(l->src);
        if (rc < 0)
            l->last_error = rc;
    }
    struct irq_sink sink = l->sink;
    busy_enter(icu);
    pthread_mutex_unlock(&icu->lock);
    sink.ops->raise(sink.ctx, icu, line);
    busy_leave(icu);
}

void irq_icu_fire_watch(struct irq_icu *icu, unsigned int slot)
{
    pthread_mutex_lock(&icu->lock);
    if (slot >= icu->nr_watches || icu->watches[slot].fd < 0) {
        pthread_mutex_unlock(&icu->lock);
        return;
    }
    struct irq_watch w = icu->watches[slot];
    busy_enter(icu);
    pthread_mutex_unlock(&icu->lock);
    w.cb(w.arg, w.fd);
    busy_leave(icu);
}

int irq_icu_watch_fd(struct irq_icu *icu, int fd,
                     void (*cb)(void *arg, int fd), void *arg)
{
    if (fd < 0 || !cb)
        return -EINVAL;
    pthread_mutex_lock(&icu->lock);
    unsigned int slot;
    for (slot = 0; slot < icu->nr_watches; slot++)
        if (icu->watches[slot].fd < 0)
            break;
    if (slot == icu->nr_watches) {
        if (icu->nr_watches >= 4 * IRQ_MAX_LINES) {
            pthread_mutex_unlock(&icu->lock);
            return -ENOSPC;
        }
        unsigned int n = icu->nr_watches ? icu->nr_watches * 2 : 8;
        struct irq_watch *w = realloc(icu->watches, n * sizeof(*w));
        if (!w) {
            pthread_mutex_unlock(&icu->lock);
            return -ENOMEM;
        }
        for (unsigned int i = icu->nr_watches; i < n; i++)
            w[i].fd = -1;
        icu->watches = w;
        icu->nr_watches = n;
    }
    int rc = irq_loop_watch_add(icu, fd, slot);
    if (rc == 0) {
        icu->watches[slot] = (struct irq_watch){ .fd = fd, .cb = cb, .arg = arg };
        rc = (int)slot;
    }
    pthread_mutex_unlock(&icu->lock);
    return rc;
}

int irq_icu_unwatch_fd(struct irq_icu *icu, int id)
{
    pthread_mutex_lock(&icu->lock);
    if (id < 0 || (unsigned int)id >= icu->nr_watches ||
        icu->watches[id].fd < 0) {
        pthread_mutex_unlock(&icu->lock);
        return -EINVAL;
    }
    irq_loop_watch_del(icu, icu->watches[id].fd);
    icu->watches[id].fd = -1;
    pthread_mutex_unlock(&icu->lock);
    irq_icu_sync(icu);
    return 0;
}

static const char *mode_name(struct irq_mode m)
{
    if (m.trigger == IRQ_EDGE)
        return m.polarity == IRQ_ACTIVE_LOW ? "edge-falling" : "edge-rising";
    if (m.polarity == IRQ_ACTIVE_LOW)
        return m.ack == IRQ_ACK_EOI ? "level-low/eoi" : "level-low/unmask";
    return m.ack == IRQ_ACK_EOI ? "level-high/eoi" : "level-high/unmask";
}

int irq_icu_format(struct irq_icu *icu, FILE *out)
{
    fprintf(out, "%-5s %-24s %-17s %-6s %-6s %10s %10s %10s %8s  %s\n",
            "LINE", "SOURCE", "MODE", "MASK", "FLIGHT", "RAISED",
            "DELIVERED", "EOI", "RESAMPLE", "BINDINGS");
    unsigned int shown = 0;
    for (unsigned int i = 0; i < icu->nr_lines; i++) {
        struct irq_line_info li;
        if (irq_icu_line_info(icu, i, &li) < 0 || (!li.has_source && !li.bound))
            continue;
        char bind[600];
        if (li.bound)
            snprintf(bind, sizeof(bind), "%s: %s", li.sink_kind,
                     li.bindings[0] ? li.bindings : "-");
        else
            snprintf(bind, sizeof(bind), "(unbound)");
        fprintf(out, "%-5u %-24s %-17s %-6s %-6s %10llu %10llu %10llu %8llu  %s\n",
                i, li.source[0] ? li.source : "-", mode_name(li.mode),
                li.masked ? "masked" : "no", li.in_flight ? "yes" : "no",
                (unsigned long long)li.raised,
                (unsigned long long)li.delivered,
                (unsigned long long)li.eoied,
                (unsigned long long)li.resampled, bind);
        if (li.last_error)
            fprintf(out, "      last source error: %s\n", strerror(-li.last_error));
        shown++;
    }
    if (!shown)
        fprintf(out, "(no host lines configured)\n");
    return ferror(out) ? -EIO : 0;
}

/* The domain-0 callback sink. */
static void cb_raise(void *ctx, struct irq_icu *icu, unsigned int line)
{
    struct irq_cb_sink *cs = ctx;
    irq_icu_count_delivered(icu, line, 1);
    cs->fn(cs->arg, icu, line);
}

static int cb_describe(void *ctx, unsigned int line, char *buf, size_t n)
{
    struct irq_cb_sink *cs = ctx;
    (void)line;
    return snprintf(buf, n, "dom0 %s", cs->name);
}

static const struct irq_sink_ops cb_sink_ops = {
    .kind = "callback",
    .raise = cb_raise,
    .describe = cb_describe,
};

void irq_cb_sink_init(struct irq_cb_sink *cs, const char *name,
                      void (*fn)(void *arg, struct irq_icu *icu,
                                 unsigned int line),
                      void *arg)
{
    memset(cs, 0, sizeof(*cs));
    cs->sink.ops = &cb_sink_ops;
    cs->sink.ctx = cs;
    cs->fn = fn;
    cs->arg = arg;
    snprintf(cs->name, sizeof(cs->name), "%s", name ? name : "callback");
}

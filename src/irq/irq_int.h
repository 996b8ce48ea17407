/*
 * Private state of the ICU, shared by irq_icu.c (the line/binding logic, no
 * Linux headers) and irq_loop.c (the epoll loop that waits on sources).
 */
#ifndef XENKVM_IRQ_INT_H
#define XENKVM_IRQ_INT_H

#include <pthread.h>

#include "xenkvm/irq.h"
#include "xenkvm/util.h"

struct irq_line {
    struct irq_source *src;
    struct irq_mode mode;
    struct irq_sink sink;
    bool bound;
    bool masked;      /* irq_icu_mask */
    bool in_flight;   /* level: raised, waiting for EOI; source masked */
    bool armed;       /* source fd is in the epoll set */
    int last_error;
    uint64_t raised, events, delivered, eoied, resampled;
};

struct irq_watch {
    int fd;           /* -1: free slot */
    void (*cb)(void *arg, int fd);
    void *arg;
};

struct irq_icu {
    /* lock protects every field below except the immutable nr_lines/epfd.
     * It is never held while a sink or watch callback runs. */
    pthread_mutex_t lock;
    pthread_cond_t idle;        /* signalled when busy drops */
    unsigned int nr_lines;
    struct irq_line *lines;
    int epfd;
    unsigned int busy;          /* callbacks running */
    pthread_t busy_thread;      /* the (single) dispatching thread */
    struct irq_watch *watches;
    unsigned int nr_watches;
    /* rate limit for log lines (untrusted sources may misbehave) */
    struct util_ratelimit log_rl;
};

/* epoll data: lines use their number, watches this bit plus the slot */
#define IRQ_EV_WATCH (1ull << 62)

/* irq_loop.c: put a line's source fd in / out of the epoll set according to
 * its state. Called with icu->lock held. */
void irq_loop_rearm(struct irq_icu *icu, unsigned int line);
/* irq_loop.c: is fd readable right now? (resample check) */
bool irq_loop_fd_ready(int fd);
/* irq_loop.c: create / close the epoll fd. */
int irq_loop_init(struct irq_icu *icu);
void irq_loop_fini(struct irq_icu *icu);
int irq_loop_watch_add(struct irq_icu *icu, int fd, unsigned int slot);
void irq_loop_watch_del(struct irq_icu *icu, int fd);

/* irq_icu.c: a line's fd is readable (called by the loop, no lock held). */
void irq_icu_fire(struct irq_icu *icu, unsigned int line);
void irq_icu_fire_watch(struct irq_icu *icu, unsigned int slot);

/* Rate-limited log line to stderr (util_log_ratelimited, per ICU). */
#define irq_log(icu, ...) \
    util_log_ratelimited(&(icu)->log_rl, stderr, "xenkvm irq: ", __VA_ARGS__)

#endif

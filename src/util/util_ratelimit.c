/*
 * Rate limiting of messages a guest or a client can trigger: a fixed
 * window of UTIL_RL_WINDOW_NS with UTIL_RL_BURST messages, lock-free so
 * that vCPU threads of several domains may share one budget; and the
 * logging of such messages on a budget, with a module's prefix.
 */
#include <time.h>

#include "xenkvm/util.h"

static uint64_t window_now(void)
{
    /* The coarse clock: a window is seconds long, and this runs for every
     * message a guest triggers, dropped ones included (Linux reads an
     * absent PIT 100000 times), where a precise clock may be a slow one
     * (a VM whose clocksource is not the TSC). */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    /* +1: window 0 is the zero-initialised state, never a real window. */
    return ns / UTIL_RL_WINDOW_NS + 1;
}

bool util_ratelimit_ok(struct util_ratelimit *rl, unsigned int *suppressed)
{
    uint64_t win = window_now() & 0xffffffffu;
    uint64_t old = atomic_load_explicit(&rl->state, memory_order_relaxed);
    if (suppressed)
        *suppressed = 0;
    for (;;) {
        uint64_t next;
        bool opens = (old >> 32) != win;
        if (opens)
            next = win << 32 | 1;
        else if ((old & 0xffffffffu) >= UTIL_RL_BURST)
            break;
        else
            next = old + 1;
        if (atomic_compare_exchange_weak_explicit(&rl->state, &old, next,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
            if (opens) {
                unsigned int s = atomic_exchange_explicit(
                    &rl->suppressed, 0, memory_order_relaxed);
                if (suppressed)
                    *suppressed = s;
            }
            return true;
        }
    }
    atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
    return false;
}

bool util_vlog_ratelimited(struct util_ratelimit *rl, FILE *out,
                           const char *prefix, const char *fmt, va_list ap)
{
    unsigned int dropped;
    bool ok = util_ratelimit_ok(rl, &dropped);
    if (dropped)
        fprintf(out, "%s%u messages suppressed\n", prefix, dropped);
    if (!ok)
        return false;
    char buf[UTIL_LOG_LINE_MAX];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    fprintf(out, "%s%s\n", prefix, buf);
    return true;
}

bool util_log_ratelimited(struct util_ratelimit *rl, FILE *out,
                          const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool ok = util_vlog_ratelimited(rl, out, prefix, fmt, ap);
    va_end(ap);
    return ok;
}

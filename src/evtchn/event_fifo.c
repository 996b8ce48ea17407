/*
 * The FIFO event-channel ABI (<xen/event_channel.h>, Xen's event_fifo.c):
 * one 32-bit event word per port in guest "event array" pages, and per vCPU
 * a guest control block with a READY bitmap and the HEAD of 16 priority
 * queues. The hypervisor links a newly pending, unmasked event at the tail
 * of its queue; the guest consumes from the head.
 *
 * The guest may only set or clear MASKED, clear PENDING and clear LINKED
 * (with LINK) on an event word, and must not change LINK while BUSY is set.
 * So every update here is a compare-and-swap on the whole word, and a LINK
 * update sets BUSY first when the guest keeps changing the word under us.
 * Nothing read from guest memory is trusted: a LINK or HEAD value is only
 * ever written by us, never followed.
 */
#include <assert.h>
#include <stdlib.h>

#include "evtchn_internal.h"

#define W_PENDING ((event_word_t)1 << EVTCHN_FIFO_PENDING)
#define W_MASKED  ((event_word_t)1 << EVTCHN_FIFO_MASKED)
#define W_LINKED  ((event_word_t)1 << EVTCHN_FIFO_LINKED)
#define W_BUSY    ((event_word_t)1 << EVTCHN_FIFO_BUSY)

#define LASTQ(vcpu, prio) (((vcpu) << 8) | (prio))
#define LASTQ_VCPU(q) ((q) >> 8)
#define LASTQ_PRIO(q) ((q) & 0xffu)

/* The event word of port, or NULL when its array page is not there yet.
 * The acquire load of num_words pairs with the release in expand_array, so
 * a port below it always has its page pointer visible. */
static event_word_t *word_of(struct evtchn_dom *d, uint32_t port)
{
    struct fifo_dom *f = d->fifo;
    if (!f || port >= atomic_load_explicit(&f->num_words, memory_order_acquire))
        return NULL;
    event_word_t *page = atomic_load_explicit(&f->array[port / FIFO_WORDS_PER_PAGE],
                                              memory_order_relaxed);
    return &page[port % FIFO_WORDS_PER_PAGE];
}

static inline event_word_t wload(event_word_t *w)
{
    return __atomic_load_n(w, __ATOMIC_SEQ_CST);
}

static inline bool wtest_and_set(event_word_t *w, event_word_t bit)
{
    return __atomic_fetch_or(w, bit, __ATOMIC_SEQ_CST) & bit;
}

static inline void wclear(event_word_t *w, event_word_t bit)
{
    __atomic_fetch_and(w, ~bit, __ATOMIC_SEQ_CST);
}

/* Link *word (the current tail) to port iff it is still LINKED: returns 1
 * when linked, 0 when the tail was already consumed (the queue is empty),
 * -XEN_EAGAIN when the guest changed the word under us. Success also clears
 * BUSY. */
static int try_set_link(event_word_t *word, event_word_t *w, uint32_t link)
{
    event_word_t old = *w, new;
    if (!(old & W_LINKED))
        return 0;
    new = (old & ~(W_BUSY | EVTCHN_FIFO_LINK_MASK)) | link;
    if (__atomic_compare_exchange_n(word, w, new, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST))
        return 1;
    return -XEN_EAGAIN;
}

static bool set_link(struct evtchn_dom *d, event_word_t *word, uint32_t link)
{
    event_word_t w = wload(word);
    int ret = try_set_link(word, &w, link);
    if (ret >= 0)
        return ret;

    /* The guest keeps changing the word: BUSY stops it changing LINK (it
     * spins on BUSY before clearing LINKED), so a few more tries settle. */
    wtest_and_set(word, W_BUSY);
    w = wload(word);
    for (int i = 0; i < 4; i++) {
        ret = try_set_link(word, &w, link);
        if (ret >= 0) {
            if (ret == 0)
                wclear(word, W_BUSY);
            return ret;
        }
    }
    /* A guest that flips MASKED/PENDING this fast only hurts itself: treat
     * the event as linked (it stays pending and is found on unmask). */
    (void)d;
    wclear(word, W_BUSY);
    return true;
}

static void fifo_set_pending(struct evtchn_dom *d, uint32_t vcpu, struct evtchn_chn *c)
{
    uint32_t port = c->port;
    event_word_t *word = word_of(d, port);
    struct fifo_vcpu *fv = d->vcpus[vcpu].fifo;
    struct fifo_queue *q = NULL, *old_q = NULL;
    evtchn_fifo_control_block_t *cb = NULL;
    bool was_pending, linked = true;
    int tries;

    if (!word || !fv) {
        /* No event word yet: remember, and raise when the page arrives. */
        c->fifo_pending = true;
        return;
    }

    /* Coalesce without the queue locks: an event already PENDING and
     * LINKED is still ahead of the guest's consumer, which clears LINKED
     * before it tests PENDING, so it will handle it after this send. */
    event_word_t w0 = wload(word);
    if ((w0 & (W_PENDING | W_LINKED)) == (W_PENDING | W_LINKED))
        return;

    /* Lock the event's current queue and the one it was last linked on (a
     * bind_vcpu or set_priority moves it), lower address first. The last
     * queue may change while we wait, so re-check it after locking. */
    for (tries = 0; tries < 3; tries++) {
        unsigned int lq = atomic_load_explicit(&c->fifo_lastq, memory_order_acquire);
        struct fifo_vcpu *ov = d->vcpus[LASTQ_VCPU(lq)].fifo;
        q = &fv->q[c->priority];
        old_q = ov ? &ov->q[LASTQ_PRIO(lq)] : q;
        if (q == old_q) {
            evtchn_spin_lock(&q->lock);
        } else if (q < old_q) {
            evtchn_spin_lock(&q->lock);
            evtchn_spin_lock(&old_q->lock);
        } else {
            evtchn_spin_lock(&old_q->lock);
            evtchn_spin_lock(&q->lock);
        }
        if (atomic_load_explicit(&c->fifo_lastq, memory_order_acquire) == lq)
            break;
        if (q != old_q)
            evtchn_spin_unlock(&old_q->lock);
        evtchn_spin_unlock(&q->lock);
    }

    was_pending = wtest_and_set(word, W_PENDING);
    if (tries == 3)
        goto done;     /* queue changing under us: the event stays pending */

    /* Acquire: init_control publishes it (release) without our locks. */
    cb = __atomic_load_n(&fv->cb, __ATOMIC_ACQUIRE);
    if (!cb)
        goto unlock;   /* no control block on this vCPU: guest must not unmask */

    /* Only bound ports get here (send, VIRQ, PIRQ, unmask and expand_array
     * all check): a free port is never linked into a queue. */
    assert(c->state != EVTCHN_STATE_FREE);
    if (!(wload(word) & W_MASKED) && !wtest_and_set(word, W_LINKED)) {
        /* If it was the old queue's tail, that queue is empty now: forget
         * the tail so a later link there does not point into our queue. */
        if (old_q->tail == port)
            old_q->tail = 0;
        if (old_q != q) {
            atomic_store_explicit(&c->fifo_lastq, LASTQ(vcpu, q->priority),
                                  memory_order_release);
            evtchn_spin_unlock(&old_q->lock);
            old_q = q;
        }
        linked = false;
        if (q->tail) {
            event_word_t *tw = word_of(d, q->tail);
            if (tw)
                linked = set_link(d, tw, port);
        }
        if (!linked)
            __atomic_store_n(q->head, port, __ATOMIC_SEQ_CST);
        q->tail = port;
    }

unlock:
    if (q != old_q)
        evtchn_spin_unlock(&old_q->lock);
    evtchn_spin_unlock(&q->lock);

done:
    /* A queue that was empty becomes READY; the upcall is raised when the
     * READY bit is newly set, as the guest drains all ready queues. */
    if (!linked && cb &&
        !(__atomic_fetch_or(&cb->ready, 1u << q->priority, __ATOMIC_SEQ_CST) &
          (1u << q->priority)))
        evtchn_mark_events_pending(d, vcpu);

    if (!was_pending)
        evtchn_check_pollers(d, port);
}

static void fifo_clear_pending(struct evtchn_dom *d, struct evtchn_chn *c)
{
    event_word_t *word = word_of(d, c->port);
    c->fifo_pending = false;
    /* Only PENDING: the guest copes with a linked event that is not
     * pending (it skips it), so no unlinking is needed. */
    if (word)
        wclear(word, W_PENDING);
}

static void fifo_unmask(struct evtchn_dom *d, struct evtchn_chn *c)
{
    event_word_t *word = word_of(d, c->port);
    if (!word)
        return;
    wclear(word, W_MASKED);
    /* Re-link an event that became pending while masked. */
    if (wload(word) & W_PENDING)
        fifo_set_pending(d, c->notify_vcpu, c);
}

static void fifo_mask_clear(struct evtchn_dom *d, struct evtchn_chn *c)
{
    event_word_t *word = word_of(d, c->port);
    if (word)
        wclear(word, W_MASKED);
}

static bool fifo_is_pending(struct evtchn_dom *d, uint32_t port)
{
    event_word_t *w = word_of(d, port);
    return w && (wload(w) & W_PENDING);
}

static bool fifo_is_masked(struct evtchn_dom *d, uint32_t port)
{
    event_word_t *w = word_of(d, port);
    return !w || (wload(w) & W_MASKED);
}

/* A port still linked in a guest queue must not be reused: its next event
 * could be delivered on a stale queue. */
static bool fifo_is_busy(struct evtchn_dom *d, uint32_t port)
{
    event_word_t *w = word_of(d, port);
    return w && (wload(w) & W_LINKED);
}

static int fifo_set_priority(struct evtchn_dom *d, struct evtchn_chn *c,
                             unsigned int prio)
{
    (void)d;
    if (prio > EVTCHN_FIFO_PRIORITY_MIN)
        return -XEN_EINVAL;
    /* Future events only: one already linked stays on its old queue. */
    c->priority = (uint8_t)prio;
    return 0;
}

static void fifo_init_port(struct evtchn_dom *d, struct evtchn_chn *c)
{
    (void)d;
    c->priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
}

const struct port_ops evtchn_fifo_ops = {
    .abi = 3,
    .max_ports = EVTCHN_FIFO_NR_CHANNELS,
    .init = fifo_init_port,
    .set_pending = fifo_set_pending,
    .clear_pending = fifo_clear_pending,
    .unmask = fifo_unmask,
    .mask_clear = fifo_mask_clear,
    .is_pending = fifo_is_pending,
    .is_masked = fifo_is_masked,
    .is_busy = fifo_is_busy,
    .set_priority = fifo_set_priority,
};

static int map_control_block(struct evtchn_dom *d, uint32_t vcpu, uint64_t gfn,
                             uint32_t offset)
{
    struct fifo_vcpu *fv = d->vcpus[vcpu].fifo;
    void *page;

    if (fv->cb_page)
        return -XEN_EINVAL;            /* already initialised */
    page = evtchn_map_gfn(d, gfn);
    if (!page)
        return -XEN_EINVAL;
    fv->cb_page = page;
    for (int i = 0; i < EVTCHN_FIFO_MAX_QUEUES; i++) {
        fv->q[i].head = &((evtchn_fifo_control_block_t *)((char *)page + offset))->head[i];
        fv->q[i].tail = 0;
    }
    /* Publish the control block last: set_pending tests fv->cb. */
    __atomic_store_n(&fv->cb, (evtchn_fifo_control_block_t *)((char *)page + offset),
                     __ATOMIC_RELEASE);
    return 0;
}

/* Called with d->lock held. */
int evtchn_fifo_init_control(struct evtchn_dom *d, struct evtchn_init_control *a)
{
    uint32_t vcpu = a->vcpu, offset = a->offset;
    int rc;

    if (vcpu >= d->max_vcpus)
        return -XEN_ENOENT;
    /* The control block must lie within the page and be 8-byte aligned. */
    if (offset > EVTCHN_PAGE_SIZE - sizeof(evtchn_fifo_control_block_t))
        return -XEN_EINVAL;
    if (offset & 7)
        return -XEN_EINVAL;

    if (d->fifo)
        return map_control_block(d, vcpu, a->control_gfn, offset);

    /* First control block: set up the domain, then switch the ABI. */
    struct fifo_dom *f = calloc(1, sizeof(*f));
    if (!f)
        return -XEN_ENOMEM;
    for (uint32_t v = 0; v < d->max_vcpus; v++) {
        struct fifo_vcpu *fv = calloc(1, sizeof(*fv));
        if (!fv) {
            rc = -XEN_ENOMEM;
            goto fail;
        }
        for (int i = 0; i < EVTCHN_FIFO_MAX_QUEUES; i++)
            fv->q[i].priority = (uint8_t)i;
        d->vcpus[v].fifo = fv;
    }
    rc = map_control_block(d, vcpu, a->control_gfn, offset);
    if (rc)
        goto fail;

    /* Ports bound before the switch keep their pending state: the 2-level
     * bit becomes the latch that is raised when the port's event-array
     * page is added (Xen's setup_ports), and they get the default priority. */
    uint32_t valid = atomic_load(&d->valid_ports);
    for (uint32_t p = 1; p < valid; p++) {
        struct evtchn_chn *c = evtchn_chn_of(d, p);
        /* Exclusive: set_priority writes the priority under it too. */
        evtchn_write_lock(&c->lock);
        c->priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
        atomic_store(&c->fifo_lastq, LASTQ(c->notify_vcpu, EVTCHN_FIFO_PRIORITY_DEFAULT));
        c->fifo_pending = c->state != EVTCHN_STATE_FREE &&
                          evtchn_2l_ops.is_pending(d, p);
        evtchn_write_unlock(&c->lock);
    }
    d->fifo = f;
    atomic_store_explicit(&d->ops, &evtchn_fifo_ops, memory_order_release);
    return 0;

fail:
    for (uint32_t v = 0; v < d->max_vcpus; v++) {
        free(d->vcpus[v].fifo);
        d->vcpus[v].fifo = NULL;
    }
    free(f);
    return rc;
}

/* Called with d->lock held. */
int evtchn_fifo_expand_array(struct evtchn_dom *d, const struct evtchn_expand_array *a)
{
    struct fifo_dom *f = d->fifo;
    if (!f)
        return -XEN_EOPNOTSUPP;
    uint32_t first = atomic_load(&f->num_words);
    uint32_t slot = first / FIFO_WORDS_PER_PAGE;
    if (slot >= FIFO_MAX_ARRAY_PAGES)
        return -XEN_ENOSPC;
    event_word_t *page = evtchn_map_gfn(d, a->array_gfn);
    if (!page)
        return -XEN_EINVAL;
    atomic_store_explicit(&f->array[slot], page, memory_order_relaxed);
    atomic_store_explicit(&f->num_words, first + (uint32_t)FIFO_WORDS_PER_PAGE,
                          memory_order_release);

    /* Raise events that were pending while this page was missing. */
    uint32_t valid = atomic_load(&d->valid_ports);
    for (uint32_t p = first; p < first + FIFO_WORDS_PER_PAGE && p < valid; p++) {
        struct evtchn_chn *c = evtchn_chn_of(d, p);
        evtchn_read_lock(&c->lock);
        if (c->fifo_pending && c->state != EVTCHN_STATE_FREE) {
            c->fifo_pending = false;
            fifo_set_pending(d, c->notify_vcpu, c);
        }
        evtchn_read_unlock(&c->lock);
    }
    return 0;
}

/* Back to 2-level (EVTCHNOP_reset). Called with d->lock held and no port
 * bound, so no sender can be inside fifo_set_pending. */
void evtchn_fifo_destroy(struct evtchn_dom *d)
{
    atomic_store_explicit(&d->ops, &evtchn_2l_ops, memory_order_release);
    for (uint32_t v = 0; v < d->max_vcpus; v++) {
        free(d->vcpus[v].fifo);
        d->vcpus[v].fifo = NULL;
    }
    free(d->fifo);
    d->fifo = NULL;
}

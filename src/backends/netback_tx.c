/*
 * netback's transmit side: the guest's tx requests become frames on the
 * vif's port. Each frame's requests are copied off the shared ring once
 * and checked as Linux 6.1's xen-netback does (xenvif_tx_build_gops,
 * xenvif_get_extras, xenvif_count_requests, xenvif_set_skb_gso), with the
 * same outcomes:
 *
 *   fatal (the vif stops: Linux's xenvif_fatal_tx_err): a producer more
 *     than a ring ahead, extras or slots missing from the ring, an extra
 *     of no or an unknown type, more than NB_FATAL_SLOTS slots after the
 *     first (Linux counts those only), a slot crossing its page, a GSO
 *     extra of size 0 or an unknown type;
 *   answered NETIF_RSP_ERROR, consumed, nothing sent: more than
 *     NB_SLOTS_MAX slots after the first, a slot larger than what the
 *     first slot's size leaves, a first slot shorter than an Ethernet
 *     header, a multicast extra (feature-multicast-control is not
 *     offered), a grant that does not map, a frame the network refuses
 *     as malformed;
 *   answered NETIF_RSP_DROPPED: a frame the network had no room for;
 *   answered NETIF_RSP_OKAY: sent.
 *
 * Extras are answered NETIF_RSP_NULL. The data is copied from the
 * guest's pages (each mapped read-only for the copy) into one buffer, so
 * what the network sees cannot change under it. Rate limiting is Linux's
 * credit scheme (tx_credit_exceeded, tx_add_credit) per queue, with a
 * timerfd for the refill. At most NB_TX_BUDGET frames per turn, so one
 * busy queue cannot keep the loop from the others.
 */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>

#include "netback_int.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- credit (Linux's netback.c, per queue) ---- */

static void add_credit(struct nb_queue *q)
{
    struct be_net_vif *v = q->v;
    uint64_t bytes = v->cfg.rate_bytes;
    uint64_t max_burst = bytes > NB_MAX_BURST ? bytes : NB_MAX_BURST;
    uint64_t max_credit = q->remaining_credit + bytes;
    if (max_credit < q->remaining_credit)
        max_credit = UINT64_MAX;
    uint64_t now = max_credit < max_burst ? max_credit : max_burst;
    if (now > q->remaining_credit)
        v->st.credit_granted += now - q->remaining_credit;
    q->remaining_credit = now;
}

void nb_tx_credit_init(struct nb_queue *q)
{
    struct be_net_vif *v = q->v;
    q->window_start_ns = now_ns();
    if (!v->cfg.rate_bytes) {
        q->remaining_credit = UINT64_MAX;
        return;
    }
    q->remaining_credit = v->cfg.rate_bytes;
    v->st.credit_granted += v->cfg.rate_bytes;
}

/* size does not fit the credit left: refill if the window has passed,
 * else arm the timer for its end. Whether the frame must wait. */
static bool credit_exceeded(struct nb_queue *q, uint64_t size)
{
    struct be_net_vif *v = q->v;
    if (q->timer_armed)
        return true;
    uint64_t next = q->window_start_ns + v->cfg.rate_usecs * 1000u;
    uint64_t now = now_ns();
    if (now >= next) {
        q->window_start_ns = now;
        add_credit(q);
    }
    if (size <= q->remaining_credit)
        return false;
    struct itimerspec its = { .it_value = {
        .tv_sec = (time_t)(next / 1000000000u),
        .tv_nsec = (long)(next % 1000000000u) } };
    timerfd_settime(q->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
    q->window_start_ns = next;
    q->timer_armed = true;
    v->st.credit_waits++;
    return true;
}

void nb_tx_credit_timer(struct nb_queue *q)
{
    add_credit(q);
    nb_tx_serve(q);
}

/* ---- responses ---- */

static void respond(struct nb_queue *q, uint16_t id, int16_t status)
{
    const netif_tx_response_t r = { .id = id, .status = status };
    nb_slot_write(RING_GET_RESPONSE(&q->tx, q->tx.rsp_prod_pvt), &r,
                  sizeof(r));
    q->tx.rsp_prod_pvt++;
}

/* One frame's answers: its first slot, NULL for each extra, then each
 * further slot, all with status (Linux's make_tx_response and
 * xenvif_idx_release). */
struct tx_frame {
    netif_tx_request_t first;       /* size: the frame's, then its own */
    uint16_t total;                 /* the frame's size */
    unsigned int extra_count;
    netif_extra_info_t extras[XEN_NETIF_EXTRA_TYPE_MAX - 1];
    netif_tx_request_t slots[NB_FATAL_SLOTS];   /* after the first */
    unsigned int nslots;
};

static void respond_frame(struct nb_queue *q, const struct tx_frame *t,
                          int16_t status)
{
    respond(q, t->first.id, status);
    for (unsigned int i = 0; i < t->extra_count; i++)
        respond(q, 0, NETIF_RSP_NULL);
    for (unsigned int i = 0; i < t->nslots; i++)
        respond(q, t->slots[i].id, status);
}

static void push(struct nb_queue *q)
{
    struct nb_idx x = NB_IDX(q->tx.sring);
    RING_IDX old = __atomic_load_n(x.rsp_prod, __ATOMIC_RELAXED);
    if (old != q->tx.rsp_prod_pvt &&
        nb_push(x, old, q->tx.rsp_prod_pvt))
        evtchn_host_send(q->v->nb->env.evtchn, 0, q->tx_port);
}

/* ---- one frame ---- */

/* The extras after the first slot (Linux's xenvif_get_extras); cons and
 * todo move past them. false: fatal. */
static bool get_extras(struct nb_queue *q, struct tx_frame *t, RING_IDX *cons,
                       RING_IDX *todo)
{
    netif_extra_info_t e;
    do {
        if (*todo == 0) {
            nb_fatal(q->v, "queue %u: missing extra info", q->idx);
            return false;
        }
        nb_slot_read(&e, RING_GET_REQUEST(&q->tx, *cons), sizeof(e));
        ++*cons;
        --*todo;
        t->extra_count++;
        if (e.type == XEN_NETIF_EXTRA_TYPE_NONE ||
            e.type >= XEN_NETIF_EXTRA_TYPE_MAX) {
            nb_fatal(q->v, "queue %u: invalid extra type %u", q->idx, e.type);
            return false;
        }
        t->extras[e.type - 1] = e;
    } while (e.flags & XEN_NETIF_EXTRA_FLAG_MORE);
    return true;
}

/* The frame's further slots (Linux's xenvif_count_requests), not
 * consumed yet. 0, -1 (fatal) or 1 (drop the frame with ERROR: every
 * slot counted is in t->slots). */
static int count_slots(struct nb_queue *q, struct tx_frame *t, RING_IDX cons,
                       RING_IDX todo)
{
    bool drop = false, more = t->first.flags & NETTXF_more_data;
    while (more) {
        unsigned int n = t->nslots;
        if (n >= todo) {
            nb_fatal(q->v, "queue %u: frame asks for more slots than the "
                     "%u posted", q->idx, todo);
            return -1;
        }
        if (n >= NB_FATAL_SLOTS) {
            nb_fatal(q->v, "queue %u: frontend using %u slots, threshold %u",
                     q->idx, n, NB_FATAL_SLOTS);
            return -1;
        }
        if (n >= NB_SLOTS_MAX)
            drop = true;        /* Linux: too many slots, dropped */
        netif_tx_request_t *s = &t->slots[n];
        nb_slot_read(s, RING_GET_REQUEST(&q->tx, cons + n), sizeof(*s));
        if (s->size > t->first.size)
            drop = true;        /* a frame >= 64 KiB: buggy, not fatal */
        t->first.size -= s->size;
        t->nslots++;
        if (s->offset + s->size > NB_PAGE) {
            nb_fatal(q->v, "queue %u: slot crosses a page boundary "
                     "(offset %u, size %u)", q->idx, s->offset, s->size);
            return -1;
        }
        more = s->flags & NETTXF_more_data;
    }
    return drop ? 1 : 0;
}

/* Copy len bytes at offset of the guest's grant into buf. GNTST_*. */
static int16_t copy_from_grant(struct be_net_vif *v, grant_ref_t ref,
                               uint16_t offset, uint16_t len, uint8_t *buf)
{
    struct gnttab_host *h = v->nb->env.gnttab;
    struct gnttab_mapping m;
    if (!len)
        return GNTST_okay;
    int16_t st = gnttab_map(h, 0, v->cfg.domid, ref,
                            GNTMAP_host_map | GNTMAP_readonly, &m);
    if (st != GNTST_okay)
        return st;
    memcpy(buf, (uint8_t *)m.addr + offset, len);
    gnttab_unmap(h, 0, m.handle);
    return GNTST_okay;
}

/* The frame's bytes, meta and its trip into the network: the status of
 * its answer. */
static int16_t send_frame(struct nb_queue *q, const struct tx_frame *t)
{
    struct be_net_vif *v = q->v;
    uint8_t *buf = v->nb->txbuf;
    size_t off = t->first.size;
    if (copy_from_grant(v, t->first.gref, t->first.offset, t->first.size,
                        buf) != GNTST_okay)
        return NETIF_RSP_ERROR;
    for (unsigned int i = 0; i < t->nslots; i++) {
        const netif_tx_request_t *s = &t->slots[i];
        if (copy_from_grant(v, s->gref, s->offset, s->size, buf + off) !=
            GNTST_okay)
            return NETIF_RSP_ERROR;
        off += s->size;
    }
    struct net_frame f = { .data = buf, .len = off };
    const netif_extra_info_t *gso = &t->extras[XEN_NETIF_EXTRA_TYPE_GSO - 1];
    if (t->first.flags & NETTXF_csum_blank)
        f.meta.flags = NET_META_CSUM_PARTIAL;
    else if (t->first.flags & NETTXF_data_validated)
        f.meta.flags = NET_META_CSUM_VALID;
    if (gso->type) {
        f.meta.gso_type = gso->u.gso.type == XEN_NETIF_GSO_TYPE_TCPV4
                              ? NET_GSO_TCPV4 : NET_GSO_TCPV6;
        f.meta.gso_size = gso->u.gso.size;
        f.meta.flags = NET_META_CSUM_PARTIAL;   /* segments get theirs */
        v->st.tx_gso++;
    }
    /* From here on the data is ours, and Linux's netback has answered
     * OKAY already (xenvif_idx_release after the copy): a frame whose
     * checksum cannot be set up, that the network finds malformed or has
     * no room for, is dropped and counted, not answered otherwise. */
    if (f.meta.flags & NET_META_CSUM_PARTIAL) {
        v->st.tx_csum_blank++;
        /* netif's csum_blank says where nothing: find the L4 header */
        if (net_frame_csum_setup(&f)) {
            v->st.tx_errors++;
            return NETIF_RSP_OKAY;
        }
    }
    int rc = net_port_send(v->port, &f);
    if (rc) {
        if (rc == -ENOBUFS)
            v->st.tx_dropped++;
        else
            v->st.tx_errors++;
        return NETIF_RSP_OKAY;
    }
    v->st.tx_frames++;
    v->st.tx_bytes += t->total;
    return NETIF_RSP_OKAY;
}

/* Take one frame off the ring (Linux's xenvif_tx_build_gops for one
 * request): 1 one was handled, 0 nothing to do or no credit, -1 fatal. */
static int tx_one(struct nb_queue *q)
{
    struct be_net_vif *v = q->v;
    RING_IDX cons = q->tx.req_cons;
    RING_IDX todo = nb_req_prod(NB_IDX(q->tx.sring)) - cons;
    if (todo > RING_SIZE(&q->tx)) {
        nb_fatal(v, "queue %u: impossible number of requests (%u)", q->idx,
                 todo);
        return -1;
    }
    if (!todo)
        return 0;
    struct tx_frame t;
    memset(&t, 0, sizeof(t));
    nb_slot_read(&t.first, RING_GET_REQUEST(&q->tx, cons), sizeof(t.first));
    if (t.first.size > q->remaining_credit &&
        credit_exceeded(q, t.first.size))
        return 0;
    q->remaining_credit -= t.first.size;
    t.total = t.first.size;
    cons++;
    todo--;
    if ((t.first.flags & NETTXF_extra_info) &&
        !get_extras(q, &t, &cons, &todo))
        return -1;
    q->tx.req_cons = cons;
    if (t.extras[XEN_NETIF_EXTRA_TYPE_MCAST_ADD - 1].type ||
        t.extras[XEN_NETIF_EXTRA_TYPE_MCAST_DEL - 1].type) {
        respond_frame(q, &t, NETIF_RSP_ERROR);   /* not offered */
        v->st.tx_errors++;
        return 1;
    }
    int rc = count_slots(q, &t, cons, todo);
    if (rc < 0)
        return -1;
    q->tx.req_cons = cons + t.nslots;
    if (rc > 0 || t.first.size < 14) {     /* dropped, or no Ethernet header */
        respond_frame(q, &t, NETIF_RSP_ERROR);
        v->st.tx_errors++;
        return 1;
    }
    if (t.first.offset + t.first.size > NB_PAGE) {
        nb_fatal(v, "queue %u: first slot crosses a page boundary (offset "
                 "%u, size %u)", q->idx, t.first.offset, t.first.size);
        return -1;
    }
    const netif_extra_info_t *gso = &t.extras[XEN_NETIF_EXTRA_TYPE_GSO - 1];
    if (gso->type && (gso->u.gso.size == 0 ||
                      (gso->u.gso.type != XEN_NETIF_GSO_TYPE_TCPV4 &&
                       gso->u.gso.type != XEN_NETIF_GSO_TYPE_TCPV6))) {
        nb_fatal(v, "queue %u: bad GSO extra (size %u, type %u)", q->idx,
                 gso->u.gso.size, gso->u.gso.type);
        return -1;
    }
    int16_t st = send_frame(q, &t);
    if (st == NETIF_RSP_ERROR)
        v->st.tx_errors++;
    respond_frame(q, &t, st);
    return 1;
}

void nb_tx_serve(struct nb_queue *q)
{
    struct nb_idx x = NB_IDX(q->tx.sring);
    unsigned int done = 0;
    int rc = 0;
    for (;;) {
        while (done < NB_TX_BUDGET && (rc = tx_one(q)) > 0)
            done++;
        if (rc < 0 || q->v->disabled)
            return;             /* fatal: the ring is not touched again */
        push(q);
        if (done >= NB_TX_BUDGET) {
            nb_queue_kick(q);   /* another turn, after the other fds */
            return;
        }
        if (q->timer_armed)
            return;             /* waiting for credit */
        /* RING_FINAL_CHECK_FOR_REQUESTS */
        if (nb_req_event(x, q->tx.req_cons + 1) == q->tx.req_cons)
            return;
    }
}

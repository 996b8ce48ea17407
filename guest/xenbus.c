/*
 * XenStore ring client (seed 001: xs_init / xb_init_comms, Linux's
 * xenbus_comms.c ring rules).
 *
 * Ring rules: indexes are free-running u32s, (prod - cons) never exceeds
 * the ring size (else the other side is broken: -EIO); read the other
 * side's index, barrier, then touch data; publish our index only after the
 * data (write barrier); copy in chunks that stop at the wrap-around point;
 * notify the store port after each index update.
 */
/* x86 errno values (linux/errno.h is only asm/errno.h, which is this and
 * sits in the x86_64 multiarch directory, out of an i386 build's reach) */
#include <asm-generic/errno.h>
#include <guest/guest.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <guest/irq.h>
#include <guest/xenbus.h>
#include <xen/io/xs_wire.h>

static volatile struct xenstore_domain_interface *xs_intf;
static evtchn_port_t xs_port;
static int xs_irq = -1;
static int xs_broken;
static uint32_t xs_req_id;
static volatile unsigned long xs_wakeups;

static char xs_reply[XENSTORE_PAYLOAD_MAX + 1];

#define XS_EVENT_PATH  256
#define XS_EVENT_TOKEN 64
#define XS_EVENTS      8
static struct {
    char path[XS_EVENT_PATH];
    char token[XS_EVENT_TOKEN];
} xs_events[XS_EVENTS];
static unsigned int xs_ev_head, xs_ev_count;

/* Token of the runtime's own watch on control/shutdown (xl shutdown). */
#define XS_SHUTDOWN_TOKEN "xenkvm-guest-shutdown"
static volatile int xs_shutdown_seen;
/* Someone (process context, or the drain below) is using the ring. */
static volatile int xs_busy;

static void xs_drain_events(void);

/* Seed 001's wake_waiting: the waiters re-check the ring themselves. When
 * nobody is using the ring (the guest is idle), complete watch events are
 * taken off it here, so a control/shutdown request is seen. */
static irqreturn_t wake_waiting(int irq, void *dev_id)
{
    (void)irq;
    (void)dev_id;
    xs_wakeups++;
    xs_drain_events();
    return IRQ_HANDLED;
}

/* Claim the ring for this context; false if another one has it. */
static bool xs_claim(void)
{
    unsigned long flags = cpu_irq_save();
    bool ok = !xs_busy;
    if (ok)
        xs_busy = 1;
    cpu_irq_restore(flags);
    return ok;
}

static void xs_release(void)
{
    xs_busy = 0;
}

int xs_available(void)
{
    return xs_intf != NULL && !xs_broken;
}

int xs_init(void)
{
    uint64_t pfn = 0, port = 0;

    if (hvm_get_param(HVM_PARAM_STORE_PFN, &pfn) != 0 || pfn == 0)
        return -ENOENT;
    if (hvm_get_param(HVM_PARAM_STORE_EVTCHN, &port) != 0 || port == 0)
        return -ENOENT;
    if (pfn >= (1ULL << (32 - PAGE_SHIFT)))
        return -EINVAL;
    xs_intf = (volatile struct xenstore_domain_interface *)(uintptr_t)(pfn << PAGE_SHIFT);
    xs_port = (evtchn_port_t)port;

    /* xb_init_comms: a request ring with unconsumed data is reported (the
     * daemon will still consume it); stale responses are skipped. */
    if (xs_intf->req_prod != xs_intf->req_cons)
        printk("XENBUS request ring is not quiescent (%08x:%08x)!\n",
               xs_intf->req_cons, xs_intf->req_prod);
    if (xs_intf->rsp_prod != xs_intf->rsp_cons) {
        printk("XENBUS response ring is not quiescent (%08x:%08x): fixing up\n",
               xs_intf->rsp_cons, xs_intf->rsp_prod);
        xs_intf->rsp_cons = xs_intf->rsp_prod;
    }

    int irq = bind_evtchn_to_irqhandler(xs_port, wake_waiting, 0, "xenbus",
                                        (void *)&xs_wakeups);
    if (irq < 0) {
        printk("XENBUS request irq failed %d\n", irq);
        xs_intf = NULL;
        return irq;
    }
    xs_irq = irq;
    /* xl shutdown / Ctrl-C in xenkvm run: the toolstack writes the request
     * to control/shutdown (handled in guest_wait_until). */
    if (xs_watch("control/shutdown", XS_SHUTDOWN_TOKEN) != 0)
        printk("xenbus: cannot watch control/shutdown\n");
    return 0;
}

static bool ring_ok(XENSTORE_RING_IDX cons, XENSTORE_RING_IDX prod)
{
    return (XENSTORE_RING_IDX)(prod - cons) <= XENSTORE_RING_SIZE;
}

static bool req_space_or_broken(void *arg)
{
    (void)arg;
    return xs_intf->req_prod - xs_intf->req_cons != XENSTORE_RING_SIZE;
}

static bool rsp_data_or_broken(void *arg)
{
    (void)arg;
    return xs_intf->rsp_cons != xs_intf->rsp_prod;
}

static void xs_fail(const char *why)
{
    printk("xenbus: %s, ring disabled\n", why);
    xs_broken = 1;
}

static int xb_write(const void *data, size_t len)
{
    const char *src = data;

    while (len) {
        guest_wait_until(req_space_or_broken, NULL);
        XENSTORE_RING_IDX cons = xs_intf->req_cons;
        XENSTORE_RING_IDX prod = xs_intf->req_prod;
        if (!ring_ok(cons, prod)) {
            xs_fail("bad request ring indexes");
            return -EIO;
        }
        mb();   /* write data only after reading the consumer index */
        uint32_t off = MASK_XENSTORE_IDX(prod);
        uint32_t avail = XENSTORE_RING_SIZE - off;            /* up to the wrap */
        uint32_t room = XENSTORE_RING_SIZE - (prod - cons);
        if (avail > room)
            avail = room;
        if (avail > len)
            avail = (uint32_t)len;
        for (uint32_t i = 0; i < avail; i++)
            xs_intf->req[off + i] = src[i];
        src += avail;
        len -= avail;
        wmb();  /* the daemon must see the data before the new index */
        xs_intf->req_prod = prod + avail;
        notify_remote_via_evtchn(xs_port);
    }
    return 0;
}

static int xb_read(void *data, size_t len)
{
    char *dst = data;

    while (len) {
        guest_wait_until(rsp_data_or_broken, NULL);
        XENSTORE_RING_IDX cons = xs_intf->rsp_cons;
        XENSTORE_RING_IDX prod = xs_intf->rsp_prod;
        if (!ring_ok(cons, prod)) {
            xs_fail("bad response ring indexes");
            return -EIO;
        }
        uint32_t off = MASK_XENSTORE_IDX(cons);
        uint32_t avail = XENSTORE_RING_SIZE - off;
        if (avail > prod - cons)
            avail = prod - cons;
        if (avail > len)
            avail = (uint32_t)len;
        rmb();  /* read data only after reading the producer index */
        for (uint32_t i = 0; i < avail; i++)
            dst[i] = xs_intf->rsp[off + i];
        dst += avail;
        len -= avail;
        mb();   /* done copying before the daemon may reuse the space */
        xs_intf->rsp_cons = cons + avail;
        notify_remote_via_evtchn(xs_port);
    }
    return 0;
}

static int xs_errno(const char *s)
{
    for (unsigned int i = 0; i < ARRAY_SIZE(xsd_errors); i++)
        if (strcmp(s, xsd_errors[i].errstring) == 0)
            return -xsd_errors[i].errnum;
    return -EINVAL;
}

static void queue_event(uint32_t len)
{
    const char *path = xs_reply;
    size_t plen = strnlen(path, len);
    const char *token = plen < len ? path + plen + 1 : "";

    if (strcmp(token, XS_SHUTDOWN_TOKEN) == 0) {
        xs_shutdown_seen = 1;      /* handled by xs_poll_shutdown() */
        return;
    }
    if (plen >= XS_EVENT_PATH || strlen(token) >= XS_EVENT_TOKEN) {
        printk("xenbus: watch event too long, dropped\n");
        return;
    }
    if (xs_ev_count == XS_EVENTS) {
        printk("xenbus: watch event queue full, dropping oldest\n");
        xs_ev_head = (xs_ev_head + 1) % XS_EVENTS;
        xs_ev_count--;
    }
    unsigned int slot = (xs_ev_head + xs_ev_count) % XS_EVENTS;
    strlcpy(xs_events[slot].path, path, XS_EVENT_PATH);
    strlcpy(xs_events[slot].token, token, XS_EVENT_TOKEN);
    xs_ev_count++;
}

/* Read one message from the ring into xs_reply (NUL-terminated). */
static int read_message(struct xsd_sockmsg *msg)
{
    int rc = xb_read(msg, sizeof(*msg));
    if (rc)
        return rc;
    if (msg->len > XENSTORE_PAYLOAD_MAX) {
        xs_fail("oversized message from the daemon");
        return -EIO;
    }
    rc = xb_read(xs_reply, msg->len);
    if (rc)
        return rc;
    xs_reply[msg->len] = '\0';
    if (msg->type == XS_WATCH_EVENT)
        queue_event(msg->len);
    return 0;
}

struct xs_iov {
    const void *base;
    size_t len;
};

static int xs_talkv(xs_transaction_t t, enum xsd_sockmsg_type type,
                    const struct xs_iov *iov, unsigned int n, uint32_t *rlen)
{
    struct xsd_sockmsg msg = { .type = type, .req_id = ++xs_req_id, .tx_id = t };

    if (!xs_available())
        return -EIO;
    for (unsigned int i = 0; i < n; i++)
        msg.len += (uint32_t)iov[i].len;
    if (msg.len > XENSTORE_PAYLOAD_MAX)
        return -E2BIG;
    /* Process context only; the drain in the IRQ handler backs off while
     * we hold the ring. */
    while (!xs_claim())
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);

    int rc = xb_write(&msg, sizeof(msg));
    for (unsigned int i = 0; rc == 0 && i < n; i++)
        rc = xb_write(iov[i].base, iov[i].len);

    while (rc == 0) {
        struct xsd_sockmsg r;
        rc = read_message(&r);
        if (rc)
            break;
        if (r.type == XS_WATCH_EVENT)
            continue;
        if (r.req_id != msg.req_id) {
            printk("xenbus: reply for request %u while waiting for %u, dropped\n",
                   r.req_id, msg.req_id);
            continue;
        }
        if (r.type == XS_ERROR) {
            rc = xs_errno(xs_reply);
        } else if (r.type != msg.type) {
            printk("xenbus: reply type %u to request type %u\n", r.type, msg.type);
            rc = -EIO;
        } else if (rlen) {
            *rlen = r.len;
        }
        break;
    }
    xs_release();
    return rc;
}

static int xs_single(xs_transaction_t t, enum xsd_sockmsg_type type, const char *arg,
                     uint32_t *rlen)
{
    struct xs_iov iov = { arg, strlen(arg) + 1 };

    return xs_talkv(t, type, &iov, 1, rlen);
}

int xs_read(xs_transaction_t t, const char *path, char *buf, size_t len)
{
    uint32_t rlen;
    int rc = xs_single(t, XS_READ, path, &rlen);

    if (rc)
        return rc;
    if (len) {
        size_t n = rlen < len - 1 ? rlen : len - 1;
        memcpy(buf, xs_reply, n);
        buf[n] = '\0';
    }
    return (int)rlen;
}

int xs_read_int(xs_transaction_t t, const char *path, long *val)
{
    char buf[32];
    const char *end;
    int rc = xs_read(t, path, buf, sizeof(buf));

    if (rc < 0)
        return rc;
    *val = strtol_simple(buf, &end);
    return (end == buf || *end) ? -EINVAL : 0;
}

int xs_write(xs_transaction_t t, const char *path, const char *value)
{
    struct xs_iov iov[2] = { { path, strlen(path) + 1 }, { value, strlen(value) } };

    return xs_talkv(t, XS_WRITE, iov, 2, NULL);
}

int xs_mkdir(xs_transaction_t t, const char *path)
{
    return xs_single(t, XS_MKDIR, path, NULL);
}

int xs_rm(xs_transaction_t t, const char *path)
{
    return xs_single(t, XS_RM, path, NULL);
}

int xs_directory(xs_transaction_t t, const char *path, char *buf, size_t len)
{
    uint32_t rlen;
    int rc = xs_single(t, XS_DIRECTORY, path, &rlen);

    if (rc)
        return rc;
    if (rlen > len)
        return -E2BIG;
    memcpy(buf, xs_reply, rlen);
    int n = 0;
    for (uint32_t i = 0; i < rlen; i++)
        if (xs_reply[i] == '\0')
            n++;
    return n;
}

int xs_set_perms(xs_transaction_t t, const char *path, const char *const *perms,
                 unsigned int n)
{
    struct xs_iov iov[9];

    if (n == 0 || n > 8)
        return -EINVAL;
    iov[0] = (struct xs_iov){ path, strlen(path) + 1 };
    for (unsigned int i = 0; i < n; i++)
        iov[i + 1] = (struct xs_iov){ perms[i], strlen(perms[i]) + 1 };
    return xs_talkv(t, XS_SET_PERMS, iov, n + 1, NULL);
}

int xs_transaction_start(xs_transaction_t *t)
{
    uint32_t rlen;
    const char *end;
    int rc = xs_single(XBT_NIL, XS_TRANSACTION_START, "", &rlen);

    if (rc)
        return rc;
    long id = strtol_simple(xs_reply, &end);
    if (end == xs_reply || id <= 0)
        return -EIO;
    *t = (xs_transaction_t)id;
    return 0;
}

int xs_transaction_end(xs_transaction_t t, int abort)
{
    return xs_single(t, XS_TRANSACTION_END, abort ? "F" : "T", NULL);
}

int xs_watch(const char *path, const char *token)
{
    struct xs_iov iov[2] = { { path, strlen(path) + 1 }, { token, strlen(token) + 1 } };

    return xs_talkv(XBT_NIL, XS_WATCH, iov, 2, NULL);
}

int xs_unwatch(const char *path, const char *token)
{
    struct xs_iov iov[2] = { { path, strlen(path) + 1 }, { token, strlen(token) + 1 } };

    return xs_talkv(XBT_NIL, XS_UNWATCH, iov, 2, NULL);
}

/*
 * If its writer was quicker and its domain is already gone, the node went
 * with it: the watch registered earlier still saw it come and go. The
 * registration event is the first one, so a second event on the key means
 * it changed after the watch was set.
 */
int xs_wait_key(const char *key, const char *token)
{
    char val[16], evpath[128], tok[16];
    int events = 0, rc;
    for (;;) {
        if (xs_read(XBT_NIL, key, val, sizeof(val)) >= 0) {
            rc = 1;
            break;
        }
        if (events >= 2) {
            rc = 2;
            break;
        }
        rc = xs_read_watch(evpath, sizeof(evpath), tok, sizeof(tok));
        if (rc)
            break;
        if (strcmp(tok, token) == 0 && strcmp(evpath, key) == 0)
            events++;
    }
    xs_unwatch(key, token);
    return rc;
}

static bool message_complete(void);

static bool event_ready(void *arg)
{
    (void)arg;
    return xs_ev_count != 0 || xs_broken || message_complete();
}

int xs_read_watch(char *path, size_t plen, char *token, size_t tlen)
{
    for (;;) {
        if (!xs_available())
            return -EIO;
        /* Events reach the queue from replies we read, from the IRQ
         * handler's drain, or from this one (a message may have arrived
         * while the ring was busy, after its notification). */
        xs_drain_events();
        guest_wait_until(event_ready, NULL);
        unsigned long flags = cpu_irq_save();
        if (xs_ev_count) {
            strlcpy(path, xs_events[xs_ev_head].path, plen);
            strlcpy(token, xs_events[xs_ev_head].token, tlen);
            xs_ev_head = (xs_ev_head + 1) % XS_EVENTS;
            xs_ev_count--;
            cpu_irq_restore(flags);
            return 0;
        }
        cpu_irq_restore(flags);
    }
}

/* Complete messages waiting in the response ring, without blocking. */
static bool message_complete(void)
{
    XENSTORE_RING_IDX cons = xs_intf->rsp_cons, prod = xs_intf->rsp_prod;
    struct xsd_sockmsg hdr;

    if (!ring_ok(cons, prod) || prod - cons < sizeof(hdr))
        return false;
    rmb();
    for (uint32_t i = 0; i < sizeof(hdr); i++)
        ((char *)&hdr)[i] = xs_intf->rsp[MASK_XENSTORE_IDX(cons + i)];
    /* An oversized header is complete enough: read_message rejects it. */
    return hdr.len > XENSTORE_PAYLOAD_MAX || prod - cons >= sizeof(hdr) + hdr.len;
}

static void xs_drain_events(void)
{
    if (!xs_available() || !xs_claim())
        return;
    while (!xs_broken && message_complete()) {
        struct xsd_sockmsg r;
        if (read_message(&r))
            break;
        if (r.type != XS_WATCH_EVENT)
            printk("xenbus: unexpected message type %u (req %u) while idle\n",
                   r.type, r.req_id);
    }
    xs_release();
}

int xs_poll_shutdown(void)
{
    char val[16];

    xs_drain_events();
    if (!xs_shutdown_seen || xs_busy)
        return 0;
    xs_shutdown_seen = 0;
    if (xs_read(XBT_NIL, "control/shutdown", val, sizeof(val)) <= 0)
        return 0;
    /* Acknowledge as Linux does: the toolstack sees the request taken. */
    xs_write(XBT_NIL, "control/shutdown", "");
    printk("guest: control/shutdown: %s\n", val);
    if (strcmp(val, "poweroff") == 0 || strcmp(val, "halt") == 0)
        return SHUTDOWN_poweroff + 1;
    if (strcmp(val, "reboot") == 0)
        return SHUTDOWN_reboot + 1;
    printk("guest: control/shutdown request '%s' not supported\n", val);
    return 0;
}

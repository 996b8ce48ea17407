/*
 * Seed 002's ping-pong between two domains, made real.
 *
 *   role=alloc peer=<B>   guest A (seed's "DomU"): EVTCHNOP_alloc_unbound for
 *                         domain B, bind it to an IRQ handler, publish the
 *                         port in XenStore; answer every event.
 *   role=bind  peer=<A>   guest B (seed's "Dom0" module): watch A's key, bind
 *                         the inter-domain channel, serve; count the answers.
 *   rounds=N              round trips (default 10; A publishes its value)
 *   quiet                 print only the first and last few "Handled" lines
 *   waitkey=<path>        after the last round, wait until this XenStore node
 *                         exists before shutting down (tests keep a guest alive
 *                         while another one aims hypercalls at it)
 *   port=<n>              (bind) the peer's port is known: skip XenStore and
 *                         retry the bind until the peer has allocated it
 *                         (for VMMs without a store; alloc then skips publishing)
 *
 * With peer=0 and role=alloc, domain 0 (a service in the VMM) plays B; the
 * keys and the order of operations are in docs/pingpong-protocol.md.
 *
 * Exactly one event is in flight at a time (B sends, A answers, B counts and
 * sends again), so counting events counts rounds: pending bits coalesce, but
 * nothing is sent before the previous event was handled. The one extra event
 * Xen produces is the notification bind_interdomain leaves pending on B's new
 * port (seed 002 saw it: "dom0 handles an interrupt immediately"); B
 * recognises it because it arrives before B served.
 */
#include <guest/guest.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <guest/irq.h>
#include <guest/xenbus.h>

struct pingpong_info {
    int role_alloc;
    int remote_domid;
    evtchn_port_t evtchn;
    int irq;
    long rounds;
    volatile long count;
    volatile int served;
    volatile int notify_errors;
    int quiet;
};

static struct pingpong_info info;
static char waitkey[128];

static bool should_print(long n)
{
    return !info.quiet || n <= 3 || n >= info.rounds - 1 || n % 1000 == 0;
}

/* Guest A: every event is a ping; answer it. */
static irqreturn_t domU_handler(int irq, void *dev_id)
{
    struct pingpong_info *pi = dev_id;
    long n = pi->count + 1;

    if (should_print(n))
        printk("DomU: Handled! irq: %d, evtchn:%u (round %ld/%ld)\n", irq, pi->evtchn, n,
               pi->rounds);
    if (notify_remote_via_irq(irq) != 0)
        pi->notify_errors++;
    pi->count = n;
    return IRQ_HANDLED;
}

/* Guest B: every event after the serve is a pong; serve again until done. */
static irqreturn_t peer_handler(int irq, void *dev_id)
{
    struct pingpong_info *pi = dev_id;

    if (!pi->served) {
        printk("Peer: Handled! domid: %d, port: %u, local_irq:%d (notification left by "
               "bind_interdomain)\n", pi->remote_domid, evtchn_from_irq(irq), irq);
        return IRQ_HANDLED;
    }
    long n = pi->count + 1;
    if (should_print(n))
        printk("Peer: Handled! domid: %d, port: %u, local_irq:%d (round %ld/%ld)\n",
               pi->remote_domid, pi->evtchn, irq, n, pi->rounds);
    pi->count = n;
    if (n < pi->rounds && notify_remote_via_irq(irq) != 0)
        pi->notify_errors++;
    return IRQ_HANDLED;
}

static bool rounds_done(void *arg)
{
    struct pingpong_info *pi = arg;
    return pi->count >= pi->rounds || pi->notify_errors;
}

static bool port_quiet(void *arg)
{
    struct pingpong_info *pi = arg;
    return !evtchn_is_pending(pi->evtchn);
}

static void home_path(char *buf, size_t len, int domid, const char *rest)
{
    if (domid >= 0)
        snprintf(buf, len, "/local/domain/%d/%s", domid, rest);
    else
        snprintf(buf, len, "%s", rest);   /* relative: our own home */
}

/* Publish rounds and port in one transaction, readable by the peer. */
static int publish(int self, int peer, evtchn_port_t port, long rounds)
{
    char dir[96], key[128], val[24], owner[16], reader[16];
    const char *perms[2] = { owner, reader };

    home_path(dir, sizeof(dir), self, "data/pingpong");
    snprintf(owner, sizeof(owner), "n%d", self);
    snprintf(reader, sizeof(reader), "r%d", peer);
    for (int attempt = 0; attempt < 8; attempt++) {
        xs_transaction_t t;
        int rc = xs_transaction_start(&t);
        if (rc)
            return rc;
        rc = xs_mkdir(t, dir);
        /* Owner us, read access for the peer (dom0 reads everything). */
        if (rc == 0 && self >= 0 && peer > 0)
            rc = xs_set_perms(t, dir, perms, 2);
        if (rc == 0) {
            snprintf(key, sizeof(key), "%s/rounds", dir);
            snprintf(val, sizeof(val), "%ld", rounds);
            rc = xs_write(t, key, val);
        }
        if (rc == 0) {
            snprintf(key, sizeof(key), "%s/port", dir);
            snprintf(val, sizeof(val), "%u", port);
            rc = xs_write(t, key, val);
        }
        if (rc) {
            xs_transaction_end(t, 1);
            return rc;
        }
        rc = xs_transaction_end(t, 0);
        if (rc != -XEN_EAGAIN)   /* conflicting commit: retry */
            return rc;
    }
    return -XEN_EAGAIN;
}

static int run_alloc(void)
{
    struct evtchn_alloc_unbound alloc = { .dom = DOMID_SELF,
                                          .remote_dom = (domid_t)info.remote_domid };
    int err = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &alloc);

    if (err) {
        printk("DomU: EVTCHNOP_alloc_unbound failed: %d\n", err);
        return 1;
    }
    info.evtchn = alloc.port;
    printk("DomU: Get new evtchn: %u\n", info.evtchn);

    info.irq = bind_evtchn_to_irqhandler(info.evtchn, domU_handler, 0, "alice_dev", &info);
    if (info.irq < 0) {
        printk("DomU: bind_evtchn_to_irqhandler failed: %d\n", info.irq);
        return 1;
    }
    printk("DomU: Bound local irq: %d to evtchn:%u\n", info.irq, info.evtchn);

    if (!xs_available()) {
        printk("DomU: no XenStore: the peer must be given port=%u\n", info.evtchn);
        guest_wait_until(rounds_done, &info);
        return 0;
    }
    int rc = publish(guest_domid(), info.remote_domid, info.evtchn, info.rounds);
    if (rc) {
        printk("DomU: cannot publish the port in XenStore: %d\n", rc);
        return 1;
    }
    printk("DomU: published port %u for domain %d, waiting for %ld rounds\n", info.evtchn,
           info.remote_domid, info.rounds);
    guest_wait_until(rounds_done, &info);
    return 0;
}

/* Without XenStore: the peer's port came from the command line; it may not
 * be allocated yet, so retry (Xen: -EINVAL until it is unbound for us,
 * -ESRCH until the domain exists). */
static int bind_known_port(long port)
{
    for (long tries = 0; tries < 100000; tries++) {
        int irq = bind_interdomain_evtchn_to_irqhandler((domid_t)info.remote_domid,
                                                        (evtchn_port_t)port, peer_handler, 0,
                                                        "alice_peer", &info);
        if (irq >= 0 || (irq != -XEN_EINVAL && irq != -XEN_ESRCH))
            return irq;
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    }
    return -XEN_ETIME;
}

static int run_bind(void)
{
    char path[96];
    long port = guest_cmdline_int("port", -1), rounds;
    int irq;

    if (port > 0) {
        printk("Peer: init info with remoteDomID:%d, port:%ld\n", info.remote_domid, port);
        irq = bind_known_port(port);
        goto bound;
    }

    snprintf(path, sizeof(path), "/local/domain/%d/data/pingpong/port", info.remote_domid);
    int rc = xs_watch(path, "pingpong");
    if (rc) {
        printk("Peer: xs_watch %s failed: %d\n", path, rc);
        return 1;
    }
    /* The registration fires once by itself; later events follow writes
     * and permission changes. Read until the value is there for us. */
    for (;;) {
        char evpath[128], token[16];
        rc = xs_read_watch(evpath, sizeof(evpath), token, sizeof(token));
        if (rc) {
            printk("Peer: waiting for the watch failed: %d\n", rc);
            return 1;
        }
        if (xs_read_int(XBT_NIL, path, &port) == 0 && port > 0)
            break;
    }
    xs_unwatch(path, "pingpong");
    snprintf(path, sizeof(path), "/local/domain/%d/data/pingpong/rounds", info.remote_domid);
    if (xs_read_int(XBT_NIL, path, &rounds) == 0 && rounds > 0)
        info.rounds = rounds;
    info.evtchn = 0;
    printk("Peer: init info with remoteDomID:%d, port:%ld\n", info.remote_domid, port);

    irq = bind_interdomain_evtchn_to_irqhandler((domid_t)info.remote_domid,
                                                (evtchn_port_t)port, peer_handler, 0,
                                                "alice_peer", &info);
bound:
    if (irq < 0) {
        printk("Peer: bind_interdomain_evtchn_to_irqhandler failed: %d\n", irq);
        return 1;
    }
    info.irq = irq;
    info.evtchn = evtchn_from_irq(irq);
    printk("Peer: bound local irq:%d to evtchn:%u\n", irq, info.evtchn);

    /* Delivery is asynchronous: the bind notification may still be on its
     * way. Let it be handled as what it is before serving, or it would be
     * counted as the first answer and put a second event in flight. */
    guest_wait_until(port_quiet, &info);
    info.served = 1;
    if (notify_remote_via_irq(irq) != 0) {
        printk("Peer: notify_remote_via_irq failed\n");
        return 1;
    }
    guest_wait_until(rounds_done, &info);
    return 0;
}

static void wait_for_key(const char *key)
{
    printk("pingpong: waiting for %s\n", key);
    int rc = xs_wait_key(key, "waitkey");
    if (rc == 1)
        printk("pingpong: %s appeared\n", key);
    else if (rc == 2)
        printk("pingpong: %s came and went\n", key);
    else
        printk("pingpong: waiting for %s failed: %d\n", key, rc);
}

int guest_main(const char *cmdline)
{
    char role[16] = "";

    (void)cmdline;
    guest_cmdline_get("role", role, sizeof(role));
    info.role_alloc = strcmp(role, "bind") != 0;
    info.remote_domid = (int)guest_cmdline_int("peer", 0);
    info.rounds = guest_cmdline_int("rounds", 10);
    info.quiet = guest_cmdline_get("quiet", NULL, 0);
    if (info.rounds < 1)
        info.rounds = 1;
    if (!xs_available() && !info.role_alloc && guest_cmdline_int("port", -1) <= 0) {
        printk("pingpong: needs XenStore (or port=) to find the peer's port\n");
        return 1;
    }
    printk("pingpong: role=%s self=%d peer=%d rounds=%ld\n", info.role_alloc ? "alloc" : "bind",
           guest_domid(), info.remote_domid, info.rounds);
    if (guest_cmdline_get("waitkey", waitkey, sizeof(waitkey)) && waitkey[0] &&
        xs_watch(waitkey, "waitkey") != 0)
        waitkey[0] = '\0';

    int rc = info.role_alloc ? run_alloc() : run_bind();
    if (rc)
        return rc;

    if (waitkey[0])
        wait_for_key(waitkey);

    const struct irq_desc *d = irq_get_desc(info.irq);
    if (info.notify_errors) {
        printk("pingpong: FAIL: EVTCHNOP_send failed after %ld rounds\n", info.count);
        return 1;
    }
    printk("pingpong: PASS %ld rounds (%s ABI; irq %d: %lu events, %lu replayed while "
           "in progress; %lu upcalls, %lu nested)\n",
           info.count, evtchn_abi() == EVTCHN_ABI_FIFO ? "FIFO" : "2-level", info.irq,
           d ? d->count : 0, d ? d->replays : 0, evtchn_stats.upcalls, evtchn_stats.nested);
    return 0;
}

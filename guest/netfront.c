/*
 * The test guests' PV network frontend (guest/netfront.h): XenStore
 * handshake as Linux's xen-netfront (talk_to_netback, one queue), rings
 * and buffers on static pages between canaries, polled tx and rx.
 */
#include <guest/guest.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <guest/irq.h>
#include <guest/xenbus.h>
#include <guest/gnttab.h>
#include <guest/netfront.h>
#include <xen/io/xenbus.h>

/* Used pages: the two rings, the tx pages, the rx buffers; used page u is
 * pages[2u + 1], every even page is a canary. */
enum { U_TXRING, U_RXRING, U_TX0, U_RX0 = U_TX0 + NETFRONT_TX_PAGES,
       NR_USED = U_RX0 + NETFRONT_RX_BUFS };
static unsigned char pages[2 * NR_USED + 1][PAGE_SIZE]
    __attribute__((aligned(PAGE_SIZE), section(".bss.pages")));
static bool canaries_set;

static uint8_t *used_page(unsigned int u)
{
    return pages[2 * u + 1];
}

static unsigned char canary_byte(unsigned int pg, unsigned int i)
{
    return (unsigned char)(0x3c ^ pg ^ (i * 11));
}

static void canaries_fill(void)
{
    for (unsigned int pg = 0; pg < 2 * NR_USED + 1; pg += 2)
        for (unsigned int i = 0; i < PAGE_SIZE; i++)
            pages[pg][i] = canary_byte(pg, i);
    canaries_set = true;
}

bool netfront_canaries_intact(void)
{
    for (unsigned int pg = 0; pg < 2 * NR_USED + 1; pg += 2)
        for (unsigned int i = 0; i < PAGE_SIZE; i++)
            if (pages[pg][i] != canary_byte(pg, i))
                return false;
    return true;
}

static void relax(void)
{
    HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
}

static irqreturn_t nf_interrupt(int irq, void *dev_id)
{
    (void)irq;
    (void)dev_id;
    return IRQ_HANDLED;     /* we poll; the event only has to be taken */
}

/* ---- XenStore ---- */

static int fe_write(const struct netfront *nf, const char *key, unsigned long v)
{
    char path[96], val[24];

    snprintf(path, sizeof(path), "%s/%s", nf->fe, key);
    snprintf(val, sizeof(val), "%lu", v);
    return xs_write(XBT_NIL, path, val);
}

static long be_int(const struct netfront *nf, const char *key, long dflt)
{
    char path[192];
    long v;

    snprintf(path, sizeof(path), "%s/%s", nf->be, key);
    return xs_read_int(XBT_NIL, path, &v) == 0 ? v : dflt;
}

int netfront_be_state(const struct netfront *nf)
{
    return (int)be_int(nf, "state", -1);
}

/* Poll the backend's state until it is `want` (or `alt`). */
static bool wait_be_state(const struct netfront *nf, int want, int alt)
{
    uint64_t end = cpu_rdtsc() + NETFRONT_WAIT_CYCLES;
    int st;

    while ((st = netfront_be_state(nf)) != want && st != alt && cpu_rdtsc() < end)
        for (int i = 0; i < 20; i++)
            relax();
    if (st != want && st != alt)
        printk("netfront: backend state %d, waited for %d\n", st, want);
    return st == want || st == alt;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int netfront_init(struct netfront *nf, long devid)
{
    char names[128], path[96], mac[32];
    long v;

    memset(nf, 0, sizeof(*nf));
    if (!canaries_set)
        canaries_fill();
    if (devid < 0) {
        int n = xs_directory(XBT_NIL, "device/vif", names, sizeof(names));
        if (n <= 0)
            return n < 0 ? n : -XEN_ENOENT;
        devid = strtol_simple(names, NULL);
    }
    nf->devid = (unsigned long)devid;
    snprintf(nf->fe, sizeof(nf->fe), "device/vif/%lu", nf->devid);
    snprintf(path, sizeof(path), "%s/backend", nf->fe);
    int rc = xs_read(XBT_NIL, path, nf->be, sizeof(nf->be));
    if (rc < 0)
        return rc;
    snprintf(path, sizeof(path), "%s/backend-id", nf->fe);
    if ((rc = xs_read_int(XBT_NIL, path, &v)) < 0)
        return rc;
    nf->be_id = (domid_t)v;
    snprintf(path, sizeof(path), "%s/mac", nf->fe);
    if ((rc = xs_read(XBT_NIL, path, mac, sizeof(mac))) < 0)
        return rc;
    /* "xx:xx:xx:xx:xx:xx", as netfront's xen_net_read_mac */
    for (unsigned int i = 0; i < 6; i++) {
        int hi = hexval(mac[3 * i]), lo = hexval(mac[3 * i + 1]);
        char sep = mac[3 * i + 2];
        if (hi < 0 || lo < 0 || (i < 5 ? sep != ':' : sep != '\0'))
            return -XEN_EINVAL;
        nf->mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- connection ---- */

static grant_ref_t grant_used(const struct netfront *nf, unsigned int u, bool ro)
{
    int ref = gnttab_alloc_ref();

    if (ref < 0)
        return NETFRONT_NO_REF;
    gnttab_grant((grant_ref_t)ref, nf->be_id, virt_to_gfn(used_page(u)), ro);
    return (grant_ref_t)ref;
}

static int bind_port(struct netfront *nf, evtchn_port_t *port, int *irq)
{
    struct evtchn_alloc_unbound au = { .dom = DOMID_SELF, .remote_dom = nf->be_id };
    int rc = (int)HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &au);

    if (rc)
        return rc;
    *port = au.port;
    *irq = bind_evtchn_to_irqhandler(au.port, nf_interrupt, 0, "vif", NULL);
    return *irq < 0 ? *irq : 0;
}

static int write_keys(struct netfront *nf, unsigned int features)
{
    static const char *const keys[] = { "request-rx-copy", "feature-rx-notify",
                                        "feature-sg", "feature-gso-tcpv4" };
    int rc = fe_write(nf, "tx-ring-ref", nf->tx_ring_ref);

    if (rc == 0)
        rc = fe_write(nf, "rx-ring-ref", nf->rx_ring_ref);
    if (rc == 0 && nf->port_rx != nf->port) {
        rc = fe_write(nf, "event-channel-tx", nf->port);
        if (rc == 0)
            rc = fe_write(nf, "event-channel-rx", nf->port_rx);
    } else if (rc == 0) {
        rc = fe_write(nf, "event-channel", nf->port);
    }
    for (unsigned int i = 0; i < 4 && rc == 0; i++)
        if (i < 2 || (features & (i == 2 ? NETFRONT_F_SG : NETFRONT_F_GSO4)))
            rc = fe_write(nf, keys[i], 1);
    return rc;
}

int netfront_connect(struct netfront *nf, unsigned int features)
{
    if (!wait_be_state(nf, XenbusStateInitWait, XenbusStateConnected))
        return -XEN_ETIMEDOUT;
    if (be_int(nf, "feature-rx-copy", 0) != 1)
        return -XEN_EOPNOTSUPP;     /* netfront refuses such a backend too */
    nf->features = features;
    SHARED_RING_INIT((netif_tx_sring_t *)used_page(U_TXRING));
    FRONT_RING_INIT(&nf->tx, (netif_tx_sring_t *)used_page(U_TXRING), PAGE_SIZE);
    SHARED_RING_INIT((netif_rx_sring_t *)used_page(U_RXRING));
    FRONT_RING_INIT(&nf->rx, (netif_rx_sring_t *)used_page(U_RXRING), PAGE_SIZE);
    nf->tx_ring_ref = grant_used(nf, U_TXRING, false);
    nf->rx_ring_ref = grant_used(nf, U_RXRING, false);
    for (unsigned int i = 0; i < NETFRONT_TX_PAGES; i++)
        nf->tx_ref[i] = grant_used(nf, U_TX0 + i, true);
    for (unsigned int i = 0; i < NETFRONT_RX_BUFS; i++) {
        nf->rx_ref[i] = grant_used(nf, U_RX0 + i, false);
        nf->rx_posted[i] = false;
    }
    if (nf->rx_ref[NETFRONT_RX_BUFS - 1] == NETFRONT_NO_REF)
        return -XEN_ENOSPC;

    int rc = bind_port(nf, &nf->port, &nf->irq);
    nf->port_rx = nf->port;
    nf->irq_rx = -1;
    if (rc == 0 && (features & NETFRONT_F_SPLIT) &&
        be_int(nf, "feature-split-event-channels", 0) == 1)
        rc = bind_port(nf, &nf->port_rx, &nf->irq_rx);
    if (rc == 0)
        rc = write_keys(nf, features);
    if (rc == 0)
        rc = fe_write(nf, "state", XenbusStateConnected);
    if (rc)
        return rc;
    if (!wait_be_state(nf, XenbusStateConnected, XenbusStateConnected))
        return -XEN_ETIMEDOUT;
    nf->connected = true;
    if (!(features & NETFRONT_F_NO_FILL))
        netfront_rx_fill(nf);
    return 0;
}

static bool end_ref(grant_ref_t ref)
{
    if (ref == NETFRONT_NO_REF)
        return true;
    if (!gnttab_end(ref))
        return false;       /* still mapped: leaked, never reused */
    gnttab_free_ref(ref);
    return true;
}

static void close_port(evtchn_port_t port, int irq)
{
    if (irq >= 0)
        unbind_from_irqhandler(irq, NULL);
    struct evtchn_close cl = { .port = port };
    HYPERVISOR_event_channel_op(EVTCHNOP_close, &cl);
}

int netfront_close(struct netfront *nf)
{
    int rc = fe_write(nf, "state", XenbusStateClosing);

    if (rc)
        return rc;
    if (!wait_be_state(nf, XenbusStateClosing, XenbusStateClosed))
        return -XEN_ETIMEDOUT;
    if ((rc = fe_write(nf, "state", XenbusStateClosed)) != 0)
        return rc;
    if (!wait_be_state(nf, XenbusStateClosed, XenbusStateClosed))
        return -XEN_ETIMEDOUT;
    nf->connected = false;

    bool ended = end_ref(nf->tx_ring_ref) & end_ref(nf->rx_ring_ref);
    for (unsigned int i = 0; i < NETFRONT_TX_PAGES; i++)
        ended &= end_ref(nf->tx_ref[i]);
    for (unsigned int i = 0; i < NETFRONT_RX_BUFS; i++)
        ended &= end_ref(nf->rx_ref[i]);
    close_port(nf->port, nf->irq);
    if (nf->port_rx != nf->port)
        close_port(nf->port_rx, nf->irq_rx);
    rc = fe_write(nf, "state", XenbusStateInitialising);
    return rc ? rc : ended ? 0 : -XEN_EBUSY;
}

/* ---- tx ---- */

grant_ref_t netfront_tx_gref(const struct netfront *nf, unsigned int i)
{
    return i < NETFRONT_TX_PAGES ? nf->tx_ref[i] : NETFRONT_NO_REF;
}

uint8_t *netfront_tx_page(unsigned int i)
{
    return used_page(U_TX0 + (i % NETFRONT_TX_PAGES));
}

void netfront_tx_push(struct netfront *nf, const netif_tx_request_t *reqs, unsigned int n)
{
    int notify;

    for (unsigned int i = 0; i < n; i++)
        *RING_GET_REQUEST(&nf->tx, nf->tx.req_prod_pvt++) = reqs[i];
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&nf->tx, notify);
    (void)notify;           /* always: a lost event must not hide a bug */
    notify_remote_via_evtchn(nf->port);
}

unsigned int netfront_tx_responses(struct netfront *nf, netif_tx_response_t *out,
                                   unsigned int max, uint64_t cycles)
{
    uint64_t end = cpu_rdtsc() + cycles;
    unsigned int got = 0;

    while (got < max) {
        RING_IDX rp = READ_ONCE(nf->tx.sring->rsp_prod);
        rmb();
        for (; nf->tx.rsp_cons != rp && got < max; nf->tx.rsp_cons++, got++)
            if (out)
                out[got] = *RING_GET_RESPONSE(&nf->tx, nf->tx.rsp_cons);
        nf->tx.sring->rsp_event = nf->tx.rsp_cons + 1;
        mb();
        if (got < max && READ_ONCE(nf->tx.sring->rsp_prod) == nf->tx.rsp_cons) {
            if (cpu_rdtsc() >= end)
                break;
            relax();
        }
    }
    return got;
}

int netfront_send(struct netfront *nf, const void *frame, size_t len, size_t slot_len)
{
    netif_tx_request_t req[NETFRONT_TX_PAGES];
    netif_tx_response_t rsp[NETFRONT_TX_PAGES];
    unsigned int n = 0;
    const uint8_t *p = frame;

    if (slot_len == 0 || slot_len > PAGE_SIZE)
        slot_len = PAGE_SIZE;
    if (len == 0 || len > 0xffff || (len + slot_len - 1) / slot_len > NETFRONT_TX_PAGES)
        return -XEN_EINVAL;
    for (size_t off = 0; off < len; off += slot_len, n++) {
        size_t chunk = len - off < slot_len ? len - off : slot_len;
        memcpy(netfront_tx_page(n), p + off, chunk);
        req[n] = (netif_tx_request_t){
            .gref = nf->tx_ref[n], .offset = 0, .id = (uint16_t)(nf->next_tx_id++ & 0x7fff),
            .size = (uint16_t)(n == 0 ? len : chunk),
            .flags = off + chunk < len ? NETTXF_more_data : 0,
        };
    }
    netfront_tx_push(nf, req, n);
    unsigned int got = netfront_tx_responses(nf, rsp, n, NETFRONT_WAIT_CYCLES);
    for (unsigned int i = 0; i < got; i++)
        if (rsp[i].status != NETIF_RSP_OKAY)
            return rsp[i].status;
    return got == n ? 0 : -XEN_ETIMEDOUT;
}

/* ---- rx ---- */

void netfront_rx_push(struct netfront *nf, uint16_t id, grant_ref_t gref)
{
    netif_rx_request_t *r = RING_GET_REQUEST(&nf->rx, nf->rx.req_prod_pvt++);
    int notify;

    r->id = id;
    r->gref = gref;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&nf->rx, notify);
    (void)notify;
    notify_remote_via_evtchn(nf->port_rx);
}

void netfront_rx_fill(struct netfront *nf)
{
    for (unsigned int i = 0; i < NETFRONT_RX_BUFS; i++)
        if (!nf->rx_posted[i]) {
            nf->rx_posted[i] = true;
            netfront_rx_push(nf, (uint16_t)i, nf->rx_ref[i]);
        }
}

int netfront_rx_next(struct netfront *nf, netif_rx_response_t *rsp, uint64_t cycles)
{
    uint64_t end = cpu_rdtsc() + cycles;

    for (;;) {
        RING_IDX rp = READ_ONCE(nf->rx.sring->rsp_prod);
        rmb();
        if (nf->rx.rsp_cons != rp) {
            *rsp = *RING_GET_RESPONSE(&nf->rx, nf->rx.rsp_cons);
            nf->rx.rsp_cons++;
            return 0;
        }
        nf->rx.sring->rsp_event = nf->rx.rsp_cons + 1;
        mb();
        if (READ_ONCE(nf->rx.sring->rsp_prod) != nf->rx.rsp_cons)
            continue;
        if (cpu_rdtsc() >= end)
            return -XEN_ETIMEDOUT;
        relax();
    }
}

int netfront_recv(struct netfront *nf, void *buf, size_t len, uint64_t cycles)
{
    netif_rx_response_t r;
    size_t total = 0;
    bool more = true, extra = false, bad = false;
    uint64_t end = cpu_rdtsc() + cycles;

    while (more || extra) {
        uint64_t now = cpu_rdtsc();
        if (netfront_rx_next(nf, &r, now < end ? end - now : 0) < 0) {
            if (total == 0 && !bad)
                return -XEN_ETIMEDOUT;
            bad = true;         /* a chain cut short */
            break;
        }
        if (extra) {            /* a netif_extra_info in the slot */
            netif_extra_info_t x;
            memcpy(&x, &r, sizeof(x));
            extra = x.flags & XEN_NETIF_EXTRA_FLAG_MORE;
            continue;
        }
        if (r.id >= NETFRONT_RX_BUFS || !nf->rx_posted[r.id]) {
            nf->rx_stray++;
            bad = true;
            break;
        }
        nf->rx_posted[r.id] = false;
        if (r.status < 0 || r.offset + (unsigned int)r.status > PAGE_SIZE) {
            bad = true;
        } else {
            size_t n = (size_t)r.status;
            if (total < len)
                memcpy((uint8_t *)buf + total, used_page(U_RX0 + r.id) + r.offset,
                       len - total < n ? len - total : n);
            total += n;
        }
        more = r.flags & NETRXF_more_data;
        extra = r.flags & NETRXF_extra_info;
    }
    netfront_rx_fill(nf);
    return bad ? -XEN_EIO : (int)total;
}

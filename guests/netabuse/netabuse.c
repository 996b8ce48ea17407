/*
 * guests/netabuse: a PV network frontend (guest/netfront.h) on the vif of
 * its xl.cfg (vif = [ 'mac=...' ]), healthy or hostile.
 *
 * mode=healthy: ARP for the gateway (10.0.2.2, libslirp's host) and ICMP
 * echo to it, `rounds` times (frames built by hand, IPv4 and ICMP
 * checksums computed and checked). With peer=MAC/IP it also ARPs for and
 * pings another guest on the same switch; every frame we receive is
 * served meanwhile (ARP requests for our IP answered, echo requests to us
 * answered), and with `echo` we stay until the peer had `rounds` answers.
 * With until=<path> the gateway rounds go on until that node exists (a
 * hostile guest beside us says it is done).
 *
 * mode=hostile: what a bad frontend can do to netback (the cases below),
 * each followed by a healthy ARP/ping round trip on the same vif, after a
 * reconnect where the abuse stops the ring. Each check expects the
 * response Linux 6.1's xen-netback gives (drivers/net/xen-netback/
 * netback.c): NETIF_RSP_ERROR on every slot of a malformed packet it can
 * skip (xenvif_tx_err), OKAY for a packet dropped after the grant copy
 * (checksum set-up; ERROR accepted too, which xenkvm's netback gives),
 * and no response at all where Linux calls
 * xenvif_fatal_tx_err (the vif is disabled until the frontend reconnects);
 * there a backend that answers ERROR on every slot instead is accepted
 * too (the ok line says which). Canary pages next to every granted page
 * must stay intact. With victim=<domid>, data/netabuse-done is written
 * (readable by that domain) at the end, and we stay until that domain's
 * data/netabuse-seen says it read it (our directory goes when we end).
 *
 * mode=selftest needs no vif: frame builders and parsers against known
 * values, and netfront_init's -ENOENT without a vif.
 *
 * Options: mode=healthy|hostile|selftest, ip=A.B.C.D (default 10.0.2.(100+domid)),
 * rounds=N (default 5), peer=MAC/IP, echo, until=PATH, victim=DOMID,
 * vif=DEVID, split (split event channels if offered), gso (write
 * feature-gso-tcpv4: GSO frames may come, their extra slots are skipped).
 * Output: one ok/FAIL line per check, "netabuse: done", and
 * check_summary's "netabuse: N checks, P passed, F failed".
 */
#include <guest/guest.h>
#include <guest/check.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <guest/xenbus.h>
#include <guest/gnttab.h>
#include <guest/netfront.h>

#define QUIET_CYCLES 2000000000ull      /* how long "no answer" is watched */
#define OTHER_DOMID 5                   /* a domain that is not the backend */
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_LOCAL 0x88b5              /* IEEE local experimental: dropped */
#define ICMP_ID 0x4e41
#define NO_ANSWER 0x7fff

static struct netfront nf;
static uint8_t my_ip[4], gw_ip[4] = { 10, 0, 2, 2 }, gw_mac[6];
static uint8_t peer_ip[4], peer_mac[6];
static bool have_peer;
static unsigned long echo_answered;     /* echo requests we answered */
static uint16_t seq;
static uint8_t frame[2048], rxbuf[2048];

/* Pages of our own the hostile cases grant, each between canaries. */
enum { PG_C0, PG_RO, PG_C1, PG_RX0, PG_C2, PG_RX1, PG_C3, PG_REVOKE, PG_C4, NR_PAGES };
static unsigned char pages[NR_PAGES][PAGE_SIZE]
    __attribute__((aligned(PAGE_SIZE), section(".bss.pages")));

static bool is_canary(unsigned int pg)
{
    return (pg & 1) == 0;
}

static bool own_canaries_intact(void)
{
    for (unsigned int pg = 0; pg < NR_PAGES; pg++)
        if (is_canary(pg))
            for (unsigned int i = 0; i < PAGE_SIZE; i++)
                if (pages[pg][i] != (unsigned char)(0xa7 ^ pg ^ i))
                    return false;
    return true;
}

static void own_canaries_fill(void)
{
    for (unsigned int pg = 0; pg < NR_PAGES; pg += 2)
        for (unsigned int i = 0; i < PAGE_SIZE; i++)
            pages[pg][i] = (unsigned char)(0xa7 ^ pg ^ i);
}

/* ---- frames ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* The Internet checksum (RFC 1071) of p[0..len). */
static uint16_t inet_csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        sum += get16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static size_t eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, nf.mac, 6);
    put16(f + 12, type);
    return ETH_HLEN;
}

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ARP (op 1 request, 2 reply) to tha/tpa, padded to 60 bytes. */
static size_t arp(uint8_t *f, uint16_t op, const uint8_t *tha, const uint8_t *tpa)
{
    static const uint8_t zero[6];
    size_t n = eth(f, op == 1 ? bcast : tha, ETH_P_ARP);

    put16(f + n, 1);            /* Ethernet */
    put16(f + n + 2, ETH_P_IP);
    f[n + 4] = 6;
    f[n + 5] = 4;
    put16(f + n + 6, op);
    memcpy(f + n + 8, nf.mac, 6);
    memcpy(f + n + 14, my_ip, 4);
    memcpy(f + n + 18, op == 1 ? zero : tha, 6);
    memcpy(f + n + 24, tpa, 4);
    memset(f + n + 28, 0, 60 - n - 28);
    return 60;
}

/* IPv4 + ICMP echo (type 8 request, 0 reply) with `plen` payload bytes. */
static size_t icmp_echo(uint8_t *f, const uint8_t *mac, const uint8_t *ip, uint8_t type,
                        uint16_t id, uint16_t sq, const uint8_t *payload, size_t plen)
{
    size_t n = eth(f, mac, ETH_P_IP);
    uint8_t *iph = f + n, *icmp = iph + 20;

    memset(iph, 0, 20);
    iph[0] = 0x45;
    put16(iph + 2, (uint16_t)(20 + 8 + plen));
    put16(iph + 4, sq);
    iph[8] = 64;
    iph[9] = 1;                 /* ICMP */
    memcpy(iph + 12, my_ip, 4);
    memcpy(iph + 16, ip, 4);
    put16(iph + 10, inet_csum(iph, 20));
    icmp[0] = type;
    icmp[1] = 0;
    put16(icmp + 2, 0);
    put16(icmp + 4, id);
    put16(icmp + 6, sq);
    memcpy(icmp + 8, payload, plen);
    put16(icmp + 2, inet_csum(icmp, 8 + plen));
    return n + 28 + plen;
}

/* What a received frame was, for the waits below. */
struct seen {
    bool arp_reply, echo_reply;
    uint8_t ip[4], mac[6];
    uint16_t id, seq;
    const uint8_t *payload;
    size_t plen;
};

/* Look at one received frame; answer ARP requests for our IP and echo
 * requests to us (as any host on the switch does). */
static void serve(const uint8_t *f, size_t len, struct seen *s)
{
    memset(s, 0, sizeof(*s));
    if (len >= 42 && get16(f + 12) == ETH_P_ARP && memcmp(f + 38, my_ip, 4) == 0) {
        uint16_t op = get16(f + 20);
        memcpy(s->mac, f + 22, 6);
        memcpy(s->ip, f + 28, 4);
        if (op == 2) {
            s->arp_reply = true;
        } else if (op == 1) {
            size_t n = arp(frame, 2, s->mac, s->ip);
            netfront_send(&nf, frame, n, 0);
        }
        return;
    }
    if (len < ETH_HLEN + 28 || get16(f + 12) != ETH_P_IP || (f[14] & 0xf0) != 0x40)
        return;
    const uint8_t *iph = f + ETH_HLEN;
    size_t ihl = (size_t)(iph[0] & 15) * 4, tot = get16(iph + 2);
    if (iph[9] != 1 || ihl < 20 || tot < ihl + 8 || ETH_HLEN + tot > len ||
        memcmp(iph + 16, my_ip, 4) != 0 || inet_csum(iph, ihl) != 0 ||
        inet_csum(iph + ihl, tot - ihl) != 0)
        return;                 /* not ours, or a bad checksum: ignored */
    const uint8_t *icmp = iph + ihl;
    memcpy(s->ip, iph + 12, 4);
    memcpy(s->mac, f + 6, 6);
    s->id = get16(icmp + 4);
    s->seq = get16(icmp + 6);
    s->payload = icmp + 8;
    s->plen = tot - ihl - 8;
    if (icmp[0] == 0) {
        s->echo_reply = true;
    } else if (icmp[0] == 8 && s->plen <= 1400) {
        uint8_t pl[1400];
        memcpy(pl, s->payload, s->plen);
        size_t n = icmp_echo(frame, s->mac, s->ip, 0, s->id, s->seq, pl, s->plen);
        if (netfront_send(&nf, frame, n, 0) == 0)
            echo_answered++;
    }
}

/* Receive until a frame matching (arp reply from ip) or (echo reply from
 * ip with id/seq and our payload) comes, serving the rest. */
static bool wait_reply(bool want_arp, const uint8_t *ip, uint16_t sq, const uint8_t *pl,
                       size_t plen, uint8_t *mac_out, uint64_t cycles)
{
    uint64_t end = cpu_rdtsc() + cycles;
    struct seen s;

    while (cpu_rdtsc() < end) {
        int n = netfront_recv(&nf, rxbuf, sizeof(rxbuf), end - cpu_rdtsc());
        if (n <= 0 || n > (int)sizeof(rxbuf))
            continue;
        serve(rxbuf, (size_t)n, &s);
        if (memcmp(s.ip, ip, 4) != 0)
            continue;
        if (want_arp && s.arp_reply) {
            memcpy(mac_out, s.mac, 6);
            return true;
        }
        if (!want_arp && s.echo_reply && s.id == ICMP_ID && s.seq == sq && s.plen == plen &&
            memcmp(s.payload, pl, plen) == 0)
            return true;
    }
    return false;
}

static bool arp_resolve(const uint8_t *ip, uint8_t *mac, uint64_t cycles)
{
    size_t n = arp(frame, 1, NULL, ip);

    return netfront_send(&nf, frame, n, 0) == 0 &&
           wait_reply(true, ip, 0, NULL, 0, mac, cycles);
}

/* One echo request of 56 bytes (or 1400 in two slots of at most 1024 with
 * `big`) and its reply. */
static bool ping(const uint8_t *mac, const uint8_t *ip, bool big, uint64_t cycles)
{
    uint8_t pl[1400];
    size_t plen = big ? sizeof(pl) : 56;
    uint16_t sq = ++seq;

    for (size_t i = 0; i < plen; i++)
        pl[i] = (uint8_t)(sq + i * 3);
    size_t n = icmp_echo(frame, mac, ip, 8, ICMP_ID, sq, pl, plen);
    return netfront_send(&nf, frame, n, big ? 1024 : 0) == 0 &&
           wait_reply(false, ip, sq, pl, plen, NULL, cycles);
}

/* The healthy round trip: ARP for the gateway and a ping to it. */
static bool healthy_round(const char *what)
{
    char line[160];
    uint8_t mac[6];

    snprintf(line, sizeof(line), "%s: ARP for 10.0.2.2 answered", what);
    bool ok = check(arp_resolve(gw_ip, mac, NETFRONT_WAIT_CYCLES), line);
    if (ok)
        memcpy(gw_mac, mac, 6);
    snprintf(line, sizeof(line), "%s: ping 10.0.2.2 answered", what);
    ok &= check(ping(gw_mac, gw_ip, false, NETFRONT_WAIT_CYCLES), line);
    snprintf(line, sizeof(line), "%s: canary pages intact", what);
    ok &= check(netfront_canaries_intact() && own_canaries_intact(), line);
    return ok;
}

/* ---- connection ---- */

static unsigned int features(void)
{
    return NETFRONT_F_SG | (guest_cmdline_get("split", NULL, 0) ? NETFRONT_F_SPLIT : 0) |
           (guest_cmdline_get("gso", NULL, 0) ? NETFRONT_F_GSO4 : 0);
}

static bool connect(unsigned int extra)
{
    int rc = netfront_connect(&nf, features() | extra);

    return check_eq("netfront connected (backend Connected)", rc, 0);
}

static bool reconnect(const char *what, unsigned int extra)
{
    char line[160];

    snprintf(line, sizeof(line), "%s: close (Closing, Closed) with every grant given back", what);
    if (!check_eq(line, netfront_close(&nf), 0))
        return false;
    return connect(extra);
}

static bool parse_ip(const char *s, uint8_t *ip)
{
    for (int i = 0; i < 4; i++) {
        const char *end;
        long v = strtol_simple(s, &end);
        if (end == s || v < 0 || v > 255 || (i < 3 && *end != '.'))
            return false;
        ip[i] = (uint8_t)v;
        s = end + 1;
    }
    return true;
}

static bool parse_peer(const char *s)
{
    /* MAC/IP: "xx:xx:xx:xx:xx:xx/a.b.c.d" */
    for (int i = 0; i < 6; i++) {
        const char *end;
        char hex[8] = "0x";
        hex[2] = s[3 * i];
        hex[3] = s[3 * i + 1];
        hex[4] = 0;
        long v = strtol_simple(hex, &end);
        if (*end || s[3 * i + 2] != (i < 5 ? ':' : '/'))
            return false;
        peer_mac[i] = (uint8_t)v;
    }
    return parse_ip(s + 18, peer_ip);
}

/* ---- hostile ---- */

static netif_tx_request_t txr[40];

/* A slot of tx page i holding `size` bytes at `off`. */
static netif_tx_request_t slot(unsigned int i, uint16_t off, uint16_t size, uint16_t flags)
{
    return (netif_tx_request_t){ .gref = netfront_tx_gref(&nf, i), .offset = off,
                                 .flags = flags, .id = (uint16_t)(0x4000 + i), .size = size };
}

/* A valid ARP request to the gateway in tx page 0 (the abuse's payload). */
static void payload_arp(void)
{
    arp(netfront_tx_page(0), 1, NULL, gw_ip);
}

/* Push n slots and collect up to `want` responses (QUIET wait when none
 * may come). Returns how many came; *errs counts statuses other than
 * `ok_status` and NETIF_RSP_NULL (extra slots' answers). */
static unsigned int push_collect(unsigned int n, unsigned int want, int16_t ok_status,
                                 unsigned int *errs, uint64_t cycles)
{
    netif_tx_response_t rsp[40];

    netfront_tx_push(&nf, txr, n);
    unsigned int got = netfront_tx_responses(&nf, rsp, want, cycles);
    *errs = 0;
    for (unsigned int i = 0; i < got; i++)
        if (rsp[i].status != ok_status && rsp[i].status != NETIF_RSP_NULL) {
            if (*errs == 0)
                printk("netabuse: response id %u status %d\n", rsp[i].id, rsp[i].status);
            (*errs)++;
        }
    return got;
}

/* Linux answers every slot of the packet with `status` (xenvif_tx_err, or
 * the grant copy's verdict); then the vif serves us as before. */
static void answered_case(const char *what, unsigned int n, int16_t status)
{
    char line[160];
    unsigned int errs;
    unsigned int got = push_collect(n, n, status, &errs, NETFRONT_WAIT_CYCLES);

    snprintf(line, sizeof(line), "%s: a response on each of its %u slots", what, n);
    check_got(got == n, line, got, n);
    snprintf(line, sizeof(line), "%s: status %d", what, status);
    check_got(got == n && errs == 0, line, errs, 0);
    healthy_round(what);
}

/* Linux calls xenvif_fatal_tx_err: no response, the vif is disabled until
 * the frontend reconnects. */
static void fatal_case(const char *what, unsigned int n)
{
    char line[160];
    unsigned int errs;
    unsigned int got = push_collect(n, n, NETIF_RSP_ERROR, &errs, QUIET_CYCLES);

    printk("netabuse: %s: %s\n", what, got == 0 ? "no response (the vif stopped, as Linux)" :
           "answered");
    snprintf(line, sizeof(line), "%s: the vif stopped, as Linux's", what);
    (void)errs;
    check_got(got == 0, line, got, 0);
    reconnect(what, 0);
    healthy_round(what);
}

static void tx_sizes(void)
{
    payload_arp();
    txr[0] = slot(0, 0, 0, 0);
    answered_case("tx size 0", 1, NETIF_RSP_ERROR);
    txr[0] = slot(0, 0, 10, 0);
    answered_case("tx frame of 10 bytes (< an Ethernet header)", 1, NETIF_RSP_ERROR);
    /* 0xffff in the first slot, then 17 full pages: the frame is over
     * 64 KiB, a following slot is larger than what is left. */
    txr[0] = slot(0, 0, 0xffff, NETTXF_more_data);
    for (unsigned int i = 1; i <= 17; i++)
        txr[i] = slot(i, 0, PAGE_SIZE, i < 17 ? NETTXF_more_data : 0);
    answered_case("tx frame over 64 KiB (slots beyond the first's size)", 18, NETIF_RSP_ERROR);
    txr[0] = slot(0, 0, 100, NETTXF_more_data);
    txr[1] = slot(1, 0, 200, 0);
    answered_case("tx first slot's size smaller than the next slot's", 2, NETIF_RSP_ERROR);
    txr[0] = slot(0, 0, 200, NETTXF_more_data);
    txr[1] = slot(1, 0, 200, 0);
    answered_case("tx first slot's size equal to the rest (an empty first slot)", 2,
                  NETIF_RSP_ERROR);
    /* 20 slots: more than XEN_NETIF_NR_SLOTS_MIN, fewer than Linux's
     * fatal_skb_slots (20 following): dropped with ERROR. */
    txr[0] = slot(0, 0, 20 * 64, NETTXF_more_data);
    for (unsigned int i = 1; i < 20; i++)
        txr[i] = slot(i, 0, 64, i < 19 ? NETTXF_more_data : 0);
    answered_case("tx frame in 20 slots (> XEN_NETIF_NR_SLOTS_MIN)", 20, NETIF_RSP_ERROR);
    /* Two valid frames with the same id: each answered OKAY. */
    payload_arp();
    txr[0] = slot(0, 0, 60, 0);
    txr[1] = slot(0, 0, 60, 0);
    answered_case("tx two frames with the same id", 2, NETIF_RSP_OKAY);
    /* csum_blank on an IPv4 frame too short for its headers: Linux
     * answers OKAY (the copy worked) and drops it in checksum_setup. */
    uint8_t *p = netfront_tx_page(1);
    eth(p, gw_mac, ETH_P_IP);
    memset(p + ETH_HLEN, 0x45, 10);
    txr[0] = slot(1, 0, ETH_HLEN + 10, NETTXF_csum_blank | NETTXF_data_validated);
    answered_case("tx csum_blank on a frame too short for its IP header", 1, NETIF_RSP_OKAY);
}

/* Slots whose gref is bad: the grant copy fails, Linux answers ERROR. */
static void tx_grants(void)
{
    int never = gnttab_alloc_ref();     /* allocated, never granted */
    int other = gnttab_alloc_ref();
    memcpy(pages[PG_RO], netfront_tx_page(0), 60);
    gnttab_grant((grant_ref_t)other, OTHER_DOMID, virt_to_gfn(pages[PG_RO]), true);
    static const char *const what[] = {
        "tx gref past the table", "tx gref 0xffffffff", "tx gref never granted",
        "tx gref granted read-only to domain 5",
    };
    grant_ref_t refs[] = { (grant_ref_t)gnttab_nr_refs(), 0xffffffffu, (grant_ref_t)never,
                           (grant_ref_t)other };

    for (unsigned int i = 0; i < 4; i++) {
        txr[0] = slot(0, 0, 60, 0);
        txr[0].gref = refs[i];
        answered_case(what[i], 1, NETIF_RSP_ERROR);
    }
    check(gnttab_end((grant_ref_t)other), "tx: the grant to domain 5 was never mapped");
    gnttab_free_ref((grant_ref_t)other);
    gnttab_free_ref((grant_ref_t)never);

    /* Revoked or rewritten right after the push: OKAY or ERROR, once. */
    for (unsigned int rewrite = 0; rewrite < 2; rewrite++) {
        int ref = gnttab_alloc_ref();
        memcpy(pages[PG_REVOKE], netfront_tx_page(0), 60);
        gnttab_grant((grant_ref_t)ref, nf.be_id, virt_to_gfn(pages[PG_REVOKE]), true);
        txr[0] = slot(0, 0, 60, 0);
        txr[0].gref = (grant_ref_t)ref;
        netfront_tx_push(&nf, txr, 1);
        if (rewrite)
            gnttab_rewrite((grant_ref_t)ref, OTHER_DOMID, virt_to_gfn(pages[PG_RO]),
                           GTF_permit_access);
        else
            gnttab_rewrite((grant_ref_t)ref, nf.be_id, virt_to_gfn(pages[PG_REVOKE]), 0);
        netif_tx_response_t r = { .status = NO_ANSWER };
        netfront_tx_responses(&nf, &r, 1, NETFRONT_WAIT_CYCLES);
        const char *w = rewrite ? "tx gref rewritten in flight" : "tx gref revoked in flight";
        char line[128];
        snprintf(line, sizeof(line), "%s: answered OKAY or ERROR (%d)", w, r.status);
        check_got(r.status == NETIF_RSP_OKAY || r.status == NETIF_RSP_ERROR, line, r.status, 0);
        snprintf(line, sizeof(line), "%s: not mapped after the answer", w);
        check(!(gnttab_query_flags((grant_ref_t)ref) & (GTF_reading | GTF_writing)), line);
        gnttab_rewrite((grant_ref_t)ref, 0, 0, 0);
        gnttab_free_ref((grant_ref_t)ref);
        healthy_round(w);
    }
}

/* Extra-info slots Linux refuses with xenvif_fatal_tx_err. */
static void tx_extras(void)
{
    struct { const char *what; uint8_t type, flags, gso_type; uint16_t gso_size; bool last; }
    cases[] = {
        { "tx GSO extra with gso_size 0", XEN_NETIF_EXTRA_TYPE_GSO, 0, XEN_NETIF_GSO_TYPE_TCPV4, 0, false },
        { "tx GSO extra with type 9", XEN_NETIF_EXTRA_TYPE_GSO, 0, 9, 1400, false },
        { "tx extra of type 0 (NONE)", XEN_NETIF_EXTRA_TYPE_NONE, 0, 0, 0, false },
        { "tx extra of unknown type 77", 77, 0, 0, 0, false },
        { "tx extra_info flag on the last slot", 0, 0, 0, 0, true },
    };

    for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        payload_arp();
        txr[0] = slot(0, 0, 60, NETTXF_extra_info);
        if (cases[i].last) {
            fatal_case(cases[i].what, 1);
            continue;
        }
        netif_extra_info_t x = { .type = cases[i].type, .flags = cases[i].flags };
        x.u.gso.size = cases[i].gso_size;
        x.u.gso.type = cases[i].gso_type;
        memcpy(&txr[1], &x, sizeof(x));
        fatal_case(cases[i].what, 2);
    }
}

/* Slots crossing their page, slot counts Linux calls malicious, and the
 * first slot holding more than a page. */
static void tx_fatal_layout(void)
{
    payload_arp();
    txr[0] = slot(0, 4000, 200, 0);
    fatal_case("tx slot with offset + size past its page", 1);
    txr[0] = slot(0, 0, 60 + 200, NETTXF_more_data);
    txr[1] = slot(1, 3990, 200, 0);
    fatal_case("tx second slot crossing its page", 2);
    txr[0] = slot(0, 0, 5000, NETTXF_more_data);
    txr[1] = slot(1, 0, 100, 0);
    fatal_case("tx first slot's size larger than the rest by more than a page", 2);
    txr[0] = slot(0, 0, 30 * 64, NETTXF_more_data);
    for (unsigned int i = 1; i < 30; i++)
        txr[i] = slot(i % NETFRONT_TX_PAGES, 0, 64, i < 29 ? NETTXF_more_data : 0);
    fatal_case("tx frame in 30 slots (>= Linux's fatal_skb_slots)", 30);
}

/* Thousands of frames to the gateway's MAC with an ethertype nobody
 * takes: each answered OKAY (or DROPPED), the vif serves us after. */
static void tx_flood(void)
{
    unsigned int sent = 0, got = 0, bad = 0;
    netif_tx_response_t rsp[64];

    eth(netfront_tx_page(2), gw_mac, ETH_P_LOCAL);
    memset(netfront_tx_page(2) + ETH_HLEN, 0x5a, 46);
    while (sent < 4000) {
        unsigned int n = 0;
        while (n < 64 && sent < 4000 && !RING_FULL(&nf.tx)) {
            txr[0] = slot(2, 0, 60, 0);
            txr[0].id = (uint16_t)sent++;
            netfront_tx_push(&nf, txr, 1);
            n++;
        }
        unsigned int c = netfront_tx_responses(&nf, rsp, 64, n ? 0 : NETFRONT_WAIT_CYCLES);
        for (unsigned int i = 0; i < c; i++)
            bad += rsp[i].status != NETIF_RSP_OKAY && rsp[i].status != NETIF_RSP_DROPPED;
        got += c;
        if (!n && !c)
            break;
    }
    got += netfront_tx_responses(&nf, NULL, sent - got, NETFRONT_WAIT_CYCLES);
    check_got(got == sent, "tx flood of 4000 frames: one response each", got, sent);
    check_got(bad == 0, "tx flood: each OKAY or DROPPED", bad, 0);
    healthy_round("tx flood");
}

/* rx requests with bad grefs get error responses, the pages stay as they
 * were; two with one id are both answered. Linux puts the failed grant
 * copy's GNTST status (< 0) in the response. */
static void rx_requests(void)
{
    if (!reconnect("rx requests", NETFRONT_F_NO_FILL))
        return;
    int never = gnttab_alloc_ref(), ro = gnttab_alloc_ref(), other = gnttab_alloc_ref();
    int d0 = gnttab_alloc_ref(), d1 = gnttab_alloc_ref();
    memset(pages[PG_RO], 0x11, PAGE_SIZE);
    memset(pages[PG_RX0], 0x22, PAGE_SIZE);
    memset(pages[PG_RX1], 0x22, PAGE_SIZE);
    gnttab_grant((grant_ref_t)ro, nf.be_id, virt_to_gfn(pages[PG_RO]), true);
    gnttab_grant((grant_ref_t)other, OTHER_DOMID, virt_to_gfn(pages[PG_RO]), false);
    gnttab_grant((grant_ref_t)d0, nf.be_id, virt_to_gfn(pages[PG_RX0]), false);
    gnttab_grant((grant_ref_t)d1, nf.be_id, virt_to_gfn(pages[PG_RX1]), false);
    grant_ref_t bad[] = { (grant_ref_t)gnttab_nr_refs(), (grant_ref_t)never, (grant_ref_t)ro,
                          (grant_ref_t)other };
    for (unsigned int i = 0; i < 4; i++)
        netfront_rx_push(&nf, (uint16_t)(100 + i), bad[i]);
    netfront_rx_push(&nf, 200, (grant_ref_t)d0);
    netfront_rx_push(&nf, 200, (grant_ref_t)d1);

    /* Six frames for us: ARP requests to the gateway, six replies. */
    unsigned int got = 0, errs = 0, dup_ok = 0;
    for (unsigned int i = 0; i < 6; i++)
        netfront_send(&nf, frame, arp(frame, 1, NULL, gw_ip), 0);
    netif_rx_response_t r;
    while (got < 6 && netfront_rx_next(&nf, &r, NETFRONT_WAIT_CYCLES) == 0) {
        got++;
        if (r.id >= 100 && r.id < 104)
            errs += r.status < 0;
        else if (r.id == 200)
            dup_ok += r.status > 0;
        printk("netabuse: rx response id %u status %d\n", r.id, r.status);
    }
    check_got(got == 6, "rx: a response for each of the 6 requests", got, 6);
    check_got(errs == 4, "rx: bad grefs (past the table, never granted, read-only, "
              "domain 5's) answered with an error", errs, 4);
    check_got(dup_ok == 2, "rx: two requests with one id both filled", dup_ok, 2);
    bool ro_same = true;
    for (unsigned int i = 0; i < PAGE_SIZE; i++)
        ro_same &= pages[PG_RO][i] == 0x11;
    check(ro_same, "rx: the read-only granted page was not written");
    check(gnttab_end((grant_ref_t)ro) && gnttab_end((grant_ref_t)other) &&
          gnttab_end((grant_ref_t)d0) && gnttab_end((grant_ref_t)d1),
          "rx: no grant left mapped");
    int refs[] = { never, ro, other, d0, d1 };
    for (unsigned int i = 0; i < 5; i++)
        gnttab_free_ref((grant_ref_t)refs[i]);
    netfront_rx_fill(&nf);
    healthy_round("rx requests");
}

/* The rings corrupted: req_prod far ahead of what was ever pushed. Linux
 * disables the vif ("Impossible number of requests"); we reconnect. */
static void rings_corrupt(void)
{
    uint32_t x = 0x2468ace1;
    netif_tx_sring_t *s = nf.tx.sring;

    for (unsigned int i = 0; i < RING_SIZE(&nf.tx); i++) {
        x = x * 1103515245u + 12345u;
        memcpy(&s->ring[i], &x, 4);
        memcpy((uint8_t *)&s->ring[i] + 4, &x, 4);
    }
    wmb();
    s->req_prod = nf.tx.req_prod_pvt + 4 * RING_SIZE(&nf.tx) + 3;
    notify_remote_via_evtchn(nf.port);
    unsigned int got = netfront_tx_responses(&nf, NULL, 2 * RING_SIZE(&nf.tx), QUIET_CYCLES);
    check_got(got <= RING_SIZE(&nf.tx), "tx ring corrupted: no more responses than slots",
              got, RING_SIZE(&nf.tx));
    reconnect("tx ring corrupted", 0);
    healthy_round("tx ring corrupted");

    nf.rx.sring->req_prod = nf.rx.req_prod_pvt + 4 * RING_SIZE(&nf.rx) + 3;
    notify_remote_via_evtchn(nf.port_rx);
    netfront_send(&nf, frame, arp(frame, 1, NULL, gw_ip), 0);
    for (unsigned int i = 0; i < 20; i++)
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    reconnect("rx ring corrupted", 0);
    healthy_round("rx ring corrupted");
}

static void run_hostile(void)
{
    healthy_round("before the abuse");
    tx_sizes();
    tx_grants();
    tx_flood();
    rx_requests();
    tx_extras();
    tx_fatal_layout();
    rings_corrupt();
    check_eq("reconnect: one more close and connect", reconnect("last", 0), true);
    healthy_round("at the end");

    long victim = guest_cmdline_int("victim", -1);
    if (victim >= 0) {
        char owner[16], reader[16];
        const char *perms[2] = { owner, reader };
        snprintf(owner, sizeof(owner), "n%d", guest_domid());
        snprintf(reader, sizeof(reader), "r%ld", victim);
        int rc = xs_write(XBT_NIL, "data/netabuse-done", "1");
        if (rc == 0)
            rc = xs_set_perms(XBT_NIL, "data/netabuse-done", perms, 2);
        check_eq("tell the healthy guest we are done (data/netabuse-done)", rc, 0);
        /* Our domain's directory, the node with it, goes when we power
         * off: stay until the healthy guest has read it (it says so in
         * its own directory), else it would ping on forever. */
        char seen[64], v[8];
        snprintf(seen, sizeof(seen), "/local/domain/%ld/data/netabuse-seen", victim);
        uint64_t end = cpu_rdtsc() + 3 * NETFRONT_WAIT_CYCLES;
        bool got = false;
        while (rc == 0 && !(got = xs_read(XBT_NIL, seen, v, sizeof(v)) >= 0) &&
               cpu_rdtsc() < end)
            HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
        check(got, "the healthy guest saw that we are done (its data/netabuse-seen)");
    }
}

/* ---- healthy ---- */

static bool key_exists(const char *path)
{
    char v[16];

    return xs_read(XBT_NIL, path, v, sizeof(v)) >= 0;
}

static void run_healthy(long rounds)
{
    char until[96], line[128];
    bool have_until = guest_cmdline_get("until", until, sizeof(until)) && until[0];
    long done = 0, ok = 0, max = have_until ? 100000 : rounds;

    /* On a Linux bridge the kernel enables a TAP's port a moment after
     * it is added, and drops what comes before (seen in test_net_tap):
     * the first ARP is asked again for a while, as the peer's below. */
    uint8_t first[6];
    for (int i = 0; i < 20 && !arp_resolve(gw_ip, first, QUIET_CYCLES); i++)
        ;
    healthy_round("healthy: first round");
    if (have_peer) {
        uint8_t mac[6] = { 0 };
        bool found = false;
        /* The peer may still be connecting: ask again for a while. */
        for (int i = 0; i < 20 && !found; i++)
            found = arp_resolve(peer_ip, mac, QUIET_CYCLES);
        check(found, "ARP for the peer answered");
        check(memcmp(mac, peer_mac, 6) == 0, "the peer's ARP reply has its configured MAC");
    }
    while (done < max && (done < rounds || (have_until && !key_exists(until)))) {
        bool r = ping(gw_mac, gw_ip, done & 1, NETFRONT_WAIT_CYCLES);
        if (have_peer)
            r &= ping(peer_mac, peer_ip, done & 1, NETFRONT_WAIT_CYCLES);
        ok += r;
        if (!r)
            printk("netabuse: round %ld lost a ping\n", done);
        done++;
    }
    snprintf(line, sizeof(line), "%ld rounds of pings%s: all answered", done,
             have_peer ? " (gateway and peer)" : " (gateway)");
    check_got(ok == done, line, ok, done);
    if (have_until) {
        bool said = key_exists(until);
        check(said, "the hostile guest beside us said it is done");
        /* It waits for this before it powers off (its directory goes then,
         * the node in it too): readable by all ("r" + our domid: owner
         * and everyone's permission). */
        char owner[16];
        const char *perms[1] = { owner };
        snprintf(owner, sizeof(owner), "r%d", guest_domid());
        int rc = said ? xs_write(XBT_NIL, "data/netabuse-seen", "1") : -1;
        if (rc == 0)
            rc = xs_set_perms(XBT_NIL, "data/netabuse-seen", perms, 1);
        check_eq("tell the hostile guest we saw it (data/netabuse-seen)", rc, 0);
    }
    if (have_peer && guest_cmdline_get("echo", NULL, 0)) {
        /* Stay until the peer had its `rounds` answers (its retries aside). */
        uint64_t end = cpu_rdtsc() + 5 * NETFRONT_WAIT_CYCLES;
        while (echo_answered < (unsigned long)rounds && cpu_rdtsc() < end)
            wait_reply(true, my_ip, 0, NULL, 0, NULL, QUIET_CYCLES);
        check_got(echo_answered >= (unsigned long)rounds, "answered the peer's pings",
                  (long)echo_answered, rounds);
    }
    check(netfront_canaries_intact(), "canary pages intact");
}

/* mode=selftest (no vif needed): the frame builders and parsers against
 * known values, and netfront_init's answer when the domain has no vif. */
static void run_selftest(void)
{
    /* RFC 791-style header with the checksum 0xb861 (a textbook example). */
    static const uint8_t hdr[20] = { 0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61,
                                     0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7 };
    uint8_t pl[5] = { 1, 2, 3, 4, 5 }, ip[4];

    check_eq("inet_csum of a header with its checksum is 0", inet_csum(hdr, 20), 0);
    check(parse_peer("00:16:3e:0a:bc:ff/10.0.2.7") && peer_mac[3] == 0x0a &&
          peer_mac[5] == 0xff && peer_ip[0] == 10 && peer_ip[3] == 7, "peer=MAC/IP parsed");
    check(!parse_peer("00:16:3e:0a:bc/10.0.2.7") && !parse_ip("10.0.2", ip) &&
          !parse_ip("10.0.256.1", ip), "malformed peer and ip refused");
    size_t n = icmp_echo(frame, peer_mac, peer_ip, 8, ICMP_ID, 9, pl, sizeof(pl));
    check_eq("echo request length (14 + 20 + 8 + 5)", (long)n, 47);
    check(inet_csum(frame + ETH_HLEN, 20) == 0 && inet_csum(frame + ETH_HLEN + 20, 13) == 0 &&
          get16(frame + 12) == ETH_P_IP && get16(frame + ETH_HLEN + 2) == 33,
          "echo request: IPv4 and ICMP checksums verify, lengths right");
    n = arp(frame, 1, NULL, gw_ip);
    check(n == 60 && memcmp(frame, bcast, 6) == 0 && get16(frame + 20) == 1 &&
          memcmp(frame + 28, my_ip, 4) == 0 && memcmp(frame + 38, gw_ip, 4) == 0,
          "ARP request: broadcast, op 1, our IP asks for the gateway's");
    struct netfront none;
    check_eq("netfront_init without a vif: -ENOENT", netfront_init(&none, -1), -XEN_ENOENT);
    check(netfront_canaries_intact() && own_canaries_intact(), "canary pages intact");
}

int guest_main(const char *cmdline)
{
    char mode[16] = "healthy", buf[64];

    (void)cmdline;
    own_canaries_fill();
    guest_cmdline_get("mode", mode, sizeof(mode));
    long rounds = guest_cmdline_int("rounds", 5);
    if (!guest_cmdline_get("ip", buf, sizeof(buf)) || !parse_ip(buf, my_ip)) {
        my_ip[0] = 10, my_ip[1] = 0, my_ip[2] = 2;
        my_ip[3] = (uint8_t)(100 + guest_domid());
    }
    if (guest_cmdline_get("peer", buf, sizeof(buf)))
        have_peer = check(parse_peer(buf), "peer=MAC/IP parsed");

    int rc = gnttab_init(1);
    if (!check_eq("grant table set up", rc, 0) || !check(xs_available(), "XenStore connection"))
        return check_summary("netabuse");
    if (strcmp(mode, "selftest") == 0) {
        run_selftest();
        printk("netabuse: done\n");
        return check_summary("netabuse");
    }
    rc = netfront_init(&nf, guest_cmdline_int("vif", -1));
    if (!check_eq("device/vif/<id>: backend, backend-id, mac read", rc, 0))
        return check_summary("netabuse");
    printk("netabuse: %s, vif %lu, backend %s (domain %u), mac %02x:%02x:%02x:%02x:%02x:%02x, "
           "ip %u.%u.%u.%u\n", mode, nf.devid, nf.be, nf.be_id, nf.mac[0], nf.mac[1],
           nf.mac[2], nf.mac[3], nf.mac[4], nf.mac[5], my_ip[0], my_ip[1], my_ip[2], my_ip[3]);
    if (!connect(0))
        return check_summary("netabuse");

    if (strcmp(mode, "hostile") == 0)
        run_hostile();
    else
        run_healthy(rounds);
    check_eq("close at the end", netfront_close(&nf), 0);
    printk("netabuse: done\n");
    return check_summary("netabuse");
}

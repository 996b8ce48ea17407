/*
 * A minimal PV network frontend (<xen/io/netif.h>) for the project's test
 * guests, doing what Linux 6.1's xen-netfront does on one queue:
 * device/vif/<id> gives backend, backend-id and mac; the frontend grants a
 * tx and an rx ring page, allocates one event channel for the backend,
 * writes tx-ring-ref, rx-ring-ref, event-channel, request-rx-copy=1,
 * feature-rx-notify=1 (and feature-sg / feature-gso-tcpv4 when asked),
 * goes Connected and waits for the backend's Connected.
 *
 * One vif per guest: the ring pages, NETFRONT_TX_PAGES tx buffer pages
 * (granted read-only to the backend for the connection's life) and
 * NETFRONT_RX_BUFS rx buffer pages (granted writable) are static pages of
 * the image, each between two canary pages no grant names
 * (netfront_canaries_intact). The rx buffer with id i is page i.
 *
 * Polling only, main flow (vCPU 0, not from an IRQ handler): the event
 * channel is bound so that the backend's notifications are taken, but
 * nothing waits for them; waits are bounded in TSC cycles, so a backend
 * that stops answering gives -XEN_ETIMEDOUT, not a hang. Errors are
 * negative Xen errno values, as guest/gnttab.h.
 */
#ifndef GUEST_NETFRONT_H
#define GUEST_NETFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <guest/arch.h>
#include <xen/grant_table.h>
#include <xen/event_channel.h>

/* ring.h leaves its barriers to the includer at the newest interface. */
#ifndef xen_mb
#define xen_mb()  mb()
#define xen_rmb() rmb()
#define xen_wmb() wmb()
#endif
#include <xen/io/netif.h>

#define NETFRONT_TX_PAGES 24     /* more than XEN_NETIF_NR_SLOTS_MIN + 2 */
#define NETFRONT_RX_BUFS  32
#define NETFRONT_NO_REF ((grant_ref_t)0xffffffffu)   /* none (not granted) */
#define NETFRONT_WAIT_CYCLES 20000000000ull   /* 5 to 20 s: one answer */

/* netfront_connect's features */
#define NETFRONT_F_SG       0x1u   /* write feature-sg=1 */
#define NETFRONT_F_GSO4     0x2u   /* write feature-gso-tcpv4=1 */
#define NETFRONT_F_SPLIT    0x4u   /* event-channel-tx/-rx if offered */
#define NETFRONT_F_NO_FILL  0x8u   /* post no rx buffer (netfront_rx_fill) */

struct netfront {
    char fe[40], be[128];
    unsigned long devid;
    domid_t be_id;
    uint8_t mac[6];
    unsigned int features;
    evtchn_port_t port, port_rx;    /* port_rx == port without split */
    int irq, irq_rx;
    grant_ref_t tx_ring_ref, rx_ring_ref;
    grant_ref_t tx_ref[NETFRONT_TX_PAGES];
    grant_ref_t rx_ref[NETFRONT_RX_BUFS];
    bool rx_posted[NETFRONT_RX_BUFS];
    netif_tx_front_ring_t tx;
    netif_rx_front_ring_t rx;
    bool connected;
    uint16_t next_tx_id;
    unsigned long tx_stray, rx_stray;   /* responses nobody waited for */
};

/* Contract: find device/vif/<devid> (devid < 0: the first one) and read
 * backend, backend-id and mac into nf. 0 or -errno. */
int netfront_init(struct netfront *nf, long devid);

/* Contract: the handshake above, with NETFRONT_F_* features, up to the
 * backend's Connected (-XEN_ETIMEDOUT if it never gets there); then the
 * rx buffers are posted unless NETFRONT_F_NO_FILL. 0 or -errno. */
int netfront_connect(struct netfront *nf, unsigned int features);

/* Contract: Closing, the backend's Closing (or Closed), Closed, the
 * backend's Closed; every grant of the connection ended (-XEN_EBUSY if the
 * backend still maps one: it is leaked, not reused), the port closed, and
 * state Initialising written, ready for netfront_connect. 0 or -errno. */
int netfront_close(struct netfront *nf);

/* The backend's state, -1 if unreadable. */
int netfront_be_state(const struct netfront *nf);

/* Contract: copy reqs[0..n) into the next tx slots, push and notify.
 * Nothing is checked: hostile callers build their own slots. */
void netfront_tx_push(struct netfront *nf, const netif_tx_request_t *reqs, unsigned int n);

/* Contract: gref and page address of tx buffer page i (< NETFRONT_TX_PAGES). */
grant_ref_t netfront_tx_gref(const struct netfront *nf, unsigned int i);
uint8_t *netfront_tx_page(unsigned int i);

/* Contract: send frame[0..len) in slots of at most slot_len bytes (0: a
 * page) from the tx pages, as netfront does (first slot's size the whole
 * frame, NETTXF_more_data on all but the last), and wait for a response
 * per slot: 0 when all are NETIF_RSP_OKAY, else the first other status
 * (NETIF_RSP_ERROR, _DROPPED), or -XEN_ETIMEDOUT when some never came. */
int netfront_send(struct netfront *nf, const void *frame, size_t len, size_t slot_len);

/* Contract: collect up to max tx responses (into out, may be NULL) within
 * `cycles`; returns how many came. */
unsigned int netfront_tx_responses(struct netfront *nf, netif_tx_response_t *out,
                                   unsigned int max, uint64_t cycles);

/* Contract: post every rx buffer not posted yet. */
void netfront_rx_fill(struct netfront *nf);

/* Contract: push one raw rx request (any id, any gref) and notify. */
void netfront_rx_push(struct netfront *nf, uint16_t id, grant_ref_t gref);

/* Contract: the next rx response within `cycles` into *rsp: 0, or
 * -XEN_ETIMEDOUT. Raw: nothing is reposted. */
int netfront_rx_next(struct netfront *nf, netif_rx_response_t *rsp, uint64_t cycles);

/* Contract: receive one frame (its slots chained by NETRXF_more_data,
 * extra-info slots skipped) into buf[0..len): its length (truncated
 * frames give their full length), -XEN_ETIMEDOUT, or -XEN_EIO when a slot
 * has an error status or an id that is not a posted buffer. Buffers are
 * reposted. */
int netfront_recv(struct netfront *nf, void *buf, size_t len, uint64_t cycles);

/* Contract: true while no canary page next to a granted page changed. */
bool netfront_canaries_intact(void);

#endif

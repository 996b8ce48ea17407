/*
 * Event-channel ABIs and the upcall.
 *
 * 2-level: pending/mask bitmaps in shared_info, selector word in vcpu_info
 * (the scan of seeds 000/003: xchg the selector, then each word's
 * pending & ~mask).
 *
 * FIFO (Xen's event_fifo.c, Linux's events_fifo.c logic): one event word
 * per port in guest pages registered with EVTCHNOP_expand_array, a control
 * block per vCPU (EVTCHNOP_init_control) with a READY bit and a HEAD per
 * priority queue. The guest walks a queue by clearing LINKED on each word
 * (atomically fetching its LINK); it only ever uses 32-bit cmpxchg.
 *
 * Dispatch: a port with a direct handler (the fast path, no IRQ layer),
 * else its IRQ (irq.c), else evtchn_device_upcall.
 *
 * The runtime runs one vCPU (vcpu 0).
 */
#include <guest/guest.h>
#include <guest/hypercall.h>
#include <guest/evtchn.h>
#include <guest/irq.h>

shared_info_t *HYPERVISOR_shared_info;
struct evtchn_stats evtchn_stats;

/* The gfn we give to XENMAPSPACE_shared_info: a page of our own image that
 * nothing else uses (Linux PVH does the same with a brk page). */
static unsigned char shared_info_page[PAGE_SIZE]
    __attribute__((aligned(PAGE_SIZE), section(".bss.pages")));

static enum evtchn_abi abi = EVTCHN_ABI_2L;

/* ---- FIFO state ---- */
#define FIFO_WORDS_PER_PAGE (PAGE_SIZE / sizeof(event_word_t))
#define FIFO_MAX_PAGES (GUEST_NR_EVTCHNS / FIFO_WORDS_PER_PAGE)

static unsigned char fifo_control_page[PAGE_SIZE]
    __attribute__((aligned(PAGE_SIZE), section(".bss.pages")));
static event_word_t fifo_array[FIFO_MAX_PAGES][FIFO_WORDS_PER_PAGE]
    __attribute__((aligned(PAGE_SIZE), section(".bss.pages")));
static unsigned int fifo_pages;          /* pages registered so far */
static volatile evtchn_fifo_control_block_t *fifo_cb;
/* Our cursor in each queue: the next port to consume, 0 = read HEAD. */
static uint32_t fifo_head[EVTCHN_FIFO_MAX_QUEUES];

/* vcpu 0's vcpu_info: in shared_info until VCPUOP_register_vcpu_info
 * moves it to a page of ours. */
static volatile vcpu_info_t *vcpu0_info;
static unsigned char vcpu_info_page[PAGE_SIZE]
    __attribute__((aligned(PAGE_SIZE), section(".bss.pages")));
/* Not at the start of the page on purpose: the offset must be honoured. */
#define VCPU_INFO_OFFSET 0x40

static inline volatile vcpu_info_t *this_vcpu(void)
{
    return vcpu0_info;
}

volatile vcpu_info_t *evtchn_vcpu_info(void)
{
    return vcpu0_info;
}

int evtchn_register_vcpu_info(void)
{
    struct vcpu_register_vcpu_info ri = {
        .mfn = virt_to_gfn(vcpu_info_page),
        .offset = VCPU_INFO_OFFSET,
    };
    int rc = HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, &ri);

    /* From here the hypervisor writes only the new copy (Xen copies the
     * old contents over and sets upcall_pending with every selector bit,
     * so the next scan sees anything raised meanwhile). */
    if (rc == 0)
        vcpu0_info = (volatile vcpu_info_t *)(vcpu_info_page + VCPU_INFO_OFFSET);
    return rc;
}

int evtchn_map_shared_info(void)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF,
        .space = XENMAPSPACE_shared_info,
        .idx = 0,
        .gpfn = virt_to_gfn(shared_info_page),
    };
    long rc = HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp);

    if (rc == 0) {
        HYPERVISOR_shared_info = (shared_info_t *)shared_info_page;
        vcpu0_info = &HYPERVISOR_shared_info->vcpu_info[0];
    }
    return (int)rc;
}

enum evtchn_abi evtchn_abi(void)
{
    return abi;
}

static inline volatile event_word_t *fifo_word(evtchn_port_t port)
{
    if (port >= fifo_pages * FIFO_WORDS_PER_PAGE)
        return NULL;
    return &fifo_array[port / FIFO_WORDS_PER_PAGE][port % FIFO_WORDS_PER_PAGE];
}

static int fifo_expand(void)
{
    if (fifo_pages >= FIFO_MAX_PAGES)
        return -XEN_ENOSPC;
    /* New words start MASKED, as Linux does: no port fires before a
     * handler is bound and unmasks it. */
    for (unsigned int i = 0; i < FIFO_WORDS_PER_PAGE; i++)
        fifo_array[fifo_pages][i] = 1u << EVTCHN_FIFO_MASKED;
    struct evtchn_expand_array ex = { .array_gfn = virt_to_gfn(fifo_array[fifo_pages]) };
    int rc = HYPERVISOR_event_channel_op(EVTCHNOP_expand_array, &ex);
    if (rc == 0)
        fifo_pages++;
    return rc;
}

static int fifo_init(void)
{
    struct evtchn_init_control ic = {
        .control_gfn = virt_to_gfn(fifo_control_page),
        .offset = 0,
        .vcpu = 0,
    };
    int rc = HYPERVISOR_event_channel_op(EVTCHNOP_init_control, &ic);

    if (rc)
        return rc;
    fifo_cb = (volatile evtchn_fifo_control_block_t *)fifo_control_page;
    return fifo_expand();
}

enum evtchn_abi evtchn_init(enum evtchn_abi want)
{
    /* Seed 003's init_IRQ: no port is live until something binds it. */
    volatile shared_info_t *s = HYPERVISOR_shared_info;
    for (unsigned int i = 0; i < ARRAY_SIZE(s->evtchn_mask); i++)
        s->evtchn_mask[i] = ~0UL;

    if (want == EVTCHN_ABI_FIFO) {
        int rc = fifo_init();
        if (rc == 0)
            abi = EVTCHN_ABI_FIFO;
        else
            printk("evtchn: FIFO ABI unavailable (%d), using 2-level\n", rc);
    }
    return abi;
}

int evtchn_setup_port(evtchn_port_t port)
{
    if (port >= GUEST_NR_EVTCHNS)
        return -XEN_ENOSPC;
    if (abi != EVTCHN_ABI_FIFO)
        return 0;
    while (port >= fifo_pages * FIFO_WORDS_PER_PAGE) {
        int rc = fifo_expand();
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- per-port operations ---- */

void mask_evtchn(evtchn_port_t port)
{
    if (abi == EVTCHN_ABI_FIFO) {
        volatile event_word_t *w = fifo_word(port);
        if (w)
            sync_set_bit32(EVTCHN_FIFO_MASKED, w);
        return;
    }
    sync_set_bit(port, HYPERVISOR_shared_info->evtchn_mask);
}

/*
 * FIFO unmask (Linux's clear_masked_cond): clear MASKED locally unless the
 * event is PENDING (then the hypervisor must link it: EVTCHNOP_unmask) or
 * the hypervisor holds BUSY on the word (the cmpxchg expects BUSY clear, so
 * it fails and we retry until the hypervisor is done).
 */
static bool fifo_clear_masked_cond(volatile event_word_t *word)
{
    event_word_t w = *word, old, new;

    do {
        if (!(w & (1u << EVTCHN_FIFO_MASKED)))
            return true;
        if (w & (1u << EVTCHN_FIFO_PENDING))
            return false;
        old = w & ~(1u << EVTCHN_FIFO_BUSY);
        new = old & ~(1u << EVTCHN_FIFO_MASKED);
        w = cmpxchg_u32(word, old, new);
    } while (w != old);
    return true;
}

static void hyp_unmask(evtchn_port_t port)
{
    struct evtchn_unmask um = { .port = port };

    HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &um);
}

void unmask_evtchn(evtchn_port_t port)
{
    if (abi == EVTCHN_ABI_FIFO) {
        volatile event_word_t *w = fifo_word(port);
        if (w && !fifo_clear_masked_cond(w))
            hyp_unmask(port);
        return;
    }

    volatile shared_info_t *s = HYPERVISOR_shared_info;
    /*
     * Xen's 2-level unmask re-delivers only when it is the one clearing
     * the mask bit, so a pending event must be unmasked by the hypercall.
     */
    if (sync_test_bit(port, s->evtchn_pending)) {
        hyp_unmask(port);
        return;
    }
    sync_clear_bit(port, s->evtchn_mask);
    /* Raised between our test and our clear (it found the port masked and
     * did not notify us): re-mask and let the hypervisor deliver it. At worst
     * the event arrives twice, never zero times. */
    if (sync_test_bit(port, s->evtchn_pending)) {
        sync_set_bit(port, s->evtchn_mask);
        hyp_unmask(port);
    }
}

void clear_evtchn(evtchn_port_t port)
{
    if (abi == EVTCHN_ABI_FIFO) {
        volatile event_word_t *w = fifo_word(port);
        if (w)
            sync_clear_bit32(EVTCHN_FIFO_PENDING, w);
        return;
    }
    sync_clear_bit(port, HYPERVISOR_shared_info->evtchn_pending);
}

void set_evtchn(evtchn_port_t port)
{
    if (abi == EVTCHN_ABI_FIFO) {
        volatile event_word_t *w = fifo_word(port);
        if (w)
            sync_set_bit32(EVTCHN_FIFO_PENDING, w);
        return;
    }
    sync_set_bit(port, HYPERVISOR_shared_info->evtchn_pending);
}

bool evtchn_is_pending(evtchn_port_t port)
{
    if (abi == EVTCHN_ABI_FIFO) {
        volatile event_word_t *w = fifo_word(port);
        return w && (*w & (1u << EVTCHN_FIFO_PENDING));
    }
    return sync_test_bit(port, HYPERVISOR_shared_info->evtchn_pending);
}

bool evtchn_is_masked(evtchn_port_t port)
{
    if (abi == EVTCHN_ABI_FIFO) {
        volatile event_word_t *w = fifo_word(port);
        return !w || (*w & (1u << EVTCHN_FIFO_MASKED));
    }
    return sync_test_bit(port, HYPERVISOR_shared_info->evtchn_mask);
}

int notify_remote_via_evtchn(evtchn_port_t port)
{
    struct evtchn_send send = { .port = port };

    return HYPERVISOR_event_channel_op(EVTCHNOP_send, &send);
}

/* ---- dispatch ---- */

/* A pending port nobody bound (seed 000's evtchn_device_upcall): consume it
 * and keep it masked so it cannot storm. */
static void evtchn_device_upcall(evtchn_port_t port)
{
    mask_evtchn(port);
    clear_evtchn(port);
    if (evtchn_stats.unbound++ < 4)
        printk("evtchn: event on port %u with no handler, masked\n", port);
}

/* ---- the direct fast path (evtchn.h) ---- */

/* Written with interrupts off, read by the scan (one vCPU). */
static evtchn_direct_fn direct_fn[GUEST_NR_EVTCHNS];

int evtchn_bind_direct(evtchn_port_t port, evtchn_direct_fn fn)
{
    if (port == 0 || port >= GUEST_NR_EVTCHNS || !fn)
        return -XEN_EINVAL;
    int rc = evtchn_setup_port(port);
    if (rc)
        return rc;
    unsigned long flags = cpu_irq_save();
    if (direct_fn[port] || irq_from_evtchn(port) >= 0) {
        cpu_irq_restore(flags);
        return -XEN_EBUSY;
    }
    direct_fn[port] = fn;
    cpu_irq_restore(flags);
    unmask_evtchn(port);
    return 0;
}

void evtchn_unbind_direct(evtchn_port_t port)
{
    if (!evtchn_is_direct(port))
        return;
    mask_evtchn(port);
    direct_fn[port] = NULL;
}

bool evtchn_is_direct(evtchn_port_t port)
{
    return port < GUEST_NR_EVTCHNS && direct_fn[port];
}

/* A port that has no direct handler: the IRQ layer, else unbound. Out of
 * line, so that the scan keeps few registers live for the fast path. */
__attribute__((noinline)) static void handle_port(evtchn_port_t port)
{
    int irq = irq_from_evtchn(port);

    if (irq >= 0)
        do_IRQ(irq);
    else
        evtchn_device_upcall(port);
}

/* Guest code may run at about 1 us per instruction (docs/vmm.md), so this
 * loop is written for few instructions per event: few values live across
 * the handler call, the lowest selector bit cleared by l1 &= l1 - 1. */
static void l2_handle_events(void)
{
    unsigned long l1 = xchg_ulong(&vcpu0_info->evtchn_pending_sel, 0);

    while (l1) {
        volatile shared_info_t *s = HYPERVISOR_shared_info;
        unsigned int l1i = bit_ffs(l1);
        unsigned long l2;

        l1 &= l1 - 1;
        /* The direct path and every do_IRQ path clear (ack) the port's
         * pending bit or mask it, so this loop ends. */
        while ((l2 = s->evtchn_pending[l1i] & ~s->evtchn_mask[l1i]) != 0) {
            unsigned int l2i = bit_ffs(l2);
            evtchn_port_t port = l1i * BITS_PER_LONG + l2i;
            evtchn_direct_fn fn = direct_fn[port];
            /* The fast path first (it is the one that is timed): ack on
             * the word at hand, call. */
            if (fn) {
                sync_clear_bit(l2i, &s->evtchn_pending[l1i]);
                fn(port);
            } else {
                handle_port(port);
            }
        }
    }
}

/* Clear LINKED (and LINK) and return the LINK the word held. The cmpxchg
 * expects BUSY clear: while the hypervisor is linking onto this word
 * (BUSY set) we wait instead of racing with its update. */
static uint32_t fifo_clear_linked(volatile event_word_t *word)
{
    event_word_t w = *word, old, new;

    do {
        old = w & ~(1u << EVTCHN_FIFO_BUSY);
        new = old & ~((1u << EVTCHN_FIFO_LINKED) | EVTCHN_FIFO_LINK_MASK);
        w = cmpxchg_u32(word, old, new);
    } while (w != old);
    return w & EVTCHN_FIFO_LINK_MASK;
}

static void fifo_consume_one(unsigned int prio, uint32_t *ready)
{
    uint32_t head = fifo_head[prio];

    /* Reached the tail last time: the queue restarts at HEAD. */
    if (head == 0) {
        rmb();
        head = fifo_cb->head[prio];
    }
    evtchn_port_t port = head;
    volatile event_word_t *word = fifo_word(port);
    if (!word) {
        /* HEAD outside our array: nothing we can consume. */
        fifo_head[prio] = 0;
        *ready &= ~(1u << prio);
        return;
    }
    head = fifo_clear_linked(word);
    if (head == 0)
        *ready &= ~(1u << prio);
    /* Store the cursor before dispatching: a handler that re-enables
     * interrupts may run a nested upcall that continues this queue. */
    fifo_head[prio] = head;

    event_word_t w = *word;
    if (!(w & (1u << EVTCHN_FIFO_PENDING)) || (w & (1u << EVTCHN_FIFO_MASKED)))
        return;
    /* As in l2_handle_events: the fast path acks and calls. */
    evtchn_direct_fn fn = direct_fn[port];
    if (fn) {
        sync_clear_bit32(EVTCHN_FIFO_PENDING, word);
        fn(port);
    } else {
        handle_port(port);
    }
}

__attribute__((noinline)) static void fifo_handle_events(void)
{
    uint32_t ready = xchg_u32(&fifo_cb->ready, 0);

    while (ready) {
        unsigned int prio = bit_ffs(ready);
        fifo_consume_one(prio, &ready);
        ready |= xchg_u32(&fifo_cb->ready, 0);
    }
}

void evtchn_do_upcall(void)
{
    evtchn_stats.upcalls++;
    /* Only a handler the IRQ layer runs with interrupts on lets an upcall
     * in (the direct path keeps them off): two instructions per upcall
     * where a depth counter here takes five. */
    if (irq_open_handlers)
        evtchn_stats.nested++;
    do {
        /* Clear before scanning: an event raised during the scan sets it
         * again and we go round once more. A plain store, as Linux's: the
         * scan's first xchg orders it before any read of the bitmaps. */
        vcpu0_info->evtchn_upcall_pending = 0;
        if (abi == EVTCHN_ABI_FIFO)
            fifo_handle_events();
        else
            l2_handle_events();
        rmb();
    } while (vcpu0_info->evtchn_upcall_pending);
}

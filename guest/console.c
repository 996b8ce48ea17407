/*
 * Console output: the PV console ring at HVM_PARAM_CONSOLE_PFN (notified
 * through HVM_PARAM_CONSOLE_EVTCHN), or HYPERVISOR_console_io(write) when
 * there is no ring or the command line says console=io.
 */
#include <guest/guest.h>
#include <guest/hypercall.h>
#include <xen/io/console.h>

static volatile struct xencons_interface *cons_ring;
static evtchn_port_t cons_port;

/* Bounded waits: a backend that never drains must not hang the guest
 * forever; output is dropped after this many yields. */
#define CONSOLE_MAX_YIELDS 200000

void console_init(void)
{
    char opt[8];
    uint64_t pfn = 0, port = 0;

    if (guest_cmdline_get("console", opt, sizeof(opt)) && strcmp(opt, "io") == 0)
        return;
    if (hvm_get_param(HVM_PARAM_CONSOLE_PFN, &pfn) != 0 || pfn == 0)
        return;
    if (hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN, &port) != 0)
        return;
    if (pfn >= (1ULL << (32 - PAGE_SHIFT)))
        return;   /* outside our identity map */
    cons_port = (evtchn_port_t)port;
    cons_ring = (volatile struct xencons_interface *)(uintptr_t)(pfn << PAGE_SHIFT);
}

bool console_uses_ring(void)
{
    return cons_ring != NULL;
}

static void cons_notify(void)
{
    struct evtchn_send send = { .port = cons_port };

    HYPERVISOR_event_channel_op(EVTCHNOP_send, &send);
}

static void ring_write(const char *s, size_t len)
{
    unsigned long yields = 0;

    while (len) {
        XENCONS_RING_IDX cons = cons_ring->out_cons;
        XENCONS_RING_IDX prod = cons_ring->out_prod;
        mb();   /* read the consumer index before writing data */
        XENCONS_RING_IDX used = prod - cons;
        if (used > sizeof(cons_ring->out)) {
            /* Corrupt indexes from the other side: give up on the ring. */
            cons_ring = NULL;
            HYPERVISOR_console_io(CONSOLEIO_write, (unsigned int)len, s);
            return;
        }
        if (used == sizeof(cons_ring->out)) {
            cons_notify();
            if (++yields > CONSOLE_MAX_YIELDS)
                return;
            HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
            continue;
        }
        size_t room = sizeof(cons_ring->out) - used;
        while (room && len) {
            cons_ring->out[MASK_XENCONS_IDX(prod, cons_ring->out)] = *s++;
            prod++;
            room--;
            len--;
        }
        wmb();  /* data visible before the new producer index */
        cons_ring->out_prod = prod;
        cons_notify();
    }
}

void console_write(const char *s, size_t len)
{
    /* A handler may print while the main flow prints: one writer at a time. */
    unsigned long flags = cpu_irq_save();

    if (cons_ring)
        ring_write(s, len);
    else
        HYPERVISOR_console_io(CONSOLEIO_write, (unsigned int)len, s);
    cpu_irq_restore(flags);
}

void console_flush(void)
{
    unsigned long yields = 0;

    if (!cons_ring)
        return;
    while (cons_ring->out_cons != cons_ring->out_prod && yields++ < CONSOLE_MAX_YIELDS / 10) {
        cons_notify();
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    }
}

int printk(const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    console_write(buf, len);
    return n;
}

/* The event-channel core's PIRQ hooks wired straight to the PIRQ router,
 * as the VMM wires them, for the tests of the router. The platform opaque
 * is the test's fixture, whose first member is its router pointer. */
#ifndef PIRQ_TEST_HOOKS_H
#define PIRQ_TEST_HOOKS_H

#include <stdbool.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/irq.h"

static inline struct irq_pirq *pth_router(void *opaque)
{
    return *(struct irq_pirq **)opaque;
}

static inline int pth_bind(void *o, domid_t d, uint32_t p, evtchn_port_t port,
                           bool shared)
{
    return irq_pirq_bind(pth_router(o), d, p, port, shared);
}

static inline void pth_unbind(void *o, domid_t d, uint32_t p)
{
    irq_pirq_unbind(pth_router(o), d, p);
}

static inline void pth_unmasked(void *o, domid_t d, uint32_t p)
{
    irq_pirq_unmasked(pth_router(o), d, p);
}

#endif

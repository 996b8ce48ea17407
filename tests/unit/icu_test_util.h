/* Helpers of the tests that drive an ICU with eventfd sources
 * (test_irq_icu.c, test_vmm_pin.c). Include after <cmocka.h>. */
#ifndef XENKVM_TESTS_ICU_TEST_UTIL_H
#define XENKVM_TESTS_ICU_TEST_UTIL_H

#include <stdint.h>
#include <unistd.h>

#include "xenkvm/irq.h"

static const struct irq_mode EDGE = { IRQ_EDGE, IRQ_ACTIVE_HIGH, IRQ_ACK_UNMASK };
static const struct irq_mode LEVEL = { IRQ_LEVEL, IRQ_ACTIVE_HIGH, IRQ_ACK_UNMASK };

/* Raise line once through its eventfd source. */
static inline void signal_line(struct irq_icu *icu, unsigned int line)
{
    int fd = irq_icu_source_fd(icu, line);
    assert_true(fd >= 0);
    uint64_t one = 1;
    assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

/* Run the loop until it reports nothing ready for a short while. */
static inline void drain(struct irq_icu *icu)
{
    for (int i = 0; i < 100; i++)
        if (irq_icu_process(icu, 20) == 0)
            return;
    fail_msg("loop did not settle");
}

/* A 16-line ICU whose line has an eventfd source in mode m. */
static inline struct irq_icu *icu_with_eventfd(unsigned int line,
                                               struct irq_mode m)
{
    struct irq_icu *icu = irq_icu_create(16);
    assert_non_null(icu);
    struct irq_source *s;
    assert_int_equal(irq_source_eventfd(-1, &s), 0);
    assert_int_equal(irq_icu_set_source(icu, line, s, m), 0);
    return icu;
}

#endif

/*
 * libFuzzer harness for the interrupt configuration parsers (libxlutil
 * text): the first byte picks the parser ('0'-like even: a domain's xl.cfg
 * irqs=/iomem=, odd: the host line file), the rest is the file text.
 * Nothing is applied (no fds, no device paths opened).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "xenkvm/irq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libxlutil 4.17's bison parser drops a string value on some syntax errors
 * without freeing it (tens of bytes per bad file, inside the library; found
 * by this harness). Only leaks whose stack is inside libxlutil are
 * suppressed; a leak of ours still fails the run. */
const char *__lsan_default_suppressions(void)
{
    return "leak:libxlutil.so\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    if (size < 1 || !devnull)
        return 0;
    const char *text = (const char *)data + 1;
    if (data[0] & 1) {
        struct irq_host_cfg c;
        if (irq_cfg_parse_host(text, size - 1, "fuzz", devnull, &c) == 0) {
            /* what parsed must be in range */
            for (unsigned int i = 0; i < c.n; i++)
                if (c.lines[i].line >= c.nr_lines)
                    __builtin_trap();
            for (unsigned int i = 0; i < c.nr_mmio; i++)
                if (c.mmio[i].nr == 0 || c.mmio[i].path[0] != '/' ||
                    c.mmio[i].uio_map > 4)
                    __builtin_trap();
            irq_host_cfg_free(&c);
        }
    } else {
        struct irq_domain_cfg c;
        if (irq_cfg_parse_domain(text, size - 1, "fuzz", devnull, &c) == 0) {
            for (unsigned int i = 0; i < c.nr_irqs; i++)
                if (c.irqs[i] >= IRQ_MAX_LINES)
                    __builtin_trap();
            for (unsigned int i = 0; i < c.nr_iomem; i++)
                if (c.iomem[i].nr == 0)
                    __builtin_trap();
            for (unsigned int i = 0; i < c.nr_pins; i++)
                if (c.pins[i].line >= IRQ_MAX_LINES || c.pins[i].pin > 255)
                    __builtin_trap();
            irq_domain_cfg_free(&c);
        }
    }
    return 0;
}

/*
 * libFuzzer harness for the device-tree pass-through parser: the input is
 * the blob as a guest's configuration would hand it over (untrusted).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "xenkvm/irq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    if (!devnull)
        return 0;
    struct irq_dt_cfg c;
    if (irq_dt_parse(data, size, devnull, &c) == 0) {
        for (unsigned int i = 0; i < c.nr_irqs; i++)
            if (c.irqs[i].host_line >= IRQ_MAX_LINES)
                __builtin_trap();
        for (unsigned int i = 0; i < c.nr_mmio; i++)
            if (c.mmio[i].size == 0 || (c.mmio[i].host_addr & 0xfff))
                __builtin_trap();
        irq_dt_cfg_free(&c);
    }
    return 0;
}

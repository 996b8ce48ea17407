/*
 * libFuzzer harness for the device-tree pass-through parser: the input is
 * the blob as a guest's configuration would hand it over (untrusted). What
 * parses is merged into an interrupt config (config_irq_merge_dt), as
 * `xenkvm run` does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "xenkvm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    if (!devnull)
        return 0;
    struct config_dt c;
    if (config_dt_parse(data, size, devnull, &c) == 0) {
        for (unsigned int i = 0; i < c.nr_irqs; i++)
            if (c.irqs[i].host_line >= IRQ_MAX_LINES)
                __builtin_trap();
        for (unsigned int i = 0; i < c.nr_mmio; i++)
            if (c.mmio[i].size == 0 || (c.mmio[i].host_addr & 0xfff))
                __builtin_trap();
        struct config_irq irq = { 0 };
        if (config_irq_merge_dt(&irq, &c) == 0 &&
            irq.nr_grants + irq.nr_pins != c.nr_irqs)
            __builtin_trap();
        for (unsigned int i = 0; i < irq.nr_iomem; i++)
            if (irq.iomem[i].nr == 0)
                __builtin_trap();
        config_irq_free(&irq);
        config_dt_free(&c);
    }
    return 0;
}

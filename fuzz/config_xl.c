/*
 * libFuzzer harness for the libxlutil texts of src/config: the first byte
 * picks the parser ('0'-like even: a domain's whole xl.cfg, every key
 * `xenkvm run` reads, in config_domain_parse's one pass; odd: the host line
 * file), the rest is the file text. Nothing is applied (no fds, no device
 * paths opened, the device_tree path is only recorded).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "xenkvm/config.h"

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
        struct config_host c;
        if (config_host_parse(text, size - 1, "fuzz", devnull, &c) == 0) {
            /* what parsed must be in range */
            for (unsigned int i = 0; i < c.n; i++)
                if (c.lines[i].line >= c.nr_lines)
                    __builtin_trap();
            for (unsigned int i = 0; i < c.nr_mmio; i++)
                if (c.mmio[i].nr == 0 || c.mmio[i].path[0] != '/' ||
                    c.mmio[i].uio_map > 4)
                    __builtin_trap();
            config_host_free(&c);
        }
    } else {
        struct config_domain c;
        /* every second input as `xenkvm run` parses it (name and kernel
         * required), the others as `xenkvm irq check` does */
        unsigned int flags = data[0] & 2 ? CONFIG_DOMAIN_RUNNABLE : 0;
        if (config_domain_parse(text, size - 1, "fuzz", flags, devnull, &c) == 0) {
            if ((flags && (!c.name || !c.kernel)) ||
                (c.mem_bytes && (c.mem_bytes >> 20 < CONFIG_MIN_MEMORY_MIB ||
                                 c.mem_bytes >> 20 > CONFIG_MAX_MEMORY_MIB)) ||
                c.vcpus > CONFIG_MAX_VCPUS ||
                c.max_event_channels > CONFIG_MAX_EVENT_CHANNELS ||
                c.max_grant_frames > CONFIG_MAX_GRANT_FRAMES ||
                (c.max_maptrack_frames > CONFIG_MAX_MAPTRACK_FRAMES &&
                 c.max_maptrack_frames != CONFIG_NO_MAPTRACK) ||
                c.on_poweroff > CONFIG_ACTION_RESTART ||
                c.on_reboot > CONFIG_ACTION_RESTART ||
                c.on_crash > CONFIG_ACTION_RESTART)
                __builtin_trap();
            for (unsigned int i = 0; i < c.irq.nr_grants; i++)
                if (c.irq.grants[i] >= IRQ_MAX_LINES)
                    __builtin_trap();
            for (unsigned int i = 0; i < c.irq.nr_iomem; i++)
                if (c.irq.iomem[i].nr == 0)
                    __builtin_trap();
            for (unsigned int i = 0; i < c.irq.nr_pins; i++)
                if (c.irq.pins[i].line >= IRQ_MAX_LINES || c.irq.pins[i].pin > 255)
                    __builtin_trap();
            config_domain_free(&c);
        }
    }
    return 0;
}

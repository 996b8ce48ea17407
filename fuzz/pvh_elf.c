/*
 * fuzz_pvh_elf: the PVH ELF loader (src/vmm/vmm_loader.c) on arbitrary
 * kernel images: ELF headers, program headers, PT_NOTE parsing and segment
 * placement into a 4 MiB guest RAM, plus start_info, the ACPI tables and the
 * patching of hypercall sites in the loaded image (vmm_hcall_patch.c);
 * bzImages go through their unpacker first (fuzz_bzimage fuzzes it alone).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/vmm/vmm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram;
    static struct vmm_domain d;
    static struct vmm_host h = { .cfg.quiet = true };  /* vmm_log's */
    if (!ram)
        ram = malloc(4 << 20);
    memset(&d, 0, sizeof(d));
    d.h = &h;
    d.ram = ram;
    d.ram_size = 4 << 20;
    d.nr_vcpus = 1 + size % 4;
    struct vmm_domain_config cfg = { .name = "fuzz", .kernel = "fuzz",
                                     .cmdline = "console=hvc0" };
    char err[256];
    vmm_load_pvh_image(&d, &cfg, data, size, err, sizeof(err));
    return 0;
}

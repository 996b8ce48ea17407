/*
 * fuzz_bzimage: the bzImage unpacker (src/vmm/vmm_bzimage.c) on arbitrary
 * kernel files: the setup header's fields, the payload's compression magic
 * and the XZ, LZ4 legacy, ZSTD and GZIP streams with their size trailer.
 * What unpacks is checked against the size it was given. The seeds in
 * fuzz/corpus/bzimage wrap guests/raw's ELF as the kernel build does
 * (xz --check=crc32 --x86, lz4 -l, zstd -19, gzip -9 -n, stored; the size
 * appended as a le32 except for gzip) in a protocol 2.15 setup header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/vmm/vmm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = NULL;
    size_t outlen = 0;
    const char *format;
    char err[256];
    if (!vmm_bzimage_is(data, size))
        return 0;
    if (vmm_bzimage_unpack(data, size, &out, &outlen, &format, err,
                           sizeof(err)) == 0) {
        if (!out || outlen == 0 || outlen > VMM_BZIMAGE_MAX_OUT)
            abort();
        /* every byte was written: reading them is defined (MSan-clean) */
        volatile uint8_t x = out[0] ^ out[outlen - 1];
        (void)x;
    } else if (out || outlen) {
        abort();
    }
    free(out);
    return 0;
}

/*
 * bzImage unwrapping: the kernel inside a Linux x86 bzImage (boot protocol
 * >= 2.08, Documentation/arch/x86/boot.rst), decompressed with Debian's
 * libraries, for the PVH ELF loader (vmm_loader.c).
 *
 * The real-mode setup header gives setup_sects (the protected-mode part
 * starts at (setup_sects + 1) * 512, 0 meaning 4) and payload_offset /
 * payload_length (from the start of the protected-mode part). The payload
 * is the compressed vmlinux ELF (plus its relocations, which the ELF
 * loader ignores); the kernel's build appends the uncompressed size as a
 * little-endian u32 after the compressed stream (gzip's own ISIZE is the
 * same field), which sizes the output buffer. That size is never trusted
 * beyond VMM_BZIMAGE_MAX_OUT, and a stream that would produce more than it
 * says is refused (no decompression bombs), as is one that produces less.
 *
 * The file is untrusted: every offset is checked against its length. No
 * KVM header is needed here.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "vmm_int.h"

/* Offsets in the setup header (boot.rst). */
#define BZ_SETUP_SECTS    0x1f1
#define BZ_HDRS           0x202
#define BZ_VERSION        0x206
#define BZ_PAYLOAD_OFFSET 0x248
#define BZ_PAYLOAD_LENGTH 0x24c
#define BZ_HDR_END        0x250
#define BZ_MIN_VERSION    0x208   /* payload_offset/_length appear */

/* The LZ4 legacy frame (what the kernel's `lz4 -l` writes): the magic,
 * then blocks of a u32 compressed size and data, each block at most
 * 8 MiB uncompressed; the magic may recur (concatenated frames). */
#define LZ4_LEGACY_MAGIC  0x184c2102u
#define LZ4_LEGACY_BLOCK  (8u << 20)

/* liblzma's memory for the XZ dictionary: the kernel's xz_wrap.sh uses at
 * most 32 MiB; a stream asking for more is not a kernel. */
#define XZ_MEMLIMIT       (128ull << 20)

bool vmm_bzimage_is(const uint8_t *f, size_t len)
{
    return len >= BZ_HDRS + 4 && !memcmp(f + BZ_HDRS, "HdrS", 4);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* One decompressor: in/inlen -> out (exactly outlen bytes expected).
 * 0, or -EFBIG (more output than outlen), -EINVAL (corrupt/truncated,
 * or less output than outlen), -ENOMEM. */
typedef int (*bz_decomp_fn)(const uint8_t *in, size_t inlen, uint8_t *out,
                            size_t outlen);

static int xz_decomp(const uint8_t *in, size_t inlen, uint8_t *out,
                     size_t outlen)
{
    lzma_stream s = LZMA_STREAM_INIT;
    /* Not LZMA_CONCATENATED: the stream ends where the kernel's size
     * trailer (and any padding) begins. */
    if (lzma_stream_decoder(&s, XZ_MEMLIMIT, 0) != LZMA_OK)
        return -ENOMEM;
    s.next_in = in;
    s.avail_in = inlen;
    s.next_out = out;
    s.avail_out = outlen;
    lzma_ret r;
    do                                /* each LZMA_OK made progress */
        r = lzma_code(&s, LZMA_FINISH);
    while (r == LZMA_OK);
    size_t got = outlen - s.avail_out;
    lzma_end(&s);
    if (r == LZMA_STREAM_END)
        return got == outlen ? 0 : -EINVAL;
    if (r == LZMA_MEM_ERROR)
        return -ENOMEM;
    /* LZMA_BUF_ERROR with no room left: it wanted to write more. */
    return r == LZMA_BUF_ERROR && s.avail_out == 0 ? -EFBIG : -EINVAL;
}

static int gzip_decomp(const uint8_t *in, size_t inlen, uint8_t *out,
                       size_t outlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inlen > UINT_MAX || outlen > UINT_MAX)
        return -EINVAL;
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)   /* gzip wrapper only */
        return -ENOMEM;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)inlen;
    z.next_out = out;
    z.avail_out = (uInt)outlen;
    int r = inflate(&z, Z_FINISH);
    size_t got = outlen - z.avail_out;
    bool full = z.avail_out == 0;
    inflateEnd(&z);
    if (r == Z_STREAM_END)
        return got == outlen ? 0 : -EINVAL;
    if (r == Z_MEM_ERROR)
        return -ENOMEM;
    return r == Z_BUF_ERROR && full ? -EFBIG : -EINVAL;
}

static int zstd_decomp(const uint8_t *in, size_t inlen, uint8_t *out,
                       size_t outlen)
{
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    if (!dc)
        return -ENOMEM;
    /* The default window limit (128 MiB) bounds its memory. */
    ZSTD_inBuffer ib = { in, inlen, 0 };
    ZSTD_outBuffer ob = { out, outlen, 0 };
    int rc = -EINVAL;
    for (;;) {
        size_t in0 = ib.pos, out0 = ob.pos;
        size_t r = ZSTD_decompressStream(dc, &ob, &ib);
        if (ZSTD_isError(r))
            break;
        if (r == 0) {                 /* the frame is complete */
            rc = ob.pos == outlen ? 0 : -EINVAL;
            break;
        }
        if (ib.pos == in0 && ob.pos == out0) {
            /* Stuck: more output and no room for it, or no more input. */
            rc = ob.pos == ob.size ? -EFBIG : -EINVAL;
            break;
        }
    }
    ZSTD_freeDCtx(dc);
    return rc;
}

/* A block that failed with room bytes of room: corrupt (-EINVAL), or
 * bigger than the room the stated size leaves (-EFBIG)? Decoding it again
 * into a whole block's room tells. */
static int lz4_why(const uint8_t *in, uint32_t csz, size_t room)
{
    if (room >= LZ4_LEGACY_BLOCK)
        return -EINVAL;
    char *tmp = malloc(LZ4_LEGACY_BLOCK);
    if (!tmp)
        return -ENOMEM;
    int n = LZ4_decompress_safe((const char *)in, tmp, (int)csz,
                                LZ4_LEGACY_BLOCK);
    free(tmp);
    return n >= 0 ? -EFBIG : -EINVAL;
}

static int lz4_decomp(const uint8_t *in, size_t inlen, uint8_t *out,
                      size_t outlen)
{
    /* The legacy frame has no end marker: the input ends before the
     * kernel's 4-byte size trailer (the caller drops it). */
    size_t ip = 4, op = 0;            /* after the first magic */
    while (inlen - ip >= 4) {
        uint32_t csz = le32(in + ip);
        ip += 4;
        if (csz == LZ4_LEGACY_MAGIC)
            continue;
        if (csz == 0 || csz > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK) ||
            csz > inlen - ip)
            return -EINVAL;
        if (op == outlen)
            return -EFBIG;
        size_t room = outlen - op;
        if (room > LZ4_LEGACY_BLOCK)
            room = LZ4_LEGACY_BLOCK;
        int n = LZ4_decompress_safe((const char *)in + ip, (char *)out + op,
                                    (int)csz, (int)room);
        if (n < 0)
            return lz4_why(in + ip, csz, room);
        op += (size_t)n;
        ip += csz;
    }
    return ip == inlen && op == outlen ? 0 : -EINVAL;
}

struct bz_format {
    const char *name;
    uint8_t magic[6];
    size_t magic_len;
    bz_decomp_fn fn;          /* NULL: recognised, not supported */
    bool trailer_in_stream;   /* false: drop the 4-byte size trailer first */
};

static const struct bz_format formats[] = {
    { "XZ", { 0xfd, '7', 'z', 'X', 'Z', 0 }, 6, xz_decomp, true },
    { "LZ4", { 0x02, 0x21, 0x4c, 0x18 }, 4, lz4_decomp, false },
    { "ZSTD", { 0x28, 0xb5, 0x2f, 0xfd }, 4, zstd_decomp, true },
    { "GZIP", { 0x1f, 0x8b }, 2, gzip_decomp, true },
    { "bzip2", { 'B', 'Z', 'h' }, 3, NULL, true },
    { "LZMA", { 0x5d, 0, 0 }, 3, NULL, true },
    { "LZO", { 0x89, 'L', 'Z', 'O' }, 4, NULL, true },
};

/* The payload of the bzImage f (checked: vmm_bzimage_is), or -ENOEXEC. */
static int bz_payload(const uint8_t *f, size_t len, const uint8_t **p,
                      size_t *plen, char *err, size_t errlen)
{
    if (len < BZ_HDR_END) {
        snprintf(err, errlen, "truncated bzImage setup header (%zu bytes)",
                 len);
        return -ENOEXEC;
    }
    unsigned int ver = f[BZ_VERSION] | f[BZ_VERSION + 1] << 8;
    if (ver < BZ_MIN_VERSION) {
        snprintf(err, errlen, "bzImage boot protocol %u.%02u is older than "
                 "2.08 (no payload fields)", ver >> 8, ver & 0xff);
        return -ENOEXEC;
    }
    uint64_t sects = f[BZ_SETUP_SECTS] ? f[BZ_SETUP_SECTS] : 4;
    uint64_t off = (sects + 1) * 512 + le32(f + BZ_PAYLOAD_OFFSET);
    uint64_t plen64 = le32(f + BZ_PAYLOAD_LENGTH);
    if (off > len || plen64 > len - off || plen64 < 8) {
        snprintf(err, errlen, "bzImage payload (0x%llx bytes at 0x%llx) is "
                 "outside the %zu-byte file", (unsigned long long)plen64,
                 (unsigned long long)off, len);
        return -ENOEXEC;
    }
    *p = f + off;
    *plen = plen64;
    return 0;
}

int vmm_bzimage_unpack(const uint8_t *f, size_t len, uint8_t **out,
                       size_t *outlen, const char **format, char *err,
                       size_t errlen)
{
    const uint8_t *p;
    size_t plen;
    *out = NULL;
    *outlen = 0;
    *format = "?";
    int rc = bz_payload(f, len, &p, &plen, err, errlen);
    if (rc)
        return rc;
    if (!memcmp(p, "\177ELF", 4)) {   /* CONFIG_KERNEL_UNCOMPRESSED */
        *format = "uncompressed";
        *out = malloc(plen);
        if (!*out)
            return -ENOMEM;
        memcpy(*out, p, plen);
        *outlen = plen;
        return 0;
    }
    const struct bz_format *fmt = NULL;
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (!memcmp(p, formats[i].magic, formats[i].magic_len)) {
            fmt = &formats[i];
            break;
        }
    if (!fmt || !fmt->fn) {
        snprintf(err, errlen, "bzImage payload compression %s is not "
                 "supported (XZ, LZ4, ZSTD, GZIP are)",
                 fmt ? fmt->name : "unknown");
        return -ENOEXEC;
    }
    *format = fmt->name;
    uint32_t size = le32(p + plen - 4);
    if (size == 0 || size > VMM_BZIMAGE_MAX_OUT) {
        snprintf(err, errlen, "bzImage %s payload says it unpacks to %u "
                 "bytes (limit %llu MiB)", fmt->name, size,
                 VMM_BZIMAGE_MAX_OUT >> 20);
        return -EFBIG;
    }
    uint8_t *buf = malloc(size);
    if (!buf)
        return -ENOMEM;
    rc = fmt->fn(p, fmt->trailer_in_stream ? plen : plen - 4, buf, size);
    if (rc) {
        free(buf);
        snprintf(err, errlen, "bzImage %s payload %s", fmt->name,
                 rc == -EFBIG ? "unpacks to more than the size it states" :
                 rc == -ENOMEM ? "needs too much memory to unpack" :
                 "is corrupt or truncated");
        return rc == -ENOMEM ? -ENOMEM : rc == -EFBIG ? -EFBIG : -ENOEXEC;
    }
    *out = buf;
    *outlen = size;
    return 0;
}

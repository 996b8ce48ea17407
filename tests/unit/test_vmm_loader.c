/*
 * The PVH loader's kernel formats and the ACPI tables it writes
 * (src/vmm/vmm_loader.c, vmm_bzimage.c, vmm_acpi.c), without KVM: a small
 * PVH ELF built here, compressed with each of the four libraries and
 * wrapped in a synthetic bzImage setup header; hostile bzImages; the ACPI
 * tables parsed back. `test_vmm_loader debian` instead loads Debian's own
 * vmlinuz (scripts/debian-kernel finds or downloads it) and checks the
 * entry is its ELF note's; it exits 77 (meson's skip), saying why, only
 * when the file cannot be had.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <xen/arch-x86/hvm/start_info.h>
#include <xen/elfnote.h>

#include "vmm_int.h"

#define LOAD_GPA  0x100000u
#define ENTRY     0x100010u
#define RAM       (4u << 20)

/* ---- building inputs ---- */

struct buf {
    uint8_t *p;
    size_t len;
};

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
    return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void append(struct buf *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->len + n);
    assert_non_null(b->p);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void append_le32(struct buf *b, uint32_t v)
{
    uint8_t x[4];
    put_le32(x, v);
    append(b, x, 4);
}

/* A 64-bit PVH ELF: one PT_LOAD of 256 bytes (a pattern) at LOAD_GPA with
 * 4 KiB of bss, one PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY = ENTRY; padded
 * with pad bytes of a repeating pattern so compression has work. */
static struct buf make_elf(size_t pad)
{
    struct buf b = { 0 };
    Elf64_Ehdr eh = {
        .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64,
                     ELFDATA2LSB, EV_CURRENT },
        .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
        .e_entry = ENTRY, .e_phoff = sizeof(Elf64_Ehdr),
        .e_ehsize = sizeof(Elf64_Ehdr), .e_phentsize = sizeof(Elf64_Phdr),
        .e_phnum = 2,
    };
    size_t note_off = sizeof(eh) + 2 * sizeof(Elf64_Phdr);
    size_t note_len = 12 + 4 + 4;
    size_t load_off = note_off + note_len;
    Elf64_Phdr ph[2] = {
        { .p_type = PT_NOTE, .p_offset = note_off, .p_filesz = note_len },
        { .p_type = PT_LOAD, .p_offset = load_off, .p_paddr = LOAD_GPA,
          .p_vaddr = LOAD_GPA, .p_filesz = 256, .p_memsz = 256 + 4096 },
    };
    append(&b, &eh, sizeof(eh));
    append(&b, ph, sizeof(ph));
    append_le32(&b, 4);                       /* namesz */
    append_le32(&b, 4);                       /* descsz */
    append_le32(&b, XEN_ELFNOTE_PHYS32_ENTRY);
    append(&b, "Xen", 4);
    append_le32(&b, ENTRY);
    size_t at = b.len;
    b.len += 256 + pad;
    b.p = realloc(b.p, b.len);
    assert_non_null(b.p);
    for (int i = 0; i < 256; i++)
        b.p[at + i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < pad; i++)
        b.p[at + 256 + i] = (uint8_t)(i % 251);
    return b;
}

enum comp { C_GZIP, C_XZ, C_LZ4, C_ZSTD };

/* The kernel build's compressed payload: the stream, then (except gzip,
 * whose ISIZE is that field) the uncompressed size as a le32. */
static struct buf compress_payload(enum comp c, const uint8_t *in, size_t len)
{
    struct buf b = { 0 };
    size_t cap = len + len / 2 + 4096;
    b.p = malloc(cap);
    assert_non_null(b.p);
    switch (c) {
    case C_GZIP: {
        z_stream z = { 0 };
        assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                      Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        z.next_out = b.p;
        z.avail_out = (uInt)cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        b.len = z.total_out;
        deflateEnd(&z);
        return b;
    }
    case C_XZ: {
        /* As scripts/xz_wrap.sh: the x86 BCJ filter, LZMA2, CRC32. */
        lzma_options_lzma opt;
        assert_false(lzma_lzma_preset(&opt, 6));
        lzma_filter f[] = { { LZMA_FILTER_X86, NULL },
                            { LZMA_FILTER_LZMA2, &opt },
                            { LZMA_VLI_UNKNOWN, NULL } };
        assert_int_equal(lzma_stream_buffer_encode(f, LZMA_CHECK_CRC32, NULL,
                                                   in, len, b.p, &b.len, cap),
                         LZMA_OK);
        uint8_t padding[4] = { 0 };          /* stream padding, as allowed */
        append(&b, padding, 4);
        break;
    }
    case C_LZ4: {
        /* The legacy frame (lz4 -l): magic, then le32 size + block, each
         * block at most 8 MiB of input. */
        b.len = 0;
        append_le32(&b, 0x184c2102u);
        for (size_t off = 0; off < len; off += 8u << 20) {
            size_t n = len - off < (8u << 20) ? len - off : 8u << 20;
            int bound = LZ4_compressBound((int)n);
            uint8_t *tmp = malloc((size_t)bound);
            assert_non_null(tmp);
            int csz = LZ4_compress_default((const char *)in + off,
                                           (char *)tmp, (int)n, bound);
            assert_true(csz > 0);
            append_le32(&b, (uint32_t)csz);
            append(&b, tmp, (size_t)csz);
            free(tmp);
        }
        break;
    }
    case C_ZSTD:
        b.len = ZSTD_compress(b.p, cap, in, len, 19);
        assert_false(ZSTD_isError(b.len));
        break;
    }
    append_le32(&b, (uint32_t)len);
    return b;
}

/* A bzImage: setup_sects 2 (protected-mode part at 0x600), protocol 2.15,
 * 0x40 bytes of "decompressor" before the payload. */
#define SETUP_SECTS 2
#define PM_OFF      ((SETUP_SECTS + 1) * 512)
#define PAYLOAD_OFF 0x40
static struct buf wrap_bzimage(const uint8_t *payload, size_t len)
{
    struct buf b = { 0 };
    uint8_t hdr[PM_OFF + PAYLOAD_OFF];
    memset(hdr, 0xcc, sizeof(hdr));
    memset(hdr + 0x1f1, 0, 0x260 - 0x1f1);
    hdr[0x1f1] = SETUP_SECTS;
    hdr[0x1fe] = 0x55;
    hdr[0x1ff] = 0xaa;
    memcpy(hdr + 0x202, "HdrS", 4);
    hdr[0x206] = 0x0f;
    hdr[0x207] = 0x02;
    put_le32(hdr + 0x248, PAYLOAD_OFF);
    put_le32(hdr + 0x24c, (uint32_t)len);
    append(&b, hdr, sizeof(hdr));
    append(&b, payload, len);
    return b;
}

/* ---- a domain without KVM ---- */

struct fake {
    struct vmm_domain d;
    struct vmm_domain_config cfg;
    char err[512];
};

static struct vmm_host quiet_host = { .cfg.quiet = true };  /* vmm_log's */

static void fake_init(struct fake *f, uint32_t vcpus, uint64_t ram)
{
    memset(f, 0, sizeof(*f));
    f->d.h = &quiet_host;
    f->d.ram = calloc(1, ram);
    assert_non_null(f->d.ram);
    f->d.ram_size = ram;
    f->d.nr_vcpus = vcpus;
    f->cfg = (struct vmm_domain_config){ .name = "t", .kernel = "k",
                                         .cmdline = "console=hvc0" };
}

static int load(struct fake *f, const struct buf *img)
{
    f->err[0] = 0;
    return vmm_load_pvh_image(&f->d, &f->cfg, img->p, img->len, f->err,
                              sizeof(f->err));
}

static void check_loaded(struct fake *f)
{
    assert_int_equal(f->d.entry, ENTRY);
    for (int i = 0; i < 256; i++)
        assert_int_equal(f->d.ram[LOAD_GPA + i], (uint8_t)(i * 7 + 1));
}

/* ---- bzImages that load ---- */

/* The payload's hypercall functions are patched, not the bzImage file's
 * bytes (where the compressed ELF hides them): make_elf's segment is
 * executable and gets a function shaped like Linux's xen_hypercall_intel
 * (16-byte aligned VMCALL; RET; int3 padding). */
static void test_bzimage_hcall_sites_patched(void **s)
{
    (void)s;
    struct buf elf = make_elf(0);
    Elf64_Phdr *ph = (Elf64_Phdr *)(elf.p + sizeof(Elf64_Ehdr));
    ph[1].p_flags = PF_R | PF_X;
    uint8_t *seg = elf.p + ph[1].p_offset;
    static const uint8_t fn[16] = { 0x0f, 0x01, 0xc1, 0xc3, 0xcc, 0xcc, 0xcc,
                                    0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
                                    0xcc, 0xcc };
    memcpy(seg + 64, fn, sizeof(fn));
    struct buf pl = compress_payload(C_GZIP, elf.p, elf.len);
    struct buf bz = wrap_bzimage(pl.p, pl.len);
    struct fake f;
    fake_init(&f, 1, RAM);
    assert_int_equal(load(&f, &bz), 0);
    assert_int_equal(f.d.hcall_sites, 1);
    static const uint8_t patched[3] = { 0xe6, 0xf5, 0x90 };  /* out %al,$0xf5; nop */
    assert_memory_equal(f.d.ram + LOAD_GPA + 64, patched, 3);
    free(f.d.ram);
    free(elf.p);
    free(pl.p);
    free(bz.p);
}

static void one_format(enum comp c, const char *name, size_t pad)
{
    struct buf elf = make_elf(pad);
    struct buf pl = compress_payload(c, elf.p, elf.len);
    struct buf bz = wrap_bzimage(pl.p, pl.len);
    assert_true(vmm_bzimage_is(bz.p, bz.len));

    uint8_t *out;
    size_t outlen;
    const char *format;
    char err[256];
    assert_int_equal(vmm_bzimage_unpack(bz.p, bz.len, &out, &outlen, &format,
                                        err, sizeof(err)), 0);
    assert_string_equal(format, name);
    assert_int_equal(outlen, elf.len);
    assert_memory_equal(out, elf.p, elf.len);
    free(out);

    struct fake f;
    fake_init(&f, 1, RAM);
    assert_int_equal(load(&f, &bz), 0);
    check_loaded(&f);
    free(f.d.ram);
    free(elf.p);
    free(pl.p);
    free(bz.p);
}

static void test_gzip(void **s) { (void)s; one_format(C_GZIP, "GZIP", 100000); }
static void test_xz(void **s) { (void)s; one_format(C_XZ, "XZ", 100000); }
static void test_zstd(void **s) { (void)s; one_format(C_ZSTD, "ZSTD", 100000); }
static void test_lz4(void **s) { (void)s; one_format(C_LZ4, "LZ4", 100000); }

/* LZ4 legacy blocks hold 8 MiB each: a payload of three blocks. */
static void test_lz4_blocks(void **s)
{
    (void)s;
    one_format(C_LZ4, "LZ4", (17u << 20));
}

/* The plain ELF still loads, and start_info describes the memory. */
static void test_plain_elf(void **s)
{
    (void)s;
    struct buf elf = make_elf(0);
    struct fake f;
    fake_init(&f, 1, RAM);
    assert_int_equal(load(&f, &elf), 0);
    check_loaded(&f);
    free(f.d.ram);
    free(elf.p);
}

/* The fuzzer's seeds, made by the command-line tools as the kernel build
 * runs them (xz --x86 --check=crc32, lz4 -l, zstd, gzip -n; fuzz/bzimage.c),
 * each unpacks and loads: guests/raw's ELF. */
static void test_tool_made(void **s)
{
    (void)s;
    const char *dir = getenv("XENKVM_BZ_CORPUS");
    assert_non_null(dir);
    const char *names[] = { "xz", "lz4", "zstd", "gzip", "stored" };
    const char *formats[] = { "XZ", "LZ4", "ZSTD", "GZIP", "uncompressed" };
    for (size_t i = 0; i < 5; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.bz", dir, names[i]);
        struct buf bz;
        assert_int_equal(util_read_file(path, 1 << 20, (char **)&bz.p,
                                        &bz.len), 0);
        uint8_t *out;
        size_t outlen;
        const char *format;
        char err[256];
        if (vmm_bzimage_unpack(bz.p, bz.len, &out, &outlen, &format, err,
                               sizeof(err)))
            fail_msg("%s: %s", path, err);
        assert_string_equal(format, formats[i]);
        free(out);
        struct fake f;
        fake_init(&f, 1, RAM);
        if (load(&f, &bz))
            fail_msg("%s: %s", path, f.err);
        assert_true(f.d.entry != 0);
        free(f.d.ram);
        free(bz.p);
    }
}

/* ---- hostile bzImages ---- */

static void expect_unpack_fails(const struct buf *bz, int rc,
                                const char *needle)
{
    uint8_t *out = (uint8_t *)1;
    size_t outlen = 1;
    const char *format;
    char err[256] = "";
    assert_int_equal(vmm_bzimage_unpack(bz->p, bz->len, &out, &outlen,
                                        &format, err, sizeof(err)), rc);
    assert_null(out);
    assert_int_equal(outlen, 0);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not say '%s'", err, needle);
    /* and through the loader: one line naming the kernel */
    struct fake f;
    fake_init(&f, 1, RAM);
    assert_int_equal(load(&f, bz), rc);
    assert_non_null(strstr(f.err, "kernel 'k'"));
    assert_non_null(strstr(f.err, needle));
    assert_null(strchr(f.err, '\n'));
    free(f.d.ram);
}

static void test_truncated_header(void **s)
{
    (void)s;
    struct buf elf = make_elf(0);
    struct buf pl = compress_payload(C_GZIP, elf.p, elf.len);
    struct buf bz = wrap_bzimage(pl.p, pl.len);
    struct buf cut = { bz.p, 0x230 };        /* HdrS there, payload fields not */
    expect_unpack_fails(&cut, -ENOEXEC, "truncated bzImage setup header");
    cut.len = bz.len - 1;                    /* payload runs past the end */
    expect_unpack_fails(&cut, -ENOEXEC, "outside the");
    free(elf.p);
    free(pl.p);
    free(bz.p);
}

static void test_payload_out_of_range(void **s)
{
    (void)s;
    struct buf elf = make_elf(0);
    struct buf pl = compress_payload(C_GZIP, elf.p, elf.len);
    struct buf bz = wrap_bzimage(pl.p, pl.len);
    put_le32(bz.p + 0x248, 0xfffffff0u);     /* offset wraps no size_t */
    expect_unpack_fails(&bz, -ENOEXEC, "outside the");
    put_le32(bz.p + 0x248, PAYLOAD_OFF);
    put_le32(bz.p + 0x24c, 0xffffffffu);
    expect_unpack_fails(&bz, -ENOEXEC, "outside the");
    bz.p[0x1f1] = 0xff;                      /* setup beyond the file */
    put_le32(bz.p + 0x24c, (uint32_t)pl.len);
    expect_unpack_fails(&bz, -ENOEXEC, "outside the");
    bz.p[0x1f1] = SETUP_SECTS;
    bz.p[0x206] = 0x06;                      /* protocol 2.06: too old */
    expect_unpack_fails(&bz, -ENOEXEC, "older than 2.08");
    free(elf.p);
    free(pl.p);
    free(bz.p);
}

static void test_bad_magic(void **s)
{
    (void)s;
    uint8_t junk[64];
    memset(junk, 'A', sizeof(junk));
    struct buf bz = wrap_bzimage(junk, sizeof(junk));
    expect_unpack_fails(&bz, -ENOEXEC, "compression unknown is not supported");
    memcpy(junk, "BZh9", 4);                 /* bzip2: named, refused */
    free(bz.p);
    bz = wrap_bzimage(junk, sizeof(junk));
    expect_unpack_fails(&bz, -ENOEXEC, "compression bzip2 is not supported");
    free(bz.p);
    /* neither ELF nor bzImage: one line */
    struct buf txt = { (uint8_t *)"this is not a kernel", 20 };
    struct fake f;
    fake_init(&f, 1, RAM);
    assert_int_equal(load(&f, &txt), -ENOEXEC);
    assert_non_null(strstr(f.err, "is not an ELF file or a bzImage"));
    free(f.d.ram);
}

/* 64 MiB of zeros squeezed into a few KiB, each format: a stated size of
 * 1 MiB is exceeded (refused as it happens, nothing past the buffer), a
 * stated size beyond the cap is refused before anything is allocated. */
static void test_bomb(void **s)
{
    (void)s;
    size_t big = 64u << 20;
    uint8_t *zeros = calloc(1, big);
    assert_non_null(zeros);
    const enum comp cs[] = { C_GZIP, C_XZ, C_LZ4, C_ZSTD };
    for (size_t i = 0; i < 4; i++) {
        struct buf pl = compress_payload(cs[i], zeros, big);
        assert_true(pl.len < big / 100);
        put_le32(pl.p + pl.len - 4, 1u << 20);
        struct buf bz = wrap_bzimage(pl.p, pl.len);
        expect_unpack_fails(&bz, -EFBIG, "unpacks to more than the size it states");
        free(bz.p);
        put_le32(pl.p + pl.len - 4, 0xffffffffu);   /* 4 GiB - 1 */
        bz = wrap_bzimage(pl.p, pl.len);
        expect_unpack_fails(&bz, -EFBIG, "limit 512 MiB");
        free(bz.p);
        free(pl.p);
    }
    free(zeros);
}

/* A payload that starts right and then is garbage, or is cut short, or
 * unpacks to less than it states; and one that is no ELF. */
static void test_garbage_payload(void **s)
{
    (void)s;
    struct buf elf = make_elf(50000);
    const enum comp cs[] = { C_GZIP, C_XZ, C_LZ4, C_ZSTD };
    for (size_t i = 0; i < 4; i++) {
        struct buf pl = compress_payload(cs[i], elf.p, elf.len);
        struct buf bad = { malloc(pl.len), pl.len };
        memcpy(bad.p, pl.p, pl.len);
        for (size_t j = 16; j + 4 < bad.len; j += 7)
            bad.p[j] ^= 0x5a;
        struct buf bz = wrap_bzimage(bad.p, bad.len);
        expect_unpack_fails(&bz, -ENOEXEC, "is corrupt or truncated");
        free(bz.p);
        /* cut in half, the size trailer kept */
        memcpy(bad.p, pl.p, pl.len);
        memcpy(bad.p + pl.len / 2, pl.p + pl.len - 4, 4);
        bz = wrap_bzimage(bad.p, pl.len / 2 + 4);
        expect_unpack_fails(&bz, -ENOEXEC, "is corrupt or truncated");
        free(bz.p);
        /* states one byte more than it holds */
        memcpy(bad.p, pl.p, pl.len);
        put_le32(bad.p + pl.len - 4, (uint32_t)elf.len + 1);
        bz = wrap_bzimage(bad.p, pl.len);
        expect_unpack_fails(&bz, -ENOEXEC, "is corrupt or truncated");
        free(bz.p);
        free(bad.p);
        free(pl.p);
    }
    /* a well-formed payload that is not an ELF */
    const char text[] = "no kernel in here, just words and more words";
    struct buf pl = compress_payload(C_XZ, (const uint8_t *)text, sizeof(text));
    struct buf bz = wrap_bzimage(pl.p, pl.len);
    struct fake f;
    fake_init(&f, 1, RAM);
    assert_int_equal(load(&f, &bz), -ENOEXEC);
    assert_non_null(strstr(f.err, "(bzImage, XZ payload) is not an ELF file"));
    free(f.d.ram);
    free(bz.p);
    free(pl.p);
    /* an ELF without the PVH note */
    Elf64_Ehdr *eh = (Elf64_Ehdr *)elf.p;
    eh->e_phnum = 1;
    Elf64_Phdr *ph = (Elf64_Phdr *)(elf.p + sizeof(*eh));
    ph[0] = ph[1];                           /* only the PT_LOAD */
    pl = compress_payload(C_ZSTD, elf.p, elf.len);
    bz = wrap_bzimage(pl.p, pl.len);
    fake_init(&f, 1, RAM);
    assert_int_equal(load(&f, &bz), -ENOEXEC);
    assert_non_null(strstr(f.err, "(bzImage, ZSTD payload) has no "
                           "XEN_ELFNOTE_PHYS32_ENTRY note"));
    free(f.d.ram);
    free(bz.p);
    free(pl.p);
    free(elf.p);
}

/* ---- ACPI ---- */

static void check_table(const uint8_t *base, uint64_t gpa, uint64_t at,
                        const char *sig, size_t room)
{
    assert_true(at >= gpa && at - gpa + 36 <= room);
    const uint8_t *t = base + (at - gpa);
    assert_memory_equal(t, sig, 4);
    uint32_t len = get_le32(t + 4);
    assert_true(len >= 36 && at - gpa + len <= room);
    assert_int_equal(vmm_acpi_sum(t, len), 0);
}

/* Parse the tables back from a start_info'd RAM: RSDP -> XSDT -> FADT
 * (-> DSDT), MADT; checksums; one enabled LAPIC per vCPU, ids 0..n-1; the
 * IOAPIC at 0xfec00000. */
static void check_acpi(const uint8_t *base, uint64_t gpa, size_t room,
                       uint64_t rsdp, uint32_t n)
{
    const uint8_t *r = base + (rsdp - gpa);
    assert_memory_equal(r, "RSD PTR ", 8);
    assert_int_equal(r[15], 2);
    assert_int_equal(vmm_acpi_sum(r, 20), 0);
    assert_int_equal(get_le32(r + 20), 36);
    assert_int_equal(vmm_acpi_sum(r, 36), 0);
    uint64_t xsdt = get_le64(r + 24);
    check_table(base, gpa, xsdt, "XSDT", room);
    const uint8_t *x = base + (xsdt - gpa);
    uint32_t nent = (get_le32(x + 4) - 36) / 8;
    assert_int_equal(nent, 2);
    bool fadt_seen = false, madt_seen = false;
    for (uint32_t i = 0; i < nent; i++) {
        uint64_t at = get_le64(x + 36 + 8 * i);
        const uint8_t *t = base + (at - gpa);
        if (!memcmp(t, "FACP", 4)) {
            check_table(base, gpa, at, "FACP", room);
            assert_true(get_le32(t + 112) & (1u << 20));   /* HW_REDUCED */
            assert_true(t[8] >= 5);
            uint64_t dsdt = get_le64(t + 140);
            assert_int_equal(get_le32(t + 40), dsdt);
            check_table(base, gpa, dsdt, "DSDT", room);
            fadt_seen = true;
        } else {
            check_table(base, gpa, at, "APIC", room);
            assert_int_equal(get_le32(t + 36), 0xfee00000u);
            uint32_t len = get_le32(t + 4), lapics = 0, ioapics = 0;
            for (uint32_t o = 44; o < len; o += t[o + 1]) {
                assert_true(t[o + 1] >= 2 && o + t[o + 1] <= len);
                if (t[o] == 0) {
                    assert_int_equal(t[o + 3], lapics);      /* APIC id */
                    assert_int_equal(get_le32(t + o + 4) & 1, 1);
                    lapics++;
                } else if (t[o] == 1) {
                    assert_int_equal(get_le32(t + o + 4), 0xfec00000u);
                    assert_int_equal(get_le32(t + o + 8), 0);
                    ioapics++;
                }
            }
            assert_int_equal(lapics, n);
            assert_int_equal(ioapics, 1);
            madt_seen = true;
        }
    }
    assert_true(fadt_seen && madt_seen);
}

static void test_acpi_tables(void **s)
{
    (void)s;
    uint8_t page[VMM_ACPI_SIZE];
    const uint32_t ns[] = { 1, 2, 7, VMM_MAX_VCPUS };
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        uint64_t rsdp = 0;
        assert_int_equal(vmm_acpi_build(page, sizeof(page), VMM_ACPI_GPA,
                                        ns[i], &rsdp), 0);
        check_acpi(page, VMM_ACPI_GPA, sizeof(page), rsdp, ns[i]);
    }
    uint64_t rsdp;
    assert_int_equal(vmm_acpi_build(page, sizeof(page), VMM_ACPI_GPA, 0,
                                    &rsdp), -EINVAL);
    assert_int_equal(vmm_acpi_build(page, sizeof(page), VMM_ACPI_GPA,
                                    VMM_MAX_VCPUS + 1, &rsdp), -EINVAL);
    assert_int_equal(vmm_acpi_build(page, 256, VMM_ACPI_GPA, 1, &rsdp),
                     -ENOSPC);
}

/* Through the loader: start_info.rsdp_paddr points at the tables, and the
 * memory map marks their page ACPI, apart from RAM. */
static void test_start_info_acpi(void **s)
{
    (void)s;
    struct buf elf = make_elf(0);
    struct fake f;
    fake_init(&f, 3, RAM);
    assert_int_equal(load(&f, &elf), 0);
    struct hvm_start_info si;
    memcpy(&si, f.d.ram + VMM_START_INFO_GPA, sizeof(si));
    assert_int_equal(si.magic, XEN_HVM_START_MAGIC_VALUE);
    assert_true(si.version >= 1);
    assert_true(si.rsdp_paddr >= VMM_ACPI_GPA &&
                si.rsdp_paddr < VMM_ACPI_GPA + VMM_ACPI_SIZE);
    check_acpi(f.d.ram + VMM_ACPI_GPA, VMM_ACPI_GPA, VMM_ACPI_SIZE,
               si.rsdp_paddr, 3);
    bool acpi = false;
    for (uint32_t i = 0; i < si.memmap_entries; i++) {
        struct hvm_memmap_table_entry m;
        memcpy(&m, f.d.ram + si.memmap_paddr + i * sizeof(m), sizeof(m));
        bool covers = m.addr < VMM_ACPI_GPA + VMM_ACPI_SIZE &&
                      m.addr + m.size > VMM_ACPI_GPA;
        if (covers) {
            assert_int_equal(m.type, XEN_HVM_MEMMAP_TYPE_ACPI);
            assert_int_equal(m.addr, VMM_ACPI_GPA);
            assert_int_equal(m.size, VMM_ACPI_SIZE);
            acpi = true;
        }
    }
    assert_true(acpi);
    free(f.d.ram);
    free(elf.p);
}

/* ---- Debian's own vmlinuz ---- */

/* The XEN_ELFNOTE_PHYS32_ENTRY of a 64-bit ELF, read here independently
 * of the loader; 0 if none. */
static uint64_t note_entry(const uint8_t *f, size_t len)
{
    Elf64_Ehdr eh;
    if (len < sizeof(eh))
        return 0;
    memcpy(&eh, f, sizeof(eh));
    for (unsigned int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        size_t o = eh.e_phoff + (size_t)i * eh.e_phentsize;
        if (o + sizeof(ph) > len)
            return 0;
        memcpy(&ph, f + o, sizeof(ph));
        if (ph.p_type != PT_NOTE || ph.p_offset + ph.p_filesz > len)
            continue;
        for (size_t p = ph.p_offset; p + 12 <= ph.p_offset + ph.p_filesz;) {
            uint32_t nsz = get_le32(f + p), dsz = get_le32(f + p + 4);
            uint32_t type = get_le32(f + p + 8);
            size_t d = p + 12 + ((nsz + 3) & ~3u);
            if (nsz == 4 && !memcmp(f + p + 12, "Xen", 4) &&
                type == XEN_ELFNOTE_PHYS32_ENTRY)
                return dsz == 8 ? get_le64(f + d) : get_le32(f + d);
            p = d + ((dsz + 3) & ~3u);
        }
    }
    return 0;
}

static int debian(const char *script)
{
    char cmd[4096], path[4096] = "";
    snprintf(cmd, sizeof(cmd), "'%s'", script);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(path, sizeof(path), p)) {
        if (p)
            pclose(p);
        printf("SKIP: scripts/debian-kernel found no Debian kernel (offline?"
               " see its message above)\n");
        return 77;
    }
    if (pclose(p) != 0) {
        printf("SKIP: scripts/debian-kernel failed\n");
        return 77;
    }
    path[strcspn(path, "\n")] = 0;
    printf("Debian kernel: %s\n", path);

    uint8_t *f;
    size_t len;
    int rc = util_read_file(path, 64u << 20, (char **)&f, &len);
    if (rc) {
        printf("FAIL: cannot read %s: %s\n", path, strerror(-rc));
        return 1;
    }
    uint8_t *elf;
    size_t elflen;
    const char *format;
    char err[512];
    rc = vmm_bzimage_unpack(f, len, &elf, &elflen, &format, err, sizeof(err));
    if (rc) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    uint64_t want = note_entry(elf, elflen);
    printf("bzImage: %zu bytes, %s payload, %zu bytes unpacked, "
           "PHYS32_ENTRY 0x%llx\n", len, format, elflen,
           (unsigned long long)want);
    free(elf);
    if (!want) {
        printf("FAIL: no XEN_ELFNOTE_PHYS32_ENTRY in the payload\n");
        return 1;
    }
    struct vmm_domain d = { .h = &quiet_host, .ram_size = 256ull << 20,
                            .nr_vcpus = 2 };
    d.ram = calloc(1, d.ram_size);
    struct vmm_domain_config cfg = { .name = "debian", .kernel = path,
                                     .cmdline = "console=hvc0" };
    rc = d.ram ? vmm_load_pvh_image(&d, &cfg, f, len, err, sizeof(err))
               : -ENOMEM;
    free(f);
    free(d.ram);
    if (rc) {
        printf("FAIL: %s\n", rc == -ENOMEM ? "out of memory" : err);
        return 1;
    }
    if (d.entry != want) {
        printf("FAIL: entry 0x%llx, the note says 0x%llx\n",
               (unsigned long long)d.entry, (unsigned long long)want);
        return 1;
    }
    /* Debian 12's kernels since 6.1.123 (the XSA-466 fix) have exactly two
     * hypercall functions, xen_hypercall_amd and xen_hypercall_intel, and
     * no hypercall page: both must be found in the unpacked payload. */
    printf("hypercall sites patched: %u\n", d.hcall_sites);
    if (d.hcall_sites != 2) {
        printf("FAIL: %u VMCALL/VMMCALL sites patched, Linux has 2\n",
               d.hcall_sites);
        return 1;
    }
    printf("PASS: loaded, entry 0x%llx\n", (unsigned long long)d.entry);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "debian"))
        return debian(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_elf),
        cmocka_unit_test(test_bzimage_hcall_sites_patched),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_xz),
        cmocka_unit_test(test_zstd),
        cmocka_unit_test(test_lz4),
        cmocka_unit_test(test_lz4_blocks),
        cmocka_unit_test(test_tool_made),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_payload_out_of_range),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_bomb),
        cmocka_unit_test(test_garbage_payload),
        cmocka_unit_test(test_acpi_tables),
        cmocka_unit_test(test_start_info_acpi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

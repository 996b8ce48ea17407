/*
 * Hypercalls without a hypercall page, on a host whose KVM cannot hand
 * VMCALL/VMMCALL to user space (no KVM_CAP_XEN_HVM): the kernel image is
 * patched in guest memory, right after the loader copied it there (the
 * file on disk is never touched).
 *
 * Linux since the XSA-466 fix has no hypercall page: xen_hypercall_hvm
 * picks one of two functions by the CPUID vendor and static-calls it from
 * then on (arch/x86/xen/xen-head.S):
 *
 *     xen_hypercall_amd:    0f 01 d9   vmmcall      (function-aligned)
 *                           c3 / e9 rel32  ret / jmp __x86_return_thunk
 *     xen_hypercall_intel:  0f 01 c1   vmcall       + the same return
 *
 * KVM handles those instructions itself (-KVM_ENOSYS) and user space never
 * sees them. Each is rewritten to our entry, `out %al,$HV_HCALL_PORT; nop`
 * (e6 f5 90, three bytes like the instruction), so it exits as
 * KVM_EXIT_IO to do_hypercall exactly like a hypercall-page stub; the
 * return after it is left alone.
 *
 * What is matched, and why it cannot hit data or other code. A site is, in
 * an executable PT_LOAD segment (p_flags has PF_X; data segments are never
 * read):
 *   1. at a 16-byte aligned link address (Linux's SYM_FUNC_START aligns
 *      functions to 16): a function start, not a byte in the middle of
 *      another instruction stream;
 *   2. optionally ENDBR64 (f3 0f 1e fa; a kernel built with IBT may put one
 *      at a function start), then VMCALL (0f 01 c1) or VMMCALL (0f 01 d9);
 *   3. then a return: c3, or e9 rel32 whose target lies inside an
 *      executable segment (the return thunk);
 *   4. then nothing but padding up to the next 16-byte boundary: int3 (cc)
 *      or NOPs (90, and the 0f 1f /0 long forms with 66/2e prefixes the
 *      assembler uses for .balign).
 * So the whole 16-byte slot is "a function whose entire body is the
 * hypercall instruction": code that merely contains a VMCALL (KVM's own
 * paravirt calls, `mov $nr,%eax; vmcall` inlined in C, SEV's VMGEXIT
 * f3 0f 01 d9) fails 1 or 3, and data in the executable segment (Linux's
 * first PT_LOAD also holds .rodata) would have to reproduce a 16-byte
 * aligned slot of that exact shape. Debian's 6.1.192 kernel has exactly
 * the two sites above (both `e9` to the return thunk, NOP or int3 padding)
 * and 33 other 0f 01 c1/d9 byte triples in its executable segments, which
 * this rejects.
 */
#include <stdint.h>
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "vmm_int.h"

#define FUNC_ALIGN 16u

/* Length of the NOP (or int3) at p, at most n bytes long; 0 if there is
 * none. */
static size_t nop_len(const uint8_t *p, size_t n)
{
    if (n >= 1 && (p[0] == 0xcc || p[0] == 0x90))
        return 1;
    size_t i = 0;
    while (i < n && i < 14 && (p[i] == 0x66 || p[i] == 0x2e))
        i++;                            /* operand-size, CS prefixes */
    if (i < n && p[i] == 0x90 && i > 0)
        return i + 1;                   /* 66 90 */
    if (n - i < 3 || p[i] != 0x0f || p[i + 1] != 0x1f)
        return 0;
    uint8_t modrm = p[i + 2];
    if ((modrm >> 3) & 7)               /* NOP is 0f 1f /0 */
        return 0;
    unsigned int mod = modrm >> 6, rm = modrm & 7;
    size_t len = i + 3;
    if (mod != 3 && rm == 4) {          /* SIB byte */
        if (len >= n)
            return 0;
        if (mod == 0 && (p[len] & 7) == 5)
            len += 4;                   /* SIB with disp32, no base */
        len++;
    }
    if (mod == 1)
        len += 1;
    else if (mod == 2 || (mod == 0 && rm == 5))
        len += 4;
    return len <= n ? len : 0;
}

/* Is the link address a inside an executable segment? */
static bool in_exec(const struct vmm_hcall_seg *segs, unsigned int nseg,
                    uint64_t a)
{
    for (unsigned int i = 0; i < nseg; i++)
        if (a >= segs[i].vaddr && a - segs[i].vaddr < segs[i].len)
            return true;
    return false;
}

long vmm_hcall_site_at(const struct vmm_hcall_seg *segs, unsigned int nseg,
                       unsigned int s, uint64_t off)
{
    const struct vmm_hcall_seg *g = &segs[s];
    if (off >= g->len || (g->vaddr + off) % FUNC_ALIGN)
        return -1;
    const uint8_t *p = g->mem + off;
    uint64_t left = g->len - off;
    /* The slot ends at the next function boundary or the segment's end. */
    size_t slot = left < FUNC_ALIGN ? (size_t)left : FUNC_ALIGN;
    size_t i = 0;
    static const uint8_t endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };
    if (slot >= 4 && !memcmp(p, endbr64, 4))
        i = 4;
    if (slot - i < 4 || p[i] != 0x0f || p[i + 1] != 0x01 ||
        (p[i + 2] != 0xc1 && p[i + 2] != 0xd9))
        return -1;
    size_t insn = i;
    i += 3;
    if (p[i] == 0xc3) {
        i += 1;
    } else if (p[i] == 0xe9 && slot - i >= 5) {
        int32_t rel;
        memcpy(&rel, p + i + 1, 4);
        uint64_t target = g->vaddr + off + i + 5 + (uint64_t)(int64_t)rel;
        if (!in_exec(segs, nseg, target))
            return -1;
        i += 5;
    } else {
        return -1;
    }
    while (i < slot) {
        size_t l = nop_len(p + i, slot - i);
        if (!l)
            return -1;
        i += l;
    }
    return (long)(off + insn);
}

unsigned int vmm_hcall_patch_segs(const struct vmm_hcall_seg *segs,
                                  unsigned int nseg)
{
    static const uint8_t entry[3] = { 0xe6, HV_HCALL_PORT, 0x90 };
    unsigned int n = 0;
    for (unsigned int s = 0; s < nseg; s++) {
        const struct vmm_hcall_seg *g = &segs[s];
        /* First aligned offset, then every 16 bytes. */
        uint64_t off = (FUNC_ALIGN - g->vaddr % FUNC_ALIGN) % FUNC_ALIGN;
        for (; off < g->len; off += FUNC_ALIGN) {
            long at = vmm_hcall_site_at(segs, nseg, s, off);
            if (at < 0)
                continue;
            memcpy(g->mem + at, entry, sizeof(entry));
            n++;
        }
    }
    return n;
}

#define MAX_EXEC_SEGS 16

int vmm_hcall_patch_elf(uint8_t *ram, uint64_t ram_size, const uint8_t *f,
                        size_t len)
{
    struct vmm_elf e;
    if (vmm_elf_open(f, len, &e))
        return -ENOEXEC;
    struct vmm_hcall_seg segs[MAX_EXEC_SEGS];
    unsigned int nseg = 0;
    for (uint32_t i = 0; i < e.phnum; i++) {
        struct vmm_elf_phdr ph;
        if (!vmm_elf_phdr(&e, i, &ph))
            return -ENOEXEC;
        if (ph.type != PT_LOAD || !(ph.flags & PF_X) || !ph.filesz)
            continue;
        /* Only what the loader copied from the file: [paddr, +filesz). */
        if (ph.paddr > ram_size || ph.filesz > ram_size - ph.paddr)
            return -ENOEXEC;
        if (nseg == MAX_EXEC_SEGS)
            return -E2BIG;
        segs[nseg++] = (struct vmm_hcall_seg){ ram + ph.paddr, ph.vaddr,
                                               ph.filesz };
    }
    return (int)vmm_hcall_patch_segs(segs, nseg);
}

void vmm_hcall_patch(struct vmm_domain *d, const uint8_t *elf, size_t len)
{
    if (d->xen_hcall)
        return;         /* KVM hands VMCALL/VMMCALL to us (KVM_EXIT_XEN) */
    int n = vmm_hcall_patch_elf(d->ram, d->ram_size, elf, len);
    d->hcall_sites = n > 0 ? (unsigned int)n : 0;
    if (n > 0)
        vmm_log(d, "hypercalls: %d VMCALL/VMMCALL site%s patched to the "
                "I/O-port entry", n, n > 1 ? "s" : "");
    else if (n < 0)
        vmm_log(d, "hypercalls: kernel not scanned for VMCALL/VMMCALL "
                "sites: %s", strerror(-n));
}

/*
 * PVH boot: load an ELF kernel carrying XEN_ELFNOTE_PHYS32_ENTRY, given as
 * the ELF itself or as a bzImage around it (vmm_bzimage.c unpacks it),
 * build struct hvm_start_info (version 1: memory map, command line,
 * modules, the RSDP of the ACPI tables vmm_acpi.c writes) and put vCPU 0
 * in 32-bit flat protected mode at the entry with %ebx pointing at
 * start_info (docs/misc/pvh.pandoc of Xen). Also loads the register state
 * of VCPUOP_initialise for secondary vCPUs.
 */
#include <stdint.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xen/arch-x86/hvm/start_info.h>
#include <xen/elfnote.h>
#include <xen/hvm/hvm_vcpu.h>

#include "vmm_int.h"

#define MAX_KERNEL_BYTES (512ull << 20)
#define SI_MEMMAP_OFF    0x100      /* from VMM_START_INFO_GPA */
#define SI_MODLIST_OFF   0x800
#define SI_CMDLINE_OFF   0x1000
#define SI_END_OFF       0x7000     /* cmdline up to 24 KiB */
/* What the VMM writes below 1 MiB: start_info, then the ACPI page. */
#define LOW_AREA_START   VMM_START_INFO_GPA
#define LOW_AREA_END     (VMM_ACPI_GPA + VMM_ACPI_SIZE)
_Static_assert(VMM_START_INFO_GPA + SI_END_OFF <= VMM_ACPI_GPA,
               "start_info runs into the ACPI page");

static bool find_pvh_entry(const uint8_t *f, size_t len,
                           const struct vmm_elf_phdr *ph,
                           uint64_t *entry)
{
    if (ph->offset > len || ph->filesz > len - ph->offset)
        return false;
    const uint8_t *p = f + ph->offset, *end = p + ph->filesz;
    while ((size_t)(end - p) >= 12) {      /* bounded: p always advances */
        uint32_t namesz, descsz, type;
        memcpy(&namesz, p, 4);
        memcpy(&descsz, p + 4, 4);
        memcpy(&type, p + 8, 4);
        uint64_t nlen = ((uint64_t)namesz + 3) & ~3ull;
        uint64_t dlen = ((uint64_t)descsz + 3) & ~3ull;
        if (nlen + dlen > (uint64_t)(end - p) - 12)
            return false;
        const uint8_t *name = p + 12, *desc = name + nlen;
        if (namesz == 4 && !memcmp(name, "Xen", 4) &&
            type == XEN_ELFNOTE_PHYS32_ENTRY) {
            if (descsz == 4) {
                uint32_t e;
                memcpy(&e, desc, 4);
                *entry = e;
                return true;
            }
            if (descsz == 8) {
                memcpy(entry, desc, 8);
                return *entry <= 0xffffffffull;
            }
            return false;
        }
        p = desc + dlen;
    }
    return false;
}

static void add_e820(struct vmm_domain *d, uint64_t addr, uint64_t size,
                     uint32_t type)
{
    if (d->nr_e820 < HV_MAX_E820 && size)
        d->e820[d->nr_e820++] = (struct hv_e820){ addr, size, type };
}

int vmm_load_pvh(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                 char *err, size_t errlen)
{
    uint8_t *f = NULL;
    size_t len = 0;
    int rc = util_read_file(cfg->kernel, MAX_KERNEL_BYTES, (char **)&f, &len);
    if (rc) {
        snprintf(err, errlen, "cannot read kernel '%s': %s", cfg->kernel,
                 rc == -EFBIG ? "larger than 512 MiB" : strerror(-rc));
        return rc;
    }
    rc = vmm_load_pvh_image(d, cfg, f, len, err, errlen);
    free(f);
    return rc;
}

static bool is_elf(const uint8_t *f, size_t len)
{
    return len >= EI_NIDENT && !memcmp(f, ELFMAG, SELFMAG);
}

/* The PVH ELF f (len bytes, untrusted, an ELF by its magic) into d's RAM;
 * d->entry. Every offset and size of the ELF is checked against len and
 * RAM. what names the kernel in errors ("kernel 'PATH'"). */
static int load_elf_image(struct vmm_domain *d, const char *what,
                          const uint8_t *f, size_t len, char *err,
                          size_t errlen)
{
    struct vmm_elf e;
    int rc = vmm_elf_open(f, len, &e);
    if (rc == -EBADMSG)
        goto trunc;
    if (rc) {
        snprintf(err, errlen, "%s: unsupported ELF class or byte "
                 "order (need little-endian x86)", what);
        goto out;
    }
    rc = -ENOEXEC;
    uint32_t machine = e.machine;
    if (machine != EM_X86_64 && machine != EM_386) {
        snprintf(err, errlen, "%s is not an x86 ELF (e_machine %u)",
                 what, machine);
        goto out;
    }
    uint64_t entry = 0;
    bool have_entry = false;
    struct vmm_elf_phdr ph;
    for (uint32_t i = 0; i < e.phnum; i++) {
        if (!vmm_elf_phdr(&e, i, &ph))
            goto trunc;
        if (ph.type == PT_NOTE && !have_entry)
            have_entry = find_pvh_entry(f, len, &ph, &entry);
    }
    if (!have_entry) {
        snprintf(err, errlen, "%s has no XEN_ELFNOTE_PHYS32_ENTRY "
                 "note: not a PVH kernel", what);
        goto out;
    }
    for (uint32_t i = 0; i < e.phnum; i++) {
        vmm_elf_phdr(&e, i, &ph);
        if (ph.type != PT_LOAD || ph.memsz == 0)
            continue;
        if (ph.filesz > ph.memsz || ph.offset > len ||
            ph.filesz > len - ph.offset)
            goto trunc;
        if (ph.paddr > d->ram_size || ph.memsz > d->ram_size - ph.paddr) {
            snprintf(err, errlen, "%s loads at 0x%llx-0x%llx, beyond "
                     "the guest's %llu MiB of memory", what,
                     (unsigned long long)ph.paddr,
                     (unsigned long long)(ph.paddr + ph.memsz),
                     (unsigned long long)(d->ram_size >> 20));
            goto out;
        }
        if (ph.paddr < LOW_AREA_END && ph.paddr + ph.memsz > LOW_AREA_START) {
            snprintf(err, errlen, "%s loads at 0x%llx, over the "
                     "start_info and ACPI area 0x%llx-0x%llx", what,
                     (unsigned long long)ph.paddr,
                     LOW_AREA_START, LOW_AREA_END);
            goto out;
        }
        memcpy(d->ram + ph.paddr, f + ph.offset, ph.filesz);
        memset(d->ram + ph.paddr + ph.filesz, 0, ph.memsz - ph.filesz);
    }
    d->entry = entry;
    /* The ELF actually loaded (a bzImage's payload, not the file): its
     * hypercall functions, where the kernel has no hypercall page. */
    vmm_hcall_patch(d, f, len);
    return 0;
trunc:
    snprintf(err, errlen, "%s: truncated or malformed ELF", what);
    rc = -ENOEXEC;
out:
    return rc;
}

/* The kernel file f: a PVH ELF, or a bzImage whose payload is one. */
static int load_elf(struct vmm_domain *d, const struct vmm_domain_config *cfg,
                    const uint8_t *f, size_t len, char *err, size_t errlen)
{
    char what[512];
    snprintf(what, sizeof(what), "kernel '%s'", cfg->kernel);
    if (is_elf(f, len))
        return load_elf_image(d, what, f, len, err, errlen);
    if (!vmm_bzimage_is(f, len)) {
        snprintf(err, errlen, "%s is not an ELF file or a bzImage: xenkvm "
                 "boots PVH kernels (with XEN_ELFNOTE_PHYS32_ENTRY)", what);
        return -ENOEXEC;
    }
    uint8_t *elf;
    size_t elflen;
    const char *format;
    char why[256] = "";
    int rc = vmm_bzimage_unpack(f, len, &elf, &elflen, &format, why,
                                sizeof(why));
    if (rc) {
        snprintf(err, errlen, "%s: %s", what,
                 rc == -ENOMEM && !why[0] ? "out of memory" : why);
        return rc;
    }
    snprintf(what, sizeof(what), "kernel '%s' (bzImage, %s payload)",
             cfg->kernel, format);
    if (is_elf(elf, elflen))
        rc = load_elf_image(d, what, elf, elflen, err, errlen);
    else {
        snprintf(err, errlen, "%s is not an ELF file: not a PVH kernel", what);
        rc = -ENOEXEC;
    }
    free(elf);
    return rc;
}

/* The memory map (shared by start_info and XENMEM_memory_map), the
 * command line and the ramdisk, described by hvm_start_info. */
static int write_start_info(struct vmm_domain *d,
                            const struct vmm_domain_config *cfg, char *err,
                            size_t errlen)
{
    int rc;
    d->nr_e820 = 0;
    add_e820(d, 0, VMM_ACPI_GPA, XEN_HVM_MEMMAP_TYPE_RAM);
    add_e820(d, VMM_ACPI_GPA, VMM_ACPI_SIZE, XEN_HVM_MEMMAP_TYPE_ACPI);
    add_e820(d, LOW_AREA_END, 0xa0000 - LOW_AREA_END, XEN_HVM_MEMMAP_TYPE_RAM);
    add_e820(d, 0xa0000, 0x60000, XEN_HVM_MEMMAP_TYPE_RESERVED);
    add_e820(d, 0x100000, d->ram_size - 0x100000, XEN_HVM_MEMMAP_TYPE_RAM);
    add_e820(d, VMM_SPECIAL_GPA, VMM_SPECIAL_PAGES * VMM_PAGE,
             XEN_HVM_MEMMAP_TYPE_RESERVED);

    uint8_t *si_base = d->ram + VMM_START_INFO_GPA;
    memset(si_base, 0, SI_END_OFF);
    struct hvm_start_info si = {
        .magic = XEN_HVM_START_MAGIC_VALUE,
        .version = 1,
        .memmap_paddr = VMM_START_INFO_GPA + SI_MEMMAP_OFF,
        .memmap_entries = d->nr_e820,
    };
    rc = vmm_acpi_build(d->ram + VMM_ACPI_GPA, VMM_ACPI_SIZE, VMM_ACPI_GPA,
                        d->nr_vcpus, &si.rsdp_paddr);
    if (rc) {
        snprintf(err, errlen, "cannot build ACPI tables for %u vCPUs",
                 d->nr_vcpus);
        goto out;
    }
    for (unsigned int i = 0; i < d->nr_e820; i++) {
        struct hvm_memmap_table_entry me = {
            .addr = d->e820[i].addr, .size = d->e820[i].size,
            .type = d->e820[i].type,
        };
        memcpy(si_base + SI_MEMMAP_OFF + i * sizeof(me), &me, sizeof(me));
    }
    if (cfg->cmdline && *cfg->cmdline) {
        size_t cl = strlen(cfg->cmdline);
        if (cl >= SI_END_OFF - SI_CMDLINE_OFF) {
            snprintf(err, errlen, "command line longer than %d bytes",
                     SI_END_OFF - SI_CMDLINE_OFF - 1);
            rc = -E2BIG;
            goto out;
        }
        memcpy(si_base + SI_CMDLINE_OFF, cfg->cmdline, cl + 1);
        si.cmdline_paddr = VMM_START_INFO_GPA + SI_CMDLINE_OFF;
    }
    if (cfg->ramdisk) {
        uint8_t *rd = NULL;
        size_t rdlen = 0;
        int r2 = util_read_file(cfg->ramdisk, d->ram_size / 2, (char **)&rd,
                                &rdlen);
        if (r2) {
            snprintf(err, errlen, "cannot read ramdisk '%s': %s", cfg->ramdisk,
                     r2 == -EFBIG ? "larger than half the guest's memory" :
                     strerror(-r2));
            rc = r2;
            goto out;
        }
        uint64_t at = (d->ram_size - rdlen) & ~(VMM_PAGE - 1);
        memcpy(d->ram + at, rd, rdlen);
        free(rd);
        struct hvm_modlist_entry m = { .paddr = at, .size = rdlen };
        memcpy(si_base + SI_MODLIST_OFF, &m, sizeof(m));
        si.nr_modules = 1;
        si.modlist_paddr = VMM_START_INFO_GPA + SI_MODLIST_OFF;
    }
    memcpy(si_base, &si, sizeof(si));
    rc = 0;
out:
    return rc;
}

int vmm_load_pvh_image(struct vmm_domain *d,
                       const struct vmm_domain_config *cfg,
                       const uint8_t *f, size_t len, char *err, size_t errlen)
{
    int rc = load_elf(d, cfg, f, len, err, errlen);
    return rc ? rc : write_start_info(d, cfg, err, errlen);
}

/* A flat segment: ar in Xen's (VMX-like) 12-bit attribute format. */
static void seg_from_ar(struct kvm_segment *s, uint16_t sel, uint64_t base,
                        uint32_t limit, uint16_t ar)
{
    memset(s, 0, sizeof(*s));
    s->selector = sel;
    s->base = base;
    s->limit = limit;
    s->type = ar & 0xf;
    s->s = (ar >> 4) & 1;
    s->dpl = (ar >> 5) & 3;
    s->present = (ar >> 7) & 1;
    s->avl = (ar >> 8) & 1;
    s->l = (ar >> 9) & 1;
    s->db = (ar >> 10) & 1;
    s->g = (ar >> 11) & 1;
    s->unusable = !s->present;
}

#define AR_CODE32 0xc9b    /* G D P S type=0xb */
#define AR_DATA32 0xc93    /* G D P S type=0x3 */
#define AR_CODE64 0xa9b    /* G L P S type=0xb */
#define AR_TSS    0x08b    /* P type=0xb (busy 32/64-bit TSS) */

static int set_state(struct vmm_vcpu *v, struct kvm_sregs *s,
                     struct kvm_regs *r)
{
    if (ioctl(v->fd, KVM_SET_SREGS, s) < 0 || ioctl(v->fd, KVM_SET_REGS, r) < 0)
        return -errno;
    return 0;
}

/* PVH entry state: 32-bit flat protected mode, paging off, %ebx = start
 * info, interrupts off. */
int vmm_setup_boot_vcpu(struct vmm_vcpu *v, uint64_t entry, uint64_t ebx)
{
    struct kvm_sregs s;
    if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
        return -errno;
    seg_from_ar(&s.cs, 0x08, 0, 0xffffffff, AR_CODE32);
    seg_from_ar(&s.ds, 0x10, 0, 0xffffffff, AR_DATA32);
    s.es = s.fs = s.gs = s.ss = s.ds;
    seg_from_ar(&s.tr, 0x18, 0, 0x67, AR_TSS);
    s.ldt.unusable = 1;
    s.ldt.selector = 0;
    s.cr0 = 0x11;          /* PE | ET */
    s.cr3 = 0;
    s.cr4 = 0;
    s.efer = 0;
    struct kvm_regs r = { .rip = entry, .rbx = ebx, .rflags = 0x2 };
    return set_state(v, &s, &r);
}

/* VCPUOP_initialise's struct vcpu_hvm_context (already copied in). */
int vmm_load_hvm_context(struct vmm_vcpu *v, const void *p)
{
    const struct vcpu_hvm_context *c = p;
    struct kvm_sregs s;
    if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
        return -errno;
    struct kvm_regs r;
    memset(&r, 0, sizeof(r));
    if (c->mode == VCPU_HVM_MODE_32B) {
        const struct vcpu_hvm_x86_32 *x = &c->cpu_regs.x86_32;
        r = (struct kvm_regs){ .rax = x->eax, .rcx = x->ecx, .rdx = x->edx,
            .rbx = x->ebx, .rsp = x->esp, .rbp = x->ebp, .rsi = x->esi,
            .rdi = x->edi, .rip = x->eip, .rflags = x->eflags | 2 };
        seg_from_ar(&s.cs, 0x08, x->cs_base, x->cs_limit, x->cs_ar);
        seg_from_ar(&s.ds, 0x10, x->ds_base, x->ds_limit, x->ds_ar);
        seg_from_ar(&s.ss, 0x10, x->ss_base, x->ss_limit, x->ss_ar);
        seg_from_ar(&s.es, 0x10, x->es_base, x->es_limit, x->es_ar);
        s.fs = s.gs = s.ds;
        seg_from_ar(&s.tr, 0x18, x->tr_base, x->tr_limit,
                    x->tr_ar ? x->tr_ar : AR_TSS);
        s.cr0 = x->cr0 | 0x10;
        s.cr3 = x->cr3;
        s.cr4 = x->cr4;
        s.efer = x->efer;
    } else {
        const struct vcpu_hvm_x86_64 *x = &c->cpu_regs.x86_64;
        r = (struct kvm_regs){ .rax = x->rax, .rcx = x->rcx, .rdx = x->rdx,
            .rbx = x->rbx, .rsp = x->rsp, .rbp = x->rbp, .rsi = x->rsi,
            .rdi = x->rdi, .rip = x->rip, .rflags = x->rflags | 2 };
        seg_from_ar(&s.cs, 0x08, 0, 0xffffffff, AR_CODE64);
        seg_from_ar(&s.ds, 0x10, 0, 0xffffffff, AR_DATA32);
        s.es = s.fs = s.gs = s.ss = s.ds;
        seg_from_ar(&s.tr, 0x18, 0, 0x67, AR_TSS);
        s.cr0 = x->cr0 | 0x10;
        s.cr3 = x->cr3;
        s.cr4 = x->cr4;
        s.efer = x->efer;
        /* Xen checks these for a 64-bit start: long mode needs PG, PAE, LME */
        if (!(s.cr0 & (1ull << 31)) || !(s.cr4 & (1ull << 5)) ||
            !(s.efer & (1ull << 8)))
            return -EINVAL;
        s.efer |= 1ull << 10;   /* LMA */
    }
    s.ldt.unusable = 1;
    return set_state(v, &s, &r);
}

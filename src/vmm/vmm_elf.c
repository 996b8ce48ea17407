/*
 * Reading an untrusted ELF image's header and program headers, whatever
 * its class: the PVH loader (vmm_loader.c) and the hypercall-site patcher
 * (vmm_hcall_patch.c) both walk them. Every offset is checked against the
 * image's length.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "vmm_int.h"

int vmm_elf_open(const uint8_t *f, size_t len, struct vmm_elf *e)
{
    if (len < EI_NIDENT || memcmp(f, ELFMAG, SELFMAG))
        return -ENOEXEC;
    bool is64 = f[EI_CLASS] == ELFCLASS64;
    if ((!is64 && f[EI_CLASS] != ELFCLASS32) || f[EI_DATA] != ELFDATA2LSB)
        return -EPROTONOSUPPORT;
    *e = (struct vmm_elf){ .f = f, .len = len, .is64 = is64 };
    if (is64) {
        Elf64_Ehdr eh;
        if (len < sizeof(eh))
            return -EBADMSG;
        memcpy(&eh, f, sizeof(eh));
        e->phoff = eh.e_phoff; e->phnum = eh.e_phnum;
        e->phentsize = eh.e_phentsize; e->machine = eh.e_machine;
    } else {
        Elf32_Ehdr eh;
        if (len < sizeof(eh))
            return -EBADMSG;
        memcpy(&eh, f, sizeof(eh));
        e->phoff = eh.e_phoff; e->phnum = eh.e_phnum;
        e->phentsize = eh.e_phentsize; e->machine = eh.e_machine;
    }
    return 0;
}

bool vmm_elf_phdr(const struct vmm_elf *e, uint32_t i,
                  struct vmm_elf_phdr *out)
{
    uint64_t off = e->phoff + (uint64_t)i * e->phentsize;
    size_t need = e->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    if (i >= e->phnum || e->phentsize < need || off > e->len ||
        e->len - off < need)
        return false;
    if (e->is64) {
        Elf64_Phdr p;
        memcpy(&p, e->f + off, sizeof(p));
        *out = (struct vmm_elf_phdr){ p.p_type, p.p_flags, p.p_offset,
                                      p.p_vaddr, p.p_paddr, p.p_filesz,
                                      p.p_memsz };
    } else {
        Elf32_Phdr p;
        memcpy(&p, e->f + off, sizeof(p));
        *out = (struct vmm_elf_phdr){ p.p_type, p.p_flags, p.p_offset,
                                      p.p_vaddr, p.p_paddr, p.p_filesz,
                                      p.p_memsz };
    }
    return true;
}

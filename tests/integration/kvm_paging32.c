/*
 * kvm_paging32: can this host's KVM run a guest with 32-bit paging?
 *
 * The i386 test guests (guest/entry32.c) turn on 2-level paging (CR4.PSE,
 * 4 MiB pages) or PAE paging from protected mode, with EFER.LME clear.
 * Hardware KVM runs that; the nested, software-assisted kvm_pvm of some
 * hosts raises #GP at the `mov cr0` that sets PG without LME (a triple
 * fault: no IDT yet). The 32-bit integration tests (guest32.sh) run on the
 * host when this probe passes and in the KVM box otherwise.
 *
 * For each of 2-level and PAE, a bare VM (vmm_rawvm.c) starts in flat
 * 32-bit protected mode with paging off and runs a handful of
 * instructions: CR3 and CR4 set, CR0.PG set, a read through the new
 * mapping, `out` to port 0x32 with what it read, hlt.
 * Prints one line per mode; exit status 0 when KVM ran both, 1 when it
 * did not (a shutdown, i.e. triple fault, or any other exit: the last line
 * says which), 2 when the probe itself could not run (no /dev/kvm, an
 * ioctl failed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm_int.h"

#define CODE   0x1000u
#define PD2L   0x2000u     /* 2-level: the page directory */
#define PDPT   0x3000u     /* PAE: the PDPT, then its first directory */
#define PDPAE  0x4000u
#define MAGIC  0x5aa5c33cu /* at MAGIC_AT, read through the mapping */
#define MAGIC_AT 0x8000u
#define PORT   0x32

/* The guest, copied to CODE: %eax = the CR3 value, %ecx = the CR4 bits to
 * set (PSE, or PAE). Absolute addresses only in immediates. */
__asm__(".pushsection .rodata\n"
        ".globl kp32_start, kp32_end\n"
        "kp32_start:\n"
        ".code32\n"
        "    movl %eax, %cr3\n"
        "    movl %cr4, %eax\n"
        "    orl %ecx, %eax\n"
        "    movl %eax, %cr4\n"
        "    movl %cr0, %eax\n"
        "    orl $0x80000000, %eax\n"
        "    movl %eax, %cr0\n"
        "    jmp 1f\n"
        "1:  movl 0x8000, %eax\n"
        "    outl %eax, $0x32\n"
        "2:  hlt\n"
        "    jmp 2b\n"
        ".code64\n"
        "kp32_end:\n"
        ".popsection\n");
extern const uint8_t kp32_start[], kp32_end[];

static const char *exit_name(uint32_t reason)
{
    switch (reason) {
    case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN (a triple fault)";
    case KVM_EXIT_HLT: return "KVM_EXIT_HLT before the port write";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
    case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
    default: return "an unexpected exit";
    }
}

/* Runs one mode. 0: ran (the port saw MAGIC); 1: KVM did not run it,
 * *why says how; -errno: the probe failed. */
static int probe(int kfd, bool pae, char *why, size_t whylen)
{
    struct vmm_raw_vm r;
    int rc = vmm_raw_vm_create(kfd, 1 << 20, &r);
    if (rc)
        return rc;
    uint8_t *mem = r.mem;
    memcpy(mem + CODE, kp32_start, (size_t)(kp32_end - kp32_start));
    uint32_t magic = MAGIC;
    memcpy(mem + MAGIC_AT, &magic, sizeof(magic));
    uint64_t pdpte = PDPAE | 1, pde_pae = 0x83;  /* 2 MiB at 0: P RW PS */
    uint32_t pde_2l = 0x83;                       /* 4 MiB at 0: P RW PS */
    memcpy(mem + PD2L, &pde_2l, sizeof(pde_2l));
    memcpy(mem + PDPT, &pdpte, sizeof(pdpte));
    memcpy(mem + PDPAE, &pde_pae, sizeof(pde_pae));

    struct kvm_sregs s;
    struct kvm_regs rg = { .rip = CODE, .rflags = 2, .rsp = 0x9000,
                           .rax = pae ? PDPT : PD2L, .rcx = pae ? 0x20 : 0x10 };
    if (ioctl(r.vcpu, KVM_GET_SREGS, &s) < 0)
        goto fail;
    struct kvm_segment cs = { .limit = 0xffffffff, .selector = 8, .type = 0xb,
                              .present = 1, .s = 1, .db = 1, .g = 1 };
    struct kvm_segment ds = cs;
    ds.selector = 0x10;
    ds.type = 3;
    s.cs = cs;
    s.ds = s.es = s.ss = s.fs = s.gs = ds;
    s.cr0 = 0x11;           /* PE | ET, paging off: the PVH entry state */
    s.cr3 = 0;
    s.cr4 = 0;
    s.efer = 0;
    if (ioctl(r.vcpu, KVM_SET_SREGS, &s) < 0 || ioctl(r.vcpu, KVM_SET_REGS, &rg) < 0)
        goto fail;
    for (;;) {
        if (ioctl(r.vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        struct kvm_run *run = r.run;
        if (run->exit_reason == KVM_EXIT_IO && run->io.port == PORT &&
            run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 4) {
            uint32_t v;
            memcpy(&v, (uint8_t *)run + run->io.data_offset, sizeof(v));
            rc = v == MAGIC ? 0 : 1;
            if (rc)
                snprintf(why, whylen, "read %#x through the mapping, not %#x", v, MAGIC);
            break;
        }
        if (ioctl(r.vcpu, KVM_GET_REGS, &rg) < 0)
            goto fail;
        snprintf(why, whylen, "%s (exit %u) at rip %#llx", exit_name(run->exit_reason),
                 run->exit_reason, (unsigned long long)rg.rip);
        rc = 1;
        break;
    }
    vmm_raw_vm_destroy(&r);
    return rc;
fail:
    rc = -errno;
    vmm_raw_vm_destroy(&r);
    return rc;
}

int main(void)
{
    int kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kfd < 0) {
        printf("kvm_paging32: cannot open /dev/kvm: %s\n", strerror(errno));
        return 2;
    }
    static const char *const names[2] = { "2-level", "PAE" };
    int status = 0;
    for (int pae = 0; pae < 2; pae++) {
        char why[160] = "";
        int rc = probe(kfd, pae, why, sizeof(why));
        if (rc < 0) {
            printf("kvm_paging32: the probe failed: %s\n", strerror(-rc));
            close(kfd);
            return 2;
        }
        if (rc == 0) {
            printf("kvm_paging32: %s paging: ran\n", names[pae]);
        } else {
            printf("kvm_paging32: this KVM cannot run 32-bit %s paging: %s\n", names[pae], why);
            status = 1;
        }
    }
    close(kfd);
    return status;
}

/*
 * Unit tests of the VMM's hypercall entries without a hypercall page:
 * the VMCALL/VMMCALL site matcher and patcher (vmm_hcall_patch.c) on byte
 * buffers and small ELF images, the KVM_EXIT_XEN decode (vmm_xen_hcall)
 * on a synthetic kvm_run against the real hypercall layer, and the
 * capability check that chooses between them.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <xen/features.h>
#include <xen/version.h>

#include "vmm_int.h"

/* ---- the matcher on byte buffers ---- */

static const uint8_t VMCALL[3] = { 0x0f, 0x01, 0xc1 };
static const uint8_t VMMCALL[3] = { 0x0f, 0x01, 0xd9 };
static const uint8_t ENTRY[3] = { 0xe6, HV_HCALL_PORT, 0x90 };

#define SEG_BASE 0xffffffff81000000ull
static uint8_t text[256];

static struct vmm_hcall_seg seg(void)
{
    return (struct vmm_hcall_seg){ text, SEG_BASE, sizeof(text) };
}

/* text: int3 everywhere, then bytes b at off. */
static void put(size_t off, const void *b, size_t n)
{
    memcpy(text + off, b, n);
}

static void reset(void)
{
    memset(text, 0xcc, sizeof(text));
}

/* jmp rel32 at text+off to link address target */
static void put_jmp(size_t off, uint64_t target)
{
    int32_t rel = (int32_t)(target - (SEG_BASE + off + 5));
    text[off] = 0xe9;
    memcpy(text + off + 1, &rel, 4);
}

static void test_true_sites(void **state)
{
    (void)state;
    struct vmm_hcall_seg s = seg();
    static const uint8_t nop8[8] = { 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 };
    static const uint8_t nop12[12] = { 0x66, 0x0f, 0x1f, 0x44, 0, 0,
                                       0x66, 0x0f, 0x1f, 0x44, 0, 0 };
    static const uint8_t endbr[4] = { 0xf3, 0x0f, 0x1e, 0xfa };
    reset();
    /* Debian 6.1's xen_hypercall_amd: vmmcall; jmp thunk; 8-byte NOP */
    put(0x00, VMMCALL, 3);
    put_jmp(0x03, SEG_BASE + 0xf0);
    put(0x08, nop8, 8);
    /* its xen_hypercall_intel: vmcall; jmp thunk; int3 padding */
    put(0x10, VMCALL, 3);
    put_jmp(0x13, SEG_BASE + 0xf0);
    /* vmcall; ret; two 6-byte NOPs */
    put(0x20, VMCALL, 3);
    text[0x23] = 0xc3;
    put(0x24, nop12, 12);
    /* IBT: endbr64; vmmcall; ret (int3 after it) */
    put(0x30, endbr, 4);
    put(0x34, VMMCALL, 3);
    text[0x37] = 0xc3;
    /* the segment's last bytes: vmcall; ret, then the end */
    put(0xfc, VMCALL, 3);
    text[0xff] = 0xc3;

    assert_int_equal(vmm_hcall_site_at(&s, 1, 0, 0x00), 0x00);
    assert_int_equal(vmm_hcall_site_at(&s, 1, 0, 0x10), 0x10);
    assert_int_equal(vmm_hcall_site_at(&s, 1, 0, 0x20), 0x20);
    assert_int_equal(vmm_hcall_site_at(&s, 1, 0, 0x30), 0x34);
    /* 0xfc is not 16-aligned: not a site (a function would start at 0xf0) */
    assert_int_equal(vmm_hcall_site_at(&s, 1, 0, 0xfc), -1);
    put(0xf0, VMCALL, 3);
    text[0xf3] = 0xc3;
    memset(text + 0xf4, 0x90, 12);
    assert_int_equal(vmm_hcall_site_at(&s, 1, 0, 0xf0), 0xf0);

    uint8_t before[sizeof(text)];
    memcpy(before, text, sizeof(text));
    assert_int_equal(vmm_hcall_patch_segs(&s, 1), 5);
    static const size_t at[5] = { 0x00, 0x10, 0x20, 0x34, 0xf0 };
    for (int i = 0; i < 5; i++) {
        assert_memory_equal(text + at[i], ENTRY, 3);
        memcpy(before + at[i], ENTRY, 3);
    }
    assert_memory_equal(text, before, sizeof(text));  /* nothing else */
    /* patched sites are no sites any more: a second pass finds none */
    assert_int_equal(vmm_hcall_patch_segs(&s, 1), 0);
}

static void test_near_misses(void **state)
{
    (void)state;
    struct vmm_hcall_seg s = seg();
    reset();
    /* not function-aligned (inside some other function) */
    put(0x08, VMCALL, 3);
    text[0x0b] = 0xc3;
    /* KVM's own paravirt call: mov $5,%eax; vmcall; pop %rbx */
    static const uint8_t kvm[9] = { 0xb8, 5, 0, 0, 0, 0x0f, 0x01, 0xc1, 0x5b };
    put(0x10, kvm, sizeof(kvm));
    /* aligned, but not followed by a return (vmmcall; pushf) */
    put(0x20, VMMCALL, 3);
    text[0x23] = 0x9c;
    /* SEV's VMGEXIT (rep vmmcall); ret */
    static const uint8_t vmgexit[5] = { 0xf3, 0x0f, 0x01, 0xd9, 0xc3 };
    put(0x30, vmgexit, sizeof(vmgexit));
    /* another 0f 01 opcode (vmlaunch 0f 01 c2); ret */
    static const uint8_t vmlaunch[4] = { 0x0f, 0x01, 0xc2, 0xc3 };
    put(0x40, vmlaunch, sizeof(vmlaunch));
    /* jmp to a target outside every executable segment */
    put(0x50, VMCALL, 3);
    put_jmp(0x53, SEG_BASE + 0x100000);
    /* a return, then code instead of padding (mov %rdi,%rax) */
    put(0x60, VMCALL, 3);
    text[0x63] = 0xc3;
    static const uint8_t mov[3] = { 0x48, 0x89, 0xf8 };
    put(0x64, mov, 3);
    /* a NOP form that is not one (0f 1f /1) in the padding */
    put(0x70, VMMCALL, 3);
    text[0x73] = 0xc3;
    static const uint8_t badnop[3] = { 0x0f, 0x1f, 0x08 };
    put(0x74, badnop, 3);
    /* a long NOP running over the next function's start */
    put(0x80, VMMCALL, 3);
    text[0x83] = 0xc3;
    static const uint8_t longnop[8] = { 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 };
    memset(text + 0x84, 0x90, 5);
    put(0x89, longnop, 8);
    /* vmcall; jmp with a wild target (int3 bytes as its rel32) */
    put(0xf0, VMCALL, 3);
    text[0xf3] = 0xe9;

    uint8_t before[sizeof(text)];
    memcpy(before, text, sizeof(text));
    for (uint64_t off = 0; off < sizeof(text); off++)
        assert_int_equal(vmm_hcall_site_at(&s, 1, 0, off), -1);
    assert_int_equal(vmm_hcall_patch_segs(&s, 1), 0);
    assert_memory_equal(text, before, sizeof(text));

    /* a return cut by the segment's end: vmcall; e9 and 2 bytes */
    put_jmp(0xf3, SEG_BASE);
    struct vmm_hcall_seg cut = { text, SEG_BASE, 0xf6 };
    assert_int_equal(vmm_hcall_site_at(&s, 1, 0, 0xf0), 0xf0);  /* whole */
    assert_int_equal(vmm_hcall_site_at(&cut, 1, 0, 0xf0), -1);
}

/* A jmp into another executable segment (the return thunk elsewhere) is a
 * return; the alignment is the link address's, not the buffer's. */
static void test_two_segments(void **state)
{
    (void)state;
    static uint8_t other[64];
    memset(other, 0xcc, sizeof(other));
    reset();
    put(0x10, VMCALL, 3);
    put_jmp(0x13, SEG_BASE + 0x1000020);  /* into `other` */
    struct vmm_hcall_seg s[2] = {
        { text, SEG_BASE, sizeof(text) },
        { other, SEG_BASE + 0x1000000, sizeof(other) },
    };
    assert_int_equal(vmm_hcall_site_at(s, 1, 0, 0x10), -1);  /* alone */
    assert_int_equal(vmm_hcall_site_at(s, 2, 0, 0x10), 0x10);
    /* the same bytes at a link address 8 bytes off alignment */
    struct vmm_hcall_seg odd = { text, SEG_BASE + 8, sizeof(text) };
    assert_int_equal(vmm_hcall_site_at(&odd, 1, 0, 0x10), -1);
}

/* ---- ELF images: only executable PT_LOAD segments are touched ---- */

#define RAM_SIZE (64 * 1024)
static uint8_t ram[RAM_SIZE];

struct img {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[3];
    uint8_t data[3][64];
};

/* Three segments at 0x1000, 0x2000, 0x3000 (file and RAM), each holding
 * the same hypercall function at its start; flags of each given. */
static void make_img(struct img *im, const uint32_t flags[3])
{
    memset(im, 0, sizeof(*im));
    memcpy(im->eh.e_ident, ELFMAG, SELFMAG);
    im->eh.e_ident[EI_CLASS] = ELFCLASS64;
    im->eh.e_ident[EI_DATA] = ELFDATA2LSB;
    im->eh.e_machine = EM_X86_64;
    im->eh.e_phoff = offsetof(struct img, ph);
    im->eh.e_phentsize = sizeof(Elf64_Phdr);
    im->eh.e_phnum = 3;
    memset(ram, 0, sizeof(ram));
    for (int i = 0; i < 3; i++) {
        uint8_t *d = im->data[i];
        memset(d, 0xcc, 64);
        memcpy(d, VMCALL, 3);
        d[3] = 0xc3;
        im->ph[i] = (Elf64_Phdr){
            .p_type = PT_LOAD, .p_flags = flags[i],
            .p_offset = offsetof(struct img, data) + 64 * (size_t)i,
            .p_vaddr = 0xffffffff81000000ull + 0x1000 * (uint64_t)(i + 1),
            .p_paddr = 0x1000 * (uint64_t)(i + 1), .p_filesz = 64,
            .p_memsz = 128,
        };
        memcpy(ram + im->ph[i].p_paddr, d, 64);   /* as the loader does */
    }
}

static void test_elf_exec_only(void **state)
{
    (void)state;
    static struct img im;
    const uint32_t flags[3] = { PF_R | PF_X, PF_R | PF_W, PF_R };
    make_img(&im, flags);
    assert_int_equal(vmm_hcall_patch_elf(ram, RAM_SIZE, (uint8_t *)&im,
                                         sizeof(im)), 1);
    assert_memory_equal(ram + 0x1000, ENTRY, 3);
    assert_memory_equal(ram + 0x2000, VMCALL, 3);   /* data: untouched */
    assert_memory_equal(ram + 0x3000, VMCALL, 3);   /* read-only data */
    /* the image itself (the file's bytes) is never written */
    assert_memory_equal(im.data[0], VMCALL, 3);

    /* a PT_NOTE or other non-LOAD segment with X set is not scanned */
    const uint32_t all_x[3] = { PF_X, PF_X, PF_R | PF_W | PF_X };
    make_img(&im, all_x);
    im.ph[1].p_type = PT_NOTE;
    assert_int_equal(vmm_hcall_patch_elf(ram, RAM_SIZE, (uint8_t *)&im,
                                         sizeof(im)), 2);
    assert_memory_equal(ram + 0x2000, VMCALL, 3);
}

static void test_elf_malformed(void **state)
{
    (void)state;
    static struct img im;
    const uint32_t flags[3] = { PF_R | PF_X, PF_R | PF_X, PF_R | PF_X };
    make_img(&im, flags);
    uint8_t saved[RAM_SIZE];
    /* an executable segment beyond RAM: nothing patched */
    im.ph[2].p_paddr = RAM_SIZE - 32;
    memcpy(saved, ram, RAM_SIZE);
    assert_int_equal(vmm_hcall_patch_elf(ram, RAM_SIZE, (uint8_t *)&im,
                                         sizeof(im)), -ENOEXEC);
    assert_memory_equal(ram, saved, RAM_SIZE);
    /* program headers cut by the end of the file */
    make_img(&im, flags);
    assert_int_equal(vmm_hcall_patch_elf(ram, RAM_SIZE, (uint8_t *)&im,
                                         offsetof(struct img, ph[2])),
                     -ENOEXEC);
    /* not an ELF at all */
    assert_int_equal(vmm_hcall_patch_elf(ram, RAM_SIZE, text, sizeof(text)),
                     -ENOEXEC);
}

/* ---- KVM_EXIT_XEN into the hypercall layer ---- */

#define HV_TEST_PAGES 4
#define PAGES HV_TEST_PAGES
#include "hv_test_platform.h"

static const struct hv_platform_ops ops = {
    .gva_map = t_gva_map, .gfn_map = t_gfn_map,
};

struct fx {
    struct evtchn_host *h;
    struct hv_domain *d;
    struct kvm_run run;
};

static int setup(void **state)
{
    static struct fx f;
    f.h = hv_test_host(1, false);
    struct hv_domain_config hc = { .domid = 1, .max_vcpus = 1,
        .ram_pages = PAGES, .evtchn = f.h, .ops = &ops };
    f.d = hv_domain_create(&hc);
    assert_non_null(f.d);
    memset(&f.run, 0, sizeof(f.run));
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hv_domain_destroy(f->d);
    hv_test_host_destroy(f->h);
    return 0;
}

/* A KVM_EXIT_XEN_HCALL as KVM fills it. */
static void hcall(struct kvm_run *run, bool longmode, uint32_t cpl,
                  uint64_t input, uint64_t p0, uint64_t p1)
{
    memset(&run->xen, 0, sizeof(run->xen));
    run->exit_reason = KVM_EXIT_XEN;
    run->xen.type = KVM_EXIT_XEN_HCALL;
    run->xen.u.hcall.longmode = longmode;
    run->xen.u.hcall.cpl = cpl;
    run->xen.u.hcall.input = input;
    run->xen.u.hcall.params[0] = p0;
    run->xen.u.hcall.params[1] = p1;
    run->xen.u.hcall.result = 0x5a5a5a5a5a5a5a5aull;
}

static void test_xen_exit(void **state)
{
    struct fx *f = *state;
    struct kvm_run *run = &f->run;

    hcall(run, true, 0, __HYPERVISOR_xen_version, XENVER_version, 0);
    assert_int_equal(vmm_xen_hcall(f->d, 0, NULL, run), 0);
    assert_int_equal(run->xen.u.hcall.result,
                     (HV_XEN_MAJOR << 16) | HV_XEN_MINOR);

    /* a pointer argument: the struct comes back through guest memory */
    xen_feature_info_t fi = { .submap_idx = 0, .submap = 0 };
    memcpy(mem + 0x100, &fi, sizeof(fi));
    hcall(run, true, 0, __HYPERVISOR_xen_version, XENVER_get_features, 0x100);
    assert_int_equal(vmm_xen_hcall(f->d, 0, NULL, run), 0);
    assert_int_equal(run->xen.u.hcall.result, 0);
    memcpy(&fi, mem + 0x100, sizeof(fi));
    assert_true(fi.submap & (1u << XENFEAT_hvm_callback_vector));

    /* 64-bit: the whole of %rax is the number; a negative result as is */
    hcall(run, true, 0, (1ull << 32) | __HYPERVISOR_xen_version,
          XENVER_version, 0);
    assert_int_equal(vmm_xen_hcall(f->d, 0, NULL, run), 0);
    assert_int_equal((int64_t)run->xen.u.hcall.result, -ENOSYS);

    /* 32-bit: %eax only, and the result in 32 bits */
    hcall(run, false, 0, (1ull << 32) | __HYPERVISOR_xen_version,
          XENVER_version, 0);
    assert_int_equal(vmm_xen_hcall(f->d, 0, NULL, run), 0);
    assert_int_equal(run->xen.u.hcall.result,
                     (HV_XEN_MAJOR << 16) | HV_XEN_MINOR);
    hcall(run, false, 0, 63, 0, 0);
    assert_int_equal(vmm_xen_hcall(f->d, 0, NULL, run), 0);
    assert_int_equal(run->xen.u.hcall.result, (uint32_t)-ENOSYS);

    /* CPL from KVM's report: user mode gets -EPERM, as on Xen */
    hcall(run, true, 3, __HYPERVISOR_xen_version, XENVER_version, 0);
    assert_int_equal(vmm_xen_hcall(f->d, 0, NULL, run), 0);
    assert_int_equal((int64_t)run->xen.u.hcall.result, -EPERM);

    /* another KVM_EXIT_XEN type: refused, nothing served or written */
    struct hv_stats st0, st1;
    hv_get_stats(f->d, &st0);
    hcall(run, true, 0, __HYPERVISOR_xen_version, XENVER_version, 0);
    run->xen.type = KVM_EXIT_XEN_HCALL + 1;
    assert_int_equal(vmm_xen_hcall(f->d, 0, NULL, run), -EINVAL);
    assert_int_equal(run->xen.u.hcall.result, 0x5a5a5a5a5a5a5a5aull);
    hv_get_stats(f->d, &st1);
    assert_int_equal(st1.hypercalls, st0.hypercalls);
}

/* The capability check: KVM_CHECK_EXTENSION(KVM_CAP_XEN_HVM) answers a
 * flag set; only INTERCEPT_HCALL makes VMCALL/VMMCALL reach us. */
static void test_xen_cap(void **state)
{
    (void)state;
    assert_false(vmm_xen_hcall_usable(0));        /* no CONFIG_KVM_XEN */
    assert_false(vmm_xen_hcall_usable(-1));       /* the ioctl failed */
    assert_false(vmm_xen_hcall_usable(KVM_XEN_HVM_CONFIG_HYPERCALL_MSR));
    assert_true(vmm_xen_hcall_usable(KVM_XEN_HVM_CONFIG_HYPERCALL_MSR |
                                     KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL |
                                     KVM_XEN_HVM_CONFIG_SHARED_INFO));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_true_sites),
        cmocka_unit_test(test_near_misses),
        cmocka_unit_test(test_two_segments),
        cmocka_unit_test(test_elf_exec_only),
        cmocka_unit_test(test_elf_malformed),
        cmocka_unit_test_setup_teardown(test_xen_exit, setup, teardown),
        cmocka_unit_test(test_xen_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

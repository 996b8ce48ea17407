/*
 * A bare KVM VM for probes and baselines: the in-kernel irqchip, anonymous
 * RAM at guest-physical 0, one vCPU with the host's supported CPUID. The
 * interrupt-window probe (vmm_probe.c) and bench_pingpong's raw-KVM floor
 * both build one; domains are built by vmm_domain.c's steps instead.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm_int.h"

int vmm_raw_vm_create(int kvm_fd, size_t memsz, struct vmm_raw_vm *r)
{
    memset(r, 0, sizeof(*r));
    r->vm = r->vcpu = -1;
    r->mem = MAP_FAILED;
    r->run = MAP_FAILED;
    r->memsz = memsz;
    int rc = 0;
    struct kvm_cpuid2 *cp = NULL;
    r->vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (r->vm < 0)
        goto fail;
    /* Intel's real-mode TSS: anywhere outside RAM. */
    ioctl(r->vm, KVM_SET_TSS_ADDR, 0xfffbd000ul);
    if (ioctl(r->vm, KVM_CREATE_IRQCHIP, 0) < 0)
        goto fail;
    r->mem = mmap(NULL, memsz, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r->mem == MAP_FAILED)
        goto fail;
    struct kvm_userspace_memory_region mr = {
        .slot = 0, .memory_size = memsz,
        .userspace_addr = (uint64_t)(uintptr_t)r->mem };
    if (ioctl(r->vm, KVM_SET_USER_MEMORY_REGION, &mr) < 0)
        goto fail;
    r->vcpu = ioctl(r->vm, KVM_CREATE_VCPU, 0);
    int msz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (r->vcpu < 0 || msz <= 0)
        goto fail;
    r->run_size = (size_t)msz;
    r->run = mmap(NULL, r->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                  r->vcpu, 0);
    if (r->run == MAP_FAILED)
        goto fail;
    cp = calloc(1, sizeof(*cp) + 256 * sizeof(struct kvm_cpuid_entry2));
    if (!cp)
        goto fail;
    cp->nent = 256;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cp) < 0 ||
        ioctl(r->vcpu, KVM_SET_CPUID2, cp) < 0)
        goto fail;
    free(cp);
    return 0;
fail:
    rc = errno ? -errno : -ENOMEM;
    free(cp);
    vmm_raw_vm_destroy(r);
    return rc;
}

void vmm_raw_vm_destroy(struct vmm_raw_vm *r)
{
    if (r->run != MAP_FAILED && r->run)
        munmap(r->run, r->run_size);
    if (r->mem != MAP_FAILED && r->mem)
        munmap(r->mem, r->memsz);
    if (r->vcpu >= 0)
        close(r->vcpu);
    if (r->vm >= 0)
        close(r->vm);
    r->run = MAP_FAILED;
    r->mem = MAP_FAILED;
    r->vm = r->vcpu = -1;
}

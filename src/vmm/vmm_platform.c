/*
 * The platform hooks: what the event-channel core (struct
 * evtchn_platform_ops) and the hypercall layer (struct hv_platform_ops)
 * ask of the VMM, answered with its domains, vCPUs and guest memory.
 */
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <x86intrin.h>

#include <xen/hvm/hvm_vcpu.h>
#include <xen/sched.h>

#include "vmm_int.h"

static void *ec_map_gfn(void *opaque, domid_t dom, uint64_t gfn)
{
    struct vmm_domain *d = vmm_domain_find(opaque, dom);
    return d ? vmm_gfn_map(d, gfn) : NULL;
}

/* An upcall for vCPU vcpu was raised (vmm_irqwin.c delivers it). */
static void ec_kick_vcpu(void *opaque, domid_t dom, uint32_t vcpu)
{
    struct vmm_domain *d = vmm_domain_find(opaque, dom);
    if (d && vcpu < d->nr_vcpus)
        vmm_upcall_raise(d, vcpu);
}

static void *hvo_gva_map(void *vcpu, uint64_t gva, bool write)
{
    struct vmm_vcpu *v = vcpu;
    return vmm_gva_map(v->d, &v->run->s.regs.sregs, gva, write);
}

static void *hvo_gfn_map(void *dom, uint64_t gfn)
{
    return vmm_gfn_map(dom, gfn);
}

static int hvo_map_shared_info(void *dom, uint64_t gfn)
{
    return vmm_map_xenpage(dom, VMM_XP_SHINFO, gfn);
}

static int hvo_vcpu_initialise(void *dom, uint32_t id, const void *ctx)
{
    struct vmm_domain *d = dom;
    if (id >= d->nr_vcpus)
        return -ENOENT;
    pthread_mutex_lock(&d->lock);
    int rc = 0;
    if (d->vcpus[id].initialised)
        rc = -EEXIST;
    else {
        memcpy(d->vcpus[id].ctx, ctx, sizeof(struct vcpu_hvm_context));
        d->vcpus[id].ctx_valid = true;
        d->vcpus[id].initialised = true;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int hvo_vcpu_up(void *dom, uint32_t id)
{
    struct vmm_domain *d = dom;
    if (id >= d->nr_vcpus)
        return -ENOENT;
    struct vmm_vcpu *v = &d->vcpus[id];
    pthread_mutex_lock(&d->lock);
    int rc = 0;
    if (!v->initialised)
        rc = -EINVAL;               /* Xen: VCPUOP_up needs a context */
    else if (atomic_load(&v->down)) {
        /* Xen clears _VPF_down: a parked vCPU resumes where it stopped,
         * an AP that never ran starts; a new VCPUOP_initialise context
         * is loaded. */
        v->up = true;
        vmm_down_set(v, false);
        vmm_vcpu_request(v, VMM_REQ_LOAD);
        pthread_cond_broadcast(&d->vcpu_cv);
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* VCPUOP_down: the vCPU stops running until VCPUOP_up (Xen sets
 * _VPF_down). A vCPU may take itself down; its thread parks after the
 * hypercall returns. Events meanwhile stay pending in its LAPIC. The last
 * vCPU going down powers the domain off (vmm_down_set). */
static int hvo_vcpu_down(void *dom, uint32_t id)
{
    struct vmm_domain *d = dom;
    if (id >= d->nr_vcpus)
        return -ENOENT;
    struct vmm_vcpu *v = &d->vcpus[id];
    pthread_mutex_lock(&d->lock);
    bool was_up = v->up;
    v->up = false;
    if (was_up)
        vmm_vcpu_request(v, VMM_REQ_PARK);
    pthread_mutex_unlock(&d->lock);
    vmm_down_set(v, true);
    return 0;
}

static int hvo_vcpu_is_up(void *dom, uint32_t id)
{
    struct vmm_domain *d = dom;
    return !atomic_load(&d->vcpus[id].down);
}

static void hvo_shutdown(void *dom, unsigned int reason)
{
    struct vmm_domain *d = dom;
    /* The guest's own SCHEDOP_shutdown: a crash reason counts as a crash
     * for the exit status, but it is reported as a shutdown. */
    int expect = VMM_RUNNING;
    if (atomic_compare_exchange_strong(&d->outcome, &expect,
            (int)(reason == SHUTDOWN_crash ? VMM_CRASHED : VMM_SHUTDOWN))) {
        d->shutdown_reason = reason;
        vmm_log(d, "shut down (%s)", vmm_shutdown_name(reason));
    }
    vmm_domain_stop(d);
}

static void hvo_assert_upcall(void *dom, uint32_t vcpu)
{
    struct vmm_domain *d = dom;
    if (vcpu < d->nr_vcpus)
        vmm_upcall_raise(d, vcpu);
}

static void hvo_console_write(void *dom, const char *buf, size_t len)
{
    struct vmm_domain *d = dom;
    be_console_write(d->con.be, buf, len);
}

/* pvclock's TSC (hv_time.c): KVM_GET_TSC_KHZ, and the offset KVM adds to
 * the host's TSC (KVM_VCPU_TSC_OFFSET, Linux 5.16+; else guest minus host
 * TSC read around KVM_GET_MSRS). KVM gives the vCPUs it creates together
 * one offset, so the calling vCPU's is the domain's. */
static int hvo_tsc_info(void *dom, void *vcpu, uint32_t *khz, int64_t *offset)
{
    struct vmm_vcpu *v = vcpu;
    (void)dom;
    int r = ioctl(v->fd, KVM_GET_TSC_KHZ);
    if (r <= 0)
        return r < 0 ? -errno : -ENODEV;
    *khz = (uint32_t)r;
    uint64_t off;
    struct kvm_device_attr a = { .group = KVM_VCPU_TSC_CTRL,
        .attr = KVM_VCPU_TSC_OFFSET, .addr = (uint64_t)(uintptr_t)&off };
    if (ioctl(v->fd, KVM_GET_DEVICE_ATTR, &a) == 0) {
        *offset = (int64_t)off;
        return 0;
    }
    uint64_t buf[(sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)) /
                 sizeof(uint64_t)] = { 0 };
    struct kvm_msrs *m = (struct kvm_msrs *)buf;
    m->nmsrs = 1;
    m->entries[0].index = 0x10;           /* IA32_TIME_STAMP_COUNTER */
    uint64_t t0 = __rdtsc();
    if (ioctl(v->fd, KVM_GET_MSRS, m) != 1)
        return -EIO;
    uint64_t t1 = __rdtsc();
    *offset = (int64_t)(m->entries[0].data - (t0 + (t1 - t0) / 2));
    return 0;
}

static int hvo_physmap_remove(void *dom, uint64_t gfn, bool ram_only)
{
    return vmm_mem_physmap_remove(dom, gfn, ram_only);
}

static int hvo_physmap_populate(void *dom, uint64_t gfn)
{
    return vmm_mem_physmap_populate(dom, gfn);
}

const struct hv_platform_ops vmm_hv_ops = {
    .gva_map = hvo_gva_map,
    .gfn_map = hvo_gfn_map,
    .map_shared_info = hvo_map_shared_info,
    .vcpu_initialise = hvo_vcpu_initialise,
    .vcpu_up = hvo_vcpu_up,
    .vcpu_down = hvo_vcpu_down,
    .vcpu_is_up = hvo_vcpu_is_up,
    .shutdown = hvo_shutdown,
    .console_write = hvo_console_write,
    .assert_upcall = hvo_assert_upcall,
    .tsc_info = hvo_tsc_info,
    .physmap_remove = hvo_physmap_remove,
    .physmap_populate = hvo_physmap_populate,
};

/* ---- the grant-table core's hooks ---- */

static int gto_map_frame(void *dom, uint32_t page, uint64_t gfn)
{
    return vmm_map_xenpage(dom, VMM_XP_GNTTAB + page, gfn);
}

/* Grant entries name RAM frames only (Xen refuses a grant of its own
 * pages, and of the special pages: they are not the guest's to give). */
static void *gto_gfn_map(void *dom, uint64_t gfn)
{
    struct vmm_domain *d = dom;
    return gfn < d->ram_size / VMM_PAGE ? vmm_gfn_map(d, gfn) : NULL;
}

const struct gnttab_ops vmm_gnttab_ops = {
    .gfn_map = gto_gfn_map,
    .map_frame = gto_map_frame,
};

void vmm_evtchn_ops(struct evtchn_platform_ops *ops)
{
    memset(ops, 0, sizeof(*ops));
    ops->map_gfn = ec_map_gfn;
    ops->kick_vcpu = ec_kick_vcpu;
}

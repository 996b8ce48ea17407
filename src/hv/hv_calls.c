/*
 * The hypercall handlers. Each validates every guest value before changing
 * any state and returns what Xen returns (xen/common/kernel.c, memory.c,
 * domain.c, sched/core.c, event_channel.c, arch/x86/hvm/hvm.c).
 */
#include <stdint.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include <xen/features.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/hvm_vcpu.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/trace.h>
#include <xen/vcpu.h>
#include <xen/version.h>

#include "hv_int.h"
#include "xenkvm/gnttab.h"

/* ---- xen_version ---- */

long hv_do_xen_version(struct hv_ctx *c, const uint64_t *a)
{
    unsigned int cmd = (unsigned int)a[0];
    uint64_t arg = a[1];
    switch (cmd) {
    case XENVER_version:
        return (HV_XEN_MAJOR << 16) | HV_XEN_MINOR;
    case XENVER_extraversion: {
        xen_extraversion_t v = ".0-xenkvm";
        return copy_out(c, arg, v, sizeof(v));
    }
    case XENVER_compile_info: {
        struct xen_compile_info ci;
        memset(&ci, 0, sizeof(ci));
        snprintf(ci.compiler, sizeof(ci.compiler), "gcc");
        snprintf(ci.compile_by, sizeof(ci.compile_by), "xenkvm");
        snprintf(ci.compile_domain, sizeof(ci.compile_domain), "xenkvm");
        snprintf(ci.compile_date, sizeof(ci.compile_date), "%s", __DATE__);
        return copy_out(c, arg, &ci, sizeof(ci));
    }
    case XENVER_capabilities: {
        xen_capabilities_info_t caps;
        memset(caps, 0, sizeof(caps));
        snprintf(caps, sizeof(caps), "hvm-3.0-x86_64 hvm-3.0-x86_32");
        return copy_out(c, arg, caps, sizeof(caps));
    }
    case XENVER_changeset: {
        xen_changeset_info_t cs;
        memset(cs, 0, sizeof(cs));
        snprintf(cs, sizeof(cs), "xenkvm");
        return copy_out(c, arg, cs, sizeof(cs));
    }
    case XENVER_platform_parameters: {
        /* HVM guests own their whole address space: no hole for Xen. */
        struct xen_platform_parameters pp = { .virt_start = 0 };
        return hv_arg_out(c, HV_XL(xen_platform_parameters), arg, &pp);
    }
    case XENVER_get_features: {
        struct xen_feature_info fi;
        if (copy_in(c, &fi, arg, sizeof(fi)))
            return -EFAULT;
        if (fi.submap_idx >= XENFEAT_NR_SUBMAPS)
            return -EINVAL;
        if (fi.submap_idx == 0)
            /* What we really give an HVM/PVH guest: it manages its own
             * page tables over a translated physmap and takes the upcall
             * as a vector; Xen's clock and timers where the platform
             * told us the guest TSC (hv_time.c). */
            fi.submap = (1u << XENFEAT_writable_page_tables) |
                        (1u << XENFEAT_auto_translated_physmap) |
                        (1u << XENFEAT_hvm_callback_vector) |
                        (hv_time_pvclock(c) ?
                         1u << XENFEAT_hvm_safe_pvclock : 0);
        return copy_out(c, arg, &fi, sizeof(fi));
    }
    case XENVER_pagesize:
        return 4096;
    case XENVER_guest_handle: {
        xen_domain_handle_t h;
        memset(h, 0, sizeof(h));
        h[15] = (uint8_t)c->d->domid;
        h[14] = (uint8_t)(c->d->domid >> 8);
        return copy_out(c, arg, h, sizeof(h));
    }
    case XENVER_commandline:
    case XENVER_build_id:
        return -EPERM;    /* Xen's dummy XSM: privileged domains only */
    default:
        hv_log_subop_enosys(c, cmd);
        return -ENOSYS;
    }
}

/* ---- hvm_op ---- */

long hv_do_hvm_op(struct hv_ctx *c, const uint64_t *a)
{
    unsigned int op = (unsigned int)a[0];
    uint64_t arg = a[1];
    struct hv_domain *d = c->d;
    switch (op) {
    case HVMOP_set_param:
    case HVMOP_get_param: {
        struct xen_hvm_param p;
        if (copy_in(c, &p, arg, sizeof(p)))
            return -EFAULT;
        /* Xen checks the index before looking the domain up */
        if (p.index >= HVM_NR_PARAMS)
            return -EINVAL;
        int rc = self_domid(c, p.domid);
        if (rc)
            return rc;
        if (op == HVMOP_get_param) {
            hv_get_param(d, p.index, &p.value);
            return copy_out(c, arg, &p, sizeof(p));
        }
        /* A guest may only set its callback; the rest belong to the
         * toolstack (Xen's hvm_allow_set_param). */
        if (p.index != HVM_PARAM_CALLBACK_IRQ)
            return -EPERM;
        uint64_t type = p.value >> 56;
        if (type == HVM_PARAM_CALLBACK_TYPE_VECTOR && (p.value & 0xff) < 0x10)
            return -EINVAL;
        if (p.value && type != HVM_PARAM_CALLBACK_TYPE_VECTOR)
            hv_log(d, "callback type %llu accepted but not delivered "
                   "(only the vector type is)", (unsigned long long)type);
        pthread_mutex_lock(&d->lock);
        __atomic_store_n(&d->params[p.index], p.value, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&d->lock);
        hv_latch_shinfo(d, c->call->long_mode);  /* as Xen's hvm_set_param */
        /* Xen's hvm_set_callback_via: assert the new vector on every vCPU */
        if (type == HVM_PARAM_CALLBACK_TYPE_VECTOR && d->ops.assert_upcall)
            for (uint32_t i = 0; i < d->max_vcpus; i++)
                d->ops.assert_upcall(d->opaque, i);
        return 0;
    }
    case HVMOP_pagetable_dying: {
        /* Only shadow paging cares; with hardware paging (HAP, as KVM's
         * EPT/NPT) Xen answers -EINVAL, which Linux takes as "not
         * supported" once at boot. */
        struct xen_hvm_pagetable_dying p;
        if (copy_in(c, &p, arg, sizeof(p)))
            return -EFAULT;
        int rc = self_domid(c, p.domid);
        return rc == -EPERM ? -EOPNOTSUPP : rc ? rc : -EINVAL;
    }
    case HVMOP_get_time: {
        struct xen_hvm_get_time t = { .now = hv_time_now(d) };
        return copy_out(c, arg, &t, sizeof(t)) ? -EFAULT : 0;
    }
    case HVMOP_xentrace: {
        /* Checked, then dropped: Xen's trace buffers are off unless the
         * host turned them on, and ours do not exist. */
        struct xen_hvm_xentrace tr;
        if (copy_in(c, &tr, arg, sizeof(tr)))
            return -EFAULT;
        if (tr.extra_bytes > sizeof(tr.extra) ||
            (tr.event & ~((1u << TRC_SUBCLS_SHIFT) - 1)))
            return -EINVAL;
        return 0;
    }
    case HVMOP_guest_request_vm_event:
        /* Without a monitor (none here) the request goes nowhere. */
        return arg ? -EINVAL : 0;
    case HVMOP_altp2m:
        /* Xen's do_altp2m_op: altp2m is off unless the host boots with
         * altp2m=1; -EOPNOTSUPP before the struct is read. */
        hv_log_refusal(c, op, -EOPNOTSUPP);
        return -EOPNOTSUPP;
    case HVMOP_get_mem_type: {
        struct xen_hvm_get_mem_type m;
        if (copy_in(c, &m, arg, sizeof(m)))
            return -EFAULT;
        int rc = self_domid(c, m.domid);
        if (rc)
            return rc;
        /* RAM is read/write; everything else is what Xen calls MMIO for
         * the device model (holes included). */
        m.mem_type = d->ops.gfn_map && d->ops.gfn_map(d->opaque, m.pfn) ?
                     HVMMEM_ram_rw : HVMMEM_mmio_dm;
        return copy_out(c, arg, &m, sizeof(m)) ? -EFAULT : 0;
    }
    case HVMOP_set_evtchn_upcall_vector: {
        struct xen_hvm_evtchn_upcall_vector u;
        if (copy_in(c, &u, arg, sizeof(u)))
            return -EFAULT;
        if (u.vector < 0x10)
            return -EINVAL;
        if (u.vcpu >= d->max_vcpus)
            return -ENOENT;
        __atomic_store_n(&d->vcpus[u.vcpu].upcall_vector, u.vector,
                         __ATOMIC_RELAXED);
        /* As Xen: inject it once now, so an event that became pending
         * before the vector existed is delivered. */
        if (d->ops.assert_upcall)
            d->ops.assert_upcall(d->opaque, u.vcpu);
        return 0;
    }
    default:
        hv_log_subop_enosys(c, op);
        return -ENOSYS;
    }
}

/* ---- vcpu_op ---- */

long hv_do_vcpu_op(struct hv_ctx *c, const uint64_t *a)
{
    unsigned int cmd = (unsigned int)a[0];
    uint64_t vid = a[1], arg = a[2];
    struct hv_domain *d = c->d;
    if (vid >= d->max_vcpus)
        return -ENOENT;
    uint32_t id = (uint32_t)vid;
    switch (cmd) {
    case VCPUOP_register_vcpu_info: {
        /* Xen's map_vcpu_info. The core updates vcpu_info with locked
         * read-modify-writes: a struct that straddles the page or is not
         * naturally aligned (split locks) is refused with -ENXIO. */
        struct vcpu_register_vcpu_info r;
        if (copy_in(c, &r, arg, sizeof(r)))
            return -EFAULT;
        if (r.offset > 4096 - sizeof(struct vcpu_info) ||
            r.offset % _Alignof(struct vcpu_info)) {
            hv_log(d, "dom%u vcpu%u: register_vcpu_info offset %#x misplaced",
                   d->domid, c->vcpu_id, r.offset);
            return -ENXIO;
        }
        /* Only on yourself or on a vCPU that is down (Xen: -EINVAL). */
        if (id != c->vcpu_id &&
            (!d->ops.vcpu_is_up || d->ops.vcpu_is_up(d->opaque, id) != 0))
            return -EINVAL;
        uint8_t *page = d->ops.gfn_map ? d->ops.gfn_map(d->opaque, r.mfn) :
                        NULL;
        if (!page)
            return -EINVAL;
        /* Only once per vCPU: claim it in the same lock hold as the test,
         * so two racing calls cannot both pass. */
        pthread_mutex_lock(&d->lock);
        bool again = d->vcpus[id].info_registered;
        d->vcpus[id].info_registered = true;
        pthread_mutex_unlock(&d->lock);
        if (again)
            return -EINVAL;
        struct vcpu_info *vi = (struct vcpu_info *)(page + r.offset);
        int rc = evtchn_vcpu_set_info(d->evtchn, d->domid, id, vi);
        pthread_mutex_lock(&d->lock);
        if (rc)
            d->vcpus[id].info_registered = false;   /* give the claim back */
        else
            /* Atomic: hv_upcall_outstanding reads it without the lock. */
            __atomic_store_n(&d->vcpus[id].info, vi, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&d->lock);
        if (rc == 0)
            hv_time_fill_info(c, vi);   /* also past shared_info's slots */
        return rc;
    }
    case VCPUOP_initialise: {
        struct vcpu_hvm_context ctx;
        if (copy_in(c, &ctx, arg, sizeof(ctx)))
            return -EFAULT;
        if (ctx.mode != VCPU_HVM_MODE_32B && ctx.mode != VCPU_HVM_MODE_64B)
            return -EINVAL;
        return d->ops.vcpu_initialise ?
               d->ops.vcpu_initialise(d->opaque, id, &ctx) : -ENOSYS;
    }
    case VCPUOP_up:
    case VCPUOP_down: {
        bool up = cmd == VCPUOP_up;
        int (*fn)(void *, uint32_t) = up ? d->ops.vcpu_up : d->ops.vcpu_down;
        int rc = fn ? fn(d->opaque, id) : -ENOSYS;
        if (rc == 0)
            hv_time_vcpu_online(d, id, up);     /* runstate offline/running */
        return rc;
    }
    case VCPUOP_is_up:
        return d->ops.vcpu_is_up ? d->ops.vcpu_is_up(d->opaque, id) : -ENOSYS;
    case VCPUOP_get_physid:
        /* Xen: only a hardware domain's pinned vCPUs have a physical CPU */
        hv_log_refusal(c, cmd, -EINVAL);
        return -EINVAL;
    case VCPUOP_set_singleshot_timer:
    case VCPUOP_stop_singleshot_timer:
    case VCPUOP_set_periodic_timer:
    case VCPUOP_stop_periodic_timer:
    case VCPUOP_register_runstate_memory_area:
    case VCPUOP_get_runstate_info:
    case VCPUOP_register_vcpu_time_memory_area:
        return hv_time_vcpu_op(c, cmd, id, arg);
    default:
        hv_log_subop_enosys(c, cmd);
        return -ENOSYS;
    }
}

/* ---- event_channel_op: all of it is the core's ---- */

static int evtchn_op(struct hv_ctx *c, unsigned int cmd, void *buf)
{
    return evtchn_do_op(c->d->evtchn, c->d->domid, c->vcpu_id, cmd, buf);
}

long hv_do_event_channel_op(struct hv_ctx *c, const uint64_t *a)
{
    unsigned int cmd = (unsigned int)a[0];
    return hv_struct_op(c, cmd, a[1], evtchn_op_arg_size(cmd),
                        evtchn_op_copies_back(cmd), evtchn_op);
}

/* ---- sched_op ---- */

long hv_do_sched_op(struct hv_ctx *c, const uint64_t *a)
{
    unsigned int cmd = (unsigned int)a[0];
    uint64_t arg = a[1];
    switch (cmd) {
    case SCHEDOP_yield:
        sched_yield();
        return 0;
    case SCHEDOP_block:
        return hv_block(c);
    case SCHEDOP_shutdown: {
        struct sched_shutdown s;
        if (copy_in(c, &s, arg, sizeof(s)))
            return -EFAULT;
        /* Xen accepts any reason up to SHUTDOWN_MAX. */
        if (s.reason > SHUTDOWN_MAX)
            return -EINVAL;
        /* An earlier SCHEDOP_shutdown_code wins (Xen's domain_shutdown). */
        int code = atomic_load(&c->d->shutdown_code);
        if (c->d->ops.shutdown)
            c->d->ops.shutdown(c->d->opaque,
                               code >= 0 ? (unsigned int)code : s.reason);
        return 0;
    }
    case SCHEDOP_shutdown_code: {
        /* The reason the next shutdown reports; only the first one set
         * counts (Xen: shutdown_code stays once set). */
        struct sched_shutdown s;
        if (copy_in(c, &s, arg, sizeof(s)))
            return -EFAULT;
        if (s.reason > SHUTDOWN_MAX)
            return -EINVAL;
        int unset = -1;
        atomic_compare_exchange_strong(&c->d->shutdown_code, &unset,
                                       (int)s.reason);
        return 0;
    }
    case SCHEDOP_pin_override:
        /* Xen: the hardware domain's alone, before the struct is read */
        hv_log_refusal(c, cmd, -EPERM);
        return -EPERM;
    case SCHEDOP_poll: {
        struct sched_poll p;    /* i386: 16 bytes, a 4-byte handle */
        if (hv_arg_in(c, HV_XL(sched_poll), &p, arg))
            return -EFAULT;
        if (p.nr_ports > 128)
            return -EINVAL;
        evtchn_port_t ports[128];
        if (p.nr_ports &&
            copy_in(c, ports, GUEST_PTR(p.ports), p.nr_ports * sizeof(ports[0])))
            return -EFAULT;
        /* Xen's do_poll: every port must be valid for the domain's ABI
         * (4096 on 2-level), else -EINVAL before blocking. */
        for (unsigned int i = 0; i < p.nr_ports; i++)
            if (!evtchn_port_valid(c->d->evtchn, c->d->domid, ports[i]))
                return -EINVAL;
        /* The timeout is in the guest's system time (hv_time.c). */
        return hv_poll(c, ports, p.nr_ports,
                       p.timeout ? hv_time_to_mono(c->d, p.timeout) : 0);
    }
    case SCHEDOP_remote_shutdown: {
        /* Xen: look the target up (-ESRCH), then XSM_DM_PRIV (-EPERM) */
        struct sched_remote_shutdown r;
        if (copy_in(c, &r, arg, sizeof(r)))
            return -EFAULT;
        if (r.domain_id >= DOMID_FIRST_RESERVED ||
            !evtchn_domain_shared_info(c->d->evtchn, r.domain_id))
            return -ESRCH;
        return -EPERM;
    }
    default:
        hv_log_subop_enosys(c, cmd);
        return -ENOSYS;
    }
}

/* ---- console_io ---- */

/* Per-domain token bucket: 64 KiB burst, refilled at 32 KiB/s. Bytes over
 * the limit are dropped (and counted), as Xen's guest console drops. The
 * VMM's PV console ring draws on the same bucket (xenkvm/hv.h). */
size_t hv_console_allow(struct hv_domain *d, size_t want)
{
    pthread_mutex_lock(&d->lock);
    uint64_t now = hv_now_ns();
    d->con_tokens += (double)(now - d->con_last_ns) * 32768.0 / 1e9;
    if (d->con_tokens > 65536)
        d->con_tokens = 65536;
    d->con_last_ns = now;
    size_t ok = want;
    if ((double)ok > d->con_tokens)
        ok = (size_t)d->con_tokens;
    d->con_tokens -= (double)ok;
    pthread_mutex_unlock(&d->lock);
    if (ok < want)
        atomic_fetch_add(&d->n_con_dropped, want - ok);
    return ok;
}

long hv_do_console_io(struct hv_ctx *c, const uint64_t *a)
{
    unsigned int cmd = (unsigned int)a[0];
    uint64_t count = a[1], buf = a[2];
    switch (cmd) {
    case CONSOLEIO_write: {
        char tmp[512];
        while (count) {
            size_t n = count < sizeof(tmp) ? (size_t)count : sizeof(tmp);
            if (copy_in(c, tmp, buf, n))
                return -EFAULT;
            size_t ok = hv_console_allow(c->d, n);
            if (ok && c->d->ops.console_write)
                c->d->ops.console_write(c->d->opaque, tmp, ok);
            if (ok < n) {
                /* Bucket empty: the rest is dropped unread, which also
                 * bounds the work one call can cause. */
                atomic_fetch_add(&c->d->n_con_dropped, count - n);
                return 0;
            }
            buf += n;
            count -= n;
        }
        return 0;
    }
    case CONSOLEIO_read:
        return -EPERM;          /* only the hardware domain reads */
    default:
        hv_log_subop_enosys(c, cmd);
        return -ENOSYS;
    }
}

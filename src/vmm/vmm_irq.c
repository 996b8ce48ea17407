/*
 * Host interrupts in the VMM (issue 5, docs/irq.md "Wiring into the VMM"):
 * the ICU with the host file's lines, the Xen PIRQ router behind the
 * event-channel core's PIRQ hooks and __HYPERVISOR_physdev_op, the ICU's
 * epoll fd on the dom0 services' event loop, and per domain its grants
 * (irqs=), its host MMIO (iomem=, KVM memslots over a file or UIO map) and
 * its IOAPIC pins (KVM irqfd + resamplefd). At a domain's death every line
 * it held is released, an in-flight interrupt counting as EOI'd (XSA-360
 * class).
 */
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm_int.h"

#define VMM_IRQ_DEFAULT_LINES 16
#define VMM_IOAPIC_PINS       24      /* KVM's in-kernel IOAPIC */

/* The router maps the guest's EOI bitmap page (pirq_eoi_gmfn_v2): RAM only. */
static void *pirq_map_gfn(void *opaque, domid_t dom, uint64_t gfn)
{
    struct vmm_host *h = opaque;
    if (dom == 0 || dom >= VMM_MAX_DOMAINS)
        return NULL;
    struct vmm_domain *d = __atomic_load_n(&h->domains[dom], __ATOMIC_ACQUIRE);
    if (!d) {
        /* During vmm_domain_create the entry is not published yet; the
         * guest cannot run then, so nothing maps. */
        return NULL;
    }
    return gfn < d->ram_size / VMM_PAGE ? d->ram + gfn * VMM_PAGE : NULL;
}

/* ---- the ICU on the event loop ---- */

/* The ICU's epoll fd is readable (level-triggered: called again while
 * anything is ready). Bounded work per call is the ICU's (at most one
 * raise per line per irq_icu_process call), so a flooding source cannot
 * starve the other lines nor the loop's other services; guests are served
 * on their own vCPU threads anyway. */
static void irq_ready(void *arg, uint32_t events)
{
    (void)events;
    struct vmm_host *h = arg;
    int rc = irq_icu_process(h->icu, 0);
    if (rc < 0 && rc != -EINTR) {
        fprintf(stderr, "xenkvm: irq loop: %s; host interrupts stop\n",
                strerror(-rc));
        util_loop_del(h->loop, irq_icu_epoll_fd(h->icu));
    }
}

int vmm_irq_init(struct vmm_host *h, char *err, size_t errlen)
{
    int rc;
    if (h->cfg.icu) {
        h->icu = h->cfg.icu;
        h->cfg.icu = NULL;
    } else if (h->cfg.irq_host) {
        char *msg = NULL;
        size_t len = 0;
        FILE *rep = open_memstream(&msg, &len);
        if (!rep) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        rc = config_host_apply(h->cfg.irq_host, &h->icu, rep);
        fclose(rep);
        if (rc < 0) {
            /* one line: the report's first */
            char *nl = msg ? strchr(msg, '\n') : NULL;
            if (nl)
                *nl = '\0';
            snprintf(err, errlen, "host interrupts: %s",
                     msg && *msg ? msg : strerror(-rc));
            free(msg);
            return rc;
        }
        free(msg);
    } else {
        h->icu = irq_icu_create(VMM_IRQ_DEFAULT_LINES);
        if (!h->icu) {
            snprintf(err, errlen, "cannot create the interrupt controller: %s",
                     strerror(errno));
            return -errno;
        }
    }
    if (h->cfg.irq_host) {
        const struct config_host *c = h->cfg.irq_host;
        if (c->nr_mmio) {
            h->mmio = calloc(c->nr_mmio, sizeof(*h->mmio));
            if (!h->mmio) {
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
            }
            memcpy(h->mmio, c->mmio, c->nr_mmio * sizeof(*h->mmio));
            h->nr_mmio = c->nr_mmio;
        }
        h->cfg.irq_host = NULL;     /* not ours to keep */
    }
    h->pirq = irq_pirq_create(h->icu, h->evtchn, pirq_map_gfn, h);
    if (!h->pirq) {
        snprintf(err, errlen, "cannot create the PIRQ router: %s",
                 strerror(errno));
        return -ENOMEM;
    }
    rc = util_loop_add(h->loop, irq_icu_epoll_fd(h->icu), EPOLLIN, irq_ready,
                       h);
    if (rc) {
        snprintf(err, errlen, "cannot put the interrupt controller on the "
                 "event loop: %s", strerror(-rc));
        return rc;
    }
    return 0;
}

/* Take the ICU off the loop (before domains go away): when it returns,
 * irq_ready is not running and will not run again. */
void vmm_irq_stop(struct vmm_host *h)
{
    if (h->icu && h->loop)
        util_loop_del(h->loop, irq_icu_epoll_fd(h->icu));   /* or -ENOENT */
}

/* After every domain is freed. */
void vmm_irq_fini(struct vmm_host *h)
{
    vmm_irq_stop(h);
    irq_pirq_destroy(h->pirq);
    h->pirq = NULL;
    if (h->icu)
        irq_icu_destroy(h->icu);
    h->icu = NULL;
    if (h->cfg.icu)                 /* given, but never taken over */
        irq_icu_destroy(h->cfg.icu);
    h->cfg.icu = NULL;
    free(h->mmio);
    h->mmio = NULL;
}

struct irq_icu *vmm_host_icu(struct vmm_host *h)
{
    return h->icu;
}

struct irq_pirq *vmm_host_pirq(struct vmm_host *h)
{
    return h->pirq;
}

/* ---- per domain ---- */

static const struct config_host_mmio *mmio_find(struct vmm_host *h, uint64_t pfn,
                                             uint64_t nr)
{
    for (unsigned int i = 0; i < h->nr_mmio; i++) {
        const struct config_host_mmio *m = &h->mmio[i];
        if (pfn >= m->pfn && pfn - m->pfn < m->nr && nr <= m->nr - (pfn - m->pfn))
            return m;
    }
    return NULL;
}

/* Size of UIO map idx of /dev/uioN, from sysfs; 0 if unknown. */
static uint64_t uio_map_size(const char *dev, unsigned int idx)
{
    const char *base = strrchr(dev, '/');
    char path[192];
    snprintf(path, sizeof(path), "/sys/class/uio/%s/maps/map%u/size",
             base ? base + 1 : dev, idx);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llx", &v) != 1)
        v = 0;
    fclose(f);
    return v;
}

/* Guest frames an iomem= range may not cover: RAM, and the window from the
 * IOAPIC up to the end of the special pages (IOAPIC, LAPIC, Intel's TSS and
 * identity-map pages, our special pages). */
static bool gfn_range_free(struct vmm_domain *d, uint64_t gfn, uint64_t nr)
{
    uint64_t ram = d->ram_size / VMM_PAGE;
    uint64_t lo = 0xfec00000ull / VMM_PAGE;
    uint64_t hi = (VMM_SPECIAL_GPA + VMM_SPECIAL_PAGES * VMM_PAGE) / VMM_PAGE;
    if (gfn < ram)
        return false;
    if (gfn < hi && gfn + nr > lo)
        return false;
    for (unsigned int i = 0; i < d->nr_iomem; i++)
        if (gfn < d->iomem[i].gfn + d->iomem[i].nr &&
            d->iomem[i].gfn < gfn + nr)
            return false;
    return gfn + nr <= (1ull << (46 - 12));    /* below KVM's usual MAXPHYADDR */
}

static int map_iomem(struct vmm_domain *d, const struct config_iomem *io,
                     char *err, size_t errlen)
{
    struct vmm_host *h = d->h;
    const struct config_host_mmio *m = mmio_find(h, io->pfn, io->nr);
    if (!m) {
        snprintf(err, errlen, "domain '%s': iomem %llx,%llx: host frames not "
                 "backed by an mmio= entry of the host file (--irq-config)",
                 d->name, (unsigned long long)io->pfn,
                 (unsigned long long)io->nr);
        return -EPERM;
    }
    if (!gfn_range_free(d, io->gfn, io->nr)) {
        snprintf(err, errlen, "domain '%s': iomem %llx,%llx@%llx: guest frames "
                 "overlap RAM, the IOAPIC/LAPIC/special window or another "
                 "iomem range", d->name, (unsigned long long)io->pfn,
                 (unsigned long long)io->nr, (unsigned long long)io->gfn);
        return -EINVAL;
    }
    /* Map from the start of the backing through the last page needed: a
     * UIO map can only be mmap'd from its beginning. */
    uint64_t skip = (io->pfn - m->pfn) * VMM_PAGE;
    size_t len = (size_t)(skip + io->nr * VMM_PAGE);
    int fd = open(m->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "domain '%s': iomem: cannot open %s: %s", d->name,
                 m->path, strerror(errno));
        return -errno;
    }
    off_t off = 0;
    uint64_t have;
    if (m->uio) {
        off = (off_t)m->uio_map * (off_t)sysconf(_SC_PAGESIZE);
        have = uio_map_size(m->path, m->uio_map);
    } else {
        struct stat st;
        have = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    if (have < len) {
        /* Touching a file page past its end would SIGBUS the vCPU thread. */
        snprintf(err, errlen, "domain '%s': iomem %llx,%llx: %s%s has %llu "
                 "bytes, %zu needed", d->name, (unsigned long long)io->pfn,
                 (unsigned long long)io->nr, m->path, m->uio ? " (UIO map)" : "",
                 (unsigned long long)have, len);
        close(fd);
        return -EINVAL;
    }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "domain '%s': iomem: mmap %s: %s", d->name,
                 m->path, strerror(e));
        return -e;
    }
    uint32_t slot;
    e = -vmm_mem_slot_add(d, io->gfn * VMM_PAGE, io->nr * VMM_PAGE,
                          (uint8_t *)p + skip, &slot);
    if (e) {
        munmap(p, len);
        snprintf(err, errlen, "domain '%s': iomem at guest frame %llx: "
                 "KVM_SET_USER_MEMORY_REGION: %s", d->name,
                 (unsigned long long)io->gfn, strerror(e));
        return -e;
    }
    d->iomem[d->nr_iomem++] = (struct vmm_iomem_map){
        .base = p, .len = len, .slot = slot, .gfn = io->gfn, .nr = io->nr };
    return 0;
}

int vmm_irq_domain_setup(struct vmm_domain *d, const struct vmm_domain_irq *c,
                         char *err, size_t errlen)
{
    struct vmm_host *h = d->h;
    struct irq_icu_info info;
    irq_icu_info(h->icu, &info);
    int rc = irq_pirq_domain_add(h->pirq, d->domid, false, 0);
    if (rc) {
        snprintf(err, errlen, "domain '%s': PIRQ router: %s", d->name,
                 strerror(-rc));
        return rc;
    }
    d->pirq_added = true;
    for (unsigned int i = 0; i < c->nr_grants; i++) {
        struct irq_line_info li;
        uint32_t line = c->grants[i];
        if (line >= info.nr_lines || irq_icu_line_info(h->icu, line, &li) ||
            !li.has_source) {
            snprintf(err, errlen, "domain '%s': irqs: host line %u has no "
                     "source in the host file (--irq-config)", d->name, line);
            return -EINVAL;
        }
        irq_pirq_grant(h->pirq, d->domid, line, true);
    }
    if (c->nr_iomem) {
        d->iomem = calloc(c->nr_iomem, sizeof(*d->iomem));
        if (!d->iomem) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        for (unsigned int i = 0; i < c->nr_iomem; i++)
            if ((rc = map_iomem(d, &c->iomem[i], err, errlen)))
                return rc;
    }
    if (c->nr_pins) {
        d->pins = calloc(c->nr_pins, sizeof(*d->pins));
        if (!d->pins) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    for (unsigned int i = 0; i < c->nr_pins; i++) {
        const struct config_pin *p = &c->pins[i];
        struct irq_line_info li;
        if (p->pin >= VMM_IOAPIC_PINS) {
            snprintf(err, errlen, "domain '%s': IOAPIC pin %u: the IOAPIC has "
                     "pins 0..%u", d->name, p->pin, VMM_IOAPIC_PINS - 1);
            return -EINVAL;
        }
        for (unsigned int j = 0; j < i; j++)
            if (c->pins[j].pin == p->pin) {
                snprintf(err, errlen, "domain '%s': IOAPIC pin %u: already "
                         "driven by host line %u", d->name, p->pin,
                         c->pins[j].line);
                return -EEXIST;
            }
        if (p->line >= info.nr_lines || irq_icu_line_info(h->icu, p->line, &li)
            || !li.has_source) {
            snprintf(err, errlen, "domain '%s': IOAPIC pin %u: host line %u has "
                     "no source in the host file (--irq-config)", d->name,
                     p->pin, p->line);
            return -EINVAL;
        }
        rc = vmm_pin_create(h->icu, p->line, d->vmfd, NULL, NULL, p->pin,
                                &d->pins[d->nr_pins]);
        if (rc) {
            snprintf(err, errlen, "domain '%s': host line %u -> IOAPIC pin %u: "
                     "%s", d->name, p->line, p->pin,
                     rc == -EEXIST ? "the line is already bound elsewhere "
                     "(another pin, or PIRQs)" : strerror(-rc));
            return rc;
        }
        d->nr_pins++;
    }
    return 0;
}

void vmm_irq_domain_dead(struct vmm_domain *d)
{
    struct vmm_host *h = d->h;
    if (atomic_exchange(&d->irq_released, true))
        return;
    /* No vCPU of the domain runs any more: nothing can bind again. */
    if (d->pirq_added && h->pirq)
        irq_pirq_domain_remove(h->pirq, d->domid);
    d->pirq_added = false;
    pthread_mutex_lock(&h->sink_lock);
    for (unsigned int i = 0; i < d->nr_pins; i++)
        vmm_pin_destroy(d->pins[i]);
    d->nr_pins = 0;
    pthread_mutex_unlock(&h->sink_lock);
}

void vmm_irq_domain_free(struct vmm_domain *d)
{
    vmm_irq_domain_dead(d);
    free(d->pins);
    d->pins = NULL;
    for (unsigned int i = 0; i < d->nr_iomem; i++)
        munmap(d->iomem[i].base, d->iomem[i].len);
    free(d->iomem);
    d->iomem = NULL;
    d->nr_iomem = 0;
}

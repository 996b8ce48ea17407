/*
 * Guest memory: one memfd per domain holding RAM, the special pages and
 * Xen's own pages (shared_info, the grant table's frames); KVM memslots
 * over host mappings of it; guest-physical and guest-linear (page-table
 * walk) translation for the hypercall layer.
 */
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdlib.h>

#include "vmm_int.h"

#define XP_OFFSET(d) ((d)->ram_size + VMM_SPECIAL_PAGES * VMM_PAGE)
#define MEM_TOTAL(d) (XP_OFFSET(d) + (uint64_t)(d)->nr_xp * VMM_PAGE)

static int set_slot(struct vmm_domain *d, uint32_t slot, uint64_t gpa,
                    uint64_t size, void *host)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot, .guest_phys_addr = gpa, .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    return ioctl(d->vmfd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

int vmm_mem_slot_add(struct vmm_domain *d, uint64_t gpa, uint64_t size,
                     void *host, uint32_t *slot)
{
    pthread_mutex_lock(&d->lock);
    uint32_t s = d->next_slot++;
    pthread_mutex_unlock(&d->lock);
    int rc = set_slot(d, s, gpa, size, host);
    if (rc == 0)
        *slot = s;
    return rc;
}

int vmm_mem_init(struct vmm_domain *d, char *err, size_t errlen)
{
    /* shared_info and the grant table's shared and status pages. */
    d->nr_xp = VMM_XP_GNTTAB + d->max_grant_frames +
               gnttab_status_pages(d->max_grant_frames);
    d->xp = calloc(d->nr_xp, sizeof(*d->xp));
    d->ram_absent = calloc((d->ram_size / VMM_PAGE + 63) / 64, sizeof(uint64_t));
    d->memfd = memfd_create(d->name, MFD_CLOEXEC);
    if (!d->xp || !d->ram_absent || d->memfd < 0 || ftruncate(d->memfd, (off_t)MEM_TOTAL(d)) < 0) {
        snprintf(err, errlen, "cannot allocate %llu MiB of guest memory: %s",
                 (unsigned long long)(d->ram_size >> 20), strerror(errno));
        return -ENOMEM;
    }
    d->ram = mmap(NULL, d->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                  d->memfd, 0);
    d->special = mmap(NULL, VMM_SPECIAL_PAGES * VMM_PAGE,
                      PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd,
                      (off_t)d->ram_size);
    d->shinfo = mmap(NULL, (size_t)d->nr_xp * VMM_PAGE, PROT_READ | PROT_WRITE,
                     MAP_SHARED, d->memfd, (off_t)XP_OFFSET(d));
    if (d->ram == MAP_FAILED || d->special == MAP_FAILED ||
        d->shinfo == MAP_FAILED) {
        snprintf(err, errlen, "cannot map guest memory: %s", strerror(errno));
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < d->nr_xp; i++)
        d->xp[i] = (struct vmm_xenpage){ .gfn = ~0ull, .slot = -1 };
    int rc = set_slot(d, 0, 0, d->ram_size, d->ram);
    if (!rc)
        rc = set_slot(d, 1, VMM_SPECIAL_GPA, VMM_SPECIAL_PAGES * VMM_PAGE,
                      d->special);
    if (rc) {
        snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(-rc));
        return rc;
    }
    d->next_slot = 2;
    return 0;
}

void vmm_mem_release(struct vmm_domain *d)
{
    /* The mappings stay (a late reader sees zeros, a late writer gets a
     * fresh page), the memory goes back to the host. */
    if (d->memfd >= 0 &&
        fallocate(d->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                  (off_t)MEM_TOTAL(d)) < 0)
        vmm_log(d, "cannot release its memory: %s", strerror(errno));
}

void vmm_mem_fini(struct vmm_domain *d)
{
    if (d->ram && d->ram != MAP_FAILED)
        munmap(d->ram, d->ram_size);
    if (d->special && d->special != MAP_FAILED)
        munmap(d->special, VMM_SPECIAL_PAGES * VMM_PAGE);
    if (d->shinfo && d->shinfo != MAP_FAILED)
        munmap(d->shinfo, (size_t)d->nr_xp * VMM_PAGE);
    if (d->memfd >= 0)
        close(d->memfd);
    free(d->xp);
    free(d->ram_absent);
}

void *vmm_gfn_map(struct vmm_domain *d, uint64_t gfn)
{
    uint64_t ram_pages = d->ram_size / VMM_PAGE;
    if (gfn < ram_pages)
        /* Also right for a RAM frame now showing one of Xen's pages: the
         * host mapping of that frame was replaced too (vmm_map_xenpage). */
        return d->ram + gfn * VMM_PAGE;
    uint64_t sp = VMM_SPECIAL_GPA / VMM_PAGE;
    if (gfn >= sp && gfn < sp + VMM_SPECIAL_PAGES)
        return d->special + (gfn - sp) * VMM_PAGE;
    /* Xen's pages shown outside RAM (few: shared_info and up to 72 grant
     * pages; only hypercall arguments placed there come this way). */
    for (uint32_t i = 0; i < d->nr_xp; i++)
        if (gfn == __atomic_load_n(&d->xp[i].gfn, __ATOMIC_ACQUIRE))
            return d->shinfo + (uint64_t)i * VMM_PAGE;
    return NULL;
}

void *vmm_gpa_map(struct vmm_domain *d, uint64_t gpa, size_t len)
{
    if (len > VMM_PAGE - (gpa & (VMM_PAGE - 1)))
        return NULL;
    uint8_t *p = vmm_gfn_map(d, gpa / VMM_PAGE);
    return p ? p + (gpa & (VMM_PAGE - 1)) : NULL;
}

/* Read one page-table entry of the given width at guest physical gpa. */
static bool read_pte(struct vmm_domain *d, uint64_t gpa, bool wide,
                     uint64_t *pte)
{
    void *p = vmm_gpa_map(d, gpa, wide ? 8 : 4);
    if (!p)
        return false;
    if (wide)
        *pte = __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
    else
        *pte = __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED);
    return true;
}

#define CR0_PG   (1ull << 31)
#define CR0_WP   (1ull << 16)
#define CR4_PSE  (1ull << 4)
#define CR4_PAE  (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
#define PTE_P    1ull
#define PTE_W    2ull
#define PTE_PS   0x80ull
#define PTE_ADDR 0x000ffffffffff000ull

/*
 * Walk the guest's page tables (iteratively; at most 5 levels) the way the
 * CPU would for a supervisor access. Writes honour CR0.WP. Accessed/dirty
 * bits are not set: the guest sees the access as a DMA-like copy, as Xen's
 * copy_to_guest does not promise them either.
 */
void *vmm_gva_map(struct vmm_domain *d, const struct kvm_sregs *s,
                  uint64_t gva, bool write)
{
    if (!(s->cr0 & CR0_PG))
        return vmm_gpa_map(d, (s->efer & EFER_LMA) ? gva : (uint32_t)gva, 1);

    bool wp = write && (s->cr0 & CR0_WP);
    uint64_t table = s->cr3, pte;
    int levels, bits_per = 9;
    bool wide = true;
    if (s->efer & EFER_LMA) {
        levels = (s->cr4 & CR4_LA57) ? 5 : 4;
        /* canonical check */
        int va_bits = levels == 5 ? 57 : 48;
        int64_t sx = (int64_t)(gva << (64 - va_bits)) >> (64 - va_bits);
        if ((uint64_t)sx != gva)
            return NULL;
        table &= PTE_ADDR;
    } else if (s->cr4 & CR4_PAE) {
        gva = (uint32_t)gva;
        /* 4 PDPTEs at cr3 (32-byte aligned) */
        if (!read_pte(d, (table & 0xffffffe0ull) + ((gva >> 30) & 3) * 8,
                      true, &pte) || !(pte & PTE_P))
            return NULL;
        table = pte & PTE_ADDR;
        levels = 2;
    } else {
        gva = (uint32_t)gva;
        levels = 2;
        bits_per = 10;
        wide = false;
        table &= 0xfffff000ull;
    }
    for (int l = levels; l >= 1; l--) {
        int shift = 12 + (l - 1) * bits_per;
        uint64_t idx = (gva >> shift) & ((1ull << bits_per) - 1);
        if (!read_pte(d, table + idx * (wide ? 8 : 4), wide, &pte) ||
            !(pte & PTE_P))
            return NULL;
        if (wp && !(pte & PTE_W))
            return NULL;
        bool large = (pte & PTE_PS) && (l == 2 || (l == 3 && wide));
        if (l == 2 && !wide && !(s->cr4 & CR4_PSE))
            large = false;
        if (large) {
            uint64_t base;
            if (!wide)   /* 4 MiB page: bits 13-20 hold PA bits 32-39 */
                base = (pte & 0xffc00000ull) | ((pte & 0x1fe000ull) << 19);
            else
                base = pte & PTE_ADDR & ~((1ull << shift) - 1);
            return vmm_gpa_map(d, base + (gva & ((1ull << shift) - 1)), 1);
        }
        table = wide ? (pte & PTE_ADDR) : (pte & 0xfffff000ull);
    }
    return vmm_gpa_map(d, table + (gva & 0xfff), 1);
}

/* Show host page host_off of the memfd at RAM frame gfn (MAP_FIXED over
 * the RAM mapping: KVM follows host mappings through its MMU notifier, so
 * the RAM memslot stays as it is). */
static int ram_frame_show(struct vmm_domain *d, uint64_t gfn, uint64_t host_off)
{
    void *p = mmap(d->ram + gfn * VMM_PAGE, VMM_PAGE, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_FIXED, d->memfd, (off_t)host_off);
    return p == MAP_FAILED ? -ENOMEM : 0;
}

/* Take Xen page i away from where it is shown (its RAM frame gets its own
 * page back; outside RAM its memslot is emptied). Under d->lock. */
static int xenpage_hide(struct vmm_domain *d, uint32_t i)
{
    struct vmm_xenpage *x = &d->xp[i];
    if (x->gfn == ~0ull)
        return 0;
    if (x->gfn < d->ram_size / VMM_PAGE) {
        int rc = ram_frame_show(d, x->gfn, x->gfn * VMM_PAGE);
        if (rc)
            return rc;
    } else if (x->slot >= 0) {
        set_slot(d, (uint32_t)x->slot, x->gfn * VMM_PAGE, 0, NULL);
    }
    __atomic_store_n(&x->gfn, ~0ull, __ATOMIC_RELEASE);
    return 0;
}

/*
 * Inside RAM the frame's host mapping is replaced by the Xen page's offset
 * of the memfd, so the RAM page is hidden as Xen hides it; outside RAM
 * the page gets a one-page memslot of its own (kept for later moves).
 */
int vmm_map_xenpage(struct vmm_domain *d, uint32_t idx, uint64_t gfn)
{
    uint64_t sp = VMM_SPECIAL_GPA / VMM_PAGE;
    /* Below 2^40 pages keeps gfn*4K inside the guest physical space. */
    if (idx >= d->nr_xp || gfn >= (1ull << 40) ||
        (gfn >= sp && gfn < sp + VMM_SPECIAL_PAGES) ||
        (gfn >= 0xfec00 && gfn < 0xfef00))    /* IOAPIC/LAPIC window */
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    int rc = 0;
    if (d->xp[idx].gfn == gfn)
        goto out;
    rc = xenpage_hide(d, idx);
    for (uint32_t i = 0; i < d->nr_xp && !rc; i++)
        if (d->xp[i].gfn == gfn)      /* another one there: replaced */
            rc = xenpage_hide(d, i);
    if (rc)
        goto out;
    uint8_t *host = d->shinfo + (uint64_t)idx * VMM_PAGE;
    if (gfn < d->ram_size / VMM_PAGE) {
        rc = ram_frame_show(d, gfn, XP_OFFSET(d) + (uint64_t)idx * VMM_PAGE);
    } else {
        if (d->xp[idx].slot < 0)
            d->xp[idx].slot = (int)d->next_slot++;
        rc = set_slot(d, (uint32_t)d->xp[idx].slot, gfn * VMM_PAGE, VMM_PAGE,
                      host) ? -EINVAL : 0;
    }
    if (!rc)
        __atomic_store_n(&d->xp[idx].gfn, gfn, __ATOMIC_RELEASE);
out:
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* Free the host memory of RAM frame gfn (its memfd page). */
static int punch(struct vmm_domain *d, uint64_t gfn)
{
    if (fallocate(d->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)(gfn * VMM_PAGE), VMM_PAGE) < 0) {
        vmm_log(d, "cannot release frame %#llx: %s",
                (unsigned long long)gfn, strerror(errno));
        return -EIO;
    }
    return 0;
}

/* The Xen page shown at gfn, or -1. Under d->lock. */
static int xenpage_at(struct vmm_domain *d, uint64_t gfn)
{
    for (uint32_t i = 0; i < d->nr_xp; i++)
        if (d->xp[i].gfn == gfn)
            return (int)i;
    return -1;
}

int vmm_mem_physmap_remove(struct vmm_domain *d, uint64_t gfn, bool ram_only)
{
    uint64_t sp = VMM_SPECIAL_GPA / VMM_PAGE;
    if (gfn >= sp && gfn < sp + VMM_SPECIAL_PAGES)
        return -EPERM;
    pthread_mutex_lock(&d->lock);
    int rc, xp = xenpage_at(d, gfn);
    if (xp >= 0) {
        /* Xen would take its page out; ours gives the frame back */
        rc = ram_only ? -EPERM : xenpage_hide(d, (uint32_t)xp);
        pthread_mutex_unlock(&d->lock);
        return rc;
    }
    pthread_mutex_unlock(&d->lock);
    if (gfn >= d->ram_size / VMM_PAGE)
        return -ENOENT;
    uint64_t bit = 1ull << (gfn % 64);
    if (__atomic_fetch_or(&d->ram_absent[gfn / 64], bit, __ATOMIC_ACQ_REL) & bit)
        return -ENOENT;                     /* released before */
    rc = punch(d, gfn);
    return rc ? rc : 1;
}

int vmm_mem_physmap_populate(struct vmm_domain *d, uint64_t gfn)
{
    if (gfn >= d->ram_size / VMM_PAGE)
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    int xp = xenpage_at(d, gfn);
    pthread_mutex_unlock(&d->lock);
    if (xp >= 0)
        return -EINVAL;
    /* A fresh page reads zero, also one the guest touched while absent. */
    int rc = punch(d, gfn);
    if (rc)
        return rc;
    uint64_t bit = 1ull << (gfn % 64);
    return (__atomic_fetch_and(&d->ram_absent[gfn / 64], ~bit,
                               __ATOMIC_ACQ_REL) & bit) ? 1 : 0;
}

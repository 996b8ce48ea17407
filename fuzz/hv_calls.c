/*
 * fuzz_hv_calls: hypercalls from a hostile guest. The input is guest memory
 * plus a list of hypercalls (number, five arguments); each goes through
 * hv_hypercall() exactly as the VMM's exit path sends it, with two domains
 * in the event-channel core. Arguments are mostly small offsets into the
 * 64 KiB guest memory (so structs get parsed), sometimes raw 64-bit values.
 * Sleeping calls (block, poll) return at once: the domain is "stopping".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/hv.h"
#include "xenkvm/irq.h"

#define MEM (64 * 1024)

static uint8_t mem[2][MEM] __attribute__((aligned(4096)));
static struct shared_info shinfo[2] __attribute__((aligned(4096)));

static void *fz_gva_map(void *vcpu, uint64_t gva, bool write)
{
    (void)write;
    uint8_t *m = vcpu;
    return gva < MEM ? m + gva : NULL;
}

static void *fz_gfn_map(void *dom, uint64_t gfn)
{
    uint8_t *m = dom;
    return gfn < MEM / 4096 ? m + gfn * 4096 : NULL;
}

static int fz_map_shinfo(void *dom, uint64_t gfn)
{
    (void)dom;
    return gfn < MEM / 4096 ? 0 : -22;
}

static int fz_vcpu_init(void *dom, uint32_t id, const void *ctx)
{
    (void)dom; (void)id; (void)ctx;
    return 0;
}

static int fz_vcpu(void *dom, uint32_t id)
{
    (void)dom; (void)id;
    return 0;
}

static void fz_shutdown(void *dom, unsigned int reason)
{
    (void)dom; (void)reason;
}

static void fz_console(void *dom, const char *buf, size_t len)
{
    (void)dom; (void)buf; (void)len;
}

static void fz_assert(void *dom, uint32_t id)
{
    (void)dom; (void)id;
}

static const struct hv_platform_ops fz_ops = {
    .gva_map = fz_gva_map, .gfn_map = fz_gfn_map,
    .map_shared_info = fz_map_shinfo, .vcpu_initialise = fz_vcpu_init,
    .vcpu_up = fz_vcpu, .vcpu_down = fz_vcpu, .vcpu_is_up = fz_vcpu,
    .shutdown = fz_shutdown, .console_write = fz_console,
    .assert_upcall = fz_assert,
};

static void *ec_map(void *opaque, domid_t dom, uint64_t gfn)
{
    (void)opaque;
    if (dom < 1 || dom > 2 || gfn >= MEM / 4096)
        return NULL;
    return mem[dom - 1] + gfn * 4096;
}

/* The IRQ router behind PHYSDEVOP and PIRQ ports (it attaches itself to the
 * evtchn host): two level eventfd lines and one edge line, lines 1 and 2
 * granted to both domains. */
static struct irq_pirq *fz_pirq;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct evtchn_platform_ops eops = { .map_gfn = ec_map };
    struct evtchn_host *h = evtchn_host_create(&eops, NULL);
    struct irq_icu *icu = irq_icu_create(4);
    for (unsigned int l = 0; icu && l < 3; l++) {
        struct irq_source *src;
        struct irq_mode md = { .trigger = l == 2 ? IRQ_EDGE : IRQ_LEVEL };
        if (irq_source_eventfd(-1, &src) == 0)
            irq_icu_set_source(icu, l, src, md);
    }
    fz_pirq = icu ? irq_pirq_create(icu, h, ec_map, NULL) : NULL;
    struct hv_domain *d[2] = { NULL, NULL };
    struct hv_e820 e820[1] = { { 0, MEM, 1 } };
    struct evtchn_domain_config d0 = { .domid = 0, .privileged = true,
                                       .max_vcpus = 1 };
    evtchn_domain_create(h, &d0);
    for (int i = 0; i < 2; i++) {
        memset(mem[i], 0, MEM);
        memset(&shinfo[i], 0, sizeof(shinfo[i]));
        struct evtchn_domain_config c = { .domid = (domid_t)(i + 1),
            .max_vcpus = 2, .shared_info = &shinfo[i] };
        evtchn_domain_create(h, &c);
        if (fz_pirq) {
            irq_pirq_domain_add(fz_pirq, (domid_t)(i + 1), false, 0);
            irq_pirq_grant(fz_pirq, (domid_t)(i + 1), 1, true);
            irq_pirq_grant(fz_pirq, (domid_t)(i + 1), 2, true);
        }
        struct hv_domain_config hc = { .domid = (domid_t)(i + 1),
            .max_vcpus = 2, .ram_pages = MEM / 4096, .e820 = e820,
            .nr_e820 = 1, .evtchn = h, .ops = &fz_ops, .opaque = mem[i],
            .pirq = fz_pirq };
        d[i] = hv_domain_create(&hc);
        hv_domain_stop(d[i]);
    }
    /* first 4 KiB of input: guest memory of both domains */
    size_t m = size < 4096 ? size : 4096;
    memcpy(mem[0], data, m);
    memcpy(mem[1] + 4096, data, m);
    data += m;
    size -= m;
    /* then records: dom(1) nr(1) 5 x arg(4) */
    while (size >= 22) {
        int dom = data[0] & 1;
        struct hv_call c = { .nr = data[1] & 63, .long_mode = !(data[0] & 2),
                             .cpl = (data[0] & 4) ? 3 : 0 };
        for (int i = 0; i < 5; i++) {
            uint32_t v;
            memcpy(&v, data + 2 + 4 * i, 4);
            /* top bit: a raw wide value; otherwise an offset in memory */
            c.arg[i] = (v & 0x80000000u) ? ((uint64_t)v << 20) ^ v :
                                           (v & 0x1ffff);
        }
        hv_hypercall(d[dom], data[0] >> 7, mem[dom], &c);
        data += 22;
        size -= 22;
    }
    /* a raise now exercises delivery to whatever got bound */
    for (unsigned int l = 0; icu && l < 3; l++) {
        uint64_t one = 1;
        if (write(irq_icu_source_fd(icu, l), &one, sizeof(one)) < 0) {
            /* unbound lines have a source all the same */
        }
    }
    if (icu)
        irq_icu_process(icu, 0);
    for (int i = 0; i < 2; i++) {
        hv_domain_destroy(d[i]);
        evtchn_domain_destroy(h, (domid_t)(i + 1));
        if (fz_pirq)
            irq_pirq_domain_remove(fz_pirq, (domid_t)(i + 1));
    }
    evtchn_domain_destroy(h, 0);
    irq_pirq_destroy(fz_pirq);
    fz_pirq = NULL;
    if (icu)
        irq_icu_destroy(icu);
    evtchn_host_destroy(h);
    return 0;
}

/*
 * The guest side the hypercall-layer tests share (test_hv.c,
 * test_hv_physdev.c, test_hv_time.c, test_vmm_hcall.c): guest memory as
 * plain pages, identity-mapped linear addresses, a shared_info page, and an
 * event-channel host with domain 0 and the guest, domain 1.
 * Define HV_TEST_PAGES before including; include after <cmocka.h>.
 */
#ifndef XENKVM_TESTS_HV_TEST_PLATFORM_H
#define XENKVM_TESTS_HV_TEST_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

#include <xen/xen.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/hv.h"

#define MEM (HV_TEST_PAGES * 4096)

static uint8_t mem[MEM] __attribute__((aligned(4096)));
static struct shared_info shinfo __attribute__((aligned(4096)));
/* A frame of mem the guest cannot reach (a hole), or ~0: none. */
static uint64_t unmapped_gfn = ~0ull;

/* hv_platform_ops.gva_map: linear = physical, over mem. */
static __attribute__((unused)) void *t_gva_map(void *vcpu, uint64_t gva,
                                               bool write)
{
    (void)vcpu;
    (void)write;
    if (gva >= MEM || gva / 4096 == unmapped_gfn)
        return NULL;
    return mem + gva;
}

/* hv_platform_ops.gfn_map */
static __attribute__((unused)) void *t_gfn_map(void *dom, uint64_t gfn)
{
    (void)dom;
    return gfn < HV_TEST_PAGES && gfn != unmapped_gfn ? mem + gfn * 4096
                                                      : NULL;
}

/* evtchn_platform_ops.map_gfn: domain 1's memory is mem. */
static void *ec_map(void *opaque, domid_t dom, uint64_t gfn)
{
    (void)opaque;
    return dom == 1 ? t_gfn_map(NULL, gfn) : NULL;
}

/* An event-channel host with domain 0 (privileged, unless no_dom0) and
 * domain 1 (dom1_vcpus vCPUs, shared_info = &shinfo), guest memory
 * cleared. */
static __attribute__((unused)) struct evtchn_host *
hv_test_host(uint32_t dom1_vcpus, bool no_dom0)
{
    struct evtchn_platform_ops eops = { .map_gfn = ec_map };
    struct evtchn_host *h = evtchn_host_create(&eops, NULL);
    assert_non_null(h);
    struct evtchn_domain_config c0 = { .domid = 0, .privileged = true,
                                       .max_vcpus = 1 };
    struct evtchn_domain_config c1 = { .domid = 1, .max_vcpus = dom1_vcpus,
                                       .shared_info = &shinfo };
    if (!no_dom0)
        assert_int_equal(evtchn_domain_create(h, &c0), 0);
    assert_int_equal(evtchn_domain_create(h, &c1), 0);
    memset(mem, 0, sizeof(mem));
    return h;
}

/* Destroy domains 1 and 0 (if there) and the host. */
static __attribute__((unused)) void hv_test_host_destroy(struct evtchn_host *h)
{
    evtchn_domain_destroy(h, 1);
    evtchn_domain_destroy(h, 0);
    evtchn_host_destroy(h);
}

/* The fixture of test_hv.c, test_hv_abi.c and test_hv_memory.c: the host,
 * the guest's hv domain (1) and a domain 7 beside it. */
struct hv_test_fx {
    struct evtchn_host *h;
    struct hv_domain *d;
};

/* cmocka teardown of that fixture (*state: a struct hv_test_fx). */
static __attribute__((unused)) int hv_test_teardown(void **state)
{
    struct hv_test_fx *f = *state;
    hv_domain_destroy(f->d);
    evtchn_domain_destroy(f->h, 7);
    hv_test_host_destroy(f->h);
    return 0;
}

#endif

/*
 * Unit tests of memory_op's reservation calls (src/hv/hv_memory.c) with a
 * fake physmap: frames 0-13 are RAM (guest memory of hv_test_platform.h),
 * 14 is a special page, 15 and above hold nothing. The fake releases a
 * frame by filling it with 0xee (what a guest touching it would see on a
 * platform that unmapped nothing) and populates it with zeros, so a test
 * can tell a repopulated page reads zero.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <xen/xen.h>
#include <xen/memory.h>

#include "xenkvm/evtchn.h"
#include "xenkvm/hv.h"

#define HV_TEST_PAGES 16
#include "hv_test_platform.h"

#define RAM_FRAMES 14
#define SPECIAL 14
#define ARG 0x0        /* argument struct in frame 0 */
#define LIST 0x800     /* extent list in frame 0 */
#define DATA 3         /* the frame the tests release */

static bool absent[HV_TEST_PAGES];
static int shinfo_at = -1;

static int t_remove(void *dom, uint64_t gfn, bool ram_only)
{
    (void)dom;
    if (gfn == SPECIAL)
        return -EPERM;
    if ((int64_t)gfn == shinfo_at) {
        if (ram_only)
            return -EPERM;
        shinfo_at = -1;
        return 0;
    }
    if (gfn >= RAM_FRAMES || absent[gfn])
        return -ENOENT;
    absent[gfn] = true;
    memset(mem + gfn * 4096, 0xee, 4096);
    return 1;
}

static int t_populate(void *dom, uint64_t gfn)
{
    (void)dom;
    if (gfn >= RAM_FRAMES || (int64_t)gfn == shinfo_at)
        return -EINVAL;
    bool was = absent[gfn];
    absent[gfn] = false;
    memset(mem + gfn * 4096, 0, 4096);
    return was ? 1 : 0;
}

static int t_map_shinfo(void *dom, uint64_t gfn)
{
    (void)dom;
    shinfo_at = (int)gfn;
    return 0;
}

static const struct hv_platform_ops ops = {
    .gva_map = t_gva_map, .gfn_map = t_gfn_map,
    .map_shared_info = t_map_shinfo,
    .physmap_remove = t_remove, .physmap_populate = t_populate,
};

static const struct hv_e820 e820[1] = { { 0, RAM_FRAMES * 4096, 1 } };

/* Domain 1 holds its 14 RAM frames, max_pages 16; domain 7 exists. */
static int setup(void **state)
{
    static struct hv_test_fx f;
    unmapped_gfn = ~0ull;
    memset(absent, 0, sizeof(absent));
    shinfo_at = -1;
    f.h = hv_test_host(1, false);
    struct evtchn_domain_config c7 = { .domid = 7, .max_vcpus = 1 };
    assert_int_equal(evtchn_domain_create(f.h, &c7), 0);
    struct hv_domain_config hc = { .domid = 1, .max_vcpus = 1,
        .ram_pages = RAM_FRAMES, .max_pages = 16, .e820 = e820,
        .nr_e820 = 1, .evtchn = f.h, .ops = &ops };
    f.d = hv_domain_create(&hc);
    assert_non_null(f.d);
    *state = &f;
    return 0;
}

static long memop(struct hv_test_fx *f, uint64_t cmd, uint64_t arg)
{
    struct hv_call c = { .nr = __HYPERVISOR_memory_op, .arg = { cmd, arg },
                         .long_mode = true };
    return hv_hypercall(f->d, 0, NULL, &c);
}

/* A reservation call on the extents in list (nr of them, at LIST). */
static long resv(struct hv_test_fx *f, unsigned int cmd, domid_t domid,
                 unsigned int order, unsigned int flags,
                 const xen_pfn_t *list, unsigned int nr)
{
    struct xen_memory_reservation r = { .nr_extents = nr,
        .extent_order = order, .mem_flags = flags, .domid = domid };
    set_xen_guest_handle(r.extent_start, (xen_pfn_t *)(uintptr_t)LIST);
    memcpy(mem + ARG, &r, sizeof(r));
    if (list)
        memcpy(mem + LIST, list, nr * sizeof(*list));
    return memop(f, cmd, ARG);
}

static long query(struct hv_test_fx *f, unsigned int cmd, domid_t domid)
{
    struct xen_memory_domain m = { .domid = domid };
    memcpy(mem + ARG, &m, sizeof(m));
    return memop(f, cmd, ARG);
}

static void test_decrease_populate(void **state)
{
    struct hv_test_fx *f = *state;
    assert_int_equal(query(f, XENMEM_current_reservation, DOMID_SELF), 14);
    assert_int_equal(query(f, XENMEM_maximum_reservation, 1), 16);
    assert_int_equal(query(f, XENMEM_maximum_gpfn, DOMID_SELF), 13);
    memset(mem + DATA * 4096, 0x5a, 4096);

    /* two frames back; the second extent holds nothing: count 2 of 3 */
    xen_pfn_t l[3] = { DATA, DATA + 1, DATA };
    assert_int_equal(resv(f, XENMEM_decrease_reservation, DOMID_SELF, 0, 0,
                          l, 3), 2);
    assert_true(absent[DATA] && absent[DATA + 1]);
    assert_int_equal(query(f, XENMEM_current_reservation, DOMID_SELF), 12);
    /* a hole, beyond RAM, a special page: the extent fails */
    xen_pfn_t bad[3] = { 15, 1ull << 40, SPECIAL };
    for (int i = 0; i < 3; i++)
        assert_int_equal(resv(f, XENMEM_decrease_reservation, DOMID_SELF,
                              0, 0, &bad[i], 1), 0);

    /* populate again: the page reads zero, the count goes back up */
    assert_int_equal(resv(f, XENMEM_populate_physmap, DOMID_SELF, 0, 0,
                          l, 2), 2);
    assert_false(absent[DATA]);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(mem[DATA * 4096 + i], 0);
    assert_int_equal(query(f, XENMEM_current_reservation, DOMID_SELF), 14);
    /* populating outside RAM fails the extent */
    assert_int_equal(resv(f, XENMEM_populate_physmap, DOMID_SELF, 0, 0,
                          &bad[0], 1), 0);
}

static void test_maxmem(void **state)
{
    struct hv_test_fx *f = *state;
    /* 14 held, max 16: increase by 3 order-0 extents does 2 */
    assert_int_equal(resv(f, XENMEM_increase_reservation, DOMID_SELF, 0, 0,
                          NULL, 3), 2);
    assert_int_equal(query(f, XENMEM_current_reservation, DOMID_SELF), 16);
    /* give 4 frames back, lower max_pages to 13 (as mem-set does): only
     * one of four repopulates */
    xen_pfn_t l[4] = { 4, 5, 6, 7 };
    assert_int_equal(resv(f, XENMEM_decrease_reservation, DOMID_SELF, 0, 0,
                          l, 4), 4);
    hv_mem_set_max(f->d, 13);
    uint64_t tot, max;
    hv_mem_get(f->d, &tot, &max);
    assert_int_equal(tot, 12);
    assert_int_equal(max, 13);
    assert_int_equal(resv(f, XENMEM_populate_physmap, DOMID_SELF, 0, 0,
                          l, 4), 1);
    assert_int_equal(query(f, XENMEM_current_reservation, DOMID_SELF), 13);
    /* an order-1 extent needs 2 pages: none left */
    hv_mem_set_max(f->d, 14);
    assert_int_equal(resv(f, XENMEM_populate_physmap, DOMID_SELF, 1, 0,
                          &l[2], 1), 0);
}

static void test_refusals(void **state)
{
    struct hv_test_fx *f = *state;
    xen_pfn_t l[1] = { DATA };
    /* above a domU's max order 9: nothing done */
    assert_int_equal(resv(f, XENMEM_decrease_reservation, DOMID_SELF, 10, 0,
                          l, 1), 0);
    assert_int_equal(resv(f, XENMEM_populate_physmap, DOMID_SELF, 10, 0,
                          l, 1), 0);
    /* another domain, an absent one: 0 extents, no errno */
    assert_int_equal(resv(f, XENMEM_decrease_reservation, 7, 0, 0, l, 1), 0);
    assert_int_equal(resv(f, XENMEM_decrease_reservation, 99, 0, 0, l, 1), 0);
    /* PoD on oneself, an exact NUMA node, an address width of one page */
    assert_int_equal(resv(f, XENMEM_populate_physmap, DOMID_SELF, 0,
                          XENMEMF_populate_on_demand, l, 1), 0);
    assert_int_equal(resv(f, XENMEM_decrease_reservation, DOMID_SELF, 0,
                          XENMEMF_exact_node(0), l, 1), 0);
    assert_int_equal(resv(f, XENMEM_decrease_reservation, DOMID_SELF, 0,
                          XENMEMF_address_bits(12), l, 1), 0);
    assert_false(absent[DATA]);
    /* a node hint and a wide address width are accepted */
    assert_int_equal(resv(f, XENMEM_decrease_reservation, DOMID_SELF, 0,
                          XENMEMF_node(0) | XENMEMF_address_bits(32), l, 1), 1);
    /* a continuation's start extent: counted from there */
    assert_int_equal(resv(f, XENMEM_populate_physmap | (1u << 6), DOMID_SELF,
                          0, 0, l, 1), 1);
    assert_true(absent[DATA]);
    /* a bad argument struct: 0; a bad extent list: the count so far */
    assert_int_equal(memop(f, XENMEM_decrease_reservation, 1ull << 30), 0);
    struct xen_memory_reservation r = { .nr_extents = 2, .domid = DOMID_SELF };
    set_xen_guest_handle(r.extent_start,
                         (xen_pfn_t *)(uintptr_t)(MEM - sizeof(xen_pfn_t)));
    memcpy(mem + ARG, &r, sizeof(r));
    xen_pfn_t five = 5;
    memcpy(mem + MEM - sizeof(five), &five, sizeof(five));
    assert_int_equal(memop(f, XENMEM_decrease_reservation, ARG), 1);
    assert_true(absent[5]);

    /* the queries: a bad handle, another domain, an absent one */
    assert_int_equal(memop(f, XENMEM_current_reservation, 1ull << 30),
                     -EFAULT);
    assert_int_equal(query(f, XENMEM_current_reservation, 7), -EPERM);
    assert_int_equal(query(f, XENMEM_maximum_gpfn, 99), -ESRCH);
    assert_int_equal(query(f, XENMEM_current_reservation | (1u << 6),
                           DOMID_SELF), -EINVAL);
    assert_true(memop(f, XENMEM_maximum_ram_page, 0) > 0);
    assert_int_equal(memop(f, XENMEM_maximum_ram_page | (1u << 6), 0), -EINVAL);
}

static void test_physmap(void **state)
{
    struct hv_test_fx *f = *state;
    /* add_to_physmap_batch: shared_info at 9, a bad index, a gmfn space */
    xen_ulong_t idxs[3] = { 0, 1, 0 };
    xen_pfn_t gpfns[3] = { 9, 10, 11 };
    struct xen_add_to_physmap_batch b = { .domid = DOMID_SELF,
        .space = XENMAPSPACE_shared_info, .size = 2 };
    set_xen_guest_handle(b.idxs, (xen_ulong_t *)(uintptr_t)0x400);
    set_xen_guest_handle(b.gpfns, (xen_pfn_t *)(uintptr_t)0x500);
    set_xen_guest_handle(b.errs, (int *)(uintptr_t)0x600);
    memcpy(mem + 0x400, idxs, sizeof(idxs));
    memcpy(mem + 0x500, gpfns, sizeof(gpfns));
    memcpy(mem + ARG, &b, sizeof(b));
    assert_int_equal(memop(f, XENMEM_add_to_physmap_batch, ARG), 0);
    int errs[2];
    memcpy(errs, mem + 0x600, sizeof(errs));
    assert_int_equal(errs[0], 0);
    assert_int_equal(errs[1], -EINVAL);
    assert_int_equal(shinfo_at, 10 - 1);
    b.space = XENMAPSPACE_gmfn_range;
    memcpy(mem + ARG, &b, sizeof(b));
    assert_int_equal(memop(f, XENMEM_add_to_physmap_batch, ARG), -EOPNOTSUPP);
    b.space = XENMAPSPACE_dev_mmio;
    memcpy(mem + ARG, &b, sizeof(b));
    assert_int_equal(memop(f, XENMEM_add_to_physmap_batch, ARG), -EACCES);
    b.space = XENMAPSPACE_gmfn_foreign;
    b.u.foreign_domid = 7;
    memcpy(mem + ARG, &b, sizeof(b));
    assert_int_equal(memop(f, XENMEM_add_to_physmap_batch, ARG), 0);
    memcpy(errs, mem + 0x600, sizeof(errs));
    assert_int_equal(errs[0], -EPERM);
    b.domid = 7;
    memcpy(mem + ARG, &b, sizeof(b));
    assert_int_equal(memop(f, XENMEM_add_to_physmap_batch, ARG), -EPERM);
    /* start extent beyond the size */
    b.domid = DOMID_SELF;
    memcpy(mem + ARG, &b, sizeof(b));
    assert_int_equal(memop(f, XENMEM_add_to_physmap_batch | (3u << 6), ARG),
                     -EILSEQ);

    /* remove_from_physmap: Xen's page, then nothing; a RAM frame */
    struct xen_remove_from_physmap x = { .domid = DOMID_SELF, .gpfn = 9 };
    memcpy(mem + ARG, &x, sizeof(x));
    assert_int_equal(memop(f, XENMEM_remove_from_physmap, ARG), 0);
    assert_int_equal(shinfo_at, -1);
    x.gpfn = 15;
    memcpy(mem + ARG, &x, sizeof(x));
    assert_int_equal(memop(f, XENMEM_remove_from_physmap, ARG), -ENOENT);
    x.gpfn = DATA;
    memcpy(mem + ARG, &x, sizeof(x));
    assert_int_equal(memop(f, XENMEM_remove_from_physmap, ARG), 0);
    assert_true(absent[DATA]);
    /* ... which stays in the reservation until repopulated, as on Xen */
    assert_int_equal(query(f, XENMEM_current_reservation, DOMID_SELF), 14);
    x.domid = 7;
    memcpy(mem + ARG, &x, sizeof(x));
    assert_int_equal(memop(f, XENMEM_remove_from_physmap, ARG), -EPERM);
}

static void put16(uint64_t at, uint16_t v) { memcpy(mem + at, &v, 2); }
static void put32(uint64_t at, uint32_t v) { memcpy(mem + at, &v, 4); }

static long memop32(struct hv_test_fx *f, uint64_t cmd, uint64_t arg)
{
    struct hv_call c = { .nr = __HYPERVISOR_memory_op, .arg = { cmd, arg },
                         .long_mode = false };
    return hv_hypercall(f->d, 0, NULL, &c);
}

/* i386 xen_memory_reservation at ARG: extent_start @0, nr_extents @4,
 * extent_order @8, mem_flags @12, domid @16 (20 bytes; 0xee after). */
static void resv32_at(uint32_t list, uint32_t nr, domid_t domid)
{
    memset(mem + ARG, 0xee, 32);
    put32(ARG, list);
    put32(ARG + 4, nr);
    put32(ARG + 8, 0);
    put32(ARG + 12, 0);
    put16(ARG + 16, domid);
}

/* A 32-bit caller (Xen's compat_memory_op): its structs and lists in the
 * i386 layout (xen_pfn_t and xen_ulong_t of 4 bytes), the offsets written
 * out here. */
static void test_compat32(void **state)
{
    struct hv_test_fx *f = *state;
    /* decrease_reservation of DATA and DATA + 1: 4-byte extents */
    memset(mem + LIST, 0xee, 16);
    put32(LIST, DATA);
    put32(LIST + 4, DATA + 1);
    resv32_at(LIST, 2, DOMID_SELF);
    assert_int_equal(memop32(f, XENMEM_decrease_reservation, ARG), 2);
    assert_true(absent[DATA] && absent[DATA + 1]);
    assert_int_equal(memop32(f, XENMEM_current_reservation,
                             HV_TEST_PAGES * 4096 - 1), -EFAULT);
    put16(LIST + 64, DOMID_SELF);
    assert_int_equal(memop32(f, XENMEM_current_reservation, LIST + 64), 12);
    /* populate_physmap of them again, reading zero */
    resv32_at(LIST, 2, DOMID_SELF);
    assert_int_equal(memop32(f, XENMEM_populate_physmap, ARG), 2);
    assert_false(absent[DATA] || absent[DATA + 1]);
    /* increase_reservation: counted only */
    resv32_at(0, 1, DOMID_SELF);
    assert_int_equal(memop32(f, XENMEM_increase_reservation, ARG), 1);
    assert_int_equal(memop32(f, XENMEM_maximum_reservation, LIST + 64), 16);
    assert_int_equal(memop32(f, XENMEM_maximum_gpfn, LIST + 64), 13);
    assert_int_equal(memop32(f, XENMEM_maximum_ram_page, 0),
                     memop(f, XENMEM_maximum_ram_page, 0) > INT_MAX ? INT_MAX :
                     memop(f, XENMEM_maximum_ram_page, 0));
    /* hostile: too many extents to continue (Xen: the start extent), a
     * list the guest cannot reach (a short count), another domain */
    resv32_at(LIST, 0xffffffffu, DOMID_SELF);
    assert_int_equal(memop32(f, XENMEM_decrease_reservation, ARG), 0);
    unmapped_gfn = 5;
    resv32_at(5 * 4096, 1, DOMID_SELF);
    assert_int_equal(memop32(f, XENMEM_decrease_reservation, ARG), 0);
    unmapped_gfn = ~0ull;
    resv32_at(LIST, 1, 7);
    assert_int_equal(memop32(f, XENMEM_decrease_reservation, ARG), 0);
    assert_int_equal(memop32(f, XENMEM_decrease_reservation,
                             HV_TEST_PAGES * 4096 - 8), 0);

    /* add_to_physmap_batch: domid @0, space @2, size @4, foreign_domid
     * @6, idxs @8, gpfns @12, errs @16; 4-byte idxs and gpfns */
    memset(mem + ARG, 0xee, 32);
    put16(ARG, DOMID_SELF);
    put16(ARG + 2, XENMAPSPACE_shared_info);
    put16(ARG + 4, 2);
    put16(ARG + 6, 0);
    put32(ARG + 8, 0x400);
    put32(ARG + 12, 0x500);
    put32(ARG + 16, 0x600);
    memset(mem + 0x400, 0xee, 0x300);
    put32(0x400, 0);
    put32(0x404, 1);
    put32(0x500, 9);
    put32(0x504, 10);
    assert_int_equal(memop32(f, XENMEM_add_to_physmap_batch, ARG), 0);
    int errs[3];
    memcpy(errs, mem + 0x600, sizeof(errs));
    assert_int_equal(errs[0], 0);
    assert_int_equal(errs[1], -EINVAL);
    assert_int_equal(errs[2], (int)0xeeeeeeee);
    assert_int_equal(shinfo_at, 9);
    put32(ARG + 12, 5 * 4096);                  /* gpfns unreachable */
    unmapped_gfn = 5;
    assert_int_equal(memop32(f, XENMEM_add_to_physmap_batch, ARG), -EFAULT);
    unmapped_gfn = ~0ull;

    /* remove_from_physmap: domid @0, gpfn @4 (8 bytes) */
    memset(mem + ARG, 0xee, 16);
    put16(ARG, DOMID_SELF);
    put32(ARG + 4, 9);
    assert_int_equal(memop32(f, XENMEM_remove_from_physmap, ARG), 0);
    assert_int_equal(shinfo_at, -1);
}

/* A domain being stopped: a call still does its first extent (Xen's
 * preemption check comes from the second on), then ends. */
static void test_stopping(void **state)
{
    struct hv_test_fx *f = *state;
    hv_domain_stop(f->d);
    xen_pfn_t l[3] = { DATA, DATA + 1, DATA + 2 };
    assert_int_equal(resv(f, XENMEM_decrease_reservation, DOMID_SELF, 0, 0,
                          l, 3), 1);
    assert_true(absent[DATA] && !absent[DATA + 1]);
    assert_int_equal(resv(f, XENMEM_populate_physmap, DOMID_SELF, 0, 0,
                          l, 3), 1);
    assert_false(absent[DATA]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_decrease_populate, setup, hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_maxmem, setup, hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_physmap, setup, hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_compat32, setup, hv_test_teardown),
        cmocka_unit_test_setup_teardown(test_stopping, setup, hv_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The balloon at work (guest/balloon.c), for tests/integration/
 * balloon_tests.sh: write every frame of the balloon's pool (the free RAM
 * above the image) so that the VMM's RSS holds it and say so ("balloon:
 * all RAM written"), then follow memory/target and say "balloon: at
 * target N KiB" each time it gets there. A frame taken back must read
 * zero (a "FAIL:" line otherwise) and is written again; the frames the
 * balloon holds must keep what was written to them.
 *
 * Command line (besides the runtime's): targets=N ends the program after
 * N targets (the first is the one memory/target holds at start); without
 * it the program runs until the toolstack asks for a shutdown
 * (control/shutdown, carried out while it waits). Exit 0 when nothing
 * failed.
 */
#include <guest/guest.h>
#include <guest/xenbus.h>
#include <guest/balloon.h>

/* What a frame of the pool holds while the balloon has it. */
#define FILL(gfn) ((gfn) * 0x9e3779b97f4a7c15ULL | 1)

static unsigned int failures;

static uint64_t *frame(uint64_t gfn)
{
    return (uint64_t *)(uintptr_t)(gfn << PAGE_SHIFT);
}

/* Frames [from, to) have just been taken back: they must read zero where
 * they held FILL (word 0) and at their last word; then they are written
 * again (host memory held again). Two words, not 512: guest code may run
 * in KVM's instruction emulator (about 1 us an instruction, guest/README.md),
 * and a page comes back whole or not at all. */
static void check_taken_back(uint64_t from, uint64_t to)
{
    const unsigned int last = PAGE_SIZE / sizeof(uint64_t) - 1;

    for (uint64_t g = from; g < to; g++) {
        volatile uint64_t *w = frame(g);
        uint64_t w0 = w[0], wl = w[last];
        if ((w0 || wl) && ++failures <= 8)
            printk("FAIL: balloon: frame %#llx taken back reads %#llx, %#llx\n",
                   (unsigned long long)g, (unsigned long long)w0, (unsigned long long)wl);
        w[0] = FILL(g);
    }
}

/* The frames the balloon holds still hold what was written. */
static void check_held(const struct balloon_pool *p)
{
    for (uint64_t g = p->first_gfn; g < p->first_gfn + p->nr - p->nr_out; g++)
        if (*(volatile uint64_t *)frame(g) != FILL(g) && ++failures <= 8)
            printk("FAIL: balloon: held frame %#llx lost its contents\n",
                   (unsigned long long)g);
}

int guest_main(const char *cmdline)
{
    (void)cmdline;
    long max_targets = guest_cmdline_int("targets", 0);

    if (!xs_available()) {
        printk("FAIL: balloon: no XenStore\n");
        return 1;
    }
    int rc = balloon_init();
    if (rc) {
        printk("FAIL: balloon: balloon_init: %d\n", rc);
        return 1;
    }
    const struct balloon_pool *p = balloon_pool();
    for (uint64_t g = p->first_gfn; g < p->first_gfn + p->nr; g++)
        *(volatile uint64_t *)frame(g) = FILL(g);
    printk("balloon: all RAM written: %llu KiB from %#llx, %llu pages held\n",
           (unsigned long long)(p->nr << (PAGE_SHIFT - 10)),
           (unsigned long long)(p->first_gfn << PAGE_SHIFT),
           (unsigned long long)balloon_current_pages());

    rc = balloon_watch();
    if (rc) {
        printk("FAIL: balloon: cannot watch memory/target: %d\n", rc);
        return 1;
    }
    for (long reached = 0; !max_targets || reached < max_targets;) {
        uint64_t kib, low_before = p->first_gfn + p->nr - p->nr_out;
        rc = balloon_wait_target(&kib);
        if (rc) {
            printk("FAIL: balloon: reading memory/target: %d\n", rc);
            return 1;
        }
        rc = balloon_set_target(kib);
        uint64_t low_after = p->first_gfn + p->nr - p->nr_out;
        if (low_after > low_before)
            check_taken_back(low_before, low_after);
        check_held(p);
        if (rc) {
            printk("balloon: target %llu KiB not reached (%d): %llu pages held\n",
                   (unsigned long long)kib, rc,
                   (unsigned long long)balloon_current_pages());
            continue;
        }
        printk("balloon: at target %llu KiB (%llu pages held, %llu given back)\n",
               (unsigned long long)kib, (unsigned long long)balloon_current_pages(),
               (unsigned long long)p->nr_out);
        reached++;
    }
    if (failures)
        printk("FAIL: balloon: %u failures\n", failures);
    return failures ? 1 : 0;
}

/*
 * The VMM's IOAPIC pin sink (src/vmm/vmm_pin.c) against a real in-kernel
 * IOAPIC: bind rules, a level interrupt delivered through the irqfd and
 * completed through the resamplefd, unbind at destroy. Needs /dev/kvm: run
 * in the integration suite, exit 77 (meson's skip) where there is none.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/kvm.h>

#include "xenkvm/irq.h"
#include "icu_test_util.h"
#include "vmm_int.h"

/* The irqfd pin against a real in-kernel IOAPIC. KVM consumes the irqfd
 * write; the guest EOI would come from KVM through the resamplefd, which a
 * VM without vCPUs never does, so the test writes the resamplefd itself to
 * stand for it. */
static void test_kvm_pin(void **state)
{
    (void)state;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    assert_true(kvm >= 0);           /* main() checked it is there */
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    assert_true(vm >= 0);
    assert_int_equal(ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);

    struct irq_icu *icu = icu_with_eventfd(10, LEVEL);
    struct vmm_pin *pin = NULL;
    assert_int_equal(vmm_pin_create(icu, 3, vm, NULL, NULL, 10, &pin),
                     -ENODEV);
    assert_int_equal(vmm_pin_create(icu, 10, vm, NULL, NULL, 10, &pin), 0);
    /* a second sink on the same line */
    struct vmm_pin *pin2 = NULL;
    assert_int_equal(vmm_pin_create(icu, 10, vm, NULL, NULL, 11, &pin2),
                     -EEXIST);
    assert_true(vmm_pin_resamplefd(pin) >= 0);

    signal_line(icu, 10);
    drain(icu);
    struct irq_line_info li;
    irq_icu_line_info(icu, 10, &li);
    assert_int_equal(li.delivered, 1);
    assert_true(li.in_flight);
    assert_string_equal(li.sink_kind, "ioapic");
    assert_string_equal(li.bindings, "gsi 10 (resample)");

    uint64_t one = 1;
    assert_int_equal(write(vmm_pin_resamplefd(pin), &one, sizeof(one)),
                     sizeof(one));
    drain(icu);
    irq_icu_line_info(icu, 10, &li);
    assert_false(li.in_flight);
    assert_int_equal(li.eoied, 1);

    vmm_pin_destroy(pin);
    irq_icu_line_info(icu, 10, &li);
    assert_false(li.bound);
    irq_icu_destroy(icu);
    close(vm);
    close(kvm);
}

int main(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        printf("SKIP: /dev/kvm not available\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kvm_pin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

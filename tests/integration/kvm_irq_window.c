/*
 * kvm_irq_window: does this host's KVM take an interrupt that became
 * pending while the guest had IF=0 as soon as the guest sets IF (STI)?
 * Runs the VMM's start-up probe (src/vmm/vmm_probe.c) in one mode for 200
 * rounds, raw KVM only:
 *     if1      IF=1 around the exit (baseline)
 *     if0      IF=0, STI after the exit
 *     if0-win  IF=0, plus kvm_run.request_interrupt_window
 *     if0-step IF=0, plus single-stepping until IF=1 with no interrupt
 *              shadow (what the VMM does where the host needs it)
 * Prints "MODE: rounds N late L exits E"; exit status 0 (a probe of the
 * host, not a test), 77 when /dev/kvm is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmm_int.h"

int main(int argc, char **argv)
{
    static const struct { const char *name; enum vmm_probe_mode m; } modes[] = {
        { "if1", VMM_PROBE_IF1 }, { "if0", VMM_PROBE_IF0 },
        { "if0-win", VMM_PROBE_IF0_WIN }, { "if0-step", VMM_PROBE_IF0_STEP },
    };
    const char *mode = argc > 1 ? argv[1] : "if0";
    size_t i;
    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (!strcmp(mode, modes[i].name))
            break;
    if (i == sizeof(modes) / sizeof(modes[0])) {
        fprintf(stderr, "usage: kvm_irq_window if1|if0|if0-win|if0-step\n");
        return 2;
    }
    int kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kfd < 0) {
        puts("SKIP: /dev/kvm not available");
        return 77;
    }
    int exits = 0;
    int late = vmm_probe_irq_window(kfd, modes[i].m, 200, &exits);
    close(kfd);
    if (late < 0) {
        fprintf(stderr, "kvm_irq_window: %s\n", strerror(-late));
        return 1;
    }
    printf("%s: rounds 200 late %d exits %d\n", mode, late, exits);
    return 0;
}

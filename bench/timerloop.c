/*
 * timerloop: a timer-heavy loop, the same static binary on a Linux guest
 * (bench/linux_boot.sh puts it in the test initramfs) and on the host.
 * Each of N iterations sleeps 1 ms (clock_nanosleep, relative, so every
 * iteration arms and takes one timer: under xenkvm a singleshot timer and
 * a VIRQ_TIMER); the figure is wall time per iteration, whose excess over
 * 1 ms is the cost of arming, delivering and waking up.
 *
 * Built with the host's gcc -static -O2 (bench/meson.build): the
 * initramfs has no C library.
 * usage: timerloop [N]   (default 2000: about 2.2 s on a host)
 * Prints one line: "timerloop N ITERS total S s per-iter US us".
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
    if (n <= 0) {
        fprintf(stderr, "usage: timerloop [N>0]\n");
        return 2;
    }
    const struct timespec ms = { .tv_sec = 0, .tv_nsec = 1000000 };
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ms, NULL) != 0)
            ;   /* EINTR: sleep again (no signal is expected) */
    double t = now_s() - t0;
    printf("timerloop N %ld total %.3f s per-iter %.1f us\n", n, t,
           t / (double)n * 1e6);
    return 0;
}

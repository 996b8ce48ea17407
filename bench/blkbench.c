/*
 * blkbench: the same static binary inside a Linux guest on /dev/xvda
 * (xen-blkfront on xenkvm's blkback; bench/blk.sh puts it in the test
 * initramfs) and on the host on the image file behind that disk, so the
 * two figures of one run make a ratio. Every access is O_DIRECT (no page
 * cache on either side: the guest's requests all reach blkback, the host's
 * all reach the file's storage) and synchronous (queue depth 1), so
 * per-request cost shows. Where the file system has no O_DIRECT (tmpfs
 * before Linux 6.6, e.g. the KVM box's files) the host side is buffered and
 * prints a line saying so.
 *
 * Four phases over the first SIZE MiB of PATH:
 *   seq-write  1 MiB writes, front to back
 *   seq-read   1 MiB reads, front to back
 *   rand-write 4 KiB writes at random aligned offsets, for SECS seconds
 *   rand-read  4 KiB reads likewise
 * Each prints "blkbench PHASE MB/s X iops Y" (iops: requests per second).
 * Built with the host's gcc -static -O2 (bench/meson.build).
 * usage: blkbench PATH SIZE_MIB [SECS]   (SECS default 3)
 */
#define _GNU_SOURCE     /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *phase, uint64_t bytes, uint64_t reqs, double s)
{
    printf("blkbench %s MB/s %.1f iops %.0f\n", phase, bytes / s / 1e6,
           reqs / s);
    fflush(stdout);
}

static int seq(int fd, char *buf, uint64_t size, int write)
{
    const size_t bs = 1 << 20;
    uint64_t n = 0;
    double t0 = now_s();
    for (uint64_t off = 0; off + bs <= size; off += bs, n++) {
        ssize_t r = write ? pwrite(fd, buf, bs, (off_t)off)
                          : pread(fd, buf, bs, (off_t)off);
        if (r != (ssize_t)bs) {
            fprintf(stderr, "blkbench: %s at %llu: %s\n", write ? "write" : "read",
                    (unsigned long long)off, r < 0 ? strerror(errno) : "short");
            return 1;
        }
    }
    if (write && fdatasync(fd)) {
        fprintf(stderr, "blkbench: fdatasync: %s\n", strerror(errno));
        return 1;
    }
    report(write ? "seq-write" : "seq-read", n * bs, n, now_s() - t0);
    return 0;
}

static int rnd(int fd, char *buf, uint64_t size, int write, double secs)
{
    const size_t bs = 4096;
    uint64_t blocks = size / bs, n = 0, x = 0x9e3779b97f4a7c15ull;
    double t0 = now_s(), t = t0;
    while (t - t0 < secs) {
        for (int i = 0; i < 16; i++, n++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;      /* xorshift64 */
            off_t off = (off_t)((x % blocks) * bs);
            ssize_t r = write ? pwrite(fd, buf, bs, off) : pread(fd, buf, bs, off);
            if (r != (ssize_t)bs) {
                fprintf(stderr, "blkbench: random %s: %s\n",
                        write ? "write" : "read", r < 0 ? strerror(errno) : "short");
                return 1;
            }
        }
        t = now_s();
    }
    report(write ? "rand-write" : "rand-read", n * bs, n, t - t0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || atol(argv[2]) <= 0) {
        fprintf(stderr, "usage: blkbench PATH SIZE_MIB [SECS]\n");
        return 2;
    }
    uint64_t size = (uint64_t)atol(argv[2]) << 20;
    double secs = argc > 3 ? atof(argv[3]) : 3.0;
    int fd = open(argv[1], O_RDWR | O_DIRECT);
    if (fd < 0 && errno == EINVAL) {
        /* tmpfs before Linux 6.6 (the KVM box's files) has no O_DIRECT:
         * buffered, so the figure is the page cache's, and says so. */
        fd = open(argv[1], O_RDWR);
        printf("blkbench buffered: %s has no O_DIRECT\n", argv[1]);
    }
    if (fd < 0) {
        fprintf(stderr, "blkbench: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    char *buf;
    if (posix_memalign((void **)&buf, 4096, 1 << 20))
        return 1;
    for (size_t i = 0; i < (1 << 20); i++)
        buf[i] = (char)(i * 131 + 7);
    int rc = seq(fd, buf, size, 1) || seq(fd, buf, size, 0) ||
             rnd(fd, buf, size, 1, secs) || rnd(fd, buf, size, 0, secs);
    close(fd);
    return rc;
}

/*
 * bench_pingpong: what a Xen hypercall and a guest<->guest event-channel
 * round trip cost under xenkvm, beside the raw-KVM floors measured in the
 * same run:
 *   (a) a trivial raw guest's user-space I/O exit round trip: the floor of
 *       any hypercall served in user space;
 *   (b) the best raw path between two VMs: an ioeventfd in VM A that is VM
 *       B's irqfd (MSI route), and back, never leaving the kernel.
 * xenkvm figures: a null hypercall (xen_version) and the two-domain event
 * ping-pong of guests/vmmtest (EVTCHNOP_send + upcall vector through the
 * in-kernel LAPIC, handler answers). All timed inside the guests with
 * rdtsc into 64-cycle histograms; converted with the host TSC rate.
 *
 * usage: bench_pingpong VMMTEST_GUEST RAW_GUEST [ROUNDS]   (default 100000)
 * Prints figures and ratios; asserts nothing about time.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "raw.h"
#include "xenkvm/vmm.h"

struct figure {
    double mean, p50, p99;     /* cycles */
    bool ok;
};

static double tsc_ghz;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double measure_tsc_ghz(void)
{
    uint64_t t0 = now_ns(), c0 = __builtin_ia32_rdtsc();
    while (now_ns() - t0 < 200000000ull)
        ;
    uint64_t t1 = now_ns(), c1 = __builtin_ia32_rdtsc();
    return (double)(c1 - c0) / (double)(t1 - t0);
}

/* ---------- xenkvm figures: run guests/vmmtest, parse its console ---------- */

static bool parse_line(const char *buf, const char *key, double *v)
{
    const char *p = strstr(buf, key);
    if (!p)
        return false;
    *v = strtod(p + strlen(key), NULL);
    return true;
}

static struct figure xen_run(const char *guest, const char *cmd_a,
                             const char *cmd_b, const char *prefix)
{
    struct figure f = { 0 };
    char *text = NULL;
    size_t len = 0;
    FILE *con = open_memstream(&text, &len);
    char err[512];
    struct vmm_host_config hc = { .console = con, .quiet = true,
                                  .prefix_console = false };
    struct vmm_host *h = vmm_host_create(&hc, err, sizeof(err));
    if (!h) {
        fprintf(stderr, "bench_pingpong: %s\n", err);
        fclose(con);
        free(text);
        return f;
    }
    struct vmm_domain_config a = { .name = "a", .mem_bytes = 16 << 20,
                                   .kernel = guest, .cmdline = cmd_a };
    struct vmm_domain_config b = { .name = "b", .mem_bytes = 16 << 20,
                                   .kernel = guest, .cmdline = cmd_b };
    struct vmm_domain *da, *db = NULL;
    if (vmm_domain_create(h, &a, &da, err, sizeof(err)) ||
        (cmd_b && vmm_domain_create(h, &b, &db, err, sizeof(err)))) {
        fprintf(stderr, "bench_pingpong: %s\n", err);
    } else {
        vmm_domain_start(da);
        if (db)
            vmm_domain_start(db);
        vmm_host_wait(h);
    }
    vmm_host_destroy(h);
    fclose(con);
    char key[64];
    snprintf(key, sizeof(key), "%smean_cycles ", prefix);
    f.ok = parse_line(text, key, &f.mean);
    snprintf(key, sizeof(key), "%sp50_cycles ", prefix);
    f.ok &= parse_line(text, key, &f.p50);
    snprintf(key, sizeof(key), "%sp99_cycles ", prefix);
    f.ok &= parse_line(text, key, &f.p99);
    if (!f.ok)
        fprintf(stderr, "bench_pingpong: guest output had no figures:\n%s\n",
                text ? text : "");
    free(text);
    return f;
}

/* ---------- raw KVM baselines ---------- */

struct raw_vm {
    int vm, vcpu;
    struct kvm_run *run;
    uint8_t *mem;
    size_t memsz;
    pthread_t thr;
    volatile bool stop;
    bool done;
};

static int kvm_fd;
static struct kvm_cpuid2 *cpuid;

/* Load our own raw guest ELF (trusted build output, checked anyway). */
static int load_elf(struct raw_vm *r, const char *path, uint64_t *entry)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    static uint8_t buf[4 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    Elf64_Ehdr eh;
    if (n < sizeof(eh))
        return -ENOEXEC;
    memcpy(&eh, buf, sizeof(eh));
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64)
        return -ENOEXEC;
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        uint64_t off = eh.e_phoff + (uint64_t)i * eh.e_phentsize;
        if (off + sizeof(ph) > n)
            return -ENOEXEC;
        memcpy(&ph, buf + off, sizeof(ph));
        if (ph.p_type != PT_LOAD)
            continue;
        if (ph.p_offset + ph.p_filesz > n || ph.p_paddr + ph.p_memsz > r->memsz)
            return -ENOEXEC;
        memcpy(r->mem + ph.p_paddr, buf + ph.p_offset, ph.p_filesz);
    }
    *entry = eh.e_entry;
    return 0;
}

static int raw_vm_create(struct raw_vm *r, const char *elf, uint32_t mode,
                         uint64_t rounds)
{
    memset(r, 0, sizeof(*r));
    r->memsz = 8 << 20;
    r->vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    r->mem = mmap(NULL, r->memsz, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r->vm < 0 || r->mem == MAP_FAILED)
        return -errno;
    struct kvm_userspace_memory_region mr = { .slot = 0, .memory_size = r->memsz,
        .userspace_addr = (uint64_t)(uintptr_t)r->mem };
    if (ioctl(r->vm, KVM_SET_USER_MEMORY_REGION, &mr) < 0 ||
        ioctl(r->vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0 ||
        ioctl(r->vm, KVM_CREATE_IRQCHIP, 0) < 0)
        return -errno;
    /* Replace the default routes by one MSI route to APIC 0, RAW_VECTOR. */
    struct {
        struct kvm_irq_routing r;
        struct kvm_irq_routing_entry e[1];
    } rt;
    memset(&rt, 0, sizeof(rt));
    rt.r.nr = 1;
    rt.e[0].gsi = 24;
    rt.e[0].type = KVM_IRQ_ROUTING_MSI;
    rt.e[0].u.msi.address_lo = 0xfee00000u;
    rt.e[0].u.msi.data = RAW_VECTOR;
    if (ioctl(r->vm, KVM_SET_GSI_ROUTING, &rt) < 0)
        return -errno;
    uint64_t entry = 0;
    int rc = load_elf(r, elf, &entry);
    if (rc)
        return rc;
    struct raw_params *p = (struct raw_params *)(r->mem + RAW_PARAMS_GPA);
    memset(p, 0, sizeof(*p));
    p->mode = mode;
    p->rounds = rounds;
    r->vcpu = ioctl(r->vm, KVM_CREATE_VCPU, 0);
    int msz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    r->run = mmap(NULL, (size_t)msz, PROT_READ | PROT_WRITE, MAP_SHARED,
                  r->vcpu, 0);
    if (r->vcpu < 0 || r->run == MAP_FAILED ||
        ioctl(r->vcpu, KVM_SET_CPUID2, cpuid) < 0)
        return -errno;
    struct kvm_sregs s;
    ioctl(r->vcpu, KVM_GET_SREGS, &s);
    struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = 8,
        .type = 11, .present = 1, .db = 1, .s = 1, .g = 1 };
    struct kvm_segment data = code;
    data.selector = 0x10;
    data.type = 3;
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.tr = (struct kvm_segment){ .selector = 0x18, .limit = 0x67, .type = 11,
                                 .present = 1 };
    s.cr0 = 0x11;
    s.cr4 = 0;
    s.efer = 0;
    /* Sync regs as the VMM has them: measured to cost nothing here, and
     * it keeps the two loops alike. */
    r->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
    struct kvm_regs regs = { .rip = entry, .rflags = 2 };
    if (ioctl(r->vcpu, KVM_SET_SREGS, &s) < 0 ||
        ioctl(r->vcpu, KVM_SET_REGS, &regs) < 0)
        return -errno;
    return 0;
}

static void raw_vm_destroy(struct raw_vm *r)
{
    close(r->vcpu);
    close(r->vm);
    munmap(r->mem, r->memsz);
}

/* Run until RAW_PORT_DONE (or stop); RAW_PORT_EXIT just resumes. */
static void *raw_run(void *arg)
{
    struct raw_vm *r = arg;
    for (;;) {
        if (ioctl(r->vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR && !r->stop)
                continue;
            if (!r->stop)
                fprintf(stderr, "bench_pingpong: raw KVM_RUN: %s\n",
                        strerror(errno));
            break;
        }
        if (r->run->exit_reason == KVM_EXIT_IO &&
            r->run->io.port == RAW_PORT_EXIT)
            continue;
        if (r->run->exit_reason == KVM_EXIT_IO &&
            r->run->io.port == RAW_PORT_DONE) {
            r->done = true;
            break;
        }
        fprintf(stderr, "bench_pingpong: raw guest: unexpected exit %u\n",
                r->run->exit_reason);
        break;
    }
    return NULL;
}

static struct figure hist_figure(struct raw_vm *r)
{
    struct figure f = { 0 };
    struct raw_params *p = (struct raw_params *)(r->mem + RAW_PARAMS_GPA);
    if (!r->done || !p->done || !p->rounds) {
        fprintf(stderr, "bench_pingpong: raw guest did not finish (exit %u, "
                "done %u/%u)\n", r->run->exit_reason, r->done, p->done);
        return f;
    }
    f.p50 = (double)cycle_hist_percentile(&p->hist, p->rounds, 50);
    f.p99 = (double)cycle_hist_percentile(&p->hist, p->rounds, 99);
    f.mean = (double)p->hist.total / (double)p->rounds;
    f.ok = true;
    return f;
}

static struct figure raw_exit(const char *elf, uint64_t rounds)
{
    struct raw_vm r;
    struct figure f = { 0 };
    int rc = raw_vm_create(&r, elf, 1, rounds);
    if (rc) {
        fprintf(stderr, "bench_pingpong: raw VM: %s\n", strerror(-rc));
        return f;
    }
    raw_run(&r);
    f = hist_figure(&r);
    raw_vm_destroy(&r);
    return f;
}

static void nop_handler(int sig)
{
    (void)sig;
}

static struct figure raw_pair(const char *elf, uint64_t rounds)
{
    struct raw_vm a, b;
    struct figure f = { 0 };
    int rc = raw_vm_create(&a, elf, 2, rounds);
    if (!rc)
        rc = raw_vm_create(&b, elf, 3, 0);
    if (rc) {
        fprintf(stderr, "bench_pingpong: raw VM: %s\n", strerror(-rc));
        return f;
    }
    /* a_to_b: A's ioeventfd and B's irqfd; b_to_a the other way. */
    int a_to_b = eventfd(0, EFD_CLOEXEC), b_to_a = eventfd(0, EFD_CLOEXEC);
    struct kvm_ioeventfd ia = { .addr = RAW_PORT_KICK, .len = 1, .fd = a_to_b,
                                .flags = KVM_IOEVENTFD_FLAG_PIO };
    struct kvm_ioeventfd ib = { .addr = RAW_PORT_KICK, .len = 1, .fd = b_to_a,
                                .flags = KVM_IOEVENTFD_FLAG_PIO };
    struct kvm_irqfd fa = { .fd = (uint32_t)b_to_a, .gsi = 24 };
    struct kvm_irqfd fb = { .fd = (uint32_t)a_to_b, .gsi = 24 };
    if (ioctl(a.vm, KVM_IOEVENTFD, &ia) < 0 || ioctl(b.vm, KVM_IOEVENTFD, &ib) < 0 ||
        ioctl(a.vm, KVM_IRQFD, &fa) < 0 || ioctl(b.vm, KVM_IRQFD, &fb) < 0) {
        fprintf(stderr, "bench_pingpong: ioeventfd/irqfd: %s\n", strerror(errno));
        return f;
    }
    struct sigaction sa = { .sa_handler = nop_handler };
    sigaction(SIGUSR2, &sa, NULL);
    pthread_create(&b.thr, NULL, raw_run, &b);
    usleep(100000);             /* B reaches its hlt loop first */
    raw_run(&a);
    b.stop = true;
    b.run->immediate_exit = 1;
    pthread_kill(b.thr, SIGUSR2);
    pthread_join(b.thr, NULL);
    f = hist_figure(&a);
    raw_vm_destroy(&a);
    raw_vm_destroy(&b);
    close(a_to_b);
    close(b_to_a);
    return f;
}

/* ---------- report ---------- */

static void row(const char *name, struct figure f)
{
    if (!f.ok) {
        printf("%-44s  (failed)\n", name);
        return;
    }
    printf("%-44s %9.2f %9.2f %9.2f\n", name, f.p50 / tsc_ghz / 1000,
           f.p99 / tsc_ghz / 1000, f.mean / tsc_ghz / 1000);
}

static void ratio(const char *name, struct figure x, struct figure base,
                  double target)
{
    if (!x.ok || !base.ok || base.p50 == 0 || base.mean == 0)
        return;
    printf("%-44s p50 %.2fx  mean %.2fx  (target <= %.1fx)\n", name,
           x.p50 / base.p50, x.mean / base.mean, target);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_pingpong VMMTEST_GUEST RAW_GUEST [ROUNDS]\n");
        return 2;
    }
    uint64_t rounds = argc > 3 ? strtoull(argv[3], NULL, 10) : 100000;
    if (rounds < 100)
        rounds = 100;
    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0) {
        printf("SKIP: /dev/kvm not available\n");
        return 0;
    }
    cpuid = calloc(1, sizeof(*cpuid) + 256 * sizeof(cpuid->entries[0]));
    cpuid->nent = 256;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
        perror("KVM_GET_SUPPORTED_CPUID");
        return 1;
    }
    tsc_ghz = measure_tsc_ghz();
    char cmd_null[64], cmd_pong[64], cmd_ping[64];
    snprintf(cmd_null, sizeof(cmd_null), "null %llu", (unsigned long long)rounds);
    /* vmmtest's pong port is 3: console 1, store 2 come first */
    snprintf(cmd_pong, sizeof(cmd_pong), "pong 2 %llu", (unsigned long long)rounds);
    snprintf(cmd_ping, sizeof(cmd_ping), "ping 1 3 %llu", (unsigned long long)rounds);

    printf("bench_pingpong: %llu rounds each, TSC %.3f GHz (times in us)\n",
           (unsigned long long)rounds, tsc_ghz);
    struct figure ra = raw_exit(argv[2], rounds);
    struct figure rb = raw_pair(argv[2], rounds);
    struct figure xn = xen_run(argv[1], cmd_null, NULL, "null: ");
    struct figure xp = xen_run(argv[1], cmd_pong, cmd_ping, "ping: ");
    printf("%-44s %9s %9s %9s\n", "", "p50", "p99", "mean");
    row("(a) raw KVM: user-space I/O exit round trip", ra);
    row("xenkvm: null hypercall (xen_version)", xn);
    row("(b) raw KVM: ioeventfd->irqfd VM pair RTT", rb);
    row("xenkvm: guest<->guest event-channel RTT", xp);
    ratio("null hypercall / (a)", xn, ra, 1.1);
    ratio("event-channel round trip / (b)", xp, rb, 1.5);
    return (ra.ok && rb.ok && xn.ok && xp.ok) ? 0 : 1;
}

/*
 * The raw-KVM baseline guest of bench/pingpong: no Xen layer at all. It is
 * entered like the PVH test guest (tests/integration/guest/entry.S: 32-bit
 * flat mode, switch to long mode) and reads its job from RAW_PARAMS:
 *   mode 1  exit loop: N times `out %al, $RAW_PORT_EXIT` (a user-space I/O
 *           exit round trip, the floor of a hypercall served in user space)
 *   mode 2  side A: N times write RAW_PORT_KICK (an ioeventfd that is VM
 *           B's irqfd) and wait for B's interrupt (A's irqfd)
 *   mode 3  side B: on each interrupt write RAW_PORT_KICK back
 * Round trips are timed with rdtsc into a histogram in RAW_PARAMS, which
 * the bench reads from guest memory; RAW_PORT_DONE ends the run.
 */
#include <stdint.h>

#include "raw.h"

struct idt_gate {
    uint16_t off0, sel;
    uint8_t ist, type;
    uint16_t off1;
    uint32_t off2, zero;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));
static volatile uint64_t irqs;
static volatile uint32_t mode;

extern void tg_isr_stub(void);
void tg_isr(void);

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port) : "memory");
}

void tg_isr(void)
{
    irqs++;
    if (mode == 3)
        outb(RAW_PORT_KICK, 1);     /* answer from the handler */
    *(volatile uint32_t *)(uintptr_t)0xfee000b0ull = 0;   /* EOI */
}

/* The same instruction path as a hypercall through the hypercall page
 * (tests/integration/guest/hello.c tg_hcall + the stub of xenkvm/hv.h),
 * so the guest-side instructions cost the same in both figures and the
 * ratio shows what the VMM adds. */
__asm__(".text\n"
        "raw_stub:\n"
        "    mov $17, %eax\n"
        "    out %al, $0xe0\n"
        "    ret\n");
extern char raw_stub[];

static long raw_call(uint64_t a1, uint64_t a2, uint64_t a3)
{
    long ret;
    void *stub = raw_stub;
    __asm__ volatile("call *%[stub]"
                     : "=a"(ret), "+D"(a1), "+S"(a2), "+d"(a3)
                     : [stub] "r"(stub)
                     : "memory", "cc");
    return ret;
}

static void record(struct raw_params *p, uint64_t dt)
{
    uint64_t b = dt >> RAW_HIST_SHIFT;
    p->hist[b < RAW_HIST_BUCKETS ? b : RAW_HIST_BUCKETS]++;
    p->total_cycles += dt;
}

void tg_main(const void *start_info);
void tg_main(const void *start_info)
{
    (void)start_info;
    struct raw_params *p = (struct raw_params *)(uintptr_t)RAW_PARAMS_GPA;
    mode = p->mode;
    uint64_t a = (uint64_t)(uintptr_t)tg_isr_stub;
    idt[RAW_VECTOR] = (struct idt_gate){ (uint16_t)a, 0x08, 0, 0x8e,
                                         (uint16_t)(a >> 16),
                                         (uint32_t)(a >> 32), 0 };
    struct { uint16_t lim; uint64_t base; } __attribute__((packed)) d =
        { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" :: "m"(d));
    *(volatile uint32_t *)(uintptr_t)0xfee000f0ull = 0x1ff;  /* LAPIC on */

    if (mode == 1) {
        for (uint64_t i = 0; i < p->rounds; i++) {
            uint64_t t0 = rdtsc();
            raw_call(0, 0, 0);
            record(p, rdtsc() - t0);
        }
    } else if (mode == 2) {
        for (uint64_t i = 0; i < p->rounds; i++) {
            uint64_t t0 = rdtsc();
            __asm__ volatile("cli");
            outb(RAW_PORT_KICK, 1);
            while (irqs <= i)
                __asm__ volatile("sti; hlt; cli");
            __asm__ volatile("sti");
            record(p, rdtsc() - t0);
        }
    } else if (mode == 3) {
        __asm__ volatile("sti");
        for (;;)
            __asm__ volatile("hlt");
    }
    p->done = 1;
    for (;;)
        outb(RAW_PORT_DONE, 1);
}

/*
 * x86 primitives (x86_64 and i386) for the freestanding guest runtime.
 *
 * Every instruction here must be one that KVM's instruction emulator
 * handles: the nested kvm_pvm on our CI machine runs guest code through it
 * and stops the vCPU on cmpxchg16b, SSE, popcnt, fwait, ldmxcsr, clac...
 * So: plain lock-prefixed ALU ops, xchg, 32-bit cmpxchg, bsf, rep stos/movs.
 */
#ifndef GUEST_ARCH_H
#define GUEST_ARCH_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE  (1UL << PAGE_SHIFT)

#define barrier() __asm__ __volatile__("" ::: "memory")
/* x86 is TSO: loads are not reordered with loads, stores not with stores. */
#define rmb()     barrier()
#define wmb()     barrier()
/* A locked op is a full barrier and is emulated everywhere (mfence may not). */
#ifdef __x86_64__
#define mb()      __asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc")
#else
#define mb()      __asm__ __volatile__("lock; addl $0,-4(%%esp)" ::: "memory", "cc")
#endif

/* Bits in an unsigned long: the word of the 2-level event bitmaps (Xen's
 * xen_ulong_t is as wide on both x86 ABIs). */
#define BITS_PER_LONG (8 * (unsigned int)sizeof(unsigned long))

#define READ_ONCE(x)     (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void cpu_cli(void) { __asm__ __volatile__("cli" ::: "memory"); }
static inline void cpu_sti(void) { __asm__ __volatile__("sti" ::: "memory"); }

/* sti;hlt: the STI shadow makes the pair atomic, so an interrupt raised after
 * the caller checked its wake-up condition with IF=0 still ends the hlt. */
static inline void cpu_safe_halt(void)
{
    __asm__ __volatile__("sti; hlt" ::: "memory");
}

static inline unsigned long cpu_save_flags(void)
{
    unsigned long f;
    __asm__ __volatile__("pushf; pop %0" : "=r"(f) :: "memory");
    return f;
}

static inline unsigned long cpu_irq_save(void)
{
    unsigned long f = cpu_save_flags();
    cpu_cli();
    return f;
}

static inline void cpu_irq_restore(unsigned long f)
{
    if (f & (1UL << 9))
        cpu_sti();
}

static inline bool cpu_irqs_enabled(void)
{
    return (cpu_save_flags() & (1UL << 9)) != 0;
}

static inline void cpu_cpuid(uint32_t leaf, uint32_t sub, uint32_t *a,
                             uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ __volatile__("cpuid"
                         : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
                         : "a"(leaf), "c"(sub));
}

static inline void cpu_wrmsr(uint32_t msr, uint64_t val)
{
    __asm__ __volatile__("wrmsr" :: "c"(msr), "a"((uint32_t)val),
                         "d"((uint32_t)(val >> 32)) : "memory");
}

static inline uint64_t cpu_rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

#define CPU_READ_CR(n)                                              \
    static inline uint64_t cpu_read_cr##n(void)                     \
    {                                                               \
        unsigned long v;                                            \
        __asm__ __volatile__("mov %%cr" #n ", %0" : "=r"(v));       \
        return v;                                                   \
    }
CPU_READ_CR(0)
CPU_READ_CR(3)
CPU_READ_CR(4)

static inline uint64_t cpu_read_cr2(void)
{
    unsigned long v;
    __asm__ __volatile__("mov %%cr2, %0" : "=r"(v));
    return v;
}

static inline uint64_t cpu_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_outb(uint16_t port, uint8_t v)
{
    __asm__ __volatile__("outb %0, %1" :: "a"(v), "Nd"(port));
}

/* Index of the lowest set bit; x must be non-zero. Written as bsf on
 * purpose: gcc's __builtin_ctzl may emit tzcnt (rep bsf). */
static inline unsigned int bit_ffs(unsigned long x)
{
    unsigned long r;
    __asm__("bsf %1, %0" : "=r"(r) : "rm"(x) : "cc");
    if (r >= BITS_PER_LONG)
        __builtin_unreachable();    /* lets callers drop range checks */
    return (unsigned int)r;
}

/* --- atomic bit operations on guest-shared memory (lock-prefixed) --- */

/* bts/btr with the bit number in a register: one instruction where
 * or/and with a shifted mask take four (the upcall's scan acks with it). */
static inline void sync_set_bit(unsigned int nr, volatile void *addr)
{
    volatile unsigned long *w = (volatile unsigned long *)addr + nr / BITS_PER_LONG;
    __asm__ __volatile__("lock; bts %1, %0"
                         : "+m"(*w) : "r"((unsigned long)(nr % BITS_PER_LONG)) : "memory", "cc");
}

static inline void sync_clear_bit(unsigned int nr, volatile void *addr)
{
    volatile unsigned long *w = (volatile unsigned long *)addr + nr / BITS_PER_LONG;
    __asm__ __volatile__("lock; btr %1, %0"
                         : "+m"(*w) : "r"((unsigned long)(nr % BITS_PER_LONG)) : "memory", "cc");
}

static inline bool sync_test_bit(unsigned int nr, const volatile void *addr)
{
    const volatile unsigned long *w = (const volatile unsigned long *)addr + nr / BITS_PER_LONG;
    return (*w >> (nr % BITS_PER_LONG)) & 1;
}

static inline bool sync_test_and_set_bit(unsigned int nr, volatile void *addr)
{
    volatile unsigned long *w = (volatile unsigned long *)addr + nr / BITS_PER_LONG;
    unsigned char old;
    __asm__ __volatile__("lock; bts %2, %0; setc %1"
                         : "+m"(*w), "=qm"(old) : "r"((unsigned long)(nr % BITS_PER_LONG))
                         : "memory", "cc");
    return old;
}

static inline bool sync_test_and_clear_bit(unsigned int nr, volatile void *addr)
{
    volatile unsigned long *w = (volatile unsigned long *)addr + nr / BITS_PER_LONG;
    unsigned char old;
    __asm__ __volatile__("lock; btr %2, %0; setc %1"
                         : "+m"(*w), "=qm"(old) : "r"((unsigned long)(nr % BITS_PER_LONG))
                         : "memory", "cc");
    return old;
}

/* 32-bit variants for FIFO event words (4-byte aligned, never widen). */
static inline void sync_set_bit32(unsigned int nr, volatile uint32_t *w)
{
    __asm__ __volatile__("lock; orl %1, %0"
                         : "+m"(*w) : "r"(1u << nr) : "memory", "cc");
}

static inline void sync_clear_bit32(unsigned int nr, volatile uint32_t *w)
{
    __asm__ __volatile__("lock; andl %1, %0"
                         : "+m"(*w) : "r"(~(1u << nr)) : "memory", "cc");
}

static inline unsigned long xchg_ulong(volatile unsigned long *p, unsigned long v)
{
    __asm__ __volatile__("xchg %0, %1" : "+r"(v), "+m"(*p) :: "memory");
    return v;
}

static inline uint32_t xchg_u32(volatile uint32_t *p, uint32_t v)
{
    __asm__ __volatile__("xchgl %0, %1" : "+r"(v), "+m"(*p) :: "memory");
    return v;
}

static inline uint8_t xchg_u8(volatile uint8_t *p, uint8_t v)
{
    __asm__ __volatile__("xchgb %0, %1" : "+q"(v), "+m"(*p) :: "memory");
    return v;
}

/* 32-bit compare-and-exchange; returns the value found in *p. */
static inline uint32_t cmpxchg_u32(volatile uint32_t *p, uint32_t old, uint32_t new)
{
    uint32_t prev;
    __asm__ __volatile__("lock; cmpxchgl %2, %1"
                         : "=a"(prev), "+m"(*p) : "r"(new), "0"(old)
                         : "memory", "cc");
    return prev;
}

#endif

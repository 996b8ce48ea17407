/*
 * The 64-bit division helpers gcc calls on i386 (__udivmoddi4 and the
 * wrappers around it), for the -32 guest builds: they link -nostdlib and
 * Debian ships no 32-bit libgcc without gcc-multilib. A divisor below
 * 2^32 (every one the runtime uses: printk's base, ns per second) takes
 * two divl; any other the bit-by-bit long division.
 */
#include <stdint.h>

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem);
uint64_t __udivdi3(uint64_t n, uint64_t d);
uint64_t __umoddi3(uint64_t n, uint64_t d);
int64_t __divdi3(int64_t n, int64_t d);
int64_t __moddi3(int64_t n, int64_t d);

/* (hi:lo) / d with hi < d: one divl. */
static uint32_t div_64_32(uint32_t hi, uint32_t lo, uint32_t d, uint32_t *r)
{
    uint32_t q;
    __asm__("divl %4" : "=a"(q), "=d"(*r) : "a"(lo), "d"(hi), "rm"(d));
    return q;
}

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem)
{
    uint64_t q = 0;

    if (d == 0)
        __builtin_trap();
    if (d >> 32 == 0) {
        uint32_t r, qhi = div_64_32(0, (uint32_t)(n >> 32), (uint32_t)d, &r);
        uint32_t qlo = div_64_32(r, (uint32_t)n, (uint32_t)d, &r);
        if (rem)
            *rem = r;
        return (uint64_t)qhi << 32 | qlo;
    }
    uint64_t r = 0;
    for (int i = 63; i >= 0; i--) {
        r = r << 1 | ((n >> i) & 1);
        if (r >= d) {
            r -= d;
            q |= 1ull << i;
        }
    }
    if (rem)
        *rem = r;
    return q;
}

uint64_t __udivdi3(uint64_t n, uint64_t d)
{
    return __udivmoddi4(n, d, 0);
}

uint64_t __umoddi3(uint64_t n, uint64_t d)
{
    uint64_t r;
    __udivmoddi4(n, d, &r);
    return r;
}

/* Signed: C's truncation toward zero, the remainder taking n's sign. */
int64_t __divdi3(int64_t n, int64_t d)
{
    uint64_t un = n < 0 ? -(uint64_t)n : (uint64_t)n;
    uint64_t ud = d < 0 ? -(uint64_t)d : (uint64_t)d;
    uint64_t q = __udivmoddi4(un, ud, 0);
    return (int64_t)((n < 0) != (d < 0) ? -q : q);
}

int64_t __moddi3(int64_t n, int64_t d)
{
    uint64_t un = n < 0 ? -(uint64_t)n : (uint64_t)n;
    uint64_t ud = d < 0 ? -(uint64_t)d : (uint64_t)d;
    uint64_t r;
    __udivmoddi4(un, ud, &r);
    return (int64_t)(n < 0 ? -r : r);
}

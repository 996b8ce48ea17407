/*
 * Reading a libFuzzer input as a stream of choices: bytes and 32-bit
 * little-endian words, zeros once the input is used up (so every input is
 * a complete run). Header-only, for the harnesses in fuzz/.
 */
#ifndef XENKVM_FUZZ_INPUT_H
#define XENKVM_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct in {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t u8(struct in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint32_t u32(struct in *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)u8(in) << (8 * i);
    return v;
}

/* A number a harness picks: mostly small (0..47: refs, ports, sizes near
 * the interesting ones), sometimes anything, sometimes one of its eight
 * edge values. */
static inline uint32_t fuzz_num(struct in *in, const uint32_t edge[8])
{
    uint8_t sel = u8(in);
    if (sel < 200)
        return sel % 48;
    if (sel < 230)
        return u32(in);
    return edge[sel % 8];
}

#endif /* XENKVM_FUZZ_INPUT_H */

/*
 * Build-time probe of the i386 layout of shared_info, vcpu_info and the
 * FIFO control block (evtchn_abi32_list.h): compiled with -m32 -S only
 * (never linked), its assembly carries one string "@@EVTCHN32 NAME VALUE"
 * per size, offset and constant, which src/hv/gen_abi32.py (the same
 * generator as hv_abi32.h's) turns into evtchn_abi32.h. The core has its
 * own probe because it sits below src/hv and cannot include hv_abi32.h.
 */
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>

#include "evtchn_abi32_list.h"

/* A string directive, not a bare line: clang's integrated assembler
 * checks inline assembly even under -S. */
#define EMIT(name, v) \
    __asm__ __volatile__("\n.ascii \"@@EVTCHN32 " name " %c0\"\n" :: "i"(v));
#define S(s) EMIT("SIZEOF_" #s, sizeof(struct s))
#define F(s, name, path) EMIT("OFF_" #s "_" #name, offsetof(struct s, path))
#define V(name, expr) EMIT(#name, expr)

void evtchn_abi32_probe(void);
void evtchn_abi32_probe(void)
{
    EVTCHN32_SHINFO(S, F, V)
}

/*
 * Build-time probe of the i386 layout of Xen's public structs: compiled
 * with -m32 -S only (never linked), its assembly carries one string
 * "@@HV32 NAME VALUE" per size and offset of hv_abi32_list.h, which
 * gen_abi32.py turns into hv_abi32.h. The layouts are those of Debian's
 * <xen/...> headers under __i386__ (arch-x86/xen-x86_32.h): nothing is
 * retyped. For the structs of HV32_XLATE it also emits each field's size
 * (FSZ_<struct>_<field>), which the translator needs.
 */
/* dm_op's buffer list: its header is for tools (as in hv_priv.c). */
#define __XEN_TOOLS__ 1
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/domctl.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/physdev.h>
#include <xen/platform.h>
#include <xen/sched.h>
#include <xen/sysctl.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/hvm/dm_op.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/hvm_vcpu.h>

#include "hv_abi32_list.h"

/* A string directive, not a bare line: clang's integrated assembler
 * checks inline assembly even under -S. */
#define EMIT(name, v) \
    __asm__ __volatile__("\n.ascii \"@@HV32 " name " %c0\"\n" :: "i"(v));
#define S(s) EMIT("SIZEOF_" #s, sizeof(struct s))
#define F(s, name, path) EMIT("OFF_" #s "_" #name, offsetof(struct s, path))

#define FX(s, name, path) F(s, name, path) \
    EMIT("FSZ_" #s "_" #name, sizeof(((struct s *)0)->path))

void hv_abi32_probe(void);
void hv_abi32_probe(void)
{
    HV32_STRUCTS(S, F)
    HV32_XLATE(S, FX)
}

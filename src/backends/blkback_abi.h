/*
 * The two x86 layouts of the blkif ring (private to blkback). A 64-bit
 * frontend writes protocol "x86_64-abi": <xen/io/blkif.h>'s structs as
 * this x86-64 host compiles them. A 32-bit one writes "x86_32-abi": the
 * same structs with i386's 4-byte alignment of 64-bit fields. That layout
 * is not spelled out in any libxen-dev header, so it is made here from
 * <xen/io/blkif.h> itself, included a second time under pack(4) with its
 * names renamed to blkif_x86_32_* (the ring macros paste names, and the
 * pasted names are renamed too): nothing of the ABI is retyped.
 */
#ifndef XENKVM_BLKBACK_ABI_H
#define XENKVM_BLKBACK_ABI_H

#include <stdint.h>

/* <xen/io/ring.h> leaves its barriers to the includer */
#ifndef xen_mb
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>

#define blkif_request_segment blkif_x86_32_request_segment
#define blkif_request blkif_x86_32_request
#define blkif_request_t blkif_x86_32_request_t
#define blkif_request_discard blkif_x86_32_request_discard
#define blkif_request_discard_t blkif_x86_32_request_discard_t
#define blkif_request_indirect blkif_x86_32_request_indirect
#define blkif_request_indirect_t blkif_x86_32_request_indirect_t
#define blkif_response blkif_x86_32_response
#define blkif_response_t blkif_x86_32_response_t
#define blkif_sring_entry blkif_x86_32_sring_entry
#define blkif_sring blkif_x86_32_sring
#define blkif_sring_t blkif_x86_32_sring_t
#define blkif_front_ring blkif_x86_32_front_ring
#define blkif_front_ring_t blkif_x86_32_front_ring_t
#define blkif_back_ring blkif_x86_32_back_ring
#define blkif_back_ring_t blkif_x86_32_back_ring_t
#undef __XEN_PUBLIC_IO_BLKIF_H__
#pragma pack(push, 4)
#include <xen/io/blkif.h>
#pragma pack(pop)
#undef blkif_request_segment
#undef blkif_request
#undef blkif_request_t
#undef blkif_request_discard
#undef blkif_request_discard_t
#undef blkif_request_indirect
#undef blkif_request_indirect_t
#undef blkif_response
#undef blkif_response_t
#undef blkif_sring_entry
#undef blkif_sring
#undef blkif_sring_t
#undef blkif_front_ring
#undef blkif_front_ring_t
#undef blkif_back_ring
#undef blkif_back_ring_t

/* What Linux's xen-blkback common.h and Xen's own tools agree on. */
_Static_assert(sizeof(struct blkif_request) == 112, "x86_64 request");
_Static_assert(sizeof(struct blkif_response) == 16, "x86_64 response");
_Static_assert(sizeof(struct blkif_x86_32_request) == 108, "x86_32 request");
_Static_assert(sizeof(struct blkif_x86_32_response) == 12, "x86_32 response");
_Static_assert(sizeof(union blkif_x86_32_sring_entry) == 108, "x86_32 entry");
_Static_assert(__builtin_offsetof(struct blkif_x86_32_request, id) == 4,
               "x86_32 id");
_Static_assert(__builtin_offsetof(struct blkif_x86_32_request_indirect,
                                  indirect_grefs) == 24, "x86_32 indirect");

#endif

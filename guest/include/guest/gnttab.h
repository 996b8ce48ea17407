/*
 * The guest's grant table, as Linux sets it up on PVH (drivers/xen/
 * grant-table.c): GNTTABOP_query_size (4 frames if it fails),
 * GNTTABOP_set_version, then each frame mapped with
 * XENMEM_add_to_physmap(XENMAPSPACE_grant_table) onto a page-aligned page of
 * our image (as shared_info in events.c); v2's status frames with
 * XENMAPIDX_grant_table_status.
 *
 * The flag protocol is Xen's (<xen/grant_table.h>): a grant is written
 * domid and frame first, flags last; it is ended by clearing the flags only
 * while the hypervisor has neither GTF_reading nor GTF_writing set (v1: one
 * 32-bit cmpxchg on flags+domid; v2: flags cleared, then the status word
 * read). Only 32-bit cmpxchg, as guest/arch.h allows.
 *
 * Main flow only (vCPU 0, not from an IRQ handler): the allocator's state is
 * plain. Errors are negative Xen errno values.
 */
#ifndef GUEST_GNTTAB_H
#define GUEST_GNTTAB_H

#include <stdbool.h>
#include <stdint.h>

#include <guest/hypercall.h>
#include <xen/grant_table.h>

/* Frames we map at most (v1: 512 refs each, v2: 256). */
#define GNTTAB_GUEST_MAX_FRAMES 4

static inline long HYPERVISOR_grant_table_op(unsigned int cmd, void *arg,
                                             unsigned int count)
{
    return _HC(__HYPERVISOR_grant_table_op, cmd, arg, count, 0, 0);
}

/* Contract: query the size, ask for `version` (1 or 2; the hypervisor may
 * keep 1) and map min(GNTTAB_GUEST_MAX_FRAMES, max_nr_frames) frames (and
 * v2's status frames). 0, or the -Xen errno of the call that failed (a
 * failed GNTTABOP status is -EIO). Call once. */
int gnttab_init(unsigned int version);

/* The version in force (0 before gnttab_init succeeded). */
unsigned int gnttab_version(void);
/* Frames mapped, and the refs they hold (the hypervisor's table has
 * exactly this many entries unless someone grew it further). */
unsigned int gnttab_nr_frames(void);
unsigned int gnttab_nr_refs(void);

/* Contract: a free ref (never one of the GNTTAB_NR_RESERVED_ENTRIES), its
 * entry untouched; -ENOSPC when none is left. */
int gnttab_alloc_ref(void);
/* Contract: give the ref back (it must have been ended). Out-of-range refs
 * are ignored. */
void gnttab_free_ref(grant_ref_t ref);

/* Contract: let domid access our frame (GTF_permit_access, GTF_readonly if
 * readonly): domid and frame first, flags last. */
void gnttab_grant(grant_ref_t ref, domid_t domid, uint64_t frame, bool readonly);

/* Contract: end the grant if nobody uses it: true when the flags were
 * cleared with neither GTF_reading nor GTF_writing set (the frame is ours
 * again); false while the grantee has it mapped (v1: the entry is left
 * as is; v2: the entry is revoked, the grantee keeps its mapping). */
bool gnttab_end(grant_ref_t ref);

/* The entry's flags as the hypervisor sees them (v2: the entry's type
 * flags with the status word's GTF_reading / GTF_writing). */
uint16_t gnttab_query_flags(grant_ref_t ref);

/* For hostile tests only: rewrite the entry with plain stores in the order
 * given (domid, frame, flags), ignoring the protocol. */
void gnttab_rewrite(grant_ref_t ref, domid_t domid, uint64_t frame, uint16_t flags);

#endif

/*
 * hl_fault.h - fault injection for the oracle tests (meson -Dfault_injection=true, or any
 * build compiled with -DHL_FAULT_INJECTION). Each switch breaks the step framework or
 * the logs in one known way, on every n-th eligible event (counted from hl_fault_set),
 * so a test can aim a fault at one chosen step. Without the option none of this exists
 * in the binary. (Include this header after the others: it may define HL_FAULT_INJECTION.)
 *
 *   SKIP_LOCK     the step skips its first lock (no lock, no read dependency); if the
 *                 step then writes that object the engine's held-witness aborts
 *   LOCK_ORDER    the step drops its first lock when it takes its second, then takes the
 *                 first again: inner before outer, with the debug order abort bypassed
 *   APPEND_LATE   the step releases its locks, and its records reach the logs only after
 *                 the next step (of any CPU) appended its own
 *   DROP_RECORD   an appended record never reaches its log (its seq is reused)
 *   WRONG_DELTA   an appended record's first delta payload differs from the live write
 *   HALT_RELEASE  a halting step releases the locks the spec keeps held (still marked
 *                 STRANDED in its records)
 *   REORDER       an appended record is held back and lands after the next record of the
 *                 same log, sequence numbers exchanged so the log stays consecutive
 *
 * Engine bugs (the mutation suite, tests/test_mutation.c: each must be caught by an oracle
 * relation; the hostile workload, mix hostile, reaches the boundary cases):
 *   SMMU_LOCK_ORDER  OSMMU_MAP takes spt before s2page (debug order abort off while armed)
 *   CLEAR_NO_ZERO    OCLEAR_VM records the zero digest but leaves the page's bytes
 *   VMID_NO_BOUND    OGEN_VMID at its bound hands out COREVISOR instead of halting
 *   HALT_UNSTRAND    a halting step strands nothing: its locks go free, no record says so
 *   SMMU_NO_UNMAP    OASSIGN_SMMU leaves the page mapped in the host's table
 *   REVOKE_AT_ZERO   OREVOKE lowers a count of 0 (wraps)
 *   GRANT_PAST_MAX   OGRANT raises a count at MAX_SHARE_COUNT
 *   VERIFY_NO_SIG    image verification ignores a bad signature
 *   DMA_NO_DEC       an SMMU entry that goes leaves s2page.dma as it was
 *   SMMU_MAP_OVER    SMMU_LPAE_MAP / OSMMU_MAP over a present entry is done (trap + engine)
 *   VM_MAP_OVER      a fault answer / OMAP_VM over a set VM entry is done (prepare + step)
 *   CLEAR_WHILE_DMA  CLEAR_VM_S2_RANGE / OCLEAR_VM of a DMA-mapped page is done
 *   TLBI_SKIP        host_unmap skips the TLB invalidation (arch_tlbi_s2_ipa)
 *   HOST_MAPS_VM     OMAP_HOST maps a VM's page for the host instead of halting
 *   RUN_UNVERIFIED   OVM_ACTIVE runs a vCPU of a VM that is not VERIFIED
 *   SMMU_FREE_KEEP   OSMMU_FREE frees the bank and leaves its entries mapped
 *   SMMU_NO_COUNT    OSMMU_MAP of a host page leaves its count as it was
 *   REVOKE_NO_UNMAP  OREVOKE 1 -> 0 leaves the host's mapping (and flatmem) as they were
 *   RELAXED_PUBLISH  a log append publishes the record's tail with a relaxed store where a
 *                    release is needed (invisible on x86; TSan sees it)
 *   CLEAR_WHILE_RUNNING  OCLEAR_VM of a POWEROFF VM's page is done while a vCPU of the VM
 *                    is still ACTIVE (the vminfo check skipped; the read stays logged)
 *   SHARD_MISROUTE   a write to a sharded object (s2page with shards) is logged in the
 *                    neighbouring shard's log at the same shard-local offset (issue 11: a
 *                    refinement bug; the live image is right, the neighbour's log is not,
 *                    and its record names no lock on the neighbour)
 *
 * The bug catalogue (REFERENCE.md §7's known SeKVM bugs and SPEC's halt/error branches,
 * re-introduced one at a time; tests/test_mutation.c names the relation that catches each):
 *   INACTIVE_STAYS   OVM_INACTIVE leaves the vCPU ACTIVE (REF 7.1: the seed runs
 *                    local_set_vcpu_active there)
 *   GRANT_LOGS_CLEAR OGRANT's record names OCLEAR_VM (REF 7.2: the seed's placeholder events)
 *   SMMU_FREE_VMID   OSMMU_FREE frees smmu_vmid[owner vmid], not the bank (REF 7.3)
 *   ASSIGN_HALTS     OASSIGN_VM's success path halts (REF 7.4)
 *   ASSIGN_NO_FIXUP  OASSIGN_VM of a page the VM owns stores no count/gfn fix-up (REF 7.5)
 *   CLEAR_NO_UNMAP   OCLEAR_VM leaves the host's entry (REF 7.8)
 *   IO_ANY_STATE     OMAP_IO into a VM that is not READY is done (REF 7.11; SPEC §9.7 halt)
 *   SMMU_ALLOC_VERIFIED  OSMMU_ALLOC for a VERIFIED VM is done (REF 7.12; §9.7 halt)
 *   REG_VCPU_ANY_STATE   OREG_VCPU skips the VM-state test (REF 7.26: C tests READY || UNUSED)
 *   REVOKE_NO_DEC    OREVOKE leaves the share count as it was (missing decrement on unshare)
 *   ASSIGN_NO_UNMAP  OASSIGN_VM leaves the host's mapping of the page in npt(host)
 *   ASSIGN_WRONG_VMID    OASSIGN_VM writes owner vmid + 1 into s2page
 *   DOUBLE_ASSIGN    OASSIGN_VM of another VM's page moves it instead of halting (double donate)
 *   MAP_VM_LEVEL     OMAP_VM level 2 maps one level-3 page (wrong level test)
 *   SMMU_MAP_ANY_OWNER   OSMMU_MAP skips the owner/gfn test (a VM page into the host's bank)
 *   MAP_HOST_END     OMAP_HOST accepts the page at RAM's end (off by one in a range check)
 *   REMAP_PAST_END   OREMAP_IMAGE maps a frame past the image's last page into KCore's table
 *   SMMU_CLEAR_NO_COUNT  an SMMU entry of the host's bank that goes leaves the host page's count
 *   SMMU_CLEAR_VERIFIED  OSMMU_CLEAR in a VERIFIED VM's bank is done (REF 7.10; SPEC halt)
 *   SMMU_FREE_LIVE   OSMMU_FREE of a bank whose owner is not POWEROFF is done (SPEC halt)
 *   ACTIVE_TWICE     OVM_ACTIVE of a vCPU that is not READY (running elsewhere) is done
 *   BOOT_INFO_ANY_STATE  OBOOT_INFO for a VM that is not READY is done (SPEC halt)
 *   REMAP_ANY_STATE  OREMAP_IMAGE for a VM that is not READY is done (SPEC halt)
 *   REMAP_WINDOW_FULL    OBOOT_INFO past the remap window's end is done (SPEC halt)
 *   VMID_END         OMAP_VM's vmid check passes COREVISOR (bad input, off by one past MAX_VM):
 *                    the host maps into KCore's own table
 *   HALT_CONTINUE    a halted CPU runs its next step (REF 7.27: C's v_panic only prints)
 *
 * The switches are process-global and meant for deterministic single-threaded tests.
 */
#ifndef HL_FAULT_H
#define HL_FAULT_H

#include "hl_config.h"

/* hl_config.h #undefs HL_FAULT_INJECTION in a normal build; the test-only copy of the
 * library (tests/meson.build) asks for the switches with HL_FAULT_INJECTION_FORCE */
#if defined(HL_FAULT_INJECTION_FORCE) && !defined(HL_FAULT_INJECTION)
#define HL_FAULT_INJECTION 1
#endif

#ifdef HL_FAULT_INJECTION

#include <stdbool.h>

enum hl_fault {
	HL_FAULT_SKIP_LOCK = 0,
	HL_FAULT_LOCK_ORDER,
	HL_FAULT_APPEND_LATE,
	HL_FAULT_DROP_RECORD,
	HL_FAULT_WRONG_DELTA,
	HL_FAULT_HALT_RELEASE,
	HL_FAULT_REORDER,
	HL_FAULT_SMMU_LOCK_ORDER,
	HL_FAULT_CLEAR_NO_ZERO,
	HL_FAULT_VMID_NO_BOUND,
	HL_FAULT_HALT_UNSTRAND,
	HL_FAULT_SMMU_NO_UNMAP,
	HL_FAULT_REVOKE_AT_ZERO,
	HL_FAULT_GRANT_PAST_MAX,
	HL_FAULT_VERIFY_NO_SIG,
	HL_FAULT_DMA_NO_DEC,
	HL_FAULT_SMMU_MAP_OVER,
	HL_FAULT_VM_MAP_OVER,
	HL_FAULT_CLEAR_WHILE_DMA,
	HL_FAULT_TLBI_SKIP,
	HL_FAULT_HOST_MAPS_VM,
	HL_FAULT_RUN_UNVERIFIED,
	HL_FAULT_SMMU_FREE_KEEP,
	HL_FAULT_SMMU_NO_COUNT,
	HL_FAULT_REVOKE_NO_UNMAP,
	HL_FAULT_RELAXED_PUBLISH,
	HL_FAULT_CLEAR_WHILE_RUNNING,
	HL_FAULT_SHARD_MISROUTE,
	HL_FAULT_INACTIVE_STAYS,
	HL_FAULT_GRANT_LOGS_CLEAR,
	HL_FAULT_SMMU_FREE_VMID,
	HL_FAULT_ASSIGN_HALTS,
	HL_FAULT_ASSIGN_NO_FIXUP,
	HL_FAULT_CLEAR_NO_UNMAP,
	HL_FAULT_IO_ANY_STATE,
	HL_FAULT_SMMU_ALLOC_VERIFIED,
	HL_FAULT_REG_VCPU_ANY_STATE,
	HL_FAULT_REVOKE_NO_DEC,
	HL_FAULT_ASSIGN_NO_UNMAP,
	HL_FAULT_ASSIGN_WRONG_VMID,
	HL_FAULT_DOUBLE_ASSIGN,
	HL_FAULT_MAP_VM_LEVEL,
	HL_FAULT_SMMU_MAP_ANY_OWNER,
	HL_FAULT_MAP_HOST_END,
	HL_FAULT_REMAP_PAST_END,
	HL_FAULT_SMMU_CLEAR_NO_COUNT,
	HL_FAULT_SMMU_CLEAR_VERIFIED,
	HL_FAULT_SMMU_FREE_LIVE,
	HL_FAULT_ACTIVE_TWICE,
	HL_FAULT_BOOT_INFO_ANY_STATE,
	HL_FAULT_REMAP_ANY_STATE,
	HL_FAULT_REMAP_WINDOW_FULL,
	HL_FAULT_VMID_END,
	HL_FAULT_HALT_CONTINUE,
	HL_FAULT__COUNT
};

/* arm fault f on every every_n-th eligible event from now on (0 = off); resets its count */
void hl_fault_set(enum hl_fault f, unsigned every_n);
/* engine-internal: count one eligible event; true if the fault fires on it */
bool hl_fault_hit(enum hl_fault f);
/* armed (every_n != 0), without counting an event */
bool hl_fault_armed(enum hl_fault f);
/* a fault site in engine code: HL_FI(NAME) counts one eligible event of HL_FAULT_NAME */
#define HL_FI(f) hl_fault_hit(HL_FAULT_##f)

#else
#define HL_FI(f) false
#endif /* HL_FAULT_INJECTION */
#endif /* HL_FAULT_H */

/*
 * hl_const.h - the spec's constants, object IDs and sizes (SPEC §3, REFERENCE §2.3).
 *
 * Values follow the Coq Constants.v unless a comment says why they differ. Sizes
 * that a user may want to change come from hl_config.h (meson options).
 */
#ifndef HL_CONST_H
#define HL_CONST_H

#include <stdint.h>

#include "hl_config.h"

/* ---- principals ---------------------------------------------------------------- */
#define HL_MAX_VM        HL_CFG_MAX_VM          /* Coq MAX_VM_NUM = 15 */
#define HL_HOSTVISOR     0u
#define HL_COREVISOR     (HL_MAX_VM + 1u)       /* Coq 16 */
#define HL_NR_PRINC      (HL_COREVISOR + 1u)    /* host, VMs, COREVISOR */
#define HL_VCPU_PER_VM   HL_CFG_VCPUS_PER_VM
#define HL_NR_CPUS       HL_CFG_NR_CPUS

#define HL_INVALID       0xFFFFFFFFu
#define HL_INVALID64     0xFFFFFFFFFFFFFFFFull

/* ---- object IDs (RData.v numbering, generalised over MAX_VM) ---------------------- */
#define HL_FLATMEM_ID    0u
#define HL_CORE_ID       1u
#define HL_S2PAGE_ID     2u
#define HL_SPT_ID        3u
#define HL_SMMU_ID       4u
#define HL_NPT_ID        5u
#define HL_INFO_ID       (HL_NPT_ID + HL_NR_PRINC)
#define HL_ID_END        (HL_INFO_ID + HL_NR_PRINC)     /* Coq 39 */
#define HL_NPT_OBJ(v)    (HL_NPT_ID + (unsigned)(v))
#define HL_INFO_OBJ(v)   (HL_INFO_ID + (unsigned)(v))

/* ---- shards (issue 11: the refinement of SPEC's s2page and npt(host), DESIGN2.md) ------
 * Engine objects with their own lock and log, each owning fixed byte ranges of an abstract
 * (SPEC) object's image. Their IDs follow the SPEC's (which keep the Coq numbering) and are
 * fixed per class: s2page shard k is HL_S2P_SHARD(k), npt(host) shard k HL_NPTH_SHARD(k).
 * Which of them exist, and the ranges each owns, is the run's refinement map (engine cfg,
 * the log file's map). HL_OBJ_END bounds every lockable / loggable object ID. */
#define HL_S2P_MAX_SHARDS   32u
#define HL_NPTH_MAX_SHARDS  32u
#define HL_S2P_SHARD0       HL_ID_END
#define HL_NPTH_SHARD0      (HL_S2P_SHARD0 + HL_S2P_MAX_SHARDS)
#define HL_OBJ_END          (HL_NPTH_SHARD0 + HL_NPTH_MAX_SHARDS)
#define HL_SHARD_MAX        (HL_OBJ_END - HL_ID_END)
#define HL_S2P_SHARD(k)     (HL_S2P_SHARD0 + (unsigned)(k))
#define HL_NPTH_SHARD(k)    (HL_NPTH_SHARD0 + (unsigned)(k))
/* the abstract object a shard ID refines (HL_INVALID: not a shard ID), and its index */
static inline unsigned hl_shard_parent(unsigned id)
{
	if (id >= HL_S2P_SHARD0 && id < HL_NPTH_SHARD0)
		return HL_S2PAGE_ID;
	if (id >= HL_NPTH_SHARD0 && id < HL_OBJ_END)
		return HL_NPT_OBJ(HL_HOSTVISOR);
	return 0xFFFFFFFFu;
}
static inline unsigned hl_shard_index(unsigned id)
{
	return id >= HL_NPTH_SHARD0 ? id - HL_NPTH_SHARD0 : id - HL_S2P_SHARD0;
}

/* ---- memory map --------------------------------------------------------------------
 * Physical addresses below HL_RAM_BASE are MMIO (s2page owner INVALID, pfn 0 included);
 * RAM follows. HL_RAM_BASE equals the Coq MAX_MMIO_ADDR, so "addr < MAX_MMIO_ADDR"
 * and "not RAM" agree. */
#define HL_PAGE_SHIFT    12u
#define HL_PAGE_SIZE     4096ull
#define HL_PMD_SIZE      0x200000ull
#define HL_PTRS_PER_TBL  512u
#define HL_RAM_BASE      0x40000000ull
#define HL_RAM_SIZE      ((uint64_t)HL_CFG_RAM_MIB << 20)
#define HL_RAM_PAGES     (HL_RAM_SIZE >> HL_PAGE_SHIFT)
#define HL_RAM_BASE_PFN  (HL_RAM_BASE >> HL_PAGE_SHIFT)
#define HL_MAX_MMIO_ADDR 0x40000000ull
#define HL_PHYS_SIZE     (1ull << 40)           /* KVM_PHYS_SIZE: bound on host PAs */
#define HL_ADDR_SPACE    (1ull << 48)           /* KVM_ADDR_SPACE: bound on IPAs */
#define HL_SMMU_IPA_SIZE (1ull << 40)           /* 40-bit SMMU input: 1024-entry root */

/* ---- page-state constants ----------------------------------------------------------- */
#define HL_MAX_SHARE_COUNT   100u
#define HL_SMMU_HOST_OFFSET  1000000000ull
#define HL_MAX_LOAD_INFO     5u
#define HL_MAX_KEYS          4u    /* KCore's provisioned image-verification keys (SPEC §11) */
#define HL_REMAP_START       0x2000000ull
#define HL_REMAP_END         0x4000000ull

/* ---- SMMU ---------------------------------------------------------------------------- */
#define HL_SMMU_NUM          2u
#define HL_SMMU_NUM_CB       8u
#define HL_SMMU_CFG_SIZE     (HL_SMMU_NUM * HL_SMMU_NUM_CB)   /* EL2_SMMU_CFG_SIZE 16 */
#define HL_SMMU_ID_OF(index, cbndx) ((index) * HL_SMMU_NUM_CB + (cbndx))
/* KCore's emulated SMMU register windows (host PA, HL_SMMU_NUM x 64 KiB): KCore owns them,
 * so OMAP_IO never maps them into a VM (SPEC §16) */
#define HL_SMMU_MMIO_BASE    0x2000000ull
#define HL_SMMU_MMIO_SIZE    0x10000ull

/* ---- VM and vCPU states (Coq numbering; C has no POWEROFF state) ---------------------- */
enum hl_vm_state {
	HL_VM_UNUSED = 0,
	HL_VM_MAPPED = 1,
	HL_VM_READY = 2,
	HL_VM_VERIFIED = 3,
	HL_VM_POWEROFF = 4,
	HL_VM_ACTIVE = 5,
};
enum hl_vcpu_state {
	HL_VCPU_UNUSED = 0,
	HL_VCPU_READY = 2,
	HL_VCPU_ACTIVE = 5,
};

/* ---- stage-2 descriptor bits (Arm ARM D8.3, VMSAv8-64 stage 2) -------------------------
 * bits[1:0]: 0b11 table (L0-L2) or page (L3), 0b01 block (L1-L2). MemAttr [5:2],
 * S2AP [7:6], SH [9:8], AF [10], XN [54]. Bits 55..58 are software-defined. */
#define HL_DESC_VALID        (1ull << 0)
#define HL_DESC_TABLE        (1ull << 1)
#define HL_DESC_TYPE_MASK    3ull
#define HL_DESC_TYPE_TABLE   3ull          /* also "page" at level 3 */
#define HL_DESC_TYPE_BLOCK   1ull
#define HL_DESC_ADDR_MASK    0x0000FFFFFFFFF000ull   /* OA[47:12] */
#define HL_PTE_AF            (1ull << 10)
#define HL_PTE_SH_INNER      (3ull << 8)
#define HL_PTE_S2_RDONLY     (1ull << 6)
#define HL_PTE_S2_RDWR       (3ull << 6)       /* Coq S2_RDWR 0xC0 */
#define HL_PTE_MEMATTR_NORMAL (0xFull << 2)
#define HL_PTE_MEMATTR_DEVICE (0x1ull << 2)    /* Device-nGnRE */
#define HL_PTE_S2_XN         (1ull << 54)
/* PAGE_S2_KERNEL: the C value (PROT_DEFAULT | MEMATTR(NORMAL) | S2_RDWR) = 0x7FF. The Coq
 * abstract value 0xFFF also sets bit 11, which is RES0 in a stage-2 descriptor. */
#define HL_PAGE_S2_KERNEL    (HL_DESC_TYPE_TABLE | HL_PTE_MEMATTR_NORMAL | HL_PTE_S2_RDWR | \
			      HL_PTE_SH_INNER | HL_PTE_AF)
#define HL_PAGE_S2_DEVICE    0x40000000000747ull   /* XN, AF, SH inner, S2 RO, Device-nGnRE */
#define HL_PAGE_HYP          0x40000000000753ull
#define HL_PAGE_GUEST        (1ull << 57)          /* invalid descriptor + "given to guest" mark */
#define HL_NOT_PMD_TABLE_BIT (~2ull)

/* ---- engine step results ----------------------------------------------------------------
 * A step either happened (OK), happened and halted the CPU (HALT, SPEC §8), or was refused
 * before touching state (negative: nothing changed, nothing appended). */
enum hl_status {
	HL_OK = 0,
	HL_HALT = 1,            /* the step ran its halt branch; the CPU is now halted */
	HL_E_INVAL = -1,        /* malformed argument from the host or guest */
	HL_E_CPU_HALTED = -2,   /* this CPU halted earlier: every later step is refused */
	HL_E_STRANDED = -3,     /* an object it needs was left locked by a halted CPU */
	HL_E_NOLOG = -4,        /* log memory cap reached: refused before any change */
	HL_E_NOTSUP = -5,       /* outside the first version (encryption calls) */
	HL_E_CPU = -6,          /* bad CPU id */
	HL_E_DENIED = -7,       /* refused by an isolation rule (SPEC §12-§17): nothing changed */
};

const char *hl_status_str(int st);
/* an object ID as the spec names it (engine, oracle and CLI share it) */
const char *hl_obj_name(unsigned id, char *buf, unsigned len);

#endif /* HL_CONST_H */

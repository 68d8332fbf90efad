/*
 * hl_types.h - the shared object types (SPEC §3) and type-safe addresses.
 *
 * Every shared object is one contiguous byte image, so a log delta is "bytes at offset"
 * and Cal<Obj> is byte-exact by construction. Page-table objects carry their own table
 * pool inside the image: [meta page][root][pgd region][pud region][pmd region].
 */
#ifndef HL_TYPES_H
#define HL_TYPES_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_const.h"

/* ---- type-safe addresses: a PA, an IPA and an IOVA never convert silently ------------ */
typedef struct { uint64_t v; } hl_pa_t;    /* physical address */
typedef struct { uint64_t v; } hl_ipa_t;   /* guest physical (stage-2 input) address */
typedef struct { uint64_t v; } hl_iova_t;  /* SMMU input address */

static inline hl_pa_t hl_pa(uint64_t v) { return (hl_pa_t){ v }; }
static inline hl_ipa_t hl_ipa(uint64_t v) { return (hl_ipa_t){ v }; }
static inline hl_iova_t hl_iova(uint64_t v) { return (hl_iova_t){ v }; }

/* ---- core_data ------------------------------------------------------------------------ */
struct hl_core_data {
	uint64_t next_vmid;
	uint64_t next_remap_ptr;
};
static_assert(sizeof(struct hl_core_data) == 16, "core_data layout");

/* ---- s2page ----------------------------------------------------------------------------
 * The S2PAGE object image is s2page[HL_RAM_PAGES] followed by the flatmem digests
 * (one 64-bit content digest per RAM page): every flatmem change happens under the
 * s2page lock, so its deltas ride in s2page records. Pages outside RAM read as
 * {INVALID, 0, INVALID64, dma 0} and cannot be changed. */
struct hl_s2page {
	uint32_t owner;   /* HOSTVISOR, a vmid, COREVISOR, or INVALID (not RAM) */
	uint32_t count;   /* grants to host (VM pages) / SMMU mappings (host pages); INVALID allowed */
	uint64_t gfn;
	uint32_t dma;     /* SMMU table entries, in any bank (free or owned), whose output page is
			   * this pfn (SPEC §12): a page never changes owner while dma != 0 */
	uint32_t pad;     /* always 0 */
};
static_assert(sizeof(struct hl_s2page) == 24, "s2page layout");

struct hl_s2page_obj {
	struct hl_s2page page[HL_RAM_PAGES];
	uint64_t flatmem[HL_RAM_PAGES];
};

/* ---- npts: real stage-2 tables with the spec's three bump regions --------------------- */
struct hl_pt_meta {
	uint64_t pool_pa;       /* PA of page 0 of the image (the meta page itself) */
	uint64_t pgd_next;      /* next free byte offset in each region (image offsets) */
	uint64_t pud_next;
	uint64_t pmd_next;
	uint64_t pgd_start, pud_start, pmd_start, pool_end;   /* region bounds (image offsets) */
	uint32_t princ;
	uint32_t levels;        /* 4 for npts, 3 for spt (root at level 1, concatenated) */
};

/* layout of one principal's pool, in pages */
struct hl_pool_layout {
	uint32_t root_pages, pgd_pages, pud_pages, pmd_pages;
};

/* ---- vminfos --------------------------------------------------------------------------- */
struct hl_load_info {
	uint64_t load_addr;
	uint64_t size;
	uint64_t remap_addr;
	uint64_t mapped_pages;
	uint8_t signature[64];   /* host-supplied Ed25519 signature over the image */
};
static_assert(sizeof(struct hl_load_info) == 96, "load_info layout");

struct hl_vminfo {
	uint32_t state;                          /* enum hl_vm_state */
	uint32_t next_load_info;
	uint64_t kvm;                            /* host handle (shared_kvm) */
	uint32_t vcpu_state[HL_VCPU_PER_VM];
	uint64_t vcpu[HL_VCPU_PER_VM];           /* host handles (shared_vcpu) */
	uint64_t inc_exe;
	struct hl_load_info load[HL_MAX_LOAD_INFO];
	/* which of KCore's provisioned keys (engine cfg kcore_keys / the file header's keys)
	 * verifies this VM's images; set at REGISTER_KVM, always < nkeys (SPEC §11: the key
	 * itself is KCore's, never the host's) */
	uint32_t key_idx;
	uint32_t pad_key;
};
static_assert(offsetof(struct hl_vminfo, load) % 8 == 0, "vminfo alignment");
static_assert(sizeof(struct hl_vminfo) % 8 == 0, "vminfo size");

/* ---- smmu_vmid -------------------------------------------------------------------------- */
struct hl_smmu_obj {
	uint32_t owner[HL_SMMU_CFG_SIZE];        /* vmid owning (index, cbndx), INVALID = free */
};

/* the abstract view an oracle compares against: pt : gfn -> (pfn, level, pte) */
struct hl_pt_entry {
	uint64_t pfn;
	uint32_t level;
	uint64_t pte;
};

#endif /* HL_TYPES_H */

/*
 * hl_pgtable.h - real ARMv8-A stage-2 tables inside a principal's pool image.
 *
 * npt: 4 KiB granule, 4 levels (L0 root .. L3), 48-bit IPA, 2 MiB blocks at L2.
 *      L1 tables come from the pgd region, L2 from the pud region, L3 from the pmd
 *      region, each with a bump pointer (Coq pt_pgd_next / pt_pud_next / pt_pmd_next).
 * spt: SMMU stage 2 with a 40-bit input: a 1024-entry root (two concatenated L1 pages)
 *      per (index, cbndx), L2 tables from the pgd region and L3 from the pmd region.
 * Running out of a region is the spec's halt, reported as `true`.
 */
#ifndef HL_PGTABLE_H
#define HL_PGTABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "hl_state.h"
#include "hl_types.h"

size_t hl_pt_image_size(const struct hl_pool_layout *lay);
void hl_pt_init(uint8_t *img, const struct hl_pool_layout *lay, unsigned princ, uint64_t pool_pa,
		unsigned levels);
static inline struct hl_pt_meta *hl_pt_meta(uint8_t *img)
{
	return (struct hl_pt_meta *)img;
}
/* PA of the root table: what VTTBR_EL2.BADDR holds */
uint64_t hl_pt_root_pa(const uint8_t *img);

/* local_mmap_h: map `addr` at `level` (2 or 3) with descriptor `pte`; true = halt */
bool hl_npt_map(struct hl_wctx *w, unsigned obj, uint8_t *img, uint64_t addr, unsigned level,
		uint64_t pte);
/* SPEC §13: true if a level-`level` entry at `addr` would replace nothing (level 3: no
 * block over it and its entry 0; level 2: its level-2 entry 0, no block, no table) */
bool hl_npt_slot_free(const uint8_t *img, uint64_t addr, unsigned level);
/* the seed's `gfn @ pt`: (pfn, level, pte), all zero when nothing is mapped */
void hl_npt_walk(const uint8_t *img, uint64_t addr, struct hl_pt_entry *out);

/*
 * ---- npt(host) shards (issue 11; DESIGN2.md "npt(host) shards") ----------------------------
 * With the host table sharded, its seq-0 image is SPEC's empty pool plus, for every 2 MiB
 * of RAM in ascending order, exactly the tables local_mmap_h allocates for a level-3 map
 * there (L1 from pgd, L2 from pud, L3 from pmd, bump order), with no leaf entry. So the L3
 * table of RAM 2 MiB block k is pmd page k, every upper entry covering RAM is written at
 * init and never again (hl_npth_ready), and a host fault or unmap in RAM writes one L3
 * entry. Shard j owns the L3 tables [j*T, min((j+1)*T, HL_NPTH_RAM_TABLES)) (T tables =
 * 2T MiB of host IPA per shard); the residual npt(HOSTVISOR) keeps the meta page, root,
 * pgd, pud and the pmd pages after the RAM tables (MMIO subtrees, later allocations).
 */
#define HL_NPTH_RAM_TABLES ((HL_RAM_SIZE + HL_PMD_SIZE - 1) / HL_PMD_SIZE)
/* does the host pool hold the RAM tables? (host_pmd_pages >= RAM / 2 MiB) */
bool hl_npth_fits(void);
/* the preallocation above (an image fresh from hl_pt_init for HOSTVISOR); not logged */
void hl_npth_prealloc(uint8_t *img);
/* is addr a RAM IPA whose 3 upper entries point at its preallocated L3 table? (the
 * invariant of a preallocated host table; false on a corrupted image) */
bool hl_npth_ready(const uint8_t *img, uint64_t addr);
static inline bool hl_npth_covers(uint64_t addr)
{
	return addr >= HL_RAM_BASE && addr - HL_RAM_BASE < HL_NPTH_RAM_TABLES * HL_PMD_SIZE;
}
/* L3 tables per shard for a requested span of `mib` MiB of host IPA: 0 = not sharded
 * (mib 0); raised so that at most HL_NPTH_MAX_SHARDS shards cover RAM; capped at all of
 * RAM (one shard) */
uint64_t hl_npth_shard_tables(uint64_t mib);
static inline unsigned hl_npth_nshards(uint64_t tables)
{
	return tables ? (unsigned)((HL_NPTH_RAM_TABLES + tables - 1) / tables) : 0;
}
/* byte range of npt(HOSTVISOR)'s image that shard j owns (`tables` per shard) */
void hl_npth_shard_range(uint64_t tables, unsigned j, uint64_t *off, uint64_t *len);
/* the shard index owning a RAM IPA (hl_npth_covers(addr)) */
static inline unsigned hl_npth_shard_of(uint64_t tables, uint64_t addr)
{
	return (unsigned)((addr - HL_RAM_BASE) / HL_PMD_SIZE / tables);
}

/* image offset of the L3 entry of a RAM IPA in a preallocated host table */
uint64_t hl_npth_entry_off(uint64_t addr);
/* local_mmap_h at level 3 for a RAM IPA of a preallocated host table (hl_npth_ready):
 * exactly its L3 entry := pte, nothing else read or written. The meta page's bump pointers
 * are not read: a RAM fault holds only its shard while an MMIO fault may move them under
 * the residual's lock. (local_mmap_h's pool bound check on unchanged pointers can fail only
 * on a corrupted image, whose bump pointers no valid step leaves past their region.) */
void hl_npth_set_leaf(struct hl_wctx *w, uint8_t *img, uint64_t addr, uint64_t pte);
/* the one object a step locks to read or write the host-table entry of IPA addr: the
 * shard owning its L3 entry (addr in RAM, npt(host) sharded in r), else npt(HOSTVISOR) */
unsigned hl_npth_obj(const struct hl_refine *r, uint64_t addr);
/* add the npt(host) shards for a span of `mib` MiB to a map (before hl_refine_finish);
 * mib 0: nothing (not sharded). -1 if the host pool cannot hold the RAM tables
 * (-Dhost_pmd_pages below RAM / 2 MiB) or the map is full. */
int hl_refine_npt_host(struct hl_refine *r, uint64_t mib);

typedef void (*hl_pt_leaf_fn)(uint64_t gfn, const struct hl_pt_entry *e, void *arg);
/* every leaf entry with a non-zero descriptor (L2 blocks expand to 512 gfns) */
void hl_npt_for_each(const uint8_t *img, hl_pt_leaf_fn fn, void *arg);

#define HL_SPT_ROOT_PAGES 2u
/* local_spt_map_h: true = halt (pool exhausted) */
bool hl_spt_map(struct hl_wctx *w, uint8_t *img, unsigned bank, uint64_t iova, uint64_t pte);
void hl_spt_walk(const uint8_t *img, unsigned bank, uint64_t iova, struct hl_pt_entry *out);
void hl_spt_reset_bank(struct hl_wctx *w, uint8_t *img, unsigned bank);
void hl_spt_for_each(const uint8_t *img, unsigned bank, hl_pt_leaf_fn fn, void *arg);
uint64_t hl_spt_root_pa(const uint8_t *img, unsigned bank);

/*
 * SPEC §15 for the SMMU (H-redteam3): a removed SMMU entry (hl_spt_map with pte 0 over a
 * present leaf; hl_spt_reset_bank) must leave the SMMU's TLB inside the step that removes
 * it, before its locks are released and so before the page can change hands (OSMMU_CLEAR
 * and OSMMU_FREE hold smmu -> s2page -> spt; the page's dma count drops in the same step).
 * The driver of the SMMU hardware that walks a live table image registers an invalidation
 * for that image (kcore_new); hl_spt_map / hl_spt_reset_bank call it with the bank and the
 * iova (HL_SPT_TLBI_ALL: the whole bank) right after the entry is written. Replays and the
 * oracles' models write other images, so they call nothing.
 *
 *   spt leaf of (bank, iova)   event                         SMMU TLB of (bank, iova)
 *   present                    DMA walk                      may cache it
 *   present -> 0               hl_spt_map(pte 0), in a step  dropped (fn), same step
 *   any                        hl_spt_reset_bank             whole bank dropped, same step
 *
 * At most HL_SPT_TLBI_MAX images at once; registering an image again replaces its entry.
 */
#define HL_SPT_TLBI_ALL (~0ull)
#define HL_SPT_TLBI_MAX 64u
typedef void (*hl_spt_tlbi_fn)(void *ctx, unsigned bank, uint64_t iova);
/* false if every slot is taken */
bool hl_spt_tlbi_register(const uint8_t *img, hl_spt_tlbi_fn fn, void *ctx);
void hl_spt_tlbi_unregister(const uint8_t *img);

#endif

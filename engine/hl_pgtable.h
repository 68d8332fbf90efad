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

#endif

/*
 * hl_mpt.h - the oracle's own reading of the shared objects' byte images: object sizes,
 * the table pools' layout, and stage-2 descriptor decoding and walks.
 *
 * Written from the Arm ARM (D8, VMSAv8-64 stage-2 translation, 4 KiB granule) and the
 * object layouts of shared/hl_types.h; it uses no engine code, so that a mistake in the
 * engine's walker or layout cannot hide in the oracle (tests/test_model.c compares the
 * two on random maps).
 *
 *   npt(v): 48-bit IPA, 4 levels, walk starts at level 0 (one 512-entry root page).
 *           Level 0/1/2 descriptor 0b11 = table; level 1/2 0b01 = block (1 GiB / 2 MiB);
 *           level 3 0b11 = page; anything else is invalid (level 0 has no block with a
 *           4 KiB granule; level-3 0b01 is reserved = invalid).
 *   spt:    SMMU stage 2 with a 40-bit input: the walk starts at level 1 with two
 *           concatenated level-1 tables (1024 entries, 8 KiB) per context bank.
 *   OA:     table / page: bits [47:12]; block: [47:30] at level 1, [47:21] at level 2.
 *
 * Image layout of a table object: page 0 = struct hl_pt_meta, then the root page(s), then
 * the pgd, pud and pmd regions (the spec's three bump pools: level-1 tables of an npt come
 * from pgd, level-2 from pud, level-3 from pmd; the spt takes its level-2 tables from pgd
 * and level-3 from pmd). A table descriptor holds pool_pa + image offset; a link that
 * leaves the pool ("stray") cannot be followed by the oracle and is reported as such.
 *
 * The seed's abstract view (SPEC §3): pt : gfn -> (pfn, level, pte) holds every non-zero
 * level-3 descriptor (the host's PAGE_GUEST marker included) and every block, expanded
 * per gfn; presence sets say which table pages a walk reaches.
 */
#ifndef HL_MPT_H
#define HL_MPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_const.h"

/* one abstract table entry: the seed's (pfn, level, pte); spt entries have level 3 (a
 * block, which hyplog never writes into an SMMU table, reads as level 1 or 2) */
struct hl_mval {
	uint64_t pfn;
	uint64_t pte;
	uint32_t level;
};

/* ---- layout ------------------------------------------------------------------------- */
#define HL_MPT_SPT_ROOT_PAGES ((unsigned)(HL_SMMU_IPA_SIZE >> 39))   /* 2: 2^40 / 2^39 per L1 page */

struct hl_mpt_layout {
	uint64_t root_pages, pgd_pages, pud_pages, pmd_pages;
	uint64_t pgd_start, pud_start, pmd_start, pool_end;   /* image offsets */
	uint64_t pool_pa;                                      /* the hosted placement */
	uint32_t princ, levels;
};
/* layout of a table object (HL_SPT_ID or an npt); -1 for other objects */
int hl_mpt_layout(unsigned obj, struct hl_mpt_layout *l);
/* image size of any object of this build (0 for IDs without state) */
size_t hl_mpt_obj_size(unsigned obj);

/* ---- descriptors ---------------------------------------------------------------------- */
enum hl_mpt_kind { HL_MPT_INVALID = 0, HL_MPT_TABLE, HL_MPT_BLOCK, HL_MPT_PAGE };
unsigned hl_mpt_desc_kind(uint64_t d, unsigned level);
/* a descriptor that translates (block or page) */
bool hl_mpt_is_mapping(const struct hl_mval *e);

/* ---- one table image -------------------------------------------------------------------- */
struct hl_mpt {
	const uint8_t *img;
	size_t len;
	uint64_t pool_pa, pool_end;
	unsigned obj, levels;
};
/* 0, or -2 when the image's size or metadata would let a walk leave it */
int hl_mpt_open(struct hl_mpt *t, const uint8_t *img, size_t len, unsigned obj);

enum hl_mpt_pres { HL_MPT_ABSENT = 0, HL_MPT_PRESENT = 1, HL_MPT_STRAY = 2 };
/* npt presence: level 0 key i0, 1 key i0.i1, 2 key i0.i1.i2 (a table hangs there) */
unsigned hl_mpt_npt_pres(const struct hl_mpt *t, unsigned level, uint64_t key);
/* spt presence of bank: level 1 key i1 (0..1023), level 2 key i1.i2 */
unsigned hl_mpt_spt_pres(const struct hl_mpt *t, unsigned bank, unsigned level, uint64_t key);
/* the seed's `gfn @ pt`; false when nothing is there */
bool hl_mpt_npt_leaf(const struct hl_mpt *t, uint64_t gfn, struct hl_mval *out);
bool hl_mpt_spt_leaf(const struct hl_mpt *t, unsigned bank, uint64_t gfn, struct hl_mval *out);

typedef void (*hl_mpt_leaf_fn)(void *arg, uint64_t gfn, const struct hl_mval *e);
typedef void (*hl_mpt_pres_fn)(void *arg, unsigned level, uint64_t key, unsigned pres);
/* every entry of the seed view and every table link (present or stray) */
void hl_mpt_npt_scan(const struct hl_mpt *t, hl_mpt_leaf_fn leaf, hl_mpt_pres_fn pres, void *arg);
void hl_mpt_spt_scan(const struct hl_mpt *t, unsigned bank, hl_mpt_leaf_fn leaf, hl_mpt_pres_fn pres,
		     void *arg);

#endif /* HL_MPT_H */

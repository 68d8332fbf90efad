/*
 * hl_mpt.c - the oracle's own object sizes, pool layout, stage-2 descriptor decoder and
 * walks (see hl_mpt.h for what it is written from). No engine header, no engine code.
 */
#include "hl_mpt.h"

#include <string.h>

#include "hl_pool.h"
#include "hl_types.h"

#define PG HL_PAGE_SIZE

/* ---- layout ------------------------------------------------------------------------------
 * Region sizes in pages. The pmd regions come from the build configuration (hl_config.h);
 * the root, pgd and pud regions are fixed by the file format: an npt has one root page, a
 * host pool 4 level-1 pages and 8 level-2 pages, a VM pool 4 and 16, KCore's own pool 2
 * and 4; the SMMU pool has 2 concatenated root pages per context bank and 64 level-2
 * pages. tests/test_model.c checks these against the engine's pools. */
int hl_mpt_layout(unsigned obj, struct hl_mpt_layout *l)
{
	memset(l, 0, sizeof(*l));
	if (obj == HL_SPT_ID) {
		l->root_pages = (uint64_t)HL_SMMU_CFG_SIZE * HL_MPT_SPT_ROOT_PAGES;
		l->pgd_pages = 64;
		l->pud_pages = 0;
		l->pmd_pages = HL_CFG_SPT_PMD_PAGES;
		l->pool_pa = HL_SPT_POOL_PA;
		l->princ = HL_INVALID;
		l->levels = 3;
	} else if (obj >= HL_NPT_ID && obj < HL_INFO_ID) {
		unsigned v = obj - HL_NPT_ID;
		l->root_pages = 1;
		if (v == HL_HOSTVISOR) {
			l->pgd_pages = 4;
			l->pud_pages = 8;
			l->pmd_pages = HL_CFG_HOST_PMD_PAGES;
		} else if (v == HL_COREVISOR) {
			l->pgd_pages = 2;
			l->pud_pages = 4;
			l->pmd_pages = HL_CFG_CORE_PMD_PAGES;
		} else {
			l->pgd_pages = 4;
			l->pud_pages = 16;
			l->pmd_pages = HL_CFG_VM_PMD_PAGES;
		}
		l->pool_pa = HL_PT_POOL_PA_BASE + (uint64_t)v * HL_PT_POOL_PA_STRIDE;
		l->princ = v;
		l->levels = 4;
	} else {
		return -1;
	}
	l->pgd_start = (1 + l->root_pages) * PG;   /* after the meta page and the roots */
	l->pud_start = l->pgd_start + l->pgd_pages * PG;
	l->pmd_start = l->pud_start + l->pud_pages * PG;
	l->pool_end = l->pmd_start + l->pmd_pages * PG;
	return 0;
}

size_t hl_mpt_obj_size(unsigned obj)
{
	struct hl_mpt_layout l;

	if (obj == HL_CORE_ID)
		return sizeof(struct hl_core_data);
	if (obj == HL_S2PAGE_ID)
		return sizeof(struct hl_s2page_obj);
	if (obj == HL_SMMU_ID)
		return sizeof(struct hl_smmu_obj);
	if (obj >= HL_INFO_ID && obj < HL_ID_END)
		return sizeof(struct hl_vminfo);
	if (hl_mpt_layout(obj, &l) == 0)
		return (size_t)l.pool_end;
	return 0;
}

/* ---- descriptors --------------------------------------------------------------------------- */
unsigned hl_mpt_desc_kind(uint64_t d, unsigned level)
{
	switch (d & 3) {
	case 3:
		return level == 3 ? HL_MPT_PAGE : HL_MPT_TABLE;
	case 1:
		return level == 1 || level == 2 ? HL_MPT_BLOCK : HL_MPT_INVALID;
	default:
		return HL_MPT_INVALID;
	}
}

bool hl_mpt_is_mapping(const struct hl_mval *e)
{
	unsigned k;

	if (!e)
		return false;
	k = hl_mpt_desc_kind(e->pte, e->level);
	return k == HL_MPT_BLOCK || k == HL_MPT_PAGE;
}

/* output address of a block or page descriptor at `level`, in pages */
static uint64_t oa_pfn(uint64_t d, unsigned level)
{
	uint64_t mask = HL_DESC_ADDR_MASK;

	if (level == 1)
		mask &= ~((1ull << 30) - 1);
	else if (level == 2)
		mask &= ~((1ull << 21) - 1);
	return (d & mask) / PG;
}

/* ---- one image ------------------------------------------------------------------------------- */
int hl_mpt_open(struct hl_mpt *t, const uint8_t *img, size_t len, unsigned obj)
{
	struct hl_mpt_layout l;
	const struct hl_pt_meta *mt = (const struct hl_pt_meta *)img;
	uint64_t min;

	memset(t, 0, sizeof(*t));
	if (!img || hl_mpt_layout(obj, &l) || len != hl_mpt_obj_size(obj))
		return -2;
	min = (1 + l.root_pages) * PG;
	if (mt->levels != l.levels || mt->pool_end < min || mt->pool_end > len || mt->pool_pa % PG ||
	    mt->pool_pa >= HL_ADDR_SPACE || mt->pool_pa + mt->pool_end > HL_ADDR_SPACE)
		return -2;
	t->img = img;
	t->len = len;
	t->pool_pa = mt->pool_pa;
	t->pool_end = mt->pool_end;
	t->obj = obj;
	t->levels = l.levels;
	return 0;
}

static const uint64_t *root_of(const struct hl_mpt *t, unsigned bank)
{
	if (t->levels == 3)
		return (const uint64_t *)(t->img + PG + (uint64_t)bank * HL_MPT_SPT_ROOT_PAGES * PG);
	return (const uint64_t *)(t->img + PG);
}

/* the table a level-`level` table descriptor links: NULL + *pres ABSENT (not a table) or
 * STRAY (a link the oracle cannot follow: outside the pool or onto the meta page) */
static const uint64_t *next_tbl(const struct hl_mpt *t, uint64_t d, unsigned level, unsigned *pres)
{
	uint64_t pa = d & HL_DESC_ADDR_MASK;

	*pres = HL_MPT_ABSENT;
	if (hl_mpt_desc_kind(d, level) != HL_MPT_TABLE)
		return NULL;
	if (pa < t->pool_pa + PG || pa >= t->pool_pa + t->pool_end) {
		*pres = HL_MPT_STRAY;
		return NULL;
	}
	*pres = HL_MPT_PRESENT;
	return (const uint64_t *)(t->img + (pa - t->pool_pa));
}

static inline unsigned ix(uint64_t a, unsigned shift) { return (unsigned)((a >> shift) & 511); }

unsigned hl_mpt_npt_pres(const struct hl_mpt *t, unsigned level, uint64_t key)
{
	uint64_t i0 = level == 0 ? key : level == 1 ? key >> 9 : key >> 18;
	const uint64_t *l1, *l2;
	unsigned p;

	l1 = next_tbl(t, root_of(t, 0)[i0 & 511], 0, &p);
	if (!l1 || level == 0)
		return p;
	l2 = next_tbl(t, l1[(level == 1 ? key : key >> 9) & 511], 1, &p);
	if (!l2 || level == 1)
		return p;
	next_tbl(t, l2[key & 511], 2, &p);
	return p;
}

unsigned hl_mpt_spt_pres(const struct hl_mpt *t, unsigned bank, unsigned level, uint64_t key)
{
	const uint64_t *l2;
	unsigned p;

	l2 = next_tbl(t, root_of(t, bank)[(level == 1 ? key : key >> 9) & 1023], 1, &p);
	if (!l2 || level == 1)
		return p;
	next_tbl(t, l2[key & 511], 2, &p);
	return p;
}

/* the entry of gfn in a level-`level` table (level 1..3), following tables below it */
static bool leaf_from(const struct hl_mpt *t, const uint64_t *tbl, unsigned level, uint64_t gfn,
		      struct hl_mval *out)
{
	unsigned p;

	for (;;) {
		uint64_t d = tbl[ix(gfn << 12, 39 - 9 * level)];
		if (level == 3) {
			if (d == 0)
				return false;
			*out = (struct hl_mval){ (d & HL_DESC_ADDR_MASK) / PG, d, 3 };
			return true;
		}
		if (hl_mpt_desc_kind(d, level) == HL_MPT_BLOCK) {
			uint64_t span = level == 1 ? (1ull << 18) : 512;
			*out = (struct hl_mval){ oa_pfn(d, level) + (gfn & (span - 1)), d, level };
			return true;
		}
		tbl = next_tbl(t, d, level, &p);
		if (!tbl)
			return false;
		level++;
	}
}

bool hl_mpt_npt_leaf(const struct hl_mpt *t, uint64_t gfn, struct hl_mval *out)
{
	const uint64_t *l1;
	unsigned p;

	memset(out, 0, sizeof(*out));
	if (gfn >= HL_ADDR_SPACE / PG)
		return false;
	l1 = next_tbl(t, root_of(t, 0)[ix(gfn << 12, 39)], 0, &p);
	return l1 && leaf_from(t, l1, 1, gfn, out);
}

bool hl_mpt_spt_leaf(const struct hl_mpt *t, unsigned bank, uint64_t gfn, struct hl_mval *out)
{
	const uint64_t *l2;
	uint64_t d;
	unsigned p;

	memset(out, 0, sizeof(*out));
	if (gfn >= HL_SMMU_IPA_SIZE / PG || bank >= HL_SMMU_CFG_SIZE)
		return false;
	d = root_of(t, bank)[(gfn >> 18) & 1023];
	if (hl_mpt_desc_kind(d, 1) == HL_MPT_BLOCK) {
		*out = (struct hl_mval){ oa_pfn(d, 1) + (gfn & ((1ull << 18) - 1)), d, 1 };
		return true;
	}
	l2 = next_tbl(t, d, 1, &p);
	return l2 && leaf_from(t, l2, 2, gfn, out);
}

/* every entry below a level-`level` table (level 1..3) whose first gfn is `base`; `key`
 * is the index path of the table (for presence callbacks) */
static void leaves_of(const struct hl_mpt *t, const uint64_t *tbl, unsigned level, uint64_t base,
		      hl_mpt_leaf_fn leaf, hl_mpt_pres_fn pres, void *arg, uint64_t key)
{
	for (unsigned i = 0; i < 512; i++) {
		uint64_t d = tbl[i], gfn = base | (uint64_t)i << (9 * (3 - level));
		unsigned p;
		const uint64_t *next;
		if (level == 3) {
			struct hl_mval e = { (d & HL_DESC_ADDR_MASK) / PG, d, 3 };
			if (d && leaf)
				leaf(arg, gfn, &e);
			continue;
		}
		if (hl_mpt_desc_kind(d, level) == HL_MPT_BLOCK) {
			uint64_t span = level == 1 ? (1ull << 18) : 512;
			for (uint64_t j = 0; leaf && j < span; j++) {
				struct hl_mval e = { oa_pfn(d, level) + j, d, level };
				leaf(arg, gfn + j, &e);
			}
			continue;
		}
		next = next_tbl(t, d, level, &p);
		if (p != HL_MPT_ABSENT && pres)
			pres(arg, level, key << 9 | i, p);
		if (next)
			leaves_of(t, next, level + 1, gfn, leaf, pres, arg, key << 9 | i);
	}
}

void hl_mpt_npt_scan(const struct hl_mpt *t, hl_mpt_leaf_fn leaf, hl_mpt_pres_fn pres, void *arg)
{
	const uint64_t *root = root_of(t, 0);

	for (unsigned i0 = 0; i0 < 512; i0++) {
		unsigned p;
		const uint64_t *l1 = next_tbl(t, root[i0], 0, &p);
		if (p != HL_MPT_ABSENT && pres)
			pres(arg, 0, i0, p);
		if (l1)
			leaves_of(t, l1, 1, (uint64_t)i0 << 27, leaf, pres, arg, i0);
	}
}

void hl_mpt_spt_scan(const struct hl_mpt *t, unsigned bank, hl_mpt_leaf_fn leaf, hl_mpt_pres_fn pres,
		     void *arg)
{
	const uint64_t *root = root_of(t, bank);

	for (unsigned i1 = 0; i1 < 1024; i1++) {
		unsigned p;
		const uint64_t *l2;
		if (hl_mpt_desc_kind(root[i1], 1) == HL_MPT_BLOCK) {
			for (uint64_t j = 0; leaf && j < (1ull << 18); j++) {
				struct hl_mval e = { oa_pfn(root[i1], 1) + j, root[i1], 1 };
				leaf(arg, (uint64_t)i1 << 18 | j, &e);
			}
			continue;
		}
		l2 = next_tbl(t, root[i1], 1, &p);
		if (p != HL_MPT_ABSENT && pres)
			pres(arg, 1, i1, p);
		if (l2)
			leaves_of(t, l2, 2, (uint64_t)i1 << 18, leaf, pres, arg, i1);
	}
}

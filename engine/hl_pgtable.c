/* hl_pgtable.c - stage-2 table walks and maps over pool images (Arm ARM D8). */
#include "hl_pgtable.h"

#include <stdlib.h>
#include <string.h>

#define PG HL_PAGE_SIZE

static inline bool is_table(uint64_t d) { return (d & HL_DESC_TYPE_MASK) == HL_DESC_TYPE_TABLE; }
static inline bool is_block(uint64_t d) { return (d & HL_DESC_TYPE_MASK) == HL_DESC_TYPE_BLOCK; }
static inline uint64_t phys_page(uint64_t d) { return d & HL_DESC_ADDR_MASK; }

size_t hl_pt_image_size(const struct hl_pool_layout *lay)
{
	return (size_t)(1 + lay->root_pages + lay->pgd_pages + lay->pud_pages + lay->pmd_pages) * PG;
}

void hl_pt_init(uint8_t *img, const struct hl_pool_layout *lay, unsigned princ, uint64_t pool_pa,
		unsigned levels)
{
	struct hl_pt_meta *m = hl_pt_meta(img);

	memset(img, 0, hl_pt_image_size(lay));
	m->pool_pa = pool_pa;
	m->pgd_start = (1 + lay->root_pages) * PG;
	m->pud_start = m->pgd_start + lay->pgd_pages * PG;
	m->pmd_start = m->pud_start + lay->pud_pages * PG;
	m->pool_end = m->pmd_start + lay->pmd_pages * PG;
	m->pgd_next = m->pgd_start;
	m->pud_next = m->pud_start;
	m->pmd_next = m->pmd_start;
	m->princ = princ;
	m->levels = levels;
}

uint64_t hl_pt_root_pa(const uint8_t *img)
{
	return ((const struct hl_pt_meta *)img)->pool_pa + PG;
}

/* table descriptor -> pointer into this image, NULL if it points outside the pool */
static uint64_t *tbl(const uint8_t *img, uint64_t desc)
{
	const struct hl_pt_meta *m = (const struct hl_pt_meta *)img;
	uint64_t pa = phys_page(desc);

	if (pa < m->pool_pa + PG || pa >= m->pool_pa + m->pool_end)
		return NULL;
	return (uint64_t *)(img + (pa - m->pool_pa));
}

static uint64_t table_desc(const uint8_t *img, uint64_t off)
{
	return (((const struct hl_pt_meta *)img)->pool_pa + off) | HL_DESC_TYPE_TABLE;
}

static inline unsigned idx(uint64_t addr, unsigned shift) { return (addr >> shift) & 511u; }

/*
 * local_mmap_h. Decide every table allocation and the bound checks first, then write:
 * the halt branch changes nothing (the seed returns the old npt).
 */
bool hl_npt_map(struct hl_wctx *w, unsigned obj, uint8_t *img, uint64_t addr, unsigned level,
		uint64_t pte)
{
	struct hl_pt_meta *m = hl_pt_meta(img);
	uint64_t *root = (uint64_t *)(img + PG), *l1 = NULL, *l2 = NULL, *l3 = NULL;
	uint64_t e0, e1 = 0, e2 = 0;
	bool need1, need2, need3 = false;
	uint64_t pgd_next = m->pgd_next, pud_next = m->pud_next, pmd_next = m->pmd_next;

	/* a table descriptor pointing outside the pool can only come from a corrupted image
	 * (a forged log replayed): refuse like an exhausted pool instead of following it */
	e0 = root[idx(addr, 39)];
	need1 = !is_table(e0);
	if (!need1) {
		if (!(l1 = tbl(img, e0)))
			return true;
		e1 = l1[idx(addr, 30)];
	}
	need2 = !is_table(e1);
	if (!need2) {
		if (!(l2 = tbl(img, e1)))
			return true;
		e2 = l2[idx(addr, 21)];
	}
	if (level == 3) {
		if (is_block(e2))
			return true;            /* level0 = 2: a 2 MiB block covers this gfn */
		need3 = !is_table(e2);
		if (!need3 && !(l3 = tbl(img, e2)))
			return true;
	}
	if (need1)
		pgd_next += PG;
	if (need2)
		pud_next += PG;
	if (need3)
		pmd_next += PG;
	if (pgd_next > m->pud_start || pud_next > m->pmd_start || pmd_next > m->pool_end)
		return true;                    /* pool exhausted */

	if (need1) {
		hl_wr64(w, obj, &root[idx(addr, 39)], table_desc(img, m->pgd_next));
		l1 = (uint64_t *)(img + m->pgd_next);
		hl_wr64(w, obj, &m->pgd_next, pgd_next);
	}
	if (need2) {
		hl_wr64(w, obj, &l1[idx(addr, 30)], table_desc(img, m->pud_next));
		l2 = (uint64_t *)(img + m->pud_next);
		hl_wr64(w, obj, &m->pud_next, pud_next);
	}
	if (level == 2) {
		hl_wr64(w, obj, &l2[idx(addr, 21)], pte);
		return false;
	}
	if (need3) {
		hl_wr64(w, obj, &l2[idx(addr, 21)], table_desc(img, m->pmd_next));
		l3 = (uint64_t *)(img + m->pmd_next);
		hl_wr64(w, obj, &m->pmd_next, pmd_next);
	}
	hl_wr64(w, obj, &l3[idx(addr, 12)], pte);
	return false;
}

/*
 * SPEC §13 (a VM's stage-2 entry is set once until teardown): may a level-`level` entry
 * be written at `addr` without replacing anything already there?
 *   level 3: no level-2 block covers addr, and the level-3 entry is 0
 *   level 2: the level-2 entry is 0 (neither a block nor a level-3 table, even an empty one)
 * Missing level-1/level-2 tables mean nothing is mapped there: free. A table descriptor
 * pointing outside the pool (a corrupted image) reads as free, so hl_npt_map then takes
 * its halt branch exactly as before.
 */
bool hl_npt_slot_free(const uint8_t *img, uint64_t addr, unsigned level)
{
	const uint64_t *t = (const uint64_t *)(img + PG);
	uint64_t d;

	d = t[idx(addr, 39)];
	if (!is_table(d) || !(t = tbl(img, d)))
		return true;
	d = t[idx(addr, 30)];
	if (!is_table(d) || !(t = tbl(img, d)))
		return true;
	d = t[idx(addr, 21)];
	if (level == 2 || d == 0)
		return d == 0;
	if (!is_table(d))
		return false;            /* a block (or any other descriptor) covers addr */
	if (!(t = tbl(img, d)))
		return true;
	return t[idx(addr, 12)] == 0;
}

void hl_npt_walk(const uint8_t *img, uint64_t addr, struct hl_pt_entry *out)
{
	const uint64_t *t = (const uint64_t *)(img + PG);
	uint64_t d;

	memset(out, 0, sizeof(*out));
	d = t[idx(addr, 39)];
	if (!is_table(d) || !(t = tbl(img, d)))
		return;
	d = t[idx(addr, 30)];
	if (!is_table(d) || !(t = tbl(img, d)))
		return;
	d = t[idx(addr, 21)];
	if (is_block(d)) {
		out->pfn = phys_page(d) / PG + idx(addr, 12);
		out->level = 2;
		out->pte = d;
		return;
	}
	if (!is_table(d) || !(t = tbl(img, d)))
		return;
	d = t[idx(addr, 12)];
	if (d == 0)
		return;
	out->pfn = phys_page(d) / PG;
	out->level = 3;
	out->pte = d;
}

void hl_npt_for_each(const uint8_t *img, hl_pt_leaf_fn fn, void *arg)
{
	const uint64_t *t0 = (const uint64_t *)(img + PG);
	struct hl_pt_entry e;

	for (unsigned i0 = 0; i0 < 512; i0++) {
		const uint64_t *t1;
		if (!is_table(t0[i0]) || !(t1 = tbl(img, t0[i0])))
			continue;
		for (unsigned i1 = 0; i1 < 512; i1++) {
			const uint64_t *t2;
			if (!is_table(t1[i1]) || !(t2 = tbl(img, t1[i1])))
				continue;
			for (unsigned i2 = 0; i2 < 512; i2++) {
				uint64_t d = t2[i2];
				uint64_t gbase = ((uint64_t)i0 << 27) | ((uint64_t)i1 << 18) |
						 ((uint64_t)i2 << 9);
				if (is_block(d)) {
					for (unsigned i3 = 0; i3 < 512; i3++) {
						e.pfn = phys_page(d) / PG + i3;
						e.level = 2;
						e.pte = d;
						fn(gbase | i3, &e, arg);
					}
					continue;
				}
				const uint64_t *t3;
				if (!is_table(d) || !(t3 = tbl(img, d)))
					continue;
				for (unsigned i3 = 0; i3 < 512; i3++) {
					if (!t3[i3])
						continue;
					e.pfn = phys_page(t3[i3]) / PG;
					e.level = 3;
					e.pte = t3[i3];
					fn(gbase | i3, &e, arg);
				}
			}
		}
	}
}

/* ---- npt(host) shards (hl_pgtable.h) ------------------------------------------------------ */
void hl_npth_prealloc(uint8_t *img)
{
	struct hl_stage none[1];
	struct hl_wctx w;

	/* the seq-0 image is not logged: a non-recording context; a level-3 "map" of a zero
	 * descriptor allocates the path and leaves the leaf 0 */
	hl_wctx_init(&w, NULL, none, false);
	for (uint64_t k = 0; k < HL_NPTH_RAM_TABLES; k++)
		if (hl_npt_map(&w, HL_NPT_OBJ(HL_HOSTVISOR), img, HL_RAM_BASE + k * HL_PMD_SIZE, 3, 0))
			abort();   /* invariant: only called when hl_npth_fits() */
}

bool hl_npth_ready(const uint8_t *img, uint64_t addr)
{
	const struct hl_pt_meta *m = (const struct hl_pt_meta *)img;
	const uint64_t *t = (const uint64_t *)(img + PG);
	uint64_t d;

	if (!hl_npth_covers(addr))
		return false;
	d = t[idx(addr, 39)];
	if (!is_table(d) || !(t = tbl(img, d)))
		return false;
	d = t[idx(addr, 30)];
	if (!is_table(d) || !(t = tbl(img, d)))
		return false;
	d = t[idx(addr, 21)];
	return is_table(d) &&
	       phys_page(d) == m->pool_pa + m->pmd_start + (addr - HL_RAM_BASE) / HL_PMD_SIZE * PG;
}

bool hl_npth_fits(void)
{
	struct hl_pool_layout lay;

	/* RAM lies in L0 entry 0 (one pgd page) and needs one pud page per GiB it touches */
	hl_pool_layout_of(HL_HOSTVISOR, &lay);
	return HL_NPTH_RAM_TABLES <= lay.pmd_pages && lay.pgd_pages >= 1 &&
	       ((HL_RAM_BASE + HL_RAM_SIZE - 1) >> 30) - (HL_RAM_BASE >> 30) + 1 <= lay.pud_pages;
}

void hl_npth_set_leaf(struct hl_wctx *w, uint8_t *img, uint64_t addr, uint64_t pte)
{
	hl_wr64(w, HL_NPT_OBJ(HL_HOSTVISOR), (uint64_t *)(img + hl_npth_entry_off(addr)), pte);
}

uint64_t hl_npth_shard_tables(uint64_t mib)
{
	uint64_t t = (mib + 1) / 2, min = (HL_NPTH_RAM_TABLES + HL_NPTH_MAX_SHARDS - 1) / HL_NPTH_MAX_SHARDS;

	if (mib == 0)
		return 0;
	if (t < min)
		t = min;
	return t > HL_NPTH_RAM_TABLES ? HL_NPTH_RAM_TABLES : t;
}

void hl_npth_shard_range(uint64_t tables, unsigned j, uint64_t *off, uint64_t *len)
{
	struct hl_pool_layout lay;
	uint64_t first = (uint64_t)j * tables, n = tables;

	hl_pool_layout_of(HL_HOSTVISOR, &lay);
	if (first + n > HL_NPTH_RAM_TABLES)
		n = first < HL_NPTH_RAM_TABLES ? HL_NPTH_RAM_TABLES - first : 0;
	*off = (uint64_t)(1 + lay.root_pages + lay.pgd_pages + lay.pud_pages + first) * PG;
	*len = n * PG;
}

uint64_t hl_npth_entry_off(uint64_t addr)
{
	struct hl_pool_layout lay;

	hl_pool_layout_of(HL_HOSTVISOR, &lay);
	return (uint64_t)(1 + lay.root_pages + lay.pgd_pages + lay.pud_pages) * PG +
	       (addr - HL_RAM_BASE) / HL_PMD_SIZE * PG + idx(addr, 12) * 8;
}

unsigned hl_npth_obj(const struct hl_refine *r, uint64_t addr)
{
	uint64_t local, span;
	unsigned o;

	if (!hl_refine_sharded(r, HL_NPT_OBJ(HL_HOSTVISOR)) || !hl_npth_covers(addr))
		return HL_NPT_OBJ(HL_HOSTVISOR);
	o = hl_refine_route(r, HL_NPT_OBJ(HL_HOSTVISOR), hl_npth_entry_off(addr), &local, &span);
	return o == HL_INVALID ? HL_NPT_OBJ(HL_HOSTVISOR) : o;
}

int hl_refine_npt_host(struct hl_refine *r, uint64_t mib)
{
	uint64_t tables = hl_npth_shard_tables(mib);

	if (!tables)
		return 0;   /* one npt(host) object: SPEC's layout */
	if (!hl_npth_fits())
		return -1;
	for (unsigned j = 0; j < hl_npth_nshards(tables); j++) {
		struct hl_range rg;
		hl_npth_shard_range(tables, j, &rg.off, &rg.len);
		if (hl_refine_add_shard(r, HL_NPTH_SHARD(j), HL_NPT_OBJ(HL_HOSTVISOR), &rg, 1, true))
			return -1;
	}
	return 0;
}

/* ---- SMMU tables ---------------------------------------------------------------------- */
static inline unsigned sidx(uint64_t iova) { return (iova >> 30) & 1023u; }

static uint64_t *spt_root(uint8_t *img, unsigned bank)
{
	return (uint64_t *)(img + PG + (uint64_t)bank * HL_SPT_ROOT_PAGES * PG);
}

uint64_t hl_spt_root_pa(const uint8_t *img, unsigned bank)
{
	return ((const struct hl_pt_meta *)img)->pool_pa + PG + (uint64_t)bank * HL_SPT_ROOT_PAGES * PG;
}

/* ---- SMMU TLB invalidation on removal (hl_pgtable.h, SPEC §15) ------------------------- */
static struct {
	const uint8_t *img;   /* published last (release), cleared first */
	hl_spt_tlbi_fn fn;
	void *ctx;
} spt_tlbi[HL_SPT_TLBI_MAX];

bool hl_spt_tlbi_register(const uint8_t *img, hl_spt_tlbi_fn fn, void *ctx)
{
	unsigned slot = HL_SPT_TLBI_MAX;

	for (unsigned i = 0; i < HL_SPT_TLBI_MAX; i++) {
		const uint8_t *cur = __atomic_load_n(&spt_tlbi[i].img, __ATOMIC_ACQUIRE);
		if (cur == img) {
			slot = i;
			break;
		}
		if (!cur && slot == HL_SPT_TLBI_MAX)
			slot = i;
	}
	if (slot == HL_SPT_TLBI_MAX || !img || !fn)
		return false;
	__atomic_store_n(&spt_tlbi[slot].img, NULL, __ATOMIC_RELEASE);
	spt_tlbi[slot].fn = fn;
	spt_tlbi[slot].ctx = ctx;
	__atomic_store_n(&spt_tlbi[slot].img, img, __ATOMIC_RELEASE);
	return true;
}

void hl_spt_tlbi_unregister(const uint8_t *img)
{
	for (unsigned i = 0; i < HL_SPT_TLBI_MAX; i++)
		if (img && __atomic_load_n(&spt_tlbi[i].img, __ATOMIC_ACQUIRE) == img)
			__atomic_store_n(&spt_tlbi[i].img, NULL, __ATOMIC_RELEASE);
}

static void spt_tlbi_call(const uint8_t *img, unsigned bank, uint64_t iova)
{
	for (unsigned i = 0; i < HL_SPT_TLBI_MAX; i++)
		if (__atomic_load_n(&spt_tlbi[i].img, __ATOMIC_ACQUIRE) == img) {
			spt_tlbi[i].fn(spt_tlbi[i].ctx, bank, iova);
			return;
		}
}

bool hl_spt_map(struct hl_wctx *w, uint8_t *img, unsigned bank, uint64_t iova, uint64_t pte)
{
	struct hl_pt_meta *m = hl_pt_meta(img);
	uint64_t *root = spt_root(img, bank), *l2 = NULL, *l3 = NULL;
	uint64_t e1 = root[sidx(iova)], e2 = 0;
	bool need2, need3;
	uint64_t pgd_next = m->pgd_next, pmd_next = m->pmd_next;

	need2 = !is_table(e1);
	if (!need2) {
		if (!(l2 = tbl(img, e1)))
			return true;   /* corrupted image: see hl_npt_map */
		e2 = l2[idx(iova, 21)];
	}
	need3 = !is_table(e2);
	if (!need3 && !(l3 = tbl(img, e2)))
		return true;
	if (need2)
		pgd_next += PG;
	if (need3)
		pmd_next += PG;
	if (pgd_next > m->pmd_start || pmd_next > m->pool_end)
		return true;
	if (need2) {
		hl_wr64(w, HL_SPT_ID, &root[sidx(iova)], table_desc(img, m->pgd_next));
		l2 = (uint64_t *)(img + m->pgd_next);
		hl_wr64(w, HL_SPT_ID, &m->pgd_next, pgd_next);
	}
	if (need3) {
		hl_wr64(w, HL_SPT_ID, &l2[idx(iova, 21)], table_desc(img, m->pmd_next));
		l3 = (uint64_t *)(img + m->pmd_next);
		hl_wr64(w, HL_SPT_ID, &m->pmd_next, pmd_next);
	}
	{
		const bool removed = pte == 0 && l3[idx(iova, 12)] != 0;
		hl_wr64(w, HL_SPT_ID, &l3[idx(iova, 12)], pte);
		if (removed)
			spt_tlbi_call(img, bank, iova & ~(PG - 1));   /* §15: inside the step */
	}
	return false;
}

void hl_spt_walk(const uint8_t *img, unsigned bank, uint64_t iova, struct hl_pt_entry *out)
{
	const uint64_t *t = spt_root((uint8_t *)img, bank);
	uint64_t d;

	memset(out, 0, sizeof(*out));
	d = t[sidx(iova)];
	if (!is_table(d) || !(t = tbl(img, d)))
		return;
	d = t[idx(iova, 21)];
	if (!is_table(d) || !(t = tbl(img, d)))
		return;
	d = t[idx(iova, 12)];
	out->pfn = phys_page(d) / PG;
	out->level = d ? 3 : 0;
	out->pte = d;
}

void hl_spt_reset_bank(struct hl_wctx *w, uint8_t *img, unsigned bank)
{
	hl_wzero(w, HL_SPT_ID, spt_root(img, bank), HL_SPT_ROOT_PAGES * PG);
	spt_tlbi_call(img, bank, HL_SPT_TLBI_ALL);
}

void hl_spt_for_each(const uint8_t *img, unsigned bank, hl_pt_leaf_fn fn, void *arg)
{
	const uint64_t *r = spt_root((uint8_t *)img, bank);
	struct hl_pt_entry e;

	for (unsigned i1 = 0; i1 < 1024; i1++) {
		const uint64_t *t2;
		if (!is_table(r[i1]) || !(t2 = tbl(img, r[i1])))
			continue;
		for (unsigned i2 = 0; i2 < 512; i2++) {
			const uint64_t *t3;
			if (!is_table(t2[i2]) || !(t3 = tbl(img, t2[i2])))
				continue;
			for (unsigned i3 = 0; i3 < 512; i3++) {
				if (!t3[i3])
					continue;
				e.pfn = phys_page(t3[i3]) / PG;
				e.level = 3;
				e.pte = t3[i3];
				fn(((uint64_t)i1 << 18) | ((uint64_t)i2 << 9) | i3, &e, arg);
			}
		}
	}
}

/*
 * test_pgtable.c - hl_npt_* / hl_spt_* against the Arm ARM stage-2 descriptor format
 * (VMSAv8-64, 4 KiB granule) and the seed's local_mmap_h / local_spt_map_h.
 *
 * Every expectation below is computed by hand from the image layout
 * [meta page][root page(s)][pgd region][pud region][pmd region] and the descriptor
 * encodings: table = next-level PA | 0b11, L2 block = OA | 0b01, L3 page = the pte.
 * A table descriptor holds the PA pool_pa + (image offset of the table).
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "hl_pgtable.h"
#include "hl_state.h"

#define PG HL_PAGE_SIZE
#define VM 1u                  /* the principal most npt tests use */

static struct hl_state *st;
static struct hl_stage stages[HL_MAX_STAGES];
static struct hl_wctx w;

static void setup(void)
{
	st = hl_state_new(false);
	cr_assert_not_null(st);
	memset(stages, 0, sizeof(stages));
	hl_wctx_init(&w, st, stages, true);
}

static void teardown(void)
{
	hl_state_free(st);
}

TestSuite(pgtable, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------------------------- */

static uint8_t *npt_img(unsigned v) { return st->npt[v]; }
static size_t npt_size(unsigned v) { return st->img[HL_NPT_OBJ(v)].size; }
static size_t spt_size(void) { return st->img[HL_SPT_ID].size; }

static uint64_t rd64(const uint8_t *img, uint64_t off)
{
	uint64_t v;
	memcpy(&v, img + off, 8);
	return v;
}

static void wr64(uint8_t *img, uint64_t off, uint64_t v)
{
	memcpy(img + off, &v, 8);
}

static uint8_t *dup_img(const uint8_t *img, size_t n)
{
	uint8_t *c = malloc(n);
	cr_assert_not_null(c);
	memcpy(c, img, n);
	return c;
}

/* a fresh write context (record=true) for one call */
static void fresh_wctx(void)
{
	memset(stages, 0, sizeof(stages));
	hl_wctx_init(&w, st, stages, true);
}

/* IPA from the four table indices (L0 = IPA[47:39], L1 = [38:30], L2 = [29:21], L3 = [20:12]) */
static uint64_t ipa(unsigned i0, unsigned i1, unsigned i2, unsigned i3)
{
	return ((uint64_t)i0 << 39) | ((uint64_t)i1 << 30) | ((uint64_t)i2 << 21) | ((uint64_t)i3 << 12);
}

/* SMMU IOVA: the 1024-entry root resolves IOVA[39:30], then L2 [29:21], L3 [20:12] */
static uint64_t iova(unsigned i1, unsigned i2, unsigned i3)
{
	return ((uint64_t)i1 << 30) | ((uint64_t)i2 << 21) | ((uint64_t)i3 << 12);
}

/* a stage-2 page descriptor for `pa` (bits[1:0] = 0b11, normal memory, RW, AF) */
static uint64_t page_desc(uint64_t pa) { return pa | HL_PAGE_S2_KERNEL; }
/* a stage-2 L2 block descriptor for a 2 MiB-aligned `pa` (bits[1:0] = 0b01) */
static uint64_t block_desc(uint64_t pa) { return (pa | HL_PAGE_S2_KERNEL) & ~2ull; }

/* the one stage of the write context, as a record that hl_apply_deltas understands */
static void apply_stage(uint8_t *img, size_t size, const struct hl_stage *sg)
{
	static uint64_t buf[HL_REC_MAX / 8];
	struct hl_rec *r = (struct hl_rec *)buf;

	memset(buf, 0, sizeof(buf));
	cr_assert_leq(sizeof(*r) + sg->used, sizeof(buf));
	r->obj = sg->obj;
	r->ndelta = sg->ndelta;
	r->len = (uint32_t)(sizeof(*r) + sg->used);
	memcpy((uint8_t *)buf + sizeof(*r), sg->buf, sg->used);
	cr_assert_eq(hl_apply_deltas(img, size, r), 0, "deltas must apply in bounds");
}

static void expect_entry(const struct hl_pt_entry *e, uint64_t pfn, uint32_t level, uint64_t pte)
{
	cr_expect_eq(e->pfn, pfn, "pfn %#lx != %#lx", (unsigned long)e->pfn, (unsigned long)pfn);
	cr_expect_eq(e->level, level, "level %u != %u", e->level, level);
	cr_expect_eq(e->pte, pte, "pte %#lx != %#lx", (unsigned long)e->pte, (unsigned long)pte);
}

static void expect_unmapped_npt(const uint8_t *img, uint64_t addr)
{
	struct hl_pt_entry e;
	hl_npt_walk(img, addr, &e);
	cr_expect(e.pfn == 0 && e.level == 0 && e.pte == 0, "addr %#lx should be unmapped (got %#lx/%u/%#lx)",
		  (unsigned long)addr, (unsigned long)e.pfn, e.level, (unsigned long)e.pte);
}

static void expect_unmapped_spt(const uint8_t *img, unsigned bank, uint64_t a)
{
	struct hl_pt_entry e;
	hl_spt_walk(img, bank, a, &e);
	cr_expect(e.pfn == 0 && e.level == 0 && e.pte == 0, "bank %u iova %#lx should be unmapped", bank,
		  (unsigned long)a);
}

/* for_each collector: visited gfns must come in strictly increasing order (no repeats) */
#define MAXV 4096
struct visit {
	unsigned n;
	uint64_t gfn[MAXV];
	struct hl_pt_entry e[MAXV];
};

static void collect(uint64_t gfn, const struct hl_pt_entry *e, void *arg)
{
	struct visit *v = arg;
	cr_assert_lt(v->n, MAXV);
	if (v->n)
		cr_assert_gt(gfn, v->gfn[v->n - 1], "for_each visits each gfn once, in order");
	v->gfn[v->n] = gfn;
	v->e[v->n] = *e;
	v->n++;
}

/* ================================================================================= npt */

Test(pgtable, npt_initial_layout)
{
	for (unsigned v = 0; v < HL_NR_PRINC; v++) {
		struct hl_pool_layout lay;
		const struct hl_pt_meta *m = hl_pt_meta(npt_img(v));

		hl_pool_layout_of(v, &lay);
		cr_assert_eq(lay.root_pages, 1);
		cr_expect_eq(m->pool_pa, HL_PT_POOL_PA_BASE + v * HL_PT_POOL_PA_STRIDE);
		cr_expect_eq(m->pool_pa % PG, 0);
		cr_expect_eq(m->pgd_start, 2 * PG);   /* meta page + one root page */
		cr_expect_eq(m->pud_start, m->pgd_start + lay.pgd_pages * PG);
		cr_expect_eq(m->pmd_start, m->pud_start + lay.pud_pages * PG);
		cr_expect_eq(m->pool_end, m->pmd_start + lay.pmd_pages * PG);
		cr_expect_eq(m->pool_end, npt_size(v));
		cr_expect_eq(m->pgd_next, m->pgd_start);
		cr_expect_eq(m->pud_next, m->pud_start);
		cr_expect_eq(m->pmd_next, m->pmd_start);
		cr_expect_eq(m->levels, 4);
		cr_expect_eq(m->princ, v);
		/* the root table is empty */
		for (unsigned i = 0; i < 512; i++)
			cr_assert_eq(rd64(npt_img(v), PG + 8 * i), 0);
	}
}

Test(pgtable, npt_level3_map_into_empty_table)
{
	uint8_t *img = npt_img(VM);
	const struct hl_pt_meta *m = hl_pt_meta(img);
	uint64_t pool = m->pool_pa;
	uint64_t pgd = m->pgd_start, pud = m->pud_start, pmd = m->pmd_start;
	uint64_t addr = ipa(3, 5, 7, 9);
	uint64_t pte = page_desc(0x41234000ull);
	uint8_t *want = dup_img(img, npt_size(VM));
	struct hl_pt_entry e;

	cr_assert_eq(pte & 3, 3, "an L3 page descriptor has bits[1:0] = 0b11");
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, addr, 3, pte));

	/* by hand: root[3] -> L1 at pgd_start, L1[5] -> L2 at pud_start, L2[7] -> L3 at
	 * pmd_start, L3[9] = pte; each bump pointer advanced by one page */
	wr64(want, PG + 3 * 8, (pool + pgd) | 3);
	wr64(want, pgd + 5 * 8, (pool + pud) | 3);
	wr64(want, pud + 7 * 8, (pool + pmd) | 3);
	wr64(want, pmd + 9 * 8, pte);
	wr64(want, offsetof(struct hl_pt_meta, pgd_next), pgd + PG);
	wr64(want, offsetof(struct hl_pt_meta, pud_next), pud + PG);
	wr64(want, offsetof(struct hl_pt_meta, pmd_next), pmd + PG);
	cr_assert_eq(memcmp(img, want, npt_size(VM)), 0, "image differs from the hand-built one");

	cr_expect_eq(m->pgd_next, pgd + PG);
	cr_expect_eq(m->pud_next, pud + PG);
	cr_expect_eq(m->pmd_next, pmd + PG);
	cr_expect_eq(rd64(img, PG + 3 * 8), (pool + pgd) | 3);

	hl_npt_walk(img, addr, &e);
	expect_entry(&e, 0x41234, 3, pte);
	/* any byte inside the page walks the same */
	hl_npt_walk(img, addr + 0xABC, &e);
	expect_entry(&e, 0x41234, 3, pte);
	/* neighbours are not mapped */
	expect_unmapped_npt(img, addr + PG);
	expect_unmapped_npt(img, addr - PG);
	expect_unmapped_npt(img, ipa(3, 5, 8, 9));
	expect_unmapped_npt(img, ipa(3, 6, 7, 9));
	expect_unmapped_npt(img, ipa(4, 5, 7, 9));
	expect_unmapped_npt(img, 0);

	/* one object touched: 3 table descriptors, 3 bump pointers, 1 pte */
	cr_expect_eq(w.nstages, 1);
	cr_expect_eq(stages[0].obj, HL_NPT_OBJ(VM));
	cr_expect_eq(stages[0].ndelta, 7);
	free(want);
}

Test(pgtable, npt_second_map_in_same_2mib_region_allocates_nothing)
{
	uint8_t *img = npt_img(VM);
	const struct hl_pt_meta *m = hl_pt_meta(img);
	uint64_t a1 = ipa(0, 1, 2, 3), a2 = ipa(0, 1, 2, 200);
	uint64_t p1 = page_desc(0x40001000ull), p2 = page_desc(0x40002000ull);
	struct hl_pt_entry e;
	uint8_t *want;

	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, a1, 3, p1));
	want = dup_img(img, npt_size(VM));
	fresh_wctx();
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, a2, 3, p2));
	cr_expect_eq(m->pgd_next, m->pgd_start + PG);
	cr_expect_eq(m->pud_next, m->pud_start + PG);
	cr_expect_eq(m->pmd_next, m->pmd_start + PG);
	/* exactly one word changed: L3[200] of the existing table */
	wr64(want, m->pmd_start + 200 * 8, p2);
	cr_assert_eq(memcmp(img, want, npt_size(VM)), 0);
	cr_expect_eq(stages[0].ndelta, 1, "only the pte is written");

	hl_npt_walk(img, a1, &e);
	expect_entry(&e, 0x40001, 3, p1);
	hl_npt_walk(img, a2, &e);
	expect_entry(&e, 0x40002, 3, p2);

	/* a new 2 MiB region under the same L1 table needs only a new L3 table */
	fresh_wctx();
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, ipa(0, 1, 3, 0), 3, p1));
	cr_expect_eq(m->pgd_next, m->pgd_start + PG);
	cr_expect_eq(m->pud_next, m->pud_start + PG);
	cr_expect_eq(m->pmd_next, m->pmd_start + 2 * PG);
	cr_expect_eq(rd64(img, m->pud_start + 3 * 8), (m->pool_pa + m->pmd_start + PG) | 3);
	cr_expect_eq(stages[0].ndelta, 3, "L2 entry, pmd_next, pte");

	/* remapping the same gfn overwrites the pte in place */
	fresh_wctx();
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, a1, 3, p2));
	hl_npt_walk(img, a1, &e);
	expect_entry(&e, 0x40002, 3, p2);
	/* and mapping 0 unmaps it */
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, a1, 3, 0));
	expect_unmapped_npt(img, a1);
	free(want);
}

Test(pgtable, npt_level2_block)
{
	uint8_t *img = npt_img(VM);
	const struct hl_pt_meta *m = hl_pt_meta(img);
	uint64_t addr = ipa(0, 2, 4, 0);
	uint64_t pa = 0x40200000ull;
	uint64_t pte = block_desc(pa);
	uint8_t *want = dup_img(img, npt_size(VM));
	struct hl_pt_entry e;

	cr_assert_eq(pte & 3, 1, "an L2 block descriptor has bits[1:0] = 0b01");
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, addr, 2, pte));

	/* by hand: root[0] -> L1 at pgd_start, L1[2] -> L2 at pud_start, L2[4] = block;
	 * no L3 table */
	wr64(want, PG + 0 * 8, (m->pool_pa + m->pgd_start) | 3);
	wr64(want, m->pgd_start + 2 * 8, (m->pool_pa + m->pud_start) | 3);
	wr64(want, m->pud_start + 4 * 8, pte);
	wr64(want, offsetof(struct hl_pt_meta, pgd_next), m->pgd_start + PG);
	wr64(want, offsetof(struct hl_pt_meta, pud_next), m->pud_start + PG);
	cr_assert_eq(memcmp(img, want, npt_size(VM)), 0);
	cr_expect_eq(m->pmd_next, m->pmd_start, "a block needs no L3 table");
	cr_expect_eq(stages[0].ndelta, 5);

	for (unsigned i = 0; i < 512; i++) {
		hl_npt_walk(img, addr + i * PG + (i & 0xFFF), &e);
		expect_entry(&e, pa / PG + i, 2, pte);
	}
	expect_unmapped_npt(img, addr - PG);
	expect_unmapped_npt(img, addr + HL_PMD_SIZE);

	/* the seed aligns the gfn down to 512 for a level-2 map: an address inside the
	 * block names the same L2 entry */
	fresh_wctx();
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, addr + 77 * PG, 2, block_desc(0x40400000ull)));
	cr_expect_eq(rd64(img, m->pud_start + 4 * 8), block_desc(0x40400000ull));
	cr_expect_eq(stages[0].ndelta, 1);
	hl_npt_walk(img, addr, &e);
	expect_entry(&e, 0x40400, 2, block_desc(0x40400000ull));
	free(want);
}

Test(pgtable, npt_level3_inside_block_halts_and_changes_nothing)
{
	uint8_t *img = npt_img(VM);
	uint64_t addr = ipa(1, 0, 9, 0);
	uint8_t *before;
	struct hl_pt_entry e;

	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, addr, 2, block_desc(0x40600000ull)));
	before = dup_img(img, npt_size(VM));
	for (unsigned i = 0; i < 512; i += 73) {
		fresh_wctx();
		cr_assert(hl_npt_map(&w, HL_NPT_OBJ(VM), img, addr + i * PG, 3, page_desc(0x40001000ull)),
			  "level-3 map at block page %u must halt", i);
		cr_assert_eq(memcmp(img, before, npt_size(VM)), 0, "the halt branch changes nothing");
		cr_assert_eq(w.touched, 0, "the halt branch records nothing");
		cr_assert_eq(w.nstages, 0);
	}
	hl_npt_walk(img, addr + 5 * PG, &e);
	expect_entry(&e, 0x40605, 2, block_desc(0x40600000ull));
	free(before);
}

Test(pgtable, npt_level2_block_replaces_l3_table_as_the_seed_does)
{
	uint8_t *img = npt_img(VM);
	const struct hl_pt_meta *m = hl_pt_meta(img);
	uint64_t addr = ipa(0, 0, 1, 0);
	struct hl_pt_entry e;
	uint64_t pmd_next;

	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, addr + 3 * PG, 3, page_desc(0x40003000ull)));
	pmd_next = m->pmd_next;
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, addr, 2, block_desc(0x40800000ull)));
	/* local_mmap_h level 2: pmd_t := false there, pt_pmd_next unchanged */
	cr_expect_eq(m->pmd_next, pmd_next);
	cr_expect_eq(rd64(img, m->pud_start + 1 * 8), block_desc(0x40800000ull));
	hl_npt_walk(img, addr + 3 * PG, &e);
	expect_entry(&e, 0x40803, 2, block_desc(0x40800000ull));
}

/* one halting map: returns true, image byte-identical, nothing recorded */
static void expect_halt_npt(unsigned v, uint64_t addr, unsigned level, uint64_t pte)
{
	uint8_t *img = npt_img(v);
	uint8_t *before = dup_img(img, npt_size(v));

	fresh_wctx();
	cr_assert(hl_npt_map(&w, HL_NPT_OBJ(v), img, addr, level, pte), "npt(%u) map %#lx level %u must halt",
		  v, (unsigned long)addr, level);
	cr_assert_eq(memcmp(img, before, npt_size(v)), 0, "the halt branch changes nothing");
	cr_assert_eq(w.touched, 0);
	free(before);
}

static void ok_npt(unsigned v, uint64_t addr, unsigned level, uint64_t pte)
{
	fresh_wctx();
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(v), npt_img(v), addr, level, pte),
		      "npt(%u) map %#lx level %u must succeed", v, (unsigned long)addr, level);
}

static const unsigned princs[] = { HL_HOSTVISOR, VM, HL_COREVISOR };

Test(pgtable, npt_pgd_region_exhaustion)
{
	for (unsigned k = 0; k < 3; k++) {
		unsigned v = princs[k];
		const struct hl_pt_meta *m = hl_pt_meta(npt_img(v));
		uint64_t npgd = (m->pud_start - m->pgd_start) / PG;
		uint64_t npud = (m->pmd_start - m->pud_start) / PG;

		cr_assert_lt(npgd, npud, "layout: the pud region outlasts the pgd region");
		/* every map needs a fresh L1 table (new L0 index) and a fresh L2 table */
		for (unsigned i = 0; i < npgd; i++)
			ok_npt(v, ipa(i, 0, 0, 0), 2, block_desc(0x40000000ull));
		cr_expect_eq(m->pgd_next, m->pud_start, "pgd region exactly full");
		expect_halt_npt(v, ipa((unsigned)npgd, 0, 0, 0), 2, block_desc(0x40000000ull));
		expect_halt_npt(v, ipa((unsigned)npgd + 7, 3, 3, 3), 3, page_desc(0x40000000ull));
		/* maps that need no L1 table still work */
		ok_npt(v, ipa(0, 1, 0, 0), 2, block_desc(0x40000000ull));
		ok_npt(v, ipa(0, 2, 0, 5), 3, page_desc(0x40000000ull));
	}
}

Test(pgtable, npt_pud_region_exhaustion)
{
	for (unsigned k = 0; k < 3; k++) {
		unsigned v = princs[k];
		const struct hl_pt_meta *m = hl_pt_meta(npt_img(v));
		uint64_t npud = (m->pmd_start - m->pud_start) / PG;

		cr_assert_lt(npud, 512);
		/* one L1 table; every map needs a fresh L2 table (new L1 index) */
		for (unsigned i = 0; i < npud; i++)
			ok_npt(v, ipa(0, i, 0, 0), 2, block_desc(0x40000000ull));
		cr_expect_eq(m->pgd_next, m->pgd_start + PG);
		cr_expect_eq(m->pud_next, m->pmd_start, "pud region exactly full");
		expect_halt_npt(v, ipa(0, (unsigned)npud, 0, 0), 2, block_desc(0x40000000ull));
		expect_halt_npt(v, ipa(0, (unsigned)npud, 0, 0), 3, page_desc(0x40000000ull));
		/* a new L0 index needs a pud page too: still halts, even with pgd room */
		expect_halt_npt(v, ipa(1, 0, 0, 0), 2, block_desc(0x40000000ull));
		/* maps inside existing L2 tables still work */
		ok_npt(v, ipa(0, 0, 1, 0), 2, block_desc(0x40000000ull));
		ok_npt(v, ipa(0, 3, 2, 1), 3, page_desc(0x40000000ull));
	}
}

Test(pgtable, npt_pmd_region_exhaustion)
{
	for (unsigned k = 0; k < 3; k++) {
		unsigned v = princs[k];
		const struct hl_pt_meta *m = hl_pt_meta(npt_img(v));
		uint64_t npmd = (m->pool_end - m->pmd_start) / PG;
		uint64_t npud = (m->pmd_start - m->pud_start) / PG;

		cr_assert_leq((npmd + 511) / 512, npud - 1, "layout: enough L2 tables to use every L3 page");
		/* every map needs a fresh L3 table (new L2 index) */
		for (unsigned i = 0; i < npmd; i++)
			ok_npt(v, ipa(0, i / 512, i % 512, 0), 3, page_desc(0x40000000ull));
		cr_expect_eq(m->pmd_next, m->pool_end, "pmd region exactly full");
		expect_halt_npt(v, ipa(0, (unsigned)(npmd / 512), (unsigned)(npmd % 512), 0), 3,
				page_desc(0x40000000ull));
		expect_halt_npt(v, ipa(0, (unsigned)(npud - 1), 511, 9), 3, page_desc(0x40000000ull));
		/* no L3 table needed: a level-3 map into an existing table, a level-2 block */
		ok_npt(v, ipa(0, 0, 0, 1), 3, page_desc(0x40001000ull));
		ok_npt(v, ipa(0, (unsigned)(npud - 1), 511, 0), 2, block_desc(0x40000000ull));
	}
}

Test(pgtable, npt_deltas_reproduce_the_image)
{
	uint8_t *img = npt_img(HL_HOSTVISOR);
	size_t n = npt_size(HL_HOSTVISOR);
	uint8_t *copy = dup_img(img, n);

	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(HL_HOSTVISOR), img, ipa(0, 1, 0, 0x10), 3, page_desc(0x40010000ull)));
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(HL_HOSTVISOR), img, ipa(0, 1, 0, 0x11), 3, page_desc(0x40011000ull)));
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(HL_HOSTVISOR), img, ipa(0, 1, 5, 0), 2, block_desc(0x40a00000ull)));
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(HL_HOSTVISOR), img, ipa(2, 9, 1, 1), 3, page_desc(0x41000000ull)));
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(HL_HOSTVISOR), img, ipa(0, 1, 0, 0x10), 3, HL_PAGE_GUEST));
	/* a halting map in between records nothing */
	cr_assert(hl_npt_map(&w, HL_NPT_OBJ(HL_HOSTVISOR), img, ipa(0, 1, 5, 3), 3, page_desc(0x40000000ull)));

	cr_assert_eq(w.nstages, 1);
	cr_assert_eq(stages[0].obj, HL_NPT_OBJ(HL_HOSTVISOR));
	cr_assert_neq(memcmp(copy, img, n), 0);
	apply_stage(copy, n, &stages[0]);
	cr_assert_eq(memcmp(copy, img, n), 0, "initial image + recorded deltas == mapped image");
	free(copy);
}

struct npt_expect {
	uint64_t block_gfn, block_pfn, block_pte;
	uint64_t g1, p1, g2, p2;
	unsigned nblock, n1, n2;
};

static void check_npt_visit(uint64_t gfn, const struct hl_pt_entry *e, void *arg)
{
	struct npt_expect *x = arg;

	if (gfn >= x->block_gfn && gfn < x->block_gfn + 512) {
		expect_entry(e, x->block_pfn + (gfn - x->block_gfn), 2, x->block_pte);
		x->nblock++;
	} else if (gfn == x->g1) {
		expect_entry(e, x->p1 >> 12, 3, x->p1);
		x->n1++;
	} else if (gfn == x->g2) {
		expect_entry(e, x->p2 >> 12, 3, x->p2);
		x->n2++;
	} else {
		cr_assert_fail("for_each visited unmapped gfn %#lx", (unsigned long)gfn);
	}
}

Test(pgtable, npt_for_each_visits_exactly_the_mapped_gfns)
{
	uint8_t *img = npt_img(VM);
	struct npt_expect x = {
		.block_gfn = ipa(0, 3, 8, 0) >> 12, .block_pfn = 0x40c00, .block_pte = block_desc(0x40c00000ull),
		.g1 = ipa(0, 3, 9, 4) >> 12, .p1 = page_desc(0x40005000ull),
		.g2 = ipa(7, 0, 0, 511) >> 12, .p2 = page_desc(0x40006000ull),
	};
	struct visit *v = calloc(1, sizeof(*v));

	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, x.block_gfn << 12, 2, x.block_pte));
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, x.g1 << 12, 3, x.p1));
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, x.g2 << 12, 3, x.p2));
	/* mapped then unmapped: an empty L3 entry is not a leaf */
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, ipa(0, 3, 9, 5), 3, page_desc(0x40007000ull)));
	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, ipa(0, 3, 9, 5), 3, 0));

	hl_npt_for_each(img, check_npt_visit, &x);
	cr_expect_eq(x.nblock, 512, "a block expands to 512 gfns");
	cr_expect_eq(x.n1, 1);
	cr_expect_eq(x.n2, 1);

	hl_npt_for_each(img, collect, v);
	cr_expect_eq(v->n, 514);
	/* every visited gfn walks to the same entry */
	for (unsigned i = 0; i < v->n; i++) {
		struct hl_pt_entry e;
		hl_npt_walk(img, v->gfn[i] << 12, &e);
		expect_entry(&e, v->e[i].pfn, v->e[i].level, v->e[i].pte);
	}
	/* an empty table visits nothing */
	v->n = 0;
	hl_npt_for_each(npt_img(2), collect, v);
	cr_expect_eq(v->n, 0);
	free(v);
}

Test(pgtable, npt_root_pa_is_what_vttbr_baddr_holds)
{
	for (unsigned v = 0; v < HL_NR_PRINC; v++) {
		uint8_t *img = npt_img(v);
		const struct hl_pt_meta *m = hl_pt_meta(img);
		uint64_t root = hl_pt_root_pa(img);
		uint64_t vttbr = root | ((uint64_t)v << 48);
		uint64_t addr = ipa(300, 1, 1, 1);

		/* a 512-entry L0 table (48-bit IPA, SL0 = level 0) is 4 KiB and 4 KiB aligned */
		cr_expect_eq(root % PG, 0, "npt(%u) root PA %#lx not page aligned", v, (unsigned long)root);
		cr_expect_eq(root, m->pool_pa + PG, "the root page follows the meta page");
		cr_expect_lt(root, 1ull << 48, "BADDR holds a 48-bit PA");
		/* VTTBR_EL2: VMID [63:48], BADDR [47:1], CnP [0] */
		cr_expect_eq(vttbr & 0x0000FFFFFFFFFFFEull, root);
		cr_expect_leq(root + PG, m->pool_pa + m->pgd_start, "the root lies below the table regions");

		/* the walk starts at that PA: map, then find the L0 entry at root + idx0 * 8 */
		ok_npt(v, addr, 3, page_desc(0x40001000ull));
		cr_expect_eq(rd64(img, root - m->pool_pa + 300 * 8), (m->pool_pa + m->pgd_start) | 3);
	}
	/* pools of different principals do not overlap */
	for (unsigned v = 0; v + 1 < HL_NR_PRINC; v++)
		cr_expect_leq(hl_pt_meta(npt_img(v))->pool_pa + npt_size(v), hl_pt_meta(npt_img(v + 1))->pool_pa);
}

Test(pgtable, npt_walk_never_follows_descriptors_outside_the_pool)
{
	uint8_t *img = npt_img(VM);
	const struct hl_pt_meta *m = hl_pt_meta(img);
	uint64_t pool = m->pool_pa;
	uint64_t addr = ipa(2, 3, 4, 5);
	uint64_t pte = page_desc(0x40123000ull);
	uint64_t off_l0 = PG + 2 * 8, off_l1 = m->pgd_start + 3 * 8, off_l2 = m->pud_start + 4 * 8;
	const uint64_t bad[] = {
		pool + m->pool_end,          /* first page past the pool */
		pool + m->pool_end + 16 * PG,
		pool,                        /* the meta page */
		pool - PG,
		0,
		0x0000FFFFFFFFF000ull,       /* the top of the 48-bit OA space */
		HL_PT_POOL_PA_BASE + (VM + 1) * HL_PT_POOL_PA_STRIDE + PG, /* another principal's pool */
	};
	const uint64_t offs[] = { off_l0, off_l1, off_l2 };
	struct hl_pt_entry e;
	struct visit *v = calloc(1, sizeof(*v));

	cr_assert_not(hl_npt_map(&w, HL_NPT_OBJ(VM), img, addr, 3, pte));
	hl_npt_walk(img, addr, &e);
	expect_entry(&e, 0x40123, 3, pte);

	for (unsigned lvl = 0; lvl < 3; lvl++) {
		uint64_t good = rd64(img, offs[lvl]);
		cr_assert_eq(good & 3, 3);
		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			wr64(img, offs[lvl], bad[i] | 3);
			hl_npt_walk(img, addr, &e);
			cr_expect(e.pfn == 0 && e.level == 0 && e.pte == 0,
				  "table descriptor at level %u -> %#lx was followed", lvl, (unsigned long)bad[i]);
			v->n = 0;
			hl_npt_for_each(img, collect, v);
			cr_expect_eq(v->n, 0, "for_each followed a descriptor outside the pool");
		}
		wr64(img, offs[lvl], good);
		hl_npt_walk(img, addr, &e);
		expect_entry(&e, 0x40123, 3, pte);
	}
	free(v);
}

/* ================================================================================= spt */

static uint64_t spt_root_off(unsigned bank) { return PG + (uint64_t)bank * HL_SPT_ROOT_PAGES * PG; }

Test(pgtable, spt_initial_layout)
{
	const struct hl_pt_meta *m = hl_pt_meta(st->spt);
	struct hl_pool_layout lay;

	hl_spt_layout(&lay);
	cr_assert_eq(HL_SPT_ROOT_PAGES, 2, "a 40-bit input at level 1 needs two concatenated tables");
	cr_assert_eq(lay.root_pages, HL_SMMU_CFG_SIZE * HL_SPT_ROOT_PAGES);
	cr_expect_eq(m->levels, 3);
	cr_expect_eq(m->pgd_start, (1 + HL_SMMU_CFG_SIZE * HL_SPT_ROOT_PAGES) * PG);
	cr_expect_eq(m->pud_start, m->pgd_start + lay.pgd_pages * PG);
	cr_expect_eq(m->pmd_start, m->pud_start, "no pud region in the SMMU pool");
	cr_expect_eq(m->pool_end, m->pmd_start + lay.pmd_pages * PG);
	cr_expect_eq(m->pool_end, spt_size());
	cr_expect_eq(m->pgd_next, m->pgd_start);
	cr_expect_eq(m->pmd_next, m->pmd_start);
}

Test(pgtable, spt_map_into_empty_bank)
{
	uint8_t *img = st->spt;
	const struct hl_pt_meta *m = hl_pt_meta(img);
	unsigned bank = HL_SMMU_ID_OF(0, 5);
	uint64_t a = iova(700, 3, 17);   /* root index >= 512: the second concatenated page */
	uint64_t pte = page_desc(0x40abc000ull);
	uint8_t *want = dup_img(img, spt_size());
	struct hl_pt_entry e;

	cr_assert_not(hl_spt_map(&w, img, bank, a, pte));
	wr64(want, spt_root_off(bank) + 700 * 8, (m->pool_pa + m->pgd_start) | 3);
	wr64(want, m->pgd_start + 3 * 8, (m->pool_pa + m->pmd_start) | 3);
	wr64(want, m->pmd_start + 17 * 8, pte);
	wr64(want, offsetof(struct hl_pt_meta, pgd_next), m->pgd_start + PG);
	wr64(want, offsetof(struct hl_pt_meta, pmd_next), m->pmd_start + PG);
	cr_assert_eq(memcmp(img, want, spt_size()), 0, "image differs from the hand-built one");
	cr_expect_eq(m->pud_next, m->pud_start);
	cr_expect_eq(w.nstages, 1);
	cr_expect_eq(stages[0].obj, HL_SPT_ID);
	cr_expect_eq(stages[0].ndelta, 5);
	/* the entry sits in the bank's second root page */
	cr_expect_geq(spt_root_off(bank) + 700 * 8, spt_root_off(bank) + PG);

	hl_spt_walk(img, bank, a, &e);
	expect_entry(&e, 0x40abc, 3, pte);
	hl_spt_walk(img, bank, a + 0x123, &e);
	expect_entry(&e, 0x40abc, 3, pte);
	expect_unmapped_spt(img, bank, a + PG);
	expect_unmapped_spt(img, bank, iova(188, 3, 17));   /* 700 - 512: the first root page */
	expect_unmapped_spt(img, bank - 1, a);
	expect_unmapped_spt(img, bank + 1, a);

	/* same 2 MiB region: no allocation, one delta */
	fresh_wctx();
	cr_assert_not(hl_spt_map(&w, img, bank, iova(700, 3, 18), page_desc(0x40abd000ull)));
	cr_expect_eq(m->pgd_next, m->pgd_start + PG);
	cr_expect_eq(m->pmd_next, m->pmd_start + PG);
	cr_expect_eq(stages[0].ndelta, 1);
	/* unmapping = mapping pte 0 */
	fresh_wctx();
	cr_assert_not(hl_spt_map(&w, img, bank, a, 0));
	expect_unmapped_spt(img, bank, a);
	hl_spt_walk(img, bank, iova(700, 3, 18), &e);
	expect_entry(&e, 0x40abd, 3, page_desc(0x40abd000ull));
	free(want);
}

Test(pgtable, spt_banks_are_independent_and_reset_zeroes_only_that_root)
{
	uint8_t *img = st->spt;
	const struct hl_pt_meta *m = hl_pt_meta(img);
	unsigned b1 = HL_SMMU_ID_OF(0, 2), b2 = HL_SMMU_ID_OF(1, 2);
	uint64_t a = iova(1, 2, 3);
	uint64_t p1 = page_desc(0x40001000ull), p2 = page_desc(0x40002000ull);
	struct hl_pt_entry e;
	uint8_t *want;

	cr_assert_not(hl_spt_map(&w, img, b1, a, p1));
	cr_assert_not(hl_spt_map(&w, img, b2, a, p2));
	/* same iova in another bank: its own L2 and L3 tables */
	cr_expect_eq(m->pgd_next, m->pgd_start + 2 * PG);
	cr_expect_eq(m->pmd_next, m->pmd_start + 2 * PG);
	cr_expect_eq(rd64(img, spt_root_off(b1) + 8), (m->pool_pa + m->pgd_start) | 3);
	cr_expect_eq(rd64(img, spt_root_off(b2) + 8), (m->pool_pa + m->pgd_start + PG) | 3);
	hl_spt_walk(img, b1, a, &e);
	expect_entry(&e, 0x40001, 3, p1);
	hl_spt_walk(img, b2, a, &e);
	expect_entry(&e, 0x40002, 3, p2);
	/* more mappings in b1, including the second root page */
	cr_assert_not(hl_spt_map(&w, img, b1, iova(1000, 0, 0), p1));

	want = dup_img(img, spt_size());
	memset(want + spt_root_off(b1), 0, HL_SPT_ROOT_PAGES * PG);
	fresh_wctx();
	hl_spt_reset_bank(&w, img, b1);
	cr_assert_eq(memcmp(img, want, spt_size()), 0, "reset zeroes exactly the bank's two root pages");
	cr_expect_eq(w.nstages, 1);
	cr_expect_eq(stages[0].obj, HL_SPT_ID);
	cr_expect_eq(stages[0].ndelta, 1);
	expect_unmapped_spt(img, b1, a);
	expect_unmapped_spt(img, b1, iova(1000, 0, 0));
	hl_spt_walk(img, b2, a, &e);
	expect_entry(&e, 0x40002, 3, p2);

	/* a reset bank maps again, with fresh tables (the bump pointers never go back) */
	fresh_wctx();
	cr_assert_not(hl_spt_map(&w, img, b1, a, p2));
	cr_expect_eq(m->pgd_next, m->pgd_start + 4 * PG);
	hl_spt_walk(img, b1, a, &e);
	expect_entry(&e, 0x40002, 3, p2);

	/* reset of the last bank stays inside the root region */
	hl_spt_reset_bank(&w, img, HL_SMMU_CFG_SIZE - 1);
	cr_expect_eq(spt_root_off(HL_SMMU_CFG_SIZE - 1) + HL_SPT_ROOT_PAGES * PG, m->pgd_start);
	free(want);
}

static void expect_halt_spt(unsigned bank, uint64_t a)
{
	uint8_t *before = dup_img(st->spt, spt_size());

	fresh_wctx();
	cr_assert(hl_spt_map(&w, st->spt, bank, a, page_desc(0x40000000ull)), "spt map %#lx must halt",
		  (unsigned long)a);
	cr_assert_eq(memcmp(st->spt, before, spt_size()), 0, "the halt branch changes nothing");
	cr_assert_eq(w.touched, 0);
	free(before);
}

static void ok_spt(unsigned bank, uint64_t a)
{
	fresh_wctx();
	cr_assert_not(hl_spt_map(&w, st->spt, bank, a, page_desc(0x40000000ull)), "spt map %#lx must succeed",
		      (unsigned long)a);
}

Test(pgtable, spt_pgd_region_exhaustion)
{
	const struct hl_pt_meta *m = hl_pt_meta(st->spt);
	uint64_t npgd = (m->pmd_start - m->pgd_start) / PG;
	uint64_t npmd = (m->pool_end - m->pmd_start) / PG;

	cr_assert_lt(npgd, npmd);
	cr_assert_leq(npgd, 1023);
	for (unsigned i = 0; i < npgd; i++)
		ok_spt(3, iova(i, 0, 0));
	cr_expect_eq(m->pgd_next, m->pmd_start, "pgd region exactly full");
	expect_halt_spt(3, iova((unsigned)npgd, 0, 0));
	expect_halt_spt(4, iova(0, 0, 0));   /* another bank's first map needs an L2 table too */
	ok_spt(3, iova(0, 1, 0));            /* needs only an L3 table */
	ok_spt(3, iova(5, 0, 7));            /* needs nothing */
}

Test(pgtable, spt_pmd_region_exhaustion)
{
	const struct hl_pt_meta *m = hl_pt_meta(st->spt);
	uint64_t npmd = (m->pool_end - m->pmd_start) / PG;
	uint64_t npgd = (m->pmd_start - m->pgd_start) / PG;

	cr_assert_leq((npmd + 511) / 512, npgd - 1);
	for (unsigned i = 0; i < npmd; i++)
		ok_spt(0, iova(i / 512, i % 512, 0));
	cr_expect_eq(m->pmd_next, m->pool_end, "pmd region exactly full");
	expect_halt_spt(0, iova((unsigned)(npmd / 512), (unsigned)(npmd % 512), 0));
	expect_halt_spt(0, iova(900, 0, 0));
	ok_spt(0, iova(0, 0, 1));
}

Test(pgtable, spt_deltas_reproduce_the_image)
{
	uint8_t *img = st->spt;
	size_t n = spt_size();
	uint8_t *copy = dup_img(img, n);

	cr_assert_not(hl_spt_map(&w, img, 1, iova(0, 0, 1), page_desc(0x40001000ull)));
	cr_assert_not(hl_spt_map(&w, img, 1, iova(0, 0, 2), page_desc(0x40002000ull)));
	cr_assert_not(hl_spt_map(&w, img, 9, iova(600, 8, 1), page_desc(0x40003000ull)));
	hl_spt_reset_bank(&w, img, 1);
	cr_assert_not(hl_spt_map(&w, img, 1, iova(2, 0, 1), page_desc(0x40004000ull)));
	cr_assert_not(hl_spt_map(&w, img, 9, iova(600, 8, 1), 0));

	cr_assert_eq(w.nstages, 1);
	cr_assert_eq(stages[0].obj, HL_SPT_ID);
	apply_stage(copy, n, &stages[0]);
	cr_assert_eq(memcmp(copy, img, n), 0, "initial image + recorded deltas == mapped image");
	free(copy);
}

Test(pgtable, spt_for_each_visits_exactly_the_mapped_iovas)
{
	uint8_t *img = st->spt;
	struct visit *v = calloc(1, sizeof(*v));
	const uint64_t g[] = { iova(0, 0, 0) >> 12, iova(0, 0, 511) >> 12, iova(0, 4, 0) >> 12,
			       iova(1023, 511, 511) >> 12 };

	for (unsigned i = 0; i < 4; i++)
		cr_assert_not(hl_spt_map(&w, img, 7, g[i] << 12, page_desc(0x40000000ull + i * PG)));
	cr_assert_not(hl_spt_map(&w, img, 8, iova(3, 3, 3), page_desc(0x40100000ull)));
	cr_assert_not(hl_spt_map(&w, img, 7, iova(5, 5, 5), page_desc(0x40200000ull)));
	cr_assert_not(hl_spt_map(&w, img, 7, iova(5, 5, 5), 0));

	hl_spt_for_each(img, 7, collect, v);
	cr_assert_eq(v->n, 4);
	for (unsigned i = 0; i < 4; i++) {
		cr_expect_eq(v->gfn[i], g[i]);
		expect_entry(&v->e[i], 0x40000 + i, 3, page_desc(0x40000000ull + i * PG));
	}
	v->n = 0;
	hl_spt_for_each(img, 8, collect, v);
	cr_assert_eq(v->n, 1);
	cr_expect_eq(v->gfn[0], iova(3, 3, 3) >> 12);
	v->n = 0;
	hl_spt_for_each(img, 6, collect, v);
	cr_expect_eq(v->n, 0);
	free(v);
}

Test(pgtable, spt_root_pa_is_aligned_for_two_concatenated_tables)
{
	const struct hl_pt_meta *m = hl_pt_meta(st->spt);

	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++) {
		uint64_t root = hl_spt_root_pa(st->spt, b);

		cr_expect_eq(root, m->pool_pa + spt_root_off(b));
		cr_expect_eq(root % PG, 0);
		/* Arm ARM (VMSAv8-64, concatenated tables for the initial stage-2 lookup): a 40-bit
		 * IA at level 1 with the 4 KiB granule uses two concatenated tables, 8 KiB, and the
		 * block of concatenated tables must be aligned to its size (TTBR holds [47:13]) */
		cr_expect_eq(root % (HL_SPT_ROOT_PAGES * PG), 0, "bank %u root PA %#lx is not 8 KiB aligned", b,
			     (unsigned long)root);
		cr_expect_lt(root, 1ull << 48);
		if (b)
			cr_expect_eq(root - hl_spt_root_pa(st->spt, b - 1), HL_SPT_ROOT_PAGES * PG);
	}
	/* the walk starts at that PA */
	ok_spt(HL_SMMU_ID_OF(1, 3), iova(513, 0, 0));
	cr_expect_eq(rd64(st->spt, hl_spt_root_pa(st->spt, HL_SMMU_ID_OF(1, 3)) - m->pool_pa + 513 * 8),
		     (m->pool_pa + m->pgd_start) | 3);
	/* table pools do not overlap: the SMMU pool ends below the first npt pool */
	cr_expect_leq(m->pool_pa + spt_size(), hl_pt_meta(npt_img(0))->pool_pa);
}

Test(pgtable, spt_walk_never_follows_descriptors_outside_the_pool)
{
	uint8_t *img = st->spt;
	const struct hl_pt_meta *m = hl_pt_meta(img);
	unsigned bank = 2;
	uint64_t a = iova(4, 5, 6);
	uint64_t pte = page_desc(0x40321000ull);
	const uint64_t offs[] = { spt_root_off(bank) + 4 * 8, m->pgd_start + 5 * 8 };
	const uint64_t bad[] = { m->pool_pa + m->pool_end, m->pool_pa, m->pool_pa - PG, 0,
				 0x0000FFFFFFFFF000ull, HL_PT_POOL_PA_BASE + PG };
	struct hl_pt_entry e;
	struct visit *v = calloc(1, sizeof(*v));

	cr_assert_not(hl_spt_map(&w, img, bank, a, pte));
	for (unsigned lvl = 0; lvl < 2; lvl++) {
		uint64_t good = rd64(img, offs[lvl]);
		cr_assert_eq(good & 3, 3);
		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			wr64(img, offs[lvl], bad[i] | 3);
			hl_spt_walk(img, bank, a, &e);
			cr_expect(e.pfn == 0 && e.level == 0 && e.pte == 0,
				  "table descriptor at level %u -> %#lx was followed", lvl + 1, (unsigned long)bad[i]);
			v->n = 0;
			hl_spt_for_each(img, bank, collect, v);
			cr_expect_eq(v->n, 0);
		}
		wr64(img, offs[lvl], good);
		hl_spt_walk(img, bank, a, &e);
		expect_entry(&e, 0x40321, 3, pte);
	}
	free(v);
}

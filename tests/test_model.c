/*
 * test_model.c - the oracle's independent model (oracle/hl_model.c, oracle/hl_mpt.c)
 * against the engine, and every security invariant and the recomputed OVERIFY verdict
 * shown catching a deliberately broken state or a forged record.
 *
 *   layout / walker: the model's own pool layout, object sizes, descriptor decoder and walks
 *       agree with the engine's on random maps and on the state of a random engine run;
 *   init: the spec's initial state, built by the model alone, equals the engine's initial
 *       images (hl_model_init_cmp), and a changed byte of them is reported;
 *   invariants: an engine state that satisfies them, then one hand-edited image at a time
 *       (a VM page in the host table, a freed bank still mapping a page, a wrong dma count,
 *       a host count off by one, a KCore pool page mapped to the host, a VM table mapping
 *       another VM's page, pfn 0 as Normal memory, a stray table link, a COREVISOR page,
 *       a non-identity host entry), each caught with its own message;
 *   steps: the SPEC §12-§13 rules (DENIED, dma accounting, freeing a bank);
 *   verdict: OVERIFY recomputed from digests, signatures and KCore's keys; a forged dorc
 *       (verified with a bad signature, and not verified with a good one) is caught.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "helpers.h"
#include "hl_file.h"
#include "hl_model.h"
#include "hl_pgtable.h"
#include "hl_pool.h"
#include "hl_state.h"
#include "hl_testkey.h"

#define PG HL_PAGE_SIZE
#define VM_BLOCK_PFN (HL_RAM_BASE_PFN + 1024)

static void view(struct hl_images *im, const struct hl_state *st)
{
	memset(im, 0, sizeof(*im));
	for (unsigned o = 1; o < HL_ID_END; o++) {
		im->img[o] = st->img[o].base;
		im->len[o] = st->img[o].size;
	}
	im->ram = st->ram;
}

static struct hl_model *abstract_state(const struct hl_state *st)
{
	struct hl_model *m = hl_model_new();
	struct hl_images im;

	cr_assert_not_null(m);
	view(&im, st);
	cr_assert_eq(hl_model_abstract(m, &im), 0);
	return m;
}

/* ===================================================================================== */
/* layout and walker                                                                        */

Test(model, layout_matches_engine)
{
	for (unsigned o = 0; o < HL_ID_END + 2; o++)
		cr_expect_eq(hl_mpt_obj_size(o), o < HL_ID_END && o != HL_FLATMEM_ID ? hl_obj_image_size(o) : 0,
			     "object %u", o);
	for (unsigned v = 0; v < HL_NR_PRINC; v++) {
		struct hl_pool_layout lay;
		struct hl_mpt_layout l;
		hl_pool_layout_of(v, &lay);
		cr_assert_eq(hl_mpt_layout(HL_NPT_OBJ(v), &l), 0);
		cr_expect_eq(l.root_pages, lay.root_pages);
		cr_expect_eq(l.pgd_pages, lay.pgd_pages, "princ %u", v);
		cr_expect_eq(l.pud_pages, lay.pud_pages, "princ %u", v);
		cr_expect_eq(l.pmd_pages, lay.pmd_pages, "princ %u", v);
		cr_expect_eq(l.pool_pa, HL_PT_POOL_PA_BASE + v * HL_PT_POOL_PA_STRIDE);
	}
	{
		struct hl_pool_layout lay;
		struct hl_mpt_layout l;
		hl_spt_layout(&lay);
		cr_assert_eq(hl_mpt_layout(HL_SPT_ID, &l), 0);
		cr_expect_eq(l.root_pages, lay.root_pages);
		cr_expect_eq(l.pgd_pages, lay.pgd_pages);
		cr_expect_eq(l.pud_pages, lay.pud_pages);
		cr_expect_eq(l.pmd_pages, lay.pmd_pages);
		cr_expect_eq(HL_MPT_SPT_ROOT_PAGES, HL_SPT_ROOT_PAGES);
	}
	cr_expect_eq(hl_mpt_layout(HL_CORE_ID, &(struct hl_mpt_layout){ 0 }), -1);
	/* the model's SMMU bank counts are the engine's */
	for (uint64_t index = 0; index < HL_SMMU_NUM; index++)
		for (uint64_t num = 0; num <= HL_SMMU_NUM_CB; num++) {
			uint64_t a[4] = { 0, 0, index, num };
			cr_expect_eq(hl_model_valid(HL_EV_SMMU_ALLOC, a), num == hl_smmu_num_banks((unsigned)index),
				     "index %llu num %llu", (unsigned long long)index, (unsigned long long)num);
		}
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct collect {
	struct hl_hmap h;
	bool spt;
};

static void collect_leaf(uint64_t gfn, const struct hl_pt_entry *e, void *arg)
{
	struct collect *c = arg;
	struct hl_mval v = { e->pfn, e->pte, e->level };
	cr_assert_eq(hl_hmap_put(&c->h, gfn, &v), 0);
}

/* the model's pt of principal v / bank b == the engine's walk of the same image */
static void expect_same_leaves(const struct hl_model *m, const struct hl_state *st, int v, int bank)
{
	struct collect c = { { 0 }, bank >= 0 };
	const struct hl_hmap *mp = bank >= 0 ? &m->spt[bank].pt : &m->npt[v].pt;

	if (bank >= 0)
		hl_spt_for_each(st->spt, (unsigned)bank, collect_leaf, &c);
	else
		hl_npt_for_each(st->npt[v], collect_leaf, &c);
	cr_expect_eq(mp->n, c.h.n, "princ %d bank %d: %u model entries, %u engine entries", v, bank, mp->n, c.h.n);
	for (uint32_t i = 0; i < c.h.cap; i++) {
		const struct hl_mval *x;
		if (!c.h.key[i])
			continue;
		x = hl_hmap_get(mp, c.h.key[i] - 1);
		cr_assert_not_null(x, "gfn 0x%llx missing in the model", (unsigned long long)(c.h.key[i] - 1));
		cr_expect(x->pfn == c.h.val[i].pfn && x->pte == c.h.val[i].pte && x->level == c.h.val[i].level,
			  "gfn 0x%llx: model pfn 0x%llx level %u, engine pfn 0x%llx level %u",
			  (unsigned long long)(c.h.key[i] - 1), (unsigned long long)x->pfn, x->level,
			  (unsigned long long)c.h.val[i].pfn, c.h.val[i].level);
	}
	hl_hmap_free(&c.h);
}

/* per-gfn walks: hl_mpt_*_leaf against hl_*_walk at every mapped gfn and random others */
static void expect_same_walks(const struct hl_state *st, const struct hl_model *m, uint64_t *rng)
{
	struct hl_images im;
	struct hl_mpt t;

	view(&im, st);
	for (unsigned v = 0; v < HL_NR_PRINC; v++) {
		cr_assert_eq(hl_mpt_open(&t, im.img[HL_NPT_OBJ(v)], im.len[HL_NPT_OBJ(v)], HL_NPT_OBJ(v)), 0);
		for (unsigned k = 0; k < 300; k++) {
			const struct hl_hmap *h = &m->npt[v].pt;
			uint64_t gfn = rng_next(rng) % (1ull << 24);
			struct hl_pt_entry e;
			struct hl_mval x;
			bool have;
			if (k % 2 && h->n) {   /* half of the probes at mapped gfns */
				for (uint32_t s = (uint32_t)(rng_next(rng) % h->cap);; s = (s + 1) % h->cap)
					if (h->key[s]) {
						gfn = h->key[s] - 1;
						break;
					}
			}
			hl_npt_walk(st->npt[v], gfn * PG, &e);
			have = hl_mpt_npt_leaf(&t, gfn, &x);
			cr_expect_eq(have, e.level != 0, "princ %u gfn 0x%llx", v, (unsigned long long)gfn);
			if (have)
				cr_expect(x.pfn == e.pfn && x.pte == e.pte && x.level == e.level, "princ %u gfn 0x%llx",
					  v, (unsigned long long)gfn);
		}
	}
	cr_assert_eq(hl_mpt_open(&t, im.img[HL_SPT_ID], im.len[HL_SPT_ID], HL_SPT_ID), 0);
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++)
		for (unsigned k = 0; k < 100; k++) {
			uint64_t gfn = rng_next(rng) % (HL_SMMU_IPA_SIZE / PG);
			struct hl_pt_entry e;
			struct hl_mval x;
			bool have;
			if (k % 2 && m->spt[b].pt.n)
				for (uint32_t s = (uint32_t)(rng_next(rng) % m->spt[b].pt.cap);; s = (s + 1) % m->spt[b].pt.cap)
					if (m->spt[b].pt.key[s]) {
						gfn = m->spt[b].pt.key[s] - 1;
						break;
					}
			hl_spt_walk(st->spt, b, gfn * PG, &e);
			have = hl_mpt_spt_leaf(&t, b, gfn, &x);
			cr_expect_eq(have, e.pte != 0, "bank %u gfn 0x%llx", b, (unsigned long long)gfn);
			if (have)
				cr_expect(x.pfn == e.pfn && x.pte == e.pte, "bank %u gfn 0x%llx", b, (unsigned long long)gfn);
		}
}

Test(model, walker_matches_engine_on_random_maps)
{
	struct hl_state *st = hl_state_new(false);
	static struct hl_stage stages[HL_MAX_STAGES];
	struct hl_wctx w;
	uint64_t rng = 0x1234567;
	struct hl_model *m;
	unsigned maps = 0;

	cr_assert_not_null(st);
	hl_wctx_init(&w, st, stages, false);
	for (unsigned i = 0; i < 3000; i++) {
		unsigned v = (unsigned)(rng_next(&rng) % HL_NR_PRINC);
		uint64_t r = rng_next(&rng);
		/* a few clustered regions, so tables are shared and pools fill */
		uint64_t addr = ((r % 4) << 39 | ((r >> 2) % 3) << 30 | ((r >> 4) % 64) << 21 | ((r >> 10) % 512) << 12);
		uint64_t pfn = HL_RAM_BASE_PFN + rng_next(&rng) % HL_RAM_PAGES;
		if (rng_next(&rng) % 8 == 0 && v != HL_HOSTVISOR) {
			uint64_t pte = ((pfn & ~511ull) * PG) | (HL_PAGE_S2_KERNEL & ~2ull);
			if (hl_npt_slot_free(st->npt[v], addr, 2))
				maps += !hl_npt_map(&w, HL_NPT_OBJ(v), st->npt[v], addr, 2, pte);
		} else {
			uint64_t pte = rng_next(&rng) % 5 == 0 ? HL_PAGE_GUEST : (pfn * PG) | HL_PAGE_S2_KERNEL;
			maps += !hl_npt_map(&w, HL_NPT_OBJ(v), st->npt[v], addr, 3, pte);
		}
		if (i % 3 == 0) {
			unsigned b = (unsigned)(rng_next(&rng) % HL_SMMU_CFG_SIZE);
			uint64_t iova = (rng_next(&rng) % (HL_SMMU_IPA_SIZE / PG / 4096)) * PG * 7;
			maps += !hl_spt_map(&w, st->spt, b, iova % HL_SMMU_IPA_SIZE,
					    rng_next(&rng) % 6 ? (pfn * PG) | 0x3 | HL_PTE_S2_RDWR : 0);
		}
	}
	cr_expect_gt(maps, 1000u);
	m = abstract_state(st);
	for (unsigned v = 0; v < HL_NR_PRINC; v++)
		expect_same_leaves(m, st, (int)v, -1);
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++)
		expect_same_leaves(m, st, -1, (int)b);
	expect_same_walks(st, m, &rng);
	hl_model_free(m);
	hl_state_free(st);
}

/* the tables of a random engine run with chaos steps (malformed, halting and unconstrained
 * event-level calls): the model reads them as the engine does */
Test(model, walker_on_a_random_engine_run)
{
	struct th_run_cfg rc = { .ncpus = 2, .ops = 1500, .seed = 7, .lock = HL_LOCK_TICKET, .chaos = 5 };
	struct hl_engine *e = th_random_run(&rc, NULL);
	struct hl_model *m;
	uint64_t rng = 99;

	cr_assert_not_null(e);
	m = abstract_state(e->st);
	for (unsigned v = 0; v < HL_NR_PRINC; v++)
		expect_same_leaves(m, e->st, (int)v, -1);
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++)
		expect_same_leaves(m, e->st, -1, (int)b);
	expect_same_walks(e->st, m, &rng);
	hl_model_free(m);
	hl_engine_free(e);
}

/* a chaos-free random run (every call as the trap layer makes it) keeps every invariant;
 * the chaos steps above are event-level calls the trap layer never makes (a VERIFIED VM's
 * page cleared, any pfn mapped into a VM) and do break them */
Test(model, invariants_hold_on_a_random_engine_run)
{
	struct th_run_cfg rc = { .ncpus = 2, .ops = 1500, .seed = 7, .lock = HL_LOCK_TICKET };
	struct hl_engine *e = th_random_run(&rc, NULL);
	struct hl_model *m;
	char msg[256];

	cr_assert_not_null(e);
	m = abstract_state(e->st);
	cr_expect_eq(hl_model_inv_all(m, msg, sizeof(msg)), 0, "%s", msg);
	hl_model_free(m);
	hl_engine_free(e);
}

/* ===================================================================================== */
/* the initial state                                                                        */

Test(model, init_equals_engine_initial_images)
{
	struct hl_state *st = hl_state_new(false);
	struct hl_model *spec = hl_model_new(), *got;
	struct hl_model_diff d;
	struct hl_images im;

	cr_assert(st && spec);
	view(&im, st);
	cr_expect_eq(hl_model_init_cmp(&im, &d), 0, "%s: spec %s, image %s", d.where, d.a, d.b);
	got = abstract_state(st);
	cr_expect_eq(hl_model_diff(spec, got, HL_ID_END, &d), 0, "%s: %s vs %s", d.where, d.a, d.b);
	hl_model_free(got);

	/* one changed byte at a time is reported, with where */
	st->s2p->page[3].count = 1;
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	cr_expect(strstr(d.where, "s2page") != NULL, "%s", d.where);
	st->s2p->page[3].count = 0;
	st->s2p->page[4].pad = 1;
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	cr_expect(strstr(d.where, "pad") != NULL, "%s", d.where);
	st->s2p->page[4].pad = 0;
	st->s2p->flatmem[5] ^= 1;
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	cr_expect(strstr(d.where, "flatmem") != NULL, "%s", d.where);
	st->s2p->flatmem[5] ^= 1;
	hl_pt_meta(st->spt)->pgd_next += PG;
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	cr_expect_str_eq(d.where, "meta.pgd_next");
	hl_pt_meta(st->spt)->pgd_next -= PG;
	st->npt[3][PG + 8] = 1;   /* a root entry */
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	cr_expect_eq(d.obj, HL_NPT_OBJ(3));
	st->npt[3][PG + 8] = 0;
	st->info[2]->state = HL_VM_READY;
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	cr_expect_eq(d.obj, HL_INFO_OBJ(2));
	st->info[2]->state = 0;
	st->core->next_vmid = 2;
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	cr_expect_eq(d.obj, HL_CORE_ID);
	st->core->next_vmid = 1;
	st->smmu->owner[5] = 0;
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	cr_expect_eq(d.obj, HL_SMMU_ID);
	st->smmu->owner[5] = HL_INVALID;
	/* placements: a pool in RAM, two pools overlapping, misaligned SMMU roots */
	hl_pt_meta(st->npt[1])->pool_pa = HL_RAM_BASE;
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	cr_expect(strstr(d.b, "RAM") != NULL, "%s", d.b);
	hl_pt_meta(st->npt[1])->pool_pa = hl_pt_meta(st->npt[2])->pool_pa + PG;
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	cr_expect(strstr(d.b, "another pool") != NULL, "%s", d.b);
	hl_pt_meta(st->npt[1])->pool_pa = HL_PT_POOL_PA_BASE + HL_PT_POOL_PA_STRIDE;
	hl_pt_meta(st->spt)->pool_pa += PG;
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	cr_expect_eq(d.obj, HL_SPT_ID);
	hl_pt_meta(st->spt)->pool_pa -= PG;
	/* another placement that satisfies the rules (an EL2 run's real PAs) is accepted */
	hl_pt_meta(st->npt[4])->pool_pa = 0x7800000000ull;
	cr_expect_eq(hl_model_init_cmp(&im, &d), 0, "%s: %s vs %s", d.where, d.a, d.b);
	/* wrong image size */
	im.len[HL_CORE_ID] = 8;
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	hl_model_free(spec);
	hl_state_free(st);
}

Test(model, init_equals_a_new_engine)
{
	struct hl_engine *e = th_engine(2);
	struct hl_model_diff d;
	struct hl_images im;

	cr_assert_not_null(e);
	view(&im, e->st);
	cr_expect_eq(hl_model_init_cmp(&im, &d), 0, "%s: spec %s, image %s", d.where, d.a, d.b);
	hl_engine_free(e);
}

/* a log file's seq-0 images (engine/hl_file.c) are the spec's initial state */
Test(model, init_equals_a_log_files_seq0_images)
{
	struct hl_engine *e = th_engine(1), *r;
	char path[] = "/tmp/hl_test_model_XXXXXX";
	struct hl_file_info info;
	struct hl_file_err err;
	struct hl_images im = { 0 };
	struct hl_model_diff d;
	uint8_t *buf[HL_ID_END] = { 0 };
	int fd;

	cr_assert_not_null(e);
	cr_assert_neq(th_boot_vm(e, 0, VM_BLOCK_PFN, 0x80000000ull), 0u);
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(hl_file_write(e, path, &err), 0, "%s", err.msg);
	r = hl_file_read(path, &info, &err);
	unlink(path);
	cr_assert_not_null(r, "%s", err.msg);
	for (unsigned o = 1; o < HL_ID_END; o++) {
		im.len[o] = hl_obj_image_size(o);
		buf[o] = malloc(im.len[o]);
		cr_assert_not_null(buf[o]);
		cr_assert_eq(hl_file_seq0(r, o, buf[o], im.len[o]), 0, "object %u", o);
		im.img[o] = buf[o];
	}
	cr_expect_eq(hl_model_init_cmp(&im, &d), 0, "%s: spec %s, file %s", d.where, d.a, d.b);
	buf[HL_S2PAGE_ID][0] ^= 1;   /* page 0's owner */
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1);
	for (unsigned o = 1; o < HL_ID_END; o++)
		free(buf[o]);
	hl_engine_free(r);
	hl_engine_free(e);
}

/* ===================================================================================== */
/* security invariants                                                                      */

#define VM_BLOCK (HL_RAM_BASE_PFN + 1024)   /* VM 1's image block (512 pages, VERIFIED) */
#define HPAGE th_pfn(7)                      /* a host page the host's SMMU bank maps */
#define VPAGE th_pfn(8)                      /* VM 2's page its SMMU bank maps */
#define VPAGE2 th_pfn(9)                     /* VM 2's page its stage-2 table maps */
#define HOST_BANK 1u                         /* smmu index 0, cbndx 1 */
#define VM_BANK 2u                           /* smmu index 0, cbndx 2 */

struct base {
	struct hl_engine *e;
	uint32_t vm1, vm2;
};

/* an engine state with something in every table: a VERIFIED VM with its image, a READY VM
 * with a page in its table and one in its SMMU bank, host pages in the host table and in
 * the host's SMMU bank */
static void base_make(struct base *b)
{
	struct hl_engine *e = th_engine(1);
	struct hl_model *m;
	char msg[256];

	cr_assert_not_null(e);
	b->e = e;
	b->vm1 = th_boot_vm(e, 0, VM_BLOCK, 0x80000000ull);
	b->vm2 = th_new_vm(e, 0);
	cr_assert(b->vm1 && b->vm2);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(5) * PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(6) * PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(0x1000)), HL_OK);   /* MMIO: a device mapping */
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, HOST_BANK, HL_HOSTVISOR, 0), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 0, HOST_BANK, 0, hl_iova(HPAGE * PG), HPAGE * PG | 0x3 | HL_PTE_S2_RDWR),
		     HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, VM_BANK, b->vm2, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, VM_BANK, 0, VPAGE, 0x100), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 0, VM_BANK, 0, hl_iova(0x100 * PG), VPAGE * PG | 0x3 | HL_PTE_S2_RDWR),
		     HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, b->vm2, 0x200, VPAGE2), HL_OK);
	cr_assert_eq(hl_map_pfn_vm(e, 0, b->vm2, hl_ipa(0x200 * PG), VPAGE2 * PG, 3), HL_OK);
	m = abstract_state(e->st);
	cr_assert_eq(m->s2p[HPAGE - HL_RAM_BASE_PFN].count, 1);
	cr_assert_eq(m->s2p[HPAGE - HL_RAM_BASE_PFN].dma, 1);
	cr_assert_eq(m->s2p[VPAGE - HL_RAM_BASE_PFN].dma, 1);
	cr_assert_eq(hl_model_inv_all(m, msg, sizeof(msg)), 0, "the base state breaks an invariant: %s", msg);
	hl_model_free(m);
}

/* the invariants over the (edited) engine state: the violation message, or "" */
static const char *violation(struct base *b)
{
	static char msg[256];
	struct hl_model *m = abstract_state(b->e->st);
	int rc = hl_model_inv_all(m, msg, sizeof(msg));

	hl_model_free(m);
	hl_engine_free(b->e);
	return rc ? msg : "";
}

/* a raw table write into the engine's own image (a hand edit, no record) */
static void poke_npt(struct base *b, unsigned v, uint64_t addr, uint64_t pte)
{
	static struct hl_stage stages[HL_MAX_STAGES];
	struct hl_wctx w;

	hl_wctx_init(&w, b->e->st, stages, false);
	cr_assert_eq(hl_npt_map(&w, HL_NPT_OBJ(v), b->e->st->npt[v], addr, 3, pte), false);
}

static struct hl_s2page *page(struct base *b, uint64_t pfn)
{
	return &b->e->st->s2p->page[pfn - HL_RAM_BASE_PFN];
}

#define EXPECT_VIOLATION(b, needle)                                                              \
	do {                                                                                      \
		const char *msg_ = violation(b);                                                  \
		cr_expect(strstr(msg_, (needle)) != NULL, "expected a violation with \"%s\", got \"%s\"", \
			  (needle), msg_);                                                       \
	} while (0)

Test(model_inv, a_vm_page_in_the_host_table)
{
	struct base b;

	base_make(&b);
	poke_npt(&b, HL_HOSTVISOR, VPAGE2 * PG, VPAGE2 * PG | HL_PAGE_S2_KERNEL);
	EXPECT_VIOLATION(&b, "host table maps pfn");
}

Test(model_inv, a_freed_bank_still_mapping_a_page)
{
	struct base b;

	base_make(&b);
	b.e->st->smmu->owner[VM_BANK] = HL_INVALID;
	EXPECT_VIOLATION(&b, "freed SMMU bank 2");
}

Test(model_inv, a_wrong_dma_count)
{
	struct base b;

	base_make(&b);
	page(&b, VPAGE)->dma = 2;
	EXPECT_VIOLATION(&b, "dma 2 but 1 SMMU entries");
	base_make(&b);
	page(&b, th_pfn(20))->dma = 1;   /* a page no SMMU entry maps */
	EXPECT_VIOLATION(&b, "dma 1 but 0 SMMU entries");
}

Test(model_inv, a_host_count_off_by_one)
{
	struct base b;

	base_make(&b);
	page(&b, HPAGE)->count = 0;
	EXPECT_VIOLATION(&b, "count 0 but 1 host-bank");
	base_make(&b);
	page(&b, HPAGE)->count = 2;
	EXPECT_VIOLATION(&b, "count 2 but 1 host-bank");
}

Test(model_inv, a_kcore_pool_page_mapped_to_the_host)
{
	struct base b;
	uint64_t pa = HL_SPT_POOL_PA + PG;   /* an SMMU root page */

	base_make(&b);
	poke_npt(&b, HL_HOSTVISOR, pa, pa | HL_PAGE_S2_DEVICE);
	EXPECT_VIOLATION(&b, "KCore's table pool");
	base_make(&b);
	pa = HL_PT_POOL_PA_BASE + 2 * PG;   /* the host's own level-1 table */
	poke_npt(&b, b.vm2, 0x300 * PG, pa | HL_PAGE_S2_KERNEL);
	EXPECT_VIOLATION(&b, "KCore's table pool");
}

Test(model_inv, a_vm_table_mapping_another_vms_page)
{
	struct base b;

	base_make(&b);
	poke_npt(&b, b.vm2, 0x300 * PG, (VM_BLOCK + 3) * PG | HL_PAGE_S2_KERNEL);
	EXPECT_VIOLATION(&b, "owned by 1");
	base_make(&b);
	poke_npt(&b, b.vm2, 0x300 * PG, th_pfn(30) * PG | HL_PAGE_S2_KERNEL);   /* a host page */
	EXPECT_VIOLATION(&b, "owned by 0");
}

Test(model_inv, pfn_0_as_normal_memory)
{
	struct base b;

	base_make(&b);
	poke_npt(&b, b.vm2, 0x400 * PG, 0 | HL_PAGE_S2_KERNEL);
	EXPECT_VIOLATION(&b, "to pfn 0 as Normal memory");
	/* as a device page it is not a violation */
	base_make(&b);
	poke_npt(&b, b.vm2, 0x400 * PG, 0 | HL_PAGE_S2_DEVICE);
	EXPECT_VIOLATION(&b, "");
}

Test(model_inv, a_table_link_outside_its_pool)
{
	struct base b;
	uint64_t *root;

	base_make(&b);
	root = (uint64_t *)(b.e->st->npt[HL_HOSTVISOR] + PG);
	root[7] = (HL_RAM_BASE + 0x5000) | HL_DESC_TYPE_TABLE;   /* a "table" in RAM */
	EXPECT_VIOLATION(&b, "outside its pool");
}

Test(model_inv, a_corevisor_page_mapped_by_the_host)
{
	struct base b;

	base_make(&b);
	page(&b, th_pfn(5))->owner = HL_COREVISOR;
	page(&b, th_pfn(5))->count = 1;   /* "shared" would let the host map it: still KCore's */
	EXPECT_VIOLATION(&b, "host table maps pfn");
}

Test(model_inv, host_table_not_an_identity_map)
{
	struct base b;

	base_make(&b);
	poke_npt(&b, HL_HOSTVISOR, th_pfn(40) * PG, th_pfn(41) * PG | HL_PAGE_S2_KERNEL);
	EXPECT_VIOLATION(&b, "not an identity map");
}

Test(model_inv, a_host_page_with_a_wrong_gfn)
{
	struct base b;

	base_make(&b);
	page(&b, th_pfn(50))->gfn = 7;
	EXPECT_VIOLATION(&b, "not pfn + SMMU_HOST_OFFSET");
}

Test(model_inv, a_bank_owner_past_the_vms)
{
	struct base b;

	base_make(&b);
	b.e->st->smmu->owner[9] = HL_COREVISOR;
	EXPECT_VIOLATION(&b, "not below COREVISOR");
}

/* the incremental check (hl_model_inv_facts) on the model's own steps: an OMAP_VM event
 * that well-formed arguments allow, mapping KCore's memory or pfn 0 into a VM */
Test(model_inv, incremental_check_on_model_steps)
{
	struct base b;
	struct hl_model *m;
	struct hl_model_res res;
	char msg[256];

	base_make(&b);
	m = abstract_state(b.e->st);
	{
		struct hl_model_ev ev = { HL_EV_MAP_VM, { b.vm2, 0x500 * PG, HL_SPT_POOL_PA + 3 * PG, 3 }, 0, NULL, 0 };
		hl_model_facts_reset(m);
		cr_assert_eq(hl_model_step(m, &ev, &res), HL_OK);
		cr_expect_eq(hl_model_inv_facts(m, m->facts, m->nfacts, msg, sizeof(msg)), 1);
		cr_expect(strstr(msg, "KCore's table pool") != NULL, "%s", msg);
	}
	hl_model_free(m);
	m = abstract_state(b.e->st);
	{
		struct hl_model_ev ev = { HL_EV_MAP_VM, { b.vm2, 0x600 * PG, 0, 3 }, 0, NULL, 0 };
		hl_model_facts_reset(m);
		cr_assert_eq(hl_model_step(m, &ev, &res), HL_OK);
		cr_expect_eq(hl_model_inv_facts(m, m->facts, m->nfacts, msg, sizeof(msg)), 1);
		cr_expect(strstr(msg, "pfn 0 as Normal") != NULL, "%s", msg);
	}
	hl_model_free(m);
	/* a synced (straddling) change the step did not make: the fact's page is re-checked */
	m = abstract_state(b.e->st);
	{
		struct hl_images im;
		struct hl_fact f = { HL_F_S2P, 0, 0, 1, VPAGE };
		page(&b, VPAGE)->dma = 0;
		view(&im, b.e->st);
		hl_model_facts_reset(m);
		cr_assert_eq(hl_model_fact_sync(m, &im, &f), 0);
		cr_expect_eq(hl_model_inv_facts(m, &f, 1, msg, sizeof(msg)), 1);
		cr_expect(strstr(msg, "dma 0 but 1") != NULL, "%s", msg);
	}
	hl_model_free(m);
	hl_engine_free(b.e);
}

/* ===================================================================================== */
/* the model's steps: SPEC §12-§13                                                          */

static struct hl_model *fresh(void)
{
	struct hl_model *m = hl_model_new();
	struct hl_keyset ks = { 1, { { 0 } } };

	cr_assert_not_null(m);
	memcpy(ks.key[0], hl_testkey_pk, 32);
	hl_model_set_keys(m, &ks);
	return m;
}

static int step(struct hl_model *m, unsigned ev, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	struct hl_model_ev e = { ev, { a0, a1, a2, a3 }, 0, NULL, 0 };
	struct hl_model_res res;
	char msg[256];
	int rc = hl_model_step(m, &e, &res);

	cr_expect_eq(hl_model_inv_all(m, msg, sizeof(msg)), 0, "after event %u: %s", ev, msg);
	return rc;
}

static struct hl_mpage pg_of(struct hl_model *m, uint64_t pfn)
{
	return m->s2p[pfn - HL_RAM_BASE_PFN];
}

Test(model_step, smmu_rules)
{
	struct hl_model *m = fresh();
	uint64_t hp = th_pfn(3), vp = th_pfn(4);

	/* host bank: map once, the second map of the iova is refused; counts stay exact */
	cr_assert_eq(step(m, HL_EV_SMMU_ALLOC, 0, HL_HOSTVISOR, 0, 8), HL_OK);
	cr_assert_eq(step(m, HL_EV_SMMU_MAP, 0, 0, hp * PG, hp * PG | 3), HL_OK);
	cr_expect(pg_of(m, hp).count == 1 && pg_of(m, hp).dma == 1);
	cr_expect_eq(step(m, HL_EV_SMMU_MAP, 0, 0, hp * PG, hp * PG | 3), HL_E_DENIED);
	cr_expect(pg_of(m, hp).count == 1 && pg_of(m, hp).dma == 1);
	/* a host page the host's bank maps cannot go to a VM */
	cr_assert_eq(step(m, HL_EV_GEN_VMID, 0, 0, 0, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_REG_KVM, 1, 0x1000, 0, 0), HL_OK);
	cr_expect_eq(step(m, HL_EV_ASSIGN_VM, 1, 0x10, hp, 0), HL_HALT);   /* count != 0: the seed's halt */
	m->s2p[hp - HL_RAM_BASE_PFN].count = 0;                              /* were counts not exact ... */
	{
		struct hl_model_ev e = { HL_EV_ASSIGN_VM, { 1, 0x10, hp, 0 }, 0, NULL, 0 };
		struct hl_model_res res;
		cr_expect_eq(hl_model_step(m, &e, &res), HL_E_DENIED);      /* ... dma still refuses */
	}
	m->s2p[hp - HL_RAM_BASE_PFN].count = 1;
	cr_assert_eq(step(m, HL_EV_SMMU_CLEAR, hp * PG, 0, 0, 0), HL_OK);
	cr_expect(pg_of(m, hp).count == 0 && pg_of(m, hp).dma == 0);
	/* VM bank: the page keeps its owner while mapped, freeing the bank unmaps it */
	cr_assert_eq(step(m, HL_EV_SMMU_ALLOC, 1, 1, 0, 8), HL_OK);
	cr_assert_eq(step(m, HL_EV_ASSIGN_SMMU, 1, 0, vp, 0x20), HL_OK);
	cr_assert_eq(step(m, HL_EV_SMMU_MAP, 1, 0, 0x20 * PG, vp * PG | 3), HL_OK);
	cr_expect(pg_of(m, vp).owner == 1 && pg_of(m, vp).dma == 1 && pg_of(m, vp).count == HL_INVALID);
	cr_expect_eq(step(m, HL_EV_CLEAR_VM, 1, vp, 0, 0), HL_E_DENIED);
	cr_expect_eq(step(m, HL_EV_SMMU_FREE, 1, 0, 0, 0), HL_HALT);   /* VM not POWEROFF */
	m = (hl_model_free(m), fresh());
	cr_assert_eq(step(m, HL_EV_GEN_VMID, 0, 0, 0, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_REG_KVM, 1, 0x1000, 0, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_SMMU_ALLOC, 1, 1, 0, 8), HL_OK);
	cr_assert_eq(step(m, HL_EV_ASSIGN_SMMU, 1, 0, vp, 0x20), HL_OK);
	cr_assert_eq(step(m, HL_EV_SMMU_MAP, 1, 0, 0x20 * PG, vp * PG | 3), HL_OK);
	cr_assert_eq(step(m, HL_EV_VM_POWEROFF, 1, 0, 0, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_SMMU_FREE, 1, 0, 0, 0), HL_OK);
	cr_expect_eq(m->smmu_owner[1], HL_INVALID);
	cr_expect_eq(m->spt[1].pt.n, 0u);
	cr_expect_eq(pg_of(m, vp).dma, 0u);
	cr_expect_eq(step(m, HL_EV_CLEAR_VM, 1, vp, 0, 0), HL_OK);
	cr_expect(pg_of(m, vp).owner == HL_HOSTVISOR && pg_of(m, vp).count == 0);
	hl_model_free(m);
}

/* H13: a powered-off VM's page never goes back while one of its vCPUs is still in the
 * guest (another vCPU powered the VM off); the step locks and reads vminfo(vmid) first */
Test(model_step, clear_of_poweroff_vm_with_active_vcpu_denied)
{
	struct hl_model *m = fresh();
	uint64_t vp = th_pfn(5);
	struct hl_model_ev ev = { HL_EV_CLEAR_VM, { 1, vp, 0, 0 }, 0, NULL, 0 };
	struct hl_model_ev vf = { HL_EV_VERIFY, { 1, 0, 0, 0 }, 1, NULL, 0 };
	struct hl_model_res res;

	cr_assert_eq(step(m, HL_EV_GEN_VMID, 0, 0, 0, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_REG_KVM, 1, 0x1000, 0, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_REG_VCPU, 1, 0, 0x1000, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_ASSIGN_VM, 1, 0x10, vp, 0), HL_OK);
	cr_assert_eq(hl_model_step(m, &vf, &res), HL_OK);
	cr_assert_eq(m->info[1].state, HL_VM_VERIFIED);
	cr_assert_eq(step(m, HL_EV_VM_ACTIVE, 1, 0, 0, 0), HL_OK);
	/* not powered off: the seed/C rule (the trap layer clears only POWEROFF VMs) */
	cr_assert_eq(step(m, HL_EV_CLEAR_VM, 1, th_pfn(6), 0, 0), HL_OK);   /* not the VM's page */
	cr_assert_eq(step(m, HL_EV_VM_POWEROFF, 1, 0, 0, 0), HL_OK);
	cr_expect_eq(hl_model_step(m, &ev, &res), HL_E_DENIED);
	cr_expect(pg_of(m, vp).owner == 1 && pg_of(m, vp).gfn == 0x10, "a refused clear changed the page");
	cr_assert_geq(res.nlocks, 3);
	cr_expect_eq(res.locks[0], HL_INFO_OBJ(1), "vminfo(vmid) is OCLEAR_VM's first lock");
	cr_expect_eq(res.locks[1], HL_S2PAGE_ID);
	cr_expect_eq(res.locks[2], HL_NPT_OBJ(HL_HOSTVISOR));
	cr_assert_eq(step(m, HL_EV_VM_INACTIVE, 1, 0, 0, 0), HL_OK);
	cr_expect_eq(step(m, HL_EV_CLEAR_VM, 1, vp, 0, 0), HL_OK);
	cr_expect(pg_of(m, vp).owner == HL_HOSTVISOR && pg_of(m, vp).count == 0);
	hl_model_free(m);
}

Test(model_step, vm_entries_are_set_once)
{
	struct hl_model *m = fresh();
	uint64_t blk = HL_RAM_BASE_PFN + 512;

	cr_assert_eq(step(m, HL_EV_GEN_VMID, 0, 0, 0, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_REG_KVM, 1, 0x1000, 0, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_ASSIGN_VM, 1, 0x1000, th_pfn(1), 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_MAP_VM, 1, 0x1000 * PG, th_pfn(1) * PG, 3), HL_OK);
	cr_expect_eq(step(m, HL_EV_MAP_VM, 1, 0x1000 * PG, th_pfn(1) * PG, 3), HL_E_DENIED);   /* page over page */
	cr_expect_eq(step(m, HL_EV_MAP_VM, 1, 0x1000 * PG, blk * PG, 2), HL_E_DENIED);         /* block over a table */
	for (unsigned i = 0; i < 512; i++)
		cr_assert_eq(step(m, HL_EV_ASSIGN_VM, 1, 0x4000 + i, blk + i, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_MAP_VM, 1, 0x4000 * PG, blk * PG, 2), HL_OK);
	cr_expect_eq(step(m, HL_EV_MAP_VM, 1, 0x4000 * PG, blk * PG, 2), HL_E_DENIED);         /* block over block */
	cr_expect_eq(step(m, HL_EV_MAP_VM, 1, 0x4005 * PG, blk * PG, 3), HL_E_DENIED);         /* page in a block */
	/* OMAP_IO: never over RAM or inside a block; a device page over a device page stays */
	cr_expect_eq(step(m, HL_EV_MAP_IO, 1, 0x1000 * PG, 0x10000000ull, 0), HL_E_DENIED);
	cr_expect_eq(step(m, HL_EV_MAP_IO, 1, 0x4003 * PG, 0x10000000ull, 0), HL_E_DENIED);
	cr_expect_eq(step(m, HL_EV_MAP_IO, 1, 0x9000 * PG, 0x10000000ull, 0), HL_OK);
	cr_expect_eq(step(m, HL_EV_MAP_IO, 1, 0x9000 * PG, 0x10001000ull, 0), HL_OK);
	cr_expect_eq(hl_hmap_get(&m->npt[1].pt, 0x9000)->pfn, 0x10001u);
	hl_model_free(m);
}

/* ===================================================================================== */
/* OVERIFY's verdict, recomputed                                                             */

#define IMG_BYTES 8192u
#define IMG_PFN (HL_RAM_BASE_PFN + 1536)

static void image_bytes(uint8_t *img, uint8_t salt)
{
	for (unsigned i = 0; i < IMG_BYTES; i++)
		img[i] = (uint8_t)(i * 13 + salt);
}

/* a model with VM 1 READY, one image (signature `sig`) remapped from frames `pfn0`, `pfn1` */
static struct hl_model *ready_vm(const uint8_t sig[64], uint64_t pfn0, uint64_t pfn1)
{
	struct hl_model *m = fresh();
	struct hl_model_ev ev = { HL_EV_BOOT_INFO, { 1, 0x80000000ull, IMG_BYTES, 0 }, 0, sig, 64 };
	struct hl_model_res res;

	cr_assert_eq(step(m, HL_EV_GEN_VMID, 0, 0, 0, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_REG_KVM, 1, 0x1000, 0, 0), HL_OK);
	cr_assert_eq(hl_model_step(m, &ev, &res), HL_OK);
	cr_assert_eq(step(m, HL_EV_REMAP_IMAGE, 1, pfn0, 0, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_REMAP_IMAGE, 1, pfn1, 0, 0), HL_OK);
	return m;
}

static int verify(struct hl_model *m, const uint8_t *digests, uint32_t n, uint64_t dorc, struct hl_model_res *res)
{
	struct hl_model_ev ev = { HL_EV_VERIFY, { 1, 0, 0, 0 }, dorc, digests, n };
	return hl_model_step(m, &ev, res);
}

Test(model_verdict, recomputed_from_digests_signatures_and_keys)
{
	uint8_t img[IMG_BYTES], other[IMG_BYTES], sig[64], badsig[64], digest[32], odigest[32];
	uint8_t pk2[32], sk2[64], sig2[64];
	struct hl_model_res res;
	struct hl_model *m;
	uint8_t pk[32], sk[64];

	cr_assert_geq(sodium_init(), 0);
	cr_assert_eq(hl_testkey_keypair(pk, sk), 0);
	image_bytes(img, 1);
	image_bytes(other, 2);
	cr_assert_eq(hl_image_sign(sig, img, IMG_BYTES, sk), 0);
	cr_assert_eq(hl_image_sign(badsig, other, IMG_BYTES, sk), 0);
	cr_assert_eq(hl_image_digest(digest, img, IMG_BYTES), 0);
	cr_assert_eq(hl_image_digest(odigest, other, IMG_BYTES), 0);
	crypto_sign_keypair(pk2, sk2);
	cr_assert_eq(hl_image_sign(sig2, img, IMG_BYTES, sk2), 0);

	/* honest: verified, and the record says so */
	m = ready_vm(sig, IMG_PFN, IMG_PFN + 1);
	cr_assert_eq(verify(m, digest, 32, 1, &res), HL_OK);
	cr_expect(res.verdict == 1 && !res.dorc_mismatch);
	cr_expect_eq(m->info[1].state, HL_VM_VERIFIED);
	hl_model_free(m);

	/* forged: dorc says verified, the signature is over other bytes */
	m = ready_vm(badsig, IMG_PFN, IMG_PFN + 1);
	cr_assert_eq(verify(m, digest, 32, 1, &res), HL_OK);
	cr_expect(res.verdict == 0 && res.dorc_mismatch);
	cr_expect_eq(m->info[1].state, HL_VM_READY);
	hl_model_free(m);

	/* forged the other way: dorc says not verified, the signature is good */
	m = ready_vm(sig, IMG_PFN, IMG_PFN + 1);
	cr_assert_eq(verify(m, digest, 32, 0, &res), HL_OK);
	cr_expect(res.verdict == 1 && res.dorc_mismatch);
	cr_expect_eq(m->info[1].state, HL_VM_VERIFIED);
	hl_model_free(m);

	/* the digest in the record is not the signed one */
	m = ready_vm(sig, IMG_PFN, IMG_PFN + 1);
	cr_assert_eq(verify(m, odigest, 32, 1, &res), HL_OK);
	cr_expect(res.verdict == 0 && res.dorc_mismatch);
	hl_model_free(m);

	/* signed with a key KCore does not hold */
	m = ready_vm(sig2, IMG_PFN, IMG_PFN + 1);
	cr_assert_eq(verify(m, digest, 32, 1, &res), HL_OK);
	cr_expect(res.verdict == 0 && res.dorc_mismatch);
	hl_model_free(m);

	/* no digest in the record */
	m = ready_vm(sig, IMG_PFN, IMG_PFN + 1);
	cr_assert_eq(verify(m, digest, 16, 1, &res), HL_OK);
	cr_expect(res.verdict == 0);
	hl_model_free(m);

	/* frames that are not one 2 MiB-aligned run: not loadable, so not verified */
	m = ready_vm(sig, IMG_PFN, IMG_PFN + 5);
	cr_assert_eq(verify(m, digest, 32, 1, &res), HL_OK);
	cr_expect(res.verdict == 0 && res.dorc_mismatch);
	hl_model_free(m);
	m = ready_vm(sig, IMG_PFN + 1, IMG_PFN + 2);
	cr_assert_eq(verify(m, digest, 32, 1, &res), HL_OK);
	cr_expect_eq(res.verdict, 0);
	hl_model_free(m);

	/* the load steps before OVERIFY mapped this very block: still loadable */
	m = ready_vm(sig, IMG_PFN, IMG_PFN + 1);
	for (unsigned i = 0; i < 512; i++)
		cr_assert_eq(step(m, HL_EV_ASSIGN_VM, 1, 0x80000000ull / PG + i, IMG_PFN + i, 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_MAP_VM, 1, 0x80000000ull, IMG_PFN * PG, 2), HL_OK);
	cr_assert_eq(verify(m, digest, 32, 1, &res), HL_OK);
	cr_expect(res.verdict == 1 && !res.dorc_mismatch);
	hl_model_free(m);
	/* something else in the image's 2 MiB slot of the VM's table: nothing can load */
	m = ready_vm(sig, IMG_PFN, IMG_PFN + 1);
	cr_assert_eq(step(m, HL_EV_ASSIGN_VM, 1, 0x80000000ull / PG + 5, th_pfn(3), 0), HL_OK);
	cr_assert_eq(step(m, HL_EV_MAP_VM, 1, 0x80000000ull + 5 * PG, th_pfn(3) * PG, 3), HL_OK);
	cr_assert_eq(verify(m, digest, 32, 1, &res), HL_OK);
	cr_expect(res.verdict == 0 && res.dorc_mismatch);
	hl_model_free(m);

	/* without KCore's keys nothing verifies */
	m = ready_vm(sig, IMG_PFN, IMG_PFN + 1);
	hl_model_set_keys(m, NULL);
	cr_assert_eq(verify(m, digest, 32, 1, &res), HL_OK);
	cr_expect_eq(res.verdict, 0);
	hl_model_free(m);
}

/* the engine's own OVERIFY record (blob = its digests) replayed on the model */
Test(model_verdict, engine_record)
{
	struct hl_engine *e = th_engine(1);
	uint8_t buf[HL_REC_MAX];
	const struct hl_rec *r;
	struct hl_model *m;
	struct hl_model_res res;
	struct hl_keyset ks = { 0 };
	uint8_t blob[HL_BLOB_MAX];
	uint32_t vmid;

	cr_assert_not_null(e);
	vmid = th_boot_vm(e, 0, VM_BLOCK, 0x80000000ull);
	cr_assert_neq(vmid, 0u);
	r = th_last_rec(e, HL_INFO_OBJ(vmid), buf, sizeof(buf));
	cr_assert(r && r->event == HL_EV_VERIFY && r->dorc == 1);
	cr_assert(r->blob_len >= 32 && r->blob_len <= HL_BLOB_MAX);
	ks.nkeys = e->cfg.nkeys;
	memcpy(ks.key, e->cfg.kcore_keys, sizeof(ks.key));
	memcpy(blob, hl_rec_blob(r), r->blob_len);
	for (int forge = 0; forge < 2; forge++) {
		struct hl_model_ev ev = { r->event, { r->arg[0], r->arg[1], r->arg[2], r->arg[3] }, r->dorc, blob,
					  r->blob_len };
		m = abstract_state(e->st);
		hl_model_set_keys(m, &ks);
		m->info[vmid].state = HL_VM_READY;   /* the state OVERIFY ran on */
		if (forge)
			blob[5] ^= 0x40;             /* a digest the signature does not cover */
		cr_assert_eq(hl_model_step(m, &ev, &res), HL_OK);
		cr_expect_eq(res.verdict, forge ? 0 : 1);
		cr_expect_eq(res.dorc_mismatch, forge == 1);
		hl_model_free(m);
	}
	hl_engine_free(e);
}

/* issue 11: with npt(host) in shards the seq-0 host table has the RAM tables preallocated
 * (DESIGN2.md H-npt rule 1): the model builds the same bytes on its own, and a file that
 * refines npt(host) is compared against them; any other byte is reported */
Test(model, init_with_npt_host_preallocated)
{
	struct hl_state *st = hl_state_new(false);
	struct hl_model_init_opts o = { 0, { 0 }, { 0 }, true };
	struct hl_model_diff d;
	struct hl_images im;
	uint8_t *host;
	const struct hl_pt_meta *mt;

	cr_assert_not_null(st);
	cr_assert(hl_npth_fits());
	host = st->img[HL_NPT_OBJ(HL_HOSTVISOR)].base;
	view(&im, st);
	/* SPEC's empty pool is not the preallocated one, and the other way round */
	cr_expect_eq(hl_model_init_cmp_opts(&im, &o, &d), 1);
	cr_expect(strstr(d.where, "preallocated"), "%s", d.where);
	hl_npth_prealloc(host);   /* the engine's own allocator */
	mt = (const struct hl_pt_meta *)host;
	cr_expect_gt(mt->pmd_next, mt->pmd_start, "the RAM tables took pmd pages");
	cr_expect_eq(hl_model_init_cmp_opts(&im, &o, &d), 0, "%s: spec %s, image %s", d.where, d.a, d.b);
	cr_expect_eq(hl_model_init_cmp(&im, &d), 1, "without the refinement the pool must be empty");
	/* a leaf in a preallocated table, a changed link, a bump pointer */
	host[mt->pmd_start + 5 * 8] = 1;
	cr_expect_eq(hl_model_init_cmp_opts(&im, &o, &d), 1);
	host[mt->pmd_start + 5 * 8] = 0;
	((uint64_t *)(host + HL_PAGE_SIZE))[0] ^= HL_PAGE_SIZE;
	cr_expect_eq(hl_model_init_cmp_opts(&im, &o, &d), 1);
	((uint64_t *)(host + HL_PAGE_SIZE))[0] ^= HL_PAGE_SIZE;
	((struct hl_pt_meta *)host)->pmd_next += HL_PAGE_SIZE;
	cr_expect_eq(hl_model_init_cmp_opts(&im, &o, &d), 1);
	((struct hl_pt_meta *)host)->pmd_next -= HL_PAGE_SIZE;
	cr_expect_eq(hl_model_init_cmp_opts(&im, &o, &d), 0, "%s", d.where);
	hl_state_free(st);
}

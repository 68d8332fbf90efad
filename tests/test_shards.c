/*
 * test_shards.c - the s2page shard refinement (issue 11, DESIGN2.md): routing of writes to
 * shards (split at a border), one shard = SPEC's layout, the extended lock order, halts
 * that strand shards, Cal<Obj> / CalStateH over a multi-shard run, and two CPUs faulting
 * pages of different shards without contending (lock profile counters).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "hl_access.h"
#include "hl_replay.h"
#include "hl_step.h"
#include "hl_trans.h"

#define PG HL_PAGE_SIZE
#define SP HL_S2P_SHARD_PAGES_SCALE   /* 512 pages per shard */

static const uint64_t FLAT = offsetof(struct hl_s2page_obj, flatmem);

/* a state whose map has s2page in `pages`-page shards */
static struct hl_state *sharded_state(struct hl_refine *r, uint64_t pages)
{
	struct hl_state *st = hl_state_new(false);
	cr_assert_not_null(st);
	hl_refine_init(r);
	cr_assert_eq(hl_refine_s2page(r, pages), 0);
	cr_assert_eq(hl_refine_finish(r), 0);
	st->ref = r;
	return st;
}

static const struct hl_delta *stage_delta0(const struct hl_stage *s)
{
	return (const struct hl_delta *)s->buf;
}

Test(shards, map_of_s2page_tiles_the_image)
{
	struct hl_refine r;
	uint64_t n = (HL_RAM_PAGES + SP - 1) / SP, local, span;

	hl_refine_init(&r);
	cr_assert_eq(hl_refine_s2page(&r, SP), 0);
	cr_assert_eq(hl_refine_finish(&r), 0);
	cr_assert_eq(r.nshards, n);
	cr_assert(hl_refine_sharded(&r, HL_S2PAGE_ID));
	cr_assert_not(r.parent[HL_S2PAGE_ID].residual);
	for (unsigned k = 0; k < n; k++) {
		cr_assert(hl_refine_is_shard(&r, HL_S2P_SHARD(k)));
		cr_assert_eq(hl_refine_obj_size(&r, HL_S2P_SHARD(k)), SP * (sizeof(struct hl_s2page) + 8));
		/* its first entry and its first digest */
		cr_assert_eq(hl_refine_route(&r, HL_S2PAGE_ID, k * SP * sizeof(struct hl_s2page), &local, &span),
			     HL_S2P_SHARD(k));
		cr_assert_eq(local, 0);
		cr_assert_eq(span, SP * sizeof(struct hl_s2page));
		cr_assert_eq(hl_refine_route(&r, HL_S2PAGE_ID, FLAT + k * SP * 8, &local, &span), HL_S2P_SHARD(k));
		cr_assert_eq(local, SP * sizeof(struct hl_s2page));
		cr_assert_eq(hl_refine_s2p_obj(&r, HL_RAM_BASE_PFN + k * SP + SP - 1), HL_S2P_SHARD(k));
	}
	cr_assert_not(hl_refine_is_shard(&r, HL_S2P_SHARD(n)));
	cr_assert_eq(hl_refine_route(&r, HL_S2PAGE_ID, hl_obj_image_size(HL_S2PAGE_ID), &local, &span), HL_INVALID);
	/* pfns outside RAM read a constant entry: the first / last shard stands for them */
	cr_assert_eq(hl_refine_s2p_obj(&r, 5), HL_S2P_SHARD(0));
	cr_assert_eq(hl_refine_s2p_obj(&r, HL_RAM_BASE_PFN + HL_RAM_PAGES + 99), HL_S2P_SHARD(n - 1));
	/* too many shards: the size is raised to fit HL_S2P_MAX_SHARDS */
	cr_assert_geq(hl_refine_s2page_pages(1) * HL_S2P_MAX_SHARDS, HL_RAM_PAGES);
	cr_assert_eq(hl_refine_s2page_pages(HL_RAM_PAGES), 0, ">= RAM pages: one object");
	cr_assert_eq(hl_refine_s2page_pages(0), 0);
	/* a map with a byte owned twice, or a gap in a fully sharded object, is refused */
	{
		struct hl_refine bad;
		struct hl_range a = { 0, 48 }, b = { 24, 48 };
		hl_refine_init(&bad);
		cr_assert_eq(hl_refine_add_shard(&bad, HL_S2P_SHARD(0), HL_S2PAGE_ID, &a, 1, false), 0);
		cr_assert_eq(hl_refine_add_shard(&bad, HL_S2P_SHARD(1), HL_S2PAGE_ID, &b, 1, false), 0);
		cr_assert_neq(hl_refine_finish(&bad), 0, "overlap");
		hl_refine_init(&bad);
		cr_assert_eq(hl_refine_add_shard(&bad, HL_S2P_SHARD(0), HL_S2PAGE_ID, &a, 1, false), 0);
		cr_assert_neq(hl_refine_finish(&bad), 0, "gap");
		cr_assert_neq(hl_refine_add_shard(&bad, HL_S2P_SHARD(0), HL_SPT_ID, &a, 1, false), 0,
			      "a shard ID of another class");
	}
}

/* a write over a shard border is split in two deltas, one per shard, at shard-local offsets */
Test(shards, write_at_a_border_splits)
{
	struct hl_refine r;
	struct hl_state *st = sharded_state(&r, SP), *copy = hl_state_new(false);
	struct hl_stage *stages = calloc(HL_MAX_STAGES, sizeof(*stages));
	struct hl_wctx w;
	struct hl_s2page two[2] = { { 7, 1, 0x111, 0, 0 }, { 8, 2, 0x222, 0, 0 } };
	uint64_t digests[2] = { 0xAAAA, 0xBBBB };

	cr_assert_not_null(copy);
	copy->ref = &r;
	hl_wctx_init(&w, st, stages, true);
	/* pages SP-1 and SP: the last entry of shard 0 and the first of shard 1 */
	hl_wr(&w, HL_S2PAGE_ID, &st->s2p->page[SP - 1], two, sizeof(two));
	hl_wr(&w, HL_S2PAGE_ID, &st->s2p->flatmem[SP - 1], digests, sizeof(digests));
	cr_assert_eq(w.nstages, 2);
	cr_assert_eq(w.touched, 2);
	cr_assert_eq(stages[0].obj, HL_S2P_SHARD(0));
	cr_assert_eq(stages[1].obj, HL_S2P_SHARD(1));
	cr_assert_eq(stages[0].ndelta, 2);
	cr_assert_eq(stages[1].ndelta, 2);
	cr_assert_eq(stage_delta0(&stages[0])->off, (SP - 1) * sizeof(struct hl_s2page));
	cr_assert_eq(stage_delta0(&stages[0])->len, sizeof(struct hl_s2page));
	cr_assert_eq(stage_delta0(&stages[1])->off, 0);
	cr_assert_eq(stage_delta0(&stages[1])->len, sizeof(struct hl_s2page));
	/* the live image is the abstract one: written in place */
	cr_assert_eq(st->s2p->page[SP].owner, 8);
	cr_assert_eq(st->s2p->flatmem[SP - 1], 0xAAAA);

	/* Cal<shard>: the staged deltas, as records, rebuild the abstract image */
	for (unsigned k = 0; k < 2; k++) {
		uint64_t buf[HL_REC_MAX / 8] = { 0 };
		struct hl_rec *rec = (struct hl_rec *)buf;
		rec->obj = stages[k].obj;
		rec->ndelta = stages[k].ndelta;
		memcpy(rec + 1, stages[k].buf, stages[k].used);
		rec->len = (uint32_t)(sizeof(*rec) + stages[k].used);
		cr_assert_eq(hl_state_apply(copy, stages[k].obj, rec), 0);
	}
	cr_assert_eq(memcmp(copy->s2p, st->s2p, sizeof(*st->s2p)), 0);
	/* gather / scatter: a shard's image is its ranges, concatenated */
	{
		size_t n = hl_refine_obj_size(&r, HL_S2P_SHARD(1));
		uint8_t *img = malloc(n);
		hl_state_obj_gather(st, HL_S2P_SHARD(1), img);
		cr_assert_eq(((struct hl_s2page *)img)[0].gfn, 0x222);
		cr_assert_eq(((uint64_t *)(img + SP * sizeof(struct hl_s2page)))[0], 0xBBBB);
		memset(copy->s2p, 0, sizeof(*copy->s2p));
		hl_state_obj_scatter(copy, HL_S2P_SHARD(1), img);
		cr_assert_eq(copy->s2p->page[SP].gfn, 0x222);
		cr_assert_eq(copy->s2p->flatmem[SP], 0xBBBB);
		cr_assert_eq(copy->s2p->page[SP - 1].gfn, 0, "scatter writes only the shard's ranges");
		free(img);
	}
	free(stages);
	hl_state_free(st);
	hl_state_free(copy);
}

/* the same workload on one s2page object and on 512-page shards: the same abstract state;
 * the sharded run logs nothing on s2page itself, and a single-page step one record */
static void workload(struct hl_engine *e, uint32_t vm)
{
	for (unsigned i = 0; i < 8; i++) {
		uint64_t pfn = th_pfn(i * 300 + 5);   /* shards 0 .. 4 */
		cr_assert_eq(hl_map_host(e, (int)(i % 2), hl_pa(pfn * PG)), HL_OK);
		cr_assert_eq(hl_assign_pfn_to_vm(e, (int)(i % 2), vm, 0x100 + i, pfn), HL_OK);
		cr_assert_eq(hl_grant_vm_page(e, 0, vm, pfn), HL_OK);
		cr_assert_eq(hl_revoke_vm_page(e, 1, vm, pfn), HL_OK);
	}
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, th_pfn(3000), 0x4000), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 1, 0, 0, hl_iova(0x4000 * PG), th_pfn(3000) * PG | HL_PAGE_S2_KERNEL), HL_OK);
	cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(0x4000 * PG), 0, 0), HL_OK);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, vm), HL_OK);
	cr_assert_eq(hl_smmu_free_pgd(e, 1, 0, 0), HL_OK);
	for (unsigned i = 0; i < 8; i++)
		cr_assert_eq(hl_clear_vm_page(e, 0, vm, th_pfn(i * 300 + 5)), HL_OK);
}

Test(shards, one_shard_is_specs_layout_and_many_reach_the_same_state)
{
	struct hl_engine *one = th_engine_sharded(2, HL_RAM_PAGES), *none = th_engine(2);
	struct hl_engine *many = th_engine_sharded(2, SP);
	uint32_t v1, v2, v3;
	size_t off;
	uint64_t shard_recs = 0;

	cr_assert(one && none && many);
	cr_assert_eq(one->ref.nshards, 0, "a shard of all RAM pages is SPEC's one object");
	cr_assert_eq(one->cfg.s2page_shard_pages, 0);
	cr_assert_eq(many->ref.nshards, (HL_RAM_PAGES + SP - 1) / SP);
	v1 = th_new_vm(one, 0);
	v2 = th_new_vm(none, 0);
	v3 = th_new_vm(many, 0);
	workload(one, v1);
	workload(none, v2);
	workload(many, v3);
	cr_assert_eq(hl_state_first_diff(one->st, none->st, &off), -1);
	cr_assert_eq(hl_state_first_diff(many->st, none->st, &off), -1, "differs at byte %zu", off);
	cr_assert_eq(th_nrecs(one, HL_S2PAGE_ID), th_nrecs(none, HL_S2PAGE_ID));
	cr_assert_gt(th_nrecs(none, HL_S2PAGE_ID), 0);
	cr_assert_eq(th_nrecs(many, HL_S2PAGE_ID), 0, "a fully sharded object is never logged itself");
	for (unsigned k = 0; k < many->ref.nshards; k++)
		shard_recs += th_nrecs(many, HL_S2P_SHARD(k));
	/* every s2page record of the one-object run is one shard record here (the steps of this
	 * workload write one page each, bank clears included) */
	cr_assert_eq(shard_recs, th_nrecs(none, HL_S2PAGE_ID));
	for (unsigned k = 0; k < 5; k++)
		cr_assert_gt(th_nrecs(many, HL_S2P_SHARD(k)), 0, "shard %u", k);
	cr_assert_eq(th_replay_matches(one), 0);
	cr_assert_eq(th_replay_matches(many), 0);
	hl_engine_free(one);
	hl_engine_free(none);
	hl_engine_free(many);
}

Test(shards, lock_order_places_shards_at_their_object)
{
	unsigned core = hl_lock_order_key(HL_CORE_ID), spt = hl_lock_order_key(HL_SPT_ID);

	for (unsigned k = 0; k + 1 < HL_S2P_MAX_SHARDS; k++) {
		cr_assert_lt(core, hl_lock_order_key(HL_S2P_SHARD(k)));
		cr_assert_lt(hl_lock_order_key(HL_S2PAGE_ID), hl_lock_order_key(HL_S2P_SHARD(k)));
		cr_assert_lt(hl_lock_order_key(HL_S2P_SHARD(k)), hl_lock_order_key(HL_S2P_SHARD(k + 1)));
		cr_assert_lt(hl_lock_order_key(HL_S2P_SHARD(k + 1)), spt);
	}
	for (unsigned j = 0; j + 1 < HL_NPTH_MAX_SHARDS; j++) {
		cr_assert_lt(hl_lock_order_key(HL_NPT_OBJ(0)), hl_lock_order_key(HL_NPTH_SHARD(j)));
		cr_assert_lt(hl_lock_order_key(HL_NPTH_SHARD(j)), hl_lock_order_key(HL_NPTH_SHARD(j + 1)));
		cr_assert_lt(hl_lock_order_key(HL_NPTH_SHARD(j + 1)), hl_lock_order_key(HL_NPT_OBJ(1)));
	}
	for (unsigned i = 0; i < HL_MAX_VM; i++)
		cr_assert_lt(hl_lock_order_key(HL_INFO_OBJ(i)), hl_lock_order_key(HL_S2P_SHARD(0)));
	char b[32];
	cr_assert_str_eq(hl_obj_name(HL_S2P_SHARD(3), b, sizeof(b)), "s2page[3]");
	cr_assert_str_eq(hl_obj_name(HL_NPTH_SHARD(2), b, sizeof(b)), "npt(0)[2]");
}

/* run fn in a child; true if it died of SIGABRT (the debug lock-order / invariant aborts) */
static bool aborts(void (*fn)(void))
{
	int st = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		fn();
		_exit(0);
	}
	cr_assert_gt(pid, 0);
	waitpid(pid, &st, 0);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void lock_shards(unsigned a, unsigned b)
{
	struct hl_engine *e = th_engine_sharded(1, SP);
	struct hl_step s;
	if (!e || hl_step_begin(&s, e, 0, HL_EV_GRANT) || hl_step_lock(&s, a) || hl_step_lock(&s, b))
		_exit(4);
	hl_step_end(&s, HL_OK);
	hl_engine_free(e);
}
static void descending(void) { lock_shards(HL_S2P_SHARD(3), HL_S2P_SHARD(1)); }
static void ascending(void) { lock_shards(HL_S2P_SHARD(1), HL_S2P_SHARD(3)); }
static void shard_after_npt(void) { lock_shards(HL_NPT_OBJ(0), HL_S2P_SHARD(0)); }
static void whole_s2page(void) { lock_shards(HL_CORE_ID, HL_S2PAGE_ID); }
static void write_unheld_shard(void)
{
	struct hl_engine *e = th_engine_sharded(1, SP);
	struct hl_step s;
	struct hl_s2page p = { 0, 0, 0, 0, 0 };
	if (!e || hl_step_begin(&s, e, 0, HL_EV_GRANT) || hl_step_lock(&s, HL_S2P_SHARD(0)))
		_exit(4);
	/* page SP is shard 1's: the write context's held check names it */
	hl_wr(&s.w, HL_S2PAGE_ID, &e->st->s2p->page[SP], &p, 16);
	_exit(0);
}

Test(shards, lock_order_with_shards_is_checked)
{
	cr_assert_not(aborts(ascending), "shards in ascending order");
	cr_assert(aborts(descending), "s2page[3] then s2page[1]");
	cr_assert(aborts(shard_after_npt), "an s2page shard after npt(host)");
	cr_assert(aborts(whole_s2page), "a fully sharded s2page is locked through its shards only");
#ifndef NDEBUG
	cr_assert(aborts(write_unheld_shard), "a write routed to a shard the step does not hold");
#endif
}

/* OMAP_HOST of a VM's page halts holding s2page: with shards, that page's shard is stranded
 * (the others are not), and its record says so */
Test(shards, halt_strands_the_held_shard)
{
	struct hl_engine *e = th_engine_sharded(3, SP);
	uint32_t vm = th_new_vm(e, 0);
	uint64_t pfn = th_pfn(2 * SP + 1);
	struct hl_s2page p;
	uint8_t buf[HL_REC_MAX];
	const struct hl_rec *r;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x100, pfn), HL_OK);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(pfn * PG)), HL_HALT);
	cr_assert(hl_lock_is_stranded(&e->locks[HL_S2P_SHARD(2)]));
	cr_assert_not(hl_lock_is_stranded(&e->locks[HL_S2P_SHARD(1)]));
	cr_assert_not(hl_lock_is_stranded(&e->locks[HL_NPT_OBJ(0)]));
	r = th_last_rec(e, HL_S2P_SHARD(2), buf, sizeof(buf));
	cr_assert_not_null(r);
	cr_assert_eq(r->result, HL_RES_HALT);
	cr_assert(r->flags & HL_RF_STRANDED);
	/* a page of another shard is still served; one of the stranded shard is not */
	cr_assert_eq(hl_map_host(e, 2, hl_pa(th_pfn(SP + 3) * PG)), HL_OK);
	cr_assert_eq(hl_page_get(e, 2, pfn + 1, &p), HL_E_STRANDED);
	cr_assert_eq(hl_page_get(e, 2, pfn + SP, &p), HL_OK);
	cr_assert_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/* a step whose pages span two shards (a level-2 answer over a shard border: 768-page
 * shards) takes both, in order; replay re-executes it */
Test(shards, level2_answer_over_a_border_takes_both_shards)
{
	struct hl_engine *e = th_engine_sharded(2, 768);
	uint32_t vm = th_new_vm(e, 0);
	uint64_t pfn = th_pfn(512);   /* pages 512 .. 1023: shards 0 and 1 */

	cr_assert_eq(e->cfg.s2page_shard_pages, 768);
	cr_assert_eq(hl_vm_fault_answer(e, 1, vm, 0x40000000ull, pfn * PG, 2), HL_OK);
	for (unsigned i = 0; i < 512; i++)
		cr_assert_eq(hl_s2page_get(e->st, pfn + i).owner, vm);
	cr_assert_eq(th_nrecs(e, HL_S2P_SHARD(0)), 256);
	cr_assert_eq(th_nrecs(e, HL_S2P_SHARD(1)), 256);
	cr_assert_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/* random concurrent runs (halts, bad input, SMMU bank frees that take every shard) with
 * checkpoints: Cal<Obj> and CalStateH rebuild the live state from the shard logs */
Test(shards, replay_of_a_multi_shard_run, .timeout = 120)
{
	for (unsigned chaos = 0; chaos <= 5; chaos += 5) {
		struct th_run_cfg rc = { .ncpus = 2, .ops = 3000, .seed = 11 + chaos, .lock = HL_LOCK_TICKET,
					 .ckpt_every = 64, .chaos = chaos, .s2p_shard_pages = SP };
		uint64_t steps = 0, recs = 0;
		struct hl_engine *e = th_random_run(&rc, &steps);
		unsigned used = 0;
		cr_assert_not_null(e);
		for (unsigned k = 0; k < e->ref.nshards; k++) {
			uint64_t n = e->logs[HL_S2P_SHARD(k)].records_total;
			used += n > 0;
			recs += n;
		}
		cr_assert_geq(used, 2, "the run wrote %u shards", used);
		cr_assert_eq(e->logs[HL_S2PAGE_ID].records_total, 0);
		cr_assert_gt(recs, 0);
		cr_assert_eq(th_replay_matches(e), 0, "chaos %u", chaos);
		hl_engine_free(e);
	}
}

/* two CPUs fault pages of different shards: each shard lock is taken by one CPU only, so
 * none is ever contended (the profile counts every acquisition) */
struct fault_ctx {
	struct hl_engine *e;
	int cpu;
	uint64_t first;
	unsigned n, rounds;
	int rc;
};

static void *faulter(void *arg)
{
	struct fault_ctx *c = arg;
	for (unsigned r = 0; r < c->rounds && !c->rc; r++)
		for (unsigned i = 0; i < c->n && !c->rc; i++) {
			struct hl_s2page p;
			int rc = hl_map_host(c->e, c->cpu, hl_pa((c->first + i) * PG));
			if (rc == HL_OK)
				rc = hl_page_get(c->e, c->cpu, c->first + i, &p);
			c->rc = rc;
		}
	return NULL;
}

Test(shards, faults_in_different_shards_do_not_contend, .timeout = 60)
{
	struct hl_engine *e = th_engine_sharded(2, SP);
	struct fault_ctx c[2] = { { e, 0, th_pfn(1 * SP), 64, 200, 0 }, { e, 1, th_pfn(5 * SP), 64, 200, 0 } };
	pthread_t th[2];
	struct hl_lock_stats a, b, other;

	for (unsigned i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, faulter, &c[i]);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(c[0].rc, HL_OK);
	cr_assert_eq(c[1].rc, HL_OK);
	hl_lock_stats(&e->locks[HL_S2P_SHARD(1)], &a);
	hl_lock_stats(&e->locks[HL_S2P_SHARD(5)], &b);
	hl_lock_stats(&e->locks[HL_S2P_SHARD(3)], &other);
	cr_assert_eq(a.acquisitions, 2u * 64 * 200);
	cr_assert_eq(b.acquisitions, 2u * 64 * 200);
	cr_assert_eq(a.contended, 0);
	cr_assert_eq(b.contended, 0);
	cr_assert_eq(a.wait_ns + b.wait_ns, 0);
	cr_assert_eq(other.acquisitions, 0);
	hl_lock_stats(&e->locks[HL_S2PAGE_ID], &other);
	cr_assert_eq(other.acquisitions, 0, "s2page itself is never locked");
	cr_assert_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/* the trap layer's locked memory copies (hl_access.c) lock the shards of the pages they
 * copy, ascending: a copy over a shard border takes both (it used to take s2page itself,
 * which a sharded engine refuses) */
Test(shards, memory_copy_over_a_border_takes_both_shards)
{
	struct hl_engine *e = th_engine_sharded(2, SP);
	uint32_t vm = th_new_vm(e, 0);
	uint8_t buf[2 * PG + 200] = { 0 };
	struct hl_lock_stats a, b;
	uint64_t pa = th_pfn(SP - 1) * PG + 100;

	memset(buf, 0x5A, sizeof(buf));
	cr_assert_eq(hl_host_mem_write(e, 0, hl_pa(pa), buf, sizeof(buf)), HL_OK);
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(hl_host_mem_read(e, 1, hl_pa(pa), buf, sizeof(buf)), HL_OK);
	cr_assert_eq(buf[0], 0x5A);
	cr_assert_eq(buf[sizeof(buf) - 1], 0x5A);
	hl_lock_stats(&e->locks[HL_S2P_SHARD(0)], &a);
	hl_lock_stats(&e->locks[HL_S2P_SHARD(1)], &b);
	cr_assert_eq(a.acquisitions, 2);
	cr_assert_eq(b.acquisitions, 2);
	/* a VM's page inside the range: refused, nothing copied */
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x100, th_pfn(SP)), HL_OK);
	cr_assert_eq(hl_host_mem_read(e, 1, hl_pa(pa), buf, sizeof(buf)), HL_E_INVAL);
	cr_assert_eq(hl_vm_mem_access(e, 0, vm, hl_pa(th_pfn(SP) * PG), buf, 64, false), HL_OK);
	cr_assert_eq(hl_engine_nheld(e, 0) + hl_engine_nheld(e, 1), 0);
	hl_engine_free(e);
}

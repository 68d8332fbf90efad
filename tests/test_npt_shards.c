/*
 * test_npt_shards.c - the host stage-2 table npt(HOSTVISOR) in shards (issue 11,
 * /work/coord/DESIGN2.md "npt(host) shards", engine/hl_pgtable.h).
 *
 * With cfg.npt_host_shard_mib != 0 the host table's seq-0 image has every RAM table
 * preallocated (the tables SPEC's local_mmap_h would allocate, no leaf), the L3 tables of
 * RAM form shards with their own lock and log, and a host fault or unmap in RAM locks and
 * writes only the shard of its IPA; MMIO and everything allocated later stay the residual
 * npt(HOSTVISOR). 0 is SPEC's layout (one object); a span >= RAM is one shard.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "hl_pgtable.h"
#include "hl_step.h"
#include "hl_testkey.h"
#include "hosted.h"

#define PG HL_PAGE_SIZE
#define HOST HL_NPT_OBJ(HL_HOSTVISOR)
#define SPAN_MIB 4u               /* 2 L3 tables per shard at the default 64 MiB RAM */

static struct hl_engine *eng(unsigned ncpus, uint64_t npt_mib, uint64_t s2p_pages)
{
	struct hl_engine *e = th_engine_shards(ncpus, s2p_pages, npt_mib);

	cr_assert_not_null(e);
	return e;
}

static const struct hl_pt_meta *meta(struct hl_engine *e)
{
	return (const struct hl_pt_meta *)e->st->npt[HL_HOSTVISOR];
}

/* the npt(host) shard that owns RAM IPA addr with SPAN_MIB (2 tables) per shard */
static unsigned shard_of(uint64_t addr)
{
	return HL_NPTH_SHARD((addr - HL_RAM_BASE) / HL_PMD_SIZE / 2);
}

static bool rec_locks(const struct hl_rec *r, unsigned obj)
{
	for (unsigned i = 0; i < r->nlock; i++)
		if (hl_rec_rdeps(r)[i].obj == obj)
			return true;
	return false;
}

/* ---- the seq-0 image ------------------------------------------------------------------------ */

/* SPEC's own allocation, through the real transition on an unsharded engine: the host maps
 * one page in every 2 MiB of RAM, ascending; with those leaves cleared, that is the
 * preallocated image byte for byte */
Test(npt_shards, prealloc_is_specs_allocation_without_leaves)
{
	struct hl_engine *e = eng(1, SPAN_MIB, 0), *spec = eng(1, 0, 0);
	uint8_t *x = spec->st->npt[HL_HOSTVISOR];
	size_t size = spec->st->img[HOST].size;
	uint64_t pmd_start = meta(spec)->pmd_start;

	for (uint64_t k = 0; k < HL_NPTH_RAM_TABLES; k++)
		cr_assert_eq(hl_map_host(spec, 0, hl_pa(HL_RAM_BASE + k * HL_PMD_SIZE)), HL_OK);
	for (uint64_t k = 0; k < HL_NPTH_RAM_TABLES; k++)
		memset(x + pmd_start + k * PG, 0, 8);   /* the leaf of page 0 of block k */
	cr_assert_eq(size, e->st->img[HOST].size);
	cr_expect(memcmp(x, e->st->npt[HL_HOSTVISOR], size) == 0,
		  "the preallocated host table is not SPEC's allocation for every 2 MiB of RAM");
	cr_expect_eq(meta(e)->pmd_next, meta(e)->pmd_start + HL_NPTH_RAM_TABLES * PG);
	cr_expect_eq(meta(e)->pgd_next, meta(e)->pgd_start + PG);
	for (uint64_t k = 0; k < HL_NPTH_RAM_TABLES; k++)
		cr_expect(hl_npth_ready(e->st->npt[HL_HOSTVISOR], HL_RAM_BASE + k * HL_PMD_SIZE + 0x1000));
	/* every L3 entry of RAM is still 0: nothing is mapped */
	for (uint64_t o = meta(e)->pmd_start; o < meta(e)->pmd_next; o++)
		cr_assert_eq(e->st->npt[HL_HOSTVISOR][o], 0, "byte %lu of the RAM tables", (unsigned long)o);
	hl_engine_free(e);
	hl_engine_free(spec);
}

Test(npt_shards, map_has_one_range_per_shard_over_the_ram_tables)
{
	struct hl_engine *e = eng(1, SPAN_MIB, 0);
	unsigned n = (unsigned)((HL_NPTH_RAM_TABLES + 1) / 2);
	uint64_t pmd = meta(e)->pmd_start;

	cr_assert(hl_refine_sharded(&e->ref, HOST));
	cr_assert(e->ref.parent[HOST].residual, "npt(host) keeps a residual");
	for (unsigned j = 0; j < n; j++) {
		unsigned id = HL_NPTH_SHARD(j);
		const struct hl_range *g = &e->ref.ranges[e->ref.sh[id - HL_ID_END].first];
		cr_assert(hl_refine_is_shard(&e->ref, id), "shard %u", j);
		cr_expect_eq(e->ref.sh[id - HL_ID_END].nranges, 1);
		cr_expect_eq(g->off, pmd + (uint64_t)j * 2 * PG);
		cr_expect_eq(g->len, (j + 1 < n || HL_NPTH_RAM_TABLES % 2 == 0 ? 2 : 1) * PG);
	}
	cr_expect_not(hl_refine_is_shard(&e->ref, HL_NPTH_SHARD(n)));
	/* the meta page, root and upper tables are the residual's */
	{
		uint64_t local, span;
		cr_expect_eq(hl_refine_route(&e->ref, HOST, 8, &local, &span), HOST);
		cr_expect_eq(hl_refine_route(&e->ref, HOST, pmd + 2 * PG + 16, &local, &span), HL_NPTH_SHARD(1));
		cr_expect_eq(local, 16);
	}
	hl_engine_free(e);
}

Test(npt_shards, unsharded_is_specs_empty_pool)
{
	struct hl_engine *e = eng(1, 0, 0);
	uint8_t buf[HL_REC_MAX];
	const struct hl_rec *r;

	cr_expect_not(hl_refine_sharded(&e->ref, HOST));
	cr_expect_eq(meta(e)->pgd_next, meta(e)->pgd_start);
	cr_expect_eq(meta(e)->pud_next, meta(e)->pud_start);
	cr_expect_eq(meta(e)->pmd_next, meta(e)->pmd_start);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(HL_RAM_BASE + 0x5000)), HL_OK);
	r = th_last_rec(e, HOST, buf, sizeof(buf));
	cr_assert_not_null(r, "npt(host) logs the fault itself");
	cr_expect(rec_locks(r, HOST));
	cr_expect_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

Test(npt_shards, span_of_all_ram_is_one_shard)
{
	struct hl_engine *e = eng(1, 2 * HL_CFG_RAM_MIB, 0);
	uint64_t a = HL_RAM_BASE + HL_RAM_SIZE - PG;

	cr_assert(hl_refine_is_shard(&e->ref, HL_NPTH_SHARD(0)));
	cr_expect_not(hl_refine_is_shard(&e->ref, HL_NPTH_SHARD(1)));
	cr_expect_eq(e->ref.sh[HL_NPTH_SHARD(0) - HL_ID_END].size, HL_NPTH_RAM_TABLES * PG);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(HL_RAM_BASE)), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(a)), HL_OK);
	cr_expect_eq(th_nrecs(e, HL_NPTH_SHARD(0)), 2);
	cr_expect_eq(th_nrecs(e, HOST), 0);
	cr_expect_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/* ---- lock sites ------------------------------------------------------------------------------ */

/* a RAM host fault writes one 8-byte L3 entry, in its shard's log, under that shard's lock
 * only: the residual is neither locked nor written */
Test(npt_shards, ram_fault_locks_and_writes_only_its_shard)
{
	struct hl_engine *e = eng(1, SPAN_MIB, 0);
	uint64_t pfn = th_pfn(3 * 1024 + 5), addr = pfn * PG;   /* RAM table 6: shard 3 */
	uint8_t buf[HL_REC_MAX];
	const struct hl_rec *r;
	const struct hl_delta *d;
	struct hl_pt_entry w;

	cr_assert_eq(shard_of(addr), HL_NPTH_SHARD(3));
	cr_assert_eq(hl_map_host(e, 0, hl_pa(addr)), HL_OK);
	hl_npt_walk(e->st->npt[HL_HOSTVISOR], addr, &w);
	cr_expect_eq(w.pfn, pfn);
	cr_expect_eq(w.level, 3);
	cr_expect_eq(th_nrecs(e, HOST), 0, "the residual was written");
	cr_expect_eq(th_nrecs(e, HL_NPTH_SHARD(2)), 0);
	cr_expect_eq(th_nrecs(e, HL_NPTH_SHARD(4)), 0);
	r = th_last_rec(e, HL_NPTH_SHARD(3), buf, sizeof(buf));
	cr_assert_not_null(r);
	cr_expect(rec_locks(r, HL_NPTH_SHARD(3)));
	cr_expect_not(rec_locks(r, HOST), "a RAM fault took the residual's lock");
	cr_assert_eq(r->ndelta, 1);
	d = hl_rec_first_delta(r);
	cr_expect_eq(d->len, 8);
	cr_expect_eq(d->off, 0 * PG + 5 * 8, "shard-local offset %u", d->off);   /* table 6 = local 0 */
	cr_expect_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/* an MMIO fault (below RAM) allocates its tables after the RAM tables, all in the residual */
Test(npt_shards, mmio_fault_uses_the_residual)
{
	struct hl_engine *e = eng(1, SPAN_MIB, 0);
	uint64_t pmd_next = meta(e)->pmd_next;
	uint8_t buf[HL_REC_MAX];
	const struct hl_rec *r;

	cr_assert_eq(hl_map_host(e, 0, hl_pa(0x1000000)), HL_OK);
	cr_expect_eq(meta(e)->pmd_next, pmd_next + PG);
	r = th_last_rec(e, HOST, buf, sizeof(buf));
	cr_assert_not_null(r);
	cr_expect(rec_locks(r, HOST));
	for (unsigned j = 0; j < hl_npth_nshards(2); j++)
		cr_expect_eq(th_nrecs(e, HL_NPTH_SHARD(j)), 0);
	cr_expect_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/* ---- no contention between shards --------------------------------------------------------- */
struct fault_arg {
	struct hl_engine *e;
	int cpu;
	uint64_t addr;
	int rc;
	int done;
};

static void *fault_thread(void *p)
{
	struct fault_arg *a = p;
	a->rc = hl_map_host(a->e, a->cpu, hl_pa(a->addr));
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static bool wait_done(struct fault_arg *a, unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		if (__atomic_load_n(&a->done, __ATOMIC_ACQUIRE))
			return true;
		usleep(1000);
	}
	return __atomic_load_n(&a->done, __ATOMIC_ACQUIRE);
}

/* CPU 0 holds shard 0 (and s2page shard 0) inside a step. A host fault of CPU 1 in
 * another shard completes meanwhile, uncontended (lock profile); one in shard 0 waits
 * until CPU 0's step ends, and the profile counts it contended. Unsharded, the same fault
 * in "another region" waits too (the old npt(host) lock). */
static void disjoint_faults(uint64_t npt_mib, uint64_t s2p_pages, bool expect_parallel)
{
	struct hl_engine *e = eng(2, npt_mib, s2p_pages);
	uint64_t a0 = HL_RAM_BASE + 0x3000, a1 = HL_RAM_BASE + 20 * HL_PMD_SIZE + 0x7000;
	unsigned o0 = hl_refine_sharded(&e->ref, HOST) ? shard_of(a0) : HOST;
	unsigned o1 = hl_refine_sharded(&e->ref, HOST) ? shard_of(a1) : HOST;
	struct fault_arg f1 = { e, 1, a1, -100, 0 }, f0 = { e, 1, a0 + PG, -100, 0 };
	struct hl_lock_stats ls;
	struct hl_step s;
	pthread_t t;

	cr_assert_eq(hl_step_begin(&s, e, 0, HL_EV_MAP_HOST), 0);
	cr_assert_eq(hl_step_lock_s2p(&s, a0 / PG, 1), 0);
	cr_assert_eq(hl_step_lock(&s, o0), 0);

	pthread_create(&t, NULL, fault_thread, &f1);
	if (expect_parallel) {
		cr_assert(wait_done(&f1, 5000), "a fault in another shard waited for CPU 0's shard");
		pthread_join(t, NULL);
		cr_expect_eq(f1.rc, HL_OK);
		hl_lock_stats(&e->locks[o1], &ls);
		cr_expect_eq(ls.contended, 0, "shard of CPU 1 contended");
		cr_expect_eq(ls.acquisitions, 1);
		/* now the same shard: it must wait for CPU 0 */
		pthread_create(&t, NULL, fault_thread, &f0);
	}
	{
		struct fault_arg *w = expect_parallel ? &f0 : &f1;
		cr_expect_not(wait_done(w, 150), "CPU 1 ran under CPU 0's lock");
		cr_assert_eq(hl_step_end(&s, HL_OK), HL_OK);
		cr_assert(wait_done(w, 5000));
		pthread_join(t, NULL);
		cr_expect_eq(w->rc, HL_OK);
	}
	cr_expect_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

Test(npt_shards, faults_in_different_shards_do_not_contend, .timeout = 30)
{
	disjoint_faults(SPAN_MIB, 512, true);
}

Test(npt_shards, unsharded_faults_share_the_host_table_lock, .timeout = 30)
{
	disjoint_faults(0, 512, false);
}

/* profile: two CPUs hammer host faults in disjoint shards (s2page sharded alike): the
 * npt(host) residual is never taken and no shard lock is ever contended */
struct hammer_arg {
	struct hl_engine *e;
	int cpu;
	uint64_t first_pfn;
	int bad;
};

static void *hammer(void *p)
{
	struct hammer_arg *a = p;
	for (unsigned i = 0; i < 20000; i++)
		if (hl_map_host(a->e, a->cpu, hl_pa((a->first_pfn + i % 1024) * PG)) != HL_OK)
			a->bad++;
	return NULL;
}

Test(npt_shards, profile_shows_no_npt_contention_between_disjoint_shards, .timeout = 60)
{
	struct hl_engine *e = eng(2, SPAN_MIB, 1024);
	struct hammer_arg h[2] = { { e, 0, th_pfn(0), 0 }, { e, 1, th_pfn(8 * 1024), 0 } };
	struct hl_lock_stats ls;
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, hammer, &h[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	cr_expect_eq(h[0].bad + h[1].bad, 0);
	hl_lock_stats(&e->locks[HOST], &ls);
	cr_expect_eq(ls.acquisitions, 0, "a RAM fault took the residual");
	for (unsigned j = 0; j < hl_npth_nshards(2); j++) {
		hl_lock_stats(&e->locks[HL_NPTH_SHARD(j)], &ls);
		cr_expect_eq(ls.contended, 0, "npt(0)[%u] contended %lu times", j, (unsigned long)ls.contended);
	}
	hl_lock_stats(&e->locks[HL_NPTH_SHARD(0)], &ls);
	cr_expect_eq(ls.acquisitions, 20000);
	hl_lock_stats(&e->locks[HL_NPTH_SHARD(8)], &ls);   /* pfn 8192: RAM table 16 */
	cr_expect_eq(ls.acquisitions, 20000);
	cr_expect_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/* ---- host unmaps keep their TLB invalidation ------------------------------------------------ */
static struct {
	struct hl_engine *e;
	unsigned n, held;
	uint64_t vttbr, ipa;
	unsigned shard;
} tl;

static void tlbi_hook(void *arg, uint64_t vttbr, uint64_t ipa)
{
	(void)arg;
	tl.n++;
	tl.vttbr = vttbr;
	tl.ipa = ipa;
	tl.held = hl_engine_held_by(tl.e, 0, tl.shard);
}

Test(npt_shards, assign_unmaps_in_the_shard_and_invalidates_the_tlb)
{
	struct hl_engine *e = eng(1, SPAN_MIB, 0);
	uint64_t pfn = th_pfn(17 * 512 + 9);
	uint32_t vm;
	struct hl_pt_entry w;

	vm = th_new_vm(e, 0);
	cr_assert_neq(vm, 0);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(pfn * PG)), HL_OK);
	memset(&tl, 0, sizeof(tl));
	tl.e = e;
	tl.shard = shard_of(pfn * PG);
	hosted_set_tlbi_hook(tlbi_hook, NULL);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x10000, pfn), HL_OK);
	hosted_set_tlbi_hook(NULL, NULL);
	cr_expect_eq(tl.n, 1, "no TLB invalidation for the host's old translation");
	cr_expect_eq(tl.vttbr, hl_pt_root_pa(e->st->npt[HL_HOSTVISOR]));
	cr_expect_eq(tl.ipa, pfn * PG);
	cr_expect(tl.held, "the TLBI ran outside the shard's lock");
	hl_npt_walk(e->st->npt[HL_HOSTVISOR], pfn * PG, &w);
	cr_expect_eq(w.pte, HL_PAGE_GUEST);
	cr_expect_eq(th_nrecs(e, tl.shard), 2);
	cr_expect_eq(th_nrecs(e, HOST), 0);
	/* and back to the host: clear unmaps nothing more, the page is the host's again */
	cr_expect_eq(hl_clear_vm_page(e, 0, vm, pfn), HL_OK);
	cr_expect_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/* ---- the invariant: RAM upper entries never change after init ------------------------------ */
Test(npt_shards, ram_fault_over_a_missing_preallocated_table_aborts, .signal = SIGABRT)
{
	struct hl_engine *e = eng(1, SPAN_MIB, 0);
	const struct hl_pt_meta *m = meta(e);
	uint64_t l2 = m->pud_start;   /* the L2 table of the first RAM GiB */

	/* an engine bug that lost block 3's table link (nothing legal writes it) */
	memset(e->st->npt[HL_HOSTVISOR] + l2 + 3 * 8, 0, 8);
	(void)hl_map_host(e, 0, hl_pa(HL_RAM_BASE + 3 * HL_PMD_SIZE));
}

/* a mixed run on two CPUs (faults, assigns, revokes, clears, MMIO) replays exactly */
struct mix_arg {
	struct hl_engine *e;
	int cpu;
	uint32_t vm;
};

static void *mix(void *p)
{
	struct mix_arg *a = p;
	for (unsigned i = 0; i < 3000; i++) {
		uint64_t pfn = th_pfn((unsigned)(a->cpu * 8192 + (i * 37) % 8192));
		(void)hl_map_host(a->e, a->cpu, hl_pa(pfn * PG));
		if (i % 3 == 0) {
			(void)hl_assign_pfn_to_vm(a->e, a->cpu, a->vm, 0x10000 + i, pfn);
			(void)hl_clear_vm_page(a->e, a->cpu, a->vm, pfn);
		}
		if (i % 50 == 0)
			(void)hl_map_host(a->e, a->cpu, hl_pa((uint64_t)(i % 200) * PG * 16 + 0x100000));
	}
	return NULL;
}

Test(npt_shards, two_cpu_mix_replays, .timeout = 60)
{
	struct hl_engine *e = eng(2, SPAN_MIB, 512);
	struct mix_arg m[2] = { { e, 0, 0 }, { e, 1, 0 } };
	pthread_t t[2];

	m[0].vm = th_new_vm(e, 0);
	m[1].vm = th_new_vm(e, 1);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, mix, &m[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int c = 0; c < 2; c++)
		cr_expect_not(hl_cpu_halted(e, c));
	cr_expect_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/* ---- the residual's own image ------------------------------------------------------------- */
/* its seq-0 image, snapshots and digest are the parent's with the shard-owned bytes zero
 * (the residual's log never writes them, so its own Cal describes exactly that) */
Test(npt_shards, residual_image_has_the_shard_bytes_zero)
{
	struct hl_engine *e = eng(1, SPAN_MIB, 0);
	size_t size = e->st->img[HOST].size;
	uint64_t addr = HL_RAM_BASE + 5 * HL_PMD_SIZE + 0x3000, d0, d1;
	uint8_t *buf = malloc(size), *copy = malloc(size);

	cr_assert(buf && copy);
	d0 = hl_state_obj_digest(e->st, HOST);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(addr)), HL_OK);
	cr_expect_eq(hl_state_obj_digest(e->st, HOST), d0, "a RAM fault changed the residual's digest");
	hl_state_obj_gather(e->st, HOST, buf);
	cr_expect_eq(*(uint64_t *)(buf + hl_npth_entry_off(addr)), 0);
	cr_expect_neq(*(uint64_t *)(e->st->npt[HL_HOSTVISOR] + hl_npth_entry_off(addr)), 0);
	/* scattering the residual's image leaves the shard's entry alone */
	memcpy(copy, e->st->npt[HL_HOSTVISOR], size);
	hl_state_obj_scatter(e->st, HOST, buf);
	cr_expect(memcmp(copy, e->st->npt[HL_HOSTVISOR], size) == 0);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(0x2400000)), HL_OK);   /* MMIO: the residual's */
	d1 = hl_state_obj_digest(e->st, HOST);
	cr_expect_neq(d1, d0);
	free(buf);
	free(copy);
	hl_engine_free(e);
}

/* checkpoints of the residual and the shards (every 3 records) and replay from them */
Test(npt_shards, checkpointed_run_replays, .timeout = 60)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	struct mix_arg m[2];
	pthread_t t[2];

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = 2;
	cfg.ckpt_every = 3;
	cfg.npt_host_shard_mib = SPAN_MIB;
	cfg.s2page_shard_pages = 2048;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	m[0] = (struct mix_arg){ e, 0, th_new_vm(e, 0) };
	m[1] = (struct mix_arg){ e, 1, th_new_vm(e, 1) };
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, mix, &m[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	cr_expect_gt(hl_log_first_seq(&e->logs[HOST]), 1, "no checkpoint cut the residual's log");
	cr_expect_gt(hl_log_first_seq(&e->logs[HL_NPTH_SHARD(0)]), 1, "no checkpoint cut shard 0's log");
	cr_expect_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/* a RAM fault of a sharded host table neither reads nor writes the residual's bump pointers
 * (an MMIO fault may move them under the residual's lock meanwhile: that was a data race,
 * TSan, and local_mmap_h's bound check read them): with the pointers past their regions
 * it still maps its page, and they stay as they were */
Test(npt_shards, ram_fault_does_not_depend_on_the_bump_pointers)
{
	struct hl_engine *e = eng(1, SPAN_MIB, 0);
	struct hl_pt_meta *m = (struct hl_pt_meta *)e->st->npt[HL_HOSTVISOR];
	uint64_t addr = HL_RAM_BASE + 9 * HL_PMD_SIZE + 0x1000;
	struct hl_pt_meta saved = *m;
	struct hl_pt_entry w;

	m->pgd_next = m->pud_start + PG;   /* "exhausted": what a concurrent writer could show */
	m->pud_next = m->pmd_start + PG;
	m->pmd_next = m->pool_end + PG;
	cr_assert_eq(hl_map_host(e, 0, hl_pa(addr)), HL_OK);
	hl_npt_walk(e->st->npt[HL_HOSTVISOR], addr, &w);
	cr_expect_eq(w.pfn, addr / PG);
	cr_expect_eq(m->pmd_next, saved.pool_end + PG);
	*m = saved;
	cr_expect_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/*
 * test_oracle.c - the SPEC §10 oracles (oracle/hl_check.h): clean runs pass every check;
 * each check fails on a log broken by hand; each fault-injection switch (hl_fault.h) is
 * caught by the check meant for it, through the library and through `hyplog check`.
 *
 * The checks read logs only through the oracle's own parser (oracle/hl_olog.h): a live
 * engine is serialized and parsed (oracle/hl_osrc.h), so a record broken in the engine's
 * memory reaches the checks as a checksummed record of a well-formed file; a parsed log
 * can also be edited directly (olog_rec) or written to a file and broken there.
 *
 * oracle_shards (issue 11): runs with s2page and npt(host) in shards pass every check, live
 * and from the file; a map that is not a refinement (overlap, gap, out of range, bad id or
 * parent, ids out of address order) is an H_CalLock violation (exit 1) and never a crash; a
 * shard's bytes forged into another shard's log, shards locked out of order, a page or host
 * entry read without its shard, a residual writing a shard's bytes or a link to a shard's
 * table are each named; the live checker follows and cuts every shard log.
 *
 * Built against a copy of the library compiled with -DHL_FAULT_INJECTION (tests/meson.build),
 * so the fault tests run in every `meson test`.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "helpers.h"
#include "hl_testkey.h"
#include "hl_check.h"
#include "hl_fault.h"
#include "hl_file.h"
#include "hl_model.h"
#include "hl_olog.h"
#include "hl_osrc.h"
#include "hl_live.h"

#define PG 4096ull
#define MMIO_PA(i) ((0x10000ull + (i)) * PG)

/* the engine's logs as the oracle parses them (with its live images and page memory,
 * which only the engine's transitions write in these engine-level tests); valid until the
 * next call */
static struct hl_olog live_lg;

static const struct hl_olog *live(struct hl_engine *e)
{
	struct hl_olog_err err;

	hl_olog_free(&live_lg);
	cr_assert_eq(hl_osrc_engine(e, HL_OSRC_LIVE | HL_OSRC_RAM, &live_lg, &err), 0, "serialize: %s", err.msg);
	return &live_lg;
}

/* a record of a parsed log, to break it by hand */
static struct hl_rec *olog_rec(const struct hl_olog *lg, unsigned obj, uint64_t seq)
{
	const struct hl_olog_obj *ob = &lg->obj[obj];
	for (size_t i = 0; i < ob->n; i++)
		if (ob->rec[i]->seq == seq)
			return (struct hl_rec *)ob->rec[i];
	cr_assert_fail("no record %llu in object %u", (unsigned long long)seq, obj);
	return NULL;
}

static void expect_pass(struct hl_engine *e)
{
	struct hl_verdict v;
	struct hl_check_stats st;
	int rc = hl_check_all(live(e), &v, &st);

	cr_assert_eq(rc, 0, "%s violated: %s (expected %s, actual %s, op %llx obj %u seq %llu)",
		     hl_rel_name(v.rel), v.what, v.expected, v.actual, (unsigned long long)v.op, v.obj,
		     (unsigned long long)v.seq);
	cr_assert_gt(st.ops, 0);
}

/* ---- the CLI on a written file ------------------------------------------------------------ */
static int cli_check(struct hl_engine *e, const char *tag)
{
	const char *bin = getenv("HYPLOG");
	char path[256], cmd[600];
	struct hl_file_err fe;
	int st;

	if (!bin)
		return -1;
	snprintf(path, sizeof(path), "/tmp/test_oracle_%d_%s.hlog", (int)getpid(), tag);
	cr_assert_eq(hl_file_write(e, path, &fe), 0, "%s", fe.msg);
	snprintf(cmd, sizeof(cmd), "'%s' check '%s' >/dev/null 2>&1", bin, path);
	st = system(cmd);
	unlink(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* the file reader gives the same verdict as the live engine, and so does the CLI */
static void expect_file_violation(struct hl_engine *e, const char *tag)
{
	int rc = cli_check(e, tag);
	if (rc != -1 || getenv("HYPLOG"))
		cr_assert_eq(rc, 1, "`hyplog check` on the %s log exited %d, expected 1", tag, rc);
}

static void expect_file_pass(struct hl_engine *e, const char *tag)
{
	int rc = cli_check(e, tag);
	if (rc != -1 || getenv("HYPLOG"))
		cr_assert_eq(rc, 0, "`hyplog check` on the clean %s log exited %d", tag, rc);
}

/* ---- records in memory -------------------------------------------------------------------- */
struct find {
	uint64_t seq;
	struct hl_rec *r;
};

static int find_visit(const struct hl_rec *r, void *arg)
{
	struct find *f = arg;
	if (r->seq == f->seq)
		f->r = (struct hl_rec *)r;
	return 0;
}

static struct hl_rec *rec_at(struct hl_engine *e, unsigned obj, uint64_t seq)
{
	struct find f = { seq, NULL };
	hl_rcu_reader_ensure();
	hl_rcu_read_lock();
	hl_log_foreach(&e->logs[obj], find_visit, &f);
	hl_rcu_read_unlock();
	cr_assert_not_null(f.r, "no record %llu in object %u", (unsigned long long)seq, obj);
	return f.r;
}

/* a short run over most events on two CPUs, including a verified VM; s2page in shards of
 * `shard_pages` pages (issue 11; 0: SPEC's one object) */
static struct hl_engine *scripted_sharded(uint64_t ckpt_every, uint64_t shard_pages)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	uint32_t vm1, vm2;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = 2;
	cfg.ckpt_every = ckpt_every;
	cfg.s2page_shard_pages = shard_pages;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);   /* KCore's key 0: the test key */
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	vm1 = th_boot_vm(e, 0, th_pfn(512), 0x80000000ull);
	vm2 = th_new_vm(e, 1);
	cr_assert(vm1 && vm2);
	for (unsigned i = 0; i < 16; i++)
		cr_assert_eq(hl_map_host(e, (int)(i % 2), hl_pa(th_pfn(i) * PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(MMIO_PA(0))), HL_OK);
	for (unsigned i = 0; i < 8; i++) {
		cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm1, 0x100 + i, th_pfn(i)), HL_OK);
		if (i < 4)   /* pages 4..7 stay unmapped: they go back to the host below */
			cr_assert_eq(hl_map_pfn_vm(e, 0, vm1, hl_ipa((0x100 + i) * PG), th_pfn(i) * PG, 3), HL_OK);
		cr_assert_eq(hl_grant_vm_page(e, (int)(i % 2), vm1, th_pfn(i)), HL_OK);
	}
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(hl_revoke_vm_page(e, 1, vm1, th_pfn(i)), HL_OK);
	cr_assert_eq(hl_set_vcpu_active(e, 1, vm1, 0), HL_OK);
	cr_assert_eq(hl_set_vcpu_inactive(e, 1, vm1, 0), HL_OK);
	cr_assert_eq(hl_map_vm_io(e, 1, vm2, hl_ipa(0x9000000), hl_pa(MMIO_PA(1))), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 2, vm2, 0), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 1, 3, 0, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 2, 0, th_pfn(20), 0x300), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 0, 2, 0, hl_iova(0x300 * PG), th_pfn(20) * PG | 0x7C3), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 1, 3, 0, hl_iova(th_pfn(21) * PG), th_pfn(21) * PG | 0x7C3), HL_OK);
	cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(0x300 * PG), 2, 0), HL_OK);
	cr_assert_eq(hl_clear_vm_page(e, 0, vm2, th_pfn(20)), HL_OK);
	cr_assert_eq(hl_set_vm_poweroff(e, 1, vm2), HL_OK);
	cr_assert_eq(hl_smmu_free_pgd(e, 0, 2, 0), HL_OK);
	for (unsigned i = 4; i < 8; i++)
		cr_assert_eq(hl_clear_vm_page(e, (int)(i % 2), vm1, th_pfn(i)), HL_OK);
	return e;
}

static struct hl_engine *scripted(uint64_t ckpt_every)
{
	return scripted_sharded(ckpt_every, 0);
}

/* ===================================================================================== */
/* clean runs pass                                                                         */

Test(oracle_clean, scripted_run_passes_every_check)
{
	struct hl_engine *e = scripted(0);
	expect_pass(e);
	expect_file_pass(e, "scripted");
	hl_engine_free(e);
}

Test(oracle_clean, scripted_run_with_checkpoints_passes)
{
	struct hl_engine *e = scripted(3);
	expect_pass(e);
	expect_file_pass(e, "scripted_ckpt");
	hl_engine_free(e);
}

static void random_run_sharded(unsigned ncpus, unsigned chaos, uint64_t ckpt, uint64_t seed, uint64_t shard_pages)
{
	struct th_run_cfg rc = { .ncpus = ncpus, .ops = 1500, .seed = seed, .lock = HL_LOCK_TICKET,
				 .ckpt_every = ckpt, .chaos = chaos, .s2p_shard_pages = shard_pages };
	struct hl_engine *e = th_random_run(&rc, NULL);
	struct hl_verdict v;
	int r;

	cr_assert_not_null(e, "random run failed");
	if (!chaos) {
		expect_pass(e);
	} else {
		/* chaos steps call the atomic steps without the handlers' preconditions (a VM
		 * maps a page it was never given, a page is cleared while mapped): the spec's
		 * steps do not keep the security invariants by themselves, so only the log
		 * oracles must hold; the invariants are checked in the chaos-free runs */
		cr_assert_eq(r = hl_check_callock(live(e), &v), 0, "%s", v.what);
		cr_assert_eq(r = hl_check_sync_shared(live(e), &v), 0, "%s", v.what);
		cr_assert_eq(r = hl_check_serializable(live(e), &v, NULL, NULL), 0, "%s", v.what);
		cr_assert_eq(r = hl_check_relate_log(live(e), &v), 0, "%s: %s", hl_rel_name(v.rel), v.what);
		cr_assert_eq(r = hl_check_relate_oracle(live(e), &v), 0, "%s: %s (%s vs %s)", hl_rel_name(v.rel),
			     v.what, v.expected, v.actual);
		cr_assert_eq(r = hl_check_relate_hlock(live(e), &v), 0, "%s", v.what);
	}
	hl_engine_free(e);
}

static void random_run(unsigned ncpus, unsigned chaos, uint64_t ckpt, uint64_t seed)
{
	random_run_sharded(ncpus, chaos, ckpt, seed, 0);
}

Test(oracle_clean, random_1cpu) { random_run(1, 0, 0, 1); }
Test(oracle_clean, random_2cpu) { random_run(2, 0, 0, 2); }
Test(oracle_clean, random_4cpu) { random_run(4, 0, 0, 3); }
Test(oracle_clean, random_2cpu_checkpoints) { random_run(2, 0, 64, 4); }
Test(oracle_clean, random_4cpu_checkpoints) { random_run(4, 0, 7, 5); }
Test(oracle_clean, random_1cpu_chaos_halts) { random_run(1, 6, 0, 6); }
Test(oracle_clean, random_2cpu_chaos_halts) { random_run(2, 6, 0, 7); }
Test(oracle_clean, random_4cpu_chaos_halts_checkpoints) { random_run(4, 5, 32, 8); }

Test(oracle_clean, model_abstraction_of_live_equals_model_of_cal)
{
	struct hl_engine *e = scripted(0);
	struct hl_state *cal = hl_state_new(false);
	struct hl_model *a = hl_model_new(), *b = hl_model_new();
	struct hl_model_diff d;
	struct hl_replay_err err;

	struct hl_images ia, ib;

	cr_assert_eq(hl_cal_all(e, cal, &err), 0);
	memset(&ia, 0, sizeof(ia));
	memset(&ib, 0, sizeof(ib));
	for (unsigned o = 1; o < HL_ID_END; o++) {   /* the states' object images, as the model reads them */
		ia.img[o] = e->st->img[o].base;
		ia.len[o] = e->st->img[o].size;
		ib.img[o] = cal->img[o].base;
		ib.len[o] = cal->img[o].size;
	}
	cr_assert_eq(hl_model_abstract(a, &ia), 0);
	cr_assert_eq(hl_model_abstract(b, &ib), 0);
	cr_assert_eq(hl_model_diff(a, b, HL_ID_END, &d), 0, "%s: %s vs %s", d.where, d.a, d.b);
	/* and a change shows up as the entry it is */
	hl_hmap_del(&b->npt[0].pt, th_pfn(9));
	cr_assert_eq(hl_model_diff(a, b, HL_ID_END, &d), 1);
	cr_assert_eq(d.obj, HL_NPT_OBJ(0));
	cr_assert(strstr(d.where, "pt["), "%s", d.where);
	hl_model_free(a);
	hl_model_free(b);
	hl_state_free(cal);
	hl_engine_free(e);
}

/* ===================================================================================== */
/* each check fails on a log broken by hand                                                 */

Test(oracle_broken, callock_sequence_gap)
{
	struct hl_engine *e = scripted(0);
	struct hl_verdict v;

	rec_at(e, HL_NPT_OBJ(0), 5)->seq = 6;
	cr_assert_eq(hl_check_callock(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_CALLOCK);
	cr_assert_eq(v.obj, HL_NPT_OBJ(0));
	cr_assert_eq(v.seq, 6);
	cr_assert(strstr(v.what, "consecutive"), "%s", v.what);
	cr_assert_gt(v.nctx, 1);
	hl_engine_free(e);
}

Test(oracle_broken, callock_record_by_the_wrong_cpu)
{
	struct hl_engine *e = scripted(0);
	struct hl_verdict v;
	struct hl_rec *r = rec_at(e, HL_NPT_OBJ(0), 3);

	r->cpu = (uint8_t)(r->cpu ^ 1);   /* its op id names the other CPU */
	cr_assert_eq(hl_check_callock(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_CALLOCK);
	hl_engine_free(e);
}

Test(oracle_broken, sync_shared_wrong_delta)
{
	struct hl_engine *e = scripted(0);
	struct hl_verdict v;
	struct hl_rec *r = rec_at(e, HL_S2PAGE_ID, 3);
	struct hl_delta *d = (struct hl_delta *)hl_rec_first_delta(r);

	((uint8_t *)(d + 1))[0] ^= 0x40;
	cr_assert_eq(hl_check_sync_shared(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_SYNC);
	cr_assert_eq(v.obj, HL_S2PAGE_ID);
	cr_assert(strstr(v.what, "s2page["), "the entry is named: %s", v.what);
	hl_engine_free(e);
}

Test(oracle_broken, serializability_conflicting_orders)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	struct hl_rec *a, *b;
	uint64_t tmp;
	uint32_t vm = th_new_vm(e, 0);

	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(2) * PG)), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 1, th_pfn(1)), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 1, vm, 2, th_pfn(2)), HL_OK);
	expect_pass(e);
	a = rec_at(e, HL_NPT_OBJ(0), 3);
	b = rec_at(e, HL_NPT_OBJ(0), 4);
	tmp = a->op;
	a->op = b->op;
	b->op = tmp;
	cr_assert_eq(hl_check_serializable(live(e), &v, NULL, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_SERIAL);
	cr_assert(strstr(v.what, "cycle"), "%s", v.what);
	hl_engine_free(e);
}

Test(oracle_broken, relate_log_wrong_argument)
{
	struct hl_engine *e = th_engine(1);
	struct hl_verdict v;

	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(2) * PG)), HL_OK);
	expect_pass(e);
	rec_at(e, HL_NPT_OBJ(0), 2)->arg[0] = th_pfn(5) * PG;
	cr_assert_eq(hl_check_relate_log(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_LOG);
	cr_assert_eq(v.obj, HL_NPT_OBJ(0));
	cr_assert(strstr(v.what, "pt["), "%s", v.what);
	hl_engine_free(e);
}

Test(oracle_broken, relate_log_wrong_result)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);

	cr_assert_eq(hl_register_vcpu(e, 0, vm, 0, 1), HL_OK);
	rec_at(e, HL_INFO_OBJ(vm), 2)->result = HL_RES_HALT;
	cr_assert_eq(hl_check_relate_log(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_LOG);
	cr_assert(strstr(v.expected, "ok") && strstr(v.actual, "halt"), "%s / %s", v.expected, v.actual);
	hl_engine_free(e);
}

Test(oracle_broken, relate_oracle_missing_view)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);
	struct hl_rec *r;
	struct hl_rdep *rd;

	cr_assert_eq(hl_map_vm_io(e, 1, vm, hl_ipa(0x9000000), hl_pa(MMIO_PA(2))), HL_OK);
	expect_pass(e);
	r = rec_at(e, HL_NPT_OBJ(vm), 1);
	rd = (struct hl_rdep *)hl_rec_rdeps(r);
	cr_assert_eq(rd[0].obj, HL_INFO_OBJ(vm));
	rd[0].obj = HL_CORE_ID;   /* claims it read core instead of the VM's info */
	rd[0].seq = 1;
	cr_assert_eq(hl_check_relate_oracle(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_ORACLE, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert(strstr(v.what, "vminfo"), "%s", v.what);
	hl_engine_free(e);
}

Test(oracle_broken, relate_oracle_wrong_effect)
{
	struct hl_engine *e = th_engine(1);
	struct hl_verdict v;
	struct hl_rec *r;
	struct hl_delta *d;

	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(2) * PG)), HL_OK);
	/* the second record writes a different descriptor than map_host computes */
	r = rec_at(e, HL_NPT_OBJ(0), 2);
	d = (struct hl_delta *)hl_rec_first_delta(r);
	cr_assert_eq(r->ndelta, 1);
	((uint8_t *)(d + 1))[1] ^= 0x01;   /* descriptor bit 8 (SH) */
	cr_assert_eq(hl_check_relate_oracle(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_ORACLE);
	cr_assert_eq(v.seq, 2);
	hl_engine_free(e);
}

Test(oracle_broken, relate_hlock_cpu_runs_after_halt)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);
	struct hl_rec *r;

	cr_assert_eq(hl_register_vcpu(e, 1, vm, 0, 1), HL_OK);
	cr_assert_eq(hl_set_vcpu_inactive(e, 1, vm, 0), HL_HALT);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	expect_pass(e);
	r = rec_at(e, HL_NPT_OBJ(0), 1);
	r->cpu = 1;
	r->op = (1ull << 48) | 1000;
	cr_assert_eq(hl_check_relate_hlock(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_HLOCK);
	cr_assert(strstr(v.what, "after it halted"), "%s", v.what);
	hl_engine_free(e);
}

Test(oracle_broken, relate_hlock_touch_after_stranded)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);

	/* cpu 1 halts in smmu_free (owner not powered off) and keeps smmu locked */
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 2, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_free_pgd(e, 1, 2, 0), HL_HALT);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 3, vm, 0), HL_E_STRANDED);
	expect_pass(e);
	/* forge: the halting record is marked stranded one record early */
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0) == HL_E_STRANDED, 1);
	rec_at(e, HL_SMMU_ID, 1)->flags |= HL_RF_STRANDED;
	cr_assert_eq(hl_check_relate_hlock(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_HLOCK);
	cr_assert_eq(v.obj, HL_SMMU_ID);
	hl_engine_free(e);
}

Test(oracle_broken, security_vm_maps_a_page_it_does_not_own)
{
	struct hl_engine *e = th_engine(1);
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);

	/* a forged OMAP_VM: the VM's table gets a host page (the step itself does not check
	 * ownership; the handlers assign first) */
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x40, th_pfn(40)), HL_OK);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x40 * PG), th_pfn(40) * PG, 3), HL_OK);
	expect_pass(e);
	rec_at(e, HL_NPT_OBJ(vm), 1)->arg[2] = th_pfn(41) * PG;
	cr_assert_eq(hl_check_security(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_SECURITY);
	cr_assert(strstr(v.what, "owned by 0"), "%s", v.what);
	hl_engine_free(e);
}

Test(oracle_broken, security_catches_an_unchecked_caller)
{
	struct hl_engine *e = th_engine(1);
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);

	/* a real run where the caller skips assign_pfn_to_vm before OMAP_VM */
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x40 * PG), th_pfn(40) * PG, 3), HL_OK);
	cr_assert_eq(hl_check_all(live(e), &v, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_SECURITY, "%s: %s", hl_rel_name(v.rel), v.what);
	expect_file_violation(e, "unchecked_caller");
	hl_engine_free(e);
}

Test(oracle_broken, malformed_file_is_exit_2)
{
	const char *bin = getenv("HYPLOG");
	char cmd[600];
	FILE *f = fopen("/tmp/test_oracle_garbage.hlog", "wb");
	int st;

	if (!bin)
		return;
	cr_assert_not_null(f);
	fputs("HYPLOG\r\n not really", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "'%s' check /tmp/test_oracle_garbage.hlog >/dev/null 2>&1", bin);
	st = system(cmd);
	unlink("/tmp/test_oracle_garbage.hlog");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit %d", WEXITSTATUS(st));
}

/* ===================================================================================== */
/* fault injection: each switch is caught by its check                                      */

static void fault(enum hl_fault f, unsigned n)
{
	hl_fault_set(f, n);
}

static void faults_off(void)
{
	for (unsigned f = 0; f < HL_FAULT__COUNT; f++)
		hl_fault_set((enum hl_fault)f, 0);
}

TestSuite(oracle_fault, .fini = faults_off);

Test(oracle_fault, skip_lock_caught_by_relate_oracle)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);

	fault(HL_FAULT_SKIP_LOCK, 1);   /* map_io skips vminfo(vm), which it only reads */
	cr_assert_eq(hl_map_vm_io(e, 1, vm, hl_ipa(0x9000000), hl_pa(MMIO_PA(2))), HL_OK);
	faults_off();
	cr_assert_eq(hl_check_relate_oracle(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_ORACLE, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert(strstr(v.actual, "lock skipped"), "%s", v.actual);
	cr_assert_eq(v.cpu, 1);
	cr_assert_eq(hl_check_all(live(e), &v, NULL), 1);
	expect_file_violation(e, "skip_lock");
	hl_engine_free(e);
}

Test(oracle_fault, lock_order_caught_by_callock)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);

	fault(HL_FAULT_LOCK_ORDER, 1);   /* map_io takes s2page before vminfo(vm) */
	cr_assert_eq(hl_map_vm_io(e, 1, vm, hl_ipa(0x9000000), hl_pa(MMIO_PA(2))), HL_OK);
	faults_off();
	cr_assert_eq(hl_check_callock(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_CALLOCK);
	cr_assert(strstr(v.what, "global order"), "%s", v.what);
	cr_assert_eq(hl_check_all(live(e), &v, NULL), 1);
	expect_file_violation(e, "lock_order");
	hl_engine_free(e);
}

Test(oracle_fault, append_after_release_caught_by_relate_oracle)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;

	/* cpu 0's map_host builds the tables of a fresh 2 MiB region; its record lands after
	 * cpu 1's map_host next door, whose record (a leaf only) assumed those tables */
	fault(HL_FAULT_APPEND_LATE, 1);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	faults_off();
	cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(2) * PG)), HL_OK);
	cr_assert_eq(hl_check_relate_oracle(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_ORACLE);
	cr_assert_eq(v.cpu, 1);
	cr_assert_eq(hl_check_all(live(e), &v, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_ORACLE, "%s: %s", hl_rel_name(v.rel), v.what);
	expect_file_violation(e, "append_late");
	hl_engine_free(e);
}

Test(oracle_fault, dropped_record_caught_by_sync_shared)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;

	fault(HL_FAULT_DROP_RECORD, 2);
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(hl_map_host(e, (int)(i % 2), hl_pa(th_pfn(i) * PG)), HL_OK);
	faults_off();
	cr_assert_eq(hl_check_sync_shared(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_SYNC);
	cr_assert_eq(v.obj, HL_NPT_OBJ(0));
	cr_assert_eq(hl_check_all(live(e), &v, NULL), 1);
	expect_file_violation(e, "drop");
	hl_engine_free(e);
}

Test(oracle_fault, wrong_delta_caught_by_sync_shared)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);

	fault(HL_FAULT_WRONG_DELTA, 1);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 1, vm, 0x77, th_pfn(7)), HL_OK);
	faults_off();
	cr_assert_eq(hl_check_sync_shared(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_SYNC);
	cr_assert_eq(v.obj, HL_S2PAGE_ID);
	cr_assert_eq(hl_check_all(live(e), &v, NULL), 1);
	expect_file_violation(e, "wrong_delta");
	hl_engine_free(e);
}

Test(oracle_fault, halted_cpu_releasing_caught_by_relate_hlock)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 2, vm, 0), HL_OK);
	fault(HL_FAULT_HALT_RELEASE, 1);
	cr_assert_eq(hl_smmu_free_pgd(e, 1, 2, 0), HL_HALT);   /* keeps smmu: not with the fault */
	faults_off();
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 3, vm, 0), HL_OK);
	cr_assert_eq(hl_check_relate_hlock(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_HLOCK);
	cr_assert_eq(v.obj, HL_SMMU_ID);
	cr_assert_eq(v.cpu, 0);
	cr_assert_eq(hl_check_all(live(e), &v, NULL), 1);
	expect_file_violation(e, "halt_release");
	hl_engine_free(e);
}

Test(oracle_fault, reordered_records_caught_by_serializability)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);

	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(2) * PG)), HL_OK);
	/* appends: s2page(A), npt(A) <- held back, s2page(B), npt(B), npt(A) */
	fault(HL_FAULT_REORDER, 2);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 1, th_pfn(1)), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 1, vm, 2, th_pfn(2)), HL_OK);
	faults_off();
	cr_assert_eq(hl_check_serializable(live(e), &v, NULL, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_SERIAL);
	cr_assert_eq(hl_check_all(live(e), &v, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_SERIAL, "%s: %s", hl_rel_name(v.rel), v.what);
	expect_file_violation(e, "reorder");
	hl_engine_free(e);
}

/* ===================================================================================== */
/* issue 10: the relations as SPEC §10 states them, each shown failing                     */

/* the lock entry of `obj` in a record's list */
static struct hl_rdep *lock_entry(struct hl_rec *r, unsigned obj)
{
	struct hl_rdep *rd = (struct hl_rdep *)hl_rec_rdeps(r);
	for (unsigned j = 0; j < r->nlock; j++)
		if (rd[j].obj == obj)
			return &rd[j];
	cr_assert_fail("record of %u has no lock entry for %u", r->obj, obj);
	return NULL;
}

/* `hyplog check` on e's file: its exit status, and its stdout in out */
static int cli_check_out(struct hl_engine *e, const char *tag, char *out, size_t len)
{
	const char *bin = getenv("HYPLOG");
	char path[256], cmd[600];
	struct hl_file_err fe;
	size_t n = 0;
	FILE *p;
	int st;

	out[0] = 0;
	if (!bin)
		return -1;
	snprintf(path, sizeof(path), "/tmp/test_oracle_%d_%s.hlog", (int)getpid(), tag);
	cr_assert_eq(hl_file_write(e, path, &fe), 0, "%s", fe.msg);
	snprintf(cmd, sizeof(cmd), "'%s' check '%s' 2>&1", bin, path);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (n + 1 < len && fgets(out + n, (int)(len - n), p))
		n += strlen(out + n);
	st = pclose(p);
	unlink(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(oracle_relations, callock_written_object_missing_from_the_lock_list)
{
	struct hl_engine *e = th_engine(1);
	struct hl_verdict v;
	const struct hl_olog *lg;
	struct hl_rec *r;
	struct hl_rdep *self;
	uint32_t vm = th_new_vm(e, 0);

	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 1, th_pfn(1)), HL_OK);
	lg = live(e);
	cr_assert_eq(hl_check_callock(lg, &v), 0, "%s", v.what);
	/* the assign's npt(host) record: [s2page W, npt(0) W]; its own entry names spt instead */
	r = olog_rec(lg, HL_NPT_OBJ(0), 2);
	cr_assert_eq(r->event, HL_EV_ASSIGN_VM);
	self = lock_entry(r, HL_NPT_OBJ(0));
	self->obj = HL_SPT_ID;   /* still in the global order: s2page -> spt */
	cr_assert_eq(hl_check_callock(lg, &v), 1);
	cr_assert_eq(v.rel, HL_REL_CALLOCK);
	cr_assert_eq(v.obj, HL_NPT_OBJ(0));
	cr_assert(strstr(v.what, "missing from the acquisition list"), "%s", v.what);
	hl_engine_free(e);
}

Test(oracle_relations, callock_written_objects_locked_out_of_order)
{
	struct hl_engine *e = th_engine(1);
	struct hl_verdict v;
	const struct hl_olog *lg;
	uint32_t vm = th_new_vm(e, 0);

	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 1, th_pfn(1)), HL_OK);
	lg = live(e);
	/* both records of the assign list [s2page W, npt(0) W]: swap them, as an engine that
	 * locked npt(host) before s2page would log it (both objects are written: the old
	 * H_CalLock saw only read-only locks) */
	{
		struct hl_rec *rs[2] = { olog_rec(lg, HL_S2PAGE_ID, 1), olog_rec(lg, HL_NPT_OBJ(0), 2) };
		for (unsigned i = 0; i < 2; i++) {
			struct hl_rdep *rd = (struct hl_rdep *)hl_rec_rdeps(rs[i]), t;
			cr_assert_eq(rs[i]->nlock, 2);
			cr_assert_eq(rd[0].obj, HL_S2PAGE_ID);
			cr_assert(rd[0].flags & HL_RD_WRITTEN);
			cr_assert(rd[1].flags & HL_RD_WRITTEN);
			t = rd[0];
			rd[0] = rd[1];
			rd[1] = t;
		}
	}
	cr_assert_eq(hl_check_callock(lg, &v), 1);
	cr_assert_eq(v.rel, HL_REL_CALLOCK);
	cr_assert(strstr(v.what, "global order"), "%s", v.what);
	cr_assert(strstr(v.expected, "s2page before npt(0)"), "%s", v.expected);
	cr_assert_eq(hl_check_all(lg, &v, NULL), 1);
	hl_engine_free(e);
}

Test(oracle_relations, relate_oracle_own_event_seen_as_another_cpus)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	const struct hl_olog *lg;
	struct hl_rec *io;
	uint32_t vm = th_new_vm(e, 0);

	/* cpu 0: map_io reads s2page at seq 0, then assign writes s2page seq 1 */
	cr_assert_eq(hl_map_vm_io(e, 0, vm, hl_ipa(0x9000000), hl_pa(MMIO_PA(2))), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 1, th_pfn(1)), HL_OK);
	lg = live(e);
	cr_assert_eq(hl_check_relate_oracle(lg, &v), 0, "%s", v.what);
	io = olog_rec(lg, HL_NPT_OBJ(vm), 1);
	cr_assert_eq(io->event, HL_EV_MAP_IO);
	cr_assert_eq(lock_entry(io, HL_S2PAGE_ID)->seq, 0);
	cr_assert_eq(olog_rec(lg, HL_S2PAGE_ID, 1)->cpu, 0);
	/* the map_io claims it saw s2page seq 1: cpu 0's own later assign, between two of
	 * cpu 0's views, as if another CPU had appended it */
	lock_entry(io, HL_S2PAGE_ID)->seq = 1;
	cr_assert_eq(hl_check_relate_oracle(lg, &v), 1);
	cr_assert_eq(v.rel, HL_REL_ORACLE, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert_eq(v.cpu, 0);
	cr_assert(strstr(v.what, "its own event as another cpu's"), "%s", v.what);
	cr_assert(strstr(v.actual, "by cpu 0 itself"), "%s", v.actual);
	cr_assert_eq(hl_check_all(lg, &v, NULL), 1);
	hl_engine_free(e);
}

Test(oracle_relations, relate_hlock_step_reads_a_stranded_object)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	const struct hl_olog *lg;
	struct hl_rec *halt;
	uint32_t vm = th_new_vm(e, 0);
	unsigned nread = 0;

	/* cpu 0 allocates a bank and DMA-assigns a page through it (a read of smmu); cpu 1
	 * halts freeing the bank of a running VM and keeps smmu locked */
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 2, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 2, 0, th_pfn(20), 0x300), HL_OK);
	cr_assert_eq(hl_smmu_free_pgd(e, 1, 2, 0), HL_HALT);
	lg = live(e);
	cr_assert_eq(hl_check_all(lg, &v, NULL), 0, "%s: %s", hl_rel_name(v.rel), v.what);
	halt = olog_rec(lg, HL_SMMU_ID, 2);
	cr_assert(halt->flags & HL_RF_STRANDED);
	/* the assign claims it saw the stranded record: a step that locked what the halted
	 * CPU holds forever. No record follows the stranded one in smmu's log, so the old
	 * check (records after a stranded one) saw nothing */
	for (unsigned o = 1; o < HL_ID_END; o++)
		for (size_t i = 0; i < lg->obj[o].n; i++) {
			struct hl_rec *r = (struct hl_rec *)lg->obj[o].rec[i];
			if (r->event == HL_EV_ASSIGN_SMMU) {
				struct hl_rdep *rd = lock_entry(r, HL_SMMU_ID);
				cr_assert(hl_rdep_is_read(rd));
				rd->seq = 2;
				nread++;
			}
		}
	cr_assert_gt(nread, 0);
	cr_assert_eq(hl_check_relate_hlock(lg, &v), 1);
	cr_assert_eq(v.rel, HL_REL_HLOCK);
	cr_assert_eq(v.cpu, 0);
	cr_assert_eq(v.event, HL_EV_ASSIGN_SMMU);
	cr_assert(strstr(v.what, "read smmu"), "%s", v.what);
	cr_assert(strstr(v.what, "halted cpu 1 left locked"), "%s", v.what);
	hl_engine_free(e);
}

Test(oracle_relations, file_sequence_gap_is_exit_1_naming_h_callock)
{
	struct hl_engine *e = scripted(0);
	char out[4096];
	int rc;

	rec_at(e, HL_NPT_OBJ(0), 5)->seq = 7;   /* written with a valid checksum */
	rc = cli_check_out(e, "gap", out, sizeof(out));
	if (rc != -1 || getenv("HYPLOG")) {
		cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
		cr_assert(strstr(out, "VIOLATION of H_CalLock"), "%s", out);
		cr_assert(strstr(out, "not consecutive"), "%s", out);
	}
	/* and the oracle's parser reads it as a log, not a malformed file */
	{
		struct hl_verdict v;
		cr_assert_eq(hl_check_all(live(e), &v, NULL), 1);
		cr_assert_eq(v.rel, HL_REL_CALLOCK);
	}
	hl_engine_free(e);
}

Test(oracle_relations, file_delta_outside_its_object_is_exit_1_naming_sync_shared)
{
	struct hl_engine *e = scripted(0);
	struct hl_rec *r = rec_at(e, HL_CORE_ID, 1);
	struct hl_delta *d = (struct hl_delta *)hl_rec_first_delta(r);
	struct hl_verdict v;
	char out[4096];
	int rc;

	cr_assert_gt(r->ndelta, 0);
	d->off = 1u << 20;   /* core_data is 16 bytes */
	rc = cli_check_out(e, "oob", out, sizeof(out));
	if (rc != -1 || getenv("HYPLOG")) {
		cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
		cr_assert(strstr(out, "VIOLATION of sync_shared"), "%s", out);
		cr_assert(strstr(out, "outside the image of core"), "%s", out);
	}
	cr_assert_eq(hl_check_sync_shared(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_SYNC);
	cr_assert_eq(v.obj, HL_CORE_ID);
	hl_engine_free(e);
}

Test(oracle_relations, sync_shared_cleared_page_not_zeroed_in_ram)
{
	struct hl_engine *e = th_engine(1);
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);
	uint8_t *page;

	cr_assert_not_null(e->st->ram);
	page = e->st->ram + (th_pfn(3) - HL_RAM_BASE_PFN) * PG;
	memset(page, 0x5A, PG);   /* the host's data in the page it gives away */
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 3, th_pfn(3)), HL_OK);
	cr_assert_eq(hl_clear_vm_page(e, 0, vm, th_pfn(3)), HL_OK);
	expect_pass(e);   /* the page is zero, as flatmem says */
	/* a clear that does not zero: the VM's data stays in the page the host gets back */
	memset(page, 0xA5, 64);
	cr_assert_eq(hl_check_sync_shared(live(e), &v), 1);
	cr_assert_eq(v.rel, HL_REL_SYNC);
	cr_assert_eq(v.obj, HL_S2PAGE_ID);
	cr_assert(strstr(v.what, "was zeroed, it was not"), "%s", v.what);
	cr_assert_eq(hl_check_all(live(e), &v, NULL), 1);
	/* a file has no page memory: the same log passes sync_shared there (a live check's job) */
	hl_engine_free(e);
}

/* H13: a forged log where OCLEAR_VM read vminfo(vmid) while vCPU 0 was still ACTIVE in the
 * powered-off VM (its read names the OVM_POWEROFF record, before vCPU 0's OVM_INACTIVE):
 * the linearization puts the clear before the exit, where the model refuses it */
Test(oracle_relations, relate_log_clear_while_a_vcpu_is_in_the_guest)
{
	struct hl_engine *e = th_engine(2);
	uint64_t base = HL_RAM_BASE_PFN + 2048, off_seq;
	uint32_t vm = th_boot_vm(e, 0, base, 0x80000000ull);
	struct hl_verdict v;
	struct hl_rdep *rd;
	struct hl_rec *r;

	cr_assert_neq(vm, 0);
	cr_assert_eq(hl_set_vcpu_active(e, 1, vm, 0), HL_OK);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, vm), HL_OK);
	cr_assert_eq(hl_clear_vm_page(e, 0, vm, base), HL_E_DENIED);   /* the engine refuses */
	off_seq = th_nrecs(e, HL_INFO_OBJ(vm));
	cr_assert_eq(hl_set_vcpu_inactive(e, 1, vm, 0), HL_OK);
	cr_assert_eq(hl_clear_vm_page(e, 0, vm, base), HL_OK);
	expect_pass(e);
	r = rec_at(e, HL_S2PAGE_ID, th_nrecs(e, HL_S2PAGE_ID));
	cr_assert_eq(r->event, HL_EV_CLEAR_VM);
	rd = (struct hl_rdep *)hl_rec_rdeps(r);
	cr_assert_eq(rd[0].obj, HL_INFO_OBJ(vm));
	cr_assert_eq(rd[0].seq, off_seq + 1, "the clear read vminfo after the exit");
	rd[0].seq = off_seq;   /* forged: read before the exit, vCPU 0 ACTIVE */
	cr_assert_eq(hl_check_all(live(e), &v, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_LOG, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert_eq(v.obj, HL_S2PAGE_ID, "%s", v.what);
	hl_engine_free(e);
}

Test(oracle_relations, security_broken_between_two_checkpoints)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	struct hl_check_stats st;
	struct hl_verdict v;
	uint32_t vm;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = 1;
	cfg.ckpt_every = 4;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	vm = th_new_vm(e, 0);
	for (unsigned i = 0; i < 9; i++)   /* npt(host) is cut at seq 4 and 8 */
		cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(i) * PG)), HL_OK);
	/* a caller that maps a host page into the VM before assigning it: the invariant "a
	 * VM's table maps RAM only that VM owns" is false until the assign below */
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x40 * PG), th_pfn(40) * PG, 3), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x40, th_pfn(40)), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(20) * PG)), HL_OK);
	{
		/* the log has checkpoint cuts, the final state is clean */
		const struct hl_olog *lg = live(e);
		cr_assert_gt(lg->obj[HL_NPT_OBJ(0)].snap_seq, 0);
		cr_assert_eq(hl_check_security(lg, &v), 1, "the violation between the cuts is missed");
		cr_assert_eq(v.rel, HL_REL_SECURITY);
		cr_assert_eq(v.event, HL_EV_MAP_VM, "%s", v.what);
		cr_assert(strstr(v.what, "after OMAP_VM"), "%s", v.what);
		cr_assert_eq(hl_check_all(lg, &v, &st), 1);
		cr_assert_eq(v.rel, HL_REL_SECURITY, "%s: %s", hl_rel_name(v.rel), v.what);
		cr_assert_gt(st.inv_steps, 0);
	}
	expect_file_violation(e, "between_ckpts");
	hl_engine_free(e);
}

Test(oracle_relations, security_after_cuts_covers_the_consistent_part)
{
	struct hl_engine *e = scripted(3);
	struct hl_check_stats st;
	struct hl_verdict v;

	/* no false alarm from snapshots cut at different times (they are one state only
	 * from the consistent cut on); every step is either before it or checked */
	cr_assert_eq(hl_check_all(live(e), &v, &st), 0, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert_gt(st.cut_ops, 0, "the log has cuts: some steps precede the consistent cut");
	cr_assert_eq(st.cut_ops + st.inv_steps, st.ops);
	hl_engine_free(e);
}

Test(oracle_relations, init_state_compares_the_seq0_images)
{
	struct hl_engine *e = th_engine(1);
	struct hl_verdict v;
	struct hl_check_stats st;
	const struct hl_olog *lg;

	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	lg = live(e);
	cr_assert(lg->has_init);
	cr_assert_eq(hl_check_all(lg, &v, &st), 0, "%s", v.what);
	cr_assert(st.init_checked);
	((uint8_t *)lg->obj[HL_CORE_ID].init)[0] ^= 1;   /* next_vmid of the seq-0 core */
	cr_assert_eq(hl_check_init(lg, &v), 1);
	cr_assert_eq(v.rel, HL_REL_INIT);
	cr_assert_eq(v.obj, HL_CORE_ID);
	hl_engine_free(e);
}

Test(oracle_relations, verify_verdict_is_recomputed_not_read)
{
	struct hl_engine *e = scripted(0);
	struct hl_verdict v;
	const struct hl_olog *lg = live(e);
	struct hl_rec *r = NULL;

	for (unsigned o = HL_INFO_ID; o < HL_ID_END && !r; o++)
		for (size_t i = 0; i < lg->obj[o].n; i++)
			if (lg->obj[o].rec[i]->event == HL_EV_VERIFY && lg->obj[o].rec[i]->dorc == 1)
				r = (struct hl_rec *)lg->obj[o].rec[i];
	cr_assert_not_null(r, "the scripted run verifies a VM");
	cr_assert_geq(r->blob_len, 32);
	/* the record still says "verified"; the digest it carries no longer matches the signature */
	((uint8_t *)hl_rec_blob(r))[0] ^= 0xFF;
	cr_assert_eq(hl_check_relate_log(lg, &v), 1);
	cr_assert(v.rel == HL_REL_LOG, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert_eq(v.event, HL_EV_VERIFY, "%s", v.what);
	hl_engine_free(e);
}

Test(oracle_relations, serializability_names_the_cycle)
{
	struct hl_engine *e = th_engine(2);
	struct hl_verdict v;
	const struct hl_olog *lg;
	struct hl_rec *a, *b;
	uint64_t tmp;
	uint32_t vm = th_new_vm(e, 0);

	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(2) * PG)), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 1, th_pfn(1)), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 1, vm, 2, th_pfn(2)), HL_OK);
	lg = live(e);
	a = olog_rec(lg, HL_NPT_OBJ(0), 3);
	b = olog_rec(lg, HL_NPT_OBJ(0), 4);
	tmp = a->op;
	a->op = b->op;
	b->op = tmp;
	cr_assert_eq(hl_check_serializable(lg, &v, NULL, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_SERIAL);
	cr_assert(strstr(v.what, "a cycle of"), "%s", v.what);
	cr_assert(strstr(v.what, "npt(0) log") || strstr(v.what, "s2page log"), "the edges are named: %s", v.what);
	cr_assert(strstr(v.what, "OASSIGN_VM"), "%s", v.what);
	hl_engine_free(e);
}

/* the bytes of the file hl_file_write writes for e (malloc'd), its length into *n */
static uint8_t *file_bytes(struct hl_engine *e, size_t *n)
{
	char path[64];
	struct hl_file_err fe;
	uint8_t *buf;
	long len;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/test_oracle_bytes_%d.hlog", (int)getpid());   /* tests run in parallel */
	cr_assert_eq(hl_file_write(e, path, &fe), 0, "%s", fe.msg);
	f = fopen(path, "rb");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	unlink(path);
	*n = (size_t)len;
	return buf;
}

Test(oracle_relations, malformed_file_names_the_offset)
{
	struct hl_engine *e = scripted(0);
	struct hl_olog lg;
	struct hl_olog_err err;
	size_t n;
	uint8_t *buf = file_bytes(e, &n);

	cr_assert_eq(hl_olog_parse(&lg, buf, (size_t)n, &err), 0, "%s", err.msg);
	hl_olog_free(&lg);
	/* a byte of the last record (just before the 32-byte trailer) */
	buf[n - 40] ^= 0x10;
	cr_assert_eq(hl_olog_parse(&lg, buf, (size_t)n, &err), -1);
	cr_assert(strstr(err.msg, "checksum"), "%s", err.msg);
	cr_assert_gt(err.offset, 0);
	cr_assert_lt(err.offset, (uint64_t)n - 32);
	/* truncated */
	buf[n - 40] ^= 0x10;
	cr_assert_eq(hl_olog_parse(&lg, buf, (size_t)n - 5, &err), -1);
	cr_assert(strstr(err.msg, "truncated") || strstr(err.msg, "trailer"), "%s", err.msg);
	free(buf);
	hl_engine_free(e);
}

Test(oracle_relations, crosscheck_engine_calstateh_against_the_oracle_replay)
{
	struct hl_engine *e = scripted(0);
	struct hl_state *calh = hl_state_new(false);
	struct hl_model *final = NULL;
	struct hl_replay_err err;
	struct hl_verdict v;
	char msg[300];

	cr_assert_not_null(calh);
	cr_assert_eq(hl_check_all_final(live(e), &v, NULL, &final), 0, "%s", v.what);
	cr_assert_not_null(final);
	cr_assert_eq(hl_calstateh(e, calh, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(hl_osrc_compare(calh, final, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(hl_osrc_crosscheck(e, final, msg, sizeof(msg)), 0, "%s", msg);
	/* a CalStateH that ends elsewhere (one s2page owner) is named */
	calh->s2p->page[th_pfn(9) - HL_RAM_BASE_PFN].owner ^= 3;
	cr_assert_eq(hl_osrc_compare(calh, final, msg, sizeof(msg)), 1);
	cr_assert(strstr(msg, "differ at"), "%s", msg);
	hl_model_free(final);
	hl_state_free(calh);
	hl_engine_free(e);
}

Test(oracle_relations, callock_record_carries_what_its_event_has_not)
{
	struct hl_engine *e = th_engine(1);
	struct hl_verdict v;
	const struct hl_olog *lg;
	struct hl_rec *r;

	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	lg = live(e);
	cr_assert_eq(hl_check_callock(lg, &v), 0, "%s", v.what);
	r = olog_rec(lg, HL_NPT_OBJ(0), 1);
	r->arg[2] = 7;   /* OMAP_HOST has one argument */
	cr_assert_eq(hl_check_callock(lg, &v), 1);
	cr_assert(strstr(v.what, "an argument its event does not have"), "%s", v.what);
	r->arg[2] = 0;
	r->dorc = 1;     /* and no data-oracle value */
	cr_assert_eq(hl_check_callock(lg, &v), 1);
	cr_assert(strstr(v.what, "data-oracle value"), "%s", v.what);
	r->dorc = 0;
	((struct hl_rdep *)hl_rec_rdeps(r))[0].pad1 = 1;   /* padding of a lock entry */
	cr_assert_eq(hl_check_callock(lg, &v), 1);
	cr_assert(strstr(v.what, "padding"), "%s", v.what);
	hl_engine_free(e);
}

Test(oracle_relations, security_after_a_quiescent_cut_covers_every_step)
{
	struct hl_engine *e = th_engine(1);
	struct hl_olog lg;
	struct hl_olog_err err;
	struct hl_check_stats st;
	struct hl_verdict v;
	uint32_t vm = th_new_vm(e, 0);

	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(i) * PG)), HL_OK);
	/* every log cut at one quiescent point (what the live checker's windows do); core and
	 * vminfo(vm) are never touched again, so nothing is provably after their cuts */
	cr_assert_gt(hl_engine_checkpoint_all(e), 2);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x40 * PG), th_pfn(40) * PG, 3), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x40, th_pfn(40)), HL_OK);
	/* a file's cuts: the transient violation is before any provably consistent state */
	cr_assert_eq(hl_osrc_engine(e, HL_OSRC_LIVE, &lg, &err), 0, "%s", err.msg);
	cr_assert_eq(hl_check_all(&lg, &v, &st), 0, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert_eq(st.inv_steps, 0);
	hl_olog_free(&lg);
	/* the same log from a source that vouches for its cut: every step is checked */
	cr_assert_eq(hl_osrc_engine(e, HL_OSRC_LIVE | HL_OSRC_CUT_CONSISTENT, &lg, &err), 0, "%s", err.msg);
	cr_assert_eq(hl_check_security(&lg, &v), 1);
	cr_assert_eq(v.rel, HL_REL_SECURITY);
	cr_assert_eq(v.event, HL_EV_MAP_VM, "%s", v.what);
	hl_olog_free(&lg);
	hl_engine_free(e);
}

/* SPEC 7's run flow at a quiesced source: a vCPU left ACTIVE with every trap returned (an
 * OVM_INACTIVE that wrote nothing appends no record, so only the state can show it);
 * a CPU that halted inside its run may leave one */
Test(oracle_relations, security_vcpu_active_once_every_trap_returned)
{
	struct hl_engine *e = th_engine(2);
	struct hl_olog lg;
	struct hl_olog_err err;
	struct hl_verdict v;
	uint32_t vm = th_boot_vm(e, 0, HL_RAM_BASE_PFN + 2048, 0x80000000ull);

	cr_assert_neq(vm, 0);
	cr_assert_eq(hl_set_vcpu_active(e, 1, vm, 0), HL_OK);
	/* a source that does not vouch for quiescence: CPU 1 may still be in the guest */
	cr_assert_eq(hl_osrc_engine(e, HL_OSRC_LIVE, &lg, &err), 0, "%s", err.msg);
	cr_assert_eq(hl_check_all(&lg, &v, NULL), 0, "%s: %s", hl_rel_name(v.rel), v.what);
	hl_olog_free(&lg);
	cr_assert_eq(hl_osrc_engine(e, HL_OSRC_LIVE | HL_OSRC_QUIESCED, &lg, &err), 0, "%s", err.msg);
	cr_assert_eq(hl_check_all(&lg, &v, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_SECURITY, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert_eq(v.obj, HL_INFO_OBJ(vm));
	cr_assert(strstr(v.what, "vCPU 0 of VM"), "%s", v.what);
	hl_olog_free(&lg);
	/* the run ends: holds */
	cr_assert_eq(hl_set_vcpu_inactive(e, 1, vm, 0), HL_OK);
	cr_assert_eq(hl_osrc_engine(e, HL_OSRC_LIVE | HL_OSRC_QUIESCED, &lg, &err), 0, "%s", err.msg);
	cr_assert_eq(hl_check_all(&lg, &v, NULL), 0, "%s: %s", hl_rel_name(v.rel), v.what);
	hl_olog_free(&lg);
	/* CPU 1 halts inside a run (a second OVM_ACTIVE of the running vCPU): one vCPU may stay */
	cr_assert_eq(hl_set_vcpu_active(e, 1, vm, 0), HL_OK);
	cr_assert_eq(hl_set_vcpu_active(e, 1, vm, 0), HL_HALT);
	cr_assert_eq(hl_osrc_engine(e, HL_OSRC_LIVE | HL_OSRC_QUIESCED, &lg, &err), 0, "%s", err.msg);
	cr_assert_eq(hl_check_all(&lg, &v, NULL), 0, "%s: %s", hl_rel_name(v.rel), v.what);
	hl_olog_free(&lg);
	/* a second vCPU ACTIVE on the CPU that did not halt: too many */
	cr_assert_eq(hl_set_vcpu_active(e, 0, vm, 1), HL_OK);
	cr_assert_eq(hl_osrc_engine(e, HL_OSRC_LIVE | HL_OSRC_QUIESCED, &lg, &err), 0, "%s", err.msg);
	cr_assert_eq(hl_check_all(&lg, &v, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_SECURITY, "%s: %s", hl_rel_name(v.rel), v.what);
	hl_olog_free(&lg);
	hl_engine_free(e);
}

/* a halt that strands a VM's vminfo lock: every CPU running one of its vCPUs cannot end its
 * run (OVM_INACTIVE takes that lock; SPEC: it waits forever, the engine: HL_E_STRANDED and
 * the VCPU_RUN returns with the vCPU ACTIVE). Those vCPUs are no run-flow violation; another
 * VM's vCPUs left ACTIVE still are. Before the fix the first check failed (2 ACTIVE, 1 halted) */
Test(oracle_relations, security_vcpus_of_a_vm_whose_vminfo_a_halt_stranded_are_excused)
{
	struct hl_engine *e = th_engine(3);
	struct hl_olog lg;
	struct hl_olog_err err;
	struct hl_verdict v;
	uint32_t vm = th_boot_vm(e, 0, HL_RAM_BASE_PFN + 2048, 0x80000000ull);
	uint32_t vm2 = th_boot_vm(e, 0, HL_RAM_BASE_PFN + 2048 + 512, 0x80000000ull);

	cr_assert(vm && vm2);
	cr_assert_eq(hl_set_vcpu_active(e, 0, vm, 0), HL_OK);
	cr_assert_eq(hl_set_vcpu_active(e, 2, vm, 1), HL_OK);
	/* the host on CPU 1 maps IO into the VERIFIED VM: SPEC halts, vminfo(vm) stranded */
	cr_assert_eq(hl_map_vm_io(e, 1, vm, hl_ipa(0x9000000), hl_pa(0x0A000000ull + 2 * HL_PAGE_SIZE)), HL_HALT);
	cr_assert_eq(hl_set_vcpu_inactive(e, 0, vm, 0), HL_E_STRANDED);
	cr_assert_eq(hl_set_vcpu_inactive(e, 2, vm, 1), HL_E_STRANDED);
	cr_assert_eq(hl_osrc_engine(e, HL_OSRC_LIVE | HL_OSRC_QUIESCED, &lg, &err), 0, "%s", err.msg);
	cr_assert_eq(hl_check_all(&lg, &v, NULL), 0, "%s: %s", hl_rel_name(v.rel), v.what);
	hl_olog_free(&lg);
	/* two vCPUs of the other VM left ACTIVE by CPUs that did not halt: caught */
	cr_assert_eq(hl_set_vcpu_active(e, 0, vm2, 0), HL_OK);
	cr_assert_eq(hl_set_vcpu_active(e, 2, vm2, 1), HL_OK);
	cr_assert_eq(hl_osrc_engine(e, HL_OSRC_LIVE | HL_OSRC_QUIESCED, &lg, &err), 0, "%s", err.msg);
	cr_assert_eq(hl_check_all(&lg, &v, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_SECURITY, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert_eq(v.obj, HL_INFO_OBJ(vm2), "%s", v.what);
	hl_olog_free(&lg);
	hl_engine_free(e);
}

/* ===================================================================================== */
/* the shard refinement (issue 11): shards mapped back to SPEC's objects                   */

#define SHARD_PAGES 512u   /* 64 MiB of RAM: 32 s2page shards */

Test(oracle_shards, sharded_scripted_run_passes_every_check)
{
	struct hl_engine *e = scripted_sharded(0, SHARD_PAGES);
	const struct hl_olog *lg = live(e);

	cr_assert_gt(lg->nshards, 1, "the run has s2page shards");
	cr_assert(lg->ab[HL_S2PAGE_ID].refined && !lg->ab[HL_S2PAGE_ID].residual);
	cr_assert_eq(lg->obj[HL_S2PAGE_ID].size, 0, "a fully sharded s2page has no log of its own");
	expect_pass(e);
	expect_file_pass(e, "sharded");
	hl_engine_free(e);
}

Test(oracle_shards, sharded_run_with_checkpoints_passes)
{
	struct hl_engine *e = scripted_sharded(3, SHARD_PAGES);
	expect_pass(e);
	expect_file_pass(e, "sharded_ckpt");
	hl_engine_free(e);
}

/* random runs with s2page in shards: the mix touches pages across many shards */
Test(oracle_shards, random_2cpu_shards) { random_run_sharded(2, 0, 0, 21, SHARD_PAGES); }
Test(oracle_shards, random_4cpu_small_shards_checkpoints) { random_run_sharded(4, 0, 7, 22, 1024); }
Test(oracle_shards, random_2cpu_shards_chaos_halts) { random_run_sharded(2, 6, 0, 23, SHARD_PAGES); }
Test(oracle_shards, random_4cpu_shards_chaos_halts_checkpoints) { random_run_sharded(4, 5, 32, 24, SHARD_PAGES); }

Test(oracle_shards, one_shard_is_specs_layout)
{
	struct hl_engine *e = scripted_sharded(0, HL_RAM_PAGES);
	const struct hl_olog *lg = live(e);

	cr_assert_eq(lg->nshards, 0);
	cr_assert(!lg->ab[HL_S2PAGE_ID].refined);
	cr_assert_gt(lg->obj[HL_S2PAGE_ID].n, 0);
	expect_pass(e);
	hl_engine_free(e);
}

/* ---- the map in the file ------------------------------------------------------------------ */
/* the file layout of engine/hl_file.c (version 6+): the map block right after the header */
#define MAP_AT(buf) (*(const uint32_t *)((buf) + 12))   /* the header's hdr_len */


/* the k-th entry of the map block: {u16 id, parent, nranges, flags}, then {u64 off, len} x n */
static uint8_t *map_entry(uint8_t *buf, unsigned k)
{
	uint8_t *p = buf + MAP_AT(buf) + 16;
	for (unsigned i = 0; i < k; i++)
		p += 8 + 16u * ((const uint16_t *)p)[2];
	return p;
}

static uint64_t *map_range(uint8_t *buf, unsigned k, unsigned r)
{
	return (uint64_t *)(map_entry(buf, k) + 8 + 16u * r);   /* [0] off, [1] len */
}

static void map_fix_crc(uint8_t *buf)
{
	uint32_t *m = (uint32_t *)(buf + MAP_AT(buf));   /* magic, nshards, bytes, crc */
	m[3] = (uint32_t)crc32(0L, buf + MAP_AT(buf) + 16, m[2]);
}

/* parse and check a file image; the CLI on the same bytes (exit status, its stdout) */
static int check_bytes(const uint8_t *buf, size_t n, struct hl_verdict *v, int *cli_rc, char *out, size_t len)
{
	const char *bin = getenv("HYPLOG");
	const char *path = "/tmp/test_oracle_map_cli.hlog";
	struct hl_olog lg;
	struct hl_olog_err err;
	int rc;

	*cli_rc = -1;
	out[0] = 0;
	if (hl_olog_parse(&lg, buf, n, &err)) {
		snprintf(v->what, sizeof(v->what), "parse: %s", err.msg);
		v->rel = HL_REL_ERROR;
		rc = -2;
	} else {
		rc = hl_check_all(&lg, v, NULL);
		hl_olog_free(&lg);
	}
	if (bin) {
		char cmd[600];
		size_t got = 0;
		FILE *f = fopen(path, "wb"), *p;
		cr_assert_not_null(f);
		cr_assert_eq(fwrite(buf, 1, n, f), n);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "'%s' check --no-crosscheck '%s' 2>&1", bin, path);
		p = popen(cmd, "r");
		cr_assert_not_null(p);
		while (got + 1 < len && fgets(out + got, (int)(len - got), p))
			got += strlen(out + got);
		*cli_rc = pclose(p);
		*cli_rc = WIFEXITED(*cli_rc) ? WEXITSTATUS(*cli_rc) : -1;
		unlink(path);
	}
	return rc;
}

static void expect_bad_map(uint8_t *buf, size_t n, const char *what)
{
	struct hl_verdict v;
	char out[4096];
	int cli;

	map_fix_crc(buf);   /* a well-formed block: only its meaning is wrong */
	cr_assert_eq(check_bytes(buf, n, &v, &cli, out, sizeof(out)), 1, "%s: %s", what, v.what);
	cr_assert_eq(v.rel, HL_REL_CALLOCK, "%s: %s: %s", what, hl_rel_name(v.rel), v.what);
	cr_assert(strstr(v.what, "refinement map"), "%s", v.what);
	cr_assert(strstr(v.what, what), "expected \"%s\" in: %s", what, v.what);
	if (cli != -1 || getenv("HYPLOG")) {
		cr_assert_eq(cli, 1, "`hyplog check` exited %d: %s", cli, out);
		cr_assert(strstr(out, "VIOLATION of H_CalLock") && strstr(out, what), "%s", out);
	}
}

Test(oracle_shards, corrupt_map_is_a_violation_not_a_crash)
{
	struct hl_engine *e = scripted_sharded(0, SHARD_PAGES);
	const uint64_t L = SHARD_PAGES * sizeof(struct hl_s2page);
	struct hl_verdict v;
	char out[4096];
	size_t n;
	uint8_t *clean = file_bytes(e, &n), *buf = malloc(n);
	unsigned ns;
	int cli;

	ns = ((const uint32_t *)(clean + MAP_AT(clean)))[1];
	cr_assert_eq(ns, HL_RAM_PAGES / SHARD_PAGES);
	cr_assert_eq(check_bytes(clean, n, &v, &cli, out, sizeof(out)), 0, "clean: %s: %s", hl_rel_name(v.rel), v.what);
	/* two shards own one byte */
	memcpy(buf, clean, n);
	map_range(buf, 1, 0)[0] -= sizeof(struct hl_s2page);
	expect_bad_map(buf, n, "both own byte");
	/* a gap in the fully sharded s2page (shard 0's sizes still add up) */
	memcpy(buf, clean, n);
	cr_assert_eq(map_range(buf, 0, 0)[1], L);
	map_range(buf, 0, 0)[1] -= sizeof(struct hl_s2page);
	map_range(buf, 0, 1)[1] += sizeof(struct hl_s2page);
	expect_bad_map(buf, n, "belong to no shard");
	/* a range past the end of s2page's image */
	memcpy(buf, clean, n);
	map_range(buf, ns - 1, 1)[0] += 8;
	expect_bad_map(buf, n, "whose image has");
	/* an id that is not a shard's */
	memcpy(buf, clean, n);
	((uint16_t *)map_entry(buf, 0))[0] = HL_NPT_OBJ(1);
	expect_bad_map(buf, n, "not a shard ID");
	/* a parent that is not a SPEC object */
	memcpy(buf, clean, n);
	((uint16_t *)map_entry(buf, 2))[1] = HL_ID_END + 5;
	expect_bad_map(buf, n, "not a SPEC object");
	/* a shard of an object the file logs on its own, which the map says keeps no residual */
	memcpy(buf, clean, n);
	((uint16_t *)map_entry(buf, 2))[1] = HL_CORE_ID;
	expect_bad_map(buf, n, "the map says core keeps no residual log");
	/* the residual flag where s2page has no log of its own */
	memcpy(buf, clean, n);
	for (unsigned k = 0; k < ns; k++)
		((uint16_t *)map_entry(buf, k))[3] = 1;
	expect_bad_map(buf, n, "the map says s2page keeps a residual log");
	/* shard ids out of address order */
	memcpy(buf, clean, n);
	{
		uint64_t t[2][2];
		memcpy(t[0], map_range(buf, 3, 0), 16);
		memcpy(t[1], map_range(buf, 3, 1), 16);
		memcpy(map_range(buf, 3, 0), map_range(buf, 4, 0), 16);
		memcpy(map_range(buf, 3, 1), map_range(buf, 4, 1), 16);
		memcpy(map_range(buf, 4, 0), t[0], 16);
		memcpy(map_range(buf, 4, 1), t[1], 16);
	}
	expect_bad_map(buf, n, "must ascend with their addresses");
	/* a broken block (checksum) is a malformed file: exit 2, not a verdict */
	memcpy(buf, clean, n);
	map_range(buf, 0, 0)[1] += 1;
	cr_assert_eq(check_bytes(buf, n, &v, &cli, out, sizeof(out)), -2);
	cr_assert(strstr(v.what, "refinement map checksum"), "%s", v.what);
	if (cli != -1 || getenv("HYPLOG"))
		cr_assert_eq(cli, 2, "%s", out);
	/* no crash, whatever the entries say (checksums fixed: the parser and the checks see them) */
	srand(7);
	for (unsigned i = 0; i < 300; i++) {
		struct hl_olog lg;
		struct hl_olog_err err;
		uint32_t bytes = ((const uint32_t *)(clean + MAP_AT(clean)))[2];
		memcpy(buf, clean, n);
		for (unsigned j = 0; j < 1 + (unsigned)rand() % 4; j++)
			buf[MAP_AT(buf) + 16 + (unsigned)rand() % bytes] ^= (uint8_t)(1u << (rand() % 8));
		map_fix_crc(buf);
		if (hl_olog_parse(&lg, buf, n, &err) == 0) {
			int r = hl_check_all(&lg, &v, NULL);
			cr_assert(r == 0 || r == 1, "a corrupt map made the checks fail to run: %s", v.what);
			hl_olog_free(&lg);
		}
	}
	free(buf);
	free(clean);
	hl_engine_free(e);
}

/* ---- forged shard logs ---------------------------------------------------------------------- */
/* every record of the operation `op` (one lock list per step) */
static unsigned op_records(const struct hl_olog *lg, uint64_t op, struct hl_rec **out, unsigned max)
{
	unsigned n = 0;
	for (unsigned o = 1; o < lg->id_end; o++)
		for (size_t i = 0; i < lg->obj[o].n; i++)
			if (lg->obj[o].rec[i]->op == op && n < max)
				out[n++] = (struct hl_rec *)lg->obj[o].rec[i];
	return n;
}

/* rename lock entry `from` to `to` (seq `seq`) in every record of r's step */
static void relock(const struct hl_olog *lg, const struct hl_rec *r, unsigned from, unsigned to, uint64_t seq)
{
	struct hl_rec *recs[16];
	unsigned n = op_records(lg, r->op, recs, 16);
	for (unsigned i = 0; i < n; i++) {
		struct hl_rdep *d = lock_entry(recs[i], from);
		d->obj = (uint16_t)to;
		d->seq = seq;
	}
}

/* the first record of event ev in lock object o's log, or NULL */
static struct hl_rec *first_of(const struct hl_olog *lg, unsigned o, unsigned ev)
{
	for (size_t i = 0; i < lg->obj[o].n; i++)
		if (lg->obj[o].rec[i]->event == ev)
			return (struct hl_rec *)lg->obj[o].rec[i];
	return NULL;
}

/* an s2page shard with no records in lg (a log the forgeries below can start) */
static unsigned empty_shard(const struct hl_olog *lg)
{
	for (unsigned id = lg->id_end; id-- > HL_ID_END;)
		if (hl_olog_parent(lg, id) == HL_S2PAGE_ID && lg->obj[id].size && !lg->obj[id].n)
			return id;
	cr_assert_fail("no empty s2page shard");
	return 0;
}

Test(oracle_shards, forged_shard_write_in_another_shards_log)
{
	struct hl_engine *e = scripted_sharded(0, SHARD_PAGES);
	const struct hl_olog *lg;
	struct hl_olog_obj *from, *to;
	struct hl_rec *r;
	const struct hl_rec **one = malloc(sizeof(*one));
	unsigned k2;
	struct hl_verdict v;
	char sn[24];

	expect_pass(e);
	lg = live(e);
	k2 = empty_shard(lg);
	from = (struct hl_olog_obj *)&lg->obj[HL_S2P_SHARD(0)];
	r = (struct hl_rec *)from->rec[from->n - 1];
	cr_assert_gt(r->ndelta, 0);
	/* shard 0's last record, with its deltas (shard-local offsets) as they are, appended to
	 * an empty shard's log instead, its lock list renamed to match: a well-formed log whose
	 * bytes land in another shard's range of s2page */
	to = (struct hl_olog_obj *)&lg->obj[k2];
	relock(lg, r, HL_S2P_SHARD(0), k2, 1);
	from->n--;
	r->obj = (uint16_t)k2;
	r->seq = 1;
	one[0] = r;
	to->rec = one;
	to->n = 1;
	cr_assert_eq(hl_check_callock(lg, &v), 0, "the forgery is a well-formed log: %s", v.what);
	/* Cal<s2page> composed from the shards is not the live s2page */
	cr_assert_eq(hl_check_all(lg, &v, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_SYNC, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert(strstr(v.what, "Cal<s2page>"), "%s", v.what);
	/* and re-executed, the step changes a page of shard 0 it holds no lock of */
	cr_assert_eq(hl_check_relate_oracle(lg, &v), 1);
	cr_assert_eq(v.rel, HL_REL_ORACLE, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert(strstr(v.what, hl_obj_name(HL_S2P_SHARD(0), sn, sizeof(sn))) && strstr(v.what, "without that shard's lock"),
		  "%s", v.what);
	free(one);
	hl_engine_free(e);
}

Test(oracle_shards, shards_locked_out_of_order)
{
	struct hl_engine *e = scripted_sharded(0, SHARD_PAGES);
	const struct hl_olog *lg = live(e);
	struct hl_rec *recs[16], *r = NULL;
	struct hl_verdict v;
	unsigned n;

	/* OSMMU_FREE takes every s2page shard (the bank's pages are known only under spt) */
	for (unsigned o = 1; o < lg->id_end && !r; o++)
		r = first_of(lg, o, HL_EV_SMMU_FREE);
	cr_assert_not_null(r);
	n = op_records(lg, r->op, recs, 16);
	for (unsigned i = 0; i < n; i++) {
		struct hl_rdep *a = lock_entry(recs[i], HL_S2P_SHARD(3)), *b = lock_entry(recs[i], HL_S2P_SHARD(4)), t;
		cr_assert_eq(b, a + 1, "shards 3 and 4 are adjacent in the list");
		t = *a;
		*a = *b;
		*b = t;
	}
	cr_assert_eq(hl_check_all(lg, &v, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_CALLOCK, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert(strstr(v.what, "out of the global order") && strstr(v.what, "shards ascending"), "%s", v.what);
	cr_assert(strstr(v.expected, "s2page[3] before s2page[4]"), "%s", v.expected);
	hl_engine_free(e);
}

Test(oracle_shards, step_reads_a_page_without_its_shard)
{
	struct hl_engine *e = th_engine_sharded(1, SHARD_PAGES);
	const struct hl_olog *lg;
	struct hl_rec *r;
	struct hl_verdict v;
	unsigned k2;

	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(600) * PG)), HL_OK);   /* shard 1 */
	expect_pass(e);
	lg = live(e);
	/* OMAP_HOST reads s2page[pfn] under shard 1: its lock entry names an untouched shard */
	r = first_of(lg, HL_NPT_OBJ(0), HL_EV_MAP_HOST);
	cr_assert_not_null(r);
	k2 = empty_shard(lg);
	cr_assert_eq(lock_entry(r, HL_S2P_SHARD(1))->seq, 0);
	relock(lg, r, HL_S2P_SHARD(1), k2, 0);
	cr_assert_eq(hl_check_all(lg, &v, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_ORACLE, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert(strstr(v.what, "read s2page[") && strstr(v.what, "s2page[1]") &&
		  strstr(v.what, "without that shard's lock"), "%s", v.what);
	hl_engine_free(e);
}

/* the live checker follows every log, shards included, and cuts them all in its windows */
Test(oracle_shards, live_checker_follows_and_cuts_shard_logs, .timeout = 60)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	struct hl_live *lv;
	struct hl_live_report rep;
	uint32_t vm;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = 2;
	cfg.ckpt_every = 6;
	cfg.s2page_shard_pages = SHARD_PAGES;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	lv = hl_live_start(e, 50);
	cr_assert_not_null(lv);
	vm = th_new_vm(e, 0);
	cr_assert(vm);
	for (unsigned i = 0; i < 64; i++) {
		uint64_t pfn = th_pfn(i * 211 % (unsigned)HL_RAM_PAGES);   /* pages all over RAM: many shards */
		cr_assert_eq(hl_map_host(e, (int)(i % 2), hl_pa(pfn * PG)), HL_OK);
		if (i % 4 == 0)
			cr_assert_eq(hl_assign_pfn_to_vm(e, (int)(i % 2), vm, 0x100 + i, pfn), HL_OK);
		if (i % 8 == 7)
			usleep(20000);   /* the checker's windows come between steps */
	}
	hl_live_stop(lv, &rep);
	cr_assert(!rep.violation, "%s", rep.what);
	cr_assert_gt(rep.windows, 1, "windows ran: %llu windows, %llu records, %llu checkpoints", (unsigned long long)rep.windows, (unsigned long long)rep.records, (unsigned long long)rep.checkpoints);
	cr_assert_gt(rep.checkpoints, 0);
	cr_assert_gt(rep.records, 60);
	/* the logs as the windows left them (every one cut at one point) still check whole */
	cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(3000) * PG)), HL_OK);
	expect_pass(e);
	{
		/* the windows cut the shard logs too (each starts after its snapshot) */
		const struct hl_olog *lg = live(e);
		unsigned cut = 0;
		for (unsigned id = HL_ID_END; id < lg->id_end; id++)
			cut += hl_olog_parent(lg, id) == HL_S2PAGE_ID && lg->obj[id].snap && lg->obj[id].snap_seq > 0;
		cr_assert_gt(cut, 1, "s2page shard logs cut by the windows: %u", cut);
	}
	hl_engine_free(e);
}

/* npt(host) in shards too (a residual: meta, root, upper tables, MMIO subtrees; the RAM
 * level-3 tables in shards, preallocated in the seq-0 image) */
static struct hl_engine *npth_engine(unsigned ncpus, uint64_t mib)
{
	return th_engine_shards(ncpus, SHARD_PAGES, mib);
}

Test(oracle_shards, npt_host_shards_pass_every_check)
{
	struct hl_engine *e = npth_engine(2, 4);
	const struct hl_olog *lg;
	uint32_t vm;

	cr_assert_not_null(e);
	vm = th_new_vm(e, 0);
	cr_assert(vm);
	for (unsigned i = 0; i < 48; i++) {
		uint64_t pfn = th_pfn(i * 331 % (unsigned)HL_RAM_PAGES);
		cr_assert_eq(hl_map_host(e, (int)(i % 2), hl_pa(pfn * PG)), HL_OK);
		if (i % 3 == 0)
			cr_assert_eq(hl_assign_pfn_to_vm(e, (int)(i % 2), vm, 0x100 + i, pfn), HL_OK);
	}
	cr_assert_eq(hl_map_host(e, 0, hl_pa(MMIO_PA(3))), HL_OK);   /* the residual's part */
	lg = live(e);
	cr_assert(lg->ab[HL_NPT_OBJ(0)].refined && lg->ab[HL_NPT_OBJ(0)].residual);
	cr_assert_gt(lg->obj[HL_NPT_OBJ(0)].n, 0);
	expect_pass(e);
	expect_file_pass(e, "npth");
	hl_engine_free(e);
}

/* an npt(host) shard with no records in lg */
static unsigned empty_npth_shard(const struct hl_olog *lg)
{
	for (unsigned id = lg->id_end; id-- > HL_ID_END;)
		if (hl_olog_parent(lg, id) == HL_NPT_OBJ(0) && lg->obj[id].size && !lg->obj[id].n)
			return id;
	cr_assert_fail("no empty npt(host) shard");
	return 0;
}

Test(oracle_shards, step_reads_a_host_entry_without_its_shard)
{
	struct hl_engine *e = npth_engine(1, 4);
	uint32_t vm = th_new_vm(e, 0);
	const struct hl_olog *lg;
	struct hl_rec *r;
	struct hl_rdep *rd = NULL;
	struct hl_verdict v;
	char sn[24];

	/* the host never mapped the page: the assign only reads its host entry */
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x100, th_pfn(2000)), HL_OK);
	expect_pass(e);
	lg = live(e);
	r = NULL;
	for (unsigned o = HL_ID_END; o < lg->id_end && !r; o++)
		if (hl_olog_parent(lg, o) == HL_S2PAGE_ID)
			r = first_of(lg, o, HL_EV_ASSIGN_VM);
	cr_assert_not_null(r);
	for (unsigned j = 0; j < r->nlock; j++)
		if (hl_olog_parent(lg, hl_rec_rdeps(r)[j].obj) == HL_NPT_OBJ(0))
			rd = (struct hl_rdep *)&hl_rec_rdeps(r)[j];
	cr_assert(rd && hl_rdep_is_read(rd), "the assign read its host entry under an npt(host) shard's lock");
	hl_obj_name(rd->obj, sn, sizeof(sn));
	relock(lg, r, rd->obj, empty_npth_shard(lg), 0);
	cr_assert_eq(hl_check_all(lg, &v, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_ORACLE, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert(strstr(v.what, "host table's entry") && strstr(v.what, sn), "%s", v.what);
	hl_engine_free(e);
}

/* the residual's table page holding the level-2 entry of a RAM 2 MiB block (a link to a
 * shard's level-3 table), from the seq-0 image */
static uint64_t l2_slot_of(const struct hl_olog *lg, uint64_t addr)
{
	const uint8_t *img = lg->obj[HL_NPT_OBJ(0)].init;
	const struct hl_pt_meta *mt = (const struct hl_pt_meta *)img;
	uint64_t d, pg;

	memcpy(&d, img + PG + ((addr >> 39) & 511) * 8, 8);
	pg = (d & HL_DESC_ADDR_MASK) - mt->pool_pa;
	memcpy(&d, img + pg + ((addr >> 30) & 511) * 8, 8);
	pg = (d & HL_DESC_ADDR_MASK) - mt->pool_pa;
	return pg + ((addr >> 21) & 511) * 8;
}

/* the last table word (an 8-byte delta past the meta and root pages) that the first
 * MAP_HOST record in the residual npt(0)'s log writes: an MMIO map's link or entry */
static struct hl_delta *residual_table_word(const struct hl_olog *lg, struct hl_rec **rec)
{
	struct hl_rec *r = first_of(lg, HL_NPT_OBJ(0), HL_EV_MAP_HOST);
	struct hl_delta *d, *hit = NULL;

	cr_assert_not_null(r);
	d = (struct hl_delta *)hl_rec_first_delta(r);
	for (unsigned i = 0; i < r->ndelta; i++, d = (struct hl_delta *)hl_delta_next(d))
		if (d->len == 8 && !(d->flags & HL_DF_ZERO) && d->off >= 2 * PG)
			hit = d;
	cr_assert_not_null(hit);
	if (rec)
		*rec = r;   /* the record holding it */
	return hit;
}

Test(oracle_shards, residual_record_rewrites_a_link_to_a_shard_table)
{
	struct hl_engine *e = npth_engine(1, 4);
	const struct hl_olog *lg;
	struct hl_delta *hit;
	struct hl_verdict v;

	cr_assert_eq(hl_map_host(e, 0, hl_pa(MMIO_PA(5))), HL_OK);   /* the residual's log */
	expect_pass(e);
	lg = live(e);
	hit = residual_table_word(lg, NULL);   /* a table word the MMIO map wrote */
	hit->off = (uint32_t)l2_slot_of(lg, HL_RAM_BASE + 3 * HL_PMD_SIZE);
	cr_assert_eq(hl_check_all(lg, &v, NULL), 1);   /* Cal<npt(0)> is not the live one either */
	cr_assert_eq(hl_check_callock(lg, &v), 0, "per record the log is well-formed: %s", v.what);
	/* replayed, the residual's record overwrites the link to a shard's table */
	cr_assert_eq(hl_check_relate_oracle(lg, &v), 1);
	cr_assert_eq(v.rel, HL_REL_CALLOCK, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert(strstr(v.what, "links npt(0)[") && strstr(v.what, "the log of npt(0)"), "%s", v.what);
	hl_engine_free(e);
}

Test(oracle_shards, residual_record_writes_a_shards_bytes)
{
	struct hl_engine *e = npth_engine(1, 4);
	const struct hl_olog *lg;
	struct hl_rec *r;
	struct hl_delta *hit;
	struct hl_verdict v;
	unsigned sh;
	char out[4096];
	int rc;

	cr_assert_eq(hl_map_host(e, 0, hl_pa(MMIO_PA(5))), HL_OK);   /* the residual's log */
	lg = live(e);
	hit = residual_table_word(lg, &r);
	sh = empty_npth_shard(lg);
	hit->off = (uint32_t)(lg->rng[lg->rfirst[sh]].off + 8 * 17);   /* a level-3 entry of shard sh */
	cr_assert_eq(hl_check_all(lg, &v, NULL), 1);
	cr_assert_eq(v.rel, HL_REL_CALLOCK, "%s: %s", hl_rel_name(v.rel), v.what);
	cr_assert(strstr(v.what, "writes bytes of shard npt(0)[") && strstr(v.what, "in the log of npt(0)"), "%s", v.what);
	/* the same record in a file (the writer checksums it): exit 1, H_CalLock */
	{
		struct hl_rec *er = rec_at(e, HL_NPT_OBJ(0), r->seq);
		struct hl_delta *ed = (struct hl_delta *)hl_rec_first_delta(er);
		for (unsigned i = 0; i < er->ndelta; i++, ed = (struct hl_delta *)hl_delta_next(ed))
			if ((const uint8_t *)ed - (const uint8_t *)er == (const uint8_t *)hit - (const uint8_t *)r)
				ed->off = hit->off;
	}
	rc = cli_check_out(e, "npth_resid", out, sizeof(out));
	if (rc != -1 || getenv("HYPLOG")) {
		cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
		cr_assert(strstr(out, "VIOLATION of H_CalLock") && strstr(out, "writes bytes of shard"), "%s", out);
	}
	hl_engine_free(e);
}

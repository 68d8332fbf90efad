/*
 * test_replay.c - Cal<Obj> and CalStateH reproduce the live state, across checkpoints,
 * and each of them catches a log broken on purpose.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"
#include "hl_testkey.h"
#include "hl_step.h"

#define PG 4096ull

/* a scripted run over most events, on one or two CPUs */
static struct hl_engine *scripted(unsigned ncpus, uint64_t ckpt_every)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	uint32_t vm1, vm2;
	uint64_t pa;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = ncpus;
	cfg.ckpt_every = ckpt_every;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);   /* KCore's key 0: the test key */
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	vm1 = th_boot_vm(e, 0, th_pfn(512), 0x80000000ull);
	vm2 = th_new_vm(e, ncpus - 1);
	cr_assert(vm1 && vm2);
	for (unsigned i = 0; i < 16; i++)
		cr_assert_eq(hl_map_host(e, (int)(i % ncpus), hl_pa(th_pfn(i) * PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(0x10000 * PG)), HL_OK);
	for (unsigned i = 0; i < 8; i++) {
		cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm1, 0x100 + i, th_pfn(i)), HL_OK);
		cr_assert_eq(hl_map_pfn_vm(e, 0, vm1, hl_ipa((0x100 + i) * PG), th_pfn(i) * PG, 3), HL_OK);
		cr_assert_eq(hl_grant_vm_page(e, (int)(i % ncpus), vm1, th_pfn(i)), HL_OK);
	}
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(hl_revoke_vm_page(e, 0, vm1, th_pfn(i)), HL_OK);
	cr_assert_eq(hl_set_vcpu_active(e, 0, vm1, 0), HL_OK);
	cr_assert_eq(hl_set_vcpu_inactive(e, 0, vm1, 0), HL_OK);
	cr_assert_eq(hl_map_vm_io(e, ncpus - 1, vm2, hl_ipa(0x9000000), hl_pa(0x10001 * PG)), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 2, vm2, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 2, 0, th_pfn(20), 0x300), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 0, 2, 0, hl_iova(0x300 * PG), th_pfn(20) * PG | 0x7C3), HL_OK);
	cr_assert_eq(hl_smmu_iova_to_phys(e, 0, hl_iova(0x300 * PG + 5), 2, 0, &pa), HL_OK);
	cr_assert_eq(pa, th_pfn(20) * PG + 5);
	cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(0x300 * PG), 2, 0), HL_OK);
	cr_assert_eq(hl_clear_vm_page(e, 0, vm2, th_pfn(20)), HL_OK);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, vm2), HL_OK);
	cr_assert_eq(hl_smmu_free_pgd(e, 0, 2, 0), HL_OK);
	for (unsigned i = 4; i < 8; i++)
		cr_assert_eq(hl_clear_vm_page(e, (int)(i % ncpus), vm1, th_pfn(i)), HL_OK);
	return e;
}

Test(replay, cal_and_calstateh_equal_live)
{
	struct hl_engine *e = scripted(2, 0);
	cr_assert_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

Test(replay, checkpoint_cuts_the_log_and_replay_still_equals_live)
{
	struct hl_engine *e = scripted(2, 0);
	uint64_t before = th_nrecs(e, HL_S2PAGE_ID);

	cr_assert_gt(before, 10);
	cr_assert_gt(hl_engine_checkpoint_all(e), 3);
	cr_assert_eq(th_nrecs(e, HL_S2PAGE_ID), 0);
	cr_assert_eq(th_replay_matches(e), 0);
	for (unsigned i = 30; i < 40; i++)
		cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(i) * PG)), HL_OK);
	cr_assert_eq(th_nrecs(e, HL_S2PAGE_ID), 0);   /* map_host on host pages changes npt only */
	cr_assert_eq(th_nrecs(e, HL_NPT_OBJ(0)), 10);
	cr_assert_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

Test(replay, checkpoint_after_every_record)
{
	struct hl_engine *e = scripted(2, 1);
	struct hl_log_stats ls;

	hl_engine_log_stats(e, &ls);
	cr_assert_gt(ls.checkpoints, 50);
	cr_assert_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

Test(replay, operation_straddling_a_checkpoint_replays_by_delta)
{
	struct hl_engine *e = th_engine(1);
	struct hl_state *st = hl_state_new(false);
	struct hl_calh_stats stats;
	struct hl_replay_err err;
	uint32_t vm = th_new_vm(e, 0);

	/* assign writes s2page and npt(host); cut only s2page after it */
	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(3) * PG)), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x77, th_pfn(3)), HL_OK);
	cr_assert_eq(hl_engine_checkpoint(e, HL_S2PAGE_ID), 1);
	cr_assert_eq(hl_calstateh(e, st, &stats, &err), 0, "%s", err.msg);
	cr_assert_geq(stats.delta_applied, 1);
	cr_assert_eq(hl_state_first_diff(st, e->st, NULL), -1);
	hl_state_free(st);
	hl_engine_free(e);
}

/* ---- broken logs ------------------------------------------------------------------- */
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

static uint8_t *first_payload(struct hl_rec *r)
{
	struct hl_delta *d = (struct hl_delta *)hl_rec_first_delta(r);
	cr_assert_gt(r->ndelta, 0);
	cr_assert_eq(d->flags & HL_DF_ZERO, 0);
	return (uint8_t *)(d + 1);
}

Test(replay, wrong_delta_is_caught_by_both_replays)
{
	struct hl_engine *e = scripted(2, 0);
	struct hl_state *st = hl_state_new(false);
	struct hl_replay_err err;
	struct hl_rec *r = rec_at(e, HL_S2PAGE_ID, 3);

	first_payload(r)[0] ^= 0x40;
	cr_assert_eq(hl_cal_all(e, st, &err), 0);
	cr_assert_eq(hl_state_first_diff(st, e->st, NULL), (int)HL_S2PAGE_ID, "Cal<Obj> missed a wrong delta");
	cr_assert_eq(hl_calstateh(e, st, NULL, &err), HL_RP_MISMATCH, "CalStateH missed a wrong delta");
	cr_assert_eq(err.obj, HL_S2PAGE_ID);
	cr_assert_eq(err.seq, 3);
	hl_state_free(st);
	hl_engine_free(e);
}

Test(replay, wrong_argument_is_caught_by_calstateh)
{
	struct hl_engine *e = th_engine(1);
	struct hl_state *st = hl_state_new(false);
	struct hl_replay_err err;

	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(2) * PG)), HL_OK);
	rec_at(e, HL_NPT_OBJ(0), 2)->arg[0] = th_pfn(5) * PG;
	cr_assert_eq(hl_calstateh(e, st, NULL, &err), HL_RP_MISMATCH);
	cr_assert_eq(err.seq, 2);
	hl_state_free(st);
	hl_engine_free(e);
}

Test(replay, dropped_record_is_a_sequence_gap)
{
	struct hl_engine *e = scripted(2, 0);
	struct hl_state *st = hl_state_new(false);
	struct hl_replay_err err;

	/* make record 5 claim to be 6: record 5 is "missing" */
	for (uint64_t s = th_nrecs(e, HL_S2PAGE_ID); s >= 5; s--)
		rec_at(e, HL_S2PAGE_ID, s)->seq = s + 1;
	cr_assert_eq(hl_cal_obj(e, HL_S2PAGE_ID, st, &err), HL_RP_BAD_LOG);
	cr_assert(strstr(err.msg, "sequence gap"), "%s", err.msg);
	cr_assert_eq(hl_calstateh(e, st, NULL, &err), HL_RP_BAD_LOG);
	hl_state_free(st);
	hl_engine_free(e);
}

Test(replay, wrong_result_is_caught)
{
	struct hl_engine *e = th_engine(2);
	struct hl_state *st = hl_state_new(false);
	struct hl_replay_err err;
	uint32_t vm = th_new_vm(e, 0);

	/* a READY VM's vcpu cannot be activated: halt */
	cr_assert_eq(hl_register_vcpu(e, 0, vm, 0, 1), HL_OK);
	cr_assert_eq(hl_set_vcpu_active(e, 0, vm, 0), HL_HALT);
	cr_assert_eq(th_replay_matches(e), 0);
	rec_at(e, HL_INFO_OBJ(vm), th_nrecs(e, HL_INFO_OBJ(vm)))->result = HL_RES_OK;
	cr_assert_eq(hl_calstateh(e, st, NULL, &err), HL_RP_MISMATCH);
	cr_assert(strstr(err.msg, "halt"), "%s", err.msg);
	hl_state_free(st);
	hl_engine_free(e);
}

Test(replay, conflicting_orders_are_a_cycle)
{
	struct hl_engine *e = th_engine(2);
	struct hl_replay_err err;
	struct hl_rec *a, *b;
	uint64_t *ops = NULL, tmp;
	size_t nops = 0;
	uint32_t vm = th_new_vm(e, 0);

	/* two assigns on two CPUs: each writes s2page and npt(host) */
	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(2) * PG)), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 1, th_pfn(1)), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 1, vm, 2, th_pfn(2)), HL_OK);
	cr_assert_eq(hl_linearize(e, &ops, &nops, &err), 0, "%s", err.msg);
	free(ops);
	/* swap the two operations in npt(host) only: s2page says A < B, npt(host) B < A */
	a = rec_at(e, HL_NPT_OBJ(0), 3);
	b = rec_at(e, HL_NPT_OBJ(0), 4);
	cr_assert_neq(a->op, b->op);
	tmp = a->op;
	a->op = b->op;
	b->op = tmp;
	cr_assert_eq(hl_linearize(e, &ops, &nops, &err), HL_RP_CYCLE);
	cr_assert(strstr(err.msg, "cycle"), "%s", err.msg);
	hl_engine_free(e);
}

Test(replay, read_dependencies_order_readers_before_writers)
{
	struct hl_engine *e = th_engine(2);
	struct hl_state *st = hl_state_new(false);
	struct hl_replay_err err;
	uint32_t vm = th_new_vm(e, 0);
	struct hl_rec *r;
	const struct hl_rdep *rd;
	bool found = false;

	/* cpu 1 maps device memory while the VM is READY (reads vminfo, writes npt(vm)) */
	cr_assert_eq(hl_map_vm_io(e, 1, vm, hl_ipa(0x9000000), hl_pa(0x10002 * PG)), HL_OK);
	r = rec_at(e, HL_NPT_OBJ(vm), 1);
	rd = hl_rec_rdeps(r);
	for (unsigned i = 0; i < r->nlock; i++)
		found |= rd[i].obj == HL_INFO_OBJ(vm) && rd[i].seq == 1;
	cr_assert(found, "map_io did not record that it read vminfo(%u) at seq 1", vm);
	/* then cpu 0 powers the VM off: map_io must replay before it, or it would halt */
	cr_assert_eq(hl_set_vm_poweroff(e, 0, vm), HL_OK);
	cr_assert_eq(th_replay_matches(e), 0);
	/* claim map_io read vminfo after the poweroff: CalStateH now re-executes it on a
	 * POWEROFF VM, which halts, and says so */
	for (unsigned i = 0; i < r->nlock; i++)
		if (rd[i].obj == HL_INFO_OBJ(vm))
			((struct hl_rdep *)rd)[i].seq = 2;
	cr_assert_eq(hl_calstateh(e, st, NULL, &err), HL_RP_MISMATCH);
	hl_state_free(st);
	hl_engine_free(e);
}

Test(replay, halted_cpu_running_again_is_caught)
{
	struct hl_engine *e = th_engine(2);
	struct hl_state *st = hl_state_new(false);
	struct hl_replay_err err;
	uint32_t vm = th_new_vm(e, 0);

	cr_assert_eq(hl_register_vcpu(e, 1, vm, 0, 1), HL_OK);
	cr_assert_eq(hl_set_vcpu_inactive(e, 1, vm, 0), HL_HALT);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(1) * PG)), HL_E_CPU_HALTED);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(1) * PG)), HL_OK);
	cr_assert_eq(th_replay_matches(e), 0);
	/* forge: the later map_host record says cpu 1 ran it, with an op id after the halt */
	struct hl_rec *r = rec_at(e, HL_NPT_OBJ(0), 1);
	r->cpu = 1;
	r->op = (1ull << 48) | 1000;
	cr_assert_eq(hl_calstateh(e, st, NULL, &err), HL_RP_BAD_LOG);
	cr_assert(strstr(err.msg, "after it halted"), "%s", err.msg);
	hl_state_free(st);
	hl_engine_free(e);
}

/* ---- issue 10.2: every record lists every lock of its step, in acquisition order ------ */
static void expect_locks(struct hl_engine *e, unsigned obj, uint64_t seq, const unsigned *want,
			 const uint64_t *wseq, const bool *written, unsigned n)
{
	const struct hl_rec *r = rec_at(e, obj, seq);
	const struct hl_rdep *rd = hl_rec_rdeps(r);

	cr_assert_eq(r->nlock, n, "record of object %u lists %u locks, the step took %u", obj,
		     r->nlock, n);
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(rd[i].obj, want[i], "lock %u: object %u, expected %u", i, rd[i].obj, want[i]);
		cr_assert_eq(!!(rd[i].flags & HL_RD_WRITTEN), written[i], "lock %u (object %u): written flag",
			     i, rd[i].obj);
		cr_assert_eq(rd[i].seq, wseq[i], "lock %u (object %u): seq %llu, expected %llu", i,
			     rd[i].obj, (unsigned long long)rd[i].seq, (unsigned long long)wseq[i]);
		cr_assert_eq(hl_rdep_is_read(&rd[i]), !written[i]);
	}
}

Test(replay, records_list_every_lock_in_acquisition_order)
{
	struct hl_engine *e = th_engine(2);
	uint32_t vm = th_new_vm(e, 0);
	uint64_t s2, hnpt;

	cr_assert_eq(hl_map_host(e, 0, hl_pa(th_pfn(3) * PG)), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 2, vm, 0), HL_OK);
	/* OASSIGN_SMMU locks smmu -> vminfo(vm) -> s2page -> npt(host); writes the last two */
	cr_assert_eq(hl_smmu_assign_page(e, 1, 2, 0, th_pfn(3), 0x300), HL_OK);
	s2 = e->logs[HL_S2PAGE_ID].next_seq - 1;
	hnpt = e->logs[HL_NPT_OBJ(HL_HOSTVISOR)].next_seq - 1;
	{
		const unsigned want[] = { HL_SMMU_ID, HL_INFO_OBJ(vm), HL_S2PAGE_ID, HL_NPT_OBJ(HL_HOSTVISOR) };
		const uint64_t seq[] = { e->logs[HL_SMMU_ID].next_seq - 1, e->logs[HL_INFO_OBJ(vm)].next_seq - 1,
					 s2, hnpt };
		const bool wr[] = { false, false, true, true };
		/* both records of the op carry the same list */
		expect_locks(e, HL_S2PAGE_ID, s2, want, seq, wr, 4);
		expect_locks(e, HL_NPT_OBJ(HL_HOSTVISOR), hnpt, want, seq, wr, 4);
	}
	/* OSMMU_ALLOC locks smmu -> vminfo(vm) -> spt: a written object between two others */
	cr_assert_eq(hl_smmu_alloc_pgd(e, 1, 3, vm, 0), HL_OK);
	{
		const unsigned want[] = { HL_SMMU_ID, HL_INFO_OBJ(vm), HL_SPT_ID };
		const uint64_t seq[] = { e->logs[HL_SMMU_ID].next_seq - 1, e->logs[HL_INFO_OBJ(vm)].next_seq - 1,
					 e->logs[HL_SPT_ID].next_seq - 1 };
		const bool wr[] = { true, false, true };
		expect_locks(e, HL_SMMU_ID, seq[0], want, seq, wr, 3);
	}
	cr_assert_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/* ---- issue 10: every in-memory log walk is bounded; a torn log is an error, never a hang -- */
#include "hl_file.h"
#include "hl_live.h"
#include <unistd.h>

/* tear obj's log at record `seq`: kind 0 zero length, 1 past the segment's end, 2 not a
 * multiple of 8, 3 above HL_REC_MAX */
static void tear(struct hl_engine *e, unsigned obj, uint64_t seq, unsigned kind)
{
	struct hl_rec *r = rec_at(e, obj, seq);
	switch (kind) {
	case 0: r->len = 0; break;
	case 1: r->len += 1u << 20; break;
	case 2: r->len += 4; break;
	default: r->len = HL_REC_MAX + 8; break;
	}
}

static void expect_torn(struct hl_engine *e, unsigned obj, unsigned kind)
{
	struct hl_state *st = hl_state_new(false);
	struct hl_replay_err err;
	struct hl_file_err ferr;
	struct hl_live_report rep;
	struct hl_live *lv;
	char path[128];

	memset(&err, 0, sizeof(err));
	cr_assert_eq(hl_cal_obj(e, obj, st, &err), HL_RP_BAD_LOG, "kind %u: Cal<Obj> on a torn log", kind);
	cr_assert(strstr(err.msg, "torn log"), "kind %u: %s", kind, err.msg);
	memset(&err, 0, sizeof(err));
	cr_assert_eq(hl_calstateh(e, st, NULL, &err), HL_RP_BAD_LOG, "kind %u: CalStateH on a torn log", kind);
	cr_assert(strstr(err.msg, "torn log"), "kind %u: %s", kind, err.msg);
	cr_assert_neq(th_replay_matches(e), 0);
	/* the file writer refuses to write it */
	snprintf(path, sizeof(path), "/tmp/test_replay_torn_%d.hlog", (int)getpid());
	memset(&ferr, 0, sizeof(ferr));
	cr_assert_neq(hl_file_write(e, path, &ferr), 0, "kind %u: a torn log was written to a file", kind);
	cr_assert(strstr(ferr.msg, "torn"), "kind %u: %s", kind, ferr.msg);
	unlink(path);
	/* the live checker reports it */
	lv = hl_live_start(e, 100);
	cr_assert_not_null(lv);
	hl_live_stop(lv, &rep);
	cr_assert(rep.violation, "kind %u: the live checker missed a torn log", kind);
	cr_assert(strstr(rep.what, "torn log"), "kind %u: %s", kind, rep.what);
	hl_state_free(st);
}

Test(replay, torn_in_memory_log_is_an_error_not_a_hang, .timeout = 60)
{
	for (unsigned kind = 0; kind < 4; kind++) {
		struct hl_engine *e = scripted(2, 0);
		uint64_t n = th_nrecs(e, HL_S2PAGE_ID);
		cr_assert_gt(n, 3);
		/* in the middle of the log, and its last record (kind 1: past `used`) */
		tear(e, HL_S2PAGE_ID, kind == 1 ? n : n / 2, kind);
		expect_torn(e, HL_S2PAGE_ID, kind);
		hl_engine_free(e);
	}
}

/* after a checkpoint: the walk of the new base's chain is bounded too */
Test(replay, torn_log_after_a_checkpoint_is_an_error, .timeout = 60)
{
	struct hl_engine *e = scripted(2, 0);

	cr_assert_gt(hl_engine_checkpoint_all(e), 3);
	for (unsigned i = 40; i < 44; i++)
		cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(i) * PG)), HL_OK);
	tear(e, HL_NPT_OBJ(HL_HOSTVISOR), e->logs[HL_NPT_OBJ(HL_HOSTVISOR)].next_seq - 2, 0);
	expect_torn(e, HL_NPT_OBJ(HL_HOSTVISOR), 0);
	hl_engine_free(e);
}

/* ---- issue 10: the live checker orders halts by operation, and sees every step --------- */
/* cpu 1 writes vminfo(vm2) and npt(host), then halts in vminfo(vm1): the follower reads
 * npt(host) and vminfo(vm1) before vminfo(vm2), i.e. the halt before an earlier step */
static struct hl_engine *halt_after_steps(uint32_t *vm1, uint32_t *vm2, uint64_t *halt_op)
{
	struct hl_engine *e = th_engine(2);

	*vm1 = th_new_vm(e, 0);
	*vm2 = th_new_vm(e, 0);
	cr_assert(*vm1 && *vm2 && *vm1 < *vm2);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(7) * PG)), HL_OK);
	cr_assert_eq(hl_register_vcpu(e, 1, *vm2, 0, 1), HL_OK);
	cr_assert_eq(hl_register_vcpu(e, 1, *vm1, 0, 1), HL_OK);
	cr_assert_eq(hl_set_vcpu_inactive(e, 1, *vm1, 0), HL_HALT);   /* not active: halt */
	*halt_op = e->cpus[1].op_ctr | 1ull << 48;
	cr_assert_eq(rec_at(e, HL_INFO_OBJ(*vm1), e->logs[HL_INFO_OBJ(*vm1)].next_seq - 1)->op, *halt_op);
	return e;
}

static void live_once(struct hl_engine *e, struct hl_live_report *rep)
{
	struct hl_live *lv = hl_live_start(e, 100);
	cr_assert_not_null(lv);
	hl_live_stop(lv, rep);
}

Test(replay, live_checker_orders_a_legal_halt_by_operation)
{
	uint32_t vm1, vm2;
	uint64_t hop;
	struct hl_engine *e = halt_after_steps(&vm1, &vm2, &hop);
	struct hl_live_report rep;

	live_once(e, &rep);
	cr_assert(!rep.violation, "false positive on a legal halt: %s", rep.what);
	cr_assert_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

/* and a CPU that really appends after its halt is still caught, whichever log is read first */
Test(replay, live_checker_catches_an_operation_after_a_halt)
{
	for (unsigned k = 0; k < 2; k++) {
		uint32_t vm1, vm2;
		uint64_t hop;
		struct hl_engine *e = halt_after_steps(&vm1, &vm2, &hop);
		struct hl_live_report rep;
		/* k = 0: a later op read after the halt (vminfo(vm2)); 1: read before it (npt(host)) */
		unsigned obj = k ? HL_NPT_OBJ(HL_HOSTVISOR) : HL_INFO_OBJ(vm2);
		struct hl_rec *r = rec_at(e, obj, e->logs[obj].next_seq - 1);
		cr_assert_eq(r->cpu, 1);
		r->op = hop + 1;
		live_once(e, &rep);
		cr_assert(rep.violation, "k %u: a record after the halt was not caught", k);
		cr_assert(strstr(rep.what, "halted CPU appended again"), "k %u: %s", k, rep.what);
		hl_engine_free(e);
	}
}

/* With checkpoints the live checker takes them itself, after the full checks saw what they
 * cut: a VM that maps a page it does not own for a few steps is caught, although the
 * checkpoints cut those records and the final state is secure again. */
Test(replay, live_checker_checks_security_before_checkpoints_cut, .timeout = 120)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	struct hl_live_report rep;
	struct hl_live *lv;
	uint32_t vm;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = 2;
	cfg.ckpt_every = 4;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);   /* KCore's key 0: the test key */
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	lv = hl_live_start(e, 50);
	cr_assert_not_null(lv);
	vm = th_new_vm(e, 0);
	cr_assert_neq(vm, 0);
	for (unsigned i = 0; i < 40; i++)
		cr_assert_eq(hl_map_host(e, (int)(i % 2), hl_pa(th_pfn(40 + i) * PG)), HL_OK);
	/* KCore's map_pfn_vm trusts its caller: the VM maps a host page it does not own ...
	 * (same CPU as the assign below: program order puts the insecure state in every
	 * linearization) */
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x200 * PG), th_pfn(30) * PG, 3), HL_OK);
	/* ... until the page is assigned to it */
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x200, th_pfn(30)), HL_OK);
	/* enough records after them that steps taking checkpoints (the old way) cut them */
	for (unsigned i = 0; i < 12; i++) {
		cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x300 + i, th_pfn(300 + i)), HL_OK);
		cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa((0x300 + i) * PG), th_pfn(300 + i) * PG, 3), HL_OK);
		usleep(2000);
	}
	for (unsigned i = 0; i < 200; i++)
		cr_assert_eq(hl_map_host(e, (int)(i % 2), hl_pa(th_pfn(100 + i % 100) * PG)), HL_OK);
	hl_live_stop(lv, &rep);
	cr_assert(rep.violation, "the live checker missed a VM mapping a page it did not own (%llu windows)",
		  (unsigned long long)rep.windows);
	cr_assert(strstr(rep.what, "security"), "%s", rep.what);
	hl_engine_free(e);
}

/* a clean run: windows check everything and the checkpoints still happen */
Test(replay, live_checker_windows_take_the_checkpoints, .timeout = 120)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	struct hl_live_report rep;
	struct hl_live *lv;
	uint32_t vm;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = 2;
	cfg.ckpt_every = 8;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);   /* KCore's key 0: the test key */
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	lv = hl_live_start(e, 50);
	cr_assert_not_null(lv);
	vm = th_new_vm(e, 0);
	cr_assert_neq(vm, 0);
	for (unsigned i = 0; i < 300; i++) {
		cr_assert_eq(hl_map_host(e, (int)(i % 2), hl_pa(th_pfn(40 + i % 200) * PG)), HL_OK);
		if (i % 50 == 49)
			usleep(20000);   /* let the checker run a window */
	}
	hl_live_stop(lv, &rep);
	cr_assert(!rep.violation, "%s", rep.what);
	cr_assert_gt(rep.windows, 1);
	cr_assert_gt(rep.checkpoints, 0);
	cr_assert_eq(rep.resyncs, 0, "the checker lost records to a checkpoint");
	{
		struct hl_log_stats ls;
		hl_engine_log_stats(e, &ls);
		cr_assert_eq(rep.records, ls.records, "the follower checked %llu of %llu records",
			     (unsigned long long)rep.records, (unsigned long long)ls.records);
	}
	cr_assert_gt(hl_log_first_seq(&e->logs[HL_NPT_OBJ(HL_HOSTVISOR)]), 1, "no checkpoint cut the host table's log");
	cr_assert_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

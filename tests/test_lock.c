/*
 * test_lock.c - per-object locks (hl_lock.h) and the step framework's lock discipline
 * (SPEC §4): global order, held-by-me, trylock, nothing held after a transition.
 *
 * Aborts are observed from a fork()ed child whose stderr goes to a pipe, so the parent
 * can check both the signal and the message.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "hl_step.h"

/* ---- fork harness ------------------------------------------------------------------------ */

struct child {
	int status;
	char err[4096];   /* the child's stderr */
};

static void run_child(void (*fn)(void), struct child *res)
{
	int p[2];
	pid_t pid;
	size_t n = 0;

	memset(res, 0, sizeof(*res));
	cr_assert_eq(pipe(p), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		close(p[1]);
		fn();
		_exit(0);
	}
	close(p[1]);
	for (;;) {
		char sink[256];
		ssize_t k;
		if (n < sizeof(res->err) - 1)
			k = read(p[0], res->err + n, sizeof(res->err) - 1 - n);
		else
			k = read(p[0], sink, sizeof(sink));   /* keep draining: the child must not block */
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (n < sizeof(res->err) - 1)
			n += (size_t)k;
	}
	res->err[n] = 0;
	close(p[0]);
	while (waitpid(pid, &res->status, 0) < 0)
		cr_assert_eq(errno, EINTR);
}

static void expect_abort(const struct child *c, const char *what)
{
	cr_assert(WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGABRT,
		  "%s: expected SIGABRT, got %s %d; stderr: %s", what,
		  WIFSIGNALED(c->status) ? "signal" : "exit",
		  WIFSIGNALED(c->status) ? WTERMSIG(c->status) : WEXITSTATUS(c->status), c->err);
}

static void expect_clean_exit(const struct child *c, const char *what)
{
	cr_assert(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0,
		  "%s: expected exit 0, got %s %d; stderr: %s", what,
		  WIFSIGNALED(c->status) ? "signal" : "exit",
		  WIFSIGNALED(c->status) ? WTERMSIG(c->status) : WEXITSTATUS(c->status), c->err);
}

static void expect_msg(const struct child *c, const char *needle)
{
	cr_expect(strstr(c->err, needle) != NULL, "message lacks \"%s\": %s", needle, c->err);
}

/* ---- (1) the lock-order assertion ------------------------------------------------------- */

/* what the child does: take g_objs[] in one step on cpu 0, in the given order */
static unsigned g_objs[16], g_nobjs;
static bool g_check = true;

static void child_take_in_order(void)
{
	struct hl_engine *e;
	struct hl_step s;

	if (g_check) {
		e = th_engine(2);
	} else {
		struct hl_engine_cfg cfg;
		hl_engine_cfg_default(&cfg);
		cfg.ncpus = 2;
		cfg.with_ram = false;
		cfg.lock_order_check = false;
		e = hl_engine_new(&cfg);
	}
	if (!e)
		_exit(10);
	if (hl_step_begin(&s, e, 0, HL_EV_MAP_HOST) != 0)
		_exit(11);
	for (unsigned i = 0; i < g_nobjs; i++) {
		if (hl_step_lock(&s, g_objs[i]) != 0)
			_exit(12);
		if (!hl_engine_held_by(e, 0, g_objs[i]))
			_exit(13);
	}
	if (hl_engine_nheld(e, 0) != g_nobjs)
		_exit(14);
	if (hl_step_end(&s, 0) != 0)
		_exit(15);
	if (hl_engine_nheld(e, 0) != 0)
		_exit(16);
	for (unsigned i = 0; i < g_nobjs; i++)
		if (hl_engine_held_by(e, 0, g_objs[i]) || !hl_lock_held_by(&e->locks[g_objs[i]], HL_NO_OWNER))
			_exit(17);
	hl_engine_free(e);
}

static void take(struct child *c, bool check, unsigned n, const unsigned *objs)
{
	cr_assert_leq(n, 16);
	memcpy(g_objs, objs, n * sizeof(objs[0]));
	g_nobjs = n;
	g_check = check;
	run_child(child_take_in_order, c);
}

static void expect_order_violation(unsigned n, const unsigned *objs, const char *held, const char *want)
{
	struct child c;
	char what[96];

	snprintf(what, sizeof(what), "%s after %s", want, held);
	take(&c, true, n, objs);
	expect_abort(&c, what);
	expect_msg(&c, "order");
	expect_msg(&c, held);
	expect_msg(&c, want);
}

Test(lock, order_violation_s2page_after_npt_aborts)
{
	const unsigned objs[] = { HL_NPT_OBJ(HL_HOSTVISOR), HL_S2PAGE_ID };
	expect_order_violation(2, objs, "npt(0)", "s2page");
}

Test(lock, order_violation_vminfo_after_core_aborts)
{
	const unsigned objs[] = { HL_CORE_ID, HL_INFO_OBJ(2) };
	expect_order_violation(2, objs, "core", "vminfo(2)");
}

Test(lock, order_violation_same_class_descending_id_aborts)
{
	const unsigned objs[] = { HL_NPT_OBJ(3), HL_NPT_OBJ(1) };
	expect_order_violation(2, objs, "npt(3)", "npt(1)");
}

Test(lock, order_violation_other_wrong_orders_abort)
{
	const unsigned a[] = { HL_NPT_OBJ(0), HL_SPT_ID };            /* spt (3) before npt (5+v) */
	const unsigned b[] = { HL_S2PAGE_ID, HL_SMMU_ID };
	const unsigned c[] = { HL_INFO_OBJ(4), HL_INFO_OBJ(2) };
	const unsigned d[] = { HL_SMMU_ID, HL_CORE_ID, HL_INFO_OBJ(1) };   /* checked against the last */
	expect_order_violation(2, a, "npt(0)", "spt");
	expect_order_violation(2, b, "s2page", "smmu");
	expect_order_violation(2, c, "vminfo(4)", "vminfo(2)");
	expect_order_violation(3, d, "core", "vminfo(1)");
}

static const unsigned correct_order[] = {
	HL_SMMU_ID, HL_INFO_OBJ(1), HL_INFO_OBJ(2), HL_CORE_ID, HL_S2PAGE_ID,
	HL_SPT_ID, HL_NPT_OBJ(0), HL_NPT_OBJ(1), HL_NPT_OBJ(16),
};
#define NCORRECT (sizeof(correct_order) / sizeof(correct_order[0]))

Test(lock, correct_order_does_not_abort)
{
	struct child c;

	cr_assert_eq(HL_NPT_OBJ(16), HL_NPT_OBJ(HL_COREVISOR) + (16 - HL_COREVISOR));
	/* a step locks at most HL_MAX_STAGES objects (8 + every shard, issue 11), so the 9-lock
	 * chain is taken whole, and its two 8-lock windows plus every adjacent pair */
	cr_assert_geq(HL_MAX_STAGES, NCORRECT);
	take(&c, true, NCORRECT, correct_order);
	expect_clean_exit(&c, "smmu .. npt(16)");
	take(&c, true, 8, correct_order);
	expect_clean_exit(&c, "smmu .. npt(1)");
	take(&c, true, 8, correct_order + 1);
	expect_clean_exit(&c, "vminfo(1) .. npt(16)");
	for (unsigned i = 0; i + 1 < NCORRECT; i++) {
		take(&c, true, 2, correct_order + i);
		expect_clean_exit(&c, "adjacent pair");
	}
	/* skipping classes is fine too */
	{
		const unsigned objs[] = { HL_SMMU_ID, HL_S2PAGE_ID, HL_NPT_OBJ(16) };
		take(&c, true, 3, objs);
		expect_clean_exit(&c, "smmu, s2page, npt(16)");
	}
}

Test(lock, wrong_order_without_check_does_not_abort)
{
	const unsigned a[] = { HL_NPT_OBJ(HL_HOSTVISOR), HL_S2PAGE_ID };
	const unsigned b[] = { HL_CORE_ID, HL_INFO_OBJ(2) };
	const unsigned c3[] = { HL_NPT_OBJ(3), HL_NPT_OBJ(1) };
	struct child c;

	take(&c, false, 2, a);
	expect_clean_exit(&c, "unchecked s2page after npt(0)");
	cr_expect_eq(c.err[0], 0, "no message either: %s", c.err);
	take(&c, false, 2, b);
	expect_clean_exit(&c, "unchecked vminfo(2) after core");
	take(&c, false, 2, c3);
	expect_clean_exit(&c, "unchecked npt(1) after npt(3)");
}

Test(lock, wrong_order_without_check_in_this_process)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	struct hl_step s;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = 2;
	cfg.with_ram = false;
	cfg.lock_order_check = false;
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	cr_assert_eq(hl_step_begin(&s, e, 0, HL_EV_MAP_HOST), 0);
	cr_assert_eq(hl_step_lock(&s, HL_NPT_OBJ(HL_HOSTVISOR)), 0);
	cr_assert_eq(hl_step_lock(&s, HL_S2PAGE_ID), 0);
	cr_expect(hl_engine_held_by(e, 0, HL_NPT_OBJ(HL_HOSTVISOR)));
	cr_expect(hl_engine_held_by(e, 0, HL_S2PAGE_ID));
	cr_expect_eq(hl_engine_nheld(e, 0), 2);
	cr_assert_eq(hl_step_end(&s, 0), 0);
	cr_expect_eq(hl_engine_nheld(e, 0), 0);
	cr_expect_not(hl_engine_held_by(e, 0, HL_S2PAGE_ID));
	cr_expect_not(hl_engine_held_by(e, 0, HL_NPT_OBJ(HL_HOSTVISOR)));
	cr_expect(hl_lock_held_by(&e->locks[HL_S2PAGE_ID], HL_NO_OWNER));
	cr_expect(hl_lock_held_by(&e->locks[HL_NPT_OBJ(HL_HOSTVISOR)], HL_NO_OWNER));
	hl_engine_free(e);
}

/* ---- (2) order keys ------------------------------------------------------------------------ */

Test(lock, order_key_strictly_increasing_along_spec_order)
{
	unsigned seq[HL_ID_END], n = 0;
	bool seen[HL_ID_END] = { false };

	/* smmu -> vminfo(v) -> core -> s2page -> { spt (3), npt(host), npt(v), npt(COREVISOR) } */
	seq[n++] = HL_SMMU_ID;
	for (unsigned v = 0; v < HL_NR_PRINC; v++)
		seq[n++] = HL_INFO_OBJ(v);
	seq[n++] = HL_CORE_ID;
	seq[n++] = HL_S2PAGE_ID;
	seq[n++] = HL_SPT_ID;
	for (unsigned v = 0; v < HL_NR_PRINC; v++)
		seq[n++] = HL_NPT_OBJ(v);
	cr_assert_eq(n, HL_ID_END - 1, "every lockable object (all but flatmem) is in the order");
	for (unsigned i = 0; i < n; i++) {
		cr_assert_lt(seq[i], HL_ID_END);
		cr_assert_not(seen[seq[i]], "object %u listed twice", seq[i]);
		seen[seq[i]] = true;
		if (i) {
			char a[32], b[32];
			cr_expect_lt(hl_lock_order_key(seq[i - 1]), hl_lock_order_key(seq[i]), "key(%s) >= key(%s)",
				     hl_obj_name(seq[i - 1], a, sizeof(a)), hl_obj_name(seq[i], b, sizeof(b)));
		}
	}
	cr_assert_not(seen[HL_FLATMEM_ID]);
	/* the first classes precede the leaf class whatever the IDs */
	cr_expect_lt(hl_lock_order_key(HL_INFO_OBJ(HL_COREVISOR)), hl_lock_order_key(HL_CORE_ID));
	cr_expect_lt(hl_lock_order_key(HL_S2PAGE_ID), hl_lock_order_key(HL_SPT_ID));
	cr_expect_lt(hl_lock_order_key(HL_SMMU_ID), hl_lock_order_key(HL_INFO_OBJ(0)));
}

/* ---- (3) held by me --------------------------------------------------------------------- */

static const enum hl_lock_kind kinds[] = { HL_LOCK_TICKET, HL_LOCK_MCS, HL_LOCK_MUTEX };

Test(lock, held_by_owner_only)
{
	for (unsigned k = 0; k < 3; k++) {
		struct hl_lock lk;
		hl_mcs_node_t n1;

		hl_lock_init(&lk, HL_CORE_ID, kinds[k]);
		for (int c = 0; c < 4; c++)
			cr_expect_not(hl_lock_held_by(&lk, c));
		cr_assert(hl_lock_lock(&lk, 1, &n1));
		cr_expect(hl_lock_held_by(&lk, 1), "%s: owner", hl_lock_kind_name(kinds[k]));
		cr_expect_not(hl_lock_held_by(&lk, 0));
		cr_expect_not(hl_lock_held_by(&lk, 2));
		cr_expect_not(hl_lock_held_by(&lk, HL_NO_OWNER));
		HL_ASSERT_HELD(&lk, 1);   /* must not abort */
		hl_lock_unlock(&lk, 1, &n1);
		cr_expect_not(hl_lock_held_by(&lk, 1), "%s: not held after unlock", hl_lock_kind_name(kinds[k]));
		cr_expect(hl_lock_held_by(&lk, HL_NO_OWNER));
		/* again, by another CPU */
		cr_assert(hl_lock_lock(&lk, 0, &n1));
		cr_expect(hl_lock_held_by(&lk, 0));
		cr_expect_not(hl_lock_held_by(&lk, 1));
		hl_lock_unlock(&lk, 0, &n1);
		cr_expect_not(hl_lock_held_by(&lk, 0));
		cr_expect_eq(lk.acquisitions, 2);
		hl_lock_destroy(&lk);
	}
}

static enum hl_lock_kind g_kind;

static void child_assert_held_free(void)
{
	struct hl_lock lk;
	hl_lock_init(&lk, HL_S2PAGE_ID, g_kind);
	HL_ASSERT_HELD(&lk, 0);
}

static void child_assert_held_other(void)
{
	struct hl_lock lk;
	hl_mcs_node_t n;
	hl_lock_init(&lk, HL_NPT_OBJ(3), g_kind);
	if (!hl_lock_lock(&lk, 1, &n))
		_exit(20);
	HL_ASSERT_HELD(&lk, 0);
}

static void child_assert_held_after_unlock(void)
{
	struct hl_lock lk;
	hl_mcs_node_t n;
	hl_lock_init(&lk, HL_INFO_OBJ(4), g_kind);
	if (!hl_lock_lock(&lk, 2, &n))
		_exit(20);
	HL_ASSERT_HELD(&lk, 2);
	hl_lock_unlock(&lk, 2, &n);
	HL_ASSERT_HELD(&lk, 2);
}

static void child_unlock_not_owner(void)
{
	struct hl_lock lk;
	hl_mcs_node_t n1, n0;
	hl_lock_init(&lk, HL_SPT_ID, g_kind);
	if (!hl_lock_lock(&lk, 1, &n1))
		_exit(20);
	hl_lock_unlock(&lk, 0, &n0);
}

static void child_unlock_free(void)
{
	struct hl_lock lk;
	hl_mcs_node_t n;
	hl_lock_init(&lk, HL_SMMU_ID, g_kind);
	hl_lock_unlock(&lk, 0, &n);
}

Test(lock, assert_held_aborts_when_not_held)
{
	for (unsigned k = 0; k < 3; k++) {
		struct child c;

		g_kind = kinds[k];
		run_child(child_assert_held_free, &c);
		expect_abort(&c, "HL_ASSERT_HELD on a free lock");
		expect_msg(&c, "s2page");
		expect_msg(&c, "not held");

		run_child(child_assert_held_other, &c);
		expect_abort(&c, "HL_ASSERT_HELD on another CPU's lock");
		expect_msg(&c, "npt(3)");

		run_child(child_assert_held_after_unlock, &c);
		expect_abort(&c, "HL_ASSERT_HELD after unlock");
		expect_msg(&c, "vminfo(4)");
	}
}

Test(lock, unlock_by_non_owner_aborts)
{
	for (unsigned k = 0; k < 3; k++) {
		struct child c;

		g_kind = kinds[k];
		run_child(child_unlock_not_owner, &c);
		expect_abort(&c, "unlock by a CPU that does not own the lock");
		expect_msg(&c, "spt");

		run_child(child_unlock_free, &c);
		expect_abort(&c, "unlock of a free lock");
		expect_msg(&c, "smmu");
	}
}

/* the step framework's own witness */
static void child_step_assert_unheld(void)
{
	struct hl_engine *e = th_engine(1);
	struct hl_step s;
	if (!e || hl_step_begin(&s, e, 0, HL_EV_MAP_HOST) || hl_step_lock(&s, HL_S2PAGE_ID))
		_exit(20);
	hl_step_assert_held(&s, HL_S2PAGE_ID);   /* fine */
	hl_step_assert_held(&s, HL_NPT_OBJ(0));  /* not locked: abort */
}

Test(lock, step_assert_held_aborts_for_an_unlocked_object)
{
	struct child c;
	run_child(child_step_assert_unheld, &c);
	expect_abort(&c, "hl_step_assert_held");
	expect_msg(&c, "npt(0)");
}

/* ---- (4) trylock --------------------------------------------------------------------------- */

struct try_arg {
	struct hl_lock *lk;
	bool expect_ok;
	bool got;
};

static void *try_thread(void *p)
{
	struct try_arg *a = p;
	hl_mcs_node_t n;

	a->got = hl_lock_trylock(a->lk, 3, &n);
	if (a->got)
		hl_lock_unlock(a->lk, 3, &n);
	return NULL;
}

Test(lock, trylock_semantics_each_kind)
{
	for (unsigned k = 0; k < 3; k++) {
		const char *kn = hl_lock_kind_name(kinds[k]);
		struct hl_lock lk;
		hl_mcs_node_t n0, n1;
		struct try_arg ta;
		pthread_t th;

		hl_lock_init(&lk, HL_CORE_ID, kinds[k]);
		/* free: succeeds and records the owner */
		cr_assert(hl_lock_trylock(&lk, 0, &n0), "%s: trylock on a free lock", kn);
		cr_expect(hl_lock_held_by(&lk, 0));
		cr_expect_eq(lk.acquisitions, 1);
		/* held: fails for another CPU and for the owner (not reentrant), owner unchanged */
		cr_expect_not(hl_lock_trylock(&lk, 1, &n1), "%s: trylock on a held lock", kn);
		cr_expect_not(hl_lock_trylock(&lk, 0, &n1), "%s: trylock by the holder", kn);
		cr_expect(hl_lock_held_by(&lk, 0));
		cr_expect_not(hl_lock_held_by(&lk, 1));
		cr_expect_eq(lk.acquisitions, 1, "a failed trylock is no acquisition");
		/* from another thread too */
		ta = (struct try_arg){ .lk = &lk };
		cr_assert_eq(pthread_create(&th, NULL, try_thread, &ta), 0);
		pthread_join(th, NULL);
		cr_expect_not(ta.got, "%s: trylock from another thread on a held lock", kn);
		hl_lock_unlock(&lk, 0, &n0);

		/* free again: another thread's trylock succeeds */
		ta = (struct try_arg){ .lk = &lk };
		cr_assert_eq(pthread_create(&th, NULL, try_thread, &ta), 0);
		pthread_join(th, NULL);
		cr_expect(ta.got, "%s: trylock from another thread on a free lock", kn);
		cr_expect(hl_lock_held_by(&lk, HL_NO_OWNER));

		/* a lock taken with hl_lock_lock: trylock fails; released: trylock succeeds.
		 * Repeated, so the waiter's ticket/queue layout must agree with ck's unlock. */
		for (unsigned i = 0; i < 1000; i++) {
			cr_assert(hl_lock_lock(&lk, 1, &n1));
			cr_assert_not(hl_lock_trylock(&lk, 0, &n0), "%s: round %u", kn, i);
			hl_lock_unlock(&lk, 1, &n1);
			cr_assert(hl_lock_trylock(&lk, 0, &n0), "%s: round %u", kn, i);
			cr_assert_not(hl_lock_trylock(&lk, 1, &n1), "%s: round %u", kn, i);
			hl_lock_unlock(&lk, 0, &n0);
		}
		cr_expect(hl_lock_held_by(&lk, HL_NO_OWNER));
		hl_lock_destroy(&lk);
	}
}

Test(lock, stranded_lock_refuses_lock_and_trylock)
{
	for (unsigned k = 0; k < 3; k++) {
		struct hl_lock lk;
		hl_mcs_node_t n0, n1;

		hl_lock_init(&lk, HL_S2PAGE_ID, kinds[k]);
		cr_assert(hl_lock_lock(&lk, 1, &n1));
		hl_lock_strand(&lk, 1);
		cr_expect(hl_lock_is_stranded(&lk));
		cr_expect(hl_lock_held_by(&lk, 1), "the halted CPU keeps it");
		cr_expect_not(hl_lock_trylock(&lk, 0, &n0));
		cr_expect_not(hl_lock_lock(&lk, 0, &n0));
		cr_expect(hl_lock_held_by(&lk, 1));
		hl_lock_destroy(&lk);
	}
}

/* ---- (5) nothing held after a transition ---------------------------------------------------- */

static void expect_nothing_held(struct hl_engine *e, const char *after)
{
	for (int c = 0; c <= (int)e->cfg.ncpus; c++) {
		cr_assert_eq(hl_engine_nheld(e, c), 0, "cpu %d holds %u locks after %s", c,
			     hl_engine_nheld(e, c), after);
		cr_assert_not(hl_cpu_halted(e, c), "cpu %d halted in %s", c, after);
	}
	for (unsigned id = 0; id < HL_ID_END; id++) {
		char b[32];
		cr_assert(hl_lock_held_by(&e->locks[id], HL_NO_OWNER), "lock %s still owned by %d after %s",
			  hl_obj_name(id, b, sizeof(b)), e->locks[id].owner, after);
	}
	cr_assert(hl_lock_held_by(&e->global, HL_NO_OWNER));
}

#define STEP(call, want)                                                                \
	do {                                                                            \
		int _rc = (call);                                                       \
		cr_assert_eq(_rc, (want), "%s returned %d (%s)", #call, _rc, hl_status_str(_rc)); \
		expect_nothing_held(e, #call);                                          \
	} while (0)

Test(lock, no_lock_held_after_public_transitions)
{
	struct hl_engine *e = th_engine(2);
	uint64_t host_pfn = th_pfn(20), vm_pfn = th_pfn(30), pa = 0, remap = 1;
	uint32_t vmid, vmid2, idx = 0;
	uint8_t sig[64] = { 0 };
	int verified = -1;

	cr_assert_not_null(e);
	expect_nothing_held(e, "hl_engine_new");

	STEP(hl_map_host(e, 0, hl_pa(HL_RAM_BASE + 10 * HL_PAGE_SIZE)), HL_OK);
	STEP(hl_map_host(e, 1, hl_pa(0x1000)), HL_OK);   /* MMIO */
	STEP(hl_map_host(e, 0, hl_pa(HL_RAM_BASE + HL_RAM_SIZE)), HL_E_INVAL);

	/* the host's own SMMU bank: map, translate, clear */
	STEP(hl_smmu_alloc_pgd(e, 0, 1, HL_HOSTVISOR, 0), HL_OK);
	STEP(hl_smmu_map_page(e, 1, 1, 0, hl_iova(host_pfn * HL_PAGE_SIZE), (host_pfn * HL_PAGE_SIZE) | HL_PAGE_S2_KERNEL),
	     HL_OK);
	STEP(hl_smmu_iova_to_phys(e, 0, hl_iova(host_pfn * HL_PAGE_SIZE + 0x10), 1, 0, &pa), HL_OK);
	cr_expect_eq(pa, host_pfn * HL_PAGE_SIZE + 0x10);
	STEP(hl_smmu_clear(e, 1, hl_iova(host_pfn * HL_PAGE_SIZE), 1, 0), HL_OK);
	STEP(hl_smmu_alloc_pgd(e, 0, HL_SMMU_NUM_CB, 0, 0), HL_E_INVAL);

	/* a VM: register, vCPUs, pages */
	STEP(hl_register_kvm(e, 1, 0x1000, 0, &vmid), HL_OK);
	STEP(hl_register_kvm(e, 1, 0x1000, 1, &vmid2), HL_E_INVAL);   /* a key KCore does not hold */
	cr_assert(vmid >= 1 && vmid <= HL_MAX_VM);
	STEP(hl_register_vcpu(e, 0, vmid, 0, 0x6000), HL_OK);
	STEP(hl_register_vcpu(e, 0, 0, 0, 0x6000), HL_E_INVAL);
	STEP(hl_assign_pfn_to_vm(e, 0, vmid, 0x100, vm_pfn), HL_OK);
	STEP(hl_map_pfn_vm(e, 1, vmid, hl_ipa(0x100 * HL_PAGE_SIZE), vm_pfn * HL_PAGE_SIZE, 3), HL_OK);
	STEP(hl_grant_vm_page(e, 0, vmid, vm_pfn), HL_OK);
	STEP(hl_revoke_vm_page(e, 1, vmid, vm_pfn), HL_OK);
	STEP(hl_map_vm_io(e, 0, vmid, hl_ipa(0x9000000), hl_pa(0x9000000)), HL_OK);
	STEP(hl_set_boot_info(e, 0, vmid, hl_ipa(0x200000), 4096, sig, &idx), HL_OK);
	STEP(hl_remap_vm_image(e, 1, vmid, th_pfn(40), idx), HL_OK);
	STEP(hl_search_load_info(e, 0, vmid, hl_ipa(0x200010), &remap), HL_OK);
	STEP(hl_clear_vm_page(e, 1, vmid, vm_pfn), HL_OK);
	STEP(hl_set_vm_poweroff(e, 0, vmid), HL_OK);

	/* a full boot, with verify's nested steps, then vCPU activity */
	vmid2 = th_boot_vm(e, 1, HL_RAM_BASE_PFN + 1024, 0x80000000ull);
	cr_assert_neq(vmid2, 0);
	expect_nothing_held(e, "th_boot_vm");
	STEP(hl_set_vcpu_active(e, 0, vmid2, 1), HL_OK);
	STEP(hl_set_vcpu_inactive(e, 0, vmid2, 1), HL_OK);
	STEP(hl_verify_vm_image(e, 1, HL_MAX_VM + 1, &verified), HL_E_INVAL);

	(void)hl_engine_checkpoint_all(e);
	expect_nothing_held(e, "hl_engine_checkpoint_all");
	cr_expect_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

Test(lock, engine_held_by_inside_a_step)
{
	struct hl_engine *e = th_engine(2);
	struct hl_step s;

	cr_assert_not_null(e);
	cr_assert_eq(hl_step_begin(&s, e, 1, HL_EV_NONE), 0);
	cr_expect_eq(hl_engine_nheld(e, 1), 0);
	cr_assert_eq(hl_step_lock(&s, HL_SMMU_ID), 0);
	cr_assert_eq(hl_step_lock(&s, HL_CORE_ID), 0);
	cr_assert_eq(hl_step_lock(&s, HL_S2PAGE_ID), 0);
	cr_assert_eq(hl_step_lock(&s, HL_S2PAGE_ID), 0, "re-locking an object the step holds is a no-op");
	cr_expect_eq(hl_engine_nheld(e, 1), 3);
	cr_expect_eq(hl_engine_nheld(e, 0), 0);
	cr_expect(hl_engine_held_by(e, 1, HL_SMMU_ID));
	cr_expect(hl_engine_held_by(e, 1, HL_CORE_ID));
	cr_expect(hl_engine_held_by(e, 1, HL_S2PAGE_ID));
	cr_expect_not(hl_engine_held_by(e, 0, HL_CORE_ID));
	cr_expect_not(hl_engine_held_by(e, 1, HL_NPT_OBJ(0)));
	cr_expect_not(hl_engine_held_by(e, 1, HL_INFO_OBJ(1)));
	cr_expect(hl_lock_held_by(&e->locks[HL_CORE_ID], 1));
	hl_step_assert_held(&s, HL_CORE_ID);

	/* release one read-only object early */
	hl_step_unlock_ro(&s, HL_CORE_ID);
	cr_expect_not(hl_engine_held_by(e, 1, HL_CORE_ID));
	cr_expect_eq(hl_engine_nheld(e, 1), 2);
	cr_expect(hl_engine_held_by(e, 1, HL_S2PAGE_ID));

	cr_assert_eq(hl_step_end(&s, 0), 0);
	cr_expect_eq(hl_engine_nheld(e, 1), 0);
	cr_expect_not(hl_engine_held_by(e, 1, HL_SMMU_ID));
	cr_expect_not(hl_engine_held_by(e, 1, HL_S2PAGE_ID));
	expect_nothing_held(e, "a read-only step");
	hl_engine_free(e);
}

Test(lock, engine_held_by_in_global_lock_mode)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	struct hl_step s;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = 2;
	cfg.with_ram = false;
	cfg.global_lock = true;
	cfg.lock_order_check = true;
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	cr_assert_eq(hl_step_begin(&s, e, 0, HL_EV_NONE), 0);
	cr_assert_eq(hl_step_lock(&s, HL_S2PAGE_ID), 0);
	cr_assert_eq(hl_step_lock(&s, HL_NPT_OBJ(0)), 0);
	cr_expect(hl_engine_held_by(e, 0, HL_S2PAGE_ID));
	cr_expect(hl_engine_held_by(e, 0, HL_NPT_OBJ(0)));
	cr_expect_not(hl_engine_held_by(e, 0, HL_CORE_ID));
	cr_expect_not(hl_engine_held_by(e, 1, HL_S2PAGE_ID));
	cr_expect(hl_lock_held_by(&e->global, 0));
	cr_assert_eq(hl_step_end(&s, 0), 0);
	cr_expect_eq(hl_engine_nheld(e, 0), 0);
	cr_expect(hl_lock_held_by(&e->global, HL_NO_OWNER));
	hl_engine_free(e);
}

/* ---- (6) names ------------------------------------------------------------------------------ */

Test(lock, obj_names)
{
	char b[32];

	cr_expect_str_eq(hl_obj_name(HL_CORE_ID, b, sizeof(b)), "core");
	cr_expect_str_eq(hl_obj_name(HL_S2PAGE_ID, b, sizeof(b)), "s2page");
	cr_expect_str_eq(hl_obj_name(HL_SPT_ID, b, sizeof(b)), "spt");
	cr_expect_str_eq(hl_obj_name(HL_SMMU_ID, b, sizeof(b)), "smmu");
	cr_expect_str_eq(hl_obj_name(HL_NPT_OBJ(3), b, sizeof(b)), "npt(3)");
	cr_expect_str_eq(hl_obj_name(HL_INFO_OBJ(4), b, sizeof(b)), "vminfo(4)");
	cr_expect_str_eq(hl_obj_name(HL_FLATMEM_ID, b, sizeof(b)), "flatmem");
	cr_expect_str_eq(hl_obj_name(HL_NPT_OBJ(0), b, sizeof(b)), "npt(0)");
	cr_expect_str_eq(hl_obj_name(HL_INFO_OBJ(0), b, sizeof(b)), "vminfo(0)");
	{
		char want[32];
		snprintf(want, sizeof(want), "npt(%u)", HL_COREVISOR);
		cr_expect_str_eq(hl_obj_name(HL_NPT_OBJ(HL_COREVISOR), b, sizeof(b)), want);
		snprintf(want, sizeof(want), "vminfo(%u)", HL_COREVISOR);
		cr_expect_str_eq(hl_obj_name(HL_INFO_OBJ(HL_COREVISOR), b, sizeof(b)), want);
	}
	/* the name buffer is the caller's: the result is that buffer, truncated safely */
	cr_expect_eq(hl_obj_name(HL_CORE_ID, b, sizeof(b)), b);
	{
		char small[4];
		cr_expect_str_eq(hl_obj_name(HL_INFO_OBJ(4), small, sizeof(small)), "vmi");
	}
	/* out of range IDs get a neutral name rather than a wrong one */
	cr_expect_null(strstr(hl_obj_name(HL_ID_END, b, sizeof(b)), "vminfo"));
	cr_expect_null(strstr(hl_obj_name(HL_ID_END, b, sizeof(b)), "npt"));
}

/* ---- (7) lock kinds -------------------------------------------------------------------------- */

Test(lock, kind_parse)
{
	enum hl_lock_kind k;
	const char *junk[] = { "", "tick", "tickets", "mcs ", " mcs", "mut", "spin", "0", "ticket\n" };

	k = HL_LOCK_MUTEX;
	cr_expect_eq(hl_lock_kind_parse("ticket", &k), 0);
	cr_expect_eq(k, HL_LOCK_TICKET);
	cr_expect_eq(hl_lock_kind_parse("mcs", &k), 0);
	cr_expect_eq(k, HL_LOCK_MCS);
	cr_expect_eq(hl_lock_kind_parse("mutex", &k), 0);
	cr_expect_eq(k, HL_LOCK_MUTEX);
	/* names round-trip */
	for (unsigned i = 0; i < 3; i++) {
		cr_expect_eq(hl_lock_kind_parse(hl_lock_kind_name(kinds[i]), &k), 0);
		cr_expect_eq(k, kinds[i]);
	}
	for (unsigned i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		k = (enum hl_lock_kind)77;
		cr_expect_neq(hl_lock_kind_parse(junk[i], &k), 0, "accepted \"%s\"", junk[i]);
		cr_expect_eq((int)k, 77, "a rejected name must not change the output");
	}
}

/* ---- (6) the lock profile (issue 11) ---------------------------------------------------------- */

Test(lock, profile_counts_acquisitions_and_times_nothing_by_default)
{
	for (unsigned k = 0; k < 3; k++) {
		const char *kn = hl_lock_kind_name(kinds[k]);
		struct hl_lock lk;
		struct hl_lock_stats st;
		hl_mcs_node_t n0, n1;

		hl_lock_init(&lk, HL_S2PAGE_ID, kinds[k]);
		for (unsigned i = 0; i < 100; i++) {
			cr_assert(hl_lock_lock(&lk, 0, &n0));
			hl_lock_unlock(&lk, 0, &n0);
		}
		cr_assert(hl_lock_trylock(&lk, 1, &n1));
		cr_assert_not(hl_lock_trylock(&lk, 0, &n0));
		hl_lock_unlock(&lk, 1, &n1);
		hl_lock_stats(&lk, &st);
		cr_expect_eq(st.acquisitions, 101, "%s: %llu acquisitions", kn, (unsigned long long)st.acquisitions);
		cr_expect_eq(st.contended, 0, "%s: nobody waited", kn);
		cr_expect_eq(st.wait_ns, 0, "%s", kn);
		cr_expect_eq(st.hold_ns, 0, "%s: holds are timed only with hl_lock_profile", kn);
		cr_expect_not(st.hold_timed, "%s", kn);
		cr_expect_eq(st.parks, 0, "%s", kn);
		cr_expect_eq(st.giveups, 0, "%s", kn);
		hl_lock_destroy(&lk);
	}
}

Test(lock, profile_times_holds_when_on_and_resets)
{
	for (unsigned k = 0; k < 3; k++) {
		const char *kn = hl_lock_kind_name(kinds[k]);
		struct hl_lock lk;
		struct hl_lock_stats st;
		hl_mcs_node_t n0;

		hl_lock_init(&lk, HL_CORE_ID, kinds[k]);
		hl_lock_profile(&lk, true);
		cr_assert(hl_lock_lock(&lk, 0, &n0));
		usleep(3000);
		hl_lock_unlock(&lk, 0, &n0);
		cr_assert(hl_lock_trylock(&lk, 0, &n0));   /* a trylock's hold is timed too */
		usleep(2000);
		hl_lock_unlock(&lk, 0, &n0);
		hl_lock_stats(&lk, &st);
		cr_expect(st.hold_timed, "%s", kn);
		cr_expect_eq(st.acquisitions, 2, "%s", kn);
		cr_expect_geq(st.hold_ns, 5000000ull, "%s: held 5 ms, measured %llu ns", kn, (unsigned long long)st.hold_ns);
		cr_expect_lt(st.hold_ns, 2000000000ull, "%s: %llu ns", kn, (unsigned long long)st.hold_ns);
		cr_expect_eq(st.contended, 0, "%s", kn);
		hl_lock_stats_reset(&lk);
		hl_lock_stats(&lk, &st);
		cr_expect(st.acquisitions == 0 && st.hold_ns == 0 && st.wait_ns == 0 && st.contended == 0 &&
			  st.parks == 0, "%s: reset", kn);
		/* off again: holds are no longer timed */
		hl_lock_profile(&lk, false);
		cr_assert(hl_lock_lock(&lk, 0, &n0));
		usleep(1000);
		hl_lock_unlock(&lk, 0, &n0);
		hl_lock_stats(&lk, &st);
		cr_expect_eq(st.hold_ns, 0, "%s", kn);
		cr_expect_eq(st.acquisitions, 1, "%s", kn);
		hl_lock_destroy(&lk);
	}
}

struct wait_arg {
	struct hl_lock *lk;
	hl_mcs_node_t node;
	int got;
	uint32_t trying;
};

static void *waiter_thread(void *p)
{
	struct wait_arg *a = p;
	ck_pr_store_32(&a->trying, 1);
	a->got = hl_lock_lock(a->lk, 1, &a->node);
	if (a->got)
		hl_lock_unlock(a->lk, 1, &a->node);
	return NULL;
}

/* the main thread holds the lock; a second thread waits for it (parks, unless parking is
 * off), the main thread releases it 10 ms after the waiter parked */
static void contended_once(enum hl_lock_kind kind, bool park, struct hl_lock_stats *st)
{
	struct hl_lock lk;
	hl_mcs_node_t n0;
	struct wait_arg a;
	pthread_t th;

	hl_lock_set_parking(park);
	hl_lock_init(&lk, HL_S2PAGE_ID, kind);
	a = (struct wait_arg){ .lk = &lk, .got = -1 };
	cr_assert(hl_lock_lock(&lk, 0, &n0));
	cr_assert_eq(pthread_create(&th, NULL, waiter_thread, &a), 0);
	while (!ck_pr_load_32(&a.trying))
		usleep(100);
	if (park) {
		/* wait until the waiter is asleep on the lock (at most 5 s) */
		for (unsigned i = 0; i < 5000 && ck_pr_load_32(&lk.parked) == 0; i++)
			usleep(1000);
		cr_assert_neq(ck_pr_load_32(&lk.parked), 0, "%s: the waiter never parked", hl_lock_kind_name(kind));
	}
	usleep(10000);
	hl_lock_unlock(&lk, 0, &n0);
	pthread_join(th, NULL);
	hl_lock_set_parking(true);
	cr_assert_eq(a.got, 1);
	hl_lock_stats(&lk, st);
	hl_lock_destroy(&lk);
}

Test(lock, profile_counts_a_contended_acquisition_its_wait_and_parks)
{
	for (unsigned k = 0; k < 3; k++) {
		const char *kn = hl_lock_kind_name(kinds[k]);
		struct hl_lock_stats st;

		contended_once(kinds[k], true, &st);
		cr_expect_eq(st.acquisitions, 2, "%s", kn);
		cr_expect_eq(st.contended, 1, "%s: the waiter's first attempt failed", kn);
		cr_expect_geq(st.wait_ns, 10000000ull, "%s: waited >= 10 ms, measured %llu ns", kn,
			      (unsigned long long)st.wait_ns);
		cr_expect_geq(st.parks, 1, "%s: the waiter slept", kn);
		/* woken by the unlock, not by the park timeout */
		cr_expect_eq(st.park_timeouts, 0, "%s", kn);
		cr_expect_lt(st.wait_ns, (uint64_t)HL_LOCK_PARK_TIMEOUT_MS * 1000000ull, "%s: %llu ns", kn,
			     (unsigned long long)st.wait_ns);

		/* parking off (the old spin-then-yield waiter): contended, never parked */
		contended_once(kinds[k], false, &st);
		cr_expect_eq(st.contended, 1, "%s", kn);
		cr_expect_eq(st.parks, 0, "%s: parking is off", kn);
		cr_expect_geq(st.wait_ns, 9000000ull, "%s: %llu ns", kn, (unsigned long long)st.wait_ns);
	}
}

/* test_concurrency.c - replay == live after random multi-CPU runs; lock kinds; RCU readers. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <unistd.h>

#include "helpers.h"

static void run_and_check(unsigned ncpus, enum hl_lock_kind lock, bool global, uint64_t ckpt,
			  bool reader, uint64_t seed, unsigned chaos)
{
	struct th_run_cfg rc = { .ncpus = ncpus, .ops = 4000, .seed = seed, .lock = lock,
				 .global_lock = global, .ckpt_every = ckpt, .reader = reader, .chaos = chaos };
	uint64_t steps = 0;
	struct hl_engine *e = th_random_run(&rc, &steps);

	cr_assert_not_null(e, "random run setup failed");
	cr_assert_gt(steps, 0);
	if (getenv("TH_VERBOSE")) { struct hl_log_stats ls; hl_engine_log_stats(e, &ls); fprintf(stderr, "cpus %u seed %llu: %llu steps, %llu halts, %llu records\n", ncpus, (unsigned long long)seed, (unsigned long long)steps, (unsigned long long)e->halts, (unsigned long long)ls.records); }
	cr_assert_eq(th_replay_matches(e), 0, "replay != live after %u cpus, seed %llu", ncpus,
		     (unsigned long long)seed);
	for (unsigned i = 0; i < ncpus; i++)
		if (!hl_cpu_halted(e, (int)i))
			cr_assert_eq(hl_engine_nheld(e, (int)i), 0);
	hl_engine_free(e);
}

Test(concurrency, replay_equals_live_1cpu) { for (uint64_t s = 1; s <= 4; s++) run_and_check(1, HL_LOCK_TICKET, false, 0, false, s, 0); }
Test(concurrency, replay_equals_live_2cpu) { for (uint64_t s = 1; s <= 4; s++) run_and_check(2, HL_LOCK_TICKET, false, 0, false, s, 0); }
Test(concurrency, replay_equals_live_4cpu) { for (uint64_t s = 1; s <= 4; s++) run_and_check(4, HL_LOCK_TICKET, false, 0, false, s, 0); }
Test(concurrency, replay_equals_live_mcs) { run_and_check(4, HL_LOCK_MCS, false, 0, false, 11, 0); }
Test(concurrency, replay_equals_live_mutex) { run_and_check(4, HL_LOCK_MUTEX, false, 0, false, 12, 0); }
Test(concurrency, replay_equals_live_global_lock) { run_and_check(4, HL_LOCK_TICKET, true, 0, false, 13, 0); }
Test(concurrency, checkpoints_and_replay_equal_live) { for (uint64_t s = 1; s <= 3; s++) run_and_check(4, HL_LOCK_TICKET, false, 16, false, 20 + s, 0); }
Test(concurrency, halts_and_bad_input_replay_equal_live) { for (uint64_t s = 1; s <= 6; s++) run_and_check(4, HL_LOCK_TICKET, false, 0, false, 40 + s, 50); }
Test(concurrency, halts_with_checkpoints_replay_equal_live) { for (uint64_t s = 1; s <= 3; s++) run_and_check(2, HL_LOCK_MCS, false, 32, false, 50 + s, 80); }
Test(concurrency, rcu_readers_beside_writers_and_checkpoints) { run_and_check(2, HL_LOCK_TICKET, false, 8, true, 31, 0); }

/* mutual exclusion of every lock kind: an unprotected counter ends exact */
struct mx {
	struct hl_lock lk;
	hl_mcs_node_t node[4];
	uint64_t counter;
	unsigned iters;
};
struct mx_arg {
	struct mx *m;
	int cpu;
};

static void *mx_thread(void *arg)
{
	struct mx_arg *a = arg;
	for (unsigned i = 0; i < a->m->iters; i++) {
		cr_assert(hl_lock_lock(&a->m->lk, a->cpu, &a->m->node[a->cpu]));
		cr_assert(hl_lock_held_by(&a->m->lk, a->cpu));
		a->m->counter++;
		hl_lock_unlock(&a->m->lk, a->cpu, &a->m->node[a->cpu]);
	}
	return NULL;
}

static void mutual_exclusion(enum hl_lock_kind kind)
{
	struct mx m;
	struct mx_arg args[4];
	pthread_t th[4];

	memset(&m, 0, sizeof(m));
	hl_lock_init(&m.lk, HL_S2PAGE_ID, kind);
	m.iters = 20000;
	for (int i = 0; i < 4; i++) {
		args[i] = (struct mx_arg){ &m, i };
		pthread_create(&th[i], NULL, mx_thread, &args[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(m.counter, 4ull * m.iters, "%s lost updates: %llu", hl_lock_kind_name(kind),
		     (unsigned long long)m.counter);
	hl_lock_destroy(&m.lk);
}

Test(concurrency, ticket_mutual_exclusion_4_threads_on_2_cores) { mutual_exclusion(HL_LOCK_TICKET); }
Test(concurrency, mcs_mutual_exclusion) { mutual_exclusion(HL_LOCK_MCS); }
Test(concurrency, mutex_mutual_exclusion) { mutual_exclusion(HL_LOCK_MUTEX); }

/* a waiter queued behind a CPU that halts gives up instead of spinning forever */
struct strand_arg {
	struct hl_lock *lk;
	hl_mcs_node_t *node;
	int got;
};

static void *strand_waiter(void *arg)
{
	struct strand_arg *a = arg;
	a->got = hl_lock_lock(a->lk, 1, a->node) ? 1 : 0;
	return NULL;
}

static void stranded_waiter(enum hl_lock_kind kind)
{
	struct hl_lock lk;
	hl_mcs_node_t n0, n1;
	struct strand_arg a = { &lk, &n1, -1 };
	pthread_t th;

	hl_lock_init(&lk, HL_CORE_ID, kind);
	cr_assert(hl_lock_lock(&lk, 0, &n0));
	pthread_create(&th, NULL, strand_waiter, &a);
	usleep(20000);
	hl_lock_strand(&lk, 0);
	pthread_join(th, NULL);
	cr_assert_eq(a.got, 0, "%s waiter acquired a stranded lock", hl_lock_kind_name(kind));
	cr_assert(hl_lock_is_stranded(&lk));
	cr_assert(hl_lock_held_by(&lk, 0));
}

Test(concurrency, stranded_ticket_waiter_gives_up) { stranded_waiter(HL_LOCK_TICKET); }
Test(concurrency, stranded_mcs_waiter_gives_up) { stranded_waiter(HL_LOCK_MCS); }
Test(concurrency, stranded_mutex_waiter_gives_up) { stranded_waiter(HL_LOCK_MUTEX); }

/* ---- parking waiters (issue 11): spin, then sleep on the lock's futex word ------------------
 * Four threads on (at most) two cores, each critical section sometimes sleeping 200 us, so
 * the others exhaust their spin budget and park. Mutual exclusion must hold, every waiter
 * must be woken by an unlock (a lost wake-up would end in the park timeout, which the
 * profile counts), and the profile must add up. */
struct pk {
	struct hl_lock lk;
	hl_mcs_node_t node[4];
	uint64_t counter;
	unsigned iters;
	uint64_t deadline_ns;   /* a waiter never woken would sleep out each park timeout: stop here */
	uint32_t overran;
};
struct pk_arg {
	struct pk *m;
	int cpu;
};

static void *pk_thread(void *arg)
{
	struct pk_arg *a = arg;
	for (unsigned i = 0; i < a->m->iters; i++) {
		if (hl_lock_clock_ns() > a->m->deadline_ns) {
			ck_pr_store_32(&a->m->overran, 1);
			break;
		}
		cr_assert(hl_lock_lock(&a->m->lk, a->cpu, &a->m->node[a->cpu]));
		a->m->counter++;
		if (i % 64 == (unsigned)a->cpu)
			usleep(200);   /* a long hold: the waiters park */
		hl_lock_unlock(&a->m->lk, a->cpu, &a->m->node[a->cpu]);
	}
	return NULL;
}

static void parking_contention(enum hl_lock_kind kind)
{
	struct pk m;
	struct pk_arg args[4];
	pthread_t th[4];
	struct hl_lock_stats st;
	const char *kn = hl_lock_kind_name(kind);

	memset(&m, 0, sizeof(m));
	hl_lock_set_parking(true);
	hl_lock_init(&m.lk, HL_S2PAGE_ID, kind);
	hl_lock_profile(&m.lk, true);
	m.iters = 4000;
	m.deadline_ns = hl_lock_clock_ns() + 60ull * 1000000000ull;
	for (int i = 0; i < 4; i++) {
		args[i] = (struct pk_arg){ &m, i };
		cr_assert_eq(pthread_create(&th[i], NULL, pk_thread, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	hl_lock_stats(&m.lk, &st);
	cr_assert_eq(m.overran, 0, "%s: not done in 60 s (%llu parks, %llu ended by timeout: lost wake-ups?)", kn,
		     (unsigned long long)st.parks, (unsigned long long)st.park_timeouts);
	cr_assert_eq(m.counter, 4ull * m.iters, "%s lost updates: %llu", kn, (unsigned long long)m.counter);
	cr_expect_eq(st.acquisitions, 4ull * m.iters, "%s", kn);
	cr_expect_gt(st.contended, 0, "%s: four threads never contended?", kn);
	cr_expect_gt(st.parks, 0, "%s: 200 us holds never made a waiter park", kn);
	cr_expect_eq(st.park_timeouts, 0, "%s: %llu parks ended by timeout (a lost wake-up)", kn,
		     (unsigned long long)st.park_timeouts);
	cr_expect_gt(st.wait_ns, 0, "%s", kn);
	cr_expect_geq(st.hold_ns, 4ull * (m.iters / 64) * 200000ull, "%s: holds include the 200 us sleeps", kn);
	cr_expect_eq(ck_pr_load_32(&m.lk.parked), 0, "%s: nobody left parked", kn);
	hl_lock_destroy(&m.lk);
}

Test(concurrency, parking_ticket_waiters_exclude_and_are_woken) { parking_contention(HL_LOCK_TICKET); }
Test(concurrency, parking_mcs_waiters_exclude_and_are_woken) { parking_contention(HL_LOCK_MCS); }
Test(concurrency, parking_mutex_waiters_exclude_and_are_woken) { parking_contention(HL_LOCK_MUTEX); }

/* three waiters asleep behind a holder that halts: hl_lock_strand wakes them, each gives
 * up (false, not holding it) without waiting for the park timeout */
struct pst_arg {
	struct hl_lock *lk;
	hl_mcs_node_t node;
	int cpu, got;
};

static void *pst_waiter(void *arg)
{
	struct pst_arg *a = arg;
	a->got = hl_lock_lock(a->lk, a->cpu, &a->node) ? 1 : 0;
	return NULL;
}

static void parked_waiters_halted_holder(enum hl_lock_kind kind)
{
	struct hl_lock lk;
	hl_mcs_node_t n0;
	struct pst_arg a[3];
	pthread_t th[3];
	struct hl_lock_stats st;
	const char *kn = hl_lock_kind_name(kind);

	hl_lock_set_parking(true);
	hl_lock_init(&lk, HL_CORE_ID, kind);
	cr_assert(hl_lock_lock(&lk, 0, &n0));
	for (int i = 0; i < 3; i++) {
		a[i] = (struct pst_arg){ .lk = &lk, .cpu = 1 + i, .got = -1 };
		cr_assert_eq(pthread_create(&th[i], NULL, pst_waiter, &a[i]), 0);
	}
	for (unsigned i = 0; i < 5000 && ck_pr_load_32(&lk.parked) < 3; i++)
		usleep(1000);
	cr_assert_eq(ck_pr_load_32(&lk.parked), 3, "%s: the waiters never all parked", kn);
	hl_lock_strand(&lk, 0);   /* the holder halts */
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(a[i].got, 0, "%s: waiter %d acquired a stranded lock", kn, i);
	cr_assert(hl_lock_held_by(&lk, 0), "%s: the halted CPU keeps it", kn);
	hl_lock_stats(&lk, &st);
	cr_expect_eq(st.giveups, 3, "%s", kn);
	cr_expect_eq(st.park_timeouts, 0, "%s: the strand did not wake the parked waiters", kn);
	cr_expect_eq(st.acquisitions, 1, "%s", kn);
}

Test(concurrency, parked_ticket_waiters_give_up_on_a_halted_holder) { parked_waiters_halted_holder(HL_LOCK_TICKET); }
Test(concurrency, parked_mcs_waiters_give_up_on_a_halted_holder) { parked_waiters_halted_holder(HL_LOCK_MCS); }
Test(concurrency, parked_mutex_waiters_give_up_on_a_halted_holder) { parked_waiters_halted_holder(HL_LOCK_MUTEX); }

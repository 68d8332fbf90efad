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

/*
 * test_explore.c - the deterministic scheduler: clean explorations pass under every
 * strategy, an injected fault is found, and its one-line reproducer replays the same
 * violation exactly. Linked with the fault-injection copy of the library.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "hl_explore.h"
#include "platform.h"
#include "hl_fault.h"

static void clean(enum hl_strategy st, unsigned cpus, unsigned runs)
{
	struct hl_explore_cfg x;
	struct hl_explore_result r;
	uint8_t *prefix = NULL;
	size_t n = 0;

	hl_explore_cfg_default(&x);
	x.strat = st;
	x.cpus = cpus;
	x.ops = st == HL_STRAT_EXHAUSTIVE ? 6 : 30;
	x.max_dec = 4;
	for (unsigned run = 0; run < runs; run++) {
		hl_explore_one(&x, hl_explore_run_seed(&x, run), prefix, n, &r);
		cr_assert_eq(r.status, 0, "%s run %u failed: %s", hl_strategy_name(st), run, r.msg);
		if (st == HL_STRAT_EXHAUSTIVE) {
			free(prefix);
			prefix = r.next_prefix;
			n = r.nnext;
			if (!prefix)
				break;
		} else {
			free(r.next_prefix);
		}
	}
	free(prefix);
}

Test(explore, clean_random_runs_pass) { clean(HL_STRAT_RANDOM, 2, 4); }
Test(explore, clean_pct_runs_pass) { clean(HL_STRAT_PCT, 3, 3); }
Test(explore, clean_exhaustive_tree_passes) { clean(HL_STRAT_EXHAUSTIVE, 2, 20); }

/* the same choices give the same run: decisions and steps agree */
Test(explore, runs_are_deterministic)
{
	struct hl_explore_cfg x;
	struct hl_explore_result a, b;

	hl_explore_cfg_default(&x);
	x.strat = HL_STRAT_PCT;
	x.ops = 30;
	hl_explore_one(&x, 77, NULL, 0, &a);
	hl_explore_one(&x, 77, NULL, 0, &b);
	cr_assert_eq(a.status, 0, "%s", a.msg);
	cr_assert_eq(a.steps, b.steps);
	cr_assert_eq(a.decisions, b.decisions);
	free(a.next_prefix);
	free(b.next_prefix);
}

/* explore with a fault until a run fails; its reproducer must fail the same way */
static void found_and_replayed(const char *fault, unsigned every)
{
	struct hl_explore_cfg x, y;
	struct hl_explore_result r, again;
	char line[1024];
	bool found = false;

	hl_explore_cfg_default(&x);
	x.ops = 30;
	cr_assert_eq(hl_explore_fault_parse(fault, &x.fault), 0);
	x.fault_every = every;
	for (unsigned run = 0; run < 6 && !found; run++) {
		uint64_t seed = hl_explore_run_seed(&x, run);
		hl_explore_one(&x, seed, NULL, 0, &r);
		free(r.next_prefix);
		cr_assert_geq(r.status, 0, "%s", r.msg);
		if (r.status == 1) {
			found = true;
			hl_explore_repro(&x, seed, NULL, 0, line, sizeof(line));
		}
	}
	cr_assert(found, "fault %s was never caught", fault);
	hl_explore_cfg_default(&y);
	cr_assert_eq(hl_explore_parse(line, &y), 0, "cannot parse %s", line);
	hl_explore_one(&y, y.seed, y.prefix, y.nprefix, &again);
	free(again.next_prefix);
	free(y.prefix);
	cr_assert_eq(again.status, 1, "replay of '%s' passed", line);
	cr_assert_str_eq(again.msg, r.msg, "replay found a different violation");
}

Test(explore, wrong_delta_found_and_replayed) { found_and_replayed("wrong-delta", 40); }
Test(explore, dropped_record_found_and_replayed) { found_and_replayed("drop-record", 40); }
Test(explore, reordered_records_found_and_replayed) { found_and_replayed("reorder", 40); }
Test(explore, late_append_found_and_replayed) { found_and_replayed("append-late", 40); }
Test(explore, out_of_order_locks_found_and_replayed) { found_and_replayed("lock-order", 40); }

Test(explore, malformed_reproducer_lines_are_refused)
{
	struct hl_explore_cfg x;
	hl_explore_cfg_default(&x);
	cr_assert_neq(hl_explore_parse("strategy=bogus", &x), 0);
	cr_assert_neq(hl_explore_parse("seed", &x), 0);
	cr_assert_neq(hl_explore_parse("cpus=99", &x), 0);
	cr_assert_neq(hl_explore_parse("prefix=0.x.1", &x), 0);
	cr_assert_neq(hl_explore_parse("fault=nope", &x), 0);
	free(x.prefix);
}

/* ---- issue 10: explore preempts at every read and append, and always runs the oracles -- */
Test(explore, scheduling_points_at_reads_and_appends)
{
	struct hl_explore_cfg x;
	struct hl_explore_result r;

	hl_explore_cfg_default(&x);
	x.ops = 20;
	hl_explore_one(&x, hl_explore_run_seed(&x, 0), NULL, 0, &r);
	free(r.next_prefix);
	cr_assert_eq(r.status, 0, "%s", r.msg);
	cr_assert_gt(r.points[HL_SP_LOCK], 0);
	cr_assert_gt(r.points[HL_SP_TRAP], 0);
	/* a step can be preempted after it took a lock and read, and before each append */
	cr_assert_geq(r.points[HL_SP_READ], r.points[HL_SP_LOCK] / 2, "read points %llu, lock points %llu",
		      (unsigned long long)r.points[HL_SP_READ], (unsigned long long)r.points[HL_SP_LOCK]);
	cr_assert_gt(r.points[HL_SP_APPEND], 0);
}

/* a run the workload reports as failed (a deadlock from locks taken out of order) still
 * gets the oracles, and the message names the relation behind it */
Test(explore, workload_failure_still_names_the_relation)
{
	struct hl_explore_cfg x;
	struct hl_explore_result r;
	bool found = false;

	for (unsigned every = 2; every <= 8 && !found; every *= 2) {
		hl_explore_cfg_default(&x);
		x.ops = 20;
		cr_assert_eq(hl_explore_fault_parse("lock-order", &x.fault), 0);
		x.fault_every = every;
		for (unsigned run = 0; run < 10 && !found; run++) {
			hl_explore_one(&x, hl_explore_run_seed(&x, run), NULL, 0, &r);
			free(r.next_prefix);
			found = strstr(r.msg, "deadlock") != NULL;
		}
	}
	cr_assert(found, "no run deadlocked");
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.msg, "H_CalLock violated"), "the oracles did not name the relation: %s", r.msg);
	cr_assert(strstr(r.msg, "the workload saw: deadlock"), "%s", r.msg);
}

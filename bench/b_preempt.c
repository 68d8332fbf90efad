/*
 * b_preempt.c - "preempted holder" (issue 11): a lock holder that loses its core must
 * not collapse throughput. The trap-level faults mix runs with 2 CPU threads confined to
 * 2 cores (sched_setaffinity of the bench process; on the 2-core development machine that
 * is every core), alone and then with one busy process (a forked child spinning) on
 * the same 2 cores. Three runnable threads on two cores: the scheduler preempts CPU
 * threads, lock holders included, every few milliseconds.
 *
 * Baseline, measured in the same run: the same point without the busy process. Each
 * waiter mode is measured: parking waiters (the default: spin, then sleep on a futex)
 * and the pre-issue-11 waiters (spin, then sched_yield), for the ticket and MCS locks.
 * One SUMMARY line per (lock, waiters): ops_per_s = traps/s beside the busy process,
 * ratio = traps/s alone / traps/s beside it (the drop; 1.0 = none). TARGET: the drop with
 * parking ticket locks (the default) is at most 3x.
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "platform.h"

/* one busy process on the cores we are confined to; returns its pid */
static pid_t busy_start(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			__asm__ volatile("" ::: "memory");
	}
	return pid;
}

static void busy_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0)
			;
	}
}

static double point(const struct hb_spt *pt, bool busy, bool *bad)
{
	struct hb_sres r;
	pid_t b = busy ? busy_start() : 0;
	if (busy && b < 0) {
		*bad = true;
		return 0;
	}
	if (b > 0)
		usleep(20000);   /* let it be running when the CPUs start */
	int rc = hb_stress_point(pt, &r, NULL);
	busy_stop(b);
	if (rc != 0 || !r.ok || r.run_s <= 0) {
		*bad = true;
		return 0;
	}
	return r.traps / r.run_s;
}

int hb_preempt(struct hb_ctx *x)
{
	static const enum hl_lock_kind kinds[] = { HL_LOCK_TICKET, HL_LOCK_MCS };
	cpu_set_t old, two;
	unsigned got = 0, reps = x->reps > 16 ? 16 : x->reps;
	int rc = 0;
	bool bad = false, can_park = false;

	printf("== preempted holder: faults mix, 2 CPU threads on 2 cores, alone vs one busy process (median of %u) ==\n",
	       reps);
	if (sched_getaffinity(0, sizeof(old), &old) != 0) {
		hb_note(x, "preempt: sched_getaffinity failed; skipped");
		return 0;
	}
	CPU_ZERO(&two);
	for (unsigned c = 0; c < CPU_SETSIZE && got < 2; c++)
		if (CPU_ISSET(c, &old)) {
			CPU_SET(c, &two);
			got++;
		}
	if (got < 2 || sched_setaffinity(0, sizeof(two), &two) != 0) {
		hb_note(x, "preempt: needs 2 cores to confine the run to; skipped");
		return 0;
	}
	hl_lock_set_parking(true);
	can_park = hl_lock_parking();

	/* size the points: ~point_sec alone at 2 CPUs */
	struct hb_spt pt = { .cpus = 2, .mix = HP_MIX_FAULTS, .lock = HL_LOCK_TICKET, .ops = x->quick ? 20000 : 50000,
			     .seed = 3 };
	struct hb_sres pr;
	memset(&pr, 0, sizeof(pr));
	if (hb_stress_point(&pt, &pr, NULL) == 0 && pr.ok && pr.run_s > 0)
		pt.ops = (uint64_t)(pr.actions / pr.run_s * x->point_sec);
	if (pt.ops < 20000)
		pt.ops = 20000;

	/* each (lock, waiters) sized by short probes alone and beside the busy process (the
	 * slower one), so a collapsing configuration cannot take minutes */
	uint64_t ops[2][2];
	for (unsigned k = 0; k < 2; k++)
		for (unsigned w = 0; w < 2; w++) {
			struct hb_spt q = pt;
			double tps, tps_alone;
			hl_lock_set_parking(w == 0);
			q.lock = kinds[k];
			q.ops = pt.ops / 10 < 5000 ? 5000 : pt.ops / 10;
			tps = point(&q, true, &bad);
			tps_alone = point(&q, false, &bad);
			if (tps_alone > 0 && tps_alone < tps)
				tps = tps_alone;
			ops[k][w] = pt.ops;
			/* traps/s of the probe vs the alone-sized point: scale down, never up */
			if (tps > 0 && pr.ok && pr.run_s > 0 && tps < pr.traps / pr.run_s)
				ops[k][w] = (uint64_t)(pt.ops * (tps / (pr.traps / pr.run_s)));
			if (ops[k][w] < 5000)
				ops[k][w] = 5000;
		}
	double alone[2][2][16], busy[2][2][16];
	for (unsigned rep = 0; rep < reps; rep++)
		for (unsigned k = 0; k < 2; k++)
			for (unsigned w = 0; w < 2; w++) {
				if (w == 0 && !can_park)
					continue;
				hl_lock_set_parking(w == 0);
				pt.lock = kinds[k];
				pt.seed = 1 + rep;
				pt.ops = ops[k][w];
				alone[k][w][rep] = point(&pt, false, &bad);
				busy[k][w][rep] = point(&pt, true, &bad);
			}
	hl_lock_set_parking(true);
	sched_setaffinity(0, sizeof(old), &old);
	if (bad) {
		fprintf(stderr, "bench: preempt: a point failed\n");
		rc = 1;
	}
	double drop[2][2] = { { 0 } };
	for (unsigned k = 0; k < 2; k++)
		for (unsigned w = 0; w < 2; w++) {
			char cfg[160], tail[200];
			if (w == 0 && !can_park)
				continue;
			double a = hb_median(alone[k][w], reps), b = hb_median(busy[k][w], reps);
			drop[k][w] = b > 0 ? a / b : 0;
			snprintf(cfg, sizeof(cfg), "mix=faults,cpus=2,cores=2,busy_processes=1,lock=%s,waiters=%s",
				 hl_lock_kind_name(kinds[k]), w == 0 ? "park" : "spin-yield");
			snprintf(tail, sizeof(tail), "alone_traps_per_s=%.0f busy_traps_per_s=%.0f drop=%.2fx", a, b,
				 drop[k][w]);
			json_t *ex = json_object();
			json_object_set_new(ex, "alone_traps_per_s", json_real(a));
			json_object_set_new(ex, "busy_traps_per_s", json_real(b));
			json_object_set_new(ex, "waiters", json_string(w == 0 ? "park" : "spin-yield"));
			json_object_set_new(ex, "lock", json_string(hl_lock_kind_name(kinds[k])));
			hb_result_t(x, "preempt", cfg, b, b > 0 ? 1e9 / b : 0, drop[k][w], "alone_same_run", ex, tail);
		}
	if (can_park)
		hb_target(x, "preempted_holder_drop_ticket", drop[0][0], true, 3.0,
			  "traps/s alone / beside one busy process, faults mix, 2 CPUs on 2 cores, parking ticket "
			  "locks (spin-yield waiters: %.2fx; MCS: park %.2fx, spin-yield %.2fx)",
			  drop[0][1], drop[1][0], drop[1][1]);
	else
		hb_note(x, "preempt: this build cannot park (no futex): only spin-yield waiters measured");
	return rc;
}

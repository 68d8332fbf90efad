/*
 * b_lines.c - "lines" (issue 11): what a cache line shared between CPUs costs, measured on
 * this machine with two threads pinned to two cores, for the three layouts the audit of the
 * trap path fixed (README Scaling, bench/fsdetect):
 *
 *   percpu     each thread increments its own counter; the two counters 8 bytes apart (one
 *              line: false sharing, as per-CPU slots packed in an array) vs 64 bytes apart
 *              (padded). ratio = adjacent / padded, ns per increment.
 *   lockline   both threads take one ck ticket lock in turn and bump the per-lock counters
 *              every acquisition writes (acquisitions, a hold stamp), kept in a second line
 *              (hl_lock before issue 11's audit) vs in the lock word's line (now).
 *              ratio = second line / same line, ns per acquisition.
 *   neighbour  thread A reads a read-mostly field on every iteration (as every step reads
 *              hl_engine's cfg / ref / cpus), thread B writes a word next to it (as a segment
 *              pop wrote the pool lock beside ref.s2p_shard_pages) vs a line away.
 *              ratio = same line / other line, A's ns per iteration.
 *
 * Each case runs --reps rounds of 200 short trials (40 with --quick) between spin barriers,
 * the two layouts alternating trial by trial (the two vCPUs of a VM may move between host
 * cores during a run: both layouts see the same placement). Kept are the trials in which both
 * threads ran side by side (started together, neither preempted: thread CPU time >= 90 % of
 * wall time); the result is the median over the kept trials of each layout, and
 * trials_side_by_side says how many there were. With one online core the suite says so and
 * measures nothing.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ck_pr.h>
#include <ck_spinlock.h>

#include "bench.h"

#define TRIALS_MAX 400u

/* two threads running `trials` short trials of fn in lockstep (a spin barrier before and
 * after each); per thread and trial: wall start, wall and CPU time */
struct two {
	uint64_t n;                 /* iterations per trial */
	unsigned trials;
	int cpu[2];
	void (*fn)(struct two *t, unsigned me, unsigned trial);
	void *arg;
	unsigned bar;               /* spin barrier: arrivals */
	volatile unsigned done;     /* neighbour: trial + 1 once thread 0 finished it */
	double start[2][TRIALS_MAX], wall[2][TRIALS_MAX], cpu_s[2][TRIALS_MAX];
};

struct thr {
	struct two *t;
	unsigned me;
};

static void pin(int cpu)
{
	cpu_set_t s;
	if (cpu < 0)
		return;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

/* both threads arrive: the k-th barrier completes when bar reaches 2k */
static void spin_barrier(struct two *t, unsigned k)
{
	ck_pr_inc_uint(&t->bar);
	while (ck_pr_load_uint(&t->bar) < 2 * k)
		ck_pr_stall();
}

static void *thr_main(void *arg)
{
	struct thr *h = arg;
	struct two *t = h->t;
	unsigned k = 0;

	pin(t->cpu[h->me]);
	for (unsigned r = 0; r < t->trials; r++) {
		spin_barrier(t, ++k);
		double w0 = hb_now(), c0 = hb_cpu_now();
		t->fn(t, h->me, r);
		t->cpu_s[h->me][r] = hb_cpu_now() - c0;
		t->start[h->me][r] = w0;
		t->wall[h->me][r] = hb_now() - w0;
		spin_barrier(t, ++k);
	}
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double med(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

/*
 * Run the trials. Even trials measure layout 0 (the shared line), odd ones layout 1 (the fixed
 * one), so both see the same machine at the same time (two vCPUs of a VM can move between
 * host cores mid-run). Kept: the trials in which both threads really ran side by side: started
 * within 5 % of the trial's length of each other and neither was preempted (CPU time >= 90 %
 * of wall time); on a shared machine the others measure one thread alone. The ns per iteration
 * of thread `who` (or both, -1) of each kept trial is appended to v[layout].
 */
static int run_two(struct two *t, int who, double *v[2], unsigned nv[2])
{
	pthread_t th[2];
	struct thr h[2] = { { t, 0 }, { t, 1 } };

	t->bar = 0;
	t->done = 0;
	for (unsigned i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, thr_main, &h[i]) != 0)
			return -1;
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (unsigned r = 0; r < t->trials; r++) {
		double w = t->wall[0][r] > t->wall[1][r] ? t->wall[0][r] : t->wall[1][r];
		double skew = t->start[0][r] - t->start[1][r];
		bool ok = w > 0 && (skew < 0 ? -skew : skew) <= 0.05 * w;
		for (unsigned i = 0; i < 2; i++)
			ok = ok && t->cpu_s[i][r] >= 0.9 * t->wall[i][r];
		if (!ok)
			continue;
		for (unsigned i = 0; i < 2; i++)
			if (who < 0 || (unsigned)who == i)
				v[r & 1][nv[r & 1]++] = t->wall[i][r] * 1e9 / (double)t->n;
	}
	return 0;
}

/* ---- percpu: two counters in one line vs padded ----------------------------------------- */
struct pc_slots {
	uint64_t adj[2] __attribute__((aligned(64)));   /* 8 bytes apart: one line */
	struct {
		uint64_t v __attribute__((aligned(64)));
	} pad[2];                                         /* a line each */
};

struct pc_arg {
	struct pc_slots *s;
};

static void percpu_fn(struct two *t, unsigned me, unsigned trial)
{
	struct pc_arg *a = t->arg;
	volatile uint64_t *c = (trial & 1) ? &a->s->pad[me].v : &a->s->adj[me];   /* odd: padded */
	for (uint64_t i = 0; i < t->n; i++)
		*c = *c + 1;   /* a plain load and store, as a per-CPU statistic is kept */
}

/* ---- lockline: per-lock counters in the lock word's line vs the next ------------------- */
struct ll_lock {
	ck_spinlock_ticket_t lk;
	int32_t owner;
	uint64_t same_acq, same_stamp;                        /* line 1 */
	uint64_t next_acq __attribute__((aligned(64)));       /* line 2 */
	uint64_t next_stamp;
} __attribute__((aligned(64)));

struct ll_arg {
	struct ll_lock *l;
};

static void lockline_fn(struct two *t, unsigned me, unsigned trial)
{
	struct ll_arg *a = t->arg;
	struct ll_lock *l = a->l;
	bool split = !(trial & 1);   /* even: counters in the second line */
	for (uint64_t i = 0; i < t->n; i++) {
		ck_spinlock_ticket_lock(&l->lk);
		ck_pr_store_32((uint32_t *)&l->owner, me);
		if (split) {
			l->next_acq++;
			l->next_stamp = i;
		} else {
			l->same_acq++;
			l->same_stamp = i;
		}
		ck_pr_store_32((uint32_t *)&l->owner, (uint32_t)-1);
		ck_spinlock_ticket_unlock(&l->lk);
	}
}

/* ---- neighbour: a read-mostly word beside a written one vs a line away ------------------ */
struct nb_words {
	uint64_t ro;                                  /* read by A every iteration */
	uint64_t w_same;                              /* B writes it: same line as ro */
	uint64_t w_other __attribute__((aligned(64)));   /* B writes it: its own line */
};

struct nb_arg {
	struct nb_words *w;
	uint64_t sink;
};

static void neighbour_fn(struct two *t, unsigned me, unsigned trial)
{
	struct nb_arg *a = t->arg;
	volatile struct nb_words *w = a->w;
	if (me == 0) {
		uint64_t s = 0;
		for (uint64_t i = 0; i < t->n; i++) {
			s += w->ro;   /* the per-step read */
			for (unsigned k = 0; k < 8; k++)   /* a little work between reads */
				s = s * 0x9E3779B97F4A7C15ull + k;
		}
		a->sink += s;
		t->done = trial + 1;
	} else {
		volatile uint64_t *p = !(trial & 1) ? &w->w_same : &w->w_other;   /* even: same line */
		uint64_t i = 0;
		while (t->done != trial + 1) {
			*p = ++i;
			for (unsigned k = 0; k < 64; k++)   /* a write now and then */
				__asm__ volatile("" ::: "memory");
		}
	}
}

/* one case: `rounds` runs of `trials` trials, layouts alternating trial by trial; the median
 * over every kept trial of each layout */
static int both(struct two *t, int who, void (*setup)(struct two *t, void *ctx), void *ctx, unsigned rounds,
		double *ns0, double *ns1, unsigned *kept)
{
	unsigned cap = rounds * TRIALS_MAX * 2, nv[2] = { 0, 0 };
	double *v[2] = { malloc(sizeof(double) * cap), malloc(sizeof(double) * cap) };
	int rc = 0;

	if (!v[0] || !v[1])
		rc = -1;
	for (unsigned r = 0; r < rounds && !rc; r++) {
		setup(t, ctx);
		rc = run_two(t, who, v, nv);
	}
	*kept = (nv[0] + nv[1]) / (who < 0 ? 2 : 1);
	*ns0 = nv[0] ? med(v[0], nv[0]) : 0;
	*ns1 = nv[1] ? med(v[1], nv[1]) : 0;
	free(v[0]);
	free(v[1]);
	return rc;
}

struct cases {
	struct pc_slots *s;
	struct pc_arg pa;
	struct ll_lock *l;
	struct ll_arg la;
	struct nb_words *w;
	struct nb_arg na;
};

static void setup_percpu(struct two *t, void *ctx)
{
	struct cases *c = ctx;
	memset(c->s, 0, sizeof(*c->s));
	c->pa = (struct pc_arg){ c->s };
	t->fn = percpu_fn;
	t->arg = &c->pa;
}

static void setup_lockline(struct two *t, void *ctx)
{
	struct cases *c = ctx;
	memset(c->l, 0, sizeof(*c->l));
	ck_spinlock_ticket_init(&c->l->lk);
	c->la = (struct ll_arg){ c->l };
	t->fn = lockline_fn;
	t->arg = &c->la;
}

static void setup_neighbour(struct two *t, void *ctx)
{
	struct cases *c = ctx;
	memset(c->w, 0, sizeof(*c->w));
	c->na = (struct nb_arg){ c->w, 0 };
	t->fn = neighbour_fn;
	t->arg = &c->na;
}

int hb_lines(struct hb_ctx *x)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned rounds = x->reps < 1 ? 1 : x->reps > 8 ? 8 : x->reps;
	unsigned trials = x->quick ? 40 : 200;
	struct two *t = aligned_alloc(64, (sizeof(struct two) + 63) & ~(size_t)63);
	struct cases c;
	double s0, s1;
	unsigned kept;
	char cfg[128], tail[200];
	int rc = 0;

	printf("== cache lines shared between two pinned threads (%u rounds x %u trials; trials where "
	       "both ran side by side, median) ==\n", rounds, trials);
	if (ncpu < 2 || !t) {
		hb_note(x, "lines: one online core: two threads cannot run at once; skipped");
		free(t);
		return 0;
	}
	memset(t, 0, sizeof(*t));
	memset(&c, 0, sizeof(c));
	c.s = aligned_alloc(64, sizeof(*c.s));
	c.l = aligned_alloc(64, sizeof(*c.l));
	c.w = aligned_alloc(64, sizeof(*c.w));
	if (!c.s || !c.l || !c.w) {
		rc = -1;
		goto out;
	}
	t->trials = trials;
	t->cpu[0] = 0;
	t->cpu[1] = 1;

	/* percpu: layout 0 adjacent, 1 padded */
	t->n = 200000;
	if (both(t, -1, setup_percpu, &c, rounds, &s0, &s1, &kept)) {
		rc = -1;
		goto out;
	}
	snprintf(cfg, sizeof(cfg), "case=percpu,threads=2,layout=adjacent");
	snprintf(tail, sizeof(tail), "padded_ns=%.2f adjacent_ns=%.2f trials_side_by_side=%u", s1, s0, kept);
	hb_result_t(x, "lines", cfg, s0 > 0 ? 1e9 / s0 : 0, s0, s1 > 0 ? s0 / s1 : 0, "padded_same_run", NULL, tail);

	/* lockline: layout 0 counters in a second line, 1 in the lock word's */
	t->n = 5000;
	if (both(t, -1, setup_lockline, &c, rounds, &s0, &s1, &kept)) {
		rc = -1;
		goto out;
	}
	snprintf(cfg, sizeof(cfg), "case=lockline,threads=2,counters=second_line");
	snprintf(tail, sizeof(tail), "same_line_ns=%.1f second_line_ns=%.1f trials_side_by_side=%u", s1, s0, kept);
	hb_result_t(x, "lines", cfg, s0 > 0 ? 1e9 / s0 : 0, s0, s1 > 0 ? s0 / s1 : 0, "same_line_same_run", NULL, tail);

	/* neighbour: layout 0 the writer beside the read word, 1 a line away; thread 0's time */
	t->n = 100000;
	if (both(t, 0, setup_neighbour, &c, rounds, &s0, &s1, &kept)) {
		rc = -1;
		goto out;
	}
	snprintf(cfg, sizeof(cfg), "case=neighbour,threads=2,writer=same_line");
	snprintf(tail, sizeof(tail), "other_line_ns=%.2f same_line_ns=%.2f trials_side_by_side=%u", s1, s0, kept);
	hb_result_t(x, "lines", cfg, s0 > 0 ? 1e9 / s0 : 0, s0, s1 > 0 ? s0 / s1 : 0, "other_line_same_run", NULL, tail);
out:
	free(c.s);
	free(c.l);
	free(c.w);
	free(t);
	return rc;
}

/*
 * b_fairness.c - (f) fairness: T threads hammer one lock for a fixed time; the spread of
 * per-thread acquisition counts (min/max/mean/stddev) for each lock kind. Uses the same
 * adapters (locks/<kind>.h) as the validation test. Bare ck spin locks only run with threads <=
 * online cores: with more, a fair spin lock hands the lock to a preempted waiter and
 * convoys (DESIGN-NOTES: "4 threads on 2 cores, no progress for 20 s"); hl_lock's
 * spin-then-yield waiter is what makes T=4 on 2 cores work.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "locks/bl.h"

#define MAXT 8

struct fshared {
	union bl_lock lock;
	const struct bl_adapter *a;
	_Atomic int go, stop;
	uint64_t in_cs __attribute__((aligned(64)));   /* touched inside the critical section */
};

struct fthr {
	struct bl_ctx ctx;
	struct fshared *sh;
	uint64_t count;
	pthread_t th;
} __attribute__((aligned(64)));

static void *hammer(void *arg)
{
	struct fthr *t = arg;
	struct fshared *sh = t->sh;
	uint64_t n = 0;

	while (!atomic_load_explicit(&sh->go, memory_order_acquire))
		;
	while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
		sh->a->lock(&sh->lock, &t->ctx);
		sh->in_cs++;
		sh->a->unlock(&sh->lock, &t->ctx);
		n++;
	}
	t->count = n;
	return NULL;
}

int hb_fairness(struct hb_ctx *x)
{
	static const char *const kinds[] = { "hl_ticket", "hl_mcs", "hl_mutex", "ck_ticket", "ck_mcs", "pthread_mutex" };
	static const unsigned tcounts[] = { 2, 4 };
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	double dur = x->quick ? 0.1 : 0.3;
	char cfg[128], tail[256];
	FILE *dat = hb_datafile(x, "fairness.dat");

	printf("== f. fairness: T threads on one lock, %.1f s each ==\n", dur);
	if (dat)
		fprintf(dat, "# lock/threads min mean max stddev\n");
	for (unsigned ti = 0; ti < 2; ti++)
		for (unsigned k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			const struct bl_adapter *a = bl_find(kinds[k]);
			unsigned T = tcounts[ti];
			struct fshared *sh;
			struct fthr *t;
			double mean = 0, sd = 0, mn = 1e300, mx = 0, total = 0;

			if (a->spins_forever && T > (unsigned)cores) {
				hb_note(x, "fairness: %s with %u threads skipped: bare spin lock, %ld cores (convoys)", a->name, T,
					cores);
				continue;
			}
			sh = aligned_alloc(64, sizeof(*sh));
			t = aligned_alloc(64, sizeof(*t) * T);
			memset(sh, 0, sizeof(*sh));
			memset(t, 0, sizeof(*t) * T);
			sh->a = a;
			a->init(&sh->lock);
			for (unsigned i = 0; i < T; i++) {
				t[i].ctx.cpu = (int)i;
				t[i].sh = sh;
				pthread_create(&t[i].th, NULL, hammer, &t[i]);
			}
			double t0 = hb_now();
			atomic_store_explicit(&sh->go, 1, memory_order_release);
			usleep((useconds_t)(dur * 1e6));
			atomic_store(&sh->stop, 1);
			for (unsigned i = 0; i < T; i++)
				pthread_join(t[i].th, NULL);
			double el = hb_now() - t0;
			for (unsigned i = 0; i < T; i++) {
				double c = (double)t[i].count;
				total += c;
				mn = c < mn ? c : mn;
				mx = c > mx ? c : mx;
			}
			mean = total / T;
			for (unsigned i = 0; i < T; i++)
				sd += ((double)t[i].count - mean) * ((double)t[i].count - mean);
			sd = sqrt(sd / T);
			if ((double)sh->in_cs != total)
				hb_note(x, "fairness: %s lost updates (%.0f != %.0f): mutual exclusion broken", a->name,
					(double)sh->in_cs, total);
			a->destroy(&sh->lock);
			snprintf(cfg, sizeof(cfg), "lock=%s,threads=%u,cores=%ld", a->name, T, cores);
			snprintf(tail, sizeof(tail), "min=%.0f max=%.0f mean=%.0f stddev=%.0f cv=%.3f%s", mn, mx, mean, sd,
				 mean > 0 ? sd / mean : 0, T > (unsigned)cores ? " oversubscribed=1" : "");
			json_t *ex = json_object();
			json_object_set_new(ex, "lock", json_string(a->name));
			json_object_set_new(ex, "threads", json_integer(T));
			json_object_set_new(ex, "min", json_real(mn));
			json_object_set_new(ex, "max", json_real(mx));
			json_object_set_new(ex, "mean", json_real(mean));
			json_object_set_new(ex, "stddev", json_real(sd));
			json_object_set_new(ex, "cv", json_real(mean > 0 ? sd / mean : 0));
			json_t *per = json_array();
			for (unsigned i = 0; i < T; i++)
				json_array_append_new(per, json_integer((json_int_t)t[i].count));
			json_object_set_new(ex, "per_thread", per);
			/* ratio: max/min acquisitions (1.0 = perfectly fair) */
			hb_result_t(x, "fairness", cfg, total / el, total > 0 ? el * 1e9 / total : 0, mn > 0 ? mx / mn : 0,
				    "max_over_min", ex, tail);
			if (dat)
				fprintf(dat, "%s/%u %.0f %.0f %.0f %.0f\n", a->name, T, mn, mean, mx, sd);
			free(t);
			free(sh);
		}
	if (dat)
		fclose(dat);
	return 0;
}

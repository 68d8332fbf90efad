/*
 * validate_locks.c - validation of every lock adapter (locks/<kind>.h), as Concurrency Kit's
 * regressions/<lock>/validate: T threads take the lock many times; inside, each checks it
 * is alone (an occupancy counter must read 1) and bumps a plain counter. Lost updates or
 * a second holder fail the test. The same adapters are what the benchmarks measure.
 * Bare spin locks run with at most as many threads as online cores (they convoy beyond).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "locks/bl.h"

struct vshared {
	union bl_lock lock;
	const struct bl_adapter *a;
	_Atomic unsigned occupancy;
	uint64_t counter;
	_Atomic int errors;
	unsigned iters;
};

struct vthr {
	struct bl_ctx ctx;
	struct vshared *sh;
	pthread_t th;
} __attribute__((aligned(64)));

static void *body(void *arg)
{
	struct vthr *t = arg;
	struct vshared *sh = t->sh;

	for (unsigned i = 0; i < sh->iters; i++) {
		sh->a->lock(&sh->lock, &t->ctx);
		if (atomic_fetch_add_explicit(&sh->occupancy, 1, memory_order_relaxed) != 0)
			atomic_fetch_add(&sh->errors, 1);
		uint64_t c = sh->counter;
		__asm__ __volatile__("" ::: "memory");
		sh->counter = c + 1;
		atomic_fetch_sub_explicit(&sh->occupancy, 1, memory_order_relaxed);
		sh->a->unlock(&sh->lock, &t->ctx);
	}
	return NULL;
}

static int validate(const struct bl_adapter *a, unsigned T, unsigned iters)
{
	struct vshared *sh = aligned_alloc(64, sizeof(*sh));
	struct vthr *t = aligned_alloc(64, sizeof(*t) * T);
	int bad;

	memset(sh, 0, sizeof(*sh));
	memset(t, 0, sizeof(*t) * T);
	sh->a = a;
	sh->iters = iters;
	a->init(&sh->lock);
	for (unsigned i = 0; i < T; i++) {
		t[i].ctx.cpu = (int)i;
		t[i].sh = sh;
		pthread_create(&t[i].th, NULL, body, &t[i]);
	}
	for (unsigned i = 0; i < T; i++)
		pthread_join(t[i].th, NULL);
	a->destroy(&sh->lock);
	bad = sh->errors || sh->counter != (uint64_t)T * iters;
	printf("%-14s threads=%u iters=%u counter=%llu (expect %llu) double-holders=%d: %s\n", a->name, T, iters,
	       (unsigned long long)sh->counter, (unsigned long long)T * iters, (int)sh->errors, bad ? "FAIL" : "ok");
	free(t);
	free(sh);
	return bad;
}

int main(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int fails = 0;

	for (unsigned i = 0; bl_all[i]; i++) {
		const struct bl_adapter *a = bl_all[i];
		unsigned maxT = a->spins_forever ? (unsigned)(cores < 2 ? 2 : cores) : 4;
		if (a->spins_forever && cores < 2)
			maxT = 1;
		for (unsigned T = 1; T <= maxT; T *= 2)
			fails += validate(a, T, 50000);
	}
	return fails ? 1 : 0;
}

/*
 * b_disjoint.c - engine-level disjoint VMs: each CPU thread works only on its own VM
 * (map_pfn_vm on npt(vmid), 3 in 4; search_load_info on vminfo(vmid), 1 in 4), so
 * per-object locks never contend while one global lock serialises every step. This
 * isolates the lock structure from the trap layer's own (lock-free) work, which dominates
 * the trap-level faults mix and which also shares s2page and npt(host) between CPUs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "hl_trans.h"

#define PG HL_PAGE_SIZE

struct dshared {
	struct hl_engine *e;
	_Atomic int go, stop;
};

struct dthr {
	struct dshared *sh;
	int cpu;
	uint32_t vmid;
	uint64_t n;
	bool bad;
	pthread_t th;
} __attribute__((aligned(64)));

static void *worker(void *arg)
{
	struct dthr *t = arg;
	struct hl_engine *e = t->sh->e;
	uint64_t n = 0, pfn0 = HL_RAM_BASE_PFN + 1024 + (uint64_t)t->cpu * 64;

	while (!atomic_load_explicit(&t->sh->go, memory_order_acquire))
		;
	while (!atomic_load_explicit(&t->sh->stop, memory_order_relaxed)) {
		for (unsigned i = 0; i < 64; i++, n++) {
			int rc;
			if ((i & 3) == 3) {
				uint64_t remap;
				rc = hl_search_load_info(e, t->cpu, t->vmid, hl_ipa(0x80000000ull), &remap);
			} else {
				rc = hl_map_pfn_vm(e, t->cpu, t->vmid, hl_ipa(0x40000000ull + i * PG), (pfn0 + i) * PG, 3);
			}
			if (rc != HL_OK)
				t->bad = true;
		}
	}
	t->n = n;
	return NULL;
}

static double run_point(unsigned cpus, bool global, enum hl_lock_kind kind, double dur, bool *bad)
{
	struct hl_engine *e = hb_engine(cpus, kind, global, false, 0);
	struct dshared sh = { .e = e };
	struct dthr t[8];
	double total = 0;

	if (!e) {
		*bad = true;
		return 0;
	}
	memset(t, 0, sizeof(t));
	for (unsigned i = 0; i < cpus; i++) {
		t[i].sh = &sh;
		t[i].cpu = (int)i;
		if (hl_register_kvm(e, (int)i, 0x1000 + i, 0, &t[i].vmid) != HL_OK)
			*bad = true;
		/* build the VM's tables once, outside the timed part */
		for (unsigned p = 0; p < 64; p++)
			hl_map_pfn_vm(e, (int)i, t[i].vmid, hl_ipa(0x40000000ull + p * PG),
				      (HL_RAM_BASE_PFN + 1024 + i * 64 + p) * PG, 3);
		pthread_create(&t[i].th, NULL, worker, &t[i]);
	}
	double t0 = hb_now();
	atomic_store_explicit(&sh.go, 1, memory_order_release);
	usleep((useconds_t)(dur * 1e6));
	atomic_store(&sh.stop, 1);
	for (unsigned i = 0; i < cpus; i++) {
		pthread_join(t[i].th, NULL);
		total += (double)t[i].n;
		*bad |= t[i].bad;
	}
	double el = hb_now() - t0;
	hl_engine_free(e);
	return total / el;
}

int hb_disjoint(struct hb_ctx *x)
{
	static const unsigned cl[] = { 1, 2, 4 };
	double dur = x->quick ? 0.1 : 0.25, med[3][2] = { { 0 } };
	unsigned reps = x->reps > 16 ? 16 : x->reps;
	bool bad = false;
	char cfg[160], tail[160];

	printf("== b'. engine-level disjoint VMs: per-object locks vs one global lock (median of %u) ==\n", reps);
	for (unsigned ci = 0; ci < 3; ci++) {
		double v[2][16];
		if (cl[ci] > x->max_cpus)
			continue;
		for (unsigned r = 0; r < reps; r++)
			for (unsigned g = 0; g < 2; g++)
				v[g][r] = run_point(cl[ci], g, HL_LOCK_TICKET, dur, &bad);
		for (unsigned g = 0; g < 2; g++)
			med[ci][g] = hb_median(v[g], reps);
		for (unsigned g = 0; g < 2; g++) {
			snprintf(cfg, sizeof(cfg), "workload=disjoint-vms-engine,cpus=%u,lock=ticket,locking=%s,logs=on", cl[ci],
				 g ? "global" : "per-object");
			snprintf(tail, sizeof(tail), "speedup_vs_1cpu=%.2f%s", med[0][g] > 0 ? med[ci][g] / med[0][g] : 0,
				 cl[ci] > 2 ? " oversubscribed=1" : "");
			/* ratio: throughput of this vs the other locking scheme's time per op */
			hb_result_t(x, "disjoint", cfg, med[ci][g], med[ci][g] > 0 ? 1e9 / med[ci][g] : 0,
				    g ? med[ci][1] / med[ci][0] : med[ci][0] / med[ci][1], g ? "per-object" : "global", NULL, tail);
		}
	}
	if (x->max_cpus >= 2 && med[1][1] > 0)
		hb_target(x, "per_object_vs_global_disjoint_engine_2cpu", med[1][0] / med[1][1], false, 1.5,
			  "engine-level disjoint VMs, 2 CPUs: per-object %.2f M ops/s vs global %.2f M ops/s", med[1][0] / 1e6,
			  med[1][1] / 1e6);
	return bad ? 1 : 0;
}

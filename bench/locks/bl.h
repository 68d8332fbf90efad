/*
 * bl.h - lock adapters shared by the lock validation test and the benchmarks, in
 * Concurrency Kit's regressions/ck_spinlock style: each lock is one small header
 * (locks/<name>.h) with static inline init/lock/unlock over a common context; the
 * validation test (bench/validate_locks.c) and the benchmarks (bench/b_fairness.c,
 * bench/b_uncontended.c) include the same adapters, so what is validated is exactly
 * what is measured.
 *
 * Kinds: bare ck ticket, bare ck MCS, bare pthread_mutex, and hyplog's hl_lock in its
 * three kinds (ticket, MCS, mutex: owner tracking, stranding checks, spin-then-yield).
 */
#ifndef HB_BL_H
#define HB_BL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <ck_spinlock.h>

#include "hl_lock.h"

/* one lock object, whatever its kind */
union bl_lock {
	ck_spinlock_ticket_t ticket;
	ck_spinlock_mcs_t mcs;
	pthread_mutex_t mutex;
	struct hl_lock hl;
} __attribute__((aligned(64)));

/* per-thread context: the CPU id and the thread's queue node for MCS kinds */
struct bl_ctx {
	int cpu;
	struct ck_spinlock_mcs node;
} __attribute__((aligned(64)));

struct bl_adapter {
	const char *name;
	bool spins_forever;      /* bare spin lock: convoys when threads outnumber cores */
	void (*init)(union bl_lock *l);
	void (*destroy)(union bl_lock *l);
	void (*lock)(union bl_lock *l, struct bl_ctx *c);
	void (*unlock)(union bl_lock *l, struct bl_ctx *c);
};

/* BL_ADAPTER(name, spins): the ops table of the inline functions bl_<name>_* */
#define BL_ADAPTER(nm, spins)                                                        \
	const struct bl_adapter bl_##nm = {                                          \
		.name = #nm, .spins_forever = (spins), .init = bl_##nm##_init,        \
		.destroy = bl_##nm##_destroy, .lock = bl_##nm##_lock,                 \
		.unlock = bl_##nm##_unlock,                                           \
	}

extern const struct bl_adapter bl_ck_ticket, bl_ck_mcs, bl_pthread_mutex, bl_hl_ticket, bl_hl_mcs,
	bl_hl_mutex;
/* every adapter, NULL-terminated */
extern const struct bl_adapter *const bl_all[];
const struct bl_adapter *bl_find(const char *name);

#endif

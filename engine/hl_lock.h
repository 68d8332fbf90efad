/*
 * hl_lock.h - one lock per shared object, built on Concurrency Kit.
 *
 * GLOBAL LOCK ORDER (SPEC §4), outer to inner, never violated:
 *
 *     smmu -> vminfo(v) -> core -> s2page -> { npt(host), npt(v), npt(COREVISOR), spt }
 *
 * Two locks of one class are taken in ascending object-ID order; the leaf class
 * { npt(*), spt } is one class, so it is ascending ID there too (spt = 3 < npt = 5+v).
 * Debug builds abort on an out-of-order acquire and name both locks.
 *
 * What each lock protects: the object with the same ID (its byte image) and that
 * object's log tail. flatmem has no lock: every flatmem change happens under s2page.
 *
 * Kinds: ck ticket (default, fair, as SeKVM's arm64 4.18 spinlock), ck MCS, and
 * pthread_mutex (a baseline for benchmarks). The hosted waiters spin a bounded number
 * of times and then yield, so a fair lock does not convoy when CPU threads outnumber
 * cores. A lock left held by a halted CPU is "stranded": waiters notice and give up
 * instead of spinning forever (SPEC §8, relate_hlock).
 */
#ifndef HL_LOCK_H
#define HL_LOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <ck_spinlock.h>

/* ck's fences come from ck_md.h: aarch64 needs the arm64 (RMO) one. The amd64 header in the
 * build host's /usr/include is TSO and would make every aarch64 fence a compiler barrier. */
#if defined(__aarch64__) && !defined(CK_MD_RMO)
#error "aarch64 build with a non-RMO ck_md.h (the amd64 one?): put the arm64 sysroot headers first (cross/aarch64-linux-gnu.ini)"
#endif

#include "hl_const.h"

enum hl_lock_kind {
	HL_LOCK_TICKET = 0,
	HL_LOCK_MCS = 1,
	HL_LOCK_MUTEX = 2,
};

#define HL_NO_OWNER (-1)

struct hl_lock {
	union {
		ck_spinlock_ticket_t ticket;
		struct ck_spinlock_mcs *mcs;
		pthread_mutex_t mutex;
	} u;
	uint32_t kind;
	uint32_t id;          /* object ID */
	int32_t owner;        /* CPU holding it, HL_NO_OWNER when free */
	uint32_t stranded;    /* held forever by a halted CPU */
	uint64_t acquisitions;
} __attribute__((aligned(64)));

/* one MCS queue node per (CPU, lock); lives in the CPU's private data */
typedef struct ck_spinlock_mcs hl_mcs_node_t;

void hl_lock_init(struct hl_lock *lk, unsigned id, enum hl_lock_kind kind);
void hl_lock_destroy(struct hl_lock *lk);
/* Acquire for `cpu`. Returns false (without holding it) iff the lock is stranded. */
bool hl_lock_lock(struct hl_lock *lk, int cpu, hl_mcs_node_t *node);
bool hl_lock_trylock(struct hl_lock *lk, int cpu, hl_mcs_node_t *node);
void hl_lock_unlock(struct hl_lock *lk, int cpu, hl_mcs_node_t *node);
/* The holder halted: keep the lock held forever and let waiters give up. */
void hl_lock_strand(struct hl_lock *lk, int cpu);
bool hl_lock_held_by(const struct hl_lock *lk, int cpu);
bool hl_lock_is_stranded(const struct hl_lock *lk);

#define HL_ASSERT_HELD(lk, cpu)                                                         \
	do {                                                                            \
		if (!hl_lock_held_by((lk), (cpu)))                                      \
			hl_lock_not_held_panic((lk), (cpu), __func__);                   \
	} while (0)
_Noreturn void hl_lock_not_held_panic(const struct hl_lock *lk, int cpu, const char *fn);

/* ---- global order ------------------------------------------------------------------- */
/* order key of an object ID: strictly increasing along the global order */
unsigned hl_lock_order_key(unsigned id);
/* printable "s2page", "npt(3)", "vminfo(2)" */
const char *hl_obj_name(unsigned id, char *buf, unsigned len);

/* spin iterations before the hosted waiter yields its core */
#define HL_LOCK_SPIN_LIMIT 256u

const char *hl_lock_kind_name(enum hl_lock_kind k);
int hl_lock_kind_parse(const char *s, enum hl_lock_kind *out);

#endif

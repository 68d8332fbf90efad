/*
 * hl_lock.h - one lock per shared object, built on Concurrency Kit.
 *
 * GLOBAL LOCK ORDER (SPEC §4 extended by the shard refinement, issue 11), outer to inner,
 * never violated:
 *
 *     smmu -> vminfo(v) -> core -> s2page[0] -> s2page[1] -> ... -> s2page[n-1]
 *          -> { spt, npt(host), npt(host)[0..], npt(1..MAX_VM), npt(COREVISOR) }
 *
 * Two locks of one class are taken in ascending object-ID order; the leaf class
 * { npt(*), spt } is one class, so it is ascending ID there too (spt = 3 < npt = 5+v).
 * Shards (hl_const.h: IDs from HL_ID_END; engine/hl_state.h: the refinement map) take
 * their abstract object's place: shards of one object in ascending index (= ascending
 * address), right after the object itself (a partly sharded object's residual comes
 * before its shards). So s2page's shards are the s2page class, and npt(host)'s shards sit
 * between npt(host) and npt(1). A fully sharded object (s2page with shards) is never
 * locked itself. A step that spans shards (a level-2 assign's 512 pages, a bank clear,
 * anything whose pages are known only after locking) takes every shard it may touch, in
 * this order, before its first write. hl_lock_order_key encodes it (class, abstract ID,
 * 1 + shard index). Debug builds abort on an out-of-order acquire and name both locks.
 *
 * What each lock protects: the object with the same ID (its byte image; a shard: the
 * bytes of its ranges) and that object's log tail. flatmem has no lock: every flatmem
 * change happens under s2page (with shards: under the shard of that page).
 *
 * Kinds: ck ticket (default, fair, as SeKVM's arm64 4.18 spinlock), ck MCS, and
 * pthread_mutex (a baseline for benchmarks). The lock itself is always ck's (or the
 * mutex); only the waiting is ours: a waiter spins HL_LOCK_SPIN_NS, then
 * PARKS (hl_lock_arch_park: a Linux futex in the hosted build; a spin hint at EL2, where
 * a CPU is never preempted), and the unlock wakes exactly the waiter whose turn it is:
 *   ticket: the waiter with ticket t sleeps on slot[t % HL_LOCK_SLOTS] (low 16 bits:
 *           sleepers, high 16: wake sequence); the unlock that makes position t bumps
 *           that slot's sequence and wakes it (two tickets on one slot both wake; the
 *           other re-parks);
 *   MCS:    the waiter sleeps on its own queue node's `locked` word; the unlock wakes
 *           its successor's;
 *   mutex:  every sleeper on the lock's wake_seq (the baseline kind).
 * `parked` counts the sleepers, so an unlock with nobody asleep makes no system call.
 * So a preempted holder costs its waiters no CPU time, and a fair lock does not convoy
 * when CPU threads outnumber cores. Lost wake-ups are excluded by a store->load fence
 * on both sides (waiter: announce itself, then load the lock word; unlocker: release,
 * then load the announcement); a park also times out after HL_LOCK_PARK_TIMEOUT_MS
 * (counted in park_timeouts, which the tests require to stay 0).
 *
 * A lock left held by a halted CPU is "stranded": waiters notice and give up instead of
 * waiting forever (SPEC §8, relate_hlock); hl_lock_strand wakes parked waiters.
 *
 * Profile (issue 11): every lock counts acquisitions, contended acquisitions (the first
 * attempt failed), total wait time (clock read only on the contended path), parks, and,
 * with hl_lock_profile(lk, true), total hold time (two reads of the CPU's counter per
 * acquisition: rdtsc, CNTVCT_EL0; converted to ns when the stats are read).
 * The counters are per lock and written only by the holder, under the lock, so they cost no
 * atomics; those of every acquisition share the lock word's line (below), so they cost no
 * extra line transfer either. Read them with hl_lock_stats() once the CPUs are quiet.
 */
#ifndef HL_LOCK_H
#define HL_LOCK_H

#include <assert.h>
#include <pthread.h>
#include <stddef.h>
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

/* futex words per ticket lock (a power of two dividing 2^16): waiters with tickets this far
 * apart share one, which costs only a spurious wake-up */
#define HL_LOCK_SLOTS 64u

/* the cache line size every layout below is padded to (x86-64 and the arm64 cores hyplog
 * targets; a larger line only costs the padding its purpose) */
#define HL_CACHELINE 64

/*
 * Cache-line layout (issue 11). Line 1 is the lock word and everything the holder writes on
 * EVERY acquisition and release (owner, the acquisition count, the hold-time stamp and sum,
 * the MCS holder node): the acquirer already owns that line exclusively after its atomic on
 * the lock word, so a handoff from one CPU to another moves one line. (Before, the counters
 * sat in a second line, which every handoff moved too.) Line 2 is written only on the
 * contended path (waiters' counts and wait time, parks) and holds the pthread mutex of the
 * baseline kind; the ticket waiters' futex slots follow on lines of their own. Locks sit in
 * arrays (hl_engine.locks): the struct is a whole number of lines, so two objects' locks
 * never share one.
 */
struct hl_lock {
	/* line 1: the lock word and what every acquisition writes */
	union {
		ck_spinlock_ticket_t ticket;
		struct ck_spinlock_mcs *mcs;
	} u;
	uint16_t kind;        /* enum hl_lock_kind */
	uint16_t id;          /* object ID */
	int32_t owner;        /* CPU holding it, HL_NO_OWNER when free */
	uint32_t stranded;    /* held forever by a halted CPU */
	uint32_t parked;      /* waiters asleep (or about to sleep) on wake_seq */
	uint32_t wake_seq;    /* the futex word: bumped by an unlock that saw parked != 0 */
	uint32_t profile;     /* time the hold of every acquisition */
	uint64_t acquisitions;
	uint64_t t_acq;       /* hl_lock_ticks at the current acquisition (profile on) */
	uint64_t hold_ticks;  /* acquired -> released, only while `profile` is on (hl_lock_ticks) */
	struct ck_spinlock_mcs *holder_node;   /* MCS: the holder's queue node (hl_lock_strand) */
	/* line 2: the contended path only, and the baseline kind's mutex */
	uint64_t contended __attribute__((aligned(HL_CACHELINE)));   /* first attempt failed */
	uint64_t wait_ns;     /* summed over contended acquisitions: first attempt -> acquired */
	uint64_t parks;       /* times a waiter went to sleep */
	uint64_t giveups;     /* waiters that gave up on a stranded lock (atomic) */
	uint32_t park_timeouts; /* parks that ended by timeout (a lost wake-up would show here) */
	pthread_mutex_t mutex;
	/* ticket waiters' futex words: sleepers (low 16 bits) and wake sequence (high 16) */
	uint32_t slot[HL_LOCK_SLOTS] __attribute__((aligned(HL_CACHELINE)));
} __attribute__((aligned(HL_CACHELINE)));
static_assert(offsetof(struct hl_lock, holder_node) + sizeof(void *) <= HL_CACHELINE,
	      "what every acquisition writes shares the lock word's line");
static_assert(offsetof(struct hl_lock, contended) == HL_CACHELINE && sizeof(struct hl_lock) % HL_CACHELINE == 0,
	      "the contended-path line, then the slots; locks in an array never share a line");
static_assert(HL_OBJ_END <= 0xFFFFu, "object IDs fit the lock's 16-bit id");

/* a snapshot of one lock's profile */
struct hl_lock_stats {
	uint64_t acquisitions, contended, wait_ns, hold_ns, parks, park_timeouts, giveups;
	bool hold_timed;      /* hold_ns is meaningful (profile was on) */
};

/* One MCS queue node per (CPU, lock); lives in the CPU's private data (hl_cpu.mcs[]), on a
 * line of its own (issue 11): other CPUs write into it (a waiter links itself behind it, an
 * unlock hands over through it), so with ck's 16-byte nodes packed four to a line, a queue
 * forming on one lock evicted the line this CPU spins on for another. */
typedef struct hl_mcs_node {
	struct ck_spinlock_mcs n;
} __attribute__((aligned(HL_CACHELINE))) hl_mcs_node_t;
static_assert(sizeof(hl_mcs_node_t) == HL_CACHELINE, "one MCS node per line");

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

/* a waiter spins this long before it parks (~3x a futex wake-up and context switch) */
#define HL_LOCK_SPIN_NS 30000u
/* the spin-then-yield waiter (parking off, and the EL2 image): stalls between yields */
#define HL_LOCK_YIELD_SPINS 256u
/* a park never sleeps longer than this (a safety net; park_timeouts counts them) */
#define HL_LOCK_PARK_TIMEOUT_MS 1000u

/* ---- profile ------------------------------------------------------------------------ */
/* time the hold of every acquisition from now on (two clock reads each) */
void hl_lock_profile(struct hl_lock *lk, bool on);
/* read the counters (quiesced lock: no CPU inside) */
void hl_lock_stats(const struct hl_lock *lk, struct hl_lock_stats *out);
void hl_lock_stats_reset(struct hl_lock *lk);
/* the clock the wait times and the spin budget use, in ns (monotonic) */
uint64_t hl_lock_clock_ns(void);
/* the cheap counter hold times use (x86: TSC; aarch64: CNTVCT_EL0; else ns), and a span of
 * it in ns (integer only: the EL2 image has no floating point) */
uint64_t hl_lock_ticks(void);
uint64_t hl_lock_ticks_ns(uint64_t ticks);

/* ---- the arch hook of the waiting: sleep while *word == val / wake all sleepers -------- */
/* hosted: futex(FUTEX_WAIT_PRIVATE) with HL_LOCK_PARK_TIMEOUT_MS, returns false on timeout;
 * EL2 image: a spin hint (CPUs are not preempted there), returns true */
bool hl_lock_arch_park(uint32_t *word, uint32_t val);
void hl_lock_arch_wake_all(uint32_t *word);
/* process-wide: waiters park (default where the arch can) or, off, spin HL_LOCK_YIELD_SPINS
 * times and sched_yield as before issue 11 (the baseline of the preempted-holder benchmark).
 * Flip it only while no lock is contended. */
void hl_lock_set_parking(bool on);
bool hl_lock_parking(void);

const char *hl_lock_kind_name(enum hl_lock_kind k);
int hl_lock_kind_parse(const char *s, enum hl_lock_kind *out);

#endif

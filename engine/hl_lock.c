/* hl_lock.c - per-object locks over ck ticket / ck MCS / pthread_mutex, with a parking
 * slow path (futex, hosted) and a per-lock profile. */
#include "hl_lock.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ck_pr.h>

#include "hl_tsan.h"

/* The arch hook of the waiting (hl_lock.h). Only the hosted Linux build can park: the EL2
 * image has no scheduler to give a core to, and its CPUs are never preempted. */
#if defined(__linux__) && !defined(HL_EL2_IMAGE)
#define HL_LOCK_CAN_PARK 1
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#else
#define HL_LOCK_CAN_PARK 0
#endif

/* ck's atomics are inline assembly that ThreadSanitizer cannot see: every acquire and
 * release is annotated, or every lock-protected access is reported as a race. */
#define TSAN_ACQUIRE(a) HL_TSAN_ACQUIRE(a)
#define TSAN_RELEASE(a) HL_TSAN_RELEASE(a)

uint64_t hl_lock_clock_ns(void)
{
#if defined(HL_EL2_IMAGE)
	uint64_t cnt, frq;
	__asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(cnt) : : "memory");
	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(frq));
	if (!frq)
		return 0;
	return cnt / frq * 1000000000ull + cnt % frq * 1000000000ull / frq;
#else
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

bool hl_lock_arch_park(uint32_t *word, uint32_t val)
{
#if HL_LOCK_CAN_PARK
	struct timespec to = { HL_LOCK_PARK_TIMEOUT_MS / 1000, (long)(HL_LOCK_PARK_TIMEOUT_MS % 1000) * 1000000L };
	long r = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, &to, NULL, 0);
	return !(r == -1 && errno == ETIMEDOUT);
#else
	(void)word;
	(void)val;
	ck_pr_stall();
	return true;
#endif
}

void hl_lock_arch_wake_all(uint32_t *word)
{
#if HL_LOCK_CAN_PARK
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
	(void)word;
#endif
}

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

uint64_t hl_lock_ticks(void)
{
#if defined(__x86_64__)
	return __rdtsc();
#elif defined(__aarch64__)
	uint64_t cnt;
	__asm__ volatile("mrs %0, cntvct_el0" : "=r"(cnt));
	return cnt;
#else
	return hl_lock_clock_ns();
#endif
}

#if defined(__x86_64__)
static uint64_t tsc_mult;   /* ns per tick, 32.32 fixed point */
static pthread_once_t tsc_once = PTHREAD_ONCE_INIT;

/* the TSC's period against CLOCK_MONOTONIC over 2 ms (once per process) */
static void tsc_calibrate(void)
{
	uint64_t t0 = hl_lock_clock_ns(), c0 = __rdtsc(), t1, c1;
	do {
		t1 = hl_lock_clock_ns();
	} while (t1 - t0 < 2000000u);
	c1 = __rdtsc();
	tsc_mult = c1 > c0 ? (uint64_t)(((unsigned __int128)(t1 - t0) << 32) / (c1 - c0)) : 1ull << 32;
}
#endif

uint64_t hl_lock_ticks_ns(uint64_t ticks)
{
#if defined(__x86_64__)
	pthread_once(&tsc_once, tsc_calibrate);
	return (uint64_t)(((unsigned __int128)ticks * tsc_mult) >> 32);
#elif defined(__aarch64__)
	uint64_t frq;
	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(frq));
	if (!frq)
		return ticks;
	return ticks / frq * 1000000000ull + ticks % frq * 1000000000ull / frq;
#else
	return ticks;
#endif
}

void hl_lock_init(struct hl_lock *lk, unsigned id, enum hl_lock_kind kind)
{
	memset(lk, 0, sizeof(*lk));
	lk->kind = kind;
	lk->id = id;
	lk->owner = HL_NO_OWNER;
	switch (kind) {
	case HL_LOCK_TICKET:
		ck_spinlock_ticket_init(&lk->u.ticket);
		break;
	case HL_LOCK_MCS:
		ck_spinlock_mcs_init(&lk->u.mcs);
		break;
	case HL_LOCK_MUTEX:
		pthread_mutex_init(&lk->mutex, NULL);
		break;
	}
}

void hl_lock_destroy(struct hl_lock *lk)
{
	if (lk->kind == HL_LOCK_MUTEX && !lk->stranded)
		pthread_mutex_destroy(&lk->mutex);
}

static inline bool stranded(const struct hl_lock *lk)
{
	return ck_pr_load_32(&((struct hl_lock *)lk)->stranded) != 0;
}

/* ---- waiting ---------------------------------------------------------------------------- */

/* parking on (default) or off: spin then sched_yield, as before issue 11 (benchmarks) */
static uint32_t park_enabled = 1;

void hl_lock_set_parking(bool on)
{
	ck_pr_store_32(&park_enabled, on ? 1u : 0u);
}

bool hl_lock_parking(void)
{
	return HL_LOCK_CAN_PARK && ck_pr_load_32(&park_enabled) != 0;
}

/* one waiter: what it waits for, and what it saw while waiting (added to the profile by
 * the waiter itself once it holds the lock) */
struct waiter {
	struct hl_lock *lk;
	unsigned mine;             /* ticket */
	struct ck_spinlock_mcs *node;   /* MCS: our queue node */
	uint64_t t0;               /* clock at the failed first attempt */
	uint32_t parks, timeouts;
};

/* is it our turn? (a mutex's turn is a successful trylock: we then hold it) */
static inline bool turn(struct waiter *w)
{
	struct hl_lock *lk = w->lk;

	switch (lk->kind) {
	case HL_LOCK_MCS:
		return ck_pr_load_uint(&w->node->locked) == false;
	case HL_LOCK_MUTEX:
		return pthread_mutex_trylock(&lk->mutex) == 0;
	default:
#if defined(CK_F_SPINLOCK_TICKET_TRYLOCK) && defined(__x86_64__)
		return (uint16_t)(ck_pr_load_32(&lk->u.ticket.value) & 0xFFFFu) == (uint16_t)w->mine;
#else
		return ck_pr_load_uint(&lk->u.ticket.position) == w->mine;
#endif
	}
}

/*
 * Wait for our turn: spin, then park (hosted) or yield (EL2). Returns false, without
 * holding the lock, iff it is stranded. Parking, against the unlocker (hl_lock_unlock):
 *
 *     waiter                                  unlocker
 *     parked++; announce (atomic); fence      release the lock word; fence (store->load)
 *     v = the futex word                      if (parked != 0 && the next waiter announced)
 *     if (!turn && !stranded) sleep while         { change its futex word; wake it }
 *         the futex word == v
 *     withdraw; parked--
 *
 * Either the unlocker sees the announcement (and changes the word, so the futex wait
 * returns at once or is woken), or the waiter's turn check sees the release: no lost
 * wake-up. The announcement and futex word per kind:
 *   ticket  slot[mine % HL_LOCK_SLOTS] += 1; the unlocker adds 1 << 16 to the slot of
 *           the new position;
 *   MCS     our node's `locked` (1 while we wait: ck's layout); the unlocker's store of 0
 *           into it is the change, `parked` the announcement;
 *   mutex   wake_seq, `parked` the announcement; the unlocker bumps wake_seq.
 */
static bool wait_turn(struct waiter *w)
{
	struct hl_lock *lk = w->lk;
	bool park = ck_pr_load_32(&park_enabled) != 0;
	uint64_t spin_until = w->t0 + HL_LOCK_SPIN_NS;
	unsigned spins = 0;

	for (;;) {
		if (turn(w))
			return true;
		if (stranded(lk))
			return false;
		if (!park) {
			/* the pre-issue-11 waiter (a baseline for benchmarks): 256 stalls, then yield */
			if (++spins < HL_LOCK_YIELD_SPINS) {
				ck_pr_stall();
			} else {
				spins = 0;
				sched_yield();
			}
			continue;
		}
		/* spin for HL_LOCK_SPIN_NS (a pause lasts 1 to 140 cycles, so count time, not
		 * pauses; the clock is read every 32nd round) */
		if ((++spins & 31u) != 0 || hl_lock_clock_ns() < spin_until) {
			ck_pr_stall();
			continue;
		}
#if HL_LOCK_CAN_PARK
		uint32_t *word, val;
		ck_pr_inc_32(&lk->parked);
		switch (lk->kind) {
		case HL_LOCK_TICKET:
			word = &lk->slot[w->mine % HL_LOCK_SLOTS];
			val = ck_pr_faa_32(word, 1) + 1;
			break;
		case HL_LOCK_MCS:
			word = &w->node->locked;
			val = 1;   /* true: still waiting */
			break;
		default:
			word = &lk->wake_seq;
			val = 0;
			break;
		}
		ck_pr_fence_atomic_load();
		if (lk->kind == HL_LOCK_MUTEX)
			val = ck_pr_load_32(word);
		bool got = turn(w);
		if (!got && !stranded(lk)) {
			w->parks++;
			if (!hl_lock_arch_park(word, val))
				w->timeouts++;
		}
		if (lk->kind == HL_LOCK_TICKET)
			ck_pr_dec_32(word);
		ck_pr_dec_32(&lk->parked);
		if (got)
			return true;
#else
		sched_yield();
#endif
		spin_until = hl_lock_clock_ns() + HL_LOCK_SPIN_NS;
	}
}

/* a waiter that gave up (stranded lock): counted without holding the lock (nobody else
 * writes the profile of a stranded lock: its holder halted) */
static void gave_up(struct hl_lock *lk, const struct waiter *w)
{
	ck_pr_inc_64(&lk->giveups);
	if (w->timeouts)
		ck_pr_add_32(&lk->park_timeouts, w->timeouts);
}

#if HL_LOCK_CAN_PARK
/* wake the sleepers of ticket slot s, if any */
static void wake_slot(uint32_t *s)
{
	if (ck_pr_load_32(s) & 0xFFFFu) {
		ck_pr_add_32(s, 0x10000u);
		hl_lock_arch_wake_all(s);
	}
}
#endif

/* After a release: wake the waiter whose turn it is, if it sleeps. The fence orders the
 * release before the loads of the announcements (store->load; the x86 ticket release is
 * a locked RMW already). `next` is the ticket now served (ticket); `succ` the MCS
 * successor that now holds it (NULL: none). */
static inline void wake_parked(struct hl_lock *lk, bool release_was_atomic, unsigned next,
			       struct ck_spinlock_mcs *succ)
{
#if HL_LOCK_CAN_PARK
	if (release_was_atomic)
		ck_pr_fence_atomic_load();
	else
		ck_pr_fence_memory();
	if (ck_pr_load_32(&lk->parked) == 0)
		return;
	switch (lk->kind) {
	case HL_LOCK_TICKET:
		wake_slot(&lk->slot[next % HL_LOCK_SLOTS]);
		break;
	case HL_LOCK_MCS:
		if (succ)
			hl_lock_arch_wake_all(&succ->locked);
		break;
	default:
		ck_pr_inc_32(&lk->wake_seq);
		hl_lock_arch_wake_all(&lk->wake_seq);
		break;
	}
#else
	(void)lk;
	(void)release_was_atomic;
	(void)next;
	(void)succ;
#endif
}

/*
 * Ticket acquire with a waiter we control. ck's own loop cannot park or give up, so we
 * take a ticket with ck's layout and wait on its "position" half ourselves.
 * Returns 1 acquired at once, 2 acquired after waiting, 0 stranded.
 */
static int ticket_lock(struct hl_lock *lk, struct waiter *w)
{
	ck_spinlock_ticket_t *t = &lk->u.ticket;
#if defined(CK_F_SPINLOCK_TICKET_TRYLOCK) && defined(__x86_64__)
	/* x86 layout: one 32-bit word, next ticket in the high half, position in the low */
	uint32_t v = ck_pr_faa_32(&t->value, 0x10000u);
	w->mine = (uint16_t)(v >> 16);
	if ((uint16_t)(v & 0xFFFFu) == (uint16_t)w->mine) {
		ck_pr_fence_lock();
		return 1;
	}
#else
	w->mine = ck_pr_faa_uint(&t->next, 1);
	if (ck_pr_load_uint(&t->position) == w->mine) {
		ck_pr_fence_lock();
		return 1;
	}
#endif
	w->t0 = hl_lock_clock_ns();
	if (!wait_turn(w))
		return 0;   /* the lock is dead forever; our ticket no longer matters */
	ck_pr_fence_lock();
	return 2;
}

/* MCS acquire, same idea: ck's node layout, our waiting loop */
static int mcs_lock(struct hl_lock *lk, struct ck_spinlock_mcs *node, struct waiter *w)
{
	struct ck_spinlock_mcs *prev;

	node->locked = true;
	node->next = NULL;
	ck_pr_fence_store_atomic();
	prev = ck_pr_fas_ptr(&lk->u.mcs, node);
	if (prev == NULL) {
		ck_pr_fence_lock();
		return 1;
	}
	w->t0 = hl_lock_clock_ns();
	w->node = node;
	ck_pr_store_ptr(&prev->next, node);
	if (!wait_turn(w))
		return 0;
	ck_pr_fence_lock();
	return 2;
}

/* trylock + wait so a stranded mutex can be abandoned */
static int mutex_lock(struct hl_lock *lk, struct waiter *w)
{
	if (pthread_mutex_trylock(&lk->mutex) == 0)
		return 1;
	w->t0 = hl_lock_clock_ns();
	return wait_turn(w) ? 2 : 0;
}

/* the holder's bookkeeping right after acquiring */
static inline void acquired(struct hl_lock *lk, int cpu, const struct waiter *w, bool waited)
{
	TSAN_ACQUIRE(lk);
	ck_pr_store_int(&lk->owner, cpu);
	lk->acquisitions++;
	if (waited) {
		uint64_t now = hl_lock_clock_ns();
		lk->contended++;
		lk->wait_ns += now - w->t0;
		lk->parks += w->parks;
		lk->park_timeouts += w->timeouts;
	}
	if (lk->profile)
		lk->t_acq = hl_lock_ticks();
}

bool hl_lock_lock(struct hl_lock *lk, int cpu, hl_mcs_node_t *node)
{
	struct waiter w = { .lk = lk };
	int r;

	if (stranded(lk))
		return false;
	switch (lk->kind) {
	case HL_LOCK_MCS:
		r = mcs_lock(lk, &node->n, &w);
		break;
	case HL_LOCK_MUTEX:
		r = mutex_lock(lk, &w);
		break;
	default:
		r = ticket_lock(lk, &w);
		break;
	}
	if (r == 0) {
		gave_up(lk, &w);
		return false;
	}
	acquired(lk, cpu, &w, r == 2);
	if (lk->kind == HL_LOCK_MCS)
		lk->holder_node = &node->n;
	return true;
}

bool hl_lock_trylock(struct hl_lock *lk, int cpu, hl_mcs_node_t *node)
{
	bool ok;

	if (stranded(lk))
		return false;
	switch (lk->kind) {
	case HL_LOCK_MCS:
		ok = ck_spinlock_mcs_trylock(&lk->u.mcs, &node->n);
		break;
	case HL_LOCK_MUTEX:
		ok = pthread_mutex_trylock(&lk->mutex) == 0;
		break;
	default:
#if defined(CK_F_SPINLOCK_TICKET_TRYLOCK)
		ok = ck_spinlock_ticket_trylock(&lk->u.ticket);
#else
		{
			/* ck has no ticket trylock on this arch: take a ticket only if it is current */
			unsigned pos = ck_pr_load_uint(&lk->u.ticket.position);
			ok = ck_pr_cas_uint(&lk->u.ticket.next, pos, pos + 1);
			if (ok)
				ck_pr_fence_lock();
		}
#endif
		break;
	}
	if (!ok)
		return false;
	acquired(lk, cpu, NULL, false);
	if (lk->kind == HL_LOCK_MCS)
		lk->holder_node = &node->n;
	return true;
}

void hl_lock_unlock(struct hl_lock *lk, int cpu, hl_mcs_node_t *node)
{
	if (ck_pr_load_int(&lk->owner) != cpu)
		hl_lock_not_held_panic(lk, cpu, __func__);
	if (lk->profile)
		lk->hold_ticks += hl_lock_ticks() - lk->t_acq;
	ck_pr_store_int(&lk->owner, HL_NO_OWNER);
	TSAN_RELEASE(lk);
	switch (lk->kind) {
	case HL_LOCK_MCS:
		ck_spinlock_mcs_unlock(&lk->u.mcs, &node->n);
		/* our node's next is stable now: ck's unlock either handed over to it or swung
		 * the tail to NULL (no successor can link behind us after that) */
		wake_parked(lk, false, 0, ck_pr_load_ptr(&node->n.next));
		break;
	case HL_LOCK_MUTEX:
		pthread_mutex_unlock(&lk->mutex);
		wake_parked(lk, false, 0, NULL);
		break;
	default: {
		/* we hold it, so the position is ours to read: the next ticket is position + 1 */
#if defined(CK_F_SPINLOCK_TICKET_TRYLOCK) && defined(__x86_64__)
		unsigned next = (uint16_t)((ck_pr_load_32(&lk->u.ticket.value) & 0xFFFFu) + 1u);
		ck_spinlock_ticket_unlock(&lk->u.ticket);
		wake_parked(lk, true, next, NULL);    /* the release was ck_pr_inc_16: a locked RMW */
#else
		unsigned next = ck_pr_load_uint(&lk->u.ticket.position) + 1u;
		ck_spinlock_ticket_unlock(&lk->u.ticket);
		wake_parked(lk, false, next, NULL);
#endif
		break;
	}
	}
}

/* ---- profile ------------------------------------------------------------------------------- */
void hl_lock_profile(struct hl_lock *lk, bool on)
{
	lk->profile = on;
}

void hl_lock_stats(const struct hl_lock *lk, struct hl_lock_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->acquisitions = lk->acquisitions;
	out->contended = lk->contended;
	out->wait_ns = lk->wait_ns;
	out->hold_ns = lk->hold_ticks ? hl_lock_ticks_ns(lk->hold_ticks) : 0;
	out->parks = lk->parks;
	out->park_timeouts = lk->park_timeouts;
	out->giveups = ck_pr_load_64(&((struct hl_lock *)lk)->giveups);
	out->hold_timed = lk->profile != 0;
}

void hl_lock_stats_reset(struct hl_lock *lk)
{
	lk->acquisitions = 0;
	lk->contended = 0;
	lk->wait_ns = 0;
	lk->hold_ticks = 0;
	lk->parks = 0;
	lk->park_timeouts = 0;
	ck_pr_store_64(&lk->giveups, 0);
}

void hl_lock_strand(struct hl_lock *lk, int cpu)
{
	if (ck_pr_load_int(&lk->owner) != cpu)
		hl_lock_not_held_panic(lk, cpu, __func__);
	ck_pr_store_32(&lk->stranded, 1);
	/* parked waiters must wake up to see it and give up: every ticket slot, every MCS
	 * node queued behind the holder's (a waiter not yet linked sees `stranded` after its
	 * announcement: the same fence pairing as an unlock), every mutex sleeper */
#if HL_LOCK_CAN_PARK
	ck_pr_fence_memory();
	switch (lk->kind) {
	case HL_LOCK_TICKET:
		for (unsigned i = 0; i < HL_LOCK_SLOTS; i++)
			wake_slot(&lk->slot[i]);
		break;
	case HL_LOCK_MCS:
		for (struct ck_spinlock_mcs *n = lk->holder_node ? ck_pr_load_ptr(&lk->holder_node->next) : NULL; n;
		     n = ck_pr_load_ptr(&n->next))
			hl_lock_arch_wake_all(&n->locked);
		break;
	default:
		ck_pr_inc_32(&lk->wake_seq);
		hl_lock_arch_wake_all(&lk->wake_seq);
		break;
	}
#endif
}

bool hl_lock_held_by(const struct hl_lock *lk, int cpu)
{
	return ck_pr_load_int(&((struct hl_lock *)lk)->owner) == cpu;
}

bool hl_lock_is_stranded(const struct hl_lock *lk)
{
	return stranded(lk);
}

_Noreturn void hl_lock_not_held_panic(const struct hl_lock *lk, int cpu, const char *fn)
{
	char b[32];
	fprintf(stderr, "hyplog: %s: lock %s is not held by cpu %d (owner %d)\n", fn,
		hl_obj_name(lk->id, b, sizeof(b)), cpu, ck_pr_load_int(&((struct hl_lock *)lk)->owner));
	abort();
}

enum { CLASS_SMMU, CLASS_VMINFO, CLASS_CORE, CLASS_S2PAGE, CLASS_LEAF };

/* class << 24 | abstract ID << 12 | sub: a shard takes its abstract object's place (sub =
 * 1 + its index), right after the object itself (sub 0: the residual of a partly sharded one) */
unsigned hl_lock_order_key(unsigned id)
{
	unsigned cls, sub = 0, parent = hl_shard_parent(id);

	if (parent != HL_INVALID) {
		sub = 1 + hl_shard_index(id);
		id = parent;
	}
	if (id == HL_SMMU_ID)
		cls = CLASS_SMMU;
	else if (id >= HL_INFO_ID && id < HL_ID_END)
		cls = CLASS_VMINFO;
	else if (id == HL_CORE_ID)
		cls = CLASS_CORE;
	else if (id == HL_S2PAGE_ID)
		cls = CLASS_S2PAGE;
	else
		cls = CLASS_LEAF;   /* spt, npt(*) */
	return cls << 24 | id << 12 | sub;
}

const char *hl_lock_kind_name(enum hl_lock_kind k)
{
	switch (k) {
	case HL_LOCK_TICKET: return "ticket";
	case HL_LOCK_MCS: return "mcs";
	case HL_LOCK_MUTEX: return "mutex";
	}
	return "?";
}

int hl_lock_kind_parse(const char *s, enum hl_lock_kind *out)
{
	if (!strcmp(s, "ticket"))
		*out = HL_LOCK_TICKET;
	else if (!strcmp(s, "mcs"))
		*out = HL_LOCK_MCS;
	else if (!strcmp(s, "mutex") || !strcmp(s, "pthread"))
		*out = HL_LOCK_MUTEX;
	else
		return -1;
	return 0;
}

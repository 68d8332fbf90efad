/*
 * rcu.c - the liburcu-memb API the engine's logs use (hl_log.c), implemented for one
 * address space with one EL2 context per CPU (liburcu itself needs Linux: membarrier,
 * futexes, pthreads, and TLS through TPIDR_EL0, which belongs to the host at EL2).
 *
 * The algorithm is liburcu's "mb" flavour over a fixed array of per-CPU reader slots:
 * a reader copies the global grace-period counter (with its phase bit) into its slot on the
 * outermost read_lock, followed by a full barrier; synchronize flips the phase twice and,
 * after each flip, waits until no slot is inside a read-side critical section that began
 * in the old phase. Every CPU is registered from boot. call_rcu runs the callback after a
 * grace period on the calling CPU (synchronously): at EL2 there is no thread to defer it
 * to, and the engine calls it only from checkpoints, outside read-side sections (checked).
 */
#include <stdint.h>

#include <urcu/urcu-memb.h>

#include "image.h"

#define GP_COUNT 1ul
#define GP_PHASE (1ul << 32)
#define GP_NEST_MASK (GP_PHASE - 1)

static unsigned long gp_ctr = GP_COUNT;
static uint32_t gp_lock;
static struct {
	unsigned long ctr;
} __attribute__((aligned(64))) reader[EL2_MAX_CPUS];

#define MB() __asm__ volatile("dmb ish" : : : "memory")

void urcu_memb_read_lock(void)
{
	unsigned long *c = &reader[el2_cpu()].ctr;
	unsigned long v = __atomic_load_n(c, __ATOMIC_RELAXED);

	if ((v & GP_NEST_MASK) == 0) {
		__atomic_store_n(c, __atomic_load_n(&gp_ctr, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
		MB();   /* the slot is visible before any read of protected data */
	} else {
		__atomic_store_n(c, v + GP_COUNT, __ATOMIC_RELAXED);
	}
}

void urcu_memb_read_unlock(void)
{
	unsigned long *c = &reader[el2_cpu()].ctr;

	MB();   /* every read of protected data before the slot says "left" */
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) - GP_COUNT, __ATOMIC_RELAXED);
}

int urcu_memb_read_ongoing(void)
{
	return (reader[el2_cpu()].ctr & GP_NEST_MASK) != 0;
}

void urcu_memb_register_thread(void) {}
void urcu_memb_unregister_thread(void) {}

static bool old_reader(unsigned long v)
{
	return (v & GP_NEST_MASK) && ((v ^ __atomic_load_n(&gp_ctr, __ATOMIC_RELAXED)) & GP_PHASE);
}

static void flip_and_wait(void)
{
	__atomic_store_n(&gp_ctr, gp_ctr ^ GP_PHASE, __ATOMIC_RELAXED);
	MB();
	for (unsigned c = 0; c < EL2_MAX_CPUS; c++)
		while (old_reader(__atomic_load_n(&reader[c].ctr, __ATOMIC_RELAXED)))
			__asm__ volatile("yield");
}

void urcu_memb_synchronize_rcu(void)
{
	if (urcu_memb_read_ongoing())
		el2_fatal("synchronize_rcu inside a read-side critical section (cpu %u)", el2_cpu());
	MB();
	el2_spin_lock(&gp_lock);
	flip_and_wait();
	flip_and_wait();
	el2_spin_unlock(&gp_lock);
	MB();
}

void urcu_memb_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head))
{
	urcu_memb_synchronize_rcu();
	func(head);
}

void urcu_memb_barrier(void)
{
	/* call_rcu runs its callback before it returns: nothing is ever pending */
}

/* rcu_dereference / rcu_assign_pointer outside _LGPL_SOURCE (urcu/pointer.h) */
void *rcu_dereference_sym(void *p)
{
	/* the caller loaded p; the address dependency orders the reads through it (arm64) */
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

void *rcu_set_pointer_sym(void **p, void *v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
	return v;
}

void *rcu_xchg_pointer_sym(void **p, void *v)
{
	return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}

void *rcu_cmpxchg_pointer_sym(void **p, void *old, void *_new)
{
	__atomic_compare_exchange_n(p, &old, _new, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return old;
}

/* hl_lock.c - per-object locks over ck ticket / ck MCS / pthread_mutex. */
#include "hl_lock.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ck_pr.h>

#include "hl_tsan.h"

/* ck's atomics are inline assembly that ThreadSanitizer cannot see: every acquire and
 * release is annotated, or every lock-protected access is reported as a race. */
#define TSAN_ACQUIRE(a) HL_TSAN_ACQUIRE(a)
#define TSAN_RELEASE(a) HL_TSAN_RELEASE(a)

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
		pthread_mutex_init(&lk->u.mutex, NULL);
		break;
	}
}

void hl_lock_destroy(struct hl_lock *lk)
{
	if (lk->kind == HL_LOCK_MUTEX && !lk->stranded)
		pthread_mutex_destroy(&lk->u.mutex);
}

static inline bool stranded(const struct hl_lock *lk)
{
	return ck_pr_load_32(&((struct hl_lock *)lk)->stranded) != 0;
}

/* bounded spin, then give the core away: fair locks must not convoy on small hosts */
static inline void wait_step(unsigned *spins)
{
	if (++*spins < HL_LOCK_SPIN_LIMIT) {
		ck_pr_stall();
	} else {
		*spins = 0;
		sched_yield();
	}
}

/*
 * Ticket acquire with a waiter we control. ck's own loop cannot yield or give up, so we
 * take a ticket with ck's layout and wait on its "position" half ourselves.
 */
static bool ticket_lock(struct hl_lock *lk)
{
	ck_spinlock_ticket_t *t = &lk->u.ticket;
	unsigned spins = 0;
#if defined(CK_F_SPINLOCK_TICKET_TRYLOCK) && defined(__x86_64__)
	/* x86 layout: one 32-bit word, next ticket in the high half, position in the low */
	uint32_t v = ck_pr_faa_32(&t->value, 0x10000u);
	uint16_t mine = (uint16_t)(v >> 16);
	while ((uint16_t)(ck_pr_load_32(&t->value) & 0xFFFFu) != mine) {
		if (stranded(lk))
			return false;   /* the lock is dead forever; our ticket no longer matters */
		wait_step(&spins);
	}
#else
	unsigned mine = ck_pr_faa_uint(&t->next, 1);
	while (ck_pr_load_uint(&t->position) != mine) {
		if (stranded(lk))
			return false;
		wait_step(&spins);
	}
#endif
	ck_pr_fence_lock();
	return true;
}

/* MCS acquire, same idea: ck's node layout, our waiting loop */
static bool mcs_lock(struct hl_lock *lk, hl_mcs_node_t *node)
{
	struct ck_spinlock_mcs *prev;
	unsigned spins = 0;

	node->locked = true;
	node->next = NULL;
	ck_pr_fence_store_atomic();
	prev = ck_pr_fas_ptr(&lk->u.mcs, node);
	if (prev != NULL) {
		ck_pr_store_ptr(&prev->next, node);
		while (ck_pr_load_uint(&node->locked) == true) {
			if (stranded(lk))
				return false;
			wait_step(&spins);
		}
	}
	ck_pr_fence_lock();
	return true;
}

static bool mutex_lock(struct hl_lock *lk)
{
	unsigned spins = 0;
	/* trylock + yield so a stranded mutex can be abandoned */
	while (pthread_mutex_trylock(&lk->u.mutex) != 0) {
		if (stranded(lk))
			return false;
		wait_step(&spins);
	}
	return true;
}

bool hl_lock_lock(struct hl_lock *lk, int cpu, hl_mcs_node_t *node)
{
	bool ok;

	if (stranded(lk))
		return false;
	switch (lk->kind) {
	case HL_LOCK_MCS:
		ok = mcs_lock(lk, node);
		break;
	case HL_LOCK_MUTEX:
		ok = mutex_lock(lk);
		break;
	default:
		ok = ticket_lock(lk);
		break;
	}
	if (!ok)
		return false;
	TSAN_ACQUIRE(lk);
	ck_pr_store_int(&lk->owner, cpu);
	lk->acquisitions++;
	return true;
}

bool hl_lock_trylock(struct hl_lock *lk, int cpu, hl_mcs_node_t *node)
{
	bool ok;

	if (stranded(lk))
		return false;
	switch (lk->kind) {
	case HL_LOCK_MCS:
		ok = ck_spinlock_mcs_trylock(&lk->u.mcs, node);
		break;
	case HL_LOCK_MUTEX:
		ok = pthread_mutex_trylock(&lk->u.mutex) == 0;
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
	TSAN_ACQUIRE(lk);
	ck_pr_store_int(&lk->owner, cpu);
	lk->acquisitions++;
	return true;
}

void hl_lock_unlock(struct hl_lock *lk, int cpu, hl_mcs_node_t *node)
{
	if (ck_pr_load_int(&lk->owner) != cpu)
		hl_lock_not_held_panic(lk, cpu, __func__);
	ck_pr_store_int(&lk->owner, HL_NO_OWNER);
	TSAN_RELEASE(lk);
	switch (lk->kind) {
	case HL_LOCK_MCS:
		ck_spinlock_mcs_unlock(&lk->u.mcs, node);
		break;
	case HL_LOCK_MUTEX:
		pthread_mutex_unlock(&lk->u.mutex);
		break;
	default:
		ck_spinlock_ticket_unlock(&lk->u.ticket);
		break;
	}
}

void hl_lock_strand(struct hl_lock *lk, int cpu)
{
	if (ck_pr_load_int(&lk->owner) != cpu)
		hl_lock_not_held_panic(lk, cpu, __func__);
	ck_pr_store_32(&lk->stranded, 1);
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

unsigned hl_lock_order_key(unsigned id)
{
	unsigned cls;

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
	return cls << 8 | id;
}

const char *hl_obj_name(unsigned id, char *buf, unsigned len)
{
	if (id == HL_FLATMEM_ID)
		snprintf(buf, len, "flatmem");
	else if (id == HL_CORE_ID)
		snprintf(buf, len, "core");
	else if (id == HL_S2PAGE_ID)
		snprintf(buf, len, "s2page");
	else if (id == HL_SPT_ID)
		snprintf(buf, len, "spt");
	else if (id == HL_SMMU_ID)
		snprintf(buf, len, "smmu");
	else if (id >= HL_NPT_ID && id < HL_INFO_ID)
		snprintf(buf, len, "npt(%u)", id - HL_NPT_ID);
	else if (id >= HL_INFO_ID && id < HL_ID_END)
		snprintf(buf, len, "vminfo(%u)", id - HL_INFO_ID);
	else
		snprintf(buf, len, "obj#%u", id);
	return buf;
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

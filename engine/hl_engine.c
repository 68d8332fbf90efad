/* hl_engine.c - engine lifetime, per-CPU data and the step framework. */
#include "hl_engine.h"

#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ck_pr.h>

#include "hl_step.h"
#include "hl_fault.h"
#include "hl_pgtable.h"   /* hl_refine_npt_host */

#ifdef HL_FAULT_INJECTION
/* ---- fault injection (hl_fault.h): off unless the build asks for it ----------------- */
static unsigned fi_every[HL_FAULT__COUNT];
static unsigned fi_count[HL_FAULT__COUNT];
static __thread const struct hl_step *fi_skip_step, *fi_order_step;
static __thread bool fi_no_order_check;
/* records of an APPEND_LATE step, appended after the next step */
static struct {
	unsigned n;
	uint16_t obj[HL_MAX_STAGES];
	uint64_t buf[HL_MAX_STAGES][HL_REC_MAX / 8];
	struct hl_engine *e;
} fi_late;

void hl_fault_set(enum hl_fault f, unsigned every_n)
{
	if ((unsigned)f >= HL_FAULT__COUNT)
		return;
	__atomic_store_n(&fi_count[f], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fi_every[f], every_n, __ATOMIC_RELEASE);
}

bool hl_fault_armed(enum hl_fault f)
{
	return (unsigned)f < HL_FAULT__COUNT && __atomic_load_n(&fi_every[f], __ATOMIC_ACQUIRE) != 0;
}

bool hl_fault_hit(enum hl_fault f)
{
	unsigned every = __atomic_load_n(&fi_every[f], __ATOMIC_ACQUIRE);
	return every && __atomic_add_fetch(&fi_count[f], 1, __ATOMIC_RELAXED) % every == 0;
}

static void release_one(struct hl_step *s, unsigned obj);

/* append what an APPEND_LATE step left behind, without its locks (that is the fault);
 * `cpu` runs the step whose end flushes them */
static void fi_late_flush(struct hl_engine *e, int cpu)
{
	static __thread uint64_t buf[HL_MAX_STAGES][HL_REC_MAX / 8];
	uint16_t obj[HL_MAX_STAGES];
	unsigned n = fi_late.e == e ? fi_late.n : 0;

	/* take them: a step that ends while this one waits at a scheduling point finds none */
	memcpy(buf, fi_late.buf, sizeof(buf[0]) * n);
	memcpy(obj, fi_late.obj, sizeof(obj[0]) * n);
	fi_late.n = 0;
	/* the written entries name the seqs the records get now */
	for (unsigned k = 0; k < n; k++) {
		struct hl_rec *r = (struct hl_rec *)buf[k];
		struct hl_rdep *rd = (struct hl_rdep *)hl_rec_rdeps(r);
		for (unsigned i = 0; i < r->nlock; i++)
			if (rd[i].flags & HL_RD_WRITTEN)
				rd[i].seq = e->logs[rd[i].obj].next_seq;
	}
	for (unsigned k = 0; k < n; k++) {
		struct hl_log *l = &e->logs[obj[k]];
		struct hl_rec *r = (struct hl_rec *)buf[k];
		struct hl_rdep *rd = (struct hl_rdep *)hl_rec_rdeps(r);
		if (!hl_log_ensure(l, r->len))
			break;
		if (e->cfg.sched_point)   /* after the locks were released: that is the fault */
			(void)e->cfg.sched_point(e->cfg.sched_ctx, cpu, HL_SP_APPEND, obj[k]);
		r->seq = l->next_seq;
		for (unsigned i = 0; i < r->nlock; i++)
			if ((rd[i].flags & HL_RD_WRITTEN) && rd[i].obj == obj[k])
				rd[i].seq = r->seq;
		hl_log_append(l, r);
	}
}
/* SMMU_LOCK_ORDER: an out-of-order acquire must reach the checks, not the debug abort */
#define FI_NO_ORDER_CHECK (fi_no_order_check || hl_fault_armed(HL_FAULT_SMMU_LOCK_ORDER))
#else
#define FI_NO_ORDER_CHECK false
#endif

void hl_engine_cfg_default(struct hl_engine_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ncpus = 2;
	cfg->lock_kind = HL_LOCK_TICKET;
	cfg->with_ram = true;
	cfg->ckpt_every = 0;
#ifdef NDEBUG
	cfg->lock_order_check = false;
#else
	cfg->lock_order_check = true;
#endif
	cfg->nkeys = 0;   /* no KCore key: every REGISTER_KVM is refused until one is provisioned */
	cfg->s2page_shard_pages = HL_S2P_SHARD_PAGES_DEFAULT;
}

int hl_engine_cfg_add_key(struct hl_engine_cfg *cfg, const uint8_t pk[32])
{
	if (cfg->nkeys >= HL_MAX_KEYS)
		return -1;
	memcpy(cfg->kcore_keys[cfg->nkeys], pk, 32);
	return (int)cfg->nkeys++;
}

struct hl_engine *hl_engine_new(const struct hl_engine_cfg *cfg)
{
	return hl_engine_new_refined(cfg, NULL);
}

struct hl_engine *hl_engine_new_refined(const struct hl_engine_cfg *cfg, const struct hl_refine *ref)
{
	struct hl_engine *e;

	if (cfg->ncpus < 1 || cfg->ncpus > HL_NR_CPUS || cfg->nkeys > HL_MAX_KEYS || !hl_kcore_ranges_valid(&cfg->kcore))
		return NULL;
	e = aligned_alloc(64, sizeof(*e));
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->cfg = *cfg;
	if (ref) {
		if (!ref->finished)
			goto fail;
		e->ref = *ref;
		e->cfg.s2page_shard_pages = ref->s2p_shard_pages;
	} else {
		hl_refine_init(&e->ref);
		if (hl_refine_s2page(&e->ref, cfg->s2page_shard_pages) ||
		    hl_refine_npt_host(&e->ref, cfg->npt_host_shard_mib) || hl_refine_finish(&e->ref))
			goto fail;
		e->cfg.s2page_shard_pages = e->ref.s2p_shard_pages;
	}
	e->st = hl_state_new(cfg->with_ram);
	if (!e->st)
		goto fail;
	e->st->ref = &e->ref;
	e->st->kcore = &e->cfg.kcore;
	/* an abstract object's initial image may depend on its refinement (npt(host)'s
	 * preallocated RAM tables) and s2page's on KCore's ranges: build it again now that the
	 * state knows them */
	for (unsigned p = 1; p < HL_ID_END; p++)
		if (hl_refine_sharded(&e->ref, p) || (p == HL_S2PAGE_ID && e->cfg.kcore.n))
			hl_state_init_obj(e->st, p);
	e->cpus = aligned_alloc(64, sizeof(struct hl_cpu) * (cfg->ncpus + 1));
	if (!e->cpus)
		goto fail;
	memset(e->cpus, 0, sizeof(struct hl_cpu) * (cfg->ncpus + 1));
	for (unsigned i = 0; i <= cfg->ncpus; i++)
		e->cpus[i].id = (int)i;
	hl_segpool_init(&e->pool, (size_t)HL_CFG_LOG_SEGMENT_KIB << 10, cfg->log_cap_bytes);
	if (!cfg->logs_off && cfg->log_reserve_bytes && hl_segpool_reserve(&e->pool, cfg->log_reserve_bytes))
		goto fail;
	hl_lock_init(&e->global, HL_FLATMEM_ID, cfg->lock_kind);
	for (unsigned id = 0; id < HL_OBJ_END; id++) {
		hl_lock_init(&e->locks[id], id, cfg->lock_kind);
		if ((id < HL_ID_END || hl_engine_has_obj(e, id)) && hl_log_init(&e->logs[id], id, &e->pool))
			goto fail;
	}
	return e;
fail:
	hl_engine_free(e);
	return NULL;
}

void hl_engine_free(struct hl_engine *e)
{
	if (!e)
		return;
	/* let pending call_rcu reclamation finish before the pool goes away */
	urcu_memb_barrier();
	for (unsigned id = 0; id < HL_OBJ_END; id++) {
		hl_log_destroy(&e->logs[id]);
		hl_lock_destroy(&e->locks[id]);
	}
	hl_lock_destroy(&e->global);
	hl_segpool_destroy(&e->pool);
	hl_state_free(e->st);
	if (e->seq0)
		for (unsigned id = 0; id < HL_OBJ_END; id++)
			free(e->seq0[id].comp);
	free(e->seq0);
	free(e->cpus);
	free(e);
}

bool hl_cpu_halted(const struct hl_engine *e, int cpu)
{
	return ck_pr_load_8((uint8_t *)&e->cpus[cpu].halted) != 0;
}

bool hl_engine_held_by(const struct hl_engine *e, int cpu, unsigned obj)
{
	const struct hl_cpu *c = &e->cpus[cpu];

	for (unsigned i = 0; i < c->nheld; i++)
		if (c->held[i] == obj)
			return e->cfg.global_lock ? hl_lock_held_by(&e->global, cpu)
						  : hl_lock_held_by(&e->locks[obj], cpu);
	return false;
}

unsigned hl_engine_nheld(const struct hl_engine *e, int cpu)
{
	return e->cpus[cpu].nheld;
}

/* ---- steps ---------------------------------------------------------------------------- */
static int obj_checkpoint(struct hl_engine *e, unsigned obj);
#ifndef NDEBUG
/* the write context's check that a routed write's shard is held (debug builds) */
static bool step_holds(void *ctx, unsigned obj)
{
	const struct hl_step *s = ctx;
	return hl_engine_held_by(s->e, s->cpu, obj);
}
#endif
/* Zero the first n bytes of a step. A constant-size memset of the ~270-byte prefix is
 * expanded inline as `rep stosq`, whose start-up cost (~40 ns on the benchmark host) was
 * ~15% of a trap; an opaque size turns it into a libc memset call (vector stores, ~10 ns).
 * The same bytes are zeroed. */
static inline void zero_prefix(void *p, size_t n)
{
	__asm__("" : "+r"(n));
	memset(p, 0, n);
}

/* ---- quiescence gate (hl_engine.h) -------------------------------------------------- */
/* Dekker: the CPU publishes in_step then reads gate_closed; the controller publishes
 * gate_closed then reads every in_step (all seq_cst): one of them sees the other. */
static void gate_enter(struct hl_engine *e, struct hl_cpu *c)
{
	for (;;) {
		__atomic_store_n(&c->in_step, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&e->gate_closed, __ATOMIC_SEQ_CST))
			return;
		__atomic_store_n(&c->in_step, 0, __ATOMIC_RELEASE);
		while (__atomic_load_n(&e->gate_closed, __ATOMIC_ACQUIRE))
			usleep(20);
	}
}

static void gate_leave(struct hl_cpu *c)
{
	if (c->in_step)
		__atomic_store_n(&c->in_step, 0, __ATOMIC_RELEASE);
}

void hl_engine_gate_enable(struct hl_engine *e, bool on, bool ckpt_external)
{
	__atomic_store_n(&e->ckpt_external, on && ckpt_external, __ATOMIC_RELAXED);
	__atomic_store_n(&e->gate_on, on, __ATOMIC_SEQ_CST);
}

void hl_engine_pause(struct hl_engine *e)
{
	__atomic_store_n(&e->gate_closed, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i <= e->cfg.ncpus; i++)
		while (__atomic_load_n(&e->cpus[i].in_step, __ATOMIC_SEQ_CST))
			usleep(20);
}

void hl_engine_resume(struct hl_engine *e)
{
	__atomic_store_n(&e->gate_closed, 0, __ATOMIC_RELEASE);
}

int hl_step_begin(struct hl_step *s, struct hl_engine *e, int cpu, unsigned ev)
{
	struct hl_cpu *c;

	if (cpu < 0 || (unsigned)cpu > e->cfg.ncpus)
		return HL_E_CPU;
	c = &e->cpus[cpu];
	if (c->halted && !HL_FI(HALT_CONTINUE))   /* fault: v_panic returns (REFERENCE 7.27) */
		return HL_E_CPU_HALTED;
	if (c->depth >= 2)
		abort();   /* invariant: steps nest at most one deep (verify) */
	zero_prefix(s, offsetof(struct hl_step, w));
	s->e = e;
	s->c = c;
	s->st = e->st;
	s->cpu = cpu;
	s->event = (uint8_t)ev;
	s->op = ((uint64_t)cpu << 48) | ++c->op_ctr;
	s->held_base = c->nheld;
	hl_wctx_init(&s->w, e->st, c->stages[c->depth], !e->cfg.logs_off);
#ifndef NDEBUG
	s->w.held = step_holds;
	s->w.held_ctx = s;
#endif
	if (c->depth == 0 && __atomic_load_n(&e->gate_on, __ATOMIC_RELAXED))
		gate_enter(e, c);
	c->depth++;
#ifdef HL_FAULT_INJECTION
	if (hl_fault_hit(HL_FAULT_SKIP_LOCK))
		fi_skip_step = s;
	if (hl_fault_hit(HL_FAULT_LOCK_ORDER))
		fi_order_step = s;
#endif
	return 0;
}

void hl_step_replay_init(struct hl_step *s, struct hl_state *st, const struct hl_rec *r,
			 struct hl_stage *stages)
{
	zero_prefix(s, offsetof(struct hl_step, w));
	s->replay = true;
	s->st = st;
	s->cpu = r->cpu;
	s->op = r->op;
	s->event = r->event;
	memcpy(s->arg, r->arg, sizeof(s->arg));
	s->dorc = r->dorc;
	s->blob_len = r->blob_len <= HL_BLOB_MAX ? r->blob_len : 0;
	memcpy(s->blob, hl_rec_blob(r), s->blob_len);
	hl_wctx_init(&s->w, st, stages, true);
}

static _Noreturn void order_panic(unsigned held, unsigned want)
{
	char a[32], b[32];
	fprintf(stderr,
		"hyplog: lock order violation: acquiring %s while holding %s "
		"(order: smmu -> vminfo(v) -> core -> s2page[0..] -> {spt, npt(0), npt(0)[0..], npt(1..)}, "
		"ascending within a class; engine/hl_lock.h)\n",
		hl_obj_name(want, b, sizeof(b)), hl_obj_name(held, a, sizeof(a)));
	abort();
}

int hl_step_lock(struct hl_step *s, unsigned obj)
{
	struct hl_engine *e = s->e;
	struct hl_cpu *c = s->c;
	struct hl_lock *lk;

	if (s->replay)
		return 0;
	for (unsigned i = 0; i < s->nlocked; i++)
		if (s->locked[i] == obj)
			return 0;   /* this step already holds it */
	if (s->nlocked == HL_MAX_STAGES || c->nheld == sizeof(c->held) / sizeof(c->held[0]))
		abort();
	if (obj >= HL_OBJ_END || !hl_engine_has_obj(e, obj) ||
	    (hl_refine_sharded(&e->ref, obj) && !e->ref.parent[obj].residual))
		abort();   /* invariant: a fully sharded object is locked through its shards */
#ifdef HL_FAULT_INJECTION
	if (s == fi_skip_step) {
		fi_skip_step = NULL;
		/* SKIP_LOCK: no lock, no bookkeeping, no read dependency; the step reads it now */
		if (e->cfg.sched_point)
			(void)e->cfg.sched_point(e->cfg.sched_ctx, s->cpu, HL_SP_READ, obj);
		return 0;
	}
	if (s == fi_order_step && s->nlocked == 1) {
		/* LOCK_ORDER: drop the first lock, take this one, then the first again */
		unsigned first = s->locked[0];
		int rc;
		fi_order_step = NULL;
		s->nlocked = 0;
		release_one(s, first);
		fi_no_order_check = true;
		rc = hl_step_lock(s, obj);
		if (!rc)
			rc = hl_step_lock(s, first);
		fi_no_order_check = false;
		return rc;
	}
#endif
	if (e->cfg.lock_order_check && c->nheld && !FI_NO_ORDER_CHECK &&
	    hl_lock_order_key(c->held[c->nheld - 1]) >= hl_lock_order_key(obj))
		order_panic(c->held[c->nheld - 1], obj);
	if (e->cfg.sched_point && e->cfg.sched_point(e->cfg.sched_ctx, s->cpu, HL_SP_LOCK, obj))
		return HL_E_STRANDED;
	if (e->cfg.global_lock) {
		if (hl_lock_is_stranded(&e->locks[obj]))
			return HL_E_STRANDED;
		if (c->nheld == 0 && !hl_lock_lock(&e->global, s->cpu, &c->mcs[0]))
			return HL_E_STRANDED;
		lk = NULL;
	} else {
		lk = &e->locks[obj];
		if (!hl_lock_lock(lk, s->cpu, &c->mcs[obj]))
			return HL_E_STRANDED;
	}
	c->held[c->nheld++] = (uint16_t)obj;
	s->lseq[s->nlocked] = e->logs[obj].next_seq - 1;
	s->locked[s->nlocked++] = (uint16_t)obj;
	/* reserve log room now, so the commit after a successful check cannot fail */
	if (!e->cfg.logs_off) {
		struct hl_log *l = &e->logs[obj];
		const uint8_t *at;
		if (!hl_log_ensure(l, HL_REC_MAX))
			return HL_E_NOLOG;
		/* the lines a record of this step would go to, fetched for writing while the
		 * step checks and applies (a record, ~125 bytes, usually spans 2-3 lines that
		 * no one touched since they were recycled; prefetching never faults) */
		at = (const uint8_t *)hl_log_next_rec(l);
		__builtin_prefetch(at, 1, 3);
		__builtin_prefetch(at + 64, 1, 3);
		__builtin_prefetch(at + 128, 1, 3);
	}
	/* the step reads the object from here on */
	if (e->cfg.sched_point)
		(void)e->cfg.sched_point(e->cfg.sched_ctx, s->cpu, HL_SP_READ, obj);
	return 0;
}

static void release_one(struct hl_step *s, unsigned obj)
{
	struct hl_engine *e = s->e;
	struct hl_cpu *c = s->c;
	unsigned i;

	for (i = c->nheld; i-- > 0;)
		if (c->held[i] == obj)
			break;
	if (i == (unsigned)-1)
		abort();
	if (i + 1 < c->nheld)   /* LIFO release (the usual case) moves nothing */
		memmove(&c->held[i], &c->held[i + 1], (c->nheld - i - 1) * sizeof(c->held[0]));
	c->nheld--;
	if (e->cfg.global_lock) {
		if (c->nheld == 0)
			hl_lock_unlock(&e->global, s->cpu, &c->mcs[0]);
	} else {
		hl_lock_unlock(&e->locks[obj], s->cpu, &c->mcs[obj]);
	}
}

void hl_step_unlock_ro(struct hl_step *s, unsigned obj)
{
	unsigned i;

	if (s->replay)
		return;
	for (i = 0; i < s->nlocked; i++)
		if (s->locked[i] == obj)
			break;
	if (i == s->nlocked)
		abort();
	for (unsigned k = 0; k < s->w.nstages; k++)
		if (s->w.stages[k].obj == obj && s->w.stages[k].touched)
			abort();   /* invariant: only unchanged objects are released early */
	memmove(&s->locked[i], &s->locked[i + 1], (s->nlocked - i - 1) * sizeof(s->locked[0]));
	memmove(&s->lseq[i], &s->lseq[i + 1], (s->nlocked - i - 1) * sizeof(s->lseq[0]));
	s->nlocked--;
	release_one(s, obj);
}

void hl_step_assert_held(const struct hl_step *s, unsigned obj)
{
	bool held;

	if (s->replay)
		return;
	if (obj < HL_ID_END && hl_refine_sharded(&s->e->ref, obj) && !s->e->ref.parent[obj].residual) {
		held = false;
		for (unsigned i = 0; i < s->nlocked && !held; i++)
			held = hl_shard_parent(s->locked[i]) == obj && hl_engine_held_by(s->e, s->cpu, s->locked[i]);
	} else {
		held = hl_engine_held_by(s->e, s->cpu, obj);
	}
	if (!held) {
		char b[32];
		fprintf(stderr, "hyplog: step %s on cpu %d touches %s without its lock\n",
			hl_event_name(s->event), s->cpu, hl_obj_name(obj, b, sizeof(b)));
		abort();
	}
}

int hl_step_halt(struct hl_step *s, unsigned n, ...)
{
	va_list ap;

	s->halted = true;
	if (HL_FI(HALT_UNSTRAND))
		n = 0;   /* fault: the halt strands nothing */
	va_start(ap, n);
	for (unsigned i = 0; i < n && s->nstrand < HL_MAX_STAGES; i++) {
		unsigned obj = va_arg(ap, unsigned);
		if (hl_refine_sharded(s->st->ref, obj)) {
			/* the seed strands the abstract object: every shard of it this step holds
			 * (and its residual, if it has one and holds it) */
			for (unsigned k = 0; k < s->nlocked && s->nstrand < HL_MAX_STAGES; k++)
				if (hl_shard_parent(s->locked[k]) == obj ||
				    (s->locked[k] == obj && s->st->ref->parent[obj].residual))
					s->strand[s->nstrand++] = s->locked[k];
		} else {
			s->strand[s->nstrand++] = (uint16_t)obj;
		}
	}
	va_end(ap);
	return HL_HALT;
}

int hl_step_lock_s2p(struct hl_step *s, uint64_t pfn, uint64_t n)
{
	unsigned lo, hi;
	int rc = 0;

	hl_refine_s2p_span(s->st->ref, pfn, n ? n : 1, &lo, &hi);
	for (unsigned id = lo; id <= hi && !rc; id++)
		rc = hl_step_lock(s, id);
	return rc;
}

int hl_step_lock_s2p_all(struct hl_step *s)
{
	const struct hl_refine *r = s->st->ref;
	int rc = 0;

	if (!hl_refine_sharded(r, HL_S2PAGE_ID))
		return hl_step_lock(s, HL_S2PAGE_ID);
	for (unsigned k = 0; k < r->nshards && !rc; k++)
		if (hl_shard_parent(r->ids[k]) == HL_S2PAGE_ID)
			rc = hl_step_lock(s, r->ids[k]);
	return rc;
}

static bool is_stranded(const struct hl_step *s, unsigned obj)
{
	for (unsigned i = 0; i < s->nstrand; i++)
		if (s->strand[i] == obj)
			return true;
	return false;
}

/* index of obj in the step's locks, or s->nlocked if the step did not lock it */
static inline unsigned locked_index(const struct hl_step *s, unsigned obj)
{
	unsigned i;

	for (i = 0; i < s->nlocked; i++)
		if (s->locked[i] == obj)
			break;
	return i;
}

static inline uint32_t record_len(const struct hl_step *s, const struct hl_stage *st)
{
	return (uint32_t)(sizeof(struct hl_rec) + HL_ALIGN8(s->blob_len) +
			  s->nlocked * sizeof(struct hl_rdep) + (st ? st->used : 0));
}

/*
 * Build the record of one changed (or stranded) object at r (in place in its log's tail, or
 * a buffer), writing every byte of it (no memset, no second copy: engine/hl_log.h). The
 * step's n records are for objs[k] at seq wseq[k]; li[k] is objs[k]'s index in the step's
 * locks (s->nlocked if the step did not lock it).
 *
 * The lock list: every lock the step holds, in acquisition order. An object that gets a
 * record of this op is marked HL_RD_WRITTEN with the seq of that record; any other is a
 * read dependency at the seq the step saw when it took the lock. Each entry is written as
 * two words, obj | flags << 16 (pad1 = 0) and seq: first every entry as a read, then the
 * written ones over them.
 */
static void build_record(struct hl_step *s, struct hl_stage *st, unsigned obj, struct hl_rec *r,
			 uint32_t len, uint64_t seq, unsigned n, const unsigned *li, const uint64_t *wseq)
{
	uint32_t blob = HL_ALIGN8(s->blob_len);
	uint8_t *p = (uint8_t *)(r + 1);
	uint32_t dlen = st ? st->used : 0;
	uint16_t flags = 0;

	if (s->halted && is_stranded(s, obj))
		flags |= HL_RF_STRANDED;
	if (s->c->depth > 1)
		flags |= HL_RF_NESTED;
	r->len = len;
	r->crc = 0;
	r->seq = seq;
	r->op = s->op;
	r->obj = (uint16_t)obj;
	r->event = s->event;
	r->cpu = (uint8_t)s->cpu;
	r->result = s->halted ? HL_RES_HALT : HL_RES_OK;
	r->nrec = (uint8_t)n;
	r->ndelta = st ? st->ndelta : 0;
	r->flags = flags;
	r->nlock = (uint16_t)s->nlocked;
	r->blob_len = s->blob_len;
	memcpy(r->arg, s->arg, sizeof(r->arg));
	r->dorc = s->dorc;
	r->ret = s->ret;
	if (s->blob_len) {   /* most steps have no blob: skip two libc calls */
		memcpy(p, s->blob, s->blob_len);
		memset(p + s->blob_len, 0, blob - s->blob_len);
		p += blob;
	}
	static_assert(sizeof(struct hl_rdep) == 16 && offsetof(struct hl_rdep, seq) == 8 &&
		      __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
		      "a lock entry is two little-endian words: obj | flags << 16 (pad1 0), seq");
	for (unsigned i = 0; i < s->nlocked; i++) {
		uint64_t w = s->locked[i];
		memcpy(p + 16 * i, &w, 8);
		memcpy(p + 16 * i + 8, &s->lseq[i], 8);
	}
	for (unsigned k = 0; k < n; k++)
		if (li[k] < s->nlocked) {
			uint64_t w = s->locked[li[k]] | (uint64_t)HL_RD_WRITTEN << 16;
			memcpy(p + 16 * li[k], &w, 8);
			memcpy(p + 16 * li[k] + 8, &wseq[k], 8);
		}
	p += s->nlocked * sizeof(struct hl_rdep);
	/* deltas are whole 8-byte words (shared/hl_record.h), usually 2 to 6 of them: fixed-size
	 * copies, no libc call */
	for (uint32_t i = 0; i < dlen; i += 8)
		memcpy(p + i, st->buf + i, 8);
}

int hl_step_end(struct hl_step *s, int rc)
{
	struct hl_engine *e = s->e;
	struct hl_cpu *c = s->c;
	uint16_t objs[HL_MAX_STAGES];
	uint64_t wseq[HL_MAX_STAGES];
	struct hl_stage *stg[HL_MAX_STAGES];
	unsigned n = 0;
#ifdef HL_FAULT_INJECTION
	bool fi_pending = fi_late.n > 0, fi_defer = false, fi_release = false;
#endif

	if (s->replay)
		return rc;
	if (rc < 0 && s->w.touched)
		abort();   /* invariant: a refused step changed nothing */

	/* most steps change nothing (reads, refused calls): no record, nothing to look at */
	if (rc >= 0 && !e->cfg.logs_off && (s->w.touched || s->halted)) {
		unsigned li[HL_MAX_STAGES];   /* index of objs[k] in the step's locks */

		/* the objects that get a record: every changed one; on a halt, every locked one.
		 * The step holds every lock: the seq each record will get is known now. */
		for (unsigned k = 0; k < s->w.nstages; k++) {
			unsigned obj = s->w.stages[k].obj;
			if (!s->w.stages[k].touched)
				continue;
			li[n] = locked_index(s, obj);
			/* witness that the step holds obj (hl_step_assert_held): a lock this step
			 * took is checked here against the lock word; anything else the long way */
			if (li[n] == s->nlocked ||
			    ck_pr_load_int(&(e->cfg.global_lock ? &e->global : &e->locks[obj])->owner) != s->cpu)
#ifdef HL_FAULT_INJECTION
				if (!hl_fault_armed(HL_FAULT_SHARD_MISROUTE))   /* the mutant writes an unheld log */
#endif
				hl_step_assert_held(s, obj);
			wseq[n] = e->logs[obj].next_seq;
			objs[n] = obj;
			stg[n++] = &s->w.stages[k];
		}
		if (s->halted) {
			for (unsigned i = 0; i < s->nlocked; i++) {
				bool have = false;
				for (unsigned k = 0; k < n; k++)
					have |= objs[k] == s->locked[i];
				if (!have) {
					li[n] = i;
					wseq[n] = e->logs[s->locked[i]].next_seq;
					objs[n] = s->locked[i];
					stg[n++] = NULL;
				}
			}
		}
#ifdef HL_FAULT_INJECTION
		fi_defer = n && !fi_pending && hl_fault_hit(HL_FAULT_APPEND_LATE);
		if (fi_defer) {
			/* APPEND_LATE: keep the records; they are appended after the next step */
			for (unsigned k = 0; k < n; k++) {
				build_record(s, stg[k], objs[k], (struct hl_rec *)fi_late.buf[k],
					     record_len(s, stg[k]), wseq[k], n, li, wseq);
				fi_late.obj[k] = objs[k];
			}
			fi_late.e = e;
			fi_late.n = n;
			n = 0;
		}
#endif
		for (unsigned k = 0; k < n; k++) {
			struct hl_log *l = &e->logs[objs[k]];
			uint32_t len = record_len(s, stg[k]);
			struct hl_rec *r;
			if (e->cfg.sched_point)
				(void)e->cfg.sched_point(e->cfg.sched_ctx, s->cpu, HL_SP_APPEND, objs[k]);
			/* hl_step_lock reserved HL_REC_MAX in l (this check is two loads): build the
			 * record where it goes */
			if (!hl_log_ensure(l, len))
#ifdef HL_FAULT_INJECTION
				continue;   /* SHARD_MISROUTE: a log the step neither locked nor reserved */
#else
				abort();    /* invariant: the room was reserved when the lock was taken */
#endif
			r = hl_log_next_rec(l);
			build_record(s, stg[k], objs[k], r, len, wseq[k], n, li, wseq);
			hl_log_commit(l, r);
			if (e->cfg.ckpt_every && l->since_ckpt >= e->cfg.ckpt_every && !e->ckpt_external &&
			    !(s->halted && is_stranded(s, objs[k])))
				(void)obj_checkpoint(e, objs[k]);
		}
		c->records += n;
	}

	/* release in reverse acquisition order; strand what the halt branch keeps */
#ifdef HL_FAULT_INJECTION
	fi_release = s->halted && s->nstrand && hl_fault_hit(HL_FAULT_HALT_RELEASE);
	if (fi_release)
		s->nstrand = 0;   /* HALT_RELEASE: the records say STRANDED, the locks go free */
#endif
	for (unsigned i = s->nlocked; i-- > 0;) {
		unsigned obj = s->locked[i];
		if (s->halted && is_stranded(s, obj) && !e->cfg.global_lock) {
			hl_lock_strand(&e->locks[obj], s->cpu);
			/* it stays in c->held: the halted CPU still owns it */
		} else if (s->halted && is_stranded(s, obj)) {
			ck_pr_store_32(&e->locks[obj].stranded, 1);
			release_one(s, obj);
		} else {
			release_one(s, obj);
		}
	}
	c->depth--;
	if (c->depth == 0)
		gate_leave(c);
#ifdef HL_FAULT_INJECTION
	if (fi_pending && !fi_defer)
		fi_late_flush(e, s->cpu);
	(void)fi_release;
#endif
	if (rc < 0) {
		c->steps_rejected++;
	} else if (s->halted) {
		c->steps_halt++;
		ck_pr_store_8((uint8_t *)&c->halted, 1);
		ck_pr_inc_64(&e->halts);
		rc = HL_HALT;
	} else {
		c->steps_ok++;
	}
	return rc;
}

/* ---- checkpoints ----------------------------------------------------------------------- */
/* cut obj's log at its current image (caller holds obj's lock); a shard's image is gathered */
static int obj_checkpoint(struct hl_engine *e, unsigned obj)
{
	size_t size = hl_engine_obj_size(e, obj);
	uint8_t *buf;
	int rc;

	if (obj < HL_ID_END && !hl_refine_sharded(&e->ref, obj))
		return hl_log_checkpoint(&e->logs[obj], e->st->img[obj].base, e->st->img[obj].size);
	/* a shard, or a residual (its shard-owned bytes zero, DESIGN2.md) */
	if (!(buf = malloc(size)))
		return -1;
	hl_state_obj_gather(e->st, obj, buf);
	rc = hl_log_checkpoint(&e->logs[obj], buf, size);
	free(buf);
	return rc;
}

int hl_engine_checkpoint(struct hl_engine *e, unsigned obj)
{
	int cpu = hl_engine_maint_cpu(e);
	struct hl_cpu *c = &e->cpus[cpu];
	struct hl_lock *lk;
	int taken = 0;

	if (obj == HL_FLATMEM_ID || obj >= HL_OBJ_END || !hl_engine_has_obj(e, obj) || e->cfg.logs_off ||
	    (hl_refine_sharded(&e->ref, obj) && !e->ref.parent[obj].residual) ||
	    hl_lock_is_stranded(&e->locks[obj]))
		return 0;
	lk = e->cfg.global_lock ? &e->global : &e->locks[obj];
	if (!hl_lock_lock(lk, cpu, &c->mcs[e->cfg.global_lock ? 0 : obj]))
		return 0;
	if (e->logs[obj].since_ckpt > 0 && obj_checkpoint(e, obj) == 0)
		taken = 1;
	hl_lock_unlock(lk, cpu, &c->mcs[e->cfg.global_lock ? 0 : obj]);
	return taken;
}

int hl_engine_checkpoint_all(struct hl_engine *e)
{
	int n = 0;
	for (unsigned id = 1; id < HL_OBJ_END; id++)
		n += hl_engine_checkpoint(e, id);
	return n;
}

void hl_engine_log_stats(struct hl_engine *e, struct hl_log_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned id = 0; id < HL_OBJ_END; id++) {
		out->records += e->logs[id].records_total;
		out->bytes += e->logs[id].bytes_total;
		out->checkpoints += e->logs[id].checkpoints;
		out->live_records += e->logs[id].since_ckpt;
	}
	hl_segpool_lock(&e->pool);
	out->seg_bytes_alloc = hl_segpool_bytes(&e->pool);
	out->seg_free = e->pool.nfree;
	out->seg_pops = e->pool.pops;
	hl_segpool_unlock(&e->pool);
}

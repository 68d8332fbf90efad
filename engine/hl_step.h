/*
 * hl_step.h - the shape every transition has (engine-internal).
 *
 *   hl_step_begin -> hl_step_lock (each object, in global order) -> check -> apply via
 *   hl_wr*() -> [hl_step_halt] -> hl_step_end (append one record per changed object,
 *   release, or strand what the spec leaves locked)
 *
 * The same transition code runs in replay mode (CalStateH): no locks, no logs, the
 * data-oracle values come from the record instead of the machine.
 */
#ifndef HL_STEP_H
#define HL_STEP_H

#include "hl_engine.h"

struct hl_step {
	struct hl_engine *e;        /* NULL in replay mode */
	struct hl_cpu *c;           /* NULL in replay mode */
	struct hl_state *st;
	bool replay;
	int cpu;
	uint64_t op;
	uint8_t event;
	uint64_t arg[4];
	uint64_t dorc, ret;
	uint8_t blob[HL_BLOB_MAX];
	uint32_t blob_len;
	unsigned nlocked;
	unsigned nstrand;
	bool halted;
	unsigned held_base;
	struct hl_wctx w;
	/* not zeroed by hl_step_begin (nlocked / nstrand bound them): with every shard lockable
	 * they are ~900 bytes */
	uint16_t locked[HL_MAX_STAGES];
	uint64_t lseq[HL_MAX_STAGES];   /* last seq of each locked object when it was taken */
	uint16_t strand[HL_MAX_STAGES];
};

int hl_step_begin(struct hl_step *s, struct hl_engine *e, int cpu, unsigned ev);
void hl_step_replay_init(struct hl_step *s, struct hl_state *st, const struct hl_rec *r,
			 struct hl_stage *stages);
/* 0, HL_E_STRANDED or HL_E_NOLOG; on error the caller returns hl_step_end(s, err) */
int hl_step_lock(struct hl_step *s, unsigned obj);
/* unlock an object this step locked and never changed (read-only critical sections) */
void hl_step_unlock_ro(struct hl_step *s, unsigned obj);
/* take the halt branch; the listed objects stay locked forever (the seed clears hlock). A
 * sharded object in the list (s2page with shards) strands every shard of it the step holds. */
int hl_step_halt(struct hl_step *s, unsigned n, ...);
int hl_step_end(struct hl_step *s, int rc);

/* witness that a step holds an object: aborts otherwise (an invariant, never input); for a
 * fully sharded object, that it holds at least one of its shards (each write is checked
 * against its own shard by the write context) */
void hl_step_assert_held(const struct hl_step *s, unsigned obj);

/* lock the s2page object(s) of pfns [pfn, pfn + n): the covering shards in ascending order,
 * or s2page itself when not sharded; every shard of s2page: hl_step_lock_s2p_all */
int hl_step_lock_s2p(struct hl_step *s, uint64_t pfn, uint64_t n);
int hl_step_lock_s2p_all(struct hl_step *s);

/* execute a logged event through the transitions (replay mode) */
int hl_trans_exec(struct hl_step *s);

#endif

/*
 * hl_check.h - the multi-CPU oracles of SPEC §10 as executable checks over an engine's
 * logs (a live engine, quiesced, or one loaded by hl_file_read).
 *
 * Every check is linear (or n log n) in the log length, and returns 0 (holds), 1 (a
 * violation, described in *v) or -1 (could not run: out of memory; v->rel is
 * HL_REL_ERROR). hl_check_all runs H_CalLock, sync_shared, relate_hlock (the structural
 * checks, cheapest first), then serializability, then relate_log, relate_oracle and the
 * security invariants in one shared replay of the linearization, so among those three a
 * violation is reported at the first operation where any of them fails; it stops at the
 * first violation. Memory: pointers to every record plus an operation index (linear in
 * the log) and two states and a model (bounded by the state size).
 *
 * Limitations: with checkpoints, operations that straddle a cut are not re-executed (their
 * deltas are applied and the model re-synchronised), and the security invariants are
 * checked on the final state only, because snapshots cut at different times do not form
 * one consistent state. The cycle reported by serializability is hl_linearize's account
 * (the operations left on or after a cycle), not a minimal cycle.
 */
#ifndef HL_CHECK_H
#define HL_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "hl_engine.h"
#include "hl_file.h"

enum hl_rel {
	HL_REL_OK = 0,
	HL_REL_CALLOCK,        /* H_CalLock: bracketed critical sections, consecutive seqs */
	HL_REL_SYNC,           /* sync_shared: Cal<Obj>(log) == live object */
	HL_REL_SERIAL,         /* serializability: the operation graph is acyclic */
	HL_REL_LOG,            /* relate_log: the model replaying the linearization == Cal<Obj> */
	HL_REL_ORACLE,         /* relate_oracle: each lock acquisition saw the log's state */
	HL_REL_HLOCK,          /* relate_hlock: nothing touches what a halted CPU left locked */
	HL_REL_SECURITY,       /* security invariants after every step */
	HL_REL_ERROR,          /* the check could not run */
};

const char *hl_rel_name(int rel);

/* one record of context around a violation */
struct hl_ctx_rec {
	unsigned obj, cpu, event, result, flags, nrec;
	uint64_t seq, op, ret, dorc;
	uint64_t arg[4];
	bool culprit;          /* the record the verdict is about */
};

#define HL_VERDICT_CTX 6u

struct hl_verdict {
	int rel;               /* enum hl_rel */
	uint64_t op;           /* first violating operation (0 if none applies) */
	unsigned obj;          /* object (HL_ID_END if none applies) */
	int cpu;               /* CPU of that operation (-1 if none applies) */
	uint64_t seq;          /* record sequence number in obj's log (0 if none) */
	unsigned event;
	char what[320];
	char expected[200];
	char actual[200];
	unsigned nctx;
	struct hl_ctx_rec ctx[HL_VERDICT_CTX];
};

/* where the logs come from; `file` is NULL for a live engine (compared with e->st) */
struct hl_check_src {
	struct hl_engine *e;
	const struct hl_file_info *file;
};

struct hl_check_stats {
	uint64_t records, ops, reexecuted, resynced, facts;
	double sec[HL_REL_ERROR];      /* time per relation (the shared replay counts under LOG) */
};

int hl_check_callock(const struct hl_check_src *src, struct hl_verdict *v);
int hl_check_sync_shared(const struct hl_check_src *src, struct hl_verdict *v);
/* on success *ops / *nops is the linearization (caller frees; both may be NULL) */
int hl_check_serializable(const struct hl_check_src *src, struct hl_verdict *v, uint64_t **ops,
			  size_t *nops);
int hl_check_relate_log(const struct hl_check_src *src, struct hl_verdict *v);
int hl_check_relate_oracle(const struct hl_check_src *src, struct hl_verdict *v);
int hl_check_relate_hlock(const struct hl_check_src *src, struct hl_verdict *v);
int hl_check_security(const struct hl_check_src *src, struct hl_verdict *v);
/* every check, in order; stops at the first violation. stats may be NULL */
int hl_check_all(const struct hl_check_src *src, struct hl_verdict *v, struct hl_check_stats *stats);

#endif

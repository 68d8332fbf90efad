/*
 * hl_check.h - the multi-CPU oracles of SPEC §10 as executable checks over a parsed log
 * (oracle/hl_olog.h: a log file, or a live engine serialized by oracle/hl_osrc.h).
 *
 * Independence: the checks depend on shared/, the log-file format and the model
 * (oracle/hl_model.h) only. They call no engine function and include no engine header
 * (hl_check.c refuses to compile with one): their own Cal<Obj> (delta application), their
 * own SPEC §4 lock order, their own linearization of the operations (per-object log order
 * + read dependencies + CPU program order) with cycle reporting. The engine's CalStateH is
 * compared with this linearization outside (hl_osrc_crosscheck, `hyplog check`).
 *
 * The relations (each returns 0 holds, 1 violated with *v filled, -1 could not run):
 *   H_CalLock        per object log: consecutive sequence numbers from the cut, one CPU per
 *                    critical section in its program order, well-formed fields; per record
 *                    and per step: the lock list names every lock of the step in
 *                    acquisition order, which is SPEC §4's global order, the record's own
 *                    object among them as written, as many written objects as records, and
 *                    every record of a step carries the same list.
 *   sync_shared      Cal<Obj>(start image, log) == the live object (bytes when the source
 *                    has them, else the file's XXH3 digest); a delta outside its object is a
 *                    violation here. With page memory whose only writer is the engine
 *                    (`ram_exact`), every RAM page's digest == flatmem's.
 *   relate_hlock     a stranded record is a halt by a CPU the log marks halted; no step
 *                    touches a stranded object afterwards, by writing it or by reading it
 *                    (a lock entry seeing the stranded record); a halted CPU runs nothing
 *                    after its halt but the steps nested in it.
 *   serializability  the operation graph is acyclic; a cycle is reported with each of its
 *                    operations and the edge (object log, read, program order) between them.
 *   init_state       the model's SPEC initial state == the file's seq-0 images.
 *   relate_oracle    per CPU, in program order, each lock acquisition's view (the seq it saw)
 *                    never goes backwards and everything appended to that object between
 *                    two views of one CPU was appended by other CPUs (checked against the
 *                    per-object logs, not the linearization graph); each step re-executed by
 *                    the model on the state at its views gives its recorded result, return
 *                    value and effects; its lock list is the model's SPEC §6 lock set; the
 *                    objects its halt strands are the model's; the seq a lock list gives for
 *                    a written object is that of the step's record there.
 *   relate_log       the model replaying the whole linearization equals Cal<Obj>, object
 *                    by object.
 *   security         the REFERENCE §6 invariants (model: hl_model_inv_*): on the seq-0 state,
 *                    after every step, and on the final state. Across checkpoint cuts the
 *                    file has no records before a cut, and snapshots of different objects
 *                    are cut at different times, so the replayed state mixes times until
 *                    the operations the lost records depended on are applied. The checks
 *                    then cover: the seq-0 images (one state, time 0); every step that is
 *                    provably after every lost record (ordered, in the operation graph,
 *                    after a touch of each cut object at or past its cut: see
 *                    consistent_part in hl_check.c), after the state they start from is
 *                    checked whole; and the final state. Steps before that cut are
 *                    re-executed and compared (relate_oracle/log) but not checked against
 *                    the invariants, since no state the file can rebuild is a real one
 *                    there. stats: cut_ops steps before it, inv_steps after. A source
 *                    that cut every log at one quiescent point (hl_olog.cuts_consistent:
 *                    the live checker's windows) starts from one real state: every step
 *                    of it is checked. A source that vouches that every trap returned
 *                    (hl_olog.quiesced, HL_OSRC_QUIESCED) also gets SPEC §7's run flow on the
 *                    final state: no more ACTIVE vCPUs than halted CPUs (an OVM_INACTIVE that
 *                    wrote nothing leaves no record; only this sees it); a VM whose vminfo a
 *                    halt left stranded is excused (its runs cannot end: SPEC waits forever).
 *
 * Shards (issue 11): the file's refinement map (hl_olog.h) refines SPEC objects into lock
 * objects. Every relation above that speaks of "an object's log" works per lock object
 * (sequence numbers, views, cuts, strands, the operation graph); lock ranks put a shard at
 * its SPEC object's place, a residual before its shards, shards ascending; the replay's
 * byte state holds SPEC images composed from residual + shards, so the model, init_state,
 * relate_log and the invariants see SPEC's objects. Added under the same names: a map that
 * is not a refinement, and a residual writing a shard's bytes or a link to a shard's table
 * (H_CalLock); lock sets compared after mapping lock objects to SPEC objects, every s2page /
 * host-table entry the model touched lying in a held lock object, and a halt stranding
 * every held shard of a stranded SPEC object (relate_oracle).
 *
 * hl_check_all runs H_CalLock, sync_shared, relate_hlock, serializability, init_state, then
 * relate_oracle's view check, then one replay of the linearization for relate_oracle,
 * relate_log and security (a violation there is reported at the first operation where any
 * of them fails); it stops at the first violation. Linear in the log (the program-order
 * sort is a radix sort), plus the state size.
 */
#ifndef HL_CHECK_H
#define HL_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "hl_olog.h"

struct hl_model;

enum hl_rel {
	HL_REL_OK = 0,
	HL_REL_CALLOCK,        /* H_CalLock */
	HL_REL_SYNC,           /* sync_shared */
	HL_REL_SERIAL,         /* serializability */
	HL_REL_LOG,            /* relate_log */
	HL_REL_ORACLE,         /* relate_oracle */
	HL_REL_HLOCK,          /* relate_hlock */
	HL_REL_SECURITY,       /* security invariants */
	HL_REL_INIT,           /* init_state: model's initial state == the file's seq-0 images */
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

/* struct hl_verdict.obj when no object applies (object IDs past HL_ID_END are shards) */
#define HL_VERDICT_NO_OBJ 0xFFFFu

struct hl_verdict {
	int rel;               /* enum hl_rel */
	uint64_t op;           /* first violating operation (0 if none applies) */
	unsigned obj;          /* lock object: a SPEC object or a shard (HL_VERDICT_NO_OBJ if none applies) */
	int cpu;               /* CPU of that operation (-1 if none applies) */
	uint64_t seq;          /* record sequence number in obj's log (0 if none) */
	unsigned event;
	char what[400];
	char expected[200];
	char actual[200];
	unsigned nctx;
	struct hl_ctx_rec ctx[HL_VERDICT_CTX];
};

struct hl_check_stats {
	uint64_t records, ops, reexecuted, resynced, facts;
	uint64_t inv_steps;            /* steps after which the security invariants were checked */
	uint64_t cut_ops;              /* steps before the consistent cut (0 without checkpoints) */
	bool init_checked;             /* init_state ran (the source has seq-0 images) */
	bool ram_checked;              /* flatmem was compared with page memory */
	double sec[HL_REL_ERROR];      /* time per relation (the shared replay counts under LOG) */
};

int hl_check_callock(const struct hl_olog *lg, struct hl_verdict *v);
int hl_check_sync_shared(const struct hl_olog *lg, struct hl_verdict *v);
/* on success *ops / *nops is the linearization (caller frees; both may be NULL) */
int hl_check_serializable(const struct hl_olog *lg, struct hl_verdict *v, uint64_t **ops, size_t *nops);
int hl_check_init(const struct hl_olog *lg, struct hl_verdict *v);
int hl_check_relate_log(const struct hl_olog *lg, struct hl_verdict *v);
int hl_check_relate_oracle(const struct hl_olog *lg, struct hl_verdict *v);
int hl_check_relate_hlock(const struct hl_olog *lg, struct hl_verdict *v);
int hl_check_security(const struct hl_olog *lg, struct hl_verdict *v);
/* every check, in order; stops at the first violation. stats may be NULL */
int hl_check_all(const struct hl_olog *lg, struct hl_verdict *v, struct hl_check_stats *stats);
/* the same; when every check holds and `final` is not NULL, *final is the model after
 * replaying the whole linearization (the oracle's CalStateH), for a cross-check with the
 * engine's; the caller frees it with hl_model_free */
int hl_check_all_final(const struct hl_olog *lg, struct hl_verdict *v, struct hl_check_stats *stats,
		       struct hl_model **final);

#endif

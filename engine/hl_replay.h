/*
 * hl_replay.h - Cal<Obj> (delta replay per object) and CalStateH (re-execution of the
 * events through the transitions, in a linearization built from the per-object logs).
 *
 * Both read an engine's logs as an RCU reader; the engine may be a live one (quiesced or
 * not) or one loaded from a log file. Both must reproduce the live state bit for bit.
 */
#ifndef HL_REPLAY_H
#define HL_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include "hl_engine.h"

struct hl_replay_err {
	int code;               /* 0: ok */
	unsigned obj;
	uint64_t seq, op;
	char msg[256];
};

enum hl_replay_code {
	HL_RP_OK = 0,
	HL_RP_BAD_LOG = 1,      /* malformed record: gap in seq, bad delta, bad args */
	HL_RP_CYCLE = 2,        /* the per-object orders admit no linearization */
	HL_RP_MISMATCH = 3,     /* re-execution disagrees with a record */
	HL_RP_NOMEM = 4,
};

/* Cal<Obj>: replays obj into out->img[obj] (out from hl_state_new(false)) */
int hl_cal_obj(struct hl_engine *e, unsigned obj, struct hl_state *out, struct hl_replay_err *err);
/* every object into `out` (a state from hl_state_new(false)) */
int hl_cal_all(struct hl_engine *e, struct hl_state *out, struct hl_replay_err *err);

struct hl_calh_stats {
	uint64_t ops, reexecuted, delta_applied, records, edges;
};
/* CalStateH into `out`; every re-executed step's deltas are compared with its records */
int hl_calstateh(struct hl_engine *e, struct hl_state *out, struct hl_calh_stats *stats,
		 struct hl_replay_err *err);

/* first object whose images differ, or -1; *off = first differing byte */
int hl_state_first_diff(const struct hl_state *a, const struct hl_state *b, size_t *off);

/* the operation IDs in a linearization (for the oracle); caller frees *ops */
int hl_linearize(struct hl_engine *e, uint64_t **ops, size_t *nops, struct hl_replay_err *err);

#endif

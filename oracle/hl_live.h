/*
 * hl_live.h - the oracle checks run live, beside the running CPUs, as a liburcu reader
 * of the logs (`hyplog stress --check`).
 *
 * A checker thread follows every object log incrementally: it checks each new record
 * (consecutive sequence numbers, record of this object, well-formed deltas, nothing
 * after a stranded record, a CPU that halted appends nothing but its nested steps: by
 * operation ID, whatever order the logs are read in) and applies it to its own replica of
 * the object. When the CPUs stop, the replicas must equal the live objects (sync_shared).
 *
 * Checkpoints (cfg.ckpt_every > 0): the steps no longer take them, this checker does, in
 * windows, so that no step's records are cut before every check has seen them. When some
 * log has grown by ckpt_every records since the last window, the checker pauses the CPUs
 * between two steps (hl_engine_pause: one consistent state, every step whole), drains its
 * follower, runs every check of hl_check_all (H_CalLock, sync_shared, relate_hlock,
 * serializability, relate_log, relate_oracle, the security invariants after every step)
 * over all records since the last window, and only then checkpoints every object at that
 * same point; the next window starts from those snapshots, one consistent state. A last
 * window runs when the CPUs have stopped. So every step of the run is covered by the full
 * checks exactly once, with or without checkpoints (resyncs stay 0). Not covered: the
 * record of a halting step on an object it stranded stays in that object's log (stranded
 * objects are never cut), so later windows see that step with records missing elsewhere.
 * Without checkpoints there are no windows: the caller's final check covers every step.
 * Start the checker before the CPUs run (the pause gate must be on before any step).
 */
#ifndef HL_LIVE_H
#define HL_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "hl_engine.h"

struct hl_live_report {
	uint64_t records;           /* records checked while the CPUs ran */
	uint64_t passes;
	uint64_t resyncs;           /* checkpoints that cut records the checker had not reached */
	uint64_t skipped;           /* records lost to those cuts */
	uint64_t max_lag_records;   /* appended but not yet checked, at the worst sample */
	double avg_lag_records;
	double max_lag_ms;          /* the longest a record waited to be checked (upper bound) */
	uint64_t windows;           /* full checks run on the quiesced engine (see above) */
	uint64_t window_ops;        /* steps those checks covered */
	uint64_t checkpoints;       /* checkpoints taken after a window */
	double window_ms;           /* time the CPUs waited for windows, in total */
	bool violation;
	char what[320];
};

struct hl_live;

/* start following e's logs from a thread of its own; `interval_us` between passes */
struct hl_live *hl_live_start(struct hl_engine *e, unsigned interval_us);
/* the CPUs have stopped: drain, compare replicas with the live objects, stop the thread */
void hl_live_stop(struct hl_live *lv, struct hl_live_report *rep);

#endif

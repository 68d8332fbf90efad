/*
 * hl_live.h - the oracle checks run live, beside the running CPUs, as a liburcu reader
 * of the logs (`hyplog stress --check`).
 *
 * A checker thread follows every object log incrementally: it checks each new record
 * (consecutive sequence numbers, record of this object, well-formed deltas, nothing
 * after a stranded record, a CPU that halted appends nothing but its nested steps) and
 * applies it to its own replica of the object. A checkpoint that cuts records it has not
 * reached makes it resynchronise from the snapshot (counted). When the CPUs stop, the
 * replicas must equal the live objects (sync_shared) and the full checks run on the
 * quiesced engine.
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
	bool violation;
	char what[320];
};

struct hl_live;

/* start following e's logs from a thread of its own; `interval_us` between passes */
struct hl_live *hl_live_start(struct hl_engine *e, unsigned interval_us);
/* the CPUs have stopped: drain, compare replicas with the live objects, stop the thread */
void hl_live_stop(struct hl_live *lv, struct hl_live_report *rep);

#endif

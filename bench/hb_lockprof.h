/*
 * hb_lockprof.h - the lock profile of an engine (issue 11): per object lock, acquisitions,
 * contended acquisitions, total wait and hold time, parks. `hyplog stress --profile`
 * prints it; `hyplog stress --json` and `hyplog bench` keep it in their JSON.
 */
#ifndef HB_LOCKPROF_H
#define HB_LOCKPROF_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "hl_engine.h"

struct hb_lockrow {
	char name[32];             /* "s2page", "npt(0)", "s2page[3]", "s2page[*]" (the sum over
				    * the shards), ... or "global" */
	unsigned id;
	struct hl_lock_stats s;
};

/* the most rows an engine can have: every object (shards included), the global lock, and
 * one "s2page[*]" / "npt(0)[*]" sum over each sharded object's shards */
#define HB_LOCKROWS_MAX (HL_OBJ_END + 3)

/* time every hold (two clock reads per acquisition) on every lock of e, from now on */
void hb_lockprof_enable(struct hl_engine *e, bool on);
/* the locks acquired at least once, sorted by total wait time (then acquisitions),
 * descending; returns the count. The engine's CPUs must be quiet. */
unsigned hb_lockprof_collect(const struct hl_engine *e, struct hb_lockrow *rows);
/* a table: `run_s` and `ncpus` give the wait/hold share of the run's CPU time */
void hb_lockprof_print(FILE *f, const struct hb_lockrow *rows, unsigned n, double run_s, unsigned ncpus);
/* the same as a JSON array of objects (new reference) */
json_t *hb_lockprof_json(const struct hb_lockrow *rows, unsigned n, double run_s, unsigned ncpus);

#endif

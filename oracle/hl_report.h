/* hl_report.h - replay an engine's logs and report agreement (shared by stress/replay). */
#ifndef HL_REPORT_H
#define HL_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "hl_engine.h"
#include "hl_file.h"
#include "hl_replay.h"

struct hl_report {
	bool cal_ok;          /* Cal<Obj> ran without a log error */
	bool calh_ok;         /* CalStateH ran without a log error */
	bool cal_eq_live;
	bool calh_eq_cal;
	bool calh_eq_live;
	double cal_sec, calh_sec;
	uint64_t records;
	struct hl_calh_stats calh;
	char why[320];
};

/* `info` NULL: compare with e's live state; else with the digests the file recorded.
 * `table`: print the per-object table. Returns 0 if everything agrees. */
int hl_report_replay(struct hl_engine *e, const struct hl_file_info *info, bool table, FILE *out,
		     struct hl_report *rep);

#endif

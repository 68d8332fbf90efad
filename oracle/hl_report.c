/* hl_report.c - replay an engine's logs both ways and say whether they agree. */
#include "hl_report.h"

#include <string.h>
#include <time.h>

#include "hl_replay.h"

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct cnt {
	uint64_t n;
};

static int count_visit(const struct hl_rec *r, void *arg)
{
	(void)r;
	((struct cnt *)arg)->n++;
	return 0;
}

int hl_report_replay(struct hl_engine *e, const struct hl_file_info *info, bool table, FILE *out,
		     struct hl_report *rep)
{
	struct hl_state *cal = hl_state_new(false), *calh = hl_state_new(false);
	struct hl_replay_err err;
	double t0;
	int rc = 0;

	memset(rep, 0, sizeof(*rep));
	if (!cal || !calh) {
		snprintf(rep->why, sizeof(rep->why), "out of memory");
		hl_state_free(cal);
		hl_state_free(calh);
		return 1;
	}
	t0 = now_sec();
	rep->cal_ok = hl_cal_all(e, cal, &err) == 0;
	rep->cal_sec = now_sec() - t0;
	if (!rep->cal_ok)
		snprintf(rep->why, sizeof(rep->why), "Cal<Obj>: %s", err.msg);
	t0 = now_sec();
	rep->calh_ok = hl_calstateh(e, calh, &rep->calh, &err) == 0;
	rep->calh_sec = now_sec() - t0;
	if (!rep->calh_ok && !rep->why[0])
		snprintf(rep->why, sizeof(rep->why), "CalStateH: %s", err.msg);

	rep->cal_eq_live = rep->cal_ok;
	rep->calh_eq_cal = rep->cal_ok && rep->calh_ok;
	rep->calh_eq_live = rep->calh_ok;
	if (table)
		fprintf(out, "%-14s %10s %10s  %-18s %-5s %-5s\n", "object", "records", "ckpt-seq",
			"digest(Cal)", "live", "CalH");
	hl_rcu_reader_ensure();
	/* every lock object with a log: SPEC objects and shards (a shard's digests are of its
	 * ranges, gathered from the SPEC object's image) */
	for (unsigned o = 1; o < HL_OBJ_END; o++) {
		uint64_t dc, dh, dl;
		bool have_live;
		struct cnt c = { 0 };
		const struct hl_snapshot *snap;
		uint64_t sseq;
		char name[24];

		if (!e->logs[o].base)
			continue;   /* no object in this run (a shard id outside the map) */
		dc = hl_state_obj_digest(cal, o);
		dh = hl_state_obj_digest(calh, o);
		dl = info ? info->live_digest[o] : hl_state_obj_digest(e->st, o);
		/* a file has no live digest of a fully sharded SPEC object (its shards have theirs) */
		have_live = !info || info->has_live_digest[o];

		hl_rcu_read_lock();
		hl_log_foreach(&e->logs[o], count_visit, &c);
		snap = hl_log_snapshot(&e->logs[o]);
		sseq = snap ? snap->seq : 0;
		hl_rcu_read_unlock();
		rep->records += c.n;
		if (rep->cal_ok && have_live && dc != dl) {
			if (rep->cal_eq_live)
				snprintf(rep->why, sizeof(rep->why), "Cal<Obj> of %s differs from the live object",
					 hl_obj_name(o, name, sizeof(name)));
			rep->cal_eq_live = false;
		}
		if (rep->calh_ok && rep->cal_ok && dh != dc) {
			if (rep->calh_eq_cal && rep->cal_eq_live)
				snprintf(rep->why, sizeof(rep->why), "CalStateH of %s differs from Cal<Obj>",
					 hl_obj_name(o, name, sizeof(name)));
			rep->calh_eq_cal = false;
		}
		if (rep->calh_ok && have_live && dh != dl)
			rep->calh_eq_live = false;
		if (table && (c.n || snap || (have_live && dc != dl) || dh != dc))
			fprintf(out, "%-14s %10llu %10llu  %016llx   %-5s %-5s\n",
				hl_obj_name(o, name, sizeof(name)), (unsigned long long)c.n,
				(unsigned long long)sseq, (unsigned long long)dc,
				rep->cal_ok ? (!have_live ? "-" : dc == dl ? "==" : "!=") : "err",
				rep->calh_ok ? (dh == dc ? "==" : "!=") : "err");
	}
	if (!(rep->cal_ok && rep->calh_ok && rep->cal_eq_live && rep->calh_eq_cal && rep->calh_eq_live))
		rc = 1;
	hl_state_free(cal);
	hl_state_free(calh);
	return rc;
}

/*
 * b_stress.c - (b) trap-level stress throughput through the hosted platform, in process
 * (hp_new/hp_setup/hp_run; no fork+exec), and (e) its memory.
 *
 * Workloads (hp mixes): faults = disjoint VMs (each CPU owns its RAM slice and its VMs;
 * host and guest stage-2 faults still share the s2page and npt(host) objects), share = a hot
 * shared s2page (every grant/revoke locks s2page), smmu = SMMU-heavy, boot = the boot
 * protocol (VM lifecycles), all = every mix together.
 * CPUs 1, 2 and 4 (4 oversubscribes a 2-core machine). Configurations, one factor at a
 * time against the baseline (ticket locks, per-object, logs on, no checkpoints):
 * logs off; MCS; pthread_mutex; one global lock; and for `all` also logs on with
 * checkpoints every 16384 records, and the same with cold memory (first-touch page faults
 * counted). Each cell is probed with a short run and its points sized to ~point_sec; each
 * point is repeated `reps` times (interleaved) and the median traps/s is reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "platform.h"

enum { C_BASE, C_LOGS_OFF, C_MCS, C_MUTEX, C_GLOBAL, C_CKPT, C_COLD_ON, C_COLD_OFF, C__N };
static const char *const cname[C__N] = { "base", "logs_off", "mcs", "mutex", "global", "ckpt16384", "cold_logs_on",
					 "cold_logs_off" };
static const unsigned mixes[] = { HP_MIX_FAULTS, HP_MIX_SHARE, HP_MIX_SMMU, HP_MIX_BOOT, HP_MIX_ALL };
static const char *const mixdesc[] = { "disjoint-vms", "hot-s2page", "smmu-heavy", "boot-protocol", "all" };
#define NMIX (sizeof(mixes) / sizeof(mixes[0]))
static const unsigned cpu_list[] = { 1, 2, 4 };
#define NCPU 3

static void set_cfg(struct hb_spt *pt, unsigned c)
{
	pt->lock = HL_LOCK_TICKET;
	pt->global = false;
	pt->logs_off = false;
	pt->ckpt = 0;
	switch (c) {
	case C_LOGS_OFF: pt->logs_off = true; break;
	case C_MCS: pt->lock = HL_LOCK_MCS; break;
	case C_MUTEX: pt->lock = HL_LOCK_MUTEX; break;
	case C_GLOBAL: pt->global = true; break;
	case C_CKPT: pt->ckpt = 16384; break;
	case C_COLD_ON: pt->cold = true; break;
	case C_COLD_OFF: pt->cold = true; pt->logs_off = true; break;
	}
}

struct cell {
	double tps[16];            /* traps/s per rep */
	double bpt[16], rss[16];   /* log bytes per trap, peak RSS KiB */
	double bpr[16];            /* log bytes per record */
	double cpt[16];            /* process CPU ns per trap (robust to other load at 1 CPU) */
	unsigned n;
	bool ran, bad;
	struct hb_lockrow locks[HB_LOCKROWS_MAX];   /* the last rep's lock profile (issue 11) */
	unsigned nlocks;
	double locks_run_s;
};

int hb_stress(struct hb_ctx *x)
{
	static struct cell cell[NMIX][NCPU][C__N];
	uint64_t ops_of[NMIX];
	unsigned reps = x->reps > 16 ? 16 : x->reps;
	int rc = 0;
	char cfg[200], base[200], tail[300];

	printf("== b. trap-level stress throughput (in process; median of %u) ==\n", reps);
	memset(cell, 0, sizeof(cell));
	/* calibrate: ops for ~point_sec per point at 1 CPU, baseline config */
	for (unsigned m = 0; m < NMIX; m++) {
		struct hb_spt pt = { .cpus = 1, .mix = mixes[m], .ops = x->quick ? 2000 : 5000, .seed = 1 };
		struct hb_sres r;
		set_cfg(&pt, C_BASE);
		hb_stress_point(&pt, &r, NULL);
		double aps = r.run_s > 0 ? r.actions / r.run_s : 1e5;
		ops_of[m] = (uint64_t)(aps * x->point_sec);
		if (ops_of[m] < 2000)
			ops_of[m] = 2000;
	}
	/* probe every cell with a short run and size its points to ~point_sec: a fair lock
	 * with more threads than free cores, or one global lock, can run 100x slower than
	 * the 1-CPU baseline, and an ops-bound point must not take minutes */
	static uint64_t cell_ops[NMIX][NCPU][C__N];
	for (unsigned m = 0; m < NMIX; m++)
		for (unsigned ci = 0; ci < NCPU; ci++)
			for (unsigned c = 0; c < C__N; c++) {
				struct hb_spt pt = { .cpus = cpu_list[ci], .mix = mixes[m], .seed = 99 };
				struct hb_sres r;
				if (cpu_list[ci] > x->max_cpus || (c >= C_CKPT && mixes[m] != HP_MIX_ALL))
					continue;
				set_cfg(&pt, c);
				pt.cold |= x->cold;
				pt.ops = ops_of[m] / 8 < 1000 ? 1000 : ops_of[m] / 8;
				if (hb_stress_point(&pt, &r, NULL) != 0 || !r.ok || r.run_s <= 0) {
					cell_ops[m][ci][c] = pt.ops;
					continue;
				}
				double want = r.actions / r.run_s * x->point_sec;
				cell_ops[m][ci][c] = want < 1000 ? 1000 : (uint64_t)want;
			}
	for (unsigned rep = 0; rep < reps; rep++, fprintf(stderr, "  stress: rep %u/%u done\n", rep, reps))
		for (unsigned m = 0; m < NMIX; m++)
			for (unsigned ci = 0; ci < NCPU; ci++) {
				unsigned cpus = cpu_list[ci];
				if (cpus > x->max_cpus)
					continue;
				for (unsigned c = 0; c < C__N; c++) {
					struct hb_spt pt = { .cpus = cpus, .mix = mixes[m], .seed = 1 + rep };
					struct hb_sres r;
					struct cell *ce = &cell[m][ci][c];
					if (c >= C_CKPT && mixes[m] != HP_MIX_ALL)
						continue;
					set_cfg(&pt, c);
					pt.cold |= x->cold;
					pt.ops = cell_ops[m][ci][c];
					if (hb_stress_point(&pt, &r, NULL) != 0 || !r.ok) {
						ce->bad = true;
						rc = 1;
						continue;
					}
					ce->ran = true;
					ce->tps[ce->n] = r.run_s > 0 ? r.traps / r.run_s : 0;
					ce->bpt[ce->n] = r.traps ? (double)r.ls.bytes / r.traps : 0;
					ce->bpr[ce->n] = r.ls.records ? (double)r.ls.bytes / r.ls.records : 0;
					ce->rss[ce->n] = (double)r.rss_delta_kib;
					ce->cpt[ce->n] = r.traps ? r.run_cpu_s * 1e9 / r.traps : 0;
					ce->n++;
					memcpy(ce->locks, r.locks, sizeof(r.locks[0]) * r.nlocks);
					ce->nlocks = r.nlocks;
					ce->locks_run_s = r.run_s;
				}
			}
	/* report */
	FILE *tp = hb_datafile(x, "throughput.dat"), *ra = hb_datafile(x, "ratios.dat");
	if (tp) {
		fprintf(tp, "cpus");
		for (unsigned m = 0; m < NMIX; m++)
			fprintf(tp, " %s(%s)", hp_mix_name(mixes[m]), mixdesc[m]);
		fprintf(tp, " faults-global-lock faults-logs-off all-logs-off all-mutex\n");
	}
	if (ra)
		fprintf(ra, "# mix logs_on/off mcs/ticket mutex/ticket global/per-object (time per trap, 2 CPUs)\n");
	double med[NMIX][NCPU][C__N];
	memset(med, 0, sizeof(med));
	for (unsigned m = 0; m < NMIX; m++)
		for (unsigned ci = 0; ci < NCPU; ci++)
			for (unsigned c = 0; c < C__N; c++)
				if (cell[m][ci][c].ran)
					med[m][ci][c] = hb_median(cell[m][ci][c].tps, cell[m][ci][c].n);
	for (unsigned m = 0; m < NMIX; m++)
		for (unsigned ci = 0; ci < NCPU; ci++) {
			unsigned cpus = cpu_list[ci];
			double b = med[m][ci][C_BASE];
			if (!cell[m][ci][C_BASE].ran)
				continue;
			for (unsigned c = 0; c < C__N; c++) {
				struct cell *ce = &cell[m][ci][c];
				struct hb_spt pt = { .cpus = cpus, .mix = mixes[m] };
				double v = med[m][ci][c], ratio;
				const char *bl;
				if (!ce->ran)
					continue;
				set_cfg(&pt, c);
				hb_cfg_str(&pt, cfg, sizeof(cfg));
				if (pt.cold)
					strncat(cfg, ",memory=cold", sizeof(cfg) - strlen(cfg) - 1);
				if (c == C_BASE) {
					/* the baseline's own ratio: time per trap vs logs off */
					double off = med[m][ci][C_LOGS_OFF];
					ratio = off > 0 && v > 0 ? off / v : 0;
					bl = "logs_off";
				} else if (c == C_COLD_ON) {
					double off = med[m][ci][C_COLD_OFF];
					ratio = off > 0 && v > 0 ? off / v : 0;
					bl = "cold_logs_off";
				} else {
					ratio = v > 0 ? b / v : 0;   /* time per trap vs baseline */
					bl = "ticket_per_object_logs_on";
				}
				double mn = ce->tps[0], mx = ce->tps[0];
				for (unsigned i = 1; i < ce->n; i++) {
					mn = ce->tps[i] < mn ? ce->tps[i] : mn;
					mx = ce->tps[i] > mx ? ce->tps[i] : mx;
				}
				json_t *ex = json_object();
				json_object_set_new(ex, "workload", json_string(mixdesc[m]));
				json_object_set_new(ex, "mix", json_string(hp_mix_name(mixes[m])));
				json_object_set_new(ex, "cpus", json_integer(cpus));
				json_object_set_new(ex, "variant", json_string(cname[c]));
				json_object_set_new(ex, "oversubscribed", json_boolean(cpus > 2));
				json_object_set_new(ex, "traps_per_s_min", json_real(mn));
				json_object_set_new(ex, "traps_per_s_max", json_real(mx));
				json_object_set_new(ex, "reps", json_integer(ce->n));
				json_object_set_new(ex, "log_bytes_per_trap", json_real(hb_median(ce->bpt, ce->n)));
				json_object_set_new(ex, "log_bytes_per_record", json_real(hb_median(ce->bpr, ce->n)));
				json_object_set_new(ex, "peak_rss_delta_kib", json_real(hb_median(ce->rss, ce->n)));
				json_object_set_new(ex, "cpu_ns_per_trap", json_real(hb_median(ce->cpt, ce->n)));
				json_object_set_new(ex, "speedup_vs_1cpu",
						    json_real(med[m][0][c] > 0 ? v / med[m][0][c] : 0));
				/* acquisitions, contention and wait per lock (no hold times: not profiled) */
				json_object_set_new(ex, "locks", hb_lockprof_json(ce->locks, ce->nlocks, ce->locks_run_s, cpus));
				snprintf(tail, sizeof(tail), "spread=%.0f..%.0f cpu_ns_per_trap=%.0f%s", mn, mx, hb_median(ce->cpt, ce->n),
					 cpus > 2 ? " oversubscribed=1" : "");
				hb_result_t(x, "stress", cfg, v, v > 0 ? 1e9 / v : 0, ratio, bl, ex, tail);
			}
			(void)base;
		}
	/* memory per workload at 2 CPUs (or the largest run) */
	unsigned mc = x->max_cpus >= 2 ? 1 : 0;
	for (unsigned m = 0; m < NMIX; m++) {
		struct cell *on = &cell[m][mc][C_BASE], *off = &cell[m][mc][C_LOGS_OFF];
		if (!on->ran || !off->ran)
			continue;
		double bpt = hb_median(on->bpt, on->n), bpr = hb_median(on->bpr, on->n);
		double rss_on = hb_median(on->rss, on->n), rss_off = hb_median(off->rss, off->n);
		snprintf(cfg, sizeof(cfg), "mix=%s,cpus=%u,lock=ticket,locking=per-object,logs=on,ckpt=0", hp_mix_name(mixes[m]),
			 cpu_list[mc]);
		snprintf(tail, sizeof(tail), "log_bytes_per_trap=%.1f log_bytes_per_record=%.1f peak_rss_delta_kib=%.0f "
			 "peak_rss_delta_kib_logs_off=%.0f", bpt, bpr, rss_on, rss_off);
		json_t *ex = json_object();
		json_object_set_new(ex, "log_bytes_per_trap", json_real(bpt));
		json_object_set_new(ex, "log_bytes_per_record", json_real(bpr));
		json_object_set_new(ex, "peak_rss_delta_kib", json_real(rss_on));
		json_object_set_new(ex, "peak_rss_delta_kib_logs_off", json_real(rss_off));
		double v = med[m][mc][C_BASE];
		hb_result_t(x, "memory", cfg, v, v > 0 ? 1e9 / v : 0, rss_off > 0 ? rss_on / rss_off : 0,
			    "peak_rss_logs_off", ex, tail);
	}
	if (tp) {
		for (unsigned ci = 0; ci < NCPU; ci++) {
			if (cpu_list[ci] > x->max_cpus)
				continue;
			fprintf(tp, "%u", cpu_list[ci]);
			for (unsigned m = 0; m < NMIX; m++)
				fprintf(tp, " %.0f", med[m][ci][C_BASE]);
			fprintf(tp, " %.0f %.0f %.0f %.0f\n", med[0][ci][C_GLOBAL], med[0][ci][C_LOGS_OFF],
				med[NMIX - 1][ci][C_LOGS_OFF], med[NMIX - 1][ci][C_MUTEX]);
		}
		fclose(tp);
	}
	if (ra) {
		for (unsigned m = 0; m < NMIX; m++) {
			double *v = med[m][mc];
			if (!v[C_BASE])
				continue;
			fprintf(ra, "%s %.3f %.3f %.3f %.3f\n", hp_mix_name(mixes[m]), v[C_LOGS_OFF] / v[C_BASE],
				v[C_BASE] / v[C_MCS], v[C_BASE] / v[C_MUTEX], v[C_BASE] / v[C_GLOBAL]);
		}
		fclose(ra);
	}
	/* targets */
	unsigned all = NMIX - 1;
	for (unsigned ci = 0; ci < NCPU; ci++) {
		double *v = med[all][ci];
		if (!v[C_BASE] || !v[C_LOGS_OFF] || cpu_list[ci] > 2)
			continue;
		char nm[64];
		double con = hb_median(cell[all][ci][C_BASE].cpt, cell[all][ci][C_BASE].n);
		double coff = hb_median(cell[all][ci][C_LOGS_OFF].cpt, cell[all][ci][C_LOGS_OFF].n);
		snprintf(nm, sizeof(nm), "logs_on_vs_off_all_%ucpu", cpu_list[ci]);
		/* 1 CPU: CPU time per trap (other load on a shared host cannot inflate it); 2 CPUs: wall */
		hb_target(x, nm, cpu_list[ci] == 1 && coff > 0 ? con / coff : v[C_LOGS_OFF] / v[C_BASE], true, 1.10,
			  "%s; CPU time/trap on %.0f ns vs off %.0f ns = %.3fx; wall time/trap logs on %.0f ns vs off %.0f ns "
			  "(mix all, %u CPU%s, ticket, per-object, no checkpoints, "
			  "resident memory); with checkpoints every 16384: %.0f ns = %.2fx; cold memory (first-touch "
			  "faults counted): on %.0f ns vs off %.0f ns = %.2fx",
			  cpu_list[ci] == 1 ? "value = CPU-time ratio" : "value = wall-time ratio", con, coff,
			  coff > 0 ? con / coff : 0, 1e9 / v[C_BASE], 1e9 / v[C_LOGS_OFF], cpu_list[ci],
			  cpu_list[ci] > 1 ? "s" : "", v[C_CKPT] ? 1e9 / v[C_CKPT] : 0, v[C_CKPT] ? v[C_LOGS_OFF] / v[C_CKPT] : 0,
			  v[C_COLD_ON] ? 1e9 / v[C_COLD_ON] : 0, v[C_COLD_OFF] ? 1e9 / v[C_COLD_OFF] : 0,
			  v[C_COLD_ON] ? v[C_COLD_OFF] / v[C_COLD_ON] : 0);
	}
	if (x->max_cpus >= 2 && med[0][1][C_GLOBAL] > 0)
		hb_target(x, "per_object_vs_global_faults_2cpu", med[0][1][C_BASE] / med[0][1][C_GLOBAL], false, 1.5,
			  "trap-level disjoint VMs (faults mix), 2 CPUs: per-object %.0f traps/s vs one global lock %.0f "
			  "traps/s (1 CPU: %.0f vs %.0f)",
			  med[0][1][C_BASE], med[0][1][C_GLOBAL], med[0][0][C_BASE], med[0][0][C_GLOBAL]);
	return rc;
}

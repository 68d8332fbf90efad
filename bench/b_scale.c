/*
 * b_scale.c - scaling with the CPU count (issue 11): trap-level throughput of the faults
 * mix (disjoint VMs) and the share mix (one hot s2page region) at every CPU count of
 * --cpus (default 1, 2, 4, ... up to twice the online cores), logs on and off, and the
 * lock profile of each point (which lock the CPUs wait for).
 *
 * Per (mix, N), each a median of reps (interleaved):
 *   base      ticket locks, per-object, logs on             -> ratio = speedup vs 1 CPU
 *   logs_off  the same without records                      -> logs on/off time ratio
 *   profile   base with every hold timed (hl_lock_profile)  -> profile overhead ratio
 * The profile point's lock table (acquisitions, contended, wait and hold time per object)
 * goes into the JSON ("locks") and its top waiter into the SUMMARY tail.
 * A point the build cannot hold (more CPUs than -Dnr_cpus, or under 10 MiB of -Dram_mib
 * per CPU) is skipped with a note naming the meson option. scaling.dat + scaling.gp
 * (gnuplot) draw traps/s vs CPUs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "hb_lockprof.h"
#include "platform.h"

enum { V_BASE, V_LOGS_OFF, V_PROFILE, V__N };
static const char *const vname[V__N] = { "base", "logs_off", "profile" };
static const unsigned mixes[] = { HP_MIX_FAULTS, HP_MIX_SHARE };
#define NMIX 2u

/* the default list: 1, 2, 4, ... up to 2x the online cores (and the build's max) */
unsigned hb_default_cpu_list(unsigned *list, unsigned max)
{
	long on = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned lim = (unsigned)(on > 0 ? on : 1) * 2, n = 0;
	for (unsigned c = 1; c <= lim && n < max; c *= 2)
		list[n++] = c;
	if (n && list[n - 1] != lim && n < max)
		list[n++] = lim;
	return n;
}

struct sc_cell {
	double tps[16];
	unsigned n;
	struct hb_lockrow locks[HB_LOCKROWS_MAX];
	unsigned nlocks;
	double run_s;
};

int hb_scale(struct hb_ctx *x)
{
	static struct sc_cell cell[NMIX][HB_MAX_CPU_LIST][V__N];
	unsigned list[HB_MAX_CPU_LIST], n = 0, reps = x->reps > 16 ? 16 : x->reps;
	uint64_t ops[NMIX][HB_MAX_CPU_LIST];
	int rc = 0;

	memset(cell, 0, sizeof(cell));
	if (x->ncpu_list) {
		memcpy(list, x->cpu_list, x->ncpu_list * sizeof(list[0]));
		n = x->ncpu_list;
	} else {
		n = hb_default_cpu_list(list, HB_MAX_CPU_LIST);
	}
	printf("== scale: traps/s vs CPUs, faults and share mixes (median of %u; online cores %ld) ==\n", reps,
	       sysconf(_SC_NPROCESSORS_ONLN));
	/* what the build can hold */
	unsigned keep = 0;
	for (unsigned i = 0; i < n; i++) {
		if (list[i] > HL_NR_CPUS) {
			hb_note(x, "scale: %u CPUs skipped: this build holds %u (meson option -Dnr_cpus=%u)", list[i],
				HL_NR_CPUS, list[i]);
			continue;
		}
		if (HL_RAM_PAGES / list[i] < 5 * 512) {
			hb_note(x, "scale: %u CPUs skipped: the stress needs 10 MiB of RAM per CPU, this build has %u MiB "
				"(meson option -Dram_mib=%u or more)", list[i], (unsigned)HL_CFG_RAM_MIB, list[i] * 10);
			continue;
		}
		list[keep++] = list[i];
	}
	n = keep;
	/* size each (mix, N) to ~point_sec with a probe */
	for (unsigned m = 0; m < NMIX; m++)
		for (unsigned i = 0; i < n; i++) {
			struct hb_spt pt = { .cpus = list[i], .mix = mixes[m], .lock = HL_LOCK_TICKET,
					     .ops = 4000 * list[i], .seed = 99 };
			struct hb_sres r;
			ops[m][i] = 20000;
			if (hb_stress_point(&pt, &r, NULL) == 0 && r.ok && r.run_s > 0) {
				double want = r.actions / r.run_s * x->point_sec;
				ops[m][i] = want < 2000.0 * list[i] ? 2000 * list[i] : (uint64_t)want;
			}
		}
	for (unsigned rep = 0; rep < reps; rep++)
		for (unsigned m = 0; m < NMIX; m++)
			for (unsigned i = 0; i < n; i++)
				for (unsigned v = 0; v < V__N; v++) {
					struct hb_spt pt = { .cpus = list[i], .mix = mixes[m], .lock = HL_LOCK_TICKET,
							     .ops = ops[m][i], .seed = 1 + rep, .logs_off = v == V_LOGS_OFF,
							     .profile = v == V_PROFILE, .cold = x->cold };
					struct hb_sres r;
					struct sc_cell *c = &cell[m][i][v];
					if (hb_stress_point(&pt, &r, NULL) != 0 || !r.ok || r.run_s <= 0) {
						fprintf(stderr, "bench: scale: point mix=%s cpus=%u %s failed\n",
							hp_mix_name(mixes[m]), list[i], vname[v]);
						rc = 1;
						continue;
					}
					c->tps[c->n++] = r.traps / r.run_s;
					if (v == V_PROFILE && (rep == reps / 2 || !c->nlocks)) {
						memcpy(c->locks, r.locks, sizeof(r.locks[0]) * r.nlocks);
						c->nlocks = r.nlocks;
						c->run_s = r.run_s;
					}
				}
	double med[NMIX][HB_MAX_CPU_LIST][V__N];
	memset(med, 0, sizeof(med));
	for (unsigned m = 0; m < NMIX; m++)
		for (unsigned i = 0; i < n; i++)
			for (unsigned v = 0; v < V__N; v++)
				med[m][i][v] = hb_median(cell[m][i][v].tps, cell[m][i][v].n);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	for (unsigned m = 0; m < NMIX; m++)
		for (unsigned i = 0; i < n; i++) {
			double b = med[m][i][V_BASE], off = med[m][i][V_LOGS_OFF], pr = med[m][i][V_PROFILE];
			double one = med[m][0][V_BASE];
			struct sc_cell *pc = &cell[m][i][V_PROFILE];
			char cfg[160], tail[400];
			const char *top = pc->nlocks ? pc->locks[0].name : "-";
			double cpu_ns = pc->run_s * 1e9 * list[i];
			double topw = pc->nlocks && cpu_ns > 0 ? pc->locks[0].s.wait_ns / cpu_ns : 0;
			if (!b)
				continue;
			snprintf(cfg, sizeof(cfg), "mix=%s,cpus=%u,lock=ticket,locking=per-object,logs=on",
				 hp_mix_name(mixes[m]), list[i]);
			snprintf(tail, sizeof(tail),
				 "speedup_vs_1cpu=%.2f logs_on_vs_off=%.3f profile_overhead=%.3f top_wait_lock=%s "
				 "top_wait_share=%.3f%s",
				 list[0] == 1 && one > 0 ? b / one : 0, off > 0 ? off / b : 0, pr > 0 ? b / pr : 0, top, topw,
				 (long)list[i] > online ? " oversubscribed=1" : "");
			json_t *ex = json_object();
			json_object_set_new(ex, "mix", json_string(hp_mix_name(mixes[m])));
			json_object_set_new(ex, "cpus", json_integer(list[i]));
			json_object_set_new(ex, "oversubscribed", json_boolean((long)list[i] > online));
			json_object_set_new(ex, "traps_per_s_logs_off", json_real(off));
			json_object_set_new(ex, "traps_per_s_profiled", json_real(pr));
			json_object_set_new(ex, "logs_on_vs_off", json_real(off > 0 ? off / b : 0));
			json_object_set_new(ex, "profile_overhead", json_real(pr > 0 ? b / pr : 0));
			json_object_set_new(ex, "locks", hb_lockprof_json(pc->locks, pc->nlocks, pc->run_s, list[i]));
			hb_result_t(x, "scale", cfg, b, 1e9 / b, list[0] == 1 && one > 0 ? b / one : 0,
				    list[0] == 1 ? "1cpu_same_run" : "-", ex, tail);
		}
	/* the chart */
	FILE *d = hb_datafile(x, "scaling.dat");
	if (d) {
		fprintf(d, "cpus faults faults-logs-off share share-logs-off\n");
		for (unsigned i = 0; i < n; i++)
			fprintf(d, "%u %.0f %.0f %.0f %.0f\n", list[i], med[0][i][V_BASE], med[0][i][V_LOGS_OFF],
				med[1][i][V_BASE], med[1][i][V_LOGS_OFF]);
		fclose(d);
		char path[4096], cmd[4300];
		snprintf(path, sizeof(path), "%s/scaling.gp", x->outdir);
		FILE *gp = fopen(path, "w");
		if (gp) {
			fprintf(gp,
				"# hyplog bench scale: run `gnuplot scaling.gp` in this directory\n"
				"set key outside right top; set grid; set logscale x 2\n"
				"set xlabel 'CPUs (%ld online cores)'; set ylabel 'traps/s (median)'\n"
				"set title 'Trap-level throughput vs CPUs (ticket locks, per-object)'\n"
				"do for [fmt in \"png svg\"] {\n"
				"  if (fmt eq \"png\") { set terminal pngcairo size 1000,600 noenhanced } else { set terminal svg size 1000,600 noenhanced }\n"
				"  set output sprintf('scaling.%%s', fmt)\n"
				"  plot for [c=2:5] 'scaling.dat' using 1:c with linespoints title columnheader(c)\n"
				"}\n", online);
			fclose(gp);
			if (x->charts) {
				if (system("command -v gnuplot >/dev/null 2>&1") != 0)
					hb_note(x, "gnuplot not found: scaling.gp written, chart not drawn");
				else {
					snprintf(cmd, sizeof(cmd), "cd '%s' && gnuplot scaling.gp 2>gnuplot-scaling.log", x->outdir);
					if (system(cmd) != 0)
						hb_note(x, "gnuplot failed; see %s/gnuplot-scaling.log", x->outdir);
				}
			}
		}
	}
	return rc;
}

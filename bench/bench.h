/*
 * bench.h - hyplog's benchmark suite (issue 5). Compiled into libhlbench, which the
 * standalone bench programs (hyplog-bench, registered as meson benchmarks) and the CLI
 * (`hyplog bench`, cli/cmd_bench.c) both call through hlbench_main().
 *
 * Every benchmark measures its baseline in the same process and run, prints one
 * grep-able line per result
 *   SUMMARY bench=<name> config=<k=v,...> ops_per_s=... ns_per_op=... ratio=... baseline=<name>
 * and adds the result to one JSON document (libjansson). Targets print
 *   TARGET <name> PASS|MISS value=... limit=... <detail>
 */
#ifndef HB_BENCH_H
#define HB_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "hl_engine.h"
#include "hb_lockprof.h"

/* the most entries of a --cpus list */
#define HB_MAX_CPU_LIST 32u

struct hb_ctx {
	/* options */
	const char *outdir;      /* results directory (NULL: no files) */
	bool quick;              /* CI-sized points */
	unsigned reps;           /* repeats per point; the median is reported */
	double point_sec;        /* target length of one stress point */
	unsigned max_cpus;       /* largest CPU count in the stress matrix */
	bool charts;             /* run gnuplot on the .dat files */
	bool cold;               /* no pre-faulting (hb_heap_warm / hb_engine_prefault) */
	unsigned cpu_list[HB_MAX_CPU_LIST];   /* --cpus: the scale suite's CPU counts (0 entries: default) */
	unsigned ncpu_list;
	/* results */
	json_t *root, *results, *targets;
	FILE *summary;           /* copy of every SUMMARY/TARGET line */
	unsigned nmiss;
};

/* ---- the benchmarks (one file each) -------------------------------------------------- */
int hb_uncontended(struct hb_ctx *x);   /* a: ns/op per transition vs a bare ticket pair */
int hb_stress(struct hb_ctx *x);        /* b: trap-level throughput matrix; e: memory */
int hb_replay(struct hb_ctx *x);        /* c: replay rates; d: check time scaling; e */
int hb_fairness(struct hb_ctx *x);      /* f: per-thread acquisition spread per lock kind */
int hb_disjoint(struct hb_ctx *x);      /* engine-level disjoint VMs: per-object vs global */
int hb_scale(struct hb_ctx *x);         /* issue 11: traps/s vs a CPU list, lock profiles, chart */
int hb_preempt(struct hb_ctx *x);       /* issue 11: preempted holder, alone vs a busy process */
int hb_lines(struct hb_ctx *x);         /* issue 11: shared cache lines: per-CPU slots, lock lines, neighbours */
/* 1, 2, 4, ... up to twice the online cores; returns the count */
unsigned hb_default_cpu_list(unsigned *list, unsigned max);

int hlbench_main(int argc, char **argv);

/* ---- helpers (bench_common.c) --------------------------------------------------------- */
double hb_now(void);
/* CPU time of the calling thread: single-threaded microbenchmarks use it, so time the
 * thread spends preempted by other load on the machine is not counted */
double hb_cpu_now(void);
double hb_median(double *v, unsigned n);
/* reset the peak-RSS mark (Linux clear_refs 5); false if unsupported */
bool hb_rss_reset(void);
long hb_rss_peak_kib(void);   /* VmHWM */
long hb_rss_now_kib(void);    /* VmRSS */

/* one result; `extra` (may be NULL) is stolen. Prints the SUMMARY line. */
void hb_result(struct hb_ctx *x, const char *bench, const char *config, double ops_per_s, double ns_per_op,
	       double ratio, const char *baseline, json_t *extra);
/* the same with extra " key=value ..." text after baseline= */
void hb_result_t(struct hb_ctx *x, const char *bench, const char *config, double ops_per_s, double ns_per_op,
		 double ratio, const char *baseline, json_t *extra, const char *tail);
/* a target: value <= limit (le) or value >= limit (!le) */
bool hb_target(struct hb_ctx *x, const char *name, double value, bool le, double limit, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* open a data file in outdir for gnuplot (NULL if no outdir) */
FILE *hb_datafile(struct hb_ctx *x, const char *name);
void hb_note(struct hb_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* pre-fault a reusable malloc heap of `bytes` (once per process) */
void hb_heap_warm(size_t bytes);
/* touch every page of an engine's images and hosted RAM */
void hb_engine_prefault(struct hl_engine *e);
/* an engine configured for benchmarks (lock-order checks off: release builds' default) */
struct hl_engine *hb_engine(unsigned ncpus, enum hl_lock_kind kind, bool global, bool logs_off, uint64_t ckpt);

/* ---- trap-level stress point (bench_stress.c) ---------------------------------------- */
struct hb_spt {
	unsigned cpus, vms, mix;
	enum hl_lock_kind lock;
	bool global, logs_off;
	uint64_t ckpt, ops, seed;
	bool cold;                 /* count first-touch page faults (no prefault) */
	bool profile;              /* time every lock hold (hl_lock_profile) */
};
struct hb_sres {
	double run_s;              /* wall time of hp_run */
	double run_cpu_s;          /* process CPU time of hp_run (1 CPU: the CPU thread's time) */
	uint64_t traps, actions;   /* traps: host traps + VM exits, as `hyplog stress` counts */
	struct hl_log_stats ls;
	long peak_rss_kib;         /* VmHWM over setup + run (reset before) */
	long rss_delta_kib;        /* VmHWM minus VmRSS before the engine was created */
	bool ok;
	struct hb_lockrow locks[HB_LOCKROWS_MAX];   /* the run's lock profile, by wait time */
	unsigned nlocks;
};
/* run one point; if keep != NULL the engine is returned for replay (caller frees with
 * hb_engine_release) and *kc gets the kcore (opaque) */
int hb_stress_point(const struct hb_spt *pt, struct hb_sres *res, struct hl_engine **keep);
void hb_engine_release(struct hl_engine *e);
const char *hb_cfg_str(const struct hb_spt *pt, char *buf, size_t len);

#endif

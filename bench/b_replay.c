/*
 * b_replay.c - (c) replay, (d) check-time scaling, (e) log memory and segment reuse.
 *
 * Logs come from trap-level stress runs (mix all, 1 CPU: deterministic, so 1x/2x/4x logs
 * are prefixes of one another), kept in process. On each:
 *   - Cal<Obj> per object (hl_cal_obj), timed; its delta-apply part is hl_cal_obj minus
 *     hl_state_init_obj of that object (the base image it starts from), so records/s per
 *     object kind counts only the delta replay;
 *   - hl_cal_all vs the live run that wrote the log (replay time / live time);
 *   - CalStateH (hl_calstateh) and hl_linearize: the check time. When oracle/hl_check.h
 *     exists the oracle's run-all entry point is the check; otherwise (today) the check is
 *     hl_calstateh + hl_linearize, as the note in results.json says;
 *   - the same with checkpoints (ckpt_every 16384 and 4096): replay from snapshots, the
 *     segment reuse rate (seg_pops vs segments allocated).
 * Every replay is compared with the live state (a benchmark that replays wrongly fails).
 * All times here are CPU times (replay is single-threaded; the live run has one CPU
 * thread), so other load on a shared host does not distort the ratios.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "hl_replay.h"
#include "platform.h"

#if defined(__has_include)
#if __has_include("hl_check.h")
#include "hl_check.h"
#include "hl_osrc.h"
#define HB_HAVE_ORACLE 1
#endif
#endif

enum { K_CORE, K_S2PAGE, K_SPT, K_SMMU, K_NPT_HOST, K_NPT_VM, K_NPT_CORE, K_VMINFO, K__N };
static const char *const kname[K__N] = { "core", "s2page", "spt", "smmu", "npt_host", "npt_vm", "npt_corevisor",
					 "vminfo" };

static unsigned kind_of(unsigned o)
{
	if (hl_shard_parent(o) != HL_INVALID)
		o = hl_shard_parent(o);   /* a shard counts as its abstract object (issue 11) */
	if (o == HL_CORE_ID) return K_CORE;
	if (o == HL_S2PAGE_ID) return K_S2PAGE;
	if (o == HL_SPT_ID) return K_SPT;
	if (o == HL_SMMU_ID) return K_SMMU;
	if (o == HL_NPT_OBJ(HL_HOSTVISOR)) return K_NPT_HOST;
	if (o == HL_NPT_OBJ(HL_COREVISOR)) return K_NPT_CORE;
	if (o >= HL_NPT_ID && o < HL_INFO_ID) return K_NPT_VM;
	return K_VMINFO;
}

struct count_ctx {
	uint64_t n, bytes;
};
static int count_visit(const struct hl_rec *r, void *arg)
{
	struct count_ctx *c = arg;
	c->n++;
	c->bytes += r->len;
	return 0;
}

struct rmeas {
	uint64_t records, live_records, bytes, traps;
	double live_s, live_wall_s;
	double cal_all_s, calh_s, lin_s, check_s, oracle_s;
	double kind_apply_s[K__N], kind_cal_s[K__N];
	uint64_t kind_recs[K__N], kind_bytes[K__N];
	struct hl_log_stats ls;
	long rss_kib;
	bool ok;
};

static double t_min(const double *v, unsigned n)
{
	double m = n ? v[0] : 0;
	for (unsigned i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

/* replay everything on e, `reps` times each (median) */
static void measure_engine(struct hl_engine *e, unsigned reps, struct rmeas *m)
{
	struct hl_state *out = hl_state_new(false), *init = hl_state_new(false);
	struct hl_replay_err err;
	double v[16], t0;
	size_t off;

	m->ok = out && init;
	if (!m->ok)
		goto done;
	init->ref = &e->ref;   /* the run's shards (issue 11) */
	hl_rcu_reader_ensure();
	for (unsigned o = 1; o < HL_OBJ_END; o++) {
		struct count_ctx c = { 0, 0 };
		if (!hl_engine_has_obj(e, o))
			continue;
		hl_rcu_read_lock();
		hl_log_foreach(&e->logs[o], count_visit, &c);
		hl_rcu_read_unlock();
		m->live_records += c.n;
		m->kind_recs[kind_of(o)] += c.n;
		m->kind_bytes[kind_of(o)] += c.bytes;
		/* hl_cal_obj, and hl_state_init_obj alone (the base-image part) */
		double vc[16] = { 0 }, vi[16] = { 0 };
		for (unsigned r = 0; r < reps; r++) {
			t0 = hb_cpu_now();
			if (hl_cal_obj(e, o, out, &err)) {
				fprintf(stderr, "bench replay: Cal<Obj> failed: %s\n", err.msg);
				m->ok = false;
			}
			vc[r] = hb_cpu_now() - t0;
			t0 = hb_cpu_now();
			hl_state_init_obj(init, o);
			vi[r] = hb_cpu_now() - t0;
		}
		double tc = t_min(vc, reps), ti = t_min(vi, reps);
		/* a log that starts from a snapshot copies it instead of building the initial image:
		 * count that copy as base-image time too */
		const struct hl_snapshot *snap;
		hl_rcu_read_lock();
		snap = hl_log_snapshot(&e->logs[o]);
		if (snap) {
			double vs[16] = { 0 };
			for (unsigned r = 0; r < reps; r++) {
				t0 = hb_cpu_now();
				hl_state_obj_scatter(init, o, snap->img);   /* a shard: its ranges */
				vs[r] = hb_cpu_now() - t0;
			}
			ti = t_min(vs, reps);
		}
		hl_rcu_read_unlock();
		m->kind_cal_s[kind_of(o)] += tc;
		m->kind_apply_s[kind_of(o)] += tc > ti ? tc - ti : 0;
	}
	if (hl_state_first_diff(out, e->st, &off) >= 0) {
		fprintf(stderr, "bench replay: Cal<Obj> != live\n");
		m->ok = false;
	}
	for (unsigned r = 0; r < reps; r++) {
		t0 = hb_cpu_now();
		if (hl_cal_all(e, out, &err))
			m->ok = false;
		v[r] = hb_cpu_now() - t0;
	}
	m->cal_all_s = hb_median(v, reps);
	for (unsigned r = 0; r < reps; r++) {
		struct hl_calh_stats cs;
		t0 = hb_cpu_now();
		if (hl_calstateh(e, out, &cs, &err)) {
			fprintf(stderr, "bench replay: CalStateH failed: %s\n", err.msg);
			m->ok = false;
		}
		v[r] = hb_cpu_now() - t0;
	}
	m->calh_s = hb_median(v, reps);
	if (hl_state_first_diff(out, e->st, &off) >= 0) {
		fprintf(stderr, "bench replay: CalStateH != live\n");
		m->ok = false;
	}
	for (unsigned r = 0; r < reps; r++) {
		uint64_t *ops = NULL;
		size_t nops = 0;
		t0 = hb_cpu_now();
		if (hl_linearize(e, &ops, &nops, &err))
			m->ok = false;
		v[r] = hb_cpu_now() - t0;
		free(ops);
	}
	m->lin_s = hb_median(v, reps);
	m->check_s = m->calh_s + m->lin_s;
#ifdef HB_HAVE_ORACLE
	for (unsigned r = 0; r < reps; r++) {
		struct hl_verdict vd;
		struct hl_check_stats cst;
		memset(&vd, 0, sizeof(vd));
		t0 = hb_cpu_now();
		int crc = hl_check_engine(e, 0, &vd, &cst);   /* serialize + the oracle's parser + checks */
		v[r] = hb_cpu_now() - t0;
		if (crc != 0) {
			fprintf(stderr, "bench replay: hl_check_all = %d: %s\n", crc, vd.what);
			m->ok = false;
		}
	}
	m->oracle_s = hb_median(v, reps);
	m->check_s = m->oracle_s;
#endif
done:
	hl_state_free(out);
	hl_state_free(init);
}

static bool run_and_measure(uint64_t ops, uint64_t ckpt, unsigned reps, struct rmeas *m)
{
	struct hb_spt pt = { .cpus = 1, .mix = HP_MIX_ALL, .lock = HL_LOCK_TICKET, .ckpt = ckpt, .ops = ops, .seed = 7 };
	struct hb_sres r;
	struct hl_engine *e = NULL;

	memset(m, 0, sizeof(*m));
	if (hb_stress_point(&pt, &r, &e) != 0 || !r.ok || !e) {
		hb_engine_release(e);
		return false;
	}
	m->live_s = r.run_cpu_s;   /* CPU time, like the replay timings (the host is shared) */
	m->live_wall_s = r.run_s;
	m->traps = r.traps;
	m->records = r.ls.records;
	m->bytes = r.ls.bytes;
	m->ls = r.ls;
	m->rss_kib = r.rss_delta_kib;
	measure_engine(e, reps, m);
	hb_engine_release(e);
	return m->ok;
}

/* single-core streaming read bandwidth over n bytes (GB/s): the bound on delta replay */
static double read_bw(size_t n, unsigned reps)
{
	uint64_t *b = malloc(n), sum = 0;
	double best = 0;
	if (!b)
		return 0;
	memset(b, 1, n);
	for (unsigned r = 0; r < reps; r++) {
		double t0 = hb_cpu_now();
		for (size_t i = 0; i < n / 8; i += 4)
			sum += b[i] + b[i + 1] + b[i + 2] + b[i + 3];
		double t = hb_cpu_now() - t0;
		__asm__ __volatile__("" : : "r"(sum));
		if (t > 0 && n / t / 1e9 > best)
			best = n / t / 1e9;
	}
	free(b);
	return best;
}

int hb_replay(struct hb_ctx *x)
{
	unsigned reps = x->reps > 16 ? 16 : x->reps;
	uint64_t base_ops = x->quick ? 20000 : 100000;
	static const unsigned mult[] = { 1, 2, 4 };
	struct rmeas m[3], mc[2];
	char cfg[200], tail[400];
	int rc = 0;
#ifdef HB_HAVE_ORACLE
	bool have_oracle = true;
#else
	bool have_oracle = false;
#endif
	printf("== c/d/e. replay, check-time scaling, log memory (mix all, 1 CPU) ==\n");
	if (have_oracle)
		hb_note(x, "check time = oracle/hl_check.h hl_check_all (every SPEC section 10 check); "
			   "hl_calstateh + hl_linearize reported beside it");
	else
		hb_note(x, "oracle/hl_check.h not present: check time = hl_calstateh + hl_linearize");
	FILE *dat = hb_datafile(x, "replay.dat");
	if (dat)
		fprintf(dat, "# records cal_Mrec_s calh_Mrec_s live_s check_s cal_all_s\n");
	for (unsigned i = 0; i < 3; i++) {
		if (!run_and_measure(base_ops * mult[i], 0, reps, &m[i])) {
			fprintf(stderr, "bench replay: %ux log failed\n", mult[i]);
			rc = 1;
			continue;
		}
		struct rmeas *r = &m[i];
		snprintf(cfg, sizeof(cfg), "log=%ux,records=%llu,ckpt=0,what=cal_all", mult[i],
			 (unsigned long long)r->live_records);
		snprintf(tail, sizeof(tail), "live_s=%.4f replay_s=%.4f replay_over_live=%.4f", r->live_s, r->cal_all_s,
			 r->cal_all_s / r->live_s);
		json_t *ex = json_object();
		json_object_set_new(ex, "live_s", json_real(r->live_s));
		json_object_set_new(ex, "replay_s", json_real(r->cal_all_s));
		json_object_set_new(ex, "records", json_integer((json_int_t)r->live_records));
		json_object_set_new(ex, "traps", json_integer((json_int_t)r->traps));
		/* ratio: how many times faster than the live run */
		hb_result_t(x, "replay", cfg, r->live_records / r->cal_all_s, r->cal_all_s * 1e9 / r->live_records,
			    r->live_s / r->cal_all_s, "live_run", ex, tail);
		snprintf(cfg, sizeof(cfg), "log=%ux,records=%llu,ckpt=0,what=calstateh", mult[i],
			 (unsigned long long)r->live_records);
		hb_result(x, "replay", cfg, r->live_records / r->calh_s, r->calh_s * 1e9 / r->live_records,
			  r->calh_s / r->cal_all_s, "cal_all", NULL);
		snprintf(cfg, sizeof(cfg), "log=%ux,records=%llu,what=check(%s)", mult[i],
			 (unsigned long long)r->live_records, have_oracle ? "hl_check_all" : "calstateh+linearize");
		snprintf(tail, sizeof(tail), "check_s=%.4f linearize_s=%.4f calstateh_s=%.4f", r->check_s, r->lin_s, r->calh_s);
		hb_result_t(x, "check", cfg, r->live_records / r->check_s, r->check_s * 1e9 / r->live_records,
			    i ? r->check_s / m[i - 1].check_s : 1.0, i ? "check_time_half_log" : "-", NULL, tail);
		for (unsigned k = 0; k < K__N; k++) {
			if (!r->kind_recs[k])
				continue;
			double ap = r->kind_apply_s[k], cal = r->kind_cal_s[k];
			snprintf(cfg, sizeof(cfg), "log=%ux,kind=%s,records=%llu,what=delta_apply", mult[i], kname[k],
				 (unsigned long long)r->kind_recs[k]);
			snprintf(tail, sizeof(tail), "cal_obj_incl_base_s=%.6f cal_obj_incl_base_rec_per_s=%.0f", cal,
				 r->kind_recs[k] / cal);
			hb_result_t(x, "replay_kind", cfg, ap > 0 ? r->kind_recs[k] / ap : 0,
				    ap * 1e9 / r->kind_recs[k], ap > 0 ? cal / ap : 0, "cal_obj_incl_base_image", NULL, tail);
		}
		if (dat)
			fprintf(dat, "%llu %.2f %.2f %.4f %.4f %.4f\n", (unsigned long long)r->live_records,
				r->live_records / r->cal_all_s / 1e6, r->live_records / r->calh_s / 1e6, r->live_s,
				r->check_s, r->cal_all_s);
	}
	if (dat)
		fclose(dat);
	/* with checkpoints (4x log) */
	static const uint64_t cks[2] = { 16384, 4096 };
	for (unsigned j = 0; j < 2; j++) {
		if (!run_and_measure(base_ops * 4, cks[j], reps, &mc[j])) {
			rc = 1;
			continue;
		}
		struct rmeas *r = &mc[j];
		size_t nsegs = r->ls.seg_bytes_alloc / ((size_t)HL_CFG_LOG_SEGMENT_KIB << 10);
		double reuse = r->ls.seg_pops > nsegs ? (double)(r->ls.seg_pops - nsegs) / r->ls.seg_pops : 0;
		snprintf(cfg, sizeof(cfg), "log=4x,records=%llu,ckpt=%llu,what=cal_all", (unsigned long long)r->records,
			 (unsigned long long)cks[j]);
		snprintf(tail, sizeof(tail), "live_s=%.4f replay_s=%.4f calstateh_s=%.4f records_after_ckpt=%llu "
			 "checkpoints=%llu", r->live_s, r->cal_all_s, r->calh_s, (unsigned long long)r->live_records,
			 (unsigned long long)r->ls.checkpoints);
		hb_result_t(x, "replay_ckpt", cfg, r->live_records / r->cal_all_s, r->cal_all_s * 1e9 / r->live_records,
			    m[2].cal_all_s > 0 ? r->cal_all_s / m[2].cal_all_s : 0, "cal_all_no_ckpt", NULL, tail);
		snprintf(cfg, sizeof(cfg), "log=4x,ckpt=%llu,what=segments", (unsigned long long)cks[j]);
		snprintf(tail, sizeof(tail), "seg_pops=%llu segs_allocated=%zu seg_bytes_alloc=%zu reuse_rate=%.3f "
			 "log_bytes=%llu peak_rss_delta_kib=%ld peak_rss_delta_kib_no_ckpt=%ld", (unsigned long long)r->ls.seg_pops, nsegs,
			 r->ls.seg_bytes_alloc, reuse, (unsigned long long)r->bytes, r->rss_kib, m[2].rss_kib);
		json_t *ex = json_object();
		json_object_set_new(ex, "seg_pops", json_integer((json_int_t)r->ls.seg_pops));
		json_object_set_new(ex, "segs_allocated", json_integer((json_int_t)nsegs));
		json_object_set_new(ex, "seg_bytes_alloc", json_integer((json_int_t)r->ls.seg_bytes_alloc));
		json_object_set_new(ex, "reuse_rate", json_real(reuse));
		json_object_set_new(ex, "peak_rss_delta_kib", json_integer(r->rss_kib));
		hb_result_t(x, "memory_segments", cfg, r->traps / r->live_s, r->live_s * 1e9 / r->traps,
			    m[2].ls.seg_bytes_alloc ? (double)r->ls.seg_bytes_alloc / m[2].ls.seg_bytes_alloc : 0,
			    "seg_bytes_no_ckpt", ex, tail);
	}
	if (m[2].ok) {
		size_t nsegs = m[2].ls.seg_bytes_alloc / ((size_t)HL_CFG_LOG_SEGMENT_KIB << 10);
		snprintf(cfg, sizeof(cfg), "log=4x,ckpt=0,what=segments");
		snprintf(tail, sizeof(tail), "seg_pops=%llu segs_allocated=%zu seg_bytes_alloc=%zu reuse_rate=0.000 "
			 "log_bytes=%llu log_bytes_per_trap=%.1f log_bytes_per_record=%.1f peak_rss_delta_kib=%ld",
			 (unsigned long long)m[2].ls.seg_pops, nsegs, m[2].ls.seg_bytes_alloc, (unsigned long long)m[2].bytes,
			 (double)m[2].bytes / m[2].traps, (double)m[2].bytes / m[2].records, m[2].rss_kib);
		hb_result_t(x, "memory_segments", cfg, m[2].traps / m[2].live_s, m[2].live_s * 1e9 / m[2].traps, 1.0,
			    "seg_bytes_no_ckpt", NULL, tail);
	}
	/* targets */
	if (m[2].ok) {
		struct rmeas *r = &m[2];
		hb_target(x, "delta_replay_vs_live", r->live_s / r->cal_all_s, false, 10.0,
			  "hl_cal_all %.4f s vs live run %.4f s for %llu records (4x log, mix all, 1 CPU, incl. base images)",
			  r->cal_all_s, r->live_s, (unsigned long long)r->live_records);
		double ap = r->kind_apply_s[K_S2PAGE];
		double bpr = r->kind_recs[K_S2PAGE] ? (double)r->kind_bytes[K_S2PAGE] / r->kind_recs[K_S2PAGE] : 0;
		double bw_l3 = read_bw(r->kind_bytes[K_S2PAGE] ? r->kind_bytes[K_S2PAGE] : (8u << 20), reps);
		double bw_big = read_bw((size_t)256 << 20, reps);
		char cf[160];
		snprintf(cf, sizeof(cf), "bytes=%llu,what=read_bandwidth_same_size_as_s2page_log",
			 (unsigned long long)r->kind_bytes[K_S2PAGE]);
		hb_result(x, "membw", cf, bw_l3 * 1e9 / 8, 8 / bw_l3, bpr > 0 ? bw_l3 * 1e9 / bpr / 1e6 : 0,
			  "bound_Mrec_s_for_s2page_records", NULL);
		snprintf(cf, sizeof(cf), "bytes=268435456,what=read_bandwidth_dram");
		hb_result(x, "membw", cf, bw_big * 1e9 / 8, 8 / bw_big, bpr > 0 ? bw_big * 1e9 / bpr / 1e6 : 0,
			  "bound_Mrec_s_for_s2page_records", NULL);
		hb_target(x, "s2page_delta_replay_Mrec_s", ap > 0 ? r->kind_recs[K_S2PAGE] / ap / 1e6 : 0, false, 200.0,
			  "%llu s2page records of %.0f B each: delta apply %.3f ms = %.1f GB/s (hl_cal_obj %.3f ms incl. the "
			  "%.2f MB base image); a plain read of that many bytes runs at %.1f GB/s (%.0f M rec/s bound), "
			  "256 MiB at %.1f GB/s (%.0f M rec/s)",
			  (unsigned long long)r->kind_recs[K_S2PAGE], bpr, ap * 1e3,
			  ap > 0 ? r->kind_bytes[K_S2PAGE] / ap / 1e9 : 0, r->kind_cal_s[K_S2PAGE] * 1e3,
			  (double)sizeof(struct hl_s2page_obj) / 1e6, bw_l3, bpr > 0 ? bw_l3 * 1e3 / bpr : 0, bw_big,
			  bpr > 0 ? bw_big * 1e3 / bpr : 0);
	}
	if (m[0].ok && m[1].ok)
		hb_target(x, "check_time_2x_log", m[1].check_s / m[0].check_s, true, 2.2,
			  "check (%s) %.4f s at %llu records vs %.4f s at %llu (CPU time)",
			  have_oracle ? "hl_check_all" : "hl_calstateh + hl_linearize", m[1].check_s,
			  (unsigned long long)m[1].live_records, m[0].check_s, (unsigned long long)m[0].live_records);
	if (m[1].ok && m[2].ok)
		hb_target(x, "check_time_4x_vs_2x_log", m[2].check_s / m[1].check_s, true, 2.2,
			  "check %.4f s at %llu records vs %.4f s at %llu", m[2].check_s, (unsigned long long)m[2].live_records,
			  m[1].check_s, (unsigned long long)m[1].live_records);
	return rc;
}

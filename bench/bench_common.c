/* bench_common.c - timing, results (SUMMARY lines + JSON), RSS, engine and stress points. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "hl_testkey.h"
#include "hl_trans.h"
#include "kcore.h"
#include "platform.h"

double hb_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double hb_cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double hb_median(double *v, unsigned n)
{
	double t[64];
	if (n == 0)
		return 0;
	if (n > 64)
		n = 64;
	memcpy(t, v, n * sizeof(*t));
	qsort(t, n, sizeof(*t), cmp_d);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

bool hb_rss_reset(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);
	bool ok;
	if (fd < 0)
		return false;
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok;
}

static long status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

long hb_rss_peak_kib(void) { return status_kib("VmHWM"); }
long hb_rss_now_kib(void) { return status_kib("VmRSS"); }

static void emit(struct hb_ctx *x, const char *line)
{
	fputs(line, stdout);
	fflush(stdout);
	if (x->summary) {
		fputs(line, x->summary);
		fflush(x->summary);
	}
}

void hb_result(struct hb_ctx *x, const char *bench, const char *config, double ops_per_s, double ns_per_op,
	       double ratio, const char *baseline, json_t *extra)
{
	hb_result_t(x, bench, config, ops_per_s, ns_per_op, ratio, baseline, extra, NULL);
}

void hb_result_t(struct hb_ctx *x, const char *bench, const char *config, double ops_per_s, double ns_per_op,
		 double ratio, const char *baseline, json_t *extra, const char *tail)
{
	char line[1400];
	json_t *o = json_object();

	snprintf(line, sizeof(line), "SUMMARY bench=%s config=%s ops_per_s=%.0f ns_per_op=%.2f ratio=%.3f baseline=%s%s%s\n",
		 bench, config && *config ? config : "-", ops_per_s, ns_per_op, ratio, baseline ? baseline : "-",
		 tail ? " " : "", tail ? tail : "");
	emit(x, line);
	json_object_set_new(o, "bench", json_string(bench));
	json_object_set_new(o, "config", json_string(config ? config : ""));
	json_object_set_new(o, "ops_per_s", json_real(ops_per_s));
	json_object_set_new(o, "ns_per_op", json_real(ns_per_op));
	json_object_set_new(o, "ratio", json_real(ratio));
	json_object_set_new(o, "baseline", json_string(baseline ? baseline : ""));
	if (extra) {
		json_object_update(o, extra);
		json_decref(extra);
	}
	json_array_append_new(x->results, o);
}

bool hb_target(struct hb_ctx *x, const char *name, double value, bool le, double limit, const char *fmt, ...)
{
	char detail[512], line[1024];
	bool pass = le ? value <= limit : value >= limit;
	va_list ap;
	json_t *o = json_object();

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "TARGET %s %s value=%.3f %s %.3f %s\n", name, pass ? "PASS" : "MISS", value,
		 le ? "<=" : ">=", limit, detail);
	emit(x, line);
	if (!pass)
		x->nmiss++;
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "pass", json_boolean(pass));
	json_object_set_new(o, "value", json_real(value));
	json_object_set_new(o, "op", json_string(le ? "<=" : ">="));
	json_object_set_new(o, "limit", json_real(limit));
	json_object_set_new(o, "detail", json_string(detail));
	json_array_append_new(x->targets, o);
	return pass;
}

void hb_note(struct hb_ctx *x, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stdout, "  %s\n", buf);
	fflush(stdout);
	json_array_append_new(json_object_get(x->root, "notes"), json_string(buf));
}

FILE *hb_datafile(struct hb_ctx *x, const char *name)
{
	char path[4096];
	if (!x->outdir)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", x->outdir, name);
	return fopen(path, "w");
}

/*
 * Fresh anonymous memory costs ~5.5 us per 4 KiB page on the benchmark VM (first touch;
 * MAP_POPULATE is no cheaper), ten times a bare-metal fault, and would dominate short
 * points. hb_heap_warm() pre-faults one malloc heap once per process and keeps it (no trim,
 * one arena, no malloc mmaps at all), so engine images, log segments and
 * snapshots reuse resident memory, as a hypervisor's reserved memory would be;
 * hb_engine_prefault() does the same for an engine's images and hosted RAM.
 * Points with .cold = true skip both and count first-touch faults.
 */
static bool heap_warm_done;

void hb_heap_warm(size_t bytes)
{
	enum { BLK = 16u << 20 };
	size_t n = bytes / BLK;
	void **v;

	if (heap_warm_done)
		return;
	heap_warm_done = true;
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_MMAP_MAX, 0);   /* big arrays (the checker's graph) also come from the warm heap */
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	mallopt(M_TOP_PAD, 64 << 20);
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		v[i] = malloc(BLK);
		if (v[i])
			for (size_t k = 0; k < BLK; k += 4096)
				((volatile char *)v[i])[k] = 0;
	}
	for (size_t i = n; i-- > 0;)
		free(v[i]);
	free(v);
}

static void prefault(void *p, size_t n)
{
	volatile uint8_t *b = p;
	for (size_t i = 0; i < n; i += 4096)
		b[i] = b[i];
}

void hb_engine_prefault(struct hl_engine *e)
{
	if (e->st->ram)
		prefault(e->st->ram, HL_RAM_SIZE);
	for (unsigned o = 1; o < HL_ID_END; o++)
		prefault(e->st->img[o].base, e->st->img[o].size);
}

struct hl_engine *hb_engine(unsigned ncpus, enum hl_lock_kind kind, bool global, bool logs_off, uint64_t ckpt)
{
	struct hl_engine_cfg cfg;
	hl_engine_cfg_default(&cfg);
	cfg.ncpus = ncpus;
	cfg.lock_kind = kind;
	cfg.global_lock = global;
	cfg.logs_off = logs_off;
	cfg.ckpt_every = ckpt;
	cfg.with_ram = true;
	cfg.lock_order_check = false;
	cfg.s2page_shard_pages = HL_S2P_SHARD_PAGES_SCALE;   /* issue 11: as `hyplog stress` */
	cfg.npt_host_shard_mib = HL_NPTH_SHARD_MIB_SCALE;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);   /* KCore's key 0: the test key */
	return hl_engine_new(&cfg);
}

const char *hb_cfg_str(const struct hb_spt *pt, char *buf, size_t len)
{
	snprintf(buf, len, "mix=%s,cpus=%u,lock=%s,locking=%s,logs=%s,ckpt=%llu", hp_mix_name(pt->mix), pt->cpus,
		 hl_lock_kind_name(pt->lock), pt->global ? "global" : "per-object", pt->logs_off ? "off" : "on",
		 (unsigned long long)pt->ckpt);
	return buf;
}

int hb_stress_point(const struct hb_spt *pt, struct hb_sres *res, struct hl_engine **keep)
{
	struct hl_engine *e;
	struct kcore *k = NULL;
	struct hp_platform *p = NULL;
	struct hp_cfg pc;
	struct hp_stats st;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	hb_rss_reset();
	long rss0 = hb_rss_now_kib();
	e = hb_engine(pt->cpus, pt->lock, pt->global, pt->logs_off, pt->ckpt);
	if (e && pt->profile)
		hb_lockprof_enable(e, true);
	if (e)
		k = kcore_new(e);
	memset(&pc, 0, sizeof(pc));
	pc.ncpus = pt->cpus;
	pc.vms = pt->vms ? pt->vms : (pt->cpus * 2 > HL_MAX_VM ? HL_MAX_VM : pt->cpus * 2);
	pc.ops = pt->ops;
	pc.seed = pt->seed ? pt->seed : 1;
	pc.mix = pt->mix;
	if (k)
		p = hp_new(e, k, &pc);
	if (!p)
		goto out;
	if (hp_setup(p) != 0)
		goto out;
	if (!pt->cold)
		hb_engine_prefault(e);
	struct timespec c0, c1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	double t0 = hb_now();
	rc = hp_run(p);
	res->run_s = hb_now() - t0;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	res->run_cpu_s = (c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9;
	hp_stats(p, -1, &st);
	res->actions = st.actions;
	res->traps = st.traps;
	for (unsigned c = 0; c < pt->cpus; c++)
		res->traps += k->cpu[c].traps[KC_T_VM_EXIT];
	hl_engine_log_stats(e, &res->ls);
	res->nlocks = hb_lockprof_collect(e, res->locks);
	res->peak_rss_kib = hb_rss_peak_kib();
	res->rss_delta_kib = res->peak_rss_kib - rss0;
	res->ok = rc == 0 && !hp_halted_cpus(p);
	if (!res->ok)
		fprintf(stderr, "bench: stress point failed: %s\n", hp_first_error(p) ? hp_first_error(p) : "a CPU halted");
out:
	hp_free(p);
	kcore_free(k);
	if (keep && e && rc == 0)
		*keep = e;
	else
		hl_engine_free(e);
	return rc;
}

void hb_engine_release(struct hl_engine *e)
{
	hl_engine_free(e);
}

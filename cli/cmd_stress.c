/*
 * cmd_stress.c - `hyplog stress`: the trap-level stress. N threads are physical CPUs;
 * an untrusted host model and scripted guests drive everything through the aarch64
 * trap code (hypercalls, stage-2 faults, vCPU runs, VM exits); then the logs are
 * replayed and compared with the live state. `--engine-only` runs the engine-level
 * driver instead (cmd_stress_engine.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "hl_file.h"
#include "hl_report.h"
#include "hl_testkey.h"
#include "kcore.h"
#include "platform.h"
#include "hl_live.h"
#include "hl_check.h"
#include "hl_osrc.h"
#include "hb_lockprof.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyplog stress [OPTIONS]\n"
		"\n"
		"Physical CPUs (threads) run KCore's aarch64 trap code for an untrusted host and\n"
		"scripted guests: hypercalls, host and guest stage-2 faults, SMMU register\n"
		"emulation, vCPU runs, PV calls, power-off. Then the logs are replayed (Cal<Obj>\n"
		"and CalStateH) and compared with the live state.\n"
		"\n"
		"  --cpus N          physical CPUs (1..%u, default 2)\n"
		"  --vms V           VMs booted at start over all CPUs (default 2 per CPU, max %u)\n"
		"  --ops M           host actions in total (default 100000)\n"
		"  --seed S          random seed (default 1)\n"
		"  --mix MIX         boot | faults | smmu | share | all (default all) | hostile: all, and\n"
		"                    the host and guests try every forbidden action class; halts are\n"
		"                    answers: epochs with a fresh engine, each epoch's log checked\n"
		"  --log FILE        write the run's logs to FILE (read with `hyplog replay`)\n"
		"  --json FILE       write the summary as JSON\n"
		"  --lock KIND       ticket (default), mcs or mutex\n"
		"  --global-lock     one lock for every object (baseline)\n"
		"  --logs-off        no records (baseline; no replay)\n"
		"  --ckpt-every N    checkpoint an object every N records (default 16384, 0 = never)\n"
		"  --s2p-shard-pages N  s2page in shards of N pages, each its own lock and log (a\n"
		"                    refinement of SPEC's s2page; default 512, which spreads 16 CPUs'\n"
		"                    faults); 0 = one s2page object (SPEC's layout)\n"
		"  --npt-shard-mib M the host stage-2 table's RAM part in shards of M MiB of IPA, each\n"
		"                    its own lock and log, its RAM tables preallocated; default 4;\n"
		"                    0 = one npt(host) object (SPEC's layout)\n"
		"  --no-replay       skip the replay comparison\n"
		"  --check           run the oracle checks live beside the CPUs (RCU reader) and\n"
		"                    all of them again on the quiesced engine; report the lag\n"
		"  --quiet           no progress bar\n"
		"  --profile         time every lock hold too and print the lock profile (per object:\n"
		"                    acquisitions, contended, wait and hold time), sorted by wait time\n"
		"  --engine-only     the engine-level driver instead (see `hyplog stress --engine-only --help`)\n"
		"  -h, --help        this text\n"
		"\n"
		"exit: 0 ok and replay == live, 1 unexpected behaviour or mismatch, 2 bad usage\n",
		HL_NR_CPUS, HL_MAX_VM);
}

struct run_ctx {
	struct hp_platform *p;
	int rc;
};

/* the run is timed by the CPU threads themselves: first start to last end (issue 11), and
 * each thread's own CPU time (what a trap costs, whatever else shares the cores) */
struct cpu_times {
	double start[HL_NR_CPUS], end[HL_NR_CPUS];
	double cpu_start[HL_NR_CPUS], cpu_end[HL_NR_CPUS];
};

static double thread_cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void on_cpu_time(void *ctx, unsigned cpu, bool start)
{
	struct cpu_times *t = ctx;
	if (cpu < HL_NR_CPUS) {
		(start ? t->start : t->end)[cpu] = cli_now();
		(start ? t->cpu_start : t->cpu_end)[cpu] = thread_cpu_now();
	}
}

/* the CPU threads' CPU time, summed */
static double cpu_times_cpu(const struct cpu_times *t, unsigned ncpus)
{
	double s = 0;
	for (unsigned c = 0; c < ncpus; c++)
		s += t->cpu_end[c] - t->cpu_start[c];
	return s;
}

static double cpu_times_span(const struct cpu_times *t, unsigned ncpus)
{
	double first = 0, last = 0;
	for (unsigned c = 0; c < ncpus; c++) {
		if (c == 0 || t->start[c] < first)
			first = t->start[c];
		if (t->end[c] > last)
			last = t->end[c];
	}
	return last > first ? last - first : 0;
}

static void *runner(void *arg)
{
	struct run_ctx *r = arg;
	r->rc = hp_run(r->p);
	return NULL;
}

int cmd_stress(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cpus", required_argument, NULL, 'c' },
		{ "vms", required_argument, NULL, 'v' },
		{ "ops", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 's' },
		{ "mix", required_argument, NULL, 'm' },
		{ "log", required_argument, NULL, 'l' },
		{ "json", required_argument, NULL, 'j' },
		{ "lock", required_argument, NULL, 'k' },
		{ "global-lock", no_argument, NULL, 'g' },
		{ "logs-off", no_argument, NULL, 'n' },
		{ "ckpt-every", required_argument, NULL, 'p' },
		{ "s2p-shard-pages", required_argument, NULL, 'S' },
		{ "npt-shard-mib", required_argument, NULL, 'N' },
		{ "no-replay", no_argument, NULL, 'R' },
		{ "check", no_argument, NULL, 'C' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "profile", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct cpu_times ctimes;
	bool profile = false;
	unsigned long long ncpus = 2, vms = 0, ops = 100000, seed = 1, ckpt = 16384;
	unsigned mix = HP_MIX_ALL;
	const char *logpath = NULL, *jsonpath = NULL;
	bool quiet = false, no_replay = false, vms_set = false, check = false;
	struct hl_live *live = NULL;
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	struct kcore *k;
	struct hp_platform *p;
	struct hp_cfg pc;
	int opt, rc = HL_EXIT_OK;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--engine-only")) {
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
			return cmd_stress_engine(argc - 1, argv);
		}
	hl_engine_cfg_default(&cfg);
	cfg.s2page_shard_pages = HL_S2P_SHARD_PAGES_SCALE;   /* issue 11: faults of many CPUs spread */
	cfg.npt_host_shard_mib = HL_NPTH_SHARD_MIB_SCALE;    /* and their host-table entries */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (cli_parse_u64("--cpus", optarg, 1, HL_NR_CPUS, &ncpus))
				return HL_EXIT_USAGE;
			break;
		case 'v':
			if (cli_parse_u64("--vms", optarg, 0, HL_MAX_VM, &vms))
				return HL_EXIT_USAGE;
			vms_set = true;
			break;
		case 'o':
			if (cli_parse_u64("--ops", optarg, 0, 1ull << 40, &ops))
				return HL_EXIT_USAGE;
			break;
		case 's':
			if (cli_parse_u64("--seed", optarg, 0, UINT64_MAX, &seed))
				return HL_EXIT_USAGE;
			break;
		case 'm':
			if (hp_mix_parse(optarg, &mix)) {
				fprintf(stderr, "hyplog stress: --mix: '%s' is not boot, faults, smmu, share, all or hostile\n", optarg);
				return HL_EXIT_USAGE;
			}
			break;
		case 'l':
			logpath = optarg;
			break;
		case 'j':
			jsonpath = optarg;
			break;
		case 'k':
		case 'g':
		case 'n':
		case 'p':
		case 'S':
		case 'N':
			if (cli_engine_option(opt, optarg, &cfg, &ckpt) < 0)
				return HL_EXIT_USAGE;
			break;
		case 'R':
			no_replay = true;
			break;
		case 'C':
			check = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'P':
			profile = true;
			break;
		case 'h':
			usage(stdout);
			return HL_EXIT_OK;
		default:
			usage(stderr);
			return HL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "hyplog stress: unexpected argument '%s'\n", argv[optind]);
		return HL_EXIT_USAGE;
	}
	if (cfg.logs_off && (logpath || check)) {
		fprintf(stderr, "hyplog stress: --log and --check need logs; drop --logs-off\n");
		return HL_EXIT_USAGE;
	}
	if ((HL_RAM_PAGES / ncpus) < 5 * 512) {
		fprintf(stderr, "hyplog stress: %llu cpus need 10 MiB of RAM each (%llu MiB), this build has %u MiB: "
			"use at most %llu cpus, or rebuild with meson option -Dram_mib=%llu or more\n", ncpus,
			ncpus * 10, (unsigned)HL_CFG_RAM_MIB, (unsigned long long)(HL_RAM_PAGES / (5 * 512)), ncpus * 10);
		return HL_EXIT_USAGE;
	}
	if (!vms_set)
		vms = ncpus * 2 > HL_MAX_VM ? HL_MAX_VM : ncpus * 2;
	if (vms > ncpus * 3) {
		fprintf(stderr, "hyplog stress: --vms %llu: at most 3 VMs per CPU at once\n", vms);
		return HL_EXIT_USAGE;
	}
	if (mix & HP_MIX_HOSTILE) {   /* forbidden actions, halts, epochs (cmd_stress_hostile.c) */
		/* (--check is implied: every epoch's log is checked) */
		if (logpath || jsonpath || profile || no_replay || cfg.logs_off || cfg.global_lock) {
			fprintf(stderr, "hyplog stress: --mix hostile checks and replays every epoch itself: "
				"it takes --cpus --vms --ops --seed --check --quiet only\n");
			return HL_EXIT_USAGE;
		}
		return cmd_stress_hostile((unsigned)ncpus, (unsigned)vms, ops, seed, quiet, &cfg);
	}
	cfg.ncpus = (unsigned)ncpus;
	cfg.ckpt_every = ckpt;
	cfg.log_reserve_bytes = (size_t)64 << 20;   /* the log pool, populated before the CPUs start */
	cfg.with_ram = true;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);   /* KCore's key 0: the test key (hp_new) */
	e = hl_engine_new(&cfg);
	k = e ? kcore_new(e) : NULL;
	memset(&pc, 0, sizeof(pc));
	pc.ncpus = (unsigned)ncpus;
	pc.vms = (unsigned)vms;
	pc.ops = ops;
	pc.seed = seed;
	pc.mix = mix;
	pc.on_cpu = on_cpu_time;
	pc.hook_ctx = &ctimes;
	if (e && profile)
		hb_lockprof_enable(e, true);
	p = k ? hp_new(e, k, &pc) : NULL;
	if (!p) {
		fprintf(stderr, "hyplog stress: cannot create the platform (out of memory?)\n");
		kcore_free(k);
		hl_engine_free(e);
		return HL_EXIT_MISMATCH;
	}
	double t0 = cli_now();
	/* the live checker starts before the first step: it sees every record (hl_live.h) */
	if (check && !(live = hl_live_start(e, 1000))) {
		fprintf(stderr, "hyplog stress: cannot start the live checker\n");
		rc = HL_EXIT_MISMATCH;
		goto out;
	}
	if (hp_setup(p) != 0) {
		fprintf(stderr, "hyplog stress: boot of the first VMs failed: %s\n",
			hp_first_error(p) ? hp_first_error(p) : "a CPU halted");
		rc = HL_EXIT_MISMATCH;
		if (live) {
			struct hl_live_report lr;
			hl_live_stop(live, &lr);
		}
		goto out;
	}
	double t1 = cli_now();
	if (!quiet)
		fprintf(stderr, "stress: %llu cpus, %llu VMs, %llu host actions, mix %s, seed %llu, %s locks%s%s, "
			"s2page: %u shard(s) of %llu pages\n",
			ncpus, vms, ops, hp_mix_name(mix), seed, hl_lock_kind_name(cfg.lock_kind),
			cfg.global_lock ? " (one global lock)" : "", cfg.logs_off ? ", logs off" : "",
			hl_refine_sharded(&e->ref, HL_S2PAGE_ID) ? (unsigned)(e->ref.parent[HL_S2PAGE_ID].n / 2) : 1,
			(unsigned long long)(e->cfg.s2page_shard_pages ? e->cfg.s2page_shard_pages : HL_RAM_PAGES));
	struct run_ctx rctx = { p, 0 };
	pthread_t th;
	pthread_create(&th, NULL, runner, &rctx);
	struct cli_progress prog = { .quiet = quiet, .t0 = t1 };
	for (;;) {
		uint64_t done = hp_progress(p);
		cli_progress(&prog, done, ops, "actions");
		if (done >= ops)
			break;
		usleep(50000);
	}
	pthread_join(th, NULL);
	/* the CPU threads' own first start to last end (not the 50 ms poll above) */
	double run_s = cpu_times_span(&ctimes, (unsigned)ncpus);
	double cpu_s = cpu_times_cpu(&ctimes, (unsigned)ncpus);
	struct hl_live_report lrep;
	memset(&lrep, 0, sizeof(lrep));
	if (live)
		hl_live_stop(live, &lrep);
	cli_progress_end(&prog);

	struct hp_stats st;
	struct hl_log_stats ls;
	hp_stats(p, -1, &st);
	hl_engine_log_stats(e, &ls);
	uint64_t traps_by_kind[KC_T__COUNT] = { 0 }, mmio_rej = 0;
	for (unsigned c = 0; c < ncpus; c++) {
		for (unsigned t = 0; t < KC_T__COUNT; t++)
			traps_by_kind[t] += k->cpu[c].traps[t];
		mmio_rej += k->cpu[c].mmio_rejected;
	}
	/* every trap into KCore: the host's plus the VM exits taken inside vCPU runs */
	st.traps += traps_by_kind[KC_T_VM_EXIT];
	printf("stress: %llu host actions, %llu traps (%llu from the host, %llu VM exits) in %.3f s = %.0f traps/s "
	       "(setup %.2f s)\n",
	       (unsigned long long)st.actions, (unsigned long long)st.traps,
	       (unsigned long long)(st.traps - traps_by_kind[KC_T_VM_EXIT]), (unsigned long long)traps_by_kind[KC_T_VM_EXIT],
	       run_s, run_s > 0 ? st.traps / run_s : 0.0, t1 - t0);
	uint64_t tlb_hits = 0, tlb_walks = 0, tlb_invals = 0;
	for (unsigned c = 0; c < ncpus; c++) {
		uint64_t h, w, i;
		hp_tlb_stats(p, c, &h, &w, &i);
		tlb_hits += h;
		tlb_walks += w;
		tlb_invals += i;
	}
	printf("  CPU threads' CPU time %.3f s = %.0f ns/trap; host TLB model: %llu hits, %llu walks, %llu "
	       "invalidations received (%.3f per trap: each host unmap visits every CPU's TLB)\n",
	       cpu_s, st.traps ? cpu_s * 1e9 / st.traps : 0.0, (unsigned long long)tlb_hits,
	       (unsigned long long)tlb_walks, (unsigned long long)tlb_invals,
	       st.traps ? (double)tlb_invals / st.traps : 0.0);
	printf("  VMs booted %llu, powered off %llu; guest/host checks %llu; DMA maps %llu; MMIO writes refused %llu\n",
	       (unsigned long long)st.vm_boots, (unsigned long long)st.vm_poweroffs,
	       (unsigned long long)st.guest_checks, (unsigned long long)st.dma_maps, (unsigned long long)mmio_rej);
	printf("  %-10s %10s %9s %9s %9s %9s\n", "trap", "count", "p50 ns", "p99 ns", "p99.9 ns", "max ns");
	for (unsigned t = 0; t < KC_T__COUNT; t++) {
		const struct hp_lat *l = &st.lat[t];
		if (!traps_by_kind[t] && !l->n)
			continue;
		if (l->n)
			printf("  %-10s %10llu %9llu %9llu %9llu %9llu\n", kc_trap_kind_name(t),
			       (unsigned long long)traps_by_kind[t], (unsigned long long)hp_lat_percentile(l, 50),
			       (unsigned long long)hp_lat_percentile(l, 99), (unsigned long long)hp_lat_percentile(l, 99.9),
			       (unsigned long long)l->max_ns);
		else
			printf("  %-10s %10llu %9s %9s %9s %9s\n", kc_trap_kind_name(t),
			       (unsigned long long)traps_by_kind[t], "-", "-", "-", "-");
	}
	printf("logs: %llu records, %llu bytes (%.1f B/trap), %llu checkpoints, peak RSS %.1f MiB\n",
	       (unsigned long long)ls.records, (unsigned long long)ls.bytes, st.traps ? (double)ls.bytes / st.traps : 0.0,
	       (unsigned long long)ls.checkpoints, cli_peak_rss_kib() / 1024.0);
	struct hb_lockrow lrows[HB_LOCKROWS_MAX];
	unsigned nlrows = hb_lockprof_collect(e, lrows);
	if (profile)
		hb_lockprof_print(stdout, lrows, nlrows, run_s, (unsigned)ncpus);
	if (hp_first_error(p)) {
		printf("stress FAILED: %llu unexpected behaviours; first: %s\n", (unsigned long long)st.errors,
		       hp_first_error(p));
		rc = HL_EXIT_MISMATCH;
	}
	if (hp_halted_cpus(p)) {
		printf("stress FAILED: %u CPUs halted\n", hp_halted_cpus(p));
		rc = HL_EXIT_MISMATCH;
	}

	const char *verdict = "skipped";
	if (check) {
		struct hl_verdict v;
		struct hl_check_stats cs;
		double tc = cli_now();
		int cr;
		printf("live check: %llu records checked beside the CPUs in %llu passes; lag avg %.0f, max %llu records "
		       "(<= %.1f ms); %llu resyncs after checkpoints (%llu records skipped)%s%s\n",
		       (unsigned long long)lrep.records, (unsigned long long)lrep.passes, lrep.avg_lag_records,
		       (unsigned long long)lrep.max_lag_records, lrep.max_lag_ms, (unsigned long long)lrep.resyncs,
		       (unsigned long long)lrep.skipped, lrep.violation ? ": VIOLATION: " : ": ok",
		       lrep.violation ? lrep.what : "");
		if (lrep.windows)
			printf("live windows: %llu full checks of %llu steps on the paused engine, each before the "
			       "checkpoint that cuts them (CPUs waited %.0f ms in all)\n",
			       (unsigned long long)lrep.windows, (unsigned long long)lrep.window_ops, lrep.window_ms);
		memset(&v, 0, sizeof(v));
		cr = hl_check_engine(e, 0, &v, &cs);   /* the oracle reads the serialized logs */
		printf("final check: %s in %.3f s\n", cr == 0 ? "all relations hold" : hl_rel_name(v.rel), cli_now() - tc);
		if (cr != 0)
			printf("  %s violated: %s (expected %s, actual %s)\n", hl_rel_name(v.rel), v.what, v.expected, v.actual);
		verdict = lrep.violation || cr != 0 ? "fail" : "pass";
		if (lrep.violation || cr != 0)
			rc = HL_EXIT_MISMATCH;
	}
	const char *replay = "skipped";
	struct hl_report rep;
	memset(&rep, 0, sizeof(rep));
	if (!cfg.logs_off && !no_replay) {
		if (hl_report_replay(e, NULL, false, stdout, &rep)) {
			printf("replay MISMATCH: %s\n", rep.why);
			replay = "mismatch";
			rc = HL_EXIT_MISMATCH;
		} else {
			printf("replay: Cal<Obj> %.3f s, CalStateH %.3f s (%llu ops: %llu re-executed, %llu by delta)\n",
			       rep.cal_sec, rep.calh_sec, (unsigned long long)rep.calh.ops,
			       (unsigned long long)rep.calh.reexecuted, (unsigned long long)rep.calh.delta_applied);
			printf("replay == live\n");
			replay = "ok";
		}
	}
	if (logpath) {
		struct hl_file_err fe = { 0 };
		if (hl_file_write(e, logpath, &fe)) {
			fprintf(stderr, "hyplog stress: cannot write %s: %s\n", logpath, fe.msg);
			rc = HL_EXIT_MISMATCH;
		} else {
			printf("log written to %s\n", logpath);
		}
	}
	if (jsonpath) {
		json_t *j = json_object(), *kinds = json_object();
		json_object_set_new(j, "cpus", json_integer((json_int_t)ncpus));
		json_object_set_new(j, "vms", json_integer((json_int_t)vms));
		json_object_set_new(j, "mix", json_string(hp_mix_name(mix)));
		json_object_set_new(j, "seed", json_integer((json_int_t)seed));
		json_object_set_new(j, "lock", json_string(hl_lock_kind_name(cfg.lock_kind)));
		json_object_set_new(j, "global_lock", json_boolean(cfg.global_lock));
		json_object_set_new(j, "s2page_shard_pages", json_integer((json_int_t)e->cfg.s2page_shard_pages));
		json_object_set_new(j, "logs", json_boolean(!cfg.logs_off));
		json_object_set_new(j, "actions", json_integer((json_int_t)st.actions));
		json_object_set_new(j, "traps", json_integer((json_int_t)st.traps));
		json_object_set_new(j, "seconds", json_real(run_s));
		json_object_set_new(j, "cpu_seconds", json_real(cpu_s));
		json_object_set_new(j, "tlb_invalidations", json_integer((json_int_t)tlb_invals));
		json_object_set_new(j, "traps_per_s", json_real(run_s > 0 ? st.traps / run_s : 0));
		json_object_set_new(j, "records", json_integer((json_int_t)ls.records));
		json_object_set_new(j, "log_bytes", json_integer((json_int_t)ls.bytes));
		json_object_set_new(j, "peak_rss_kib", json_integer(cli_peak_rss_kib()));
		json_object_set_new(j, "vm_boots", json_integer((json_int_t)st.vm_boots));
		json_object_set_new(j, "errors", json_integer((json_int_t)st.errors));
		json_object_set_new(j, "halted_cpus", json_integer(hp_halted_cpus(p)));
		json_object_set_new(j, "replay", json_string(replay));
		json_object_set_new(j, "check", json_string(verdict));
		if (check) {
			json_object_set_new(j, "live_check_records", json_integer((json_int_t)lrep.records));
			json_object_set_new(j, "live_check_max_lag_records", json_integer((json_int_t)lrep.max_lag_records));
			json_object_set_new(j, "live_check_max_lag_ms", json_real(lrep.max_lag_ms));
		}
		for (unsigned t = 0; t < KC_T__COUNT; t++) {
			json_t *o = json_object();
			json_object_set_new(o, "count", json_integer((json_int_t)traps_by_kind[t]));
			if (st.lat[t].n) {
				json_object_set_new(o, "p50_ns", json_integer((json_int_t)hp_lat_percentile(&st.lat[t], 50)));
				json_object_set_new(o, "p99_ns", json_integer((json_int_t)hp_lat_percentile(&st.lat[t], 99)));
				json_object_set_new(o, "p999_ns", json_integer((json_int_t)hp_lat_percentile(&st.lat[t], 99.9)));
				json_object_set_new(o, "max_ns", json_integer((json_int_t)st.lat[t].max_ns));
			}
			json_object_set_new(kinds, kc_trap_kind_name(t), o);
		}
		json_object_set_new(j, "trap_kinds", kinds);
		json_object_set_new(j, "locks", hb_lockprof_json(lrows, nlrows, run_s, (unsigned)ncpus));
		if (json_dump_file(j, jsonpath, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
			fprintf(stderr, "hyplog stress: cannot write %s\n", jsonpath);
			rc = HL_EXIT_MISMATCH;
		}
		json_decref(j);
	}
	printf("SUMMARY stress-trap cpus=%llu mix=%s lock=%s global=%d logs=%s traps=%llu traps_per_s=%.0f "
	       "ns_per_trap=%.1f cpu_ns_per_trap=%.1f records=%llu log_bytes=%llu replay=%s check=%s result=%s\n",
	       ncpus, hp_mix_name(mix), hl_lock_kind_name(cfg.lock_kind), cfg.global_lock, cfg.logs_off ? "off" : "on",
	       (unsigned long long)st.traps, run_s > 0 ? st.traps / run_s : 0.0, st.traps ? run_s * 1e9 / st.traps : 0.0,
	       st.traps ? cpu_s * 1e9 / st.traps : 0.0, (unsigned long long)ls.records, (unsigned long long)ls.bytes, replay, verdict, rc ? "fail" : "ok");
out:
	hp_free(p);
	kcore_free(k);
	hl_engine_free(e);
	return rc;
}

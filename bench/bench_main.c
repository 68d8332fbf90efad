/* bench_main.c - hlbench_main: option parsing, result directory, JSON and charts. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli/cli.h"   /* cli_parse_u64, cli_parse_seconds */

static const struct {
	const char *name;
	int (*fn)(struct hb_ctx *);
	const char *what;
} suites[] = {
	{ "uncontended", hb_uncontended, "a: ns/op per transition vs a bare ck ticket lock+unlock pair" },
	{ "stress", hb_stress, "b+e: trap-level throughput (1/2/4 CPUs x workloads x logs/locks/global), memory" },
	{ "disjoint", hb_disjoint, "b: engine-level disjoint VMs, per-object locks vs one global lock" },
	{ "replay", hb_replay, "c+d+e: replay rates, CalStateH, check-time scaling, segment reuse" },
	{ "fairness", hb_fairness, "f: per-thread acquisition spread for each lock kind" },
	{ "scale", hb_scale, "traps/s vs CPUs (--cpus list), logs on/off, lock profile per point, chart" },
	{ "preempt", hb_preempt, "preempted holder: 2 CPUs on 2 cores alone vs beside a busy process" },
	{ "lines", hb_lines, "shared cache lines, 2 pinned threads: per-CPU slots, lock counters, neighbours" },
};
#define NSUITES (sizeof(suites) / sizeof(suites[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyplog bench [OPTIONS] [SUITE...]\n"
		"\n"
		"Benchmarks with same-run baselines; one SUMMARY line per result, TARGET lines with\n"
		"PASS/MISS, a JSON file of everything and gnuplot charts. Build with\n"
		"-Dbuildtype=release -Db_ndebug=true for meaningful numbers (scripts/bench does).\n"
		"\n"
		"suites (default: all):\n");
	for (unsigned i = 0; i < NSUITES; i++)
		fprintf(f, "  %-12s %s\n", suites[i].name, suites[i].what);
	fprintf(f,
		"\n"
		"  --out DIR        write results.json, summary.txt, *.dat, charts into DIR\n"
		"  --json FILE      write the JSON document to FILE (default DIR/results.json)\n"
		"  --quick          small points (CI smoke run, ~1 minute)\n"
		"  --reps N         repeats per point, median reported (default 3)\n"
		"  --point-sec S    target seconds per stress point (default 0.25)\n"
		"  --max-cpus N     largest CPU count in the stress matrix (default 4)\n"
		"  --cpus LIST      CPU counts of the scale suite, e.g. 1,2,4,8,16,32 (default 1, 2, 4, ...\n"
		"                   up to twice the online cores); at most the build's -Dnr_cpus\n"
		"  --no-charts      do not run gnuplot\n"
		"  --strict         exit 1 when a target is missed\n"
		"  --cold           no pre-faulted heap/RAM: count first-touch page faults everywhere\n"
		"  -h, --help       this text\n"
		"\n"
		"exit: 0 ok (targets print PASS/MISS), 1 a benchmark failed (or a target missed with\n"
		"--strict), 2 bad usage\n");
}

static void write_charts(struct hb_ctx *x)
{
	char path[4096], cmd[4200];
	FILE *gp;

	snprintf(path, sizeof(path), "%s/charts.gp", x->outdir);
	gp = fopen(path, "w");
	if (!gp)
		return;
	fprintf(gp,
		"# hyplog bench charts: run `gnuplot charts.gp` in this directory\n"
		"set datafile separator whitespace\n"
		"set key outside right top\n"
		"set grid\n"
		"do for [fmt in \"png svg\"] {\n"
		"  if (fmt eq \"png\") { set terminal pngcairo size 1000,600 noenhanced } else { set terminal svg size 1000,600 noenhanced }\n"
		"  set output sprintf('throughput_vs_cpus.%%s', fmt)\n"
		"  set title 'Trap-level throughput vs CPUs (2 cores: 4 CPUs oversubscribe)'\n"
		"  set xlabel 'CPUs'; set ylabel 'traps/s (median of reps)'; set logscale y; set xtics (1,2,4)\n"
		"  plot for [c=2:10] 'throughput.dat' using 1:c with linespoints title columnheader(c)\n"
		"  unset logscale y; set xtics autofreq\n"
		"  set output sprintf('overhead_ratios.%%s', fmt)\n"
		"  set title 'Overhead ratios, 2 CPUs (time/op vs per-object ticket locks, logs on)'\n"
		"  set style data histograms; set style histogram clustered gap 1; set style fill solid 0.8 border -1\n"
		"  set xlabel ''; set ylabel 'time per trap / baseline'; set xtics rotate by -30\n"
		"  plot 'ratios.dat' using 2:xtic(1) title 'logs on / logs off', '' using 3 title 'mcs / ticket', "
		"'' using 4 title 'mutex / ticket', '' using 5 title 'global lock / per-object'\n"
		"  set xtics norotate; set style data linespoints\n"
		"  set output sprintf('uncontended.%%s', fmt)\n"
		"  set title 'Uncontended transitions, 1 CPU (ns/op)'; set ylabel 'ns/op'; set xtics rotate by -30\n"
		"  set style data histograms; set style histogram clustered gap 1\n"
		"  plot 'uncontended.dat' using 2:xtic(1) title 'logs on', '' using 3 title 'logs off', "
		"'' using 5 title 'ck ticket lock+unlock'\n"
		"  set xtics norotate; set style data linespoints\n"
		"  set output sprintf('replay_vs_log.%%s', fmt)\n"
		"  set title 'Replay vs log length'; set xlabel 'records in the log'; set ylabel 'M records/s'\n"
		"  set y2label 'seconds'; set y2tics; set ytics nomirror; set logscale x\n"
		"  plot 'replay.dat' using 1:2 with linespoints title 'Cal<Obj> delta replay (M rec/s)', "
		"'' using 1:3 with linespoints title 'CalStateH (M rec/s)', "
		"'' using 1:5 axes x1y2 with linespoints title 'check time (s, right axis)'\n"
		"  unset logscale x; unset y2tics; unset y2label; set ytics mirror\n"
		"  set output sprintf('fairness.%%s', fmt)\n"
		"  set title 'Fairness: per-thread acquisitions (min/mean/max)'; set xlabel ''; set ylabel 'acquisitions/thread'\n"
		"  set xtics rotate by -30; set style data histograms; set style histogram clustered gap 1\n"
		"  plot 'fairness.dat' using 2:xtic(1) title 'min', '' using 3 title 'mean', '' using 4 title 'max'\n"
		"  set xtics norotate; set style data linespoints\n"
		"}\n");
	fclose(gp);
	if (!x->charts)
		return;
	if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
		hb_note(x, "gnuplot not found: charts.gp written, charts not drawn");
		return;
	}
	snprintf(cmd, sizeof(cmd), "cd '%s' && gnuplot charts.gp 2>gnuplot.log", x->outdir);
	if (system(cmd) != 0)
		hb_note(x, "gnuplot failed; see %s/gnuplot.log", x->outdir);
}

int hlbench_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "json", required_argument, NULL, 'j' },
		{ "quick", no_argument, NULL, 'q' },
		{ "reps", required_argument, NULL, 'r' },
		{ "point-sec", required_argument, NULL, 'p' },
		{ "max-cpus", required_argument, NULL, 'c' },
		{ "no-charts", no_argument, NULL, 'n' },
		{ "strict", no_argument, NULL, 's' },
		{ "cold", no_argument, NULL, 'C' },
		{ "cpus", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hb_ctx x;
	const char *jsonpath = NULL;
	bool want[NSUITES] = { false }, any = false;
	int opt, rc = 0;
	unsigned long long v;
	bool strict = false;

	memset(&x, 0, sizeof(x));
	x.reps = 3;
	x.point_sec = 0.25;
	x.max_cpus = 4;
	x.charts = true;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'o': x.outdir = optarg; break;
		case 'j': jsonpath = optarg; break;
		case 'q': x.quick = true; break;
		case 'r':   /* the strict parsers of the CLI (cli/cli_util.c) */
			if (cli_parse_u64("--reps", optarg, 1, 15, &v))
				return 2;
			x.reps = (unsigned)v;
			break;
		case 'p':
			if (cli_parse_seconds("--point-sec", optarg, 0.001, 60, &x.point_sec))
				return 2;
			break;
		case 'c':
			if (cli_parse_u64("--max-cpus", optarg, 1, HL_NR_CPUS, &v))
				return 2;
			x.max_cpus = (unsigned)v;
			break;
		case 'n': x.charts = false; break;
		case 's': strict = true; break;
		case 'C': x.cold = true; break;
		case 'L': {
			char *p = optarg, *end;
			x.ncpu_list = 0;
			while (*p) {
				unsigned long cv = strtoul(p, &end, 10);
				if (end == p || cv < 1 || cv > HL_NR_CPUS || x.ncpu_list == HB_MAX_CPU_LIST ||
				    (*end && *end != ',')) {
					fprintf(stderr, "hyplog bench: --cpus: '%s' is not a list of CPU counts 1..%u "
						"(at most %u; the build's maximum is meson option -Dnr_cpus)\n",
						optarg, HL_NR_CPUS, HB_MAX_CPU_LIST);
					return 2;
				}
				x.cpu_list[x.ncpu_list++] = (unsigned)cv;
				p = *end ? end + 1 : end;
			}
			if (!x.ncpu_list) {
				fprintf(stderr, "hyplog bench: --cpus: empty list\n");
				return 2;
			}
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (x.reps < 1 || x.reps > 15 || x.point_sec <= 0 || x.max_cpus < 1 || x.max_cpus > HL_NR_CPUS) {
		fprintf(stderr, "hyplog bench: --reps 1..15, --point-sec > 0, --max-cpus 1..%u\n", HL_NR_CPUS);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		bool found = false;
		for (unsigned s = 0; s < NSUITES; s++)
			if (!strcmp(argv[i], suites[s].name) || !strcmp(argv[i], "all")) {
				want[s] = true;
				found = true;
			}
		if (!found) {
			fprintf(stderr, "hyplog bench: unknown suite '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
		any = true;
	}
	if (!any)
		for (unsigned s = 0; s < NSUITES; s++)
			want[s] = true;
	if (x.quick && x.point_sec == 0.25)
		x.point_sec = 0.08;
	if (x.outdir && mkdir(x.outdir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "hyplog bench: cannot create %s: %s\n", x.outdir, strerror(errno));
		return 2;
	}
	x.root = json_object();
	x.results = json_array();
	x.targets = json_array();
	json_object_set_new(x.root, "notes", json_array());
	{
		struct utsname u;
		char host[256] = "";
		time_t now = time(NULL);
		char ts[64];
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S%z", localtime(&now));
		uname(&u);
		gethostname(host, sizeof(host) - 1);
		json_t *m = json_object();
		json_object_set_new(m, "date", json_string(ts));
		json_object_set_new(m, "host", json_string(host));
		json_object_set_new(m, "kernel", json_string(u.release));
		json_object_set_new(m, "machine", json_string(u.machine));
		json_object_set_new(m, "online_cpus", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
		json_object_set_new(m, "reps", json_integer(x.reps));
		json_object_set_new(m, "point_sec", json_real(x.point_sec));
		json_object_set_new(m, "quick", json_boolean(x.quick));
#ifdef NDEBUG
		json_object_set_new(m, "ndebug", json_true());
#else
		json_object_set_new(m, "ndebug", json_false());
		fprintf(stderr, "hyplog bench: warning: assertions are on (not a release build); numbers are pessimistic\n");
#endif
		json_object_set_new(x.root, "meta", m);
	}
	if (x.outdir) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/summary.txt", x.outdir);
		x.summary = fopen(path, "w");
	}
	if (!x.cold) {
		double tw = hb_now();
		hb_heap_warm(x.quick ? (256u << 20) : (1024u << 20));
		hb_note(&x, "pre-faulted a %u MiB malloc heap in %.2f s (first-touch page faults cost ~5 us/page here)",
			x.quick ? 256u : 1024u, hb_now() - tw);
	}
	for (unsigned s = 0; s < NSUITES; s++) {
		if (!want[s])
			continue;
		double t0 = hb_now(), la0[3] = { 0 }, la1[3] = { 0 };
		getloadavg(la0, 3);
		int r = suites[s].fn(&x);
		getloadavg(la1, 3);
		printf("-- %s: %.1f s%s (load average %.2f -> %.2f)\n", suites[s].name, hb_now() - t0,
		       r ? " (FAILED)" : "", la0[0], la1[0]);
		fflush(stdout);
		{
			json_t *o = json_object();
			json_object_set_new(o, "seconds", json_real(hb_now() - t0));
			json_object_set_new(o, "loadavg_start", json_real(la0[0]));
			json_object_set_new(o, "loadavg_end", json_real(la1[0]));
			json_object_set_new(o, "failed", json_boolean(r != 0));
			if (!json_object_get(x.root, "suites"))
				json_object_set_new(x.root, "suites", json_object());
			json_object_set_new(json_object_get(x.root, "suites"), suites[s].name, o);
		}
		if (r)
			rc = 1;
	}
	json_object_set_new(x.root, "results", x.results);
	json_object_set_new(x.root, "targets", x.targets);
	if (x.outdir)
		write_charts(&x);
	char jp[4096];
	if (!jsonpath && x.outdir) {
		snprintf(jp, sizeof(jp), "%s/results.json", x.outdir);
		jsonpath = jp;
	}
	if (jsonpath && json_dump_file(x.root, jsonpath, JSON_INDENT(2)) != 0) {
		fprintf(stderr, "hyplog bench: cannot write %s\n", jsonpath);
		rc = 1;
	}
	printf("bench: %u target(s) missed%s%s\n", x.nmiss, jsonpath ? "; JSON: " : "", jsonpath ? jsonpath : "");
	if (x.summary)
		fclose(x.summary);
	json_decref(x.root);
	if (x.nmiss && strict)
		rc = 1;
	return rc;
}

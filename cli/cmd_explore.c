/*
 * cmd_explore.c - `hyplog explore`: K logical CPUs run the trap-level workload under the
 * deterministic scheduler; every run is checked by the oracles; a failing run prints a
 * one-line reproducer that `hyplog explore --replay LINE` runs again exactly.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hl_explore.h"
#include "platform.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyplog explore [OPTIONS]\n"
		"       hyplog explore --replay LINE\n"
		"\n"
		"K logical CPUs run the trap-level workload, one at a time: every lock acquisition\n"
		"and every trap entry is a scheduling point the scheduler decides. Every run is\n"
		"checked (no deadlock, no unexpected result, every oracle relation, replay == live).\n"
		"A failing run prints a one-line reproducer.\n"
		"\n"
		"  --strategy S       random (default), pct or exhaustive\n"
		"  --cpus K           logical CPUs (1..%u, default 2)\n"
		"  --ops M            host actions per run, over all CPUs (default 40)\n"
		"  --runs R           runs to try (default 50; exhaustive: until the tree is done or R)\n"
		"  --seed S           seed (default 1)\n"
		"  --depth D          pct bug depth (default 3)\n"
		"  --mix MIX          boot | faults | smmu | share | all (default all) | hostile (all,\n"
		"                     and every forbidden action class; halts are answers, judged\n"
		"                     by the oracles)\n"
		"  --ckpt-every N     checkpoint every N records (default 0 = never)\n"
		"  --max-decisions N  exhaustive: branch only in the first N decisions (default 12)\n"
		"  --fault NAME[:N]   inject a fault every N-th event (fault-injection builds only):\n"
		"                     skip-lock lock-order append-late drop-record wrong-delta\n"
		"                     halt-release reorder, and the mutation suite's engine bugs\n"
		"                     (engine/hl_fault.h, tests/test_mutation.c)\n"
		"  --replay LINE      run one reproducer line again\n"
		"  -h, --help         this text\n"
		"\n"
		"exit: 0 every run passed, 1 a run failed (reproducer printed), 2 bad usage\n",
		HL_SCHED_MAX_CPUS);
}

static int opt_u64(const char *name, const char *arg, unsigned long long min, unsigned long long max,
		   unsigned long long *out)
{
	return cli_parse_u64(name, arg, min, max, out);
}

int cmd_explore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "strategy", required_argument, NULL, 'S' }, { "cpus", required_argument, NULL, 'c' },
		{ "ops", required_argument, NULL, 'o' },      { "runs", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },     { "depth", required_argument, NULL, 'd' },
		{ "mix", required_argument, NULL, 'm' },      { "ckpt-every", required_argument, NULL, 'p' },
		{ "max-decisions", required_argument, NULL, 'D' }, { "fault", required_argument, NULL, 'F' },
		{ "replay", required_argument, NULL, 'R' },   { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hl_explore_cfg x;
	struct hl_explore_result res;
	unsigned long long v, runs = 50;
	const char *replay = NULL;
	char line[1024];
	int opt, nopts = 0;

	hl_explore_cfg_default(&x);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		nopts += opt != 'R' && opt != 'h';
		switch (opt) {
		case 'S':
			if (hl_strategy_parse(optarg, &x.strat)) {
				fprintf(stderr, "hyplog explore: --strategy: '%s' is not random, pct or exhaustive\n", optarg);
				return HL_EXIT_USAGE;
			}
			break;
		case 'c':
			if (opt_u64("--cpus", optarg, 1, HL_SCHED_MAX_CPUS, &v))
				return HL_EXIT_USAGE;
			x.cpus = (unsigned)v;
			break;
		case 'o':
			if (opt_u64("--ops", optarg, 1, 1u << 24, &v))
				return HL_EXIT_USAGE;
			x.ops = v;
			break;
		case 'r':
			if (opt_u64("--runs", optarg, 1, 1u << 30, &runs))
				return HL_EXIT_USAGE;
			break;
		case 's':
			if (opt_u64("--seed", optarg, 0, UINT64_MAX, &v))
				return HL_EXIT_USAGE;
			x.seed = v;
			break;
		case 'd':
			if (opt_u64("--depth", optarg, 1, 16, &v))
				return HL_EXIT_USAGE;
			x.depth = (unsigned)v;
			break;
		case 'm':
			if (hp_mix_parse(optarg, &x.mix)) {
				fprintf(stderr, "hyplog explore: --mix: '%s' is not boot, faults, smmu, share, all or hostile\n", optarg);
				return HL_EXIT_USAGE;
			}
			break;
		case 'p':
			if (opt_u64("--ckpt-every", optarg, 0, 1ull << 40, &v))
				return HL_EXIT_USAGE;
			x.ckpt = v;
			break;
		case 'D':
			if (opt_u64("--max-decisions", optarg, 0, 1u << 20, &v))
				return HL_EXIT_USAGE;
			x.max_dec = (size_t)v;
			break;
		case 'F': {
			char name[32];
			const char *colon = strchr(optarg, ':');
			size_t n = colon ? (size_t)(colon - optarg) : strlen(optarg);
			if (!hl_explore_faults_available()) {
				fprintf(stderr, "hyplog explore: --fault needs a build with -Dfault_injection=true\n");
				return HL_EXIT_USAGE;
			}
			snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), optarg);
			if (n >= sizeof(name) || hl_explore_fault_parse(name, &x.fault)) {
				fprintf(stderr, "hyplog explore: --fault: '%s' is not NAME[:N] (see --help)\n", optarg);
				return HL_EXIT_USAGE;
			}
			if (colon && opt_u64("--fault N", colon + 1, 1, 1u << 30, &v))
				return HL_EXIT_USAGE;
			x.fault_every = colon ? (unsigned)v : 1;
			break;
		}
		case 'R':
			if (replay) {
				fprintf(stderr, "hyplog explore: --replay given twice\n");
				return HL_EXIT_USAGE;
			}
			replay = optarg;
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
		fprintf(stderr, "hyplog explore: unexpected argument '%s'\n", argv[optind]);
		return HL_EXIT_USAGE;
	}
	/* a reproducer line is the whole configuration: other options would be ignored */
	if (replay && nopts) {
		fprintf(stderr, "hyplog explore: --replay LINE takes no other options (the line has them all)\n");
		return HL_EXIT_USAGE;
	}
	if (replay && !replay[strspn(replay, " \t")]) {
		fprintf(stderr, "hyplog explore: --replay needs a reproducer line (as printed by a failing run)\n");
		return HL_EXIT_USAGE;
	}

	if (replay) {
		if (hl_explore_parse(replay, &x)) {
			fprintf(stderr, "hyplog explore: --replay: '%s' is not a reproducer line (it names strategy=, "
				"seed= and the rest as printed by a failing run)\n", replay);
			free(x.prefix);
			return HL_EXIT_USAGE;
		}
		if (x.fault >= 0 && !hl_explore_faults_available()) {
			fprintf(stderr, "hyplog explore: this reproducer injects a fault; use a -Dfault_injection=true build\n");
			free(x.prefix);
			return HL_EXIT_USAGE;
		}
	}
	if ((HL_RAM_PAGES / x.cpus) < 5 * 512) {
		fprintf(stderr, "hyplog explore: %u cpus leave too little RAM each\n", x.cpus);
		free(x.prefix);
		return HL_EXIT_USAGE;
	}
	if (replay) {
		hl_explore_one(&x, x.seed, x.prefix, x.nprefix, &res);
		free(res.next_prefix);
		if (res.status < 0) {
			fprintf(stderr, "hyplog explore: %s\n", res.msg);
			free(x.prefix);
			return HL_EXIT_MISMATCH;
		}
		if (res.status) {
			hl_explore_repro(&x, x.seed, x.prefix, x.nprefix, line, sizeof(line));
			printf("explore: violation reproduced: %s\n", res.msg);
			printf("reproduce: hyplog explore --replay '%s'\n", line);
		} else {
			printf("explore: the run passed (%zu decisions)\n", res.decisions);
		}
		free(x.prefix);
		return res.status ? HL_EXIT_MISMATCH : HL_EXIT_OK;
	}

	uint8_t *prefix = NULL;
	size_t nprefix = 0;
	uint64_t done = 0, decisions = 0;
	struct hp_hostile_stats hostile;
	memset(&hostile, 0, sizeof(hostile));
	for (uint64_t run = 0; run < runs; run++) {
		uint64_t seed = hl_explore_run_seed(&x, run);
		hl_explore_one(&x, seed, prefix, nprefix, &res);
		done++;
		decisions += res.decisions;
		for (unsigned c = 0; c < HC__COUNT; c++)
			for (unsigned a = 0; a < HA__COUNT; a++)
				hostile.n[c][a] += res.hostile.n[c][a];
		if (res.status) {
			printf("explore: run %" PRIu64 " (%s, seed %" PRIu64 ") failed: %s\n", run, hl_strategy_name(x.strat),
			       seed, res.msg);
			if (res.status > 0) {
				hl_explore_repro(&x, seed, prefix, nprefix, line, sizeof(line));
				printf("reproduce: hyplog explore --replay '%s'\n", line);
			}
			free(res.next_prefix);
			free(prefix);
			printf("SUMMARY explore strategy=%s cpus=%u ops=%" PRIu64 " runs=%" PRIu64 " result=fail\n",
			       hl_strategy_name(x.strat), x.cpus, x.ops, done);
			return HL_EXIT_MISMATCH;
		}
		if (x.strat == HL_STRAT_EXHAUSTIVE) {
			free(prefix);
			prefix = res.next_prefix;
			nprefix = res.nnext;
			if (!prefix) {
				printf("explore: exhaustive search complete after %" PRIu64 " runs\n", done);
				break;
			}
		} else {
			free(res.next_prefix);
		}
		if ((run + 1) % 10 == 0 || run + 1 == runs)
			fprintf(stderr, "  %" PRIu64 "/%llu runs passed\n", run + 1, runs);
	}
	free(prefix);
	if (x.mix & HP_MIX_HOSTILE)
		hp_hostile_print(&hostile, stdout);
	printf("explore: %" PRIu64 " runs passed (%s, %u cpus, %" PRIu64 " actions each, %.1f decisions/run)\n", done,
	       hl_strategy_name(x.strat), x.cpus, x.ops, done ? (double)decisions / (double)done : 0.0);
	printf("SUMMARY explore strategy=%s cpus=%u ops=%" PRIu64 " runs=%" PRIu64 " result=ok\n", hl_strategy_name(x.strat),
	       x.cpus, x.ops, done);
	return HL_EXIT_OK;
}

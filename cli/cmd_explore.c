/*
 * cmd_explore.c - `hyplog explore`: K logical CPUs run the trap-level workload under the
 * deterministic scheduler (oracle/hl_sched.h); every run is checked; a failing run prints
 * a one-line reproducer that `hyplog explore --replay LINE` runs again exactly.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hl_report.h"
#include "hl_sched.h"
#include "kcore.h"
#include "platform.h"
#if __has_include("hl_check.h")
#include "hl_check.h"
#define HAVE_CHECK 1
#endif

struct xcfg {
	enum hl_strategy strat;
	uint64_t seed;
	unsigned depth;
	unsigned cpus;
	uint64_t ops;
	unsigned mix;
	uint64_t ckpt;
	size_t max_dec;
	uint8_t *prefix;
	size_t nprefix;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyplog explore [OPTIONS]\n"
		"       hyplog explore --replay LINE\n"
		"\n"
		"K logical CPUs run the trap-level workload, one at a time: every lock acquisition\n"
		"and every trap entry is a scheduling point the scheduler decides. Every run is\n"
		"checked (replay == live, no deadlock, no unexpected result%s). A failing run prints\n"
		"a one-line reproducer.\n"
		"\n"
		"  --strategy S       random (default), pct or exhaustive\n"
		"  --cpus K           logical CPUs (1..%u, default 2)\n"
		"  --ops M            host actions per run, over all CPUs (default 40)\n"
		"  --runs R           runs to try (default 50; exhaustive: until the tree is done or R)\n"
		"  --seed S           seed (default 1)\n"
		"  --depth D          pct bug depth (default 3)\n"
		"  --mix MIX          boot | faults | smmu | share | all (default all)\n"
		"  --ckpt-every N     checkpoint every N records (default 0 = never)\n"
		"  --max-decisions N  exhaustive: branch only in the first N decisions (default 12)\n"
		"  --replay LINE      run one reproducer line again\n"
		"  -h, --help         this text\n"
		"\n"
		"exit: 0 every run passed, 1 a run failed (reproducer printed), 2 bad usage\n",
#ifdef HAVE_CHECK
		", every oracle check",
#else
		"",
#endif
		HL_SCHED_MAX_CPUS);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xFF51AFD7ED558CCDull;
	x ^= x >> 33;
	x *= 0xC4CEB9FE1A85EC53ull;
	x ^= x >> 33;
	return x;
}

/* one controlled run; returns 0 ok, 1 violation (msg filled), -1 setup failure */
static int one_run(const struct xcfg *x, uint64_t seed, const uint8_t *prefix, size_t nprefix,
		   struct hl_sched *sched, char *msg, size_t msglen)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	struct kcore *k = NULL;
	struct hp_platform *p = NULL;
	struct hp_cfg pc;
	struct hl_report rep;
	int rc = -1;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = x->cpus;
	cfg.ckpt_every = x->ckpt;
	e = hl_engine_new(&cfg);
	if (e)
		k = kcore_new(e);
	memset(&pc, 0, sizeof(pc));
	pc.ncpus = x->cpus;
	pc.vms = x->cpus;
	pc.ops = x->ops;
	pc.seed = seed;
	pc.mix = x->mix;
	pc.on_cpu = hl_sched_on_cpu;
	pc.hook_ctx = sched;
	if (k)
		p = hp_new(e, k, &pc);
	if (!p || hl_sched_init(sched, e, x->cpus, x->strat, seed, x->depth, x->ops * 64, prefix, nprefix,
				x->strat == HL_STRAT_EXHAUSTIVE ? x->max_dec : 0) != 0) {
		snprintf(msg, msglen, "cannot set up the run");
		goto out;
	}
	if (hp_setup(p) != 0) {
		snprintf(msg, msglen, "setup failed: %s", hp_first_error(p) ? hp_first_error(p) : "a CPU halted");
		rc = 1;
		goto out_sched;
	}
	hl_sched_attach(sched);
	(void)hp_run(p);
	hl_sched_detach(sched);
	rc = 0;
	if (sched->deadlocks) {
		snprintf(msg, msglen, "%s", sched->deadlock_msg);
		rc = 1;
	} else if (hp_first_error(p)) {
		snprintf(msg, msglen, "unexpected behaviour: %s", hp_first_error(p));
		rc = 1;
	} else if (hp_halted_cpus(p)) {
		snprintf(msg, msglen, "%u CPUs halted", hp_halted_cpus(p));
		rc = 1;
	} else if (hl_report_replay(e, NULL, false, stdout, &rep) != 0) {
		snprintf(msg, msglen, "replay != live: %s", rep.why);
		rc = 1;
	}
#ifdef HAVE_CHECK
	if (rc == 0) {
		struct hl_check_src src = { .e = e, .file = NULL };
		struct hl_verdict v;
		memset(&v, 0, sizeof(v));
		if (hl_check_all(&src, &v, NULL) != 0) {
			snprintf(msg, msglen, "%s violated at op %u:%llu on cpu %d: %s", hl_rel_name(v.rel),
				 (unsigned)(v.op >> 48), (unsigned long long)(v.op & 0xFFFFFFFFFFFFull), v.cpu, v.what);
			rc = 1;
		}
	}
#endif
out_sched:
	;
out:
	hp_free(p);
	kcore_free(k);
	hl_engine_free(e);
	return rc;
}

static void print_repro(const struct xcfg *x, uint64_t seed, const uint8_t *prefix, size_t nprefix)
{
	printf("reproduce: hyplog explore --replay 'strategy=%s seed=%" PRIu64 " depth=%u cpus=%u ops=%" PRIu64
	       " mix=%s ckpt=%" PRIu64 " maxdec=%zu prefix=",
	       hl_strategy_name(x->strat), seed, x->depth, x->cpus, x->ops, hp_mix_name(x->mix), x->ckpt, x->max_dec);
	if (!nprefix)
		printf("-");
	for (size_t i = 0; i < nprefix; i++)
		printf("%s%u", i ? "." : "", prefix[i]);
	printf("'\n");
}

static int parse_line(const char *line, struct xcfg *x)
{
	char *dup = strdup(line), *save = NULL, *tok;
	int rc = 0;

	if (!dup)
		return -1;
	for (tok = strtok_r(dup, " \t", &save); tok && !rc; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		unsigned long long v;
		if (!eq) {
			rc = -1;
			break;
		}
		*eq++ = 0;
		if (!strcmp(tok, "strategy"))
			rc = hl_strategy_parse(eq, &x->strat);
		else if (!strcmp(tok, "seed"))
			rc = cli_parse_u64("seed", eq, 0, UINT64_MAX, &v), x->seed = v;
		else if (!strcmp(tok, "depth"))
			rc = cli_parse_u64("depth", eq, 1, 16, &v), x->depth = (unsigned)v;
		else if (!strcmp(tok, "cpus"))
			rc = cli_parse_u64("cpus", eq, 1, HL_SCHED_MAX_CPUS, &v), x->cpus = (unsigned)v;
		else if (!strcmp(tok, "ops"))
			rc = cli_parse_u64("ops", eq, 0, 1u << 24, &v), x->ops = v;
		else if (!strcmp(tok, "mix"))
			rc = hp_mix_parse(eq, &x->mix);
		else if (!strcmp(tok, "ckpt"))
			rc = cli_parse_u64("ckpt", eq, 0, 1ull << 40, &v), x->ckpt = v;
		else if (!strcmp(tok, "maxdec"))
			rc = cli_parse_u64("maxdec", eq, 0, 1u << 20, &v), x->max_dec = (size_t)v;
		else if (!strcmp(tok, "prefix"))
			rc = hl_sched_choices_parse(eq, &x->prefix, &x->nprefix);
		else
			rc = -1;
	}
	free(dup);
	return rc;
}

int cmd_explore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "strategy", required_argument, NULL, 'S' }, { "cpus", required_argument, NULL, 'c' },
		{ "ops", required_argument, NULL, 'o' },      { "runs", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },     { "depth", required_argument, NULL, 'd' },
		{ "mix", required_argument, NULL, 'm' },      { "ckpt-every", required_argument, NULL, 'p' },
		{ "max-decisions", required_argument, NULL, 'D' },
		{ "replay", required_argument, NULL, 'R' },   { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct xcfg x = { .strat = HL_STRAT_RANDOM, .seed = 1, .depth = 3, .cpus = 2, .ops = 40,
			  .mix = HP_MIX_ALL, .max_dec = 12 };
	unsigned long long v, runs = 50;
	const char *replay = NULL;
	struct hl_sched sched;
	char msg[512];
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'S':
			if (hl_strategy_parse(optarg, &x.strat)) {
				fprintf(stderr, "hyplog explore: --strategy: '%s' is not random, pct or exhaustive\n", optarg);
				return HL_EXIT_USAGE;
			}
			break;
		case 'c':
			if (cli_parse_u64("--cpus", optarg, 1, HL_SCHED_MAX_CPUS, &v))
				return HL_EXIT_USAGE;
			x.cpus = (unsigned)v;
			break;
		case 'o':
			if (cli_parse_u64("--ops", optarg, 1, 1u << 24, &v))
				return HL_EXIT_USAGE;
			x.ops = v;
			break;
		case 'r':
			if (cli_parse_u64("--runs", optarg, 1, 1u << 30, &runs))
				return HL_EXIT_USAGE;
			break;
		case 's':
			if (cli_parse_u64("--seed", optarg, 0, UINT64_MAX, &v))
				return HL_EXIT_USAGE;
			x.seed = v;
			break;
		case 'd':
			if (cli_parse_u64("--depth", optarg, 1, 16, &v))
				return HL_EXIT_USAGE;
			x.depth = (unsigned)v;
			break;
		case 'm':
			if (hp_mix_parse(optarg, &x.mix)) {
				fprintf(stderr, "hyplog explore: --mix: '%s' is not boot, faults, smmu, share or all\n", optarg);
				return HL_EXIT_USAGE;
			}
			break;
		case 'p':
			if (cli_parse_u64("--ckpt-every", optarg, 0, 1ull << 40, &v))
				return HL_EXIT_USAGE;
			x.ckpt = v;
			break;
		case 'D':
			if (cli_parse_u64("--max-decisions", optarg, 0, 1u << 20, &v))
				return HL_EXIT_USAGE;
			x.max_dec = (size_t)v;
			break;
		case 'R':
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
	if ((HL_RAM_PAGES / x.cpus) < 5 * 512) {
		fprintf(stderr, "hyplog explore: %u cpus leave too little RAM each\n", x.cpus);
		return HL_EXIT_USAGE;
	}

	if (replay) {
		if (parse_line(replay, &x)) {
			fprintf(stderr, "hyplog explore: --replay: cannot parse '%s'\n", replay);
			return HL_EXIT_USAGE;
		}
		rc = one_run(&x, x.seed, x.prefix, x.nprefix, &sched, msg, sizeof(msg));
		hl_sched_destroy(&sched);
		if (rc < 0) {
			fprintf(stderr, "hyplog explore: %s\n", msg);
			free(x.prefix);
			return HL_EXIT_MISMATCH;
		}
		if (rc) {
			printf("explore: violation reproduced: %s\n", msg);
			print_repro(&x, x.seed, x.prefix, x.nprefix);
		} else {
			printf("explore: the run passed\n");
		}
		free(x.prefix);
		return rc ? HL_EXIT_MISMATCH : HL_EXIT_OK;
	}

	uint8_t *prefix = NULL;
	size_t nprefix = 0;
	uint64_t done = 0, decisions = 0;
	for (uint64_t run = 0; run < runs; run++) {
		uint64_t seed = x.strat == HL_STRAT_EXHAUSTIVE ? x.seed : mix64(x.seed * 0x100000001B3ull + run);
		rc = one_run(&x, seed, prefix, nprefix, &sched, msg, sizeof(msg));
		done++;
		decisions += sched.ndec;
		if (getenv("HL_EXPLORE_DEBUG"))
			fprintf(stderr, "run %" PRIu64 ": %llu steps, %zu decisions\n", run, (unsigned long long)sched.steps, sched.ndec);
		if (rc) {
			printf("explore: run %" PRIu64 " (%s, seed %" PRIu64 ") failed: %s\n", run, hl_strategy_name(x.strat),
			       seed, msg);
			if (rc > 0)
				print_repro(&x, seed, prefix, nprefix);
			hl_sched_destroy(&sched);
			free(prefix);
			printf("SUMMARY explore strategy=%s cpus=%u ops=%" PRIu64 " runs=%" PRIu64 " result=fail\n",
			       hl_strategy_name(x.strat), x.cpus, x.ops, done);
			return HL_EXIT_MISMATCH;
		}
		if (x.strat == HL_STRAT_EXHAUSTIVE) {
			uint8_t *np = NULL;
			size_t nn = 0;
			bool more = hl_sched_next_prefix(&sched, &np, &nn);
			free(prefix);
			prefix = np;
			nprefix = nn;
			if (!more) {
				hl_sched_destroy(&sched);
				printf("explore: exhaustive search complete after %" PRIu64 " runs\n", done);
				break;
			}
		}
		hl_sched_destroy(&sched);
		if ((run + 1) % 10 == 0 || run + 1 == runs)
			fprintf(stderr, "  %" PRIu64 "/%llu runs passed\n", run + 1, runs);
	}
	free(prefix);
	printf("explore: %" PRIu64 " runs passed (%s, %u cpus, %" PRIu64 " actions each, %.1f decisions/run)\n", done,
	       hl_strategy_name(x.strat), x.cpus, x.ops, done ? (double)decisions / done : 0.0);
	printf("SUMMARY explore strategy=%s cpus=%u ops=%" PRIu64 " runs=%" PRIu64 " result=ok\n", hl_strategy_name(x.strat),
	       x.cpus, x.ops, done);
	return HL_EXIT_OK;
}

/* hyplog.c - command-line entry: dispatch to subcommands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hl_const.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyplog COMMAND [OPTIONS]\n"
		"\n"
		"Per-object lock logs for SeKVM's KCore state: run, replay and check them.\n"
		"\n"
		"commands:\n"
		"  stress    N CPUs run KCore's trap code for an untrusted host and guests (or, with\n"
		"            --engine-only, random operations straight into the engine); then the\n"
		"            logs are replayed and compared with the live state\n"
		"  replay    read a log file, replay it (Cal<Obj> and CalStateH) and compare\n"
		"  bench     benchmarks with same-run baselines: SUMMARY lines, JSON, charts\n"
		"  check     run the multi-CPU oracles (SPEC section 10) over a log file\n"
		"  export    print a log file's linearized history (--format json)\n"
		"  explore   run CPUs under a deterministic scheduler (random, pct, exhaustive)\n"
		"  boot      boot the EL2 image on qemu-system-aarch64 (--smp N), collect and check its logs\n"
		"  help      this text; `hyplog COMMAND --help` for a command's options\n"
		"\n"
		"exit codes: 0 ok, 1 mismatch or violation, 2 bad input (usage, malformed file)\n"
		"build: MAX_VM=%u vCPUs/VM=%u CPUs<=%u RAM=%u MiB\n",
		HL_MAX_VM, HL_VCPU_PER_VM, HL_NR_CPUS, HL_CFG_RAM_MIB);
}

int cli_parse_u64(const char *opt, const char *s, unsigned long long min, unsigned long long max,
		  unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-') {
		fprintf(stderr, "hyplog: %s needs a non-negative number\n", opt);
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "hyplog: %s: '%s' is not a number\n", opt, s);
		return -1;
	}
	if (v < min || v > max) {
		fprintf(stderr, "hyplog: %s: %llu is out of range [%llu, %llu]\n", opt, v, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return HL_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return HL_EXIT_OK;
	}
	if (!strcmp(argv[1], "stress"))
		return cmd_stress(argc - 1, argv + 1);
	if (!strcmp(argv[1], "replay"))
		return cmd_replay(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check")) return cmd_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "boot")) return cmd_boot(argc - 1, argv + 1);
	if (!strcmp(argv[1], "export")) return cmd_export(argc - 1, argv + 1);
	if (!strcmp(argv[1], "explore"))
		return cmd_explore(argc - 1, argv + 1);
	fprintf(stderr, "hyplog: unknown command '%s' (try hyplog --help)\n", argv[1]);
	return HL_EXIT_USAGE;
}

/* hyplog.c - command-line entry: dispatch to subcommands. */
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
		"  help      this text; `hyplog help COMMAND` (or `hyplog COMMAND --help`) for a\n"
		"            command's options\n"
		"\n"
		"exit codes: 0 ok, 1 mismatch or violation, 2 bad input (usage, malformed file)\n"
		"build: MAX_VM=%u vCPUs/VM=%u CPUs<=%u RAM=%u MiB\n",
		HL_MAX_VM, HL_VCPU_PER_VM, HL_NR_CPUS, HL_CFG_RAM_MIB);
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "stress", cmd_stress }, { "replay", cmd_replay }, { "bench", cmd_bench },   { "check", cmd_check },
	{ "export", cmd_export }, { "explore", cmd_explore }, { "boot", cmd_boot },
};

static int (*find_command(const char *name))(int, char **)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].fn;
	return NULL;
}

int main(int argc, char **argv)
{
	int (*fn)(int, char **);

	if (argc < 2) {
		usage(stderr);
		return HL_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc > 2) {
			fprintf(stderr, "hyplog: %s takes no arguments (try hyplog help COMMAND)\n", argv[1]);
			return HL_EXIT_USAGE;
		}
		usage(stdout);
		return HL_EXIT_OK;
	}
	if (!strcmp(argv[1], "help")) {
		/* `hyplog help` or `hyplog help COMMAND` (= `hyplog COMMAND --help`), nothing else */
		char help_opt[] = "--help", *sub[3] = { NULL, help_opt, NULL };
		if (argc == 2) {
			usage(stdout);
			return HL_EXIT_OK;
		}
		if (argc > 3) {
			fprintf(stderr, "hyplog help: expected at most one COMMAND\n");
			return HL_EXIT_USAGE;
		}
		fn = find_command(argv[2]);
		if (!fn) {
			fprintf(stderr, "hyplog help: unknown command '%s' (try hyplog --help)\n", argv[2]);
			return HL_EXIT_USAGE;
		}
		sub[0] = argv[2];
		return fn(2, sub);
	}
	fn = find_command(argv[1]);
	if (fn)
		return fn(argc - 1, argv + 1);
	fprintf(stderr, "hyplog: unknown command '%s' (try hyplog --help)\n", argv[1]);
	return HL_EXIT_USAGE;
}

/* cmd_replay.c - `hyplog replay FILE`: replay a log file both ways and compare. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "arch/aarch64/el2/image/layout.h"   /* LINUX_QEMU_RAM_MIB */
#include "hl_file.h"
#include "hl_report.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hyplog replay [--quiet] FILE\n"
		"\n"
		"Read a log file written by `hyplog stress --log`, replay every object log\n"
		"(Cal<Obj>, delta replay from its checkpoint) and the whole run (CalStateH,\n"
		"re-execution of each operation through the transitions in a linearization of\n"
		"the operation IDs), and compare both with the live digests the file recorded.\n"
		"\n"
		"  -q, --quiet   print only the summary line\n"
		"  -h, --help    this text\n"
		"\n"
		"A log of the EL2 Linux image (`hyplog boot --linux`, s2page %u MiB) is read by\n"
		"hyplog-linux, which this command runs (it lies beside this binary).\n"
		"\n"
		"exit: 0 replay == live, 1 mismatch, 2 unreadable or malformed file\n", LINUX_QEMU_RAM_MIB);
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hl_file_info info;
	struct hl_file_err ferr = { 0 };
	struct hl_report rep;
	struct hl_engine *e;
	bool quiet = false;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return HL_EXIT_OK;
		default:
			usage(stderr);
			return HL_EXIT_USAGE;
		}
	}
	if (!cli_one_file("replay", argc, argv, optind)) {
		usage(stderr);
		return HL_EXIT_USAGE;
	}
	e = cli_read_log("replay", argv[optind], &info, &ferr, argc, argv, &rc);
	if (!e)
		return rc;
	if (!quiet)
		printf("file %s: version %u, %u cpus, %llu records, %llu snapshots, %llu bytes, halted cpus 0x%llx\n",
		       argv[optind], info.version, info.ncpus, (unsigned long long)info.records,
		       (unsigned long long)info.nsnap, (unsigned long long)info.file_bytes,
		       (unsigned long long)info.halted_mask);
	rc = hl_report_replay(e, &info, !quiet, stdout, &rep);
	printf("replay: Cal<Obj> %s live, CalStateH %s Cal<Obj> (%llu ops: %llu re-executed, %llu by delta)\n",
	       rep.cal_ok ? (rep.cal_eq_live ? "==" : "!=") : "failed:",
	       rep.calh_ok ? (rep.calh_eq_cal ? "==" : "!=") : "failed",
	       (unsigned long long)rep.calh.ops, (unsigned long long)rep.calh.reexecuted,
	       (unsigned long long)rep.calh.delta_applied);
	if (rc)
		printf("replay MISMATCH: %s\n", rep.why);
	else
		printf("replay == live\n");
	printf("SUMMARY replay file=%s records=%llu cal_s=%.3f calh_s=%.3f result=%s\n", argv[optind],
	       (unsigned long long)rep.records, rep.cal_sec, rep.calh_sec, rc ? "mismatch" : "ok");
	hl_engine_free(e);
	return rc ? HL_EXIT_MISMATCH : HL_EXIT_OK;
}

/* cli.h - the hyplog subcommands. Exit codes: 0 ok, 1 mismatch/violation, 2 bad input. */
#ifndef HL_CLI_H
#define HL_CLI_H

#define HL_EXIT_OK 0
#define HL_EXIT_MISMATCH 1
#define HL_EXIT_USAGE 2

int cmd_stress(int argc, char **argv);
int cmd_stress_engine(int argc, char **argv);
/* --mix hostile (cmd_stress_hostile.c): epochs with a fresh engine, every log checked */
/* `base`: the shard sizes of the run (s2page_shard_pages, npt_host_shard_mib), per epoch */
struct hl_engine_cfg;
int cmd_stress_hostile(unsigned ncpus, unsigned vms, unsigned long long ops, unsigned long long seed, int quiet,
		       const struct hl_engine_cfg *base);
int cmd_replay(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_explore(int argc, char **argv);
int cmd_boot(int argc, char **argv);

/* Every numeric option goes through these (cli_util.c). cli_parse_u64: decimal digits or
 * 0x + hex digits, nothing else (no blanks, sign, octal, overflow or trailing junk), in
 * [min, max]. cli_parse_seconds: a plain decimal like 0.25 in [min, max]. On a bad value
 * they print "hyplog: OPT: why" and return -1. */
int cli_parse_u64(const char *opt, const char *s, unsigned long long min, unsigned long long max,
		  unsigned long long *out);
int cli_parse_seconds(const char *opt, const char *s, double min, double max, double *out);

/* a JSON string for s (file names need not be UTF-8: other bytes become '?'); NULL: no memory */
struct json_t *cli_json_str(const char *s);

#include <stdbool.h>
#include <stdint.h>

#include "hl_engine.h"
#include "hl_file.h"

double cli_now(void);
long cli_peak_rss_kib(void);

struct cli_progress {
	bool quiet, drawn;
	unsigned last_decile;
	double t0;
};
void cli_progress(struct cli_progress *p, uint64_t done, uint64_t total, const char *unit);
void cli_progress_end(struct cli_progress *p);

/* --lock / --global-lock / --logs-off / --ckpt-every (getopt values 'k' 'g' 'n' 'p'):
 * 1 handled, 0 not an engine option, -1 bad value (message printed) */
int cli_engine_option(int opt, const char *arg, struct hl_engine_cfg *cfg, unsigned long long *ckpt);

/* the single FILE operand after the options, or NULL (message printed) */
const char *cli_one_file(const char *cmd, int argc, char **argv, int optind_now);
/* hl_file_read, printing "hyplog CMD: FILE: at byte offset N: why" on failure, and then
 * (only then) *rc the exit status to return (a log of another RAM size: cli_other_ram_log, with argc/argv) */
struct hl_engine *cli_read_log(const char *cmd, const char *path, struct hl_file_info *info,
			       struct hl_file_err *ferr, int argc, char **argv, int *rc);

/* Run hyplog-linux (beside this binary) with this command's arguments (argv[0] = CMD): the
 * EL2 Linux image's logs need s2page over all of its RAM, a build-time size (issue 12).
 * Returns only when it cannot be run (message printed): HL_EXIT_USAGE. */
int cli_exec_linux(const char *cmd, int argc, char **argv);
/* After the reader refused PATH: if its header says another RAM size, name the binary that
 * reads it: in hyplog, a log of the EL2 Linux image is handed to hyplog-linux (exec; the
 * return is the exit status when that fails); in hyplog-linux, a note naming hyplog.
 * -1: go on with the reader's own error. */
int cli_other_ram_log(const char *cmd, const char *path, int argc, char **argv);

#endif

/* cli.h - the hyplog subcommands. Exit codes: 0 ok, 1 mismatch/violation, 2 bad input. */
#ifndef HL_CLI_H
#define HL_CLI_H

#define HL_EXIT_OK 0
#define HL_EXIT_MISMATCH 1
#define HL_EXIT_USAGE 2

int cmd_stress(int argc, char **argv);
int cmd_stress_engine(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_explore(int argc, char **argv);

/* parse an unsigned decimal/hex number in [min, max]; prints a clear error and returns -1 */
int cli_parse_u64(const char *opt, const char *s, unsigned long long min, unsigned long long max,
		  unsigned long long *out);

#endif

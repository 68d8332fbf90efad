/* cli_util.c - what several subcommands share: clocks, memory, progress, engine options. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "hl_const.h"
#include "arch/aarch64/el2/image/layout.h"   /* LINUX_QEMU_RAM_MIB */

/*
 * The one number parser of every option: decimal digits, or 0x/0X and hex digits, and
 * nothing else. No sign, no leading or trailing blanks (strtoull would skip leading white
 * space and take a '+' or '-'), no octal (strtoull's base 0 reads "010" as 8), no
 * overflow (strtoull saturates), no trailing junk.
 */
int cli_parse_u64(const char *opt, const char *s, unsigned long long min, unsigned long long max,
		  unsigned long long *out)
{
	unsigned long long v = 0;
	unsigned base = 10, ndig = 0;
	const char *p = s;

	if (!s || !*s) {
		fprintf(stderr, "hyplog: %s needs a number\n", opt);
		return -1;
	}
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (; *p; p++, ndig++) {
		unsigned d;
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		if (v > (~0ull - d) / base) {
			fprintf(stderr, "hyplog: %s: '%s' is too large (at most %llu)\n", opt, s, max);
			return -1;
		}
		v = v * base + d;
	}
	if (*p || !ndig) {
		fprintf(stderr, "hyplog: %s: '%s' is not a non-negative %s number\n", opt, s,
			base == 16 ? "hexadecimal" : "decimal");
		return -1;
	}
	if (v < min || v > max) {
		fprintf(stderr, "hyplog: %s: %llu is out of range [%llu, %llu]\n", opt, v, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long cli_peak_rss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* a bar on a terminal; otherwise one line per 10 % so logs stay readable */
void cli_progress(struct cli_progress *p, uint64_t done, uint64_t total, const char *unit)
{
	if (p->quiet)
		return;
	if (isatty(2)) {
		unsigned w = 40, fill = total ? (unsigned)(done * w / total) : w;
		fprintf(stderr, "\r  [%.*s%*s] %3u%%  %llu/%llu %s  %.1f s", fill,
			"########################################", (int)(w - fill), "",
			total ? (unsigned)(done * 100 / total) : 100, (unsigned long long)done,
			(unsigned long long)total, unit, cli_now() - p->t0);
		p->drawn = true;
	} else if (total && done * 10 / total > p->last_decile) {
		p->last_decile = (unsigned)(done * 10 / total);
		fprintf(stderr, "  %u%% (%llu/%llu %s) %.1f s\n", p->last_decile * 10, (unsigned long long)done,
			(unsigned long long)total, unit, cli_now() - p->t0);
	}
}

void cli_progress_end(struct cli_progress *p)
{
	if (p->drawn)
		fprintf(stderr, "\n");
}

int cli_engine_option(int opt, const char *arg, struct hl_engine_cfg *cfg, unsigned long long *ckpt)
{
	switch (opt) {
	case 'k':
		if (hl_lock_kind_parse(arg, &cfg->lock_kind)) {
			fprintf(stderr, "hyplog: --lock: '%s' is not ticket, mcs or mutex\n", arg);
			return -1;
		}
		return 1;
	case 'g':
		cfg->global_lock = true;
		return 1;
	case 'n':
		cfg->logs_off = true;
		return 1;
	case 'p':
		return cli_parse_u64("--ckpt-every", arg, 0, 1ull << 40, ckpt) ? -1 : 1;
	case 'S': {
		/* s2page shards (issue 11): pages per shard, 0 = one object (SPEC's layout) */
		unsigned long long v;
		if (cli_parse_u64("--s2p-shard-pages", arg, 0, HL_RAM_PAGES, &v))
			return -1;
		cfg->s2page_shard_pages = v;
		return 1;
	}
	case 'N': {
		/* npt(host) shards (issue 11): MiB of host RAM IPA per shard, 0 = one object */
		unsigned long long v;
		if (cli_parse_u64("--npt-shard-mib", arg, 0, HL_CFG_RAM_MIB * 2ull, &v))
			return -1;
		cfg->npt_host_shard_mib = v;
		return 1;
	}
	default:
		return 0;
	}
}

const char *cli_one_file(const char *cmd, int argc, char **argv, int optind_now)
{
	if (optind_now != argc - 1) {
		fprintf(stderr, "hyplog %s: expected exactly one FILE\n", cmd);
		return NULL;
	}
	return argv[optind_now];
}

int cli_exec_linux(const char *cmd, int argc, char **argv)
{
	char exe[PATH_MAX], path[PATH_MAX + 16];
	char *args[argc + 2];
	ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *s;

	if (k <= 0 || !(exe[k] = 0, s = strrchr(exe, '/'))) {
		fprintf(stderr, "hyplog %s: cannot find this binary's directory (to run hyplog-linux)\n", cmd);
		return HL_EXIT_USAGE;
	}
	*s = 0;
	snprintf(path, sizeof(path), "%s/hyplog-linux", exe);
	args[0] = path;
	for (int i = 0; i < argc; i++)
		args[i + 1] = argv[i];
	args[argc + 1] = NULL;
	fflush(NULL);
	execv(path, args);
	fprintf(stderr, "hyplog %s: this hyplog's s2page is %u MiB, the EL2 Linux image's is %u MiB: its logs "
		"are read by hyplog-linux, which is not at %s (%s; ninja builds it beside hyplog)\n", cmd,
		HL_CFG_RAM_MIB, LINUX_QEMU_RAM_MIB, path, strerror(errno));
	return HL_EXIT_USAGE;
}

/*
 * The build-configuration words at the start of a log file (SPEC §5 "Files": magic, version,
 * hdr_len, max_vm, vcpus_per_vm, nr_cpus, ram_mib, ...). Only peeked at after the reader has
 * refused the file, to name the binary that reads it; the reader checks them all.
 */
#define LOG_MAGIC "HYPLOG\r\n"
#define LOG_RAM_MIB_OFF 28

int cli_other_ram_log(const char *cmd, const char *path, int argc, char **argv)
{
	unsigned char h[LOG_RAM_MIB_OFF + 4];
	struct stat st;
	uint32_t mib;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, h, sizeof(h)) : -1;
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h, LOG_MAGIC, 8) != 0)
		return -1;
	memcpy(&mib, h + LOG_RAM_MIB_OFF, 4);
	if (mib == HL_CFG_RAM_MIB)
		return -1;
#ifdef HL_RAM_MIB_OVERRIDE
	fprintf(stderr, "hyplog-linux %s: %s was written with s2page = %u MiB, not the EL2 Linux image's %u MiB: "
		"hyplog-linux reads only that image's logs; `hyplog %s` reads this one if it was built with "
		"-Dram_mib=%u\n", cmd, path, mib, HL_CFG_RAM_MIB, cmd, mib);
	return -1;
#else
	if (mib != LINUX_QEMU_RAM_MIB)
		return -1;
	fprintf(stderr, "hyplog %s: %s was written by the EL2 Linux image (s2page = %u MiB, this build's is %u MiB): "
		"running hyplog-linux, which reads it\n", cmd, path, mib, HL_CFG_RAM_MIB);
	return cli_exec_linux(cmd, argc, argv);
#endif
}

struct hl_engine *cli_read_log(const char *cmd, const char *path, struct hl_file_info *info,
			       struct hl_file_err *ferr, int argc, char **argv, int *rc)
{
	struct hl_engine *e = hl_file_read(path, info, ferr);

	if (e)
		return e;
	if ((*rc = cli_other_ram_log(cmd, path, argc, argv)) < 0) {
		*rc = HL_EXIT_USAGE;
		fprintf(stderr, "hyplog %s: %s: at byte offset %llu: %s\n", cmd, path,
			(unsigned long long)ferr->offset, ferr->msg);
	}
	return NULL;
}

json_t *cli_json_str(const char *s)
{
	json_t *j = json_string(s);
	char *t;

	if (j || !s)
		return j;
	/* not UTF-8 (a file name is any byte string): keep the ASCII, '?' for the other bytes */
	t = strdup(s);
	if (!t)
		return NULL;
	for (char *p = t; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(t);
	free(t);
	return j;
}

int cli_parse_seconds(const char *opt, const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	/* strtod also takes blanks, signs, hex floats, "inf" and "nan": a plain decimal only */
	if (!s || !*s || strspn(s, "0123456789.") != strlen(s)) {
		fprintf(stderr, "hyplog: %s: '%s' is not a number of seconds (e.g. 0.25)\n", opt, s ? s : "");
		return -1;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !(v >= min && v <= max)) {
		fprintf(stderr, "hyplog: %s: '%s' is out of range [%g, %g] seconds\n", opt, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

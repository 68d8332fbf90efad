/* cli_util.c - what several subcommands share: clocks, memory, progress, engine options. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

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

struct hl_engine *cli_read_log(const char *cmd, const char *path, struct hl_file_info *info,
			       struct hl_file_err *ferr)
{
	struct hl_engine *e = hl_file_read(path, info, ferr);
	if (!e)
		fprintf(stderr, "hyplog %s: %s: at byte offset %llu: %s\n", cmd, path,
			(unsigned long long)ferr->offset, ferr->msg);
	return e;
}

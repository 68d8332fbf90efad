/*
 * hl_explore.h - controlled multi-CPU runs of the trap-level workload under the
 * deterministic scheduler (hl_sched.h), each checked by the oracles, with one-line
 * reproducers. `hyplog explore` is a thin CLI over this.
 */
#ifndef HL_EXPLORE_H
#define HL_EXPLORE_H

#include <stddef.h>
#include <stdint.h>

#include "hl_sched.h"
#include "hostile.h"

struct hl_explore_cfg {
	enum hl_strategy strat;
	uint64_t seed;
	unsigned depth;
	unsigned cpus;
	uint64_t ops;
	unsigned mix;
	uint64_t ckpt;
	size_t max_dec;
	uint8_t *prefix;        /* parse_line allocates; caller frees */
	size_t nprefix;
	int fault;              /* -1 none; else enum hl_fault (fault-injection builds only) */
	unsigned fault_every;
	uint64_t s2p_shard_pages;      /* issue 11: s2page in shards of this many pages (0: one object) */
	uint64_t npt_host_shard_mib;   /* issue 11: npt(host) in shards of this many MiB (0: one object) */
};

void hl_explore_cfg_default(struct hl_explore_cfg *x);

struct hl_explore_result {
	int status;             /* 0 passed, 1 violation, -1 could not run */
	char msg[512];
	uint64_t steps;
	size_t decisions;
	uint64_t points[5];     /* scheduling points reached, by enum hl_sched_kind */
	struct hp_hostile_stats hostile;   /* mix hostile: forbidden actions and their answers */
	uint8_t *next_prefix;   /* exhaustive: the next prefix (NULL when the tree is done) */
	size_t nnext;
};

/* one controlled run with `seed` and the forced choice `prefix` */
void hl_explore_one(const struct hl_explore_cfg *x, uint64_t seed, const uint8_t *prefix, size_t nprefix,
		    struct hl_explore_result *res);
/* the seed of run `run` of a random/pct exploration */
uint64_t hl_explore_run_seed(const struct hl_explore_cfg *x, uint64_t run);
/* "strategy=pct seed=... prefix=0.1" */
void hl_explore_repro(const struct hl_explore_cfg *x, uint64_t seed, const uint8_t *prefix, size_t nprefix,
		      char *buf, size_t len);
int hl_explore_parse(const char *line, struct hl_explore_cfg *x);
/* fault names for --fault (fault-injection builds) */
int hl_explore_fault_parse(const char *name, int *fault);
bool hl_explore_faults_available(void);

#endif

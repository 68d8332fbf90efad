/*
 * hl_sched.h - a deterministic multi-CPU scheduler: the proofs' environment context
 * made concrete.
 *
 * K CPU threads run, but only one at a time: at every scheduling point (each lock
 * acquisition, each object a step starts reading, each record appended to a log, each
 * trap entry, thread start and end) the running thread hands the baton to the thread the
 * strategy picks. A thread that wants a lock someone else holds
 * is not eligible, so no thread ever spins; if nobody is eligible the run has deadlocked
 * (reported, and broken by refusing the waiting acquisitions). A run is a function of
 * its choice sequence, so any run can be replayed exactly.
 */
#ifndef HL_SCHED_H
#define HL_SCHED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hl_engine.h"

enum hl_strategy { HL_STRAT_RANDOM, HL_STRAT_PCT, HL_STRAT_EXHAUSTIVE };
const char *hl_strategy_name(enum hl_strategy s);
int hl_strategy_parse(const char *s, enum hl_strategy *out);

#define HL_SCHED_MAX_CPUS 8

struct hl_sched {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hl_engine *e;
	unsigned ncpus;
	enum hl_strategy strat;
	int running;                       /* CPU holding the baton, -1 none */
	unsigned started;                  /* threads that reached their start point */
	uint8_t state[HL_SCHED_MAX_CPUS];  /* 0 not started, 1 waiting at a point, 2 running, 3 done */
	uint16_t want[HL_SCHED_MAX_CPUS];  /* object a waiting CPU wants (0: none) */
	bool refuse[HL_SCHED_MAX_CPUS];    /* deadlock breaking: refuse its next acquisition */
	uint64_t rng;
	uint64_t steps;
	/* pct */
	unsigned depth;
	int prio[HL_SCHED_MAX_CPUS];
	uint64_t change[16];
	unsigned nchange;
	/* the choice trace: index among the eligible CPUs (in CPU order) at each decision */
	uint8_t *choice, *nalts;
	size_t ndec, cap;
	const uint8_t *forced;             /* replay / exhaustive prefix */
	size_t nforced;
	size_t max_decisions;              /* exhaustive: branch only in the first N decisions */
	uint64_t deadlocks;
	char deadlock_msg[200];
	uint64_t points[5];                /* scheduling points reached, by enum hl_sched_kind */
};

/*
 * Set up for one run. `seed` drives random / pct; `forced` (may be NULL) fixes the first
 * decisions (exhaustive exploration and exact replay); `est_steps` bounds pct's change
 * points.
 */
int hl_sched_init(struct hl_sched *s, struct hl_engine *e, unsigned ncpus, enum hl_strategy strat,
		  uint64_t seed, unsigned depth, uint64_t est_steps, const uint8_t *forced, size_t nforced,
		  size_t max_decisions);
void hl_sched_destroy(struct hl_sched *s);
/* install the scheduling points into the engine (e->cfg.sched_point) */
void hl_sched_attach(struct hl_sched *s);
void hl_sched_detach(struct hl_sched *s);
/* thread hooks: call at the start and end of each CPU thread (platform on_cpu) */
void hl_sched_on_cpu(void *ctx, unsigned cpu, bool start);
/* the engine's scheduling point */
int hl_sched_point(void *ctx, int cpu, unsigned kind, unsigned obj);

/* exhaustive: the next prefix to explore after this run; false when the tree is done */
bool hl_sched_next_prefix(const struct hl_sched *s, uint8_t **prefix, size_t *n);
/* the run's choices as "0.1.0.2" (caller frees) */
char *hl_sched_choices_str(const struct hl_sched *s);
int hl_sched_choices_parse(const char *str, uint8_t **out, size_t *n);

#endif

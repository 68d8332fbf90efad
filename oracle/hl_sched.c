/* hl_sched.c - baton-passing deterministic scheduler with random, PCT and exhaustive choice. */
#include "hl_sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ck_pr.h>

const char *hl_strategy_name(enum hl_strategy s)
{
	switch (s) {
	case HL_STRAT_RANDOM: return "random";
	case HL_STRAT_PCT: return "pct";
	case HL_STRAT_EXHAUSTIVE: return "exhaustive";
	}
	return "?";
}

int hl_strategy_parse(const char *s, enum hl_strategy *out)
{
	if (!strcmp(s, "random"))
		*out = HL_STRAT_RANDOM;
	else if (!strcmp(s, "pct"))
		*out = HL_STRAT_PCT;
	else if (!strcmp(s, "exhaustive"))
		*out = HL_STRAT_EXHAUSTIVE;
	else
		return -1;
	return 0;
}

static uint64_t rnd(struct hl_sched *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545F4914F6CDD1Dull;
}

int hl_sched_init(struct hl_sched *s, struct hl_engine *e, unsigned ncpus, enum hl_strategy strat,
		  uint64_t seed, unsigned depth, uint64_t est_steps, const uint8_t *forced, size_t nforced,
		  size_t max_decisions)
{
	if (ncpus < 1 || ncpus > HL_SCHED_MAX_CPUS)
		return -1;
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->e = e;
	s->ncpus = ncpus;
	s->strat = strat;
	s->running = -1;
	s->rng = (seed + 1) * 0x9E3779B97F4A7C15ull | 1;
	s->forced = forced;
	s->nforced = nforced;
	s->max_decisions = max_decisions ? max_decisions : SIZE_MAX;
	if (strat == HL_STRAT_PCT) {
		/* PCT: distinct random priorities above `depth`, and depth-1 change points */
		s->depth = depth ? depth : 1;
		for (unsigned i = 0; i < ncpus; i++)
			s->prio[i] = (int)(s->depth + i);
		for (unsigned i = ncpus; i > 1; i--) {
			unsigned j = (unsigned)(rnd(s) % i);
			int t = s->prio[i - 1];
			s->prio[i - 1] = s->prio[j];
			s->prio[j] = t;
		}
		s->nchange = s->depth - 1 < 16 ? s->depth - 1 : 16;
		for (unsigned i = 0; i < s->nchange; i++)
			s->change[i] = 1 + rnd(s) % (est_steps ? est_steps : 1000);
	}
	return 0;
}

void hl_sched_destroy(struct hl_sched *s)
{
	free(s->choice);
	free(s->nalts);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

void hl_sched_attach(struct hl_sched *s)
{
	s->e->cfg.sched_ctx = s;
	s->e->cfg.sched_point = hl_sched_point;
}

void hl_sched_detach(struct hl_sched *s)
{
	s->e->cfg.sched_point = NULL;
	s->e->cfg.sched_ctx = NULL;
}

static bool eligible(struct hl_sched *s, unsigned c)
{
	struct hl_lock *lk;

	if (s->state[c] != 1)
		return false;
	if (!s->want[c])
		return true;
	lk = &s->e->locks[s->want[c]];
	return ck_pr_load_int(&lk->owner) == HL_NO_OWNER || hl_lock_is_stranded(lk);
}

static void record(struct hl_sched *s, unsigned pick, unsigned nalt)
{
	if (s->ndec == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 1024;
		uint8_t *a = realloc(s->choice, nc), *b = realloc(s->nalts, nc);
		if (!a || !b) {
			free(a ? a : NULL);
			abort();   /* invariant: the trace of one run fits in memory */
		}
		s->choice = a;
		s->nalts = b;
		s->cap = nc;
	}
	s->choice[s->ndec] = (uint8_t)pick;
	s->nalts[s->ndec] = (uint8_t)nalt;
	s->ndec++;
}

/* pick the next CPU to run; caller holds mu. -1: nobody left. */
static int decide(struct hl_sched *s, int self)
{
	unsigned el[HL_SCHED_MAX_CPUS], n = 0, pick = 0;
	bool alive = false;

	for (unsigned c = 0; c < s->ncpus; c++) {
		if (s->state[c] != 3)
			alive = true;
		if (eligible(s, c))
			el[n++] = c;
	}
	if (!alive)
		return -1;
	if (n == 0) {
		/* everyone alive waits for a lock someone else holds: a deadlock */
		s->deadlocks++;
		if (!s->deadlock_msg[0]) {
			int len = snprintf(s->deadlock_msg, sizeof(s->deadlock_msg), "deadlock at step %llu:",
					   (unsigned long long)s->steps);
			for (unsigned c = 0; c < s->ncpus && len < (int)sizeof(s->deadlock_msg); c++)
				if (s->state[c] == 1) {
					char ob[24];
					len += snprintf(s->deadlock_msg + len, sizeof(s->deadlock_msg) - (size_t)len,
							" cpu %u waits for %s (held by cpu %d);", c,
							hl_obj_name(s->want[c], ob, sizeof(ob)),
							ck_pr_load_int(&s->e->locks[s->want[c]].owner));
				}
		}
		/* break it: refuse the lowest waiting CPU's acquisition */
		for (unsigned c = 0; c < s->ncpus; c++)
			if (s->state[c] == 1) {
				s->refuse[c] = true;
				s->want[c] = 0;
				return (int)c;
			}
		return -1;
	}
	s->steps++;
	if (n > 1 || s->strat == HL_STRAT_EXHAUSTIVE) {
		size_t d = s->ndec;
		if (d < s->nforced)
			pick = s->forced[d] < n ? s->forced[d] : 0;
		else if (s->strat == HL_STRAT_RANDOM)
			pick = (unsigned)(rnd(s) % n);
		else if (s->strat == HL_STRAT_PCT) {
			for (unsigned i = 0; i < s->nchange; i++)
				if (s->change[i] == s->steps && self >= 0)
					s->prio[self] = (int)(s->nchange - 1 - i);   /* demote the running one */
			for (unsigned i = 1; i < n; i++)
				if (s->prio[el[i]] > s->prio[el[pick]])
					pick = i;
		} else {
			pick = 0;   /* exhaustive: the leftmost branch beyond the prefix */
		}
		if (n > 1 && d < s->max_decisions)
			record(s, pick, n);
	}
	(void)self;
	return (int)el[pick];
}

/* hand the baton over and wait until it comes back to `cpu` */
static void yield_to_next(struct hl_sched *s, unsigned cpu)
{
	int next = decide(s, (int)cpu);
	s->running = next;
	if (next >= 0)
		s->state[next] = 2;
	pthread_cond_broadcast(&s->cv);
	while (s->running != (int)cpu)
		pthread_cond_wait(&s->cv, &s->mu);
}

void hl_sched_on_cpu(void *ctx, unsigned cpu, bool start)
{
	struct hl_sched *s = ctx;

	pthread_mutex_lock(&s->mu);
	if (start) {
		s->state[cpu] = 1;
		s->want[cpu] = 0;
		/* the last thread to arrive makes the first decision */
		if (++s->started == s->ncpus) {
			s->running = -2;
			yield_to_next(s, cpu);
		} else {
			while (s->running != (int)cpu)
				pthread_cond_wait(&s->cv, &s->mu);
		}
	} else {
		int next;
		s->state[cpu] = 3;
		next = decide(s, (int)cpu);
		s->running = next;
		if (next >= 0)
			s->state[next] = 2;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
}

int hl_sched_point(void *ctx, int cpu, unsigned kind, unsigned obj)
{
	struct hl_sched *s = ctx;
	int refuse;

	if (cpu < 0 || (unsigned)cpu >= s->ncpus)
		return 0;   /* the maintenance CPU is not scheduled */
	pthread_mutex_lock(&s->mu);
	if (s->running != cpu) {
		/* not under control (setup before the threads start) */
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	if (kind < sizeof(s->points) / sizeof(s->points[0]))
		s->points[kind]++;
	s->state[cpu] = 1;
	/* only an acquisition can wait; a read or an append is a plain preemption point */
	s->want[cpu] = kind == HL_SP_LOCK ? (uint16_t)obj : 0;
	yield_to_next(s, (unsigned)cpu);
	refuse = kind == HL_SP_LOCK && s->refuse[cpu];
	if (kind == HL_SP_LOCK)
		s->refuse[cpu] = false;
	s->want[cpu] = 0;
	pthread_mutex_unlock(&s->mu);
	return refuse;
}

bool hl_sched_next_prefix(const struct hl_sched *s, uint8_t **prefix, size_t *n)
{
	size_t d = s->ndec;

	while (d > 0 && s->choice[d - 1] + 1 >= s->nalts[d - 1])
		d--;
	if (d == 0)
		return false;
	*prefix = malloc(d);
	if (!*prefix)
		return false;
	memcpy(*prefix, s->choice, d);
	(*prefix)[d - 1]++;
	*n = d;
	return true;
}

char *hl_sched_choices_str(const struct hl_sched *s)
{
	char *out = malloc(s->ndec * 4 + 2);
	size_t len = 0;

	if (!out)
		return NULL;
	out[0] = '-';
	out[1] = 0;
	for (size_t i = 0; i < s->ndec; i++)
		len += (size_t)sprintf(out + len, "%s%u", i ? "." : "", s->choice[i]);
	return out;
}

int hl_sched_choices_parse(const char *str, uint8_t **out, size_t *n)
{
	size_t cap = 64, len = 0;
	uint8_t *v = malloc(cap);
	const char *p = str;

	if (!v)
		return -1;
	if (!strcmp(str, "-")) {
		*out = v;
		*n = 0;
		return 0;
	}
	while (*p) {
		char *end;
		unsigned long x = strtoul(p, &end, 10);
		if (end == p || x >= HL_SCHED_MAX_CPUS || (*end && *end != '.')) {
			free(v);
			return -1;
		}
		if (len == cap) {
			uint8_t *nv = realloc(v, cap * 2);
			if (!nv) {
				free(v);
				return -1;
			}
			v = nv;
			cap *= 2;
		}
		v[len++] = (uint8_t)x;
		p = *end ? end + 1 : end;
	}
	*out = v;
	*n = len;
	return 0;
}

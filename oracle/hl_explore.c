/* hl_explore.c - one controlled, checked run; reproducer lines. */
#include "hl_explore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hl_check.h"
#include "hl_osrc.h"
#include "hl_report.h"
#include "hl_testkey.h"
#include "kcore.h"
#include "platform.h"
#include "hl_fault.h"

static const char *const fault_names[] = { "skip-lock", "lock-order", "append-late", "drop-record",
					   "wrong-delta", "halt-release", "reorder",
					   /* the mutation suite's engine bugs (hl_fault.h) */
					   "smmu-lock-order", "clear-no-zero", "vmid-no-bound", "halt-unstrand",
					   "smmu-no-unmap", "revoke-at-zero", "grant-past-max", "verify-no-sig",
					   "dma-no-dec", "smmu-map-over", "vm-map-over", "clear-while-dma",
					   "tlbi-skip", "host-maps-vm", "run-unverified", "smmu-free-keep",
					   "smmu-no-count", "revoke-no-unmap", "relaxed-publish",
					   "clear-while-running", "shard-misroute",
					   /* the bug catalogue (REFERENCE 7, SPEC's halt branches) */
					   "inactive-stays", "grant-logs-clear", "smmu-free-vmid", "assign-halts",
					   "assign-no-fixup", "clear-no-unmap", "io-any-state",
					   "smmu-alloc-verified", "reg-vcpu-any-state", "revoke-no-dec",
					   "assign-no-unmap", "assign-wrong-vmid", "double-assign", "map-vm-level",
					   "smmu-map-any-owner", "map-host-end", "remap-past-end",
					   "smmu-clear-no-count", "smmu-clear-verified", "smmu-free-live",
					   "active-twice", "boot-info-any-state", "remap-any-state",
					   "remap-window-full", "vmid-end", "halt-continue" };
#ifdef HL_FAULT_INJECTION
_Static_assert(sizeof(fault_names) / sizeof(fault_names[0]) == HL_FAULT__COUNT, "one name per fault switch");
#endif

void hl_explore_cfg_default(struct hl_explore_cfg *x)
{
	memset(x, 0, sizeof(*x));
	x->strat = HL_STRAT_RANDOM;
	x->seed = 1;
	x->depth = 3;
	x->cpus = 2;
	x->ops = 40;
	x->mix = HP_MIX_ALL;
	x->max_dec = 12;
	x->fault = -1;
}

bool hl_explore_faults_available(void)
{
#ifdef HL_FAULT_INJECTION
	return true;
#else
	return false;
#endif
}

int hl_explore_fault_parse(const char *name, int *fault)
{
	for (unsigned i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++)
		if (!strcmp(name, fault_names[i])) {
			*fault = (int)i;
			return 0;
		}
	return -1;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xFF51AFD7ED558CCDull;
	x ^= x >> 33;
	x *= 0xC4CEB9FE1A85EC53ull;
	x ^= x >> 33;
	return x;
}

uint64_t hl_explore_run_seed(const struct hl_explore_cfg *x, uint64_t run)
{
	return x->strat == HL_STRAT_EXHAUSTIVE ? x->seed : mix64(x->seed * 0x100000001B3ull + run);
}

static void arm_fault(const struct hl_explore_cfg *x, bool on)
{
#ifdef HL_FAULT_INJECTION
	if (x->fault >= 0)
		hl_fault_set((enum hl_fault)x->fault, on ? (x->fault_every ? x->fault_every : 1) : 0);
#else
	(void)x;
	(void)on;
#endif
}

void hl_explore_one(const struct hl_explore_cfg *x, uint64_t seed, const uint8_t *prefix, size_t nprefix,
		    struct hl_explore_result *res)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	struct kcore *k = NULL;
	struct hp_platform *p = NULL;
	struct hl_sched sched;
	struct hp_cfg pc;
	struct hl_report rep;
	bool sched_ok = false;

	memset(res, 0, sizeof(*res));
	res->status = -1;
	hl_engine_cfg_default(&cfg);
	cfg.ncpus = x->cpus;
	cfg.ckpt_every = x->ckpt;
	cfg.s2page_shard_pages = x->s2p_shard_pages;
	cfg.npt_host_shard_mib = x->npt_host_shard_mib;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);   /* KCore's key 0: the test key (hp_new) */
	/* an injected lock-order fault must reach the checks, not the debug abort */
	e = hl_engine_new(&cfg);
	if (e)
		k = kcore_new(e);
	memset(&pc, 0, sizeof(pc));
	pc.ncpus = x->cpus;
	pc.vms = x->cpus;
	pc.ops = x->ops;
	pc.seed = seed;
	pc.mix = x->mix;
	pc.on_cpu = hl_sched_on_cpu;
	pc.hook_ctx = &sched;
	if (k)
		p = hp_new(e, k, &pc);
	if (p && hl_sched_init(&sched, e, x->cpus, x->strat, seed, x->depth, x->ops * 64, prefix, nprefix,
			       x->strat == HL_STRAT_EXHAUSTIVE ? x->max_dec : 0) == 0)
		sched_ok = true;
	if (!sched_ok) {
		snprintf(res->msg, sizeof(res->msg), "cannot set up the run (out of memory?)");
		goto out;
	}
	res->status = 0;
	if (hp_setup(p) != 0) {
		snprintf(res->msg, sizeof(res->msg), "setup failed: %s",
			 hp_first_error(p) ? hp_first_error(p) : "a CPU halted");
		res->status = 1;
		goto check;
	}
	hl_sched_attach(&sched);
	arm_fault(x, true);
	(void)hp_run(p);
	arm_fault(x, false);
	hl_sched_detach(&sched);
	res->steps = sched.steps;
	res->decisions = sched.ndec;
	if (hp_hostile_of(p))
		hp_hostile_stats_get(hp_hostile_of(p), &res->hostile);
	memcpy(res->points, sched.points, sizeof(res->points));
	if (sched.deadlocks) {
		snprintf(res->msg, sizeof(res->msg), "%s", sched.deadlock_msg);
		res->status = 1;
	} else if (hp_first_error(p)) {
		snprintf(res->msg, sizeof(res->msg), "unexpected behaviour: %s", hp_first_error(p));
		res->status = 1;
	} else if (hp_halted_cpus(p) && !(x->mix & HP_MIX_HOSTILE)) {
		/* (mix hostile: halts are answers to forbidden actions; the oracles judge them) */
		snprintf(res->msg, sizeof(res->msg), "%u CPUs halted", hp_halted_cpus(p));
		res->status = 1;
	}
check:
	/*
	 * The oracles run whatever the workload saw, so the relation behind a failure is named:
	 * a violation comes first in the message, the workload's own report after it.
	 */
	{
		char wl[sizeof(res->msg)], orc[sizeof(res->msg)];
		struct hl_verdict v;

		snprintf(wl, sizeof(wl), "%s", res->status ? res->msg : "");
		orc[0] = 0;
		memset(&v, 0, sizeof(v));
		/* a finished run: every trap returned (SPEC §7's run flow holds at the end) */
		if (hl_check_engine(e, res->steps && !sched.deadlocks ? HL_OSRC_QUIESCED : 0, &v, NULL) != 0)
			snprintf(orc, sizeof(orc), "%s violated at op %u:%llu (cpu %d): %.380s", hl_rel_name(v.rel),
				 (unsigned)(v.op >> 48), (unsigned long long)(v.op & 0xFFFFFFFFFFFFull), v.cpu,
				 v.what);
		else if (hl_report_replay(e, NULL, false, stdout, &rep) != 0)
			snprintf(orc, sizeof(orc), "replay != live: %.400s", rep.why);
		if (orc[0] && wl[0])
			snprintf(res->msg, sizeof(res->msg), "%.280s; the workload saw: %.200s", orc, wl);
		else if (orc[0])
			snprintf(res->msg, sizeof(res->msg), "%s", orc);
		else if (wl[0])
			snprintf(res->msg, sizeof(res->msg), "%.440s (every oracle holds, replay == live)", wl);
		if (orc[0])
			res->status = 1;
	}
	if (x->strat == HL_STRAT_EXHAUSTIVE && !hl_sched_next_prefix(&sched, &res->next_prefix, &res->nnext)) {
		res->next_prefix = NULL;
		res->nnext = 0;
	}
out:
	if (sched_ok)
		hl_sched_destroy(&sched);
	hp_free(p);
	kcore_free(k);
	hl_engine_free(e);
}

void hl_explore_repro(const struct hl_explore_cfg *x, uint64_t seed, const uint8_t *prefix, size_t nprefix,
		      char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len,
				    "strategy=%s seed=%" PRIu64 " depth=%u cpus=%u ops=%" PRIu64
				    " mix=%s ckpt=%" PRIu64 " maxdec=%zu",
				    hl_strategy_name(x->strat), seed, x->depth, x->cpus, x->ops, hp_mix_name(x->mix),
				    x->ckpt, x->max_dec);
	if (x->fault >= 0 && n < len)
		n += (size_t)snprintf(buf + n, len - n, " fault=%s every=%u", fault_names[x->fault],
				      x->fault_every ? x->fault_every : 1);
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, " prefix=%s", nprefix ? "" : "-");
	for (size_t i = 0; i < nprefix && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%u", i ? "." : "", prefix[i]);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* digits only (strtoull would take blanks, a sign, octal and saturate on overflow) */
	if (!(*s >= '0' && *s <= '9') || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int hl_explore_parse(const char *line, struct hl_explore_cfg *x)
{
	char *dup = strdup(line), *save = NULL, *tok;
	int rc = 0;
	uint64_t v = 0;
	bool have_strategy = false, have_seed = false;

	if (!dup)
		return -1;
	for (tok = strtok_r(dup, " \t", &save); tok && !rc; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			rc = -1;
			break;
		}
		*eq++ = 0;
		have_strategy |= !strcmp(tok, "strategy");
		have_seed |= !strcmp(tok, "seed");
		if (!strcmp(tok, "strategy"))
			rc = hl_strategy_parse(eq, &x->strat);
		else if (!strcmp(tok, "seed"))
			rc = parse_u64(eq, 0, UINT64_MAX, &x->seed);
		else if (!strcmp(tok, "depth") && !(rc = parse_u64(eq, 1, 16, &v)))
			x->depth = (unsigned)v;
		else if (!strcmp(tok, "cpus") && !(rc = parse_u64(eq, 1, HL_SCHED_MAX_CPUS, &v)))
			x->cpus = (unsigned)v;
		else if (!strcmp(tok, "ops"))
			rc = parse_u64(eq, 1, 1u << 24, &x->ops);
		else if (!strcmp(tok, "mix"))
			rc = hp_mix_parse(eq, &x->mix);
		else if (!strcmp(tok, "ckpt"))
			rc = parse_u64(eq, 0, 1ull << 40, &x->ckpt);
		else if (!strcmp(tok, "maxdec") && !(rc = parse_u64(eq, 0, 1u << 20, &v)))
			x->max_dec = (size_t)v;
		else if (!strcmp(tok, "fault"))
			rc = hl_explore_fault_parse(eq, &x->fault);
		else if (!strcmp(tok, "every") && !(rc = parse_u64(eq, 1, 1u << 30, &v)))
			x->fault_every = (unsigned)v;
		else if (!strcmp(tok, "prefix")) {
			free(x->prefix);
			x->prefix = NULL;
			rc = hl_sched_choices_parse(eq, &x->prefix, &x->nprefix);
		} else if (strcmp(tok, "depth") && strcmp(tok, "cpus") && strcmp(tok, "maxdec") && strcmp(tok, "every"))
			rc = -1;
	}
	free(dup);
	/* a reproducer always names its strategy and seed (hl_explore_repro): an empty or
	 * partial line is not one, and must not silently become a default run */
	return rc ? rc : (have_strategy && have_seed) ? 0 : -1;
}

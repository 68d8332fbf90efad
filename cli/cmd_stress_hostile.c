/*
 * cmd_stress_hostile.c - `hyplog stress --mix hostile` (issue 10.4): the trap-level host
 * and guests also try every forbidden action class at random (arch/aarch64/hosted/hostile.c).
 *
 * Halts are answers here: a host CPU that touches a VM page, maps a VM page for DMA, runs
 * an unverified VM or exhausts the vmids halts, as the spec says, and may strand objects
 * the other CPUs then cannot take. The run goes on with the CPUs that remain; when none
 * remains (or the epoch's actions are done) the epoch ends, its log is checked by every
 * oracle (hl_check_engine) and replayed (replay == live), and the next epoch starts with a
 * fresh engine, until --ops host actions ran in all.
 *
 * Fails (exit 1) if a forbidden action succeeded (hostile.c saw its effect), if the host
 * model saw unexpected behaviour before any halt, or if any epoch's log breaks a relation.
 * Prints each action class with how KCore answered it: refused / halted / no change.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hl_check.h"
#include "hl_osrc.h"
#include "hl_report.h"
#include "hl_testkey.h"
#include "hostile.h"
#include "kcore.h"
#include "platform.h"

int cmd_stress_hostile(unsigned ncpus, unsigned vms, unsigned long long ops, unsigned long long seed, int quiet,
		       const struct hl_engine_cfg *base)
{
	struct hp_hostile_stats tot;
	uint64_t done = 0, halts = 0, records = 0, steps_checked = 0;
	unsigned epoch = 0;
	int rc = HL_EXIT_OK;
	double t0 = cli_now();
	char why[600] = "";

	memset(&tot, 0, sizeof(tot));
	while (done < ops && rc == HL_EXIT_OK) {
		struct hl_engine_cfg cfg;
		struct hl_engine *e;
		struct kcore *k = NULL;
		struct hp_platform *p = NULL;
		struct hp_cfg pc;
		struct hp_stats st;
		struct hp_hostile_stats hs;
		struct hl_verdict v;
		struct hl_check_stats cs;
		struct hl_report rep;
		struct hl_log_stats ls;

		hl_engine_cfg_default(&cfg);
		cfg.ncpus = ncpus;
		cfg.ckpt_every = 0;
		cfg.s2page_shard_pages = base->s2page_shard_pages;   /* the run's shards (issue 11) */
		cfg.npt_host_shard_mib = base->npt_host_shard_mib;
		cfg.with_ram = true;
		(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);   /* KCore's key 0 (hp_new) */
		e = hl_engine_new(&cfg);
		if (e)
			k = kcore_new(e);
		memset(&pc, 0, sizeof(pc));
		pc.ncpus = ncpus;
		pc.vms = vms;
		pc.ops = ops - done;
		pc.seed = seed + 0x9E3779B97F4A7C15ull * epoch;
		pc.mix = HP_MIX_ALL | HP_MIX_HOSTILE;
		if (k)
			p = hp_new(e, k, &pc);
		if (!p) {
			fprintf(stderr, "hyplog stress: cannot create the platform (out of memory?)\n");
			kcore_free(k);
			hl_engine_free(e);
			return HL_EXIT_MISMATCH;
		}
		if (hp_setup(p) == 0)
			(void)hp_run(p);
		hp_stats(p, -1, &st);
		hp_hostile_stats_get(hp_hostile_of(p), &hs);
		for (unsigned c = 0; c < HC__COUNT; c++)
			for (unsigned a = 0; a < HA__COUNT; a++)
				tot.n[c][a] += hs.n[c][a];
		/* an epoch that could not act at all still counts one, so the run ends */
		done += st.actions ? st.actions : 1;
		halts += __atomic_load_n(&e->halts, __ATOMIC_ACQUIRE);
		hl_engine_log_stats(e, &ls);
		records += ls.records;
		if (hp_first_error(p)) {
			snprintf(why, sizeof(why), "epoch %u: %s", epoch, hp_first_error(p));
			rc = HL_EXIT_MISMATCH;
		}
		/* every epoch's log: every oracle relation, then replay == live */
		memset(&v, 0, sizeof(v));
		memset(&cs, 0, sizeof(cs));
		if (hl_check_engine(e, 0, &v, &cs) != 0) {
			snprintf(why, sizeof(why), "epoch %u: %s violated at op %u:%llu (cpu %d): %.400s", epoch,
				 hl_rel_name(v.rel), (unsigned)(v.op >> 48), (unsigned long long)(v.op & 0xFFFFFFFFFFFFull),
				 v.cpu, v.what);
			rc = HL_EXIT_MISMATCH;
		} else if (hl_report_replay(e, NULL, false, NULL, &rep) != 0) {
			snprintf(why, sizeof(why), "epoch %u: replay != live: %.400s", epoch, rep.why);
			rc = HL_EXIT_MISMATCH;
		}
		steps_checked += cs.inv_steps;
		if (!quiet)
			fprintf(stderr, "stress hostile: epoch %u: %" PRIu64 " actions, %u CPUs halted, %" PRIu64
					" records: %s\n",
				epoch, st.actions, hp_halted_cpus(p), (uint64_t)ls.records, rc ? "FAILED" : "oracles hold");
		hp_free(p);
		kcore_free(k);
		hl_engine_free(e);
		epoch++;
	}
	printf("stress hostile: %" PRIu64 " host actions in %u epochs (fresh engine each), %" PRIu64 " CPU halts, %" PRIu64
	       " records, invariants checked after %" PRIu64 " steps, %.2f s\n",
	       done, epoch, halts, records, steps_checked, cli_now() - t0);
	hp_hostile_print(&tot, stdout);
	uint64_t succeeded = 0;
	for (unsigned c = 0; c < HC__COUNT; c++)
		succeeded += tot.n[c][HA_SUCCEEDED];
	if (rc)
		printf("stress FAILED: %s\n", why);
	else
		printf("stress hostile: every forbidden action refused, halted or without effect; every epoch's "
		       "log holds every relation and replays\n");
	printf("SUMMARY stress-hostile cpus=%u ops=%" PRIu64 " epochs=%u halts=%" PRIu64 " records=%" PRIu64
	       " succeeded=%" PRIu64 " result=%s\n",
	       ncpus, done, epoch, halts, records, succeeded, rc ? "fail" : "ok");
	return rc;
}

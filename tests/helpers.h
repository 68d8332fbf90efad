/* helpers.h - shared fixtures for the Criterion suites. */
#ifndef HL_TEST_HELPERS_H
#define HL_TEST_HELPERS_H

#include <stdint.h>

#include "hl_engine.h"
#include "hl_replay.h"
#include "hl_trans.h"

/* a new engine with `ncpus` CPUs, ticket locks, hosted RAM, lock-order checking on */
struct hl_engine *th_engine(unsigned ncpus);
/* the same with s2page in shards of `pages` pages (issue 11; 0: one object) */
struct hl_engine *th_engine_sharded(unsigned ncpus, uint64_t pages);
/* th_engine with s2page in shards of s2p_pages pages and npt(host) in shards of npt_mib MiB
 * (0: SPEC's one object) */
struct hl_engine *th_engine_shards(unsigned ncpus, uint64_t s2p_pages, uint64_t npt_mib);
/* first RAM pfn + i */
uint64_t th_pfn(unsigned i);
/* delta replay and CalStateH both equal the live state; returns 0 or prints why not */
int th_replay_matches(struct hl_engine *e);
/* every oracle (hl_check_engine on the live logs) holds and th_replay_matches: 0, or -1 with
 * the violated relation in why */
int th_oracle_holds(struct hl_engine *e, char *why, size_t n);
/* number of records in obj's log (since its checkpoint) */
uint64_t th_nrecs(struct hl_engine *e, unsigned obj);
/* the last record appended to obj's log, copied to buf (NULL if none) */
const struct hl_rec *th_last_rec(struct hl_engine *e, unsigned obj, uint8_t *buf, size_t len);
/* register a VM with KCore's key 0 (th_engine provisions the test key there); its vmid */
uint32_t th_new_vm(struct hl_engine *e, int cpu);

#endif

/* Full boot protocol with a real Ed25519-signed image in the 2 MiB RAM block starting at
 * `block_pfn` (512-aligned): register_kvm, 2 vCPUs, boot info, remap, verify. Returns the
 * vmid, 0 on failure. */
uint32_t th_boot_vm(struct hl_engine *e, int cpu, uint64_t block_pfn, uint64_t load_addr);

/* Random concurrent run: `ncpus` threads issue `ops` random operations each (valid,
 * malformed and halting ones) over a few VMs, pages and SMMU banks. */
struct th_run_cfg {
	unsigned ncpus;
	unsigned ops;
	uint64_t seed;
	enum hl_lock_kind lock;
	bool global_lock;
	uint64_t ckpt_every;
	bool reader;            /* also run an RCU reader thread replaying logs meanwhile */
	unsigned chaos;         /* 1 in `chaos` steps is unconstrained (bad input, halts); 0 = none */
	uint64_t s2p_shard_pages;   /* s2page shards (issue 11); 0 = one object */
};
struct hl_engine *th_random_run(const struct th_run_cfg *cfg, uint64_t *steps_out);

/* ---- "snapshot everything / assert unchanged" (SPEC §8: a refused call changes nothing) ----
 * th_snap_take records the digest of every engine object, the record count of every log,
 * a digest of every RAM page, the emulated SMMU register files (when k is not NULL) and
 * the halted CPUs. th_snap_diff compares the present against it and prints each
 * difference to stderr, naming the object / pfn; it returns the number of differences
 * (0 = nothing changed). th_snap_diff_except ignores the listed objects and RAM pages
 * (e.g. a VCPU_RUN's own OVM_ACTIVE / OVM_INACTIVE records on vminfo(vmid) and the exit
 * information it writes into the host's vcpu struct). */
struct kcore;
struct th_snap {
	uint64_t dig[HL_ID_END];    /* SPEC objects' images (a sharded one's covers its shards) */
	uint64_t nrec[HL_OBJ_END];  /* every log, shards included */
	uint64_t *ram;          /* HL_RAM_PAGES page digests (NULL without hosted RAM) */
	uint64_t smmu;          /* digest of k->smmu_dev, 0 without a kcore */
	uint64_t halted;        /* mask of halted CPUs */
};
void th_snap_take(struct hl_engine *e, const struct kcore *k, struct th_snap *s);
unsigned th_snap_diff(struct hl_engine *e, const struct kcore *k, const struct th_snap *s);
unsigned th_snap_diff_except(struct hl_engine *e, const struct kcore *k, const struct th_snap *s,
			     const unsigned *objs, unsigned nobjs, const uint64_t *pfns, unsigned npfns);
void th_snap_free(struct th_snap *s);

/* the hypercall-level fixture: KCore and a hosted platform (HP_MIX_ALL, seed 1, a platform CPU
 * per engine CPU) over engine e, with CPU 0 entered. Returns NULL (and frees what it made, not
 * e) on failure. th_platform_free frees all three. */
struct hp_platform;
struct hp_platform *th_platform(struct hl_engine *e, struct kcore **k);
void th_platform_free(struct hp_platform *p, struct kcore *k, struct hl_engine *e);

/*
 * hl_engine.h - the engine: live state, one lock and one log per object, per-CPU data.
 *
 * Physical CPUs call the transition entry points (hl_trans.h) with their CPU id. Each
 * step takes its locks in the global order (hl_lock.h), checks, applies through the
 * recording writer, appends one record per object it changed, and releases.
 */
#ifndef HL_ENGINE_H
#define HL_ENGINE_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_lock.h"
#include "hl_log.h"
#include "hl_state.h"

struct hl_engine_cfg {
	unsigned ncpus;              /* physical CPUs that will call in (<= HL_NR_CPUS) */
	enum hl_lock_kind lock_kind;
	bool global_lock;            /* benchmark baseline: one lock for every object */
	bool logs_off;               /* benchmark baseline: no deltas, no records */
	bool with_ram;               /* hosted page memory behind flatmem */
	uint64_t ckpt_every;         /* checkpoint an object after this many records (0 = never) */
	size_t log_cap_bytes;        /* cap on log segment memory (0 = unlimited) */
	size_t log_reserve_bytes;    /* log segment memory created and populated by hl_engine_new,
				      * before any CPU calls in (0 = none: segments are made on
				      * demand, in the steps; ignored with logs_off) */
	bool lock_order_check;       /* abort on an out-of-order acquire (default: debug builds) */
	/*
	 * Scheduling points for a controlled (deterministic) run, called on the CPU's own
	 * thread: before every lock acquisition (kind HL_SP_LOCK, obj = object ID), at every
	 * trap entry (HL_SP_TRAP), when a step starts reading an object (HL_SP_READ: right
	 * after its lock is taken, or where a step reaches an object without its lock) and
	 * before every record is appended to a log (HL_SP_APPEND, obj = the log's object;
	 * also an append after the locks were released). NULL in normal runs. For HL_SP_LOCK a
	 * non-zero return refuses the lock (the step fails as if the object were stranded):
	 * how a controlled run gets out of a deadlock it detected; the other kinds ignore it.
	 */
	int (*sched_point)(void *ctx, int cpu, unsigned kind, unsigned obj);
	void *sched_ctx;
	/*
	 * KCore's own image-verification keys (SPEC §11): Ed25519 public keys provisioned by
	 * whoever builds KCore (the hosted engine's configuration; the EL2 image compiles them
	 * in). The host never supplies a key: REGISTER_KVM names one by index < nkeys, and
	 * images are verified against kcore_keys[index]. The default is none (nkeys = 0): every
	 * REGISTER_KVM is refused until a key is provisioned. Immutable after hl_engine_new.
	 */
	uint8_t kcore_keys[HL_MAX_KEYS][32];
	unsigned nkeys;
	/*
	 * The refinement of s2page (issue 11, DESIGN2.md): pages per s2page shard. Each shard
	 * (IDs HL_S2P_SHARD(k)) owns the entries and flatmem digests of its pages, with its own
	 * lock and log; a fault locks only its page's shard. 0, or >= the RAM pages: one s2page
	 * object, SPEC's layout exactly. A size that would need more than HL_S2P_MAX_SHARDS
	 * shards is raised to ceil(RAM pages / HL_S2P_MAX_SHARDS). Default:
	 * HL_S2P_SHARD_PAGES_DEFAULT.
	 */
	uint64_t s2page_shard_pages;
	/*
	 * The refinement of npt(HOSTVISOR) (issue 11, DESIGN2.md "npt(host) shards",
	 * engine/hl_pgtable.h): MiB of host RAM IPA per shard. The host table's RAM tables are
	 * then preallocated at init and each shard (IDs HL_NPTH_SHARD(j)) owns the L3 tables of
	 * its span, with its own lock and log; a host fault or unmap in RAM locks only its
	 * shard. Raised so that at most HL_NPTH_MAX_SHARDS cover RAM; >= RAM: one shard.
	 * 0 (the default): one npt(host) object, SPEC's layout exactly.
	 */
	uint64_t npt_host_shard_mib;
	/*
	 * KCore's own memory (issue 12): RAM ranges s2page starts with owned by COREVISOR (the
	 * EL2 image, whose s2page covers all of the machine's RAM). Default none. Validated by
	 * hl_engine_new (hl_kcore_ranges_valid); a log file's header carries them.
	 */
	struct hl_kcore_ranges kcore;
};

/* the engine's default pages per s2page shard (0: one object) */
#define HL_S2P_SHARD_PAGES_DEFAULT 0u
/* the size stress / bench use for a sharded run: 2 MiB of pages, so 16 CPUs' faults spread */
#define HL_S2P_SHARD_PAGES_SCALE 512u
/* the npt(host) shard span stress / bench use for a sharded run: 4 MiB of host RAM IPA (16
 * shards with 64 MiB of RAM; raised to at most HL_NPTH_MAX_SHARDS with more) */
#define HL_NPTH_SHARD_MIB_SCALE 4u

enum hl_sched_kind { HL_SP_LOCK = 1, HL_SP_TRAP = 2, HL_SP_READ = 3, HL_SP_APPEND = 4 };

void hl_engine_cfg_default(struct hl_engine_cfg *cfg);
/* provision one more KCore key: its index, or -1 if HL_MAX_KEYS are provisioned already */
int hl_engine_cfg_add_key(struct hl_engine_cfg *cfg, const uint8_t pk[32]);

struct hl_engine;

/* Per-CPU data: one cache-line-aligned block per physical CPU, never shared. */
struct hl_cpu {
	int id;
	bool halted;
	unsigned depth;              /* nesting of steps (verify runs steps inside its own) */
	uint64_t op_ctr;
	int in_step;                 /* inside a top-level step (quiescence gate, when enabled) */
	unsigned nheld;
	uint16_t held[HL_MAX_STAGES + 8];   /* object IDs held, in acquisition order */
	hl_mcs_node_t mcs[HL_OBJ_END];
	struct hl_stage stages[2][HL_MAX_STAGES];   /* one set per nesting depth */
	/* statistics */
	uint64_t steps_ok, steps_halt, steps_rejected, records;
} __attribute__((aligned(64)));

/* a seq-0 (initial) object image that a log file carried (engine/hl_file.c), zlib-compressed */
struct hl_seq0_img {
	uint8_t *comp;
	uint64_t clen, raw;
};

/*
 * Cache-line layout (issue 11): every CPU reads cfg, st, cpus, gate_on and ref on every step,
 * so they are kept away from anything a step writes. Each lock (hl_lock.h) and each log header
 * has lines of its own. The segment pool is written by every segment pop (its spin lock, free
 * list and counters) and sits alone at the end, on its own lines: before, its lock word shared
 * a line with ref.s2p_shard_pages (read by every fault's hl_refine_s2p_obj) and its chunk
 * counters one with cpus and gate_on (read by every hl_step_begin), so each pop on one CPU cost
 * every other CPU a miss on its next step (found with bench/fsdetect). halts and gate_closed
 * are written only at a halt and by the live checker's pause, which stop the CPUs anyway.
 */
struct hl_engine {
	struct hl_engine_cfg cfg;
	struct hl_state *st;
	struct hl_cpu *cpus;         /* cfg.ncpus + 1: the last one is the maintenance CPU */
	uint64_t halts;              /* CPUs halted so far */
	struct hl_seq0_img *seq0;    /* HL_OBJ_END entries: the seq-0 images of the file this engine
					was read from (hl_file_read); NULL: it started from
					hl_state_new's initial images */
	int gate_on, gate_closed;    /* quiescence gate (hl_engine_gate_enable) */
	int ckpt_external;           /* steps take no checkpoints: a controller does (hl_live) */
	struct hl_lock locks[HL_OBJ_END];   /* SPEC objects and shards (hl_refine_has_obj) */
	struct hl_lock global;
	struct hl_log logs[HL_OBJ_END];     /* only the objects of ref have a log (base != NULL) */
	struct hl_refine ref;               /* this run's shards; st->ref points here */
	/* written by every segment pop: its own lines, nothing after it (the struct ends) */
	struct hl_segpool pool __attribute__((aligned(HL_CACHELINE)));
};
static_assert(offsetof(struct hl_engine, pool) % HL_CACHELINE == 0 &&
	      offsetof(struct hl_engine, pool) >= offsetof(struct hl_engine, ref) + sizeof(struct hl_refine),
	      "the segment pool starts a cache line after every read-mostly field");
static_assert(sizeof(struct hl_engine) % HL_CACHELINE == 0 &&
	      offsetof(struct hl_engine, locks) % HL_CACHELINE == 0 &&
	      offsetof(struct hl_engine, logs) % HL_CACHELINE == 0 && sizeof(struct hl_log) % HL_CACHELINE == 0,
	      "locks and log headers on lines of their own");
static_assert(offsetof(struct hl_engine, ckpt_external) + sizeof(int) <= offsetof(struct hl_engine, locks),
	      "the per-step read-mostly fields come before the locks");

/*
 * Quiescence gate, for one controller thread (the live checker): hl_engine_pause returns
 * once no CPU is inside a step (steps nest inside a top-level one; between two steps a
 * CPU holds no lock but what a halt stranded) and keeps new steps from starting until
 * hl_engine_resume; a CPU waits at its next step's start, sleeping. The engine is then one
 * consistent state: every step has all its records, none is half done. Enable the gate
 * before the CPUs run (a step only announces itself while it is enabled): one relaxed load
 * per step otherwise. ckpt_external: steps stop taking checkpoints (cfg.ckpt_every); the
 * controller takes them, paused, with hl_engine_checkpoint_all.
 */
void hl_engine_gate_enable(struct hl_engine *e, bool on, bool ckpt_external);
void hl_engine_pause(struct hl_engine *e);
void hl_engine_resume(struct hl_engine *e);

struct hl_engine *hl_engine_new(const struct hl_engine_cfg *cfg);
void hl_engine_free(struct hl_engine *e);
/* the id of the maintenance CPU (checkpoints, dumps) */
static inline int hl_engine_maint_cpu(const struct hl_engine *e) { return (int)e->cfg.ncpus; }
bool hl_cpu_halted(const struct hl_engine *e, int cpu);
/* true if `cpu` holds the lock of `obj` (in global-lock mode: holds the global lock) */
bool hl_engine_held_by(const struct hl_engine *e, int cpu, unsigned obj);
/* number of engine locks `cpu` holds; a trap must return with zero */
unsigned hl_engine_nheld(const struct hl_engine *e, int cpu);
/* is `id` an object of this engine (a SPEC object, or a shard of its map)? */
static inline bool hl_engine_has_obj(const struct hl_engine *e, unsigned id)
{
	return hl_refine_has_obj(&e->ref, id);
}
/* image size of an object of this engine (a shard: its ranges); 0 if none */
static inline size_t hl_engine_obj_size(const struct hl_engine *e, unsigned id)
{
	return hl_refine_obj_size(&e->ref, id);
}
/* build an engine with an explicit refinement map (the file reader: the file's map) */
struct hl_engine *hl_engine_new_refined(const struct hl_engine_cfg *cfg, const struct hl_refine *ref);

/* Checkpoint one object / every object, from the maintenance CPU. Stranded objects are
 * skipped (they never change again). Returns the number of checkpoints taken. */
int hl_engine_checkpoint(struct hl_engine *e, unsigned obj);
int hl_engine_checkpoint_all(struct hl_engine *e);

/* Totals over all logs */
struct hl_log_stats {
	uint64_t records, bytes, checkpoints, live_records;
	size_t seg_bytes_alloc, seg_free;
	uint64_t seg_pops;
};
void hl_engine_log_stats(struct hl_engine *e, struct hl_log_stats *out);

#endif

/*
 * hyplog/hyplog.h - the public API of libhyplog: SeKVM KCore's concurrency core with one lock
 * and one log per object, for embedding in a hypervisor or a test rig.
 *
 * This is a small, stable facade over the engine, the oracles and the hosted platform. The
 * internal headers are not installed and may change between any two versions; what is
 * declared here changes only with the major version (HYPLOG_VERSION_MAJOR), and a soname bump.
 *
 * A session:
 *
 *     struct hyplog_config cfg;
 *     hyplog_config_init(&cfg);                 // defaults; then set ncpus, keys, ...
 *     cfg.ncpus = 2;
 *     hyplog_engine *e = hyplog_engine_new(&cfg, &err);
 *     // each of cfg.ncpus threads calls transitions with its own CPU id (0 .. ncpus-1):
 *     hyplog_map_host(e, cpu, hyplog_ram_base() + 4096 * page);
 *     // when every CPU thread has stopped:
 *     hyplog_write_log(e, "run.hlog", &err);
 *     hyplog_engine_free(e);
 *     hyplog_replay_file("run.hlog", &rep, &err);   // replay == live?
 *     hyplog_check_file("run.hlog", &verdict, &err); // the multi-CPU oracles
 *
 * Threads: a CPU id is used by one thread at a time; different CPUs run concurrently.
 * Every transition takes its objects' locks in the global order, checks, applies, appends one
 * record per object it changed and releases (the host is untrusted: a refused call changes
 * nothing). Link with `pkg-config --cflags --libs hyplog` (add --static for libhyplog.a).
 */
#ifndef HYPLOG_HYPLOG_H
#define HYPLOG_HYPLOG_H

#include <stddef.h>
#include <stdint.h>

#include <hyplog/version.h>   /* HYPLOG_VERSION, HYPLOG_VERSION_MAJOR/MINOR/PATCH */

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library that is running ("MAJOR.MINOR.PATCH"); compare with
 * HYPLOG_VERSION, the version of the headers a program was compiled with. */
const char *hyplog_version(void);

/* ---- results ------------------------------------------------------------------------------- */
/* What a transition returns (stable values). A negative result changed nothing. */
enum hyplog_status {
	HYPLOG_OK = 0,              /* done */
	HYPLOG_HALT = 1,            /* KCore's halt branch ran: this CPU is halted from now on */
	HYPLOG_E_INVAL = -1,        /* malformed argument (from the untrusted host or guest) */
	HYPLOG_E_CPU_HALTED = -2,   /* this CPU halted earlier and runs nothing */
	HYPLOG_E_STRANDED = -3,     /* an object it needs was left locked by a halted CPU */
	HYPLOG_E_NOLOG = -4,        /* the log memory cap is reached */
	HYPLOG_E_NOTSUP = -5,       /* not in this version */
	HYPLOG_E_CPU = -6,          /* no such CPU id */
	HYPLOG_E_DENIED = -7,       /* refused by an isolation rule */
};
/* a short English text for a hyplog_status, never NULL */
const char *hyplog_strstatus(int status);

/* What the file, replay and check calls return besides HYPLOG_OK. */
#define HYPLOG_MISMATCH  1          /* replay != live, or an oracle is violated */
#define HYPLOG_E_FILE    (-100)     /* unreadable or malformed file, or out of memory: see err */

/* Why a call failed, for a person: the message and, for files, the byte offset it concerns. */
struct hyplog_error {
	unsigned long long offset;
	char msg[200];
};

/* ---- the build's fixed sizes ---------------------------------------------------------------- */
struct hyplog_build_info {
	unsigned max_vm;            /* guest VMs (vmid 1 .. max_vm) */
	unsigned vcpus_per_vm;
	unsigned max_cpus;          /* largest hyplog_config.ncpus */
	unsigned max_keys;          /* largest hyplog_config.nkeys */
	uint64_t page_size;
	uint64_t ram_base;          /* physical addresses [ram_base, ram_base + ram_size) are RAM; */
	uint64_t ram_size;          /* below ram_base is MMIO */
};
void hyplog_build_info(struct hyplog_build_info *out);
/* shorthand for hyplog_build_info(..).ram_base */
uint64_t hyplog_ram_base(void);

/* ---- engine --------------------------------------------------------------------------------- */
typedef struct hyplog_engine hyplog_engine;

enum hyplog_lock_kind { HYPLOG_LOCK_TICKET = 0, HYPLOG_LOCK_MCS = 1, HYPLOG_LOCK_MUTEX = 2 };

struct hyplog_config {
	unsigned ncpus;                     /* physical CPUs that call in: 1 .. max_cpus (default 2) */
	enum hyplog_lock_kind lock_kind;    /* default HYPLOG_LOCK_TICKET */
	uint64_t checkpoint_every;          /* checkpoint an object after N records; 0 never (default) */
	uint64_t log_cap_bytes;             /* cap on log memory; 0 unlimited (default) */
	/* KCore's provisioned Ed25519 public keys for VM image verification: a VM names one by
	 * index when it registers (hyplog_register_vm). Default: none, so every registration is
	 * refused until a key is given. */
	unsigned nkeys;
	uint8_t keys[4][32];
};
void hyplog_config_init(struct hyplog_config *cfg);

/* A new engine in KCore's initial state, with its own page memory (RAM) behind it; NULL on a
 * bad configuration or no memory (err says which; err may be NULL). */
hyplog_engine *hyplog_engine_new(const struct hyplog_config *cfg, struct hyplog_error *err);
/* Free an engine. No CPU may be inside a call. NULL is ignored. */
void hyplog_engine_free(hyplog_engine *e);
unsigned hyplog_engine_ncpus(const hyplog_engine *e);
/* non-zero if the CPU ran a halt branch */
int hyplog_cpu_halted(const hyplog_engine *e, int cpu);

/*
 * ---- transitions: KCore's atomic operations, called by physical CPU `cpu` --------------------
 * Addresses are byte addresses, pfn/gfn page frame numbers. Each returns a hyplog_status.
 */
/* host stage-2 fault: map the host page at physical address pa */
int hyplog_map_host(hyplog_engine *e, int cpu, uint64_t pa);
/* register a VM (kvm: the host's handle; key_index < nkeys): its vmid in *vmid */
int hyplog_register_vm(hyplog_engine *e, int cpu, uint64_t kvm, uint32_t key_index, uint32_t *vmid);
int hyplog_register_vcpu(hyplog_engine *e, int cpu, uint32_t vmid, uint32_t vcpuid, uint64_t vcpu);
int hyplog_set_vcpu_active(hyplog_engine *e, int cpu, uint32_t vmid, uint32_t vcpuid);
int hyplog_set_vcpu_inactive(hyplog_engine *e, int cpu, uint32_t vmid, uint32_t vcpuid);
int hyplog_vm_poweroff(hyplog_engine *e, int cpu, uint32_t vmid);
/* give host page pfn to VM vmid at guest frame gfn / take it back (VM powered off) */
int hyplog_assign_page(hyplog_engine *e, int cpu, uint32_t vmid, uint64_t gfn, uint64_t pfn);
int hyplog_clear_vm_page(hyplog_engine *e, int cpu, uint32_t vmid, uint64_t pfn);
/* map a VM's guest address ipa with stage-2 entry pte at level 2 or 3 */
int hyplog_map_vm(hyplog_engine *e, int cpu, uint32_t vmid, uint64_t ipa, uint64_t pte, unsigned level);
int hyplog_map_vm_io(hyplog_engine *e, int cpu, uint32_t vmid, uint64_t gpa, uint64_t pa);
/* share a VM page with the host / stop sharing it */
int hyplog_grant_page(hyplog_engine *e, int cpu, uint32_t vmid, uint64_t pfn);
int hyplog_revoke_page(hyplog_engine *e, int cpu, uint32_t vmid, uint64_t pfn);
/* a VM boot image: load address, size and Ed25519 signature; its index in *load_index */
int hyplog_set_boot_info(hyplog_engine *e, int cpu, uint32_t vmid, uint64_t load_addr, uint64_t size,
			 const uint8_t signature[64], uint32_t *load_index);
int hyplog_remap_image(hyplog_engine *e, int cpu, uint32_t vmid, uint64_t pfn, uint32_t load_index);
/* verify every boot image of the VM against its key: *verified is 1 if all signatures hold */
int hyplog_verify_vm(hyplog_engine *e, int cpu, uint32_t vmid, int *verified);
/* SMMU: allocate / free a context bank's page table, assign a page to it, map and unmap */
int hyplog_smmu_alloc(hyplog_engine *e, int cpu, uint32_t cbndx, uint32_t vmid, uint32_t index);
int hyplog_smmu_free(hyplog_engine *e, int cpu, uint32_t cbndx, uint32_t index);
int hyplog_smmu_assign_page(hyplog_engine *e, int cpu, uint32_t cbndx, uint32_t index, uint64_t pfn,
			    uint64_t gfn);
int hyplog_smmu_map(hyplog_engine *e, int cpu, uint32_t cbndx, uint32_t index, uint64_t iova, uint64_t pte);
int hyplog_smmu_clear(hyplog_engine *e, int cpu, uint32_t cbndx, uint32_t index, uint64_t iova);

/* ---- log files, replay, checks -------------------------------------------------------------- */
/* Write every object's log to path (via path.tmp and a rename). Call it when no CPU is inside
 * a call, so the file's live digests are exact. HYPLOG_OK or HYPLOG_E_FILE. */
int hyplog_write_log(hyplog_engine *e, const char *path, struct hyplog_error *err);

struct hyplog_replay_result {
	uint64_t records;           /* records in the file */
	uint64_t operations;        /* operations CalStateH re-ran */
	int cal_eq_live;            /* Cal<Obj> (each object's log replayed) == the live objects */
	int calh_eq_cal;            /* CalStateH (the whole run re-executed) == Cal<Obj> */
	char why[320];              /* the first disagreement, if any */
};
/* Replay a log file both ways and compare with the live state it recorded: HYPLOG_OK (all
 * agree), HYPLOG_MISMATCH (res->why), or HYPLOG_E_FILE (err). Only regular files are read. */
int hyplog_replay_file(const char *path, struct hyplog_replay_result *res, struct hyplog_error *err);

struct hyplog_verdict {
	const char *relation;       /* the violated relation ("H_CalLock", "security", ...) or NULL */
	uint64_t operations;        /* operations checked */
	char what[320];             /* the violation, for a person */
};
/* Run the multi-CPU oracles (H_CalLock, sync_shared, relate_hlock, serializability, relate_log,
 * relate_oracle, security) over a log file: HYPLOG_OK (every one holds), HYPLOG_MISMATCH
 * (v says which failed first), or HYPLOG_E_FILE (err). */
int hyplog_check_file(const char *path, struct hyplog_verdict *v, struct hyplog_error *err);

#ifdef __cplusplus
}
#endif

#endif

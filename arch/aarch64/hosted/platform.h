/*
 * platform.h - the hosted SMP platform: N pthreads are physical CPUs, each running the
 * same trap code (kcore.h) for an untrusted KVM-style host and scripted guests.
 *
 * Every host memory access walks the engine's real host stage-2 table (software MMU);
 * a miss raises a data abort (ESR EC/ISV/SAS/SRT/WnR, FAR, HPFAR) into kcore_host_trap.
 * Guests run the same way over their own stage-2 tables and exit through the VM exit path.
 *
 * Each CPU owns a slice of RAM and its VMs, so no two host threads ever touch the same
 * page: the data races a real host could cause are outside what the engine logs.
 */
#ifndef HL_PLATFORM_H
#define HL_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "hl_engine.h"
#include "kcore.h"

enum hp_mix {
	HP_MIX_BOOT = 1u << 0,     /* VM lifecycles: register, boot, run, power off, tear down */
	HP_MIX_FAULTS = 1u << 1,   /* host and guest stage-2 faults, memory traffic, MMIO exits */
	HP_MIX_SMMU = 1u << 2,     /* SMMU banks, DMA maps, SMMU register emulation */
	HP_MIX_SHARE = 1u << 3,    /* guest grant / revoke through PV calls */
	HP_MIX_ALL = 0xFu,
	HP_MIX_HOSTILE = 1u << 4,  /* + forbidden actions at random (hostile.c); "hostile" = all + this */
};
int hp_mix_parse(const char *s, unsigned *out);
const char *hp_mix_name(unsigned mix);

struct hp_cfg {
	unsigned ncpus;
	unsigned vms;              /* VMs booted at start, over all CPUs (<= MAX_VM - 1) */
	uint64_t ops;              /* host actions in total */
	uint64_t seed;
	unsigned mix;
	bool forbidden;            /* also try forbidden things (tests only: they halt CPUs) */
	/* called on each CPU thread when it starts (start = true) and ends: lets a
	 * controlled scheduler own the threads (hyplog explore) */
	void (*on_cpu)(void *ctx, unsigned cpu, bool start);
	void *hook_ctx;
};

/* latency histogram: log2 buckets of nanoseconds with 8 linear sub-buckets */
#define HP_LAT_BUCKETS (64 * 8)
struct hp_lat {
	uint64_t n, sum_ns, max_ns;
	uint64_t b[HP_LAT_BUCKETS];
};
uint64_t hp_lat_percentile(const struct hp_lat *l, double p);
void hp_lat_merge(struct hp_lat *dst, const struct hp_lat *src);

struct hp_stats {
	uint64_t actions, traps, errors;
	uint64_t vm_boots, vm_poweroffs, guest_checks, mmio_refused, dma_maps;
	struct hp_lat lat[KC_T__COUNT];
};

struct hp_platform;

/* The host model signs its VMs' images with the test key (shared/hl_testkey.h) and
 * registers them with KCore key index 0: e's configuration must provision hl_testkey_pk
 * first (hl_engine_cfg_add_key), or hp_new fails. */
struct hp_platform *hp_new(struct hl_engine *e, struct kcore *k, const struct hp_cfg *cfg);
void hp_free(struct hp_platform *p);
/* boot each CPU's first VMs (sequentially, for deterministic vmids), then run every CPU */
int hp_setup(struct hp_platform *p);
int hp_run(struct hp_platform *p);
/* actions done so far (for a progress bar; readable while running) */
uint64_t hp_progress(struct hp_platform *p);
/* totals, and per CPU (cpu < ncpus) */
void hp_stats(struct hp_platform *p, int cpu, struct hp_stats *out);
/* first unexpected behaviour seen, or NULL */
const char *hp_first_error(struct hp_platform *p);
unsigned hp_halted_cpus(struct hp_platform *p);

/* ---- single-step access for tests ------------------------------------------------------ */
/* issue a host hypercall on the calling thread (which must be hosted CPU `cpu`) */
int64_t hp_hvc(struct hp_platform *p, unsigned cpu, uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3,
	       uint64_t x4, uint64_t x5);
/* host load / store through the host stage-2 table; false if the CPU halted or the
 * access cannot complete */
bool hp_host_load(struct hp_platform *p, unsigned cpu, uint64_t pa, unsigned size, uint64_t *val);
bool hp_host_store(struct hp_platform *p, unsigned cpu, uint64_t pa, unsigned size, uint64_t val);
/* tests: a host access that stops where the CPU would take a stage-2 fault, without taking
 * it (the spec halts a host CPU that faults on a VM page, which would end a race test).
 * 1: done (through the TLB or a walk); 0: it faulted; -1: halted / cannot complete */
int hp_host_probe(struct hp_platform *p, unsigned cpu, uint64_t pa, unsigned size, bool write, uint64_t *val);
/* become hosted CPU `cpu` (thread-local registers) */
void hp_enter_cpu(struct hp_platform *p, unsigned cpu);
/* the per-CPU TLB model (SPEC §15, platform.c): cached-translation hits, table walks, and
 * invalidations that reached CPU `cpu` */
void hp_tlb_stats(struct hp_platform *p, unsigned cpu, uint64_t *hits, uint64_t *walks, uint64_t *invals);
/* tests: fn(ctx, cpu, pa) runs inside every host RAM access while it is in flight (after
 * the translation, before the bytes move), to widen race windows; NULL: none. Set it
 * before the CPUs run. */
void hp_set_access_hook(struct hp_platform *p, void (*fn)(void *ctx, unsigned cpu, uint64_t pa), void *ctx);

#endif

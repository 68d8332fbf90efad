/*
 * hl_model.h - an independent sequential model of SPEC §6 over abstract maps.
 *
 * The model mirrors the seed's ZMap view of the shared state, not the engine's byte
 * images: per principal `pt : gfn -> (pfn, level, pte)` with pgd/pud/pmd presence sets
 * and three bump pointers (image offsets), per SMMU bank `spt_pt : gfn -> (pfn, pte)`
 * with two presence sets and the pool's two bump pointers, s2page and flatmem per RAM
 * pfn, core_data, vminfo fields and SMMU bank owners. Its transitions are transcribed
 * from the seed's local_* functions with the SPEC §9 corrections and the engine's
 * documented deviations (see the table above each tr_* in engine/hl_trans.c); none of
 * the engine's transition or table-writing code is used.
 *
 * The abstraction function reads an engine state (live or replayed) into a model by
 * walking the real tables; facts name abstract entries so that a checker can compare
 * a model with a state entry by entry, in time proportional to what a step changed.
 */
#ifndef HL_MODEL_H
#define HL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_const.h"
#include "hl_record.h"
#include "hl_state.h"

/* one abstract table entry: the seed's (pfn, level, pte); spt entries have level 3 */
struct hl_mval {
	uint64_t pfn;
	uint64_t pte;
	uint32_t level;
};

/* open-addressing map u64 -> hl_mval (linear probing, backward-shift deletion) */
struct hl_hmap {
	uint64_t *key;          /* key + 1; 0 = empty slot */
	struct hl_mval *val;
	uint32_t cap, n;
};

int hl_hmap_put(struct hl_hmap *h, uint64_t k, const struct hl_mval *v);
const struct hl_mval *hl_hmap_get(const struct hl_hmap *h, uint64_t k);
void hl_hmap_del(struct hl_hmap *h, uint64_t k);
void hl_hmap_clear(struct hl_hmap *h);
void hl_hmap_free(struct hl_hmap *h);

struct hl_mnpt {
	struct hl_hmap pt;                  /* gfn -> (pfn, level, pte) */
	struct hl_hmap pgd, pud, pmd;       /* presence: i0 / i0.i1 / i0.i1.i2 (table exists) */
	uint64_t pgd_next, pud_next, pmd_next;
	uint64_t pgd_start, pud_start, pmd_start, pool_end;
};

struct hl_mspt_bank {
	struct hl_hmap pt;                  /* gfn -> (pfn, 3, pte) */
	struct hl_hmap pgd, pmd;            /* presence: i1 / i1.i2 */
};

struct hl_mload {
	uint64_t load_addr, size, remap_addr, mapped_pages;
	uint8_t signature[64];
};

struct hl_mvminfo {
	uint32_t state, next_load_info;
	uint64_t kvm, inc_exe;
	uint32_t vcpu_state[HL_VCPU_PER_VM];
	uint64_t vcpu[HL_VCPU_PER_VM];
	struct hl_mload load[HL_MAX_LOAD_INFO];
	uint32_t key_idx;   /* KCore key (file header) that verifies the images (SPEC §11) */
};

struct hl_mpage {
	uint32_t owner, count;
	uint64_t gfn;
};

/* abstract entries a step changed (model side) or a delta touched (log side) */
enum hl_fact_kind {
	HL_F_S2P,        /* key = pfn */
	HL_F_FLAT,       /* key = pfn */
	HL_F_CORE,
	HL_F_SMMU,
	HL_F_INFO,       /* id = vmid */
	HL_F_NPT_META,   /* id = princ */
	HL_F_NPT_PRES,   /* id = princ, level 0..2, key = index path */
	HL_F_NPT_LEAF,   /* id = princ, key = first gfn, n gfns */
	HL_F_SPT_META,
	HL_F_SPT_PRES,   /* id = bank, level 1..2 */
	HL_F_SPT_LEAF,   /* id = bank, key = first gfn, n gfns */
	HL_F_SPT_BANK,   /* id = bank: the whole bank */
	HL_F_OBJ,        /* id = object ID: the whole object (fallback) */
};

struct hl_fact {
	uint8_t kind, level;
	uint16_t id;
	uint32_t n;
	uint64_t key;
};

#define HL_MODEL_MAX_FACTS 64u

struct hl_model {
	struct hl_mpage *s2p;               /* HL_RAM_PAGES; pfns outside RAM are {INVALID, 0, INVALID64} */
	uint64_t *flat;                     /* content digest per RAM page */
	uint64_t next_vmid, next_remap_ptr;
	uint32_t smmu_owner[HL_SMMU_CFG_SIZE];
	struct hl_mvminfo info[HL_NR_PRINC];
	struct hl_mnpt npt[HL_NR_PRINC];
	struct hl_mspt_bank spt[HL_SMMU_CFG_SIZE];
	uint64_t spt_pgd_next, spt_pmd_next, spt_pgd_start, spt_pmd_start, spt_pool_end;

	/* facts of the current step */
	struct hl_fact facts[HL_MODEL_MAX_FACTS];
	unsigned nfacts;
	bool facts_overflow;
	bool nomem;

	/* reverse indexes for the incremental security invariants (RAM pfns only) */
	uint32_t *vm_mask;                  /* VMs whose table maps the pfn */
	struct hl_hmap vm_cnt;              /* (vmid << 40 | pfn) -> gfns mapping it (pfn field) */
	uint16_t *smmu_mask;                /* owned banks mapping the pfn */
	uint8_t *smmu_n;                    /* mappings in owned banks */
	struct hl_hmap smmu_ref;            /* (bank << 40 | pfn) -> (count, gfn) */
	bool state_changed[HL_NR_PRINC];
};

struct hl_model *hl_model_new(void);
void hl_model_free(struct hl_model *m);
/* the spec's initial state (what hl_state_new builds, abstractly) */
int hl_model_init(struct hl_model *m);

/* ---- abstraction and comparison ------------------------------------------------------ */
/* read every object of `st` into `m` (walks the real tables); 0 or -1 (no memory) */
int hl_model_abstract(struct hl_model *m, const struct hl_state *st);
int hl_model_abstract_obj(struct hl_model *m, const struct hl_state *st, unsigned obj);

struct hl_model_diff {
	unsigned obj;                       /* first differing object */
	char where[96];                     /* entry, e.g. "pt[0x40123]" */
	char a[160], b[160];                /* the two values */
};
/* first difference between a and b, over every object (obj = HL_ID_END) or one object;
 * returns 1 and fills *d when they differ, 0 when equal */
int hl_model_diff(const struct hl_model *a, const struct hl_model *b, unsigned obj,
		  struct hl_model_diff *d);

/* ---- transitions ---------------------------------------------------------------------- */
struct hl_model_ev {
	unsigned event;
	uint64_t arg[4];
	uint64_t dorc;                      /* data-oracle value taken from the record */
	const uint8_t *blob;
	uint32_t blob_len;
};

struct hl_model_res {
	int status;                         /* HL_OK, HL_HALT or HL_E_INVAL */
	uint64_t ret;
	unsigned nlocks, nstrand;
	uint16_t locks[HL_MAX_STAGES];      /* the SPEC §6 lock set of this execution */
	uint16_t strand[HL_MAX_STAGES];     /* objects the halt branch leaves locked */
};

bool hl_model_valid(unsigned ev, const uint64_t *a);
/* run one atomic event; the changed entries are in m->facts afterwards */
int hl_model_step(struct hl_model *m, const struct hl_model_ev *ev, struct hl_model_res *res);
void hl_model_facts_reset(struct hl_model *m);

/* ---- facts against a state -------------------------------------------------------------- */
/* 0 if m agrees with st at f; 1 with both values described otherwise */
int hl_model_fact_cmp(const struct hl_model *m, const struct hl_state *st, const struct hl_fact *f,
		      struct hl_model_diff *d);
/* copy st's value at f into m (for steps the model cannot re-execute) */
int hl_model_fact_sync(struct hl_model *m, const struct hl_state *st, const struct hl_fact *f);

/* ---- security invariants (REFERENCE §6) ------------------------------------------------ */
/* check the invariants that involve the entries named by facts; 1 + msg on a violation */
int hl_model_inv_facts(struct hl_model *m, const struct hl_fact *f, unsigned n, char *msg, size_t len);
/* every invariant over the whole model (linear in the state) */
int hl_model_inv_all(struct hl_model *m, char *msg, size_t len);

#endif

/*
 * hl_model.h - an independent sequential model of SPEC §6 over abstract maps.
 *
 * What it is written from: the seed's local_* transitions (seeds/004) with the SPEC §9
 * corrections, the isolation rules of SPEC §11-§17 as the lead's DESIGN fixes them
 * (s2page.dma, set-once VM entries, KCore's keys), REFERENCE §4.6 (local_mmap_h,
 * local_spt_map_h), REFERENCE §6 (Security/Invs.v shared_inv) for the invariants, and the
 * Arm ARM for the table format (oracle/hl_mpt.h). It depends on shared/ (hl_const.h,
 * hl_types.h, hl_record.h, hl_images.h, hl_pool.h, hl_config.h), libsodium and libxxhash
 * only: no engine header and no engine function, so a mistake the engine makes is not
 * one the model shares.
 *
 * The model mirrors the seed's ZMap view of the shared state: per principal
 * `pt : gfn -> (pfn, level, pte)` with pgd/pud/pmd presence sets and three bump pointers
 * (image offsets), per SMMU bank `spt_pt : gfn -> (pfn, pte)` with two presence sets and
 * the pool's two bump pointers, s2page {owner, count, gfn, dma} and flatmem per RAM pfn,
 * core_data, vminfo fields and SMMU bank owners. A state comes in as raw object images
 * (struct hl_images: a log file's snapshots / Cal<Obj>, or a live engine serialised), read
 * by the model's own decoder; facts name abstract entries so that a checker can compare a
 * model with images entry by entry, in time proportional to what a step changed.
 *
 * API changes in this round (issue 10; for oracle/hl_check.c and other callers):
 *   - every `const struct hl_state *st` parameter is now `const struct hl_images *im`
 *     (hl_model_abstract, hl_model_abstract_obj, hl_model_fact_cmp, hl_model_fact_sync).
 *     The hl_state compatibility layer (hl_model_compat.c) is gone: a caller that has an
 *     engine state views its object images as an hl_images itself (no model file includes
 *     an engine header).
 *   - hl_model_set_keys(m, keys): KCore's public keys (the file header's); OVERIFY's
 *     verdict is recomputed from them, the record's per-image digests (blob) and the
 *     vminfo signatures, never taken from the record's dorc.
 *   - hl_model_init_cmp(seq0, d): the spec's initial state, built by the model alone,
 *     against a file's seq-0 images (abstraction and raw pool metadata).
 *   - struct hl_mpage gains `dma`; struct hl_mvminfo has `key_idx` (no public key).
 *   - struct hl_model_res gains `verdict` and `dorc_mismatch` (OVERIFY only).
 *   - hl_model_step may return HL_E_DENIED (SPEC §12-§13 refusals: nothing changes).
 *   - struct hl_mval moved to hl_mpt.h (included here), which also exports the model's own
 *     table decoder (hl_mpt_open, hl_mpt_npt_leaf / spt_leaf / *_pres / *_scan) and layout
 *     (hl_mpt_layout, hl_mpt_obj_size) for checkers that must not use the engine's.
 *   - presence facts (HL_F_NPT_PRES / HL_F_SPT_PRES) also compare "a link outside the pool"
 *     (struct hl_mnpt / hl_mspt_bank .stray); such a link is a security violation.
 *   - semantics: OBOOT_INFO halts on an empty image (pgnum == 0), as the seed's
 *     local_set_boot_info does.
 *   - hl_model_valid() additionally refuses OMAP_IO of KCore's SMMU windows and
 *     OREG_KVM key indexes >= HL_MAX_KEYS; the step refuses key_idx >= the set's nkeys.
 */
#ifndef HL_MODEL_H
#define HL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_const.h"
#include "hl_images.h"
#include "hl_mpt.h"
#include "hl_record.h"

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
	struct hl_hmap stray;               /* (level << 32 | key) -> table links leaving the pool */
	uint64_t pgd_next, pud_next, pmd_next;
	uint64_t pgd_start, pud_start, pmd_start, pool_end;
	uint64_t pool_pa;                   /* where the pool lives (hosted constant or real PA) */
};

struct hl_mspt_bank {
	struct hl_hmap pt;                  /* gfn -> (pfn, 3, pte) */
	struct hl_hmap pgd, pmd;            /* presence: i1 / i1.i2 */
	struct hl_hmap stray;               /* (level << 32 | key) -> table links leaving the pool */
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
	uint32_t dma;       /* SMMU entries (any bank) whose output page is this pfn (SPEC §12) */
};

/* abstract entries a step changed (model side) or a delta touched (log side) */
enum hl_fact_kind {
	HL_F_S2P,        /* key = pfn */
	HL_F_FLAT,       /* key = pfn */
	HL_F_CORE,
	HL_F_SMMU,       /* key = bank, or >= HL_SMMU_CFG_SIZE: every bank */
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
#define HL_MODEL_MAX_LOCKS 8u
#define HL_MODEL_MAX_READS 1024u

/* the s2page entries (RAM pfns) one hl_model_step read, so that a checker of a refined log
 * can ask whether the step held the lock of the shard holding each (issue 11); `over`:
 * more than fit (the list is then incomplete: the checker skips what is missing) */
struct hl_mreads {
	uint64_t pfn[HL_MODEL_MAX_READS];
	unsigned n;
	bool over;
	bool on;                            /* inside hl_model_step */
	/* the host table's level-3 entries (gfns) the step read or wrote through mmap_h /
	 * host_unmap: with npt(host) in shards, each lies in a shard (or the residual) */
	uint64_t hgfn[64];
	unsigned nh;
	bool hover;
};

struct hl_model {
	struct hl_mpage *s2p;               /* HL_RAM_PAGES; pfns outside RAM are {INVALID, 0, INVALID64, 0} */
	uint64_t *flat;                     /* content digest per RAM page */
	uint64_t next_vmid, next_remap_ptr;
	uint32_t smmu_owner[HL_SMMU_CFG_SIZE];
	struct hl_mvminfo info[HL_NR_PRINC];
	struct hl_mnpt npt[HL_NR_PRINC];
	struct hl_mspt_bank spt[HL_SMMU_CFG_SIZE];
	uint64_t spt_pgd_next, spt_pmd_next, spt_pgd_start, spt_pmd_start, spt_pool_end, spt_pool_pa;
	struct hl_keyset keys;              /* KCore's public keys (hl_model_set_keys) */
	/* KCore's own RAM ranges (hl_model_set_kcore, a version-7 file's): hl_model_init gives
	 * their pfns {COREVISOR, 0, INVALID64, 0} (issue 12) */
	unsigned kcore_n;
	uint64_t kcore_base[4], kcore_size[4];

	/* facts of the current step */
	struct hl_fact facts[HL_MODEL_MAX_FACTS];
	struct hl_mreads *reads;            /* s2page entries the current step read */
	unsigned nfacts;
	bool facts_overflow;
	bool nomem;

	/* reverse indexes for the incremental security invariants (RAM pfns only) */
	uint32_t *vm_mask;                  /* VMs whose table maps the pfn */
	struct hl_hmap vm_cnt;              /* (vmid << 40 | pfn) -> gfns mapping it (pfn field) */
	uint16_t *smmu_mask;                /* banks (free or owned) with an entry for the pfn */
	uint32_t *smmu_n;                   /* entries in every bank (what dma must equal) */
	uint32_t *smmu_hn;                  /* entries in host-owned banks (what a host count must equal) */
	struct hl_hmap smmu_ref;            /* (bank << 40 | pfn) -> (count, gfn) */
	bool state_changed[HL_NR_PRINC];
	uint64_t touched[32];               /* pfns whose table / SMMU references moved this step */
	unsigned ntouched;
	bool touched_all;                   /* more than fit: hl_model_inv_facts checks every page */
};

struct hl_model *hl_model_new(void);
void hl_model_free(struct hl_model *m);
/* the spec's initial state, built by the model alone (hosted pool placement) */
int hl_model_init(struct hl_model *m);
/* KCore's provisioned public keys (a log file header's); NULL = none */
void hl_model_set_keys(struct hl_model *m, const struct hl_keyset *keys);

/* ---- abstraction and comparison ------------------------------------------------------ */
/* read every object of `im` into `m` with the model's own decoder: 0, -1 (no memory), or
 * -2 (an image has the wrong size or table metadata a walk could leave by) */
int (hl_model_abstract)(struct hl_model *m, const struct hl_images *im);
int (hl_model_abstract_obj)(struct hl_model *m, const struct hl_images *im, unsigned obj);

struct hl_model_diff {
	unsigned obj;                       /* first differing object */
	char where[96];                     /* entry, e.g. "pt[0x40123]" */
	char a[160], b[160];                /* the two values */
};
/* first difference between a and b, over every object (obj = HL_ID_END) or one object;
 * returns 1 and fills *d when they differ, 0 when equal */
int hl_model_diff(const struct hl_model *a, const struct hl_model *b, unsigned obj,
		  struct hl_model_diff *d);
/* the spec's initial state (hl_model_init) against seq-0 images: 0 equal, 1 + *d (a = the
 * spec's value, b = the image's) on the first difference, -1 no memory. Compares the
 * abstraction and the raw table images: metadata (regions, bump pointers, levels, princ),
 * all-zero tables, and a pool placement that is page-aligned (SMMU roots 8 KiB-aligned),
 * outside RAM and disjoint from every other pool (a real PA on EL2, the hosted one else). */
int hl_model_init_cmp(const struct hl_images *seq0, struct hl_model_diff *d);
/* the same with KCore's own RAM ranges (n <= 4; a log file's): SPEC's initial state with
 * their pages owned by COREVISOR (issue 12) */
int hl_model_init_cmp_kcore(const struct hl_images *seq0, unsigned n, const uint64_t *base, const uint64_t *size,
			    struct hl_model_diff *d);
/* the same with every option of the initial state: KCore's ranges (issue 12) and npt(host)
 * in shards (issue 11: the seq-0 host table has the tables of every RAM 2 MiB block
 * preallocated, no leaf; a file says so by refining npt(HOSTVISOR) in its map) */
struct hl_model_init_opts {
	unsigned kcore_n;
	uint64_t kcore_base[4], kcore_size[4];
	bool npth_prealloc;
};
int hl_model_init_cmp_opts(const struct hl_images *seq0, const struct hl_model_init_opts *opt,
			   struct hl_model_diff *d);
/* KCore's own RAM ranges for the next hl_model_init (n <= 4, page aligned, inside RAM) */
void hl_model_set_kcore(struct hl_model *m, unsigned n, const uint64_t *base, const uint64_t *size);

/* ---- transitions ---------------------------------------------------------------------- */
struct hl_model_ev {
	unsigned event;
	uint64_t arg[4];
	uint64_t dorc;                      /* data-oracle value taken from the record */
	const uint8_t *blob;
	uint32_t blob_len;
};

struct hl_model_res {
	int status;                         /* HL_OK, HL_HALT, HL_E_INVAL or HL_E_DENIED */
	uint64_t ret;
	unsigned nlocks, nstrand;
	uint16_t locks[HL_MODEL_MAX_LOCKS]; /* the SPEC §6 lock set of this execution, in order */
	uint16_t strand[HL_MODEL_MAX_LOCKS];/* objects the halt branch leaves locked */
	int verdict;                        /* OVERIFY: 1 verified, 0 not, -1 not decided here */
	bool dorc_mismatch;                 /* OVERIFY: the record's dorc says otherwise */
};

bool hl_model_valid(unsigned ev, const uint64_t *a);
/* run one atomic event; the changed entries are in m->facts afterwards */
int hl_model_step(struct hl_model *m, const struct hl_model_ev *ev, struct hl_model_res *res);
void hl_model_facts_reset(struct hl_model *m);

/* ---- facts against images ------------------------------------------------------------------ */
/* 0 if m agrees with im at f; 1 with both values described otherwise; -1 no memory */
int (hl_model_fact_cmp)(const struct hl_model *m, const struct hl_images *im, const struct hl_fact *f,
			struct hl_model_diff *d);
/* copy im's value at f into m (for steps the model cannot re-execute); -2 corrupt image */
int (hl_model_fact_sync)(struct hl_model *m, const struct hl_images *im, const struct hl_fact *f);

/* ---- security invariants (REFERENCE §6, Security/Invs.v shared_inv) -------------------------
 * Over the model's state (the abstraction of images, or the model's own steps):
 *   pfn 0: s2page says INVALID, and no table (host, VM, SMMU bank) maps pfn 0 as Normal
 *          memory (a valid leaf with MemAttr[3:2] != 0b00);
 *   host table: an identity map that maps only host-owned, INVALID-owned or shared
 *          (count > 0) pages, never a COREVISOR page; host-owned pages have gfn = pfn +
 *          SMMU_HOST_OFFSET;
 *   a VM's table (VM state <= VERIFIED) maps RAM only that VM owns;
 *   SMMU: every bank, free or owned: a free bank maps nothing; an owned bank's entries
 *          point to pages its owner owns with the matching gfn; bank owners < COREVISOR;
 *   s2page.dma == the number of SMMU entries (every bank) mapping the page; a host page's
 *          count == the number of host-bank entries mapping it;
 *   KCore's own memory (COREVISOR-owned pages, every table pool's pages) is mapped by no
 *          host, VM or SMMU table; no table link leaves its pool.
 * Both return 0, or 1 with a message on the first violation. */
int hl_model_inv_facts(struct hl_model *m, const struct hl_fact *f, unsigned n, char *msg, size_t len);
int hl_model_inv_all(struct hl_model *m, char *msg, size_t len);

#endif

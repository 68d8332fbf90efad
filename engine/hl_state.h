/*
 * hl_state.h - one complete copy of the shared state (SPEC §3) as byte images, and the
 * write context that turns every state write into a log delta.
 *
 * The live engine owns one hl_state; replay builds others. All transition code writes
 * through hl_wr*(), so "apply" and "record the delta" cannot drift apart.
 */
#ifndef HL_STATE_H
#define HL_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_const.h"
#include "hl_record.h"
#include "hl_types.h"

/* HL_PT_POOL_PA_BASE, HL_PT_POOL_PA_STRIDE, HL_SPT_POOL_PA: shared with the oracle's model */
#include "hl_pool.h"

struct hl_obj_img {
	uint8_t *base;
	size_t size;
};

/*
 * ---- the refinement map (issue 11, DESIGN2.md): shards of abstract objects ------------------
 *
 * An abstract (SPEC) object `parent` may be refined into shards: engine objects with their
 * own lock and log, each owning fixed byte ranges of the parent's image. The parent's image
 * stays where it is (reads are unchanged); every WRITE through the write context is routed
 * to the shard owning the written bytes, at the shard-local offset (a shard's image is the
 * concatenation of its ranges in ascending abstract offset), and a write that spans two
 * ranges is split in two deltas. A fully sharded parent is never locked or logged itself; a
 * partly sharded one (`residual`) keeps its own lock and log for the bytes no shard owns.
 *
 * Building one (any class):  hl_refine_init(r); hl_refine_add_shard(r, id, parent, ranges,
 * n) for each shard (ids ascending within a parent, ranges ascending and disjoint);
 * hl_refine_finish(r) (validates: no overlap, full cover unless residual). The engine
 * builds its map from its cfg (hl_engine_new), the file reader from the file's map.
 */
#define HL_REFINE_MAX_RANGES 256u

struct hl_range {
	uint64_t off, len;           /* bytes [off, off + len) of the parent's image */
};

struct hl_route {
	uint64_t off, len;           /* an owned range of the parent's image */
	uint64_t local;              /* its offset inside the shard's image */
	uint16_t shard;
};

struct hl_refine {
	unsigned nshards;                        /* shards in the map, all classes */
	uint16_t ids[HL_SHARD_MAX];              /* their IDs, ascending */
	struct {
		uint16_t parent;                 /* 0: this ID is not in the map */
		uint16_t nranges;
		uint32_t first;                  /* index of its first range in ranges[] */
		uint64_t size;                   /* image bytes: sum of its ranges */
	} sh[HL_SHARD_MAX];                      /* by id - HL_ID_END */
	struct hl_range ranges[HL_REFINE_MAX_RANGES];
	uint32_t nranges;
	struct {
		uint32_t first, n;               /* slice of routes[] (n == 0: not sharded) */
		bool residual;                   /* keeps its own lock/log for unowned bytes */
	} parent[HL_ID_END];
	struct hl_route routes[HL_REFINE_MAX_RANGES];   /* per parent, ascending off */
	uint32_t nroutes;
	uint64_t s2p_shard_pages;                /* s2page: pages per shard (0: not sharded) */
	bool finished;
};

void hl_refine_init(struct hl_refine *r);
int hl_refine_add_shard(struct hl_refine *r, unsigned id, unsigned parent, const struct hl_range *rg,
			unsigned n, bool residual);
int hl_refine_finish(struct hl_refine *r);
/* s2page in shards of `pages` pages each (shard k: pages [k*pages, (k+1)*pages) and their
 * flatmem digests); pages == 0 or >= HL_RAM_PAGES: not sharded (SPEC's layout). A size that
 * would give more than HL_S2P_MAX_SHARDS shards is raised to ceil(RAM pages / max). Call
 * before hl_refine_finish. */
int hl_refine_s2page(struct hl_refine *r, uint64_t pages);
/* pages per s2page shard that hl_refine_s2page uses for `pages` (0: one object) */
uint64_t hl_refine_s2page_pages(uint64_t pages);

static inline bool hl_refine_sharded(const struct hl_refine *r, unsigned parent)
{
	return r && parent < HL_ID_END && r->parent[parent].n != 0;
}
/* is `id` a shard in this map? */
static inline bool hl_refine_is_shard(const struct hl_refine *r, unsigned id)
{
	return r && id >= HL_ID_END && id < HL_OBJ_END && r->sh[id - HL_ID_END].parent != 0;
}
/* is `id` an object with a lock and a log in a run with this map (r may be NULL)? */
bool hl_refine_has_obj(const struct hl_refine *r, unsigned id);
/* image size of object id: a SPEC object's, or a shard's (sum of its ranges); 0 if none */
size_t hl_refine_obj_size(const struct hl_refine *r, unsigned id);
/* the object owning byte `off` of parent's image: a shard (local offset in *local, bytes left
 * in that range in *span), or the parent itself (residual or unsharded: *local = off, *span =
 * bytes to the next owned range or the end). HL_INVALID if off is past the image. */
unsigned hl_refine_route(const struct hl_refine *r, unsigned parent, uint64_t off, uint64_t *local,
			 uint64_t *span);
/* s2page: the object that owns pfn's entry (a shard, or HL_S2PAGE_ID when not sharded); a
 * pfn outside RAM (whose entry reads as a constant) maps to the first / last shard */
unsigned hl_refine_s2p_obj(const struct hl_refine *r, uint64_t pfn);
/* s2page shard ids [*lo, *hi] covering pfns [pfn, pfn + n) (n >= 1); HL_S2PAGE_ID both
 * when not sharded */
void hl_refine_s2p_span(const struct hl_refine *r, uint64_t pfn, uint64_t n, unsigned *lo,
			unsigned *hi);

/*
 * KCore's own memory (issue 12): RAM ranges that s2page starts with owned by COREVISOR
 * ({COREVISOR, count 0, gfn INVALID64, dma 0}, flatmem the zero digest): the EL2 image's text,
 * stacks, heap, table pools and logs when s2page covers all of the machine's RAM. The host's
 * faults there reach the engine, whose map_host refuses a page the host does not own (halt,
 * as the seed). Page aligned, size > 0, inside RAM, ascending and disjoint
 * (hl_kcore_ranges_valid). n = 0: SPEC's initial state exactly (every hosted run).
 */
#define HL_MAX_KCORE_RANGES 4
struct hl_kcore_ranges {
	uint32_t n;
	struct {
		uint64_t base, size;
	} r[HL_MAX_KCORE_RANGES];
};
bool hl_kcore_ranges_valid(const struct hl_kcore_ranges *k);
/* is pfn inside one of k's ranges (k may be NULL) */
bool hl_kcore_ranges_has(const struct hl_kcore_ranges *k, uint64_t pfn);

struct hl_state {
	const struct hl_refine *ref;        /* NULL: SPEC's objects only */
	const struct hl_kcore_ranges *kcore; /* NULL: no KCore ranges in s2page (issue 12) */
	struct hl_core_data *core;
	struct hl_s2page_obj *s2p;
	uint8_t *spt;
	struct hl_smmu_obj *smmu;
	uint8_t *npt[HL_NR_PRINC];
	struct hl_vminfo *info[HL_NR_PRINC];
	struct hl_obj_img img[HL_ID_END];   /* img[FLATMEM_ID] aliases s2p->flatmem */
	uint8_t *ram;                       /* hosted page memory (live state only) */
};

/*
 * Where state memory comes from (process-global; set once before the first hl_state_new).
 * The default (every field NULL) is the hosted one: aligned_alloc/free for object images,
 * mmap for page memory, and the fixed fake pool PAs above. A bare-metal build (the EL2
 * image) points the table pools at real memory: page_alloc returns memory the hardware
 * can walk, pool_pa gives its real PA, and ram is the real page memory at HL_RAM_BASE.
 */
struct hl_state_env {
	void *(*page_alloc)(size_t bytes);          /* page-aligned; NULL on failure */
	void (*page_free)(void *p);
	uint64_t (*pool_pa)(const void *img);       /* PA of a pool image's first byte */
	uint8_t *ram;                               /* with_ram: use this, not mmap */
};
void hl_state_set_env(const struct hl_state_env *env);

struct hl_state *hl_state_new(bool with_ram);
void hl_state_free(struct hl_state *st);
/* copy every object image (not RAM) */
void hl_state_copy(struct hl_state *dst, const struct hl_state *src);
/* the initial image of one object, as hl_state_new builds it */
void hl_state_init_obj(struct hl_state *st, unsigned obj);
uint64_t hl_state_obj_digest(const struct hl_state *st, unsigned obj);
/* a shard's image (st->ref) gathered from / scattered into the parent's image; any other
 * object's image copied as it is. buf holds hl_refine_obj_size(st->ref, obj) bytes. */
void hl_state_obj_gather(const struct hl_state *st, unsigned obj, uint8_t *buf);
void hl_state_obj_scatter(struct hl_state *st, unsigned obj, const uint8_t *buf);
/* apply the deltas of a record of `obj` (a shard: shard-local offsets routed into the
 * parent's image); -1 if a delta is out of bounds */
int hl_state_apply(struct hl_state *st, unsigned obj, const struct hl_rec *r);
bool hl_obj_valid(unsigned obj);
/* the image size of object `obj` in every state of this build (0 for invalid IDs) */
size_t hl_obj_image_size(unsigned obj);   /* false for IDs with no state (vminfo(0), vminfo(COREVISOR)) */

/* pool layout of principal v */
void hl_pool_layout_of(unsigned princ, struct hl_pool_layout *lay);
void hl_spt_layout(struct hl_pool_layout *lay);

/* digest of a RAM page's bytes, and of a zero page */
uint64_t hl_page_digest(const void *page);
uint64_t hl_zero_page_digest(void);
uint64_t hl_digest(const void *p, size_t n);

/* s2page access; pfns outside RAM read as {INVALID, 0, INVALID64, dma 0} */
static inline bool hl_pfn_is_ram(uint64_t pfn)
{
	return pfn >= HL_RAM_BASE_PFN && pfn < HL_RAM_BASE_PFN + HL_RAM_PAGES;
}
struct hl_s2page hl_s2page_get(const struct hl_state *st, uint64_t pfn);

/* ---- write context ---------------------------------------------------------------- */
/* objects one step may lock (and write): the SPEC's at most 8, plus every shard */
#define HL_MAX_STAGES (8u + HL_SHARD_MAX)
#define HL_STAGE_ROOM 1768u       /* delta bytes of one record (unchanged by issue 11) */

struct hl_stage {
	uint16_t obj;
	uint16_t ndelta;
	uint32_t used;            /* bytes of deltas in buf */
	uint32_t touched;         /* got a delta */
	uint32_t pad;
	uint8_t buf[HL_REC_MAX - sizeof(struct hl_rec) - HL_BLOB_MAX -
		    HL_MAX_STAGES * sizeof(struct hl_rdep)];
};
static_assert(HL_REC_MAX - sizeof(struct hl_rec) - HL_BLOB_MAX - HL_MAX_STAGES * sizeof(struct hl_rdep) ==
	      HL_STAGE_ROOM, "HL_REC_MAX = header + blob + lock list + HL_STAGE_ROOM");

struct hl_wctx {
	struct hl_state *st;
	bool record;              /* stage deltas (live with logs on, and replay checks) */
	unsigned nstages;
	struct hl_stage *stages;  /* HL_MAX_STAGES, caller-owned (per CPU) */
	uint32_t touched;         /* number of stages that got a delta */
	/* live debug builds: is the shard a write is routed to held by the writer? (NULL: no
	 * check) -- the refinement's "written only under the shard's lock" */
	bool (*held)(void *ctx, unsigned obj);
	void *held_ctx;
};

void hl_wctx_init(struct hl_wctx *w, struct hl_state *st, struct hl_stage *stages, bool record);
struct hl_stage *hl_wctx_stage(struct hl_wctx *w, unsigned obj);
void hl_wr(struct hl_wctx *w, unsigned obj, void *dst, const void *src, uint32_t len);
void hl_wzero(struct hl_wctx *w, unsigned obj, void *dst, uint32_t len);
static inline void hl_wr64(struct hl_wctx *w, unsigned obj, uint64_t *dst, uint64_t v)
{
	hl_wr(w, obj, dst, &v, 8);
}
static inline void hl_wr32(struct hl_wctx *w, unsigned obj, uint32_t *dst, uint32_t v)
{
	hl_wr(w, obj, dst, &v, 4);
}
/* apply a record's deltas to an image (Cal<Obj> step); -1 if a delta is out of bounds */
int hl_apply_deltas(uint8_t *img, size_t size, const struct hl_rec *r);

#endif

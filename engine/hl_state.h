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

struct hl_state {
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
#define HL_MAX_STAGES 8

struct hl_stage {
	uint16_t obj;
	uint16_t ndelta;
	uint32_t used;            /* bytes of deltas in buf */
	uint8_t buf[HL_REC_MAX - sizeof(struct hl_rec) - HL_BLOB_MAX -
		    HL_MAX_STAGES * sizeof(struct hl_rdep)];
};

struct hl_wctx {
	struct hl_state *st;
	bool record;              /* stage deltas (live with logs on, and replay checks) */
	unsigned nstages;
	struct hl_stage *stages;  /* HL_MAX_STAGES, caller-owned (per CPU) */
	uint32_t touched;         /* bitmask over stages that got a delta */
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

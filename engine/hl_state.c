/* hl_state.c - allocation, initial images, digests and the delta-recording writer. */
#include "hl_state.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "hl_pgtable.h"

void hl_pool_layout_of(unsigned princ, struct hl_pool_layout *lay)
{
	lay->root_pages = 1;
	if (princ == HL_HOSTVISOR) {
		lay->pgd_pages = 4;
		lay->pud_pages = 8;
		lay->pmd_pages = HL_CFG_HOST_PMD_PAGES;
	} else if (princ == HL_COREVISOR) {
		lay->pgd_pages = 2;
		lay->pud_pages = 4;
		lay->pmd_pages = HL_CFG_CORE_PMD_PAGES;
	} else {
		lay->pgd_pages = 4;
		lay->pud_pages = 16;
		lay->pmd_pages = HL_CFG_VM_PMD_PAGES;
	}
}

void hl_spt_layout(struct hl_pool_layout *lay)
{
	lay->root_pages = HL_SMMU_CFG_SIZE * 2;
	lay->pgd_pages = 64;    /* L2 tables */
	lay->pud_pages = 0;
	lay->pmd_pages = HL_CFG_SPT_PMD_PAGES;   /* L3 tables */
}

uint64_t hl_digest(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

uint64_t hl_page_digest(const void *page)
{
	return XXH3_64bits(page, HL_PAGE_SIZE);
}

uint64_t hl_zero_page_digest(void)
{
	static uint64_t d;
	static int done;
	if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
		static const uint8_t zero[HL_PAGE_SIZE];
		__atomic_store_n(&d, hl_page_digest(zero), __ATOMIC_RELAXED);
		__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	}
	return __atomic_load_n(&d, __ATOMIC_RELAXED);
}

size_t hl_obj_image_size(unsigned obj)
{
	struct hl_pool_layout lay;

	if (obj == HL_CORE_ID)
		return sizeof(struct hl_core_data);
	if (obj == HL_S2PAGE_ID)
		return sizeof(struct hl_s2page_obj);
	if (obj == HL_SPT_ID) {
		hl_spt_layout(&lay);
		return hl_pt_image_size(&lay);
	}
	if (obj == HL_SMMU_ID)
		return sizeof(struct hl_smmu_obj);
	if (obj >= HL_NPT_ID && obj < HL_INFO_ID) {
		hl_pool_layout_of(obj - HL_NPT_ID, &lay);
		return hl_pt_image_size(&lay);
	}
	if (obj >= HL_INFO_ID && obj < HL_ID_END)
		return sizeof(struct hl_vminfo);
	return 0;
}

bool hl_obj_valid(unsigned obj)
{
	return obj > HL_FLATMEM_ID && obj < HL_ID_END;
}

static struct hl_state_env env;

void hl_state_set_env(const struct hl_state_env *e)
{
	env = *e;
}

static void *page_alloc(size_t size)
{
	size_t n = (size + HL_PAGE_SIZE - 1) & ~(HL_PAGE_SIZE - 1);
	void *p = env.page_alloc ? env.page_alloc(n) : aligned_alloc(HL_PAGE_SIZE, n);
	if (p)
		memset(p, 0, size);
	return p;
}

static void page_free(void *p)
{
	if (env.page_free)
		env.page_free(p);
	else
		free(p);
}

/* PA of a pool image: the real one when the environment knows it, else the fake one */
static uint64_t pool_pa(const void *img, uint64_t fake)
{
	return env.pool_pa ? env.pool_pa(img) : fake;
}

void hl_state_init_obj(struct hl_state *st, unsigned obj)
{
	struct hl_pool_layout lay;

	if (obj == HL_CORE_ID) {
		st->core->next_vmid = 1;
		st->core->next_remap_ptr = HL_REMAP_START;
	} else if (obj == HL_S2PAGE_ID) {
		uint64_t zd = hl_zero_page_digest();
		for (uint64_t i = 0; i < HL_RAM_PAGES; i++) {
			st->s2p->page[i].owner = HL_HOSTVISOR;
			st->s2p->page[i].count = 0;
			st->s2p->page[i].gfn = HL_RAM_BASE_PFN + i + HL_SMMU_HOST_OFFSET;
			st->s2p->page[i].dma = 0;   /* no SMMU entry maps anything yet (SPEC §12) */
			st->s2p->page[i].pad = 0;
			st->s2p->flatmem[i] = zd;   /* RAM starts zeroed */
		}
	} else if (obj == HL_SPT_ID) {
		hl_spt_layout(&lay);
		hl_pt_init(st->spt, &lay, HL_INVALID, pool_pa(st->spt, HL_SPT_POOL_PA), 3);
	} else if (obj == HL_SMMU_ID) {
		for (unsigned i = 0; i < HL_SMMU_CFG_SIZE; i++)
			st->smmu->owner[i] = HL_INVALID;
	} else if (obj >= HL_NPT_ID && obj < HL_INFO_ID) {
		unsigned v = obj - HL_NPT_ID;
		hl_pool_layout_of(v, &lay);
		hl_pt_init(st->npt[v], &lay, v, pool_pa(st->npt[v], HL_PT_POOL_PA_BASE + v * HL_PT_POOL_PA_STRIDE), 4);
	} else if (obj >= HL_INFO_ID && obj < HL_ID_END) {
		memset(st->info[obj - HL_INFO_ID], 0, sizeof(struct hl_vminfo));
	}
}

struct hl_state *hl_state_new(bool with_ram)
{
	struct hl_state *st = calloc(1, sizeof(*st));
	struct hl_pool_layout lay;

	if (!st)
		return NULL;
	st->core = page_alloc(sizeof(*st->core));
	st->s2p = page_alloc(sizeof(*st->s2p));
	hl_spt_layout(&lay);
	st->img[HL_SPT_ID].size = hl_pt_image_size(&lay);
	st->spt = page_alloc(st->img[HL_SPT_ID].size);
	st->smmu = page_alloc(sizeof(*st->smmu));
	if (!st->core || !st->s2p || !st->spt || !st->smmu)
		goto fail;
	st->img[HL_CORE_ID] = (struct hl_obj_img){ (uint8_t *)st->core, sizeof(*st->core) };
	st->img[HL_S2PAGE_ID] = (struct hl_obj_img){ (uint8_t *)st->s2p, sizeof(*st->s2p) };
	st->img[HL_FLATMEM_ID] = (struct hl_obj_img){ (uint8_t *)st->s2p->flatmem,
						      sizeof(st->s2p->flatmem) };
	st->img[HL_SPT_ID].base = st->spt;
	st->img[HL_SMMU_ID] = (struct hl_obj_img){ (uint8_t *)st->smmu, sizeof(*st->smmu) };
	for (unsigned v = 0; v < HL_NR_PRINC; v++) {
		hl_pool_layout_of(v, &lay);
		st->img[HL_NPT_OBJ(v)].size = hl_pt_image_size(&lay);
		st->npt[v] = page_alloc(st->img[HL_NPT_OBJ(v)].size);
		st->info[v] = page_alloc(sizeof(struct hl_vminfo));
		if (!st->npt[v] || !st->info[v])
			goto fail;
		st->img[HL_NPT_OBJ(v)].base = st->npt[v];
		st->img[HL_INFO_OBJ(v)] = (struct hl_obj_img){ (uint8_t *)st->info[v],
							       sizeof(struct hl_vminfo) };
	}
	if (with_ram && env.ram) {
		st->ram = env.ram;
	} else if (with_ram) {
		st->ram = mmap(NULL, HL_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (st->ram == MAP_FAILED) {
			st->ram = NULL;
			goto fail;
		}
	}
	for (unsigned id = 1; id < HL_ID_END; id++)
		hl_state_init_obj(st, id);
	return st;
fail:
	hl_state_free(st);
	return NULL;
}

void hl_state_free(struct hl_state *st)
{
	if (!st)
		return;
	page_free(st->core);
	page_free(st->s2p);
	page_free(st->spt);
	page_free(st->smmu);
	for (unsigned v = 0; v < HL_NR_PRINC; v++) {
		page_free(st->npt[v]);
		page_free(st->info[v]);
	}
	if (st->ram && st->ram != env.ram)
		munmap(st->ram, HL_RAM_SIZE);
	free(st);
}

void hl_state_copy(struct hl_state *dst, const struct hl_state *src)
{
	for (unsigned id = 1; id < HL_ID_END; id++)
		memcpy(dst->img[id].base, src->img[id].base, src->img[id].size);
}

uint64_t hl_state_obj_digest(const struct hl_state *st, unsigned obj)
{
	return XXH3_64bits(st->img[obj].base, st->img[obj].size);
}

struct hl_s2page hl_s2page_get(const struct hl_state *st, uint64_t pfn)
{
	if (!hl_pfn_is_ram(pfn))
		return (struct hl_s2page){ HL_INVALID, 0, HL_INVALID64, 0, 0 };
	return st->s2p->page[pfn - HL_RAM_BASE_PFN];
}

/* ---- write context ------------------------------------------------------------------- */
void hl_wctx_init(struct hl_wctx *w, struct hl_state *st, struct hl_stage *stages, bool record)
{
	w->st = st;
	w->record = record;
	w->nstages = 0;
	w->stages = stages;
	w->touched = 0;
}

struct hl_stage *hl_wctx_stage(struct hl_wctx *w, unsigned obj)
{
	for (unsigned i = 0; i < w->nstages; i++)
		if (w->stages[i].obj == obj)
			return &w->stages[i];
	if (w->nstages == HL_MAX_STAGES)
		abort();   /* invariant: no step touches more than HL_MAX_STAGES objects */
	struct hl_stage *s = &w->stages[w->nstages++];
	s->obj = (uint16_t)obj;
	s->ndelta = 0;
	s->used = 0;
	return s;
}

static void stage_delta(struct hl_wctx *w, unsigned obj, const void *dst, const void *src,
			uint32_t len, bool zero)
{
	struct hl_stage *s = hl_wctx_stage(w, obj);
	uint32_t off = (uint32_t)((const uint8_t *)dst - w->st->img[obj].base);
	uint32_t need = sizeof(struct hl_delta) + (zero ? 0 : HL_ALIGN8(len));
	struct hl_delta d = { .off = off, .len = (uint16_t)len, .flags = zero ? HL_DF_ZERO : 0 };

	if (s->used + need > sizeof(s->buf) || len > 0xFFFF)
		abort();   /* invariant: a step's delta fits one record (HL_REC_MAX) */
	memcpy(s->buf + s->used, &d, sizeof(d));
	if (!zero && len == 8) {
		/* the common case (a descriptor, a digest): fixed-size copy, no libc calls */
		memcpy(s->buf + s->used + sizeof(d), src, 8);
	} else if (!zero) {
		memcpy(s->buf + s->used + sizeof(d), src, len);
		memset(s->buf + s->used + sizeof(d) + len, 0, HL_ALIGN8(len) - len);
	}
	s->used += need;
	s->ndelta++;
	w->touched |= 1u << (s - w->stages);
}

void hl_wr(struct hl_wctx *w, unsigned obj, void *dst, const void *src, uint32_t len)
{
	if (len == 8) {
		uint64_t v;   /* hl_wr64: fixed-size copy instead of a libc memmove call */
		memcpy(&v, src, 8);
		memcpy(dst, &v, 8);
	} else {
		memmove(dst, src, len);
	}
	if (w->record)
		stage_delta(w, obj, dst, dst, len, false);
}

void hl_wzero(struct hl_wctx *w, unsigned obj, void *dst, uint32_t len)
{
	memset(dst, 0, len);
	if (w->record)
		stage_delta(w, obj, dst, NULL, len, true);
}

int hl_apply_deltas(uint8_t *img, size_t size, const struct hl_rec *r)
{
	const struct hl_delta *d = hl_rec_first_delta(r);
	const uint8_t *end = (const uint8_t *)r + r->len;

	for (unsigned i = 0; i < r->ndelta; i++) {
		if ((const uint8_t *)(d + 1) > end)
			return -1;
		if ((uint64_t)d->off + d->len > size)
			return -1;
		if (d->flags & HL_DF_ZERO) {
			memset(img + d->off, 0, d->len);
		} else {
			if ((const uint8_t *)(d + 1) + d->len > end)
				return -1;
			/* descriptors/digests (8) and s2page entries (16) dominate: fixed-size
			 * copies, no libc call */
			if (d->len == 8)
				memcpy(img + d->off, d + 1, 8);
			else if (d->len == 16)
				memcpy(img + d->off, d + 1, 16);
			else
				memcpy(img + d->off, d + 1, d->len);
		}
		d = hl_delta_next(d);
	}
	return 0;
}

/* hl_state.c - allocation, initial images, digests and the delta-recording writer. */
#include "hl_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "hl_pgtable.h"
#include "hl_fault.h"   /* HL_FI(SHARD_MISROUTE): the refinement mutant */

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

static void init_shard(struct hl_state *st, unsigned obj);

bool hl_kcore_ranges_valid(const struct hl_kcore_ranges *k)
{
	uint64_t prev_end = HL_RAM_BASE;

	if (k->n > HL_MAX_KCORE_RANGES)
		return false;
	for (uint32_t i = 0; i < k->n; i++) {
		uint64_t b = k->r[i].base, sz = k->r[i].size;
		if ((b | sz) & (HL_PAGE_SIZE - 1) || sz == 0 || b < prev_end || b >= HL_RAM_BASE + HL_RAM_SIZE ||
		    sz > HL_RAM_BASE + HL_RAM_SIZE - b)
			return false;
		prev_end = b + sz;
	}
	return true;
}

bool hl_kcore_ranges_has(const struct hl_kcore_ranges *k, uint64_t pfn)
{
	for (uint32_t i = 0; k && i < k->n; i++)
		if (pfn >= k->r[i].base / HL_PAGE_SIZE && pfn < (k->r[i].base + k->r[i].size) / HL_PAGE_SIZE)
			return true;
	return false;
}

void hl_state_init_obj(struct hl_state *st, unsigned obj)
{
	struct hl_pool_layout lay;

	if (obj >= HL_ID_END) {
		init_shard(st, obj);
	} else if (obj == HL_CORE_ID) {
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
		/* KCore's own memory (issue 12, hl_kcore_ranges): COREVISOR's from the start */
		for (uint32_t k = 0; st->kcore && k < st->kcore->n; k++)
			for (uint64_t a = st->kcore->r[k].base; a < st->kcore->r[k].base + st->kcore->r[k].size; a += HL_PAGE_SIZE) {
				uint64_t i = a / HL_PAGE_SIZE - HL_RAM_BASE_PFN;
				st->s2p->page[i].owner = HL_COREVISOR;
				st->s2p->page[i].gfn = HL_INVALID64;
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
		/* DEVIATION (issue 11, engine/hl_pgtable.h): a sharded host table starts with
		 * its RAM tables preallocated (SPEC: an empty pool) */
		if (v == HL_HOSTVISOR && hl_refine_sharded(st->ref, obj))
			hl_npth_prealloc(st->npt[v]);
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

/* a residual (a partly sharded parent: npt(host)) */
static bool is_residual(const struct hl_state *st, unsigned obj)
{
	return obj < HL_ID_END && hl_refine_sharded(st->ref, obj) && st->ref->parent[obj].residual;
}

uint64_t hl_state_obj_digest(const struct hl_state *st, unsigned obj)
{
	if (obj >= HL_ID_END || is_residual(st, obj)) {
		size_t n = hl_refine_obj_size(st->ref, obj);
		uint8_t *buf = n ? malloc(n) : NULL;
		uint64_t d;
		if (!buf)
			return 0;
		hl_state_obj_gather(st, obj, buf);
		d = XXH3_64bits(buf, n);
		free(buf);
		return d;
	}
	return XXH3_64bits(st->img[obj].base, st->img[obj].size);
}

struct hl_s2page hl_s2page_get(const struct hl_state *st, uint64_t pfn)
{
	if (!hl_pfn_is_ram(pfn))
		return (struct hl_s2page){ HL_INVALID, 0, HL_INVALID64, 0, 0 };
	return st->s2p->page[pfn - HL_RAM_BASE_PFN];
}

/* ---- the refinement map (hl_state.h) --------------------------------------------------- */
void hl_refine_init(struct hl_refine *r)
{
	memset(r, 0, sizeof(*r));
}

int hl_refine_add_shard(struct hl_refine *r, unsigned id, unsigned parent, const struct hl_range *rg,
			unsigned n, bool residual)
{
	uint64_t size = 0, psize = hl_obj_image_size(parent);

	if (r->finished || id < HL_ID_END || id >= HL_OBJ_END || hl_shard_parent(id) != parent ||
	    r->sh[id - HL_ID_END].parent || n == 0 || n > HL_REFINE_MAX_RANGES - r->nranges ||
	    (r->nshards && r->ids[r->nshards - 1] >= id))
		return -1;
	for (unsigned i = 0; i < n; i++) {
		if (rg[i].len == 0 || rg[i].off > psize || rg[i].len > psize - rg[i].off ||
		    (i && rg[i].off < rg[i - 1].off + rg[i - 1].len))
			return -1;   /* empty, outside the parent, or not ascending and disjoint */
		size += rg[i].len;
	}
	r->sh[id - HL_ID_END].parent = (uint16_t)parent;
	r->sh[id - HL_ID_END].nranges = (uint16_t)n;
	r->sh[id - HL_ID_END].first = r->nranges;
	r->sh[id - HL_ID_END].size = size;
	memcpy(&r->ranges[r->nranges], rg, n * sizeof(*rg));
	r->nranges += n;
	r->ids[r->nshards++] = (uint16_t)id;
	r->parent[parent].residual |= residual;
	return 0;
}

static int route_cmp(const void *a, const void *b)
{
	const struct hl_route *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

int hl_refine_finish(struct hl_refine *r)
{
	r->nroutes = 0;
	for (unsigned p = 1; p < HL_ID_END; p++) {
		uint64_t covered = 0;
		r->parent[p].first = r->nroutes;
		r->parent[p].n = 0;
		for (unsigned k = 0; k < r->nshards; k++) {
			unsigned id = r->ids[k];
			uint64_t local = 0;
			if (r->sh[id - HL_ID_END].parent != p)
				continue;
			for (unsigned i = 0; i < r->sh[id - HL_ID_END].nranges; i++) {
				const struct hl_range *g = &r->ranges[r->sh[id - HL_ID_END].first + i];
				r->routes[r->nroutes++] = (struct hl_route){ g->off, g->len, local, (uint16_t)id };
				local += g->len;
				covered += g->len;
			}
		}
		r->parent[p].n = r->nroutes - r->parent[p].first;
		if (!r->parent[p].n)
			continue;
		qsort(&r->routes[r->parent[p].first], r->parent[p].n, sizeof(r->routes[0]), route_cmp);
		for (unsigned i = 1; i < r->parent[p].n; i++) {
			const struct hl_route *a = &r->routes[r->parent[p].first + i - 1];
			if (a->off + a->len > a[1].off)
				return -1;   /* two shards own one byte */
		}
		if (!r->parent[p].residual && covered != hl_obj_image_size(p))
			return -1;   /* a fully sharded object: every byte has its shard */
	}
	r->finished = true;
	return 0;
}

uint64_t hl_refine_s2page_pages(uint64_t pages)
{
	uint64_t min = (HL_RAM_PAGES + HL_S2P_MAX_SHARDS - 1) / HL_S2P_MAX_SHARDS;

	if (pages == 0 || pages >= HL_RAM_PAGES)
		return 0;
	return pages < min ? min : pages;
}

int hl_refine_s2page(struct hl_refine *r, uint64_t pages)
{
	const uint64_t flat = offsetof(struct hl_s2page_obj, flatmem);

	pages = hl_refine_s2page_pages(pages);
	r->s2p_shard_pages = pages;
	if (!pages || pages >= HL_RAM_PAGES)
		return 0;   /* one object: SPEC's layout */
	for (uint64_t k = 0; k * pages < HL_RAM_PAGES; k++) {
		uint64_t first = k * pages, n = HL_RAM_PAGES - first < pages ? HL_RAM_PAGES - first : pages;
		struct hl_range rg[2] = {
			{ first * sizeof(struct hl_s2page), n * sizeof(struct hl_s2page) },
			{ flat + first * sizeof(uint64_t), n * sizeof(uint64_t) },
		};
		if (hl_refine_add_shard(r, HL_S2P_SHARD(k), HL_S2PAGE_ID, rg, 2, false))
			return -1;
	}
	return 0;
}

bool hl_refine_has_obj(const struct hl_refine *r, unsigned id)
{
	if (id > HL_FLATMEM_ID && id < HL_ID_END)
		return true;
	return hl_refine_is_shard(r, id);
}

size_t hl_refine_obj_size(const struct hl_refine *r, unsigned id)
{
	if (id < HL_ID_END)
		return hl_obj_image_size(id);
	return hl_refine_is_shard(r, id) ? r->sh[id - HL_ID_END].size : 0;
}

unsigned hl_refine_route(const struct hl_refine *r, unsigned parent, uint64_t off, uint64_t *local,
			 uint64_t *span)
{
	uint64_t size = hl_obj_image_size(parent);
	const struct hl_route *rt;
	unsigned lo = 0, hi;

	if (off >= size)
		return HL_INVALID;
	if (!hl_refine_sharded(r, parent)) {
		*local = off;
		*span = size - off;
		return parent;
	}
	rt = &r->routes[r->parent[parent].first];
	hi = r->parent[parent].n;
	/* the last route starting at or below off */
	while (hi - lo > 1) {
		unsigned mid = (lo + hi) / 2;
		if (rt[mid].off <= off)
			lo = mid;
		else
			hi = mid;
	}
	if (rt[lo].off <= off && off < rt[lo].off + rt[lo].len) {
		*local = rt[lo].local + (off - rt[lo].off);
		*span = rt[lo].off + rt[lo].len - off;
		return rt[lo].shard;
	}
	/* unowned: the residual's bytes, up to the next owned range */
	*local = off;
	if (rt[lo].off > off)
		*span = rt[lo].off - off;
	else
		*span = (lo + 1 < r->parent[parent].n ? rt[lo + 1].off : size) - off;
	return r->parent[parent].residual ? parent : HL_INVALID;
}

unsigned hl_refine_s2p_obj(const struct hl_refine *r, uint64_t pfn)
{
	uint64_t k;

	if (!hl_refine_sharded(r, HL_S2PAGE_ID))
		return HL_S2PAGE_ID;
	if (pfn < HL_RAM_BASE_PFN)
		return HL_S2P_SHARD(0);
	k = (pfn - HL_RAM_BASE_PFN) / r->s2p_shard_pages;
	if (k >= r->parent[HL_S2PAGE_ID].n / 2)
		k = r->parent[HL_S2PAGE_ID].n / 2 - 1;   /* past RAM: the last shard */
	return HL_S2P_SHARD(k);
}

void hl_refine_s2p_span(const struct hl_refine *r, uint64_t pfn, uint64_t n, unsigned *lo,
			unsigned *hi)
{
	*lo = hl_refine_s2p_obj(r, pfn);
	*hi = hl_refine_s2p_obj(r, pfn + n - 1);
}

/* visit the pieces of a shard's image: (abstract offset, length), in shard order */
#define FOR_SHARD_RANGES(r, id, g)                                                             \
	for (const struct hl_range *g = &(r)->ranges[(r)->sh[(id) - HL_ID_END].first],        \
				   *g##_end = g + (r)->sh[(id) - HL_ID_END].nranges;             \
	     g < g##_end; g++)

/* a shard's initial bytes: its parent's initial image (built aside), at the shard's ranges */
static void init_shard(struct hl_state *st, unsigned obj)
{
	struct hl_state tmp;
	unsigned parent;
	uint8_t *buf;

	if (!hl_refine_is_shard(st->ref, obj))
		return;
	parent = st->ref->sh[obj - HL_ID_END].parent;
	buf = page_alloc(st->img[parent].size);
	if (!buf)
		abort();   /* replay-side scratch (a few MiB at most) */
	tmp = *st;
	tmp.img[parent].base = buf;
	if (parent == HL_S2PAGE_ID)
		tmp.s2p = (struct hl_s2page_obj *)buf;
	else if (parent >= HL_NPT_ID && parent < HL_INFO_ID)
		tmp.npt[parent - HL_NPT_ID] = buf;
	else
		abort();   /* only s2page and npt(host) have shards (hl_const.h) */
	hl_state_init_obj(&tmp, parent);
	FOR_SHARD_RANGES(st->ref, obj, g)
		memcpy(st->img[parent].base + g->off, buf + g->off, g->len);
	page_free(buf);
}

/*
 * A residual's image (seq-0, snapshots, digests) is the parent's with every shard-owned
 * byte ZERO: the residual's log never writes those bytes, so its own Cal describes exactly
 * that image (DESIGN2.md, H-oracle); scattering it writes only the bytes it owns.
 */
void hl_state_obj_gather(const struct hl_state *st, unsigned obj, uint8_t *buf)
{
	if (!hl_refine_is_shard(st->ref, obj)) {
		memcpy(buf, st->img[obj].base, st->img[obj].size);
		if (is_residual(st, obj))
			for (uint32_t i = 0; i < st->ref->parent[obj].n; i++) {
				const struct hl_route *rt = &st->ref->routes[st->ref->parent[obj].first + i];
				memset(buf + rt->off, 0, rt->len);
			}
		return;
	}
	const uint8_t *base = st->img[st->ref->sh[obj - HL_ID_END].parent].base;
	FOR_SHARD_RANGES(st->ref, obj, g) {
		memcpy(buf, base + g->off, g->len);
		buf += g->len;
	}
}

void hl_state_obj_scatter(struct hl_state *st, unsigned obj, const uint8_t *buf)
{
	if (is_residual(st, obj)) {
		uint64_t at = 0;
		for (uint32_t i = 0; i <= st->ref->parent[obj].n; i++) {
			const struct hl_route *rt = &st->ref->routes[st->ref->parent[obj].first + i];
			uint64_t end = i < st->ref->parent[obj].n ? rt->off : st->img[obj].size;
			memcpy(st->img[obj].base + at, buf + at, end - at);
			if (i < st->ref->parent[obj].n)
				at = rt->off + rt->len;
		}
		return;
	}
	if (!hl_refine_is_shard(st->ref, obj)) {
		memcpy(st->img[obj].base, buf, st->img[obj].size);
		return;
	}
	uint8_t *base = st->img[st->ref->sh[obj - HL_ID_END].parent].base;
	FOR_SHARD_RANGES(st->ref, obj, g) {
		memcpy(base + g->off, buf, g->len);
		buf += g->len;
	}
}

int hl_state_apply(struct hl_state *st, unsigned obj, const struct hl_rec *r)
{
	const struct hl_refine *ref = st->ref;
	const struct hl_delta *d;
	const uint8_t *end;
	uint8_t *base;

	if (!hl_refine_is_shard(ref, obj)) {
		if (obj == 0 || obj >= HL_ID_END)
			return -1;
		return hl_apply_deltas(st->img[obj].base, st->img[obj].size, r);
	}
	/* a shard's delta: shard-local bytes [off, off + len), placed range by range */
	base = st->img[ref->sh[obj - HL_ID_END].parent].base;
	d = hl_rec_first_delta(r);
	end = (const uint8_t *)r + r->len;
	for (unsigned i = 0; i < r->ndelta; i++) {
		uint64_t off, left, pos = 0;
		if ((const uint8_t *)(d + 1) > end)
			return -1;
		if ((uint64_t)d->off + d->len > ref->sh[obj - HL_ID_END].size)
			return -1;
		if (!(d->flags & HL_DF_ZERO) && (const uint8_t *)(d + 1) + d->len > end)
			return -1;
		off = d->off;
		left = d->len;
		FOR_SHARD_RANGES(ref, obj, g) {
			if (!left)
				break;
			if (off >= pos + g->len) {
				pos += g->len;
				continue;
			}
			uint64_t in = off - pos, n = g->len - in < left ? g->len - in : left;
			if (d->flags & HL_DF_ZERO)
				memset(base + g->off + in, 0, n);
			else
				memcpy(base + g->off + in, (const uint8_t *)(d + 1) + (d->len - left), n);
			off += n;
			left -= n;
			pos += g->len;
		}
		d = hl_delta_next(d);
	}
	return 0;
}

/* ---- write context ------------------------------------------------------------------- */
void hl_wctx_init(struct hl_wctx *w, struct hl_state *st, struct hl_stage *stages, bool record)
{
	w->st = st;
	w->record = record;
	w->nstages = 0;
	w->stages = stages;
	w->touched = 0;
	w->held = NULL;
	w->held_ctx = NULL;
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
	s->touched = 0;
	return s;
}

/* one delta of `obj` at image offset `off` (a shard: shard-local) */
static void stage_at(struct hl_wctx *w, unsigned obj, uint32_t off, const void *src, uint32_t len,
		     bool zero)
{
	struct hl_stage *s = hl_wctx_stage(w, obj);
	uint32_t need = sizeof(struct hl_delta) + (zero ? 0 : HL_ALIGN8(len));
	struct hl_delta d = { .off = off, .len = (uint16_t)len, .flags = zero ? HL_DF_ZERO : 0 };

	if (s->used + need > sizeof(s->buf) || len > 0xFFFF)
		abort();   /* invariant: a step's delta fits one record (HL_REC_MAX) */
	memcpy(s->buf + s->used, &d, sizeof(d));
	if (!zero && len == 8) {
		/* the common case (a descriptor, a digest): fixed-size copy, no libc calls */
		memcpy(s->buf + s->used + sizeof(d), src, 8);
	} else if (!zero && len == 16) {
		memcpy(s->buf + s->used + sizeof(d), src, 16);   /* an s2page entry: no libc calls */
	} else if (!zero) {
		memcpy(s->buf + s->used + sizeof(d), src, len);
		memset(s->buf + s->used + sizeof(d) + len, 0, HL_ALIGN8(len) - len);
	}
	s->used += need;
	s->ndelta++;
	if (!s->touched) {
		s->touched = 1;
		w->touched++;
	}
}

/* the neighbour of shard id inside its parent (the SHARD_MISROUTE mutant's target) */
static unsigned misroute(const struct hl_refine *r, unsigned id)
{
	unsigned p = hl_shard_parent(id);
	if (hl_refine_is_shard(r, id + 1) && hl_shard_parent(id + 1) == p)
		return id + 1;
	if (id > HL_ID_END && hl_refine_is_shard(r, id - 1) && hl_shard_parent(id - 1) == p)
		return id - 1;
	return id;
}

/* a write to a sharded object: one delta per shard range it touches (check: held) */
static void stage_routed(struct hl_wctx *w, unsigned obj, const void *dst, uint32_t len, bool zero)
{
	uint64_t off = (uint64_t)((const uint8_t *)dst - w->st->img[obj].base);
	const uint8_t *src = dst;

	while (len) {
		uint64_t local, span;
		unsigned to = hl_refine_route(w->st->ref, obj, off, &local, &span);
		uint32_t n = span < len ? (uint32_t)span : len;
		if (to == HL_INVALID)
			abort();   /* invariant: every byte of a fully sharded object has a shard */
		if (to != obj && HL_FI(SHARD_MISROUTE))
			to = misroute(w->st->ref, to);   /* mutant: the neighbouring shard's log */
		else if (w->held && !w->held(w->held_ctx, to)) {
			char a[32], b[32];
			fprintf(stderr, "hyplog: a write to %s is routed to %s, which the step does not hold\n",
				hl_obj_name(obj, a, sizeof(a)), hl_obj_name(to, b, sizeof(b)));
			abort();
		}
		stage_at(w, to, (uint32_t)local, zero ? NULL : src, n, zero);
		off += n;
		src += n;
		len -= n;
	}
}

static inline void stage_delta(struct hl_wctx *w, unsigned obj, const void *dst, const void *src,
			       uint32_t len, bool zero)
{
	if (w->st->ref && hl_refine_sharded(w->st->ref, obj)) {
		stage_routed(w, obj, dst, len, zero);
		return;
	}
	stage_at(w, obj, (uint32_t)((const uint8_t *)dst - w->st->img[obj].base), src, len, zero);
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

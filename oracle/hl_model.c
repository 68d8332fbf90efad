/*
 * hl_model.c - the sequential model of SPEC §6 over abstract maps, its abstraction
 * function from engine states, the comparison, and the security invariants.
 *
 * Written from the seed's local_* definitions (seeds/004, corrected per SPEC §9) and the
 * transition tables in engine/hl_trans.c; it shares no transition or table code with
 * the engine. The abstraction reads table descriptors itself for the presence sets and
 * uses the engine's walkers (hl_npt_for_each, hl_spt_for_each, hl_*_walk) for leaves.
 */
#include "hl_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hl_pgtable.h"

#define PG HL_PAGE_SIZE
#define RAM_END (HL_RAM_BASE + HL_RAM_SIZE)

static inline uint64_t phys_page(uint64_t d) { return d & HL_DESC_ADDR_MASK; }
static inline bool is_vm(uint64_t v) { return v >= 1 && v <= HL_MAX_VM; }
static inline bool is_ram(uint64_t pfn) { return hl_pfn_is_ram(pfn); }

/* ===================================================================================== */
/* hash map                                                                               */

static inline uint32_t hslot(uint64_t k, uint32_t cap)
{
	return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static int hmap_grow(struct hl_hmap *h)
{
	uint32_t ncap = h->cap ? h->cap * 2 : 64;
	uint64_t *nk = calloc(ncap, sizeof(*nk));
	struct hl_mval *nv = malloc(ncap * sizeof(*nv));

	if (!nk || !nv) {
		free(nk);
		free(nv);
		return -1;
	}
	for (uint32_t i = 0; i < h->cap; i++) {
		uint32_t s;
		if (!h->key[i])
			continue;
		for (s = hslot(h->key[i] - 1, ncap); nk[s]; s = (s + 1) & (ncap - 1))
			;
		nk[s] = h->key[i];
		nv[s] = h->val[i];
	}
	free(h->key);
	free(h->val);
	h->key = nk;
	h->val = nv;
	h->cap = ncap;
	return 0;
}

int hl_hmap_put(struct hl_hmap *h, uint64_t k, const struct hl_mval *v)
{
	uint32_t s;

	if ((h->n + 1) * 4 > h->cap * 3 && hmap_grow(h))
		return -1;
	for (s = hslot(k, h->cap); h->key[s]; s = (s + 1) & (h->cap - 1))
		if (h->key[s] == k + 1) {
			h->val[s] = *v;
			return 0;
		}
	h->key[s] = k + 1;
	h->val[s] = *v;
	h->n++;
	return 0;
}

const struct hl_mval *hl_hmap_get(const struct hl_hmap *h, uint64_t k)
{
	if (!h->n)
		return NULL;
	for (uint32_t s = hslot(k, h->cap); h->key[s]; s = (s + 1) & (h->cap - 1))
		if (h->key[s] == k + 1)
			return &h->val[s];
	return NULL;
}

void hl_hmap_del(struct hl_hmap *h, uint64_t k)
{
	uint32_t s, mask = h->cap - 1;

	if (!h->n)
		return;
	for (s = hslot(k, h->cap); h->key[s]; s = (s + 1) & mask)
		if (h->key[s] == k + 1)
			break;
	if (!h->key[s])
		return;
	/* backward-shift: keep every probe chain unbroken */
	for (uint32_t j = (s + 1) & mask; h->key[j]; j = (j + 1) & mask) {
		uint32_t home = hslot(h->key[j] - 1, h->cap);
		if (((j - home) & mask) >= ((j - s) & mask)) {
			h->key[s] = h->key[j];
			h->val[s] = h->val[j];
			s = j;
		}
	}
	h->key[s] = 0;
	h->n--;
}

void hl_hmap_clear(struct hl_hmap *h)
{
	if (h->cap)
		memset(h->key, 0, h->cap * sizeof(*h->key));
	h->n = 0;
}

void hl_hmap_free(struct hl_hmap *h)
{
	free(h->key);
	free(h->val);
	memset(h, 0, sizeof(*h));
}

static bool hset_has(const struct hl_hmap *h, uint64_t k)
{
	return hl_hmap_get(h, k) != NULL;
}

/* ===================================================================================== */
/* lifetime                                                                               */

struct hl_model *hl_model_new(void)
{
	struct hl_model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->s2p = calloc(HL_RAM_PAGES, sizeof(*m->s2p));
	m->flat = calloc(HL_RAM_PAGES, sizeof(*m->flat));
	m->vm_mask = calloc(HL_RAM_PAGES, sizeof(*m->vm_mask));
	m->smmu_mask = calloc(HL_RAM_PAGES, sizeof(*m->smmu_mask));
	m->smmu_n = calloc(HL_RAM_PAGES, sizeof(*m->smmu_n));
	if (!m->s2p || !m->flat || !m->vm_mask || !m->smmu_mask || !m->smmu_n || hl_model_init(m)) {
		hl_model_free(m);
		return NULL;
	}
	return m;
}

static void npt_free(struct hl_mnpt *t)
{
	hl_hmap_free(&t->pt);
	hl_hmap_free(&t->pgd);
	hl_hmap_free(&t->pud);
	hl_hmap_free(&t->pmd);
}

static void bank_clear(struct hl_mspt_bank *b)
{
	hl_hmap_clear(&b->pt);
	hl_hmap_clear(&b->pgd);
	hl_hmap_clear(&b->pmd);
}

void hl_model_free(struct hl_model *m)
{
	if (!m)
		return;
	for (unsigned v = 0; v < HL_NR_PRINC; v++)
		npt_free(&m->npt[v]);
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++) {
		hl_hmap_free(&m->spt[b].pt);
		hl_hmap_free(&m->spt[b].pgd);
		hl_hmap_free(&m->spt[b].pmd);
	}
	hl_hmap_free(&m->vm_cnt);
	hl_hmap_free(&m->smmu_ref);
	free(m->s2p);
	free(m->flat);
	free(m->vm_mask);
	free(m->smmu_mask);
	free(m->smmu_n);
	free(m);
}

static void npt_bounds(struct hl_mnpt *t, unsigned v)
{
	struct hl_pool_layout lay;

	hl_pool_layout_of(v, &lay);
	t->pgd_start = (1 + lay.root_pages) * PG;
	t->pud_start = t->pgd_start + lay.pgd_pages * PG;
	t->pmd_start = t->pud_start + lay.pud_pages * PG;
	t->pool_end = t->pmd_start + lay.pmd_pages * PG;
}

int hl_model_init(struct hl_model *m)
{
	struct hl_pool_layout lay;
	uint64_t zd = hl_zero_page_digest();

	for (uint64_t i = 0; i < HL_RAM_PAGES; i++) {
		m->s2p[i] = (struct hl_mpage){ HL_HOSTVISOR, 0, HL_RAM_BASE_PFN + i + HL_SMMU_HOST_OFFSET };
		m->flat[i] = zd;
		m->vm_mask[i] = 0;
		m->smmu_mask[i] = 0;
		m->smmu_n[i] = 0;
	}
	m->next_vmid = 1;
	m->next_remap_ptr = HL_REMAP_START;
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++) {
		m->smmu_owner[b] = HL_INVALID;
		bank_clear(&m->spt[b]);
	}
	memset(m->info, 0, sizeof(m->info));
	for (unsigned v = 0; v < HL_NR_PRINC; v++) {
		struct hl_mnpt *t = &m->npt[v];
		hl_hmap_clear(&t->pt);
		hl_hmap_clear(&t->pgd);
		hl_hmap_clear(&t->pud);
		hl_hmap_clear(&t->pmd);
		npt_bounds(t, v);
		t->pgd_next = t->pgd_start;
		t->pud_next = t->pud_start;
		t->pmd_next = t->pmd_start;
	}
	hl_spt_layout(&lay);
	m->spt_pgd_start = (1 + lay.root_pages) * PG;
	m->spt_pmd_start = m->spt_pgd_start + (lay.pgd_pages + lay.pud_pages) * PG;
	m->spt_pool_end = m->spt_pmd_start + lay.pmd_pages * PG;
	m->spt_pgd_next = m->spt_pgd_start;
	m->spt_pmd_next = m->spt_pmd_start;
	hl_hmap_clear(&m->vm_cnt);
	hl_hmap_clear(&m->smmu_ref);
	memset(m->state_changed, 0, sizeof(m->state_changed));
	hl_model_facts_reset(m);
	m->nomem = false;
	return 0;
}

/* ===================================================================================== */
/* setters: every model write goes through one, so facts and reverse indexes follow      */

void hl_model_facts_reset(struct hl_model *m)
{
	m->nfacts = 0;
	m->facts_overflow = false;
	memset(m->state_changed, 0, sizeof(m->state_changed));
}

static void fact(struct hl_model *m, unsigned kind, unsigned id, unsigned level, uint64_t key, uint32_t n)
{
	if (m->nfacts && m->facts[m->nfacts - 1].kind == kind && m->facts[m->nfacts - 1].id == id &&
	    m->facts[m->nfacts - 1].key == key && m->facts[m->nfacts - 1].level == level)
		return;
	if (m->nfacts == HL_MODEL_MAX_FACTS) {
		m->facts_overflow = true;
		return;
	}
	m->facts[m->nfacts++] = (struct hl_fact){ (uint8_t)kind, (uint8_t)level, (uint16_t)id, n, key };
}

static void put(struct hl_model *m, struct hl_hmap *h, uint64_t k, const struct hl_mval *v)
{
	if (hl_hmap_put(h, k, v))
		m->nomem = true;
}

static const struct hl_mval one = { 1, 0, 0 };

static struct hl_mpage page_of(const struct hl_model *m, uint64_t pfn)
{
	if (!is_ram(pfn))
		return (struct hl_mpage){ HL_INVALID, 0, HL_INVALID64 };
	return m->s2p[pfn - HL_RAM_BASE_PFN];
}

static void set_page(struct hl_model *m, uint64_t pfn, uint32_t owner, uint32_t count, uint64_t gfn)
{
	m->s2p[pfn - HL_RAM_BASE_PFN] = (struct hl_mpage){ owner, count, gfn };
	fact(m, HL_F_S2P, 0, 0, pfn, 1);
}

static void set_flat(struct hl_model *m, uint64_t pfn, uint64_t v)
{
	m->flat[pfn - HL_RAM_BASE_PFN] = v;
	fact(m, HL_F_FLAT, 0, 0, pfn, 1);
}

static void vm_ref(struct hl_model *m, unsigned v, uint64_t pfn, int d)
{
	uint64_t k = ((uint64_t)v << 40) | pfn;
	const struct hl_mval *c = hl_hmap_get(&m->vm_cnt, k);
	uint64_t n = (c ? c->pfn : 0) + (uint64_t)(int64_t)d;
	struct hl_mval nv = { n, 0, 0 };

	if (!is_ram(pfn) || !is_vm(v))
		return;
	if (n == 0 || (int64_t)n < 0) {
		hl_hmap_del(&m->vm_cnt, k);
		m->vm_mask[pfn - HL_RAM_BASE_PFN] &= ~(1u << v);
	} else {
		put(m, &m->vm_cnt, k, &nv);
		m->vm_mask[pfn - HL_RAM_BASE_PFN] |= 1u << v;
	}
}

/* mappings of owned banks only: a freed bank's stale tables map nothing */
static void smmu_ref(struct hl_model *m, unsigned bank, uint64_t pfn, uint64_t gfn, int d)
{
	uint64_t k = ((uint64_t)bank << 40) | pfn;
	const struct hl_mval *c;
	uint64_t n;
	size_t i;

	if (!is_ram(pfn) || m->smmu_owner[bank] == HL_INVALID)
		return;
	i = pfn - HL_RAM_BASE_PFN;
	c = hl_hmap_get(&m->smmu_ref, k);
	n = (c ? c->pfn : 0) + (uint64_t)(int64_t)d;
	if (n == 0 || (int64_t)n < 0) {
		hl_hmap_del(&m->smmu_ref, k);
		m->smmu_mask[i] &= (uint16_t)~(1u << bank);
	} else {
		struct hl_mval nv = { n, d > 0 ? gfn : (c ? c->pte : gfn), 0 };
		put(m, &m->smmu_ref, k, &nv);
		m->smmu_mask[i] |= (uint16_t)(1u << bank);
	}
	if (d > 0 && m->smmu_n[i] < 255)
		m->smmu_n[i]++;
	else if (d < 0 && m->smmu_n[i] > 0)
		m->smmu_n[i]--;
}

static bool is_mapping(const struct hl_mval *e)
{
	return e && (e->pte & HL_DESC_VALID);
}

/* pt[gfn] := e (NULL: unmapped). `f` = record a fact (range writes record one themselves) */
static void npt_leaf_set(struct hl_model *m, unsigned v, uint64_t gfn, const struct hl_mval *e, bool f)
{
	struct hl_mnpt *t = &m->npt[v];
	const struct hl_mval *old = hl_hmap_get(&t->pt, gfn);

	if (is_mapping(old))
		vm_ref(m, v, old->pfn, -1);
	if (e && e->pte)
		put(m, &t->pt, gfn, e);
	else
		hl_hmap_del(&t->pt, gfn);
	if (e && is_mapping(e))
		vm_ref(m, v, e->pfn, +1);
	if (f)
		fact(m, HL_F_NPT_LEAF, v, 0, gfn, 1);
}

static void npt_pres_set(struct hl_model *m, unsigned v, unsigned level, uint64_t key, bool on)
{
	struct hl_hmap *h = level == 0 ? &m->npt[v].pgd : level == 1 ? &m->npt[v].pud : &m->npt[v].pmd;

	if (hset_has(h, key) == on)
		return;
	if (on)
		put(m, h, key, &one);
	else
		hl_hmap_del(h, key);
	fact(m, HL_F_NPT_PRES, v, level, key, 1);
}

static void npt_meta_set(struct hl_model *m, unsigned v, uint64_t pgd, uint64_t pud, uint64_t pmd)
{
	struct hl_mnpt *t = &m->npt[v];

	if (t->pgd_next == pgd && t->pud_next == pud && t->pmd_next == pmd)
		return;
	t->pgd_next = pgd;
	t->pud_next = pud;
	t->pmd_next = pmd;
	fact(m, HL_F_NPT_META, v, 0, 0, 1);
}

static void spt_leaf_set(struct hl_model *m, unsigned bank, uint64_t gfn, const struct hl_mval *e)
{
	struct hl_mspt_bank *b = &m->spt[bank];
	const struct hl_mval *old = hl_hmap_get(&b->pt, gfn);

	if (old)
		smmu_ref(m, bank, old->pfn, gfn, -1);
	if (e && e->pte) {
		put(m, &b->pt, gfn, e);
		smmu_ref(m, bank, e->pfn, gfn, +1);
	} else {
		hl_hmap_del(&b->pt, gfn);
	}
	fact(m, HL_F_SPT_LEAF, bank, 0, gfn, 1);
}

static void spt_pres_set(struct hl_model *m, unsigned bank, unsigned level, uint64_t key, bool on)
{
	struct hl_hmap *h = level == 1 ? &m->spt[bank].pgd : &m->spt[bank].pmd;

	if (hset_has(h, key) == on)
		return;
	if (on)
		put(m, h, key, &one);
	else
		hl_hmap_del(h, key);
	fact(m, HL_F_SPT_PRES, bank, level, key, 1);
}

static void spt_meta_set(struct hl_model *m, uint64_t pgd, uint64_t pmd)
{
	if (m->spt_pgd_next == pgd && m->spt_pmd_next == pmd)
		return;
	m->spt_pgd_next = pgd;
	m->spt_pmd_next = pmd;
	fact(m, HL_F_SPT_META, 0, 0, 0, 1);
}

static void spt_bank_reset(struct hl_model *m, unsigned bank)
{
	struct hl_mspt_bank *b = &m->spt[bank];

	for (uint32_t i = 0; i < b->pt.cap; i++)
		if (b->pt.key[i])
			smmu_ref(m, bank, b->pt.val[i].pfn, b->pt.key[i] - 1, -1);
	bank_clear(b);
	fact(m, HL_F_SPT_BANK, bank, 0, 0, 1);
}

static void smmu_owner_set(struct hl_model *m, unsigned bank, uint32_t owner)
{
	struct hl_mspt_bank *b = &m->spt[bank];
	uint32_t old = m->smmu_owner[bank];

	if (old == owner)
		return;
	if (old != HL_INVALID)   /* leave the counted set first, then join it again */
		for (uint32_t i = 0; i < b->pt.cap; i++)
			if (b->pt.key[i])
				smmu_ref(m, bank, b->pt.val[i].pfn, b->pt.key[i] - 1, -1);
	m->smmu_owner[bank] = owner;
	if (owner != HL_INVALID)
		for (uint32_t i = 0; i < b->pt.cap; i++)
			if (b->pt.key[i])
				smmu_ref(m, bank, b->pt.val[i].pfn, b->pt.key[i] - 1, +1);
	fact(m, HL_F_SMMU, 0, 0, bank, 1);
}

static void info_touch(struct hl_model *m, unsigned v, uint32_t old_state)
{
	if (m->info[v].state != old_state)
		m->state_changed[v] = true;
	fact(m, HL_F_INFO, v, 0, 0, 1);
}

/* ===================================================================================== */
/* local_mmap_h and local_spt_map_h over the abstract maps (REFERENCE §4.6)               */

static inline uint64_t i0_of(uint64_t a) { return (a >> 39) & 511; }
static inline uint64_t i1_of(uint64_t a) { return (a >> 30) & 511; }
static inline uint64_t i2_of(uint64_t a) { return (a >> 21) & 511; }
static inline uint64_t pud_key(uint64_t a) { return i0_of(a) << 9 | i1_of(a); }
static inline uint64_t pmd_key(uint64_t a) { return i0_of(a) << 18 | i1_of(a) << 9 | i2_of(a); }

/* true = halt (pool exhausted, or a level-3 map inside a level-2 block) */
static bool mmap_h(struct hl_model *m, unsigned v, uint64_t addr, unsigned level, uint64_t pte)
{
	struct hl_mnpt *t = &m->npt[v];
	uint64_t pgd_next = hset_has(&t->pgd, i0_of(addr)) ? t->pgd_next : t->pgd_next + PG;
	uint64_t pud_next = hset_has(&t->pud, pud_key(addr)) ? t->pud_next : t->pud_next + PG;

	if (level == 2) {
		uint64_t gfn = addr / PG / 512 * 512, pfn = phys_page(pte) / PG;
		if (!(pgd_next <= t->pud_start && pud_next <= t->pmd_start))
			return true;
		for (uint64_t i = 0; i < 512; i++) {
			struct hl_mval e = { pfn + i, pte, 2 };
			npt_leaf_set(m, v, gfn + i, &e, false);
		}
		fact(m, HL_F_NPT_LEAF, v, 0, gfn, 512);
		npt_pres_set(m, v, 0, i0_of(addr), true);
		npt_pres_set(m, v, 1, pud_key(addr), true);
		npt_pres_set(m, v, 2, pmd_key(addr), false);
		npt_meta_set(m, v, pgd_next, pud_next, t->pmd_next);
		return false;
	} else {
		uint64_t gfn = addr / PG;
		const struct hl_mval *cur = hl_hmap_get(&t->pt, gfn);
		uint64_t pmd_next = hset_has(&t->pmd, pmd_key(addr)) ? t->pmd_next : t->pmd_next + PG;
		struct hl_mval e = { phys_page(pte) / PG, pte, 3 };

		if (cur && cur->level == 2)
			return true;
		if (!(pgd_next <= t->pud_start && pud_next <= t->pmd_start && pmd_next <= t->pool_end))
			return true;
		npt_leaf_set(m, v, gfn, &e, true);
		npt_pres_set(m, v, 0, i0_of(addr), true);
		npt_pres_set(m, v, 1, pud_key(addr), true);
		npt_pres_set(m, v, 2, pmd_key(addr), true);
		npt_meta_set(m, v, pgd_next, pud_next, pmd_next);
		return false;
	}
}

static inline uint64_t si1(uint64_t iova) { return (iova >> 30) & 1023; }
static inline uint64_t spmd_key(uint64_t iova) { return si1(iova) << 9 | i2_of(iova); }

static bool spt_map_h(struct hl_model *m, unsigned bank, uint64_t iova, uint64_t pte)
{
	struct hl_mspt_bank *b = &m->spt[bank];
	uint64_t pgd_next = hset_has(&b->pgd, si1(iova)) ? m->spt_pgd_next : m->spt_pgd_next + PG;
	uint64_t pmd_next = hset_has(&b->pmd, spmd_key(iova)) ? m->spt_pmd_next : m->spt_pmd_next + PG;
	struct hl_mval e = { phys_page(pte) / PG, pte, 3 };

	if (!(pgd_next <= m->spt_pmd_start && pmd_next <= m->spt_pool_end))
		return true;
	spt_leaf_set(m, bank, iova / PG, pte ? &e : NULL);
	spt_pres_set(m, bank, 1, si1(iova), true);
	spt_pres_set(m, bank, 2, spmd_key(iova), true);
	spt_meta_set(m, pgd_next, pmd_next);
	return false;
}

/* host unmap, the seed's way: an existing host entry becomes PAGE_GUEST */
static bool host_unmap(struct hl_model *m, uint64_t pfn)
{
	const struct hl_mval *e = hl_hmap_get(&m->npt[HL_HOSTVISOR].pt, pfn);

	if (!e || phys_page(e->pte) == 0 || e->level == 0)
		return false;
	return mmap_h(m, HL_HOSTVISOR, pfn * PG, 3, HL_PAGE_GUEST);
}

/* ===================================================================================== */
/* transitions                                                                             */

struct ctx {
	struct hl_model *m;
	const struct hl_model_ev *ev;
	struct hl_model_res *res;
};

static void lock(struct ctx *c, unsigned obj)
{
	struct hl_model_res *r = c->res;

	for (unsigned i = 0; i < r->nlocks; i++)
		if (r->locks[i] == obj)
			return;
	if (r->nlocks < HL_MAX_STAGES)
		r->locks[r->nlocks++] = (uint16_t)obj;
}

static int halt(struct ctx *c, unsigned n, ...)
{
	va_list ap;

	va_start(ap, n);
	for (unsigned i = 0; i < n && c->res->nstrand < HL_MAX_STAGES; i++)
		c->res->strand[c->res->nstrand++] = (uint16_t)va_arg(ap, unsigned);
	va_end(ap);
	return HL_HALT;
}

#define A(i) (c->ev->arg[i])
#define S2P HL_S2PAGE_ID
#define NPT0 HL_NPT_OBJ(HL_HOSTVISOR)

static int m_map_host(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t addr = A(0), pfn = addr / PG, pte;
	struct hl_mpage p = page_of(m, pfn);

	lock(c, S2P);
	lock(c, NPT0);
	if (!(p.owner == HL_INVALID || p.owner == HL_HOSTVISOR || (p.count > 0 && p.count != HL_INVALID)))
		return halt(c, 1, S2P);
	pte = p.owner == HL_INVALID ? (pfn * PG) | HL_PAGE_S2_DEVICE | HL_PTE_S2_RDWR
				    : (pfn * PG) | HL_PAGE_S2_KERNEL;
	if (mmap_h(m, HL_HOSTVISOR, addr, 3, pte))
		return halt(c, 2, S2P, NPT0);
	return HL_OK;
}

static int m_clear_vm(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t vmid = A(0), pfn = A(1);

	lock(c, S2P);
	lock(c, NPT0);
	if (!is_ram(pfn) || page_of(m, pfn).owner != vmid)
		return HL_OK;
	if (host_unmap(m, pfn))
		return halt(c, 2, S2P, NPT0);
	set_page(m, pfn, HL_HOSTVISOR, 0, pfn + HL_SMMU_HOST_OFFSET);
	set_flat(m, pfn, hl_zero_page_digest());
	return HL_OK;
}

static int m_assign_vm(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t vmid = A(0), gfn = A(1), pfn = A(2);
	struct hl_mpage p = page_of(m, pfn);

	lock(c, S2P);
	lock(c, NPT0);
	if (p.owner == HL_HOSTVISOR) {
		if (p.count != 0)
			return halt(c, 1, S2P);
		set_page(m, pfn, (uint32_t)vmid, 0, gfn);
		if (host_unmap(m, pfn))
			return halt(c, 2, S2P, NPT0);
		set_flat(m, pfn, c->ev->dorc);
		return HL_OK;
	}
	if (p.owner == vmid && (p.gfn == gfn || p.gfn == HL_INVALID64)) {
		uint32_t count = p.count == HL_INVALID ? 0 : p.count;
		if (count != p.count || gfn != p.gfn)
			set_page(m, pfn, p.owner, count, gfn);
		return HL_OK;
	}
	return halt(c, 1, S2P);
}

static int m_map_vm(struct ctx *c)
{
	uint64_t vmid = A(0), addr = A(1), level = A(3);
	uint64_t pte = phys_page(A(2)) | HL_PAGE_S2_KERNEL;

	lock(c, HL_NPT_OBJ(vmid));
	if (level == 2)
		pte &= HL_NOT_PMD_TABLE_BIT;
	if (mmap_h(c->m, (unsigned)vmid, addr, level == 2 ? 2 : 3, pte))
		return halt(c, 1, HL_NPT_OBJ(vmid));
	return HL_OK;
}

static int m_map_io(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t vmid = A(0), gpa = A(1), pa = A(2);

	lock(c, HL_INFO_OBJ(vmid));
	lock(c, S2P);
	lock(c, HL_NPT_OBJ(vmid));
	if (m->info[vmid].state != HL_VM_READY)
		return halt(c, 1, HL_INFO_OBJ(vmid));
	if (page_of(m, pa / PG).owner != HL_INVALID)
		return HL_OK;
	if (mmap_h(m, (unsigned)vmid, gpa, 3, phys_page(pa) | HL_PAGE_S2_DEVICE | HL_PTE_S2_RDWR))
		return halt(c, 2, S2P, HL_NPT_OBJ(vmid));
	return HL_OK;
}

static int m_grant(struct ctx *c)
{
	uint64_t vmid = A(0), pfn = A(1);
	struct hl_mpage p = page_of(c->m, pfn);

	lock(c, S2P);
	if (is_ram(pfn) && p.owner == vmid && p.count < HL_MAX_SHARE_COUNT)
		set_page(c->m, pfn, p.owner, p.count + 1, p.gfn);
	return HL_OK;
}

static int m_revoke(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t vmid = A(0), pfn = A(1);
	struct hl_mpage p = page_of(m, pfn);

	lock(c, S2P);
	lock(c, NPT0);
	if (!is_ram(pfn) || p.owner != vmid || p.count == 0 || p.count == HL_INVALID)
		return HL_OK;
	set_page(m, pfn, p.owner, p.count - 1, p.gfn);
	if (p.count == 1) {
		if (host_unmap(m, pfn))
			return halt(c, 2, S2P, NPT0);
		set_flat(m, pfn, c->ev->dorc);
	}
	return HL_OK;
}

static int m_gen_vmid(struct ctx *c)
{
	struct hl_model *m = c->m;

	lock(c, HL_CORE_ID);
	if (m->next_vmid >= HL_COREVISOR)
		return halt(c, 0);
	c->res->ret = m->next_vmid;
	m->next_vmid++;
	fact(m, HL_F_CORE, 0, 0, 0, 1);
	return HL_OK;
}

static void blob_copy(uint8_t *dst, size_t n, const struct hl_model_ev *ev)
{
	size_t k = ev->blob_len < n ? ev->blob_len : n;

	memset(dst, 0, n);
	if (ev->blob && k)
		memcpy(dst, ev->blob, k);
}

static int m_reg_kvm(struct ctx *c)
{
	uint64_t vmid = A(0);
	struct hl_mvminfo *vi = &c->m->info[vmid];
	uint32_t old = vi->state;

	lock(c, HL_INFO_OBJ(vmid));
	c->res->ret = vmid;
	if (vi->state != HL_VM_UNUSED)
		return halt(c, 0);
	vi->kvm = A(1);
	vi->state = HL_VM_READY;
	vi->inc_exe = 0;
	vi->key_idx = (uint32_t)A(2);
	info_touch(c->m, (unsigned)vmid, old);
	return HL_OK;
}

static int m_reg_vcpu(struct ctx *c)
{
	uint64_t vmid = A(0), vcpuid = A(1);
	struct hl_mvminfo *vi = &c->m->info[vmid];

	lock(c, HL_INFO_OBJ(vmid));
	if (vi->state != HL_VM_READY || vi->vcpu_state[vcpuid] != HL_VCPU_UNUSED)
		return halt(c, 0);
	vi->vcpu[vcpuid] = A(2);
	vi->vcpu_state[vcpuid] = HL_VCPU_READY;
	info_touch(c->m, (unsigned)vmid, vi->state);
	return HL_OK;
}

static int m_vm_active(struct ctx *c)
{
	uint64_t vmid = A(0), vcpuid = A(1);
	struct hl_mvminfo *vi = &c->m->info[vmid];

	lock(c, HL_INFO_OBJ(vmid));
	if (vi->state != HL_VM_VERIFIED || vi->vcpu_state[vcpuid] != HL_VCPU_READY)
		return halt(c, 0);
	vi->vcpu_state[vcpuid] = HL_VCPU_ACTIVE;
	info_touch(c->m, (unsigned)vmid, vi->state);
	return HL_OK;
}

static int m_vm_inactive(struct ctx *c)
{
	uint64_t vmid = A(0), vcpuid = A(1);
	struct hl_mvminfo *vi = &c->m->info[vmid];

	lock(c, HL_INFO_OBJ(vmid));
	if (vi->vcpu_state[vcpuid] != HL_VCPU_ACTIVE)
		return halt(c, 0);
	vi->vcpu_state[vcpuid] = HL_VCPU_READY;
	info_touch(c->m, (unsigned)vmid, vi->state);
	return HL_OK;
}

static int m_vm_poweroff(struct ctx *c)
{
	uint64_t vmid = A(0);
	struct hl_mvminfo *vi = &c->m->info[vmid];
	uint32_t old = vi->state;

	lock(c, HL_INFO_OBJ(vmid));
	if (vi->state != HL_VM_POWEROFF) {
		vi->state = HL_VM_POWEROFF;
		info_touch(c->m, (unsigned)vmid, old);
	}
	return HL_OK;
}

static int m_boot_info(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t vmid = A(0), load_addr = A(1), size = A(2), idx, pgnum, remap;
	struct hl_mvminfo *vi = &m->info[vmid];

	lock(c, HL_INFO_OBJ(vmid));
	lock(c, HL_CORE_ID);
	if (vi->state != HL_VM_READY)
		return halt(c, 0);
	idx = vi->next_load_info;
	c->res->ret = idx;
	if (idx >= HL_MAX_LOAD_INFO)
		return HL_OK;
	pgnum = (size + 4095) / PG;
	remap = m->next_remap_ptr;
	if (remap + pgnum * PG >= HL_REMAP_END)
		return halt(c, 0);
	m->next_remap_ptr = remap + pgnum * PG;
	fact(m, HL_F_CORE, 0, 0, 0, 1);
	vi->load[idx].load_addr = load_addr;
	vi->load[idx].size = size;
	vi->load[idx].remap_addr = remap;
	vi->load[idx].mapped_pages = 0;
	blob_copy(vi->load[idx].signature, 64, c->ev);
	vi->next_load_info = (uint32_t)idx + 1;
	info_touch(m, (unsigned)vmid, vi->state);
	return HL_OK;
}

static int m_remap_image(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t vmid = A(0), pfn = A(1), idx = A(2), pgnum, target;
	struct hl_mvminfo *vi = &m->info[vmid];
	struct hl_mload *li;

	lock(c, HL_INFO_OBJ(vmid));
	lock(c, HL_NPT_OBJ(HL_COREVISOR));
	if (vi->state != HL_VM_READY)
		return halt(c, 1, HL_INFO_OBJ(vmid));
	if (idx >= vi->next_load_info)
		return HL_OK;
	li = &vi->load[idx];
	pgnum = (li->size + 4095) / PG;
	if (li->mapped_pages >= pgnum)
		return HL_OK;
	target = li->remap_addr + li->mapped_pages * PG;
	if (mmap_h(m, HL_COREVISOR, target, 3, (pfn * PG) | HL_PAGE_HYP))
		return halt(c, 2, HL_INFO_OBJ(vmid), HL_NPT_OBJ(HL_COREVISOR));
	li->mapped_pages++;
	info_touch(m, (unsigned)vmid, vi->state);
	return HL_OK;
}

/* the per-page OASSIGN_VM / OMAP_VM steps of a load are their own operations;
 * dorc: 1 = every signature verified, 2 = a load step halted (the engine's encoding) */
static int m_verify(struct ctx *c)
{
	uint64_t vmid = A(0);
	struct hl_mvminfo *vi = &c->m->info[vmid];

	lock(c, HL_INFO_OBJ(vmid));
	if (vi->state != HL_VM_READY)
		return halt(c, 1, HL_INFO_OBJ(vmid));
	if (c->ev->dorc == 2)   /* a per-page load step halted inside the load */
		return halt(c, 1, HL_INFO_OBJ(vmid));
	if (c->ev->dorc == 1) {
		vi->state = HL_VM_VERIFIED;
		info_touch(c->m, (unsigned)vmid, HL_VM_READY);
	}
	return HL_OK;
}

static int m_smmu_alloc(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t cbndx = A(0), vmid = A(1), index = A(2), num = A(3);
	unsigned bank = (unsigned)HL_SMMU_ID_OF(index, cbndx);

	lock(c, HL_SMMU_ID);
	lock(c, HL_INFO_OBJ(vmid));
	lock(c, HL_SPT_ID);
	if (cbndx >= num)
		return halt(c, 1, HL_SMMU_ID);
	if (m->smmu_owner[bank] != HL_INVALID)
		return HL_OK;
	if (is_vm(vmid) && m->info[vmid].state == HL_VM_VERIFIED)
		return halt(c, 2, HL_SMMU_ID, HL_INFO_OBJ(vmid));
	smmu_owner_set(m, bank, (uint32_t)vmid);
	spt_bank_reset(m, bank);
	return HL_OK;
}

static int m_smmu_free(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t cbndx = A(0), index = A(1);
	unsigned bank = (unsigned)HL_SMMU_ID_OF(index, cbndx);
	uint32_t owner = m->smmu_owner[bank];

	lock(c, HL_SMMU_ID);
	if (owner == HL_INVALID)
		return HL_OK;
	lock(c, HL_INFO_OBJ(owner));
	if (m->info[owner].state != HL_VM_POWEROFF)
		return halt(c, 1, HL_SMMU_ID);
	smmu_owner_set(m, bank, HL_INVALID);
	return HL_OK;
}

static int m_assign_smmu(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t cbndx = A(0), index = A(1), pfn = A(2), gfn = A(3);
	uint32_t owner = m->smmu_owner[HL_SMMU_ID_OF(index, cbndx)];
	struct hl_mpage p;

	lock(c, HL_SMMU_ID);
	if (owner == HL_INVALID || !is_vm(owner))
		return HL_OK;
	lock(c, HL_INFO_OBJ(owner));
	lock(c, S2P);
	lock(c, NPT0);
	if (m->info[owner].state == HL_VM_VERIFIED)
		return halt(c, 2, HL_SMMU_ID, HL_INFO_OBJ(owner));
	p = page_of(m, pfn);
	if (p.owner == HL_HOSTVISOR) {
		if (p.count != 0)
			return halt(c, 3, HL_SMMU_ID, HL_INFO_OBJ(owner), S2P);
		if (host_unmap(m, pfn))
			return halt(c, 4, HL_SMMU_ID, HL_INFO_OBJ(owner), S2P, NPT0);
		/* the seed computes the new flatmem and never stores it */
		set_page(m, pfn, owner, HL_INVALID, gfn);
		return HL_OK;
	}
	if (p.owner == owner)
		return HL_OK;
	return halt(c, 3, HL_SMMU_ID, HL_INFO_OBJ(owner), S2P);
}

static int m_smmu_map(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t cbndx = A(0), index = A(1), iova = A(2), pte = A(3);
	uint64_t pfn = phys_page(pte) / PG, gfn = iova / PG;
	unsigned bank = (unsigned)HL_SMMU_ID_OF(index, cbndx);
	uint32_t owner = m->smmu_owner[bank];
	struct hl_mpage p;

	lock(c, HL_SMMU_ID);
	if (owner == HL_INVALID)
		return HL_OK;
	lock(c, HL_INFO_OBJ(owner));
	lock(c, S2P);
	lock(c, HL_SPT_ID);
	if (is_vm(owner) && m->info[owner].state == HL_VM_VERIFIED)
		return halt(c, 2, HL_SMMU_ID, HL_INFO_OBJ(owner));
	p = page_of(m, pfn);
	/* host banks: iova/4K + SMMU_HOST_OFFSET names the host page (engine deviation) */
	if (owner == HL_HOSTVISOR)
		gfn += HL_SMMU_HOST_OFFSET;
	if (!(p.owner == owner && p.gfn == gfn))
		return halt(c, 3, HL_SMMU_ID, HL_INFO_OBJ(owner), S2P);
	if (spt_map_h(m, bank, iova, pte))
		return halt(c, 4, HL_SMMU_ID, HL_INFO_OBJ(owner), S2P, HL_SPT_ID);
	if (p.owner == HL_HOSTVISOR && p.count < HL_SMMU_CFG_SIZE)
		set_page(m, pfn, p.owner, p.count + 1, p.gfn);
	return HL_OK;
}

static int m_smmu_clear(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t iova = A(0), cbndx = A(1), index = A(2), pfn0, pte;
	unsigned bank = (unsigned)HL_SMMU_ID_OF(index, cbndx);
	uint32_t owner = m->smmu_owner[bank];
	const struct hl_mval *e;
	struct hl_mpage p;

	lock(c, HL_SMMU_ID);
	if (owner == HL_INVALID)
		return HL_OK;
	lock(c, HL_INFO_OBJ(owner));
	lock(c, S2P);
	lock(c, HL_SPT_ID);
	if (is_vm(owner) && m->info[owner].state == HL_VM_VERIFIED)
		return halt(c, 2, HL_SMMU_ID, HL_INFO_OBJ(owner));
	e = hl_hmap_get(&m->spt[bank].pt, iova / PG);
	pte = e ? e->pte : 0;
	if (pte != 0 && spt_map_h(m, bank, iova, 0))
		return halt(c, 4, HL_SMMU_ID, HL_INFO_OBJ(owner), S2P, HL_SPT_ID);
	/* pfn0 = phys_page(pte)/4K (SOSP; the seed's recorded pfn agrees under spt_cons) */
	pfn0 = phys_page(pte) / PG;
	p = page_of(m, pfn0);
	if (p.owner == HL_HOSTVISOR && p.count > 0 && p.count != HL_INVALID)
		set_page(m, pfn0, p.owner, p.count - 1, p.gfn);
	return HL_OK;
}

/* argument checks, as the engine applies them to host input and to replayed records */
bool hl_model_valid(unsigned ev, const uint64_t *a)
{
	const uint64_t pfns = HL_PHYS_SIZE / PG, gfns = HL_ADDR_SPACE / PG;
#define BANK(cb, ix) ((ix) < HL_SMMU_NUM && (cb) < HL_SMMU_NUM_CB)

	switch (ev) {
	case HL_EV_MAP_HOST: return a[0] < RAM_END;
	case HL_EV_CLEAR_VM:
	case HL_EV_GRANT:
	case HL_EV_REVOKE: return is_vm(a[0]) && a[1] < pfns;
	case HL_EV_ASSIGN_VM: return is_vm(a[0]) && a[1] < gfns && is_ram(a[2]);
	case HL_EV_MAP_VM:
		return is_vm(a[0]) && a[1] < HL_ADDR_SPACE && (a[3] == 2 || a[3] == 3) &&
		       phys_page(a[2]) < HL_PHYS_SIZE && (a[3] != 2 || (phys_page(a[2]) % HL_PMD_SIZE) == 0);
	case HL_EV_MAP_IO: return is_vm(a[0]) && a[1] < HL_ADDR_SPACE && a[2] < RAM_END;
	case HL_EV_GEN_VMID: return true;
	case HL_EV_REG_KVM:
	case HL_EV_VM_POWEROFF:
	case HL_EV_VERIFY: return is_vm(a[0]);
	case HL_EV_REG_VCPU:
	case HL_EV_VM_ACTIVE:
	case HL_EV_VM_INACTIVE: return is_vm(a[0]) && a[1] < HL_VCPU_PER_VM;
	case HL_EV_BOOT_INFO:
		return is_vm(a[0]) && a[1] < HL_ADDR_SPACE && a[1] % HL_PMD_SIZE == 0 && a[2] < HL_REMAP_END;
	case HL_EV_REMAP_IMAGE: return is_vm(a[0]) && is_ram(a[1]) && a[2] < HL_MAX_LOAD_INFO;
	case HL_EV_SMMU_ALLOC: return BANK(a[0], a[2]) && a[1] <= HL_MAX_VM && a[3] <= HL_SMMU_NUM_CB;
	case HL_EV_SMMU_FREE: return BANK(a[0], a[1]);
	case HL_EV_ASSIGN_SMMU: return BANK(a[0], a[1]) && is_ram(a[2]) && a[3] < gfns;
	case HL_EV_SMMU_MAP:
		return BANK(a[0], a[1]) && a[2] < HL_SMMU_IPA_SIZE && a[2] % PG == 0 &&
		       phys_page(a[3]) < HL_PHYS_SIZE;
	case HL_EV_SMMU_CLEAR: return BANK(a[1], a[2]) && a[0] < HL_SMMU_IPA_SIZE;
	default: return false;
	}
#undef BANK
}

int hl_model_step(struct hl_model *m, const struct hl_model_ev *ev, struct hl_model_res *res)
{
	struct ctx c = { m, ev, res };
	int rc;

	memset(res, 0, sizeof(*res));
	if (!hl_model_valid(ev->event, ev->arg))
		return res->status = HL_E_INVAL;
	switch (ev->event) {
	case HL_EV_MAP_HOST: rc = m_map_host(&c); break;
	case HL_EV_CLEAR_VM: rc = m_clear_vm(&c); break;
	case HL_EV_ASSIGN_VM: rc = m_assign_vm(&c); break;
	case HL_EV_MAP_VM: rc = m_map_vm(&c); break;
	case HL_EV_MAP_IO: rc = m_map_io(&c); break;
	case HL_EV_GRANT: rc = m_grant(&c); break;
	case HL_EV_REVOKE: rc = m_revoke(&c); break;
	case HL_EV_GEN_VMID: rc = m_gen_vmid(&c); break;
	case HL_EV_REG_KVM: rc = m_reg_kvm(&c); break;
	case HL_EV_REG_VCPU: rc = m_reg_vcpu(&c); break;
	case HL_EV_VM_ACTIVE: rc = m_vm_active(&c); break;
	case HL_EV_VM_INACTIVE: rc = m_vm_inactive(&c); break;
	case HL_EV_VM_POWEROFF: rc = m_vm_poweroff(&c); break;
	case HL_EV_BOOT_INFO: rc = m_boot_info(&c); break;
	case HL_EV_REMAP_IMAGE: rc = m_remap_image(&c); break;
	case HL_EV_VERIFY: rc = m_verify(&c); break;
	case HL_EV_SMMU_ALLOC: rc = m_smmu_alloc(&c); break;
	case HL_EV_SMMU_FREE: rc = m_smmu_free(&c); break;
	case HL_EV_ASSIGN_SMMU: rc = m_assign_smmu(&c); break;
	case HL_EV_SMMU_MAP: rc = m_smmu_map(&c); break;
	case HL_EV_SMMU_CLEAR: rc = m_smmu_clear(&c); break;
	default: rc = HL_E_INVAL; break;
	}
	return res->status = rc;
}

/* ===================================================================================== */
/* abstraction: engine state -> model                                                       */

/* a table image whose metadata lets a walk stay inside it (snapshots are input) */
static bool meta_ok(const uint8_t *img, size_t size, unsigned levels, size_t root_bytes)
{
	const struct hl_pt_meta *mt = (const struct hl_pt_meta *)img;

	return size >= PG + root_bytes && mt->pool_end <= size && mt->pool_end >= PG + root_bytes &&
	       mt->pool_pa % PG == 0 && mt->pool_pa + mt->pool_end > mt->pool_pa && mt->levels == levels;
}

static bool npt_ok(const struct hl_state *st, unsigned v)
{
	return meta_ok(st->npt[v], st->img[HL_NPT_OBJ(v)].size, 4, PG);
}

static bool spt_ok(const struct hl_state *st)
{
	return meta_ok(st->spt, st->img[HL_SPT_ID].size, 3, HL_SMMU_CFG_SIZE * HL_SPT_ROOT_PAGES * PG);
}

/* the table a descriptor links, or NULL (not a table, or outside the pool) */
static const uint64_t *desc_tbl(const uint8_t *img, uint64_t d)
{
	const struct hl_pt_meta *mt = (const struct hl_pt_meta *)img;
	uint64_t pa = phys_page(d);

	if ((d & HL_DESC_TYPE_MASK) != HL_DESC_TYPE_TABLE)
		return NULL;
	if (pa < mt->pool_pa + PG || pa >= mt->pool_pa + mt->pool_end)
		return NULL;
	return (const uint64_t *)(img + (pa - mt->pool_pa));
}

static const uint64_t *spt_root(const uint8_t *img, unsigned bank)
{
	return (const uint64_t *)(img + PG + (uint64_t)bank * HL_SPT_ROOT_PAGES * PG);
}

struct leaf_ctx {
	struct hl_hmap *h;
	bool nomem;
};

static void leaf_cb(uint64_t gfn, const struct hl_pt_entry *e, void *arg)
{
	struct leaf_ctx *c = arg;
	struct hl_mval v = { e->pfn, e->pte, e->level };

	if (hl_hmap_put(c->h, gfn, &v))
		c->nomem = true;
}

static int abstract_npt(struct hl_mnpt *t, const uint8_t *img)
{
	const struct hl_pt_meta *mt = (const struct hl_pt_meta *)img;
	const uint64_t *root = (const uint64_t *)(img + PG);
	struct leaf_ctx lc = { &t->pt, false };

	hl_hmap_clear(&t->pt);
	hl_hmap_clear(&t->pgd);
	hl_hmap_clear(&t->pud);
	hl_hmap_clear(&t->pmd);
	t->pgd_next = mt->pgd_next;
	t->pud_next = mt->pud_next;
	t->pmd_next = mt->pmd_next;
	t->pgd_start = mt->pgd_start;
	t->pud_start = mt->pud_start;
	t->pmd_start = mt->pmd_start;
	t->pool_end = mt->pool_end;
	for (uint64_t i0 = 0; i0 < 512; i0++) {
		const uint64_t *l1 = desc_tbl(img, root[i0]);
		if (!l1)
			continue;
		lc.nomem |= hl_hmap_put(&t->pgd, i0, &one) != 0;
		for (uint64_t i1 = 0; i1 < 512; i1++) {
			const uint64_t *l2 = desc_tbl(img, l1[i1]);
			if (!l2)
				continue;
			lc.nomem |= hl_hmap_put(&t->pud, i0 << 9 | i1, &one) != 0;
			for (uint64_t i2 = 0; i2 < 512; i2++)
				if (desc_tbl(img, l2[i2]))
					lc.nomem |= hl_hmap_put(&t->pmd, i0 << 18 | i1 << 9 | i2, &one) != 0;
		}
	}
	hl_npt_for_each(img, leaf_cb, &lc);
	return lc.nomem ? -1 : 0;
}

static int abstract_bank(struct hl_mspt_bank *b, const uint8_t *img, unsigned bank)
{
	const uint64_t *root = spt_root(img, bank);
	struct leaf_ctx lc = { &b->pt, false };

	bank_clear(b);
	for (uint64_t i1 = 0; i1 < 1024; i1++) {
		const uint64_t *l2 = desc_tbl(img, root[i1]);
		if (!l2)
			continue;
		lc.nomem |= hl_hmap_put(&b->pgd, i1, &one) != 0;
		for (uint64_t i2 = 0; i2 < 512; i2++)
			if (desc_tbl(img, l2[i2]))
				lc.nomem |= hl_hmap_put(&b->pmd, i1 << 9 | i2, &one) != 0;
	}
	hl_spt_for_each(img, bank, leaf_cb, &lc);
	return lc.nomem ? -1 : 0;
}

static void abstract_info(struct hl_mvminfo *mi, const struct hl_vminfo *vi)
{
	mi->state = vi->state;
	mi->next_load_info = vi->next_load_info;
	mi->kvm = vi->kvm;
	mi->inc_exe = vi->inc_exe;
	for (unsigned i = 0; i < HL_VCPU_PER_VM; i++) {
		mi->vcpu_state[i] = vi->vcpu_state[i];
		mi->vcpu[i] = vi->vcpu[i];
	}
	for (unsigned i = 0; i < HL_MAX_LOAD_INFO; i++) {
		mi->load[i].load_addr = vi->load[i].load_addr;
		mi->load[i].size = vi->load[i].size;
		mi->load[i].remap_addr = vi->load[i].remap_addr;
		mi->load[i].mapped_pages = vi->load[i].mapped_pages;
		memcpy(mi->load[i].signature, vi->load[i].signature, 64);
	}
	mi->key_idx = vi->key_idx;
}

/* rebuild the invariant indexes from the maps (after a raw abstraction) */
static void reindex(struct hl_model *m)
{
	hl_hmap_clear(&m->vm_cnt);
	hl_hmap_clear(&m->smmu_ref);
	memset(m->vm_mask, 0, HL_RAM_PAGES * sizeof(*m->vm_mask));
	memset(m->smmu_mask, 0, HL_RAM_PAGES * sizeof(*m->smmu_mask));
	memset(m->smmu_n, 0, HL_RAM_PAGES * sizeof(*m->smmu_n));
	for (unsigned v = 1; v <= HL_MAX_VM; v++) {
		const struct hl_hmap *h = &m->npt[v].pt;
		for (uint32_t i = 0; i < h->cap; i++)
			if (h->key[i] && is_mapping(&h->val[i]))
				vm_ref(m, v, h->val[i].pfn, +1);
	}
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++) {
		const struct hl_hmap *h = &m->spt[b].pt;
		for (uint32_t i = 0; i < h->cap; i++)
			if (h->key[i])
				smmu_ref(m, b, h->val[i].pfn, h->key[i] - 1, +1);
	}
}

static int abstract_raw(struct hl_model *m, const struct hl_state *st, unsigned obj)
{
	if (obj == HL_CORE_ID) {
		m->next_vmid = st->core->next_vmid;
		m->next_remap_ptr = st->core->next_remap_ptr;
	} else if (obj == HL_S2PAGE_ID || obj == HL_FLATMEM_ID) {
		for (uint64_t i = 0; i < HL_RAM_PAGES; i++) {
			const struct hl_s2page *p = &st->s2p->page[i];
			m->s2p[i] = (struct hl_mpage){ p->owner, p->count, p->gfn };
			m->flat[i] = st->s2p->flatmem[i];
		}
	} else if (obj == HL_SPT_ID) {
		const struct hl_pt_meta *mt = (const struct hl_pt_meta *)st->spt;
		if (!spt_ok(st))
			return -2;
		m->spt_pgd_next = mt->pgd_next;
		m->spt_pmd_next = mt->pmd_next;
		m->spt_pgd_start = mt->pgd_start;
		m->spt_pmd_start = mt->pmd_start;
		m->spt_pool_end = mt->pool_end;
		for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++)
			if (abstract_bank(&m->spt[b], st->spt, b))
				return -1;
	} else if (obj == HL_SMMU_ID) {
		memcpy(m->smmu_owner, st->smmu->owner, sizeof(m->smmu_owner));
	} else if (obj >= HL_NPT_ID && obj < HL_INFO_ID) {
		unsigned v = obj - HL_NPT_ID;
		if (!npt_ok(st, v))
			return -2;
		return abstract_npt(&m->npt[v], st->npt[v]);
	} else if (obj >= HL_INFO_ID && obj < HL_ID_END) {
		abstract_info(&m->info[obj - HL_INFO_ID], st->info[obj - HL_INFO_ID]);
	}
	return 0;
}

int hl_model_abstract_obj(struct hl_model *m, const struct hl_state *st, unsigned obj)
{
	int rc = abstract_raw(m, st, obj);

	reindex(m);
	return rc ? rc : m->nomem ? -1 : 0;
}

int hl_model_abstract(struct hl_model *m, const struct hl_state *st)
{
	for (unsigned o = 1; o < HL_ID_END; o++) {
		int rc = abstract_raw(m, st, o);
		if (rc)
			return rc;
	}
	reindex(m);
	hl_model_facts_reset(m);
	return m->nomem ? -1 : 0;
}

/* ===================================================================================== */
/* comparison                                                                               */

static void desc_val(char *buf, size_t n, const struct hl_mval *v, bool set)
{
	if (!v)
		snprintf(buf, n, set ? "absent" : "unmapped");
	else if (set)
		snprintf(buf, n, "present");
	else
		snprintf(buf, n, "pfn 0x%llx level %u pte 0x%llx", (unsigned long long)v->pfn, v->level,
			 (unsigned long long)v->pte);
}

static bool mval_eq(const struct hl_mval *a, const struct hl_mval *b)
{
	if (!a || !b)
		return a == b;
	return a->pfn == b->pfn && a->pte == b->pte && a->level == b->level;
}

/* smallest key where the maps differ; true if any */
static bool map_diff(const struct hl_hmap *a, const struct hl_hmap *b, uint64_t *key)
{
	bool found = false;

	for (uint32_t i = 0; i < a->cap; i++) {
		uint64_t k;
		if (!a->key[i])
			continue;
		k = a->key[i] - 1;
		if (!mval_eq(&a->val[i], hl_hmap_get(b, k)) && (!found || k < *key)) {
			*key = k;
			found = true;
		}
	}
	for (uint32_t i = 0; i < b->cap; i++) {
		uint64_t k;
		if (!b->key[i])
			continue;
		k = b->key[i] - 1;
		if (!hl_hmap_get(a, k) && (!found || k < *key)) {
			*key = k;
			found = true;
		}
	}
	return found;
}

static int diff_map(const struct hl_hmap *a, const struct hl_hmap *b, unsigned obj, const char *name,
		    bool set, struct hl_model_diff *d)
{
	uint64_t k = 0;

	if (!map_diff(a, b, &k))
		return 0;
	d->obj = obj;
	snprintf(d->where, sizeof(d->where), "%s[0x%llx]", name, (unsigned long long)k);
	desc_val(d->a, sizeof(d->a), hl_hmap_get(a, k), set);
	desc_val(d->b, sizeof(d->b), hl_hmap_get(b, k), set);
	return 1;
}

#define DIFF_U64(obj_, name_, x, y)                                                             \
	do {                                                                                     \
		if ((x) != (y)) {                                                                 \
			d->obj = (obj_);                                                          \
			snprintf(d->where, sizeof(d->where), "%s", (name_));                    \
			snprintf(d->a, sizeof(d->a), "0x%llx", (unsigned long long)(x));          \
			snprintf(d->b, sizeof(d->b), "0x%llx", (unsigned long long)(y));          \
			return 1;                                                                 \
		}                                                                                 \
	} while (0)

/* like DIFF_U64 for an indexed field: the name is formatted only on a mismatch */
#define DIFF_IDX(obj_, fmt_, i_, x, y)                                                          \
	do {                                                                                     \
		if ((x) != (y)) {                                                                 \
			char w_[48];                                                              \
			snprintf(w_, sizeof(w_), fmt_, i_);                                       \
			DIFF_U64(obj_, w_, x, y);                                                 \
		}                                                                                 \
	} while (0)

static int diff_info(const struct hl_mvminfo *a, const struct hl_mvminfo *b, unsigned obj,
		     struct hl_model_diff *d)
{
	DIFF_U64(obj, "state", a->state, b->state);
	DIFF_U64(obj, "next_load_info", a->next_load_info, b->next_load_info);
	DIFF_U64(obj, "kvm", a->kvm, b->kvm);
	DIFF_U64(obj, "inc_exe", a->inc_exe, b->inc_exe);
	for (unsigned i = 0; i < HL_VCPU_PER_VM; i++) {
		DIFF_IDX(obj, "vcpu_state[%u]", i, a->vcpu_state[i], b->vcpu_state[i]);
		DIFF_IDX(obj, "vcpu[%u]", i, a->vcpu[i], b->vcpu[i]);
	}
	for (unsigned i = 0; i < HL_MAX_LOAD_INFO; i++) {
		DIFF_IDX(obj, "load[%u].load_addr", i, a->load[i].load_addr, b->load[i].load_addr);
		DIFF_IDX(obj, "load[%u].size", i, a->load[i].size, b->load[i].size);
		DIFF_IDX(obj, "load[%u].remap_addr", i, a->load[i].remap_addr, b->load[i].remap_addr);
		DIFF_IDX(obj, "load[%u].mapped_pages", i, a->load[i].mapped_pages, b->load[i].mapped_pages);
		DIFF_IDX(obj, "load[%u].signature differs", i,
			 (uint64_t)(memcmp(a->load[i].signature, b->load[i].signature, 64) != 0), 0ull);
	}
	DIFF_U64(obj, "key_idx", a->key_idx, b->key_idx);
	return 0;
}

static int diff_obj(const struct hl_model *a, const struct hl_model *b, unsigned o, struct hl_model_diff *d)
{
	char w[64];

	if (o == HL_CORE_ID) {
		DIFF_U64(o, "next_vmid", a->next_vmid, b->next_vmid);
		DIFF_U64(o, "next_remap_ptr", a->next_remap_ptr, b->next_remap_ptr);
	} else if (o == HL_S2PAGE_ID) {
		for (uint64_t i = 0; i < HL_RAM_PAGES; i++) {
			const struct hl_mpage *x = &a->s2p[i], *y = &b->s2p[i];
			if (x->owner != y->owner || x->count != y->count || x->gfn != y->gfn) {
				d->obj = o;
				snprintf(d->where, sizeof(d->where), "s2page[pfn 0x%llx]",
					 (unsigned long long)(i + HL_RAM_BASE_PFN));
				snprintf(d->a, sizeof(d->a), "{owner %u, count %u, gfn 0x%llx}", x->owner, x->count,
					 (unsigned long long)x->gfn);
				snprintf(d->b, sizeof(d->b), "{owner %u, count %u, gfn 0x%llx}", y->owner, y->count,
					 (unsigned long long)y->gfn);
				return 1;
			}
			DIFF_IDX(o, "flatmem[pfn 0x%llx]", (unsigned long long)(i + HL_RAM_BASE_PFN), a->flat[i],
				 b->flat[i]);
		}
	} else if (o == HL_SPT_ID) {
		DIFF_U64(o, "spt_pgd_next", a->spt_pgd_next, b->spt_pgd_next);
		DIFF_U64(o, "spt_pmd_next", a->spt_pmd_next, b->spt_pmd_next);
		DIFF_U64(o, "spt_pmd_start", a->spt_pmd_start, b->spt_pmd_start);
		DIFF_U64(o, "spt_pool_end", a->spt_pool_end, b->spt_pool_end);
		for (unsigned k = 0; k < HL_SMMU_CFG_SIZE; k++) {
			snprintf(w, sizeof(w), "bank %u spt_pt", k);
			if (diff_map(&a->spt[k].pt, &b->spt[k].pt, o, w, false, d))
				return 1;
			snprintf(w, sizeof(w), "bank %u spt_pgd_t", k);
			if (diff_map(&a->spt[k].pgd, &b->spt[k].pgd, o, w, true, d))
				return 1;
			snprintf(w, sizeof(w), "bank %u spt_pmd_t", k);
			if (diff_map(&a->spt[k].pmd, &b->spt[k].pmd, o, w, true, d))
				return 1;
		}
	} else if (o == HL_SMMU_ID) {
		for (unsigned k = 0; k < HL_SMMU_CFG_SIZE; k++)
			DIFF_IDX(o, "smmu_vmid[%u]", k, a->smmu_owner[k], b->smmu_owner[k]);
	} else if (o >= HL_NPT_ID && o < HL_INFO_ID) {
		const struct hl_mnpt *x = &a->npt[o - HL_NPT_ID], *y = &b->npt[o - HL_NPT_ID];
		DIFF_U64(o, "pt_pgd_next", x->pgd_next, y->pgd_next);
		DIFF_U64(o, "pt_pud_next", x->pud_next, y->pud_next);
		DIFF_U64(o, "pt_pmd_next", x->pmd_next, y->pmd_next);
		DIFF_U64(o, "pud_start", x->pud_start, y->pud_start);
		DIFF_U64(o, "pmd_start", x->pmd_start, y->pmd_start);
		DIFF_U64(o, "pool_end", x->pool_end, y->pool_end);
		if (diff_map(&x->pt, &y->pt, o, "pt", false, d) || diff_map(&x->pgd, &y->pgd, o, "pgd_t", true, d) ||
		    diff_map(&x->pud, &y->pud, o, "pud_t", true, d) || diff_map(&x->pmd, &y->pmd, o, "pmd_t", true, d))
			return 1;
	} else if (o >= HL_INFO_ID && o < HL_ID_END) {
		return diff_info(&a->info[o - HL_INFO_ID], &b->info[o - HL_INFO_ID], o, d);
	}
	return 0;
}

int hl_model_diff(const struct hl_model *a, const struct hl_model *b, unsigned obj, struct hl_model_diff *d)
{
	memset(d, 0, sizeof(*d));
	if (obj < HL_ID_END)
		return diff_obj(a, b, obj == HL_FLATMEM_ID ? HL_S2PAGE_ID : obj, d);
	for (unsigned o = 1; o < HL_ID_END; o++)
		if (diff_obj(a, b, o, d))
			return 1;
	return 0;
}

/* ===================================================================================== */
/* facts against a state                                                                    */

/* presence of a table along an npt index path, read from the descriptors */
static bool st_npt_pres(const struct hl_state *st, unsigned v, unsigned level, uint64_t key)
{
	const uint8_t *img = st->npt[v];
	uint64_t i0 = level == 0 ? key : level == 1 ? key >> 9 : key >> 18;
	const uint64_t *l1 = desc_tbl(img, ((const uint64_t *)(img + PG))[i0 & 511]), *l2;

	if (!l1 || level == 0)
		return l1 != NULL;
	l2 = desc_tbl(img, l1[(level == 1 ? key : key >> 9) & 511]);
	if (!l2 || level == 1)
		return l2 != NULL;
	return desc_tbl(img, l2[key & 511]) != NULL;
}

static bool st_spt_pres(const struct hl_state *st, unsigned bank, unsigned level, uint64_t key)
{
	const uint64_t *l2 = desc_tbl(st->spt, spt_root(st->spt, bank)[(level == 1 ? key : key >> 9) & 1023]);

	if (!l2 || level == 1)
		return l2 != NULL;
	return desc_tbl(st->spt, l2[key & 511]) != NULL;
}

static bool st_npt_leaf(const struct hl_state *st, unsigned v, uint64_t gfn, struct hl_mval *out)
{
	struct hl_pt_entry e;

	hl_npt_walk(st->npt[v], gfn * PG, &e);
	*out = (struct hl_mval){ e.pfn, e.pte, e.level };
	return e.level != 0;
}

static bool st_spt_leaf(const struct hl_state *st, unsigned bank, uint64_t gfn, struct hl_mval *out)
{
	struct hl_pt_entry e;

	hl_spt_walk(st->spt, bank, gfn * PG, &e);
	*out = (struct hl_mval){ e.pfn, e.pte, e.level };
	return e.pte != 0;
}

static int bad_image(unsigned obj, struct hl_model_diff *d)
{
	d->obj = obj;
	snprintf(d->where, sizeof(d->where), "table metadata");
	snprintf(d->a, sizeof(d->a), "a well-formed pool");
	snprintf(d->b, sizeof(d->b), "pool bounds outside the image");
	return 1;
}

static int cmp_whole(const struct hl_model *m, const struct hl_state *st, unsigned obj, int bank,
		     struct hl_model_diff *d)
{
	struct hl_model *t = hl_model_new();
	int rc;

	if (!t)
		return -1;
	if (bank >= 0) {
		rc = abstract_bank(&t->spt[bank], st->spt, (unsigned)bank);
		if (!rc) {
			char w[48];
			snprintf(w, sizeof(w), "bank %d spt_pt", bank);
			rc = diff_map(&m->spt[bank].pt, &t->spt[bank].pt, HL_SPT_ID, w, false, d) ||
			     diff_map(&m->spt[bank].pgd, &t->spt[bank].pgd, HL_SPT_ID, "spt_pgd_t", true, d) ||
			     diff_map(&m->spt[bank].pmd, &t->spt[bank].pmd, HL_SPT_ID, "spt_pmd_t", true, d);
		}
	} else {
		rc = abstract_raw(t, st, obj);
		rc = rc == -2 ? bad_image(obj, d) : rc ? rc : diff_obj(m, t, obj, d);
	}
	hl_model_free(t);
	return rc;
}

int hl_model_fact_cmp(const struct hl_model *m, const struct hl_state *st, const struct hl_fact *f,
		      struct hl_model_diff *d)
{
	struct hl_mval sv, *mv;
	const struct hl_hmap *h;
	bool on;

	memset(d, 0, sizeof(*d));
	switch (f->kind) {
	case HL_F_S2P: {
		struct hl_s2page p = hl_s2page_get(st, f->key);
		struct hl_mpage q = page_of(m, f->key);
		if (p.owner == q.owner && p.count == q.count && p.gfn == q.gfn)
			return 0;
		d->obj = HL_S2PAGE_ID;
		snprintf(d->where, sizeof(d->where), "s2page[pfn 0x%llx]", (unsigned long long)f->key);
		snprintf(d->a, sizeof(d->a), "{owner %u, count %u, gfn 0x%llx}", q.owner, q.count,
			 (unsigned long long)q.gfn);
		snprintf(d->b, sizeof(d->b), "{owner %u, count %u, gfn 0x%llx}", p.owner, p.count,
			 (unsigned long long)p.gfn);
		return 1;
	}
	case HL_F_FLAT:
		if (!is_ram(f->key))
			return 0;
		DIFF_IDX(HL_S2PAGE_ID, "flatmem[pfn 0x%llx]", (unsigned long long)f->key,
			 m->flat[f->key - HL_RAM_BASE_PFN], st->s2p->flatmem[f->key - HL_RAM_BASE_PFN]);
		return 0;
	case HL_F_CORE:
		DIFF_U64(HL_CORE_ID, "next_vmid", m->next_vmid, st->core->next_vmid);
		DIFF_U64(HL_CORE_ID, "next_remap_ptr", m->next_remap_ptr, st->core->next_remap_ptr);
		return 0;
	case HL_F_SMMU:
		for (unsigned k = 0; k < HL_SMMU_CFG_SIZE; k++)
			DIFF_IDX(HL_SMMU_ID, "smmu_vmid[%u]", k, m->smmu_owner[k], st->smmu->owner[k]);
		return 0;
	case HL_F_INFO: {
		struct hl_mvminfo tmp;
		abstract_info(&tmp, st->info[f->id]);
		return diff_info(&m->info[f->id], &tmp, HL_INFO_OBJ(f->id), d);
	}
	case HL_F_NPT_META: {
		const struct hl_pt_meta *mt = (const struct hl_pt_meta *)st->npt[f->id];
		const struct hl_mnpt *t = &m->npt[f->id];
		DIFF_U64(HL_NPT_OBJ(f->id), "pt_pgd_next", t->pgd_next, mt->pgd_next);
		DIFF_U64(HL_NPT_OBJ(f->id), "pt_pud_next", t->pud_next, mt->pud_next);
		DIFF_U64(HL_NPT_OBJ(f->id), "pt_pmd_next", t->pmd_next, mt->pmd_next);
		return 0;
	}
	case HL_F_NPT_PRES:
		if (!npt_ok(st, f->id))
			return bad_image(HL_NPT_OBJ(f->id), d);
		h = f->level == 0 ? &m->npt[f->id].pgd : f->level == 1 ? &m->npt[f->id].pud : &m->npt[f->id].pmd;
		on = st_npt_pres(st, f->id, f->level, f->key);
		if (on == hset_has(h, f->key))
			return 0;
		d->obj = HL_NPT_OBJ(f->id);
		snprintf(d->where, sizeof(d->where), "%s[0x%llx]",
			 f->level == 0 ? "pgd_t" : f->level == 1 ? "pud_t" : "pmd_t", (unsigned long long)f->key);
		snprintf(d->a, sizeof(d->a), on ? "absent" : "present");
		snprintf(d->b, sizeof(d->b), on ? "present" : "absent");
		return 1;
	case HL_F_NPT_LEAF:
		if (!npt_ok(st, f->id))
			return bad_image(HL_NPT_OBJ(f->id), d);
		for (uint64_t g = f->key; g < f->key + f->n; g++) {
			bool have = st_npt_leaf(st, f->id, g, &sv);
			mv = (struct hl_mval *)hl_hmap_get(&m->npt[f->id].pt, g);
			if (mval_eq(mv, have ? &sv : NULL))
				continue;
			d->obj = HL_NPT_OBJ(f->id);
			snprintf(d->where, sizeof(d->where), "pt[gfn 0x%llx]", (unsigned long long)g);
			desc_val(d->a, sizeof(d->a), mv, false);
			desc_val(d->b, sizeof(d->b), have ? &sv : NULL, false);
			return 1;
		}
		return 0;
	case HL_F_SPT_META: {
		const struct hl_pt_meta *mt = (const struct hl_pt_meta *)st->spt;
		DIFF_U64(HL_SPT_ID, "spt_pgd_next", m->spt_pgd_next, mt->pgd_next);
		DIFF_U64(HL_SPT_ID, "spt_pmd_next", m->spt_pmd_next, mt->pmd_next);
		return 0;
	}
	case HL_F_SPT_PRES:
		if (!spt_ok(st))
			return bad_image(HL_SPT_ID, d);
		h = f->level == 1 ? &m->spt[f->id].pgd : &m->spt[f->id].pmd;
		on = st_spt_pres(st, f->id, f->level, f->key);
		if (on == hset_has(h, f->key))
			return 0;
		d->obj = HL_SPT_ID;
		snprintf(d->where, sizeof(d->where), "bank %u %s[0x%llx]", f->id, f->level == 1 ? "spt_pgd_t" : "spt_pmd_t",
			 (unsigned long long)f->key);
		snprintf(d->a, sizeof(d->a), on ? "absent" : "present");
		snprintf(d->b, sizeof(d->b), on ? "present" : "absent");
		return 1;
	case HL_F_SPT_LEAF:
		if (!spt_ok(st))
			return bad_image(HL_SPT_ID, d);
		for (uint64_t g = f->key; g < f->key + f->n; g++) {
			bool have = st_spt_leaf(st, f->id, g, &sv);
			mv = (struct hl_mval *)hl_hmap_get(&m->spt[f->id].pt, g);
			if (mval_eq(mv, have ? &sv : NULL))
				continue;
			d->obj = HL_SPT_ID;
			snprintf(d->where, sizeof(d->where), "bank %u spt_pt[gfn 0x%llx]", f->id, (unsigned long long)g);
			desc_val(d->a, sizeof(d->a), mv, false);
			desc_val(d->b, sizeof(d->b), have ? &sv : NULL, false);
			return 1;
		}
		return 0;
	case HL_F_SPT_BANK:
		if (!spt_ok(st))
			return bad_image(HL_SPT_ID, d);
		return cmp_whole(m, st, HL_SPT_ID, f->id, d);
	case HL_F_OBJ:
		return cmp_whole(m, st, f->id, -1, d);
	default:
		return 0;
	}
}

int hl_model_fact_sync(struct hl_model *m, const struct hl_state *st, const struct hl_fact *f)
{
	struct hl_mval sv;

	switch (f->kind) {
	case HL_F_S2P:
		if (is_ram(f->key)) {
			struct hl_s2page p = hl_s2page_get(st, f->key);
			set_page(m, f->key, p.owner, p.count, p.gfn);
		}
		break;
	case HL_F_FLAT:
		if (is_ram(f->key))
			set_flat(m, f->key, st->s2p->flatmem[f->key - HL_RAM_BASE_PFN]);
		break;
	case HL_F_CORE:
		m->next_vmid = st->core->next_vmid;
		m->next_remap_ptr = st->core->next_remap_ptr;
		break;
	case HL_F_SMMU:
		for (unsigned k = 0; k < HL_SMMU_CFG_SIZE; k++)
			smmu_owner_set(m, k, st->smmu->owner[k]);
		break;
	case HL_F_INFO: {
		uint32_t old = m->info[f->id].state;
		abstract_info(&m->info[f->id], st->info[f->id]);
		info_touch(m, f->id, old);
		break;
	}
	case HL_F_NPT_META: {
		const struct hl_pt_meta *mt = (const struct hl_pt_meta *)st->npt[f->id];
		npt_meta_set(m, f->id, mt->pgd_next, mt->pud_next, mt->pmd_next);
		break;
	}
	case HL_F_NPT_PRES:
		if (!npt_ok(st, f->id))
			return -2;
		npt_pres_set(m, f->id, f->level, f->key, st_npt_pres(st, f->id, f->level, f->key));
		break;
	case HL_F_NPT_LEAF:
		if (!npt_ok(st, f->id))
			return -2;
		for (uint64_t g = f->key; g < f->key + f->n; g++)
			npt_leaf_set(m, f->id, g, st_npt_leaf(st, f->id, g, &sv) ? &sv : NULL, true);
		break;
	case HL_F_SPT_META: {
		const struct hl_pt_meta *mt = (const struct hl_pt_meta *)st->spt;
		spt_meta_set(m, mt->pgd_next, mt->pmd_next);
		break;
	}
	case HL_F_SPT_PRES:
		if (!spt_ok(st))
			return -2;
		spt_pres_set(m, f->id, f->level, f->key, st_spt_pres(st, f->id, f->level, f->key));
		break;
	case HL_F_SPT_LEAF:
		if (!spt_ok(st))
			return -2;
		for (uint64_t g = f->key; g < f->key + f->n; g++)
			spt_leaf_set(m, f->id, g, st_spt_leaf(st, f->id, g, &sv) ? &sv : NULL);
		break;
	case HL_F_SPT_BANK: {
		int rc;
		if (!spt_ok(st))
			return -2;
		spt_bank_reset(m, f->id);
		rc = abstract_bank(&m->spt[f->id], st->spt, f->id);
		reindex(m);
		return rc;
	}
	case HL_F_OBJ:
		return hl_model_abstract_obj(m, st, f->id);
	default:
		break;
	}
	return m->nomem ? -1 : 0;
}

/* ===================================================================================== */
/* security invariants (REFERENCE §6, Security/Invs.v shared_inv)                          */

#define VIOL(...) (snprintf(msg, len, __VA_ARGS__), 1)

static bool host_may_map(const struct hl_mpage *p)
{
	return p->owner == HL_INVALID || p->owner == HL_HOSTVISOR || (p->count > 0 && p->count != HL_INVALID);
}

static bool constrained(const struct hl_model *m, unsigned v)
{
	return m->info[v].state <= HL_VM_VERIFIED;
}

static int inv_page(const struct hl_model *m, uint64_t pfn, char *msg, size_t len)
{
	struct hl_mpage p = page_of(m, pfn);
	const struct hl_mval *he = hl_hmap_get(&m->npt[HL_HOSTVISOR].pt, pfn);
	size_t i;

	if (pfn == 0 && p.owner != HL_INVALID)
		return VIOL("pfn 0 is owned by %u, not INVALID", p.owner);
	if (!is_ram(pfn))
		return 0;
	i = pfn - HL_RAM_BASE_PFN;
	if (p.owner == HL_HOSTVISOR && p.gfn != pfn + HL_SMMU_HOST_OFFSET)
		return VIOL("host page pfn 0x%llx has gfn 0x%llx, not pfn + SMMU_HOST_OFFSET",
			    (unsigned long long)pfn, (unsigned long long)p.gfn);
	if (is_mapping(he) && !host_may_map(&p))
		return VIOL("host table maps pfn 0x%llx owned by %u with count %u (not host, INVALID or shared)",
			    (unsigned long long)pfn, p.owner, p.count);
	for (uint32_t mask = m->vm_mask[i]; mask; mask &= mask - 1) {
		unsigned v = (unsigned)__builtin_ctz(mask);
		if (constrained(m, v) && p.owner != v)
			return VIOL("VM %u (state %u) maps RAM pfn 0x%llx owned by %u", v, m->info[v].state,
				    (unsigned long long)pfn, p.owner);
	}
	for (uint32_t mask = m->smmu_mask[i]; mask; mask &= mask - 1) {
		unsigned b = (unsigned)__builtin_ctz(mask);
		uint32_t o = m->smmu_owner[b];
		const struct hl_mval *ref = hl_hmap_get(&m->smmu_ref, ((uint64_t)b << 40) | pfn);
		uint64_t g = ref ? ref->pte + (o == HL_HOSTVISOR ? HL_SMMU_HOST_OFFSET : 0) : p.gfn;
		if (p.owner != o || p.gfn != g)
			return VIOL("SMMU bank %u (owner %u) maps pfn 0x%llx, owned by %u with gfn 0x%llx (expected gfn 0x%llx)",
				    b, o, (unsigned long long)pfn, p.owner, (unsigned long long)p.gfn,
				    (unsigned long long)g);
	}
	if (p.owner == HL_HOSTVISOR && p.count < m->smmu_n[i])
		return VIOL("host page pfn 0x%llx has count %u < %u SMMU mappings", (unsigned long long)pfn,
			    p.count, m->smmu_n[i]);
	return 0;
}

static int inv_npt_leaf(const struct hl_model *m, unsigned v, uint64_t gfn, char *msg, size_t len)
{
	const struct hl_mval *e = hl_hmap_get(&m->npt[v].pt, gfn);

	if (!is_mapping(e))
		return 0;
	if (v == HL_HOSTVISOR) {
		struct hl_mpage p = page_of(m, e->pfn);
		if (e->pfn != gfn)
			return VIOL("host table is not an identity map: gfn 0x%llx -> pfn 0x%llx",
				    (unsigned long long)gfn, (unsigned long long)e->pfn);
		if (!host_may_map(&p))
			return VIOL("host table maps pfn 0x%llx owned by %u with count %u (not host, INVALID or shared)",
				    (unsigned long long)e->pfn, p.owner, p.count);
	} else if (is_vm(v) && constrained(m, v) && is_ram(e->pfn) && page_of(m, e->pfn).owner != v) {
		return VIOL("VM %u (state %u) maps gfn 0x%llx to RAM pfn 0x%llx owned by %u", v, m->info[v].state,
			    (unsigned long long)gfn, (unsigned long long)e->pfn, page_of(m, e->pfn).owner);
	}
	return 0;
}

static int inv_spt_leaf(const struct hl_model *m, unsigned bank, uint64_t gfn, char *msg, size_t len)
{
	const struct hl_mval *e = hl_hmap_get(&m->spt[bank].pt, gfn);
	uint32_t o = m->smmu_owner[bank];
	struct hl_mpage p;
	uint64_t g;

	if (!e || o == HL_INVALID)
		return 0;
	p = page_of(m, e->pfn);
	g = o == HL_HOSTVISOR ? gfn + HL_SMMU_HOST_OFFSET : gfn;
	if (p.owner != o || p.gfn != g)
		return VIOL("SMMU bank %u (owner %u) maps iova gfn 0x%llx to pfn 0x%llx owned by %u with gfn 0x%llx",
			    bank, o, (unsigned long long)gfn, (unsigned long long)e->pfn, p.owner,
			    (unsigned long long)p.gfn);
	if (o == HL_HOSTVISOR && is_ram(e->pfn) && p.count < m->smmu_n[e->pfn - HL_RAM_BASE_PFN])
		return VIOL("host page pfn 0x%llx has count %u < %u SMMU mappings", (unsigned long long)e->pfn,
			    p.count, m->smmu_n[e->pfn - HL_RAM_BASE_PFN]);
	return 0;
}

static int inv_bank(const struct hl_model *m, unsigned b, char *msg, size_t len)
{
	const struct hl_hmap *h = &m->spt[b].pt;

	if (m->smmu_owner[b] != HL_INVALID && m->smmu_owner[b] >= HL_COREVISOR)
		return VIOL("SMMU bank %u is owned by %u, not below COREVISOR", b, m->smmu_owner[b]);
	for (uint32_t i = 0; i < h->cap; i++)
		if (h->key[i] && inv_spt_leaf(m, b, h->key[i] - 1, msg, len))
			return 1;
	return 0;
}

static int inv_vm(const struct hl_model *m, unsigned v, char *msg, size_t len)
{
	const struct hl_hmap *h = &m->npt[v].pt;

	for (uint32_t i = 0; i < h->cap; i++)
		if (h->key[i] && inv_npt_leaf(m, v, h->key[i] - 1, msg, len))
			return 1;
	return 0;
}

int hl_model_inv_facts(struct hl_model *m, const struct hl_fact *f, unsigned n, char *msg, size_t len)
{
	for (unsigned k = 0; k < n; k++) {
		switch (f[k].kind) {
		case HL_F_S2P:
			if (inv_page(m, f[k].key, msg, len))
				return 1;
			break;
		case HL_F_SMMU:
			for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++)
				if ((f[k].key == b || f[k].key >= HL_SMMU_CFG_SIZE) && inv_bank(m, b, msg, len))
					return 1;
			break;
		case HL_F_INFO:
			if (m->state_changed[f[k].id] && constrained(m, f[k].id) && inv_vm(m, f[k].id, msg, len))
				return 1;
			break;
		case HL_F_NPT_LEAF:
			for (uint64_t g = f[k].key; g < f[k].key + f[k].n; g++)
				if (inv_npt_leaf(m, f[k].id, g, msg, len))
					return 1;
			break;
		case HL_F_SPT_LEAF:
			for (uint64_t g = f[k].key; g < f[k].key + f[k].n; g++)
				if (inv_spt_leaf(m, f[k].id, g, msg, len))
					return 1;
			break;
		case HL_F_SPT_BANK:
			if (inv_bank(m, f[k].id, msg, len))
				return 1;
			break;
		case HL_F_OBJ:
			if (hl_model_inv_all(m, msg, len))
				return 1;
			break;
		default:
			break;
		}
	}
	return 0;
}

int hl_model_inv_all(struct hl_model *m, char *msg, size_t len)
{
	if (inv_page(m, 0, msg, len))
		return 1;
	for (uint64_t i = 0; i < HL_RAM_PAGES; i++)
		if (inv_page(m, HL_RAM_BASE_PFN + i, msg, len))
			return 1;
	for (unsigned v = 0; v <= HL_MAX_VM; v++)
		if ((v == HL_HOSTVISOR || constrained(m, v)) && inv_vm(m, v, msg, len))
			return 1;
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++)
		if (inv_bank(m, b, msg, len))
			return 1;
	return 0;
}

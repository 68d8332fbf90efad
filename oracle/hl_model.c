/*
 * hl_model.c - the sequential model of SPEC §6 over abstract maps, its abstraction from
 * raw object images, the comparison, the initial-state check, the recomputed OVERIFY
 * verdict and the security invariants.
 *
 * Written from: the seed's local_* transitions (seeds/004) as REFERENCE §5.1 states them,
 * corrected per SPEC §9; the isolation rules SPEC §11-§17 as DESIGN fixes them (order
 * inside a step: the seed's checks and halt branches first, then the isolation refusals,
 * then the writes); REFERENCE §4.6 for local_mmap_h / local_spt_map_h; REFERENCE §6
 * (Security/Invs.v) for the invariants; the Arm ARM for the table format (hl_mpt.c).
 * It includes no engine header and calls no engine function: table images are read by
 * hl_mpt.c, s2page / vminfo / core / smmu images through shared/hl_types.h layouts.
 */
#include "hl_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "hl_pool.h"
#include "hl_types.h"

#define PG HL_PAGE_SIZE
#define RAM_END (HL_RAM_BASE + HL_RAM_SIZE)

static inline uint64_t phys_page(uint64_t d) { return d & HL_DESC_ADDR_MASK; }
static inline bool is_vm(uint64_t v) { return v >= 1 && v <= HL_MAX_VM; }
static inline bool is_ram(uint64_t pfn)
{
	return pfn >= HL_RAM_BASE_PFN && pfn < HL_RAM_BASE_PFN + HL_RAM_PAGES;
}

/* context banks of each SMMU (the platform's; tests/test_model.c checks the engine agrees) */
static unsigned smmu_banks(uint64_t index)
{
	return index == 0 ? HL_SMMU_NUM_CB : index == 1 ? HL_SMMU_NUM_CB / 2 : 0;
}

/* flatmem's content digest (the file format's: XXH3-64 of the page) of a zero page */
static uint64_t zero_digest(void)
{
	static const uint8_t zero[HL_PAGE_SIZE];
	return XXH3_64bits(zero, sizeof(zero));
}

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

static inline uint64_t skey(unsigned level, uint64_t key) { return (uint64_t)level << 32 | key; }

/* ===================================================================================== */
/* lifetime and the spec's initial state                                                  */

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
	m->smmu_hn = calloc(HL_RAM_PAGES, sizeof(*m->smmu_hn));
	m->reads = calloc(1, sizeof(*m->reads));
	if (!m->s2p || !m->flat || !m->vm_mask || !m->smmu_mask || !m->smmu_n || !m->smmu_hn || !m->reads ||
	    hl_model_init(m)) {
		hl_model_free(m);
		return NULL;
	}
	return m;
}

static void npt_clear(struct hl_mnpt *t)
{
	hl_hmap_clear(&t->pt);
	hl_hmap_clear(&t->pgd);
	hl_hmap_clear(&t->pud);
	hl_hmap_clear(&t->pmd);
	hl_hmap_clear(&t->stray);
}

static void bank_clear(struct hl_mspt_bank *b)
{
	hl_hmap_clear(&b->pt);
	hl_hmap_clear(&b->pgd);
	hl_hmap_clear(&b->pmd);
	hl_hmap_clear(&b->stray);
}

void hl_model_free(struct hl_model *m)
{
	if (!m)
		return;
	for (unsigned v = 0; v < HL_NR_PRINC; v++) {
		hl_hmap_free(&m->npt[v].pt);
		hl_hmap_free(&m->npt[v].pgd);
		hl_hmap_free(&m->npt[v].pud);
		hl_hmap_free(&m->npt[v].pmd);
		hl_hmap_free(&m->npt[v].stray);
	}
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++) {
		hl_hmap_free(&m->spt[b].pt);
		hl_hmap_free(&m->spt[b].pgd);
		hl_hmap_free(&m->spt[b].pmd);
		hl_hmap_free(&m->spt[b].stray);
	}
	hl_hmap_free(&m->vm_cnt);
	hl_hmap_free(&m->smmu_ref);
	free(m->s2p);
	free(m->flat);
	free(m->vm_mask);
	free(m->smmu_mask);
	free(m->smmu_n);
	free(m->smmu_hn);
	free(m->reads);
	free(m);
}

void hl_model_set_keys(struct hl_model *m, const struct hl_keyset *keys)
{
	memset(&m->keys, 0, sizeof(m->keys));
	if (keys) {
		m->keys = *keys;
		if (m->keys.nkeys > HL_MAX_KEYS)
			m->keys.nkeys = HL_MAX_KEYS;
	}
}

/*
 * The initial state (SPEC §3, RData's initial shared state as hyplog sizes it): every RAM
 * page is the host's, {HOSTVISOR, 0, pfn + SMMU_HOST_OFFSET, dma 0}, zeroed; next_vmid 1,
 * next_remap_ptr REMAP_START; every SMMU bank free with an empty table; every vminfo zero
 * (UNUSED); every table empty with its bump pointers at the start of their regions.
 * The keys are kept: they are the run's configuration, not state.
 */
int hl_model_init(struct hl_model *m)
{
	struct hl_mpt_layout l;
	uint64_t zd = zero_digest();

	for (uint64_t i = 0; i < HL_RAM_PAGES; i++) {
		m->s2p[i] = (struct hl_mpage){ HL_HOSTVISOR, 0, HL_RAM_BASE_PFN + i + HL_SMMU_HOST_OFFSET, 0 };
		m->flat[i] = zd;
	}
	/* KCore's own memory (issue 12): COREVISOR's from the start, no guest frame */
	for (unsigned k = 0; k < m->kcore_n; k++)
		for (uint64_t pfn = m->kcore_base[k] / PG; pfn < (m->kcore_base[k] + m->kcore_size[k]) / PG; pfn++)
			if (is_ram(pfn))
				m->s2p[pfn - HL_RAM_BASE_PFN] = (struct hl_mpage){ HL_COREVISOR, 0, HL_INVALID64, 0 };
	memset(m->vm_mask, 0, HL_RAM_PAGES * sizeof(*m->vm_mask));
	memset(m->smmu_mask, 0, HL_RAM_PAGES * sizeof(*m->smmu_mask));
	memset(m->smmu_n, 0, HL_RAM_PAGES * sizeof(*m->smmu_n));
	memset(m->smmu_hn, 0, HL_RAM_PAGES * sizeof(*m->smmu_hn));
	m->next_vmid = 1;
	m->next_remap_ptr = HL_REMAP_START;
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++) {
		m->smmu_owner[b] = HL_INVALID;
		bank_clear(&m->spt[b]);
	}
	memset(m->info, 0, sizeof(m->info));
	for (unsigned v = 0; v < HL_NR_PRINC; v++) {
		struct hl_mnpt *t = &m->npt[v];
		npt_clear(t);
		hl_mpt_layout(HL_NPT_OBJ(v), &l);
		t->pgd_start = t->pgd_next = l.pgd_start;
		t->pud_start = t->pud_next = l.pud_start;
		t->pmd_start = t->pmd_next = l.pmd_start;
		t->pool_end = l.pool_end;
		t->pool_pa = l.pool_pa;
	}
	hl_mpt_layout(HL_SPT_ID, &l);
	m->spt_pgd_start = m->spt_pgd_next = l.pgd_start;
	m->spt_pmd_start = m->spt_pmd_next = l.pmd_start;
	m->spt_pool_end = l.pool_end;
	m->spt_pool_pa = l.pool_pa;
	hl_hmap_clear(&m->vm_cnt);
	hl_hmap_clear(&m->smmu_ref);
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
	m->ntouched = 0;
	m->touched_all = false;
	m->reads->n = 0;
	m->reads->over = false;
	m->reads->nh = 0;
	m->reads->hover = false;
}

/* a host-table level-3 entry the step looks at (hl_mreads.hgfn) */
static void host_read(struct hl_model *m, uint64_t gfn)
{
	struct hl_mreads *rd = m->reads;

	if (!rd->on || (rd->nh && rd->hgfn[rd->nh - 1] == gfn))
		return;
	if (rd->nh < sizeof(rd->hgfn) / sizeof(rd->hgfn[0]))
		rd->hgfn[rd->nh++] = gfn;
	else
		rd->hover = true;
}

/* pfn's reverse-index counts moved: hl_model_inv_facts re-checks the page */
static void touch(struct hl_model *m, uint64_t pfn)
{
	for (unsigned i = 0; i < m->ntouched; i++)
		if (m->touched[i] == pfn)
			return;
	if (m->ntouched < sizeof(m->touched) / sizeof(m->touched[0]))
		m->touched[m->ntouched++] = pfn;
	else
		m->touched_all = true;
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
	struct hl_mreads *rd = m->reads;

	if (!is_ram(pfn))
		return (struct hl_mpage){ HL_INVALID, 0, HL_INVALID64, 0 };
	if (rd->on && (!rd->n || rd->pfn[rd->n - 1] != pfn)) {
		if (rd->n < HL_MODEL_MAX_READS)
			rd->pfn[rd->n++] = pfn;
		else
			rd->over = true;
	}
	return m->s2p[pfn - HL_RAM_BASE_PFN];
}

/* owner, count, gfn := ...; dma keeps its value (its own setter) */
static void set_page(struct hl_model *m, uint64_t pfn, uint32_t owner, uint32_t count, uint64_t gfn)
{
	struct hl_mpage *p = &m->s2p[pfn - HL_RAM_BASE_PFN];

	p->owner = owner;
	p->count = count;
	p->gfn = gfn;
	fact(m, HL_F_S2P, 0, 0, pfn, 1);
}

static void set_dma(struct hl_model *m, uint64_t pfn, uint32_t dma)
{
	m->s2p[pfn - HL_RAM_BASE_PFN].dma = dma;
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
	const struct hl_mval *c;
	uint64_t n;

	if (!is_ram(pfn) || !is_vm(v))
		return;
	touch(m, pfn);
	c = hl_hmap_get(&m->vm_cnt, k);
	n = (c ? c->pfn : 0) + (uint64_t)(int64_t)d;
	if (n == 0 || (int64_t)n < 0) {
		hl_hmap_del(&m->vm_cnt, k);
		m->vm_mask[pfn - HL_RAM_BASE_PFN] &= ~(1u << v);
	} else {
		struct hl_mval nv = { n, 0, 0 };
		put(m, &m->vm_cnt, k, &nv);
		m->vm_mask[pfn - HL_RAM_BASE_PFN] |= 1u << v;
	}
}

/* one SMMU entry of `bank` for pfn (iova page gfn) appears (+1) or goes (-1): every bank
 * counts (free ones too), host-owned banks also count towards the host page's count */
static void smmu_ref(struct hl_model *m, unsigned bank, uint64_t pfn, uint64_t gfn, int d)
{
	uint64_t k = ((uint64_t)bank << 40) | pfn;
	const struct hl_mval *c;
	uint64_t n;
	size_t i;

	if (!is_ram(pfn))
		return;
	i = pfn - HL_RAM_BASE_PFN;
	touch(m, pfn);
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
	if (d > 0) {
		m->smmu_n[i]++;
		if (m->smmu_owner[bank] == HL_HOSTVISOR)
			m->smmu_hn[i]++;
	} else {
		if (m->smmu_n[i] > 0)
			m->smmu_n[i]--;
		if (m->smmu_owner[bank] == HL_HOSTVISOR && m->smmu_hn[i] > 0)
			m->smmu_hn[i]--;
	}
}

/* pt[gfn] := e (NULL: nothing). `f` = record a fact (range writes record one themselves) */
static void npt_leaf_set(struct hl_model *m, unsigned v, uint64_t gfn, const struct hl_mval *e, bool f)
{
	struct hl_mnpt *t = &m->npt[v];
	const struct hl_mval *old = hl_hmap_get(&t->pt, gfn);

	if (hl_mpt_is_mapping(old))
		vm_ref(m, v, old->pfn, -1);
	if (e && e->pte)
		put(m, &t->pt, gfn, e);
	else
		hl_hmap_del(&t->pt, gfn);
	if (e && e->pte && hl_mpt_is_mapping(e))
		vm_ref(m, v, e->pfn, +1);
	if (f)
		fact(m, HL_F_NPT_LEAF, v, 0, gfn, 1);
}

static struct hl_hmap *npt_pres_map(struct hl_model *m, unsigned v, unsigned level)
{
	return level == 0 ? &m->npt[v].pgd : level == 1 ? &m->npt[v].pud : &m->npt[v].pmd;
}

/* presence (and stray-ness) of the table link at (level, key) */
static void npt_pres_set(struct hl_model *m, unsigned v, unsigned level, uint64_t key, unsigned pres)
{
	struct hl_hmap *h = npt_pres_map(m, v, level);
	struct hl_hmap *s = &m->npt[v].stray;

	if (hset_has(h, key) == (pres == HL_MPT_PRESENT) && hset_has(s, skey(level, key)) == (pres == HL_MPT_STRAY))
		return;
	if (pres == HL_MPT_PRESENT)
		put(m, h, key, &one);
	else
		hl_hmap_del(h, key);
	if (pres == HL_MPT_STRAY)
		put(m, s, skey(level, key), &one);
	else
		hl_hmap_del(s, skey(level, key));
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

static void spt_leaf_set(struct hl_model *m, unsigned bank, uint64_t gfn, const struct hl_mval *e, bool f)
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
	if (f)
		fact(m, HL_F_SPT_LEAF, bank, 0, gfn, 1);
}

static void spt_pres_set(struct hl_model *m, unsigned bank, unsigned level, uint64_t key, unsigned pres)
{
	struct hl_hmap *h = level == 1 ? &m->spt[bank].pgd : &m->spt[bank].pmd;
	struct hl_hmap *s = &m->spt[bank].stray;

	if (hset_has(h, key) == (pres == HL_MPT_PRESENT) && hset_has(s, skey(level, key)) == (pres == HL_MPT_STRAY))
		return;
	if (pres == HL_MPT_PRESENT)
		put(m, h, key, &one);
	else
		hl_hmap_del(h, key);
	if (pres == HL_MPT_STRAY)
		put(m, s, skey(level, key), &one);
	else
		hl_hmap_del(s, skey(level, key));
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

/* the bank's table is emptied (its root zeroed): its entries stop existing */
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
	/* host-bank entries count towards host pages' counts: move them with the owner */
	for (uint32_t i = 0; i < b->pt.cap; i++) {
		uint64_t pfn;
		if (!b->pt.key[i] || !is_ram(b->pt.val[i].pfn))
			continue;
		touch(m, b->pt.val[i].pfn);
		pfn = b->pt.val[i].pfn - HL_RAM_BASE_PFN;
		if (old == HL_HOSTVISOR && m->smmu_hn[pfn] > 0)
			m->smmu_hn[pfn]--;
		if (owner == HL_HOSTVISOR)
			m->smmu_hn[pfn]++;
	}
	m->smmu_owner[bank] = owner;
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

/*
 * local_mmap_h v addr level pte: true = halt, nothing changed. Halts when a region of v's
 * pool would run past its end (a missing level-1 / level-2 / level-3 table takes one page
 * from the pgd / pud / pmd region), when a level-3 map falls inside a level-2 block, and
 * when a table link on the path leaves the pool (it cannot be followed; only a corrupted
 * image has one). Level 2 writes 512 entries gfn+i -> (pfn+i, 2, pte) and marks no level-3
 * table at that index; level 3 writes one.
 */
static bool mmap_h(struct hl_model *m, unsigned v, uint64_t addr, unsigned level, uint64_t pte)
{
	struct hl_mnpt *t = &m->npt[v];
	uint64_t pgd_next, pud_next, pmd_next = t->pmd_next;

	if (hset_has(&t->stray, skey(0, i0_of(addr))) || hset_has(&t->stray, skey(1, pud_key(addr))))
		return true;
	pgd_next = hset_has(&t->pgd, i0_of(addr)) ? t->pgd_next : t->pgd_next + PG;
	pud_next = hset_has(&t->pud, pud_key(addr)) ? t->pud_next : t->pud_next + PG;
	if (level == 2) {
		uint64_t gfn = addr / PG / 512 * 512, pfn = phys_page(pte) / PG;
		if (pgd_next > t->pud_start || pud_next > t->pmd_start)
			return true;
		for (uint64_t i = 0; i < 512; i++) {
			struct hl_mval e = { pfn + i, pte, 2 };
			npt_leaf_set(m, v, gfn + i, &e, false);
		}
		fact(m, HL_F_NPT_LEAF, v, 0, gfn, 512);
		npt_pres_set(m, v, 0, i0_of(addr), HL_MPT_PRESENT);
		npt_pres_set(m, v, 1, pud_key(addr), HL_MPT_PRESENT);
		npt_pres_set(m, v, 2, pmd_key(addr), HL_MPT_ABSENT);
		npt_meta_set(m, v, pgd_next, pud_next, t->pmd_next);
	} else {
		uint64_t gfn = addr / PG;
		const struct hl_mval *cur = hl_hmap_get(&t->pt, gfn);
		struct hl_mval e = { phys_page(pte) / PG, pte, 3 };

		if (v == HL_HOSTVISOR)
			host_read(m, gfn);
		if ((cur && cur->level == 2) || hset_has(&t->stray, skey(2, pmd_key(addr))))
			return true;
		if (!hset_has(&t->pmd, pmd_key(addr)))
			pmd_next += PG;
		if (pgd_next > t->pud_start || pud_next > t->pmd_start || pmd_next > t->pool_end)
			return true;
		npt_leaf_set(m, v, gfn, &e, true);
		npt_pres_set(m, v, 0, i0_of(addr), HL_MPT_PRESENT);
		npt_pres_set(m, v, 1, pud_key(addr), HL_MPT_PRESENT);
		npt_pres_set(m, v, 2, pmd_key(addr), HL_MPT_PRESENT);
		npt_meta_set(m, v, pgd_next, pud_next, pmd_next);
	}
	return false;
}

/*
 * npt(host) in shards (issue 11, DESIGN2.md H-npt rule 1): the seq-0 host table already has
 * the tables local_mmap_h would allocate for a level-3 map of each RAM 2 MiB block, in
 * ascending address order (pgd, pud, pmd regions, bump order), and no leaf. Applied to the
 * model's npt(v); `raw`, when not NULL, is a pool image (meta already set) that gets the
 * same links (pool_pa + page offset | table) and bump pointers, byte for byte.
 */
static void npt_prealloc(struct hl_model *m, unsigned v, uint8_t *raw)
{
	struct hl_mnpt *t = &m->npt[v];
	struct hl_pt_meta *mt = (struct hl_pt_meta *)raw;

	for (uint64_t addr = HL_RAM_BASE; addr < HL_RAM_BASE + HL_RAM_SIZE; addr += HL_PMD_SIZE) {
		uint64_t pg[3] = { 0, 0, 0 };
		/* the pages holding each level's entry: root, then the new or present tables */
		if (!hset_has(&t->pgd, i0_of(addr))) {
			if (raw)
				((uint64_t *)(raw + PG))[i0_of(addr)] = (mt->pool_pa + t->pgd_next) | HL_DESC_TYPE_TABLE;
			t->pgd_next += PG;
			npt_pres_set(m, v, 0, i0_of(addr), HL_MPT_PRESENT);
		}
		if (raw) {
			pg[0] = (((const uint64_t *)(raw + PG))[i0_of(addr)] & HL_DESC_ADDR_MASK) - mt->pool_pa;
			if (!hset_has(&t->pud, pud_key(addr)))
				((uint64_t *)(raw + pg[0]))[i1_of(addr)] = (mt->pool_pa + t->pud_next) | HL_DESC_TYPE_TABLE;
		}
		if (!hset_has(&t->pud, pud_key(addr))) {
			t->pud_next += PG;
			npt_pres_set(m, v, 1, pud_key(addr), HL_MPT_PRESENT);
		}
		if (raw) {
			pg[1] = (((const uint64_t *)(raw + pg[0]))[i1_of(addr)] & HL_DESC_ADDR_MASK) - mt->pool_pa;
			if (!hset_has(&t->pmd, pmd_key(addr)))
				((uint64_t *)(raw + pg[1]))[i2_of(addr)] = (mt->pool_pa + t->pmd_next) | HL_DESC_TYPE_TABLE;
		}
		if (!hset_has(&t->pmd, pmd_key(addr))) {
			t->pmd_next += PG;
			npt_pres_set(m, v, 2, pmd_key(addr), HL_MPT_PRESENT);
		}
	}
	if (raw) {
		mt->pgd_next = t->pgd_next;
		mt->pud_next = t->pud_next;
		mt->pmd_next = t->pmd_next;
	}
}

/*
 * SPEC §13: may a VM's level-`level` entry at addr be written without replacing one?
 * Level 3: no level-2 block over it and no level-3 entry (pt has nothing at gfn); level 2:
 * neither a block nor a level-3 table (even an empty one) at that level-2 index. A path
 * through a stray link reaches nothing, so it is free (and mmap_h then halts on it), except
 * a stray link in the level-2 slot itself, which is an entry there.
 */
static bool npt_slot_free(const struct hl_model *m, unsigned v, uint64_t addr, unsigned level)
{
	const struct hl_mnpt *t = &m->npt[v];
	const struct hl_mval *e;

	if (hset_has(&t->stray, skey(0, i0_of(addr))) || hset_has(&t->stray, skey(1, pud_key(addr))))
		return true;
	if (level == 2) {
		e = hl_hmap_get(&t->pt, addr / PG / 512 * 512);
		return !(e && e->level == 2) && !hset_has(&t->pmd, pmd_key(addr)) &&
		       !hset_has(&t->stray, skey(2, pmd_key(addr)));
	}
	e = hl_hmap_get(&t->pt, addr / PG);
	if (e && e->level == 2)
		return false;
	if (hset_has(&t->stray, skey(2, pmd_key(addr))))
		return true;
	return !(e && e->level == 3);
}

static inline uint64_t si1(uint64_t iova) { return (iova >> 30) & 1023; }
static inline uint64_t spmd_key(uint64_t iova) { return si1(iova) << 9 | i2_of(iova); }

/* local_spt_map_h bank iova pte (pte 0 = unmap): true = halt, nothing changed. The SMMU
 * pool's two regions (level-2 tables from pgd, level-3 from pmd) are shared by every bank. */
static bool spt_map_h(struct hl_model *m, unsigned bank, uint64_t iova, uint64_t pte)
{
	struct hl_mspt_bank *b = &m->spt[bank];
	uint64_t pgd_next, pmd_next;
	struct hl_mval e = { phys_page(pte) / PG, pte, 3 };

	if (hset_has(&b->stray, skey(1, si1(iova))) || hset_has(&b->stray, skey(2, spmd_key(iova))))
		return true;
	pgd_next = hset_has(&b->pgd, si1(iova)) ? m->spt_pgd_next : m->spt_pgd_next + PG;
	pmd_next = hset_has(&b->pmd, spmd_key(iova)) ? m->spt_pmd_next : m->spt_pmd_next + PG;
	if (pgd_next > m->spt_pmd_start || pmd_next > m->spt_pool_end)
		return true;
	spt_leaf_set(m, bank, iova / PG, pte ? &e : NULL, true);
	spt_pres_set(m, bank, 1, si1(iova), HL_MPT_PRESENT);
	spt_pres_set(m, bank, 2, spmd_key(iova), HL_MPT_PRESENT);
	spt_meta_set(m, pgd_next, pmd_next);
	return false;
}

/* the seed's host unmap: a host entry that maps a frame becomes the PAGE_GUEST marker */
static bool host_unmap(struct hl_model *m, uint64_t pfn)
{
	const struct hl_mval *e = hl_hmap_get(&m->npt[HL_HOSTVISOR].pt, pfn);

	host_read(m, pfn);
	if (!e || phys_page(e->pte) == 0)
		return false;
	return mmap_h(m, HL_HOSTVISOR, pfn * PG, 3, HL_PAGE_GUEST);
}

/* ===================================================================================== */
/* transitions: the seed's local_* with SPEC §9 and the SPEC §12-§13 isolation rules.     */
/* Each table: pre-state => post-state; locks in acquisition order; halt{X} = X stays     */
/* locked; DENIED = HL_E_DENIED, nothing changes.                                          */

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
	if (r->nlocks < HL_MODEL_MAX_LOCKS)
		r->locks[r->nlocks++] = (uint16_t)obj;
}

static int halt(struct ctx *c, unsigned n, ...)
{
	va_list ap;

	va_start(ap, n);
	for (unsigned i = 0; i < n && c->res->nstrand < HL_MODEL_MAX_LOCKS; i++)
		c->res->strand[c->res->nstrand++] = (uint16_t)va_arg(ap, unsigned);
	va_end(ap);
	return HL_HALT;
}

#define A(i) (c->ev->arg[i])
#define S2P HL_S2PAGE_ID
#define NPT0 HL_NPT_OBJ(HL_HOSTVISOR)
#define INFO(v) HL_INFO_OBJ(v)

/* OMAP_HOST addr                                       locks: s2page, npt(host)
 *   owner INVALID => host maps addr -> pfn, PAGE_S2_DEVICE | S2_RDWR
 *   owner HOSTVISOR, or shared (0 < count != INVALID) => host maps addr -> pfn, PAGE_S2_KERNEL
 *   otherwise => halt{s2page};  pool exhausted => halt{s2page, npt(host)} */
static int m_map_host(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t addr = A(0), pfn = addr / PG, pte;
	struct hl_mpage p = page_of(m, pfn);

	lock(c, S2P);
	lock(c, NPT0);
	if (p.owner == HL_INVALID)
		pte = (pfn * PG) | HL_PAGE_S2_DEVICE | HL_PTE_S2_RDWR;
	else if (p.owner == HL_HOSTVISOR || (p.count > 0 && p.count != HL_INVALID))
		pte = (pfn * PG) | HL_PAGE_S2_KERNEL;
	else
		return halt(c, 1, S2P);
	if (mmap_h(m, HL_HOSTVISOR, addr, 3, pte))
		return halt(c, 2, S2P, NPT0);
	return HL_OK;
}

/* OCLEAR_VM vmid pfn                      locks: vminfo(vmid) (read), s2page, npt(host)
 *   RAM page owned by vmid: dma != 0 => DENIED (§12)
 *       the VM is POWEROFF and one of its vCPUs is still ACTIVE => DENIED (a page never
 *           goes back to the host while a vCPU of its powered-off VM is in the guest)
 *       else host entry := PAGE_GUEST (if any, §9.7), page := {HOSTVISOR, 0, pfn + OFFSET},
 *       flatmem := zero page;  host unmap exhausts the pool => halt{s2page, npt(host)}
 *   otherwise => no change */
static int m_clear_vm(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t vmid = A(0), pfn = A(1);
	struct hl_mpage p = page_of(m, pfn);
	const struct hl_mvminfo *vi = &m->info[vmid];
	bool in_guest = false;

	lock(c, INFO(vmid));
	lock(c, S2P);
	lock(c, NPT0);
	if (!is_ram(pfn) || p.owner != vmid)
		return HL_OK;
	if (p.dma != 0)
		return HL_E_DENIED;
	for (unsigned v = 0; v < HL_VCPU_PER_VM; v++)
		in_guest |= vi->vcpu_state[v] == HL_VCPU_ACTIVE;
	if (vi->state == HL_VM_POWEROFF && in_guest)
		return HL_E_DENIED;
	if (host_unmap(m, pfn))
		return halt(c, 2, S2P, NPT0);
	set_page(m, pfn, HL_HOSTVISOR, 0, pfn + HL_SMMU_HOST_OFFSET);
	set_flat(m, pfn, zero_digest());
	return HL_OK;
}

/* OASSIGN_VM vmid gfn pfn (dorc = the page's content)   locks: s2page, npt(host)
 *   host page, count != 0 => halt{s2page}
 *   host page, dma != 0 => DENIED (§12)
 *   host page => page := {vmid, 0, gfn}; host entry := PAGE_GUEST; flatmem := dorc (§9.4)
 *       host unmap exhausts the pool => halt{s2page, npt(host)} (page already stored)
 *   vmid's page with gfn equal or unset => count INVALID -> 0, gfn := gfn (§9.5)
 *   otherwise => halt{s2page} */
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
		if (p.dma != 0)
			return HL_E_DENIED;
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

/* OMAP_VM vmid addr pte level                           locks: npt(vmid)
 *   the entry is set already (§13: a page over a page, a page inside a block, a block over
 *       a block or a level-3 table) => DENIED
 *   otherwise vmid maps addr at level with phys_page(pte) | PAGE_S2_KERNEL (level 2: the
 *       table bit cleared, a block);  pool exhausted => halt{npt(vmid)} */
static int m_map_vm(struct ctx *c)
{
	uint64_t vmid = A(0), addr = A(1), level = A(3) == 2 ? 2 : 3;
	uint64_t pte = phys_page(A(2)) | HL_PAGE_S2_KERNEL;

	lock(c, HL_NPT_OBJ(vmid));
	if (!npt_slot_free(c->m, (unsigned)vmid, addr, (unsigned)level))
		return HL_E_DENIED;
	if (level == 2)
		pte &= HL_NOT_PMD_TABLE_BIT;
	if (mmap_h(c->m, (unsigned)vmid, addr, (unsigned)level, pte))
		return halt(c, 1, HL_NPT_OBJ(vmid));
	return HL_OK;
}

/* SPEC §13 for OMAP_IO: the VM's memory is set once, so no device page goes inside a
 * 2 MiB block or over a page that maps RAM; a device page over a device page (the seed's
 * overwrite) stays allowed */
static bool io_slot_ok(const struct hl_model *m, unsigned v, uint64_t gpa)
{
	const struct hl_mval *e = hl_hmap_get(&m->npt[v].pt, gpa / PG);

	if (e && e->level == 2)
		return false;
	return !(e && e->level == 3 && is_ram(phys_page(e->pte) / PG));
}

/* OMAP_IO vmid gpa pa                         locks: vminfo(vmid), s2page, npt(vmid)
 *   VM not READY => halt{vminfo(vmid)} (§9.7)
 *   pa is RAM (owner != INVALID) => no change
 *   gpa inside a 2 MiB block or over a page mapping RAM (§13) => DENIED
 *   otherwise (nothing there, or a device page) vmid maps gpa -> pa, PAGE_S2_DEVICE |
 *       S2_RDWR;  pool exhausted => halt{s2page, npt(vmid)} */
static int m_map_io(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t vmid = A(0), gpa = A(1), pa = A(2);

	lock(c, INFO(vmid));
	lock(c, S2P);
	lock(c, HL_NPT_OBJ(vmid));
	if (m->info[vmid].state != HL_VM_READY)
		return halt(c, 1, INFO(vmid));
	if (page_of(m, pa / PG).owner != HL_INVALID)
		return HL_OK;
	if (!io_slot_ok(m, (unsigned)vmid, gpa))
		return HL_E_DENIED;
	if (mmap_h(m, (unsigned)vmid, gpa, 3, phys_page(pa) | HL_PAGE_S2_DEVICE | HL_PTE_S2_RDWR))
		return halt(c, 2, S2P, HL_NPT_OBJ(vmid));
	return HL_OK;
}

/* OGRANT vmid pfn                                        locks: s2page
 *   vmid's RAM page with count < MAX_SHARE_COUNT => count + 1;  otherwise no change */
static int m_grant(struct ctx *c)
{
	uint64_t vmid = A(0), pfn = A(1);
	struct hl_mpage p = page_of(c->m, pfn);

	lock(c, S2P);
	if (is_ram(pfn) && p.owner == vmid && p.count < HL_MAX_SHARE_COUNT)
		set_page(c->m, pfn, p.owner, p.count + 1, p.gfn);
	return HL_OK;
}

/* OREVOKE vmid pfn (dorc = content)                      locks: s2page, npt(host)
 *   vmid's RAM page with 0 < count != INVALID => count - 1; from 1 to 0 the host entry
 *       becomes PAGE_GUEST and flatmem := dorc (§9.4);
 *       host unmap exhausts the pool => halt{s2page, npt(host)}
 *   otherwise => no change */
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

/* OGEN_VMID                                              locks: core
 *   next_vmid < COREVISOR => ret := next_vmid, next_vmid + 1;  otherwise halt (§9.6) */
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

/* OREG_KVM vmid kvm key_idx                              locks: vminfo(vmid)
 *   key_idx names no key KCore holds (>= nkeys) => rejected before the step (§11)
 *   UNUSED => READY, kvm := handle, inc_exe := 0, key_idx;  otherwise halt; ret := vmid */
static int m_reg_kvm(struct ctx *c)
{
	uint64_t vmid = A(0);
	struct hl_mvminfo *vi = &c->m->info[vmid];
	uint32_t old = vi->state;

	if (A(2) >= c->m->keys.nkeys)
		return HL_E_INVAL;
	lock(c, INFO(vmid));
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

/* OREG_VCPU vmid vcpuid vcpu                             locks: vminfo(vmid)
 *   VM READY and vCPU UNUSED => vcpu := handle, vCPU READY;  otherwise halt */
static int m_reg_vcpu(struct ctx *c)
{
	uint64_t vmid = A(0), vcpuid = A(1);
	struct hl_mvminfo *vi = &c->m->info[vmid];

	lock(c, INFO(vmid));
	if (vi->state != HL_VM_READY || vi->vcpu_state[vcpuid] != HL_VCPU_UNUSED)
		return halt(c, 0);
	vi->vcpu[vcpuid] = A(2);
	vi->vcpu_state[vcpuid] = HL_VCPU_READY;
	info_touch(c->m, (unsigned)vmid, vi->state);
	return HL_OK;
}

/* OVM_ACTIVE vmid vcpuid: VM VERIFIED and vCPU READY => ACTIVE; else halt   locks: vminfo */
static int m_vm_active(struct ctx *c)
{
	uint64_t vmid = A(0), vcpuid = A(1);
	struct hl_mvminfo *vi = &c->m->info[vmid];

	lock(c, INFO(vmid));
	if (vi->state != HL_VM_VERIFIED || vi->vcpu_state[vcpuid] != HL_VCPU_READY)
		return halt(c, 0);
	vi->vcpu_state[vcpuid] = HL_VCPU_ACTIVE;
	info_touch(c->m, (unsigned)vmid, vi->state);
	return HL_OK;
}

/* OVM_INACTIVE vmid vcpuid: vCPU ACTIVE => READY; else halt (§9.1)   locks: vminfo */
static int m_vm_inactive(struct ctx *c)
{
	uint64_t vmid = A(0), vcpuid = A(1);
	struct hl_mvminfo *vi = &c->m->info[vmid];

	lock(c, INFO(vmid));
	if (vi->vcpu_state[vcpuid] != HL_VCPU_ACTIVE)
		return halt(c, 0);
	vi->vcpu_state[vcpuid] = HL_VCPU_READY;
	info_touch(c->m, (unsigned)vmid, vi->state);
	return HL_OK;
}

/* OVM_POWEROFF vmid: state := POWEROFF                   locks: vminfo(vmid) */
static int m_vm_poweroff(struct ctx *c)
{
	uint64_t vmid = A(0);
	struct hl_mvminfo *vi = &c->m->info[vmid];
	uint32_t old = vi->state;

	lock(c, INFO(vmid));
	if (vi->state != HL_VM_POWEROFF) {
		vi->state = HL_VM_POWEROFF;
		info_touch(c->m, (unsigned)vmid, old);
	}
	return HL_OK;
}

/* OBOOT_INFO vmid load_addr size (blob = signature)       locks: vminfo(vmid), core
 *   VM not READY => halt
 *   idx = next_load_info >= MAX_LOAD_INFO => no change; ret := idx
 *   pgnum = ceil(size / 4K); pgnum == 0 or remap + pgnum * 4K >= REMAP_END => halt
 *       (the seed: "need 0 < pgnum and remap + pgnum * 4K < REMAP_END")
 *   otherwise next_remap_ptr += pgnum * 4K, load[idx] := {addr, size, remap, 0, sig},
 *       next_load_info + 1; ret := idx */
static int m_boot_info(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t vmid = A(0), load_addr = A(1), size = A(2), idx, pgnum, remap;
	struct hl_mvminfo *vi = &m->info[vmid];

	lock(c, INFO(vmid));
	lock(c, HL_CORE_ID);
	if (vi->state != HL_VM_READY)
		return halt(c, 0);
	idx = vi->next_load_info;
	c->res->ret = idx;
	if (idx >= HL_MAX_LOAD_INFO)
		return HL_OK;
	pgnum = (size + PG - 1) / PG;
	remap = m->next_remap_ptr;
	if (pgnum == 0 || remap + pgnum * PG >= HL_REMAP_END)
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

/* OREMAP_IMAGE vmid pfn idx                        locks: vminfo(vmid), npt(COREVISOR)
 *   VM not READY => halt{vminfo}
 *   idx < next_load_info and mapped < ceil(size / 4K) => KCore maps remap + mapped * 4K ->
 *       pfn with PAGE_HYP, mapped + 1;  pool exhausted => halt{vminfo, npt(COREVISOR)}
 *   otherwise => no change */
static int m_remap_image(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t vmid = A(0), pfn = A(1), idx = A(2), pgnum, target;
	struct hl_mvminfo *vi = &m->info[vmid];
	struct hl_mload *li;

	lock(c, INFO(vmid));
	lock(c, HL_NPT_OBJ(HL_COREVISOR));
	if (vi->state != HL_VM_READY)
		return halt(c, 1, INFO(vmid));
	if (idx >= vi->next_load_info)
		return HL_OK;
	li = &vi->load[idx];
	pgnum = (li->size + PG - 1) / PG;
	if (li->mapped_pages >= pgnum)
		return HL_OK;
	target = li->remap_addr + li->mapped_pages * PG;
	if (mmap_h(m, HL_COREVISOR, target, 3, (pfn * PG) | HL_PAGE_HYP))
		return halt(c, 2, INFO(vmid), HL_NPT_OBJ(HL_COREVISOR));
	li->mapped_pages++;
	info_touch(m, (unsigned)vmid, vi->state);
	return HL_OK;
}

/*
 * The images are loadable: the bytes the signature covers are the bytes that get loaded,
 * and loading them replaces nothing (SPEC §13, §14: validated whole before any page moves).
 * verify_and_load loads each 2 MiB chunk of an image as one block of frames pfn .. pfn +
 * 511, where pfn is the frame KCore's table maps at the chunk's first remap page; so every
 * remapped page of the chunk must be that frame's successor in order, the first one 2 MiB
 * aligned, and all of them RAM; no chunk may fall inside an earlier image; and the VM's
 * level-2 slot of the chunk must be free or hold exactly this block. The load steps are
 * operations of their own before OVERIFY: at OVERIFY's turn a chunk that was loaded holds
 * its block (accepted), one that was refused still finds what refused it.
 */
static bool images_loadable(const struct hl_model *m, uint64_t vmid, const struct hl_mvminfo *vi)
{
	const struct hl_hmap *core = &m->npt[HL_COREVISOR].pt;

	for (uint32_t i = 0; i < vi->next_load_info && i < HL_MAX_LOAD_INFO; i++) {
		const struct hl_mload *li = &vi->load[i];
		uint64_t base = 0;
		for (uint64_t off = 0; off < li->size; off += PG) {
			const struct hl_mval *e = hl_hmap_get(core, (li->remap_addr + off) / PG);
			uint64_t pfn = e && e->level == 3 ? e->pfn : 0, addr = li->load_addr + off;
			if (off % HL_PMD_SIZE) {
				if (pfn != base + (off % HL_PMD_SIZE) / PG)
					return false;
				continue;
			}
			base = pfn;
			if (!pfn || pfn % 512 || !is_ram(pfn) || !is_ram(pfn + 511))
				return false;
			for (uint32_t j = 0; j < i; j++)
				if (addr >= vi->load[j].load_addr && addr - vi->load[j].load_addr < vi->load[j].size)
					return false;
			e = hl_hmap_get(&m->npt[vmid].pt, addr / PG);
			if (!(e && e->level == 2 && phys_page(e->pte) == pfn * PG) &&
			    !npt_slot_free(m, (unsigned)vmid, addr, 2))
				return false;
		}
	}
	return true;
}

/*
 * OVERIFY's verdict, recomputed (SPEC §9.10, §11): every image i has a digest in the
 * record's blob (32 bytes each, in image order: BLAKE2b-256 of the image bytes as KCore
 * read them), and load[i].signature is a valid Ed25519 signature over that digest under
 * KCore's key key_idx (the file header's keys). The images must also be loadable (above).
 * Returns 1 verified, 0 not.
 */
static int verify_verdict(const struct hl_model *m, uint64_t vmid, const struct hl_mvminfo *vi,
			  const struct hl_model_ev *ev)
{
	uint32_t n = vi->next_load_info;

	if (n > HL_MAX_LOAD_INFO || !images_loadable(m, vmid, vi))
		return 0;
	if (n == 0)
		return 1;
	if (vi->key_idx >= m->keys.nkeys || !ev->blob || ev->blob_len < 32u * n || sodium_init() < 0)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (crypto_sign_verify_detached(vi->load[i].signature, ev->blob + 32u * i, 32,
						m->keys.key[vi->key_idx]) != 0)
			return 0;
	return 1;
}

/* OVERIFY vmid (blob = image digests; dorc = the engine's verdict: 1 verified, 0 not, 2 a
 * per-page load step halted)                                  locks: vminfo(vmid)
 *   (the per-page OASSIGN_VM / OMAP_VM steps of the load are their own operations)
 *   VM not READY => halt{vminfo}
 *   dorc == 2 => halt{vminfo} (the CPU halted inside the load, holding vminfo)
 *   recomputed verdict (never dorc) verified => VERIFIED; otherwise stays READY
 *   res->dorc_mismatch: the record's dorc says the other verdict */
static int m_verify(struct ctx *c)
{
	uint64_t vmid = A(0);
	struct hl_mvminfo *vi = &c->m->info[vmid];
	int v;

	lock(c, INFO(vmid));
	if (vi->state != HL_VM_READY)
		return halt(c, 1, INFO(vmid));
	if (c->ev->dorc == 2)
		return halt(c, 1, INFO(vmid));
	v = verify_verdict(c->m, vmid, vi, c->ev);
	c->res->verdict = v;
	c->res->dorc_mismatch = (c->ev->dorc == 1) != (v == 1);
	if (v == 1) {
		vi->state = HL_VM_VERIFIED;
		info_touch(c->m, (unsigned)vmid, HL_VM_READY);
	}
	return HL_OK;
}

/* OSMMU_ALLOC cbndx vmid index num                      locks: smmu, vminfo(vmid), spt
 *   cbndx >= num => halt{smmu}
 *   bank owned => no change
 *   vmid a VERIFIED VM => halt{smmu, vminfo(vmid)} (§9.7)
 *   otherwise owner := vmid and the bank's table is emptied (its root reset) */
static int m_smmu_alloc(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t cbndx = A(0), vmid = A(1), index = A(2), num = A(3);
	unsigned bank = (unsigned)HL_SMMU_ID_OF(index, cbndx);

	lock(c, HL_SMMU_ID);
	lock(c, INFO(vmid));
	lock(c, HL_SPT_ID);
	if (cbndx >= num)
		return halt(c, 1, HL_SMMU_ID);
	if (m->smmu_owner[bank] != HL_INVALID)
		return HL_OK;
	if (is_vm(vmid) && m->info[vmid].state == HL_VM_VERIFIED)
		return halt(c, 2, HL_SMMU_ID, INFO(vmid));
	smmu_owner_set(m, bank, (uint32_t)vmid);
	spt_bank_reset(m, bank);
	return HL_OK;
}

/* an SMMU entry of a bank owned by `bank_owner` that mapped pfn is gone (§12): dma - 1;
 * count - 1 only for a host bank's entry on a host page with 0 < count != INVALID */
static void smmu_unref(struct hl_model *m, uint32_t bank_owner, uint64_t pfn)
{
	struct hl_mpage p = page_of(m, pfn);

	if (!is_ram(pfn))
		return;
	if (bank_owner == HL_HOSTVISOR && p.owner == HL_HOSTVISOR && p.count > 0 && p.count != HL_INVALID)
		set_page(m, pfn, p.owner, p.count - 1, p.gfn);
	if (p.dma > 0)
		set_dma(m, pfn, p.dma - 1);
}

/* OSMMU_FREE cbndx index            locks: smmu, vminfo(owner) [, s2page, spt]
 *   bank free => no change (locks: smmu)
 *   owner not POWEROFF => halt{smmu} (locks: smmu, vminfo(owner))
 *   otherwise (s2page and spt locked next) every entry of the bank := 0 with OSMMU_CLEAR's
 *       accounting, then owner := INVALID (§9.3; §12: a freed bank maps nothing) */
static int m_smmu_free(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t cbndx = A(0), index = A(1);
	unsigned bank = (unsigned)HL_SMMU_ID_OF(index, cbndx);
	uint32_t owner = m->smmu_owner[bank];
	struct hl_mspt_bank *b = &m->spt[bank];
	uint64_t *gfns;
	uint32_t n = 0;

	lock(c, HL_SMMU_ID);
	if (owner == HL_INVALID)
		return HL_OK;
	lock(c, INFO(owner));
	if (m->info[owner].state != HL_VM_POWEROFF)
		return halt(c, 1, HL_SMMU_ID);
	lock(c, S2P);
	lock(c, HL_SPT_ID);
	gfns = malloc((b->pt.n + 1) * sizeof(*gfns));
	if (!gfns) {
		m->nomem = true;
		return HL_OK;
	}
	for (uint32_t i = 0; i < b->pt.cap; i++)
		if (b->pt.key[i])
			gfns[n++] = b->pt.key[i] - 1;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t pfn = hl_hmap_get(&b->pt, gfns[i])->pfn;
		spt_leaf_set(m, bank, gfns[i], NULL, false);   /* the tables exist: no allocation */
		smmu_unref(m, owner, pfn);
	}
	free(gfns);
	if (n)
		fact(m, HL_F_SPT_BANK, bank, 0, 0, 1);
	smmu_owner_set(m, bank, HL_INVALID);
	return HL_OK;
}

/* OASSIGN_SMMU cbndx index pfn gfn        locks: smmu [, vminfo(owner), s2page, npt(host)]
 *   bank free or the host's => no change (locks: smmu)
 *   owner VERIFIED => halt{smmu, vminfo}
 *   host page, count != 0 => halt{smmu, vminfo, s2page}
 *   host page, dma != 0 => DENIED (§12)
 *   host page => host entry := PAGE_GUEST; page := {owner, INVALID, gfn} (flatmem not
 *       stored, as the seed);  host unmap exhausts the pool => halt{smmu, vminfo, s2page, npt(host)}
 *   owner's page => no change;  otherwise => halt{smmu, vminfo, s2page} */
static int m_assign_smmu(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t cbndx = A(0), index = A(1), pfn = A(2), gfn = A(3);
	uint32_t owner = m->smmu_owner[HL_SMMU_ID_OF(index, cbndx)];
	struct hl_mpage p;

	lock(c, HL_SMMU_ID);
	if (owner == HL_INVALID || !is_vm(owner))
		return HL_OK;
	lock(c, INFO(owner));
	lock(c, S2P);
	lock(c, NPT0);
	if (m->info[owner].state == HL_VM_VERIFIED)
		return halt(c, 2, HL_SMMU_ID, INFO(owner));
	p = page_of(m, pfn);
	if (p.owner == HL_HOSTVISOR) {
		if (p.count != 0)
			return halt(c, 3, HL_SMMU_ID, INFO(owner), S2P);
		if (p.dma != 0)
			return HL_E_DENIED;
		if (host_unmap(m, pfn))
			return halt(c, 4, HL_SMMU_ID, INFO(owner), S2P, NPT0);
		set_page(m, pfn, owner, HL_INVALID, gfn);
		return HL_OK;
	}
	if (p.owner == owner)
		return HL_OK;
	return halt(c, 3, HL_SMMU_ID, INFO(owner), S2P);
}

/* OSMMU_MAP cbndx index iova pte           locks: smmu [, vminfo(owner), s2page, spt]
 *   bank free => no change (locks: smmu)
 *   owner a VERIFIED VM => halt{smmu, vminfo}
 *   page of pte not the owner's, or its gfn != iova/4K (host banks: + SMMU_HOST_OFFSET)
 *       => halt{smmu, vminfo, s2page}
 *   iova mapped in the bank already => DENIED (§12)
 *   host page with count >= EL2_SMMU_CFG_SIZE => DENIED (§12: counts stay exact)
 *   otherwise bank maps iova -> pte; dma + 1; host page: count + 1;
 *       pool exhausted => halt{smmu, vminfo, s2page, spt} */
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
	lock(c, INFO(owner));
	lock(c, S2P);
	lock(c, HL_SPT_ID);
	if (is_vm(owner) && m->info[owner].state == HL_VM_VERIFIED)
		return halt(c, 2, HL_SMMU_ID, INFO(owner));
	p = page_of(m, pfn);
	if (owner == HL_HOSTVISOR)
		gfn += HL_SMMU_HOST_OFFSET;
	if (!(p.owner == owner && p.gfn == gfn))
		return halt(c, 3, HL_SMMU_ID, INFO(owner), S2P);
	if (hl_hmap_get(&m->spt[bank].pt, iova / PG))
		return HL_E_DENIED;
	if (p.owner == HL_HOSTVISOR && p.count >= HL_SMMU_CFG_SIZE)
		return HL_E_DENIED;
	if (spt_map_h(m, bank, iova, pte))
		return halt(c, 4, HL_SMMU_ID, INFO(owner), S2P, HL_SPT_ID);
	if (p.owner == HL_HOSTVISOR)
		set_page(m, pfn, p.owner, p.count + 1, p.gfn);
	set_dma(m, pfn, p.dma + 1);
	return HL_OK;
}

/* OSMMU_CLEAR iova cbndx index             locks: smmu [, vminfo(owner), s2page, spt]
 *   bank free => no change (locks: smmu)
 *   owner a VERIFIED VM => halt{smmu, vminfo}
 *   no entry at iova => no change
 *   otherwise entry := 0; pfn0 = phys_page(pte)/4K: dma - 1, and count - 1 for a host
 *       bank's entry on a host page (§12) */
static int m_smmu_clear(struct ctx *c)
{
	struct hl_model *m = c->m;
	uint64_t iova = A(0), cbndx = A(1), index = A(2), pfn0;
	unsigned bank = (unsigned)HL_SMMU_ID_OF(index, cbndx);
	uint32_t owner = m->smmu_owner[bank];
	const struct hl_mval *e;

	lock(c, HL_SMMU_ID);
	if (owner == HL_INVALID)
		return HL_OK;
	lock(c, INFO(owner));
	lock(c, S2P);
	lock(c, HL_SPT_ID);
	if (is_vm(owner) && m->info[owner].state == HL_VM_VERIFIED)
		return halt(c, 2, HL_SMMU_ID, INFO(owner));
	e = hl_hmap_get(&m->spt[bank].pt, iova / PG);
	if (!e)
		return HL_OK;
	pfn0 = phys_page(e->pte) / PG;
	if (spt_map_h(m, bank, iova, 0))
		return halt(c, 4, HL_SMMU_ID, INFO(owner), S2P, HL_SPT_ID);
	smmu_unref(m, owner, pfn0);
	return HL_OK;
}

/* argument checks: what a well-formed event (host input accepted, or a record) carries */
bool hl_model_valid(unsigned ev, const uint64_t *a)
{
	const uint64_t pfns = HL_PHYS_SIZE / PG, gfns = HL_ADDR_SPACE / PG;
	const uint64_t window = HL_REMAP_END - HL_REMAP_START;
#define BANK(cb, ix) ((ix) < HL_SMMU_NUM && (cb) < smmu_banks(ix))

	switch (ev) {
	case HL_EV_MAP_HOST: return a[0] < RAM_END;
	case HL_EV_CLEAR_VM:
	case HL_EV_GRANT:
	case HL_EV_REVOKE: return is_vm(a[0]) && a[1] < pfns;
	case HL_EV_ASSIGN_VM: return is_vm(a[0]) && a[1] < gfns && is_ram(a[2]);
	case HL_EV_MAP_VM:
		/* a block descriptor holds OA[47:21] only */
		return is_vm(a[0]) && a[1] < HL_ADDR_SPACE && (a[3] == 2 || a[3] == 3) &&
		       phys_page(a[2]) < HL_PHYS_SIZE && (a[3] != 2 || (phys_page(a[2]) % HL_PMD_SIZE) == 0);
	case HL_EV_MAP_IO:
		/* KCore's own SMMU register windows never go to a VM (SPEC §16) */
		return is_vm(a[0]) && a[1] < HL_ADDR_SPACE && a[2] < RAM_END &&
		       !(a[2] >= HL_SMMU_MMIO_BASE && a[2] < HL_SMMU_MMIO_BASE + HL_SMMU_NUM * HL_SMMU_MMIO_SIZE);
	case HL_EV_GEN_VMID: return true;
	case HL_EV_REG_KVM: return is_vm(a[0]) && a[2] < HL_MAX_KEYS;
	case HL_EV_VM_POWEROFF:
	case HL_EV_VERIFY: return is_vm(a[0]);
	case HL_EV_REG_VCPU:
	case HL_EV_VM_ACTIVE:
	case HL_EV_VM_INACTIVE: return is_vm(a[0]) && a[1] < HL_VCPU_PER_VM;
	case HL_EV_BOOT_INFO:
		/* 2 MiB-aligned load address (images load as blocks); an image that could never
		 * fit the remap window is bad input (SPEC §17), not the window-full halt */
		/* size 0 and an image past 2^48 are bad input too (SPEC §17, engine's rule) */
		return is_vm(a[0]) && a[1] < HL_ADDR_SPACE && a[1] % HL_PMD_SIZE == 0 && a[2] < window &&
		       a[2] != 0 && a[2] <= HL_ADDR_SPACE - a[1] &&
		       (a[2] + PG - 1) / PG * PG < window;
	case HL_EV_REMAP_IMAGE: return is_vm(a[0]) && is_ram(a[1]) && a[2] < HL_MAX_LOAD_INFO;
	case HL_EV_SMMU_ALLOC: return BANK(a[0], a[2]) && a[1] <= HL_MAX_VM && a[3] == smmu_banks(a[2]);
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
	res->verdict = -1;
	if (!hl_model_valid(ev->event, ev->arg))
		return res->status = HL_E_INVAL;
	m->reads->on = true;
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
	m->reads->on = false;
	return res->status = rc;
}

/* ===================================================================================== */
/* abstraction: raw object images -> model (the model's own decoder, hl_mpt.c)            */

static const uint8_t *img_of(const struct hl_images *im, unsigned obj, size_t *len)
{
	*len = im->len[obj];
	return im->img[obj];
}

/* s2page entry i of an s2page image (layout: shared/hl_types.h struct hl_s2page_obj) */
static struct hl_mpage img_page(const uint8_t *img, uint64_t i)
{
	const struct hl_s2page *p = &((const struct hl_s2page_obj *)img)->page[i];
	return (struct hl_mpage){ p->owner, p->count, p->gfn, p->dma };
}

static uint64_t img_flat(const uint8_t *img, uint64_t i)
{
	return ((const struct hl_s2page_obj *)img)->flatmem[i];
}

static bool sized(const struct hl_images *im, unsigned obj)
{
	return im->img[obj] && im->len[obj] == hl_mpt_obj_size(obj);
}

struct scan_ctx {
	struct hl_hmap *pt, *pres[3], *stray;
	unsigned lvl0;          /* level of pres[0]: 0 for npts, 1 for spt banks */
	bool nomem;
};

static void scan_leaf(void *arg, uint64_t gfn, const struct hl_mval *e)
{
	struct scan_ctx *c = arg;
	c->nomem |= hl_hmap_put(c->pt, gfn, e) != 0;
}

static void scan_pres(void *arg, unsigned level, uint64_t key, unsigned pres)
{
	struct scan_ctx *c = arg;

	if (pres == HL_MPT_PRESENT)
		c->nomem |= hl_hmap_put(c->pres[level - c->lvl0], key, &one) != 0;
	else if (pres == HL_MPT_STRAY)
		c->nomem |= hl_hmap_put(c->stray, skey(level, key), &one) != 0;
}

static int abstract_npt(struct hl_model *m, unsigned v, const struct hl_images *im)
{
	unsigned obj = HL_NPT_OBJ(v);
	struct hl_mnpt *t = &m->npt[v];
	struct hl_mpt pt;
	const struct hl_pt_meta *mt;
	struct scan_ctx sc = { &t->pt, { &t->pgd, &t->pud, &t->pmd }, &t->stray, 0, false };

	if (hl_mpt_open(&pt, im->img[obj], im->len[obj], obj))
		return -2;
	mt = (const struct hl_pt_meta *)pt.img;
	npt_clear(t);
	t->pgd_next = mt->pgd_next;
	t->pud_next = mt->pud_next;
	t->pmd_next = mt->pmd_next;
	t->pgd_start = mt->pgd_start;
	t->pud_start = mt->pud_start;
	t->pmd_start = mt->pmd_start;
	t->pool_end = mt->pool_end;
	t->pool_pa = mt->pool_pa;
	hl_mpt_npt_scan(&pt, scan_leaf, scan_pres, &sc);
	return sc.nomem ? -1 : 0;
}

static int abstract_bank(struct hl_model *m, const struct hl_mpt *pt, unsigned bank)
{
	struct hl_mspt_bank *b = &m->spt[bank];
	struct scan_ctx sc = { &b->pt, { &b->pgd, &b->pmd, NULL }, &b->stray, 1, false };

	bank_clear(b);
	hl_mpt_spt_scan(pt, bank, scan_leaf, scan_pres, &sc);
	return sc.nomem ? -1 : 0;
}

static void abstract_info(struct hl_mvminfo *mi, const uint8_t *img)
{
	const struct hl_vminfo *vi = (const struct hl_vminfo *)img;

	memset(mi, 0, sizeof(*mi));
	if (!vi)
		return;
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
	memset(m->smmu_hn, 0, HL_RAM_PAGES * sizeof(*m->smmu_hn));
	for (unsigned v = 1; v <= HL_MAX_VM; v++) {
		const struct hl_hmap *h = &m->npt[v].pt;
		for (uint32_t i = 0; i < h->cap; i++)
			if (h->key[i] && hl_mpt_is_mapping(&h->val[i]))
				vm_ref(m, v, h->val[i].pfn, +1);
	}
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++) {
		const struct hl_hmap *h = &m->spt[b].pt;
		for (uint32_t i = 0; i < h->cap; i++)
			if (h->key[i])
				smmu_ref(m, b, h->val[i].pfn, h->key[i] - 1, +1);
	}
}

static int abstract_raw(struct hl_model *m, const struct hl_images *im, unsigned obj)
{
	size_t len;
	const uint8_t *img = img_of(im, obj, &len);

	if (obj == HL_FLATMEM_ID || obj >= HL_ID_END)
		return 0;
	if (obj >= HL_INFO_ID) {
		if (img && len != hl_mpt_obj_size(obj))
			return -2;
		abstract_info(&m->info[obj - HL_INFO_ID], img);
		return 0;
	}
	if (obj >= HL_NPT_ID)
		return abstract_npt(m, obj - HL_NPT_ID, im);
	if (obj == HL_SPT_ID) {
		struct hl_mpt pt;
		const struct hl_pt_meta *mt;
		if (hl_mpt_open(&pt, img, len, HL_SPT_ID))
			return -2;
		mt = (const struct hl_pt_meta *)img;
		m->spt_pgd_next = mt->pgd_next;
		m->spt_pmd_next = mt->pmd_next;
		m->spt_pgd_start = mt->pgd_start;
		m->spt_pmd_start = mt->pmd_start;
		m->spt_pool_end = mt->pool_end;
		m->spt_pool_pa = mt->pool_pa;
		for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++)
			if (abstract_bank(m, &pt, b))
				return -1;
		return 0;
	}
	if (!sized(im, obj))
		return -2;
	if (obj == HL_CORE_ID) {
		const struct hl_core_data *cd = (const struct hl_core_data *)img;
		m->next_vmid = cd->next_vmid;
		m->next_remap_ptr = cd->next_remap_ptr;
	} else if (obj == HL_S2PAGE_ID) {
		for (uint64_t i = 0; i < HL_RAM_PAGES; i++) {
			m->s2p[i] = img_page(img, i);
			m->flat[i] = img_flat(img, i);
		}
	} else if (obj == HL_SMMU_ID) {
		memcpy(m->smmu_owner, ((const struct hl_smmu_obj *)img)->owner, sizeof(m->smmu_owner));
	}
	return 0;
}

int (hl_model_abstract_obj)(struct hl_model *m, const struct hl_images *im, unsigned obj)
{
	int rc = abstract_raw(m, im, obj == HL_FLATMEM_ID ? HL_S2PAGE_ID : obj);

	reindex(m);
	return rc ? rc : m->nomem ? -1 : 0;
}

int (hl_model_abstract)(struct hl_model *m, const struct hl_images *im)
{
	for (unsigned o = 1; o < HL_ID_END; o++) {
		int rc = abstract_raw(m, im, o);
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

static int diff_page(uint64_t pfn, const struct hl_mpage *x, const struct hl_mpage *y, struct hl_model_diff *d)
{
	if (x->owner == y->owner && x->count == y->count && x->gfn == y->gfn && x->dma == y->dma)
		return 0;
	d->obj = HL_S2PAGE_ID;
	snprintf(d->where, sizeof(d->where), "s2page[pfn 0x%llx]", (unsigned long long)pfn);
	snprintf(d->a, sizeof(d->a), "{owner %u, count %u, gfn 0x%llx, dma %u}", x->owner, x->count,
		 (unsigned long long)x->gfn, x->dma);
	snprintf(d->b, sizeof(d->b), "{owner %u, count %u, gfn 0x%llx, dma %u}", y->owner, y->count,
		 (unsigned long long)y->gfn, y->dma);
	return 1;
}

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
			if (diff_page(i + HL_RAM_BASE_PFN, &a->s2p[i], &b->s2p[i], d))
				return 1;
			DIFF_IDX(o, "flatmem[pfn 0x%llx]", (unsigned long long)(i + HL_RAM_BASE_PFN), a->flat[i],
				 b->flat[i]);
		}
	} else if (o == HL_SPT_ID) {
		DIFF_U64(o, "spt_pool_pa", a->spt_pool_pa, b->spt_pool_pa);
		DIFF_U64(o, "spt_pgd_next", a->spt_pgd_next, b->spt_pgd_next);
		DIFF_U64(o, "spt_pmd_next", a->spt_pmd_next, b->spt_pmd_next);
		DIFF_U64(o, "spt_pgd_start", a->spt_pgd_start, b->spt_pgd_start);
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
			snprintf(w, sizeof(w), "bank %u stray link", k);
			if (diff_map(&a->spt[k].stray, &b->spt[k].stray, o, w, true, d))
				return 1;
		}
	} else if (o == HL_SMMU_ID) {
		for (unsigned k = 0; k < HL_SMMU_CFG_SIZE; k++)
			DIFF_IDX(o, "smmu_vmid[%u]", k, a->smmu_owner[k], b->smmu_owner[k]);
	} else if (o >= HL_NPT_ID && o < HL_INFO_ID) {
		const struct hl_mnpt *x = &a->npt[o - HL_NPT_ID], *y = &b->npt[o - HL_NPT_ID];
		DIFF_U64(o, "pool_pa", x->pool_pa, y->pool_pa);
		DIFF_U64(o, "pt_pgd_next", x->pgd_next, y->pgd_next);
		DIFF_U64(o, "pt_pud_next", x->pud_next, y->pud_next);
		DIFF_U64(o, "pt_pmd_next", x->pmd_next, y->pmd_next);
		DIFF_U64(o, "pgd_start", x->pgd_start, y->pgd_start);
		DIFF_U64(o, "pud_start", x->pud_start, y->pud_start);
		DIFF_U64(o, "pmd_start", x->pmd_start, y->pmd_start);
		DIFF_U64(o, "pool_end", x->pool_end, y->pool_end);
		if (diff_map(&x->pt, &y->pt, o, "pt", false, d) || diff_map(&x->pgd, &y->pgd, o, "pgd_t", true, d) ||
		    diff_map(&x->pud, &y->pud, o, "pud_t", true, d) || diff_map(&x->pmd, &y->pmd, o, "pmd_t", true, d) ||
		    diff_map(&x->stray, &y->stray, o, "stray link", true, d))
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
/* the spec's initial state against a file's seq-0 images                                  */

static int say(struct hl_model_diff *d, unsigned obj, const char *where, const char *a, const char *b)
{
	d->obj = obj;
	snprintf(d->where, sizeof(d->where), "%s", where);
	snprintf(d->a, sizeof(d->a), "%s", a);
	snprintf(d->b, sizeof(d->b), "%s", b);
	return 1;
}

/* the raw table image: metadata as the layout says, every table page zero, a placement
 * the hardware can walk that overlaps neither RAM nor another pool */
static int init_cmp_table(const struct hl_images *im, unsigned obj, struct hl_model *spec, bool prealloc,
			  struct hl_model_diff *d)
{
	struct hl_mpt_layout l;
	const struct hl_pt_meta *mt = (const struct hl_pt_meta *)im->img[obj];
	uint64_t pa, end, root_align;

	hl_mpt_layout(obj, &l);
	if (!sized(im, obj))
		return say(d, obj, "image size", "the layout's", "another size");
	if (prealloc) {
		/* npt(host) in shards: SPEC's pool with the RAM tables preallocated, byte for byte */
		uint8_t *want = calloc(1, im->len[obj]);
		struct hl_pt_meta *wm = (struct hl_pt_meta *)want;
		int rc = 0;
		if (!want)
			return -1;
		*wm = (struct hl_pt_meta){ mt->pool_pa, l.pgd_start, l.pud_start, l.pmd_start, l.pgd_start, l.pud_start,
					   l.pmd_start, l.pool_end, l.princ, l.levels };
		npt_prealloc(spec, obj - HL_NPT_ID, want);
		for (size_t i = 0; i < im->len[obj] && !rc; i++)
			if (im->img[obj][i] != want[i]) {
				char w[96];
				snprintf(w, sizeof(w), "byte 0x%zx (page %zu) of the preallocated host table", i, (size_t)(i / PG));
				rc = say(d, obj, w, "the RAM tables' links, bump pointers past them, else 0", "other bytes");
			}
		free(want);
		if (rc)
			return rc;
		goto placement;
	}
	DIFF_U64(obj, "meta.pgd_start", l.pgd_start, mt->pgd_start);
	DIFF_U64(obj, "meta.pud_start", l.pud_start, mt->pud_start);
	DIFF_U64(obj, "meta.pmd_start", l.pmd_start, mt->pmd_start);
	DIFF_U64(obj, "meta.pool_end", l.pool_end, mt->pool_end);
	DIFF_U64(obj, "meta.pgd_next", l.pgd_start, mt->pgd_next);
	DIFF_U64(obj, "meta.pud_next", l.pud_start, mt->pud_next);
	DIFF_U64(obj, "meta.pmd_next", l.pmd_start, mt->pmd_next);
	DIFF_U64(obj, "meta.princ", l.princ, mt->princ);
	DIFF_U64(obj, "meta.levels", l.levels, mt->levels);
	for (size_t i = sizeof(*mt); i < im->len[obj]; i++)
		if (im->img[obj][i]) {
			char w[64];
			snprintf(w, sizeof(w), "byte 0x%zx (page %zu)", i, (size_t)(i / PG));
			return say(d, obj, w, "0 (no table entry yet)", "not 0");
		}
placement:
	pa = mt->pool_pa;
	end = pa + mt->pool_end;
	root_align = obj == HL_SPT_ID ? HL_MPT_SPT_ROOT_PAGES * PG : PG;
	if (pa % PG || (pa + PG) % root_align || end > HL_ADDR_SPACE || end < pa) {
		char b[64];
		snprintf(b, sizeof(b), "0x%llx", (unsigned long long)pa);
		return say(d, obj, "meta.pool_pa",
			   obj == HL_SPT_ID ? "4 KiB-aligned, the roots (pool_pa + 4 KiB) 8 KiB-aligned (two "
					      "concatenated level-1 tables), below 2^48"
					    : "4 KiB-aligned, below 2^48", b);
	}
	if (!(end <= HL_RAM_BASE || pa >= RAM_END)) {
		/* or inside KCore's own memory (issue 12: COREVISOR's in s2page from the start) */
		bool in_kcore = false;
		for (unsigned k = 0; k < spec->kcore_n; k++)
			in_kcore |= pa >= spec->kcore_base[k] && end <= spec->kcore_base[k] + spec->kcore_size[k];
		if (!in_kcore)
			return say(d, obj, "meta.pool_pa", "a pool outside RAM or inside KCore's own memory",
				   "a pool overlapping the rest of RAM");
	}
	for (unsigned o = HL_SPT_ID; o < HL_INFO_ID; o++) {
		const struct hl_pt_meta *ot = (const struct hl_pt_meta *)im->img[o];
		if (o == obj || (o != HL_SPT_ID && o < HL_NPT_ID) || !sized(im, o))
			continue;
		if (pa < ot->pool_pa + ot->pool_end && ot->pool_pa < end)
			return say(d, obj, "meta.pool_pa", "a pool disjoint from every other pool",
				   "overlapping another pool");
	}
	return 0;
}

void hl_model_set_kcore(struct hl_model *m, unsigned n, const uint64_t *base, const uint64_t *size)
{
	m->kcore_n = n < 4 ? n : 4;
	for (unsigned k = 0; k < m->kcore_n; k++) {
		m->kcore_base[k] = base[k];
		m->kcore_size[k] = size[k];
	}
}

int hl_model_init_cmp(const struct hl_images *seq0, struct hl_model_diff *d)
{
	return hl_model_init_cmp_kcore(seq0, 0, NULL, NULL, d);
}

int hl_model_init_cmp_kcore(const struct hl_images *seq0, unsigned n, const uint64_t *base, const uint64_t *size,
			    struct hl_model_diff *d)
{
	struct hl_model_init_opts o = { n, { 0 }, { 0 }, false };

	for (unsigned k = 0; k < n && k < 4; k++) {
		o.kcore_base[k] = base[k];
		o.kcore_size[k] = size[k];
	}
	return hl_model_init_cmp_opts(seq0, &o, d);
}

int hl_model_init_cmp_opts(const struct hl_images *seq0, const struct hl_model_init_opts *opt,
			   struct hl_model_diff *d)
{
	unsigned n = opt->kcore_n;
	const uint64_t *base = opt->kcore_base, *size = opt->kcore_size;
	struct hl_model *spec = hl_model_new(), *got = hl_model_new();
	struct hl_core_data core0 = { 1, HL_REMAP_START };
	int rc = 0;

	memset(d, 0, sizeof(*d));
	if (!spec || !got) {
		rc = -1;
		goto out;
	}
	if (n) {   /* SPEC's initial state with KCore's ranges (issue 12) */
		hl_model_set_kcore(spec, n, base, size);
		hl_model_init(spec);
	}
	/* raw images first: what the abstraction does not read (padding, unused bytes) */
	if (!sized(seq0, HL_CORE_ID) || memcmp(seq0->img[HL_CORE_ID], &core0, sizeof(core0))) {
		rc = say(d, HL_CORE_ID, "core_data", "{next_vmid 1, next_remap_ptr REMAP_START}", "other bytes");
		goto out;
	}
	if (!sized(seq0, HL_SMMU_ID)) {
		rc = say(d, HL_SMMU_ID, "image size", "the layout's", "another size");
		goto out;
	}
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++)
		if (((const struct hl_smmu_obj *)seq0->img[HL_SMMU_ID])->owner[b] != HL_INVALID) {
			char w[32];
			snprintf(w, sizeof(w), "smmu_vmid[%u]", b);
			rc = say(d, HL_SMMU_ID, w, "INVALID (free)", "owned");
			goto out;
		}
	if (!sized(seq0, HL_S2PAGE_ID)) {
		rc = say(d, HL_S2PAGE_ID, "image size", "the layout's", "another size");
		goto out;
	}
	for (uint64_t i = 0; i < HL_RAM_PAGES; i++)
		if (((const struct hl_s2page_obj *)seq0->img[HL_S2PAGE_ID])->page[i].pad != 0) {
			char w[48];
			snprintf(w, sizeof(w), "s2page[pfn 0x%llx].pad", (unsigned long long)(i + HL_RAM_BASE_PFN));
			rc = say(d, HL_S2PAGE_ID, w, "0", "not 0");
			goto out;
		}
	for (unsigned v = 0; v < HL_NR_PRINC; v++) {
		const uint8_t *img = seq0->img[HL_INFO_OBJ(v)];
		if (!img)
			continue;
		if (seq0->len[HL_INFO_OBJ(v)] != hl_mpt_obj_size(HL_INFO_OBJ(v))) {
			rc = say(d, HL_INFO_OBJ(v), "image size", "the layout's", "another size");
			goto out;
		}
		for (size_t i = 0; i < seq0->len[HL_INFO_OBJ(v)]; i++)
			if (img[i]) {
				rc = say(d, HL_INFO_OBJ(v), "vminfo", "all zero (UNUSED)", "not zero");
				goto out;
			}
	}
	for (unsigned o = HL_SPT_ID; o < HL_INFO_ID; o++)
		if ((o == HL_SPT_ID || o >= HL_NPT_ID) &&
		    (rc = init_cmp_table(seq0, o, spec, o == HL_NPT_OBJ(HL_HOSTVISOR) && opt->npth_prealloc, d)) != 0)
			goto out;
	/* then the abstraction: the pool placement is the platform's (checked above) */
	rc = hl_model_abstract(got, seq0);
	if (rc == -2) {
		rc = say(d, HL_ID_END, "images", "well-formed", "malformed");
		goto out;
	}
	if (rc)
		goto out;
	for (unsigned v = 0; v < HL_NR_PRINC; v++)
		spec->npt[v].pool_pa = got->npt[v].pool_pa;
	spec->spt_pool_pa = got->spt_pool_pa;
	rc = hl_model_diff(spec, got, HL_ID_END, d);
out:
	hl_model_free(spec);
	hl_model_free(got);
	return rc;
}

/* ===================================================================================== */
/* facts against images                                                                     */

static int bad_image(unsigned obj, struct hl_model_diff *d)
{
	return say(d, obj, "object image", "a well-formed image", "wrong size or table metadata");
}

static unsigned model_pres(const struct hl_hmap *set, const struct hl_hmap *stray, unsigned level, uint64_t key)
{
	if (hset_has(set, key))
		return HL_MPT_PRESENT;
	return hset_has(stray, skey(level, key)) ? HL_MPT_STRAY : HL_MPT_ABSENT;
}

static const char *pres_name(unsigned p)
{
	return p == HL_MPT_PRESENT ? "present" : p == HL_MPT_STRAY ? "a link outside the pool" : "absent";
}

static struct hl_mpage im_page(const struct hl_images *im, uint64_t pfn)
{
	if (!is_ram(pfn))
		return (struct hl_mpage){ HL_INVALID, 0, HL_INVALID64, 0 };
	return img_page(im->img[HL_S2PAGE_ID], pfn - HL_RAM_BASE_PFN);
}

static int cmp_whole(const struct hl_model *m, const struct hl_images *im, unsigned obj, int bank,
		     struct hl_model_diff *d)
{
	struct hl_model *t = hl_model_new();
	int rc;

	if (!t)
		return -1;
	if (bank >= 0) {
		struct hl_mpt pt;
		rc = hl_mpt_open(&pt, im->img[HL_SPT_ID], im->len[HL_SPT_ID], HL_SPT_ID) ? -2 :
		     abstract_bank(t, &pt, (unsigned)bank);
		if (!rc) {
			char w[48];
			snprintf(w, sizeof(w), "bank %d spt_pt", bank);
			rc = diff_map(&m->spt[bank].pt, &t->spt[bank].pt, HL_SPT_ID, w, false, d) ||
			     diff_map(&m->spt[bank].pgd, &t->spt[bank].pgd, HL_SPT_ID, "spt_pgd_t", true, d) ||
			     diff_map(&m->spt[bank].pmd, &t->spt[bank].pmd, HL_SPT_ID, "spt_pmd_t", true, d) ||
			     diff_map(&m->spt[bank].stray, &t->spt[bank].stray, HL_SPT_ID, "stray link", true, d);
		}
	} else {
		rc = abstract_raw(t, im, obj);
		if (!rc)
			rc = diff_obj(m, t, obj == HL_FLATMEM_ID ? HL_S2PAGE_ID : obj, d);
	}
	if (rc == -2)
		rc = bad_image(bank >= 0 ? HL_SPT_ID : obj, d);
	hl_model_free(t);
	return rc;
}

int (hl_model_fact_cmp)(const struct hl_model *m, const struct hl_images *im, const struct hl_fact *f,
			struct hl_model_diff *d)
{
	struct hl_mval sv;
	const struct hl_mval *mv;
	struct hl_mpt pt;
	unsigned a, b, obj;

	memset(d, 0, sizeof(*d));
	switch (f->kind) {
	case HL_F_S2P:
	case HL_F_FLAT:
		if (!sized(im, HL_S2PAGE_ID))
			return bad_image(HL_S2PAGE_ID, d);
		if (f->kind == HL_F_S2P) {
			struct hl_mpage q = page_of(m, f->key), p = im_page(im, f->key);
			return diff_page(f->key, &q, &p, d);
		}
		if (is_ram(f->key))
			DIFF_IDX(HL_S2PAGE_ID, "flatmem[pfn 0x%llx]", (unsigned long long)f->key,
				 m->flat[f->key - HL_RAM_BASE_PFN],
				 img_flat(im->img[HL_S2PAGE_ID], f->key - HL_RAM_BASE_PFN));
		return 0;
	case HL_F_CORE: {
		const struct hl_core_data *cd = (const struct hl_core_data *)im->img[HL_CORE_ID];
		if (!sized(im, HL_CORE_ID))
			return bad_image(HL_CORE_ID, d);
		DIFF_U64(HL_CORE_ID, "next_vmid", m->next_vmid, cd->next_vmid);
		DIFF_U64(HL_CORE_ID, "next_remap_ptr", m->next_remap_ptr, cd->next_remap_ptr);
		return 0;
	}
	case HL_F_SMMU:
		if (!sized(im, HL_SMMU_ID))
			return bad_image(HL_SMMU_ID, d);
		for (unsigned k = 0; k < HL_SMMU_CFG_SIZE; k++)
			DIFF_IDX(HL_SMMU_ID, "smmu_vmid[%u]", k, m->smmu_owner[k],
				 ((const struct hl_smmu_obj *)im->img[HL_SMMU_ID])->owner[k]);
		return 0;
	case HL_F_INFO: {
		struct hl_mvminfo tmp;
		obj = HL_INFO_OBJ(f->id);
		if (f->id >= HL_NR_PRINC || (im->img[obj] && im->len[obj] != hl_mpt_obj_size(obj)))
			return bad_image(obj, d);
		abstract_info(&tmp, im->img[obj]);
		return diff_info(&m->info[f->id], &tmp, obj, d);
	}
	case HL_F_NPT_META:
	case HL_F_NPT_PRES:
	case HL_F_NPT_LEAF:
		obj = HL_NPT_OBJ(f->id);
		if (f->id >= HL_NR_PRINC || hl_mpt_open(&pt, im->img[obj], im->len[obj], obj))
			return bad_image(f->id < HL_NR_PRINC ? obj : HL_ID_END, d);
		if (f->kind == HL_F_NPT_META) {
			const struct hl_pt_meta *mt = (const struct hl_pt_meta *)pt.img;
			const struct hl_mnpt *t = &m->npt[f->id];
			DIFF_U64(obj, "pt_pgd_next", t->pgd_next, mt->pgd_next);
			DIFF_U64(obj, "pt_pud_next", t->pud_next, mt->pud_next);
			DIFF_U64(obj, "pt_pmd_next", t->pmd_next, mt->pmd_next);
			return 0;
		}
		if (f->kind == HL_F_NPT_PRES) {
			a = model_pres(npt_pres_map((struct hl_model *)m, f->id, f->level), &m->npt[f->id].stray,
				       f->level, f->key);
			b = hl_mpt_npt_pres(&pt, f->level, f->key);
			if (a == b)
				return 0;
			d->obj = obj;
			snprintf(d->where, sizeof(d->where), "%s[0x%llx]",
				 f->level == 0 ? "pgd_t" : f->level == 1 ? "pud_t" : "pmd_t", (unsigned long long)f->key);
			snprintf(d->a, sizeof(d->a), "%s", pres_name(a));
			snprintf(d->b, sizeof(d->b), "%s", pres_name(b));
			return 1;
		}
		for (uint64_t g = f->key; g < f->key + f->n; g++) {
			bool have = hl_mpt_npt_leaf(&pt, g, &sv);
			mv = hl_hmap_get(&m->npt[f->id].pt, g);
			if (mval_eq(mv, have ? &sv : NULL))
				continue;
			d->obj = obj;
			snprintf(d->where, sizeof(d->where), "pt[gfn 0x%llx]", (unsigned long long)g);
			desc_val(d->a, sizeof(d->a), mv, false);
			desc_val(d->b, sizeof(d->b), have ? &sv : NULL, false);
			return 1;
		}
		return 0;
	case HL_F_SPT_META:
	case HL_F_SPT_PRES:
	case HL_F_SPT_LEAF:
	case HL_F_SPT_BANK:
		if (hl_mpt_open(&pt, im->img[HL_SPT_ID], im->len[HL_SPT_ID], HL_SPT_ID) ||
		    (f->kind != HL_F_SPT_META && f->id >= HL_SMMU_CFG_SIZE))
			return bad_image(HL_SPT_ID, d);
		if (f->kind == HL_F_SPT_META) {
			const struct hl_pt_meta *mt = (const struct hl_pt_meta *)pt.img;
			DIFF_U64(HL_SPT_ID, "spt_pgd_next", m->spt_pgd_next, mt->pgd_next);
			DIFF_U64(HL_SPT_ID, "spt_pmd_next", m->spt_pmd_next, mt->pmd_next);
			return 0;
		}
		if (f->kind == HL_F_SPT_BANK)
			return cmp_whole(m, im, HL_SPT_ID, f->id, d);
		if (f->kind == HL_F_SPT_PRES) {
			a = model_pres(f->level == 1 ? &m->spt[f->id].pgd : &m->spt[f->id].pmd, &m->spt[f->id].stray,
				       f->level, f->key);
			b = hl_mpt_spt_pres(&pt, f->id, f->level, f->key);
			if (a == b)
				return 0;
			d->obj = HL_SPT_ID;
			snprintf(d->where, sizeof(d->where), "bank %u %s[0x%llx]", f->id,
				 f->level == 1 ? "spt_pgd_t" : "spt_pmd_t", (unsigned long long)f->key);
			snprintf(d->a, sizeof(d->a), "%s", pres_name(a));
			snprintf(d->b, sizeof(d->b), "%s", pres_name(b));
			return 1;
		}
		for (uint64_t g = f->key; g < f->key + f->n; g++) {
			bool have = hl_mpt_spt_leaf(&pt, f->id, g, &sv);
			mv = hl_hmap_get(&m->spt[f->id].pt, g);
			if (mval_eq(mv, have ? &sv : NULL))
				continue;
			d->obj = HL_SPT_ID;
			snprintf(d->where, sizeof(d->where), "bank %u spt_pt[gfn 0x%llx]", f->id, (unsigned long long)g);
			desc_val(d->a, sizeof(d->a), mv, false);
			desc_val(d->b, sizeof(d->b), have ? &sv : NULL, false);
			return 1;
		}
		return 0;
	case HL_F_OBJ:
		if (f->id >= HL_ID_END)
			return bad_image(HL_ID_END, d);
		return cmp_whole(m, im, f->id, -1, d);
	default:
		return 0;
	}
}

int (hl_model_fact_sync)(struct hl_model *m, const struct hl_images *im, const struct hl_fact *f)
{
	struct hl_mval sv;
	struct hl_mpt pt;
	unsigned obj;

	switch (f->kind) {
	case HL_F_S2P:
	case HL_F_FLAT:
		if (!sized(im, HL_S2PAGE_ID))
			return -2;
		if (!is_ram(f->key))
			break;
		if (f->kind == HL_F_S2P) {
			struct hl_mpage p = im_page(im, f->key);
			set_page(m, f->key, p.owner, p.count, p.gfn);
			set_dma(m, f->key, p.dma);
		} else {
			set_flat(m, f->key, img_flat(im->img[HL_S2PAGE_ID], f->key - HL_RAM_BASE_PFN));
		}
		break;
	case HL_F_CORE:
		if (!sized(im, HL_CORE_ID))
			return -2;
		m->next_vmid = ((const struct hl_core_data *)im->img[HL_CORE_ID])->next_vmid;
		m->next_remap_ptr = ((const struct hl_core_data *)im->img[HL_CORE_ID])->next_remap_ptr;
		fact(m, HL_F_CORE, 0, 0, 0, 1);
		break;
	case HL_F_SMMU:
		if (!sized(im, HL_SMMU_ID))
			return -2;
		for (unsigned k = 0; k < HL_SMMU_CFG_SIZE; k++)
			smmu_owner_set(m, k, ((const struct hl_smmu_obj *)im->img[HL_SMMU_ID])->owner[k]);
		break;
	case HL_F_INFO: {
		uint32_t old;
		obj = HL_INFO_OBJ(f->id);
		if (f->id >= HL_NR_PRINC || (im->img[obj] && im->len[obj] != hl_mpt_obj_size(obj)))
			return -2;
		old = m->info[f->id].state;
		abstract_info(&m->info[f->id], im->img[obj]);
		info_touch(m, f->id, old);
		break;
	}
	case HL_F_NPT_META:
	case HL_F_NPT_PRES:
	case HL_F_NPT_LEAF:
		obj = HL_NPT_OBJ(f->id);
		if (f->id >= HL_NR_PRINC || hl_mpt_open(&pt, im->img[obj], im->len[obj], obj))
			return -2;
		if (f->kind == HL_F_NPT_META) {
			const struct hl_pt_meta *mt = (const struct hl_pt_meta *)pt.img;
			npt_meta_set(m, f->id, mt->pgd_next, mt->pud_next, mt->pmd_next);
		} else if (f->kind == HL_F_NPT_PRES) {
			npt_pres_set(m, f->id, f->level, f->key, hl_mpt_npt_pres(&pt, f->level, f->key));
		} else {
			for (uint64_t g = f->key; g < f->key + f->n; g++)
				npt_leaf_set(m, f->id, g, hl_mpt_npt_leaf(&pt, g, &sv) ? &sv : NULL, true);
		}
		break;
	case HL_F_SPT_META:
	case HL_F_SPT_PRES:
	case HL_F_SPT_LEAF:
	case HL_F_SPT_BANK:
		if (hl_mpt_open(&pt, im->img[HL_SPT_ID], im->len[HL_SPT_ID], HL_SPT_ID) ||
		    (f->kind != HL_F_SPT_META && f->id >= HL_SMMU_CFG_SIZE))
			return -2;
		if (f->kind == HL_F_SPT_META) {
			const struct hl_pt_meta *mt = (const struct hl_pt_meta *)pt.img;
			spt_meta_set(m, mt->pgd_next, mt->pmd_next);
		} else if (f->kind == HL_F_SPT_PRES) {
			spt_pres_set(m, f->id, f->level, f->key, hl_mpt_spt_pres(&pt, f->id, f->level, f->key));
		} else if (f->kind == HL_F_SPT_LEAF) {
			for (uint64_t g = f->key; g < f->key + f->n; g++)
				spt_leaf_set(m, f->id, g, hl_mpt_spt_leaf(&pt, f->id, g, &sv) ? &sv : NULL, true);
		} else {
			int rc;
			spt_bank_reset(m, f->id);
			rc = abstract_bank(m, &pt, f->id);
			reindex(m);
			if (rc)
				return rc;
		}
		break;
	case HL_F_OBJ:
		if (f->id >= HL_ID_END)
			return -2;
		return hl_model_abstract_obj(m, im, f->id);
	default:
		break;
	}
	return m->nomem ? -1 : 0;
}

/* ===================================================================================== */
/* security invariants (REFERENCE §6, Security/Invs.v shared_inv; see hl_model.h)         */

#define VIOL(...) (snprintf(msg, len, __VA_ARGS__), 1)

/* a valid stage-2 leaf with Normal memory attributes (MemAttr[3:2] = pte[5:4] != 0b00) */
static bool maps_normal(const struct hl_mval *e)
{
	return hl_mpt_is_mapping(e) && ((e->pte >> 4) & 3) != 0;
}

/* the host may map a page that is INVALID-owned (device), its own, or shared with it */
static bool host_may_map(const struct hl_mpage *p)
{
	return p->owner == HL_INVALID || p->owner == HL_HOSTVISOR || (p->count > 0 && p->count != HL_INVALID);
}

/* VM states whose table the "maps only its own RAM" invariant covers (Coq: <= VERIFIED) */
static bool constrained(const struct hl_model *m, unsigned v)
{
	return m->info[v].state <= HL_VM_VERIFIED;
}

/* the table pool (KCore's own memory) a pfn lies in: its object ID, or 0 */
static unsigned pool_of(const struct hl_model *m, uint64_t pfn)
{
	uint64_t pa = pfn * PG;

	if (pa >= m->spt_pool_pa && pa - m->spt_pool_pa < m->spt_pool_end)
		return HL_SPT_ID;
	for (unsigned v = 0; v < HL_NR_PRINC; v++)
		if (pa >= m->npt[v].pool_pa && pa - m->npt[v].pool_pa < m->npt[v].pool_end)
			return HL_NPT_OBJ(v);
	return 0;
}

/* KCore's own memory, whoever's table maps it */
static int inv_kcore_page(const struct hl_model *m, const char *who, unsigned id, uint64_t gfn, uint64_t pfn,
			  char *msg, size_t len)
{
	unsigned pool = pool_of(m, pfn);

	if (pool)
		return VIOL("%s %u maps gfn 0x%llx to pfn 0x%llx, a page of KCore's table pool (object %u)", who, id,
			    (unsigned long long)gfn, (unsigned long long)pfn, pool);
	if (page_of(m, pfn).owner == HL_COREVISOR)
		return VIOL("%s %u maps gfn 0x%llx to pfn 0x%llx, a COREVISOR page", who, id,
			    (unsigned long long)gfn, (unsigned long long)pfn);
	return 0;
}

static int inv_page(const struct hl_model *m, uint64_t pfn, char *msg, size_t len)
{
	struct hl_mpage p = page_of(m, pfn);
	const struct hl_mval *he;
	size_t i;

	if (pfn == 0 && p.owner != HL_INVALID)
		return VIOL("pfn 0 is owned by %u, not INVALID", p.owner);
	if (!is_ram(pfn))
		return 0;
	i = pfn - HL_RAM_BASE_PFN;
	he = hl_hmap_get(&m->npt[HL_HOSTVISOR].pt, pfn);
	if (p.owner == HL_HOSTVISOR && p.gfn != pfn + HL_SMMU_HOST_OFFSET)
		return VIOL("host page pfn 0x%llx has gfn 0x%llx, not pfn + SMMU_HOST_OFFSET",
			    (unsigned long long)pfn, (unsigned long long)p.gfn);
	if (hl_mpt_is_mapping(he) && he->pfn == pfn && (!host_may_map(&p) || p.owner == HL_COREVISOR))
		return VIOL("host table maps pfn 0x%llx owned by %u with count %u (not host, INVALID or shared)",
			    (unsigned long long)pfn, p.owner, p.count);
	for (uint32_t mask = m->vm_mask[i]; mask; mask &= mask - 1) {
		unsigned v = (unsigned)__builtin_ctz(mask);
		if (p.owner == HL_COREVISOR || (constrained(m, v) && p.owner != v))
			return VIOL("VM %u (state %u) maps RAM pfn 0x%llx owned by %u", v, m->info[v].state,
				    (unsigned long long)pfn, p.owner);
	}
	for (uint32_t mask = m->smmu_mask[i]; mask; mask &= mask - 1) {
		unsigned b = (unsigned)__builtin_ctz(mask);
		uint32_t o = m->smmu_owner[b];
		const struct hl_mval *ref = hl_hmap_get(&m->smmu_ref, ((uint64_t)b << 40) | pfn);
		uint64_t g = ref ? ref->pte + (o == HL_HOSTVISOR ? HL_SMMU_HOST_OFFSET : 0) : p.gfn;
		if (o == HL_INVALID)
			return VIOL("freed SMMU bank %u still maps pfn 0x%llx", b, (unsigned long long)pfn);
		if (p.owner != o || p.gfn != g)
			return VIOL("SMMU bank %u (owner %u) maps pfn 0x%llx, owned by %u with gfn 0x%llx (expected gfn 0x%llx)",
				    b, o, (unsigned long long)pfn, p.owner, (unsigned long long)p.gfn,
				    (unsigned long long)g);
	}
	if (p.dma != m->smmu_n[i])
		return VIOL("pfn 0x%llx has dma %u but %u SMMU entries map it", (unsigned long long)pfn, p.dma,
			    m->smmu_n[i]);
	if (p.owner == HL_HOSTVISOR && p.count != m->smmu_hn[i])
		return VIOL("host page pfn 0x%llx has count %u but %u host-bank SMMU entries map it",
			    (unsigned long long)pfn, p.count, m->smmu_hn[i]);
	return 0;
}

static int inv_npt_leaf(const struct hl_model *m, unsigned v, uint64_t gfn, char *msg, size_t len)
{
	const struct hl_mval *e = hl_hmap_get(&m->npt[v].pt, gfn);
	struct hl_mpage p;

	if (!hl_mpt_is_mapping(e))
		return 0;
	if (v == HL_COREVISOR)   /* KCore's own table: only that it never maps pfn 0 */
		return e->pfn == 0 ? VIOL("KCore's table maps gfn 0x%llx to pfn 0", (unsigned long long)gfn) : 0;
	if (e->pfn == 0 && maps_normal(e))
		return VIOL("%s %u maps gfn 0x%llx to pfn 0 as Normal memory", v ? "VM" : "host", v,
			    (unsigned long long)gfn);
	if (inv_kcore_page(m, v ? "VM" : "host", v, gfn, e->pfn, msg, len))
		return 1;
	p = page_of(m, e->pfn);
	if (v == HL_HOSTVISOR) {
		if (e->pfn != gfn)
			return VIOL("host table is not an identity map: gfn 0x%llx -> pfn 0x%llx",
				    (unsigned long long)gfn, (unsigned long long)e->pfn);
		if (!host_may_map(&p))
			return VIOL("host table maps pfn 0x%llx owned by %u with count %u (not host, INVALID or shared)",
				    (unsigned long long)e->pfn, p.owner, p.count);
	} else if (is_vm(v) && constrained(m, v) && is_ram(e->pfn) && p.owner != v) {
		return VIOL("VM %u (state %u) maps gfn 0x%llx to RAM pfn 0x%llx owned by %u", v, m->info[v].state,
			    (unsigned long long)gfn, (unsigned long long)e->pfn, p.owner);
	}
	return 0;
}

static int inv_spt_leaf(const struct hl_model *m, unsigned bank, uint64_t gfn, char *msg, size_t len)
{
	const struct hl_mval *e = hl_hmap_get(&m->spt[bank].pt, gfn);
	uint32_t o = m->smmu_owner[bank];
	struct hl_mpage p;
	uint64_t g;

	if (!e)
		return 0;
	if (o == HL_INVALID)
		return VIOL("freed SMMU bank %u still maps iova gfn 0x%llx to pfn 0x%llx", bank,
			    (unsigned long long)gfn, (unsigned long long)e->pfn);
	if (e->pfn == 0 && maps_normal(e))
		return VIOL("SMMU bank %u maps iova gfn 0x%llx to pfn 0 as Normal memory", bank,
			    (unsigned long long)gfn);
	if (inv_kcore_page(m, "SMMU bank", bank, gfn, e->pfn, msg, len))
		return 1;
	p = page_of(m, e->pfn);
	g = o == HL_HOSTVISOR ? gfn + HL_SMMU_HOST_OFFSET : gfn;
	if (p.owner != o || p.gfn != g)
		return VIOL("SMMU bank %u (owner %u) maps iova gfn 0x%llx to pfn 0x%llx owned by %u with gfn 0x%llx",
			    bank, o, (unsigned long long)gfn, (unsigned long long)e->pfn, p.owner,
			    (unsigned long long)p.gfn);
	return inv_page(m, e->pfn, msg, len);   /* dma and host counts of the page it maps */
}

static int inv_stray(const struct hl_hmap *stray, const char *who, unsigned id, char *msg, size_t len)
{
	for (uint32_t i = 0; i < stray->cap; i++)
		if (stray->key[i])
			return VIOL("%s %u has a level-%u table link (index 0x%llx) outside its pool", who, id,
				    (unsigned)((stray->key[i] - 1) >> 32),
				    (unsigned long long)((stray->key[i] - 1) & 0xFFFFFFFFull));
	return 0;
}

static int inv_bank(const struct hl_model *m, unsigned b, char *msg, size_t len)
{
	const struct hl_hmap *h = &m->spt[b].pt;

	if (m->smmu_owner[b] != HL_INVALID && m->smmu_owner[b] >= HL_COREVISOR)
		return VIOL("SMMU bank %u is owned by %u, not below COREVISOR", b, m->smmu_owner[b]);
	if (inv_stray(&m->spt[b].stray, "SMMU bank", b, msg, len))
		return 1;
	for (uint32_t i = 0; i < h->cap; i++)
		if (h->key[i] && inv_spt_leaf(m, b, h->key[i] - 1, msg, len))
			return 1;
	return 0;
}

static int inv_vm(const struct hl_model *m, unsigned v, char *msg, size_t len)
{
	const struct hl_hmap *h = &m->npt[v].pt;

	if (inv_stray(&m->npt[v].stray, "stage-2 table of principal", v, msg, len))
		return 1;
	for (uint32_t i = 0; i < h->cap; i++)
		if (h->key[i] && inv_npt_leaf(m, v, h->key[i] - 1, msg, len))
			return 1;
	return 0;
}

int hl_model_inv_all(struct hl_model *m, char *msg, size_t len)
{
	if (inv_page(m, 0, msg, len))
		return 1;
	for (uint64_t i = 0; i < HL_RAM_PAGES; i++)
		if (inv_page(m, HL_RAM_BASE_PFN + i, msg, len))
			return 1;
	for (unsigned v = 0; v < HL_NR_PRINC; v++)
		if (inv_vm(m, v, msg, len))
			return 1;
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++)
		if (inv_bank(m, b, msg, len))
			return 1;
	return 0;
}

int hl_model_inv_facts(struct hl_model *m, const struct hl_fact *f, unsigned n, char *msg, size_t len)
{
	/* pages whose reverse-index counts moved (an entry mapping them came or went) */
	if (m->touched_all) {
		for (uint64_t i = 0; i < HL_RAM_PAGES; i++)
			if (inv_page(m, HL_RAM_BASE_PFN + i, msg, len))
				return 1;
	} else {
		for (unsigned k = 0; k < m->ntouched; k++)
			if (inv_page(m, m->touched[k], msg, len))
				return 1;
	}
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
			if (f[k].id < HL_NR_PRINC && m->state_changed[f[k].id] && constrained(m, f[k].id) &&
			    inv_vm(m, f[k].id, msg, len))
				return 1;
			break;
		case HL_F_NPT_PRES:
			if (f[k].id < HL_NR_PRINC && inv_stray(&m->npt[f[k].id].stray, "stage-2 table of principal",
							       f[k].id, msg, len))
				return 1;
			break;
		case HL_F_NPT_LEAF:
			for (uint64_t g = f[k].key; f[k].id < HL_NR_PRINC && g < f[k].key + f[k].n; g++)
				if (inv_npt_leaf(m, f[k].id, g, msg, len))
					return 1;
			break;
		case HL_F_SPT_PRES:
			if (f[k].id < HL_SMMU_CFG_SIZE && inv_stray(&m->spt[f[k].id].stray, "SMMU bank", f[k].id, msg, len))
				return 1;
			break;
		case HL_F_SPT_LEAF:
			for (uint64_t g = f[k].key; f[k].id < HL_SMMU_CFG_SIZE && g < f[k].key + f[k].n; g++)
				if (inv_spt_leaf(m, f[k].id, g, msg, len))
					return 1;
			break;
		case HL_F_SPT_BANK:
			if (f[k].id < HL_SMMU_CFG_SIZE && inv_bank(m, f[k].id, msg, len))
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

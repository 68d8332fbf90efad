/* helpers.c - shared fixtures for the Criterion suites. */
#include "helpers.h"

#include <stdio.h>
#include <string.h>

#include "hl_testkey.h"
#include "hl_check.h"
#include "hl_osrc.h"

/* HL_TEST_SHARDS="PAGES,MIB" runs every th_engine test with s2page in PAGES-page shards and
 * npt(host) in MIB-MiB shards (tests/meson.build: the *_sharded runs of the isolation suites),
 * so the hostile-host tests also attack the refinement; unset: the engine's default */
struct hl_engine *th_engine(unsigned ncpus)
{
	const char *env = getenv("HL_TEST_SHARDS");
	unsigned long long pages = 0, mib = 0;

	if (env && *env) {
		if (sscanf(env, "%llu,%llu", &pages, &mib) != 2) {
			fprintf(stderr, "HL_TEST_SHARDS='%s': want PAGES,MIB\n", env);
			abort();
		}
		return th_engine_shards(ncpus, pages, mib);
	}
	return th_engine_shards(ncpus, HL_S2P_SHARD_PAGES_DEFAULT, 0);   /* the engine's default */
}

struct hl_engine *th_engine_shards(unsigned ncpus, uint64_t s2p_pages, uint64_t npt_mib)
{
	struct hl_engine_cfg cfg;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = ncpus;
	cfg.lock_order_check = true;
	cfg.s2page_shard_pages = s2p_pages;
	cfg.npt_host_shard_mib = npt_mib;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);   /* KCore's key 0: the test key */
	return hl_engine_new(&cfg);
}

struct hl_engine *th_engine_sharded(unsigned ncpus, uint64_t pages)
{
	return th_engine_shards(ncpus, pages, 0);
}

uint64_t th_pfn(unsigned i)
{
	return HL_RAM_BASE_PFN + i;
}

int th_replay_matches(struct hl_engine *e)
{
	struct hl_state *a = hl_state_new(false), *b = hl_state_new(false);
	struct hl_replay_err err;
	size_t off = 0;
	int rc = 0, d;

	if (!a || !b)
		return -1;
	if (hl_cal_all(e, a, &err)) {
		fprintf(stderr, "Cal<Obj> failed: %s\n", err.msg);
		rc = 1;
	} else if ((d = hl_state_first_diff(a, e->st, &off)) >= 0) {
		fprintf(stderr, "Cal<Obj> != live at object %d byte %zu\n", d, off);
		rc = 2;
	} else if (hl_calstateh(e, b, NULL, &err)) {
		fprintf(stderr, "CalStateH failed: %s\n", err.msg);
		rc = 3;
	} else if ((d = hl_state_first_diff(b, e->st, &off)) >= 0) {
		fprintf(stderr, "CalStateH != live at object %d byte %zu\n", d, off);
		rc = 4;
	}
	hl_state_free(a);
	hl_state_free(b);
	return rc;
}

int th_oracle_holds(struct hl_engine *e, char *why, size_t n)
{
	struct hl_verdict v;
	struct hl_check_stats st;

	memset(&v, 0, sizeof(v));
	memset(&st, 0, sizeof(st));
	if (hl_check_engine(e, HL_OSRC_LIVE, &v, &st) != 0) {
		snprintf(why, n, "%s violated: %s (expected %s, actual %s)", hl_rel_name(v.rel), v.what, v.expected,
			 v.actual);
		return -1;
	}
	if (th_replay_matches(e) != 0) {
		snprintf(why, n, "replay differs from the live state");
		return -1;
	}
	return 0;
}

struct last_ctx {
	uint64_t n;
	const struct hl_rec *last;
};

static int last_visit(const struct hl_rec *r, void *arg)
{
	struct last_ctx *c = arg;
	c->n++;
	c->last = r;
	return 0;
}

uint64_t th_nrecs(struct hl_engine *e, unsigned obj)
{
	struct last_ctx c = { 0, NULL };
	if (obj >= HL_ID_END && !hl_engine_has_obj(e, obj))
		return 0;   /* a shard ID this run's map does not use: no log */
	hl_rcu_reader_ensure();
	hl_rcu_read_lock();
	hl_log_foreach(&e->logs[obj], last_visit, &c);
	hl_rcu_read_unlock();
	return c.n;
}

const struct hl_rec *th_last_rec(struct hl_engine *e, unsigned obj, uint8_t *buf, size_t len)
{
	struct last_ctx c = { 0, NULL };
	const struct hl_rec *r = NULL;
	hl_rcu_reader_ensure();
	hl_rcu_read_lock();
	hl_log_foreach(&e->logs[obj], last_visit, &c);
	if (c.last && c.last->len <= len) {
		memcpy(buf, c.last, c.last->len);
		r = (const struct hl_rec *)buf;
	}
	hl_rcu_read_unlock();
	return r;
}

uint32_t th_new_vm(struct hl_engine *e, int cpu)
{
	uint32_t vmid = 0;
	if (hl_register_kvm(e, cpu, 0x1000, 0, &vmid) != HL_OK)
		return 0;
	return vmid;
}

#include <pthread.h>
#include <stdlib.h>

#include <sodium.h>

uint32_t th_boot_vm(struct hl_engine *e, int cpu, uint64_t block_pfn, uint64_t load_addr)
{
	uint8_t sig[64];
	enum { IMG = 12288 };
	uint8_t img[IMG];
	uint32_t vmid = 0, idx = 0;
	int verified = 0;

	if (sodium_init() < 0)
		return 0;
	if (hl_register_kvm(e, cpu, 0x5000, 0, &vmid) != HL_OK)   /* KCore key 0: the test key */
		return 0;
	for (uint32_t vc = 0; vc < HL_VCPU_PER_VM; vc++)
		if (hl_register_vcpu(e, cpu, vmid, vc, 0x6000 + vc) != HL_OK)
			return 0;
	for (unsigned i = 0; i < IMG; i++)
		img[i] = (uint8_t)(i * 7 + vmid);
	for (unsigned pg = 0; pg < IMG / 4096; pg++)
		memcpy(hl_ram_page(e, block_pfn + pg), img + pg * 4096, 4096);
	if (hl_testkey_sign_image(sig, img, IMG) != 0)
		return 0;
	if (hl_set_boot_info(e, cpu, vmid, hl_ipa(load_addr), IMG, sig, &idx) != HL_OK)
		return 0;
	for (unsigned pg = 0; pg < IMG / 4096; pg++)
		if (hl_remap_vm_image(e, cpu, vmid, block_pfn + pg, idx) != HL_OK)
			return 0;
	if (hl_verify_vm_image(e, cpu, vmid, &verified) != HL_OK || !verified)
		return 0;
	return vmid;
}

#define RR_PAGES 96u

/* per-CPU model of the CPU's own pages, so most steps are ones the spec lets succeed */
struct rr_page {
	uint8_t owner;      /* 0 host, 1 vm_ready, 2 vm_bank (via SMMU), 3 vm_verified */
	uint8_t smmu;       /* host page mapped in the host SMMU bank / VM page in vm_bank's */
	uint8_t vmapped;    /* mapped in the VM's table: stays the VM's */
	uint8_t count;      /* grants */
};

struct rr_cpu {
	struct hl_engine *e;
	int id;
	unsigned ops;
	unsigned chaos;     /* 1 in `chaos` steps is unconstrained (may halt) */
	uint64_t rng;
	uint64_t steps, unexpected;
	uint32_t vm_ready, vm_bank, vm_verified;
	struct rr_page pg[RR_PAGES];
};

static uint64_t rr_rnd(struct rr_cpu *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1Dull;
}

#define RR_PFN(c) (HL_RAM_BASE_PFN + 1024 + rr_rnd(c) % (RR_PAGES * 8))

/* an unconstrained step over shared pages: bad input, halts and races included */
static int rr_chaos(struct rr_cpu *c)
{
	struct hl_engine *e = c->e;
	int id = c->id;
	uint32_t vms[3] = { c->vm_ready, c->vm_bank, c->vm_verified };
	uint32_t vm = vms[rr_rnd(c) % 3];
	uint64_t pfn = RR_PFN(c), gfn = 0x100 + rr_rnd(c) % 64;
	uint32_t cb = (uint32_t)(rr_rnd(c) % 2), index = 0;

	switch (rr_rnd(c) % 24) {
	case 0: case 1: case 2:
		return hl_map_host(e, id, hl_pa(pfn * 4096));
	case 3:
		return hl_map_host(e, id, hl_pa((0x10000 + rr_rnd(c) % 16) * 4096));
	case 4: case 5:
		return hl_assign_pfn_to_vm(e, id, vm, gfn, pfn);
	case 6:
		return hl_clear_vm_page(e, id, vm, pfn);
	case 7:
		return hl_map_pfn_vm(e, id, vm, hl_ipa(gfn * 4096), pfn * 4096, 3);
	case 8: case 9:
		return hl_grant_vm_page(e, id, vm, pfn);
	case 10: case 11:
		return hl_revoke_vm_page(e, id, vm, pfn);
	case 12: {
		int rc = hl_set_vcpu_active(e, id, c->vm_verified, (uint32_t)id % 2);
		if (rc == HL_OK)
			rc = hl_set_vcpu_inactive(e, id, c->vm_verified, (uint32_t)id % 2);
		return rc;
	}
	case 13:
		return hl_map_vm_io(e, id, c->vm_ready, hl_ipa(0x9000000 + (rr_rnd(c) % 32) * 4096),
				    hl_pa((0x10000 + rr_rnd(c) % 16) * 4096));
	case 14:
		return hl_smmu_assign_page(e, id, cb, index, pfn, gfn);
	case 15:
		return hl_smmu_map_page(e, id, cb, index, hl_iova(gfn * 4096), pfn * 4096 | 0x7C3);
	case 16:
		return hl_smmu_clear(e, id, hl_iova(gfn * 4096), cb, index);
	case 17: {
		uint64_t pa;
		return hl_smmu_iova_to_phys(e, id, hl_iova(gfn * 4096), cb, index, &pa);
	}
	case 18: {
		static const uint8_t sig[64];
		return hl_set_boot_info(e, id, c->vm_ready, hl_ipa(0x40000000), 4096 * (1 + rr_rnd(c) % 3), sig,
					NULL);
	}
	case 19:
		return hl_remap_vm_image(e, id, c->vm_ready, pfn, (uint32_t)(rr_rnd(c) % 2));
	case 20: {
		uint64_t remap;
		return hl_search_load_info(e, id, c->vm_verified, hl_ipa(0x80000000 + 64), &remap);
	}
	case 21:
		return hl_assign_pfn_to_vm(e, id, HL_MAX_VM + 1, gfn, pfn);   /* malformed */
	case 22:
		return hl_map_host(e, id, hl_pa(HL_RAM_BASE + HL_RAM_SIZE));    /* malformed */
	default:
		return hl_smmu_alloc_pgd(e, id, cb + 2 * (uint32_t)(rr_rnd(c) % 2), c->vm_bank, index);
	}
}

static uint64_t rr_mypfn(struct rr_cpu *c, unsigned i)
{
	return HL_RAM_BASE_PFN + 1024 + (uint64_t)c->id * RR_PAGES + i;
}

/* a step the model says succeeds */
static int rr_step(struct rr_cpu *c)
{
	struct hl_engine *e = c->e;
	int id = c->id;
	unsigned i = (unsigned)(rr_rnd(c) % RR_PAGES);
	struct rr_page *p = &c->pg[i];
	uint64_t pfn = rr_mypfn(c, i), gfn = 0x1000 + (pfn - HL_RAM_BASE_PFN);
	uint32_t vm = p->owner == 1 ? c->vm_ready : p->owner == 2 ? c->vm_bank : c->vm_verified;
	int rc = HL_OK;

	switch (rr_rnd(c) % 12) {
	case 0:
		return hl_map_host(e, id, hl_pa((0x10000 + rr_rnd(c) % 16) * 4096));
	case 1:
		if (p->owner == 0 || p->count)
			rc = hl_map_host(e, id, hl_pa(pfn * 4096));
		return rc;
	case 2:
		if (p->owner == 0 && !p->smmu) {
			unsigned to = rr_rnd(c) % 2 ? 1 : 3;
			rc = hl_assign_pfn_to_vm(e, id, to == 1 ? c->vm_ready : c->vm_verified, gfn, pfn);
			p->owner = (uint8_t)to;
		}
		return rc;
	case 3:
		if ((p->owner == 1 || p->owner == 3) && !p->vmapped) {
			rc = hl_map_pfn_vm(e, id, vm, hl_ipa(gfn * 4096), pfn * 4096, 3);
			p->vmapped = 1;
		}
		return rc;
	case 4:
		if ((p->owner == 1 || p->owner == 3) && !p->vmapped) {
			rc = hl_clear_vm_page(e, id, vm, pfn);
			p->owner = 0;
			p->count = 0;
		}
		return rc;
	case 5:
		if ((p->owner == 1 || p->owner == 3) && p->count < HL_MAX_SHARE_COUNT) {
			rc = hl_grant_vm_page(e, id, vm, pfn);
			p->count++;
		}
		return rc;
	case 6:
		if ((p->owner == 1 || p->owner == 3) && p->count) {
			rc = hl_revoke_vm_page(e, id, vm, pfn);
			p->count--;
		}
		return rc;
	case 7:
		rc = hl_set_vcpu_active(e, id, c->vm_verified, (uint32_t)id);
		if (rc == HL_OK)
			rc = hl_set_vcpu_inactive(e, id, c->vm_verified, (uint32_t)id);
		return rc;
	case 8:
		return hl_map_vm_io(e, id, c->vm_ready, hl_ipa(0x9000000 + (rr_rnd(c) % 32) * 4096),
				    hl_pa((0x10000 + rr_rnd(c) % 16) * 4096));
	case 9:
		if (p->owner == 0 && !p->smmu && rr_rnd(c) % 2) {
			/* DMA for a VM: the page goes to vm_bank through bank (0, 0) */
			rc = hl_smmu_assign_page(e, id, 0, 0, pfn, gfn);
			if (rc == HL_OK)
				rc = hl_smmu_map_page(e, id, 0, 0, hl_iova(gfn * 4096), pfn * 4096 | 0x7C3);
			p->owner = 2;
			p->smmu = 1;
		} else if (p->owner == 0 && !p->smmu) {
			/* host DMA through the host bank (0, 1): identity */
			rc = hl_smmu_map_page(e, id, 1, 0, hl_iova(pfn * 4096), pfn * 4096 | 0x7C3);
			p->smmu = 1;
		}
		return rc;
	case 10:
		if (p->smmu) {
			uint64_t pa = 0;
			uint64_t iova = p->owner == 2 ? gfn * 4096 : pfn * 4096;
			uint32_t cb = p->owner == 2 ? 0 : 1;
			rc = hl_smmu_iova_to_phys(e, id, hl_iova(iova + 4), cb, 0, &pa);
			if (rc == HL_OK && pa != pfn * 4096 + 4)
				c->unexpected++;   /* only chaos steps may have remapped it */
			if (rc == HL_OK)
				rc = hl_smmu_clear(e, id, hl_iova(iova), cb, 0);
			if (rc == HL_OK && p->owner == 2)
				rc = hl_clear_vm_page(e, id, c->vm_bank, pfn);
			p->smmu = 0;
			p->owner = 0;
		}
		return rc;
	default: {
		uint64_t remap;
		return hl_search_load_info(e, id, c->vm_verified, hl_ipa(0x80000000 + 64), &remap);
	}
	}
}

static void *rr_thread(void *arg)
{
	struct rr_cpu *c = arg;
	for (unsigned i = 0; i < c->ops && !hl_cpu_halted(c->e, c->id); i++) {
		if (c->chaos && rr_rnd(c) % c->chaos == 0)
			(void)rr_chaos(c);
		else if (rr_step(c) != HL_OK && !hl_cpu_halted(c->e, c->id))
			c->unexpected++;
		c->steps++;
		if (hl_engine_nheld(c->e, c->id) && !hl_cpu_halted(c->e, c->id))
			abort();
	}
	return NULL;
}

struct rr_reader {
	struct hl_engine *e;
	volatile int stop;
	unsigned rounds;
	int failed;
};

static void *rr_reader_thread(void *arg)
{
	struct rr_reader *r = arg;
	struct hl_state *st = hl_state_new(false);
	struct hl_replay_err err;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		for (unsigned o = 1; o < HL_ID_END; o++)
			if (hl_cal_obj(r->e, o, st, &err) != 0)
				r->failed = 1;
		r->rounds++;
	}
	hl_state_free(st);
	return NULL;
}

struct hl_engine *th_random_run(const struct th_run_cfg *rc, uint64_t *steps_out)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	struct rr_cpu cpus[8];
	pthread_t th[8], rt;
	struct rr_reader reader = { 0 };
	uint32_t vm_ready, vm_bank, vm_verified;

	hl_engine_cfg_default(&cfg);
	cfg.ncpus = rc->ncpus;
	cfg.lock_kind = rc->lock;
	cfg.global_lock = rc->global_lock;
	cfg.ckpt_every = rc->ckpt_every;
	cfg.lock_order_check = true;
	cfg.s2page_shard_pages = rc->s2p_shard_pages;
	(void)hl_engine_cfg_add_key(&cfg, hl_testkey_pk);   /* KCore's key 0: the test key */
	e = hl_engine_new(&cfg);
	if (!e)
		return NULL;
	vm_ready = th_new_vm(e, 0);
	vm_bank = th_new_vm(e, 0);
	vm_verified = th_boot_vm(e, 0, HL_RAM_BASE_PFN + 2048, 0x80000000ull);
	if (!vm_ready || !vm_bank || !vm_verified || hl_smmu_alloc_pgd(e, 0, 0, vm_bank, 0) != HL_OK ||
	    hl_smmu_alloc_pgd(e, 0, 1, 0, 0) != HL_OK) {
		hl_engine_free(e);
		return NULL;
	}
	reader.e = e;
	if (rc->reader)
		pthread_create(&rt, NULL, rr_reader_thread, &reader);
	for (unsigned i = 0; i < rc->ncpus; i++) {
		cpus[i] = (struct rr_cpu){ .e = e, .id = (int)i, .ops = rc->ops, .chaos = rc->chaos,
					   .rng = (rc->seed + 1) * 0x9E3779B97F4A7C15ull + i * 77 + 1,
					   .vm_ready = vm_ready, .vm_bank = vm_bank, .vm_verified = vm_verified };
		pthread_create(&th[i], NULL, rr_thread, &cpus[i]);
	}
	if (steps_out)
		*steps_out = 0;
	for (unsigned i = 0; i < rc->ncpus; i++) {
		pthread_join(th[i], NULL);
		if (steps_out)
			*steps_out += cpus[i].steps;
		/* without chaos nothing may halt, be refused or be stranded */
		if (!rc->chaos && (cpus[i].unexpected || hl_cpu_halted(e, (int)i))) {
			fprintf(stderr, "cpu %u: %llu unexpected results in a chaos-free run\n", i,
				(unsigned long long)cpus[i].unexpected);
			hl_engine_free(e);
			return NULL;
		}
	}
	if (rc->reader) {
		__atomic_store_n(&reader.stop, 1, __ATOMIC_RELEASE);
		pthread_join(rt, NULL);
		if (reader.failed) {
			fprintf(stderr, "concurrent reader saw a broken log\n");
			hl_engine_free(e);
			return NULL;
		}
	}
	return e;
}

/* ---- snapshot everything / assert unchanged --------------------------------------------- */
#include "kcore.h"

static uint64_t th_smmu_digest(const struct kcore *k)
{
	return k ? hl_digest(k->smmu_dev, sizeof(k->smmu_dev)) : 0;
}

static uint64_t th_halted_mask(struct hl_engine *e)
{
	uint64_t m = 0;
	for (unsigned c = 0; c <= e->cfg.ncpus && c < 64; c++)
		if (hl_cpu_halted(e, (int)c))
			m |= 1ull << c;
	return m;
}

void th_snap_take(struct hl_engine *e, const struct kcore *k, struct th_snap *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned o = 0; o < HL_OBJ_END; o++) {
		if (o < HL_ID_END)
			s->dig[o] = hl_state_obj_digest(e->st, o);
		s->nrec[o] = th_nrecs(e, o);
	}
	if (e->st->ram && (s->ram = malloc(sizeof(uint64_t) * HL_RAM_PAGES)) != NULL)
		for (uint64_t i = 0; i < HL_RAM_PAGES; i++)
			s->ram[i] = hl_digest(e->st->ram + i * HL_PAGE_SIZE, HL_PAGE_SIZE);
	s->smmu = th_smmu_digest(k);
	s->halted = th_halted_mask(e);
}

unsigned th_snap_diff_except(struct hl_engine *e, const struct kcore *k, const struct th_snap *s,
			     const unsigned *objs, unsigned nobjs, const uint64_t *pfns, unsigned npfns)
{
	unsigned nd = 0;

	for (unsigned o = 0; o < HL_OBJ_END; o++) {
		/* a shard's log counts like any object's (a refused step appends nowhere); it is
		 * skipped with the SPEC object it refines */
		unsigned parent = hl_refine_is_shard(e->st->ref, o) ? e->st->ref->sh[o - HL_ID_END].parent : o;
		bool skip = false;
		for (unsigned i = 0; i < nobjs; i++)
			skip |= objs[i] == o || objs[i] == parent;
		if (skip)
			continue;
		if (o < HL_ID_END && hl_state_obj_digest(e->st, o) != s->dig[o]) {
			fprintf(stderr, "th_snap: object %u changed\n", o);
			nd++;
		}
		if (th_nrecs(e, o) != s->nrec[o]) {
			fprintf(stderr, "th_snap: object %u got %lld records\n", o,
				(long long)(th_nrecs(e, o) - s->nrec[o]));
			nd++;
		}
	}
	if (s->ram && e->st->ram)
		for (uint64_t i = 0; i < HL_RAM_PAGES; i++) {
			bool skip = false;
			for (unsigned j = 0; j < npfns; j++)
				skip |= pfns[j] == HL_RAM_BASE_PFN + i;
			if (!skip && hl_digest(e->st->ram + i * HL_PAGE_SIZE, HL_PAGE_SIZE) != s->ram[i]) {
				fprintf(stderr, "th_snap: RAM page pfn %#llx changed\n",
					(unsigned long long)(HL_RAM_BASE_PFN + i));
				nd++;
			}
		}
	if (th_smmu_digest(k) != s->smmu) {
		fprintf(stderr, "th_snap: emulated SMMU registers changed\n");
		nd++;
	}
	if (th_halted_mask(e) != s->halted) {
		fprintf(stderr, "th_snap: halted CPUs %#llx, were %#llx\n", (unsigned long long)th_halted_mask(e),
			(unsigned long long)s->halted);
		nd++;
	}
	return nd;
}

unsigned th_snap_diff(struct hl_engine *e, const struct kcore *k, const struct th_snap *s)
{
	return th_snap_diff_except(e, k, s, NULL, 0, NULL, 0);
}

void th_snap_free(struct th_snap *s)
{
	free(s->ram);
	s->ram = NULL;
}

#include "platform.h"

struct hp_platform *th_platform(struct hl_engine *e, struct kcore **k)
{
	struct hp_cfg cfg;
	struct hp_platform *p;

	*k = e ? kcore_new(e) : NULL;
	if (!*k)
		return NULL;
	memset(&cfg, 0, sizeof(cfg));
	cfg.ncpus = e->cfg.ncpus;
	cfg.mix = HP_MIX_ALL;
	cfg.seed = 1;
	p = hp_new(e, *k, &cfg);
	if (!p) {
		kcore_free(*k);
		*k = NULL;
		return NULL;
	}
	hp_enter_cpu(p, 0);
	return p;
}

void th_platform_free(struct hp_platform *p, struct kcore *k, struct hl_engine *e)
{
	hp_free(p);
	kcore_free(k);
	hl_engine_free(e);
}

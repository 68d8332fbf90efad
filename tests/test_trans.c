/*
 * test_trans.c - every branch of every transition of SPEC §6.
 *
 * Expectations are worked out by hand from the seed's local_* definitions
 * (seeds/004_3eda6becfe2f6eff.txt) as corrected by SPEC §9; the descriptor values are the
 * literal Coq/C constants (REFERENCE §2.3), not the engine's macros. For each step we check
 * the status, the resulting state, the log effect (which objects got a record, with which
 * event/result/flags), halting and stranding, and that Cal<Obj> and CalStateH reproduce the
 * live state (th_replay_matches).
 *
 * Every engine has 2 CPUs: CPU 0 takes the halt branches, CPU 1 shows the rest goes on.
 *
 * Branches that no sequence of valid inputs can reach under the default configuration are
 * listed at the transition they belong to, with the reason.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "helpers.h"
#include "hl_pgtable.h"
#include "hl_testkey.h"

/* ---- literal constants (REFERENCE §2.3) --------------------------------------------------- */
#define PG              4096ull
#define PMD             0x200000ull
#define KERNEL          0x7FFull                 /* C PAGE_S2_KERNEL */
#define KERNEL_BLOCK    0x7FDull                 /* PAGE_S2_KERNEL & NOT_PMD_TABLE_BIT */
#define DEVICE_RW       (0x40000000000747ull | 0xC0ull)   /* PAGE_S2_DEVICE | S2_RDWR */
#define HYP             0x40000000000753ull      /* PAGE_HYP */
#define GUEST           (1ull << 57)             /* PAGE_GUEST */
#define HOST_OFF        1000000000ull            /* SMMU_HOST_OFFSET */
#define INV32           0xFFFFFFFFu
#define INV64           0xFFFFFFFFFFFFFFFFull
#define REMAP_START     0x2000000ull
#define REMAP_END       0x4000000ull
#define COREV           16u                      /* COREVISOR with MAX_VM 15 */

#define S2P             HL_S2PAGE_ID
#define CORE            HL_CORE_ID
#define SPT             HL_SPT_ID
#define SMMU            HL_SMMU_ID
#define NPT(v)          (HL_NPT_ID + (unsigned)(v))
#define INFO(v)         (HL_INFO_ID + (unsigned)(v))

/* ---- fixtures ------------------------------------------------------------------------------ */
struct snap {
	uint64_t dig[HL_ID_END];
	uint64_t n[HL_ID_END];
};

static void snap_take(struct hl_engine *e, struct snap *s)
{
	for (unsigned o = 1; o < HL_ID_END; o++) {
		s->dig[o] = hl_state_obj_digest(e->st, o);
		s->n[o] = th_nrecs(e, o);
	}
}

/* nothing changed and nothing was appended anywhere */
static void assert_untouched(struct hl_engine *e, const struct snap *s)
{
	for (unsigned o = 1; o < HL_ID_END; o++) {
		cr_assert_eq(hl_state_obj_digest(e->st, o), s->dig[o], "object %u changed", o);
		cr_assert_eq(th_nrecs(e, o), s->n[o], "object %u got a record", o);
	}
}

static bool in(unsigned o, const unsigned *set, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (set[i] == o)
			return true;
	return false;
}

static uint8_t recbuf[HL_REC_MAX];

static const struct hl_rec *last(struct hl_engine *e, unsigned obj)
{
	const struct hl_rec *r = th_last_rec(e, obj, recbuf, sizeof(recbuf));
	cr_assert_not_null(r, "object %u has no record", obj);
	return r;
}

/*
 * Exactly the objects in `objs` got one new record each, from one operation of event `ev`
 * with `result`, run by `cpu`; every other object got none. Object contents are not checked
 * here (each test checks the entries it expects).
 */
static void assert_recs(struct hl_engine *e, const struct snap *s, unsigned ev, unsigned result, int cpu,
			const unsigned *objs, unsigned n)
{
	uint64_t op = 0;
	for (unsigned o = 1; o < HL_ID_END; o++) {
		if (!in(o, objs, n)) {
			cr_assert_eq(th_nrecs(e, o), s->n[o], "object %u got an unexpected record", o);
			continue;
		}
		cr_assert_eq(th_nrecs(e, o), s->n[o] + 1, "object %u: expected one new record", o);
		const struct hl_rec *r = last(e, o);
		cr_assert_eq(r->event, ev, "object %u: event %u, expected %u", o, r->event, ev);
		cr_assert_eq(r->result, result, "object %u: result %u", o, r->result);
		cr_assert_eq(r->cpu, cpu);
		cr_assert_eq(r->obj, o);
		cr_assert_eq(r->nrec, n, "object %u: nrec %u, expected %u", o, r->nrec, n);
		cr_assert_eq(r->seq, s->n[o] + 1);
		if (op == 0)
			op = r->op;
		cr_assert_eq(r->op, op, "one operation ID across the step's records");
	}
}

/*
 * The step on CPU 0 took its halt branch: every locked object got a HALT record with no
 * delta (the halt branches change nothing), exactly `strand` are stranded (flag + lock),
 * nothing changed, CPU 0 is halted and refuses later steps.
 */
static void assert_halt(struct hl_engine *e, const struct snap *s, unsigned ev, const unsigned *locked,
			unsigned nl, const unsigned *strand, unsigned ns)
{
	for (unsigned o = 1; o < HL_ID_END; o++)
		cr_assert_eq(hl_state_obj_digest(e->st, o), s->dig[o], "halt branch changed object %u", o);
	assert_recs(e, s, ev, HL_RES_HALT, 0, locked, nl);
	for (unsigned i = 0; i < nl; i++) {
		const struct hl_rec *r = last(e, locked[i]);
		bool st = in(locked[i], strand, ns);
		cr_assert_eq(r->ndelta, 0);
		cr_assert_eq(!!(r->flags & HL_RF_STRANDED), st, "object %u stranded flag", locked[i]);
	}
	for (unsigned o = 1; o < HL_ID_END; o++)
		cr_assert_eq(hl_lock_is_stranded(&e->locks[o]), in(o, strand, ns), "object %u stranded lock", o);
	cr_assert(hl_cpu_halted(e, 0));
	cr_assert_not(hl_cpu_halted(e, 1));
	cr_assert_eq(hl_engine_nheld(e, 0), ns, "a halted CPU keeps exactly its stranded locks");
	cr_assert_eq(hl_set_vm_poweroff(e, 0, 1), HL_E_CPU_HALTED);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(HL_RAM_BASE)), HL_E_CPU_HALTED);
}

static struct hl_engine *eng(void)
{
	struct hl_engine *e = th_engine(2);
	cr_assert_not_null(e);
	return e;
}

static struct hl_s2page page(struct hl_engine *e, uint64_t pfn)
{
	return e->st->s2p->page[pfn - HL_RAM_BASE_PFN];
}

static uint64_t fmem(struct hl_engine *e, uint64_t pfn)
{
	return e->st->s2p->flatmem[pfn - HL_RAM_BASE_PFN];
}

static void assert_page(struct hl_engine *e, uint64_t pfn, uint32_t owner, uint32_t count, uint64_t gfn)
{
	struct hl_s2page p = page(e, pfn);
	cr_assert_eq(p.owner, owner, "pfn %#llx owner %u, expected %u", (unsigned long long)pfn, p.owner, owner);
	cr_assert_eq(p.count, count, "pfn %#llx count %u, expected %u", (unsigned long long)pfn, p.count, count);
	cr_assert_eq(p.gfn, gfn, "pfn %#llx gfn %#llx, expected %#llx", (unsigned long long)pfn,
		     (unsigned long long)p.gfn, (unsigned long long)gfn);
}

static void assert_npt(struct hl_engine *e, unsigned princ, uint64_t addr, uint64_t pfn, unsigned level,
		       uint64_t pte)
{
	struct hl_pt_entry w;
	hl_npt_walk(e->st->npt[princ], addr, &w);
	cr_assert_eq(w.pfn, pfn, "npt(%u) %#llx: pfn %#llx, expected %#llx", princ, (unsigned long long)addr,
		     (unsigned long long)w.pfn, (unsigned long long)pfn);
	cr_assert_eq(w.level, level, "npt(%u) %#llx: level %u, expected %u", princ, (unsigned long long)addr,
		     w.level, level);
	cr_assert_eq(w.pte, pte, "npt(%u) %#llx: pte %#llx, expected %#llx", princ, (unsigned long long)addr,
		     (unsigned long long)w.pte, (unsigned long long)pte);
}

static void assert_spt(struct hl_engine *e, unsigned index, unsigned cbndx, uint64_t iova, uint64_t pfn,
		       uint64_t pte)
{
	struct hl_pt_entry w;
	hl_spt_walk(e->st->spt, index * 8 + cbndx, iova, &w);
	cr_assert_eq(w.pfn, pfn, "spt %#llx: pfn %#llx", (unsigned long long)iova, (unsigned long long)w.pfn);
	cr_assert_eq(w.level, pte ? 3u : 0u);
	cr_assert_eq(w.pte, pte, "spt %#llx: pte %#llx, expected %#llx", (unsigned long long)iova,
		     (unsigned long long)w.pte, (unsigned long long)pte);
}

static uint64_t digest_of(const void *p)
{
	return XXH3_64bits(p, PG);
}

static uint64_t zero_digest(void)
{
	static const uint8_t z[PG];
	return XXH3_64bits(z, PG);
}

static void fill(struct hl_engine *e, uint64_t pfn, uint8_t seed)
{
	uint8_t *p = hl_ram_page(e, pfn);
	cr_assert_not_null(p);
	for (unsigned i = 0; i < PG; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static uint32_t new_vm(struct hl_engine *e, int cpu)
{
	uint32_t v = th_new_vm(e, cpu);
	cr_assert_neq(v, 0);
	return v;
}

/* a VERIFIED VM: no boot images, so verification holds vacuously (as C's loop over 0 images) */
static uint32_t verified_vm(struct hl_engine *e, int cpu)
{
	uint32_t v = new_vm(e, cpu);
	int ok = -1;
	cr_assert_eq(hl_verify_vm_image(e, cpu, v, &ok), HL_OK);
	cr_assert_eq(ok, 1);
	cr_assert_eq(e->st->info[v]->state, HL_VM_VERIFIED);
	return v;
}

static void replay_ok(struct hl_engine *e)
{
	cr_assert_eq(th_replay_matches(e), 0, "Cal<Obj>/CalStateH do not reproduce the live state");
}

/* ============================================================================================ */
/* OMAP_HOST                                                                                    */
/* Unreachable: pool exhaustion (halt{s2page, npt(host)}) - every host PA is below RAM_END      */
/* (1 GiB MMIO + RAM = at most 544 level-3 tables, the host pool has 1024).                     */
/* ============================================================================================ */

Test(map_host, host_ram_page_maps_kernel)
{
	struct hl_engine *e = eng();
	struct snap s;
	uint64_t pfn = th_pfn(5);

	cr_assert_eq(HL_PAGE_S2_KERNEL, KERNEL);
	snap_take(e, &s);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(pfn * PG + 0x123)), HL_OK);
	assert_npt(e, 0, pfn * PG, pfn, 3, (pfn << 12) | KERNEL);
	assert_npt(e, 0, (pfn + 1) * PG, 0, 0, 0);
	assert_page(e, pfn, 0, 0, pfn + HOST_OFF);
	cr_assert_eq(hl_state_obj_digest(e->st, S2P), s.dig[S2P]);
	assert_recs(e, &s, HL_EV_MAP_HOST, HL_RES_OK, 0, (unsigned[]){ NPT(0) }, 1);
	cr_assert_eq(last(e, NPT(0))->arg[0], pfn * PG + 0x123);
	cr_assert_gt(last(e, NPT(0))->ndelta, 0);
	cr_assert_eq(hl_engine_nheld(e, 0), 0);
	/* mapping it again rewrites the same entry */
	cr_assert_eq(hl_map_host(e, 1, hl_pa(pfn * PG)), HL_OK);
	assert_npt(e, 0, pfn * PG, pfn, 3, (pfn << 12) | KERNEL);
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_host, mmio_maps_device_rw)
{
	struct hl_engine *e = eng();
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(0x09000010)), HL_OK);
	assert_npt(e, 0, 0x09000000, 0x9000, 3, 0x09000000ull | DEVICE_RW);
	cr_assert_eq(0x09000000ull | DEVICE_RW, 0x400000090007C7ull);
	assert_recs(e, &s, HL_EV_MAP_HOST, HL_RES_OK, 0, (unsigned[]){ NPT(0) }, 1);
	/* pfn 0 is INVALID-owned MMIO too */
	cr_assert_eq(hl_map_host(e, 0, hl_pa(0x0)), HL_OK);
	{
		struct hl_pt_entry w;
		hl_npt_walk(e->st->npt[0], 0, &w);
		cr_assert_eq(w.level, 3);
		cr_assert_eq(w.pte, DEVICE_RW);
	}
	/* last byte below RAM: MMIO; first byte of RAM: host page */
	cr_assert_eq(hl_map_host(e, 0, hl_pa(HL_RAM_BASE - 1)), HL_OK);
	assert_npt(e, 0, HL_RAM_BASE - PG, HL_RAM_BASE_PFN - 1, 3, (HL_RAM_BASE - PG) | DEVICE_RW);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(HL_RAM_BASE)), HL_OK);
	assert_npt(e, 0, HL_RAM_BASE, HL_RAM_BASE_PFN, 3, HL_RAM_BASE | KERNEL);
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_host, shared_vm_page_maps_kernel)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(40);
	struct snap s;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x100, pfn), HL_OK);
	cr_assert_eq(hl_grant_vm_page(e, 0, vm, pfn), HL_OK);
	assert_page(e, pfn, vm, 1, 0x100);
	snap_take(e, &s);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(pfn * PG)), HL_OK);
	assert_npt(e, 0, pfn * PG, pfn, 3, (pfn << 12) | KERNEL);
	assert_recs(e, &s, HL_EV_MAP_HOST, HL_RES_OK, 0, (unsigned[]){ NPT(0) }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_host, private_vm_page_halts_and_strands_s2page)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(41);
	struct snap s;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x100, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(pfn * PG)), HL_HALT);
	assert_halt(e, &s, HL_EV_MAP_HOST, (unsigned[]){ S2P, NPT(0) }, 2, (unsigned[]){ S2P }, 1);
	assert_npt(e, 0, pfn * PG, 0, 0, 0);
	cr_assert_eq(e->halts, 1);
	/* CPU 1: s2page is gone for good, npt(host) and the rest are not */
	snap_take(e, &s);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(1) * PG)), HL_E_STRANDED);
	cr_assert_eq(hl_grant_vm_page(e, 1, vm, pfn), HL_E_STRANDED);
	assert_untouched(e, &s);
	cr_assert_eq(hl_engine_nheld(e, 1), 0);
	cr_assert_not(hl_cpu_halted(e, 1));
	cr_assert_eq(hl_register_vcpu(e, 1, vm, 0, 0x77), HL_OK);
	cr_assert_eq(hl_map_pfn_vm(e, 1, vm, hl_ipa(0x1000), th_pfn(41) << 12, 3), HL_OK);
	replay_ok(e);
	hl_engine_free(e);
}

/*
 * A page a VM's SMMU bank took (count INVALID, REFERENCE §2.1: "INVALID count marks a page
 * given to a VM's SMMU before the VM itself mapped it") is not shared with the host: the
 * engine reads INVALID as a marker, not as a share count > 0, so the host may not map it.
 * (The seed's arithmetic `s2_count page >? 0` on 0xFFFFFFFF would map it; see the report.)
 */
Test(map_host, smmu_assigned_vm_page_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(42);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, pfn, 0x55), HL_OK);
	assert_page(e, pfn, vm, INV32, 0x55);
	snap_take(e, &s);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(pfn * PG)), HL_HALT);
	assert_halt(e, &s, HL_EV_MAP_HOST, (unsigned[]){ S2P, NPT(0) }, 2, (unsigned[]){ S2P }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_host, rejects_bad_input)
{
	struct hl_engine *e = eng();
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(HL_RAM_BASE + HL_RAM_SIZE)), HL_E_INVAL);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(HL_PHYS_SIZE)), HL_E_INVAL);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(~0ull)), HL_E_INVAL);
	cr_assert_eq(hl_map_host(e, 3, hl_pa(HL_RAM_BASE)), HL_E_CPU);
	cr_assert_eq(hl_map_host(e, -1, hl_pa(HL_RAM_BASE)), HL_E_CPU);
	assert_untouched(e, &s);
	cr_assert_not(hl_cpu_halted(e, 0));
	cr_assert_eq(hl_engine_nheld(e, 0), 0);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OCLEAR_VM                                                                                    */
/* Unreachable: the host-unmap halt - it rewrites an entry that exists, so it allocates nothing */
/* ============================================================================================ */

Test(clear_vm_page, owned_page_back_to_host_zeroed_and_unmapped)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(60);
	struct snap s;
	static const uint8_t zero[PG];

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x300, pfn), HL_OK);
	cr_assert_eq(hl_grant_vm_page(e, 0, vm, pfn), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(pfn * PG)), HL_OK);   /* shared: host maps it */
	fill(e, pfn, 9);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, vm), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_clear_vm_page(e, 0, vm, pfn), HL_OK);
	assert_page(e, pfn, 0, 0, pfn + HOST_OFF);
	cr_assert_eq(fmem(e, pfn), zero_digest());
	cr_assert_eq(memcmp(hl_ram_page(e, pfn), zero, PG), 0, "contents zeroed");
	assert_npt(e, 0, pfn * PG, 0, 3, GUEST);                   /* §9.7 */
	assert_recs(e, &s, HL_EV_CLEAR_VM, HL_RES_OK, 0, (unsigned[]){ S2P, NPT(0) }, 2);
	cr_assert_eq(last(e, S2P)->arg[0], vm);
	cr_assert_eq(last(e, S2P)->arg[1], pfn);
	/* the host can take it back */
	cr_assert_eq(hl_map_host(e, 1, hl_pa(pfn * PG)), HL_OK);
	assert_npt(e, 0, pfn * PG, pfn, 3, (pfn << 12) | KERNEL);
	replay_ok(e);
	hl_engine_free(e);
}

Test(clear_vm_page, owned_page_not_in_host_table)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(61);
	struct snap s;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x301, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_clear_vm_page(e, 0, vm, pfn), HL_OK);
	assert_page(e, pfn, 0, 0, pfn + HOST_OFF);
	cr_assert_eq(fmem(e, pfn), zero_digest());
	assert_npt(e, 0, pfn * PG, 0, 0, 0);
	assert_recs(e, &s, HL_EV_CLEAR_VM, HL_RES_OK, 0, (unsigned[]){ S2P }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

Test(clear_vm_page, not_owner_is_a_noop)
{
	struct hl_engine *e = eng();
	uint32_t a = new_vm(e, 0), b = new_vm(e, 0);
	uint64_t pfn = th_pfn(62);
	struct snap s;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, a, 0x10, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_clear_vm_page(e, 0, b, pfn), HL_OK);            /* another VM's page */
	cr_assert_eq(hl_clear_vm_page(e, 0, a, th_pfn(63)), HL_OK);     /* a host page */
	cr_assert_eq(hl_clear_vm_page(e, 0, a, 0x9000), HL_OK);         /* MMIO, INVALID-owned */
	cr_assert_eq(hl_clear_vm_page(e, 0, a, HL_RAM_BASE_PFN + HL_RAM_PAGES), HL_OK);  /* above RAM */
	assert_untouched(e, &s);
	cr_assert_not(hl_cpu_halted(e, 0));
	replay_ok(e);
	hl_engine_free(e);
}

/* a VERIFIED VM with vCPU `vcpu` registered (READY) */
static uint32_t running_vm(struct hl_engine *e, uint32_t vcpu)
{
	uint32_t v = new_vm(e, 0);
	int ok = -1;
	cr_assert_eq(hl_register_vcpu(e, 0, v, vcpu, 0x1000), HL_OK);
	cr_assert_eq(hl_verify_vm_image(e, 0, v, &ok), HL_OK);
	cr_assert_eq(ok, 1);
	return v;
}

/* H13: a powered-off VM whose vCPU is still in the guest (another vCPU powered it off)
 * keeps its pages: OCLEAR_VM reads vminfo(vmid) under its lock and refuses, nothing
 * changed, no record; once the vCPU exits the page goes back and the records list the
 * vminfo read (a read lock: no HL_RD_WRITTEN, seq = vminfo's last record) before s2page */
Test(clear_vm_page, poweroff_vm_with_active_vcpu_denied)
{
	struct hl_engine *e = eng();
	uint32_t vm = running_vm(e, 1);
	uint64_t pfn = th_pfn(64);
	struct snap s;
	const struct hl_rec *r;
	const struct hl_rdep *rd;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x302, pfn), HL_OK);
	cr_assert_eq(hl_set_vcpu_active(e, 1, vm, 1), HL_OK);   /* vCPU 1 in the guest on CPU 1 */
	cr_assert_eq(hl_set_vm_poweroff(e, 0, vm), HL_OK);      /* another vCPU powers it off */
	fill(e, pfn, 3);
	snap_take(e, &s);
	cr_assert_eq(hl_clear_vm_page(e, 0, vm, pfn), HL_E_DENIED);
	assert_untouched(e, &s);
	assert_page(e, pfn, vm, 0, 0x302);
	cr_assert_eq(hl_ram_page(e, pfn)[1], (uint8_t)(3 + 7), "the guest's data stays");
	cr_assert_not(hl_cpu_halted(e, 0));
	cr_assert_eq(hl_engine_nheld(e, 0), 0);
	/* the vCPU exits: now the page goes back, and the step's records carry the read */
	cr_assert_eq(hl_set_vcpu_inactive(e, 1, vm, 1), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_clear_vm_page(e, 0, vm, pfn), HL_OK);
	assert_page(e, pfn, 0, 0, pfn + HOST_OFF);
	assert_recs(e, &s, HL_EV_CLEAR_VM, HL_RES_OK, 0, (unsigned[]){ S2P }, 1);
	r = last(e, S2P);
	cr_assert_geq(r->nlock, 2);
	rd = hl_rec_rdeps(r);
	cr_assert_eq(rd[0].obj, INFO(vm), "vminfo(vmid) is the step's first lock");
	cr_assert(hl_rdep_is_read(&rd[0]), "vminfo(vmid) is a read lock");
	cr_assert_eq(rd[0].seq, s.n[INFO(vm)], "the read names vminfo's last record (the OVM_INACTIVE)");
	cr_assert_eq(rd[1].obj, S2P);
	cr_assert_not(hl_rdep_is_read(&rd[1]));
	replay_ok(e);
	hl_engine_free(e);
}

/* a VM that is not powered off keeps the seed/C rule (the trap layer clears only POWEROFF
 * VMs): a running vCPU does not stop an engine-level clear of a page the VM never mapped */
Test(clear_vm_page, live_vm_with_active_vcpu_keeps_c_rule)
{
	struct hl_engine *e = eng();
	uint32_t vm = running_vm(e, 0);
	uint64_t pfn = th_pfn(65);

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x303, pfn), HL_OK);
	cr_assert_eq(hl_set_vcpu_active(e, 1, vm, 0), HL_OK);
	cr_assert_eq(hl_clear_vm_page(e, 0, vm, pfn), HL_OK);
	assert_page(e, pfn, 0, 0, pfn + HOST_OFF);
	replay_ok(e);
	hl_engine_free(e);
}

Test(clear_vm_page, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_clear_vm_page(e, 0, 0, th_pfn(1)), HL_E_INVAL);
	cr_assert_eq(hl_clear_vm_page(e, 0, COREV, th_pfn(1)), HL_E_INVAL);
	cr_assert_eq(hl_clear_vm_page(e, 0, INV32, th_pfn(1)), HL_E_INVAL);
	cr_assert_eq(hl_clear_vm_page(e, 0, vm, 1ull << 28), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OASSIGN_VM                                                                                   */
/* Unreachable: the host-unmap halt (as OCLEAR_VM).                                             */
/* ============================================================================================ */

Test(assign_pfn_to_vm, host_page_to_vm_unmapped_from_host)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(70);
	struct snap s;
	uint64_t d;

	cr_assert_eq(hl_map_host(e, 0, hl_pa(pfn * PG)), HL_OK);
	fill(e, pfn, 3);
	d = digest_of(hl_ram_page(e, pfn));
	cr_assert_neq(d, zero_digest());
	snap_take(e, &s);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x1234, pfn), HL_OK);   /* §9.4: no halt */
	cr_assert_not(hl_cpu_halted(e, 0));
	assert_page(e, pfn, vm, 0, 0x1234);
	cr_assert_eq(fmem(e, pfn), d, "flatmem := dorc (the content the host left)");
	assert_npt(e, 0, pfn * PG, 0, 3, GUEST);
	assert_recs(e, &s, HL_EV_ASSIGN_VM, HL_RES_OK, 0, (unsigned[]){ S2P, NPT(0) }, 2);
	{
		const struct hl_rec *r = last(e, S2P);
		cr_assert_eq(r->arg[0], vm);
		cr_assert_eq(r->arg[1], 0x1234);
		cr_assert_eq(r->arg[2], pfn);
		cr_assert_eq(r->dorc, d);
	}
	/* the host faults on it again: it is private now */
	replay_ok(e);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(pfn * PG)), HL_HALT);
	hl_engine_free(e);
}

Test(assign_pfn_to_vm, host_page_not_in_host_table)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(71);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x99, pfn), HL_OK);
	assert_page(e, pfn, vm, 0, 0x99);
	cr_assert_eq(fmem(e, pfn), zero_digest());
	assert_npt(e, 0, pfn * PG, 0, 0, 0);
	assert_recs(e, &s, HL_EV_ASSIGN_VM, HL_RES_OK, 0, (unsigned[]){ S2P }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

Test(assign_pfn_to_vm, host_page_with_smmu_mappings_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(72);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, 0, 0), HL_OK);     /* host bank */
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(pfn * PG), (pfn << 12) | 3), HL_OK);
	assert_page(e, pfn, 0, 1, pfn + HOST_OFF);
	snap_take(e, &s);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x5, pfn), HL_HALT);
	assert_halt(e, &s, HL_EV_ASSIGN_VM, (unsigned[]){ S2P, NPT(0) }, 2, (unsigned[]){ S2P }, 1);
	snap_take(e, &s);
	cr_assert_eq(hl_grant_vm_page(e, 1, vm, pfn), HL_E_STRANDED);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 1, vm, 0x6, th_pfn(73)), HL_E_STRANDED);
	assert_untouched(e, &s);
	cr_assert_eq(hl_register_vcpu(e, 1, vm, 1, 0x1), HL_OK);
	replay_ok(e);
	hl_engine_free(e);
}

Test(assign_pfn_to_vm, already_owned_same_gfn_is_a_noop)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(74);
	struct snap s;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x44, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x44, pfn), HL_OK);
	assert_untouched(e, &s);
	/* also with a share count: still no change (count is not INVALID) */
	cr_assert_eq(hl_grant_vm_page(e, 0, vm, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x44, pfn), HL_OK);
	assert_untouched(e, &s);
	assert_page(e, pfn, vm, 1, 0x44);
	replay_ok(e);
	hl_engine_free(e);
}

Test(assign_pfn_to_vm, smmu_page_count_invalid_fixed_up)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(75), f;
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 1, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 1, 0, pfn, 0x77), HL_OK);
	assert_page(e, pfn, vm, INV32, 0x77);
	f = fmem(e, pfn);
	snap_take(e, &s);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x77, pfn), HL_OK);   /* §9.5 */
	assert_page(e, pfn, vm, 0, 0x77);
	assert_recs(e, &s, HL_EV_ASSIGN_VM, HL_RES_OK, 0, (unsigned[]){ S2P }, 1);
	cr_assert_eq(fmem(e, pfn), f, "flatmem not touched");
	cr_assert_eq(last(e, S2P)->ndelta, 1, "only the s2page entry is written");
	replay_ok(e);
	hl_engine_free(e);
}

Test(assign_pfn_to_vm, owned_gfn_mismatch_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(76);
	struct snap s;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x44, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x45, pfn), HL_HALT);
	assert_halt(e, &s, HL_EV_ASSIGN_VM, (unsigned[]){ S2P, NPT(0) }, 2, (unsigned[]){ S2P }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

Test(assign_pfn_to_vm, smmu_page_gfn_mismatch_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(77);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 1, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 1, 0, pfn, 0x77), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x78, pfn), HL_HALT);
	assert_halt(e, &s, HL_EV_ASSIGN_VM, (unsigned[]){ S2P, NPT(0) }, 2, (unsigned[]){ S2P }, 1);
	assert_page(e, pfn, vm, INV32, 0x77);
	replay_ok(e);
	hl_engine_free(e);
}

Test(assign_pfn_to_vm, other_vms_page_halts)
{
	struct hl_engine *e = eng();
	uint32_t a = new_vm(e, 0), b = new_vm(e, 0);
	uint64_t pfn = th_pfn(78);
	struct snap s;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, a, 0x44, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, b, 0x44, pfn), HL_HALT);
	assert_halt(e, &s, HL_EV_ASSIGN_VM, (unsigned[]){ S2P, NPT(0) }, 2, (unsigned[]){ S2P }, 1);
	assert_page(e, pfn, a, 0, 0x44);
	replay_ok(e);
	hl_engine_free(e);
}

/*
 * Owned page with gfn INVALID64 ("not yet bound", the decrypt_buf path of REFERENCE §5.1,
 * which is outside the first version): no entry point produces it, so the state is set up
 * directly. The live state then no longer follows from the logs, so no replay check here.
 */
Test(assign_pfn_to_vm, owned_unbound_gfn_takes_the_gfn)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(79);
	struct hl_s2page *p = &e->st->s2p->page[pfn - HL_RAM_BASE_PFN];
	struct snap s;

	p->owner = vm;
	p->count = 0;
	p->gfn = INV64;
	snap_take(e, &s);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x888, pfn), HL_OK);
	assert_page(e, pfn, vm, 0, 0x888);
	assert_recs(e, &s, HL_EV_ASSIGN_VM, HL_RES_OK, 0, (unsigned[]){ S2P }, 1);
	p->count = INV32;
	p->gfn = INV64;
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x889, pfn), HL_OK);
	assert_page(e, pfn, vm, 0, 0x889);
	hl_engine_free(e);
}

Test(assign_pfn_to_vm, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, 0, 1, th_pfn(1)), HL_E_INVAL);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, COREV, 1, th_pfn(1)), HL_E_INVAL);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 1ull << 36, th_pfn(1)), HL_E_INVAL);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 1, 0x9000), HL_E_INVAL);          /* MMIO */
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 1, HL_RAM_BASE_PFN - 1), HL_E_INVAL);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 1, HL_RAM_BASE_PFN + HL_RAM_PAGES), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OMAP_VM                                                                                      */
/* ============================================================================================ */

Test(map_pfn_vm, level3_page)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(80);
	struct snap s;

	snap_take(e, &s);
	/* attribute bits of the caller's pte are dropped: only phys_page(pte) | PAGE_S2_KERNEL */
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x80001000), (pfn << 12) | (1ull << 54) | 0xABC, 3), HL_OK);
	assert_npt(e, vm, 0x80001000, pfn, 3, (pfn << 12) | KERNEL);
	assert_npt(e, vm, 0x80002000, 0, 0, 0);
	assert_recs(e, &s, HL_EV_MAP_VM, HL_RES_OK, 0, (unsigned[]){ NPT(vm) }, 1);
	{
		const struct hl_rec *r = last(e, NPT(vm));
		cr_assert_eq(r->arg[0], vm);
		cr_assert_eq(r->arg[1], 0x80001000);
		cr_assert_eq(r->arg[2], (pfn << 12) | (1ull << 54) | 0xABC);
		cr_assert_eq(r->arg[3], 3);
	}
	/* SPEC §13: the entry is set once; remapping the gfn is refused, nothing changes
	 * (the seed replaced the entry) */
	snap_take(e, &s);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x80001000), (pfn + 1) << 12, 3), HL_E_DENIED);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x80001000), pfn << 12, 3), HL_E_DENIED);
	assert_untouched(e, &s);
	assert_npt(e, vm, 0x80001000, pfn, 3, (pfn << 12) | KERNEL);
	cr_assert_not(hl_cpu_halted(e, 0));
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_pfn_vm, level2_block)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(512);   /* 2 MiB aligned */
	struct snap s;

	snap_take(e, &s);
	/* the gfn is aligned down to the 2 MiB boundary (seed: addr / PAGE_SIZE / 512 * 512) */
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x80200000 + 0x5000), (pfn << 12) | 3, 2), HL_OK);
	for (unsigned k = 0; k < 512; k += 73)
		assert_npt(e, vm, 0x80200000 + k * PG, pfn + k, 2, (pfn << 12) | KERNEL_BLOCK);
	assert_npt(e, vm, 0x80200000 + 511 * PG, pfn + 511, 2, (pfn << 12) | KERNEL_BLOCK);
	assert_npt(e, vm, 0x80200000 - PG, 0, 0, 0);
	assert_npt(e, vm, 0x80400000, 0, 0, 0);
	assert_recs(e, &s, HL_EV_MAP_VM, HL_RES_OK, 0, (unsigned[]){ NPT(vm) }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

/* SPEC §13: a block never replaces a level-3 table (the seed's block over it made the
 * table's pages unreachable and put host-chosen frames under the VM's mapped gfns) */
Test(map_pfn_vm, level2_over_level3_table_denied)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(1024);
	struct snap s;

	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x80203000), th_pfn(3) << 12, 3), HL_OK);
	assert_npt(e, vm, 0x80203000, th_pfn(3), 3, (th_pfn(3) << 12) | KERNEL);
	snap_take(e, &s);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x80200000), pfn << 12, 2), HL_E_DENIED);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x80204000), pfn << 12, 2), HL_E_DENIED);
	assert_untouched(e, &s);
	assert_npt(e, vm, 0x80203000, th_pfn(3), 3, (th_pfn(3) << 12) | KERNEL);
	/* a block over a block is refused too */
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x80400000), pfn << 12, 2), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x80400000), (pfn + 512) << 12, 2), HL_E_DENIED);
	assert_untouched(e, &s);
	cr_assert_not(hl_cpu_halted(e, 0));
	replay_ok(e);
	hl_engine_free(e);
}

/* SPEC §13, §17: a page inside a block is refused, not the seed's halt (the value is the
 * host's); the VM's block is untouched and the CPU goes on */
Test(map_pfn_vm, level3_inside_block_denied)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0), other = new_vm(e, 0);
	uint64_t pfn = th_pfn(512);
	struct snap s;

	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x80200000), pfn << 12, 2), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x80201000), th_pfn(3) << 12, 3), HL_E_DENIED);
	assert_untouched(e, &s);
	cr_assert_not(hl_cpu_halted(e, 0));
	assert_npt(e, vm, 0x80201000, pfn + 1, 2, (pfn << 12) | KERNEL_BLOCK);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0x90000000), th_pfn(3) << 12, 3), HL_OK);
	cr_assert_eq(hl_map_pfn_vm(e, 1, other, hl_ipa(0x80201000), th_pfn(3) << 12, 3), HL_OK);
	assert_npt(e, other, 0x80201000, th_pfn(3), 3, (th_pfn(3) << 12) | KERNEL);
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_pfn_vm, pgd_pool_exhausted_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct hl_pt_meta *m = hl_pt_meta(e->st->npt[vm]);
	struct snap s;

	/* each 512 GiB region needs its own level-1 table; the pgd region holds 4 */
	for (uint64_t k = 0; k < 4; k++)
		cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(k << 39), th_pfn(1) << 12, 3), HL_OK);
	cr_assert_eq(m->pgd_next, m->pud_start);
	snap_take(e, &s);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(4ull << 39), th_pfn(1) << 12, 3), HL_HALT);
	assert_halt(e, &s, HL_EV_MAP_VM, (unsigned[]){ NPT(vm) }, 1, (unsigned[]){ NPT(vm) }, 1);
	assert_npt(e, vm, 4ull << 39, 0, 0, 0);
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_pfn_vm, pud_pool_exhausted_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct hl_pt_meta *m = hl_pt_meta(e->st->npt[vm]);
	struct snap s;

	/* each 1 GiB needs its own level-2 table; the pud region holds 16 */
	for (uint64_t k = 0; k < 16; k++)
		cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(k << 30), th_pfn(512) << 12, 2), HL_OK);
	cr_assert_eq(m->pud_next, m->pmd_start);
	snap_take(e, &s);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(16ull << 30), th_pfn(512) << 12, 2), HL_HALT);
	assert_halt(e, &s, HL_EV_MAP_VM, (unsigned[]){ NPT(vm) }, 1, (unsigned[]){ NPT(vm) }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_pfn_vm, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_map_pfn_vm(e, 0, 0, hl_ipa(0), th_pfn(1) << 12, 3), HL_E_INVAL);
	cr_assert_eq(hl_map_pfn_vm(e, 0, COREV, hl_ipa(0), th_pfn(1) << 12, 3), HL_E_INVAL);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0), th_pfn(1) << 12, 1), HL_E_INVAL);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0), th_pfn(1) << 12, 4), HL_E_INVAL);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(1ull << 48), th_pfn(1) << 12, 3), HL_E_INVAL);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0), 1ull << 40, 3), HL_E_INVAL);
	cr_assert_eq(hl_map_pfn_vm(e, 0, vm, hl_ipa(0), th_pfn(1) << 12, 2), HL_E_INVAL); /* unaligned block */
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OMAP_IO                                                                                      */
/* ============================================================================================ */

Test(map_vm_io, mmio_maps_device_rw)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_map_vm_io(e, 0, vm, hl_ipa(0x08000000), hl_pa(0x09000123)), HL_OK);
	assert_npt(e, vm, 0x08000000, 0x9000, 3, 0x09000000ull | DEVICE_RW);
	assert_recs(e, &s, HL_EV_MAP_IO, HL_RES_OK, 0, (unsigned[]){ NPT(vm) }, 1);
	{
		const struct hl_rec *r = last(e, NPT(vm));
		cr_assert_eq(r->arg[0], vm);
		cr_assert_eq(r->arg[1], 0x08000000);
		cr_assert_eq(r->arg[2], 0x09000123);
	}
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_vm_io, ram_is_a_noop)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_map_vm_io(e, 0, vm, hl_ipa(0x08000000), hl_pa(HL_RAM_BASE + 0x5000)), HL_OK);
	assert_untouched(e, &s);
	cr_assert_not(hl_cpu_halted(e, 0));
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_vm_io, unused_vm_halts_and_strands_vminfo)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_map_vm_io(e, 0, 5, hl_ipa(0x08000000), hl_pa(0x09000000)), HL_HALT);
	assert_halt(e, &s, HL_EV_MAP_IO, (unsigned[]){ INFO(5), S2P, NPT(5) }, 3, (unsigned[]){ INFO(5) }, 1);
	snap_take(e, &s);
	cr_assert_eq(hl_set_vm_poweroff(e, 1, 5), HL_E_STRANDED);
	assert_untouched(e, &s);
	/* s2page and npt(5) were released */
	cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(1) * PG)), HL_OK);
	cr_assert_eq(hl_map_pfn_vm(e, 1, 5, hl_ipa(0x1000), th_pfn(2) << 12, 3), HL_OK);
	cr_assert_eq(hl_map_vm_io(e, 1, vm, hl_ipa(0x08000000), hl_pa(0x09000000)), HL_OK);
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_vm_io, verified_vm_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = verified_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_map_vm_io(e, 0, vm, hl_ipa(0x08000000), hl_pa(0x09000000)), HL_HALT);
	assert_halt(e, &s, HL_EV_MAP_IO, (unsigned[]){ INFO(vm), S2P, NPT(vm) }, 3, (unsigned[]){ INFO(vm) }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_vm_io, pool_exhausted_halts_and_strands_s2page_npt)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	for (uint64_t k = 0; k < 4; k++)
		cr_assert_eq(hl_map_vm_io(e, 0, vm, hl_ipa(k << 39), hl_pa(0x09000000)), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_map_vm_io(e, 0, vm, hl_ipa(4ull << 39), hl_pa(0x09000000)), HL_HALT);
	assert_halt(e, &s, HL_EV_MAP_IO, (unsigned[]){ INFO(vm), S2P, NPT(vm) }, 3,
		    (unsigned[]){ S2P, NPT(vm) }, 2);
	snap_take(e, &s);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(1) * PG)), HL_E_STRANDED);
	cr_assert_eq(hl_map_pfn_vm(e, 1, vm, hl_ipa(0x1000), th_pfn(2) << 12, 3), HL_E_STRANDED);
	assert_untouched(e, &s);
	cr_assert_eq(hl_register_vcpu(e, 1, vm, 0, 0x10), HL_OK);   /* vminfo was released */
	replay_ok(e);
	hl_engine_free(e);
}

Test(map_vm_io, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_map_vm_io(e, 0, 0, hl_ipa(0), hl_pa(0x09000000)), HL_E_INVAL);
	cr_assert_eq(hl_map_vm_io(e, 0, COREV, hl_ipa(0), hl_pa(0x09000000)), HL_E_INVAL);
	cr_assert_eq(hl_map_vm_io(e, 0, vm, hl_ipa(1ull << 48), hl_pa(0x09000000)), HL_E_INVAL);
	cr_assert_eq(hl_map_vm_io(e, 0, vm, hl_ipa(0), hl_pa(HL_RAM_BASE + HL_RAM_SIZE)), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OGRANT                                                                                       */
/* ============================================================================================ */

Test(grant_vm_page, counts_up_to_max_share_count)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(90);
	struct snap s;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x90, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_grant_vm_page(e, 0, vm, pfn), HL_OK);
	assert_page(e, pfn, vm, 1, 0x90);
	assert_recs(e, &s, HL_EV_GRANT, HL_RES_OK, 0, (unsigned[]){ S2P }, 1);
	cr_assert_eq(last(e, S2P)->arg[0], vm);
	cr_assert_eq(last(e, S2P)->arg[1], pfn);
	for (unsigned i = 2; i <= 100; i++)
		cr_assert_eq(hl_grant_vm_page(e, i & 1, vm, pfn), HL_OK);
	assert_page(e, pfn, vm, 100, 0x90);
	snap_take(e, &s);
	cr_assert_eq(hl_grant_vm_page(e, 0, vm, pfn), HL_OK);      /* count == MAX_SHARE_COUNT */
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(grant_vm_page, not_owner_is_a_noop)
{
	struct hl_engine *e = eng();
	uint32_t a = new_vm(e, 0), b = new_vm(e, 0);
	uint64_t pfn = th_pfn(91);
	struct snap s;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, a, 0x91, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_grant_vm_page(e, 0, b, pfn), HL_OK);
	cr_assert_eq(hl_grant_vm_page(e, 0, a, th_pfn(92)), HL_OK);        /* host page */
	cr_assert_eq(hl_grant_vm_page(e, 0, a, 0x9000), HL_OK);            /* MMIO */
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(grant_vm_page, smmu_page_count_invalid_is_a_noop)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(93);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, pfn, 0x93), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_grant_vm_page(e, 0, vm, pfn), HL_OK);   /* INVALID is not < MAX_SHARE_COUNT */
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(grant_vm_page, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_grant_vm_page(e, 0, 0, th_pfn(1)), HL_E_INVAL);
	cr_assert_eq(hl_grant_vm_page(e, 0, COREV, th_pfn(1)), HL_E_INVAL);
	cr_assert_eq(hl_grant_vm_page(e, 0, vm, 1ull << 28), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OREVOKE                                                                                      */
/* Unreachable: the host-unmap halt (as OCLEAR_VM).                                             */
/* ============================================================================================ */

Test(revoke_vm_page, count_above_one_decrements)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(100);
	struct snap s;
	uint64_t f;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0xA0, pfn), HL_OK);
	cr_assert_eq(hl_grant_vm_page(e, 0, vm, pfn), HL_OK);
	cr_assert_eq(hl_grant_vm_page(e, 0, vm, pfn), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(pfn * PG)), HL_OK);
	f = fmem(e, pfn);
	snap_take(e, &s);
	cr_assert_eq(hl_revoke_vm_page(e, 0, vm, pfn), HL_OK);
	assert_page(e, pfn, vm, 1, 0xA0);
	cr_assert_eq(fmem(e, pfn), f);
	assert_npt(e, 0, pfn * PG, pfn, 3, (pfn << 12) | KERNEL);   /* still shared */
	assert_recs(e, &s, HL_EV_REVOKE, HL_RES_OK, 0, (unsigned[]){ S2P }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

Test(revoke_vm_page, last_share_unmaps_host_and_takes_content)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(101);
	struct snap s;
	uint64_t d;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0xA1, pfn), HL_OK);
	cr_assert_eq(hl_grant_vm_page(e, 0, vm, pfn), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(pfn * PG)), HL_OK);
	fill(e, pfn, 0x42);                       /* the host wrote into the shared page */
	d = digest_of(hl_ram_page(e, pfn));
	snap_take(e, &s);
	cr_assert_eq(hl_revoke_vm_page(e, 0, vm, pfn), HL_OK);     /* §9.4: no halt */
	cr_assert_not(hl_cpu_halted(e, 0));
	assert_page(e, pfn, vm, 0, 0xA1);
	cr_assert_eq(fmem(e, pfn), d);
	assert_npt(e, 0, pfn * PG, 0, 3, GUEST);
	assert_recs(e, &s, HL_EV_REVOKE, HL_RES_OK, 0, (unsigned[]){ S2P, NPT(0) }, 2);
	cr_assert_eq(last(e, S2P)->dorc, d);
	replay_ok(e);
	/* private again: a host fault on it halts */
	cr_assert_eq(hl_map_host(e, 1, hl_pa(pfn * PG)), HL_HALT);
	hl_engine_free(e);
}

Test(revoke_vm_page, last_share_not_in_host_table)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(102);
	struct snap s;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0xA2, pfn), HL_OK);
	cr_assert_eq(hl_grant_vm_page(e, 0, vm, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_revoke_vm_page(e, 0, vm, pfn), HL_OK);
	assert_page(e, pfn, vm, 0, 0xA2);
	cr_assert_eq(fmem(e, pfn), zero_digest());
	assert_npt(e, 0, pfn * PG, 0, 0, 0);
	assert_recs(e, &s, HL_EV_REVOKE, HL_RES_OK, 0, (unsigned[]){ S2P }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

Test(revoke_vm_page, unshared_or_foreign_is_a_noop)
{
	struct hl_engine *e = eng();
	uint32_t a = new_vm(e, 0), b = new_vm(e, 0);
	uint64_t pfn = th_pfn(103), spfn = th_pfn(104);
	struct snap s;

	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, a, 0xA3, pfn), HL_OK);
	cr_assert_eq(hl_grant_vm_page(e, 0, a, pfn), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, a, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, spfn, 0xA4), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_revoke_vm_page(e, 0, b, pfn), HL_OK);               /* not b's */
	cr_assert_eq(hl_revoke_vm_page(e, 0, a, th_pfn(105)), HL_OK);       /* host page */
	cr_assert_eq(hl_revoke_vm_page(e, 0, a, 0x9000), HL_OK);            /* MMIO */
	cr_assert_eq(hl_revoke_vm_page(e, 0, a, spfn), HL_OK);              /* count INVALID: no share */
	assert_untouched(e, &s);
	cr_assert_eq(hl_revoke_vm_page(e, 0, a, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_revoke_vm_page(e, 0, a, pfn), HL_OK);               /* count 0 */
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(revoke_vm_page, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_revoke_vm_page(e, 0, 0, th_pfn(1)), HL_E_INVAL);
	cr_assert_eq(hl_revoke_vm_page(e, 0, COREV, th_pfn(1)), HL_E_INVAL);
	cr_assert_eq(hl_revoke_vm_page(e, 0, vm, 1ull << 28), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OGEN_VMID + OREG_KVM                                                                         */
/* ============================================================================================ */

Test(register_kvm, new_vm_ready)
{
	struct hl_engine *e = eng();
	uint32_t vmid = 0;
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_register_kvm(e, 0, 0xFFFF000012340000ull, 0, &vmid), HL_OK);
	cr_assert_eq(vmid, 1);
	cr_assert_eq(e->st->core->next_vmid, 2);
	cr_assert_eq(e->st->core->next_remap_ptr, REMAP_START);
	{
		struct hl_vminfo *vi = e->st->info[1];
		cr_assert_eq(vi->state, HL_VM_READY);
		cr_assert_eq(vi->kvm, 0xFFFF000012340000ull);
		cr_assert_eq(vi->inc_exe, 0);
		cr_assert_eq(vi->key_idx, 0);
		cr_assert_eq(vi->next_load_info, 0);
		for (unsigned c = 0; c < HL_VCPU_PER_VM; c++)
			cr_assert_eq(vi->vcpu_state[c], HL_VCPU_UNUSED);
	}
	/* two operations: OGEN_VMID on core, then OREG_KVM on vminfo(1) */
	cr_assert_eq(th_nrecs(e, CORE), 1);
	cr_assert_eq(th_nrecs(e, INFO(1)), 1);
	for (unsigned o = 1; o < HL_ID_END; o++)
		if (o != CORE && o != INFO(1))
			cr_assert_eq(th_nrecs(e, o), 0);
	{
		const struct hl_rec *g = last(e, CORE);
		uint64_t gop;
		cr_assert_eq(g->event, HL_EV_GEN_VMID);
		cr_assert_eq(g->result, HL_RES_OK);
		cr_assert_eq(g->ret, 1);
		cr_assert_eq(g->nrec, 1);
		gop = g->op;
		const struct hl_rec *r = last(e, INFO(1));
		cr_assert_eq(r->event, HL_EV_REG_KVM);
		cr_assert_eq(r->result, HL_RES_OK);
		cr_assert_eq(r->arg[0], 1);
		cr_assert_eq(r->arg[1], 0xFFFF000012340000ull);
		cr_assert_eq(r->ret, 1);
		cr_assert_eq(r->arg[2], 0, "the key index");
		cr_assert_eq(r->blob_len, 0, "no key bytes from the host");
		cr_assert_neq(r->op, gop);
	}
	/* the next one gets vmid 2, from the other CPU */
	cr_assert_eq(hl_register_kvm(e, 1, 0x2, 0, &vmid), HL_OK);
	cr_assert_eq(vmid, 2);
	cr_assert_eq(e->st->core->next_vmid, 3);
	replay_ok(e);
	hl_engine_free(e);
}

Test(register_kvm, gen_vmid_halts_at_corevisor)
{
	struct hl_engine *e = eng();
	const uint32_t key = 0;
	uint32_t vmid = 0;
	struct snap s;

	for (uint32_t v = 1; v <= 15; v++) {
		cr_assert_eq(hl_register_kvm(e, v & 1, v, key, &vmid), HL_OK);
		cr_assert_eq(vmid, v);
	}
	cr_assert_eq(e->st->core->next_vmid, COREV);
	snap_take(e, &s);
	vmid = 12345;
	cr_assert_eq(hl_register_kvm(e, 0, 0x99, key, &vmid), HL_HALT);   /* §9.6 */
	cr_assert_eq(vmid, 12345, "no vmid handed out");
	assert_halt(e, &s, HL_EV_GEN_VMID, (unsigned[]){ CORE }, 1, NULL, 0);
	cr_assert_eq(e->st->core->next_vmid, COREV);
	cr_assert_eq(e->st->info[COREV]->state, HL_VM_UNUSED);
	/* core is not stranded: CPU 1 goes on (and its own gen_vmid halts the same way) */
	cr_assert_eq(hl_register_vcpu(e, 1, 3, 0, 0x3), HL_OK);
	cr_assert_eq(hl_set_boot_info(e, 1, 3, hl_ipa(0), 4096, (uint8_t[64]){ 0 }, NULL), HL_OK);
	cr_assert_eq(hl_register_kvm(e, 1, 0x99, key, &vmid), HL_HALT);
	cr_assert(hl_cpu_halted(e, 1));
	cr_assert_not(hl_lock_is_stranded(&e->locks[CORE]));
	replay_ok(e);
	hl_engine_free(e);
}

Test(register_kvm, reg_kvm_on_used_vmid_halts)
{
	struct hl_engine *e = eng();
	const uint32_t key = 0;
	uint32_t vmid = 0;
	struct snap s;

	/* poweroff of a never-registered vmid moves it out of UNUSED (local_set_vm_poweroff) */
	cr_assert_eq(hl_set_vm_poweroff(e, 1, 1), HL_OK);
	cr_assert_eq(e->st->info[1]->state, HL_VM_POWEROFF);
	snap_take(e, &s);
	cr_assert_eq(hl_register_kvm(e, 0, 0x55, key, &vmid), HL_HALT);
	cr_assert_eq(vmid, 1);
	/* OGEN_VMID happened (core 1 -> 2, its own operation), OREG_KVM took the halt branch */
	cr_assert_eq(e->st->core->next_vmid, 2);
	cr_assert_eq(th_nrecs(e, CORE), s.n[CORE] + 1);
	cr_assert_eq(last(e, CORE)->event, HL_EV_GEN_VMID);
	cr_assert_eq(last(e, CORE)->result, HL_RES_OK);
	s.dig[CORE] = hl_state_obj_digest(e->st, CORE);
	s.n[CORE]++;
	assert_halt(e, &s, HL_EV_REG_KVM, (unsigned[]){ INFO(1) }, 1, NULL, 0);
	cr_assert_eq(e->st->info[1]->state, HL_VM_POWEROFF);
	cr_assert_eq(e->st->info[1]->kvm, 0);
	cr_assert_eq(hl_register_kvm(e, 1, 0x56, key, &vmid), HL_OK);
	cr_assert_eq(vmid, 2);
	replay_ok(e);
	hl_engine_free(e);
}

Test(register_kvm, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vmid = 77;
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_register_kvm(e, 0, 1, 1, &vmid), HL_E_INVAL);   /* KCore holds key 0 only */
	cr_assert_eq(hl_register_kvm(e, 0, 1, HL_MAX_KEYS, &vmid), HL_E_INVAL);
	cr_assert_eq(hl_register_kvm(e, 0, 1, UINT32_MAX, &vmid), HL_E_INVAL);
	cr_assert_eq(hl_register_kvm(e, 5, 1, 0, &vmid), HL_E_CPU);
	cr_assert_eq(vmid, 77);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OREG_VCPU                                                                                    */
/* ============================================================================================ */

Test(register_vcpu, ready_vm_unused_vcpu)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_register_vcpu(e, 0, vm, 7, 0xFFFF800000001000ull), HL_OK);
	cr_assert_eq(e->st->info[vm]->vcpu_state[7], HL_VCPU_READY);
	cr_assert_eq(e->st->info[vm]->vcpu[7], 0xFFFF800000001000ull);
	cr_assert_eq(e->st->info[vm]->vcpu_state[0], HL_VCPU_UNUSED);
	cr_assert_eq(e->st->info[vm]->state, HL_VM_READY);
	assert_recs(e, &s, HL_EV_REG_VCPU, HL_RES_OK, 0, (unsigned[]){ INFO(vm) }, 1);
	cr_assert_eq(last(e, INFO(vm))->arg[1], 7);
	cr_assert_eq(last(e, INFO(vm))->arg[2], 0xFFFF800000001000ull);
	replay_ok(e);
	hl_engine_free(e);
}

Test(register_vcpu, vcpu_already_registered_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	cr_assert_eq(hl_register_vcpu(e, 0, vm, 2, 0x1), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_register_vcpu(e, 0, vm, 2, 0x2), HL_HALT);
	assert_halt(e, &s, HL_EV_REG_VCPU, (unsigned[]){ INFO(vm) }, 1, NULL, 0);
	cr_assert_eq(e->st->info[vm]->vcpu[2], 0x1);
	cr_assert_eq(hl_register_vcpu(e, 1, vm, 3, 0x3), HL_OK);   /* vminfo not stranded */
	replay_ok(e);
	hl_engine_free(e);
}

Test(register_vcpu, unused_vm_halts)
{
	struct hl_engine *e = eng();
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_register_vcpu(e, 0, 4, 0, 0x1), HL_HALT);
	assert_halt(e, &s, HL_EV_REG_VCPU, (unsigned[]){ INFO(4) }, 1, NULL, 0);
	replay_ok(e);
	hl_engine_free(e);
}

Test(register_vcpu, verified_vm_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = verified_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_register_vcpu(e, 0, vm, 0, 0x1), HL_HALT);
	assert_halt(e, &s, HL_EV_REG_VCPU, (unsigned[]){ INFO(vm) }, 1, NULL, 0);
	replay_ok(e);
	hl_engine_free(e);
}

Test(register_vcpu, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_register_vcpu(e, 0, vm, HL_VCPU_PER_VM, 1), HL_E_INVAL);
	cr_assert_eq(hl_register_vcpu(e, 0, 0, 0, 1), HL_E_INVAL);
	cr_assert_eq(hl_register_vcpu(e, 0, COREV, 0, 1), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OVM_ACTIVE / OVM_INACTIVE                                                                    */
/* ============================================================================================ */

static uint32_t verified_vm_with_vcpu(struct hl_engine *e, uint32_t vcpuid)
{
	uint32_t v = new_vm(e, 1);
	int ok = 0;
	cr_assert_eq(hl_register_vcpu(e, 1, v, vcpuid, 0x100 + vcpuid), HL_OK);
	cr_assert_eq(hl_verify_vm_image(e, 1, v, &ok), HL_OK);
	cr_assert_eq(ok, 1);
	return v;
}

Test(vcpu_state, active_then_inactive)
{
	struct hl_engine *e = eng();
	uint32_t vm = verified_vm_with_vcpu(e, 3);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_set_vcpu_active(e, 0, vm, 3), HL_OK);
	cr_assert_eq(e->st->info[vm]->vcpu_state[3], HL_VCPU_ACTIVE);
	cr_assert_eq(e->st->info[vm]->state, HL_VM_VERIFIED);
	assert_recs(e, &s, HL_EV_VM_ACTIVE, HL_RES_OK, 0, (unsigned[]){ INFO(vm) }, 1);
	snap_take(e, &s);
	cr_assert_eq(hl_set_vcpu_inactive(e, 0, vm, 3), HL_OK);   /* §9.1 */
	cr_assert_eq(e->st->info[vm]->vcpu_state[3], HL_VCPU_READY);
	assert_recs(e, &s, HL_EV_VM_INACTIVE, HL_RES_OK, 0, (unsigned[]){ INFO(vm) }, 1);
	/* and again */
	cr_assert_eq(hl_set_vcpu_active(e, 1, vm, 3), HL_OK);
	cr_assert_eq(hl_set_vcpu_inactive(e, 1, vm, 3), HL_OK);
	replay_ok(e);
	hl_engine_free(e);
}

Test(vcpu_state, active_on_unverified_vm_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 1);
	struct snap s;

	cr_assert_eq(hl_register_vcpu(e, 1, vm, 0, 0x1), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_set_vcpu_active(e, 0, vm, 0), HL_HALT);
	assert_halt(e, &s, HL_EV_VM_ACTIVE, (unsigned[]){ INFO(vm) }, 1, NULL, 0);
	cr_assert_eq(e->st->info[vm]->vcpu_state[0], HL_VCPU_READY);
	replay_ok(e);
	hl_engine_free(e);
}

Test(vcpu_state, active_on_unregistered_vcpu_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = verified_vm_with_vcpu(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_set_vcpu_active(e, 0, vm, 1), HL_HALT);
	assert_halt(e, &s, HL_EV_VM_ACTIVE, (unsigned[]){ INFO(vm) }, 1, NULL, 0);
	replay_ok(e);
	hl_engine_free(e);
}

Test(vcpu_state, active_twice_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = verified_vm_with_vcpu(e, 0);
	struct snap s;

	cr_assert_eq(hl_set_vcpu_active(e, 1, vm, 0), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_set_vcpu_active(e, 0, vm, 0), HL_HALT);
	assert_halt(e, &s, HL_EV_VM_ACTIVE, (unsigned[]){ INFO(vm) }, 1, NULL, 0);
	cr_assert_eq(e->st->info[vm]->vcpu_state[0], HL_VCPU_ACTIVE);
	cr_assert_eq(hl_set_vcpu_inactive(e, 1, vm, 0), HL_OK);   /* not stranded */
	replay_ok(e);
	hl_engine_free(e);
}

Test(vcpu_state, inactive_on_ready_vcpu_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = verified_vm_with_vcpu(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_set_vcpu_inactive(e, 0, vm, 0), HL_HALT);
	assert_halt(e, &s, HL_EV_VM_INACTIVE, (unsigned[]){ INFO(vm) }, 1, NULL, 0);
	replay_ok(e);
	hl_engine_free(e);
}

Test(vcpu_state, inactive_on_unused_vcpu_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 1);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_set_vcpu_inactive(e, 0, vm, 5), HL_HALT);
	assert_halt(e, &s, HL_EV_VM_INACTIVE, (unsigned[]){ INFO(vm) }, 1, NULL, 0);
	replay_ok(e);
	hl_engine_free(e);
}

Test(vcpu_state, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vm = verified_vm_with_vcpu(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_set_vcpu_active(e, 0, vm, HL_VCPU_PER_VM), HL_E_INVAL);
	cr_assert_eq(hl_set_vcpu_active(e, 0, 0, 0), HL_E_INVAL);
	cr_assert_eq(hl_set_vcpu_active(e, 0, COREV, 0), HL_E_INVAL);
	cr_assert_eq(hl_set_vcpu_inactive(e, 0, vm, HL_VCPU_PER_VM), HL_E_INVAL);
	cr_assert_eq(hl_set_vcpu_inactive(e, 0, 0, 0), HL_E_INVAL);
	cr_assert_eq(hl_set_vcpu_inactive(e, 0, COREV, 0), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OVM_POWEROFF                                                                                 */
/* ============================================================================================ */

Test(set_vm_poweroff, any_state_to_poweroff)
{
	struct hl_engine *e = eng();
	uint32_t ready = new_vm(e, 0), ver = verified_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, ready), HL_OK);
	cr_assert_eq(e->st->info[ready]->state, HL_VM_POWEROFF);
	assert_recs(e, &s, HL_EV_VM_POWEROFF, HL_RES_OK, 0, (unsigned[]){ INFO(ready) }, 1);
	cr_assert_eq(hl_set_vm_poweroff(e, 1, ver), HL_OK);
	cr_assert_eq(e->st->info[ver]->state, HL_VM_POWEROFF);
	cr_assert_eq(hl_set_vm_poweroff(e, 1, 9), HL_OK);            /* UNUSED */
	cr_assert_eq(e->st->info[9]->state, HL_VM_POWEROFF);
	snap_take(e, &s);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, ready), HL_OK);        /* already off: same state */
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(set_vm_poweroff, rejects_bad_input)
{
	struct hl_engine *e = eng();
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, 0), HL_E_INVAL);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, COREV), HL_E_INVAL);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, INV32), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OBOOT_INFO                                                                                   */
/* ============================================================================================ */

Test(set_boot_info, records_image_and_reserves_remap_window)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint8_t sig[64];
	uint32_t idx = 99;
	struct snap s;

	for (unsigned i = 0; i < 64; i++)
		sig[i] = (uint8_t)(i * 3 + 1);
	snap_take(e, &s);
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0x80000000), 4097, sig, &idx), HL_OK);
	cr_assert_eq(idx, 0);
	{
		struct hl_vminfo *vi = e->st->info[vm];
		cr_assert_eq(vi->next_load_info, 1);
		cr_assert_eq(vi->load[0].load_addr, 0x80000000);
		cr_assert_eq(vi->load[0].size, 4097);
		cr_assert_eq(vi->load[0].remap_addr, REMAP_START);
		cr_assert_eq(vi->load[0].mapped_pages, 0);
		cr_assert_eq(memcmp(vi->load[0].signature, sig, 64), 0);
	}
	cr_assert_eq(e->st->core->next_remap_ptr, REMAP_START + 2 * PG);   /* pgnum = 2 */
	assert_recs(e, &s, HL_EV_BOOT_INFO, HL_RES_OK, 0, (unsigned[]){ INFO(vm), CORE }, 2);
	{
		const struct hl_rec *r = last(e, INFO(vm));
		cr_assert_eq(r->ret, 0);
		cr_assert_eq(r->blob_len, 64);
		cr_assert_eq(memcmp(hl_rec_blob(r), sig, 64), 0);
	}
	/* second image follows in the window */
	cr_assert_eq(hl_set_boot_info(e, 1, vm, hl_ipa(0x80200000), 8192, sig, &idx), HL_OK);
	cr_assert_eq(idx, 1);
	cr_assert_eq(e->st->info[vm]->load[1].remap_addr, REMAP_START + 2 * PG);
	cr_assert_eq(e->st->core->next_remap_ptr, REMAP_START + 4 * PG);
	/* size 0 is bad input (SPEC §17; the seed halts on pgnum == 0): refused, nothing
	 * recorded or reserved */
	snap_take(e, &s);
	cr_assert_eq(hl_set_boot_info(e, 1, vm, hl_ipa(0), 0, sig, &idx), HL_E_INVAL);
	assert_untouched(e, &s);
	cr_assert_eq(e->st->info[vm]->next_load_info, 2);
	cr_assert_not(hl_cpu_halted(e, 1));
	replay_ok(e);
	hl_engine_free(e);
}

Test(set_boot_info, sixth_image_is_a_noop)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint8_t sig[64] = { 0 };
	uint32_t idx = 0;
	struct snap s;

	for (uint32_t i = 0; i < 5; i++) {
		cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(i * PMD), PG, sig, &idx), HL_OK);
		cr_assert_eq(idx, i);
	}
	snap_take(e, &s);
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(5 * PMD), PG, sig, &idx), HL_OK);
	cr_assert_eq(idx, 5);
	assert_untouched(e, &s);
	cr_assert_not(hl_cpu_halted(e, 0));
	replay_ok(e);
	hl_engine_free(e);
}

Test(set_boot_info, not_ready_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = verified_vm(e, 0);
	uint8_t sig[64] = { 0 };
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0), PG, sig, NULL), HL_HALT);
	assert_halt(e, &s, HL_EV_BOOT_INFO, (unsigned[]){ INFO(vm), CORE }, 2, NULL, 0);
	cr_assert_eq(hl_set_boot_info(e, 1, 11, hl_ipa(0), PG, sig, NULL), HL_HALT);   /* UNUSED */
	cr_assert(hl_cpu_halted(e, 1));
	replay_ok(e);
	hl_engine_free(e);
}

Test(set_boot_info, remap_window_full_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0), vm2 = new_vm(e, 0);
	uint8_t sig[64] = { 0 };
	uint32_t idx = 0;
	struct snap s;

	/* 32 MiB - 4 KiB fits: REMAP_START + 0x1FFF000 = 0x3FFF000 < REMAP_END */
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0), REMAP_END - REMAP_START - PG, sig, &idx), HL_OK);
	cr_assert_eq(e->st->core->next_remap_ptr, REMAP_END - PG);
	/* one more page would end exactly at REMAP_END: the seed wants strictly below */
	snap_take(e, &s);
	cr_assert_eq(hl_set_boot_info(e, 0, vm2, hl_ipa(0), 1, sig, &idx), HL_HALT);
	assert_halt(e, &s, HL_EV_BOOT_INFO, (unsigned[]){ INFO(vm2), CORE }, 2, NULL, 0);
	cr_assert_eq(e->st->info[vm2]->next_load_info, 0);
	/* a zero-size image is bad input, not a halt, on the other CPU (SPEC §17) */
	cr_assert_eq(hl_set_boot_info(e, 1, vm2, hl_ipa(0), 0, sig, &idx), HL_E_INVAL);
	cr_assert_not(hl_cpu_halted(e, 1));
	cr_assert_eq(hl_set_boot_info(e, 1, vm2, hl_ipa(0), 1, sig, &idx), HL_HALT);   /* the window is full */
	replay_ok(e);
	hl_engine_free(e);
}

/* SPEC §17: an image that could never fit in the whole remap window is bad input
 * (HL_E_INVAL, nothing changed), not the seed's halt */
Test(set_boot_info, one_image_too_big_rejected)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint8_t sig[64] = { 0 };
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0), REMAP_END - REMAP_START, sig, NULL), HL_E_INVAL);
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0), REMAP_END - REMAP_START - PG + 1, sig, NULL),
		     HL_E_INVAL);
	assert_untouched(e, &s);
	cr_assert_not(hl_cpu_halted(e, 0));
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0), REMAP_END - REMAP_START - PG, sig, NULL), HL_OK);
	replay_ok(e);
	hl_engine_free(e);
}

Test(set_boot_info, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint8_t sig[64] = { 0 };
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0x1000), PG, sig, NULL), HL_E_INVAL);  /* unaligned */
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(1ull << 48), PG, sig, NULL), HL_E_INVAL);
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0), REMAP_END, sig, NULL), HL_E_INVAL);
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0), PG, NULL, NULL), HL_E_INVAL);
	cr_assert_eq(hl_set_boot_info(e, 0, 0, hl_ipa(0), PG, sig, NULL), HL_E_INVAL);
	cr_assert_eq(hl_set_boot_info(e, 0, COREV, hl_ipa(0), PG, sig, NULL), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OREMAP_IMAGE (and OVM_GET, search_load_info)                                                  */
/* Unreachable: COREVISOR pool exhaustion - every target lies in [REMAP_START, REMAP_END),       */
/* 16 level-3 tables, the pool has 64.                                                          */
/* ============================================================================================ */

Test(remap_vm_image, maps_frames_in_order_then_stops)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint8_t sig[64] = { 0 };
	uint64_t a = th_pfn(200), b = th_pfn(300), c = th_pfn(7);
	struct snap s;

	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0x80000000), 2 * PG + 1, sig, NULL), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_remap_vm_image(e, 0, vm, a, 0), HL_OK);
	assert_npt(e, COREV, REMAP_START, a, 3, (a << 12) | HYP);
	cr_assert_eq(e->st->info[vm]->load[0].mapped_pages, 1);
	assert_recs(e, &s, HL_EV_REMAP_IMAGE, HL_RES_OK, 0, (unsigned[]){ INFO(vm), NPT(COREV) }, 2);
	cr_assert_eq(hl_remap_vm_image(e, 1, vm, b, 0), HL_OK);
	cr_assert_eq(hl_remap_vm_image(e, 0, vm, c, 0), HL_OK);
	assert_npt(e, COREV, REMAP_START + PG, b, 3, (b << 12) | HYP);
	assert_npt(e, COREV, REMAP_START + 2 * PG, c, 3, (c << 12) | HYP);
	cr_assert_eq(e->st->info[vm]->load[0].mapped_pages, 3);
	/* mapped == pgnum: no change */
	snap_take(e, &s);
	cr_assert_eq(hl_remap_vm_image(e, 0, vm, th_pfn(8), 0), HL_OK);
	assert_npt(e, COREV, REMAP_START + 3 * PG, 0, 0, 0);
	/* load_idx >= next_load_info: no change */
	cr_assert_eq(hl_remap_vm_image(e, 0, vm, th_pfn(8), 1), HL_OK);
	cr_assert_eq(hl_remap_vm_image(e, 0, vm, th_pfn(8), 4), HL_OK);
	assert_untouched(e, &s);
	cr_assert_not(hl_cpu_halted(e, 0));
	replay_ok(e);
	hl_engine_free(e);
}

Test(remap_vm_image, not_ready_halts_and_strands_vminfo)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0), other = new_vm(e, 0);
	uint8_t sig[64] = { 0 };
	struct snap s;

	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0), PG, sig, NULL), HL_OK);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, vm), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_remap_vm_image(e, 0, vm, th_pfn(1), 0), HL_HALT);
	assert_halt(e, &s, HL_EV_REMAP_IMAGE, (unsigned[]){ INFO(vm), NPT(COREV) }, 2, (unsigned[]){ INFO(vm) }, 1);
	snap_take(e, &s);
	cr_assert_eq(hl_register_vcpu(e, 1, vm, 0, 0x1), HL_E_STRANDED);
	{
		uint64_t remap = 1;
		cr_assert_eq(hl_search_load_info(e, 1, vm, hl_ipa(0), &remap), HL_E_STRANDED);
	}
	assert_untouched(e, &s);
	/* npt(COREVISOR) was released */
	cr_assert_eq(hl_set_boot_info(e, 1, other, hl_ipa(0), PG, sig, NULL), HL_OK);
	cr_assert_eq(hl_remap_vm_image(e, 1, other, th_pfn(2), 0), HL_OK);
	assert_npt(e, COREV, REMAP_START + PG, th_pfn(2), 3, (th_pfn(2) << 12) | HYP);
	replay_ok(e);
	hl_engine_free(e);
}

Test(remap_vm_image, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint8_t sig[64] = { 0 };
	struct snap s;

	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0), PG, sig, NULL), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_remap_vm_image(e, 0, vm, 0x9000, 0), HL_E_INVAL);                      /* MMIO */
	cr_assert_eq(hl_remap_vm_image(e, 0, vm, HL_RAM_BASE_PFN + HL_RAM_PAGES, 0), HL_E_INVAL);
	cr_assert_eq(hl_remap_vm_image(e, 0, vm, th_pfn(1), HL_MAX_LOAD_INFO), HL_E_INVAL);
	cr_assert_eq(hl_remap_vm_image(e, 0, 0, th_pfn(1), 0), HL_E_INVAL);
	cr_assert_eq(hl_remap_vm_image(e, 0, COREV, th_pfn(1), 0), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(search_load_info, last_matching_image_wins)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint8_t sig[64] = { 0 };
	uint64_t remap = 1;
	struct snap s;

	/* image 0: [0x80000000, +0x3000) at REMAP_START; image 1: [0x80000000, +0x1000) after it */
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0x80000000), 0x3000, sig, NULL), HL_OK);
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0x80000000), 0x1000, sig, NULL), HL_OK);
	cr_assert_eq(hl_set_boot_info(e, 0, vm, hl_ipa(0x80200000), 0x10, sig, NULL), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_search_load_info(e, 0, vm, hl_ipa(0x80000800), &remap), HL_OK);
	cr_assert_eq(remap, REMAP_START + 0x3000 + 0x800);       /* both match: the later one */
	cr_assert_eq(hl_search_load_info(e, 1, vm, hl_ipa(0x80002004), &remap), HL_OK);
	cr_assert_eq(remap, REMAP_START + 0x2004);               /* only image 0 */
	cr_assert_eq(hl_search_load_info(e, 0, vm, hl_ipa(0x8020000F), &remap), HL_OK);
	cr_assert_eq(remap, REMAP_START + 0x4000 + 0xF);
	cr_assert_eq(hl_search_load_info(e, 0, vm, hl_ipa(0x80200010), &remap), HL_OK);
	cr_assert_eq(remap, 0);                                   /* one past the end */
	cr_assert_eq(hl_search_load_info(e, 0, vm, hl_ipa(0x7FFFFFFF), &remap), HL_OK);
	cr_assert_eq(remap, 0);
	remap = 5;
	cr_assert_eq(hl_search_load_info(e, 0, 9, hl_ipa(0), &remap), HL_OK);   /* no images */
	cr_assert_eq(remap, 0);
	assert_untouched(e, &s);                                  /* read-only: no records */
	cr_assert_eq(hl_search_load_info(e, 0, 0, hl_ipa(0), &remap), HL_E_INVAL);
	cr_assert_eq(hl_search_load_info(e, 0, COREV, hl_ipa(0), &remap), HL_E_INVAL);
	cr_assert_eq(hl_search_load_info(e, 0, vm, hl_ipa(0), NULL), HL_E_INVAL);
	cr_assert_eq(hl_engine_nheld(e, 0), 0);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OVERIFY (verify_and_load_images)                                                             */
/* ============================================================================================ */

struct img {
	uint32_t vm;
	uint64_t pfn0;      /* first frame, 2 MiB aligned */
	uint64_t size, pgnum, load;
	uint8_t pk[32], sk[64], sig[64];
};

/* write an image into frames pfn0.., sign it (or not), register a VM, boot info, remap in order */
static void image_setup(struct hl_engine *e, struct img *im, uint64_t pfn0, uint64_t size, bool good_sig,
			bool remap)
{
	uint8_t *buf = malloc(size);

	cr_assert_not_null(buf);
	cr_assert_geq(sodium_init(), 0);
	im->pfn0 = pfn0;
	im->size = size;
	im->pgnum = (size + PG - 1) / PG;
	im->load = 0x40000000;
	cr_assert_eq(hl_testkey_keypair(im->pk, im->sk), 0);   /* KCore's key 0 */
	for (uint64_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 13 + (i >> 12));
	for (uint64_t p = 0; p < im->pgnum; p++) {
		uint64_t n = size - p * PG < PG ? size - p * PG : PG;
		memcpy(hl_ram_page(e, pfn0 + p), buf + p * PG, n);
	}
	cr_assert_eq(hl_image_sign(im->sig, buf, size, im->sk), 0);
	if (!good_sig)
		im->sig[5] ^= 0x10;
	cr_assert_eq(hl_register_kvm(e, 1, 0xABC, 0, &im->vm), HL_OK);
	cr_assert_eq(hl_register_vcpu(e, 1, im->vm, 0, 0x1), HL_OK);
	cr_assert_eq(hl_set_boot_info(e, 1, im->vm, hl_ipa(im->load), size, im->sig, NULL), HL_OK);
	for (uint64_t p = 0; remap && p < im->pgnum; p++)
		cr_assert_eq(hl_remap_vm_image(e, 1, im->vm, pfn0 + p, 0), HL_OK);
	free(buf);
}

static void assert_loaded(struct hl_engine *e, const struct img *im)
{
	uint64_t chunks = (im->size + PMD - 1) / PMD;
	uint64_t gfn0 = im->load / PG;

	for (uint64_t c = 0; c < chunks; c++) {
		uint64_t base = im->pfn0 + c * 512;
		for (unsigned j = 0; j < 512; j++)
			assert_page(e, base + j, im->vm, 0, gfn0 + c * 512 + j);
		assert_npt(e, im->vm, im->load + c * PMD, base, 2, (base << 12) | KERNEL_BLOCK);
		assert_npt(e, im->vm, im->load + c * PMD + 511 * PG, base + 511, 2, (base << 12) | KERNEL_BLOCK);
	}
	assert_npt(e, im->vm, im->load + chunks * PMD, 0, 0, 0);
	/* flatmem := the content of each frame (the image; zero past its end) */
	for (uint64_t p = 0; p < chunks * 512; p++)
		cr_assert_eq(fmem(e, im->pfn0 + p), p < im->pgnum ? digest_of(hl_ram_page(e, im->pfn0 + p))
								    : zero_digest());
}

Test(verify_vm_image, good_signature_loads_and_verifies)
{
	struct hl_engine *e = eng();
	struct img im;
	struct snap s;
	int ok = -1;

	/* two 2 MiB chunks: 516 pages */
	image_setup(e, &im, th_pfn(1024), PMD + 3 * PG + 100, true, true);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(im.pfn0 * PG)), HL_OK);     /* the host had it mapped */
	snap_take(e, &s);
	cr_assert_eq(hl_verify_vm_image(e, 0, im.vm, &ok), HL_OK);
	cr_assert_eq(ok, 1);
	cr_assert_eq(e->st->info[im.vm]->state, HL_VM_VERIFIED);
	assert_loaded(e, &im);
	assert_npt(e, 0, im.pfn0 * PG, 0, 3, GUEST);
	/* 1024 OASSIGN_VM on s2page, 2 OMAP_VM on npt(vm), 1 host unmap, then OVERIFY */
	cr_assert_eq(th_nrecs(e, S2P), s.n[S2P] + 1024);
	cr_assert_eq(th_nrecs(e, NPT(im.vm)), s.n[NPT(im.vm)] + 2);
	cr_assert_eq(th_nrecs(e, NPT(0)), s.n[NPT(0)] + 1);
	cr_assert_eq(th_nrecs(e, INFO(im.vm)), s.n[INFO(im.vm)] + 1);
	cr_assert_eq(th_nrecs(e, NPT(COREV)), s.n[NPT(COREV)]);
	cr_assert_eq(last(e, S2P)->event, HL_EV_ASSIGN_VM);
	cr_assert(last(e, S2P)->flags & HL_RF_NESTED);
	cr_assert_eq(last(e, NPT(im.vm))->event, HL_EV_MAP_VM);
	cr_assert_eq(last(e, NPT(im.vm))->arg[3], 2);
	{
		const struct hl_rec *r = last(e, INFO(im.vm));
		cr_assert_eq(r->event, HL_EV_VERIFY);
		cr_assert_eq(r->result, HL_RES_OK);
		cr_assert_eq(r->dorc, 1);
		cr_assert_eq(r->nrec, 1);
	}
	cr_assert_eq(hl_engine_nheld(e, 0), 0);
	/* it runs now */
	cr_assert_eq(hl_set_vcpu_active(e, 1, im.vm, 0), HL_OK);
	replay_ok(e);
	hl_engine_free(e);
}

Test(verify_vm_image, bad_signature_stays_ready)
{
	struct hl_engine *e = eng();
	struct img im;
	struct snap s;
	int ok = -1;

	image_setup(e, &im, th_pfn(512), 3 * PG + 100, false, true);
	snap_take(e, &s);
	cr_assert_eq(hl_verify_vm_image(e, 0, im.vm, &ok), HL_OK);
	cr_assert_eq(ok, 0);
	cr_assert_eq(e->st->info[im.vm]->state, HL_VM_READY);            /* §9.10 */
	cr_assert_not(hl_cpu_halted(e, 0));
	/* the pages were loaded before the check (as C); OVERIFY itself changed nothing */
	assert_loaded(e, &im);
	cr_assert_eq(th_nrecs(e, INFO(im.vm)), s.n[INFO(im.vm)]);
	cr_assert_eq(hl_state_obj_digest(e->st, INFO(im.vm)), s.dig[INFO(im.vm)]);
	cr_assert_eq(hl_set_vcpu_active(e, 1, im.vm, 0), HL_HALT);        /* cannot run */
	replay_ok(e);
	hl_engine_free(e);
}

Test(verify_vm_image, wrong_key_stays_ready)
{
	struct hl_engine *e = eng();
	struct img im;
	int ok = -1;
	uint8_t pk2[32], sk2[64];

	cr_assert_geq(sodium_init(), 0);
	crypto_sign_keypair(pk2, sk2);
	image_setup(e, &im, th_pfn(512), 2 * PG, true, true);
	/* the right image, signed with a key KCore does not hold */
	cr_assert_eq(hl_image_sign(e->st->info[im.vm]->load[0].signature, hl_ram_page(e, th_pfn(512)), 2 * PG,
				   sk2), 0);
	cr_assert_eq(hl_verify_vm_image(e, 0, im.vm, &ok), HL_OK);
	cr_assert_eq(ok, 0);
	cr_assert_eq(e->st->info[im.vm]->state, HL_VM_READY);
	hl_engine_free(e);
}

Test(verify_vm_image, tampered_image_stays_ready)
{
	struct hl_engine *e = eng();
	struct img im;
	int ok = -1;

	image_setup(e, &im, th_pfn(512), 2 * PG, true, true);
	hl_ram_page(e, im.pfn0 + 1)[17] ^= 1;          /* the host changed a byte after signing */
	cr_assert_eq(hl_verify_vm_image(e, 0, im.vm, &ok), HL_OK);
	cr_assert_eq(ok, 0);
	cr_assert_eq(e->st->info[im.vm]->state, HL_VM_READY);
	replay_ok(e);
	hl_engine_free(e);
}

Test(verify_vm_image, unaligned_frame_is_not_loadable)
{
	struct hl_engine *e = eng();
	struct img im;
	struct snap s;
	int ok = -1;

	image_setup(e, &im, th_pfn(513), 2 * PG, true, true);   /* first frame not 2 MiB aligned */
	snap_take(e, &s);
	cr_assert_eq(hl_verify_vm_image(e, 0, im.vm, &ok), HL_OK);
	cr_assert_eq(ok, 0);
	cr_assert_eq(e->st->info[im.vm]->state, HL_VM_READY);
	assert_untouched(e, &s);                                 /* nothing loaded */
	replay_ok(e);
	hl_engine_free(e);
}

Test(verify_vm_image, missing_frame_is_not_loadable)
{
	struct hl_engine *e = eng();
	struct img im;
	struct snap s;
	int ok = -1;

	image_setup(e, &im, th_pfn(512), 2 * PG, true, false);  /* nothing remapped */
	snap_take(e, &s);
	cr_assert_eq(hl_verify_vm_image(e, 0, im.vm, &ok), HL_OK);
	cr_assert_eq(ok, 0);
	assert_untouched(e, &s);
	/* only the first page remapped: the chunk starts right, the image is still incomplete */
	cr_assert_eq(hl_remap_vm_image(e, 1, im.vm, im.pfn0, 0), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_verify_vm_image(e, 0, im.vm, &ok), HL_OK);
	cr_assert_eq(ok, 0);
	cr_assert_eq(e->st->info[im.vm]->state, HL_VM_READY);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/*
 * The signature must cover what the VM gets. The host remaps an aligned first frame, then
 * frames from elsewhere holding the signed bytes, while the frames the VM would be loaded
 * with (pfn0 + 1 ..) hold something else: the image is not loadable, the VM stays READY.
 */
Test(verify_vm_image, out_of_order_frames_are_not_loadable)
{
	struct hl_engine *e = eng();
	struct img im;
	struct snap s;
	int ok = -1;
	uint64_t elsewhere = th_pfn(2000);

	image_setup(e, &im, th_pfn(512), 3 * PG, true, false);
	/* copy the signed pages 1, 2 elsewhere, and put other bytes where the VM would load them */
	for (unsigned p = 1; p < 3; p++) {
		memcpy(hl_ram_page(e, elsewhere + p), hl_ram_page(e, im.pfn0 + p), PG);
		memset(hl_ram_page(e, im.pfn0 + p), 0xEE, PG);
	}
	cr_assert_eq(hl_remap_vm_image(e, 1, im.vm, im.pfn0, 0), HL_OK);
	cr_assert_eq(hl_remap_vm_image(e, 1, im.vm, elsewhere + 1, 0), HL_OK);
	cr_assert_eq(hl_remap_vm_image(e, 1, im.vm, elsewhere + 2, 0), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_verify_vm_image(e, 0, im.vm, &ok), HL_OK);
	cr_assert_eq(ok, 0, "verified bytes the VM would not get");
	cr_assert_eq(e->st->info[im.vm]->state, HL_VM_READY);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(verify_vm_image, not_ready_halts_and_strands_vminfo)
{
	struct hl_engine *e = eng();
	uint32_t vm = verified_vm(e, 0);
	struct snap s;
	int ok = -1;

	snap_take(e, &s);
	cr_assert_eq(hl_verify_vm_image(e, 0, vm, &ok), HL_HALT);
	cr_assert_eq(ok, 0);
	assert_halt(e, &s, HL_EV_VERIFY, (unsigned[]){ INFO(vm) }, 1, (unsigned[]){ INFO(vm) }, 1);
	snap_take(e, &s);
	cr_assert_eq(hl_set_vm_poweroff(e, 1, vm), HL_E_STRANDED);
	assert_untouched(e, &s);
	cr_assert_eq(hl_register_kvm(e, 1, 0x3, 0, NULL), HL_OK);
	replay_ok(e);
	hl_engine_free(e);
}

Test(verify_vm_image, unused_vm_halts)
{
	struct hl_engine *e = eng();
	struct snap s;
	int ok = -1;

	snap_take(e, &s);
	cr_assert_eq(hl_verify_vm_image(e, 0, 6, &ok), HL_HALT);
	assert_halt(e, &s, HL_EV_VERIFY, (unsigned[]){ INFO(6) }, 1, (unsigned[]){ INFO(6) }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

/*
 * A frame of a chunk is a host page with an SMMU mapping (OASSIGN_VM would take its halt
 * branch): verify's prepare sees it before any page moves (SPEC §14, H10): nothing is
 * loaded, the VM stays READY, no halt. (The seed assigned pages 0..99, then halted.)
 */
Test(verify_vm_image, busy_page_loads_nothing)
{
	struct hl_engine *e = eng();
	struct img im;
	struct snap s;
	int ok = -1;
	uint64_t busy;

	image_setup(e, &im, th_pfn(512), 2 * PG, true, true);
	busy = im.pfn0 + 100;
	cr_assert_eq(hl_smmu_alloc_pgd(e, 1, 0, 0, 0), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 1, 0, 0, hl_iova(busy * PG), (busy << 12) | 3), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_verify_vm_image(e, 0, im.vm, &ok), HL_OK);
	cr_assert_eq(ok, 0);
	cr_assert_not(hl_cpu_halted(e, 0));
	cr_assert_eq(e->st->info[im.vm]->state, HL_VM_READY);
	for (unsigned i = 0; i < 512; i++)
		cr_assert_eq(page(e, im.pfn0 + i).owner, HL_HOSTVISOR, "page %u moved", i);
	cr_assert_eq(th_nrecs(e, S2P), s.n[S2P]);
	cr_assert_eq(th_nrecs(e, NPT(im.vm)), s.n[NPT(im.vm)]);
	replay_ok(e);
	hl_engine_free(e);
}

/*
 * A load step halts inside verify's critical section: the page becomes busy after the
 * prepare, before its OASSIGN_VM (the host's SMMU map on another CPU, run here from the
 * scheduling hook at verify's second s2page acquisition, i.e. its first OASSIGN_VM), so
 * OASSIGN_VM takes its halt branch: the CPU halts there, s2page stays locked (the
 * assign's halt) and so does vminfo(vm) (held for the whole load).
 */
static struct { struct hl_engine *e; uint64_t busy; unsigned n; bool on; } busy_race;

static int busy_race_hook(void *ctx, int cpu, unsigned kind, unsigned obj)
{
	(void)ctx;
	if (busy_race.on && cpu == 0 && kind == HL_SP_LOCK && obj == S2P && ++busy_race.n == 2) {
		busy_race.on = false;
		cr_assert_eq(hl_smmu_map_page(busy_race.e, 1, 0, 0, hl_iova(busy_race.busy * PG),
					      (busy_race.busy << 12) | 3), HL_OK);
	}
	return 0;
}

Test(verify_vm_image, load_step_halt_halts_verify)
{
	struct hl_engine *e = eng();
	struct img im;
	struct snap s;
	int ok = -1;
	uint64_t busy;

	image_setup(e, &im, th_pfn(512), 2 * PG, true, true);
	busy = im.pfn0 + 100;
	cr_assert_eq(hl_smmu_alloc_pgd(e, 1, 0, 0, 0), HL_OK);
	snap_take(e, &s);
	busy_race.e = e;
	busy_race.busy = busy;
	busy_race.n = 0;
	busy_race.on = true;
	e->cfg.sched_point = busy_race_hook;
	cr_assert_eq(hl_verify_vm_image(e, 0, im.vm, &ok), HL_HALT);
	e->cfg.sched_point = NULL;
	cr_assert_not(busy_race.on, "the hook did not run");
	cr_assert_eq(ok, 0);
	cr_assert(hl_cpu_halted(e, 0));
	cr_assert_eq(e->st->info[im.vm]->state, HL_VM_READY);
	/* pages 0..99 were assigned, 100 halted */
	assert_page(e, busy - 1, im.vm, 0, im.load / PG + 99);
	assert_page(e, busy, 0, 1, busy + HOST_OFF);
	cr_assert_eq(th_nrecs(e, S2P), s.n[S2P] + 102);   /* + the SMMU map */
	cr_assert_eq(last(e, S2P)->event, HL_EV_ASSIGN_VM);
	cr_assert_eq(last(e, S2P)->result, HL_RES_HALT);
	cr_assert(last(e, S2P)->flags & HL_RF_STRANDED);
	cr_assert_eq(last(e, INFO(im.vm))->event, HL_EV_VERIFY);
	cr_assert_eq(last(e, INFO(im.vm))->result, HL_RES_HALT);
	cr_assert(last(e, INFO(im.vm))->flags & HL_RF_STRANDED);
	cr_assert_eq(last(e, INFO(im.vm))->dorc, 2, "dorc 2: a load step halted");
	cr_assert_eq(last(e, INFO(im.vm))->ndelta, 0);
	cr_assert(hl_lock_is_stranded(&e->locks[S2P]));
	cr_assert(hl_lock_is_stranded(&e->locks[INFO(im.vm)]));
	cr_assert_not(hl_lock_is_stranded(&e->locks[NPT(0)]));
	cr_assert_not(hl_lock_is_stranded(&e->locks[NPT(im.vm)]));
	cr_assert_not(hl_lock_is_stranded(&e->locks[NPT(COREV)]));
	cr_assert_eq(hl_engine_nheld(e, 0), 2);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, 1), HL_E_CPU_HALTED);
	cr_assert_eq(hl_grant_vm_page(e, 1, im.vm, im.pfn0), HL_E_STRANDED);
	cr_assert_eq(hl_register_vcpu(e, 1, im.vm, 1, 0x2), HL_E_STRANDED);
	cr_assert_eq(hl_register_kvm(e, 1, 0x3, 0, NULL), HL_OK);
	replay_ok(e);
	hl_engine_free(e);
}

Test(verify_vm_image, rejects_bad_input)
{
	struct hl_engine *e = eng();
	struct snap s;
	int ok = -1;

	snap_take(e, &s);
	cr_assert_eq(hl_verify_vm_image(e, 0, 0, &ok), HL_E_INVAL);
	cr_assert_eq(hl_verify_vm_image(e, 0, COREV, &ok), HL_E_INVAL);
	cr_assert_eq(hl_verify_vm_image(e, 7, 1, &ok), HL_E_CPU);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OSMMU_ALLOC                                                                                  */
/* ============================================================================================ */

Test(smmu_alloc_pgd, free_bank_to_vm_and_host)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 2, vm, 0), HL_OK);
	cr_assert_eq(e->st->smmu->owner[2], vm);
	for (unsigned b = 0; b < 16; b++)
		if (b != 2)
			cr_assert_eq(e->st->smmu->owner[b], INV32);
	assert_recs(e, &s, HL_EV_SMMU_ALLOC, HL_RES_OK, 0, (unsigned[]){ SMMU, SPT }, 2);
	{
		const struct hl_rec *r = last(e, SMMU);
		cr_assert_eq(r->arg[0], 2);
		cr_assert_eq(r->arg[1], vm);
		cr_assert_eq(r->arg[2], 0);
		cr_assert_eq(r->arg[3], 8, "num = smmu_dev_context_banks of SMMU 0");
	}
	cr_assert_eq(hl_smmu_alloc_pgd(e, 1, 3, 0, 1), HL_OK);       /* host, SMMU 1, last bank */
	cr_assert_eq(e->st->smmu->owner[8 + 3], 0);
	cr_assert_eq(last(e, SMMU)->arg[3], 4);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_alloc_pgd, owned_bank_is_a_noop)
{
	struct hl_engine *e = eng();
	uint32_t a = new_vm(e, 0), b = new_vm(e, 0);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 1, a, 1), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 1, b, 1), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 1, a, 1), HL_OK);
	assert_untouched(e, &s);
	cr_assert_eq(e->st->smmu->owner[9], a);
	replay_ok(e);
	hl_engine_free(e);
}

/* SMMU 1 has 4 context banks: cbndx 4..7 are valid on SMMU 0 but out of range on SMMU 1.
 * SPEC §17 (issue 9.8): bad input, HL_E_INVAL and nothing changed, not the seed's halt */
Test(smmu_alloc_pgd, bank_beyond_smmu1_banks_rejected)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 4, vm, 1), HL_E_INVAL);
	assert_untouched(e, &s);
	cr_assert_not(hl_cpu_halted(e, 0));
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 3, vm, 1), HL_OK);   /* SMMU 1's last bank */
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 4, vm, 0), HL_OK);   /* bank 4 exists on SMMU 0 */
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_alloc_pgd, each_bank_above_num_rejected)
{
	for (uint32_t cb = 4; cb < 8; cb++) {
		struct hl_engine *e = eng();
		struct snap s;
		snap_take(e, &s);
		cr_assert_eq(hl_smmu_alloc_pgd(e, 0, cb, 0, 1), HL_E_INVAL, "cbndx %u on SMMU 1", cb);
		cr_assert_eq(hl_smmu_free_pgd(e, 0, cb, 1), HL_E_INVAL);
		cr_assert_eq(hl_smmu_assign_page(e, 0, cb, 1, th_pfn(5), 5), HL_E_INVAL);
		cr_assert_eq(hl_smmu_map_page(e, 0, cb, 1, hl_iova(0x5000), th_pfn(5) << 12), HL_E_INVAL);
		cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(0x5000), cb, 1), HL_E_INVAL);
		assert_untouched(e, &s);
		cr_assert_not(hl_cpu_halted(e, 0));
		replay_ok(e);
		hl_engine_free(e);
	}
}

Test(smmu_alloc_pgd, verified_vm_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = verified_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_HALT);
	assert_halt(e, &s, HL_EV_SMMU_ALLOC, (unsigned[]){ SMMU, INFO(vm), SPT }, 3,
		    (unsigned[]){ SMMU, INFO(vm) }, 2);
	cr_assert_eq(e->st->smmu->owner[0], INV32);
	cr_assert_eq(hl_set_vm_poweroff(e, 1, vm), HL_E_STRANDED);
	cr_assert_eq(hl_register_kvm(e, 1, 1, 0, NULL), HL_OK);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_alloc_pgd, realloc_starts_with_an_empty_table)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0), vm2 = new_vm(e, 0);
	uint64_t pfn = th_pfn(150);

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 6, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 6, 0, pfn, 0x150), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 0, 6, 0, hl_iova(0x150000), pfn << 12 | 3), HL_OK);
	assert_spt(e, 0, 6, 0x150000, pfn, (pfn << 12) | 3);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, vm), HL_OK);
	cr_assert_eq(hl_smmu_free_pgd(e, 0, 6, 0), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 1, 6, vm2, 0), HL_OK);
	cr_assert_eq(e->st->smmu->owner[6], vm2);
	assert_spt(e, 0, 6, 0x150000, 0, 0);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_alloc_pgd, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 8, vm, 0), HL_E_INVAL);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 2), HL_E_INVAL);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, COREV, 0), HL_E_INVAL);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, INV32, 0), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OSMMU_FREE                                                                                   */
/* ============================================================================================ */

Test(smmu_free_pgd, free_bank_is_a_noop)
{
	struct hl_engine *e = eng();
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_smmu_free_pgd(e, 0, 3, 1), HL_OK);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_free_pgd, poweroff_owner_frees_that_bank)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	/* §9.3: it is smmu_vmid[smmu_id(index, cbndx)] that is freed, not smmu_vmid[vmid] */
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 5, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 2, vm, 1), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, vm, 0, 0), HL_OK);    /* bank smmu_id(0, vm) is the host's */
	cr_assert_eq(hl_set_vm_poweroff(e, 0, vm), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_free_pgd(e, 0, 2, 1), HL_OK);
	cr_assert_eq(e->st->smmu->owner[10], INV32);
	cr_assert_eq(e->st->smmu->owner[5], vm);
	cr_assert_eq(e->st->smmu->owner[vm], 0);
	assert_recs(e, &s, HL_EV_SMMU_FREE, HL_RES_OK, 0, (unsigned[]){ SMMU }, 1);
	cr_assert_eq(last(e, SMMU)->arg[0], 2);
	cr_assert_eq(last(e, SMMU)->arg[1], 1);
	cr_assert_eq(hl_smmu_free_pgd(e, 1, 5, 0), HL_OK);
	cr_assert_eq(e->st->smmu->owner[5], INV32);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_free_pgd, running_owner_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 1, vm, 0), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_free_pgd(e, 0, 1, 0), HL_HALT);
	assert_halt(e, &s, HL_EV_SMMU_FREE, (unsigned[]){ SMMU, INFO(vm) }, 2, (unsigned[]){ SMMU }, 1);
	cr_assert_eq(e->st->smmu->owner[1], vm);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 1, 2, vm, 0), HL_E_STRANDED);
	cr_assert_eq(hl_set_vm_poweroff(e, 1, vm), HL_OK);             /* vminfo released */
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_free_pgd, host_bank_halts)
{
	struct hl_engine *e = eng();
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, 0, 1), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_free_pgd(e, 0, 0, 1), HL_HALT);   /* vminfo(0) is never POWEROFF */
	assert_halt(e, &s, HL_EV_SMMU_FREE, (unsigned[]){ SMMU, INFO(0) }, 2, (unsigned[]){ SMMU }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_free_pgd, rejects_bad_input)
{
	struct hl_engine *e = eng();
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_smmu_free_pgd(e, 0, 8, 0), HL_E_INVAL);
	cr_assert_eq(hl_smmu_free_pgd(e, 0, 0, 2), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OASSIGN_SMMU                                                                                 */
/* Unreachable: the host-unmap halt (halt{smmu, vminfo, s2page, npt(host)}, as OCLEAR_VM).      */
/* ============================================================================================ */

Test(smmu_assign_page, free_or_host_bank_is_a_noop)
{
	struct hl_engine *e = eng();
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 1, 0, 0), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, th_pfn(5), 0x5), HL_OK);    /* free */
	cr_assert_eq(hl_smmu_assign_page(e, 0, 1, 0, th_pfn(5), 0x5), HL_OK);    /* host's */
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_assign_page, host_page_to_bank_owner)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(160);
	struct snap s;
	uint64_t f;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 3, vm, 1), HL_OK);
	cr_assert_eq(hl_map_host(e, 0, hl_pa(pfn * PG)), HL_OK);
	fill(e, pfn, 1);
	f = fmem(e, pfn);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 3, 1, pfn, 0xBEEF), HL_OK);
	assert_page(e, pfn, vm, INV32, 0xBEEF);
	cr_assert_eq(fmem(e, pfn), f, "the seed never stores the new flatmem");
	assert_npt(e, 0, pfn * PG, 0, 3, GUEST);
	assert_recs(e, &s, HL_EV_ASSIGN_SMMU, HL_RES_OK, 0, (unsigned[]){ S2P, NPT(0) }, 2);
	{
		const struct hl_rec *r = last(e, S2P);
		cr_assert_eq(r->arg[0], 3);
		cr_assert_eq(r->arg[1], 1);
		cr_assert_eq(r->arg[2], pfn);
		cr_assert_eq(r->arg[3], 0xBEEF);
	}
	/* not in the host table: only s2page changes */
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_assign_page(e, 1, 3, 1, pfn + 1, 0xBEF0), HL_OK);
	assert_page(e, pfn + 1, vm, INV32, 0xBEF0);
	assert_recs(e, &s, HL_EV_ASSIGN_SMMU, HL_RES_OK, 1, (unsigned[]){ S2P }, 1);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_assign_page, already_owners_is_a_noop)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(161);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 3, vm, 0), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, vm, 0x10, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 3, 0, pfn, 0x999), HL_OK);   /* any gfn: no change */
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_assign_page, verified_owner_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	int ok = 0;
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	cr_assert_eq(hl_verify_vm_image(e, 0, vm, &ok), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, th_pfn(162), 0x1), HL_HALT);
	assert_halt(e, &s, HL_EV_ASSIGN_SMMU, (unsigned[]){ SMMU, INFO(vm), S2P, NPT(0) }, 4,
		    (unsigned[]){ SMMU, INFO(vm) }, 2);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(th_pfn(162) * PG)), HL_OK);   /* s2page, npt(host) free */
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_assign_page, host_page_with_count_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(163);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, 0, 0), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 1, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(pfn * PG), pfn << 12), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 1, 0, pfn, 0x1), HL_HALT);
	assert_halt(e, &s, HL_EV_ASSIGN_SMMU, (unsigned[]){ SMMU, INFO(vm), S2P, NPT(0) }, 4,
		    (unsigned[]){ SMMU, INFO(vm), S2P }, 3);
	cr_assert_eq(hl_map_host(e, 1, hl_pa(pfn * PG)), HL_E_STRANDED);
	cr_assert_eq(hl_map_pfn_vm(e, 1, 2, hl_ipa(0), pfn << 12, 3), HL_OK);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_assign_page, other_vms_page_halts)
{
	struct hl_engine *e = eng();
	uint32_t a = new_vm(e, 0), b = new_vm(e, 0);
	uint64_t pfn = th_pfn(164);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 1, a, 0), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 0, b, 0x10, pfn), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 1, 0, pfn, 0x10), HL_HALT);
	assert_halt(e, &s, HL_EV_ASSIGN_SMMU, (unsigned[]){ SMMU, INFO(a), S2P, NPT(0) }, 4,
		    (unsigned[]){ SMMU, INFO(a), S2P }, 3);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_assign_page, rejects_bad_input)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 8, 0, th_pfn(1), 1), HL_E_INVAL);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 2, th_pfn(1), 1), HL_E_INVAL);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, 0x9000, 1), HL_E_INVAL);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, th_pfn(1), 1ull << 36), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OSMMU_MAP                                                                                    */
/* ============================================================================================ */

Test(smmu_map_page, free_bank_is_a_noop)
{
	struct hl_engine *e = eng();
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_smmu_map_page(e, 0, 2, 0, hl_iova(0x1000), th_pfn(1) << 12), HL_OK);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_map_page, vm_bank_maps_owned_page)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(170), pte = (th_pfn(170) << 12) | 0x4C3;
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 2, vm, 1), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 2, 1, pfn, 0x12345), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_map_page(e, 0, 2, 1, hl_iova(0x12345000), pte), HL_OK);
	assert_spt(e, 1, 2, 0x12345000, pfn, pte);
	assert_spt(e, 1, 2, 0x12346000, 0, 0);
	assert_spt(e, 0, 2, 0x12345000, 0, 0);                 /* another bank */
	assert_page(e, pfn, vm, INV32, 0x12345);                /* VM pages are not counted */
	cr_assert_eq(page(e, pfn).dma, 1, "SPEC §12: every SMMU entry is counted in dma");
	assert_recs(e, &s, HL_EV_SMMU_MAP, HL_RES_OK, 0, (unsigned[]){ S2P, SPT }, 2);
	{
		const struct hl_rec *r = last(e, SPT);
		cr_assert_eq(r->arg[0], 2);
		cr_assert_eq(r->arg[1], 1);
		cr_assert_eq(r->arg[2], 0x12345000);
		cr_assert_eq(r->arg[3], pte);
	}
	replay_ok(e);
	hl_engine_free(e);
}

/* SPEC §12: a host page's count is exactly the number of host-bank entries that map it
 * (one per bank: the iova is the identity); mapping an iova twice is refused (the seed
 * overwrote the entry and counted it again), and so is a count past EL2_SMMU_CFG_SIZE
 * (C caps it silently and maps anyway) */
Test(smmu_map_page, host_bank_counts_each_entry_exactly)
{
	struct hl_engine *e = eng();
	uint64_t pfn = th_pfn(171);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 7, 0, 0), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 6, 0, 0), HL_OK);
	snap_take(e, &s);
	/* host bank: identity DMA, iova = pfn * 4K (gfn = iova/4K + SMMU_HOST_OFFSET) */
	cr_assert_eq(hl_smmu_map_page(e, 0, 7, 0, hl_iova(pfn * PG), (pfn << 12) | 3), HL_OK);
	assert_spt(e, 0, 7, pfn * PG, pfn, (pfn << 12) | 3);
	assert_page(e, pfn, 0, 1, pfn + HOST_OFF);
	cr_assert_eq(page(e, pfn).dma, 1);
	assert_recs(e, &s, HL_EV_SMMU_MAP, HL_RES_OK, 0, (unsigned[]){ S2P, SPT }, 2);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_map_page(e, 1, 7, 0, hl_iova(pfn * PG), (pfn << 12) | 7), HL_E_DENIED);
	assert_untouched(e, &s);
	assert_spt(e, 0, 7, pfn * PG, pfn, (pfn << 12) | 3);
	cr_assert_eq(hl_smmu_map_page(e, 1, 6, 0, hl_iova(pfn * PG), (pfn << 12) | 3), HL_OK);
	assert_page(e, pfn, 0, 2, pfn + HOST_OFF);
	cr_assert_eq(page(e, pfn).dma, 2);
	/* at EL2_SMMU_CFG_SIZE (more host banks than any SMMU has: planted) no more */
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 5, 0, 0), HL_OK);
	e->st->s2p->page[pfn - HL_RAM_BASE_PFN].count = 16;
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_map_page(e, 0, 5, 0, hl_iova(pfn * PG), (pfn << 12) | 3), HL_E_DENIED);
	assert_untouched(e, &s);
	cr_assert_not(hl_cpu_halted(e, 0));
	hl_engine_free(e);
}

Test(smmu_map_page, verified_owner_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(172);
	int ok = 0;
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, pfn, 0x1), HL_OK);
	cr_assert_eq(hl_verify_vm_image(e, 0, vm, &ok), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(0x1000), pfn << 12), HL_HALT);
	assert_halt(e, &s, HL_EV_SMMU_MAP, (unsigned[]){ SMMU, INFO(vm), S2P, SPT }, 4,
		    (unsigned[]){ SMMU, INFO(vm) }, 2);
	{
		uint64_t pa;
		cr_assert_eq(hl_smmu_iova_to_phys(e, 1, hl_iova(0x1000), 0, 0, &pa), HL_OK);   /* spt free */
	}
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_map_page, owner_or_gfn_mismatch_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(173);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, pfn, 0x1), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(0x2000), pfn << 12), HL_HALT);   /* gfn 2 != 1 */
	assert_halt(e, &s, HL_EV_SMMU_MAP, (unsigned[]){ SMMU, INFO(vm), S2P, SPT }, 4,
		    (unsigned[]){ SMMU, INFO(vm), S2P }, 3);
	{
		uint64_t pa;
		cr_assert_eq(hl_smmu_iova_to_phys(e, 1, hl_iova(0x1000), 0, 0, &pa), HL_OK);   /* spt free */
	}
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_map_page, page_of_someone_else_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	snap_take(e, &s);
	/* a host page (owner 0 != vm) */
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(th_pfn(9) * PG), th_pfn(9) << 12), HL_HALT);
	assert_halt(e, &s, HL_EV_SMMU_MAP, (unsigned[]){ SMMU, INFO(vm), S2P, SPT }, 4,
		    (unsigned[]){ SMMU, INFO(vm), S2P }, 3);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_map_page, host_bank_non_identity_or_vm_page_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 1);
	uint64_t pfn = th_pfn(174);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, 0, 0), HL_OK);
	cr_assert_eq(hl_assign_pfn_to_vm(e, 1, vm, 0x5, pfn), HL_OK);
	/* VM page through the host bank */
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(pfn * PG), pfn << 12), HL_HALT);
	assert_halt(e, &s, HL_EV_SMMU_MAP, (unsigned[]){ SMMU, INFO(0), S2P, SPT }, 4,
		    (unsigned[]){ SMMU, INFO(0), S2P }, 3);
	/* MMIO through the host bank on CPU 1: smmu is stranded now */
	cr_assert_eq(hl_smmu_map_page(e, 1, 0, 0, hl_iova(0x9000000), 0x9000000), HL_E_STRANDED);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_map_page, host_bank_wrong_iova_halts)
{
	struct hl_engine *e = eng();
	uint64_t pfn = th_pfn(175);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, 0, 0), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova((pfn + 1) * PG), pfn << 12), HL_HALT);
	assert_halt(e, &s, HL_EV_SMMU_MAP, (unsigned[]){ SMMU, INFO(0), S2P, SPT }, 4,
		    (unsigned[]){ SMMU, INFO(0), S2P }, 3);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_map_page, pool_exhausted_halts_and_strands_all)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	struct hl_pt_meta *m = hl_pt_meta(e->st->spt);
	struct snap s;

	/* each 1 GiB of iova needs its own level-2 table; the shared pool holds 64 */
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	for (uint64_t k = 0; k <= 64; k++)
		cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, th_pfn(3000 + k), k << 18), HL_OK);
	for (uint64_t k = 0; k < 64; k++)
		cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(k << 30), th_pfn(3000 + k) << 12), HL_OK);
	cr_assert_eq(m->pgd_next, m->pmd_start);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(64ull << 30), th_pfn(3064) << 12), HL_HALT);
	assert_halt(e, &s, HL_EV_SMMU_MAP, (unsigned[]){ SMMU, INFO(vm), S2P, SPT }, 4,
		    (unsigned[]){ SMMU, INFO(vm), S2P, SPT }, 4);
	assert_spt(e, 0, 0, 64ull << 30, 0, 0);
	{
		uint64_t pa;
		cr_assert_eq(hl_smmu_iova_to_phys(e, 1, hl_iova(0), 0, 0, &pa), HL_E_STRANDED);
	}
	cr_assert_eq(hl_register_kvm(e, 1, 1, 0, NULL), HL_OK);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_map_page, rejects_bad_input)
{
	struct hl_engine *e = eng();
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, 0, 0), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_map_page(e, 0, 8, 0, hl_iova(0), th_pfn(1) << 12), HL_E_INVAL);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 2, hl_iova(0), th_pfn(1) << 12), HL_E_INVAL);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(th_pfn(1) * PG + 8), th_pfn(1) << 12), HL_E_INVAL);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(1ull << 40), th_pfn(1) << 12), HL_E_INVAL);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(0), 1ull << 40), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OSMMU_CLEAR                                                                                  */
/* Unreachable: pool exhaustion - it only rewrites an entry that exists.                        */
/* ============================================================================================ */

Test(smmu_clear, free_bank_is_a_noop)
{
	struct hl_engine *e = eng();
	struct snap s;

	snap_take(e, &s);
	cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(0x1000), 4, 0), HL_OK);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_clear, host_bank_entry_cleared_count_down)
{
	struct hl_engine *e = eng();
	uint64_t pfn = th_pfn(180);
	struct snap s;
	uint64_t pa = 0;

	/* two host banks map the page: count 2, dma 2 */
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 1, 0, 1), HL_OK);
	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 2, 0, 1), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 0, 1, 1, hl_iova(pfn * PG), (pfn << 12) | 3), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 0, 2, 1, hl_iova(pfn * PG), (pfn << 12) | 3), HL_OK);
	assert_page(e, pfn, 0, 2, pfn + HOST_OFF);
	cr_assert_eq(page(e, pfn).dma, 2);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(pfn * PG + 0x10), 1, 1), HL_OK);
	assert_spt(e, 1, 1, pfn * PG, 0, 0);
	assert_spt(e, 1, 2, pfn * PG, pfn, (pfn << 12) | 3);
	assert_page(e, pfn, 0, 1, pfn + HOST_OFF);
	cr_assert_eq(page(e, pfn).dma, 1);
	assert_recs(e, &s, HL_EV_SMMU_CLEAR, HL_RES_OK, 0, (unsigned[]){ S2P, SPT }, 2);
	{
		const struct hl_rec *r = last(e, SPT);
		cr_assert_eq(r->arg[0], pfn * PG + 0x10);
		cr_assert_eq(r->arg[1], 1);
		cr_assert_eq(r->arg[2], 1);
	}
	cr_assert_eq(hl_smmu_iova_to_phys(e, 1, hl_iova(pfn * PG + 0x10), 1, 1, &pa), HL_OK);
	cr_assert_eq(pa, 0x10);
	/* again: no entry, nothing changes */
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_clear(e, 1, hl_iova(pfn * PG), 1, 1), HL_OK);
	assert_untouched(e, &s);
	assert_page(e, pfn, 0, 1, pfn + HOST_OFF);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_clear, vm_bank_entry_cleared_count_kept)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(181);
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, pfn, 0x40), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(0x40000), pfn << 12), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(0x40000), 0, 0), HL_OK);
	assert_spt(e, 0, 0, 0x40000, 0, 0);
	assert_page(e, pfn, vm, INV32, 0x40);
	cr_assert_eq(page(e, pfn).dma, 0);
	assert_recs(e, &s, HL_EV_SMMU_CLEAR, HL_RES_OK, 0, (unsigned[]){ S2P, SPT }, 2);
	/* an iova never mapped (its tables do not even exist) */
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(0x80000000), 0, 0), HL_OK);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_clear, verified_owner_halts)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(182);
	int ok = 0;
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, pfn, 0x40), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(0x40000), pfn << 12), HL_OK);
	cr_assert_eq(hl_verify_vm_image(e, 0, vm, &ok), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(0x40000), 0, 0), HL_HALT);
	assert_halt(e, &s, HL_EV_SMMU_CLEAR, (unsigned[]){ SMMU, INFO(vm), S2P, SPT }, 4,
		    (unsigned[]){ SMMU, INFO(vm) }, 2);
	assert_spt(e, 0, 0, 0x40000, pfn, pfn << 12);
	{
		uint64_t pa = 0;
		cr_assert_eq(hl_smmu_iova_to_phys(e, 1, hl_iova(0x40008), 0, 0, &pa), HL_OK);
		cr_assert_eq(pa, (pfn << 12) + 8);
	}
	replay_ok(e);
	hl_engine_free(e);
}

/* the seed's check is `state =? VERIFIED`: a VERIFIED VM that powered off may be cleared */
Test(smmu_clear, poweroff_owner_clears)
{
	struct hl_engine *e = eng();
	uint32_t vm = new_vm(e, 0);
	uint64_t pfn = th_pfn(183);
	int ok = 0;
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, vm, 0), HL_OK);
	cr_assert_eq(hl_smmu_assign_page(e, 0, 0, 0, pfn, 0x40), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 0, 0, 0, hl_iova(0x40000), pfn << 12), HL_OK);
	cr_assert_eq(hl_verify_vm_image(e, 0, vm, &ok), HL_OK);
	cr_assert_eq(hl_set_vm_poweroff(e, 0, vm), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(0x40000), 0, 0), HL_OK);
	assert_spt(e, 0, 0, 0x40000, 0, 0);
	cr_assert_eq(page(e, pfn).dma, 0);
	assert_recs(e, &s, HL_EV_SMMU_CLEAR, HL_RES_OK, 0, (unsigned[]){ S2P, SPT }, 2);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_clear, rejects_bad_input)
{
	struct hl_engine *e = eng();
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 0, 0, 0), HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(0), 8, 0), HL_E_INVAL);
	cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(0), 0, 2), HL_E_INVAL);
	cr_assert_eq(hl_smmu_clear(e, 0, hl_iova(1ull << 40), 0, 0), HL_E_INVAL);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

/* ============================================================================================ */
/* OSMMU_GET (iova_to_phys), read-only                                                          */
/* ============================================================================================ */

Test(smmu_iova_to_phys, walks_the_bank)
{
	struct hl_engine *e = eng();
	uint64_t pfn = th_pfn(190), pa = 0;
	struct snap s;

	cr_assert_eq(hl_smmu_alloc_pgd(e, 0, 2, 0, 1), HL_OK);
	cr_assert_eq(hl_smmu_map_page(e, 0, 2, 1, hl_iova(pfn * PG), (pfn << 12) | (1ull << 53) | 0x443),
		     HL_OK);
	snap_take(e, &s);
	cr_assert_eq(hl_smmu_iova_to_phys(e, 0, hl_iova(pfn * PG + 0xABC), 2, 1, &pa), HL_OK);
	cr_assert_eq(pa, (pfn << 12) + 0xABC, "phys_page(pte) + (iova & 0xFFF)");
	cr_assert_eq(hl_smmu_iova_to_phys(e, 1, hl_iova(pfn * PG + PG + 0x5), 2, 1, &pa), HL_OK);
	cr_assert_eq(pa, 0x5);                                  /* unmapped */
	cr_assert_eq(hl_smmu_iova_to_phys(e, 1, hl_iova(pfn * PG), 2, 0, &pa), HL_OK);
	cr_assert_eq(pa, 0);                                    /* other bank, never allocated */
	cr_assert_eq(hl_smmu_iova_to_phys(e, 1, hl_iova((1ull << 40) - 1), 3, 1, &pa), HL_OK);
	cr_assert_eq(pa, 0xFFF);
	/* SMMU 1 has 4 banks: bank 7 is out of range there (SPEC §17) */
	cr_assert_eq(hl_smmu_iova_to_phys(e, 1, hl_iova(0), 7, 1, &pa), HL_E_INVAL);
	assert_untouched(e, &s);
	cr_assert_eq(hl_engine_nheld(e, 0), 0);
	cr_assert_eq(hl_engine_nheld(e, 1), 0);
	cr_assert_eq(hl_smmu_iova_to_phys(e, 0, hl_iova(0), 8, 0, &pa), HL_E_INVAL);
	cr_assert_eq(hl_smmu_iova_to_phys(e, 0, hl_iova(0), 0, 2, &pa), HL_E_INVAL);
	cr_assert_eq(hl_smmu_iova_to_phys(e, 0, hl_iova(1ull << 40), 0, 0, &pa), HL_E_INVAL);
	cr_assert_eq(hl_smmu_iova_to_phys(e, 0, hl_iova(0), 0, 0, NULL), HL_E_INVAL);
	cr_assert_eq(hl_smmu_iova_to_phys(e, 9, hl_iova(0), 0, 0, &pa), HL_E_CPU);
	assert_untouched(e, &s);
	replay_ok(e);
	hl_engine_free(e);
}

Test(smmu_iova_to_phys, refused_on_a_halted_cpu)
{
	struct hl_engine *e = eng();
	uint64_t pa = 0;

	cr_assert_eq(hl_register_vcpu(e, 0, 1, 0, 0), HL_HALT);
	cr_assert_eq(hl_smmu_iova_to_phys(e, 0, hl_iova(0), 0, 0, &pa), HL_E_CPU_HALTED);
	cr_assert_eq(hl_search_load_info(e, 0, 1, hl_ipa(0), &pa), HL_E_CPU_HALTED);
	cr_assert_eq(hl_verify_vm_image(e, 0, 1, NULL), HL_E_CPU_HALTED);
	cr_assert_eq(hl_register_kvm(e, 0, 1, 0, NULL), HL_E_CPU_HALTED);
	cr_assert_eq(hl_set_boot_info(e, 0, 1, hl_ipa(0), 1, (uint8_t[64]){ 0 }, NULL), HL_E_CPU_HALTED);
	cr_assert_eq(hl_smmu_iova_to_phys(e, 1, hl_iova(0), 0, 0, &pa), HL_OK);
	replay_ok(e);
	hl_engine_free(e);
}

/*
 * test_redteam_shards.c - H-redteam2: the hostile host against the shard refinement
 * (s2page and npt(host) in shards), KCore's own memory inside s2page (cfg.kcore ranges) and
 * restore_host's EL2 state after a guest run, through the host's and the guest's real
 * interfaces on the hosted trap layer (hostile_harness.h).
 *
 * The engine here is the layout a hostile host meets at its worst: s2page shards of 600
 * pages (not a multiple of 512, so a 2 MiB block and a 2 MiB border cross shard borders),
 * npt(host) in 4 MiB shards, and 84 KCore pages [KC_PFN0, KC_PFN0 + 84) that cross an
 * s2page shard border (page 3000) and a 2 MiB border (page 3072).
 *
 * Every attack asserts refusal with nothing changed: every object digest and record count
 * (SPEC's objects AND every shard's log: th_snap alone counts only SPEC's objects), every
 * RAM page, the SMMU registers, the halted CPUs; and at the end the oracles on the logs
 * (hl_check_engine: with shards, every s2page entry and host-table entry a step read or
 * wrote must lie in a shard it held, so a step that touched an entry of a shard it did not
 * lock is an H_CalLock violation) and the replay.
 *
 * Holes found (each test fails on the old code):
 *   ioremap_into_a_stranded_shard_changes_nothing  IOREMAP from an MMIO page into a RAM page
 *                                            of a shard a halted CPU left locked: the MMIO
 *                                            page was mapped, then EBUSY (a refused call
 *                                            changed state; unsharded, the first step fails)
 *   pv_grant_into_a_stranded_shard_shares_nothing  a guest's grant over two shards, the
 *                                            second stranded: the first shard's pages were
 *                                            shared with the host, then EBUSY
 *   (fixed in arch/aarch64/kcore.c ioremap and vcpu.c pv_share: a prepare pass locks every
 *   page's shard, hl_page_get, before the first page changes)
 *
 * What was tried (H-redteam2):
 *   kcore_pages_through_every_host_path      fault answers (page, block over KCore), IOREMAP
 *                                            over KCore, SET_BOOT_INFO / REGISTER_VCPU reading
 *                                            KCore, REMAP + VERIFY of KCore frames
 *   kcore_page_host_fault_halts_only_the_cpu host store to KCore: the seed's halt, no entry
 *   kcore_page_smmu_map_halts_only_the_cpu   SMMU_LPAE_MAP of a KCore page (host bank)
 *   level2_answer_over_shard_borders         a 2 MiB answer spanning two shard borders
 *   memory_copies_at_ram_edges               host reads of structs at RAM's first/last page
 *                                            and across a shard border / into KCore
 *   restore_host_after_every_exit_kind       HCR_EL2 (with the platform's TSC/TSW), VMPIDR,
 *                                            VTTBR, TPIDR, EL1 state after each exit kind
 *   restore_host_after_a_stranded_answer     the answer's shard stranded by another CPU's
 *                                            halt: not applied, the guest faults again, the
 *                                            host's EL2 state restored
 *   race_assign_vs_host_fault_across_border  (concurrency) CPU 0 assigns / maps pages at the
 *                                            end of a shard while CPU 1 host-faults the next
 *                                            shard's pages and MMIO pages (residual tables)
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "hl_access.h"
#include "hl_check.h"
#include "hl_osrc.h"
#include "hl_pgtable.h"
#include "hl_testkey.h"
#include "hosted.h"
#include "kc_internal.h"
#include "kcore.h"
#include "platform.h"
#include "sysreg.h"

#include "hostile_harness.h"
}   /* hostile_harness.h leaves poweroff() open (test_redteam.c closes it too) */

#define SHARD_PAGES 600u
#define KC_PFN0     th_pfn(2996)          /* KCore: pfns 2996 .. 3079 */
#define KC_PAGES    84u
#define KC_PA       (KC_PFN0 * PG)
#define X_BLOCK     th_pfn(2048)          /* a free 2 MiB frame: a shard border at 2400 */
#define KC_BLOCK    th_pfn(2560)          /* a 2 MiB frame whose last 76 pages are KCore's */
#define MMIO_PA     0x10000000ull

static void setup_sh(void)
{
	struct hl_engine_cfg ecfg;
	struct hp_cfg cfg;

	cr_assert(sodium_init() >= 0);
	cr_assert_geq(HL_RAM_PAGES, 4096, "the test needs -Dram_mib >= 16");
	hl_engine_cfg_default(&ecfg);
	ecfg.ncpus = 2;
	ecfg.lock_order_check = true;
	ecfg.s2page_shard_pages = SHARD_PAGES;
	ecfg.npt_host_shard_mib = 4;
	ecfg.kcore.n = 1;
	ecfg.kcore.r[0].base = KC_PA;
	ecfg.kcore.r[0].size = KC_PAGES * PG;
	(void)hl_engine_cfg_add_key(&ecfg, hl_testkey_pk);
	E = hl_engine_new(&ecfg);
	cr_assert_not_null(E);
	cr_assert_eq(E->ref.s2p_shard_pages, SHARD_PAGES);
	K = kcore_new(E);
	cr_assert_not_null(K);
	memset(&cfg, 0, sizeof(cfg));
	cfg.ncpus = E->cfg.ncpus;
	cfg.mix = HP_MIX_ALL;
	cfg.seed = 1;
	P = hp_new(E, K, &cfg);
	cr_assert_not_null(P);
	CPU = 0;
	hp_enter_cpu(P, 0);
}

/* ---- "nothing changed", shard logs included ----------------------------------------------- */
struct snap {
	struct th_snap s;
	uint64_t nrec[HL_OBJ_END];
};

static void snap_take(struct snap *sn)
{
	th_snap_take(E, K, &sn->s);
	for (unsigned o = HL_ID_END; o < HL_OBJ_END; o++)
		sn->nrec[o] = hl_refine_has_obj(&E->ref, o) ? th_nrecs(E, o) : 0;
}

/* changes outside objs / pfns (SPEC's objects, RAM, SMMU, halts) + records in any shard log */
static unsigned snap_diff(struct snap *sn, const unsigned *objs, unsigned nobjs, const uint64_t *pfns,
			  unsigned npfns)
{
	unsigned nd = th_snap_diff_except(E, K, &sn->s, objs, nobjs, pfns, npfns);

	for (unsigned o = HL_ID_END; o < HL_OBJ_END; o++)
		if (hl_refine_has_obj(&E->ref, o) && th_nrecs(E, o) != sn->nrec[o]) {
			fprintf(stderr, "snap: shard %u got %lld records\n", o,
				(long long)(th_nrecs(E, o) - sn->nrec[o]));
			nd++;
		}
	th_snap_free(&sn->s);
	return nd;
}

#define SH_REFUSED(want, x0, x1, x2, x3, x4, x5)                                                   \
	do {                                                                                       \
		struct snap _s;                                                                    \
		snap_take(&_s);                                                                    \
		int64_t _r = hvc((x0), (x1), (x2), (x3), (x4), (x5));                              \
		cr_assert_eq(_r, (int64_t)(want), "line %d: hvc %llu returned %lld, want %lld",     \
			     __LINE__, (unsigned long long)(x0), (long long)_r, (long long)(want));   \
		cr_assert_eq(snap_diff(&_s, NULL, 0, NULL, 0), 0, "line %d: hvc %llu changed state", \
			     __LINE__, (unsigned long long)(x0));                                  \
	} while (0)

/* a refused fault answer: only the VM's vminfo (OVM_ACTIVE/INACTIVE) and the host's vcpu
 * struct change; no shard gets a record */
static void sh_answer_refused(uint32_t vmid, unsigned v, uint64_t addr, uint64_t pte, uint64_t level)
{
	struct snap s;
	const unsigned objs[] = { INFO(vmid) };
	const uint64_t pfns[] = { VCPU_PFN };
	unsigned n = G_N;

	answer(v, addr, pte, level);
	snap_take(&s);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, v, 0, 0, 0), EXIT_TRAP);
	cr_assert_eq(G_N, n + 1, "the guest did not run");
	cr_assert_eq(snap_diff(&s, objs, 1, pfns, 1), 0, "a refused fault answer changed state");
}

static void oracle_holds(void)
{
	char why[512];

	cr_assert_eq(th_oracle_holds(E, why, sizeof(why)), 0, "%s", why);
}

static bool kc_page(uint64_t pfn) { return pfn >= KC_PFN0 && pfn < KC_PFN0 + KC_PAGES; }

static void kcore_untouched(void)
{
	for (uint64_t pfn = KC_PFN0; pfn < KC_PFN0 + KC_PAGES; pfn++) {
		struct hl_s2page p = s2p(pfn);
		cr_assert_eq(p.owner, HL_COREVISOR, "KCore page %#llx changed owner", (unsigned long long)pfn);
		cr_assert_eq(p.count, 0);
		cr_assert_eq(p.dma, 0);
		cr_assert_eq(walk(HL_HOSTVISOR, pfn * PG).pte & 1, 0, "the host maps KCore page %#llx",
			     (unsigned long long)pfn);
	}
}

/* no VM table maps a KCore page */
static void no_vm_maps_kcore(uint32_t vmid)
{
	struct hl_pt_entry ent;
	for (uint64_t g = 0; g < 0x100000000ull; g += PG) {
		hl_npt_walk(E->st->npt[vmid], g, &ent);
		if (ent.level == 0) {
			g = (g | (PMD - 1));   /* nothing below this 2 MiB (approximate, fast) */
			continue;
		}
		cr_assert(!kc_page(ent.pfn), "VM %u maps KCore page %#llx at %#llx", vmid,
			  (unsigned long long)ent.pfn, (unsigned long long)g);
	}
}

TestSuite(redteam_shards, .init = setup_sh, .fini = teardown, .timeout = 120);

Test(redteam_shards, layout_is_what_the_attacks_need)
{
	cr_assert_neq(hl_refine_s2p_obj(&E->ref, KC_PFN0), hl_refine_s2p_obj(&E->ref, KC_PFN0 + KC_PAGES - 1),
		      "KCore's range crosses an s2page shard border");
	cr_assert_neq(hl_refine_s2p_obj(&E->ref, X_BLOCK), hl_refine_s2p_obj(&E->ref, X_BLOCK + 511));
	cr_assert_neq(hl_npth_obj(&E->ref, HL_RAM_BASE), HL_NPT_OBJ(HL_HOSTVISOR), "npt(host) is sharded");
	kcore_untouched();
}

/* ============================================================================================ */
/* KCore's memory through every host path                                                        */
/* ============================================================================================ */
Test(redteam_shards, kcore_pages_through_every_host_path)
{
	uint32_t vmid = boot_vm();
	struct hl_s2page pg;

	/* fault answers: a KCore page, a block whose tail is KCore's, a block at KCore's 2 MiB */
	run_faulting(vmid, 0, G_PAGE);
	sh_answer_refused(vmid, 0, G_PAGE, KC_PA | KERNEL, 3);
	sh_answer_refused(vmid, 0, G_PAGE, (KC_PFN0 + KC_PAGES - 1) * PG | KERNEL, 3);
	sh_answer_refused(vmid, 0, G_BLOCK, KC_BLOCK * PG | KERNEL, 2);
	sh_answer_refused(vmid, 0, G_BLOCK, th_pfn(3072) * PG | KERNEL, 2);

	/* the host's own structs read from KCore's memory: -EINVAL, nothing changed */
	uint32_t v2 = register_vm();
	SH_REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, v2, LOAD_ADDR, IMG_BYTES, KC_PA + 64, 0);
	SH_REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, v2, LOAD_ADDR, IMG_BYTES, KC_PA - 32, 0);   /* crosses in */
	uint32_t v3 = (uint32_t)hvc(HVC_REGISTER_KVM, 0, 0xFFFF0000ABCD0000ull, 0, 0, 0);
	SH_REFUSED(KC_EINVAL, HVC_REGISTER_VCPU, v3, 0, KC_PA, 0, 0);
	SH_REFUSED(KC_EINVAL, HVC_REGISTER_VCPU, v3, 0, KC_PA - 64, 0, 0);

	/* IOREMAP over KCore (and over MMIO next to nothing): RAM pages are left alone, so
	 * nothing of KCore's is mapped; a range running past RAM's end is malformed */
	cr_assert_eq(hvc(HVC_PHYS_ADDR_IOREMAP, v2, 0x9000000ull, KC_PA - 4 * PG, (KC_PAGES + 8) * PG, 0), 0);
	SH_REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, v2, 0xA000000ull, RAM_END - PG, 2 * PG, 0);
	no_vm_maps_kcore(v2);

	/* image load: a chunk whose frame is KCore's (2 MiB aligned at 3072), or whose
	 * frames run into KCore: VERIFY does not verify, no page moves */
	uint8_t sig[64];
	memset(sig, 0x11, sizeof(sig));
	hwrite(META_PFN * PG + 64, sig, 64);
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, v2, LOAD_ADDR, IMG_BYTES, META_PFN * PG + 64, 0), 0);
	cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, v2, th_pfn(3072), 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, v2, th_pfn(3073), 0, 0, 0), 0);
	{
		struct snap s;
		const unsigned objs[] = { INFO(v2), NPT(HL_COREVISOR) };
		snap_take(&s);
		cr_assert_eq(hvc(HVC_VERIFY_VM_IMAGE, v2, 0, 0, 0, 0), 0);
		cr_assert_eq(snap_diff(&s, objs, 2, NULL, 0), 0, "VERIFY of KCore frames changed state");
	}
	cr_assert_eq(E->st->info[v2]->state, HL_VM_READY);

	/* the engine's own probe: KCore's pages are COREVISOR's, nothing else reads them */
	cr_assert_eq(hl_page_get(E, 0, KC_PFN0, &pg), HL_OK);
	cr_assert_eq(pg.owner, HL_COREVISOR);
	{
		uint8_t buf[16];
		cr_assert_eq(hl_host_mem_read(E, 0, hl_pa(KC_PA), buf, 8), HL_E_INVAL);
		cr_assert_eq(hl_host_mem_read(E, 0, hl_pa(KC_PA - 8), buf, 16), HL_E_INVAL);
		cr_assert_eq(hl_host_mem_write(E, 0, hl_pa(KC_PA + KC_PAGES * PG - 8), buf, 16), HL_E_INVAL);
		cr_assert_eq(hl_vm_mem_access(E, 0, vmid, hl_pa(KC_PA), buf, 8, false), HL_E_INVAL);
	}
	kcore_untouched();
	no_vm_maps_kcore(vmid);
	oracle_holds();
}

/* a host access to KCore's memory: the seed's halt (map_host of a page the host does not
 * own); the CPU stops, KCore's page stays unmapped, the other CPU goes on */
Test(redteam_shards, kcore_page_host_fault_halts_only_the_cpu)
{
	on_cpu(1);
	cr_assert(!hp_host_store(P, 1, KC_PA + (KC_PAGES - 1) * PG, 8, 0xBAD));
	cr_assert(hl_cpu_halted(E, 1));
	kcore_untouched();
	on_cpu(0);
	/* the neighbours in the other shard and below still map */
	hstore(KC_PA - PG, 1);
	hstore(KC_PA + KC_PAGES * PG, 2);
	cr_assert_eq(walk(HL_HOSTVISOR, KC_PA - PG).pte & ~0xFFFull & HL_DESC_ADDR_MASK, KC_PA - PG);
	oracle_holds();
}

Test(redteam_shards, kcore_page_smmu_map_halts_only_the_cpu)
{
	on_cpu(1);
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 0, HL_HOSTVISOR, 0, 0, 0), 0);
	(void)hvc(HVC_SMMU_LPAE_MAP, KC_PA, KC_PA, 3, 0, 0);   /* a host bank: iova = pa */
	cr_assert(hl_cpu_halted(E, 1), "SMMU map of KCore's page did not stop the CPU");
	kcore_untouched();
	cr_assert_eq(swalk(0, 0, KC_PA).pte, 0);
	on_cpu(0);
	/* the host's pages of another shard still map for the host */
	hstore(th_pfn(100) * PG, 5);
	cr_assert_eq(walk(HL_HOSTVISOR, th_pfn(100) * PG).pte & HL_DESC_ADDR_MASK, th_pfn(100) * PG);
	oracle_holds();
}

/* ============================================================================================ */
/* shard borders                                                                                   */
/* ============================================================================================ */
Test(redteam_shards, level2_answer_over_shard_borders)
{
	uint32_t vmid = boot_vm();

	run_faulting(vmid, 0, G_BLOCK);
	/* not aligned / running past RAM: malformed */
	sh_answer_refused(vmid, 0, G_BLOCK, (X_BLOCK + 1) * PG | KERNEL, 2);
	sh_answer_refused(vmid, 0, G_BLOCK, RAM_END | KERNEL, 2);
	/* one page of the block the host's SMMU bank maps: the whole answer is refused */
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 0, HL_HOSTVISOR, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, (X_BLOCK + 300) * PG, (X_BLOCK + 300) * PG, 3, 0, 0), 0);
	sh_answer_refused(vmid, 0, G_BLOCK, X_BLOCK * PG | KERNEL, 2);
	cr_assert_eq(hvc(HVC_SMMU_CLEAR, (X_BLOCK + 300) * PG, 0, 0, 0, 0), 0);
	/* now every page can move: applied, in three shards */
	answer_applied(vmid, 0, G_BLOCK, X_BLOCK * PG | KERNEL, 2);
	for (unsigned i = 0; i < 512; i++) {
		cr_assert_eq(s2p(X_BLOCK + i).owner, vmid);
		cr_assert_eq(walk(HL_HOSTVISOR, (X_BLOCK + i) * PG).pte & 1, 0);
	}
	cr_assert_eq(walk(vmid, G_BLOCK).level, 2);
	oracle_holds();
}

Test(redteam_shards, memory_copies_at_ram_edges)
{
	uint8_t buf[64];
	uint32_t v3;

	/* RAM's first and last page (the first / last shard), a struct across a shard border */
	hstore(HL_RAM_BASE, 7);
	hstore(RAM_END - 8, 9);
	cr_assert_eq(hl_host_mem_read(E, 0, hl_pa(HL_RAM_BASE), buf, 8), HL_OK);
	cr_assert_eq(hl_host_mem_read(E, 0, hl_pa(RAM_END - 8), buf, 8), HL_OK);
	cr_assert_eq(hl_host_mem_read(E, 0, hl_pa(RAM_END - 8), buf, 16), HL_E_INVAL);
	cr_assert_eq(hl_host_mem_read(E, 0, hl_pa(HL_RAM_BASE - 8), buf, 16), HL_E_INVAL);
	cr_assert_eq(hl_host_mem_read(E, 0, hl_pa(~0ull - 8), buf, 16), HL_E_INVAL);
	cr_assert_eq(hl_host_mem_read(E, 0, hl_pa(th_pfn(SHARD_PAGES) * PG - 32), buf, 64), HL_OK);
	/* REGISTER_VCPU with the vcpu struct at RAM's last bytes (runs past RAM) */
	v3 = (uint32_t)hvc(HVC_REGISTER_KVM, 0, 0xFFFF0000ABCD0000ull, 0, 0, 0);
	SH_REFUSED(KC_EINVAL, HVC_REGISTER_VCPU, v3, 0, RAM_END - 64, 0, 0);
	SH_REFUSED(KC_EINVAL, HVC_REGISTER_VCPU, v3, 0, HL_RAM_BASE - 64, 0, 0);
	oracle_holds();
}

/* ============================================================================================ */
/* restore_host: the host's EL2 traps and identity after every exit kind                           */
/* ============================================================================================ */
#define HOST_HCR   (HCR_HOST_NVHE_FLAGS | HCR_TSC | HCR_TSW)
#define HOST_MPIDR 0x80000000ull
#define HOST_EL1(i) (0x4057000000000000ull | ((uint64_t)(i) << 8))

enum gx { GX_IRQ, GX_WFX, GX_BRK, GX_SYS64, GX_MMIO_RD, GX_MMIO_WR, GX_MMIO_NOISV, GX_S2, GX_IABT,
	  GX_UNKNOWN, GX_HVC_OTHER, GX_PV, GX_POWEROFF, GX__N };
static const char *const gx_name[GX__N] = { "irq", "wfx", "brk", "sys64", "mmio-read", "mmio-write",
					     "mmio-no-isv", "stage2", "iabt", "unknown-ec", "hvc-other",
					     "pv-grant", "poweroff" };
static enum gx GX;
static unsigned GX_CALLS;

/* the guest scribbles over every EL1 register it owns, then exits by GX (a resuming exit
 * is followed by an IRQ exit) */
static unsigned g_every_exit(void *arg, uint64_t *x)
{
	uint64_t pc = arch_read_sysreg(SR_ELR_EL2);
	(void)arg;
	G_N++;
	for (unsigned i = 0; i < SR_EL1_COUNT; i++)
		arch_write_sysreg((enum arch_sysreg)(SR_EL1_FIRST + i), 0x6E57000000000000ull | i);
	if (GX_CALLS++ > 0)
		return ARCH_EXIT_IRQ;
	switch (GX) {
	case GX_IRQ: return ARCH_EXIT_IRQ;
	case GX_WFX: return gtrap(pc, esr_make(EC_WFX, 0), 0);
	case GX_BRK: return gtrap(pc, esr_make(EC_BRK64, 0), 0);
	case GX_SYS64: return gtrap(pc, esr_make(EC_SYS64, 0), 0);
	case GX_MMIO_RD: return gtrap(pc, dabt_esr(5, false), 0x9000000ull);
	case GX_MMIO_WR: return gtrap(pc, dabt_esr(5, true), 0x9000000ull);
	case GX_MMIO_NOISV: return gtrap(pc, esr_make(EC_DABT_LOW, FSC_TRANS_L0 + 3), 0x9000000ull);
	case GX_S2: return gtrap(pc, dabt_esr(2, false), G_PAGE);
	case GX_IABT: return gtrap(pc, esr_make(EC_IABT_LOW, FSC_TRANS_L0 + 3), G_PAGE + PG);
	case GX_UNKNOWN: return gtrap(pc, esr_make(EC_UNKNOWN, 0), 0);
	case GX_HVC_OTHER: x[0] = 0xC4000003ull; return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);
	case GX_PV:
		x[0] = KVM_SET_DESC_PFN;
		x[1] = GUEST_RAM;
		x[2] = PG;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);
	case GX_POWEROFF: x[0] = SYSTEM_OFF; return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);
	default: return ARCH_EXIT_IRQ;
	}
}

static void host_state_set(void)
{
	K->host_hcr = HOST_HCR;   /* the platform's host flags (the EL2 Linux image adds TSC) */
	arch_write_sysreg(SR_HCR_EL2, HOST_HCR);
	arch_write_sysreg(SR_VMPIDR_EL2, HOST_MPIDR);
	arch_write_sysreg(SR_VTTBR_EL2, hl_pt_root_pa_of(E, HL_HOSTVISOR));
	arch_write_sysreg(SR_TPIDR_EL2, 0);
	arch_write_sysreg(SR_CPTR_EL2, 0x33FFull);
	arch_write_sysreg(SR_MDCR_EL2, 0x4E6ull);
	for (unsigned i = 0; i < SR_EL1_COUNT; i++)
		arch_write_sysreg((enum arch_sysreg)(SR_EL1_FIRST + i), HOST_EL1(i));
}

static void host_state_check(const char *what)
{
	cr_assert_eq(arch_read_sysreg(SR_HCR_EL2), HOST_HCR, "%s: HCR_EL2 %#llx after the run", what,
		     (unsigned long long)arch_read_sysreg(SR_HCR_EL2));
	cr_assert_eq(arch_read_sysreg(SR_VMPIDR_EL2), HOST_MPIDR, "%s: the host reads the vCPU's MPIDR", what);
	cr_assert_eq(arch_read_sysreg(SR_VTTBR_EL2), hl_pt_root_pa_of(E, HL_HOSTVISOR), "%s: VTTBR", what);
	cr_assert_eq(arch_read_sysreg(SR_TPIDR_EL2), 0, "%s: TPIDR_EL2", what);
	cr_assert_eq(arch_read_sysreg(SR_CPTR_EL2), 0x33FFull, "%s: CPTR_EL2", what);
	cr_assert_eq(arch_read_sysreg(SR_MDCR_EL2), 0x4E6ull, "%s: MDCR_EL2", what);
	for (unsigned i = 0; i < SR_EL1_COUNT; i++)
		cr_assert_eq(arch_read_sysreg((enum arch_sysreg)(SR_EL1_FIRST + i)), HOST_EL1(i),
			     "%s: the host's %s is the guest's", what,
			     arch_sysreg_name((enum arch_sysreg)(SR_EL1_FIRST + i)));
	cr_assert_eq(K->cpu[CPU].cur_vmid, HL_HOSTVISOR, "%s", what);
	cr_assert(!K->cpu[CPU].in_vm, "%s", what);
}

Test(redteam_shards, restore_host_after_every_exit_kind)
{
	uint32_t vmid = boot_vm();

	hosted_set_guest_runner(g_every_exit, NULL);
	for (GX = 0; GX < GX__N; GX++) {
		for (unsigned v = 0; v < 2; v++) {
			if (GX == GX_POWEROFF && v == 1)
				continue;
			on_cpu(v);   /* vCPU v on CPU v */
			host_state_set();
			GX_CALLS = 0;
			int64_t r = hvc(HVC_VCPU_RUN, vmid, v, 0, 0, 0);
			cr_assert(r == EXIT_TRAP || r == ARCH_EXIT_IRQ, "%s: VCPU_RUN %lld", gx_name[GX], (long long)r);
			cr_assert(!hl_cpu_halted(E, (int)v), "%s", gx_name[GX]);
			host_state_check(gx_name[GX]);
		}
	}
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_POWEROFF);
	/* a refused VCPU_RUN (bad vCPU index) leaves the host's state as it is too */
	on_cpu(0);
	host_state_set();
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, HL_VCPU_PER_VM, 0, 0, 0), KC_EINVAL);
	host_state_check("refused vcpu_run");
	oracle_holds();
}

/* the fault answer's shard is stranded (another CPU halted holding it): the answer is not
 * applied (nothing changes, the guest faults again); the host gets its own EL2 state back */
Test(redteam_shards, restore_host_after_a_stranded_answer)
{
	uint32_t vmid = boot_vm();
	uint64_t victim = KC_PFN0 - 2;   /* a host page in KCore's first shard */

	cr_assert_eq(hl_refine_s2p_obj(&E->ref, victim), hl_refine_s2p_obj(&E->ref, KC_PFN0));
	run_faulting(vmid, 0, G_PAGE);
	on_cpu(1);
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 0, HL_HOSTVISOR, 0, 0, 0), 0);
	(void)hvc(HVC_SMMU_LPAE_MAP, KC_PA, KC_PA, 3, 0, 0);
	cr_assert(hl_cpu_halted(E, 1));
	on_cpu(0);
	answer(0, G_PAGE, victim * PG | KERNEL, 3);
	host_state_set();
	unsigned n = G_N;
	/* the answer cannot be applied (its shard is stranded): like a malformed answer it
	 * changes nothing, and the guest faults again */
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
	cr_assert_eq(G_N, n + 1, "the guest did not run");
	cr_assert(!hl_cpu_halted(E, 0));
	host_state_check("stranded fault answer");
	cr_assert_eq(s2p(victim).owner, HL_HOSTVISOR);
	cr_assert_eq(E->st->info[vmid]->vcpu_state[0], HL_VCPU_READY);
}

/* ============================================================================================ */
/* two CPUs at a shard border                                                                     */
/* ============================================================================================ */
#define RACE_ROUNDS 200u
static uint32_t RACE_VM;
static volatile int RACE_ERR;

/* CPU 1: host faults on the first pages of the next shard (RAM: its npt(host) shard's L3
 * entry) and on MMIO pages (the residual's tables, allocated now) */
static void *race_cpu1(void *arg)
{
	uint64_t border = *(uint64_t *)arg;
	hp_enter_cpu(P, 1);
	for (unsigned i = 0; i < RACE_ROUNDS; i++) {
		int rc = hl_map_host(E, 1, hl_pa((border + i % 64) * PG));
		int rc2 = hl_map_host(E, 1, hl_pa(MMIO_PA + (uint64_t)(i % 32) * PMD + (i / 32) * PG));
		if (rc != HL_OK || rc2 != HL_OK)
			RACE_ERR = rc ? rc : rc2;
	}
	return NULL;
}

/* CPU 0 assigns (and maps into the VM) the 64 pages below `border`; CPU 1 host-faults the
 * 64 pages from `border` up and MMIO pages (the residual's tables) at the same time */
static void race_at(uint64_t border, uint64_t gfn0)
{
	pthread_t t;

	RACE_ERR = 0;
	for (unsigned i = 0; i < 64; i++)
		cr_assert_eq(hl_map_host(E, 0, hl_pa((border - 1 - i) * PG)), HL_OK);
	cr_assert_eq(pthread_create(&t, NULL, race_cpu1, &border), 0);
	for (unsigned i = 0; i < 64; i++) {
		uint64_t pfn = border - 1 - i;
		cr_assert_eq(hl_assign_pfn_to_vm(E, 0, RACE_VM, gfn0 + i, pfn), HL_OK);
		cr_assert_eq(hl_map_pfn_vm(E, 0, RACE_VM, hl_ipa((gfn0 + i) * PG), pfn * PG, 3), HL_OK);
	}
	pthread_join(t, NULL);
	cr_assert_eq(RACE_ERR, 0, "a host fault failed: %d", RACE_ERR);
	for (unsigned i = 0; i < 64; i++) {
		cr_assert_eq(s2p(border - 1 - i).owner, RACE_VM);
		cr_assert_eq(walk(HL_HOSTVISOR, (border - 1 - i) * PG).pte & 1, 0, "the host still maps a VM page");
		cr_assert_eq(walk(HL_HOSTVISOR, (border + i) * PG).pte & HL_DESC_ADDR_MASK, (border + i) * PG);
	}
}

Test(redteam_shards, race_assign_vs_host_fault_across_border, .timeout = 120)
{
	/* an s2page shard border inside one 2 MiB region (one L3 table, one npt(host) shard) */
	uint64_t b1 = th_pfn(SHARD_PAGES * 4);   /* 2400: inside X_BLOCK's 2 MiB */
	/* a 2 MiB border that is an npt(host) shard border (4 MiB) inside one s2page shard */
	uint64_t b2 = th_pfn(4096);

	RACE_VM = boot_vm();
	cr_assert_neq(hl_refine_s2p_obj(&E->ref, b1 - 1), hl_refine_s2p_obj(&E->ref, b1));
	cr_assert_eq(hl_npth_obj(&E->ref, (b1 - 1) * PG), hl_npth_obj(&E->ref, b1 * PG));
	cr_assert_eq(hl_refine_s2p_obj(&E->ref, b2 - 1), hl_refine_s2p_obj(&E->ref, b2));
	cr_assert_neq(hl_npth_obj(&E->ref, (b2 - 1) * PG), hl_npth_obj(&E->ref, b2 * PG));
	race_at(b1, (GUEST_RAM >> 12) + 0x1000);
	race_at(b2, (GUEST_RAM >> 12) + 0x2000);
	oracle_holds();
}

/* ============================================================================================ */
/* a shard stranded by an earlier halt: multi-page calls stay all-or-nothing                        */
/* ============================================================================================ */

/* CPU 1 halts holding the s2page shard of `pfn` (the host touches a VM's page: the seed's
 * halt in map_host); the shard stays locked forever */
static void strand_shard_of(uint64_t pfn)
{
	on_cpu(1);
	cr_assert(!hp_host_store(P, 1, pfn * PG, 8, 0xBAD));
	cr_assert(hl_cpu_halted(E, 1));
	on_cpu(0);
}

/*
 * IOREMAP of a range that starts at an MMIO page (shard 0) and reaches a RAM page of a
 * stranded shard: each OMAP_IO locks its page's shard, so before the fix the MMIO page was
 * mapped into the VM and the call then failed with EBUSY on the stranded shard (a refused
 * call that changed state; without shards the first step already fails). Now the prepare
 * pass locks every page's shard first: EBUSY, nothing mapped.
 */
Test(redteam_shards, ioremap_into_a_stranded_shard_changes_nothing)
{
	uint32_t vm = boot_vm();   /* its image chunk 1024..1535 lies in shards 1 and 2 */
	uint32_t v2 = register_vm();

	strand_shard_of(BLOCK_PFN);   /* shard 1: pages 600..1199 */
	SH_REFUSED(KC_EBUSY, HVC_PHYS_ADDR_IOREMAP, v2, 0x9000000ull, HL_RAM_BASE - PG, (SHARD_PAGES + 2) * PG, 0);
	cr_assert_eq(walk(v2, 0x9000000ull).level, 0, "the MMIO page was mapped by a refused call");
	/* a range that stays out of the stranded shard still maps */
	cr_assert_eq(hvc(HVC_PHYS_ADDR_IOREMAP, v2, 0x9000000ull, HL_RAM_BASE - PG, 2 * PG, 0), 0);
	cr_assert_eq(walk(v2, 0x9000000ull).level, 3);
	(void)vm;
}

/*
 * A guest's PV grant over its image block, whose second half lies in a stranded shard:
 * before the fix the pages of the first shard were shared with the host (count + 1) and
 * the call then failed with EBUSY. Now every page's shard is locked by a prepare pass
 * first: the guest gets EBUSY and nothing is shared.
 */
static unsigned g_grant_block(void *arg, uint64_t *x)
{
	(void)arg;
	G_N++;
	if (G_N > 1 && x[0] != KVM_SET_DESC_PFN)
		return ARCH_EXIT_IRQ;   /* back to the host after the PV call */
	x[0] = KVM_SET_DESC_PFN;
	x[1] = LOAD_ADDR;
	x[2] = PMD;
	return gtrap(arch_read_sysreg(SR_ELR_EL2) + 4, esr_make(EC_HVC64, 0), 0);
}

Test(redteam_shards, pv_grant_into_a_stranded_shard_shares_nothing)
{
	uint32_t vm = boot_vm();
	uint64_t in_shard2 = th_pfn(SHARD_PAGES * 2 + 100);   /* 1300: the image chunk's second shard */

	cr_assert_eq(s2p(in_shard2).owner, vm);
	strand_shard_of(in_shard2);
	G_N = 0;
	hosted_set_guest_runner(g_grant_block, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vm, 0, 0, 0, 0), ARCH_EXIT_IRQ);
	cr_assert_eq(K->shadow[vm][0].regs[0], (uint64_t)KC_EBUSY, "the guest's grant: %lld",
		     (long long)K->shadow[vm][0].regs[0]);
	for (uint64_t pfn = BLOCK_PFN; pfn < BLOCK_PFN + 512; pfn++)
		cr_assert_eq(s2p(pfn).count, 0, "page %#llx shared by a failed grant", (unsigned long long)pfn);
}

/* CLEAR_VM_S2_RANGE over a powered-off VM's image block whose second half lies in a
 * stranded shard: refused (EBUSY) before any page goes back (its prepare pass reads every
 * page under its shard); regression test */
Test(redteam_shards, clear_range_into_a_stranded_shard_changes_nothing)
{
	uint32_t vm = boot_vm();

	poweroff(vm);
	strand_shard_of(th_pfn(SHARD_PAGES * 2 + 100));
	SH_REFUSED(KC_EBUSY, HVC_CLEAR_VM_S2_RANGE, vm, LOAD_ADDR, PMD, 0, 0);
	for (uint64_t pfn = BLOCK_PFN; pfn < BLOCK_PFN + 512; pfn++)
		cr_assert_eq(s2p(pfn).owner, vm);
}

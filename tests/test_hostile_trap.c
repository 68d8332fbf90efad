/*
 * test_hostile_trap.c - the hostile host against KCore's trap layer (issue 9, holes 4, 5, 6
 * and 8c; SPEC §9.15, §9.16), driven only through the host's real interfaces: stores and
 * loads that stage-2 fault into the SMMU register windows, hypercalls, fault answers in the
 * host's vcpu struct, and guest HVCs. Every refusal is checked to change nothing: the whole
 * emulated SMMU register file, every engine object's digest and every log's record count.
 *
 *   4  smmu_*        SMMUv2 register fields that would let DMA bypass KCore's stage 2 or
 *                    use a bank the host does not own (mmio.c's rule table)
 *   5  ioremap_*     PHYS_ADDR_IOREMAP / OMAP_IO of ranges KCore emulates or owns
 *   6  tlb_*         the per-CPU TLB model: a host CPU keeps a stale translation until
 *                    the invalidation inside the unmapping step reaches it; races of
 *                    hand-over vs host access, revoke vs host read, assign vs DMA map and
 *                    one page to two VMs, many rounds on several CPU threads
 *   8c hvc_pc_*      a guest HVC resumes at the instruction after it, once
 *
 * Races that end with the spec's halt (a host access to a VM page halts the CPU, SPEC §8)
 * strand locks, so each round has its own engine.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "hl_access.h"
#include "hl_pgtable.h"
#include "hl_testkey.h"
#include "hosted.h"
#include "kc_internal.h"
#include "kcore.h"
#include "platform.h"
#include "sysreg.h"

#define PG              4096ull
#define KERNEL          0x7FFull          /* C PAGE_S2_KERNEL */
#define LOAD_ADDR       0x80000000ull
#define BOOT_PC         (LOAD_ADDR + 0x100)
#define IMG_BYTES       8192u
#define GUEST_RAM       0x40000000ull
#define G_PAGE          (GUEST_RAM + 7 * PG)
#define SET_DESC        0x81000ull
#define UNSET_DESC      0x82000ull
#define EXIT_TRAP       2u
#define EXIT_IRQ        0u
#define DENIED          kc_errno(HL_E_DENIED)   /* refused by an isolation rule (SPEC §12-§17) */
#define SECRET          0x5EC12E75EC12E7ull
#define HOSTVAL         0x4057DA7A4057DAull
#define SHARED          0x5A4A12EDull

#define META_PFN(k)     th_pfn(16 + 4 * (k))
#define VCPU_PFN(k)     th_pfn(17 + 4 * (k))
#define BLOCK_PFN(k)    th_pfn(1024 + 512 * (k))
#define TARGET_PFN      th_pfn(3000)     /* the page every race fights over */

/* ---- one engine + KCore + hosted platform ----------------------------------------------- */
struct rig {
	struct hl_engine *e;
	struct kcore *k;
	struct hp_platform *p;
};
static struct rig R;

static void rig_up(unsigned ncpus)
{
	struct hp_cfg cfg;

	cr_assert(sodium_init() >= 0);
	R.e = th_engine(ncpus);
	cr_assert_not_null(R.e);
	R.k = kcore_new(R.e);
	cr_assert_not_null(R.k);
	memset(&cfg, 0, sizeof(cfg));
	cfg.ncpus = ncpus;
	cfg.mix = HP_MIX_ALL;
	cfg.seed = 1;
	R.p = hp_new(R.e, R.k, &cfg);
	cr_assert_not_null(R.p);
	hp_enter_cpu(R.p, 0);
}

static void rig_down(void)
{
	hp_free(R.p);
	kcore_free(R.k);
	hl_engine_free(R.e);
	memset(&R, 0, sizeof(R));
}

static void setup2(void) { rig_up(2); }
static void teardown(void) { if (R.e) rig_down(); }

static int64_t hvc_on(unsigned cpu, uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4, uint64_t x5)
{
	return hp_hvc(R.p, cpu, x0, x1, x2, x3, x4, x5);
}
#define hvc(...) hvc_on(0, __VA_ARGS__)

static void hstore_on(unsigned cpu, uint64_t pa, uint64_t v)
{
	cr_assert(hp_host_store(R.p, cpu, pa, 8, v), "host store at %#llx failed", (unsigned long long)pa);
}

/* ---- nothing changed: engine objects, logs and the emulated SMMU registers ---------------- */
struct snap {
	uint64_t dig[HL_ID_END], n[HL_ID_END];
	struct kc_smmu_dev smmu[HL_SMMU_NUM];
};
static struct snap SN;

static void snap_take(struct snap *s)
{
	for (unsigned o = 0; o < HL_ID_END; o++) {
		s->dig[o] = hl_state_obj_digest(R.e->st, o);
		s->n[o] = th_nrecs(R.e, o);
	}
	memcpy(s->smmu, R.k->smmu_dev, sizeof(s->smmu));
}

static void assert_untouched(const struct snap *s, const char *what)
{
	for (unsigned o = 0; o < HL_ID_END; o++) {
		cr_assert_eq(hl_state_obj_digest(R.e->st, o), s->dig[o], "%s: object %u changed", what, o);
		cr_assert_eq(th_nrecs(R.e, o), s->n[o], "%s: object %u got a record", what, o);
	}
	cr_assert(memcmp(s->smmu, R.k->smmu_dev, sizeof(s->smmu)) == 0, "%s: an emulated SMMU register changed",
		  what);
}

/* ---- the boot protocol through hypercalls (KCore's key 0 is the test key) ------------------ */
static uint32_t boot_vm(unsigned cpu, unsigned k)
{
	static uint8_t img[IMG_BYTES];
	uint8_t sig[64];
	int64_t vmid = hvc_on(cpu, HVC_REGISTER_KVM, 0, 0xFFFF0000ABCD0000ull + k, 0, 0, 0);

	cr_assert(vmid >= 1 && vmid <= HL_MAX_VM, "REGISTER_KVM returned %lld", (long long)vmid);
	for (unsigned v = 0; v < 2; v++) {
		hstore_on(cpu, VCPU_PFN(k) * PG + v * 512 + offsetof(struct host_vcpu, boot_pc), BOOT_PC);
		cr_assert_eq(hvc_on(cpu, HVC_REGISTER_VCPU, (uint64_t)vmid, v, VCPU_PFN(k) * PG + v * 512, 0, 0), 0);
	}
	for (unsigned i = 0; i < IMG_BYTES; i++)
		img[i] = (uint8_t)(i * 13 + (unsigned)vmid * 7);
	for (unsigned i = 0; i < IMG_BYTES; i += 8) {
		uint64_t v;
		memcpy(&v, img + i, 8);
		hstore_on(cpu, BLOCK_PFN(k) * PG + i, v);
	}
	cr_assert_eq(hl_testkey_sign_image(sig, img, IMG_BYTES), 0);
	for (unsigned i = 0; i < 64; i += 8) {
		uint64_t v;
		memcpy(&v, sig + i, 8);
		hstore_on(cpu, META_PFN(k) * PG + 64 + i, v);
	}
	cr_assert_eq(hvc_on(cpu, HVC_SET_BOOT_INFO, (uint64_t)vmid, LOAD_ADDR, IMG_BYTES, META_PFN(k) * PG + 64, 0), 0);
	for (unsigned i = 0; i < IMG_BYTES / PG; i++)
		cr_assert_eq(hvc_on(cpu, HVC_REMAP_VM_IMAGE, (uint64_t)vmid, BLOCK_PFN(k) + i, 0, 0, 0), 0);
	cr_assert_eq(hvc_on(cpu, HVC_VERIFY_VM_IMAGE, (uint64_t)vmid, 0, 0, 0, 0), 1);
	return (uint32_t)vmid;
}

/* the host answers vCPU 0's pending stage-2 fault at G_PAGE with `pfn` */
static void answer_fault(unsigned cpu, unsigned k, uint64_t pfn)
{
	uint64_t hv = VCPU_PFN(k) * PG;
	hstore_on(cpu, hv + offsetof(struct host_vcpu, fault_addr), G_PAGE);
	hstore_on(cpu, hv + offsetof(struct host_vcpu, fault_pte), pfn * PG | KERNEL);
	hstore_on(cpu, hv + offsetof(struct host_vcpu, fault_level), 3);
}

static unsigned gtrap(uint64_t elr, uint64_t esr, uint64_t ipa)
{
	arch_write_sysreg(SR_ELR_EL2, elr);
	arch_write_sysreg(SR_ESR_EL2, esr);
	arch_write_sysreg(SR_FAR_EL2, ipa);
	arch_write_sysreg(SR_HPFAR_EL2, ipa_to_hpfar(ipa));
	return ARCH_EXIT_TRAP;
}

static unsigned g_irq(uint64_t pc)
{
	arch_write_sysreg(SR_ELR_EL2, pc);
	return ARCH_EXIT_IRQ;
}

static uint64_t dabt_store_esr(void)
{
	return esr_make(EC_DABT_LOW, ESR_ISV | (3u << ESR_SAS_SHIFT) | (3u << ESR_SRT_SHIFT) | ESR_WNR |
					     (FSC_TRANS_L0 + 3));
}

static uint32_t cur_vmid(void) { return (uint32_t)(arch_read_sysreg(SR_VTTBR_EL2) >> VTTBR_VMID_SHIFT); }

/* the guest's own access to its page G_PAGE (through its stage 2), at byte `off` */
#define OFF_READ  64u    /* where the racing host CPUs load */
#define OFF_STORE 128u   /* where they store (another word: the host CPUs race only KCore) */
static int guest_access_at(uint64_t *v, bool write, unsigned off)
{
	struct hl_pt_entry ent;
	uint32_t vmid = cur_vmid();
	int rc = hl_translate(R.e, (int)arch_cpu_id(), vmid, hl_ipa(G_PAGE), &ent);

	if (rc != HL_OK || ent.level == 0)
		return rc ? rc : HL_E_INVAL;
	return hl_vm_mem_access(R.e, (int)arch_cpu_id(), vmid, hl_pa(ent.pfn * PG + off), v, 8, write);
}

static int guest_access(uint64_t *v, bool write)
{
	return guest_access_at(v, write, 0);
}

/* ============================================================================================ */
/* 4. SMMU registers (mmio.c's rule table), through host stores into the windows               */
/* ============================================================================================ */
TestSuite(hostile_trap, .init = setup2, .fini = teardown, .timeout = 300);

#define CB(n)  (KC_SMMU_GLOBAL_BASE + (n) * KC_SMMU_CB_SIZE)
#define S2CR(n) (SMMU_GR0_S2CR_BASE + 4 * (n))
#define CBAR(n) (SMMU_GR1_BASE + 4 * (n))
#define CBA2R(n) (SMMU_GR1_CBA2R + 4 * (n))
#define SCR0_OK (SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG)
#define TYPE(t) ((uint32_t)(t) << SMMU_S2CR_TYPE_SHIFT)

/* a host store into SMMU `index` at `off`; `accepted` or refused with nothing changed */
static void mstore(unsigned index, uint32_t off, unsigned size, uint64_t val, bool accepted, const char *what)
{
	uint64_t rej = R.k->cpu[0].mmio_rejected;
	uint64_t mmio = R.k->cpu[0].traps[KC_T_HOST_MMIO];

	snap_take(&SN);
	cr_assert(hp_host_store(R.p, 0, KC_SMMU_BASE + index * KC_SMMU_SIZE + off, size, val), "%s: store failed", what);
	cr_assert_eq(hl_engine_nheld(R.e, 0), 0);
	cr_assert_eq(R.k->cpu[0].traps[KC_T_HOST_MMIO], mmio + 1, "%s: not an emulated access", what);
	if (accepted) {
		cr_assert_eq(R.k->cpu[0].mmio_rejected, rej, "%s: refused", what);
		return;
	}
	cr_assert_eq(R.k->cpu[0].mmio_rejected, rej + 1, "%s: accepted", what);
	assert_untouched(&SN, what);
}

static uint32_t reg32(unsigned index, uint32_t off)
{
	uint64_t v = 0;
	cr_assert(hp_host_load(R.p, 0, KC_SMMU_BASE + index * KC_SMMU_SIZE + off, 4, &v));
	return (uint32_t)v;
}

static uint32_t vm_with_bank(unsigned cb, unsigned index)
{
	uint32_t vmid = (uint32_t)hvc(HVC_REGISTER_KVM, 0, 0x1234, 0, 0, 0);
	cr_assert(vmid >= 1 && vmid <= HL_MAX_VM);
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, cb, vmid, index, 0, 0), 0);
	return vmid;
}

Test(hostile_trap, smmu_scr0_bypass_and_globals_refused)
{
	/* the reset state already excludes bypass */
	cr_assert_eq(reg32(0, SMMU_GR0_sCR0), SCR0_OK);
	mstore(0, SMMU_GR0_sCR0, 4, SCR0_OK | SMMU_sCR0_CLIENTPD, false, "sCR0.CLIENTPD = 1 (global bypass)");
	mstore(1, SMMU_GR0_sCR0, 4, SCR0_OK | SMMU_sCR0_CLIENTPD, false, "SMMU 1 sCR0.CLIENTPD");
	mstore(0, SMMU_GR0_sCR0, 4, SMMU_sCR0_SMCFCFG, false, "sCR0.USFCFG = 0 (unmatched streams bypass)");
	mstore(0, SMMU_GR0_sCR0, 4, SCR0_OK | SMMU_sCR0_EXIDENABLE, false, "sCR0.EXIDENABLE");
	mstore(0, SMMU_GR0_sCR0, 4, SCR0_OK | SMMU_sCR0_VMID16EN, false, "sCR0.VMID16EN");
	mstore(0, SMMU_GR0_sCR0, 4, SMMU_sCR0_USFCFG, false, "sCR0.SMCFCFG = 0");
	mstore(0, SMMU_GR0_sCR0, 8, SCR0_OK, false, "8-byte sCR0 + sCR1 (Secure-only)");
	mstore(0, 0x4, 4, 0, false, "sCR1");
	mstore(0, SMMU_GR0_sCR2, 4, 0x3, false, "sCR2.BPVMID = 3");
	mstore(0, 0x20, 4, 0xFFFF, false, "sIDR0 (read-only)");
	mstore(0, 0x74, 4, 0, false, "sTLBGSTATUS (read-only)");
	mstore(0, 0x400, 4, SMMU_sCR0_CLIENTPD, false, "a Secure alias (NSCR0)");
	mstore(0, 0x2000, 4, 1, false, "global page 2 (not modelled)");
	mstore(0, 0x7FFC, 4, 1, false, "global page 7");
	cr_assert_eq(reg32(0, SMMU_GR0_sCR0), SCR0_OK);
	/* what the host may do: fault reporting, the sync/invalidate registers, SMRs */
	mstore(0, SMMU_GR0_sCR0, 4, SCR0_OK | 0x36, true, "sCR0 fault reporting");
	cr_assert_eq(reg32(0, SMMU_GR0_sCR0), SCR0_OK | 0x36);
	mstore(0, 0x60, 4, 0, true, "STLBIALL");
	mstore(0, 0x70, 4, 0, true, "sTLBGSYNC");
	mstore(0, SMMU_GR0_SMR_BASE + 4 * 3, 4, (1u << 31) | 0x42, true, "SMR3");
}

Test(hostile_trap, smmu_s2cr_routes_only_into_host_banks)
{
	uint32_t vmid = vm_with_bank(2, 0);                     /* SMMU 0 bank 2: a VM's */
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 1, HL_HOSTVISOR, 0, 0, 0), 0);   /* bank 1: the host's */
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 0, HL_HOSTVISOR, 1, 0, 0), 0);   /* SMMU 1 bank 0: the host's */
	(void)vmid;

	/* the reset state: every stream faults */
	cr_assert_eq(reg32(0, S2CR(0)), TYPE(SMMU_S2CR_TYPE_FAULT));
	cr_assert_eq(reg32(1, S2CR(127)), TYPE(SMMU_S2CR_TYPE_FAULT));
	mstore(0, S2CR(0), 4, TYPE(SMMU_S2CR_TYPE_BYPASS), false, "S2CR bypass");
	mstore(0, S2CR(5), 4, TYPE(SMMU_S2CR_TYPE_BYPASS) | 1, false, "S2CR bypass naming a host bank");
	mstore(0, S2CR(0), 4, TYPE(3) | 1, false, "S2CR type 3 (reserved)");
	mstore(0, S2CR(0), 4, TYPE(SMMU_S2CR_TYPE_TRANS) | 2, false, "S2CR into a VM's bank");
	mstore(0, S2CR(0), 4, TYPE(SMMU_S2CR_TYPE_TRANS) | 3, false, "S2CR into a free bank");
	mstore(0, S2CR(0), 4, TYPE(SMMU_S2CR_TYPE_TRANS) | 200, false, "S2CR into a bank that does not exist");
	mstore(1, S2CR(0), 4, TYPE(SMMU_S2CR_TYPE_TRANS) | 5, false, "SMMU 1 S2CR past its 4 banks");
	mstore(0, S2CR(0), 4, TYPE(SMMU_S2CR_TYPE_TRANS) | SMMU_S2CR_EXIDVALID | 1, false, "S2CR.EXIDVALID");
	/* one allowed, one refused word in an 8-byte store: refused whole */
	mstore(0, S2CR(0), 8, ((uint64_t)TYPE(SMMU_S2CR_TYPE_BYPASS) << 32) | 1, false, "8-byte S2CR0 ok + S2CR1 bypass");
	/* allowed: into the host's own bank, or fault */
	mstore(0, S2CR(0), 4, TYPE(SMMU_S2CR_TYPE_TRANS) | 1, true, "S2CR into the host's bank");
	cr_assert_eq(reg32(0, S2CR(0)), 1);
	mstore(1, S2CR(9), 4, TYPE(SMMU_S2CR_TYPE_TRANS) | 0, true, "SMMU 1 S2CR into the host's bank 0");
	mstore(0, S2CR(4), 4, TYPE(SMMU_S2CR_TYPE_FAULT) | 2, true, "S2CR fault (index ignored)");
}

Test(hostile_trap, smmu_cbar_cba2r_host_and_vm_banks)
{
	uint32_t vmid = vm_with_bank(2, 0);
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 1, HL_HOSTVISOR, 0, 0, 0), 0);

	/* a host bank: stage 2 only, the host's VMID 0 */
	mstore(0, CBAR(1), 4, 1u << 16, false, "host CBAR type S1 + S2 bypass");
	mstore(0, CBAR(1), 4, 2u << 16, false, "host CBAR type S1 + S2 fault");
	mstore(0, CBAR(1), 4, 3u << 16, false, "host CBAR type nested");
	mstore(0, CBAR(1), 4, vmid, false, "host CBAR with the VM's VMID");
	mstore(0, CBAR(1), 4, 9, false, "host CBAR with another VMID");
	mstore(0, CBAR(1), 4, 0x3u << 24, true, "host CBAR S2, VMID 0, IRPTNDX 3");
	/* a VM's bank: stage 2 with its owner's VMID only */
	mstore(0, CBAR(2), 4, 0, false, "VM CBAR with VMID 0");
	mstore(0, CBAR(2), 4, (1u << 16) | vmid, false, "VM CBAR type S1");
	mstore(0, CBAR(2), 4, vmid, true, "VM CBAR S2 with its VMID");
	/* free banks and banks past SMMU 1's count */
	mstore(0, CBAR(3), 4, 0, false, "free bank CBAR");
	mstore(1, CBAR(5), 4, 0, false, "SMMU 1 bank 5 CBAR");
	/* CBA2R: AArch64 descriptors, VMID16 as CBAR.VMID */
	mstore(0, CBA2R(1), 4, 0, false, "host CBA2R.VA64 = 0");
	mstore(0, CBA2R(1), 4, ((uint32_t)vmid << 16) | 1, false, "host CBA2R.VMID16 = the VM's");
	mstore(0, CBA2R(3), 4, 1, false, "free bank CBA2R");
	mstore(0, CBA2R(1), 4, 1, true, "host CBA2R VA64");
	mstore(0, CBA2R(2), 4, ((uint32_t)vmid << 16) | 1, true, "VM CBA2R with its VMID16");
}

Test(hostile_trap, smmu_context_bank_translation_fields)
{
	const uint64_t root1 = hl_spt_root_pa(R.e->st->spt, HL_SMMU_ID_OF(0, 1));

	/* the reset state: translation on, KCore's geometry and root */
	cr_assert_eq(reg32(0, CB(1) + SMMU_CB_SCTLR) & SMMU_SCTLR_M, SMMU_SCTLR_M);
	cr_assert_eq(reg32(0, CB(1) + SMMU_CB_TCR), KC_SMMU_S2_TCR);
	cr_assert_eq(reg32(0, CB(1) + SMMU_CB_TTBR0), (uint32_t)root1);
	mstore(0, CB(1) + SMMU_CB_SCTLR, 4, 0, false, "SCTLR.M = 0 (bank translation off)");
	mstore(0, CB(1) + SMMU_CB_SCTLR, 4, SMMU_SCTLR_M | SMMU_SCTLR_E, false, "SCTLR.E (big-endian walks)");
	mstore(0, CB(1) + SMMU_CB_TCR, 4, KC_SMMU_S2_TCR & ~(3u << 6), false, "TCR.SL0 = 0 (start level 2)");
	mstore(0, CB(1) + SMMU_CB_TCR, 4, (KC_SMMU_S2_TCR & ~0x3Fu) | 25, false, "TCR.T0SZ = 25");
	mstore(0, CB(1) + SMMU_CB_TCR, 4, KC_SMMU_S2_TCR | (1u << 14), false, "TCR.TG0 = 64 KiB");
	mstore(0, CB(1) + SMMU_CB_TCR, 4, (KC_SMMU_S2_TCR & ~(7u << 16)) | (5u << 16), false, "TCR.PS = 48 bits");
	mstore(0, CB(1) + SMMU_CB_CONTEXTIDR, 4, 7, false, "CONTEXTIDR");
	mstore(0, CB(1) + 0x7F4, 4, 0, false, "TLBSTATUS (read-only)");
	mstore(0, CB(1) + 0x8F0, 4, 0, false, "ATSR (read-only)");
	mstore(0, CB(1) + 0x900, 4, 0, false, "reserved bank offset");
	mstore(1, CB(4) + SMMU_CB_SCTLR, 4, SMMU_SCTLR_M, false, "SMMU 1 bank 4 (it has 4)");
	mstore(0, CB(1) + SMMU_CB_SCTLR, 8, ((uint64_t)1 << 32) | 0, false, "8-byte SCTLR.M = 0 + ACTLR");
	/* allowed: fault reporting, cacheability, TLB maintenance; TTBR0 stays KCore's */
	mstore(0, CB(1) + SMMU_CB_SCTLR, 4, SMMU_SCTLR_M | 0x66, true, "SCTLR fault reporting");
	mstore(0, CB(1) + SMMU_CB_TCR, 4, KC_SMMU_S2_TCR & ~0xF00u, true, "TCR cacheability");
	mstore(0, CB(1) + 0x630, 8, 0x1234, true, "TLBIIPAS2");
	mstore(0, CB(1) + SMMU_CB_TTBR0, 8, 0x4000000000ull, true, "TTBR0");
	cr_assert_eq(reg32(0, CB(1) + SMMU_CB_TTBR0), (uint32_t)root1);
}

/* ============================================================================================ */
/* 5. IOREMAP of what KCore emulates or owns                                                  */
/* ============================================================================================ */
Test(hostile_trap, ioremap_of_smmu_windows_refused)
{
	uint32_t vmid = (uint32_t)hvc(HVC_REGISTER_KVM, 0, 0x1234, 0, 0, 0);
	static const struct { uint64_t pa, size; } bad[] = {
		{ KC_SMMU_BASE, PG },                                  /* SMMU 0's global page */
		{ KC_SMMU_BASE + KC_SMMU_GLOBAL_BASE, PG },            /* its context bank 0 */
		{ KC_SMMU_BASE + KC_SMMU_SIZE, KC_SMMU_SIZE },         /* all of SMMU 1 */
		{ KC_SMMU_BASE - PG, 2 * PG },                         /* a device page + the window */
		{ KC_SMMU_BASE + HL_SMMU_NUM * KC_SMMU_SIZE - PG, 2 * PG },   /* last window page + next */
		{ 0x01000000, 0x02000000 },                            /* a range spanning both */
	};

	cr_assert(vmid >= 1 && vmid <= HL_MAX_VM);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snap_take(&SN);
		cr_assert_eq(hvc(HVC_PHYS_ADDR_IOREMAP, vmid, 0x0C000000, bad[i].pa, bad[i].size, 0), DENIED,
			     "IOREMAP %u of an SMMU window", i);
		assert_untouched(&SN, "IOREMAP of an SMMU window");
	}
	/* the engine refuses OMAP_IO of a window itself, before any lock or record */
	snap_take(&SN);
	cr_assert_eq(hl_map_vm_io(R.e, 0, vmid, hl_ipa(0x0C000000), hl_pa(KC_SMMU_BASE + KC_SMMU_SIZE)), HL_E_INVAL);
	assert_untouched(&SN, "OMAP_IO of an SMMU window");
	/* an ordinary device page next to them is still mapped */
	cr_assert_eq(hvc(HVC_PHYS_ADDR_IOREMAP, vmid, 0x0C000000, KC_SMMU_BASE + HL_SMMU_NUM * KC_SMMU_SIZE, PG, 0), 0);
	struct hl_pt_entry ent;
	hl_npt_walk(R.e->st->npt[vmid], 0x0C000000, &ent);
	cr_assert_eq(ent.pfn, (KC_SMMU_BASE + HL_SMMU_NUM * KC_SMMU_SIZE) / PG);
}

Test(hostile_trap, ioremap_and_host_access_of_owned_range_refused)
{
	const uint64_t con = 0x09000000;   /* a console KCore owns on this platform */
	uint32_t vmid = (uint32_t)hvc(HVC_REGISTER_KVM, 0, 0x1234, 0, 0, 0);
	uint64_t v = 0x77;

	cr_assert(kcore_own_range(R.k, con, PG));
	snap_take(&SN);
	cr_assert_eq(hvc(HVC_PHYS_ADDR_IOREMAP, vmid, 0x0C000000, con, PG, 0), DENIED);
	assert_untouched(&SN, "IOREMAP of the console");
	/* the host's own access is skipped and maps nothing */
	(void)hp_host_load(R.p, 0, con, 4, &v);
	assert_untouched(&SN, "host access to the console");
	cr_assert(!hl_cpu_halted(R.e, 0));
}

/* ============================================================================================ */
/* 8c. a guest HVC resumes after it, once                                                      */
/* ============================================================================================ */
static struct {
	unsigned n;
	uint64_t pc[8];
	uint64_t x0[8];
} GH;

static unsigned s_hvc(void *arg, uint64_t *x)
{
	uint64_t pc = arch_read_sysreg(SR_ELR_EL2);
	unsigned n = GH.n++;

	(void)arg;
	GH.pc[n & 7] = pc;
	GH.x0[n & 7] = x[0];
	switch (n) {
	case 0: /* a PV call KCore handles: hardware puts ELR past the HVC */
		x[0] = SET_DESC;
		x[1] = G_PAGE;
		x[2] = PG;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);
	case 1: /* an unknown PV call: to the host */
		x[0] = 0x99000;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);
	case 2: /* a trapped MSR: ELR at the instruction (KCore skips it) */
		return gtrap(pc, esr_make(EC_SYS64, 0x1234), 0);
	default:
		return g_irq(pc);
	}
}

Test(hostile_trap, hvc_pc_advances_once)
{
	uint32_t vmid = boot_vm(0, 0);

	memset(&GH, 0, sizeof(GH));
	hosted_set_guest_runner(s_hvc, NULL);
	/* run 1: the handled PV call resumes at HVC + 4; then the unknown one exits */
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
	cr_assert_eq(GH.n, 2);
	cr_assert_eq(GH.pc[0], BOOT_PC);
	cr_assert_eq(GH.pc[1], BOOT_PC + 4, "a handled guest HVC moved the PC by %lld",
		     (long long)(GH.pc[1] - BOOT_PC));
	/* run 2: after the host saw the unknown call, the guest resumes at HVC + 4 */
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_IRQ);
	cr_assert_eq(GH.n, 4);
	cr_assert_eq(GH.pc[2], BOOT_PC + 8, "after an unknown guest HVC the PC moved by %lld",
		     (long long)(GH.pc[2] - (BOOT_PC + 4)));
	cr_assert_eq(GH.x0[2], 0x99000, "x0 of an unknown PV call changed");
	/* the SYS64 trap is skipped (positive control of the PC rule) */
	cr_assert_eq(GH.pc[3], BOOT_PC + 12);
}

/* ============================================================================================ */
/* 6. TLBs: a translation leaves every CPU before the page changes hands                        */
/* ============================================================================================ */

/* guest script for the hand-over: fault on G_PAGE, then (mapped) write SECRET, let the host
 * CPUs run, read it back */
static struct {
	_Atomic int phase;            /* 1: the guest wrote SECRET */
	_Atomic uint64_t host_ops;    /* host accesses completed by the racing CPU */
	_Atomic bool reader_done;
	uint64_t readback;
	int wrote, read;
	unsigned n;
} GT;

static void wait_host_ops(uint64_t n)
{
	uint64_t start = atomic_load(&GT.host_ops);
	for (unsigned spin = 0; spin < 200000 && !atomic_load(&GT.reader_done) &&
				atomic_load(&GT.host_ops) < start + n; spin++)
		sched_yield();
}

static unsigned s_handover(void *arg, uint64_t *x)
{
	uint64_t pc = arch_read_sysreg(SR_ELR_EL2), v = SECRET;

	(void)arg;
	switch (GT.n++) {
	case 0:
		x[3] = 1;
		return gtrap(pc, dabt_store_esr(), G_PAGE);
	case 1:
		GT.wrote = guest_access_at(&v, true, OFF_READ);
		if (GT.wrote == HL_OK)
			GT.wrote = guest_access_at(&v, true, OFF_STORE);
		atomic_store(&GT.phase, 1);
		wait_host_ops(64);   /* the host CPUs keep going: they must not see or touch the page */
		GT.readback = 0;
		GT.read = guest_access_at(&GT.readback, false, OFF_STORE);
		return g_irq(pc + 4);
	default:
		return g_irq(pc);
	}
}

struct host_racer {
	unsigned cpu;
	uint64_t pa;
	bool write;
	_Atomic bool stop;
	_Atomic bool started;
	uint64_t leaked;   /* reads of SECRET */
	uint64_t after;    /* accesses that completed after the guest wrote */
	uint64_t faults;   /* accesses that faulted (hp_host_probe: no trap, no halt) */
};

static void *racer_thread(void *arg)
{
	struct host_racer *h = arg;

	hp_enter_cpu(R.p, h->cpu);
	while (!atomic_load(&h->stop)) {
		uint64_t v = HOSTVAL;
		int phase = atomic_load(&GT.phase);
		/* the access stops where it would fault (the spec would halt the CPU, which would
		 * strand s2page and end the race): the host keeps trying */
		int r = hp_host_probe(R.p, h->cpu, h->pa, 8, h->write, &v);
		if (r < 0)
			break;
		atomic_store(&h->started, true);
		if (r == 0) {
			h->faults++;
			atomic_fetch_add(&GT.host_ops, 1);
			continue;
		}
		if (!h->write && v == SECRET)
			h->leaked++;
		if (phase)
			h->after++;
		atomic_fetch_add(&GT.host_ops, 1);
	}
	atomic_store(&GT.reader_done, true);
	return NULL;
}

static void start_racer(struct host_racer *h, pthread_t *th)
{
	cr_assert_eq(pthread_create(th, NULL, racer_thread, h), 0);
	for (unsigned spin = 0; spin < 1000000 && !atomic_load(&h->started) && !atomic_load(&GT.reader_done); spin++)
		sched_yield();
	cr_assert(atomic_load(&h->started), "the host CPU never got its page mapped");
}

/* widen the in-flight window of host accesses: the invalidation must wait it out */
static void slow_access(void *ctx, unsigned cpu, uint64_t pa)
{
	(void)ctx;
	(void)pa;
	if (cpu == 1)
		sched_yield();
}

/* one round: CPU 1 keeps accessing TARGET_PFN; CPU 0 gives it to a VM whose guest writes
 * SECRET there. Returns with every check done. */
static void handover_round(bool write, bool slow)
{
	struct host_racer h = { .cpu = 1, .pa = TARGET_PFN * PG + (write ? OFF_STORE : OFF_READ), .write = write };
	pthread_t th;
	uint32_t vmid;

	rig_up(2);
	memset(&GT, 0, sizeof(GT));
	vmid = boot_vm(0, 0);
	hstore_on(0, TARGET_PFN * PG + 64, 0x1111);   /* the host's content before */
	if (slow)
		hp_set_access_hook(R.p, slow_access, NULL);
	hosted_set_guest_runner(s_handover, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);   /* the guest faults */
	answer_fault(0, 0, TARGET_PFN);
	start_racer(&h, &th);   /* CPU 1 has the page in its TLB */
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_IRQ);
	atomic_store(&h.stop, true);
	pthread_join(th, NULL);
	cr_assert_eq(hl_s2page_get(R.e->st, TARGET_PFN).owner, vmid, "the hand-over did not happen");
	cr_assert_eq(GT.wrote, HL_OK);
	cr_assert_eq(h.leaked, 0, "the host read the VM's page %llu times after the hand-over",
		     (unsigned long long)h.leaked);
	cr_assert_eq(h.after, 0, "%llu host accesses completed on the VM's page after the guest wrote it",
		     (unsigned long long)h.after);
	cr_assert_gt(h.faults, 0, "the host CPU never faulted after the hand-over");
	cr_assert_eq(GT.read, HL_OK);
	cr_assert_eq(GT.readback, SECRET, "a host store landed on the VM's page: %#llx", (unsigned long long)GT.readback);
	rig_down();
}

/* three CPUs: CPU 1 loads and CPU 2 stores the page while CPU 0 gives it to the VM */
static void handover_round3(bool slow)
{
	struct host_racer r = { .cpu = 1, .pa = TARGET_PFN * PG + OFF_READ, .write = false };
	struct host_racer w = { .cpu = 2, .pa = TARGET_PFN * PG + OFF_STORE, .write = true };
	pthread_t tr, tw;
	uint32_t vmid;

	rig_up(3);
	memset(&GT, 0, sizeof(GT));
	vmid = boot_vm(0, 0);
	hstore_on(0, TARGET_PFN * PG + 64, 0x1111);
	if (slow)
		hp_set_access_hook(R.p, slow_access, NULL);
	hosted_set_guest_runner(s_handover, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
	answer_fault(0, 0, TARGET_PFN);
	start_racer(&r, &tr);
	start_racer(&w, &tw);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_IRQ);
	atomic_store(&r.stop, true);
	atomic_store(&w.stop, true);
	pthread_join(tr, NULL);
	pthread_join(tw, NULL);
	cr_assert_eq(hl_s2page_get(R.e->st, TARGET_PFN).owner, vmid);
	cr_assert_eq(GT.wrote, HL_OK);
	cr_assert_eq(r.leaked, 0, "CPU 1 read the VM's page after the hand-over");
	cr_assert_eq(r.after + w.after, 0, "host accesses completed on the VM's page after the guest wrote it");
	cr_assert_eq(GT.read, HL_OK);
	cr_assert_eq(GT.readback, SECRET, "CPU 2's store landed on the VM's page: %#llx", (unsigned long long)GT.readback);
	rig_down();
}

TestSuite(hostile_tlb, .timeout = 600);

Test(hostile_tlb, stale_translation_dropped_by_handover)
{
	/* deterministic: CPU 1 has the page in its TLB, then CPU 0 gives it away; CPU 1's next
	 * load must fault (the spec halts it), never return the VM's data */
	uint64_t v = 0, hits, walks, invals;
	uint32_t vmid;

	rig_up(2);
	memset(&GT, 0, sizeof(GT));
	vmid = boot_vm(0, 0);
	hstore_on(1, TARGET_PFN * PG + OFF_READ, 0x1111);
	cr_assert(hp_host_load(R.p, 1, TARGET_PFN * PG + OFF_READ, 8, &v));
	cr_assert(hp_host_load(R.p, 1, TARGET_PFN * PG + OFF_READ, 8, &v));
	hp_tlb_stats(R.p, 1, &hits, &walks, &invals);
	cr_assert_geq(hits, 1, "the TLB model did not cache the translation");
	hp_enter_cpu(R.p, 0);
	hosted_set_guest_runner(s_handover, NULL);
	atomic_store(&GT.reader_done, true);   /* nobody races: the guest does not wait */
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
	answer_fault(0, 0, TARGET_PFN);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_IRQ);
	cr_assert_eq(GT.wrote, HL_OK);
	hp_tlb_stats(R.p, 1, &hits, &walks, &invals);
	cr_assert_geq(invals, 1, "no invalidation reached CPU 1");
	v = 0;
	int r = hp_host_probe(R.p, 1, TARGET_PFN * PG + OFF_READ, 8, false, &v);
	cr_assert_neq(v, SECRET, "CPU 1 read the VM's data through a stale translation");
	cr_assert_eq(r, 0, "CPU 1's load of a VM page did not fault");
	/* and the real access: the spec halts the CPU (SPEC §8), it never reads the data */
	v = 0;
	cr_assert(!hp_host_load(R.p, 1, TARGET_PFN * PG + OFF_READ, 8, &v));
	cr_assert_neq(v, SECRET);
	rig_down();
}

Test(hostile_tlb, race_handover_vs_host_read)
{
	for (unsigned round = 0; round < 40; round++)
		handover_round(false, round & 1);
}

Test(hostile_tlb, race_handover_vs_host_store)
{
	for (unsigned round = 0; round < 40; round++)
		handover_round(true, round & 1);
}

Test(hostile_tlb, race_handover_vs_two_host_cpus)
{
	for (unsigned round = 0; round < 30; round++)
		handover_round3(round & 1);
}

/* revoke vs host read: the guest shares its page, the host reads it, the guest revokes and
 * writes SECRET: the host must never read it */
static unsigned s_revoke(void *arg, uint64_t *x)
{
	uint64_t pc = arch_read_sysreg(SR_ELR_EL2), v;

	(void)arg;
	switch (GT.n++) {
	case 0:
		x[3] = 1;
		return gtrap(pc, dabt_store_esr(), G_PAGE);
	case 1:
		v = SHARED;
		GT.wrote = guest_access(&v, true);
		x[0] = SET_DESC;
		x[1] = G_PAGE;
		x[2] = PG;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);
	case 2:
		atomic_store(&GT.phase, 2);   /* the host may read now */
		wait_host_ops(16);
		x[0] = UNSET_DESC;
		x[1] = G_PAGE;
		x[2] = PG;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);
	case 3:
		v = SECRET;
		GT.wrote = guest_access(&v, true);
		atomic_store(&GT.phase, 1);
		wait_host_ops(64);
		return g_irq(pc);
	default:
		return g_irq(pc);
	}
}

struct revoke_reader {
	uint64_t pa;
	_Atomic bool stop;
	uint64_t leaked, shared_reads;
};

static void *revoke_reader_thread(void *arg)
{
	struct revoke_reader *h = arg;

	hp_enter_cpu(R.p, 1);
	while (!atomic_load(&h->stop) && atomic_load(&GT.phase) == 0)
		sched_yield();
	/* shared now (count 1): a real load maps it for the host; the guest waits for this */
	if (atomic_load(&GT.phase) == 2) {
		uint64_t v = 0;
		if (hp_host_load(R.p, 1, h->pa, 8, &v) && v == SHARED)
			h->shared_reads++;
	}
	while (!atomic_load(&h->stop)) {
		uint64_t v = 0;
		int r = hp_host_probe(R.p, 1, h->pa, 8, false, &v);
		if (r < 0)
			break;
		if (r == 0) {
			atomic_fetch_add(&GT.host_ops, 1);
			continue;
		}
		if (v == SECRET)
			h->leaked++;
		if (v == SHARED)
			h->shared_reads++;
		atomic_fetch_add(&GT.host_ops, 1);
	}
	atomic_store(&GT.reader_done, true);
	return NULL;
}

Test(hostile_tlb, race_revoke_vs_host_read)
{
	unsigned shared = 0;

	for (unsigned round = 0; round < 40; round++) {
		struct revoke_reader h = { .pa = TARGET_PFN * PG };
		pthread_t th;
		uint32_t vmid;

		rig_up(2);
		memset(&GT, 0, sizeof(GT));
		vmid = boot_vm(0, 0);
		if (round & 1)
			hp_set_access_hook(R.p, slow_access, NULL);
		hosted_set_guest_runner(s_revoke, NULL);
		cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
		answer_fault(0, 0, TARGET_PFN);
		cr_assert_eq(pthread_create(&th, NULL, revoke_reader_thread, &h), 0);
		cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_IRQ);
		atomic_store(&h.stop, true);
		pthread_join(th, NULL);
		cr_assert_eq(GT.n, 4);
		cr_assert_eq(GT.wrote, HL_OK);
		cr_assert_eq(h.leaked, 0, "round %u: the host read a revoked page's new data", round);
		shared += h.shared_reads != 0;
		rig_down();
	}
	cr_assert_gt(shared, 0, "the host never read the shared page: the race never ran");
}

/* assign vs DMA map: CPU 1 maps the page in its SMMU bank over and over while CPU 0 gives
 * it to a VM. Never both: a VM's page in a host bank is host DMA into the VM. */
struct dma_racer {
	_Atomic bool stop;
	uint64_t maps;
};

static void *dma_thread(void *arg)
{
	struct dma_racer *h = arg;
	const uint64_t pa = TARGET_PFN * PG;

	hp_enter_cpu(R.p, 1);
	while (!atomic_load(&h->stop)) {
		int64_t r = hvc_on(1, HVC_SMMU_LPAE_MAP, pa, pa, 3, 1, 0);
		if (r == KC_EBUSY)
			break;   /* halted, or a halted CPU stranded a lock */
		if (r == 0) {
			h->maps++;
			if (hvc_on(1, HVC_SMMU_CLEAR, pa, 1, 0, 0, 0) == KC_EBUSY)
				break;
		}
		atomic_fetch_add(&GT.host_ops, 1);
	}
	atomic_store(&GT.reader_done, true);
	return NULL;
}

Test(hostile_tlb, race_assign_vs_dma_map)
{
	for (unsigned round = 0; round < 40; round++) {
		struct dma_racer h = { 0 };
		pthread_t th;
		uint32_t vmid;
		struct hl_pt_entry ent;

		rig_up(2);
		memset(&GT, 0, sizeof(GT));
		vmid = boot_vm(0, 0);
		cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 1, HL_HOSTVISOR, 0, 0, 0), 0);
		hosted_set_guest_runner(s_handover, NULL);
		atomic_store(&GT.reader_done, true);   /* the guest does not wait for the DMA CPU */
		cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
		answer_fault(0, 0, TARGET_PFN);
		cr_assert_eq(pthread_create(&th, NULL, dma_thread, &h), 0);
		for (unsigned i = 0; i < (round % 8) * 50; i++)
			sched_yield();
		(void)hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0);
		for (unsigned i = 0; i < 200 && !hl_cpu_halted(R.e, 1); i++)
			sched_yield();
		atomic_store(&h.stop, true);
		pthread_join(th, NULL);
		hl_spt_walk(R.e->st->spt, HL_SMMU_ID_OF(0, 1), TARGET_PFN * PG, &ent);
		cr_assert(!(hl_s2page_get(R.e->st, TARGET_PFN).owner == vmid && ent.level != 0),
			  "round %u: the VM owns a page the host's SMMU bank maps", round);
		rig_down();
	}
}

/* one page to two VMs: CPUs 0 and 1 each answer their VM's fault with the same page */
static _Atomic unsigned two_entries[HL_NR_PRINC];

static unsigned s_two(void *arg, uint64_t *x)
{
	uint64_t pc = arch_read_sysreg(SR_ELR_EL2), v;
	uint32_t vmid = cur_vmid();

	(void)arg;
	if (atomic_fetch_add(&two_entries[vmid], 1) == 0) {
		x[3] = 1;
		return gtrap(pc, dabt_store_esr(), G_PAGE);   /* retried after the host's answer */
	}
	v = SECRET ^ vmid;
	if (guest_access(&v, true) == HL_OK) {
		sched_yield();
		v = 0;
		if (guest_access(&v, false) == HL_OK && v != (SECRET ^ vmid))
			atomic_fetch_add(&GT.host_ops, 1000000);   /* the other VM wrote into its page */
	}
	return g_irq(pc + 4);
}

struct two_vm {
	unsigned cpu, k;
	uint32_t vmid;
};

static void *two_vm_thread(void *arg)
{
	struct two_vm *t = arg;

	hp_enter_cpu(R.p, t->cpu);
	(void)hvc_on(t->cpu, HVC_VCPU_RUN, t->vmid, 0, 0, 0, 0);
	return NULL;
}

Test(hostile_tlb, race_one_page_to_two_vms)
{
	for (unsigned round = 0; round < 40; round++) {
		struct two_vm a = { .cpu = 0, .k = 0 }, b = { .cpu = 1, .k = 1 };
		pthread_t ta, tb;
		unsigned mapped = 0;

		rig_up(2);
		memset(&GT, 0, sizeof(GT));
		for (unsigned i = 0; i < HL_NR_PRINC; i++)
			atomic_store(&two_entries[i], 0);
		a.vmid = boot_vm(0, 0);
		b.vmid = boot_vm(0, 1);
		hosted_set_guest_runner(s_two, NULL);
		/* first runs, one after the other: both fault on G_PAGE */
		hp_enter_cpu(R.p, 0);
		cr_assert_eq(hvc_on(0, HVC_VCPU_RUN, a.vmid, 0, 0, 0, 0), EXIT_TRAP);
		hp_enter_cpu(R.p, 1);
		cr_assert_eq(hvc_on(1, HVC_VCPU_RUN, b.vmid, 0, 0, 0, 0), EXIT_TRAP);
		hp_enter_cpu(R.p, 0);
		answer_fault(0, 0, TARGET_PFN);
		answer_fault(0, 1, TARGET_PFN);
		cr_assert_eq(pthread_create(&ta, NULL, two_vm_thread, &a), 0);
		cr_assert_eq(pthread_create(&tb, NULL, two_vm_thread, &b), 0);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		for (unsigned v = 0; v < 2; v++) {
			struct hl_pt_entry ent;
			uint32_t vmid = v ? b.vmid : a.vmid;
			hl_npt_walk(R.e->st->npt[vmid], G_PAGE, &ent);
			if (ent.level && ent.pfn == TARGET_PFN) {
				mapped++;
				cr_assert_eq(hl_s2page_get(R.e->st, TARGET_PFN).owner, vmid,
					     "round %u: vm %u maps a page it does not own", round, vmid);
			}
		}
		cr_assert_leq(mapped, 1, "round %u: one page is mapped into two VMs", round);
		cr_assert_lt(atomic_load(&GT.host_ops), 1000000, "round %u: a VM saw another VM's store", round);
		rig_down();
	}
}

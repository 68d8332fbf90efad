/*
 * test_redteam3.c - H-redteam3: a third red-team pass over every host-reachable input, each
 * attack driven through the host's real interfaces (hypercalls, host memory, SMMU register
 * stores, fault answers in the host's vcpu struct, device DMA through the SMMU) on the hosted
 * trap layer. Each asserts (a) the spec's refusal, (b) nothing changed (th_snap: every object
 * digest, record count, RAM page, emulated SMMU register and halted CPU) and (c) the VM's
 * memory stays out of the host's and its devices' reach; at the end the oracles
 * (hl_check_engine) still hold on the run's logs.
 *
 * Hole found and fixed (fails on the old code):
 *   smmu_tlb_entry_dropped_before_the_page_changes_hands
 *       SMMU_CLEAR removed a host-bank entry and dropped the page's DMA count, but nothing
 *       invalidated the SMMU's TLB: the host handed the page to a VM and its device kept
 *       reading and writing the VM's page through the cached translation. Now the step that
 *       removes an SMMU entry drops it from the SMMU TLB before its locks are released
 *       (engine/hl_pgtable.h hl_spt_tlbi_register, arch/aarch64/mmio.c kc_smmu_tlbi).
 *       Also: smmu_tlb_dropped_for_a_block_answer_too (a level-2 answer) and
 *       smmu_tlb_race_device_vs_handover (the device reading from CPU 1 throughout).
 * Attacks that were already refused (regression tests):
 *   dma_follows_the_smmu_rules            the DMA model's controls: no stream, a fault S2CR,
 *                                         an unmapped iova, a read-only entry, multi-match,
 *                                         streams into VM banks / bypass / CLIENTPD refused,
 *                                         TTBR0 pointed at a VM bank's table
 *   bank_swapped_from_a_dead_vm_to_the_host  a dead VM's bank, freed and given to the host:
 *                                         the host's device reaches none of the VM's pages.
 *                                         Fixed with it (fails on the old code): the bank's
 *                                         CBAR/CBA2R VMID kept the previous owner's (a host
 *                                         bank tagged with a dead VM's VMID, a new VM's bank
 *                                         with the host's 0); KCore now writes the owner's
 *                                         VMID when a bank changes hands (mmio.c)
 *   hypercall_args_truncated_or_wrapping  64-bit values that truncate to a valid vmid /
 *                                         bank / index, or wrap around 2^64
 *   host_buffers_outside_host_memory      signature and vcpu struct in a VM's page, a page
 *                                         the VM shares, KCore's SMMU window, MMIO, past RAM
 *   vcpu_struct_moved_into_a_vm_page      KCore never writes exit information into a page
 *                                         that became the VM's (confused deputy)
 *   verify_vs_host_rewriting_the_image    TOCTOU: CPU 1 rewrites the image while CPU 0
 *                                         verifies it; a VERIFIED VM holds exactly the
 *                                         signed bytes, and the host's writes stop
 *   vcpu_run_refusals_halt_only_that_cpu  VCPU_RUN of an unregistered vCPU, of an
 *                                         unverified VM, of a vCPU running on another CPU,
 *                                         after power-off: the seed's halt, that CPU only,
 *                                         holding nothing, no object or page changed
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

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
}

static void oracle_holds(void)
{
	char why[512];

	cr_assert_eq(th_oracle_holds(E, why, sizeof(why)), 0, "%s", why);
}

TestSuite(redteam3, .init = setup, .fini = teardown, .timeout = 120);

/* ---- SMMU register stores and device DMA -------------------------------------------------------- */
#define SID_DEV         5u          /* the host's device stream */
#define HOST_CB         7u          /* SMMU 0 bank the host allocates for itself */

/* a 32-bit host store into SMMU `index`'s window; true if KCore took it (not refused) */
static bool smmu_store(unsigned index, uint32_t off, uint32_t v)
{
	uint64_t before = K->cpu[CPU].mmio_rejected;
	cr_assert(hp_host_store(P, CPU, KC_SMMU_BASE + index * KC_SMMU_SIZE + off, 4, v));
	return K->cpu[CPU].mmio_rejected == before;
}

static uint32_t smmu_load(unsigned index, uint32_t off)
{
	uint64_t v = 0;
	cr_assert(hp_host_load(P, CPU, KC_SMMU_BASE + index * KC_SMMU_SIZE + off, 4, &v));
	return (uint32_t)v;
}

/* stream SID_DEV -> SMR 0 -> S2CR 0 -> host bank HOST_CB of SMMU 0 */
static void host_device_behind_host_bank(void)
{
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, HOST_CB, HL_HOSTVISOR, 0, 0, 0), 0);
	cr_assert(smmu_store(0, SMMU_GR0_SMR_BASE, (1u << 31) | SID_DEV));
	cr_assert(smmu_store(0, SMMU_GR0_S2CR_BASE, (SMMU_S2CR_TYPE_TRANS << 16) | HOST_CB));
}

static int dma(uint32_t sid, uint64_t iova, void *buf, uint32_t len, bool write)
{
	return kcore_smmu_dma(K, CPU, 0, sid, iova, buf, len, write);
}

/*
 * H-redteam3's hole. The host maps one of its pages for its device (host bank, identity),
 * lets the device use it (the SMMU's TLB caches the translation), unmaps it (SMMU_CLEAR: the
 * page's count and DMA count drop to 0) and answers a VM's stage-2 fault with it. The VM
 * stores a secret there. Before the fix the device still read the secret and overwrote the
 * VM's page through the translation the SMMU kept; now the entry left the TLB inside
 * OSMMU_CLEAR, so the device's accesses fault.
 */
Test(redteam3, smmu_tlb_entry_dropped_before_the_page_changes_hands)
{
	uint32_t vmid = boot_vm();
	const uint64_t pfn = GPAGE(3), iova = pfn * PG;
	uint8_t secret[64], buf[64];

	host_device_behind_host_bank();
	hstore(iova, 0x1111111111111111ull);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, iova, iova, 3, HOST_CB, 0), 0);
	cr_assert_eq(dma(SID_DEV, iova, buf, 8, false), 0, "the device reads its mapped page");
	cr_assert_eq(*(uint64_t *)buf, 0x1111111111111111ull);
	cr_assert_eq(K->smmu_tlb[0].fills, 1, "the translation is in the SMMU's TLB");

	cr_assert_eq(hvc(HVC_SMMU_CLEAR, iova, HOST_CB, 0, 0, 0), 0);
	cr_assert_eq(s2p(pfn).count, 0);
	cr_assert_eq(s2p(pfn).dma, 0);
	run_faulting(vmid, 0, G_PAGE);
	answer_applied(vmid, 0, G_PAGE, iova | KERNEL, 3);
	cr_assert_eq(s2p(pfn).owner, vmid, "the page is the VM's");

	memset(secret, 0xA5, sizeof(secret));
	cr_assert_eq(hl_vm_mem_access(E, 0, vmid, hl_pa(iova), secret, sizeof(secret), true), HL_OK);
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(dma(SID_DEV, iova, buf, sizeof(buf), false), KC_DMA_FAULT,
		     "the host's device read the VM's page through a stale SMMU TLB entry");
	cr_assert(memcmp(buf, secret, sizeof(buf)) != 0);
	memset(buf, 0x5A, sizeof(buf));
	cr_assert_eq(dma(SID_DEV, iova, buf, sizeof(buf), true), KC_DMA_FAULT,
		     "the host's device wrote the VM's page through a stale SMMU TLB entry");
	cr_assert_eq(hl_vm_mem_access(E, 0, vmid, hl_pa(iova), buf, sizeof(buf), false), HL_OK);
	cr_assert(memcmp(buf, secret, sizeof(buf)) == 0, "the VM's page changed");
	cr_assert(K->smmu_tlb[0].invals >= 1);
	/* the device works again once the host maps one of its own pages there */
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, GPAGE(4) * PG, GPAGE(4) * PG, 3, HOST_CB, 0), 0);
	cr_assert_eq(dma(SID_DEV, GPAGE(4) * PG, buf, 8, false), 0);
	cr_assert(!hl_cpu_halted(E, 0));
	oracle_holds();
}

/* the same race with the device on CPU 1, reading all along while CPU 0 unmaps the page, hands
 * it to the VM and the VM stores its secret: no read may ever return the secret */
struct dma_reader {
	volatile int stop;
	uint64_t iova, secret;
	uint64_t reads, leaks, faults, tries;
};

static void *cpu1_device_reads(void *arg)
{
	struct dma_reader *d = arg;

	hp_enter_cpu(P, 1);
	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		uint64_t v = 0;
		int rc = kcore_smmu_dma(K, 1, 0, SID_DEV, d->iova, &v, 8, false);
		if (rc == 0) {
			__atomic_add_fetch(&d->reads, 1, __ATOMIC_RELEASE);
			if (v == d->secret)
				d->leaks++;
		} else {
			d->faults++;
		}
		__atomic_add_fetch(&d->tries, 1, __ATOMIC_RELEASE);
		sched_yield();
	}
	return NULL;
}

Test(redteam3, smmu_tlb_race_device_vs_handover)
{
	uint32_t vmid = boot_vm();

	host_device_behind_host_bank();
	for (unsigned round = 0; round < 8; round++) {
		const uint64_t pfn = GPAGE(40 + round), iova = pfn * PG;
		struct dma_reader d = { 0, iova, 0x5EC2E75EC2E70000ull + round, 0, 0, 0, 0 };
		pthread_t t;

		hstore(iova, 0x1111);
		cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, iova, iova, 3, HOST_CB, 0), 0);
		cr_assert_eq(pthread_create(&t, NULL, cpu1_device_reads, &d), 0);
		while (__atomic_load_n(&d.reads, __ATOMIC_ACQUIRE) == 0)
			sched_yield();   /* the device uses the page (its translation is cached) */
		for (volatile unsigned spin = 0; spin < 20000u * (round % 3); spin++)
			;
		cr_assert_eq(hvc(HVC_SMMU_CLEAR, iova, HOST_CB, 0, 0, 0), 0);
		run_faulting(vmid, 0, G_PAGE + (1 + round) * PG);
		answer_applied(vmid, 0, G_PAGE + (1 + round) * PG, iova | KERNEL, 3);
		cr_assert_eq(s2p(pfn).owner, vmid);
		cr_assert_eq(hl_vm_mem_access(E, 0, vmid, hl_pa(iova), &d.secret, 8, true), HL_OK);
		/* the device keeps trying after the VM's store */
		uint64_t t0 = __atomic_load_n(&d.tries, __ATOMIC_ACQUIRE);
		while (__atomic_load_n(&d.tries, __ATOMIC_ACQUIRE) < t0 + 16)
			sched_yield();
		__atomic_store_n(&d.stop, 1, __ATOMIC_RELEASE);
		cr_assert_eq(pthread_join(t, NULL), 0);
		cr_assert_eq(d.leaks, 0, "round %u: the host's device read the VM's secret %llu times", round,
			     (unsigned long long)d.leaks);
		cr_assert(!hl_cpu_halted(E, 0) && !hl_cpu_halted(E, 1));
	}
	oracle_holds();
}

/* the same through a mapping the device only read: a read-only entry, then SMMU_CLEAR, then
 * the page to a VM by a level-2 answer (512 pages move at once) */
Test(redteam3, smmu_tlb_dropped_for_a_block_answer_too)
{
	uint32_t vmid = boot_vm();
	const uint64_t pfn = FREE_BLOCK_PFN + 9, iova = pfn * PG;
	uint8_t buf[8];

	host_device_behind_host_bank();
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, iova, iova, 1, HOST_CB, 0), 0);
	cr_assert_eq(dma(SID_DEV, iova, buf, 8, false), 0);
	cr_assert_eq(dma(SID_DEV, iova, buf, 8, true), KC_DMA_FAULT, "a read-only entry takes no write");
	cr_assert_eq(hvc(HVC_SMMU_CLEAR, iova, HOST_CB, 0, 0, 0), 0);
	run_faulting(vmid, 0, G_BLOCK);
	answer_applied(vmid, 0, G_BLOCK, FREE_BLOCK_PFN * PG | KERNEL, 2);
	cr_assert_eq(s2p(pfn).owner, vmid);
	cr_assert_eq(dma(SID_DEV, iova, buf, 8, false), KC_DMA_FAULT, "stale SMMU TLB entry used");
	oracle_holds();
}

/* the DMA model obeys the SMMUv2 flow, and the host's stores cannot open another way in */
Test(redteam3, dma_follows_the_smmu_rules)
{
	uint32_t vmid = register_vm();
	const uint64_t mine = GPAGE(10) * PG;
	uint8_t buf[8];

	/* reset: no stream matches, USFCFG faults it */
	cr_assert_eq(dma(SID_DEV, mine, buf, 8, false), KC_DMA_FAULT);
	/* a matching SMR whose S2CR is still FAULT (reset) */
	cr_assert(smmu_store(0, SMMU_GR0_SMR_BASE, (1u << 31) | SID_DEV));
	cr_assert_eq(dma(SID_DEV, mine, buf, 8, false), KC_DMA_FAULT);
	/* bypass routes, translation off, client bypass: refused, still faults */
	cr_assert_not(smmu_store(0, SMMU_GR0_S2CR_BASE, SMMU_S2CR_TYPE_BYPASS << 16));
	cr_assert_not(smmu_store(0, SMMU_GR0_sCR0, SMMU_sCR0_CLIENTPD | SMMU_sCR0_USFCFG | SMMU_sCR0_SMCFCFG));
	cr_assert_not(smmu_store(0, SMMU_GR0_sCR0, SMMU_sCR0_SMCFCFG));   /* USFCFG 0: unmatched bypass */
	cr_assert_eq(dma(SID_DEV, mine, buf, 8, false), KC_DMA_FAULT);
	cr_assert_eq(dma(SID_DEV + 1, mine, buf, 8, false), KC_DMA_FAULT);
	/* a VM's bank (the VM is READY: its bank may map its pages) is out of every stream's reach */
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 6, vmid, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, 0x10000, GPAGE(11) * PG, 3, 6, 0), 0);
	cr_assert_eq(s2p(GPAGE(11)).owner, vmid);
	cr_assert_not(smmu_store(0, SMMU_GR0_S2CR_BASE, 6));
	cr_assert_not(smmu_store(0, SMMU_GR0_S2CR_BASE, 5));   /* a free bank */
	cr_assert_eq(dma(SID_DEV, 0x10000, buf, 8, false), KC_DMA_FAULT);
	/* its own bank: translation turned off refused; a mapped iova works, an unmapped one faults */
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, HOST_CB, HL_HOSTVISOR, 0, 0, 0), 0);
	cr_assert(smmu_store(0, SMMU_GR0_S2CR_BASE, (SMMU_S2CR_TYPE_TRANS << 16) | HOST_CB));
	cr_assert_not(smmu_store(0, KC_SMMU_GLOBAL_BASE + HOST_CB * KC_SMMU_CB_SIZE + SMMU_CB_SCTLR, 0));
	cr_assert_not(smmu_store(0, SMMU_GR1_BASE + 4 * HOST_CB, vmid));   /* the VM's VMID (TLB sharing) */
	cr_assert_eq(dma(SID_DEV, mine, buf, 8, false), KC_DMA_FAULT, "not mapped yet");
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, mine, mine, 3, HOST_CB, 0), 0);
	cr_assert_eq(dma(SID_DEV, mine, buf, 8, true), 0);
	cr_assert_eq(dma(SID_DEV, 0x10000, buf, 8, false), KC_DMA_FAULT, "the VM bank's iova");
	/* TTBR0 pointed at the VM's table (its root PA): KCore keeps the bank on its own */
	uint64_t vm_root = hl_spt_root_pa(E->st->spt, HL_SMMU_ID_OF(0, 6));
	cr_assert(smmu_store(0, KC_SMMU_GLOBAL_BASE + HOST_CB * KC_SMMU_CB_SIZE + SMMU_CB_TTBR0, (uint32_t)vm_root));
	cr_assert(smmu_store(0, KC_SMMU_GLOBAL_BASE + HOST_CB * KC_SMMU_CB_SIZE + SMMU_CB_TTBR0 + 4,
			     (uint32_t)(vm_root >> 32)));
	cr_assert_eq(dma(SID_DEV, 0x10000, buf, 8, false), KC_DMA_FAULT, "TTBR0 reached the VM's table");
	/* a second SMR matching the same stream: multi-match faults (SMCFCFG), no bypass */
	cr_assert(smmu_store(0, SMMU_GR0_SMR_BASE + 4, (1u << 31) | (0x7FFFu << 16)));
	cr_assert_eq(dma(SID_DEV, mine, buf, 8, false), KC_DMA_FAULT);
	cr_assert(!hl_cpu_halted(E, 0));
	oracle_holds();
}

/*
 * Context bank swap: a VM's bank, which mapped the VM's pages, is freed after the VM powers
 * off and allocated to the host; the host routes its device into it. The device reaches
 * nothing the VM had (OSMMU_FREE cleared every entry and the SMMU's TLB), only what the host
 * maps there now; CBAR keeps host rules (VMID 0 accepted, the dead VM's VMID refused).
 */
Test(redteam3, bank_swapped_from_a_dead_vm_to_the_host)
{
	uint32_t vmid = register_vm();
	const uint64_t vm_pg = GPAGE(12), iova = 0x10000;
	uint8_t buf[8];

	cr_assert_eq(smmu_load(0, SMMU_GR1_BASE + 4 * 6) & 0xFF, 0, "a free bank's CBAR.VMID");
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 6, vmid, 0, 0, 0), 0);
	cr_assert_eq(smmu_load(0, SMMU_GR1_BASE + 4 * 6) & 0xFF, vmid, "the VM's bank carries the host's VMID");
	cr_assert_eq(smmu_load(0, SMMU_GR1_CBA2R + 4 * 6) >> 16, vmid);
	cr_assert(smmu_store(0, SMMU_GR1_BASE + 4 * 6, vmid));   /* the VM's VMID: allowed */
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, iova, vm_pg * PG, 3, 6, 0), 0);
	cr_assert_eq(s2p(vm_pg).owner, vmid);
	cr_assert_eq(s2p(vm_pg).dma, 1);
	verify_vm(vmid);
	poweroff(vmid);
	cr_assert_eq(hvc(HVC_SMMU_FREE_PGD, 6, 0, 0, 0, 0), 0);
	cr_assert_eq(s2p(vm_pg).dma, 0);
	cr_assert_eq(smmu_load(0, SMMU_GR1_BASE + 4 * 6) & 0xFF, 0, "a freed bank keeps the dead VM's VMID");
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 6, HL_HOSTVISOR, 0, 0, 0), 0);
	cr_assert_eq(smmu_load(0, SMMU_GR1_BASE + 4 * 6) & 0xFF, 0, "the host's bank carries a dead VM's VMID");
	cr_assert_eq(smmu_load(0, SMMU_GR1_CBA2R + 4 * 6), SMMU_CBA2R_VA64);
	cr_assert_eq(swalk(0, 6, iova).pte, 0, "the host's new bank inherits the VM's entry");
	cr_assert_not(smmu_store(0, SMMU_GR1_BASE + 4 * 6, vmid), "the dead VM's VMID on a host bank");
	cr_assert(smmu_store(0, SMMU_GR1_BASE + 4 * 6, 0));
	cr_assert(smmu_store(0, SMMU_GR0_SMR_BASE, (1u << 31) | SID_DEV));
	cr_assert(smmu_store(0, SMMU_GR0_S2CR_BASE, (SMMU_S2CR_TYPE_TRANS << 16) | 6));
	cr_assert_eq(dma(SID_DEV, iova, buf, 8, false), KC_DMA_FAULT, "the device reached the dead VM's page");
	/* what the host maps for itself works */
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, GPAGE(13) * PG, GPAGE(13) * PG, 3, 6, 0), 0);
	cr_assert_eq(dma(SID_DEV, GPAGE(13) * PG, buf, 8, false), 0);
	cr_assert(!hl_cpu_halted(E, 0));
	oracle_holds();
}

/* ---- hypercall arguments that truncate or wrap --------------------------------------------------- */
Test(redteam3, hypercall_args_truncated_or_wrapping)
{
	uint32_t vmid = register_vm();
	const uint64_t hi = 1ull << 32, top = 1ull << 48, sig = META_PFN * PG + 64;

	/* a 64-bit value whose low 32 bits name a real VM / bank / index */
	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, hi + vmid, LOAD_ADDR, PG, sig, 0);
	REFUSED(KC_EINVAL, HVC_REMAP_VM_IMAGE, hi + vmid, BLOCK_PFN, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_REMAP_VM_IMAGE, vmid, BLOCK_PFN, hi, 0, 0);
	REFUSED(KC_EINVAL, HVC_VERIFY_VM_IMAGE, hi + vmid, 0, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_REGISTER_VCPU, hi + vmid, 2, hv_pa(0), 0, 0);
	REFUSED(KC_EINVAL, HVC_REGISTER_VCPU, vmid, hi + 2, hv_pa(0), 0, 0);
	REFUSED(KC_EINVAL, HVC_VCPU_RUN, hi + vmid, 0, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_VCPU_RUN, vmid, hi, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, hi + vmid, LOAD_ADDR, PG, 0, 0);
	REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, hi + vmid, 0x10000000, 0x0A000000, PG, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_ALLOC_PGD, hi + 1, vmid, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_ALLOC_PGD, 1, hi + vmid, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_ALLOC_PGD, 1, vmid, hi, 0, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_ALLOC_PGD, 1, HL_COREVISOR, 0, 0, 0);   /* KCore's own id */
	REFUSED(KC_EINVAL, HVC_SMMU_FREE_PGD, hi + 1, 0, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x10000, GPAGE(1) * PG, 3, hi + 1, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x10000, GPAGE(1) * PG, 3, 1, hi);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x10000, GPAGE(1) * PG, 3 + hi, 1, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_IOVA_TO_PHYS, 0x10000, hi + 1, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_CLEAR, 0x10000, 1, hi, 0, 0);
	/* ranges that wrap around 2^64 or leave the space they address */
	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, 0ull - PMD, 2 * PMD, sig, 0);
	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, 0ull - PG, sig, 0);
	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, PG, 0ull - 32, 0);   /* signature */
	REFUSED(KC_EINVAL, HVC_REMAP_VM_IMAGE, vmid, 0ull - 1, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_REMAP_VM_IMAGE, vmid, (1ull << 52) + BLOCK_PFN, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, vmid, 0ull - PG, 2 * PG, 0, 0);
	REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vmid, 0ull - PG, 0x0A000000, 2 * PG, 0);
	REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vmid, 0x10000000, 0ull - PG, 2 * PG, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0ull - PG, GPAGE(1) * PG, 3, 1, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, HL_SMMU_IPA_SIZE, GPAGE(1) * PG, 3, 1, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x10000, 0ull - PG, 3, 1, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x10000, GPAGE(1) * PG + top, 3, 1, 0);   /* aliases RAM mod 2^48 */
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x10000 + 1, GPAGE(1) * PG, 3, 1, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_IOVA_TO_PHYS, 0ull - 1, 1, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_CLEAR, 0ull - PG, 1, 0, 0, 0);
	cr_assert(!hl_cpu_halted(E, 0));
	oracle_holds();
}

/* ---- host memory KCore reads and writes ---------------------------------------------------------- */
/* a VM with vCPU 0's struct in the host's vcpu page and vCPU 1's in page `hv1_pfn` */
static uint32_t register_vm_hv1(uint64_t hv1_pfn)
{
	int64_t vmid = hvc(HVC_REGISTER_KVM, 0, 0xFFFF0000ABCD0000ull, 0, 0, 0);
	cr_assert(vmid >= 1 && vmid <= HL_MAX_VM);
	hstore(HV_FIELD(0, boot_pc), BOOT_PC);
	cr_assert_eq(hvc(HVC_REGISTER_VCPU, (uint64_t)vmid, 0, hv_pa(0), 0, 0), 0);
	hstore(hv1_pfn * PG + offsetof(struct host_vcpu, boot_pc), BOOT_PC);
	cr_assert_eq(hvc(HVC_REGISTER_VCPU, (uint64_t)vmid, 1, hv1_pfn * PG, 0, 0), 0);
	return (uint32_t)vmid;
}

Test(redteam3, host_buffers_outside_host_memory)
{
	uint32_t vmid = boot_vm();
	uint32_t vm2 = register_vm();
	const uint64_t vm_pa = GPAGE(20) * PG, shared_pa = GPAGE(21) * PG;

	/* one page the VM owns, one it shares with the host (count 1: the host may map it) */
	run_faulting(vmid, 0, G_PAGE);
	answer_applied(vmid, 0, G_PAGE, vm_pa | KERNEL, 3);
	cr_assert_eq(hl_assign_pfn_to_vm(E, 0, vmid, (G_PAGE + PG) / PG, GPAGE(21)), HL_OK);
	cr_assert_eq(hl_map_pfn_vm(E, 0, vmid, hl_ipa(G_PAGE + PG), shared_pa, 3), HL_OK);
	cr_assert_eq(hl_grant_vm_page(E, 0, vmid, GPAGE(21)), HL_OK);
	cr_assert_eq(s2p(GPAGE(21)).count, 1);
	const uint64_t bad[] = {
		vm_pa, vm_pa + PG - 32,                       /* the VM's page; one crossing into it */
		shared_pa,                                    /* shared with the host: still the VM's */
		KC_SMMU_BASE, 0x0A000000, 0,                  /* KCore's SMMU window, MMIO, pfn 0 */
		RAM_END - 32, RAM_END, 0ull - 32,             /* crossing RAM's end, past it, wrapping */
		HL_RAM_BASE - 32,                             /* crossing into RAM from below */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vm2, LOAD_ADDR, PG, bad[i], 0);
		REFUSED(KC_EINVAL, HVC_REGISTER_VCPU, vm2, 2, bad[i], 0, 0);
	}
	cr_assert(!hl_cpu_halted(E, 0));
	oracle_holds();
}

/* KCore as a confused deputy: vCPU 1's struct lies in a page the host then gives to the VM; the
 * next VCPU_RUN of vCPU 1 must neither take requests from the VM's page nor write exit
 * information into it */
static unsigned g_sys64(void *arg, uint64_t *x)
{
	(void)arg;
	(void)x;
	G_N++;
	/* an IRQ exit: back to the host at once */
	arch_write_sysreg(SR_ELR_EL2, arch_read_sysreg(SR_ELR_EL2));
	return 0;   /* ARCH_EXIT_IRQ */
}

Test(redteam3, vcpu_struct_moved_into_a_vm_page)
{
	const uint64_t hv1 = GPAGE(30);
	uint32_t vmid = register_vm_hv1(hv1);
	uint8_t secret[PG], now[PG];

	verify_vm(vmid);
	/* vCPU 1's first run, with its struct in host memory */
	hosted_set_guest_runner(g_sys64, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 1, 0, 0, 0), 0);
	cr_assert_eq(G_N, 1);
	/* the host answers vCPU 0's fault with vCPU 1's struct page; the VM fills it */
	run_faulting(vmid, 0, G_PAGE);
	answer_applied(vmid, 0, G_PAGE, hv1 * PG | KERNEL, 3);
	cr_assert_eq(s2p(hv1).owner, vmid);
	for (unsigned i = 0; i < PG; i++)
		secret[i] = (uint8_t)(i * 7 + 1);
	cr_assert_eq(hl_vm_mem_access(E, 0, vmid, hl_pa(hv1 * PG), secret, PG, true), HL_OK);
	/* vCPU 1 again: the struct is out of the host's memory now */
	hosted_set_guest_runner(g_sys64, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 1, 0, 0, 0), 0);
	cr_assert(!hl_cpu_halted(E, 0));
	cr_assert_eq(hl_vm_mem_access(E, 0, vmid, hl_pa(hv1 * PG), now, PG, false), HL_OK);
	cr_assert(memcmp(now, secret, PG) == 0, "KCore wrote exit information into the VM's page");
	oracle_holds();
}

/* ---- TOCTOU: the host rewrites the image from another CPU while KCore verifies it ----------------- */
struct rewriter {
	volatile int stop;
	uint64_t block;          /* first pfn of the image */
	uint64_t landed_after;   /* host stores that landed after VERIFY returned (must be 0) */
	uint64_t tries;
};

static void *cpu1_rewrites_image(void *arg)
{
	struct rewriter *r = arg;
	uint64_t i = 0;

	hp_enter_cpu(P, 1);
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		uint64_t pa = r->block * PG + (i * 8) % IMG_BYTES, v = 0;
		/* flip a word, then put it back: at any instant the image is either the signed
		 * bytes or one word off */
		if (hp_host_probe(P, 1, pa, 8, false, &v) == 1) {
			uint64_t bad = v ^ 0xFF;
			(void)hp_host_probe(P, 1, pa, 8, true, &bad);
			(void)hp_host_probe(P, 1, pa, 8, true, &v);
		}
		i++;
		r->tries++;
		if ((i & 63) == 0)
			sched_yield();
	}
	/* the last try, after VERIFY returned: a corrupting store, which must not land */
	uint64_t v = 0x4242424242424242ull;
	if (hp_host_probe(P, 1, r->block * PG, 8, true, &v) == 1)
		r->landed_after++;
	return NULL;
}

/* each round a new VM and a fresh 2 MiB block; CPU 1 starts rewriting the image after a
 * varying delay, so VERIFY meets it before, during and after its loads */
Test(redteam3, verify_vs_host_rewriting_the_image)
{
	static uint8_t img[IMG_BYTES];
	uint8_t sig[64], now[IMG_BYTES];
	unsigned verified = 0, refused = 0;

	for (unsigned round = 0; round < 12; round++) {
		uint32_t vmid = register_vm();
		struct rewriter r = { 0, th_pfn(4096 + 512 * round), 0, 0 };
		pthread_t t;

		for (unsigned i = 0; i < IMG_BYTES; i++)
			img[i] = (uint8_t)(i * 29 + round);
		hwrite(r.block * PG, img, IMG_BYTES);
		cr_assert_eq(hl_testkey_sign_image(sig, img, IMG_BYTES), 0);
		hwrite(META_PFN * PG + 64, sig, 64);
		cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, IMG_BYTES, META_PFN * PG + 64, 0), 0);
		for (unsigned i = 0; i < IMG_BYTES / PG; i++)
			cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vmid, r.block + i, 0, 0, 0), 0);
		cr_assert_eq(pthread_create(&t, NULL, cpu1_rewrites_image, &r), 0);
		for (volatile unsigned spin = 0; spin < (round % 4) * 20000; spin++)
			;
		int64_t ok = hvc(HVC_VERIFY_VM_IMAGE, vmid, 0, 0, 0, 0);
		__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
		cr_assert_eq(pthread_join(t, NULL), 0);
		cr_assert(!hl_cpu_halted(E, 0) && !hl_cpu_halted(E, 1));
		cr_assert_eq(r.landed_after, 0, "round %u: the host wrote the image after VERIFY", round);
		cr_assert_eq(s2p(r.block).owner, vmid, "round %u: the image block is the VM's", round);
		cr_assert_eq(hl_vm_mem_access(E, 0, vmid, hl_pa(r.block * PG), now, IMG_BYTES, false), HL_OK);
		if (ok == 1) {
			verified++;
			cr_assert_eq(E->st->info[vmid]->state, HL_VM_VERIFIED);
			cr_assert(memcmp(now, img, IMG_BYTES) == 0,
				  "round %u: a VERIFIED VM runs bytes the signature does not cover", round);
		} else {
			refused++;
			cr_assert_eq(ok, 0);
			cr_assert_eq(E->st->info[vmid]->state, HL_VM_READY);
		}
	}
	cr_log_info("verify vs rewriting host: %u verified, %u refused", verified, refused);
	oracle_holds();
}

/* ---- vCPU state: the seed's halt branches strand nothing and touch no VM (4 CPUs) ---------------- */
/*
 * VCPU_RUN of a vCPU that cannot run: not registered, of a VM whose image is not verified,
 * already running on another CPU, of a powered-off VM. The seed halts the CPU in
 * set_vcpu_active (REFERENCE 5.1: VM VERIFIED and vCPU READY, otherwise halt), and SPEC §17
 * keeps that halt. Asserted here: only that CPU halts, it holds no lock (the step halts
 * holding nothing, so the VM's vminfo is never stranded), nothing but its halt record
 * changed, the running vCPU is untouched, and the other CPUs keep running the VM.
 */
static void setup4(void)
{
	cr_assert(sodium_init() >= 0);
	E = th_engine(4);
	cr_assert_not_null(E);
	P = th_platform(E, &K);
	cr_assert_not_null(P);
	CPU = 0;
}

TestSuite(redteam3_halt, .init = setup4, .fini = teardown, .timeout = 120);

/* VCPU_RUN on CPU `cpu` must halt it, change no state (only logs may gain the halt record) */
static void run_halts(unsigned cpu, uint32_t vmid, uint64_t vcpuid)
{
	struct th_snap s;
	unsigned prev = CPU;

	on_cpu(cpu);
	th_snap_take(E, K, &s);
	(void)hp_hvc(P, cpu, HVC_VCPU_RUN, vmid, vcpuid, 0, 0, 0);
	cr_assert(hl_cpu_halted(E, (int)cpu), "VCPU_RUN(%u, %llu) on cpu %u did not halt", vmid,
		  (unsigned long long)vcpuid, cpu);
	cr_assert_eq(hl_engine_nheld(E, (int)cpu), 0, "the halted cpu %u strands a lock", cpu);
	for (unsigned o = 0; o < HL_ID_END; o++)
		cr_assert_eq(hl_state_obj_digest(E->st, o), s.dig[o], "object %u changed", o);
	for (uint64_t i = 0; i < HL_RAM_SIZE / PG; i++)
		cr_assert_eq(hl_page_digest(hl_ram_page(E, HL_RAM_BASE_PFN + i)), s.ram[i], "page %llu changed",
			     (unsigned long long)i);
	th_snap_free(&s);
	on_cpu(prev);
}

static volatile int INNER_DONE;

/* vCPU 0's guest, on CPU 0: while it runs, CPU 3 asks for vCPU 0 as well */
static void *cpu3_runs_the_same_vcpu(void *arg)
{
	uint32_t vmid = (uint32_t)(uintptr_t)arg;
	hp_enter_cpu(P, 3);
	(void)hp_hvc(P, 3, HVC_VCPU_RUN, vmid, 0, 0, 0, 0);
	return NULL;
}

static uint32_t RUNNING_VM;
static uint64_t GUEST_X5_BEFORE, GUEST_X5_AFTER;

static unsigned g_while_running(void *arg, uint64_t *x)
{
	pthread_t t;
	(void)arg;
	G_N++;
	x[5] = 0x5EC2E7;
	GUEST_X5_BEFORE = x[5];
	cr_assert_eq(pthread_create(&t, NULL, cpu3_runs_the_same_vcpu, (void *)(uintptr_t)RUNNING_VM), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	INNER_DONE = 1;
	GUEST_X5_AFTER = x[5];
	arch_write_sysreg(SR_ELR_EL2, arch_read_sysreg(SR_ELR_EL2));
	return 0;   /* IRQ exit */
}

Test(redteam3_halt, vcpu_run_refusals_halt_only_that_cpu)
{
	uint32_t vmid = boot_vm();
	uint32_t unverified = register_vm();

	/* a vCPU never registered (vCPU 5; 0 and 1 are) */
	run_halts(1, vmid, 5);
	/* a VM whose image was never verified */
	run_halts(2, unverified, 0);
	/* the VM keeps running on CPU 0: its first run, with CPU 3 asking for the same vCPU
	 * meanwhile (that CPU halts; the guest's registers and its run are untouched) */
	RUNNING_VM = vmid;
	INNER_DONE = 0;
	hosted_set_guest_runner(g_while_running, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), 0);
	cr_assert_eq(INNER_DONE, 1);
	cr_assert(hl_cpu_halted(E, 3), "a vCPU ran on two CPUs at once");
	cr_assert_eq(hl_engine_nheld(E, 3), 0);
	cr_assert_eq(GUEST_X5_AFTER, GUEST_X5_BEFORE);
	cr_assert_eq(E->st->info[vmid]->vcpu_state[0], HL_VCPU_READY, "vCPU 0 is back to READY");
	cr_assert(!hl_cpu_halted(E, 0));
	/* and runs again on CPU 0, then powers the VM off; after that no CPU runs it (CPU 0 halts:
	 * the last CPU, so the rest is checked before) */
	poweroff(vmid);
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_POWEROFF);
	run_halts(0, vmid, 1);
	cr_assert_eq(hp_halted_cpus(P), 4);
	oracle_holds();
}

/*
 * test_hostile.c - a hostile host against KCore's isolation (issue 9; SPEC §8, §12-§14, §17),
 * through the host's real interfaces on the hosted trap layer: hypercalls (hp_hvc), host
 * memory accesses (hp_host_load/store), fault answers written into the host's vcpu struct
 * and applied by VCPU_RUN, scripted guests.
 *
 * Every refused attack is checked to change nothing with the th_snap helpers: the digest
 * of every engine object, the record count of every log, every RAM page, the emulated SMMU
 * registers and the halted CPUs, before and after. A VCPU_RUN's own effects (its
 * OVM_ACTIVE / OVM_INACTIVE records on vminfo(vmid), the exit information it writes into
 * the host's vcpu struct) are the only exceptions, and are named where used.
 *
 * Engines have 2 CPUs; CPU 0 does the work. The memory layout is test_trap.c's.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
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

/* ---- literal constants (REFERENCE §2.3) ------------------------------------------------------ */
#include "hostile_harness.h"
}

/* every SMMU entry, in every bank, counted per output pfn: dma must equal it, and a host
 * page's count must equal the number of host-bank entries that map it (SPEC §12) */
struct dma_census {
	uint32_t dma[HL_RAM_PAGES];
	uint32_t host[HL_RAM_PAGES];
	bool host_bank;
};

static void census_leaf(uint64_t gfn, const struct hl_pt_entry *e, void *arg)
{
	struct dma_census *c = arg;
	(void)gfn;
	cr_assert(hl_pfn_is_ram(e->pfn), "an SMMU entry maps pfn %#llx outside RAM", (unsigned long long)e->pfn);
	c->dma[e->pfn - HL_RAM_BASE_PFN]++;
	if (c->host_bank)
		c->host[e->pfn - HL_RAM_BASE_PFN]++;
}

static void dma_counts_are_exact(void)
{
	static struct dma_census c;

	memset(&c, 0, sizeof(c));
	for (unsigned bank = 0; bank < HL_SMMU_CFG_SIZE; bank++) {
		uint32_t owner = E->st->smmu->owner[bank];
		c.host_bank = owner == HL_HOSTVISOR;
		hl_spt_for_each(E->st->spt, bank, census_leaf, &c);
	}
	for (uint64_t i = 0; i < HL_RAM_PAGES; i++) {
		struct hl_s2page p = E->st->s2p->page[i];
		cr_assert_eq(p.dma, c.dma[i], "pfn %#llx: dma %u, but %u SMMU entries map it",
			     (unsigned long long)(HL_RAM_BASE_PFN + i), p.dma, c.dma[i]);
		if (p.owner == HL_HOSTVISOR)
			cr_assert_eq(p.count, c.host[i], "host pfn %#llx: count %u, but %u host-bank entries",
				     (unsigned long long)(HL_RAM_BASE_PFN + i), p.count, c.host[i]);
	}
}

/* every SMMU entry of a bank maps a page of that bank's owner (a freed bank maps nothing) */
struct bank_check {
	uint32_t owner;
	unsigned bank;
};

static void bank_leaf(uint64_t gfn, const struct hl_pt_entry *e, void *arg)
{
	struct bank_check *b = arg;
	cr_assert_neq(b->owner, HL_INVALID, "free bank %u still maps iova %#llx -> pfn %#llx", b->bank,
		      (unsigned long long)(gfn * PG), (unsigned long long)e->pfn);
	cr_assert_eq(s2p(e->pfn).owner, b->owner, "bank %u (owner %u) maps pfn %#llx of owner %u", b->bank,
		     b->owner, (unsigned long long)e->pfn, s2p(e->pfn).owner);
}

static void banks_map_only_their_owners_pages(void)
{
	for (unsigned bank = 0; bank < HL_SMMU_CFG_SIZE; bank++) {
		struct bank_check b = { E->st->smmu->owner[bank], bank };
		hl_spt_for_each(E->st->spt, bank, bank_leaf, &b);
	}
}

TestSuite(hostile, .init = setup, .fini = teardown, .timeout = 120);

/* ============================================================================================ */
/* hole 1: stale DMA after teardown (SPEC §12)                                                     */
/* ============================================================================================ */

/*
 * A VM's DMA page: the host gives it to the VM through the VM's SMMU bank while the VM is
 * READY, the guest later faults on it and the host maps it into the VM too. After power
 * off, CLEAR_VM_S2_RANGE must not hand it back while the bank maps it (a later owner's
 * data would be readable by DMA through that bank); SMMU_FREE_PGD unmaps everything the
 * bank mapped, and then the page can be cleared. Counts stay exact throughout.
 */
Test(hostile, stale_dma_clear_refused_while_a_bank_maps_the_page)
{
	const uint64_t pfn = GPAGE(0), gfn = G_PAGE / PG;
	const unsigned cb = 3, index = 1;
	uint32_t vmid = register_vm();

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, cb, vmid, index, 0, 0), 0);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, gfn * PG, pfn * PG, 3, cb, index), 0);
	cr_assert_eq(s2p(pfn).owner, vmid);
	cr_assert_eq(s2p(pfn).dma, 1);
	cr_assert_eq(swalk(index, cb, gfn * PG).pfn, pfn);
	dma_counts_are_exact();

	verify_vm(vmid);
	run_faulting(vmid, 0, G_PAGE);
	answer_applied(vmid, 0, G_PAGE, pfn * PG | KERNEL, 3);
	cr_assert_eq(walk(vmid, G_PAGE).pfn, pfn, "the VM did not get its DMA page");
	cr_assert_eq(s2p(pfn).count, 0);
	cr_assert_eq(s2p(pfn).dma, 1);
	poweroff(vmid);

	/* the host wants the page back while the VM's bank still maps it: refused, whole */
	REFUSED(KC_EPERM, HVC_CLEAR_VM_S2_RANGE, vmid, GUEST_RAM, 16 * PG, 0, 0);
	cr_assert_eq(s2p(pfn).owner, vmid);
	/* the image block holds no DMA page: it comes back */
	cr_assert_eq(hvc(HVC_CLEAR_VM_S2_RANGE, vmid, LOAD_ADDR, PMD, 0, 0), 0);
	cr_assert_eq(s2p(BLOCK_PFN).owner, HL_HOSTVISOR);

	/* freeing the bank unmaps what it mapped */
	cr_assert_eq(hvc(HVC_SMMU_FREE_PGD, cb, index, 0, 0, 0), 0);
	cr_assert_eq(E->st->smmu->owner[HL_SMMU_ID_OF(index, cb)], HL_INVALID);
	cr_assert_eq(swalk(index, cb, gfn * PG).pte, 0, "a freed bank still maps the page");
	cr_assert_eq(hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, gfn * PG, cb, index, 0, 0), 0);
	cr_assert_eq(s2p(pfn).dma, 0);
	dma_counts_are_exact();
	banks_map_only_their_owners_pages();

	/* now it comes back, zeroed */
	cr_assert_eq(hvc(HVC_CLEAR_VM_S2_RANGE, vmid, GUEST_RAM, 16 * PG, 0, 0), 0);
	cr_assert_eq(s2p(pfn).owner, HL_HOSTVISOR);
	cr_assert_eq(s2p(pfn).count, 0);
	cr_assert_eq(s2p(pfn).dma, 0);
	dma_counts_are_exact();
	cr_assert_eq(th_replay_matches(E), 0);
}

/* the whole range is validated first: a DMA-mapped page late in the range refuses the
 * call before the earlier pages move */
Test(hostile, stale_dma_clear_range_is_all_or_nothing)
{
	const uint64_t dma_pfn = GPAGE(1), gfn = (G_PAGE + 3 * PG) / PG;
	const unsigned cb = 1, index = 0;
	uint32_t vmid = register_vm();

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, cb, vmid, index, 0, 0), 0);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, gfn * PG, dma_pfn * PG, 3, cb, index), 0);
	verify_vm(vmid);
	run_faulting(vmid, 0, G_PAGE);
	answer_applied(vmid, 0, G_PAGE, GPAGE(0) * PG | KERNEL, 3);
	run_faulting(vmid, 0, gfn * PG);
	answer_applied(vmid, 0, gfn * PG, dma_pfn * PG | KERNEL, 3);
	poweroff(vmid);
	REFUSED(KC_EPERM, HVC_CLEAR_VM_S2_RANGE, vmid, GUEST_RAM, 16 * PG, 0, 0);
	cr_assert_eq(s2p(GPAGE(0)).owner, vmid, "an earlier page of a refused range moved");
}

/* a freed bank leaves nothing mapped: nothing can be DMAed through it afterwards, and its
 * pages' counts come back down (host bank freed as part of a powered-off VM's teardown) */
Test(hostile, stale_dma_free_pgd_unmaps_every_entry)
{
	const unsigned cb = 2, index = 0;
	uint32_t vmid = register_vm();

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, cb, vmid, index, 0, 0), 0);
	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, (0x100 + i * 300) * PG, GPAGE(10 + i) * PG, 3, cb, index), 0);
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, PG, META_PFN * PG + 64, 0), 0);   /* READY */
	/* power off through the engine (the VM never verified, so it cannot run) */
	cr_assert_eq(hl_set_vm_poweroff(E, 0, vmid), HL_OK);
	cr_assert_eq(hvc(HVC_SMMU_FREE_PGD, cb, index, 0, 0, 0), 0);
	for (unsigned i = 0; i < 5; i++) {
		cr_assert_eq(swalk(index, cb, (0x100 + i * 300) * PG).pte, 0);
		cr_assert_eq(s2p(GPAGE(10 + i)).dma, 0);
	}
	dma_counts_are_exact();
	banks_map_only_their_owners_pages();
	/* a new owner of the bank starts empty, and DMA through the old iovas finds nothing */
	uint32_t vm2 = register_vm();
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, cb, vm2, index, 0, 0), 0);
	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, (0x100 + i * 300) * PG, cb, index, 0, 0), 0);
	cr_assert_eq(th_replay_matches(E), 0);
}

/*
 * SMMU_CLEAR lowers a host page's DMA count only for the host's own bank's entry. A VM
 * bank's entry pointing at a page the host owns (the seed let CLEAR_VM_S2_RANGE create one)
 * must not lower the count that the host's bank holds. The stale entry is planted in the
 * state directly: the other rules no longer let the host build it.
 */
Test(hostile, smmu_clear_of_a_vm_bank_entry_keeps_the_host_count)
{
	const uint64_t pfn = GPAGE(20), gfn = 0x300;
	uint32_t vmid = register_vm();

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 0, HL_HOSTVISOR, 0, 0, 0), 0);   /* host bank (0,0) */
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 1, vmid, 0, 0, 0), 0);           /* VM bank (0,1) */
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, gfn * PG, pfn * PG, 3, 1, 0), 0);   /* VM's page now */
	/* plant the seed's hole: the page went back to the host under the bank's entry */
	E->st->s2p->page[pfn - HL_RAM_BASE_PFN] = (struct hl_s2page){ HL_HOSTVISOR, 0, pfn + HOST_OFF, 1, 0 };
	/* the host's own bank maps it too: count 1, dma 2 */
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, pfn * PG, pfn * PG, 3, 0, 0), 0);
	cr_assert_eq(s2p(pfn).count, 1);
	cr_assert_eq(s2p(pfn).dma, 2);
	/* clearing the VM bank's entry: dma 1, the host's count stays 1 */
	cr_assert_eq(hvc(HVC_SMMU_CLEAR, gfn * PG, 1, 0, 0, 0), 0);
	cr_assert_eq(s2p(pfn).dma, 1);
	cr_assert_eq(s2p(pfn).count, 1, "a VM bank's entry lowered the host's DMA count");
	/* so the page cannot be given away while the host's bank maps it */
	uint32_t vm2 = register_vm();
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 2, vm2, 0, 0, 0), 0);
	on_cpu(1);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, 0x500 * PG, pfn * PG, 3, 2, 0), KC_EBUSY);   /* seed: halt */
	cr_assert_eq(s2p(pfn).owner, HL_HOSTVISOR);
}

/* SMMU_LPAE_MAP over an iova the bank maps already is refused before the page moves; the
 * old entry keeps its page, every count stays exact */
Test(hostile, smmu_map_over_a_mapped_iova_refused)
{
	const unsigned cb = 4, index = 0;
	const uint64_t iova = 0x777 * PG;
	uint32_t vmid = register_vm();

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, cb, vmid, index, 0, 0), 0);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, iova, GPAGE(30) * PG, 3, cb, index), 0);
	REFUSED(KC_EPERM, HVC_SMMU_LPAE_MAP, iova, GPAGE(31) * PG, 3, cb, index);
	cr_assert_eq(s2p(GPAGE(31)).owner, HL_HOSTVISOR, "the refused map took the page");
	/* the step itself refuses it too (OSMMU_MAP over a mapped iova: the seed overwrote it) */
	{
		struct th_snap s;
		th_snap_take(E, K, &s);
		cr_assert_eq(hl_smmu_map_page(E, 0, cb, index, hl_iova(iova), GPAGE(30) * PG | 0x7C3), HL_E_DENIED);
		cr_assert_eq(th_snap_diff(E, K, &s), 0);
		th_snap_free(&s);
	}
	cr_assert_eq(swalk(index, cb, iova).pfn, GPAGE(30));
	/* the same page again: also refused (the seed remapped it and counted it twice) */
	REFUSED(KC_EPERM, HVC_SMMU_LPAE_MAP, iova, GPAGE(30) * PG, 3, cb, index);
	/* host bank: mapping its identity iova twice is refused, the count stays 1 */
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 5, HL_HOSTVISOR, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, GPAGE(32) * PG, GPAGE(32) * PG, 3, 5, 0), 0);
	REFUSED(KC_EPERM, HVC_SMMU_LPAE_MAP, GPAGE(32) * PG, GPAGE(32) * PG, 1, 5, 0);
	cr_assert_eq(s2p(GPAGE(32)).count, 1);
	dma_counts_are_exact();
	cr_assert_eq(th_replay_matches(E), 0);
}

/* engine level: the ownership rule at each step that moves a page (OCLEAR_VM, OASSIGN_VM,
 * OASSIGN_SMMU), with dma planted where no host call can build it now */
Test(hostile, page_with_dma_never_changes_owner)
{
	const uint64_t pfn = GPAGE(40);
	uint32_t vmid = register_vm();
	struct th_snap s;

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 6, vmid, 0, 0, 0), 0);
	/* a host page with dma but count 0 */
	E->st->s2p->page[pfn - HL_RAM_BASE_PFN].dma = 1;
	th_snap_take(E, K, &s);
	cr_assert_eq(hl_assign_pfn_to_vm(E, 0, vmid, 0x900, pfn), HL_E_DENIED);
	cr_assert_eq(hl_smmu_assign_page(E, 0, 6, 0, pfn, 0x900), HL_E_DENIED);
	cr_assert_eq(th_snap_diff(E, K, &s), 0);
	th_snap_free(&s);
	/* a VM page with dma */
	E->st->s2p->page[pfn - HL_RAM_BASE_PFN] = (struct hl_s2page){ vmid, 0, 0x900, 1, 0 };
	th_snap_take(E, K, &s);
	cr_assert_eq(hl_clear_vm_page(E, 0, vmid, pfn), HL_E_DENIED);
	cr_assert_eq(th_snap_diff(E, K, &s), 0);
	th_snap_free(&s);
	cr_assert(!hl_cpu_halted(E, 0));
}

/* ============================================================================================ */
/* hole 2: a fault answer never replaces what the VM has (SPEC §13)                                */
/* ============================================================================================ */

/* two vCPUs fault on one gfn; the host answers the second with another page */
Test(hostile, fault_answer_over_a_mapped_page_refused)
{
	uint32_t vmid = boot_vm();

	hstore(GPAGE(1) * PG, 0x5EC2E7);   /* the host's data, meant to replace the VM's page */
	run_faulting(vmid, 0, G_PAGE);
	run_faulting(vmid, 1, G_PAGE);
	answer_applied(vmid, 0, G_PAGE, GPAGE(0) * PG | KERNEL, 3);
	cr_assert_eq(walk(vmid, G_PAGE).pfn, GPAGE(0));
	answer_refused(vmid, 1, G_PAGE, GPAGE(1) * PG | KERNEL, 3);
	cr_assert_eq(walk(vmid, G_PAGE).pfn, GPAGE(0), "the host replaced the VM's page");
	cr_assert_eq(s2p(GPAGE(1)).owner, HL_HOSTVISOR);
	/* the same page again is refused as well: the entry is set once */
	answer_refused(vmid, 1, G_PAGE, GPAGE(0) * PG | KERNEL, 3);
	cr_assert_eq(th_replay_matches(E), 0);
}

/* a level-2 block answer over a region that has a level-3 table */
Test(hostile, fault_answer_block_over_a_table_refused)
{
	uint32_t vmid = boot_vm();

	run_faulting(vmid, 0, G_BLOCK + 7 * PG);
	run_faulting(vmid, 1, G_BLOCK);
	answer_applied(vmid, 0, G_BLOCK + 7 * PG, GPAGE(0) * PG | KERNEL, 3);
	answer_refused(vmid, 1, G_BLOCK, FREE_BLOCK_PFN * PG | KERNEL, 2);
	cr_assert_eq(walk(vmid, G_BLOCK + 7 * PG).pfn, GPAGE(0));
	cr_assert_eq(walk(vmid, G_BLOCK + 7 * PG).level, 3);
	for (unsigned i = 0; i < 512; i++)
		cr_assert_eq(s2p(FREE_BLOCK_PFN + i).owner, HL_HOSTVISOR);
	/* the same block for another address in that region: the same table is there */
	answer_refused(vmid, 1, G_BLOCK + 300 * PG, FREE_BLOCK_PFN * PG | KERNEL, 2);
	cr_assert_eq(th_replay_matches(E), 0);
}

/* a level-3 page answer inside a 2 MiB block the VM has (the seed halts the CPU) */
Test(hostile, fault_answer_page_inside_a_block_refused)
{
	uint32_t vmid = boot_vm();

	run_faulting(vmid, 0, G_BLOCK);
	run_faulting(vmid, 1, G_BLOCK + 9 * PG);
	answer_applied(vmid, 0, G_BLOCK, FREE_BLOCK_PFN * PG | KERNEL, 2);
	cr_assert_eq(walk(vmid, G_BLOCK + 9 * PG).level, 2);
	answer_refused(vmid, 1, G_BLOCK + 9 * PG, GPAGE(2) * PG | KERNEL, 3);
	cr_assert_eq(walk(vmid, G_BLOCK + 9 * PG).pfn, FREE_BLOCK_PFN + 9);
	cr_assert_eq(s2p(GPAGE(2)).owner, HL_HOSTVISOR);
	/* a block over the block */
	answer_refused(vmid, 1, G_BLOCK, (FREE_BLOCK_PFN + 512) * PG | KERNEL, 2);
	cr_assert_eq(th_replay_matches(E), 0);
}

/* the step itself (OMAP_VM, OMAP_IO): set-once, refused with nothing appended */
Test(hostile, map_vm_and_map_io_never_replace_an_entry)
{
	uint32_t vmid = register_vm();
	struct th_snap s;
	const uint64_t gpa = 0x0C000000, dev = 0x0A000000;

	cr_assert_eq(hvc(HVC_PHYS_ADDR_IOREMAP, vmid, gpa, dev, PG, 0), 0);
	cr_assert_eq(walk(vmid, gpa).pfn, dev / PG);
	/* OMAP_IO over a RAM page of the VM: refused (a device page over a device page stays
	 * the seed's overwrite: the VM has not run, and no memory of its is replaced) */
	cr_assert_eq(hl_map_pfn_vm(E, 0, vmid, hl_ipa(gpa + 2 * PG), GPAGE(6) * PG, 3), HL_OK);
	REFUSED(KC_EPERM, HVC_PHYS_ADDR_IOREMAP, vmid, gpa + 2 * PG, dev, PG, 0);
	cr_assert_eq(walk(vmid, gpa + 2 * PG).pfn, GPAGE(6));
	th_snap_take(E, K, &s);
	cr_assert_eq(hl_map_pfn_vm(E, 0, vmid, hl_ipa(gpa), GPAGE(3) * PG, 3), HL_E_DENIED);
	cr_assert_eq(hl_map_pfn_vm(E, 0, vmid, hl_ipa(gpa & ~(PMD - 1)), FREE_BLOCK_PFN * PG, 2), HL_E_DENIED);
	cr_assert_eq(th_snap_diff(E, K, &s), 0);
	th_snap_free(&s);
	cr_assert_eq(hl_map_pfn_vm(E, 0, vmid, hl_ipa(G_BLOCK), FREE_BLOCK_PFN * PG, 2), HL_OK);
	th_snap_take(E, K, &s);
	cr_assert_eq(hl_map_pfn_vm(E, 0, vmid, hl_ipa(G_BLOCK + PG), GPAGE(3) * PG, 3), HL_E_DENIED);
	cr_assert_eq(hl_map_vm_io(E, 0, vmid, hl_ipa(G_BLOCK + PG), hl_pa(dev)), HL_E_DENIED);
	cr_assert_eq(th_snap_diff(E, K, &s), 0);
	th_snap_free(&s);
	cr_assert(!hl_cpu_halted(E, 0));
	cr_assert_eq(th_replay_matches(E), 0);
}

/* IOREMAP into a 2 MiB block a READY VM has (e.g. its image, loaded by a VERIFY whose
 * signature failed): the seed's OMAP_IO halts inside a block; it is refused */
Test(hostile, ioremap_inside_a_block_refused_not_halted)
{
	uint32_t vmid = register_vm();

	cr_assert_eq(hl_map_pfn_vm(E, 0, vmid, hl_ipa(LOAD_ADDR), FREE_BLOCK_PFN * PG, 2), HL_OK);
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_READY);
	REFUSED(KC_EPERM, HVC_PHYS_ADDR_IOREMAP, vmid, LOAD_ADDR + 3 * PG, 0x0A000000, PG, 0);
	cr_assert_eq(walk(vmid, LOAD_ADDR + 3 * PG).pfn, FREE_BLOCK_PFN + 3);
}

/* ============================================================================================ */
/* hole 3: a malformed level-2 answer changes nothing (SPEC §14)                                    */
/* ============================================================================================ */

Test(hostile, fault_answer_level2_unaligned_frame_changes_nothing)
{
	uint32_t vmid = boot_vm();

	run_faulting(vmid, 0, G_BLOCK);
	answer_refused(vmid, 0, G_BLOCK, (FREE_BLOCK_PFN + 1) * PG | KERNEL, 2);
	for (unsigned i = 0; i < 513; i++)
		cr_assert_eq(s2p(FREE_BLOCK_PFN + i).owner, HL_HOSTVISOR, "page %u moved", i);
	/* the guest faults again and a good answer still works */
	answer_applied(vmid, 0, G_BLOCK, FREE_BLOCK_PFN * PG | KERNEL, 2);
	cr_assert_eq(walk(vmid, G_BLOCK + 511 * PG).pfn, FREE_BLOCK_PFN + 511);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(hostile, fault_answer_level2_past_the_end_of_ram_changes_nothing)
{
	uint32_t vmid = boot_vm();

	run_faulting(vmid, 0, G_BLOCK);
	/* 100 pages of RAM left from the frame: the seed assigned them, then the map failed */
	answer_refused(vmid, 0, G_BLOCK, (LAST_PFN - 99) * PG | KERNEL, 2);
	for (unsigned i = 0; i < 100; i++)
		cr_assert_eq(s2p(LAST_PFN - 99 + i).owner, HL_HOSTVISOR);
	/* a frame beyond RAM, and one not RAM at all */
	answer_refused(vmid, 0, G_BLOCK, RAM_END | KERNEL, 2);
	answer_refused(vmid, 0, G_BLOCK, 0x200000 | KERNEL, 2);
	cr_assert_eq(th_replay_matches(E), 0);
}

/* one page in the middle of the block cannot move (the host's SMMU bank maps it): the
 * seed halted the CPU at page 300 with 300 pages the VM's and unmapped */
Test(hostile, fault_answer_level2_with_a_busy_page_changes_nothing)
{
	uint32_t vmid = boot_vm();
	const uint64_t busy = FREE_BLOCK_PFN + 300;

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 7, HL_HOSTVISOR, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, busy * PG, busy * PG, 3, 7, 0), 0);
	run_faulting(vmid, 0, G_BLOCK);
	answer_refused(vmid, 0, G_BLOCK, FREE_BLOCK_PFN * PG | KERNEL, 2);
	for (unsigned i = 0; i < 512; i++)
		cr_assert_eq(s2p(FREE_BLOCK_PFN + i).owner, HL_HOSTVISOR);
	/* a page another VM owns, at level 3: refused, no halt (the seed halts) */
	cr_assert_eq(hl_assign_pfn_to_vm(E, 1, vmid == 1 ? 2 : 1, 0x10, GPAGE(4)), HL_OK);
	answer_refused(vmid, 0, G_PAGE, GPAGE(4) * PG | KERNEL, 3);
	cr_assert_eq(th_replay_matches(E), 0);
}

/*
 * The race the prepare must survive: two vCPUs of one VM, on two CPUs, answer the same
 * 2 MiB region at the same time with different frames. Exactly one answer lands; the
 * other's pages all stay the host's (never the VM's and unmapped). Many rounds.
 */
struct race_arg {
	uint32_t vmid;
	int cpu;
	uint64_t addr, frame;
	int rc;
	pthread_barrier_t *bar;
};

static void *race_thread(void *p)
{
	struct race_arg *a = p;
	pthread_barrier_wait(a->bar);
	a->rc = hl_vm_fault_answer(E, a->cpu, a->vmid, a->addr, a->frame * PG | KERNEL, 2);
	return NULL;
}

Test(hostile, fault_answer_race_between_two_vcpus)
{
	uint32_t vmid = th_boot_vm(E, 0, BLOCK_PFN, LOAD_ADDR);
	pthread_barrier_t bar;

	cr_assert_neq(vmid, 0);
	pthread_barrier_init(&bar, NULL, 2);
	for (unsigned round = 0; round < 12; round++) {
		uint64_t addr = GUEST_RAM + (16 + round) * PMD;
		uint64_t fa = FREE_BLOCK_PFN + round * 1024, fb = fa + 512;
		struct race_arg a = { vmid, 0, addr, fa, 0, &bar }, b = { vmid, 1, addr + 5 * PG, fb, 0, &bar };
		pthread_t ta, tb;
		pthread_create(&ta, NULL, race_thread, &a);
		pthread_create(&tb, NULL, race_thread, &b);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		cr_assert((a.rc == HL_OK) != (b.rc == HL_OK), "round %u: rc %d and %d", round, a.rc, b.rc);
		cr_assert_eq(a.rc == HL_OK ? b.rc : a.rc, HL_E_DENIED);
		uint64_t won = a.rc == HL_OK ? fa : fb, lost = a.rc == HL_OK ? fb : fa;
		for (unsigned i = 0; i < 512; i++) {
			cr_assert_eq(s2p(won + i).owner, vmid);
			cr_assert_eq(s2p(lost + i).owner, HL_HOSTVISOR, "round %u: a loser's page moved", round);
			cr_assert_eq(walk(vmid, addr + i * PG).pfn, won + i);
		}
		cr_assert(!hl_cpu_halted(E, 0) && !hl_cpu_halted(E, 1));
	}
	pthread_barrier_destroy(&bar);
	cr_assert_eq(th_replay_matches(E), 0);
}

/* ============================================================================================ */
/* issue 9 item 8 and its siblings: bad input is refused, never a halt (SPEC §17)                  */
/* ============================================================================================ */

/* a bank index valid for SMMU 0 but past SMMU 1's banks (the seed halts) */
Test(hostile, smmu_bank_past_smmu1_banks_refused_not_halted)
{
	uint32_t vmid = register_vm();

	for (unsigned cb = SMMU1_BANKS; cb < HL_SMMU_NUM_CB; cb++) {
		REFUSED(KC_EINVAL, HVC_SMMU_ALLOC_PGD, cb, vmid, 1, 0, 0);
		REFUSED(KC_EINVAL, HVC_SMMU_ALLOC_PGD, cb, HL_HOSTVISOR, 1, 0, 0);
		REFUSED(KC_EINVAL, HVC_SMMU_FREE_PGD, cb, 1, 0, 0, 0);
		REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x1000, GPAGE(5) * PG, 3, cb, 1);
		REFUSED(KC_EINVAL, HVC_SMMU_LPAE_IOVA_TO_PHYS, 0x1000, cb, 1, 0, 0);
		REFUSED(KC_EINVAL, HVC_SMMU_CLEAR, 0x1000, cb, 1, 0, 0);
	}
	/* the same bank numbers on SMMU 0 are fine */
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, SMMU1_BANKS, vmid, 0, 0, 0), 0);
	cr_assert_eq(hl_smmu_alloc_pgd(E, 0, SMMU1_BANKS, vmid, 1), HL_E_INVAL);
}

/* SET_BOOT_INFO with an image larger than the whole remap window (the seed halts) */
Test(hostile, boot_info_larger_than_the_remap_window_refused_not_halted)
{
	uint32_t vmid = register_vm();
	const uint64_t sig = META_PFN * PG + 64;

	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, REMAP_END - REMAP_START, sig, 0);
	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, REMAP_END - REMAP_START - PG + 1, sig, 0);
	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, REMAP_END, sig, 0);
	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, ~0ull, sig, 0);
	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, ~0ull - PG + 2, sig, 0);   /* wraps */
	/* the largest image that can fit still does */
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, REMAP_END - REMAP_START - PG, sig, 0), 0);
}

/* SPEC §8's bad-input classes, through hypercalls: error in x0, nothing changed, no halt */
Test(hostile, bad_input_out_of_range_pfn)
{
	uint32_t vmid = register_vm();

	REFUSED(KC_EINVAL, HVC_REMAP_VM_IMAGE, vmid, RAM_END / PG, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_REMAP_VM_IMAGE, vmid, 5, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_REMAP_VM_IMAGE, vmid, ~0ull, 0, 0, 0);
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 0, vmid, 0, 0, 0), 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x1000, RAM_END, 3, 0, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x1000, 1ull << 52, 3, 0, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x1000, 0x5000, 3, 0, 0);   /* MMIO */
}

Test(hostile, bad_input_out_of_range_vmid)
{
	const uint64_t bad[] = { 0, HL_MAX_VM + 1, HL_MAX_VM + 2, 1ull << 32, ~0ull };

	(void)register_vm();
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		REFUSED(KC_EINVAL, HVC_VCPU_RUN, bad[i], 0, 0, 0, 0);
		REFUSED(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, bad[i], GUEST_RAM, PG, 0, 0);
		REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, bad[i], LOAD_ADDR, PG, META_PFN * PG + 64, 0);
		REFUSED(KC_EINVAL, HVC_REMAP_VM_IMAGE, bad[i], GPAGE(0), 0, 0, 0);
		REFUSED(KC_EINVAL, HVC_VERIFY_VM_IMAGE, bad[i], 0, 0, 0, 0);
		REFUSED(KC_EINVAL, HVC_REGISTER_VCPU, bad[i], 0, hv_pa(0), 0, 0);
		REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, bad[i], 0x0C000000, 0x0A000000, PG, 0);
		if (bad[i] != 0)
			REFUSED(KC_EINVAL, HVC_SMMU_ALLOC_PGD, 0, bad[i], 0, 0, 0);
	}
}

Test(hostile, bad_input_out_of_range_vcpuid)
{
	uint32_t vmid = boot_vm();
	const uint64_t bad[] = { HL_VCPU_PER_VM, HL_VCPU_PER_VM + 1, 1ull << 32, ~0ull };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		REFUSED(KC_EINVAL, HVC_VCPU_RUN, vmid, bad[i], 0, 0, 0);
		REFUSED(KC_EINVAL, HVC_REGISTER_VCPU, vmid, bad[i], hv_pa(0), 0, 0);
	}
}

Test(hostile, bad_input_out_of_range_cbndx)
{
	uint32_t vmid = register_vm();
	const uint64_t bad[] = { HL_SMMU_NUM_CB, HL_SMMU_NUM_CB + 1, 1ull << 32, ~0ull };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		REFUSED(KC_EINVAL, HVC_SMMU_ALLOC_PGD, bad[i], vmid, 0, 0, 0);
		REFUSED(KC_EINVAL, HVC_SMMU_FREE_PGD, bad[i], 0, 0, 0, 0);
		REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x1000, GPAGE(5) * PG, 3, bad[i], 0);
		REFUSED(KC_EINVAL, HVC_SMMU_LPAE_IOVA_TO_PHYS, 0x1000, bad[i], 0, 0, 0);
		REFUSED(KC_EINVAL, HVC_SMMU_CLEAR, 0x1000, bad[i], 0, 0, 0);
	}
}

Test(hostile, bad_input_out_of_range_smmu_index)
{
	uint32_t vmid = register_vm();
	const uint64_t bad[] = { HL_SMMU_NUM, HL_SMMU_NUM + 1, 1ull << 32, ~0ull };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		REFUSED(KC_EINVAL, HVC_SMMU_ALLOC_PGD, 0, vmid, bad[i], 0, 0);
		REFUSED(KC_EINVAL, HVC_SMMU_FREE_PGD, 0, bad[i], 0, 0, 0);
		REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x1000, GPAGE(5) * PG, 3, 0, bad[i]);
		REFUSED(KC_EINVAL, HVC_SMMU_LPAE_IOVA_TO_PHYS, 0x1000, 0, bad[i], 0, 0);
		REFUSED(KC_EINVAL, HVC_SMMU_CLEAR, 0x1000, 0, bad[i], 0, 0);
	}
	/* the load index of REMAP_VM_IMAGE */
	REFUSED(KC_EINVAL, HVC_REMAP_VM_IMAGE, vmid, GPAGE(0), HL_MAX_LOAD_INFO, 0, 0);
	REFUSED(KC_EINVAL, HVC_REMAP_VM_IMAGE, vmid, GPAGE(0), 1ull << 32, 0, 0);
}

Test(hostile, bad_input_misaligned_address)
{
	uint32_t vmid = register_vm();

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 0, vmid, 0, 0, 0), 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x1008, GPAGE(5) * PG, 3, 0, 0);         /* iova */
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, 0x1000, GPAGE(5) * PG + 8, 3, 0, 0);     /* paddr */
	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, LOAD_ADDR + PG, PG, META_PFN * PG + 64, 0);
	REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vmid, 0x0C000004, 0x0A000000, PG, 0);
	REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vmid, 0x0C000000, 0x0A000004, PG, 0);
	cr_assert_eq(hl_set_vm_poweroff(E, 0, vmid), HL_OK);
	REFUSED(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, vmid, GUEST_RAM + 8, PG, 0, 0);
}

Test(hostile, bad_input_unknown_call)
{
	const uint64_t bad[] = { 0, 1, 2, 5, 15, 16, 17, 18, 19, 30, 99, 1000, 1ull << 32, ~0ull };

	(void)register_vm();
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		REFUSED(KC_ENOSYS, bad[i], 1, 2, 3, 4, 5);
}

/* the refusal code a host sees for an isolation rule, and that it counts as an error */
Test(hostile, denied_is_eperm_in_x0)
{
	cr_assert_eq(kc_errno(HL_E_DENIED), KC_EPERM);
	cr_assert_neq(KC_EPERM, KC_EINVAL);
	cr_assert_str_eq(hl_status_str(HL_E_DENIED), "denied by an isolation rule");
}

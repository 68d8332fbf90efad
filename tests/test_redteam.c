/*
 * test_redteam.c - the siblings of issue 9's holes (H10's red-team pass): the same mistakes
 * looked for elsewhere, each attack driven through the host's and the guest's real
 * interfaces (hypercalls, host memory, fault answers in the host's vcpu struct, guest PV
 * calls) on the hosted trap layer, each asserting refusal with nothing changed (the
 * th_snap helpers: every object digest, record count, RAM page, emulated SMMU register and
 * halted CPU) and, at the end, that the oracles (hl_check_engine: H_CalLock, sync_shared,
 * serializability, CalStateH, the security invariants) still hold on the engine's logs.
 *
 * Attacks that got through before their fix (each test fails on the old code):
 *   boot_info_size_zero_refused                 SET_BOOT_INFO size 0 was accepted
 *   boot_info_image_past_the_ipa_space_refused  an image running past 2^48 was accepted;
 *                                               VERIFY then loaded chunk 0 and failed on
 *                                               chunk 1 (a refused call changed state)
 *   ioremap_range_is_all_or_nothing             IOREMAP mapped the pages before a refused one
 *   verify_with_a_busy_page_in_a_later_chunk... VERIFY moved chunk 0 to the VM, then halted
 *                                               on a page it could not take (SPEC §14)
 *   remap_of_another_vms_page_loads_nothing     the same through REMAP_VM_IMAGE of a page
 *                                               another VM owns
 *   pv_grant_of_size_zero_shares_nothing        a guest grant of 0 bytes shared a page
 *   remap_of_one_frame_for_two_chunks_...       VERIFY loaded chunk 0, then halted on a frame
 *                                               chunk 1 shared with it
 *   mmio_*_without_syndrome_*                   an MMIO exit with ESR.ISV = 0 handed the host
 *                                               the guest's x0 / let it set a register
 *   mmio_load_gets_only_the_bytes_it_loaded     the host set all 64 bits of `ldr w7`'s register
 *   vcpu_registered_but_not_reset_never_...     a vCPU READY before its shadow was reset ran
 *                                               from PC 0, past the boot-PC check
 * (test_redteam_smp.c: CLEAR_VM_S2_RANGE while a vCPU of the powered-off VM still runs.)
 * The others are attacks that were already refused; they stay as regression tests.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "hl_access.h"
#include "hl_check.h"
#include "hl_file.h"
#include "hl_osrc.h"
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


/* the oracles hold on the logs of the run (the refused attacks appended nothing wrong) */
static void oracle_holds(void)
{
	char why[512];
	int rc;

	cr_assert_eq(th_oracle_holds(E, why, sizeof(why)), 0, "%s", why);
	/* and `hyplog check` on the run's log file, when the test knows the binary (HYPLOG) */
	const char *bin = getenv("HYPLOG");
	if (bin) {
		char path[128], cmd[512];
		struct hl_file_err fe;
		snprintf(path, sizeof(path), "/tmp/test_redteam_%d.hlog", (int)getpid());
		cr_assert_eq(hl_file_write(E, path, &fe), 0, "%s", fe.msg);
		snprintf(cmd, sizeof(cmd), "'%s' check '%s' >/dev/null 2>&1", bin, path);
		rc = system(cmd);
		unlink(path);
		cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "`hyplog check` on the attack's log: status %d", rc);
	}
}

/* an engine call that must be refused with `want` and change nothing */
#define ENGINE_REFUSED(want, call)                                                                 \
	do {                                                                                       \
		struct th_snap _s;                                                                 \
		th_snap_take(E, K, &_s);                                                           \
		int _r = (call);                                                                   \
		cr_assert_eq(_r, (want), "line %d: %s returned %d, want %d", __LINE__, #call, _r, (want)); \
		cr_assert_eq(th_snap_diff(E, K, &_s), 0, "line %d: %s changed state", __LINE__, #call); \
		th_snap_free(&_s);                                                                 \
	} while (0)

TestSuite(redteam, .init = setup, .fini = teardown, .timeout = 120);

/* ============================================================================================ */
/* SET_BOOT_INFO: sizes and addresses at the edges (SPEC §17)                                      */
/* ============================================================================================ */

/* size 0: the seed halts on it (pgnum == 0, REFERENCE §5.1), the engine took it and reserved
 * nothing. Host input: refused with EINVAL, nothing changed, no halt. */
Test(redteam, boot_info_size_zero_refused)
{
	uint32_t vmid = register_vm();
	uint8_t sig[64];

	memset(sig, 0x5A, sizeof(sig));
	hwrite(META_PFN * PG + 64, sig, 64);
	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, 0, META_PFN * PG + 64, 0);
	ENGINE_REFUSED(HL_E_INVAL, hl_set_boot_info(E, 0, vmid, hl_ipa(LOAD_ADDR), 0, sig, NULL));
	cr_assert_eq(E->st->info[vmid]->next_load_info, 0);
	/* one byte is an image */
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, 1, META_PFN * PG + 64, 0), 0);
	cr_assert(!hl_cpu_halted(E, 0));
	oracle_holds();
}

/* an image whose load region runs past the 2^48 IPA space: VERIFY would load its first
 * 2 MiB chunk, then fail on the next (gfn >= 2^36), leaving the first one loaded */
Test(redteam, boot_info_image_past_the_ipa_space_refused)
{
	uint32_t vmid = register_vm();
	const uint64_t top = 1ull << 48;

	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, top - PMD, PMD + PG, META_PFN * PG + 64, 0);
	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, top - PMD, 2 * PMD, META_PFN * PG + 64, 0);
	REFUSED(KC_EINVAL, HVC_SET_BOOT_INFO, vmid, top, PG, META_PFN * PG + 64, 0);
	/* the last 2 MiB of the space is fine */
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vmid, top - PMD, PMD, META_PFN * PG + 64, 0), 0);
	cr_assert(!hl_cpu_halted(E, 0));
	oracle_holds();
}

/* ============================================================================================ */
/* multi-page host calls are all or nothing (SPEC §14)                                             */
/* ============================================================================================ */

/* a READY VM whose image did not verify keeps its image block (hl_verify's load); the
 * host IOREMAPs a range whose first page is free and whose second lies in that block */
static uint32_t ready_vm_with_loaded_block(void)
{
	uint32_t vmid = register_vm();
	uint8_t sig[64];

	memset(sig, 0x11, sizeof(sig));   /* not a signature of anything */
	hwrite(META_PFN * PG + 64, sig, 64);
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, IMG_BYTES, META_PFN * PG + 64, 0), 0);
	for (unsigned i = 0; i < IMG_BYTES / PG; i++)
		cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vmid, BLOCK_PFN + i, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_VERIFY_VM_IMAGE, vmid, 0, 0, 0, 0), 0);
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_READY);
	cr_assert_eq(walk(vmid, LOAD_ADDR).level, 2, "the image block is loaded");
	return vmid;
}

Test(redteam, ioremap_range_is_all_or_nothing)
{
	uint32_t vmid = ready_vm_with_loaded_block();
	const uint64_t dev = 0x0A000000;

	/* page 0 free, page 1 inside the VM's image block */
	REFUSED(KC_EPERM, HVC_PHYS_ADDR_IOREMAP, vmid, LOAD_ADDR - PG, dev, 2 * PG, 0);
	cr_assert_eq(walk(vmid, LOAD_ADDR - PG).level, 0, "the page before the refused one was mapped");
	/* a RAM page of the VM at level 3 in the middle of a range */
	cr_assert_eq(hl_assign_pfn_to_vm(E, 0, vmid, G_PAGE / PG, GPAGE(7)), HL_OK);
	cr_assert_eq(hl_map_pfn_vm(E, 0, vmid, hl_ipa(G_PAGE), GPAGE(7) * PG, 3), HL_OK);
	REFUSED(KC_EPERM, HVC_PHYS_ADDR_IOREMAP, vmid, G_PAGE - 3 * PG, dev, 5 * PG, 0);
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(walk(vmid, G_PAGE - (3 - i) * PG).level, 0);
	/* the free range alone is mapped */
	cr_assert_eq(hvc(HVC_PHYS_ADDR_IOREMAP, vmid, G_PAGE - 3 * PG, dev, 3 * PG, 0), 0);
	cr_assert_eq(walk(vmid, G_PAGE - PG).pfn, dev / PG + 2);
	cr_assert(!hl_cpu_halted(E, 0));
	oracle_holds();
}

/* IOREMAP ranges at the edges: overflow, IPA past 2^48, pa past RAM, size 0 */
Test(redteam, ioremap_edges_refused)
{
	uint32_t vmid = register_vm();
	const uint64_t top = 1ull << 48;

	REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vmid, top - PG, 0x0A000000, 2 * PG, 0);
	REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vmid, top, 0x0A000000, PG, 0);
	REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vmid, 0x1000, 0x0A000000, 0, 0);
	REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vmid, 0x1000, 0x0A000000, 0ull - PG, 0);
	REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vmid, 0x1000, RAM_END, PG, 0);
	REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vmid, 0x1000, RAM_END - PG, 2 * PG, 0);
	REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vmid, 0x1000, 0ull - PG, PG, 0);
	oracle_holds();
}

/*
 * VERIFY's loads are validated whole (SPEC §14): a 2 MiB chunk after the first holds a page
 * the VM cannot take (the host's SMMU bank maps it: count 1). The seed moves chunk 0's 512
 * pages to the VM and maps them, then halts on that page. Refused now: nothing loaded, the
 * VM stays READY, no CPU halts.
 */
static void two_chunk_image(uint32_t vmid, uint64_t frame)
{
	uint8_t sig[64];

	memset(sig, 0x22, sizeof(sig));
	hwrite(META_PFN * PG + 64, sig, 64);
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, PMD + PG, META_PFN * PG + 64, 0), 0);
	for (unsigned i = 0; i < 513; i++)
		cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vmid, frame + i, 0, 0, 0), 0);
}

static void verify_loads_nothing(uint32_t vmid)
{
	struct th_snap s;
	const unsigned objs[] = { INFO(vmid) };

	th_snap_take(E, K, &s);
	cr_assert_eq(hvc(HVC_VERIFY_VM_IMAGE, vmid, 0, 0, 0, 0), 0);
	cr_assert(!hl_cpu_halted(E, 0), "VERIFY halted the CPU");
	cr_assert_eq(th_snap_diff_except(E, K, &s, objs, 1, NULL, 0), 0, "a VERIFY that cannot load changed state");
	cr_assert_eq(hl_state_obj_digest(E->st, INFO(vmid)), s.dig[INFO(vmid)]);
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_READY);
	th_snap_free(&s);
}

Test(redteam, verify_with_a_busy_page_in_a_later_chunk_loads_nothing)
{
	uint32_t vmid = register_vm();
	const uint64_t busy = FREE_BLOCK_PFN + 512 + 40;   /* in chunk 1, past the image's bytes */

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 7, HL_HOSTVISOR, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, busy * PG, busy * PG, 3, 7, 0), 0);
	two_chunk_image(vmid, FREE_BLOCK_PFN);
	verify_loads_nothing(vmid);
	for (unsigned i = 0; i < 1024; i++)
		cr_assert_eq(s2p(FREE_BLOCK_PFN + i).owner, HL_HOSTVISOR, "page %u moved", i);
	cr_assert_eq(walk(vmid, LOAD_ADDR).level, 0, "chunk 0 was mapped");
	/* once the host's bank lets go, the same image loads (and fails its signature) */
	cr_assert_eq(hvc(HVC_SMMU_CLEAR, busy * PG, 7, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_VERIFY_VM_IMAGE, vmid, 0, 0, 0, 0), 0);
	cr_assert_eq(s2p(busy).owner, vmid);
	cr_assert_eq(walk(vmid, LOAD_ADDR + PMD).level, 2);
	oracle_holds();
}

/* REMAP_VM_IMAGE takes any RAM frame; a frame of another VM in chunk 1: the seed moved
 * chunk 0, then halted holding s2page (every later step of every CPU stranded) */
Test(redteam, remap_of_another_vms_page_loads_nothing)
{
	uint32_t victim = boot_vm();
	uint32_t vmid = register_vm();
	const uint64_t stolen = FREE_BLOCK_PFN + 512 + 7;

	run_faulting(victim, 0, G_PAGE);
	answer_applied(victim, 0, G_PAGE, stolen * PG | KERNEL, 3);
	cr_assert_eq(s2p(stolen).owner, victim);
	two_chunk_image(vmid, FREE_BLOCK_PFN);
	verify_loads_nothing(vmid);
	cr_assert_eq(s2p(stolen).owner, victim);
	cr_assert_eq(s2p(FREE_BLOCK_PFN).owner, HL_HOSTVISOR);
	oracle_holds();
}

/* the image's own chunk frame is a page of another VM (chunk 0, first page) */
Test(redteam, remap_of_another_vms_frame_in_chunk0_loads_nothing)
{
	uint32_t victim = boot_vm();
	uint32_t vmid = register_vm();

	run_faulting(victim, 0, G_BLOCK);
	answer_applied(victim, 0, G_BLOCK, FREE_BLOCK_PFN * PG | KERNEL, 2);
	cr_assert_eq(s2p(FREE_BLOCK_PFN).owner, victim);
	two_chunk_image(vmid, FREE_BLOCK_PFN);
	verify_loads_nothing(vmid);
	cr_assert_eq(walk(vmid, LOAD_ADDR).level, 0);
	oracle_holds();
}

/* one frame block for both chunks of an image (chunk 1 remaps chunk 0's frames): the seed
 * loaded chunk 0, then halted on its first page (the VM's already, with another gfn) */
Test(redteam, remap_of_one_frame_for_two_chunks_loads_nothing)
{
	uint32_t vmid = register_vm();
	uint8_t sig[64];

	memset(sig, 0x33, sizeof(sig));
	hwrite(META_PFN * PG + 64, sig, 64);
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, PMD + PG, META_PFN * PG + 64, 0), 0);
	for (unsigned i = 0; i < 512; i++)
		cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vmid, FREE_BLOCK_PFN + i, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vmid, FREE_BLOCK_PFN, 0, 0, 0), 0);
	verify_loads_nothing(vmid);
	cr_assert_eq(s2p(FREE_BLOCK_PFN).owner, HL_HOSTVISOR);
	/* two images over one frame block: the same */
	uint32_t vm2 = register_vm();
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vm2, LOAD_ADDR, PG, META_PFN * PG + 64, 0), 0);
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vm2, LOAD_ADDR + PMD, PG, META_PFN * PG + 64, 0), 1);
	cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vm2, FREE_BLOCK_PFN, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vm2, FREE_BLOCK_PFN, 1, 0, 0), 0);
	verify_loads_nothing(vm2);
	cr_assert_eq(s2p(FREE_BLOCK_PFN).owner, HL_HOSTVISOR);
	oracle_holds();
}

/* ============================================================================================ */
/* CLEAR_VM_S2_RANGE, SMMU and fault answers at the edges                                          */
/* ============================================================================================ */

Test(redteam, clear_range_edges_refused)
{
	uint32_t vmid = boot_vm();
	const uint64_t top = 1ull << 48;

	poweroff(vmid);
	REFUSED(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, vmid, top - PG, 2 * PG, 0, 0);
	REFUSED(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, vmid, LOAD_ADDR, 0ull - PG, 0, 0);
	REFUSED(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, vmid, top, PG, 0, 0);
	REFUSED(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, vmid, LOAD_ADDR + 1, PG, 0, 0);
	REFUSED(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, HL_MAX_VM + 1, LOAD_ADDR, PG, 0, 0);
	REFUSED(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, 0, LOAD_ADDR, PG, 0, 0);
	REFUSED(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, vmid, LOAD_ADDR, (1ull << 30) + PG, 0, 0);   /* > 1 GiB */
	REFUSED(0, HVC_CLEAR_VM_S2_RANGE, vmid, LOAD_ADDR, 0, 0, 0);   /* 0 bytes: nothing */
	/* a VM that is not powered off: nothing (C), whatever the range */
	uint32_t live = register_vm();
	REFUSED(0, HVC_CLEAR_VM_S2_RANGE, live, LOAD_ADDR, PMD, 0, 0);
	cr_assert_eq(s2p(BLOCK_PFN).owner, vmid);
	oracle_holds();
}

/* SMMU calls with iova at and past 2^40, a paddr past RAM, a page of the host that a VM bank
 * cannot take twice */
Test(redteam, smmu_iova_and_paddr_edges_refused)
{
	uint32_t vmid = register_vm();
	const uint64_t top = 1ull << 40;

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 2, vmid, 0, 0, 0), 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, top, GPAGE(50) * PG, 3, 2, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, top - PG, RAM_END, 3, 2, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, top - PG, 0, 3, 2, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, top - PG, GPAGE(50) * PG + 8, 3, 2, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, top - PG, GPAGE(50) * PG, 4, 2, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_LPAE_IOVA_TO_PHYS, top, 2, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_CLEAR, top, 2, 0, 0, 0);
	REFUSED(KC_EINVAL, HVC_SMMU_CLEAR, 0ull - PG, 2, 0, 0, 0);
	/* the last iova works */
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, top - PG, GPAGE(50) * PG, 3, 2, 0), 0);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, top - PG + 0x123, 2, 0, 0, 0), (int64_t)(GPAGE(50) * PG + 0x123));
	/* the same page through a second bank of another VM: the seed halts (page not the
	 * bank owner's), it is never the second VM's */
	uint32_t vm2 = register_vm();
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 3, vm2, 0, 0, 0), 0);
	on_cpu(1);
	cr_assert_neq(hvc(HVC_SMMU_LPAE_MAP, 0x10 * PG, GPAGE(50) * PG, 3, 3, 0), 0);
	cr_assert_eq(s2p(GPAGE(50)).owner, vmid, "one page, two VMs");
	cr_assert_eq(swalk(0, 3, 0x10 * PG).pte, 0);
}

/* fault answers at the edges: an IPA at or past 2^48 is not applied, a pte with bits
 * above the 40-bit PA space or a frame of the last RAM page +1 is refused */
Test(redteam, fault_answer_edges_refused)
{
	uint32_t vmid = boot_vm();

	run_faulting(vmid, 0, G_PAGE);
	answer_refused(vmid, 0, 1ull << 48, GPAGE(0) * PG | KERNEL, 3);
	answer_refused(vmid, 0, (1ull << 48) - PMD, (LAST_PFN + 1) * PG | KERNEL, 3);
	answer_refused(vmid, 0, 0, GPAGE(0) * PG | KERNEL, 3);            /* below PAGE_SIZE */
	answer_refused(vmid, 0, G_PAGE, (1ull << 40) | GPAGE(0) * PG | KERNEL, 3);
	answer_refused(vmid, 0, G_PAGE, 0x0A000000ull | KERNEL, 3);       /* a device frame */
	answer_refused(vmid, 0, G_PAGE, BLOCK_PFN * PG | KERNEL, 3);       /* the VM's own image page */
	/* the last RAM page at the top of the IPA space is a good answer */
	answer_applied(vmid, 0, (1ull << 48) - PG, LAST_PFN * PG | KERNEL, 3);
	cr_assert_eq(walk(vmid, (1ull << 48) - PG).pfn, LAST_PFN);
	oracle_holds();
}

/* one page, two VMs: a page VM A holds through its SMMU bank (A is READY, the page A's with
 * count INVALID) offered to VM B as a fault answer, and to VM B's own SMMU bank: refused,
 * never B's (the seed halts on the bank map) */
Test(redteam, page_of_one_vm_never_given_to_another)
{
	uint32_t vm_b = boot_vm();
	uint32_t vm_a = register_vm();
	const uint64_t pfn = GPAGE(60);

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 1, vm_a, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, G_PAGE, pfn * PG, 3, 1, 0), 0);
	cr_assert_eq(s2p(pfn).owner, vm_a);
	run_faulting(vm_b, 0, G_PAGE);
	answer_refused(vm_b, 0, G_PAGE, pfn * PG | KERNEL, 3);                 /* same gfn */
	answer_refused(vm_b, 0, G_PAGE + PG, pfn * PG | KERNEL, 3);            /* another gfn */
	answer_refused(vm_b, 0, G_BLOCK, (pfn & ~511ull) * PG | KERNEL, 2);    /* in a block */
	cr_assert_eq(s2p(pfn).owner, vm_a);
	cr_assert_eq(walk(vm_b, G_PAGE).level, 0);
	oracle_holds();
}

/* KCore's own memory (the table pools: hosted PAs above RAM, shared/hl_pool.h) through
 * every interface that names a PA: a host access, a fault answer, an SMMU map, IOREMAP,
 * REMAP_VM_IMAGE. None maps it. */
Test(redteam, kcore_table_pools_never_mapped)
{
	uint32_t vmid = boot_vm();
	uint32_t ready = register_vm();
	const uint64_t pools[] = { hl_pt_root_pa(E->st->npt[HL_HOSTVISOR]), hl_pt_root_pa(E->st->npt[vmid]),
				   hl_pt_root_pa(E->st->npt[HL_COREVISOR]), hl_spt_root_pa(E->st->spt, 0) };
	uint64_t v = 0;

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 4, HL_HOSTVISOR, 0, 0, 0), 0);
	run_faulting(vmid, 0, G_PAGE);
	for (unsigned i = 0; i < sizeof(pools) / sizeof(pools[0]); i++) {
		uint64_t pa = pools[i];
		cr_assert_geq(pa, RAM_END, "pool %u is inside RAM", i);
		{
			struct th_snap s;
			th_snap_take(E, K, &s);
			cr_assert_eq(hp_host_probe(P, 0, pa, 8, false, &v), 0, "the host read KCore's pool %u", i);
			cr_assert_eq(th_snap_diff(E, K, &s), 0);
			th_snap_free(&s);
		}
		answer_refused(vmid, 0, G_PAGE, pa | KERNEL, 3);
		REFUSED(KC_EINVAL, HVC_SMMU_LPAE_MAP, pa & (HL_SMMU_IPA_SIZE - 1), pa, 3, 4, 0);
		REFUSED(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, ready, 0x0C000000, pa, PG, 0);
		REFUSED(KC_EINVAL, HVC_REMAP_VM_IMAGE, ready, pa / PG, 0, 0, 0);
	}
	cr_assert(!hl_cpu_halted(E, 0));
	oracle_holds();
}

/* ============================================================================================ */
/* guest PV calls: grant / revoke ranges                                                           */
/* ============================================================================================ */

static uint64_t PV_CALL, PV_ADDR, PV_SIZE, PV_RET;
static unsigned g_pv(void *arg, uint64_t *x)
{
	(void)arg;
	if (G_N++ == 0) {
		x[0] = PV_CALL;
		x[1] = PV_ADDR;
		x[2] = PV_SIZE;
		return gtrap(arch_read_sysreg(SR_ELR_EL2) + 4, esr_make(EC_HVC64, 0), 0);
	}
	PV_RET = x[0];
	return gtrap(arch_read_sysreg(SR_ELR_EL2), esr_make(EC_WFX, 0), 0);
}

/* the guest's PV call; returns what KCore put in its x0 */
static uint64_t pv(uint32_t vmid, uint64_t call, uint64_t addr, uint64_t size)
{
	PV_CALL = call;
	PV_ADDR = addr;
	PV_SIZE = size;
	PV_RET = 0xDEAD;
	G_N = 0;
	hosted_set_guest_runner(g_pv, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
	cr_assert_eq(G_N, 2);
	return PV_RET;
}

static uint32_t vm_with_page(void)
{
	uint32_t vmid = boot_vm();
	run_faulting(vmid, 0, G_PAGE);
	answer_applied(vmid, 0, G_PAGE, GPAGE(0) * PG | KERNEL, 3);
	cr_assert_eq(walk(vmid, G_PAGE).pfn, GPAGE(0));
	return vmid;
}

Test(redteam, pv_grant_ranges_at_the_edges_refused)
{
	uint32_t vmid = vm_with_page();
	struct th_snap s;
	const unsigned objs[] = { INFO(vmid) };
	const uint64_t pfns[] = { VCPU_PFN };
	const uint64_t bad[][2] = {
		{ G_PAGE, 0ull - PG },             /* addr + size wraps */
		{ G_PAGE, ~0ull },
		{ (1ull << 48) - PG, 2 * PG },     /* past the IPA space */
		{ 1ull << 48, PG },
		{ ~0ull, 1 },
		{ G_PAGE, (64ull << 20) + 1 },     /* more than one call may do */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (unsigned g = 0; g < 2; g++) {
			th_snap_take(E, K, &s);
			uint64_t r = pv(vmid, g ? 0x81000 : 0x82000, bad[i][0], bad[i][1]);
			cr_assert_eq((int64_t)r, KC_EINVAL, "case %u: x0 %#llx", i, (unsigned long long)r);
			cr_assert_eq(th_snap_diff_except(E, K, &s, objs, 1, pfns, 1), 0, "case %u changed state", i);
			cr_assert_eq(hl_state_obj_digest(E->st, INFO(vmid)), s.dig[INFO(vmid)]);
			th_snap_free(&s);
		}
	}
	cr_assert_eq(s2p(GPAGE(0)).count, 0);
	oracle_holds();
}

/* a grant of 0 bytes shares nothing (C: ceil(size / 4K) pages); the page the (unaligned)
 * address lies in used to be shared with the host */
Test(redteam, pv_grant_of_size_zero_shares_nothing)
{
	uint32_t vmid = vm_with_page();

	cr_assert_eq(pv(vmid, 0x81000, G_PAGE + 0x10, 0), 0);
	cr_assert_eq(s2p(GPAGE(0)).count, 0, "a 0-byte grant shared the page with the host");
	cr_assert_eq(pv(vmid, 0x81000, G_PAGE, 0), 0);
	cr_assert_eq(s2p(GPAGE(0)).count, 0);
	/* one byte shares its page; the host can map it now */
	cr_assert_eq(pv(vmid, 0x81000, G_PAGE + 0x10, 1), 0);
	cr_assert_eq(s2p(GPAGE(0)).count, 1);
	cr_assert_eq(pv(vmid, 0x82000, G_PAGE + 0x10, 0), 0);
	cr_assert_eq(s2p(GPAGE(0)).count, 1, "a 0-byte revoke took the page back");
	cr_assert_eq(pv(vmid, 0x82000, G_PAGE + 0x10, 1), 0);
	cr_assert_eq(s2p(GPAGE(0)).count, 0);
	oracle_holds();
}

/* grant past the share limit, revoke more often than granted: no count wraps */
Test(redteam, pv_grant_revoke_counts_never_wrap)
{
	uint32_t vmid = vm_with_page();

	for (unsigned i = 0; i < 105; i++)
		cr_assert_eq(pv(vmid, 0x81000, G_PAGE, PG), 0);
	cr_assert_eq(s2p(GPAGE(0)).count, 100);
	for (unsigned i = 0; i < 103; i++)
		cr_assert_eq(pv(vmid, 0x82000, G_PAGE, PG), 0);
	cr_assert_eq(s2p(GPAGE(0)).count, 0);
	cr_assert_eq(s2p(GPAGE(0)).owner, vmid);
	oracle_holds();
}

/* ============================================================================================ */
/* MMIO exits without a valid syndrome (ESR.ISV = 0)                                               */
/* ============================================================================================ */

/*
 * A data abort on an MMIO IPA whose ESR has no valid instruction syndrome (ISV = 0: LDP/STP,
 * writeback forms, ... ; SRT, SAS and WnR are then RES0 / UNKNOWN). KCore decoded SRT anyway:
 * for a "write" it handed the host the guest's register SRT names (x0 on hardware: a secret
 * the guest never wrote to the device), for a read it let the host set that register and
 * skipped the instruction. Now: no register leaves, none can be set, the PC does not move
 * (the host sees the abort and cannot emulate it).
 */
static uint64_t MMIO_ESR, GUEST_X7_SEEN, GUEST_PC_SEEN;
static unsigned g_mmio(void *arg, uint64_t *x)
{
	(void)arg;
	if (G_N++ == 0) {
		x[7] = 0x5EC2E75EC2E7ull;   /* the guest's secret in x7 */
		return gtrap(arch_read_sysreg(SR_ELR_EL2), MMIO_ESR, 0x0A000010);
	}
	GUEST_X7_SEEN = x[7];
	GUEST_PC_SEEN = arch_read_sysreg(SR_ELR_EL2);
	return gtrap(arch_read_sysreg(SR_ELR_EL2), esr_make(EC_WFX, 0), 0);
}

static void mmio_no_isv(bool write)
{
	uint32_t vmid = boot_vm();
	uint64_t val = 0, dirty = 0, pc0;

	MMIO_ESR = esr_make(EC_DABT_LOW, (7u << ESR_SRT_SHIFT) | (3u << ESR_SAS_SHIFT) | (write ? ESR_WNR : 0) |
						 (FSC_TRANS_L0 + 3));   /* no ESR_ISV */
	G_N = 0;
	hosted_set_guest_runner(g_mmio, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
	pc0 = K->shadow[vmid][0].pc;
	cr_assert(hp_host_load(P, 0, HV_FIELD(0, exit_value), 8, &val));
	cr_assert(hp_host_load(P, 0, HV_FIELD(0, exit_dirty), 8, &dirty));
	cr_assert_neq(val, 0x5EC2E75EC2E7ull, "the guest's x7 went to the host");
	cr_assert_eq(val, 0);
	cr_assert_eq(dirty, 0, "KCore asks the host for registers %#llx", (unsigned long long)dirty);
	/* the host "answers" x7 anyway */
	hstore(HV_FIELD(0, regs) + 7 * 8, 0xBAD0BAD0ull);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
	cr_assert_eq(G_N, 2);
	cr_assert_eq(GUEST_X7_SEEN, 0x5EC2E75EC2E7ull, "the host set the guest's x7");
	cr_assert_eq(GUEST_PC_SEEN, pc0, "the faulting instruction was skipped");
	oracle_holds();
}

Test(redteam, mmio_write_without_syndrome_leaks_no_register) { mmio_no_isv(true); }
Test(redteam, mmio_read_without_syndrome_sets_no_register) { mmio_no_isv(false); }

/*
 * An MMIO load of 1, 2 or 4 bytes: the host supplies the value, but only the bytes the guest
 * loaded (zero- or, with ESR.SSE, sign-extended; a W register's upper half is 0). C copied
 * the host's whole 64-bit value, so a hostile host set the upper bits of a register the
 * guest's code knows to be zero after `ldr w5, [x1]` (a u32 index, a length).
 */
#define ESR_SSE_BIT (1u << 21)
#define ESR_SF_BIT (1u << 15)
static uint64_t mmio_load(unsigned sas, bool sse, bool sf, uint64_t host_value)
{
	uint32_t vmid = boot_vm();

	MMIO_ESR = esr_make(EC_DABT_LOW, ESR_ISV | (sas << ESR_SAS_SHIFT) | (sse ? ESR_SSE_BIT : 0) |
						 (sf ? ESR_SF_BIT : 0) | (7u << ESR_SRT_SHIFT) | (FSC_TRANS_L0 + 3));
	G_N = 0;
	hosted_set_guest_runner(g_mmio, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
	hstore(HV_FIELD(0, regs) + 7 * 8, host_value);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
	cr_assert_eq(G_N, 2);
	return GUEST_X7_SEEN;
}

Test(redteam, mmio_load_gets_only_the_bytes_it_loaded)
{
	uint64_t v;

	v = mmio_load(2, false, false, 0xFFFFFFFF12345678ull);   /* ldr w7 */
	cr_assert_eq(v, 0x12345678ull, "ldr w7 got %#llx", (unsigned long long)v);
	teardown();
	setup();
	v = mmio_load(0, true, true, 0x1234567880ull);             /* ldrsb x7 */
	cr_assert_eq(v, 0xFFFFFFFFFFFFFF80ull, "ldrsb x7 got %#llx", (unsigned long long)v);
	teardown();
	setup();
	v = mmio_load(1, true, false, 0xABCD8001ull);              /* ldrsh w7 */
	cr_assert_eq(v, 0xFFFF8001ull, "ldrsh w7 got %#llx", (unsigned long long)v);
	teardown();
	setup();
	v = mmio_load(3, false, true, 0xFEDCBA9876543210ull);      /* ldr x7: all of it */
	cr_assert_eq(v, 0xFEDCBA9876543210ull);
	oracle_holds();
}

/*
 * REGISTER_VCPU made the vCPU READY in its engine step and only then, outside any lock, reset
 * the shadow context to "not run yet" (dirty = INVALID64; C does it inside register_vcpu's
 * critical section). A CPU descheduled between the two (hosted: a preempted thread) leaves
 * a READY vCPU whose shadow is all zero (dirty 0): VERIFY and VCPU_RUN on other CPUs then run
 * the guest from PC 0 with no boot-PC check (it must lie inside a verified image). The
 * window is reproduced by running REGISTER_VCPU's engine step alone on CPU 1, as CPU 1 would
 * have when it was descheduled; CPU 0 then verifies and runs the vCPU.
 */
static uint64_t FIRST_PC;
static unsigned g_first_pc(void *arg, uint64_t *x)
{
	(void)arg;
	(void)x;
	if (G_N++ == 0)
		FIRST_PC = arch_read_sysreg(SR_ELR_EL2);
	return gtrap(arch_read_sysreg(SR_ELR_EL2), esr_make(EC_WFX, 0), 0);
}

Test(redteam, vcpu_registered_but_not_reset_never_runs_from_pc0)
{
	int64_t vmid = hvc(HVC_REGISTER_KVM, 0, 0xABCD0000ull, 0, 0, 0);

	cr_assert(vmid >= 1 && vmid <= HL_MAX_VM);
	hstore(HV_FIELD(0, boot_pc), BOOT_PC);
	hstore(HV_FIELD(1, boot_pc), BOOT_PC);
	cr_assert_eq(hvc(HVC_REGISTER_VCPU, (uint64_t)vmid, 0, hv_pa(0), 0, 0), 0);
	/* CPU 1 inside REGISTER_VCPU(vmid, 1): its engine step done, the trap layer's rest not */
	cr_assert_eq(hl_register_vcpu(E, 1, (uint32_t)vmid, 1, hv_pa(1)), HL_OK);
	verify_vm((uint32_t)vmid);
	G_N = 0;
	FIRST_PC = 0xDEAD;
	hosted_set_guest_runner(g_first_pc, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, (uint64_t)vmid, 1, 0, 0, 0), EXIT_TRAP);
	cr_assert_eq(G_N, 1);
	cr_assert_eq(FIRST_PC, BOOT_PC, "vCPU 1 started at PC %#llx, not the boot PC inside its image",
		     (unsigned long long)FIRST_PC);
	oracle_holds();
}

/* ============================================================================================ */
/* use after teardown, re-registration                                                             */
/* ============================================================================================ */

/* a powered-off, cleared VM: the host cannot answer faults into it, map devices into it,
 * re-register its vCPUs, or give it SMMU pages; VCPU_RUN halts only the calling CPU (the
 * seed's state-machine halt: set_vcpu_active needs VERIFIED) and runs no guest */
Test(redteam, use_after_teardown)
{
	uint32_t vmid = vm_with_page();

	poweroff(vmid);
	cr_assert_eq(hvc(HVC_CLEAR_VM_S2_RANGE, vmid, GUEST_RAM, 64 * PG, 0, 0), 0);
	cr_assert_eq(hvc(HVC_CLEAR_VM_S2_RANGE, vmid, LOAD_ADDR, PMD, 0, 0), 0);
	cr_assert_eq(s2p(GPAGE(0)).owner, HL_HOSTVISOR);
	cr_assert_eq(s2p(BLOCK_PFN).owner, HL_HOSTVISOR);
	/* the old VM's table still names the pages, but it can never run again: */
	on_cpu(1);
	{
		unsigned n = G_N;
		hosted_set_guest_runner(g_fault, NULL);
		(void)hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0);
		cr_assert(hl_cpu_halted(E, 1), "VCPU_RUN of a powered-off VM did not stop");
		cr_assert_eq(G_N, n, "the powered-off VM's guest ran");
		cr_assert(!hl_cpu_halted(E, 0));
	}
	on_cpu(0);
	/* no vCPU of it is ACTIVE, and nothing was mapped for it */
	for (unsigned v = 0; v < HL_VCPU_PER_VM; v++)
		cr_assert_neq(E->st->info[vmid]->vcpu_state[v], HL_VCPU_ACTIVE);
	cr_assert_eq(s2p(GPAGE(0)).owner, HL_HOSTVISOR);
	/* the host's page is the host's again, zeroed: the VM's data does not come back */
	uint64_t v = 1;
	cr_assert(hp_host_load(P, 0, GPAGE(0) * PG, 8, &v));
	cr_assert_eq(v, 0);
	/* IOREMAP into it: the seed halts (VM not READY) - on CPU 1 the halt is already there */
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_POWEROFF);
	/* a new VM never gets the old vmid */
	uint32_t vm2 = register_vm();
	cr_assert_gt(vm2, vmid);
}

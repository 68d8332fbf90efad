/*
 * test_mutation.c - the project's own mutation suite (issue 10.6). Each engine bug of
 * engine/hl_fault.h (the 7 framework faults, the engine bugs behind issue 10's list, and
 * the bug catalogue: REFERENCE 7's SeKVM bugs and SPEC's halt/bad-input branches) is
 * switched on, one at a time, for short deterministic controlled runs (hyplog explore's
 * core, 2 logical CPUs, the hostile mix where the bug sits behind a forbidden action), each
 * in a forked child with a time limit. A mutant is CAUGHT only when an oracle relation
 * names it (the explore result starts with "<relation> violated"); a workload complaint
 * alone, an abort, a crash or a hang is not a catch. The whole mutant gets 10 s.
 *
 * The suite prints a table mutant -> relation (or how it escaped) and fails if any mutant
 * escapes, except the ones in the expected-escape list below, each with the reason; a
 * listed mutant that is caught after all is reported, so the list only shrinks.
 *
 * Linked with the fault-injection copy of the library (tests/meson.build).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "hl_check.h"
#include "hl_explore.h"
#include "hl_osrc.h"
#include "hl_testkey.h"
#include "platform.h"
#include "hl_fault.h"

/* per mutant, all its runs: 10 s on 2 cores; sanitizer builds run 3x slower (scripts/test
 * gives their suites --timeout-multiplier 3), so they get 3x the time */
#if defined(__aarch64__)
/* the cross build's suites run under qemu-aarch64 user mode (scripts/test-aarch64), about
 * 10x slower; and qemu-user cannot start threads in a child forked from a threaded process
 * (it asserts in cpu_exec), so there the runs go in-process, without the fork's crash and
 * hang isolation: a crash or hang then fails the whole test instead of one mutant */
#define MUT_SLOW 10
#define MUT_INPROC 1
#elif defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MUT_SLOW 3
#else
#define MUT_SLOW 1
#endif
#ifndef MUT_INPROC
#define MUT_INPROC 0
#endif
#define MUT_BUDGET_S (10.0 * MUT_SLOW)
#define RUN_LIMIT_S (8 * MUT_SLOW)     /* one run (a hang is killed here) */

struct mutant {
	const char *name;
	enum hl_fault f;
	unsigned mix;
	uint64_t ops;
	unsigned every;
	/* expected escape: why no oracle can see it (NULL: it must be caught) */
	const char *escape_why;
	/* an engine-level workload instead of a controlled trap-level run: fills msg with the
	 * oracles' verdict ("<relation> violated ...") and returns 1, or 0 if they hold */
	int (*scenario)(enum hl_fault f, unsigned every, char *msg, size_t len);
};

#define HOSTILE (HP_MIX_ALL | HP_MIX_HOSTILE)

/* issue 11: the suite runs once as SPEC's objects and once with s2page and npt(host) in
 * shards (the engines of the controlled runs and of the scenarios) */
static uint64_t g_s2p_pages, g_npth_mib;

static struct hl_engine *mut_engine(unsigned ncpus)
{
	return th_engine_shards(ncpus, g_s2p_pages, g_npth_mib);   /* 0, 0: th_engine */
}

static int verdict_msg(struct hl_engine *e, unsigned flags, char *msg, size_t len)
{
	struct hl_verdict v;

	memset(&v, 0, sizeof(v));
	/* every scenario ends with each call returned: no CPU runs a vCPU */
	if (hl_check_engine(e, flags | HL_OSRC_QUIESCED, &v, NULL) == 0)
		return 0;
	snprintf(msg, len, "%s violated at op %u:%llu (cpu %d): %.300s", hl_rel_name(v.rel), (unsigned)(v.op >> 48),
		 (unsigned long long)(v.op & 0xFFFFFFFFFFFFull), v.cpu, v.what);
	return 1;
}

/*
 * A cleared page that is not zeroed: only page memory shows it, and on the trap-level
 * platform the host writes RAM itself, so the oracles compare RAM with flatmem only where
 * the engine alone writes pages (HL_OSRC_RAM). Engine level: a VM boots a signed image
 * (its pages hold the image), powers off, and the host takes every page back.
 */
static int sc_clear_vm(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint64_t base = HL_RAM_BASE_PFN + 2048;
	uint32_t vmid;
	int rc;

	if (!e || !(vmid = th_boot_vm(e, 0, base, 0x80000000ull)) || hl_set_vm_poweroff(e, 1, vmid) != HL_OK) {
		snprintf(msg, len, "scenario setup failed");
		hl_engine_free(e);
		return -1;
	}
	hl_fault_set(f, every);
	for (uint64_t i = 0; i < 512; i++)
		(void)hl_clear_vm_page(e, (int)(i & 1), vmid, base + i);
	hl_fault_set(f, 0);
	rc = verdict_msg(e, HL_OSRC_RAM, msg, len);
	hl_engine_free(e);
	return rc;
}

/*
 * SKIP_LOCK on a step's first lock: where the step writes that object the engine's own
 * held-witness aborts (an assertion, not an oracle), so the controlled runs cannot aim it;
 * engine level, it is aimed at OMAP_IO, whose first lock (vminfo) it only reads.
 */
static int sc_skip_lock(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint32_t vmid = e ? th_new_vm(e, 0) : 0;
	int rc;

	if (!vmid) {
		snprintf(msg, len, "scenario setup failed");
		hl_engine_free(e);
		return -1;
	}
	hl_fault_set(f, every);
	rc = hl_map_vm_io(e, 1, vmid, hl_ipa(0x9000000), hl_pa(0x0A000000ull + 2 * HL_PAGE_SIZE));
	hl_fault_set(f, 0);
	if (rc != HL_OK) {
		snprintf(msg, len, "map_io returned %d", rc);
		hl_engine_free(e);
		return -1;
	}
	rc = verdict_msg(e, 0, msg, len);
	hl_engine_free(e);
	return rc;
}

/* a VM page its VM shared and the host mapped: the revoke that takes it back must unmap it */
static int sc_revoke(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint64_t base = HL_RAM_BASE_PFN + 2048;
	uint32_t vmid;
	int rc;

	if (!e || !(vmid = th_boot_vm(e, 0, base, 0x80000000ull)) || hl_grant_vm_page(e, 0, vmid, base) != HL_OK ||
	    hl_map_host(e, 1, hl_pa(base * HL_PAGE_SIZE)) != HL_OK) {
		snprintf(msg, len, "scenario setup failed");
		hl_engine_free(e);
		return -1;
	}
	hl_fault_set(f, every);
	(void)hl_revoke_vm_page(e, 0, vmid, base);
	hl_fault_set(f, 0);
	rc = verdict_msg(e, 0, msg, len);
	hl_engine_free(e);
	return rc;
}

/* a powered-off VM's page that its SMMU bank still maps: OCLEAR_VM must refuse it (§12) */
static int sc_clear_dma(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint64_t pfn = HL_RAM_BASE_PFN + 3001, gfn = 0x40000;
	uint32_t vmid = e ? th_new_vm(e, 0) : 0;
	int rc;

	if (!vmid || hl_smmu_alloc_pgd(e, 0, 0, vmid, 0) != HL_OK || hl_smmu_assign_page(e, 0, 0, 0, pfn, gfn) != HL_OK ||
	    hl_smmu_map_page(e, 1, 0, 0, hl_iova(gfn * HL_PAGE_SIZE), pfn * HL_PAGE_SIZE | HL_PAGE_S2_KERNEL) != HL_OK ||
	    hl_set_vm_poweroff(e, 0, vmid) != HL_OK) {
		snprintf(msg, len, "scenario setup failed");
		hl_engine_free(e);
		return -1;
	}
	hl_fault_set(f, every);
	(void)hl_clear_vm_page(e, 1, vmid, pfn);
	hl_fault_set(f, 0);
	rc = verdict_msg(e, 0, msg, len);
	hl_engine_free(e);
	return rc;
}

/* H13: vCPU 0 is still in the guest when the VM is powered off (from another vCPU);
 * OCLEAR_VM must refuse the VM's pages until it exits (its vminfo read is logged) */
static int sc_clear_running(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint64_t base = HL_RAM_BASE_PFN + 2048;
	uint32_t vmid;
	int rc;

	if (!e || !(vmid = th_boot_vm(e, 0, base, 0x80000000ull)) || hl_set_vcpu_active(e, 1, vmid, 0) != HL_OK ||
	    hl_set_vm_poweroff(e, 0, vmid) != HL_OK) {
		snprintf(msg, len, "scenario setup failed");
		hl_engine_free(e);
		return -1;
	}
	hl_fault_set(f, every);
	for (uint64_t i = 0; i < 8; i++)
		(void)hl_clear_vm_page(e, 0, vmid, base + i);
	hl_fault_set(f, 0);
	if (hl_set_vcpu_inactive(e, 1, vmid, 0) != HL_OK) {
		snprintf(msg, len, "vCPU exit failed");
		hl_engine_free(e);
		return -1;
	}
	rc = verdict_msg(e, 0, msg, len);
	hl_engine_free(e);
	return rc;
}

/* issue 11: s2page in shards; a VM takes pages in two shards, one write misrouted to the
 * neighbouring shard's log (the live image is right, the logs are not) */
static int sc_shard_misroute(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = th_engine_sharded(2, HL_S2P_SHARD_PAGES_SCALE);
	uint32_t vmid = e ? th_new_vm(e, 0) : 0;
	uint64_t pfn = HL_RAM_BASE_PFN + 3 * HL_S2P_SHARD_PAGES_SCALE + 7;
	int rc;

	if (!vmid || e->ref.nshards < 4) {
		snprintf(msg, len, "scenario setup failed");
		hl_engine_free(e);
		return -1;
	}
	hl_fault_set(f, every);
	rc = hl_assign_pfn_to_vm(e, 1, vmid, 0x100, pfn);
	hl_fault_set(f, 0);
	if (rc != HL_OK) {
		snprintf(msg, len, "assign returned %d", rc);
		hl_engine_free(e);
		return -1;
	}
	rc = verdict_msg(e, 0, msg, len);
	hl_engine_free(e);
	return rc;
}

/*
 * The bug catalogue's engine-level scenarios: each sets a state up without the fault, then
 * runs the one call the bug sits in with the fault armed, then asks the oracles. The trap
 * layer's own checks (arch/aarch64/kcore.c) refuse several of these calls before they reach
 * the engine, so the hostile workload cannot aim them; here the engine is the only guard.
 */
#define SC_SETUP_FAIL()                                                \
	do {                                                           \
		snprintf(msg, len, "scenario setup failed");           \
		hl_engine_free(e);                                     \
		return -1;                                             \
	} while (0)
#define SC_ARMED(call)                                                 \
	do {                                                           \
		hl_fault_set(f, every);                                \
		(void)(call);                                          \
		hl_fault_set(f, 0);                                    \
	} while (0)
#define SC_VERDICT()                                                   \
	do {                                                           \
		int rc_ = verdict_msg(e, 0, msg, len);                 \
		hl_engine_free(e);                                     \
		return rc_;                                            \
	} while (0)

/* REFERENCE 7.5: a page the VM's SMMU bank took ({vmid, INVALID, gfn}) is assigned to the
 * VM at the same gfn: the count must become 0 */
static int sc_assign_fixup(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint64_t pfn = HL_RAM_BASE_PFN + 3001, gfn = 0x40000;
	uint32_t vmid = e ? th_new_vm(e, 0) : 0;

	if (!vmid || hl_smmu_alloc_pgd(e, 0, 0, vmid, 0) != HL_OK || hl_smmu_assign_page(e, 0, 0, 0, pfn, gfn) != HL_OK)
		SC_SETUP_FAIL();
	SC_ARMED(hl_assign_pfn_to_vm(e, 1, vmid, gfn, pfn));
	if (verdict_msg(e, 0, msg, len) == 0) {
		/* the expected escape's other test: the state itself (SPEC 9.5) */
		struct hl_s2page pg;
		if (hl_page_get(e, 0, pfn, &pg) == HL_OK && pg.count != 0)
			snprintf(msg, len, "probe: the page's count is %#x after OASSIGN_VM, SPEC 9.5 makes it 0 "
				 "(no relation sees it)", pg.count);
		hl_engine_free(e);
		return msg[0] ? 1 : 0;
	}
	hl_engine_free(e);
	return 1;
}

/* REFERENCE 7.8: a page the VM shared and the host mapped goes back to the host on clear;
 * the host's entry must be dropped with it */
static int sc_clear_unmap(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint64_t base = HL_RAM_BASE_PFN + 2048;
	uint32_t vmid = e ? th_boot_vm(e, 0, base, 0x80000000ull) : 0;

	if (!vmid || hl_grant_vm_page(e, 0, vmid, base) != HL_OK || hl_map_host(e, 1, hl_pa(base * HL_PAGE_SIZE)) != HL_OK ||
	    hl_set_vm_poweroff(e, 0, vmid) != HL_OK)
		SC_SETUP_FAIL();
	SC_ARMED(hl_clear_vm_page(e, 1, vmid, base));
	SC_VERDICT();
}

/* REFERENCE 7.11 / SPEC 9.7: IOREMAP into a VERIFIED VM must halt */
static int sc_io_state(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint32_t vmid = e ? th_boot_vm(e, 0, HL_RAM_BASE_PFN + 2048, 0x80000000ull) : 0;

	if (!vmid)
		SC_SETUP_FAIL();
	SC_ARMED(hl_map_vm_io(e, 1, vmid, hl_ipa(0x9000000), hl_pa(0x0A000000ull + 2 * HL_PAGE_SIZE)));
	SC_VERDICT();
}

/* REFERENCE 7.12 / SPEC 9.7: a bank for a VERIFIED VM must halt */
static int sc_alloc_verified(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint32_t vmid = e ? th_boot_vm(e, 0, HL_RAM_BASE_PFN + 2048, 0x80000000ull) : 0;

	if (!vmid)
		SC_SETUP_FAIL();
	SC_ARMED(hl_smmu_alloc_pgd(e, 1, 3, vmid, 0));
	SC_VERDICT();
}

/* REFERENCE 7.26: a vCPU registered into a VM that is no longer READY must halt */
static int sc_reg_vcpu(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint32_t vmid = 0;

	if (!e || hl_register_kvm(e, 0, 0x5000, 0, &vmid) != HL_OK || hl_set_vm_poweroff(e, 0, vmid) != HL_OK)
		SC_SETUP_FAIL();
	SC_ARMED(hl_register_vcpu(e, 1, vmid, 0, 0x6000));
	SC_VERDICT();
}

/* the unshare must lower the count: a page granted once, revoked once */
static int sc_revoke_dec(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint64_t base = HL_RAM_BASE_PFN + 2048;
	uint32_t vmid = e ? th_boot_vm(e, 0, base, 0x80000000ull) : 0;

	if (!vmid || hl_grant_vm_page(e, 0, vmid, base) != HL_OK || hl_grant_vm_page(e, 0, vmid, base + 1) != HL_OK ||
	    hl_grant_vm_page(e, 0, vmid, base + 1) != HL_OK)
		SC_SETUP_FAIL();
	SC_ARMED(hl_revoke_vm_page(e, 1, vmid, base));       /* 1 -> 0 */
	SC_ARMED(hl_revoke_vm_page(e, 1, vmid, base + 1));   /* 2 -> 1 */
	SC_VERDICT();
}

/* the double donate: a page VM 1 owns, assigned to VM 2, must halt */
static int sc_double_assign(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint64_t pfn = HL_RAM_BASE_PFN + 3001;
	uint32_t vm1 = e ? th_new_vm(e, 0) : 0, vm2 = e ? th_new_vm(e, 0) : 0;

	if (!vm1 || !vm2 || hl_assign_pfn_to_vm(e, 0, vm1, 0x100, pfn) != HL_OK)
		SC_SETUP_FAIL();
	SC_ARMED(hl_assign_pfn_to_vm(e, 1, vm2, 0x100, pfn));
	SC_VERDICT();
}

/* off by one at RAM's end: the host's fault on the first PA past RAM must be refused */
static int sc_map_host_end(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);

	if (!e)
		SC_SETUP_FAIL();
	SC_ARMED(hl_map_host(e, 1, hl_pa(HL_RAM_BASE + HL_RAM_SIZE)));
	SC_VERDICT();
}

/* an image of one page, remapped once: a second remap must change nothing */
static int sc_remap_past_end(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint8_t sig[64] = { 0 };
	uint32_t vmid = e ? th_new_vm(e, 0) : 0, idx = 0;
	uint64_t pfn = HL_RAM_BASE_PFN + 3001;

	if (!vmid || hl_set_boot_info(e, 0, vmid, hl_ipa(0x80000000ull), 4096, sig, &idx) != HL_OK ||
	    hl_remap_vm_image(e, 0, vmid, pfn, idx) != HL_OK)
		SC_SETUP_FAIL();
	SC_ARMED(hl_remap_vm_image(e, 1, vmid, pfn + 1, idx));
	SC_VERDICT();
}

/* REFERENCE 7.10: a VM's bank maps a page for DMA before the VM boots; once it is VERIFIED
 * the host's SMMU_CLEAR there must halt */
static int sc_smmu_clear_verified(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	enum { IMG = 8192 };
	struct hl_engine *e = mut_engine(2);
	uint64_t block = HL_RAM_BASE_PFN + 2048, pfn = HL_RAM_BASE_PFN + 3001, gfn = 0x40000;
	uint8_t sig[64], img[IMG];
	uint32_t vmid = 0, idx = 0;
	int verified = 0;

	for (unsigned i = 0; i < IMG; i++)
		img[i] = (uint8_t)(i * 13 + 1);
	if (!e || hl_register_kvm(e, 0, 0x5000, 0, &vmid) != HL_OK || hl_smmu_alloc_pgd(e, 0, 0, vmid, 0) != HL_OK ||
	    hl_smmu_assign_page(e, 0, 0, 0, pfn, gfn) != HL_OK ||
	    hl_smmu_map_page(e, 0, 0, 0, hl_iova(gfn * HL_PAGE_SIZE), pfn * HL_PAGE_SIZE | HL_PAGE_S2_KERNEL) != HL_OK)
		SC_SETUP_FAIL();
	memcpy(hl_ram_page(e, block), img, 4096);
	memcpy(hl_ram_page(e, block + 1), img + 4096, 4096);
	if (hl_testkey_sign_image(sig, img, IMG) != 0 ||
	    hl_set_boot_info(e, 0, vmid, hl_ipa(0x80000000ull), IMG, sig, &idx) != HL_OK ||
	    hl_remap_vm_image(e, 0, vmid, block, idx) != HL_OK || hl_remap_vm_image(e, 0, vmid, block + 1, idx) != HL_OK ||
	    hl_verify_vm_image(e, 0, vmid, &verified) != HL_OK || !verified)
		SC_SETUP_FAIL();
	SC_ARMED(hl_smmu_clear(e, 1, hl_iova(gfn * HL_PAGE_SIZE), 0, 0));
	SC_VERDICT();
}

/* the share count's bounds (the hostile mix reaches them too, but only after several random
 * runs: too close to the budget on a loaded 2-core machine) */
static int sc_revoke_zero(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint64_t base = HL_RAM_BASE_PFN + 2048;
	uint32_t vmid = e ? th_boot_vm(e, 0, base, 0x80000000ull) : 0;

	if (!vmid)
		SC_SETUP_FAIL();
	SC_ARMED(hl_revoke_vm_page(e, 1, vmid, base));   /* count 0 */
	SC_VERDICT();
}

static int sc_grant_max(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint64_t base = HL_RAM_BASE_PFN + 2048;
	uint32_t vmid = e ? th_boot_vm(e, 0, base, 0x80000000ull) : 0;

	if (!vmid)
		SC_SETUP_FAIL();
	for (unsigned i = 0; i < HL_MAX_SHARE_COUNT; i++)
		if (hl_grant_vm_page(e, 0, vmid, base) != HL_OK)
			SC_SETUP_FAIL();
	SC_ARMED(hl_grant_vm_page(e, 1, vmid, base));   /* count MAX_SHARE_COUNT */
	SC_VERDICT();
}

/* REFERENCE 7.2: the guest shares a page; the record must name OGRANT */
static int sc_grant_logs_clear(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint64_t base = HL_RAM_BASE_PFN + 2048;
	uint32_t vmid = e ? th_boot_vm(e, 0, base, 0x80000000ull) : 0;

	if (!vmid)
		SC_SETUP_FAIL();
	SC_ARMED(hl_grant_vm_page(e, 1, vmid, base));
	SC_VERDICT();
}

/* REFERENCE 7.3: VM 1 owns bank 3 and powers off, VM 2 owns bank 1; freeing bank 3 must
 * free bank 3 (the seed frees smmu_vmid[1]: VM 2's bank) */
static int sc_smmu_free_vmid(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint32_t vm1 = e ? th_new_vm(e, 0) : 0, vm2 = e ? th_new_vm(e, 0) : 0;

	if (!vm1 || !vm2 || hl_smmu_alloc_pgd(e, 0, vm1 % HL_SMMU_NUM_CB, vm2, 0) != HL_OK ||
	    hl_smmu_alloc_pgd(e, 0, 3, vm1, 0) != HL_OK || vm1 == 3 || hl_set_vm_poweroff(e, 0, vm1) != HL_OK)
		SC_SETUP_FAIL();
	SC_ARMED(hl_smmu_free_pgd(e, 1, 3, 0));
	SC_VERDICT();
}

/* SPEC's halt branches on a VM's state machine, and the vcpuid range */
static int sc_smmu_free_live(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint64_t pfn = HL_RAM_BASE_PFN + 3001, gfn = 0x40000;
	uint32_t vmid = e ? th_new_vm(e, 0) : 0;

	if (!vmid || hl_smmu_alloc_pgd(e, 0, 0, vmid, 0) != HL_OK || hl_smmu_assign_page(e, 0, 0, 0, pfn, gfn) != HL_OK ||
	    hl_smmu_map_page(e, 0, 0, 0, hl_iova(gfn * HL_PAGE_SIZE), pfn * HL_PAGE_SIZE | HL_PAGE_S2_KERNEL) != HL_OK)
		SC_SETUP_FAIL();
	SC_ARMED(hl_smmu_free_pgd(e, 1, 0, 0));   /* the VM is READY, not POWEROFF */
	SC_VERDICT();
}

static int sc_active_twice(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint32_t vmid = e ? th_boot_vm(e, 0, HL_RAM_BASE_PFN + 2048, 0x80000000ull) : 0;

	if (!vmid || hl_set_vcpu_active(e, 0, vmid, 1) != HL_OK)
		SC_SETUP_FAIL();
	SC_ARMED(hl_set_vcpu_active(e, 1, vmid, 1));   /* CPU 0 runs it */
	if (hl_set_vcpu_inactive(e, 0, vmid, 1) != HL_OK)
		SC_SETUP_FAIL();
	SC_VERDICT();
}

static int sc_boot_info_state(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint8_t sig[64] = { 0 };
	uint32_t vmid = e ? th_boot_vm(e, 0, HL_RAM_BASE_PFN + 2048, 0x80000000ull) : 0, idx = 0;

	if (!vmid)
		SC_SETUP_FAIL();
	SC_ARMED(hl_set_boot_info(e, 1, vmid, hl_ipa(0xC0000000ull), 4096, sig, &idx));   /* VERIFIED */
	SC_VERDICT();
}

static int sc_remap_state(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint8_t sig[64] = { 0 };
	uint64_t pfn = HL_RAM_BASE_PFN + 3001;
	uint32_t vmid = e ? th_new_vm(e, 0) : 0, idx = 0;

	/* a two-page image with one page remapped, then the VM powers off: the second page
	 * must not reach KCore's window */
	if (!vmid || hl_set_boot_info(e, 0, vmid, hl_ipa(0x80000000ull), 8192, sig, &idx) != HL_OK ||
	    hl_remap_vm_image(e, 0, vmid, pfn, idx) != HL_OK || hl_set_vm_poweroff(e, 0, vmid) != HL_OK)
		SC_SETUP_FAIL();
	SC_ARMED(hl_remap_vm_image(e, 1, vmid, pfn + 1, idx));
	SC_VERDICT();
}

static int sc_remap_window(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint8_t sig[64] = { 0 };
	uint32_t vmid = e ? th_new_vm(e, 0) : 0, idx = 0;
	uint64_t size = (HL_REMAP_END - HL_REMAP_START) / 8 * 5;   /* 5/8 of the window: a second one does not fit */

	if (!vmid || hl_set_boot_info(e, 0, vmid, hl_ipa(0x80000000ull), size, sig, &idx) != HL_OK)
		SC_SETUP_FAIL();
	SC_ARMED(hl_set_boot_info(e, 1, vmid, hl_ipa(0x100000000ull), size, sig, &idx));
	SC_VERDICT();
}

/* a vmid one past MAX_VM is KCore's own (COREVISOR): OMAP_VM must refuse it */
static int sc_vmid_end(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);

	if (!e)
		SC_SETUP_FAIL();
	SC_ARMED(hl_map_pfn_vm(e, 1, HL_COREVISOR, hl_ipa(0x40000000ull), (HL_RAM_BASE_PFN + 3001) * HL_PAGE_SIZE, 3));
	SC_VERDICT();
}

/* REFERENCE 7.27: CPU 1 halts (a vCPU of an unverified VM); its next call must be refused */
static int sc_halt_continue(enum hl_fault f, unsigned every, char *msg, size_t len)
{
	struct hl_engine *e = mut_engine(2);
	uint32_t vmid = e ? th_new_vm(e, 0) : 0;

	if (!vmid || hl_register_vcpu(e, 0, vmid, 0, 0x6000) != HL_OK || hl_set_vcpu_active(e, 1, vmid, 0) != HL_HALT)
		SC_SETUP_FAIL();
	SC_ARMED(hl_map_host(e, 1, hl_pa((HL_RAM_BASE_PFN + 3001) * HL_PAGE_SIZE)));
	SC_VERDICT();
}

static const struct mutant mutants[] = {
	/* the step framework and the logs */
	{ "skip-lock", HL_FAULT_SKIP_LOCK, 0, 0, 1, NULL, sc_skip_lock },
	{ "lock-order", HL_FAULT_LOCK_ORDER, HP_MIX_ALL, 60, 5, NULL, NULL },
	{ "append-late", HL_FAULT_APPEND_LATE, HP_MIX_ALL, 60, 3, NULL, NULL },
	{ "drop-record", HL_FAULT_DROP_RECORD, HP_MIX_ALL, 60, 9, NULL, NULL },
	{ "wrong-delta", HL_FAULT_WRONG_DELTA, HP_MIX_ALL, 60, 9, NULL, NULL },
	{ "halt-release", HL_FAULT_HALT_RELEASE, HOSTILE, 300, 1, NULL, NULL },
	{ "reorder", HL_FAULT_REORDER, HP_MIX_ALL, 60, 9, NULL, NULL },
	/* issue 10's list */
	{ "smmu-lock-order", HL_FAULT_SMMU_LOCK_ORDER, HP_MIX_ALL, 120, 1, NULL, NULL },
	{ "clear-no-zero", HL_FAULT_CLEAR_NO_ZERO, 0, 0, 1, NULL, sc_clear_vm },
	{ "vmid-no-bound", HL_FAULT_VMID_NO_BOUND, HOSTILE, 300, 1, NULL, NULL },
	{ "halt-unstrand", HL_FAULT_HALT_UNSTRAND, HOSTILE, 300, 1, NULL, NULL },
	{ "smmu-no-unmap", HL_FAULT_SMMU_NO_UNMAP, HOSTILE, 300, 1, NULL, NULL },
	{ "revoke-at-zero", HL_FAULT_REVOKE_AT_ZERO, 0, 0, 1, NULL, sc_revoke_zero },
	{ "grant-past-max", HL_FAULT_GRANT_PAST_MAX, 0, 0, 1, NULL, sc_grant_max },
	{ "verify-no-sig", HL_FAULT_VERIFY_NO_SIG, HOSTILE, 300, 1, NULL, NULL },
	/* isolation */
	{ "dma-no-dec", HL_FAULT_DMA_NO_DEC, HOSTILE, 300, 1, NULL, NULL },
	{ "smmu-map-over", HL_FAULT_SMMU_MAP_OVER, HOSTILE, 300, 1, NULL, NULL },
	{ "vm-map-over", HL_FAULT_VM_MAP_OVER, HOSTILE, 300, 1, NULL, NULL },
	{ "clear-while-dma", HL_FAULT_CLEAR_WHILE_DMA, 0, 0, 1, NULL, sc_clear_dma },
	{ "tlbi-skip", HL_FAULT_TLBI_SKIP, HOSTILE, 300, 1,
	  "a TLB entry is not logged state: no relation can see a stale translation; the hostile workload "
	  "must catch it instead (the host reads a VM page through it: asserted below)", NULL },
	{ "host-maps-vm", HL_FAULT_HOST_MAPS_VM, HOSTILE, 300, 1, NULL, NULL },
	{ "run-unverified", HL_FAULT_RUN_UNVERIFIED, HOSTILE, 300, 1, NULL, NULL },
	{ "smmu-free-keep", HL_FAULT_SMMU_FREE_KEEP, HOSTILE, 300, 1, NULL, NULL },
	{ "smmu-no-count", HL_FAULT_SMMU_NO_COUNT, HP_MIX_ALL, 120, 1, NULL, NULL },
	{ "revoke-no-unmap", HL_FAULT_REVOKE_NO_UNMAP, 0, 0, 1, NULL, sc_revoke },
	{ "relaxed-publish", HL_FAULT_RELAXED_PUBLISH, HP_MIX_ALL, 60, 1,
	  "a missing release fence changes nothing a single-threaded controlled run or x86 can observe; "
	  "caught under ThreadSanitizer by test_mutation_tsan (concurrency suite, scripts/test's TSan build)", NULL },
	{ "clear-while-running", HL_FAULT_CLEAR_WHILE_RUNNING, 0, 0, 1, NULL, sc_clear_running },
	/* the shard refinement (issue 11) */
	{ "shard-misroute", HL_FAULT_SHARD_MISROUTE, 0, 0, 1, NULL, sc_shard_misroute },
	/* the bug catalogue: REFERENCE 7's SeKVM bugs and SPEC's halt/error branches */
	{ "inactive-stays", HL_FAULT_INACTIVE_STAYS, HOSTILE, 300, 1, NULL, NULL },
	{ "grant-logs-clear", HL_FAULT_GRANT_LOGS_CLEAR, 0, 0, 1, NULL, sc_grant_logs_clear },
	{ "smmu-free-vmid", HL_FAULT_SMMU_FREE_VMID, 0, 0, 1, NULL, sc_smmu_free_vmid },
	{ "assign-halts", HL_FAULT_ASSIGN_HALTS, HOSTILE, 300, 1, NULL, NULL },
	{ "assign-no-fixup", HL_FAULT_ASSIGN_NO_FIXUP, 0, 0, 1,
	  "a step the spec makes write but the engine leaves unwritten appends no record (SPEC 5: only changed "
	  "objects get one), so its logs are those of a correct engine that found nothing to fix, and no later "
	  "step reads the count differently; the scenario's state probe catches it (asserted below)", sc_assign_fixup },
	{ "clear-no-unmap", HL_FAULT_CLEAR_NO_UNMAP, 0, 0, 1, NULL, sc_clear_unmap },
	{ "io-any-state", HL_FAULT_IO_ANY_STATE, 0, 0, 1, NULL, sc_io_state },
	{ "smmu-alloc-verified", HL_FAULT_SMMU_ALLOC_VERIFIED, 0, 0, 1, NULL, sc_alloc_verified },
	{ "reg-vcpu-any-state", HL_FAULT_REG_VCPU_ANY_STATE, 0, 0, 1, NULL, sc_reg_vcpu },
	{ "revoke-no-dec", HL_FAULT_REVOKE_NO_DEC, 0, 0, 1, NULL, sc_revoke_dec },
	{ "assign-no-unmap", HL_FAULT_ASSIGN_NO_UNMAP, HOSTILE, 300, 1, NULL, NULL },
	{ "assign-wrong-vmid", HL_FAULT_ASSIGN_WRONG_VMID, HOSTILE, 300, 1, NULL, NULL },
	{ "double-assign", HL_FAULT_DOUBLE_ASSIGN, 0, 0, 1, NULL, sc_double_assign },
	{ "map-vm-level", HL_FAULT_MAP_VM_LEVEL, HOSTILE, 300, 1, NULL, NULL },
	{ "smmu-map-any-owner", HL_FAULT_SMMU_MAP_ANY_OWNER, HOSTILE, 300, 1, NULL, NULL },
	{ "map-host-end", HL_FAULT_MAP_HOST_END, 0, 0, 1, NULL, sc_map_host_end },
	/* the rest of the transitions whose model side has the engine's shape (duplicates) */
	{ "remap-past-end", HL_FAULT_REMAP_PAST_END, 0, 0, 1, NULL, sc_remap_past_end },
	{ "smmu-clear-no-count", HL_FAULT_SMMU_CLEAR_NO_COUNT, HP_MIX_ALL, 120, 1, NULL, NULL },
	{ "smmu-clear-verified", HL_FAULT_SMMU_CLEAR_VERIFIED, 0, 0, 1, NULL, sc_smmu_clear_verified },
	/* SPEC's halt branches on the VM state machine and windows, and a bad-input range */
	{ "smmu-free-live", HL_FAULT_SMMU_FREE_LIVE, 0, 0, 1, NULL, sc_smmu_free_live },
	{ "active-twice", HL_FAULT_ACTIVE_TWICE, 0, 0, 1, NULL, sc_active_twice },
	{ "boot-info-any-state", HL_FAULT_BOOT_INFO_ANY_STATE, 0, 0, 1, NULL, sc_boot_info_state },
	{ "remap-any-state", HL_FAULT_REMAP_ANY_STATE, 0, 0, 1, NULL, sc_remap_state },
	{ "remap-window-full", HL_FAULT_REMAP_WINDOW_FULL, 0, 0, 1, NULL, sc_remap_window },
	{ "vmid-end", HL_FAULT_VMID_END, 0, 0, 1, NULL, sc_vmid_end },
	{ "halt-continue", HL_FAULT_HALT_CONTINUE, 0, 0, 1, NULL, sc_halt_continue },
};
#define NMUT (sizeof(mutants) / sizeof(mutants[0]))

enum outcome { CAUGHT, ESCAPED, WORKLOAD_ONLY, CRASHED, HUNG };
static const char *const outcome_names[] = { "caught", "ESCAPED", "ESCAPED (workload only)", "CRASHED", "HUNG" };

struct result {
	enum outcome o;
	char rel[40];
	unsigned runs, crashes;
	char crash_msg[200];
	double secs;
	char msg[400];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* the relation a result message names first ("<relation> violated at ..."), or NULL */
static const char *named_relation(const char *msg)
{
	for (int r = HL_REL_CALLOCK; r < HL_REL_ERROR; r++) {
		const char *n = hl_rel_name(r);
		size_t len = strlen(n);
		if (!strncmp(msg, n, len) && !strncmp(msg + len, " violated", 9))
			return n;
	}
	return NULL;
}

/* one controlled run in a child: 0 passed, 1 failed (msg), -1 crash, -2 hang */
static int run_child(const struct hl_explore_cfg *x, uint64_t seed, char *msg, size_t len,
		     int (*scenario)(enum hl_fault, unsigned, char *, size_t))
{
	int fd[2];
	pid_t pid;
	int st = 0;
	size_t got = 0;
	double t0 = now_s();

	msg[0] = 0;
	if (MUT_INPROC) {
		struct hl_explore_result r;
		int s;
		(void)fd;
		(void)pid;
		(void)st;
		(void)got;
		(void)t0;
		if (scenario)
			return scenario((enum hl_fault)x->fault, x->fault_every, msg, len) ? 1 : 0;
		hl_explore_one(x, seed, NULL, 0, &r);
		snprintf(msg, len, "%.*s", (int)len - 1, r.msg);
		free(r.next_prefix);
		s = r.status;
		return s == 0 ? 0 : s > 0 ? 1 : -1;
	}
	if (pipe(fd) != 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct hl_explore_result r;
		close(fd[0]);
		if (!freopen("/dev/null", "w", stdout))
			_exit(3);
		if (scenario) {
			char m[512] = "";
			int s = scenario((enum hl_fault)x->fault, x->fault_every, m, sizeof(m));
			dprintf(fd[1], "%d %s", s, m);
			_exit(0);
		}
		hl_explore_one(x, seed, NULL, 0, &r);
		dprintf(fd[1], "%d %s", r.status, r.msg);
		free(r.next_prefix);
		_exit(0);
	}
	close(fd[1]);
	for (;;) {
		struct pollfd p = { fd[0], POLLIN, 0 };
		double left = RUN_LIMIT_S - (now_s() - t0);
		ssize_t n;
		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			close(fd[0]);
			snprintf(msg, len, "no verdict within %d s", RUN_LIMIT_S);
			return -2;
		}
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = read(fd[0], msg + got, len - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got >= len - 1)
			break;
	}
	msg[got] = 0;
	close(fd[0]);
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(msg, len, "%s %d", WIFSIGNALED(st) ? "killed by signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		return -1;
	}
	if (got < 2)
		return -1;
	int status = atoi(msg);
	memmove(msg, strchr(msg, ' ') ? strchr(msg, ' ') + 1 : msg, strlen(msg) + 1);
	return status == 0 ? 0 : 1;
}

static void run_mutant(const struct mutant *m, struct result *res)
{
	struct hl_explore_cfg x;
	double t0 = now_s();

	memset(res, 0, sizeof(*res));
	res->o = ESCAPED;
	hl_explore_cfg_default(&x);
	x.strat = HL_STRAT_RANDOM;
	x.cpus = 2;
	x.ops = m->ops;
	x.mix = m->mix;
	x.fault = (int)m->f;
	x.fault_every = m->every;
	x.s2p_shard_pages = g_s2p_pages;
	x.npt_host_shard_mib = g_npth_mib;
	for (uint64_t run = 0; now_s() - t0 < MUT_BUDGET_S - 1.0 && (!m->escape_why || run < 3 ||
		     (m->f == HL_FAULT_TLBI_SKIP && res->o != WORKLOAD_ONLY)); run++) {
		char msg[sizeof(res->msg)];
		int rc = run_child(&x, hl_explore_run_seed(&x, run), msg, sizeof(msg), m->scenario);
		const char *rel;

		res->runs++;
		if (rc == -1 || rc == -2) {
			/* not a catch; another run may still reach an oracle (reported either way) */
			if (!res->crashes++)
				snprintf(res->crash_msg, sizeof(res->crash_msg), "%.190s", msg);
			if (res->o == ESCAPED) {
				res->o = rc == -1 ? CRASHED : HUNG;
				snprintf(res->msg, sizeof(res->msg), "%s", msg);
			}
			if (m->scenario)
				break;
			continue;
		}
		if (rc == 1 && (rel = named_relation(msg))) {
			res->o = CAUGHT;
			snprintf(res->rel, sizeof(res->rel), "%s", rel);
			snprintf(res->msg, sizeof(res->msg), "%s", msg);
			break;
		}
		if (rc == 1 && res->o == ESCAPED) {
			res->o = WORKLOAD_ONLY;   /* keep looking for an oracle verdict */
			snprintf(res->msg, sizeof(res->msg), "%s", msg);
		}
		if (m->scenario)
			break;   /* deterministic: one run says it (a failed setup too) */
	}
	res->secs = now_s() - t0;
	if (res->secs > MUT_BUDGET_S && res->o == CAUGHT)
		res->o = HUNG;   /* caught, but not within the budget */
}

/* the baseline: the same workloads without a fault hold every relation */
Test(mutation, clean_runs_hold, .timeout = 240 * MUT_SLOW)
{
	const unsigned mixes[] = { HP_MIX_ALL, HOSTILE };
	for (unsigned sharded = 0; sharded < 2; sharded++) {
		g_s2p_pages = sharded ? HL_S2P_SHARD_PAGES_SCALE : 0;
		g_npth_mib = sharded ? 4 : 0;
		for (unsigned i = 0; i < 2; i++) {
			struct hl_explore_cfg x;
			hl_explore_cfg_default(&x);
			x.cpus = 2;
			x.ops = 300;
			x.mix = mixes[i];
			x.s2p_shard_pages = g_s2p_pages;
			x.npt_host_shard_mib = g_npth_mib;
			for (uint64_t run = 0; run < 6; run++) {
				char msg[400];
				int rc = run_child(&x, hl_explore_run_seed(&x, run), msg, sizeof(msg), NULL);
				cr_assert_eq(rc, 0, "clean mix %s run %llu%s: %s", hp_mix_name(mixes[i]), (unsigned long long)run,
					     sharded ? " (shards)" : "", msg);
			}
		}
		/* the engine-level scenarios without their fault */
		for (unsigned i = 0; i < NMUT; i++) {
			struct hl_explore_cfg x;
			char msg[400];
			if (!mutants[i].scenario)
				continue;
			hl_explore_cfg_default(&x);
			x.fault = (int)mutants[i].f;
			x.fault_every = 0;
			cr_assert_eq(run_child(&x, 0, msg, sizeof(msg), mutants[i].scenario), 0, "clean scenario of %s%s: %s",
				     mutants[i].name, sharded ? " (shards)" : "", msg);
		}
	}
	g_s2p_pages = g_npth_mib = 0;
}

static void whole_suite(const char *how)
{
	struct result res[NMUT];
	unsigned escaped = 0, caught = 0, listed = 0;

	cr_assert_eq(NMUT, HL_FAULT__COUNT, "one mutant per fault switch (hl_fault.h)");
	const char *only = getenv("HL_MUTANTS");   /* debugging: a comma-separated subset */
	for (unsigned i = 0; i < NMUT; i++) {
		char key[40];
		snprintf(key, sizeof(key), ",%s,", mutants[i].name);
		if (only) {
			char list[512];
			snprintf(list, sizeof(list), ",%s,", only);
			if (!strstr(list, key)) {
				memset(&res[i], 0, sizeof(res[i]));
				res[i].o = mutants[i].escape_why ? ESCAPED : CAUGHT;
				snprintf(res[i].rel, sizeof(res[i].rel), "(skipped: HL_MUTANTS)");
				continue;
			}
		}
		run_mutant(&mutants[i], &res[i]);
	}
	printf("\nmutation suite (%s): %zu mutants, 2 CPUs, <= %.0f s each\n", how, NMUT, MUT_BUDGET_S);
	printf("  %-17s %-8s %-24s %5s %6s  %s\n", "mutant", "mix", "verdict", "runs", "s", "relation / message");
	for (unsigned i = 0; i < NMUT; i++) {
		const struct mutant *m = &mutants[i];
		const struct result *r = &res[i];
		printf("  %-17s %-8s %-24s %5u %6.2f  %s\n", m->name, m->scenario ? "engine" : hp_mix_name(m->mix),
		       r->o == CAUGHT ? "caught" : m->escape_why ? "expected escape" : outcome_names[r->o], r->runs,
		       r->secs, r->o == CAUGHT ? r->rel : r->msg);
		if (r->crashes && r->o == CAUGHT)
			printf("  %-17s   %u run(s) crashed or hung first (first: %s)\n", "", r->crashes, r->crash_msg);
		if (r->o == CAUGHT) {
			caught++;
			if (m->escape_why)
				printf("  %-17s ^ on the expected-escape list but caught: remove it from the list\n", "");
		} else if (m->escape_why) {
			listed++;
			printf("  %-17s   expected escape: %s\n", "", m->escape_why);
		} else {
			escaped++;
		}
	}
	printf("mutation suite: %u caught by an oracle, %u expected escapes, %u unexpected escapes\n", caught, listed,
	       escaped);
	fflush(stdout);
	for (unsigned i = 0; i < NMUT; i++)
		cr_expect(res[i].o == CAUGHT || mutants[i].escape_why, "mutant %s: %s: %s", mutants[i].name,
			  outcome_names[res[i].o], res[i].msg);
	/* an expected escape with a scenario: the scenario's own probe must see the bug */
	for (unsigned i = 0; i < NMUT; i++)
		if (mutants[i].escape_why && mutants[i].scenario && !strstr(res[i].rel, "HL_MUTANTS"))
			cr_expect(res[i].o == CAUGHT || (res[i].o == WORKLOAD_ONLY && strstr(res[i].msg, "probe:")),
				  "%s: the scenario's probe did not see the bug: %s: %s", mutants[i].name,
				  outcome_names[res[i].o], res[i].msg);
	/* the stale TLB entry: the hostile workload itself reports the host reading VM data.
	 * Asserted in the pass over SPEC's objects; with shards the read needs more random runs
	 * than the budget gives on a loaded 2-core machine (a TLB entry is no logged state, so
	 * the shards change nothing any oracle could see: its outcome is only printed) */
	for (unsigned i = 0; i < NMUT && !g_s2p_pages && !g_npth_mib; i++)
		if (mutants[i].f == HL_FAULT_TLBI_SKIP && !strstr(res[i].rel, "HL_MUTANTS"))
			cr_expect(res[i].o == CAUGHT || (res[i].o == WORKLOAD_ONLY && strstr(res[i].msg, "forbidden")),
				  "tlbi-skip: the hostile workload did not see the host read VM data: %s: %s",
				  outcome_names[res[i].o], res[i].msg);
}

Test(mutation, every_mutant_is_caught_by_an_oracle, .timeout = 900 * MUT_SLOW)
{
	g_s2p_pages = g_npth_mib = 0;
	whole_suite("SPEC's objects");
}

/* the same mutants with s2page and npt(host) in shards: the refinement hides none of them */
Test(mutation, every_mutant_is_caught_with_shards, .timeout = 900 * MUT_SLOW)
{
	g_s2p_pages = HL_S2P_SHARD_PAGES_SCALE;
	g_npth_mib = 4;
	whole_suite("s2page and npt(host) in shards");
}

/*
 * test_redteam_smp.c - H10's red-team attacks that need two CPUs at once (concurrency
 * suite): use after teardown across CPUs.
 *
 * clear_while_a_vcpu_still_runs: vCPU 0 of a VM runs its guest on CPU 1; vCPU 1 powers the
 * VM off from CPU 0 (PSCI SYSTEM_OFF); the host then asks CLEAR_VM_S2_RANGE for the VM's
 * pages while vCPU 0 is still in the guest, where its stage-2 table (the VM's, which
 * teardown never clears) still maps them. Before the fix the pages went back to the host
 * (and could go on to another VM) while the guest still read and wrote them; now the call
 * is refused with EPERM and nothing changed until every vCPU has exited.
 * clear_vs_running_vcpu_race: the same with random timing, 24 rounds (fails on the old code).
 * The oracles cannot see this attack on their own: the logs admit a linearization with
 * vCPU 0's OVM_INACTIVE before the OCLEAR_VM steps (the guest's accesses and the trap
 * layer's read of the vCPU states append no record), so the test asserts it directly.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

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

#define PG              4096ull
#define PMD             0x200000ull
#define KERNEL          0x7FFull
#define SYSTEM_OFF      0x84000008ull
#define EXIT_TRAP       2u
#define META_PFN        th_pfn(16)
#define VCPU_PFN        th_pfn(17)
#define GPAGE(i)        th_pfn(200 + (i))
#define BLOCK_PFN       th_pfn(1024)
#define LOAD_ADDR       0x80000000ull
#define BOOT_PC         (LOAD_ADDR + 0x100)
#define IMG_BYTES       8192u
#define GUEST_RAM       0x40000000ull
#define G_PAGE          (GUEST_RAM + 5 * PG)

static struct hl_engine *E;
static struct kcore *K;
static struct hp_platform *P;

static void setup(void)
{
	cr_assert(sodium_init() >= 0);
	E = th_engine(2);
	cr_assert_not_null(E);
	P = th_platform(E, &K);
	cr_assert_not_null(P);
}

static void teardown(void)
{
	th_platform_free(P, K, E);
}

static int64_t hvc(unsigned cpu, uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4)
{
	return hp_hvc(P, cpu, x0, x1, x2, x3, x4, 0);
}

static void hwrite(uint64_t pa, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	for (size_t off = 0; off < len; off += 8) {
		uint64_t v = 0;
		memcpy(&v, b + off, len - off < 8 ? len - off : 8);
		cr_assert(hp_host_store(P, 0, pa + off, 8, v));
	}
}

static uint64_t hv_pa(unsigned v) { return VCPU_PFN * PG + v * 512ull; }
#define HV_FIELD(v, field) (hv_pa(v) + offsetof(struct host_vcpu, field))

static unsigned gtrap(uint64_t pc, uint64_t esr, uint64_t ipa)
{
	arch_write_sysreg(SR_ELR_EL2, pc);
	arch_write_sysreg(SR_ESR_EL2, esr);
	arch_write_sysreg(SR_FAR_EL2, ipa);
	arch_write_sysreg(SR_HPFAR_EL2, ipa_to_hpfar(ipa));
	return ARCH_EXIT_TRAP;
}

/* ---- the guests: vCPU 0 waits in the guest and then looks at its page; vCPU 1 powers off ---- */
static uint32_t VMID;
static volatile int in_guest, host_done, guest_mode;   /* guest_mode 0: fault at G_PAGE */
static uint32_t seen_owner = 0xEEEEEEEE;
static uint64_t seen_pfn;
static int seen_rc = -99;

static unsigned guest(void *arg, uint64_t *x)
{
	unsigned vcpu = (unsigned)(arch_read_sysreg(SR_VMPIDR_EL2) & 0xFF);
	(void)arg;

	if (vcpu == 1) {
		x[0] = SYSTEM_OFF;
		return gtrap(arch_read_sysreg(SR_ELR_EL2) + 4, esr_make(EC_HVC64, 0), 0);
	}
	if (guest_mode == 0)   /* the first runs: a stage-2 fault at G_PAGE for the host to answer */
		return gtrap(arch_read_sysreg(SR_ELR_EL2),
			     esr_make(EC_DABT_LOW, ESR_ISV | (3u << ESR_SAS_SHIFT) | (2u << ESR_SRT_SHIFT) |
						   (FSC_TRANS_L0 + 3)), G_PAGE);
	/* the long run: in the guest until the host is done, then a load from G_PAGE the way
	 * the hardware does it (the VM's stage-2 table, whoever owns the frame now) */
	__atomic_store_n(&in_guest, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 20000 && !__atomic_load_n(&host_done, __ATOMIC_ACQUIRE); i++) {
		struct timespec ts = { 0, 500000 };
		nanosleep(&ts, NULL);
	}
	{
		struct hl_pt_entry ent;
		struct hl_s2page pg;
		seen_rc = hl_translate(E, 1, VMID, hl_ipa(G_PAGE), &ent);
		if (seen_rc == HL_OK && ent.level) {
			seen_pfn = ent.pfn;
			seen_rc = hl_page_get(E, 1, ent.pfn, &pg);
			seen_owner = pg.owner;
		}
	}
	return gtrap(arch_read_sysreg(SR_ELR_EL2), esr_make(EC_WFX, 0), 0);
}

static void *cpu1_runs_vcpu0(void *arg)
{
	(void)arg;
	hp_enter_cpu(P, 1);
	(void)hvc(1, HVC_VCPU_RUN, VMID, 0, 0, 0);
	return NULL;
}

static uint32_t boot_vm_with_page(void)
{
	static uint8_t img[IMG_BYTES];
	uint8_t sig[64];
	int64_t vmid = hvc(0, HVC_REGISTER_KVM, 0, 0xABCD0000ull, 0, 0);

	cr_assert(vmid >= 1 && vmid <= HL_MAX_VM);
	for (unsigned v = 0; v < 2; v++) {
		cr_assert(hp_host_store(P, 0, HV_FIELD(v, boot_pc), 8, BOOT_PC));
		cr_assert_eq(hvc(0, HVC_REGISTER_VCPU, (uint64_t)vmid, v, hv_pa(v), 0), 0);
	}
	for (unsigned i = 0; i < IMG_BYTES; i++)
		img[i] = (uint8_t)(i * 13 + 5);
	hwrite(BLOCK_PFN * PG, img, IMG_BYTES);
	cr_assert_eq(hl_testkey_sign_image(sig, img, IMG_BYTES), 0);
	hwrite(META_PFN * PG + 64, sig, 64);
	cr_assert_eq(hvc(0, HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, IMG_BYTES, META_PFN * PG + 64), 0);
	for (unsigned i = 0; i < IMG_BYTES / PG; i++)
		cr_assert_eq(hvc(0, HVC_REMAP_VM_IMAGE, vmid, BLOCK_PFN + i, 0, 0), 0);
	cr_assert_eq(hvc(0, HVC_VERIFY_VM_IMAGE, vmid, 0, 0, 0), 1);
	/* vCPU 0 faults at G_PAGE; the host answers with GPAGE(0) */
	cr_assert_eq(hvc(0, HVC_VCPU_RUN, vmid, 0, 0, 0), EXIT_TRAP);
	cr_assert(hp_host_store(P, 0, HV_FIELD(0, fault_addr), 8, G_PAGE));
	cr_assert(hp_host_store(P, 0, HV_FIELD(0, fault_pte), 8, GPAGE(0) * PG | KERNEL));
	cr_assert(hp_host_store(P, 0, HV_FIELD(0, fault_level), 8, 3));
	cr_assert_eq(hvc(0, HVC_VCPU_RUN, vmid, 0, 0, 0), EXIT_TRAP);
	return (uint32_t)vmid;
}

/* the oracles on the engine's logs: every relation, the security invariants after every step */
static void oracle_holds(void)
{
	char why[512];

	cr_assert_eq(th_oracle_holds(E, why, sizeof(why)), 0, "%s", why);
}

TestSuite(redteam_smp, .init = setup, .fini = teardown, .timeout = 120);

Test(redteam_smp, clear_while_a_vcpu_still_runs)
{
	pthread_t t;
	struct th_snap s;

	hosted_set_guest_runner(guest, NULL);
	VMID = boot_vm_with_page();
	cr_assert_eq(E->st->info[VMID]->state, HL_VM_VERIFIED);
	{
		struct hl_pt_entry ent;
		hl_npt_walk(E->st->npt[VMID], G_PAGE, &ent);
		cr_assert_eq(ent.pfn, GPAGE(0), "the VM has its page");
	}
	guest_mode = 1;
	cr_assert_eq(pthread_create(&t, NULL, cpu1_runs_vcpu0, NULL), 0);
	for (int i = 0; i < 20000 && !__atomic_load_n(&in_guest, __ATOMIC_ACQUIRE); i++) {
		struct timespec ts = { 0, 500000 };
		nanosleep(&ts, NULL);
	}
	cr_assert(in_guest, "vCPU 0 never entered its guest");
	cr_assert_eq(E->st->info[VMID]->vcpu_state[0], HL_VCPU_ACTIVE);
	/* vCPU 1 powers the VM off */
	cr_assert_eq(hvc(0, HVC_VCPU_RUN, VMID, 1, 0, 0), EXIT_TRAP);
	cr_assert_eq(E->st->info[VMID]->state, HL_VM_POWEROFF);
	/* the host takes the pages back while vCPU 0 is still in the guest: refused, whole */
	th_snap_take(E, K, &s);
	int64_t r1 = hvc(0, HVC_CLEAR_VM_S2_RANGE, VMID, GUEST_RAM, 64 * PG, 0);
	int64_t r2 = hvc(0, HVC_CLEAR_VM_S2_RANGE, VMID, LOAD_ADDR, PMD, 0);
	unsigned diff = th_snap_diff(E, K, &s);
	th_snap_free(&s);
	__atomic_store_n(&host_done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	oracle_holds();
	cr_assert_eq(r1, KC_EPERM, "CLEAR_VM_S2_RANGE with a vCPU in the guest returned %lld", (long long)r1);
	cr_assert_eq(r2, KC_EPERM);
	cr_assert_eq(diff, 0, "the refused CLEAR changed state");
	cr_assert_eq(seen_rc, HL_OK);
	cr_assert_eq(seen_pfn, GPAGE(0));
	cr_assert_eq(seen_owner, VMID, "the running guest's page belonged to %#x while it ran", seen_owner);
	cr_assert(!hl_cpu_halted(E, 0) && !hl_cpu_halted(E, 1));
	/* vCPU 0 has exited: now the pages come back, zeroed */
	cr_assert_eq(E->st->info[VMID]->vcpu_state[0], HL_VCPU_READY);
	cr_assert_eq(hvc(0, HVC_CLEAR_VM_S2_RANGE, VMID, GUEST_RAM, 64 * PG, 0), 0);
	cr_assert_eq(hvc(0, HVC_CLEAR_VM_S2_RANGE, VMID, LOAD_ADDR, PMD, 0), 0);
	cr_assert_eq(hl_s2page_get(E->st, GPAGE(0)).owner, HL_HOSTVISOR);
	cr_assert_eq(hl_s2page_get(E->st, BLOCK_PFN).owner, HL_HOSTVISOR);
	oracle_holds();
}

/*
 * The same as a race, many rounds: vCPU 0 stays in its guest for a random time, looking at
 * its page again and again; CPU 0 powers the VM off after a random delay and retries
 * CLEAR_VM_S2_RANGE until it succeeds. The page is the VM's every time the guest looks; a
 * CLEAR that succeeds comes after vCPU 0 left (its vCPU READY again).
 */
static volatile int race_stop;
static uint64_t race_stay_us;
static unsigned race_bad, race_looks;

static unsigned race_guest(void *arg, uint64_t *x)
{
	unsigned vcpu = (unsigned)(arch_read_sysreg(SR_VMPIDR_EL2) & 0xFF);
	struct timespec t0, t;
	(void)arg;

	if (vcpu == 1) {
		x[0] = SYSTEM_OFF;
		return gtrap(arch_read_sysreg(SR_ELR_EL2) + 4, esr_make(EC_HVC64, 0), 0);
	}
	if (guest_mode == 0)
		return gtrap(arch_read_sysreg(SR_ELR_EL2),
			     esr_make(EC_DABT_LOW, ESR_ISV | (3u << ESR_SAS_SHIFT) | (2u << ESR_SRT_SHIFT) |
						   (FSC_TRANS_L0 + 3)), G_PAGE);
	__atomic_store_n(&in_guest, 1, __ATOMIC_RELEASE);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct hl_pt_entry ent;
		struct hl_s2page pg;
		if (hl_translate(E, 1, VMID, hl_ipa(G_PAGE), &ent) == HL_OK && ent.level &&
		    hl_page_get(E, 1, ent.pfn, &pg) == HL_OK) {
			race_looks++;
			if (pg.owner != VMID)
				race_bad++;
		}
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((uint64_t)(t.tv_sec - t0.tv_sec) * 1000000u + (uint64_t)(t.tv_nsec - t0.tv_nsec) / 1000u < race_stay_us);
	return gtrap(arch_read_sysreg(SR_ELR_EL2), esr_make(EC_WFX, 0), 0);
}

Test(redteam_smp, clear_vs_running_vcpu_race)
{
	uint64_t rnd = 0x9E3779B97F4A7C15ull;
	unsigned refused = 0, entered = 0;

	for (unsigned round = 0; round < 24; round++) {
		pthread_t t;
		unsigned tries = 0;
		int64_t r;

		if (round) {
			teardown();
			setup();
		}
		rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
		race_stay_us = 200 + rnd % 3000;
		in_guest = 0;
		race_bad = 0;
		guest_mode = 0;
		hosted_set_guest_runner(race_guest, NULL);
		VMID = boot_vm_with_page();
		guest_mode = 1;
		cr_assert_eq(pthread_create(&t, NULL, cpu1_runs_vcpu0, NULL), 0);
		{
			struct timespec ts = { 0, (long)(rnd >> 20) % 2000000 };
			nanosleep(&ts, NULL);   /* anywhere from before vCPU 0 enters to after it left */
		}
		cr_assert_eq(hvc(0, HVC_VCPU_RUN, VMID, 1, 0, 0), EXIT_TRAP);
		while ((r = hvc(0, HVC_CLEAR_VM_S2_RANGE, VMID, GUEST_RAM, 64 * PG, 0)) == KC_EPERM && tries++ < 100000)
			sched_yield();
		cr_assert_eq(r, 0, "round %u: CLEAR returned %lld", round, (long long)r);
		/* a CLEAR that went through: vCPU 0 is out of its guest for good */
		cr_assert_neq(E->st->info[VMID]->vcpu_state[0], HL_VCPU_ACTIVE, "round %u", round);
		refused += tries != 0;
		pthread_join(t, NULL);
		cr_assert_eq(race_bad, 0, "round %u: the running guest's page was not its own %u times of %u", round,
			     race_bad, race_looks);
		cr_assert(!hl_cpu_halted(E, 0));
		/* VCPU_RUN of vCPU 0 after the power-off halts CPU 1 (the seed's set_vcpu_active
		 * halt): then its guest never ran */
		if (hl_cpu_halted(E, 1))
			cr_assert_eq(in_guest, 0, "round %u", round);
		else
			entered++;
		cr_assert_eq(hl_s2page_get(E->st, GPAGE(0)).owner, HL_HOSTVISOR);
	}
	oracle_holds();
	cr_log_info("%u of 24 rounds: vCPU 0 entered its guest; %u: CLEAR refused while it ran", entered, refused);
	cr_assert_gt(refused, 0, "no round raced CLEAR against a running vCPU");
}

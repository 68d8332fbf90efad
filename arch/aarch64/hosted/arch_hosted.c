/*
 * arch_hosted.c - the hosted backend of arch.h: each pthread is a physical CPU and its
 * system registers are thread-local variables. Guests run as scripted programs (see
 * hosted_guest.h) instead of at EL1.
 */
#include <sched.h>
#include <stddef.h>

#include "arch.h"
#include "hosted.h"

static __thread unsigned cpu_id;
static __thread void *cpu_data;
static __thread uint64_t sysregs[SR__COUNT];
static __thread struct arch_fpsimd fpregs;   /* this CPU's FP/SIMD register file */
static hosted_guest_fn guest_fn;
static void *guest_arg;

static const char *const names[SR__COUNT] = {
	[SR_ESR_EL2] = "ESR_EL2", [SR_FAR_EL2] = "FAR_EL2", [SR_HPFAR_EL2] = "HPFAR_EL2",
	[SR_ELR_EL2] = "ELR_EL2", [SR_SPSR_EL2] = "SPSR_EL2", [SR_VTTBR_EL2] = "VTTBR_EL2",
	[SR_HCR_EL2] = "HCR_EL2", [SR_TPIDR_EL2] = "TPIDR_EL2", [SR_VMPIDR_EL2] = "VMPIDR_EL2",
	[SR_CPTR_EL2] = "CPTR_EL2", [SR_MDCR_EL2] = "MDCR_EL2", [SR_SCTLR_EL1] = "SCTLR_EL1",
	[SR_CPACR_EL1] = "CPACR_EL1", [SR_TTBR0_EL1] = "TTBR0_EL1", [SR_TTBR1_EL1] = "TTBR1_EL1",
	[SR_TCR_EL1] = "TCR_EL1", [SR_ESR_EL1] = "ESR_EL1", [SR_AFSR0_EL1] = "AFSR0_EL1",
	[SR_AFSR1_EL1] = "AFSR1_EL1", [SR_FAR_EL1] = "FAR_EL1", [SR_MAIR_EL1] = "MAIR_EL1",
	[SR_VBAR_EL1] = "VBAR_EL1", [SR_CONTEXTIDR_EL1] = "CONTEXTIDR_EL1", [SR_AMAIR_EL1] = "AMAIR_EL1",
	[SR_CNTKCTL_EL1] = "CNTKCTL_EL1", [SR_PAR_EL1] = "PAR_EL1", [SR_TPIDR_EL1] = "TPIDR_EL1",
	[SR_SPSR_EL1] = "SPSR_EL1", [SR_ELR_EL1] = "ELR_EL1", [SR_SP_EL1] = "SP_EL1",
	[SR_SP_EL0] = "SP_EL0", [SR_TPIDR_EL0] = "TPIDR_EL0", [SR_TPIDRRO_EL0] = "TPIDRRO_EL0",
	[SR_CSSELR_EL1] = "CSSELR_EL1", [SR_ACTLR_EL1] = "ACTLR_EL1", [SR_MDSCR_EL1] = "MDSCR_EL1",
	[SR_CNTHCTL_EL2] = "CNTHCTL_EL2", [SR_CNTVOFF_EL2] = "CNTVOFF_EL2", [SR_PMCR_EL0] = "PMCR_EL0",
	[SR_CNTV_CVAL_EL0] = "CNTV_CVAL_EL0", [SR_CNTV_CTL_EL0] = "CNTV_CTL_EL0", [SR_VDISR_EL2] = "VDISR_EL2",
	[SR_TPIDR2_EL0] = "TPIDR2_EL0",
	[SR_APIAKEYLO_EL1] = "APIAKEYLO_EL1",
	[SR_APIAKEYHI_EL1] = "APIAKEYHI_EL1",
	[SR_APIBKEYLO_EL1] = "APIBKEYLO_EL1",
	[SR_APIBKEYHI_EL1] = "APIBKEYHI_EL1",
	[SR_APDAKEYLO_EL1] = "APDAKEYLO_EL1",
	[SR_APDAKEYHI_EL1] = "APDAKEYHI_EL1",
	[SR_APDBKEYLO_EL1] = "APDBKEYLO_EL1",
	[SR_APDBKEYHI_EL1] = "APDBKEYHI_EL1",
	[SR_APGAKEYLO_EL1] = "APGAKEYLO_EL1",
	[SR_APGAKEYHI_EL1] = "APGAKEYHI_EL1",
};

/* the CPU model: PAuth implemented (as QEMU's -cpu max) unless a test says otherwise; without
 * it the key registers read 0 and ignore writes, as arch_el2.c never touches them */
static bool cpu_pauth = true;

void hosted_set_pauth(bool on) { cpu_pauth = on; }
bool arch_has_pauth(void) { return cpu_pauth; }

static bool is_pauth_key(enum arch_sysreg r)
{
	return r >= SR_APIAKEYLO_EL1 && r <= SR_APGAKEYHI_EL1;
}

uint64_t arch_read_sysreg(enum arch_sysreg r)
{
	if (is_pauth_key(r) && !cpu_pauth)
		return 0;
	return r < SR__COUNT ? sysregs[r] : 0;
}

void arch_write_sysreg(enum arch_sysreg r, uint64_t v)
{
	if (is_pauth_key(r) && !cpu_pauth)
		return;
	if (r < SR__COUNT)
		sysregs[r] = v;
}

const char *arch_sysreg_name(enum arch_sysreg r)
{
	return r < SR__COUNT && names[r] ? names[r] : "?";
}

void arch_fpsimd_save(struct arch_fpsimd *s) { *s = fpregs; }
void arch_fpsimd_restore(const struct arch_fpsimd *s) { fpregs = *s; }
struct arch_fpsimd *hosted_fpsimd(void) { return &fpregs; }

unsigned arch_cpu_id(void) { return cpu_id; }
void *arch_this_cpu_data(void) { return cpu_data; }
void arch_set_this_cpu_data(void *p) { cpu_data = p; }

void arch_dsb_isb(void)
{
	/* every table change happens under its lock and every walk takes it: a compiler
	 * barrier is all the hosted software MMU needs */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void arch_tlbi_vmid(uint64_t vttbr)
{
	/* the software MMU walks the tables on every access: nothing is cached */
	(void)vttbr;
}

static hosted_tlbi_fn tlbi_fn;
static void *tlbi_arg;

void arch_tlbi_s2_ipa(uint64_t vttbr, uint64_t ipa)
{
	/* no platform: nothing caches a translation. With one: its per-CPU TLB model drops
	 * the entry everywhere and waits out every access in flight (platform.c) */
	hosted_tlbi_fn fn = __atomic_load_n(&tlbi_fn, __ATOMIC_ACQUIRE);

	if (fn)
		fn(__atomic_load_n(&tlbi_arg, __ATOMIC_RELAXED), vttbr, ipa);
}

void hosted_set_tlbi_hook(hosted_tlbi_fn fn, void *arg)
{
	__atomic_store_n(&tlbi_arg, arg, __ATOMIC_RELAXED);
	__atomic_store_n(&tlbi_fn, fn, __ATOMIC_RELEASE);
}

void arch_wait(void) { sched_yield(); }
void arch_wake_all(void) {}

unsigned arch_guest_enter(uint64_t *gprs)
{
	return guest_fn ? guest_fn(guest_arg, gprs) : ARCH_EXIT_IRQ;
}

void hosted_cpu_init(unsigned id)
{
	cpu_id = id;
	for (unsigned i = 0; i < SR__COUNT; i++)
		sysregs[i] = 0;
	fpregs = (struct arch_fpsimd){0};
}

void hosted_set_guest_runner(hosted_guest_fn fn, void *arg)
{
	guest_fn = fn;
	guest_arg = arg;
}

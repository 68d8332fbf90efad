/*
 * arch_el2.c - the EL2 backend of arch.h: real mrs/msr, barriers, TLB maintenance, WFE/SEV
 * and the guest entry (entry.S). nVHE: EL1 register names reach the EL1 registers.
 *
 * Built only in the aarch64 cross build with -Del2=true, as its own static library; it is
 * never linked into the hosted hyplog binary (which uses hosted/arch_hosted.c).
 *
 * TPIDR_EL2 points at the CPU's struct el2_tcb (el2.h); SR_TPIDR_EL2 (the running vCPU's
 * shadow-context pointer, vcpu.c) is its guest_ctx word. Per-CPU data is a per-CPU array
 * indexed by arch_cpu_id() (MPIDR_EL1.Aff0).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "el2.h"
#include "hl_config.h"
#include "sysreg.h"   /* VTTBR_VMID_SHIFT */
#include "kcore.h"   /* struct trap_frame: entry.S builds one for host traps */

/* entry.S's TF_* offsets */
_Static_assert(offsetof(struct trap_frame, x) == 0, "entry.S: x[] at 0");
_Static_assert(offsetof(struct trap_frame, elr) == 8 * 31 && offsetof(struct trap_frame, spsr) == 8 * 32,
	       "entry.S: TF_ELR");
_Static_assert(offsetof(struct trap_frame, esr) == 8 * 33 && offsetof(struct trap_frame, far) == 8 * 34,
	       "entry.S: TF_ESR");
_Static_assert(offsetof(struct trap_frame, hpfar) == 8 * 35, "entry.S: TF_HPFAR");
_Static_assert(sizeof(struct trap_frame) == 8 * 36, "entry.S: TF_SIZE");

#define NR_CPUS HL_CFG_NR_CPUS

#define read_sysreg(r) ({ uint64_t __v; __asm__ volatile("mrs %0, " #r : "=r"(__v)); __v; })
#define write_sysreg(v, r) __asm__ volatile("msr " #r ", %x0" : : "rZ"((uint64_t)(v)))

/* one cache line per CPU: no false sharing between CPUs' private pointers */
struct el2_percpu {
	void *data;
} __attribute__((aligned(64)));

static struct el2_percpu percpu[NR_CPUS];
struct el2_panic_info el2_last_panic[NR_CPUS];

/* one case per register: mrs/msr take the register name as an immediate */
#define SYSREGS(X)                                                                               \
	X(SR_ESR_EL2, esr_el2) X(SR_FAR_EL2, far_el2) X(SR_HPFAR_EL2, hpfar_el2)                 \
	X(SR_ELR_EL2, elr_el2) X(SR_SPSR_EL2, spsr_el2) X(SR_VTTBR_EL2, vttbr_el2)               \
	X(SR_HCR_EL2, hcr_el2) X(SR_VMPIDR_EL2, vmpidr_el2)                                      \
	X(SR_CPTR_EL2, cptr_el2) X(SR_MDCR_EL2, mdcr_el2)                                        \
	X(SR_SCTLR_EL1, sctlr_el1) X(SR_CPACR_EL1, cpacr_el1) X(SR_TTBR0_EL1, ttbr0_el1)         \
	X(SR_TTBR1_EL1, ttbr1_el1) X(SR_TCR_EL1, tcr_el1) X(SR_ESR_EL1, esr_el1)                 \
	X(SR_AFSR0_EL1, afsr0_el1) X(SR_AFSR1_EL1, afsr1_el1) X(SR_FAR_EL1, far_el1)             \
	X(SR_MAIR_EL1, mair_el1) X(SR_VBAR_EL1, vbar_el1) X(SR_CONTEXTIDR_EL1, contextidr_el1)   \
	X(SR_AMAIR_EL1, amair_el1) X(SR_CNTKCTL_EL1, cntkctl_el1) X(SR_PAR_EL1, par_el1)         \
	X(SR_TPIDR_EL1, tpidr_el1) X(SR_SPSR_EL1, spsr_el1) X(SR_ELR_EL1, elr_el1)               \
	X(SR_SP_EL1, sp_el1) X(SR_SP_EL0, sp_el0) X(SR_TPIDR_EL0, tpidr_el0)                     \
	X(SR_TPIDRRO_EL0, tpidrro_el0) X(SR_CSSELR_EL1, csselr_el1) X(SR_ACTLR_EL1, actlr_el1)   \
	X(SR_MDSCR_EL1, mdscr_el1) X(SR_CNTHCTL_EL2, cnthctl_el2) X(SR_CNTVOFF_EL2, cntvoff_el2)    \
	X(SR_PMCR_EL0, pmcr_el0) X(SR_CNTV_CVAL_EL0, cntv_cval_el0) X(SR_CNTV_CTL_EL0, cntv_ctl_el0)

static inline struct el2_tcb *tcb(void)
{
	return (struct el2_tcb *)(uintptr_t)read_sysreg(tpidr_el2);
}

/* VDISR_EL2 exists with FEAT_RAS only (ID_AA64PFR0_EL1.RAS, bits [31:28]): without it the
 * register is UNDEFINED at EL2, and a guest's DISR_EL1 is UNDEFINED too, so nothing to switch */
static inline bool has_ras(void)
{
	return ((read_sysreg(id_aa64pfr0_el1) >> 28) & 0xF) != 0;
}

/* TPIDR2_EL0 exists with FEAT_SME only (ID_AA64PFR1_EL1.SME, bits [27:24]) */
static inline bool has_sme(void)
{
	return ((read_sysreg(id_aa64pfr1_el1) >> 24) & 0xF) != 0;
}

/* FEAT_PAuth: ID_AA64ISAR1_EL1 APA [7:4], API [11:8], GPA [27:24], GPI [31:28] or
 * ID_AA64ISAR2_EL1 (S3_0_C0_C6_2, RAZ before Armv8.7) APA3 [15:12], GPA3 [11:8]. Without it
 * the key registers are UNDEFINED: never accessed (vcpu.c keeps HCR_EL2.API/APK clear) */
bool arch_has_pauth(void)
{
	uint64_t isar1 = read_sysreg(id_aa64isar1_el1), isar2 = read_sysreg(S3_0_C0_C6_2);

	return (isar1 & 0xF0000FF0ull) != 0 || (isar2 & 0xFF00ull) != 0;
}

/* the PAuth key registers: one case each (mrs/msr take the name as an immediate) */
#define PAUTH_KEYS(X) \
	X(SR_APIAKEYLO_EL1, S3_0_C2_C1_0) \
	X(SR_APIAKEYHI_EL1, S3_0_C2_C1_1) \
	X(SR_APIBKEYLO_EL1, S3_0_C2_C1_2) \
	X(SR_APIBKEYHI_EL1, S3_0_C2_C1_3) \
	X(SR_APDAKEYLO_EL1, S3_0_C2_C2_0) \
	X(SR_APDAKEYHI_EL1, S3_0_C2_C2_1) \
	X(SR_APDBKEYLO_EL1, S3_0_C2_C2_2) \
	X(SR_APDBKEYHI_EL1, S3_0_C2_C2_3) \
	X(SR_APGAKEYLO_EL1, S3_0_C2_C3_0) \
	X(SR_APGAKEYHI_EL1, S3_0_C2_C3_1)

uint64_t arch_read_sysreg(enum arch_sysreg r)
{
	switch (r) {
	case SR_TPIDR_EL2:
		return __atomic_load_n(&tcb()->guest_ctx, __ATOMIC_RELAXED);
	case SR_VDISR_EL2:
		return has_ras() ? read_sysreg(S3_4_C12_C1_1) : 0;
	case SR_TPIDR2_EL0:
		return has_sme() ? read_sysreg(S3_3_C13_C0_5) : 0;
#define X(id, reg) case id: return arch_has_pauth() ? read_sysreg(reg) : 0;
	PAUTH_KEYS(X)
#undef X
#define X(id, reg) case id: return read_sysreg(reg);
	SYSREGS(X)
#undef X
	default:
		return 0;
	}
}

void arch_write_sysreg(enum arch_sysreg r, uint64_t v)
{
	switch (r) {
	case SR_TPIDR_EL2:
		__atomic_store_n(&tcb()->guest_ctx, v, __ATOMIC_RELAXED);
		break;
	case SR_VDISR_EL2:
		if (has_ras())
			write_sysreg(v, S3_4_C12_C1_1);
		break;
	case SR_TPIDR2_EL0:
		if (has_sme())
			write_sysreg(v, S3_3_C13_C0_5);
		break;
#define X(id, reg) case id: if (arch_has_pauth()) write_sysreg(v, reg); break;
	PAUTH_KEYS(X)
#undef X
#define X(id, reg) case id: write_sysreg(v, reg); break;
	SYSREGS(X)
#undef X
	default:
		break;
	}
}

static inline unsigned mpidr_aff0(void)
{
	return (unsigned)(read_sysreg(mpidr_el1) & 0xFFu);
}

unsigned arch_cpu_id(void)
{
	unsigned id = mpidr_aff0();

	/* a CPU beyond -Dnr_cpus would share another CPU's per-CPU data: park it instead */
	if (id >= NR_CPUS)
		arch_el2_panic(EL2_VEC_BAD_CPU);
	return id;
}

void *arch_this_cpu_data(void)
{
	return percpu[arch_cpu_id()].data;
}

void arch_set_this_cpu_data(void *p)
{
	percpu[arch_cpu_id()].data = p;
}

void arch_dsb_isb(void)
{
	__asm__ volatile("dsb ish\n\tisb" : : : "memory");
}

/*
 * Stage-1+2 TLB invalidation for one VMID: TLBI VMALLS12E1IS acts on the VMID in VTTBR_EL2,
 * so switch VTTBR to the target for the duration (KVM's __tlb_switch_to_guest), then back.
 */
void arch_tlbi_vmid(uint64_t vttbr)
{
	uint64_t old = read_sysreg(vttbr_el2);

	__asm__ volatile("dsb ishst" : : : "memory");   /* the table update before the TLBI */
	write_sysreg(vttbr, vttbr_el2);
	__asm__ volatile("isb" : : : "memory");
	__asm__ volatile("tlbi vmalls12e1is\n\tdsb ish\n\tisb" : : : "memory");
	write_sysreg(old, vttbr_el2);
	__asm__ volatile("isb" : : : "memory");
}

/*
 * SPEC §15, as KVM's __kvm_tlb_flush_vmid_ipa and SeKVM's unmap path: broadcast (inner
 * shareable) invalidation of one IPA under the VMID of `vttbr`, completed on every CPU
 * before returning. TLBI IPAS2E1IS drops stage-2-only entries; combined stage-1+2 entries
 * are tagged by VA, so VMALLE1IS drops those of the VMID. Both act on the VMID in
 * VTTBR_EL2: the host's traps run with VMID 0 there; otherwise switch for the duration.
 */
void arch_tlbi_s2_ipa(uint64_t vttbr, uint64_t ipa)
{
	uint64_t old = read_sysreg(vttbr_el2);
	bool sw = (old >> VTTBR_VMID_SHIFT) != (vttbr >> VTTBR_VMID_SHIFT);

	__asm__ volatile("dsb ishst" : : : "memory");   /* the table write before the TLBI */
	if (sw) {
		write_sysreg(vttbr, vttbr_el2);
		__asm__ volatile("isb" : : : "memory");
	}
	__asm__ volatile("tlbi ipas2e1is, %0\n\tdsb ish\n\ttlbi vmalle1is\n\tdsb ish\n\tisb"
			 : : "r"((ipa >> 12) & ((1ull << 36) - 1)) : "memory");
	if (sw) {
		write_sysreg(old, vttbr_el2);
		__asm__ volatile("isb" : : : "memory");
	}
}

void arch_wait(void)
{
	__asm__ volatile("wfe" : : : "memory");
}

void arch_wake_all(void)
{
	__asm__ volatile("dsb ishst\n\tsev" : : : "memory");   /* stores visible before the wake-up */
}

void arch_el2_init_cpu(struct el2_tcb *t)
{
	t->guest_ctx = 0;   /* the host runs: lower-EL traps are host traps */
	t->cpu = mpidr_aff0();
	write_sysreg((uint64_t)(uintptr_t)t, tpidr_el2);
	write_sysreg((uint64_t)(uintptr_t)__el2_vectors, vbar_el2);
	__asm__ volatile("isb" : : : "memory");
}

__attribute__((weak)) void arch_el2_host_trap(struct trap_frame *f)
{
	f->x[0] = (uint64_t)-1;   /* SMCCC_RET_NOT_SUPPORTED until KCore at EL2 provides this */
}

unsigned arch_guest_enter(uint64_t *gprs)
{
	/* the caller (kc_restore_vm_el2) set ELR/SPSR/HCR/VTTBR and issued dsb ish; isb */
	return __guest_enter(gprs);
}

void arch_el2_panic(unsigned slot)
{
	struct el2_panic_info *p = &el2_last_panic[mpidr_aff0() % NR_CPUS];

	p->slot = slot;
	p->esr = read_sysreg(esr_el2);
	p->elr = read_sysreg(elr_el2);
	p->far = read_sysreg(far_el2);
	p->spsr = read_sysreg(spsr_el2);
	__asm__ volatile("dsb ish" : : : "memory");
	for (;;)
		__asm__ volatile("wfe");
}

/*
 * arch.h - the architecture hooks the portable trap code uses, declared once.
 *
 * Implemented per backend: hosted/ (each pthread is a physical CPU; system registers are
 * thread-local variables) and el2/ (mrs/msr at EL2, real vectors). Generic code calls
 * only these; it never names a backend.
 */
#ifndef HL_ARCH_H
#define HL_ARCH_H

#include <stdbool.h>
#include <stdint.h>

/* system registers the trap code and the context switch touch */
enum arch_sysreg {
	/* EL2 */
	SR_ESR_EL2, SR_FAR_EL2, SR_HPFAR_EL2, SR_ELR_EL2, SR_SPSR_EL2, SR_VTTBR_EL2, SR_HCR_EL2,
	SR_TPIDR_EL2, SR_VMPIDR_EL2, SR_CPTR_EL2, SR_MDCR_EL2, SR_CNTHCTL_EL2, SR_CNTVOFF_EL2,
	/* the PMU's global enable: KCore stops the host's counters while a guest runs (vcpu.c) */
	SR_PMCR_EL0,
	/* EL1 state switched between host and guests (vcpu.c has the table of what is switched
	 * and what is trapped instead) */
	SR_SCTLR_EL1, SR_CPACR_EL1, SR_TTBR0_EL1, SR_TTBR1_EL1, SR_TCR_EL1, SR_ESR_EL1,
	SR_AFSR0_EL1, SR_AFSR1_EL1, SR_FAR_EL1, SR_MAIR_EL1, SR_VBAR_EL1, SR_CONTEXTIDR_EL1,
	SR_AMAIR_EL1, SR_CNTKCTL_EL1, SR_PAR_EL1, SR_TPIDR_EL1, SR_SPSR_EL1, SR_ELR_EL1,
	SR_SP_EL1, SR_SP_EL0, SR_TPIDR_EL0, SR_TPIDRRO_EL0, SR_CSSELR_EL1, SR_ACTLR_EL1,
	SR_MDSCR_EL1,
	/* the guest's DISR_EL1: with HCR_EL2.AMO set, a guest's DISR_EL1 accesses (and ESB's
	 * deferred SErrors) reach VDISR_EL2, one register per CPU that every VM on it shared;
	 * the host (AMO clear) uses the real DISR_EL1 and never reads it. EL2 without FEAT_RAS:
	 * reads 0, writes ignored (arch_el2.c) */
	SR_VDISR_EL2,
	/* TPIDR2_EL0 (FEAT_SME, on in QEMU's -cpu max): read/write at EL1 (and EL0 with
	 * SCTLR_EL1.EnTP2) with no EL2 trap but FEAT_FGT's HFGxTR_EL2.nTPIDR2_EL0 (CPTR_EL2.TSM
	 * does not cover it), so it is switched. EL2 without FEAT_SME: reads 0, writes ignored */
	SR_TPIDR2_EL0,
	/* the PAuth keys (FEAT_PAuth): a guest runs with HCR_EL2.API = APK = 1 (its PAuth
	 * instructions and key accesses do not trap), so the host's and each vCPU's keys are
	 * switched, as KVM does. EL2 without PAuth (arch_has_pauth false): reads 0, writes
	 * ignored, the registers are never accessed */
	SR_APIAKEYLO_EL1, SR_APIAKEYHI_EL1, SR_APIBKEYLO_EL1, SR_APIBKEYHI_EL1,
	SR_APDAKEYLO_EL1, SR_APDAKEYHI_EL1, SR_APDBKEYLO_EL1, SR_APDBKEYHI_EL1,
	SR_APGAKEYLO_EL1, SR_APGAKEYHI_EL1,
	/* the EL1 virtual timer: CVAL before CTL, so a restore never enables a timer with the
	 * previous owner's compare value */
	SR_CNTV_CVAL_EL0, SR_CNTV_CTL_EL0,
	SR__COUNT
};
/* first and last EL1 register saved/restored by a context switch */
#define SR_EL1_FIRST SR_SCTLR_EL1
#define SR_EL1_LAST SR_CNTV_CTL_EL0
#define SR_EL1_COUNT (SR_EL1_LAST - SR_EL1_FIRST + 1)

/*
 * FP/SIMD register file (REFERENCE 5.4: save_host / restore_host / save_vm / restore_vm swap
 * it): q0..q31, FPSR, FPCR. KCore keeps the host's per physical CPU (struct kcore_cpu) and
 * each vCPU's in its shadow context, in KCore's memory; a guest's values are in the
 * registers only while that guest runs and until its exit is saved.
 */
struct arch_fpsimd {
	uint64_t q[32][2];        /* q<n> = q[n][0] (bits 0-63) | q[n][1] (bits 64-127) */
	uint64_t fpsr, fpcr;
} __attribute__((aligned(16)));
_Static_assert(sizeof(struct arch_fpsimd) == 528, "entry.S: q0..q31 at 16 * n, FPSR at 512, FPCR at 520");
_Static_assert(__builtin_offsetof(struct arch_fpsimd, fpsr) == 512 &&
	       __builtin_offsetof(struct arch_fpsimd, fpcr) == 520, "entry.S's FPS_FPSR/FPS_FPCR");

/* copy this CPU's FP/SIMD registers to *s / load them from *s. EL2: stp/ldp q0..q31 and
 * mrs/msr FPSR/FPCR (entry.S; the only EL2 routines that touch FP/SIMD on purpose, with
 * CPTR_EL2.TFP clear). Hosted: the calling thread's simulated register file (hosted.h). */
void arch_fpsimd_save(struct arch_fpsimd *s);
void arch_fpsimd_restore(const struct arch_fpsimd *s);

uint64_t arch_read_sysreg(enum arch_sysreg r);
/* the CPU implements PAuth (EL2: ID_AA64ISAR1_EL1 APA/API/GPA/GPI or ID_AA64ISAR2_EL1
 * APA3/GPA3 non-zero; hosted: the CPU model, hosted_set_pauth) */
bool arch_has_pauth(void);
void arch_write_sysreg(enum arch_sysreg r, uint64_t v);
const char *arch_sysreg_name(enum arch_sysreg r);

/* the physical CPU we run on, 0-based */
unsigned arch_cpu_id(void);
/* this CPU's private data block (one per CPU, cache-line aligned by the owner) */
void *arch_this_cpu_data(void);
void arch_set_this_cpu_data(void *p);

/* barriers: full system DSB + ISB after translation-table changes */
void arch_dsb_isb(void);
/* invalidate stage-2 TLB entries for a VMID (after an unmap) */
void arch_tlbi_vmid(uint64_t vttbr);
/*
 * SPEC §15: invalidate the stage-2 translations of one IPA page under the VMID of `vttbr`
 * on EVERY CPU, and return only once no CPU can still use one: DSB ISHST (the table write
 * reaches the walkers), TLBI IPAS2E1IS + TLBI VMALLE1IS (combined stage-1+2 entries),
 * DSB ISH (completes the invalidation on every CPU and every access that used the old
 * translation), ISB. The engine calls it inside the step that removed the mapping, with
 * the step's locks held, before the page changes hands (engine/hl_trans.c host_unmap).
 * EL2: the instructions above. Hosted: the platform's per-CPU TLB model (hosted.h).
 * Only host mappings are removed while their translations can still be used: a VM's
 * stage-2 entries are set once, and its pages go back (OCLEAR_VM) only after POWEROFF,
 * when no vCPU of it runs again, and its VMID is never handed out again.
 */
void arch_tlbi_s2_ipa(uint64_t vttbr, uint64_t ipa);

/* wait for an event / wake the others (WFE/SEV at EL2, futex-ish when hosted) */
void arch_wait(void);
void arch_wake_all(void);

/* enter the guest whose registers are in `gprs` (x0..x30) with ELR/SPSR already in the
 * EL2 registers; returns the exception code (ARCH_EXIT_*) with ESR/FAR/HPFAR set */
#define ARCH_EXIT_TRAP 2u
#define ARCH_EXIT_IRQ 0u
unsigned arch_guest_enter(uint64_t *gprs);

#endif

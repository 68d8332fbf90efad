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
	SR_TPIDR_EL2, SR_VMPIDR_EL2, SR_CPTR_EL2, SR_MDCR_EL2,
	/* EL1 state switched between host and guests */
	SR_SCTLR_EL1, SR_CPACR_EL1, SR_TTBR0_EL1, SR_TTBR1_EL1, SR_TCR_EL1, SR_ESR_EL1,
	SR_AFSR0_EL1, SR_AFSR1_EL1, SR_FAR_EL1, SR_MAIR_EL1, SR_VBAR_EL1, SR_CONTEXTIDR_EL1,
	SR_AMAIR_EL1, SR_CNTKCTL_EL1, SR_PAR_EL1, SR_TPIDR_EL1, SR_SPSR_EL1, SR_ELR_EL1,
	SR_SP_EL1, SR_SP_EL0, SR_TPIDR_EL0, SR_TPIDRRO_EL0, SR_CSSELR_EL1, SR_ACTLR_EL1,
	SR_MDSCR_EL1,
	SR__COUNT
};
/* first and last EL1 register saved/restored by a context switch */
#define SR_EL1_FIRST SR_SCTLR_EL1
#define SR_EL1_LAST SR_MDSCR_EL1
#define SR_EL1_COUNT (SR_EL1_LAST - SR_EL1_FIRST + 1)

uint64_t arch_read_sysreg(enum arch_sysreg r);
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

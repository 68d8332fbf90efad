/*
 * sysreg.h - architectural encodings the trap code decodes (Arm ARM D13, SPEC §7).
 */
#ifndef HL_SYSREG_H
#define HL_SYSREG_H

#include <stdint.h>

#define ESR_EC_SHIFT 26
#define ESR_EC_MASK 0x3Fu
#define ESR_IL (1u << 25)
#define EC_UNKNOWN 0x00u
#define EC_WFX 0x01u
#define EC_HVC64 0x16u
#define EC_SMC64 0x17u
#define EC_SYS64 0x18u
#define EC_IABT_LOW 0x20u
#define EC_DABT_LOW 0x24u
#define EC_BRK64 0x3Cu
#define EC_PAC 0x09u      /* PAuth instruction trapped by HCR_EL2.API == 0 */

/* trapped MSR/MRS (EC 0x18) ISS: Op0 [21:20], Op2 [19:17], Op1 [16:14], CRn [13:10],
 * Rt [9:5], CRm [4:1], Direction [0] (1: MRS, a read) */
static inline unsigned sys64_op0(uint64_t esr) { return (unsigned)(esr >> 20) & 3u; }
static inline unsigned sys64_op2(uint64_t esr) { return (unsigned)(esr >> 17) & 7u; }
static inline unsigned sys64_op1(uint64_t esr) { return (unsigned)(esr >> 14) & 7u; }
static inline unsigned sys64_crn(uint64_t esr) { return (unsigned)(esr >> 10) & 15u; }
static inline unsigned sys64_rt(uint64_t esr) { return (unsigned)(esr >> 5) & 31u; }
static inline unsigned sys64_crm(uint64_t esr) { return (unsigned)(esr >> 1) & 15u; }
static inline int sys64_is_read(uint64_t esr) { return (int)(esr & 1u); }
static inline uint32_t sys64_iss(unsigned op0, unsigned op1, unsigned crn, unsigned crm, unsigned op2,
				 unsigned rt, int read)
{
	return (uint32_t)(op0 << 20 | op2 << 17 | op1 << 14 | crn << 10 | rt << 5 | crm << 1 | (read ? 1u : 0u));
}

/* data-abort ISS */
#define ESR_ISV (1u << 24)
#define ESR_SAS_SHIFT 22
#define ESR_SAS_MASK 3u
#define ESR_SRT_SHIFT 16
#define ESR_SRT_MASK 31u
#define ESR_WNR (1u << 6)
#define ESR_S1PTW (1u << 7)
#define ESR_FSC_MASK 0x3Fu
#define FSC_TRANS_L0 0x04u   /* translation fault, level 0..3 = 0x04..0x07 */
#define FSC_PERM_L3 0x0Fu

static inline unsigned esr_ec(uint64_t esr) { return (unsigned)(esr >> ESR_EC_SHIFT) & ESR_EC_MASK; }
static inline unsigned esr_sas(uint64_t esr) { return (unsigned)(esr >> ESR_SAS_SHIFT) & ESR_SAS_MASK; }
static inline unsigned esr_srt(uint64_t esr) { return (unsigned)(esr >> ESR_SRT_SHIFT) & ESR_SRT_MASK; }
static inline int esr_is_write(uint64_t esr) { return (esr & ESR_WNR) != 0; }
static inline int esr_is_trans_fault(uint64_t esr) { return ((esr & ESR_FSC_MASK) & ~3u) == FSC_TRANS_L0; }

static inline uint64_t esr_make(unsigned ec, uint32_t iss)
{
	return ((uint64_t)ec << ESR_EC_SHIFT) | ESR_IL | (iss & 0x1FFFFFFu);
}

/* HPFAR_EL2.FIPA holds IPA[47:12] in bits [43:4] */
#define HPFAR_FIPA_MASK 0x00000FFFFFFFFFF0ull
static inline uint64_t hpfar_to_ipa(uint64_t hpfar, uint64_t far)
{
	return ((hpfar & HPFAR_FIPA_MASK) << 8) | (far & 0xFFFu);
}
static inline uint64_t ipa_to_hpfar(uint64_t ipa)
{
	return (ipa >> 8) & HPFAR_FIPA_MASK;
}

/* HCR_EL2 (kvm_arm.h): VM = stage 2 on, SWIO, FMO/IMO/AMO, TSC, TWI/TWE, TACR... */
#define HCR_VM (1ull << 0)
#define HCR_SWIO (1ull << 1)
#define HCR_FMO (1ull << 3)
#define HCR_IMO (1ull << 4)
#define HCR_AMO (1ull << 5)
#define HCR_VF (1ull << 6)
#define HCR_VI (1ull << 7)
#define HCR_TWI (1ull << 13)
#define HCR_TWE (1ull << 14)
#define HCR_TSC (1ull << 19)
#define HCR_TACR (1ull << 21)
#define HCR_TSW (1ull << 22)
#define HCR_TVM (1ull << 26)
#define HCR_RW (1ull << 31)
#define HCR_APK (1ull << 40)   /* PAuth key registers do not trap (FEAT_PAuth) */
#define HCR_API (1ull << 41)   /* PAuth instructions do not trap */
#define HCR_HOST_NVHE_FLAGS (HCR_RW | HCR_VM | HCR_SWIO)
/* Deviation from the seed's flags (README "Deviations"): no HCR_TVM. With it every guest write
 * to SCTLR/TTBR0/1/TCR/ESR/FAR/AFSR0/1/MAIR/AMAIR/CONTEXTIDR_EL1 trapped as SYS64 and KCore's
 * skip-only handling (REFERENCE: "EC = SYS64 => skip instruction") dropped it: a guest could
 * never turn its MMU on. KVM sets TVM only transiently (set/way emulation); KCore needs no
 * notice of these writes (stage 2 protects memory) and all of them are in the switched EL1
 * set (SR_EL1_FIRST..SR_EL1_LAST), so a guest's values are its own, never the host's. */
#define HCR_HYPSEC_VM_FLAGS (HCR_TSC | HCR_TSW | HCR_TWE | HCR_TWI | HCR_VM | HCR_AMO | HCR_IMO | \
			     HCR_FMO | HCR_SWIO | HCR_TACR | HCR_RW)

#define VTTBR_VMID_SHIFT 48

/* MDCR_EL2 while a guest runs (vcpu.c): debug and PMU registers trap to EL2 */
#define MDCR_HPMN_MASK 0x1Full         /* counters EL1 may use: kept from the host's value */
#define MDCR_TPMCR (1ull << 5)         /* PMCR_EL0 */
#define MDCR_TPM (1ull << 6)           /* every PMU register */
#define MDCR_TDE (1ull << 8)
#define MDCR_TDA (1ull << 9)           /* DBGB*, DBGW*, MDSCR_EL1, MDCCINT_EL1, DBGCLAIM* ... */
#define MDCR_TDOSA (1ull << 10)        /* OSLAR, OSLSR, OSDLR, DBGPRCR */
#define MDCR_TDRA (1ull << 11)         /* MDRAR_EL1 */
#define MDCR_GUEST_TRAPS (MDCR_TPMCR | MDCR_TPM | MDCR_TDA | MDCR_TDOSA | MDCR_TDRA)

/* CNTHCTL_EL2 (nVHE layout): EL1PCTEN lets EL1/EL0 read the physical counter, EL1PCEN the
 * physical timer; a guest gets the counter only, its CNTP_* accesses trap (EC 0x18) */
#define CNTHCTL_EL1PCTEN (1ull << 0)
#define CNTHCTL_EL1PCEN (1ull << 1)
#define CNTHCTL_GUEST CNTHCTL_EL1PCTEN

/* PMCR_EL0.E: every event counter and the cycle counter enabled */
#define PMCR_E (1ull << 0)

/* PSCI */
#define PSCI_0_2_FN_SYSTEM_OFF 0x84000008u
#define PSCI_0_2_FN64_CPU_ON 0xC4000003u
#define PSCI_0_2_FN_VERSION 0x84000000u
#define PSCI_0_2_FN_CPU_OFF 0x84000002u
#define PSCI_0_2_FN_SYSTEM_RESET 0x84000009u
#define PSCI_1_1_FN_MEM_PROTECT 0x84000013u
/* SMCCC: the answer to a call nobody implements (a guest's or the test host's SMC) */
#define SMCCC_RET_NOT_SUPPORTED ((uint64_t)-1)

/* SPSR for an EL1h guest with DAIF masked (PSTATE_FAULT_BITS_64) */
#define PSTATE_FAULT_BITS_64 0x3C5u

#endif

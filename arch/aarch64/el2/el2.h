/*
 * el2.h - what the EL2 backend of arch.h adds beyond arch.h: vector installation, the
 * assembly entry points, and the panic hook. nVHE only (HCR_EL2.E2H = 0): the EL1
 * register names in arch_el2.c access the real EL1 registers, as SeKVM's KCore does.
 */
#ifndef HL_EL2_H
#define HL_EL2_H

#include <stdint.h>

/* extra exit code for an SError taken from the guest (KVM's ARM_EXCEPTION_EL1_SERROR) */
#define ARCH_EXIT_SERROR 1u

/* vector slots (index = offset / 0x80), passed to arch_el2_panic */
#define EL2_VEC_CUR_SP0_SYNC 0u
#define EL2_VEC_CUR_SPX_SYNC 4u
#define EL2_VEC_LOW64_SYNC 8u
#define EL2_VEC_LOW32_SYNC 12u
#define EL2_VEC_BAD_CPU 16u      /* not a vector: MPIDR_EL1.Aff0 >= nr_cpus */

/* entry.S */
extern char __el2_vectors[];   /* 2 KiB aligned, for VBAR_EL2 */
/* enter the guest: x0..x30 from gprs[0..30], ELR_EL2/SPSR_EL2 already set; returns the
 * ARCH_EXIT_* code once the guest traps back, with gprs[] holding the guest's registers */
unsigned __guest_enter(uint64_t *gprs);

/*
 * TPIDR_EL2 points at the CPU's thread control block. The EL2 image is compiled with
 * -mtp=el2, so TPIDR_EL2 is also its thread pointer: the CPU's TLS block follows the TCB
 * (AArch64 TLS variant 1 reserves these 16 bytes for the implementation). guest_ctx is
 * the running vCPU's shadow context (what vcpu.c writes as SR_TPIDR_EL2), 0 while the
 * host runs: the vectors read it to tell a guest exit from a host trap.
 */
struct el2_tcb {
	uint64_t guest_ctx;
	uint64_t cpu;
};
#define EL2_TCB_GUEST_CTX 0   /* entry.S */

/* point TPIDR_EL2 at `tcb` (guest_ctx := 0) and install __el2_vectors in VBAR_EL2 on this
 * CPU (once per CPU, before arch_guest_enter) */
void arch_el2_init_cpu(struct el2_tcb *tcb);

/* A host synchronous exception (HVC, stage-2 fault, trapped SMC), TPIDR_EL2 == 0: entry.S
 * passes the host's registers as a struct trap_frame (kcore.h) and restores x0..x30, ELR and
 * SPSR from it afterwards. The library's default is weak and answers SMCCC NOT_SUPPORTED (-1)
 * in x0; KCore at EL2 overrides it with kcore_host_trap(k, f). */
struct trap_frame;
void arch_el2_host_trap(struct trap_frame *f);

/* an exception EL2 cannot handle (taken at EL2, or from AArch32): records ESR/ELR/FAR for a
 * debugger and parks the CPU. Called from entry.S with x0 = vector slot. */
void arch_el2_panic(unsigned slot) __attribute__((noreturn));

struct el2_panic_info {
	uint64_t slot, esr, elr, far, spsr;
};
extern struct el2_panic_info el2_last_panic[];

#endif

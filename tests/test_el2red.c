/*
 * test_el2red.c - the EL2-only attack surface (helper el2red), hosted where the path exists:
 * what a guest can do with the trap instructions that reach EL2 (SMC under HCR_EL2.TSC, HVC
 * with the host's call numbers). The same attacks run on the real trap path in the EL2 test
 * kernel (arch/aarch64/el2/image/host/guest.S 6e, host.c el2_attacks; el2-boot-smp4).
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "hl_access.h"
#include "hl_pgtable.h"
#include "hl_testkey.h"
#include "hosted.h"
#include "kcore.h"
#include "platform.h"
#include "sysreg.h"

#include "hostile_harness.h"
}   /* hostile_harness.h leaves poweroff() open, as its other includers close it */

TestSuite(el2red, .init = setup, .fini = teardown, .timeout = 120);

#define SMC_PC(k) (BOOT_PC + 0x40 + 0x10 * (k))

static const uint64_t SMC_FNS[] = { PSCI_0_2_FN_SYSTEM_RESET, PSCI_0_2_FN_CPU_OFF, PSCI_0_2_FN64_CPU_ON,
				    PSCI_0_2_FN_SYSTEM_OFF, PSCI_1_1_FN_MEM_PROTECT, PSCI_0_2_FN_VERSION };
#define NSMC (sizeof(SMC_FNS) / sizeof(SMC_FNS[0]))
static uint64_t S_X0[NSMC], S_PC[NSMC];

/* the guest's script: entry k < NSMC issues SMC_FNS[k] (a trapped SMC's ELR_EL2 is the SMC
 * itself) after recording what the previous SMC left in x0 and the PC; then it powers off */
static unsigned g_smc(void *arg, uint64_t *x)
{
	unsigned k = G_N++;

	(void)arg;
	if (k > 0) {
		S_X0[k - 1] = x[0];
		S_PC[k - 1] = arch_read_sysreg(SR_ELR_EL2);
	}
	if (k < NSMC) {
		x[0] = SMC_FNS[k];
		x[1] = 1;          /* CPU_ON: the other CPU */
		x[2] = LOAD_ADDR;  /* at the guest's own image */
		x[3] = 0;
		return gtrap(SMC_PC(k), esr_make(EC_SMC64, 0), 0);
	}
	x[0] = SYSTEM_OFF;
	return gtrap(arch_read_sysreg(SR_ELR_EL2) + 4, esr_make(EC_HVC64, 0), 0);
}

/* PSCI from inside a VM by SMC: KCore answers it (NOT_SUPPORTED, PC past the SMC) without
 * the firmware and without a host exit. On the old KCore the SMC went to the host with the
 * PC unmoved, which the host cannot move: VCPU_RUN returned after one guest entry with an
 * SMC exit, and every later run re-ran the SMC. */
Test(el2red, guest_smc_psci_is_answered_by_kcore_and_the_guest_moves_on)
{
	uint32_t vmid = boot_vm();

	G_N = 0;
	hosted_set_guest_runner(g_smc, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
	cr_assert_eq(G_N, NSMC + 1, "the SMCs went to the host (guest entries %u)", G_N);
	for (unsigned k = 0; k < NSMC; k++) {
		cr_assert_eq(S_X0[k], SMCCC_RET_NOT_SUPPORTED, "fn %#llx: x0 = %#llx", (unsigned long long)SMC_FNS[k],
			     (unsigned long long)S_X0[k]);
		cr_assert_eq(S_PC[k], SMC_PC(k) + 4, "the guest resumes after its SMC");
	}
	/* an SMC SYSTEM_OFF is not the VM's power-off (that is HVC): only the HVC after it */
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_POWEROFF);
	cr_assert(!hl_cpu_halted(E, (int)CPU));
}

/* HVC with the host's call numbers from inside a VM: never a hypercall (the vector tells a
 * guest exit from a host trap by TPIDR_EL2); an unknown PV call, an exit to the host, x0
 * unchanged (the host cannot answer it: no dirty register) */
static const uint64_t H_FNS[] = { HVC_REGISTER_KVM, HVC_VCPU_RUN, HVC_SMMU_ALLOC_PGD, HVC_CLEAR_VM_S2_RANGE,
				  HVC_REGISTER_VCPU, ~0ull };
#define NH (sizeof(H_FNS) / sizeof(H_FNS[0]))
static uint64_t H_X0[NH];
static unsigned g_hostcall(void *arg, uint64_t *x)
{
	unsigned k = G_N++;

	(void)arg;
	if (k > 0)
		H_X0[k - 1] = x[0];
	x[0] = k < NH ? H_FNS[k] : SYSTEM_OFF;
	x[1] = 1;
	x[2] = 0;
	return gtrap(arch_read_sysreg(SR_ELR_EL2) + 4, esr_make(EC_HVC64, 0), 0);
}

Test(el2red, guest_hvc_with_host_call_numbers_is_no_hypercall)
{
	uint32_t vmid = boot_vm();

	G_N = 0;
	hosted_set_guest_runner(g_hostcall, NULL);
	for (unsigned k = 0; k < NH; k++) {
		uint64_t val = 0;
		cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
		cr_assert_eq(G_N, k + 1, "call %#llx handled inside KCore", (unsigned long long)H_FNS[k]);
		cr_assert(hp_host_load(P, CPU, HV_FIELD(0, exit_value), 8, &val));
		cr_assert_eq(val, H_FNS[k], "the host sees the unknown call");
		cr_assert_eq(E->st->info[vmid + 1]->state, HL_VM_UNUSED, "no VM registered by the guest");
	}
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_POWEROFF);
	for (unsigned k = 0; k < NH; k++)
		cr_assert_eq(H_X0[k], H_FNS[k], "x0 unchanged: %#llx", (unsigned long long)H_X0[k]);
}

/* a 16-bit T32 WFI from a guest's AArch32 EL0 (ESR_EL2.IL = 0): the next run resumes 2 bytes
 * on, not 4 (the old KCore's fixed +4 skipped half of the guest's next instruction) */
static uint64_t W_PC, W_NEXT;
static unsigned g_wfi16(void *arg, uint64_t *x)
{
	(void)arg;
	(void)x;
	if (G_N++ == 0) {
		W_PC = arch_read_sysreg(SR_ELR_EL2);
		return gtrap(W_PC, (uint64_t)EC_WFX << ESR_EC_SHIFT, 0);   /* IL = 0 */
	}
	W_NEXT = arch_read_sysreg(SR_ELR_EL2);
	x[0] = SYSTEM_OFF;
	return gtrap(W_NEXT + 4, esr_make(EC_HVC64, 0), 0);
}

Test(el2red, a_16_bit_trapped_instruction_is_skipped_by_2)
{
	uint32_t vmid = boot_vm();

	G_N = 0;
	hosted_set_guest_runner(g_wfi16, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);   /* the WFx exit */
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);   /* resumed, powers off */
	cr_assert_eq(G_N, 2);
	cr_assert_eq(W_NEXT, W_PC + 2, "resumed at %#llx, the WFI was at %#llx", (unsigned long long)W_NEXT,
		     (unsigned long long)W_PC);
}

/*
 * vcpu.c - host_vcpu_run_handler, the VM exit path and the context switch
 * (REFERENCE 5.2, 5.4; CtxtSwitchRefine's save_host / restore_host / save_vm / restore_vm).
 *
 *   set_vcpu_active -> save_host -> restore_vm (shadow context, the host's dirty
 *   registers, the pending stage-2 mapping) -> run until a real exit -> save_vm ->
 *   set_vcpu_inactive -> restore_host
 *
 * FP/SIMD (REFERENCE 5.4): save_host saves the host's registers into kcore_cpu.host_fp;
 * restore_vm loads the vCPU's (shadow_ctxt.fp) right before every guest entry and save_vm
 * stores them right after every exit, so a guest's values are in the registers only while
 * it runs and until its exit is saved (EL2 code in between, exit handling included, is not
 * trusted to leave them alone); restore_host loads the host's own values back. The host
 * therefore never sees a guest's q0-q31/FPSR/FPCR, and what it leaves in the registers
 * before VCPU_RUN never reaches the guest. Restoring (not just scrubbing) the host's values
 * keeps the host's FP state across VCPU_RUN like every other EL1 register.
 *
 *   state of this CPU's FP/SIMD registers      event                  next
 *   host's values                              save_host              host's (copy in host_fp)
 *   host's (copy in host_fp)                   restore_vm (each entry) vCPU's sh->fp
 *   vCPU's, live                               exit -> save_vm         vCPU's (copy in sh->fp)
 *   vCPU's (copy in sh->fp)                    restore_host            host_fp
 *
 * Guest-visible register state beyond x0-x30/PC/PSTATE/FP (the list Linux KVM's arm64 world
 * switch covers, hyp/include/hyp/sysreg-sr.h and debug-sr.h, against -cpu max of QEMU 7.2):
 * each item is either SWITCHED (the host's values saved by save_host and loaded back by
 * restore_host, the vCPU's kept in shadow_ctxt and loaded by restore_vm) or TRAPPED (the
 * guest's accesses trap to EL2 and KCore refuses them without a host exit: a read gives 0,
 * a write is dropped, the PC moves on).
 *
 *   register(s)                                   decision  how
 *   SCTLR TTBR0/1 TCR MAIR AMAIR VBAR CONTEXTIDR  switched  SR_EL1_FIRST..SR_EL1_LAST; no
 *                                                           HCR_EL2.TVM (deviation, sysreg.h):
 *                                                           the guest writes them without a trap
 *                                                           (a TVM-trapped, skipped write was
 *                                                           lost: no guest MMU could turn on)
 *   ESR FAR AFSR0/1 PAR CPACR CSSELR CNTKCTL      switched    (host_sys[] / sh->sys[])
 *   ACTLR TPIDR_EL1 SP_EL1 ELR_EL1 SPSR_EL1       switched
 *   TPIDR_EL0 TPIDRRO_EL0 SP_EL0                  switched
 *   MDSCR_EL1                                     switched  and TRAPPED (MDCR_EL2.TDA): the
 *                                                           guest keeps its reset value 0, so
 *                                                           the host's breakpoints/watchpoints
 *                                                           and single-step (MDE/KDE/SS) are
 *                                                           off while it runs
 *   CNTV_CTL_EL0 CNTV_CVAL_EL0 (virtual timer)    switched  a guest's timer is armed only while
 *                                                           it runs: it never fires into the
 *                                                           host, the host never reads it
 *   CNTVOFF_EL2                                   fixed 0   EL2-only: written 0 at every entry
 *   DISR_EL1 (VDISR_EL2 under HCR_EL2.AMO)        switched  SR_VDISR_EL2 in the set: one per CPU,
 *                                                           it carried a VM's value to the next VM
 *                                                           run on that CPU (the host's DISR_EL1
 *                                                           is the real one, never the guest's)
 *   TPIDR2_EL0 (FEAT_SME)                         switched  SR_TPIDR2_EL0 in the set: CPTR_EL2.TSM
 *                                                           does not trap it (only FEAT_FGT's
 *                                                           HFGxTR_EL2.nTPIDR2_EL0 would), so a
 *                                                           guest's value reached the host / next VM
 *   CNTP_CTL/CVAL/TVAL (physical timer)           TRAPPED   CNTHCTL_EL2.EL1PCEN = 0 for guests
 *                                                           (the counter stays readable)
 *   CNTHCTL_EL2 MDCR_EL2                          KCore's   guest values at every entry, the
 *                                                           host's back in restore_host
 *   q0-q31 FPSR FPCR                              switched  arch_fpsimd_save/restore (above)
 *   DBGBVR/BCR/WVR/WCR<n> MDCCINT OSLAR OSDLR     TRAPPED   MDCR_EL2.TDA/TDOSA/TDRA (every
 *   DBGPRCR MDRAR DBGCLAIM (all op0 = 2)                    op0 = 2 register): RAZ/WI
 *   PMU: PMCR PMCNTEN* PMOVS* PMSELR PMEV* PMCCNTR TRAPPED   MDCR_EL2.TPM/TPMCR: RAZ/WI; and
 *                                                           PMCR_EL0.E = 0 while a guest runs
 *                                                           (the host's counters never count
 *                                                           guest events), the host's PMCR back
 *                                                           in restore_host
 *   PAuth keys APIA/APIB/APDA/APDB/APGA lo/hi     switched  SR_AP*KEY*_EL1 in the set, and the
 *   (FEAT_PAuth, on in QEMU's -cpu max)                     guest runs with HCR_EL2.API = APK = 1
 *                                                           (its PACIA/AUTIA/PACGA... and key
 *                                                           MSR/MRS execute without a trap), as
 *                                                           KVM: the ID registers advertise
 *                                                           PAuth (no HCR_EL2.TID3), so a Linux
 *                                                           guest uses it; it used to get
 *                                                           UNDEFINED at its first PACIASP. The
 *                                                           host runs with API/APK too (kcore.c)
 *   the same on a CPU without PAuth               absent    API/APK stay clear, the key
 *                                                           registers are never accessed
 *                                                           (arch_has_pauth); a trapped PAuth
 *                                                           instruction (EC 0x09), which such a
 *                                                           CPU cannot raise, gets UNDEFINED
 *   ESR/FAR/HPFAR_EL2 (the exit syndrome)         filtered  prep_exit_vm: none at an interrupt
 *                                                           exit (stale: another VM's), FAR's
 *                                                           page offset only (not the guest VA)
 *   SVE/SME (ZCR, Z/P regs, SMCR, SVCR)           TRAPPED   CPTR_EL2.TZ/TSM (start.S): an exit
 *                                                           to the host, no register content
 *   MTE (GCR, RGSR, TFSR, TFSRE0)                 TRAPPED   HCR_EL2.ATA = 0 (QEMU's virt has
 *                                                           no tag memory: MTE is insn-only)
 *   SCXTNUM_EL0/EL1 (FEAT_CSV2_2)                 TRAPPED   HCR_EL2.EnSCXT = 0: RAZ/WI
 *   GICv3 ICC_* / ICH_* (virtual CPU interface)   n/a       the platform's GIC is a GICv2 (MMIO,
 *                                                           never mapped for a guest by KCore);
 *                                                           a GICv3 port must switch ICH_VMCR,
 *                                                           ICH_AP*R, ICH_LR<n>
 * The physical timer stays the host's (and is unusable by guests); the host's virtual timer
 * is not armed while a guest runs, so the host gets the CPU back at the guest's next exit.
 * Known limit (no vGIC): a guest's virtual timer interrupt is never delivered to it; a guest
 * that leaves CNTV_CTL_EL0 enabled, unmasked and expired makes PPI 27 pending again at every
 * entry (HCR_EL2.IMO: an IRQ exit), so each VCPU_RUN ends in an IRQ exit before the guest
 * progresses, a livelock of that vCPU (the host gets the CPU back each time) until a timer
 * injection design masks it while pending, as KVM's arch timer emulation does.
 */
#include <stddef.h>
#include <string.h>

#include "hl_access.h"
#include "hl_trans.h"
#include "kc_internal.h"
#include "sysreg.h"

#define HALTED(rc) ((rc) == HL_HALT || (rc) == HL_E_CPU_HALTED)

/* ---- context switch ---------------------------------------------------------------------- */
void kc_save_host(struct kcore *k, unsigned cpu)
{
	struct kcore_cpu *kc = &k->cpu[cpu];

	for (unsigned i = 0; i < SR_EL1_COUNT; i++)
		kc->host_sys[i] = arch_read_sysreg((enum arch_sysreg)(SR_EL1_FIRST + i));
	kc->host_elr = arch_read_sysreg(SR_ELR_EL2);
	kc->host_spsr = arch_read_sysreg(SR_SPSR_EL2);
	/* restore_vm writes the vCPU's MPIDR there: a host (Linux) reading MPIDR_EL1 after a
	 * guest ran on its CPU must see its own again */
	kc->host_vmpidr = arch_read_sysreg(SR_VMPIDR_EL2);
	kc->host_mdcr = arch_read_sysreg(SR_MDCR_EL2);
	kc->host_cnthctl = arch_read_sysreg(SR_CNTHCTL_EL2);
	kc->host_pmcr = arch_read_sysreg(SR_PMCR_EL0);
	arch_fpsimd_save(&kc->host_fp);
}

void kc_restore_host(struct kcore *k, unsigned cpu)
{
	struct kcore_cpu *kc = &k->cpu[cpu];

	kc->cur_vmid = HL_HOSTVISOR;   /* set_per_cpu(HOST) */
	kc->cur_vcpuid = cpu;
	kc->in_vm = false;
	arch_write_sysreg(SR_VTTBR_EL2, hl_pt_root_pa_of(k->e, HL_HOSTVISOR));
	arch_write_sysreg(SR_HCR_EL2, k->host_hcr);   /* the platform's host flags (kcore.h) */
	arch_write_sysreg(SR_TPIDR_EL2, 0);
	for (unsigned i = 0; i < SR_EL1_COUNT; i++)
		arch_write_sysreg((enum arch_sysreg)(SR_EL1_FIRST + i), kc->host_sys[i]);
	arch_write_sysreg(SR_ELR_EL2, kc->host_elr);
	arch_write_sysreg(SR_SPSR_EL2, kc->host_spsr);
	arch_write_sysreg(SR_VMPIDR_EL2, kc->host_vmpidr);
	arch_write_sysreg(SR_MDCR_EL2, kc->host_mdcr);
	arch_write_sysreg(SR_CNTHCTL_EL2, kc->host_cnthctl);
	arch_write_sysreg(SR_PMCR_EL0, kc->host_pmcr);   /* the host's counters run again */
	arch_fpsimd_restore(&kc->host_fp);   /* no guest FP/SIMD value stays live */
	arch_dsb_isb();
}

void kc_restore_vm_el2(struct kcore *k, unsigned cpu, uint32_t vmid, struct shadow_ctxt *sh)
{
	uint64_t hcr = HCR_HYPSEC_VM_FLAGS | (sh->hcr & (HCR_VI | HCR_VF));
	const struct kcore_cpu *kc = &k->cpu[cpu];

	if (arch_has_pauth())
		hcr |= HCR_API | HCR_APK;   /* the guest's own keys are loaded below (table above) */

	arch_write_sysreg(SR_VTTBR_EL2, hl_pt_root_pa_of(k->e, vmid) | ((uint64_t)vmid << VTTBR_VMID_SHIFT));
	arch_write_sysreg(SR_HCR_EL2, hcr);   /* ATA clear: MTE traps (table above) */
	/* activate traps (the table above): debug and PMU registers, the physical timer; the
	 * host's PMU counters stop (PMCR_EL0.E) until restore_host */
	arch_write_sysreg(SR_MDCR_EL2, (kc->host_mdcr & MDCR_HPMN_MASK) | MDCR_GUEST_TRAPS);
	arch_write_sysreg(SR_CNTHCTL_EL2, CNTHCTL_GUEST);
	arch_write_sysreg(SR_CNTVOFF_EL2, 0);
	arch_write_sysreg(SR_PMCR_EL0, kc->host_pmcr & ~PMCR_E);
	arch_write_sysreg(SR_TPIDR_EL2, (uint64_t)(uintptr_t)sh);
	arch_write_sysreg(SR_VMPIDR_EL2, sh->vmpidr);
	for (unsigned i = 0; i < SR_EL1_COUNT; i++)
		arch_write_sysreg((enum arch_sysreg)(SR_EL1_FIRST + i), sh->sys[i]);
	arch_write_sysreg(SR_ELR_EL2, sh->pc);
	arch_write_sysreg(SR_SPSR_EL2, sh->pstate);
	arch_fpsimd_restore(&sh->fp);   /* restore_vm: the vCPU's FP/SIMD registers */
	arch_dsb_isb();
}

void kc_save_vm_el1(struct kcore *k, unsigned cpu, struct shadow_ctxt *sh)
{
	for (unsigned i = 0; i < SR_EL1_COUNT; i++)
		sh->sys[i] = arch_read_sysreg((enum arch_sysreg)(SR_EL1_FIRST + i));
	arch_fpsimd_save(&sh->fp);   /* save_vm: before any exit handling runs */
	(void)k;
	(void)cpu;
}

/* ---- restore_vm's engine work ------------------------------------------------------------- */

/*
 * prot_and_map_vm_s2pt(vmid, addr, pte, level), with addr/pte/level chosen by the host:
 * the pages become the VM's (OASSIGN_VM each), then the VM maps them (OMAP_VM).
 * SPEC §13-§14: the whole answer is validated before any page moves (prepare: frame
 * 2 MiB aligned and inside RAM for a level-2 block, the VM's entry not set yet, every
 * page one the VM may take), then committed; a refused answer changes nothing, and a
 * level-2 answer never leaves pages the VM's but unmapped. Answers of two vCPUs of one
 * VM are serialized under the VM's vminfo lock. The rules and what is guaranteed against
 * a racing host are at hl_vm_fault_answer (engine/hl_trans.h).
 */
static int prot_and_map_vm_s2pt(struct kcore *k, unsigned cpu, uint32_t vmid, uint64_t addr,
				 uint64_t pte, uint64_t level)
{
	return hl_vm_fault_answer(k->e, (int)cpu, vmid, addr, pte, level);
}

/* first run: reset the vCPU; the boot PC must lie inside a registered image */
static int reset_vcpu(struct kcore *k, unsigned cpu, uint32_t vmid, uint32_t vcpuid,
		      struct shadow_ctxt *sh, const struct host_vcpu *hv)
{
	uint64_t remap = 0, inc_exe = 0;
	int rc = hl_vm_state(k->e, (int)cpu, vmid, NULL, &inc_exe);

	if (rc)
		return rc;
	if (inc_exe)
		return HL_OK;   /* state restored from an encrypted image: keep it */
	rc = hl_search_load_info(k->e, (int)cpu, vmid, hl_ipa(hv->boot_pc), &remap);
	if (rc)
		return rc;
	if (remap == 0) {
		hl_cpu_halt(k->e, (int)cpu);   /* the Coq spec halts: no image at that PC */
		return HL_HALT;
	}
	memset(sh->regs, 0, sizeof(sh->regs));
	memset(sh->sys, 0, sizeof(sh->sys));
	memset(&sh->fp, 0, sizeof(sh->fp));   /* FP/SIMD: zero, FPCR/FPSR 0 (reset) */
	sh->sys[SR_SCTLR_EL1 - SR_EL1_FIRST] = 0x00C50078ull;   /* architectural reset value */
	sh->vmpidr = (1ull << 31) | vcpuid;                      /* MPIDR from the vcpuid */
	sh->pc = hv->boot_pc;
	sh->pstate = PSTATE_FAULT_BITS_64;
	sh->flags = 0;
	sh->dirty = 0;
	sh->last_exit = ARCH_EXIT_TRAP;
	return HL_OK;
}

/*
 * H10: the value an MMIO load leaves in its register (Arm ARM, data-abort ISS: 1 << SAS
 * bytes, sign-extended when SSE [21], into a W register - upper half 0 - unless SF [15]).
 * The host supplies only those bytes: C copied its whole 64-bit value, so a hostile host
 * set the upper bits of a register the guest knows to be zero after `ldr w5, [x1]`. An
 * 8-byte load always fills an X register (SF is not consulted for SAS = 3).
 */
#define ESR_SSE_BIT (1u << 21)
#define ESR_SF_BIT (1u << 15)
static uint64_t mmio_load_value(uint64_t esr, uint64_t v)
{
	unsigned bits = 8u << esr_sas(esr);

	if (bits == 64)
		return v;
	v &= (1ull << bits) - 1;
	if ((esr & ESR_SSE_BIT) && ((v >> (bits - 1)) & 1))
		v |= ~0ull << bits;
	if (!(esr & ESR_SF_BIT))
		v &= 0xFFFFFFFFull;
	return v;
}

/*
 * restore_shadow_kvm_regs: after a trap exit the host supplies the registers KCore
 * marked dirty (data oracle), the PC moves past an emulated instruction, and a
 * pending stage-2 fault gets the mapping the host chose.
 */
static int restore_vm(struct kcore *k, unsigned cpu, uint32_t vmid, uint32_t vcpuid,
		      struct shadow_ctxt *sh, const struct host_vcpu *hv)
{
	int rc;

	if (sh->dirty == HL_INVALID64)
		return reset_vcpu(k, cpu, vmid, vcpuid, sh, hv);
	if (sh->last_exit == ARCH_EXIT_TRAP && sh->dirty) {
		for (unsigned i = 0; i < 31; i++)
			if (sh->dirty & (1ull << i))   /* only an MMIO load's Rt is dirty */
				sh->regs[i] = mmio_load_value(sh->esr, hv->regs[i]);
		/* el2red: past the trapped instruction, by its length (ESR_EL2.IL): a 16-bit T32
		 * WFI or load from a guest's AArch32 EL0 (its EL1 is AArch64, so it traps through
		 * the AArch64 vectors) is 2 bytes; +4 skipped half of the guest's next instruction */
		if (sh->dirty & DIRTY_PC_FLAG)
			sh->pc += (sh->esr & ESR_IL) ? 4 : 2;
	}
	sh->dirty = 0;
	sh->far = 0;
	sh->hcr = hv->irq & (HCR_VI | HCR_VF);
	if (sh->flags & PENDING_FSC_FAULT) {
		sh->flags &= ~PENDING_FSC_FAULT;
		/* post_handle_shadow_s2pt_fault: only PAGE_SIZE <= addr < 2^48 is applied */
		if (hv->fault_addr >= HL_PAGE_SIZE && hv->fault_addr < HL_ADDR_SPACE) {
			rc = prot_and_map_vm_s2pt(k, cpu, vmid, hv->fault_addr, hv->fault_pte, hv->fault_level);
			if (HALTED(rc))
				return rc;
			/* a malformed request from the host changes nothing; the guest faults again */
		}
	}
	return HL_OK;
}

/* ---- VM exits ------------------------------------------------------------------------------ */

/* grant/revoke_stage2_sg_gpa: each 4 KiB page of [addr, addr+size) the VM has mapped */
static int pv_share(struct kcore *k, unsigned cpu, uint32_t vmid, uint64_t addr, uint64_t size, bool grant)
{
	if (size > (64ull << 20) || addr >= HL_ADDR_SPACE || size > HL_ADDR_SPACE - addr)
		return HL_E_INVAL;
	if (size == 0)
		return HL_OK;   /* H10: 0 bytes share nothing (C: ceil(size/4K) pages); the page of
			         * an unaligned addr used to be shared with the host */
	/* prepare (SPEC §14, H-redteam2): with s2page in shards each OGRANT / OREVOKE locks its
	 * own page's shard, so a shard a halted CPU left locked (stranded) failed the call
	 * halfway, the pages before it already shared / revoked. Every mapped page's shard is
	 * locked here first (hl_page_get: EBUSY on a stranded one), before any page changes: a
	 * refused call changes nothing (test_redteam_shards pv_grant_into_a_stranded_shard_...) */
	for (uint64_t a = addr & ~(HL_PAGE_SIZE - 1); a < addr + size; a += HL_PAGE_SIZE) {
		struct hl_pt_entry ent;
		struct hl_s2page pg;
		int rc = hl_translate(k->e, (int)cpu, vmid, hl_ipa(a), &ent);
		if (rc == 0 && ent.level != 0 && (ent.pte & HL_DESC_ADDR_MASK) != 0)
			rc = hl_page_get(k->e, (int)cpu, ent.pfn, &pg);
		if (rc)
			return rc;
	}
	for (uint64_t a = addr & ~(HL_PAGE_SIZE - 1); a < addr + size; a += HL_PAGE_SIZE) {
		struct hl_pt_entry ent;
		int rc = hl_translate(k->e, (int)cpu, vmid, hl_ipa(a), &ent);
		if (rc)
			return rc;
		if (ent.level == 0 || (ent.pte & HL_DESC_ADDR_MASK) == 0)
			continue;   /* not mapped: nothing to share */
		rc = grant ? hl_grant_vm_page(k->e, (int)cpu, vmid, ent.pfn)
			   : hl_revoke_vm_page(k->e, (int)cpu, vmid, ent.pfn);
		if (rc)
			return rc;
	}
	return HL_OK;
}

/* register names for diagnostics: one table for both backends (arch.h) */
static const char *const sysreg_names[SR__COUNT] = {
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

const char *arch_sysreg_name(enum arch_sysreg r)
{
	return r < SR__COUNT && sysreg_names[r] ? sysreg_names[r] : "?";
}

enum exit_action { EXIT_RESUME, EXIT_TO_HOST, EXIT_HALTED };

/*
 * The registers a guest may not use (the table at the top): every one traps to EL2 and is
 * refused here, without a host exit, as RAZ/WI. Other trapped MSR/MRS (ACTLR_EL1 under
 * HCR_EL2.TACR; no TVM, sysreg.h) keep KCore's skip-only handling.
 *   op0 = 2                                    debug (MDCR_EL2.TDA/TDOSA/TDRA)
 *   op0 = 3, op1 = 3, CRn = 9, CRm = 12..14    PMU (TPM/TPMCR)
 *   op0 = 3, op1 = 0, CRn = 9, CRm = 14        PMU EL1 (PMINTENSET/CLR, PMMIR)
 *   op0 = 3, op1 = 3, CRn = 14, CRm = 8..15    PMEVCNTR<n>, PMEVTYPER<n>, PMCCFILTR
 *   op0 = 3, op1 = 3, CRn = 14, CRm = 2        CNTP_TVAL/CTL/CVAL (CNTHCTL_EL2.EL1PCEN = 0)
 *   op0 = 3, op1 = 0, CRn = 2, CRm = 1..3      PAuth keys (never trap: APK = 1 with PAuth)
 *   op0 = 3, op1 = 0 or 3, CRn = 13, CRm = 0, op2 = 7   SCXTNUM_EL1/EL0 (HCR_EL2.EnSCXT = 0)
 */
static bool sys64_refused(uint64_t esr)
{
	unsigned op0 = sys64_op0(esr), op1 = sys64_op1(esr), crn = sys64_crn(esr), crm = sys64_crm(esr);

	if (op0 == 2)
		return true;
	if (op0 != 3)
		return false;
	if (crn == 9 && ((op1 == 3 && crm >= 12 && crm <= 14) || (op1 == 0 && crm == 14)))
		return true;
	if (op1 == 3 && crn == 14 && (crm == 2 || crm >= 8))
		return true;
	if ((op1 == 0 || op1 == 3) && crn == 13 && crm == 0 && sys64_op2(esr) == 7)
		return true;
	return op1 == 0 && crn == 2 && crm >= 1 && crm <= 3;
}

/*
 * An UNDEFINED exception for the guest, taken to its EL1 as on a CPU without the feature:
 * ESR_EL1 = EC 0 (IL), ELR_EL1 = the instruction, SPSR_EL1 = its PSTATE, then EL1h with DAIF
 * masked at VBAR_EL1 + 0x000 (from EL1t), 0x200 (from EL1h) or 0x400 (from EL0). The values
 * go into the shadow context, which restore_vm loads before the guest resumes.
 */
static void inject_undef(struct shadow_ctxt *sh)
{
	uint64_t *sys = sh->sys;
	unsigned mode = (unsigned)(sh->pstate & 0xF);
	uint64_t off = mode == 0x5 ? 0x200 : mode == 0x4 ? 0x000 : 0x400;

	sys[SR_ESR_EL1 - SR_EL1_FIRST] = esr_make(EC_UNKNOWN, 0);
	sys[SR_ELR_EL1 - SR_EL1_FIRST] = sh->pc;
	sys[SR_SPSR_EL1 - SR_EL1_FIRST] = sh->pstate;
	sh->pc = sys[SR_VBAR_EL1 - SR_EL1_FIRST] + off;
	sh->pstate = PSTATE_FAULT_BITS_64;
}

/* core_handle_pvops: x0 = call, x1 = addr, x2 = size (C reads shadow regs 0, 1, 2) */
static enum exit_action core_handle_pvops(struct kcore *k, unsigned cpu, uint32_t vmid, struct shadow_ctxt *sh)
{
	uint64_t call = sh->regs[0];
	int rc;

	if (call != KVM_SET_DESC_PFN && call != KVM_UNSET_DESC_PFN)
		return EXIT_TO_HOST;   /* unknown PV call: the host sees it */
	k->cpu[cpu].traps[KC_T_PV]++;
	rc = pv_share(k, cpu, vmid, sh->regs[1], sh->regs[2], call == KVM_SET_DESC_PFN);
	if (HALTED(rc))
		return EXIT_HALTED;
	sh->regs[0] = (uint64_t)kc_errno(rc);
	/* no PC skip: ELR_EL2 after an HVC already points past it (Arm ARM D1.10.1, the
	 * preferred return address of an HVC is the next instruction) */
	return EXIT_RESUME;
}

/*
 * Where the guest resumes (the PC rule): ELR_EL2 holds the preferred return address.
 *   exception               ELR_EL2 points at       KCore
 *   HVC (EC 0x16)           the next instruction    never moves the PC
 *   trapped MSR/MRS (0x18)  the trapped instruction skips it (+4) after emulating
 *   trapped SMC (0x17)      the trapped instruction skips it (+4), x0 = NOT_SUPPORTED
 *   PAuth insn (0x09)       the trapped instruction UNDEFINED: guest's VBAR_EL1 + offset
 *                           (only without PAuth: with it API = 1, nothing traps)
 *   WFx (0x01), BRK (0x3C)  the instruction         DIRTY_PC_FLAG: +4 on the next run
 *   data abort, MMIO        the instruction         DIRTY_PC_FLAG: +4 once the host emulated
 *   (DIRTY_PC_FLAG's +4 is +2 for a 16-bit T32 instruction, ESR_EL2.IL = 0: AArch32 EL0)
 *   data abort, stage 2     the instruction         retried after the host's mapping
 *   IRQ                     the next to execute     never moves the PC
 * (Arm ARM, "Preferred exception return address": an exception generated by an HVC returns
 * to the instruction after it; synchronous traps of an instruction return to it.)
 *
 * vm_exit_dispatcher: TRAP/SYS64 skips the instruction (a refused register reads as 0,
 * sys64_refused); TRAP/PAC injects UNDEFINED into the guest; TRAP/SMC64 (HCR_EL2.TSC) is
 * answered NOT_SUPPORTED with the PC past it, never forwarded to the firmware or the host; TRAP/HVC64 is PSCI SYSTEM_OFF
 * (power off, to the host) or a PV call (handled, back to the guest); stage-2 faults,
 * WFx, IRQs and unknown calls go to the host with the fault recorded.
 */
static enum exit_action vm_exit_dispatcher(struct kcore *k, unsigned cpu, uint32_t vmid,
					   struct shadow_ctxt *sh, unsigned code)
{
	struct kcore_cpu *kc = &k->cpu[cpu];
	int rc;

	kc->traps[KC_T_VM_EXIT]++;
	sh->last_exit = code;
	if (code != ARCH_EXIT_TRAP) {
		kc->traps[KC_T_IRQ]++;
		return EXIT_TO_HOST;
	}
	switch (sh->ec) {
	case EC_SYS64:
		kc->traps[KC_T_SYS64]++;
		if (sys64_refused(sh->esr) && sys64_is_read(sh->esr) && sys64_rt(sh->esr) < 31)
			sh->regs[sys64_rt(sh->esr)] = 0;   /* RAZ; a refused write is dropped */
		sh->pc += 4;
		return EXIT_RESUME;
	case EC_PAC:
		kc->traps[KC_T_SYS64]++;
		inject_undef(sh);
		return EXIT_RESUME;
	case EC_SMC64:
		/* el2red: a guest's SMC (trapped by HCR_EL2.TSC) never reaches the firmware: a
		 * PSCI CPU_ON/CPU_OFF/SYSTEM_RESET/SYSTEM_OFF from inside a VM must not start, stop
		 * or reset physical CPUs. KCore answers it itself, as KVM's handle_smc: x0 =
		 * SMCCC NOT_SUPPORTED (-1), PC past the SMC (a trapped SMC's ELR_EL2 is the SMC
		 * itself). It used to go to the host with the PC unmoved, and the host cannot move
		 * a guest's PC (no DIRTY_PC_FLAG for it): the vCPU re-ran its SMC forever. A VM
		 * powers off through HVC PSCI SYSTEM_OFF (REFERENCE 5.2), never through SMC.
		 *   guest SMC  --KCore-->  x0 = -1, pc += 4, EXIT_RESUME (no host exit) */
		kc->traps[KC_T_SYS64]++;
		sh->regs[0] = SMCCC_RET_NOT_SUPPORTED;
		sh->pc += 4;
		return EXIT_RESUME;
	case EC_HVC64:
		if ((uint32_t)sh->regs[0] == PSCI_0_2_FN_SYSTEM_OFF) {
			kc->traps[KC_T_POWEROFF]++;
			rc = hl_set_vm_poweroff(k->e, (int)cpu, vmid);
			return HALTED(rc) ? EXIT_HALTED : EXIT_TO_HOST;
		}
		return core_handle_pvops(k, cpu, vmid, sh);
	case EC_DABT_LOW:
	case EC_IABT_LOW: {
		uint64_t ipa = hpfar_to_ipa(sh->hpfar, sh->far);
		kc->traps[KC_T_GUEST_S2]++;
		/* a translation fault on memory: the host maps a page on the next run */
		if (esr_is_trans_fault(sh->esr) && ipa >= HL_MAX_MMIO_ADDR)
			sh->flags |= PENDING_FSC_FAULT;
		return EXIT_TO_HOST;
	}
	case EC_WFX:
		kc->traps[KC_T_WFX]++;
		return EXIT_TO_HOST;
	default:
		return EXIT_TO_HOST;
	}
}

/*
 * prep_exit_vm: what the host must do before the next run, written to its vcpu struct.
 * The syndrome goes out only as far as the host needs it (the table at the top):
 *   exit                       exit_esr        exit_far             exit_hpfar
 *   IRQ / FIQ / SError         0               0                    0
 *   data / instruction abort   ESR_EL2         FAR_EL2[11:0]        HPFAR_EL2
 *   other trap                 ESR_EL2         0                    0
 * ESR/FAR/HPFAR_EL2 are not written by an interrupt, so at an IRQ exit they held the last
 * synchronous exception's on this CPU: another VM's trap KCore handled without the host
 * (a PV call, a refused MSR/MRS) went out with this VM's exit. FAR_EL2 holds the guest's
 * virtual address: only its page offset is needed (the IPA is HPFAR_EL2's page + offset).
 */
static void prep_exit_vm(struct shadow_ctxt *sh, struct host_vcpu *hv, unsigned code)
{
	bool abort = code == ARCH_EXIT_TRAP && (sh->ec == EC_DABT_LOW || sh->ec == EC_IABT_LOW);

	hv->exit_code = code;
	hv->exit_esr = code == ARCH_EXIT_TRAP ? sh->esr : 0;
	hv->exit_far = abort ? sh->far & 0xFFFu : 0;
	hv->exit_hpfar = abort ? sh->hpfar : 0;
	hv->exit_dirty = 0;
	hv->exit_value = 0;
	hv->exit_flags = sh->flags;
	if (code != ARCH_EXIT_TRAP)
		return;
	switch (sh->ec) {
	case EC_WFX:
	case EC_BRK64:
		sh->dirty = DIRTY_PC_FLAG;   /* prep_wfx */
		break;
	case EC_HVC64:
		/* prep_hvc: the PC already points past the HVC (ELR_EL2), so no DIRTY_PC_FLAG
		 * (issue 9.8: the old DIRTY_PC_FLAG here skipped the instruction after it) */
		hv->exit_value = sh->regs[0];
		sh->dirty = 0;
		break;
	case EC_DABT_LOW:
	case EC_IABT_LOW: {
		uint64_t ipa = hpfar_to_ipa(sh->hpfar, sh->far);
		if (ipa < HL_MAX_MMIO_ADDR && !(sh->esr & ESR_ISV)) {
			/* H10: no valid syndrome (ISV = 0: an LDP/STP, a writeback form, an
			 * instruction fetch): SRT, SAS and WnR are RES0 / UNKNOWN, so no register
			 * may go to the host (SRT reads as x0: a register the guest never wrote to
			 * the device) or be set by it, and the PC stays (nothing was emulated) */
			sh->dirty = 0;
		} else if (ipa < HL_MAX_MMIO_ADDR) {
			/* MMIO: the host emulates; a read's destination register comes back dirty */
			unsigned rt = esr_srt(sh->esr);
			if (!esr_is_write(sh->esr) && rt < 31)
				sh->dirty = (1ull << rt) | DIRTY_PC_FLAG;
			else {
				hv->exit_value = rt < 31 ? sh->regs[rt] : 0;
				sh->dirty = DIRTY_PC_FLAG;
			}
		} else {
			sh->dirty = 0;   /* stage-2 fault: retried after the host's mapping */
		}
		break;
	}
	default:
		sh->dirty = 0;
		break;
	}
	hv->exit_dirty = sh->dirty;
}

/* ---- host_vcpu_run_handler ------------------------------------------------------------------ */
enum kc_ret host_vcpu_run_handler(struct kcore *k, struct trap_frame *f, uint32_t vmid, uint32_t vcpuid)
{
	unsigned cpu = arch_cpu_id();
	struct kcore_cpu *kc = &k->cpu[cpu];
	struct shadow_ctxt *sh = &k->shadow[vmid][vcpuid];
	uint64_t vcpu_pa = 0;
	struct host_vcpu hv;
	enum exit_action act;
	unsigned code;
	int rc;

	kc->traps[KC_T_VCPU_RUN]++;
	rc = hl_set_vcpu_active(k->e, (int)cpu, vmid, vcpuid);
	if (HALTED(rc))
		return KC_RET_HALTED;
	if (rc) {
		f->x[0] = (uint64_t)kc_errno(rc);
		return KC_RET_RESUME;
	}
	/* from here the vCPU is ours: ACTIVE excludes every other CPU */
	if (hl_vcpu_handle(k->e, (int)cpu, vmid, vcpuid, &vcpu_pa) != HL_OK ||
	    kcore_host_read(k, cpu, vcpu_pa, &hv, sizeof(hv)) != HL_OK)
		memset(&hv, 0, sizeof(hv));   /* the host unmapped its own struct: no requests */
	kc->cur_vmid = vmid;
	kc->cur_vcpuid = vcpuid;
	kc->frame = f;
	kc_save_host(k, cpu);
	rc = restore_vm(k, cpu, vmid, vcpuid, sh, &hv);
	if (HALTED(rc))
		return KC_RET_HALTED;
	if (rc < 0) {
		f->x[0] = (uint64_t)kc_errno(rc);   /* stranded / no log room: nothing ran */
		goto out;
	}
	kc->in_vm = true;
	for (;;) {
		kc_restore_vm_el2(k, cpu, vmid, sh);
		code = arch_guest_enter(sh->regs);
		/* vm_to_core + exit_populate_fault */
		sh->pc = arch_read_sysreg(SR_ELR_EL2);
		sh->pstate = arch_read_sysreg(SR_SPSR_EL2);
		sh->esr = arch_read_sysreg(SR_ESR_EL2);
		sh->ec = esr_ec(sh->esr);
		sh->far = arch_read_sysreg(SR_FAR_EL2);
		sh->hpfar = arch_read_sysreg(SR_HPFAR_EL2);
		kc_save_vm_el1(k, cpu, sh);
		act = vm_exit_dispatcher(k, cpu, vmid, sh, code);
		if (act != EXIT_RESUME)
			break;
	}
	if (act == EXIT_HALTED) {
		/* the CPU stops here (no restore_host), but no guest FP/SIMD value stays live */
		arch_fpsimd_restore(&kc->host_fp);
		return KC_RET_HALTED;
	}
	prep_exit_vm(sh, &hv, code);
	(void)kcore_host_write(k, cpu, vcpu_pa + offsetof(struct host_vcpu, exit_code), &hv.exit_code,
			       sizeof(hv) - offsetof(struct host_vcpu, exit_code));
	f->x[0] = code;
out:
	rc = hl_set_vcpu_inactive(k->e, (int)cpu, vmid, vcpuid);
	kc_restore_host(k, cpu);
	if (HALTED(rc))
		return KC_RET_HALTED;
	return KC_RET_RESUME;
}

/*
 * guest.S - the tiny VM kernel, signed at build time and verified by KCore at EL2.
 * Runs at EL1 with its MMU off under its own stage-2 table, at GUEST_IPA (the verified
 * image's 2 MiB block). Every step makes KCore or the host do something:
 *   ACTLR_EL1 accesses trapped by HCR_EL2.TACR (SYS64, skipped by KCore)
 *   stores to unmapped RAM IPAs (stage-2 faults, mapped by the host through KCore); the
 *   first one then spins a while (the host's TLB race, host.c)
 *   KVM_SET_DESC_PFN / KVM_UNSET_DESC_PFN (share/unshare: PV calls KCore handles)
 *   wfi (WFX exits), a read of a device KCore mapped (PHYS_ADDR_IOREMAP, no exit),
 *   MMIO exits (the host emulates), PSCI SYSTEM_OFF (power off)
 * The final MMIO write reports a checksum the host verifies.
 * FP/SIMD (REFERENCE 5.4): the guest fills every lane of v0..v31 with GUEST_FP_SECRET first,
 * and after all the exits above reports (MMIO write at +24) how many of the 64 lanes still
 * hold it: KCore must give the guest its own registers back (64), and the host, which
 * checks its own registers after every VCPU_RUN, must never see the secret.
 * System registers (vcpu.c's table): the guest puts GUEST_SYS_SECRET + k into the switched
 * registers it can write without a trap (TPIDR_EL0, TPIDRRO_EL0, TPIDR_EL1, SP_EL0, ELR_EL1,
 * the virtual timer CNTV_CVAL_EL0/CNTV_CTL_EL0) and reports at the end (MMIO +32) how many
 * still hold its values (SYS_SWITCHED), and (MMIO +40) how many of the registers it may not
 * use read as 0 (SYS_REFUSED: DBGBVR0_EL1, PMCCNTR_EL0, CNTP_CVAL_EL0, which the host sets /
 * runs before every VCPU_RUN). PAuth (a guest runs with HCR_EL2.API = APK = 1): secrets in
 * APIAKEYLO_EL1 and APGAKEYLO_EL1 (and TPIDR2_EL0 with FEAT_SME), counted in +32's report;
 * PACGA with the guest's key at the start and at the end must give the same PAC (x24): it
 * executes without a trap (it was UNDEFINED, API = 0) and the key survived every exit
 * (PACGA, not PACIA: PACIA is a NOP while SCTLR_EL1.EnIA is 0, and this guest's SCTLR_EL1
 * EnIA stays 0 here). MAIR_EL1 and CONTEXTIDR_EL1 (no HCR_EL2.TVM: the guest's writes do not
 * trap, sysreg.h) get GUEST_SYS_SECRET + 9, + 10 and must keep them to the end (counted in
 * +32's report: a TVM-trapped write KCore skips was lost). DISR_EL1 (VDISR_EL2 under HCR_EL2.AMO) must be
 * 0 at the guest's start, whatever VM ran on this CPU before, and keep the guest's value
 * (both counted in +32's report, SYS_GUEST_KEPT in all).
 */
#include "layout.h"

	.text
	.arch	armv8.3-a		/* PACGA (run only where ID_AA64ISAR1/2 say PAuth) */
	.arch_extension	simd
	.global	guest_start
guest_start:
	mov	x20, #0
	/* DISR_EL1 (VDISR_EL2 under AMO; FEAT_RAS only): 0 in a fresh vCPU whatever VM ran on
	 * this CPU before; x23 = 1 if not. Then the guest's own value until its end */
	mov	x23, #0
	mrs	x0, id_aa64pfr0_el1
	ubfx	x0, x0, #28, #4
	cbz	x0, 8f
	mrs	x0, S3_0_C12_C1_1	/* DISR_EL1 */
	cmp	x0, #0
	cset	x23, ne
	ldr	x0, =GUEST_DISR_SECRET
	msr	S3_0_C12_C1_1, x0
8:	mrs	x0, cpacr_el1
	orr	x0, x0, #(3 << 20)	/* FPEN: no FP/SIMD trap at EL1/EL0 (not a TVM register) */
	msr	cpacr_el1, x0
	isb
	ldr	x0, =GUEST_FP_SECRET
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	dup	v\n\().2d, x0
	.endr
	/* the system-register secrets; the timer on (ENABLE) but masked (IMASK): no interrupt */
	ldr	x0, =GUEST_SYS_SECRET
	msr	tpidr_el0, x0
	add	x1, x0, #1
	msr	tpidrro_el0, x1
	add	x1, x0, #2
	msr	tpidr_el1, x1
	add	x1, x0, #3
	msr	sp_el0, x1
	add	x1, x0, #4
	msr	elr_el1, x1
	add	x1, x0, #5
	msr	cntv_cval_el0, x1
	mov	x1, #3
	msr	cntv_ctl_el0, x1
	/* PAuth keys and TPIDR2_EL0: GUEST_SYS_SECRET + 6, 7, 8 where the CPU has them */
	mov	x24, #0
	mrs	x4, id_aa64isar1_el1	/* FEAT_PAuth: APA/API/GPA/GPI or ISAR2 APA3/GPA3 */
	mov	x5, #0x0FF0
	movk	x5, #0xF000, lsl #16
	and	x4, x4, x5
	mrs	x5, S3_0_C0_C6_2	/* ID_AA64ISAR2_EL1 */
	and	x5, x5, #0xFF00
	orr	x4, x4, x5
	cbz	x4, 11f
	add	x1, x0, #6
	msr	S3_0_C2_C1_0, x1	/* APIAKEYLO_EL1 */
	add	x1, x0, #7
	msr	S3_0_C2_C3_0, x1	/* APGAKEYLO_EL1 */
	isb
	ldr	x2, =GUEST_IPA
	pacga	x24, x2, x1		/* the PAC of GUEST_IPA under the guest's APGA key */
11:
	mrs	x4, id_aa64pfr1_el1	/* FEAT_SME: TPIDR2_EL0 */
	ubfx	x4, x4, #24, #4
	cbz	x4, 12f
	add	x1, x0, #8
	msr	S3_3_C13_C0_5, x1	/* TPIDR2_EL0 */
12:	/* MAIR_EL1, CONTEXTIDR_EL1: GUEST_SYS_SECRET + 9, + 10 (MMU off: MAIR is unused) */
	add	x1, x0, #9
	msr	mair_el1, x1
	add	x1, x0, #10
	msr	contextidr_el1, x1
	isb
	/* 1. trapped sysreg accesses: ACTLR_EL1 (HCR_EL2.TACR), skipped by KCore */
	mov	x21, #16
1:	mrs	x0, actlr_el1
	msr	actlr_el1, x0
	subs	x21, x21, #1
	b.ne	1b
	/* 2. touch data pages: stage-2 faults */
	ldr	x1, =GUEST_DATA_IPA
	mov	x21, #GUEST_DATA_PAGES
2:	str	x21, [x1]
	ldr	x2, [x1]
	/* the first page stays in use a while: the host's TLB race (host.c tlb_reader) reads
	 * it from another CPU meanwhile, so a stale host translation would show the 12 here */
	cmp	x21, #GUEST_DATA_PAGES
	b.ne	4f
	mov	x22, #0x100000
5:	subs	x22, x22, #1
	b.ne	5b
4:	add	x20, x20, x2
	add	x1, x1, #4096
	subs	x21, x21, #1
	b.ne	2b
	/* 3. share and unshare the first data page */
	ldr	x0, =0x81000
	ldr	x1, =GUEST_DATA_IPA
	mov	x2, #4096
	hvc	#0
	add	x20, x20, x0
	ldr	x0, =0x82000
	ldr	x1, =GUEST_DATA_IPA
	mov	x2, #4096
	hvc	#0
	add	x20, x20, x0
	/* 4. wait for interrupt, twice: WFX exits */
	wfi
	wfi
	/* 5. a real device mapped by PHYS_ADDR_IOREMAP: the virtio-mmio magic "virt" */
	ldr	x1, =GUEST_MMIO_IPA
	ldr	w3, [x1]
	add	x20, x20, x3
	/* 6. MMIO exits: a write the host sees, a read the host answers */
	ldr	x1, =(GUEST_MMIO_IPA + 0x1000000)
	str	x20, [x1]
	ldr	x4, [x1, #8]
	str	x4, [x1, #16]
	/* 6b. FP/SIMD: how many lanes still hold the secret, to the host */
	ldr	x0, =GUEST_FP_SECRET
	mov	x2, #0
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	mov	x3, v\n\().d[0]
	cmp	x3, x0
	cinc	x2, x2, eq
	mov	x3, v\n\().d[1]
	cmp	x3, x0
	cinc	x2, x2, eq
	.endr
	str	x2, [x1, #24]
	/* 6c. system registers: how many still hold the guest's values, to the host */
	ldr	x0, =GUEST_SYS_SECRET
	mov	x2, #0
	mrs	x3, tpidr_el0
	cmp	x3, x0
	cinc	x2, x2, eq
	add	x0, x0, #1
	mrs	x3, tpidrro_el0
	cmp	x3, x0
	cinc	x2, x2, eq
	add	x0, x0, #1
	mrs	x3, tpidr_el1
	cmp	x3, x0
	cinc	x2, x2, eq
	add	x0, x0, #1
	mrs	x3, sp_el0
	cmp	x3, x0
	cinc	x2, x2, eq
	add	x0, x0, #1
	mrs	x3, elr_el1
	cmp	x3, x0
	cinc	x2, x2, eq
	add	x0, x0, #1
	mrs	x3, cntv_cval_el0
	cmp	x3, x0
	cinc	x2, x2, eq
	mrs	x3, cntv_ctl_el0
	and	x3, x3, #3
	cmp	x3, #3
	cinc	x2, x2, eq
	/* DISR_EL1: 0 at the start (x23 == 0) and the guest's value now; both counted without RAS */
	cmp	x23, #0
	cinc	x2, x2, eq
	mrs	x0, id_aa64pfr0_el1
	ubfx	x0, x0, #28, #4
	cbz	x0, 9f
	mrs	x3, S3_0_C12_C1_1
	ldr	x0, =GUEST_DISR_SECRET
	cmp	x3, x0
	cinc	x2, x2, eq
	b	10f
9:	add	x2, x2, #1
10:	/* PAuth: both keys still the guest's and PACGA gives the start's PAC (3 without PAuth) */
	mrs	x4, id_aa64isar1_el1	/* FEAT_PAuth: APA/API/GPA/GPI or ISAR2 APA3/GPA3 */
	mov	x5, #0x0FF0
	movk	x5, #0xF000, lsl #16
	and	x4, x4, x5
	mrs	x5, S3_0_C0_C6_2	/* ID_AA64ISAR2_EL1 */
	and	x5, x5, #0xFF00
	orr	x4, x4, x5
	cbnz	x4, 13f
	add	x2, x2, #3
	b	14f
13:	ldr	x0, =(GUEST_SYS_SECRET + 6)
	mrs	x3, S3_0_C2_C1_0
	cmp	x3, x0
	cinc	x2, x2, eq
	add	x0, x0, #1
	mrs	x3, S3_0_C2_C3_0
	cmp	x3, x0
	cinc	x2, x2, eq
	ldr	x3, =GUEST_IPA
	pacga	x3, x3, x0
	cmp	x3, x24
	cinc	x2, x2, eq
14:
	mrs	x4, id_aa64pfr1_el1	/* FEAT_SME: TPIDR2_EL0 */
	ubfx	x4, x4, #24, #4
	cbnz	x4, 15f
	add	x2, x2, #1
	b	16f
15:	ldr	x0, =(GUEST_SYS_SECRET + 8)
	mrs	x3, S3_3_C13_C0_5
	cmp	x3, x0
	cinc	x2, x2, eq
16:	/* MAIR_EL1, CONTEXTIDR_EL1 still the guest's (lost when TVM trapped the writes) */
	ldr	x0, =(GUEST_SYS_SECRET + 9)
	mrs	x3, mair_el1
	cmp	x3, x0
	cinc	x2, x2, eq
	add	x0, x0, #1
	mrs	x3, contextidr_el1
	cmp	x3, x0
	cinc	x2, x2, eq
	str	x2, [x1, #32]
	/* 6d. registers a guest may not use: trapped, KCore answers 0 (RAZ) */
	mov	x2, #0
	.irp	reg, S2_0_C0_C0_4, S3_3_C9_C13_0, S3_3_C14_C2_2
	mov	x3, #1			/* DBGBVR0_EL1, PMCCNTR_EL0, CNTP_CVAL_EL0 */
	mrs	x3, \reg
	cmp	x3, #0
	cinc	x2, x2, eq
	.endr
	str	x2, [x1, #40]
	/* 6e. el2red: the firmware and the host's hypercalls are not the guest's.
	 * SMC (trapped by HCR_EL2.TSC): PSCI SYSTEM_RESET, CPU_OFF, CPU_ON (CPU 1 at the guest's
	 * own image), SYSTEM_OFF, VERSION, MEM_PROTECT: KCore answers each NOT_SUPPORTED (-1) and
	 * the guest goes on; the count of -1 answers goes to the host (MMIO +56, GUEST_SMC_CALLS) */
	mov	x6, #0
	.irp	fn, 0x84000009, 0x84000002, 0xC4000003, 0x84000008, 0x84000000, 0x84000013
	ldr	x0, =\fn
	mov	x1, #1
	ldr	x2, =GUEST_IPA
	mov	x3, #0
	smc	#0
	cmn	x0, #1
	cinc	x6, x6, eq
	.endr
	/* HVC with the host's call numbers (REGISTER_KVM, VCPU_RUN of vmid 1, CLEAR_VM_S2_RANGE,
	 * SMMU_LPAE_MAP, SMMU_ALLOC_PGD), the test image's VH_DONE, an out-of-range id (all ones),
	 * HVC #imm != 0: none is a hypercall for a guest; each is an unknown PV call, an exit to
	 * the host that nobody answers, so x0 comes back unchanged (count: MMIO +48,
	 * GUEST_HOST_CALLS; the host counts the exits, host.c) */
	mov	x7, #0
	.irp	fn, 13, 8, 9, 25, 24, 0xC6000002, 0xFFFFFFFFFFFFFFFF
	ldr	x0, =\fn
	mov	x1, #1
	ldr	x2, =GUEST_IPA
	ldr	x3, =0x1000
	mov	x4, #0
	mov	x5, #0
	hvc	#0
	ldr	x8, =\fn
	cmp	x0, x8
	cinc	x7, x7, eq
	.endr
	mov	x0, #13
	hvc	#0x1
	cmp	x0, #13
	cinc	x7, x7, eq
	ldr	x1, =(GUEST_MMIO_IPA + 0x1000000)
	str	x7, [x1, #48]
	str	x6, [x1, #56]
	/* 7. power off */
	ldr	x0, =0x84000008
	hvc	#0
3:	b	3b
	.ltorg
	.global	guest_end
guest_end:

	.section .note.GNU-stack, "", %progbits

/* host_start.S - EL1 entry of the host test kernel: x0 = CPU index (from EL2). MMU off. */
#include "layout.h"

	.section .text.entry, "ax"
	.global	host_entry
host_entry:
	adrp	x1, host_stacks
	add	x1, x1, :lo12:host_stacks
	add	x2, x0, #1
	mov	x3, #HOST_STACK_SIZE
	madd	x1, x2, x3, x1
	mov	sp, x1
	adrp	x1, host_vectors
	add	x1, x1, :lo12:host_vectors
	msr	vbar_el1, x1
	isb
	bl	host_main
1:	wfe
	b	1b

/* an exception at EL1 is a bug in this kernel: report ESR/ELR through VH_DONE */
	.balign	0x800
host_vectors:
	.rept	16
	.balign	0x80
	mrs	x1, esr_el1
	mrs	x2, elr_el1
	mov	x3, x2
	movz	x0, #0x0002
	movk	x0, #0xC600, lsl #16
	orr	x1, x1, #(1 << 63)
	hvc	#0
	b	.
	.endr

/*
 * FP/SIMD probes for the VCPU_RUN check (host.c, REFERENCE 5.4):
 * void host_fp_set(uint64_t v): FP/SIMD on at EL1 (CPACR_EL1.FPEN), every 64-bit lane of
 *   v0..v31 = v, FPCR = 0;  uint64_t host_fp_count(uint64_t v): how many of the 64 lanes are v
 */
	.text
	.arch_extension	simd
	.global	host_fp_set
host_fp_set:
	mrs	x1, cpacr_el1
	orr	x1, x1, #(3 << 20)
	msr	cpacr_el1, x1
	isb
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	dup	v\n\().2d, x0
	.endr
	ret
	.global	host_fp_count
host_fp_count:
	mov	x2, #0
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	mov	x1, v\n\().d[0]
	cmp	x1, x0
	cinc	x2, x2, eq
	mov	x1, v\n\().d[1]
	cmp	x1, x0
	cinc	x2, x2, eq
	.endr
	mov	x0, x2
	ret

/*
 * System-register probes for the VCPU_RUN check (host.c, vcpu.c's table):
 * void host_sys_set(uint64_t v): TPIDR_EL0, TPIDRRO_EL0, TPIDR_EL1, SP_EL0, ELR_EL1,
 *   CNTV_CVAL_EL0 = v + 0..5, CNTV_CTL_EL0 = 2 (off, masked); and what a guest must not
 *   read: DBGBVR0_EL1 = CNTP_CVAL_EL0 = v, the PMU cycle counter running (PMCR_EL0.E,
 *   PMCNTENSET_EL0.C)
 *   and with PAuth APIAKEYLO_EL1/APGAKEYLO_EL1 = v + 6, 7, with FEAT_SME TPIDR2_EL0 = v + 8
 *   (the host runs with HCR_EL2.API = APK = 1: its key accesses do not trap)
 * uint64_t host_sys_count(uint64_t v, uint64_t ctl): how many of the ten hold v + 0..5
 *   and CNTV_CTL_EL0[1:0] = ctl, and v + 6..8 (a register the CPU lacks is not counted:
 *   host_sys_absent)
 * uint64_t host_sys_absent(void): how many of the three the CPU lacks
 */
	.text
	.global	host_sys_set
host_sys_set:
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
	mov	x1, #2
	msr	cntv_ctl_el0, x1
	and	x1, x0, #~3
	msr	S2_0_C0_C0_4, x1	/* DBGBVR0_EL1 (bits [1:0] RES0) */
	msr	S3_3_C14_C2_2, x0	/* CNTP_CVAL_EL0 */
	mrs	x1, S3_3_C9_C12_0	/* PMCR_EL0 */
	orr	x1, x1, #1		/* E */
	msr	S3_3_C9_C12_0, x1
	mov	x1, #(1 << 31)
	msr	S3_3_C9_C12_1, x1	/* PMCNTENSET_EL0.C: the cycle counter */
	mrs	x4, id_aa64isar1_el1	/* FEAT_PAuth: APA/API/GPA/GPI or ISAR2 APA3/GPA3 */
	mov	x5, #0x0FF0
	movk	x5, #0xF000, lsl #16
	and	x4, x4, x5
	mrs	x5, S3_0_C0_C6_2	/* ID_AA64ISAR2_EL1 */
	and	x5, x5, #0xFF00
	orr	x4, x4, x5
	cbz	x4, 1f
	add	x1, x0, #6
	msr	S3_0_C2_C1_0, x1	/* APIAKEYLO_EL1 */
	add	x1, x0, #7
	msr	S3_0_C2_C3_0, x1	/* APGAKEYLO_EL1 */
1:
	mrs	x4, id_aa64pfr1_el1	/* FEAT_SME: TPIDR2_EL0 */
	ubfx	x4, x4, #24, #4
	cbz	x4, 2f
	add	x1, x0, #8
	msr	S3_3_C13_C0_5, x1	/* TPIDR2_EL0 */
2:	isb
	ret
	.global	host_sys_count
host_sys_count:
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
	cmp	x3, x1
	cinc	x2, x2, eq
	mov	x6, x0			/* v + 5 */
	mrs	x4, id_aa64isar1_el1	/* FEAT_PAuth: APA/API/GPA/GPI or ISAR2 APA3/GPA3 */
	mov	x5, #0x0FF0
	movk	x5, #0xF000, lsl #16
	and	x4, x4, x5
	mrs	x5, S3_0_C0_C6_2	/* ID_AA64ISAR2_EL1 */
	and	x5, x5, #0xFF00
	orr	x4, x4, x5
	cbz	x4, 1f
	add	x0, x6, #1
	mrs	x3, S3_0_C2_C1_0
	cmp	x3, x0
	cinc	x2, x2, eq
	add	x0, x6, #2
	mrs	x3, S3_0_C2_C3_0
	cmp	x3, x0
	cinc	x2, x2, eq
1:
	mrs	x4, id_aa64pfr1_el1	/* FEAT_SME: TPIDR2_EL0 */
	ubfx	x4, x4, #24, #4
	cbz	x4, 2f
	add	x0, x6, #3
	mrs	x3, S3_3_C13_C0_5
	cmp	x3, x0
	cinc	x2, x2, eq
2:	mov	x0, x2
	ret
	.global	host_sys_absent
host_sys_absent:
	mov	x2, #0
	mrs	x4, id_aa64isar1_el1	/* FEAT_PAuth: APA/API/GPA/GPI or ISAR2 APA3/GPA3 */
	mov	x5, #0x0FF0
	movk	x5, #0xF000, lsl #16
	and	x4, x4, x5
	mrs	x5, S3_0_C0_C6_2	/* ID_AA64ISAR2_EL1 */
	and	x5, x5, #0xFF00
	orr	x4, x4, x5
	cmp	x4, #0
	cinc	x2, x2, eq
	cinc	x2, x2, eq
	mrs	x4, id_aa64pfr1_el1	/* FEAT_SME: TPIDR2_EL0 */
	ubfx	x4, x4, #24, #4
	cmp	x4, #0
	cinc	x2, x2, eq
	mov	x0, x2
	ret

	.bss
	.balign	16
host_stacks:
	.skip	HOST_STACK_SIZE * EL2_MAX_CPUS

	.section .note.GNU-stack, "", %progbits

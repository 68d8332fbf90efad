/*
 * start.S - EL2 boot: CPU 0 from the ELF entry (QEMU: EL2, MMU off, SCTLR_EL2 = 0) and the
 * secondaries from PSCI CPU_ON (x0 = context id = CPU index). Each CPU gets its stack,
 * turns on the EL2 stage-1 MMU (identity map, RAM Normal write-back) before any C code
 * runs, so every exclusive/atomic the engine uses is on Normal cacheable memory.
 */
#include "layout.h"

#define SCTLR_EL2_RES1	0x30C50830
#define SCTLR_M		(1 << 0)
#define SCTLR_C		(1 << 2)
#define SCTLR_SA	(1 << 3)
#define SCTLR_I		(1 << 12)
/* T0SZ 25 (39-bit VA, level-1 start), inner/outer WBWA, inner shareable, 4K, PS 40-bit */
#define TCR_EL2_VAL	(25 | (1 << 8) | (1 << 10) | (3 << 12) | (2 << 16) | (1 << 23) | (1 << 31))
#define MAIR_EL2_VAL	0xFF00		/* attr0 Device-nGnRnE, attr1 Normal WB */
#define BLK_DEVICE	(0x401 | (1 << 54))	/* block, attr0, AF, XN */
#define BLK_NORMAL	0x705			/* block, attr1, inner shareable, AF */

	.section .text.boot, "ax"
	.global	_start
_start:
	mrs	x19, mpidr_el1
	and	x19, x19, #0xff
	cbnz	x19, park			/* only CPU 0 enters here */
	/* zero .bss (the stacks and TLS areas are in it) */
	adrp	x0, __bss_start
	add	x0, x0, :lo12:__bss_start
	adrp	x1, __bss_end
	add	x1, x1, :lo12:__bss_end
1:	cmp	x0, x1
	b.hs	2f
	stp	xzr, xzr, [x0], #16
	b	1b
2:	b	common

	.global	el2_secondary_entry
el2_secondary_entry:
	mov	x19, x0

common:
	/* the stack: el2_stacks + (cpu + 1) * EL2_STACK_SIZE */
	adrp	x1, el2_stacks
	add	x1, x1, :lo12:el2_stacks
	add	x2, x19, #1
	mov	x3, #EL2_STACK_SIZE
	madd	x1, x2, x3, x1
	mov	sp, x1

	/* no FP/SIMD traps at EL2 (libsodium may use them), EL1 counter access */
	mov	x0, #0x33ff
	msr	cptr_el2, x0
	mov	x0, #3
	msr	cnthctl_el2, x0
	msr	cntvoff_el2, xzr

	/* the EL2 stage-1 MMU: one level-1 table, 1 GiB blocks, identity */
	adrp	x0, el2_pt_l1
	msr	ttbr0_el2, x0
	ldr	x0, =MAIR_EL2_VAL
	msr	mair_el2, x0
	ldr	x0, =TCR_EL2_VAL
	msr	tcr_el2, x0
	isb
	tlbi	alle2
	ic	iallu
	dsb	ish
	isb
	ldr	x0, =(SCTLR_EL2_RES1 | SCTLR_M | SCTLR_C | SCTLR_SA | SCTLR_I)
	msr	sctlr_el2, x0
	isb

	mov	x0, x19
	bl	el2_cpu_main			/* never returns */
park:
	wfe
	b	park

/* semihosting SYS_EXIT (AArch64: x1 -> { reason, subcode }) */
	.text
	.global	el2_semihost_exit
el2_semihost_exit:
	adrp	x2, exit_block
	add	x2, x2, :lo12:exit_block
	ldr	x1, =0x20026			/* ADP_Stopped_ApplicationExit */
	stp	x1, x0, [x2]
	mov	x1, x2
	mov	w0, #0x18
	dsb	ish
	hlt	#0xf000
	b	park

/* enter EL1h at `entry` with x0 = arg, x1-x3 = 0, DAIF masked (the host: stage 2 already set up) */
	.global	el2_enter_el1
el2_enter_el1:
	msr	elr_el2, x0
	mov	x2, #0x3c5
	msr	spsr_el2, x2
	mov	x0, x1
	mov	x1, xzr
	mov	x2, xzr			/* arm64 booting.rst: x1-x3 = 0 (the Linux host) */
	mov	x3, xzr
	isb
	eret

/* PSCI through the SMC conduit (-M virt,virtualization=on: EL3 is QEMU's) */
	.global	el2_psci_smc
el2_psci_smc:
	smc	#0
	ret

	.section .rodata
	.balign	4096
el2_pt_l1:
	.quad	0x00000000 | BLK_DEVICE		/* 0-1 GiB: devices (PL011, GIC, ...) */
	.quad	0x40000000 | BLK_NORMAL		/* 1-2 GiB: RAM */
	.fill	510, 8, 0

	.bss
	.balign	16
exit_block:
	.quad	0, 0
	.balign	4096
	.global	el2_stacks
el2_stacks:
	.skip	EL2_STACK_SIZE * EL2_MAX_CPUS

	.section .note.GNU-stack, "", %progbits

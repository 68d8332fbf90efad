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

	.bss
	.balign	16
host_stacks:
	.skip	HOST_STACK_SIZE * EL2_MAX_CPUS

	.section .note.GNU-stack, "", %progbits

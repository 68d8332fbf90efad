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

	.bss
	.balign	16
host_stacks:
	.skip	HOST_STACK_SIZE * EL2_MAX_CPUS

	.section .note.GNU-stack, "", %progbits

/*
 * entry.S - guest entry/exit and the EL2 exception vectors (nVHE, AArch64 guests only).
 *
 * __guest_enter(uint64_t *gprs) saves the host's callee-saved registers and the gprs
 * pointer on the EL2 stack, loads x0..x30 from gprs[0..30] and erets to the guest
 * (ELR_EL2/SPSR_EL2/HCR_EL2/VTTBR_EL2 were set by the caller). SP_EL2 is not visible to
 * the guest, so when the guest traps back the vector finds that frame at the top of the
 * stack: no per-CPU pointer is needed (TPIDR_EL2 holds the shadow context for the C code).
 *
 * A lower-EL exception saves the guest's x0..x30 into gprs[], restores the host frame and
 * returns from __guest_enter with the exit code in w0:
 *     synchronous -> ARCH_EXIT_TRAP (2), ESR/FAR/HPFAR_EL2 describe it
 *     IRQ, FIQ    -> ARCH_EXIT_IRQ (0)
 *     SError      -> ARCH_EXIT_SERROR (1, el2.h)
 * Which lower EL trapped is told by the guest_ctx word of the CPU's struct el2_tcb (el2.h,
 * TPIDR_EL2 points at it): the shadow-context pointer while a VM runs (vcpu.c), 0 while the
 * host runs (vcpu.c, arch_el2_init_cpu). A host synchronous exception
 * (HVC, a stage-2 fault, a trapped SMC) is not a guest exit: __host_sync saves x0..x30, ELR,
 * SPSR, ESR, FAR and HPFAR_EL2 as a struct trap_frame (kcore.h) on the EL2 stack, calls
 * arch_el2_host_trap(frame), restores the (possibly changed) registers and erets to the host.
 * A host IRQ/FIQ/SError never reaches EL2 (HCR_EL2.IMO/FMO/AMO are clear for the host).
 * Exceptions taken at EL2 itself, from an AArch32 lower EL, or a host IRQ/FIQ/SError are not
 * recoverable here: they go to arch_el2_panic(slot).
 *
 * FP/SIMD state is switched by the caller (vcpu.c) with arch_fpsimd_save/restore below; the
 * EL1 registers, the virtual timer and the trap registers (debug, PMU, physical timer, PAuth)
 * by vcpu.c through arch_read/write_sysreg (its table says which are switched and which trap).
 */

#define EL2_TCB_GUEST_CTX	0	/* el2.h: struct el2_tcb, TPIDR_EL2 points at it */
#define ARCH_EXIT_IRQ		0
#define ARCH_EXIT_SERROR	1
#define ARCH_EXIT_TRAP		2

/* host frame on the EL2 stack, 16-byte aligned, 112 bytes */
#define HF_X29		0	/* x29, x30 */
#define HF_X19		16	/* x19, x20 */
#define HF_X21		32
#define HF_X23		48
#define HF_X25		64
#define HF_X27		80	/* x27, x28 */
#define HF_GPRS		96	/* the gprs pointer */
#define HF_X18		104	/* platform register: kept for the host too */
#define HF_SIZE		112

	.text

/* unsigned __guest_enter(uint64_t *gprs) */
	.global	__guest_enter
	.type	__guest_enter, %function
	.balign	8
__guest_enter:
	stp	x29, x30, [sp, #-HF_SIZE]!
	stp	x19, x20, [sp, #HF_X19]
	stp	x21, x22, [sp, #HF_X21]
	stp	x23, x24, [sp, #HF_X23]
	stp	x25, x26, [sp, #HF_X25]
	stp	x27, x28, [sp, #HF_X27]
	stp	x0, x18, [sp, #HF_GPRS]

	/* the guest's registers; x0/x1 last, x0 is the base */
	ldp	x2, x3, [x0, #8 * 2]
	ldp	x4, x5, [x0, #8 * 4]
	ldp	x6, x7, [x0, #8 * 6]
	ldp	x8, x9, [x0, #8 * 8]
	ldp	x10, x11, [x0, #8 * 10]
	ldp	x12, x13, [x0, #8 * 12]
	ldp	x14, x15, [x0, #8 * 14]
	ldp	x16, x17, [x0, #8 * 16]
	ldp	x18, x19, [x0, #8 * 18]
	ldp	x20, x21, [x0, #8 * 20]
	ldp	x22, x23, [x0, #8 * 22]
	ldp	x24, x25, [x0, #8 * 24]
	ldp	x26, x27, [x0, #8 * 26]
	ldp	x28, x29, [x0, #8 * 28]
	ldr	x30, [x0, #8 * 30]
	ldp	x0, x1, [x0]
	eret
	dsb	nsh		/* no straight-line speculation past the eret */
	isb
	.size	__guest_enter, . - __guest_enter

/*
 * Exit path. On entry: x0 = exit code, [sp] = guest x0/x1 (pushed by the vector),
 * [sp + 16] = the host frame of __guest_enter.
 */
	.type	__guest_exit, %function
	.balign	8
__guest_exit:
	ldr	x1, [sp, #16 + HF_GPRS]
	stp	x2, x3, [x1, #8 * 2]
	stp	x4, x5, [x1, #8 * 4]
	stp	x6, x7, [x1, #8 * 6]
	stp	x8, x9, [x1, #8 * 8]
	stp	x10, x11, [x1, #8 * 10]
	stp	x12, x13, [x1, #8 * 12]
	stp	x14, x15, [x1, #8 * 14]
	stp	x16, x17, [x1, #8 * 16]
	stp	x18, x19, [x1, #8 * 18]
	stp	x20, x21, [x1, #8 * 20]
	stp	x22, x23, [x1, #8 * 22]
	stp	x24, x25, [x1, #8 * 24]
	stp	x26, x27, [x1, #8 * 26]
	stp	x28, x29, [x1, #8 * 28]
	str	x30, [x1, #8 * 30]
	ldp	x2, x3, [sp], #16	/* the guest's x0, x1 */
	stp	x2, x3, [x1]

	/* back to the host frame */
	ldr	x18, [sp, #HF_X18]
	ldp	x19, x20, [sp, #HF_X19]
	ldp	x21, x22, [sp, #HF_X21]
	ldp	x23, x24, [sp, #HF_X23]
	ldp	x25, x26, [sp, #HF_X25]
	ldp	x27, x28, [sp, #HF_X27]
	ldp	x29, x30, [sp], #HF_SIZE
	ret			/* w0 = exit code */
	.size	__guest_exit, . - __guest_exit

/*
 * Host synchronous exception. On entry: [sp] = host x0/x1 (pushed by the vector).
 * struct trap_frame { uint64_t x[31]; elr, spsr, esr, far, hpfar; } = 288 bytes
 * (offsets checked against kcore.h by _Static_assert in arch_el2.c).
 */
#define TF_ELR		(8 * 31)	/* elr, spsr */
#define TF_ESR		(8 * 33)	/* esr, far */
#define TF_HPFAR	(8 * 35)
#define TF_SIZE		(8 * 36)

	.type	__host_sync, %function
	.balign	8
__host_sync:
	sub	sp, sp, #TF_SIZE
	stp	x2, x3, [sp, #8 * 2]
	stp	x4, x5, [sp, #8 * 4]
	stp	x6, x7, [sp, #8 * 6]
	stp	x8, x9, [sp, #8 * 8]
	stp	x10, x11, [sp, #8 * 10]
	stp	x12, x13, [sp, #8 * 12]
	stp	x14, x15, [sp, #8 * 14]
	stp	x16, x17, [sp, #8 * 16]
	stp	x18, x19, [sp, #8 * 18]
	stp	x20, x21, [sp, #8 * 20]
	stp	x22, x23, [sp, #8 * 22]
	stp	x24, x25, [sp, #8 * 24]
	stp	x26, x27, [sp, #8 * 26]
	stp	x28, x29, [sp, #8 * 28]
	str	x30, [sp, #8 * 30]
	ldp	x2, x3, [sp, #TF_SIZE]	/* the host's x0, x1 */
	stp	x2, x3, [sp]
	mrs	x2, elr_el2
	mrs	x3, spsr_el2
	stp	x2, x3, [sp, #TF_ELR]
	mrs	x2, esr_el2
	mrs	x3, far_el2
	stp	x2, x3, [sp, #TF_ESR]
	mrs	x2, hpfar_el2
	str	x2, [sp, #TF_HPFAR]

	mov	x0, sp
	bl	arch_el2_host_trap

	ldp	x2, x3, [sp, #TF_ELR]	/* the handler may move ELR (skip an SMC) or set SPSR */
	msr	elr_el2, x2
	msr	spsr_el2, x3
	ldp	x0, x1, [sp]
	ldp	x2, x3, [sp, #8 * 2]
	ldp	x4, x5, [sp, #8 * 4]
	ldp	x6, x7, [sp, #8 * 6]
	ldp	x8, x9, [sp, #8 * 8]
	ldp	x10, x11, [sp, #8 * 10]
	ldp	x12, x13, [sp, #8 * 12]
	ldp	x14, x15, [sp, #8 * 14]
	ldp	x16, x17, [sp, #8 * 16]
	ldp	x18, x19, [sp, #8 * 18]
	ldp	x20, x21, [sp, #8 * 20]
	ldp	x22, x23, [sp, #8 * 22]
	ldp	x24, x25, [sp, #8 * 24]
	ldp	x26, x27, [sp, #8 * 26]
	ldp	x28, x29, [sp, #8 * 28]
	ldr	x30, [sp, #8 * 30]
	add	sp, sp, #TF_SIZE + 16
	eret
	dsb	nsh
	isb
	.size	__host_sync, . - __host_sync

	.type	__el2_bad_vector, %function
	.balign	8
__el2_bad_vector:		/* x0 = slot; the interrupted x0/x1 are on the stack */
	b	arch_el2_panic
	.size	__el2_bad_vector, . - __el2_bad_vector

/* ---- the vector table: 16 slots of 0x80 bytes, 2 KiB aligned ------------------------------ */

/* from a lower EL: a guest exit if TPIDR_EL2 != 0, else the host (only sync is expected) */
.macro	lower_vector code, slot
	.balign	0x80
	stp	x0, x1, [sp, #-16]!
	mrs	x0, tpidr_el2
	ldr	x0, [x0, #EL2_TCB_GUEST_CTX]
	cbz	x0, 1f
	mov	x0, #\code
	b	__guest_exit
1:
	.if	\slot == 8
	b	__host_sync
	.else
	mov	x0, #\slot
	b	__el2_bad_vector
	.endif
.endm

.macro	bad_vector slot
	.balign	0x80
	stp	x0, x1, [sp, #-16]!
	mov	x0, #\slot
	b	__el2_bad_vector
.endm

	.global	__el2_vectors
	.type	__el2_vectors, %function
	.balign	0x800
__el2_vectors:
	/* current EL, SP_EL0 */
	bad_vector	0
	bad_vector	1
	bad_vector	2
	bad_vector	3
	/* current EL, SP_EL2: a fault in EL2 itself */
	bad_vector	4
	bad_vector	5
	bad_vector	6
	bad_vector	7
	/* lower EL, AArch64: a guest exits, or the host calls/faults into EL2 */
	lower_vector	ARCH_EXIT_TRAP, 8	/* synchronous */
	lower_vector	ARCH_EXIT_IRQ, 9	/* IRQ */
	lower_vector	ARCH_EXIT_IRQ, 10	/* FIQ */
	lower_vector	ARCH_EXIT_SERROR, 11	/* SError */
	/* lower EL, AArch32: HCR_EL2.RW is set for every guest, so never */
	bad_vector	12
	bad_vector	13
	bad_vector	14
	bad_vector	15
	.balign	0x80
	.size	__el2_vectors, . - __el2_vectors


/*
 * void arch_fpsimd_save(struct arch_fpsimd *s)          (arch.h; x0 = s, 16-byte aligned)
 * void arch_fpsimd_restore(const struct arch_fpsimd *s)
 * save_host / restore_host / save_vm / restore_vm's FP/SIMD half (vcpu.c, REFERENCE 5.4):
 * q0..q31 at s + 16 * n, FPSR at s + 512, FPCR at s + 520. These two are the only EL2
 * routines that use FP/SIMD registers on purpose (the C code is built -mgeneral-regs-only;
 * image/fpsimd_check.sh lists them as its one exception). They run with CPTR_EL2.TFP clear
 * (image/start.S writes CPTR_EL2 = 0x33ff and nothing sets TFP), so they never trap.
 */
	.text
	.arch_extension	fp
	.arch_extension	simd
#define FPS_FPSR	512
#define FPS_FPCR	520

	.global	arch_fpsimd_save
	.type	arch_fpsimd_save, %function
	.balign	8
arch_fpsimd_save:
	stp	q0, q1, [x0, #16 * 0]
	stp	q2, q3, [x0, #16 * 2]
	stp	q4, q5, [x0, #16 * 4]
	stp	q6, q7, [x0, #16 * 6]
	stp	q8, q9, [x0, #16 * 8]
	stp	q10, q11, [x0, #16 * 10]
	stp	q12, q13, [x0, #16 * 12]
	stp	q14, q15, [x0, #16 * 14]
	stp	q16, q17, [x0, #16 * 16]
	stp	q18, q19, [x0, #16 * 18]
	stp	q20, q21, [x0, #16 * 20]
	stp	q22, q23, [x0, #16 * 22]
	stp	q24, q25, [x0, #16 * 24]
	stp	q26, q27, [x0, #16 * 26]
	stp	q28, q29, [x0, #16 * 28]
	stp	q30, q31, [x0, #16 * 30]
	mrs	x1, fpsr
	mrs	x2, fpcr
	add	x3, x0, #FPS_FPSR	/* beyond stp's immediate range */
	stp	x1, x2, [x3]
	ret
	.size	arch_fpsimd_save, . - arch_fpsimd_save

	.global	arch_fpsimd_restore
	.type	arch_fpsimd_restore, %function
	.balign	8
arch_fpsimd_restore:
	ldp	q0, q1, [x0, #16 * 0]
	ldp	q2, q3, [x0, #16 * 2]
	ldp	q4, q5, [x0, #16 * 4]
	ldp	q6, q7, [x0, #16 * 6]
	ldp	q8, q9, [x0, #16 * 8]
	ldp	q10, q11, [x0, #16 * 10]
	ldp	q12, q13, [x0, #16 * 12]
	ldp	q14, q15, [x0, #16 * 14]
	ldp	q16, q17, [x0, #16 * 16]
	ldp	q18, q19, [x0, #16 * 18]
	ldp	q20, q21, [x0, #16 * 20]
	ldp	q22, q23, [x0, #16 * 22]
	ldp	q24, q25, [x0, #16 * 24]
	ldp	q26, q27, [x0, #16 * 26]
	ldp	q28, q29, [x0, #16 * 28]
	ldp	q30, q31, [x0, #16 * 30]
	add	x3, x0, #FPS_FPSR
	ldp	x1, x2, [x3]
	msr	fpsr, x1
	msr	fpcr, x2
	ret
	.size	arch_fpsimd_restore, . - arch_fpsimd_restore

	.section .note.GNU-stack, "", %progbits

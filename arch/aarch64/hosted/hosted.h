/* hosted.h - hooks of the hosted backend for the hosted platform (not for generic code). */
#ifndef HL_HOSTED_H
#define HL_HOSTED_H

#include <stdbool.h>
#include <stdint.h>

#include "arch.h"

/* make the calling thread physical CPU `id` (fresh, zeroed system registers) */
void hosted_cpu_init(unsigned id);

/* the calling CPU's simulated FP/SIMD register file: what the host and the guest models
 * (tests, hostile.c) read and write as q0..q31/FPSR/FPCR; KCore reaches it only through
 * arch_fpsimd_save/restore, as at EL2 */
struct arch_fpsimd *hosted_fpsimd(void);

/* the CPU model implements PAuth (default true, as QEMU's -cpu max): arch_has_pauth() */
void hosted_set_pauth(bool on);

/* runs the current guest (identified by VTTBR_EL2 / VMPIDR_EL2) until it traps */
typedef unsigned (*hosted_guest_fn)(void *arg, uint64_t *gprs);
void hosted_set_guest_runner(hosted_guest_fn fn, void *arg);

/* the platform's TLB model: arch_tlbi_s2_ipa calls fn(arg, vttbr, ipa) (NULL: none) */
typedef void (*hosted_tlbi_fn)(void *arg, uint64_t vttbr, uint64_t ipa);
void hosted_set_tlbi_hook(hosted_tlbi_fn fn, void *arg);

#endif

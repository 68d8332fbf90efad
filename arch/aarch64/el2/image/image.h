/* image.h - what the EL2 image's files share (main.c, libc.c, rcu.c). */
#ifndef EL2IMG_IMAGE_H
#define EL2IMG_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/* this CPU's index (MPIDR_EL1.Aff0; the TCB's copy once TPIDR_EL2 is set) */
static inline unsigned el2_cpu(void)
{
	uint64_t v;
	__asm__ volatile("mrs %0, mpidr_el1" : "=r"(v));
	return (unsigned)(v & 0xFF) % EL2_MAX_CPUS;
}

void el2_console_write(const char *s);
void el2_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void el2_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void el2_spin_lock(uint32_t *l);
void el2_spin_unlock(uint32_t *l);
void el2_heap_init(uintptr_t base, uintptr_t end);
size_t el2_heap_used(void);

/* start.S */
_Noreturn void el2_semihost_exit(uint64_t code);
int64_t el2_psci_smc(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3);
extern char el2_secondary_entry[];
_Noreturn void el2_enter_el1(uint64_t entry, uint64_t arg);

#endif

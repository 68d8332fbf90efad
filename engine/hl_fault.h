/*
 * hl_fault.h - fault injection for the oracle tests (meson -Dfault_injection=true, or any
 * build compiled with -DHL_FAULT_INJECTION). Each switch breaks the step framework or
 * the logs in one known way, on every n-th eligible event (counted from hl_fault_set),
 * so a test can aim a fault at one chosen step. Without the option none of this exists
 * in the binary. (Include this header after the others: it may define HL_FAULT_INJECTION.)
 *
 *   SKIP_LOCK     the step skips its first lock (no lock, no read dependency); if the
 *                 step then writes that object the engine's held-witness aborts
 *   LOCK_ORDER    the step drops its first lock when it takes its second, then takes the
 *                 first again: inner before outer, with the debug order abort bypassed
 *   APPEND_LATE   the step releases its locks, and its records reach the logs only after
 *                 the next step (of any CPU) appended its own
 *   DROP_RECORD   an appended record never reaches its log (its seq is reused)
 *   WRONG_DELTA   an appended record's first delta payload differs from the live write
 *   HALT_RELEASE  a halting step releases the locks the spec keeps held (still marked
 *                 STRANDED in its records)
 *   REORDER       an appended record is held back and lands after the next record of the
 *                 same log, sequence numbers exchanged so the log stays consecutive
 *
 * The switches are process-global and meant for deterministic single-threaded tests.
 */
#ifndef HL_FAULT_H
#define HL_FAULT_H

#include "hl_config.h"

/* hl_config.h #undefs HL_FAULT_INJECTION in a normal build; the test-only copy of the
 * library (tests/meson.build) asks for the switches with HL_FAULT_INJECTION_FORCE */
#if defined(HL_FAULT_INJECTION_FORCE) && !defined(HL_FAULT_INJECTION)
#define HL_FAULT_INJECTION 1
#endif

#ifdef HL_FAULT_INJECTION

#include <stdbool.h>

enum hl_fault {
	HL_FAULT_SKIP_LOCK = 0,
	HL_FAULT_LOCK_ORDER,
	HL_FAULT_APPEND_LATE,
	HL_FAULT_DROP_RECORD,
	HL_FAULT_WRONG_DELTA,
	HL_FAULT_HALT_RELEASE,
	HL_FAULT_REORDER,
	HL_FAULT__COUNT
};

/* arm fault f on every every_n-th eligible event from now on (0 = off); resets its count */
void hl_fault_set(enum hl_fault f, unsigned every_n);
/* engine-internal: count one eligible event; true if the fault fires on it */
bool hl_fault_hit(enum hl_fault f);

#endif /* HL_FAULT_INJECTION */
#endif /* HL_FAULT_H */

/* helpers.h - shared fixtures for the Criterion suites. */
#ifndef HL_TEST_HELPERS_H
#define HL_TEST_HELPERS_H

#include <stdint.h>

#include "hl_engine.h"
#include "hl_replay.h"
#include "hl_trans.h"

/* a new engine with `ncpus` CPUs, ticket locks, hosted RAM, lock-order checking on */
struct hl_engine *th_engine(unsigned ncpus);
/* first RAM pfn + i */
uint64_t th_pfn(unsigned i);
/* delta replay and CalStateH both equal the live state; returns 0 or prints why not */
int th_replay_matches(struct hl_engine *e);
/* number of records in obj's log (since its checkpoint) */
uint64_t th_nrecs(struct hl_engine *e, unsigned obj);
/* the last record appended to obj's log, copied to buf (NULL if none) */
const struct hl_rec *th_last_rec(struct hl_engine *e, unsigned obj, uint8_t *buf, size_t len);
/* register a VM with a fixed key; returns its vmid */
uint32_t th_new_vm(struct hl_engine *e, int cpu);

#endif

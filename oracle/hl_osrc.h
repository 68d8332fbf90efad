/*
 * hl_osrc.h - engine -> parsed log: how a live engine reaches the independent checks.
 *
 * The checks (hl_check.h) and the model read logs only as the oracle's own parser gives
 * them (hl_olog.h). A live engine is serialized with the engine's own file writer into a
 * private temporary file and parsed back by hl_olog, so every engine is checked through
 * the same bytes a file check sees. This adapter is the one oracle file that includes
 * engine headers; it passes no engine state to the checks except, optionally, the live
 * object images and page memory (as plain bytes, struct hl_images).
 *
 * It also holds the cross-check the independence needs from the other side: the engine's
 * CalStateH (hl_calstateh, its transitions re-executed in its own linearization) must give
 * the same final state as the oracle's model replaying the oracle's linearization.
 */
#ifndef HL_OSRC_H
#define HL_OSRC_H

#include <stdbool.h>
#include <stddef.h>

#include "hl_check.h"
#include "hl_engine.h"
#include "hl_olog.h"

enum hl_osrc_flags {
	HL_OSRC_LIVE = 1u << 0,   /* compare with e's live object bytes (names the entry), not digests */
	HL_OSRC_RAM = 1u << 1,    /* e's page memory was written by its transitions only (engine-level
				   * runs): compare every RAM page with flatmem */
	HL_OSRC_CUT_CONSISTENT = 1u << 2,   /* every checkpoint of e was taken at one quiescent point
					     * (hl_live's windows): invariants from the first step */
	HL_OSRC_QUIESCED = 1u << 3,   /* no CPU of e is inside a trap (every VCPU_RUN returned or its
				       * CPU halted): no ACTIVE vCPU beyond one per halted CPU */
};

/* serialize e (quiesce its CPUs first) and parse it; 0, or -1 with *err. The olog points
 * into e's state when HL_OSRC_LIVE/RAM are given: free it before e. */
int hl_osrc_engine(struct hl_engine *e, unsigned flags, struct hl_olog *lg, struct hl_olog_err *err);

/* hl_check_all on a live engine (HL_OSRC_LIVE), then the CalStateH cross-check below (a
 * disagreement is relate_log, "cross-check: ..."); a serialization failure is HL_REL_ERROR */
int hl_check_engine(struct hl_engine *e, unsigned flags, struct hl_verdict *v, struct hl_check_stats *st);

/* the engine's CalStateH over e's logs against `final` (hl_check_all_final's model):
 * 0 equal, 1 different (msg says where), -1 could not run (msg says why) */
int hl_osrc_crosscheck(struct hl_engine *e, const struct hl_model *final, char *msg, size_t len);
/* the comparison half of it, for a CalStateH state computed elsewhere (another thread) */
int hl_osrc_compare(const struct hl_state *calh, const struct hl_model *final, char *msg, size_t len);

#endif

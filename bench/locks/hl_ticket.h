/* hl_ticket.h - adapter: hyplog's hl_lock, kind HL_LOCK_TICKET (owner tracking, stranding check,
 * bounded spin then sched_yield). */
#ifndef HB_BL_HL_TICKET_H
#define HB_BL_HL_TICKET_H
#include <stdlib.h>
#include "bl.h"
static inline void bl_hl_ticket_init(union bl_lock *l) { hl_lock_init(&l->hl, 1, HL_LOCK_TICKET); }
static inline void bl_hl_ticket_destroy(union bl_lock *l) { hl_lock_destroy(&l->hl); }
static inline void bl_hl_ticket_lock(union bl_lock *l, struct bl_ctx *c)
{
	if (!hl_lock_lock(&l->hl, c->cpu, &c->node))
		abort();   /* never stranded here */
}
static inline void bl_hl_ticket_unlock(union bl_lock *l, struct bl_ctx *c) { hl_lock_unlock(&l->hl, c->cpu, &c->node); }
#endif

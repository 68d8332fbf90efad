/* ck_ticket.h - adapter: bare ck ticket lock (ck's own spinning waiter, no yield). */
#ifndef HB_BL_CK_TICKET_H
#define HB_BL_CK_TICKET_H
#include "bl.h"
static inline void bl_ck_ticket_init(union bl_lock *l) { ck_spinlock_ticket_init(&l->ticket); }
static inline void bl_ck_ticket_destroy(union bl_lock *l) { (void)l; }
static inline void bl_ck_ticket_lock(union bl_lock *l, struct bl_ctx *c) { (void)c; ck_spinlock_ticket_lock(&l->ticket); }
static inline void bl_ck_ticket_unlock(union bl_lock *l, struct bl_ctx *c) { (void)c; ck_spinlock_ticket_unlock(&l->ticket); }
#endif

/* ck_mcs.h - adapter: bare ck MCS lock (one queue node per thread). */
#ifndef HB_BL_CK_MCS_H
#define HB_BL_CK_MCS_H
#include "bl.h"
static inline void bl_ck_mcs_init(union bl_lock *l) { ck_spinlock_mcs_init(&l->mcs); }
static inline void bl_ck_mcs_destroy(union bl_lock *l) { (void)l; }
static inline void bl_ck_mcs_lock(union bl_lock *l, struct bl_ctx *c) { ck_spinlock_mcs_lock(&l->mcs, &c->node); }
static inline void bl_ck_mcs_unlock(union bl_lock *l, struct bl_ctx *c) { ck_spinlock_mcs_unlock(&l->mcs, &c->node); }
#endif

/* pthread_mutex.h - adapter: bare pthread_mutex (default attributes). */
#ifndef HB_BL_PTHREAD_MUTEX_H
#define HB_BL_PTHREAD_MUTEX_H
#include "bl.h"
static inline void bl_pthread_mutex_init(union bl_lock *l) { pthread_mutex_init(&l->mutex, NULL); }
static inline void bl_pthread_mutex_destroy(union bl_lock *l) { pthread_mutex_destroy(&l->mutex); }
static inline void bl_pthread_mutex_lock(union bl_lock *l, struct bl_ctx *c) { (void)c; pthread_mutex_lock(&l->mutex); }
static inline void bl_pthread_mutex_unlock(union bl_lock *l, struct bl_ctx *c) { (void)c; pthread_mutex_unlock(&l->mutex); }
#endif

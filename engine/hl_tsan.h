/*
 * hl_tsan.h - happens-before edges ThreadSanitizer cannot see by itself.
 *
 * ck's atomics are inline assembly and liburcu's publication and grace periods are not
 * instrumented, so in a -fsanitize=thread build every lock, every published record and
 * every RCU reclamation is annotated as the release/acquire pair it really is. In other
 * builds these are no-ops.
 */
#ifndef HL_TSAN_H
#define HL_TSAN_H

#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define HL_TSAN_ACQUIRE(a) __tsan_acquire((void *)(a))
#define HL_TSAN_RELEASE(a) __tsan_release((void *)(a))
#else
#define HL_TSAN_ACQUIRE(a) ((void)(a))
#define HL_TSAN_RELEASE(a) ((void)(a))
#endif

#endif

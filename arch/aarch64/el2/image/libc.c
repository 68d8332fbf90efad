/*
 * libc.c - what the EL2 image cannot take from picolibc (meson.build links Debian's picolibc
 * for the string functions, the formatter and the printf family; stdio.c puts its stdout and
 * stderr on the UART). What stays here, and why:
 *
 *   errno      per CPU behind __errno_location: the engine, the trap layer and libsodium are
 *              compiled against glibc's headers, which reach errno through that call.
 *              picolibc's errno is a thread-local addressed through TPIDR_EL0, which at EL2
 *              holds the host's value (a host-chosen address); image.ld refuses any TLS.
 *   allocator  picolibc's malloc reports failure by writing that thread-local errno (so a
 *              host that drives the heap to exhaustion would choose where EL2 writes), and
 *              needs retargeted locks; ours takes the EL2 spinlock and never touches errno.
 *              Its heap is the fixed region [EL2_HEAP_BASE, EL2_RAM_END) (layout.h).
 *   abort, __assert_fail   stop the machine with a message on the UART (el2_fatal):
 *              there is no process to kill, and glibc's assert calls __assert_fail.
 *   threads    the few pthread calls of the hosted code: a "thread" is a CPU, one EL2
 *              context per physical CPU, never descheduled; usleep spins on the generic
 *              timer (there is nothing else to run, and picolibc has no usleep).
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"

int *__errno_location(void)
{
	static int err[EL2_MAX_CPUS];
	return &err[el2_cpu()];
}

void abort(void)
{
	el2_fatal("abort() on cpu %u (called from %p)", el2_cpu(), __builtin_return_address(0));
}

void __assert_fail(const char *expr, const char *file, unsigned line, const char *fn)
{
	el2_fatal("assertion %s failed at %s:%u (%s)", expr, file, line, fn);
}

/* ---- allocator ------------------------------------------------------------------------------
 * Size classes 16 << c (c < NCLASS) with one free list each; bigger blocks are page
 * multiples on a first-fit list. Every block has a 16-byte header just below it. New blocks
 * come from a bump pointer over [EL2_HEAP_BASE, EL2_RAM_END). One spinlock: the engine
 * allocates at start-up (state, pools, log segments) and rarely afterwards. */
#define NCLASS 17   /* 16 B .. 1 MiB */
#define HDR_MAGIC 0x48594C4F47414C43ull

struct hdr {
	uint64_t size;    /* usable bytes */
	uint64_t magic;
};

struct fblk {
	struct fblk *next;
};

static struct {
	uint32_t lock;
	uintptr_t bump, end;
	struct fblk *cls[NCLASS];
	struct fblk *large;
	size_t in_use, peak;
} heap;

void el2_spin_lock(uint32_t *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(l, __ATOMIC_RELAXED))
			__asm__ volatile("yield");
}

void el2_spin_unlock(uint32_t *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

void el2_heap_init(uintptr_t base, uintptr_t end)
{
	heap.bump = base;
	heap.end = end;
}

size_t el2_heap_used(void)
{
	return heap.bump - EL2_HEAP_BASE;
}

static int class_of(size_t n)
{
	for (int c = 0; c < NCLASS; c++)
		if (n <= (16ull << c))
			return c;
	return -1;
}

static void *bump(size_t align, size_t usable)
{
	uintptr_t p = (heap.bump + sizeof(struct hdr) + align - 1) & ~(uintptr_t)(align - 1);
	struct hdr *h;

	if (p + usable > heap.end || p + usable < p)
		return NULL;
	h = (struct hdr *)(p - sizeof(struct hdr));
	h->size = usable;
	h->magic = HDR_MAGIC;
	heap.bump = p + usable;
	return (void *)p;
}

static void *alloc_locked(size_t align, size_t n)
{
	int c;
	void *p;

	if (align < 16)
		align = 16;
	if (n == 0)
		n = 1;
	c = class_of(n);
	if (c >= 0) {
		struct fblk **pp = &heap.cls[c];
		for (; *pp; pp = &(*pp)->next)
			if (((uintptr_t)*pp & (align - 1)) == 0) {
				p = *pp;
				*pp = (*pp)->next;
				return p;
			}
		return bump(align, 16ull << c);
	}
	n = (n + 4095) & ~(size_t)4095;
	for (struct fblk **pp = &heap.large; *pp; pp = &(*pp)->next) {
		struct hdr *h = (struct hdr *)*pp - 1;
		if (h->size >= n && ((uintptr_t)*pp & (align - 1)) == 0) {
			p = *pp;
			*pp = (*pp)->next;
			return p;
		}
	}
	return bump(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	void *p;

	if (align & (align - 1))
		return NULL;
	el2_spin_lock(&heap.lock);
	p = alloc_locked(align, n);
	if (p) {
		heap.in_use += ((struct hdr *)p - 1)->size;
		if (heap.in_use > heap.peak)
			heap.peak = heap.in_use;
	}
	el2_spin_unlock(&heap.lock);
	return p;
}

void *malloc(size_t n)
{
	return aligned_alloc(16, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	*out = aligned_alloc(align < sizeof(void *) ? sizeof(void *) : align, n);
	return *out ? 0 : ENOMEM;
}

void free(void *p)
{
	struct hdr *h;
	int c;

	if (!p)
		return;
	h = (struct hdr *)p - 1;
	if (h->magic != HDR_MAGIC)
		el2_fatal("free(%p): not a heap block", p);
	el2_spin_lock(&heap.lock);
	heap.in_use -= h->size;
	c = class_of(h->size);
	if (c >= 0 && (16ull << c) == h->size) {
		((struct fblk *)p)->next = heap.cls[c];
		heap.cls[c] = p;
	} else {
		((struct fblk *)p)->next = heap.large;
		heap.large = p;
	}
	el2_spin_unlock(&heap.lock);
}

void *calloc(size_t n, size_t sz)
{
	void *p;

	if (sz && n > SIZE_MAX / sz)
		return NULL;
	p = malloc(n * sz);
	if (p)
		memset(p, 0, n * sz);
	return p;
}

void *realloc(void *p, size_t n)
{
	void *q;
	size_t old;

	if (!p)
		return malloc(n);
	old = ((struct hdr *)p - 1)->size;
	if (n <= old)
		return p;
	q = malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, old);
	free(p);
	return q;
}

/* ---- threads: one per CPU -------------------------------------------------------------------- */
int sched_yield(void)
{
	__asm__ volatile("yield");
	return 0;
}

int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
	(void)a;
	memset(m, 0, sizeof(*m));
	return 0;
}

int pthread_mutex_destroy(pthread_mutex_t *m)
{
	(void)m;
	return 0;
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
	uint32_t *l = (uint32_t *)m;
	return __atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE) ? EBUSY : 0;
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
	el2_spin_lock((uint32_t *)m);
	return 0;
}

int pthread_mutex_unlock(pthread_mutex_t *m)
{
	el2_spin_unlock((uint32_t *)m);
	return 0;
}

int pthread_once(pthread_once_t *o, void (*fn)(void))
{
	int *s = (int *)o, zero = 0;

	if (__atomic_load_n(s, __ATOMIC_ACQUIRE) == 2)
		return 0;
	if (__atomic_compare_exchange_n(s, &zero, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		fn();
		__atomic_store_n(s, 2, __ATOMIC_RELEASE);
		return 0;
	}
	while (__atomic_load_n(s, __ATOMIC_ACQUIRE) != 2)
		__asm__ volatile("yield");
	return 0;
}

#define NKEYS 16
static unsigned nkeys;
static const void *specific[EL2_MAX_CPUS][NKEYS];

int pthread_key_create(pthread_key_t *k, void (*dtor)(void *))
{
	unsigned n = __atomic_fetch_add(&nkeys, 1, __ATOMIC_RELAXED);

	(void)dtor;   /* CPUs never exit */
	if (n >= NKEYS)
		return EAGAIN;
	*k = n;
	return 0;
}

int pthread_setspecific(pthread_key_t k, const void *v)
{
	if (k >= NKEYS)
		return EINVAL;
	specific[el2_cpu()][k] = v;
	return 0;
}

void *pthread_getspecific(pthread_key_t k)
{
	return k < NKEYS ? (void *)specific[el2_cpu()][k] : NULL;
}

/* the engine's quiescence gate waits with usleep: spin on the physical counter */
int usleep(useconds_t us)
{
	uint64_t frq, t0, now;

	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(frq));
	__asm__ volatile("isb; mrs %0, cntpct_el0" : "=r"(t0) : : "memory");
	do {
		__asm__ volatile("yield");
		__asm__ volatile("isb; mrs %0, cntpct_el0" : "=r"(now) : : "memory");
	} while ((now - t0) * 1000000u < (uint64_t)us * frq);
	return 0;
}

/*
 * libc.c - the freestanding C library subset the engine, the trap layer and libsodium use
 * at EL2: string functions, a formatter, console stdio, a locked free-list allocator over
 * the EL2 heap, and the few POSIX thread calls of the hosted code (a "thread" is a CPU:
 * one EL2 context per physical CPU, nothing is ever descheduled).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

/* ---- string.h (the compiler's builtins call these for non-constant sizes) -------------- */
void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;

	if ((((uintptr_t)dp | (uintptr_t)sp) & 7) == 0) {
		for (; n >= 8; n -= 8, dp += 8, sp += 8)
			*(uint64_t *)dp = *(const uint64_t *)sp;
	}
	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;

	if (dp == sp || n == 0)
		return d;
	if (dp < sp || dp >= sp + n)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

void *memset(void *d, int c, size_t n)
{
	uint8_t *dp = d;
	uint64_t v = (uint8_t)c * 0x0101010101010101ull;

	while (n && ((uintptr_t)dp & 7)) {
		*dp++ = (uint8_t)c;
		n--;
	}
	for (; n >= 8; n -= 8, dp += 8)
		*(uint64_t *)dp = v;
	while (n--)
		*dp++ = (uint8_t)c;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b || !*a)
			return (unsigned char)*a - (unsigned char)*b;
	}
	return 0;
}

char *strerror(int e)
{
	(void)e;
	return "error";
}

int *__errno_location(void)
{
	static int err[EL2_MAX_CPUS];
	return &err[el2_cpu()];
}

/* ---- formatter ------------------------------------------------------------------------- */
struct out {
	char *buf;
	size_t cap, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len] = c;
	o->len++;
}

static void put_num(struct out *o, uint64_t v, unsigned base, bool upper, bool neg, int width, bool zero,
		    bool left)
{
	char tmp[24];
	int n = 0, pad;
	const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	do {
		tmp[n++] = dig[v % base];
		v /= base;
	} while (v);
	pad = width - n - (neg ? 1 : 0);
	if (!left && !zero)
		while (pad-- > 0)
			put(o, ' ');
	if (neg)
		put(o, '-');
	if (!left && zero)
		while (pad-- > 0)
			put(o, '0');
	while (n)
		put(o, tmp[--n]);
	if (left)
		while (pad-- > 0)
			put(o, ' ');
}

int vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
	struct out o = { buf, cap, 0 };

	for (; *fmt; fmt++) {
		bool left = false, zero = false, upper = false;
		int width = 0, prec = -1, lng = 0;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				zero = true;
			else if (*fmt == ' ' || *fmt == '+' || *fmt == '#')
				;
			else
				break;
		}
		if (*fmt == '*') {
			width = va_arg(ap, int);
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		if (*fmt == '.') {
			fmt++;
			prec = 0;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			}
			while (*fmt >= '0' && *fmt <= '9')
				prec = prec * 10 + (*fmt++ - '0');
		}
		for (;; fmt++) {
			if (*fmt == 'l' || *fmt == 'z' || *fmt == 'j' || *fmt == 't')
				lng = 2;
			else if (*fmt == 'h')
				;
			else
				break;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			put_num(&o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, false, v < 0, width, zero, left);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'o': {
			uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			upper = *fmt == 'X';
			put_num(&o, v, *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16, upper, false, width, zero, left);
			break;
		}
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_num(&o, (uintptr_t)va_arg(ap, void *), 16, false, false, 0, false, false);
			break;
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int n;
			if (!s)
				s = "(null)";
			n = (int)strlen(s);
			if (prec >= 0 && n > prec)
				n = prec;
			if (!left)
				for (int i = n; i < width; i++)
					put(&o, ' ');
			for (int i = 0; i < n; i++)
				put(&o, s[i]);
			if (left)
				for (int i = n; i < width; i++)
					put(&o, ' ');
			break;
		}
		case '%':
			put(&o, '%');
			break;
		default:
			put(&o, '?');
			break;
		}
	}
	if (cap)
		buf[o.len < cap ? o.len : cap - 1] = 0;
	return (int)o.len;
}

int snprintf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}

/* ---- stdio: everything goes to the console ------------------------------------------------ */
FILE *stderr = (FILE *)2;
FILE *stdout = (FILE *)1;

int vfprintf(FILE *f, const char *fmt, va_list ap)
{
	char line[512];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	(void)f;
	el2_console_write(line);
	return n;
}

int fprintf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vfprintf(f, fmt, ap);
	va_end(ap);
	return n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vfprintf(stdout, fmt, ap);
	va_end(ap);
	return n;
}

int fputs(const char *s, FILE *f)
{
	(void)f;
	el2_console_write(s);
	return 0;
}

int puts(const char *s)
{
	el2_console_write(s);
	el2_console_write("\n");
	return 0;
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

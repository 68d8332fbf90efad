/*
 * fs_rt.c - a cache-line sharing detector behind GCC's ThreadSanitizer instrumentation
 * (issue 11's audit of what the trap path writes that other CPUs also touch).
 *
 * Code compiled with -fsanitize=thread calls __tsan_read8(addr), __tsan_write4(addr), the
 * __tsan_atomic* functions, ... before every memory access. Linked against this library
 * instead of libtsan, those calls feed a table of 64-byte lines that models coherence:
 *
 *   write by thread T: a "transfer" if the line's last writer was another thread or another
 *                      thread read it since (the write needs the line exclusive: an RFO);
 *   read by thread T:  a "miss" if another thread wrote the line since T last touched it.
 *
 * At exit the lines with the most transfers + misses are printed with the threads that
 * touched them and the code addresses (module + offset, for addr2line) of the accesses that
 * caused the transfers, to FSDETECT_OUT (default stderr). FSDETECT_MIN_TID=1 ignores the
 * main thread (setup, progress polling). run.sh builds with -DCK_USE_CC_BUILTINS=1, so ck's
 * atomics are compiler builtins the instrumentation sees (lock words included); accesses
 * inside libc (memcpy, memset: log payloads, delta copies) are not seen.
 *
 * bench/fsdetect/run.sh builds hyplog with this and runs a stress.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NLINES (1u << 22)   /* table slots (open addressing) */
#define NSTRIPES 4096u
#define NPC 6

struct pcslot {
	uintptr_t pc;
	uint64_t n;
	uint32_t tids;      /* bit per thread */
	uint32_t write;     /* 1: write transfers; 0: read misses */
};

struct line {
	uintptr_t key;      /* line address | 1; 0: empty */
	uint32_t wmask, rmask;
	uint32_t owner;     /* last writer tid + 1 */
	uint32_t rseen;     /* threads that saw the line since its last write */
	uint64_t writes, reads, wtrans, rmiss;
	struct pcslot pc[NPC];
};

static struct line *tab;
static char stripe[NSTRIPES];
static int next_tid;
static __thread int my_tid = -1;
static int min_tid;
static int ready;

static int tid(void)
{
	if (my_tid < 0)
		my_tid = __atomic_fetch_add(&next_tid, 1, __ATOMIC_RELAXED);
	return my_tid;
}

static void slock(unsigned s)
{
	while (__atomic_exchange_n(&stripe[s], 1, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
}

static void sunlock(unsigned s)
{
	__atomic_store_n(&stripe[s], 0, __ATOMIC_RELEASE);
}

static void note_pc(struct line *l, uintptr_t pc, int t, int write)
{
	for (unsigned i = 0; i < NPC; i++) {
		if (l->pc[i].pc == pc && (int)l->pc[i].write == write) {
			l->pc[i].n++;
			l->pc[i].tids |= 1u << (t & 31);
			return;
		}
		if (!l->pc[i].pc) {
			l->pc[i] = (struct pcslot){ pc, 1, 1u << (t & 31), (uint32_t)write };
			return;
		}
	}
	/* full: replace the smallest count (keeps the frequent ones) */
	unsigned m = 0;
	for (unsigned i = 1; i < NPC; i++)
		if (l->pc[i].n < l->pc[m].n)
			m = i;
	l->pc[m] = (struct pcslot){ pc, 1, 1u << (t & 31), (uint32_t)write };
}

static void access_(const void *a, unsigned size, int write, uintptr_t pc)
{
	uintptr_t first = (uintptr_t)a >> 6, last = ((uintptr_t)a + (size ? size - 1 : 0)) >> 6;
	int t;

	if (!ready)
		return;
	t = tid();
	if (t < min_tid)
		return;
	for (uintptr_t ln = first; ln <= last; ln++) {
		uintptr_t key = (ln << 1) | 1;
		uint64_t h = (uint64_t)ln * 0x9E3779B97F4A7C15ull;
		unsigned idx = (unsigned)(h >> 40) & (NLINES - 1), s = (unsigned)(ln & (NSTRIPES - 1));
		struct line *l = NULL;
		slock(s);
		for (unsigned probe = 0; probe < 64; probe++) {
			struct line *c = &tab[(idx + probe) & (NLINES - 1)];
			uintptr_t k = __atomic_load_n(&c->key, __ATOMIC_ACQUIRE);
			if (k == key) {
				l = c;
				break;
			}
			if (k == 0) {
				uintptr_t z = 0;
				if (__atomic_compare_exchange_n(&c->key, &z, key, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
				    z == key) {
					l = c;
					break;
				}
			}
		}
		if (l) {
			uint32_t bit = 1u << (t & 31);
			if (write) {
				l->writes++;
				l->wmask |= bit;
				if ((l->owner && l->owner != (uint32_t)t + 1) || (l->rseen & ~bit)) {
					l->wtrans++;
					note_pc(l, pc, t, 1);
				}
				l->owner = (uint32_t)t + 1;
				l->rseen = bit;
			} else {
				l->reads++;
				l->rmask |= bit;
				if (l->owner && l->owner != (uint32_t)t + 1 && !(l->rseen & bit)) {
					l->rmiss++;
					note_pc(l, pc, t, 0);
				}
				l->rseen |= bit;
			}
		}
		sunlock(s);
	}
}

static int cmp_line(const void *a, const void *b)
{
	const struct line *x = *(const struct line *const *)a, *y = *(const struct line *const *)b;
	uint64_t cx = x->wtrans + x->rmiss, cy = y->wtrans + y->rmiss;
	return cx < cy ? 1 : cx > cy ? -1 : 0;
}

static void where(FILE *f, uintptr_t pc)
{
	Dl_info di;
	if (dladdr((void *)pc, &di) && di.dli_fname)
		fprintf(f, "%s+0x%lx", di.dli_fname, (unsigned long)(pc - 1 - (uintptr_t)di.dli_fbase));
	else
		fprintf(f, "?+0x%lx", (unsigned long)pc);
}

static void report(void)
{
	const char *path = getenv("FSDETECT_OUT");
	const char *topn = getenv("FSDETECT_TOP");
	unsigned top = topn ? (unsigned)atoi(topn) : 40, n = 0;
	FILE *f = path ? fopen(path, "w") : stderr;
	struct line **v;

	ready = 0;
	if (!f)
		f = stderr;
	for (unsigned i = 0; i < NLINES; i++)
		if (tab[i].key && tab[i].wtrans + tab[i].rmiss)
			n++;
	v = malloc(sizeof(*v) * (n ? n : 1));
	n = 0;
	for (unsigned i = 0; i < NLINES; i++)
		if (tab[i].key && tab[i].wtrans + tab[i].rmiss)
			v[n++] = &tab[i];
	qsort(v, n, sizeof(*v), cmp_line);
	fprintf(f, "FSDETECT lines_shared=%u threads=%d (min_tid %d)\n", n, next_tid, min_tid);
	for (unsigned i = 0; i < n && i < top; i++) {
		struct line *l = v[i];
		uintptr_t addr = (l->key >> 1) << 6;
		Dl_info di;
		fprintf(f, "LINE 0x%lx transfers=%llu misses=%llu writes=%llu reads=%llu wmask=%#x rmask=%#x",
			(unsigned long)addr, (unsigned long long)l->wtrans, (unsigned long long)l->rmiss,
			(unsigned long long)l->writes, (unsigned long long)l->reads, l->wmask, l->rmask);
		if (dladdr((void *)addr, &di) && di.dli_sname)
			fprintf(f, " sym=%s+%ld", di.dli_sname, (long)(addr - (uintptr_t)di.dli_saddr));
		fputc('\n', f);
		for (unsigned k = 0; k < NPC; k++) {
			if (!l->pc[k].pc)
				continue;
			fprintf(f, "  %s n=%llu tids=%#x at ", l->pc[k].write ? "W" : "R", (unsigned long long)l->pc[k].n,
				l->pc[k].tids);
			where(f, l->pc[k].pc);
			fputc('\n', f);
		}
	}
	if (f != stderr)
		fclose(f);
}

__attribute__((constructor)) static void fs_init(void)
{
	if (tab)
		return;
	tab = calloc(NLINES, sizeof(*tab));
	if (!tab)
		abort();
	min_tid = getenv("FSDETECT_MIN_TID") ? atoi(getenv("FSDETECT_MIN_TID")) : 0;
	atexit(report);
	ready = 1;
}

void __tsan_init(void) { fs_init(); }
void __tsan_func_entry(void *pc) { (void)pc; }
void __tsan_func_exit(void) {}
void __tsan_acquire(void *a) { (void)a; }
void __tsan_release(void *a) { (void)a; }
void __tsan_vptr_update(void **p, void *v) { (void)p; (void)v; }
void __tsan_vptr_read(void **p) { (void)p; }

#define RA ((uintptr_t)__builtin_return_address(0))
#define RW(n)                                                                                      \
	void __tsan_read##n(void *a) { access_(a, n, 0, RA); }                                     \
	void __tsan_write##n(void *a) { access_(a, n, 1, RA); }                                    \
	void __tsan_unaligned_read##n(void *a) { access_(a, n, 0, RA); }                           \
	void __tsan_unaligned_write##n(void *a) { access_(a, n, 1, RA); }                          \
	void __tsan_volatile_read##n(void *a) { access_(a, n, 0, RA); }                            \
	void __tsan_volatile_write##n(void *a) { access_(a, n, 1, RA); }                           \
	void __tsan_unaligned_volatile_read##n(void *a) { access_(a, n, 0, RA); }                  \
	void __tsan_unaligned_volatile_write##n(void *a) { access_(a, n, 1, RA); }
RW(1)
RW(2)
RW(4)
RW(8)
RW(16)
void __tsan_read_range(void *a, unsigned long n) { access_(a, (unsigned)n, 0, RA); }
void __tsan_write_range(void *a, unsigned long n) { access_(a, (unsigned)n, 1, RA); }

/* atomics: do them, and count them as the access they are (a load reads, the rest write) */
#define ATOM(bits, T)                                                                              \
	T __tsan_atomic##bits##_load(const volatile T *a, int mo)                                  \
	{                                                                                          \
		(void)mo;                                                                          \
		access_((const void *)a, sizeof(T), 0, RA);                                        \
		return __atomic_load_n(a, __ATOMIC_SEQ_CST);                                       \
	}                                                                                          \
	void __tsan_atomic##bits##_store(volatile T *a, T v, int mo)                               \
	{                                                                                          \
		(void)mo;                                                                          \
		access_((const void *)a, sizeof(T), 1, RA);                                        \
		__atomic_store_n(a, v, __ATOMIC_SEQ_CST);                                          \
	}                                                                                          \
	T __tsan_atomic##bits##_exchange(volatile T *a, T v, int mo)                               \
	{                                                                                          \
		(void)mo;                                                                          \
		access_((const void *)a, sizeof(T), 1, RA);                                        \
		return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST);                                \
	}                                                                                          \
	T __tsan_atomic##bits##_fetch_add(volatile T *a, T v, int mo)                              \
	{                                                                                          \
		(void)mo;                                                                          \
		access_((const void *)a, sizeof(T), 1, RA);                                        \
		return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST);                                 \
	}                                                                                          \
	T __tsan_atomic##bits##_fetch_sub(volatile T *a, T v, int mo)                              \
	{                                                                                          \
		(void)mo;                                                                          \
		access_((const void *)a, sizeof(T), 1, RA);                                        \
		return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST);                                 \
	}                                                                                          \
	T __tsan_atomic##bits##_fetch_and(volatile T *a, T v, int mo)                              \
	{                                                                                          \
		(void)mo;                                                                          \
		access_((const void *)a, sizeof(T), 1, RA);                                        \
		return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST);                                 \
	}                                                                                          \
	T __tsan_atomic##bits##_fetch_or(volatile T *a, T v, int mo)                               \
	{                                                                                          \
		(void)mo;                                                                          \
		access_((const void *)a, sizeof(T), 1, RA);                                        \
		return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST);                                  \
	}                                                                                          \
	T __tsan_atomic##bits##_fetch_xor(volatile T *a, T v, int mo)                              \
	{                                                                                          \
		(void)mo;                                                                          \
		access_((const void *)a, sizeof(T), 1, RA);                                        \
		return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST);                                 \
	}                                                                                          \
	T __tsan_atomic##bits##_fetch_nand(volatile T *a, T v, int mo)                             \
	{                                                                                          \
		(void)mo;                                                                          \
		access_((const void *)a, sizeof(T), 1, RA);                                        \
		return __atomic_fetch_nand(a, v, __ATOMIC_SEQ_CST);                                \
	}                                                                                          \
	int __tsan_atomic##bits##_compare_exchange_strong(volatile T *a, T *c, T v, int mo, int fmo) \
	{                                                                                          \
		(void)mo;                                                                          \
		(void)fmo;                                                                         \
		access_((const void *)a, sizeof(T), 1, RA);                                        \
		return __atomic_compare_exchange_n(a, c, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
	}                                                                                          \
	int __tsan_atomic##bits##_compare_exchange_weak(volatile T *a, T *c, T v, int mo, int fmo) \
	{                                                                                          \
		(void)mo;                                                                          \
		(void)fmo;                                                                         \
		access_((const void *)a, sizeof(T), 1, RA);                                        \
		return __atomic_compare_exchange_n(a, c, v, 1, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
	}                                                                                          \
	T __tsan_atomic##bits##_compare_exchange_val(volatile T *a, T c, T v, int mo, int fmo)      \
	{                                                                                          \
		(void)mo;                                                                          \
		(void)fmo;                                                                         \
		access_((const void *)a, sizeof(T), 1, RA);                                        \
		__atomic_compare_exchange_n(a, &c, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);      \
		return c;                                                                          \
	}
ATOM(8, uint8_t)
ATOM(16, uint16_t)
ATOM(32, uint32_t)
ATOM(64, uint64_t)


void __tsan_atomic_thread_fence(int mo) { (void)mo; __atomic_thread_fence(__ATOMIC_SEQ_CST); }
void __tsan_atomic_signal_fence(int mo) { (void)mo; __atomic_signal_fence(__ATOMIC_SEQ_CST); }

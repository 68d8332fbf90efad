/* hl_log.c - segmented per-object logs, checkpoints and RCU reclamation. */
#include "hl_log.h"
#include "hl_fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <ck_pr.h>

#include "hl_tsan.h"

#define SEGS_PER_CHUNK 16u

#if !defined(HL_EL2_IMAGE) && defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

/*
 * Populate a new chunk. Hosted, a chunk is fresh anonymous memory: the records would fault
 * its pages in one 4 KiB page at a time (the kernel's fault path was ~25 % of the logs' cost
 * in `stress --mix share`, until every log's first checkpoint recycles segments).
 * madvise(MADV_POPULATE_WRITE) maps the whole chunk writable in one call: the same pages
 * zeroed, without a fault per page. Called outside the pool lock (pages another CPU already
 * writes are left as they are); a kernel before 5.14 refuses the advice and the pages fault
 * in as before. The EL2 image has its own allocator and no page faults.
 */
static void chunk_populate(uint8_t *c, size_t bytes)
{
#if !defined(HL_EL2_IMAGE) && defined(__linux__) && defined(MADV_POPULATE_WRITE)
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)c + pg - 1) & ~(pg - 1), hi = ((uintptr_t)c + bytes) & ~(pg - 1);

	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
#else
	(void)c;
	(void)bytes;
#endif
}

/* the RCU grace period, as ThreadSanitizer sees it: readers release at unlock, the
 * reclaimer acquires before it frees */
static char rcu_gp;

static void pool_lock(struct hl_segpool *p)
{
	ck_spinlock_fas_lock(&p->lock);
	HL_TSAN_ACQUIRE(&p->lock);
}

static void pool_unlock(struct hl_segpool *p)
{
	HL_TSAN_RELEASE(&p->lock);
	ck_spinlock_fas_unlock(&p->lock);
}

void hl_segpool_lock(struct hl_segpool *p)
{
	pool_lock(p);
}

void hl_segpool_unlock(struct hl_segpool *p)
{
	pool_unlock(p);
}

void hl_rcu_read_lock(void)
{
	urcu_memb_read_lock();
}

void hl_rcu_read_unlock(void)
{
	HL_TSAN_RELEASE(&rcu_gp);
	urcu_memb_read_unlock();
}

uint32_t hl_seg_used(const struct hl_seg *s)
{
	uint32_t used = ck_pr_load_32(&((struct hl_seg *)s)->used);
	ck_pr_fence_load();
	HL_TSAN_ACQUIRE(s);
	return used;
}

const struct hl_seg *hl_seg_next(const struct hl_seg *s)
{
	const struct hl_seg *n = rcu_dereference(((struct hl_seg *)s)->next);
	HL_TSAN_ACQUIRE(s);
	return n;
}

int hl_segpool_init(struct hl_segpool *p, size_t seg_bytes, size_t cap_bytes)
{
	memset(p, 0, sizeof(*p));
	ck_spinlock_fas_init(&p->lock);
	p->seg_bytes = seg_bytes;
	p->nsegs_cap = cap_bytes ? cap_bytes / seg_bytes : 0;
	return 0;
}

void hl_segpool_destroy(struct hl_segpool *p)
{
	for (size_t i = 0; i < p->nchunks; i++)
		free(p->chunks[i]);
	free(p->chunks);
	memset(p, 0, sizeof(*p));
}

size_t hl_segpool_bytes(const struct hl_segpool *p)
{
	return p->nsegs_alloc * p->seg_bytes;
}

/* Slow path, once per SEGS_PER_CHUNK segments: grow the pool by one chunk (*bytes long). */
static uint8_t *pool_grow_locked(struct hl_segpool *p, size_t *bytes)
{
	size_t n = SEGS_PER_CHUNK;
	uint8_t *chunk;

	if (p->nsegs_cap && p->nsegs_alloc + n > p->nsegs_cap)
		n = p->nsegs_cap - p->nsegs_alloc;
	if (n == 0)
		return NULL;
	if (p->nchunks == p->chunks_cap) {
		size_t nc = p->chunks_cap ? p->chunks_cap * 2 : 16;
		void **c = realloc(p->chunks, nc * sizeof(*c));
		if (!c)
			return NULL;
		p->chunks = c;
		p->chunks_cap = nc;
	}
	chunk = aligned_alloc(64, n * p->seg_bytes);
	if (!chunk)
		return NULL;
	p->chunks[p->nchunks++] = chunk;
	for (size_t i = 0; i < n; i++) {
		struct hl_seg *s = (struct hl_seg *)(chunk + i * p->seg_bytes);
		s->next = p->free;
		p->free = s;
	}
	p->nsegs_alloc += n;
	p->nfree += n;
	*bytes = n * p->seg_bytes;
	return chunk;
}

int hl_segpool_reserve(struct hl_segpool *p, size_t bytes)
{
	if (p->nsegs_cap && bytes > p->nsegs_cap * p->seg_bytes)
		bytes = p->nsegs_cap * p->seg_bytes;   /* a reserve never exceeds the cap */
	while (hl_segpool_bytes(p) < bytes) {
		uint8_t *grown;
		size_t grown_bytes = 0;

		pool_lock(p);
		grown = pool_grow_locked(p, &grown_bytes);
		pool_unlock(p);
		if (!grown)
			return -1;   /* out of memory, or the pool's cap: what is there stays */
		chunk_populate(grown, grown_bytes);
	}
	return 0;
}

static struct hl_seg *pool_pop(struct hl_segpool *p)
{
	struct hl_seg *s = NULL;
	uint8_t *grown = NULL;
	size_t grown_bytes = 0;

	pool_lock(p);
	if (!p->free)
		grown = pool_grow_locked(p, &grown_bytes);
	if (p->free) {
		p->pops++;
		s = p->free;
		p->free = s->next;
		p->nfree--;
	}
	pool_unlock(p);
	if (grown)
		chunk_populate(grown, grown_bytes);
	if (s) {
		s->next = NULL;
		s->used = 0;
		s->cap = (uint32_t)(p->seg_bytes - offsetof(struct hl_seg, data));
	}
	return s;
}

static void pool_push_chain(struct hl_segpool *p, struct hl_seg *s)
{
	pool_lock(p);
	while (s) {
		struct hl_seg *n = s->next;
		s->next = p->free;
		p->free = s;
		p->nfree++;
		s = n;
	}
	pool_unlock(p);
}

/* the writer's tail and its mirror of the tail's used/cap (a fresh segment: empty) */
static void set_tail(struct hl_log *l, struct hl_seg *s)
{
	l->tail = s;
	l->wused = s->used;
	l->wcap = s->cap;
}

int hl_log_init(struct hl_log *l, unsigned obj, struct hl_segpool *pool)
{
	struct hl_log_base *b;

	memset(l, 0, sizeof(*l));
	l->obj = obj;
	l->next_seq = 1;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->pool = pool;
	b->first_seq = 1;
	b->head = pool_pop(pool);
	if (!b->head) {
		free(b);
		return -ENOMEM;
	}
	set_tail(l, b->head);
	l->base = b;
	return 0;
}

static void base_free(struct hl_log_base *b)
{
	pool_push_chain(b->pool, b->head);
	free(b->snap);
	free(b);
}

static void base_free_rcu(struct rcu_head *h)
{
	HL_TSAN_ACQUIRE(&rcu_gp);
	base_free(caa_container_of(h, struct hl_log_base, rcu));
}

#ifdef HL_FAULT_INJECTION
static void fi_forget(const struct hl_log *l);
#endif

void hl_log_destroy(struct hl_log *l)
{
#ifdef HL_FAULT_INJECTION
	fi_forget(l);   /* a record REORDER held back never lands in a later log at this address */
#endif
	if (l->base)
		base_free(l->base);
	l->base = NULL;
	l->tail = NULL;
	l->wused = l->wcap = 0;
}

bool hl_log_ensure_slow(struct hl_log *l, uint32_t bytes)
{
	struct hl_seg *s;

	if (l->wcap - l->wused >= bytes)
		return true;
	s = pool_pop(l->base->pool);
	if (!s)
		return false;
	/* an empty segment linked early is harmless to readers */
	HL_TSAN_RELEASE(s);
	HL_TSAN_RELEASE(l->tail);
	rcu_assign_pointer(l->tail->next, s);
	set_tail(l, s);
	return true;
}

#ifdef HL_FAULT_INJECTION
/* ---- fault injection (hl_fault.h) ---------------------------------------------------- */
static void log_put(struct hl_log *l, const struct hl_rec *r);
static uint64_t fi_held[64][HL_REC_MAX / 8];   /* REORDER: one held-back record per log */
static bool fi_has_held[64];
static const struct hl_log *fi_held_log[64];   /* a held record only lands in its own log */

static void fi_forget(const struct hl_log *l)
{
	for (unsigned o = 0; o < 64; o++)
		if (fi_held_log[o] == l) {
			fi_has_held[o] = false;
			fi_held_log[o] = NULL;
		}
}

/* true if the fault consumed the append */
static bool fi_append(struct hl_log *l, const struct hl_rec *r)
{
	unsigned o = l->obj < 64 ? l->obj : 63;

	if (fi_has_held[o] && fi_held_log[o] != l)
		fi_has_held[o] = false;
	if (fi_has_held[o]) {
		/* REORDER, second half: this record first, then the held one, seqs exchanged */
		struct hl_rec *h = (struct hl_rec *)fi_held[o];
		fi_has_held[o] = false;
		log_put(l, r);
		if (hl_log_ensure(l, h->len)) {
			h->seq = r->seq + 1;
			log_put(l, h);
		}
		return true;
	}
	if (hl_fault_hit(HL_FAULT_DROP_RECORD))
		return true;   /* never reaches the log; the next record reuses its seq */
	if (hl_fault_hit(HL_FAULT_REORDER)) {
		memcpy(fi_held[o], r, r->len);
		fi_has_held[o] = true;
		fi_held_log[o] = l;
		return true;
	}
	if (r->ndelta) {
		const struct hl_delta *d = hl_rec_first_delta(r);
		if (!(d->flags & HL_DF_ZERO) && d->len && hl_fault_hit(HL_FAULT_WRONG_DELTA)) {
			uint64_t tmp[HL_REC_MAX / 8];
			memcpy(tmp, r, r->len);
			((uint8_t *)tmp)[(const uint8_t *)(d + 1) - (const uint8_t *)r] ^= 0x10;
			log_put(l, (const struct hl_rec *)tmp);
			return true;
		}
	}
	return false;
}
#endif

void hl_log_append(struct hl_log *l, const struct hl_rec *r)
{
#ifdef HL_FAULT_INJECTION
	if (fi_append(l, r))
		return;
	log_put(l, r);
}

static void log_put(struct hl_log *l, const struct hl_rec *r)
{
#endif
	struct hl_seg *s = l->tail;

	if ((const uint8_t *)r != s->data + l->wused)
		memcpy(s->data + l->wused, r, r->len);
	hl_log_publish(l, r->len, r->seq);
}

#ifdef HL_FAULT_INJECTION
void hl_log_commit(struct hl_log *l, struct hl_rec *r)
{
	/* the faults (hl_fault.h) drop, hold back or alter a record: they work on a copy, and
	 * log_put writes it back to the same place */
	uint64_t tmp[HL_REC_MAX / 8];
	memcpy(tmp, r, r->len);
	hl_log_append(l, (const struct hl_rec *)tmp);
}
#endif

static int install_base(struct hl_log *l, struct hl_snapshot *snap)
{
	struct hl_log_base *nb, *old = l->base;

	nb = calloc(1, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	nb->pool = old->pool;
	nb->head = pool_pop(old->pool);
	if (!nb->head) {
		free(nb);
		return -ENOMEM;
	}
	nb->snap = snap;
	nb->first_seq = l->next_seq;
	nb->gen = old->gen + 1;
	set_tail(l, nb->head);
	HL_TSAN_RELEASE(nb->head);
	HL_TSAN_RELEASE(&l->base);
	rcu_assign_pointer(l->base, nb);
	l->since_ckpt = 0;
	l->checkpoints++;
	/* readers still walking the old chain keep it until they leave; call_rcu wants a
	 * registered thread, so a CPU thread registers the first time it checkpoints */
	hl_rcu_reader_ensure();
	HL_TSAN_RELEASE(&rcu_gp);   /* what the writer did to `old` precedes its reclamation */
	urcu_memb_call_rcu(&old->rcu, base_free_rcu);
	return 0;
}

int hl_log_checkpoint(struct hl_log *l, const void *img, size_t size)
{
	struct hl_snapshot *snap = malloc(sizeof(*snap) + size);
	int rc;

	if (!snap)
		return -ENOMEM;
	snap->seq = l->next_seq - 1;
	snap->size = size;
	memcpy(snap->img, img, size);
	rc = install_base(l, snap);
	if (rc)
		free(snap);
	return rc;
}

int hl_log_set_snapshot(struct hl_log *l, uint64_t seq, const void *img, size_t size)
{
	struct hl_snapshot *snap = malloc(sizeof(*snap) + size);
	int rc;

	if (!snap)
		return -ENOMEM;
	snap->seq = seq;
	snap->size = size;
	memcpy(snap->img, img, size);
	l->next_seq = seq + 1;
	rc = install_base(l, snap);
	if (rc)
		free(snap);
	l->checkpoints--;   /* loading a file is not a checkpoint of this run */
	return rc;
}

const struct hl_snapshot *hl_log_snapshot(const struct hl_log *l)
{
	struct hl_log_base *b = rcu_dereference(((struct hl_log *)l)->base);
	return b->snap;
}

uint64_t hl_log_first_seq(const struct hl_log *l)
{
	struct hl_log_base *b = rcu_dereference(((struct hl_log *)l)->base);
	return b->first_seq;
}

const struct hl_log_base *hl_log_base_get(const struct hl_log *l)
{
	const struct hl_log_base *b = rcu_dereference(((struct hl_log *)l)->base);
	HL_TSAN_ACQUIRE(&((struct hl_log *)l)->base);
	return b;
}

int hl_log_foreach(const struct hl_log *l, hl_log_visit_fn fn, void *arg)
{
	return hl_log_base_foreach(hl_log_base_get(l), fn, arg);
}

int hl_log_base_foreach(const struct hl_log_base *b, hl_log_visit_fn fn, void *arg)
{
	return hl_log_base_walk(b, fn, arg, NULL);
}

int hl_log_base_walk(const struct hl_log_base *b, hl_log_visit_fn fn, void *arg, struct hl_log_torn *torn)
{
	uint64_t idx = 0;

	for (const struct hl_seg *s = b->head, *next; s; s = next, idx++) {
		/* `next` before `used`: once a segment has a successor it takes no more records,
		 * so `used` read afterwards is final and a concurrent reader misses nothing */
		next = hl_seg_next(s);
		uint32_t used = hl_seg_used(s);
		for (uint32_t off = 0; off < used;) {
			const struct hl_rec *r = (const struct hl_rec *)(s->data + off);
			uint32_t len = hl_seg_rec_len(s, off, used);
			int rc;
			if (!len) {
				if (torn)
					*torn = (struct hl_log_torn){ idx, off,
						used - off >= sizeof(*r) ? r->len : 0, used };
				return HL_LOG_TORN;
			}
			rc = fn(r, arg);
			if (rc)
				return rc;
			off += len;
		}
	}
	return 0;
}

static pthread_key_t reader_key;
static pthread_once_t reader_once = PTHREAD_ONCE_INIT;
static __thread bool reader_registered;

static void reader_exit(void *unused)
{
	(void)unused;
	urcu_memb_unregister_thread();
}

static void reader_key_init(void)
{
	(void)pthread_key_create(&reader_key, reader_exit);
}

void hl_rcu_reader_ensure(void)
{
	if (reader_registered)
		return;
	pthread_once(&reader_once, reader_key_init);
	urcu_memb_register_thread();
	(void)pthread_setspecific(reader_key, (void *)1);
	reader_registered = true;
}

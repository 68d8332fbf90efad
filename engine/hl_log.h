/*
 * hl_log.h - per-object append-only logs in preallocated segments (SPEC §5).
 *
 * Writers append only while holding the object's lock; readers (replay, the live
 * checker, the file writer) run beside them under liburcu (memb flavour: readers need
 * not announce quiescent states, so any thread can read without registering as a CPU).
 *
 * A log is  base -> { snapshot at seq n (or NULL: the initial state), first segment }.
 * A checkpoint publishes a new base whose chain starts with an empty segment; the old
 * chain and snapshot go back to the pool only after an RCU grace period, so a reader
 * that started on the old base finishes it consistently.
 */
#ifndef HL_LOG_H
#define HL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ck_pr.h>
#include <ck_spinlock.h>
#include <urcu/urcu-memb.h>

#include "hl_fault.h"
#include "hl_record.h"
#include "hl_tsan.h"

struct hl_seg {
	struct hl_seg *next;      /* RCU-published */
	uint32_t used;            /* committed bytes; store-release after each record */
	uint32_t cap;
	struct rcu_head rcu;
	uint8_t data[] __attribute__((aligned(8)));
};

struct hl_snapshot {
	uint64_t seq;             /* the image is the object after record `seq` */
	size_t size;
	uint8_t img[] __attribute__((aligned(8)));
};

struct hl_log_base {
	struct hl_snapshot *snap; /* NULL: start from the configured initial state */
	struct hl_seg *head;
	uint64_t first_seq;       /* seq of the first record in head */
	uint64_t gen;             /* bases of one log never share a generation */
	struct hl_segpool *pool;
	struct rcu_head rcu;
};

struct hl_segpool {
	ck_spinlock_fas_t lock;   /* protects the free list and the counters below */
	struct hl_seg *free;
	size_t seg_bytes;
	size_t nsegs_alloc;       /* segments ever created */
	size_t nsegs_cap;         /* creation cap (0 = unlimited) */
	size_t nfree;
	uint64_t pops;            /* segments handed out; pops - nsegs_alloc were reused */
	void **chunks;
	size_t nchunks, chunks_cap;
};

struct hl_log {
	/* first cache line: what the writer touches on every step (hl_step_lock reads next_seq
	 * and reserves room, the commit publishes) */
	struct hl_log_base *base; /* RCU-published */
	struct hl_seg *tail;      /* writer only */
	uint32_t wused, wcap;     /* writer only: tail->used and tail->cap, so that reserving
				   * and building need not touch the segment's header line */
	uint64_t next_seq;        /* writer only (under the object lock) */
	uint64_t since_ckpt;      /* records since the last checkpoint */
	uint64_t records_total;   /* also read (atomically) by live checkers to measure lag */
	uint64_t bytes_total;
	uint64_t checkpoints;
	unsigned obj;
} __attribute__((aligned(64)));

int hl_segpool_init(struct hl_segpool *p, size_t seg_bytes, size_t cap_bytes);
void hl_segpool_destroy(struct hl_segpool *p);
size_t hl_segpool_bytes(const struct hl_segpool *p);
/*
 * Create and populate segments until the pool holds `bytes` (before the CPUs call in, as an
 * EL2 image's pool is carved at boot): the steps then take segments the kernel has already
 * mapped and zeroed instead of faulting fresh memory in under the first records. At most the
 * pool's cap; -1 if the memory ran out (the segments made so far stay).
 */
int hl_segpool_reserve(struct hl_segpool *p, size_t bytes);
/* the pool lock (for statistics readers) */
void hl_segpool_lock(struct hl_segpool *p);
void hl_segpool_unlock(struct hl_segpool *p);

int hl_log_init(struct hl_log *l, unsigned obj, struct hl_segpool *pool);
void hl_log_destroy(struct hl_log *l);
/* Make sure the tail can take `bytes` more; false if the pool cap is reached. The check is
 * inline (every lock a step takes reserves HL_REC_MAX); a new segment is the slow path. */
bool hl_log_ensure_slow(struct hl_log *l, uint32_t bytes);
static inline bool hl_log_ensure(struct hl_log *l, uint32_t bytes)
{
	if (l->wcap - l->wused >= bytes)
		return true;
	return hl_log_ensure_slow(l, bytes);
}
/* Append a fully built record (seq already set). hl_log_ensure must have succeeded. */
void hl_log_append(struct hl_log *l, const struct hl_rec *r);
/*
 * Build in place (the writer's fast path, no second copy): hl_log_next_rec is where the
 * next record goes, right after the committed bytes of the tail, which readers never read
 * (they stop at `used`). The caller holds the object's lock, hl_log_ensure(l, len) has
 * succeeded, and it writes every byte of the record (header fields, blob padding, lock
 * entries' padding), then hl_log_commit publishes it exactly as hl_log_append would.
 */
static inline struct hl_rec *hl_log_next_rec(struct hl_log *l)
{
	return (struct hl_rec *)(l->tail->data + l->wused);
}
/* publish the record of `len` bytes (seq `seq`) that lies at the tail's committed end:
 * readers load `used` with acquire and then read the bytes. On x86 the store fence is a
 * compiler barrier and the stores are plain ones; the writer is alone (object lock). */
static inline void hl_log_publish(struct hl_log *l, uint32_t len, uint64_t seq)
{
	struct hl_seg *s = l->tail;

	if (!HL_FI(RELAXED_PUBLISH)) {   /* fault: a relaxed store where a release is needed */
		HL_TSAN_RELEASE(s);
		ck_pr_fence_store();
	}
	l->wused += len;
	ck_pr_store_32(&s->used, l->wused);
	l->next_seq = seq + 1;
	l->since_ckpt++;
	ck_pr_store_64(&l->records_total, l->records_total + 1);
	l->bytes_total += len;
}
#ifdef HL_FAULT_INJECTION
void hl_log_commit(struct hl_log *l, struct hl_rec *r);
#else
static inline void hl_log_commit(struct hl_log *l, struct hl_rec *r)
{
	hl_log_publish(l, r->len, r->seq);
}
#endif
/* Cut the log: `img` is the object after record next_seq-1. Caller holds the lock. */
int hl_log_checkpoint(struct hl_log *l, const void *img, size_t size);
/* Install an explicit base (used by the file reader) */
int hl_log_set_snapshot(struct hl_log *l, uint64_t seq, const void *img, size_t size);

/*
 * Every walk over a segment is bounded by the segment's committed bytes: the record at
 * `off` is walkable only if a whole header fits below `used` and its length is at least a
 * header, a multiple of 8, at most HL_REC_MAX and inside `used`. Otherwise the log is torn
 * (a zero length would never advance, a length past `used` reads what was never committed)
 * and the walk stops with HL_LOG_TORN. Returns the record's length, or 0 if torn.
 */
#define HL_LOG_TORN (-74)
static inline uint32_t hl_seg_rec_len(const struct hl_seg *s, uint32_t off, uint32_t used)
{
	uint32_t len;

	if (off > used || used - off < sizeof(struct hl_rec))
		return 0;
	len = ((const struct hl_rec *)(s->data + off))->len;
	if (len < sizeof(struct hl_rec) || len % 8 || len > HL_REC_MAX || len > used - off)
		return 0;
	return len;
}

/* where a walk found a log torn */
struct hl_log_torn {
	uint64_t seg;             /* segment index in the base's chain, from 0 */
	uint32_t off, len, used;  /* the record's offset and length; the segment's used bytes */
};

/* Reader side. Call between urcu_memb_read_lock/unlock. */
typedef int (*hl_log_visit_fn)(const struct hl_rec *r, void *arg);
/* One consistent view: read the base once and use it for snapshot, first seq and walk. */
const struct hl_log_base *hl_log_base_get(const struct hl_log *l);
/* the walks return fn's first nonzero value, or HL_LOG_TORN (with *torn filled if given) */
int hl_log_base_foreach(const struct hl_log_base *b, hl_log_visit_fn fn, void *arg);
int hl_log_base_walk(const struct hl_log_base *b, hl_log_visit_fn fn, void *arg, struct hl_log_torn *torn);
const struct hl_snapshot *hl_log_snapshot(const struct hl_log *l);
uint64_t hl_log_first_seq(const struct hl_log *l);
int hl_log_foreach(const struct hl_log *l, hl_log_visit_fn fn, void *arg);

/* register the calling thread as an RCU reader once; unregistered at thread exit */
void hl_rcu_reader_ensure(void);
/* read-side critical sections (urcu-memb, plus the edges ThreadSanitizer needs) */
void hl_rcu_read_lock(void);
void hl_rcu_read_unlock(void);
/* committed bytes of a segment, with acquire semantics for the records below them */
uint32_t hl_seg_used(const struct hl_seg *s);
/* the next segment of a chain (RCU reader) */
const struct hl_seg *hl_seg_next(const struct hl_seg *s);

#endif

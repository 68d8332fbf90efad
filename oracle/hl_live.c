/* hl_live.c - incremental log checking beside running CPUs (RCU reader). */
#include "hl_live.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ck_pr.h>

#include "hl_check.h"
#include "hl_osrc.h"
#include "hl_log.h"

struct obj_cursor {
	const struct hl_log_base *base;   /* where `seg`/`off` are valid */
	uint64_t gen;
	const struct hl_seg *seg;
	uint32_t off;
	uint64_t seq;                     /* last record applied */
	bool stranded;                    /* saw a STRANDED record: nothing may follow */
};

struct hl_live {
	struct hl_engine *e;
	struct hl_state *replica;
	struct obj_cursor cur[HL_OBJ_END];   /* every lock object: SPEC objects and shards */
	bool halted[256];
	/* per CPU, ordered by operation, not by the order the logs are read in: the lowest op
	 * of a halting record (valid when halted[cpu]) and the highest op of a record of a
	 * top-level (not nested) step seen so far */
	uint64_t halt_op[256], max_op[256];
	unsigned interval_us;
	uint64_t ckpt_every;              /* windows: check, then checkpoint (0: no windows) */
	uint64_t cut_total[HL_OBJ_END];   /* records_total of each log at the last window */
	pthread_t th;
	int stop;
	struct hl_live_report rep;
	double lag_sum;
	double last_pass_end;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void violation(struct hl_live *lv, unsigned obj, const struct hl_rec *r, const char *why)
{
	char ob[24];
	if (lv->rep.violation)
		return;
	lv->rep.violation = true;
	snprintf(lv->rep.what, sizeof(lv->rep.what), "%s seq %llu (%s by cpu %u, op %u:%llu): %s",
		 hl_obj_name(obj, ob, sizeof(ob)), r ? (unsigned long long)r->seq : 0ull,
		 r ? hl_event_name(r->event) : "-", r ? r->cpu : 0, r ? HL_OP_CPU(r->op) : 0,
		 r ? (unsigned long long)(r->op & 0xFFFFFFFFFFFFull) : 0ull, why);
}

/* check and apply one record */
static void one(struct hl_live *lv, unsigned o, const struct hl_rec *r)
{
	struct obj_cursor *c = &lv->cur[o];

	if (r->seq != c->seq + 1) {
		violation(lv, o, r, "sequence gap (H_CalLock)");
		return;
	}
	if (r->obj != o)
		violation(lv, o, r, "record of another object in this log");
	if (c->stranded)
		violation(lv, o, r, "record after the object was left locked by a halted CPU (relate_hlock)");
	if (r->cpu > lv->e->cfg.ncpus)
		violation(lv, o, r, "record by an unknown CPU");
	/*
	 * A halted CPU runs nothing after its halting step but the steps nested in it. The
	 * logs are read object by object, so a record of an earlier step of that CPU may be
	 * read after the halt: order by operation (a CPU's op IDs grow in program order).
	 */
	/*   violation iff a top-level record's op > the CPU's lowest halting op. A step nested
	 * in the halting one has a higher op but is nested; the outer step of a nested halt
	 * has a lower op. Checked on both sides, so the order of reading does not matter. */
	if (r->result == HL_RES_HALT && (!lv->halted[r->cpu] || r->op < lv->halt_op[r->cpu])) {
		lv->halted[r->cpu] = true;
		lv->halt_op[r->cpu] = r->op;
		if (lv->max_op[r->cpu] > r->op)
			violation(lv, o, r, "a halted CPU appended again (a record of a later operation was read first)");
	}
	if (!(r->flags & HL_RF_NESTED)) {
		if (lv->halted[r->cpu] && r->op > lv->halt_op[r->cpu])
			violation(lv, o, r, "a halted CPU appended again (an operation after its halt)");
		if (r->op > lv->max_op[r->cpu])
			lv->max_op[r->cpu] = r->op;
	}
	/* a shard's record: shard-local offsets, routed into the replica's SPEC object image */
	if (hl_state_apply(lv->replica, o, r))
		violation(lv, o, r, "delta outside the object image");
	if (r->flags & HL_RF_STRANDED)
		c->stranded = true;
	c->seq = r->seq;
	lv->rep.records++;
}

/* follow obj's log from where this checker stopped; caller holds the RCU read lock */
static void follow(struct hl_live *lv, unsigned o)
{
	struct obj_cursor *c = &lv->cur[o];
	const struct hl_log_base *b = hl_log_base_get(&lv->e->logs[o]);

	if (c->seg == NULL && b == c->base)
		c->seg = b->head;
	if (b != c->base || b->gen != c->gen) {
		/* a checkpoint published a new base since our last pass */
		if (b->first_seq > c->seq + 1) {
			if (!b->snap || b->snap->seq < c->seq) {
				violation(lv, o, NULL, "log cut without a snapshot covering it");
				return;
			}
			lv->rep.resyncs++;
			lv->rep.skipped += b->snap->seq - c->seq;
			hl_state_obj_scatter(lv->replica, o, b->snap->img);   /* a shard's: into its ranges */
			c->seq = b->snap->seq;
		}
		c->base = b;
		c->gen = b->gen;
		c->seg = b->head;
		c->off = 0;
		/* records of the new base we already applied (before the cut) are skipped below */
	}
	const struct hl_seg *s = c->seg;
	uint32_t off = c->off;
	while (s) {
		const struct hl_seg *next = hl_seg_next(s);
		/* read `used` after `next`: once the next segment is linked, s takes no more
		 * records, so this value is final and nothing in s is missed */
		uint32_t used = hl_seg_used(s);
		while (off < used) {
			const struct hl_rec *r = (const struct hl_rec *)(s->data + off);
			uint32_t len = hl_seg_rec_len(s, off, used);   /* bounded: a torn log stops */
			if (!len) {
				char m[160];
				snprintf(m, sizeof(m), "torn log: the record at byte %u has length %u (the segment holds %u bytes)",
					 off, used - off >= sizeof(*r) ? r->len : 0, used);
				violation(lv, o, NULL, m);
				c->seg = s;
				c->off = off;
				return;
			}
			if (r->seq > c->seq)
				one(lv, o, r);
			off += len;
		}
		c->seg = s;
		c->off = off;
		if (!next)
			break;
		s = next;
		off = 0;
	}
}

static uint64_t lag_now(struct hl_live *lv)
{
	uint64_t lag = 0;
	for (unsigned o = 1; o < HL_OBJ_END; o++) {
		if (!lv->e->logs[o].base)
			continue;   /* no object in this run (a shard id outside the map) */
		/* records_total counts every record since seq 1: the writer's last seq */
		uint64_t pub = ck_pr_load_64(&lv->e->logs[o].records_total);
		if (pub > lv->cur[o].seq)
			lag += pub - lv->cur[o].seq;
	}
	return lag;
}

static void pass(struct hl_live *lv)
{
	uint64_t lag = lag_now(lv);
	double t = now_ms();

	if (lag > lv->rep.max_lag_records)
		lv->rep.max_lag_records = lag;
	lv->lag_sum += (double)lag;
	hl_rcu_read_lock();
	for (unsigned o = 1; o < HL_OBJ_END; o++)
		if (lv->e->logs[o].base)   /* every log: SPEC objects and shards */
			follow(lv, o);
	hl_rcu_read_unlock();
	lv->rep.passes++;
	/* a record appended just after the previous pass started waited this long at most */
	if (lv->last_pass_end > 0 && now_ms() - lv->last_pass_end + (now_ms() - t) > lv->rep.max_lag_ms)
		lv->rep.max_lag_ms = now_ms() - lv->last_pass_end + (now_ms() - t);
	lv->last_pass_end = now_ms();
}

/* the full checks (hl_check.h) on the quiesced engine: every record since the last cut */
static void window_check(struct hl_live *lv)
{
	struct hl_check_stats cs;
	struct hl_verdict v;
	int rc;

	memset(&v, 0, sizeof(v));
	memset(&cs, 0, sizeof(cs));
	/* oracle/hl_osrc.h: serialized, parsed, checked; every cut so far was a window's, taken
	 * with the CPUs paused: the snapshots are one state, invariants from the first step */
	rc = hl_check_engine(lv->e, HL_OSRC_CUT_CONSISTENT, &v, &cs);
	lv->rep.windows++;
	lv->rep.window_ops += cs.ops;
	if (rc && !lv->rep.violation) {
		lv->rep.violation = true;
		snprintf(lv->rep.what, sizeof(lv->rep.what), "window %llu (before its checkpoint): %s: %.250s",
			 (unsigned long long)lv->rep.windows, rc < 0 ? "the checks could not run" : hl_rel_name(v.rel),
			 v.what);
	}
}

/*
 * One window: the CPUs wait between two steps (hl_engine_pause), the follower drains to
 * that consistent point, the full checks run over every record since the last cut, and
 * only then are the logs cut (every object's, at the same point, so the next window starts
 * from one consistent state). After a violation nothing is cut any more: the evidence stays
 * for the final check and the log file.
 */
static void window(struct hl_live *lv, bool last)
{
	struct hl_engine *e = lv->e;
	double t = now_ms();

	hl_engine_pause(e);
	pass(lv);
	if (!lv->rep.violation)
		window_check(lv);
	if (!lv->rep.violation && !last) {
		lv->rep.checkpoints += (uint64_t)hl_engine_checkpoint_all(e);
		for (unsigned o = 1; o < HL_OBJ_END; o++)
			if (e->logs[o].base)
				lv->cut_total[o] = ck_pr_load_64(&e->logs[o].records_total);
	}
	hl_engine_resume(e);
	lv->rep.window_ms += now_ms() - t;
}

/* a window is due when some log grew by ckpt_every records since the last cut */
static bool window_due(struct hl_live *lv)
{
	if (!lv->ckpt_every || lv->rep.violation)
		return false;
	for (unsigned o = 1; o < HL_OBJ_END; o++)
		if (lv->e->logs[o].base &&
		    ck_pr_load_64(&lv->e->logs[o].records_total) - lv->cut_total[o] >= lv->ckpt_every)
			return true;
	return false;
}

static void *live_thread(void *arg)
{
	struct hl_live *lv = arg;

	hl_rcu_reader_ensure();
	while (!__atomic_load_n(&lv->stop, __ATOMIC_ACQUIRE)) {
		pass(lv);
		if (window_due(lv))
			window(lv, false);
		if (lv->interval_us)
			usleep(lv->interval_us);
	}
	/* drain: the CPUs have stopped */
	if (lv->ckpt_every)
		window(lv, true);
	else
		pass(lv);
	return NULL;
}

struct hl_live *hl_live_start(struct hl_engine *e, unsigned interval_us)
{
	struct hl_live *lv = calloc(1, sizeof(*lv));

	if (!lv)
		return NULL;
	lv->e = e;
	lv->interval_us = interval_us;
	lv->replica = hl_state_new(false);
	if (!lv->replica) {
		free(lv);
		return NULL;
	}
	/* the run's shards and KCore ranges: the replica's seq-0 images are the engine's (a
	 * refined object's may depend on its map: npt(host)'s preallocated tables), and shard
	 * records are routed into its SPEC object images */
	lv->replica->ref = &e->ref;
	lv->replica->kcore = &e->cfg.kcore;   /* s2page's initial image: KCore's ranges (issue 12) */
	for (unsigned p = 1; p < HL_ID_END; p++)
		if (hl_refine_sharded(&e->ref, p) || (p == HL_S2PAGE_ID && e->cfg.kcore.n))
			hl_state_init_obj(lv->replica, p);
	/* with checkpoints, this checker takes them, after checking what they cut */
	lv->ckpt_every = e->cfg.logs_off ? 0 : e->cfg.ckpt_every;
	for (unsigned o = 1; o < HL_OBJ_END; o++)
		if (e->logs[o].base)
			lv->cut_total[o] = ck_pr_load_64(&e->logs[o].records_total);
	if (lv->ckpt_every)
		hl_engine_gate_enable(e, true, true);
	if (pthread_create(&lv->th, NULL, live_thread, lv) != 0) {
		if (lv->ckpt_every)
			hl_engine_gate_enable(e, false, false);
		hl_state_free(lv->replica);
		free(lv);
		return NULL;
	}
	return lv;
}

void hl_live_stop(struct hl_live *lv, struct hl_live_report *rep)
{
	__atomic_store_n(&lv->stop, 1, __ATOMIC_RELEASE);
	pthread_join(lv->th, NULL);
	if (lv->ckpt_every)
		hl_engine_gate_enable(lv->e, false, false);
	lv->rep.avg_lag_records = lv->rep.passes ? lv->lag_sum / (double)lv->rep.passes : 0;
	/* sync_shared on the replicas the checker built while the CPUs ran: SPEC object by SPEC
	 * object (each one's shards were applied into its image) */
	for (unsigned o = 1; o < HL_ID_END && !lv->rep.violation; o++)
		if (hl_obj_valid(o) &&
		    memcmp(lv->replica->img[o].base, lv->e->st->img[o].base, lv->replica->img[o].size) != 0) {
			char ob[24];
			lv->rep.violation = true;
			snprintf(lv->rep.what, sizeof(lv->rep.what),
				 "sync_shared: the checker's replay of %s differs from the live object",
				 hl_obj_name(o, ob, sizeof(ob)));
		}
	*rep = lv->rep;
	hl_state_free(lv->replica);
	free(lv);
}

/* hl_live.c - incremental log checking beside running CPUs (RCU reader). */
#include "hl_live.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ck_pr.h>

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
	struct obj_cursor cur[HL_ID_END];
	bool halted[256];
	unsigned interval_us;
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
	if (lv->halted[r->cpu] && !(r->flags & HL_RF_NESTED) && r->result != HL_RES_HALT)
		violation(lv, o, r, "a halted CPU appended again");
	if (hl_apply_deltas(lv->replica->img[o].base, lv->replica->img[o].size, r))
		violation(lv, o, r, "delta outside the object image");
	if (r->flags & HL_RF_STRANDED)
		c->stranded = true;
	if (r->result == HL_RES_HALT)
		lv->halted[r->cpu] = true;
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
			memcpy(lv->replica->img[o].base, b->snap->img, lv->replica->img[o].size);
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
	for (unsigned o = 1; o < HL_ID_END; o++) {
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
	for (unsigned o = 1; o < HL_ID_END; o++)
		follow(lv, o);
	hl_rcu_read_unlock();
	lv->rep.passes++;
	/* a record appended just after the previous pass started waited this long at most */
	if (lv->last_pass_end > 0 && now_ms() - lv->last_pass_end + (now_ms() - t) > lv->rep.max_lag_ms)
		lv->rep.max_lag_ms = now_ms() - lv->last_pass_end + (now_ms() - t);
	lv->last_pass_end = now_ms();
}

static void *live_thread(void *arg)
{
	struct hl_live *lv = arg;

	hl_rcu_reader_ensure();
	while (!__atomic_load_n(&lv->stop, __ATOMIC_ACQUIRE)) {
		pass(lv);
		if (lv->interval_us)
			usleep(lv->interval_us);
	}
	pass(lv);   /* drain: the CPUs have stopped */
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
	if (pthread_create(&lv->th, NULL, live_thread, lv) != 0) {
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
	lv->rep.avg_lag_records = lv->rep.passes ? lv->lag_sum / (double)lv->rep.passes : 0;
	/* sync_shared on the replicas the checker built while the CPUs ran */
	for (unsigned o = 1; o < HL_ID_END && !lv->rep.violation; o++)
		if (memcmp(lv->replica->img[o].base, lv->e->st->img[o].base, lv->replica->img[o].size) != 0) {
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

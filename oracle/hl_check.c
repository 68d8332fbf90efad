/*
 * hl_check.c - SPEC §10's oracles over per-object logs.
 *
 * One context gathers every log once (a consistent base per log, under the RCU read
 * lock), indexes records by operation, and, for the replay-based checks, walks the
 * linearization of hl_linearize with two states side by side:
 *
 *   B  the byte state: each object's snapshot (or initial image) with the records applied
 *      in linearization order. Because the order respects every log, B's object O at an
 *      operation's turn is exactly Cal<O> at the sequence number that operation saw.
 *   M  the abstract model (hl_model.h), started from the abstraction of B and advanced
 *      by re-executing each operation with its own transitions.
 *
 * After each operation the entries the model changed and the entries the records'
 * deltas touched ("facts") are compared between M and B; the security invariants are
 * checked on the same entries. An operation that straddles a checkpoint (some of its
 * records, or a state it read, lie before a snapshot) cannot be re-executed: its deltas
 * are applied to B and M is re-synchronised at the touched entries.
 */
#include "hl_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hl_lock.h"
#include "hl_model.h"
#include "hl_pgtable.h"
#include "hl_replay.h"

#define PG HL_PAGE_SIZE

const char *hl_rel_name(int rel)
{
	switch (rel) {
	case HL_REL_OK: return "ok";
	case HL_REL_CALLOCK: return "H_CalLock";
	case HL_REL_SYNC: return "sync_shared";
	case HL_REL_SERIAL: return "serializability";
	case HL_REL_LOG: return "relate_log";
	case HL_REL_ORACLE: return "relate_oracle";
	case HL_REL_HLOCK: return "relate_hlock";
	case HL_REL_SECURITY: return "security";
	default: return "error";
	}
}

/* ---- context -------------------------------------------------------------------------- */
struct opn {
	uint64_t op;
	const struct hl_rec *rec[HL_MAX_STAGES];
	uint8_t nfound, nrec;
};

struct chk {
	const struct hl_check_src *src;
	struct hl_engine *e;
	struct hl_verdict *v;
	const struct hl_log_base *base[HL_ID_END];
	const struct hl_rec **rec[HL_ID_END];
	size_t n[HL_ID_END], cap[HL_ID_END];
	uint64_t first_seq[HL_ID_END];
	bool any_snap;
	uint64_t nrecs;
	/* operation index */
	struct opn *ops;
	size_t nops, opcap;
	uint32_t *ht;
	size_t htcap;
	bool indexed;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void ctx_add(struct hl_verdict *v, const struct hl_rec *r, bool culprit)
{
	struct hl_ctx_rec *c;

	if (!r || v->nctx == HL_VERDICT_CTX)
		return;
	c = &v->ctx[v->nctx++];
	c->obj = r->obj;
	c->cpu = r->cpu;
	c->event = r->event;
	c->result = r->result;
	c->flags = r->flags;
	c->nrec = r->nrec;
	c->seq = r->seq;
	c->op = r->op;
	c->ret = r->ret;
	c->dorc = r->dorc;
	memcpy(c->arg, r->arg, sizeof(c->arg));
	c->culprit = culprit;
}

/* the record at (obj, seq) in the gathered log, or NULL */
static const struct hl_rec *rec_at(const struct chk *k, unsigned obj, uint64_t seq)
{
	if (obj == 0 || obj >= HL_ID_END || seq < k->first_seq[obj] || seq - k->first_seq[obj] >= k->n[obj])
		return NULL;
	return k->rec[obj][seq - k->first_seq[obj]];
}

/* fill the verdict; r (may be NULL) is the culprit record, shown with its neighbours */
static int violation(struct chk *k, int rel, const struct hl_rec *r, uint64_t op, unsigned obj,
		     const char *exp, const char *act, const char *fmt, ...)
{
	struct hl_verdict *v = k->v;
	va_list ap;

	memset(v, 0, sizeof(*v));
	v->rel = rel;
	v->op = r ? r->op : op;
	v->obj = r ? r->obj : obj;
	v->cpu = r ? r->cpu : (op ? (int)HL_OP_CPU(op) : -1);
	v->seq = r ? r->seq : 0;
	v->event = r ? r->event : 0;
	va_start(ap, fmt);
	vsnprintf(v->what, sizeof(v->what), fmt, ap);
	va_end(ap);
	snprintf(v->expected, sizeof(v->expected), "%s", exp ? exp : "");
	snprintf(v->actual, sizeof(v->actual), "%s", act ? act : "");
	if (r && r->obj > 0 && r->obj < HL_ID_END) {
		/* the culprit and its neighbours in its log (found by position: its seq may lie) */
		size_t i = 0, n = k->n[r->obj];
		const struct hl_rec **l = k->rec[r->obj];
		if (rec_at(k, r->obj, r->seq) == r)
			i = r->seq - k->first_seq[r->obj];
		else
			while (i < n && l[i] != r)
				i++;
		if (i < n)
			for (size_t j = i >= 2 ? i - 2 : 0; j < n && j <= i + 2; j++)
				ctx_add(v, l[j], j == i);
		else
			ctx_add(v, r, true);
	}
	return 1;
}

static int internal(struct chk *k, const char *what)
{
	memset(k->v, 0, sizeof(*k->v));
	k->v->rel = HL_REL_ERROR;
	k->v->obj = HL_ID_END;
	k->v->cpu = -1;
	snprintf(k->v->what, sizeof(k->v->what), "%s", what);
	return -1;
}

static int gather_visit(const struct hl_rec *r, void *arg)
{
	struct chk *k = ((void **)arg)[0];
	unsigned o = *(unsigned *)((void **)arg)[1];

	if (k->n[o] == k->cap[o]) {
		size_t nc = k->cap[o] ? k->cap[o] * 2 : 64;
		const struct hl_rec **nr = realloc(k->rec[o], nc * sizeof(*nr));
		if (!nr)
			return -1;
		k->rec[o] = nr;
		k->cap[o] = nc;
	}
	k->rec[o][k->n[o]++] = r;
	return 0;
}

/* caller holds the RCU read lock for the whole life of the context */
static int chk_init(struct chk *k, const struct hl_check_src *src, struct hl_verdict *v)
{
	memset(k, 0, sizeof(*k));
	k->src = src;
	k->e = src->e;
	k->v = v;
	memset(v, 0, sizeof(*v));
	v->obj = HL_ID_END;
	v->cpu = -1;
	for (unsigned o = 1; o < HL_ID_END; o++) {
		void *arg[2] = { k, &o };
		k->base[o] = hl_log_base_get(&k->e->logs[o]);
		k->first_seq[o] = k->base[o]->first_seq;
		/* a snapshot at seq 0 is the object's initial image (a log collected from the EL2
		 * image starts its tables from their real pool PAs), not a cut */
		k->any_snap |= k->base[o]->snap != NULL && k->base[o]->snap->seq > 0;
		if (hl_log_base_foreach(k->base[o], gather_visit, arg))
			return internal(k, "out of memory gathering the logs");
		k->nrecs += k->n[o];
	}
	return 0;
}

static void chk_free(struct chk *k)
{
	for (unsigned o = 0; o < HL_ID_END; o++)
		free(k->rec[o]);
	free(k->ops);
	free(k->ht);
}

static uint32_t op_find(struct chk *k, uint64_t op, bool insert)
{
	size_t mask = k->htcap - 1, h = (size_t)((op * 0x9E3779B97F4A7C15ull) >> 20) & mask;

	for (;; h = (h + 1) & mask) {
		if (!k->ht[h]) {
			if (!insert)
				return UINT32_MAX;
			if (k->nops == k->opcap)
				return UINT32_MAX;
			memset(&k->ops[k->nops], 0, sizeof(k->ops[0]));
			k->ops[k->nops].op = op;
			k->ht[h] = (uint32_t)++k->nops;
			return (uint32_t)(k->nops - 1);
		}
		if (k->ops[k->ht[h] - 1].op == op)
			return k->ht[h] - 1;
	}
}

/* index records by operation; assumes H_CalLock's per-log checks passed */
static int chk_index(struct chk *k)
{
	if (k->indexed)
		return 0;
	k->opcap = k->nrecs + 1;
	k->htcap = 64;
	while (k->htcap < k->opcap * 2)
		k->htcap *= 2;
	k->ops = malloc(k->opcap * sizeof(*k->ops));
	k->ht = calloc(k->htcap, sizeof(*k->ht));
	if (!k->ops || !k->ht)
		return internal(k, "out of memory indexing operations");
	for (unsigned o = 1; o < HL_ID_END; o++)
		for (size_t i = 0; i < k->n[o]; i++) {
			const struct hl_rec *r = k->rec[o][i];
			uint32_t ni = op_find(k, r->op, true);
			struct opn *n;
			if (ni == UINT32_MAX)
				return internal(k, "operation index overflow");
			n = &k->ops[ni];
			if (n->nfound < HL_MAX_STAGES)
				n->rec[n->nfound++] = r;
			n->nrec = r->nrec;
		}
	k->indexed = true;
	return 0;
}

/* ===================================================================================== */
/* H_CalLock                                                                                */

static int same_step(const struct hl_rec *a, const struct hl_rec *b)
{
	return a->event == b->event && a->cpu == b->cpu && a->result == b->result && a->nrec == b->nrec &&
	       a->dorc == b->dorc && a->ret == b->ret && !memcmp(a->arg, b->arg, sizeof(a->arg)) &&
	       (a->flags & HL_RF_NESTED) == (b->flags & HL_RF_NESTED);
}

static int run_callock(struct chk *k)
{
	unsigned ncpus = k->e->cfg.ncpus;
	char exp[96], act[96];

	for (unsigned o = 1; o < HL_ID_END; o++) {
		const struct hl_log_base *b = k->base[o];
		uint64_t last_op[HL_NR_CPUS + 1];
		char ob[24];

		memset(last_op, 0, sizeof(last_op));
		hl_obj_name(o, ob, sizeof(ob));
		if (b->snap ? b->snap->seq + 1 != b->first_seq : b->first_seq != 1)
			return violation(k, HL_REL_CALLOCK, NULL, 0, o, NULL, NULL,
					 "log of %s starts at seq %llu after a snapshot at %llu", ob,
					 (unsigned long long)b->first_seq,
					 (unsigned long long)(b->snap ? b->snap->seq : 0));
		for (size_t i = 0; i < k->n[o]; i++) {
			const struct hl_rec *r = k->rec[o][i];
			const struct hl_rdep *rd = hl_rec_rdeps(r);
			uint64_t want = k->first_seq[o] + i;

			if (r->seq != want) {
				snprintf(exp, sizeof(exp), "seq %llu", (unsigned long long)want);
				snprintf(act, sizeof(act), "seq %llu", (unsigned long long)r->seq);
				return violation(k, HL_REL_CALLOCK, r, 0, o, exp, act,
						 "sequence numbers of %s are not consecutive", ob);
			}
			if (r->obj != o || r->cpu != HL_OP_CPU(r->op) || r->cpu >= ncpus || r->nrec == 0 ||
			    r->nrec > HL_MAX_STAGES || r->event == HL_EV_NONE || r->event >= HL_EV__COUNT ||
			    r->result > HL_RES_HALT || r->nlock > HL_MAX_STAGES)
				return violation(k, HL_REL_CALLOCK, r, 0, o, NULL, NULL,
						 "malformed critical section in %s (object %u, cpu %u, op cpu %u, "
						 "nrec %u, event %u)", ob, r->obj, r->cpu, HL_OP_CPU(r->op), r->nrec,
						 r->event);
			/* one CPU per critical section, in its program order: an op once per log */
			if (r->op <= last_op[r->cpu]) {
				snprintf(exp, sizeof(exp), "op id above %llu:%llu", (unsigned long long)r->cpu,
					 (unsigned long long)(last_op[r->cpu] & 0xFFFFFFFFFFFFull));
				snprintf(act, sizeof(act), "op %u:%llu", r->cpu,
					 (unsigned long long)(r->op & 0xFFFFFFFFFFFFull));
				return violation(k, HL_REL_CALLOCK, r, 0, o, exp, act,
						 "operation appears twice in %s, or out of cpu %u's program order",
						 ob, r->cpu);
			}
			last_op[r->cpu] = r->op;
			/* every lock a record lists, in acquisition order: global order */
			for (unsigned j = 0; j < r->nlock; j++) {
				if (rd[j].obj == 0 || rd[j].obj >= HL_ID_END ||
				    (rd[j].obj == o && hl_rdep_is_read(&rd[j])))
					return violation(k, HL_REL_CALLOCK, r, 0, o, NULL, NULL,
							 "read dependency on object %u", rd[j].obj);
				if (j && hl_lock_order_key(rd[j - 1].obj) >= hl_lock_order_key(rd[j].obj)) {
					char a[24], c[24];
					hl_obj_name(rd[j - 1].obj, a, sizeof(a));
					hl_obj_name(rd[j].obj, c, sizeof(c));
					snprintf(exp, sizeof(exp), "%s before %s", c, a);
					snprintf(act, sizeof(act), "%s before %s", a, c);
					return violation(k, HL_REL_CALLOCK, r, 0, o, exp, act,
							 "locks taken out of the global order");
				}
			}
			if (r->flags & HL_RF_STRANDED) {
				if (r->result != HL_RES_HALT || i + 1 != k->n[o] || !hl_cpu_halted(k->e, r->cpu))
					return violation(k, HL_REL_CALLOCK, r, 0, o,
							 "last record of the log, by a halted CPU, result halt",
							 i + 1 != k->n[o] ? "records follow it" :
							 r->result != HL_RES_HALT ? "result ok" : "its CPU runs on",
							 "%s left locked by cpu %u is not a closed halt", ob, r->cpu);
			}
		}
	}
	/* the records of one operation describe one step */
	if (chk_index(k))
		return -1;
	for (size_t i = 0; i < k->nops; i++) {
		const struct opn *n = &k->ops[i];
		for (unsigned j = 1; j < n->nfound; j++)
			if (!same_step(n->rec[0], n->rec[j]))
				return violation(k, HL_REL_CALLOCK, n->rec[j], 0, 0, NULL, NULL,
						 "records of operation %u:%llu disagree on the step",
						 HL_OP_CPU(n->op), (unsigned long long)(n->op & 0xFFFFFFFFFFFFull));
		if (n->nfound > n->nrec || (n->nfound < n->nrec && !k->any_snap)) {
			snprintf(exp, sizeof(exp), "%u records", n->nrec);
			snprintf(act, sizeof(act), "%u records", n->nfound);
			return violation(k, HL_REL_CALLOCK, n->rec[0], 0, 0, exp, act,
					 "operation %u:%llu (%s) has a missing or extra record", HL_OP_CPU(n->op),
					 (unsigned long long)(n->op & 0xFFFFFFFFFFFFull),
					 hl_event_name(n->rec[0]->event));
		}
	}
	return 0;
}

/* ===================================================================================== */
/* sync_shared                                                                              */

static int run_sync(struct chk *k)
{
	struct hl_state *cal = hl_state_new(false);
	struct hl_replay_err err;
	int rc = 0;

	if (!cal)
		return internal(k, "out of memory");
	for (unsigned o = 1; o < HL_ID_END && !rc; o++) {
		char ob[24], exp[64], act[64];
		uint64_t dc, dl;

		hl_obj_name(o, ob, sizeof(ob));
		if (hl_cal_obj(k->e, o, cal, &err)) {
			rc = violation(k, HL_REL_SYNC, rec_at(k, o, err.seq), err.op, o, NULL, NULL,
				       "Cal<%s> fails: %s", ob, err.msg);
			break;
		}
		dc = hl_state_obj_digest(cal, o);
		if (k->src->file) {
			if (!k->src->file->has_live_digest[o] || dc == k->src->file->live_digest[o])
				continue;
			dl = k->src->file->live_digest[o];
			snprintf(exp, sizeof(exp), "live digest %016llx", (unsigned long long)dl);
			snprintf(act, sizeof(act), "Cal digest %016llx", (unsigned long long)dc);
			rc = violation(k, HL_REL_SYNC, k->n[o] ? k->rec[o][k->n[o] - 1] : NULL, 0, o, exp, act,
				       "Cal<%s>(log) differs from the live object the file recorded", ob);
		} else if (memcmp(cal->img[o].base, k->e->st->img[o].base, cal->img[o].size)) {
			/* name the abstract entry when the abstraction sees it, else the byte */
			struct hl_model *a = hl_model_new(), *l = hl_model_new();
			struct hl_model_diff d;
			size_t off = 0;

			while (off < cal->img[o].size && cal->img[o].base[off] == k->e->st->img[o].base[off])
				off++;
			if (a && l && hl_model_abstract_obj(a, k->e->st, o) == 0 &&
			    hl_model_abstract_obj(l, cal, o) == 0 && hl_model_diff(a, l, o, &d))
				rc = violation(k, HL_REL_SYNC, k->n[o] ? k->rec[o][k->n[o] - 1] : NULL, 0, o, d.a, d.b,
					       "Cal<%s>(log) != live %s at %s (byte %zu)", ob, ob, d.where, off);
			else
				rc = violation(k, HL_REL_SYNC, k->n[o] ? k->rec[o][k->n[o] - 1] : NULL, 0, o,
					       "live bytes", "Cal bytes", "Cal<%s>(log) != live %s at byte %zu", ob,
					       ob, off);
			hl_model_free(a);
			hl_model_free(l);
		}
	}
	hl_state_free(cal);
	return rc;
}

/* ===================================================================================== */
/* serializability                                                                          */

static int run_serial(struct chk *k, uint64_t **ops, size_t *nops)
{
	struct hl_replay_err err;
	int rc = hl_linearize(k->e, ops, nops, &err);

	if (rc == HL_RP_CYCLE) {
		char ob[24];
		hl_obj_name(err.obj, ob, sizeof(ob));
		return violation(k, HL_REL_SERIAL, NULL, err.op, err.obj, "an acyclic operation graph",
				 "a cycle", "%s", err.msg);
	}
	if (rc == HL_RP_NOMEM)
		return internal(k, "out of memory linearizing");
	if (rc)
		return violation(k, HL_REL_SERIAL, rec_at(k, err.obj, err.seq), err.op, err.obj, NULL, NULL,
				 "no linearization: %s", err.msg);
	return 0;
}

/* ===================================================================================== */
/* relate_hlock                                                                             */

static int run_hlock(struct chk *k)
{
	uint64_t halt_op[HL_NR_CPUS + 1];
	unsigned ncpus = k->e->cfg.ncpus;

	for (unsigned c = 0; c <= HL_NR_CPUS; c++)
		halt_op[c] = UINT64_MAX;
	for (unsigned o = 1; o < HL_ID_END; o++) {
		char ob[24];
		hl_obj_name(o, ob, sizeof(ob));
		for (size_t i = 0; i < k->n[o]; i++) {
			const struct hl_rec *r = k->rec[o][i];
			if (i && (k->rec[o][i - 1]->flags & HL_RF_STRANDED))
				return violation(k, HL_REL_HLOCK, r, 0, o, "no record after the halt",
						 "a record by a running CPU",
						 "%s was left locked by halted cpu %u, then touched by cpu %u", ob,
						 k->rec[o][i - 1]->cpu, r->cpu);
			if (r->result == HL_RES_HALT && r->cpu < ncpus && r->op < halt_op[r->cpu])
				halt_op[r->cpu] = r->op;
		}
	}
	for (unsigned o = 1; o < HL_ID_END; o++)
		for (size_t i = 0; i < k->n[o]; i++) {
			const struct hl_rec *r = k->rec[o][i];
			if (r->cpu >= ncpus || halt_op[r->cpu] == UINT64_MAX)
				continue;
			if (!hl_cpu_halted(k->e, r->cpu))
				return violation(k, HL_REL_HLOCK, r, 0, o, "cpu halted", "cpu running",
						 "cpu %u halted in %s but is not marked halted", r->cpu,
						 hl_event_name(r->event));
			if (r->op > halt_op[r->cpu] && !(r->flags & HL_RF_NESTED))
				return violation(k, HL_REL_HLOCK, r, 0, o, "nothing after the halt",
						 hl_event_name(r->event), "cpu %u ran %s after it halted (op %llu)",
						 r->cpu, hl_event_name(r->event),
						 (unsigned long long)(halt_op[r->cpu] & 0xFFFFFFFFFFFFull));
		}
	return 0;
}

/* ===================================================================================== */
/* the replay pass: relate_log, relate_oracle, security                                     */

enum { DO_LOG = 1, DO_ORACLE = 2, DO_SEC = 4 };

#define MAX_DFACTS 96u

struct pass {
	struct chk *k;
	unsigned mode;
	struct hl_state *b;
	struct hl_model *m;
	struct hl_hmap rev;               /* (obj << 32 | page) -> table (base gfn, bank, level) */
	uint64_t cur[HL_ID_END];          /* last seq applied to B, per object */
	uint64_t snap_seq[HL_ID_END];
	uint64_t *seen;                   /* [cpu][obj]: last seq this CPU saw */
	struct hl_fact df[MAX_DFACTS];
	unsigned ndf;
	struct hl_check_stats *stats;
};

static void dfact(struct pass *p, unsigned kind, unsigned id, unsigned level, uint64_t key, uint32_t n)
{
	if (p->ndf < MAX_DFACTS)
		p->df[p->ndf++] = (struct hl_fact){ (uint8_t)kind, (uint8_t)level, (uint16_t)id, n, key };
}

/* child table page (index in the image) a descriptor links, or -1 */
static int64_t child_page(const uint8_t *img, size_t size, uint64_t d)
{
	const struct hl_pt_meta *mt = (const struct hl_pt_meta *)img;
	uint64_t pa = d & HL_DESC_ADDR_MASK, end = mt->pool_end < size ? mt->pool_end : size;

	if ((d & HL_DESC_TYPE_MASK) != HL_DESC_TYPE_TABLE || pa < mt->pool_pa + PG || pa >= mt->pool_pa + end)
		return -1;
	return (int64_t)((pa - mt->pool_pa) / PG);
}

static int rev_put(struct pass *p, unsigned obj, int64_t page, unsigned level, uint64_t base, unsigned bank)
{
	struct hl_mval v = { base, bank, level };
	return page < 0 ? 0 : hl_hmap_put(&p->rev, ((uint64_t)obj << 32) | (uint64_t)page, &v);
}

/* the linked table pages of a start state */
static int rev_scan(struct pass *p)
{
	const struct hl_state *st = p->b;
	int rc = 0;

	for (unsigned v = 0; v < HL_NR_PRINC; v++) {
		unsigned obj = HL_NPT_OBJ(v);
		const uint8_t *img = st->npt[v];
		size_t sz = st->img[obj].size;
		const uint64_t *root = (const uint64_t *)(img + PG);
		for (uint64_t i0 = 0; i0 < 512; i0++) {
			int64_t c1 = child_page(img, sz, root[i0]);
			if (c1 < 0)
				continue;
			rc |= rev_put(p, obj, c1, 1, i0 << 27, 0);
			for (uint64_t i1 = 0; i1 < 512; i1++) {
				int64_t c2 = child_page(img, sz, ((const uint64_t *)(img + c1 * PG))[i1]);
				if (c2 < 0)
					continue;
				rc |= rev_put(p, obj, c2, 2, i0 << 27 | i1 << 18, 0);
				for (uint64_t i2 = 0; i2 < 512; i2++)
					rc |= rev_put(p, obj, child_page(img, sz, ((const uint64_t *)(img + c2 * PG))[i2]), 3,
						      i0 << 27 | i1 << 18 | i2 << 9, 0);
			}
		}
	}
	for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++) {
		const uint8_t *img = st->spt;
		size_t sz = st->img[HL_SPT_ID].size;
		const uint64_t *root = (const uint64_t *)(img + PG + (uint64_t)b * HL_SPT_ROOT_PAGES * PG);
		for (uint64_t i1 = 0; i1 < 1024; i1++) {
			int64_t c2 = child_page(img, sz, root[i1]);
			if (c2 < 0)
				continue;
			rc |= rev_put(p, HL_SPT_ID, c2, 2, i1 << 18, b);
			for (uint64_t i2 = 0; i2 < 512; i2++)
				rc |= rev_put(p, HL_SPT_ID, child_page(img, sz, ((const uint64_t *)(img + c2 * PG))[i2]), 3,
					      i1 << 18 | i2 << 9, b);
		}
	}
	return rc;
}

/* one written 8-byte word of a table image -> the abstract entries it can change */
static int table_word(struct pass *p, unsigned obj, uint64_t w)
{
	bool spt = obj == HL_SPT_ID;
	unsigned v = spt ? 0 : obj - HL_NPT_ID;
	const uint8_t *img = spt ? p->b->spt : p->b->npt[v];
	size_t sz = p->b->img[obj].size;
	uint64_t page = w / PG, slot = (w % PG) / 8, d;
	const struct hl_mval *rv;
	int64_t child;

	if (w + 8 > sz)
		return 0;
	d = *(const uint64_t *)(img + (w & ~7ull));
	child = child_page(img, sz, d);
	if (page == 0) {
		dfact(p, spt ? HL_F_SPT_META : HL_F_NPT_META, v, 0, 0, 1);
		return 0;
	}
	if (!spt && page == 1) {
		dfact(p, HL_F_NPT_PRES, v, 0, slot, 1);
		return rev_put(p, obj, child, 1, slot << 27, 0);
	}
	if (spt && page <= HL_SMMU_CFG_SIZE * HL_SPT_ROOT_PAGES) {
		unsigned bank = (unsigned)((page - 1) / HL_SPT_ROOT_PAGES);
		uint64_t i1 = ((page - 1) % HL_SPT_ROOT_PAGES) * 512 + slot;
		dfact(p, HL_F_SPT_PRES, bank, 1, i1, 1);
		return rev_put(p, obj, child, 2, i1 << 18, bank);
	}
	rv = hl_hmap_get(&p->rev, ((uint64_t)obj << 32) | page);
	if (!rv)
		return 0;   /* a page no table links: invisible to the abstraction */
	if (spt) {
		unsigned bank = (unsigned)rv->pte;
		if (rv->level == 2) {
			dfact(p, HL_F_SPT_PRES, bank, 2, (rv->pfn >> 18) << 9 | slot, 1);
			dfact(p, HL_F_SPT_LEAF, bank, 0, rv->pfn | slot << 9, 512);
			return rev_put(p, obj, child, 3, rv->pfn | slot << 9, bank);
		}
		dfact(p, HL_F_SPT_LEAF, bank, 0, rv->pfn | slot, 1);
		return 0;
	}
	switch (rv->level) {
	case 1:
		dfact(p, HL_F_NPT_PRES, v, 1, (rv->pfn >> 27) << 9 | slot, 1);
		return rev_put(p, obj, child, 2, rv->pfn | slot << 18, 0);
	case 2:
		dfact(p, HL_F_NPT_PRES, v, 2, (rv->pfn >> 27) << 18 | ((rv->pfn >> 18) & 511) << 9 | slot, 1);
		dfact(p, HL_F_NPT_LEAF, v, 0, rv->pfn | slot << 9, 512);
		return rev_put(p, obj, child, 3, rv->pfn | slot << 9, 0);
	default:
		dfact(p, HL_F_NPT_LEAF, v, 0, rv->pfn | slot, 1);
		return 0;
	}
}

/* apply a record to B and name the abstract entries its deltas touched */
static int apply_rec(struct pass *p, const struct hl_rec *r)
{
	unsigned o = r->obj;
	const struct hl_delta *d = hl_rec_first_delta(r);
	const uint8_t *end = (const uint8_t *)r + r->len;
	unsigned first = p->ndf;
	const size_t pages_bytes = sizeof(struct hl_s2page) * HL_RAM_PAGES;

	if (hl_apply_deltas(p->b->img[o].base, p->b->img[o].size, r))
		return -2;
	for (unsigned i = 0; i < r->ndelta && (const uint8_t *)(d + 1) <= end; i++, d = hl_delta_next(d)) {
		uint64_t off = d->off, len = d->len;
		if (o == HL_CORE_ID) {
			dfact(p, HL_F_CORE, 0, 0, 0, 1);
		} else if (o == HL_SMMU_ID) {
			dfact(p, HL_F_SMMU, 0, 0, UINT64_MAX, 1);
		} else if (o >= HL_INFO_ID) {
			dfact(p, HL_F_INFO, o - HL_INFO_ID, 0, 0, 1);
		} else if (o == HL_S2PAGE_ID) {
			for (uint64_t x = off; x < off + len && p->ndf - first < 48;) {
				if (x < pages_bytes) {
					dfact(p, HL_F_S2P, 0, 0, HL_RAM_BASE_PFN + x / sizeof(struct hl_s2page), 1);
					x = (x / sizeof(struct hl_s2page) + 1) * sizeof(struct hl_s2page);
				} else {
					dfact(p, HL_F_FLAT, 0, 0, HL_RAM_BASE_PFN + (x - pages_bytes) / 8, 1);
					x = (x / 8 + 1) * 8;
				}
			}
		} else if (o == HL_SPT_ID && (d->flags & HL_DF_ZERO) && off >= PG &&
			   off < PG * (1 + HL_SMMU_CFG_SIZE * HL_SPT_ROOT_PAGES)) {
			/* a bank's root cleared: the whole bank */
			for (uint64_t pg = off / PG; pg * PG < off + len && pg <= HL_SMMU_CFG_SIZE * HL_SPT_ROOT_PAGES; pg++)
				dfact(p, HL_F_SPT_BANK, (unsigned)((pg - 1) / HL_SPT_ROOT_PAGES), 0, 0, 1);
		} else {
			for (uint64_t w = off & ~7ull; w < off + len; w += 8)
				if (table_word(p, o, w))
					return -1;
		}
	}
	if (p->ndf - first >= 48 || p->ndf == MAX_DFACTS) {
		/* too many entries to name one by one: compare the whole object */
		p->ndf = first;
		dfact(p, HL_F_OBJ, o, 0, 0, 1);
	}
	p->cur[o] = r->seq;
	return 0;
}

static void ev_of(const struct hl_rec *r, struct hl_model_ev *ev)
{
	ev->event = r->event;
	memcpy(ev->arg, r->arg, sizeof(ev->arg));
	ev->dorc = r->dorc;
	ev->blob = hl_rec_blob(r);
	ev->blob_len = r->blob_len <= HL_BLOB_MAX ? r->blob_len : 0;
}

static bool in_set(const uint16_t *s, unsigned n, unsigned x)
{
	for (unsigned i = 0; i < n; i++)
		if (s[i] == x)
			return true;
	return false;
}

/* relate_oracle's footprint: the objects with a record or a read dependency are the lock set */
static int footprint(struct pass *p, const struct opn *n, const struct hl_model_res *res, bool missing_only)
{
	uint16_t fp[2 * HL_MAX_STAGES], st[HL_MAX_STAGES];
	unsigned nfp = 0, nst = 0;
	char ob[24], exp[96], act[96];

	for (unsigned i = 0; i < n->nfound; i++) {
		const struct hl_rdep *rd = hl_rec_rdeps(n->rec[i]);
		fp[nfp++] = n->rec[i]->obj;
		if (n->rec[i]->flags & HL_RF_STRANDED)
			st[nst++] = n->rec[i]->obj;
		for (unsigned j = 0; j < n->rec[i]->nlock && nfp < 2 * HL_MAX_STAGES; j++)
			if (!in_set(fp, nfp, rd[j].obj))
				fp[nfp++] = rd[j].obj;
	}
	for (unsigned i = 0; i < res->nlocks; i++)
		if (!in_set(fp, nfp, res->locks[i]))
			return violation(p->k, HL_REL_ORACLE, n->rec[0], 0, 0, "a record or read dependency",
					 "none (lock skipped)",
					 "%s by cpu %u read %s, in its SPEC §6 lock set, without a view of it in the logs",
					 hl_event_name(n->rec[0]->event), n->rec[0]->cpu,
					 hl_obj_name(res->locks[i], ob, sizeof(ob)));
	if (missing_only)
		return 0;
	for (unsigned i = 0; i < nfp; i++)
		if (!in_set(res->locks, res->nlocks, fp[i]))
			return violation(p->k, HL_REL_ORACLE, n->rec[0], 0, 0, "outside the footprint", "touched",
					 "%s by cpu %u touched %s, outside its SPEC §6 lock set",
					 hl_event_name(n->rec[0]->event), n->rec[0]->cpu,
					 hl_obj_name(fp[i], ob, sizeof(ob)));
	for (unsigned i = 0; i < res->nstrand || i < nst; i++) {
		unsigned x = i < res->nstrand ? res->strand[i] : st[i];
		if (in_set(res->strand, res->nstrand, x) != in_set(st, nst, x)) {
			snprintf(exp, sizeof(exp), "%s %s", hl_obj_name(x, ob, sizeof(ob)),
				 in_set(res->strand, res->nstrand, x) ? "stranded" : "released");
			snprintf(act, sizeof(act), "%s", in_set(st, nst, x) ? "stranded" : "released");
			return violation(p->k, HL_REL_ORACLE, n->rec[0], 0, 0, exp, act,
					 "%s by cpu %u: the halt leaves a different set of objects locked",
					 hl_event_name(n->rec[0]->event), n->rec[0]->cpu);
		}
	}
	return 0;
}

static int one_op(struct pass *p, const struct opn *n)
{
	struct chk *k = p->k;
	const struct hl_rec *r0 = n->rec[0];
	struct hl_model *m = p->m;
	bool straddle = n->nfound < n->nrec;
	unsigned ncpu = k->e->cfg.ncpus;
	struct hl_model_res res;
	char exp[200], act[200], ob[24];
	int rc;

	/* views: each record extends the log by one; each read saw the state it names */
	for (unsigned i = 0; i < n->nfound; i++) {
		const struct hl_rec *r = n->rec[i];
		const struct hl_rdep *rd = hl_rec_rdeps(r);
		if (r->obj == 0 || r->obj >= HL_ID_END || r->nlock > HL_MAX_STAGES)
			return violation(k, HL_REL_CALLOCK, r, 0, 0, NULL, NULL, "malformed record");
		if (r->seq != p->cur[r->obj] + 1)
			return violation(k, HL_REL_ORACLE, r, 0, 0, NULL, NULL, "view of %s out of order",
					 hl_obj_name(r->obj, ob, sizeof(ob)));
		for (unsigned j = 0; j < r->nlock; j++) {
			unsigned o = rd[j].obj;
			if (!hl_rdep_is_read(&rd[j]))
				continue;   /* written: the record's own view */
			if (rd[j].seq < p->snap_seq[o]) {
				straddle = true;
				continue;
			}
			if (rd[j].seq != p->cur[o]) {
				snprintf(exp, sizeof(exp), "%s at seq %llu", hl_obj_name(o, ob, sizeof(ob)),
					 (unsigned long long)p->cur[o]);
				snprintf(act, sizeof(act), "seq %llu", (unsigned long long)rd[j].seq);
				return violation(k, HL_REL_ORACLE, r, 0, 0, exp, act,
						 "%s by cpu %u read a state of %s the log does not have at its turn",
						 hl_event_name(r->event), r->cpu, ob);
			}
		}
	}
	/* the environment only moves objects forward between two views of one CPU */
	if (r0->cpu < ncpu)
		for (unsigned i = 0; i < n->nfound; i++) {
			uint64_t *s = &p->seen[r0->cpu * HL_ID_END + n->rec[i]->obj];
			if (n->rec[i]->seq <= *s)
				return violation(k, HL_REL_ORACLE, n->rec[i], 0, 0, NULL, NULL,
						 "cpu %u's view of %s went backwards", r0->cpu,
						 hl_obj_name(n->rec[i]->obj, ob, sizeof(ob)));
			*s = n->rec[i]->seq;
		}

	hl_model_facts_reset(m);
	p->ndf = 0;
	if (!straddle) {
		struct hl_model_ev ev;
		ev_of(r0, &ev);
		hl_model_step(m, &ev, &res);
		if (m->nomem)
			return internal(k, "out of memory in the model");
		if (p->stats)
			p->stats->reexecuted++;
		if (res.status == HL_E_INVAL)
			return violation(k, HL_REL_LOG, r0, 0, 0, "valid arguments", "rejected",
					 "the model rejects %s's arguments", hl_event_name(r0->event));
		if ((res.status == HL_HALT) != (r0->result == HL_RES_HALT) || res.ret != r0->ret) {
			/* a view missing from the logs explains a divergence: report that first */
			if ((p->mode & DO_ORACLE) && (rc = footprint(p, n, &res, true)) != 0)
				return rc;
			snprintf(exp, sizeof(exp), "%s, ret %llu", res.status == HL_HALT ? "halt" : "ok",
				 (unsigned long long)res.ret);
			snprintf(act, sizeof(act), "%s, ret %llu", r0->result == HL_RES_HALT ? "halt" : "ok",
				 (unsigned long long)r0->ret);
			return violation(k, (p->mode & DO_LOG) ? HL_REL_LOG : HL_REL_ORACLE, r0, 0, 0, exp, act,
					 "the model replaying the linearization disagrees with %s by cpu %u",
					 hl_event_name(r0->event), r0->cpu);
		}
		if ((p->mode & DO_ORACLE) && (rc = footprint(p, n, &res, false)))
			return rc;
	}
	for (unsigned i = 0; i < n->nfound; i++) {
		rc = apply_rec(p, n->rec[i]);
		if (rc == -2)
			return violation(k, HL_REL_SYNC, n->rec[i], 0, 0, NULL, NULL, "delta outside the object image");
		if (rc)
			return internal(k, "out of memory");
	}
	if (straddle) {
		for (unsigned i = 0; i < p->ndf; i++) {
			rc = hl_model_fact_sync(m, p->b, &p->df[i]);
			if (rc == -2)
				return violation(k, HL_REL_ORACLE, r0, 0, 0, "a well-formed table pool", "corrupt",
						 "table metadata of %s corrupt", hl_obj_name(r0->obj, ob, sizeof(ob)));
			if (rc)
				return internal(k, "out of memory");
		}
		if (p->stats)
			p->stats->resynced++;
	} else if (p->mode & DO_ORACLE) {
		/* the op's effects: model-changed entries and delta-touched entries agree */
		const struct hl_fact *f[2] = { m->facts, p->df };
		unsigned nf[2] = { m->nfacts, p->ndf };
		struct hl_fact whole = { HL_F_OBJ, 0, 0, 1, 0 };
		for (unsigned s = 0; s < 2; s++)
			for (unsigned i = 0; i < nf[s]; i++) {
				struct hl_model_diff d;
				rc = hl_model_fact_cmp(m, p->b, &f[s][i], &d);
				if (p->stats)
					p->stats->facts++;
				if (rc < 0)
					return internal(k, "out of memory");
				if (rc) {
					const struct hl_rec *rr = n->rec[0];
					for (unsigned j = 0; j < n->nfound; j++)
						if (n->rec[j]->obj == d.obj)
							rr = n->rec[j];
					return violation(k, HL_REL_ORACLE, rr, 0, 0, d.a, d.b,
							 "%s by cpu %u: re-executed on the view at seq %llu, the model "
							 "gives a different %s %s",
							 hl_event_name(rr->event), rr->cpu,
							 (unsigned long long)(rr->seq - 1),
							 hl_obj_name(d.obj, ob, sizeof(ob)), d.where);
				}
			}
		if (m->facts_overflow)
			for (unsigned i = 0; i < n->nfound; i++) {
				struct hl_model_diff d;
				whole.id = n->rec[i]->obj;
				if ((rc = hl_model_fact_cmp(m, p->b, &whole, &d)) != 0)
					return rc < 0 ? internal(k, "out of memory") :
					       violation(k, HL_REL_ORACLE, n->rec[i], 0, 0, d.a, d.b,
							 "effects of %s differ at %s", hl_event_name(r0->event), d.where);
			}
	}
	if ((p->mode & DO_SEC) && !k->any_snap) {
		char msg[256];
		if (hl_model_inv_facts(m, m->facts, m->nfacts, msg, sizeof(msg)) ||
		    hl_model_inv_facts(m, p->df, p->ndf, msg, sizeof(msg)) ||
		    (m->facts_overflow && hl_model_inv_all(m, msg, sizeof(msg))))
			return violation(k, HL_REL_SECURITY, r0, 0, 0, "the invariant holds", "violated",
					 "after %s by cpu %u: %s", hl_event_name(r0->event), r0->cpu, msg);
	}
	return 0;
}

static int load_start(struct pass *p)
{
	for (unsigned o = 1; o < HL_ID_END; o++) {
		const struct hl_snapshot *s = p->k->base[o]->snap;
		if (s) {
			if (s->size != p->b->img[o].size)
				return violation(p->k, HL_REL_SYNC, NULL, 0, o, NULL, NULL,
						 "snapshot of object %u has the wrong size", o);
			memcpy(p->b->img[o].base, s->img, s->size);
		}
		p->snap_seq[o] = p->cur[o] = p->k->first_seq[o] - 1;
	}
	return 0;
}

static int run_pass(struct chk *k, unsigned mode, struct hl_check_stats *stats)
{
	struct pass p = { .k = k, .mode = mode, .stats = stats };
	uint64_t *lin = NULL;
	size_t nlin = 0;
	int rc;

	if ((rc = chk_index(k)) != 0)
		return rc;
	if ((rc = run_serial(k, &lin, &nlin)) != 0)
		return rc;
	p.b = hl_state_new(false);
	p.m = hl_model_new();
	p.seen = calloc((size_t)(k->e->cfg.ncpus + 1) * HL_ID_END, sizeof(*p.seen));
	if (!p.b || !p.m || !p.seen) {
		rc = internal(k, "out of memory");
		goto out;
	}
	if ((rc = load_start(&p)) != 0)
		goto out;
	{
		/* KCore's keys: the model recomputes OVERIFY's verdict from them (H4) */
		struct hl_keyset ks = { .nkeys = k->e->cfg.nkeys };
		memcpy(ks.key, k->e->cfg.kcore_keys, sizeof(ks.key));
		hl_model_set_keys(p.m, &ks);
	}
	rc = hl_model_abstract(p.m, p.b);
	if (rc == -2) {
		rc = violation(k, HL_REL_LOG, NULL, 0, HL_ID_END, NULL, NULL, "a snapshot's table metadata is corrupt");
		goto out;
	}
	if (rc || rev_scan(&p)) {
		rc = internal(k, "out of memory");
		goto out;
	}
	if ((mode & DO_SEC) && !k->any_snap) {
		char msg[256];
		if (hl_model_inv_all(p.m, msg, sizeof(msg))) {
			rc = violation(k, HL_REL_SECURITY, NULL, 0, HL_ID_END, "the invariant holds", "violated",
				       "initial state: %s", msg);
			goto out;
		}
	}
	for (size_t i = 0; i < nlin; i++) {
		uint32_t ni = op_find(k, lin[i], false);
		if (ni == UINT32_MAX) {
			rc = internal(k, "linearization names an unknown operation");
			goto out;
		}
		if ((rc = one_op(&p, &k->ops[ni])) != 0)
			goto out;
	}
	if (stats)
		stats->ops = nlin;
	if (mode & DO_LOG) {
		/* object by object: the model's state == the abstraction of Cal<Obj> */
		struct hl_model *t = hl_model_new();
		struct hl_model_diff d;
		char ob[24];
		if (!t || hl_model_abstract(t, p.b)) {
			hl_model_free(t);
			rc = internal(k, "out of memory");
			goto out;
		}
		if (hl_model_diff(p.m, t, HL_ID_END, &d))
			rc = violation(k, HL_REL_LOG, k->n[d.obj] ? k->rec[d.obj][k->n[d.obj] - 1] : NULL, 0, d.obj,
				       d.a, d.b, "CalStateH through the model != Cal<%s> at %s",
				       hl_obj_name(d.obj, ob, sizeof(ob)), d.where);
		hl_model_free(t);
		if (rc)
			goto out;
	}
	if ((mode & DO_SEC) && k->any_snap) {
		/* a snapshot mixes objects cut at different times: only the end state is one
		 * consistent state, so with checkpoints the invariants are checked there */
		char msg[256];
		if (hl_model_inv_all(p.m, msg, sizeof(msg)))
			rc = violation(k, HL_REL_SECURITY, NULL, 0, HL_ID_END, "the invariant holds", "violated",
				       "final state: %s", msg);
	}
out:
	hl_hmap_free(&p.rev);
	free(p.seen);
	hl_model_free(p.m);
	hl_state_free(p.b);
	free(lin);
	return rc;
}

/* ===================================================================================== */
/* entry points                                                                             */

typedef int (*runner)(struct chk *k, void *arg);

static int with_ctx(const struct hl_check_src *src, struct hl_verdict *v, runner fn, void *arg)
{
	struct chk k;
	int rc;

	hl_rcu_reader_ensure();
	hl_rcu_read_lock();
	rc = chk_init(&k, src, v);
	if (!rc)
		rc = fn(&k, arg);
	hl_rcu_read_unlock();
	chk_free(&k);
	return rc;
}

static int r_callock(struct chk *k, void *arg) { (void)arg; return run_callock(k); }
static int r_sync(struct chk *k, void *arg) { (void)arg; return run_sync(k); }
static int r_hlock(struct chk *k, void *arg) { (void)arg; return run_hlock(k); }
static int r_pass(struct chk *k, void *arg) { return run_pass(k, *(unsigned *)arg, NULL); }

struct serial_arg {
	uint64_t **ops;
	size_t *nops;
};

static int r_serial(struct chk *k, void *arg)
{
	struct serial_arg *a = arg;
	uint64_t *ops = NULL;
	size_t n = 0;
	int rc = run_serial(k, &ops, &n);

	if (!rc && a->ops) {
		*a->ops = ops;
		ops = NULL;
	}
	if (!rc && a->nops)
		*a->nops = n;
	free(ops);
	return rc;
}

int hl_check_callock(const struct hl_check_src *src, struct hl_verdict *v)
{
	return with_ctx(src, v, r_callock, NULL);
}

int hl_check_sync_shared(const struct hl_check_src *src, struct hl_verdict *v)
{
	return with_ctx(src, v, r_sync, NULL);
}

int hl_check_serializable(const struct hl_check_src *src, struct hl_verdict *v, uint64_t **ops,
			  size_t *nops)
{
	struct serial_arg a = { ops, nops };
	return with_ctx(src, v, r_serial, &a);
}

int hl_check_relate_log(const struct hl_check_src *src, struct hl_verdict *v)
{
	unsigned mode = DO_LOG;
	return with_ctx(src, v, r_pass, &mode);
}

int hl_check_relate_oracle(const struct hl_check_src *src, struct hl_verdict *v)
{
	unsigned mode = DO_ORACLE;
	return with_ctx(src, v, r_pass, &mode);
}

int hl_check_relate_hlock(const struct hl_check_src *src, struct hl_verdict *v)
{
	return with_ctx(src, v, r_hlock, NULL);
}

int hl_check_security(const struct hl_check_src *src, struct hl_verdict *v)
{
	unsigned mode = DO_SEC;
	return with_ctx(src, v, r_pass, &mode);
}

static int r_all(struct chk *k, void *arg)
{
	struct hl_check_stats *st = arg;
	double t = now();
	int rc;

	if ((rc = run_callock(k)) != 0)
		return rc;
	st->sec[HL_REL_CALLOCK] = now() - t;
	t = now();
	if ((rc = run_sync(k)) != 0)
		return rc;
	st->sec[HL_REL_SYNC] = now() - t;
	t = now();
	if ((rc = run_hlock(k)) != 0)
		return rc;
	st->sec[HL_REL_HLOCK] = now() - t;
	t = now();
	/* serializability runs first inside the pass; its time is counted with it */
	if ((rc = run_pass(k, DO_LOG | DO_ORACLE | DO_SEC, st)) != 0)
		return rc;
	st->sec[HL_REL_LOG] = now() - t;
	st->records = k->nrecs;
	return 0;
}

int hl_check_all(const struct hl_check_src *src, struct hl_verdict *v, struct hl_check_stats *stats)
{
	struct hl_check_stats local;

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	return with_ctx(src, v, r_all, stats);
}

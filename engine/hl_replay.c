/* hl_replay.c - Cal<Obj>, the linearization of operation IDs, and CalStateH. */
#include "hl_replay.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ck_pr.h>

#include "hl_step.h"

static int fail(struct hl_replay_err *err, int code, unsigned obj, uint64_t seq, uint64_t op,
		const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		err->obj = obj;
		err->seq = seq;
		err->op = op;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

/* start image of obj: its checkpoint snapshot, or the initial state */
static int load_base(const struct hl_log_base *b, unsigned obj, struct hl_state *out, uint64_t *next_seq,
		     struct hl_replay_err *err)
{
	const struct hl_snapshot *snap = b->snap;
	uint64_t first = b->first_seq;

	if (snap) {
		size_t size = hl_refine_obj_size(out->ref, obj);
		if (snap->size != size)
			return fail(err, HL_RP_BAD_LOG, obj, snap->seq, 0, "snapshot has %zu bytes, expected %zu",
				    snap->size, size);
		hl_state_obj_scatter(out, obj, snap->img);   /* a shard's: into its ranges */
		if (snap->seq + 1 != first)
			return fail(err, HL_RP_BAD_LOG, obj, first, 0,
				    "log starts at seq %llu after a snapshot at %llu",
				    (unsigned long long)first, (unsigned long long)snap->seq);
	} else {
		hl_state_init_obj(out, obj);
		if (first != 1)
			return fail(err, HL_RP_BAD_LOG, obj, first, 0, "log starts at seq %llu without a snapshot",
				    (unsigned long long)first);
	}
	*next_seq = first;
	return 0;
}

struct cal_ctx {
	unsigned obj;
	uint64_t expect;
	struct hl_state *out;
	struct hl_replay_err *err;
};

static int cal_visit(const struct hl_rec *r, void *arg)
{
	struct cal_ctx *c = arg;

	if (r->seq != c->expect)
		return fail(c->err, HL_RP_BAD_LOG, c->obj, r->seq, r->op, "sequence gap: expected %llu, found %llu",
			    (unsigned long long)c->expect, (unsigned long long)r->seq);
	if (r->obj != c->obj)
		return fail(c->err, HL_RP_BAD_LOG, c->obj, r->seq, r->op, "record for object %u in this log", r->obj);
	if (hl_state_apply(c->out, c->obj, r))
		return fail(c->err, HL_RP_BAD_LOG, c->obj, r->seq, r->op, "delta outside the object image");
	c->expect++;
	return 0;
}

/* a walk met a torn record (hl_seg_rec_len): report it, never trust its length */
static int torn_fail(struct hl_replay_err *err, unsigned obj, const struct hl_log_torn *t)
{
	return fail(err, HL_RP_BAD_LOG, obj, 0, 0,
		    "torn log: the record at byte %u of segment %llu has length %u (the segment holds %u "
		    "bytes; a record is %zu..%u bytes, a multiple of 8)",
		    t->off, (unsigned long long)t->seg, t->len, t->used, sizeof(struct hl_rec), HL_REC_MAX);
}

/* The Cal<Obj> loop: hl_log_base_foreach with cal_visit's fast path inlined (no indirect
 * call per record). Any record that fails a check goes through cal_visit, which reports it
 * exactly as before (re-applying a prefix of a record's deltas writes the same bytes). */
static int cal_walk(const struct hl_log_base *b, struct cal_ctx *c)
{
	uint64_t expect = c->expect, idx = 0;

	if (c->obj >= HL_ID_END) {
		/* a shard: its deltas are routed into the parent's image (hl_state_apply) */
		struct hl_log_torn t;
		int rc = hl_log_base_walk(b, cal_visit, c, &t);
		return rc == HL_LOG_TORN ? torn_fail(c->err, c->obj, &t) : rc;
	}
	uint8_t *img = c->out->img[c->obj].base;
	size_t size = c->out->img[c->obj].size;

	for (const struct hl_seg *sg = b->head, *next; sg; sg = next, idx++) {
		/* `next` before `used` (see hl_log_base_foreach): nothing is missed beside writers */
		next = hl_seg_next(sg);
		uint32_t used = hl_seg_used(sg);
		for (uint32_t off = 0; off < used;) {
			const struct hl_rec *r = (const struct hl_rec *)(sg->data + off);
			uint32_t len = hl_seg_rec_len(sg, off, used);
			if (!len) {
				struct hl_log_torn t = { idx, off, used - off >= sizeof(*r) ? r->len : 0, used };
				return torn_fail(c->err, c->obj, &t);
			}
			if (r->seq != expect || r->obj != c->obj || hl_apply_deltas(img, size, r)) {
				int rc;
				c->expect = expect;
				if ((rc = cal_visit(r, c)) != 0)
					return rc;
				expect = c->expect;
				off += len;
				continue;
			}
			expect++;
			off += len;
		}
	}
	c->expect = expect;
	return 0;
}

int hl_cal_obj(struct hl_engine *e, unsigned obj, struct hl_state *out, struct hl_replay_err *err)
{
	struct cal_ctx c = { .obj = obj, .out = out, .err = err };
	int rc;

	if (err)
		err->code = 0;
	out->ref = &e->ref;   /* the run's shards (out must not outlive e for writes) */
	out->kcore = &e->cfg.kcore;   /* s2page's initial image: KCore's ranges (issue 12) */
	if (obj == 0 || obj >= HL_OBJ_END || !hl_engine_has_obj(e, obj))
		return fail(err, HL_RP_BAD_LOG, obj, 0, 0, "no object %u in this run", obj);
	hl_rcu_reader_ensure();
	hl_rcu_read_lock();
	{
		const struct hl_log_base *b = hl_log_base_get(&e->logs[obj]);
		rc = load_base(b, obj, out, &c.expect, err);
		if (!rc)
			rc = cal_walk(b, &c);
	}
	hl_rcu_read_unlock();
	return rc;
}

int hl_cal_all(struct hl_engine *e, struct hl_state *out, struct hl_replay_err *err)
{
	/* ascending: an abstract object (its initial image) before its shards */
	for (unsigned id = 1; id < HL_OBJ_END; id++) {
		if (!hl_engine_has_obj(e, id))
			continue;
		int rc = hl_cal_obj(e, id, out, err);
		if (rc)
			return rc;
	}
	return 0;
}

int hl_state_first_diff(const struct hl_state *a, const struct hl_state *b, size_t *off)
{
	for (unsigned id = 1; id < HL_ID_END; id++) {
		if (memcmp(a->img[id].base, b->img[id].base, a->img[id].size) == 0)
			continue;
		for (size_t i = 0; i < a->img[id].size; i++)
			if (a->img[id].base[i] != b->img[id].base[i]) {
				if (off)
					*off = i;
				break;
			}
		return (int)id;
	}
	return -1;
}

/* ---- the operation graph ------------------------------------------------------------- */
struct opnode {
	uint64_t op;
	const struct hl_rec *rec[HL_MAX_STAGES];
	uint8_t nfound, nrec;   /* nrec <= HL_MAX_STAGES (72) fits a byte */
	uint32_t indeg;
	uint32_t edge_first, nedge;   /* CSR slice of successors */
};

struct graph {
	struct opnode *n;
	size_t nn, cap;
	uint32_t *ht;                 /* op -> node index + 1 */
	uint64_t *htop;               /* the op of each used ht slot: probes never touch nodes */
	size_t htcap;
	struct { uint32_t from, to; } *ev;
	size_t ne, ecap;
	uint32_t *succ;
	/* per object: node index of each record, in seq order */
	uint32_t *objnode[HL_OBJ_END];
	const struct hl_rec **objrec[HL_OBJ_END];
	size_t objn[HL_OBJ_END], objcap[HL_OBJ_END];
	uint64_t first_seq[HL_OBJ_END];
	const struct hl_log_base *base[HL_OBJ_END];  /* one consistent view per log (NULL: no object) */
};

static uint32_t ht_find(struct graph *g, uint64_t op, bool insert)
{
	size_t mask = g->htcap - 1, h = (size_t)((op * 0x9E3779B97F4A7C15ull) >> 17) & mask;

	for (;; h = (h + 1) & mask) {
		if (g->ht[h] == 0) {
			size_t zsz = sizeof(g->n[0]);
			if (!insert)
				return UINT32_MAX;
			if (g->nn == g->cap) {
				size_t nc = g->cap ? g->cap * 2 : 1024;
				struct opnode *nn = realloc(g->n, nc * sizeof(*nn));
				if (!nn)
					return UINT32_MAX;
				g->n = nn;
				g->cap = nc;
			}
			/* opaque size: a libc memset, not an inline `rep stos` (~40 ns start-up) */
			__asm__("" : "+r"(zsz));
			memset(&g->n[g->nn], 0, zsz);
			g->n[g->nn].op = op;
			g->htop[h] = op;
			g->ht[h] = (uint32_t)++g->nn;
			return (uint32_t)(g->nn - 1);
		}
		if (g->htop[h] == op)
			return g->ht[h] - 1;
	}
}

static int add_edge(struct graph *g, uint32_t from, uint32_t to)
{
	if (from == to)
		return 0;
	if (g->ne == g->ecap) {
		size_t nc = g->ecap ? g->ecap * 2 : 4096;
		void *ne = realloc(g->ev, nc * sizeof(g->ev[0]));
		if (!ne)
			return -1;
		g->ev = ne;
		g->ecap = nc;
	}
	g->ev[g->ne].from = from;
	g->ev[g->ne].to = to;
	g->ne++;
	return 0;
}

struct gather_ctx {
	struct graph *g;
	unsigned obj;
	uint64_t expect;
	struct hl_replay_err *err;
};

static int gather_visit(const struct hl_rec *r, void *arg)
{
	struct gather_ctx *c = arg;
	struct graph *g = c->g;
	unsigned o = c->obj;

	if (r->seq != c->expect)
		return fail(c->err, HL_RP_BAD_LOG, o, r->seq, r->op, "sequence gap: expected %llu, found %llu",
			    (unsigned long long)c->expect, (unsigned long long)r->seq);
	c->expect++;
	if (g->objn[o] == g->objcap[o]) {
		size_t nc = g->objcap[o] ? g->objcap[o] * 2 : 256;
		const struct hl_rec **nr = realloc(g->objrec[o], nc * sizeof(*nr));
		if (!nr)
			return HL_RP_NOMEM;
		g->objrec[o] = nr;
		g->objcap[o] = nc;
	}
	g->objrec[o][g->objn[o]++] = r;
	return 0;
}

static void graph_free(struct graph *g)
{
	free(g->n);
	free(g->ht);
	free(g->htop);
	free(g->ev);
	free(g->succ);
	for (unsigned o = 0; o < HL_OBJ_END; o++) {
		free(g->objnode[o]);
		free(g->objrec[o]);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* build the op graph over every log; caller holds the RCU read lock */
static int graph_build(struct hl_engine *e, struct graph *g, struct hl_replay_err *err)
{
	size_t total = 0;
	int rc;

	memset(g, 0, sizeof(*g));
	for (unsigned o = 1; o < HL_OBJ_END; o++) {
		struct gather_ctx c = { .g = g, .obj = o, .err = err };
		if (!hl_engine_has_obj(e, o))
			continue;
		g->base[o] = hl_log_base_get(&e->logs[o]);
		g->first_seq[o] = c.expect = g->base[o]->first_seq;
		struct hl_log_torn t;
		rc = hl_log_base_walk(g->base[o], gather_visit, &c, &t);
		if (rc == HL_LOG_TORN)
			return torn_fail(err, o, &t);
		if (rc)
			return rc == HL_RP_NOMEM ? fail(err, HL_RP_NOMEM, o, 0, 0, "out of memory") : rc;
		total += g->objn[o];
	}
	g->htcap = 1024;
	while (g->htcap < total * 2 + 2)
		g->htcap *= 2;
	g->ht = calloc(g->htcap, sizeof(*g->ht));
	g->htop = malloc(g->htcap * sizeof(*g->htop));
	/* at most one node per record: size the node array once instead of doubling it */
	g->cap = total + 1;
	g->n = malloc(g->cap * sizeof(*g->n));
	if (!g->ht || !g->htop || !g->n)
		return fail(err, HL_RP_NOMEM, 0, 0, 0, "out of memory");

	/* nodes, and the order of each object log */
	for (unsigned o = 1; o < HL_OBJ_END; o++) {
		if (!g->base[o])
			continue;
		g->objnode[o] = malloc((g->objn[o] + 1) * sizeof(uint32_t));
		if (!g->objnode[o])
			return fail(err, HL_RP_NOMEM, o, 0, 0, "out of memory");
		for (size_t i = 0; i < g->objn[o]; i++) {
			const struct hl_rec *r = g->objrec[o][i];
			uint32_t ni = ht_find(g, r->op, true);
			struct opnode *n;
			if (ni == UINT32_MAX)
				return fail(err, HL_RP_NOMEM, o, 0, 0, "out of memory");
			n = &g->n[ni];
			if (n->nfound == HL_MAX_STAGES || (n->nfound && n->nrec != r->nrec) ||
			    r->nrec == 0 || r->nrec > HL_MAX_STAGES)
				return fail(err, HL_RP_BAD_LOG, o, r->seq, r->op,
					    "operation has inconsistent record counts");
			n->rec[n->nfound++] = r;
			n->nrec = r->nrec;
			g->objnode[o][i] = ni;
			if (i && add_edge(g, g->objnode[o][i - 1], ni))
				return fail(err, HL_RP_NOMEM, o, 0, 0, "out of memory");
		}
	}
	/* readers go between the write they saw and the next write */
	for (size_t ni = 0; ni < g->nn; ni++) {
		const struct hl_rec *r = g->n[ni].rec[0];
		const struct hl_rdep *rd = hl_rec_rdeps(r);
		for (unsigned k = 0; k < r->nlock; k++) {
			unsigned o = rd[k].obj;
			uint64_t seq = rd[k].seq, first = g->first_seq[o < HL_OBJ_END ? o : 0];
			if (o == 0 || o >= HL_OBJ_END || !g->base[o])
				return fail(err, HL_RP_BAD_LOG, r->obj, r->seq, r->op, "read dependency on object %u", o);
			if (!hl_rdep_is_read(&rd[k]))
				continue;   /* a written object: ordered by its own record */
			if (seq >= first && seq - first < g->objn[o] &&
			    add_edge(g, g->objnode[o][seq - first], (uint32_t)ni))
				return HL_RP_NOMEM;
			if (seq + 1 >= first && seq + 1 - first < g->objn[o] &&
			    add_edge(g, (uint32_t)ni, g->objnode[o][seq + 1 - first]))
				return HL_RP_NOMEM;
		}
	}
	/* program order: a CPU's operation IDs increase */
	{
		uint64_t *ops = malloc(g->nn * sizeof(*ops));
		if (!ops && g->nn)
			return fail(err, HL_RP_NOMEM, 0, 0, 0, "out of memory");
		for (size_t i = 0; i < g->nn; i++)
			ops[i] = g->n[i].op;
		qsort(ops, g->nn, sizeof(*ops), cmp_u64);
		for (size_t i = 1; i < g->nn; i++)
			if (HL_OP_CPU(ops[i]) == HL_OP_CPU(ops[i - 1]) &&
			    add_edge(g, ht_find(g, ops[i - 1], false), ht_find(g, ops[i], false))) {
				free(ops);
				return HL_RP_NOMEM;
			}
		free(ops);
	}
	/* CSR */
	g->succ = malloc((g->ne + 1) * sizeof(*g->succ));
	if (!g->succ)
		return fail(err, HL_RP_NOMEM, 0, 0, 0, "out of memory");
	for (size_t i = 0; i < g->ne; i++) {
		g->n[g->ev[i].from].nedge++;
		g->n[g->ev[i].to].indeg++;
	}
	for (size_t i = 0, acc = 0; i < g->nn; i++) {
		g->n[i].edge_first = (uint32_t)acc;
		acc += g->n[i].nedge;
		g->n[i].nedge = 0;
	}
	for (size_t i = 0; i < g->ne; i++) {
		struct opnode *f = &g->n[g->ev[i].from];
		g->succ[f->edge_first + f->nedge++] = g->ev[i].to;
	}
	return 0;
}

/* Kahn's algorithm; on a cycle, describes a few of the operations left over */
static int graph_order(struct graph *g, uint32_t **order_out, struct hl_replay_err *err)
{
	uint32_t *order = malloc((g->nn + 1) * sizeof(*order));
	size_t head = 0, tail = 0;

	if (!order)
		return fail(err, HL_RP_NOMEM, 0, 0, 0, "out of memory");
	for (size_t i = 0; i < g->nn; i++)
		if (g->n[i].indeg == 0)
			order[tail++] = (uint32_t)i;
	while (head < tail) {
		struct opnode *n = &g->n[order[head++]];
		for (uint32_t k = 0; k < n->nedge; k++)
			if (--g->n[g->succ[n->edge_first + k]].indeg == 0)
				order[tail++] = g->succ[n->edge_first + k];
	}
	if (tail != g->nn) {
		char buf[200] = "";
		size_t len = 0;
		unsigned shown = 0;
		uint64_t first_op = 0;
		unsigned first_obj = 0;
		for (size_t i = 0; i < g->nn && shown < 4; i++) {
			if (g->n[i].indeg == 0)
				continue;
			if (!shown) {
				first_op = g->n[i].op;
				first_obj = g->n[i].rec[0]->obj;
			}
			char ob[24];
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s op %u:%llu on %s",
						shown ? "," : "", HL_OP_CPU(g->n[i].op),
						(unsigned long long)(g->n[i].op & 0xFFFFFFFFFFFFull),
						hl_obj_name(g->n[i].rec[0]->obj, ob, sizeof(ob)));
			if (len >= sizeof(buf))
				break;
			shown++;
		}
		free(order);
		return fail(err, HL_RP_CYCLE, first_obj, 0, first_op,
			    "no linearization: %zu operations on a cycle:%s", g->nn - tail, buf);
	}
	*order_out = order;
	return 0;
}

int hl_linearize(struct hl_engine *e, uint64_t **ops, size_t *nops, struct hl_replay_err *err)
{
	struct graph g;
	uint32_t *order = NULL;
	int rc;

	hl_rcu_reader_ensure();
	hl_rcu_read_lock();
	rc = graph_build(e, &g, err);
	if (!rc)
		rc = graph_order(&g, &order, err);
	if (!rc) {
		*ops = malloc((g.nn + 1) * sizeof(**ops));
		if (!*ops)
			rc = fail(err, HL_RP_NOMEM, 0, 0, 0, "out of memory");
		for (size_t i = 0; !rc && i < g.nn; i++)
			(*ops)[i] = g.n[order[i]].op;
		*nops = g.nn;
	}
	hl_rcu_read_unlock();
	free(order);
	graph_free(&g);
	return rc;
}

/* compare a re-executed step with the records it must have produced */
static int check_reexec(struct hl_step *s, int rc, const struct opnode *n, struct hl_replay_err *err)
{
	const struct hl_rec *r0 = n->rec[0];
	char ob[24];

	if (rc < 0)
		return fail(err, HL_RP_BAD_LOG, r0->obj, r0->seq, r0->op, "%s: arguments rejected (%s)",
			    hl_event_name(r0->event), hl_status_str(rc));
	for (unsigned i = 0; i < n->nfound; i++) {
		const struct hl_rec *r = n->rec[i];
		struct hl_stage *st = NULL;
		const uint8_t *d = (const uint8_t *)hl_rec_first_delta(r);
		size_t dlen = (size_t)((const uint8_t *)r + r->len - d);

		if ((rc == HL_HALT) != (r->result == HL_RES_HALT))
			return fail(err, HL_RP_MISMATCH, r->obj, r->seq, r->op,
				    "%s by cpu %u: re-execution %s, record says %s", hl_event_name(r->event),
				    r->cpu, rc == HL_HALT ? "halts" : "does not halt",
				    r->result == HL_RES_HALT ? "halt" : "ok");
		if (s->ret != r->ret)
			return fail(err, HL_RP_MISMATCH, r->obj, r->seq, r->op,
				    "%s: re-execution returns %llu, record says %llu", hl_event_name(r->event),
				    (unsigned long long)s->ret, (unsigned long long)r->ret);
		for (unsigned k = 0; k < s->w.nstages; k++)
			if (s->w.stages[k].obj == r->obj && s->w.stages[k].touched)
				st = &s->w.stages[k];
		if (!st && r->ndelta == 0)
			continue;
		if (!st || st->ndelta != r->ndelta || st->used != dlen || memcmp(st->buf, d, dlen) != 0)
			return fail(err, HL_RP_MISMATCH, r->obj, r->seq, r->op,
				    "%s by cpu %u: re-executed delta on %s differs from record seq %llu",
				    hl_event_name(r->event), r->cpu, hl_obj_name(r->obj, ob, sizeof(ob)),
				    (unsigned long long)r->seq);
	}
	/* and nothing beyond what was recorded */
	for (unsigned k = 0; k < s->w.nstages; k++) {
		bool have = false;
		if (!s->w.stages[k].touched)
			continue;
		for (unsigned i = 0; i < n->nfound; i++)
			have |= n->rec[i]->obj == s->w.stages[k].obj;
		if (!have)
			return fail(err, HL_RP_MISMATCH, s->w.stages[k].obj, 0, r0->op,
				    "%s by cpu %u: re-execution changes %s, which has no record",
				    hl_event_name(r0->event), r0->cpu,
				    hl_obj_name(s->w.stages[k].obj, ob, sizeof(ob)));
	}
	return 0;
}

int hl_calstateh(struct hl_engine *e, struct hl_state *out, struct hl_calh_stats *stats,
		 struct hl_replay_err *err)
{
	struct graph g;
	uint32_t *order = NULL;
	struct hl_stage *stages = NULL;
	uint64_t snap_seq[HL_OBJ_END] = { 0 };
	uint8_t halted[256] = { 0 };
	int rc;

	if (err)
		err->code = 0;
	if (stats)
		memset(stats, 0, sizeof(*stats));
	out->ref = &e->ref;   /* re-execution routes its writes to the run's shards */
	out->kcore = &e->cfg.kcore;   /* s2page's initial image: KCore's ranges (issue 12) */
	hl_rcu_reader_ensure();
	hl_rcu_read_lock();
	rc = graph_build(e, &g, err);
	if (!rc)
		rc = graph_order(&g, &order, err);
	for (unsigned o = 1; !rc && o < HL_OBJ_END; o++) {
		uint64_t next = 1;
		if (!g.base[o])
			continue;   /* ascending: an abstract object's initial image before its shards */
		rc = load_base(g.base[o], o, out, &next, err);
		snap_seq[o] = next - 1;
	}
	if (!rc && !(stages = malloc(sizeof(*stages) * HL_MAX_STAGES)))
		rc = fail(err, HL_RP_NOMEM, 0, 0, 0, "out of memory");
	for (size_t i = 0; !rc && i < g.nn; i++) {
		struct opnode *n = &g.n[order[i]];
		const struct hl_rec *r0 = n->rec[0];
		const struct hl_rdep *rd = hl_rec_rdeps(r0);
		bool reads_ok = true;

		/* after a halt only the steps nested in the halting one may follow (verify) */
		if (halted[r0->cpu] && !(r0->flags & HL_RF_NESTED))
			rc = fail(err, HL_RP_BAD_LOG, r0->obj, r0->seq, r0->op,
				  "cpu %u ran %s after it halted", r0->cpu, hl_event_name(r0->event));
		for (unsigned k = 0; !rc && k < r0->nlock; k++)
			reads_ok &= !hl_rdep_is_read(&rd[k]) || rd[k].seq >= snap_seq[rd[k].obj];
		if (rc)
			break;
		if (n->nfound == n->nrec && reads_ok) {
			/* a whole step after every checkpoint it depends on: run it again */
			struct hl_step s;
			hl_step_replay_init(&s, out, r0, stages);
			rc = check_reexec(&s, hl_trans_exec(&s), n, err);
			if (stats)
				stats->reexecuted++;
		} else {
			/* straddles a checkpoint: its effect before the cut is in the snapshots */
			for (unsigned k = 0; k < n->nfound && !rc; k++)
				if (hl_state_apply(out, n->rec[k]->obj, n->rec[k]))
					rc = fail(err, HL_RP_BAD_LOG, n->rec[k]->obj, n->rec[k]->seq, n->rec[k]->op,
						  "delta outside the object image");
			if (stats)
				stats->delta_applied++;
		}
		if (r0->result == HL_RES_HALT)
			halted[r0->cpu] = 1;
		if (stats)
			stats->records += n->nfound;
	}
	if (stats) {
		stats->ops = g.nn;
		stats->edges = g.ne;
	}
	hl_rcu_read_unlock();
	free(stages);
	free(order);
	graph_free(&g);
	return rc;
}

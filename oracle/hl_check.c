/*
 * hl_check.c - SPEC §10's oracles over a parsed log (see hl_check.h).
 *
 * Everything here is written from the SPEC and the file format: the lock order of §4,
 * Cal<Obj> (apply each record's deltas to its object's image), the operation graph and
 * its linearization. The replay pass walks that linearization with two states:
 *
 *   B  the byte state: each object's start image (seq-0 image, or the snapshot at its
 *      cut) with the records applied in linearization order. Because the order respects
 *      every log, B's object O at an operation's turn is Cal<O> at the seq it saw.
 *   M  the model (hl_model.h), started from the abstraction of B and advanced by
 *      re-executing each operation with its own transitions.
 *
 * After each operation the entries the model changed and the entries the records' deltas
 * touched ("facts") are compared between M and B, and the security invariants are checked
 * on the same entries. An operation that straddles a checkpoint cut (a record or a read
 * before a snapshot) cannot be re-executed: its deltas are applied to B and M is
 * re-synchronised at the touched entries.
 */
#include "hl_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hl_model.h"
#include "hl_olog.h"
#include "hl_types.h"

/* independence (issue 10): no engine header may reach this file */
#if defined(HL_ENGINE_H) || defined(HL_STATE_H) || defined(HL_REPLAY_H) || defined(HL_LOCK_H) || \
	defined(HL_PGTABLE_H) || defined(HL_LOG_H) || defined(HL_FILE_H) || defined(HL_TRANS_H)
#error "oracle/hl_check.c must not depend on engine headers"
#endif

#define PG HL_PAGE_SIZE
/* an SMMU bank's root: a 40-bit input starts at level 1 with 1024 entries, two
 * concatenated 4 KiB tables (Arm ARM D8.2.6); the spt image is [meta][16 x 2 root pages]... */
#define SPT_ROOT_PAGES 2u
#define OPMASK 0xFFFFFFFFFFFFull

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
	case HL_REL_INIT: return "init_state";
	default: return "error";
	}
}

/* SPEC §4: smmu -> vminfo(v) -> core -> s2page -> { npt(host), npt(v), npt(COREVISOR), spt };
 * two locks of one class in ascending ID order. Extended by the refinement (DESIGN2.md): a
 * shard takes its SPEC object's position (from the file's map), a residual comes before
 * its shards, and shards of one object are taken in ascending ID (= ascending address). */
static uint64_t lock_rank(const struct hl_olog *lg, unsigned lid)
{
	unsigned cls, id = hl_olog_parent(lg, lid);

	if (id == HL_SMMU_ID)
		cls = 0;
	else if (id >= HL_INFO_ID && id < HL_ID_END)
		cls = 1;
	else if (id == HL_CORE_ID)
		cls = 2;
	else if (id == HL_S2PAGE_ID)
		cls = 3;
	else
		cls = 4;
	return (uint64_t)cls << 40 | (uint64_t)id << 20 | (id == lid ? 0u : 1u + lid);
}

static const char *oname(unsigned id, char *buf)
{
	return hl_olog_obj_name(id, buf, 24);
}

/* ---- context -------------------------------------------------------------------------- */
struct opn {
	uint64_t op;
	const struct hl_rec **rec;        /* its records (object order), in chk.pool */
	uint32_t nfound;
	uint8_t nrec;
};

struct chk {
	const struct hl_olog *lg;
	struct hl_verdict *v;
	unsigned ncpus;
	unsigned no;                      /* lock objects: IDs 1 .. no - 1 (the file's id_end) */
	uint64_t nrecs;
	uint64_t *cut;                    /* [no] seq of the snapshot the log starts after (0: none) */
	bool any_cut;
	/* operation index */
	struct opn *ops;
	size_t nops, opcap;
	uint32_t *ht;
	size_t htcap;
	uint32_t **node;                  /* [no] per record: its operation */
	const struct hl_rec **pool;       /* every record, grouped by operation */
	uint32_t *prog;                   /* operations sorted by op id (CPU, then program order) */
	bool indexed;
	size_t consistent_from;           /* linearization index where the consistent part starts */
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

/* the record at (obj, seq) of the log, or NULL (by position: H_CalLock checked the seqs) */
static const struct hl_rec *rec_at(const struct chk *k, unsigned obj, uint64_t seq)
{
	const struct hl_olog_obj *ob;

	if (obj == 0 || obj >= k->no)
		return NULL;
	ob = &k->lg->obj[obj];
	if (seq < ob->first_seq || seq - ob->first_seq >= ob->n)
		return NULL;
	return ob->rec[seq - ob->first_seq];
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
	if (r && r->obj > 0 && r->obj < k->no) {
		/* the culprit and its neighbours in its log (found by position: its seq may lie) */
		const struct hl_olog_obj *ob = &k->lg->obj[r->obj];
		size_t i = 0, n = ob->n;
		if (rec_at(k, r->obj, r->seq) == r)
			i = r->seq - ob->first_seq;
		else
			while (i < n && ob->rec[i] != r)
				i++;
		if (i < n)
			for (size_t j = i >= 2 ? i - 2 : 0; j < n && j <= i + 2; j++)
				ctx_add(v, ob->rec[j], j == i);
		else
			ctx_add(v, r, true);
	}
	return 1;
}

static int internal(struct chk *k, const char *fmt, ...)
{
	va_list ap;

	memset(k->v, 0, sizeof(*k->v));
	k->v->rel = HL_REL_ERROR;
	k->v->obj = HL_VERDICT_NO_OBJ;
	k->v->cpu = -1;
	va_start(ap, fmt);
	vsnprintf(k->v->what, sizeof(k->v->what), fmt, ap);
	va_end(ap);
	return -1;
}

static int chk_init(struct chk *k, const struct hl_olog *lg, struct hl_verdict *v)
{
	memset(k, 0, sizeof(*k));
	k->lg = lg;
	k->v = v;
	k->ncpus = lg->ncpus;
	k->no = lg->id_end;
	memset(v, 0, sizeof(*v));
	v->obj = HL_VERDICT_NO_OBJ;
	v->cpu = -1;
	k->cut = calloc(k->no, sizeof(*k->cut));
	k->node = calloc(k->no, sizeof(*k->node));
	if (!k->cut || !k->node)
		return internal(k, "out of memory");
	/* the refinement map is the first thing the lock discipline rests on */
	if (lg->map_bad)
		return violation(k, HL_REL_CALLOCK, NULL, 0, HL_VERDICT_NO_OBJ, "a refinement of the SPEC objects",
				 "a map that is not one", "refinement map (file offset %llu): %s",
				 (unsigned long long)lg->map_err_off, lg->map_err);
	for (unsigned o = 1; o < k->no; o++) {
		const struct hl_olog_obj *ob = &lg->obj[o];
		/* a snapshot at seq 0 is the object's initial image (logs collected from the EL2
		 * image start their tables from real pool PAs), not a cut */
		k->cut[o] = ob->snap ? ob->snap_seq : 0;
		k->any_cut |= k->cut[o] > 0;
		k->nrecs += ob->n;
	}
	return 0;
}

static void chk_free(struct chk *k)
{
	for (unsigned o = 0; k->node && o < k->no; o++)
		free(k->node[o]);
	free(k->node);
	free(k->cut);
	free(k->ops);
	free(k->pool);
	free(k->ht);
	free(k->prog);
}

/* the image a log starts from: its snapshot, or the seq-0 image */
static const uint8_t *start_image(const struct chk *k, unsigned o)
{
	const struct hl_olog_obj *ob = &k->lg->obj[o];
	return ob->snap ? ob->snap : ob->init;
}

static uint32_t op_find(struct chk *k, uint64_t op, bool insert)
{
	size_t mask = k->htcap - 1, h = (size_t)((op * 0x9E3779B97F4A7C15ull) >> 20) & mask;

	for (;; h = (h + 1) & mask) {
		if (!k->ht[h]) {
			if (!insert || k->nops == k->opcap)
				return UINT32_MAX;
			memset(&k->ops[k->nops], 0, sizeof(k->ops[0]));
			k->ops[k->nops].op = op;   /* records attached by chk_index */
			k->ht[h] = (uint32_t)++k->nops;
			return (uint32_t)(k->nops - 1);
		}
		if (k->ops[k->ht[h] - 1].op == op)
			return k->ht[h] - 1;
	}
}

/* LSD radix sort of operation indices by op id, 16-bit digits, skipping constant digits */
static int sort_prog(struct chk *k)
{
	size_t n = k->nops;
	uint32_t *a = malloc((n + 1) * sizeof(*a)), *b = malloc((n + 1) * sizeof(*b));
	size_t *cnt = malloc(65536 * sizeof(*cnt));
	uint64_t all_or = 0, all_and = ~0ull;

	if (!a || !b || !cnt) {
		free(a);
		free(b);
		free(cnt);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		a[i] = (uint32_t)i;
		all_or |= k->ops[i].op;
		all_and &= k->ops[i].op;
	}
	for (unsigned sh = 0; sh < 64; sh += 16) {
		uint32_t *t;
		size_t acc = 0;
		if ((((all_or ^ all_and) >> sh) & 0xFFFF) == 0)
			continue;   /* every key has the same digit here */
		memset(cnt, 0, 65536 * sizeof(*cnt));
		for (size_t i = 0; i < n; i++)
			cnt[(k->ops[a[i]].op >> sh) & 0xFFFF]++;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = cnt[d];
			cnt[d] = acc;
			acc += c;
		}
		for (size_t i = 0; i < n; i++)
			b[cnt[(k->ops[a[i]].op >> sh) & 0xFFFF]++] = a[i];
		t = a;
		a = b;
		b = t;
	}
	free(b);
	free(cnt);
	k->prog = a;
	return 0;
}

/*
 * Operation ids are (cpu << 48) | a per-CPU counter: in a well-formed log each CPU's
 * counters are dense, so operations are indexed by a direct table per CPU, in program
 * order, with no hashing or sorting. A log whose ids are not dense (a broken one) falls
 * back to a hash table and a radix sort.
 */
static int index_direct(struct chk *k, const uint64_t *opv)
{
	uint64_t lo[HL_NR_CPUS], hi[HL_NR_CPUS], span = 0, base[HL_NR_CPUS], *bits;
	uint32_t *rank;
	size_t nw, g;

	for (unsigned c = 0; c < HL_NR_CPUS; c++) {
		lo[c] = UINT64_MAX;
		hi[c] = 0;
	}
	for (size_t i = 0; i < k->nrecs; i++) {
		uint64_t ctr = opv[i] & OPMASK;
		unsigned c = HL_OP_CPU(opv[i]);
		if (c >= HL_NR_CPUS)
			return 1;
		if (ctr < lo[c])
			lo[c] = ctr;
		if (ctr > hi[c])
			hi[c] = ctr;
	}
	for (unsigned c = 0; c < HL_NR_CPUS; c++) {
		base[c] = span;
		if (lo[c] != UINT64_MAX)
			span += hi[c] - lo[c] + 1;
	}
	/* steps that log nothing (refused, read-only) use ids too: a bitmap of the ids in use
	 * and a rank per 64-bit word turn an id into its index */
	if (span > 64 * (uint64_t)k->nrecs + 65536)
		return 1;
	nw = (size_t)(span / 64 + 1);
	bits = calloc(nw, sizeof(*bits));
	rank = malloc(nw * sizeof(*rank));
	k->ops = malloc((k->nrecs + 1) * sizeof(*k->ops));
	if (!bits || !rank || !k->ops) {
		free(bits);
		free(rank);
		return -1;
	}
	for (size_t i = 0; i < k->nrecs; i++) {
		uint64_t x = base[HL_OP_CPU(opv[i])] + (opv[i] & OPMASK) - lo[HL_OP_CPU(opv[i])];
		bits[x / 64] |= 1ull << (x % 64);
	}
	k->nops = 0;
	for (size_t w = 0; w < nw; w++) {
		rank[w] = (uint32_t)k->nops;
		k->nops += (size_t)__builtin_popcountll(bits[w]);
	}
	/* ids in index order: CPU by CPU, counters ascending */
	for (unsigned c = 0; c < HL_NR_CPUS; c++)
		if (lo[c] != UINT64_MAX)
			for (uint64_t x = base[c]; x < base[c] + (hi[c] - lo[c] + 1); x++)
				if (bits[x / 64] >> (x % 64) & 1) {
					uint64_t r = rank[x / 64] + (uint64_t)__builtin_popcountll(bits[x / 64] & ((1ull << (x % 64)) - 1));
					k->ops[r].op = (uint64_t)c << 48 | (lo[c] + (x - base[c]));
				}
	g = 0;
	for (unsigned o = 1; o < k->no; o++)
		for (size_t i = 0; i < k->lg->obj[o].n; i++, g++) {
			uint64_t x = base[HL_OP_CPU(opv[g])] + (opv[g] & OPMASK) - lo[HL_OP_CPU(opv[g])];
			k->node[o][i] = rank[x / 64] + (uint32_t)__builtin_popcountll(bits[x / 64] & ((1ull << (x % 64)) - 1));
		}
	free(bits);
	free(rank);
	/* program order is index order */
	k->prog = malloc((k->nops + 1) * sizeof(*k->prog));
	if (!k->prog)
		return -1;
	for (size_t i = 0; i < k->nops; i++)
		k->prog[i] = (uint32_t)i;
	return 0;
}

static int index_hash(struct chk *k, const uint64_t *opv)
{
	size_t g = 0;

	k->opcap = k->nrecs + 1;
	k->htcap = 64;
	while (k->htcap < k->opcap * 2)
		k->htcap *= 2;
	free(k->ops);
	k->ops = malloc(k->opcap * sizeof(*k->ops));
	k->ht = calloc(k->htcap, sizeof(*k->ht));
	if (!k->ops || !k->ht)
		return -1;
	k->nops = 0;
	for (unsigned o = 1; o < k->no; o++)
		for (size_t i = 0; i < k->lg->obj[o].n; i++) {
			uint32_t ni = op_find(k, opv[g++], true);
			if (ni == UINT32_MAX)
				return -1;
			k->node[o][i] = ni;
		}
	return sort_prog(k);
}

/* index records by operation, and operations by program order */
static int chk_index(struct chk *k)
{
	size_t acc = 0, g = 0;
	uint64_t *opv;
	uint8_t *nrv;
	int rc;

	if (k->indexed)
		return 0;
	/* one pass over the record headers; the rest reads these compact columns */
	opv = malloc((k->nrecs + 1) * sizeof(*opv));
	nrv = malloc(k->nrecs + 1);
	if (!opv || !nrv) {
		free(opv);
		free(nrv);
		return internal(k, "out of memory indexing operations");
	}
	for (unsigned o = 1; o < k->no; o++) {
		k->node[o] = malloc((k->lg->obj[o].n + 1) * sizeof(uint32_t));
		if (!k->node[o]) {
			free(opv);
			free(nrv);
			return internal(k, "out of memory indexing operations");
		}
		for (size_t i = 0; i < k->lg->obj[o].n; i++, g++) {
			opv[g] = k->lg->obj[o].rec[i]->op;
			nrv[g] = k->lg->obj[o].rec[i]->nrec;
		}
	}
	rc = index_direct(k, opv);
	if (rc > 0)
		rc = index_hash(k, opv);
	free(opv);
	if (rc) {
		free(nrv);
		return internal(k, "out of memory indexing operations");
	}
	/* group the records by operation (a counting sort) */
	k->pool = malloc((k->nrecs + 1) * sizeof(*k->pool));
	if (!k->pool)
		return internal(k, "out of memory indexing operations");
	for (size_t i = 0; i < k->nops; i++)
		k->ops[i].nfound = 0;
	for (unsigned o = 1; o < k->no; o++)
		for (size_t i = 0; i < k->lg->obj[o].n; i++)
			k->ops[k->node[o][i]].nfound++;
	for (size_t i = 0; i < k->nops; i++) {
		k->ops[i].rec = k->pool + acc;
		acc += k->ops[i].nfound;
		k->ops[i].nfound = 0;
	}
	g = 0;
	for (unsigned o = 1; o < k->no; o++)
		for (size_t i = 0; i < k->lg->obj[o].n; i++, g++) {
			struct opn *n = &k->ops[k->node[o][i]];
			n->rec[n->nfound++] = k->lg->obj[o].rec[i];
			n->nrec = nrv[g];
		}
	free(nrv);
	k->indexed = true;
	return 0;
}

/* ===================================================================================== */
/* H_CalLock                                                                                */

/* what each event carries (SPEC §6 and shared/hl_record.h): its arguments, whether it has a
 * data-oracle value and a blob; everything else in a record must be zero */
#define SH_DORC 0x10u
#define SH_BLOB 0x20u
static const uint8_t ev_shape[HL_EV__COUNT] = {
	[HL_EV_MAP_HOST] = 1,
	[HL_EV_CLEAR_VM] = 2,
	[HL_EV_ASSIGN_VM] = 3 | SH_DORC,
	[HL_EV_MAP_VM] = 4,
	[HL_EV_MAP_IO] = 3,
	[HL_EV_GRANT] = 2,
	[HL_EV_REVOKE] = 2 | SH_DORC,
	[HL_EV_GEN_VMID] = 0,
	[HL_EV_REG_KVM] = 3,
	[HL_EV_REG_VCPU] = 3,
	[HL_EV_VM_ACTIVE] = 2,
	[HL_EV_VM_INACTIVE] = 2,
	[HL_EV_VM_POWEROFF] = 1,
	[HL_EV_BOOT_INFO] = 3 | SH_BLOB,
	[HL_EV_REMAP_IMAGE] = 3,
	[HL_EV_VERIFY] = 1 | SH_DORC | SH_BLOB,
	[HL_EV_SMMU_ALLOC] = 4,
	[HL_EV_SMMU_FREE] = 2,
	[HL_EV_ASSIGN_SMMU] = 4 | SH_DORC,
	[HL_EV_SMMU_MAP] = 4,
	[HL_EV_SMMU_CLEAR] = 3,
};

/* a record carries nothing its event does not have; 0, or the field at fault */
static const char *shape_fault(const struct hl_rec *r)
{
	unsigned sh = ev_shape[r->event];

	for (unsigned i = sh & 0xFu; i < 4; i++)
		if (r->arg[i])
			return "an argument its event does not have";
	if (!(sh & SH_DORC) && r->dorc)
		return "a data-oracle value its event does not have";
	if (!(sh & SH_BLOB) && r->blob_len)
		return "a blob its event does not have";
	return NULL;
}

static bool same_step(const struct hl_rec *a, const struct hl_rec *b)
{
	return a->event == b->event && a->cpu == b->cpu && a->result == b->result && a->nrec == b->nrec &&
	       a->dorc == b->dorc && a->ret == b->ret && !memcmp(a->arg, b->arg, sizeof(a->arg)) &&
	       (a->flags & HL_RF_NESTED) == (b->flags & HL_RF_NESTED) && a->blob_len == b->blob_len &&
	       !memcmp(hl_rec_blob(a), hl_rec_blob(b), a->blob_len);
}

/* one record's lock list: objects, flags, global order, its own object written */
static int lock_list(struct chk *k, const struct hl_rec *r)
{
	const struct hl_rdep *rd = hl_rec_rdeps(r);
	unsigned nw = 0;
	bool self = false;
	char a[24], b[24], exp[120], act[120];

	if (r->nlock >= k->no)
		return violation(k, HL_REL_CALLOCK, r, 0, 0, NULL, NULL, "%u lock entries (there are %u locks)",
				 r->nlock, k->no - 1);
	for (unsigned j = 0; j < r->nlock; j++) {
		unsigned o = rd[j].obj;
		if (o == 0 || o >= k->no || k->lg->obj[o].size == 0)
			return violation(k, HL_REL_CALLOCK, r, 0, 0, "a lockable object", "none",
					 "lock entry %u names object %u (%s), which has no lock", j, o, oname(o, a));
		if ((rd[j].flags & ~(unsigned)HL_RD_WRITTEN) || rd[j].pad1)
			return violation(k, HL_REL_CALLOCK, r, 0, 0, NULL, NULL,
					 "lock entry %u has unknown flags 0x%x or non-zero padding", j, rd[j].flags);
		/* ranks are one per lock object: an ascending list names each lock once */
		if (j && rd[j - 1].obj == o)
			return violation(k, HL_REL_CALLOCK, r, 0, 0, "each lock once", "twice",
					 "the step's lock list names %s twice", oname(o, a));
		if (j && lock_rank(k->lg, rd[j - 1].obj) >= lock_rank(k->lg, o)) {
			snprintf(exp, sizeof(exp), "%s before %s", oname(o, a), oname(rd[j - 1].obj, b));
			snprintf(act, sizeof(act), "%s before %s", b, a);
			return violation(k, HL_REL_CALLOCK, r, 0, 0, exp, act,
					 "%s by cpu %u took its locks out of the global order (SPEC §4%s)",
					 hl_event_name(r->event), r->cpu,
					 hl_olog_parent(k->lg, o) != o || hl_olog_parent(k->lg, rd[j - 1].obj) != rd[j - 1].obj ?
					 ", extended to shards: a shard at its object's place, residual first, shards "
					 "ascending" : "");
		}
		if (rd[j].flags & HL_RD_WRITTEN)
			nw++;
		if (o == r->obj) {
			/* (the seq it gives is where the step appended under the lock: relate_oracle
			 * compares it with where the record is) */
			if (!(rd[j].flags & HL_RD_WRITTEN))
				return violation(k, HL_REL_CALLOCK, r, 0, 0, "written", "read",
						 "the record's lock list says the step only read %s", oname(o, a));
			self = true;
		}
	}
	if (!self)
		return violation(k, HL_REL_CALLOCK, r, 0, 0, "its own object in the list", "missing",
				 "%s by cpu %u appended to %s without %s in its lock list (a lock missing from the "
				 "acquisition list)", hl_event_name(r->event), r->cpu, oname(r->obj, a), a);
	if (nw != r->nrec) {
		snprintf(exp, sizeof(exp), "%u written objects (one per record)", r->nrec);
		snprintf(act, sizeof(act), "%u", nw);
		return violation(k, HL_REL_CALLOCK, r, 0, 0, exp, act,
				 "%s by cpu %u: its lock list does not name every object it appended to",
				 hl_event_name(r->event), r->cpu);
	}
	return 0;
}

/* a delta in the log of a refined object's residual must miss every shard's bytes */
static int residual_delta(struct chk *k, const struct hl_rec *r, const struct hl_delta *d)
{
	uint64_t x = d->off, end = (uint64_t)d->off + d->len, to;
	char a[24], b[24], exp[120], act[120];

	while (x < end && x < k->lg->ab[r->obj].size) {
		unsigned own = hl_olog_owner(k->lg, r->obj, x, &to);
		if (own != r->obj) {
			snprintf(exp, sizeof(exp), "bytes of %s only under its lock", oname(own, b));
			snprintf(act, sizeof(act), "byte %llu written in the log of %s", (unsigned long long)x, oname(r->obj, a));
			return violation(k, HL_REL_CALLOCK, r, 0, 0, exp, act,
					 "%s by cpu %u writes bytes of shard %s in the log of %s (not under the shard's lock)",
					 hl_event_name(r->event), r->cpu, b, a);
		}
		if (to <= x)
			break;
		x = to;
	}
	return 0;
}

static int run_callock(struct chk *k)
{
	char ob[24], exp[96], act[96];
	int rc;

	for (unsigned o = 1; o < k->no; o++) {
		const struct hl_olog_obj *lo = &k->lg->obj[o];
		uint64_t last_op[HL_NR_CPUS + 1];
		bool residual = o < HL_ID_END && k->lg->ab[o].refined;

		memset(last_op, 0, sizeof(last_op));
		oname(o, ob);
		if (lo->n && lo->size == 0)
			return violation(k, HL_REL_CALLOCK, lo->rec[0], 0, o, NULL, NULL,
					 "records in the log of %s, which has no state", ob);
		for (size_t i = 0; i < lo->n; i++) {
			const struct hl_rec *r = lo->rec[i];
			uint64_t want = lo->first_seq + i;

			if (r->seq != want) {
				snprintf(exp, sizeof(exp), "seq %llu", (unsigned long long)want);
				snprintf(act, sizeof(act), "seq %llu", (unsigned long long)r->seq);
				return violation(k, HL_REL_CALLOCK, r, 0, o, exp, act,
						 "sequence numbers of %s are not consecutive (%s)", ob,
						 r->seq > want ? "a gap: a critical section is missing" : "a repeat");
			}
			if (r->obj != o)
				return violation(k, HL_REL_CALLOCK, r, 0, o, NULL, NULL,
						 "record of object %u in the log of %s", r->obj, ob);
			if (r->cpu != HL_OP_CPU(r->op) || r->cpu >= k->ncpus || r->nrec == 0 || r->nrec >= k->no ||
			    r->event == HL_EV_NONE || r->event >= HL_EV__COUNT || r->event == HL_EV_SMMU_GET ||
			    r->event == HL_EV_VM_GET || r->result > HL_RES_HALT ||
			    (r->flags & ~(unsigned)(HL_RF_STRANDED | HL_RF_NESTED)))
				return violation(k, HL_REL_CALLOCK, r, 0, o, NULL, NULL,
						 "malformed critical section in %s (cpu %u, op cpu %u of %u, nrec %u, event "
						 "%u, result %u, flags 0x%x)", ob, r->cpu, HL_OP_CPU(r->op), k->ncpus,
						 r->nrec, r->event, r->result, r->flags);
			/* one CPU per critical section, in its program order: an op once per log */
			if (r->op <= last_op[r->cpu]) {
				snprintf(exp, sizeof(exp), "op id above %u:%llu", r->cpu,
					 (unsigned long long)(last_op[r->cpu] & OPMASK));
				snprintf(act, sizeof(act), "op %u:%llu", r->cpu, (unsigned long long)(r->op & OPMASK));
				return violation(k, HL_REL_CALLOCK, r, 0, o, exp, act,
						 "operation appears twice in %s, or out of cpu %u's program order", ob,
						 r->cpu);
			}
			last_op[r->cpu] = r->op;
			if (shape_fault(r))
				return violation(k, HL_REL_CALLOCK, r, 0, o, NULL, NULL, "%s in %s carries %s",
						 hl_event_name(r->event), ob, shape_fault(r));
			if ((rc = lock_list(k, r)) != 0)
				return rc;
			{
				/* a delta header has no spare bits: unknown flags or padding are not a delta */
				const struct hl_delta *d = hl_rec_first_delta(r);
				for (unsigned q = 0; q < r->ndelta; q++, d = hl_delta_next(d)) {
					bool pad_ok = !d->pad;
					if (!(d->flags & HL_DF_ZERO))
						for (uint32_t x = d->len; x < HL_ALIGN8(d->len); x++)
							pad_ok &= ((const uint8_t *)(d + 1))[x] == 0;
					if ((d->flags & ~(unsigned)HL_DF_ZERO) || !pad_ok)
						return violation(k, HL_REL_CALLOCK, r, 0, o, NULL, NULL,
								 "delta %u of the record has unknown flags 0x%x or non-zero "
								 "padding", q, d->flags);
					/* a residual's record writes only the bytes no shard owns (a shard's
					 * bytes change only under that shard's lock, in its log) */
					if (residual && (rc = residual_delta(k, r, d)) != 0)
						return rc;
				}
			}
		}
	}
	/* per step: every record carries the same step and the same lock list */
	if ((rc = chk_index(k)) != 0)
		return rc;
	for (size_t i = 0; i < k->nops; i++) {
		const struct opn *n = &k->ops[i];
		const struct hl_rec *a = n->rec[0];
		for (unsigned j = 1; j < n->nfound; j++) {
			const struct hl_rec *b = n->rec[j];
			if (!same_step(a, b))
				return violation(k, HL_REL_CALLOCK, b, 0, 0, NULL, NULL,
						 "the records of one step (op %u:%llu in %s and %s) describe different steps",
						 HL_OP_CPU(a->op), (unsigned long long)(a->op & OPMASK), oname(a->obj, ob),
						 oname(b->obj, exp));
			if (a->nlock != b->nlock ||
			    memcmp(hl_rec_rdeps(a), hl_rec_rdeps(b), a->nlock * sizeof(struct hl_rdep)))
				return violation(k, HL_REL_CALLOCK, b, 0, 0, "one lock list per step", "two",
						 "the records of %s by cpu %u in %s and %s list different locks",
						 hl_event_name(a->event), a->cpu, oname(a->obj, ob), oname(b->obj, exp));
		}
		if (n->nfound > n->nrec)
			return violation(k, HL_REL_CALLOCK, n->rec[n->nrec], 0, 0, NULL, NULL,
					 "step op %u:%llu has more records than it says", HL_OP_CPU(n->op),
					 (unsigned long long)(n->op & OPMASK));
	}
	return 0;
}

/* ===================================================================================== */
/* Cal<Obj> and sync_shared                                                                 */

/* apply a record's deltas to an image; -1 (nothing applied) if one lies outside it */
static int apply_deltas(uint8_t *img, size_t size, const struct hl_rec *r, const struct hl_delta **bad)
{
	const struct hl_delta *d = hl_rec_first_delta(r);

	for (unsigned i = 0; i < r->ndelta; i++, d = hl_delta_next(d))
		if ((uint64_t)d->off + d->len > size) {
			*bad = d;
			return -1;
		}
	d = hl_rec_first_delta(r);
	for (unsigned i = 0; i < r->ndelta; i++, d = hl_delta_next(d)) {
		if (d->flags & HL_DF_ZERO)
			memset(img + d->off, 0, d->len);
		else
			memcpy(img + d->off, d + 1, d->len);
	}
	return 0;
}

static int oob_violation(struct chk *k, const struct hl_rec *r, const struct hl_delta *d)
{
	char ob[24], exp[96], act[96];
	size_t size = k->lg->obj[r->obj].size;

	snprintf(exp, sizeof(exp), "bytes inside [0, %zu)", size);
	snprintf(act, sizeof(act), "bytes [%u, %llu)", d->off, (unsigned long long)d->off + d->len);
	return violation(k, HL_REL_SYNC, r, 0, 0, exp, act, "a delta of %s by cpu %u writes outside the image of %s",
			 hl_event_name(r->event), r->cpu, oname(r->obj, ob));
}

/* a human name for byte `off` of object o's image */
static void where_of(unsigned o, size_t off, char *buf, size_t len)
{
	char ob[24];
	const size_t pages_bytes = sizeof(struct hl_s2page) * HL_RAM_PAGES;

	oname(o, ob);
	if (o == HL_S2PAGE_ID && off < pages_bytes)
		snprintf(buf, len, "s2page[0x%llx] byte %zu",
			 (unsigned long long)(HL_RAM_BASE_PFN + off / sizeof(struct hl_s2page)),
			 off % sizeof(struct hl_s2page));
	else if (o == HL_S2PAGE_ID)
		snprintf(buf, len, "flatmem[0x%llx]", (unsigned long long)(HL_RAM_BASE_PFN + (off - pages_bytes) / 8));
	else if ((o >= HL_NPT_ID && o < HL_INFO_ID) || o == HL_SPT_ID)
		snprintf(buf, len, "%s table page %zu entry %zu", ob, (size_t)(off / PG), (size_t)((off % PG) / 8));
	else
		snprintf(buf, len, "%s byte %zu", ob, off);
}

/* Cal<L>(start image, log) of lock object L into img; a delta outside L is a violation */
static int cal_obj(struct chk *k, unsigned l, uint8_t *img)
{
	const struct hl_olog_obj *ob = &k->lg->obj[l];
	const uint8_t *start = start_image(k, l);
	char name[24];

	if (!start)
		return internal(k, "the log has no initial image of %s (a file older than format 4?)", oname(l, name));
	memcpy(img, start, ob->size);
	for (size_t i = 0; i < ob->n; i++) {
		const struct hl_delta *bad;
		if (apply_deltas(img, ob->size, ob->rec[i], &bad))
			return oob_violation(k, ob->rec[i], bad);
	}
	return 0;
}

/*
 * Per lock object: Cal<L>(log) == the live L (the file's digest of it). Per SPEC object:
 * the image composed from its lock objects' Cal (residual, then every shard's bytes at its
 * ranges) == the live object, when the source has its bytes.
 */
static int run_sync(struct chk *k, struct hl_check_stats *stats)
{
	const struct hl_olog *lg = k->lg;
	size_t maxsz = 0;
	uint8_t *img, *aimg;
	int rc = 0;

	for (unsigned o = 1; o < k->no; o++)
		if (lg->obj[o].size > maxsz)
			maxsz = lg->obj[o].size;
	for (unsigned a = 1; a < HL_ID_END; a++)
		if (lg->ab[a].size > maxsz)
			maxsz = lg->ab[a].size;
	img = malloc(maxsz ? maxsz : 1);
	aimg = malloc(maxsz ? maxsz : 1);
	if (!img || !aimg) {
		free(img);
		free(aimg);
		return internal(k, "out of memory");
	}
	for (unsigned o = 1; o < HL_ID_END && !rc; o++) {
		const struct hl_olog_abs *ab = &lg->ab[o];
		const struct hl_olog_obj *ob = &lg->obj[o];
		const uint8_t *cal;
		char name[24], where[96];

		if (!ab->size)
			continue;
		oname(o, name);
		/* its lock objects: itself (unrefined, or the residual), then its shards */
		for (unsigned l = ob->size ? o : HL_ID_END; l < k->no && !rc; l = l == o ? HL_ID_END : l + 1) {
			const struct hl_olog_obj *lo = &lg->obj[l];
			if (l != o && hl_olog_parent(lg, l) != o)
				continue;
			if ((rc = cal_obj(k, l, img)) != 0)
				break;
			/* (a residual's image, digest included, has every shard-owned byte zero: its
			 * own log describes it whole) */
			if (!lg->live.img[o] && lo->has_live_digest && hl_olog_digest(img, lo->size) != lo->live_digest) {
				char exp[40], act[40], ln[24];
				snprintf(exp, sizeof(exp), "%016llx", (unsigned long long)lo->live_digest);
				snprintf(act, sizeof(act), "%016llx", (unsigned long long)hl_olog_digest(img, lo->size));
				rc = violation(k, HL_REL_SYNC, lo->n ? lo->rec[lo->n - 1] : NULL, 0, l, exp, act,
					       "Cal<%s>(log) != the live %s the file recorded (XXH3 digest)", oname(l, ln), ln);
				break;
			}
			if (ab->refined)
				hl_olog_scatter(lg, l, img, aimg);
		}
		if (rc)
			break;
		cal = ab->refined ? aimg : img;

		if (lg->live.img[o]) {
			size_t off = 0;
			const uint8_t *live = lg->live.img[o];
			uint64_t to;
			unsigned own;
			const struct hl_olog_obj *oo;
			if (lg->live.len[o] != ab->size) {
				rc = internal(k, "live image of %s has %zu bytes, the log %zu", name, lg->live.len[o], ab->size);
				break;
			}
			while (off < ab->size && cal[off] == live[off])
				off++;
			if (off < ab->size) {
				/* name the entry through the model when it can read both images */
				struct hl_images a = { 0 }, b = { 0 };
				struct hl_model *ma = hl_model_new(), *mb = hl_model_new();
				struct hl_model_diff d;
				char on[24];
				a.img[o] = live;
				a.len[o] = ab->size;
				b.img[o] = cal;
				b.len[o] = ab->size;
				where_of(o, off, where, sizeof(where));
				own = hl_olog_owner(lg, o, off, &to);
				oo = &lg->obj[own ? own : o];
				if (own != o && own)
					snprintf(where + strlen(where), sizeof(where) - strlen(where), ", shard %s", oname(own, on));
				if (ma && mb && hl_model_abstract_obj(ma, &a, o) == 0 && hl_model_abstract_obj(mb, &b, o) == 0 &&
				    hl_model_diff(ma, mb, o, &d))
					rc = violation(k, HL_REL_SYNC, oo->n ? oo->rec[oo->n - 1] : NULL, 0, o, d.a, d.b,
						       "Cal<%s>(log) != live %s at %s (%s)", name, name, d.where, where);
				else
					rc = violation(k, HL_REL_SYNC, oo->n ? oo->rec[oo->n - 1] : NULL, 0, o,
						       "live bytes", "Cal bytes", "Cal<%s>(log) != live %s at %s", name,
						       name, where);
				hl_model_free(ma);
				hl_model_free(mb);
			}
		}
		if (rc)
			break;
		if (o == HL_S2PAGE_ID && lg->live.ram && lg->ram_exact) {
			/* flatmem: one content digest per RAM page; the engine alone wrote the pages */
			const uint64_t *flat = (const uint64_t *)(cal + sizeof(struct hl_s2page) * HL_RAM_PAGES);
			uint8_t zero[PG];
			uint64_t zd;
			memset(zero, 0, sizeof(zero));
			zd = hl_olog_digest(zero, PG);
			if (ab->size < sizeof(struct hl_s2page_obj)) {
				rc = internal(k, "s2page image too small for flatmem");
				break;
			}
			for (uint64_t p = 0; p < HL_RAM_PAGES; p++) {
				uint64_t dg = hl_olog_digest(lg->live.ram + p * PG, PG);
				char exp[64], act[64];
				if (dg == flat[p])
					continue;
				snprintf(exp, sizeof(exp), "content digest %016llx%s", (unsigned long long)flat[p],
					 flat[p] == zd ? " (a zero page)" : "");
				snprintf(act, sizeof(act), "RAM digest %016llx%s", (unsigned long long)dg,
					 dg == zd ? " (a zero page)" : "");
				rc = violation(k, HL_REL_SYNC, NULL, 0, HL_S2PAGE_ID, exp, act,
					       "flatmem[0x%llx] does not describe the page in RAM%s",
					       (unsigned long long)(HL_RAM_BASE_PFN + p),
					       flat[p] == zd ? ": the log says the page was zeroed, it was not" : "");
				break;
			}
			if (stats)
				stats->ram_checked = true;
		}
	}
	free(img);
	free(aimg);
	return rc;
}

/* ===================================================================================== */
/* relate_hlock                                                                             */

static int run_hlock(struct chk *k)
{
	const struct hl_olog *lg = k->lg;
	uint64_t halt_op[HL_NR_CPUS + 1], strand_seq[HL_OLOG_MAX_IDS], outer_end[HL_NR_CPUS + 1];
	int strand_cpu[HL_OLOG_MAX_IDS];
	bool halt_nested[HL_NR_CPUS + 1] = { 0 };
	char ob[24], exp[96], act[96];

	for (unsigned c = 0; c <= HL_NR_CPUS; c++)
		halt_op[c] = UINT64_MAX;
	memset(strand_seq, 0, sizeof(strand_seq));
	for (unsigned o = 1; o < k->no; o++) {
		const struct hl_olog_obj *lo = &lg->obj[o];
		oname(o, ob);
		for (size_t i = 0; i < lo->n; i++) {
			const struct hl_rec *r = lo->rec[i];
			if (strand_seq[o])
				return violation(k, HL_REL_HLOCK, r, 0, o, "no step after the halt", "a step wrote it",
						 "%s was left locked by halted cpu %d, then %s by cpu %u wrote it", ob,
						 strand_cpu[o], hl_event_name(r->event), r->cpu);
			if (r->cpu < HL_NR_CPUS && r->result == HL_RES_HALT && r->op < halt_op[r->cpu]) {
				halt_op[r->cpu] = r->op;
				/* a halt inside a nested step leaves no later step of that CPU at all */
				halt_nested[r->cpu] = (r->flags & HL_RF_NESTED) != 0;
			}
			if (!(r->flags & HL_RF_STRANDED))
				continue;
			if (r->result != HL_RES_HALT || r->cpu >= 64 || !(lg->halted_mask & (1ull << r->cpu)))
				return violation(k, HL_REL_HLOCK, r, 0, o, "a halt by a halted cpu",
						 r->result != HL_RES_HALT ? "a step that did not halt" : "a running cpu",
						 "%s by cpu %u marks %s stranded but %s", hl_event_name(r->event), r->cpu, ob,
						 r->result != HL_RES_HALT ? "did not halt" : "the cpu is not halted");
			strand_seq[o] = r->seq;
			strand_cpu[o] = r->cpu;
		}
	}
	/* reads: a lock entry that saw the stranded record took a lock nobody can take */
	for (unsigned o = 1; o < k->no; o++) {
		const struct hl_olog_obj *lo = &lg->obj[o];
		for (size_t i = 0; i < lo->n; i++) {
			const struct hl_rec *r = lo->rec[i];
			const struct hl_rdep *rd = hl_rec_rdeps(r);
			for (unsigned j = 0; j < r->nlock; j++) {
				unsigned x = rd[j].obj;
				if (!hl_rdep_is_read(&rd[j]) || x >= k->no || !strand_seq[x] || rd[j].seq < strand_seq[x])
					continue;
				snprintf(exp, sizeof(exp), "%s untouched after seq %llu", oname(x, ob),
					 (unsigned long long)strand_seq[x]);
				snprintf(act, sizeof(act), "read at seq %llu", (unsigned long long)rd[j].seq);
				return violation(k, HL_REL_HLOCK, r, 0, 0, exp, act,
						 "%s by cpu %u read %s, which halted cpu %d left locked",
						 hl_event_name(r->event), r->cpu, ob, strand_cpu[x]);
			}
		}
	}
	/* steps nested in the halting one (verify's page steps: larger op ids, appended before
	 * the outer step's own record) may follow its id; they end at the CPU's next step that
	 * is not nested. Any later step of a halted CPU is a violation. */
	for (unsigned c = 0; c <= HL_NR_CPUS; c++)
		outer_end[c] = UINT64_MAX;
	{
		int rc = chk_index(k);
		if (rc)
			return rc;
		for (size_t pi = 0; pi < k->nops; pi++) {
			const struct opn *n = &k->ops[k->prog[pi]];
			unsigned c = HL_OP_CPU(n->op);
			if (c >= HL_NR_CPUS || halt_op[c] == UINT64_MAX || n->op <= halt_op[c] || outer_end[c] != UINT64_MAX ||
			    !n->nfound || (n->rec[0]->flags & HL_RF_NESTED))
				continue;
			outer_end[c] = n->op - 1;   /* before the first later step that is not nested */
		}
	}
	for (unsigned o = 1; o < k->no; o++) {
		const struct hl_olog_obj *lo = &lg->obj[o];
		for (size_t i = 0; i < lo->n; i++) {
			const struct hl_rec *r = lo->rec[i];
			if (r->cpu >= HL_NR_CPUS || halt_op[r->cpu] == UINT64_MAX)
				continue;
			if (r->cpu >= 64 || !(lg->halted_mask & (1ull << r->cpu)))
				return violation(k, HL_REL_HLOCK, r, 0, o, "cpu halted", "cpu running",
						 "cpu %u halted in %s but the log does not mark it halted", r->cpu,
						 hl_event_name(r->event));
			if (r->op > halt_op[r->cpu] &&
			    (!(r->flags & HL_RF_NESTED) || r->op > outer_end[r->cpu] || halt_nested[r->cpu]))
				return violation(k, HL_REL_HLOCK, r, 0, o, "nothing after the halt", hl_event_name(r->event),
						 "cpu %u ran %s after it halted (op %llu)", r->cpu, hl_event_name(r->event),
						 (unsigned long long)(halt_op[r->cpu] & OPMASK));
		}
	}
	return 0;
}

/* ===================================================================================== */
/* serializability: the oracle's own linearization                                         */

enum { E_LOG = 0, E_READ = 1, E_WRITE_AFTER_READ = 2, E_PROG = 3 };

struct edge {
	uint32_t from, to;
	uint16_t obj;
	uint8_t kind;
};

struct graph {
	struct edge *ev;
	size_t ne, ecap;
	uint32_t *first, *succ;   /* CSR: successors of node i are succ[first[i] .. first[i+1]) */
	uint32_t *eid;            /* edge id of each CSR slot */
};

static int add_edge(struct graph *g, uint32_t from, uint32_t to, unsigned obj, unsigned kind)
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
	g->ev[g->ne++] = (struct edge){ from, to, (uint16_t)obj, (uint8_t)kind };
	return 0;
}

static void graph_free(struct graph *g)
{
	free(g->ev);
	free(g->first);
	free(g->succ);
	free(g->eid);
}

static int graph_build(struct chk *k, struct graph *g)
{
	size_t nn = k->nops;

	memset(g, 0, sizeof(*g));
	/* each object log orders its records */
	for (unsigned o = 1; o < k->no; o++)
		for (size_t i = 1; i < k->lg->obj[o].n; i++)
			if (add_edge(g, k->node[o][i - 1], k->node[o][i], o, E_LOG))
				return -1;
	/* a reader goes after the record it saw and before the next one */
	for (size_t ni = 0; ni < nn; ni++) {
		const struct hl_rec *r = k->ops[ni].rec[0];
		const struct hl_rdep *rd = hl_rec_rdeps(r);
		for (unsigned j = 0; j < r->nlock; j++) {
			unsigned o = rd[j].obj;
			const struct hl_olog_obj *lo;
			uint64_t s = rd[j].seq;
			if (!hl_rdep_is_read(&rd[j]) || o == 0 || o >= k->no)
				continue;
			lo = &k->lg->obj[o];
			if (s >= lo->first_seq && s - lo->first_seq < lo->n &&
			    add_edge(g, k->node[o][s - lo->first_seq], (uint32_t)ni, o, E_READ))
				return -1;
			if (s + 1 >= lo->first_seq && s + 1 - lo->first_seq < lo->n &&
			    add_edge(g, (uint32_t)ni, k->node[o][s + 1 - lo->first_seq], o, E_WRITE_AFTER_READ))
				return -1;
		}
	}
	/* program order: a CPU's operation ids increase */
	for (size_t i = 1; i < nn; i++) {
		uint32_t a = k->prog[i - 1], b = k->prog[i];
		if (HL_OP_CPU(k->ops[a].op) == HL_OP_CPU(k->ops[b].op) &&
		    add_edge(g, a, b, HL_OP_CPU(k->ops[a].op), E_PROG))
			return -1;
	}
	g->first = calloc(nn + 2, sizeof(*g->first));
	g->succ = malloc((g->ne + 1) * sizeof(*g->succ));
	g->eid = malloc((g->ne + 1) * sizeof(*g->eid));
	if (!g->first || !g->succ || !g->eid)
		return -1;
	for (size_t i = 0; i < g->ne; i++)
		g->first[g->ev[i].from + 2]++;
	for (size_t i = 2; i < nn + 2; i++)
		g->first[i] += g->first[i - 1];
	for (size_t i = 0; i < g->ne; i++) {
		uint32_t slot = g->first[g->ev[i].from + 1]++;
		g->succ[slot] = g->ev[i].to;
		g->eid[slot] = (uint32_t)i;
	}
	return 0;
}

static const char *edge_words(const struct edge *e, char *buf, size_t len)
{
	char ob[24];

	switch (e->kind) {
	case E_LOG:
		snprintf(buf, len, "%s log", oname(e->obj, ob));
		break;
	case E_READ:
		snprintf(buf, len, "read of %s", oname(e->obj, ob));
		break;
	case E_WRITE_AFTER_READ:
		snprintf(buf, len, "%s written after the read", oname(e->obj, ob));
		break;
	default:
		snprintf(buf, len, "cpu %u program order", e->obj);
	}
	return buf;
}

/* a cycle among the nodes Kahn's algorithm left (indeg > 0), by depth-first search */
static int report_cycle(struct chk *k, struct graph *g, const uint32_t *indeg)
{
	size_t nn = k->nops;
	uint8_t *color = calloc(nn + 1, 1);
	uint32_t *stack = malloc((nn + 1) * sizeof(*stack)), *pos = malloc((nn + 1) * sizeof(*pos));
	uint32_t *via = malloc((nn + 1) * sizeof(*via));
	char buf[400], ew[64];
	size_t len = 0;
	int rc = -2;

	if (!color || !stack || !pos || !via) {
		rc = internal(k, "out of memory reporting a cycle");
		goto out;
	}
	for (size_t s = 0; s < nn && rc == -2; s++) {
		size_t sp = 0;
		if (!indeg[s] || color[s])
			continue;
		stack[sp] = (uint32_t)s;
		pos[sp++] = g->first[s];
		color[s] = 1;
		while (sp && rc == -2) {
			uint32_t u = stack[sp - 1];
			if (pos[sp - 1] == g->first[u + 1]) {
				color[u] = 2;
				sp--;
				continue;
			}
			{
				uint32_t slot = pos[sp - 1]++, w = g->succ[slot];
				if (!indeg[w] || color[w] == 2)
					continue;
				via[sp - 1] = g->eid[slot];
				if (color[w] == 0) {
					color[w] = 1;
					stack[sp] = w;
					pos[sp++] = g->first[w];
					continue;
				}
				/* w is on the stack: the cycle is stack[from w .. top] */
				{
					size_t at = sp - 1;
					unsigned shown = 0, nops;
					while (stack[at] != w)
						at--;
					nops = (unsigned)(sp - at);
					len = (size_t)snprintf(buf, sizeof(buf), "a cycle of %u operations:", nops);
					for (size_t i = at; i < sp && len < sizeof(buf); i++, shown++) {
						const struct opn *n = &k->ops[stack[i]];
						if (shown == 6) {
							len += (size_t)snprintf(buf + len, sizeof(buf) - len, " ...");
							break;
						}
						len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %u:%llu %s -[%s]->",
									HL_OP_CPU(n->op), (unsigned long long)(n->op & OPMASK),
									hl_event_name(n->rec[0]->event),
									edge_words(&g->ev[via[i]], ew, sizeof(ew)));
					}
					if (len < sizeof(buf))
						snprintf(buf + len, sizeof(buf) - len, " %u:%llu",
							 HL_OP_CPU(k->ops[w].op), (unsigned long long)(k->ops[w].op & OPMASK));
					rc = violation(k, HL_REL_SERIAL, k->ops[w].rec[0], 0, 0, "an acyclic operation graph",
						       "a cycle", "no linearization: %s", buf);
				}
			}
		}
	}
	if (rc == -2)
		rc = internal(k, "the operation graph has no order but no cycle was found");
out:
	free(color);
	free(stack);
	free(pos);
	free(via);
	return rc;
}

/*
 * With checkpoint cuts the file has no records before each object's snapshot, and the
 * snapshots were taken at different times, so the replayed state mixes times until the
 * operations the lost records depended on have been applied. Which are they? A lost
 * operation Y (all its records before cuts) wrote some cut object O, at or before the
 * snapshot's seq n_O, so it happened no later than Z_O, the operation that appended record
 * n_O (O's log orders them). Y can depend on a file operation W only if W happened before
 * Y. An operation that touched O at or after n_O (a record after the cut; a read that saw
 * seq >= n_O; Z_O itself, whose surviving records list O written at n_O) happened no
 * earlier than Z_O, and so did everything the graph orders after it (log order, reads,
 * program order all follow real time). So an operation ordered after such a touch for
 * EVERY cut object is after every lost operation: none depends on it. (A cut object whose
 * n_O was appended by an operation with no surviving record, and never touched after,
 * gives no such touch: then nothing is provably after the cut, and the invariants run on
 * the seq-0 images and the final state only.) That set S is closed under the graph's successors, so the
 * operations outside S, then S, in linearization order, is a linearization too; the state
 * after the operations outside S (lost ones included, through the snapshots) is
 * downward closed under every dependency: a consistent cut. From there on, every step
 * extends it: the invariants are checked after each. `order` is reordered in place and
 * k->consistent_from set to where S starts. Linear: one 64-bit mask per operation per 64 cut
 * objects (shards make more than 64 lock objects).
 */
static int consistent_part(struct chk *k, const struct graph *g, uint32_t *order)
{
	size_t nn = k->nops, j = 0;
	uint64_t *mask = malloc((nn + 1) * sizeof(*mask));
	uint32_t *tmp = malloc((nn + 1) * sizeof(*tmp));
	uint8_t *in_s = malloc(nn + 1);
	int16_t *slot = malloc(k->no * sizeof(*slot));
	unsigned ncut = 0;

	if (!mask || !tmp || !in_s || !slot) {
		free(mask);
		free(tmp);
		free(in_s);
		free(slot);
		return -1;
	}
	memset(in_s, 1, nn + 1);
	for (unsigned o = 1; o < k->no; o++)
		ncut += k->cut[o] > 0;
	/* the cut objects, 64 at a time (one bit each): S is the intersection over them */
	for (unsigned c0 = 0; c0 < ncut; c0 += 64) {
		uint64_t cutmask = 0;
		unsigned c = 0;
		for (unsigned o = 1; o < k->no; o++) {
			slot[o] = -1;
			if (!k->cut[o])
				continue;
			if (c >= c0 && c < c0 + 64) {
				slot[o] = (int16_t)(c - c0);
				cutmask |= 1ull << (c - c0);
			}
			c++;
		}
		memset(mask, 0, (nn + 1) * sizeof(*mask));
		for (size_t i = 0; i < nn; i++) {
			const struct opn *n = &k->ops[i];
			const struct hl_rdep *rd = hl_rec_rdeps(n->rec[0]);
			for (unsigned r = 0; r < n->nfound; r++)
				if (n->rec[r]->obj < k->no && slot[n->rec[r]->obj] >= 0)
					mask[i] |= 1ull << slot[n->rec[r]->obj];   /* every record in the file is after its cut */
			/* a read at or after the cut saw the last lost record; a write AT the cut is
			 * that record (the operation whose surviving records say so is Z_O below) */
			for (unsigned q = 0; q < n->rec[0]->nlock; q++)
				if (rd[q].obj < k->no && slot[rd[q].obj] >= 0 && rd[q].seq >= k->cut[rd[q].obj])
					mask[i] |= 1ull << slot[rd[q].obj];
		}
		for (size_t i = 0; i < nn; i++) {
			uint32_t u = order[i];
			for (uint32_t s = g->first[u]; s < g->first[u + 1]; s++)
				mask[g->succ[s]] |= mask[u];
		}
		for (size_t i = 0; i < nn; i++)
			in_s[i] &= (mask[i] & cutmask) == cutmask;
	}
	/* stable partition: outside S, then S */
	for (size_t i = 0; i < nn; i++)
		if (!in_s[order[i]])
			tmp[j++] = order[i];
	k->consistent_from = j;
	for (size_t i = 0; i < nn; i++)
		if (in_s[order[i]])
			tmp[j++] = order[i];
	memcpy(order, tmp, nn * sizeof(*order));
	free(mask);
	free(tmp);
	free(in_s);
	free(slot);
	return 0;
}

/* Kahn's algorithm over the operation graph; *lin are operation indices */
static int run_serial(struct chk *k, uint32_t **lin)
{
	struct graph g;
	uint32_t *indeg = NULL, *order = NULL;
	size_t nn, head = 0, tail = 0;
	int rc = 0;

	*lin = NULL;
	if ((rc = chk_index(k)) != 0)
		return rc;
	nn = k->nops;
	if (graph_build(k, &g)) {
		graph_free(&g);
		return internal(k, "out of memory building the operation graph");
	}
	indeg = calloc(nn + 1, sizeof(*indeg));
	order = malloc((nn + 1) * sizeof(*order));
	if (!indeg || !order) {
		rc = internal(k, "out of memory linearizing");
		goto out;
	}
	for (size_t i = 0; i < g.ne; i++)
		indeg[g.ev[i].to]++;
	/* seed in program order: ties resolve to the CPUs' own order */
	for (size_t i = 0; i < nn; i++)
		if (!indeg[k->prog[i]])
			order[tail++] = k->prog[i];
	while (head < tail) {
		uint32_t u = order[head++];
		for (uint32_t s = g.first[u]; s < g.first[u + 1]; s++)
			if (--indeg[g.succ[s]] == 0)
				order[tail++] = g.succ[s];
	}
	if (tail != nn) {
		rc = report_cycle(k, &g, indeg);
		goto out;
	}
	k->consistent_from = 0;
	if (k->any_cut && !k->lg->cuts_consistent && consistent_part(k, &g, order)) {
		rc = internal(k, "out of memory");
		goto out;
	}
	*lin = order;
	order = NULL;
out:
	free(indeg);
	free(order);
	graph_free(&g);
	return rc;
}

/* ===================================================================================== */
/* relate_oracle's views, against the per-object logs                                      */

/* the seq a step's record in obj has, or 0 */
static uint64_t rec_seq_of(const struct opn *n, unsigned obj)
{
	for (unsigned i = 0; i < n->nfound; i++)
		if (n->rec[i]->obj == obj)
			return n->rec[i]->seq;
	return 0;
}

static int run_views(struct chk *k)
{
	const struct hl_olog *lg = k->lg;
	uint64_t *seen = NULL;
	uint8_t **cpu_of = NULL;
	char ob[24], exp[160], act[160];
	int rc;

	if ((rc = chk_index(k)) != 0)
		return rc;
	seen = calloc((size_t)HL_NR_CPUS * k->no, sizeof(*seen));
	cpu_of = calloc(k->no, sizeof(*cpu_of));
	if (!seen || !cpu_of) {
		free(seen);
		free(cpu_of);
		return internal(k, "out of memory");
	}
	/* a compact copy of each log's CPU column: the scans below read it sequentially */
	for (unsigned o = 1; o < k->no && !rc; o++) {
		const struct hl_olog_obj *lo = &lg->obj[o];
		cpu_of[o] = malloc(lo->n + 1);
		if (!cpu_of[o])
			rc = internal(k, "out of memory");
		for (size_t i = 0; !rc && i < lo->n; i++)
			cpu_of[o][i] = lo->rec[i]->cpu;
		for (unsigned c = 0; c < HL_NR_CPUS; c++)
			seen[(size_t)c * k->no + o] = k->cut[o];
	}
	for (size_t pi = 0; pi < k->nops && !rc; pi++) {
		const struct opn *n = &k->ops[k->prog[pi]];
		const struct hl_rec *r0 = n->rec[0];
		const struct hl_rdep *rd = hl_rec_rdeps(r0);
		unsigned c = HL_OP_CPU(n->op);

		if (c >= HL_NR_CPUS)
			continue;
		for (unsigned j = 0; j < r0->nlock && !rc; j++) {
			unsigned o = rd[j].obj;
			const struct hl_olog_obj *lo;
			uint64_t *s, view, after, from;
			if (o == 0 || o >= k->no)
				continue;
			lo = &lg->obj[o];
			s = &seen[(size_t)c * k->no + o];
			if (rd[j].flags & HL_RD_WRITTEN) {
				/* the view a writer had is the record before its own (where it really is) */
				after = rec_seq_of(n, o);
				if (!after)
					continue;   /* its record there lies before the cut */
				view = after - 1;
			} else {
				view = after = rd[j].seq;
			}
			if (view < *s && view >= k->cut[o]) {
				snprintf(exp, sizeof(exp), "%s at seq %llu or later", oname(o, ob), (unsigned long long)*s);
				snprintf(act, sizeof(act), "seq %llu", (unsigned long long)view);
				rc = violation(k, HL_REL_ORACLE, r0, 0, 0, exp, act,
					       "cpu %u's view of %s went backwards (%s)", c, ob, hl_event_name(r0->event));
				break;
			}
			if (view >= lo->first_seq + lo->n) {
				snprintf(exp, sizeof(exp), "a seq the log of %s has (up to %llu)", oname(o, ob),
					 (unsigned long long)(lo->first_seq + lo->n - 1));
				snprintf(act, sizeof(act), "seq %llu", (unsigned long long)view);
				rc = violation(k, HL_REL_ORACLE, r0, 0, 0, exp, act,
					       "%s by cpu %u saw a state of %s that no record produced", hl_event_name(r0->event),
					       c, ob);
				break;
			}
			/* everything appended between two views of one CPU came from other CPUs */
			from = *s > k->cut[o] ? *s : k->cut[o];
			for (uint64_t q = from + 1; q <= view; q++) {
				if (cpu_of[o][q - lo->first_seq] != c)
					continue;
				{
					const struct hl_rec *own = lo->rec[q - lo->first_seq];
					snprintf(exp, sizeof(exp), "records %llu..%llu of %s by other cpus",
						 (unsigned long long)from + 1, (unsigned long long)view, ob);
					snprintf(act, sizeof(act), "seq %llu by cpu %u itself (op %u:%llu %s)",
						 (unsigned long long)q, c, HL_OP_CPU(own->op),
						 (unsigned long long)(own->op & OPMASK), hl_event_name(own->event));
					rc = violation(k, HL_REL_ORACLE, r0, 0, 0, exp, act,
						       "cpu %u's view of %s for %s contains its own event as another cpu's",
						       c, ob, hl_event_name(r0->event));
				}
				break;
			}
			if (after > *s)
				*s = after;
		}
	}
	for (unsigned o = 0; o < k->no; o++)
		free(cpu_of[o]);
	free(cpu_of);
	free(seen);
	return rc;
}

/* ===================================================================================== */
/* the replay pass: relate_log, relate_oracle, security                                     */

enum { DO_LOG = 1, DO_ORACLE = 2, DO_SEC = 4 };

#define MAX_DFACTS 96u

struct pass {
	struct chk *k;
	unsigned mode;
	uint8_t *b[HL_ID_END];            /* B: the SPEC objects' images (shards composed in) */
	struct hl_images im;              /* B as the model reads it */
	struct hl_model *m;
	struct hl_hmap rev;               /* (obj << 32 | page) -> table (base gfn, bank, level) */
	uint64_t *cur;                    /* [no] last seq applied to B, per lock object */
	struct hl_fact df[MAX_DFACTS];
	unsigned ndf;
	bool inv_on;                      /* past the consistent cut: invariants after every step */
	struct hl_check_stats *stats;
};

static void dfact(struct pass *p, unsigned kind, unsigned id, unsigned level, uint64_t key, uint32_t n)
{
	struct hl_fact f = { (uint8_t)kind, (uint8_t)level, (uint16_t)id, n, key };

	/* a record often writes several fields of one entry (vminfo, s2page): name it once */
	for (unsigned i = p->ndf; i-- > 0 && i + 8 >= p->ndf;)
		if (!memcmp(&p->df[i], &f, sizeof(f)))
			return;
	if (p->ndf < MAX_DFACTS)
		p->df[p->ndf++] = f;
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

/* the linked table pages of the start state */
static int rev_scan(struct pass *p)
{
	int rc = 0;

	for (unsigned v = 0; v < HL_NR_PRINC; v++) {
		unsigned obj = HL_NPT_OBJ(v);
		const uint8_t *img = p->b[obj];
		size_t sz = p->im.len[obj];
		const uint64_t *root;
		if (!img || sz < 2 * PG)
			continue;
		root = (const uint64_t *)(img + PG);
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
	if (p->b[HL_SPT_ID] && p->im.len[HL_SPT_ID] >= (1 + HL_SMMU_CFG_SIZE * SPT_ROOT_PAGES) * PG)
		for (unsigned b = 0; b < HL_SMMU_CFG_SIZE; b++) {
			const uint8_t *img = p->b[HL_SPT_ID];
			size_t sz = p->im.len[HL_SPT_ID];
			const uint64_t *root = (const uint64_t *)(img + PG + (uint64_t)b * SPT_ROOT_PAGES * PG);
			for (uint64_t i1 = 0; i1 < 1024; i1++) {
				int64_t c2 = child_page(img, sz, root[i1]);
				if (c2 < 0)
					continue;
				rc |= rev_put(p, HL_SPT_ID, c2, 2, i1 << 18, b);
				for (uint64_t i2 = 0; i2 < 512; i2++)
					rc |= rev_put(p, HL_SPT_ID,
						      child_page(img, sz, ((const uint64_t *)(img + c2 * PG))[i2]), 3,
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
	const uint8_t *img = p->b[obj];
	size_t sz = p->im.len[obj];
	uint64_t page = w / PG, slot = (w % PG) / 8, d;
	const struct hl_mval *rv;
	int64_t child;

	if (w + 8 > sz)
		return 0;
	memcpy(&d, img + (w & ~7ull), 8);
	child = child_page(img, sz, d);
	if (page == 0) {
		dfact(p, spt ? HL_F_SPT_META : HL_F_NPT_META, v, 0, 0, 1);
		return 0;
	}
	if (!spt && page == 1) {
		dfact(p, HL_F_NPT_PRES, v, 0, slot, 1);
		return rev_put(p, obj, child, 1, slot << 27, 0);
	}
	if (spt && page <= HL_SMMU_CFG_SIZE * SPT_ROOT_PAGES) {
		unsigned bank = (unsigned)((page - 1) / SPT_ROOT_PAGES);
		uint64_t i1 = ((page - 1) % SPT_ROOT_PAGES) * 512 + slot;
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

/* the abstract entries bytes [off, off + len) of SPEC object o name (B already written) */
static int touch(struct pass *p, unsigned o, uint64_t off, uint64_t len, unsigned flags, unsigned first)
{
	const size_t pages_bytes = sizeof(struct hl_s2page) * HL_RAM_PAGES;

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
	} else if (o == HL_SPT_ID && (flags & HL_DF_ZERO) && off >= PG && off < PG * (1 + HL_SMMU_CFG_SIZE * SPT_ROOT_PAGES)) {
		/* a bank's root cleared: the whole bank */
		for (uint64_t pg = off / PG; pg * PG < off + len && pg <= HL_SMMU_CFG_SIZE * SPT_ROOT_PAGES; pg++)
			dfact(p, HL_F_SPT_BANK, (unsigned)((pg - 1) / SPT_ROOT_PAGES), 0, 0, 1);
	} else {
		for (uint64_t w = off & ~7ull; w < off + len; w += 8)
			if (table_word(p, o, w))
				return -1;
	}
	return 0;
}

/*
 * A residual table object's record (npt(host) with shards): a table page a shard owns is
 * linked by the tables only as the map was built (DESIGN2.md H-npt rule 3: the upper
 * entries over RAM are written at init only), so no word the residual writes may hold a
 * link to a shard's page, before or after the write. -3 with the verdict filled.
 */
static int residual_links(struct pass *p, const struct hl_rec *r)
{
	const struct hl_olog *lg = p->k->lg;
	unsigned o = r->obj;
	const uint8_t *img = p->b[o];
	size_t sz = p->im.len[o];
	const struct hl_delta *d = hl_rec_first_delta(r);
	char ob[24], on[24];

	for (unsigned i = 0; i < r->ndelta; i++, d = hl_delta_next(d))
		for (uint64_t w = d->off & ~7ull; w < (uint64_t)d->off + d->len && w + 8 <= sz; w += 8) {
			uint64_t v, to;
			int64_t c;
			unsigned own;
			memcpy(&v, img + w, 8);
			c = w >= PG ? child_page(img, sz, v) : -1;   /* page 0 is the meta page */
			if (c < 0 || (own = hl_olog_owner(lg, o, (uint64_t)c * PG, &to)) == o)
				continue;
			(void)violation(p->k, HL_REL_CALLOCK, r, 0, 0, "links to a shard's table only as the map was built",
					"a residual record rewrites one", "%s by cpu %u: the log of %s writes table word 0x%llx, "
					"which links %s's table page (a shard's structure, not the residual's)",
					hl_event_name(r->event), r->cpu, oname(o, ob), (unsigned long long)w, oname(own, on));
			return -3;
		}
	return 0;
}

/*
 * Apply a record to B and name the abstract entries its deltas touched; -2 out of bounds
 * (of the lock object's own image). A shard's delta is in the shard's image (its ranges
 * concatenated): it is written to its SPEC object's image range by range.
 */
static int apply_rec(struct pass *p, const struct hl_rec *r, const struct hl_delta **bad)
{
	const struct hl_olog *lg = p->k->lg;
	unsigned l = r->obj, o = hl_olog_parent(lg, l);
	const struct hl_delta *d = hl_rec_first_delta(r);
	unsigned first = p->ndf;

	if (o == l) {
		bool res_tbl = lg->ab[o].refined && (o == HL_SPT_ID || (o >= HL_NPT_ID && o < HL_INFO_ID));
		int rc;
		if (res_tbl && (rc = residual_links(p, r)) != 0)
			return rc;   /* before: no link to a shard's table is overwritten */
		if (apply_deltas(p->b[o], p->im.len[o], r, bad))
			return -2;
		if (res_tbl && (rc = residual_links(p, r)) != 0)
			return rc;   /* after: none is written */
		for (unsigned i = 0; i < r->ndelta; i++, d = hl_delta_next(d))
			if (touch(p, o, d->off, d->len, d->flags, first))
				return -1;
	} else {
		const struct hl_olog_range *rg = &lg->rng[lg->rfirst[l]];
		uint32_t nr = lg->rnum[l];
		for (unsigned i = 0; i < r->ndelta; i++, d = hl_delta_next(d))
			if ((uint64_t)d->off + d->len > lg->obj[l].size) {
				*bad = d;
				return -2;
			}
		d = hl_rec_first_delta(r);
		for (unsigned i = 0; i < r->ndelta; i++, d = hl_delta_next(d)) {
			uint64_t x = d->off, end = (uint64_t)d->off + d->len;
			uint32_t lo = 0, hi = nr;
			/* the range holding local byte x: the last one starting at or below it */
			while (hi - lo > 1) {
				uint32_t mid = lo + (hi - lo) / 2;
				if (rg[mid].local <= x)
					lo = mid;
				else
					hi = mid;
			}
			for (uint32_t q = lo; x < end && q < nr; q++) {
				uint64_t n = rg[q].local + rg[q].len - x, at;
				if (n > end - x)
					n = end - x;
				at = rg[q].off + (x - rg[q].local);
				if (d->flags & HL_DF_ZERO)
					memset(p->b[o] + at, 0, n);
				else
					memcpy(p->b[o] + at, (const uint8_t *)(d + 1) + (x - d->off), n);
				if (touch(p, o, at, n, d->flags, first))
					return -1;
				x += n;
			}
		}
	}
	if (p->ndf - first >= 48 || p->ndf == MAX_DFACTS) {
		/* too many entries to name one by one: compare the whole object */
		p->ndf = first;
		dfact(p, HL_F_OBJ, o, 0, 0, 1);
	}
	p->cur[l] = r->seq;
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

/* is lock object x in the step's lock list? */
static bool holds(const struct hl_rec *r0, unsigned x)
{
	const struct hl_rdep *rd = hl_rec_rdeps(r0);

	for (unsigned j = 0; j < r0->nlock; j++)
		if (rd[j].obj == x)
			return true;
	return false;
}

/* a refined s2page: the shard holding the entry of RAM pfn `pfn` is in the step's lock list */
static int shard_held(struct pass *p, const struct opn *n, uint64_t pfn, const char *how)
{
	const struct hl_olog *lg = p->k->lg;
	const struct hl_rec *r0 = n->rec[0];
	uint64_t to, off;
	unsigned own;
	char ob[24], exp[96], act[96];

	if (pfn < HL_RAM_BASE_PFN || pfn - HL_RAM_BASE_PFN >= HL_RAM_PAGES)
		return 0;
	off = (pfn - HL_RAM_BASE_PFN) * sizeof(struct hl_s2page);
	own = hl_olog_owner(lg, HL_S2PAGE_ID, off, &to);
	if (!own || holds(r0, own))
		return 0;
	snprintf(exp, sizeof(exp), "the lock of %s", oname(own, ob));
	snprintf(act, sizeof(act), "not in the step's lock list");
	return violation(p->k, HL_REL_ORACLE, r0, 0, 0, exp, act,
			 "%s by cpu %u %s s2page[0x%llx], which shard %s holds, without that shard's lock",
			 hl_event_name(r0->event), r0->cpu, how, (unsigned long long)pfn, ob);
}

/*
 * A refined npt(host): the lock object owning the host-table entry of gfn as the step saw
 * the table (B at its turn): the level-3 entry when its path exists, else the slot of the
 * deepest table the path reaches (where a map would link a new table).
 */
static unsigned host_entry_owner(struct pass *p, uint64_t gfn)
{
	const unsigned o = HL_NPT_OBJ(HL_HOSTVISOR);
	const uint8_t *img = p->b[o];
	size_t sz = p->im.len[o];
	uint64_t addr = gfn * PG, off = PG + ((addr >> 39) & 511) * 8, to;

	if (!img || sz < 2 * PG)
		return 0;
	for (unsigned sh = 30; sh >= 12; sh -= 9) {
		uint64_t d;
		int64_t c;
		memcpy(&d, img + off, 8);
		c = child_page(img, sz, d);
		if (c < 0)
			break;
		off = (uint64_t)c * PG + ((addr >> sh) & 511) * 8;
	}
	return hl_olog_owner(p->k->lg, o, off, &to);
}

/*
 * relate_oracle's footprint: the step's lock list, each lock object taken as the SPEC
 * object it refines, is the model's SPEC §6 lock set; and where s2page is refined, every
 * entry the model read or changed lies in a shard the step locked (a step may take more
 * shards than it touches: "all shards of the class"). A halt strands the model's objects;
 * a stranded refined object strands every shard of it the step holds.
 */
static int footprint(struct pass *p, const struct opn *n, const struct hl_model_res *res, bool missing_only)
{
	const struct hl_olog *lg = p->k->lg;
	const struct hl_rec *r0 = n->rec[0];
	const struct hl_rdep *rd = hl_rec_rdeps(r0);
	uint16_t fp[HL_ID_END], st[HL_ID_END];
	unsigned nfp = 0, nst = 0;
	char ob[24], exp[96], act[96];
	int rc;

	for (unsigned j = 0; j < r0->nlock; j++) {
		unsigned a = hl_olog_parent(lg, rd[j].obj);
		if (a < HL_ID_END && !in_set(fp, nfp, a))
			fp[nfp++] = (uint16_t)a;
	}
	for (unsigned i = 0; i < n->nfound; i++) {
		unsigned a = hl_olog_parent(lg, n->rec[i]->obj);
		if ((n->rec[i]->flags & HL_RF_STRANDED) && a < HL_ID_END && !in_set(st, nst, a))
			st[nst++] = (uint16_t)a;
	}
	for (unsigned i = 0; i < res->nlocks; i++)
		if (!in_set(fp, nfp, res->locks[i]))
			return violation(p->k, HL_REL_ORACLE, r0, 0, 0, "a lock entry", "none (lock skipped)",
					 "%s by cpu %u read %s, in its SPEC §6 lock set, without a view of it in the logs",
					 hl_event_name(r0->event), r0->cpu, oname(res->locks[i], ob));
	if (lg->ab[HL_S2PAGE_ID].refined) {
		const struct hl_mreads *rds = p->m->reads;
		for (unsigned i = 0; i < rds->n; i++)
			if ((rc = shard_held(p, n, rds->pfn[i], "read")) != 0)
				return rc;
		for (unsigned i = 0; i < p->m->nfacts; i++)
			if ((p->m->facts[i].kind == HL_F_S2P || p->m->facts[i].kind == HL_F_FLAT) &&
			    (rc = shard_held(p, n, p->m->facts[i].key, "changed")) != 0)
				return rc;
	}
	if (lg->ab[HL_NPT_OBJ(HL_HOSTVISOR)].refined) {
		const struct hl_mreads *rds = p->m->reads;
		for (unsigned i = 0; i < rds->nh; i++) {
			unsigned own = host_entry_owner(p, rds->hgfn[i]);
			if (own && !holds(r0, own)) {
				snprintf(exp, sizeof(exp), "the lock of %s", oname(own, ob));
				return violation(p->k, HL_REL_ORACLE, r0, 0, 0, exp, "not in the step's lock list",
						 "%s by cpu %u looked at the host table's entry for IPA 0x%llx, which %s "
						 "holds, without its lock", hl_event_name(r0->event), r0->cpu,
						 (unsigned long long)(rds->hgfn[i] * PG), ob);
			}
		}
	}
	if (missing_only)
		return 0;
	for (unsigned i = 0; i < nfp; i++)
		if (!in_set(res->locks, res->nlocks, fp[i]))
			return violation(p->k, HL_REL_ORACLE, r0, 0, 0, "outside the footprint", "locked",
					 "%s by cpu %u locked %s, outside its SPEC §6 lock set",
					 hl_event_name(r0->event), r0->cpu, oname(fp[i], ob));
	for (unsigned i = 0; i < res->nstrand || i < nst; i++) {
		unsigned x = i < res->nstrand ? res->strand[i] : st[i];
		if (in_set(res->strand, res->nstrand, x) != in_set(st, nst, x)) {
			snprintf(exp, sizeof(exp), "%s %s", oname(x, ob),
				 in_set(res->strand, res->nstrand, x) ? "stranded" : "released");
			snprintf(act, sizeof(act), "%s", in_set(st, nst, x) ? "stranded" : "released");
			return violation(p->k, HL_REL_ORACLE, r0, 0, 0, exp, act,
					 "%s by cpu %u: the halt leaves a different set of objects locked",
					 hl_event_name(r0->event), r0->cpu);
		}
	}
	/* every lock object of a stranded SPEC object the step holds stays locked */
	for (unsigned j = 0; j < r0->nlock; j++) {
		unsigned l = rd[j].obj, a = hl_olog_parent(lg, l);
		bool stranded = false;
		if (a == l || !in_set(res->strand, res->nstrand, a))
			continue;
		for (unsigned i = 0; i < n->nfound && !stranded; i++)
			stranded = n->rec[i]->obj == l && (n->rec[i]->flags & HL_RF_STRANDED);
		if (!stranded) {
			snprintf(exp, sizeof(exp), "%s stranded with %s", oname(l, ob), oname(a, act));
			return violation(p->k, HL_REL_ORACLE, r0, 0, 0, exp, "released",
					 "%s by cpu %u halted holding %s but released its shard %s",
					 hl_event_name(r0->event), r0->cpu, act, ob);
		}
	}
	return 0;
}

static bool op_straddles(const struct chk *k, const struct opn *n)
{
	const struct hl_rec *r0 = n->rec[0];
	const struct hl_rdep *rd = hl_rec_rdeps(r0);

	if (n->nfound < n->nrec)
		return true;
	for (unsigned j = 0; j < r0->nlock; j++)
		if (hl_rdep_is_read(&rd[j]) && rd[j].obj < k->no && rd[j].seq < k->cut[rd[j].obj])
			return true;
	return false;
}

static int security_all(struct pass *p, const struct hl_rec *r0, const char *when)
{
	char msg[256];

	if (hl_model_inv_all(p->m, msg, sizeof(msg)))
		return violation(p->k, HL_REL_SECURITY, r0, 0, HL_VERDICT_NO_OBJ, "the invariant holds", "violated", "%s: %s",
				 when, msg);
	return 0;
}

/*
 * A quiesced source (hl_olog.quiesced): every trap returned, so a vCPU is ACTIVE only where
 * the CPU that ran it halted inside its VCPU_RUN (SPEC §7: set_vcpu_active ... run ...
 * set_vcpu_inactive on one CPU; REFERENCE §6: host running => cur_vmid = 0). A halted CPU
 * is one the trailer marks halted or one with a halt record; each strands at most one vCPU.
 * This sees an OVM_INACTIVE that wrote nothing: such a step appends no record (SPEC §5), so
 * no log relation can tell it from a step that never ran.
 * A VM whose vminfo lock a halting CPU left stranded is excused entirely: OVM_INACTIVE takes
 * that lock, so in SPEC every CPU running one of its vCPUs waits forever and never returns
 * (the engine answers HL_E_STRANDED instead and the VCPU_RUN returns with the vCPU ACTIVE:
 * e.g. CPUs 0 and 2 run vCPUs of VM 1 while the host on CPU 1 maps IO into the VERIFIED
 * VM 1, which halts with vminfo(1) stranded: two ACTIVE vCPUs, one halted CPU).
 */
static bool quiesced_info_stranded(const struct chk *k, unsigned v)
{
	unsigned o = HL_INFO_OBJ(v);

	if (o >= k->no)
		return false;
	for (size_t i = 0; i < k->lg->obj[o].n; i++)
		if (k->lg->obj[o].rec[i]->flags & HL_RF_STRANDED)
			return true;   /* relate_hlock: only a halted CPU's halt record may say so */
	return false;
}

static int quiesced_vcpus(struct pass *p)
{
	const struct hl_olog *lg = p->k->lg;
	uint64_t halted = lg->halted_mask;
	unsigned nhalted = 0, nactive = 0, fv = 0, fc = 0;

	if (!lg->quiesced)
		return 0;
	for (unsigned o = 1; o < p->k->no; o++)
		for (size_t i = 0; i < lg->obj[o].n; i++) {
			const struct hl_rec *r = lg->obj[o].rec[i];
			if (r->result == HL_RES_HALT && r->cpu < 64)
				halted |= 1ull << r->cpu;
		}
	for (unsigned c = 0; c < 64; c++)
		nhalted += (unsigned)((halted >> c) & 1);
	for (unsigned v = 1; v <= HL_MAX_VM; v++)
		for (unsigned c = 0; c < HL_VCPU_PER_VM; c++)
			if (p->m->info[v].vcpu_state[c] == HL_VCPU_ACTIVE && !quiesced_info_stranded(p->k, v) &&
			    !nactive++) {
				fv = v;
				fc = c;
			}
	if (nactive > nhalted)
		return violation(p->k, HL_REL_SECURITY, NULL, 0, HL_INFO_ID + fv, "no vCPU ACTIVE once every trap returned",
				 "ACTIVE", "final state: %u vCPUs ACTIVE (first: vCPU %u of VM %u) while every trap returned "
				 "and only %u CPUs halted: a VCPU_RUN left a vCPU ACTIVE that no CPU runs (SPEC §7: "
				 "OVM_INACTIVE ends every run)", nactive, fc, fv, nhalted);
	return 0;
}

static int one_op(struct pass *p, const struct opn *n)
{
	struct chk *k = p->k;
	const struct hl_rec *r0 = n->rec[0];
	struct hl_model *m = p->m;
	bool straddle = op_straddles(k, n);
	struct hl_model_res res;
	char exp[200], act[200], ob[24];
	int rc;

	/* at its turn, B holds each object at the state the step saw there */
	for (unsigned i = 0; i < n->nfound; i++) {
		const struct hl_rec *r = n->rec[i];
		if (r->obj == 0 || r->obj >= k->no || !k->lg->obj[r->obj].size)
			return violation(k, HL_REL_CALLOCK, r, 0, 0, NULL, NULL, "record of object %u, which has no state",
					 r->obj);
		if (r->seq != p->cur[r->obj] + 1)
			return violation(k, HL_REL_ORACLE, r, 0, 0, NULL, NULL, "view of %s out of order",
					 oname(r->obj, ob));
	}
	{
		const struct hl_rdep *rd = hl_rec_rdeps(r0);
		for (unsigned j = 0; j < r0->nlock; j++) {
			unsigned o = rd[j].obj;
			if (o >= k->no || !hl_rdep_is_read(&rd[j]) || rd[j].seq < k->cut[o])
				continue;
			if (rd[j].seq != p->cur[o]) {
				snprintf(exp, sizeof(exp), "%s at seq %llu", oname(o, ob), (unsigned long long)p->cur[o]);
				snprintf(act, sizeof(act), "seq %llu", (unsigned long long)rd[j].seq);
				return violation(k, HL_REL_ORACLE, r0, 0, 0, exp, act,
						 "%s by cpu %u read a state of %s the log does not have at its turn",
						 hl_event_name(r0->event), r0->cpu, ob);
			}
		}
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
		if (res.status == HL_E_INVAL || res.status == HL_E_DENIED)
			return violation(k, HL_REL_LOG, r0, 0, 0, "a step the spec performs",
					 res.status == HL_E_INVAL ? "rejected arguments" : "denied by an isolation rule",
					 "the model refuses %s by cpu %u, which has a record (a refused step appends none)",
					 hl_event_name(r0->event), r0->cpu);
		if (res.dorc_mismatch) {
			/* the verdict is recomputed from KCore's keys, the digests the record carries
			 * and the signatures in vminfo; the record's own verdict is not trusted */
			snprintf(exp, sizeof(exp), "verdict %s (recomputed)", res.verdict == 1 ? "verified" :
				 res.verdict == 0 ? "not verified" : "undecided");
			snprintf(act, sizeof(act), "the record says dorc %llu", (unsigned long long)r0->dorc);
			return violation(k, (p->mode & DO_LOG) ? HL_REL_LOG : HL_REL_ORACLE, r0, 0, 0, exp, act,
					 "%s by cpu %u: the image verification verdict differs from the model's",
					 hl_event_name(r0->event), r0->cpu);
		}
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
		const struct hl_delta *bad = NULL;
		rc = apply_rec(p, n->rec[i], &bad);
		if (rc == -2)
			return oob_violation(k, n->rec[i], bad);
		if (rc == -3)
			return 1;   /* the verdict is filled */
		if (rc)
			return internal(k, "out of memory");
	}
	if (straddle) {
		for (unsigned i = 0; i < p->ndf; i++) {
			rc = hl_model_fact_sync(m, &p->im, &p->df[i]);
			if (rc == -2)
				return violation(k, HL_REL_ORACLE, r0, 0, 0, "a well-formed table pool", "corrupt",
						 "table metadata of %s corrupt", oname(r0->obj, ob));
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
				bool dup = false;
				for (unsigned j = 0; s == 1 && j < nf[0] && !dup; j++)
					dup = !memcmp(&f[0][j], &f[1][i], sizeof(struct hl_fact));
				if (dup)
					continue;   /* the model named the same entry: compared once */
				rc = hl_model_fact_cmp(m, &p->im, &f[s][i], &d);
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
							 hl_event_name(rr->event), rr->cpu, (unsigned long long)(rr->seq - 1),
							 oname(d.obj, ob), d.where);
				}
			}
		if (m->facts_overflow)
			for (unsigned i = 0; i < n->nfound; i++) {
				struct hl_model_diff d;
				whole.id = n->rec[i]->obj;
				if ((rc = hl_model_fact_cmp(m, &p->im, &whole, &d)) != 0)
					return rc < 0 ? internal(k, "out of memory") :
					       violation(k, HL_REL_ORACLE, n->rec[i], 0, 0, d.a, d.b,
							 "effects of %s differ at %s", hl_event_name(r0->event), d.where);
			}
	}
	if ((p->mode & DO_SEC) && p->inv_on) {
		char msg[256];
		if (p->stats)
			p->stats->inv_steps++;
		if (hl_model_inv_facts(m, m->facts, m->nfacts, msg, sizeof(msg)) ||
		    hl_model_inv_facts(m, p->df, p->ndf, msg, sizeof(msg)) ||
		    (m->facts_overflow && hl_model_inv_all(m, msg, sizeof(msg))))
			return violation(k, HL_REL_SECURITY, r0, 0, 0, "the invariant holds", "violated",
					 "after %s by cpu %u: %s", hl_event_name(r0->event), r0->cpu, msg);
	}
	return 0;
}

static void pass_free(struct pass *p)
{
	hl_hmap_free(&p->rev);
	hl_model_free(p->m);
	for (unsigned o = 0; o < HL_ID_END; o++)
		free(p->b[o]);
	free(p->cur);
}

/* B's start: each SPEC object composed from its lock objects' start images (each one's
 * seq-0 image or its snapshot at its own cut) */
static int load_start(struct pass *p)
{
	struct chk *k = p->k;
	const struct hl_olog *lg = k->lg;
	const uint8_t **start = calloc(k->no, sizeof(*start));
	char name[24];

	p->cur = calloc(k->no, sizeof(*p->cur));
	if (!start || !p->cur) {
		free(start);
		return internal(k, "out of memory");
	}
	for (unsigned o = 1; o < k->no; o++) {
		const struct hl_olog_obj *ob = &lg->obj[o];
		if (!ob->size)
			continue;
		start[o] = start_image(k, o);
		if (!start[o]) {
			free(start);
			return internal(k, "the log has no initial image of %s (a file older than format 4?)",
					oname(o, name));
		}
		p->cur[o] = ob->first_seq - 1;
	}
	for (unsigned a = 1; a < HL_ID_END; a++) {
		if (!lg->ab[a].size)
			continue;
		p->b[a] = calloc(1, lg->ab[a].size);
		if (!p->b[a]) {
			free(start);
			return internal(k, "out of memory");
		}
		p->im.img[a] = p->b[a];
		p->im.len[a] = lg->ab[a].size;
	}
	hl_olog_compose(lg, start, p->b);
	free(start);
	return 0;
}

/* lin: a linearization run_serial made (consumed), or NULL to make one */
static int run_pass(struct chk *k, unsigned mode, struct hl_check_stats *stats, struct hl_model **final,
		    uint32_t *lin)
{
	struct pass p;
	size_t inv_from;
	int rc;

	memset(&p, 0, sizeof(p));
	p.k = k;
	p.mode = mode;
	p.stats = stats;
	if (!lin && (rc = run_serial(k, &lin)) != 0)
		return rc;
	p.m = hl_model_new();
	if (!p.m) {
		rc = internal(k, "out of memory");
		goto out;
	}
	hl_model_set_keys(p.m, &k->lg->keys);
	if ((rc = load_start(&p)) != 0)
		goto out;
	rc = hl_model_abstract(p.m, &p.im);
	if (rc == -2) {
		rc = violation(k, HL_REL_LOG, NULL, 0, HL_VERDICT_NO_OBJ, NULL, NULL, "a start image's table metadata is corrupt");
		goto out;
	}
	if (rc || rev_scan(&p)) {
		rc = internal(k, "out of memory");
		goto out;
	}
	/* the consistent cut (consistent_part): with checkpoint cuts, where the operations
	 * that happened after every checkpoint start (and, for a log that breaks real time,
	 * not before the last step that straddles a cut) */
	inv_from = 0;
	if (k->any_cut && (mode & DO_SEC) && k->lg->has_init) {
		/* the seq-0 images are one state (time 0) even when the logs are cut */
		struct hl_images im0;
		struct hl_model *m0 = hl_model_new();
		char msg[256];
		memset(&im0, 0, sizeof(im0));
		for (unsigned o = 1; o < HL_ID_END; o++) {
			im0.img[o] = k->lg->ab[o].init;
			im0.len[o] = k->lg->ab[o].init ? k->lg->ab[o].size : 0;
		}
		if (!m0 || hl_model_abstract(m0, &im0)) {
			hl_model_free(m0);
			rc = internal(k, "cannot read the seq-0 images");
			goto out;
		}
		if (hl_model_inv_all(m0, msg, sizeof(msg)))
			rc = violation(k, HL_REL_SECURITY, NULL, 0, HL_VERDICT_NO_OBJ, "the invariant holds", "violated",
				       "initial state (seq-0 images): %s", msg);
		hl_model_free(m0);
		if (rc)
			goto out;
	}
	if (k->any_cut && !k->lg->cuts_consistent) {
		inv_from = k->consistent_from;
		for (size_t i = 0; i < k->nops; i++)
			if (op_straddles(k, &k->ops[lin[i]]) && i + 1 > inv_from)
				inv_from = i + 1;
	} else {
		/* no cut, or cuts the source vouches were taken at one quiescent point: the
		 * start state is one real state */
		p.inv_on = true;
		if ((mode & DO_SEC) && (rc = security_all(&p, NULL, k->any_cut ? "the state at the checkpoint cut" :
							 "initial state")) != 0)
			goto out;
	}
	if (stats)
		stats->cut_ops = inv_from;
	for (size_t i = 0; i < k->nops; i++) {
		if (!p.inv_on && i >= inv_from) {
			/* past the consistent cut: the whole state once, then step by step */
			p.inv_on = true;
			if ((mode & DO_SEC) &&
			    (rc = security_all(&p, NULL, "the first consistent state after the checkpoint cuts")))
				goto out;
		}
		if ((rc = one_op(&p, &k->ops[lin[i]])) != 0)
			goto out;
	}
	if (stats)
		stats->ops = k->nops;
	if ((mode & DO_SEC) && ((rc = security_all(&p, NULL, "final state")) != 0 || (rc = quiesced_vcpus(&p)) != 0))
		goto out;
	if (mode & DO_LOG) {
		/* object by object: the model's state == the abstraction of Cal<Obj> */
		struct hl_model *t = hl_model_new();
		struct hl_model_diff d;
		char ob[24];
		if (!t || hl_model_abstract(t, &p.im)) {
			hl_model_free(t);
			rc = internal(k, "out of memory");
			goto out;
		}
		if (hl_model_diff(p.m, t, HL_ID_END, &d)) {
			const struct hl_olog_obj *lo = &k->lg->obj[d.obj < HL_ID_END ? d.obj : 0];
			/* a refined object without a log of its own: the last record of a shard */
			for (unsigned x = HL_ID_END; !lo->n && d.obj < HL_ID_END && x < k->no; x++)
				if (hl_olog_parent(k->lg, x) == d.obj && k->lg->obj[x].n)
					lo = &k->lg->obj[x];
			rc = violation(k, HL_REL_LOG, lo->n ? lo->rec[lo->n - 1] : NULL, 0, d.obj, d.a, d.b,
				       "CalStateH through the model != Cal<%s> at %s", oname(d.obj, ob), d.where);
		}
		hl_model_free(t);
		if (rc)
			goto out;
	}
	if (final) {
		*final = p.m;
		p.m = NULL;
	}
out:
	pass_free(&p);
	free(lin);
	return rc;
}

/* the written-seq part of the views: a lock list names the step's records where they are */
static int run_written_seqs(struct chk *k)
{
	char ob[24], exp[96], act[96];

	for (size_t i = 0; i < k->nops; i++) {
		const struct opn *n = &k->ops[i];
		const struct hl_rec *r0 = n->rec[0];
		const struct hl_rdep *rd = hl_rec_rdeps(r0);
		for (unsigned j = 0; j < r0->nlock; j++) {
			uint64_t at;
			if (!(rd[j].flags & HL_RD_WRITTEN) || rd[j].obj >= k->no)
				continue;
			at = rec_seq_of(n, rd[j].obj);
			if (!at && rd[j].seq <= k->cut[rd[j].obj])
				continue;   /* before the cut */
			if (at != rd[j].seq) {
				snprintf(exp, sizeof(exp), "its record in %s at seq %llu", oname(rd[j].obj, ob),
					 (unsigned long long)rd[j].seq);
				if (at)
					snprintf(act, sizeof(act), "at seq %llu", (unsigned long long)at);
				else
					snprintf(act, sizeof(act), "no record");
				return violation(k, HL_REL_ORACLE, r0, 0, 0, exp, act,
						 "%s by cpu %u: its record in %s is not where it was appended under the lock",
						 hl_event_name(r0->event), r0->cpu, ob);
			}
		}
	}
	return 0;
}

/* init_state: the model's SPEC initial state against the file's seq-0 images */
static int run_init(struct chk *k, struct hl_check_stats *stats)
{
	struct hl_images im;
	struct hl_model_diff d;
	char ob[24];
	int rc;

	if (!k->lg->has_init)
		return 0;   /* nothing to compare with (a source without seq-0 images) */
	memset(&im, 0, sizeof(im));
	/* the SPEC objects' seq-0 images: a refined one composed from its lock objects' */
	for (unsigned o = 1; o < HL_ID_END; o++) {
		im.img[o] = k->lg->ab[o].init;
		im.len[o] = k->lg->ab[o].init ? k->lg->ab[o].size : 0;
	}
	{
		struct hl_model_init_opts o = { k->lg->kcore_n, { 0 }, { 0 },
						k->lg->ab[HL_NPT_OBJ(HL_HOSTVISOR)].refined };
		for (unsigned i = 0; i < o.kcore_n && i < 4; i++) {
			o.kcore_base[i] = k->lg->kcore_base[i];
			o.kcore_size[i] = k->lg->kcore_size[i];
		}
		rc = hl_model_init_cmp_opts(&im, &o, &d);
	}
	if (stats)
		stats->init_checked = true;
	if (rc < 0)
		return internal(k, "out of memory comparing the initial state");
	if (rc)
		return violation(k, HL_REL_INIT, NULL, 0, d.obj, d.a, d.b,
				 "the seq-0 image of %s is not the SPEC initial state at %s",
				 oname(d.obj < HL_ID_END ? d.obj : 0, ob), d.where);
	return 0;
}

/* ===================================================================================== */
/* entry points                                                                             */

int hl_check_callock(const struct hl_olog *lg, struct hl_verdict *v)
{
	struct chk k;
	int rc;

	rc = chk_init(&k, lg, v);
	if (!rc)
		rc = run_callock(&k);
	chk_free(&k);
	return rc;
}

int hl_check_sync_shared(const struct hl_olog *lg, struct hl_verdict *v)
{
	struct chk k;
	int rc;

	rc = chk_init(&k, lg, v);
	if (!rc)
		rc = run_sync(&k, NULL);
	chk_free(&k);
	return rc;
}

int hl_check_serializable(const struct hl_olog *lg, struct hl_verdict *v, uint64_t **ops, size_t *nops)
{
	struct chk k;
	uint32_t *lin = NULL;
	int rc;

	rc = chk_init(&k, lg, v);
	if (!rc)
		rc = run_serial(&k, &lin);
	if (!rc && ops) {
		*ops = malloc((k.nops + 1) * sizeof(**ops));
		if (!*ops)
			rc = internal(&k, "out of memory");
		for (size_t i = 0; !rc && i < k.nops; i++)
			(*ops)[i] = k.ops[lin[i]].op;
	}
	if (!rc && nops)
		*nops = k.nops;
	free(lin);
	chk_free(&k);
	return rc;
}

int hl_check_init(const struct hl_olog *lg, struct hl_verdict *v)
{
	struct chk k;
	int rc;

	rc = chk_init(&k, lg, v);
	if (!rc)
		rc = run_init(&k, NULL);
	chk_free(&k);
	return rc;
}

int hl_check_relate_log(const struct hl_olog *lg, struct hl_verdict *v)
{
	struct chk k;
	int rc;

	rc = chk_init(&k, lg, v);
	if (!rc)
		rc = run_pass(&k, DO_LOG, NULL, NULL, NULL);
	chk_free(&k);
	return rc;
}

int hl_check_relate_oracle(const struct hl_olog *lg, struct hl_verdict *v)
{
	struct chk k;
	int rc;

	rc = chk_init(&k, lg, v);
	if (!rc)
		rc = run_views(&k);
	if (!rc)
		rc = run_pass(&k, DO_ORACLE, NULL, NULL, NULL);
	if (!rc)
		rc = run_written_seqs(&k);
	chk_free(&k);
	return rc;
}

int hl_check_relate_hlock(const struct hl_olog *lg, struct hl_verdict *v)
{
	struct chk k;
	int rc;

	rc = chk_init(&k, lg, v);
	if (!rc)
		rc = run_hlock(&k);
	chk_free(&k);
	return rc;
}

int hl_check_security(const struct hl_olog *lg, struct hl_verdict *v)
{
	struct chk k;
	int rc;

	rc = chk_init(&k, lg, v);
	if (!rc)
		rc = run_pass(&k, DO_SEC, NULL, NULL, NULL);
	chk_free(&k);
	return rc;
}

int hl_check_all_final(const struct hl_olog *lg, struct hl_verdict *v, struct hl_check_stats *stats,
		       struct hl_model **final)
{
	struct hl_check_stats local;
	struct chk k;
	double t;
	int rc;

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (final)
		*final = NULL;
	if ((rc = chk_init(&k, lg, v)) != 0)
		goto out;
	stats->records = k.nrecs;
	t = now();
	if ((rc = run_callock(&k)) != 0)
		goto out;
	stats->sec[HL_REL_CALLOCK] = now() - t;
	t = now();
	if ((rc = run_sync(&k, stats)) != 0)
		goto out;
	stats->sec[HL_REL_SYNC] = now() - t;
	t = now();
	if ((rc = run_hlock(&k)) != 0)
		goto out;
	stats->sec[HL_REL_HLOCK] = now() - t;
	t = now();
	if ((rc = run_init(&k, stats)) != 0)
		goto out;
	stats->sec[HL_REL_INIT] = now() - t;
	t = now();
	/* serializability runs first inside the pass; its time is counted with it. The
	 * views go after it so that a reordered log is named by its cycle */
	{
		uint32_t *lin = NULL;
		if ((rc = run_serial(&k, &lin)) != 0)
			goto out;
		stats->sec[HL_REL_SERIAL] = now() - t;
		t = now();
		if ((rc = run_views(&k)) != 0) {
			free(lin);
			goto out;
		}
		stats->sec[HL_REL_ORACLE] = now() - t;
		t = now();
		if ((rc = run_pass(&k, DO_LOG | DO_ORACLE | DO_SEC, stats, final, lin)) != 0)
			goto out;
	}
	if ((rc = run_written_seqs(&k)) != 0)
		goto out;
	stats->sec[HL_REL_LOG] = now() - t;
out:
	if (rc && final && *final) {
		hl_model_free(*final);
		*final = NULL;
	}
	chk_free(&k);
	return rc;
}

int hl_check_all(const struct hl_olog *lg, struct hl_verdict *v, struct hl_check_stats *stats)
{
	return hl_check_all_final(lg, v, stats, NULL);
}

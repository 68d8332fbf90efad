/* hl_file.c - writing and reading log files; every field is checked before it is used. */
#include "hl_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include <ck_pr.h>

#include "hl_replay.h"

static const char file_magic[8] = { 'H', 'Y', 'P', 'L', 'O', 'G', '\r', '\n' };
#define SEC_MAGIC 0x4A424F53u   /* "SOBJ" */
#define END_MAGIC 0x444E4553u   /* "SEND" */

struct fhdr {
	char magic[8];
	uint32_t version;
	uint32_t hdr_len;
	/* build configuration: must match the reader's */
	uint32_t max_vm, vcpus_per_vm, nr_cpus, ram_mib;
	uint32_t host_pmd, vm_pmd, core_pmd, spt_pmd;
	uint32_t id_end, rec_hdr_size;
	/* the run */
	uint32_t ncpus, lock_kind;
	uint32_t nobj;
	/* KCore's provisioned image-verification keys (SPEC §11): nkeys <= HL_MAX_KEYS Ed25519
	 * public keys, unused slots zero; `hyplog check` recomputes OVERIFY verdicts with them */
	uint32_t nkeys;
	uint8_t kcore_keys[HL_MAX_KEYS][32];
	uint32_t pad;
	uint32_t crc;
};
static_assert(sizeof(struct fhdr) == 80 + HL_MAX_KEYS * 32, "file header layout");

struct fsec {
	uint32_t magic;
	uint16_t obj;
	uint16_t has_snap;
	uint64_t first_seq;
	uint64_t nrecs;
	uint64_t rec_bytes;
	uint64_t snap_seq;
	uint64_t snap_raw;
	uint64_t snap_comp;
	uint64_t live_digest;
	uint32_t snap_crc;
	/* the object's seq-0 (initial) image, zlib-compressed, right after this header (before
	 * the snapshot): an independent checker starts Cal<Obj> from it, and compares it with
	 * the spec's initial state. init_raw is the object's image size (0: no state) */
	uint32_t init_crc;      /* crc32 of the init_comp compressed bytes */
	uint64_t init_raw;
	uint64_t init_comp;
	uint32_t pad;
	uint32_t crc;
};
static_assert(sizeof(struct fsec) == 96, "section header layout");
static_assert(offsetof(struct fsec, init_crc) == 68 && offsetof(struct fsec, init_raw) == 72 &&
	      offsetof(struct fsec, init_comp) == 80, "section header layout");

/* the refinement map block (version 6), right after the header: then `bytes` bytes of
 * entries, ascending id: struct fmap_shard, then nranges x struct frange */
#define MAP_MAGIC 0x50414D52u   /* "RMAP" */
struct fmap {
	uint32_t magic;
	uint32_t nshards;
	uint32_t bytes;
	uint32_t crc;           /* crc32 of the entry bytes */
};
struct fmap_shard {
	uint16_t id, parent, nranges;
	uint16_t flags;         /* FMAP_RESIDUAL: the parent keeps its own object */
};
#define FMAP_RESIDUAL 1u
struct frange {
	uint64_t off, len;
};
static_assert(sizeof(struct fmap) == 16 && sizeof(struct fmap_shard) == 8 && sizeof(struct frange) == 16,
	      "map block layout");

/* the KCore ranges block (version 7, issue 12), right after the map block: KCore's own
 * memory, owned by COREVISOR in s2page's initial image (engine/hl_state.h hl_kcore_ranges):
 * struct fkcore, then n x struct frange2 {base, size}, then u32 crc32 of those bytes, u32 0 */
#define KCORE_MAGIC 0x474E524Bu   /* "KRNG" */
struct fkcore {
	uint32_t magic;
	uint32_t n;
};
struct fkrange {
	uint64_t base, size;
};
static_assert(sizeof(struct fkcore) == 8 && sizeof(struct fkrange) == 16, "KCore ranges block layout");

struct ftrl {
	uint32_t magic;
	uint32_t nobj;
	uint64_t records;
	uint64_t halted_mask;
	uint32_t pad;
	uint32_t crc;
};
static_assert(sizeof(struct ftrl) == 32, "trailer layout");

static int ferr(struct hl_file_err *err, uint64_t off, const char *fmt, ...)
{
	va_list ap;
	if (err) {
		err->offset = off;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static uint32_t crc_of(const void *p, size_t n)
{
	return (uint32_t)crc32(0L, p, (uInt)n);
}

/* crc of a struct whose last 4 bytes are its crc field */
static uint32_t crc_struct(const void *p, size_t n)
{
	return crc_of(p, n - 4);
}

static uint32_t rec_crc(const struct hl_rec *r)
{
	struct hl_rec h = *r;
	uint32_t c;

	h.crc = 0;
	c = crc_of(&h, sizeof(h));
	return (uint32_t)crc32(c, (const Bytef *)(r + 1), (uInt)(r->len - sizeof(h)));
}

static void fill_build(struct fhdr *h)
{
	memcpy(h->magic, file_magic, 8);
	h->version = HL_FILE_VERSION;
	h->hdr_len = sizeof(*h);
	h->max_vm = HL_MAX_VM;
	h->vcpus_per_vm = HL_VCPU_PER_VM;
	h->nr_cpus = HL_NR_CPUS;
	h->ram_mib = HL_CFG_RAM_MIB;
	h->host_pmd = HL_CFG_HOST_PMD_PAGES;
	h->vm_pmd = HL_CFG_VM_PMD_PAGES;
	h->core_pmd = HL_CFG_CORE_PMD_PAGES;
	h->spt_pmd = HL_CFG_SPT_PMD_PAGES;
	h->id_end = HL_OBJ_END;
	h->rec_hdr_size = sizeof(struct hl_rec);
	h->nobj = HL_OBJ_END - 1;
}

/* does object o have state (a section with an image and a log) in a run with map r? Not a
 * fully sharded parent (its bytes are its shards'), not an id outside the map */
static bool has_state(const struct hl_refine *r, unsigned o)
{
	if (o == HL_FLATMEM_ID || !hl_refine_has_obj(r, o))
		return false;
	return !(hl_refine_sharded(r, o) && !r->parent[o].residual);
}

/* the map block of r: header + entries into *out (malloc'd), its length into *len */
static int map_encode(const struct hl_refine *r, uint8_t **out, size_t *len)
{
	size_t n = sizeof(struct fmap) + r->nshards * sizeof(struct fmap_shard) + r->nranges * sizeof(struct frange);
	uint8_t *b = calloc(1, n), *p;
	struct fmap m = { MAP_MAGIC, r->nshards, (uint32_t)(n - sizeof(struct fmap)), 0 };

	if (!b)
		return -1;
	p = b + sizeof(m);
	for (unsigned k = 0; k < r->nshards; k++) {
		unsigned id = r->ids[k], par = r->sh[id - HL_ID_END].parent;
		struct fmap_shard fs = { (uint16_t)id, (uint16_t)par, r->sh[id - HL_ID_END].nranges,
					 r->parent[par].residual ? FMAP_RESIDUAL : 0 };
		memcpy(p, &fs, sizeof(fs));
		p += sizeof(fs);
		for (unsigned i = 0; i < fs.nranges; i++) {
			const struct hl_range *g = &r->ranges[r->sh[id - HL_ID_END].first + i];
			struct frange fr = { g->off, g->len };
			memcpy(p, &fr, sizeof(fr));
			p += sizeof(fr);
		}
	}
	m.crc = crc_of(b + sizeof(m), m.bytes);
	memcpy(b, &m, sizeof(m));
	*out = b;
	*len = n;
	return 0;
}

/* parse and validate the map block at buf[off..size): fills r (finished), *used bytes */
static int map_decode(const uint8_t *buf, uint64_t size, uint64_t off, struct hl_refine *r, uint64_t *used,
		      struct hl_file_err *err)
{
	struct fmap m;
	uint64_t p, end;

	hl_refine_init(r);
	if (size - off < sizeof(m))
		return ferr(err, off, "truncated file: refinement map missing");
	memcpy(&m, buf + off, sizeof(m));
	if (m.magic != MAP_MAGIC)
		return ferr(err, off, "bad refinement map magic 0x%08x", m.magic);
	if (m.bytes > size - off - sizeof(m))
		return ferr(err, off, "truncated refinement map (%u bytes)", m.bytes);
	if (crc_of(buf + off + sizeof(m), m.bytes) != m.crc)
		return ferr(err, off, "refinement map checksum mismatch");
	if (m.nshards > HL_SHARD_MAX)
		return ferr(err, off, "refinement map with %u shards (at most %u)", m.nshards, HL_SHARD_MAX);
	p = off + sizeof(m);
	end = p + m.bytes;
	for (unsigned k = 0; k < m.nshards; k++) {
		struct fmap_shard fs;
		struct hl_range rg[HL_REFINE_MAX_RANGES];
		if (end - p < sizeof(fs))
			return ferr(err, p, "refinement map: shard entry %u runs past the block", k);
		memcpy(&fs, buf + p, sizeof(fs));
		p += sizeof(fs);
		if (fs.nranges == 0 || fs.nranges > HL_REFINE_MAX_RANGES || (fs.flags & ~FMAP_RESIDUAL) ||
		    (uint64_t)fs.nranges * sizeof(struct frange) > end - p)
			return ferr(err, p - sizeof(fs), "refinement map: bad entry for shard %u", fs.id);
		for (unsigned i = 0; i < fs.nranges; i++) {
			struct frange fr;
			memcpy(&fr, buf + p, sizeof(fr));
			p += sizeof(fr);
			rg[i] = (struct hl_range){ fr.off, fr.len };
		}
		if (hl_refine_add_shard(r, fs.id, fs.parent, rg, fs.nranges, fs.flags & FMAP_RESIDUAL))
			return ferr(err, p, "refinement map: shard %u of object %u is not a valid shard (id, parent, "
				    "ranges inside the parent, ascending and disjoint, ids ascending)", fs.id, fs.parent);
		/* s2page shards carry their page count: recover it (pages of shard 0) */
		if (fs.parent == HL_S2PAGE_ID && hl_shard_index(fs.id) == 0)
			r->s2p_shard_pages = rg[0].len / sizeof(struct hl_s2page);
	}
	if (p != end)
		return ferr(err, p, "refinement map: %llu trailing bytes", (unsigned long long)(end - p));
	if (hl_refine_finish(r))
		return ferr(err, off, "refinement map: two shards own one byte, or a fully sharded object has a gap");
	if (hl_refine_sharded(r, HL_S2PAGE_ID) && r->parent[HL_S2PAGE_ID].residual)
		return ferr(err, off, "refinement map: s2page has no residual");
	/* s2page shards must be the engine's own layout (routing by pfn relies on it) */
	if (hl_refine_sharded(r, HL_S2PAGE_ID)) {
		struct hl_refine want;
		hl_refine_init(&want);
		if (hl_refine_s2page(&want, r->s2p_shard_pages) || want.s2p_shard_pages != r->s2p_shard_pages)
			return ferr(err, off, "refinement map: s2page shards of %llu pages", (unsigned long long)r->s2p_shard_pages);
		for (unsigned k = 0; k < HL_S2P_MAX_SHARDS; k++) {
			unsigned id = HL_S2P_SHARD(k);
			bool a = hl_refine_is_shard(r, id), b = hl_refine_is_shard(&want, id);
			if (a != b || (a && (r->sh[id - HL_ID_END].nranges != 2 ||
					     memcmp(&r->ranges[r->sh[id - HL_ID_END].first],
						    &want.ranges[want.sh[id - HL_ID_END].first], 2 * sizeof(struct hl_range)))))
				return ferr(err, off, "refinement map: s2page shard %u is not pages [k*n, (k+1)*n)", k);
		}
	}
	*used = sizeof(m) + m.bytes;
	return 0;
}

/* ---- writer ------------------------------------------------------------------------ */
struct wctx {
	FILE *f;
	uint64_t nrecs, bytes;
	uint64_t limit;          /* stop after this many records (write pass) */
	bool count_only;
	int ioerr;
};

/*
 * Walk the records of one base (one snapshot and the chain after it). The writer takes
 * the base once, so the snapshot, the first sequence number and the records it writes
 * belong together even if a checkpoint publishes a new base meanwhile; the old chain
 * stays valid until the RCU read section ends, and it only ever grows at its tail.
 */
static int walk_base(const struct hl_log_base *b, int (*fn)(const struct hl_rec *, void *), void *arg)
{
	for (struct hl_seg *s = b->head; s; s = rcu_dereference(s->next)) {
		uint32_t used = ck_pr_load_32(&s->used);
		ck_pr_fence_load();
		for (uint32_t off = 0; off < used;) {
			const struct hl_rec *r = (const struct hl_rec *)(s->data + off);
			uint32_t len = hl_seg_rec_len(s, off, used);   /* bounded: a torn log stops */
			int rc;
			if (!len)
				return HL_LOG_TORN;
			rc = fn(r, arg);
			if (rc)
				return rc;
			off += len;
		}
	}
	return 0;
}

static int write_visit(const struct hl_rec *r, void *arg)
{
	struct wctx *w = arg;
	if (!w->count_only && w->nrecs == w->limit)
		return 1;   /* appended after the count pass: not part of this file */
	w->nrecs++;
	w->bytes += r->len;
	if (w->count_only)
		return 0;
	{
		uint8_t buf[HL_REC_MAX];
		if (r->len > sizeof(buf))
			return w->ioerr = EINVAL;
		memcpy(buf, r, r->len);
		((struct hl_rec *)buf)->crc = rec_crc(r);
		if (fwrite(buf, 1, r->len, w->f) != r->len)
			return w->ioerr = errno ? errno : EIO;
	}
	return 0;
}

/*
 * The seq-0 image of object o, the bytes the file carries: the file's own when e was read
 * from one, a snapshot at seq 0 (a log collected from the EL2 image: its tables start at
 * their real pool PAs), else the initial image hl_state_new builds (a hosted engine starts
 * from exactly that; the state environment is set once before the first state). Sets *img
 * to raw bytes (*raw of them), or *comp and *clen to e's compressed copy. Caller: RCU reader.
 */
/*
 * The initial images hl_state_new builds are the same for every engine of the process (its
 * state environment is set once, before the first state): compressed once, on first use,
 * and shared by every write (a live check serializes the engine often) and every read (a
 * file whose seq-0 bytes are these needs no inflating to be validated).
 */
static struct {
	pthread_once_t once;
	bool ok;
	uint8_t *comp[HL_ID_END];
	uint64_t clen[HL_ID_END];
} init_cache = { .once = PTHREAD_ONCE_INIT };

static void init_cache_build(void)
{
	struct hl_state *st = hl_state_new(false);
	bool ok = st != NULL;

	for (unsigned o = 1; o < HL_ID_END && ok; o++) {
		uLongf l;
		if (!st->img[o].size)
			continue;
		l = compressBound(st->img[o].size);
		init_cache.comp[o] = malloc(l);
		ok = init_cache.comp[o] && compress2(init_cache.comp[o], &l, st->img[o].base, st->img[o].size, 1) == Z_OK;
		init_cache.clen[o] = l;
	}
	hl_state_free(st);
	init_cache.ok = ok;
}

static bool init_cache_get(void)
{
	pthread_once(&init_cache.once, init_cache_build);
	return init_cache.ok;
}

/* what seq0_source builds on demand: a state with the run's map, and a gather buffer for a
 * shard's or residual's image (valid until the next call); seq0_ws_free releases both */
struct seq0_ws {
	struct hl_state *st;
	uint8_t *buf;
	size_t cap;
};

static void seq0_ws_free(struct seq0_ws *ws)
{
	hl_state_free(ws->st);
	free(ws->buf);
	memset(ws, 0, sizeof(*ws));
}

static int seq0_source(struct hl_engine *e, unsigned o, const struct hl_log_base *base,
		       struct seq0_ws *ws, const uint8_t **img, uint64_t *raw,
		       const uint8_t **comp, uint64_t *clen)
{
	struct hl_state **scratch = &ws->st;

	*img = NULL;
	*comp = NULL;
	*raw = has_state(&e->ref, o) ? hl_engine_obj_size(e, o) : 0;
	*clen = 0;
	if (*raw == 0)
		return 0;
	if (e->seq0 && e->seq0[o].comp) {
		*comp = e->seq0[o].comp;
		*clen = e->seq0[o].clen;
		return e->seq0[o].raw == *raw ? 0 : -1;
	}
	if (*raw == 0)
		return 0;
	if (base->snap && base->snap->seq == 0) {
		*img = base->snap->img;
		return base->snap->size == *raw ? 0 : -1;
	}
	if (o < HL_ID_END && !hl_refine_sharded(&e->ref, o) && !(o == HL_S2PAGE_ID && e->cfg.kcore.n) &&
	    init_cache_get()) {
		*comp = init_cache.comp[o];
		*clen = init_cache.clen[o];
		return 0;
	}
	/* a shard, or an object whose initial image depends on the map: a scratch state with
	 * the run's map, its refined objects initialized again (hl_engine_new_refined) */
	if (!*scratch) {
		if (!(*scratch = hl_state_new(false)))
			return -1;
		(*scratch)->ref = &e->ref;
		(*scratch)->kcore = &e->cfg.kcore;   /* s2page: KCore's ranges (issue 12) */
		for (unsigned p = 1; p < HL_ID_END; p++)
			if (hl_refine_sharded(&e->ref, p) || (p == HL_S2PAGE_ID && e->cfg.kcore.n))
				hl_state_init_obj(*scratch, p);
	}
	if (o < HL_ID_END && !hl_refine_sharded(&e->ref, o)) {
		*img = (*scratch)->img[o].base;
		return (*scratch)->img[o].size == *raw ? 0 : -1;
	}
	/* a shard, or a residual (its shard-owned bytes zero): gathered into ws->buf, valid
	 * until the next call (one object at a time) */
	if (ws->cap < *raw) {
		free(ws->buf);
		ws->cap = 0;
		if (!(ws->buf = malloc(*raw)))
			return -1;
		ws->cap = *raw;
	}
	hl_state_obj_gather(*scratch, o, ws->buf);
	*img = ws->buf;
	return 0;
}

int hl_file_seq0(struct hl_engine *e, unsigned obj, void *buf, size_t size)
{
	struct seq0_ws ws = { 0 };
	const uint8_t *img, *comp;
	uint64_t raw, clen;
	uLongf out = size;
	int rc;

	if (obj == 0 || obj >= HL_OBJ_END || !has_state(&e->ref, obj) || size != hl_engine_obj_size(e, obj))
		return -1;
	hl_rcu_reader_ensure();
	hl_rcu_read_lock();
	rc = seq0_source(e, obj, rcu_dereference(e->logs[obj].base), &ws, &img, &raw, &comp, &clen);
	if (!rc && comp)
		rc = uncompress(buf, &out, comp, clen) == Z_OK && out == size ? 0 : -1;
	else if (!rc && img)
		memcpy(buf, img, size);
	hl_rcu_read_unlock();
	seq0_ws_free(&ws);
	return rc;
}

int hl_file_write(struct hl_engine *e, const char *path, struct hl_file_err *err)
{
	return hl_file_write_live(e, path, NULL, err);
}

int hl_file_write_live(struct hl_engine *e, const char *path, const uint64_t *live_digest,
		       struct hl_file_err *err)
{
	char tmp[4096];
	struct fhdr h;
	struct ftrl t;
	FILE *f;
	uint64_t total = 0;
	struct seq0_ws scratch = { 0 };
	int rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return ferr(err, 0, "path too long");
	f = fopen(tmp, "wb");
	if (!f)
		return ferr(err, 0, "cannot create %s: %s", tmp, strerror(errno));
	memset(&h, 0, sizeof(h));
	fill_build(&h);
	h.ncpus = e->cfg.ncpus;
	h.lock_kind = e->cfg.lock_kind;
	h.nkeys = e->cfg.nkeys;
	memcpy(h.kcore_keys, e->cfg.kcore_keys, (size_t)e->cfg.nkeys * 32);
	h.crc = crc_struct(&h, sizeof(h));
	if (fwrite(&h, sizeof(h), 1, f) != 1)
		rc = ferr(err, 0, "write failed: %s", strerror(errno));
	if (!rc) {
		uint8_t *mb;
		size_t ml;
		if (map_encode(&e->ref, &mb, &ml)) {
			rc = ferr(err, 0, "out of memory");
		} else {
			if (fwrite(mb, 1, ml, f) != ml)
				rc = ferr(err, 0, "write failed: %s", strerror(errno));
			free(mb);
		}
	}
	if (!rc) {   /* the KCore ranges block (version 7) */
		struct fkcore kh = { KCORE_MAGIC, e->cfg.kcore.n };
		struct fkrange kr[HL_MAX_KCORE_RANGES];
		uint32_t tail[2] = { 0, 0 };
		for (uint32_t i = 0; i < kh.n; i++)
			kr[i] = (struct fkrange){ e->cfg.kcore.r[i].base, e->cfg.kcore.r[i].size };
		tail[0] = crc_of((const uint8_t *)kr, kh.n * sizeof(kr[0]));
		if (fwrite(&kh, sizeof(kh), 1, f) != 1 || (kh.n && fwrite(kr, sizeof(kr[0]), kh.n, f) != kh.n) ||
		    fwrite(tail, sizeof(tail), 1, f) != 1)
			rc = ferr(err, 0, "write failed: %s", strerror(errno));
	}

	hl_rcu_reader_ensure();
	for (unsigned o = 1; o < HL_OBJ_END && !rc; o++) {
		struct fsec sec;
		struct wctx w = { .f = f, .count_only = true };
		const struct hl_log_base *base;
		const struct hl_snapshot *snap;
		uint8_t *comp = NULL, *icomp = NULL;
		const uint8_t *iimg, *iref;
		uLongf clen = 0;
		uint64_t iraw, iclen;

		if (!has_state(&e->ref, o)) {
			/* no object in this run (a shard id outside the map, a fully sharded
			 * parent): an empty section */
			memset(&sec, 0, sizeof(sec));
			sec.magic = SEC_MAGIC;
			sec.obj = (uint16_t)o;
			sec.first_seq = 1;
			if (o < HL_ID_END && e->logs[o].records_total)
				rc = ferr(err, 0, "object %u has records but no state in this run's map", o);
			sec.crc = crc_struct(&sec, sizeof(sec));
			if (!rc && fwrite(&sec, sizeof(sec), 1, f) != 1)
				rc = ferr(err, 0, "write failed: %s", strerror(errno));
			continue;
		}
		hl_rcu_read_lock();
		base = rcu_dereference(e->logs[o].base);
		snap = base->snap;
		memset(&sec, 0, sizeof(sec));
		sec.magic = SEC_MAGIC;
		sec.obj = (uint16_t)o;
		sec.first_seq = base->first_seq;
		if (walk_base(base, write_visit, &w) == HL_LOG_TORN) {
			hl_rcu_read_unlock();
			rc = ferr(err, 0, "the in-memory log of object %u is torn (a record with a bad length)", o);
			break;
		}
		sec.nrecs = w.nrecs;
		sec.rec_bytes = w.bytes;
		sec.live_digest = live_digest ? live_digest[o] : hl_state_obj_digest(e->st, o);
		if (seq0_source(e, o, base, &scratch, &iimg, &iraw, &iref, &iclen)) {
			hl_rcu_read_unlock();
			rc = ferr(err, 0, "no seq-0 image of object %u", o);
			break;
		}
		if (iimg) {
			uLongf l = compressBound(iraw);
			icomp = malloc(l);
			if (!icomp || compress2(icomp, &l, iimg, iraw, 1) != Z_OK) {
				hl_rcu_read_unlock();
				free(icomp);
				rc = ferr(err, 0, "cannot compress the seq-0 image of object %u", o);
				break;
			}
			iref = icomp;
			iclen = l;
		}
		sec.init_raw = iraw;
		sec.init_comp = iclen;
		sec.init_crc = iclen ? crc_of(iref, iclen) : 0;
		if (snap) {
			clen = compressBound(snap->size);
			comp = malloc(clen);
			if (!comp || compress2(comp, &clen, snap->img, snap->size, 1) != Z_OK) {
				hl_rcu_read_unlock();
				free(comp);
				free(icomp);
				rc = ferr(err, 0, "cannot compress snapshot of object %u", o);
				break;
			}
			sec.has_snap = 1;
			sec.snap_seq = snap->seq;
			sec.snap_raw = snap->size;
			sec.snap_comp = clen;
			sec.snap_crc = crc_of(comp, clen);
		}
		sec.crc = crc_struct(&sec, sizeof(sec));
		if (fwrite(&sec, sizeof(sec), 1, f) != 1 || (iclen && fwrite(iref, 1, iclen, f) != iclen) ||
		    (comp && fwrite(comp, 1, clen, f) != clen))
			rc = ferr(err, 0, "write failed: %s", strerror(errno));
		free(comp);
		free(icomp);
		/* records are written as counted: the chain of `base` cannot shrink while we
		 * read it, and anything appended after counting is left out (the count pass
		 * fixed nrecs and rec_bytes in the section header) */
		if (!rc) {
			struct wctx w2 = { .f = f, .limit = sec.nrecs };
			int wr = walk_base(base, write_visit, &w2);
			if (wr == HL_LOG_TORN)
				rc = ferr(err, 0, "the in-memory log of object %u is torn (a record with a bad length)", o);
			else if (w2.ioerr)
				rc = ferr(err, 0, "write failed: %s", strerror(w2.ioerr));
			else if (w2.nrecs != sec.nrecs || w2.bytes != sec.rec_bytes)
				rc = ferr(err, 0, "object %u: log shrank while being written", o);
			total += w2.nrecs;
		}
		hl_rcu_read_unlock();
	}
	if (!rc) {
		memset(&t, 0, sizeof(t));
		t.magic = END_MAGIC;
		t.nobj = HL_OBJ_END - 1;
		t.records = total;
		for (unsigned c = 0; c < e->cfg.ncpus && c < 64; c++)
			if (hl_cpu_halted(e, (int)c))
				t.halted_mask |= 1ull << c;
		t.crc = crc_struct(&t, sizeof(t));
		if (fwrite(&t, sizeof(t), 1, f) != 1)
			rc = ferr(err, 0, "write failed: %s", strerror(errno));
	}
	seq0_ws_free(&scratch);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = rc ? rc : ferr(err, 0, "write failed: %s", strerror(errno));
	if (fclose(f) != 0 && !rc)
		rc = ferr(err, 0, "close failed: %s", strerror(errno));
	if (rc) {
		unlink(tmp);
		return rc;
	}
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return ferr(err, 0, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
	}
	return 0;
}

/* ---- reader ------------------------------------------------------------------------ */
static int check_build(const struct fhdr *h, struct hl_file_err *err)
{
	struct fhdr me;
#define CHK(field, name)                                                                       \
	if (h->field != me.field)                                                              \
		return ferr(err, offsetof(struct fhdr, field),                                 \
			    "file was written with " name "=%u, this build has %u", h->field, me.field)
	memset(&me, 0, sizeof(me));
	fill_build(&me);
	CHK(max_vm, "max_vm");
	CHK(vcpus_per_vm, "vcpus_per_vm");
	CHK(nr_cpus, "nr_cpus");
	CHK(ram_mib, "ram_mib");
	CHK(host_pmd, "host_pmd_pages");
	CHK(vm_pmd, "vm_pmd_pages");
	CHK(core_pmd, "core_pmd_pages");
	CHK(spt_pmd, "spt_pmd_pages");
	CHK(id_end, "object count");
	CHK(rec_hdr_size, "record header size");
	CHK(nobj, "object sections");
#undef CHK
	return 0;
}

/*
 * Structural check of one record at file offset `off`: its length, checksum, the fields
 * that size or index something (a replay indexes by cpu, event, object; walks nlock,
 * ndelta and blob_len) and that every delta lies inside the record. What a checksummed,
 * well-formed record MEANS is the oracles' to judge, not the reader's: a sequence number
 * out of order (a gap, a repeat) or a delta that writes outside its object's image is
 * loaded as it is, so that `hyplog replay` and `hyplog check` report it as a violation of
 * the relation it breaks (Cal<Obj>, H_CalLock) with exit 1, never as a malformed file.
 * (The replays bound-check every delta before applying it: hl_apply_deltas.)
 */
static int check_record(const struct hl_rec *r, uint64_t off, uint64_t room, unsigned obj,
			uint64_t seq, size_t objsize, struct hl_file_err *err)
{
	const struct hl_delta *d;
	const uint8_t *end;

	if (room < sizeof(*r))
		return ferr(err, off, "truncated record header (%llu bytes left)", (unsigned long long)room);
	if (r->len < sizeof(*r) || r->len % 8 || r->len > HL_REC_MAX)
		return ferr(err, off, "bad record length %u", r->len);
	if (r->len > room)
		return ferr(err, off, "truncated record: length %u, %llu bytes left", r->len,
			    (unsigned long long)room);
	if (rec_crc(r) != r->crc)
		return ferr(err, off, "record checksum mismatch (object %u, seq %llu)", obj,
			    (unsigned long long)seq);
	if (r->obj != obj)
		return ferr(err, off, "record of object %u inside the section of object %u", r->obj, obj);
	(void)seq;      /* the record's seq is checked by Cal<Obj> and H_CalLock, not here */
	(void)objsize;  /* so is a delta outside the object */
	if (r->event == HL_EV_NONE || r->event >= HL_EV__COUNT || r->result > HL_RES_HALT ||
	    r->cpu >= HL_NR_CPUS + 1 || r->nrec == 0 || r->nrec > HL_MAX_STAGES || r->blob_len > HL_BLOB_MAX ||
	    r->nlock > HL_MAX_STAGES)
		return ferr(err, off, "malformed record fields (object %u, seq %llu)", obj,
			    (unsigned long long)seq);
	end = (const uint8_t *)r + r->len;
	if ((const uint8_t *)hl_rec_first_delta(r) > end)
		return ferr(err, off, "record too short for its blob and lock list");
	for (unsigned i = 0; i < r->nlock; i++) {
		if (hl_rec_rdeps(r)[i].obj == 0 || hl_rec_rdeps(r)[i].obj >= HL_OBJ_END)
			return ferr(err, off, "lock entry on unknown object %u", hl_rec_rdeps(r)[i].obj);
		if (hl_rec_rdeps(r)[i].flags & ~(unsigned)HL_RD_WRITTEN)
			return ferr(err, off, "lock entry %u has unknown flags 0x%x", i, hl_rec_rdeps(r)[i].flags);
	}
	d = hl_rec_first_delta(r);
	for (unsigned i = 0; i < r->ndelta; i++) {
		if ((const uint8_t *)(d + 1) > end)
			return ferr(err, off, "delta %u runs past the record", i);
		if (d->flags & ~(unsigned)HL_DF_ZERO || d->pad)
			return ferr(err, off, "delta %u has unknown flags 0x%x", i, d->flags);
		/* a delta outside the object (d->off + d->len > objsize) is for the oracles */
		if (!(d->flags & HL_DF_ZERO) && (const uint8_t *)(d + 1) + HL_ALIGN8(d->len) > end)
			return ferr(err, off, "delta %u payload runs past the record", i);
		d = hl_delta_next(d);
	}
	if ((const uint8_t *)d != end)
		return ferr(err, off, "record has %lld trailing bytes", (long long)(end - (const uint8_t *)d));
	return 0;
}

/*
 * Inflate a zlib stream of n bytes that must give exactly `want` bytes: into dst, or with
 * dst == NULL only checked, through a fixed buffer (the validation pass allocates nothing).
 */
static int inflate_exact(const uint8_t *src, uint64_t n, uint64_t want, uint8_t *dst)
{
	uint8_t chunk[16384];
	z_stream z;
	uint64_t got = 0;
	int zr;

	memset(&z, 0, sizeof(z));
	if (n > UINT32_MAX || inflateInit(&z) != Z_OK)
		return -1;
	z.next_in = (Bytef *)src;
	z.avail_in = (uInt)n;
	do {
		uint64_t room = dst ? want - got : sizeof(chunk);
		z.next_out = dst ? dst + got : chunk;
		z.avail_out = (uInt)(room < UINT32_MAX ? room : UINT32_MAX);
		if (dst && room == 0) {
			/* full: the stream must end here, with no input left */
			z.next_out = chunk;
			z.avail_out = 1;
		}
		zr = inflate(&z, Z_NO_FLUSH);
		got = z.total_out;
		if (got > want)
			break;
	} while (zr == Z_OK);
	inflateEnd(&z);
	return zr == Z_STREAM_END && got == want && z.avail_in == 0 ? 0 : -1;
}

/*
 * The sections and the trailer. With e == NULL this only validates (no allocation but a
 * record buffer): a malformed or truncated file is refused before an engine exists, so
 * a bad file costs no more than reading it.
 */
static int parse_body(const uint8_t *buf, uint64_t size, const struct fhdr *h, uint64_t body_off,
		      const struct hl_refine *ref, struct hl_engine *e, struct hl_file_info *info,
		      struct hl_file_err *err)
{
	uint64_t recbuf[HL_REC_MAX / 8];
	uint8_t *snapbuf = NULL;
	uint64_t off = body_off;
	int rc = -1;

	info->records = 0;
	info->nsnap = 0;
	info->nshards = ref->nshards;
	if (e && !e->seq0 && !(e->seq0 = calloc(HL_OBJ_END, sizeof(*e->seq0)))) {
		ferr(err, off, "out of memory");
		goto out;
	}
	for (unsigned o = 1; o < HL_OBJ_END; o++) {
		bool state = has_state(ref, o);
		size_t objsize = state ? hl_refine_obj_size(ref, o) : 0;
		struct fsec sec;
		uint64_t sec_off = off;

		if (size - off < sizeof(sec)) {
			ferr(err, off, "truncated file: section header of object %u missing", o);
			goto out;
		}
		memcpy(&sec, buf + off, sizeof(sec));
		if (sec.magic != SEC_MAGIC || sec.crc != crc_struct(&sec, sizeof(sec))) {
			ferr(err, off, "corrupt section header for object %u", o);
			goto out;
		}
		if (sec.obj != o || sec.has_snap > 1 || sec.first_seq == 0 ||
		    (sec.has_snap && sec.snap_seq + 1 != sec.first_seq) || (!sec.has_snap && sec.first_seq != 1)) {
			ferr(err, off, "section header for object %u is inconsistent", o);
			goto out;
		}
		off += sizeof(sec);
		if (!state && (sec.has_snap || sec.nrecs || sec.rec_bytes || sec.live_digest)) {
			ferr(err, sec_off, "object %u has no state in the file's refinement map, but its section "
			     "carries a snapshot, records or a digest", o);
			goto out;
		}
		info->live_digest[o] = sec.live_digest;
		info->has_live_digest[o] = state;
		/* the seq-0 image: every object with state has one */
		if (sec.init_raw != objsize || (objsize != 0) != (sec.init_comp != 0) || sec.pad ||
		    (sec.init_comp == 0 && sec.init_crc != 0)) {
			ferr(err, sec_off, "seq-0 image of object %u: %llu bytes (%llu compressed), expected %zu",
			     o, (unsigned long long)sec.init_raw, (unsigned long long)sec.init_comp, objsize);
			goto out;
		}
		if (sec.init_comp > size - off) {
			ferr(err, off, "truncated seq-0 image of object %u", o);
			goto out;
		}
		if (sec.init_comp) {
			if (crc_of(buf + off, sec.init_comp) != sec.init_crc) {
				ferr(err, off, "seq-0 image checksum mismatch (object %u)", o);
				goto out;
			}
			/* validated in the first pass (no engine): inflated, or byte-equal to this
			 * build's own initial image */
			if (!e && !(o < HL_ID_END && init_cache_get() && sec.init_comp == init_cache.clen[o] &&
				    memcmp(buf + off, init_cache.comp[o], sec.init_comp) == 0) &&
			    inflate_exact(buf + off, sec.init_comp, objsize, NULL)) {
				ferr(err, off, "seq-0 image of object %u does not decompress to %zu bytes", o, objsize);
				goto out;
			}
			if (e) {
				struct hl_seq0_img *s0 = &e->seq0[o];
				s0->comp = malloc(sec.init_comp);
				if (!s0->comp) {
					ferr(err, off, "out of memory");
					goto out;
				}
				memcpy(s0->comp, buf + off, sec.init_comp);
				s0->clen = sec.init_comp;
				s0->raw = objsize;
			}
			off += sec.init_comp;
		}
		if (sec.has_snap) {
			uLongf raw = objsize;
			if (sec.snap_raw != objsize) {
				ferr(err, sec_off, "snapshot of object %u has %llu bytes, expected %zu", o,
				     (unsigned long long)sec.snap_raw, objsize);
				goto out;
			}
			if (sec.snap_comp > size - off) {
				ferr(err, off, "truncated snapshot of object %u", o);
				goto out;
			}
			if (crc_of(buf + off, sec.snap_comp) != sec.snap_crc) {
				ferr(err, off, "snapshot checksum mismatch (object %u)", o);
				goto out;
			}
			if (e) {
				free(snapbuf);
				snapbuf = malloc(raw);
				if (!snapbuf || uncompress(snapbuf, &raw, buf + off, sec.snap_comp) != Z_OK ||
				    raw != sec.snap_raw) {
					ferr(err, off, "snapshot of object %u does not decompress", o);
					goto out;
				}
				if (hl_log_set_snapshot(&e->logs[o], sec.snap_seq, snapbuf, raw)) {
					ferr(err, off, "out of memory");
					goto out;
				}
			}
			info->nsnap++;
			off += sec.snap_comp;
		}
		if (sec.rec_bytes > size - off) {
			ferr(err, off, "truncated file: object %u records need %llu bytes, %llu left", o,
			     (unsigned long long)sec.rec_bytes, (unsigned long long)(size - off));
			goto out;
		}
		for (uint64_t i = 0, end = off + sec.rec_bytes; i < sec.nrecs; i++) {
			/* a compressed snapshot has any length, so records in the file are not
			 * 8-byte aligned: check and append an aligned copy */
			const struct hl_rec *r = (const struct hl_rec *)recbuf;
			uint64_t room = end - off;
			memcpy(recbuf, buf + off, room < sizeof(recbuf) ? room : sizeof(recbuf));
			if (check_record(r, off, room, o, sec.first_seq + i, objsize, err))
				goto out;
			if (e) {
				if (!hl_log_ensure(&e->logs[o], r->len)) {
					ferr(err, off, "out of memory");
					goto out;
				}
				hl_log_append(&e->logs[o], r);
			}
			off += r->len;
			info->records++;
		}
		if (off != sec_off + sizeof(sec) + sec.init_comp + (sec.has_snap ? sec.snap_comp : 0) + sec.rec_bytes) {
			ferr(err, off, "object %u: record bytes do not match the section header", o);
			goto out;
		}
	}
	{
		struct ftrl t;
		if (size - off < sizeof(t)) {
			ferr(err, off, "truncated file: trailer missing");
			goto out;
		}
		memcpy(&t, buf + off, sizeof(t));
		if (t.magic != END_MAGIC || t.crc != crc_struct(&t, sizeof(t)) || t.records != info->records ||
		    t.nobj != HL_OBJ_END - 1) {
			ferr(err, off, "corrupt trailer");
			goto out;
		}
		if (off + sizeof(t) != size) {
			ferr(err, off + sizeof(t), "%llu unexpected bytes after the trailer",
			     (unsigned long long)(size - off - sizeof(t)));
			goto out;
		}
		info->halted_mask = t.halted_mask;
		if (e)
			for (unsigned c = 0; c < h->ncpus && c < 64; c++)
				if (t.halted_mask & (1ull << c))
					e->cpus[c].halted = true;
	}
	rc = 0;
out:
	free(snapbuf);
	return rc;
}

struct hl_engine *hl_file_read(const char *path, struct hl_file_info *info, struct hl_file_err *err)
{
	static __thread struct hl_refine ref;   /* ~14 KiB: not on the stack */
	struct hl_engine_cfg cfg;
	struct hl_kcore_ranges kranges;
	struct hl_engine *e = NULL;
	struct hl_file_info dummy;
	uint8_t *buf = NULL;
	struct stat stb;
	struct fhdr h;
	uint64_t off = 0, size;
	FILE *f;
	int fd;

	if (!info)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	/* loading a snapshot publishes a new log base with call_rcu: be a registered reader */
	hl_rcu_reader_ensure();
	/*
	 * Only a regular file is read. Opening a FIFO for reading blocks until a writer comes,
	 * and a device may block or have side effects, so open non-blocking (no side effect on
	 * a FIFO: it returns at once), check the type of what was opened (fstat: no race with a
	 * rename between a stat and the open), and only then read it, blocking again.
	 */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		ferr(err, 0, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &stb) != 0) {
		ferr(err, 0, "cannot stat %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(stb.st_mode)) {
		close(fd);
		ferr(err, 0, "%s is not a regular file (a %s)", path,
		     S_ISDIR(stb.st_mode) ? "directory" : S_ISFIFO(stb.st_mode) ? "FIFO" :
		     S_ISCHR(stb.st_mode) ? "character device" : S_ISBLK(stb.st_mode) ? "block device" :
		     S_ISSOCK(stb.st_mode) ? "socket" : "special file");
		return NULL;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 || !(f = fdopen(fd, "rb"))) {
		ferr(err, 0, "cannot open %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	size = (uint64_t)stb.st_size;
	info->file_bytes = size;
	buf = malloc(size ? size : 1);
	if (!buf || fread(buf, 1, size, f) != size) {
		fclose(f);
		free(buf);
		ferr(err, 0, "cannot read %s", path);
		return NULL;
	}
	fclose(f);

	if (size < sizeof(h)) {
		ferr(err, size, "truncated header: %llu bytes, need %zu", (unsigned long long)size, sizeof(h));
		goto bad;
	}
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, file_magic, 8) != 0) {
		ferr(err, 0, "not a hyplog log file (bad magic)");
		goto bad;
	}
	if (h.version != HL_FILE_VERSION) {
		ferr(err, 8, "unsupported file version %u (this build reads %u)", h.version, HL_FILE_VERSION);
		goto bad;
	}
	if (h.crc != crc_struct(&h, sizeof(h))) {
		ferr(err, offsetof(struct fhdr, crc), "header checksum mismatch");
		goto bad;
	}
	if (h.hdr_len != sizeof(h)) {
		ferr(err, offsetof(struct fhdr, hdr_len), "bad header length %u (expected %zu)", h.hdr_len,
		     sizeof(h));
		goto bad;
	}
	if (check_build(&h, err))
		goto bad;
	if (h.ncpus < 1 || h.ncpus > HL_NR_CPUS || h.lock_kind > HL_LOCK_MUTEX) {
		ferr(err, offsetof(struct fhdr, ncpus), "bad run configuration (cpus %u)", h.ncpus);
		goto bad;
	}
	if (h.nkeys > HL_MAX_KEYS) {
		ferr(err, offsetof(struct fhdr, nkeys), "bad header: %u KCore keys (at most %u)", h.nkeys,
		     HL_MAX_KEYS);
		goto bad;
	}
	for (unsigned i = h.nkeys; i < HL_MAX_KEYS; i++)
		for (unsigned b = 0; b < 32; b++)
			if (h.kcore_keys[i][b]) {
				ferr(err, offsetof(struct fhdr, kcore_keys) + i * 32u + b,
				     "bad header: unused KCore key slot %u is not zero", i);
				goto bad;
			}
	if (h.pad) {
		ferr(err, offsetof(struct fhdr, pad), "bad header: padding is not zero");
		goto bad;
	}
	info->version = h.version;
	info->ncpus = h.ncpus;
	info->lock_kind = h.lock_kind;
	info->keys.nkeys = h.nkeys;
	memcpy(info->keys.key, h.kcore_keys, sizeof(info->keys.key));
	off = sizeof(h);
	{
		uint64_t used = 0;
		if (map_decode(buf, size, off, &ref, &used, err))
			goto bad;
		off += used;
	}
	{   /* the KCore ranges block (version 7): validated like the engine's configuration */
		struct fkcore kh;
		uint32_t tail[2];
		if (size - off < sizeof(kh)) {
			ferr(err, off, "truncated file: KCore ranges block missing");
			goto bad;
		}
		memcpy(&kh, buf + off, sizeof(kh));
		if (kh.magic != KCORE_MAGIC || kh.n > HL_MAX_KCORE_RANGES ||
		    size - off - sizeof(kh) < kh.n * sizeof(struct fkrange) + sizeof(tail)) {
			ferr(err, off, "bad KCore ranges block (magic 0x%08x, %u ranges)", kh.magic, kh.n);
			goto bad;
		}
		memset(&kranges, 0, sizeof(kranges));
		kranges.n = kh.n;
		for (uint32_t i = 0; i < kh.n; i++) {
			struct fkrange kr;
			memcpy(&kr, buf + off + sizeof(kh) + i * sizeof(kr), sizeof(kr));
			kranges.r[i].base = kr.base;
			kranges.r[i].size = kr.size;
		}
		memcpy(tail, buf + off + sizeof(kh) + kh.n * sizeof(struct fkrange), sizeof(tail));
		if (tail[0] != crc_of(buf + off + sizeof(kh), kh.n * sizeof(struct fkrange)) || tail[1]) {
			ferr(err, off, "KCore ranges block checksum mismatch");
			goto bad;
		}
		if (!hl_kcore_ranges_valid(&kranges)) {
			ferr(err, off, "KCore ranges block: a range is unaligned, empty, outside RAM, or out of order");
			goto bad;
		}
		off += sizeof(kh) + kh.n * sizeof(struct fkrange) + sizeof(tail);
	}

	/* validate everything first: a bad file never costs an engine */
	if (parse_body(buf, size, &h, off, &ref, NULL, info, err))
		goto bad;
	hl_engine_cfg_default(&cfg);
	cfg.ncpus = h.ncpus;
	cfg.lock_kind = (enum hl_lock_kind)h.lock_kind;
	cfg.with_ram = false;
	cfg.nkeys = h.nkeys;
	memcpy(cfg.kcore_keys, h.kcore_keys, sizeof(cfg.kcore_keys));
	cfg.kcore = kranges;
	e = hl_engine_new_refined(&cfg, &ref);
	if (!e) {
		ferr(err, off, "out of memory");
		goto bad;
	}
	if (parse_body(buf, size, &h, off, &ref, e, info, err))
		goto bad;
	free(buf);
	return e;
bad:
	free(buf);
	hl_engine_free(e);
	return NULL;
}

/*
 * hl_olog.c - the oracle's log-file parser (see hl_olog.h). Written from the README "Log
 * files" section and the layout engine/hl_file.c writes; it shares no code with the
 * engine's reader. Every field is checked before it is used; the first problem is
 * reported with its byte offset.
 */
#include "hl_olog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>
#include <zlib.h>

#include "hl_mpt.h"
#include "hl_types.h"

/* ---- the file layout (engine/hl_file.c; all little-endian, no padding) ----------------- */
static const char file_magic[8] = { 'H', 'Y', 'P', 'L', 'O', 'G', '\r', '\n' };
#define SEC_MAGIC 0x4A424F53u   /* "SOBJ" */
#define END_MAGIC 0x444E4553u   /* "SEND" */
#define MAP_MAGIC 0x50414D52u   /* "RMAP" */

struct o_fhdr {
	char magic[8];
	uint32_t version;
	uint32_t hdr_len;
	uint32_t max_vm, vcpus_per_vm, nr_cpus, ram_mib;
	uint32_t host_pmd, vm_pmd, core_pmd, spt_pmd;
	uint32_t id_end, rec_hdr_size;
	uint32_t ncpus, lock_kind;
	uint32_t nobj;
	uint32_t nkeys;
	uint8_t kcore_keys[HL_MAX_KEYS][32];
	uint32_t pad;
	uint32_t crc;
};
_Static_assert(sizeof(struct o_fhdr) == 80 + HL_MAX_KEYS * 32, "file header layout (version 5)");

struct o_fsec {
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
	uint32_t init_crc;      /* the seq-0 image: crc32 of its init_comp compressed bytes */
	uint64_t init_raw;      /* the object's image size (0: no state) */
	uint64_t init_comp;
	uint32_t pad;
	uint32_t crc;
};
_Static_assert(sizeof(struct o_fsec) == 96, "section header layout (version 4+)");

struct o_ftrl {
	uint32_t magic;
	uint32_t nobj;
	uint64_t records;
	uint64_t halted_mask;
	uint32_t pad;
	uint32_t crc;
};
_Static_assert(sizeof(struct o_ftrl) == 32, "trailer layout");

/* version 6: the refinement map block, right after the header: struct o_fmap, then `bytes`
 * bytes of entries (ascending id): struct o_fshard, then nranges x struct o_frange */
struct o_fmap {
	uint32_t magic;
	uint32_t nshards;
	uint32_t bytes;         /* the entries that follow (not this header) */
	uint32_t crc;           /* crc32 of the entry bytes */
};
struct o_fshard {
	uint16_t id;
	uint16_t parent;        /* the SPEC object it refines */
	uint16_t nranges;
	uint16_t flags;         /* O_FMAP_RESIDUAL: the parent keeps a log of its own */
};
#define O_FMAP_RESIDUAL 1u
struct o_frange {
	uint64_t off, len;      /* in the parent's image */
};
_Static_assert(sizeof(struct o_fmap) == 16 && sizeof(struct o_fshard) == 8 && sizeof(struct o_frange) == 16,
	       "map layout (version 6)");

const char *hl_olog_obj_name(unsigned id, char *buf, size_t len)
{
	return hl_obj_name(id, buf, (unsigned)len);
}

uint64_t hl_olog_digest(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

static int perr(struct hl_olog_err *err, uint64_t off, const char *fmt, ...)
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

/* crc32 of a structure whose last four bytes are its crc */
static uint32_t crc_struct(const void *p, size_t n)
{
	return (uint32_t)crc32(0L, (const Bytef *)p, (uInt)(n - 4));
}

void hl_olog_free(struct hl_olog *lg)
{
	if (!lg)
		return;
	free(lg->arena);
	free(lg->recv);
	for (unsigned k = 0; k < 2; k++) {
		for (unsigned o = 0; lg->own_img[k] && o < lg->id_end; o++)
			free(lg->own_img[k][o]);
		free(lg->own_img[k]);
	}
	for (unsigned o = 0; o < HL_ID_END; o++)
		free(lg->own_abs[o]);
	free(lg->obj);
	free(lg->parent);
	free(lg->rfirst);
	free(lg->rnum);
	free(lg->rng);
	free(lg->byoff);
	memset(lg, 0, sizeof(*lg));
}

static int check_build(const struct o_fhdr *h, struct hl_olog_err *err)
{
#define CHK(field, want, name)                                                                 \
	if (h->field != (uint32_t)(want))                                                      \
		return perr(err, offsetof(struct o_fhdr, field),                               \
			    "file was written with " name "=%u, this build has %u", h->field,   \
			    (unsigned)(want))
	CHK(max_vm, HL_MAX_VM, "max_vm");
	CHK(vcpus_per_vm, HL_VCPU_PER_VM, "vcpus_per_vm");
	CHK(nr_cpus, HL_NR_CPUS, "nr_cpus");
	CHK(ram_mib, HL_CFG_RAM_MIB, "ram_mib");
	CHK(host_pmd, HL_CFG_HOST_PMD_PAGES, "host_pmd_pages");
	CHK(vm_pmd, HL_CFG_VM_PMD_PAGES, "vm_pmd_pages");
	CHK(core_pmd, HL_CFG_CORE_PMD_PAGES, "core_pmd_pages");
	CHK(spt_pmd, HL_CFG_SPT_PMD_PAGES, "spt_pmd_pages");
	CHK(rec_hdr_size, sizeof(struct hl_rec), "record header size");
	if (h->version < 6) {
		CHK(id_end, HL_ID_END, "object count");
	} else {
#ifdef HL_OBJ_END
		CHK(id_end, HL_OBJ_END, "object count (SPEC objects and shards)");
#endif
		if (h->id_end < HL_ID_END || h->id_end > HL_OLOG_MAX_IDS)
			return perr(err, offsetof(struct o_fhdr, id_end), "object count %u (%u to %u)", h->id_end,
				    HL_ID_END, HL_OLOG_MAX_IDS);
	}
	CHK(nobj, h->id_end - 1, "object sections");
#undef CHK
	return 0;
}

/*
 * Structure of one record (the part that makes it a record, not what it says): its
 * length, checksum, and that its blob, lock list and deltas lie inside it exactly. `r` is
 * the aligned copy; `off` its file offset. Sequence numbers, objects, events, lock lists
 * and delta bounds are the relations' business.
 */
static int check_record(struct hl_rec *r, uint64_t off, unsigned obj, uint64_t idx,
			struct hl_olog_err *err)
{
	const uint8_t *end = (const uint8_t *)r + r->len;
	const struct hl_delta *d;
	uint32_t crc = r->crc;

	r->crc = 0;
	if ((uint32_t)crc32(0L, (const Bytef *)r, r->len) != crc) {
		r->crc = crc;
		return perr(err, off, "record checksum mismatch (object %u, record %llu of its section)", obj,
			    (unsigned long long)idx);
	}
	r->crc = crc;
	if (r->blob_len > HL_BLOB_MAX)
		return perr(err, off, "record blob of %u bytes (at most %u)", r->blob_len, HL_BLOB_MAX);
	if ((uint64_t)sizeof(*r) + HL_ALIGN8(r->blob_len) + (uint64_t)r->nlock * sizeof(struct hl_rdep) > r->len)
		return perr(err, off, "record of %u bytes too short for its blob and %u lock entries", r->len,
			    r->nlock);
	d = hl_rec_first_delta(r);
	for (unsigned i = 0; i < r->ndelta; i++) {
		if ((const uint8_t *)(d + 1) > end)
			return perr(err, off, "delta %u runs past the end of its record", i);
		if (!(d->flags & HL_DF_ZERO) && (uint64_t)((const uint8_t *)(d + 1) - (const uint8_t *)r) +
							HL_ALIGN8(d->len) > r->len)
			return perr(err, off, "payload of delta %u runs past the end of its record", i);
		d = hl_delta_next(d);
	}
	if ((const uint8_t *)d != end)
		return perr(err, off, "record has %lld bytes after its last delta",
			    (long long)(end - (const uint8_t *)d));
	return 0;
}

static int inflate_img(const uint8_t *src, uint64_t comp, uint64_t raw, uint8_t **out, uint64_t off,
		       unsigned o, const char *what, struct hl_olog_err *err)
{
	uLongf n = (uLongf)raw;
	uint8_t *b = malloc(raw ? raw : 1);

	if (!b)
		return perr(err, off, "out of memory for the %s of object %u", what, o);
	if (uncompress(b, &n, src, (uLong)comp) != Z_OK || n != raw) {
		free(b);
		return perr(err, off, "%s of object %u does not decompress to %llu bytes", what, o,
			    (unsigned long long)raw);
	}
	*out = b;
	return 0;
}

/* ---- the refinement map (version 6) ---------------------------------------------------- */

/* the size shared/ gives a SPEC object's image (0: no state or unknown) */
static size_t spec_size(unsigned a)
{
	if (a == HL_CORE_ID)
		return sizeof(struct hl_core_data);
	if (a == HL_S2PAGE_ID)
		return sizeof(struct hl_s2page_obj);
	if (a == HL_SMMU_ID)
		return sizeof(struct hl_smmu_obj);
	if (a >= HL_INFO_ID && a < HL_ID_END)
		return sizeof(struct hl_vminfo);
	if (a == HL_SPT_ID || (a >= HL_NPT_ID && a < HL_INFO_ID))
		return hl_mpt_obj_size(a);
	return 0;
}

static int map_bad(struct hl_olog *lg, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	lg->map_bad = true;
	lg->map_err_off = off;
	va_start(ap, fmt);
	vsnprintf(lg->map_err, sizeof(lg->map_err), fmt, ap);
	va_end(ap);
	return -1;
}

struct byoff_key {
	uint16_t parent;
	uint64_t off;
	uint32_t idx;
};

static int byoff_cmp(const void *x, const void *y)
{
	const struct byoff_key *a = x, *b = y;

	if (a->parent != b->parent)
		return a->parent < b->parent ? -1 : 1;
	if (a->off != b->off)
		return a->off < b->off ? -1 : 1;
	return 0;
}

/*
 * Is the map a refinement of the SPEC objects? Every rule that makes "abstract image =
 * residual with each shard's bytes at its ranges" one well-defined function: each shard
 * once, an ID past the SPEC's, a parent with state, non-empty ranges inside the parent,
 * ascending within a shard, no byte owned twice, a shard's image exactly its ranges, shards
 * of one parent in ascending ID = ascending address, a parent without a log of its own
 * tiled with no gap, and no lock object with state outside the map. 0, or -1 with map_err.
 */
static int free_rc(void *p, int rc)
{
	free(p);
	return rc;
}

static int map_validate(struct hl_olog *lg, uint64_t map_off)
{
	char nm[24], pn[24];
	struct byoff_key *keys;
	uint32_t nk = 0;

	for (unsigned id = HL_ID_END; id < lg->id_end; id++) {
		const struct hl_olog_obj *ob = &lg->obj[id];
		uint64_t sum = 0;
		unsigned a = lg->parent[id];
		if (a == id) {
			if (ob->size || ob->n)
				return map_bad(lg, map_off, "object %u (%s) has a log but the refinement map gives it no "
					       "parent", id, hl_obj_name(id, nm, sizeof(nm)));
			continue;
		}
		for (uint32_t i = 0; i < lg->rnum[id]; i++)
			sum += lg->rng[lg->rfirst[id] + i].len;
		if (ob->size != sum)
			return map_bad(lg, map_off, "shard %s owns %llu bytes of %s, its image has %zu",
				       hl_obj_name(id, nm, sizeof(nm)), (unsigned long long)sum,
				       hl_obj_name(a, pn, sizeof(pn)), ob->size);
	}
	/* per parent: sizes, ownership, coverage */
	for (unsigned a = 1; a < HL_ID_END; a++) {
		struct hl_olog_abs *ab = &lg->ab[a];
		ab->refined = false;
		ab->residual = false;
		ab->size = lg->obj[a].size;
	}
	keys = malloc(((size_t)lg->nrng + 1) * sizeof(*keys));
	if (!keys)
		return map_bad(lg, map_off, "out of memory reading the refinement map");
	for (unsigned id = HL_ID_END; id < lg->id_end; id++) {
		unsigned a = lg->parent[id];
		if (a == id)
			continue;
		lg->ab[a].refined = true;
		for (uint32_t i = 0; i < lg->rnum[id]; i++)
			keys[nk++] = (struct byoff_key){ (uint16_t)a, lg->rng[lg->rfirst[id] + i].off, lg->rfirst[id] + i };
	}
	for (unsigned a = 1; a < HL_ID_END; a++) {
		struct hl_olog_abs *ab = &lg->ab[a];
		if (!ab->refined)
			continue;
		ab->residual = lg->obj[a].size != 0;
		ab->size = spec_size(a);
		if (ab->residual != (lg->resflag[a] == 1 + O_FMAP_RESIDUAL)) {
			char nm2[24];
			return free_rc(keys, map_bad(lg, map_off, "the map says %s %s residual log, the file %s",
						     hl_obj_name(a, nm2, sizeof(nm2)),
						     lg->resflag[a] == 1 + O_FMAP_RESIDUAL ? "keeps a" : "keeps no",
						     ab->residual ? "has one (a section with state)" : "has none"));
		}
		if (!ab->size) {
			return free_rc(keys, map_bad(lg, map_off, "%s is refined into shards but has no state to refine",
				       hl_obj_name(a, pn, sizeof(pn))));
		}
		if (ab->residual && lg->obj[a].size != ab->size) {
			return free_rc(keys, map_bad(lg, map_off, "the residual log of %s has a %zu-byte image, the object %zu",
				       hl_obj_name(a, pn, sizeof(pn)), lg->obj[a].size, ab->size));
		}
	}
	/* ranges inside the parent (checked before anything sums or sorts them) */
	for (uint32_t i = 0; i < nk; i++) {
		const struct hl_olog_range *r = &lg->rng[keys[i].idx];
		size_t psz = lg->ab[keys[i].parent].size;
		if (r->off > psz || r->len > psz - r->off) {
			return free_rc(keys, map_bad(lg, map_off, "shard %s owns bytes [%llu, %llu) of %s, whose image has %zu",
				       hl_obj_name(r->owner, nm, sizeof(nm)), (unsigned long long)r->off,
				       (unsigned long long)(r->off + r->len), hl_obj_name(keys[i].parent, pn, sizeof(pn)),
				       psz));
		}
	}
	qsort(keys, nk, sizeof(*keys), byoff_cmp);
	for (uint32_t i = 0; i < nk; i++) {
		unsigned a = keys[i].parent;
		const struct hl_olog_range *r = &lg->rng[keys[i].idx];
		bool first = i == 0 || keys[i - 1].parent != a;
		uint64_t prev_end = first ? 0 : lg->rng[keys[i - 1].idx].off + lg->rng[keys[i - 1].idx].len;
		if (first)
			lg->ab[a].first = i;
		lg->ab[a].n++;
		lg->byoff[i] = keys[i].idx;
		if (!first && r->off < prev_end) {
			return free_rc(keys, map_bad(lg, map_off, "shards %s and %s both own byte %llu of %s (ranges overlap)",
				       hl_obj_name(lg->rng[keys[i - 1].idx].owner, nm, sizeof(nm)),
				       hl_obj_name(r->owner, pn, sizeof(pn)), (unsigned long long)r->off,
				       hl_obj_name(a, (char[24]){ 0 }, 24)));
		}
		if (!lg->ab[a].residual && r->off != prev_end) {
			return free_rc(keys, map_bad(lg, map_off, "bytes [%llu, %llu) of %s belong to no shard (%s has no log of its "
				       "own: its shards must cover it)", (unsigned long long)prev_end,
				       (unsigned long long)r->off, hl_obj_name(a, pn, sizeof(pn)), pn));
		}
		if ((i + 1 == nk || keys[i + 1].parent != a) && !lg->ab[a].residual &&
		    r->off + r->len != lg->ab[a].size) {
			return free_rc(keys, map_bad(lg, map_off, "bytes [%llu, %zu) of %s belong to no shard (%s has no log of its "
				       "own: its shards must cover it)", (unsigned long long)(r->off + r->len),
				       lg->ab[a].size, hl_obj_name(a, pn, sizeof(pn)), pn));
		}
	}
	free(keys);
	/* shards of one parent: ascending ID = ascending address (the lock order relies on it) */
	{
		uint64_t last_off[HL_ID_END];
		unsigned last_id[HL_ID_END];
		memset(last_id, 0, sizeof(last_id));
		for (unsigned id = HL_ID_END; id < lg->id_end; id++) {
			unsigned a = lg->parent[id];
			uint64_t o0;
			if (a == id)
				continue;
			o0 = lg->rng[lg->rfirst[id]].off;
			if (last_id[a] && o0 < last_off[a])
				return map_bad(lg, map_off, "shard %s (id %u) starts at byte %llu of %s, below shard %s (id %u): "
					       "shard IDs must ascend with their addresses", hl_obj_name(id, nm, sizeof(nm)), id,
					       (unsigned long long)o0, hl_obj_name(a, pn, sizeof(pn)),
					       hl_obj_name(last_id[a], (char[24]){ 0 }, 24), last_id[a]);
			last_id[a] = id;
			last_off[a] = o0;
		}
	}
	return 0;
}

unsigned hl_olog_owner(const struct hl_olog *lg, unsigned a, uint64_t off, uint64_t *end)
{
	const struct hl_olog_abs *ab = &lg->ab[a];
	uint32_t lo = 0, hi = ab->n;

	if (a == 0 || a >= HL_ID_END || !ab->refined) {
		*end = a < HL_ID_END ? ab->size : 0;
		return a;
	}
	/* the last range starting at or below off */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (lg->rng[lg->byoff[ab->first + mid]].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0) {
		const struct hl_olog_range *r = &lg->rng[lg->byoff[ab->first + lo - 1]];
		if (off < r->off + r->len) {
			*end = r->off + r->len;
			return r->owner;
		}
	}
	*end = lo < ab->n ? lg->rng[lg->byoff[ab->first + lo]].off : ab->size;
	return ab->residual ? a : 0;
}

void hl_olog_scatter(const struct hl_olog *lg, unsigned id, const uint8_t *piece, uint8_t *parent_img)
{
	unsigned a = hl_olog_parent(lg, id);

	if (a == id) {
		memcpy(parent_img, piece, lg->obj[id].size);   /* a residual: its shards go on top */
		return;
	}
	for (uint32_t i = 0; i < lg->rnum[id]; i++) {
		const struct hl_olog_range *r = &lg->rng[lg->rfirst[id] + i];
		memcpy(parent_img + r->off, piece + r->local, r->len);
	}
}

void hl_olog_compose(const struct hl_olog *lg, const uint8_t *const *img, uint8_t *const *out)
{
	/* residuals (and unrefined objects) first, then the shards over them */
	for (unsigned a = 1; a < HL_ID_END; a++)
		if (lg->ab[a].size && lg->obj[a].size && img[a] && out[a])
			hl_olog_scatter(lg, a, img[a], out[a]);
	for (unsigned id = HL_ID_END; id < lg->id_end; id++)
		if (lg->parent[id] != id && img[id] && out[lg->parent[id]])
			hl_olog_scatter(lg, id, img[id], out[lg->parent[id]]);
}

/* every SPEC object's seq-0 image, composed from its lock objects' where it is refined */
static int compose_init(struct hl_olog *lg)
{
	const uint8_t **img = calloc(lg->id_end, sizeof(*img));
	uint8_t *out[HL_ID_END] = { 0 };
	bool all = true;

	if (!img)
		return -1;
	for (unsigned id = 1; id < lg->id_end; id++) {
		img[id] = lg->obj[id].init;
		all &= lg->obj[id].init != NULL || lg->obj[id].size == 0;
	}
	lg->has_init = all;
	for (unsigned a = 1; a < HL_ID_END; a++) {
		if (!lg->ab[a].refined) {
			lg->ab[a].init = lg->obj[a].init;
			continue;
		}
		if (!all)
			continue;
		lg->own_abs[a] = out[a] = calloc(1, lg->ab[a].size);
		if (!out[a]) {
			free(img);
			return -1;
		}
		lg->ab[a].init = out[a];
	}
	if (all)
		hl_olog_compose(lg, img, out);
	free(img);
	return 0;
}

/*
 * The map block (version 6), right after the header (struct o_fmap). Its structure
 * (lengths, counts, checksum) is the parser's business (exit 2); whether it is a
 * refinement is map_validate's (a violation).
 */
static int parse_map(struct hl_olog *lg, const uint8_t *buf, uint64_t size, uint64_t *offp,
		     struct hl_olog_err *err)
{
	uint64_t off = *offp, start = off, nr = 0, end;
	struct o_fmap m;

	if (size - off < sizeof(m))
		return perr(err, off, "truncated file: the refinement map is missing");
	memcpy(&m, buf + off, sizeof(m));
	if (m.magic != MAP_MAGIC)
		return perr(err, off, "bad refinement map magic 0x%08x", m.magic);
	if (m.nshards > lg->id_end - HL_ID_END)
		return perr(err, off + offsetof(struct o_fmap, nshards), "refinement map of %u shards (at most %u)",
			    m.nshards, lg->id_end - HL_ID_END);
	if (m.bytes > size - off - sizeof(m))
		return perr(err, off, "truncated refinement map: %u bytes, %llu left in the file", m.bytes,
			    (unsigned long long)(size - off - sizeof(m)));
	if ((uint32_t)crc32(0L, buf + off + sizeof(m), (uInt)m.bytes) != m.crc)
		return perr(err, off, "refinement map checksum mismatch");
	off += sizeof(m);
	end = off + m.bytes;
	/* first pass: structure and counts, so the range array is sized once */
	for (uint64_t i = 0, p = off; i < m.nshards; i++) {
		struct o_fshard sh;
		if (end - p < sizeof(sh))
			return perr(err, p, "refinement map entry %llu runs past the map", (unsigned long long)i);
		memcpy(&sh, buf + p, sizeof(sh));
		if (sh.nranges == 0 || sh.nranges > (end - p - sizeof(sh)) / sizeof(struct o_frange))
			return perr(err, p, "refinement map entry %llu: %u ranges do not fit the map", (unsigned long long)i,
				    sh.nranges);
		if (sh.flags & ~O_FMAP_RESIDUAL)
			return perr(err, p + offsetof(struct o_fshard, flags), "refinement map entry %llu: unknown flags 0x%x",
				    (unsigned long long)i, sh.flags);
		nr += sh.nranges;
		p += sizeof(sh) + (uint64_t)sh.nranges * sizeof(struct o_frange);
		if (i + 1 == m.nshards && p != end)
			return perr(err, p, "refinement map: %llu bytes left over after %u entries",
				    (unsigned long long)(end - p), m.nshards);
	}
	if (!m.nshards && m.bytes)
		return perr(err, off, "refinement map: %u bytes for no entry", m.bytes);
	lg->rng = calloc(nr + 1, sizeof(*lg->rng));
	lg->byoff = calloc(nr + 1, sizeof(*lg->byoff));
	if (!lg->rng || !lg->byoff)
		return perr(err, off, "out of memory for the refinement map");
	for (uint32_t i = 0; i < m.nshards; i++) {
		struct o_fshard sh;
		uint64_t local = 0, at = off;
		memcpy(&sh, buf + off, sizeof(sh));
		off += sizeof(sh) + (uint64_t)sh.nranges * sizeof(struct o_frange);
		/* the rules of a refinement are map_validate's; what would break the arrays here is
		 * an id outside the file's objects or one given twice */
		if (sh.id < HL_ID_END || sh.id >= lg->id_end) {
			if (!lg->map_bad)
				map_bad(lg, at, "entry %u names object %u, not a shard ID (%u to %u)", i, sh.id, HL_ID_END,
					lg->id_end - 1);
			continue;
		}
		if (lg->parent[sh.id] != sh.id || sh.parent == 0 || sh.parent >= HL_ID_END) {
			if (!lg->map_bad)
				map_bad(lg, at, lg->parent[sh.id] != sh.id ? "entry %u gives shard %u a second time" :
					"entry %u: shard %u refines object %u, not a SPEC object", i, sh.id, sh.parent);
			continue;
		}
		if (lg->resflag[sh.parent] && lg->resflag[sh.parent] != 1 + (sh.flags & O_FMAP_RESIDUAL) && !lg->map_bad)
			map_bad(lg, at, "entry %u: the shards of %s disagree on whether it keeps a residual log", i,
				hl_obj_name(sh.parent, (char[24]){ 0 }, 24));
		lg->resflag[sh.parent] = (uint8_t)(1 + (sh.flags & O_FMAP_RESIDUAL));
		lg->parent[sh.id] = sh.parent;
		lg->rfirst[sh.id] = lg->nrng;
		lg->rnum[sh.id] = sh.nranges;
		for (uint32_t j = 0; j < sh.nranges; j++) {
			struct o_frange fr;
			struct hl_olog_range *r = &lg->rng[lg->nrng++];
			memcpy(&fr, buf + at + sizeof(sh) + (uint64_t)j * sizeof(fr), sizeof(fr));
			r->off = fr.off;
			r->len = fr.len;
			r->owner = sh.id;
			r->local = local;
			if (!lg->map_bad && (fr.len == 0 || fr.off + fr.len < fr.off || (j && fr.off < r[-1].off + r[-1].len)))
				map_bad(lg, at, "shard %s: range %u [%llu, +%llu) is empty, wraps, or is not above the one "
					"before", hl_obj_name(sh.id, (char[24]){ 0 }, 24), j, (unsigned long long)fr.off,
					(unsigned long long)fr.len);
			local += fr.len;
		}
		lg->nshards++;
	}
	(void)start;
	*offp = end;
	return 0;
}

static int parse(struct hl_olog *lg, const uint8_t *buf, uint64_t size, struct hl_olog_err *err)
{
	struct o_fhdr h;
	struct o_ftrl t;
	uint64_t off, nrec_total = 0, arena_used = 0, max_recs;

	lg->file_bytes = size;
	if (size < sizeof(h))
		return perr(err, size, "truncated header: %llu bytes, need %zu", (unsigned long long)size, sizeof(h));
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, file_magic, sizeof(file_magic)) != 0)
		return perr(err, 0, "not a hyplog log file (bad magic)");
	if (h.version < HL_OLOG_VERSION_MIN || h.version > HL_OLOG_VERSION_MAX)
		return perr(err, offsetof(struct o_fhdr, version),
			    "unsupported file version %u (the oracle reads %u to %u)", h.version, HL_OLOG_VERSION_MIN,
			    HL_OLOG_VERSION_MAX);
	if (h.crc != crc_struct(&h, sizeof(h)))
		return perr(err, offsetof(struct o_fhdr, crc), "header checksum mismatch");
	if (h.hdr_len != sizeof(h))
		return perr(err, offsetof(struct o_fhdr, hdr_len), "bad header length %u (expected %zu)",
			    h.hdr_len, sizeof(h));
	if (check_build(&h, err))
		return -1;
	if (h.ncpus < 1 || h.ncpus > HL_NR_CPUS)
		return perr(err, offsetof(struct o_fhdr, ncpus), "bad run configuration: %u CPUs (1 to %u)",
			    h.ncpus, HL_NR_CPUS);
	if (h.nkeys > HL_MAX_KEYS)
		return perr(err, offsetof(struct o_fhdr, nkeys), "%u KCore keys (at most %u)", h.nkeys, HL_MAX_KEYS);
	for (unsigned i = h.nkeys; i < HL_MAX_KEYS; i++)
		for (unsigned b = 0; b < 32; b++)
			if (h.kcore_keys[i][b])
				return perr(err, offsetof(struct o_fhdr, kcore_keys) + i * 32u + b,
					    "unused KCore key slot %u is not zero", i);
	if (h.pad)
		return perr(err, offsetof(struct o_fhdr, pad), "header padding is not zero");
	lg->version = h.version;
	lg->id_end = h.id_end;
	lg->obj = calloc(lg->id_end, sizeof(*lg->obj));
	lg->parent = calloc(lg->id_end, sizeof(*lg->parent));
	lg->rfirst = calloc(lg->id_end, sizeof(*lg->rfirst));
	lg->rnum = calloc(lg->id_end, sizeof(*lg->rnum));
	lg->own_img[0] = calloc(lg->id_end, sizeof(*lg->own_img[0]));
	lg->own_img[1] = calloc(lg->id_end, sizeof(*lg->own_img[1]));
	if (!lg->obj || !lg->parent || !lg->rfirst || !lg->rnum || !lg->own_img[0] || !lg->own_img[1])
		return perr(err, 0, "out of memory for %u objects", lg->id_end);
	for (unsigned id = 0; id < lg->id_end; id++)
		lg->parent[id] = (uint16_t)id;
	lg->ncpus = h.ncpus;
	lg->lock_kind = h.lock_kind;
	lg->keys.nkeys = h.nkeys;
	memcpy(lg->keys.key, h.kcore_keys, sizeof(lg->keys.key));

	/* records are copied 8-byte aligned into one arena no larger than the file */
	max_recs = size / sizeof(struct hl_rec) + 1;
	lg->arena = malloc(size);
	lg->recv = malloc(max_recs * sizeof(*lg->recv));
	if (!lg->arena || !lg->recv)
		return perr(err, 0, "out of memory for a %llu-byte file", (unsigned long long)size);
	lg->arena_len = size;

	off = sizeof(h);
	if (h.version >= 6 && parse_map(lg, buf, size, &off, err))
		return -1;
	if (h.version >= 7) {
		/* KCore's ranges (issue 12): u32 magic "KRNG", u32 n, n x {u64 base, u64 size},
		 * u32 crc32 of those bytes, u32 0 */
		uint32_t kh[2], tail[2];
		uint64_t prev_end = HL_RAM_BASE;
		if (size - off < sizeof(kh))
			return perr(err, off, "truncated file: KCore ranges block missing");
		memcpy(kh, buf + off, sizeof(kh));
		if (kh[0] != 0x474E524Bu || kh[1] > HL_OLOG_MAX_KCORE ||
		    size - off - sizeof(kh) < kh[1] * 16ull + sizeof(tail))
			return perr(err, off, "bad KCore ranges block (magic 0x%08x, %u ranges)", kh[0], kh[1]);
		memcpy(tail, buf + off + sizeof(kh) + kh[1] * 16ull, sizeof(tail));
		if (tail[0] != (uint32_t)crc32(0L, buf + off + sizeof(kh), (uInt)(kh[1] * 16u)) || tail[1])
			return perr(err, off, "KCore ranges block checksum mismatch");
		lg->kcore_n = kh[1];
		for (unsigned i = 0; i < kh[1]; i++) {
			uint64_t b, z;
			memcpy(&b, buf + off + sizeof(kh) + i * 16ull, 8);
			memcpy(&z, buf + off + sizeof(kh) + i * 16ull + 8, 8);
			if ((b | z) % HL_PAGE_SIZE || z == 0 || b < prev_end || b >= HL_RAM_BASE + HL_RAM_SIZE ||
			    z > HL_RAM_BASE + HL_RAM_SIZE - b)
				return perr(err, off + sizeof(kh) + i * 16ull,
					    "KCore range %u [0x%llx +0x%llx) is unaligned, empty, outside RAM or out of order", i,
					    (unsigned long long)b, (unsigned long long)z);
			lg->kcore_base[i] = b;
			lg->kcore_size[i] = z;
			prev_end = b + z;
		}
		off += sizeof(kh) + kh[1] * 16ull + sizeof(tail);
	}
	for (unsigned o = 1; o < lg->id_end; o++) {
		struct hl_olog_obj *ob = &lg->obj[o];
		struct o_fsec sec;
		uint64_t sec_off = off, end;

		if (size - off < sizeof(sec))
			return perr(err, off, "truncated file: the section of object %u is missing", o);
		memcpy(&sec, buf + off, sizeof(sec));
		if (sec.magic != SEC_MAGIC)
			return perr(err, off, "bad section magic for object %u", o);
		if (sec.crc != crc_struct(&sec, sizeof(sec)))
			return perr(err, off, "section header checksum mismatch (object %u)", o);
		if (sec.obj != o)
			return perr(err, off + offsetof(struct o_fsec, obj), "section of object %u where object %u belongs",
				    sec.obj, o);
		if (sec.has_snap > 1 || (sec.has_snap && sec.first_seq != sec.snap_seq + 1) ||
		    (!sec.has_snap && sec.first_seq != 1))
			return perr(err, off, "section header of object %u is inconsistent (snapshot %u at seq %llu, "
				    "first seq %llu)", o, sec.has_snap, (unsigned long long)sec.snap_seq,
				    (unsigned long long)sec.first_seq);
		off += sizeof(sec);
		ob->first_seq = sec.first_seq;
		ob->live_digest = sec.live_digest;
		ob->has_live_digest = true;
		/* the seq-0 image (zlib), then the snapshot (zlib), then the records */
		if (sec.pad || (sec.init_raw != 0) != (sec.init_comp != 0) || sec.init_raw > ((uint64_t)1 << 32) ||
		    (!sec.init_comp && sec.init_crc))
			return perr(err, sec_off, "seq-0 image fields of object %u are inconsistent (%llu bytes, %llu "
				    "compressed)", o, (unsigned long long)sec.init_raw, (unsigned long long)sec.init_comp);
		if (sec.init_comp) {
			if (sec.init_comp > size - off)
				return perr(err, off, "truncated seq-0 image of object %u", o);
			if ((uint32_t)crc32(0L, buf + off, (uInt)sec.init_comp) != sec.init_crc)
				return perr(err, off, "seq-0 image checksum mismatch (object %u)", o);
			if (inflate_img(buf + off, sec.init_comp, sec.init_raw, &lg->own_img[1][o], off, o,
					"seq-0 image", err))
				return -1;
			ob->init = lg->own_img[1][o];
			ob->size = sec.init_raw;
			off += sec.init_comp;
		}
		if (sec.has_snap) {
			if (sec.snap_raw == 0 || sec.snap_raw > ((uint64_t)1 << 32))
				return perr(err, sec_off, "snapshot of object %u claims %llu bytes", o,
					    (unsigned long long)sec.snap_raw);
			if (ob->size && sec.snap_raw != ob->size)
				return perr(err, sec_off, "snapshot of object %u has %llu bytes, its image %zu", o,
					    (unsigned long long)sec.snap_raw, ob->size);
			if (sec.snap_comp > size - off)
				return perr(err, off, "truncated snapshot of object %u", o);
			if ((uint32_t)crc32(0L, buf + off, (uInt)sec.snap_comp) != sec.snap_crc)
				return perr(err, off, "snapshot checksum mismatch (object %u)", o);
			if (inflate_img(buf + off, sec.snap_comp, sec.snap_raw, &lg->own_img[0][o], off, o, "snapshot",
					err))
				return -1;
			ob->snap = lg->own_img[0][o];
			ob->snap_seq = sec.snap_seq;
			ob->size = sec.snap_raw;
			off += sec.snap_comp;
		}
		if (sec.rec_bytes > size - off)
			return perr(err, off, "truncated file: the records of object %u need %llu bytes, %llu left", o,
				    (unsigned long long)sec.rec_bytes, (unsigned long long)(size - off));
		if (sec.nrecs > sec.rec_bytes / sizeof(struct hl_rec))
			return perr(err, sec_off, "section of object %u claims %llu records in %llu bytes", o,
				    (unsigned long long)sec.nrecs, (unsigned long long)sec.rec_bytes);
		ob->rec = lg->recv + nrec_total;
		end = off + sec.rec_bytes;
		for (uint64_t i = 0; i < sec.nrecs; i++) {
			struct hl_rec *r = (struct hl_rec *)(lg->arena + arena_used);
			uint64_t room = end - off;
			uint32_t len;

			if (room < sizeof(*r))
				return perr(err, off, "truncated record header (%llu bytes left in the section)",
					    (unsigned long long)room);
			memcpy(&len, buf + off, sizeof(len));
			if (len < sizeof(*r) || len % 8 || len > HL_REC_MAX)
				return perr(err, off, "bad record length %u", len);
			if (len > room)
				return perr(err, off, "truncated record: length %u, %llu bytes left in the section", len,
					    (unsigned long long)room);
			memcpy(r, buf + off, len);
			if (check_record(r, off, o, i, err))
				return -1;
			ob->rec[ob->n++] = r;
			arena_used += len;
			off += len;
		}
		if (off != end)
			return perr(err, off, "object %u: %llu record bytes left over after %llu records", o,
				    (unsigned long long)(end - off), (unsigned long long)sec.nrecs);
		nrec_total += ob->n;
	}
	if (size - off < sizeof(t))
		return perr(err, off, "truncated file: the trailer is missing");
	memcpy(&t, buf + off, sizeof(t));
	if (t.magic != END_MAGIC || t.crc != crc_struct(&t, sizeof(t)))
		return perr(err, off, "corrupt trailer");
	if (t.records != nrec_total || t.nobj != lg->id_end - 1)
		return perr(err, off, "trailer counts %llu records in %u objects, the file has %llu in %u",
			    (unsigned long long)t.records, t.nobj, (unsigned long long)nrec_total, lg->id_end - 1);
	if (off + sizeof(t) != size)
		return perr(err, off + sizeof(t), "%llu unexpected bytes after the trailer",
			    (unsigned long long)(size - off - sizeof(t)));
	if (t.halted_mask >> h.ncpus && h.ncpus < 64)
		return perr(err, off + offsetof(struct o_ftrl, halted_mask),
			    "halted-CPU mask 0x%llx names CPUs beyond the run's %u", (unsigned long long)t.halted_mask,
			    h.ncpus);
	lg->halted_mask = t.halted_mask;
	lg->records = nrec_total;
	lg->has_init = false;
	/* a map that is not a refinement is reported by the checks; nothing is composed from it */
	for (unsigned a = 1; a < HL_ID_END; a++)
		lg->ab[a].size = lg->obj[a].size;
	if (!lg->map_bad)
		(void)map_validate(lg, sizeof(h));
	if (lg->map_bad) {
		bool all = true;
		for (unsigned o = 1; o < lg->id_end; o++)
			all &= lg->obj[o].init != NULL || lg->obj[o].size == 0;
		lg->has_init = all;
		return 0;
	}
	if (compose_init(lg))
		return perr(err, 0, "out of memory composing the seq-0 images");
	return 0;
}

/* a source that supplies seq-0 images after parsing (hl_osrc's fill_init) composes again */
int hl_olog_recompose(struct hl_olog *lg)
{
	if (lg->map_bad)
		return 0;
	for (unsigned a = 1; a < HL_ID_END; a++) {
		free(lg->own_abs[a]);
		lg->own_abs[a] = NULL;
		lg->ab[a].init = NULL;
	}
	return compose_init(lg);
}

int hl_olog_parse(struct hl_olog *lg, const uint8_t *buf, size_t size, struct hl_olog_err *err)
{
	memset(lg, 0, sizeof(*lg));
	if (parse(lg, buf, size, err)) {
		hl_olog_free(lg);
		return -1;
	}
	return 0;
}

int hl_olog_read(struct hl_olog *lg, const char *path, struct hl_olog_err *err)
{
	struct stat st;
	uint8_t *buf;
	size_t size;
	int fd, rc;

	memset(lg, 0, sizeof(*lg));
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; only regular files are logs */
	fd = open(path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return perr(err, 0, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = perr(err, 0, "cannot stat %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return perr(err, 0, "%s is not a regular file (a %s)", path,
			    S_ISDIR(st.st_mode) ? "directory" : S_ISFIFO(st.st_mode) ? "FIFO" :
			    S_ISCHR(st.st_mode) ? "character device" : S_ISBLK(st.st_mode) ? "block device" :
			    S_ISSOCK(st.st_mode) ? "socket" : "special file");
	}
	size = (size_t)st.st_size;
	if (size == 0) {
		close(fd);
		return perr(err, 0, "truncated header: 0 bytes");
	}
	buf = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (buf == MAP_FAILED) {
		rc = perr(err, 0, "cannot map %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	close(fd);
	(void)madvise(buf, size, MADV_SEQUENTIAL);
	rc = hl_olog_parse(lg, buf, size, err);
	munmap(buf, size);
	return rc;
}

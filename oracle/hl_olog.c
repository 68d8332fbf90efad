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

#include "hl_types.h"

/* ---- the file layout (engine/hl_file.c; all little-endian, no padding) ----------------- */
static const char file_magic[8] = { 'H', 'Y', 'P', 'L', 'O', 'G', '\r', '\n' };
#define SEC_MAGIC 0x4A424F53u   /* "SOBJ" */
#define END_MAGIC 0x444E4553u   /* "SEND" */

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
	for (unsigned k = 0; k < 2; k++)
		for (unsigned o = 0; o < HL_ID_END; o++)
			free(lg->own_img[k][o]);
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
	CHK(id_end, HL_ID_END, "object count");
	CHK(rec_hdr_size, sizeof(struct hl_rec), "record header size");
	CHK(nobj, HL_ID_END - 1, "object sections");
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
	for (unsigned o = 1; o < HL_ID_END; o++) {
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
	if (t.records != nrec_total || t.nobj != HL_ID_END - 1)
		return perr(err, off, "trailer counts %llu records in %u objects, the file has %llu in %u",
			    (unsigned long long)t.records, t.nobj, (unsigned long long)nrec_total, HL_ID_END - 1);
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
	{
		bool all = true;
		for (unsigned o = 1; o < HL_ID_END; o++)
			all &= lg->obj[o].init != NULL || lg->obj[o].size == 0;
		lg->has_init = all;
	}
	return 0;
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

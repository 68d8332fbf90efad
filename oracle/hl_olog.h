/*
 * hl_olog.h - the oracle's own reader of hyplog log files (SPEC §5 "Files"; the format is
 * the README "Log files" section, written by engine/hl_file.c). It depends on shared/ and
 * the file format only: no engine header, no engine function, so a mistake in the engine's
 * reader cannot hide a mistake in the engine's writer from the oracle.
 *
 * The parser checks what makes a file a file: magic, version, build configuration, every
 * length, bound and checksum (header, sections, compressed images, records, trailer). A
 * file that fails is malformed: -1 and an error naming the byte offset (`hyplog check`
 * exit 2). It does NOT judge what checksummed records mean: a record with a sequence gap,
 * a delta outside its object image, a lock entry naming no object, a lock list out of
 * order are passed on, so the relations (oracle/hl_check.h) report them with a name
 * (H_CalLock, sync_shared, ...), exit 1.
 *
 * The result is per object: the records in file order (8-byte aligned copies, one arena),
 * the checkpoint snapshot if the log was cut, the seq-0 (initial) image, the live object's
 * XXH3-64 digest at write time; and per run: CPUs, halted-CPU mask, KCore's public keys.
 * A live engine is checked through the same structure (oracle/hl_osrc.h serializes it with
 * the engine's writer and parses the bytes here), which can also carry the live objects'
 * bytes and the page memory (`live`).
 *
 * Tests may edit records in place (the arena is writable through a cast) to break a log.
 */
#ifndef HL_OLOG_H
#define HL_OLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_const.h"
#include "hl_images.h"
#include "hl_record.h"

/* the file versions this reader understands (engine/hl_file.c HL_FILE_VERSION); version 6
 * adds the refinement map (issue 11) and object IDs past HL_ID_END (shards) */
#define HL_OLOG_VERSION_MIN 5u
#define HL_OLOG_VERSION_MAX 7u   /* 7: KCore's ranges (issue 12) */
/* version 7: KCore's own memory, COREVISOR's in s2page's initial state (at most this many) */
#define HL_OLOG_MAX_KCORE 4u

/* bound on the records of one step (the engine's stage count: nrec) */
#define HL_OLOG_MAX_STAGES 8u
/* bound on a step's lock entries: each lock object at most once (a step that spans shards
 * takes every shard of its class), so the file's object count bounds it; this is the
 * oracle's own ceiling on that count (object IDs are 16-bit in records) */
#define HL_OLOG_MAX_IDS 4096u

struct hl_olog_obj {
	const struct hl_rec **rec;   /* the records in file order */
	size_t n;
	uint64_t first_seq;          /* snap_seq + 1 (1 without a snapshot) */
	const uint8_t *snap;         /* checkpoint image after record snap_seq, or NULL */
	uint64_t snap_seq;
	const uint8_t *init;         /* the seq-0 image, or NULL if the source has none */
	size_t size;                 /* the object's image size (0: the object has no state) */
	uint64_t live_digest;        /* XXH3-64 of the live object when the file was written */
	bool has_live_digest;
};

/*
 * The refinement map (file version 6, issue 11; DESIGN2.md). SPEC's objects (IDs below
 * HL_ID_END) are the abstraction; the engine locks and logs "lock objects": every SPEC
 * object that is not refined, plus shards (IDs from HL_ID_END on), each owning fixed byte
 * ranges of one SPEC object's image (its parent). A shard's image is the concatenation of
 * its ranges in ascending parent offset; its records' delta offsets are relative to that.
 * A refined parent either has no log of its own (fully sharded: s2page; its ranges tile its
 * image) or keeps a residual log under its own ID, whose image is the parent's full image
 * with every shard-owned byte zero (seq-0 image, snapshots, live digest) and which owns
 * every byte no shard owns (its records must not write shard bytes).
 * The map comes from the file alone. It is validated after parsing; a map that is not a
 * refinement (overlap, gap, range outside the parent, bad id) does not fail the parse: it
 * is a violation the checks report (H_CalLock, map_err), and nothing is composed from it.
 */
struct hl_olog_range {
	uint64_t off, len;           /* in the parent's image */
	uint64_t local;              /* where it starts in the shard's image */
	uint32_t owner;              /* the shard */
};

struct hl_olog_abs {
	size_t size;                 /* the SPEC object's image size (0: no state) */
	bool refined;                /* it has shards */
	bool residual;               /* refined, and it keeps a log of its own (its own ID) */
	const uint8_t *init;         /* the composed seq-0 image (NULL if the source has none) */
	uint32_t first, n;           /* its shards' ranges in byoff[], ascending offset */
};

struct hl_olog {
	uint32_t version, ncpus, lock_kind;
	/* lock objects are IDs 1 .. id_end - 1 (HL_ID_END for a file without shards) */
	unsigned id_end;
	uint64_t halted_mask;        /* CPUs the engine had halted (trailer) */
	uint64_t records;            /* over every object */
	uint64_t file_bytes;
	struct hl_keyset keys;       /* KCore's provisioned public keys (header) */
	/* KCore's own RAM ranges (version 7 block; none before): page aligned, inside RAM,
	 * ascending, disjoint; s2page starts with them owned by COREVISOR */
	unsigned kcore_n;
	uint64_t kcore_base[HL_OLOG_MAX_KCORE], kcore_size[HL_OLOG_MAX_KCORE];
	bool has_init;               /* every object with state has its seq-0 image */
	struct hl_olog_obj *obj;     /* [id_end], per lock object */
	/* the refinement map: per lock object its parent (itself when not a shard), per shard
	 * its ranges rng[rfirst[id] .. + rnum[id]) in ascending parent offset; per SPEC object
	 * its composition; byoff: every shard range of each parent, sorted by offset */
	unsigned nshards;
	uint16_t *parent;            /* [id_end] */
	uint32_t *rfirst, *rnum;     /* [id_end] */
	struct hl_olog_range *rng;
	uint32_t nrng;
	uint32_t *byoff;             /* [nrng] indices into rng */
	struct hl_olog_abs ab[HL_ID_END];
	uint8_t resflag[HL_ID_END];  /* per parent, from the map: 0 none, 1 no residual, 2 residual */
	bool map_bad;                /* the map is not a refinement: map_err says why */
	uint64_t map_err_off;
	char map_err[240];
	/* optional, live engines only: the live object images (compared byte by byte instead
	 * of by digest) and page memory. ram_exact: nothing but the engine's transitions wrote
	 * page memory (engine-level runs), so every RAM page's digest must equal flatmem's */
	struct hl_images live;
	bool ram_exact;
	/* the source vouches that every snapshot was taken at one quiescent point (the live
	 * checker's windows: CPUs paused, every log cut together), so the start state is one
	 * real state; a file says nothing of the kind */
	bool cuts_consistent;
	/* the source vouches that no CPU is inside a trap now (every VCPU_RUN returned to the
	 * host or its CPU halted): a vCPU is ACTIVE only while a CPU runs it (SPEC §7's run
	 * flow: set_vcpu_active ... set_vcpu_inactive), so at most one ACTIVE vCPU per halted
	 * CPU may remain (hl_check.h, security). A file says nothing of the kind */
	bool quiesced;
	/* storage (owned) */
	uint8_t *arena;
	size_t arena_len;
	const struct hl_rec **recv;
	uint8_t **own_img[2];             /* [id_end]: decompressed snapshots [0] and seq-0 images [1] */
	uint8_t *own_abs[HL_ID_END];      /* composed seq-0 images of refined objects */
};

struct hl_olog_err {
	uint64_t offset;
	char msg[200];
};

/* parse a whole file image; 0, or -1 with *err (lg is left empty: hl_olog_free is safe) */
int hl_olog_parse(struct hl_olog *lg, const uint8_t *buf, size_t size, struct hl_olog_err *err);
/* read and parse a file (mapped; anything but a regular file is refused, never waited on) */
int hl_olog_read(struct hl_olog *lg, const char *path, struct hl_olog_err *err);
void hl_olog_free(struct hl_olog *lg);
/* compose the SPEC objects' seq-0 images again (a source that filled lock objects' init
 * images after parsing); 0, or -1 out of memory */
int hl_olog_recompose(struct hl_olog *lg);

/* the SPEC object whose bytes lock object `id` holds (itself when it is not a shard) */
static inline unsigned hl_olog_parent(const struct hl_olog *lg, unsigned id)
{
	return id < lg->id_end && lg->parent ? lg->parent[id] : id;
}
/* the lock object owning byte `off` of SPEC object `a`'s image, and *end, where that
 * owner's run ends (exclusive); 0 for a byte nobody owns. The map must be valid. */
unsigned hl_olog_owner(const struct hl_olog *lg, unsigned a, uint64_t off, uint64_t *end);
/* place lock object id's image (its own layout) into its parent's image */
void hl_olog_scatter(const struct hl_olog *lg, unsigned id, const uint8_t *piece, uint8_t *parent_img);
/* build every SPEC object's image from lock-object images img[id] (NULL: skip that
 * object); out[a] (NULL: skip that object) holds lg->ab[a].size bytes */
void hl_olog_compose(const struct hl_olog *lg, const uint8_t *const *img, uint8_t *const *out);

/* "s2page", "npt(3)", "vminfo(2)", "s2page[3]", ... */
const char *hl_olog_obj_name(unsigned id, char *buf, size_t len);
/* XXH3-64, the digest the file format uses for objects and pages */
uint64_t hl_olog_digest(const void *p, size_t n);

#endif

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

/* the file versions this reader understands (engine/hl_file.c HL_FILE_VERSION) */
#define HL_OLOG_VERSION_MIN 5u
#define HL_OLOG_VERSION_MAX 5u

/* bound on the records of one step (the engine's stage count; nrec and nlock) */
#define HL_OLOG_MAX_STAGES 8u

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

struct hl_olog {
	uint32_t version, ncpus, lock_kind;
	uint64_t halted_mask;        /* CPUs the engine had halted (trailer) */
	uint64_t records;            /* over every object */
	uint64_t file_bytes;
	struct hl_keyset keys;       /* KCore's provisioned public keys (header) */
	bool has_init;               /* every object with state has its seq-0 image */
	struct hl_olog_obj obj[HL_ID_END];
	/* optional, live engines only: the live object images (compared byte by byte instead
	 * of by digest) and page memory. ram_exact: nothing but the engine's transitions wrote
	 * page memory (engine-level runs), so every RAM page's digest must equal flatmem's */
	struct hl_images live;
	bool ram_exact;
	/* the source vouches that every snapshot was taken at one quiescent point (the live
	 * checker's windows: CPUs paused, every log cut together), so the start state is one
	 * real state; a file says nothing of the kind */
	bool cuts_consistent;
	/* storage (owned) */
	uint8_t *arena;
	size_t arena_len;
	const struct hl_rec **recv;
	uint8_t *own_img[2][HL_ID_END];   /* decompressed snapshots [0] and seq-0 images [1] */
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

/* "s2page", "npt(3)", "vminfo(2)", ... */
const char *hl_olog_obj_name(unsigned id, char *buf, size_t len);
/* XXH3-64, the digest the file format uses for objects and pages */
uint64_t hl_olog_digest(const void *p, size_t n);

#endif
